//! `dnf` (and its alias `yum`): RPM packages are installed, upgraded to the latest version or
//! removed with the host's `dnf` command; package groups (`@group`) and local `.rpm` files too.
//!
//! ```yaml
//! - name: Web server and tools
//!   ansible.builtin.dnf:
//!     name: [nginx, tree-1.8.0, "@Development Tools"]
//!     state: present
//!     enablerepo: epel
//!
//! - name: Everything up to date, security fixes only
//!   ansible.builtin.dnf:
//!     name: "*"
//!     state: latest
//!     security: true
//!
//! - ansible.builtin.yum:
//!     name: telnet
//!     state: absent
//!     autoremove: true
//! ```
//!
//! **Proven by unit tests only**: no RPM-based host is available to tend's test lab, so the
//! command lines and the parsing of recorded `rpm -q` and `dnf` outputs are unit-tested, but no
//! conformance case runs this module against Ansible's.
//!
//! Ansible's module drives the `python3-dnf` library; tend needs no Python on the host and
//! drives the `dnf` command line instead (`yum` where there is no `dnf`). The query asks
//! `rpm -q` about every named package (`name`, `name-version`, `name-version-release`,
//! `name.arch`) and local `.rpm` file (`rpm -qp`); what must change is then resolved with the
//! very `dnf` command a real run uses, given `--assumeno`, so check mode reports the
//! transaction (`results`: `Installed: nevra`, `Removed: nevra`) without running it, as
//! Ansible resolves the transaction without running it. A real run then runs those commands
//! with `-y`. Return keys are Ansible's: `msg` (`Nothing to do`, `Check mode: No changes made,
//! but would have if not in check mode`, `Cache updated`, `Failed to install some of the
//! specified packages`), `rc`, `results`, `failures`.
//!
//! Differences from Ansible:
//! - URLs in `name` are refused (tend downloads nothing onto the host for this module); put
//!   the file on the host first (`get_url`) and name its path. `list` is refused.
//! - An upgrade lists the new package as `Installed:`; the old one appears as `Removed:` only
//!   for packages named in the task (dnf's table does not print the version replaced).
//! - With `state: latest`, a glob goes to `dnf install` (installed matches are not upgraded)
//!   and a group to `dnf upgrade` (a group not installed yet fails; Ansible installs it).
//!   Modules (`@module:stream`) are passed to dnf like groups.
//! - A path not ending in `.rpm` (`/usr/bin/vi`) is looked up with `rpm -q --whatprovides`.
//! - `allow_downgrade: false` does not stop `dnf install name-olderversion` from downgrading;
//!   `lock_timeout`, `validate_certs` and `install_repoquery` are accepted and have no effect
//!   (`sslverify: false` is passed as `--setopt=sslverify=False`).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnfState {
    /// Defaults to `present` (or `absent` with `autoremove`), as Ansible decides.
    #[default]
    #[serde(skip)]
    Unset,
    Present,
    Installed,
    Latest,
    Absent,
    Removed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UseBackend {
    #[default]
    Auto,
    Dnf,
    Yum,
    Yum4,
    Dnf4,
    Dnf5,
}

fn default_true() -> bool {
    true
}
fn default_installroot() -> String {
    "/".to_string()
}
fn default_lock_timeout() -> i64 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// Some parameters are accepted for compatibility and have no effect (see the doc header).
#[allow(dead_code)]
pub struct DnfParams {
    /// Packages (`name`, `name-version[-release]`, `name.arch`, globs), groups or modules
    /// (`@name`), or paths of `.rpm` files on the host; `*` with `state: latest` upgrades all.
    #[serde(default, alias = "pkg")]
    pub name: Vec<String>,
    /// `present`/`installed`, `latest`, or `absent`/`removed`; default `present`
    /// (`absent` when `autoremove` is set).
    #[serde(default)]
    pub state: DnfState,
    /// Repositories to enable for this run (`--enablerepo`).
    #[serde(default)]
    pub enablerepo: Vec<String>,
    /// Repositories to disable for this run (`--disablerepo`).
    #[serde(default)]
    pub disablerepo: Vec<String>,
    /// An alternative dnf configuration file (`--config`).
    #[serde(default)]
    pub conf_file: Option<String>,
    /// Do not check GPG signatures (`--nogpgcheck`).
    #[serde(default)]
    pub disable_gpg_check: bool,
    /// Install into this root instead of `/` (`--installroot`).
    #[serde(default = "default_installroot")]
    pub installroot: String,
    /// Refresh the metadata first (`--refresh`; alone: `dnf makecache`).
    #[serde(default, alias = "expire-cache")]
    pub update_cache: bool,
    /// Only upgrade packages that are installed; do not install new ones.
    #[serde(default)]
    pub update_only: bool,
    /// Only security updates (`--security`).
    #[serde(default)]
    pub security: bool,
    /// Only bugfix updates (`--bugfix`).
    #[serde(default)]
    pub bugfix: bool,
    /// Packages to leave out of the transaction (`--exclude`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Remove packages no longer needed (`dnf autoremove`); with no names, only that.
    #[serde(default)]
    pub autoremove: bool,
    /// Only download the packages (`--downloadonly`).
    #[serde(default)]
    pub download_only: bool,
    /// Where `download_only` puts the packages (`--downloaddir`).
    #[serde(default)]
    pub download_dir: Option<String>,
    /// Allow removing installed packages to resolve dependencies (`--allowerasing`).
    #[serde(default)]
    pub allowerasing: bool,
    /// Do not insist on the best candidate (`--nobest`).
    #[serde(default)]
    pub nobest: Option<bool>,
    /// Insist on the best candidate (`--best`/`--nobest`).
    #[serde(default)]
    pub best: Option<bool>,
    /// Install weak dependencies (`--setopt=install_weak_deps=False` when false).
    #[serde(default = "default_true")]
    pub install_weak_deps: bool,
    /// The release version to use (`--releasever`).
    #[serde(default)]
    pub releasever: Option<String>,
    /// Skip packages with broken dependencies (`--skip-broken`).
    #[serde(default)]
    pub skip_broken: bool,
    /// Use only the cached metadata (`--cacheonly`).
    #[serde(default)]
    pub cacheonly: bool,
    /// Disable the excludes of `all`, `main` or a repository (`--disableexcludes`).
    #[serde(default)]
    pub disable_excludes: Option<String>,
    /// Plugins to disable (`--disableplugin`).
    #[serde(default)]
    pub disable_plugin: Vec<String>,
    /// Plugins to enable (`--enableplugin`).
    #[serde(default)]
    pub enable_plugin: Vec<String>,
    /// Allow downgrades (accepted; see the differences above).
    #[serde(default)]
    pub allow_downgrade: bool,
    /// Seconds to wait for the dnf lock (accepted; dnf waits for its own lock).
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout: i64,
    /// Verify TLS certificates (accepted; use `sslverify`).
    #[serde(default = "default_true")]
    pub validate_certs: bool,
    /// Verify the repositories' TLS certificates (`--setopt=sslverify=False` when false).
    #[serde(default = "default_true")]
    pub sslverify: bool,
    /// Which backend Ansible picks (tend always drives the `dnf` command line).
    #[serde(default)]
    pub use_backend: UseBackend,
    /// Accepted and ignored, as in Ansible 2.19.
    #[serde(default = "default_true")]
    pub install_repoquery: bool,
    /// Ansible's package listing; not supported by tend (refused).
    #[serde(default)]
    pub list: Option<String>,
}

