//! `apt`: Debian packages are installed, at a version, upgraded or removed; the package cache
//! is refreshed; local `.deb` files are installed.
//!
//! ```yaml
//! - name: Refresh the cache when it is older than an hour
//!   ansible.builtin.apt:
//!     update_cache: true
//!     cache_valid_time: 3600
//!
//! - name: Web server and tools
//!   ansible.builtin.apt:
//!     name: [nginx, curl=7.88.*]
//!     state: present
//!     install_recommends: false
//!
//! - ansible.builtin.apt:
//!     name: nginx
//!     state: latest
//!
//! - ansible.builtin.apt:
//!     deb: /tmp/app_1.2_all.deb
//!
//! - ansible.builtin.apt:
//!     name: telnet
//!     state: absent
//!     purge: true
//!     autoremove: true
//! ```
//!
//! Drives `apt-get`, `apt-cache`, `apt-mark`, `dpkg` and `dpkg-query` on the host, with the
//! command lines Ansible's module builds (same `Dpkg::Options`, same environment:
//! `DEBIAN_FRONTEND=noninteractive`, a C UTF-8 locale), so `stdout`, `stderr`, `msg` and the
//! `--diff` text (`prepared`: apt-get's plan) read as Ansible's. Returns `cache_updated`,
//! `cache_update_time`, `stdout`, `stderr` as Ansible does. Check mode runs the same commands
//! with `--simulate`, as Ansible does; so does the query of a real run, which then runs them
//! for real only when the simulation shows a change (or a cache update, `clean`, or a
//! package to mark). Named packages are marked manually installed (`apt-mark manual`)
//! outside check mode, as Ansible does. `policy_rc_d` writes `/usr/sbin/policy-rc.d` around
//! the apt/dpkg commands and puts back what was there.
//!
//! Differences from Ansible, which reads the cache through python-apt:
//! - No Python is needed on the host. A package's installed version comes from `dpkg-query`,
//!   its candidate from `apt-cache policy`; `name=1.2*` picks the highest available version
//!   matching the pattern (Ansible pins it at priority 1001, which gives the same answer unless
//!   pins in `/etc/apt/preferences` say otherwise). `default_release` is passed to apt-get
//!   (`-t`) but not used to predict the candidate.
//! - A purely virtual package name (only provided by others) is handed to apt-get as is; it
//!   is reported `changed` on every run.
//! - `deb:` takes a path on the host only (no URL download). Its dependencies are checked by
//!   name: for each `Pre-Depends`/`Depends` entry whose first alternative is not installed,
//!   that alternative is installed with apt-get first (other alternatives and version
//!   constraints are left to dpkg; python-apt resolves them). A downgrade needs
//!   `allow_downgrade` or `force`, as with Ansible.
//! - `upgrade: yes/safe/full` use `apt-get` (`upgrade --with-new-pkgs`/`dist-upgrade`) even
//!   where `aptitude` is installed; Ansible uses aptitude there unless `force_apt_get`.
//! - `clean: true` is skipped in check mode (Ansible runs `apt-get clean` even then).

use std::cmp::Ordering;
use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{quote, Context, Diff, Host, Module, ModuleError, Outcome, Planned};

const DPKG_OPTIONS: &str = "force-confdef,force-confold";
const APT_GET_ZERO: &str = "\n0 upgraded, 0 newly installed, 0 to remove";
const APT_LISTS_PATH: &str = "/var/lib/apt/lists";
const APT_UPDATE_SUCCESS_STAMP_PATH: &str = "/var/lib/apt/periodic/update-success-stamp";
/// Ansible runs apt with the best parsable locale it finds; on Debian that is C.UTF-8.
const APT_ENV: &str = "DEBIAN_FRONTEND=noninteractive DEBIAN_PRIORITY=critical LANG=C.UTF-8 \
     LC_ALL=C.UTF-8 LC_MESSAGES=C.UTF-8 LC_CTYPE=C.UTF-8 LANGUAGE=C.UTF-8; \
     export DEBIAN_FRONTEND DEBIAN_PRIORITY LANG LC_ALL LC_MESSAGES LC_CTYPE LANGUAGE; ";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AptState {
    #[default]
    #[serde(rename = "present")]
    Present,
    #[serde(rename = "absent")]
    Absent,
    #[serde(rename = "latest")]
    Latest,
    #[serde(rename = "build-dep")]
    BuildDep,
    #[serde(rename = "fixed")]
    Fixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Upgrade {
    #[serde(rename = "dist")]
    Dist,
    #[serde(rename = "full")]
    Full,
    /// `no`, or YAML's `false` (Ansible maps booleans onto the yes/no choices).
    #[serde(rename = "no", alias = "False")]
    No,
    #[serde(rename = "safe")]
    Safe,
    #[serde(rename = "yes", alias = "True")]
    Yes,
}

fn default_dpkg_options() -> String {
    DPKG_OPTIONS.to_string()
}
fn default_retries() -> u32 {
    5
}
fn default_retry_max_delay() -> u64 {
    12
}
fn default_lock_timeout() -> u32 {
    60
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// `force_apt_get` and `auto_install_module_deps` are accepted and have no effect in tend.
#[allow(dead_code)]
pub struct AptParams {
    /// Packages, optionally `name=version` (a glob) or `name>=version`; `*` with
    /// `state: latest` upgrades everything.
    #[serde(default, alias = "package", alias = "pkg")]
    pub name: Option<Vec<String>>,
    /// `present`, `absent`, `latest`, `build-dep` (install build dependencies) or `fixed`
    /// (install with `--fix-broken`).
    #[serde(default)]
    pub state: AptState,
    /// Run `apt-get update` first (alone, or before the package work).
    #[serde(default, alias = "update-cache")]
    pub update_cache: Option<bool>,
    /// How many times to try `apt-get update`.
    #[serde(default = "default_retries")]
    pub update_cache_retries: u32,
    /// Upper bound, in seconds, of the back-off between update attempts.
    #[serde(default = "default_retry_max_delay")]
    pub update_cache_retry_max_delay: u64,
    /// Update the cache only when it is older than this many seconds (implies update_cache).
    #[serde(default)]
    pub cache_valid_time: u64,
    /// Remove configuration files too (`--purge`).
    #[serde(default)]
    pub purge: bool,
    /// A `.deb` file on the host to install.
    #[serde(default)]
    pub deb: Option<String>,
    /// Target release for installs (`apt-get -t`).
    #[serde(default, alias = "default-release")]
    pub default_release: Option<String>,
    /// Install recommended packages (`APT::Install-Recommends`); unset keeps the host's default.
    #[serde(default, alias = "install-recommends")]
    pub install_recommends: Option<bool>,
    /// `--force-yes` for apt-get, `--force-all` for dpkg.
    #[serde(default)]
    pub force: bool,
    /// Upgrade installed packages: `yes`/`safe`, `full` or `dist`.
    #[serde(default)]
    pub upgrade: Option<Upgrade>,
    /// Comma-separated dpkg options, each passed as `-o Dpkg::Options::=--<option>`.
    #[serde(default = "default_dpkg_options")]
    pub dpkg_options: String,
    /// Remove packages no longer needed (`--auto-remove`, or `apt-get autoremove` alone).
    #[serde(default)]
    pub autoremove: bool,
    /// `apt-get autoclean` (alone, without packages).
    #[serde(default)]
    pub autoclean: bool,
    /// Fail rather than remove packages to satisfy an install (`--no-remove`).
    #[serde(default)]
    pub fail_on_autoremove: bool,
    /// Exit status `/usr/sbin/policy-rc.d` gives while apt runs (101: services are not
    /// started by package scripts).
    #[serde(default)]
    pub policy_rc_d: Option<i32>,
    /// Upgrade only packages that are installed already (`--only-upgrade`).
    #[serde(default)]
    pub only_upgrade: bool,
    /// Use apt-get rather than aptitude (tend always uses apt-get).
    #[serde(default)]
    pub force_apt_get: bool,
    /// `apt-get clean` first.
    #[serde(default)]
    pub clean: bool,
    /// Install unauthenticated packages (`--allow-unauthenticated`).
    #[serde(default, alias = "allow-unauthenticated")]
    pub allow_unauthenticated: bool,
    /// Allow installing an older version (`--allow-downgrades`).
    #[serde(
        default,
        alias = "allow-downgrade",
        alias = "allow_downgrades",
        alias = "allow-downgrades"
    )]
    pub allow_downgrade: bool,
    /// Allow changing held packages (`--allow-change-held-packages`).
    #[serde(default)]
    pub allow_change_held_packages: bool,
    /// Seconds to wait for the dpkg lock (`DPkg::Lock::Timeout`).
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout: u32,
    /// Accepted for compatibility: tend needs no python3-apt on the host.
    #[serde(default = "default_true")]
    pub auto_install_module_deps: bool,
}

