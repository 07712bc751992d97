//! Ansible's filters (core, mathstuff, hashing) and Jinja2 builtins whose minijinja versions differ from Python's.
//!
//! Each filter follows the ansible-core 2.19 implementation it is named after; arguments may be
//! given positionally or by keyword, with Ansible's parameter names.

use base64::Engine;
use minijinja::value::{Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State};
use regex::Regex;
use serde_json::{Map, Value as Json};
use sha1::Digest;

use crate::pyfmt::{py_str, type_name, undefined_error};
use crate::pyjson::{dumps, JsonOptions};
use crate::yaml::{dump, load, DumpOptions};

type FilterResult = Result<Value, Error>;

/// Arguments after the filtered value, keyword arguments included (as the last value).
pub type RestArgs = Rest<ValueOrKwargs>;

/// A filter error with Ansible's wording (shown as is, without a minijinja prefix).
pub fn err(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Ansible's undefined is strict: a filter handed an undefined value fails, naming it.
pub fn require_defined(v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        Err(undefined_error(v))
    } else {
        Ok(())
    }
}

/// Python `str()` of a defined value (Ansible's `to_text` on filter input).
pub fn text_of(v: &Value) -> Result<String, Error> {
    require_defined(v)?;
    py_str(v)
}

pub fn to_json_value(v: &Value) -> Result<Json, Error> {
    serde_json::to_value(v).map_err(|e| err(format!("cannot convert value to data: {e}")))
}

fn from_json_value(v: &Json) -> Value {
    crate::json_to_value(v)
}

/// Positional-or-keyword arguments of a Python-style filter signature.
pub struct Args {
    filter: &'static str,
    names: &'static [&'static str],
    pos: Vec<Value>,
    kw: Vec<(String, Value)>,
}

impl Args {
    pub fn new(
        filter: &'static str,
        mut values: Vec<Value>,
        names: &'static [&'static str],
    ) -> Result<Args, Error> {
        let mut kw = Vec::new();
        if values.last().is_some_and(Value::is_kwargs) {
            if let Some(kwargs) = values.pop() {
                for key in kwargs.try_iter()? {
                    let value = kwargs.get_item(&key)?;
                    kw.push((key.as_str().unwrap_or_default().to_string(), value));
                }
            }
        }
        Ok(Args {
            filter,
            names,
            pos: values,
            kw,
        })
    }

    /// The argument at position `idx`, given positionally or by its keyword name.
    pub fn get(&mut self, idx: usize) -> Option<Value> {
        if let Some(v) = self.pos.get(idx) {
            return Some(v.clone());
        }
        let name = self.names.get(idx)?;
        self.kw
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    pub fn string(&mut self, idx: usize) -> Result<Option<String>, Error> {
        match self.get(idx) {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) => text_of(&v).map(Some),
        }
    }

    pub fn flag(&mut self, idx: usize) -> Result<bool, Error> {
        match self.get(idx) {
            None => Ok(false),
            Some(v) => {
                require_defined(&v)?;
                Ok(v.is_true())
            }
        }
    }

    pub fn int(&mut self, idx: usize) -> Result<Option<i64>, Error> {
        match self.get(idx) {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) => {
                require_defined(&v)?;
                match python_int(&v, 10) {
                    Some(i) => Ok(Some(i)),
                    None => Err(err(format!(
                        "{}: expected an integer argument, got {}",
                        self.filter,
                        type_name(&v)
                    ))),
                }
            }
        }
    }

    /// Rejects surplus positional arguments and unknown keywords, as Python would.
    pub fn finish(&self) -> Result<(), Error> {
        if self.pos.len() > self.names.len() {
            return Err(err(format!(
                "{}() takes at most {} arguments ({} given)",
                self.filter,
                self.names.len(),
                self.pos.len()
            )));
        }
        for (key, _) in &self.kw {
            if !self.names.contains(&key.as_str()) {
                return Err(err(format!(
                    "{}() got an unexpected keyword argument '{key}'",
                    self.filter
                )));
            }
        }
        Ok(())
    }
}

pub fn register(env: &mut Environment<'static>) {
    minijinja_contrib::add_to_environment(env);
    register_strict_builtins(env);

    env.add_filter("bool", |v: &Value| -> FilterResult {
        require_defined(v)?;
        Ok(Value::from(to_bool_filter(v)))
    });
    env.add_filter("int", int_filter);
    env.add_filter("float", float_filter);
    env.add_filter("string", |v: &Value| -> FilterResult {
        text_of(v).map(Value::from)
    });
    env.add_filter("join", join);
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("indent", indent);
    env.add_filter("unique", unique_filter);

    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json);
    env.add_filter("to_yaml", |v: &Value, rest: RestArgs| {
        to_yaml(v, rest, false)
    });
    env.add_filter("to_nice_yaml", |v: &Value, rest: RestArgs| {
        to_yaml(v, rest, true)
    });
    env.add_filter("from_yaml", from_yaml);

    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);

    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("basename", |v: &Value| -> FilterResult {
        Ok(Value::from(basename(&text_of(v)?)))
    });
    env.add_filter("dirname", |v: &Value| -> FilterResult {
        Ok(Value::from(dirname(&text_of(v)?)))
    });
    env.add_filter("expanduser", |v: &Value| -> FilterResult {
        Ok(Value::from(expanduser(&text_of(v)?)))
    });
    env.add_filter("splitext", |v: &Value| -> FilterResult {
        let (root, ext) = splitext(&text_of(v)?);
        Ok(Value::from(vec![Value::from(root), Value::from(ext)]))
    });
    env.add_filter("path_join", path_join);

    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("mandatory", mandatory);
    env.add_filter("ternary", ternary);
    env.add_filter("quote", |v: &Value| -> FilterResult {
        require_defined(v)?;
        let text = if v.is_none() {
            String::new()
        } else {
            py_str(v)?
        };
        Ok(Value::from(shell_quote(&text)))
    });
    env.add_filter("flatten", flatten_filter);
    env.add_filter("union", |a: &Value, b: &Value| set_op(a, b, SetOp::Union));
    env.add_filter("intersect", |a: &Value, b: &Value| {
        set_op(a, b, SetOp::Intersect)
    });
    env.add_filter("difference", |a: &Value, b: &Value| {
        set_op(a, b, SetOp::Difference)
    });
    env.add_filter("symmetric_difference", |a: &Value, b: &Value| {
        set_op(a, b, SetOp::Symmetric)
    });
    env.add_filter("zip", |v: &Value, rest: RestArgs| zip(v, rest, false));
    env.add_filter("zip_longest", |v: &Value, rest: RestArgs| {
        zip(v, rest, true)
    });
    env.add_filter("product", product);
    env.add_filter("extract", extract);
    env.add_filter("subelements", subelements);

    env.add_filter("hash", hash_filter);
    env.add_filter("checksum", |v: &Value| -> FilterResult {
        Ok(Value::from(hex_digest("sha1", text_of(v)?.as_bytes())?))
    });
    env.add_filter("sha1", |v: &Value| -> FilterResult {
        Ok(Value::from(hex_digest("sha1", text_of(v)?.as_bytes())?))
    });
    env.add_filter("md5", |v: &Value| -> FilterResult {
        Ok(Value::from(hex_digest("md5", text_of(v)?.as_bytes())?))
    });
    env.add_filter("to_uuid", to_uuid);
    env.add_filter("comment", comment);
    env.add_filter("type_debug", |v: &Value| -> FilterResult {
        Ok(Value::from(type_name(v)))
    });
    env.add_filter("wordcount", |v: &Value| -> FilterResult {
        let text = text_of(v)?;
        let words = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .count();
        Ok(Value::from(words))
    });
    env.add_filter("replace", replace);
    env.add_filter("center", |v: &Value, rest: RestArgs| -> FilterResult {
        let text = text_of(v)?;
        let mut args = Args::new("do_center", rest.into_values(), &["width"])?;
        let width = args.get(0).map_or(Some(80), |w| python_int(&w, 10));
        args.finish()?;
        let width = width.ok_or_else(|| err("center: width must be an integer"))?;
        Ok(Value::from(center(
            &text,
            usize::try_from(width).unwrap_or(0),
        )))
    });
    env.add_filter("log", log);
    env.add_filter("pow", |x: &Value, y: &Value| -> FilterResult {
        Ok(Value::from(number(x, "pow")?.powf(number(y, "pow")?)))
    });
    env.add_filter("root", root);
}

