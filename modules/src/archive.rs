//! `archive` (community.general.archive): create a compressed archive of files or trees on
//! the host, or compress a single file.
//!
//! ```yaml
//! - name: Pack a directory into a tarball
//!   community.general.archive:
//!     path: /srv/app
//!     dest: /var/backups/app.tar.gz
//!     exclusion_patterns: ["app/cache/*"]
//!
//! - name: Compress one log file to /var/log/big.log.gz and remove the original
//!   community.general.archive:
//!     path: /var/log/big.log
//!     remove: true
//!
//! - name: A zip of several trees, rooted at their common directory
//!   community.general.archive:
//!     path: [/srv/site/*, /srv/extra]
//!     exclude_path: [/srv/site/tmp]
//!     dest: /var/backups/site.zip
//!     format: zip
//! ```
//!
//! As Ansible's module: `path` entries with `*` or `?` are globs; `exclude_path` is taken out
//! of the expanded list; the archive root (`arcroot`) is the common directory of the paths.
//! A directory, a glob, several paths or `force_archive` make an archive (`dest` required);
//! a single file is only compressed (`dest` defaults to `PATH.FORMAT`), or packed alone for
//! `zip`/`tar`. Directories are walked as `os.walk` does (links not followed) and each entry
//! is added on its own; `exclusion_patterns` (fnmatch) are matched against the archive name
//! for tar formats and the full path for zip, as Ansible does.
//!
//! Idempotency is Ansible's: a real run always rebuilds the archive and reports `changed`
//! only when the archive differs from the one that was there. For tar formats the
//! comparison is the set of members with their headers (name, type, mode, owner, size,
//! mtime: tend reads them with `tar -tv --full-time --numeric-owner`, Ansible compares the
//! header checksums of the same fields); for zip the set of (name, CRC-32) (`unzip -v`); for
//! a compressed single file the checksum of its uncompressed content (`cksum`); when no
//! archive was there, the sizes. Check mode as Ansible: an archive to build is always
//! `changed`, a single file only when `dest` does not exist yet. `remove` deletes what was
//! archived (and the source trees) afterwards; `mode`/`owner`/`group` are set on `dest`.
//!
//! Returns `archived`, `dest`, `dest_state` (`absent`, `archive`, `compress`, `incomplete`),
//! `arcroot`, `missing`, `expanded_paths`, `expanded_exclude_paths`, and, when `dest` exists, its
//! `state`/`size`/`mode`/`owner`/`group`/`uid`/`gid`.
//!
//! Needs `tar`, `gzip`, `bzip2`, `xz`, `zip`/`unzip` on the host (whichever the format uses).
//! Differences: globs expand in sorted order (Ansible's `expanded_paths` follow directory
//! order); the archives are written by GNU tar, gzip, bzip2, xz and Info-ZIP `zip` rather than
//! Python (same members, other bytes); a leading `~` in `path` is not expanded; paths with
//! newlines are not supported.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::mode::ModeArg;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

use crate::attrs::{self, AttrChange, Entry, Ids, Report, Wanted};

/// Compression (or none) of the archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Bz2,
    #[default]
    Gz,
    Tar,
    Xz,
    Zip,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Bz2 => "bz2",
            Format::Gz => "gz",
            Format::Tar => "tar",
            Format::Xz => "xz",
            Format::Zip => "zip",
        }
    }

    /// tar's compression flag.
    fn tar_flag(self) -> &'static str {
        match self {
            Format::Bz2 => "-j",
            Format::Gz => "-z",
            Format::Xz => "-J",
            Format::Tar | Format::Zip => "",
        }
    }

    /// The single-file compressor.
    fn compressor(self) -> Option<&'static str> {
        match self {
            Format::Bz2 => Some("bzip2"),
            Format::Gz => Some("gzip"),
            Format::Xz => Some("xz"),
            Format::Tar | Format::Zip => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveParams {
    /// Absolute paths or globs (`*`, `?`) of the files and trees to archive or compress.
    pub path: Vec<String>,
    /// The compression: `gz` (default), `bz2`, `xz`, `zip`, or `tar` (none).
    #[serde(default)]
    pub format: Format,
    /// The archive to write (its directory must exist); required for several files or trees.
    pub dest: Option<String>,
    /// Paths or globs to take out of the expanded `path` list.
    #[serde(default)]
    pub exclude_path: Vec<String>,
    /// fnmatch patterns of entries below `path` to leave out of the archive.
    pub exclusion_patterns: Option<Vec<String>>,
    /// Make an archive even of a single file (so `unarchive` can unpack it).
    #[serde(default)]
    pub force_archive: bool,
    /// Remove the archived files and trees afterwards.
    #[serde(default)]
    pub remove: bool,
    /// Permissions of `dest`: octal (`"0644"`) or symbolic (`u=rw,g=r`).
    pub mode: Option<ModeArg>,
    /// User that should own `dest` (name or uid).
    pub owner: Option<String>,
    /// Group that should own `dest` (name or gid).
    pub group: Option<String>,
}

impl ArchiveParams {
    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            mode: self.mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }

    fn patterns(&self) -> Result<Vec<regex::Regex>, ModuleError> {
        self.exclusion_patterns
            .iter()
            .flatten()
            .map(|p| {
                regex::Regex::new(&crate::find::fnmatch_regex(p))
                    .map_err(|e| ModuleError::failed(format!("bad exclusion pattern {p:?}: {e}")))
            })
            .collect()
    }
}

