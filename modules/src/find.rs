//! `find`: list the files under directories that match patterns, age, size, content or mode.
//! Read-only: never changes anything.
//!
//! ```yaml
//! - name: Old logs
//!   ansible.builtin.find:
//!     paths: /var/log/app
//!     patterns: "*.log,*.gz"
//!     age: 2w
//!     recurse: yes
//!   register: old
//!
//! - ansible.builtin.file:
//!     path: "{{ item.path }}"
//!     state: absent
//!   loop: "{{ old.files }}"
//!
//! - name: Configs mentioning the old host, with checksums
//!   ansible.builtin.find:
//!     paths: [/etc/app, /srv/app/conf]
//!     patterns: '^.*\.(conf|ini)$'
//!     use_regex: yes
//!     contains: 'db\.old\.example'
//!     get_checksum: yes
//! ```
//!
//! The host is listed with `find` and `stat` (one `sh` call); the matching is done on the
//! controller exactly as Ansible's module walks (`os.walk`, top-down, files before directories
//! of each directory, in directory order): glob patterns are Python's `fnmatch`, `use_regex`
//! patterns Python's `re.match`, both on the base name; `excludes` take precedence;
//! `hidden: no` skips names starting with `.` (but still walks into hidden directories, as
//! Ansible does); `depth` counts from the given path; `age` (`-2d`, `3h`, ...) and `size`
//! (`10k`, `-1m`) filter as Ansible's; `mode` with `exact_mode`; `limit`. With `contains` or
//! `get_checksum`, a second `sh` call reads the candidate files (or their digest).
//!
//! Returns `files` (each with `path` and the stat keys Ansible gives: `mode`, `isdir`, `isreg`,
//! `islnk`, ..., `uid`, `gid`, `pw_name`, `gr_name`, `size`, `inode`, `dev`, `nlink`, `atime`,
//! `mtime`, `ctime`, the permission flags, and `checksum` with `get_checksum`), `matched`,
//! `examined`, `msg` and `skipped_paths`.
//!
//! Differences from Ansible: `atime`/`mtime`/`ctime` are whole seconds (Ansible gives float
//! seconds); `contains` reads files as UTF-8 (or `latin-1`/`ascii` when `encoding` says so), a
//! file that does not decode skips the rest of its path with Ansible's warning; file names
//! holding a newline are not supported.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::mode::ModeArg;
use tend_module_api::{quote, Context, FileKind, Module, ModuleError, Outcome, Planned};

use crate::attrs::{self, Entry, Report};
use crate::pyre;
use crate::stat::ChecksumAlgorithm;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    Any,
    Directory,
    #[default]
    File,
    Link,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeStamp {
    Atime,
    Ctime,
    #[default]
    Mtime,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindParams {
    /// Directories to search (a list, or a comma-separated string).
    #[serde(alias = "name", alias = "path")]
    pub paths: Vec<String>,
    /// Glob patterns (or Python regexes with `use_regex`) the base name must match; any of them.
    #[serde(default, alias = "pattern")]
    pub patterns: Vec<String>,
    /// Patterns whose matches are left out.
    #[serde(default, alias = "exclude")]
    pub excludes: Option<Vec<String>>,
    /// A Python regex a line of the file must match (files only).
    pub contains: Option<String>,
    /// Apply `contains` to the whole file with `re.search` instead of line by line.
    #[serde(default)]
    pub read_whole_file: bool,
    /// What kind of entries to return.
    #[serde(default)]
    pub file_type: FileType,
    /// Older than this (`30`, `2d`, `1w`; negative: younger than).
    pub age: Option<String>,
    /// Which timestamp `age` looks at.
    #[serde(default)]
    pub age_stamp: AgeStamp,
    /// At least this big (`10k`, `1m`; negative: at most).
    pub size: Option<String>,
    /// Descend into subdirectories.
    #[serde(default)]
    pub recurse: bool,
    /// Include names starting with `.`.
    #[serde(default)]
    pub hidden: bool,
    /// Walk into symlinked directories.
    #[serde(default)]
    pub follow: bool,
    /// Return a `checksum` for regular files.
    #[serde(default)]
    pub get_checksum: bool,
    /// Digest for each file's `checksum` with `get_checksum`.
    #[serde(default, alias = "checksum", alias = "checksum_algo")]
    pub checksum_algorithm: ChecksumAlgorithm,
    /// `patterns` and `excludes` are Python regexes, not globs.
    #[serde(default)]
    pub use_regex: bool,
    /// How deep to look below each path (with `recurse`); unset or 0: no limit.
    pub depth: Option<i64>,
    /// Permission bits the entries must have (octal or symbolic string).
    pub mode: Option<Value>,
    /// `mode` must match exactly; `no`: any of its bits is enough.
    #[serde(default = "yes")]
    pub exact_mode: bool,
    /// The encoding `contains` reads files with.
    pub encoding: Option<String>,
    /// Stop after this many matches.
    pub limit: Option<i64>,
}

/// One entry the host listed.
#[derive(Debug, Clone)]
struct Listed {
    /// As `find` printed it.
    raw: String,
    entry: Entry,
    /// A symlink to a directory (`os.walk` puts it among the directories).
    link_to_dir: bool,
}

/// What the host listed for one of `paths`.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// The path as given (after `~`).
    path: String,
    /// Why it was not examined (`'x' is not a directory`).
    error: Option<String>,
    /// The root first, then everything below, in `find`'s (directory) order.
    listed: Vec<Listed>,
    /// Directories that could not be read, with Python's error text.
    unreadable: Vec<(String, String)>,
}

