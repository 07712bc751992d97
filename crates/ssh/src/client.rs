//! The SSH connection to one host: connecting, host key checking, and running commands over it.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, DisconnectReason, Handle, Msg};
use russh::keys::{Algorithm, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Disconnect, Sig};
use tend_transport::{
    ConnectionSpec, ExecOutput, ExecRequest, HostKeyMode, Output, Session, StartRequest, Transport,
    TransportError,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::auth::{Authenticator, Credentials, KeyError};
use crate::known_hosts::{self, HostKey, HostKeyError, KnownHosts};

/// Commands in flight on one connection. OpenSSH refuses a connection's eleventh session
/// (`MaxSessions 10`), and a just-closed session lingers on the server for a moment, so tend
/// stays below the limit instead of leaning on retries.
pub const MAX_CONCURRENT_CHANNELS: usize = 8;

/// How many times a refused channel open is retried, and the first pause between tries
/// (doubled each time).
const CHANNEL_OPEN_ATTEMPTS: u32 = 6;
const CHANNEL_OPEN_BACKOFF: Duration = Duration::from_millis(50);

/// How long an abandoned command gets to finish before its channel is closed regardless.
const ABANDON_GRACE: Duration = Duration::from_secs(10);

/// A host that answers nothing for `KEEPALIVE_INTERVAL * (KEEPALIVE_MAX + 1)` is given up on.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_MAX: usize = 3;

/// Why the connection ended, as far as the handler learned it; shared with the transport so a
/// command that loses its connection can say why.
type DisconnectNote = Arc<Mutex<Option<String>>>;

/// Errors raised inside russh's session task by [`ClientHandler`].
#[derive(Debug, thiserror::Error)]
enum HandlerError {
    #[error(transparent)]
    Ssh(#[from] russh::Error),
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
}

/// russh's callbacks for one connection: host key checking and noting disconnects.
struct ClientHandler {
    spec: Arc<ConnectionSpec>,
    disconnect: DisconnectNote,
}

impl client::Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // Host certificates are never requested, but should one come anyway its key is judged
        // as a plain key, which is what ssh falls back to without a matching @cert-authority.
        let public = server_public_key.public_key();
        let key = public
            .to_bytes()
            .ok()
            .and_then(HostKey::from_blob)
            .ok_or(russh::Error::UnknownKey)?;
        let accepted = known_hosts::verify(
            &self.spec.known_hosts,
            &self.spec.address,
            self.spec.port,
            &key,
        )?;
        tracing::debug!("{}: host key {key} accepted: {accepted:?}", self.spec.name);
        Ok(true)
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let (note, result) = match reason {
            DisconnectReason::ReceivedDisconnect(info) => (
                format!(
                    "the server disconnected ({:?}{}{})",
                    info.reason_code,
                    if info.message.is_empty() { "" } else { ": " },
                    info.message
                ),
                Ok(()),
            ),
            DisconnectReason::Error(e) => (describe_handler_error(&e), Err(e)),
        };
        if let Ok(mut slot) = self.disconnect.lock() {
            slot.get_or_insert(note);
        }
        result
    }
}

/// Words for why a connection ended, rather than russh's terse ones ("early eof").
fn describe_handler_error(error: &HandlerError) -> String {
    use std::io::ErrorKind;
    match error {
        HandlerError::Ssh(russh::Error::IO(e)) => match e.kind() {
            ErrorKind::UnexpectedEof => "the remote side closed the connection".to_owned(),
            ErrorKind::ConnectionReset => "connection reset by peer".to_owned(),
            ErrorKind::BrokenPipe => {
                "the remote side closed the connection (broken pipe)".to_owned()
            }
            _ => e.to_string(),
        },
        HandlerError::Ssh(russh::Error::KeepaliveTimeout) => format!(
            "the host stopped answering (no reply to {KEEPALIVE_MAX} keepalives, {}s apart)",
            KEEPALIVE_INTERVAL.as_secs()
        ),
        HandlerError::Ssh(russh::Error::HUP | russh::Error::Disconnect) => {
            "the remote side closed the connection".to_owned()
        }
        other => other.to_string(),
    }
}

