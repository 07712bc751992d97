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

/// Ansible's `split_args`: splits on spaces and newlines, keeping quoted text and
/// `{{ }}`/`{% %}`/`{# #}` blocks together. Whitespace is kept where [`join_args`] needs it to
/// rebuild the original text: a run of spaces stays on the word before it, and a newline
/// ends the word before it (`\` at the end of a line joins it with the next, outside quotes).
pub fn split_args(args: &str) -> Vec<String> {
    let mut params: Vec<String> = Vec::new();
    if args.is_empty() {
        return params;
    }
    let items: Vec<&str> = args.split('\n').collect();
    let mut quote_char: Option<char> = None;
    let (mut print_depth, mut block_depth, mut comment_depth) = (0usize, 0usize, 0usize);
    for (item_idx, item) in items.iter().enumerate() {
        let mut line_continuation = false;
        for (idx, token) in item.split(' ').enumerate() {
            if token.is_empty() && idx != 0 {
                match params.last_mut() {
                    Some(last) => last.push(' '),
                    None => params.push(" ".into()),
                }
                continue;
            }
            let inside_before = quote_char.is_some();
            if token == "\\" && !inside_before {
                line_continuation = true;
                continue;
            }
            quote_char = quote_state(token, quote_char);
            let inside = quote_char.is_some();
            let in_block = print_depth > 0 || block_depth > 0 || comment_depth > 0;
            let mut appended = false;
            if inside && !inside_before && !in_block {
                params.push(token.to_string());
                appended = true;
            } else if in_block || inside || inside_before {
                let spacer = if idx > 0 && !(idx == 0 && inside_before) {
                    " "
                } else {
                    ""
                };
                match params.last_mut() {
                    Some(last) => {
                        last.push_str(spacer);
                        last.push_str(token);
                    }
                    None => params.push(token.to_string()),
                }
                appended = true;
            }
            for (depth, open, close) in [
                (&mut print_depth, "{{", "}}"),
                (&mut block_depth, "{%", "%}"),
                (&mut comment_depth, "{#", "#}"),
            ] {
                let before = *depth;
                *depth = jinja_depth(token, before, open, close);
                if *depth != before && !appended {
                    params.push(token.to_string());
                    appended = true;
                }
            }
            let in_block = print_depth > 0 || block_depth > 0 || comment_depth > 0;
            if !in_block && !inside && !appended && !token.is_empty() {
                params.push(token.to_string());
            }
        }
        if items.len() > 1 && item_idx != items.len() - 1 && !line_continuation {
            match params.last_mut() {
                Some(last) => last.push('\n'),
                None => params.push("\n".into()),
            }
        }
    }
    params
}

/// Ansible's `_get_quote_state`: the quote still open after `token`.
fn quote_state(token: &str, mut quote_char: Option<char>) -> Option<char> {
    let mut prev: Option<char> = None;
    for c in token.chars() {
        if (c == '"' || c == '\'') && prev != Some('\\') {
            match quote_char {
                Some(q) if q == c => quote_char = None,
                Some(_) => {}
                None => quote_char = Some(c),
            }
        }
        prev = Some(c);
    }
    quote_char
}

/// Ansible's `_count_jinja2_blocks`.
fn jinja_depth(token: &str, depth: usize, open: &str, close: &str) -> usize {
    let opened = token.matches(open).count();
    let closed = token.matches(close).count();
    (depth + opened).saturating_sub(closed)
}

/// Ansible's `join_args`: the words of [`split_args`] back into the original text.
pub fn join_args(words: &[String]) -> String {
    let mut result = String::new();
    for word in words {
        if !result.is_empty() && !result.ends_with('\n') {
            result.push(' ');
        }
        result.push_str(word);
    }
    result
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
        match kv_split(word.trim()) {
            Some((key, value)) if !free_form || FREE_FORM_KEYS.contains(&key) => {
                options.insert(
                    key.to_string(),
                    Value::String(unquote(value.trim()).to_string()),
                );
            }
            _ => raw.push(word),
        }
    }
    if !raw.is_empty() {
        options.insert("_raw_params".into(), Value::String(join_args(&raw)));
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
        // Runs of spaces stay with the word before them, as in Ansible.
        assert_eq!(split_args("  "), vec!["  "]);
        assert_eq!(split_args("a  b"), vec!["a ", "b"]);
        assert_eq!(split_args(""), Vec::<String>::new());
    }

    #[test]
    fn newlines_and_spacing_survive_a_round_trip() {
        for text in [
            "echo one > f\necho two >> f\n",
            "echo 'a  b'\n  indented \"x\n y\"\n",
            "printf '%s\\n' {{ items | join(' ') }}\nls",
            "a  b   c",
        ] {
            assert_eq!(join_args(&split_args(text)), text, "{text:?}");
        }
        // A backslash alone at the end of a line joins it with the next one.
        assert_eq!(join_args(&split_args("echo a \\\nb")), "echo a b");
        let m = parse_kv("echo one > f\necho two creates=/x\n", true);
        assert_eq!(m["_raw_params"], "echo one > f\necho two");
        assert_eq!(m["creates"], "/x");
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
