//! `blockinfile`: keep a block of lines, between marker lines, in a text file.
//!
//! ```yaml
//! - name: Let the admins in
//!   ansible.builtin.blockinfile:
//!     path: /etc/ssh/sshd_config
//!     insertafter: "^#?PermitRootLogin"
//!     block: |
//!       Match Group admins
//!         PasswordAuthentication no
//!     validate: /usr/sbin/sshd -t -f %s
//!     backup: yes
//!
//! - name: Hosts, with our own markers, at the top of the file
//!   ansible.builtin.blockinfile:
//!     path: /etc/hosts
//!     marker: "<!-- {mark} lab hosts -->"
//!     insertbefore: BOF
//!     create: yes
//!     mode: "0644"
//!     block: |
//!       10.0.0.1 h1
//!       10.0.0.2 h2
//!
//! - name: Remove it again
//!   ansible.builtin.blockinfile:
//!     path: /etc/hosts
//!     marker: "<!-- {mark} lab hosts -->"
//!     state: absent
//! ```
//!
//! Ansible's algorithm, line for line: the block is `marker` with `{mark}` replaced by
//! `marker_begin`, the block's lines, then the end marker. Where both marker lines are found
//! (the last of each), what lies between them is replaced; otherwise the block goes after the
//! last line matching `insertafter` (default `EOF`) or before the last line matching
//! `insertbefore` (`BOF`: at the top); no match means the end of the file. A pattern with
//! `(?m)` is searched in the whole file instead. An empty `block` or `state: absent` removes
//! the block. `prepend_newline`/`append_newline` keep a blank line around it. The file is read
//! once, the new text computed on the controller, and written atomically (through a symlink
//! to the real file), after `validate` (`%s` is the temporary file) accepted it.
//!
//! Returns `msg` (`Block inserted`, `Block removed`, `File created`, `""`, plus
//! ` and ownership, perms or SE linux context changed` when attributes changed),
//! `backup_file` after a backup, and the content and attribute diffs.
//!
//! Regular expressions are Python's (on bytes, as Ansible matches them) as far as the `regex`
//! crate goes: no lookaround or backreferences.

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::mode::{format_mode, ModeArg};
use tend_module_api::{
    quote, Context, Diff, FileKind, FileStat, Module, ModuleError, Outcome, Planned, WriteOptions,
};

use crate::attrs::{self, AttrChange, Entry, Ids, Wanted};
use crate::pyre;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockState {
    #[default]
    Present,
    Absent,
}

fn default_marker() -> String {
    "# {mark} ANSIBLE MANAGED BLOCK".into()
}

fn begin() -> String {
    "BEGIN".into()
}

fn end() -> String {
    "END".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockinfileParams {
    /// The file to edit.
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    pub path: String,
    /// `present` (default) or `absent`.
    #[serde(default)]
    pub state: BlockState,
    /// The marker line template; `{mark}` becomes `marker_begin` or `marker_end`.
    #[serde(default = "default_marker")]
    pub marker: String,
    /// The text between the markers; empty removes the block.
    #[serde(default, alias = "content")]
    pub block: String,
    /// A regex (the block goes after its last matching line) or `EOF`.
    pub insertafter: Option<String>,
    /// A regex (the block goes before its last matching line) or `BOF`.
    pub insertbefore: Option<String>,
    /// Create a missing file (and its directory).
    #[serde(default)]
    pub create: bool,
    /// Keep a timestamped copy of the file being changed.
    #[serde(default)]
    pub backup: bool,
    /// A command checking the new file before it is put in place; `%s` is its path.
    pub validate: Option<String>,
    /// Replaces `{mark}` in `marker` on the opening line.
    #[serde(default = "begin")]
    pub marker_begin: String,
    /// Replaces `{mark}` in `marker` on the closing line.
    #[serde(default = "end")]
    pub marker_end: String,
    /// A blank line after the block, unless one is there or the block ends the file.
    #[serde(default)]
    pub append_newline: bool,
    /// A blank line before the block, unless one is there or the block starts the file.
    #[serde(default)]
    pub prepend_newline: bool,
    /// Permissions of the file: octal (`"0644"`) or symbolic (`u=rw,g=r`).
    pub mode: Option<ModeArg>,
    /// User that should own the file (name or uid).
    pub owner: Option<String>,
    /// Group that should own the file (name or gid).
    pub group: Option<String>,
    /// Accepted; writes are always atomic.
    #[serde(default, rename = "unsafe_writes")]
    pub _unsafe_writes: bool,
}

impl BlockinfileParams {
    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            mode: self.mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }

    fn edit(&self) -> BlockEdit<'_> {
        BlockEdit {
            marker: &self.marker,
            marker_begin: &self.marker_begin,
            marker_end: &self.marker_end,
            block: &self.block,
            present: self.state == BlockState::Present,
            insertafter: self.insertafter.as_deref(),
            insertbefore: self.insertbefore.as_deref(),
            append_newline: self.append_newline,
            prepend_newline: self.prepend_newline,
        }
    }
}