/// What the query found.
#[derive(Debug, Clone, Default)]
pub struct FindObserved {
    trees: Vec<Tree>,
    /// The host's clock, seconds since the epoch.
    now: i64,
    /// Which candidate files' content matched `contains` (by normalized path).
    contents: HashMap<String, ContentResult>,
    checksums: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ContentResult {
    Match,
    NoMatch,
    /// Does not decode; the message Ansible gives.
    Undecodable(String),
}

/// The parsed filters.
#[derive(Debug)]
struct Filters {
    patterns: Vec<Matcher>,
    excludes: Vec<Matcher>,
    age: Option<i64>,
    size: Option<i64>,
    mode: Option<u32>,
}

#[derive(Debug)]
enum Matcher {
    Regex(regex::Regex),
}

impl Matcher {
    fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Regex(re) => re.is_match(name),
        }
    }
}

pub struct FindModule;

#[async_trait]
impl Module for FindModule {
    type Params = FindParams;
    type Observed = FindObserved;
    type Action = Infallible;

    const NAME: &'static str = "find";

    async fn query(
        &self,
        params: &FindParams,
        ctx: &Context<'_>,
    ) -> Result<FindObserved, ModuleError> {
        let filters = Filters::parse(params)?;
        let mut script = String::from("printf 'now:%s\\n' \"$(date +%s)\"; ");
        let before = if params.follow { "-L" } else { "" };
        let after = if !params.recurse {
            "-maxdepth 1".to_string()
        } else {
            match params.depth {
                // Entries one level deeper are still counted as examined.
                Some(d) if d > 0 => format!("-maxdepth {}", d + 1),
                _ => String::new(),
            }
        };
        for (i, path) in params.paths.iter().enumerate() {
            script.push_str(&attrs::assign("p", path));
            script.push_str(&format!(
                "printf 'p{i}.path:%s\\n' \"$p\"; \
                 if [ ! -d \"$p\" ]; then echo p{i}.notdir; else \
                 {tree}\
                 find {before} \"$p\" {after} -exec sh -c \
                 'for f; do if [ -L \"$f\" ] && [ -d \"$f\" ]; then printf \"p{i}.ldir:%s\\n\" \"$f\"; fi; done' \
                 sh {{}} + || true; fi; ",
                tree = attrs::tree_with(&format!("p{i}"), "p", before, &after),
            ));
        }
        let out = ctx.host.sh(&script).await?;
        let report = Report::parse(&out.stdout);
        let denied = permission_denied(&out.stderr_lossy());
        let mut trees = Vec::new();
        for (i, given) in params.paths.iter().enumerate() {
            let tag = format!("p{i}");
            let path = report
                .get(&format!("{tag}.path"))
                .unwrap_or(given)
                .to_string();
            if report.has(&format!("{tag}.notdir")) {
                trees.push(Tree {
                    error: Some(format!("'{path}' is not a directory")),
                    path,
                    ..Tree::default()
                });
                continue;
            }
            let ldir_key = format!("{tag}.ldir");
            let ldirs: HashSet<&str> = report.all(&ldir_key).collect();
            let listed: Vec<Listed> = report
                .tree(&tag, "")?
                .into_iter()
                .map(|(raw, entry)| Listed {
                    link_to_dir: ldirs.contains(raw.as_str()),
                    raw,
                    entry,
                })
                .collect();
            let unreadable = denied
                .iter()
                .filter(|d| {
                    listed
                        .iter()
                        .any(|l| l.raw == **d && (l.entry.is_dir() || l.link_to_dir))
                })
                .map(|d| (d.clone(), format!("[Errno 13] Permission denied: '{d}'")))
                .collect();
            trees.push(Tree {
                path,
                error: None,
                listed,
                unreadable,
            });
        }
        let now = report
            .get("now")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let mut observed = FindObserved {
            trees,
            now,
            ..FindObserved::default()
        };

        // Candidates: what passes every filter but `contains`, ignoring `limit`.
        let candidates = walk(params, &filters, &observed, None).candidates;
        let need_content = params.contains.is_some() && params.file_type == FileType::File;
        let regular: Vec<&String> = candidates
            .iter()
            .filter(|(_, is_reg)| *is_reg)
            .map(|(p, _)| p)
            .collect();
        if (need_content || params.get_checksum) && !regular.is_empty() {
            let tool = params.checksum_algorithm.tool();
            let mut script = String::new();
            for (i, path) in regular.iter().enumerate() {
                script.push_str(&format!("f={}; ", quote(path)));
                if params.get_checksum {
                    script.push_str(&format!(
                        "if [ -f \"$f\" ] && [ -r \"$f\" ]; then s=$({tool} < \"$f\") && printf 'S{i}:%s\\n' \"${{s%% *}}\"; fi; "
                    ));
                }
                if need_content {
                    script.push_str(&format!(
                        "if [ -f \"$f\" ] && [ -r \"$f\" ] && n=$(wc -c < \"$f\"); then \
                         printf 'C{i}:%s\\n' $n; head -c $n -- \"$f\"; fi; "
                    ));
                }
            }
            let out = ctx.host.sh(&script).await?;
            let (sums, contents) = parse_second(&out.stdout)?;
            for (i, path) in regular.iter().enumerate() {
                if let Some(sum) = sums.get(&i) {
                    observed.checksums.insert((*path).clone(), sum.clone());
                }
                if let (Some(pattern), true) = (&params.contains, need_content) {
                    let result = match contents.get(&i) {
                        Some(bytes) => content_matches(
                            path,
                            bytes,
                            pattern,
                            params.read_whole_file,
                            params.encoding.as_deref(),
                        )?,
                        // Unreadable: Ansible's contentfilter swallows the error.
                        None => ContentResult::NoMatch,
                    };
                    observed.contents.insert((*path).clone(), result);
                }
            }
        }
        Ok(observed)
    }

