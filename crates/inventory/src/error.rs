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
    /// Shown as a diagnostic: `file:line:col`, the source line (when known) and a caret.
    #[error("{}", parse_diagnostic(file, *line, *col, message, source_line.as_deref()))]
    Parse {
        file: PathBuf,
        line: u32,
        col: u32,
        message: String,
        /// The text of line `line`, filled in by whoever holds the file's text.
        source_line: Option<String>,
    },
    /// An `-i` argument that is neither an existing path nor a comma-separated host list.
    #[error("inventory source `{0}` does not exist (a host list needs a comma, e.g. `{0},`)")]
    NotFound(String),
    /// A host pattern that cannot be evaluated (bad regex, subscript past the end).
    #[error("host pattern `{pattern}`: {message}")]
    Pattern { pattern: String, message: String },
    /// An inventory script that could not be started: a `#!` file without the executable
    /// bit, a missing interpreter, a `noexec` mount, ...
    #[error("inventory script {}: cannot run it: {reason}", path.display())]
    ScriptNotRunnable { path: PathBuf, reason: String },
    /// An inventory script that exited unsuccessfully. `command` is the script with its
    /// arguments (`--list` or `--host <name>`); `stderr` is its trimmed error output.
    #[error(
        "inventory script `{command}` failed ({status}){}",
        stderr_suffix(stderr)
    )]
    ScriptFailed {
        path: PathBuf,
        command: String,
        status: String,
        stderr: String,
    },
    /// An inventory script whose output is not JSON. `line` and `col` are serde_json's
    /// position in the output (1-based line; column 0 when the output ended early).
    #[error(
        "inventory script `{command}` printed invalid JSON at line {line}, column {col}: {message}"
    )]
    ScriptJson {
        path: PathBuf,
        command: String,
        line: usize,
        col: usize,
        message: String,
    },
    /// An inventory script whose JSON does not have the shape of an inventory. `key` is the
    /// offending place in the output, such as `web.hosts` or `_meta.hostvars.web1` (empty
    /// for the output as a whole).
    #[error("inventory script `{command}`: {}{message}", key_prefix(key))]
    ScriptShape {
        path: PathBuf,
        command: String,
        key: String,
        message: String,
    },
}

fn parse_diagnostic(
    file: &std::path::Path,
    line: u32,
    col: u32,
    message: &str,
    source_line: Option<&str>,
) -> tend_diag::Diagnostic {
    let mut d = tend_diag::Diagnostic::new(message, file, line, col);
    d.source_line = source_line.map(str::to_string);
    d
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("`{key}`: ")
    }
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
            source_line: None,
        }
    }

    /// Fills in the offending line of a parse error from the text of its file.
    pub(crate) fn with_source(mut self, text: &str) -> InventoryError {
        if let InventoryError::Parse {
            line,
            source_line: source_line @ None,
            ..
        } = &mut self
        {
            if *line > 0 {
                *source_line = text.lines().nth(*line as usize - 1).map(str::to_string);
            }
        }
        self
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
