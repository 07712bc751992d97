//! The transport contract: how tend runs a shell command on a managed host and gets its output back.
//!
//! Everything above this crate (modules, executor) talks to hosts only through [`Transport`];
//! SSH, local execution and the scripted test transport are interchangeable implementations.
//! Wrappers such as [`BecomeTransport`] add behaviour around any transport instead of inside it.

mod local;
mod quote;
mod resident;
mod scripted;
mod wrap;

use std::path::PathBuf;
use std::time::Duration;

pub use local::LocalTransport;
pub use quote::{quote, quote_bytes_printf};
pub use resident::{ResidentShell, MAX_INLINE_STDIN};
pub use scripted::{ScriptedInput, ScriptedProgram, ScriptedReply, ScriptedTransport};
pub use wrap::{BecomeMethod, BecomeTransport, EnvTransport};

tokio::task_local! {
    static COMMANDS_HIDDEN: bool;
}

/// Runs `work` with the commands it sends to hosts kept out of logs (`no_log` tasks): a
/// command line can hold a secret, and transports log what they run at debug level.
pub async fn hide_commands<F: std::future::Future>(hidden: bool, work: F) -> F::Output {
    COMMANDS_HIDDEN.scope(hidden, work).await
}

/// Whether the command being run must not be logged (see [`hide_commands`]).
pub fn commands_hidden() -> bool {
    COMMANDS_HIDDEN.try_with(|h| *h).unwrap_or(false)
}

/// One command to run on the host.
#[derive(Debug, Clone, Copy)]
pub struct ExecRequest<'a> {
    /// A POSIX `sh` command line, already quoted. It is run by the target user's login shell,
    /// as `ssh host 'command'` would.
    pub command: &'a str,
    /// Bytes written to the command's standard input, which is then closed.
    pub stdin: Option<&'a [u8]>,
    /// The command is the user's own text for their login shell (`raw`), so it must run
    /// exactly as `ssh host 'command'` runs it, not in tend's resident `sh`.
    pub login_shell: bool,
}

impl<'a> ExecRequest<'a> {
    pub fn new(command: &'a str) -> Self {
        ExecRequest {
            command,
            stdin: None,
            login_shell: false,
        }
    }

    /// Marks the command as one for the user's login shell (see [`ExecRequest::login_shell`]).
    pub fn in_login_shell(mut self) -> Self {
        self.login_shell = true;
        self
    }

    pub fn with_stdin(mut self, stdin: &'a [u8]) -> Self {
        self.stdin = Some(stdin);
        self
    }
}

/// What a finished command left behind. stdout and stderr are kept apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// The exit status; a command killed by a signal reports `128 + signal`, as `sh` does.
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Why a command could not be run at all (as opposed to running and failing, which is an
/// [`ExecOutput`] with a non-zero exit code).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// The host could not be reached or the connection was lost: Ansible's "unreachable".
    #[error("{host}: unreachable: {reason}")]
    Unreachable { host: String, reason: String },
    /// The host's key is unknown or does not match `known_hosts`.
    #[error("{host}: host key verification failed: {reason}")]
    HostKey { host: String, reason: String },
    /// The server refused every authentication method we tried.
    #[error("{host}: authentication failed for user {user}: {reason}")]
    Auth {
        host: String,
        user: String,
        reason: String,
    },
    /// The connection is up but a command channel could not be used.
    #[error("{host}: {reason}")]
    Channel { host: String, reason: String },
    /// Privilege escalation failed before the command ran ("Incorrect sudo password"): a
    /// failed task, worded as Ansible words it.
    #[error("{reason}")]
    Become { reason: String },
    /// Bad local input (a missing key file, an unreadable known_hosts).
    #[error("{host}: {reason}")]
    Config { host: String, reason: String },
}

impl TransportError {
    /// Whether the host should be counted as unreachable (as opposed to a failed task).
    pub fn is_unreachable(&self) -> bool {
        !matches!(
            self,
            TransportError::Channel { .. } | TransportError::Become { .. }
        )
    }
}

/// A password (the become password): kept out of `Debug` output so it cannot reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The password itself; only for writing it to a prompt.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How to start an interactive command with [`Transport::start`].
#[derive(Debug, Clone, Copy)]
pub struct StartRequest<'a> {
    /// A POSIX `sh` command line, already quoted, as for [`ExecRequest::command`].
    pub command: &'a str,
    /// Run the command on a pseudo-terminal (as `ssh -tt` does), for programs that read a
    /// password only from a terminal. Its stdout and stderr then arrive merged, as
    /// [`Output::Stdout`]. Transports ask for a terminal without echo and without `\n` to
    /// `\r\n` translation where they can; the command should still not rely on it.
    pub pty: bool,
}

/// A piece of output from a [`Session`], as it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// A command started with [`Transport::start`]: its output is read as it arrives and its input
/// written when the caller decides, so that a prompt can be answered (`become` passwords).
/// Dropping a session abandons its command, as dropping an [`Transport::exec`] future does.
#[async_trait::async_trait]
pub trait Session: Send {
    /// The next piece of output, waiting for it; `None` once the command has finished.
    async fn output(&mut self) -> Result<Option<Output>, TransportError>;

    /// Writes `data` to the command's standard input, which stays open.
    async fn send(&mut self, data: &[u8]) -> Result<(), TransportError>;

    /// Writes `stdin` (if any), closes standard input, and collects the command's remaining
    /// output and its exit status. Output already returned by [`Session::output`] is not
    /// repeated.
    async fn finish(self: Box<Self>, stdin: Option<&[u8]>) -> Result<ExecOutput, TransportError>;
}

/// A live connection to one host. One per host for a whole run; shared by every task.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Runs one command and waits for it to finish.
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError>;

    /// Starts one command and hands back its live streams, for commands that must be answered
    /// while they run. Transports that cannot do this refuse.
    async fn start(&self, request: StartRequest<'_>) -> Result<Box<dyn Session>, TransportError> {
        let _ = request;
        Err(TransportError::Channel {
            host: String::new(),
            reason: "this connection cannot run interactive commands".into(),
        })
    }

    /// Closes the connection. Further `exec` calls fail.
    async fn close(&self) {}
}

/// How to connect to a host: what the inventory says, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSpec {
    /// The inventory name, used in messages.
    pub name: String,
    pub kind: ConnectionKind,
    /// `ansible_host`, or the inventory name.
    pub address: String,
    pub port: u16,
    pub user: String,
    /// `ansible_ssh_private_key_file`; when absent the agent and the default key files are tried.
    pub private_key_file: Option<PathBuf>,
    /// Passphrase for an encrypted key file.
    pub key_passphrase: Option<String>,
    pub known_hosts: KnownHostsPolicy,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    Ssh,
    Local,
}

/// How host keys are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHostsPolicy {
    /// Files to read keys from, in order; new keys are appended to the first.
    pub files: Vec<PathBuf>,
    pub mode: HostKeyMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyMode {
    /// Refuse unknown and changed keys (the default).
    Strict,
    /// Record unknown keys in the first known_hosts file; refuse changed keys.
    AcceptNew,
    /// Accept any key (`host_key_checking = False`).
    Off,
}

/// Opens connections. The executor holds one of these so tests can substitute scripted hosts.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    async fn connect(
        &self,
        spec: &ConnectionSpec,
    ) -> Result<std::sync::Arc<dyn Transport>, TransportError>;
}