/// The text side of a blockinfile task.
#[derive(Debug, Clone, Copy)]
pub struct BlockEdit<'a> {
    pub marker: &'a str,
    pub marker_begin: &'a str,
    pub marker_end: &'a str,
    pub block: &'a str,
    pub present: bool,
    pub insertafter: Option<&'a str>,
    pub insertbefore: Option<&'a str>,
    pub append_newline: bool,
    pub prepend_newline: bool,
}

/// Python's `bytes.splitlines(True)`: lines split after `\n`, `\r\n` or `\r`, ends kept.
fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        let end = match data[i] {
            b'\n' => i + 1,
            b'\r' if data.get(i + 1) == Some(&b'\n') => i + 2,
            b'\r' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        lines.push(data[start..end].to_vec());
        start = end;
        i = end;
    }
    if start < data.len() {
        lines.push(data[start..].to_vec());
    }
    lines
}

/// Does a line match? Python's `$` also matches before a final newline, which the `regex`
/// crate's does not: a line ending in `\n` is tried with and without it.
fn line_matches(re: &regex::bytes::Regex, line: &[u8]) -> bool {
    re.is_match(line) || line.strip_suffix(b"\n").is_some_and(|l| re.is_match(l))
}

/// The file's new content, as Ansible's blockinfile computes it from the old one (`None`: no
/// file). Also says whether the block has lines (`Block removed` otherwise).
pub fn edit_block(original: Option<&[u8]>, edit: &BlockEdit<'_>) -> Result<(Vec<u8>, bool), String> {
    let mut lines = original.map(split_lines).unwrap_or_default();
    let insertbefore = edit.insertbefore;
    let insertafter = match (edit.insertafter, insertbefore) {
        (None, None) => Some("EOF"),
        (after, _) => after,
    };
    let pattern = match (insertafter, insertbefore) {
        (Some(a), _) if a != "EOF" => Some(a),
        (None, Some(b)) if b != "BOF" => Some(b),
        _ => None,
    };
    let insertre = pattern
        .map(|p| {
            let multiline = pyre::has_inline_multiline(p);
            pyre::compile_bytes(p, multiline)
                .map(|re| (re, multiline))
                .map_err(|e| format!("invalid regular expression '{p}': {e}"))
        })
        .transpose()?;

    let marker0 = format!("{}\n", edit.marker.replace("{mark}", edit.marker_begin)).into_bytes();
    let marker1 = format!("{}\n", edit.marker.replace("{mark}", edit.marker_end)).into_bytes();
    let mut blocklines: Vec<Vec<u8>> = Vec::new();
    if edit.present && !edit.block.is_empty() {
        let mut block = edit.block.as_bytes().to_vec();
        if !block.ends_with(b"\n") {
            block.push(b'\n');
        }
        blocklines.push(marker0.clone());
        blocklines.extend(split_lines(&block));
        blocklines.push(marker1.clone());
    }

    let (mut n0, mut n1) = (None, None);
    for (i, line) in lines.iter().enumerate() {
        if *line == marker0 {
            n0 = Some(i);
        }
        if *line == marker1 {
            n1 = Some(i);
        }
    }
    let mut n0 = match (n0, n1) {
        (Some(a), Some(b)) if a < b => {
            lines.drain(a..=b);
            a
        }
        (Some(a), Some(b)) => {
            lines.drain(b..=a);
            b
        }
        _ => match &insertre {
            Some((re, multiline)) => {
                let mut found = None;
                if *multiline {
                    let data = original.unwrap_or_default();
                    if let Some(m) = re.find(data) {
                        let text = String::from_utf8_lossy(data);
                        // Ansible counts newlines in the decoded text up to the byte offset.
                        let at = if insertafter.is_some() {
                            m.end()
                        } else {
                            m.start()
                        };
                        found = Some(text.chars().take(at).filter(|&c| c == '\n').count());
                    }
                } else {
                    for (i, line) in lines.iter().enumerate() {
                        if line_matches(re, line) {
                            found = Some(i);
                        }
                    }
                }
                match found {
                    None => lines.len(),
                    Some(n) if insertafter.is_some() => n + 1,
                    Some(n) => n,
                }
            }
            None if insertbefore.is_some() => 0,
            None => lines.len(),
        },
    };

    if n0 > 0 {
        let previous = lines
            .get_mut(n0 - 1)
            .ok_or_else(|| "list index out of range".to_string())?;
        if !previous.ends_with(b"\n") {
            previous.push(b'\n');
        }
    }
    if edit.prepend_newline && edit.present && n0 != 0 && lines[n0 - 1] != b"\n" {
        lines.insert(n0, b"\n".to_vec());
        n0 += 1;
    }
    let at = n0.min(lines.len());
    let count = blocklines.len();
    let has_block = count > 0;
    lines.splice(at..at, blocklines);
    if edit.append_newline && edit.present {
        let after = n0 + count;
        if after < lines.len() && lines[after] != b"\n" {
            lines.insert(after, b"\n".to_vec());
        }
    }
    Ok((lines.concat(), has_block))
}

