//! `cron`: a named job (or environment variable) in a user's crontab or a file under
//! `/etc/cron.d`.
//!
//! ```yaml
//! - name: Nightly backup, as root
//!   ansible.builtin.cron:
//!     name: backup
//!     minute: "30"
//!     hour: "2"
//!     job: /usr/local/bin/backup >/dev/null 2>&1
//!
//! - name: A system job in /etc/cron.d (the user column comes from `user`)
//!   ansible.builtin.cron:
//!     name: rotate
//!     special_time: hourly
//!     user: www-data
//!     job: /usr/local/bin/rotate
//!     cron_file: app
//!
//! - name: An environment line, above the others
//!   ansible.builtin.cron: {name: MAILTO, env: true, job: ops@example.com}
//!
//! - ansible.builtin.cron: {name: backup, state: absent}
//! ```
//!
//! The logic is Ansible's `cron.py`, step for step. Each job is the line after a
//! `#Ansible: NAME` marker; a job line already there without a marker gets one. A user's
//! crontab is read with `crontab -l` (`-u USER` when `user` is not the connecting user; the
//! `DO NOT EDIT` header lines a crontab may list first are dropped) and written back with
//! `crontab -` from standard input. A `cron_file` (a bare name is under `/etc/cron.d`) is
//! written atomically (a temporary file renamed over it, keeping its mode and owner; a new one
//! is `0644`), and removing its last job removes the file. `env: true` manages `NAME="value"`
//! lines: a new one goes first, or after/before the variable named by
//! `insertafter`/`insertbefore`. `backup` saves the crontab as it was to a `/tmp/crontab*`
//! file (returned as `backup_file`) when something changes.
//!
//! Returns `jobs` and `envs` (the names after the change), `cron_file` when given and
//! `backup_file` after a backup. The diff shows the crontab before and after, headed with the
//! file, `crontab for user "USER"`, or `crontab`.
//!
//! Differences from Ansible: a `cron_file` that is a symlink is replaced by a regular file
//! (Ansible writes through the link); Solaris, AIX and HP-UX crontab conventions are not
//! supported.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{quote, Context, Diff, Module, ModuleError, Outcome, Planned, WriteOptions};

use crate::pyre;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CronState {
    #[default]
    Present,
    Absent,
}

