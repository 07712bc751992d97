//! Lab tests against real sshd hosts: isolation, teardown, address refusal, users, the binary.
//! They need root and openssh-server (`apt-get install -y openssh-server sudo`).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tend_lab::{processes_in_namespace, Lab, LabError};

/// A /24 of its own for a test that needs fixed addresses, different per process (by pid),
/// so two test runs on one machine do not trip over each other's fixed choices.
fn own_net(third: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 100 + (std::process::id() % 100) as u8, third, 0)
}

/// Pin a host's mount namespace: while this is open the kernel cannot hand its inode number
/// to a new namespace, so "no process has this inode" really means "none is left in it".
fn pin_namespace(pid: u32) -> File {
    File::open(format!("/proc/{pid}/ns/mnt")).expect("open ns")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn three_hosts_are_isolated_and_teardown_is_complete() {
    // A network of its own, so no concurrently running test can grab the freed addresses
    // before this one checks they are free again.
    let lab = Lab::builder()
        .hosts(3)
        .network(own_net(1), 24)
        .start()
        .expect("lab starts");
    let names: Vec<String> = (0..3)
        .map(|i| stdout(&lab.ssh(i, "hostname").expect("ssh")))
        .collect();
    assert_eq!(names, ["h1", "h2", "h3"]);
    let addrs: HashSet<Ipv4Addr> = lab.hosts().iter().map(|h| h.address).collect();
    assert_eq!(addrs.len(), 3);

    let probe = format!("/root/tend-lab-probe-{}", std::process::id());
    let out = lab
        .ssh(0, &format!("printf hello > {probe} && chmod 640 {probe}"))
        .expect("ssh");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        lab.read_file(0, &probe).expect("read"),
        Some(b"hello".to_vec())
    );
    assert_eq!(lab.file_mode(0, &probe).expect("stat"), Some(0o640));
    assert_eq!(lab.read_file(1, &probe).expect("read"), None);
    assert_eq!(lab.file_mode(2, &probe).expect("stat"), None);
    assert!(!Path::new(&probe).exists(), "leaked onto the real machine");
    // /tmp keeps its sticky, world-writable mode inside hosts, or become_user breaks.
    assert_eq!(lab.file_mode(1, "/tmp").expect("stat"), Some(0o1777));
    assert_eq!(lab.file_mode(1, "/root").expect("stat"), Some(0o700));
    let hostname = lab.read_file(2, "/etc/hostname").expect("read");
    assert_eq!(hostname.as_deref(), Some(&b"h3\n"[..]));

    // Sessions outlive sshd's view of them: a detached process must die with the lab too.
    let out = lab
        .ssh(0, "setsid sleep 600 </dev/null >/dev/null 2>&1 &")
        .expect("ssh");
    assert!(out.status.success(), "{out:?}");
    let ns: Vec<u64> = lab.hosts().iter().map(|h| h.mount_ns()).collect();
    let _pins: Vec<File> = lab.hosts().iter().map(|h| pin_namespace(h.pid())).collect();
    assert!(processes_in_namespace(ns[0]).len() >= 2);
    let dir = lab.dir().to_path_buf();
    let host_addrs: Vec<Ipv4Addr> = lab.hosts().iter().map(|h| h.address).collect();

    lab.stop().expect("teardown");
    for n in ns {
        assert_eq!(processes_in_namespace(n), Vec::<u32>::new());
    }
    assert!(!dir.exists(), "lab dir left behind");
    for a in &host_addrs {
        assert!(TcpListener::bind((*a, 22)).is_ok(), "{a}:22 still taken");
    }
    let again = Lab::builder()
        .addresses(host_addrs.clone())
        .start()
        .expect("addresses were released");
    assert_eq!(again.hosts()[0].address, host_addrs[0]);
}

#[test]
fn refuses_an_address_something_listens_on() {
    let net = own_net(2);
    let addr = Ipv4Addr::from(u32::from(net) + 2);
    let _squatter = TcpListener::bind((addr, 22)).expect("bind squatter");
    let err = Lab::builder()
        .addresses([addr])
        .start()
        .expect_err("must refuse");
    assert!(
        matches!(err, LabError::AddressTaken { addr: a, port: 22, .. } if a == addr),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains(&format!("{addr}:22 is already taken")));

    // Allocation, by contrast, just moves past it.
    let lab = Lab::builder()
        .network(net, 28)
        .hosts(4)
        .start()
        .expect("allocation skips the taken address");
    assert!(lab.hosts().iter().all(|h| h.address != addr));
}

