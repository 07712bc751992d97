//! An in-memory transport that answers from a script, for unit tests that need no host.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::{ExecOutput, ExecRequest, Output, Session, StartRequest, Transport, TransportError};

/// The answer a scripted host gives to one command.
pub type ScriptedReply = Result<ExecOutput, TransportError>;

type Handler = dyn Fn(&str, Option<&[u8]>) -> ScriptedReply + Send + Sync;

/// What a scripted interactive command (see [`ScriptedTransport::with_sessions`]) is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptedInput<'a> {
    /// The command has just started.
    Start,
    /// Bytes written to its standard input.
    Data(&'a [u8]),
    /// Its standard input was closed.
    Eof,
}

/// A scripted interactive command: answers each input with output and, once it is done, an
/// exit status (`Some`).
pub type ScriptedProgram =
    Box<dyn FnMut(ScriptedInput<'_>) -> (Vec<Output>, Option<i32>) + Send + 'static>;

type SessionFactory = dyn Fn(&str, bool) -> ScriptedProgram + Send + Sync;

/// Answers every command with a closure and records what was asked.
#[derive(Clone)]
pub struct ScriptedTransport {
    handler: Arc<Handler>,
    sessions: Option<Arc<SessionFactory>>,
    log: Arc<Mutex<Vec<String>>>,
    ptys: Arc<Mutex<Vec<bool>>>,
}

impl ScriptedTransport {
    pub fn new(
        handler: impl Fn(&str, Option<&[u8]>) -> ScriptedReply + Send + Sync + 'static,
    ) -> Self {
        ScriptedTransport {
            handler: Arc::new(handler),
            sessions: None,
            log: Arc::default(),
            ptys: Arc::default(),
        }
    }

    /// Interactive commands ([`Transport::start`]) are run by the program `factory` makes for
    /// each command line and pty flag. Without this, an interactive command says nothing until
    /// its input is closed and then answers as the `exec` handler does.
    pub fn with_sessions(
        mut self,
        factory: impl Fn(&str, bool) -> ScriptedProgram + Send + Sync + 'static,
    ) -> Self {
        self.sessions = Some(Arc::new(factory));
        self
    }

    /// The commands run so far (by `exec` and `start`), in order.
    pub fn commands(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// For each command started interactively, whether it asked for a pty.
    pub fn pty_requests(&self) -> Vec<bool> {
        self.ptys.lock().map(|l| l.clone()).unwrap_or_default()
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

    async fn start(&self, request: StartRequest<'_>) -> Result<Box<dyn Session>, TransportError> {
        if let Ok(mut log) = self.log.lock() {
            log.push(request.command.to_string());
        }
        if let Ok(mut ptys) = self.ptys.lock() {
            ptys.push(request.pty);
        }
        let program: ScriptedProgram = match &self.sessions {
            Some(factory) => factory(request.command, request.pty),
            None => {
                let handler = self.handler.clone();
                let command = request.command.to_string();
                let mut input = Vec::new();
                Box::new(move |event| match event {
                    ScriptedInput::Start => (Vec::new(), None),
                    ScriptedInput::Data(d) => {
                        input.extend_from_slice(d);
                        (Vec::new(), None)
                    }
                    ScriptedInput::Eof => match handler(&command, Some(&input)) {
                        Ok(out) => (
                            vec![Output::Stdout(out.stdout), Output::Stderr(out.stderr)],
                            Some(out.exit_code),
                        ),
                        Err(_) => (Vec::new(), Some(255)),
                    },
                })
            }
        };
        let mut session = ScriptedSession {
            program,
            queue: VecDeque::new(),
            exit: None,
        };
        session.feed(ScriptedInput::Start);
        Ok(Box::new(session))
    }
}

struct ScriptedSession {
    program: ScriptedProgram,
    queue: VecDeque<Output>,
    exit: Option<i32>,
}

impl ScriptedSession {
    fn feed(&mut self, input: ScriptedInput<'_>) {
        if self.exit.is_some() {
            return;
        }
        let (output, exit) = (self.program)(input);
        self.queue.extend(output);
        self.exit = exit;
    }
}

#[async_trait::async_trait]
impl Session for ScriptedSession {
    async fn output(&mut self) -> Result<Option<Output>, TransportError> {
        if let Some(out) = self.queue.pop_front() {
            return Ok(Some(out));
        }
        if self.exit.is_some() {
            return Ok(None);
        }
        // A command that waits for input it will never get, as a real one would.
        std::future::pending().await
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.feed(ScriptedInput::Data(data));
        Ok(())
    }

    async fn finish(
        mut self: Box<Self>,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        if let Some(data) = stdin {
            self.feed(ScriptedInput::Data(data));
        }
        self.feed(ScriptedInput::Eof);
        let mut out = ExecOutput::default();
        for piece in self.queue.drain(..) {
            match piece {
                Output::Stdout(d) => out.stdout.extend(d),
                Output::Stderr(d) => out.stderr.extend(d),
            }
        }
        out.exit_code = self.exit.ok_or_else(|| TransportError::Channel {
            host: "scripted".into(),
            reason: "the scripted command never exited".into(),
        })?;
        Ok(out)
    }
}
