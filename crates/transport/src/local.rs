//! Runs commands on the controller itself, for `ansible_connection: local`.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::{ExecOutput, ExecRequest, Transport, TransportError};

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
}