impl AptParams {
    fn upgrade_mode(&self) -> Option<Upgrade> {
        self.upgrade.filter(|u| *u != Upgrade::No)
    }

    fn packages(&self) -> &[String] {
        self.name.as_deref().unwrap_or(&[])
    }

    /// `-o "Dpkg::Options::=--x" ... -o DPkg::Lock::Timeout=N`, as Ansible builds it.
    fn dpkg_options_expanded(&self) -> String {
        format!(
            "{} -o DPkg::Lock::Timeout={}",
            expand_dpkg_options(&self.dpkg_options),
            self.lock_timeout
        )
    }
}

fn expand_dpkg_options(compressed: &str) -> String {
    compressed
        .split(',')
        .map(|o| format!("-o \"Dpkg::Options::=--{o}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A word of an apt command line, quoted the way Ansible quotes package specs (`'name=1.0'`),
/// or with full shell quoting when the spec itself holds a quote.
fn pkg_word(spec: &str) -> String {
    if spec.contains('\'') {
        quote(spec)
    } else {
        format!("'{spec}'")
    }
}

/// `name`, `name=version` or `name>=version` split as Ansible's `package_split`.
fn package_split(spec: &str) -> (&str, Option<&'static str>, Option<&str>) {
    if let Some(i) = spec.find('=') {
        if i > 0 && spec.as_bytes()[i - 1] == b'>' {
            return (&spec[..i - 1], Some(">="), Some(&spec[i + 1..]));
        }
        return (&spec[..i], Some("="), Some(&spec[i + 1..]));
    }
    (spec, None, None)
}

/// What the host says about one package: dpkg's state and apt's versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PkgInfo {
    /// Known to apt with at least one version (python-apt's `cache[name]` succeeds).
    pub known: bool,
    /// Listed by `apt-cache policy` at all (a virtual package is, without versions).
    pub listed: bool,
    /// dpkg's current state is "installed".
    pub installed: bool,
    pub installed_version: Option<String>,
    /// Something of the package is on disk (installed, or its config files are left).
    pub has_files: bool,
    pub candidate: Option<String>,
    /// Every version apt knows of, in policy order.
    pub versions: Vec<String>,
}

/// Reads one package's `dpkg-query` line and `apt-cache policy` block.
fn parse_pkg_info(dpkg: &str, policy: &str) -> PkgInfo {
    let mut info = PkgInfo::default();
    if let Some(line) = dpkg.lines().find(|l| !l.trim().is_empty()) {
        let (abbrev, version) = line.split_once('|').unwrap_or((line, ""));
        let current = abbrev.chars().nth(1).unwrap_or('n');
        info.installed = current == 'i';
        info.has_files = current != 'n' && current != ' ';
        if info.installed && !version.is_empty() {
            info.installed_version = Some(version.to_string());
        }
    }
    let mut in_table = false;
    for line in policy.lines() {
        let trimmed = line.trim();
        if !line.starts_with(' ') && trimmed.ends_with(':') {
            info.listed = true;
            continue;
        }
        if let Some(c) = trimmed.strip_prefix("Candidate:") {
            let c = c.trim();
            if c != "(none)" {
                info.candidate = Some(c.to_string());
            }
        } else if trimmed == "Version table:" {
            in_table = true;
        } else if in_table {
            // Version lines are indented 5 (or carry `***`); source lines 8.
            let is_version = trimmed.starts_with("*** ")
                || (line.starts_with("     ") && !line.starts_with("        "));
            if is_version {
                let rest = trimmed.trim_start_matches("***").trim();
                if let Some(v) = rest.split_whitespace().next() {
                    info.versions.push(v.to_string());
                }
            }
        }
    }
    info.known = !info.versions.is_empty();
    info
}

/// Ansible's `package_status`: (installed, installed version matches, version to install).
fn package_status(
    info: &PkgInfo,
    version_cmp: Option<&str>,
    version: Option<&str>,
) -> (bool, bool, Option<String>) {
    let best = match (version_cmp, version) {
        (Some("="), Some(pattern)) => info
            .versions
            .iter()
            .filter(|v| fnmatch(pattern, v))
            .max_by(|a, b| deb_version_cmp(a, b))
            .cloned(),
        _ => info.candidate.clone(),
    };
    if !info.installed {
        return (false, false, best);
    }
    let installed = info.installed_version.clone().unwrap_or_default();
    let (matches, installable) = match (version_cmp, version) {
        (Some("="), Some(pattern)) => (
            fnmatch(pattern, &installed),
            best.filter(|b| *b != installed && fnmatch(pattern, b)),
        ),
        (Some(">="), Some(min)) => (
            deb_version_cmp(&installed, min) != Ordering::Less,
            best.filter(|b| *b != installed && deb_version_cmp(b, min) != Ordering::Less),
        ),
        _ => (true, best.filter(|b| *b != installed)),
    };
    (true, matches, installable)
}

/// Output of one command as Ansible's `run_command` gives it.
#[derive(Debug, Clone, Default)]
struct Ran {
    rc: i32,
    out: String,
    err: String,
}

async fn run(host: &Host, cmd: &str) -> Result<Ran, ModuleError> {
    let out = host.sh(&format!("{APT_ENV}{cmd}")).await?;
    Ok(Ran {
        rc: out.exit_code,
        out: out.stdout_lossy(),
        err: out.stderr_lossy(),
    })
}

/// Ansible's `parse_diff`: apt-get's plan, between "Reading state information..." and the
/// "N upgraded" line.
fn parse_diff(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "Resolving dependencies...")
        .or_else(|| {
            lines
                .iter()
                .position(|l| *l == "Reading state information...")
        })
        .map_or(0, |i| i + 1);
    let end = lines
        .iter()
        .position(|l| is_upgraded_line(l))
        .map_or(lines.len(), |i| i + 1);
    lines
        .get(start..end.max(start))
        .unwrap_or_default()
        .join("\n")
}

/// `re.match('[0-9]+ (packages )?upgraded', line)`
fn is_upgraded_line(line: &str) -> bool {
    let digits = line.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    let rest = &line[digits..];
    rest.starts_with(" upgraded") || rest.starts_with(" packages upgraded")
}

fn prepared_diff(output: &str) -> Diff {
    Diff::prepared(parse_diff(output))
}

/// What running the module's logic found or did.
#[derive(Debug, Default)]
pub struct FlowResult {
    outcome: Outcome,
    /// A real run would refresh the cache first (decided; not done, outside check mode).
    update_pending: bool,
    /// Named packages apt has marked automatic, which a real run marks manual.
    mark_manual: Vec<String>,
    /// `clean` was asked for (a real run always cleans).
    clean: bool,
}

/// Runs Ansible's apt logic on the host. With `simulate`, every apt-get/dpkg command gets
/// `--simulate`, nothing is cleaned, updated or marked, so the host is not changed; that is
/// what the query does (and what Ansible does in check mode). With `stop_at_update`, a needed
/// cache update ends the simulation: what follows depends on the new cache.
struct Flow<'a> {
    host: &'a Host,
    p: &'a AptParams,
    simulate: bool,
    stop_at_update: bool,
    diff: bool,
    apt_get: String,
    result: FlowResult,
}

