//! `file`: make a path a file, directory, symlink or nothing, with mode, owner and group.
//!
//! ```yaml
//! - name: Create the application directory (parents too)
//!   ansible.builtin.file:
//!     path: /srv/app/releases
//!     state: directory
//!     owner: app
//!     group: app
//!     mode: "0750"
//!
//! - name: Point current at the new release
//!   ansible.builtin.file:
//!     src: /srv/app/releases/42
//!     dest: /srv/app/current
//!     state: link
//!
//! - name: Tighten an existing file
//!   ansible.builtin.file:
//!     path: /etc/app.conf
//!     mode: u=rw,g=r,o=
//!
//! - name: Remove a tree
//!   ansible.builtin.file:
//!     path: /tmp/build
//!     state: absent
//! ```
//!
//! As in Ansible: without `state` the path keeps its current kind (a new path becomes a file,
//! or a directory with `recurse`); `state: file` never creates anything ("file (/x) is absent,
//! cannot continue"); `directory` creates missing parents and gives each directory it creates
//! the wanted attributes; `touch` creates an empty file and, with the default
//! `access_time`/`modification_time` of `now`, reports changed on every run; `link` replaces a
//! file or empty directory only with `force`; `absent` removes recursively. With `follow`
//! (default yes) a symlink at `path` is followed for `file`, `directory` and `touch`, and for
//! `link` the attributes go to the link's target.
//!
//! `hard` follows Ansible's `ensure_hardlink`: `src` must exist ("src does not exist"); a
//! relative `src` is taken as given, relative to the remote shell's working directory (the
//! login directory over SSH) as Ansible's module resolves it against its own working
//! directory, not against the link's directory as for `link`. When `path` is a directory the
//! link goes inside it, named after `src`. A path that already shares `src`'s inode is left as
//! it is (mode, owner and group still apply to the shared inode); another file or hard link is
//! replaced only with `force` ("Cannot link, file exists at destination"); a directory is never
//! replaced. A symlink at `path` whose target is `src` counts as done, as in Ansible. With
//! `follow` a symlink `src` is resolved and its final target linked. Replacing links to a
//! temporary name in the same directory and renames it over `path`, so the swap is atomic.
//! Without `state`, a hard-linked file with `src` given is treated as `hard`; without `src` as
//! `file` (Ansible fails there with "src is required for creating new hardlinks").
//!
//! Returns `path` (`dest` and `src` for `link`, `hard` and `touch`), and when the path exists
//! `state`, `mode`, `owner`, `group`, `uid`, `gid` and `size`. The diff lists `path`, and
//! `state`, `src`, `mode`, `owner`, `group` where they change.
//!
//! Explicit `access_time`/`modification_time` values are read with their `*_format` (Python
//! `strptime` directives `%Y %y %m %d %H %M %S`) as a local time of the host, which converts
//! them; they change the path only when its times differ (the diff shows `atime`/`mtime`).
//!
//! Not supported yet: SELinux and `attributes`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::mode::ModeArg;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

use crate::attrs::{self, AttrChange, AttrDiff, Entry, Ids, Probe, Wanted};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    File,
    Directory,
    Touch,
    Link,
    Hard,
    Absent,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileParams {
    /// The path to manage.
    #[serde(alias = "dest", alias = "name")]
    pub path: String,
    /// What the path should be; see the module docs for the default.
    pub state: Option<FileState>,
    /// Octal or symbolic permissions.
    pub mode: Option<ModeArg>,
    /// User name or uid.
    pub owner: Option<String>,
    /// Group name or gid.
    pub group: Option<String>,
    /// What a `link` points to (relative to the link's directory unless absolute), or what a
    /// `hard` link shares its inode with (relative to the shell's working directory).
    pub src: Option<String>,
    /// `link`: replace a file or empty directory, or link to a missing source; `hard`: replace
    /// a file or another hard link.
    #[serde(default)]
    pub force: bool,
    /// `directory`: set owner, group and mode on everything below too.
    #[serde(default)]
    pub recurse: bool,
    /// Follow a symlink at `path` (and its target gets the attributes).
    #[serde(default = "yes")]
    pub follow: bool,
    /// `now`, `preserve` or a time in `access_time_format` (default `now` for `touch`, else
    /// `preserve`).
    pub access_time: Option<String>,
    /// `now`, `preserve` or a time in `modification_time_format` (default `now` for `touch`,
    /// else `preserve`).
    pub modification_time: Option<String>,
    /// `strftime` format of `access_time` (default `%Y%m%d%H%M.%S`).
    pub access_time_format: Option<String>,
    /// `strftime` format of `modification_time` (default `%Y%m%d%H%M.%S`).
    pub modification_time_format: Option<String>,
}

impl FileParams {
    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            mode: self.mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }
}

/// What the query saw.
#[derive(Debug, Clone, Default)]
pub struct FileObserved {
    /// `path` with `~` expanded.
    path: String,
    probe: Probe,
    umask: u32,
    ids: Ids,
    /// `link`, `hard`: `src` as the host reads it (`~` expanded).
    src: Option<String>,
    /// `hard`: what is at `src` as given (relative to the shell's working directory).
    hard_src: Option<Probe>,
    /// `link`: the source resolved against the link's directory, and what is there.
    abs_src: Option<(String, Probe)>,
    /// `link` over a directory: whether it is empty.
    dir_empty: bool,
    /// `recurse`: everything below the directory, with its path.
    tree: Vec<(String, Entry)>,
    /// Explicit `access_time`/`modification_time` as the host's epoch seconds.
    want_atime: Option<i64>,
    want_mtime: Option<i64>,
    /// With explicit times: the path's current (atime, mtime).
    times: Option<(f64, f64)>,
}

/// A script that makes the change and ends with a probe of the result (`final`).
#[derive(Debug)]
pub struct FileAction {
    script: String,
    outcome: Outcome,
}

pub struct FileModule;

#[async_trait]
impl Module for FileModule {
    type Params = FileParams;
    type Observed = FileObserved;
    type Action = FileAction;

    const NAME: &'static str = "file";

    async fn query(
        &self,
        params: &FileParams,
        ctx: &Context<'_>,
    ) -> Result<FileObserved, ModuleError> {
        let mut script = attrs::assign("p", &params.path);
        // Without `state`, an existing symlink defaults to `link` and a hard-linked file to
        // `hard`, so `src` is probed both ways.
        let any_src = params.src.as_deref().filter(|_| {
            matches!(
                params.state,
                None | Some(FileState::Link) | Some(FileState::Hard)
            )
        });
        if let Some(src) = any_src {
            script.push_str(&attrs::assign("s", src));
            script.push_str(&attrs::show("src", "\"$s\""));
        }
        let hard_src =
            any_src.filter(|_| matches!(params.state, None | Some(FileState::Hard)));
        if params.state == Some(FileState::Hard) {
            if let Some(base) = any_src.map(py_basename).filter(|b| !b.is_empty()) {
                // Ansible puts the link inside a directory at `path` (following a symlink),
                // named after `src`.
                script.push_str(&format!(
                    "if [ -d \"$p\" ]; then case \"$p\" in */) p=\"$p\"{b} ;; *) p=\"$p\"/{b} ;; esac; fi; ",
                    b = quote(base)
                ));
            }
        }
        script.push_str(&attrs::show("path", "\"$p\""));
        script.push_str(&attrs::probe("p", "p"));
        script.push_str(&times_query(params));
        script.push_str(attrs::umask());
        if params.state != Some(FileState::Absent) {
            script.push_str(&attrs::lookup_ids(
                params.owner.as_deref(),
                params.group.as_deref(),
            ));
        }
        let link_src = any_src.filter(|_| matches!(params.state, None | Some(FileState::Link)));
        if hard_src.is_some() {
            script.push_str(&attrs::probe("h", "s"));
        }
        if link_src.is_some() {
            // Ansible resolves a relative source against the link's directory, or against
            // `path` itself when that is a real directory.
            script.push_str(
                "case \"$s\" in /*) a=\"$s\" ;; *) if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then a=\"$p/$s\"; \
                 else a=\"$(dirname -- \"$p\")/$s\"; fi ;; esac; ",
            );
            script.push_str(&attrs::show("abs", "\"$a\""));
            script.push_str(&attrs::probe("a", "a"));
            script.push_str(
                "if [ -d \"$p\" ] && [ ! -L \"$p\" ] && [ -z \"$(ls -A -- \"$p\")\" ]; then echo dir.empty; fi; ",
            );
        }
        if params.recurse {
            script.push_str("t=\"$p\"; ");
            if params.follow {
                script.push_str("if [ -L \"$t\" ]; then t=$(readlink -f -- \"$t\"); fi; ");
            }
            script.push_str(&attrs::show("root", "\"$t\""));
            script.push_str("if [ -d \"$t\" ]; then ");
            script.push_str(&attrs::tree("t", "t"));
            script.push_str("fi; ");
        }
        let report = attrs::run(ctx.host, &script).await?;
        let abs_src = match report.get("abs") {
            Some(abs) if link_src.is_some() => Some((abs.to_string(), report.probe("a")?)),
            _ => None,
        };
        let tree = match report.get("root") {
            Some(root) => report.tree("t", root)?,
            None => Vec::new(),
        };
        Ok(FileObserved {
            path: report.get("path").unwrap_or(&params.path).to_string(),
            probe: report.probe("p")?,
            umask: report.umask(),
            ids: Ids::from_report(params.owner.as_deref(), params.group.as_deref(), &report),
            src: report.get("src").map(str::to_string),
            hard_src: match hard_src {
                Some(_) => Some(report.probe("h")?),
                None => None,
            },
            abs_src,
            dir_empty: report.has("dir.empty"),
            tree,
            want_atime: report.get("want.atime").and_then(|e| e.trim().parse().ok()),
            want_mtime: report.get("want.mtime").and_then(|e| e.trim().parse().ok()),
            times: report.get("times").and_then(parse_times),
        })
    }

