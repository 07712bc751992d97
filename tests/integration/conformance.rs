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
//! ansible-playbook's side is slow (10-90 s a case, against 1-3 s for tend), so its outcome is
//! recorded in `tests/conformance/recorded/<case>.json`: per run the exit code, the PLAY RECAP,
//! the captured host state (and stdout/stderr, for the report). A record is keyed by a sha256
//! of the case directory (every file's relative path, execute bit and content), the harness's
//! [`HARNESS_VERSION`], the reference's version (`ansible-playbook --version`'s first line and
//! the `ansible` collections' release) and the machine (OS release, architecture, python3,
//! time zone); it also holds a hash of the compared paths' state on fresh hosts after `setup`.
//! When all of that matches, only tend runs and is compared with the record. Otherwise (no
//! record, a stale one, hosts that start out otherwise) ansible-playbook runs live as well, as
//! it always does under `TEND_CONFORMANCE_LIVE=1` (the full check); a stale record never fails
//! a case by itself, in CI either. `TEND_CONFORMANCE_RECORD=1` (re)writes the record of every
//! case whose reference ran live. Host state holds no times, inode numbers or temp names (see
//! [`capture_state`]), so a record compares with a later run as one live run with another.
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
//! TEND_CONFORMANCE_LIVE=1 ...                                  # ignore the records
//! TEND_CONFORMANCE_RECORD=1 ...                                # record what ran live
//! cargo test --test integration -- --ignored conformance::     # the known differences
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use libtest_mimic::Trial;
use serde::{Deserialize, Serialize};
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
    let cases = names.clone();
    trials.push(Trial::test("conformance::records", move || {
        orphan_records(&cases).map_err(|e| format!("{e:#}").into())
    }));
    trials.push(Trial::test("conformance::shadow_dates_normalised", || {
        let text = "root:*:19000:0:99999:7:::\nu:!:20779:0:99999:7:::\n";
        let want = "root:*:19000:0:99999:7:::\nu:!:<today>:0:99999:7:::\n";
        match normalise_shadow(text, 20779) {
            Some(got) if got == want && normalise_shadow(text, 20780).is_none() => Ok(()),
            got => Err(format!("normalise_shadow gave {got:?}").into()),
        }
    }));
    trials.push(Trial::test(
        "conformance::case_hash_tracks_case_files",
        || case_hash_tracks_case_files().map_err(|e| format!("{e:#}").into()),
    ));
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
    /// `None` for a run read back from a record.
    elapsed: Option<Duration>,
}

/// Every run of one tool on one lab, and the compared paths' state before the first run.
struct ToolRuns {
    initial: String,
    runs: Vec<RunResult>,
}

fn run_case(name: &str, dir: &Path, ansible: &Path) -> Result<()> {
    let spec = CaseSpec::load(&dir.join("case.yml"))?;
    let path = records_dir().join(format!("{name}.json"));
    let key = RecordKey::of(dir, ansible)?;
    let record = if flag(LIVE_ENV) {
        None
    } else {
        Record::load(&path, &key, name)
    };
    let (reference, ours) = match record {
        Some(record) => {
            let ours =
                run_tool(Tool::Tend, &spec, dir, ansible).context("running the case with tend")?;
            if digest(ours.initial.as_bytes()) == record.initial_state {
                (record.into_runs(), ours.runs)
            } else {
                // Same key, but these hosts start out otherwise (another /etc/passwd, say):
                // the record says nothing about them.
                eprintln!(
                    "note: conformance::{name}: the hosts start in another state than recorded; \
                     running ansible-playbook live"
                );
                let reference = run_tool(Tool::Ansible, &spec, dir, ansible)
                    .context("running the case with ansible-playbook")?;
                write_record_if_asked(&path, &key, &spec, &reference)?;
                (reference.runs, ours.runs)
            }
        }
        None => {
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
            write_record_if_asked(&path, &key, &spec, &reference)?;
            (reference.runs, ours.runs)
        }
    };
    compare_runs(name, &spec, &reference, &ours)
}

/// Why the reference's runs do not do what the case says (exit codes, a readable recap),
/// or `None` when they do: a case whose reference misbehaves proves nothing.
fn reference_broken(spec: &CaseSpec, reference: &[RunResult]) -> Option<String> {
    if reference.len() != spec.runs().len() {
        return Some(format!(
            "{} runs of ansible-playbook for {} in the case",
            reference.len(),
            spec.runs().len()
        ));
    }
    for (i, (want, run)) in reference.iter().zip(spec.runs()).enumerate() {
        let n = i + 1;
        let expected = run.exit.unwrap_or(spec.exit);
        if want.output.code != expected || want.recap.is_err() {
            return Some(format!(
                "ansible-playbook run {n} exited {} (case expects {expected}){}\n{}",
                want.output.code,
                want.recap
                    .as_ref()
                    .err()
                    .map(|e| format!(", {e}"))
                    .unwrap_or_default(),
                describe(Tool::Ansible, n, want)
            ));
        }
    }
    None
}

