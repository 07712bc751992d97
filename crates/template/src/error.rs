//! `TemplateError` and the translation of minijinja errors into it, naming undefined variables.

use minijinja::ErrorKind;
use serde_json::Value as Json;

/// Why templating failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// An undefined variable or attribute was used. `name` is the expression path (`foo.bar`),
    /// `detail` Ansible's wording (`'foo' is undefined`, `object of type 'dict' has no attribute 'bar'`).
    #[error("{}", undefined_message(.name, .detail))]
    Undefined { name: String, detail: String },
    /// The template or expression does not parse; the position is 1-based inside the template text.
    #[error("template syntax error: {message}{}", position(.line, .col))]
    Syntax {
        message: String,
        line: Option<u32>,
        col: Option<u32>,
    },
    /// Any other failure while rendering (a filter's error, a type error, ...).
    #[error("{message}")]
    Render { message: String },
    /// A conditional (`when:` and friends) gave something other than a boolean (ansible-core 2.19 rule).
    #[error(
        "Conditional result of '{expr}' was of type '{type_name}' ({value}). Conditionals must have a boolean result."
    )]
    NotBoolean {
        expr: String,
        type_name: String,
        value: String,
    },
    /// A lookup plugin (`lookup()`, `query()`, a `with_<name>` loop) failed; `message` is the
    /// plugin's own reason.
    #[error("The lookup plugin '{plugin}' failed: {message}")]
    LookupFailed { plugin: String, message: String },
    /// `lookup()`/`query()` named a plugin tend does not provide.
    #[error("The lookup plugin '{name}' was not found.")]
    UnknownLookup { name: String },
}

fn undefined_message(name: &str, detail: &str) -> String {
    if detail.contains(&format!("'{name}'")) {
        detail.to_string()
    } else {
        format!("{detail} ('{name}' is undefined)")
    }
}

fn position(line: &Option<u32>, col: &Option<u32>) -> String {
    match (line, col) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

/// What the failing code was rendering, to turn a minijinja error into a precise one.
pub(crate) struct ErrorContext<'a> {
    /// Text inserted by the source rewrites (position, length), which error positions skip.
    pub inserted: &'a [(usize, usize)],
    /// Byte offset of `source` inside the user's text, for positions (wrapping `{{ }}` shifts them).
    pub offset: usize,
    /// The text as the user wrote it.
    pub user_text: &'a str,
    pub vars: &'a Json,
    /// Names the compiled unit leaves undeclared (nested paths), used when minijinja cannot name
    /// the undefined value itself.
    pub undeclared: Option<Vec<String>>,
    /// Whether line numbers are worth reporting in render errors (multi-line template files).
    pub report_line: bool,
}

pub(crate) fn convert(err: minijinja::Error, ctx: &ErrorContext<'_>) -> TemplateError {
    if err.kind() == ErrorKind::SyntaxError {
        return syntax_error(&err, ctx);
    }
    // Functions such as `lookup()` fail with an already precise error, carried as the source.
    if let Some(carried) = carried_error(&err) {
        return carried;
    }
    if let Some(message) = unknown_name_message(&err) {
        return TemplateError::Syntax {
            message,
            line: err
                .line()
                .filter(|_| ctx.report_line)
                .map(|l| u32::try_from(l).unwrap_or(u32::MAX)),
            col: None,
        };
    }
    let detail = err.detail().unwrap_or_default().to_string();
    if let Some(name) = backticked_undefined(&detail) {
        return undefined_for(&name, ctx.vars);
    }
    if err.kind() == ErrorKind::UndefinedError {
        if let Some(name) = first_missing(ctx) {
            return undefined_for(&name, ctx.vars);
        }
        return TemplateError::Undefined {
            name: String::new(),
            detail: if detail.is_empty() {
                "undefined value".into()
            } else {
                detail
            },
        };
    }
    TemplateError::Render {
        message: render_message(&err, ctx),
    }
}

