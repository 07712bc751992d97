//! Prebuilt executable modules: a file in a playbook's or role's `library/` directory that speaks
//! Ansible's module protocol for non-Python modules, uploaded to the host and run there.
//!
//! Ansible tells the styles apart by the file's bytes, and so does tend:
//! - **binary** (a compiled program: the first KiB holds non-text bytes) and **WANT_JSON** (a
//!   script containing the word `WANT_JSON`) get their arguments as a JSON object in a file
//!   whose path is their only argument;
//! - **old-style** scripts get that file as `key=value` words, each value shell-quoted.
//!
//! Scripts run with the interpreter of their `#!` line (`ansible_<name>_interpreter` overrides
//! it, as in Ansible). The arguments carry Ansible's internal keys, `_ansible_check_mode` and
//! `_ansible_diff` among them: such a module handles check mode itself, exactly as under
//! Ansible. Its standard output must hold one JSON object (lines around it are ignored, as
//! Ansible's `_filter_non_json_lines` does); `changed`, `failed`, `skipped`, `msg`, `diff`,
//! `warnings` and `ansible_facts` are understood, every other key is a return value. A result
//! without `failed` fails when it has a non-zero `rc`, as Ansible decides.
//!
//! The module and its arguments travel on one command's standard input into a fresh
//! `mktemp -d` directory (mode 0700) that is removed on every path; no argument appears on a
//! command line. Python modules of Ansible's new style (`from ansible.module_utils ...`) need
//! Ansible's AnsiballZ packaging and are refused at compile time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::args::ArgError;
use crate::registry::DynModule;
use crate::{quote, Context, Diff, FreeForm, ModuleError, Outcome};

/// The Ansible version a module is told it runs under (`_ansible_version`).
const ANSIBLE_COMPAT_VERSION: &str = "2.19.0";

/// How a module file expects its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Binary,
    WantJson,
    Old,
}

/// A module file found in a `library/` directory.
#[derive(Debug)]
pub struct ExecutableModule {
    name: &'static str,
    style: Style,
    /// The `#!` line without `#!`; `None` for a binary.
    shebang: Option<String>,
    data: Vec<u8>,
}

/// Why a `library/` file cannot be used as a module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read module {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("module {path} is an Ansible new-style Python module, which needs Ansible's AnsiballZ packaging; tend runs binary, WANT_JSON and old-style modules")]
    NewStyle { path: String },
    #[error("module ({name}) is missing interpreter line")]
    NoInterpreter { name: String },
}

/// Ansible's `_is_binary`: any byte outside the text set in the first KiB.
fn is_binary(data: &[u8]) -> bool {
    data.iter().take(1024).any(|&b| {
        let text = matches!(b, 7 | 8 | 9 | 10 | 12 | 13 | 27) || (0x20..=0xff).contains(&b);
        !text || b == 0x7f
    })
}

/// Classifies a module file as Ansible's `module_common` does.
pub fn classify(data: &[u8]) -> Result<Style, &'static str> {
    if is_binary(data) {
        return Ok(Style::Binary);
    }
    let contains = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
    let new_style = contains(b"#<<INCLUDE_ANSIBLE_MODULE_COMMON>>")
        || contains(b"from ansible.module_utils.")
        || contains(b"import ansible.module_utils.")
        || contains(b"from ansible_collections.")
        || contains(b"<<INCLUDE_ANSIBLE_MODULE_JSON_ARGS>>")
        || contains(b"#Requires -Module")
        || contains(b"#AnsibleRequires -");
    if new_style {
        return Err("new-style");
    }
    Ok(if contains(b"WANT_JSON") {
        Style::WantJson
    } else {
        Style::Old
    })
}

