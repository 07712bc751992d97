//! What the path-managing modules share: probing paths with one `sh` call, comparing and
//! applying mode/owner/group, Ansible's attribute diff and its path-info return values.
//!
//! A module builds one script from the snippets here, runs it, and reads the tagged lines it
//! prints with [`Report`]. Apply scripts end with another probe, so the values a module returns
//! after a change cost no extra round trip.

use serde_json::{Map, Value};
use tend_module_api::mode::{format_mode, ModeArg};
use tend_module_api::{quote, Diff, FileKind, FileStat, Host, ModuleError};

/// `stat -c` format. The raw mode in hex (`%f`) gives type and permissions the same way on GNU
/// and BusyBox, whose `%F` wordings differ.
const STAT_FORMAT: &str = "%f|%u|%g|%U|%G|%s|%Y|%X|%Z|%h|%i|%d|%b|%o|%t|%T";
const STAT_FIELDS: usize = 16;
/// Separates the tagged lines of a report from raw file content that follows them.
pub(crate) const CONTENT_MARKER: &str = "__TEND_CONTENT__";

/// One `stat` of a path, with the fields beyond [`FileStat`] that the stat module returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub stat: FileStat,
    /// `st_mode` with the file-type bits.
    pub raw_mode: u32,
    /// The user and group have names (`stat` says `UNKNOWN` otherwise; `stat.owner` is then
    /// the number, as Ansible reports it).
    pub owner_known: bool,
    pub group_known: bool,
    pub atime: i64,
    pub ctime: i64,
    pub nlink: u64,
    pub inode: u64,
    pub dev: u64,
    pub blocks: u64,
    pub block_size: u64,
    pub rdev: u64,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.stat.kind == FileKind::Directory
    }

    pub fn is_link(&self) -> bool {
        self.stat.kind == FileKind::Link
    }

    /// Ansible's `get_state`: `link`, `directory`, `hard` (a non-directory with several links)
    /// or `file` for everything else.
    pub fn state(&self) -> &'static str {
        match self.stat.kind {
            FileKind::Link => "link",
            FileKind::Directory => "directory",
            _ if self.nlink > 1 => "hard",
            _ => "file",
        }
    }
}

/// Ansible's state name for what is (or is not) at a path.
pub(crate) fn state_of(entry: Option<&Entry>) -> &'static str {
    entry.map_or("absent", Entry::state)
}

/// What a probe found at one path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Probe {
    /// `lstat`; `None` when nothing is there.
    pub entry: Option<Entry>,
    /// For a symlink: the fully resolved path (`readlink -f`), even when the target is missing.
    pub real: Option<String>,
    /// For a symlink: `stat` of what it finally points to, if that exists.
    pub target: Option<Entry>,
}

/// Sets shell variable `var` to `path`, expanding a leading `~` to `$HOME` on the host as
/// Ansible's `path` parameters are expanded there.
pub(crate) fn assign(var: &str, path: &str) -> String {
    if path == "~" {
        format!("{var}=\"$HOME\"; ")
    } else if let Some(rest) = path.strip_prefix("~/") {
        format!("{var}=\"$HOME\"/{}; ", quote(rest))
    } else {
        format!("{var}={}; ", quote(path))
    }
}

/// Prints `key:WORD` (a shell word such as `"$p"`) as one report line. A value holding a
/// newline (a file name may) would split the line, so such a value is printed hex-encoded as
/// `key.hex:…` instead, which [`Report::parse`] decodes back into `key`. Only builtins run
/// unless the value really holds a newline.
pub(crate) fn show(key: &str, word: &str) -> String {
    format!(
        "__v={word}; case \"$__v\" in *'\n'*) printf '{key}.hex:'; \
         printf '%s' \"$__v\" | od -An -v -tx1 | tr -d ' \\n'; echo ;; \
         *) printf '{key}:%s\\n' \"$__v\" ;; esac; "
    )
}

