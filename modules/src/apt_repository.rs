//! `apt_repository`: a one-line APT source (`deb ...`/`deb-src ...`) is in the host's
//! sources lists, or is not.
//!
//! ```yaml
//! - name: The company repository
//!   ansible.builtin.apt_repository:
//!     repo: deb [signed-by=/etc/apt/keyrings/corp.gpg] https://apt.example.com/debian bookworm main
//!     filename: corp
//!     update_cache: false
//!
//! - ansible.builtin.apt_repository:
//!     repo: deb http://archive.example.org/debian bookworm contrib
//!     state: absent
//! ```
//!
//! Reads `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.list` as Ansible does (a line
//! is a source when its first word is `deb` or `deb-src`; `# deb ...` is a disabled one;
//! text after `#` is a comment) and writes the files back the way Ansible does: a present
//! source that exists anywhere, even disabled, is enabled where it is; a new one is appended
//! to `filename` (`.list` added; a name without `/` lives in `sources.list.d`), or to a file
//! named after the repository URL (`deb http://ftp.debian.org/debian sid main` →
//! `ftp_debian_org_debian.list`); `absent` deletes every enabled copy, and a file left
//! empty is removed. A new file gets `mode` (default `0644`). Writes are atomic; after a
//! change `apt-get update` runs unless `update_cache: false`. Returns `repo`, `state`,
//! `sources_added`, `sources_removed`, and under `--diff` the added/removed files.
//!
//! Differences from Ansible: `ppa:` repositories (which need Launchpad over the network) are
//! refused; `codename`, `validate_certs` and `install_python_apt` are accepted and unused.
//! When the cache update fails Ansible restores the previous lists; tend leaves the new ones
//! in place and fails.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{
    quote, Context, Diff, Module, ModuleError, Outcome, Planned, WriteOptions,
};

const SOURCES_LIST: &str = "/etc/apt/sources.list";
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
const VALID_SOURCE_TYPES: &[&str] = &["deb", "deb-src"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoState {
    #[default]
    Present,
    Absent,
}

fn default_true() -> bool {
    true
}
fn default_retries() -> u32 {
    5
}
fn default_retry_max_delay() -> u64 {
    12
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
// `validate_certs`, `codename` and `install_python_apt` are accepted for compatibility only.
#[allow(dead_code)]
pub struct AptRepositoryParams {
    /// The source line (`deb [options] URI suite [components]`).
    pub repo: String,
    /// Whether the source should be there.
    #[serde(default)]
    pub state: RepoState,
    /// Mode of a new sources file (default `0644`).
    #[serde(default)]
    pub mode: Option<Value>,
    /// Run `apt-get update` after a change.
    #[serde(default = "default_true", alias = "update-cache")]
    pub update_cache: bool,
    /// How many times to try the update.
    #[serde(default = "default_retries")]
    pub update_cache_retries: u32,
    /// Upper bound of the back-off between update attempts, in seconds.
    #[serde(default = "default_retry_max_delay")]
    pub update_cache_retry_max_delay: u64,
    /// The sources file's name, without `.list`.
    #[serde(default)]
    pub filename: Option<String>,
    /// Accepted; tend needs no python3-apt.
    #[serde(default = "default_true")]
    pub install_python_apt: bool,
    /// Accepted; only used by Ansible for PPA lookups.
    #[serde(default = "default_true")]
    pub validate_certs: bool,
    /// Accepted; only used by Ansible for PPAs.
    #[serde(default)]
    pub codename: Option<String>,
}

/// One line of a sources file as Ansible's `SourcesList._parse` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    valid: bool,
    enabled: bool,
    source: String,
    comment: String,
}

fn parse_line(line: &str) -> Line {
    let mut enabled = true;
    let mut comment = String::new();
    let mut line = line.trim();
    if let Some(rest) = line.strip_prefix('#') {
        enabled = false;
        line = rest;
    }
    let body;
    match line.find('#') {
        Some(i) if i > 0 => {
            comment = line[i + 1..].trim().to_string();
            body = &line[..i];
        }
        _ => body = line,
    }
    let mut source = body.trim().to_string();
    let mut valid = false;
    let chunks: Vec<&str> = source.split_whitespace().collect();
    if chunks
        .first()
        .is_some_and(|c| VALID_SOURCE_TYPES.contains(c))
    {
        valid = true;
        source = chunks.join(" ");
    }
    Line {
        valid,
        enabled,
        source,
        comment,
    }
}

fn render_line(l: &Line) -> String {
    let mut s = String::new();
    if !l.enabled {
        s.push_str("# ");
    }
    s.push_str(&l.source);
    if !l.comment.is_empty() {
        s.push_str(" # ");
        s.push_str(&l.comment);
    }
    s.push('\n');
    s
}

/// Every sources file, in Ansible's order: `sources.list`, then `sources.list.d/*.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    files: Vec<(String, Vec<Line>)>,
    /// Symlinked files: written through to their target.
    links: BTreeMap<String, String>,
}

