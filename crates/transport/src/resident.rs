//! The resident shell: one long-lived `sh` per host that runs tend's commands one after
//! another, framed on its standard input, instead of a new channel and shell per command.
//!
//! Opening a channel, starting the user's login shell and tearing both down costs a round trip
//! and several process starts on the host, ten milliseconds or more per command, which for a
//! typical task is more than the work itself. [`ResidentShell`] wraps any transport that can
//! [`start`](Transport::start) a command: it starts `exec /bin/sh` once, and writes each
//! command to it as one line of shell:
//!
//! ```sh
//! (eval 'COMMAND') </dev/null; __tend_rc=$?; printf '%s:%s\n' TOKEN "$__tend_rc"; printf '%s\n' TOKEN >&2
//! ```
//!
//! where `TOKEN` is fresh for every command. The command's stdout is everything before the
//! token on stdout, its stderr everything before it on stderr, its exit status what follows
//! the token. Commands run in a subshell with their own standard input (`/dev/null`, or the
//! request's bytes piped from `printf`), so nothing they do reaches the control stream, and
//! `cd`, `exit` or `exec` in one command cannot affect the next.
//!
//! The wrapper falls back to the wrapped transport's own `exec` (a fresh channel) when:
//! the shell is busy with another command (commands for one host may overlap, e.g. when
//! several hosts `delegate_to` it), the request asks for the login shell (`raw`), the
//! request's input is too large to inline, or the shell could not be started or answered
//! nonsense at start (a restricted shell, a `ForceCommand`): then for the rest of the run.
//! A command abandoned mid-way (its future dropped by a task `timeout` or an interrupted run)
//! takes the shell down with it: the shell's process group (the shell is its leader, as sshd
//! starts each session in a new session) is sent SIGTERM over a channel of its own, so the
//! command does not run on after nobody waits for it, and the next command starts a fresh
//! shell. [`Transport::close`] waits for those kills before closing the connection.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::quote::{quote, quote_bytes_printf};
use crate::wrap::random_id;
use crate::{ExecOutput, ExecRequest, Output, Session, StartRequest, Transport, TransportError};

/// Input up to this size is inlined into the command line as a `printf` argument; larger
/// input goes over a channel of its own, where it is streamed.
pub const MAX_INLINE_STDIN: usize = 256 * 1024;

/// How long a freshly started shell gets to answer its first (empty) command.
const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the shell slot holds between commands.
enum Slot {
    /// No shell yet, or the last one was lost: start one on the next command.
    Empty,
    Ready(Shell),
    /// The host's shell cannot be used this way: every command takes a channel of its own.
    Disabled,
}

/// A running resident shell.
struct Shell {
    session: Box<dyn Session>,
    /// The shell's pid on the host (`$$`), which leads its process group when sshd started
    /// it; `None` if it did not say.
    pid: Option<u32>,
}

/// Shells whose command was abandoned and that still have to be killed.
type Orphans = Arc<std::sync::Mutex<Vec<u32>>>;

/// A transport wrapper that runs commands through one resident `sh` on the host.
pub struct ResidentShell<T> {
    inner: Arc<T>,
    name: String,
    slot: Mutex<Slot>,
    orphans: Orphans,
}

/// The command that stops a shell abandoned mid-command: SIGTERM to its process group. If
/// the shell does not lead a group, no group has its pid as id and this does nothing.
fn kill_command(pid: u32) -> String {
    format!("kill -TERM -- -{pid} 2>/dev/null; true")
}

/// How long stopping an abandoned command may take: a host that stopped answering must not
/// hold up a time-out or Ctrl-C for its keepalive period.
const KILL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Kills the shell `pid` through `inner` (a channel of its own) and forgets it as an orphan.
async fn kill_orphan<T: Transport>(inner: &T, orphans: &Orphans, pid: u32, host: &str) {
    let command = kill_command(pid);
    match tokio::time::timeout(KILL_TIMEOUT, inner.exec(ExecRequest::new(&command))).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::debug!("{host}: could not stop an abandoned command (shell {pid}): {e}")
        }
        Err(_) => tracing::debug!(
            "{host}: no answer within {KILL_TIMEOUT:?} while stopping an abandoned command"
        ),
    }
    if let Ok(mut list) = orphans.lock() {
        list.retain(|&p| p != pid);
    }
}

