//! Clean-up of labs whose process died without tearing down (SIGKILL, Ctrl-C of `cargo test`):
//! their hosts run in sessions of their own, so nothing else would ever end them.

use std::fs::{self, File};
use std::path::Path;

use crate::host::kill_namespace;

/// The pid in a `tend-lab-<pid>-<seq>` directory name.
fn owner_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("tend-lab-")?;
    let (pid, seq) = rest.split_once('-')?;
    seq.parse::<u64>().ok()?;
    pid.parse().ok()
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks whether the pid exists; it touches no memory.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Host sshds started from `dir`: their command line names a config file inside it.
fn sshds_of(dir: &Path) -> Vec<u32> {
    let needle = format!("{}/", dir.display());
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // sshd rewrites its argv ("sshd: /usr/sbin/sshd -D ... [listener]"), so match loosely.
            fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("sshd") && c.contains(&needle) && c.contains("sshd_config")
            })
        })
        .collect()
}

/// End the hosts of every lab in `tmp` whose owning process is gone, and delete its directory.
/// Best effort: a lab we cannot clean only wastes memory; its address is skipped anyway.
pub(crate) fn reap_stale_labs(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner_pid) else {
            continue;
        };
        if pid as u32 == std::process::id() || alive(pid) {
            continue;
        }
        let dir = entry.path();
        for sshd in sshds_of(&dir) {
            // Pinned before killing, so the namespace cannot be swapped for another mid-way.
            if let Ok(ns) = File::open(format!("/proc/{sshd}/ns/mnt")) {
                if let Err(e) = kill_namespace(&ns) {
                    eprintln!("tend-lab: stale lab {}: {e}", dir.display());
                }
            }
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            // Another process reaping the same lab got there first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("tend-lab: removing stale lab {}: {e}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_only_lab_dirs() {
        assert_eq!(owner_pid("tend-lab-123-4"), Some(123));
        assert_eq!(owner_pid("tend-lab-addrs"), None);
        assert_eq!(owner_pid("tend-lab-bin-5"), None);
        assert_eq!(owner_pid("tend-lab-12"), None);
    }
}