impl CronState {
    fn name(self) -> &'static str {
        match self {
            CronState::Present => "present",
            CronState::Absent => "absent",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecialTime {
    Reboot,
    Yearly,
    Annually,
    Monthly,
    Weekly,
    Daily,
    Hourly,
}

impl SpecialTime {
    fn name(self) -> &'static str {
        match self {
            SpecialTime::Reboot => "reboot",
            SpecialTime::Yearly => "yearly",
            SpecialTime::Annually => "annually",
            SpecialTime::Monthly => "monthly",
            SpecialTime::Weekly => "weekly",
            SpecialTime::Daily => "daily",
            SpecialTime::Hourly => "hourly",
        }
    }
}

fn star() -> String {
    "*".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronParams {
    /// The job's name: the `#Ansible: NAME` marker above it (the variable's name with `env`).
    pub name: String,
    /// Whose crontab (and, with `cron_file`, the user column); default the connecting user.
    pub user: Option<String>,
    /// The command to run (the variable's value with `env`).
    #[serde(alias = "value")]
    pub job: Option<String>,
    /// A file under `/etc/cron.d` (or an absolute path) instead of a user's crontab.
    pub cron_file: Option<String>,
    /// `present` (the default) or `absent`.
    #[serde(default)]
    pub state: CronState,
    /// Save the crontab as it was to a temporary file when it changes.
    #[serde(default)]
    pub backup: bool,
    /// Minute field (`*` by default).
    #[serde(default = "star")]
    pub minute: String,
    /// Hour field.
    #[serde(default = "star")]
    pub hour: String,
    /// Day-of-month field.
    #[serde(default = "star", alias = "dom")]
    pub day: String,
    /// Month field.
    #[serde(default = "star")]
    pub month: String,
    /// Day-of-week field.
    #[serde(default = "star", alias = "dow")]
    pub weekday: String,
    /// `@reboot`, `@daily`, ... instead of the five time fields.
    pub special_time: Option<SpecialTime>,
    /// Keep the job but comment it out.
    #[serde(default)]
    pub disabled: bool,
    /// Manage an environment variable line instead of a job.
    #[serde(default)]
    pub env: bool,
    /// With `env`: put a new variable after this variable's line.
    pub insertafter: Option<String>,
    /// With `env`: put a new variable before this variable's line.
    pub insertbefore: Option<String>,
}

impl CronParams {
    /// The crontab file this task edits, if it is a file.
    fn cron_path(&self) -> Option<String> {
        self.cron_file.as_ref().map(|f| {
            if f.starts_with('/') {
                f.clone()
            } else {
                format!("/etc/cron.d/{f}")
            }
        })
    }

    fn diff_header(&self) -> String {
        match (self.cron_path(), &self.user) {
            (Some(path), _) => path,
            (None, Some(user)) => format!("crontab for user \"{user}\""),
            (None, None) => "crontab".to_string(),
        }
    }
}

pub struct CronModule;

/// The crontab as read from the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CronObserved {
    /// The text as Ansible keeps it (`n_existing`): without a crontab's header lines.
    pub existing: String,
    /// Its lines, without the header lines.
    pub lines: Vec<String>,
    /// For a `cron_file`: whether it is a regular file.
    pub file_exists: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronWrite {
    /// The new crontab text.
    Content(String),
    /// The `cron_file` lost its last job: remove it.
    RemoveFile,
}

#[derive(Debug)]
pub struct CronAction {
    write: CronWrite,
    /// The crontab as it was, to save first (`backup`).
    backup: Option<String>,
    outcome: Outcome,
}

/// Runs `crontab` for `user` (with `-u` only for another user than the connecting one).
fn crontab_command(user: Option<&str>, args: &str) -> String {
    match user {
        Some(user) => format!(
            "u={}; if [ \"$(id -un)\" != \"$u\" ]; then crontab -u \"$u\" {args}; else crontab {args}; fi",
            quote(user)
        ),
        None => format!("crontab {args}"),
    }
}

const NO_CRONTAB: &str =
    "Failed to find required executable \"crontab\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[async_trait]
impl Module for CronModule {
    type Params = CronParams;
    type Observed = CronObserved;
    type Action = CronAction;

    const NAME: &'static str = "cron";

    async fn query(
        &self,
        params: &CronParams,
        ctx: &Context<'_>,
    ) -> Result<CronObserved, ModuleError> {
        let check = ctx.host.sh("command -v crontab >/dev/null 2>&1").await?;
        if !check.success() {
            return Err(ModuleError::failed(NO_CRONTAB));
        }
        if let Some(path) = params.cron_path() {
            let p = quote(&path);
            let out = ctx
                .host
                .sh(&format!(
                    "if [ -f {p} ]; then echo file; fi; [ -e {p} ] || exit 0; echo content; exec cat -- {p}"
                ))
                .await?;
            if !out.success() {
                // Ansible treats any unreadable cron file as missing.
                return Ok(CronObserved::default());
            }
            let text = out.stdout_lossy();
            let (file_exists, rest) = match text.strip_prefix("file\n") {
                Some(rest) => (true, rest),
                None => (false, text.as_str()),
            };
            return Ok(match rest.strip_prefix("content\n") {
                Some(content) => CronObserved {
                    existing: content.to_string(),
                    lines: splitlines(content),
                    file_exists,
                },
                None => CronObserved::default(),
            });
        }
        let out = ctx
            .host
            .sh(&crontab_command(params.user.as_deref(), "-l"))
            .await?;
        if out.exit_code != 0 && out.exit_code != 1 {
            return Err(ModuleError::failed("Unable to read crontab"));
        }
        Ok(strip_header(&out.stdout_lossy()))
    }

    fn plan(
        &self,
        params: &CronParams,
        observed: CronObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<CronAction>, ModuleError> {
        plan_with(params, observed, ctx.check_mode, ctx.diff)
    }

    async fn apply(
        &self,
        params: &CronParams,
        action: CronAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let CronAction {
            write,
            backup,
            mut outcome,
        } = action;
        if let Some(saved) = backup {
            let out = ctx
                .host
                .sh_with_stdin(
                    "set -e; b=$(mktemp \"${TMPDIR:-/tmp}/crontabXXXXXXXX\"); cat > \"$b\"; printf '%s' \"$b\"",
                    saved.as_bytes(),
                )
                .await?;
            if !out.success() {
                return Err(ModuleError::failed(out.stderr_lossy().trim().to_string()));
            }
            outcome
                .values
                .insert("backup_file".into(), out.stdout_lossy().into());
        }
        match (write, params.cron_path()) {
            (CronWrite::RemoveFile, Some(path)) => {
                ctx.host
                    .sh_ok(&format!("rm -f -- {}", quote(&path)))
                    .await?;
            }
            (CronWrite::Content(text), Some(path)) => {
                let exists = ctx.host.stat(&path, true).await?.is_some();
                // Ansible sets umask 022 before creating a cron file.
                let options = WriteOptions {
                    mode: (!exists).then(|| "0644".to_string()),
                    ..WriteOptions::default()
                };
                ctx.host
                    .write_file_atomic(&path, text.as_bytes(), &options)
                    .await?;
            }
            (CronWrite::Content(text), None) => {
                let out = ctx
                    .host
                    .sh_with_stdin(
                        &crontab_command(params.user.as_deref(), "-"),
                        text.as_bytes(),
                    )
                    .await?;
                if !out.success() {
                    let mut values = serde_json::Map::new();
                    values.insert("rc".into(), out.exit_code.into());
                    values.insert("stdout".into(), out.stdout_lossy().into());
                    values.insert("stderr".into(), out.stderr_lossy().into());
                    return Err(ModuleError::Failed {
                        msg: "Failed to install new cronfile: -".into(),
                        values,
                    });
                }
            }
            (CronWrite::RemoveFile, None) => {}
        }
        Ok(outcome)
    }
}

tend_module_api::register_module!(CronModule);

/// Python's `str.splitlines()` for the line breaks a crontab can hold.
fn splitlines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(at) => {
                lines.push(rest[..at].to_string());
                let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[at + skip..];
            }
            None => {
                lines.push(rest.to_string());
                break;
            }
        }
    }
    lines
}

