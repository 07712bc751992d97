//! Ansible's lookup plugins, run on the controller: `lookup()`, `query()`/`q()` in templates and
//! [`Templater::run_lookup`](crate::Templater::run_lookup) for `with_<name>` loops.
//!
//! `lookup()` joins a result of several strings with commas and unwraps a single one unless
//! `wantlist=True`; `query()` always returns the list. `errors='ignore'|'warn'` turn a plugin
//! failure into `None` (`[]` with `wantlist`); tend has no warning channel here, so `warn`
//! behaves as `ignore`. Unknown options are ignored, as ansible-core does.

mod datafiles;
mod password;
pub(crate) mod paths;
mod sequence;

use std::cell::Cell;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use minijinja::value::Value;
use minijinja::{Environment, Error, State};
use serde_json::{Map, Value as Json};

use crate::error::carry;
use crate::filters::{err, require_defined, to_json_value, RestArgs};
use crate::TemplateError;
use paths::{unfrack, SearchPath};

/// The lookup plugins tend provides, without collection prefix.
pub(crate) const NAMES: &[&str] = &[
    "csvfile",
    "dict",
    "env",
    "file",
    "fileglob",
    "first_found",
    "indexed_items",
    "ini",
    "items",
    "lines",
    "list",
    "nested",
    "password",
    "pipe",
    "random_choice",
    "sequence",
    "subelements",
    "template",
    "together",
    "unvault",
    "varnames",
    "vars",
];

/// How deep `template` lookups may nest before a template that looks itself up is stopped.
const MAX_TEMPLATE_DEPTH: usize = 16;

thread_local! {
    static TEMPLATE_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// The plugin name without an `ansible.builtin.`/`ansible.legacy.` prefix, if tend has it.
pub(crate) fn canonical(name: &str) -> Option<&'static str> {
    let bare = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    NAMES.iter().copied().find(|n| *n == bare)
}

/// Variables a lookup can see: the template's (locals included) or the executor's.
pub(crate) trait VarSource {
    fn get(&self, name: &str) -> Option<Value>;
    fn all(&self) -> Vec<(String, Value)>;
}

impl VarSource for State<'_, '_> {
    fn get(&self, name: &str) -> Option<Value> {
        self.lookup(name).filter(|v| !v.is_undefined())
    }

    fn all(&self) -> Vec<(String, Value)> {
        self.known_variables()
            .into_iter()
            .filter_map(|name| {
                let value = VarSource::get(self, &name)?;
                Some((name.into_owned(), value))
            })
            .collect()
    }
}

/// The executor's variables, for `with_<lookup>` loops.
pub(crate) struct JsonVars<'a>(pub &'a Json);

impl VarSource for JsonVars<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        self.0.get(name).map(crate::json_to_value)
    }

    fn all(&self) -> Vec<(String, Value)> {
        match self.0 {
            Json::Object(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), crate::json_to_value(v)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// What a lookup runs against.
pub(crate) struct Scope<'a> {
    pub env: &'a Environment<'a>,
    pub vars: &'a dyn VarSource,
    /// The task's action when the lookup drives a `with_<name>` loop: `first_found` then
    /// searches the subdirectory that action reads from.
    pub loop_action: Option<&'a str>,
}

impl Scope<'_> {
    pub fn json_var(&self, name: &str) -> Option<Json> {
        self.vars
            .get(name)
            .and_then(|v| to_json_value(&v).ok())
            .filter(|v| !v.is_null())
    }

    pub fn string_var(&self, name: &str) -> Option<String> {
        match self.json_var(name)? {
            Json::String(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// Where commands run: the playbook directory, as Ansible's loader basedir.
    fn workdir(&self) -> PathBuf {
        SearchPath::new(self).basedir
    }
}

/// Why a plugin failed: its own message (subject to `errors=`), or a templating error that
/// passes through unchanged (an undefined variable, a failing template file).
#[derive(Debug)]
pub(crate) enum Failure {
    Message(String),
    Template(TemplateError),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Message(message)
    }
}

type PluginResult = Result<Vec<Json>, Failure>;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", |state: &State, args: RestArgs| {
        template_call(state, args, false)
    });
    env.add_function("query", |state: &State, args: RestArgs| {
        template_call(state, args, true)
    });
    env.add_function("q", |state: &State, args: RestArgs| {
        template_call(state, args, true)
    });
}

