//! Python's text helpers that key and host files need the exact semantics of.

/// Python's `str.splitlines(keepends=True)` for `\n`, `\r\n` and `\r`.
pub(crate) fn lines_with_ends(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(at) => {
                let len = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                out.push(&rest[..at + len]);
                rest = &rest[at + len..];
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}
