//! Faults on real lab hosts: a host dying mid-run, a connection cut mid-transfer, a port that
//! never answers, a full disk, a hanging command under `timeout`, Ctrl-C, and writes that
//! fail. In each: the healthy host finishes, the faulty one is reported as ansible-playbook
//! reports it, no file is left half-written, no temp file is left behind, and once the fault
//! is gone a re-run converges.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tend_lab::Lab;

use crate::support::{ensure, lab, read, Output, Project, Recap, TestResult};

type Case = (&'static str, fn() -> TestResult);

macro_rules! cases {
    ($($name:ident),* $(,)?) => { vec![$((stringify!($name), $name as fn() -> TestResult)),*] };
}

pub fn all() -> Vec<Case> {
    cases![
        fault_sshd_killed_mid_run,
        fault_connection_dropped_mid_transfer,
        fault_host_accepts_tcp_but_never_answers,
        fault_disk_full_during_copy,
        fault_hanging_command_times_out,
        fault_ctrl_c_during_a_run,
        fault_sigterm_winds_down_like_ctrl_c,
        fault_ctrl_c_during_a_copy,
        fault_failed_writes_leave_no_temp_files,
    ]
}

fn recap(ok: u32, changed: u32) -> Recap {
    Recap {
        ok,
        changed,
        ..Recap::default()
    }
}

fn expect_recap(out: &Output, host: &str, want: Recap) -> Result<()> {
    let got = out.host(host)?;
    ensure(got == want, || {
        format!(
            "{host}: recap {got:?}, wanted {want:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.stdout, out.stderr
        )
    })
}

/// Polls `cond` every few milliseconds until it holds or `limit` passes.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> Result<bool>) -> Result<bool> {
    let end = Instant::now() + limit;
    loop {
        if cond()? {
            return Ok(true);
        }
        if Instant::now() > end {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether a process of host `i` has `needle` in its command line.
fn runs(lab: &Lab, i: usize, needle: &str) -> Result<bool> {
    Ok(lab
        .processes(i)?
        .iter()
        .any(|(_, cmd)| cmd.contains(needle)))
}

/// Names a temp file of tend's (or `mktemp`'s default) could have.
fn is_temp_name(name: &str) -> bool {
    name.starts_with(".tend")
        || name.starts_with("tend-")
        || name.starts_with("tmp.")
        || name.starts_with(".ansible")
}

/// Temp files tend may have left in `dirs` of host `i`. Waits a little for them to go, since a
/// host-side script that lost its connection cleans up on its own, a moment later. A host's
/// `/tmp` and `/root` show this machine's own files through the overlay: only names this
/// machine does not have are the host's.
fn leftovers(lab: &Lab, i: usize, dirs: &[&str]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let list = |found: &mut Vec<String>| -> Result<()> {
        found.clear();
        for dir in dirs {
            for name in lab.list_dir(i, dir)?.unwrap_or_default() {
                let here = std::path::Path::new(dir).join(&name);
                if is_temp_name(&name) && here.symlink_metadata().is_err() {
                    found.push(format!("{dir}/{name}"));
                }
            }
        }
        Ok(())
    };
    wait_until(Duration::from_secs(5), || {
        list(&mut found)?;
        Ok(found.is_empty())
    })?;
    Ok(found)
}

fn expect_no_leftovers(lab: &Lab, i: usize, dirs: &[&str]) -> Result<()> {
    let found = leftovers(lab, i, dirs)?;
    ensure(found.is_empty(), || {
        format!("h{}: temp files left behind: {found:?}", i + 1)
    })
}

/// Deterministic bytes that are not all alike, so a truncated copy differs from the source.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn run_in_background<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    run: crate::support::Run<'s>,
) -> std::thread::ScopedJoinHandle<'s, Result<Output>> {
    scope.spawn(move || run.exec())
}

fn join(handle: std::thread::ScopedJoinHandle<'_, Result<Output>>) -> Result<Output> {
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("the tend runner panicked"))?
}