/// `lookup(name, *terms, **kwargs)` / `query(...)` inside a template.
fn template_call(state: &State, args: RestArgs, query: bool) -> Result<Value, Error> {
    let function = if query { "query" } else { "lookup" };
    let mut values = args.into_values();
    let kwargs = match values.last() {
        Some(last) if last.is_kwargs() => values.pop(),
        _ => None,
    };
    if values.is_empty() {
        return Err(err(format!(
            "{function}() missing required argument 'name' (pos 1)"
        )));
    }
    let name = values.remove(0);
    require_defined(&name)?;
    let Some(name) = name.as_str().map(str::to_string) else {
        return Err(err(format!(
            "{function}() expects the plugin name as a string, not {}",
            crate::pyfmt::type_name(&name)
        )));
    };
    let mut terms = Vec::with_capacity(values.len());
    for value in &values {
        require_defined(value)?;
        terms.push(to_json_value(value)?);
    }
    let mut options = Map::new();
    if let Some(kwargs) = kwargs {
        for key in kwargs.try_iter()? {
            let value = kwargs.get_item(&key)?;
            require_defined(&value)?;
            options.insert(
                key.as_str().unwrap_or_default().to_string(),
                to_json_value(&value)?,
            );
        }
    }
    let scope = Scope {
        env: state.env(),
        vars: state,
        loop_action: None,
    };
    invoke(&name, terms, options, &scope, query)
        .map(|result| crate::json_to_value(&result))
        .map_err(carry)
}

/// Runs a lookup with Ansible's result shaping (`wantlist`) and error policy (`errors`).
pub(crate) fn invoke(
    name: &str,
    terms: Vec<Json>,
    mut kwargs: Map<String, Json>,
    scope: &Scope<'_>,
    query: bool,
) -> Result<Json, TemplateError> {
    let plugin = canonical(name).ok_or_else(|| TemplateError::UnknownLookup {
        name: name.to_string(),
    })?;
    let wantlist = kwargs
        .remove("wantlist")
        .is_some_and(|v| json_bool(&v).unwrap_or(false))
        || query;
    let errors = kwargs.remove("errors");
    let lenient = matches!(
        errors.as_ref().and_then(Json::as_str),
        Some("warn" | "ignore")
    );
    match run_plugin(plugin, &terms, &kwargs, scope) {
        Ok(items) if wantlist || items.is_empty() => Ok(Json::Array(items)),
        Ok(mut items) if items.len() == 1 => Ok(items.remove(0)),
        Ok(items) => {
            let texts: Option<Vec<&str>> = items.iter().map(Json::as_str).collect();
            Ok(match texts {
                Some(texts) => Json::String(texts.join(",")),
                None => Json::Array(items),
            })
        }
        Err(Failure::Template(e)) => Err(e),
        Err(Failure::Message(_)) if lenient => Ok(if wantlist {
            Json::Array(Vec::new())
        } else {
            Json::Null
        }),
        Err(Failure::Message(message)) => Err(TemplateError::LookupFailed {
            plugin: name.to_string(),
            message,
        }),
    }
}

