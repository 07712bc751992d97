//! `ini_file`: options (and whole sections) in an INI-style file.
//!
//! ```yaml
//! - name: Listen on 8080
//!   community.general.ini_file:
//!     path: /etc/app/app.ini
//!     section: server
//!     option: port
//!     value: "8080"
//!     mode: "0640"
//!
//! - name: Several values for one option, no spaces around `=`
//!   community.general.ini_file:
//!     path: /etc/app/app.ini
//!     section: paths
//!     option: include
//!     values: [/etc/app/a.conf, /etc/app/b.conf]
//!     no_extra_spaces: true
//!
//! - name: No legacy section
//!   community.general.ini_file: {path: /etc/app/app.ini, section: legacy, state: absent}
//! ```
//!
//! The logic is `community.general.ini_file`'s `do_ini`, step for step, on the file's lines
//! (read as Python's text mode does: a BOM dropped, `\r\n` and `\r` read as `\n`): the
//! section runs from its `[section]` line to the next line starting with `[` (the first
//! section that has all of `section_has_values`); options before any section are reached
//! without `section`. `present` rewrites matching lines (commented-out `#option`/`;option`
//! lines too, unless `modify_inactive_option: false`), removes other occurrences with
//! `exclusive` (the default), and inserts missing values after the section's last
//! non-blank, non-comment line; a missing section is appended with its options. `absent`
//! removes the option (every line of it with `exclusive`, else only the given values), or the
//! whole section without `option`. Ansible's quirks are kept: a new file starts with an empty
//! line, a missing final newline is added (and counts as a change).
//!
//! The new text is written atomically (a temporary file renamed over the file; through a
//! symlink with `follow`). `backup` copies the old file to `path.PID.YYYY-MM-DD@HH:MM:SS~`.
//! `mode`, `owner` and `group` are applied after a real run (not predicted in check mode, as
//! in Ansible). Returns `msg` (`OK`, `option changed`, `option added`, `section removed`,
//! `section and option added`, `only section added`), `path` and `backup_file`. The diff shows
//! the content before and after, headed `PATH (content)`.
//!
//! Differences from Ansible: a task giving `value` without `option` does not crash; SELinux
//! and file attribute (`chattr`) arguments are not accepted.

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::Map;
use tend_module_api::mode::ModeArg;
use tend_module_api::{quote, Context, Diff, Module, ModuleError, Outcome, Planned};

use crate::attrs::{self, AttrChange, Entry, Ids, Wanted};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IniState {
    #[default]
    Present,
    Absent,
}

/// One condition of `section_has_values`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionHasValue {
    /// An option the section must have.
    pub option: String,
    /// One value it must have.
    pub value: Option<String>,
    /// Values it may have (any of them).
    pub values: Option<Vec<String>>,
}

