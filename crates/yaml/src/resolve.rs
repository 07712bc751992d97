//! Scalar resolution: PyYAML's YAML 1.1 implicit resolvers and `SafeConstructor` scalar constructors.
//!
//! The regular expressions are copied verbatim from PyYAML's `resolver.py` so that a plain
//! scalar resolves to the same type here as under Ansible. The constructors mirror
//! `SafeConstructor.construct_yaml_*`, including the places where PyYAML raises.

use std::sync::LazyLock;

use regex::Regex;

use crate::NodeKind;

/// The `tag:yaml.org,2002:` prefix that `!!` expands to.
pub(crate) const CORE_PREFIX: &str = "tag:yaml.org,2002:";

/// What an explicit tag asks for, after expanding `!!` and verbatim tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TagKind {
    /// No tag: plain scalars are resolved implicitly, quoted and block ones are strings.
    None,
    /// The non-specific `!` tag: PyYAML resolves these implicitly whatever the style.
    NonSpecific,
    /// A `tag:yaml.org,2002:` tag, by its suffix (`str`, `int`, ...).
    Core(String),
    /// Anything else, as it is stored in [`crate::Node::tag`].
    Other(String),
}

impl TagKind {
    pub(crate) fn from_parser(tag: Option<&saphyr_parser::Tag>) -> TagKind {
        let Some(tag) = tag else {
            return TagKind::None;
        };
        // saphyr reports the non-specific `!` as an empty handle with suffix `!`, a local
        // `!foo` as handle `!`, and a verbatim `!<...>` as an empty handle with the whole URI.
        if tag.handle.is_empty() && tag.suffix == "!" {
            return TagKind::NonSpecific;
        }
        let full = format!("{}{}", tag.handle, tag.suffix);
        if let Some(core) = full.strip_prefix(CORE_PREFIX) {
            return TagKind::Core(core.to_owned());
        }
        match full.strip_prefix('!') {
            Some(local) => TagKind::Other(local.to_owned()),
            None => TagKind::Other(full),
        }
    }
}

/// PyYAML's special plain scalars that only mean something as a mapping key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    /// `<<`, the merge key.
    Merge,
    /// `=`, YAML 1.1's default-value key, which PyYAML only constructs as a mapping key.
    Value,
}

/// The outcome of resolving one scalar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) kind: NodeKind,
    pub(crate) tag: Option<String>,
    pub(crate) special: Option<Special>,
}

impl Resolved {
    fn plain(kind: NodeKind) -> Resolved {
        Resolved {
            kind,
            tag: None,
            special: None,
        }
    }
}

/// Why a scalar could not be constructed; the caller attaches the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error("invalid {what} value {value:?}")]
    Invalid { what: &'static str, value: String },
    #[error("expected a {expected} node, but found a scalar (tag !!{tag})")]
    CollectionTag { expected: &'static str, tag: String },
}

/// Compiles a constant pattern in verbose mode. A failure is a programming error that the
/// unit tests catch; returning `None` keeps library code panic-free.
fn verbose(pattern: &str) -> Option<Regex> {
    Regex::new(&format!("(?x){pattern}")).ok()
}

/// Python's `re.match(r'^...$', text)`: `$` also matches before one final newline, which only
/// matters for `!`-tagged quoted or block scalars.
fn py_match(re: &LazyLock<Option<Regex>>, text: &str) -> bool {
    let probe = text.strip_suffix('\n').unwrap_or(text);
    re.as_ref().is_some_and(|re| re.is_match(probe))
}

static BOOL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    verbose(
        r"^(?:yes|Yes|YES|no|No|NO
            |true|True|TRUE|false|False|FALSE
            |on|On|ON|off|Off|OFF)$",
    )
});

static FLOAT_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    verbose(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
            |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
            |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$",
    )
});

static INT_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    verbose(
        r"^(?:[-+]?0b[0-1_]+
            |[-+]?0[0-7_]+
            |[-+]?(?:0|[1-9][0-9_]*)
            |[-+]?0x[0-9a-fA-F_]+
            |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    )
});

static NULL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    verbose(
        r"^(?: ~
            |null|Null|NULL
            | )$",
    )
});

static TIMESTAMP_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    verbose(
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
            |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
             (?:[Tt]|[\ \t]+)[0-9][0-9]?
             :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
             (?:[\ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
    )
});

/// The implicit tag PyYAML's `Resolver.resolve` picks for an untagged plain scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Implicit {
    Bool,
    Float,
    Int,
    Merge,
    Null,
    Timestamp,
    Value,
    Str,
}

