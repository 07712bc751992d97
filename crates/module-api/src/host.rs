//! The host handle modules use: POSIX `sh` commands, file reads, stats and atomic writes.
//!
//! Everything a module does to a host goes through here, as `/bin/sh` scripts with every
//! argument quoted, so a target needs nothing but `sh` and coreutils.

use std::sync::Arc;

use tend_transport::{quote, ExecOutput, ExecRequest, Transport};

use crate::ModuleError;

/// A managed host as a module sees it.
#[derive(Clone)]
pub struct Host {
    name: String,
    transport: Arc<dyn Transport>,
}

/// What kind of filesystem object a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Link,
    /// A socket, fifo or device: the `stat -c %F` description.
    Other(String),
}

/// What `stat` says about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub kind: FileKind,
    /// Permission bits including setuid/setgid/sticky (`stat -c %a`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// For a symlink (not followed): where it points.
    pub link_target: Option<String>,
}

impl FileStat {
    /// The mode as Ansible prints it: four octal digits (`0644`).
    pub fn mode_string(&self) -> String {
        format!("{:04o}", self.mode)
    }
}

/// Attributes for a file written by [`Host::write_file_atomic`]. Unset attributes keep those of
/// the file being replaced, or the umask default for a new file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Anything `chmod` accepts: octal (`0644`) or symbolic (`u=rw,g=r`).
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// A command that must accept the new file before it replaces the old one (`validate`,
    /// with `%s` naming the temporary file); run through `sh` on the host.
    pub validate: Option<String>,
}

/// Exit status of the write script when `validate` refused the new file.
const VALIDATE_STATUS: i32 = 45;
/// Precedes the validate command's exit status at the end of the write script's stderr.
const VALIDATE_MARK: &str = "__TEND_VALIDATE_RC__";

const ABSENT: &str = "__TEND_ABSENT__";
/// Exit status the read script uses for "no such file"; unlikely to come from `cat`.
const ABSENT_STATUS: i32 = 44;

impl Host {
    pub fn new(name: impl Into<String>, transport: Arc<dyn Transport>) -> Self {
        Host {
            name: name.into(),
            transport,
        }
    }

    /// The inventory name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The transport underneath, for wrappers (become) built per task.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// Runs a script with `/bin/sh` exactly as given (user commands: no locale change).
    pub async fn sh_raw(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, ModuleError> {
        let command = format!("/bin/sh -c {}", quote(script));
        Ok(self
            .transport
            .exec(ExecRequest {
                command: &command,
                stdin,
                login_shell: false,
            })
            .await?)
    }

    /// Runs one of tend's own scripts with `/bin/sh` in the C locale, so tool output parses
    /// the same on every host.
    pub async fn sh(&self, script: &str) -> Result<ExecOutput, ModuleError> {
        self.sh_raw(&format!("LC_ALL=C; export LC_ALL; {script}"), None)
            .await
    }

    /// Like [`Host::sh`] with data on standard input.
    pub async fn sh_with_stdin(
        &self,
        script: &str,
        stdin: &[u8],
    ) -> Result<ExecOutput, ModuleError> {
        self.sh_raw(&format!("LC_ALL=C; export LC_ALL; {script}"), Some(stdin))
            .await
    }

    /// Runs a script and fails with its stderr unless it exits 0.
    pub async fn sh_ok(&self, script: &str) -> Result<ExecOutput, ModuleError> {
        let out = self.sh(script).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(command_failed(&out))
        }
    }

    /// Stats a path; `None` when nothing is there. `follow` stats a symlink's target.
    pub async fn stat(&self, path: &str, follow: bool) -> Result<Option<FileStat>, ModuleError> {
        let p = quote(path);
        let flag = if follow { "-L " } else { "" };
        let script = format!(
            "if [ -e {p} ] || [ -L {p} ]; then stat {flag}-c '%F|%a|%u|%g|%U|%G|%s|%Y' -- {p} || exit 1; \
             if [ -L {p} ]; then readlink -- {p}; fi; else echo {ABSENT}; fi"
        );
        let out = self.sh_ok(&script).await?;
        parse_stat(&out.stdout_lossy(), follow)
            .map_err(|e| ModuleError::failed(format!("cannot read stat output for {path}: {e}")))
    }

    /// Reads a whole file; `None` when it does not exist.
    pub async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, ModuleError> {
        let p = quote(path);
        let out = self
            .sh(&format!(
                "[ -e {p} ] || exit {ABSENT_STATUS}; exec cat -- {p}"
            ))
            .await?;
        match out.exit_code {
            0 => Ok(Some(out.stdout)),
            ABSENT_STATUS => Ok(None),
            _ => Err(command_failed(&out)),
        }
    }

