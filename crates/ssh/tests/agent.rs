//! Integration test of credential discovery: the ssh-agent and the default key files.
//!
//! It changes `HOME` and `SSH_AUTH_SOCK`, which are process-wide, so it is the only test in
//! this binary and runs its cases in sequence.

mod support;

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{authorize, fingerprint, keygen, keygen_typed, run, sshd_available, Sshd};
use tend_ssh::SshTransport;
use tend_transport::{ExecRequest, Transport, TransportError};

/// An ssh-agent on a socket of our own, killed on drop.
struct Agent {
    child: Child,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn agent_then_default_keys() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let home = tempfile::tempdir().expect("home");
    let ssh_dir = home.path().join(".ssh");
    fs::create_dir(&ssh_dir).expect("mkdir");
    std::env::set_var("HOME", home.path());
    std::env::remove_var("SSH_AUTH_SOCK");
    let mut spec = sshd.trusted_spec();
    spec.private_key_file = None;

    // Nothing to offer at all.
    let err = SshTransport::connect(&spec)
        .await
        .expect_err("no credentials");
    assert!(matches!(err, TransportError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("no credentials"), "{err}");

    // Default keys: one the server does not know, one locked; both are reported.
    keygen(&ssh_dir.join("id_ed25519"), "");
    keygen_typed(&ssh_dir.join("id_ecdsa"), "ecdsa", "locked");
    let err = SshTransport::connect(&spec).await.expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, TransportError::Auth { .. }), "{msg}");
    assert!(
        msg.contains("id_ed25519") && msg.contains("refused"),
        "{msg}"
    );
    assert!(
        msg.contains(&fingerprint(&ssh_dir.join("id_ed25519.pub"))),
        "{msg}"
    );
    assert!(
        msg.contains("id_ecdsa") && msg.contains("encrypted"),
        "{msg}"
    );

    // An authorized RSA default key. OpenSSH 8.8+ refuses SHA-1 `ssh-rsa` signatures, so this
    // proves an rsa-sha2 hash from the server's list is used.
    keygen_typed(&ssh_dir.join("id_rsa"), "rsa", "");
    authorize(&sshd, &ssh_dir.join("id_rsa"));
    let t = SshTransport::connect(&spec)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let out = t.exec(ExecRequest::new("echo rsa")).await.expect("exec");
    assert_eq!(out.stdout, b"rsa\n");
    t.close().await;
    let log = sshd.log();
    assert!(log.contains("Accepted publickey"), "{log}");

    // The agent comes first, with the server's authorized key in it.
    fs::remove_file(ssh_dir.join("id_rsa")).expect("rm");
    let socket = sshd.dir.path().join("agent.sock");
    let _agent = Agent {
        child: Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "ssh-agent did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    run(Command::new("ssh-add")
        .arg(&sshd.client_key)
        .env("SSH_AUTH_SOCK", &socket)
        .stderr(Stdio::null()));
    std::env::set_var("SSH_AUTH_SOCK", &socket);
    let t = SshTransport::connect(&spec).await.expect("agent key");
    let out = t.exec(ExecRequest::new("echo agent")).await.expect("exec");
    assert_eq!(out.stdout, b"agent\n");
}
