//! Python's `shlex.split(line, comments=True)` (POSIX mode), which Ansible's INI plugin uses to
//! cut a host line into `name key=value key="spaced value"` tokens.
//!
//! The quirks matter for compatibility: `#` starts a comment even in the middle of a word
//! (`pass=ab#c` is `pass=ab`), and inside double quotes a backslash only escapes `"` and `\`.

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Space,
    Word,
    Quote(char),
    /// After a backslash; remembers the state to return to.
    Escape(Resume),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Resume {
    Word,
    Quote(char),
}

/// Splits `line` into shell-like words, or says why it cannot (Python's messages).
pub(crate) fn split(line: &str) -> Result<Vec<String>, &'static str> {
    let mut tokens = Vec::new();
    let mut token = String::new();
    // A quoted empty string is still a token.
    let mut quoted = false;
    let mut state = State::Space;
    let mut chars = line.chars();

    let mut flush = |token: &mut String, quoted: &mut bool| {
        if !token.is_empty() || *quoted {
            tokens.push(std::mem::take(token));
        }
        *quoted = false;
    };

    loop {
        let next = chars.next();
        match state {
            State::Space | State::Word => match next {
                None => {
                    flush(&mut token, &mut quoted);
                    break;
                }
                Some(' ' | '\t' | '\r' | '\n') => {
                    flush(&mut token, &mut quoted);
                    state = State::Space;
                }
                Some('#') => {
                    // The rest of the (single) line is a comment.
                    flush(&mut token, &mut quoted);
                    break;
                }
                Some('\\') => state = State::Escape(Resume::Word),
                Some(q @ ('\'' | '"')) => {
                    quoted = true;
                    state = State::Quote(q);
                }
                Some(c) => {
                    token.push(c);
                    state = State::Word;
                }
            },
            State::Quote(q) => match next {
                None => return Err("No closing quotation"),
                Some(c) if c == q => state = State::Word,
                Some('\\') if q == '"' => state = State::Escape(Resume::Quote(q)),
                Some(c) => token.push(c),
            },
            State::Escape(resume) => {
                let Some(c) = next else {
                    return Err("No escaped character");
                };
                if let Resume::Quote(q) = resume {
                    // Within quotes only the quote and the backslash itself are escapable.
                    if c != q && c != '\\' {
                        token.push('\\');
                    }
                }
                token.push(c);
                state = match resume {
                    Resume::Word => State::Word,
                    Resume::Quote(q) => State::Quote(q),
                };
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::split;

    fn s(line: &str) -> Vec<String> {
        split(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn words_and_quotes() {
        assert_eq!(s("web1  a=1\tb=2"), ["web1", "a=1", "b=2"]);
        assert_eq!(s(r#"h x="a b" y='c d'"#), ["h", "x=a b", "y=c d"]);
        assert_eq!(s(r#"h x="a"b'c'"#), ["h", "x=abc"]);
        assert_eq!(s(r#"h x="""#), ["h", "x="]);
        assert_eq!(s(r#"h """#), ["h", ""]);
        assert_eq!(s(r#"h x="'5'""#), ["h", "x='5'"]);
    }

    #[test]
    fn comments_cut_words() {
        assert_eq!(s("h a=1 # note"), ["h", "a=1"]);
        assert_eq!(s("h pass=ab#c d=1"), ["h", "pass=ab"]);
        assert_eq!(s(r#"h pass="ab#c""#), ["h", "pass=ab#c"]);
    }

    #[test]
    fn escapes() {
        assert_eq!(s(r"h a=x\ y"), ["h", "a=x y"]);
        assert_eq!(s(r#"h a="x\"y\\z\n""#), ["h", r#"a=x"y\z\n"#]);
        assert_eq!(s(r"h a='x\y'"), ["h", r"a=x\y"]);
        assert_eq!(split("h a='x"), Err("No closing quotation"));
        assert_eq!(split(r"h a=\"), Err("No escaped character"));
    }
}