fn fail(msg: impl Into<String>, values: &[(&str, Value)]) -> ModuleError {
    ModuleError::Failed {
        msg: msg.into(),
        values: values
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
    }
}

impl<'a> Flow<'a> {
    async fn run(mut self) -> Result<FlowResult, ModuleError> {
        let outcome = self.main().await?;
        self.result.outcome = outcome;
        Ok(self.result)
    }

    async fn main(&mut self) -> Result<Outcome, ModuleError> {
        let p = self.p;
        let given = [
            p.deb.is_some(),
            p.name.is_some(),
            p.upgrade.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(fail(
                "parameters are mutually exclusive: deb|package|upgrade",
                &[],
            ));
        }
        if !(p.autoremove || p.deb.is_some() || p.name.is_some() || p.update_cache.is_some())
            && p.upgrade.is_none()
        {
            return Err(fail(
                "one of the following is required: autoremove, deb, package, update_cache, upgrade",
                &[],
            ));
        }
        let found = run(self.host, "command -v apt-get").await?;
        self.apt_get = found.out.trim().to_string();
        if found.rc != 0 || self.apt_get.is_empty() {
            return Err(fail(
                "Failed to find required executable \"apt-get\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                &[],
            ));
        }
        let nothing_else = p.name.is_none() && p.upgrade_mode().is_none() && p.deb.is_none();

        if p.clean {
            self.result.clean = true;
            let (out, err, diff) = if self.simulate {
                (String::new(), String::new(), None)
            } else {
                let r = run(self.host, "apt-get clean").await?;
                if r.rc != 0 {
                    return Err(fail(
                        "apt-get clean failed",
                        &[("stdout", r.out.into()), ("rc", r.rc.into())],
                    ));
                }
                if !r.err.is_empty() {
                    return Err(fail(
                        format!("apt-get clean failed: {}", r.err),
                        &[("stdout", r.out.into()), ("rc", r.rc.into())],
                    ));
                }
                let d = self.diff.then(|| prepared_diff(&r.out));
                (r.out, r.err, d)
            };
            if nothing_else {
                let mut o = Outcome::changed()
                    .with_msg(out.clone())
                    .with_value("stdout", out)
                    .with_value("stderr", err);
                o.diffs.extend(diff);
                return Ok(o);
            }
        }

        let (mtime, now) = self.cache_times().await?;
        let mut cache_time = mtime;
        let mut updated_cache = false;
        if p.update_cache == Some(true) || p.cache_valid_time > 0 {
            if mtime.saturating_add(p.cache_valid_time as i64) < now {
                if self.stop_at_update {
                    self.result.update_pending = true;
                    return Ok(Outcome::changed());
                }
                if self.simulate {
                    updated_cache = true;
                } else {
                    self.update_cache().await?;
                    let (after, _) = self.cache_times().await?;
                    updated_cache = after != mtime;
                    cache_time = after;
                }
            }
            if nothing_else {
                let mut o = Outcome::ok()
                    .with_value("cache_updated", updated_cache)
                    .with_value("cache_update_time", cache_time);
                o.changed = updated_cache;
                return Ok(o);
            }
        }

        if let Some(mode) = p.upgrade_mode() {
            return self.upgrade(mode).await;
        }

        if let Some(deb) = &p.deb {
            if p.state != AptState::Present {
                return Err(fail("deb only supports state=present", &[]));
            }
            if deb.contains("://") {
                return Err(fail(
                    "tend's apt takes `deb` as a path on the host; it does not download URLs",
                    &[],
                ));
            }
            return self.install_deb(deb).await;
        }

        let unfiltered = p.packages();
        let packages: Vec<String> = unfiltered
            .iter()
            .filter(|s| s.as_str() != "*")
            .map(|s| s.trim().to_string())
            .collect();
        let all_installed = unfiltered.iter().any(|s| s == "*");
        if p.state == AptState::Latest && all_installed {
            if !packages.is_empty() {
                return Err(fail(
                    "unable to install additional packages when upgrading all installed packages",
                    &[],
                ));
            }
            return self.upgrade(Upgrade::Yes).await;
        }
        for spec in &packages {
            if spec.matches('=').count() > 1 {
                return Err(fail(format!("invalid package spec: {spec}"), &[]));
            }
        }
        if packages.is_empty() {
            if p.autoclean {
                return self.cleanup("autoclean").await;
            }
            if p.autoremove {
                return self.cleanup("autoremove").await;
            }
        }
        if p.state == AptState::Absent {
            return self.remove(&packages).await;
        }
        let outcome = self
            .install(&packages)
            .await?
            .with_value("cache_updated", updated_cache)
            .with_value("cache_update_time", cache_time);
        Ok(outcome)
    }