const KILLED_SITE: &str = r#"
- hosts: all
  gather_facts: no
  tasks:
    - file: {path: /srv/k, state: directory}
    - copy: {dest: /srv/k/before, content: "before {{ inventory_hostname }}\n"}
    - command: sleep 3
      changed_when: false
    - copy: {dest: /srv/k/after, content: "after {{ inventory_hostname }}\n"}
"#;

fn fault_sshd_killed_mid_run() -> TestResult {
    let mut lab = lab(2)?;
    let p = Project::new()?;
    p.file("site.yml", KILLED_SITE)?;
    let out = std::thread::scope(|s| -> Result<Output> {
        let run = run_in_background(s, p.run(&lab));
        let seen = wait_until(Duration::from_secs(20), || runs(&lab, 1, "sleep 3"))?;
        ensure(seen, || "the sleep never started on h2".into())?;
        // sshd, its per-connection processes and the sessions' commands: the host is gone.
        lab.kill_host(1)?;
        join(run)
    })?;
    out.expect_code(4)?;
    out.assert_stdout_contains("fatal: [h2]: UNREACHABLE!")?;
    out.assert_stdout_contains("connection lost")?;
    expect_recap(
        &out,
        "h2",
        Recap {
            ok: 2,
            changed: 2,
            unreachable: 1,
            ..Recap::default()
        },
    )?;
    expect_recap(&out, "h1", recap(4, 3))?;
    ensure(read(&lab, 0, "/srv/k/after")?.is_some(), || {
        "h1 did not finish".into()
    })?;

    lab.restart_host(1)?;
    ensure(
        read(&lab, 1, "/srv/k/before")?.as_deref() == Some("before h2\n"),
        || "h2 lost what it did before dying".into(),
    )?;
    ensure(read(&lab, 1, "/srv/k/after")?.is_none(), || {
        "h2 ran a task after dying".into()
    })?;
    expect_no_leftovers(&lab, 1, &["/srv/k", "/tmp", "/root"])?;

    let again = p.run(&lab).exec()?;
    again.expect_code(0)?;
    expect_recap(&again, "h1", recap(4, 0))?;
    expect_recap(&again, "h2", recap(4, 1))?;
    let third = p.run(&lab).exec()?;
    third.expect_code(0)?;
    expect_recap(&third, "h2", recap(4, 0))?;
    Ok(())
}

/// A project copying a 48 MiB `big.bin` to `DIR/big` (then `more_tasks`), on hosts where
/// `DIR/big` holds `old`; returns the project and the file's bytes.
fn big_copy(lab: &Lab, dir: &str, more_tasks: &str) -> Result<(Project, Vec<u8>)> {
    let p = Project::new()?;
    let big = pattern(48 << 20);
    std::fs::create_dir_all(p.path().join("files"))?;
    std::fs::write(p.path().join("files/big.bin"), &big)?;
    p.file(
        "site.yml",
        &format!(
            "- hosts: all\n  gather_facts: no\n  tasks:\n    - copy: {{src: big.bin, dest: {dir}/big}}\n{more_tasks}"
        ),
    )?;
    for i in 0..lab.hosts().len() {
        let made = lab.ssh(i, &format!("mkdir -p {dir} && printf old > {dir}/big"))?;
        ensure(made.status.success(), || format!("setup: {made:?}"))?;
    }
    Ok((p, big))
}

/// Whether a tend temp file is in `dir` on host `i`: the copy's data is on its way.
fn temp_file_in(lab: &Lab, i: usize, dir: &str) -> Result<bool> {
    Ok(lab
        .list_dir(i, dir)?
        .unwrap_or_default()
        .iter()
        .any(|n| n.starts_with(".tend")))
}

/// Host `i`'s `path` is whole: the old content or the new, never a part.
fn old_or_new(lab: &Lab, i: usize, path: &str, new: &[u8]) -> Result<()> {
    let file = lab.read_file(i, path)?.context("the file is gone")?;
    ensure(file == b"old" || file == new, || {
        format!(
            "h{}: the file is neither the old nor the new one: {} bytes",
            i + 1,
            file.len()
        )
    })
}

