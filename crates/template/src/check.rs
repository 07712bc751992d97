//! Compile-time detection of unknown filters, tests and lookup plugins.
//!
//! Jinja2 rejects an unknown filter or test when it compiles a template; minijinja only when
//! rendering reaches it, which would be after tend has contacted hosts. minijinja's AST is
//! behind its `unstable_machinery` feature, so this is a lexical scan of the expression parts of
//! a template instead: it skips string literals, comments and raw blocks, and reports only a
//! name that follows `|`, `is [not]`, `{% filter` or `lookup('`/`query('`/`q('` and that the
//! environment does not have — such a name would fail whenever it is reached.

use minijinja::Environment;

use crate::TemplateError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Filter,
    Test,
    Lookup,
}

/// A filter, test or lookup name used in a template, at a byte offset of the source.
#[derive(Debug, PartialEq, Eq)]
pub struct Use {
    pub kind: Kind,
    pub name: String,
    pub offset: usize,
}

/// The first name `source` (a template) uses that `env` does not provide.
pub fn unknown_in_template(env: &Environment<'_>, source: &str) -> Option<TemplateError> {
    first_unknown(env, source, uses_in_template(source))
}

/// The first name `source` (a bare expression) uses that `env` does not provide.
pub fn unknown_in_expr(env: &Environment<'_>, source: &str) -> Option<TemplateError> {
    let mut uses = Vec::new();
    scan_expr(source.as_bytes(), 0, source.len(), false, &mut uses);
    first_unknown(env, source, uses)
}

fn first_unknown(env: &Environment<'_>, source: &str, uses: Vec<Use>) -> Option<TemplateError> {
    let state = env.empty_state();
    let unknown = uses.into_iter().find(|u| match u.kind {
        Kind::Filter => !minijinja::tests::is_filter(&state, &u.name),
        Kind::Test => !minijinja::tests::is_test(&state, &u.name),
        Kind::Lookup => crate::lookup::canonical(&u.name).is_none(),
    })?;
    let message = match unknown.kind {
        Kind::Filter
            if crate::more_filters::UNSUPPORTED_FILTERS.contains(&unknown.name.as_str()) =>
        {
            format!(
                "No filter named '{}'. (tend does not implement this Ansible filter)",
                unknown.name
            )
        }
        Kind::Filter => format!("No filter named '{}'.", unknown.name),
        Kind::Test => format!("No test named '{}'.", unknown.name),
        Kind::Lookup => format!("The lookup plugin '{}' was not found.", unknown.name),
    };
    let (line, col) = line_col(source, unknown.offset);
    Some(TemplateError::Syntax {
        message,
        line: Some(line),
        col: Some(col),
    })
}

fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

/// The names used in the `{{ }}` and `{% %}` parts of a template.
pub fn uses_in_template(source: &str) -> Vec<Use> {
    let bytes = source.as_bytes();
    let mut uses = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'{', b'#') => {
                i = find(bytes, i + 2, b"#}").map_or(bytes.len(), |end| end + 2);
            }
            (b'{', b'{') => {
                let end = expr_end(bytes, i + 2, b"}}");
                scan_expr(bytes, i + 2, end, false, &mut uses);
                i = end + 2;
            }
            (b'{', b'%') => {
                let start = i + 2;
                let end = expr_end(bytes, start, b"%}");
                let body_start = skip_ws(bytes, skip_marker(bytes, start), end);
                let (word, _) = word_at(bytes, body_start, end);
                if word == b"raw" {
                    i = endraw(bytes, end).unwrap_or(bytes.len());
                    continue;
                }
                scan_expr(bytes, start, end, true, &mut uses);
                i = end + 2;
            }
            _ => i += 1,
        }
    }
    uses
}

fn skip_marker(bytes: &[u8], i: usize) -> usize {
    match bytes.get(i) {
        Some(b'-' | b'+') => i + 1,
        _ => i,
    }
}

