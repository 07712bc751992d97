//! One lab host's processes: spawning sshd inside a fresh mount+UTS namespace, finding and
//! killing everything in that namespace, and opening files as the host sees them.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{IoContext, LabError};

/// The sshd binary, as the host script execs it; its per-connection processes run it too.
const SSHD_PATH: &str = "/usr/sbin/sshd";

/// Top-level directories each host gets a private, writable overlay of.
const OVERLAID: [&str; 8] = ["etc", "var", "usr", "opt", "srv", "home", "root", "tmp"];

/// Runs inside the new namespaces. The upper layers live on a tmpfs private to the host's
/// namespace: overlayfs refuses an upper dir on overlayfs (container roots), and the kernel
/// frees it all when the namespace dies, so teardown never has to delete copied-up files.
/// Each upper top dir copies the owner and mode of the real one, or /tmp would lose its 1777.
const HOST_SCRIPT: &str = r#"set -e
h=$1; name=$2; shift 2
mount -t tmpfs -o mode=755 tend-lab-upper "$h/fs"
mkdir -p "$h/fs/up" "$h/fs/wk"
cp -a "$h/seed/." "$h/fs/up/"
for d in "$@"; do
  mkdir -p "$h/fs/up/$d" "$h/fs/wk/$d"
  chown --reference="/$d" "$h/fs/up/$d"; chmod --reference="/$d" "$h/fs/up/$d"
  mount -t overlay "tend-lab-$name" -o "lowerdir=/$d,upperdir=$h/fs/up/$d,workdir=$h/fs/wk/$d" "/$d"
done
mount -t tmpfs -o mode=755 tend-lab-run /run
mkdir -p /run/sshd /run/lock
hostname "$name"
exec /usr/sbin/sshd -D -e -f "$h/sshd_config"
"#;

/// The files a host starts from, placed in its overlay before sshd runs.
pub(crate) struct HostSpec<'a> {
    pub name: &'a str,
    pub addr: Ipv4Addr,
    pub port: u16,
    pub lab_dir: &'a Path,
    pub host_key: &'a Path,
    pub authorized_keys: &'a Path,
    pub max_sessions: u32,
}

/// The processes of one running host.
#[derive(Debug)]
pub(crate) struct HostProc {
    pub name: String,
    pub dir: PathBuf,
    child: Option<Child>,
    /// Held open so the namespace's identity cannot be reused while we may still kill by it,
    /// and so that the host's filesystem outlives its processes for [`HostProc::restart`].
    mnt_ns: Option<File>,
    /// The host's UTS namespace (its hostname), kept for a restart.
    uts_ns: Option<File>,
    pub down: bool,
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    fs::write(path, text).ctx(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .ctx(|| format!("chmod {}", path.display()))
}

fn mkdir(path: &Path) -> Result<(), LabError> {
    fs::create_dir_all(path).ctx(|| format!("creating {}", path.display()))
}

fn sshd_config(spec: &HostSpec<'_>, dir: &Path) -> String {
    // The lab-wide key file comes first so root always gets in, even if a playbook rewrites
    // /root/.ssh; users made by add_user log in through their own ~/.ssh/authorized_keys.
    format!(
        "ListenAddress {addr}:{port}\n\
         HostKey {hostkey}\n\
         PermitRootLogin prohibit-password\n\
         AuthorizedKeysFile {ak} .ssh/authorized_keys\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         StrictModes no\n\
         UsePAM no\n\
         UseDNS no\n\
         PrintMotd no\n\
         MaxSessions {max_sessions}\n\
         MaxStartups 256\n\
         PidFile none\n\
         Subsystem sftp internal-sftp\n\
         LogLevel INFO\n\
         # {dir}\n",
        addr = spec.addr,
        port = spec.port,
        hostkey = spec.host_key.display(),
        ak = spec.authorized_keys.display(),
        max_sessions = spec.max_sessions,
        dir = dir.display(),
    )
}

/// Overlaid directories that exist here, with the one holding the lab directory last: once it
/// is overlaid, paths below it no longer reach the host's tmpfs mount of upper layers.
fn overlay_order(lab_dir: &Path) -> Vec<&'static str> {
    let top = lab_dir
        .components()
        .nth(1)
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let mut dirs: Vec<&'static str> = OVERLAID
        .iter()
        .copied()
        .filter(|d| Path::new("/").join(d).is_dir())
        .collect();
    if let Some(top) = top {
        if let Some(pos) = dirs.iter().position(|d| *d == top) {
            let d = dirs.remove(pos);
            dirs.push(d);
        }
    }
    dirs
}