    fn plan(
        &self,
        params: &FileParams,
        observed: FileObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<FileAction>, ModuleError> {
        plan(params, observed, ctx.check_mode)
    }

    async fn apply(
        &self,
        _params: &FileParams,
        action: FileAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let report = attrs::run(ctx.host, &action.script).await?;
        let mut outcome = action.outcome;
        if let Some(entry) = report.probe("final")?.entry {
            outcome.values.extend(attrs::path_info(&entry));
        }
        Ok(outcome)
    }
}

tend_module_api::register_module!(FileModule);

/// Ansible's default format for `access_time`/`modification_time`.
const DEFAULT_TIME_FORMAT: &str = "%Y%m%d%H%M.%S";

/// One of `access_time`/`modification_time` as the task gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TimeArg {
    Preserve,
    Now,
    /// A local date and time on the host, `YYYY-MM-DD HH:MM:SS` (what `date -d` reads).
    At(String),
}

impl TimeArg {
    /// Parses the value with its `strftime` format, as Ansible's `get_timestamp_for_time`.
    fn parse(value: Option<&str>, format: Option<&str>, default_now: bool) -> Result<TimeArg, ModuleError> {
        match value {
            None if default_now => Ok(TimeArg::Now),
            None | Some("preserve") => Ok(TimeArg::Preserve),
            Some("now") => Ok(TimeArg::Now),
            Some(text) => {
                let format = format.unwrap_or(DEFAULT_TIME_FORMAT);
                strptime(text, format).map(TimeArg::At).map_err(|why| {
                    ModuleError::failed(format!(
                        "Error while obtaining timestamp for time {text} using format {format}: {why}"
                    ))
                })
            }
        }
    }
}

/// Python's `time.strptime` for the directives a timestamp needs (`%Y %y %m %d %H %M %S %j`
/// are not all: `%Y %y %m %d %H %M %S %%`), giving `YYYY-MM-DD HH:MM:SS`; fields the format
/// leaves out are 1900-01-01 00:00:00, as in Python.
fn strptime(text: &str, format: &str) -> Result<String, String> {
    let mismatch = || format!("time data '{text}' does not match format '{format}'");
    let (mut year, mut month, mut day, mut hour, mut minute, mut second) = (1900u32, 1u32, 1u32, 0u32, 0u32, 0u32);
    let mut rest = text;
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            rest = rest.strip_prefix(c).ok_or_else(mismatch)?;
            continue;
        }
        let directive = chars.next().ok_or_else(mismatch)?;
        let max_digits = match directive {
            'Y' => 4,
            'y' | 'm' | 'd' | 'H' | 'M' | 'S' => 2,
            '%' => {
                rest = rest.strip_prefix('%').ok_or_else(mismatch)?;
                continue;
            }
            other => return Err(format!("the format directive %{other} is not supported by tend")),
        };
        let digits = rest.chars().take(max_digits).take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(mismatch());
        }
        let value: u32 = rest[..digits].parse().map_err(|_| mismatch())?;
        rest = &rest[digits..];
        match directive {
            'Y' => year = value,
            'y' => year = if value < 69 { 2000 + value } else { 1900 + value },
            'm' => month = value,
            'd' => day = value,
            'H' => hour = value,
            'M' => minute = value,
            _ => second = value,
        }
    }
    if !rest.is_empty() {
        return Err(format!("unconverted data remains: {rest}"));
    }
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && minute < 60 && second < 62;
    if !valid {
        return Err(mismatch());
    }
    Ok(format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"))
}

/// What to do with one timestamp, once the host said what the wanted time is in its zone.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stamp {
    Keep,
    Now,
    Epoch(i64),
}

/// `access_time`/`modification_time`, resolved against the host.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Times {
    atime: Stamp,
    mtime: Stamp,
    /// The path's current (atime, mtime), with their fractions; `None` for a new path.
    current: Option<(f64, f64)>,
}

impl Times {
    fn from_params(params: &FileParams, state: FileState, observed: &FileObserved) -> Result<Times, ModuleError> {
        // Ansible's keep_backward_compatibility_on_timestamps: only touch defaults to now.
        let touch = state == FileState::Touch;
        let atime = TimeArg::parse(params.access_time.as_deref(), params.access_time_format.as_deref(), touch)?;
        let mtime = TimeArg::parse(
            params.modification_time.as_deref(),
            params.modification_time_format.as_deref(),
            touch,
        )?;
        let resolve = |arg: TimeArg, epoch: Option<i64>| match arg {
            TimeArg::Preserve => Ok(Stamp::Keep),
            TimeArg::Now => Ok(Stamp::Now),
            TimeArg::At(local) => epoch
                .map(Stamp::Epoch)
                .ok_or_else(|| ModuleError::failed(format!("the host could not read the time {local}"))),
        };
        Ok(Times {
            atime: resolve(atime, observed.want_atime)?,
            mtime: resolve(mtime, observed.want_mtime)?,
            current: observed.times,
        })
    }

    /// Whether the times change (`now` always does).
    fn any(self) -> bool {
        let differs = |stamp: Stamp, current: Option<f64>| match stamp {
            Stamp::Keep => false,
            Stamp::Now => true,
            Stamp::Epoch(e) => current != Some(e as f64),
        };
        let (a, m) = match self.current {
            Some((a, m)) => (Some(a), Some(m)),
            None => (None, None),
        };
        differs(self.atime, a) || differs(self.mtime, m)
    }

    /// `touch` for an existing path, never creating one.
    fn script(self, path_expr: &str, no_deref: bool) -> String {
        if !self.any() {
            return String::new();
        }
        let h = if no_deref { "-h " } else { "" };
        match (self.atime, self.mtime) {
            (Stamp::Now, Stamp::Now) => format!("touch -c {h}-- {path_expr}; "),
            (atime, mtime) => {
                let one = |flag: &str, stamp: Stamp| match stamp {
                    Stamp::Keep => String::new(),
                    Stamp::Now => format!("touch -c {flag} {h}-- {path_expr}; "),
                    Stamp::Epoch(e) => format!("touch -c {flag} -d @{e} {h}-- {path_expr}; "),
                };
                format!("{}{}", one("-a", atime), one("-m", mtime))
            }
        }
    }

    /// Ansible's diff of changed times (`mtime`/`atime` before and after, as floats).
    fn diff(self, diff: &mut AttrDiff) {
        let Some((atime, mtime)) = self.current else {
            return;
        };
        let float = |f: f64| {
            let text = f.to_string();
            if text.contains('.') { text } else { format!("{text}.0") }
        };
        if let Stamp::Epoch(e) = self.mtime {
            if mtime != e as f64 {
                diff.pair("mtime", float(mtime), float(e as f64));
            }
        }
        if let Stamp::Epoch(e) = self.atime {
            if atime != e as f64 {
                diff.pair("atime", float(atime), float(e as f64));
            }
        }
    }
}