/// Picks the implicit tag. PyYAML dispatches on the first character, but every pattern can
/// only match strings starting with one of its registered characters and no two patterns
/// overlap, so trying them in registration order gives the same answer.
pub(crate) fn implicit_tag(value: &str) -> Implicit {
    let bare = value.strip_suffix('\n').unwrap_or(value);
    if bare.is_empty() && !value.is_empty() {
        // PyYAML picks resolvers by the first character; none is registered for a newline.
        Implicit::Str
    } else if py_match(&BOOL_RE, value) {
        Implicit::Bool
    } else if py_match(&FLOAT_RE, value) {
        Implicit::Float
    } else if py_match(&INT_RE, value) {
        Implicit::Int
    } else if bare == "<<" {
        Implicit::Merge
    } else if py_match(&NULL_RE, value) {
        Implicit::Null
    } else if py_match(&TIMESTAMP_RE, value) {
        Implicit::Timestamp
    } else if bare == "=" {
        Implicit::Value
    } else {
        Implicit::Str
    }
}

/// Resolves a scalar the way PyYAML's composer and `SafeConstructor` together would.
///
/// `implicit` is true for untagged plain scalars and for anything tagged with the
/// non-specific `!` (PyYAML resolves `! "42"` to an integer, quoted or not).
pub(crate) fn resolve_scalar(
    value: &str,
    plain: bool,
    tag: &TagKind,
) -> Result<Resolved, ResolveError> {
    match tag {
        TagKind::None if !plain => Ok(Resolved::plain(NodeKind::Str(value.to_owned()))),
        TagKind::None | TagKind::NonSpecific => resolve_implicit(value),
        TagKind::Core(core) => resolve_core(value, core),
        TagKind::Other(other) => Ok(Resolved {
            kind: NodeKind::Str(value.to_owned()),
            tag: Some(other.clone()),
            special: None,
        }),
    }
}

/// Resolution for an untagged plain scalar or a `!`-tagged one.
pub(crate) fn resolve_implicit(value: &str) -> Result<Resolved, ResolveError> {
    let kind = match implicit_tag(value) {
        Implicit::Bool => construct_bool(value)?,
        Implicit::Float => construct_float(value)?,
        Implicit::Int => construct_int(value)?,
        Implicit::Null => NodeKind::Null,
        // PyYAML builds a `datetime`; nothing downstream can tell a date-only timestamp from
        // its text, so it stays a string (see the crate docs).
        Implicit::Timestamp | Implicit::Str => NodeKind::Str(value.to_owned()),
        Implicit::Merge => {
            return Ok(Resolved {
                kind: NodeKind::Str(value.to_owned()),
                tag: None,
                special: Some(Special::Merge),
            })
        }
        Implicit::Value => {
            return Ok(Resolved {
                kind: NodeKind::Str(value.to_owned()),
                tag: None,
                special: Some(Special::Value),
            })
        }
    };
    Ok(Resolved::plain(kind))
}

fn resolve_core(value: &str, core: &str) -> Result<Resolved, ResolveError> {
    let kind = match core {
        "str" => NodeKind::Str(value.to_owned()),
        "int" => construct_int(value)?,
        "float" => construct_float(value)?,
        "bool" => construct_bool(value)?,
        "null" => NodeKind::Null,
        "merge" => {
            return Ok(Resolved {
                kind: NodeKind::Str(value.to_owned()),
                tag: None,
                special: Some(Special::Merge),
            })
        }
        "value" => {
            return Ok(Resolved {
                kind: NodeKind::Str(value.to_owned()),
                tag: None,
                special: Some(Special::Value),
            })
        }
        "map" | "omap" | "pairs" | "set" => {
            return Err(ResolveError::CollectionTag {
                expected: if core == "map" || core == "set" {
                    "mapping"
                } else {
                    "sequence"
                },
                tag: core.to_owned(),
            })
        }
        "seq" => {
            return Err(ResolveError::CollectionTag {
                expected: "sequence",
                tag: core.to_owned(),
            })
        }
        // `!!binary`, `!!timestamp` and unknown core tags: kept as text with the full tag so
        // a caller can still tell them apart.
        other => {
            return Ok(Resolved {
                kind: NodeKind::Str(value.to_owned()),
                tag: Some(format!("{CORE_PREFIX}{other}")),
                special: None,
            })
        }
    };
    Ok(Resolved::plain(kind))
}

/// `SafeConstructor.construct_yaml_bool`: a lookup of the lower-cased text.
pub(crate) fn construct_bool(value: &str) -> Result<NodeKind, ResolveError> {
    match value.to_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(NodeKind::Bool(true)),
        "no" | "false" | "off" => Ok(NodeKind::Bool(false)),
        _ => Err(ResolveError::Invalid {
            what: "boolean",
            value: value.to_owned(),
        }),
    }
}

/// An integer that may have outgrown `i64`; PyYAML has arbitrary precision, we fall back to
/// a float rather than failing.
#[derive(Debug, Clone, Copy)]
struct BigInt {
    exact: Option<i128>,
    approx: f64,
}

impl BigInt {
    const ZERO: BigInt = BigInt {
        exact: Some(0),
        approx: 0.0,
    };

    fn mul_add(self, base: u32, digit: u32) -> BigInt {
        BigInt {
            exact: self
                .exact
                .and_then(|v| v.checked_mul(i128::from(base)))
                .and_then(|v| v.checked_add(i128::from(digit))),
            approx: self.approx * f64::from(base) + f64::from(digit),
        }
    }