    /// The cache's mtime (as Ansible's `get_cache_mtime`) and the host's clock.
    async fn cache_times(&self) -> Result<(i64, i64), ModuleError> {
        let script = format!(
            "if [ -e {stamp} ]; then stat -c %Y {stamp}; elif [ -e {lists} ]; then stat -c %Y {lists}; else echo 0; fi; date +%s",
            stamp = APT_UPDATE_SUCCESS_STAMP_PATH,
            lists = APT_LISTS_PATH
        );
        let out = self.host.sh_ok(&script).await?.stdout_lossy();
        let mut nums = out.lines().map(|l| l.trim().parse::<i64>().unwrap_or(0));
        Ok((nums.next().unwrap_or(0), nums.next().unwrap_or(0)))
    }

    async fn update_cache(&self) -> Result<(), ModuleError> {
        let retries = self.p.update_cache_retries.max(1);
        let mut err = String::new();
        for attempt in 0..retries {
            let r = run(self.host, "apt-get update -q").await?;
            if r.rc == 0 {
                return Ok(());
            }
            err = if r.err.trim().is_empty() {
                r.out
            } else {
                r.err
            };
            if attempt + 1 < retries {
                let delay = (1u64 << attempt.min(16)).min(self.p.update_cache_retry_max_delay);
                tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
            }
        }
        Err(fail(
            format!(
                "Failed to update apt cache after {retries} retries: {}",
                if err.trim().is_empty() {
                    "unknown reason"
                } else {
                    err.trim()
                }
            ),
            &[],
        ))
    }

