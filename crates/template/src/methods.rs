//! Python methods on values (`'a,b'.split(',')`, `items.index(x)`), beyond minijinja-contrib's pycompat set.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

use crate::filters::center;

/// The unknown-method callback: a few methods pycompat lacks, then pycompat itself.
pub fn call_method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let Some(result) = extra_method(value, method, args) {
        return result;
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

fn arg_str(args: &[Value], idx: usize) -> Option<String> {
    args.get(idx).and_then(|v| v.as_str().map(str::to_string))
}

fn arg_usize(args: &[Value], idx: usize) -> Option<usize> {
    args.get(idx).and_then(Value::as_usize)
}

fn extra_method(value: &Value, method: &str, args: &[Value]) -> Option<Result<Value, Error>> {
    match (value.kind(), method) {
        (ValueKind::Seq, "index") => {
            let needle = args.first()?;
            let found = value.try_iter().ok()?.position(|item| &item == needle);
            Some(found.map(Value::from).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("{needle} is not in list"),
                )
            }))
        }
        (ValueKind::Seq, "copy") | (ValueKind::Map, "copy") => Some(Ok(value.clone())),
        (ValueKind::String, _) => {
            let s = value.as_str()?;
            let out = match method {
                "index" => {
                    let sub = arg_str(args, 0)?;
                    return Some(
                        s.find(&sub)
                            .map(|i| Value::from(s[..i].chars().count()))
                            .ok_or_else(|| {
                                Error::new(ErrorKind::InvalidOperation, "substring not found")
                            }),
                    );
                }
                "rsplit" => {
                    let sep = arg_str(args, 0);
                    let max = args.get(1).and_then(Value::as_i64).unwrap_or(-1);
                    let mut parts: Vec<String> = match (&sep, usize::try_from(max)) {
                        (Some(sep), Ok(n)) => {
                            s.rsplitn(n + 1, sep.as_str()).map(str::to_string).collect()
                        }
                        (Some(sep), Err(_)) => s.rsplit(sep.as_str()).map(str::to_string).collect(),
                        (None, _) => s.split_whitespace().rev().map(str::to_string).collect(),
                    };
                    parts.reverse();
                    Value::from(parts)
                }
                "zfill" => {
                    let width = arg_usize(args, 0)?;
                    let len = s.chars().count();
                    if len >= width {
                        Value::from(s)
                    } else {
                        let (sign, digits) = match s.strip_prefix(['-', '+']) {
                            Some(rest) => (&s[..1], rest),
                            None => ("", s),
                        };
                        Value::from(format!("{sign}{}{digits}", "0".repeat(width - len)))
                    }
                }
                "center" => Value::from(center(s, arg_usize(args, 0)?)),
                "ljust" => {
                    let width = arg_usize(args, 0)?;
                    Value::from(format!("{s:<width$}"))
                }
                "rjust" => {
                    let width = arg_usize(args, 0)?;
                    Value::from(format!("{s:>width$}"))
                }
                "isspace" => Value::from(!s.is_empty() && s.chars().all(char::is_whitespace)),
                "removeprefix" => {
                    let p = arg_str(args, 0)?;
                    Value::from(s.strip_prefix(p.as_str()).unwrap_or(s))
                }
                "removesuffix" => {
                    let p = arg_str(args, 0)?;
                    Value::from(s.strip_suffix(p.as_str()).unwrap_or(s))
                }
                "partition" => {
                    let sep = arg_str(args, 0)?;
                    let parts = match s.split_once(sep.as_str()) {
                        Some((a, b)) => vec![a.to_string(), sep, b.to_string()],
                        None => vec![s.to_string(), String::new(), String::new()],
                    };
                    Value::from(parts)
                }
                _ => return None,
            };
            Some(Ok(out))
        }
        _ => None,
    }
}
