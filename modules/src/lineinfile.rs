//! `lineinfile`: make sure one line is in a file (or that matching lines are not).
//!
//! ```yaml
//! - name: Listen on 8080
//!   ansible.builtin.lineinfile:
//!     path: /etc/app.conf
//!     regexp: '^listen\s*='
//!     line: listen = 8080
//!
//! - name: Keep the port, change the address (backrefs)
//!   ansible.builtin.lineinfile:
//!     path: /etc/ssh/sshd_config
//!     regexp: '^#?ListenAddress\s+\S+(:\d+)?$'
//!     line: 'ListenAddress 0.0.0.0\1'
//!     backrefs: yes
//!
//! - name: A sudoers entry, checked before it is put in place
//!   ansible.builtin.lineinfile:
//!     path: /etc/sudoers.d/deploy
//!     line: 'deploy ALL=(ALL) NOPASSWD: ALL'
//!     create: yes
//!     mode: "0440"
//!     validate: /usr/sbin/visudo -cf %s
//!
//! - name: No legacy option
//!   ansible.builtin.lineinfile: {path: /etc/app.conf, regexp: '^legacy', state: absent}
//! ```
//!
//! The logic is Ansible's `lineinfile.py`, step for step: the file is read as lines (each with
//! its `\n`), `regexp` is searched in each line with Python's `re.search` semantics on bytes
//! (the last match wins unless `firstmatch`), then `search_string` as a substring, then the
//! exact line (ignoring `\r\n`) and the `insertafter`/`insertbefore` pattern (`EOF`/`BOF` are
//! the ends). A match is replaced (with `\1`, `\g<1>`, `\g<name>` expanded as Python's
//! `match.expand` when `backrefs`); otherwise the line is inserted, unless `backrefs` found no
//! match (then nothing changes). `state: absent` removes every line matching `regexp`,
//! `search_string` or `line`. Ansible's quirks are kept, e.g. an exact last line without its
//! `\n` counts as "line replaced" (the newline is added).
//!
//! Python regular expressions run on the `regex` crate (bytes, ASCII classes as for Python's
//! bytes patterns): `$` matches before a final newline, `\Z` is the end, literal `{`, `[` in a
//! class, `(?#...)` comments are translated; lookaround and backreferences inside the pattern
//! are refused with an error.
//!
//! The host is read with one `sh` call; the new text is written atomically (a temporary file in
//! the destination's directory, renamed over it; through a symlink to its target, as Ansible's
//! `realpath`). `validate` runs on that temporary file first (`%s` is its path; the words are
//! split as `shlex.split`, no shell); when it fails the destination is untouched. `backup`
//! copies the old file to `path.PID.YYYY-MM-DD@HH:MM:SS~` first. `create` makes a missing file
//! (and its directory); `mode`, `owner` and `group` are then checked as Ansible's common file
//! arguments ("... and ownership, perms or SE linux context changed"). `unsafe_writes` is
//! accepted and ignored: writes are always atomic.
//!
//! Returns `msg` ("line added", "line replaced", "N line(s) removed", "file not present", ""),
//! `backup` (the backup's path or ""), and `found` for `state: absent`. A missing file without
//! `create` fails with "Destination PATH does not exist !" and `rc` 257, a directory with
//! "Path PATH is a directory !" and `rc` 256. The diff shows the content before and after
//! (headed `before: PATH (content)`) and changed attributes (`... (file attributes)`, as JSON).