fn compare_runs(
    name: &str,
    spec: &CaseSpec,
    reference: &[RunResult],
    ours: &[RunResult],
) -> Result<()> {
    if let Some(why) = reference_broken(spec, reference) {
        bail!("case {name} is broken: {why}");
    }
    let mut report = String::new();
    for (i, (want, got)) in reference.iter().zip(ours).enumerate() {
        let n = i + 1;
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
    for (i, (want, got)) in reference.iter().zip(ours).enumerate() {
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
    let took = match r.elapsed {
        Some(elapsed) => format!("in {elapsed:.1?}"),
        None => "(recorded)".to_string(),
    };
    format!(
        "\n===== {} run {n}: `{}` exited {} {took}\n--- stdout\n{}\n--- stderr\n{}\n--- state\n{}",
        tool.name(),
        r.command,
        r.output.code,
        r.output.stdout.trim_end(),
        r.output.stderr.trim_end(),
        r.state
    )
}

/// Sets up a fresh lab and project for `tool` and does every run of the case.
fn run_tool(tool: Tool, spec: &CaseSpec, case_dir: &Path, ansible: &Path) -> Result<ToolRuns> {
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
    let initial = capture_state(&lab, &spec.compare)?;
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
            elapsed: Some(elapsed),
        };
        if verbose() {
            eprintln!("{}", describe(tool, results.len() + 1, &result));
        }
        results.push(result);
    }
    Ok(ToolRuns {
        initial,
        runs: results,
    })
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
/// size and content hash for files, target for links. Times, inode numbers and temp names are
/// left out on purpose, so a run compares with a recorded one; the one date left in content,
/// /etc/shadow's last-change day, reads `<today>` when it is today (see [`normalise_shadow`]).
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
        let today = days_since_epoch();
        for (path, text) in contents.iter_mut() {
            if path.ends_with("/shadow") {
                if let Some(text) = text {
                    if let Some(normal) = normalise_shadow(text, today) {
                        let hash = digest(normal.as_bytes());
                        hashes.insert(path.clone(), hash.get(..16).unwrap_or(&hash).to_string());
                        *text = normal;
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

/// shadow(5)'s third field, the day of the last password change, is the day `useradd` ran:
/// `<today>` when it is `today`, so a recorded run compares with a later one. `None` when no
/// line has today's date (the content, and its hash, stay as they are).
fn normalise_shadow(text: &str, today: u64) -> Option<String> {
    let today = today.to_string();
    let mut changed = false;
    let normal = text
        .split_inclusive('\n')
        .map(|line| {
            let mut fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3 && fields[2] == today {
                fields[2] = "<today>";
                changed = true;
            }
            fields.join(":")
        })
        .collect();
    changed.then_some(normal)
}

fn days_since_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
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

/// Forces live ansible-playbook runs for every case, records or not: the full check.
const LIVE_ENV: &str = "TEND_CONFORMANCE_LIVE";
/// (Re)writes the record of every case whose reference ran live.
const RECORD_ENV: &str = "TEND_CONFORMANCE_RECORD";
/// Part of every record's key. Bump it whenever what a record holds, or how host state is
/// captured and compared, changes: every record goes stale, and its case runs live until it is
/// recorded again.
const HARNESS_VERSION: u32 = 1;

fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

fn records_dir() -> PathBuf {
    root().join("recorded")
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a record was made from: a record is trusted only when all of it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordKey {
    /// [`case_hash`] of the case directory.
    case: String,
    /// [`HARNESS_VERSION`].
    harness: u32,
    /// `ansible-playbook --version`'s first line and the `ansible` collections' release.
    ansible: String,
    /// What the lab hosts borrow from this machine and Ansible's modules see: OS release,
    /// architecture, python3, time zone.
    machine: String,
}

impl RecordKey {
    fn of(case_dir: &Path, ansible: &Path) -> Result<Self> {
        Ok(RecordKey {
            case: case_hash(case_dir)?,
            harness: HARNESS_VERSION,
            ansible: ansible_version(ansible)?,
            machine: machine_fingerprint(),
        })
    }

    /// The parts of `self` that differ from `other`, by name.
    fn differences(&self, other: &RecordKey) -> Vec<&'static str> {
        let mut parts = Vec::new();
        if self.case != other.case {
            parts.push("case files");
        }
        if self.harness != other.harness {
            parts.push("harness version");
        }
        if self.ansible != other.ansible {
            parts.push("ansible version");
        }
        if self.machine != other.machine {
            parts.push("machine");
        }
        parts
    }
}

/// ansible-playbook's outcome for every run of one case, in
/// `tests/conformance/recorded/<case>.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    key: RecordKey,
    /// sha256 of the compared paths' state on fresh hosts after `setup`: hosts that start out
    /// otherwise (another /etc/passwd) run the reference live.
    initial_state: String,
    runs: Vec<RecordedRun>,
}

/// Texts are stored as lists of lines (split at `\n`, so joining them back is exact) to keep
/// a re-record's diff readable.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedRun {
    command: String,
    exit: i32,
    recap: BTreeMap<String, Recap>,
    state: Vec<String>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

fn lines(text: &str) -> Vec<String> {
    text.split('\n').map(str::to_string).collect()
}

impl Record {
    /// The record at `path` if its key is `key`; otherwise `None`, saying why when a record
    /// exists but is not used.
    fn load(path: &Path, key: &RecordKey, name: &str) -> Option<Record> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("note: conformance::{name}: no record; running ansible-playbook live");
                return None;
            }
            Err(e) => {
                eprintln!("note: conformance::{name}: reading {}: {e}", path.display());
                return None;
            }
        };
        let record: Record = match serde_json::from_str(&text) {
            Ok(record) => record,
            Err(e) => {
                eprintln!(
                    "note: conformance::{name}: {} is not a record ({e}); running ansible-playbook live",
                    path.display()
                );
                return None;
            }
        };
        let stale = record.key.differences(key);
        if stale.is_empty() {
            return Some(record);
        }
        eprintln!(
            "note: conformance::{name}: record is stale ({} changed); running ansible-playbook live",
            stale.join(", ")
        );
        None
    }

    fn into_runs(self) -> Vec<RunResult> {
        self.runs
            .into_iter()
            .map(|run| RunResult {
                command: run.command,
                output: Output {
                    code: run.exit,
                    stdout: run.stdout.join("\n"),
                    stderr: run.stderr.join("\n"),
                },
                recap: Ok(run.recap),
                state: run.state.join("\n"),
                elapsed: None,
            })
            .collect()
    }
}

/// Under `TEND_CONFORMANCE_RECORD=1`, stores a live reference's outcome, if it is a sound one
/// (otherwise the comparison says the case is broken).
fn write_record_if_asked(
    path: &Path,
    key: &RecordKey,
    spec: &CaseSpec,
    reference: &ToolRuns,
) -> Result<()> {
    if !flag(RECORD_ENV) || reference_broken(spec, &reference.runs).is_some() {
        return Ok(());
    }
    let runs = reference
        .runs
        .iter()
        .map(|run| {
            Ok(RecordedRun {
                command: run.command.clone(),
                exit: run.output.code,
                recap: run
                    .recap
                    .clone()
                    .map_err(|e| anyhow::anyhow!("no recap: {e}"))?,
                state: lines(&run.state),
                stdout: lines(&run.output.stdout),
                stderr: lines(&run.output.stderr),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let record = Record {
        key: key.clone(),
        initial_state: digest(reference.initial.as_bytes()),
        runs,
    };
    let mut text = serde_json::to_string_pretty(&record)?;
    text.push('\n');
    let dir = records_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Written aside and renamed, so an interrupted run never leaves half a record.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// sha256 over every entry under the case directory, sorted by relative path: the path, its
/// kind (file, with or without an execute bit, directory, symlink) and its content (a
/// symlink's target). Nothing is left out.
fn case_hash(dir: &Path) -> Result<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, u8, Vec<u8>)>) -> Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                let target = std::fs::read_link(&path)?;
                out.push((
                    rel,
                    b'l',
                    target.to_string_lossy().into_owned().into_bytes(),
                ));
            } else if kind.is_dir() {
                out.push((rel.clone(), b'd', Vec::new()));
                walk(&path, &rel, out)?;
            } else {
                // Git keeps only the execute bit, so that is all the hash sees of the mode.
                let exec = entry.metadata()?.permissions().mode() & 0o111 != 0;
                let data =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                out.push((rel, if exec { b'x' } else { b'f' }, data));
            }
        }
        Ok(())
    }
    let mut entries = Vec::new();
    walk(dir, "", &mut entries)?;
    entries.sort();
    let mut bytes = Vec::new();
    for (rel, kind, data) in entries {
        // Lengths first, so no two trees serialise alike.
        bytes.extend_from_slice(&(rel.len() as u64).to_le_bytes());
        bytes.extend_from_slice(rel.as_bytes());
        bytes.push(kind);
        bytes.extend_from_slice(&(data.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&data);
    }
    Ok(digest(&bytes))
}

/// `ansible-playbook --version`'s first line, with the `ansible` package's release when it
/// sits beside it (its collections are part of the reference too); asked once per run of the
/// test binary.
fn ansible_version(ansible: &Path) -> Result<String> {
    static VERSION: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            let out = Command::new(ansible)
                .arg("--version")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("running {} --version: {e}", ansible.display()))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text.lines().next().unwrap_or("").trim().to_string();
            if !out.status.success() || first.is_empty() {
                return Err(format!(
                    "{} --version exited {}: {}",
                    ansible.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(match collections_release(ansible) {
                Some(release) => format!("{first}, ansible {release}"),
                None => first,
            })
        })
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

/// The `ansible` package's version from `ansible_collections/ansible_release.py` in the venv
/// of `ansible` (`<venv>/bin/ansible-playbook`).
fn collections_release(ansible: &Path) -> Option<String> {
    let lib = ansible.parent()?.parent()?.join("lib");
    let mut pythons: Vec<PathBuf> = std::fs::read_dir(lib)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    pythons.sort();
    pythons.iter().find_map(|python| {
        let text = std::fs::read_to_string(
            python.join("site-packages/ansible_collections/ansible_release.py"),
        )
        .ok()?;
        text.lines().find_map(|line| {
            let value = line.strip_prefix("ansible_version")?.trim_start();
            let value = value.strip_prefix('=')?.trim();
            Some(value.trim_matches(|c| c == '\'' || c == '"').to_string())
        })
    })
}

/// The lab hosts run this machine's /usr and /etc: what of it can change an outcome that the
/// initial-state check does not see.
fn machine_fingerprint() -> String {
    static MACHINE: OnceLock<String> = OnceLock::new();
    MACHINE
        .get_or_init(|| {
            let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
            let field = |name: &str| {
                release
                    .lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                    .unwrap_or("?")
                    .trim_matches('"')
                    .to_string()
            };
            let python = Command::new("/usr/bin/python3")
                .arg("--version")
                .stdin(Stdio::null())
                .output()
                .map(|o| {
                    let mut text = String::from_utf8_lossy(&o.stdout).trim().to_string();
                    if text.is_empty() {
                        text = String::from_utf8_lossy(&o.stderr).trim().to_string();
                    }
                    text
                })
                .unwrap_or_else(|_| "no python3".to_string());
            let tz = std::env::var("TZ").unwrap_or_else(|_| {
                std::fs::read_link("/etc/localtime")
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "?".to_string())
            });
            format!(
                "{} {}, {}, {python}, TZ {tz}",
                field("ID"),
                field("VERSION_ID"),
                std::env::consts::ARCH
            )
        })
        .clone()
}

/// Every file in `recorded/` is the record of a case that exists.
fn orphan_records(cases: &[String]) -> Result<()> {
    let dir = records_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut orphans = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        match name.strip_suffix(".json") {
            Some(case) if cases.iter().any(|c| c == case) => {}
            _ => orphans.push(name),
        }
    }
    orphans.sort();
    ensure!(
        orphans.is_empty(),
        "{} holds files that are no case's record: {}",
        dir.display(),
        orphans.join(", ")
    );
    Ok(())
}

