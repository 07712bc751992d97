//! Ansible's `key=value` argument shorthand (`file: path=/x state=directory`), split the way
//! Ansible's `split_args`/`parse_kv` do: quotes and Jinja blocks keep their spaces.

use serde_json::{Map, Value};

/// Keys that free-form modules (`command`, `shell`) take out of their command line.
const FREE_FORM_KEYS: &[&str] = &[
    "creates",
    "removes",
    "chdir",
    "executable",
    "warn",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
];

/// Splits an argument string into words, keeping quoted text and `{{ }}`/`{% %}` together.
pub fn split_args(args: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut jinja_depth = 0usize;
    let mut chars = args.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quote.is_some() => {
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            '\'' | '"' if jinja_depth == 0 => {
                match quote {
                    Some(q) if q == c => quote = None,
                    None => quote = Some(c),
                    Some(_) => {}
                }
                word.push(c);
            }
            '{' if matches!(chars.peek(), Some('{' | '%' | '#')) => {
                jinja_depth += 1;
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            '}' | '%' | '#' if jinja_depth > 0 && chars.peek() == Some(&'}') => {
                jinja_depth -= 1;
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            c if c.is_whitespace() && quote.is_none() && jinja_depth == 0 => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Strips one pair of matching outer quotes.
fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[0] == b[b.len() - 1] {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// The position of the first `=` outside quotes, if the word is a `key=value` pair.
fn kv_split(word: &str) -> Option<(&str, &str)> {
    let mut quote: Option<char> = None;
    for (i, c) in word.char_indices() {
        match c {
            '\'' | '"' => match quote {
                Some(q) if q == c => quote = None,
                None => quote = Some(c),
                Some(_) => {}
            },
            '=' if quote.is_none() => {
                let key = &word[..i];
                let valid_key =
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                return valid_key.then(|| (key, &word[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

/// Parses `key=value` words. With `free_form`, only the free-form modules' own keys are taken
/// out and everything else becomes `_raw_params`, words kept as written.
pub fn parse_kv(args: &str, free_form: bool) -> Map<String, Value> {
    let mut options = Map::new();
    let mut raw = Vec::new();
    for word in split_args(args) {
        match kv_split(&word) {
            Some((key, value)) if !free_form || FREE_FORM_KEYS.contains(&key) => {
                options.insert(key.to_string(), Value::String(unquote(value).to_string()));
            }
            _ => raw.push(word),
        }
    }
    if !raw.is_empty() {
        options.insert("_raw_params".into(), Value::String(raw.join(" ")));
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_like_ansible() {
        assert_eq!(split_args("a=b c=\"d e\""), vec!["a=b", "c=\"d e\""]);
        assert_eq!(
            split_args("msg={{ a ~ ' ' ~ b }} x=1"),
            vec!["msg={{ a ~ ' ' ~ b }}", "x=1"]
        );
        assert_eq!(split_args("  "), Vec::<String>::new());
    }

    #[test]
    fn key_value_args() {
        let m = parse_kv("path=/tmp/x state=directory mode='0755'", false);
        assert_eq!(
            Value::Object(m),
            json!({"path": "/tmp/x", "state": "directory", "mode": "0755"})
        );
    }

    #[test]
    fn free_form_keeps_the_command() {
        let m = parse_kv("touch /tmp/a b=c creates=/tmp/a", true);
        assert_eq!(
            Value::Object(m),
            json!({"creates": "/tmp/a", "_raw_params": "touch /tmp/a b=c"})
        );
        let m = parse_kv("echo 'x y' \"z\"", true);
        assert_eq!(Value::Object(m), json!({"_raw_params": "echo 'x y' \"z\""}));
    }
}
