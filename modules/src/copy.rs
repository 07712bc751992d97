//! `copy`: put a controller file, or given text, at a path on the host.
//!
//! ```yaml
//! - name: Install the MOTD
//!   ansible.builtin.copy:
//!     src: motd            # found in the role's or playbook's files/
//!     dest: /etc/motd
//!     owner: root
//!     group: root
//!     mode: "0644"
//!     backup: yes
//!
//! - name: Write a small file inline
//!   ansible.builtin.copy:
//!     content: "net.ipv4.ip_forward = 1\n"
//!     dest: /etc/sysctl.d/90-forward.conf
//!
//! - name: Into an existing directory (the file keeps src's name)
//!   ansible.builtin.copy:
//!     src: app.conf
//!     dest: /etc/app/
//! ```
//!
//! Idempotent by content: the host's file is compared by SHA-1 with the wanted bytes, and only
//! a difference is uploaded, atomically (temporary file in the destination directory, then a
//! rename). Mode, owner and group are compared separately, so a change to them alone is a change
//! too. `dest` ending in `/` (missing directories are created) or naming an existing directory
//! receives the file under `src`'s name. `force: no` leaves an existing file alone; `backup`
//! first copies the old file to `dest.PID.YYYY-MM-DD@HH:MM:SS~`; `mode: preserve` takes `src`'s
//! mode. A mapping or list given as `content` is written as JSON. A vault-encrypted `src` (a
//! whole file, or each file of a directory) is decrypted on the controller with the `--vault-*`
//! passwords, as Ansible's `decrypt: yes` default does, and so is `content` that is vault text
//! (Ansible reads `content` back through its loader); `decrypt: no` copies either as it is.
//!
//! Returns `dest`, `checksum` (SHA-1), `src` when given, `backup_file` after a backup, and
//! `state`, `mode`, `owner`, `group`, `uid`, `gid`, `size` of the destination (plus `path`
//! when only attributes were checked, as Ansible's file module adds it). The diff shows the
//! content (from empty for a new file; binary or larger than 104448 bytes: a note instead),
//! and changed attributes.
//!
//! A directory as `src` is copied recursively, as Ansible does: `src: site/` copies what is in
//! `site`, `src: site` the directory itself; `local_follow` (default yes) copies what symlinks
//! point to; `directory_mode` sets the mode of the directories (the umask's default without
//! it); `mode`, `owner` and `group` apply to every file. The result then has `dest` and `src`
//! (or, for a tree of one file, that file's values); the diff shows every changed file.
//!
//! With `remote_src: yes`, `src` is a file on the host (read, then written like `content`);
//! a directory there is not supported yet. `validate` runs on the host against the temporary
//! file before it replaces the destination.

use std::path::Path;

use async_trait::async_trait;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use sha1::{Digest, Sha1};
use tend_module_api::mode::{format_mode, ModeArg};
use tend_module_api::{
    quote, Context, Diff, FileKind, Module, ModuleError, Outcome, Planned, SearchKind, WriteOptions,
};

use crate::attrs::{self, AttrChange, AttrDiff, Entry, Ids, Probe, Wanted};
use crate::copy_tree::{self, TreeAction, TreeObserved};

/// Ansible's `max_diff_size`: larger files are not diffed.
pub(crate) const MAX_DIFF_SIZE: usize = 104_448;

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyParams {
    /// Where the file goes; a directory (existing, or ending in `/`) receives `src`'s name.
    pub dest: String,
    /// A controller file, relative to `files/` unless absolute.
    pub src: Option<String>,
    /// The file's text, instead of `src`.
    pub content: Option<Content>,
    /// Octal, symbolic, or `preserve` (src's mode).
    pub mode: Option<ModeArg>,
    /// User that should own the file (name or uid).
    pub owner: Option<String>,
    /// Group that should own the file (name or gid).
    pub group: Option<String>,
    /// Replace a file whose content differs; `no` only creates missing files.
    #[serde(default = "yes", alias = "thirsty")]
    pub force: bool,
    /// Keep a timestamped copy of the file being replaced.
    #[serde(default)]
    pub backup: bool,
    /// Follow a symlink at `dest` instead of replacing it.
    #[serde(default)]
    pub follow: bool,
    /// Expected SHA-1 of the data, checked before anything is written.
    pub checksum: Option<String>,
    /// `src` is a file on the host, not on the controller.
    #[serde(default)]
    pub remote_src: bool,
    /// A command (with `%s` for the new file) that must accept it before it is put in place.
    pub validate: Option<String>,
    /// For a directory `src`: the mode of the directories the copy makes (and of the source's
    /// directories, made or not); otherwise the umask's default.
    pub directory_mode: Option<ModeArg>,
    /// For a directory `src`: copy what symlinks inside it point to, not the links.
    #[serde(default = "yes")]
    pub local_follow: bool,
    /// Decrypt a vault-encrypted `src` on the controller (with the `--vault-*` passwords)
    /// before copying it; `no` copies the vaulted file as it is.
    #[serde(default = "yes")]
    pub decrypt: bool,
}

/// `content`: text as given; a mapping or list (a templated variable) becomes JSON, and a
/// boolean Python's `True`/`False`, as Ansible's copy action writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content(pub String);

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Content(match Value::deserialize(deserializer)? {
            Value::String(s) => s,
            Value::Bool(b) => (if b { "True" } else { "False" }).to_string(),
            Value::Number(n) => n.to_string(),
            Value::Null => String::new(),
            other => python_json(&other).map_err(D::Error::custom)?,
        }))
    }
}