/// Prints `TAG.stat:` (lstat) for the path in `$var`, and for a symlink `TAG.real:` and
/// `TAG.tstat:` (its resolved target); `TAG.absent` when nothing is there.
pub(crate) fn probe(tag: &str, var: &str) -> String {
    format!(
        "if [ -e \"${var}\" ] || [ -L \"${var}\" ]; then \
         stat -c '{tag}.stat:{STAT_FORMAT}' -- \"${var}\" || exit 1; \
         if [ -L \"${var}\" ]; then {link} \
         {real} \
         stat -L -c '{tag}.tstat:{STAT_FORMAT}' -- \"${var}\" 2>/dev/null || true; fi; \
         else echo {tag}.absent; fi; ",
        link = show(
            &format!("{tag}.link"),
            &format!("\"$(readlink -- \"${var}\")\"")
        ),
        real = show(
            &format!("{tag}.real"),
            &format!("\"$(readlink -f -- \"${var}\")\"")
        ),
    )
}

/// Prints `umask:` (the host's, which decides the mode of files it creates). The builtin
/// prints it directly: `$(umask)` would cost the host a fork for every probe.
pub(crate) fn umask() -> &'static str {
    "printf 'umask:'; umask; "
}

/// Prints `sum:` with the digest of the regular, readable file in `$var` (`tool` is
/// `sha1sum`, `sha256sum`, ...).
pub(crate) fn checksum(var: &str, tool: &str) -> String {
    format!(
        "if [ -f \"${var}\" ] && [ -r \"${var}\" ]; then s=$({tool} < \"${var}\") || exit 1; \
         printf 'sum:%s\\n' \"${{s%% *}}\"; fi; "
    )
}

/// Prints `TAG.tree:` lines for everything below the directory in `$var` (not following links).
pub(crate) fn tree(tag: &str, var: &str) -> String {
    format!("find \"${var}\" -exec stat -c '{tag}.tree:{STAT_FORMAT}|%n' -- {{}} + || exit 1; ")
}

/// Prints `TAG.tree:` lines (read with [`Report::tree`]) for each of `paths` (already quoted
/// shell words), not following symlinks; missing paths are skipped.
pub(crate) fn stat_each(tag: &str, paths: &str) -> String {
    format!("stat -c '{tag}.tree:{STAT_FORMAT}|%n' -- {paths} 2>/dev/null || true; ")
}

/// Like [`tree`] with extra `find` options before the expression (`-L` goes first, depth
/// limits after the path), tolerating unreadable directories: `find`'s complaints stay on
/// stderr for the caller to read, and its exit status is ignored.
pub(crate) fn tree_with(tag: &str, var: &str, before: &str, after: &str) -> String {
    format!(
        "find {before} \"${var}\" {after} -exec stat -c '{tag}.tree:{STAT_FORMAT}|%n' -- {{}} + || true; "
    )
}

/// Looks up the uid/gid of owner and group *names* (numbers need no lookup), printing
/// `owner.id:`/`owner.missing` and `group.id:`/`group.missing`.
pub(crate) fn lookup_ids(owner: Option<&str>, group: Option<&str>) -> String {
    let mut script = String::new();
    if let Some(name) = owner.filter(|o| o.parse::<u32>().is_err()) {
        script.push_str(&format!(
            "if x=$(id -u -- {} 2>/dev/null); then echo \"owner.id:$x\"; else echo owner.missing; fi; ",
            quote(name)
        ));
    }
    if let Some(name) = group.filter(|g| g.parse::<u32>().is_err()) {
        // getent knows NSS groups (LDAP, ...); /etc/group covers systems without it.
        script.push_str(&format!(
            "g={}; x=$( (getent group \"$g\" || awk -F: -v g=\"$g\" '$1 == g' /etc/group) 2>/dev/null \
             | cut -d: -f3 | head -n 1); \
             if [ -n \"$x\" ]; then echo \"group.id:$x\"; else echo group.missing; fi; ",
            quote(name)
        ));
    }
    script
}

/// A script's output: `key:value` lines (a line without `:` is a flag), then optionally raw
/// content after [`CONTENT_MARKER`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    lines: Vec<(String, Option<String>)>,
    pub content: Option<Vec<u8>>,
}