/// Wraps a [`TemplateError`] so that it survives the trip through minijinja (as the source of
/// the error a function returns) and comes out of [`convert`] unchanged.
pub(crate) fn carry(error: TemplateError) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, error.to_string()).with_source(error)
}

fn carried_error(err: &minijinja::Error) -> Option<TemplateError> {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(found) = cause.downcast_ref::<TemplateError>() {
            return Some(found.clone());
        }
        source = cause.source();
    }
    None
}

/// Jinja2 rejects unknown filters and tests when compiling, with this wording; minijinja only
/// notices when it reaches them.
fn unknown_name_message(err: &minijinja::Error) -> Option<String> {
    let kind = match err.kind() {
        ErrorKind::UnknownFilter => "filter",
        ErrorKind::UnknownTest => "test",
        _ => return None,
    };
    let detail = err.detail().unwrap_or_default();
    let name = detail
        .strip_prefix(&format!("{kind} "))
        .and_then(|rest| rest.strip_suffix(" is unknown"))?;
    Some(format!("No {kind} named '{name}'."))
}

fn render_message(err: &minijinja::Error, ctx: &ErrorContext<'_>) -> String {
    let mut message = match (err.kind(), err.detail()) {
        // Our own filters report with this kind and a complete Ansible-style sentence.
        (ErrorKind::InvalidOperation, Some(detail)) => detail.to_string(),
        (kind, Some(detail)) => format!("{kind}: {detail}"),
        (kind, None) => kind.to_string(),
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if ctx.report_line {
        if let Some(line) = err.line() {
            message.push_str(&format!(" (line {line})"));
        }
    }
    message
}

fn syntax_error(err: &minijinja::Error, ctx: &ErrorContext<'_>) -> TemplateError {
    let message = err.detail().unwrap_or("syntax error").to_string();
    let (line, col) = match err.range() {
        Some(range) => {
            let start = crate::rewrite::Rewrite::original_offset(ctx.inserted, range.start);
            line_col(ctx.user_text, ctx.offset + start)
        }
        None => match err.line() {
            Some(line) => (Some(u32::try_from(line).unwrap_or(u32::MAX)), None::<u32>),
            None => (None, None),
        },
    };
    TemplateError::Syntax { message, line, col }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (Option<u32>, Option<u32>) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (
        Some(u32::try_from(line).unwrap_or(u32::MAX)),
        Some(u32::try_from(col).unwrap_or(u32::MAX)),
    )
}

/// minijinja (debug mode) words undefined errors as "... `foo.bar` is undefined ...".
fn backticked_undefined(detail: &str) -> Option<String> {
    let end = detail.find("` is undefined")?;
    let start = detail.get(..end)?.rfind('`')?;
    let name = detail.get(start + 1..end)?;
    if name.is_empty() || name.contains("(...)") {
        return None;
    }
    Some(name.to_string())
}

/// Fallback naming: the first undeclared variable path that the variables cannot resolve.
fn first_missing(ctx: &ErrorContext<'_>) -> Option<String> {
    let mut names = ctx.undeclared.clone()?;
    names.sort();
    names
        .into_iter()
        .find(|name| matches!(resolve(name, ctx.vars), Resolution::Missing { .. }))
}

/// Builds the Undefined error for an expression path, with Ansible's wording for the part that is missing.
pub(crate) fn undefined_for(name: &str, vars: &Json) -> TemplateError {
    let detail = match resolve(name, vars) {
        Resolution::Missing { parent: None, key } => format!("'{key}' is undefined"),
        Resolution::Missing {
            parent: Some(type_name),
            key,
        } => format!("object of type '{type_name}' has no attribute {key}"),
        Resolution::Unknown => format!("'{name}' is undefined"),
    };
    TemplateError::Undefined {
        name: name.to_string(),
        detail,
    }
}

enum Resolution {
    /// `parent` is the Python type name of the value lacking `key`; `None` for a top-level variable.
    Missing {
        parent: Option<&'static str>,
        key: String,
    },
    /// The path resolves (the undefined value came from a local such as a loop variable) or
    /// cannot be followed.
    Unknown,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(i64),
}

fn resolve(path: &str, vars: &Json) -> Resolution {
    let Some(segments) = parse_path(path) else {
        return Resolution::Unknown;
    };
    let mut current = vars;
    for (idx, segment) in segments.iter().enumerate() {
        let next = match (current, segment) {
            (Json::Object(map), Segment::Key(key)) => map.get(key),
            (Json::Array(items), Segment::Index(i)) => {
                let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                let i = if *i < 0 { len + i } else { *i };
                usize::try_from(i).ok().and_then(|i| items.get(i))
            }
            _ => None,
        };
        match next {
            Some(value) => current = value,
            None if idx == 0 => {
                return match segment {
                    Segment::Key(key) if segments.len() == 1 => Resolution::Missing {
                        parent: None,
                        key: key.clone(),
                    },
                    // A dotted path whose root is not a variable: the root is a local
                    // (loop variable, `set`), so only minijinja knew its value.
                    _ => Resolution::Unknown,
                };
            }
            None => {
                return Resolution::Missing {
                    parent: Some(json_type_name(current)),
                    key: match segment {
                        Segment::Key(key) => format!("'{key}'"),
                        Segment::Index(i) => i.to_string(),
                    },
                }
            }
        }
    }
    Resolution::Unknown
}

fn json_type_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "NoneType",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_f64() => "float",
        Json::Number(_) => "int",
        Json::String(_) => "str",
        Json::Array(_) => "list",
        Json::Object(_) => "dict",
    }
}

