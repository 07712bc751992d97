//! Transports that wrap another transport to change how commands run (privilege escalation).

use std::sync::Arc;

use crate::{quote, ExecOutput, ExecRequest, Transport, TransportError};

/// Runs every command through passwordless `sudo` as another user (`become: true`).
pub struct BecomeTransport {
    inner: Arc<dyn Transport>,
    user: String,
}

impl BecomeTransport {
    pub fn new(inner: Arc<dyn Transport>, user: impl Into<String>) -> Self {
        BecomeTransport {
            inner,
            user: user.into(),
        }
    }

    /// The command line that runs `command` as the become user.
    pub fn wrap(&self, command: &str) -> String {
        // -n: never prompt (a password prompt would hang the channel); -H: the target user's HOME.
        format!(
            "sudo -H -n -u {} -- /bin/sh -c {}",
            quote(&self.user),
            quote(command)
        )
    }
}

#[async_trait::async_trait]
impl Transport for BecomeTransport {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        let wrapped = self.wrap(request.command);
        self.inner
            .exec(ExecRequest {
                command: &wrapped,
                stdin: request.stdin,
            })
            .await
    }

    async fn close(&self) {
        self.inner.close().await
    }
}

/// Exports environment variables for every command (`environment:` on a task or play).
pub struct EnvTransport {
    inner: Arc<dyn Transport>,
    exports: String,
}

impl EnvTransport {
    /// `vars` are exported in order; names must be valid shell identifiers.
    pub fn new(inner: Arc<dyn Transport>, vars: &[(String, String)]) -> Self {
        let exports = vars
            .iter()
            .map(|(k, v)| format!("{k}={}; export {k}; ", quote(v)))
            .collect();
        EnvTransport { inner, exports }
    }

    /// Whether `name` can be exported by a POSIX shell.
    pub fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
}

#[async_trait::async_trait]
impl Transport for EnvTransport {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        let command = format!("{}{}", self.exports, request.command);
        self.inner
            .exec(ExecRequest {
                command: &command,
                stdin: request.stdin,
            })
            .await
    }

    async fn close(&self) {
        self.inner.close().await
    }
}
