//! An in-memory transport that answers from a script, for unit tests that need no host.

use std::sync::{Arc, Mutex};

use crate::{ExecOutput, ExecRequest, Transport, TransportError};

/// The answer a scripted host gives to one command.
pub type ScriptedReply = Result<ExecOutput, TransportError>;

type Handler = dyn Fn(&str, Option<&[u8]>) -> ScriptedReply + Send + Sync;

/// Answers every command with a closure and records what was asked.
#[derive(Clone)]
pub struct ScriptedTransport {
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<String>>>,
}

impl ScriptedTransport {
    pub fn new(
        handler: impl Fn(&str, Option<&[u8]>) -> ScriptedReply + Send + Sync + 'static,
    ) -> Self {
        ScriptedTransport {
            handler: Arc::new(handler),
            log: Arc::default(),
        }
    }

    /// The commands run so far, in order.
    pub fn commands(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Transport for ScriptedTransport {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        if let Ok(mut log) = self.log.lock() {
            log.push(request.command.to_string());
        }
        (self.handler)(request.command, request.stdin)
    }
}