use async_trait::async_trait;
use regex::bytes::{Captures, Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::mode::{format_mode, ModeArg};
use tend_module_api::{quote, Context, Diff, Module, ModuleError, Outcome, Planned};

use crate::attrs::{self, AttrChange, Entry, Ids, Wanted};
use crate::command::shlex_split;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineState {
    #[default]
    Present,
    Absent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineinfileParams {
    /// The file to edit.
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    pub path: String,
    /// `present` (the default) or `absent`.
    #[serde(default)]
    pub state: LineState,
    /// A Python regular expression searched in each line.
    #[serde(alias = "regex")]
    pub regexp: Option<String>,
    /// A literal string searched in each line.
    pub search_string: Option<String>,
    /// The line to put in (required for `present`).
    #[serde(alias = "value")]
    pub line: Option<String>,
    /// Where a new line goes: after the last (or first) line matching this, or `EOF`/`BOF`.
    pub insertafter: Option<String>,
    /// Where a new line goes: before the last (or first) line matching this, or `BOF`.
    pub insertbefore: Option<String>,
    /// Expand `\1`, `\g<name>` in `line` from the `regexp` match; no match changes nothing.
    #[serde(default)]
    pub backrefs: bool,
    /// Use the first match of `regexp`/`insertafter`/`insertbefore` instead of the last.
    #[serde(default)]
    pub firstmatch: bool,
    /// Create the file when it is missing.
    #[serde(default)]
    pub create: bool,
    /// Keep a timestamped copy of the file being changed.
    #[serde(default)]
    pub backup: bool,
    /// A command checking the new file (`%s`) before it replaces the old one.
    pub validate: Option<String>,
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

impl LineinfileParams {
    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            mode: self.mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }

    /// The checks Ansible's argument spec and `main()` make before looking at the file.
    fn check(&self) -> Result<(), ModuleError> {
        let exclusive = [
            ("insertbefore", self.insertbefore.is_some(), "insertafter", self.insertafter.is_some()),
            ("regexp", self.regexp.is_some(), "search_string", self.search_string.is_some()),
            ("backrefs", self.backrefs, "search_string", self.search_string.is_some()),
        ];
        for (a, has_a, b, has_b) in exclusive {
            if has_a && has_b {
                return Err(ModuleError::failed(format!(
                    "parameters are mutually exclusive: {a}|{b}"
                )));
            }
        }
        Ok(())
    }
}

pub struct LineinfileModule;

/// What the query saw.
#[derive(Debug, Clone, Default)]
pub struct LineObserved {
    /// `path` with `~` expanded.
    path: String,
    /// Where the file really is (a symlink resolved), which the write replaces.
    real: String,
    is_dir: bool,
    /// The file's bytes; `None` when it does not exist.
    content: Option<Vec<u8>>,
    /// `stat` of the real file.
    entry: Option<Entry>,
    parent_exists: bool,
    umask: u32,
    ids: Ids,
    /// The connecting user's uid and gid: the owner of a file this task creates.
    me: (u32, u32),
}

/// The change to make.
#[derive(Debug)]
pub struct LineAction {
    /// One `sh` script doing it all; its stdin is the new content when there is one.
    script: String,
    content: Option<Vec<u8>>,
    outcome: Outcome,
}

#[async_trait]
impl Module for LineinfileModule {
    type Params = LineinfileParams;
    type Observed = LineObserved;
    type Action = LineAction;

    const NAME: &'static str = "lineinfile";

    async fn query(
        &self,
        params: &LineinfileParams,
        ctx: &Context<'_>,
    ) -> Result<LineObserved, ModuleError> {
        params.check()?;
        let wanted = params.wanted();
        let mut script = attrs::assign("p", &params.path);
        script.push_str(&attrs::show("path", "\"$p\""));
        script.push_str(
            "if [ -d \"$p\" ]; then echo isdir; fi; \
             r=\"$p\"; if [ -L \"$p\" ]; then r=$(readlink -f -- \"$p\") || r=\"$p\"; fi; ",
        );
        script.push_str(&attrs::show("real", "\"$r\""));
        script.push_str(&attrs::probe("r", "r"));
        script.push_str("if [ -d \"$(dirname -- \"$p\")\" ]; then echo parent.ok; fi; ");
        script.push_str(attrs::umask());
        script.push_str(&attrs::lookup_ids(wanted.owner, wanted.group));
        script.push_str("printf 'me:%s %s\\n' \"$(id -u)\" \"$(id -g)\"; ");
        // The content goes last: everything after the marker is the file.
        script.push_str(&format!(
            "if [ -e \"$p\" ] && [ ! -d \"$p\" ]; then echo {}; exec cat -- \"$p\"; fi; ",
            attrs::CONTENT_MARKER
        ));
        let report = attrs::run(ctx.host, &script).await?;
        let path = report.get("path").unwrap_or(&params.path).to_string();
        let me = report
            .get("me")
            .and_then(|m| m.split_once(' '))
            .and_then(|(u, g)| Some((u.trim().parse().ok()?, g.trim().parse().ok()?)))
            .unwrap_or((0, 0));
        let probe = report.probe("r")?;
        Ok(LineObserved {
            real: report.get("real").unwrap_or(&path).to_string(),
            path,
            is_dir: report.has("isdir"),
            content: report.content.clone(),
            entry: probe.entry,
            parent_exists: report.has("parent.ok"),
            umask: report.umask(),
            ids: Ids::from_report(wanted.owner, wanted.group, &report),
            me,
        })
    }

    fn plan(
        &self,
        params: &LineinfileParams,
        observed: LineObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<LineAction>, ModuleError> {
        plan_with(params, observed, ctx.diff, ctx.check_mode)
    }

    async fn apply(
        &self,
        params: &LineinfileParams,
        action: LineAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let LineAction {
            script,
            content,
            mut outcome,
        } = action;
        let out = ctx
            .host
            .sh_with_stdin(&script, content.as_deref().unwrap_or_default())
            .await?;
        if !out.success() {
            let stderr = out.stderr_lossy();
            let mut values = Map::new();
            values.insert("rc".into(), out.exit_code.into());
            return Err(ModuleError::Failed {
                msg: stderr.trim().to_string(),
                values,
            });
        }
        let report = attrs::Report::parse(&out.stdout);
        if let Some(backup) = report.get("backup") {
            outcome.values.insert("backup".into(), backup.into());
        }
        let _ = params.unsafe_writes;
        if let Some(rc) = report.get("validate.rc") {
            return Err(ModuleError::failed(format!(
                "failed to validate: rc:{rc} error:{}",
                out.stderr_lossy()
            )));
        }
        Ok(outcome)
    }
}

tend_module_api::register_module!(LineinfileModule);

fn failed_rc(msg: String, rc: i64) -> ModuleError {
    let mut values = Map::new();
    values.insert("rc".into(), rc.into());
    ModuleError::Failed { msg, values }
}

/// Ansible's decision, from what the query saw. Pure.
fn plan_with(
    params: &LineinfileParams,
    observed: LineObserved,
    want_diff: bool,
    check_mode: bool,
) -> Result<Planned<LineAction>, ModuleError> {
    params.check()?;
    let mut warnings = Vec::new();
    if params.regexp.as_deref() == Some("") || params.search_string.as_deref() == Some("") {
        let mut msg = format!(
            "The {} is an empty string, which will match every line in the file. This may have \
             unintended consequences, such as replacing the last line in the file rather than appending.",
            if params.regexp.as_deref() == Some("") {
                "regular expression"
            } else {
                "search string"
            }
        );
        if params.regexp.as_deref() == Some("") {
            msg.push_str(
                " If this is desired, use '^' to match every line in the file and avoid this warning.",
            );
        }
        warnings.push(msg);
    }
    let path = observed.path.as_str();
    if observed.is_dir {
        return Err(failed_rc(format!("Path {path} is a directory !"), 256));
    }
    let regexp = params.regexp.as_deref().map(python_regex).transpose()?;
    let exists = observed.content.is_some();
    let before = observed.content.clone().unwrap_or_default();
    let lines = split_lines(&before);

    let (after, msg, changed, found) = match params.state {
        LineState::Present => {
            if params.backrefs && params.regexp.is_none() {
                return Err(ModuleError::failed("regexp is required with backrefs=true"));
            }
            let Some(line) = params.line.as_deref() else {
                return Err(ModuleError::failed("line is required with state=present"));
            };
            if !exists && !params.create {
                return Err(failed_rc(format!("Destination {path} does not exist !"), 257));
            }
            let (insertafter, insertbefore) =
                match (params.insertafter.as_deref(), params.insertbefore.as_deref()) {
                    (None, None) => (Some("EOF"), None),
                    other => other,
                };
            let edit = Present {
                regexp: regexp.as_ref(),
                search_string: params.search_string.as_deref(),
                line,
                insertafter,
                insertbefore,
                backrefs: params.backrefs,
                firstmatch: params.firstmatch,
            };
            let (after, msg, changed) = present(lines, &edit)?;
            (after, msg.to_string(), changed, None)
        }
        LineState::Absent => {
            if params.regexp.is_none() && params.search_string.is_none() && params.line.is_none()
            {
                return Err(ModuleError::failed(
                    "one of line, search_string, or regexp is required with state=absent",
                ));
            }
            if !exists {
                return Ok(Planned::Done(
                    Outcome::ok().with_msg("file not present").with_warnings(warnings),
                ));
            }
            let (after, found) = absent(
                lines,
                regexp.as_ref(),
                params.search_string.as_deref(),
                params.line.as_deref().unwrap_or_default(),
            );
            let msg = if found > 0 {
                format!("{found} line(s) removed")
            } else {
                String::new()
            };
            (after, msg, found > 0, Some(found))
        }
    };
    let after: Vec<u8> = after.concat();

    let mut diffs = Vec::new();
    if want_diff && changed {
        diffs.push(Diff {
            before_header: format!("before: {path} (content)"),
            after_header: format!("after: {path} (content)"),
            before: String::from_utf8_lossy(&before).into_owned(),
            after: String::from_utf8_lossy(&after).into_owned(),
        });
    }
    let mut outcome = Outcome::ok()
        .with_msg(msg)
        .with_value("backup", "")
        .with_warnings(warnings);
    outcome.changed = changed;
    if let Some(found) = found {
        outcome.values.insert("found".into(), found.into());
    }
    outcome.diffs = diffs;

    // Check mode on a missing file ends here, without looking at attributes, as in Ansible.
    if check_mode && !exists {
        return Ok(if changed {
            Planned::Change {
                action: LineAction {
                    script: String::new(),
                    content: None,
                    outcome: outcome.clone(),
                },
                preview: outcome,
            }
        } else {
            Planned::Done(outcome)
        });
    }

    // The attributes the file has after the write (a new file: the umask default and the
    // connecting user), and what must change on them.
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
    let attr_change = AttrChange {
        uid: uid.filter(|&u| u != current_uid),
        gid: gid.filter(|&g| g != current_gid),
        mode: mode.filter(|&m| m != current_mode),
    };
    if !attr_change.is_empty() {
        let msg = outcome.msg.get_or_insert_with(String::new);
        if changed {
            msg.push_str(" and ");
        }
        msg.push_str("ownership, perms or SE linux context changed");
        outcome.changed = true;
        if want_diff {
            outcome.diffs.push(attr_diff(
                path,
                (current_mode, current_uid, current_gid),
                &attr_change,
            ));
        }
    }
    if !outcome.changed {
        return Ok(Planned::Done(outcome));
    }

    let script = apply_script(params, &observed, changed.then_some(after.len()), &attr_change)?;
    Ok(Planned::Change {
        action: LineAction {
            script,
            content: changed.then_some(after),
            outcome: outcome.clone(),
        },
        preview: outcome,
    })
}

/// Ansible's attribute diff (`set_fs_attributes_if_different`): JSON mappings of what changes.
fn attr_diff(path: &str, current: (u32, u32, u32), change: &AttrChange) -> Diff {
    let mut before = Map::new();
    let mut after = Map::new();
    if let Some(uid) = change.uid {
        before.insert("owner".into(), current.1.into());
        after.insert("owner".into(), uid.into());
    }
    if let Some(gid) = change.gid {
        before.insert("group".into(), current.2.into());
        after.insert("group".into(), gid.into());
    }
    if let Some(mode) = change.mode {
        before.insert("mode".into(), format_mode(current.0).into());
        after.insert("mode".into(), format_mode(mode).into());
    }
    let json = |m: Map<String, Value>| {
        let mut buf = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
        // A map of strings and numbers always serializes.
        let _ = serde::Serialize::serialize(&Value::Object(m), &mut ser);
        format!("{}\n", String::from_utf8_lossy(&buf))
    };
    Diff {
        before_header: format!("before: {path} (file attributes)"),
        after_header: format!("after: {path} (file attributes)"),
        before: json(before),
        after: json(after),
    }
}

/// The one script of a real run: directory, backup, temporary file, validation, attributes,
/// rename. The new content (if any) comes on stdin.
fn apply_script(
    params: &LineinfileParams,
    observed: &LineObserved,
    write: Option<usize>,
    change: &AttrChange,
) -> Result<String, ModuleError> {
    let exists = observed.content.is_some();
    let mut script = format!(
        "set -e; p={}; r={}; ",
        quote(&observed.path),
        quote(&observed.real)
    );
    let Some(len) = write else {
        script.push_str(&attrs::apply_script("\"$r\"", change, false));
        return Ok(script);
    };
    if !exists && !observed.parent_exists {
        script.push_str(
            "d=$(dirname -- \"$p\"); mkdir -p -- \"$d\" 2>/dev/null || \
             { echo \"Error creating $d\" >&2; exit 1; }; ",
        );
    }
    if params.backup && exists {
        script.push_str(
            "b=\"$p.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$p\" \"$b\"; printf 'backup:%s\\n' \"$b\"; ",
        );
    }
    script.push_str(
        "dir=$(dirname -- \"$r\"); tmp=$(mktemp \"$dir/.tend.XXXXXXXX\"); \
         trap 'rm -f -- \"$tmp\"' EXIT INT TERM HUP; cat > \"$tmp\"; ",
    );
    script.push_str(&tend_module_api::require_size("tmp", len));
    if let Some(validate) = &params.validate {
        if !validate.contains("%s") {
            return Err(ModuleError::failed(format!(
                "validate must contain %s: {validate}"
            )));
        }
        let words = shlex_split(validate).map_err(ModuleError::failed)?;
        let command: Vec<String> = words.iter().map(|w| percent_word(w)).collect();
        script.push_str(&format!(
            "rc=0; {} >/dev/null || rc=$?; if [ \"$rc\" -ne 0 ]; then printf 'validate.rc:%s\\n' \"$rc\"; exit 0; fi; ",
            command.join(" ")
        ));
    }
    if exists {
        script.push_str(
            "chmod --reference=\"$r\" \"$tmp\" 2>/dev/null || true; \
             chown --reference=\"$r\" \"$tmp\" 2>/dev/null || true; ",
        );
    } else {
        script.push_str(&format!(
            "chmod {} \"$tmp\"; ",
            attrs::chmod_octal(0o666 & !observed.umask)
        ));
    }
    script.push_str(&attrs::apply_script("\"$tmp\"", change, false));
    script.push_str("mv -f -- \"$tmp\" \"$r\"; trap - EXIT INT TERM HUP; ");
    Ok(script)
}

/// A validate word as Python's `validate % tmpfile` leaves it: `%s` the temporary file,
/// `%%` a percent sign; as one `sh` word.
fn percent_word(word: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    let mut rest = word;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("%s") {
            if !literal.is_empty() {
                out.push_str(&quote(&literal));
                literal.clear();
            }
            out.push_str("\"$tmp\"");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("%%") {
            literal.push('%');
            rest = after;
        } else {
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !literal.is_empty() || out.is_empty() {
        out.push_str(&quote(&literal));
    }
    out
}

trait WithWarnings {
    fn with_warnings(self, warnings: Vec<String>) -> Self;
}

impl WithWarnings for Outcome {
    fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The edit itself: Ansible's present() and absent() on lines of bytes.

/// Python's `readlines()` on a binary file: each line keeps its `\n`.
fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// `line.rstrip(b'\r\n')`.
fn rstrip_eol(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map_or(0, |i| i + 1);
    &line[..end]
}

fn ends_with_eol(line: &[u8]) -> bool {
    matches!(line.last(), Some(b'\n' | b'\r'))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// What `present()` is asked to do.
struct Present<'a> {
    regexp: Option<&'a Regex>,
    search_string: Option<&'a str>,
    line: &'a str,
    /// `EOF` when neither insert option is given, as Ansible's `main()` defaults it.
    insertafter: Option<&'a str>,
    insertbefore: Option<&'a str>,
    backrefs: bool,
    firstmatch: bool,
}

/// Ansible's `present()`: the new lines, the message and whether anything changed.
fn present(
    mut lines: Vec<Vec<u8>>,
    edit: &Present<'_>,
) -> Result<(Vec<Vec<u8>>, &'static str, bool), ModuleError> {
    let ins_pattern = match (edit.insertafter, edit.insertbefore) {
        (Some(after), _) if after != "BOF" && after != "EOF" => Some(python_regex(after)?),
        (None, Some(before)) if before != "BOF" => Some(python_regex(before)?),
        _ => None,
    };
    let b_line = edit.line.as_bytes();
    // Python's truthiness: an empty pattern is compiled (and matches) but selects nothing.
    let after_set = edit.insertafter.is_some_and(|s| !s.is_empty());
    let before_set = edit.insertbefore.is_some_and(|s| !s.is_empty());
    // index[0]: the line the regexp, search string or exact line matched; index[1]: where
    // insertafter/insertbefore point.
    let mut index0: Option<usize> = None;
    let mut index1: isize = -1;
    let mut matched = false;
    let mut exact_line_match = false;

    if let Some(re) = edit.regexp {
        for (lineno, cur) in lines.iter().enumerate() {
            if re.is_match(cur) {
                index0 = Some(lineno);
                matched = true;
                if edit.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(search) = edit.search_string {
        for (lineno, cur) in lines.iter().enumerate() {
            if contains(cur, search.as_bytes()) {
                index0 = Some(lineno);
                matched = true;
                if edit.firstmatch {
                    break;
                }
            }
        }
    }
    if !matched {
        for (lineno, cur) in lines.iter().enumerate() {
            if b_line == rstrip_eol(cur) {
                index0 = Some(lineno);
                exact_line_match = true;
            } else if ins_pattern.as_ref().is_some_and(|re| re.is_match(cur)) {
                if after_set {
                    index1 = lineno as isize + 1;
                    if edit.firstmatch {
                        break;
                    }
                }
                if before_set {
                    index1 = lineno as isize;
                    if edit.firstmatch {
                        break;
                    }
                }
            }
        }
    }
    let _ = exact_line_match; // Only decides a branch Ansible can never reach.

    let with_sep = |l: &[u8]| {
        let mut v = l.to_vec();
        v.push(b'\n');
        v
    };
    if let Some(i) = index0 {
        // The regexp's match on that line (searched again: the same match).
        let caps = match (edit.regexp, edit.backrefs) {
            (Some(re), true) => re.captures(&lines[i]).map(|caps| (re, caps)),
            _ => None,
        };
        let mut new_line = match caps {
            Some((re, caps)) => expand(b_line, re, &caps)?,
            None => b_line.to_vec(),
        };
        if !new_line.ends_with(b"\n") {
            new_line.push(b'\n');
        }
        if lines[i] != new_line {
            lines[i] = new_line;
            return Ok((lines, "line replaced", true));
        }
        return Ok((lines, "", false));
    }
    if edit.backrefs {
        // No match to fill the backreferences from: nothing is safe to write.
        return Ok((lines, "", false));
    }
    if edit.insertbefore == Some("BOF") || edit.insertafter == Some("BOF") {
        lines.insert(0, with_sep(b_line));
        return Ok((lines, "line added", true));
    }
    if edit.insertafter == Some("EOF") || index1 == -1 {
        if lines.last().is_some_and(|l| !ends_with_eol(l)) {
            lines.push(b"\n".to_vec());
        }
        lines.push(with_sep(b_line));
        return Ok((lines, "line added", true));
    }
    let at = index1 as usize;
    if after_set {
        if at == lines.len() {
            if rstrip_eol(&lines[at - 1]) != b_line {
                lines.push(with_sep(b_line));
                return Ok((lines, "line added", true));
            }
        } else if b_line != rstrip_eol(&lines[at]) {
            lines.insert(at, with_sep(b_line));
            return Ok((lines, "line added", true));
        }
        return Ok((lines, "", false));
    }
    lines.insert(at, with_sep(b_line));
    Ok((lines, "line added", true))
}

/// Ansible's `absent()`: the remaining lines and how many were removed.
fn absent(
    lines: Vec<Vec<u8>>,
    regexp: Option<&Regex>,
    search_string: Option<&str>,
    line: &str,
) -> (Vec<Vec<u8>>, usize) {
    let mut found = 0;
    let kept = lines
        .into_iter()
        .filter(|cur| {
            let hit = match (regexp, search_string) {
                (Some(re), _) => re.is_match(cur),
                (None, Some(s)) => contains(cur, s.as_bytes()),
                (None, None) => line.as_bytes() == rstrip_eol(cur),
            };
            found += usize::from(hit);
            !hit
        })
        .collect();
    (kept, found)
}

// ---------------------------------------------------------------------------------------------
// Python regular expressions on the regex crate.

/// Compiles a Python (bytes) regular expression as `re.compile` would read it, for
/// `re.search` on one line that ends in at most one `\n`.
pub(crate) fn python_regex(pattern: &str) -> Result<Regex, ModuleError> {
    // Python's `$` (without (?m)) also matches before the line's final newline.
    let translated = crate::pyre::translate_with(pattern, true);
    let build = |unicode: bool| {
        RegexBuilder::new(&translated)
            .unicode(unicode)
            .size_limit(1 << 24)
            .build()
    };
    // Python's bytes patterns have ASCII classes; a pattern the byte-level syntax refuses
    // (a non-ASCII character in a class) falls back to Unicode.
    build(false).or_else(|_| build(true)).map_err(|e| {
        ModuleError::failed(format!(
            "invalid regular expression '{pattern}': {}",
            e.to_string().lines().last().unwrap_or_default()
        ))
    })
}

/// Python's `match.expand(template)` for a bytes match: `\1`..`\99`, `\g<n>`, `\g<name>`,
/// the escapes `\n \t \r \f \v \a \b \\` and octal `\0`, `\ooo`; a group that did not take
/// part is empty.
fn expand(template: &[u8], re: &Regex, caps: &Captures<'_>) -> Result<Vec<u8>, ModuleError> {
    let bad = |msg: String| ModuleError::failed(format!("re.error: {msg}"));
    let group = |out: &mut Vec<u8>, index: usize| -> Result<(), ModuleError> {
        if index >= caps.len() {
            return Err(bad(format!("invalid group reference {index}")));
        }
        if let Some(m) = caps.get(index) {
            out.extend_from_slice(m.as_bytes());
        }
        Ok(())
    };
    let mut out = Vec::with_capacity(template.len());
    let mut i = 0;
    while i < template.len() {
        let c = template[i];
        if c != b'\\' || i + 1 >= template.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let next = template[i + 1];
        match next {
            b'g' => {
                let rest = &template[i + 2..];
                let close = rest.iter().position(|&b| b == b'>');
                let (Some(b'<'), Some(close)) = (rest.first(), close) else {
                    return Err(bad("missing <".into()));
                };
                let name = String::from_utf8_lossy(&rest[1..close]).into_owned();
                match name.parse::<usize>() {
                    Ok(n) => group(&mut out, n)?,
                    Err(_) => match caps.name(&name) {
                        Some(m) => out.extend_from_slice(m.as_bytes()),
                        None if re.capture_names().any(|n| n == Some(name.as_str())) => {}
                        None => return Err(bad(format!("unknown group name '{name}'"))),
                    },
                }
                i += 2 + close + 1;
            }
            b'0' => {
                // Octal: up to two more octal digits.
                let mut j = i + 2;
                let mut value = 0u32;
                while j < template.len() && j < i + 4 && (b'0'..=b'7').contains(&template[j]) {
                    value = value * 8 + u32::from(template[j] - b'0');
                    j += 1;
                }
                out.push(value as u8);
                i = j;
            }
            b'1'..=b'9' => {
                let mut j = i + 2;
                let is_oct = |b: u8| (b'0'..=b'7').contains(&b);
                if j < template.len() && template[j].is_ascii_digit() {
                    if is_oct(next)
                        && is_oct(template[j])
                        && j + 1 < template.len()
                        && is_oct(template[j + 1])
                    {
                        let value = u32::from(next - b'0') * 64
                            + u32::from(template[j] - b'0') * 8
                            + u32::from(template[j + 1] - b'0');
                        if value > 0o377 {
                            return Err(bad(format!(
                                "octal escape value \\{} outside of range 0-0o377",
                                String::from_utf8_lossy(&template[i + 1..j + 2])
                            )));
                        }
                        out.push(value as u8);
                        i = j + 2;
                        continue;
                    }
                    j += 1;
                }
                let index: usize = String::from_utf8_lossy(&template[i + 1..j])
                    .parse()
                    .unwrap_or_default();
                group(&mut out, index)?;
                i = j;
            }
            _ => {
                let escaped = match next {
                    b'a' => Some(0x07),
                    b'b' => Some(0x08),
                    b'f' => Some(0x0c),
                    b'n' => Some(b'\n'),
                    b'r' => Some(b'\r'),
                    b't' => Some(b'\t'),
                    b'v' => Some(0x0b),
                    b'\\' => Some(b'\\'),
                    _ => None,
                };
                match escaped {
                    Some(b) => out.push(b),
                    None if next.is_ascii_alphabetic() => {
                        return Err(bad(format!("bad escape \\{}", next as char)));
                    }
                    None => out.extend_from_slice(&[b'\\', next]),
                }
                i += 2;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lineinfile's reading of a pattern: Python's, `$` matching before the line's newline.
    fn translate_python_regex(pattern: &str) -> String {
        crate::pyre::translate_with(pattern, true)
    }
    use crate::testing::{run_module, FakeController};
    use serde_json::json;
    use tend_module_api::args::{from_args, ArgMode};

    fn params(args: &Value) -> LineinfileParams {
        let mut args = args.clone();
        args["path"] = "/f".into();
        from_args(&args, ArgMode::Run).expect("params")
    }

    fn observed(content: Option<&str>) -> LineObserved {
        LineObserved {
            path: "/f".into(),
            real: "/f".into(),
            content: content.map(|c| c.as_bytes().to_vec()),
            entry: content.map(|_| crate::attrs::tests::entry(tend_module_api::FileKind::File, 0o644)),
            parent_exists: true,
            umask: 0o022,
            me: (1000, 1000),
            ..LineObserved::default()
        }
    }

    /// One row: the file (None: missing), the arguments, and what Ansible's own
    /// present()/absent() gave for them (failed, msg, changed, content after, found).
    #[allow(clippy::too_many_arguments)]
    fn case(
        name: &str,
        content: Option<&str>,
        args: Value,
        failed: bool,
        msg: &str,
        changed: bool,
        after: Option<&str>,
        found: Option<usize>,
    ) {
        let planned = plan_with(&params(&args), observed(content), true, true);
        if failed {
            let e = planned.expect_err(name);
            assert_eq!(e.to_string(), msg, "{name}");
            return;
        }
        let outcome = match planned.unwrap_or_else(|e| panic!("{name}: {e}")) {
            Planned::Done(o) => o,
            Planned::Change { preview, .. } => preview,
        };
        assert_eq!(outcome.changed, changed, "{name}: changed");
        assert_eq!(outcome.msg.as_deref(), Some(msg), "{name}: msg");
        assert_eq!(
            outcome.values.get("found").and_then(Value::as_u64),
            found.map(|f| f as u64),
            "{name}: found"
        );
        let shown = match outcome.diffs.first() {
            Some(d) => Some(d.after.clone()),
            None => content.map(str::to_string),
        };
        assert_eq!(shown.as_deref(), after, "{name}: content");
    }

    /// Expected values generated by running Ansible 2.19's lineinfile present()/absent() on
    /// the same files (check mode, diff on).
    #[test]
    fn plans_match_ansible() {
        case("append to end", Some("a\nb\n"), json!({"line": "c"}), false, "line added", true, Some("a\nb\nc\n"), None);
        case("already present", Some("a\nb\n"), json!({"line": "b"}), false, "", false, Some("a\nb\n"), None);
        case("present last line without newline", Some("a\nb"), json!({"line": "b"}), false, "line replaced", true, Some("a\nb\n"), None);
        case("append after missing newline", Some("a\nb"), json!({"line": "c"}), false, "line added", true, Some("a\nb\nc\n"), None);
        case("empty file", Some(""), json!({"line": "x"}), false, "line added", true, Some("x\n"), None);
        case("missing file create", None, json!({"line": "x", "create": true}), false, "line added", true, Some("x\n"), None);
        case("missing file no create", None, json!({"line": "x"}), true, "Destination /f does not exist !", false, None, None);
        case("regexp replace last match", Some("port=1\nx\nport=2\n"), json!({"regexp": "^port=", "line": "port=9"}), false, "line replaced", true, Some("port=1\nx\nport=9\n"), None);
        case("regexp replace firstmatch", Some("port=1\nx\nport=2\n"), json!({"regexp": "^port=", "line": "port=9", "firstmatch": true}), false, "line replaced", true, Some("port=9\nx\nport=2\n"), None);
        case("regexp already right", Some("port=9\n"), json!({"regexp": "^port=", "line": "port=9"}), false, "", false, Some("port=9\n"), None);
        case("regexp dollar before newline", Some("foo\nbar\n"), json!({"regexp": "^bar$", "line": "baz"}), false, "line replaced", true, Some("foo\nbaz\n"), None);
        case("regexp caret not at end", Some("foo\n"), json!({"regexp": "^$", "line": "x"}), false, "line added", true, Some("foo\nx\n"), None);
        case("regexp no match appends", Some("a\n"), json!({"regexp": "^port=", "line": "port=9"}), false, "line added", true, Some("a\nport=9\n"), None);
        case("regexp no match line present", Some("port=9\n"), json!({"regexp": "^nomatch", "line": "port=9"}), false, "", false, Some("port=9\n"), None);
        case("regexp whitespace class eats newline", Some("a  \nb\n"), json!({"regexp": "a\\s+$", "line": "A"}), false, "line replaced", true, Some("A\nb\n"), None);
        case("regexp no match insertafter", Some("[main]\nx=1\n[other]\n"), json!({"regexp": "^y=", "line": "y=2", "insertafter": "^\\[main\\]"}), false, "line added", true, Some("[main]\ny=2\nx=1\n[other]\n"), None);
        case("backrefs match", Some("Listen 80\n"), json!({"regexp": "^Listen (\\d+)$", "line": "Listen \\1 # was \\g<1>", "backrefs": true}), false, "line replaced", true, Some("Listen 80 # was 80\n"), None);
        case("backrefs named", Some("user = bob\n"), json!({"regexp": "^(?P<k>\\w+) = (?P<v>\\w+)", "line": "\\g<v>=\\g<k>\\t!", "backrefs": true}), false, "line replaced", true, Some("bob=user\t!\n"), None);
        case("backrefs no match", Some("a\n"), json!({"regexp": "^Listen (\\d+)$", "line": "Listen \\1", "backrefs": true}), false, "", false, Some("a\n"), None);
        case("backrefs unmatched group", Some("ab\n"), json!({"regexp": "a(x)?b", "line": "[\\1]", "backrefs": true}), false, "line replaced", true, Some("[]\n"), None);
        case("backrefs whole match", Some("key=val\n"), json!({"regexp": "=.*", "line": "<\\g<0>>", "backrefs": true}), false, "line replaced", true, Some("<=val>\n"), None);
        case("insertafter regex last", Some("# a\nx\n# b\ny\n"), json!({"line": "new", "insertafter": "^#"}), false, "line added", true, Some("# a\nx\n# b\nnew\ny\n"), None);
        case("insertafter regex first", Some("# a\nx\n# b\ny\n"), json!({"line": "new", "insertafter": "^#", "firstmatch": true}), false, "line added", true, Some("# a\nnew\nx\n# b\ny\n"), None);
        case("insertafter at last line", Some("x\n# a"), json!({"line": "new", "insertafter": "^#"}), false, "line added", true, Some("x\n# anew\n"), None);
        case("insertafter already after", Some("# a\nnew\n"), json!({"line": "new", "insertafter": "^#"}), false, "", false, Some("# a\nnew\n"), None);
        case("insertafter no match goes to end", Some("a\n"), json!({"line": "new", "insertafter": "^zzz"}), false, "line added", true, Some("a\nnew\n"), None);
        case("insertafter EOF", Some("a\n"), json!({"line": "new", "insertafter": "EOF"}), false, "line added", true, Some("a\nnew\n"), None);
        case("insertafter BOF", Some("a\n"), json!({"line": "new", "insertafter": "BOF"}), false, "line added", true, Some("new\na\n"), None);
        case("insertbefore regex last", Some("a\n# x\nb\n# y\n"), json!({"line": "new", "insertbefore": "^#"}), false, "line added", true, Some("a\n# x\nb\nnew\n# y\n"), None);
        case("insertbefore regex first", Some("a\n# x\nb\n# y\n"), json!({"line": "new", "insertbefore": "^#", "firstmatch": true}), false, "line added", true, Some("a\nnew\n# x\nb\n# y\n"), None);
        case("insertbefore first line", Some("# x\na\n"), json!({"line": "new", "insertbefore": "^#"}), false, "line added", true, Some("new\n# x\na\n"), None);
        case("insertbefore already before", Some("new\n# x\n"), json!({"line": "new", "insertbefore": "^#"}), false, "", false, Some("new\n# x\n"), None);
        case("insertbefore BOF", Some("a\nb\n"), json!({"line": "new", "insertbefore": "BOF"}), false, "line added", true, Some("new\na\nb\n"), None);
        case("insertbefore BOF present elsewhere", Some("a\nnew\n"), json!({"line": "new", "insertbefore": "BOF"}), false, "", false, Some("a\nnew\n"), None);
        case("insertbefore BOF empty", Some(""), json!({"line": "new", "insertbefore": "BOF"}), false, "line added", true, Some("new\n"), None);
        case("insertbefore no match", Some("a\n"), json!({"line": "new", "insertbefore": "^zzz"}), false, "line added", true, Some("a\nnew\n"), None);
        case("insertbefore line present after match", Some("# x\nnew\n"), json!({"line": "new", "insertbefore": "^#"}), false, "", false, Some("# x\nnew\n"), None);
        case("search_string replace", Some("a.b=1\naxb=2\n"), json!({"search_string": "a.b", "line": "a.b=3"}), false, "line replaced", true, Some("a.b=3\naxb=2\n"), None);
        case("search_string no match", Some("axb=2\n"), json!({"search_string": "a.b", "line": "a.b=3"}), false, "line added", true, Some("axb=2\na.b=3\n"), None);
        case("search_string firstmatch", Some("k 1\nk 2\n"), json!({"search_string": "k ", "line": "k 0", "firstmatch": true}), false, "line replaced", true, Some("k 0\nk 2\n"), None);
        case("duplicate lines present", Some("x\nx\n"), json!({"line": "x"}), false, "", false, Some("x\nx\n"), None);
        case("crlf line matches", Some("a\r\nb\r\n"), json!({"line": "a"}), false, "line replaced", true, Some("a\nb\r\n"), None);
        case("crlf regexp replace", Some("a\r\nb\r\n"), json!({"regexp": "^b", "line": "B"}), false, "line replaced", true, Some("a\r\nB\n"), None);
        case("line with trailing newline", Some("a\n"), json!({"regexp": "^a", "line": "a\n"}), false, "", false, Some("a\n"), None);
        case("empty regexp matches all", Some("a\nb\n"), json!({"regexp": "", "line": "z"}), false, "line replaced", true, Some("a\nz\n"), None);
        case("absent line", Some("a\nb\na\n"), json!({"state": "absent", "line": "a"}), false, "2 line(s) removed", true, Some("b\n"), Some(2));
        case("absent line none", Some("a\n"), json!({"state": "absent", "line": "z"}), false, "", false, Some("a\n"), Some(0));
        case("absent regexp", Some("#x\ny\n# z\n"), json!({"state": "absent", "regexp": "^#"}), false, "2 line(s) removed", true, Some("y\n"), Some(2));
        case("absent search_string", Some("foo.bar\nfooXbar\n"), json!({"state": "absent", "search_string": "foo.bar"}), false, "1 line(s) removed", true, Some("fooXbar\n"), Some(1));
        case("absent crlf and no newline", Some("a\r\nb\na"), json!({"state": "absent", "line": "a"}), false, "2 line(s) removed", true, Some("b\n"), Some(2));
        case("absent missing file", None, json!({"state": "absent", "line": "a"}), false, "file not present", false, None, None);
        case("absent empty file", Some(""), json!({"state": "absent", "regexp": "x"}), false, "", false, Some(""), Some(0));
        case("regexp braces literal", Some("x=${HOME}\n"), json!({"regexp": "^x=\\${HOME}$", "line": "x=1"}), false, "line replaced", true, Some("x=1\n"), None);
        case("regexp counted repeat", Some("aaa\n"), json!({"regexp": "^a{2,}$", "line": "b"}), false, "line replaced", true, Some("b\n"), None);
        case("regexp ignorecase flag", Some("PORT=1\n"), json!({"regexp": "(?i)^port=", "line": "port=2"}), false, "line replaced", true, Some("port=2\n"), None);
        case("regexp bracket in class", Some("[x]\n"), json!({"regexp": "^[[]x", "line": "y"}), false, "line replaced", true, Some("y\n"), None);
        case("regexp dollar inside class", Some("a$\n"), json!({"regexp": "a[$]", "line": "b"}), false, "line replaced", true, Some("b\n"), None);
        case("regexp Z anchor", Some("abc\n"), json!({"regexp": "c\\Z", "line": "x"}), false, "line added", true, Some("abc\nx\n"), None);
        case("regexp Z anchor no nl", Some("abc"), json!({"regexp": "c\\Z", "line": "x"}), false, "line replaced", true, Some("x\n"), None);
        case("backrefs escapes", Some("a b\n"), json!({"regexp": "(a) (b)", "line": "\\2\\n\\1\\.\\\\", "backrefs": true}), false, "line replaced", true, Some("b\na\\.\\\n"), None);
        case("regexp matches insertafter too", Some("[s]\nk=1\n"), json!({"regexp": "^k=", "line": "k=2", "insertafter": "^\\[s\\]"}), false, "line replaced", true, Some("[s]\nk=2\n"), None);
        case("firstmatch stops exact scan", Some("# h\nnew\n# h2\n"), json!({"line": "new", "insertafter": "^#", "firstmatch": true}), false, "", false, Some("# h\nnew\n# h2\n"), None);
        case("exact line with insertafter regex present", Some("# h\nx\nnew\n"), json!({"line": "new", "insertafter": "^#"}), false, "", false, Some("# h\nx\nnew\n"), None);
        case("unicode line", Some("café=1\n"), json!({"regexp": "^café=", "line": "café=2"}), false, "line replaced", true, Some("café=2\n"), None);
        case("dot any byte", Some("café\n"), json!({"regexp": "^caf.$", "line": "x"}), false, "line added", true, Some("café\nx\n"), None);
        case("dot two bytes", Some("café\n"), json!({"regexp": "^caf..$", "line": "x"}), false, "line replaced", true, Some("x\n"), None);
        case("empty insertafter", Some("a\nb\n"), json!({"line": "new", "insertafter": ""}), false, "line added", true, Some("a\nb\nnew\n"), None);
        case("empty insertbefore", Some("a\nb\n"), json!({"line": "new", "insertbefore": ""}), false, "line added", true, Some("a\nb\nnew\n"), None);
        case("regexp and insertbefore BOF no match", Some("a\n"), json!({"regexp": "^z", "line": "new", "insertbefore": "BOF"}), false, "line added", true, Some("new\na\n"), None);
        case("search_string empty", Some("a\nb\n"), json!({"search_string": "", "line": "z"}), false, "line replaced", true, Some("a\nz\n"), None);
        case("absent exact with regexp None dup crlf", Some("x\r\nx\nx"), json!({"state": "absent", "line": "x"}), false, "3 line(s) removed", true, Some(""), Some(3));
        case("backrefs exact line present", Some("Listen \\1\n"), json!({"regexp": "^Port (\\d+)", "line": "Listen \\1", "backrefs": true}), false, "", false, Some("Listen \\1\n"), None);
    }

    #[test]
    fn python_regex_translation() {
        assert_eq!(translate_python_regex("^a$"), "^a(?m:$)");
        assert_eq!(translate_python_regex("[$]{2}x{"), "[$]{2}x\\{");
        assert_eq!(translate_python_regex("a{,3}\\Z"), "a{0,3}\\z");
        assert_eq!(translate_python_regex("[]a[&&]"), "[\\]a\\[\\&\\&]");
        assert_eq!(translate_python_regex("a(?#note)b\\<"), "ab<");
        assert!(python_regex("(?<=a)b").is_err());
        let re = python_regex("^(?P<k>\\w+)=(x)?").expect("regex");
        let caps = re.captures(b"key=").expect("match");
        assert_eq!(expand(b"\\g<k>|\\2|\\g<0>|\\101", &re, &caps).expect("expand"), b"key||key=|A");
        assert_eq!(
            expand(b"\\3", &re, &caps).expect_err("no group").to_string(),
            "re.error: invalid group reference 3"
        );
        assert!(expand(b"\\q", &re, &caps).is_err());
        assert!(expand(b"\\g<nope>", &re, &caps).is_err());
    }

    #[test]
    fn argument_errors_and_directories() {
        let plan = |args: Value, o: LineObserved| plan_with(&params(&args), o, true, false);
        let e = plan(json!({"line": "x", "insertafter": "a", "insertbefore": "b"}), observed(Some("")))
            .expect_err("exclusive");
        assert_eq!(e.to_string(), "parameters are mutually exclusive: insertbefore|insertafter");
        let e = plan(json!({"line": "x", "backrefs": true}), observed(Some(""))).expect_err("backrefs");
        assert_eq!(e.to_string(), "regexp is required with backrefs=true");
        let e = plan(json!({"regexp": "x"}), observed(Some(""))).expect_err("line");
        assert_eq!(e.to_string(), "line is required with state=present");
        let e = plan(json!({"state": "absent"}), observed(Some(""))).expect_err("absent");
        assert_eq!(
            e.to_string(),
            "one of line, search_string, or regexp is required with state=absent"
        );
        let mut dir = observed(None);
        dir.is_dir = true;
        let Err(ModuleError::Failed { msg, values }) = plan(json!({"line": "x"}), dir) else {
            panic!("directory")
        };
        assert_eq!(msg, "Path /f is a directory !");
        assert_eq!(values["rc"], 256);
        let Err(ModuleError::Failed { values, .. }) = plan(json!({"line": "x"}), observed(None)) else {
            panic!("missing")
        };
        assert_eq!(values["rc"], 257);
        let Ok(Planned::Done(o)) = plan(json!({"regexp": "", "line": "x", "state": "absent"}), observed(None))
        else {
            panic!("absent on a missing file")
        };
        assert_eq!(o.msg.as_deref(), Some("file not present"));
        assert_eq!(o.warnings.len(), 1);
        let p: LineinfileParams = from_args(
            &json!({"dest": "/x", "regex": "a", "value": "b", "unsafe_writes": true}),
            ArgMode::Run,
        )
        .expect("aliases");
        assert_eq!((p.path.as_str(), p.regexp.as_deref(), p.line.as_deref()), ("/x", Some("a"), Some("b")));
        let module = tend_module_api::lookup("ansible.builtin.lineinfile").expect("registered");
        assert!(module.check_args(&json!({"name": "/x", "line": "{{ l }}", "create": "{{ c }}"})).is_ok());
        assert!(module.check_args(&json!({"path": "/x", "follow": true})).is_err());
    }

    #[test]
    fn attributes_join_the_message_and_the_diff() {
        let args = json!({"line": "a", "mode": "0600"});
        let Ok(Planned::Change { preview, .. }) = plan_with(&params(&args), observed(Some("a\n")), true, false)
        else {
            panic!("mode change")
        };
        assert_eq!(preview.msg.as_deref(), Some("ownership, perms or SE linux context changed"));
        assert_eq!(preview.diffs.len(), 1);
        assert_eq!(preview.diffs[0].before, "{\n    \"mode\": \"0644\"\n}\n");
        assert_eq!(preview.diffs[0].after_header, "after: /f (file attributes)");
        let args = json!({"line": "b", "mode": "0600"});
        let Ok(Planned::Change { preview, .. }) = plan_with(&params(&args), observed(Some("a\n")), true, false)
        else {
            panic!("both")
        };
        assert_eq!(
            preview.msg.as_deref(),
            Some("line added and ownership, perms or SE linux context changed")
        );
        assert_eq!(preview.diffs[0].before_header, "before: /f (content)");
        // Check mode on a missing file: attributes are not looked at.
        let args = json!({"line": "b", "mode": "0600", "create": true});
        let Ok(Planned::Change { preview, .. }) = plan_with(&params(&args), observed(None), true, true)
        else {
            panic!("create")
        };
        assert_eq!(preview.msg.as_deref(), Some("line added"));
        // A real run on a missing file compares with the umask default.
        let Ok(Planned::Change { preview, .. }) = plan_with(&params(&args), observed(None), true, false)
        else {
            panic!("create")
        };
        assert_eq!(
            preview.msg.as_deref(),
            Some("line added and ownership, perms or SE linux context changed")
        );
        let args = json!({"line": "b", "mode": "0644", "create": true});
        let Ok(Planned::Change { preview, .. }) = plan_with(&params(&args), observed(None), true, false)
        else {
            panic!("create")
        };
        assert_eq!(preview.msg.as_deref(), Some("line added"));
    }

    #[test]
    fn validate_words() {
        assert_eq!(percent_word("%s"), "\"$tmp\"");
        assert_eq!(percent_word("-cf%s.x"), "-cf\"$tmp\".x");
        assert_eq!(percent_word("100%%"), "100%");
        assert_eq!(percent_word("a b"), "'a b'");
    }

    // Real runs through /bin/sh on this machine.

    async fn run(args: Value, check: bool) -> Result<Outcome, ModuleError> {
        let controller = FakeController::new("/nonexistent");
        run_module("lineinfile", args, &controller, check).await
    }

    #[tokio::test]
    async fn edits_files_atomically_with_check_mode_backup_and_validate() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("sub/app.conf");
        let p = f.to_string_lossy().to_string();

        let e = run(json!({"path": p, "line": "a=1"}), false).await.expect_err("missing");
        assert_eq!(e.to_string(), format!("Destination {p} does not exist !"));

        let args = json!({"path": p, "line": "a=1", "create": true, "mode": "0640"});
        let check = run(args.clone(), true).await.expect("check");
        assert!(check.changed);
        assert!(!f.exists() && !dir.path().join("sub").exists());
        let out = run(args.clone(), false).await.expect("create");
        assert!(out.changed);
        assert_eq!(
            out.msg.as_deref(),
            Some("line added and ownership, perms or SE linux context changed")
        );
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "a=1\n");
        let mode = std::fs::metadata(&f).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        assert!(!run(args, false).await.expect("again").changed);

        let args = json!({"path": p, "regexp": "^a=", "line": "a=2", "backup": true});
        let check = run(args.clone(), true).await.expect("check");
        assert_eq!(check.diffs[0].after, "a=2\n");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "a=1\n");
        let out = run(args, false).await.expect("replace");
        assert_eq!(out.msg.as_deref(), Some("line replaced"));
        let backup = out.values["backup"].as_str().expect("backup").to_string();
        assert_eq!(std::fs::read_to_string(&backup).expect("backup"), "a=1\n");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "a=2\n");
        let mode = std::fs::metadata(&f).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640, "the file keeps its mode");

        // validate: a failing command leaves the file alone; a passing one sees the new text.
        let bad = json!({"path": p, "line": "b=1", "validate": "grep -q nothing-like-this %s"});
        let e = run(bad, false).await.expect_err("validate fails");
        assert_eq!(e.to_string(), "failed to validate: rc:1 error:");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "a=2\n");
        let good = json!({"path": p, "line": "b=1", "validate": "grep -q '^b=1$' %s"});
        assert!(run(good, false).await.expect("validate passes").changed);
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "a=2\nb=1\n");
        let e = run(json!({"path": p, "line": "c", "validate": "true"}), false)
            .await
            .expect_err("no %s");
        assert_eq!(e.to_string(), "validate must contain %s: true");
        let leftovers = std::fs::read_dir(dir.path().join("sub"))
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tend."))
            .count();
        assert_eq!(leftovers, 0);

        // Through a symlink: the target changes, the link stays.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).expect("symlink");
        let out = run(
            json!({"path": link.to_string_lossy(), "regexp": "^b", "state": "absent"}),
            false,
        )
        .await
        .expect("absent");
        assert_eq!(out.msg.as_deref(), Some("1 line(s) removed"));
        assert_eq!(out.values["found"], 1);
        assert!(std::fs::symlink_metadata(&link).expect("lstat").file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "a=2\n");

        let e = run(json!({"path": dir.path().to_string_lossy(), "line": "x"}), false)
            .await
            .expect_err("dir");
        assert!(e.to_string().ends_with("is a directory !"), "{e}");
    }
}
