//! Executable inventory scripts (Ansible's `script` inventory plugin): the script is run with
//! `--list` and prints JSON, a mapping of group names to either a list of hosts or an object
//! with `hosts`, `vars` and `children`, plus an optional `_meta.hostvars`. Without
//! `_meta.hostvars` the script is run again with `--host <name>` for each of its hosts.
//!
//! As in Ansible, host names are used verbatim (no ranges, no `name:port`), and `all` and
//! `ungrouped` are ordinary entries that [`InventoryData::reconcile`] later completes.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use indexmap::IndexSet;
use serde_json::{Map, Value};

use crate::data::InventoryData;
use crate::InventoryError;

const GROUP_KEYS: [&str; 3] = ["hosts", "vars", "children"];

/// Whether a file is run rather than read: it has an executable bit and starts with `#!` or
/// is not text at all (a compiled program). An executable text file without `#!` is read as
/// YAML or INI, which is where Ansible ends up too: it cannot exec such a file and falls back
/// to its other inventory plugins.
pub(crate) fn is_script(meta: &fs::Metadata, content: &[u8]) -> bool {
    is_executable(meta)
        && (content.starts_with(b"#!")
            || content.contains(&0)
            || std::str::from_utf8(content).is_err())
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// The error for a `#!` file that cannot be run because it is not executable.
pub(crate) fn not_executable(path: &Path) -> InventoryError {
    InventoryError::ScriptNotRunnable {
        path: path.to_path_buf(),
        reason: "it starts with `#!` but is not executable (`chmod +x` it to use it as an \
                 inventory script)"
            .into(),
    }
}

/// Runs the inventory script at `path` and adds its groups, hosts and variables to `data`.
/// The caller has set `data.current_source` to the script.
pub(crate) fn parse(data: &mut InventoryData, path: &Path) -> Result<(), InventoryError> {
    let script = Script::new(path);
    let root = match script.run_json(&["--list"])? {
        Some(Value::Object(root)) => root,
        Some(other) => {
            return Err(script.shape(
                "",
                format!(
                    "the output must be a JSON object of groups, found {}",
                    type_name(&other)
                ),
            ))
        }
        None => {
            return Err(script.shape(
                "",
                "printed nothing; an inventory script must print a JSON object of groups",
            ))
        }
    };
    let mut parser = ScriptInventory {
        data,
        script: &script,
        hosts: IndexSet::new(),
    };
    let mut meta = None;
    for (name, value) in &root {
        if name == "_meta" {
            meta = Some(value);
        } else {
            parser.group(name, value)?;
        }
    }
    let hostvars = match meta {
        None => None,
        Some(Value::Object(meta)) => match meta.get("hostvars") {
            // Ansible treats a null `hostvars` like a missing one.
            None | Some(Value::Null) => None,
            Some(Value::Object(hostvars)) => Some(hostvars),
            Some(other) => {
                return Err(script.shape(
                    "_meta.hostvars",
                    format!(
                        "must be an object of host names to variables, found {}",
                        type_name(other)
                    ),
                ))
            }
        },
        Some(other) => {
            return Err(script.shape(
                "_meta",
                format!(
                    "must be an object (with `hostvars`), found {}",
                    type_name(other)
                ),
            ))
        }
    };
    parser.host_vars(hostvars)
}

/// The script being run, for commands and errors.
struct Script {
    /// The path as given, for messages.
    path: PathBuf,
    /// An absolute path, so a script named without a directory is not looked up in `PATH`.
    program: PathBuf,
}

impl Script {
    fn new(path: &Path) -> Script {
        Script {
            path: path.to_path_buf(),
            program: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        }
    }

    fn command_line(&self, args: &[&str]) -> String {
        let mut line = self.path.display().to_string();
        for arg in args {
            line.push(' ');
            line.push_str(arg);
        }
        line
    }

    fn shape(&self, key: &str, message: impl Into<String>) -> InventoryError {
        InventoryError::ScriptShape {
            path: self.path.clone(),
            command: self.command_line(&["--list"]),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// Runs the script (stdin null, working directory unchanged) and parses what it prints as
    /// JSON; `None` when it printed only whitespace.
    fn run_json(&self, args: &[&str]) -> Result<Option<Value>, InventoryError> {
        let output = self.run(args)?;
        if output.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&output.stdout)
            .map(Some)
            .map_err(|e| {
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                let full = e.to_string();
                InventoryError::ScriptJson {
                    path: self.path.clone(),
                    command: self.command_line(args),
                    line: e.line(),
                    col: e.column(),
                    message: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
                }
            })
    }

    fn run(&self, args: &[&str]) -> Result<Output, InventoryError> {
        let mut attempts = 0;
        let output = loop {
            let result = Command::new(&self.program)
                .args(args)
                .stdin(Stdio::null())
                .output();
            match result {
                // A file still open for writing somewhere (typically a just-written script
                // inherited by a concurrently forked child) cannot be executed yet; this
                // clears within moments.
                Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && attempts < 20 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(10 * attempts));
                }
                Err(e) => return Err(self.not_runnable(&e)),
                Ok(output) => break output,
            }
        };
        if !output.status.success() {
            return Err(InventoryError::ScriptFailed {
                path: self.path.clone(),
                command: self.command_line(args),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(output)
    }

    fn not_runnable(&self, e: &std::io::Error) -> InventoryError {
        let reason = match e.kind() {
            // The script exists, so what is missing is the interpreter of its `#!` line.
            ErrorKind::NotFound if self.program.exists() => {
                let interpreter = fs::read(&self.program)
                    .ok()
                    .and_then(|bytes| {
                        let line = bytes.split(|&b| b == b'\n').next()?.strip_prefix(b"#!")?;
                        Some(String::from_utf8_lossy(line).trim().to_string())
                    })
                    .filter(|i| !i.is_empty());
                match interpreter {
                    Some(i) => format!("its interpreter `{i}` was not found ({e})"),
                    None => format!("its interpreter was not found ({e})"),
                }
            }
            _ => e.to_string(),
        };
        InventoryError::ScriptNotRunnable {
            path: self.path.clone(),
            reason,
        }
    }
}

struct ScriptInventory<'a> {
    data: &'a mut InventoryData,
    script: &'a Script,
    /// The hosts this script named, in the order it first named them.
    hosts: IndexSet<usize>,
}

impl ScriptInventory<'_> {
    fn group(&mut self, name: &str, value: &Value) -> Result<(), InventoryError> {
        if name.is_empty() {
            return Err(self.script.shape("", "a group name must not be empty"));
        }
        let group = self.data.add_group(name);
        let body = match value {
            Value::Array(_) => {
                return self.hosts(group, name, value);
            }
            Value::Object(body) => body,
            other => {
                return Err(self.script.shape(
                    name,
                    format!(
                        "a group must be a list of host names or an object with `hosts`, \
                         `vars` or `children`, found {}",
                        type_name(other)
                    ),
                ))
            }
        };
        if !GROUP_KEYS.iter().any(|k| body.contains_key(*k)) {
            // Ansible's shorthand: an object with none of the group keys is a host named
            // like the group, and the object holds the group's variables.
            self.add_host(group, name);
            return self.vars(group, name, body);
        }
        if let Some(hosts) = body.get("hosts") {
            self.hosts(group, &format!("{name}.hosts"), hosts)?;
        }
        if let Some(vars) = body.get("vars") {
            let key = format!("{name}.vars");
            match vars {
                Value::Object(vars) => self.vars(group, &key, vars)?,
                other => {
                    return Err(self.script.shape(
                        &key,
                        format!("must be an object of variables, found {}", type_name(other)),
                    ))
                }
            }
        }
        if let Some(children) = body.get("children") {
            let key = format!("{name}.children");
            for (i, child) in self.names(&key, children, "group")?.into_iter().enumerate() {
                let child_group = self.data.add_group(child);
                self.data
                    .add_child_group(group, child_group)
                    .map_err(|m| self.script.shape(&format!("{key}[{i}]"), m))?;
            }
        }
        Ok(())
    }

    fn hosts(&mut self, group: usize, key: &str, value: &Value) -> Result<(), InventoryError> {
        for name in self.names(key, value, "host")? {
            self.add_host(group, name);
        }
        Ok(())
    }

    fn add_host(&mut self, group: usize, name: &str) {
        let host = self.data.add_host(name, Some(group), None);
        self.hosts.insert(host);
    }

    /// A list of non-empty host or group names.
    fn names<'v>(
        &self,
        key: &str,
        value: &'v Value,
        what: &str,
    ) -> Result<Vec<&'v str>, InventoryError> {
        let Value::Array(items) = value else {
            return Err(self.script.shape(
                key,
                format!("must be a list of {what} names, found {}", type_name(value)),
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if !s.is_empty() => Ok(s.as_str()),
                other => Err(self.script.shape(
                    &format!("{key}[{i}]"),
                    format!(
                        "a {what} name must be a non-empty string, found {}",
                        describe(other)
                    ),
                )),
            })
            .collect()
    }

    fn vars(
        &mut self,
        group: usize,
        key: &str,
        vars: &Map<String, Value>,
    ) -> Result<(), InventoryError> {
        for (var, value) in vars {
            self.data
                .set_group_var(group, var, value.clone())
                .map_err(|m| self.script.shape(&format!("{key}.{var}"), m))?;
        }
        Ok(())
    }

    /// Sets each of the script's hosts' own variables, from `_meta.hostvars` when the script
    /// gave it, else from `--host <name>`.
    fn host_vars(self, hostvars: Option<&Map<String, Value>>) -> Result<(), InventoryError> {
        for &host in &self.hosts {
            let name = self.data.hosts[host].name.clone();
            let vars = match hostvars {
                Some(hostvars) => match hostvars.get(&name) {
                    None | Some(Value::Null) => continue,
                    Some(Value::Object(vars)) => vars.clone(),
                    Some(other) => {
                        return Err(self.script.shape(
                            &format!("_meta.hostvars.{name}"),
                            format!(
                                "the variables of a host must be an object, found {}",
                                type_name(other)
                            ),
                        ))
                    }
                },
                None => {
                    let args = ["--host", name.as_str()];
                    match self.script.run_json(&args)? {
                        None => continue,
                        Some(Value::Object(vars)) => vars,
                        Some(other) => {
                            return Err(InventoryError::ScriptShape {
                                path: self.script.path.clone(),
                                command: self.script.command_line(&args),
                                key: String::new(),
                                message: format!(
                                    "the output must be a JSON object of the host's \
                                     variables, found {}",
                                    type_name(&other)
                                ),
                            })
                        }
                    }
                }
            };
            for (k, v) in vars {
                self.data.set_host_var(host, &k, v);
            }
        }
        Ok(())
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => "an empty string".into(),
        other => type_name(other).into(),
    }
}