    /// Installed/candidate versions of each package, and the names apt marked automatic.
    async fn statuses(&self, names: &[&str]) -> Result<Vec<PkgInfo>, ModuleError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut script = String::new();
        for name in names {
            let q = quote(name);
            script.push_str(&format!(
                "echo @@dpkg; dpkg-query -W -f='${{db:Status-Abbrev}}|${{Version}}\\n' {q} 2>/dev/null; \
                 echo @@policy; apt-cache policy {q} 2>/dev/null; "
            ));
        }
        script.push_str("echo @@end");
        let out = run(self.host, &script).await?.out;
        let mut infos = Vec::new();
        let mut dpkg = String::new();
        let mut policy = String::new();
        let mut section = "";
        for line in out.lines() {
            match line {
                "@@dpkg" | "@@end" => {
                    if section == "policy" {
                        infos.push(parse_pkg_info(&dpkg, &policy));
                        dpkg.clear();
                        policy.clear();
                    }
                    section = "dpkg";
                }
                "@@policy" => section = "policy",
                _ if section == "dpkg" => {
                    dpkg.push_str(line);
                    dpkg.push('\n');
                }
                _ => {
                    policy.push_str(line);
                    policy.push('\n');
                }
            }
        }
        if infos.len() != names.len() {
            return Err(fail("could not read the package status from the host", &[]));
        }
        Ok(infos)
    }

    /// Ansible's `expand_pkgspec_from_fnmatches`.
    async fn expand(&self, specs: &[String]) -> Result<Vec<String>, ModuleError> {
        let mut all: Option<Vec<String>> = None;
        let mut result = Vec::new();
        for spec in specs {
            let (name, _, _) = package_split(spec);
            if !name.contains(['*', '?', '[', ']', '!']) {
                result.push(spec.clone());
                continue;
            }
            if all.is_none() {
                let out = run(self.host, "apt-cache pkgnames").await?.out;
                let mut names: Vec<String> = out.lines().map(str::to_string).collect();
                names.sort();
                all = Some(names);
            }
            let matches: Vec<String> = all
                .iter()
                .flatten()
                .filter(|n| name.contains(':') || !n.contains(':'))
                .filter(|n| fnmatch(name, n))
                .cloned()
                .collect();
            if matches.is_empty() {
                return Err(fail(
                    format!("No package(s) matching '{name}' available"),
                    &[],
                ));
            }
            result.extend(matches);
        }
        Ok(result)
    }

    /// The command with `/usr/sbin/policy-rc.d` set to `exit N` around it (`policy_rc_d`), the
    /// previous file put back afterwards, as Ansible's PolicyRcD does. Not in a simulation,
    /// which must leave the host alone.
    fn with_policy_rc_d(&self, cmd: &str) -> String {
        let Some(code) = self.p.policy_rc_d.filter(|_| !self.simulate) else {
            return cmd.to_string();
        };
        format!(
            "p=/usr/sbin/policy-rc.d; b=''; if [ -e $p ]; then b=$(mktemp -d) && mv $p \"$b/\" || exit 1; fi; \
             printf '#!/bin/sh\\nexit %d\\n' {code} > $p && chmod 0755 $p || exit 1; \
             ( {cmd} ); rc=$?; rm -f $p; if [ -n \"$b\" ]; then mv \"$b/policy-rc.d\" $p; rmdir \"$b\"; fi; exit $rc"
        )
    }

    fn check_arg(&self) -> &'static str {
        if self.simulate {
            "--simulate"
        } else {
            ""
        }
    }

    /// Ansible's `install`.
    async fn install(&mut self, specs: &[String]) -> Result<Outcome, ModuleError> {
        let p = self.p;
        let build_dep = p.state == AptState::BuildDep;
        let upgrade = p.state == AptState::Latest;
        let specs = self.expand(specs).await?;
        let mut pkg_list = Vec::new();
        let mut package_names = Vec::new();
        if build_dep {
            pkg_list = specs.iter().map(|s| pkg_word(s)).collect();
        } else {
            let names: Vec<&str> = specs.iter().map(|s| package_split(s).0).collect();
            let infos = self.statuses(&names).await?;
            for (spec, info) in specs.iter().zip(&infos) {
                let (name, cmp, version) = package_split(spec);
                package_names.push(name.to_string());
                let (installed, installed_version, installable) = if info.known {
                    let (i, iv, vi) = package_status(info, cmp, version);
                    (i, iv, vi.map(Some))
                } else if info.listed {
                    // A virtual package: apt decides what provides it.
                    (false, false, Some(None))
                } else {
                    return Err(fail(
                        format!("No package matching '{name}' is available"),
                        &[],
                    ));
                };
                if !installed && p.only_upgrade {
                    continue;
                }
                if !installed_version && installable.is_none() {
                    return Err(fail(
                        format!("no available installation candidate for {spec}"),
                        &[],
                    ));
                }
                match installable {
                    Some(v) if (!installed && !p.only_upgrade) || upgrade || !installed_version => {
                        pkg_list.push(match (v, version) {
                            (Some(v), _) => pkg_word(&format!("{name}={v}")),
                            (None, Some(ver)) => pkg_word(&format!("{name}={ver}")),
                            (None, None) => pkg_word(name),
                        })
                    }
                    Some(_) if installed_version && cmp == Some("=") => {
                        pkg_list.push(pkg_word(&format!("{name}={}", version.unwrap_or(""))))
                    }
                    _ => {}
                }
            }
        }
        let outcome = if pkg_list.is_empty() {
            Outcome::ok()
        } else {
            let cmd = self.install_command(&pkg_list.join(" "), build_dep, "");
            let r = run(self.host, &self.with_policy_rc_d(&cmd)).await?;
            if r.rc != 0 {
                return Err(fail(
                    format!("'{cmd}' failed: {}", r.err),
                    &[
                        ("stdout", r.out.into()),
                        ("stderr", r.err.into()),
                        ("rc", r.rc.into()),
                    ],
                ));
            }
            let mut o = Outcome::ok();
            o.changed = !build_dep || !r.out.contains(APT_GET_ZERO);
            if self.diff {
                o.diffs.push(prepared_diff(&r.out));
            }
            o.with_value("stdout", r.out).with_value("stderr", r.err)
        };
        if !build_dep {
            self.mark_manual(&package_names).await?;
        }
        Ok(outcome)
    }

    /// The `apt-get install` (or `build-dep`) line Ansible runs.
    fn install_command(&self, packages: &str, build_dep: bool, extra_dpkg: &str) -> String {
        let p = self.p;
        let dpkg = if extra_dpkg.is_empty() {
            p.dpkg_options_expanded()
        } else {
            extra_dpkg.to_string()
        };
        let flag = |on: bool, s: &'static str| if on { s } else { "" };
        let only_upgrade = flag(p.only_upgrade, "--only-upgrade");
        let fixed = flag(p.state == AptState::Fixed, "--fix-broken");
        let force_yes = flag(p.force, "--force-yes");
        let no_remove = flag(p.fail_on_autoremove, "--no-remove");
        let mut cmd = if build_dep {
            format!(
                "{} -y {dpkg} {only_upgrade} {fixed} {force_yes} {no_remove} {} build-dep {packages}",
                self.apt_get,
                self.check_arg()
            )
        } else {
            format!(
                "{} -y {dpkg} {only_upgrade} {fixed} {force_yes} {} {no_remove} {} install {packages}",
                self.apt_get,
                flag(p.autoremove, "--auto-remove"),
                self.check_arg()
            )
        };
        if let Some(release) = &p.default_release {
            cmd.push_str(&format!(" -t {}", pkg_word(release)));
        }
        match p.install_recommends {
            Some(false) => cmd.push_str(" -o APT::Install-Recommends=no"),
            Some(true) => cmd.push_str(" -o APT::Install-Recommends=yes"),
            None => {}
        }
        if p.allow_unauthenticated {
            cmd.push_str(" --allow-unauthenticated");
        }
        if p.allow_downgrade {
            cmd.push_str(" --allow-downgrades");
        }
        if p.allow_change_held_packages {
            cmd.push_str(" --allow-change-held-packages");
        }
        cmd
    }

    /// `apt-mark manual` for the named packages that apt has as automatic.
    async fn mark_manual(&mut self, names: &[String]) -> Result<(), ModuleError> {
        if names.is_empty() {
            return Ok(());
        }
        let auto = run(self.host, "apt-mark showauto 2>/dev/null").await?.out;
        let auto: BTreeSet<&str> = auto.lines().map(str::trim).collect();
        let marked: Vec<String> = names
            .iter()
            .filter(|n| auto.contains(n.as_str()))
            .cloned()
            .collect();
        if marked.is_empty() {
            return Ok(());
        }
        if self.simulate {
            self.result.mark_manual = marked;
            return Ok(());
        }
        let words: Vec<String> = marked.iter().map(|n| quote(n)).collect();
        let cmd = format!("apt-mark manual {}", words.join(" "));
        let r = run(self.host, &cmd).await?;
        if r.rc != 0 {
            return Err(fail(
                format!("'{cmd}' failed: {}", r.err),
                &[
                    ("stdout", r.out.into()),
                    ("stderr", r.err.into()),
                    ("rc", r.rc.into()),
                ],
            ));
        }
        Ok(())
    }

    /// Ansible's `remove`.
    async fn remove(&mut self, specs: &[String]) -> Result<Outcome, ModuleError> {
        let p = self.p;
        let specs = self.expand(specs).await?;
        let names: Vec<&str> = specs.iter().map(|s| package_split(s).0).collect();
        let infos = self.statuses(&names).await?;
        let mut pkg_list = Vec::new();
        for (spec, info) in specs.iter().zip(&infos) {
            let (_, cmp, version) = package_split(spec);
            let (installed_version, has_files) = if info.known {
                let (_, iv, _) = package_status(info, cmp, version);
                (iv, info.has_files)
            } else {
                (false, false)
            };
            if installed_version || (has_files && p.purge) {
                pkg_list.push(pkg_word(spec));
            }
        }
        if pkg_list.is_empty() {
            return Ok(Outcome::ok());
        }
        let packages = pkg_list.join(" ");
        let flag = |on: bool, s: &'static str| if on { s } else { "" };
        let cmd = format!(
            "{} -q -y {} {} {} {} {} {} remove {packages}",
            self.apt_get,
            p.dpkg_options_expanded(),
            flag(p.purge, "--purge"),
            flag(p.force, "--force-yes"),
            flag(p.autoremove, "--auto-remove"),
            self.check_arg(),
            flag(p.allow_change_held_packages, "--allow-change-held-packages"),
        );
        let r = run(self.host, &self.with_policy_rc_d(&cmd)).await?;
        if r.rc != 0 {
            return Err(fail(
                format!("'apt-get remove {packages}' failed: {}", r.err),
                &[
                    ("stdout", r.out.into()),
                    ("stderr", r.err.into()),
                    ("rc", r.rc.into()),
                ],
            ));
        }
        let mut o = Outcome::changed();
        if self.diff {
            o.diffs.push(prepared_diff(&r.out));
        }
        Ok(o.with_value("stdout", r.out).with_value("stderr", r.err))
    }

    /// Ansible's `cleanup`: `apt-get autoremove` or `autoclean`.
    async fn cleanup(&mut self, operation: &str) -> Result<Outcome, ModuleError> {
        let p = self.p;
        let flag = |on: bool, s: &'static str| if on { s } else { "" };
        let cmd = format!(
            "{} -y {} {} {} {operation} {}",
            self.apt_get,
            p.dpkg_options_expanded(),
            flag(p.purge, "--purge"),
            flag(p.force, "--force-yes"),
            self.check_arg()
        );
        let r = run(self.host, &self.with_policy_rc_d(&cmd)).await?;
        if r.rc != 0 {
            return Err(fail(
                format!("'apt-get {operation}' failed: {}", r.err),
                &[
                    ("stdout", r.out.into()),
                    ("stderr", r.err.into()),
                    ("rc", r.rc.into()),
                ],
            ));
        }
        let marker = if operation == "autoremove" {
            "The following packages will be REMOVED"
        } else {
            "Del "
        };
        let mut o = Outcome::ok();
        o.changed = r.out.contains(marker);
        if self.diff {
            o.diffs.push(prepared_diff(&r.out));
        }
        Ok(o.with_value("stdout", r.out).with_value("stderr", r.err))
    }

    /// Ansible's `upgrade`, always through apt-get.
    async fn upgrade(&mut self, mode: Upgrade) -> Result<Outcome, ModuleError> {
        let p = self.p;
        let flag = |on: bool, s: &'static str| if on { s } else { "" };
        let autoremove = flag(p.autoremove, "--auto-remove");
        let command = match mode {
            Upgrade::Dist | Upgrade::Full => format!("dist-upgrade {autoremove}"),
            _ => format!("upgrade --with-new-pkgs {autoremove}"),
        };
        let mut cmd = format!(
            "{} -y {} {} {} {} {} {} {command}",
            self.apt_get,
            p.dpkg_options_expanded(),
            flag(p.force, "--force-yes"),
            flag(p.fail_on_autoremove, "--no-remove"),
            flag(p.allow_unauthenticated, "--allow-unauthenticated"),
            flag(p.allow_downgrade, "--allow-downgrades"),
            self.check_arg()
        );
        if let Some(release) = &p.default_release {
            cmd.push_str(&format!(" -t {}", pkg_word(release)));
        }
        let r = run(self.host, &self.with_policy_rc_d(&cmd)).await?;
        if r.rc != 0 {
            return Err(fail(
                format!("'{} {command}' failed: {}", self.apt_get, r.err),
                &[("stdout", r.out.into()), ("rc", r.rc.into())],
            ));
        }
        let mut o = Outcome::ok()
            .with_msg(r.out.clone())
            .with_value("stdout", r.out.clone())
            .with_value("stderr", r.err);
        if !r.out.contains(APT_GET_ZERO) {
            o.changed = true;
            if self.diff {
                o.diffs.push(prepared_diff(&r.out));
            }
        }
        Ok(o)
    }

    /// Ansible's `install_deb`, for one or more comma-separated paths on the host.
    async fn install_deb(&mut self, debs: &str) -> Result<Outcome, ModuleError> {
        let p = self.p;
        let mut deps: Vec<String> = Vec::new();
        let mut to_install: Vec<String> = Vec::new();
        for file in debs.split(',') {
            let fields = run(
                self.host,
                &format!(
                    "dpkg-deb -f {} Package Version Depends Pre-Depends Recommends",
                    quote(file)
                ),
            )
            .await?;
            if fields.rc != 0 {
                return Err(fail(
                    format!("Unable to install package: {}", fields.err.trim()),
                    &[],
                ));
            }
            let field = |key: &str| deb_field(&fields.out, key);
            let name = field("Package");
            let version = field("Version");
            let info = self.statuses(&[name.as_str()]).await?.remove(0);
            if let Some(installed) = info.installed_version.as_deref() {
                match deb_version_cmp(&version, installed) {
                    Ordering::Equal => continue,
                    Ordering::Less if !(p.force || p.allow_downgrade) => {
                        return Err(fail("A later version is already installed", &[]));
                    }
                    _ => {}
                }
            }
            let mut wanted: Vec<String> = Vec::new();
            for key in ["Pre-Depends", "Depends"] {
                wanted.extend(unmet_candidates(&field(key)));
            }
            if !wanted.is_empty() {
                let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
                let infos = self.statuses(&names).await?;
                for (group, info) in wanted.iter().zip(&infos) {
                    if !info.installed && !deps.contains(group) {
                        deps.push(group.clone());
                    }
                }
            }
            if p.install_recommends == Some(true) {
                deps.extend(field("Recommends").split_whitespace().map(str::to_string));
            }
            to_install.push(file.to_string());
        }
        let mut changed = false;
        let mut stdout = String::new();
        let mut stderr = String::new();
        let mut prepared: Option<String> = None;
        if !deps.is_empty() {
            let pkg_list: Vec<String> = deps.iter().map(|d| pkg_word(d)).collect();
            let cmd = self.install_command(
                &pkg_list.join(" "),
                false,
                &format!(
                    "{} -o DPkg::Lock::Timeout={}",
                    expand_dpkg_options(&p.dpkg_options),
                    p.lock_timeout
                ),
            );
            let r = run(self.host, &self.with_policy_rc_d(&cmd)).await?;
            if r.rc != 0 {
                return Err(fail(
                    format!("'{cmd}' failed: {}", r.err),
                    &[
                        ("stdout", r.out.into()),
                        ("stderr", r.err.into()),
                        ("rc", r.rc.into()),
                    ],
                ));
            }
            changed = true;
            prepared = Some(parse_diff(&r.out));
            stdout = r.out;
            stderr = r.err;
        }
        if to_install.is_empty() {
            let mut o = Outcome::ok()
                .with_value("stdout", stdout)
                .with_value("stderr", stderr);
            o.changed = changed;
            if let (true, Some(text)) = (self.diff, prepared) {
                o.diffs.push(Diff::prepared(text));
            }
            return Ok(o);
        }
        let mut options: Vec<String> = p.dpkg_options.split(',').map(|o| format!("--{o}")).collect();
        if self.simulate {
            options.push("--simulate".into());
        }
        if p.force {
            options.push("--force-all".into());
        }
        let files: Vec<String> = to_install.iter().map(|f| quote(f)).collect();
        let cmd = format!("dpkg {} -i {}", options.join(" "), files.join(" "));
        let r = run(self.host, &self.with_policy_rc_d(&cmd)).await?;
        stdout.push_str(&r.out);
        stderr.push_str(&r.err);
        if r.rc != 0 {
            return Err(fail(
                format!("{cmd} failed"),
                &[("stdout", stdout.into()), ("stderr", stderr.into())],
            ));
        }
        let mut o = Outcome::changed();
        if self.diff {
            let text = match prepared {
                Some(mut text) => {
                    text.push_str("\n\n");
                    text.push_str(&r.out);
                    text
                }
                None => parse_diff(&r.out),
            };
            o.diffs.push(Diff::prepared(text));
        }
        Ok(o.with_value("stdout", stdout).with_value("stderr", stderr))
    }
}