/// Parses `foo.bar["baz"][0]` (minijinja's rendering of an expression path).
fn parse_path(path: &str) -> Option<Vec<Segment>> {
    let mut segments = Vec::new();
    let mut rest = path;
    let mut first = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            let inner = after.get(..close)?;
            segments.push(parse_subscript(inner)?);
            rest = after.get(close + 1..)?;
        } else {
            let body = if first { rest } else { rest.strip_prefix('.')? };
            let end = body.find(['.', '[']).unwrap_or(body.len());
            let ident = body.get(..end)?;
            if ident.is_empty() {
                return None;
            }
            segments.push(Segment::Key(ident.to_string()));
            rest = body.get(end..)?;
        }
        first = false;
    }
    Some(segments)
}

fn parse_subscript(inner: &str) -> Option<Segment> {
    if let Ok(i) = inner.parse::<i64>() {
        return Some(Segment::Index(i));
    }
    let unquoted = inner
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))?;
    Some(Segment::Key(unquoted.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse() {
        assert_eq!(
            parse_path("foo.bar[\"baz\"][0]"),
            Some(vec![
                Segment::Key("foo".into()),
                Segment::Key("bar".into()),
                Segment::Key("baz".into()),
                Segment::Index(0),
            ])
        );
        assert_eq!(parse_path("(...).x"), None);
    }

    #[test]
    fn undefined_wording_follows_ansible() {
        let vars = json!({"foo": {"a": 1}, "l": [1]});
        assert_eq!(
            undefined_for("x", &vars).to_string(),
            "'x' is undefined".to_string()
        );
        assert_eq!(
            undefined_for("foo.bar", &vars).to_string(),
            "object of type 'dict' has no attribute 'bar' ('foo.bar' is undefined)".to_string()
        );
        assert_eq!(
            undefined_for("l[3]", &vars).to_string(),
            "object of type 'list' has no attribute 3 ('l[3]' is undefined)".to_string()
        );
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_col("ab\ncd", 4), (Some(2), Some(2)));
        assert_eq!(line_col("ab", 0), (Some(1), Some(1)));
    }
}