/// `crontab -l` output without the header lines some crontabs list first (Ansible's `read`).
fn strip_header(out: &str) -> CronObserved {
    let header = [
        r"# DO NOT EDIT THIS FILE - edit the master and reinstall.",
        r"# \(/tmp/.*installed on.*\)",
        r"# \(.*version.*\)",
    ];
    let header: Vec<regex::Regex> = header
        .iter()
        .filter_map(|p| regex::Regex::new(&format!("^(?:{p})")).ok())
        .collect();
    let mut existing = out.to_string();
    let mut lines = Vec::new();
    for (count, line) in splitlines(out).into_iter().enumerate() {
        let is_header = header.iter().any(|re| re.is_match(&line));
        if count > 2 || !is_header {
            lines.push(line);
        } else if let Some(at) = existing.find(&line) {
            let mut end = at + line.len();
            if matches!(existing.as_bytes().get(end), Some(b'\n' | b'\r')) {
                end += 1;
            }
            existing.replace_range(at..end, "");
        }
    }
    CronObserved {
        existing,
        lines,
        file_exists: false,
    }
}

const MARKER: &str = "#Ansible: ";

fn comment(name: &str) -> String {
    format!("{MARKER}{name}")
}

/// The crontab being edited: Ansible's `CronTab` methods on its `lines`.
struct Crontab {
    lines: Vec<String>,
}

impl Crontab {
    fn render(&self) -> String {
        let text = self.lines.join("\n");
        if text.is_empty() {
            text
        } else {
            format!("{}\n", text.trim_end_matches(['\r', '\n']))
        }
    }