/// `json.dumps` layout (`{"a": 1, "b": [1, 2]}`), so files match what Ansible writes.
pub(crate) fn python_json(value: &Value) -> Result<String, serde_json::Error> {
    use serde::Serialize;
    struct PythonStyle;
    impl serde_json::ser::Formatter for PythonStyle {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                w.write_all(b", ")
            }
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                w.write_all(b", ")
            }
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
        ) -> std::io::Result<()> {
            w.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out,
        PythonStyle,
    ))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

pub struct CopyModule;

impl CopyParams {
    fn spec(&self) -> ContentFile<'_> {
        ContentFile {
            dest: &self.dest,
            wanted: Wanted {
                mode: self.mode.as_ref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
            },
            force: self.force,
            backup: self.backup,
            follow: self.follow,
            basename: self
                .src
                .as_deref()
                .and_then(|s| Path::new(s).file_name())
                .map(|n| n.to_string_lossy().into_owned()),
            src: self.src.as_deref(),
            validate: self.validate.as_deref(),
        }
    }
}

/// What `copy` observed: one file, or a directory tree.
#[derive(Debug)]
pub enum CopyObserved {
    File(Box<ContentObserved>),
    Tree(TreeObserved),
}

#[derive(Debug)]
pub enum CopyAction {
    File(ContentAction),
    Tree(TreeAction),
}

#[async_trait]
impl Module for CopyModule {
    type Params = CopyParams;
    type Observed = CopyObserved;
    type Action = CopyAction;

    const NAME: &'static str = "copy";

    async fn query(
        &self,
        params: &CopyParams,
        ctx: &Context<'_>,
    ) -> Result<CopyObserved, ModuleError> {
        check_validate(params.validate.as_deref())?;
        copy_tree::check_directory_mode(params.directory_mode.as_ref())?;
        if let (Some(src), None, false) = (&params.src, &params.content, params.remote_src) {
            let path = ctx.controller.find_file(SearchKind::Files, src)?;
            if path.is_dir() {
                let tree = copy_tree::query(params, &path, src.ends_with('/'), ctx).await?;
                return Ok(CopyObserved::Tree(tree));
            }
        }
        let (content, src_mode) = match (&params.src, &params.content) {
            (Some(_), Some(_)) => {
                return Err(ModuleError::failed(
                    "src and content are mutually exclusive",
                ))
            }
            (None, None) => return Err(ModuleError::failed("src (or content) is required")),
            (None, Some(content)) => {
                if params.dest.ends_with('/') {
                    return Err(ModuleError::failed(
                        "can not use content with a dir as dest",
                    ));
                }
                let bytes = content.0.clone().into_bytes();
                // Ansible writes `content` to a file and reads it back through its loader, so
                // content that is vault text is decrypted too (unless `decrypt: no`).
                let bytes = if params.decrypt {
                    tend_vault::decrypt_if_vaulted(bytes).map_err(|e| {
                        ModuleError::failed(format!("could not decrypt content: {e}"))
                    })?
                } else {
                    bytes
                };
                (bytes, None)
            }
            // `remote_src`: the source is a file on the host itself.
            (Some(src), None) if params.remote_src => {
                let Some(stat) = ctx.host.stat(src, true).await? else {
                    return Err(ModuleError::failed(format!("Source {src} not found")));
                };
                if stat.kind == FileKind::Directory {
                    return Err(ModuleError::failed(format!(
                        "copying a directory (src: {src}) with remote_src is not supported yet"
                    )));
                }
                let content = ctx.host.read_file(src).await?.ok_or_else(|| {
                    ModuleError::failed(format!("Source {src} not readable"))
                })?;
                (content, Some(stat.mode))
            }
            (Some(src), None) => read_local(
                &ctx.controller.find_file(SearchKind::Files, src)?,
                params.decrypt,
            )?,
        };
        if params.mode == Some(ModeArg::Preserve) && src_mode.is_none() {
            return Err(ModuleError::failed(
                "mode=preserve needs src (there is no file to take the mode from)",
            ));
        }
        query_content(&params.spec(), content, src_mode, ctx)
            .await
            .map(|file| CopyObserved::File(Box::new(file)))
    }