/// Re-registers minijinja's builtin filters so that an undefined input fails (naming the
/// variable) instead of being treated as empty, which is what the chainable undefined
/// behaviour would otherwise do and what Ansible never does.
fn register_strict_builtins(env: &mut Environment<'static>) {
    use minijinja::filters as f;
    use minijinja_contrib::filters as cf;
    let builtins: Vec<(&'static str, Value)> = vec![
        ("upper", Value::from_function(f::upper)),
        ("lower", Value::from_function(f::lower)),
        ("title", Value::from_function(f::title)),
        ("capitalize", Value::from_function(f::capitalize)),
        ("length", Value::from_function(f::length)),
        ("count", Value::from_function(f::length)),
        ("dictsort", Value::from_function(f::dictsort)),
        ("items", Value::from_function(f::items)),
        ("reverse", Value::from_function(f::reverse)),
        ("trim", Value::from_function(f::trim)),
        ("split", Value::from_function(f::split)),
        ("lines", Value::from_function(f::lines)),
        ("abs", Value::from_function(f::abs)),
        ("sum", Value::from_function(f::sum)),
        ("attr", Value::from_function(f::attr)),
        ("round", Value::from_function(f::round)),
        ("first", Value::from_function(f::first)),
        ("last", Value::from_function(f::last)),
        ("min", Value::from_function(f::min)),
        ("max", Value::from_function(f::max)),
        ("sort", Value::from_function(f::sort)),
        ("list", Value::from_function(f::list)),
        ("slice", Value::from_function(f::slice)),
        ("batch", Value::from_function(f::batch)),
        ("select", Value::from_function(f::select)),
        ("selectattr", Value::from_function(f::selectattr)),
        ("reject", Value::from_function(f::reject)),
        ("rejectattr", Value::from_function(f::rejectattr)),
        ("map", Value::from_function(f::map)),
        ("groupby", Value::from_function(f::groupby)),
        ("chain", Value::from_function(f::chain)),
        ("format", Value::from_function(f::format)),
        ("striptags", Value::from_function(cf::striptags)),
    ];
    for (name, filter) in builtins {
        // Jinja2 takes these arguments positionally too; minijinja only by keyword.
        let keywords: &'static [&'static str] = match name {
            "dictsort" => &["case_sensitive", "by", "reverse"],
            "sort" => &["reverse", "case_sensitive", "attribute"],
            "min" | "max" => &["case_sensitive", "attribute"],
            _ => &[],
        };
        env.add_filter(
            name,
            move |state: &mut State, args: RestArgs| -> FilterResult {
                let mut args = args.into_values();
                if let Some(value) = args.first() {
                    require_defined(value)?;
                }
                if !keywords.is_empty() {
                    args = positional_to_keywords(name, args, keywords)?;
                }
                // Python's max() keeps the first of equal items, minijinja's the last.
                if name == "max" && args.first().is_some_and(|v| v.kind() == ValueKind::Seq) {
                    let items: Vec<Value> = args[0].try_iter()?.collect();
                    args[0] = Value::from(items.into_iter().rev().collect::<Vec<_>>());
                }
                filter.call(state, &args)
            },
        );
    }
}

/// `[value, positional..., kwargs?]` with the positional arguments after the value turned
/// into the keyword arguments `names` (in order) for a minijinja builtin.
fn positional_to_keywords(
    filter: &str,
    mut args: Vec<Value>,
    names: &[&'static str],
) -> Result<Vec<Value>, Error> {
    let kwargs = match args.last() {
        Some(last) if args.len() > 1 && last.is_kwargs() => args.pop(),
        _ => None,
    };
    if args.len() <= 1 {
        args.extend(kwargs);
        return Ok(args);
    }
    let positional = args.split_off(1);
    if positional.len() > names.len() {
        return Err(err(format!(
            "{filter}() takes at most {} arguments ({} given)",
            names.len() + 1,
            positional.len() + 1
        )));
    }
    let mut pairs: Vec<(String, Value)> = names
        .iter()
        .zip(positional)
        .map(|(name, value)| ((*name).to_string(), value))
        .collect();
    if let Some(kwargs) = kwargs {
        for key in kwargs.try_iter()? {
            let name = key.as_str().unwrap_or_default().to_string();
            if pairs.iter().any(|(k, _)| *k == name) {
                return Err(err(format!(
                    "{filter}() got multiple values for argument '{name}'"
                )));
            }
            let value = kwargs.get_item(&key)?;
            pairs.push((name, value));
        }
    }
    args.push(Value::from(minijinja::value::Kwargs::from_iter(pairs)));
    Ok(args)
}

// ---------------------------------------------------------------- type conversion

/// The `bool` filter: `yes/on/true/1` (any case) and their opposites; other values are
/// compared with 1, as ansible-core 2.19's deprecated fallback does.
pub fn to_bool_filter(v: &Value) -> bool {
    match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::String => matches!(
            v.as_str().unwrap_or_default().to_lowercase().as_str(),
            "yes" | "on" | "true" | "1"
        ),
        ValueKind::Number => f64::try_from(v.clone()).is_ok_and(|f| f == 1.0),
        _ => false,
    }
}