/// The comparable content of an existing `dest` (Ansible's `destination_checksums`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestInfo {
    pub size: u64,
    /// `None` when unreadable.
    pub checksums: Option<BTreeSet<String>>,
}

#[derive(Debug)]
pub struct ArchiveObserved {
    expanded_paths: Vec<String>,
    expanded_exclude_paths: Vec<String>,
    root: String,
    dest: String,
    must_archive: bool,
    /// Existing paths, with whether each is a directory.
    targets: Vec<(String, bool)>,
    not_found: Vec<String>,
    /// For each target: the entries below it in `os.walk` order, with `is_dir`.
    walked: Vec<Vec<(String, bool)>>,
    before: Option<DestInfo>,
    /// `dest` as it is now, for the attributes.
    dest_entry: Option<Entry>,
    ids: Ids,
    umask: u32,
}

#[derive(Debug)]
pub enum ArchiveAction {
    /// Write the archive (or the compressed file); then maybe remove the sources.
    Build(Box<ArchiveObserved>),
    /// Only `dest`'s attributes differ.
    Attrs(Box<ArchiveObserved>),
}

pub struct ArchiveModule;

/// Ansible's `is_archive`: the name says it is an archive rather than a compressed file.
fn is_archive_name(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    [
        ".tar", ".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".zip",
    ]
    .iter()
    .any(|s| base.ends_with(s))
}

/// Python's `os.path.dirname`.
fn dirname(p: &str) -> &str {
    match p.rfind('/') {
        Some(i) => {
            let head = &p[..=i];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                head
            } else {
                trimmed
            }
        }
        None => "",
    }
}

/// Ansible's `common_path`: the directory all paths share, with a trailing slash.
fn common_path(paths: &[String]) -> String {
    let dirs: Vec<String> = paths
        .iter()
        .map(|p| {
            let d = dirname(p);
            if d.ends_with('/') || d.is_empty() {
                d.to_string()
            } else {
                format!("{d}/")
            }
        })
        .collect();
    let mut prefix = dirs.first().cloned().unwrap_or_default();
    for d in dirs.iter().skip(1) {
        let n = prefix
            .chars()
            .zip(d.chars())
            .take_while(|(a, b)| a == b)
            .count();
        prefix = prefix.chars().take(n).collect();
    }
    let d = dirname(&prefix);
    if d.is_empty() || d.ends_with('/') {
        d.to_string()
    } else {
        format!("{d}/")
    }
}

fn strip_prefix<'a>(prefix: &str, s: &'a str) -> &'a str {
    s.strip_prefix(prefix).unwrap_or(s)
}

/// A glob as a shell word: the wildcard characters bare, everything else quoted.
fn glob_word(pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '*' | '?' | '[' | ']' | '!' => c.to_string(),
            c if c.is_ascii_alphanumeric() || "/._-".contains(c) => c.to_string(),
            c => quote(&c.to_string()),
        })
        .collect()
}

