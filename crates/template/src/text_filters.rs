//! Jinja2's text filters whose minijinja versions are missing or differ: `truncate`,
//! `wordwrap` (Python's `textwrap`), `xmlattr`, `urlize`, `filesizeformat`, `tojson`, `pprint`.
//!
//! Each follows Jinja2 3.1 under ansible-core 2.19 (its policies: `truncate.leeway` 5,
//! `urlize.rel` `noopener`, `json.dumps_kwargs` `sort_keys=True`); arguments may be given
//! positionally or by keyword.

use std::sync::OnceLock;

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};
use regex::Regex;

use crate::filters::{
    err, json_indent, python_float, require_defined, to_json_value, Args, RestArgs,
};
use crate::more_filters::html_escape;
use crate::pyfmt::{py_repr, py_str, str_repr, type_name};
use crate::pyjson::{dumps, JsonOptions};

type FilterResult = Result<Value, Error>;

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("truncate", truncate);
    env.add_filter("wordwrap", wordwrap);
    env.add_filter("xmlattr", xmlattr);
    env.add_filter("urlize", urlize);
    env.add_filter("filesizeformat", filesizeformat);
    env.add_filter("tojson", tojson);
    env.add_filter("pprint", |v: &Value| -> FilterResult {
        require_defined(v)?;
        Ok(Value::from(py_repr(v)?))
    });
}

/// An integer argument as Python would use it (`bool` counts as an integer).
fn int_arg(filter: &str, name: &str, v: Option<Value>, default: i64) -> Result<i64, Error> {
    let Some(v) = v else { return Ok(default) };
    require_defined(&v)?;
    match v.kind() {
        ValueKind::Bool => Ok(i64::from(v.is_true())),
        ValueKind::Number if v.is_integer() => v
            .as_i64()
            .ok_or_else(|| err(format!("{filter}: {name} is out of range"))),
        _ => Err(err(format!(
            "{filter}: {name} must be an integer, not {}",
            type_name(&v)
        ))),
    }
}

/// Python `str` arguments: a string value, else a type error.
fn str_arg(filter: &str, name: &str, v: &Value) -> Result<String, Error> {
    require_defined(v)?;
    match v.as_str() {
        Some(s) => Ok(s.to_string()),
        None => Err(err(format!(
            "{filter}: {name} must be a string, not {}",
            type_name(v)
        ))),
    }
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn char_prefix(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// markupsafe's `escape(str(value))`; a safe (Markup) value is left as is.
fn escape_value(v: &Value) -> Result<String, Error> {
    if v.is_safe() {
        return py_str(v);
    }
    Ok(html_escape(&py_str(v)?))
}

// ---------------------------------------------------------------- truncate

/// `truncate(s, length=255, killwords=False, end='...', leeway=None)`, leeway defaulting to 5.
fn truncate(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "do_truncate",
        rest.into_values(),
        &["length", "killwords", "end", "leeway"],
    )?;
    let length = int_arg("truncate", "length", args.get(0), 255)?;
    let killwords = args.flag(1)?;
    let end = match args.get(2) {
        Some(e) => str_arg("truncate", "end", &e)?,
        None => "...".to_string(),
    };
    let leeway = match args.get(3) {
        Some(l) if l.is_none() => 5,
        l => int_arg("truncate", "leeway", l, 5)?,
    };
    args.finish()?;
    let end_len = i64::try_from(char_len(&end)).unwrap_or(i64::MAX);
    if length < end_len {
        return Err(err(format!("expected length >= {end_len}, got {length}")));
    }
    if leeway < 0 {
        return Err(err(format!("expected leeway >= 0, got {leeway}")));
    }
    let Some(s) = v.as_str() else {
        // Any sized value short enough comes back unchanged; anything else fails as in Python.
        return match v.len() {
            Some(n) if i64::try_from(n).unwrap_or(i64::MAX) <= length + leeway => Ok(v.clone()),
            Some(_) => Err(err(format!("cannot truncate a {}", type_name(v)))),
            None => Err(err(format!(
                "object of type '{}' has no len()",
                type_name(v)
            ))),
        };
    };
    if i64::try_from(char_len(s)).unwrap_or(i64::MAX) <= length + leeway {
        return Ok(v.clone());
    }
    let keep = usize::try_from(length - end_len).unwrap_or(0);
    let head = char_prefix(s, keep);
    let head = if killwords {
        head
    } else {
        head.rsplit_once(' ').map_or(head, |(before, _)| before)
    };
    Ok(Value::from(format!("{head}{end}")))
}

// ---------------------------------------------------------------- wordwrap

/// `wordwrap(s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True)`:
/// each line of `s` wrapped by Python's `textwrap.wrap` (tabs kept, whitespace not replaced),
/// the lines joined with `wrapstring` (a newline by default).
fn wordwrap(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "do_wordwrap",
        rest.into_values(),
        &[
            "width",
            "break_long_words",
            "wrapstring",
            "break_on_hyphens",
        ],
    )?;
    let width = int_arg("wordwrap", "width", args.get(0), 79)?;
    let break_long_words = args.get(1).is_none_or(|b| b.is_true());
    let wrapstring = match args.get(2) {
        Some(w) if !w.is_none() => str_arg("wordwrap", "wrapstring", &w)?,
        _ => "\n".to_string(),
    };
    let break_on_hyphens = args.get(3).is_none_or(|b| b.is_true());
    args.finish()?;
    let Some(s) = v.as_str() else {
        return Err(err(format!(
            "'{}' object has no attribute 'splitlines'",
            type_name(v)
        )));
    };
    let opts = Wrap {
        width: usize::try_from(width).unwrap_or(0),
        break_long_words,
        break_on_hyphens,
    };
    let mut paragraphs = Vec::new();
    for line in python_splitlines(s) {
        if width <= 0 {
            return Err(err(format!("invalid width {width} (must be > 0)")));
        }
        paragraphs.push(opts.wrap(line).join(&wrapstring));
    }
    Ok(Value::from(paragraphs.join(&wrapstring)))
}