/// The list a plugin returns (what `query()` gives).
pub(crate) fn run_plugin(
    plugin: &str,
    terms: &[Json],
    kwargs: &Map<String, Json>,
    scope: &Scope<'_>,
) -> PluginResult {
    match plugin {
        "csvfile" => datafiles::csvfile(terms, kwargs, scope),
        "dict" => dict(terms),
        "env" => env_lookup(terms, kwargs),
        "file" => file(terms, kwargs, scope),
        "fileglob" => fileglob(terms, scope),
        "first_found" => first_found(terms, kwargs, scope),
        "indexed_items" => Ok(flatten(terms)
            .into_iter()
            .enumerate()
            .map(|(i, item)| Json::Array(vec![Json::from(i), item]))
            .collect()),
        "ini" => datafiles::ini(terms, kwargs, scope),
        "items" => Ok(flatten(terms)),
        "lines" => lines(terms, scope),
        "list" => Ok(terms.to_vec()),
        "nested" => nested(terms),
        "password" => password::run(terms, kwargs, scope),
        "pipe" => pipe(terms, scope),
        "random_choice" => random_choice(terms),
        "sequence" => sequence::run(terms, kwargs),
        "subelements" => subelements(terms),
        "template" => template(terms, kwargs, scope),
        "together" => together(terms),
        "unvault" => unvault(terms, scope),
        "varnames" => varnames(terms, scope),
        "vars" => vars(terms, kwargs, scope),
        other => Err(Failure::Template(TemplateError::UnknownLookup {
            name: other.to_string(),
        })),
    }
}

// ---------------------------------------------------------------- helpers

/// A term as text: strings as they are, anything else as Python's `str()`.
pub(crate) fn term_text(term: &Json) -> String {
    match term {
        Json::String(s) => s.clone(),
        other => {
            crate::pyfmt::py_str(&crate::json_to_value(other)).unwrap_or_else(|_| other.to_string())
        }
    }
}

/// Ansible's boolean option parsing.
fn json_bool(v: &Json) -> Option<bool> {
    crate::filters::convert_bool(&crate::json_to_value(v))
}

fn opt_bool(kwargs: &Map<String, Json>, name: &str, default: bool) -> Result<bool, Failure> {
    match kwargs.get(name) {
        None | Some(Json::Null) => Ok(default),
        Some(v) => json_bool(v).ok_or_else(|| {
            Failure::Message(format!(
                "Invalid value for option '{name}': {} is not a boolean",
                term_text(v)
            ))
        }),
    }
}

pub(crate) fn opt_int(kwargs: &Map<String, Json>, name: &str) -> Result<Option<i64>, Failure> {
    match kwargs.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(Json::String(s)) if crate::filters::parse_python_int(s, 10).is_some() => {
            Ok(crate::filters::parse_python_int(s, 10))
        }
        Some(v) => Err(Failure::Message(format!(
            "Invalid value for option '{name}': {} is not an integer",
            term_text(v)
        ))),
    }
}

/// `LookupBase._flatten`: one level of lists is opened.
fn flatten(terms: &[Json]) -> Vec<Json> {
    let mut out = Vec::new();
    for term in terms {
        match term {
            Json::Array(items) => out.extend(items.iter().cloned()),
            other => out.push(other.clone()),
        }
    }
    out
}

