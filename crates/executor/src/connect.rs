//! Connections: what the inventory says about reaching a host, and a transport that connects
//! on first use so a host is only contacted (and only found unreachable) when a task needs it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tend_template::Templater;
use tend_transport::{
    ConnectionKind, ConnectionSpec, Connector, ExecOutput, ExecRequest, Session, StartRequest,
    Transport, TransportError,
};
use tokio::sync::OnceCell;

use crate::vars::resolve_templated;
use crate::RunOptions;

/// One host's connection for the whole run, opened by the first command that needs it.
pub(crate) struct LazyConnection {
    connector: Arc<dyn Connector>,
    spec: Result<ConnectionSpec, TransportError>,
    open: OnceCell<Arc<dyn Transport>>,
}

impl LazyConnection {
    pub(crate) fn new(
        connector: Arc<dyn Connector>,
        spec: Result<ConnectionSpec, TransportError>,
    ) -> Self {
        LazyConnection {
            connector,
            spec,
            open: OnceCell::new(),
        }
    }

    async fn transport(&self) -> Result<&Arc<dyn Transport>, TransportError> {
        self.open
            .get_or_try_init(|| async {
                let spec = self.spec.as_ref().map_err(Clone::clone)?;
                self.connector.connect(spec).await
            })
            .await
    }

    /// Closes the connection if it was ever opened.
    pub(crate) async fn shutdown(&self) {
        if let Some(t) = self.open.get() {
            t.close().await;
        }
    }
}

#[async_trait::async_trait]
impl Transport for LazyConnection {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        self.transport().await?.exec(request).await
    }

    async fn start(&self, request: StartRequest<'_>) -> Result<Box<dyn Session>, TransportError> {
        self.transport().await?.start(request).await
    }

    async fn close(&self) {
        self.shutdown().await
    }
}

/// The connection settings for a host from its variables (`ansible_host`, `ansible_port`,
/// `ansible_user`, ...), which may themselves be templates.
pub(crate) fn connection_spec(
    name: &str,
    host_vars: &Map<String, Value>,
    play: &tend_playbook::Play,
    options: &RunOptions,
    templater: &Templater,
) -> Result<ConnectionSpec, TransportError> {
    let mut vars = host_vars.clone();
    vars.extend(play.vars.clone());
    vars.extend(options.extra_vars.clone());
    vars.insert("inventory_hostname".into(), Value::String(name.to_string()));
    resolve_templated(templater, &mut vars, &[]);
    let text = |k: &str| -> Option<String> {
        vars.get(k).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let config_error = |reason: String| TransportError::Config {
        host: name.to_string(),
        reason,
    };
    // Variables win over the play's `connection` keyword, as in Ansible.
    let kind = match text("ansible_connection")
        .or_else(|| play.connection.clone())
        .as_deref()
    {
        None | Some("ssh" | "smart" | "paramiko" | "paramiko_ssh") => ConnectionKind::Ssh,
        Some("local") => ConnectionKind::Local,
        Some(other) => {
            return Err(config_error(format!(
                "unsupported ansible_connection `{other}`"
            )))
        }
    };
    let port = match text("ansible_port").or_else(|| text("ansible_ssh_port")) {
        Some(p) => p
            .parse()
            .map_err(|_| config_error(format!("invalid ansible_port `{p}`")))?,
        None => 22,
    };
    let user = text("ansible_user")
        .or_else(|| text("ansible_ssh_user"))
        .or_else(|| options.remote_user.clone())
        .or_else(|| play.remote_user.clone())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    Ok(ConnectionSpec {
        name: name.to_string(),
        kind,
        address: text("ansible_host")
            .or_else(|| text("ansible_ssh_host"))
            .unwrap_or_else(|| name.to_string()),
        port,
        user,
        private_key_file: text("ansible_ssh_private_key_file")
            .or_else(|| text("ansible_private_key_file"))
            .map(PathBuf::from)
            .or_else(|| options.private_key_file.clone()),
        key_passphrase: options.key_passphrase.clone(),
        known_hosts: options.known_hosts.clone(),
        connect_timeout: text("ansible_ssh_timeout")
            .or_else(|| text("ansible_timeout"))
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(options.connect_timeout),
    })
}