/// The shell commands that print what the query needs for explicit times: the wanted times as
/// the host's epoch seconds, and the path's current times with their fractions.
fn times_query(params: &FileParams) -> String {
    let mut script = String::new();
    let explicit = [
        ("want.atime", params.access_time.as_deref(), params.access_time_format.as_deref()),
        ("want.mtime", params.modification_time.as_deref(), params.modification_time_format.as_deref()),
    ];
    for (key, value, format) in explicit {
        if let Ok(TimeArg::At(local)) = TimeArg::parse(value, format, false) {
            script.push_str(&format!(
                "if e=$(date -d {} +%s 2>/dev/null); then printf '{key}:%s\\n' \"$e\"; fi; ",
                quote(&local)
            ));
        }
    }
    if !script.is_empty() {
        script.push_str("if [ -e \"$p\" ]; then stat -L -c 'times:%X|%x|%Y|%y' -- \"$p\"; fi; ");
    }
    script
}

/// Parses `times:` (`%X|%x|%Y|%y`): whole seconds, then the fraction from the readable form.
fn parse_times(line: &str) -> Option<(f64, f64)> {
    let parts: Vec<&str> = line.split('|').collect();
    let [asec, aread, msec, mread] = parts[..] else {
        return None;
    };
    let with_fraction = |secs: &str, readable: &str| -> Option<f64> {
        let whole: i64 = secs.trim().parse().ok()?;
        let fraction = readable
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.split_once('.'))
            .map(|(_, f)| format!("0.{f}"))
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0);
        Some(whole as f64 + fraction)
    };
    Some((with_fraction(asec, aread)?, with_fraction(msec, mread)?))
}

/// Everything `plan` works from, after following a symlink where the state asks for it.
struct Target<'a> {
    path: String,
    entry: Option<&'a Entry>,
}

fn follow_link<'a>(observed: &'a FileObserved, follow: bool) -> Target<'a> {
    match (&observed.probe.entry, &observed.probe.real) {
        (Some(entry), Some(real)) if follow && entry.is_link() => Target {
            path: real.clone(),
            entry: observed.probe.target.as_ref(),
        },
        (entry, _) => Target {
            path: observed.path.clone(),
            entry: entry.as_ref(),
        },
    }
}

fn plan(
    params: &FileParams,
    observed: FileObserved,
    check_mode: bool,
) -> Result<Planned<FileAction>, ModuleError> {
    let prev_state = attrs::state_of(observed.probe.entry.as_ref());
    let state = match params.state {
        Some(state) => state,
        None => match prev_state {
            "absent" if params.recurse => FileState::Directory,
            "hard" if params.src.is_some() => FileState::Hard,
            "absent" | "file" | "hard" => FileState::File,
            "directory" => FileState::Directory,
            _ => FileState::Link,
        },
    };
    if params.recurse && state != FileState::Directory {
        return Err(ModuleError::failed(
            "recurse option requires state to be 'directory'",
        ));
    }
    if params.src.is_some() && !matches!(state, FileState::Link | FileState::Hard) {
        return Err(ModuleError::failed(
            "src option requires state to be 'link' or 'hard'",
        ));
    }
    let times = Times::from_params(params, state, &observed)?;
    match state {
        FileState::Absent => Ok(plan_absent(&observed)),
        FileState::File => plan_file(params, &observed, times),
        FileState::Directory => plan_directory(params, &observed, times, check_mode),
        FileState::Touch => plan_touch(params, &observed, times, check_mode),
        FileState::Link => plan_link(params, &observed, times, check_mode),
        FileState::Hard => plan_hard(params, &observed, times, check_mode),
    }
}

/// The result of a path left as it is: its path info, not changed.
fn unchanged(key: &str, path: &str, entry: Option<&Entry>) -> Planned<FileAction> {
    let mut outcome = Outcome::ok().with_value(key, path);
    if let Some(entry) = entry {
        outcome.values.extend(attrs::path_info(entry));
    }
    Planned::Done(outcome)
}

/// A change: the script to run, and what check mode reports (the path as it is now).
fn change(
    script: String,
    mut outcome: Outcome,
    diff: AttrDiff,
    current: Option<&Entry>,
) -> Planned<FileAction> {
    outcome.changed = true;
    outcome.diffs.push(diff.into_diff());
    let mut preview = outcome.clone();
    if let Some(entry) = current {
        for (k, v) in attrs::path_info(entry) {
            preview.values.entry(k).or_insert(v);
        }
    }
    Planned::Change {
        action: FileAction {
            script: format!("set -e; {script}{}", attrs::probe("final", "r")),
            outcome,
        },
        preview,
    }
}

/// `r` is what the final probe reports on.
fn set_result_var(path: &str) -> String {
    format!("r={}; ", quote(path))
}

fn plan_absent(observed: &FileObserved) -> Planned<FileAction> {
    let path = &observed.path;
    let Some(entry) = &observed.probe.entry else {
        return Planned::Done(
            Outcome::ok()
                .with_value("path", path.as_str())
                .with_value("state", "absent"),
        );
    };
    let mut diff = AttrDiff::new(path);
    diff.state(entry.state(), "absent");
    let script = format!("{}rm -rf -- \"$r\"; ", set_result_var(path));
    let outcome = Outcome::changed()
        .with_value("path", path.as_str())
        .with_value("state", "absent");
    // Nothing is left to describe: the preview must not carry the old path info either.
    change(script, outcome, diff, None)
}

fn plan_file(
    params: &FileParams,
    observed: &FileObserved,
    times: Times,
) -> Result<Planned<FileAction>, ModuleError> {
    let target = follow_link(observed, params.follow);
    let state = attrs::state_of(target.entry);
    let entry = match target.entry {
        Some(entry) if matches!(state, "file" | "hard") => entry,
        _ => {
            return Err(ModuleError::failed(format!(
                "file ({}) is {state}, cannot continue",
                target.path
            )))
        }
    };
    let change_attrs =
        attrs::changes(&entry.stat, &params.wanted(), &observed.ids, observed.umask)?;
    if change_attrs.is_empty() && !times.any() {
        return Ok(unchanged("path", &target.path, Some(entry)));
    }
    let mut diff = AttrDiff::new(&target.path);
    diff.attrs(Some(&entry.stat), &change_attrs);
    times.diff(&mut diff);
    let script = format!(
        "{}{}{}",
        set_result_var(&target.path),
        attrs::apply_script("\"$r\"", &change_attrs, false),
        times.script("\"$r\"", false)
    );
    let outcome = Outcome::changed().with_value("path", target.path.as_str());
    Ok(change(script, outcome, diff, Some(entry)))
}

/// Each missing directory on the way to `path`, shallowest first (Ansible's walk, which gives
/// every directory it creates the wanted attributes).
fn prefixes(path: &str) -> Vec<String> {
    let absolute = path.starts_with('/');
    let mut current = String::new();
    let mut out = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if absolute || !current.is_empty() {
            current.push('/');
        }
        current.push_str(part);
        out.push(current.clone());
    }
    out
}

fn plan_directory(
    params: &FileParams,
    observed: &FileObserved,
    times: Times,
    check_mode: bool,
) -> Result<Planned<FileAction>, ModuleError> {
    let target = follow_link(observed, params.follow);
    let wanted = params.wanted();
    let mut diff = AttrDiff::new(&target.path);
    let Some(entry) = target.entry else {
        let (ids, warnings) = observed.ids.for_new_path(check_mode);
        let new_attrs = attrs::for_new_path(&wanted, &ids, observed.umask, true)?;
        diff.state("absent", "directory");
        diff.attrs(None, &new_attrs);
        let mut script = set_result_var(&target.path);
        for dir in prefixes(&target.path) {
            let d = quote(&dir);
            script.push_str(&format!(
                "if [ ! -e {d} ]; then mkdir -- {d}; {}fi; ",
                attrs::apply_script(&d, &new_attrs, false)
            ));
        }
        script.push_str(&times.script("\"$r\"", false));
        let mut outcome = Outcome::changed().with_value("path", target.path.as_str());
        outcome.warnings = warnings;
        return Ok(change(script, outcome, diff, None));
    };
    if !entry.is_dir() {
        return Err(ModuleError::failed(format!(
            "{} already exists as a {}",
            target.path,
            entry.state()
        )));
    }
    let top = attrs::changes(&entry.stat, &wanted, &observed.ids, observed.umask)?;
    let mut below = String::new();
    if params.recurse {
        below = recursive_script(&observed.tree, &wanted, observed)?;
    }
    if top.is_empty() && below.is_empty() && !times.any() {
        return Ok(unchanged("path", &target.path, Some(entry)));
    }
    diff.attrs(Some(&entry.stat), &top);
    times.diff(&mut diff);
    let script = format!(
        "{}{}{below}{}",
        set_result_var(&target.path),
        attrs::apply_script("\"$r\"", &top, false),
        times.script("\"$r\"", false)
    );
    let outcome = Outcome::changed().with_value("path", target.path.as_str());
    Ok(change(script, outcome, diff, Some(entry)))
}

