//! The rest of ansible-core's filters and tests: password hashes, dates, randomness, controller
//! paths and file tests, URLs, sizes, itertools; and the `ansible.builtin.`/`ansible.legacy.`
//! names of every filter and test.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, State};
use serde_json::{Map, Value as Json};

use crate::crypt::{self, Scheme};
use crate::datetime::{strftime_filter, to_datetime_filter};
use crate::filters::{
    err, list_of, python_int, require_defined, text_of, to_json_value, Args, RestArgs,
};
use crate::lookup::paths::{abspath, glob, normpath};
use crate::pyfmt::type_name;
use crate::pyrandom::{MersenneTwister, PyRng, Seed, SystemRandom};

type FilterResult = Result<Value, Error>;
type TestResult = Result<bool, Error>;

/// Filter names of ansible-core 2.19 (`ansible.builtin`) and Jinja2 that tend does not provide,
/// so that a template using one is refused with a clear reason rather than "unknown".
pub const UNSUPPORTED_FILTERS: &[&str] = &[
    "from_yaml_all",
    "win_basename",
    "win_dirname",
    "win_splitdrive",
];

/// Every filter name of ansible-core 2.19 and Jinja2, for the `ansible.builtin.` aliases.
const ANSIBLE_FILTERS: &[&str] = &[
    "abs",
    "attr",
    "b64decode",
    "b64encode",
    "basename",
    "batch",
    "bool",
    "capitalize",
    "center",
    "checksum",
    "combinations",
    "combine",
    "comment",
    "commonpath",
    "count",
    "d",
    "default",
    "dict2items",
    "dictsort",
    "difference",
    "dirname",
    "e",
    "escape",
    "expanduser",
    "expandvars",
    "extract",
    "fileglob",
    "filesizeformat",
    "first",
    "flatten",
    "float",
    "forceescape",
    "format",
    "from_json",
    "from_yaml",
    "groupby",
    "hash",
    "human_readable",
    "human_to_bytes",
    "indent",
    "int",
    "intersect",
    "items",
    "items2dict",
    "join",
    "last",
    "length",
    "list",
    "log",
    "lower",
    "mandatory",
    "map",
    "max",
    "md5",
    "min",
    "normpath",
    "password_hash",
    "path_join",
    "permutations",
    "pow",
    "pprint",
    "product",
    "quote",
    "random",
    "realpath",
    "regex_escape",
    "regex_findall",
    "regex_replace",
    "regex_search",
    "reject",
    "rejectattr",
    "rekey_on_member",
    "relpath",
    "replace",
    "reverse",
    "root",
    "round",
    "safe",
    "select",
    "selectattr",
    "sha1",
    "shuffle",
    "slice",
    "sort",
    "split",
    "splitext",
    "strftime",
    "string",
    "striptags",
    "subelements",
    "sum",
    "symmetric_difference",
    "ternary",
    "title",
    "to_datetime",
    "to_json",
    "to_nice_json",
    "to_nice_yaml",
    "to_uuid",
    "to_yaml",
    "tojson",
    "trim",
    "truncate",
    "type_debug",
    "union",
    "unique",
    "upper",
    "urldecode",
    "urlencode",
    "urlize",
    "urlsplit",
    "unvault",
    "vault",
    "wordcount",
    "wordwrap",
    "xmlattr",
    "zip",
    "zip_longest",
];