/// `ansible.module_utils.parsing.convert_bool.boolean` (used by `truthy(convert_bool=True)`):
/// `None` when the value is not a recognised boolean spelling.
pub fn convert_bool(v: &Value) -> Option<bool> {
    match v.kind() {
        ValueKind::Bool => Some(v.is_true()),
        ValueKind::String => {
            match v
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_lowercase()
                .as_str()
            {
                "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
                "n" | "no" | "off" | "0" | "false" | "f" => Some(false),
                _ => None,
            }
        }
        ValueKind::Number => match f64::try_from(v.clone()) {
            Ok(1.0) => Some(true),
            Ok(0.0) => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Python `int(value)` / `int(text, base)`, `None` where Python raises.
pub(crate) fn python_int(v: &Value, base: u32) -> Option<i64> {
    match v.kind() {
        ValueKind::Bool => Some(i64::from(v.is_true())),
        ValueKind::Number => {
            if v.is_integer() {
                v.as_i64()
            } else {
                let f = f64::try_from(v.clone()).ok()?;
                f.is_finite().then_some(f.trunc() as i64)
            }
        }
        ValueKind::String => parse_python_int(v.as_str().unwrap_or_default(), base),
        _ => None,
    }
}

pub(crate) fn parse_python_int(text: &str, base: u32) -> Option<i64> {
    let t = text.trim();
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let (digits, radix) = match (lower.get(..2), base) {
        (Some("0x"), 16 | 0) => (&body[2..], 16),
        (Some("0o"), 8 | 0) => (&body[2..], 8),
        (Some("0b"), 2 | 0) => (&body[2..], 2),
        (_, 0) => (body, 10),
        _ => (body, base),
    };
    let digits = digits.strip_prefix('_').unwrap_or(digits);
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    let magnitude = i64::from_str_radix(&cleaned, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// Python `float(value)`, `None` where Python raises.
pub(crate) fn python_float(v: &Value) -> Option<f64> {
    match v.kind() {
        ValueKind::Bool => Some(if v.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(v.clone()).ok(),
        ValueKind::String => {
            let t = v.as_str().unwrap_or_default().trim().to_lowercase();
            let body = t.trim_start_matches(['+', '-']);
            match body {
                "inf" | "infinity" => Some(if t.starts_with('-') {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }),
                "nan" => Some(f64::NAN),
                _ if body.is_empty() || body.starts_with('_') || body.ends_with('_') => None,
                _ => t.replace('_', "").parse::<f64>().ok(),
            }
        }
        _ => None,
    }
}

/// Jinja2 `int(value, default=0, base=10)`: falls back to `int(float(value))`, then the default.
fn int_filter(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new("int", rest.into_values(), &["default", "base"])?;
    let default = args.get(0).unwrap_or_else(|| Value::from(0));
    let base = args.int(1)?.unwrap_or(10);
    args.finish()?;
    let base = u32::try_from(base).map_err(|_| err("int() base must be >= 2 and <= 36, or 0"))?;
    if let Some(i) = python_int(v, base) {
        return Ok(Value::from(i));
    }
    match python_float(v) {
        Some(f) if f.is_finite() => Ok(Value::from(f.trunc() as i64)),
        _ => Ok(default),
    }
}

/// Jinja2 `float(value, default=0.0)`.
fn float_filter(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new("float", rest.into_values(), &["default"])?;
    let default = args.get(0).unwrap_or_else(|| Value::from(0.0));
    args.finish()?;
    Ok(python_float(v).map(Value::from).unwrap_or(default))
}

/// Jinja2 `join(value, d='', attribute=None)` with Python's `str()` of each item.
fn join(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new("join", rest.into_values(), &["d", "attribute"])?;
    let sep = args.string(0)?.unwrap_or_default();
    let attribute = args.string(1)?;
    args.finish()?;
    let mut parts = Vec::new();
    for item in v.try_iter()? {
        let item = match &attribute {
            Some(attr) => item.get_attr(attr)?,
            None => item,
        };
        parts.push(text_of(&item)?);
    }
    Ok(Value::from(parts.join(&sep)))
}

/// Ansible's `default(value, default_value='', boolean=False)`.
fn default(v: &Value, rest: RestArgs) -> FilterResult {
    let mut args = Args::new("default", rest.into_values(), &["default_value", "boolean"])?;
    let fallback = args.get(0).unwrap_or_else(|| Value::from(""));
    let boolean = args.flag(1)?;
    args.finish()?;
    if v.is_undefined() || (boolean && !v.is_true()) {
        Ok(fallback)
    } else {
        Ok(v.clone())
    }
}

/// Python's `str.splitlines()`.
fn splitlines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\u{b}'
                | '\u{c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            lines.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some((j, '\n')) = iter.peek().copied() {
                    iter.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// Jinja2 `indent(s, width=4, first=False, blank=False)`.
fn indent(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut args = Args::new("indent", rest.into_values(), &["width", "first", "blank"])?;
    let prefix = match args.get(0) {
        None => "    ".to_string(),
        Some(w) if w.kind() == ValueKind::String => w.as_str().unwrap_or_default().to_string(),
        Some(w) => " ".repeat(usize::try_from(python_int(&w, 10).unwrap_or(4)).unwrap_or(0)),
    };
    let first = args.flag(1)?;
    let blank = args.flag(2)?;
    args.finish()?;
    // Jinja appends a newline so that a trailing newline survives `splitlines`.
    let text = format!("{text}\n");
    let lines = splitlines(&text);
    let mut out = if blank {
        lines.join(&format!("\n{prefix}"))
    } else {
        let mut iter = lines.iter();
        let mut out = iter.next().map(|s| s.to_string()).unwrap_or_default();
        let rest: Vec<String> = iter
            .map(|line| {
                if line.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}{line}")
                }
            })
            .collect();
        if !rest.is_empty() {
            out.push('\n');
            out.push_str(&rest.join("\n"));
        }
        out
    };
    if first {
        out = format!("{prefix}{out}");
    }
    Ok(Value::from(out))
}

/// Ansible's `unique(a, case_sensitive=None, attribute=None)`: Jinja2's, which is
/// case-insensitive unless told otherwise, keeping the first of each.
fn unique_filter(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "unique",
        rest.into_values(),
        &["case_sensitive", "attribute"],
    )?;
    let case_sensitive = args.flag(0)?;
    let attribute = args.string(1)?;
    args.finish()?;
    let items = list_of(v)?;
    let mut seen: Vec<Json> = Vec::new();
    let mut out = Vec::new();
    for item in items {
        let mut key = match &attribute {
            Some(attr) => item.get(attr).cloned().unwrap_or(Json::Null),
            None => item.clone(),
        };
        if !case_sensitive {
            if let Json::String(s) = &key {
                key = Json::String(s.to_lowercase());
            }
        }
        if !seen.contains(&key) {
            seen.push(key);
            out.push(item);
        }
    }
    Ok(from_json_value(&Json::Array(out)))
}

/// Jinja2 `replace(s, old, new, count=None)`.
fn replace(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut args = Args::new("replace", rest.into_values(), &["old", "new", "count"])?;
    let old = args.string(0)?.unwrap_or_default();
    let new = args.string(1)?.unwrap_or_default();
    let count = args.int(2)?;
    args.finish()?;
    Ok(Value::from(match count {
        Some(n) if n >= 0 => text.replacen(&old, &new, usize::try_from(n).unwrap_or(usize::MAX)),
        _ => text.replace(&old, &new),
    }))
}

/// Python `str.center`: the odd padding character goes left only when the width is odd.
pub fn center(text: &str, width: usize) -> String {
    let len = text.chars().count();
    if width <= len {
        return text.to_string();
    }
    let marg = width - len;
    let left = marg / 2 + (marg & width & 1);
    format!("{}{text}{}", " ".repeat(left), " ".repeat(marg - left))
}

// ---------------------------------------------------------------- JSON / YAML

fn to_json(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "to_json",
        rest.into_values(),
        &["indent", "sort_keys", "ensure_ascii", "separators"],
    )?;
    let indent = json_indent(args.get(0))?;
    let sort_keys = args.flag(1)?;
    let ensure_ascii = args.get(2).is_none_or(|v| v.is_true());
    let separators = args.get(3);
    args.finish()?;
    let mut opts = JsonOptions {
        sort_keys,
        ensure_ascii,
        ..JsonOptions::default()
    }
    .with_indent(indent);
    if let Some(seps) = separators.filter(|s| !s.is_none()) {
        let parts: Vec<Value> = seps.try_iter()?.collect();
        if let [item, key] = parts.as_slice() {
            opts.item_separator = text_of(item)?;
            opts.key_separator = text_of(key)?;
        }
    }
    Ok(Value::from(dumps(&to_json_value(v)?, &opts)))
}

pub(crate) fn json_indent(v: Option<Value>) -> Result<Option<String>, Error> {
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) if v.kind() == ValueKind::String => Ok(Some(v.as_str().unwrap_or_default().into())),
        Some(v) => {
            let n = python_int(&v, 10).ok_or_else(|| err("to_json: indent must be an integer"))?;
            Ok(Some(" ".repeat(usize::try_from(n).unwrap_or(0))))
        }
    }
}

