//! POSIX shell quoting: every argument that reaches a remote `sh` goes through here.

/// Quotes `arg` as one word for POSIX `sh`. Words made only of safe characters stay bare so
/// commands remain readable in `-vvv` output.
pub fn quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'-' | b'.' | b'/' | b',' | b':' | b'=' | b'+' | b'@' | b'%'
                )
        });
    if safe {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for ch in arg.chars() {
        if ch == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(ch);
        }
    }
    out.push('\'');
    out
}

/// Encodes arbitrary bytes as a `printf` format argument (octal escapes for anything
/// unsafe), for the rare command that must embed binary data in the command line itself.
pub fn quote_bytes_printf(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('\'');
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b" _-./,:=+@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_words_stay_bare() {
        assert_eq!(quote("/etc/hosts"), "/etc/hosts");
        assert_eq!(quote("a=b"), "a=b");
    }

    #[test]
    fn specials_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        for word in [
            "plain",
            "with space",
            "it's",
            "$HOME",
            "`x`",
            "a\nb",
            "\\",
            "*",
            "-n",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(word)))
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), word);
        }
    }

    #[test]
    fn printf_bytes_round_trip() {
        let data = b"line1\n'quoted' \\ %s \x00\xff end";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf {}", quote_bytes_printf(data)))
            .output()
            .expect("sh runs");
        assert_eq!(out.stdout, data);
    }
}