/// One field of `dpkg-deb -f file F1 F2 ...` output (`F1: value` lines, continuation lines
/// indented).
fn deb_field(text: &str, key: &str) -> String {
    let mut value = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if inside {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        inside = false;
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case(key) {
                inside = true;
                value = v.trim().to_string();
            }
        }
    }
    value
}

/// The first alternative's package name of each `Depends` entry (`a (>= 1) | b, c:any`).
fn unmet_candidates(depends: &str) -> Vec<String> {
    depends
        .split(',')
        .filter_map(|group| {
            let first = group.split('|').next()?.trim();
            let name = first
                .split(|c: char| c.is_whitespace() || c == '(')
                .next()?
                .trim();
            let name = name.strip_suffix(":any").unwrap_or(name);
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// Python's `fnmatch.fnmatch` on a POSIX host: `*`, `?`, `[...]` (with `!` negation).
fn fnmatch(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(close) = p.iter().skip(2).position(|c| *c == ']').map(|i| i + 2) else {
                    return t.first() == Some(&'[') && go(&p[1..], &t[1..]);
                };
                let Some(c) = t.first() else { return false };
                let mut set = &p[1..close];
                let negate = set.first() == Some(&'!');
                if negate {
                    set = &set[1..];
                }
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[close + 1..], &t[1..])
            }
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// Debian version comparison (`dpkg --compare-versions`): epoch, upstream, revision.
pub(crate) fn deb_version_cmp(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((up, rev)) => (epoch, up, rev),
            None => (epoch, rest, ""),
        }
    }
    fn order(c: Option<char>) -> i32 {
        match c {
            None => 0,
            Some('~') => -1,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(c) => c as i32 + 256,
        }
    }
    fn part(a: &str, b: &str) -> Ordering {
        let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
        while !a.is_empty() || !b.is_empty() {
            // Non-digit prefixes, compared with `~` lowest and letters before the rest.
            loop {
                let ca = a.first().filter(|c| !c.is_ascii_digit()).map(|c| *c as char);
                let cb = b.first().filter(|c| !c.is_ascii_digit()).map(|c| *c as char);
                if ca.is_none() && cb.is_none() {
                    break;
                }
                let (oa, ob) = (order(ca), order(cb));
                if oa != ob {
                    return oa.cmp(&ob);
                }
                a = &a[1..];
                b = &b[1..];
            }
            let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
            let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let na = std::str::from_utf8(&a[..da]).ok().and_then(|s| s.parse::<u128>().ok());
            let nb = std::str::from_utf8(&b[..db]).ok().and_then(|s| s.parse::<u128>().ok());
            match na.unwrap_or(0).cmp(&nb.unwrap_or(0)) {
                Ordering::Equal => {}
                other => return other,
            }
            a = &a[da..];
            b = &b[db..];
        }
        Ordering::Equal
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| part(ua, ub))
        .then_with(|| part(ra, rb))
}

