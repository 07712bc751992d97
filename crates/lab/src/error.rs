//! The lab's error type: every failure carries the host, address or path it concerns.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Everything that can go wrong while starting, using or tearing down a [`crate::Lab`].
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{path} not found: install openssh-server (apt-get install -y openssh-server)")]
    MissingSshd { path: PathBuf },

    #[error("{tool} not found: install {package} (apt-get install -y {package})")]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },

    #[error("/usr/bin/sudo not found: apt-get install sudo (needed for sudo users in lab hosts)")]
    MissingSudo,

    #[error("the lab needs root (it mounts overlayfs in private mount namespaces); running as uid {uid}")]
    NotRoot { uid: u32 },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },

    #[error(
        "invalid lab network {value:?}: {reason} (expected e.g. 127.81, 127.81.3 or 127.81.0.0/16)"
    )]
    BadNetwork { value: String, reason: String },

    #[error(
        "lab address {addr} is outside 127.0.0.0/8; the lab only ever uses loopback addresses"
    )]
    NotLoopback { addr: Ipv4Addr },

    #[error("{addr}:{port} is already taken ({reason}); refusing to start a host there")]
    AddressTaken {
        addr: Ipv4Addr,
        port: u16,
        reason: &'static str,
    },

    #[error("no free address left in {network}/{prefix} for {wanted} hosts (port {port})")]
    NoFreeAddress {
        network: Ipv4Addr,
        prefix: u8,
        wanted: usize,
        port: u16,
    },

    #[error("bad lab options: {0}")]
    Options(String),

    #[error("unusable lab directory {path}: {reason}")]
    BadDir { path: PathBuf, reason: String },

    #[error(
        "host {host} ({addr}) did not come up: {reason}\n--- sshd log ({log_path}) ---\n{log}"
    )]
    HostStart {
        host: String,
        addr: Ipv4Addr,
        reason: String,
        log_path: PathBuf,
        log: String,
    },

    #[error("no host with index {index}: the lab has {count} hosts (indices start at 0)")]
    HostIndex { index: usize, count: usize },

    #[error("host {host} is down (killed by kill_host or gone)")]
    HostDown { host: String },

    #[error("invalid user name {name:?}: use [a-z_][a-z0-9_-]*")]
    InvalidUser { name: String },

    #[error("adding user {user} on {host} failed ({status}): {stderr}")]
    AddUser {
        host: String,
        user: String,
        status: String,
        stderr: String,
    },

    #[error("teardown of {dir} incomplete: {}", problems.join("; "))]
    Teardown { dir: PathBuf, problems: Vec<String> },
}

impl LabError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Attach a context message to an `io::Result`, turning it into a [`LabError::Io`].
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, LabError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, LabError> {
        self.map_err(|e| LabError::io(context(), e))
    }
}