/// Armed while a command runs on the shell: dropped armed (the caller stopped waiting), it
/// records the shell as an orphan and starts killing it in the background.
struct AbandonGuard<T: Transport + 'static> {
    inner: Arc<T>,
    orphans: Orphans,
    host: String,
    pid: Option<u32>,
}

impl<T: Transport + 'static> AbandonGuard<T> {
    fn disarm(mut self) {
        self.pid = None;
    }
}

impl<T: Transport + 'static> Drop for AbandonGuard<T> {
    fn drop(&mut self) {
        let Some(pid) = self.pid else {
            return;
        };
        if let Ok(mut list) = self.orphans.lock() {
            list.push(pid);
        }
        // Without a runtime (it is shutting down) `close` still kills what is recorded.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (inner, orphans, host) =
                (self.inner.clone(), self.orphans.clone(), self.host.clone());
            runtime.spawn(async move { kill_orphan(&*inner, &orphans, pid, &host).await });
        }
    }
}

impl<T: Transport + 'static> ResidentShell<T> {
    /// Wraps `inner`; `name` is the host's name in messages.
    pub fn new(inner: T, name: impl Into<String>) -> Self {
        ResidentShell {
            inner: Arc::new(inner),
            name: name.into(),
            slot: Mutex::new(Slot::Empty),
            orphans: Orphans::default(),
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    fn broken(&self, reason: impl Into<String>) -> TransportError {
        TransportError::Channel {
            host: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// Starts a shell and checks that it runs a framed command; `Ok(None)` when the host's
    /// shell does not work this way (use channels instead).
    async fn start_shell(&self) -> Result<Option<Shell>, TransportError> {
        let mut session = match self
            .inner
            .start(StartRequest {
                command: "exec /bin/sh",
                pty: false,
            })
            .await
        {
            Ok(session) => session,
            Err(e) if e.is_unreachable() => return Err(e),
            Err(e) => {
                tracing::debug!("{}: no resident shell: {e}", self.name);
                return Ok(None);
            }
        };
        // In the command's subshell `$$` is still the resident shell's pid.
        let probe = tokio::time::timeout(
            START_TIMEOUT,
            self.run_framed(&mut session, "echo \"$$\"", None),
        );
        match probe.await {
            Ok(Ok(out)) if out.exit_code == 0 && shell_pid(&out.stdout).is_some() => {
                Ok(Some(Shell {
                    pid: shell_pid(&out.stdout).filter(|&pid| pid > 1),
                    session,
                }))
            }
            Ok(Err(e)) if e.is_unreachable() => Err(e),
            outcome => {
                tracing::debug!(
                    "{}: the resident shell did not answer as expected ({}); using a channel \
                     per command",
                    self.name,
                    match outcome {
                        Ok(Ok(out)) => format!("exit {}, stdout {:?}", out.exit_code, out.stdout),
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => format!("no answer within {START_TIMEOUT:?}"),
                    }
                );
                Ok(None)
            }
        }
    }

    /// Runs one command on the shell and reads its framed result.
    async fn run_framed(
        &self,
        session: &mut Box<dyn Session>,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        let token = random_id();
        let line = framed_line(command, stdin, &token);
        session.send(line.as_bytes()).await?;
        let mut reader = FrameReader::new(token.as_bytes());
        while !reader.done() {
            match session.output().await? {
                Some(Output::Stdout(data)) => reader.stdout(&data),
                Some(Output::Stderr(data)) => reader.stderr(&data),
                None => {
                    return Err(self.broken(
                        "the resident shell ended while a command ran, so its result is \
                         unknown (did the command kill its parent shell?)",
                    ))
                }
            }
        }
        reader
            .finish()
            .ok_or_else(|| self.broken("the resident shell reported a malformed exit status"))
    }
}

/// The pid the probe printed: one decimal number on one line.
fn shell_pid(stdout: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(stdout).ok()?;
    text.strip_suffix('\n')?.parse().ok()
}

/// The script of a command that is only `/bin/sh -c 'SCRIPT'`, as `Host::sh` writes them: the
/// resident shell is that same `/bin/sh`, so it can run the script itself and save a process.
/// A script that uses `$$` keeps its own `sh`: in a subshell `$$` is the resident shell's pid,
/// the same for every command, and scripts use it to make names unique.
fn own_sh_script(command: &str) -> Option<String> {
    let word = command.strip_prefix("/bin/sh -c ")?;
    let script = unquote_single_quoted(word)?;
    (!script.contains("$$")).then_some(script)
}

/// The value of one shell word made only of `'...'` pieces and `\'`, as `quote` writes them.
fn unquote_single_quoted(word: &str) -> Option<String> {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("\\'") {
            out.push('\'');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('\'') {
            let end = after.find('\'')?;
            out.push_str(&after[..end]);
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

/// The line of shell that runs `command` framed by `token`.
fn framed_line(command: &str, stdin: Option<&[u8]>, token: &str) -> String {
    let script = own_sh_script(command);
    let command = script.as_deref().unwrap_or(command);
    let input = match stdin {
        None => String::new(),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => format!("printf %s {} | ", quote(text)),
            _ => format!("printf {} | ", quote_bytes_printf(bytes)),
        },
    };
    let redirect = if stdin.is_some() { "" } else { " </dev/null" };
    format!(
        "{input}(eval {}){redirect}; __tend_rc=$?; printf '%s:%s\\n' {token} \"$__tend_rc\"; \
         printf '%s\\n' {token} >&2\n",
        quote(command)
    )
}

/// Collects one command's output up to the token on each stream.
struct FrameReader<'t> {
    token: &'t [u8],
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Where the token starts in each buffer, once seen.
    stdout_end: Option<usize>,
    stderr_end: Option<usize>,
}

impl<'t> FrameReader<'t> {
    fn new(token: &'t [u8]) -> Self {
        FrameReader {
            token,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_end: None,
            stderr_end: None,
        }
    }

    fn stdout(&mut self, data: &[u8]) {
        if self.stdout_end.is_none() {
            self.stdout_end = append_and_find(&mut self.stdout, data, self.token);
        } else {
            // The status line arrives in pieces after the token.
            self.stdout.extend_from_slice(data);
        }
    }

    fn stderr(&mut self, data: &[u8]) {
        // Anything after the token is a straggler from a background process: not ours.
        if self.stderr_end.is_none() {
            self.stderr_end = append_and_find(&mut self.stderr, data, self.token);
        }
    }

    /// Both tokens seen and the status line complete.
    fn done(&self) -> bool {
        self.stderr_end.is_some()
            && self
                .stdout_end
                .is_some_and(|at| self.stdout[at..].contains(&b'\n'))
    }

    fn finish(mut self) -> Option<ExecOutput> {
        let out_at = self.stdout_end?;
        let err_at = self.stderr_end?;
        let status = &self.stdout[out_at + self.token.len()..];
        let status = status.strip_prefix(b":")?;
        let end = status.iter().position(|&b| b == b'\n')?;
        let exit_code = std::str::from_utf8(&status[..end]).ok()?.parse().ok()?;
        self.stdout.truncate(out_at);
        self.stderr.truncate(err_at);
        Some(ExecOutput {
            exit_code,
            stdout: self.stdout,
            stderr: self.stderr,
        })
    }
}

/// Appends `data` to `buf` and looks for `token` in the part that could newly contain it.
fn append_and_find(buf: &mut Vec<u8>, data: &[u8], token: &[u8]) -> Option<usize> {
    let from = buf.len().saturating_sub(token.len() - 1);
    buf.extend_from_slice(data);
    buf[from..]
        .windows(token.len())
        .position(|w| w == token)
        .map(|at| from + at)
}

#[async_trait::async_trait]
impl<T: Transport + 'static> Transport for ResidentShell<T> {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        let inline_input = request.stdin.is_none_or(|s| s.len() <= MAX_INLINE_STDIN);
        if request.login_shell || !inline_input {
            return self.inner.exec(request).await;
        }
        // Busy with another command: that one keeps the shell, this one takes a channel.
        let Ok(mut slot) = self.slot.try_lock() else {
            return self.inner.exec(request).await;
        };
        // Out of the slot while it runs: if this future is dropped mid-command, the session
        // is dropped (its command abandoned) and the next command starts a fresh shell.
        let shell = match std::mem::replace(&mut *slot, Slot::Empty) {
            Slot::Ready(shell) => Some(shell),
            Slot::Disabled => None,
            Slot::Empty => self.start_shell().await?,
        };
        let Some(mut shell) = shell else {
            *slot = Slot::Disabled;
            drop(slot);
            return self.inner.exec(request).await;
        };
        let started = std::time::Instant::now();
        let guard = AbandonGuard {
            inner: self.inner.clone(),
            orphans: self.orphans.clone(),
            host: self.name.clone(),
            pid: shell.pid,
        };
        let result = self
            .run_framed(&mut shell.session, request.command, request.stdin)
            .await;
        guard.disarm();
        tracing::debug!(
            "{}: resident shell ran a command in {:?}",
            self.name,
            started.elapsed()
        );
        if result.is_ok() {
            *slot = Slot::Ready(shell);
        }
        result
    }

    async fn start(&self, request: StartRequest<'_>) -> Result<Box<dyn Session>, TransportError> {
        self.inner.start(request).await
    }

    async fn close(&self) {
        *self.slot.lock().await = Slot::Disabled;
        // Abandoned commands are stopped before the connection goes, or they would run on.
        let orphans: Vec<u32> = self
            .orphans
            .lock()
            .map(|list| list.clone())
            .unwrap_or_default();
        for pid in orphans {
            kill_orphan(&*self.inner, &self.orphans, pid, &self.name).await;
        }
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalTransport;

    fn shell() -> ResidentShell<LocalTransport> {
        ResidentShell::new(LocalTransport::new("local".to_string()), "local")
    }

    async fn run(t: &ResidentShell<LocalTransport>, cmd: &str) -> ExecOutput {
        t.exec(ExecRequest::new(cmd)).await.expect("exec")
    }

    #[test]
    fn own_sh_scripts_are_run_directly_unless_they_need_their_own_pid() {
        let cmd = format!("/bin/sh -c {}", quote("echo 'a' \"$x\"; ls"));
        assert_eq!(own_sh_script(&cmd).as_deref(), Some("echo 'a' \"$x\"; ls"));
        assert_eq!(own_sh_script("/bin/sh -c 'echo $$'"), None);
        assert_eq!(own_sh_script("/bin/sh -c 'a' b"), None);
        assert_eq!(own_sh_script("sudo /bin/sh -c 'a'"), None);
        assert_eq!(own_sh_script("/bin/sh -c 'unterminated"), None);
    }

    #[tokio::test]
    async fn exit_traps_and_set_e_behave_as_in_their_own_sh() {
        let t = shell();
        let dir = std::env::temp_dir().join(format!("tend-resident-{}", std::process::id()));
        let script = format!(
            "set -e; d={}; mkdir -p \"$d\"; trap 'rm -rf -- \"$d\"' EXIT; false; echo unreachable",
            dir.display()
        );
        let out = run(&t, &format!("/bin/sh -c {}", quote(&script))).await;
        assert_eq!((out.exit_code, out.stdout.as_slice()), (1, &b""[..]));
        assert!(!dir.exists());
        let pids = run(&t, "/bin/sh -c 'echo $$'; /bin/sh -c 'echo $$'").await;
        let pids = String::from_utf8_lossy(&pids.stdout).into_owned();
        let mut lines = pids.lines();
        assert_ne!(lines.next(), lines.next());
    }

    #[test]
    fn frames_are_found_across_chunk_boundaries() {
        let token = b"abcdefgh";
        let mut r = FrameReader::new(token);
        r.stdout(b"hello abc");
        r.stdout(b"defgh:4");
        assert!(!r.done());
        r.stderr(b"warn\nabcdefgh\nlate");
        r.stdout(b"2\n");
        assert!(r.done());
        let out = r.finish().expect("frame");
        assert_eq!(out.stdout, b"hello ");
        assert_eq!(out.stderr, b"warn\n");
        assert_eq!(out.exit_code, 42);
    }

    #[tokio::test]
    async fn output_streams_and_status_come_back_exactly() {
        let t = shell();
        let out = run(&t, "printf 'a\\nb'; printf 'err' >&2; exit 3").await;
        assert_eq!(out.stdout, b"a\nb");
        assert_eq!(out.stderr, b"err");
        assert_eq!(out.exit_code, 3);
        let out = run(&t, "printf 'no newline'").await;
        assert_eq!(
            (out.stdout.as_slice(), out.exit_code),
            (&b"no newline"[..], 0)
        );
        let out = run(&t, "sh -c 'kill -TERM $$'").await;
        assert_eq!(out.exit_code, 143);
    }

    #[tokio::test]
    async fn commands_cannot_touch_the_control_stream_or_each_other() {
        let t = shell();
        // Reading stdin sees the command's own (empty) input, not the next framed line.
        let out = run(&t, "cat; echo done").await;
        assert_eq!(out.stdout, b"done\n");
        run(&t, "cd /tmp; export TEND_X=1; exec true").await;
        let out = run(&t, "pwd; echo \"x=${TEND_X:-}\"").await;
        let home = std::env::var("HOME").unwrap_or_default();
        let cwd = std::env::current_dir().expect("cwd");
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            said.starts_with(&format!("{}\n", cwd.display())) || said.starts_with(&home),
            "{said}"
        );
        assert!(said.ends_with("x=\n"), "{said}");
        let out = run(&t, "exit 7").await;
        assert_eq!(out.exit_code, 7);
        assert_eq!(run(&t, "echo still here").await.stdout, b"still here\n");
    }

    #[tokio::test]
    async fn input_arrives_byte_for_byte() {
        let t = shell();
        for input in [
            &b"plain text\nwith 'quotes' and $dollars and `ticks`\n"[..],
            b"binary\0with nul\xff\xfe and %s %d \\n",
            b"",
        ] {
            let out = t
                .exec(ExecRequest::new("od -An -tx1 | tr -d ' \\n'").with_stdin(input))
                .await
                .expect("exec");
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(String::from_utf8_lossy(&out.stdout), hex);
        }
    }

    #[tokio::test]
    async fn overlapping_commands_both_finish() {
        let t = shell();
        let (a, b) = tokio::join!(run(&t, "sleep 0.2; echo a"), run(&t, "echo b"));
        assert_eq!((a.stdout, b.stdout), (b"a\n".to_vec(), b"b\n".to_vec()));
    }

    #[tokio::test]
    async fn a_dropped_command_leaves_a_working_shell_behind() {
        let t = shell();
        let slow = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            run(&t, "sleep 5; echo late"),
        )
        .await;
        assert!(slow.is_err());
        assert_eq!(run(&t, "echo next").await.stdout, b"next\n");
    }

    #[tokio::test]
    async fn a_command_killing_its_shell_is_an_error_not_a_result() {
        let t = shell();
        let err = t
            .exec(ExecRequest::new("kill -KILL $$"))
            .await
            .expect_err("shell gone");
        assert!(err.to_string().contains("resident shell ended"), "{err}");
        assert_eq!(run(&t, "echo again").await.stdout, b"again\n");
    }
}