/// A live, authenticated SSH connection to one host. Cheap to clone: clones share the one
/// connection, and every [`Transport::exec`] opens its own channel on it.
#[derive(Clone)]
pub struct SshTransport {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    handle: Handle<ClientHandler>,
    channels: Semaphore,
    disconnect: DisconnectNote,
}

impl std::fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTransport")
            .field("name", &self.inner.name)
            .field("closed", &self.inner.handle.is_closed())
            .finish()
    }
}

fn unreachable(spec: &ConnectionSpec, reason: impl Into<String>) -> TransportError {
    TransportError::Unreachable {
        host: spec.name.clone(),
        reason: reason.into(),
    }
}

fn key_error(spec: &ConnectionSpec, error: KeyError) -> TransportError {
    TransportError::Config {
        host: spec.name.clone(),
        reason: error.to_string(),
    }
}

/// Words for a failed TCP connect, as ssh prints them.
fn describe_connect_error(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::HostUnreachable => "no route to host".to_owned(),
        ErrorKind::NetworkUnreachable => "network is unreachable".to_owned(),
        ErrorKind::TimedOut => "connection timed out".to_owned(),
        _ => error.to_string(),
    }
}

/// Host key algorithms, those already recorded for the host first, so that the server proves
/// itself with a key we can check instead of one nobody recorded.
fn preferred_host_key_algorithms(known_types: &[String]) -> Vec<Algorithm> {
    let defaults = russh::Preferred::DEFAULT.key.to_vec();
    let is_known = |alg: &Algorithm| {
        known_types.iter().any(|t| {
            if matches!(alg, Algorithm::Rsa { .. }) {
                t == "ssh-rsa"
            } else {
                alg.as_str() == t
            }
        })
    };
    let (mut first, rest): (Vec<Algorithm>, Vec<Algorithm>) =
        defaults.into_iter().partition(|alg| is_known(alg));
    first.extend(rest);
    first
}

async fn tcp_connect(spec: &ConnectionSpec) -> Result<TcpStream, TransportError> {
    let addrs: Vec<std::net::SocketAddr> =
        tokio::net::lookup_host((spec.address.as_str(), spec.port))
            .await
            .map_err(|e| {
                unreachable(
                    spec,
                    format!("cannot resolve host name {}: {e}", spec.address),
                )
            })?
            .collect();
    if addrs.is_empty() {
        return Err(unreachable(
            spec,
            format!("host name {} resolves to no address", spec.address),
        ));
    }
    let mut reasons = Vec::new();
    for addr in addrs {
        match tokio::time::timeout(spec.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Commands are small request/response exchanges; Nagle only adds latency.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!("{}: cannot set TCP_NODELAY: {e}", spec.name);
                }
                return Ok(stream);
            }
            Ok(Err(e)) => reasons.push(format!("{addr}: {}", describe_connect_error(&e))),
            Err(_) => reasons.push(format!(
                "{addr}: connection timed out after {}s",
                spec.connect_timeout.as_secs_f64()
            )),
        }
    }
    Err(unreachable(spec, reasons.join("; ")))
}

