//! Conformance: every case in `tests/conformance/cases/` runs with ansible-playbook and with
//! tend, each on fresh lab hosts; exit codes, PLAY RECAP counts and final host state must match.
//!
//! A case is a directory holding `site.yml` (and `templates/`, `files/`, `group_vars/`,
//! `inventory/group_vars/`, ... as the playbook needs) and `case.yml`:
//!
//! ```yaml
//! hosts: 2                  # lab hosts h1..hN (default 2)
//! compare: [/srv/conf]      # paths whose tree is compared after every run
//! args: [-e, x=1]           # extra CLI arguments for every run
//! exit: 0                   # ansible-playbook's exit code, checked so a case cannot rot
//! setup: "mkdir -p /srv/x"  # sh run on every host before the first run
//! groups: {web: [h1]}       # INI groups added to the lab inventory
//! inventory_extra: "..."    # raw INI lines appended to the inventory
//! runs: 2                   # the same run N times (idempotency), or a list of
//!                           # {args: [...], before: "sh", exit: N}
//! ```
//!
//! The inventory is written to `inventory/hosts.ini` in the project, so `inventory/group_vars`
//! sits beside the inventory and `group_vars/` beside the playbook, as Ansible tells them apart.
//!
//! The reference is `TEND_ANSIBLE_PLAYBOOK` (scripts/test.sh sets it up), else
//! `target/ansible-venv/bin/ansible-playbook`. Without either, the cases are ignored with a
//! notice, except under `CI=true`, where they fail. Cases named in
//! `tests/conformance/known-differences.txt` are tend bugs: still compiled, marked ignored.
//!
//! ```text
//! TEND_ANSIBLE_PLAYBOOK=target/ansible-venv/bin/ansible-playbook \
//!   cargo test --test integration -- conformance::file_modes    # one case
//! TEND_CONFORMANCE_VERBOSE=1 ...                               # print every run as it ends
//! cargo test --test integration -- --ignored conformance::     # the known differences
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use libtest_mimic::Trial;
use serde::Deserialize;
use tend_lab::Lab;

use crate::support::{Output, Recap};

/// Environment variable naming the reference `ansible-playbook`.
const ANSIBLE_ENV: &str = "TEND_ANSIBLE_PLAYBOOK";
/// A run that takes longer than this is stuck (a retry loop, a prompt), not slow.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// One trial per case, plus one checking `known-differences.txt` names only real cases.
pub fn trials() -> Vec<Trial> {
    let root = root();
    let setup = case_names(&root.join("cases")).and_then(|names| {
        let known = known_differences(&root.join("known-differences.txt"))?;
        Ok((names, known))
    });
    let (names, known) = match setup {
        Ok(found) => found,
        Err(e) => {
            let msg = format!("{e:#}");
            return vec![Trial::test("conformance::cases", move || Err(msg.into()))];
        }
    };
    let reference = reference_tool();
    let skip = reference.is_err() && !in_ci();
    if let (Err(why), true) = (&reference, skip) {
        eprintln!(
            "notice: conformance cases are ignored: {why}\n        \
             (run ./scripts/test.sh, or set {ANSIBLE_ENV} to an ansible-playbook)"
        );
    }
    let jobs = names
        .iter()
        .map(|name| {
            let job = CaseJob {
                name: name.clone(),
                dir: root.join("cases").join(name),
                reference: reference.clone(),
                known: known.get(name).cloned(),
            };
            (name.clone(), job)
        })
        .collect();
    let schedule = Arc::new(Schedule {
        jobs,
        state: Mutex::new(ScheduleState::default()),
        changed: Condvar::new(),
    });
    let mut trials: Vec<Trial> = names
        .iter()
        .map(|name| {
            let (schedule, case) = (schedule.clone(), name.clone());
            Trial::test(format!("conformance::{name}"), move || {
                schedule.run(&case).map_err(Into::into)
            })
            .with_ignored_flag(skip || known.contains_key(name))
        })
        .collect();
    schedule.plan(&trials);
    let stale: Vec<String> = known
        .keys()
        .filter(|k| !names.contains(k))
        .cloned()
        .collect();
    trials.push(Trial::test("conformance::known_differences", move || {
        if stale.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "known-differences.txt names cases that do not exist: {}",
                stale.join(", ")
            )
            .into())
        }
    }));
    trials
}

/// One case, with what its trial needs to judge the outcome.
struct CaseJob {
    name: String,
    dir: PathBuf,
    reference: std::result::Result<PathBuf, String>,
    /// Why the case is listed in known-differences.txt.
    known: Option<String>,
}