    fn plan(
        &self,
        params: &FindParams,
        observed: FindObserved,
        _ctx: &Context<'_>,
    ) -> Result<Planned<Infallible>, ModuleError> {
        let filters = Filters::parse(params)?;
        let walked = walk(params, &filters, &observed, params.limit);
        let mut outcome = Outcome::ok();
        outcome.warnings = walked.warnings;
        let matched = walked.files.len();
        Ok(Planned::Done(
            outcome
                .with_msg(walked.msg)
                .with_value(
                    "files",
                    Value::Array(walked.files.into_iter().map(Value::Object).collect()),
                )
                .with_value("matched", matched)
                .with_value("examined", walked.examined)
                .with_value("skipped_paths", Value::Object(walked.skipped)),
        ))
    }

    async fn apply(
        &self,
        _params: &FindParams,
        action: Infallible,
        _ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {}
    }
}

tend_module_api::register_module!(FindModule);

/// The directories `find` could not read, from its complaints on stderr.
fn permission_denied(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("find: ")?;
            let rest = rest.strip_suffix(": Permission denied")?;
            let inner = rest
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .or_else(|| rest.strip_prefix('‘').and_then(|r| r.strip_suffix('’')))
                .unwrap_or(rest);
            Some(inner.to_string())
        })
        .collect()
}