impl SshTransport {
    /// Connects, checks the host key against the policy, and authenticates.
    pub async fn connect(spec: &ConnectionSpec) -> Result<SshTransport, TransportError> {
        let credentials = Credentials::from_spec(spec).map_err(|e| key_error(spec, e))?;
        let known_types = match spec.known_hosts.mode {
            HostKeyMode::Off => Vec::new(),
            _ => KnownHosts::load(&spec.known_hosts.files)
                .map_err(|e| TransportError::Config {
                    host: spec.name.clone(),
                    reason: e.to_string(),
                })?
                .known_key_types(&spec.address, spec.port),
        };
        let preferred = russh::Preferred {
            key: Cow::Owned(preferred_host_key_algorithms(&known_types)),
            ..russh::Preferred::default()
        };
        let config = Arc::new(client::Config {
            nodelay: true,
            keepalive_interval: Some(KEEPALIVE_INTERVAL),
            keepalive_max: KEEPALIVE_MAX,
            inactivity_timeout: None,
            preferred,
            ..client::Config::default()
        });

        let disconnect = DisconnectNote::default();
        let handler = ClientHandler {
            spec: Arc::new(spec.clone()),
            disconnect: disconnect.clone(),
        };
        let stream = tcp_connect(spec).await?;
        // ssh's ConnectTimeout covers the banner exchange too: a port that accepts and then
        // says nothing must not hang the run.
        let handshake = tokio::time::timeout(
            spec.connect_timeout,
            client::connect_stream(config, stream, handler),
        )
        .await;
        let mut handle = match handshake {
            Err(_) => {
                return Err(unreachable(
                    spec,
                    format!(
                        "timed out after {}s waiting for the SSH handshake",
                        spec.connect_timeout.as_secs_f64()
                    ),
                ))
            }
            Ok(Err(HandlerError::HostKey(HostKeyError::Files(e)))) => {
                return Err(TransportError::Config {
                    host: spec.name.clone(),
                    reason: e.to_string(),
                })
            }
            Ok(Err(HandlerError::HostKey(e))) => {
                return Err(TransportError::HostKey {
                    host: spec.name.clone(),
                    reason: e.to_string(),
                })
            }
            Ok(Err(e)) => {
                let note = disconnect.lock().ok().and_then(|slot| slot.clone());
                return Err(unreachable(
                    spec,
                    format!(
                        "SSH handshake failed: {}",
                        note.unwrap_or_else(|| describe_handler_error(&e))
                    ),
                ));
            }
            Ok(Ok(handle)) => handle,
        };

        Authenticator::new(&mut handle, &spec.name, &spec.user)
            .run(&credentials)
            .await?;
        tracing::debug!(
            "{}: connected to {}:{} as {}",
            spec.name,
            spec.address,
            spec.port,
            spec.user
        );
        Ok(SshTransport {
            inner: Arc::new(Inner {
                name: spec.name.clone(),
                handle,
                channels: Semaphore::new(MAX_CONCURRENT_CHANNELS),
                disconnect,
            }),
        })
    }

    /// Whether the connection has ended (closed by us, by the server, or lost).
    pub fn is_closed(&self) -> bool {
        self.inner.handle.is_closed()
    }

    fn connection_lost(&self) -> TransportError {
        let note = self
            .inner
            .disconnect
            .lock()
            .ok()
            .and_then(|slot| slot.clone());
        TransportError::Unreachable {
            host: self.inner.name.clone(),
            reason: match note {
                Some(why) => format!("connection lost: {why}"),
                None => "connection lost".to_owned(),
            },
        }
    }

    fn channel_error(&self, reason: impl Into<String>) -> TransportError {
        TransportError::Channel {
            host: self.inner.name.clone(),
            reason: reason.into(),
        }
    }

