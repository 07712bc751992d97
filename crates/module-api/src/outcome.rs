//! What a module reports: changed/failed/skipped, a message, diffs and return values.

use serde_json::{Map, Value};

/// The result of one module run on one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub msg: Option<String>,
    /// Shown under `--diff`.
    pub diffs: Vec<Diff>,
    /// Return values, visible through `register` (`stdout`, `rc`, `stat`, ...).
    pub values: Map<String, Value>,
    /// Facts the module sets on the host (`set_fact`): they become host variables.
    pub facts: Map<String, Value>,
    pub warnings: Vec<String>,
}

impl Outcome {
    pub fn ok() -> Self {
        Outcome::default()
    }

    pub fn changed() -> Self {
        Outcome {
            changed: true,
            ..Outcome::default()
        }
    }

    pub fn with_msg(mut self, msg: impl Into<String>) -> Self {
        self.msg = Some(msg.into());
        self
    }

    pub fn with_value(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.values.insert(key.to_string(), value.into());
        self
    }

    pub fn with_diff(mut self, diff: Diff) -> Self {
        self.diffs.push(diff);
        self
    }
}

/// A before/after pair shown as a unified diff under `--diff`. Attribute changes are given
/// as `key: value` lines, content changes as the file text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

impl Diff {
    /// A content diff for one path, headed like Ansible's (`before: /etc/x`).
    pub fn content(path: &str, before: impl Into<String>, after: impl Into<String>) -> Self {
        Diff {
            before_header: format!("before: {path}"),
            after_header: format!("after: {path}"),
            before: before.into(),
            after: after.into(),
        }
    }

    /// An attribute diff (`path`, `state`, `mode`, ...), one `key: value` per line.
    pub fn attributes(before: &[(&str, String)], after: &[(&str, String)]) -> Self {
        let lines = |pairs: &[(&str, String)]| {
            pairs
                .iter()
                .map(|(k, v)| format!("{k}: {v}\n"))
                .collect::<String>()
        };
        Diff {
            before_header: "before".to_string(),
            after_header: "after".to_string(),
            before: lines(before),
            after: lines(after),
        }
    }

    /// Text shown as it is under `--diff`, with no before/after: Ansible's `prepared` diff
    /// (apt's plan of what it installs and removes).
    pub fn prepared(text: impl Into<String>) -> Self {
        Diff {
            after: text.into(),
            ..Diff::default()
        }
    }

    /// Whether this is a [`Diff::prepared`] text rather than a before/after pair.
    pub fn is_prepared(&self) -> bool {
        self.before_header.is_empty() && self.after_header.is_empty() && self.before.is_empty()
    }
}
