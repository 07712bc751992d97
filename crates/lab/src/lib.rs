//! tend-lab: N isolated, real OpenSSH hosts on this machine's loopback addresses, for
//! integration tests and benchmarks.
//!
//! Each host is the system `/usr/sbin/sshd` listening on its own `127.x.y.z:22`, started in a
//! private mount and UTS namespace (`setsid unshare -m -u`) with overlayfs over
//! `/etc /var /usr /opt /srv /home /root /tmp`, a private tmpfs `/run` and its own hostname.
//! Writes on one host are invisible to the others and to the real machine.
//!
//! ```no_run
//! let lab = tend_lab::Lab::builder().hosts(3).start()?;
//! let out = lab.ssh(0, "hostname")?; // index 0 is host "h1"
//! assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "h1");
//! println!("inventory: {}", lab.inventory_ini().display());
//! lab.stop()?; // or just drop it
//! # Ok::<(), tend_lab::LabError>(())
//! ```
//!
//! Needs root, `openssh-server`, `openssh-client` and util-linux's `unshare`/`setsid`.
//! Host indices in every method are 0-based positions in [`Lab::hosts`].
//!
//! Addresses come from 127.80.0.0/16 (or `TEND_LAB_NET`, e.g. `127.81`), each guarded by a
//! flock in `/tmp/tend-lab-addrs/` so concurrent labs in any process never share one, and
//! probed with a bind so addresses something else listens on are skipped. A lab whose process
//! died without teardown is reaped by the next lab started from the same temp dir.

mod addr;
mod error;
mod host;
mod reap;

use std::fmt::Write as _;
use std::fs::{self, Metadata};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use addr::{parse_network, DEFAULT_NETWORK};
pub use error::LabError;
pub use host::processes_in_namespace;

use addr::Lease;
use error::IoContext;
use host::{HostProc, HostSpec};

const SSHD: &str = "/usr/sbin/sshd";
const SUDO: &str = "/usr/bin/sudo";
/// Environment variable overriding the network addresses are allocated from, e.g. `127.81`.
pub const NET_ENV: &str = "TEND_LAB_NET";
/// How long a host may take from spawn to accepting TCP.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

static LAB_SEQ: AtomicU64 = AtomicU64::new(0);

/// One running host of a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabHost {
    /// Inventory name and hostname inside the host, e.g. `h1`.
    pub name: String,
    pub address: Ipv4Addr,
    pub port: u16,
    pid: u32,
    mount_ns: u64,
}

impl LabHost {
    /// Pid of the host's sshd, the first process of its namespace.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Inode of the host's mount namespace (`/proc/<pid>/ns/mnt`); with
    /// [`processes_in_namespace`] it tells which processes belong to the host.
    pub fn mount_ns(&self) -> u64 {
        self.mount_ns
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::from((self.address, self.port))
    }
}

/// Options for [`Lab`]; start with [`Lab::builder`].
#[derive(Debug, Clone)]
pub struct LabBuilder {
    hosts: Option<usize>,
    name_prefix: String,
    network: Option<(Ipv4Addr, u8)>,
    addresses: Option<Vec<Ipv4Addr>>,
    port: u16,
    max_sessions: u32,
    dir: Option<PathBuf>,
}

impl Default for LabBuilder {
    fn default() -> Self {
        LabBuilder {
            hosts: None,
            name_prefix: "h".to_string(),
            network: None,
            addresses: None,
            port: 22,
            // OpenSSH's own default, so tests meet the limit real hosts have.
            max_sessions: 10,
            dir: None,
        }
    }
}

impl LabBuilder {
    /// Number of hosts (default 1, or the number of [`addresses`](Self::addresses)).
    pub fn hosts(mut self, n: usize) -> Self {
        self.hosts = Some(n);
        self
    }