    async fn open_channel(&self) -> Result<Channel<Msg>, TransportError> {
        let mut pause = CHANNEL_OPEN_BACKOFF;
        let mut attempt = 1;
        loop {
            match self.inner.handle.channel_open_session().await {
                Ok(channel) => return Ok(channel),
                Err(russh::Error::ChannelOpenFailure(why)) => {
                    if attempt >= CHANNEL_OPEN_ATTEMPTS {
                        return Err(self.channel_error(format!(
                            "the server refused to open a session channel {attempt} times ({}); \
                             is its MaxSessions below {MAX_CONCURRENT_CHANNELS}?",
                            why.description()
                        )));
                    }
                    tracing::debug!(
                        "{}: channel open refused ({}), retrying in {pause:?}",
                        self.inner.name,
                        why.description()
                    );
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                Err(_) => return Err(self.connection_lost()),
            }
        }
    }
}

/// `128 + signal number`, as a shell reports a command killed by a signal. The numbers are
/// Linux's, which is what managed hosts run; an unknown name gives 255, ssh's own failure code.
fn signal_exit_code(signal: &Sig) -> i32 {
    let number = match signal {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(name) => match name.as_str() {
            "TRAP" => 5,
            "BUS" => 7,
            "USR2" => 12,
            "STKFLT" => 16,
            "CHLD" => 17,
            "CONT" => 18,
            "STOP" => 19,
            "TSTP" => 20,
            "TTIN" => 21,
            "TTOU" => 22,
            "URG" => 23,
            "XCPU" => 24,
            "XFSZ" => 25,
            "VTALRM" => 26,
            "PROF" => 27,
            "WINCH" => 28,
            "IO" => 29,
            "PWR" => 30,
            "SYS" => 31,
            _ => return 255,
        },
    };
    128 + number
}

/// One command, owned, so it can run in its own task.
struct Job {
    command: String,
    stdin: Option<Vec<u8>>,
}

impl SshTransport {
    /// Runs `job` on a fresh channel. `cancel` resolves when the caller stops waiting; the
    /// channel is then wound down here, since nobody else will.
    async fn run_job(
        &self,
        job: Job,
        mut cancel: oneshot::Receiver<()>,
    ) -> Result<ExecOutput, TransportError> {
        let abandoned = || self.channel_error("the caller stopped waiting for the command");
        // Held until the channel is closed, so a cancelled command still counts against the
        // server's MaxSessions while it winds down.
        let _permit = tokio::select! {
            permit = self.inner.channels.acquire() => permit
                .map_err(|_| self.channel_error("the connection was closed by tend"))?,
            _ = &mut cancel => return Err(abandoned()),
        };
        if self.inner.handle.is_closed() {
            return Err(self.connection_lost());
        }
        // Not cancellable: a channel the server opened must be closed again, or its session
        // stays allocated until the connection ends.
        let channel = self.open_channel().await?;
        let (mut read, write) = channel.split();
        if !matches!(cancel.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
            // No command was started, so the server frees the session as soon as it is closed.
            let _ = write.close().await;
            return Err(abandoned());
        }
        if write.exec(true, job.command).await.is_err() {
            return Err(self.connection_lost());
        }
        let write = &write;
        let stdin = job.stdin;
        // Input is written while output is read: a command may fill its output window before
        // it reads all its input, and one that never reads it must not stall us either.
        let mut feed = Box::pin(async move {
            if let Some(data) = stdin {
                write.data_bytes(data).await?;
            }
            write.eof().await
        });
        let mut feeding = true;
        let mut output = ExecOutput::default();
        let mut exit_code = None;
        loop {
            tokio::select! {
                fed = &mut feed, if feeding => {
                    feeding = false;
                    if let Err(e) = fed {
                        tracing::debug!("{}: stdin not fully written: {e}", self.inner.name);
                    }
                }
                _ = &mut cancel => {
                    drop(feed);
                    wind_down(&self.inner.name, write, &mut read).await;
                    return Err(abandoned());
                }
                msg = read.wait() => match msg {
                    Some(ChannelMsg::Data { data }) => output.stdout.extend_from_slice(&data),
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                        output.stderr.extend_from_slice(&data)
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        exit_code = Some(i32::try_from(exit_status).unwrap_or(255))
                    }
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        exit_code = Some(signal_exit_code(&signal_name))
                    }
                    // Without a command the server would keep the channel open forever.
                    Some(ChannelMsg::Failure) => {
                        drop(feed);
                        let _ = write.close().await;
                        return Err(self.channel_error("the server refused to run the command"));
                    }
                    // russh has already answered the server's close; the channel is done.
                    Some(ChannelMsg::Close) => break,
                    Some(_) => {}
                    // The session task dropped the channel: the connection is gone.
                    None if exit_code.is_some() => break,
                    None => return Err(self.connection_lost()),
                },
            }
        }

        match exit_code {
            Some(code) => {
                output.exit_code = code;
                Ok(output)
            }
            None if self.inner.handle.is_closed() => Err(self.connection_lost()),
            None => Err(self.channel_error("the command's channel closed without an exit status")),
        }
    }
}

/// What an [`SshSession`] asks its channel task to do.
enum Control {
    Data(Vec<u8>),
    Eof,
}

/// What the channel task of an [`SshSession`] reports.
enum Event {
    Output(Output),
    Exit(i32),
    Failed(TransportError),
}

/// A command started with [`Transport::start`]: a task owns the channel (so that dropping the
/// session winds the command down, as with `exec`) and talks to this handle by messages.
struct SshSession {
    name: String,
    control: mpsc::UnboundedSender<Control>,
    events: mpsc::UnboundedReceiver<Event>,
    exit: Option<i32>,
}

impl SshSession {
    fn lost(&self) -> TransportError {
        TransportError::Channel {
            host: self.name.clone(),
            reason: "the command's channel task ended unexpectedly".into(),
        }
    }
}