fn to_nice_json(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "to_nice_json",
        rest.into_values(),
        &["indent", "sort_keys", "ensure_ascii"],
    )?;
    let indent = json_indent(args.get(0))?.or_else(|| Some("    ".into()));
    let sort_keys = args.get(1).is_none_or(|v| v.is_true());
    let ensure_ascii = args.get(2).is_none_or(|v| v.is_true());
    args.finish()?;
    let opts = JsonOptions {
        sort_keys,
        ensure_ascii,
        item_separator: ",".into(),
        key_separator: ": ".into(),
        indent: None,
    }
    .with_indent(indent);
    Ok(Value::from(dumps(&to_json_value(v)?, &opts)))
}

fn from_json(v: &Value) -> FilterResult {
    let text = text_of(v)?;
    let parsed: Json =
        serde_json::from_str(&text).map_err(|e| err(format!("from_json: invalid JSON: {e}")))?;
    Ok(from_json_value(&parsed))
}

fn to_yaml(v: &Value, rest: RestArgs, nice: bool) -> FilterResult {
    require_defined(v)?;
    let name = if nice { "to_nice_yaml" } else { "to_yaml" };
    let mut args = Args::new(
        name,
        rest.into_values(),
        &[
            "indent",
            "width",
            "default_flow_style",
            "sort_keys",
            "explicit_start",
        ],
    )?;
    let mut opts = DumpOptions {
        indent: if nice { 4 } else { 2 },
        default_flow_style: if nice { Some(false) } else { None },
        ..DumpOptions::default()
    };
    if let Some(i) = args.int(0)? {
        opts.indent = usize::try_from(i).unwrap_or(opts.indent);
    }
    if let Some(w) = args.get(1) {
        // Users pass huge widths (or inf) to disable folding.
        opts.width = match python_float(&w) {
            Some(f) if f.is_finite() && f >= 0.0 => f as usize,
            Some(f) if f.is_infinite() => usize::MAX,
            _ => opts.width,
        };
    }
    if let Some(style) = args.get(2) {
        opts.default_flow_style = if style.is_none() {
            None
        } else {
            Some(style.is_true())
        };
    }
    if let Some(sort) = args.get(3) {
        opts.sort_keys = sort.is_true();
    }
    opts.explicit_start = args.flag(4)?;
    args.finish()?;
    Ok(Value::from(dump(&to_json_value(v)?, &opts)))
}

fn from_yaml(v: &Value) -> FilterResult {
    require_defined(v)?;
    if v.is_none() {
        return Ok(Value::from(()));
    }
    let Some(text) = v.as_str() else {
        // Ansible passes non-string input through unchanged.
        return Ok(v.clone());
    };
    let parsed = load(text).map_err(|e| err(format!("from_yaml: {}", e.0)))?;
    Ok(from_json_value(&parsed))
}

// ---------------------------------------------------------------- regular expressions

/// Compiles a Python regular expression. Python and the `regex` crate agree on the common
/// syntax (`(?P<name>…)`, classes, flags); lookaround and backreferences are not supported.
pub fn compile_regex(pattern: &str, ignorecase: bool, multiline: bool) -> Result<Regex, Error> {
    let mut builder = regex::RegexBuilder::new(pattern);
    builder.case_insensitive(ignorecase).multi_line(multiline);
    builder
        .build()
        .map_err(|e| err(format!("invalid regular expression '{pattern}': {e}")))
}

/// Translates a Python `re.sub` replacement (`\1`, `\g<name>`, `\n`) into the regex crate's (`${1}`).
fn translate_replacement(repl: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(repl.len());
    let chars: Vec<char> = repl.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            out.push_str("$$");
            i += 1;
            continue;
        }
        if c != '\\' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let next = chars[i + 1];
        match next {
            'g' if chars.get(i + 2) == Some(&'<') => {
                let close = chars[i + 3..]
                    .iter()
                    .position(|c| *c == '>')
                    .ok_or_else(|| err("missing >, unterminated name in regex replacement"))?;
                let name: String = chars[i + 3..i + 3 + close].iter().collect();
                out.push_str(&format!("${{{name}}}"));
                i += 4 + close;
            }
            d if d.is_ascii_digit() => {
                let mut num = String::from(d);
                if let Some(d2) = chars.get(i + 2).filter(|c| c.is_ascii_digit()) {
                    num.push(*d2);
                }
                i += 1 + num.len();
                out.push_str(&format!("${{{num}}}"));
            }
            'n' => {
                out.push('\n');
                i += 2;
            }
            't' => {
                out.push('\t');
                i += 2;
            }
            'r' => {
                out.push('\r');
                i += 2;
            }
            '\\' => {
                out.push('\\');
                i += 2;
            }
            other => {
                // Python keeps unknown ASCII-letter escapes as errors; others stay literal.
                if other.is_ascii_alphabetic() {
                    return Err(err(format!("bad escape \\{other} in regex replacement")));
                }
                out.push('\\');
                out.push(other);
                i += 2;
            }
        }
    }
    Ok(out)
}

