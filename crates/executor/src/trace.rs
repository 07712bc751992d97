//! `-vvv`: a transport wrapper that reports each command a task runs, with its exit status
//! and output, as an [`Event::Command`].

use std::sync::Arc;
use std::time::Instant;

use tend_transport::{ExecOutput, ExecRequest, Session, StartRequest, Transport, TransportError};

use crate::events::{CommandOutcome, CommandTrace, Event, EventSink};
use crate::run::PlayContext;

/// Reports the commands run through it to the event sink, then passes them on unchanged.
pub(crate) struct TraceTransport {
    inner: Arc<dyn Transport>,
    host: String,
    sink: Arc<dyn EventSink>,
}

/// `transport`, wrapped to report its commands when the run traces them (`-vvv`) and `shown`
/// (false for a `no_log` task).
pub(crate) fn traced(
    ctx: &PlayContext<'_>,
    shown: bool,
    transport: Arc<dyn Transport>,
    host: &str,
) -> Arc<dyn Transport> {
    if !(ctx.options.trace_commands && shown) {
        return transport;
    }
    Arc::new(TraceTransport {
        inner: transport,
        host: host.to_string(),
        sink: ctx.runtime.sink.clone(),
    })
}

impl TraceTransport {
    fn report(
        &self,
        command: &str,
        stdin_len: Option<usize>,
        outcome: CommandOutcome,
        output: Option<&ExecOutput>,
        started: Instant,
    ) {
        let (stdout, stderr) = output
            .map(|o| (o.stdout.clone(), o.stderr.clone()))
            .unwrap_or_default();
        self.sink.event(Event::Command(CommandTrace {
            host: self.host.clone(),
            command: command.to_string(),
            stdin_len,
            outcome,
            stdout,
            stderr,
            duration: started.elapsed(),
        }));
    }
}

#[async_trait::async_trait]
impl Transport for TraceTransport {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        let started = Instant::now();
        let result = self.inner.exec(request).await;
        let outcome = match &result {
            Ok(out) => CommandOutcome::Exited(out.exit_code),
            Err(e) => CommandOutcome::Error(e.to_string()),
        };
        let stdin_len = request.stdin.map(<[u8]>::len);
        self.report(
            request.command,
            stdin_len,
            outcome,
            result.as_ref().ok(),
            started,
        );
        result
    }

    async fn start(&self, request: StartRequest<'_>) -> Result<Box<dyn Session>, TransportError> {
        let started = Instant::now();
        let session = self.inner.start(request).await;
        // An interactive command's output is read by its caller as it arrives (and may hold
        // a password prompt's answer echoed back): only the start is reported.
        let outcome = match &session {
            Ok(_) => CommandOutcome::Started,
            Err(e) => CommandOutcome::Error(e.to_string()),
        };
        self.report(request.command, None, outcome, None, started);
        session
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}