fn fault_connection_dropped_mid_transfer() -> TestResult {
    let lab = lab(2)?;
    let (p, big) = big_copy(
        &lab,
        "/srv/x",
        "    - copy: {dest: /srv/x/after, content: done}\n",
    )?;
    let mut caught = false;
    let out = std::thread::scope(|s| -> Result<Output> {
        let run = run_in_background(s, p.run(&lab));
        // The moment the temp file shows up the data is on its way: cut every connection.
        let temp_seen = wait_until(Duration::from_secs(30), || temp_file_in(&lab, 1, "/srv/x"))?;
        if temp_seen {
            caught = lab.drop_connections(1)? > 0;
        }
        join(run)
    })?;
    ensure(caught, || {
        format!("never saw the transfer in progress on h2\n{}", out.stdout)
    })?;
    out.expect_code(4)?;
    out.assert_stdout_contains("fatal: [h2]: UNREACHABLE!")?;
    ensure(out.host("h2")?.unreachable == 1, || out.stdout.clone())?;
    expect_recap(&out, "h1", recap(2, 2))?;
    ensure(
        lab.read_file(0, "/srv/x/big")?.as_deref() == Some(&big[..]),
        || "h1's copy differs from the source".into(),
    )?;
    old_or_new(&lab, 1, "/srv/x/big", &big)?;
    expect_no_leftovers(&lab, 1, &["/srv/x", "/tmp", "/root"])?;

    let again = p.run(&lab).exec()?;
    again.expect_code(0)?;
    expect_recap(&again, "h1", recap(2, 0))?;
    ensure(
        lab.read_file(1, "/srv/x/big")?.as_deref() == Some(&big[..]),
        || "h2's copy differs from the source after the re-run".into(),
    )?;
    let third = p.run(&lab).exec()?;
    third.expect_code(0)?;
    expect_recap(&third, "h2", recap(2, 0))?;
    Ok(())
}

fn fault_host_accepts_tcp_but_never_answers() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - copy: {dest: /tmp/silent-test, content: ok}\n",
    )?;
    // Accepts every connection and never says a word (no SSH banner).
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let stop = Arc::new(AtomicBool::new(false));
    let accepting = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => held.push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            held.len()
        })
    };
    let ini = std::fs::read_to_string(lab.inventory_ini())?;
    let inv = p.file(
        "hosts.ini",
        &format!("{ini}silent ansible_host=127.0.0.1 ansible_port={port} ansible_user=root\n"),
    )?;
    let started = Instant::now();
    let out = p
        .run(&lab)
        .inventory(inv.display().to_string())
        .arg("-T")
        .arg("2")
        .exec();
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let accepted = accepting
        .join()
        .map_err(|_| anyhow::anyhow!("listener panicked"))?;
    let out = out?;
    ensure(accepted >= 1, || {
        "tend never connected to the silent port".into()
    })?;
    ensure(took < Duration::from_secs(15), || {
        format!("the run took {took:?} with a 2 s connect timeout")
    })?;
    out.expect_code(4)?;
    out.assert_stdout_contains("fatal: [silent]: UNREACHABLE!")?;
    out.assert_stdout_contains("timed out")?;
    ensure(out.host("silent")?.unreachable == 1, || out.stdout.clone())?;
    expect_recap(&out, "h1", recap(1, 1))?;
    expect_recap(&out, "h2", recap(1, 1))?;
    Ok(())
}