/// Every test name of ansible-core 2.19 and Jinja2 (operators excluded).
const ANSIBLE_TESTS: &[&str] = &[
    "abs",
    "all",
    "any",
    "boolean",
    "callable",
    "change",
    "changed",
    "contains",
    "defined",
    "directory",
    "divisibleby",
    "eq",
    "equalto",
    "escaped",
    "even",
    "exists",
    "failed",
    "failure",
    "false",
    "falsy",
    "file",
    "filter",
    "finished",
    "float",
    "ge",
    "greaterthan",
    "gt",
    "in",
    "integer",
    "is_abs",
    "is_dir",
    "is_file",
    "is_link",
    "is_mount",
    "is_same_file",
    "isnan",
    "issubset",
    "issuperset",
    "iterable",
    "le",
    "lessthan",
    "link",
    "link_exists",
    "lower",
    "lt",
    "mapping",
    "match",
    "mount",
    "nan",
    "ne",
    "none",
    "number",
    "odd",
    "reachable",
    "regex",
    "same_file",
    "sameas",
    "search",
    "sequence",
    "skip",
    "skipped",
    "started",
    "string",
    "subset",
    "succeeded",
    "success",
    "successful",
    "superset",
    "test",
    "timedout",
    "true",
    "truthy",
    "undefined",
    "unreachable",
    "upper",
    "uri",
    "url",
    "urn",
    "vault_encrypted",
    "vaulted_file",
    "version",
    "version_compare",
];

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("password_hash", password_hash);
    env.add_filter("to_datetime", to_datetime_filter);
    env.add_filter("strftime", strftime_filter);
    env.add_filter("fileglob", |v: &Value| -> FilterResult {
        let pattern = text_of(v)?;
        let found: Vec<Value> = glob(&pattern)
            .into_iter()
            .filter(|p| Path::new(p).is_file())
            .map(Value::from)
            .collect();
        Ok(Value::from(found))
    });
    env.add_filter("combinations", |v: &Value, r: &Value| -> FilterResult {
        let items = list_of(v)?;
        let r = count_arg(r, "combinations")?;
        Ok(json_rows(combinations(&items, r)))
    });
    env.add_filter(
        "permutations",
        |v: &Value, rest: RestArgs| -> FilterResult {
            let items = list_of(v)?;
            let mut args = Args::new("permutations", rest.into_values(), &["r"])?;
            let r = match args.get(0) {
                Some(r) if !r.is_none() => count_arg(&r, "permutations")?,
                _ => items.len(),
            };
            args.finish()?;
            Ok(json_rows(permutations(&items, r)))
        },
    );
    env.add_filter("human_readable", human_readable);
    env.add_filter("human_to_bytes", human_to_bytes);
    env.add_filter("random", random_filter);
    env.add_filter("shuffle", shuffle_filter);
    env.add_filter("expandvars", |v: &Value| -> FilterResult {
        Ok(Value::from(expandvars(&text_of(v)?)))
    });
    env.add_filter("normpath", |v: &Value| -> FilterResult {
        Ok(Value::from(normpath(&text_of(v)?)))
    });
    env.add_filter("realpath", |v: &Value| -> FilterResult {
        Ok(Value::from(realpath(&text_of(v)?)))
    });
    env.add_filter("relpath", |v: &Value, rest: RestArgs| -> FilterResult {
        let path = text_of(v)?;
        let mut args = Args::new("relpath", rest.into_values(), &["start"])?;
        let start = args.string(0)?.unwrap_or_else(|| ".".into());
        args.finish()?;
        relpath(&path, &start).map(Value::from)
    });
    env.add_filter("commonpath", commonpath);
    env.add_filter("urlsplit", urlsplit_filter);
    env.add_filter("urldecode", |v: &Value| -> FilterResult {
        Ok(Value::from(unquote_plus(&text_of(v)?)))
    });
    env.add_filter("urlencode", urlencode);
    env.add_filter("rekey_on_member", rekey_on_member);
    // With auto-escaping off minijinja's `escape` leaves text alone; Jinja2's always escapes
    // (markupsafe), marking the result safe so that it is not escaped twice.
    let escape = |force: bool| {
        move |v: &Value| -> FilterResult {
            require_defined(v)?;
            if !force && v.is_safe() {
                return Ok(v.clone());
            }
            Ok(Value::from_safe_string(html_escape(&text_of(v)?)))
        }
    };
    env.add_filter("escape", escape(false));
    env.add_filter("e", escape(false));
    env.add_filter("forceescape", escape(true));

    let file_test = |check: fn(&Path) -> bool| {
        move |v: &Value| -> TestResult { Ok(check(Path::new(&text_of(v)?))) }
    };
    for (name, check) in [
        ("file", Path::is_file as fn(&Path) -> bool),
        ("is_file", Path::is_file),
        ("directory", Path::is_dir),
        ("is_dir", Path::is_dir),
        ("exists", Path::exists),
        ("link", Path::is_symlink),
        ("is_link", Path::is_symlink),
        ("link_exists", |p: &Path| p.symlink_metadata().is_ok()),
        ("abs", |p: &Path| p.to_string_lossy().starts_with('/')),
        ("is_abs", |p: &Path| p.to_string_lossy().starts_with('/')),
        ("mount", is_mount),
        ("is_mount", is_mount),
    ] {
        env.add_test(name, file_test(check));
    }
    env.add_test("same_file", same_file);
    env.add_test("is_same_file", same_file);
    env.add_test("vaulted_file", |v: &Value| -> TestResult {
        let path = text_of(v)?;
        let mut head = [0u8; 14];
        use std::io::Read;
        let read = std::fs::File::open(&path).and_then(|mut f| f.read(&mut head));
        match read {
            Ok(n) => Ok(head[..n] == b"$ANSIBLE_VAULT"[..]),
            Err(_) => Err(err(format!(
                "Cannot test if the file {} is a vault.",
                crate::pyfmt::str_repr(&path)
            ))),
        }
    });
    // Vaulted values are decrypted when loaded and `vault` returns plain text (tend's values
    // carry no `VaultedValue` tag): no value is ever an encrypted vault value.
    env.add_test("vault_encrypted", |v: &Value| -> TestResult {
        require_defined(v)?;
        Ok(false)
    });
    env.add_test("finished", |v: &Value| async_flag(v, "finished"));
    env.add_test("started", |v: &Value| async_flag(v, "started"));
    env.add_test("timedout", |v: &Value| -> TestResult {
        let result = result_map(v, "timedout")?;
        Ok(match result.get("timedout") {
            Some(Json::Object(t)) => t.get("period").is_some_and(json_truthy),
            Some(other) if json_truthy(other) => {
                return Err(err(
                    "The 'timedout' test expects 'timedout' to be a dictionary",
                ))
            }
            _ => false,
        })
    });
    env.add_test("uri", |v: &Value, rest: RestArgs| uri_test(v, rest, false));
    env.add_test("url", |v: &Value, rest: RestArgs| uri_test(v, rest, true));
    env.add_test("urn", |v: &Value| -> TestResult {
        let text = text_of(v)?;
        Ok(urlsplit(&text).is_some_and(|u| u.scheme == "urn"))
    });
    // Values from variables are data; only template functions (`lookup`, `range`) are callable.
    env.add_test("callable", |v: &Value| -> TestResult {
        require_defined(v)?;
        Ok(v.kind() == ValueKind::Plain && crate::datetime::as_datetime(v).is_none())
    });
}

