//! Repeated runs on lab hosts: a 100-task playbook run again and again converges, and
//! nothing grows or is left behind run over run — tend's memory and file descriptors, temp
//! files and processes on the hosts. (`benches/load.sh` does the same at 200 hosts.)

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::support::{ensure, lab, Output, Project, TestResult};

type Case = (&'static str, fn() -> TestResult);

pub fn all() -> Vec<Case> {
    vec![(
        "soak::repeated_runs_converge_and_nothing_grows_or_lingers",
        repeated_runs_converge_and_nothing_grows_or_lingers,
    )]
}

/// 100 tasks of the common kinds, no loops except the first.
fn playbook() -> String {
    let mut out = String::from(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: base dirs\n      file: {path: '/srv/soak/d{{ item }}', state: directory}\n      loop: [0, 1, 2, 3, 4]\n",
    );
    for i in 1..100 {
        let d = format!("/srv/soak/d{}", i % 5);
        let task = match i % 6 {
            0 => format!("file: {{path: '{d}/f{i}', state: directory, mode: '0750'}}"),
            1 => format!(
                "copy: {{dest: '{d}/c{i}.txt', content: \"{i} on {{{{ inventory_hostname }}}}\\n\"}}"
            ),
            2 => format!("template: {{src: t.j2, dest: '{d}/t{i}.conf'}}"),
            3 => format!("lineinfile: {{path: '{d}/lines', line: 'line {i}', create: true}}"),
            4 => "command: cat /etc/hostname\n      changed_when: false".to_string(),
            _ => format!("stat: {{path: '{d}'}}"),
        };
        out.push_str(&format!("    - name: task {i}\n      {task}\n"));
    }
    out
}

/// One run's figures, sampled from `/proc` while tend runs.
#[derive(Debug)]
struct Run {
    output: Output,
    /// Peak resident memory (VmHWM), KiB.
    peak_rss_kb: u64,
    peak_fds: usize,
}

fn run(project: &Project, lab: &tend_lab::Lab) -> Result<Run> {
    let mut child = project.run(lab).arg("-f").arg("20").spawn()?;
    let pid = child.id();
    // The pipes are drained by threads so tend never blocks on a full one while we sample.
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let (mut peak_rss_kb, mut peak_fds) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_rss_kb = peak_rss_kb.max(kb);
            }
        }
        if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            peak_fds = peak_fds.max(fds.count());
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            anyhow::bail!("tend did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        code: status.code().unwrap_or(-1),
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    };
    Ok(Run {
        output,
        peak_rss_kb,
        peak_fds,
    })
}

fn repeated_runs_converge_and_nothing_grows_or_lingers() -> TestResult {
    let hosts = 8;
    let lab = lab(hosts)?;
    let project = Project::new()?;
    project.file("site.yml", &playbook())?;
    project.file("templates/t.j2", "host={{ inventory_hostname }}\n")?;
    let mut runs = Vec::new();
    for n in 0..4 {
        let r = run(&project, &lab)?;
        r.output.expect_code(0)?;
        let recap = r.output.recap()?;
        ensure(recap.len() == hosts, || format!("recap: {recap:?}"))?;
        for (host, counts) in &recap {
            ensure(counts.ok == 100 && counts.failed == 0, || {
                format!("run {n}, {host}: {counts:?}")
            })?;
            // The first run changes every host, the re-runs nothing.
            ensure((counts.changed > 0) == (n == 0), || {
                format!("run {n}, {host}: {counts:?}\n{}", r.output.stdout)
            })?;
        }
        // Nothing is left on the hosts: no temp files, and no process but the host's sshd
        // once tend is gone (sessions end with the run).
        for i in 0..hosts {
            let leftovers = lab.ssh(
                i,
                "find /srv/soak /tmp /root -name '.tend*' 2>/dev/null | head -5",
            )?;
            let text = String::from_utf8_lossy(&leftovers.stdout).into_owned();
            ensure(text.trim().is_empty(), || {
                format!("run {n}: temp files left on h{}: {text}", i + 1)
            })?;
        }
        let settle = Instant::now() + Duration::from_secs(5);
        loop {
            let extra: Vec<(usize, Vec<u32>)> = lab
                .hosts()
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let pids = tend_lab::processes_in_namespace(h.mount_ns());
                    (i, pids.into_iter().filter(|p| *p != h.pid()).collect())
                })
                .filter(|(_, pids): &(usize, Vec<u32>)| !pids.is_empty())
                .collect();
            if extra.is_empty() {
                break;
            }
            ensure(Instant::now() < settle, || {
                format!("run {n}: processes still running on hosts after tend exited: {extra:?}")
            })?;
            std::thread::sleep(Duration::from_millis(100));
        }
        runs.push(r);
    }
    // Re-runs do the same work: memory must not creep up from one to the next.
    let base = &runs[1];
    for (n, r) in runs.iter().enumerate().skip(2) {
        ensure(
            r.peak_rss_kb <= base.peak_rss_kb + base.peak_rss_kb / 5,
            || {
                format!(
                    "run {n} peaked at {} KiB, the first re-run at {} KiB",
                    r.peak_rss_kb, base.peak_rss_kb
                )
            },
        )?;
    }
    // One connection per host; while hosts connect, each also has its key and known_hosts
    // files open for a moment (so the sampled peak varies from run to run). A descriptor
    // leaked per task or per command would be hundreds in every run.
    for (n, r) in runs.iter().enumerate() {
        ensure(r.peak_fds <= 4 * hosts + 16, || {
            format!("run {n}: {} descriptors for {hosts} hosts", r.peak_fds)
        })?;
    }
    Ok(())
}