impl Report {
    pub fn parse(stdout: &[u8]) -> Report {
        let marker = format!("{CONTENT_MARKER}\n");
        let (head, content) = match find_line(stdout, marker.as_bytes()) {
            Some(at) => (&stdout[..at], Some(stdout[at + marker.len()..].to_vec())),
            None => (stdout, None),
        };
        let lines = String::from_utf8_lossy(head)
            .lines()
            .map(|line| match line.split_once(':') {
                // A value [`show`] had to encode because it holds a newline.
                Some((k, v)) if k.ends_with(".hex") => match decode_hex(v) {
                    Some(text) => (k.trim_end_matches(".hex").to_string(), Some(text)),
                    None => (k.to_string(), Some(v.to_string())),
                },
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (line.to_string(), None),
            })
            .collect();
        Report { lines, content }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn has(&self, flag: &str) -> bool {
        self.lines.iter().any(|(k, _)| k == flag)
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.lines
            .iter()
            .filter(move |(k, _)| k == key)
            .filter_map(|(_, v)| v.as_deref())
    }

    /// The probe printed under `tag` (see [`probe`]).
    pub fn probe(&self, tag: &str) -> Result<Probe, ModuleError> {
        let stat = self.get(&format!("{tag}.stat"));
        let Some(stat) = stat else {
            if self.has(&format!("{tag}.absent")) {
                return Ok(Probe::default());
            }
            return Err(ModuleError::failed(format!(
                "unexpected output from the host while inspecting a path ({tag})"
            )));
        };
        let mut entry = parse_entry(stat)?;
        let link = self.get(&format!("{tag}.link")).map(str::to_string);
        entry.stat.link_target = link.clone();
        let target = match self.get(&format!("{tag}.tstat")) {
            Some(line) => Some(parse_entry(line)?),
            None => None,
        };
        Ok(Probe {
            entry: Some(entry),
            real: self
                .get(&format!("{tag}.real"))
                .filter(|r| link.is_some() && !r.is_empty())
                .map(str::to_string),
            target,
        })
    }

    /// The entries printed by [`tree`] under `tag`, with their paths, except the root itself.
    pub fn tree(&self, tag: &str, root: &str) -> Result<Vec<(String, Entry)>, ModuleError> {
        let key = format!("{tag}.tree");
        let mut out = Vec::new();
        for line in self.all(&key) {
            let mut parts = line.splitn(STAT_FIELDS + 1, '|');
            let fields: Vec<&str> = parts.by_ref().take(STAT_FIELDS).collect();
            let Some(name) = parts.next() else {
                return Err(bad_stat(line));
            };
            if name == root {
                continue;
            }
            out.push((name.to_string(), parse_entry(&fields.join("|"))?));
        }
        Ok(out)
    }

    pub fn umask(&self) -> u32 {
        self.get("umask")
            .and_then(|u| u32::from_str_radix(u.trim(), 8).ok())
            .unwrap_or(tend_module_api::mode::DEFAULT_UMASK)
    }
}

/// `od -tx1` output (spaces and newlines already removed) back to text.
fn decode_hex(hex: &str) -> Option<String> {
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn find_line(haystack: &[u8], line: &[u8]) -> Option<usize> {
    if haystack.starts_with(line) {
        return Some(0);
    }
    haystack
        .windows(line.len() + 1)
        .position(|w| w[0] == b'\n' && &w[1..] == line)
        .map(|at| at + 1)
}

fn bad_stat(line: &str) -> ModuleError {
    ModuleError::failed(format!("cannot read stat output {line:?}"))
}

fn parse_entry(line: &str) -> Result<Entry, ModuleError> {
    let fields: Vec<&str> = line.split('|').collect();
    let [raw, uid, gid, owner, group, size, mtime, atime, ctime, nlink, inode, dev, blocks, block_size, major, minor] =
        fields[..]
    else {
        return Err(bad_stat(line));
    };
    let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| bad_stat(line));
    let num = |s: &str| s.parse::<u64>().map_err(|_| bad_stat(line));
    let int = |s: &str| s.parse::<i64>().map_err(|_| bad_stat(line));
    let raw_mode = hex(raw)? as u32;
    let kind = match raw_mode & 0o170000 {
        0o100000 => FileKind::File,
        0o040000 => FileKind::Directory,
        0o120000 => FileKind::Link,
        0o020000 => FileKind::Other("character special file".into()),
        0o060000 => FileKind::Other("block special file".into()),
        0o010000 => FileKind::Other("fifo".into()),
        0o140000 => FileKind::Other("socket".into()),
        _ => FileKind::Other("unknown".into()),
    };
    let uid = num(uid)? as u32;
    let gid = num(gid)? as u32;
    let owner_known = owner != "UNKNOWN";
    let group_known = group != "UNKNOWN";
    let (major, minor) = (hex(major)?, hex(minor)?);
    Ok(Entry {
        stat: FileStat {
            kind,
            mode: raw_mode & 0o7777,
            uid,
            gid,
            owner: if owner_known {
                owner.to_string()
            } else {
                uid.to_string()
            },
            group: if group_known {
                group.to_string()
            } else {
                gid.to_string()
            },
            size: num(size)?,
            mtime: int(mtime)?,
            link_target: None,
        },
        raw_mode,
        owner_known,
        group_known,
        atime: int(atime)?,
        ctime: int(ctime)?,
        nlink: num(nlink)?,
        inode: num(inode)?,
        dev: num(dev)?,
        blocks: num(blocks)?,
        block_size: num(block_size)?,
        // glibc's makedev, so `device_type` matches Python's st_rdev.
        rdev: (minor & 0xff)
            | ((major & 0xfff) << 8)
            | ((minor & !0xff) << 12)
            | ((major & !0xfff) << 32),
    })
}

/// Runs a script that must succeed and reads its report.
pub(crate) async fn run(host: &Host, script: &str) -> Result<Report, ModuleError> {
    let out = host.sh_ok(script).await?;
    Ok(Report::parse(&out.stdout))
}

/// A wanted owner or group, resolved to its number on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Id {
    Known(u32),
    /// No such user/group on the host (the name as given).
    Missing(String),
}

