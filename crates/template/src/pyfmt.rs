//! Python-compatible text forms of template values (`str()` and `repr()`), as Jinja2 prints them.
//!
//! Ansible users' templates were written against Python: a boolean prints `True`, a list prints
//! `['a', 'b']`, a float prints `1e+16`. minijinja's own display is close but not exact (floats,
//! NaN, tuples), so output goes through these functions instead.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// Python `str(value)`. Undefined values (also nested ones) are an error, as Ansible's strict
/// undefined makes them.
pub fn py_str(value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write_str(&mut out, value, false)?;
    Ok(out)
}

/// What `{{ value }}` prints: `str()`, except that `None` prints nothing (ansible-core 2.19).
pub fn py_output(value: &Value) -> Result<String, Error> {
    if value.is_none() {
        return Ok(String::new());
    }
    py_str(value)
}

/// Python `repr(value)`.
pub fn py_repr(value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write_repr(&mut out, value, false)?;
    Ok(out)
}

/// Python `str(value)` as code inside a template sees it (`'%s' % value`): like [`py_str`],
/// but tuples print as tuples, `(1, 2)`, since no output conversion has happened yet.
pub fn py_str_keep_tuples(value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write_str(&mut out, value, true)?;
    Ok(out)
}

/// Python `repr(value)`, tuples printed as tuples (see [`py_str_keep_tuples`]).
pub fn py_repr_keep_tuples(value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write_repr(&mut out, value, true)?;
    Ok(out)
}

fn write_str(out: &mut String, value: &Value, tuples: bool) -> Result<(), Error> {
    if let Some(dt) = crate::datetime::as_datetime(value) {
        out.push_str(&dt.py_str());
        return Ok(());
    }
    match value.kind() {
        ValueKind::String => {
            out.push_str(value.as_str().unwrap_or_default());
            Ok(())
        }
        ValueKind::Bytes => {
            out.push_str(&String::from_utf8_lossy(
                value.as_bytes().unwrap_or_default(),
            ));
            Ok(())
        }
        _ => write_repr(out, value, tuples),
    }
}

fn write_repr(out: &mut String, value: &Value, tuples: bool) -> Result<(), Error> {
    if let Some(dt) = crate::datetime::as_datetime(value) {
        out.push_str(&dt.py_repr());
        return Ok(());
    }
    match value.kind() {
        ValueKind::Undefined => Err(undefined_error(value)),
        ValueKind::None => {
            out.push_str("None");
            Ok(())
        }
        ValueKind::Bool => {
            out.push_str(if value.is_true() { "True" } else { "False" });
            Ok(())
        }
        ValueKind::Number => {
            if value.is_integer() {
                out.push_str(&value.to_string());
            } else {
                let f = f64::try_from(value.clone()).unwrap_or(f64::NAN);
                out.push_str(&float_repr(f));
            }
            Ok(())
        }
        ValueKind::String => {
            out.push_str(&str_repr(value.as_str().unwrap_or_default()));
            Ok(())
        }
        ValueKind::Bytes => {
            out.push('b');
            out.push_str(&str_repr(&String::from_utf8_lossy(
                value.as_bytes().unwrap_or_default(),
            )));
            Ok(())
        }
        ValueKind::Map => {
            out.push('{');
            for (idx, key) in value.try_iter()?.enumerate() {
                if idx > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &key, tuples)?;
                out.push_str(": ");
                write_repr(out, &value.get_item(&key)?, tuples)?;
            }
            out.push('}');
            Ok(())
        }
        // Tuples, sequences and iterables: Ansible 2.19 converts tuples to lists before printing.
        ValueKind::Seq | ValueKind::Iterable => {
            let tuple = tuples && value.is_tuple();
            out.push(if tuple { '(' } else { '[' });
            let mut count = 0;
            for (idx, item) in value.try_iter()?.enumerate() {
                if idx > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &item, tuples)?;
                count += 1;
            }
            out.push_str(match (tuple, count) {
                (true, 1) => ",)",
                (true, _) => ")",
                _ => "]",
            });
            Ok(())
        }
        _ => {
            out.push_str(&value.to_string());
            Ok(())
        }
    }
}

/// Builds the error for using an undefined value where a concrete one is needed.
///
/// `Value::get_attr` on an undefined value returns minijinja's undefined error carrying the
/// value's origin; when that error passes through the engine it is rewritten to name the
/// expression (`foo.bar`), which is the only public route to that information.
pub fn undefined_error(value: &Value) -> Error {
    match value.get_attr("") {
        Err(err) => err,
        Ok(_) => Error::new(ErrorKind::UndefinedError, "undefined value"),
    }
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form outside 1e-4..1e16.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    if (-4..16).contains(&exp) {
        let mut s = f.to_string();
        if !s.contains('.') {
            s.push_str(".0");
        }
        s
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// Python's `repr(str)`: single quotes unless the text has a single quote and no double quote.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let code = c as u32;
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's type name for a value, as Ansible's `type_debug` and error messages show it.
pub fn type_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Map => "dict",
        ValueKind::Seq | ValueKind::Iterable => "list",
        _ if crate::datetime::as_datetime(value).is_some() => "datetime",
        _ => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_follow_python_repr() {
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(1.5), "1.5");
        assert_eq!(float_repr(0.1), "0.1");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(2.5e20), "2.5e+20");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(0.00001), "1e-05");
        assert_eq!(float_repr(-1.25e-7), "-1.25e-07");
        assert_eq!(float_repr(f64::INFINITY), "inf");
        assert_eq!(float_repr(f64::NAN), "nan");
    }

    #[test]
    fn strings_follow_python_repr() {
        assert_eq!(str_repr("a"), "'a'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a\"b'c"), "'a\"b\\'c'");
        assert_eq!(str_repr("x\ny\\"), "'x\\ny\\\\'");
        assert_eq!(str_repr("\u{1}"), "'\\x01'");
    }

    #[test]
    fn containers_print_like_python() {
        let v = crate::json_to_value(&serde_json::json!({"k": [true, null, "a", 1, 1.5]}));
        assert_eq!(
            py_str(&v).ok().as_deref(),
            Some("{'k': [True, None, 'a', 1, 1.5]}")
        );
        assert_eq!(py_output(&Value::from(())).ok().as_deref(), Some(""));
        assert_eq!(py_str(&Value::from(())).ok().as_deref(), Some("None"));
    }
}