#[test]
fn refuses_an_address_another_lab_holds() {
    let first = Lab::start(1).expect("lab");
    let taken = first.hosts()[0].address;
    let err = Lab::builder()
        .addresses([taken])
        .start()
        .expect_err("must refuse");
    assert!(
        matches!(err, LabError::AddressTaken { .. }),
        "unexpected: {err}"
    );
    assert!(first.ssh(0, "true").expect("ssh").status.success());
}

#[test]
fn concurrent_labs_get_distinct_addresses() {
    let labs: Vec<Lab> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| Lab::start(2))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("lab"))
            .collect()
    });
    let all: Vec<Ipv4Addr> = labs
        .iter()
        .flat_map(|l| l.hosts().iter().map(|h| h.address))
        .collect();
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "{all:?}");
    let dirs: HashSet<_> = labs.iter().map(|l| l.dir().to_path_buf()).collect();
    assert_eq!(dirs.len(), 3);
}

#[test]
fn four_hosts_start_quickly() {
    let t = Instant::now();
    let lab = Lab::start(4).expect("lab");
    let took = t.elapsed();
    eprintln!("4-host lab up in {took:?}");
    // Generous: other tests start labs on the same two cores at the same time.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(lab.hosts().len(), 4);
}

#[test]
fn kill_host_ends_every_process_of_that_host_only() {
    let lab = Lab::start(2).expect("lab");
    let out = lab
        .ssh(0, "setsid sleep 600 </dev/null >/dev/null 2>&1 &")
        .expect("ssh");
    assert!(out.status.success());
    let ns = lab.hosts()[0].mount_ns();
    assert!(processes_in_namespace(ns).len() >= 2);
    lab.kill_host(0).expect("kill");
    assert!(processes_in_namespace(ns).is_empty());
    assert!(!lab.is_up(0));
    assert!(lab.is_up(1));
    assert!(!lab.ssh(0, "true").expect("ssh runs").status.success());
    assert!(matches!(
        lab.read_file(0, "/etc/hostname"),
        Err(LabError::HostDown { .. })
    ));
    assert_eq!(stdout(&lab.ssh(1, "hostname").expect("ssh")), "h2");
}

#[test]
fn added_users_log_in_and_sudo_when_allowed() {
    let lab = Lab::builder()
        .hosts(1)
        .name_prefix("web")
        .start()
        .expect("lab");
    lab.add_user(0, "deploy", true).expect("add deploy");
    lab.add_user(0, "plain", false).expect("add plain");
    let out = lab
        .ssh_as(0, "deploy", "id -un; sudo -n id -u")
        .expect("ssh");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "deploy\n0");
    assert!(out.stderr.is_empty(), "noise: {out:?}");
    let out = lab.ssh_as(0, "plain", "id -un").expect("ssh");
    assert_eq!(stdout(&out), "plain");
    assert!(!lab
        .ssh_as(0, "plain", "sudo -n true")
        .expect("ssh")
        .status
        .success());
    // Users exist only on the host.
    let passwd = std::fs::read_to_string("/etc/passwd").expect("passwd");
    assert!(!passwd.contains("\ndeploy:"));
    assert!(matches!(
        lab.add_user(0, "bad name", false),
        Err(LabError::InvalidUser { .. })
    ));
}

#[test]
fn inventories_and_config_describe_the_hosts() {
    let lab = Lab::builder()
        .hosts(2)
        .max_sessions(3)
        .start()
        .expect("lab");
    let key = lab.key_file().display().to_string();
    let ini = std::fs::read_to_string(lab.inventory_ini()).expect("ini");
    let yaml = std::fs::read_to_string(lab.inventory_yaml()).expect("yaml");
    let known = std::fs::read_to_string(lab.known_hosts()).expect("known_hosts");
    for h in lab.hosts() {
        assert!(ini.contains(&format!(
            "{} ansible_host={} ansible_user=root ansible_ssh_private_key_file={key}\n",
            h.name, h.address
        )));
        assert!(yaml.contains(&format!(
            "    {}:\n      ansible_host: {}\n      ansible_user: root\n      ansible_ssh_private_key_file: {key}\n",
            h.name, h.address
        )));
        assert!(known.contains(&format!("{} ssh-ed25519 ", h.address)));
    }
    let cfg = std::fs::read_to_string(lab.dir().join("h1/sshd_config")).expect("cfg");
    assert!(cfg.contains("\nMaxSessions 3\n"), "{cfg}");
    let default_lab = Lab::start(1).expect("lab");
    let cfg = std::fs::read_to_string(default_lab.dir().join("h1/sshd_config")).expect("cfg");
    assert!(cfg.contains("\nMaxSessions 10\n"), "{cfg}");
    let out = Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .args(["h2", "hostname"])
        .output()
        .expect("ssh");
    assert_eq!(stdout(&out), "h2");
}