pub struct AptModule;

/// What the query found: the result of Ansible's logic run with `--simulate`.
#[derive(Debug)]
pub struct Observed {
    flow: FlowResult,
}

/// A real run of the module's logic.
#[derive(Debug)]
pub struct AptRun;

pub(crate) async fn simulate(
    params: &AptParams,
    ctx: &Context<'_>,
) -> Result<Observed, ModuleError> {
    let flow = Flow {
        host: ctx.host,
        p: params,
        simulate: true,
        // Outside check mode, what follows a cache update depends on the updated cache.
        stop_at_update: !ctx.check_mode,
        diff: ctx.diff,
        apt_get: String::new(),
        result: FlowResult::default(),
    };
    Ok(Observed {
        flow: flow.run().await?,
    })
}

pub(crate) fn decide(observed: Observed) -> Planned<AptRun> {
    let flow = observed.flow;
    if flow.outcome.changed || flow.update_pending || flow.clean || !flow.mark_manual.is_empty() {
        Planned::Change {
            action: AptRun,
            preview: flow.outcome,
        }
    } else {
        Planned::Done(flow.outcome)
    }
}

pub(crate) async fn run_for_real(
    params: &AptParams,
    ctx: &Context<'_>,
) -> Result<Outcome, ModuleError> {
    let flow = Flow {
        host: ctx.host,
        p: params,
        simulate: false,
        stop_at_update: false,
        diff: ctx.diff,
        apt_get: String::new(),
        result: FlowResult::default(),
    };
    let mut outcome = flow.run().await?.outcome;
    // Only what apt printed as its plan is a diff; an empty one shows nothing.
    outcome.diffs.retain(|d| !d.after.is_empty());
    Ok(outcome)
}

#[async_trait]
impl Module for AptModule {
    type Params = AptParams;
    type Observed = Observed;
    type Action = AptRun;

    const NAME: &'static str = "apt";

    async fn query(&self, params: &AptParams, ctx: &Context<'_>) -> Result<Observed, ModuleError> {
        simulate(params, ctx).await
    }