/// Prints `TAG:KIND:PATH` (`d` directory, `f` anything else, `m` missing) for each path
/// Ansible's `expand_paths` gives.
fn expand_script(paths: &[String], tag: &str) -> String {
    let mut s = String::new();
    for p in paths {
        if p.contains('*') || p.contains('?') {
            s.push_str(&format!(
                "for f in {}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then k \"$f\" {tag}; fi; done; ",
                glob_word(p)
            ));
        } else {
            s.push_str(&format!("k {} {tag}; ", quote(p)));
        }
    }
    s
}

const KIND_FN: &str = "k() { if [ -d \"$1\" ]; then c=d; elif [ -e \"$1\" ] || [ -L \"$1\" ]; then c=f; else c=m; fi; printf '%s:%s:%s\\n' \"$2\" \"$c\" \"$1\"; }; ";

/// Prints `dsize:`, `readable` and the comparable listing of `$d` (`ck:` lines and `ckdone`,
/// or `cktarfail` for a `tar` that is not one).
fn checksum_script(format: Format) -> String {
    let listing = match format {
        Format::Zip => {
            "if l=$(unzip -v \"$d\" 2>/dev/null); then printf '%s\\n' \"$l\" | sed 's/^/z:/'; fi; echo ckdone; "
                .to_string()
        }
        Format::Tar => "if l=$(tar -tv --full-time --numeric-owner -f \"$d\" 2>/dev/null); then \
             printf '%s\\n' \"$l\" | sed 's/^/ck:/'; echo ckdone; else echo cktarfail; fi; "
            .to_string(),
        _ => {
            let flag = format.tar_flag();
            let comp = format.compressor().unwrap_or("gzip");
            format!(
                "if l=$(tar -tv --full-time --numeric-owner {flag} -f \"$d\" 2>/dev/null); then \
                 printf '%s\\n' \"$l\" | sed 's/^/ck:/'; \
                 elif {comp} -t < \"$d\" 2>/dev/null; then printf 'ck:crc %s\\n' \"$({comp} -dc < \"$d\" | cksum)\"; fi; \
                 echo ckdone; "
            )
        }
    };
    format!(
        "if [ -e \"$d\" ]; then printf 'dsize:%s\\n' \"$(stat -L -c %s -- \"$d\")\"; \
         if [ -r \"$d\" ]; then echo readable; {listing}fi; fi; "
    )
}

/// Reads what [`checksum_script`] printed.
fn read_dest(report: &Report, format: Format) -> Result<Option<DestInfo>, ModuleError> {
    let Some(size) = report.get("dsize") else {
        return Ok(None);
    };
    let size = size.trim().parse().unwrap_or(0);
    if !report.has("readable") {
        return Ok(Some(DestInfo {
            size,
            checksums: None,
        }));
    }
    if report.has("cktarfail") {
        return Err(ModuleError::failed("tar is not a valid format"));
    }
    let set = if format == Format::Zip {
        zip_checksums(report.all("z"))
    } else {
        report.all("ck").map(str::to_string).collect()
    };
    Ok(Some(DestInfo {
        size,
        checksums: Some(set),
    }))
}

/// (CRC-32, name) of each entry of `unzip -v`'s table.
fn zip_checksums<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_table = false;
    for line in lines {
        if line.starts_with("--------") {
            if in_table {
                break;
            }
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        // Length Method Size Cmpr Date Time CRC-32 Name
        let mut rest = line.trim_start();
        let mut fields = Vec::new();
        for _ in 0..7 {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(&rest[..end]);
            rest = rest[end..].trim_start_matches(' ');
        }
        out.insert(format!("{} {}", fields[6], rest));
    }
    out
}

/// `os.walk(top)` order (top-down: a directory's subdirectories, then its files, then each
/// subdirectory's walk) from `find`'s listing of the tree.
fn walk_order(top: &str, found: &[(String, bool)]) -> Vec<(String, bool)> {
    let mut children: HashMap<&str, Vec<&(String, bool)>> = HashMap::new();
    for e in found {
        children.entry(dirname(&e.0)).or_default().push(e);
    }
    let mut out = Vec::new();
    // Depth-first in os.walk's order: walk(d) emits d's dirs and files, then walks each dir.
    fn walk(
        d: &str,
        children: &HashMap<&str, Vec<&(String, bool)>>,
        out: &mut Vec<(String, bool)>,
    ) {
        let Some(kids) = children.get(d) else { return };
        let dirs: Vec<_> = kids.iter().filter(|e| e.1).collect();
        for e in &dirs {
            out.push((e.0.clone(), true));
        }
        for e in kids.iter().filter(|e| !e.1) {
            out.push((e.0.clone(), false));
        }
        for e in dirs {
            walk(&e.0, children, out);
        }
    }
    let trimmed = top.trim_end_matches('/');
    walk(
        if trimmed.is_empty() { "/" } else { trimmed },
        &children,
        &mut out,
    );
    out
}