fn regex_replace(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut args = Args::new(
        "regex_replace",
        rest.into_values(),
        &[
            "pattern",
            "replacement",
            "ignorecase",
            "multiline",
            "count",
            "mandatory_count",
        ],
    )?;
    let pattern = args.string(0)?.unwrap_or_default();
    let replacement = args.string(1)?.unwrap_or_default();
    let ignorecase = args.flag(2)?;
    let multiline = args.flag(3)?;
    let count = args.int(4)?.unwrap_or(0);
    let mandatory_count = args.int(5)?.unwrap_or(0);
    args.finish()?;
    let re = compile_regex(&pattern, ignorecase, multiline)?;
    let repl = translate_replacement(&replacement)?;
    let matches = re.find_iter(&text).count();
    let limit = usize::try_from(count).unwrap_or(0);
    let subs = if limit > 0 {
        matches.min(limit)
    } else {
        matches
    };
    if mandatory_count != 0 && i64::try_from(subs).ok() != Some(mandatory_count) {
        return Err(err(format!(
            "'{pattern}' should match {mandatory_count} times, but matches {subs} times in '{text}'"
        )));
    }
    let out = re.replacen(&text, limit, repl.as_str());
    Ok(Value::from(out.into_owned()))
}

fn regex_search(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut values = rest.into_values();
    let kwargs = match values.last() {
        Some(last) if last.is_kwargs() => values.pop(),
        _ => None,
    };
    let mut kw = Args::new(
        "regex_search",
        kwargs.into_iter().collect(),
        &["ignorecase", "multiline"],
    )?;
    let ignorecase = kw.flag(0)?;
    let multiline = kw.flag(1)?;
    kw.finish()?;
    let mut positional = values.into_iter();
    let pattern = match positional.next() {
        Some(p) => text_of(&p)?,
        None => return Err(err("regex_search() missing required argument 'regex'")),
    };
    // Remaining arguments name groups to return: '\\1' or '\\g<name>'.
    let mut groups = Vec::new();
    for arg in positional {
        let arg = text_of(&arg)?;
        if let Some(name) = arg.strip_prefix("\\g<").and_then(|s| s.strip_suffix('>')) {
            groups.push(name.to_string());
        } else if let Some(num) = arg
            .strip_prefix('\\')
            .filter(|n| n.parse::<usize>().is_ok())
        {
            groups.push(num.to_string());
        } else {
            return Err(err("Unknown argument"));
        }
    }
    let re = compile_regex(&pattern, ignorecase, multiline)?;
    let Some(caps) = re.captures(&text) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(
            caps.get(0).map(|m| m.as_str()).unwrap_or_default(),
        ));
    }
    let mut out = Vec::new();
    for g in groups {
        let m = match g.parse::<usize>() {
            Ok(i) => caps.get(i),
            Err(_) => caps.name(&g),
        };
        out.push(
            m.map(|m| Value::from(m.as_str()))
                .unwrap_or(Value::from(())),
        );
    }
    Ok(Value::from(out))
}

/// Python `re.findall`: whole matches, the single group, or a list per match of all groups.
fn regex_findall(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut args = Args::new(
        "regex_findall",
        rest.into_values(),
        &["regex", "multiline", "ignorecase"],
    )?;
    let pattern = args.string(0)?.unwrap_or_default();
    let multiline = args.flag(1)?;
    let ignorecase = args.flag(2)?;
    args.finish()?;
    let re = compile_regex(&pattern, ignorecase, multiline)?;
    let groups = re.captures_len() - 1;
    let mut out = Vec::new();
    for caps in re.captures_iter(&text) {
        let group = |i: usize| Value::from(caps.get(i).map(|m| m.as_str()).unwrap_or_default());
        out.push(match groups {
            0 => group(0),
            1 => group(1),
            n => Value::from((1..=n).map(group).collect::<Vec<_>>()),
        });
    }
    Ok(Value::from(out))
}

