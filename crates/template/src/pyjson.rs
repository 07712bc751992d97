//! JSON text as Python's `json.dumps` writes it (`to_json`, `to_nice_json`).
//!
//! Python's defaults differ from serde_json's: `", "`/`": "` separators, `\uXXXX` escapes for
//! non-ASCII text (`ensure_ascii`), floats as `repr()` (`1e+16`), and `indent` putting each item
//! on its own line. Ansible users diff these outputs, so they are reproduced exactly.

use serde_json::Value as Json;

use crate::pyfmt::float_repr;

#[derive(Debug, Clone)]
pub struct JsonOptions {
    /// `None`: one line. `Some(n)`: items on their own lines, indented by n spaces per level.
    pub indent: Option<String>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    pub item_separator: String,
    pub key_separator: String,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            indent: None,
            sort_keys: false,
            ensure_ascii: true,
            item_separator: ", ".into(),
            key_separator: ": ".into(),
        }
    }
}

impl JsonOptions {
    /// Python switches the default item separator to `","` when an indent is given.
    pub fn with_indent(mut self, indent: Option<String>) -> Self {
        if indent.is_some() && self.item_separator == ", " {
            self.item_separator = ",".into();
        }
        self.indent = indent;
        self
    }
}

pub fn dumps(value: &Json, opts: &JsonOptions) -> String {
    let mut out = String::new();
    write_value(&mut out, value, opts, 0);
    out
}

fn newline(out: &mut String, opts: &JsonOptions, level: usize) {
    if let Some(indent) = &opts.indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(indent);
        }
    }
}

fn write_value(out: &mut String, value: &Json, opts: &JsonOptions, level: usize) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(f64::NAN);
                out.push_str(&match float_repr(f).as_str() {
                    "nan" => "NaN".to_string(),
                    "inf" => "Infinity".to_string(),
                    "-inf" => "-Infinity".to_string(),
                    other => other.to_string(),
                });
            } else {
                out.push_str(&n.to_string());
            }
        }
        Json::String(s) => write_string(out, s, opts.ensure_ascii),
        Json::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (idx, item) in items.iter().enumerate() {
                if idx > 0 {
                    out.push_str(&opts.item_separator);
                }
                newline(out, opts, level + 1);
                write_value(out, item, opts, level + 1);
            }
            newline(out, opts, level);
            out.push(']');
        }
        Json::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            if opts.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (idx, (key, item)) in entries.into_iter().enumerate() {
                if idx > 0 {
                    out.push_str(&opts.item_separator);
                }
                newline(out, opts, level + 1);
                write_string(out, key, opts.ensure_ascii);
                out.push_str(&opts.key_separator);
                write_value(out, item, opts, level + 1);
            }
            newline(out, opts, level);
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_matches_python() {
        let v = json!({"a": "é", "b": [1.0, 2.5e20, null, true]});
        assert_eq!(
            dumps(&v, &JsonOptions::default()),
            r#"{"a": "\u00e9", "b": [1.0, 2.5e+20, null, true]}"#
        );
    }

    #[test]
    fn nice_matches_python() {
        let v = json!({"b": 1, "a": {"z": [], "y": {}}});
        let opts = JsonOptions {
            sort_keys: true,
            ..JsonOptions::default()
        }
        .with_indent(Some("    ".into()));
        assert_eq!(
            dumps(&v, &opts),
            "{\n    \"a\": {\n        \"y\": {},\n        \"z\": []\n    },\n    \"b\": 1\n}"
        );
    }

    #[test]
    fn astral_chars_use_surrogate_pairs() {
        assert_eq!(
            dumps(&json!("😀"), &JsonOptions::default()),
            "\"\\ud83d\\ude00\""
        );
    }
}