impl ArchiveModule {
    /// The entries to write, with their archive names, and what Ansible counts as archived.
    fn members(
        params: &ArchiveParams,
        o: &ArchiveObserved,
    ) -> Result<(Vec<String>, Vec<String>), ModuleError> {
        let patterns = params.patterns()?;
        let excluded = |s: &str| patterns.iter().any(|r| r.is_match(s));
        let mut all: Vec<(String, bool)> = Vec::new();
        if o.must_archive {
            for ((t, is_dir), tree) in o.targets.iter().zip(&o.walked) {
                if *is_dir {
                    all.extend(tree.iter().cloned());
                } else {
                    all.push((t.clone(), false));
                }
            }
        } else if let Some(t) = o.targets.first() {
            all.push(t.clone());
        }
        let mut names = Vec::new();
        let mut archived = Vec::new();
        for (p, is_dir) in all {
            let name = strip_prefix(&o.root, &p).trim_start_matches('/').to_string();
            let skip = if params.format == Format::Zip {
                excluded(&p)
            } else {
                excluded(&name)
            };
            if skip {
                continue;
            }
            // zipfile names a directory `name/`, so Ansible's `getinfo(name)` misses it.
            if !(params.format == Format::Zip && is_dir) {
                archived.push(p.clone());
            }
            names.push(name);
        }
        Ok((names, archived))
    }

    fn base_values(o: &ArchiveObserved, archived: &[String], dest_state: &str) -> Map<String, Value> {
        let list = |v: &[String]| Value::from(v.to_vec());
        let mut values = Map::new();
        values.insert("archived".into(), list(archived));
        values.insert("dest".into(), o.dest.clone().into());
        values.insert("dest_state".into(), dest_state.into());
        values.insert("arcroot".into(), o.root.clone().into());
        values.insert("missing".into(), list(&o.not_found));
        values.insert("expanded_paths".into(), list(&o.expanded_paths));
        values.insert(
            "expanded_exclude_paths".into(),
            list(&o.expanded_exclude_paths),
        );
        values
    }

    async fn finish(
        params: &ArchiveParams,
        o: &ArchiveObserved,
        mut values: Map<String, Value>,
        mut changed: bool,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        // update_permissions, on dest as it is now.
        let mut script = attrs::assign("p", &o.dest);
        script.push_str(&attrs::probe("p", "p"));
        let report = attrs::run(ctx.host, &script).await?;
        if let Some(entry) = report.probe("p")?.entry {
            let change = attrs::changes(&entry.stat, &params.wanted(), &o.ids, o.umask)?;
            if !change.is_empty() {
                changed = true;
                let fix = attrs::apply_script(&quote(&o.dest), &change, false);
                ctx.host.sh_ok(&format!("set -e; {fix}")).await?;
            }
        }
        values.extend(attrs::path_info_on(ctx.host, &o.dest).await?);
        let mut out = if changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        out.values = values;
        Ok(out)
    }
}

#[async_trait]
impl Module for ArchiveModule {
    type Params = ArchiveParams;
    type Observed = ArchiveObserved;
    type Action = ArchiveAction;

    const NAME: &'static str = "archive";