    /// `find_job`: the marker and job line for `name`; a third element (`true`) when a marker
    /// was just added or renamed above an exact copy of `job`.
    fn find_job(&mut self, name: &str, job: Option<&str>) -> Vec<String> {
        let mut current: Option<String> = None;
        for l in &self.lines {
            if let Some(c) = &current {
                if c == name {
                    return vec![c.clone(), l.clone()];
                }
                current = None;
            } else if l.starts_with(MARKER) {
                current = Some(l.replace(MARKER, ""));
            }
        }
        let Some(job) = job else {
            return Vec::new();
        };
        let len = self.lines.len();
        for i in 0..len {
            if self.lines[i] != job {
                continue;
            }
            // `lines[i - 1]` is the last line for i == 0, as in Python.
            let prev = if i == 0 { len - 1 } else { i - 1 };
            if !self.lines[prev].starts_with(MARKER) {
                self.lines.insert(i, comment(name));
                return vec![self.lines[i].clone(), job.to_string(), "true".into()];
            } else if !name.is_empty() && self.lines[prev] == comment("None") {
                self.lines[prev] = comment(name);
                return vec![self.lines[prev].clone(), job.to_string(), "true".into()];
            }
        }
        Vec::new()
    }

    /// `_update_job`: each `name` marker and the line after it become `job` (or go).
    fn update_job(&mut self, name: &str, job: Option<&str>) {
        let marker = comment(name);
        let mut out = Vec::new();
        let mut current: Option<String> = None;
        for l in std::mem::take(&mut self.lines) {
            if let Some(c) = current.take() {
                if let Some(job) = job {
                    out.push(c);
                    out.push(job.to_string());
                }
            } else if l == marker {
                current = Some(l);
            } else {
                out.push(l);
            }
        }
        self.lines = out;
    }

    fn find_env(&self, re: &regex::Regex) -> Option<usize> {
        self.lines.iter().position(|l| re.is_match(l))
    }

    /// `_update_env`: every line of the variable becomes `decl` (or goes).
    fn update_env(&mut self, re: &regex::Regex, decl: Option<&str>) {
        let lines = std::mem::take(&mut self.lines);
        self.lines = lines
            .into_iter()
            .filter_map(|l| {
                if re.is_match(&l) {
                    decl.map(str::to_string)
                } else {
                    Some(l)
                }
            })
            .collect();
    }

    fn job_names(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| l.starts_with(MARKER))
            .map(|l| l.replace(MARKER, ""))
            .collect()
    }

    fn env_names(&self) -> Vec<String> {
        self.lines
            .iter()
            // `re.match(r'^\S+=', l)`: a `=` after the first character of the first word.
            .filter(|l| {
                let word = l.split(char::is_whitespace).next().unwrap_or_default();
                word.char_indices().any(|(i, c)| i > 0 && c == '=')
            })
            .map(|l| l.split('=').next().unwrap_or_default().to_string())
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.trim().is_empty())
    }
}

/// `get_cron_job`: the job line as it goes into the crontab.
fn job_line(params: &CronParams, job: &str) -> String {
    let job = job.trim_matches(['\r', '\n']);
    let prefix = if params.disabled { "#" } else { "" };
    let user = params.user.as_deref().unwrap_or("None");
    let file = params.cron_file.is_some();
    match params.special_time {
        Some(special) if file => format!("{prefix}@{} {user} {job}", special.name()),
        Some(special) => format!("{prefix}@{} {job}", special.name()),
        None => {
            let fields = format!(
                "{} {} {} {} {}",
                params.minute, params.hour, params.day, params.month, params.weekday
            );
            if file {
                format!("{prefix}{fields} {user} {job}")
            } else {
                format!("{prefix}{fields} {job}")
            }
        }
    }
}