/// The wanted owner and group as numbers, from [`lookup_ids`]'s output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Ids {
    pub owner: Option<Id>,
    pub group: Option<Id>,
}

impl Ids {
    pub fn from_report(owner: Option<&str>, group: Option<&str>, report: &Report) -> Ids {
        let resolve = |name: &str, key: &str| match name.parse::<u32>() {
            Ok(n) => Id::Known(n),
            Err(_) => report
                .get(&format!("{key}.id"))
                .and_then(|v| v.trim().parse().ok())
                .map_or_else(|| Id::Missing(name.to_string()), Id::Known),
        };
        Ids {
            owner: owner.map(|o| resolve(o, "owner")),
            group: group.map(|g| resolve(g, "group")),
        }
    }

    /// The numbers, or Ansible's error for a user or group the host does not know.
    pub fn known(&self) -> Result<(Option<u32>, Option<u32>), ModuleError> {
        let uid = match &self.owner {
            Some(Id::Missing(name)) => {
                return Err(ModuleError::failed(format!(
                    "chown failed: failed to look up user {name}"
                )))
            }
            Some(Id::Known(n)) => Some(*n),
            None => None,
        };
        let gid = match &self.group {
            Some(Id::Missing(name)) => {
                return Err(ModuleError::failed(format!(
                    "chgrp failed: failed to look up group {name}"
                )))
            }
            Some(Id::Known(n)) => Some(*n),
            None => None,
        };
        Ok((uid, gid))
    }

    /// Ids for a path that does not exist yet: in check mode a missing user or group is only
    /// a warning (an earlier task may create it), as in Ansible.
    pub fn for_new_path(&self, check_mode: bool) -> (Ids, Vec<String>) {
        if !check_mode {
            return (self.clone(), Vec::new());
        }
        let keep = |id: &Option<Id>| id.clone().filter(|i| matches!(i, Id::Known(_)));
        let ids = Ids {
            owner: keep(&self.owner),
            group: keep(&self.group),
        };
        (ids, self.warnings())
    }

    /// Ansible's check-mode warnings for a user or group that does not exist (yet).
    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(Id::Missing(name)) = &self.owner {
            out.push(format!(
                "failed to look up user {name}. Create user up to this point in real play"
            ));
        }
        if let Some(Id::Missing(name)) = &self.group {
            out.push(format!(
                "failed to look up group {name}. Create group up to this point in real play"
            ));
        }
        out
    }
}

/// The attributes a task asks for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Wanted<'a> {
    pub mode: Option<&'a ModeArg>,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
}

/// Attributes to set: only those that differ (or, for a new path, all wanted ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AttrChange {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mode: Option<u32>,
}

impl AttrChange {
    pub fn is_empty(&self) -> bool {
        self.uid.is_none() && self.gid.is_none() && self.mode.is_none()
    }
}