    async fn query(
        &self,
        params: &ArchiveParams,
        ctx: &Context<'_>,
    ) -> Result<ArchiveObserved, ModuleError> {
        let mut script = KIND_FN.to_string();
        script.push_str(&expand_script(&params.path, "p"));
        script.push_str(&expand_script(&params.exclude_path, "x"));
        let report = attrs::run(ctx.host, &script).await?;
        let read = |tag: &str| -> Vec<(String, char)> {
            report
                .all(tag)
                .filter_map(|v| {
                    let (k, p) = v.split_once(':')?;
                    Some((p.to_string(), k.chars().next().unwrap_or('m')))
                })
                .collect()
        };
        let expanded = read("p");
        let excluded = read("x");
        let expanded_paths: Vec<String> = expanded.iter().map(|e| e.0.clone()).collect();
        let expanded_exclude_paths: Vec<String> = excluded.iter().map(|e| e.0.clone()).collect();
        let kinds: HashMap<&str, char> = expanded.iter().map(|e| (e.0.as_str(), e.1)).collect();
        let paths: Vec<String> = expanded_paths
            .iter()
            .filter(|p| !expanded_exclude_paths.contains(p))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if paths.is_empty() {
            let mut values = Map::new();
            values.insert("path".into(), params.path.join(", ").into());
            values.insert("expanded_paths".into(), expanded_paths.join(", ").into());
            values.insert(
                "expanded_exclude_paths".into(),
                expanded_exclude_paths.join(", ").into(),
            );
            return Err(ModuleError::Failed {
                msg: "Error, no source paths were found".into(),
                values,
            });
        }
        let root = common_path(&paths);
        let has_globs = params.path.iter().any(|p| p.contains('*') || p.contains('?'));
        let must_archive = params.force_archive
            || has_globs
            || kinds.get(paths[0].as_str()) == Some(&'d')
            || paths.len() > 1;
        let dest = match &params.dest {
            Some(d) if !d.is_empty() => d.clone(),
            _ if !must_archive => format!("{}.{}", paths[0], params.format.name()),
            _ => {
                let mut values = Map::new();
                values.insert("dest".into(), Value::Null);
                values.insert("path".into(), params.path.join(", ").into());
                return Err(ModuleError::Failed {
                    msg: "Error, must specify \"dest\" when archiving multiple files or trees"
                        .into(),
                    values,
                });
            }
        };
        if params.remove {
            for p in &paths {
                if kinds.get(p.as_str()) == Some(&'d')
                    && dest.starts_with(&format!("{}/", p.trim_end_matches('/')))
                {
                    let mut values = Map::new();
                    values.insert("path".into(), paths.join(", ").into());
                    return Err(ModuleError::Failed {
                        msg: "Error, created archive can not be contained in source paths when remove=true".into(),
                        values,
                    });
                }
            }
        }
        let mut targets = Vec::new();
        let mut not_found = Vec::new();
        for p in &paths {
            match kinds.get(p.as_str()) {
                Some('d') => targets.push((p.clone(), true)),
                Some('f') => targets.push((p.clone(), false)),
                _ => not_found.push(p.clone()),
            }
        }

        let mut script = attrs::assign("d", &dest);
        script.push_str(&checksum_script(params.format));
        if must_archive {
            for (t, is_dir) in &targets {
                if *is_dir {
                    script.push_str(&format!(
                        "find {} -mindepth 1 -exec sh -c 'for f do if [ -d \"$f\" ]; then printf \"w:d:%s\\n\" \"$f\"; else printf \"w:f:%s\\n\" \"$f\"; fi; done' sh {{}} + || true; ",
                        quote(t)
                    ));
                }
            }
        }
        script.push_str(&attrs::assign("p", &dest));
        script.push_str(&attrs::probe("p", "p"));
        script.push_str(attrs::umask());
        script.push_str(&attrs::lookup_ids(
            params.owner.as_deref(),
            params.group.as_deref(),
        ));
        let report = attrs::run(ctx.host, &script).await?;
        let before = read_dest(&report, params.format)?;
        let mut walked = Vec::new();
        for (t, is_dir) in &targets {
            if !*is_dir {
                walked.push(Vec::new());
                continue;
            }
            let prefix = format!("{}/", t.trim_end_matches('/'));
            let found: Vec<(String, bool)> = report
                .all("w")
                .filter_map(|v| {
                    let (k, p) = v.split_once(':')?;
                    p.starts_with(&prefix).then(|| (p.to_string(), k == "d"))
                })
                .collect();
            walked.push(walk_order(t, &found));
        }
        Ok(ArchiveObserved {
            expanded_paths,
            expanded_exclude_paths,
            root,
            dest,
            must_archive,
            targets,
            not_found,
            walked,
            before,
            dest_entry: report.probe("p")?.entry,
            ids: Ids::from_report(params.owner.as_deref(), params.group.as_deref(), &report),
            umask: report.umask(),
        })
    }

