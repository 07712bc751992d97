//! Python `re` on the `regex` crate (the engine the template crate's `regex_*` filters use),
//! for the modules that take Python regular expressions (`replace`, `blockinfile`,
//! `lineinfile`).
//!
//! [`translate`] rewrites the spellings where Python and `regex` disagree: a `{` that is no
//! quantifier is a literal in Python, `{,n}` means `{0,n}`, `\Z` is `\z`, `\<`/`\>` are plain
//! characters, `(?#...)` is a comment, and `[`, `&`, `~`, `--` are plain inside a class.
//! [`Template`] is `re.sub`'s replacement template (`\1`, `\g<1>`, `\g<name>`, escapes, octal)
//! with Python's errors, and [`subn`] is `re.subn` with Python's handling of empty matches. Lookaround and backreferences inside
//! the pattern are not supported by the engine and fail to compile.

use regex::{Captures, Regex};

/// Rewrites a Python pattern into the `regex` crate's syntax.
pub(crate) fn translate(pattern: &str) -> String {
    translate_with(pattern, false)
}

/// [`translate`]; with `dollar_before_newline`, a `$` outside a class becomes the multi-line
/// `$`, which is Python's non-multi-line `$` for a text holding at most one (final) newline
/// (lineinfile searches line by line).
pub(crate) fn translate_with(pattern: &str, dollar_before_newline: bool) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                let next = chars[i + 1];
                match next {
                    // Python's \Z is the very end; the regex crate spells it \z.
                    'Z' => out.push_str("\\z"),
                    // Word-boundary assertions in the regex crate, plain characters in Python.
                    '<' | '>' => out.push(next),
                    _ => {
                        out.push('\\');
                        out.push(next);
                    }
                }
                i += 2;
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` right after the opening is a member in both syntaxes.
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
                i += 1;
            }
            // Nested classes and set operations exist only in the regex crate.
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            '-' if in_class && chars.get(i + 1) == Some(&'-') => {
                out.push_str("\\-");
                i += 1;
            }
            '$' if !in_class && dollar_before_newline => {
                out.push_str("(?m:$)");
                i += 1;
            }
            '{' if !in_class => {
                // A repetition only when it reads as one; else a literal brace, as in Python.
                let close = chars[i + 1..].iter().position(|&c| c == '}');
                let body: Option<(usize, String)> =
                    close.map(|n| (n, chars[i + 1..i + 1 + n].iter().collect()));
                match body {
                    Some((n, body)) if is_repeat(&body) => {
                        let body = if body.starts_with(',') {
                            format!("0{body}")
                        } else {
                            body
                        };
                        out.push('{');
                        out.push_str(&body);
                        out.push('}');
                        i += n + 2;
                    }
                    _ => {
                        out.push_str("\\{");
                        i += 1;
                    }
                }
            }
            '}' if !in_class => {
                out.push_str("\\}");
                i += 1;
            }
            '(' if !in_class
                && chars.get(i + 1) == Some(&'?')
                && chars.get(i + 2) == Some(&'#') =>
            {
                // A comment group: dropped.
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// `m`, `m,`, `,n`, `m,n` (and `,`), as Python reads `{...}` as a repetition.
fn is_repeat(body: &str) -> bool {
    let (lo, hi) = match body.split_once(',') {
        Some((lo, hi)) => (lo, Some(hi)),
        None => (body, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    match hi {
        None => !lo.is_empty() && digits(lo),
        Some(hi) => digits(lo) && digits(hi),
    }
}

/// Compiles a Python pattern; `multiline` and `dotall` are `re.MULTILINE` and `re.DOTALL`.
pub(crate) fn compile(pattern: &str, multiline: bool, dotall: bool) -> Result<Regex, String> {
    regex::RegexBuilder::new(&translate(pattern))
        .multi_line(multiline)
        .dot_matches_new_line(dotall)
        .build()
        .map_err(|e| e.to_string())
}

/// Compiles a Python pattern for `bytes` (ASCII classes, `.` is any byte but `\n`).
pub(crate) fn compile_bytes(pattern: &str, multiline: bool) -> Result<regex::bytes::Regex, String> {
    regex::bytes::RegexBuilder::new(&translate(pattern))
        .unicode(false)
        .multi_line(multiline)
        .build()
        .map_err(|e| e.to_string())
}

/// Whether a pattern turns on `re.MULTILINE` itself with leading inline flags (`(?m)`),
/// which is where Python allows global flags.
pub(crate) fn has_inline_multiline(pattern: &str) -> bool {
    let mut rest = pattern;
    while let Some(after) = rest.strip_prefix("(?") {
        let Some(end) = after.find(')') else {
            return false;
        };
        let flags = &after[..end];
        if flags.is_empty() || !flags.chars().all(|c| "aiLmsux".contains(c)) {
            return false;
        }
        if flags.contains('m') {
            return true;
        }
        rest = &after[end + 1..];
    }
    false
}

/// One piece of a replacement template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
}

/// `re.sub`'s replacement template, parsed against the pattern it is used with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Vec<Piece>);

impl Template {
    /// Parses `repl` as Python does, checking group references against `re`. Errors read
    /// as Python's `re.error` and `IndexError` messages.
    pub(crate) fn parse(repl: &str, re: &Regex) -> Result<Template, String> {
        let groups = re.captures_len() - 1;
        let chars: Vec<char> = repl.chars().collect();
        let mut pieces: Vec<Piece> = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        let group = |pieces: &mut Vec<Piece>, text: &mut String, n: usize| {
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(text)));
            }
            pieces.push(Piece::Group(n));
        };
        while i < chars.len() {
            let c = chars[i];
            if c != '\\' {
                text.push(c);
                i += 1;
                continue;
            }
            let Some(&next) = chars.get(i + 1) else {
                return Err(format!("bad escape (end of pattern) at position {i}"));
            };
            let octal = |c: Option<&char>| c.is_some_and(|c| ('0'..='7').contains(c));
            match next {
                'g' => {
                    if chars.get(i + 2) != Some(&'<') {
                        return Err(format!("missing < at position {}", i + 2));
                    }
                    let start = i + 3;
                    let Some(len) = chars[start..].iter().position(|&c| c == '>') else {
                        return Err(format!("missing >, unterminated name at position {start}"));
                    };
                    let name: String = chars[start..start + len].iter().collect();
                    if name.is_empty() {
                        return Err(format!("missing group name at position {start}"));
                    }
                    let n = if name.chars().all(|c| c.is_ascii_digit()) {
                        let n: usize = name.parse().unwrap_or(usize::MAX);
                        if n > groups {
                            return Err(format!("invalid group reference {n} at position {start}"));
                        }
                        n
                    } else if is_identifier(&name) {
                        re.capture_names()
                            .position(|g| g == Some(name.as_str()))
                            .ok_or_else(|| format!("unknown group name '{name}'"))?
                    } else {
                        return Err(format!(
                            "bad character in group name '{name}' at position {start}"
                        ));
                    };
                    group(&mut pieces, &mut text, n);
                    i = start + len + 1;
                }
                '0' => {
                    // `\0`, `\0o`, `\0oo`: an octal character.
                    let mut value = 0u32;
                    let mut j = i + 2;
                    while j < i + 4 && octal(chars.get(j)) {
                        value = value * 8 + chars[j].to_digit(8).unwrap_or(0);
                        j += 1;
                    }
                    text.push(char::from_u32(value).unwrap_or('\0'));
                    i = j;
                }
                d if d.is_ascii_digit() => {
                    let second = chars.get(i + 2).filter(|c| c.is_ascii_digit());
                    if octal(Some(&d)) && octal(second) && octal(chars.get(i + 3)) {
                        let digits: String = chars[i + 1..i + 4].iter().collect();
                        let value = u32::from_str_radix(&digits, 8).unwrap_or(0);
                        if value > 0o377 {
                            return Err(format!(
                                "octal escape value \\{digits} outside of range 0-0o377 at position {i}"
                            ));
                        }
                        text.push(char::from_u32(value).unwrap_or('\0'));
                        i += 4;
                        continue;
                    }
                    let mut n = d.to_digit(10).unwrap_or(0) as usize;
                    let mut len = 1;
                    if let Some(d2) = second {
                        n = n * 10 + d2.to_digit(10).unwrap_or(0) as usize;
                        len = 2;
                    }
                    if n > groups {
                        return Err(format!("invalid group reference {n} at position {}", i + 1));
                    }
                    group(&mut pieces, &mut text, n);
                    i += 1 + len;
                }
                _ => {
                    let escaped = match next {
                        'a' => Some('\x07'),
                        'b' => Some('\x08'),
                        'f' => Some('\x0c'),
                        'n' => Some('\n'),
                        'r' => Some('\r'),
                        't' => Some('\t'),
                        'v' => Some('\x0b'),
                        '\\' => Some('\\'),
                        _ => None,
                    };
                    match escaped {
                        Some(ch) => text.push(ch),
                        None if next.is_ascii_alphabetic() => {
                            return Err(format!("bad escape \\{next} at position {i}"));
                        }
                        None => {
                            text.push('\\');
                            text.push(next);
                        }
                    }
                    i += 2;
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template(pieces))
    }

    /// The replacement for one match; a group that did not take part gives `""`.
    fn expand(&self, caps: &Captures<'_>, out: &mut String) {
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Group(n) => {
                    if let Some(m) = caps.get(*n) {
                        out.push_str(m.as_str());
                    }
                }
            }
        }
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// `re.subn(re, template, text)`: the new text and the number of matches replaced. As in
/// Python 3.7+, an empty match right after a non-empty one counts; two matches never start
/// where an empty one ended.
pub(crate) fn subn(re: &Regex, template: &Template, text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut last = 0; // end of the text copied so far
    let mut pos = 0; // where the next search starts
    let mut must_advance = false;
    while pos <= text.len() {
        let Some(caps) = re.captures_at(text, pos) else {
            break;
        };
        let m = caps.get(0).expect("group 0");
        if must_advance && m.start() == pos && m.is_empty() {
            // Python would look for a longer match here first; the engine gives only the
            // preferred one, so search again from the next character.
            match text[pos..].chars().next() {
                Some(c) => {
                    pos += c.len_utf8();
                    must_advance = false;
                    // The skipped character is copied with the text before the next match.
                    continue;
                }
                None => break,
            }
        }
        out.push_str(&text[last..m.start()]);
        template.expand(&caps, &mut out);
        count += 1;
        last = m.end();
        pos = m.end();
        must_advance = m.is_empty();
    }
    out.push_str(&text[last..]);
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(pattern, replacement, text, expected)`, the expected values from Python 3.11's
    /// `re.sub(pattern, replacement, text, flags=re.MULTILINE)`.
    const SUBS: &[(&str, &str, &str, &str)] = &[
        ("x*", "-", "abxd", "-a-b--d-"),
        (r"(a)|b", r"[\1]", "ab", "[a][]"),
        (r"(a)", r"\012\.\n\\x", "a", "\n\\.\n\\x"),
        (r"^(\w+)=(.*)$", r"\2=\1", "a=1\nb=2\n", "1=a\n2=b\n"),
        (r"(?P<k>\w+)=", r"\g<k>: ", "a=1", "a: 1"),
        (r"(\w)(\w)", r"\g<2>\g<1>\g<0>", "ab", "baab"),
        ("server {", "srv {", "server {\n}", "srv {\n}"),
        ("a{,2}", "X", "aaa", "XXX"),
        ("x{1", "Y", "x{1", "Y"),
        (r"end\Z", "E", "end\nend", "end\nE"),
        (r"[[]x", "y", "[x", "y"),
        ("$", "!", "a\nb\n", "a!\nb!\n!"),
        ("^", "> ", "a\nb\n", "> a\n> b\n> "),
        ("", "-", "ab", "-a-b-"),
        ("é", "e", "café", "cafe"),
    ];

    #[test]
    fn substitutions_match_python() {
        for (pattern, repl, text, expected) in SUBS {
            let re = compile(pattern, true, false).expect(pattern);
            let template = Template::parse(repl, &re).expect(repl);
            let (out, _) = subn(&re, &template, text);
            assert_eq!(&out, expected, "re.sub({pattern:?}, {repl:?}, {text:?})");
        }
        let re = compile("x*", true, false).expect("x*");
        assert_eq!(
            subn(&re, &Template::parse("-", &re).expect("-"), "abxd").1,
            5
        );
    }

    #[test]
    fn template_errors_read_as_python() {
        let re = compile(r"(a)(?P<n>b)", true, false).expect("re");
        for (repl, msg) in [
            (r"\3", "invalid group reference 3 at position 1"),
            (r"\g<x>", "unknown group name 'x'"),
            (r"\g<1", "missing >, unterminated name at position 3"),
            (r"\q", r"bad escape \q at position 0"),
            ("a\\", "bad escape (end of pattern) at position 1"),
            (
                r"\g<a-b>",
                "bad character in group name 'a-b' at position 3",
            ),
            (
                r"\400",
                r"octal escape value \400 outside of range 0-0o377 at position 0",
            ),
            (r"\g<-1>", "bad character in group name '-1' at position 3"),
        ] {
            assert_eq!(Template::parse(repl, &re).expect_err(repl), msg, "{repl}");
        }
        assert!(Template::parse(r"\g<n>\2\1", &re).is_ok());
    }

    #[test]
    fn inline_multiline_flag() {
        assert!(has_inline_multiline("(?m)^x$"));
        assert!(has_inline_multiline("(?i)(?ms)x"));
        assert!(!has_inline_multiline("(?i)x"));
        assert!(!has_inline_multiline("(?P<m>x)"));
        assert!(!has_inline_multiline("x(?m)"));
    }
}