/// Ansible's `main()` from the read crontab on. Pure.
fn plan_with(
    params: &CronParams,
    observed: CronObserved,
    check_mode: bool,
    want_diff: bool,
) -> Result<Planned<CronAction>, ModuleError> {
    if params.insertafter.is_some() && params.insertbefore.is_some() {
        return Err(ModuleError::failed(
            "parameters are mutually exclusive: insertafter|insertbefore",
        ));
    }
    let mut warnings = Vec::new();
    if let Some(file) = &params.cron_file {
        if file == "/etc/crontab" {
            return Err(ModuleError::failed(
                "Will not manage /etc/crontab via cron_file, see documentation.",
            ));
        }
        let base = file.rsplit('/').next().unwrap_or(file);
        let ok = !base.is_empty()
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            warnings.push(format!(
                "Filename portion of cron_file (\"{base}\") should consist solely of upper- and \
                 lower-case letters, digits, underscores, and hyphens"
            ));
        }
    }
    let times = [
        &params.minute,
        &params.hour,
        &params.day,
        &params.month,
        &params.weekday,
    ];
    if params.special_time.is_some() && times.iter().any(|t| t.as_str() != "*") {
        return Err(ModuleError::failed(
            "You cannot combine special_time with any of the time or day/date parameters.",
        ));
    }
    let install = params.state == CronState::Present;
    if install {
        if params.cron_file.is_some() && params.user.is_none() {
            return Err(ModuleError::failed(
                "To use cron_file=... parameter you must specify user=... as well",
            ));
        }
        if params.job.is_none() {
            return Err(ModuleError::failed(
                "You must specify 'job' to install a new cron job or variable",
            ));
        }
        if (params.insertafter.is_some() || params.insertbefore.is_some()) && !params.env {
            return Err(ModuleError::failed(
                "Insertafter and insertbefore parameters are valid only with env=yes",
            ));
        }
    }
    let header = params.diff_header();
    let before_text = observed.existing.clone();
    let mut tab = Crontab {
        lines: observed.lines,
    };
    let backup = (params.backup && !check_mode).then(|| tab.render());
    let mut changed = false;

    if params.env {
        if params.name.contains(' ') {
            return Err(ModuleError::failed("Invalid name for environment variable"));
        }
        let job = params.job.as_deref().unwrap_or("None");
        let decl = format!("{}=\"{job}\"", params.name);
        let var_re = |name: &str| {
            pyre::compile(&format!("^{name}="), false, false).map_err(ModuleError::failed)
        };
        let re = var_re(&params.name)?;
        let old = tab.find_env(&re);
        if install {
            match old {
                None => {
                    let other = params.insertafter.as_deref().or(params.insertbefore.as_deref());
                    match other {
                        None => tab.lines.insert(0, decl),
                        Some(other) => match tab.find_env(&var_re(other)?) {
                            Some(at) => {
                                let at = if params.insertafter.is_some() { at + 1 } else { at };
                                tab.lines.insert(at, decl);
                            }
                            None => {
                                return Err(ModuleError::failed(format!(
                                    "Variable named '{other}' not found."
                                )))
                            }
                        },
                    }
                    changed = true;
                }
                Some(at) if tab.lines[at] != decl => {
                    tab.update_env(&re, Some(&decl));
                    changed = true;
                }
                Some(_) => {}
            }
        } else if old.is_some() {
            tab.update_env(&re, None);
            changed = true;
        }
    } else if install {
        let raw = params.job.as_deref().unwrap_or_default();
        if raw.trim_matches(['\r', '\n']).contains(['\r', '\n']) {
            warnings.push("Job should not contain line breaks".to_string());
        }
        let job = job_line(params, raw);
        let old = tab.find_job(&params.name, Some(&job));
        if old.is_empty() {
            tab.lines.push(comment(&params.name));
            tab.lines.push(job.clone());
            changed = true;
        }
        if old.len() > 1 && old[1] != job {
            tab.update_job(&params.name, Some(&job));
            changed = true;
        }
        if old.len() > 2 {
            tab.update_job(&params.name, Some(&job));
            changed = true;
        }
    } else {
        let old = tab.find_job(&params.name, None);
        if !old.is_empty() {
            tab.update_job(&params.name, None);
            changed = true;
            if params.cron_file.is_some() && tab.is_empty() {
                // The file goes away with its last job.
                let mut outcome = Outcome::ok()
                    .with_value(
                        "cron_file",
                        params.cron_file.clone().unwrap_or_default(),
                    )
                    .with_value("state", params.state.name());
                outcome.warnings = warnings;
                outcome.changed = if check_mode { observed.file_exists } else { true };
                if want_diff {
                    outcome.diffs.push(Diff {
                        before_header: format!("before: {header}"),
                        after_header: "after: /dev/null".into(),
                        before: before_text,
                        after: String::new(),
                    });
                }
                return Ok(if outcome.changed {
                    Planned::Change {
                        action: CronAction {
                            write: CronWrite::RemoveFile,
                            backup,
                            outcome: outcome.clone(),
                        },
                        preview: outcome,
                    }
                } else {
                    Planned::Done(outcome)
                });
            }
        }
    }

    // A crontab without a final newline is rewritten even when nothing else changes.
    if !changed && !before_text.is_empty() && !before_text.ends_with(['\r', '\n']) {
        changed = true;
    }

    let mut outcome = Outcome::ok()
        .with_value("jobs", strings(tab.job_names()))
        .with_value("envs", strings(tab.env_names()));
    outcome.changed = changed;
    outcome.warnings = warnings;
    if let Some(file) = &params.cron_file {
        outcome = outcome.with_value("cron_file", file.clone());
    }
    if !changed {
        return Ok(Planned::Done(outcome));
    }
    let after = tab.render();
    if want_diff && before_text != after {
        outcome.diffs.push(Diff::content(&header, before_text, after.clone()));
    }
    Ok(Planned::Change {
        action: CronAction {
            write: CronWrite::Content(after),
            backup,
            outcome: outcome.clone(),
        },
        preview: outcome,
    })
}