/// `ansible.builtin.X` and `ansible.legacy.X` for every filter and test tend has.
pub fn register_fqcn_aliases(env: &mut Environment<'static>) {
    let (filters, tests): (Vec<&'static str>, Vec<&'static str>) = {
        let state = env.empty_state();
        (
            ANSIBLE_FILTERS
                .iter()
                .copied()
                .filter(|name| minijinja::tests::is_filter(&state, name))
                .collect(),
            ANSIBLE_TESTS
                .iter()
                .copied()
                .filter(|name| minijinja::tests::is_test(&state, name))
                .collect(),
        )
    };
    for prefix in ["ansible.builtin.", "ansible.legacy."] {
        for name in &filters {
            let name: &'static str = name;
            env.add_filter(
                format!("{prefix}{name}"),
                move |state: &mut State, args: RestArgs| -> FilterResult {
                    state.apply_filter(name, &args.into_values())
                },
            );
        }
        for name in &tests {
            let name: &'static str = name;
            env.add_test(
                format!("{prefix}{name}"),
                move |state: &mut State, args: RestArgs| -> TestResult {
                    state.perform_test(name, &args.into_values())
                },
            );
        }
    }
}

// ---------------------------------------------------------------- password_hash

/// `password_hash(hashtype='sha512', salt=None, salt_size=None, rounds=None, ident=None)`.
fn password_hash(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let Some(secret) = v.as_str() else {
        return Err(err(format!(
            "secret must be unicode or bytes, not {}",
            type_name(v)
        )));
    };
    let mut args = Args::new(
        "password_hash",
        rest.into_values(),
        &["hashtype", "salt", "salt_size", "rounds", "ident"],
    )?;
    let hashtype = args.string(0)?.unwrap_or_else(|| "sha512".into());
    let salt = args.string(1)?.filter(|s| !s.is_empty());
    let salt_size = args.int(2)?;
    let rounds = args.int(3)?.filter(|r| *r != 0);
    let ident = args.string(4)?.filter(|i| !i.is_empty());
    args.finish()?;
    let Some(scheme) = Scheme::from_name(&hashtype) else {
        return Err(err(format!(
            "{hashtype} is not in the list of supported passlib algorithms: md5, blowfish, sha256, sha512"
        )));
    };
    let salt_size = salt_size
        .map(|s| usize::try_from(s).map_err(|_| err("salt_size must be a positive integer")))
        .transpose()?;
    let rounds = rounds
        .map(|r| u32::try_from(r).map_err(|_| err(format!("invalid rounds value {r}"))))
        .transpose()?;
    crypt::hash(
        scheme,
        secret,
        salt.as_deref(),
        salt_size,
        rounds,
        ident.as_deref(),
    )
    .map(Value::from)
    .map_err(|e| err(format!("Could not hash the secret: {e}")))
}

// ---------------------------------------------------------------- itertools

fn count_arg(v: &Value, filter: &str) -> Result<usize, Error> {
    require_defined(v)?;
    python_int(v, 10)
        .and_then(|i| usize::try_from(i).ok())
        .ok_or_else(|| err(format!("{filter}: r must be a non-negative integer")))
}

fn json_rows(rows: Vec<Vec<Json>>) -> Value {
    crate::json_to_value(&Json::Array(rows.into_iter().map(Json::Array).collect()))
}

