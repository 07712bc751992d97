//! Ansible's Jinja tests (`is succeeded`, `is version`, `is match`, ...) and Python-faithful type tests.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};
use serde_json::Value as Json;

use crate::filters::{
    compile_regex, convert_bool, err, require_defined, text_of, to_json_value, Args, RestArgs,
};
use crate::version::version_compare;

type TestResult = Result<bool, Error>;

pub fn register(env: &mut Environment<'static>) {
    env.add_test("failed", |v: &Value| result_flag(v, "failed"));
    env.add_test("failure", |v: &Value| result_flag(v, "failed"));
    env.add_test("succeeded", |v: &Value| {
        result_flag(v, "failed").map(|f| !f)
    });
    env.add_test("success", |v: &Value| result_flag(v, "failed").map(|f| !f));
    env.add_test("successful", |v: &Value| {
        result_flag(v, "failed").map(|f| !f)
    });
    env.add_test("changed", changed);
    env.add_test("change", changed);
    env.add_test("skipped", |v: &Value| result_flag(v, "skipped"));
    env.add_test("skip", |v: &Value| result_flag(v, "skipped"));
    env.add_test("unreachable", |v: &Value| result_flag(v, "unreachable"));
    env.add_test("reachable", |v: &Value| {
        result_flag(v, "unreachable").map(|f| !f)
    });

    env.add_test("match", |v: &Value, rest: RestArgs| {
        regex_test("match", v, rest)
    });
    env.add_test("search", |v: &Value, rest: RestArgs| {
        regex_test("search", v, rest)
    });
    env.add_test("regex", |v: &Value, rest: RestArgs| {
        regex_test("regex", v, rest)
    });

    env.add_test("version", version);
    env.add_test("version_compare", version);

    env.add_test("subset", subset);
    env.add_test("issubset", subset);
    env.add_test("superset", |a: &Value, b: &Value| subset(b, a));
    env.add_test("issuperset", |a: &Value, b: &Value| subset(b, a));
    env.add_test("contains", contains);

    env.add_test("truthy", |v: &Value, rest: RestArgs| truthy(v, rest));
    env.add_test("falsy", |v: &Value, rest: RestArgs| {
        truthy(v, rest).map(|t| !t)
    });
    env.add_test("any", |v: &Value| any_all(v, true));
    env.add_test("all", |v: &Value| any_all(v, false));
    env.add_test("nan", is_nan);
    env.add_test("isnan", is_nan);

    // Python's answers for the type tests: strings and dicts are sequences, booleans are
    // numbers but not integers, and asking about an undefined value is an error.
    env.add_test("sequence", |v: &Value| {
        require_defined(v)?;
        Ok(matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::Map | ValueKind::String | ValueKind::Bytes
        ))
    });
    env.add_test("iterable", |v: &Value| {
        require_defined(v)?;
        Ok(matches!(
            v.kind(),
            ValueKind::Seq
                | ValueKind::Map
                | ValueKind::String
                | ValueKind::Bytes
                | ValueKind::Iterable
        ))
    });
    env.add_test("integer", |v: &Value| Ok::<_, Error>(v.is_integer()));
    env.add_test("number", |v: &Value| {
        Ok::<_, Error>(matches!(v.kind(), ValueKind::Number | ValueKind::Bool))
    });
}

/// The registered-result tests require a dict, as Ansible's do.
fn result_dict(v: &Value, test: &str) -> Result<serde_json::Map<String, Json>, Error> {
    require_defined(v)?;
    match to_json_value(v)? {
        Json::Object(map) => Ok(map),
        _ => Err(err(format!("The '{test}' test expects a dictionary"))),
    }
}

fn json_truthy(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
    }
}

fn result_flag(v: &Value, key: &str) -> TestResult {
    let map = result_dict(v, key)?;
    Ok(map.get(key).is_some_and(json_truthy))
}