/// The second script's output: `S<i>:<digest>` lines and `C<i>:<n>` headers each followed
/// by `n` bytes of content.
#[allow(clippy::type_complexity)]
fn parse_second(
    out: &[u8],
) -> Result<(HashMap<usize, String>, HashMap<usize, Vec<u8>>), ModuleError> {
    let mut sums = HashMap::new();
    let mut contents = HashMap::new();
    let mut at = 0;
    let bad = || ModuleError::failed("unexpected output from the host while reading files");
    while at < out.len() {
        let end = out[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(out.len(), |n| at + n);
        let line = String::from_utf8_lossy(&out[at..end]).into_owned();
        at = (end + 1).min(out.len().max(end + 1));
        let (head, value) = line.split_once(':').ok_or_else(bad)?;
        let (kind, index) = head.split_at(1);
        let index: usize = index.parse().map_err(|_| bad())?;
        match kind {
            "S" => {
                sums.insert(index, value.to_string());
            }
            "C" => {
                let n: usize = value.trim().parse().map_err(|_| bad())?;
                let stop = (at + n).min(out.len());
                contents.insert(index, out[at..stop].to_vec());
                at = stop;
            }
            _ => return Err(bad()),
        }
    }
    Ok((sums, contents))
}

/// Ansible's `contentfilter` on one file's bytes.
fn content_matches(
    path: &str,
    bytes: &[u8],
    pattern: &str,
    whole: bool,
    encoding: Option<&str>,
) -> Result<ContentResult, ModuleError> {
    let norm = encoding.map(|e| e.to_ascii_lowercase().replace(['_', ' '], "-"));
    let text = match norm.as_deref() {
        None | Some("utf-8") | Some("utf8") => std::str::from_utf8(bytes).ok().map(str::to_string),
        Some("ascii") | Some("us-ascii") => bytes
            .is_ascii()
            .then(|| String::from_utf8_lossy(bytes).into_owned()),
        Some("latin-1") | Some("latin1") | Some("iso-8859-1") | Some("iso8859-1") => {
            Some(bytes.iter().map(|&b| b as char).collect())
        }
        Some(other) => {
            return Err(ModuleError::failed(format!(
                "encoding {other} is not supported by tend's find (use utf-8, ascii or latin-1)"
            )))
        }
    };
    let Some(text) = text else {
        let shown = encoding.map_or_else(
            || {
                "None (default determined by the Python built-in function \"open\")".to_string()
            },
            str::to_string,
        );
        return Ok(ContentResult::Undecodable(format!(
            "Failed to read the file {path} due to an encoding error. current encoding: {shown}"
        )));
    };
    // Python's text mode turns \r\n and \r into \n.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let found = if whole {
        let re = pyre::compile(pattern, false, false).map_err(|e| {
            ModuleError::failed(format!("invalid regular expression {pattern:?}: {e}"))
        })?;
        re.is_match(&text)
    } else {
        let re = regex::Regex::new(&format!(
            "\\A(?:{})",
            pyre::translate_with(pattern, true)
        ))
        .map_err(bad_regex(pattern))?;
        text.split_inclusive('\n').any(|line| re.is_match(line))
    };
    Ok(if found {
        ContentResult::Match
    } else {
        ContentResult::NoMatch
    })
}

fn bad_regex(pattern: &str) -> impl Fn(regex::Error) -> ModuleError + '_ {
    move |e| ModuleError::failed(format!("invalid regular expression {pattern:?}: {e}"))
}

impl Filters {
    fn parse(params: &FindParams) -> Result<Filters, ModuleError> {
        let compile = |p: &String| -> Result<Matcher, ModuleError> {
            let re = if params.use_regex {
                regex::Regex::new(&format!("\\A(?:{})", pyre::translate(p)))
            } else {
                regex::Regex::new(&fnmatch_regex(p))
            };
            re.map(Matcher::Regex).map_err(bad_regex(p))
        };
        let mut patterns = params
            .patterns
            .iter()
            .map(compile)
            .collect::<Result<Vec<_>, _>>()?;
        if patterns.is_empty() {
            // Ansible's default: match everything (so `excludes` alone works).
            patterns.push(Matcher::Regex(
                regex::Regex::new("").map_err(bad_regex(""))?,
            ));
        }
        let excludes = params
            .excludes
            .iter()
            .flatten()
            .map(compile)
            .collect::<Result<Vec<_>, _>>()?;
        let age = match &params.age {
            None => None,
            Some(text) => Some(with_unit(
                text,
                &[
                    ('s', 1),
                    ('m', 60),
                    ('h', 3600),
                    ('d', 86400),
                    ('w', 604_800),
                ],
            )
            .ok_or_else(|| failed_with("failed to process age", "age", text))?),
        };
        let size = match &params.size {
            None => None,
            Some(text) => Some(
                with_unit(
                    text,
                    &[
                        ('b', 1),
                        ('k', 1024),
                        ('m', 1024 * 1024),
                        ('g', 1024 * 1024 * 1024),
                        ('t', 1024_i64.pow(4)),
                    ],
                )
                .ok_or_else(|| failed_with("failed to process size", "size", text))?,
            ),
        };
        if let Some(limit) = params.limit.filter(|&l| l <= 0) {
            return Err(ModuleError::failed(format!(
                "limit cannot be {limit} (use None for unlimited)"
            )));
        }
        let mode = match &params.mode {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => {
                let arg = ModeArg::parse(s).map_err(|e| ModuleError::failed(e.0))?;
                Some(
                    arg.resolve_with_umask(Some(0), false, 0o022)
                        .map_err(|e| ModuleError::failed(e.0))?
                        & 0o7777,
                )
            }
            Some(other) => {
                let kind = match other {
                    Value::Number(n) if n.is_f64() => "float",
                    Value::Number(_) => "int",
                    Value::Bool(_) => "bool",
                    Value::Array(_) => "list",
                    _ => "dict",
                };
                return Err(ModuleError::failed(format!(
                    "argument 'mode' is not a string and conversion is not allowed, value is of type {kind}"
                )));
            }
        };
        Ok(Filters {
            patterns,
            excludes,
            age,
            size,
            mode,
        })
    }

