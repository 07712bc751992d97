//! The inventory error type: every failure names the file and position it came from.

use std::path::PathBuf;

/// Why an inventory could not be loaded or a host pattern could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A source file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Bad YAML or INI syntax, or a structure Ansible would reject. `line` and `col` are 1-based.
    #[error("{}:{line}:{col}: {message}", file.display())]
    Parse {
        file: PathBuf,
        line: u32,
        col: u32,
        message: String,
    },
    /// An `-i` argument that is neither an existing path nor a comma-separated host list.
    #[error("inventory source `{0}` does not exist (a host list needs a comma, e.g. `{0},`)")]
    NotFound(String),
    /// A host pattern that cannot be evaluated (bad regex, subscript past the end).
    #[error("host pattern `{pattern}`: {message}")]
    Pattern { pattern: String, message: String },
}

impl InventoryError {
    pub(crate) fn parse(
        file: impl Into<PathBuf>,
        line: u32,
        col: u32,
        message: impl Into<String>,
    ) -> InventoryError {
        InventoryError::Parse {
            file: file.into(),
            line,
            col,
            message: message.into(),
        }
    }

    pub(crate) fn at_span(
        file: impl Into<PathBuf>,
        span: tend_yaml::Span,
        message: impl Into<String>,
    ) -> InventoryError {
        InventoryError::parse(file, span.line, span.col, message)
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> InventoryError {
        InventoryError::Io {
            path: path.into(),
            source,
        }
    }
}