/// `itertools.combinations(items, r)`, in its order.
fn combinations(items: &[Json], r: usize) -> Vec<Vec<Json>> {
    let n = items.len();
    if r > n {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut idx: Vec<usize> = (0..r).collect();
    loop {
        out.push(idx.iter().map(|i| items[*i].clone()).collect());
        let Some(i) = (0..r).rev().find(|&i| idx[i] != i + n - r) else {
            return out;
        };
        idx[i] += 1;
        for j in i + 1..r {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

/// `itertools.permutations(items, r)`, in its order.
fn permutations(items: &[Json], r: usize) -> Vec<Vec<Json>> {
    let n = items.len();
    if r > n {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut indices: Vec<usize> = (0..n).collect();
    let mut cycles: Vec<usize> = (0..r).map(|i| n - i).collect();
    out.push(indices[..r].iter().map(|i| items[*i].clone()).collect());
    if n == 0 {
        return out;
    }
    'outer: loop {
        for i in (0..r).rev() {
            cycles[i] -= 1;
            if cycles[i] == 0 {
                let moved = indices.remove(i);
                indices.push(moved);
                cycles[i] = n - i;
            } else {
                let j = cycles[i];
                indices.swap(i, n - j);
                out.push(indices[..r].iter().map(|k| items[*k].clone()).collect());
                continue 'outer;
            }
        }
        return out;
    }
}

// ---------------------------------------------------------------- sizes

const SIZE_RANGES: [(char, f64); 9] = [
    ('Y', 1_208_925_819_614_629_174_706_176.0),
    ('Z', 1_180_591_620_717_411_303_424.0),
    ('E', 1_152_921_504_606_846_976.0),
    ('P', 1_125_899_906_842_624.0),
    ('T', 1_099_511_627_776.0),
    ('G', 1_073_741_824.0),
    ('M', 1_048_576.0),
    ('K', 1024.0),
    ('B', 1.0),
];

/// `human_readable(size, isbits=False, unit=None)`: `bytes_to_human`.
fn human_readable(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new("human_readable", rest.into_values(), &["isbits", "unit"])?;
    let isbits = args.flag(0)?;
    let unit = args.string(1)?;
    args.finish()?;
    let size = match v.kind() {
        ValueKind::Number | ValueKind::Bool => f64::try_from(v.clone()).ok(),
        ValueKind::String => v.as_str().and_then(|s| s.trim().parse::<f64>().ok()),
        _ => None,
    }
    .ok_or_else(|| err("human_readable() failed on bad input"))?;
    let wanted = unit
        .as_deref()
        .and_then(|u| u.chars().next())
        .map(|c| c.to_ascii_uppercase());
    let (suffix, limit) = SIZE_RANGES
        .iter()
        .copied()
        .find(|(suffix, limit)| match wanted {
            Some(w) => w == *suffix,
            None => size >= *limit,
        })
        .unwrap_or(('B', 1.0));
    let base = if isbits { "bits" } else { "Bytes" };
    let suffix = if limit == 1.0 {
        base.to_string()
    } else {
        format!("{suffix}{}", &base[..1])
    };
    Ok(Value::from(format!("{:.2} {suffix}", size / limit)))
}

/// `human_to_bytes(size, default_unit=None, isbits=False)`.
fn human_to_bytes(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "human_to_bytes",
        rest.into_values(),
        &["default_unit", "isbits"],
    )?;
    let default_unit = args.string(0)?;
    let isbits = args.flag(1)?;
    args.finish()?;
    let text = text_of(v)?;
    let bad = |detail: String| {
        err(format!(
            "human_to_bytes() can't interpret the input: {detail}"
        ))
    };
    let re = regex::Regex::new(r"^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$")
        .map_err(|e| err(e.to_string()))?;
    let caps = re.captures(&text).ok_or_else(|| {
        bad(format!(
            "human_to_bytes() can't interpret following string: {text}"
        ))
    })?;
    let number = caps.get(1).map_or("", |m| m.as_str());
    let num: f64 = number.parse().map_err(|_| {
        bad(format!(
            "human_to_bytes() can't interpret following number: {number} (original input string: {text})"
        ))
    })?;
    let unit = caps.get(2).map(|m| m.as_str().to_string()).or(default_unit);
    let Some(unit) = unit else {
        return Ok(Value::from(num.round() as i64));
    };
    let range_key = unit
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or(' ');
    let Some(limit) = SIZE_RANGES
        .iter()
        .find(|(suffix, _)| *suffix == range_key)
        .map(|(_, limit)| *limit)
    else {
        return Err(bad(format!(
            "human_to_bytes() failed to convert {text} (unit = {unit}). The suffix must be one of Y, Z, E, P, T, G, M, K, B"
        )));
    };
    if unit.chars().count() > 1 {
        let (class, class_name) = if isbits { ('b', "bit") } else { ('B', "byte") };
        let long = match range_key {
            'B' => class_name.to_string(),
            key => {
                let prefix = match key {
                    'K' => "kilo",
                    'M' => "mega",
                    'G' => "giga",
                    'T' => "tera",
                    'P' => "peta",
                    'E' => "exa",
                    'Z' => "zeta",
                    _ => "yotta",
                };
                format!("{prefix}{class_name}")
            }
        };
        let short = if range_key == 'B' {
            class.to_string()
        } else {
            format!("{range_key}{class}")
        };
        if unit.to_lowercase() != long && unit != short {
            let expect = if range_key == 'B' {
                format!("expect {class} or {class_name}")
            } else {
                format!("expect {range_key}{class} or {range_key}")
            };
            return Err(bad(format!(
                "human_to_bytes() failed to convert {text}. Value is not a valid string ({expect})"
            )));
        }
    }
    Ok(Value::from((num * limit).round() as i64))
}

// ---------------------------------------------------------------- randomness

fn seeded(seed: &Value) -> Result<MersenneTwister, Error> {
    require_defined(seed)?;
    let text;
    let seed = match seed.kind() {
        ValueKind::Number if seed.is_integer() => {
            Seed::Int(i128::try_from(seed.clone()).map_err(|e| err(e.to_string()))?)
        }
        ValueKind::Bool => Seed::Int(i128::from(seed.is_true())),
        ValueKind::String => {
            text = seed.as_str().unwrap_or_default().to_string();
            Seed::Text(&text)
        }
        _ => {
            return Err(err(format!(
                "tend cannot seed Python's random with a {}; use a string or an integer",
                type_name(seed)
            )))
        }
    };
    Ok(MersenneTwister::new(seed))
}

/// `random(end, start=None, step=None, seed=None)`: a number of `range(start, end, step)` or
/// an element of a list, reproducible with a seed.
fn random_filter(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new("random", rest.into_values(), &["start", "step", "seed"])?;
    let start = args.int(0)?;
    let step = args.int(1)?;
    let seed = args.get(2).filter(|s| !s.is_none());
    args.finish()?;
    let mut seeded_rng = seed.as_ref().map(seeded).transpose()?;
    let mut system = SystemRandom;
    let rng: &mut dyn DynRng = match seeded_rng.as_mut() {
        Some(rng) => rng,
        None => &mut system,
    };
    let out = if v.is_integer() || v.kind() == ValueKind::Bool {
        let end = python_int(v, 10).unwrap_or(0);
        let start = start.filter(|s| *s != 0).unwrap_or(0);
        let step = step.filter(|s| *s != 0).unwrap_or(1);
        Value::from(rng.dyn_randrange(start, end, step).map_err(err)?)
    } else if matches!(
        v.kind(),
        ValueKind::Seq | ValueKind::String | ValueKind::Map
    ) {
        if start.is_some_and(|s| s != 0) || step.is_some_and(|s| s != 0) {
            return Err(err("start and step can only be used with integer values"));
        }
        let items = list_of(v)?;
        let idx = rng.dyn_choice(items.len()).map_err(err)?;
        crate::json_to_value(&items[idx])
    } else {
        return Err(err("random can only be used on sequences and integers"));
    };
    Ok(out)
}

/// `shuffle(seed=None)`: a falsy seed shuffles unseeded, as in Ansible.
fn shuffle_filter(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new("shuffle", rest.into_values(), &["seed"])?;
    let seed = args.get(0).filter(|s| s.is_true());
    args.finish()?;
    let Ok(mut items) = list_of(v) else {
        return Ok(v.clone());
    };
    match seed {
        Some(seed) => seeded(&seed)?.shuffle(&mut items).map_err(err)?,
        None => SystemRandom.shuffle(&mut items).map_err(err)?,
    }
    Ok(crate::json_to_value(&Json::Array(items)))
}

/// Object-safe view of [`PyRng`], whose `shuffle` is generic.
trait DynRng {
    fn dyn_randrange(&mut self, start: i64, stop: i64, step: i64) -> Result<i64, String>;
    fn dyn_choice(&mut self, len: usize) -> Result<usize, String>;
}

impl<T: PyRng> DynRng for T {
    fn dyn_randrange(&mut self, start: i64, stop: i64, step: i64) -> Result<i64, String> {
        self.randrange(start, stop, step)
    }

    fn dyn_choice(&mut self, len: usize) -> Result<usize, String> {
        self.choice_index(len)
    }
}

// ---------------------------------------------------------------- controller paths

/// `os.path.expandvars`: `$name` and `${name}` of set variables; the rest is left as written.
fn expandvars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match std::env::var(name) {
            Ok(value) if !name.is_empty() => {
                out.push_str(&value);
                rest = &after[consumed..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `os.path.realpath`: links resolved as far as the path exists.
fn realpath(path: &str) -> String {
    let absolute = abspath(path);
    let mut existing = std::path::PathBuf::from(&absolute);
    let mut tail: Vec<String> = Vec::new();
    loop {
        if let Ok(resolved) = existing.canonicalize() {
            let mut out = resolved;
            for part in tail.iter().rev() {
                out.push(part);
            }
            return normpath(&out.to_string_lossy());
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                tail.push(name.to_string_lossy().into_owned());
                existing = parent.to_path_buf();
            }
            _ => return absolute,
        }
    }
}

/// `os.path.relpath(path, start)`.
fn relpath(path: &str, start: &str) -> Result<String, Error> {
    if path.is_empty() {
        return Err(err("no path specified"));
    }
    let split = |p: &str| -> Vec<String> {
        abspath(p)
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let target = split(path);
    let base = split(start);
    let common = target.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); base.len() - common];
    parts.extend(target[common..].iter().cloned());
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

/// `os.path.commonpath(paths)`.
fn commonpath(v: &Value) -> FilterResult {
    require_defined(v)?;
    if !matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        return Err(err(format!(
            "|commonpath expects sequence, got {} instead.",
            type_name(v)
        )));
    }
    let paths: Vec<String> = v
        .try_iter()?
        .map(|p| text_of(&p))
        .collect::<Result<_, _>>()?;
    let Some(first) = paths.first() else {
        return Err(err("commonpath() arg is an empty sequence"));
    };
    let absolute = first.starts_with('/');
    if paths.iter().any(|p| p.starts_with('/') != absolute) {
        return Err(err("Can't mix absolute and relative paths"));
    }
    let split: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| {
            p.split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .collect()
        })
        .collect();
    let mut common: Vec<&str> = split[0].clone();
    for parts in &split[1..] {
        let n = common.iter().zip(parts).take_while(|(a, b)| a == b).count();
        common.truncate(n);
    }
    let joined = common.join("/");
    Ok(Value::from(if absolute {
        format!("/{joined}")
    } else {
        joined
    }))
}

fn is_mount(path: &Path) -> bool {
    let Ok(meta) = path.symlink_metadata() else {
        return false;
    };
    if meta.file_type().is_symlink() {
        return false;
    }
    let Ok(parent) = path.join("..").metadata() else {
        return false;
    };
    meta.dev() != parent.dev() || meta.ino() == parent.ino()
}

fn same_file(a: &Value, b: &Value) -> TestResult {
    let (a, b) = (text_of(a)?, text_of(b)?);
    let stat = |p: &str| {
        std::fs::metadata(p).map_err(|e| err(format!("same_file: cannot stat '{p}': {e}")))
    };
    let (ma, mb) = (stat(&a)?, stat(&b)?);
    Ok(ma.dev() == mb.dev() && ma.ino() == mb.ino())
}

// ---------------------------------------------------------------- task results

fn result_map(v: &Value, test: &str) -> Result<Map<String, Json>, Error> {
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

/// `finished`/`started`: a result without the key is not an async one and counts as done.
fn async_flag(v: &Value, key: &str) -> TestResult {
    let result = result_map(v, key)?;
    Ok(result.get(key).is_none_or(json_truthy))
}

// ---------------------------------------------------------------- URLs

/// `urllib.parse.urlsplit`'s result.
#[derive(Debug, Default, PartialEq)]
struct SplitUrl {
    scheme: String,
    netloc: String,
    path: String,
    query: String,
    fragment: String,
}

impl SplitUrl {
    /// The netloc's host part: after the credentials, without the port, lowercased.
    fn host_port(&self) -> (Option<String>, Option<&str>) {
        let hostinfo = self
            .netloc
            .rsplit_once('@')
            .map_or(self.netloc.as_str(), |(_, h)| h);
        let (host, port) = if let Some(rest) = hostinfo.strip_prefix('[') {
            match rest.split_once(']') {
                Some((host, after)) => (host, after.strip_prefix(':')),
                None => (rest, None),
            }
        } else {
            match hostinfo.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostinfo, None),
            }
        };
        let host = (!host.is_empty()).then(|| host.to_lowercase());
        (host, port)
    }

    fn credentials(&self) -> (Option<String>, Option<String>) {
        match self.netloc.rsplit_once('@') {
            Some((userinfo, _)) => match userinfo.split_once(':') {
                Some((user, password)) => (Some(user.to_string()), Some(password.to_string())),
                None => (Some(userinfo.to_string()), None),
            },
            None => (None, None),
        }
    }

    fn to_map(&self) -> Result<Map<String, Json>, String> {
        let (hostname, port) = self.host_port();
        let port = match port {
            None | Some("") => Json::Null,
            Some(p) => match p.parse::<u16>() {
                Ok(n) => Json::from(n),
                Err(_) => return Err(format!("Port could not be cast to integer value as '{p}'")),
            },
        };
        let (username, password) = self.credentials();
        let opt = |v: Option<String>| v.map_or(Json::Null, Json::String);
        // Alphabetical, as Ansible builds the dict from `dir()`.
        let mut map = Map::new();
        map.insert("fragment".into(), Json::String(self.fragment.clone()));
        map.insert("hostname".into(), opt(hostname));
        map.insert("netloc".into(), Json::String(self.netloc.clone()));
        map.insert("password".into(), opt(password));
        map.insert("path".into(), Json::String(self.path.clone()));
        map.insert("port".into(), port);
        map.insert("query".into(), Json::String(self.query.clone()));
        map.insert("scheme".into(), Json::String(self.scheme.clone()));
        map.insert("username".into(), opt(username));
        Ok(map)
    }
}

/// `urlsplit(url)`; `None` where Python raises (an unbalanced IPv6 bracket).
fn urlsplit(url: &str) -> Option<SplitUrl> {
    let url: String = url
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut out = SplitUrl::default();
    let mut rest = url.as_str();
    if let Some(colon) = rest.find(':') {
        let candidate = &rest[..colon];
        let valid = candidate
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if valid {
            out.scheme = candidate.to_lowercase();
            rest = &rest[colon + 1..];
        }
    }
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        out.netloc = after[..end].to_string();
        rest = &after[end..];
        if out.netloc.contains('[') != out.netloc.contains(']') {
            return None;
        }
    }
    if let Some((before, fragment)) = rest.split_once('#') {
        out.fragment = fragment.to_string();
        rest = before;
    }
    if let Some((before, query)) = rest.split_once('?') {
        out.query = query.to_string();
        rest = before;
    }
    out.path = rest.to_string();
    Some(out)
}

/// `urlsplit(query='')`: the whole dict, or one component of it.
fn urlsplit_filter(v: &Value, rest: RestArgs) -> FilterResult {
    let url = text_of(v)?;
    let mut args = Args::new("urlsplit", rest.into_values(), &["query"])?;
    let query = args.string(0)?.unwrap_or_default();
    args.finish()?;
    let parts = urlsplit(&url)
        .ok_or_else(|| err("Invalid IPv6 URL"))?
        .to_map()
        .map_err(err)?;
    if query.is_empty() {
        return Ok(crate::json_to_value(&Json::Object(parts)));
    }
    match parts.get(&query) {
        Some(value) => Ok(crate::json_to_value(value)),
        None => Err(err(format!("urlsplit: unknown URL component: {query}"))),
    }
}

/// The `uri`/`url` tests: anything `urlparse` accepts is a URI; a URL also needs a host (or
/// the `file` scheme). `schemes` restricts the scheme.
fn uri_test(v: &Value, rest: RestArgs, url: bool) -> TestResult {
    let text = text_of(v)?;
    let mut args = Args::new(
        if url { "url" } else { "uri" },
        rest.into_values(),
        &["schemes"],
    )?;
    let schemes = match args.get(0) {
        Some(s) if !s.is_none() => Some(list_of(&s)?),
        _ => None,
    };
    args.finish()?;
    let Some(parts) = urlsplit(&text) else {
        return Ok(false);
    };
    let scheme_ok = schemes
        .as_ref()
        .is_none_or(|s| s.is_empty() || s.contains(&Json::String(parts.scheme.clone())));
    Ok(scheme_ok && (!url || !parts.netloc.is_empty() || parts.scheme == "file"))
}

/// `urllib.parse.unquote_plus`.
fn unquote_plus(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Jinja2's `url_quote`: UTF-8 percent-encoding of all but unreserved characters (and `/`
/// outside query strings, where a space becomes `+`).
fn url_quote(text: &str, for_query: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) || (!for_query && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if for_query {
        out.replace("%20", "+")
    } else {
        out
    }
}

/// Jinja2's `urlencode`: a string is quoted; a dict or a list of pairs becomes a query string.
fn urlencode(v: &Value) -> FilterResult {
    require_defined(v)?;
    let pairs: Vec<(Value, Value)> = match v.kind() {
        ValueKind::String => return Ok(Value::from(url_quote(&text_of(v)?, false))),
        ValueKind::Map => v
            .try_iter()?
            .map(|k| {
                let value = v.get_item(&k)?;
                Ok((k, value))
            })
            .collect::<Result<_, Error>>()?,
        ValueKind::Seq | ValueKind::Iterable => v
            .try_iter()?
            .map(|pair| {
                Ok((
                    pair.get_item(&Value::from(0))?,
                    pair.get_item(&Value::from(1))?,
                ))
            })
            .collect::<Result<_, Error>>()?,
        _ => return Ok(Value::from(url_quote(&text_of(v)?, false))),
    };
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, value)| {
            Ok(format!(
                "{}={}",
                url_quote(&text_of(k)?, true),
                url_quote(&text_of(value)?, true)
            ))
        })
        .collect::<Result<_, Error>>()?;
    Ok(Value::from(encoded.join("&")))
}

