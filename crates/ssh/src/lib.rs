//! SSH transport on russh: one authenticated connection per host, many channels over it.
//!
//! [`SshTransport`] is the connection; [`SshConnector`] is what the executor holds to open one
//! per host (or a [`LocalTransport`] for `ansible_connection: local`). Host keys are checked
//! by tend's own known_hosts reader in [`known_hosts`], as strictly as OpenSSH does.

mod auth;
mod client;
pub mod known_hosts;

use std::sync::Arc;

use tend_transport::{
    ConnectionKind, ConnectionSpec, Connector, LocalTransport, ResidentShell, Transport,
    TransportError,
};

pub use auth::{key_is_encrypted, load_private_key, KeyError};
pub use client::{SshTransport, MAX_CONCURRENT_CHANNELS};

/// Opens an [`SshTransport`] for SSH hosts, with a [`ResidentShell`] running their commands,
/// and a [`LocalTransport`] for local ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct SshConnector;

impl SshConnector {
    pub fn new() -> Self {
        SshConnector
    }
}

#[async_trait::async_trait]
impl Connector for SshConnector {
    async fn connect(&self, spec: &ConnectionSpec) -> Result<Arc<dyn Transport>, TransportError> {
        match spec.kind {
            ConnectionKind::Ssh => Ok(Arc::new(ResidentShell::new(
                SshTransport::connect(spec).await?,
                spec.name.clone(),
            ))),
            ConnectionKind::Local => Ok(Arc::new(LocalTransport::new(spec.name.clone()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tend_transport::{ExecRequest, HostKeyMode, KnownHostsPolicy};

    #[tokio::test]
    async fn local_hosts_get_the_local_transport() {
        let spec = ConnectionSpec {
            name: "localhost".into(),
            kind: ConnectionKind::Local,
            address: "localhost".into(),
            port: 22,
            user: "nobody".into(),
            private_key_file: None,
            key_passphrase: None,
            known_hosts: KnownHostsPolicy {
                files: vec![],
                mode: HostKeyMode::Strict,
            },
            connect_timeout: Duration::from_secs(1),
        };
        let transport = SshConnector::new().connect(&spec).await.expect("local");
        let out = transport
            .exec(ExecRequest::new("echo hi"))
            .await
            .expect("runs");
        assert_eq!(out.stdout, b"hi\n");
    }
}