/// What must change on an existing path to give it the wanted attributes. A symlink's own
/// mode cannot be set on Linux, so it is left alone.
pub(crate) fn changes(
    current: &FileStat,
    wanted: &Wanted,
    ids: &Ids,
    umask: u32,
) -> Result<AttrChange, ModuleError> {
    let (uid, gid) = ids.known()?;
    let mode = match wanted.mode {
        Some(mode) if current.kind != FileKind::Link => Some(mode.resolve_with_umask(
            Some(current.mode),
            current.kind == FileKind::Directory,
            umask,
        )?),
        _ => None,
    };
    Ok(AttrChange {
        uid: uid.filter(|&u| u != current.uid),
        gid: gid.filter(|&g| g != current.gid),
        mode: mode.filter(|&m| m != current.mode),
    })
}

/// The attributes to give a path this task is about to create.
pub(crate) fn for_new_path(
    wanted: &Wanted,
    ids: &Ids,
    umask: u32,
    is_dir: bool,
) -> Result<AttrChange, ModuleError> {
    let (uid, gid) = ids.known()?;
    let mode = match wanted.mode {
        Some(mode) => Some(mode.resolve_with_umask(None, is_dir, umask)?),
        None => None,
    };
    Ok(AttrChange { uid, gid, mode })
}

/// Shell commands setting `change` on `path_expr` (a quoted word or `"$var"`). Owner and group
/// go first because `chown` may clear setuid/setgid bits that the mode then sets. `no_deref`
/// changes a symlink itself rather than its target.
pub(crate) fn apply_script(path_expr: &str, change: &AttrChange, no_deref: bool) -> String {
    let h = if no_deref { "-h " } else { "" };
    let mut script = String::new();
    if let Some(uid) = change.uid {
        script.push_str(&format!("chown {h}{uid} -- {path_expr}; "));
    }
    if let Some(gid) = change.gid {
        script.push_str(&format!("chgrp {h}{gid} -- {path_expr}; "));
    }
    if let Some(mode) = change.mode {
        script.push_str(&format!("chmod {} -- {path_expr}; ", chmod_octal(mode)));
    }
    script
}

/// Five octal digits: GNU chmod keeps a directory's setuid/setgid bits for a shorter numeric
/// mode, which would make a wanted `0755` never stick on a setgid directory.
pub(crate) fn chmod_octal(mode: u32) -> String {
    format!("{mode:05o}")
}