/// Python's `str.splitlines()`: the line boundaries it knows, no empty last line.
pub(crate) fn python_splitlines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        lines.push(&s[start..i]);
        let mut next = i + c.len_utf8();
        if c == '\r' {
            if let Some(&(j, '\n')) = chars.peek() {
                chars.next();
                next = j + 1;
            }
        }
        start = next;
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// The `textwrap.TextWrapper` settings Jinja2 uses (no indents, whitespace dropped at line
/// edges, no `max_lines`).
struct Wrap {
    width: usize,
    break_long_words: bool,
    break_on_hyphens: bool,
}

/// textwrap's whitespace: `'\t\n\x0b\x0c\r '`.
fn is_wrap_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Python regex `\w` on text.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// textwrap's `letter`: `[^\d\W]`.
fn is_letter(c: char) -> bool {
    is_word(c) && !c.is_numeric()
}

/// textwrap's `word_punct`: `[\w!"'&.,?]`.
fn is_word_punct(c: char) -> bool {
    is_word(c) || matches!(c, '!' | '"' | '\'' | '&' | '.' | ',' | '?')
}

/// Python's `str.isspace()` for one character.
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\x1c'..='\x1f')
}

fn is_blank(chunk: &[char]) -> bool {
    chunk.iter().all(|c| py_isspace(*c))
}

impl Wrap {
    fn wrap(&self, line: &str) -> Vec<String> {
        let text: Vec<char> = line.chars().collect();
        let chunks = if self.break_on_hyphens {
            split_hyphenated(&text)
        } else {
            split_simple(&text)
        };
        self.wrap_chunks(chunks)
            .into_iter()
            .map(|l| l.into_iter().collect())
            .collect()
    }

