//! YAML loading the way Ansible's loader (PyYAML, YAML 1.1) resolves it, with a source position on every node.
//!
//! `serde_yaml`-style crates resolve YAML 1.2 and forget where a value came from, so the playbook
//! compiler could neither load `yes` as a boolean nor point at the offending line. This crate
//! builds a [`Node`] tree from `saphyr-parser` events and applies PyYAML's implicit resolvers.
//!
//! What matches PyYAML's `SafeLoader` (and so Ansible's `AnsibleLoader`):
//! - plain scalars resolve with PyYAML's YAML 1.1 regular expressions, copied verbatim: `yes`/`On`
//!   are booleans, `0755` is octal, `1:30` is sexagesimal, `1e3` and `1.0e3` are strings (the
//!   float pattern wants a dot *and* a signed exponent), `0o755` is a string;
//! - quoted and block scalars are strings; `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`,
//!   `!!map`, `!!seq` are honoured; the non-specific `!` tag resolves implicitly even when quoted;
//! - anchors, aliases, merge keys (`<<`) and duplicate keys follow Python dict semantics;
//! - `!vault` (and the deprecated `!vault-encrypted`) scalars are Ansible Vault ciphertexts;
//! - PyYAML's load errors are load errors here too: a duplicate anchor, an unhashable (mapping
//!   or sequence) key, a plain `<<` or `=` outside a mapping key, `0x_`, `!!bool y`.
//!
//! Where it knowingly differs:
//! - integers outside `i64` become [`NodeKind::Float`] instead of Python's big integers;
//! - timestamps (`2001-12-14`) stay strings instead of `datetime` objects;
//! - `!!binary`, `!!set`, `!!omap`, `!!pairs` and unknown tags are not constructed: the node keeps
//!   its text or collection and [`Node::tag`] records the tag for the caller to judge;
//! - a recursive alias (`&a [*a]`) is an error, since a tree cannot hold a cycle;
//! - a `!vault` scalar is decrypted while loading, with the keyring the binary installed
//!   (`tend_vault::install`), and becomes a plain string; a value that cannot be decrypted is a
//!   load error at its position. Ansible decrypts on first use, so there a vaulted value that is
//!   never used needs no password;
//! - aliases are copied, so an expansion beyond [`MAX_ALIAS_NODES`] nodes is refused;
//! - nesting deeper than [`MAX_DEPTH`] is refused (PyYAML hits Python's recursion limit sooner);
//! - the syntax is parsed by saphyr's YAML 1.2 parser, which accepts a few things PyYAML
//!   rejects: an empty implicit key (`: v`), a tab before a block indicator or after a value.

mod compose;
mod json;
mod resolve;
#[cfg(test)]
mod tests;

use std::fmt;

/// Aliases are expanded by copying; past this many copied nodes in one load the input is treated
/// as an alias bomb and refused.
pub const MAX_ALIAS_NODES: usize = 1_000_000;

/// The deepest collection nesting a document may have.
pub const MAX_DEPTH: usize = 1000;

/// A position in a source text. `line` and `col` are 1-based, `offset` is a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub line: u32,
    pub col: u32,
    pub offset: usize,
}

impl Span {
    /// The start of a text: line 1, column 1.
    pub const START: Span = Span {
        line: 1,
        col: 1,
        offset: 0,
    };
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
    /// An explicit non-core tag such as `!unsafe`, without the leading `!` (`!vault` scalars are
    /// decrypted while loading and keep no tag).
    /// Global tags keep their full URI (`tag:yaml.org,2002:binary` for `!!binary`).
    pub tag: Option<String>,
}

/// The resolved value of a node. Mappings keep source order; a duplicate key keeps the
/// first key's position and the last value (as a Python dict does).
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    /// Also integers that do not fit an `i64` (PyYAML would give a Python big integer).
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl NodeKind {
    /// The kind with an article, for messages such as "expected a mapping, found a string".
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a float",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// An untagged node.
    pub fn new(kind: NodeKind, span: Span) -> Node {
        Node {
            kind,
            span,
            tag: None,
        }
    }

    /// The kind with an article, see [`NodeKind::type_name`].
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            NodeKind::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.kind {
            NodeKind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// A float, or an integer widened to one.
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind {
            NodeKind::Float(f) => Some(f),
            NodeKind::Int(i) => Some(i as f64),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// The value under a string key of a mapping. Loaded mappings hold each key once; for
    /// hand-built ones the last match wins, as it would in the dict Python builds.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The value as JSON, the way Ansible would see it after loading: non-string mapping keys
    /// become Python's `str()` of the key (`True`, `1`, `None`, `1.5`), floats stay floats even
    /// when integral, and NaN and infinities become the strings `nan`, `inf`, `-inf`.
    pub fn to_json(&self) -> serde_json::Value {
        json::to_json(self)
    }
}

/// A load failure with the place it happened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at line {} column {}", span.line, span.col)]
pub struct YamlError {
    pub message: String,
    pub span: Span,
    /// A `!vault` value that could not be decrypted, rather than bad YAML.
    vault: bool,
}

impl YamlError {
    pub(crate) fn new(message: impl Into<String>, span: Span) -> YamlError {
        YamlError {
            message: message.into(),
            span,
            vault: false,
        }
    }

    pub(crate) fn vault(message: impl Into<String>, span: Span) -> YamlError {
        YamlError {
            vault: true,
            ..YamlError::new(message, span)
        }
    }

    /// Whether a `!vault` value could not be decrypted (the YAML itself was fine).
    pub fn is_vault(&self) -> bool {
        self.vault
    }

    /// The message for a diagnostic: `malformed YAML: ...`, or the vault error as it is.
    pub fn headline(&self) -> String {
        if self.vault {
            self.message.clone()
        } else {
            format!("malformed YAML: {}", self.message)
        }
    }
}

/// Something Ansible warns about while loading but still accepts, such as a duplicate key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlWarning {
    pub message: String,
    /// Where the offending (later) item starts.
    pub span: Span,
}

impl fmt::Display for YamlWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.span.line, self.span.col
        )
    }
}

/// Loads every document of a stream. An empty stream has no documents.
pub fn load_str(src: &str) -> Result<Vec<Node>, YamlError> {
    load_str_with_warnings(src).map(|(docs, _)| docs)
}

/// Loads a stream that must hold at most one document, as Ansible's playbook loader requires.
/// An empty (or comment-only) text loads as a null node at 1:1; a second document is an
/// "expected a single document" error at the second document's start.
pub fn load_one(src: &str) -> Result<Node, YamlError> {
    load_one_with_warnings(src).map(|(node, _)| node)
}

/// [`load_str`], also returning what Ansible would warn about (duplicate mapping keys).
pub fn load_str_with_warnings(src: &str) -> Result<(Vec<Node>, Vec<YamlWarning>), YamlError> {
    let out = compose::compose(src, compose::Documents::Many)?;
    Ok((out.documents, out.warnings))
}

/// [`load_one`], also returning what Ansible would warn about (duplicate mapping keys).
pub fn load_one_with_warnings(src: &str) -> Result<(Node, Vec<YamlWarning>), YamlError> {
    let out = compose::compose(src, compose::Documents::One)?;
    let node = out
        .documents
        .into_iter()
        .next()
        .unwrap_or_else(|| Node::new(NodeKind::Null, Span::START));
    Ok((node, out.warnings))
}