#[async_trait::async_trait]
impl Session for SshSession {
    async fn output(&mut self) -> Result<Option<Output>, TransportError> {
        if self.exit.is_some() {
            return Ok(None);
        }
        match self.events.recv().await {
            Some(Event::Output(o)) => Ok(Some(o)),
            Some(Event::Exit(code)) => {
                self.exit = Some(code);
                Ok(None)
            }
            Some(Event::Failed(e)) => Err(e),
            None => Err(self.lost()),
        }
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.control
            .send(Control::Data(data.to_vec()))
            .map_err(|_| self.lost())
    }

    async fn finish(
        mut self: Box<Self>,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        if let Some(data) = stdin {
            let _ = self.control.send(Control::Data(data.to_vec()));
        }
        let _ = self.control.send(Control::Eof);
        let mut out = ExecOutput::default();
        while let Some(piece) = self.output().await? {
            match piece {
                Output::Stdout(d) => out.stdout.extend(d),
                Output::Stderr(d) => out.stderr.extend(d),
            }
        }
        out.exit_code = self.exit.unwrap_or(255);
        Ok(out)
    }
}

impl SshTransport {
    /// The channel task of an [`SshSession`]: opens the channel (with a pty if asked), runs
    /// the command, writes what the session sends while forwarding output, and winds the
    /// command down if the session is dropped before it finished.
    async fn run_session(
        &self,
        command: String,
        pty: bool,
        mut control: mpsc::UnboundedReceiver<Control>,
        events: mpsc::UnboundedSender<Event>,
    ) {
        let result = self
            .drive_session(command, pty, &mut control, &events)
            .await;
        let event = match result {
            Ok(Some(code)) => Event::Exit(code),
            Ok(None) => return,
            Err(e) => Event::Failed(e),
        };
        let _ = events.send(event);
    }

    async fn drive_session(
        &self,
        command: String,
        pty: bool,
        control: &mut mpsc::UnboundedReceiver<Control>,
        events: &mpsc::UnboundedSender<Event>,
    ) -> Result<Option<i32>, TransportError> {
        let _permit = tokio::select! {
            permit = self.inner.channels.acquire() => permit
                .map_err(|_| self.channel_error("the connection was closed by tend"))?,
            _ = events.closed() => return Ok(None),
        };
        if self.inner.handle.is_closed() {
            return Err(self.connection_lost());
        }
        let channel = self.open_channel().await?;
        let (mut read, write) = channel.split();
        if events.is_closed() {
            let _ = write.close().await;
            return Ok(None);
        }
        if pty {
            // No echo and no \n -> \r\n: what the command prints comes back as printed.
            let modes = [(russh::Pty::ECHO, 0), (russh::Pty::ONLCR, 0)];
            if write
                .request_pty(false, "dumb", 80, 24, 0, 0, &modes)
                .await
                .is_err()
            {
                return Err(self.connection_lost());
            }
        }
        if write.exec(true, command).await.is_err() {
            return Err(self.connection_lost());
        }
        let write = &write;
        // Input is written in order while output is read, as in `run_job`. Ok(true): stdin was
        // closed; Ok(false): the session was dropped.
        let mut feed = Box::pin(async move {
            while let Some(msg) = control.recv().await {
                match msg {
                    Control::Data(d) => write.data_bytes(d).await?,
                    Control::Eof => {
                        write.eof().await?;
                        return Ok::<bool, russh::Error>(true);
                    }
                }
            }
            Ok(false)
        });
        let mut feeding = true;
        let mut exit_code = None;
        loop {
            tokio::select! {
                fed = &mut feed, if feeding => {
                    feeding = false;
                    match fed {
                        Ok(true) => {}
                        Ok(false) => {
                            wind_down(&self.inner.name, write, &mut read).await;
                            return Ok(None);
                        }
                        Err(e) => tracing::debug!("{}: stdin not fully written: {e}", self.inner.name),
                    }
                }
                _ = events.closed() => {
                    drop(feed);
                    wind_down(&self.inner.name, write, &mut read).await;
                    return Ok(None);
                }
                msg = read.wait() => match msg {
                    Some(ChannelMsg::Data { data }) => {
                        let _ = events.send(Event::Output(Output::Stdout(data.to_vec())));
                    }
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                        let _ = events.send(Event::Output(Output::Stderr(data.to_vec())));
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        exit_code = Some(i32::try_from(exit_status).unwrap_or(255))
                    }
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        exit_code = Some(signal_exit_code(&signal_name))
                    }
                    Some(ChannelMsg::Failure) => {
                        drop(feed);
                        let _ = write.close().await;
                        return Err(self.channel_error("the server refused to run the command"));
                    }
                    Some(ChannelMsg::Close) => break,
                    Some(_) => {}
                    None if exit_code.is_some() => break,
                    None => return Err(self.connection_lost()),
                },
            }
        }
        match exit_code {
            Some(code) => Ok(Some(code)),
            None if self.inner.handle.is_closed() => Err(self.connection_lost()),
            None => Err(self.channel_error("the command's channel closed without an exit status")),
        }
    }
}