    /// `TextWrapper._wrap_chunks`.
    fn wrap_chunks(&self, mut chunks: Vec<Vec<char>>) -> Vec<Vec<char>> {
        let width = self.width;
        let mut lines: Vec<Vec<char>> = Vec::new();
        chunks.reverse();
        while !chunks.is_empty() {
            let mut cur_line: Vec<Vec<char>> = Vec::new();
            let mut cur_len = 0;
            if !lines.is_empty() && chunks.last().is_some_and(|c| is_blank(c)) {
                chunks.pop();
            }
            while let Some(last) = chunks.last() {
                if cur_len + last.len() <= width {
                    cur_len += last.len();
                    cur_line.extend(chunks.pop());
                } else {
                    break;
                }
            }
            if chunks.last().is_some_and(|c| c.len() > width) {
                self.handle_long_word(&mut chunks, &mut cur_line, cur_len, width);
            }
            if cur_line.last().is_some_and(|c| is_blank(c)) {
                cur_line.pop();
            }
            if !cur_line.is_empty() {
                lines.push(cur_line.concat());
            }
        }
        lines
    }

    /// `TextWrapper._handle_long_word`.
    fn handle_long_word(
        &self,
        chunks: &mut Vec<Vec<char>>,
        cur_line: &mut Vec<Vec<char>>,
        cur_len: usize,
        width: usize,
    ) {
        let space_left = if width < 1 { 1 } else { width - cur_len };
        if self.break_long_words {
            let Some(chunk) = chunks.last_mut() else {
                return;
            };
            let mut end = space_left;
            if self.break_on_hyphens && chunk.len() > space_left {
                let hyphen = chunk[..space_left].iter().rposition(|c| *c == '-');
                if let Some(h) = hyphen.filter(|h| *h > 0) {
                    if chunk[..h].iter().any(|c| *c != '-') {
                        end = h + 1;
                    }
                }
            }
            let end = end.min(chunk.len());
            let tail = chunk.split_off(end);
            cur_line.push(std::mem::replace(chunk, tail));
        } else if cur_line.is_empty() {
            cur_line.extend(chunks.pop());
        }
    }
}

/// textwrap's `wordsep_simple_re` split: runs of whitespace and runs of anything else.
fn split_simple(text: &[char]) -> Vec<Vec<char>> {
    let mut chunks: Vec<Vec<char>> = Vec::new();
    for &c in text {
        match chunks.last_mut() {
            Some(last) if is_wrap_space(last[0]) == is_wrap_space(c) => last.push(c),
            _ => chunks.push(vec![c]),
        }
    }
    chunks
}

/// textwrap's `wordsep_re` split: whitespace runs, em-dashes between words, and words that
/// may end after a hyphen (`goof-`/`ball`), matched as Python's regex engine does.
fn split_hyphenated(text: &[char]) -> Vec<Vec<char>> {
    let n = text.len();
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < n {
        let end = if is_wrap_space(text[i]) {
            let mut j = i;
            while j < n && is_wrap_space(text[j]) {
                j += 1;
            }
            j
        } else if let Some(j) = (i > 0 && is_word_punct(text[i - 1]))
            .then(|| em_dash_end(text, i))
            .flatten()
        {
            j
        } else {
            word_end(text, i)
        };
        chunks.push(text[i..end].to_vec());
        i = end;
    }
    chunks
}

/// `-{2,}(?=\w)` at `i`: the end of the dashes.
fn em_dash_end(text: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    while j < text.len() && text[j] == '-' {
        j += 1;
    }
    (j - i >= 2 && j < text.len() && is_word(text[j])).then_some(j)
}

/// The end of the lazily matched word starting at `i` (a non-space character).
fn word_end(text: &[char], i: usize) -> usize {
    let n = text.len();
    let letter = |k: usize| k < n && is_letter(text[k]);
    let mut j = i + 1;
    loop {
        // Hyphenated word: `-` after two letters or `letter-letter`, before `letter -? letter`.
        if j < n && text[j] == '-' {
            let behind = (j >= 2 && letter(j - 2) && letter(j - 1))
                || (j >= 3 && letter(j - 3) && text[j - 2] == '-' && letter(j - 1));
            let ahead = letter(j + 1)
                && (letter(j + 2) || (j + 2 < n && text[j + 2] == '-' && letter(j + 3)));
            if behind && ahead {
                return j + 1;
            }
        }
        // End of word.
        if j >= n || is_wrap_space(text[j]) {
            return j;
        }
        // Before an em-dash.
        if is_word_punct(text[j - 1]) && em_dash_end(text, j).is_some() {
            return j;
        }
        j += 1;
    }
}

