//! Source rewrites applied before minijinja compiles a template, for Ansible semantics it lacks.
//!
//! 1. `escape_backslashes` (Ansible's AnsibleLexer): backslashes in string literals inside
//!    `{{ }}` are literal. Templates in task arguments and variables come from YAML, which has
//!    already processed escapes; Ansible keeps Jinja from processing them a second time, so that
//!    `regex_replace('^(.*)$', '\1')` means a backreference and not the character `\x01`.
//!    Statements, template files and conditionals are not affected, as in Ansible.
//! 2. Strict blocks: the test of `{% if %}`/`{% elif %}` and the iterable of `{% for %}` are
//!    wrapped in `__tend_strict(…)`, which fails on an undefined value. minijinja's chainable
//!    undefined would otherwise make them silently false/empty, where Ansible fails naming the
//!    variable.

/// Name of the function the strict-block rewrite calls.
pub const STRICT_FN: &str = "__tend_strict";

/// A rewritten template and where text was inserted, to map error positions back.
#[derive(Debug, Default)]
pub struct Rewrite {
    pub text: String,
    /// (byte position in `text`, byte length) of each insertion, in order.
    pub inserted: Vec<(usize, usize)>,
}

impl Rewrite {
    /// Maps a byte offset in the rewritten text back to the original text.
    pub fn original_offset(inserted: &[(usize, usize)], offset: usize) -> usize {
        let mut shift = 0;
        for &(pos, len) in inserted {
            if pos + len <= offset {
                shift += len;
            } else if pos < offset {
                shift += offset - pos;
            }
        }
        offset - shift
    }
}

struct Writer<'a> {
    src: &'a str,
    out: String,
    copied: usize,
    inserted: Vec<(usize, usize)>,
}

impl Writer<'_> {
    /// Copies the source up to `pos`, then inserts `text`.
    fn insert_at(&mut self, pos: usize, text: &str) {
        self.out.push_str(&self.src[self.copied..pos]);
        self.copied = pos;
        self.inserted.push((self.out.len(), text.len()));
        self.out.push_str(text);
    }
}