fn fault_disk_full_during_copy() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    let big = pattern(2 << 20);
    std::fs::create_dir_all(p.path().join("files"))?;
    std::fs::write(p.path().join("files/big.bin"), &big)?;
    p.file(
        "site.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - copy: {src: big.bin, dest: /srv/full/data}\n",
    )?;
    for i in 0..2 {
        // Only h2's /srv/full is a 1 MiB tmpfs; h1's is a plain directory.
        let mount = if i == 1 {
            "mount -t tmpfs -o size=1m tend-full /srv/full && "
        } else {
            ""
        };
        let made = lab.in_host(
            i,
            "sh",
            &[
                "-c",
                &format!("mkdir -p /srv/full && {mount}printf old > /srv/full/data"),
            ],
        )?;
        ensure(made.status.success(), || format!("setup: {made:?}"))?;
    }
    let out = p.run(&lab).exec()?;
    out.expect_code(2)?;
    out.assert_stdout_contains("fatal: [h2]: FAILED!")?;
    out.assert_stdout_contains("No space left on device")?;
    expect_recap(
        &out,
        "h2",
        Recap {
            failed: 1,
            ..Recap::default()
        },
    )?;
    expect_recap(&out, "h1", recap(1, 1))?;
    ensure(
        read(&lab, 1, "/srv/full/data")?.as_deref() == Some("old"),
        || "h2's file changed although the copy failed".into(),
    )?;
    expect_no_leftovers(&lab, 1, &["/srv/full", "/tmp", "/root"])?;

    let grown = lab.in_host(1, "mount", &["-o", "remount,size=8m", "/srv/full"])?;
    ensure(grown.status.success(), || format!("remount: {grown:?}"))?;
    let again = p.run(&lab).exec()?;
    again.expect_code(0)?;
    expect_recap(&again, "h1", recap(1, 0))?;
    expect_recap(&again, "h2", recap(1, 1))?;
    ensure(
        lab.read_file(1, "/srv/full/data")?.as_deref() == Some(&big[..]),
        || "h2's copy differs from the source".into(),
    )?;
    let third = p.run(&lab).exec()?;
    third.expect_code(0)?;
    expect_recap(&third, "h2", recap(1, 0))?;
    Ok(())
}

const HANGING_SITE: &str = r#"
- hosts: all
  gather_facts: no
  vars:
    nap: "{{ 300 if inventory_hostname == 'h1' else 0 }}"
  tasks:
    - command: sleep {{ nap }}
      timeout: 2
      changed_when: false
    - copy: {dest: /srv/after-hang, content: done}
"#;

fn fault_hanging_command_times_out() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file("site.yml", HANGING_SITE)?;
    let started = Instant::now();
    let out = p.run(&lab).exec()?;
    let took = started.elapsed();
    out.expect_code(2)?;
    ensure(took < Duration::from_secs(20), || {
        format!("the run took {took:?} with a 2 s task timeout")
    })?;
    out.assert_stdout_contains("fatal: [h1]: FAILED!")?;
    out.assert_stdout_contains("Task failed: Timed out after 2 second(s).")?;
    out.assert_stdout_contains("\"timedout\"")?;
    expect_recap(
        &out,
        "h1",
        Recap {
            failed: 1,
            ..Recap::default()
        },
    )?;
    expect_recap(&out, "h2", recap(2, 1))?;
    // The command does not run on after the task gave up on it.
    let gone = wait_until(Duration::from_secs(5), || Ok(!runs(&lab, 0, "sleep 300")?))?;
    ensure(gone, || {
        "`sleep 300` still runs on h1 after the timeout".into()
    })?;
    ensure(read(&lab, 0, "/srv/after-hang")?.is_none(), || {
        "h1 went on after failing".into()
    })?;

    let again = p.run(&lab).arg("-e").arg("nap=0").exec()?;
    again.expect_code(0)?;
    expect_recap(&again, "h1", recap(2, 1))?;
    expect_recap(&again, "h2", recap(2, 0))?;
    Ok(())
}

const INTERRUPTED_SITE: &str = r#"
- hosts: all
  gather_facts: no
  tasks:
    - file: {path: /srv/c, state: directory}
    - copy: {dest: /srv/c/one, content: "one\n"}
    - command: sleep {{ nap | default(30) }}
      changed_when: false
    - copy: {dest: /srv/c/two, content: "two\n"}
"#;