/// Where `close` ends the tag opened before `start`, skipping string literals.
fn expr_end(bytes: &[u8], start: usize, close: &[u8]) -> usize {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => i = string_end(bytes, i),
            _ if bytes[i..].starts_with(close) => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after the string literal starting at `i`.
fn string_end(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    (from..bytes.len()).find(|&i| bytes[i..].starts_with(needle))
}

/// The index after the `{% endraw %}` that closes a raw block.
fn endraw(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(open) = find(bytes, i, b"{%") {
        let body = skip_ws(bytes, skip_marker(bytes, open + 2), bytes.len());
        let (word, _) = word_at(bytes, body, bytes.len());
        if word == b"endraw" {
            return find(bytes, body, b"%}").map(|end| end + 2);
        }
        i = open + 2;
    }
    None
}

fn skip_ws(bytes: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The identifier at `i` (empty when there is none) and the index after it.
fn word_at(bytes: &[u8], i: usize, end: usize) -> (&[u8], usize) {
    if i >= end || !is_ident_start(bytes[i]) {
        return (&[], i);
    }
    let mut j = i;
    while j < end && is_ident(bytes[j]) {
        j += 1;
    }
    (&bytes[i..j], j)
}

/// A filter or test name: identifiers joined by dots (`ansible.builtin.to_json`).
fn dotted_at(bytes: &[u8], i: usize, end: usize) -> Option<(String, usize)> {
    let (first, mut j) = word_at(bytes, i, end);
    if first.is_empty() {
        return None;
    }
    while j + 1 < end && bytes[j] == b'.' && is_ident_start(bytes[j + 1]) {
        let (_, next) = word_at(bytes, j + 1, end);
        j = next;
    }
    Some((String::from_utf8_lossy(&bytes[i..j]).into_owned(), j))
}

/// Scans an expression region for filter, test and lookup names.
fn scan_expr(bytes: &[u8], start: usize, end: usize, statement: bool, uses: &mut Vec<Use>) {
    let mut i = start;
    let mut prev: Option<u8> = None;
    let mut first_word = statement;
    while i < end {
        let c = bytes[i];
        if c == b'\'' || c == b'"' {
            i = string_end(bytes, i).min(end);
            prev = Some(b'"');
            first_word = false;
            continue;
        }
        if c == b'|' {
            let j = skip_ws(bytes, i + 1, end);
            if let Some((name, after)) = dotted_at(bytes, j, end) {
                uses.push(Use {
                    kind: Kind::Filter,
                    name,
                    offset: j,
                });
                i = after;
                prev = Some(b'a');
            } else {
                i += 1;
                prev = Some(c);
            }
            first_word = false;
            continue;
        }
        if c.is_ascii_digit() {
            // Numbers such as `1e5` or `0x1f` must not be read as identifiers.
            while i < end && (is_ident(bytes[i]) || bytes[i] == b'.') {
                i += 1;
            }
            prev = Some(b'0');
            first_word = false;
            continue;
        }
        if is_ident_start(c) {
            let (word, after) = word_at(bytes, i, end);
            let attribute = prev == Some(b'.');
            if !attribute {
                scan_word(bytes, word, after, end, first_word, uses);
            }
            first_word = false;
            prev = Some(b'a');
            i = after;
            continue;
        }
        if !c.is_ascii_whitespace() {
            prev = Some(c);
        }
        i += 1;
    }
}

/// Looks at what follows a word: a test after `is`, a lookup name after `lookup(`, a filter
/// after `{% filter`.
fn scan_word(
    bytes: &[u8],
    word: &[u8],
    after: usize,
    end: usize,
    first_word: bool,
    uses: &mut Vec<Use>,
) {
    match word {
        b"is" => {
            let mut j = skip_ws(bytes, after, end);
            let (next, next_end) = word_at(bytes, j, end);
            if next == b"not" {
                j = skip_ws(bytes, next_end, end);
            }
            if let Some((name, _)) = dotted_at(bytes, j, end) {
                uses.push(Use {
                    kind: Kind::Test,
                    name,
                    offset: j,
                });
            }
        }
        b"filter" if first_word => {
            let j = skip_ws(bytes, after, end);
            if let Some((name, _)) = dotted_at(bytes, j, end) {
                uses.push(Use {
                    kind: Kind::Filter,
                    name,
                    offset: j,
                });
            }
        }
        b"lookup" | b"query" | b"q" => {
            let j = skip_ws(bytes, after, end);
            if bytes.get(j) != Some(&b'(') {
                return;
            }
            let k = skip_ws(bytes, j + 1, end);
            let Some(&quote) = bytes.get(k).filter(|q| **q == b'\'' || **q == b'"') else {
                return;
            };
            let close = string_end(bytes, k);
            let literal = &bytes[k + 1..close.saturating_sub(1).max(k + 1)];
            if close <= end && !literal.contains(&b'\\') && bytes.get(close - 1) == Some(&quote) {
                uses.push(Use {
                    kind: Kind::Lookup,
                    name: String::from_utf8_lossy(literal).into_owned(),
                    offset: k + 1,
                });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(source: &str) -> Vec<(Kind, String)> {
        uses_in_template(source)
            .into_iter()
            .map(|u| (u.kind, u.name))
            .collect()
    }

    #[test]
    fn finds_filters_tests_and_lookups() {
        assert_eq!(
            names("{{ x | a | b(1) }} {% if y is not c and z is d(2) %}{% endif %}"),
            vec![
                (Kind::Filter, "a".into()),
                (Kind::Filter, "b".into()),
                (Kind::Test, "c".into()),
                (Kind::Test, "d".into()),
            ]
        );
        assert_eq!(
            names("{{ lookup('file', x) ~ q(\"env\") }}{% filter upper %}x{% endfilter %}"),
            vec![
                (Kind::Lookup, "file".into()),
                (Kind::Lookup, "env".into()),
                (Kind::Filter, "upper".into()),
            ]
        );
        assert_eq!(
            names("{{ x | ansible.builtin.to_json }}"),
            vec![(Kind::Filter, "ansible.builtin.to_json".into())]
        );
    }

    #[test]
    fn string_formatting_is_no_name() {
        assert!(names("{{ 'a%s' % x }}{% set y = \"%d\"%3 %}{{ 7 % 2 }}{{ x % 'y' }}").is_empty());
        assert!(names("{% set x = 'a' %}{% set y = 'b' -%}").is_empty());
    }

    #[test]
    fn skips_strings_comments_raw_and_attributes() {
        assert!(names("{{ 'a | b is c' }}{# x | y #}").is_empty());
        assert!(names("{% raw %}{{ x | nope }}{% endraw %}").is_empty());
        assert!(names("{{ x.is }} {{ d.lookup('x') }} {{ 1e5 }}").is_empty());
        assert!(names("plain | text is here").is_empty());
        assert!(names("{{ lookup(name) }}").is_empty());
    }
}
