//! The SSH connection to one host: connecting, host key checking, and running commands over it.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, DisconnectReason, Handle, Msg};
use russh::keys::{Algorithm, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg, ChannelWriteHalf, Disconnect, Sig};
use tend_transport::{
    ConnectionSpec, ExecOutput, ExecRequest, HostKeyMode, Transport, TransportError,
};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

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
            DisconnectReason::Error(e) => (e.to_string(), Err(e)),
        };
        if let Ok(mut slot) = self.disconnect.lock() {
            slot.get_or_insert(note);
        }
        result
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
        let mut preferred = russh::Preferred::default();
        preferred.key = Cow::Owned(preferred_host_key_algorithms(&known_types));
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
        let handshake =
            tokio::time::timeout(spec.connect_timeout, client::connect_stream(config, stream, handler))
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
            Ok(Err(HandlerError::Ssh(e))) => {
                let note = disconnect.lock().ok().and_then(|slot| slot.clone());
                return Err(unreachable(
                    spec,
                    format!(
                        "SSH handshake failed: {}",
                        note.unwrap_or_else(|| e.to_string())
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

/// Sends CHANNEL_CLOSE for a channel abandoned before the server closed it (the exec future
/// was dropped, or failed halfway). russh sends nothing when a channel is dropped, and the
/// server would keep the session, counting it against MaxSessions, until the connection ends.
struct CloseOnDrop {
    write: Option<ChannelWriteHalf<Msg>>,
}

impl CloseOnDrop {
    /// The server closed the channel and russh already answered; nothing is left to do.
    fn disarm(&mut self) {
        self.write = None;
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let Some(write) = self.write.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = write.close().await;
            });
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

#[async_trait::async_trait]
impl Transport for SshTransport {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        let _permit = self
            .inner
            .channels
            .acquire()
            .await
            .map_err(|_| self.channel_error("the connection was closed by tend"))?;
        if self.inner.handle.is_closed() {
            return Err(self.connection_lost());
        }
        let channel = self.open_channel().await?;
        let (mut read, write) = channel.split();
        let mut guard = CloseOnDrop { write: Some(write) };
        let Some(write) = guard.write.as_ref() else {
            return Err(self.channel_error("channel vanished"));
        };

        if write.exec(true, request.command).await.is_err() {
            return Err(self.connection_lost());
        }
        let stdin = request.stdin.map(<[u8]>::to_vec);
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
        let mut refused = false;
        let mut closed = false;
        while !closed {
            tokio::select! {
                fed = &mut feed, if feeding => {
                    feeding = false;
                    if let Err(e) = fed {
                        tracing::debug!("{}: stdin not fully written: {e}", self.inner.name);
                    }
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
                    Some(ChannelMsg::Failure) => refused = true,
                    Some(ChannelMsg::Close) => closed = true,
                    Some(_) => {}
                    // The session task dropped the channel: the connection is gone.
                    None => match exit_code {
                        Some(_) => closed = true,
                        None => return Err(self.connection_lost()),
                    },
                },
            }
        }
        drop(feed);
        guard.disarm();

        if refused {
            return Err(self.channel_error("the server refused to run the command"));
        }
        match exit_code {
            Some(code) => {
                output.exit_code = code;
                Ok(output)
            }
            None if self.inner.handle.is_closed() => Err(self.connection_lost()),
            None => Err(self.channel_error(
                "the command's channel closed without an exit status",
            )),
        }
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