/// markupsafe's `escape`.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------- data

/// `rekey_on_member(data, key, duplicates='error')`.
fn rekey_on_member(v: &Value, rest: RestArgs) -> FilterResult {
    require_defined(v)?;
    let mut args = Args::new(
        "rekey_on_member",
        rest.into_values(),
        &["key", "duplicates"],
    )?;
    let key = args
        .get(0)
        .ok_or_else(|| err("rekey_on_member() missing required argument 'key'"))?;
    let duplicates = args.string(1)?.unwrap_or_else(|| "error".into());
    args.finish()?;
    if duplicates != "error" && duplicates != "overwrite" {
        return Err(err(format!(
            "duplicates parameter to rekey_on_member has unknown value {}",
            crate::pyfmt::str_repr(&duplicates)
        )));
    }
    let items: Vec<Json> = match to_json_value(v)? {
        Json::Object(map) => map.into_iter().map(|(_, item)| item).collect(),
        Json::Array(items) => items,
        _ => return Err(err("Type is not a valid list, set, or dict")),
    };
    let key = text_of(&key)?;
    let mut out = Map::new();
    for item in items {
        let Json::Object(map) = &item else {
            return Err(err("List item is not a valid dict"));
        };
        let Some(value) = map.get(&key) else {
            return Err(err(format!(
                "Key {} was not found.",
                crate::pyfmt::str_repr(&key)
            )));
        };
        let new_key = match value {
            Json::String(s) => s.clone(),
            other => crate::pyfmt::py_str(&crate::json_to_value(other))?,
        };
        if out.contains_key(&new_key) && duplicates == "error" {
            return Err(err(format!(
                "Key {} is not unique, cannot convert to dict.",
                crate::pyfmt::py_repr(&crate::json_to_value(value))?
            )));
        }
        out.insert(new_key, item.clone());
    }
    Ok(crate::json_to_value(&Json::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itertools_order() {
        let items: Vec<Json> = (1..=4).map(Json::from).collect();
        let c = combinations(&items, 2);
        assert_eq!(c.len(), 6);
        assert_eq!(c[0], vec![Json::from(1), Json::from(2)]);
        assert_eq!(c[5], vec![Json::from(3), Json::from(4)]);
        let p = permutations(&items[..3], 2);
        let flat: Vec<String> = p
            .iter()
            .map(|row| row.iter().map(|j| j.to_string()).collect::<String>())
            .collect();
        assert_eq!(flat, vec!["12", "13", "21", "23", "31", "32"]);
        assert_eq!(permutations(&items[..3], 3).len(), 6);
        assert!(combinations(&items, 5).is_empty());
    }

    #[test]
    fn urlsplit_follows_python() {
        let parts = urlsplit("HTTPS://User:pw@Example.COM:8080/a/b?x=1#frag").map(|u| u.to_map());
        let Some(Ok(map)) = parts else {
            panic!("urlsplit failed");
        };
        assert_eq!(map["scheme"], "https");
        assert_eq!(map["hostname"], "example.com");
        assert_eq!(map["port"], 8080);
        assert_eq!(map["username"], "User");
        assert_eq!(map["password"], "pw");
        assert_eq!(map["path"], "/a/b");
        assert_eq!(map["query"], "x=1");
        assert_eq!(map["fragment"], "frag");
        assert_eq!(map["netloc"], "User:pw@Example.COM:8080");
    }

    #[test]
    fn path_helpers() {
        assert_eq!(relpath("/a/b/c", "/a/d").ok().as_deref(), Some("../b/c"));
        assert_eq!(relpath("/a", "/a").ok().as_deref(), Some("."));
        std::env::set_var("TEND_TEST_EXPANDVARS", "v");
        assert_eq!(
            expandvars("$TEND_TEST_EXPANDVARS/${TEND_TEST_EXPANDVARS}/$NOPE_TEND_X/$"),
            "v/v/$NOPE_TEND_X/$"
        );
        assert_eq!(unquote_plus("a+b%20c%2"), "a b c%2");
        assert_eq!(url_quote("a b/c&d", false), "a%20b/c%26d");
        assert_eq!(url_quote("a b/c", true), "a+b%2Fc");
    }
}
