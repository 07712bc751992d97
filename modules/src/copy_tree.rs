//! `copy` with a controller directory as `src`: Ansible's recursive copy. The tree is walked as
//! the copy action's `_walk_dirs` does (`src/` copies the contents, `src` the directory itself;
//! `local_follow` dereferences symlinks), then every file goes through the same content plan as
//! a single-file copy, and directories and symlinks are made as Ansible's per-entry `file`
//! calls would: new directories and the source's directories get `directory_mode` (else the
//! umask's default), `owner` and `group`; `mode` is for files only.
//!
//! Round trips: one query per file, one probe for all directories and links, then in a real
//! run one script for the directories, one upload per changed file and one script for links.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tend_module_api::mode::ModeArg;
use tend_module_api::{quote, Context, Diff, ModuleError, Outcome, Planned};

use crate::attrs::{self, AttrChange, AttrDiff, Ids, Wanted};
use crate::copy::{
    apply_content, plan_content, query_content, read_local, ContentAction, ContentFile,
    ContentObserved, CopyParams,
};

/// What `_walk_dirs` finds: paths relative to the destination directory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Walk {
    /// (controller file, relative destination)
    pub files: Vec<(PathBuf, String)>,
    /// Relative destination directories, parents first.
    pub dirs: Vec<String>,
    /// (link target as written, relative destination)
    pub links: Vec<(String, String)>,
}

/// Walks `top` as Ansible's `_walk_dirs`. With `trailing_slash` the contents of `top` go into
/// the destination; without, `top` itself does (its name prefixes every relative path).
pub(crate) fn walk(
    top: &Path,
    trailing_slash: bool,
    local_follow: bool,
) -> Result<Walk, ModuleError> {
    let fail = |path: &Path, e: std::io::Error| {
        ModuleError::failed(format!("could not read {}: {e}", path.display()))
    };
    let mut out = Walk::default();
    let top_name = top
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rel_base = if trailing_slash {
        String::new()
    } else {
        top_name.clone()
    };
    let top_meta = std::fs::symlink_metadata(top).map_err(|e| fail(top, e))?;
    if top_meta.file_type().is_symlink() && !local_follow {
        let target = std::fs::read_link(top).map_err(|e| fail(top, e))?;
        out.links
            .push((target.to_string_lossy().into_owned(), top_name));
        return Ok(out);
    }
    let meta = std::fs::metadata(top).map_err(|e| fail(top, e))?;
    let mut parents = HashSet::new();
    parents.insert((meta.dev(), meta.ino()));
    recurse(top, &rel_base, &parents, local_follow, &mut out)?;
    Ok(out)
}

/// A name or link target as text. Module arguments are text, so a name that is not UTF-8
/// could only arrive mangled; the task fails instead (Ansible fails on it too).
fn utf8(text: &Path, path: &Path) -> Result<String, ModuleError> {
    text.to_str().map(str::to_string).ok_or_else(|| {
        ModuleError::failed(format!(
            "{} is not valid UTF-8; tend cannot copy it by name",
            path.display()
        ))
    })
}

fn utf8_name(path: &Path) -> Result<String, ModuleError> {
    match path.file_name() {
        Some(name) => utf8(Path::new(name), path),
        None => Ok(String::new()),
    }
}