    fn plan(
        &self,
        params: &CopyParams,
        observed: CopyObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<CopyAction>, ModuleError> {
        let observed = match observed {
            CopyObserved::File(file) => *file,
            CopyObserved::Tree(tree) => {
                return Ok(match copy_tree::plan(params, tree, ctx)? {
                    Planned::Done(outcome) => Planned::Done(outcome),
                    Planned::Change { action, preview } => Planned::Change {
                        action: CopyAction::Tree(action),
                        preview,
                    },
                })
            }
        };
        if let Some(expected) = &params.checksum {
            if !expected.eq_ignore_ascii_case(&observed.checksum) {
                return Err(ModuleError::failed(format!(
                    "Copied file does not match the expected checksum: expected {expected}, got {}",
                    observed.checksum
                )));
            }
        }
        Ok(match plan_content(&params.spec(), observed, ctx)? {
            Planned::Done(outcome) => Planned::Done(outcome),
            Planned::Change { action, preview } => Planned::Change {
                action: CopyAction::File(action),
                preview,
            },
        })
    }

    async fn apply(
        &self,
        _params: &CopyParams,
        action: CopyAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {
            CopyAction::File(action) => apply_content(action, ctx).await,
            CopyAction::Tree(action) => copy_tree::apply(action, ctx).await,
        }
    }
}

tend_module_api::register_module!(CopyModule);

/// A controller-side file's bytes and permission bits; with `decrypt`, a vault-encrypted file's
/// plaintext (decrypted with the keyring the binary installed, as Ansible's loader does).
pub(crate) fn read_local(
    path: &Path,
    decrypt: bool,
) -> Result<(Vec<u8>, Option<u32>), ModuleError> {
    use std::os::unix::fs::PermissionsExt;
    let fail =
        |e: std::io::Error| ModuleError::failed(format!("could not read {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(fail)?;
    let bytes = if decrypt {
        tend_vault::read(path).map_err(fail)?
    } else {
        std::fs::read(path).map_err(fail)?
    };
    Ok((bytes, Some(meta.permissions().mode() & 0o7777)))
}

/// A file whose whole content the task decides: what copy and template share.
#[derive(Debug, Clone)]
pub(crate) struct ContentFile<'a> {
    pub dest: &'a str,
    pub wanted: Wanted<'a>,
    pub force: bool,
    pub backup: bool,
    pub follow: bool,
    /// The name the file takes inside a directory `dest` (`src`'s); `None` for `content`.
    pub basename: Option<String>,
    /// Reported back as `src`.
    pub src: Option<&'a str>,
    /// `validate`: a command (with `%s`) that must accept the new content first.
    pub validate: Option<&'a str>,
}

/// What the query saw, and the content the task wants.
#[derive(Debug, Clone, Default)]
pub struct ContentObserved {
    content: Vec<u8>,
    /// SHA-1 of `content`.
    checksum: String,
    /// The source file's mode, for `mode: preserve`.
    src_mode: Option<u32>,
    /// The final destination path (directory and `~` resolved, symlink followed if asked).
    dest: String,
    probe: Probe,
    /// `dest` names a directory but there is no file name to put in it.
    dest_is_dir: bool,
    parent_exists: bool,
    umask: u32,
    ids: Ids,
    /// SHA-1 of the host's file, if it is a readable regular file.
    dest_checksum: Option<String>,
    /// The host's file, read for the diff when it differs and is small enough.
    before: Option<Vec<u8>>,
}

/// How to bring the destination in line.
#[derive(Debug)]
pub enum ContentAction {
    /// Upload the content (after `prepare`: mkdir, backup), then report on the result.
    Write {
        dest: String,
        content: Vec<u8>,
        options: WriteOptions,
        prepare: Option<String>,
        outcome: Outcome,
    },
    /// Content is right; fix attributes with one script (ending with the final probe).
    Attrs { script: String, outcome: Outcome },
}

/// Ansible requires `%s` in `validate`.
pub(crate) fn check_validate(validate: Option<&str>) -> Result<(), ModuleError> {
    match validate {
        Some(v) if !v.contains("%s") => Err(ModuleError::failed(format!(
            "validate must contain %s: {v}"
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn sha1_hex(data: &[u8]) -> String {
    Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Observes the destination with one `sh` call: where the file really goes, its stat and SHA-1,
/// and — only if it differs, diffs are wanted and it is small — its content.
pub(crate) async fn query_content(
    spec: &ContentFile<'_>,
    content: Vec<u8>,
    src_mode: Option<u32>,
    ctx: &Context<'_>,
) -> Result<ContentObserved, ModuleError> {
    let checksum = sha1_hex(&content);
    let mut script = attrs::assign("p", spec.dest);
    match &spec.basename {
        Some(name) if spec.dest.ends_with('/') => {
            script.push_str(&format!("p=\"$p\"{}; ", quote(name)))
        }
        Some(name) => script.push_str(&format!(
            "if [ -d \"$p\" ]; then p=\"$p/\"{}; fi; ",
            quote(name)
        )),
        None => script.push_str("if [ -d \"$p\" ]; then echo dest.isdir; fi; "),
    }
    if spec.follow {
        script.push_str("if [ -e \"$p\" ] && [ -L \"$p\" ]; then p=$(readlink -f -- \"$p\"); fi; ");
    }
    script.push_str(&attrs::show("path", "\"$p\""));
    script.push_str(&attrs::probe("p", "p"));
    script.push_str("if [ -d \"$(dirname -- \"$p\")\" ]; then echo parent.ok; fi; ");
    script.push_str(attrs::umask());
    script.push_str(&attrs::lookup_ids(spec.wanted.owner, spec.wanted.group));
    script.push_str(&attrs::checksum("p", "sha1sum"));
    if ctx.diff {
        // The content goes last: everything after the marker is the file.
        script.push_str(&format!(
            "if [ -f \"$p\" ] && [ -r \"$p\" ] && [ \"${{s%% *}}\" != {checksum} ] \
             && [ \"$(stat -L -c %s -- \"$p\")\" -le {MAX_DIFF_SIZE} ]; then \
             echo {}; exec cat -- \"$p\"; fi; ",
            attrs::CONTENT_MARKER
        ));
    }
    let report = attrs::run(ctx.host, &script).await?;
    Ok(ContentObserved {
        content,
        checksum,
        src_mode,
        dest: report.get("path").unwrap_or(spec.dest).to_string(),
        probe: report.probe("p")?,
        dest_is_dir: report.has("dest.isdir"),
        parent_exists: report.has("parent.ok"),
        umask: report.umask(),
        ids: Ids::from_report(spec.wanted.owner, spec.wanted.group, &report),
        dest_checksum: report.get("sum").map(str::to_string),
        before: report.content,
    })
}

/// Decides between nothing, an attribute fix and an upload. Pure.
pub(crate) fn plan_content(
    spec: &ContentFile<'_>,
    observed: ContentObserved,
    ctx: &Context<'_>,
) -> Result<Planned<ContentAction>, ModuleError> {
    plan_content_with(spec, observed, ctx.diff, ctx.check_mode)
}

fn plan_content_with(
    spec: &ContentFile<'_>,
    observed: ContentObserved,
    want_diff: bool,
    check_mode: bool,
) -> Result<Planned<ContentAction>, ModuleError> {
    let dest = observed.dest.as_str();
    if observed.dest_is_dir {
        return Err(ModuleError::failed(
            "can not use content with a dir as dest",
        ));
    }
    let entry = observed.probe.entry.as_ref();
    // What the content is compared with: the file itself, or a symlink's target (which the
    // upload replaces with a plain file when not following).
    let current: Option<&Entry> = match entry {
        Some(e) if e.is_link() => observed.probe.target.as_ref(),
        other => other,
    };
    let mut base = Outcome::ok().with_value("dest", dest);
    if let Some(src) = spec.src {
        base.values.insert("src".into(), src.into());
    }
    base.values
        .insert("checksum".into(), observed.checksum.clone().into());
    if entry.is_some() && !spec.force {
        let mut outcome = base;
        outcome
            .values
            .extend(current.or(entry).map(attrs::path_info).unwrap_or_default());
        return Ok(Planned::Done(outcome));
    }
    if current.is_some_and(Entry::is_dir) {
        return Err(ModuleError::failed(format!("dest {dest} is a directory")));
    }
    if entry.is_none() && !observed.parent_exists && !spec.dest.ends_with('/') {
        let parent = Path::new(dest)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(ModuleError::failed(format!(
            "Destination directory {parent} does not exist"
        )));
    }

    let wanted_mode = match spec.wanted.mode {
        Some(ModeArg::Preserve) => observed.src_mode,
        Some(mode) => {
            Some(mode.resolve_with_umask(current.map(|c| c.stat.mode), false, observed.umask)?)
        }
        None => None,
    };
    let (ids, warnings) = match current {
        Some(_) => (observed.ids.clone(), Vec::new()),
        None => observed.ids.for_new_path(check_mode),
    };
    let (uid, gid) = ids.known()?;
    let replace_link = entry.is_some_and(Entry::is_link);
    let content_changed =
        replace_link || observed.dest_checksum.as_deref() != Some(observed.checksum.as_str());

    // The attributes that differ from the current file (all wanted ones for a new file).
    let attr_change = match current {
        Some(c) => AttrChange {
            uid: uid.filter(|&u| u != c.stat.uid),
            gid: gid.filter(|&g| g != c.stat.gid),
            mode: wanted_mode.filter(|&m| m != c.stat.mode),
        },
        None => AttrChange {
            uid,
            gid,
            mode: wanted_mode,
        },
    };
    let mut diffs = Vec::new();
    if want_diff && content_changed {
        diffs.push(content_diff(
            dest,
            current.is_some(),
            observed.before.as_deref(),
            &observed.content,
        ));
    }
    if want_diff && current.is_some() && !attr_change.is_empty() {
        let mut diff = AttrDiff::new(dest);
        diff.attrs(current.map(|c| &c.stat), &attr_change);
        diffs.push(diff.into_diff());
    }

    if !content_changed && attr_change.is_empty() {
        let mut outcome = base.with_value("path", dest);
        outcome
            .values
            .extend(current.map(attrs::path_info).unwrap_or_default());
        return Ok(Planned::Done(outcome));
    }
    let mut outcome = base;
    outcome.changed = true;
    outcome.diffs = diffs;
    outcome.warnings = warnings;
    if !content_changed {
        outcome.values.insert("path".into(), dest.into());
    }
    let mut preview = outcome.clone();
    if let Some(entry) = current {
        preview.values.extend(attrs::path_info(entry));
    }
    if content_changed {
        // Ansible's copy action returns only `changed` (and the diff) when check mode stops
        // it before the upload: a registered result has no `dest`, `checksum`, ...
        preview.values.clear();
    }
    let action = if content_changed {
        let mut prepare = String::new();
        if spec.dest.ends_with('/') && !observed.parent_exists {
            prepare.push_str("mkdir -p -- \"$(dirname -- \"$r\")\"; ");
        }
        if spec.backup && current.is_some() {
            prepare.push_str(
                "b=\"$r.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$r\" \"$b\"; printf 'backup:%s\\n' \"$b\"; ",
            );
        }
        ContentAction::Write {
            dest: dest.to_string(),
            content: observed.content,
            options: WriteOptions {
                mode: wanted_mode.map(format_mode),
                owner: uid.map(|u| u.to_string()),
                group: gid.map(|g| g.to_string()),
                validate: spec.validate.map(str::to_string),
            },
            prepare: (!prepare.is_empty()).then(|| format!("set -e; r={}; {prepare}", quote(dest))),
            outcome,
        }
    } else {
        ContentAction::Attrs {
            script: format!(
                "set -e; r={}; {}{}",
                quote(dest),
                attrs::apply_script("\"$r\"", &attr_change, false),
                attrs::probe("final", "r")
            ),
            outcome,
        }
    };
    Ok(Planned::Change { action, preview })
}

/// Carries out a content plan: at most a prepare script, the atomic upload, and a final probe.
pub(crate) async fn apply_content(
    action: ContentAction,
    ctx: &Context<'_>,
) -> Result<Outcome, ModuleError> {
    match action {
        ContentAction::Attrs {
            script,
            mut outcome,
        } => {
            let report = attrs::run(ctx.host, &script).await?;
            if let Some(entry) = report.probe("final")?.entry {
                outcome.values.extend(attrs::path_info(&entry));
            }
            Ok(outcome)
        }
        ContentAction::Write {
            dest,
            content,
            options,
            prepare,
            mut outcome,
        } => {
            if let Some(prepare) = prepare {
                let report = attrs::run(ctx.host, &prepare).await?;
                if let Some(backup) = report.get("backup") {
                    outcome.values.insert("backup_file".into(), backup.into());
                }
            }
            ctx.host
                .write_file_atomic(&dest, &content, &options)
                .await?;
            let report = attrs::run(
                ctx.host,
                &format!("r={}; {}", quote(&dest), attrs::probe("final", "r")),
            )
            .await?;
            if let Some(entry) = report.probe("final")?.entry {
                outcome.values.extend(attrs::path_info(&entry));
            }
            Ok(outcome)
        }
    }
}

/// Text for one side of a content diff, or Ansible's note when it cannot be shown.
fn diff_side(data: &[u8], which: &str) -> String {
    if data.len() > MAX_DIFF_SIZE {
        return format!("diff skipped: {which} file size is greater than {MAX_DIFF_SIZE}\n");
    }
    match std::str::from_utf8(data) {
        Ok(text) if !data.contains(&0) => text.to_string(),
        _ => format!("diff skipped: {which} file appears to be binary\n"),
    }
}

/// The content diff for `dest`: from empty for a new file, as in Ansible.
fn content_diff(dest: &str, existed: bool, before: Option<&[u8]>, after: &[u8]) -> Diff {
    let before = match (existed, before) {
        (false, _) => String::new(),
        (true, Some(data)) => diff_side(data, "destination"),
        // Not read: the query only reads files up to the size limit.
        (true, None) => {
            format!("diff skipped: destination file size is greater than {MAX_DIFF_SIZE}\n")
        }
    };
    let mut diff = Diff::content(dest, before, diff_side(after, "source"));
    if !existed {
        // Ansible names the destination only when there was one.
        diff.before_header = "before".into();
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::tests::entry;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;
    use tend_module_api::args::{from_args, ArgMode};
    use tend_module_api::FileKind;

    fn spec<'a>(mode: Option<&'a ModeArg>) -> ContentFile<'a> {
        ContentFile {
            dest: "/etc/motd",
            wanted: Wanted {
                mode,
                owner: None,
                group: None,
            },
            force: true,
            backup: false,
            follow: false,
            basename: None,
            src: None,
            validate: None,
        }
    }

    fn observed(content: &str, existing: Option<(&str, u32)>) -> ContentObserved {
        ContentObserved {
            content: content.as_bytes().to_vec(),
            checksum: sha1_hex(content.as_bytes()),
            dest: "/etc/motd".into(),
            probe: Probe {
                entry: existing.map(|(_, mode)| entry(FileKind::File, mode)),
                ..Probe::default()
            },
            parent_exists: true,
            umask: 0o022,
            dest_checksum: existing.map(|(text, _)| sha1_hex(text.as_bytes())),
            before: existing.map(|(text, _)| text.as_bytes().to_vec()),
            ..ContentObserved::default()
        }
    }

    #[test]
    fn plan_new_file_diffs_from_empty() {
        let planned =
            plan_content_with(&spec(None), observed("hi\n", None), true, false).expect("plan");
        let Planned::Change { action, preview } = planned else {
            panic!("expected a change")
        };
        assert!(preview.changed);
        let mut expected = Diff::content("/etc/motd", "", "hi\n");
        expected.before_header = "before".into();
        assert_eq!(preview.diffs, vec![expected]);
        // Check mode reports no values for an upload, as Ansible's copy action.
        assert!(preview.values.is_empty(), "{:?}", preview.values);
        let ContentAction::Write {
            content,
            options,
            prepare,
            outcome,
            ..
        } = action
        else {
            panic!("expected a write")
        };
        assert_eq!(content, b"hi\n");
        assert_eq!(outcome.values["checksum"], sha1_hex(b"hi\n"));
        assert_eq!(options, WriteOptions::default());
        assert_eq!(prepare, None);
    }

    #[test]
    fn plan_same_content_is_ok_or_an_attribute_fix() {
        let planned = plan_content_with(
            &spec(None),
            observed("hi\n", Some(("hi\n", 0o644))),
            true,
            false,
        )
        .expect("plan");
        let Planned::Done(outcome) = planned else {
            panic!("expected ok")
        };
        assert!(!outcome.changed);
        assert_eq!(outcome.values["path"], "/etc/motd");
        assert_eq!(outcome.values["mode"], "0644");

        let mode = ModeArg::Octal(0o600);
        let planned = plan_content_with(
            &spec(Some(&mode)),
            observed("hi\n", Some(("hi\n", 0o644))),
            true,
            false,
        )
        .expect("plan");
        let Planned::Change { action, preview } = planned else {
            panic!("expected a change")
        };
        assert_eq!(
            preview.diffs.len(),
            1,
            "no content diff for attributes only"
        );
        assert_eq!(preview.diffs[0].after, "path: /etc/motd\nmode: 0600\n");
        let ContentAction::Attrs { script, .. } = action else {
            panic!("expected attrs")
        };
        assert!(script.contains("chmod 00600 -- \"$r\""));
    }

    #[test]
    fn plan_changed_content_diffs_and_keeps_notes_for_binary_and_large() {
        let planned = plan_content_with(
            &spec(None),
            observed("new\n", Some(("old\n", 0o644))),
            true,
            false,
        )
        .expect("plan");
        let Planned::Change { preview, .. } = planned else {
            panic!("expected a change")
        };
        assert_eq!(
            preview.diffs,
            vec![Diff::content("/etc/motd", "old\n", "new\n")]
        );

        let d = content_diff("/x", true, Some(b"a\0b"), &vec![b'x'; MAX_DIFF_SIZE + 1]);
        assert_eq!(
            d.before,
            "diff skipped: destination file appears to be binary\n"
        );
        assert_eq!(
            d.after,
            format!("diff skipped: source file size is greater than {MAX_DIFF_SIZE}\n")
        );
        let d = content_diff("/x", true, None, b"\xff\xfe");
        assert!(d.before.contains("greater than"));
        assert!(d.after.contains("binary"));

        let no_force = ContentFile {
            force: false,
            ..spec(None)
        };
        let planned = plan_content_with(
            &no_force,
            observed("new\n", Some(("old\n", 0o644))),
            true,
            false,
        )
        .expect("plan");
        assert!(matches!(planned, Planned::Done(ref o) if !o.changed));
    }

    #[test]
    fn plan_refuses_missing_parent_and_directories() {
        let mut o = observed("x", None);
        o.parent_exists = false;
        o.dest = "/no/such/file".into();
        let e = plan_content_with(&spec(None), o, true, false).expect_err("no parent");
        assert_eq!(
            e.to_string(),
            "Destination directory /no/such does not exist"
        );
        let mut o = observed("x", None);
        o.probe.entry = Some(entry(FileKind::Directory, 0o755));
        assert!(plan_content_with(&spec(None), o, true, false).is_err());
    }

    #[test]
    fn content_parameter_accepts_text_numbers_and_structures() {
        let p: CopyParams = from_args(
            &json!({"dest": "/x", "content": {"a": 1, "b": [true, "x"]}}),
            ArgMode::Run,
        )
        .expect("params");
        assert_eq!(
            p.content,
            Some(Content("{\"a\": 1, \"b\": [true, \"x\"]}".into()))
        );
        let p: CopyParams = from_args(
            &json!({"dest": "/x", "content": 42, "force": "no"}),
            ArgMode::Run,
        )
        .expect("params");
        assert_eq!(p.content, Some(Content("42".into())));
        assert!(!p.force);
        let module = tend_module_api::lookup("ansible.builtin.copy").expect("registered");
        module
            .check_args(&json!({"dest": "{{ d }}", "content": "{{ c }}", "mode": "{{ m }}", "backup": "{{ b }}"}))
            .expect("templates compile");
        assert!(module.check_args(&json!({"path": "/x"})).is_err());
    }

    // Real runs through /bin/sh on this machine.

    async fn run(
        args: Value,
        controller: &FakeController,
        check: bool,
    ) -> Result<Outcome, ModuleError> {
        run_module("copy", args, controller, check).await
    }

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[tokio::test]
    async fn content_copy_is_idempotent_with_check_mode_and_diffs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let controller = FakeController::new(dir.path());
        let dest = dir.path().join("motd");
        let d = dest.to_string_lossy().to_string();
        let args = json!({"dest": d, "content": "hello\n", "mode": "0640"});

        let check = run(args.clone(), &controller, true).await.expect("check");
        assert!(check.changed);
        assert!(!dest.exists(), "check mode wrote the file");
        let mut expected = Diff::content(&d, "", "hello\n");
        expected.before_header = "before".into();
        assert_eq!(check.diffs, vec![expected]);

        let first = run(args.clone(), &controller, false).await.expect("first");
        assert!(first.changed);
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "hello\n");
        assert_eq!(mode_of(&dest), 0o640);
        assert_eq!(first.values["checksum"], sha1_hex(b"hello\n"));
        assert_eq!(first.values["size"], 6);
        assert_eq!(first.values["mode"], "0640");
        assert_eq!(first.values["dest"], d.as_str());
        assert_eq!(first.diffs, check.diffs);

        let second = run(args.clone(), &controller, false).await.expect("second");
        assert!(!second.changed, "{second:?}");
        assert!(second.diffs.is_empty());
        assert_eq!(second.values["state"], "file");

        // New content: diff from the old text; check mode leaves the old file.
        let args = json!({"dest": d, "content": "bye\n", "mode": "0640", "backup": true});
        let check = run(args.clone(), &controller, true).await.expect("check");
        assert_eq!(check.diffs, vec![Diff::content(&d, "hello\n", "bye\n")]);
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "hello\n");
        let out = run(args, &controller, false).await.expect("replace");
        assert!(out.changed);
        let backup = out.values["backup_file"]
            .as_str()
            .expect("backup_file")
            .to_string();
        assert_eq!(std::fs::read_to_string(&backup).expect("backup"), "hello\n");
        assert!(backup.ends_with('~'));
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "bye\n");

        // Attributes alone.
        let out = run(
            json!({"dest": d, "content": "bye\n", "mode": "u=rw,go="}),
            &controller,
            false,
        )
        .await
        .expect("chmod");
        assert!(out.changed);
        assert_eq!(mode_of(&dest), 0o600);
        assert_eq!(out.diffs[0].after, format!("path: {d}\nmode: 0600\n"));
    }

    #[tokio::test]
    async fn src_goes_into_directories_and_force_no_keeps_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("files")).expect("mkdir");
        std::fs::write(dir.path().join("files/app.conf"), "key=1\n").expect("write");
        std::fs::set_permissions(
            dir.path().join("files/app.conf"),
            std::fs::Permissions::from_mode(0o751),
        )
        .expect("chmod");
        let controller = FakeController::new(dir.path());
        let target = dir.path().join("etc");
        std::fs::create_dir(&target).expect("mkdir");

        let args = json!({"src": "app.conf", "dest": target.to_string_lossy(), "mode": "preserve"});
        let out = run(args.clone(), &controller, false)
            .await
            .expect("into dir");
        assert!(out.changed);
        assert_eq!(out.values["src"], "app.conf");
        assert_eq!(
            std::fs::read_to_string(target.join("app.conf")).expect("read"),
            "key=1\n"
        );
        assert_eq!(mode_of(&target.join("app.conf")), 0o751);
        assert!(!run(args, &controller, false).await.expect("again").changed);

        // A trailing slash creates the missing directory.
        let nested = format!("{}/new/sub/", target.to_string_lossy());
        let out = run(
            json!({"src": "app.conf", "dest": nested}),
            &controller,
            false,
        )
        .await
        .expect("nested");
        assert!(out.changed);
        assert!(target.join("new/sub/app.conf").exists());

        let keep = json!({"content": "other", "dest": target.join("app.conf").to_string_lossy(), "force": false});
        assert!(
            !run(keep, &controller, false)
                .await
                .expect("force no")
                .changed
        );
        assert_eq!(
            std::fs::read_to_string(target.join("app.conf")).expect("read"),
            "key=1\n"
        );

        let e = run(
            json!({"content": "x", "dest": target.to_string_lossy()}),
            &controller,
            false,
        )
        .await
        .expect_err("content into dir");
        assert_eq!(e.to_string(), "can not use content with a dir as dest");
        let e = run(json!({"src": "nope", "dest": "/tmp/x"}), &controller, false)
            .await
            .expect_err("no src");
        assert!(e.to_string().contains("could not find"), "{e}");
        let tree = dir.path().join("tree");
        let out = run(
            json!({"src": "./", "dest": tree.to_string_lossy()}),
            &controller,
            false,
        )
        .await
        .expect("dir src");
        assert!(out.changed);
        assert!(tree.join("app.conf").is_file(), "tree copied");
        let missing = dir
            .path()
            .join("no/such/file")
            .to_string_lossy()
            .to_string();
        let e = run(json!({"content": "x", "dest": missing}), &controller, true)
            .await
            .expect_err("no parent");
        assert!(e.to_string().starts_with("Destination directory"), "{e}");
    }

    /// This machine, counting the commands sent to it.
    struct Counting {
        inner: tend_transport::LocalTransport,
        calls: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl tend_transport::Transport for Counting {
        async fn exec(
            &self,
            request: tend_transport::ExecRequest<'_>,
        ) -> Result<tend_module_api::ExecOutput, tend_module_api::TransportError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.exec(request).await
        }
    }

    /// Runs a module and returns how many host round trips it took.
    async fn round_trips(name: &str, args: Value, controller: &FakeController) -> usize {
        let counting = std::sync::Arc::new(Counting {
            inner: tend_transport::LocalTransport::new("localhost"),
            calls: Default::default(),
        });
        let host = tend_module_api::Host::new("localhost", counting.clone());
        let ctx = Context {
            host: &host,
            check_mode: false,
            diff: true,
            controller,
        };
        let module = tend_module_api::lookup(name).expect("registered");
        module.run(&args, &ctx).await.expect("runs");
        counting.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn round_trips_stay_few() {
        let dir = tempfile::tempdir().expect("tempdir");
        let controller = FakeController::new(dir.path());
        let d = dir.path().join("f").to_string_lossy().to_string();
        let copy = json!({"dest": d, "content": "x", "mode": "0600"});
        assert_eq!(
            round_trips("copy", copy.clone(), &controller).await,
            3,
            "query, upload, final stat"
        );
        assert_eq!(
            round_trips("copy", copy, &controller).await,
            1,
            "unchanged: query only"
        );
        let chmod = json!({"dest": d, "content": "x", "mode": "0640"});
        assert_eq!(
            round_trips("copy", chmod, &controller).await,
            2,
            "attributes: query, fix"
        );
        let sub = dir.path().join("a/b").to_string_lossy().to_string();
        let mkdir = json!({"path": sub, "state": "directory"});
        assert_eq!(round_trips("file", mkdir.clone(), &controller).await, 2);
        assert_eq!(round_trips("file", mkdir, &controller).await, 1);
        assert_eq!(
            round_trips("stat", json!({"path": d}), &controller).await,
            1
        );
    }

    #[tokio::test]
    async fn binary_content_and_symlinked_dest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let controller = FakeController::new(dir.path());
        std::fs::create_dir_all(dir.path().join("files")).expect("mkdir");
        std::fs::write(dir.path().join("files/blob"), b"\x00\x01\xff").expect("write");
        let dest = dir.path().join("blob");
        let out = run(
            json!({"src": "blob", "dest": dest.to_string_lossy()}),
            &controller,
            false,
        )
        .await
        .expect("binary");
        assert!(out.changed);
        assert_eq!(std::fs::read(&dest).expect("read"), b"\x00\x01\xff");
        assert_eq!(
            out.diffs[0].after,
            "diff skipped: source file appears to be binary\n"
        );

        // follow: yes writes through the link; the default replaces it.
        std::fs::write(dir.path().join("real"), "old").expect("write");
        std::os::unix::fs::symlink("real", dir.path().join("ln")).expect("symlink");
        let ln = dir.path().join("ln").to_string_lossy().to_string();
        let out = run(
            json!({"content": "new", "dest": ln, "follow": true}),
            &controller,
            false,
        )
        .await
        .expect("follow");
        assert!(out.changed);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("real")).expect("read"),
            "new"
        );
        assert!(std::fs::symlink_metadata(dir.path().join("ln"))
            .expect("lstat")
            .file_type()
            .is_symlink());
        let out = run(json!({"content": "new", "dest": ln}), &controller, false)
            .await
            .expect("replace link");
        assert!(out.changed, "a symlink is replaced by a file");
        assert!(std::fs::symlink_metadata(dir.path().join("ln"))
            .expect("lstat")
            .is_file());
        assert!(
            !run(json!({"content": "new", "dest": ln}), &controller, false)
                .await
                .expect("again")
                .changed
        );
    }

    /// Copy and template sources and include_vars files that are vaulted are decrypted with
    /// the installed keyring; `decrypt: no` copies the vault text. (The only test in this crate
    /// that installs a keyring.)
    #[tokio::test]
    async fn vaulted_controller_files_are_decrypted() {
        let secret = tend_vault::Secret::new("pw");
        let mut ring = tend_vault::Keyring::new();
        ring.add("default", secret.clone());
        tend_vault::install(ring);
        let vaulted = |text: &str| tend_vault::encrypt(text.as_bytes(), &secret, None).expect("enc");
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["files/tree", "templates", "vars"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        let secret_file = vaulted("s3cret\n");
        std::fs::write(dir.path().join("files/secret.txt"), &secret_file).expect("write");
        std::fs::write(dir.path().join("files/tree/inner.txt"), vaulted("inner\n")).expect("write");
        std::fs::write(dir.path().join("templates/t.j2"), vaulted("templated\n")).expect("write");
        std::fs::write(dir.path().join("vars/v.yml"), vaulted("answer: 42\n")).expect("write");
        let controller = FakeController::new(dir.path());
        let out_dir = dir.path().join("out");
        std::fs::create_dir(&out_dir).expect("mkdir");
        let at = |name: &str| out_dir.join(name).to_string_lossy().into_owned();

        let out = run(json!({"src": "secret.txt", "dest": at("a")}), &controller, false)
            .await
            .expect("copy");
        assert!(out.changed);
        assert_eq!(std::fs::read_to_string(out_dir.join("a")).expect("read"), "s3cret\n");
        assert_eq!(out.values["checksum"], sha1_hex(b"s3cret\n"));
        let out = run(
            json!({"src": "secret.txt", "dest": at("raw"), "decrypt": false}),
            &controller,
            false,
        )
        .await
        .expect("copy raw");
        assert!(out.changed);
        assert_eq!(std::fs::read_to_string(out_dir.join("raw")).expect("read"), secret_file);
        let text = secret_file.clone();
        run(json!({"content": text, "dest": at("c")}), &controller, false)
            .await
            .expect("copy vaulted content");
        assert_eq!(std::fs::read_to_string(out_dir.join("c")).expect("read"), "s3cret\n");
        run(
            json!({"content": text, "dest": at("c-raw"), "decrypt": false}),
            &controller,
            false,
        )
        .await
        .expect("copy vault text");
        assert_eq!(std::fs::read_to_string(out_dir.join("c-raw")).expect("read"), text);
        run(json!({"src": "tree", "dest": at("t")}), &controller, false)
            .await
            .expect("copy tree");
        assert_eq!(
            std::fs::read_to_string(out_dir.join("t/tree/inner.txt")).expect("read"),
            "inner\n"
        );
        run_module("template", json!({"src": "t.j2", "dest": at("tpl")}), &controller, false)
            .await
            .expect("template");
        assert_eq!(std::fs::read_to_string(out_dir.join("tpl")).expect("read"), "templated\n");
        let out = run_module("include_vars", json!({"file": "v.yml"}), &controller, false)
            .await
            .expect("include_vars");
        assert_eq!(out.facts.get("answer"), Some(&json!(42)));

        // A file the keyring cannot open fails the task, naming the file.
        let other = tend_vault::encrypt(b"x", &tend_vault::Secret::new("other"), None).expect("enc");
        std::fs::write(dir.path().join("files/other.txt"), other).expect("write");
        let e = run(json!({"src": "other.txt", "dest": at("o")}), &controller, false)
            .await
            .expect_err("wrong password");
        let message = e.to_string();
        assert!(message.contains("other.txt"), "{message}");
        assert!(
            message.contains("Decryption failed (no vault secrets were found that could decrypt)"),
            "{message}"
        );
        assert!(!out_dir.join("o").exists());
    }
}