/// Commands fixing owner, group and mode below a directory, one command per distinct value so
/// a large tree stays a short script. Symlinks get owner and group themselves (`-h`), as
/// Ansible's `lchown`, and keep their mode. Empty when everything is already right.
fn recursive_script(
    tree: &[(String, Entry)],
    wanted: &Wanted,
    observed: &FileObserved,
) -> Result<String, ModuleError> {
    let mut owners: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    let mut groups: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    let mut modes: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for (path, entry) in tree {
        let change: AttrChange =
            attrs::changes(&entry.stat, wanted, &observed.ids, observed.umask)?;
        if let Some(uid) = change.uid {
            owners.entry(uid).or_default().push(path);
        }
        if let Some(gid) = change.gid {
            groups.entry(gid).or_default().push(path);
        }
        if let Some(mode) = change.mode {
            modes.entry(mode).or_default().push(path);
        }
    }
    let words = |paths: &[&str]| paths.iter().map(|p| quote(p)).collect::<Vec<_>>().join(" ");
    let mut script = String::new();
    for (uid, paths) in &owners {
        script.push_str(&format!("chown -h {uid} -- {}; ", words(paths)));
    }
    for (gid, paths) in &groups {
        script.push_str(&format!("chgrp -h {gid} -- {}; ", words(paths)));
    }
    for (mode, paths) in &modes {
        script.push_str(&format!(
            "chmod {} -- {}; ",
            attrs::chmod_octal(*mode),
            words(paths)
        ));
    }
    Ok(script)
}

fn plan_touch(
    params: &FileParams,
    observed: &FileObserved,
    times: Times,
    check_mode: bool,
) -> Result<Planned<FileAction>, ModuleError> {
    let path = &observed.path;
    let prev = observed.probe.entry.as_ref();
    let target = follow_link(observed, params.follow);
    let no_deref = !params.follow && prev.is_some_and(Entry::is_link);
    let wanted = params.wanted();
    let mut diff = AttrDiff::new(path);
    // Ansible's touch diff always shows the state going to "touch".
    diff.state(attrs::state_of(prev), "touch");
    let mut outcome = Outcome::changed().with_value("dest", path.as_str());
    let mut script = set_result_var(path);
    let (created, attr_change) = match target.entry {
        None => {
            let (ids, warnings) = observed.ids.for_new_path(check_mode);
            outcome.warnings = warnings;
            let new_attrs = attrs::for_new_path(&wanted, &ids, observed.umask, false)?;
            diff.attrs(None, &new_attrs);
            script.push_str("touch -- \"$r\"; ");
            (true, new_attrs)
        }
        Some(entry) => {
            let change = attrs::changes(&entry.stat, &wanted, &observed.ids, observed.umask)?;
            diff.attrs(Some(&entry.stat), &change);
            times.diff(&mut diff);
            (false, change)
        }
    };
    if !created && attr_change.is_empty() && !times.any() {
        return Ok(unchanged("dest", path, prev));
    }
    script.push_str(&attrs::apply_script("\"$r\"", &attr_change, no_deref));
    script.push_str(&times.script("\"$r\"", no_deref));
    Ok(change(script, outcome, diff, prev))
}

fn plan_link(
    params: &FileParams,
    observed: &FileObserved,
    times: Times,
    check_mode: bool,
) -> Result<Planned<FileAction>, ModuleError> {
    let path = &observed.path;
    let prev = observed.probe.entry.as_ref();
    let prev_state = attrs::state_of(prev);
    let current_src = prev.and_then(|e| e.stat.link_target.clone());
    let (src, abs_src) = match (&observed.src, &observed.abs_src) {
        (Some(src), Some(abs)) => (src.clone(), Some(abs)),
        // An existing link without `src` is kept as it is; only its attributes are managed.
        _ => match &current_src {
            Some(current) => (current.clone(), None),
            None => {
                return Err(ModuleError::failed(
                    "src is required for creating new symlinks",
                ))
            }
        },
    };
    if let Some((abs, probe)) = abs_src {
        if !params.force && probe.entry.is_none() {
            return Err(ModuleError::failed(format!(
                "src file does not exist, use \"force=yes\" if you really want to create the link: {abs}"
            )));
        }
    }
    match prev_state {
        "directory" if !params.force => {
            return Err(ModuleError::failed(format!(
                "refusing to convert from directory to symlink for {path}"
            )))
        }
        "directory" if !observed.dir_empty => {
            return Err(ModuleError::failed(format!(
                "the directory {path} is not empty, refusing to convert it"
            )))
        }
        "file" | "hard" if !params.force => {
            return Err(ModuleError::failed(format!(
                "refusing to convert from {prev_state} to symlink for {path}"
            )))
        }
        _ => {}
    }
    let mut diff = AttrDiff::new(path);
    diff.state(prev_state, "link");
    let relink = match &current_src {
        Some(current) if prev_state == "link" => {
            if *current != src {
                diff.pair("src", current.as_str(), src.as_str());
            }
            *current != src
        }
        _ => true,
    };

    let mut outcome = Outcome::changed()
        .with_value("dest", path.as_str())
        .with_value("src", src.as_str());
    let wanted = params.wanted();
    let wants_attrs = wanted.mode.is_some() || wanted.owner.is_some() || wanted.group.is_some();
    let mut script = format!("{}s={}; ", set_result_var(path), quote(&src));
    if relink {
        if prev_state == "directory" {
            script.push_str("rmdir -- \"$r\"; ");
        }
        // -n: replace a symlink to a directory rather than create the link inside it.
        script.push_str("ln -sfn -- \"$s\" \"$r\"; ");
    }
    let attr_change = if params.follow {
        // The attributes belong to what the link points to.
        let target = abs_src.and_then(|(abs, probe)| {
            let entry = match &probe.entry {
                Some(e) if e.is_link() => probe.target.as_ref(),
                other => other.as_ref(),
            };
            entry.map(|e| (abs, e))
        });
        let target = match (target, prev, &observed.probe.target) {
            (Some((abs, entry)), _, _) => Some((abs.clone(), entry)),
            (None, Some(p), Some(t)) if p.is_link() && !relink => Some((
                observed.probe.real.clone().unwrap_or_else(|| path.clone()),
                t,
            )),
            _ => None,
        };
        match target {
            Some((abs, entry)) => {
                let change = attrs::changes(&entry.stat, &wanted, &observed.ids, observed.umask)?;
                diff.attrs(Some(&entry.stat), &change);
                script.push_str(&format!(
                    "a={}; {}{}",
                    quote(&abs),
                    attrs::apply_script("\"$a\"", &change, false),
                    times.script("\"$a\"", false)
                ));
                change
            }
            None => {
                if wants_attrs {
                    outcome.warnings.push(
                        "Cannot set fs attributes on a non-existent symlink target. follow should be \
                         set to False to avoid this."
                            .into(),
                    );
                }
                AttrChange::default()
            }
        }
    } else {
        let change = match prev {
            Some(entry) if !relink => {
                attrs::changes(&entry.stat, &wanted, &observed.ids, observed.umask)?
            }
            _ => {
                let (ids, warnings) = observed.ids.for_new_path(check_mode);
                outcome.warnings.extend(warnings);
                let (uid, gid) = ids.known()?;
                AttrChange {
                    uid,
                    gid,
                    mode: None,
                }
            }
        };
        diff.attrs(prev.filter(|_| !relink).map(|e| &e.stat), &change);
        script.push_str(&attrs::apply_script("\"$r\"", &change, true));
        script.push_str(&times.script("\"$r\"", true));
        change
    };
    if !relink && attr_change.is_empty() && !times.any() {
        let mut done = unchanged("dest", path, prev);
        if let Planned::Done(outcome) = &mut done {
            outcome.values.insert("src".into(), Value::from(src));
        }
        return Ok(done);
    }
    Ok(change(script, outcome, diff, prev))
}

/// Python's `os.path.basename`: everything after the last `/` (empty for a trailing `/`).
fn py_basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Ansible's `ensure_hardlink` failures carry `dest` and `src`.
fn hard_error(msg: impl Into<String>, path: &str, src: &str) -> ModuleError {
    let mut values = Map::new();
    values.insert("dest".into(), path.into());
    values.insert("src".into(), src.into());
    ModuleError::Failed {
        msg: msg.into(),
        values,
    }
}