impl HostProc {
    /// Lay out the host's directory and spawn its sshd; returns once spawned, not once up.
    pub(crate) fn spawn(spec: &HostSpec<'_>) -> Result<HostProc, LabError> {
        let dir = spec.lab_dir.join(spec.name);
        let seed = dir.join("seed");
        mkdir(&seed.join("root"))?;
        mkdir(&seed.join("etc"))?;
        mkdir(&dir.join("fs"))?;
        // Quiet shell start-up: no noise in command output, no latency from distro rc files.
        write(
            &seed.join("root/.bashrc"),
            "# lab host: quiet shell startup\n",
            0o644,
        )?;
        write(&seed.join("root/.profile"), "", 0o644)?;
        write(
            &seed.join("etc/hostname"),
            &format!("{}\n", spec.name),
            0o644,
        )?;
        // Without its own name in /etc/hosts, sudo warns "unable to resolve host" on stderr.
        let hosts = fs::read_to_string("/etc/hosts").unwrap_or_default();
        write(
            &seed.join("etc/hosts"),
            &format!("{hosts}\n{} {}\n", spec.addr, spec.name),
            0o644,
        )?;
        write(&dir.join("sshd_config"), &sshd_config(spec, &dir), 0o644)?;

        let log_path = dir.join("log");
        let log = File::create(&log_path).ctx(|| format!("creating {}", log_path.display()))?;
        let log2 = log
            .try_clone()
            .ctx(|| format!("duplicating {}", log_path.display()))?;
        let child = Command::new("setsid")
            .args(["unshare", "-m", "-u", "--propagation", "private"])
            .args(["bash", "-c", HOST_SCRIPT, "tend-lab-host"])
            .arg(&dir)
            .arg(spec.name)
            .args(overlay_order(spec.lab_dir))
            // The host must not inherit the test process's environment (RUST_LOG, CARGO_*...).
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .ctx(|| format!("spawning host {}", spec.name))?;
        Ok(HostProc {
            name: spec.name.to_string(),
            dir,
            child: Some(child),
            mnt_ns: None,
            uts_ns: None,
            down: false,
        })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log"))
            .unwrap_or_else(|e| format!("(cannot read log: {e})"))
    }