    /// Ansible's `pfilter`: any pattern, and then no exclude.
    fn name_ok(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(name))
            && !self.excludes.iter().any(|e| e.matches(name))
    }
}

fn failed_with(msg: &str, key: &str, value: &str) -> ModuleError {
    let mut values = Map::new();
    values.insert(key.into(), value.into());
    ModuleError::Failed {
        msg: msg.into(),
        values,
    }
}

/// `^(-?\d+)(unit)?$` (lowercased) times the unit's factor.
fn with_unit(text: &str, units: &[(char, i64)]) -> Option<i64> {
    let t = text.to_lowercase();
    let (num, factor) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let f = units.iter().find(|(u, _)| *u == c)?.1;
            (&t[..t.len() - 1], f)
        }
        _ => (t.as_str(), 1),
    };
    let digits = num.strip_prefix('-').unwrap_or(num);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<i64>().ok().map(|n| n * factor)
}

/// Python's `fnmatch.translate`, anchored: `*`, `?`, `[seq]`, `[!seq]`; everything else literal.
pub(crate) fn fnmatch_regex(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from("(?s)\\A(?:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                out.push_str(".*");
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                    continue;
                }
                let body: Vec<char> = chars[i..j].to_vec();
                i = j + 1;
                let (negate, body) = match body.split_first() {
                    Some(('!', rest)) => (true, rest.to_vec()),
                    _ => (false, body),
                };
                if body.is_empty() {
                    // `[!]` matches any character; `[]` cannot occur (`]` would be a member).
                    out.push_str(if negate { "." } else { "(?!)" });
                    continue;
                }
                out.push('[');
                if negate {
                    out.push('^');
                }
                for (k, &m) in body.iter().enumerate() {
                    let range_dash = m == '-' && k > 0 && k + 1 < body.len();
                    if range_dash {
                        out.push('-');
                    } else {
                        out.push_str(&regex::escape(&m.to_string()));
                    }
                }
                out.push(']');
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push_str(")\\z");
    out
}

/// Python's `os.path.normpath` for absolute and relative POSIX paths.
fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let lead = if path.starts_with("//") && !path.starts_with("///") {
        "//"
    } else if path.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if lead.is_empty() && (parts.is_empty() || parts.last() == Some(&"..")) {
                    parts.push("..");
                } else if !parts.is_empty() {
                    parts.pop();
                }
            }
            p => parts.push(p),
        }
    }
    let joined = format!("{lead}{}", parts.join("/"));
    if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// `find`'s spelling of a directory, as the parent part of its children's paths.
fn dir_key(raw: &str) -> &str {
    let t = raw.trim_end_matches('/');
    if t.is_empty() {
        "/"
    } else {
        t
    }
}

fn parent_key(raw: &str) -> &str {
    match raw.rfind('/') {
        Some(0) => "/",
        Some(at) => dir_key(&raw[..at]),
        None => ".",
    }
}

/// What walking all paths gave.
#[derive(Debug, Default)]
struct Walked {
    files: Vec<Map<String, Value>>,
    examined: usize,
    msg: String,
    skipped: Map<String, Value>,
    warnings: Vec<String>,
    /// Normalized paths passing every filter but `contains` (and whether each is a regular file).
    candidates: Vec<(String, bool)>,
}