    fn plan(
        &self,
        _params: &AptParams,
        observed: Observed,
        _ctx: &Context<'_>,
    ) -> Result<Planned<AptRun>, ModuleError> {
        Ok(decide(observed))
    }

    async fn apply(
        &self,
        params: &AptParams,
        _action: AptRun,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        run_for_real(params, ctx).await
    }
}

tend_module_api::register_module!(AptModule);

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> AptParams {
        tend_module_api::args::from_args(&json, tend_module_api::args::ArgMode::Run)
            .expect("params")
    }

    #[test]
    fn debian_versions_compare_as_dpkg_does() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1:0.1", "2.0", Greater),
            ("1.0-1", "1.0-2", Less),
            ("1.0a", "1.0", Greater),
            ("1.0+b1", "1.0", Greater),
            ("2.36.1-8+deb12u1", "2.36.1-8", Greater),
            ("1.0-1", "1.0", Greater),
        ] {
            assert_eq!(deb_version_cmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn fnmatch_as_python() {
        assert!(fnmatch("1.*", "1.0"));
        assert!(fnmatch("*", ""));
        assert!(!fnmatch("1.*", "2.0"));
        assert!(fnmatch("1.?", "1.5"));
        assert!(fnmatch("tend[a-c]", "tendb"));
        assert!(!fnmatch("tend[!a-c]", "tendb"));
        assert!(fnmatch("2.0", "2.0"));
    }

    #[test]
    fn package_specs_split_as_ansible() {
        assert_eq!(package_split("foo"), ("foo", None, None));
        assert_eq!(package_split("foo=1.0*"), ("foo", Some("="), Some("1.0*")));
        assert_eq!(package_split("foo>=2"), ("foo", Some(">="), Some("2")));
    }

    const POLICY: &str = "tendpkg-a:\n  Installed: 1.0\n  Candidate: 2.0\n  Version table:\n     2.0 500\n        500 file:/srv/repo ./ Packages\n *** 1.0 500\n        500 file:/srv/repo ./ Packages\n        100 /var/lib/dpkg/status\n";

    #[test]
    fn reads_dpkg_query_and_apt_cache_policy() {
        let info = parse_pkg_info("ii |1.0\n", POLICY);
        assert!(info.known && info.installed && info.has_files);
        assert_eq!(info.installed_version.as_deref(), Some("1.0"));
        assert_eq!(info.candidate.as_deref(), Some("2.0"));
        assert_eq!(info.versions, vec!["2.0", "1.0"]);

        let info = parse_pkg_info("rc |1.0\n", "x:\n  Installed: (none)\n  Candidate: 1.0\n  Version table:\n     1.0 500\n        500 file:/srv/repo ./ Packages\n");
        assert!(!info.installed && info.has_files && info.known);

        let virtual_pkg = parse_pkg_info("", "mail-transport-agent:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n");
        assert!(virtual_pkg.listed && !virtual_pkg.known);
        assert_eq!(parse_pkg_info("", ""), PkgInfo::default());
    }

    #[test]
    fn status_decides_like_ansible() {
        let info = parse_pkg_info("ii |1.0\n", POLICY);
        // Installed, newer candidate: installed matches, 2.0 is installable (for latest).
        assert_eq!(package_status(&info, None, None), (true, true, Some("2.0".into())));
        assert_eq!(
            package_status(&info, Some("="), Some("1.0")),
            (true, true, None)
        );
        assert_eq!(
            package_status(&info, Some("="), Some("2.*")),
            (true, false, Some("2.0".into()))
        );
        assert_eq!(
            package_status(&info, Some(">="), Some("1.5")),
            (true, false, Some("2.0".into()))
        );
        let absent = parse_pkg_info("", POLICY.replace(" *** 1.0", "     1.0").as_str());
        assert_eq!(
            package_status(&absent, Some("="), Some("1.0")),
            (false, false, Some("1.0".into()))
        );
        assert_eq!(package_status(&absent, Some("="), Some("3.0")), (false, false, None));
    }

    #[test]
    fn diff_is_apt_gets_plan() {
        let out = "Reading package lists...\nBuilding dependency tree...\nReading state information...\nThe following NEW packages will be installed:\n  tendpkg-b\n0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\nInst tendpkg-b (1.0 ./)\n";
        assert_eq!(
            parse_diff(out),
            "The following NEW packages will be installed:\n  tendpkg-b\n0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded."
        );
        assert_eq!(parse_diff("a\nb"), "a\nb");
    }

    #[test]
    fn deb_fields_and_dependencies() {
        let text = "Package: tendpkg-local\nVersion: 1.0\nDepends: tendpkg-lib (>= 1.0) | other, libc6:any\n";
        assert_eq!(deb_field(text, "Version"), "1.0");
        assert_eq!(deb_field(text, "Recommends"), "");
        assert_eq!(
            unmet_candidates(&deb_field(text, "Depends")),
            vec!["tendpkg-lib", "libc6"]
        );
    }

    #[test]
    fn policy_rc_d_wraps_real_commands_only() {
        let p = params(serde_json::json!({"name": "a", "policy_rc_d": 101}));
        let host = crate::testing::local_host();
        let flow = |simulate| Flow {
            host: &host,
            p: &p,
            simulate,
            stop_at_update: false,
            diff: false,
            apt_get: "/usr/bin/apt-get".into(),
            result: FlowResult::default(),
        };
        assert_eq!(flow(true).with_policy_rc_d("apt-get -s install x"), "apt-get -s install x");
        let wrapped = flow(false).with_policy_rc_d("apt-get install x");
        assert!(wrapped.contains("printf '#!/bin/sh\\nexit %d\\n' 101 > $p"));
        assert!(wrapped.contains("( apt-get install x ); rc=$?; rm -f $p;"));
    }

    #[test]
    fn params_take_ansible_spellings() {
        let p = params(serde_json::json!({"pkg": "a,b", "update-cache": "yes", "upgrade": true}));
        assert_eq!(p.packages(), ["a", "b"]);
        assert_eq!(p.update_cache, Some(true));
        assert_eq!(p.upgrade, Some(Upgrade::Yes));
        let p = params(serde_json::json!({"name": "a", "state": "build-dep", "allow-downgrades": true}));
        assert_eq!(p.state, AptState::BuildDep);
        assert!(p.allow_downgrade);
        assert_eq!(
            p.dpkg_options_expanded(),
            "-o \"Dpkg::Options::=--force-confdef\" -o \"Dpkg::Options::=--force-confold\" -o DPkg::Lock::Timeout=60"
        );
    }
}
