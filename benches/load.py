#!/usr/bin/env python3
# benches/load.py: the load test behind benches/load.sh. It owns the question "does anything
# grow run over run?": starts a tend-lab of N hosts (default 200), writes a 100-task playbook,
# runs tend on it K times (the first run changes every host, the rest are re-runs), and for
# each run records wall time, CPU, peak RSS (GNU time), peak open file descriptors and threads
# of the tend process, SSH connections per host, the recap, and what is left on the hosts
# afterwards (temp files, sshd sessions). Writes results.json and report.md and exits non-zero
# when a run fails or when a re-run uses clearly more memory, descriptors or time than the
# first re-run.
import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
sys.path.insert(0, str(BENCHES))
import bench  # noqa: E402  (the lab and recap helpers)

# A re-run may use this much more than the first re-run before it counts as growth: RSS and
# wall time vary with what else the 2 cores are doing; descriptors should not vary at all.
RSS_SLACK = 1.15
WALL_SLACK = 1.5
FD_SLACK = 8


def parse_args(argv):
    p = argparse.ArgumentParser(description="tend load test on tend-lab hosts")
    p.add_argument("--hosts", type=int, default=200)
    p.add_argument("--runs", type=int, default=5, help="runs in all: one first run, then re-runs")
    p.add_argument("--tasks", type=int, default=100)
    p.add_argument("--forks", type=int, default=200)
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--out", help="output folder (default benches/results/<date>-load)")
    p.add_argument("--tend", help="tend binary (default target/release/tend)")
    p.add_argument("--report", action="store_true", help="also write tend's JSON report each run")
    a = p.parse_args(argv)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    a.tend = Path(a.tend or target / "release" / "tend").resolve()
    a.tend_lab = a.tend.parent / "tend-lab"
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    a.out = Path(a.out or BENCHES / "results" / f"{stamp}-load").resolve()
    return a


def playbook(tasks):
    """`tasks` tasks of the common kinds, each a separate task (no loops), all idempotent."""
    body = []
    kinds = ["dir", "copy", "template", "lineinfile", "command", "stat", "blockinfile", "set_fact"]
    for i in range(tasks):
        kind = kinds[i % len(kinds)]
        d = f"/srv/load/d{i % 10}"
        if kind == "dir":
            body.append(f"    - name: dir {i}\n      file: {{path: {d}, state: directory, mode: '0755'}}")
        elif kind == "copy":
            body.append(f"    - name: copy {i}\n      copy: {{dest: '{d}/copy{i}.txt', content: \"copy {i} on {{{{ inventory_hostname }}}}\\n\", mode: '0644'}}")
        elif kind == "template":
            body.append(f"    - name: template {i}\n      template: {{src: app.conf.j2, dest: '{d}/app{i}.conf'}}\n      vars: {{n: {i}}}")
        elif kind == "lineinfile":
            body.append(f"    - name: lineinfile {i}\n      lineinfile: {{path: '{d}/lines.txt', line: 'line {i}', create: true}}")
        elif kind == "command":
            body.append(f"    - name: command {i}\n      command: cat /etc/hostname\n      changed_when: false")
        elif kind == "stat":
            body.append(f"    - name: stat {i}\n      stat: {{path: '{d}'}}\n      register: st{i}")
        elif kind == "blockinfile":
            body.append(f"    - name: blockinfile {i}\n      blockinfile: {{path: '{d}/block{i}.txt', block: 'block {i}', create: true}}")
        else:
            body.append(f"    - name: set_fact {i}\n      set_fact: {{f{i}: '{{{{ inventory_hostname }}}}-{i}'}}")
    # Dirs come first in every group of 10 hosts' dirs: make them all up front.
    pre = "    - name: base dirs\n      file: {path: '/srv/load/d{{ item }}', state: directory}\n      loop: [0,1,2,3,4,5,6,7,8,9]"
    return ("- hosts: all\n  gather_facts: false\n  tasks:\n" + pre + "\n" + "\n".join(body[: tasks - 1]) + "\n")