impl ExecutableModule {
    /// Reads and classifies a module file; `name` is what playbooks call it.
    pub fn load(name: &str, path: &Path) -> Result<ExecutableModule, LoadError> {
        let data = std::fs::read(path).map_err(|e| LoadError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let style = classify(&data).map_err(|_| LoadError::NewStyle {
            path: path.display().to_string(),
        })?;
        let shebang = match style {
            Style::Binary => None,
            _ => {
                let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
                let line = String::from_utf8_lossy(first);
                match line.strip_prefix("#!") {
                    Some(rest) if !rest.trim().is_empty() => Some(rest.trim().to_string()),
                    _ => {
                        return Err(LoadError::NoInterpreter {
                            name: name.to_string(),
                        })
                    }
                }
            }
        };
        Ok(ExecutableModule {
            name: Box::leak(name.to_string().into_boxed_str()),
            style,
            shebang,
            data,
        })
    }

    pub fn style(&self) -> Style {
        self.style
    }

    /// The command word(s) that start the interpreter on the host: the `#!` line, with
    /// `ansible_<basename>_interpreter` taking its place when set, and a bare `python` found
    /// on the host (`python3` first) when not, as Ansible's interpreter discovery would.
    fn interpreter(&self, ctx: &Context<'_>) -> Option<String> {
        let shebang = self.shebang.as_deref()?;
        let mut words = shebang.split_whitespace();
        let program = words.next().unwrap_or_default();
        let rest: Vec<&str> = words.collect();
        // `#!/usr/bin/env python3` names the interpreter in its first argument.
        let (named, tail) = if program.ends_with("/env") && !rest.is_empty() {
            (rest[0], &rest[1..])
        } else {
            (program, &rest[..])
        };
        let base = named.rsplit('/').next().unwrap_or(named);
        let var = format!("ansible_{}_interpreter", base.replace(['.', '-'], "_"));
        let configured = match ctx.controller.eval_expr(&var) {
            Ok(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        };
        let head = match configured {
            Some(path) => quote(&path),
            None if base == "python" || base == "python3" => {
                "\"$(command -v python3 || command -v python || echo /usr/bin/python3)\"".into()
            }
            None if program.ends_with("/env") && !rest.is_empty() => {
                format!("{} {}", quote(program), quote(named))
            }
            None => quote(program),
        };
        let tail: Vec<String> = tail.iter().map(|w| quote(w)).collect();
        Some(
            std::iter::once(head)
                .chain(tail)
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// The arguments file: the task's arguments plus Ansible's internal keys.
    fn arguments(&self, args: &Value, ctx: &Context<'_>) -> Vec<u8> {
        let mut all = match args {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        let internal = json!({
            "_ansible_check_mode": ctx.check_mode,
            "_ansible_no_log": false,
            "_ansible_debug": false,
            "_ansible_diff": ctx.diff,
            "_ansible_verbosity": 0,
            "_ansible_version": ANSIBLE_COMPAT_VERSION,
            "_ansible_module_name": self.name,
            "_ansible_syslog_facility": "LOG_USER",
            "_ansible_selinux_special_fs": ["fuse", "nfs", "vboxsf", "ramfs", "9p", "vfat"],
            "_ansible_string_conversion_action": "warn",
            "_ansible_socket": null,
            "_ansible_shell_executable": "/bin/sh",
            "_ansible_keep_remote_files": false,
            "_ansible_tmpdir": null,
            "_ansible_remote_tmp": "~/.ansible/tmp",
            "_ansible_ignore_unknown_opts": false,
            "_ansible_target_log_info": null,
            "_ansible_tracebacks_for": [],
        });
        if let Value::Object(internal) = internal {
            all.extend(internal);
        }
        match self.style {
            Style::Binary | Style::WantJson => python_json(&Value::Object(all)),
            Style::Old => all
                .iter()
                .map(|(k, v)| format!("{k}={} ", shlex_quote(&python_str(v))))
                .collect::<String>()
                .into_bytes(),
        }
    }
}

/// JSON as Python's `json.dumps` writes it (`", "` and `": "` separators, non-ASCII as
/// `\uXXXX`), so modules that read their arguments file naively see what Ansible sends.
fn python_json(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_python_json(value, &mut out);
    out.into_bytes()
}

fn write_python_json(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(&Value::String(k.clone()), out);
                out.push_str(": ");
                write_python_json(v, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Python's `str()` of a JSON value, as Ansible writes old-style arguments.
fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    python_repr(&Value::String(k.clone())),
                    python_repr(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's `shlex.quote`.
fn shlex_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    let safe = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }
}

/// Ansible's `_filter_non_json_lines` with `objects_only`: the text from the first line that
/// starts with `{` to the last line that ends with `}`.
fn json_part(stdout: &str) -> Result<&str, &'static str> {
    let mut offset = 0;
    let mut start = None;
    for line in stdout.split_inclusive('\n') {
        if line.trim().starts_with('{') {
            start = Some(offset + (line.len() - line.trim_start().len()));
            break;
        }
        offset += line.len();
    }
    let start = start.ok_or("No start of json char found")?;
    let rest = &stdout[start..];
    let mut end = None;
    let mut at = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim().ends_with('}') {
            end = Some(at + line.trim_end().len());
        }
        at += line.len();
    }
    let end = end.ok_or("No end of json char found")?;
    Ok(&rest[..end])
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => crate::args::parse_bool(s).unwrap_or(false),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

fn diff_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        // Ansible's callback shows structured before/after as sorted, indented JSON.
        Some(other) => {
            let sorted: Value = serde_json::from_str(&other.to_string()).unwrap_or(Value::Null);
            let mut text = serde_json::to_string_pretty(&sort_keys(sorted)).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

fn diffs(value: Option<&Value>) -> Vec<Diff> {
    let one = |d: &Map<String, Value>| {
        let header = |key: &str, default: &str| match d.get(key) {
            Some(Value::String(s)) => s.clone(),
            _ => default.to_string(),
        };
        Diff {
            before_header: header("before_header", "before"),
            after_header: header("after_header", "after"),
            before: diff_text(d.get("before")),
            after: diff_text(d.get("after")),
        }
    };
    match value {
        Some(Value::Object(d)) => vec![one(d)],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).map(one).collect(),
        _ => Vec::new(),
    }
}

/// Turns the module's JSON result into an outcome, as Ansible's action and task executor do.
pub fn outcome_from_result(mut result: Map<String, Value>) -> Outcome {
    result.retain(|k, _| !k.starts_with("_ansible"));
    let failed = match result.get("failed") {
        Some(v) => truthy(Some(v)),
        None => match result.get("rc") {
            Some(Value::Number(n)) => n.as_i64() != Some(0),
            Some(Value::String(s)) => s != "0",
            _ => false,
        },
    };
    let mut outcome = Outcome {
        changed: truthy(result.get("changed")),
        failed,
        skipped: truthy(result.get("skipped")),
        ..Outcome::default()
    };
    outcome.msg = match result.remove("msg") {
        Some(Value::String(s)) => Some(s),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    outcome.diffs = diffs(result.get("diff"));
    if let Some(Value::Array(warnings)) = result.remove("warnings") {
        outcome.warnings = warnings
            .into_iter()
            .map(|w| match w {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
    }
    if let Some(Value::Object(facts)) = result.remove("ansible_facts") {
        outcome.facts = facts;
    }
    for key in ["changed", "failed", "skipped", "diff"] {
        result.remove(key);
    }
    outcome.values = result;
    outcome
}

#[async_trait]
impl DynModule for ExecutableModule {
    fn name(&self) -> &'static str {
        self.name
    }

    fn free_form(&self) -> FreeForm {
        FreeForm::No
    }

    /// An executable module declares no parameters tend could check: any arguments pass.
    fn check_args(&self, _args: &Value) -> Result<(), ArgError> {
        Ok(())
    }

    async fn run(&self, args: &Value, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
        let arguments = self.arguments(args, ctx);
        let file = quote(&format!("AnsiballZ_{}", self.name));
        let run = match self.interpreter(ctx) {
            Some(interpreter) => format!("{interpreter} \"$d\"/{file} \"$d/args\""),
            None => format!("\"$d\"/{file} \"$d/args\""),
        };
        let script = format!(
            "d=$(mktemp -d \"${{TMPDIR:-/tmp}}/tend-module.XXXXXXXX\") || exit 1; \
             trap 'rm -rf -- \"$d\"' EXIT HUP INT TERM; \
             (umask 077; head -c {len} > \"$d/args\" && cat > \"$d\"/{file}) && chmod 0700 \"$d\"/{file} || exit 1; \
             __m=\"$d\"/{file}; {complete}\
             {run} </dev/null",
            len = arguments.len(),
            complete = crate::require_size("__m", self.data.len()),
        );
        let mut stdin = arguments;
        stdin.extend_from_slice(&self.data);
        let out = ctx.host.sh_raw(&script, Some(&stdin)).await?;
        let stdout = out.stdout_lossy();
        let parsed = json_part(&stdout).and_then(|text| {
            serde_json::from_str::<Map<String, Value>>(text)
                .map_err(|_| "the module's output is not a JSON object")
        });
        match parsed {
            Ok(result) => Ok(outcome_from_result(result)),
            Err(why) => {
                let mut values = Map::new();
                values.insert("module_stdout".into(), Value::String(stdout.to_string()));
                values.insert(
                    "module_stderr".into(),
                    Value::String(out.stderr_lossy().to_string()),
                );
                values.insert("rc".into(), Value::from(out.exit_code));
                Err(ModuleError::Failed {
                    msg: format!("Module result deserialization failed: {why}"),
                    values,
                })
            }
        }
    }
}

/// Loads a `library/` module once per path for the life of the process: compiled plans hold
/// `&'static dyn DynModule`, and a playbook compiled again (tests, `import_playbook`) reuses it.
pub fn load_static(name: &str, path: &Path) -> Result<&'static dyn DynModule, LoadError> {
    static LOADED: OnceLock<Mutex<HashMap<(String, PathBuf), &'static ExecutableModule>>> =
        OnceLock::new();
    let key = (name.to_string(), path.to_path_buf());
    let loaded = LOADED.get_or_init(Default::default);
    let mut map = loaded.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(module) = map.get(&key) {
        return Ok(*module);
    }
    let module: &'static ExecutableModule =
        Box::leak(Box::new(ExecutableModule::load(name, path)?));
    map.insert(key, module);
    Ok(module)
}

/// Finds the module file for `name` in `dirs`, in order: `dir/name`, else `dir/name.EXT`.
pub fn find_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return None;
    }
    for dir in dirs {
        let exact = dir.join(name);
        if exact.is_file() {
            return Some(exact);
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut matches: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|f| f.to_str())
                        .and_then(|f| f.split_once('.'))
                        .is_some_and(|(stem, _)| stem == name)
            })
            .collect();
        matches.sort();
        if let Some(found) = matches.into_iter().next() {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_like_ansible() {
        assert_eq!(classify(b"\x7fELF\x02\x01\x01\0\0"), Ok(Style::Binary));
        assert_eq!(
            classify(b"#!/bin/sh\n# WANT_JSON\ncat $1\n"),
            Ok(Style::WantJson)
        );
        assert_eq!(classify(b"#!/bin/sh\n. $1\n"), Ok(Style::Old));
        assert!(
            classify(b"#!/usr/bin/python\nfrom ansible.module_utils.basic import *\n").is_err()
        );
    }

    #[test]
    fn old_style_arguments_are_python_str_and_shlex_quoted() {
        assert_eq!(shlex_quote("plain/path-1.2"), "plain/path-1.2");
        assert_eq!(shlex_quote("it's"), "'it'\"'\"'s'");
        assert_eq!(shlex_quote(""), "''");
        assert_eq!(python_str(&json!(true)), "True");
        assert_eq!(python_str(&json!(["a", 1, null])), "['a', 1, None]");
        assert_eq!(python_str(&json!({"k": "v"})), "{'k': 'v'}");
    }

    #[test]
    fn arguments_are_written_as_python_json_dumps() {
        let text = python_json(&json!({"a": [1, true, null], "s": "é\"\n", "n": 1.5}));
        assert_eq!(
            String::from_utf8(text).expect("utf8"),
            r#"{"a": [1, true, null], "s": "\u00e9\"\n", "n": 1.5}"#
        );
    }

    #[test]
    fn json_is_found_between_junk_lines() {
        let out = "motd line\n  {\"changed\": true,\n \"x\": 1}\ntrailing\n";
        assert_eq!(json_part(out), Ok("{\"changed\": true,\n \"x\": 1}"));
        assert_eq!(json_part("nothing"), Err("No start of json char found"));
        assert_eq!(
            json_part("{ unterminated"),
            Err("No end of json char found")
        );
    }

    #[test]
    fn results_map_to_outcomes() {
        let result = json!({
            "changed": "yes", "msg": "done", "rc": 0, "greeting": "hi",
            "_ansible_no_log": false,
            "diff": {"before": "a\n", "after": {"b": 1, "a": 2}, "before_header": "/x"},
            "ansible_facts": {"color": "blue"}, "warnings": ["careful"]
        });
        let Value::Object(map) = result else {
            unreachable!()
        };
        let o = outcome_from_result(map);
        assert!(o.changed && !o.failed);
        assert_eq!(o.msg.as_deref(), Some("done"));
        assert_eq!(o.values["greeting"], "hi");
        assert!(!o.values.contains_key("_ansible_no_log"));
        assert_eq!(o.facts["color"], "blue");
        assert_eq!(o.warnings, ["careful"]);
        assert_eq!(o.diffs[0].before_header, "/x");
        assert_eq!(o.diffs[0].after, "{\n  \"a\": 2,\n  \"b\": 1\n}\n");

        let Value::Object(map) = json!({"rc": 3}) else {
            unreachable!()
        };
        assert!(
            outcome_from_result(map).failed,
            "a non-zero rc without `failed` fails"
        );
        let Value::Object(map) = json!({"rc": 3, "failed": false}) else {
            unreachable!()
        };
        assert!(!outcome_from_result(map).failed);
    }

    #[test]
    fn finds_module_files_with_or_without_an_extension() {
        let dir = tempfile_dir();
        std::fs::write(dir.join("hello.sh"), "#!/bin/sh\n").expect("write");
        std::fs::write(dir.join("exact"), "#!/bin/sh\n").expect("write");
        let dirs = vec![dir.clone()];
        assert_eq!(find_in(&dirs, "hello"), Some(dir.join("hello.sh")));
        assert_eq!(find_in(&dirs, "exact"), Some(dir.join("exact")));
        assert_eq!(find_in(&dirs, "missing"), None);
        assert_eq!(find_in(&dirs, "../etc"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tend-exec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }
}