    /// Host names are `<prefix>1`, `<prefix>2`, ... (default prefix `h`).
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = prefix.into();
        self
    }

    /// Network to allocate free addresses from (must lie in 127.0.0.0/8). Without it the
    /// `TEND_LAB_NET` environment variable (e.g. `127.81`) is used, else 127.80.0.0/16.
    pub fn network(mut self, network: Ipv4Addr, prefix_len: u8) -> Self {
        self.network = Some((network, prefix_len));
        self
    }

    /// Use exactly these addresses, one per host, in order; starting fails if any is taken.
    pub fn addresses(mut self, addrs: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        self.addresses = Some(addrs.into_iter().collect());
        self
    }

    /// Port every sshd listens on (default 22).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// sshd `MaxSessions`: channels per connection (default 10, as in OpenSSH).
    pub fn max_sessions(mut self, n: u32) -> Self {
        self.max_sessions = n;
        self
    }

    /// Lab directory to use instead of a fresh `tend-lab-<pid>-<seq>` in the temp dir. It
    /// must be missing or empty; teardown empties it (and removes it if the lab created it).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    pub fn start(self) -> Result<Lab, LabError> {
        Lab::start_with(self)
    }
}

/// A running set of lab hosts. Dropping it (or [`Lab::stop`]) ends every process of every
/// host, frees the addresses and removes the lab directory.
#[derive(Debug)]
pub struct Lab {
    dir: PathBuf,
    created_dir: bool,
    key: PathBuf,
    public_key: String,
    known_hosts: PathBuf,
    inventory_ini: PathBuf,
    inventory_yaml: PathBuf,
    ssh_config: PathBuf,
    hosts: Vec<LabHost>,
    procs: Vec<Mutex<HostProc>>,
    leases: Vec<Lease>,
    torn_down: bool,
}

fn find_in_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path).any(|d| d.join(tool).is_file())
}

fn check_prerequisites() -> Result<(), LabError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid != 0 {
        return Err(LabError::NotRoot { uid });
    }
    if !Path::new(SSHD).is_file() {
        return Err(LabError::MissingSshd { path: SSHD.into() });
    }
    let tools = [
        ("ssh", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
        ("unshare", "util-linux"),
        ("setsid", "util-linux"),
        ("bash", "bash"),
    ];
    for (tool, package) in tools {
        if !find_in_path(tool) {
            return Err(LabError::MissingTool { tool, package });
        }
    }
    Ok(())
}