class ProcSampler(threading.Thread):
    """Peak open descriptors and threads of the tend process (the child GNU time runs)."""

    def __init__(self, parent):
        super().__init__(daemon=True)
        self.parent, self.pid = parent, None
        self.fds = self.threads = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.05):
            try:
                if self.pid is None:
                    kids = Path(f"/proc/{self.parent}/task/{self.parent}/children").read_text().split()
                    if not kids:
                        continue
                    self.pid = int(kids[0])
                self.fds = max(self.fds, len(os.listdir(f"/proc/{self.pid}/fd")))
                self.threads = max(self.threads, len(os.listdir(f"/proc/{self.pid}/task")))
            except OSError:
                continue

    def result(self):
        return {"fds_max": self.fds, "threads_max": self.threads}


def lingering_processes(lab):
    """Processes left in the lab hosts' mount namespaces besides each host's sshd listener:
    after a run none may remain (sessions and their commands end with the run). Counted per
    namespace, so other labs on the machine do not count."""
    listeners, namespaces = set(), set()
    procs = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ns = os.readlink(f"/proc/{entry}/ns/mnt")
            args = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        procs.append((int(entry), ns))
        if f"{lab.dir}/" in args and "sshd_config" in args:
            listeners.add(int(entry))
            namespaces.add(ns)
    return sum(1 for pid, ns in procs if ns in namespaces and pid not in listeners)


def run_once(a, lab, project, n):
    log = a.out / "logs" / f"run{n}.log"
    cmd = [str(a.tend), "run", "site.yml", "-i", str(lab.inventory), "--known-hosts", str(lab.known_hosts),
           "-f", str(a.forks)]
    if a.report:
        cmd += ["--report", f"json={a.out / 'logs' / f'run{n}.json'}"]
    env = dict(os.environ, NO_COLOR="1")
    s = bench.measure(cmd, project, env, log, a.timeout, conn_addrs=[addr for _, addr in lab.hosts],
                      samplers=[ProcSampler])
    # Sessions end as tend closes its connections; 200 sshd children ending at once on 2 cores
    # take a moment. Wait for them (up to 10 s) and record how long it took.
    t_exit = time.monotonic()
    while lingering_processes(lab) and time.monotonic() - t_exit < 10:
        time.sleep(0.1)
    settle = time.monotonic() - t_exit
    leftovers = lab.ssh_all("find /srv/load /tmp -name '.tend*' 2>/dev/null | wc -l")
    return {
        "run": n,
        "wall": round(s["wall"], 3),
        "cpu": round(s["cpu"], 3),
        "rss_kb": s["rss_kb"],
        "fds_max": s["fds_max"],
        "threads_max": s["threads_max"],
        "conns_per_host_max": s["conns_per_host_max"],
        "exit": s["exit"],
        "recap": bench.counts("tend", log),
        "temp_files_left": sum(int(v.strip() or 0) for v in leftovers.values()),
        "processes_left": lingering_processes(lab),
        "sessions_ended_after_s": round(settle, 2),
        "log": str(log),
    }


def verdict(samples):
    """What grew between the first re-run and the later ones, as sentences; empty if nothing."""
    problems = []
    for s in samples:
        if s["exit"] != 0:
            problems.append(f"run {s['run']} exited {s['exit']}")
        if s["temp_files_left"]:
            problems.append(f"run {s['run']} left {s['temp_files_left']} temp files on hosts")
        if s["processes_left"]:
            problems.append(f"run {s['run']} left {s['processes_left']} processes on the hosts")
    reruns = samples[1:]
    if len(reruns) >= 2:
        base = reruns[0]
        for s in reruns[1:]:
            if s["rss_kb"] > base["rss_kb"] * RSS_SLACK:
                problems.append(f"run {s['run']} peak RSS {s['rss_kb']} KiB > first re-run {base['rss_kb']} KiB")
            if s["fds_max"] > base["fds_max"] + FD_SLACK:
                problems.append(f"run {s['run']} {s['fds_max']} descriptors > first re-run {base['fds_max']}")
            if s["wall"] > base["wall"] * WALL_SLACK:
                problems.append(f"run {s['run']} wall {s['wall']} s > first re-run {base['wall']} s")
        if any(s["recap"].get("changed") for s in reruns):
            problems.append("a re-run changed something: the playbook is not idempotent under tend")
    return problems