/// `regex_escape(string, re_type='python')`: Python 3.7+ `re.escape`, or POSIX BRE escaping.
fn regex_escape(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut args = Args::new("regex_escape", rest.into_values(), &["re_type"])?;
    let re_type = args.string(0)?.unwrap_or_else(|| "python".into());
    args.finish()?;
    let special: &str = match re_type.as_str() {
        "python" => "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}",
        "posix_basic" => "].[^$*\\",
        "posix_extended" => return Err(err(format!("Regex type ({re_type}) not yet implemented"))),
        other => return Err(err(format!("Invalid regex type ({other})"))),
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(Value::from(out))
}

// ---------------------------------------------------------------- encoding and paths

fn b64encode(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut args = Args::new("b64encode", rest.into_values(), &["encoding", "urlsafe"])?;
    let _encoding = args.string(0)?;
    let urlsafe = args.flag(1)?;
    args.finish()?;
    let engine = if urlsafe {
        &base64::engine::general_purpose::URL_SAFE
    } else {
        &base64::engine::general_purpose::STANDARD
    };
    Ok(Value::from(engine.encode(text.as_bytes())))
}

fn b64decode(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut args = Args::new("b64decode", rest.into_values(), &["encoding", "urlsafe"])?;
    let _encoding = args.string(0)?;
    let urlsafe = args.flag(1)?;
    args.finish()?;
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let alphabet = if urlsafe {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    let engine = base64::engine::GeneralPurpose::new(alphabet, config);
    // Python's b64decode ignores characters outside the alphabet (newlines in wrapped output).
    let cleaned: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+/-_=".contains(*c))
        .collect();
    let bytes = engine
        .decode(cleaned.as_bytes())
        .map_err(|e| err(format!("b64decode: {e}")))?;
    Ok(Value::from(String::from_utf8_lossy(&bytes).into_owned()))
}

pub fn basename(p: &str) -> String {
    p.rsplit('/').next().unwrap_or_default().to_string()
}

/// `posixpath.dirname`: trailing slashes of the head are dropped unless it is all slashes.
pub fn dirname(p: &str) -> String {
    let head = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

/// `os.path.expanduser` on the controller: only `~` and `~/…` (from `$HOME`).
pub(crate) fn expanduser(p: &str) -> String {
    if p == "~" || p.starts_with("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            let home = home.to_string_lossy();
            let home = home.trim_end_matches('/');
            let home = if home.is_empty() { "/" } else { home };
            return format!("{home}{}", &p[1..]);
        }
    }
    p.to_string()
}

/// `posixpath.splitext`: a leading dot of the file name does not start an extension.
pub fn splitext(p: &str) -> (String, String) {
    let sep = p.rfind('/').map(|i| i as isize).unwrap_or(-1);
    if let Some(dot) = p.rfind('.') {
        if dot as isize > sep {
            let name_start = (sep + 1) as usize;
            if p[name_start..dot].chars().any(|c| c != '.') {
                return (p[..dot].to_string(), p[dot..].to_string());
            }
        }
    }
    (p.to_string(), String::new())
}

/// `os.path.join` over a list (or a single string): an absolute part restarts the path.
fn path_join(v: &Value) -> FilterResult {
    require_defined(v)?;
    let parts: Vec<String> = if v.kind() == ValueKind::String {
        vec![text_of(v)?]
    } else if matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        v.try_iter()?
            .map(|p| text_of(&p))
            .collect::<Result<_, _>>()?
    } else {
        return Err(err(format!(
            "|path_join expects string or sequence, got {} instead.",
            type_name(v)
        )));
    };
    let mut out = String::new();
    for part in parts {
        if part.starts_with('/') {
            out = part;
        } else if out.is_empty() || out.ends_with('/') {
            out.push_str(&part);
        } else {
            out.push('/');
            out.push_str(&part);
        }
    }
    Ok(Value::from(out))
}

/// `shlex.quote`.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

// ---------------------------------------------------------------- data structures

pub(crate) fn list_of(v: &Value) -> Result<Vec<Json>, Error> {
    require_defined(v)?;
    match to_json_value(v)? {
        Json::Array(items) => Ok(items),
        Json::Object(map) => Ok(map.keys().map(|k| Json::String(k.clone())).collect()),
        Json::String(s) => Ok(s.chars().map(|c| Json::String(c.to_string())).collect()),
        _ => Err(err(format!("'{}' object is not iterable", type_name(v)))),
    }
}

/// `merge_hash(x, y, recursive, list_merge)` from `ansible.utils.vars`.
fn merge_hash(
    x: &Map<String, Json>,
    y: &Map<String, Json>,
    recursive: bool,
    list_merge: &str,
) -> Map<String, Json> {
    let mut out = x.clone();
    for (key, y_value) in y {
        let merged = match (out.get(key), y_value) {
            (Some(Json::Object(xv)), Json::Object(yv)) if recursive => {
                Json::Object(merge_hash(xv, yv, recursive, list_merge))
            }
            (Some(Json::Array(xv)), Json::Array(yv)) => match list_merge {
                "append" => Json::Array(xv.iter().chain(yv).cloned().collect()),
                "prepend" => Json::Array(yv.iter().chain(xv).cloned().collect()),
                "append_rp" => Json::Array(
                    xv.iter()
                        .filter(|z| !yv.contains(z))
                        .chain(yv)
                        .cloned()
                        .collect(),
                ),
                "prepend_rp" => Json::Array(
                    yv.iter()
                        .chain(xv.iter().filter(|z| !yv.contains(z)))
                        .cloned()
                        .collect(),
                ),
                "keep" => Json::Array(xv.clone()),
                _ => y_value.clone(),
            },
            _ => y_value.clone(),
        };
        out.insert(key.clone(), merged);
    }
    out
}

/// `combine(*dicts, recursive=False, list_merge='replace')`; a list of dicts is accepted too.
fn combine(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut values = rest.into_values();
    let kwargs = match values.last() {
        Some(last) if last.is_kwargs() => values.pop(),
        _ => None,
    };
    let mut kw = Args::new(
        "combine",
        kwargs.into_iter().collect(),
        &["recursive", "list_merge"],
    )?;
    let recursive = kw.flag(0)?;
    let list_merge = kw.string(1)?.unwrap_or_else(|| "replace".into());
    kw.finish()?;
    if !matches!(
        list_merge.as_str(),
        "replace" | "keep" | "append" | "prepend" | "append_rp" | "prepend_rp"
    ) {
        return Err(err("merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp'"));
    }
    let mut terms = Vec::new();
    for term in std::iter::once(v.clone()).chain(values) {
        require_defined(&term)?;
        match to_json_value(&term)? {
            Json::Array(items) => terms.extend(items),
            other => terms.push(other),
        }
    }
    let mut result = Map::new();
    for term in terms {
        match term {
            Json::Object(map) => result = merge_hash(&result, &map, recursive, &list_merge),
            other => {
                return Err(err(format!(
                    "failed to combine variables, expected dicts but got a '{}'",
                    json_type(&other)
                )))
            }
        }
    }
    Ok(from_json_value(&Json::Object(result)))
}

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "NoneType",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_f64() => "float",
        Json::Number(_) => "int",
        Json::String(_) => "str",
        Json::Array(_) => "list",
        Json::Object(_) => "dict",
    }
}

fn dict2items(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "dict2items",
        rest.into_values(),
        &["key_name", "value_name"],
    )?;
    let key_name = args.string(0)?.unwrap_or_else(|| "key".into());
    let value_name = args.string(1)?.unwrap_or_else(|| "value".into());
    args.finish()?;
    let Json::Object(map) = to_json_value(v)? else {
        return Err(err(format!(
            "dict2items requires a dictionary, got {} instead.",
            type_name(v)
        )));
    };
    let items: Vec<Json> = map
        .into_iter()
        .map(|(k, val)| {
            let mut item = Map::new();
            item.insert(key_name.clone(), Json::String(k));
            item.insert(value_name.clone(), val);
            Json::Object(item)
        })
        .collect();
    Ok(from_json_value(&Json::Array(items)))
}

fn items2dict(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "items2dict",
        rest.into_values(),
        &["key_name", "value_name"],
    )?;
    let key_name = args.string(0)?.unwrap_or_else(|| "key".into());
    let value_name = args.string(1)?.unwrap_or_else(|| "value".into());
    args.finish()?;
    let Json::Array(items) = to_json_value(v)? else {
        return Err(err(format!(
            "items2dict requires a list, got {} instead.",
            type_name(v)
        )));
    };
    let mut out = Map::new();
    for item in &items {
        let (Some(k), Some(val)) = (item.get(&key_name), item.get(&value_name)) else {
            return Err(err(format!(
                "items2dict requires each dictionary in the list to contain the keys '{key_name}' and '{value_name}', got {} instead.",
                crate::pyfmt::py_repr(&from_json_value(&Json::Array(items.clone())))?
            )));
        };
        let key = match k {
            Json::String(s) => s.clone(),
            other => py_str(&from_json_value(other))?,
        };
        out.insert(key, val.clone());
    }
    Ok(from_json_value(&Json::Object(out)))
}

fn mandatory(v: &Value, rest: RestArgs) -> FilterResult {
    let mut args = Args::new("mandatory", rest.into_values(), &["msg"])?;
    let msg = args.string(0)?;
    args.finish()?;
    if v.is_undefined() {
        return Err(match msg {
            Some(msg) => err(msg),
            None => undefined_error(v),
        });
    }
    Ok(v.clone())
}

fn ternary(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "ternary",
        rest.into_values(),
        &["true_val", "false_val", "none_val"],
    )?;
    let true_val = args
        .get(0)
        .ok_or_else(|| err("ternary() missing required argument 'true_val'"))?;
    let false_val = args
        .get(1)
        .ok_or_else(|| err("ternary() missing required argument 'false_val'"))?;
    let none_val = args.get(2).filter(|n| !n.is_none());
    args.finish()?;
    Ok(match (v.is_none(), none_val) {
        (true, Some(none_val)) => none_val,
        _ if v.is_true() => true_val,
        _ => false_val,
    })
}