/// Python iteration over a value: lists, strings (characters) and dicts (keys).
fn iterate(value: &Json) -> Result<Vec<Json>, Failure> {
    match value {
        Json::Array(items) => Ok(items.clone()),
        Json::String(s) => Ok(s.chars().map(|c| Json::String(c.to_string())).collect()),
        Json::Object(map) => Ok(map.keys().map(|k| Json::String(k.clone())).collect()),
        other => Err(Failure::Message(format!(
            "'{}' object is not iterable",
            json_type(other)
        ))),
    }
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

/// Ansible's `parse_kv`: `key=value` words (quotes honoured) and the other words, rejoined.
pub(crate) fn parse_kv(text: &str) -> (Vec<(String, String)>, String) {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                in_word = true;
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                in_word = true;
                quote = Some(c);
                current.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    let mut params = Vec::new();
    let mut raw = Vec::new();
    for word in words {
        match word.split_once('=') {
            Some((key, value)) if !key.is_empty() && !key.contains(['"', '\'']) => {
                params.push((key.trim().to_string(), unquote(value)));
            }
            _ => raw.push(word),
        }
    }
    (params, raw.join(" "))
}

fn unquote(s: &str) -> String {
    let bytes = s.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[bytes.len() - 1] == bytes[0]
    {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

fn not_found(term: &str, searched: &[PathBuf]) -> String {
    let tried: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
    format!(
        "Unable to access the file '{term}': File not found (searched: {}).",
        tried.join(", ")
    )
}

// ---------------------------------------------------------------- plugins

fn dict(terms: &[Json]) -> PluginResult {
    let mut out = Vec::new();
    for term in terms {
        let Json::Object(map) = term else {
            return Err(Failure::Message(format!(
                "the 'dict' lookup plugin expects a dictionary, got '{}' of type {}",
                term_text(term),
                json_type(term)
            )));
        };
        for (key, value) in map {
            let mut item = Map::new();
            item.insert("key".into(), Json::String(key.clone()));
            item.insert("value".into(), value.clone());
            out.push(Json::Object(item));
        }
    }
    Ok(out)
}

fn env_lookup(terms: &[Json], kwargs: &Map<String, Json>) -> PluginResult {
    let default = kwargs
        .get("default")
        .cloned()
        .unwrap_or_else(|| Json::String(String::new()));
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        let text = term_text(term);
        let Some(name) = text.split_whitespace().next() else {
            return Err(Failure::Message(format!(
                "'{text}' is not an environment variable name"
            )));
        };
        out.push(match std::env::var_os(name) {
            Some(value) => Json::String(value.to_string_lossy().into_owned()),
            None => default.clone(),
        });
    }
    Ok(out)
}

fn file(terms: &[Json], kwargs: &Map<String, Json>, scope: &Scope<'_>) -> PluginResult {
    let lstrip = opt_bool(kwargs, "lstrip", false)?;
    let rstrip = opt_bool(kwargs, "rstrip", true)?;
    let search = SearchPath::new(scope);
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        let term = term_text(term);
        let path = search
            .find(Some("files"), &term)
            .map_err(|searched| Failure::Message(not_found(&term, &searched)))?;
        // The loader decrypts a vaulted file (`get_text_file_contents`).
        let bytes = tend_vault::read(&path)
            .map_err(|e| Failure::Message(format!("Unable to access the file '{term}': {e}")))?;
        let mut text = String::from_utf8(bytes).map_err(|_| {
            Failure::Message(format!(
                "Unable to access the file '{term}': {} is not valid UTF-8",
                path.display()
            ))
        })?;
        if lstrip {
            text = text.trim_start().to_string();
        }
        if rstrip {
            text.truncate(text.trim_end().len());
        }
        out.push(Json::String(text));
    }
    Ok(out)
}

/// The files' contents, decrypted when vaulted, neither stripped nor templated.
fn unvault(terms: &[Json], scope: &Scope<'_>) -> PluginResult {
    let search = SearchPath::new(scope);
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        let term = term_text(term);
        let path = search
            .find(Some("files"), &term)
            .map_err(|_| Failure::Message(format!("Unable to find file matching \"{term}\"")))?;
        let bytes = tend_vault::read(&path).map_err(|e| Failure::Message(e.to_string()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Failure::Message(format!("{} is not valid UTF-8", path.display())))?;
        out.push(Json::String(text));
    }
    Ok(out)
}

fn fileglob(terms: &[Json], scope: &Scope<'_>) -> PluginResult {
    let search = SearchPath::new(scope);
    let mut out = Vec::new();
    for term in terms {
        let term = term_text(term);
        let name = crate::filters::basename(&term);
        let dirs: Vec<PathBuf> = if name != term {
            search
                .find(Some("files"), &crate::filters::dirname(&term))
                .ok()
                .into_iter()
                .collect()
        } else {
            search
                .paths
                .iter()
                .flat_map(|p| [p.join("files"), p.clone()])
                .collect()
        };
        for dir in dirs {
            let pattern = dir.join(&name);
            let found: Vec<String> = paths::glob(&pattern.to_string_lossy())
                .into_iter()
                .filter(|p| std::path::Path::new(p).is_file())
                .collect();
            if !found.is_empty() {
                out.extend(found.into_iter().map(Json::String));
                break;
            }
        }
    }
    Ok(out)
}

/// Options of `first_found` as the last dict term (or the keyword arguments) set them.
struct FirstFoundOptions {
    files: Vec<Json>,
    paths: Vec<Json>,
    skip: bool,
}

impl FirstFoundOptions {
    fn from_map(map: &Map<String, Json>) -> Result<FirstFoundOptions, Failure> {
        let list = |key: &str| match map.get(key) {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(items)) => items.clone(),
            Some(other) => vec![other.clone()],
        };
        Ok(FirstFoundOptions {
            files: list("files"),
            paths: list("paths"),
            skip: opt_bool(map, "skip", false)?,
        })
    }
}

