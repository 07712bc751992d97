#!/usr/bin/env python3
# benches/bench.py: the benchmark runner behind benches/bench.sh. It owns the measurement:
# starts a tend-lab per host count, runs every tool (tend, ansible-playbook, pyinfra, the floor)
# on every workload of benches/workloads/ (first run from absent files, then the idempotent
# re-run), times each run with its whole process tree's CPU (os.wait4) and peak RSS (GNU
# time), counts tend's SSH connections per host, checks each tool's final host state against
# the floor's, and writes results.json, report.md and chart.png into the output folder.
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
WORKLOADS_DIR = BENCHES / "workloads"
# What each workload creates on a host: deleted before every first run, listed to check state.
WORKLOAD_PATHS = {"reference": ["/srv/bench"], "large": ["/srv/bench-large"], "tasks500": ["/srv/bench-tasks"]}
# Workloads made to measure per-task overhead: how many tasks each host runs.
TASK_COUNTS = {"tasks500": 500}
TOOLS = ["tend", "ansible", "pyinfra", "floor"]
COLORS = {"tend": "tab:blue", "ansible": "tab:red", "pyinfra": "tab:orange", "floor": "tab:green"}
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# pyinfra 3 ends with a results table: "Grand total  <ops> <success> <error> <no change>",
# "-" for none; a successful operation that changed something counts as Success.
PYINFRA_TOTAL = re.compile(r"^\s*Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", re.M)


