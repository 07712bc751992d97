//! YAML loading the way Ansible's loader (PyYAML, YAML 1.1) resolves it, with a source position on every node.
//!
//! `serde_yaml`-style crates resolve YAML 1.2 and forget where a value came from, so the playbook
//! compiler could neither load `yes` as a boolean nor point at the offending line. This crate
//! builds a [`Node`] tree from `saphyr-parser` events and applies PyYAML's implicit resolvers.

use std::fmt;

/// A position in a source text. `line` and `col` are 1-based, `offset` is a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub line: u32,
    pub col: u32,
    pub offset: usize,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One YAML node with where it started in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// An explicit non-core tag such as `!unsafe` or `!vault`, without the leading `!`.
    pub tag: Option<String>,
}

/// The resolved value of a node. Mappings keep source order; a duplicate key keeps the
/// first key's position and the last value (as a Python dict does).
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A load failure with the place it happened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at line {} column {}", span.line, span.col)]
pub struct YamlError {
    pub message: String,
    pub span: Span,
}