    /// Replaces `path` with `content` atomically: the data goes to a temporary file in the same
    /// directory, gets its attributes, then is renamed over the destination. An interrupted
    /// write leaves the old file intact (and at worst a `.tend.*` temp file, which the trap removes).
    pub async fn write_file_atomic(
        &self,
        path: &str,
        content: &[u8],
        options: &WriteOptions,
    ) -> Result<(), ModuleError> {
        let dest = quote(path);
        let mut script = format!(
            "set -e; dest={dest}; dir=$(dirname -- \"$dest\"); \
             if [ ! -d \"$dir\" ]; then echo \"Destination directory $dir does not exist\" >&2; exit 1; fi; \
             tmp=$(mktemp \"$dir/.tend.XXXXXXXX\"); trap 'rm -f -- \"$tmp\"' EXIT; trap 'exit 1' INT TERM HUP; \
             cat > \"$tmp\"; {complete}\
             if [ -e \"$dest\" ]; then chmod --reference=\"$dest\" \"$tmp\" 2>/dev/null || true; \
             chown --reference=\"$dest\" \"$tmp\" 2>/dev/null || true; \
             else chmod \"$(printf '%o' $((0666 & ~$(umask))))\" \"$tmp\"; fi; ",
            complete = require_size("tmp", content.len()),
        );
        if let Some(mode) = &options.mode {
            script.push_str(&format!("chmod {} \"$tmp\"; ", quote(mode)));
        }
        if let Some(owner) = &options.owner {
            script.push_str(&format!("chown {} \"$tmp\"; ", quote(owner)));
        }
        if let Some(group) = &options.group {
            script.push_str(&format!("chgrp {} \"$tmp\"; ", quote(group)));
        }
        if let Some(validate) = &options.validate {
            // Python's `validate % path`: `%%` is a percent sign, `%s` the file.
            let command = validate
                .replace("%%", "\u{0}")
                .replace("%s", "\"$tmp\"")
                .replace('\u{0}', "%");
            script.push_str(&format!(
                "vrc=0; ( {command} ) </dev/null || vrc=$?; \
                 if [ \"$vrc\" -ne 0 ]; then printf '\\n{VALIDATE_MARK}%s' \"$vrc\" >&2; exit {VALIDATE_STATUS}; fi; "
            ));
        }
        script.push_str("mv -f -- \"$tmp\" \"$dest\"; trap - EXIT");
        let out = self.sh_with_stdin(&script, content).await?;
        if out.exit_code == VALIDATE_STATUS && options.validate.is_some() {
            return Err(validate_failed(&out));
        }
        if out.success() {
            Ok(())
        } else {
            Err(command_failed(&out))
        }
    }
}

/// Shell that goes on only if the file named by `$var` holds exactly `len` bytes, and
/// otherwise removes it and exits 1. Data a script reads from standard input ends early, as
/// if complete, when the connection is lost mid-transfer (`cat` just sees end of input): a
/// script must never take such a truncated file for the whole and put it in place. The file
/// is removed before anything is printed, since printing to a lost connection can kill the
/// script (SIGPIPE) before an `EXIT` trap runs.
pub fn require_size(var: &str, len: usize) -> String {
    format!(
        "__n=$(wc -c < \"${var}\") || __n=0; if [ $((__n + 0)) -ne {len} ]; then rm -f -- \"${var}\"; \
         echo \"incomplete input: $((__n + 0)) of {len} bytes arrived (connection lost?)\" >&2; exit 1; fi; "
    )
}

/// Ansible's "failed to validate" result, with the validate command's output and status.
fn validate_failed(out: &ExecOutput) -> ModuleError {
    let stderr = out.stderr_lossy();
    let (text, rc) = match stderr.rsplit_once(VALIDATE_MARK) {
        Some((text, rc)) => (
            text.strip_suffix('\n').unwrap_or(text),
            rc.trim().parse().unwrap_or(1),
        ),
        None => (stderr.as_str(), 1),
    };
    let mut values = serde_json::Map::new();
    values.insert("exit_status".into(), rc.into());
    values.insert("stdout".into(), out.stdout_lossy().into());
    values.insert("stderr".into(), text.to_string().into());
    ModuleError::Failed {
        msg: "failed to validate".into(),
        values,
    }
}

/// A failure built from a command's stderr (or stdout when stderr is empty).
pub(crate) fn command_failed(out: &ExecOutput) -> ModuleError {
    let stderr = out.stderr_lossy();
    let text = if stderr.trim().is_empty() {
        out.stdout_lossy()
    } else {
        stderr
    };
    let mut values = serde_json::Map::new();
    values.insert("rc".into(), out.exit_code.into());
    ModuleError::Failed {
        msg: text.trim().to_string(),
        values,
    }
}