fn flatten(items: &[Json], levels: Option<i64>, skip_nulls: bool, out: &mut Vec<Json>) {
    for item in items {
        let is_null = matches!(item, Json::Null)
            || matches!(item, Json::String(s) if s == "None" || s == "null");
        if skip_nulls && is_null {
            continue;
        }
        match item {
            Json::Array(inner) if levels.is_none_or(|l| l >= 1) => {
                flatten(inner, levels.map(|l| l - 1), skip_nulls, out)
            }
            other => out.push(other.clone()),
        }
    }
}

fn flatten_filter(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new("flatten", rest.into_values(), &["levels", "skip_nulls"])?;
    let levels = args.int(0)?;
    let skip_nulls = args.get(1).is_none_or(|s| s.is_true());
    args.finish()?;
    let items = list_of(v)?;
    let mut out = Vec::new();
    flatten(&items, levels, skip_nulls, &mut out);
    Ok(from_json_value(&Json::Array(out)))
}

enum SetOp {
    Union,
    Intersect,
    Difference,
    Symmetric,
}

fn dedup(items: impl IntoIterator<Item = Json>) -> Vec<Json> {
    let mut out: Vec<Json> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Ansible's set filters. Python builds a `set`, whose order is a hash order; first-seen order
/// is used instead so results are stable (the elements are the same).
fn set_op(a: &Value, b: &Value, op: SetOp) -> FilterResult {
    let (a, b) = (list_of(a)?, list_of(b)?);
    let out = match op {
        SetOp::Union => dedup(a.into_iter().chain(b)),
        SetOp::Intersect => dedup(a.into_iter().filter(|x| b.contains(x))),
        SetOp::Difference => dedup(a.into_iter().filter(|x| !b.contains(x))),
        SetOp::Symmetric => {
            let both: Vec<Json> = a.iter().filter(|x| b.contains(x)).cloned().collect();
            dedup(a.into_iter().chain(b).filter(|x| !both.contains(x)))
        }
    };
    Ok(from_json_value(&Json::Array(out)))
}

fn zip(v: &Value, rest: RestArgs, longest: bool) -> FilterResult {
    let mut values = rest.into_values();
    let kwargs = match values.last() {
        Some(last) if last.is_kwargs() => values.pop(),
        _ => None,
    };
    let mut kw = Args::new("zip_longest", kwargs.into_iter().collect(), &["fillvalue"])?;
    let fill = kw
        .get(0)
        .map(|f| to_json_value(&f))
        .transpose()?
        .unwrap_or(Json::Null);
    kw.finish()?;
    let mut lists = vec![list_of(v)?];
    for other in &values {
        lists.push(list_of(other)?);
    }
    let lens = lists.iter().map(Vec::len);
    let n = if longest { lens.max() } else { lens.min() }.unwrap_or(0);
    let rows: Vec<Json> = (0..n)
        .map(|i| {
            Json::Array(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                    .collect(),
            )
        })
        .collect();
    Ok(from_json_value(&Json::Array(rows)))
}

/// `itertools.product(*lists, repeat=1)`.
fn product(v: &Value, rest: RestArgs) -> FilterResult {
    let mut values = rest.into_values();
    let kwargs = match values.last() {
        Some(last) if last.is_kwargs() => values.pop(),
        _ => None,
    };
    let mut kw = Args::new("product", kwargs.into_iter().collect(), &["repeat"])?;
    let repeat = kw.int(0)?.unwrap_or(1);
    kw.finish()?;
    let mut pools = vec![list_of(v)?];
    for other in &values {
        pools.push(list_of(other)?);
    }
    let pools: Vec<Vec<Json>> = (0..repeat.max(0)).flat_map(|_| pools.clone()).collect();
    let mut rows: Vec<Vec<Json>> = vec![Vec::new()];
    for pool in &pools {
        rows = rows
            .into_iter()
            .flat_map(|row| {
                pool.iter().map(move |item| {
                    let mut row = row.clone();
                    row.push(item.clone());
                    row
                })
            })
            .collect();
    }
    Ok(from_json_value(&Json::Array(
        rows.into_iter().map(Json::Array).collect(),
    )))
}

/// `extract(item, container, morekeys=None)`: `container[item]`, then each of `morekeys`.
fn extract(item: &Value, container: &Value, morekeys: Option<Value>) -> FilterResult {
    require_defined(item)?;
    require_defined(container)?;
    let mut keys = vec![item.clone()];
    match morekeys {
        Some(more) if more.kind() == ValueKind::Seq => keys.extend(more.try_iter()?),
        Some(more) if !more.is_none() => keys.push(more),
        _ => {}
    }
    let mut value = container.clone();
    for key in keys {
        value = value.get_item(&key)?;
    }
    Ok(value)
}

/// `subelements(obj, subelements, skip_missing=False)`: pairs of each element and each item of
/// the list found at the dotted path inside it.
fn subelements(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "subelements",
        rest.into_values(),
        &["subelements", "skip_missing"],
    )?;
    let path = args
        .get(0)
        .ok_or_else(|| err("subelements() missing required argument 'subelements'"))?;
    let skip_missing = args.flag(1)?;
    args.finish()?;
    let elements = match to_json_value(v)? {
        Json::Array(items) => items,
        Json::Object(map) => map.into_iter().map(|(_, v)| v).collect(),
        _ => return Err(err("obj must be a list of dicts or a nested dict")),
    };
    let keys: Vec<String> = match to_json_value(&path)? {
        Json::String(s) => s.split('.').map(str::to_string).collect(),
        Json::Array(items) => items
            .iter()
            .map(|k| {
                k.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| k.to_string())
            })
            .collect(),
        _ => return Err(err("subelements must be a list or a string")),
    };
    let mut out = Vec::new();
    for element in elements {
        let mut values = &element;
        let mut missing = false;
        for key in &keys {
            match values.get(key) {
                Some(next) => values = next,
                None if skip_missing => {
                    missing = true;
                    break;
                }
                None => {
                    return Err(err(format!(
                        "could not find '{key}' key in iterated item {}",
                        crate::pyfmt::py_repr(&from_json_value(values))?
                    )))
                }
            }
        }
        if missing {
            continue;
        }
        let Json::Array(items) = values else {
            return Err(err(format!(
                "the key '{}' should point to a list, got {}",
                keys.last().map(String::as_str).unwrap_or_default(),
                crate::pyfmt::py_repr(&from_json_value(values))?
            )));
        };
        for item in items {
            out.push(Json::Array(vec![element.clone(), item.clone()]));
        }
    }
    Ok(from_json_value(&Json::Array(out)))
}

