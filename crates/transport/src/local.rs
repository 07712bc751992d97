//! Runs commands on the controller itself, for `ansible_connection: local`.

use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::{ExecOutput, ExecRequest, Output, Session, StartRequest, Transport, TransportError};

/// Runs each command with `/bin/sh -c` on this machine.
#[derive(Debug, Clone)]
pub struct LocalTransport {
    name: String,
}

impl LocalTransport {
    pub fn new(name: impl Into<String>) -> Self {
        LocalTransport { name: name.into() }
    }
}

#[async_trait::async_trait]
impl Transport for LocalTransport {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        let channel_error = |reason: String| TransportError::Channel {
            host: self.name.clone(),
            reason,
        };
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(request.command)
            .stdin(if request.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| channel_error(format!("cannot start /bin/sh: {e}")))?;
        if let (Some(data), Some(mut stdin)) = (request.stdin, child.stdin.take()) {
            // A command that exits without reading its input is not an error.
            let _ = stdin.write_all(data).await;
            drop(stdin);
        }
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| channel_error(format!("waiting for /bin/sh: {e}")))?;
        let exit_code = match output.status.code() {
            Some(code) => code,
            None => {
                use std::os::unix::process::ExitStatusExt;
                128 + output.status.signal().unwrap_or(0)
            }
        };
        Ok(ExecOutput {
            exit_code,
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }

    /// With `pty`, the command runs under util-linux `script(1)`, which gives it a
    /// pseudo-terminal of its own; `script` must then be installed on the controller.
    async fn start(&self, request: StartRequest<'_>) -> Result<Box<dyn Session>, TransportError> {
        let channel_error = |reason: String| TransportError::Channel {
            host: self.name.clone(),
            reason,
        };
        let mut command = if request.pty {
            let mut c = Command::new("script");
            c.args(["-q", "-e", "-c", request.command, "/dev/null"])
                .env("SHELL", "/bin/sh");
            c
        } else {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(request.command);
            c
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let program = if request.pty { "script" } else { "/bin/sh" };
                channel_error(format!("cannot start {program}: {e}"))
            })?;
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, tx.clone(), Output::Stdout));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, tx, Output::Stderr));
        }
        Ok(Box::new(LocalSession {
            name: self.name.clone(),
            stdin: child.stdin.take(),
            child,
            output: rx,
        }))
    }
}

/// Forwards one output stream of a local command as it arrives.
async fn pump(
    mut stream: impl AsyncRead + Unpin,
    tx: mpsc::UnboundedSender<Output>,
    wrap: fn(Vec<u8>) -> Output,
) {
    let mut buf = vec![0u8; 8192];
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        if tx.send(wrap(buf[..n].to_vec())).is_err() {
            break;
        }
    }
}

/// A local command started by [`LocalTransport::start`]; killed if dropped unfinished.
struct LocalSession {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    output: mpsc::UnboundedReceiver<Output>,
}

#[async_trait::async_trait]
impl Session for LocalSession {
    async fn output(&mut self) -> Result<Option<Output>, TransportError> {
        Ok(self.output.recv().await)
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        if let Some(stdin) = &mut self.stdin {
            // A command that exits without reading its input is not an error.
            let _ = stdin.write_all(data).await;
            let _ = stdin.flush().await;
        }
        Ok(())
    }

    async fn finish(self: Box<Self>, stdin: Option<&[u8]>) -> Result<ExecOutput, TransportError> {
        let LocalSession {
            name,
            mut child,
            stdin: pipe,
            mut output,
        } = *self;
        let feed = async move {
            if let (Some(data), Some(mut pipe)) = (stdin, pipe) {
                let _ = pipe.write_all(data).await;
            }
        };
        let collect = async {
            let mut out = ExecOutput::default();
            while let Some(piece) = output.recv().await {
                match piece {
                    Output::Stdout(d) => out.stdout.extend(d),
                    Output::Stderr(d) => out.stderr.extend(d),
                }
            }
            out
        };
        let ((), mut out) = tokio::join!(feed, collect);
        let status = child.wait().await.map_err(|e| TransportError::Channel {
            host: name,
            reason: format!("waiting for the command: {e}"),
        })?;
        out.exit_code = match status.code() {
            Some(code) => code,
            None => {
                use std::os::unix::process::ExitStatusExt;
                128 + status.signal().unwrap_or(0)
            }
        };
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_with_stdin_and_keeps_streams_apart() {
        let t = LocalTransport::new("localhost");
        let out = t
            .exec(ExecRequest::new("cat; echo err >&2; exit 3").with_stdin(b"hello"))
            .await
            .expect("runs");
        assert_eq!(out.exit_code, 3);
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"err\n");
    }

    #[tokio::test]
    async fn sessions_answer_prompts_then_take_the_rest_of_stdin() {
        let t = LocalTransport::new("localhost");
        let mut s = t
            .start(StartRequest {
                command: "printf 'ask: ' >&2; read a; echo got=$a; cat",
                pty: false,
            })
            .await
            .expect("starts");
        assert_eq!(
            s.output().await.expect("reads"),
            Some(Output::Stderr(b"ask: ".to_vec()))
        );
        s.send(b"yes\n").await.expect("writes");
        assert_eq!(
            s.output().await.expect("reads"),
            Some(Output::Stdout(b"got=yes\n".to_vec()))
        );
        let out = s.finish(Some(b"rest")).await.expect("finishes");
        assert_eq!((out.exit_code, out.stdout), (0, b"rest".to_vec()));
    }

    #[tokio::test]
    async fn pty_sessions_run_on_a_terminal() {
        if !std::path::Path::new("/usr/bin/script").exists() {
            return;
        }
        let t = LocalTransport::new("localhost");
        let s = t
            .start(StartRequest {
                command: "test -t 0 && echo tty; exit 3",
                pty: true,
            })
            .await
            .expect("starts");
        let out = s.finish(None).await.expect("finishes");
        assert_eq!(out.exit_code, 3);
        assert!(out.stdout_lossy().contains("tty"), "{out:?}");
    }
}