// ---------------------------------------------------------------- xmlattr

/// `xmlattr(d, autospace=True)`: `key="value"` pairs, values escaped, `None` values left out;
/// keys with whitespace, `/`, `>` or `=` are refused (Jinja2 3.1.4).
fn xmlattr(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new("do_xmlattr", rest.into_values(), &["autospace"])?;
    let autospace = args.get(0).is_none_or(|a| a.is_true());
    args.finish()?;
    if v.kind() != ValueKind::Map {
        return Err(err(format!(
            "'{}' object has no attribute 'items'",
            type_name(v)
        )));
    }
    let mut items = Vec::new();
    for key in v.try_iter()? {
        let value = v.get_item(&key)?;
        // Jinja2 skips undefined values too, but Ansible's undefined fails first.
        require_defined(&value)?;
        if value.is_none() {
            continue;
        }
        let Some(name) = key.as_str() else {
            return Err(err(format!(
                "expected string or bytes-like object, got '{}'",
                type_name(&key)
            )));
        };
        if name.chars().any(|c| {
            matches!(
                c,
                ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c' | '/' | '>' | '='
            )
        }) {
            return Err(err(format!(
                "Invalid character in attribute name: {}",
                str_repr(name)
            )));
        }
        items.push(format!(
            "{}=\"{}\"",
            html_escape(name),
            escape_value(&value)?
        ));
    }
    let mut out = items.join(" ");
    if autospace && !out.is_empty() {
        out.insert(0, ' ');
    }
    Ok(Value::from(out))
}

// ---------------------------------------------------------------- urlize

/// `urlize(value, trim_url_limit=None, nofollow=False, target=None, rel=None, extra_schemes=None)`.
fn urlize(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "do_urlize",
        rest.into_values(),
        &[
            "trim_url_limit",
            "nofollow",
            "target",
            "rel",
            "extra_schemes",
        ],
    )?;
    let trim_limit = match args.get(0) {
        Some(l) if !l.is_none() => Some(int_arg("urlize", "trim_url_limit", Some(l), 0)?),
        _ => None,
    };
    let nofollow = args.flag(1)?;
    let target = args.get(2).filter(|t| !t.is_none());
    let rel = args.get(3).filter(|r| !r.is_none());
    let extra_schemes = args.get(4).filter(|s| !s.is_none());
    args.finish()?;

    let mut rel_parts: Vec<String> = match &rel {
        Some(r) => py_str(r)?.split_whitespace().map(String::from).collect(),
        None => Vec::new(),
    };
    if nofollow {
        rel_parts.push("nofollow".into());
    }
    rel_parts.push("noopener".into());
    rel_parts.sort();
    rel_parts.dedup();
    let rel_attr = format!(" rel=\"{}\"", html_escape(&rel_parts.join(" ")));
    let target_attr = match &target {
        Some(t) if t.is_true() => format!(" target=\"{}\"", escape_value(t)?),
        _ => String::new(),
    };
    let mut schemes = Vec::new();
    if let Some(list) = &extra_schemes {
        for scheme in list.try_iter()? {
            let scheme = py_str(&scheme)?;
            if !scheme_re().is_match(&scheme) {
                return Err(err(format!(
                    "{} is not a valid URI scheme prefix.",
                    str_repr(&scheme)
                )));
            }
            schemes.push(scheme);
        }
    }
    let trim = |x: &str| -> String {
        match trim_limit {
            Some(limit) if i64::try_from(char_len(x)).unwrap_or(i64::MAX) > limit => {
                format!("{}...", char_prefix(x, usize::try_from(limit).unwrap_or(0)))
            }
            _ => x.to_string(),
        }
    };

    let text = escape_value(v)?;
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for space in space_re().find_iter(&text) {
        out.push_str(&urlize_word(
            &text[last..space.start()],
            &rel_attr,
            &target_attr,
            &schemes,
            &trim,
        ));
        out.push_str(space.as_str());
        last = space.end();
    }
    out.push_str(&urlize_word(
        &text[last..],
        &rel_attr,
        &target_attr,
        &schemes,
        &trim,
    ));
    Ok(Value::from(out))
}