/// Ansible's main loop over `os.walk`, on what the host listed.
fn walk(
    params: &FindParams,
    filters: &Filters,
    observed: &FindObserved,
    limit: Option<i64>,
) -> Walked {
    let mut w = Walked {
        msg: "All paths examined".into(),
        ..Walked::default()
    };
    let limit = limit.and_then(|l| usize::try_from(l).ok());
    let mut has_warnings = false;
    'paths: for tree in &observed.trees {
        if let Some(error) = &tree.error {
            w.skipped
                .insert(tree.path.clone(), Value::String(error.clone()));
            w.warnings.push(format!(
                "Skipped '{}' path due to this access issue: {error}\n",
                tree.path
            ));
            has_warnings = true;
            continue;
        }
        let Some(root) = tree.listed.first() else {
            continue;
        };
        let mut children: HashMap<&str, Vec<&Listed>> = HashMap::new();
        for l in &tree.listed[1..] {
            children.entry(parent_key(&l.raw)).or_default().push(l);
        }
        for (dir, error) in &tree.unreadable {
            w.skipped.insert(dir.clone(), Value::String(error.clone()));
        }
        // os.walk, top-down: (directory, depth of its children).
        let mut stack: Vec<(&str, i64)> = vec![(root.raw.as_str(), 1)];
        while let Some((dir, depth)) = stack.pop() {
            let kids = children.get(dir_key(dir)).cloned().unwrap_or_default();
            let (dirs, files): (Vec<&Listed>, Vec<&Listed>) = kids
                .into_iter()
                .partition(|l| l.entry.is_dir() || l.link_to_dir);
            w.examined += files.len() + dirs.len();
            let mut descend = true;
            let mut hit_limit = false;
            for l in files.iter().chain(dirs.iter()) {
                if let Some(max) = params.depth.filter(|&d| d != 0) {
                    if depth > max {
                        descend = false;
                        continue;
                    }
                }
                let name = l.raw.rsplit('/').next().unwrap_or(&l.raw);
                if name.starts_with('.') && !params.hidden {
                    continue;
                }
                let path = normpath(&l.raw);
                match matches(params, filters, observed, l, name, &path) {
                    Verdict::No => {}
                    Verdict::Candidate(is_reg) => w.candidates.push((path, is_reg)),
                    Verdict::Yes => {
                        let mut r = Map::new();
                        r.insert("path".into(), path.clone().into());
                        r.extend(statinfo(&l.entry));
                        if l.entry.stat.kind == FileKind::File && params.get_checksum {
                            if let Some(sum) = observed.checksums.get(&path) {
                                r.insert("checksum".into(), sum.clone().into());
                            }
                        }
                        w.files.push(r);
                        w.candidates
                            .push((path, l.entry.stat.kind == FileKind::File));
                    }
                    Verdict::Abort(msg) => {
                        w.skipped
                            .insert(tree.path.clone(), Value::String(msg.clone()));
                        w.warnings.push(format!(
                            "Skipped '{}' path due to this access issue: {msg}\n",
                            tree.path
                        ));
                        has_warnings = true;
                        continue 'paths;
                    }
                }
                if Some(w.files.len()) == limit {
                    w.msg = "Limit of matches reached".into();
                    hit_limit = true;
                    break;
                }
            }
            if !params.recurse || hit_limit {
                break;
            }
            if descend {
                // Pushed in reverse so the first directory is walked first.
                for d in dirs.iter().rev() {
                    if d.entry.is_link() && !params.follow {
                        continue;
                    }
                    stack.push((d.raw.as_str(), depth + 1));
                }
            }
        }
    }
    if has_warnings {
        w.msg = "Not all paths examined, check warnings for details".into();
    }
    w
}

enum Verdict {
    No,
    Yes,
    /// Passes everything but `contains`, whose result is not known yet.
    Candidate(bool),
    /// `contains` could not decode the file: the rest of this path is skipped.
    Abort(String),
}