fn parse_stat(text: &str, follow: bool) -> Result<Option<FileStat>, String> {
    let mut lines = text.lines();
    let first = lines.next().ok_or("empty output")?;
    if first == ABSENT {
        return Ok(None);
    }
    let fields: Vec<&str> = first.split('|').collect();
    let [kind, mode, uid, gid, owner, group, size, mtime] = fields[..] else {
        return Err(format!("unexpected line {first:?}"));
    };
    let num = |s: &str| s.parse::<u64>().map_err(|_| format!("bad number {s:?}"));
    let kind = match kind {
        "regular file" | "regular empty file" => FileKind::File,
        "directory" => FileKind::Directory,
        "symbolic link" => FileKind::Link,
        other => FileKind::Other(other.to_string()),
    };
    let link_target = if kind == FileKind::Link || (!follow && lines.clone().next().is_some()) {
        lines.next().map(str::to_string)
    } else {
        None
    };
    Ok(Some(FileStat {
        kind,
        mode: u32::from_str_radix(mode, 8).map_err(|_| format!("bad mode {mode:?}"))?,
        uid: num(uid)? as u32,
        gid: num(gid)? as u32,
        owner: owner.to_string(),
        group: group.to_string(),
        size: num(size)?,
        mtime: mtime.parse().map_err(|_| format!("bad mtime {mtime:?}"))?,
        link_target,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tend_transport::LocalTransport;

    fn local() -> Host {
        Host::new("localhost", Arc::new(LocalTransport::new("localhost")))
    }

    #[tokio::test]
    async fn input_cut_short_is_removed_not_used() {
        let host = local();
        let script = |len| {
            format!(
                "f=$(mktemp) || exit 9; printf abc > \"$f\"; {}printf '%s' \"$f\"",
                require_size("f", len)
            )
        };
        let short = host.sh(&script(10)).await.expect("runs");
        assert_eq!(short.exit_code, 1);
        assert!(
            short
                .stderr_lossy()
                .contains("incomplete input: 3 of 10 bytes"),
            "{}",
            short.stderr_lossy()
        );
        assert!(short.stdout.is_empty(), "went on after a short input");
        let whole = host.sh(&script(3)).await.expect("runs");
        assert_eq!(whole.exit_code, 0, "{}", whole.stderr_lossy());
        let path = whole.stdout_lossy();
        assert_eq!(std::fs::read(&path).expect("kept"), b"abc");
        std::fs::remove_file(&path).expect("cleanup");
    }

    #[tokio::test]
    async fn stat_read_and_atomic_write_on_a_real_shell() {
        let dir = std::env::temp_dir().join(format!("tend-host-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("it's a file").to_string_lossy().into_owned();
        let host = local();

        assert_eq!(host.stat(&path, false).await.expect("stat"), None);
        assert_eq!(host.read_file(&path).await.expect("read"), None);

        let options = WriteOptions {
            mode: Some("0640".into()),
            ..WriteOptions::default()
        };
        host.write_file_atomic(&path, b"one\ntwo\n", &options)
            .await
            .expect("write");
        assert_eq!(
            host.read_file(&path).await.expect("read"),
            Some(b"one\ntwo\n".to_vec())
        );
        let st = host
            .stat(&path, false)
            .await
            .expect("stat")
            .expect("exists");
        assert_eq!(st.kind, FileKind::File);
        assert_eq!(st.mode_string(), "0640");
        assert_eq!(st.size, 8);

        // Unset attributes keep the replaced file's mode.
        host.write_file_atomic(&path, b"new", &WriteOptions::default())
            .await
            .expect("write");
        let st = host
            .stat(&path, false)
            .await
            .expect("stat")
            .expect("exists");
        assert_eq!(st.mode_string(), "0640");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tend."))
            .collect();
        assert!(leftovers.is_empty(), "temp files left behind");

        let link = dir.join("link").to_string_lossy().into_owned();
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        let st = host
            .stat(&link, false)
            .await
            .expect("stat")
            .expect("exists");
        assert_eq!(st.kind, FileKind::Link);
        assert_eq!(st.link_target.as_deref(), Some(path.as_str()));
        let st = host.stat(&link, true).await.expect("stat").expect("exists");
        assert_eq!(st.kind, FileKind::File);

        let missing_dir = dir.join("nope/x").to_string_lossy().into_owned();
        let err = host
            .write_file_atomic(&missing_dir, b"x", &WriteOptions::default())
            .await
            .expect_err("no dir");
        assert!(err.to_string().contains("does not exist"), "{err}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