/// What a `name` entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spec {
    /// A package spec that `rpm -q` understands.
    Package(String),
    /// A glob: only dnf can tell what it matches.
    Glob(String),
    /// `@group`, `@environment` or `@module:stream`, as dnf takes it.
    Group(String),
    /// A `.rpm` file on the host.
    File(String),
}

pub(crate) fn classify(name: &str) -> Result<Spec, ModuleError> {
    let name = name.trim();
    if name.contains("://") {
        return Err(ModuleError::failed(format!(
            "tend's dnf module does not download packages: {name} is a URL. Copy the \
             package to the host first (get_url) and name its path."
        )));
    }
    Ok(if name.ends_with(".rpm") {
        Spec::File(name.to_string())
    } else if name.starts_with('@') {
        Spec::Group(name.to_string())
    } else if name.contains(['*', '?', '[']) {
        Spec::Glob(name.to_string())
    } else {
        Spec::Package(name.to_string())
    })
}

/// An installed package as `rpm -q --qf` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nevra {
    pub name: String,
    pub epoch: Option<String>,
    pub version: String,
    pub release: String,
    pub arch: String,
}

impl std::fmt::Display for Nevra {
    /// As dnf names a package: `name-[epoch:]version-release.arch`, epoch 0 left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.epoch.as_deref() {
            Some(e) if e != "0" => write!(
                f,
                "{}-{e}:{}-{}.{}",
                self.name, self.version, self.release, self.arch
            ),
            _ => write!(
                f,
                "{}-{}-{}.{}",
                self.name, self.version, self.release, self.arch
            ),
        }
    }
}

const RPM_QF: &str = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n";

/// Lines of `rpm -q --qf RPM_QF`; "package x is not installed" lines are skipped.
pub(crate) fn parse_rpm_q(stdout: &str) -> Vec<Nevra> {
    stdout
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 5 {
                return None;
            }
            Some(Nevra {
                name: f[0].to_string(),
                epoch: (f[1] != "(none)").then(|| f[1].to_string()),
                version: f[2].to_string(),
                release: f[3].to_string(),
                arch: f[4].to_string(),
            })
        })
        .collect()
}

/// The resolved effective state.
fn state(p: &DnfParams) -> DnfState {
    match p.state {
        DnfState::Unset if p.autoremove => DnfState::Absent,
        DnfState::Unset | DnfState::Installed => DnfState::Present,
        DnfState::Removed => DnfState::Absent,
        s => s,
    }
}

/// A `name` entry with what `rpm` said about it.
#[derive(Debug, Clone)]
pub(crate) struct Queried {
    pub spec: Spec,
    /// The installed packages matching it (for a file: installed at the file's version).
    pub installed: Vec<Nevra>,
}

/// The dnf sub-commands a task needs, with the specs each gets.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Ops {
    pub install: Vec<String>,
    pub upgrade: Vec<String>,
    pub remove: Vec<String>,
    pub autoremove: bool,
    /// `upgrade` with no names: everything (`name: "*"`, `state: latest`).
    pub upgrade_all: bool,
    /// Result lines known before dnf is asked (`update_only` skips).
    pub notes: Vec<String>,
}

impl Ops {
    /// The sub-commands, in the order they run.
    pub fn commands(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut out = Vec::new();
        if self.upgrade_all {
            out.push(("upgrade", Vec::new()));
        }
        if !self.upgrade.is_empty() {
            out.push(("upgrade", self.upgrade.clone()));
        }
        if !self.install.is_empty() {
            out.push(("install", self.install.clone()));
        }
        if !self.remove.is_empty() {
            out.push(("remove", self.remove.clone()));
        }
        if self.autoremove {
            out.push(("autoremove", Vec::new()));
        }
        out
    }
}

/// Decides which specs go to which dnf command, from what rpm said. Pure.
pub(crate) fn operations(p: &DnfParams, queried: &[Queried]) -> Result<Ops, ModuleError> {
    let mut ops = Ops::default();
    let st = state(p);
    if st == DnfState::Latest && p.name.len() == 1 && p.name[0].trim() == "*" {
        ops.upgrade_all = true;
        return Ok(ops);
    }
    for q in queried {
        let installed = !q.installed.is_empty();
        match (&q.spec, st) {
            (Spec::File(_), DnfState::Absent) => {
                return Err(fail(
                    "Cannot remove paths -- please specify package name.",
                    &[("results", Value::Array(vec![]))],
                ))
            }
            (Spec::Package(s) | Spec::Glob(s) | Spec::Group(s), DnfState::Absent) => {
                if installed || !matches!(q.spec, Spec::Package(_)) {
                    ops.remove.push(s.clone());
                }
            }
            (Spec::File(s), _) => {
                if !installed {
                    ops.install.push(s.clone());
                }
            }
            (Spec::Group(s), DnfState::Latest) => ops.upgrade.push(s.clone()),
            (Spec::Group(s) | Spec::Glob(s), _) => {
                if p.update_only {
                    ops.upgrade.push(s.clone());
                } else {
                    ops.install.push(s.clone());
                }
            }
            (Spec::Package(s), _) if !installed => {
                if p.update_only {
                    ops.notes.push(format!(
                        "Packages providing {s} not installed due to update_only specified"
                    ));
                } else {
                    ops.install.push(s.clone());
                }
            }
            (Spec::Package(s), DnfState::Latest) => ops.upgrade.push(s.clone()),
            (Spec::Package(_), _) => {}
        }
    }
    ops.autoremove = p.autoremove;
    Ok(ops)
}