fn matches(
    params: &FindParams,
    filters: &Filters,
    observed: &FindObserved,
    l: &Listed,
    name: &str,
    path: &str,
) -> Verdict {
    let e = &l.entry;
    let stamp = match params.age_stamp {
        AgeStamp::Atime => e.atime,
        AgeStamp::Ctime => e.ctime,
        AgeStamp::Mtime => e.stat.mtime,
    };
    let age_ok = match filters.age {
        None => true,
        Some(age) if age >= 0 => observed.now - stamp >= age,
        Some(age) => observed.now - stamp <= -age,
    };
    let size = e.stat.size as i64;
    let size_ok = match filters.size {
        None => true,
        Some(s) if s >= 0 => size >= s,
        Some(s) => size <= -s,
    };
    let mode_ok = match filters.mode {
        None => true,
        Some(m) if params.exact_mode => e.stat.mode == m,
        Some(m) => e.stat.mode & m != 0,
    };
    let common = filters.name_ok(name) && age_ok && mode_ok;
    let is_reg = e.stat.kind == FileKind::File;
    let ok = match params.file_type {
        FileType::Any => common && (!is_reg || size_ok),
        FileType::Directory => e.is_dir() && common,
        FileType::Link => e.is_link() && common,
        FileType::File => {
            if !(is_reg && common && size_ok) {
                return Verdict::No;
            }
            if params.contains.is_none() {
                true
            } else {
                return match observed.contents.get(path) {
                    None => Verdict::Candidate(true),
                    Some(ContentResult::Match) => Verdict::Yes,
                    Some(ContentResult::NoMatch) => Verdict::No,
                    Some(ContentResult::Undecodable(msg)) => Verdict::Abort(msg.clone()),
                };
            }
        }
    };
    if ok {
        Verdict::Yes
    } else {
        Verdict::No
    }
}