// ---------------------------------------------------------------- hashing and text

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_digest(algorithm: &str, data: &[u8]) -> Result<String, Error> {
    Ok(match algorithm {
        "sha1" => hex(&sha1::Sha1::digest(data)),
        "sha224" => hex(&sha2::Sha224::digest(data)),
        "sha256" => hex(&sha2::Sha256::digest(data)),
        "sha384" => hex(&sha2::Sha384::digest(data)),
        "sha512" => hex(&sha2::Sha512::digest(data)),
        "md5" => hex(&md5::compute(data).0),
        other => return Err(err(format!("unsupported hash type {other}"))),
    })
}

fn hash_filter(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut args = Args::new("hash", rest.into_values(), &["hashtype"])?;
    let algorithm = args.string(0)?.unwrap_or_else(|| "sha1".into());
    args.finish()?;
    Ok(Value::from(hex_digest(
        &algorithm.to_lowercase(),
        text.as_bytes(),
    )?))
}

/// `to_uuid(string, namespace=Ansible's)`: a version 5 UUID.
fn to_uuid(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut args = Args::new("to_uuid", rest.into_values(), &["namespace"])?;
    let namespace = args
        .string(0)?
        .unwrap_or_else(|| "361E6D51-FAEC-444A-9079-341386DA8E2E".into());
    args.finish()?;
    let ns_hex: String = namespace.chars().filter(|c| *c != '-').collect();
    if ns_hex.len() != 32 {
        return Err(err(format!("Invalid value '{namespace}' for 'namespace'")));
    }
    let mut ns = Vec::with_capacity(16);
    for i in (0..32).step_by(2) {
        ns.push(
            u8::from_str_radix(&ns_hex[i..i + 2], 16)
                .map_err(|_| err(format!("Invalid value '{namespace}' for 'namespace'")))?,
        );
    }
    let mut hasher = sha1::Sha1::new();
    hasher.update(&ns);
    hasher.update(text.as_bytes());
    let digest = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    Ok(Value::from(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )))
}

/// Ansible's `comment(text, style='plain', **kw)`.
fn comment(v: &Value, rest: RestArgs) -> FilterResult {
    let text = text_of(v)?;
    let mut values = rest.into_values();
    let mut kw: Vec<(String, String)> = Vec::new();
    if values.last().is_some_and(Value::is_kwargs) {
        if let Some(kwargs) = values.pop() {
            for key in kwargs.try_iter()? {
                let value = kwargs.get_item(&key)?;
                kw.push((
                    key.as_str().unwrap_or_default().to_string(),
                    text_of(&value)?,
                ));
            }
        }
    }
    let style = match values.first() {
        Some(s) => text_of(s)?,
        None => kw
            .iter()
            .find(|(k, _)| k == "style")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "plain".into()),
    };
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => return Err(err(format!("Invalid style '{other}'."))),
    };
    let lookup = |name: &str| kw.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let prepostfix = lookup("decoration").unwrap_or_else(|| decoration.to_string());
    let newline = lookup("newline").unwrap_or_else(|| "\n".into());
    let beginning = lookup("beginning").unwrap_or_else(|| beginning.to_string());
    let prefix = lookup("prefix").unwrap_or_else(|| prepostfix.trim_end().to_string());
    let prefix_count: usize = lookup("prefix_count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let decoration = lookup("decoration").unwrap_or_else(|| decoration.to_string());
    let postfix = lookup("postfix").unwrap_or_else(|| prepostfix.trim_end().to_string());
    let postfix_count: usize = lookup("postfix_count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let end = lookup("end").unwrap_or_else(|| end.to_string());

    let str_beginning = if beginning.is_empty() {
        String::new()
    } else {
        format!("{beginning}{newline}")
    };
    let str_prefix = if prefix.is_empty() {
        String::new()
    } else if prefix != newline {
        format!("{prefix}{newline}").repeat(prefix_count)
    } else {
        newline.repeat(prefix_count)
    };
    let decorated = format!(
        "{decoration}{}",
        text.replace(&newline, &format!("{newline}{decoration}"))
    );
    let str_text = decorated.replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    );
    let mut str_postfix = String::new();
    for _ in 0..postfix_count {
        str_postfix.push_str(&newline);
        str_postfix.push_str(&postfix);
    }
    let str_end = if end.is_empty() {
        String::new()
    } else {
        format!("{newline}{end}")
    };
    Ok(Value::from(format!(
        "{str_beginning}{str_prefix}{str_text}{str_postfix}{str_end}"
    )))
}

fn number(v: &Value, filter: &str) -> Result<f64, Error> {
    require_defined(v)?;
    if !matches!(v.kind(), ValueKind::Number | ValueKind::Bool) {
        return Err(err(format!("{filter}() can only be used on numbers")));
    }
    python_float(v).ok_or_else(|| err(format!("{filter}() can only be used on numbers")))
}

fn log(x: &Value, base: Option<Value>) -> FilterResult {
    let x = number(x, "log")?;
    Ok(Value::from(match base {
        None => x.ln(),
        Some(b) => {
            let b = number(&b, "log")?;
            if b == 10.0 {
                x.log10()
            } else {
                x.ln() / b.ln()
            }
        }
    }))
}

fn root(x: &Value, base: Option<Value>) -> FilterResult {
    let x = number(x, "root")?;
    let base = match base {
        Some(b) => number(&b, "root")?,
        None => 2.0,
    };
    Ok(Value::from(if base == 2.0 {
        x.sqrt()
    } else {
        x.powf(1.0 / base)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_path_functions() {
        assert_eq!(basename("/etc/foo.conf"), "foo.conf");
        assert_eq!(basename("/etc/"), "");
        assert_eq!(dirname("/etc/asdf/foo.txt"), "/etc/asdf");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(dirname("a"), "");
        assert_eq!(dirname("//a//b"), "//a");
        assert_eq!(splitext("/a/b.tar.gz"), ("/a/b.tar".into(), ".gz".into()));
        assert_eq!(splitext("/a/.bashrc"), ("/a/.bashrc".into(), String::new()));
        assert_eq!(splitext("a.d/b"), ("a.d/b".into(), String::new()));
    }

    #[test]
    fn shell_quoting_matches_shlex() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("abc-1.2/x"), "abc-1.2/x");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\"'\"'s'");
    }

    #[test]
    fn replacement_translation() {
        assert_eq!(
            translate_replacement(r"\1-\g<name>$").ok().as_deref(),
            Some("${1}-${name}$$")
        );
        assert_eq!(translate_replacement(r"a\nb").ok().as_deref(), Some("a\nb"));
        assert!(translate_replacement(r"\q").is_err());
    }

    #[test]
    fn python_int_parsing() {
        assert_eq!(parse_python_int(" 42 ", 10), Some(42));
        assert_eq!(parse_python_int("-0x1f", 16), Some(-31));
        assert_eq!(parse_python_int("ff", 16), Some(255));
        assert_eq!(parse_python_int("1_000", 10), Some(1000));
        assert_eq!(parse_python_int("3.7", 10), None);
        assert_eq!(parse_python_int("0x10", 10), None);
    }
}
