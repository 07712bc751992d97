//! The transport contract: how tend runs a shell command on a managed host and gets its output back.
//!
//! Everything above this crate (modules, executor) talks to hosts only through [`Transport`];
//! SSH, local execution and the scripted test transport are interchangeable implementations.
//! Wrappers such as [`BecomeTransport`] add behaviour around any transport instead of inside it.

mod local;
mod quote;
mod scripted;
mod wrap;

use std::path::PathBuf;
use std::time::Duration;

pub use local::LocalTransport;
pub use quote::{quote, quote_bytes_printf};
pub use scripted::{ScriptedReply, ScriptedTransport};
pub use wrap::{BecomeTransport, EnvTransport};

/// One command to run on the host.
#[derive(Debug, Clone, Copy)]
pub struct ExecRequest<'a> {
    /// A POSIX `sh` command line, already quoted. It is run by the target user's login shell,
    /// as `ssh host 'command'` would.
    pub command: &'a str,
    /// Bytes written to the command's standard input, which is then closed.
    pub stdin: Option<&'a [u8]>,
}

impl<'a> ExecRequest<'a> {
    pub fn new(command: &'a str) -> Self {
        ExecRequest {
            command,
            stdin: None,
        }
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
    /// Bad local input (a missing key file, an unreadable known_hosts).
    #[error("{host}: {reason}")]
    Config { host: String, reason: String },
}

impl TransportError {
    /// Whether the host should be counted as unreachable (as opposed to a failed task).
    pub fn is_unreachable(&self) -> bool {
        !matches!(self, TransportError::Channel { .. })
    }
}

/// A live connection to one host. One per host for a whole run; shared by every task.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Runs one command and waits for it to finish.
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError>;

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