    fn add(self, other: BigInt) -> BigInt {
        BigInt {
            exact: self
                .exact
                .zip(other.exact)
                .and_then(|(a, b)| a.checked_add(b)),
            approx: self.approx + other.approx,
        }
    }

    fn scale(self, factor: u64) -> BigInt {
        BigInt {
            exact: self.exact.and_then(|v| v.checked_mul(i128::from(factor))),
            approx: self.approx * factor as f64,
        }
    }

    fn into_kind(self, negative: bool) -> NodeKind {
        match self.exact.map(|v| if negative { -v } else { v }) {
            Some(v) => match i64::try_from(v) {
                Ok(v) => NodeKind::Int(v),
                // `as` rounds to nearest, so this is the closest float to the exact value.
                Err(_) => NodeKind::Float(v as f64),
            },
            None => NodeKind::Float(if negative { -self.approx } else { self.approx }),
        }
    }
}

/// Python's `int(text, base)` for the texts PyYAML hands it: surrounding whitespace, an
/// optional sign and the base's own prefix are accepted.
fn py_int(text: &str, base: u32) -> Option<(bool, BigInt)> {
    let text = text.trim();
    let (negative, text) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let prefix = match base {
        2 => Some(["0b", "0B"]),
        8 => Some(["0o", "0O"]),
        16 => Some(["0x", "0X"]),
        _ => None,
    };
    let text = prefix
        .and_then(|p| p.iter().find_map(|p| text.strip_prefix(p)))
        .unwrap_or(text);
    if text.is_empty() {
        return None;
    }
    let mut acc = BigInt::ZERO;
    for c in text.chars() {
        acc = acc.mul_add(base, c.to_digit(base)?);
    }
    if base == 10 && acc.exact.is_none() {
        // Digit-by-digit accumulation rounds at every step; the float parser rounds once.
        acc.approx = text.parse().unwrap_or(acc.approx);
    }
    Some((negative, acc))
}

/// `SafeConstructor.construct_yaml_int`, step for step.
pub(crate) fn construct_int(value: &str) -> Result<NodeKind, ResolveError> {
    let invalid = || ResolveError::Invalid {
        what: "integer",
        value: value.to_owned(),
    };
    let cleaned = value.replace('_', "");
    let (negative, rest) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        Some(_) => (false, cleaned.as_str()),
        None => return Err(invalid()),
    };
    if rest == "0" {
        return Ok(NodeKind::Int(0));
    }
    let (inner_negative, magnitude) = if let Some(bin) = rest.strip_prefix("0b") {
        py_int(bin, 2).ok_or_else(invalid)?
    } else if let Some(hex) = rest.strip_prefix("0x") {
        py_int(hex, 16).ok_or_else(invalid)?
    } else if rest.starts_with('0') {
        py_int(rest, 8).ok_or_else(invalid)?
    } else if rest.contains(':') {
        let mut total = BigInt::ZERO;
        let mut factor: u64 = 1;
        for part in rest.rsplit(':') {
            let (part_negative, digits) = py_int(part, 10).ok_or_else(invalid)?;
            if part_negative {
                // A negative digit only appears in an explicit `!!int` text; PyYAML would
                // subtract it, which no real document relies on.
                return Err(invalid());
            }
            total = total.add(digits.scale(factor));
            factor = factor.checked_mul(60).ok_or_else(invalid)?;
        }
        (false, total)
    } else {
        py_int(rest, 10).ok_or_else(invalid)?
    };
    Ok(magnitude.into_kind(negative != inner_negative))
}

/// Python's `float(text)`: Rust's parser accepts the same spellings (`1.`, `.5`, `inf`,
/// `nan`, an optional sign) once surrounding whitespace is gone.
fn py_float(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

/// `SafeConstructor.construct_yaml_float`, step for step.
pub(crate) fn construct_float(value: &str) -> Result<NodeKind, ResolveError> {
    let invalid = || ResolveError::Invalid {
        what: "float",
        value: value.to_owned(),
    };
    let cleaned = value.replace('_', "").to_lowercase();
    let (sign, rest) = match cleaned.as_bytes().first() {
        Some(b'-') => (-1.0, &cleaned[1..]),
        Some(b'+') => (1.0, &cleaned[1..]),
        Some(_) => (1.0, cleaned.as_str()),
        None => return Err(invalid()),
    };
    let magnitude = if rest == ".inf" {
        f64::INFINITY
    } else if rest == ".nan" {
        // PyYAML ignores the sign of `.nan`.
        return Ok(NodeKind::Float(f64::NAN));
    } else if rest.contains(':') {
        let mut total = 0.0;
        let mut base = 1.0;
        for part in rest.rsplit(':') {
            total += py_float(part).ok_or_else(invalid)? * base;
            base *= 60.0;
        }
        total
    } else {
        py_float(rest).ok_or_else(invalid)?
    };
    Ok(NodeKind::Float(sign * magnitude))
}