/// Splits on any of `separators` (the deprecated comma/colon/semicolon lists Ansible accepts).
fn split_on(items: &[Json], separators: &[char]) -> Vec<String> {
    items
        .iter()
        .flat_map(|item| {
            term_text(item)
                .split(separators)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn first_found(terms: &[Json], kwargs: &Map<String, Json>, scope: &Scope<'_>) -> PluginResult {
    let mut options = FirstFoundOptions::from_map(kwargs)?;
    let mut candidates = Vec::new();
    let terms: Vec<Json> = if terms.is_empty() {
        options.files.clone()
    } else {
        terms.to_vec()
    };
    collect_first_found(&terms, &mut options, &mut candidates)?;
    // As a loop (`with_first_found`) Ansible searches the directory the action reads from:
    // `templates/` for template tasks, `vars/` for include_vars, `files/` otherwise.
    let subdir = scope.loop_action.map(|action| {
        if action.contains("template") {
            "templates"
        } else if action.contains("var") {
            "vars"
        } else {
            "files"
        }
    });
    let search = SearchPath::new(scope);
    for candidate in &candidates {
        if let Ok(found) = search.find(subdir, candidate) {
            return Ok(vec![Json::String(unfrack(&found))]);
        }
    }
    if options.skip {
        return Ok(Vec::new());
    }
    Err(Failure::Message(
        "No file was found when using first_found.".into(),
    ))
}

fn collect_first_found(
    terms: &[Json],
    options: &mut FirstFoundOptions,
    out: &mut Vec<String>,
) -> Result<(), Failure> {
    for term in terms {
        let files = match term {
            Json::Object(map) => {
                *options = FirstFoundOptions::from_map(map)?;
                split_on(&options.files, &[',', ';'])
            }
            Json::String(_) => split_on(std::slice::from_ref(term), &[',', ';']),
            Json::Array(items) => {
                collect_first_found(items, options, out)?;
                continue;
            }
            other => {
                return Err(Failure::Message(format!(
                    "Invalid term supplied. A string, dict or list is required, not '{}'.",
                    json_type(other)
                )))
            }
        };
        let dirs = split_on(&options.paths, &[',', ':', ';']);
        if dirs.is_empty() {
            out.extend(files);
        } else {
            for dir in &dirs {
                for name in &files {
                    out.push(join_path(dir, name));
                }
            }
        }
    }
    Ok(())
}

/// `os.path.join(a, b)`.
fn join_path(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_string()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// Runs `command` with `sh -c` in the playbook directory; stdout when it exits 0.
fn run_command(plugin: &str, command: &str, scope: &Scope<'_>) -> Result<String, Failure> {
    let workdir = scope.workdir();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if workdir.is_dir() {
        cmd.current_dir(&workdir);
    }
    let output = cmd.output().map_err(|e| {
        Failure::Message(format!(
            "lookup_plugin.{plugin}({command}) could not run: {e}"
        ))
    })?;
    if !output.status.success() {
        use std::os::unix::process::ExitStatusExt;
        let code = output
            .status
            .code()
            .or_else(|| output.status.signal().map(|s| -s))
            .unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        let detail = if stderr.is_empty() {
            String::new()
        } else {
            format!(": {stderr}")
        };
        return Err(Failure::Message(format!(
            "lookup_plugin.{plugin}({command}) returned {code}{detail}"
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn pipe(terms: &[Json], scope: &Scope<'_>) -> PluginResult {
    terms
        .iter()
        .map(|term| {
            let stdout = run_command("pipe", &term_text(term), scope)?;
            Ok(Json::String(stdout.trim_end().to_string()))
        })
        .collect()
}

fn lines(terms: &[Json], scope: &Scope<'_>) -> PluginResult {
    let mut out = Vec::new();
    for term in terms {
        let stdout = run_command("lines", &term_text(term), scope)?;
        // bytes.splitlines(): \n, \r and \r\n only.
        let mut rest = stdout.as_str();
        while !rest.is_empty() {
            let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
            out.push(Json::String(rest[..end].to_string()));
            rest = &rest[end..];
            rest = rest
                .strip_prefix("\r\n")
                .or_else(|| rest.strip_prefix('\n'))
                .or_else(|| rest.strip_prefix('\r'))
                .unwrap_or(rest);
        }
    }
    Ok(out)
}

fn nested(terms: &[Json]) -> PluginResult {
    let Some((first, rest)) = terms.split_first() else {
        return Err(Failure::Message(
            "with_nested requires at least one element in the nested list".into(),
        ));
    };
    let mut result = iterate(first)?;
    for next in rest {
        let next = iterate(next)?;
        let mut combined = Vec::with_capacity(result.len() * next.len());
        for x in &result {
            for y in &next {
                combined.push(Json::Array(flatten(&[x.clone(), y.clone()])));
            }
        }
        result = combined;
    }
    result
        .iter()
        .map(|x| {
            // `_flatten(x)` iterates x: a lone string becomes its characters, as in Ansible.
            let items = iterate(x)?;
            Ok(Json::Array(flatten(&items)))
        })
        .collect()
}

fn together(terms: &[Json]) -> PluginResult {
    if terms.is_empty() {
        return Err(Failure::Message(
            "with_together requires at least one element in each list".into(),
        ));
    }
    let lists = terms.iter().map(iterate).collect::<Result<Vec<_>, _>>()?;
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..longest)
        .map(|i| {
            let row: Vec<Json> = lists
                .iter()
                .map(|l| l.get(i).cloned().unwrap_or(Json::Null))
                .collect();
            Json::Array(flatten(&row))
        })
        .collect())
}

fn subelements(terms: &[Json]) -> PluginResult {
    let fail = |msg: &str| {
        Failure::Message(format!(
            "subelements lookup expects a list of two or three items, {msg}"
        ))
    };
    if !(2..=3).contains(&terms.len()) {
        return Err(fail(""));
    }
    let Json::String(path) = &terms[1] else {
        return Err(fail(
            "first a dict or a list, second a string pointing to the subkey",
        ));
    };
    let elements: Vec<Json> = match &terms[0] {
        Json::Array(items) => items.clone(),
        Json::Object(map) => {
            if map.get("skipped").is_some_and(|v| v != &Json::Bool(false)) {
                return Ok(Vec::new());
            }
            map.values().cloned().collect()
        }
        _ => {
            return Err(fail(
                "first a dict or a list, second a string pointing to the subkey",
            ))
        }
    };
    let flags = match terms.get(2) {
        None => Map::new(),
        Some(Json::Object(map)) => map.clone(),
        Some(_) => {
            return Err(fail(
                "the optional third item must be a dict with flags ('skip_missing',)",
            ))
        }
    };
    let skip_missing = flags
        .get("skip_missing")
        .and_then(json_bool)
        .unwrap_or(false);
    let keys: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    for item in elements {
        let Json::Object(mut item0) = item else {
            return Err(Failure::Message(format!(
                "subelements lookup expects a dictionary, got '{}'",
                term_text(&item)
            )));
        };
        if item0
            .get("skipped")
            .is_some_and(|v| v != &Json::Bool(false))
        {
            continue;
        }
        let sublist = pop_subelements(&mut item0, &keys, skip_missing)?;
        let item0 = Json::Object(item0);
        for item1 in sublist {
            out.push(Json::Array(vec![item0.clone(), item1]));
        }
    }
    Ok(out)
}

/// Follows `keys` into `item` and removes the list at the end, as Ansible's lookup pops it
/// (so the item it pairs with no longer holds the list).
fn pop_subelements(
    item: &mut Map<String, Json>,
    keys: &[&str],
    skip_missing: bool,
) -> Result<Vec<Json>, Failure> {
    let Some((key, rest)) = keys.split_first() else {
        return Ok(Vec::new());
    };
    let Some(value) = item.get(*key) else {
        if skip_missing {
            // Ansible moves on to the next key of the path with the same dict.
            return pop_subelements(item, rest, skip_missing);
        }
        return Err(Failure::Message(format!(
            "could not find '{key}' key in iterated item '{}'",
            term_text(&Json::Object(item.clone()))
        )));
    };
    if rest.is_empty() {
        let Json::Array(list) = value else {
            return Err(Failure::Message(format!(
                "the key {key} should point to a list, got '{}'",
                term_text(value)
            )));
        };
        let list = list.clone();
        item.remove(*key);
        return Ok(list);
    }
    match item.get_mut(*key) {
        Some(Json::Object(inner)) => pop_subelements(inner, rest, skip_missing),
        Some(other) if !skip_missing => Err(Failure::Message(format!(
            "the key {key} should point to a dictionary, got '{}'",
            term_text(other)
        ))),
        _ => pop_subelements(item, rest, skip_missing),
    }
}

fn vars(terms: &[Json], kwargs: &Map<String, Json>, scope: &Scope<'_>) -> PluginResult {
    let default = kwargs.get("default").filter(|d| !d.is_null());
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        let Json::String(name) = term else {
            return Err(Failure::Message(format!(
                "Variable name must be 'str' not '{}'.",
                json_type(term)
            )));
        };
        match (scope.vars.get(name), default) {
            (Some(value), _) => {
                out.push(to_json_value(&value).map_err(|e| Failure::Message(e.to_string()))?)
            }
            (None, Some(default)) => out.push(default.clone()),
            (None, None) => {
                return Err(Failure::Template(TemplateError::Undefined {
                    name: name.clone(),
                    detail: format!("No variable named '{name}' was found."),
                }))
            }
        }
    }
    Ok(out)
}

/// Names of the variables matching any of the regular expressions (`re.search`), sorted.
fn varnames(terms: &[Json], scope: &Scope<'_>) -> PluginResult {
    let mut names: Vec<String> = scope
        .vars
        .all()
        .into_iter()
        // Template globals such as `range` or `lookup` are functions, not variables.
        .filter(|(_, value)| {
            value.kind() != minijinja::value::ValueKind::Plain
                || crate::datetime::as_datetime(value).is_some()
        })
        .map(|(name, _)| name)
        .collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for term in terms {
        let Json::String(pattern) = term else {
            return Err(Failure::Message(format!(
                "Invalid setting identifier, \"{}\" is not a string, it is a {}",
                term_text(term),
                json_type(term)
            )));
        };
        let re = crate::filters::compile_regex(pattern, false, false).map_err(|e| {
            Failure::Message(format!(
                "Unable to use \"{pattern}\" as a search parameter: {e}"
            ))
        })?;
        out.extend(
            names
                .iter()
                .filter(|name| re.is_match(name))
                .map(|name| Json::String(name.clone())),
        );
    }
    Ok(out)
}

/// One of the terms, chosen by the system's random source.
fn random_choice(terms: &[Json]) -> PluginResult {
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let idx = crate::pyrandom::PyRng::choice_index(&mut crate::pyrandom::SystemRandom, terms.len())
        .map_err(|e| Failure::Message(format!("Unable to choose random term: {e}")))?;
    Ok(vec![terms[idx].clone()])
}

fn template(terms: &[Json], kwargs: &Map<String, Json>, scope: &Scope<'_>) -> PluginResult {
    for (option, default) in [
        ("variable_start_string", "{{"),
        ("variable_end_string", "}}"),
        ("comment_start_string", "{#"),
        ("comment_end_string", "#}"),
    ] {
        if let Some(value) = kwargs.get(option) {
            if value.as_str() != Some(default) {
                return Err(Failure::Message(format!(
                    "the '{option}' option is not supported by tend"
                )));
            }
        }
    }
    if !opt_bool(kwargs, "trim_blocks", true)? {
        return Err(Failure::Message(
            "trim_blocks=False is not supported by tend".into(),
        ));
    }
    let extra = match kwargs.get("template_vars") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(map)) => map.clone(),
        Some(other) => {
            return Err(Failure::Message(format!(
                "template_vars must be a dict, not {}",
                json_type(other)
            )))
        }
    };
    let search = SearchPath::new(scope);
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        let term = term_text(term);
        let path = search.find(Some("templates"), &term).map_err(|_| {
            Failure::Message(format!(
                "the template file {term} could not be found for the lookup"
            ))
        })?;
        let source = tend_vault::read_to_string(&path)
            .map_err(|e| Failure::Message(format!("cannot read the template file {term}: {e}")))?;
        let mut context: std::collections::BTreeMap<String, Value> =
            scope.vars.all().into_iter().collect();
        for (key, value) in template_vars(&term, &path) {
            if key != "ansible_managed" || !context.contains_key(&key) {
                context.insert(key, value);
            }
        }
        for (key, value) in &extra {
            context.insert(key.clone(), crate::json_to_value(value));
        }
        let depth = TEMPLATE_DEPTH.with(Cell::get);
        if depth >= MAX_TEMPLATE_DEPTH {
            return Err(Failure::Message(format!(
                "template lookups nested more than {MAX_TEMPLATE_DEPTH} deep (does {term} look itself up?)"
            )));
        }
        TEMPLATE_DEPTH.with(|d| d.set(depth + 1));
        let ctx = Value::from(context);
        let vars_json = to_json_value(&ctx).unwrap_or(Json::Null);
        let rendered = crate::render_file_native(scope.env, &source, &ctx, &vars_json);
        TEMPLATE_DEPTH.with(|d| d.set(depth));
        out.push(rendered.map_err(Failure::Template)?);
    }
    Ok(out)
}

/// `generate_ansible_template_vars` for a template file.
fn template_vars(term: &str, path: &std::path::Path) -> Vec<(String, Value)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok();
    let mtime = meta
        .as_ref()
        .and_then(|m| chrono::DateTime::from_timestamp(m.mtime(), 0))
        .map(|t| t.with_timezone(&chrono::Local).naive_local());
    let uid = meta.as_ref().map(|m| m.uid());
    let owner = uid
        .and_then(user_name)
        .map(Value::from)
        .or_else(|| uid.map(Value::from))
        .unwrap_or_default();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let now = chrono::Local::now().naive_local();
    let mut vars = vec![
        ("template_host".to_string(), Value::from(host)),
        ("template_path".to_string(), Value::from(term)),
        ("template_uid".to_string(), owner),
        (
            "template_run_date".to_string(),
            crate::datetime::PyDateTime::value(now),
        ),
        ("template_destpath".to_string(), Value::from(())),
        ("template_fullpath".to_string(), Value::from(unfrack(path))),
        (
            "ansible_managed".to_string(),
            Value::from("Ansible managed"),
        ),
    ];
    if let Some(mtime) = mtime {
        vars.push((
            "template_mtime".to_string(),
            crate::datetime::PyDateTime::value(mtime),
        ));
    }
    vars
}

/// The login name of `uid` from `/etc/passwd` (`pwd.getpwuid`).
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_parsing_honours_quotes() {
        let (params, raw) = parse_kv("start=1 format='a b' extra \"x=y\"");
        assert_eq!(
            params,
            vec![
                ("start".to_string(), "1".to_string()),
                ("format".to_string(), "a b".to_string())
            ]
        );
        assert_eq!(raw, "extra \"x=y\"");
    }

    #[test]
    fn prefixed_names_are_accepted() {
        assert_eq!(canonical("ansible.builtin.file"), Some("file"));
        assert_eq!(canonical("ansible.legacy.env"), Some("env"));
        assert_eq!(canonical("community.general.foo"), None);
    }
}