def parse_args(argv):
    p = argparse.ArgumentParser(description="tend vs ansible-playbook vs pyinfra vs the floor, on tend-lab hosts")
    p.add_argument("--hosts", default="4", help="comma-separated host counts (e.g. 4,50,200)")
    p.add_argument("--runs", type=int, default=5, help="runs per tool, each a first run and a re-run")
    p.add_argument("--workload", help="reference, large or all (default: all; reference with --smoke)")
    p.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    p.add_argument("--tool-runs", default="",
                   help="run limits per tool or tool@workload, 0 skips: e.g. ansible=1,ansible@large=0")
    p.add_argument("--ansible-max-hosts", type=int, default=50, help="skip ansible above this host count")
    p.add_argument("--pyinfra-max-hosts", type=int, default=1000, help="skip pyinfra above this host count")
    p.add_argument("--forks", type=int, default=200, help="tend -f (ansible.cfg has forks = 200)")
    p.add_argument("--timeout", type=int, default=3600, help="seconds before a run is killed and failed")
    p.add_argument("--out", help="output folder (default benches/results/<date>)")
    p.add_argument("--tend", help="tend binary (default target/release/tend)")
    p.add_argument("--tend-lab", help="tend-lab binary (default beside --tend)")
    p.add_argument("--venv", default=str(REPO / "target" / "bench-venv"), help="venv with ansible-core and pyinfra")
    p.add_argument("--smoke", action="store_true", help="1 host, 1 run, tend+floor, reference workload: a quick self-check")
    a = p.parse_args(argv)
    if a.smoke:
        a.hosts, a.runs, a.tools = "1", 1, "tend,floor"
    a.hosts = [int(h) for h in a.hosts.split(",")]
    a.tools = [t for t in TOOLS if t in a.tools.split(",")]
    a.workload = a.workload or ("reference" if a.smoke else "all")
    a.workloads = list(WORKLOAD_PATHS) if a.workload == "all" else a.workload.split(",")
    for w in a.workloads:
        if w not in WORKLOAD_PATHS:
            p.error(f"unknown workload {w}")
    a.tool_runs = {k: int(v) for k, v in (kv.split("=") for kv in a.tool_runs.split(",") if kv)}
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    a.tend = Path(a.tend or target / "release" / "tend").resolve()
    a.tend_lab = Path(a.tend_lab or a.tend.parent / "tend-lab").resolve()
    # Absolute: the tools run in other working directories.
    a.out = Path(a.out or BENCHES / "results" / datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")).resolve()
    return a


class Lab:
    """A running `tend-lab up N`; stop() sends SIGTERM and waits for the teardown."""

    def __init__(self, binary, n):
        self.dir = Path(tempfile.mkdtemp(prefix="tend-bench-lab-"))
        self.proc = subprocess.Popen([str(binary), "up", str(n), "--dir", str(self.dir)],
                                     stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.hosts = []  # (name, address)
        for line in self.proc.stdout:
            if line.startswith("lab up:"):
                break
            m = re.match(r"^(\S+) ([\d.]+):22$", line.strip())
            if m:
                self.hosts.append((m.group(1), m.group(2)))
        else:
            self.stop()
            raise RuntimeError(f"tend-lab up {n} failed (exit {self.proc.returncode})")
        self.inventory = self.dir / "inventory.ini"
        self.known_hosts = self.dir / "known_hosts"
        self.key = self.dir / "id_ed25519"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def ssh_all(self, script):
        """Run `script` on every host at once; returns {name: stdout}; raises on a failure."""
        def one(host):
            name, addr = host
            r = subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                                "-i", str(self.key), f"root@{addr}", script],
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                raise RuntimeError(f"ssh {name}: exit {r.returncode}: {r.stderr.strip()}")
            return name, r.stdout
        with ThreadPoolExecutor(max_workers=min(32, len(self.hosts))) as pool:
            return dict(pool.map(one, self.hosts))


def state_listing(lab, workload):
    """Per host: the workload's paths as `path type mode link-target` lines plus md5 sums."""
    paths = " ".join(WORKLOAD_PATHS[workload])
    return lab.ssh_all(f"find {paths} -printf '%p %y %m %l\\n' 2>/dev/null | sort;"
                       f" find {paths} -type f -exec md5sum {{}} + 2>/dev/null | sort")


def state_diff(expected, got):
    """None when every host's listing equals the floor's, else a one-line description."""
    bad = [h for h in expected if expected[h] != got.get(h)]
    if not bad:
        return None
    h = bad[0]
    e, g = set(expected[h].splitlines()), set(got.get(h, "").splitlines())
    return f"{len(bad)} host(s) differ from the floor, e.g. {h}: missing {sorted(e - g)[:2]}, extra {sorted(g - e)[:2]}"


class ConnSampler(threading.Thread):
    """Samples the established TCP connections the child of `parent` (the tool GNU time runs)
    holds to each lab address:22."""

    def __init__(self, parent, addrs):
        super().__init__(daemon=True)
        self.parent, self.pid, self.addrs, self.peak = parent, None, set(addrs), {}
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.05):
            try:
                counts = self.sample()
            except OSError:
                continue
            for a, c in counts.items():
                self.peak[a] = max(self.peak.get(a, 0), c)

    def sample(self):
        if self.pid is None:
            children = Path(f"/proc/{self.parent}/task/{self.parent}/children").read_text().split()
            if not children:
                return {}
            self.pid = int(children[0])
        inodes = set()
        fd_dir = f"/proc/{self.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        counts = {}
        with open(f"/proc/{self.pid}/net/tcp") as f:
            next(f)
            for line in f:
                cols = line.split()
                remote, state, inode = cols[2], cols[3], cols[9]
                if state != "01" or inode not in inodes:  # 01: ESTABLISHED
                    continue
                ip_hex, port_hex = remote.split(":")
                if int(port_hex, 16) != 22:
                    continue
                addr = ".".join(str(b) for b in reversed(bytes.fromhex(ip_hex)))
                if addr in self.addrs:
                    counts[addr] = counts.get(addr, 0) + 1
        return counts