impl SectionHasValue {
    fn values(&self) -> Vec<String> {
        match (&self.value, &self.values) {
            (Some(v), _) => vec![v.clone()],
            (None, Some(vs)) => vs.clone(),
            (None, None) => Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IniFileParams {
    /// The INI file.
    #[serde(alias = "dest")]
    pub path: String,
    /// The section; without it, options before the first section.
    pub section: Option<String>,
    /// Pick among sections of the same name the one having these options (and values).
    pub section_has_values: Option<Vec<SectionHasValue>>,
    /// The option; without it with `state: absent`, the whole section goes.
    pub option: Option<String>,
    /// The option's value.
    pub value: Option<String>,
    /// Several values for the option (one line each).
    pub values: Option<Vec<String>>,
    /// Keep a timestamped copy of the file before changing it.
    #[serde(default)]
    pub backup: bool,
    /// `present` (the default) or `absent`.
    #[serde(default)]
    pub state: IniState,
    /// Remove other lines of the option (the default).
    #[serde(default = "yes")]
    pub exclusive: bool,
    /// Write `option=value` instead of `option = value`.
    #[serde(default)]
    pub no_extra_spaces: bool,
    /// Do not change a line whose value differs only in spaces around `=`.
    #[serde(default)]
    pub ignore_spaces: bool,
    /// Allow options without a value (a bare `option` line).
    #[serde(default)]
    pub allow_no_value: bool,
    /// Also rewrite commented-out (`#`/`;`) lines of the option.
    #[serde(default = "yes")]
    pub modify_inactive_option: bool,
    /// Create the file when it is missing (the default).
    #[serde(default = "yes")]
    pub create: bool,
    /// Edit a symlink's target instead of replacing the link.
    #[serde(default)]
    pub follow: bool,
    /// Permissions of the file: octal (`"0644"`) or symbolic (`u=rw,g=r`).
    pub mode: Option<ModeArg>,
    /// User that should own the file (name or uid).
    pub owner: Option<String>,
    /// Group that should own the file (name or gid).
    pub group: Option<String>,
    /// Accepted; writes are always atomic.
    #[serde(default)]
    pub unsafe_writes: bool,
}

impl IniFileParams {
    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            mode: self.mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }
}

pub struct IniFileModule;

#[derive(Debug, Clone, Default)]
pub struct IniObserved {
    /// `path` with `~` expanded.
    path: String,
    /// The file edited: the link's target with `follow`.
    target: String,
    /// The file's bytes; `None` when it does not exist.
    content: Option<Vec<u8>>,
    /// `stat` of `path` (following links), for the attribute check.
    entry: Option<Entry>,
    umask: u32,
    ids: Ids,
    me: (u32, u32),
    /// Ansible's `add_path_info` for `path` as it is now.
    path_info: Map<String, serde_json::Value>,
}

#[derive(Debug)]
pub struct IniAction {
    script: String,
    content: Option<Vec<u8>>,
    outcome: Outcome,
}

#[async_trait]
impl Module for IniFileModule {
    type Params = IniFileParams;
    type Observed = IniObserved;
    type Action = IniAction;

    const NAME: &'static str = "ini_file";

    async fn query(
        &self,
        params: &IniFileParams,
        ctx: &Context<'_>,
    ) -> Result<IniObserved, ModuleError> {
        let wanted = params.wanted();
        let mut script = attrs::assign("p", &params.path);
        script.push_str("printf 'path:%s\\n' \"$p\"; t=\"$p\"; ");
        if params.follow {
            script.push_str("if [ -L \"$p\" ]; then t=$(realpath -m -- \"$p\"); fi; ");
        }
        script.push_str("printf 'target:%s\\n' \"$t\"; ");
        // Ansible stats `path` itself (following a link) for the attributes.
        script.push_str("s=\"$p\"; if [ -L \"$p\" ]; then s=$(realpath -m -- \"$p\"); fi; ");
        script.push_str(&attrs::probe("s", "s"));
        script.push_str(&attrs::probe("pp", "p"));
        script.push_str(attrs::umask());
        script.push_str(&attrs::lookup_ids(wanted.owner, wanted.group));
        script.push_str("printf 'me:%s %s\\n' \"$(id -u)\" \"$(id -g)\"; ");
        script.push_str(&format!(
            "if [ -e \"$t\" ]; then echo {}; exec cat -- \"$t\"; fi; ",
            attrs::CONTENT_MARKER
        ));
        let report = attrs::run(ctx.host, &script).await?;
        let path = report.get("path").unwrap_or(&params.path).to_string();
        let me = report
            .get("me")
            .and_then(|m| m.split_once(' '))
            .and_then(|(u, g)| Some((u.trim().parse().ok()?, g.trim().parse().ok()?)))
            .unwrap_or((0, 0));
        Ok(IniObserved {
            target: report.get("target").unwrap_or(&path).to_string(),
            path,
            content: report.content.clone(),
            entry: report.probe("s")?.entry,
            umask: report.umask(),
            ids: Ids::from_report(wanted.owner, wanted.group, &report),
            me,
            path_info: report
                .probe("pp")?
                .entry
                .as_ref()
                .map(attrs::path_info)
                .unwrap_or_default(),
        })
    }

    fn plan(
        &self,
        params: &IniFileParams,
        observed: IniObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<IniAction>, ModuleError> {
        plan_with(params, observed, ctx.check_mode, ctx.diff)
    }

    async fn apply(
        &self,
        params: &IniFileParams,
        action: IniAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        // Accepted for compatibility: writes are always atomic.
        let _ = params.unsafe_writes;
        let IniAction {
            script,
            content,
            mut outcome,
        } = action;
        let out = ctx
            .host
            .sh_with_stdin(&script, content.as_deref().unwrap_or_default())
            .await?;
        if !out.success() {
            let mut values = Map::new();
            values.insert("rc".into(), out.exit_code.into());
            return Err(ModuleError::Failed {
                msg: out.stderr_lossy().trim().to_string(),
                values,
            });
        }
        let report = attrs::Report::parse(&out.stdout);
        if let Some(backup) = report.get("backup") {
            outcome.values.insert("backup_file".into(), backup.into());
        }
        if let Some(path) = outcome.values.get("path").and_then(|p| p.as_str()) {
            let info = attrs::path_info_on(ctx.host, path).await?;
            outcome.values.extend(info);
        }
        Ok(outcome)
    }
}

tend_module_api::register_module!(IniFileModule);

/// Python's text-mode `readlines()` on UTF-8 with a possible BOM: universal newlines.
fn read_lines(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    text.split_inclusive('\n').map(str::to_string).collect()
}

/// The parts of `match_opt` the logic uses: whether the line is commented out (group 2) and
/// the value (group 8).
struct OptMatch {
    commented: bool,
    value: String,
}

/// `match_opt` (`active_only`: `match_active_opt`) on one line.
fn match_opt(option: Option<&str>, line: &str, active_only: bool) -> Option<OptMatch> {
    let option = option?;
    let prefix = if active_only { "()()" } else { "([ \t]*)([#;]?)" };
    // Python's `$` also matches before the line's final newline.
    let pattern = format!(
        "^{prefix}[ \t]*({})[ \t]*(=|$)[ \t]*(.*)",
        regex::escape(option)
    );
    let re = Regex::new(&pattern).ok()?;
    let body = line.strip_suffix('\n').unwrap_or(line);
    let caps = re.captures(body)?;
    Some(OptMatch {
        commented: caps.get(2).is_some_and(|m| !m.as_str().is_empty()),
        value: caps.get(5).map_or("", |m| m.as_str()).to_string(),
    })
}

/// `^[ \t]*([#;].*)?$`: a blank or comment line.
fn blank_or_comment(line: &str) -> bool {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let rest = body.trim_start_matches([' ', '\t']);
    rest.is_empty() || (rest.starts_with(['#', ';']) && !rest.contains('\n'))
}

const FAKE_SECTION: &str = "ad01e11446efb704fcdbdb21f2c43757423d91c5";

/// What `do_ini` decided: the new lines, whether they changed, and the message.
#[derive(Debug, PartialEq, Eq)]
struct Edited {
    lines: Vec<String>,
    changed: bool,
    msg: &'static str,
}

/// `update_section_line`.
#[allow(clippy::too_many_arguments)]
fn update_section_line(
    option: Option<&str>,
    changed: &mut bool,
    section_lines: &mut [String],
    index: usize,
    changed_lines: &mut [bool],
    ignore_spaces: bool,
    newline: String,
    msg: &mut &'static str,
) {
    let mut option_changed = None;
    if ignore_spaces {
        if let Some(old) = match_opt(option, &section_lines[index], false) {
            if !old.commented {
                let new = match_opt(option, &newline, false);
                option_changed = Some(new.map(|n| n.value) != Some(old.value));
            }
        }
    }
    let option_changed = option_changed.unwrap_or(section_lines[index] != newline);
    if option_changed {
        section_lines[index] = newline;
        *msg = "option changed";
    }
    *changed = *changed || option_changed;
    changed_lines[index] = true;
}

fn section_has_values_ok(conditions: Option<&[SectionHasValue]>, lines: &[String]) -> bool {
    let Some(conditions) = conditions else {
        return true;
    };
    conditions.iter().all(|c| {
        let values = c.values();
        lines.iter().any(|line| {
            match_opt(Some(&c.option), line, false)
                .is_some_and(|m| values.is_empty() || values.contains(&m.value))
        })
    })
}

/// Ansible's `do_ini` on the file's lines (`None`: no file). Pure.
fn do_ini(params: &IniFileParams, existing: Option<&[String]>, values: Vec<String>) -> Edited {
    let option = params.option.as_deref();
    let mut values: Vec<String> = values.into_iter().fold(Vec::new(), |mut acc, v| {
        if !acc.contains(&v) {
            acc.push(v);
        }
        acc
    });
    let mut ini_lines: Vec<String> = existing.map(<[String]>::to_vec).unwrap_or_default();
    let mut changed = false;
    if ini_lines.is_empty() {
        ini_lines.push("\n".into());
    }
    if let Some(last) = ini_lines.last_mut() {
        if !last.ends_with('\n') {
            last.push('\n');
            changed = true;
        }
    }
    ini_lines.insert(0, format!("[{FAKE_SECTION}]"));
    ini_lines.push("[".into());

    let section = params
        .section
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| FAKE_SECTION.to_string());
    let fmt = |o: &str, v: &str| {
        if params.no_extra_spaces {
            format!("{o}={v}\n")
        } else {
            format!("{o} = {v}\n")
        }
    };
    let conditions = params.section_has_values.as_deref();
    let section_re = Regex::new(&format!(r"^\[\s*{}\s*\]", regex::escape(section.trim())));
    let mut within = false;
    let (mut start, mut end) = (0, 0);
    for (index, line) in ini_lines.iter().enumerate() {
        if within && line.starts_with('[') {
            if section_has_values_ok(conditions, &ini_lines[start..index]) {
                end = index;
                break;
            }
            within = false;
            start = 0;
            end = 0;
        }
        if section_re.as_ref().is_ok_and(|re| re.is_match(line)) {
            within = true;
            start = index;
        }
    }
    let before: Vec<String> = ini_lines[..start].to_vec();
    let mut section_lines: Vec<String> = ini_lines[start..end].to_vec();
    let after: Vec<String> = ini_lines[end..].to_vec();
    let mut changed_lines = vec![false; section_lines.len()];
    let active_only = !params.modify_inactive_option;
    let mut msg = "OK";
    let mut no_value_present = false;
    let present = params.state == IniState::Present;

    if present && option.is_some() {
        let opt = option.unwrap_or_default();
        for index in 0..section_lines.len() {
            let Some(m) = match_opt(option, &section_lines[index], active_only) else {
                continue;
            };
            if !values.is_empty() && values.contains(&m.value) {
                let newline = if m.value.is_empty() && params.allow_no_value {
                    no_value_present = true;
                    format!("{opt}\n")
                } else {
                    fmt(opt, &m.value)
                };
                update_section_line(
                    option,
                    &mut changed,
                    &mut section_lines,
                    index,
                    &mut changed_lines,
                    params.ignore_spaces,
                    newline,
                    &mut msg,
                );
                if let Some(at) = values.iter().position(|v| *v == m.value) {
                    values.remove(at);
                }
            } else if values.is_empty() && params.allow_no_value {
                update_section_line(
                    option,
                    &mut changed,
                    &mut section_lines,
                    index,
                    &mut changed_lines,
                    params.ignore_spaces,
                    format!("{opt}\n"),
                    &mut msg,
                );
                no_value_present = true;
                break;
            }
        }
    }

    if present && params.exclusive && !params.allow_no_value {
        let opt = option.unwrap_or_default();
        if !values.is_empty() {
            for index in 0..section_lines.len() {
                if !changed_lines[index]
                    && match_opt(option, &section_lines[index], active_only).is_some()
                {
                    let value = values.remove(0);
                    update_section_line(
                        option,
                        &mut changed,
                        &mut section_lines,
                        index,
                        &mut changed_lines,
                        params.ignore_spaces,
                        fmt(opt, &value),
                        &mut msg,
                    );
                    if values.is_empty() {
                        break;
                    }
                }
            }
        }
        // Index 0 (the section line) is never looked at, as in Ansible's range(len-1, 0, -1).
        for index in (1..section_lines.len()).rev() {
            if !changed_lines[index]
                && match_opt(option, &section_lines[index], active_only).is_some()
            {
                section_lines.remove(index);
                changed_lines.remove(index);
                changed = true;
                msg = "option changed";
            }
        }
    }

    if present {
        for index in (1..=section_lines.len()).rev() {
            if blank_or_comment(&section_lines[index - 1]) {
                continue;
            }
            if let (Some(opt), false) = (option, values.is_empty()) {
                for element in values.iter().rev() {
                    section_lines.insert(index, fmt(opt, element));
                    msg = "option added";
                    changed = true;
                }
            } else if let (Some(opt), true) = (option, values.is_empty()) {
                if params.allow_no_value && !no_value_present {
                    section_lines.insert(index, format!("{opt}\n"));
                    msg = "option added";
                    changed = true;
                }
            }
            break;
        }
    }

    if params.state == IniState::Absent {
        if option.is_some() {
            if params.exclusive {
                let kept: Vec<String> = section_lines
                    .iter()
                    .filter(|l| match_opt(option, l, true).is_none())
                    .cloned()
                    .collect();
                if kept != section_lines {
                    changed = true;
                    msg = "option changed";
                    section_lines = kept;
                }
            } else if !values.is_empty() {
                let kept: Vec<String> = section_lines
                    .iter()
                    .filter(|l| !match_opt(option, l, true).is_some_and(|m| values.contains(&m.value)))
                    .cloned()
                    .collect();
                if kept != section_lines {
                    changed = true;
                    msg = "option changed";
                    section_lines = kept;
                }
            }
        } else if !section_lines.is_empty() {
            section_lines.clear();
            msg = "section removed";
            changed = true;
        }
    }

    let mut lines: Vec<String> = before;
    lines.extend(section_lines);
    lines.extend(after);
    if !lines.is_empty() {
        lines.remove(0);
    }
    lines.pop();

    if !within && present {
        lines.push(format!("[{section}]\n"));
        msg = "section and option added";
        if let Some(conditions) = conditions {
            for c in conditions {
                let cvalues = c.values();
                if Some(c.option.as_str()) != option {
                    if !cvalues.is_empty() {
                        for v in &cvalues {
                            lines.push(fmt(&c.option, v));
                        }
                    } else if params.allow_no_value {
                        lines.push(format!("{}\n", c.option));
                    }
                } else if !params.exclusive {
                    for v in cvalues {
                        if !values.contains(&v) {
                            values.push(v);
                        }
                    }
                }
            }
        }
        match option {
            Some(opt) if !values.is_empty() => {
                for v in &values {
                    lines.push(fmt(opt, v));
                }
            }
            Some(opt) if params.allow_no_value => lines.push(format!("{opt}\n")),
            _ => msg = "only section added",
        }
        changed = true;
    }
    Edited {
        lines,
        changed,
        msg,
    }
}

/// Ansible's `main()` and `do_ini`, from what the query saw. Pure.
fn plan_with(
    params: &IniFileParams,
    observed: IniObserved,
    check_mode: bool,
    want_diff: bool,
) -> Result<Planned<IniAction>, ModuleError> {
    if params.value.is_some() && params.values.is_some() {
        return Err(ModuleError::failed(
            "parameters are mutually exclusive: value|values",
        ));
    }
    for c in params.section_has_values.iter().flatten() {
        if c.value.is_some() && c.values.is_some() {
            return Err(ModuleError::failed(
                "parameters are mutually exclusive: value|values found in section_has_values",
            ));
        }
    }
    let values: Vec<String> = match (&params.value, &params.values) {
        (Some(v), _) => vec![v.clone()],
        (None, Some(vs)) => vs.clone(),
        (None, None) => Vec::new(),
    };
    if params.state == IniState::Present && !params.allow_no_value && values.is_empty() {
        return Err(ModuleError::failed(
            "Parameter 'value(s)' must be defined if state=present and allow_no_value=False.",
        ));
    }
    let exists = observed.content.is_some();
    if !exists && !params.create {
        let mut values = Map::new();
        values.insert("rc".into(), 257.into());
        return Err(ModuleError::Failed {
            msg: format!("Destination {} does not exist!", observed.target),
            values,
        });
    }
    let lines = observed.content.as_deref().map(read_lines);
    let edited = do_ini(params, lines.as_deref(), values);
    let before: String = lines.as_deref().unwrap_or_default().concat();
    let after: String = edited.lines.concat();
    let path = observed.path.clone();
    let mut outcome = Outcome::ok()
        .with_msg(edited.msg)
        .with_value("path", path.clone());
    outcome.values.extend(observed.path_info.clone());
    outcome.changed = edited.changed;
    // Ansible returns the diff every time; its output shows only a real difference.
    if want_diff && before != after {
        outcome.diffs.push(Diff {
            before_header: format!("before: {path} (content)"),
            after_header: format!("after: {path} (content)"),
            before,
            after: after.clone(),
        });
    }

    // Attributes are only looked at in a real run, as in Ansible.
    let mut attr_change = AttrChange::default();
    if !check_mode {
        let wanted = params.wanted();
        let (current_mode, current_uid, current_gid) = match (&observed.entry, exists) {
            (Some(e), true) => (e.stat.mode, e.stat.uid, e.stat.gid),
            _ => (0o666 & !observed.umask, observed.me.0, observed.me.1),
        };
        let (uid, gid) = observed.ids.known()?;
        let mode = match wanted.mode {
            Some(mode) => Some(
                mode.resolve_with_umask(Some(current_mode), false, observed.umask)
                    .map_err(|e| ModuleError::failed(e.to_string()))?,
            ),
            None => None,
        };
        // A file this task does not create or change is left alone when it does not exist.
        if exists || edited.changed {
            attr_change = AttrChange {
                uid: uid.filter(|&u| u != current_uid),
                gid: gid.filter(|&g| g != current_gid),
                mode: mode.filter(|&m| m != current_mode),
            };
        }
        if !attr_change.is_empty() {
            outcome.changed = true;
        }
    }
    if !outcome.changed {
        return Ok(Planned::Done(outcome));
    }
    let script = apply_script(
        params,
        &observed,
        edited.changed.then_some(after.len()),
        &attr_change,
    );
    Ok(Planned::Change {
        action: IniAction {
            script,
            content: edited.changed.then(|| after.into_bytes()),
            outcome: outcome.clone(),
        },
        preview: outcome,
    })
}

/// The script of a real run: directory, backup, atomic write, then the attributes of `path`.
fn apply_script(
    params: &IniFileParams,
    observed: &IniObserved,
    write: Option<usize>,
    change: &AttrChange,
) -> String {
    let exists = observed.content.is_some();
    let mut script = format!(
        "set -e; p={}; t={}; ",
        quote(&observed.path),
        quote(&observed.target)
    );
    if let Some(len) = write {
        script.push_str(
            "d=$(dirname -- \"$t\"); [ -d \"$d\" ] || mkdir -p -- \"$d\"; ",
        );
        if params.backup && exists {
            script.push_str(
                "b=\"$t.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$t\" \"$b\"; printf 'backup:%s\\n' \"$b\"; ",
            );
        }
        script.push_str(
            "tmp=$(mktemp \"$d/.tend.XXXXXXXX\"); trap 'rm -f -- \"$tmp\"' EXIT INT TERM HUP; cat > \"$tmp\"; ",
        );
        script.push_str(&tend_module_api::require_size("tmp", len));
        if exists {
            script.push_str(
                "chmod --reference=\"$t\" \"$tmp\" 2>/dev/null || true; \
                 chown --reference=\"$t\" \"$tmp\" 2>/dev/null || true; ",
            );
        } else {
            script.push_str(&format!(
                "chmod {} \"$tmp\"; ",
                attrs::chmod_octal(0o666 & !observed.umask)
            ));
        }
        script.push_str("mv -f -- \"$tmp\" \"$t\"; trap - EXIT INT TERM HUP; ");
    }
    script.push_str(&attrs::apply_script("\"$p\"", change, false));
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> IniFileParams {
        serde_json::from_value(json).expect("params")
    }

    fn edit(p: serde_json::Value, text: Option<&str>) -> (String, bool, &'static str) {
        let p = params(p);
        let values = match (&p.value, &p.values) {
            (Some(v), _) => vec![v.clone()],
            (None, Some(vs)) => vs.clone(),
            _ => Vec::new(),
        };
        let lines = text.map(|t| read_lines(t.as_bytes()));
        let e = do_ini(&p, lines.as_deref(), values);
        (e.lines.concat(), e.changed, e.msg)
    }

    #[test]
    fn new_files_and_sections() {
        let (text, changed, msg) = edit(
            serde_json::json!({"path": "x", "section": "s", "option": "o", "value": "v"}),
            None,
        );
        assert_eq!(text, "\n[s]\no = v\n");
        assert!(changed);
        assert_eq!(msg, "section and option added");
        let (text, _, msg) = edit(
            serde_json::json!({"path": "x", "section": "t", "option": "o", "value": "v", "no_extra_spaces": true}),
            Some("[s]\na = 1\n"),
        );
        assert_eq!(text, "[s]\na = 1\n[t]\no=v\n");
        assert_eq!(msg, "section and option added");
        let (text, _, msg) = edit(
            serde_json::json!({"path": "x", "option": "top", "value": "1"}),
            Some("# c\n[s]\na = 1\n"),
        );
        assert_eq!(text, "top = 1\n# c\n[s]\na = 1\n");
        assert_eq!(msg, "option added");
    }

    #[test]
    fn changes_and_inserts_within_a_section() {
        let file = "[s]\na = 1\n# note\n\n[t]\na = 2\n";
        let (text, changed, msg) = edit(
            serde_json::json!({"path": "x", "section": "s", "option": "a", "value": "9"}),
            Some(file),
        );
        assert_eq!(text, "[s]\na = 9\n# note\n\n[t]\na = 2\n");
        assert!(changed);
        assert_eq!(msg, "option changed");
        let (text, _, msg) = edit(
            serde_json::json!({"path": "x", "section": "s", "option": "b", "value": "2"}),
            Some(file),
        );
        assert_eq!(text, "[s]\na = 1\nb = 2\n# note\n\n[t]\na = 2\n");
        assert_eq!(msg, "option added");
        let (_, changed, msg) = edit(
            serde_json::json!({"path": "x", "section": "s", "option": "a", "value": "1"}),
            Some(file),
        );
        assert!(!changed);
        assert_eq!(msg, "OK");
        // A commented-out option is taken over.
        let (text, _, _) = edit(
            serde_json::json!({"path": "x", "section": "s", "option": "c", "value": "3"}),
            Some("[s]\n;c = 0\n"),
        );
        assert_eq!(text, "[s]\nc = 3\n");
        let (text, _, _) = edit(
            serde_json::json!({"path": "x", "section": "s", "option": "c", "value": "3", "modify_inactive_option": false}),
            Some("[s]\n;c = 0\n"),
        );
        assert_eq!(text, "[s]\nc = 3\n;c = 0\n");
        let (_, changed, _) = edit(
            serde_json::json!({"path": "x", "section": "s", "option": "a", "value": "1", "ignore_spaces": true}),
            Some("[s]\na=1\n"),
        );
        assert!(!changed);
        // No final newline: added, and that is a change.
        let (text, changed, msg) = edit(
            serde_json::json!({"path": "x", "section": "s", "option": "a", "value": "1"}),
            Some("[s]\na = 1"),
        );
        assert_eq!((text.as_str(), changed, msg), ("[s]\na = 1\n", true, "OK"));
    }

    #[test]
    fn multiple_values_exclusive_and_absent() {
        let file = "[s]\nx = 1\nx = 2\nx = 3\n";
        let (text, _, _) = edit(
            serde_json::json!({"path": "f", "section": "s", "option": "x", "values": ["3", "4"]}),
            Some(file),
        );
        assert_eq!(text, "[s]\nx = 4\nx = 3\n");
        let (text, _, _) = edit(
            serde_json::json!({"path": "f", "section": "s", "option": "x", "values": ["3", "4"], "exclusive": false}),
            Some(file),
        );
        assert_eq!(text, "[s]\nx = 1\nx = 2\nx = 3\nx = 4\n");
        let (text, _, msg) = edit(
            serde_json::json!({"path": "f", "section": "s", "option": "x", "state": "absent"}),
            Some(file),
        );
        assert_eq!((text.as_str(), msg), ("[s]\n", "option changed"));
        let (text, _, _) = edit(
            serde_json::json!({"path": "f", "section": "s", "option": "x", "values": ["2"], "state": "absent", "exclusive": false}),
            Some(file),
        );
        assert_eq!(text, "[s]\nx = 1\nx = 3\n");
        let (text, _, msg) = edit(
            serde_json::json!({"path": "f", "section": "s", "state": "absent"}),
            Some("[a]\nk = 1\n[s]\nx = 1\n[b]\n"),
        );
        assert_eq!((text.as_str(), msg), ("[a]\nk = 1\n[b]\n", "section removed"));
        let (text, _, _) = edit(
            serde_json::json!({"path": "f", "section": "s", "option": "flag", "allow_no_value": true}),
            Some("[s]\nx = 1\n"),
        );
        assert_eq!(text, "[s]\nx = 1\nflag\n");
    }

    #[test]
    fn section_has_values_picks_the_section() {
        let file = "[peer]\nname = a\nip = 1\n[peer]\nname = b\nip = 2\n";
        let (text, _, _) = edit(
            serde_json::json!({"path": "f", "section": "peer", "option": "ip", "value": "9",
                "section_has_values": [{"option": "name", "value": "b"}]}),
            Some(file),
        );
        assert_eq!(text, "[peer]\nname = a\nip = 1\n[peer]\nname = b\nip = 9\n");
        let (text, _, _) = edit(
            serde_json::json!({"path": "f", "section": "peer", "option": "ip", "value": "3",
                "section_has_values": [{"option": "name", "value": "c"}]}),
            Some(file),
        );
        assert_eq!(text, format!("{file}[peer]\nname = c\nip = 3\n"));
    }

    #[test]
    fn reads_as_python_text_mode() {
        assert_eq!(
            read_lines("\u{feff}a\r\nb\rc".as_bytes()),
            vec!["a\n", "b\n", "c"]
        );
        assert!(blank_or_comment("  # x\n"));
        assert!(blank_or_comment("\n"));
        assert!(!blank_or_comment("a\n"));
    }
}