fn join_rel(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

fn recurse(
    dir: &Path,
    rel: &str,
    parents: &HashSet<(u64, u64)>,
    local_follow: bool,
    out: &mut Walk,
) -> Result<(), ModuleError> {
    let fail = |path: &Path, e: std::io::Error| {
        ModuleError::failed(format!("could not read {}: {e}", path.display()))
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| fail(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    // os.walk lists a directory's files before descending into its subdirectories.
    let (subdirs, files): (Vec<PathBuf>, Vec<PathBuf>) =
        entries.into_iter().partition(|p| p.is_dir());
    for path in files {
        let name = utf8_name(&path)?;
        let dest = join_rel(rel, &name);
        let is_link = std::fs::symlink_metadata(&path)
            .map_err(|e| fail(&path, e))?
            .file_type()
            .is_symlink();
        if !is_link {
            out.files.push((path, dest));
            continue;
        }
        match std::fs::canonicalize(&path) {
            Ok(real) if local_follow && real.is_file() => out.files.push((real, dest)),
            _ => {
                let target = std::fs::read_link(&path).map_err(|e| fail(&path, e))?;
                out.links.push((utf8(&target, &path)?, dest));
            }
        }
    }
    for path in subdirs {
        let name = utf8_name(&path)?;
        let dest = join_rel(rel, &name);
        let is_link = std::fs::symlink_metadata(&path)
            .map_err(|e| fail(&path, e))?
            .file_type()
            .is_symlink();
        let meta = std::fs::metadata(&path).map_err(|e| fail(&path, e))?;
        let id = (meta.dev(), meta.ino());
        if is_link && (!local_follow || parents.contains(&id)) {
            // Not followed, or a loop back into the tree being copied: copied as a link.
            let target = std::fs::read_link(&path).map_err(|e| fail(&path, e))?;
            out.links.push((utf8(&target, &path)?, dest));
            continue;
        }
        out.dirs.push(dest.clone());
        let mut inner = parents.clone();
        inner.insert(id);
        let real = if is_link {
            std::fs::canonicalize(&path).map_err(|e| fail(&path, e))?
        } else {
            path
        };
        recurse(&real, &dest, &inner, local_follow, out)?;
    }
    Ok(())
}

/// One file of the tree, as its content query saw it.
#[derive(Debug)]
pub struct TreeFile {
    /// The destination directory of this file, ending in `/`.
    dir: String,
    name: String,
    /// The relative path, reported as the file's `src`.
    rel: String,
    observed: ContentObserved,
}

/// A directory the copy makes sure of.
#[derive(Debug)]
struct TreeDir {
    path: String,
    /// Walked from the source (Ansible runs `file state=directory` on it even when it exists).
    listed: bool,
    entry: Option<attrs::Entry>,
}

#[derive(Debug)]
struct TreeLink {
    path: String,
    target: String,
    current: Option<String>,
    exists: bool,
}

/// What the query saw for a directory copy.
#[derive(Debug)]
pub struct TreeObserved {
    dest_dir: String,
    /// `src` as found on the controller, reported back.
    source: String,
    files: Vec<TreeFile>,
    dirs: Vec<TreeDir>,
    links: Vec<TreeLink>,
    umask: u32,
    ids: Ids,
}

/// The changes a directory copy makes.
#[derive(Debug)]
pub struct TreeAction {
    dir_script: String,
    files: Vec<ContentAction>,
    link_script: String,
    outcome: Outcome,
    single_file: bool,
}

impl TreeFile {
    fn spec<'a>(&'a self, params: &'a CopyParams, follow: bool) -> ContentFile<'a> {
        ContentFile {
            dest: &self.dir,
            wanted: Wanted {
                mode: params.mode.as_ref(),
                owner: params.owner.as_deref(),
                group: params.group.as_deref(),
            },
            force: params.force,
            backup: params.backup,
            follow,
            basename: Some(self.name.clone()),
            src: Some(&self.rel),
            validate: params.validate.as_deref(),
        }
    }
}

/// Observes everything the copy of `top` would touch.
pub(crate) async fn query(
    params: &CopyParams,
    top: &Path,
    trailing_slash: bool,
    ctx: &Context<'_>,
) -> Result<TreeObserved, ModuleError> {
    let walked = walk(top, trailing_slash, params.local_follow)?;
    let dest_dir = if params.dest.ends_with('/') {
        params.dest.clone()
    } else {
        format!("{}/", params.dest)
    };
    let follow = walked.dirs.is_empty() && params.follow;
    let mut files = Vec::new();
    for (path, rel) in &walked.files {
        let (parent, name) = match rel.rsplit_once('/') {
            Some((parent, name)) => (format!("{dest_dir}{parent}/"), name.to_string()),
            None => (dest_dir.clone(), rel.clone()),
        };
        let (content, src_mode) = read_local(path, params.decrypt)?;
        let mut file = TreeFile {
            dir: parent,
            name,
            rel: rel.clone(),
            observed: ContentObserved::default(),
        };
        file.observed = query_content(&file.spec(params, follow), content, src_mode, ctx).await?;
        files.push(file);
    }

    // Every directory the copy needs: the destination, the parents of files and links, and
    // the walked directories, parents first.
    let mut wanted_dirs: Vec<(String, bool)> = vec![(String::new(), false)];
    let add = |rel: &str, listed: bool, dirs: &mut Vec<(String, bool)>| {
        let mut prefix = String::new();
        for (i, part) in rel.split('/').enumerate() {
            prefix = if i == 0 {
                part.to_string()
            } else {
                format!("{prefix}/{part}")
            };
            let last = prefix.len() == rel.len();
            match dirs.iter_mut().find(|(d, _)| *d == prefix) {
                Some(found) => found.1 |= listed && last,
                None => dirs.push((prefix.clone(), listed && last)),
            }
        }
    };
    let placed = walked.files.iter().map(|(_, r)| r);
    for rel in placed.chain(walked.links.iter().map(|(_, r)| r)) {
        if let Some((parent, _)) = rel.rsplit_once('/') {
            add(parent, false, &mut wanted_dirs);
        }
    }
    for rel in &walked.dirs {
        add(rel, true, &mut wanted_dirs);
    }
    let dir_path = |rel: &str| {
        if rel.is_empty() {
            dest_dir.trim_end_matches('/').to_string()
        } else {
            format!("{dest_dir}{rel}")
        }
    };
    // Missing directories above the destination are made too (Ansible's `makedirs`).
    let mut script = attrs::assign("p", &dir_path(""));
    script.push_str(
        "a=$(dirname -- \"$p\"); while [ ! -e \"$a\" ] && [ ! -L \"$a\" ] && [ \"$a\" != / ] \
         && [ \"$a\" != . ]; do printf 'anc:%s\\n' \"$a\"; a=$(dirname -- \"$a\"); done; ",
    );
    for (i, (rel, _)) in wanted_dirs.iter().enumerate() {
        script.push_str(&attrs::assign("p", &dir_path(rel)));
        script.push_str(&attrs::probe(&format!("d{i}"), "p"));
    }
    for (i, (_, rel)) in walked.links.iter().enumerate() {
        script.push_str(&attrs::assign("p", &format!("{dest_dir}{rel}")));
        script.push_str(&attrs::probe(&format!("l{i}"), "p"));
    }
    script.push_str(attrs::umask());
    script.push_str(&attrs::lookup_ids(
        params.owner.as_deref(),
        params.group.as_deref(),
    ));
    let report = attrs::run(ctx.host, &script).await?;
    let mut dirs: Vec<TreeDir> = report
        .all("anc")
        .map(|path| TreeDir {
            path: path.to_string(),
            listed: false,
            entry: None,
        })
        .collect();
    dirs.reverse();
    for (i, (rel, listed)) in wanted_dirs.iter().enumerate() {
        dirs.push(TreeDir {
            path: dir_path(rel),
            listed: *listed,
            entry: report.probe(&format!("d{i}"))?.entry,
        });
    }
    let mut links = Vec::new();
    for (i, (target, rel)) in walked.links.iter().enumerate() {
        let probe = report.probe(&format!("l{i}"))?;
        links.push(TreeLink {
            path: format!("{dest_dir}{rel}"),
            target: target.clone(),
            exists: probe.entry.is_some(),
            current: probe.entry.and_then(|e| e.stat.link_target),
        });
    }
    let mut source = top.display().to_string();
    if trailing_slash {
        source.push('/');
    }
    Ok(TreeObserved {
        dest_dir,
        source,
        files,
        dirs,
        links,
        umask: report.umask(),
        ids: Ids::from_report(params.owner.as_deref(), params.group.as_deref(), &report),
    })
}

/// Decides the whole copy. Pure.
pub(crate) fn plan(
    params: &CopyParams,
    observed: TreeObserved,
    ctx: &Context<'_>,
) -> Result<Planned<TreeAction>, ModuleError> {
    let follow = observed.dirs.iter().all(|d| !d.listed) && params.follow;
    let mut changed = false;
    let mut diffs = Vec::new();
    let mut warnings = Vec::new();
    let mut file_actions = Vec::new();
    let mut single_values = None;
    let single_file = observed.files.len() == 1;

    // Directories first: a file's content plan then sees its parent as made.
    let (ids, id_warnings) = observed.ids.for_new_path(ctx.check_mode);
    let mut dir_script = String::new();
    for dir in &observed.dirs {
        let wanted = Wanted {
            mode: params.directory_mode.as_ref(),
            owner: params.owner.as_deref(),
            group: params.group.as_deref(),
        };
        match &dir.entry {
            None => {
                let change = attrs::for_new_path(&wanted, &ids, observed.umask, true)?;
                dir_script.push_str(&format!("mkdir -- {}; ", quote(&dir.path)));
                dir_script.push_str(&attrs::apply_script(&quote(&dir.path), &change, false));
                if ctx.diff {
                    let mut diff = AttrDiff::new(&dir.path);
                    diff.state("absent", "directory");
                    diffs.push(diff.into_diff());
                }
                warnings.extend(id_warnings.iter().cloned());
                changed = true;
            }
            Some(entry) if !entry.is_dir() => {
                return Err(ModuleError::failed(format!(
                    "{} exists and is not a directory",
                    dir.path
                )));
            }
            Some(_) if !dir.listed => {}
            Some(entry) => {
                let change = attrs::changes(&entry.stat, &wanted, &observed.ids, observed.umask)?;
                if !change.is_empty() {
                    dir_script.push_str(&attrs::apply_script(&quote(&dir.path), &change, false));
                    if ctx.diff {
                        let mut diff = AttrDiff::new(&dir.path);
                        diff.attrs(Some(&entry.stat), &change);
                        diffs.push(diff.into_diff());
                    }
                    changed = true;
                }
            }
        }
    }

    for file in observed.files {
        let planned = plan_content(&file.spec(params, follow), file.observed.clone(), ctx)?;
        match planned {
            Planned::Done(outcome) => {
                if single_file {
                    single_values = Some(outcome.values);
                }
            }
            Planned::Change { action, preview } => {
                changed = true;
                diffs.extend(preview.diffs.iter().cloned());
                warnings.extend(preview.warnings.iter().cloned());
                // The file's own result: in check mode a content change reports no values
                // (the content plan leaves them out, as Ansible's copy action does).
                if single_file {
                    single_values = Some(preview.values.clone());
                }
                file_actions.push(action);
            }
        }
    }

    let mut link_script = String::new();
    for link in &observed.links {
        if link.current.as_deref() == Some(link.target.as_str()) {
            continue;
        }
        link_script.push_str(&format!(
            "ln -sfn -- {} {}; ",
            quote(&link.target),
            quote(&link.path)
        ));
        let (uid, gid) = ids.known()?;
        link_script.push_str(&attrs::apply_script(
            &quote(&link.path),
            &AttrChange {
                uid,
                gid,
                mode: None,
            },
            true,
        ));
        if ctx.diff {
            diffs.push(Diff::attributes(
                &[
                    ("path", link.path.clone()),
                    ("state", if link.exists { "file" } else { "absent" }.into()),
                ],
                &[("path", link.path.clone()), ("state", "link".into())],
            ));
        }
        changed = true;
    }

    let mut outcome = Outcome::ok();
    match single_values {
        Some(values) => outcome.values = values,
        None => {
            outcome
                .values
                .insert("dest".into(), observed.dest_dir.clone().into());
            outcome
                .values
                .insert("src".into(), observed.source.clone().into());
        }
    }
    if !changed {
        return Ok(Planned::Done(outcome));
    }
    outcome.changed = true;
    outcome.diffs = diffs;
    warnings.dedup();
    outcome.warnings = warnings;
    Ok(Planned::Change {
        preview: outcome.clone(),
        action: TreeAction {
            dir_script,
            files: file_actions,
            link_script,
            outcome,
            single_file,
        },
    })
}

/// Makes the directories, writes the files, then the links.
pub(crate) async fn apply(action: TreeAction, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    if !action.dir_script.is_empty() {
        ctx.host
            .sh_ok(&format!("set -e; {}", action.dir_script))
            .await?;
    }
    let mut outcome = action.outcome;
    for file in action.files {
        let done = apply_content(file, ctx).await?;
        if action.single_file {
            outcome.values = done.values;
        }
    }
    if !action.link_script.is_empty() {
        ctx.host
            .sh_ok(&format!("set -e; {}", action.link_script))
            .await?;
    }
    Ok(outcome)
}

/// `directory_mode` must be a mode a directory can take.
pub(crate) fn check_directory_mode(mode: Option<&ModeArg>) -> Result<(), ModuleError> {
    match mode {
        Some(ModeArg::Preserve) => Err(ModuleError::failed("directory_mode cannot be preserve")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("site");
        std::fs::create_dir_all(root.join("css/empty")).expect("mkdir");
        std::fs::write(root.join("index.html"), "hi").expect("write");
        std::fs::write(root.join("css/main.css"), "body{}").expect("write");
        std::os::unix::fs::symlink("index.html", root.join("home.html")).expect("link");
        std::os::unix::fs::symlink("nowhere", root.join("broken")).expect("link");
        std::os::unix::fs::symlink("..", root.join("css/up")).expect("link");
        dir
    }

    #[test]
    fn walks_like_ansibles_walk_dirs() {
        let dir = tree();
        let top = dir.path().join("site");
        let w = walk(&top, true, true).expect("walk");
        let rels: Vec<&str> = w.files.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(rels, ["home.html", "index.html", "css/main.css"]);
        // A followed file link copies the file it points to.
        assert!(w.files[0].0.ends_with("site/index.html"));
        assert_eq!(w.dirs, ["css", "css/empty"]);
        // A broken link and a link back up the tree stay links.
        assert_eq!(
            w.links,
            [
                ("nowhere".to_string(), "broken".to_string()),
                ("..".to_string(), "css/up".to_string())
            ]
        );

        let w = walk(&top, false, false).expect("walk");
        let rels: Vec<&str> = w.files.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(rels, ["site/index.html", "site/css/main.css"]);
        assert_eq!(w.dirs, ["site/css", "site/css/empty"]);
        assert_eq!(w.links.len(), 3, "{:?}", w.links);
    }
}
