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