fn urlize_word(
    word: &str,
    rel_attr: &str,
    target_attr: &str,
    schemes: &[String],
    trim: &dyn Fn(&str) -> String,
) -> String {
    // Leading `(`/`&lt;` and trailing `)`, `.`, `,`, `&gt;` are not part of the link.
    let mut middle = word;
    loop {
        if let Some(rest) = middle.strip_prefix(['(', '<']) {
            middle = rest;
        } else if let Some(rest) = middle.strip_prefix("&lt;") {
            middle = rest;
        } else {
            break;
        }
    }
    let head = &word[..word.len() - middle.len()];
    let mut body = middle;
    loop {
        if let Some(rest) = body.strip_suffix([')', '>', '.', ',', '\n']) {
            body = rest;
        } else if let Some(rest) = body.strip_suffix("&gt;") {
            body = rest;
        } else {
            break;
        }
    }
    let mut tail = middle[body.len()..].to_string();
    let mut middle = body.to_string();
    // Balance parentheses by taking closing ones back from the tail.
    for (open, close) in [("(", ")"), ("<", ">"), ("&lt;", "&gt;")] {
        let opened = middle.matches(open).count();
        if opened <= middle.matches(close).count() {
            continue;
        }
        for _ in 0..opened.min(tail.matches(close).count()) {
            let Some(at) = tail.find(close) else { break };
            let end = at + close.len();
            middle.push_str(&tail[..end]);
            tail = tail[end..].to_string();
        }
    }
    let linked = if http_re().is_match(&middle) {
        if middle.starts_with("https://") || middle.starts_with("http://") {
            format!(
                "<a href=\"{middle}\"{rel_attr}{target_attr}>{}</a>",
                trim(&middle)
            )
        } else {
            format!(
                "<a href=\"https://{middle}\"{rel_attr}{target_attr}>{}</a>",
                trim(&middle)
            )
        }
    } else if let Some(address) = middle
        .strip_prefix("mailto:")
        .filter(|a| email_re().is_match(a))
    {
        format!("<a href=\"{middle}\">{address}</a>")
    } else if middle.contains('@')
        && !middle.starts_with("www.")
        && !middle.starts_with('@')
        && !middle.contains(':')
        && email_re().is_match(&middle)
    {
        format!("<a href=\"mailto:{middle}\">{middle}</a>")
    } else if schemes
        .iter()
        .any(|s| middle != *s && middle.starts_with(s.as_str()))
    {
        format!("<a href=\"{middle}\"{rel_attr}{target_attr}>{middle}</a>")
    } else {
        middle
    };
    format!("{head}{linked}{tail}")
}

fn space_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\s+").expect("valid regex"))
}

/// Jinja2's `_http_re`.
fn http_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"(?i)^(",
            r"(https?://|www\.)(([\w%-]+\.)+)?([a-z]{2,63}|xn--[\w%]{2,59})",
            r"|([\w%-]{2,63}\.)+(com|net|int|edu|gov|org|info|mil)",
            r"|(https?://)((([\d]{1,3})(\.[\d]{1,3}){3})|(\[([\da-f]{0,4}:){2}([\da-f]{0,4}:?){1,6}\]))",
            r")(?::[\d]{1,5})?(?:[/?#]\S*)?$",
        ))
        .expect("valid regex")
    })
}

/// Jinja2's `_email_re`.
fn email_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\S+@\w[\w.-]*\.\w+$").expect("valid regex"))
}

/// Jinja2's `_uri_scheme_re` for `extra_schemes`.
fn scheme_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^([\w.+-]{2,}:(/){0,2})$").expect("valid regex"))
}