#[test]
fn binary_runs_a_lab_until_sigterm() {
    let dir = std::env::temp_dir().join(format!("tend-lab-bin-{}", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_tend-lab"))
        .args(["up", "2", "--dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tend-lab");
    // If an assert fails, SIGTERM still reaches the binary, or its lab would outlive the test.
    let mut child = Terminate(child);
    let mut lines = BufReader::new(child.0.stdout.take().expect("stdout")).lines();
    let mut addrs = Vec::new();
    let mut inventory = None;
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(rest) = line.strip_prefix("inventory ") {
            inventory = Some(rest.to_string());
        } else if line.starts_with("lab up") {
            break;
        } else if let Some((_, addr)) = line.strip_prefix('h').and_then(|l| l.split_once(' ')) {
            addrs.push(addr.to_string());
        }
    }
    let inventory = inventory.expect("binary printed its inventory");
    assert!(Path::new(&inventory).starts_with(&dir));
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    // A lab in this process never lands on the other process's addresses.
    let mine = Lab::start(2).expect("lab");
    for h in mine.hosts() {
        assert!(!addrs.contains(&format!("{}:22", h.address)));
    }
    child.terminate();
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{status}");
    assert!(!dir.exists());
}

struct Terminate(std::process::Child);

impl Terminate {
    fn terminate(&self) {
        // SAFETY: kill(2) on our own unreaped child, so the pid cannot belong to anyone else.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
    }
}

impl Drop for Terminate {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.terminate();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_killed_host_restarts_with_its_files_and_connections_can_be_cut() {
    let mut lab = Lab::start(2).expect("lab");
    let out = lab
        .ssh(0, "mkdir -p /srv/keep && printf kept > /srv/keep/f")
        .expect("ssh");
    assert!(out.status.success(), "{out:?}");
    let old_pid = lab.hosts()[0].pid();
    lab.kill_host(0).expect("kill");
    assert!(!lab.is_up(0));
    lab.restart_host(0).expect("restart");
    assert!(lab.is_up(0));
    assert_ne!(lab.hosts()[0].pid(), old_pid);
    assert_eq!(stdout(&lab.ssh(0, "hostname").expect("ssh")), "h1");
    assert_eq!(
        lab.read_file(0, "/srv/keep/f").expect("read"),
        Some(b"kept".to_vec())
    );
    assert_eq!(
        lab.list_dir(0, "/srv/keep").expect("ls"),
        Some(vec!["f".to_string()])
    );
    assert_eq!(lab.list_dir(0, "/srv/none").expect("ls"), None);
    assert!(lab.restart_host(1).is_err(), "a running host restarted");

    // A login that stays open: its sshd processes go, its command and the listener stay.
    let mut held = lab
        .ssh_command(1, "root")
        .expect("ssh")
        .arg("setsid sleep 600 </dev/null >/dev/null 2>&1 & exec sleep 600")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn ssh");
    let started = Instant::now();
    while lab
        .processes(1)
        .expect("ps")
        .iter()
        .filter(|(_, cmd)| cmd == "sleep 600")
        .count()
        < 2
    {
        assert!(started.elapsed() < Duration::from_secs(10), "no sleep");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(lab.drop_connections(1).expect("drop") >= 1);
    let status = held.wait().expect("ssh ends");
    assert!(!status.success());
    assert!(lab.is_up(1));
    let procs = lab.processes(1).expect("ps");
    assert!(procs.iter().any(|(_, cmd)| cmd == "sleep 600"), "{procs:?}");
    assert_eq!(stdout(&lab.ssh(1, "hostname").expect("ssh")), "h2");
    let ran = lab.in_host(1, "hostname", &[]).expect("nsenter");
    assert_eq!(stdout(&ran), "h2");
}