/// Whether dnf is asked to only resolve (`--assumeno`) or to run (`-y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Resolve,
    Run,
}

/// The shell command line of one dnf sub-command, with the task's options.
pub(crate) fn command_line(
    dnf: &str,
    p: &DnfParams,
    verb: &str,
    specs: &[String],
    mode: Mode,
) -> String {
    let mut args: Vec<String> = vec![dnf.to_string(), verb.to_string()];
    args.push(match mode {
        Mode::Resolve => "--assumeno".into(),
        Mode::Run => "-y".into(),
    });
    if let Some(conf) = &p.conf_file {
        args.push(format!("--config={conf}"));
    }
    if p.disable_gpg_check {
        args.push("--nogpgcheck".into());
    }
    // Ansible disables first, then enables: `disablerepo: '*'` with `enablerepo: x` works.
    for r in &p.disablerepo {
        args.push(format!("--disablerepo={r}"));
    }
    for r in &p.enablerepo {
        args.push(format!("--enablerepo={r}"));
    }
    if p.installroot != "/" {
        args.push(format!("--installroot={}", p.installroot));
    }
    if p.update_cache {
        args.push("--refresh".into());
    }
    if p.security {
        args.push("--security".into());
    }
    if p.bugfix {
        args.push("--bugfix".into());
    }
    for e in &p.exclude {
        args.push(format!("--exclude={e}"));
    }
    if p.download_only {
        args.push("--downloadonly".into());
        if let Some(dir) = &p.download_dir {
            args.push(format!("--downloaddir={dir}"));
        }
    }
    // Ansible lets a removal take dependent packages with it, as the CLI does.
    if p.allowerasing && verb != "remove" {
        args.push("--allowerasing".into());
    }
    if p.nobest == Some(true) || p.best == Some(false) {
        args.push("--nobest".into());
    } else if p.best == Some(true) || p.nobest == Some(false) {
        args.push("--best".into());
    }
    if !p.install_weak_deps {
        args.push("--setopt=install_weak_deps=False".into());
    }
    if let Some(r) = &p.releasever {
        args.push(format!("--releasever={r}"));
    }
    if p.skip_broken {
        args.push("--skip-broken".into());
    }
    if p.cacheonly {
        args.push("--cacheonly".into());
    }
    if let Some(d) = &p.disable_excludes {
        args.push(format!("--disableexcludes={d}"));
    }
    for x in &p.disable_plugin {
        args.push(format!("--disableplugin={x}"));
    }
    for x in &p.enable_plugin {
        args.push(format!("--enableplugin={x}"));
    }
    if !p.sslverify {
        args.push("--setopt=sslverify=False".into());
    }
    if !specs.is_empty() {
        args.push("--".into());
        args.extend(specs.iter().cloned());
    }
    // dnf's tables are parsed: the C locale keeps their headings in English.
    let words: Vec<String> = args.iter().map(|a| quote(a)).collect();
    format!("LC_ALL=C LANG=C {}", words.join(" "))
}

/// What dnf printed for a transaction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Transaction {
    /// Packages installed, upgraded, downgraded or reinstalled (`name-[e:]v-r.arch`).
    pub install: Vec<String>,
    /// Packages removed.
    pub remove: Vec<String>,
    /// Names of the packages upgraded or downgraded (their old version goes away).
    pub replaced: Vec<String>,
    /// `No match for argument: x` and `Error: ...` lines.
    pub errors: Vec<String>,
}

impl Transaction {
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.remove.is_empty()
    }
}

/// Parses dnf's transaction table (dnf 4 and 5, and yum 3 print the same rows:
/// ` name  arch  [epoch:]version-release  repository  size`). A name too long for its column
/// is printed on a line of its own, the rest of the row on the next line.
pub(crate) fn parse_transaction(stdout: &str, stderr: &str) -> Transaction {
    #[derive(PartialEq)]
    enum Sec {
        None,
        Install,
        Upgrade,
        Remove,
        Skip,
    }
    let mut t = Transaction::default();
    let mut sec = Sec::None;
    let mut pending: Option<String> = None;
    for line in stdout.lines() {
        if line.trim().is_empty() || line.starts_with('=') {
            continue;
        }
        if !line.starts_with(' ') {
            pending = None;
            let head = line.trim_end().to_ascii_lowercase();
            // Group, environment and module rows name no package (their packages are listed
            // under "Installing group/module packages:").
            sec = if !head.ends_with(':')
                || head.ends_with("groups:")
                || head.ends_with("profiles:")
                || head.ends_with("streams:")
            {
                Sec::None
            } else if head.starts_with("upgrading") || head.starts_with("downgrading") {
                Sec::Upgrade
            } else if head.starts_with("installing") || head.starts_with("reinstalling") {
                Sec::Install
            } else if head.starts_with("removing") || head.starts_with("obsoleting") {
                Sec::Remove
            } else {
                Sec::Skip
            };
            continue;
        }
        if matches!(sec, Sec::None | Sec::Skip) {
            continue;
        }
        let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        // dnf 5 lists what an upgrade replaces as "   replacing name arch version ...".
        if words.first().map(String::as_str) == Some("replacing") {
            continue;
        }
        if let Some(name) = pending.take() {
            words.insert(0, name);
        }
        if words.len() == 1 {
            pending = words.pop();
            continue;
        }
        if words.len() < 3 {
            continue;
        }
        let nevra = format!("{}-{}.{}", words[0], words[2], words[1]);
        match sec {
            Sec::Remove => t.remove.push(nevra),
            Sec::Upgrade => {
                t.replaced.push(words[0].clone());
                t.install.push(nevra);
            }
            _ => t.install.push(nevra),
        }
    }
    for line in stdout.lines().chain(stderr.lines()) {
        let line = line.trim();
        if line.starts_with("No match for argument") || line.starts_with("Error:") {
            t.errors.push(line.to_string());
        }
    }
    t
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

/// One dnf sub-command and what its resolution showed.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub verb: &'static str,
    pub specs: Vec<String>,
    pub resolved: Transaction,
    /// dnf's exit status when resolving; with `--assumeno` a pending transaction exits 1.
    pub rc: i32,
}