def measure(cmd, cwd, env, log, timeout, conn_addrs=None, samplers=()):
    """Run `cmd` once: wall seconds, user+sys CPU and peak RSS of its process tree, exit code.

    The command runs under GNU time, which only reports the peak RSS: a child inherits the
    peak RSS of the process it was forked from, so forking the tool from this Python would
    put Python's ~20 MiB under every tool; time's own few MiB are the floor instead.

    `samplers`: more watchers, each made from the pid of GNU time (whose child is the tool): a
    thread with a `done` event and a `result()` dict merged into the sample."""
    rss_file = f"{log}.rss"
    with open(log, "w") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(["/usr/bin/time", "-q", "-f", "%M", "-o", rss_file, *cmd], cwd=cwd, env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        sampler = None
        if conn_addrs:
            sampler = ConnSampler(proc.pid, conn_addrs)
            sampler.start()
        watchers = [make(proc.pid) for make in samplers]
        for w in watchers:
            w.start()
        killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        killer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C or SIGTERM: end the tool before the lab goes
            os.killpg(proc.pid, signal.SIGKILL)
            os.waitpid(proc.pid, 0)
            raise
        finally:
            killer.cancel()
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    if sampler:
        sampler.done.set()
        sampler.join()
    for w in watchers:
        w.done.set()
        w.join()
    rss = Path(rss_file).read_text().split()
    Path(rss_file).unlink()
    sample = {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_kb": int(rss[-1]) if rss else 0,
              "exit": proc.returncode, "log": str(log)}
    if sampler:
        sample["conns_per_host_max"] = max(sampler.peak.values(), default=0)
    for w in watchers:
        sample.update(w.result())
    return sample


def counts(tool, log):
    """Recap totals (ok/changed/failed summed over hosts) from a run's output, when it has one."""
    text = Path(log).read_text(errors="replace")
    if tool in ("tend", "ansible"):
        rows = RECAP.findall(text)
        if rows:
            return {"ok": sum(int(r[1]) for r in rows), "changed": sum(int(r[2]) for r in rows),
                    "unreachable": sum(int(r[3]) for r in rows), "failed": sum(int(r[4]) for r in rows)}
    if tool == "pyinfra":
        m = PYINFRA_TOTAL.search(text)
        if m:
            ops, changed, failed, unchanged = (0 if v == "-" else int(v) for v in m.groups())
            return {"ops": ops, "changed": changed, "failed": failed, "unchanged": unchanged}
    return {}


class Bench:
    def __init__(self, args):
        self.a = args
        self.logs = args.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.venv_bin = Path(args.venv) / "bin"
        self.results = {"meta": {}, "cells": []}

    def command(self, tool, workload, lab):
        wl = WORKLOADS_DIR / workload
        env = dict(os.environ, LAB_DIR=str(lab.dir))
        if tool == "tend":
            cmd = [str(self.a.tend), "run", "playbook.yml", "-i", str(lab.inventory),
                   "--known-hosts", str(lab.known_hosts), "-f", str(self.a.forks)]
        elif tool == "ansible":
            env["ANSIBLE_CONFIG"] = str(BENCHES / "ansible.cfg")
            cmd = [str(self.venv_bin / "ansible-playbook"), "playbook.yml", "-i", str(lab.inventory)]
        elif tool == "pyinfra":
            cmd = [str(self.venv_bin / "pyinfra"), "-y", str(BENCHES / "pyinfra_inv.py"), "pyinfra_deploy.py"]
        else:
            cmd = ["sh", str(BENCHES / "floor_all.sh"), str(wl), str(lab.dir)]
        return cmd, wl, env

    def run_tool(self, tool, workload, lab, label):
        cmd, cwd, env = self.command(tool, workload, lab)
        log = self.logs / f"{label}.log"
        addrs = [a for _, a in lab.hosts] if tool == "tend" else None
        s = measure(cmd, cwd, env, log, self.a.timeout, addrs)
        s["counts"] = counts(tool, log)
        return s

    def cell(self, workload, lab, n):
        """All tools on one workload and host count: {tool: {first: [...], rerun: [...]}}, saved
        after every run so an interrupted sweep keeps what it measured."""
        paths = " ".join(WORKLOAD_PATHS[workload])
        cell = {"workload": workload, "hosts": n, "tools": {}, "notes": []}
        self.results["cells"].append(cell)
        # The floor's final state is what every tool must reach.
        lab.ssh_all(f"rm -rf {paths}")
        ref = self.run_tool("floor", workload, lab, f"{workload}-{n}-floor-reference")
        if ref["exit"] != 0:
            raise RuntimeError(f"the floor failed on {workload} ({ref['log']})")
        expected = state_listing(lab, workload)
        for tool in self.a.tools:
            limit = {"ansible": self.a.ansible_max_hosts, "pyinfra": self.a.pyinfra_max_hosts}.get(tool)
            if limit is not None and n > limit:
                cell["notes"].append(f"{tool} skipped at {n} hosts (--{tool}-max-hosts {limit})")
                continue
            limits = self.a.tool_runs
            runs = min(self.a.runs, limits.get(f"{tool}@{workload}", limits.get(tool, self.a.runs)))
            if runs == 0:
                cell["notes"].append(f"{tool} skipped (--tool-runs)")
                continue
            if runs < self.a.runs:
                cell["notes"].append(f"{tool}: {runs} run(s) instead of {self.a.runs} (--tool-runs)")
            t = cell["tools"][tool] = {"first": [], "rerun": []}
            for r in range(runs):
                lab.ssh_all(f"rm -rf {paths}")
                for phase in ("first", "rerun"):
                    label = f"{workload}-{n}-{tool}-{phase}-{r + 1}"
                    s = self.run_tool(tool, workload, lab, label)
                    s["state"] = state_diff(expected, state_listing(lab, workload))
                    t[phase].append(s)
                    self.save()
                    print(f"  {label}: {s['wall']:.2f}s exit {s['exit']} cpu {s['cpu']:.2f}s"
                          f" rss {s['rss_kb'] // 1024}MiB {s['counts']}"
                          + (f" STATE: {s['state']}" if s["state"] else ""), flush=True)
        if "tend" in cell["tools"]:
            base = measure([str(self.a.tend), "run", "playbook.yml", "-i", str(lab.inventory), "--list-hosts"],
                           WORKLOADS_DIR / workload, None, self.logs / f"{workload}-{n}-tend-base.log", 600)
            cell["tend_base_rss_kb"] = base["rss_kb"]

    def run(self):
        self.results["meta"] = machine_facts(self.a, self.venv_bin)
        for n in self.a.hosts:
            print(f"lab: {n} host(s)", flush=True)
            lab = Lab(self.a.tend_lab, n)
            try:
                for w in self.a.workloads:
                    self.cell(w, lab, n)
            finally:
                lab.stop()
        self.save()

    def save(self):
        (self.a.out / "results.json").write_text(json.dumps(self.results, indent=1))


def version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unavailable"


def machine_facts(a, venv_bin):
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem = next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(int(mem) / 2**20, 1),
        "kernel": platform.release(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
        "versions": {
            "tend": version([str(a.tend), "--version"]),
            "ansible": version([str(venv_bin / "ansible-playbook"), "--version"]),
            "pyinfra": version([str(venv_bin / "pyinfra"), "--version"]),
            "ssh": version(["ssh", "-V"]),
            "commit": version(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
        },
    }


# ---- report ----------------------------------------------------------------------------

def ok_samples(samples):
    """Runs that count: exit 0 (a failed run is reported, never timed)."""
    return [s for s in samples if s["exit"] == 0]


def med(samples, key="wall"):
    vals = [s[key] for s in ok_samples(samples)]
    return statistics.median(vals) if vals else None


def fmt_time(samples):
    good = ok_samples(samples)
    if not samples:
        return "—"
    if not good:
        return f"FAILED ({len(samples)}/{len(samples)})"
    vals = [s["wall"] for s in good]
    failed = len(samples) - len(good)
    return (f"{statistics.median(vals):.2f} s ({min(vals):.2f}–{max(vals):.2f})"
            + (f", {failed} FAILED" if failed else ""))


def ratio(num, den):
    return f"{num / den:.1f}×" if num and den else "—"


def changed_summary(samples):
    vals = sorted({s["counts"].get("changed") for s in samples if s["counts"].get("changed") is not None})
    return "/".join(str(v) for v in vals) if vals else "—"


def cell_table(cell):
    n = cell["hosts"]
    lines = [f"### {cell['workload']}, {n} host(s)", "",
             "| tool | runs | first run | re-run | CPU first / re-run | peak RSS | changed first / re-run | state | time spent |",
             "|---|---|---|---|---|---|---|---|---|"]
    for tool, t in cell["tools"].items():
        cpu = " / ".join(f"{med(t[p], 'cpu'):.2f} s" if med(t[p], "cpu") is not None else "—" for p in ("first", "rerun"))
        rss = max((s["rss_kb"] for s in ok_samples(t["first"] + t["rerun"])), default=0)
        bad = [s["state"] for s in t["first"] + t["rerun"] if s["state"]]
        state = "same as floor" if not bad else f"NOT CONVERGED ({len(bad)} runs): {bad[0]}"
        spent = sum(s["wall"] for s in t["first"] + t["rerun"])
        lines.append(f"| {tool} | {len(t['first'])} | {fmt_time(t['first'])} | {fmt_time(t['rerun'])} | {cpu} |"
                     f" {rss / 1024:.0f} MiB | {changed_summary(t['first'])} / {changed_summary(t['rerun'])} | {state} |"
                     f" {spent:.0f} s |")
    lines.append("")
    m = {tool: {p: med(t[p]) for p in ("first", "rerun")} for tool, t in cell["tools"].items()}
    get = lambda tool, p: m.get(tool, {}).get(p)  # noqa: E731
    lines.append("| ratio (medians) | first run | re-run |")
    lines.append("|---|---|---|")
    for label, a, b in (("tend / floor", "tend", "floor"), ("ansible / tend", "ansible", "tend"),
                        ("pyinfra / tend", "pyinfra", "tend")):
        lines.append(f"| {label} | {ratio(get(a, 'first'), get(b, 'first'))} | {ratio(get(a, 'rerun'), get(b, 'rerun'))} |")
    lines.append("")
    if "tend" in cell["tools"]:
        t = cell["tools"]["tend"]
        conns = max((s.get("conns_per_host_max", 0) for s in t["first"] + t["rerun"]), default=0)
        peak = max((s["rss_kb"] for s in ok_samples(t["first"])), default=0)
        base = cell.get("tend_base_rss_kb", 0)
        lines.append(f"tend: at most {conns} SSH connection(s) per host; peak RSS {peak / 1024:.1f} MiB,"
                     f" {base / 1024:.1f} MiB without hosts (`--list-hosts`),"
                     f" so {(peak - base) / n / 1024:.2f} MiB per host above base.")
        rerun = med(t["rerun"])
        if cell["workload"] in TASK_COUNTS and rerun:
            per_task = rerun / TASK_COUNTS[cell["workload"]] * 1000
            lines.append(f"tend per task (re-run median / {TASK_COUNTS[cell['workload']]} tasks, connection"
                         f" included): {per_task:.2f} ms.")
        lines.append("")
    for note in cell["notes"]:
        lines.append(f"- {note}")
    if cell["notes"]:
        lines.append("")
    return lines


def write_report(results, out):
    meta = results["meta"]
    v = meta["versions"]
    lines = ["# tend benchmark", "",
             f"{meta['date']}: {meta['cores']} cores ({meta['cpu']}), {meta['memory_gib']} GiB, Linux {meta['kernel']}.",
             f"`{v['tend']}` (commit {v['commit']}), `{v['ansible']}`, `{v['pyinfra']}`, `{v['ssh']}`.",
             f"Runs per tool: {meta['args']['runs']} (first run from absent files + idempotent re-run each);"
             f" times are wall-clock medians (min–max); CPU is user+sys of the tool's process tree (median);"
             f" peak RSS is the largest process of the tree. All figures come from this invocation.", ""]
    for cell in results["cells"]:
        lines += cell_table(cell)
    (out / "report.md").write_text("\n".join(lines))


def write_chart(results, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    except ImportError:
        print("matplotlib missing: no chart.png", file=sys.stderr)
        return
    workloads = sorted({c["workload"] for c in results["cells"]}, key=list(WORKLOAD_PATHS).index)
    fig, axes = plt.subplots(len(workloads), 2, figsize=(11, 4 * len(workloads)), squeeze=False)
    for row, w in enumerate(workloads):
        cells = sorted((c for c in results["cells"] if c["workload"] == w), key=lambda c: c["hosts"])
        for col, phase in enumerate(("first", "rerun")):
            ax = axes[row][col]
            for tool in TOOLS:
                pts = [(c["hosts"], med(c["tools"][tool][phase])) for c in cells if tool in c["tools"]]
                pts = [(x, y) for x, y in pts if y]
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=tool, color=COLORS[tool])
            plain = FuncFormatter(lambda v, _: f"{v:g}")
            ax.set_xscale("log")
            ax.set_xticks([c["hosts"] for c in cells])
            ax.xaxis.set_major_formatter(plain)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("hosts")
            ax.set_ylabel("wall time, s (median)")
            ax.set_title(f"{w}: {'first run' if phase == 'first' else 'idempotent re-run'}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
    fig.tight_layout()
    fig.savefig(out / "chart.png", dpi=100)


def main(argv):
    a = parse_args(argv)
    for b in (a.tend, a.tend_lab):
        if not b.is_file():
            sys.exit(f"{b} not found: build with cargo build --release -p tend -p tend-lab, or pass --tend")
    # SIGTERM ends the run like Ctrl-C, so the lab is torn down by the finally in Bench.run.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    bench = Bench(a)
    print(f"results in {a.out}", flush=True)
    try:
        bench.run()
    finally:
        write_report(bench.results, a.out)
        write_chart(bench.results, a.out)
    print((a.out / "report.md").read_text())
    failed = [c for c in bench.results["cells"] for t in c["tools"].values()
              for s in t["first"] + t["rerun"] if s["exit"] != 0 or s["state"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