/// Winds down a channel whose command nobody waits for any more. OpenSSH keeps a session
/// allocated while its command runs, whether or not the channel is closed, so the command is
/// asked to stop and then waited for (holding the caller's MaxSessions slot) for a while.
/// Closing first would not help: russh ignores the server's answering close, and the slot
/// would look free while the server still counts it.
async fn wind_down(host: &str, write: &ChannelWriteHalf<Msg>, read: &mut ChannelReadHalf) {
    // OpenSSH refuses signals for sessions it runs without privilege separation (root
    // logins); the command then simply runs to its end, or to the grace period's.
    let _ = write.signal(Sig::TERM).await;
    let _ = write.eof().await;
    let drained = tokio::time::timeout(ABANDON_GRACE, async {
        while let Some(msg) = read.wait().await {
            if matches!(msg, ChannelMsg::Close) {
                break;
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            "{host}: an abandoned command still runs after {ABANDON_GRACE:?}; closing its channel"
        );
        let _ = write.close().await;
    }
}

#[async_trait::async_trait]
impl Transport for SshTransport {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        if tend_transport::commands_hidden() {
            tracing::debug!("{}: exec (command hidden: no_log)", self.inner.name);
        } else {
            tracing::debug!("{}: exec {}", self.inner.name, request.command);
        }
        let job = Job {
            command: request.command.to_owned(),
            stdin: request.stdin.map(<[u8]>::to_vec),
        };
        // The command runs in its own task so that a caller who drops this future (a timeout,
        // a cancelled play) cannot leave a half-open channel behind: dropping `_cancel` tells
        // the task to clean up.
        let (_cancel, cancelled) = oneshot::channel();
        let this = self.clone();
        let task = tokio::spawn(async move { this.run_job(job, cancelled).await });
        match task.await {
            Ok(result) => result,
            Err(e) => Err(self.channel_error(format!("the command's task failed: {e}"))),
        }
    }

    async fn start(&self, request: StartRequest<'_>) -> Result<Box<dyn Session>, TransportError> {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let this = self.clone();
        let command = request.command.to_owned();
        let pty = request.pty;
        tokio::spawn(async move { this.run_session(command, pty, control_rx, events_tx).await });
        Ok(Box::new(SshSession {
            name: self.inner.name.clone(),
            control,
            events,
            exit: None,
        }))
    }

    async fn close(&self) {
        self.inner.channels.close();
        let _ = self
            .inner
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_shell_exit_codes() {
        assert_eq!(signal_exit_code(&Sig::KILL), 137);
        assert_eq!(signal_exit_code(&Sig::TERM), 143);
        assert_eq!(signal_exit_code(&Sig::Custom("USR2".into())), 140);
        assert_eq!(signal_exit_code(&Sig::Custom("NOPE".into())), 255);
    }

    #[test]
    fn recorded_key_types_are_asked_for_first() {
        let algs = preferred_host_key_algorithms(&["ssh-rsa".to_owned()]);
        assert!(matches!(algs.first(), Some(Algorithm::Rsa { .. })));
        assert_eq!(algs.len(), russh::Preferred::DEFAULT.key.len());
        let algs = preferred_host_key_algorithms(&[]);
        assert_eq!(algs, russh::Preferred::DEFAULT.key.to_vec());
    }
}