    fn plan(
        &self,
        params: &ArchiveParams,
        o: ArchiveObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<ArchiveAction>, ModuleError> {
        let attr_change = match &o.dest_entry {
            Some(e) => attrs::changes(&e.stat, &params.wanted(), &o.ids, o.umask)?,
            None => AttrChange::default(),
        };
        if o.targets.is_empty() {
            let state = match o.before {
                Some(_) if is_archive_name(&o.dest) => "archive",
                Some(_) => "compress",
                None => "absent",
            };
            let mut values = Self::base_values(&o, &[], state);
            if let Some(e) = &o.dest_entry {
                values.extend(attrs::path_info(e));
            }
            let mut out = if attr_change.is_empty() {
                Outcome::ok()
            } else {
                Outcome::changed()
            };
            out.values = values;
            return Ok(if attr_change.is_empty() {
                Planned::Done(out)
            } else {
                Planned::Change {
                    action: ArchiveAction::Attrs(Box::new(o)),
                    preview: out,
                }
            });
        }
        // Check mode: an archive is always a change; a single file when dest is missing.
        let changed = if o.must_archive {
            true
        } else {
            o.before.is_none()
        };
        let mut values = Self::base_values(&o, &[], "absent");
        if let Some(e) = &o.dest_entry {
            values.extend(attrs::path_info(e));
        }
        let mut preview = if changed || !attr_change.is_empty() {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        preview.values = values;
        let _ = ctx;
        Ok(Planned::Change {
            action: ArchiveAction::Build(Box::new(o)),
            preview,
        })
    }

    async fn apply(
        &self,
        params: &ArchiveParams,
        action: ArchiveAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let o = match action {
            ArchiveAction::Build(o) => o,
            ArchiveAction::Attrs(o) => {
            let state = if is_archive_name(&o.dest) {
                "archive"
            } else {
                "compress"
            };
                let values = Self::base_values(&o, &[], state);
                return Self::finish(params, &o, values, false, ctx).await;
            }
        };
        let (names, archived) = Self::members(params, &o)?;
        let format = params.format;
        let compress_only = !o.must_archive && format.compressor().is_some();
        let mut script = attrs::assign("d", &o.dest);
        script.push_str(
            "set -e; dir=$(dirname -- \"$d\"); \
             t=$(mktemp -d \"$dir/.tend.XXXXXXXX\"); trap 'rm -rf -- \"$t\"' EXIT INT TERM HUP; ",
        );
        let mut stdin = Vec::new();
        let (what, archived) = if compress_only {
            let src = &o.targets[0].0;
            let comp = format.compressor().unwrap_or("gzip");
            script.push_str(&format!("{comp} -c < {} > \"$t/a.zip\"; ", quote(src)));
            ("compress", vec![src.clone()])
        } else {
            script.push_str(&format!("cd {}; ", quote(&o.root)));
            if format == Format::Zip {
                for n in &names {
                    stdin.extend_from_slice(n.as_bytes());
                    stdin.push(b'\n');
                }
                if names.is_empty() {
                    // Info-ZIP writes nothing for an empty list; zipfile an empty archive.
                    script.push_str("printf 'PK\\005\\006\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0' > \"$t/a.zip\"; ");
                } else {
                    script.push_str("zip -q \"$t/a.zip\" -@ >&2; ");
                }
            } else {
                for n in &names {
                    stdin.extend_from_slice(n.as_bytes());
                    stdin.push(0);
                }
                script.push_str(&format!(
                    "tar --null --no-recursion -T - -c {} -f \"$t/a.zip\"; ",
                    format.tar_flag()
                ));
            }
            ("archive", archived)
        };
        script.push_str(
            "if [ -e \"$d\" ]; then chmod --reference=\"$d\" \"$t/a.zip\" 2>/dev/null || true; \
             chown --reference=\"$d\" \"$t/a.zip\" 2>/dev/null || true; \
             else chmod \"$(printf '%o' $((0666 & ~$(umask))))\" \"$t/a.zip\"; fi; \
             mv -f -- \"$t/a.zip\" \"$d\"; cd /; ",
        );
        script.push_str(&checksum_script(format));
        let out = ctx.host.sh_with_stdin(&script, &stdin).await?;
        if !out.success() {
            let err = out.stderr_lossy().trim().to_string();
            let msg = if compress_only {
                format!("Unable to write to compressed file: {err}")
            } else {
                let fmt = match format {
                    Format::Zip | Format::Tar => format.name().to_string(),
                    f => format!("tar.{}", f.name()),
                };
                format!("Error when writing {fmt} archive at {}: {err}", o.dest)
            };
            return Err(ModuleError::failed(msg));
        }
        let after = read_dest(&Report::parse(&out.stdout), format)?;
        let changed = match (&o.before, &after) {
            (Some(DestInfo {
                checksums: Some(b), ..
            }), Some(DestInfo {
                checksums: Some(a), ..
            })) => a != b,
            (Some(DestInfo { checksums: Some(_), .. }), _) => true,
            (before, after) => {
                before.as_ref().map_or(0, |d| d.size) != after.as_ref().map_or(0, |d| d.size)
            }
        };
        let dest_state = match what {
            "compress" => "compress",
            _ if !o.must_archive => "archive",
            _ if o.not_found.is_empty() => "archive",
            _ => "incomplete",
        };
        if params.remove {
            let mut rm = String::new();
            if compress_only || !o.must_archive {
                rm.push_str(&format!("rm -f -- {}; ", quote(&o.targets[0].0)));
            } else {
                for p in &archived {
                    let p = quote(p);
                    rm.push_str(&format!("if [ -e {p} ]; then rm -rf -- {p} || echo err:{p}; fi; "));
                }
                for (p, is_dir) in &o.targets {
                    if *is_dir {
                        let p = quote(p);
                        rm.push_str(&format!("rm -rf -- {p} || echo err:{p}; "));
                    }
                }
            }
            let report = attrs::run(ctx.host, &rm).await?;
            let errors: Vec<String> = report.all("err").map(str::to_string).collect();
            if !errors.is_empty() {
                let mut values = Map::new();
                values.insert("dest".into(), o.dest.clone().into());
                values.insert("files".into(), errors.into());
                return Err(ModuleError::Failed {
                    msg: "Error deleting some source files: ".into(),
                    values,
                });
            }
        }
        let values = Self::base_values(&o, &archived, dest_state);
        Self::finish(params, &o, values, changed, ctx).await
    }
}

tend_module_api::register_module!(ArchiveModule);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_path_as_ansible() {
        assert_eq!(common_path(&["/srv/data".into()]), "/srv/");
        assert_eq!(
            common_path(&["/srv/a/x".into(), "/srv/b/y".into()]),
            "/srv/"
        );
        assert_eq!(common_path(&["/srv/a/x".into(), "/srv/a/y".into()]), "/srv/a/");
        assert_eq!(common_path(&["/x".into(), "/y".into()]), "/");
    }

    #[test]
    fn archive_names() {
        assert!(is_archive_name("/a/b.tar.gz"));
        assert!(is_archive_name("/a/b.ZIP"));
        assert!(!is_archive_name("/a/b.gz"));
    }

    #[test]
    fn walk_is_top_down_dirs_first() {
        let found = vec![
            ("/t/f1".to_string(), false),
            ("/t/d".to_string(), true),
            ("/t/d/f2".to_string(), false),
            ("/t/f3".to_string(), false),
        ];
        let order: Vec<String> = walk_order("/t", &found).into_iter().map(|e| e.0).collect();
        assert_eq!(order, ["/t/d", "/t/f1", "/t/f3", "/t/d/f2"]);
    }

    #[test]
    fn zip_table_gives_crc_and_name() {
        let lines = [
            "Archive:  x.zip",
            " Length   Method    Size  Cmpr    Date    Time   CRC-32   Name",
            "--------  ------  ------- ---- ---------- ----- --------  ----",
            "       0  Stored        0   0% 2026-11-22 08:00 00000000  d/",
            "       4  Stored        4   0% 2026-11-22 08:00 3610a686  d/a b",
            "--------          -------  ---                            -------",
        ];
        let set = zip_checksums(lines.into_iter());
        assert!(set.contains("3610a686 d/a b"), "{set:?}");
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn glob_words_keep_wildcards() {
        assert_eq!(glob_word("/srv/a b/*.txt"), "/srv/a' 'b/*.txt");
    }
}