/// Applies the rewrites; `None` when the source needs none.
pub fn rewrite(src: &str, escape_backslashes: bool, strict_blocks: bool) -> Option<Rewrite> {
    let escape_backslashes = escape_backslashes && src.contains('\\');
    let strict_blocks = strict_blocks && src.contains("{%");
    if !escape_backslashes && !strict_blocks {
        return None;
    }
    let bytes = src.as_bytes();
    let mut w = Writer {
        src,
        out: String::with_capacity(src.len() + 16),
        copied: 0,
        inserted: Vec::new(),
    };
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'{' || i + 1 >= bytes.len() {
            i += 1;
            continue;
        }
        match bytes[i + 1] {
            b'#' => i = find(bytes, i + 2, b"#}").map_or(bytes.len(), |e| e + 2),
            b'%' => {
                let (word, after_word) = tag_word(bytes, i + 2);
                let end = skip_statement(bytes, i + 2);
                if word == b"raw" {
                    i = find_endraw(bytes, i + 2);
                    continue;
                }
                if strict_blocks {
                    let body_end = statement_body_end(bytes, end);
                    match word {
                        b"if" | b"elif" => wrap(&mut w, bytes, after_word, body_end),
                        b"for" => {
                            if let Some(in_end) =
                                find_keyword(bytes, after_word, body_end, &[b"in"])
                            {
                                let iter_end =
                                    find_keyword(bytes, in_end.1, body_end, &[b"if", b"recursive"])
                                        .map_or(body_end, |(start, _)| start);
                                wrap(&mut w, bytes, in_end.1, iter_end);
                            }
                        }
                        _ => {}
                    }
                }
                i = end;
            }
            b'{' => {
                let mut j = i + 2;
                let mut depth = 0usize;
                while j < bytes.len() {
                    match bytes[j] {
                        quote @ (b'\'' | b'"') => {
                            let end = string_end(bytes, j + 1, quote);
                            if escape_backslashes {
                                escape_literal(&mut w, j + 1, end.min(bytes.len()), quote);
                            }
                            j = end + 1;
                        }
                        b'{' | b'(' | b'[' => {
                            depth += 1;
                            j += 1;
                        }
                        b'}' if depth == 0 && bytes.get(j + 1) == Some(&b'}') => {
                            j += 2;
                            break;
                        }
                        b'}' | b')' | b']' => {
                            depth = depth.saturating_sub(1);
                            j += 1;
                        }
                        _ => j += 1,
                    }
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    if w.inserted.is_empty() {
        return None;
    }
    w.out.push_str(&src[w.copied..]);
    Some(Rewrite {
        text: w.out,
        inserted: w.inserted,
    })
}

/// Escapes the backslashes (and the quotes they escape) of the literal content `start..end`,
/// so that minijinja decodes it to exactly that content.
fn escape_literal(w: &mut Writer<'_>, start: usize, end: usize, quote: u8) {
    let content = &w.src[start..end];
    if !content.contains('\\') {
        return;
    }
    for (offset, c) in content.char_indices() {
        if c == '\\' || c == quote as char {
            w.insert_at(start + offset, "\\");
        }
    }
}

/// Wraps the expression between `start` and `end` (trimmed) in the strict function.
fn wrap(w: &mut Writer<'_>, bytes: &[u8], start: usize, end: usize) {
    let mut s = start;
    let mut e = end;
    while s < e && bytes[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && bytes[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    if s == e {
        return;
    }
    w.insert_at(s, &format!("{STRICT_FN}("));
    w.insert_at(e, ")");
}

/// The end of a statement's body: before `%}` and its whitespace-control sign.
fn statement_body_end(bytes: &[u8], end: usize) -> usize {
    let mut e = end.saturating_sub(2);
    if e > 0 && matches!(bytes.get(e - 1), Some(b'-' | b'+')) {
        e -= 1;
    }
    e
}

/// Finds one of `keywords` as a whole identifier outside strings and brackets in `from..to`;
/// returns its (start, end).
fn find_keyword(
    bytes: &[u8],
    from: usize,
    to: usize,
    keywords: &[&[u8]],
) -> Option<(usize, usize)> {
    let mut i = from;
    let mut depth = 0usize;
    while i < to {
        match bytes[i] {
            quote @ (b'\'' | b'"') => i = string_end(bytes, i + 1, quote) + 1,
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i < to && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if depth == 0 && keywords.contains(&&bytes[start..i]) {
                    return Some((start, i));
                }
            }
            b if b.is_ascii_digit() => {
                while i < to
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
                {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Index of the closing quote (a backslash escapes the next character, as Jinja's lexer reads it).
fn string_end(bytes: &[u8], mut i: usize, quote: u8) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Skips a `{% … %}` statement body starting at `i`, ignoring `%}` inside string literals;
/// returns the index just past `%}`.
fn skip_statement(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => i = string_end(bytes, i + 1, quote) + 1,
            b'%' if bytes.get(i + 1) == Some(&b'}') => return i + 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The statement's keyword after optional whitespace control, and the index after it.
fn tag_word(bytes: &[u8], i: usize) -> (&[u8], usize) {
    let mut i = i;
    if matches!(bytes.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    (&bytes[start..i], i)
}

/// Index just past the `{% endraw %}` closing a raw block whose tag body starts at `i`.
fn find_endraw(bytes: &[u8], i: usize) -> usize {
    let mut i = skip_statement(bytes, i);
    while let Some(open) = find(bytes, i, b"{%") {
        let (word, _) = tag_word(bytes, open + 2);
        let end = skip_statement(bytes, open + 2);
        if word == b"endraw" {
            return end;
        }
        i = open + 2;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        rewrite(s, true, false).map_or_else(|| s.to_string(), |r| r.text)
    }

    fn strict(s: &str) -> String {
        rewrite(s, false, true).map_or_else(|| s.to_string(), |r| r.text)
    }

    #[test]
    fn literals_in_expressions_keep_backslashes() {
        assert_eq!(
            esc(r"{{ x | regex_replace('(a)', '\1') }}"),
            r"{{ x | regex_replace('(a)', '\\1') }}"
        );
        assert_eq!(esc(r#"{{ "a\"b" }}"#), r#"{{ "a\\\"b" }}"#);
        assert_eq!(esc(r"{{ {'a': '\d'} }}"), r"{{ {'a': '\\d'} }}");
    }

    #[test]
    fn statements_comments_and_text_keep_escapes() {
        for s in [
            r"a\1 {{ x }}",
            r"{% set a = '\n' %}{{ a }}",
            r"{# '\n' #}",
            r"{% raw %}{{ '\n' }}{% endraw %}",
            "{{ x }}",
        ] {
            assert_eq!(esc(s), s);
        }
    }

    #[test]
    fn conditions_and_iterables_are_wrapped() {
        assert_eq!(
            strict("{% if x %}a{% elif y.z -%}b{% endif %}"),
            "{% if __tend_strict(x) %}a{% elif __tend_strict(y.z) -%}b{% endif %}"
        );
        assert_eq!(
            strict("{%- for k, v in d.items() if v recursive %}{% endfor %}"),
            "{%- for k, v in __tend_strict(d.items()) if v recursive %}{% endfor %}"
        );
        assert_eq!(
            strict("{% for i in [1, 'in', (a if b else c)] %}{% endfor %}"),
            "{% for i in __tend_strict([1, 'in', (a if b else c)]) %}{% endfor %}"
        );
        assert_eq!(
            strict("{% if %}{% raw %}{% if x %}{% endraw %}"),
            "{% if %}{% raw %}{% if x %}{% endraw %}"
        );
        assert_eq!(strict("{% set iffy = 1 %}"), "{% set iffy = 1 %}");
    }

    #[test]
    fn offsets_map_back() {
        let r = rewrite(r"{% if x %}{{ '\n' }}", true, true).unwrap_or_default();
        assert_eq!(r.text, r"{% if __tend_strict(x) %}{{ '\\n' }}");
        // The `\n` literal starts at 14 in the original and 29 in the rewrite.
        assert_eq!(Rewrite::original_offset(&r.inserted, 29), 14);
        assert_eq!(Rewrite::original_offset(&r.inserted, 6), 6);
        assert_eq!(Rewrite::original_offset(&r.inserted, 20), 6);
    }
}