/// Ansible's `ensure_hardlink`; identity is device and inode, where Ansible compares only the
/// inode (a link across devices cannot exist anyway).
fn plan_hard(
    params: &FileParams,
    observed: &FileObserved,
    times: Times,
    check_mode: bool,
) -> Result<Planned<FileAction>, ModuleError> {
    let path = &observed.path;
    let (Some(src), Some(src_probe)) = (&observed.src, &observed.hard_src) else {
        return Err(ModuleError::failed(
            "src is required for creating new hardlinks",
        ));
    };
    // `os.path.exists` follows symlinks: a dangling one is no source.
    let resolved = match &src_probe.entry {
        Some(e) if e.is_link() => src_probe.target.as_ref(),
        other => other.as_ref(),
    };
    let Some(resolved) = resolved else {
        return Err(hard_error("src does not exist", path, src));
    };
    // What the new link will share an inode with, and the path `ln` is given for it.
    let (linked, link_from) = match (&src_probe.entry, &src_probe.real) {
        (Some(e), Some(real)) if params.follow && e.is_link() => (resolved, real.as_str()),
        (Some(e), _) => (e, src.as_str()),
        (None, _) => (resolved, src.as_str()),
    };
    let same = |e: &Entry| e.inode == linked.inode && e.dev == linked.dev;

    let prev = observed.probe.entry.as_ref();
    let prev_state = attrs::state_of(prev);
    let mut diff = AttrDiff::new(path);
    diff.state(prev_state, "hard");
    let relink = match prev {
        None => true,
        Some(entry) => match prev_state {
            "link" => {
                let old = entry.stat.link_target.as_deref().unwrap_or_default();
                let relink = old != src.as_str() && !same(entry);
                if relink {
                    diff.pair("src", old, src.as_str());
                }
                relink
            }
            "hard" if same(entry) => false,
            "hard" if !params.force => {
                return Err(hard_error(
                    "Cannot link, different hard link exists at destination",
                    path,
                    src,
                ))
            }
            "directory" if same(entry) => return Ok(unchanged("path", path, Some(entry))),
            "directory" if !params.force => {
                return Err(hard_error(
                    "Cannot link: different hard link exists at destination",
                    path,
                    src,
                ))
            }
            // Ansible unlinks the directory, which the kernel refuses; check mode never tries.
            "directory" if !check_mode => {
                let mut values = Map::new();
                values.insert("path".into(), path.as_str().into());
                return Err(ModuleError::Failed {
                    msg: format!(
                        "Error while replacing: [Errno 21] Is a directory: '{path}'"
                    ),
                    values,
                });
            }
            "directory" | "hard" => true,
            _ if !params.force => {
                return Err(hard_error(
                    format!("Cannot link, {prev_state} exists at destination"),
                    path,
                    src,
                ))
            }
            _ => true,
        },
    };

    let mut outcome = Outcome::changed()
        .with_value("dest", path.as_str())
        .with_value("src", src.as_str());
    let mut script = format!("{}s={}; ", set_result_var(path), quote(link_from));
    let (attr_path, attr_entry) = if relink {
        match prev_state {
            "absent" => script.push_str("ln -- \"$s\" \"$r\"; "),
            // mv would move the new link into a directory a symlink points to.
            "link" => script.push_str("rm -f -- \"$r\"; ln -- \"$s\" \"$r\"; "),
            _ => script.push_str(
                // A random name (`ln` refuses one that appeared meanwhile: nothing planted
                // there is followed).
                "t=$(mktemp -u \"$(dirname -- \"$r\")/.tend.XXXXXXXX\") || exit 1; \
                 ln -- \"$s\" \"$t\"; \
                 mv -f -- \"$t\" \"$r\" || { rm -f -- \"$t\"; exit 1; }; ",
            ),
        }
        (path.clone(), linked)
    } else {
        let target = follow_link(observed, params.follow);
        match target.entry {
            Some(entry) => (target.path, entry),
            None => (path.clone(), linked),
        }
    };
    let ids = if prev.is_none() {
        let (ids, warnings) = observed.ids.for_new_path(check_mode);
        outcome.warnings = warnings;
        ids
    } else {
        observed.ids.clone()
    };
    let attr_change = attrs::changes(&attr_entry.stat, &params.wanted(), &ids, observed.umask)?;
    if !relink && attr_change.is_empty() && !times.any() {
        let mut done = unchanged("dest", path, prev);
        if let Planned::Done(outcome) = &mut done {
            outcome.values.insert("src".into(), Value::from(src.as_str()));
        }
        return Ok(done);
    }
    diff.attrs(Some(&attr_entry.stat), &attr_change);
    let no_deref = attr_entry.is_link();
    script.push_str(&format!(
        "a={}; {}{}",
        quote(&attr_path),
        attrs::apply_script("\"$a\"", &attr_change, no_deref),
        times.script("\"$a\"", no_deref)
    ));
    Ok(change(script, outcome, diff, prev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::tests::entry;
    use crate::attrs::Id;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use tend_module_api::args::{from_args, ArgMode};
    use tend_module_api::FileKind;

    fn params(args: Value) -> FileParams {
        from_args(&args, ArgMode::Run).expect("params")
    }

    fn observed(path: &str, entry: Option<Entry>) -> FileObserved {
        FileObserved {
            path: path.into(),
            probe: Probe {
                entry,
                ..Probe::default()
            },
            umask: 0o022,
            ..FileObserved::default()
        }
    }

    fn expect_change(planned: Planned<FileAction>) -> (FileAction, Outcome) {
        match planned {
            Planned::Change { action, preview } => (action, preview),
            Planned::Done(outcome) => panic!("expected a change, got {outcome:?}"),
        }
    }

    #[test]
    fn plan_directory_creates_missing_parents_with_attributes() {
        let p = params(json!({"path": "/srv/a/b", "state": "directory", "mode": "0750"}));
        let (action, preview) =
            expect_change(plan(&p, observed("/srv/a/b", None), false).expect("plan"));
        assert!(preview.changed);
        assert_eq!(preview.diffs[0].before, "path: /srv/a/b\nstate: absent\n");
        assert_eq!(
            preview.diffs[0].after,
            "path: /srv/a/b\nstate: directory\nmode: 0750\n"
        );
        assert!(action
            .script
            .contains("if [ ! -e /srv/a ]; then mkdir -- /srv/a; chmod 00750 -- /srv/a; fi;"));
        assert!(action
            .script
            .contains("mkdir -- /srv/a/b; chmod 00750 -- /srv/a/b;"));
        assert_eq!(prefixes("rel/x/"), vec!["rel", "rel/x"]);
    }

    #[test]
    fn plan_directory_is_ok_when_everything_matches() {
        let p = params(json!({"path": "/d", "state": "directory", "mode": "u=rwx,go=rx"}));
        match plan(
            &p,
            observed("/d", Some(entry(FileKind::Directory, 0o755))),
            false,
        )
        .expect("plan")
        {
            Planned::Done(outcome) => {
                assert!(!outcome.changed);
                assert_eq!(outcome.values["state"], "directory");
                assert_eq!(outcome.values["mode"], "0755");
            }
            Planned::Change { .. } => panic!("should be ok"),
        }
        let e = plan(
            &p,
            observed("/d", Some(entry(FileKind::File, 0o644))),
            false,
        )
        .expect_err("is a file");
        assert_eq!(e.to_string(), "/d already exists as a file");
    }

    #[test]
    fn plan_file_never_creates_and_default_state_follows_the_path() {
        let p = params(json!({"path": "/x", "state": "file"}));
        let e = plan(&p, observed("/x", None), false).expect_err("absent");
        assert_eq!(e.to_string(), "file (/x) is absent, cannot continue");
        let p = params(json!({"path": "/x", "mode": "0600"}));
        let (action, preview) = expect_change(
            plan(
                &p,
                observed("/x", Some(entry(FileKind::Directory, 0o755))),
                false,
            )
            .expect("dir"),
        );
        assert!(action.script.contains("chmod 00600 -- \"$r\""));
        assert_eq!(preview.values["state"], "directory");
        assert_eq!(preview.diffs[0].before, "path: /x\nmode: 0755\n");
    }

    #[test]
    fn plan_touch_is_always_a_change_unless_times_are_preserved() {
        let p = params(json!({"path": "/t", "state": "touch"}));
        let (action, preview) = expect_change(
            plan(
                &p,
                observed("/t", Some(entry(FileKind::File, 0o644))),
                false,
            )
            .expect("touch"),
        );
        assert!(action.script.contains("touch -c -- \"$r\""));
        assert_eq!(preview.diffs[0].after, "path: /t\nstate: touch\n");
        let p = params(
            json!({"path": "/t", "state": "touch", "access_time": "preserve", "modification_time": "preserve"}),
        );
        assert!(matches!(
            plan(
                &p,
                observed("/t", Some(entry(FileKind::File, 0o644))),
                false
            )
            .expect("preserve"),
            Planned::Done(_)
        ));
        let p = params(json!({"path": "/t", "state": "touch", "access_time": "202401010000.00"}));
        assert!(plan(&p, observed("/t", None), false).is_err(), "no epoch from the host");
    }

    #[test]
    fn explicit_times_change_only_what_differs() {
        let p = params(
            json!({"path": "/t", "state": "file", "modification_time": "202401010000.00"}),
        );
        let mut o = observed("/t", Some(entry(FileKind::File, 0o644)));
        o.want_mtime = Some(1_704_067_200);
        o.times = Some((5.0, 1_704_067_200.0));
        assert!(matches!(
            plan(&p, o.clone(), false).expect("same"),
            Planned::Done(_)
        ));
        o.times = Some((5.0, 1_704_067_200.5));
        let (action, preview) = expect_change(plan(&p, o, false).expect("differs"));
        assert!(
            action.script.contains("touch -c -m -d @1704067200 -- \"$r\""),
            "{}",
            action.script
        );
        assert!(
            preview.diffs[0].after.contains("mtime: 1704067200.0"),
            "{:?}",
            preview.diffs
        );
        let bad = params(json!({"path": "/t", "state": "touch", "access_time": "2024"}));
        let err = plan(&bad, observed("/t", None), false).expect_err("bad format");
        assert!(
            err.to_string().contains(
                "Error while obtaining timestamp for time 2024 using format %Y%m%d%H%M.%S"
            ),
            "{err}"
        );
    }

    #[test]
    fn strptime_reads_pythons_directives() {
        assert_eq!(
            strptime("202301021530.45", DEFAULT_TIME_FORMAT).as_deref(),
            Ok("2023-01-02 15:30:45")
        );
        assert_eq!(
            strptime("2024-05-06 07:08:09", "%Y-%m-%d %H:%M:%S").as_deref(),
            Ok("2024-05-06 07:08:09")
        );
        assert_eq!(strptime("24/5/6", "%y/%m/%d").as_deref(), Ok("2024-05-06 00:00:00"));
        assert!(strptime("2024", DEFAULT_TIME_FORMAT).is_err());
        assert!(strptime("202413011200.00", DEFAULT_TIME_FORMAT).is_err());
        assert!(strptime("2024", "%s").is_err());
        assert_eq!(
            parse_times("1700000000|2023-11-14 22:13:20.250000000 +0000|1600000000|2020-09-13 12:26:40.000000000 +0000"),
            Some((1_700_000_000.25, 1_600_000_000.0))
        );
    }

    #[test]
    fn plan_link_checks_force_and_reports_src_changes() {
        let mut link = entry(FileKind::Link, 0o777);
        link.stat.link_target = Some("old".into());
        let mut o = observed("/l", Some(link));
        o.src = Some("new".into());
        o.abs_src = Some(("/new".into(), Probe::default()));
        let p = params(json!({"path": "/l", "state": "link", "src": "new"}));
        let e = plan(&p, o.clone(), false).expect_err("missing src");
        assert!(e.to_string().starts_with("src file does not exist"), "{e}");
        let p = params(json!({"path": "/l", "state": "link", "src": "new", "force": true}));
        let (action, preview) = expect_change(plan(&p, o.clone(), false).expect("force"));
        assert!(action.script.contains("ln -sfn -- \"$s\" \"$r\""));
        assert_eq!(preview.diffs[0].before, "path: /l\nsrc: old\n");
        assert_eq!(preview.diffs[0].after, "path: /l\nsrc: new\n");
        assert_eq!(preview.warnings, Vec::<String>::new());

        let mut o = observed("/f", Some(entry(FileKind::File, 0o644)));
        o.src = Some("/etc".into());
        o.abs_src = Some((
            "/etc".into(),
            Probe {
                entry: Some(entry(FileKind::Directory, 0o755)),
                ..Probe::default()
            },
        ));
        let p = params(json!({"path": "/f", "state": "link", "src": "/etc"}));
        let e = plan(&p, o, false).expect_err("file in the way");
        assert_eq!(
            e.to_string(),
            "refusing to convert from file to symlink for /f"
        );
    }

    #[test]
    fn plan_absent_and_parameter_rules() {
        let p = params(json!({"path": "/gone", "state": "absent"}));
        assert!(matches!(
            plan(&p, observed("/gone", None), false).expect("ok"),
            Planned::Done(_)
        ));
        let (action, preview) = expect_change(
            plan(
                &p,
                observed("/gone", Some(entry(FileKind::Directory, 0o755))),
                false,
            )
            .expect("rm"),
        );
        assert!(action.script.contains("rm -rf -- \"$r\""));
        assert_eq!(preview.diffs[0].after, "path: /gone\nstate: absent\n");
        assert_eq!(preview.values["state"], "absent");
        let p = params(json!({"path": "/x", "state": "file", "recurse": true}));
        assert!(plan(&p, observed("/x", None), false).is_err());
        let p = params(json!({"path": "/x", "state": "file", "src": "/y"}));
        assert!(plan(&p, observed("/x", None), false).is_err());
    }

    /// A hard-link plan's inputs: `dest` holding `dest_entry`, `src` holding `src_entry`.
    fn hard_observed(dest_entry: Option<Entry>, src_entry: Option<Entry>) -> FileObserved {
        FileObserved {
            src: Some("/s".into()),
            hard_src: Some(Probe {
                entry: src_entry,
                ..Probe::default()
            }),
            ..observed("/d", dest_entry)
        }
    }

    fn with_inode(mut e: Entry, inode: u64, nlink: u64) -> Entry {
        e.inode = inode;
        e.nlink = nlink;
        e
    }

    #[test]
    fn plan_hard_creates_keeps_and_replaces_only_with_force() {
        let src = with_inode(entry(FileKind::File, 0o644), 7, 1);
        let p = params(json!({"path": "/d", "src": "/s", "state": "hard"}));

        let (action, preview) =
            expect_change(plan(&p, hard_observed(None, Some(src.clone())), true).expect("new"));
        assert!(action.script.contains("ln -- \"$s\" \"$r\""), "{}", action.script);
        assert_eq!(preview.diffs[0].before, "path: /d\nstate: absent\n");
        assert_eq!(preview.diffs[0].after, "path: /d\nstate: hard\n");
        assert_eq!(preview.values["dest"], "/d");
        assert_eq!(preview.values["src"], "/s");

        // Same inode: nothing to do, but the shared inode's mode is still managed.
        let linked = with_inode(entry(FileKind::File, 0o644), 7, 2);
        let Planned::Done(ok) = plan(&p, hard_observed(Some(linked.clone()), Some(src.clone())), false)
            .expect("same")
        else {
            panic!("same inode must be unchanged");
        };
        assert!(!ok.changed);
        assert_eq!(ok.values["state"], "hard");
        assert_eq!(ok.values["src"], "/s");
        let chmod = params(json!({"path": "/d", "src": "/s", "state": "hard", "mode": "0600"}));
        let (action, preview) = expect_change(
            plan(&chmod, hard_observed(Some(linked), Some(src.clone())), false).expect("chmod"),
        );
        assert!(!action.script.contains("ln "), "{}", action.script);
        assert!(action.script.contains("chmod 00600"));
        assert_eq!(preview.diffs[0].after, "path: /d\nmode: 0600\n");

        // Another hard link or a plain file: refused, then replaced through a temp name.
        let other = with_inode(entry(FileKind::File, 0o644), 8, 2);
        let e = plan(&p, hard_observed(Some(other.clone()), Some(src.clone())), false)
            .expect_err("other hard link");
        assert_eq!(e.to_string(), "Cannot link, different hard link exists at destination");
        let file = with_inode(entry(FileKind::File, 0o644), 9, 1);
        let e = plan(&p, hard_observed(Some(file.clone()), Some(src.clone())), false)
            .expect_err("file");
        assert_eq!(e.to_string(), "Cannot link, file exists at destination");
        let ModuleError::Failed { values, .. } = e else {
            panic!("failed");
        };
        assert_eq!(values["dest"], "/d");
        let force = params(json!({"path": "/d", "src": "/s", "state": "hard", "force": true}));
        for prev in [other, file] {
            let (action, preview) = expect_change(
                plan(&force, hard_observed(Some(prev), Some(src.clone())), false).expect("force"),
            );
            assert!(action.script.contains("mv -f -- \"$t\" \"$r\""), "{}", action.script);
            assert!(preview.changed);
        }
    }

    #[test]
    fn plan_hard_errors_and_other_prior_states() {
        let src = with_inode(entry(FileKind::File, 0o644), 7, 1);
        let p = params(json!({"path": "/d", "src": "/s", "state": "hard"}));
        let e = plan(&p, hard_observed(None, None), false).expect_err("missing src");
        assert_eq!(e.to_string(), "src does not exist");
        let e = plan(
            &params(json!({"path": "/d", "state": "hard"})),
            observed("/d", None),
            false,
        )
        .expect_err("no src");
        assert_eq!(e.to_string(), "src is required for creating new hardlinks");

        // A directory is refused, and even with force only check mode gets past it.
        let dir = entry(FileKind::Directory, 0o755);
        let e = plan(&p, hard_observed(Some(dir.clone()), Some(src.clone())), false)
            .expect_err("dir");
        assert!(e.to_string().starts_with("Cannot link: different"), "{e}");
        let force = params(json!({"path": "/d", "src": "/s", "state": "hard", "force": true}));
        let e = plan(&force, hard_observed(Some(dir.clone()), Some(src.clone())), false)
            .expect_err("dir force");
        assert!(e.to_string().contains("Is a directory"), "{e}");
        assert!(plan(&force, hard_observed(Some(dir), Some(src.clone())), true).is_ok());

        // A symlink is replaced without force, unless it already points at `src`.
        let mut link = entry(FileKind::Link, 0o777);
        link.stat.link_target = Some("/elsewhere".into());
        let (action, preview) = expect_change(
            plan(&p, hard_observed(Some(link.clone()), Some(src.clone())), false).expect("link"),
        );
        assert!(action.script.contains("rm -f -- \"$r\"; ln -- \"$s\" \"$r\""));
        assert_eq!(
            preview.diffs[0].before,
            "path: /d\nstate: link\nsrc: /elsewhere\n"
        );
        link.stat.link_target = Some("/s".into());
        assert!(matches!(
            plan(&p, hard_observed(Some(link), Some(src.clone())), false).expect("same link"),
            Planned::Done(_)
        ));

        // Without `state` a hard-linked file is `hard` when `src` is given, else `file`.
        let linked = with_inode(entry(FileKind::File, 0o644), 7, 2);
        let default = params(json!({"path": "/d", "src": "/s"}));
        let Planned::Done(ok) =
            plan(&default, hard_observed(Some(linked.clone()), Some(src)), false).expect("default")
        else {
            panic!("same inode must be unchanged");
        };
        assert_eq!(ok.values["dest"], "/d");
        let Planned::Done(ok) = plan(&params(json!({"path": "/d"})), observed("/d", Some(linked)), false)
            .expect("no src")
        else {
            panic!("plain file state");
        };
        assert_eq!(ok.values["path"], "/d");
    }

    #[test]
    fn missing_owner_fails_but_only_warns_in_check_mode_for_a_new_path() {
        let p = params(json!({"path": "/n", "state": "directory", "owner": "nobody-here"}));
        let mut o = observed("/n", None);
        o.ids = Ids {
            owner: Some(Id::Missing("nobody-here".into())),
            group: None,
        };
        let e = plan(&p, o.clone(), false).expect_err("real run");
        assert_eq!(
            e.to_string(),
            "chown failed: failed to look up user nobody-here"
        );
        let (_, preview) = expect_change(plan(&p, o, true).expect("check mode"));
        assert_eq!(preview.warnings.len(), 1);
    }

    #[test]
    fn parameters_accept_aliases_and_templates() {
        let p = params(json!({"dest": "/a", "mode": 420, "follow": "no"}));
        assert_eq!(p.path, "/a");
        assert_eq!(p.mode, Some(ModeArg::Octal(0o644)));
        assert!(!p.follow);
        let module = tend_module_api::lookup("ansible.builtin.file").expect("registered");
        module
            .check_args(&json!({"name": "{{ p }}", "state": "{{ s }}", "mode": "{{ m }}"}))
            .expect("templates compile");
        assert!(module
            .check_args(&json!({"path": "/a", "mode": "u=rwq"}))
            .is_err());
        assert!(module
            .check_args(&json!({"path": "/a", "selevel": "s0"}))
            .is_err());
    }

    // Real runs through /bin/sh on this machine.

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    async fn run(args: Value, check: bool) -> Result<Outcome, ModuleError> {
        run_module("file", args, &FakeController::new("/nonexistent"), check).await
    }

    fn mode_of(path: &std::path::Path) -> u32 {
        std::fs::symlink_metadata(path)
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    }

    #[tokio::test]
    async fn directory_is_created_then_ok_and_check_mode_touches_nothing() {
        let dir = tmp();
        let path = dir.path().join("a/b/c");
        let p = path.to_string_lossy().to_string();
        let args = json!({"path": p, "state": "directory", "mode": "0750"});

        let check = run(args.clone(), true).await.expect("check");
        assert!(check.changed);
        assert!(
            !dir.path().join("a").exists(),
            "check mode created something"
        );
        assert!(check.diffs[0].after.contains("state: directory"));

        let first = run(args.clone(), false).await.expect("first");
        assert!(first.changed);
        assert_eq!(first.values["state"], "directory");
        assert_eq!(first.values["mode"], "0750");
        assert_eq!(first.values["path"], p.as_str());
        assert_eq!(first.diffs[0].before, format!("path: {p}\nstate: absent\n"));
        assert_eq!(mode_of(&path), 0o750);
        assert_eq!(
            mode_of(&dir.path().join("a")),
            0o750,
            "created parents get the mode too"
        );

        let second = run(args.clone(), false).await.expect("second");
        assert!(!second.changed, "{second:?}");
        assert_eq!(second.values["mode"], "0750");

        let check = run(json!({"path": p, "mode": "0700"}), true)
            .await
            .expect("check chmod");
        assert!(check.changed);
        assert_eq!(check.diffs[0].before, format!("path: {p}\nmode: 0750\n"));
        assert_eq!(check.diffs[0].after, format!("path: {p}\nmode: 0700\n"));
        assert_eq!(mode_of(&path), 0o750);
    }

    #[tokio::test]
    async fn file_state_changes_attributes_only() {
        let dir = tmp();
        let path = dir.path().join("f");
        std::fs::write(&path, "hello").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let p = path.to_string_lossy().to_string();
        let uid = std::fs::metadata(&path)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .expect("uid");
        let args = json!({"path": p, "mode": "u+x,g-r", "owner": uid.to_string()});
        let first = run(args.clone(), false).await.expect("first");
        assert!(first.changed);
        assert_eq!(mode_of(&path), 0o704);
        assert_eq!(first.values["size"], 5);
        assert_eq!(first.values["uid"], uid);
        assert_eq!(first.diffs[0].after, format!("path: {p}\nmode: 0704\n"));
        // Symbolic modes are relative: applying again changes nothing.
        let second = run(args, false).await.expect("second");
        assert!(!second.changed);

        // Names are looked up on the host and compared by id.
        let me = |flag: &str| {
            let out = std::process::Command::new("id")
                .arg(flag)
                .output()
                .expect("id");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let named = json!({"path": p, "owner": me("-un"), "group": me("-gn")});
        let out = run(named, false).await.expect("names");
        assert!(!out.changed, "{out:?}");
        assert_eq!(out.values["owner"], me("-un").as_str());
        let e = run(json!({"path": p, "owner": "no-such-user-tend"}), false)
            .await
            .expect_err("unknown user");
        assert_eq!(
            e.to_string(),
            "chown failed: failed to look up user no-such-user-tend"
        );
        let e = run(json!({"path": p, "group": "no-such-group-tend"}), true)
            .await
            .expect_err("unknown group, existing file, check mode");
        assert!(e.to_string().contains("failed to look up group"), "{e}");

        let missing = dir.path().join("missing").to_string_lossy().to_string();
        let e = run(json!({"path": missing, "state": "file"}), false)
            .await
            .expect_err("absent");
        assert_eq!(
            e.to_string(),
            format!("file ({missing}) is absent, cannot continue")
        );
    }

    #[tokio::test]
    async fn touch_creates_then_reports_changed_every_run() {
        let dir = tmp();
        let path = dir.path().join("t");
        let p = path.to_string_lossy().to_string();
        let args = json!({"path": p, "state": "touch", "mode": "0600"});
        let check = run(args.clone(), true).await.expect("check");
        assert!(check.changed);
        assert!(!path.exists());
        let first = run(args.clone(), false).await.expect("first");
        assert!(first.changed);
        assert_eq!(first.values["dest"], p.as_str());
        assert_eq!(first.values["state"], "file");
        assert_eq!(mode_of(&path), 0o600);
        let second = run(args, false).await.expect("second");
        assert!(
            second.changed,
            "touch with default times is changed every run"
        );
        let preserve = json!({"path": p, "state": "touch", "mode": "0600",
            "access_time": "preserve", "modification_time": "preserve"});
        assert!(!run(preserve, false).await.expect("preserve").changed);
    }

    #[tokio::test]
    async fn link_is_created_retargeted_and_then_ok() {
        let dir = tmp();
        std::fs::write(dir.path().join("one"), "1").expect("write");
        std::fs::create_dir(dir.path().join("two")).expect("mkdir");
        let link = dir.path().join("current");
        let l = link.to_string_lossy().to_string();
        let args = json!({"path": l, "src": "one", "state": "link"});
        let check = run(args.clone(), true).await.expect("check");
        assert!(check.changed);
        assert!(std::fs::symlink_metadata(&link).is_err());
        let first = run(args.clone(), false).await.expect("first");
        assert!(first.changed);
        assert_eq!(first.values["state"], "link");
        assert_eq!(first.values["src"], "one");
        assert_eq!(
            std::fs::read_link(&link).expect("link").to_string_lossy(),
            "one"
        );
        assert!(!run(args, false).await.expect("second").changed);

        // Retarget to a directory, then away from it: -n keeps us from linking inside it.
        let to_dir = json!({"path": l, "src": "two", "state": "link"});
        let out = run(to_dir, false).await.expect("to dir");
        assert_eq!(out.diffs[0].before, format!("path: {l}\nsrc: one\n"));
        let back = run(json!({"path": l, "src": "one", "state": "link"}), false)
            .await
            .expect("back");
        assert!(back.changed);
        assert_eq!(
            std::fs::read_link(&link).expect("link").to_string_lossy(),
            "one"
        );
        assert!(!dir.path().join("two/one").exists());

        // Without `state` an existing link stays a link and `src` retargets it.
        let out = run(json!({"path": l, "src": "two"}), false)
            .await
            .expect("default state");
        assert!(out.changed);
        assert_eq!(
            std::fs::read_link(&link).expect("link").to_string_lossy(),
            "two"
        );
        run(json!({"path": l, "src": "one", "state": "link"}), false)
            .await
            .expect("restore");

        let missing = run(json!({"path": l, "src": "nope", "state": "link"}), false).await;
        assert!(missing
            .expect_err("no src")
            .to_string()
            .contains("force=yes"));
        let file = dir.path().join("one").to_string_lossy().to_string();
        let e = run(json!({"path": file, "src": "two", "state": "link"}), false)
            .await
            .expect_err("file");
        assert!(
            e.to_string().contains("refusing to convert from file"),
            "{e}"
        );

        // Attributes go to the target when following.
        let out = run(
            json!({"path": l, "src": "one", "state": "link", "mode": "0600"}),
            false,
        )
        .await
        .expect("mode");
        assert!(out.changed);
        assert_eq!(mode_of(&dir.path().join("one")), 0o600);
    }

    fn inode_of(path: &std::path::Path) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path).expect("stat");
        (m.dev(), m.ino())
    }

    #[tokio::test]
    async fn hard_link_is_created_then_ok_and_replaced_only_with_force() {
        let dir = tmp();
        let src = dir.path().join("src");
        std::fs::write(&src, "data").expect("write");
        let dest = dir.path().join("dest");
        let (s, d) = (
            src.to_string_lossy().to_string(),
            dest.to_string_lossy().to_string(),
        );
        let args = json!({"path": d, "src": s, "state": "hard"});

        let check = run(args.clone(), true).await.expect("check");
        assert!(check.changed);
        assert!(std::fs::symlink_metadata(&dest).is_err(), "check mode linked");
        assert_eq!(check.diffs[0].after, format!("path: {d}\nstate: hard\n"));

        let first = run(args.clone(), false).await.expect("first");
        assert!(first.changed);
        assert_eq!(first.values["dest"], d.as_str());
        assert_eq!(first.values["src"], s.as_str());
        assert_eq!(first.values["state"], "hard");
        assert_eq!(inode_of(&src), inode_of(&dest));

        let second = run(args.clone(), false).await.expect("second");
        assert!(!second.changed, "{second:?}");
        assert_eq!(second.values["state"], "hard");

        // The mode belongs to the shared inode.
        let chmod = json!({"path": d, "src": s, "state": "hard", "mode": "0600"});
        assert!(run(chmod, false).await.expect("chmod").changed);
        assert_eq!(mode_of(&src), 0o600);

        // A different file is replaced only with force.
        let other = dir.path().join("other");
        std::fs::write(&other, "other").expect("write");
        let o = other.to_string_lossy().to_string();
        let e = run(json!({"path": o, "src": s, "state": "hard"}), false)
            .await
            .expect_err("refused");
        assert_eq!(e.to_string(), "Cannot link, file exists at destination");
        assert_eq!(std::fs::read_to_string(&other).expect("read"), "other");
        let forced = json!({"path": o, "src": s, "state": "hard", "force": true});
        let check = run(forced.clone(), true).await.expect("check force");
        assert!(check.changed);
        assert_ne!(inode_of(&src), inode_of(&other));
        let out = run(forced.clone(), false).await.expect("force");
        assert!(out.changed);
        assert_eq!(inode_of(&src), inode_of(&other));
        assert_eq!(std::fs::read_to_string(&other).expect("read"), "data");
        assert!(!run(forced, false).await.expect("again").changed);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        // A directory at `path` gets the link inside it, named after `src`.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        let into = json!({"path": sub.to_string_lossy(), "src": s, "state": "hard"});
        let out = run(into, false).await.expect("into dir");
        assert!(out.changed);
        assert_eq!(inode_of(&src), inode_of(&sub.join("src")));

        let missing = dir.path().join("nope").to_string_lossy().to_string();
        let e = run(json!({"path": d, "src": missing, "state": "hard"}), false)
            .await
            .expect_err("missing src");
        assert_eq!(e.to_string(), "src does not exist");
    }

    #[tokio::test]
    async fn absent_removes_trees_and_recurse_fixes_modes_below() {
        let dir = tmp();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/f"), "x").expect("write");
        std::fs::set_permissions(root.join("sub/f"), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        symlink("/nonexistent", root.join("dangling")).expect("symlink");
        let r = root.to_string_lossy().to_string();
        let args = json!({"path": r, "state": "directory", "recurse": true, "mode": "u=rwX,go=rX"});
        let first = run(args.clone(), false).await.expect("recurse");
        assert!(first.changed);
        assert_eq!(mode_of(&root.join("sub/f")), 0o644);
        assert_eq!(mode_of(&root.join("sub")), 0o755);
        assert!(!run(args, false).await.expect("again").changed);

        let args = json!({"path": r, "state": "absent"});
        let check = run(args.clone(), true).await.expect("check");
        assert!(check.changed);
        assert!(root.exists());
        let out = run(args.clone(), false).await.expect("rm");
        assert!(out.changed);
        assert_eq!(out.values["state"], "absent");
        assert!(!root.exists());
        assert!(!run(args, false).await.expect("again").changed);
    }

    #[tokio::test]
    async fn numeric_mode_clears_setgid_on_directories() {
        let dir = tmp();
        let d = dir.path().join("sg");
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o2755)).expect("chmod");
        let args = json!({"path": d.to_string_lossy(), "state": "directory", "mode": "0755"});
        let out = run(args.clone(), false).await.expect("chmod");
        assert!(out.changed);
        assert_eq!(mode_of(&d), 0o755);
        assert!(!run(args, false).await.expect("again").changed);
    }

    #[tokio::test]
    async fn follow_operates_on_the_link_target() {
        let dir = tmp();
        std::fs::write(dir.path().join("real"), "r").expect("write");
        std::fs::set_permissions(
            dir.path().join("real"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        symlink("real", dir.path().join("ln")).expect("symlink");
        let l = dir.path().join("ln").to_string_lossy().to_string();
        let out = run(json!({"path": l, "state": "file", "mode": "0640"}), false)
            .await
            .expect("follow");
        assert!(out.changed);
        assert_eq!(mode_of(&dir.path().join("real")), 0o640);
        let real = std::fs::canonicalize(dir.path().join("real")).expect("canon");
        assert_eq!(out.values["path"], real.to_string_lossy().as_ref());
    }
}