// ---------------------------------------------------------------- filesizeformat, tojson

/// `filesizeformat(value, binary=False)`: `float(value)` in decimal (`kB`) or binary (`KiB`)
/// units with one decimal.
fn filesizeformat(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new("do_filesizeformat", rest.into_values(), &["binary"])?;
    let binary = args.flag(0)?;
    args.finish()?;
    let bytes = python_float(v).ok_or_else(|| {
        err(format!(
            "float() argument must be a string or a real number, not '{}'",
            type_name(v)
        ))
    })?;
    let base: u128 = if binary { 1024 } else { 1000 };
    let prefixes = if binary {
        ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    } else {
        ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    };
    if bytes == 1.0 {
        return Ok(Value::from("1 Byte"));
    }
    if bytes < base as f64 {
        if !bytes.is_finite() {
            return Err(err("cannot convert float infinity to integer"));
        }
        return Ok(Value::from(format!("{} Bytes", bytes.trunc() as i64)));
    }
    let mut unit = base;
    let mut prefix = prefixes[0];
    for (i, p) in prefixes.iter().enumerate() {
        unit = base.pow(u32::try_from(i).unwrap_or(0) + 2);
        prefix = p;
        if bytes < unit as f64 {
            break;
        }
    }
    let size = base as f64 * bytes / unit as f64;
    let size = if size.is_nan() {
        "nan".to_string()
    } else {
        format!("{size:.1}")
    };
    Ok(Value::from(format!("{size} {prefix}")))
}

/// `tojson(value, indent=None)`: `json.dumps(value, sort_keys=True)` with `<`, `>`, `&` and
/// `'` escaped for HTML.
fn tojson(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new("do_tojson", rest.into_values(), &["indent"])?;
    let indent = json_indent(args.get(0))?;
    args.finish()?;
    let opts = JsonOptions {
        sort_keys: true,
        ..JsonOptions::default()
    }
    .with_indent(indent);
    let text = dumps(&to_json_value(v)?, &opts)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    Ok(Value::from_safe_string(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(text: &str, width: usize, hyphens: bool) -> Vec<String> {
        Wrap {
            width,
            break_long_words: true,
            break_on_hyphens: hyphens,
        }
        .wrap(text)
    }

    fn chunks(text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        split_hyphenated(&chars)
            .into_iter()
            .map(|c| c.into_iter().collect())
            .collect()
    }

    #[test]
    fn splits_chunks_as_textwrap() {
        // The example from textwrap's source.
        assert_eq!(
            chunks("Hello there -- you goof-ball, use the -b option!"),
            [
                "Hello", " ", "there", " ", "--", " ", "you", " ", "goof-", "ball,", " ", "use",
                " ", "the", " ", "-b", " ", "option!"
            ]
        );
        assert_eq!(chunks("a--b"), ["a", "--", "b"]);
        assert_eq!(chunks("state-of-the-art"), ["state-", "of-", "the-", "art"]);
        assert_eq!(chunks("123-456"), ["123-456"]);
        assert_eq!(chunks("x-y"), ["x-y"]);
    }

    #[test]
    fn wraps_as_textwrap() {
        assert_eq!(wrap("", 5, true), Vec::<String>::new());
        assert_eq!(wrap("   ", 5, true), Vec::<String>::new());
        assert_eq!(wrap("abcdefghij", 3, true), ["abc", "def", "ghi", "j"]);
        assert_eq!(
            wrap("one-two-three-four", 5, true),
            ["one-", "two-t", "hree-", "four"]
        );
        assert_eq!(wrap("a  b", 1, false), ["a", "b"]);
    }

    #[test]
    fn splitlines_as_python() {
        assert_eq!(
            python_splitlines("a\r\nb\rc\n\nd\n"),
            ["a", "b", "c", "", "d"]
        );
        assert_eq!(python_splitlines(""), Vec::<&str>::new());
        assert_eq!(python_splitlines("\n"), [""]);
        assert_eq!(python_splitlines("a\u{2028}b\x0cc"), ["a", "b", "c"]);
    }
}