/// Runs the project's `site.yml` and sends tend SIGINT once `ready` holds; returns its output
/// and how long it took to exit after the signal.
fn interrupt_when(
    lab: &Lab,
    p: &Project,
    signal: &str,
    args: &[&str],
    mut ready: impl FnMut() -> Result<bool>,
) -> Result<(Output, Duration)> {
    let mut run = p.run(lab);
    for arg in args {
        run = run.arg(*arg);
    }
    let mut child = run.spawn()?;
    let pid = child.id();
    let mut signal_and_wait = || -> Result<Duration> {
        let seen = wait_until(Duration::from_secs(30), &mut ready)?;
        ensure(seen, || "the moment to interrupt never came".into())?;
        let sent = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()?;
        ensure(sent.success(), || format!("kill {signal} failed"))?;
        let signalled = Instant::now();
        let exited = wait_until(Duration::from_secs(10), || Ok(child.try_wait()?.is_some()))?;
        let took = signalled.elapsed();
        if !exited {
            bail!("tend still runs {took:?} after kill {signal}");
        }
        Ok(took)
    };
    let outcome = signal_and_wait();
    if outcome.is_err() {
        // Never leave tend running past the test.
        let _ = child.kill();
    }
    let raw = child.wait_with_output()?;
    Ok((raw.into(), outcome?))
}

/// What every interrupted run must look like: ansible-playbook's exit code and message, no
/// recap, a prompt stop, and every connection closed (only each host's listening sshd left).
fn expect_interrupted(lab: &Lab, out: &Output, took: Duration) -> Result<()> {
    out.expect_code(99)?;
    ensure(took < Duration::from_secs(5), || {
        format!("tend took {took:?} to stop after SIGINT")
    })?;
    out.assert_stderr_contains("[ERROR]: User interrupted execution")?;
    // ansible-playbook prints no recap for an interrupted run.
    ensure(!out.stdout.contains("PLAY RECAP"), || out.stdout.clone())?;
    for i in 0..lab.hosts().len() {
        let closed = wait_until(Duration::from_secs(5), || Ok(lab.processes(i)?.len() == 1))?;
        ensure(closed, || {
            format!(
                "h{}: processes left after Ctrl-C: {:?}",
                i + 1,
                lab.processes(i).unwrap_or_default()
            )
        })?;
    }
    Ok(())
}

fn fault_ctrl_c_during_a_run() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file("site.yml", INTERRUPTED_SITE)?;
    let (out, took) = interrupt_when(&lab, &p, "-INT", &[], || {
        Ok(runs(&lab, 0, "sleep 30")? && runs(&lab, 1, "sleep 30")?)
    })?;
    expect_interrupted(&lab, &out, took)?;
    for i in 0..2 {
        let gone = wait_until(Duration::from_secs(5), || Ok(!runs(&lab, i, "sleep 30")?))?;
        ensure(gone, || {
            format!("`sleep 30` still runs on h{} after Ctrl-C", i + 1)
        })?;
        ensure(
            read(&lab, i, "/srv/c/one")?.as_deref() == Some("one\n"),
            || "a finished task's file is damaged".into(),
        )?;
        ensure(read(&lab, i, "/srv/c/two")?.is_none(), || {
            "a task after the interrupt ran".into()
        })?;
        expect_no_leftovers(&lab, i, &["/srv/c", "/tmp", "/root"])?;
    }

    let again = p.run(&lab).arg("-e").arg("nap=0").exec()?;
    again.expect_code(0)?;
    expect_recap(&again, "h1", recap(4, 1))?;
    expect_recap(&again, "h2", recap(4, 1))?;
    let third = p.run(&lab).arg("-e").arg("nap=0").exec()?;
    third.expect_code(0)?;
    expect_recap(&third, "h1", recap(4, 0))?;
    Ok(())
}

/// A cancelled CI job gets SIGTERM: tend stops as it does for Ctrl-C.
fn fault_sigterm_winds_down_like_ctrl_c() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file("site.yml", INTERRUPTED_SITE)?;
    let (out, took) = interrupt_when(&lab, &p, "-TERM", &["--report=json=run.json"], || {
        runs(&lab, 0, "sleep 30")
    })?;
    expect_interrupted(&lab, &out, took)?;
    // The JSON report is still written: the task that finished, the exit code.
    let text = std::fs::read_to_string(p.path().join("run.json"))?;
    let report: serde_json::Value = serde_json::from_str(&text)?;
    ensure(report["tend"]["exit_code"] == 99, || text.clone())?;
    let first = &report["plays"][0]["tasks"][0]["hosts"]["h1"]["tend"]["status"];
    ensure(first == "changed", || text.clone())?;
    let gone = wait_until(Duration::from_secs(5), || Ok(!runs(&lab, 0, "sleep 30")?))?;
    ensure(gone, || "`sleep 30` still runs after SIGTERM".into())?;
    ensure(read(&lab, 0, "/srv/c/two")?.is_none(), || {
        "a task after SIGTERM ran".into()
    })?;
    expect_no_leftovers(&lab, 0, &["/srv/c", "/tmp", "/root"])?;
    Ok(())
}