fn changed(v: &Value) -> TestResult {
    let map = result_dict(v, "changed")?;
    if let Some(flag) = map.get("changed") {
        return Ok(json_truthy(flag));
    }
    // A looped task's result carries per-item results and no top-level `changed`.
    if let Some(Json::Array(results)) = map.get("results") {
        if results.first().is_some_and(Json::is_object) {
            return Ok(results
                .iter()
                .any(|r| r.get("changed").is_some_and(json_truthy)));
        }
    }
    Ok(false)
}

fn regex_test(name: &str, v: &Value, rest: RestArgs) -> TestResult {
    require_defined(v)?;
    let filter: &'static str = match name {
        "match" => "match",
        "search" => "search",
        _ => "regex",
    };
    let mut args = Args::new(
        filter,
        rest.into_values(),
        &["pattern", "ignorecase", "multiline", "match_type"],
    )?;
    let pattern = args.string(0)?.unwrap_or_default();
    let ignorecase = args.flag(1)?;
    let multiline = args.flag(2)?;
    let match_type = match name {
        "match" => "match".to_string(),
        "search" => "search".to_string(),
        _ => args.string(3)?.unwrap_or_else(|| "search".into()),
    };
    args.finish()?;
    let text = text_of(v)?;
    // `re.match` anchors at the start of the text (not of a line), `re.fullmatch` at both ends.
    let pattern = match match_type.as_str() {
        "match" => format!(r"\A(?:{pattern})"),
        "fullmatch" => format!(r"\A(?:{pattern})\z"),
        _ => pattern,
    };
    Ok(compile_regex(&pattern, ignorecase, multiline)?.is_match(&text))
}

fn version(v: &Value, rest: RestArgs) -> TestResult {
    require_defined(v)?;
    let mut args = Args::new(
        "version",
        rest.into_values(),
        &["version", "operator", "strict", "version_type"],
    )?;
    let version = args.string(0)?.unwrap_or_default();
    let operator = args.string(1)?.unwrap_or_else(|| "eq".into());
    let strict = args.flag(2)?;
    let version_type = args.string(3)?;
    args.finish()?;
    let value = if v.is_none() {
        String::new()
    } else {
        text_of(v)?
    };
    version_compare(&value, &version, &operator, strict, version_type.as_deref()).map_err(err)
}

fn items_of(v: &Value) -> Result<Vec<Json>, Error> {
    require_defined(v)?;
    Ok(match to_json_value(v)? {
        Json::Array(items) => items,
        Json::Object(map) => map.keys().map(|k| Json::String(k.clone())).collect(),
        Json::String(s) => s.chars().map(|c| Json::String(c.to_string())).collect(),
        other => {
            return Err(err(format!(
                "'{}' object is not iterable",
                crate::pyfmt::type_name(&crate::json_to_value(&other))
            )))
        }
    })
}

fn subset(a: &Value, b: &Value) -> TestResult {
    let (a, b) = (items_of(a)?, items_of(b)?);
    Ok(a.iter().all(|x| b.contains(x)))
}

fn contains(seq: &Value, item: &Value) -> TestResult {
    require_defined(seq)?;
    require_defined(item)?;
    if let (Some(haystack), Some(needle)) = (seq.as_str(), item.as_str()) {
        return Ok(haystack.contains(needle));
    }
    let needle = to_json_value(item)?;
    Ok(items_of(seq)?.contains(&needle))
}

fn truthy(v: &Value, rest: RestArgs) -> TestResult {
    require_defined(v)?;
    let mut args = Args::new("truthy", rest.into_values(), &["convert_bool"])?;
    let convert = args.flag(0)?;
    args.finish()?;
    if convert {
        if let Some(b) = convert_bool(v) {
            return Ok(b);
        }
    }
    Ok(v.is_true())
}

fn any_all(v: &Value, any: bool) -> TestResult {
    let items = items_of(v)?;
    Ok(if any {
        items.iter().any(json_truthy)
    } else {
        items.iter().all(json_truthy)
    })
}

fn is_nan(v: &Value) -> TestResult {
    require_defined(v)?;
    Ok(v.kind() == ValueKind::Number
        && !v.is_integer()
        && f64::try_from(v.clone()).is_ok_and(f64::is_nan))
}