impl CaseJob {
    fn outcome(&self) -> std::result::Result<(), String> {
        let ansible = self.reference.as_ref().map_err(|why| {
            format!("no reference ansible-playbook: {why} (CI must run scripts/test.sh, which installs it)")
        })?;
        match (run_case(&self.name, &self.dir, ansible), &self.known) {
            (Ok(()), None) => Ok(()),
            (Ok(()), Some(_)) => Err(format!(
                "case {} passes now: remove it from tests/conformance/known-differences.txt",
                self.name
            )),
            (Err(e), None) => Err(format!("{e:#}")),
            (Err(e), Some(reason)) => Err(format!("known difference: {reason}\n{e:#}")),
        }
    }
}

/// Runs the selected cases two at a time per test thread: a case spends most of its time
/// waiting on ansible-playbook's round trips, so a trial also takes on a case whose trial has
/// not started yet, and that trial later just collects the result. Each trial waits for its
/// side case, so no case outlives the harness.
struct Schedule {
    jobs: BTreeMap<String, CaseJob>,
    state: Mutex<ScheduleState>,
    changed: Condvar,
}

#[derive(Default)]
struct ScheduleState {
    /// Only cases libtest-mimic will run get a slot; others are never taken on the side.
    slots: BTreeMap<String, Slot>,
    side_cases: bool,
}

enum Slot {
    Waiting,
    Running,
    Done(std::result::Result<(), String>),
}