    /// `Some(reason)` if the host's first process has already exited.
    pub(crate) fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(format!("its sshd exited ({status})")),
            Ok(None) => None,
            Err(e) => Some(format!("cannot wait for its sshd: {e}")),
        }
    }

    /// Pin the host's mount namespace. Only valid once sshd listens: before that the process
    /// may not have left our namespace yet.
    pub(crate) fn capture_namespace(&mut self) -> Result<u64, LabError> {
        let pid = self
            .pid()
            .ok_or_else(|| LabError::Options("host not running".into()))?;
        let path = format!("/proc/{pid}/ns/mnt");
        let file = File::open(&path).ctx(|| format!("opening {path}"))?;
        let ino = file.metadata().ctx(|| format!("stat {path}"))?.ino();
        if Some(ino) == own_namespace() {
            return Err(LabError::Options(format!(
                "process {pid} is still in the lab's own mount namespace"
            )));
        }
        self.mnt_ns = Some(file);
        let uts = format!("/proc/{pid}/ns/uts");
        self.uts_ns = Some(File::open(&uts).ctx(|| format!("opening {uts}"))?);
        Ok(ino)
    }

    /// Starts sshd again in the namespaces of a host that was killed: its files, mounts and
    /// hostname are as the killed processes left them. Returns once spawned, not once up.
    pub(crate) fn restart(&mut self) -> Result<(), LabError> {
        let (Some(mnt), Some(uts)) = (&self.mnt_ns, &self.uts_ns) else {
            return Err(LabError::Options(format!(
                "host {} never came up, so it cannot be restarted",
                self.name
            )));
        };
        if !self.down {
            return Err(LabError::Options(format!(
                "host {} is running; kill it before restarting it",
                self.name
            )));
        }
        let (mnt, uts) = (mnt.as_raw_fd(), uts.as_raw_fd());
        let log_path = self.dir.join("log");
        let log = OpenOptions::new()
            .append(true)
            .open(&log_path)
            .ctx(|| format!("opening {}", log_path.display()))?;
        let log2 = log
            .try_clone()
            .ctx(|| format!("duplicating {}", log_path.display()))?;
        let mut cmd = Command::new(SSHD_PATH);
        cmd.arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.join("sshd_config"))
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // SAFETY: only async-signal-safe calls (setsid, setns) between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                if libc::setsid() < 0
                    || libc::setns(mnt, libc::CLONE_NEWNS) != 0
                    || libc::setns(uts, libc::CLONE_NEWUTS) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .ctx(|| format!("restarting sshd of host {}", self.name))?;
        self.child = Some(child);
        self.down = false;
        Ok(())
    }

    /// SIGKILL the host's per-connection sshd processes, not its listener nor the commands
    /// they ran: every connection drops at once, as when the network between goes away.
    pub(crate) fn drop_connections(&self) -> Result<usize, LabError> {
        let (Some(ns), Some(listener)) = (&self.mnt_ns, self.pid()) else {
            return Err(LabError::HostDown {
                host: self.name.clone(),
            });
        };
        let ino = ns
            .metadata()
            .ctx(|| "stat of mount namespace".into())?
            .ino();
        let mut killed = 0;
        for pid in processes_in_namespace(ino) {
            let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if pid == listener || exe != Path::new(SSHD_PATH) {
                continue;
            }
            // SAFETY: kill(2) with a pid and a signal number touches no memory.
            if unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
        Ok(killed)
    }

    /// Every live process of the host: pid and command line (arguments joined by spaces).
    pub(crate) fn processes(&self) -> Result<Vec<(u32, String)>, LabError> {
        let Some(ns) = &self.mnt_ns else {
            return Err(LabError::HostDown {
                host: self.name.clone(),
            });
        };
        let ino = ns
            .metadata()
            .ctx(|| "stat of mount namespace".into())?
            .ino();
        Ok(processes_in_namespace(ino)
            .into_iter()
            .filter_map(|pid| {
                let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let args: Vec<String> = raw
                    .split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                Some((pid, args.join(" ")))
            })
            .collect())
    }

    /// SIGKILL every process in the host's namespace, wait until none is left, reap sshd.
    pub(crate) fn kill(&mut self) -> Result<(), String> {
        let mut problem = None;
        if self.mnt_ns.is_none() {
            // Start failed before we pinned it: take the namespace now if the process has one.
            if let Some(pid) = self.pid() {
                if let Ok(f) = File::open(format!("/proc/{pid}/ns/mnt")) {
                    let differs = f.metadata().ok().map(|m| m.ino()) != own_namespace();
                    if differs {
                        self.mnt_ns = Some(f);
                    }
                }
            }
        }
        if let Some(ns) = &self.mnt_ns {
            if let Err(e) = kill_namespace(ns) {
                problem = Some(format!("{}: {e}", self.dir.display()));
            }
        }
        if let Some(mut child) = self.child.take() {
            // Covers a start that failed before unshare, and reaps sshd's zombie.
            let _ = child.kill();
            if let Err(e) = child.wait() {
                problem.get_or_insert(format!("reaping sshd of {}: {e}", self.dir.display()));
            }
        }
        self.down = true;
        problem.map_or(Ok(()), Err)
    }

    /// Drop the namespace pins; after this the kernel may reuse their identity and frees the
    /// host's files.
    pub(crate) fn release(&mut self) {
        self.mnt_ns = None;
        self.uts_ns = None;
    }

    /// Open `path` as the host sees it: inside its mount namespace, with `/`, `..` and
    /// absolute symlinks all resolved against the host's root.
    pub(crate) fn open(&self, path: &Path, o_path: bool) -> Result<Option<File>, LabError> {
        let flags = if o_path { libc::O_PATH } else { libc::O_RDONLY };
        self.open_flags(path, flags)
    }

    /// The names in directory `path` as the host sees it, `None` if it does not exist.
    pub(crate) fn list_dir(&self, path: &Path) -> Result<Option<Vec<String>>, LabError> {
        let Some(dir) = self.open_flags(path, libc::O_RDONLY | libc::O_DIRECTORY)? else {
            return Ok(None);
        };
        let fd_path = format!("/proc/self/fd/{}", dir.as_raw_fd());
        let names = fs::read_dir(&fd_path)
            .ctx(|| format!("listing {} on {}", path.display(), self.name))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<Vec<_>>>()
            .ctx(|| format!("listing {} on {}", path.display(), self.name))?;
        Ok(Some(names))
    }

    fn open_flags(&self, path: &Path, flags: libc::c_int) -> Result<Option<File>, LabError> {
        let pid = match (&self.child, self.down) {
            (Some(c), false) => c.id(),
            _ => {
                return Err(LabError::HostDown {
                    host: self.name.clone(),
                })
            }
        };
        let root_path = format!("/proc/{pid}/root");
        let root = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&root_path)
            .ctx(|| format!("opening {root_path}"))?;
        let rel = path.strip_prefix("/").unwrap_or(path);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let c_path = CString::new(rel.as_os_str().as_bytes())
            .map_err(|_| LabError::Options(format!("path {} contains NUL", path.display())))?;
        // SAFETY: open_how is plain integers, so all-zeros is a valid value.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_CLOEXEC | flags) as u64;
        how.resolve = libc::RESOLVE_IN_ROOT;
        for _ in 0..8 {
            // SAFETY: every pointer is valid for the call and the size matches the struct.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    root.as_raw_fd(),
                    c_path.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            if fd >= 0 {
                // SAFETY: the kernel just gave us this descriptor and nothing else owns it.
                return Ok(Some(unsafe { File::from_raw_fd(fd as i32) }));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => return Ok(None),
                // RESOLVE_IN_ROOT asks callers to retry when a concurrent rename raced it.
                Some(libc::EAGAIN) => continue,
                _ => {
                    return Err(LabError::io(
                        format!("opening {} on {}", path.display(), self.name),
                        err,
                    ))
                }
            }
        }
        Err(LabError::io(
            format!("opening {} on {}", path.display(), self.name),
            io::Error::from_raw_os_error(libc::EAGAIN),
        ))
    }
}

fn own_namespace() -> Option<u64> {
    fs::metadata("/proc/self/ns/mnt").ok().map(|m| m.ino())
}

/// Pids of every live process whose mount namespace has inode `ns_ino`. Zombies have left
/// their namespaces, so they never count.
pub fn processes_in_namespace(ns_ino: u64) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(m) = fs::metadata(format!("/proc/{pid}/ns/mnt")) {
            if m.ino() == ns_ino {
                pids.push(pid);
            }
        }
    }
    pids
}

pub(crate) fn kill_namespace(ns: &File) -> Result<(), String> {
    let ino = ns
        .metadata()
        .map_err(|e| format!("stat of mount namespace: {e}"))?
        .ino();
    if Some(ino) == own_namespace() {
        return Err("refusing to kill the lab's own mount namespace".to_string());
    }
    // Repeat: a process may fork between our scan and its kill.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = processes_in_namespace(ino);
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("processes {pids:?} survived SIGKILL"));
        }
        for pid in pids {
            // SAFETY: kill(2) with a pid and a signal number touches no memory.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