fn strings(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> CronParams {
        serde_json::from_value(json).expect("params")
    }

    fn observed(text: &str) -> CronObserved {
        CronObserved {
            existing: text.to_string(),
            lines: splitlines(text),
            file_exists: true,
        }
    }

    /// The planned content (or `None` for no change) and the outcome.
    fn run(p: serde_json::Value, text: &str) -> (Option<CronWrite>, Outcome) {
        match plan_with(&params(p), observed(text), false, true).expect("plan") {
            Planned::Done(o) => (None, o),
            Planned::Change { action, preview } => (Some(action.write), preview),
        }
    }

    fn content(text: &str) -> Option<CronWrite> {
        Some(CronWrite::Content(text.to_string()))
    }

    #[test]
    fn adds_updates_and_keeps_jobs() {
        let (w, o) = run(
            serde_json::json!({"name": "b", "minute": "5", "job": "ls"}),
            "MAILTO=x\n",
        );
        assert_eq!(w, content("MAILTO=x\n#Ansible: b\n5 * * * * ls\n"));
        assert_eq!(o.values["jobs"], serde_json::json!(["b"]));
        assert_eq!(o.values["envs"], serde_json::json!(["MAILTO"]));
        assert_eq!(o.diffs[0].before_header, "before: crontab");

        let (w, _) = run(
            serde_json::json!({"name": "b", "minute": "5", "job": "ls"}),
            "#Ansible: b\n5 * * * * ls\n",
        );
        assert_eq!(w, None);
        let (w, _) = run(
            serde_json::json!({"name": "b", "hour": "1", "job": "ls", "disabled": true}),
            "#Ansible: a\n* * * * * a\n#Ansible: b\n5 * * * * ls\n",
        );
        assert_eq!(w, content("#Ansible: a\n* * * * * a\n#Ansible: b\n#* 1 * * * ls\n"));
        // An unmarked copy of the job gets the marker.
        let (w, _) = run(
            serde_json::json!({"name": "b", "job": "ls"}),
            "* * * * * ls\n",
        );
        assert_eq!(w, content("#Ansible: b\n* * * * * ls\n"));
        // No final newline: rewritten.
        let (w, o) = run(
            serde_json::json!({"name": "b", "job": "ls"}),
            "#Ansible: b\n* * * * * ls",
        );
        assert_eq!(w, content("#Ansible: b\n* * * * * ls\n"));
        assert!(o.changed);
    }

    #[test]
    fn cron_files_have_a_user_column_and_go_with_their_last_job() {
        let p = serde_json::json!({"name": "r", "special_time": "hourly", "user": "www", "job": "x", "cron_file": "app"});
        let (w, o) = run(p, "");
        assert_eq!(w, content("#Ansible: r\n@hourly www x\n"));
        assert_eq!(o.values["cron_file"], "app");
        assert_eq!(o.diffs[0].after_header, "after: /etc/cron.d/app");
        let (w, o) = run(
            serde_json::json!({"name": "r", "state": "absent", "cron_file": "app"}),
            "#Ansible: r\n@hourly www x\n",
        );
        assert_eq!(w, Some(CronWrite::RemoveFile));
        assert_eq!(o.diffs[0].after_header, "after: /dev/null");
        assert!(!o.values.contains_key("jobs"));
        let err = plan_with(
            &params(serde_json::json!({"name": "r", "job": "x", "cron_file": "app"})),
            observed(""),
            false,
            false,
        )
        .expect_err("user needed");
        assert_eq!(
            err.to_string(),
            "To use cron_file=... parameter you must specify user=... as well"
        );
        let err = plan_with(
            &params(serde_json::json!({"name": "r", "job": "x", "special_time": "daily", "hour": "1"})),
            observed(""),
            false,
            false,
        )
        .expect_err("special");
        assert!(err.to_string().starts_with("You cannot combine"));
    }

    #[test]
    fn environment_lines() {
        let (w, _) = run(
            serde_json::json!({"name": "PATH", "env": true, "job": "/bin"}),
            "A=1\n#Ansible: j\n* * * * * x\n",
        );
        assert_eq!(w, content("PATH=\"/bin\"\nA=1\n#Ansible: j\n* * * * * x\n"));
        let (w, _) = run(
            serde_json::json!({"name": "B", "env": true, "job": "2", "insertafter": "A"}),
            "A=1\nC=3\n",
        );
        assert_eq!(w, content("A=1\nB=\"2\"\nC=3\n"));
        let (w, _) = run(
            serde_json::json!({"name": "B", "env": true, "job": "2", "insertbefore": "C"}),
            "A=1\nC=3\n",
        );
        assert_eq!(w, content("A=1\nB=\"2\"\nC=3\n"));
        let (w, _) = run(
            serde_json::json!({"name": "A", "env": true, "job": "9"}),
            "A=1\nC=3\n",
        );
        assert_eq!(w, content("A=\"9\"\nC=3\n"));
        let (w, _) = run(
            serde_json::json!({"name": "A", "env": true, "state": "absent"}),
            "A=1\nC=3\n",
        );
        assert_eq!(w, content("C=3\n"));
        let err = plan_with(
            &params(serde_json::json!({"name": "B", "env": true, "job": "2", "insertafter": "Z"})),
            observed("A=1\n"),
            false,
            false,
        )
        .expect_err("missing");
        assert_eq!(err.to_string(), "Variable named 'Z' not found.");
    }

    #[test]
    fn removal_drops_the_marker_and_the_next_line() {
        let (w, o) = run(
            serde_json::json!({"name": "a", "state": "absent"}),
            "#Ansible: a\n* * * * * a\n#Ansible: b\n* * * * * b\n",
        );
        assert_eq!(w, content("#Ansible: b\n* * * * * b\n"));
        assert_eq!(o.values["jobs"], serde_json::json!(["b"]));
        let (w, _) = run(serde_json::json!({"name": "zz", "state": "absent"}), "x=1\n");
        assert_eq!(w, None);
    }

    #[test]
    fn crontab_headers_are_dropped() {
        let out = "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n\
# (/tmp/crontab.abc installed on Mon Jan  1 00:00:00 2024)\n\
# (Cron version -- $Id: crontab.c,v 2.13 1994/01/17 03:20:37 vixie Exp $)\n\
#Ansible: a\n* * * * * a\n";
        let o = strip_header(out);
        assert_eq!(o.lines, vec!["#Ansible: a", "* * * * * a"]);
        assert_eq!(o.existing, "#Ansible: a\n* * * * * a\n");
        assert_eq!(splitlines("a\r\nb\rc\n"), vec!["a", "b", "c"]);
    }
}