/// The case hash is stable, and changes with any file's content, name, execute bit, or a new
/// file in a subdirectory.
fn case_hash_tracks_case_files() -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir()?;
    let case = dir.path();
    std::fs::write(case.join("case.yml"), "compare: [/srv/x]\n")?;
    std::fs::write(case.join("site.yml"), "- hosts: all\n")?;
    std::fs::create_dir(case.join("files"))?;
    std::fs::write(case.join("files/a"), "a\n")?;
    let first = case_hash(case)?;
    ensure!(first.len() == 64, "not a sha256: {first}");
    ensure!(case_hash(case)? == first, "hash not stable");

    let mut seen = vec![first.clone()];
    let mut changed = |what: &str| -> Result<()> {
        let hash = case_hash(case)?;
        ensure!(!seen.contains(&hash), "hash unchanged after {what}");
        seen.push(hash);
        Ok(())
    };
    std::fs::write(case.join("files/a"), "b\n")?;
    changed("changing a file")?;
    std::fs::rename(case.join("files/a"), case.join("files/b"))?;
    changed("renaming a file")?;
    std::fs::set_permissions(case.join("files/b"), std::fs::Permissions::from_mode(0o755))?;
    changed("making a file executable")?;
    std::fs::create_dir(case.join("templates"))?;
    changed("adding an empty directory")?;
    std::fs::write(case.join("templates/t.j2"), "")?;
    changed("adding an empty file")?;
    std::os::unix::fs::symlink("b", case.join("files/l"))?;
    changed("adding a symlink")?;

    std::fs::remove_file(case.join("files/l"))?;
    std::fs::remove_file(case.join("templates/t.j2"))?;
    std::fs::remove_dir(case.join("templates"))?;
    std::fs::set_permissions(case.join("files/b"), std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(case.join("files/b"), case.join("files/a"))?;
    std::fs::write(case.join("files/a"), "a\n")?;
    ensure!(
        case_hash(case)? == first,
        "hash differs once the files are back as they were"
    );
    Ok(())
}
