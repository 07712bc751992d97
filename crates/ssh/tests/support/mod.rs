//! A throwaway OpenSSH server on a loopback port for the integration tests, killed on drop.

#![allow(dead_code)] // Each test binary uses a different part of it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tend_transport::{ConnectionKind, ConnectionSpec, HostKeyMode, KnownHostsPolicy};

pub const SSHD: &str = "/usr/sbin/sshd";

/// Whether the tests can run here; when they cannot, they pass with a notice instead, unless
/// `TEND_REQUIRE_SSHD` is set (CI sets it once it installs openssh-server).
pub fn sshd_available() -> bool {
    let ok = Path::new(SSHD).exists() && which("ssh-keygen") && is_root();
    if !ok {
        assert!(
            std::env::var_os("TEND_REQUIRE_SSHD").is_none(),
            "TEND_REQUIRE_SSHD is set but {SSHD}, ssh-keygen or root privileges are missing"
        );
        eprintln!("skipping: needs {SSHD}, ssh-keygen and root (apt-get install openssh-server)");
    }
    ok
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes an ed25519 key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path, passphrase: &str) {
    keygen_typed(path, "ed25519", passphrase);
}

/// Makes a key pair of type `kind` (`ed25519`, `ecdsa`, `rsa`) at `path` (and `path.pub`).
pub fn keygen_typed(path: &Path, kind: &str, passphrase: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", passphrase, "-C", "tend-test", "-f"])
        .arg(path));
}

/// Adds the public half of `key` to the server's authorized_keys.
pub fn authorize(sshd: &Sshd, key: &Path) {
    let mut public = fs::read(key.with_extension("pub")).expect("pub");
    let mut auth = fs::read(sshd.dir.path().join("authorized_keys")).expect("authorized_keys");
    auth.append(&mut public);
    fs::write(sshd.dir.path().join("authorized_keys"), auth).expect("write");
}

/// The base64 column of a `.pub` file.
pub fn pub_base64(pub_file: &Path) -> String {
    let text = fs::read_to_string(pub_file).expect("pub key");
    text.split_whitespace()
        .nth(1)
        .expect("key column")
        .to_owned()
}

/// The fingerprint as `ssh-keygen -lf` prints it.
pub fn fingerprint(pub_file: &Path) -> String {
    let out = run(Command::new("ssh-keygen").arg("-lf").arg(pub_file));
    out.split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_owned()
}

/// Picks a free loopback port. Another process could take it before sshd binds it; the
/// window is tiny and a clash shows up as sshd failing to start.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Every live descendant of `pid` with its command name, deepest first, found through /proc.
fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut procs: Vec<(u32, u32, String)> = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let comm = stat.get(open + 1..close).unwrap_or_default().to_owned();
            let rest = stat.get(close + 1..).unwrap_or_default();
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                procs.push((child, ppid, comm));
            }
        }
    }
    let mut found: Vec<(u32, String)> = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (child, ppid, comm) in &procs {
            if *ppid == p && !found.iter().any(|(f, _)| f == child) {
                found.push((*child, comm.clone()));
                frontier.push(*child);
            }
        }
    }
    found.reverse();
    found
}

fn wait_listening(child: &mut Child, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = fs::read_to_string(log).unwrap_or_default();
        if text.contains("Server listening") {
            return Ok(());
        }
        let exited = child.try_wait().ok().flatten().is_some();
        if exited || Instant::now() > deadline {
            return Err(text);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub host_key_pub: PathBuf,
    /// A key in authorized_keys.
    pub client_key: PathBuf,
    pub user: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Sshd {
    /// Starts sshd with a fresh host key and one authorized client key.
    pub fn start() -> Sshd {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let host_key = d.join("host_ed25519");
        keygen(&host_key, "");
        let client_key = d.join("client_ed25519");
        keygen(&client_key, "");
        fs::copy(d.join("client_ed25519.pub"), d.join("authorized_keys")).expect("copy");
        // sshd insists on its privilege separation directory.
        let _ = fs::create_dir_all("/run/sshd");
        let user = run(Command::new("id").arg("-un")).trim().to_owned();

        let log = d.join("sshd.log");
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let config = d.join("sshd_config");
            fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1:{port}\n\
                     HostKey {host_key}\n\
                     PidFile {pid}\n\
                     AuthorizedKeysFile {auth}\n\
                     UsePAM no\n\
                     StrictModes no\n\
                     PermitRootLogin prohibit-password\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     MaxSessions 10\n\
                     MaxStartups 50\n\
                     LogLevel VERBOSE\n",
                    host_key = host_key.display(),
                    pid = d.join("sshd.pid").display(),
                    auth = d.join("authorized_keys").display(),
                ),
            )
            .expect("config");
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).expect("log"))
                .spawn()
                .expect("spawn sshd");
            match wait_listening(&mut child, &log) {
                Ok(()) => {
                    return Sshd {
                        port,
                        host_key_pub: d.join("host_ed25519.pub"),
                        client_key,
                        user,
                        child: Some(child),
                        log,
                        dir,
                    }
                }
                Err(text) => {
                    // Most likely the port was taken in the meantime: try another.
                    last_log = text;
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic!("sshd did not start: {last_log}");
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the listener and every process it started, as a crash would: the sshd processes
    /// first, so none of them lives to report its command's death to the client.
    pub fn kill_all(&mut self) {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return;
        };
        let tree = descendants(pid);
        self.kill_servers();
        for (pid, _) in tree {
            kill(pid);
        }
    }

    /// Kills the listener and the per-connection sshd processes, leaving users' commands to end
    /// on their own: killing a login shell while root's ~/.bashrc runs can leave stale lock
    /// files behind (pyenv's rehash lock, for one) that stall every later shell.
    fn kill_servers(&mut self) {
        self.kill_where(|comm| comm.starts_with("sshd"));
    }

    fn kill_where(&mut self, pick: impl Fn(&str) -> bool) {
        if let Some(mut child) = self.child.take() {
            let tree = descendants(child.id());
            let _ = child.kill();
            for (pid, comm) in tree {
                if pick(&comm) {
                    kill(pid);
                }
            }
            let _ = child.wait();
        }
    }

    /// The known_hosts line sshd's host key needs for this port.
    pub fn known_hosts_line(&self) -> String {
        format!(
            "[127.0.0.1]:{} ssh-ed25519 {}\n",
            self.port,
            pub_base64(&self.host_key_pub)
        )
    }

    /// A known_hosts file that trusts this server.
    pub fn trusting_known_hosts(&self) -> PathBuf {
        let path = self.dir.path().join("known_hosts_trusting");
        fs::write(&path, self.known_hosts_line()).expect("write");
        path
    }

    pub fn spec(&self, files: Vec<PathBuf>, mode: HostKeyMode) -> ConnectionSpec {
        ConnectionSpec {
            name: "sshd-test".into(),
            kind: ConnectionKind::Ssh,
            address: "127.0.0.1".into(),
            port: self.port,
            user: self.user.clone(),
            private_key_file: Some(self.client_key.clone()),
            key_passphrase: None,
            known_hosts: KnownHostsPolicy { files, mode },
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// A spec that trusts the server and uses the authorized key.
    pub fn trusted_spec(&self) -> ConnectionSpec {
        self.spec(vec![self.trusting_known_hosts()], HostKeyMode::Strict)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_servers();
    }
}