impl Sources {
    fn dump(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .filter(|(_, lines)| !lines.is_empty())
            .map(|(f, lines)| (f.clone(), lines.iter().map(render_line).collect()))
            .collect()
    }

    fn file_mut(&mut self, name: &str) -> &mut Vec<Line> {
        if let Some(i) = self.files.iter().position(|(f, _)| f == name) {
            &mut self.files[i].1
        } else {
            self.files.push((name.to_string(), Vec::new()));
            let last = self.files.len() - 1;
            &mut self.files[last].1
        }
    }
}

fn invalid(line: &str) -> ModuleError {
    ModuleError::failed(format!("Invalid repository string: {line}"))
}

/// The source text of a repo line, or the "Invalid repository string" failure.
fn parse_repo(repo: &str) -> Result<String, ModuleError> {
    let parsed = parse_line(repo);
    if !parsed.valid || !parsed.enabled {
        // Ansible reports the line with a leading `#` cut and the comment removed.
        let mut line = repo.trim();
        line = line.strip_prefix('#').unwrap_or(line);
        let shown = match line.find('#') {
            Some(i) if i > 0 => &line[..i],
            _ => line,
        };
        return Err(invalid(shown));
    }
    Ok(parsed.source)
}

/// Ansible's `_suggest_filename`.
fn suggest_filename(source: &str, filename: Option<&str>) -> String {
    if let Some(name) = filename {
        return format!("{name}.list");
    }
    let mut line = String::new();
    let mut depth = false;
    for c in source.chars() {
        match c {
            '[' if !depth => depth = true,
            ']' if depth => depth = false,
            _ if !depth => line.push(c),
            _ => {}
        }
    }
    // `\w+://` removed.
    let line = regex::Regex::new(r"\w+://")
        .map(|re| re.replace_all(&line, "").into_owned())
        .unwrap_or(line);
    let first = line
        .split_whitespace()
        .find(|p| !VALID_SOURCE_TYPES.contains(p))
        .unwrap_or("");
    let first = first.split_once('@').map_or(first, |(_, host)| host);
    let cleaned: String = first
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    format!("{}.list", cleaned.split_whitespace().collect::<Vec<_>>().join("_"))
}

fn expand_path(filename: &str) -> String {
    if filename.contains('/') {
        filename.to_string()
    } else {
        format!("{SOURCES_DIR}/{filename}")
    }
}

/// The change to the sources: Ansible's `add_source`/`remove_source` on a copy.
fn edit(params: &AptRepositoryParams, before: &Sources) -> Result<Sources, ModuleError> {
    let repo = params.repo.as_str();
    if repo.is_empty() {
        return Err(ModuleError::failed(
            "Please set argument 'repo' to a non-empty value",
        ));
    }
    if repo.starts_with("ppa:") {
        return Err(ModuleError::failed(
            "tend's apt_repository does not add ppa: repositories (they need Launchpad over the network)",
        ));
    }
    let source = parse_repo(repo)?;
    let mut after = before.clone();
    match params.state {
        RepoState::Present => {
            let mut found = false;
            for (_, lines) in after.files.iter_mut() {
                for l in lines.iter_mut() {
                    if l.valid && l.source == source {
                        l.enabled = true;
                        found = true;
                    }
                }
            }
            if !found {
                let file = expand_path(&suggest_filename(&source, params.filename.as_deref()));
                after.file_mut(&file).push(Line {
                    valid: true,
                    enabled: true,
                    source,
                    comment: String::new(),
                });
            }
        }
        RepoState::Absent => {
            for (_, lines) in after.files.iter_mut() {
                lines.retain(|l| !(l.valid && l.enabled && l.source == source));
            }
        }
    }
    Ok(after)
}

pub struct AptRepositoryModule;

#[derive(Debug)]
pub struct Observed {
    sources: Sources,
}