// ------------------------------------------------------- what blockinfile and replace share

/// A text file a module edits in place: what the query saw.
#[derive(Debug, Clone, Default)]
pub struct EditObserved {
    /// The path as given.
    pub path: String,
    /// Where it really is (symlinks resolved): what gets written.
    pub real: String,
    pub is_dir: bool,
    /// The file's bytes; `None` when there is no file.
    pub content: Option<Vec<u8>>,
    /// The real file's stat.
    pub entry: Option<Entry>,
    pub parent_exists: bool,
    pub umask: u32,
    pub ids: Ids,
    /// The uid and gid a new file gets.
    pub me: (u32, u32),
}

/// Reads the file to edit with one `sh` call: its type, real path, stat and content.
pub(crate) async fn query_edit(
    path: &str,
    wanted: &Wanted<'_>,
    ctx: &Context<'_>,
) -> Result<EditObserved, ModuleError> {
    let mut script = attrs::assign("p", path);
    script.push_str(
        "if [ -d \"$p\" ]; then echo isdir; fi; \
         r=$(readlink -f -- \"$p\" 2>/dev/null) || r=; [ -n \"$r\" ] || r=$p; ",
    );
    script.push_str(&attrs::show("real", "\"$r\""));
    script.push_str(&attrs::probe("f", "r"));
    script.push_str("if [ -d \"$(dirname -- \"$r\")\" ]; then echo parent.ok; fi; ");
    script.push_str(attrs::umask());
    script.push_str(&attrs::lookup_ids(wanted.owner, wanted.group));
    script.push_str("printf 'me.uid:%s\\nme.gid:%s\\n' \"$(id -u)\" \"$(id -g)\"; ");
    script.push_str(&format!(
        "if [ -f \"$r\" ]; then if [ -r \"$r\" ]; then echo {}; exec cat -- \"$r\"; \
         else echo unreadable; fi; fi; ",
        attrs::CONTENT_MARKER
    ));
    let report = attrs::run(ctx.host, &script).await?;
    let real = report.get("real").unwrap_or(path).to_string();
    if report.has("unreadable") {
        return Err(ModuleError::failed(format!(
            "Unable to read the contents of '{real}': permission denied"
        )));
    }
    let probe = report.probe("f")?;
    let entry = probe.entry.filter(|e| !e.is_link());
    let id = |key: &str| {
        report
            .get(key)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let me = (id("me.uid"), id("me.gid"));
    let ids = Ids::from_report(wanted.owner, wanted.group, &report);
    let (parent_exists, umask, is_dir) = (report.has("parent.ok"), report.umask(), report.has("isdir"));
    Ok(EditObserved {
        path: path.to_string(),
        real,
        is_dir,
        content: match &entry {
            Some(e) if e.stat.kind == FileKind::File => Some(report.content.unwrap_or_default()),
            _ => None,
        },
        entry,
        parent_exists,
        umask,
        ids,
        me,
    })
}

/// What a file edit must do to attributes: against the file, or against what a new file
/// would be (`0666` less the umask, owned by the connecting user).
pub(crate) fn attr_change(
    observed: &EditObserved,
    wanted: &Wanted<'_>,
) -> Result<AttrChange, ModuleError> {
    let fresh;
    let current = match &observed.entry {
        Some(entry) => &entry.stat,
        None => {
            fresh = FileStat {
                kind: FileKind::File,
                mode: 0o666 & !observed.umask,
                uid: observed.me.0,
                gid: observed.me.1,
                owner: String::new(),
                group: String::new(),
                size: 0,
                mtime: 0,
                link_target: None,
            };
            &fresh
        }
    };
    attrs::changes(current, wanted, &observed.ids, observed.umask)
}

/// Ansible's attribute diff: the old and new mode, owner and group that change.
pub(crate) fn attr_diff(header: &str, current: Option<&FileStat>, change: &AttrChange) -> Diff {
    let mut before = Vec::new();
    let mut after = Vec::new();
    let fields = [
        ("mode", current.map(|c| format_mode(c.mode)), change.mode.map(format_mode)),
        ("owner", current.map(|c| c.uid.to_string()), change.uid.map(|u| u.to_string())),
        ("group", current.map(|c| c.gid.to_string()), change.gid.map(|g| g.to_string())),
    ];
    for (key, old, new) in fields {
        let Some(new) = new else { continue };
        if let Some(old) = old {
            before.push((key, old));
        }
        after.push((key, new));
    }
    let mut diff = Diff::attributes(&before, &after);
    diff.before_header = format!("before: {header}");
    diff.after_header = format!("after: {header}");
    diff
}

/// Ansible's `check_file_attrs`: the message once attributes changed too.
pub(crate) fn with_attrs_msg(msg: &str, content_changed: bool) -> String {
    let joiner = if content_changed { " and " } else { "" };
    format!("{msg}{joiner}ownership, perms or SE linux context changed")
}

/// How to bring an edited file in line.
#[derive(Debug)]
pub enum EditAction {
    /// Write new content (after a mkdir and a backup), validated first if asked.
    Write {
        path: String,
        real: String,
        content: Vec<u8>,
        mkdir: bool,
        backup: bool,
        validate: Option<String>,
        change: AttrChange,
        outcome: Outcome,
    },
    /// Only attributes: one script.
    Attrs { script: String, outcome: Outcome },
}

/// The action for an edit whose content and/or attributes differ.
pub(crate) fn edit_action(
    observed: &EditObserved,
    content: Option<Vec<u8>>,
    backup: bool,
    validate: Option<&str>,
    change: AttrChange,
    outcome: Outcome,
) -> EditAction {
    match content {
        Some(content) => EditAction::Write {
            path: observed.path.clone(),
            real: observed.real.clone(),
            content,
            mkdir: observed.entry.is_none() && !observed.parent_exists,
            backup: backup && observed.entry.is_some(),
            validate: validate.map(str::to_string),
            change,
            outcome,
        },
        None => EditAction::Attrs {
            script: format!(
                "set -e; r={}; {}",
                quote(&observed.real),
                attrs::apply_script("\"$r\"", &change, false)
            ),
            outcome,
        },
    }
}

/// Carries out an edit: mkdir and backup, then the atomic write (through `validate`).
pub(crate) async fn apply_edit(action: EditAction, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let (path, real, content, mkdir, backup, validate, change, mut outcome) = match action {
        EditAction::Attrs { script, outcome } => {
            attrs::run(ctx.host, &script).await?;
            return Ok(outcome);
        }
        EditAction::Write {
            path,
            real,
            content,
            mkdir,
            backup,
            validate,
            change,
            outcome,
        } => (path, real, content, mkdir, backup, validate, change, outcome),
    };
    if let Some(validate) = &validate {
        if !validate.contains("%s") {
            return Err(ModuleError::failed(format!(
                "validate must contain %s: {validate}"
            )));
        }
    }
    if mkdir || backup {
        let mut script = format!("set -e; {}r={}; ", attrs::assign("p", &path), quote(&real));
        if mkdir {
            script.push_str("mkdir -p -- \"$(dirname -- \"$r\")\"; ");
        }
        if backup {
            script.push_str(
                "b=\"$p.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$p\" \"$b\"; printf 'backup:%s\\n' \"$b\"; ",
            );
        }
        let report = attrs::run(ctx.host, &script).await?;
        if let Some(backup) = report.get("backup") {
            outcome.values.insert("backup_file".into(), backup.into());
        }
    }
    let options = WriteOptions {
        mode: change.mode.map(format_mode),
        owner: change.uid.map(|u| u.to_string()),
        group: change.gid.map(|g| g.to_string()),
        validate: None,
    };
    match validate {
        None => ctx.host.write_file_atomic(&real, &content, &options).await?,
        Some(validate) => write_validated(&real, &content, &options, &validate, ctx).await?,
    }
    Ok(outcome)
}

/// The atomic write with a check in between: the temporary file (in the destination
/// directory) is given to `validate` as `%s`, and only renamed over the file if it exits 0.
async fn write_validated(
    dest: &str,
    content: &[u8],
    options: &WriteOptions,
    validate: &str,
    ctx: &Context<'_>,
) -> Result<(), ModuleError> {
    let command = validate.replace("%%", "\u{0}").replace("%s", "\"$tmp\"").replace('\u{0}', "%");
    let mut script = format!(
        "set -e; dest={}; dir=$(dirname -- \"$dest\"); \
         tmp=$(mktemp \"$dir/.tend.XXXXXXXX\"); trap 'rm -f -- \"$tmp\"' EXIT INT TERM HUP; \
         cat > \"$tmp\"; {complete}set +e; err=$( {{ {command}\n}} 2>&1 >/dev/null ); rc=$?; set -e; \
         if [ \"$rc\" -ne 0 ]; then printf 'validate.rc:%s\\n' \"$rc\"; echo {}; \
         printf '%s' \"$err\"; exit 0; fi; \
         if [ -e \"$dest\" ]; then chmod --reference=\"$dest\" \"$tmp\" 2>/dev/null || true; \
         chown --reference=\"$dest\" \"$tmp\" 2>/dev/null || true; \
         else chmod \"$(printf '%o' $((0666 & ~$(umask))))\" \"$tmp\"; fi; ",
        quote(dest),
        attrs::CONTENT_MARKER,
        complete = tend_module_api::require_size("tmp", content.len()),
    );
    if let Some(mode) = &options.mode {
        script.push_str(&format!("chmod {} \"$tmp\"; ", quote(mode)));
    }
    if let Some(owner) = &options.owner {
        script.push_str(&format!("chown {} \"$tmp\"; ", quote(owner)));
    }
    if let Some(group) = &options.group {
        script.push_str(&format!("chgrp {} \"$tmp\"; ", quote(group)));
    }
    script.push_str("mv -f -- \"$tmp\" \"$dest\"; trap - EXIT INT TERM HUP");
    let out = ctx.host.sh_with_stdin(&script, content).await?;
    if !out.success() {
        return Err(ModuleError::failed(out.stderr_lossy().trim().to_string()));
    }
    let report = attrs::Report::parse(&out.stdout);
    if let Some(rc) = report.get("validate.rc") {
        let err = String::from_utf8_lossy(report.content.as_deref().unwrap_or_default());
        return Err(ModuleError::failed(format!(
            "failed to validate: rc:{rc} error:{err}"
        )));
    }
    Ok(())
}

/// Ansible's refusals of a path that is a directory or missing (`rc` 256 and 257).
pub(crate) fn path_error(path: &str, rc: i64, what: &str) -> ModuleError {
    let mut values = serde_json::Map::new();
    values.insert("rc".into(), rc.into());
    ModuleError::Failed {
        msg: format!("Path {path} {what} !"),
        values,
    }
}

pub struct BlockinfileModule;

#[async_trait]
impl Module for BlockinfileModule {
    type Params = BlockinfileParams;
    type Observed = EditObserved;
    type Action = EditAction;

    const NAME: &'static str = "blockinfile";

    async fn query(
        &self,
        params: &BlockinfileParams,
        ctx: &Context<'_>,
    ) -> Result<EditObserved, ModuleError> {
        if params.insertafter.is_some() && params.insertbefore.is_some() {
            return Err(ModuleError::failed(
                "parameters are mutually exclusive: insertbefore|insertafter",
            ));
        }
        query_edit(&params.path, &params.wanted(), ctx).await
    }

    fn plan(
        &self,
        params: &BlockinfileParams,
        observed: EditObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<EditAction>, ModuleError> {
        plan_block(params, observed, ctx.diff, ctx.check_mode)
    }

    async fn apply(
        &self,
        _params: &BlockinfileParams,
        action: EditAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        apply_edit(action, ctx).await
    }
}

tend_module_api::register_module!(BlockinfileModule);

fn plan_block(
    params: &BlockinfileParams,
    observed: EditObserved,
    want_diff: bool,
    check_mode: bool,
) -> Result<Planned<EditAction>, ModuleError> {
    let path = params.path.as_str();
    if observed.is_dir {
        return Err(path_error(path, 256, "is a directory"));
    }
    let exists = observed.content.is_some();
    if !exists && !params.create {
        return Err(path_error(path, 257, "does not exist"));
    }
    if !exists && params.state == BlockState::Absent {
        return Ok(Planned::Done(
            Outcome::ok().with_msg(format!("File {path} not present")),
        ));
    }
    let original = observed.content.as_deref();
    let (result, has_block) =
        edit_block(original, &params.edit()).map_err(ModuleError::failed)?;
    let content_changed = original != Some(result.as_slice());
    let mut msg = match (content_changed, exists, has_block) {
        (false, _, _) => "",
        (true, false, _) => "File created",
        (true, true, false) => "Block removed",
        (true, true, true) => "Block inserted",
    }
    .to_string();
    let mut diffs = Vec::new();
    if want_diff && content_changed {
        diffs.push(Diff {
            before_header: format!("before: {path} (content)"),
            after_header: format!("after: {path} (content)"),
            before: String::from_utf8_lossy(original.unwrap_or_default()).into_owned(),
            after: String::from_utf8_lossy(&result).into_owned(),
        });
    }
    // Check mode on a missing file stops before attributes, as Ansible's module does.
    let change = if check_mode && !exists {
        AttrChange::default()
    } else {
        attr_change(&observed, &params.wanted())?
    };
    let attrs_changed = !change.is_empty();
    if attrs_changed {
        msg = with_attrs_msg(&msg, content_changed);
        if want_diff && exists {
            diffs.push(attr_diff(
                &format!("{path} (file attributes)"),
                observed.entry.as_ref().map(|e| &e.stat),
                &change,
            ));
        }
    }
    let mut outcome = Outcome::ok().with_msg(msg);
    if !content_changed && !attrs_changed {
        return Ok(Planned::Done(outcome));
    }
    outcome.changed = true;
    outcome.diffs = diffs;
    let action = edit_action(
        &observed,
        content_changed.then_some(result),
        params.backup,
        params.validate.as_deref(),
        change,
        outcome.clone(),
    );
    Ok(Planned::Change {
        action,
        preview: outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::tests::entry;
    use crate::testing::{run_module, FakeController};
    use serde_json::{json, Value};
    use std::os::unix::fs::PermissionsExt;
    use tend_module_api::args::{from_args, ArgMode};

    /// `(file before, arguments, file after, msg)`, generated by running Ansible 2.19's
    /// blockinfile module in check mode with diffs on a file holding the first column.
    const CASES: &[(Option<&str>, &str, &str, &str)] = &[
    (Some("a\nb\n"), r###"{"block": "x\ny"}"###, "a\nb\n# BEGIN ANSIBLE MANAGED BLOCK\nx\ny\n# END ANSIBLE MANAGED BLOCK\n", "Block inserted"),
    (Some("a\nb"), r###"{"block": "x\ny\n"}"###, "a\nb\n# BEGIN ANSIBLE MANAGED BLOCK\nx\ny\n# END ANSIBLE MANAGED BLOCK\n", "Block inserted"),
    (Some("a\n# BEGIN ANSIBLE MANAGED BLOCK\nold\n# END ANSIBLE MANAGED BLOCK\nb\n"), r###"{"block": "new\nlines"}"###, "a\n# BEGIN ANSIBLE MANAGED BLOCK\nnew\nlines\n# END ANSIBLE MANAGED BLOCK\nb\n", "Block inserted"),
    (Some("a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nb\n"), r###"{"block": "x"}"###, "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nb\n", ""),
    (Some("<html>\n</html>\n"), r###"{"block": "<p>hi</p>", "marker": "<!-- {mark} web -->", "insertafter": "<html>"}"###, "<html>\n<!-- BEGIN web -->\n<p>hi</p>\n<!-- END web -->\n</html>\n", "Block inserted"),
    (Some("a\nb\n"), r###"{"block": "x", "marker": "## {mark} ##", "marker_begin": "start", "marker_end": "stop"}"###, "a\nb\n## start ##\nx\n## stop ##\n", "Block inserted"),
    (Some("a\nb\n"), r###"{"block": "x", "insertbefore": "BOF"}"###, "# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\na\nb\n", "Block inserted"),
    (Some("a\nb\nc\n"), r###"{"block": "x", "insertbefore": "^b$"}"###, "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nb\nc\n", "Block inserted"),
    (Some("k=1\nk=2\nz\n"), r###"{"block": "x", "insertafter": "^k="}"###, "k=1\nk=2\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nz\n", "Block inserted"),
    (Some("a\nb\n"), r###"{"block": "x", "insertafter": "nomatch"}"###, "a\nb\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n", "Block inserted"),
    (Some("a\nb\n"), r###"{"block": "x", "insertbefore": "nomatch"}"###, "a\nb\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n", "Block inserted"),
    (Some("a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nb\n"), r###"{"state": "absent"}"###, "a\nb\n", "Block removed"),
    (Some("a\nb"), r###"{"state": "absent"}"###, "a\nb\n", "Block removed"),
    (Some("a\nb\n"), r###"{"state": "absent"}"###, "a\nb\n", ""),
    (Some("a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n"), r###"{"block": ""}"###, "a\n", "Block removed"),
    (Some("a\nb\n"), r###"{"block": "x", "insertafter": "^a$", "prepend_newline": true, "append_newline": true}"###, "a\n\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n\nb\n", "Block inserted"),
    (Some("a\n\nb\n"), r###"{"block": "x", "insertafter": "^a$", "prepend_newline": true, "append_newline": true}"###, "a\n\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n\nb\n", "Block inserted"),
    (Some("a\nb\n"), r###"{"block": "x", "insertbefore": "BOF", "prepend_newline": true, "append_newline": true}"###, "# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n\na\nb\n", "Block inserted"),
    (Some("a\nb\n"), r###"{"block": "x", "prepend_newline": true, "append_newline": true}"###, "a\nb\n\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n", "Block inserted"),
    (Some("one\ntwo\nthree\n"), r###"{"block": "x", "insertafter": "(?m)^one\\ntwo$"}"###, "one\ntwo\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nthree\n", "Block inserted"),
    (Some("one\ntwo\nthree\n"), r###"{"block": "x", "insertbefore": "(?m)^two\\nthree"}"###, "one\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\ntwo\nthree\n", "Block inserted"),
    (Some("a\n# END ANSIBLE MANAGED BLOCK\nold\n# BEGIN ANSIBLE MANAGED BLOCK\nb\n"), r###"{"block": "x"}"###, "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nb\n", "Block inserted"),
    (None, r###"{"block": "x", "create": true}"###, "# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n", "File created"),
    (None, r###"{"block": "", "create": true}"###, "", "File created"),
    (Some("a\r\nb\r\n"), r###"{"block": "x"}"###, "a\r\nb\r\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n", "Block inserted"),
    (Some("a\r\n# BEGIN ANSIBLE MANAGED BLOCK\r\nx\r\n# END ANSIBLE MANAGED BLOCK\r\n"), r###"{"block": "x"}"###, "a\r\n# BEGIN ANSIBLE MANAGED BLOCK\r\nx\r\n# END ANSIBLE MANAGED BLOCK\r\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n", "Block inserted"),
    (Some(""), r###"{"block": "x"}"###, "# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n", "Block inserted"),
    (Some("a\nb\n"), r###"{"block": "x", "insertafter": "EOF"}"###, "a\nb\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n", "Block inserted"),
    (Some("server {\n  listen 80;\n}\n"), r###"{"block": "  gzip on;", "insertafter": "listen \\d+;$"}"###, "server {\n  listen 80;\n# BEGIN ANSIBLE MANAGED BLOCK\n  gzip on;\n# END ANSIBLE MANAGED BLOCK\n}\n", "Block inserted"),
    (Some("café\nb\n"), r###"{"block": "thé", "insertafter": "^caf.$"}"###, "café\nb\n# BEGIN ANSIBLE MANAGED BLOCK\nthé\n# END ANSIBLE MANAGED BLOCK\n", "Block inserted"),
    (Some("a\nb\n"), r###"{"block": "x", "marker": "# {mark} {mark}"}"###, "a\nb\n# BEGIN BEGIN\nx\n# END END\n", "Block inserted"),
    ];

    fn observed(original: Option<&str>) -> EditObserved {
        EditObserved {
            path: "/f".into(),
            real: "/f".into(),
            content: original.map(|o| o.as_bytes().to_vec()),
            entry: original.map(|_| entry(FileKind::File, 0o644)),
            parent_exists: true,
            umask: 0o022,
            ..EditObserved::default()
        }
    }

    #[test]
    fn edits_match_ansible() {
        for (original, args, after, msg) in CASES {
            let mut args: Value = serde_json::from_str(args).expect("json");
            args["path"] = "/f".into();
            let params: BlockinfileParams = from_args(&args, ArgMode::Run).expect("params");
            let planned = plan_block(&params, observed(*original), true, true).expect("plan");
            match planned {
                Planned::Done(outcome) => {
                    assert_eq!(Some(*after), *original, "{args}: unchanged");
                    assert_eq!(outcome.msg.as_deref(), Some(*msg), "{args}");
                    assert!(!outcome.changed);
                }
                Planned::Change { preview, action } => {
                    assert_eq!(preview.msg.as_deref(), Some(*msg), "{args}");
                    assert_eq!(preview.diffs[0].after, *after, "{args} on {original:?}");
                    assert_eq!(preview.diffs[0].before, original.unwrap_or_default());
                    assert_eq!(preview.diffs[0].before_header, "before: /f (content)");
                    let EditAction::Write { content, .. } = action else {
                        panic!("expected a write")
                    };
                    assert_eq!(content, after.as_bytes());
                }
            }
        }
    }

    #[test]
    fn refusals_and_attribute_messages() {
        let p = |args: Value| -> BlockinfileParams { from_args(&args, ArgMode::Run).expect("params") };
        let mut dir = observed(None);
        dir.is_dir = true;
        let e = plan_block(&p(json!({"path": "/f"})), dir, false, false).expect_err("dir");
        assert_eq!(e.to_string(), "Path /f is a directory !");
        let e = plan_block(&p(json!({"path": "/f", "block": "x"})), observed(None), false, false)
            .expect_err("missing");
        assert_eq!(e.to_string(), "Path /f does not exist !");
        let Planned::Done(o) =
            plan_block(&p(json!({"path": "/f", "state": "absent", "create": true})), observed(None), false, false)
                .expect("absent")
        else {
            panic!("expected ok")
        };
        assert_eq!(o.msg.as_deref(), Some("File /f not present"));

        let text = "# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n";
        let args = json!({"path": "/f", "block": "x", "mode": "0600"});
        let Planned::Change { preview, .. } =
            plan_block(&p(args.clone()), observed(Some(text)), true, false).expect("plan")
        else {
            panic!("expected a change")
        };
        assert_eq!(preview.msg.as_deref(), Some("ownership, perms or SE linux context changed"));
        assert_eq!(preview.diffs[0].before, "mode: 0644\n");
        assert_eq!(preview.diffs[0].after_header, "after: /f (file attributes)");
        let Planned::Change { preview, .. } =
            plan_block(&p(args.clone()), observed(Some("")), true, false).expect("plan")
        else {
            panic!("expected a change")
        };
        assert_eq!(
            preview.msg.as_deref(),
            Some("Block inserted and ownership, perms or SE linux context changed")
        );
        // A new file: attributes against 0666 less the umask, and not at all in check mode.
        let create = json!({"path": "/f", "block": "x", "mode": "0644", "create": true});
        for check in [false, true] {
            let Planned::Change { preview, .. } =
                plan_block(&p(create.clone()), observed(None), true, check).expect("plan")
            else {
                panic!("expected a change")
            };
            assert_eq!(preview.msg.as_deref(), Some("File created"));
        }
        let create = json!({"path": "/f", "block": "x", "mode": "0600", "create": true});
        let Planned::Change { preview, .. } =
            plan_block(&p(create), observed(None), true, false).expect("plan")
        else {
            panic!("expected a change")
        };
        assert_eq!(
            preview.msg.as_deref(),
            Some("File created and ownership, perms or SE linux context changed")
        );
        let module = tend_module_api::lookup("ansible.builtin.blockinfile").expect("registered");
        module
            .check_args(&json!({"dest": "{{ d }}", "content": "{{ c }}", "create": "{{ b }}", "unsafe_writes": true}))
            .expect("aliases and templates");
        assert!(module.check_args(&json!({"path": "/f", "regexp": "x"})).is_err());
    }

    // Real runs through /bin/sh on this machine.

    #[tokio::test]
    async fn inserts_updates_and_removes_on_a_real_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let controller = FakeController::new(dir.path());
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let file = dir.path().join("sub/hosts");
        let f = file.to_string_lossy().to_string();
        let run = |args: Value, check: bool| run_module("blockinfile", args, &controller, check);

        let e = run(json!({"path": f, "block": "x"}), false).await.expect_err("missing");
        assert_eq!(e.to_string(), format!("Path {f} does not exist !"));

        let create = json!({"path": f, "block": "10.0.0.1 h1", "create": true, "mode": "0640"});
        let check = run(create.clone(), true).await.expect("check");
        assert!(check.changed);
        assert_eq!(check.msg.as_deref(), Some("File created"));
        assert!(!file.exists(), "check mode wrote");
        let out = run(create.clone(), false).await.expect("create");
        assert_eq!(
            out.msg.as_deref(),
            Some("File created and ownership, perms or SE linux context changed")
        );
        let block = "# BEGIN ANSIBLE MANAGED BLOCK\n10.0.0.1 h1\n# END ANSIBLE MANAGED BLOCK\n";
        assert_eq!(std::fs::read_to_string(&file).expect("read"), block);
        assert_eq!(
            std::fs::metadata(&file).expect("stat").permissions().mode() & 0o7777,
            0o640
        );
        let again = run(create, false).await.expect("again");
        assert!(!again.changed, "{again:?}");
        assert_eq!(again.msg.as_deref(), Some(""));

        // Update in place, with a backup, through a symlink.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        let update = json!({"path": link.to_string_lossy(), "block": "10.0.0.2 h2", "backup": true, "insertbefore": "BOF"});
        let out = run(update, false).await.expect("update");
        assert_eq!(out.msg.as_deref(), Some("Block inserted"));
        assert_eq!(out.diffs[0].before, block);
        let backup = out.values["backup_file"].as_str().expect("backup_file");
        assert_eq!(std::fs::read_to_string(backup).expect("backup"), block);
        assert!(std::fs::symlink_metadata(&link).expect("lstat").file_type().is_symlink());
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            "# BEGIN ANSIBLE MANAGED BLOCK\n10.0.0.2 h2\n# END ANSIBLE MANAGED BLOCK\n"
        );

        // validate sees the new text in a temporary file; a failure leaves the file alone.
        let bad = json!({"path": f, "block": "bad", "validate": "grep -q good %s"});
        let e = run(bad, false).await.expect_err("invalid");
        assert_eq!(e.to_string(), "failed to validate: rc:1 error:");
        assert!(std::fs::read_to_string(&file).expect("read").contains("h2"));
        let e = run(json!({"path": f, "block": "bad", "validate": "true"}), false)
            .await
            .expect_err("no %s");
        assert_eq!(e.to_string(), "validate must contain %s: true");
        let good = json!({"path": f, "block": "good", "validate": "grep -q good %s"});
        assert!(run(good, false).await.expect("valid").changed);
        let leftovers = std::fs::read_dir(dir.path().join("sub"))
            .expect("ls")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tend."))
            .count();
        assert_eq!(leftovers, 0);

        let absent = json!({"path": f, "state": "absent"});
        let out = run(absent.clone(), false).await.expect("absent");
        assert_eq!(out.msg.as_deref(), Some("Block removed"));
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "");
        assert!(!run(absent, false).await.expect("again").changed);
        let e = run(json!({"path": dir.path().to_string_lossy(), "block": "x"}), false)
            .await
            .expect_err("dir");
        assert!(e.to_string().ends_with("is a directory !"), "{e}");
    }
}