impl Schedule {
    /// Finds out which trials this invocation runs, with libtest-mimic's own filter.
    fn plan(&self, trials: &[Trial]) {
        let args = libtest_mimic::Arguments::from_args();
        let mut state = self.lock();
        state.side_cases = args.test_threads != Some(1) && !args.list;
        for trial in trials {
            if args.is_filtered_out(trial) || args.is_ignored(trial) {
                continue;
            }
            if let Some(name) = trial.name().strip_prefix("conformance::") {
                state.slots.insert(name.to_string(), Slot::Waiting);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, ScheduleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, name: &str) -> std::result::Result<(), String> {
        let side = {
            let mut state = self.lock();
            loop {
                match state.slots.get_mut(name) {
                    Some(Slot::Done(outcome)) => {
                        return std::mem::replace(outcome, Ok(()));
                    }
                    Some(Slot::Running) => {
                        state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                    }
                    _ => break,
                }
            }
            state.slots.insert(name.to_string(), Slot::Running);
            // From the far end, so the side case's own trial is unlikely to start meanwhile.
            let side = state
                .side_cases
                .then(|| {
                    state
                        .slots
                        .iter()
                        .rev()
                        .find(|(_, slot)| matches!(slot, Slot::Waiting))
                        .map(|(n, _)| n.clone())
                })
                .flatten();
            if let Some(other) = &side {
                state.slots.insert(other.clone(), Slot::Running);
            }
            side
        };
        let job = self
            .jobs
            .get(name)
            .ok_or_else(|| format!("no conformance case {name}"))?;
        std::thread::scope(|s| {
            let side = side.map(|other| {
                let job = self.jobs.get(&other);
                let handle = s.spawn(move || job.map(CaseJob::outcome));
                (other, handle)
            });
            let mine = job.outcome();
            if let Some((other, handle)) = side {
                let outcome = match handle.join() {
                    Ok(Some(outcome)) => outcome,
                    Ok(None) => Err(format!("no conformance case {other}")),
                    Err(_) => Err(format!("case {other} panicked")),
                };
                self.lock().slots.insert(other, Slot::Done(outcome));
                self.changed.notify_all();
            }
            mine
        })
    }
}

/// `TEND_CONFORMANCE_VERBOSE=1` prints every run's output and state as it finishes.
fn verbose() -> bool {
    std::env::var_os("TEND_CONFORMANCE_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The directories under `cases` that hold a `case.yml`, sorted.
fn case_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.path().join("case.yml").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    ensure!(
        !names.is_empty(),
        "no conformance cases in {}",
        dir.display()
    );
    names.sort();
    Ok(names)
}

/// `name reason...` per line; `#` starts a comment.
fn known_differences(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut known = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        known.insert(name.to_string(), reason.trim().to_string());
    }
    Ok(known)
}

/// The reference ansible-playbook, or why there is none.
fn reference_tool() -> std::result::Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(ANSIBLE_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        // A wrong path is a broken setup, never a reason to skip.
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{ANSIBLE_ENV}={} is not a file", path.display()))
        };
    }
    let default =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ansible-venv/bin/ansible-playbook");
    if default.is_file() {
        Ok(default)
    } else {
        Err(format!(
            "{ANSIBLE_ENV} is not set and {} does not exist",
            default.display()
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    #[serde(default = "two")]
    hosts: usize,
    compare: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    exit: i32,
    #[serde(default)]
    setup: Option<String>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    inventory_extra: Option<String>,
    #[serde(default)]
    runs: Runs,
}

fn two() -> usize {
    2
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Runs {
    Times(usize),
    List(Vec<RunSpec>),
}

impl Default for Runs {
    fn default() -> Self {
        Runs::Times(1)
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunSpec {
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    exit: Option<i32>,
}

impl CaseSpec {
    fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let node =
            tend_yaml::load_one(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let spec: CaseSpec = serde_json::from_value(node.to_json())
            .with_context(|| format!("{}: not a valid case", path.display()))?;
        ensure!(
            spec.hosts >= 1,
            "{}: `hosts` must be at least 1",
            path.display()
        );
        ensure!(
            !matches!(&spec.runs, Runs::List(list) if list.is_empty()),
            "{}: `runs` must not be empty",
            path.display()
        );
        ensure!(
            spec.compare.iter().all(|p| p.starts_with('/')),
            "{}: `compare` paths must be absolute",
            path.display()
        );
        Ok(spec)
    }

    fn runs(&self) -> Vec<RunSpec> {
        match &self.runs {
            Runs::Times(n) => vec![RunSpec::default(); (*n).max(1)],
            Runs::List(list) => list.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Ansible,
    Tend,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Ansible => "ansible-playbook",
            Tool::Tend => "tend",
        }
    }
}

/// What one run of one tool left behind.
struct RunResult {
    command: String,
    output: Output,
    recap: std::result::Result<BTreeMap<String, Recap>, String>,
    state: String,
    elapsed: Duration,
}

fn run_case(name: &str, dir: &Path, ansible: &Path) -> Result<()> {
    let spec = CaseSpec::load(&dir.join("case.yml"))?;
    // Both tools at once, each on its own lab: the ansible side is the slow one.
    let (reference, ours) = std::thread::scope(|s| {
        let a = s.spawn(|| run_tool(Tool::Ansible, &spec, dir, ansible));
        let t = run_tool(Tool::Tend, &spec, dir, ansible);
        let a = a
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the ansible side panicked")));
        (a, t)
    });
    let reference = reference.context("running the case with ansible-playbook")?;
    let ours = ours.context("running the case with tend")?;

    let runs = spec.runs();
    let mut report = String::new();
    for (i, ((want, got), run)) in reference.iter().zip(&ours).zip(&runs).enumerate() {
        let n = i + 1;
        // The reference itself must do what the case says, or the case proves nothing.
        let expected = run.exit.unwrap_or(spec.exit);
        if want.output.code != expected || want.recap.is_err() {
            bail!(
                "case {name} is broken: ansible-playbook run {n} exited {} (case expects {expected}){}\n{}",
                want.output.code,
                want.recap.as_ref().err().map(|e| format!(", {e}")).unwrap_or_default(),
                describe(Tool::Ansible, n, want)
            );
        }
        if want.output.code != got.output.code {
            let _ = writeln!(
                report,
                "run {n}: exit code: ansible-playbook {}, tend {}",
                want.output.code, got.output.code
            );
        }
        if want.recap != got.recap {
            let _ = writeln!(
                report,
                "run {n}: PLAY RECAP differs\n  ansible-playbook:\n{}  tend:\n{}",
                recap_text(&want.recap),
                recap_text(&got.recap)
            );
        }
        if want.state != got.state {
            let diff = similar::TextDiff::from_lines(&want.state, &got.state)
                .unified_diff()
                .context_radius(2)
                .header("ansible-playbook", "tend")
                .to_string();
            let _ = writeln!(report, "run {n}: host state differs:\n{diff}");
        }
    }
    if report.is_empty() {
        return Ok(());
    }
    for (i, (want, got)) in reference.iter().zip(&ours).enumerate() {
        report.push_str(&describe(Tool::Ansible, i + 1, want));
        report.push_str(&describe(Tool::Tend, i + 1, got));
    }
    bail!("tend and ansible-playbook disagree on case {name}:\n{report}")
}

fn recap_text(recap: &std::result::Result<BTreeMap<String, Recap>, String>) -> String {
    match recap {
        Err(e) => format!("    ({e})\n"),
        Ok(hosts) => hosts
            .iter()
            .map(|(h, r)| {
                format!(
                    "    {h}: ok={} changed={} unreachable={} failed={} skipped={} rescued={} ignored={}\n",
                    r.ok, r.changed, r.unreachable, r.failed, r.skipped, r.rescued, r.ignored
                )
            })
            .collect(),
    }
}

fn describe(tool: Tool, n: usize, r: &RunResult) -> String {
    format!(
        "\n===== {} run {n}: `{}` exited {} in {:.1?}\n--- stdout\n{}\n--- stderr\n{}\n--- state\n{}",
        tool.name(),
        r.command,
        r.output.code,
        r.elapsed,
        r.output.stdout.trim_end(),
        r.output.stderr.trim_end(),
        r.state
    )
}

/// Sets up a fresh lab and project for `tool` and does every run of the case.
fn run_tool(
    tool: Tool,
    spec: &CaseSpec,
    case_dir: &Path,
    ansible: &Path,
) -> Result<Vec<RunResult>> {
    let lab = Lab::builder()
        .hosts(spec.hosts)
        .start()
        .context("starting lab hosts")?;
    let project = tempfile::tempdir().context("temp dir")?;
    copy_tree(case_dir, project.path())?;
    write_inventory(&lab, spec, project.path())?;
    if tool == Tool::Ansible {
        write_ansible_cfg(&lab, project.path())?;
    }
    if let Some(script) = &spec.setup {
        on_every_host(&lab, script).context("case setup")?;
    }
    let mut results = Vec::new();
    for run in spec.runs() {
        if let Some(script) = &run.before {
            on_every_host(&lab, script).context("`before` of a run")?;
        }
        let args: Vec<String> = spec.args.iter().chain(&run.args).cloned().collect();
        let mut cmd = match tool {
            Tool::Ansible => ansible_command(ansible, project.path()),
            Tool::Tend => tend_command(&lab),
        };
        cmd.current_dir(project.path())
            .arg("site.yml")
            .arg("-i")
            .arg("inventory/hosts.ini")
            .args(&args)
            .env_remove("SSH_AUTH_SOCK");
        let command = format!(
            "{} site.yml -i inventory/hosts.ini {}",
            tool.name(),
            args.join(" ")
        );
        let started = Instant::now();
        let output =
            run_with_timeout(cmd, RUN_TIMEOUT).with_context(|| format!("running {command}"))?;
        let elapsed = started.elapsed();
        let recap = output.recap().map_err(|e| format!("{e:#}"));
        let state = capture_state(&lab, &spec.compare)?;
        let result = RunResult {
            command,
            output,
            recap,
            state,
            elapsed,
        };
        if verbose() {
            eprintln!("{}", describe(tool, results.len() + 1, &result));
        }
        results.push(result);
    }
    Ok(results)
}

fn tend_command(lab: &Lab) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tend"));
    cmd.arg("run")
        .arg("--known-hosts")
        .arg(lab.known_hosts())
        .env("NO_COLOR", "1")
        .env_remove("ANSIBLE_HOST_KEY_CHECKING");
    cmd
}

fn ansible_command(ansible: &Path, project: &Path) -> Command {
    let mut cmd = Command::new(ansible);
    // The reference must not pick up the developer's own ansible settings.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ANSIBLE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("ANSIBLE_CONFIG", project.join("ansible.cfg"))
        .env("ANSIBLE_HOME", project.join(".ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", project.join(".ansible-home/tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env("ANSIBLE_STDOUT_CALLBACK", "default")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

fn write_ansible_cfg(lab: &Lab, project: &Path) -> Result<()> {
    let cfg = format!(
        "# Written by the conformance harness: a private, reproducible ansible-playbook.\n\
         [defaults]\n\
         forks = 10\n\
         interpreter_python = /usr/bin/python3\n\
         host_key_checking = True\n\
         stdout_callback = default\n\
         retry_files_enabled = False\n\
         nocolor = True\n\
         timeout = 10\n\
         \n\
         [ssh_connection]\n\
         pipelining = True\n\
         control_path_dir = {cp}\n\
         ssh_args = -F /dev/null -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={kh} -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o IdentityAgent=none -o KexAlgorithms=curve25519-sha256\n",
        cp = project.join(".cp").display(),
        kh = lab.known_hosts().display(),
    );
    std::fs::write(project.join("ansible.cfg"), cfg).context("writing ansible.cfg")
}

fn write_inventory(lab: &Lab, spec: &CaseSpec, project: &Path) -> Result<()> {
    let mut ini = std::fs::read_to_string(lab.inventory_ini()).context("reading lab inventory")?;
    if let Some(extra) = &spec.inventory_extra {
        ini.push_str(extra);
        ini.push('\n');
    }
    for (group, hosts) in &spec.groups {
        let _ = write!(ini, "\n[{group}]\n");
        for h in hosts {
            ini.push_str(h);
            ini.push('\n');
        }
    }
    let dir = project.join("inventory");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("hosts.ini"), ini).context("writing inventory")
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            // Cases keep symlinks (copy's `local_follow` is about them).
            let link = std::fs::read_link(entry.path())?;
            std::os::unix::fs::symlink(&link, &target)
                .with_context(|| format!("linking {}", target.display()))?;
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn on_every_host(lab: &Lab, script: &str) -> Result<()> {
    for (i, host) in lab.hosts().iter().enumerate() {
        let out = lab.ssh(i, script)?;
        ensure!(
            out.status.success(),
            "`{script}` on {} exited {}: {}",
            host.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Every entry under the compared roots on every host, one line each: type, mode, owner,
/// size and content hash for files, target for links. Times are left out on purpose.
fn capture_state(lab: &Lab, roots: &[String]) -> Result<String> {
    let roots: Vec<String> = roots.iter().map(|r| shell_quote(r)).collect();
    let script = format!(
        "for r in {}; do\n\
           if [ -e \"$r\" ] || [ -L \"$r\" ]; then\n\
             find \"$r\" -printf 'M\\t%p\\t%y\\t%m\\t%u:%g\\t%s\\t%n\\t%l\\n'\n\
             find \"$r\" -type f -exec sha256sum {{}} +\n\
             find \"$r\" -type f -size -{max}c -exec sh -c 'for f; do printf \"C\\t%s\\t\" \"$f\"; od -An -v -tx1 \"$f\" | tr -d \" \\n\"; echo; done' sh {{}} +\n\
           else\n\
             printf 'A\\t%s\\n' \"$r\"\n\
           fi\n\
         done",
        roots.join(" "),
        max = SHOWN_CONTENT + 1,
    );
    let mut state = String::new();
    for (i, host) in lab.hosts().iter().enumerate() {
        let out = lab.ssh(i, &script)?;
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success(),
            "capturing state on {} exited {}: {}",
            host.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut hashes = BTreeMap::new();
        let mut contents = BTreeMap::new();
        let mut entries = BTreeMap::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["C", path, hex] => {
                    contents.insert(path.to_string(), shown_content(hex));
                }
                ["A", path] => {
                    entries.insert(path.to_string(), "absent".to_string());
                }
                ["M", path, kind, mode, owner, size, nlink, target] => {
                    let desc = match *kind {
                        "f" if *nlink != "1" => {
                            format!("file {mode:>4} {owner} {size} bytes, {nlink} hard links")
                        }
                        "f" => format!("file {mode:>4} {owner} {size} bytes"),
                        "d" => format!("dir  {mode:>4} {owner}"),
                        "l" => format!("link {owner} -> {target}"),
                        other => format!("{other} {mode:>4} {owner}"),
                    };
                    entries.insert(path.to_string(), desc);
                }
                _ => {
                    if let Some((hash, path)) = line.split_once("  ") {
                        hashes.insert(path.to_string(), hash.get(..16).unwrap_or(hash).to_string());
                    }
                }
            }
        }
        for (path, desc) in entries {
            let hash = hashes
                .get(&path)
                .map(|h| format!(" sha256:{h}"))
                .unwrap_or_default();
            let _ = writeln!(state, "{} {path}: {desc}{hash}", host.name);
            if let Some(Some(text)) = contents.get(&path) {
                for line in text.split_inclusive('\n') {
                    match line.strip_suffix('\n') {
                        Some(line) => {
                            let _ = writeln!(state, "    | {line}");
                        }
                        None => {
                            let _ = writeln!(state, "    | {line}  (no newline at end)");
                        }
                    }
                }
            }
        }
    }
    Ok(state)
}

/// Text files up to this size are listed with their content, so a diff shows the lines.
const SHOWN_CONTENT: usize = 2048;

/// The text of a file from `od`'s hex, `None` when it is not UTF-8.
fn shown_content(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Runs `cmd` to completion, killing it (by its own pid) if it outlives `limit`.
fn run_with_timeout(mut cmd: Command, limit: Duration) -> Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning")?;
    let mut stdout = child.stdout.take().context("stdout pipe")?;
    let mut stderr = child.stderr.take().context("stderr pipe")?;
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(std::process::Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
    .into())
}