/// Ansible's `statinfo`, in its key order.
fn statinfo(e: &Entry) -> Map<String, Value> {
    let st = &e.stat;
    let mut out = Map::new();
    attrs::put_stat_kind(e, &mut out);
    out.insert("atime".into(), e.atime.into());
    out.insert("mtime".into(), st.mtime.into());
    out.insert("ctime".into(), e.ctime.into());
    let name = |known: bool, name: &str| Value::from(if known { name } else { "" });
    out.insert("gr_name".into(), name(e.group_known, &st.group));
    out.insert("pw_name".into(), name(e.owner_known, &st.owner));
    attrs::put_stat_bits(st.mode, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    #[test]
    fn fnmatch_translates_like_python() {
        let m = |p: &str, s: &str| regex::Regex::new(&fnmatch_regex(p)).expect("re").is_match(s);
        assert!(m("*.log", "a.log"));
        assert!(m("*.log", ".hidden.log"));
        assert!(!m("*.log", "a.log.1"));
        assert!(m("a?c", "abc"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[!a-c]x", "dx"));
        assert!(m("[]]", "]"));
        assert!(m("[", "["));
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"));
        assert!(m("x[-]y", "x-y"));
        assert!(m("*", "any\nthing"));
    }

    #[test]
    fn units_paths_and_errors() {
        let age = [('s', 1), ('m', 60), ('d', 86400), ('w', 604_800)];
        assert_eq!(with_unit("30", &age), Some(30));
        assert_eq!(with_unit("2D", &age), Some(172_800));
        assert_eq!(with_unit("-1w", &age), Some(-604_800));
        assert_eq!(with_unit("1x", &age), None);
        assert_eq!(with_unit("m", &age), None);
        assert_eq!(normpath("/srv/x//a/./b/../c"), "/srv/x/a/c");
        assert_eq!(normpath("/srv/x/"), "/srv/x");
        assert_eq!(normpath("a/../.."), "..");
        assert_eq!(parent_key("/srv/x/a"), "/srv/x");
        assert_eq!(parent_key("/a"), "/");
        assert_eq!(dir_key("/srv/x/"), "/srv/x");
        assert_eq!(
            permission_denied("find: '/srv/x/locked': Permission denied\nother\n"),
            vec!["/srv/x/locked".to_string()]
        );
    }

    #[test]
    fn contains_reads_lines_like_python() {
        let r = |text: &[u8], p: &str, whole: bool| {
            content_matches("/f", text, p, whole, None).expect("ok")
        };
        assert_eq!(r(b"a\nfoo=1\n", "foo", false), ContentResult::Match);
        assert_eq!(r(b"a\n foo=1\n", "foo", false), ContentResult::NoMatch);
        assert_eq!(r(b"a\n foo=1\n", "foo", true), ContentResult::Match);
        assert_eq!(r(b"x=1\r\n", "x=1$", false), ContentResult::Match);
        assert!(matches!(
            r(b"\xff\xfe", "x", false),
            ContentResult::Undecodable(m) if m.contains("encoding error")
        ));
        assert_eq!(
            content_matches("/f", b"caf\xe9", "caf", false, Some("latin-1")).expect("ok"),
            ContentResult::Match
        );
    }

    async fn find(args: Value) -> Outcome {
        let out = run_module("find", args, &FakeController::new("/nonexistent"), false)
            .await
            .expect("find");
        assert!(!out.changed);
        out
    }

    fn paths(out: &Outcome) -> Vec<String> {
        let mut v: Vec<String> = out.values["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["path"].as_str().expect("path").to_string())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn walks_filters_and_counts_like_ansible() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let w = |p: &str, c: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, c).expect("write");
        };
        w("a.log", "hello\nneedle here\n");
        w("b.txt", "x");
        w(".hidden.log", "needle\n");
        w("sub/c.log", "no\n");
        w("sub/deeper/d.log", "needle\n");
        w(".hid/e.log", "e\n");
        std::os::unix::fs::symlink("sub", root.join("lnk")).expect("symlink");
        let r = root.to_string_lossy().to_string();
        let p = |s: &str| format!("{r}/{s}");

        let out = find(json!({"paths": r, "patterns": "*.log"})).await;
        assert_eq!(paths(&out), vec![p("a.log")]);
        // a.log b.txt .hidden.log sub .hid lnk
        assert_eq!(out.values["examined"], 6);
        assert_eq!(out.values["matched"], 1);
        assert_eq!(out.msg.as_deref(), Some("All paths examined"));
        let f = &out.values["files"][0];
        assert_eq!(f["isreg"], true);
        assert_eq!(f["size"], 18);
        assert!(f.get("checksum").is_none());

        let out = find(json!({"paths": r, "patterns": "*.log", "recurse": true})).await;
        assert_eq!(
            paths(&out),
            vec![p(".hid/e.log"), p("a.log"), p("sub/c.log"), p("sub/deeper/d.log")]
        );
        let out = find(json!({"paths": r, "patterns": "*.log", "recurse": true, "hidden": true, "depth": 1})).await;
        assert_eq!(paths(&out), vec![p(".hidden.log"), p("a.log")]);
        let out = find(json!({"paths": r, "recurse": true, "follow": true, "patterns": "d.log"})).await;
        assert_eq!(paths(&out), vec![p("lnk/deeper/d.log"), p("sub/deeper/d.log")]);

        let out = find(json!({"paths": r, "contains": "needle", "recurse": true, "hidden": true})).await;
        assert_eq!(
            paths(&out),
            vec![p(".hidden.log"), p("a.log"), p("sub/deeper/d.log")]
        );
        let out = find(json!({"paths": r, "patterns": ["^[ab]\\.", "c"], "use_regex": true, "excludes": "b.*", "recurse": true})).await;
        assert_eq!(paths(&out), vec![p("a.log"), p("sub/c.log")]);
        let out = find(json!({"paths": r, "file_type": "directory", "recurse": true, "hidden": true})).await;
        assert_eq!(paths(&out), vec![p(".hid"), p("sub"), p("sub/deeper")]);
        let out = find(json!({"paths": r, "file_type": "link"})).await;
        assert_eq!(paths(&out), vec![p("lnk")]);
        assert_eq!(out.values["files"][0]["islnk"], true);
        let out = find(json!({"paths": r, "size": "10", "get_checksum": true})).await;
        assert_eq!(paths(&out), vec![p("a.log")]);
        assert_eq!(
            out.values["files"][0]["checksum"],
            crate::copy::sha1_hex(b"hello\nneedle here\n")
        );
        let out = find(json!({"paths": r, "age": "1d"})).await;
        assert!(paths(&out).is_empty());
        let out = find(json!({"paths": r, "age": "-1d", "limit": 1})).await;
        assert_eq!(out.values["matched"], 1);
        assert_eq!(out.msg.as_deref(), Some("Limit of matches reached"));

        let missing = p("nope");
        let out = find(json!({"paths": [missing.clone(), p("a.log")]})).await;
        assert_eq!(out.values["matched"], 0);
        assert_eq!(
            out.msg.as_deref(),
            Some("Not all paths examined, check warnings for details")
        );
        assert_eq!(
            out.values["skipped_paths"][missing.as_str()],
            format!("'{missing}' is not a directory")
        );
        assert_eq!(out.warnings.len(), 2);

        let e = run_module(
            "find",
            json!({"paths": r, "age": "3y"}),
            &FakeController::new("/"),
            false,
        )
        .await
        .expect_err("bad age");
        assert_eq!(e.to_string(), "failed to process age");
        let e = run_module(
            "find",
            json!({"paths": r, "mode": 420}),
            &FakeController::new("/"),
            false,
        )
        .await
        .expect_err("int mode");
        assert!(e.to_string().contains("value is of type int"), "{e}");
    }
}