#[derive(Debug)]
pub struct Action {
    /// Files to write: path (a symlink's target), text, whether the file is new.
    writes: Vec<(String, String, bool)>,
    removes: Vec<String>,
    /// The result a real run reports (the preview's).
    outcome: Outcome,
}

async fn load(ctx: &Context<'_>) -> Result<Sources, ModuleError> {
    // Each file: a header line with its name and link target, then its text.
    let script = format!(
        "for f in {SOURCES_LIST} {SOURCES_DIR}/*.list; do [ -f \"$f\" ] || continue; \
         t=''; [ -L \"$f\" ] && t=$(readlink -- \"$f\"); \
         printf '\\036%s\\037%s\\n' \"$f\" \"$t\"; cat -- \"$f\"; echo; done"
    );
    let out = ctx.host.sh_ok(&script).await?.stdout_lossy();
    let mut sources = Sources::default();
    for chunk in out.split('\u{1e}').skip(1) {
        let (header, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let (name, link) = header.split_once('\u{1f}').unwrap_or((header, ""));
        // `echo` after `cat` ended the chunk with one extra newline.
        let body = body.strip_suffix('\n').unwrap_or(body);
        if !link.is_empty() {
            sources.links.insert(name.to_string(), link.to_string());
        }
        let lines = body.lines().map(parse_line).collect();
        sources.files.push((name.to_string(), lines));
    }
    Ok(sources)
}

fn mode_string(mode: &Option<Value>) -> Result<String, ModuleError> {
    match mode {
        None | Some(Value::Null) => Ok("0644".into()),
        Some(Value::Number(n)) => Ok(format!("{:04o}", n.as_u64().unwrap_or(0o644))),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ModuleError::failed(format!("invalid mode: {other}"))),
    }
}

#[async_trait]
impl Module for AptRepositoryModule {
    type Params = AptRepositoryParams;
    type Observed = Observed;
    type Action = Action;

    const NAME: &'static str = "apt_repository";

    async fn query(
        &self,
        _params: &AptRepositoryParams,
        ctx: &Context<'_>,
    ) -> Result<Observed, ModuleError> {
        Ok(Observed {
            sources: load(ctx).await?,
        })
    }

    fn plan(
        &self,
        params: &AptRepositoryParams,
        observed: Observed,
        ctx: &Context<'_>,
    ) -> Result<Planned<Action>, ModuleError> {
        let before_sources = observed.sources;
        let after_sources = edit(params, &before_sources)?;
        let before = before_sources.dump();
        let after = after_sources.dump();
        let state = match params.state {
            RepoState::Present => "present",
            RepoState::Absent => "absent",
        };
        let added: BTreeSet<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
        let removed: BTreeSet<&String> =
            before.keys().filter(|k| !after.contains_key(*k)).collect();
        let mut outcome = Outcome::ok()
            .with_value("repo", params.repo.clone())
            .with_value("state", state)
            .with_value(
                "sources_added",
                added.iter().map(|s| Value::String((*s).clone())).collect::<Vec<_>>(),
            )
            .with_value(
                "sources_removed",
                removed.iter().map(|s| Value::String((*s).clone())).collect::<Vec<_>>(),
            );
        if before == after {
            return Ok(Planned::Done(outcome));
        }
        outcome.changed = true;
        if ctx.diff {
            for file in added.iter().chain(removed.iter()) {
                let in_before = before.contains_key(*file);
                let in_after = after.contains_key(*file);
                outcome.diffs.push(Diff {
                    before_header: if in_before { (*file).clone() } else { "/dev/null".into() },
                    after_header: if in_after { (*file).clone() } else { "/dev/null".into() },
                    before: before.get(*file).cloned().unwrap_or_default(),
                    after: after.get(*file).cloned().unwrap_or_default(),
                });
            }
        }
        // Ansible rewrites every file that still has lines and removes the emptied ones.
        let mut writes = Vec::new();
        let mut removes = Vec::new();
        for (file, _) in &after_sources.files {
            match after.get(file) {
                Some(text) => {
                    if before.get(file) != Some(text) {
                        let target = after_sources.links.get(file).cloned().unwrap_or(file.clone());
                        let new = !before.contains_key(file)
                            && !before_sources.files.iter().any(|(f, _)| f == file);
                        writes.push((target, text.clone(), new));
                    }
                }
                None => {
                    if before_sources.files.iter().any(|(f, _)| f == file) {
                        removes.push(file.clone());
                    }
                }
            }
        }
        Ok(Planned::Change {
            action: Action {
                writes,
                removes,
                outcome: outcome.clone(),
            },
            preview: outcome,
        })
    }