/// Ansible's file-module diff: `path` on both sides, then only what changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AttrDiff {
    before: Vec<(&'static str, String)>,
    after: Vec<(&'static str, String)>,
}

impl AttrDiff {
    pub fn new(path: &str) -> Self {
        AttrDiff {
            before: vec![("path", path.to_string())],
            after: vec![("path", path.to_string())],
        }
    }

    pub fn pair(&mut self, key: &'static str, before: impl Into<String>, after: impl Into<String>) {
        self.before.push((key, before.into()));
        self.after.push((key, after.into()));
    }

    /// `state`, shown only when it changes (Ansible's `initial_diff`).
    pub fn state(&mut self, before: &str, after: &str) {
        if before != after {
            self.pair("state", before, after);
        }
    }

    /// Mode, owner and group that change, with numeric ids as Ansible shows them. `current`
    /// is `None` for a path being created: only the new values are shown.
    pub fn attrs(&mut self, current: Option<&FileStat>, change: &AttrChange) {
        let fields: [(&'static str, Option<String>, Option<String>); 3] = [
            (
                "mode",
                current.map(|c| format_mode(c.mode)),
                change.mode.map(format_mode),
            ),
            (
                "owner",
                current.map(|c| c.uid.to_string()),
                change.uid.map(|u| u.to_string()),
            ),
            (
                "group",
                current.map(|c| c.gid.to_string()),
                change.gid.map(|g| g.to_string()),
            ),
        ];
        for (key, before, after) in fields {
            let Some(after) = after else { continue };
            if let Some(before) = before {
                self.before.push((key, before));
            }
            self.after.push((key, after));
        }
    }

    pub fn into_diff(self) -> Diff {
        Diff::attributes(&self.before, &self.after)
    }
}

/// [`path_info`] for `path` on the host, looked up with one `sh` call (nothing when there is
/// nothing at `path`), for modules that return a `path` without having probed it.
pub(crate) async fn path_info_on(
    host: &Host,
    path: &str,
) -> Result<Map<String, Value>, ModuleError> {
    let script = format!("{}{}", assign("p", path), probe("p", "p"));
    let report = run(host, &script).await?;
    Ok(report
        .probe("p")?
        .entry
        .as_ref()
        .map(path_info)
        .unwrap_or_default())
}

/// Ansible's `stat` keys from `mode` to `nlink`, in its order (`stat` and `find` report them).
pub(crate) fn put_stat_kind(e: &Entry, out: &mut Map<String, Value>) {
    let st = &e.stat;
    let other = |k: &str| Value::Bool(matches!(&st.kind, FileKind::Other(d) if d == k));
    let keys = [
        ("mode", Value::from(format!("{:04o}", st.mode))),
        ("isdir", (st.kind == FileKind::Directory).into()),
        ("ischr", other("character special file")),
        ("isblk", other("block special file")),
        ("isreg", (st.kind == FileKind::File).into()),
        ("isfifo", other("fifo")),
        ("islnk", (st.kind == FileKind::Link).into()),
        ("issock", other("socket")),
        ("uid", st.uid.into()),
        ("gid", st.gid.into()),
        ("size", st.size.into()),
        ("inode", e.inode.into()),
        ("dev", e.dev.into()),
        ("nlink", e.nlink.into()),
    ];
    out.extend(keys.into_iter().map(|(k, v)| (k.to_string(), v)));
}

/// Ansible's permission-bit keys, `wusr` to `isgid`, in its order.
pub(crate) fn put_stat_bits(mode: u32, out: &mut Map<String, Value>) {
    let bits = [
        ("wusr", 0o200),
        ("rusr", 0o400),
        ("xusr", 0o100),
        ("wgrp", 0o020),
        ("rgrp", 0o040),
        ("xgrp", 0o010),
        ("woth", 0o002),
        ("roth", 0o004),
        ("xoth", 0o001),
        ("isuid", 0o4000),
        ("isgid", 0o2000),
    ];
    out.extend(
        bits.into_iter()
            .map(|(k, mask)| (k.to_string(), Value::Bool(mode & mask != 0))),
    );
}

/// Ansible's `add_path_info`: the values every file-managing module returns about its path.
pub(crate) fn path_info(entry: &Entry) -> Map<String, Value> {
    let st = &entry.stat;
    let mut values = Map::new();
    values.insert("uid".into(), st.uid.into());
    values.insert("gid".into(), st.gid.into());
    values.insert("owner".into(), st.owner.clone().into());
    values.insert("group".into(), st.group.clone().into());
    values.insert("mode".into(), format_mode(st.mode).into());
    values.insert("state".into(), entry.state().into());
    values.insert("size".into(), st.size.into());
    values
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn shown_values_survive_newlines() {
        for value in [
            "plain",
            "with space",
            "new\nline",
            "\nlead",
            "trail\n",
            "é\n日本",
            "",
        ] {
            let script = format!("{}{}", assign("p", value), show("path", "\"$p\""));
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap_or_else(|e| panic!("sh: {e}"));
            let report = Report::parse(&out.stdout);
            assert_eq!(report.get("path"), Some(value), "{script}");
        }
    }

    /// A stat entry for plan tests.
    pub fn entry(kind: FileKind, mode: u32) -> Entry {
        let type_bits = match kind {
            FileKind::File => 0o100000,
            FileKind::Directory => 0o040000,
            FileKind::Link => 0o120000,
            FileKind::Other(_) => 0o010000,
        };
        Entry {
            stat: FileStat {
                kind,
                mode,
                uid: 1000,
                gid: 1000,
                owner: "alice".into(),
                group: "staff".into(),
                size: 5,
                mtime: 1_700_000_000,
                link_target: None,
            },
            raw_mode: type_bits | mode,
            owner_known: true,
            group_known: true,
            atime: 1_700_000_000,
            ctime: 1_700_000_000,
            nlink: 1,
            inode: 42,
            dev: 2049,
            blocks: 8,
            block_size: 4096,
            rdev: 0,
        }
    }

    #[test]
    fn parses_reports_with_probes_ids_and_content() {
        let out = b"p.stat:81a4|0|0|root|UNKNOWN|5|1700000000|1700000001|1700000002|2|12|2049|8|4096|0|0\n\
umask:0027\nowner.id:33\ngroup.missing\nsum:abc\nq.absent\n\
l.stat:a1ff|0|0|root|root|4|1|1|1|1|13|2049|0|4096|0|0\nl.link:target\nl.real:/tmp/target\n\
__TEND_CONTENT__\nraw\nbytes\n__TEND_CONTENT__\n";
        let r = Report::parse(out);
        let p = r.probe("p").expect("probe");
        let e = p.entry.expect("exists");
        assert_eq!(e.stat.kind, FileKind::File);
        assert_eq!(e.stat.mode, 0o644);
        assert_eq!(e.stat.group, "0");
        assert!(!e.group_known);
        assert_eq!(e.state(), "hard");
        assert_eq!(r.umask(), 0o027);
        assert_eq!(r.get("sum"), Some("abc"));
        assert_eq!(r.probe("q").expect("absent"), Probe::default());
        let l = r.probe("l").expect("link");
        assert_eq!(l.entry.as_ref().map(Entry::state), Some("link"));
        assert_eq!(
            l.entry.and_then(|e| e.stat.link_target).as_deref(),
            Some("target")
        );
        assert_eq!(l.real.as_deref(), Some("/tmp/target"));
        assert_eq!(l.target, None);
        assert_eq!(
            r.content.as_deref(),
            Some(&b"raw\nbytes\n__TEND_CONTENT__\n"[..])
        );
        assert!(r.probe("zzz").is_err());

        let ids = Ids::from_report(Some("www-data"), Some("nogroup"), &r);
        assert_eq!(ids.owner, Some(Id::Known(33)));
        assert_eq!(ids.group, Some(Id::Missing("nogroup".into())));
        let e = ids.known().expect_err("missing group");
        assert_eq!(
            e.to_string(),
            "chgrp failed: failed to look up group nogroup"
        );
        let numeric = Ids::from_report(Some("0"), Some("10"), &Report::default());
        assert_eq!(numeric.known().expect("numbers"), (Some(0), Some(10)));
    }

    #[test]
    fn changes_compare_ids_and_resolve_modes() {
        let current = entry(FileKind::File, 0o644).stat;
        let mode = ModeArg::parse("u+x").expect("mode");
        let wanted = Wanted {
            mode: Some(&mode),
            owner: Some("alice"),
            group: Some("0"),
        };
        let ids = Ids {
            owner: Some(Id::Known(1000)),
            group: Some(Id::Known(0)),
        };
        let change = changes(&current, &wanted, &ids, 0o022).expect("changes");
        assert_eq!(
            change,
            AttrChange {
                uid: None,
                gid: Some(0),
                mode: Some(0o744)
            }
        );
        assert_eq!(
            apply_script("\"$p\"", &change, false),
            "chgrp 0 -- \"$p\"; chmod 00744 -- \"$p\"; "
        );
        let mut diff = AttrDiff::new("/x");
        diff.attrs(Some(&current), &change);
        let diff = diff.into_diff();
        assert_eq!(diff.before, "path: /x\nmode: 0644\ngroup: 1000\n");
        assert_eq!(diff.after, "path: /x\nmode: 0744\ngroup: 0\n");

        let same = Wanted {
            mode: Some(&ModeArg::Octal(0o644)),
            ..Wanted::default()
        };
        assert!(changes(&current, &same, &Ids::default(), 0o022)
            .expect("same")
            .is_empty());
        let link = entry(FileKind::Link, 0o777).stat;
        assert!(changes(&link, &same, &Ids::default(), 0o022)
            .expect("link")
            .is_empty());
        let new = for_new_path(&wanted, &ids, 0o022, true).expect("new");
        assert_eq!(new.mode, Some(0o755));
    }

    #[test]
    fn path_info_matches_add_path_info() {
        let info = path_info(&entry(FileKind::Directory, 0o1777));
        assert_eq!(info["mode"], "01777");
        assert_eq!(info["state"], "directory");
        assert_eq!(info["owner"], "alice");
        assert_eq!(info["uid"], 1000);
    }

    #[test]
    fn tilde_paths_expand_on_the_host() {
        assert_eq!(assign("p", "~"), "p=\"$HOME\"; ");
        assert_eq!(assign("p", "~/a b"), "p=\"$HOME\"/'a b'; ");
        assert_eq!(assign("p", "/etc/x"), "p=/etc/x; ");
    }
}