def main(argv):
    a = parse_args(argv)
    for b in (a.tend, a.tend_lab):
        if not b.is_file():
            sys.exit(f"{b} not found: build with cargo build --release -p tend -p tend-lab, or pass --tend")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    (a.out / "logs").mkdir(parents=True, exist_ok=True)
    project = Path(tempfile.mkdtemp(prefix="tend-load-"))
    (project / "site.yml").write_text(playbook(a.tasks))
    (project / "app.conf.j2").write_text("# {{ ansible_managed | default('managed') }}\nhost={{ inventory_hostname }}\nn={{ n }}\n")
    print(f"starting {a.hosts} lab hosts; results in {a.out}", flush=True)
    t0 = time.monotonic()
    lab = bench.Lab(a.tend_lab, a.hosts)
    lab_start = time.monotonic() - t0
    samples = []
    try:
        for n in range(1, a.runs + 1):
            s = run_once(a, lab, project, n)
            samples.append(s)
            print(f"run {n}: {s['wall']} s, rss {s['rss_kb']} KiB, fds {s['fds_max']}, threads "
                  f"{s['threads_max']}, conns/host {s['conns_per_host_max']}, recap {s['recap']}, "
                  f"temp left {s['temp_files_left']}, processes left {s['processes_left']}", flush=True)
    finally:
        lab.stop()
    problems = verdict(samples)
    facts = {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release(),
             "tend": subprocess.run([str(a.tend), "--version"], capture_output=True, text=True).stdout.strip()}
    results = {"hosts": a.hosts, "tasks": a.tasks, "runs": a.runs, "forks": a.forks, "lab_start_s": round(lab_start, 1),
               "facts": facts, "samples": samples, "problems": problems,
               "playbook": (project / "site.yml").read_text()}
    (a.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = ["| run | kind | wall s | CPU s | peak RSS MiB | peak fds | peak threads | conns/host | ok | changed | failed | temp files left | processes left on hosts (after s) |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in samples:
        r = s["recap"]
        rows.append(f"| {s['run']} | {'first' if s['run'] == 1 else 're-run'} | {s['wall']:.1f} | {s['cpu']:.1f} | "
                    f"{s['rss_kb'] / 1024:.1f} | {s['fds_max']} | {s['threads_max']} | {s['conns_per_host_max']} | "
                    f"{r.get('ok', '?')} | {r.get('changed', '?')} | {r.get('failed', '?')} | "
                    f"{s['temp_files_left']} | {s['processes_left']} ({s['sessions_ended_after_s']}) |")
    reruns = samples[1:]
    med = (f"Re-runs, median: {statistics.median(s['wall'] for s in reruns):.1f} s wall, "
           f"{statistics.median(s['rss_kb'] for s in reruns) / 1024:.1f} MiB peak RSS.\n\n") if reruns else ""
    report = (f"# Load test: {a.hosts} hosts × {a.tasks} tasks, {a.runs} runs\n\n"
              f"{facts['tend']} on {facts['cpus']} CPUs ({facts['machine']}, Linux {facts['kernel']}), "
              f"`-f {a.forks}`{' --report json' if a.report else ''}; lab started in {lab_start:.0f} s.\n\n" + "\n".join(rows) + "\n\n" + med +
              ("Nothing grew run over run (RSS within "
               f"{round((RSS_SLACK - 1) * 100)}%, descriptors within {FD_SLACK}, wall within {round((WALL_SLACK - 1) * 100)}% "
               "of the first re-run); no temp files or processes left on the hosts.\n" if not problems else
               "Problems:\n" + "".join(f"- {p}\n" for p in problems)))
    (a.out / "report.md").write_text(report)
    print(report)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