fn check_dir(path: &Path) -> Result<(), LabError> {
    let bad = |reason: &str| LabError::BadDir {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let Some(text) = path.to_str() else {
        return Err(bad("not UTF-8"));
    };
    if !path.is_absolute() {
        return Err(bad("not absolute"));
    }
    // Overlay mount options, sshd_config and INI inventories cannot carry these.
    if text
        .chars()
        .any(|c| c.is_whitespace() || ",:'\"\\#=$`;".contains(c))
    {
        return Err(bad(
            "contains whitespace or one of , : ' \" \\ # = $ ` ; (set TMPDIR elsewhere)",
        ));
    }
    for hidden in ["/run", "/proc", "/sys", "/dev"] {
        if path.starts_with(hidden) {
            return Err(bad("lies where hosts mount their own filesystems"));
        }
    }
    Ok(())
}

/// Create the lab directory; returns it and whether we created it (vs. reused an empty one).
fn make_dir(wanted: Option<&Path>) -> Result<(PathBuf, bool), LabError> {
    if let Some(dir) = wanted {
        let dir = std::path::absolute(dir).ctx(|| format!("resolving {}", dir.display()))?;
        check_dir(&dir)?;
        if dir.exists() {
            let mut entries = fs::read_dir(&dir).ctx(|| format!("reading {}", dir.display()))?;
            if entries.next().is_some() {
                return Err(LabError::BadDir {
                    path: dir,
                    reason: "not empty".into(),
                });
            }
            return Ok((dir, false));
        }
        fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        return Ok((dir, true));
    }
    let tmp = std::path::absolute(std::env::temp_dir()).ctx(|| "resolving temp dir".into())?;
    reap::reap_stale_labs(&tmp);
    loop {
        let seq = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = tmp.join(format!("tend-lab-{}-{seq}", std::process::id()));
        check_dir(&dir)?;
        match fs::create_dir(&dir) {
            Ok(()) => return Ok((dir, true)),
            // Left over by an earlier process with our pid: take the next number.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(LabError::io(format!("creating {}", dir.display()), e)),
        }
    }
}

fn command_error(command: &str, out: &Output) -> LabError {
    LabError::Command {
        command: command.to_string(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

/// Generate ed25519 key pairs at the given paths, all at once.
fn keygen(paths: &[&Path]) -> Result<(), LabError> {
    let children = paths
        .iter()
        .map(|path| {
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "tend-lab", "-f"])
                .arg(path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .ctx(|| "spawning ssh-keygen".into())
        })
        .collect::<Result<Vec<_>, _>>()?;
    for child in children {
        let out = child
            .wait_with_output()
            .ctx(|| "waiting for ssh-keygen".into())?;
        if !out.status.success() {
            return Err(command_error("ssh-keygen", &out));
        }
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<String, LabError> {
    fs::read_to_string(path).ctx(|| format!("reading {}", path.display()))
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    fs::write(path, text).ctx(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .ctx(|| format!("chmod {}", path.display()))
}

fn valid_user(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 32
}

impl Lab {
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    /// Start `n` hosts with default options.
    pub fn start(n: usize) -> Result<Lab, LabError> {
        Lab::builder().hosts(n).start()
    }

    fn start_with(opts: LabBuilder) -> Result<Lab, LabError> {
        check_prerequisites()?;
        let count = match (&opts.addresses, opts.hosts) {
            (Some(a), Some(n)) if a.len() != n => {
                return Err(LabError::Options(format!(
                    "{n} hosts asked for but {} addresses given",
                    a.len()
                )))
            }
            (Some(a), _) => a.len(),
            (None, n) => n.unwrap_or(1),
        };
        if count == 0 {
            return Err(LabError::Options("a lab needs at least one host".into()));
        }
        if opts.max_sessions == 0 {
            return Err(LabError::Options("max_sessions must be at least 1".into()));
        }
        if !valid_user(&opts.name_prefix) {
            return Err(LabError::Options(format!(
                "name prefix {:?} must be a lowercase hostname label",
                opts.name_prefix
            )));
        }
        let network = match opts.network {
            Some((net, prefix)) => {
                addr::validate_network(net, prefix).map_err(|reason| LabError::BadNetwork {
                    value: format!("{net}/{prefix}"),
                    reason,
                })?;
                (net, prefix)
            }
            None => match std::env::var(NET_ENV) {
                Ok(v) if !v.trim().is_empty() => parse_network(&v)?,
                _ => DEFAULT_NETWORK,
            },
        };

        let (dir, created_dir) = make_dir(opts.dir.as_deref())?;
        // From here on the lab owns the directory, so any early return cleans up via Drop.
        let mut lab = Lab {
            key: dir.join("id_ed25519"),
            public_key: String::new(),
            known_hosts: dir.join("known_hosts"),
            inventory_ini: dir.join("inventory.ini"),
            inventory_yaml: dir.join("inventory.yml"),
            ssh_config: dir.join("ssh_config"),
            dir,
            created_dir,
            hosts: Vec::new(),
            procs: Vec::new(),
            leases: Vec::new(),
            torn_down: false,
        };

        lab.leases = match &opts.addresses {
            Some(addrs) => addr::lease_exact(addrs, opts.port)?,
            None => addr::allocate(network.0, network.1, count, opts.port)?,
        };
        let names: Vec<String> = (1..=count)
            .map(|i| format!("{}{i}", opts.name_prefix))
            .collect();
        let addrs: Vec<Ipv4Addr> = lab.leases.iter().map(|l| l.addr).collect();

        let host_key = lab.dir.join("host_ed25519");
        keygen(&[&lab.key, &host_key])?;
        lab.public_key = read_text(&lab.dir.join("id_ed25519.pub"))?
            .trim()
            .to_string();
        let authorized_keys = lab.dir.join("authorized_keys");
        write_file(&authorized_keys, &format!("{}\n", lab.public_key), 0o600)?;
        let host_pub = read_text(&lab.dir.join("host_ed25519.pub"))?;
        let host_pub: String = host_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        lab.write_client_files(&names, &addrs, opts.port, &host_pub)?;

        fs::create_dir_all("/run/sshd").ctx(|| "creating /run/sshd".into())?;
        for (name, &addr) in names.iter().zip(&addrs) {
            let spec = HostSpec {
                name,
                addr,
                port: opts.port,
                lab_dir: &lab.dir,
                host_key: &host_key,
                authorized_keys: &authorized_keys,
                max_sessions: opts.max_sessions,
            };
            let proc = HostProc::spawn(&spec)?;
            lab.procs.push(Mutex::new(proc));
        }
        lab.wait_listening(&names, &addrs, opts.port)?;
        for (i, (name, &addr)) in names.iter().zip(&addrs).enumerate() {
            let mut proc = lab.proc(i);
            let mount_ns = proc.capture_namespace()?;
            let pid = proc.pid().unwrap_or(0);
            drop(proc);
            lab.hosts.push(LabHost {
                name: name.clone(),
                address: addr,
                port: opts.port,
                pid,
                mount_ns,
            });
        }
        lab.verify_logins()?;
        Ok(lab)
    }

    fn write_client_files(
        &self,
        names: &[String],
        addrs: &[Ipv4Addr],
        port: u16,
        host_pub: &str,
    ) -> Result<(), LabError> {
        let key = self.key.display();
        let port_var = if port == 22 {
            String::new()
        } else {
            format!(" ansible_port={port}")
        };
        let (mut known, mut ini, mut yaml, mut cfg) = (
            String::new(),
            String::from("[all]\n"),
            String::from("all:\n  hosts:\n"),
            String::new(),
        );
        for (name, addr) in names.iter().zip(addrs) {
            // known_hosts writes non-default ports as [addr]:port.
            let _ = if port == 22 {
                writeln!(known, "{addr} {host_pub}")
            } else {
                writeln!(known, "[{addr}]:{port} {host_pub}")
            };
            let _ = writeln!(
                ini,
                "{name} ansible_host={addr} ansible_user=root ansible_ssh_private_key_file={key}{port_var}"
            );
            let _ = write!(
                yaml,
                "    {name}:\n      ansible_host: {addr}\n      ansible_user: root\n      ansible_ssh_private_key_file: {key}\n"
            );
            if port != 22 {
                let _ = writeln!(yaml, "      ansible_port: {port}");
            }
            let _ = write!(
                cfg,
                "Host {name}\n  HostName {addr}\n  Port {port}\n  User root\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n\n",
                kh = self.known_hosts.display()
            );
        }
        write_file(&self.known_hosts, &known, 0o644)?;
        write_file(&self.inventory_ini, &ini, 0o644)?;
        write_file(&self.inventory_yaml, &yaml, 0o644)?;
        write_file(&self.ssh_config, &cfg, 0o644)
    }

    fn host_start_error(&self, i: usize, name: &str, addr: Ipv4Addr, reason: String) -> LabError {
        let proc = self.proc(i);
        LabError::HostStart {
            host: name.to_string(),
            addr,
            reason,
            log_path: proc.dir.join("log"),
            log: proc.log(),
        }
    }

    fn wait_listening(
        &self,
        names: &[String],
        addrs: &[Ipv4Addr],
        port: u16,
    ) -> Result<(), LabError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pending: Vec<usize> = (0..names.len()).collect();
        while !pending.is_empty() {
            let mut still = Vec::with_capacity(pending.len());
            for i in pending {
                // Bound first: the guard must be gone before host_start_error locks again.
                let exited = self.proc(i).exited();
                if let Some(reason) = exited {
                    return Err(self.host_start_error(i, &names[i], addrs[i], reason));
                }
                let sa = SocketAddr::from((addrs[i], port));
                if TcpStream::connect_timeout(&sa, Duration::from_millis(200)).is_err() {
                    still.push(i);
                }
            }
            pending = still;
            if let Some(&i) = pending.first() {
                if Instant::now() > deadline {
                    let reason = format!(
                        "nothing accepted TCP on {}:{port} within {READY_TIMEOUT:?}",
                        addrs[i]
                    );
                    return Err(self.host_start_error(i, &names[i], addrs[i], reason));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }

    /// One real login per host, all at once, checking each answers with its own name.
    fn verify_logins(&self) -> Result<(), LabError> {
        let children = (0..self.hosts.len())
            .map(|i| {
                self.ssh_command(i, "root")?
                    .arg("hostname")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .ctx(|| "spawning ssh".into())
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (i, child) in children.into_iter().enumerate() {
            let host = &self.hosts[i];
            let out = child.wait_with_output().ctx(|| "waiting for ssh".into())?;
            let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !out.status.success() || printed != host.name {
                let reason = format!(
                    "`ssh root@{} hostname` {} and printed {printed:?} (wanted {:?}); ssh said: {}",
                    host.address,
                    out.status,
                    host.name,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return Err(self.host_start_error(i, &host.name, host.address, reason));
            }
        }
        Ok(())
    }

    fn proc(&self, i: usize) -> MutexGuard<'_, HostProc> {
        // A panic while holding the lock leaves HostProc consistent enough to tear down.
        self.procs[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_index(&self, i: usize) -> Result<(), LabError> {
        if i < self.hosts.len() {
            Ok(())
        } else {
            Err(LabError::HostIndex {
                index: i,
                count: self.hosts.len(),
            })
        }
    }

    pub fn hosts(&self) -> &[LabHost] {
        &self.hosts
    }

    pub fn host(&self, i: usize) -> Result<&LabHost, LabError> {
        self.check_index(i)?;
        Ok(&self.hosts[i])
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Private key (ed25519) authorized for root on every host.
    pub fn key_file(&self) -> &Path {
        &self.key
    }

    /// The public half of [`key_file`](Self::key_file), one `ssh-ed25519 ...` line.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// known_hosts listing every host's address with its host key.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// Ansible INI inventory: `h1 ansible_host=... ansible_user=root ansible_ssh_private_key_file=...`.
    pub fn inventory_ini(&self) -> &Path {
        &self.inventory_ini
    }

    /// The same inventory in Ansible's YAML form.
    pub fn inventory_yaml(&self) -> &Path {
        &self.inventory_yaml
    }

    /// An ssh_config with one `Host h1` block per host, for `ssh -F <this> h1`.
    pub fn ssh_config(&self) -> &Path {
        &self.ssh_config
    }

    /// The host's sshd log (its stderr), for failure messages.
    pub fn host_log(&self, i: usize) -> Result<String, LabError> {
        self.check_index(i)?;
        Ok(self.proc(i).log())
    }

    /// A system `ssh` command to host `i` as `user`, using only the lab's key and known_hosts
    /// (no user or system ssh config). Append the remote command with `.arg(..)`.
    pub fn ssh_command(&self, i: usize, user: &str) -> Result<Command, LabError> {
        let host = self.host(i)?;
        let mut cmd = Command::new("ssh");
        cmd.args(["-F", "/dev/null"])
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "GlobalKnownHostsFile=/dev/null"])
            .args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"])
            .args(["-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"])
            // The default post-quantum kex costs ~130 ms of CPU per login; these logins only
            // check and inspect hosts, the server still offers its defaults to real clients.
            .args(["-o", "KexAlgorithms=curve25519-sha256"])
            .arg("-i")
            .arg(&self.key)
            .arg("-p")
            .arg(host.port.to_string())
            .arg("-l")
            .arg(user)
            .arg(host.address.to_string())
            .arg("--");
        Ok(cmd)
    }

    /// Run `command` as root on host `i`; a non-zero exit is returned in the `Output`.
    pub fn ssh(&self, i: usize, command: &str) -> Result<Output, LabError> {
        self.ssh_as(i, "root", command)
    }

    /// Run `command` as `user` on host `i`; a non-zero exit is returned in the `Output`.
    pub fn ssh_as(&self, i: usize, user: &str, command: &str) -> Result<Output, LabError> {
        self.ssh_command(i, user)?
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .ctx(|| format!("running ssh to {}", self.hosts[i].name))
    }

    /// Contents of `path` as host `i` sees it, `None` if it does not exist. Read directly
    /// through the host's mount namespace (no ssh), so it is cheap enough for every assert.
    pub fn read_file(&self, i: usize, path: impl AsRef<Path>) -> Result<Option<Vec<u8>>, LabError> {
        self.check_index(i)?;
        let path = path.as_ref();
        let Some(mut file) = self.proc(i).open(path, false)? else {
            return Ok(None);
        };
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut data)
            .ctx(|| format!("reading {} on {}", path.display(), self.hosts[i].name))?;
        Ok(Some(data))
    }

    /// Metadata of `path` on host `i` (symlinks followed), `None` if it does not exist.
    pub fn metadata(&self, i: usize, path: impl AsRef<Path>) -> Result<Option<Metadata>, LabError> {
        self.check_index(i)?;
        let path = path.as_ref();
        let Some(file) = self.proc(i).open(path, true)? else {
            return Ok(None);
        };
        let meta = file
            .metadata()
            .ctx(|| format!("stat {} on {}", path.display(), self.hosts[i].name))?;
        Ok(Some(meta))
    }

    /// Permission bits (`0o7777` part) of `path` on host `i`, `None` if it does not exist.
    pub fn file_mode(&self, i: usize, path: impl AsRef<Path>) -> Result<Option<u32>, LabError> {
        Ok(self.metadata(i, path)?.map(|m| m.mode() & 0o7777))
    }

    /// Create user `name` on host `i` who can log in with the lab key, optionally with
    /// passwordless sudo (needs `sudo` installed on the machine).
    pub fn add_user(&self, i: usize, name: &str, sudo_nopasswd: bool) -> Result<(), LabError> {
        let host = self.host(i)?;
        if !valid_user(name) {
            return Err(LabError::InvalidUser {
                name: name.to_string(),
            });
        }
        if sudo_nopasswd && !Path::new(SUDO).is_file() {
            return Err(LabError::MissingSudo);
        }
        // `usermod -p '*'`: with UsePAM no, sshd refuses accounts whose password is locked
        // ('!'), which is what useradd leaves; '*' is "no password" but not locked.
        let mut script = format!(
            "set -e\n\
             useradd -m -U -s /bin/bash {name}\n\
             usermod -p '*' {name}\n\
             home=$(getent passwd {name} | cut -d: -f6)\n\
             install -d -m 700 -o {name} -g {name} \"$home/.ssh\"\n\
             printf '%s\\n' '{key}' > \"$home/.ssh/authorized_keys\"\n\
             chown {name}:{name} \"$home/.ssh/authorized_keys\"\n\
             chmod 600 \"$home/.ssh/authorized_keys\"\n",
            key = self.public_key,
        );
        if sudo_nopasswd {
            let _ = write!(
                script,
                "printf '%s\\n' '{name} ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/tend-lab-{name}\n\
                 chmod 440 /etc/sudoers.d/tend-lab-{name}\n"
            );
        }
        let out = self.ssh(i, &script)?;
        if !out.status.success() {
            return Err(LabError::AddUser {
                host: host.name.clone(),
                user: name.to_string(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    /// Kill every process of host `i` at once (SIGKILL), as if the machine died. The address
    /// stays reserved until the lab is torn down.
    pub fn kill_host(&self, i: usize) -> Result<(), LabError> {
        self.check_index(i)?;
        self.proc(i).kill().map_err(|p| LabError::Teardown {
            dir: self.dir.clone(),
            problems: vec![p],
        })
    }

    /// Start sshd again on host `i` after [`kill_host`](Self::kill_host), on the same address
    /// and with the same files (the namespace outlives its processes), and wait until it
    /// accepts logins. Its pid changes: [`LabHost::pid`] is updated.
    pub fn restart_host(&mut self, i: usize) -> Result<(), LabError> {
        self.check_index(i)?;
        self.proc(i).restart()?;
        let host = self.hosts[i].clone();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let exited = self.proc(i).exited();
            if let Some(reason) = exited {
                return Err(self.host_start_error(i, &host.name, host.address, reason));
            }
            if TcpStream::connect_timeout(&host.socket_addr(), Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let reason = format!("nothing accepted TCP within {READY_TIMEOUT:?} of a restart");
                return Err(self.host_start_error(i, &host.name, host.address, reason));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let pid = self.proc(i).pid().unwrap_or(0);
        self.hosts[i].pid = pid;
        let out = self.ssh(i, "hostname")?;
        let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || printed != host.name {
            let reason = format!(
                "after a restart `hostname` {} and printed {printed:?}; ssh said: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return Err(self.host_start_error(i, &host.name, host.address, reason));
        }
        Ok(())
    }

    /// Cut every SSH connection to host `i` at once (SIGKILL to its per-connection sshd
    /// processes) while its listener and the commands those connections ran live on, as when
    /// the network drops. Returns how many processes were killed.
    pub fn drop_connections(&self, i: usize) -> Result<usize, LabError> {
        self.check_index(i)?;
        self.proc(i).drop_connections()
    }

    /// Every live process of host `i`: pid and command line.
    pub fn processes(&self, i: usize) -> Result<Vec<(u32, String)>, LabError> {
        self.check_index(i)?;
        self.proc(i).processes()
    }

    /// Names in directory `path` on host `i` (unsorted, without `.`/`..`), `None` if missing.
    pub fn list_dir(
        &self,
        i: usize,
        path: impl AsRef<Path>,
    ) -> Result<Option<Vec<String>>, LabError> {
        self.check_index(i)?;
        self.proc(i).list_dir(path.as_ref())
    }

    /// Run a program as root inside host `i`'s mount namespace (through `nsenter`), without
    /// ssh: for changing the host underneath a running connection (`mount` a small tmpfs...).
    pub fn in_host(&self, i: usize, program: &str, args: &[&str]) -> Result<Output, LabError> {
        let host = self.host(i)?;
        if !self.is_up(i) {
            return Err(LabError::HostDown {
                host: host.name.clone(),
            });
        }
        Command::new("nsenter")
            .arg("-t")
            .arg(host.pid.to_string())
            .args(["-m", "-u", "--", program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ctx(|| format!("running {program} in host {}", host.name))
    }

    /// Whether host `i` is still running (not killed and its sshd alive).
    pub fn is_up(&self, i: usize) -> bool {
        if i >= self.procs.len() {
            return false;
        }
        let mut proc = self.proc(i);
        !proc.down && proc.exited().is_none()
    }

    /// Tear down now and report problems, rather than only logging them from `Drop`.
    pub fn stop(mut self) -> Result<(), LabError> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<(), LabError> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let mut problems = Vec::new();
        for i in 0..self.procs.len() {
            let killed = self.proc(i).kill();
            if let Err(p) = killed {
                problems.push(p);
            }
        }
        for i in 0..self.procs.len() {
            self.proc(i).release();
        }
        // Only now that no sshd can hold the port may another lab take the address.
        self.leases.clear();
        let removal = if self.created_dir {
            fs::remove_dir_all(&self.dir)
        } else {
            fs::read_dir(&self.dir).and_then(|entries| {
                entries.flatten().try_for_each(|e| {
                    let path = e.path();
                    if e.file_type()?.is_dir() {
                        fs::remove_dir_all(path)
                    } else {
                        fs::remove_file(path)
                    }
                })
            })
        };
        if let Err(e) = removal {
            problems.push(format!("removing {}: {e}", self.dir.display()));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LabError::Teardown {
                dir: self.dir.clone(),
                problems,
            })
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("tend-lab: {e}");
        }
    }
}