    async fn apply(
        &self,
        params: &AptRepositoryParams,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let mode = mode_string(&params.mode)?;
        for (file, text, new) in &action.writes {
            if let Some((dir, _)) = file.rsplit_once('/') {
                if !dir.is_empty() {
                    ctx.host.sh_ok(&format!("mkdir -p -- {}", quote(dir))).await?;
                }
            }
            let options = WriteOptions {
                mode: new.then(|| mode.clone()),
                ..WriteOptions::default()
            };
            ctx.host
                .write_file_atomic(file, text.as_bytes(), &options)
                .await?;
        }
        for file in &action.removes {
            ctx.host.sh_ok(&format!("rm -f -- {}", quote(file))).await?;
        }
        if params.update_cache {
            let retries = params.update_cache_retries.max(1);
            let mut last = String::new();
            let mut done = false;
            for attempt in 0..retries {
                let out = ctx.host.sh("apt-get update -q").await?;
                if out.success() {
                    done = true;
                    break;
                }
                last = out.stderr_lossy();
                if attempt + 1 < retries {
                    let delay = (1u64 << attempt.min(16)).min(params.update_cache_retry_max_delay);
                    tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
                }
            }
            if !done {
                return Err(ModuleError::failed(format!(
                    "Failed to update apt cache after {retries} retries: {}",
                    if last.trim().is_empty() { "unknown reason" } else { last.trim() }
                )));
            }
        }
        Ok(action.outcome)
    }
}

tend_module_api::register_module!(AptRepositoryModule);

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> AptRepositoryParams {
        tend_module_api::args::from_args(&json, tend_module_api::args::ArgMode::Run)
            .expect("params")
    }

    fn sources(files: &[(&str, &str)]) -> Sources {
        Sources {
            files: files
                .iter()
                .map(|(f, text)| (f.to_string(), text.lines().map(parse_line).collect()))
                .collect(),
            links: BTreeMap::new(),
        }
    }

    #[test]
    fn filenames_as_ansible_suggests_them() {
        assert_eq!(
            suggest_filename("deb http://ftp.debian.org/debian sid main", None),
            "ftp_debian_org_debian.list"
        );
        assert_eq!(
            suggest_filename("deb [trusted=yes arch=amd64] file:/srv/repo ./", None),
            "file_srv_repo.list"
        );
        assert_eq!(
            suggest_filename("deb https://user:pw@apt.example.com/x stable main", None),
            "apt_example_com_x.list"
        );
        assert_eq!(suggest_filename("deb x y", Some("corp")), "corp.list");
    }

    #[test]
    fn lines_parse_and_render_as_ansible() {
        let l = parse_line("#deb   http://a/b  sid main   # note ");
        assert!(l.valid && !l.enabled);
        assert_eq!(l.source, "deb http://a/b sid main");
        assert_eq!(l.comment, "note");
        assert_eq!(render_line(&l), "# deb http://a/b sid main # note\n");
        assert!(!parse_line("Types: deb").valid);
    }

    #[test]
    fn present_enables_or_appends_absent_removes() {
        let before = sources(&[(SOURCES_LIST, "# deb http://a/b sid main\n")]);
        let p = params(serde_json::json!({"repo": "deb http://a/b sid main"}));
        let after = edit(&p, &before).expect("edit");
        assert_eq!(after.dump()[SOURCES_LIST], "deb http://a/b sid main\n");

        let p = params(serde_json::json!({"repo": "deb file:/srv/r ./", "filename": "local"}));
        let after = edit(&p, &before).expect("edit");
        assert_eq!(
            after.dump()["/etc/apt/sources.list.d/local.list"],
            "deb file:/srv/r ./\n"
        );

        let before = sources(&[("/etc/apt/sources.list.d/x.list", "deb file:/srv/r ./\n")]);
        let p = params(serde_json::json!({"repo": "deb file:/srv/r ./", "state": "absent"}));
        let after = edit(&p, &before).expect("edit");
        assert!(after.dump().is_empty());

        let p = params(serde_json::json!({"repo": "# deb x y"}));
        assert_eq!(
            edit(&p, &before).expect_err("invalid").to_string(),
            "Invalid repository string:  deb x y"
        );
    }
}