/// What the query found.
#[derive(Debug)]
pub struct Observed {
    dnf: String,
    /// Only the cache is refreshed (`update_cache` and no names).
    cache_only: bool,
    queried: Vec<Queried>,
    notes: Vec<String>,
    steps: Vec<Step>,
}

/// The commands a real run runs.
#[derive(Debug)]
pub struct DnfRun {
    dnf: String,
    cache_only: bool,
    queried: Vec<Queried>,
    notes: Vec<String>,
    steps: Vec<Step>,
}

/// The result lines Ansible reports for a transaction.
fn result_lines(p: &DnfParams, queried: &[Queried], t: &Transaction) -> Vec<String> {
    let action = if p.download_only {
        "Downloaded"
    } else {
        "Installed"
    };
    let mut out: Vec<String> = t
        .install
        .iter()
        .map(|n| format!("{action}: {n}"))
        .collect();
    out.extend(t.remove.iter().map(|n| format!("Removed: {n}")));
    for name in &t.replaced {
        for q in queried {
            for old in q.installed.iter().filter(|o| &o.name == name) {
                let line = format!("Removed: {old}");
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
    }
    out
}

/// Checks the parameters Ansible checks before touching the host. Pure.
pub(crate) fn validate(p: &DnfParams) -> Result<(), ModuleError> {
    let empty = || [("results", Value::Array(vec![]))];
    if p.list.is_some() {
        return Err(fail(
            "tend's dnf module does not support `list`; use `ansible.builtin.package_facts` \
             or a `command: dnf list ...` task.",
            &empty(),
        ));
    }
    if p.name.is_empty() && !p.update_cache && !p.autoremove {
        return Err(fail(
            "one of the following is required: name, list, update_cache",
            &[],
        ));
    }
    if p.best.is_some() && p.nobest.is_some() {
        return Err(fail(
            "parameters are mutually exclusive: best|nobest",
            &[],
        ));
    }
    for name in &p.name {
        if name.contains(' ') && !name.contains(['@', '>', '<', '=']) {
            return Err(fail(
                "It appears that a space separated string of packages was passed in as an \
                 argument. To operate on several packages, pass a comma separated string of \
                 packages or a list of packages.",
                &[],
            ));
        }
    }
    if p.autoremove && state(p) != DnfState::Absent {
        return Err(fail(
            "Autoremove should be used alone or with state=absent",
            &empty(),
        ));
    }
    Ok(())
}

/// Decides from the resolved transactions. Pure.
pub(crate) fn decide(p: &DnfParams, observed: Observed) -> Result<Planned<DnfRun>, ModuleError> {
    if observed.cache_only {
        let outcome = Outcome::ok()
            .with_msg("Cache updated")
            .with_value("results", Value::Array(vec![]))
            .with_value("rc", 0);
        return Ok(Planned::Done(outcome));
    }
    let mut results: Vec<String> = observed.notes.clone();
    let mut failures: Vec<String> = Vec::new();
    let mut changed = false;
    for step in &observed.steps {
        if step.verb == "remove" {
            // Removing what is not there is not an error for Ansible: it reports it.
            results.extend(step.resolved.errors.iter().cloned());
        } else if !step.resolved.errors.is_empty() {
            failures.push(format!(
                "{} {}",
                step.specs.join(" "),
                step.resolved.errors.join("\n")
            ));
        } else if step.rc != 0 && step.resolved.is_empty() && step.verb != "remove" {
            failures.push(format!("{} exited {}", step.verb, step.rc));
        }
        if !step.resolved.is_empty() {
            changed = true;
            results.extend(result_lines(p, &observed.queried, &step.resolved));
        }
    }
    if !failures.is_empty() {
        return Err(fail(
            "Failed to install some of the specified packages",
            &[
                ("failures", failures.into()),
                ("results", Value::Array(vec![])),
                ("rc", 1.into()),
            ],
        ));
    }
    if !changed {
        return Ok(Planned::Done(
            Outcome::ok()
                .with_msg("Nothing to do")
                .with_value("results", results)
                .with_value("rc", 0),
        ));
    }
    let preview = Outcome::changed()
        .with_msg("Check mode: No changes made, but would have if not in check mode")
        .with_value("results", results)
        .with_value("rc", 0);
    Ok(Planned::Change {
        action: DnfRun {
            dnf: observed.dnf,
            cache_only: false,
            queried: observed.queried,
            notes: observed.notes,
            steps: observed.steps,
        },
        preview,
    })
}

/// The host's dnf command, or Ansible-style failure when it has none.
async fn find_dnf(ctx: &Context<'_>) -> Result<String, ModuleError> {
    let out = ctx
        .host
        .sh("for c in dnf dnf5 yum; do command -v \"$c\" >/dev/null 2>&1 && { echo \"$c\"; exit 0; }; done; exit 1")
        .await?;
    let found = out.stdout_lossy().trim().to_string();
    if !out.success() || found.is_empty() {
        return Err(fail(
            "Could not find the dnf command on the host. Please install the `dnf` package \
             or use the package manager module for this host's distribution.",
            &[("results", Value::Array(vec![])), ("rc", 1.into())],
        ));
    }
    Ok(found)
}

/// `rpm -q` for one spec; an `installroot` is passed on as `--root`.
pub(crate) fn rpm_query_line(p: &DnfParams, spec: &Spec) -> Option<String> {
    let root = if p.installroot != "/" {
        format!("--root {} ", quote(&p.installroot))
    } else {
        String::new()
    };
    match spec {
        // A path (`/usr/bin/vi`) names what a package provides, as dnf reads it.
        Spec::Package(s) => Some(format!(
            "LC_ALL=C rpm {root}-q {}--qf {} -- {}",
            if s.starts_with('/') {
                "--whatprovides "
            } else {
                ""
            },
            quote(RPM_QF),
            quote(s)
        )),
        // The file's own NEVRA, then whether exactly that is installed.
        Spec::File(path) => Some(format!(
            "n=$(LC_ALL=C rpm -qp --nosignature --qf '%{{NAME}}-%{{VERSION}}-%{{RELEASE}}.%{{ARCH}}' -- {}) || exit 2; \
             LC_ALL=C rpm {root}-q --qf {} -- \"$n\"",
            quote(path),
            quote(RPM_QF)
        )),
        Spec::Glob(_) | Spec::Group(_) => None,
    }
}

pub(crate) async fn query(p: &DnfParams, ctx: &Context<'_>) -> Result<Observed, ModuleError> {
    validate(p)?;
    let dnf = find_dnf(ctx).await?;
    if p.update_cache && p.name.is_empty() && !p.autoremove {
        // Ansible refreshes the metadata even in check mode and reports no change.
        if !ctx.check_mode {
            let line = command_line(&dnf, p, "makecache", &[], Mode::Run);
            let out = ctx.host.sh(&line).await?;
            if !out.success() {
                return Err(fail(
                    format!(
                        "Failed to synchronize repodata: {}",
                        out.stderr_lossy().trim()
                    ),
                    &[("rc", out.exit_code.into())],
                ));
            }
        }
        return Ok(Observed {
            dnf,
            cache_only: true,
            queried: vec![],
            notes: vec![],
            steps: vec![],
        });
    }
    let mut queried = Vec::new();
    for name in &p.name {
        let spec = classify(name)?;
        let installed = match rpm_query_line(p, &spec) {
            Some(line) => {
                let out = ctx.host.sh(&line).await?;
                if out.exit_code == 2 {
                    return Err(fail(
                        format!("Unable to read the package file {name}"),
                        &[("results", Value::Array(vec![])), ("rc", 1.into())],
                    ));
                }
                parse_rpm_q(&out.stdout_lossy())
            }
            None => Vec::new(),
        };
        queried.push(Queried { spec, installed });
    }
    let ops = operations(p, &queried)?;
    let mut steps = Vec::new();
    for (verb, specs) in ops.commands() {
        let out = ctx
            .host
            .sh(&command_line(&dnf, p, verb, &specs, Mode::Resolve))
            .await?;
        let resolved = parse_transaction(&out.stdout_lossy(), &out.stderr_lossy());
        steps.push(Step {
            verb,
            specs,
            resolved,
            rc: out.exit_code,
        });
    }
    Ok(Observed {
        dnf,
        cache_only: false,
        queried,
        notes: ops.notes,
        steps,
    })
}

pub(crate) async fn run(
    p: &DnfParams,
    action: DnfRun,
    ctx: &Context<'_>,
) -> Result<Outcome, ModuleError> {
    if action.cache_only {
        return Ok(Outcome::ok().with_msg("Cache updated"));
    }
    let mut results = action.notes.clone();
    let mut changed = false;
    for step in action.steps.iter().filter(|s| !s.resolved.is_empty()) {
        let line = command_line(&action.dnf, p, step.verb, &step.specs, Mode::Run);
        let out = ctx.host.sh(&line).await?;
        let done = parse_transaction(&out.stdout_lossy(), &out.stderr_lossy());
        if !out.success() {
            let mut failures: Vec<String> = done.errors.clone();
            if failures.is_empty() {
                failures.push(out.stderr_lossy().trim().to_string());
            }
            results.extend(result_lines(p, &action.queried, &done));
            return Err(fail(
                "Failed to install some of the specified packages",
                &[
                    ("failures", failures.into()),
                    ("results", results.into()),
                    ("rc", out.exit_code.into()),
                    ("changed", changed.into()),
                ],
            ));
        }
        changed |= !done.is_empty();
        results.extend(result_lines(p, &action.queried, &done));
    }
    let outcome = if changed {
        Outcome::changed().with_msg("")
    } else {
        Outcome::ok().with_msg("Nothing to do")
    };
    Ok(outcome.with_value("results", results).with_value("rc", 0))
}

pub struct DnfModule;

#[async_trait]
impl Module for DnfModule {
    type Params = DnfParams;
    type Observed = Observed;
    type Action = DnfRun;

    const NAME: &'static str = "dnf";

    async fn query(&self, p: &DnfParams, ctx: &Context<'_>) -> Result<Observed, ModuleError> {
        query(p, ctx).await
    }

    fn plan(
        &self,
        p: &DnfParams,
        observed: Observed,
        _ctx: &Context<'_>,
    ) -> Result<Planned<DnfRun>, ModuleError> {
        decide(p, observed)
    }

    async fn apply(
        &self,
        p: &DnfParams,
        action: DnfRun,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        run(p, action, ctx).await
    }
}

tend_module_api::register_module!(DnfModule);


#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> DnfParams {
        tend_module_api::args::from_args(&json, tend_module_api::args::ArgMode::Run)
            .expect("params")
    }

    fn nevra(name: &str, epoch: Option<&str>, v: &str, r: &str, a: &str) -> Nevra {
        Nevra {
            name: name.into(),
            epoch: epoch.map(str::to_string),
            version: v.into(),
            release: r.into(),
            arch: a.into(),
        }
    }

    fn queried(spec: Spec, installed: Vec<Nevra>) -> Queried {
        Queried { spec, installed }
    }

    fn pkg(s: &str) -> Spec {
        Spec::Package(s.into())
    }

    // Recorded on Rocky Linux 9 (dnf 4.14) and Fedora 41 (dnf5 5.2).
    const RPM_Q: &str = "bash\t(none)\t5.1.8\t9.el9\tx86_64\n\
                         openssl\t1\t3.0.7\t27.el9\tx86_64\n\
                         package tree is not installed\n";

    const INSTALL_ASSUMENO: &str = "\
Last metadata expiration check: 0:12:03 ago on Sun 22 Nov 2026 07:50:11 AM UTC.
Dependencies resolved.
================================================================================
 Package           Architecture  Version                  Repository       Size
================================================================================
Installing:
 tree              x86_64        1.8.0-10.el9             baseos           56 k
 nginx             x86_64        1:1.20.1-14.el9_2.1      appstream        36 k
Installing dependencies:
 nginx-core        x86_64        1:1.20.1-14.el9_2.1      appstream       567 k
 nginx-filesystem  noarch        1:1.20.1-14.el9_2.1      appstream       8.4 k
Installing weak dependencies:
 python3-policycoreutils-with-a-very-long-package-name
                   noarch        3.5-1.el9                appstream        10 k

Transaction Summary
================================================================================
Install  5 Packages

Total download size: 677 k
Installed size: 1.9 M
Operation aborted.
";

    const UPGRADE_ASSUMENO: &str = "\
Last metadata expiration check: 0:01:10 ago on Sun 22 Nov 2026 07:50:11 AM UTC.
Dependencies resolved.
================================================================================
 Package         Architecture   Version                  Repository       Size
================================================================================
Upgrading:
 curl            x86_64         7.76.1-26.el9_3.2        baseos          294 k
 libcurl         x86_64         7.76.1-26.el9_3.2        baseos          284 k

Transaction Summary
================================================================================
Upgrade  2 Packages

Total download size: 578 k
Operation aborted.
";

    const REMOVE_ASSUMENO: &str = "\
Dependencies resolved.
================================================================================
 Package          Architecture   Version               Repository         Size
================================================================================
Removing:
 telnet           x86_64         1:0.17-85.el9         @appstream        119 k
Removing unused dependencies:
 libfoo           x86_64         1.0-1.el9             @System            10 k

Transaction Summary
================================================================================
Remove  2 Packages

Freed space: 129 k
Operation aborted.
";

    const NOTHING_TO_DO: &str = "\
Last metadata expiration check: 0:12:03 ago on Sun 22 Nov 2026 07:50:11 AM UTC.
Dependencies resolved.
Nothing to do.
Complete!
";

    const GROUP_ASSUMENO: &str = "\
Dependencies resolved.
================================================================================
 Package              Arch     Version               Repository           Size
================================================================================
Installing group/module packages:
 gcc                  x86_64   11.4.1-2.1.el9        appstream            32 M
Installing Groups:
 Development Tools

Transaction Summary
================================================================================
Install  1 Package
Operation aborted.
";

    const DNF5_ASSUMENO: &str = "\
Updating and loading repositories:
 Fedora 41 - x86_64 - Updates           100% |  12.1 KiB/s |  11.3 KiB |  00m01s
Repositories loaded.
Package                 Arch   Version                 Repository      Size
Installing:
 tree                   x86_64 2.1.1-5.fc41            fedora     112.2 KiB
Upgrading:
 curl                   x86_64 8.9.1-3.fc41            updates    450.0 KiB
   replacing curl       x86_64 8.9.1-2.fc41            updates    451.0 KiB

Transaction Summary:
 Installing:         1 package
 Upgrading:          1 package
 Replacing:          1 package
Operation aborted by the user.
";

    #[test]
    fn rpm_query_output_is_parsed() {
        let got = parse_rpm_q(RPM_Q);
        assert_eq!(
            got,
            vec![
                nevra("bash", None, "5.1.8", "9.el9", "x86_64"),
                nevra("openssl", Some("1"), "3.0.7", "27.el9", "x86_64"),
            ]
        );
        assert_eq!(got[0].to_string(), "bash-5.1.8-9.el9.x86_64");
        assert_eq!(got[1].to_string(), "openssl-1:3.0.7-27.el9.x86_64");
        assert!(parse_rpm_q("package nosuch is not installed\n").is_empty());
    }

    #[test]
    fn names_are_classified() {
        assert_eq!(classify("tree").unwrap(), pkg("tree"));
        assert_eq!(classify("tree-1.8.0").unwrap(), pkg("tree-1.8.0"));
        assert_eq!(classify("glibc.i686").unwrap(), pkg("glibc.i686"));
        assert_eq!(
            classify("@Development Tools").unwrap(),
            Spec::Group("@Development Tools".into())
        );
        assert_eq!(
            classify("@nodejs:18").unwrap(),
            Spec::Group("@nodejs:18".into())
        );
        assert_eq!(classify("python3-*").unwrap(), Spec::Glob("python3-*".into()));
        assert_eq!(
            classify("/tmp/app-1.0-1.noarch.rpm").unwrap(),
            Spec::File("/tmp/app-1.0-1.noarch.rpm".into())
        );
        let err = classify("https://example.org/app.rpm").unwrap_err();
        assert!(err.to_string().contains("is a URL"), "{err}");
    }

    #[test]
    fn params_take_ansible_names_aliases_and_comma_lists() {
        let p = params(serde_json::json!({
            "pkg": "tree,nginx", "state": "installed", "expire-cache": true,
            "enablerepo": "epel,crb", "exclude": ["kernel*"]
        }));
        assert_eq!(p.name, vec!["tree", "nginx"]);
        assert_eq!(p.enablerepo, vec!["epel", "crb"]);
        assert_eq!(state(&p), DnfState::Present);
        assert!(p.update_cache);
        assert!(p.install_weak_deps && p.sslverify);
        assert_eq!(p.installroot, "/");
        assert_eq!(state(&params(serde_json::json!({"autoremove": true}))), DnfState::Absent);
        assert_eq!(
            state(&params(serde_json::json!({"name": "x", "state": "removed"}))),
            DnfState::Absent
        );
        let bad: Result<DnfParams, _> = tend_module_api::args::from_args(
            &serde_json::json!({"name": "x", "state": "fixed"}),
            tend_module_api::args::ArgMode::Run,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn validation_gives_ansibles_messages() {
        let msg = |j| validate(&params(j)).unwrap_err().to_string();
        assert_eq!(
            msg(serde_json::json!({"name": "a", "autoremove": true, "state": "present"})),
            "Autoremove should be used alone or with state=absent"
        );
        assert!(msg(serde_json::json!({"name": "tree nginx"})).starts_with("It appears that a space"));
        assert!(validate(&params(serde_json::json!({"name": "@Development Tools"}))).is_ok());
        assert!(msg(serde_json::json!({"state": "present"})).contains("one of the following"));
        assert!(msg(serde_json::json!({"name": "a", "best": true, "nobest": false}))
            .contains("mutually exclusive"));
        assert!(msg(serde_json::json!({"list": "installed"})).contains("list"));
    }

    #[test]
    fn present_installs_only_what_rpm_does_not_have() {
        let p = params(serde_json::json!({"name": ["bash", "tree", "@Dev", "py*"]}));
        let q = vec![
            queried(pkg("bash"), vec![nevra("bash", None, "5.1.8", "9.el9", "x86_64")]),
            queried(pkg("tree"), vec![]),
            queried(Spec::Group("@Dev".into()), vec![]),
            queried(Spec::Glob("py*".into()), vec![]),
        ];
        let ops = operations(&p, &q).unwrap();
        assert_eq!(ops.install, vec!["tree", "@Dev", "py*"]);
        assert!(ops.upgrade.is_empty() && ops.remove.is_empty());
        assert_eq!(ops.commands(), vec![("install", vec!["tree".into(), "@Dev".into(), "py*".into()])]);
        // All installed: no dnf command at all.
        let ops = operations(&p, &q[..1]).unwrap();
        assert!(ops.commands().is_empty());
    }

    #[test]
    fn latest_upgrades_installed_and_installs_missing() {
        let p = params(serde_json::json!({"name": ["bash", "tree"], "state": "latest"}));
        let q = vec![
            queried(pkg("bash"), vec![nevra("bash", None, "5.1.8", "9.el9", "x86_64")]),
            queried(pkg("tree"), vec![]),
        ];
        let ops = operations(&p, &q).unwrap();
        assert_eq!(
            ops.commands(),
            vec![("upgrade", vec!["bash".into()]), ("install", vec!["tree".into()])]
        );
        let all = params(serde_json::json!({"name": "*", "state": "latest"}));
        assert_eq!(operations(&all, &[]).unwrap().commands(), vec![("upgrade", vec![])]);
    }

    #[test]
    fn update_only_never_installs() {
        let p = params(serde_json::json!({"name": ["bash", "tree"], "state": "latest", "update_only": true}));
        let q = vec![
            queried(pkg("bash"), vec![nevra("bash", None, "5.1.8", "9.el9", "x86_64")]),
            queried(pkg("tree"), vec![]),
        ];
        let ops = operations(&p, &q).unwrap();
        assert_eq!(ops.commands(), vec![("upgrade", vec!["bash".into()])]);
        assert_eq!(
            ops.notes,
            vec!["Packages providing tree not installed due to update_only specified"]
        );
    }

    #[test]
    fn absent_removes_what_is_installed_and_refuses_paths() {
        let p = params(serde_json::json!({"name": ["telnet", "tree", "@Dev"], "state": "absent", "autoremove": true}));
        let q = vec![
            queried(pkg("telnet"), vec![nevra("telnet", Some("1"), "0.17", "85.el9", "x86_64")]),
            queried(pkg("tree"), vec![]),
            queried(Spec::Group("@Dev".into()), vec![]),
        ];
        let ops = operations(&p, &q).unwrap();
        assert_eq!(
            ops.commands(),
            vec![("remove", vec!["telnet".into(), "@Dev".into()]), ("autoremove", vec![])]
        );
        let files = params(serde_json::json!({"name": "/tmp/a.rpm", "state": "absent"}));
        let err = operations(&files, &[queried(Spec::File("/tmp/a.rpm".into()), vec![])])
            .unwrap_err();
        assert_eq!(err.to_string(), "Cannot remove paths -- please specify package name.");
    }

    #[test]
    fn local_rpm_installs_unless_that_version_is_installed() {
        let p = params(serde_json::json!({"name": "/tmp/app-1.0-1.noarch.rpm"}));
        let f = Spec::File("/tmp/app-1.0-1.noarch.rpm".into());
        assert_eq!(
            operations(&p, &[queried(f.clone(), vec![])]).unwrap().install,
            vec!["/tmp/app-1.0-1.noarch.rpm"]
        );
        let have = vec![nevra("app", None, "1.0", "1", "noarch")];
        assert!(operations(&p, &[queried(f.clone(), have)]).unwrap().commands().is_empty());
        let line = rpm_query_line(&p, &f).unwrap();
        assert!(line.contains("rpm -qp --nosignature"), "{line}");
    }

    #[test]
    fn command_lines_carry_the_options() {
        let p = params(serde_json::json!({
            "name": "tree", "enablerepo": "epel", "disablerepo": "*", "conf_file": "/etc/my dnf.conf",
            "disable_gpg_check": true, "installroot": "/mnt/root", "update_cache": true,
            "security": true, "bugfix": true, "exclude": "kernel*", "download_only": true,
            "download_dir": "/var/tmp/pk", "allowerasing": true, "nobest": true,
            "install_weak_deps": false, "releasever": "9", "skip_broken": true,
            "cacheonly": true, "disable_excludes": "all", "disable_plugin": "versionlock",
            "enable_plugin": "foo", "sslverify": false
        }));
        let line = command_line("dnf", &p, "install", &["tree; rm -rf /".into()], Mode::Resolve);
        assert_eq!(
            line,
            "LC_ALL=C LANG=C dnf install --assumeno '--config=/etc/my dnf.conf' --nogpgcheck \
             '--disablerepo=*' --enablerepo=epel --installroot=/mnt/root --refresh --security \
             --bugfix '--exclude=kernel*' --downloadonly --downloaddir=/var/tmp/pk \
             --allowerasing --nobest --setopt=install_weak_deps=False --releasever=9 \
             --skip-broken --cacheonly --disableexcludes=all --disableplugin=versionlock \
             --enableplugin=foo --setopt=sslverify=False -- 'tree; rm -rf /'"
        );
        let plain = params(serde_json::json!({"name": "tree"}));
        assert_eq!(
            command_line("dnf", &plain, "remove", &["tree".into()], Mode::Run),
            "LC_ALL=C LANG=C dnf remove -y -- tree"
        );
        let rq = rpm_query_line(&p, &pkg("tree-1.8.0")).unwrap();
        assert!(rq.starts_with("LC_ALL=C rpm --root /mnt/root -q --qf "), "{rq}");
        assert!(rq.ends_with("-- tree-1.8.0"), "{rq}");
        let vi = rpm_query_line(&plain, &pkg("/usr/bin/vi")).unwrap();
        assert!(vi.starts_with("LC_ALL=C rpm -q --whatprovides --qf "), "{vi}");
    }

    #[test]
    fn dnf4_install_table_is_parsed_with_wrapped_names() {
        let t = parse_transaction(INSTALL_ASSUMENO, "");
        assert_eq!(
            t.install,
            vec![
                "tree-1.8.0-10.el9.x86_64",
                "nginx-1:1.20.1-14.el9_2.1.x86_64",
                "nginx-core-1:1.20.1-14.el9_2.1.x86_64",
                "nginx-filesystem-1:1.20.1-14.el9_2.1.noarch",
                "python3-policycoreutils-with-a-very-long-package-name-3.5-1.el9.noarch",
            ]
        );
        assert!(t.remove.is_empty() && t.errors.is_empty() && t.replaced.is_empty());
    }

    #[test]
    fn upgrade_remove_group_and_empty_tables_are_parsed() {
        let t = parse_transaction(UPGRADE_ASSUMENO, "");
        assert_eq!(t.install, vec!["curl-7.76.1-26.el9_3.2.x86_64", "libcurl-7.76.1-26.el9_3.2.x86_64"]);
        assert_eq!(t.replaced, vec!["curl", "libcurl"]);
        let t = parse_transaction(REMOVE_ASSUMENO, "");
        assert_eq!(t.remove, vec!["telnet-1:0.17-85.el9.x86_64", "libfoo-1.0-1.el9.x86_64"]);
        let t = parse_transaction(GROUP_ASSUMENO, "");
        assert_eq!(t.install, vec!["gcc-11.4.1-2.1.el9.x86_64"]);
        assert!(parse_transaction(NOTHING_TO_DO, "").is_empty());
        let t = parse_transaction(DNF5_ASSUMENO, "");
        assert_eq!(t.install, vec!["tree-2.1.1-5.fc41.x86_64", "curl-8.9.1-3.fc41.x86_64"]);
        assert_eq!(t.replaced, vec!["curl"]);
    }

    #[test]
    fn no_match_is_an_error() {
        let t = parse_transaction(
            "Last metadata expiration check: 0:00:10 ago.\nNo match for argument: nosuchpkg\n",
            "Error: Unable to find a match: nosuchpkg\n",
        );
        assert_eq!(
            t.errors,
            vec![
                "No match for argument: nosuchpkg",
                "Error: Unable to find a match: nosuchpkg"
            ]
        );
    }

    fn observed(steps: Vec<Step>, queried: Vec<Queried>) -> Observed {
        Observed {
            dnf: "dnf".into(),
            cache_only: false,
            queried,
            notes: vec![],
            steps,
        }
    }

    fn step(verb: &'static str, specs: &[&str], out: &str, err: &str, rc: i32) -> Step {
        Step {
            verb,
            specs: specs.iter().map(|s| s.to_string()).collect(),
            resolved: parse_transaction(out, err),
            rc,
        }
    }

    #[test]
    fn check_mode_reports_the_resolved_transaction() {
        let p = params(serde_json::json!({"name": ["curl", "tree"], "state": "latest"}));
        let q = vec![queried(pkg("curl"), vec![nevra("curl", None, "7.76.1", "26.el9", "x86_64")])];
        let obs = observed(
            vec![
                step("upgrade", &["curl"], UPGRADE_ASSUMENO, "", 1),
                step("install", &["tree"], NOTHING_TO_DO, "", 0),
            ],
            q,
        );
        match decide(&p, obs).unwrap() {
            Planned::Change { preview, action } => {
                assert!(preview.changed);
                assert_eq!(
                    preview.msg.as_deref(),
                    Some("Check mode: No changes made, but would have if not in check mode")
                );
                assert_eq!(
                    preview.values["results"],
                    serde_json::json!([
                        "Installed: curl-7.76.1-26.el9_3.2.x86_64",
                        "Installed: libcurl-7.76.1-26.el9_3.2.x86_64",
                        "Removed: curl-7.76.1-26.el9.x86_64"
                    ])
                );
                assert_eq!(preview.values["rc"], 0);
                assert_eq!(action.steps.len(), 2);
            }
            other => panic!("expected a change: {other:?}"),
        }
    }

    #[test]
    fn nothing_to_do_is_ok() {
        let p = params(serde_json::json!({"name": "bash"}));
        match decide(&p, observed(vec![], vec![])).unwrap() {
            Planned::Done(o) => {
                assert!(!o.changed);
                assert_eq!(o.msg.as_deref(), Some("Nothing to do"));
                assert_eq!(o.values["results"], serde_json::json!([]));
            }
            other => panic!("{other:?}"),
        }
        let obs = Observed {
            cache_only: true,
            ..observed(vec![], vec![])
        };
        match decide(&params(serde_json::json!({"update_cache": true})), obs).unwrap() {
            Planned::Done(o) => assert_eq!(o.msg.as_deref(), Some("Cache updated")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unavailable_package_fails_as_ansible() {
        let p = params(serde_json::json!({"name": "nosuchpkg"}));
        let obs = observed(
            vec![step(
                "install",
                &["nosuchpkg"],
                "No match for argument: nosuchpkg\n",
                "Error: Unable to find a match: nosuchpkg\n",
                1,
            )],
            vec![queried(pkg("nosuchpkg"), vec![])],
        );
        match decide(&p, obs) {
            Err(ModuleError::Failed { msg, values }) => {
                assert_eq!(msg, "Failed to install some of the specified packages");
                assert_eq!(values["rc"], 1);
                assert!(values["failures"][0]
                    .as_str()
                    .unwrap()
                    .starts_with("nosuchpkg No match for argument: nosuchpkg"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn removing_what_is_gone_is_reported_not_failed() {
        let p = params(serde_json::json!({"name": "@Dev", "state": "absent"}));
        let obs = observed(
            vec![step(
                "remove",
                &["@Dev"],
                "Warning: Group 'Dev' is not installed.\n",
                "Error: No packages marked for removal.\n",
                1,
            )],
            vec![queried(Spec::Group("@Dev".into()), vec![])],
        );
        match decide(&p, obs).unwrap() {
            Planned::Done(o) => {
                assert!(!o.changed);
                assert_eq!(o.msg.as_deref(), Some("Nothing to do"));
                assert_eq!(
                    o.values["results"],
                    serde_json::json!(["Error: No packages marked for removal."])
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn download_only_reports_downloaded() {
        let p = params(serde_json::json!({"name": "tree", "download_only": true}));
        let t = parse_transaction(INSTALL_ASSUMENO, "");
        assert_eq!(result_lines(&p, &[], &t)[0], "Downloaded: tree-1.8.0-10.el9.x86_64");
    }
}