fn fault_ctrl_c_during_a_copy() -> TestResult {
    let lab = lab(2)?;
    let (p, big) = big_copy(&lab, "/srv/y", "")?;
    // Interrupted while the data is on its way to h1.
    let (out, took) = interrupt_when(&lab, &p, "-INT", &[], || temp_file_in(&lab, 0, "/srv/y"))?;
    expect_interrupted(&lab, &out, took)?;
    for i in 0..2 {
        old_or_new(&lab, i, "/srv/y/big", &big)?;
        expect_no_leftovers(&lab, i, &["/srv/y", "/tmp", "/root"])?;
    }
    let again = p.run(&lab).exec()?;
    again.expect_code(0)?;
    let third = p.run(&lab).exec()?;
    third.expect_code(0)?;
    expect_recap(&third, "h1", recap(1, 0))?;
    expect_recap(&third, "h2", recap(1, 0))?;
    ensure(
        lab.read_file(0, "/srv/y/big")?.as_deref() == Some(&big[..]),
        || "h1's copy differs from the source after the re-run".into(),
    )?;
    Ok(())
}

const FAILING_WRITES_SITE: &str = r#"
- hosts: all
  gather_facts: no
  tasks:
    - copy: {dest: /srv/v/conf, content: "new\n", validate: "/bin/false %s"}
      ignore_errors: true
    - template: {src: t.j2, dest: /srv/v/templated, validate: "/bin/false %s"}
      ignore_errors: true
    - lineinfile: {path: /srv/v/conf, line: "added", validate: "/bin/false %s"}
      ignore_errors: true
    - blockinfile: {path: /srv/v/conf, block: "a block", validate: "/bin/false %s"}
      ignore_errors: true
    - copy: {dest: /srv/ro/small, content: "x"}
      ignore_errors: true
    - copy: {src: big.bin, dest: /srv/ro/big}
      ignore_errors: true
    - script: fails.sh
      ignore_errors: true
"#;

fn fault_failed_writes_leave_no_temp_files() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file("site.yml", FAILING_WRITES_SITE)?;
    p.file("templates/t.j2", "{{ inventory_hostname }}\n")?;
    p.file("files/fails.sh", "#!/bin/sh\necho failing >&2\nexit 3\n")?;
    std::fs::write(p.path().join("files/big.bin"), pattern(600 << 10))?;
    for i in 0..2 {
        let made = lab.in_host(
            i,
            "sh",
            &[
                "-c",
                "mkdir -p /srv/v /srv/ro && printf 'old\\n' > /srv/v/conf \
                 && mount -t tmpfs -o ro tend-ro /srv/ro",
            ],
        )?;
        ensure(made.status.success(), || format!("setup: {made:?}"))?;
    }
    let out = p.run(&lab).exec()?;
    out.expect_code(0)?;
    out.assert_stdout_contains("failed to validate")?;
    out.assert_stdout_contains("Read-only file system")?;
    for (i, host) in ["h1", "h2"].iter().enumerate() {
        expect_recap(
            &out,
            host,
            Recap {
                ok: 7,
                ignored: 7,
                changed: 1,
                ..Recap::default()
            },
        )?;
        ensure(
            read(&lab, i, "/srv/v/conf")?.as_deref() == Some("old\n"),
            || format!("{host}: a refused write changed the file"),
        )?;
        ensure(read(&lab, i, "/srv/v/templated")?.is_none(), || {
            format!("{host}: a refused template was put in place")
        })?;
        expect_no_leftovers(&lab, i, &["/srv/v", "/srv/ro", "/tmp", "/root"])?;
    }
    Ok(())
}
