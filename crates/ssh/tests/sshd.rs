//! Integration tests of the SSH transport against a real OpenSSH server on a loopback port.

mod support;

use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{authorize, fingerprint, keygen, pub_base64, sshd_available, Sshd};
use tend_ssh::{SshConnector, SshTransport};
use tend_transport::{
    ConnectionKind, ConnectionSpec, Connector, ExecRequest, HostKeyMode, KnownHostsPolicy,
    Transport, TransportError,
};

async fn connect(spec: &ConnectionSpec) -> SshTransport {
    match SshTransport::connect(spec).await {
        Ok(t) => t,
        Err(e) => panic!("connect failed: {e}"),
    }
}

#[tokio::test]
async fn exec_keeps_streams_apart_and_reports_exit_codes() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let t = connect(&sshd.trusted_spec()).await;

    let out = t
        .exec(ExecRequest::new("cat; echo oops >&2; exit 3").with_stdin(b"hello\nworld"))
        .await
        .expect("exec");
    assert_eq!(out.exit_code, 3);
    assert_eq!(out.stdout, b"hello\nworld");
    // Root's shell startup files may add their own complaints in front.
    assert!(out.stderr.ends_with(b"oops\n"), "{}", out.stderr_lossy());
    assert!(!out.stdout_lossy().contains("oops"));

    let out = t.exec(ExecRequest::new("true")).await.expect("exec");
    assert!(out.success());
    assert!(out.stdout.is_empty());

    // A command killed by a signal reports 128 + signal, as sh does.
    let out = t.exec(ExecRequest::new("kill -9 $$")).await.expect("exec");
    assert_eq!(out.exit_code, 137);

    // More input than one channel window, then more output than one.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let out = t
        .exec(ExecRequest::new("cat").with_stdin(&big))
        .await
        .expect("exec");
    assert_eq!(out.exit_code, 0);
    assert!(out.stdout == big, "cat returned {} bytes", out.stdout.len());
    let out = t
        .exec(ExecRequest::new(
            "head -c 5000000 /dev/zero; head -c 100 /dev/zero >&2",
        ))
        .await
        .expect("exec");
    assert_eq!(out.stdout.len(), 5_000_000);
    assert!(out.stderr.ends_with(&[0u8; 100]));

    // A command that never reads its input must not hang the exec.
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        t.exec(ExecRequest::new("echo done").with_stdin(&big)),
    )
    .await
    .expect("did not hang")
    .expect("exec");
    assert_eq!(out.stdout, b"done\n");

    t.close().await;
    let err = t.exec(ExecRequest::new("true")).await.expect_err("closed");
    assert!(!matches!(err, TransportError::Auth { .. }), "{err}");
}

#[tokio::test]
async fn fifty_concurrent_execs_share_one_connection() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let t: Arc<dyn Transport> = SshConnector::new()
        .connect(&sshd.trusted_spec())
        .await
        .expect("connect");
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let t = Arc::clone(&t);
        tasks.spawn(async move {
            let cmd = format!("sleep 0.2; echo out{i}; echo err{i} >&2; exit {}", i % 7);
            (i, t.exec(ExecRequest::new(&cmd)).await)
        });
    }
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.expect("task");
        let out = result.unwrap_or_else(|e| panic!("exec {i} failed: {e}"));
        assert_eq!(out.stdout_lossy(), format!("out{i}\n"));
        assert!(out.stderr_lossy().ends_with(&format!("err{i}\n")));
        assert_eq!(out.exit_code, i % 7);
        done += 1;
    }
    assert_eq!(done, 50);
    eprintln!("50 execs took {:?}", start.elapsed());
    // Exactly one connection carried them all.
    let log = sshd.log();
    assert_eq!(log.matches("Accepted publickey").count(), 1, "{log}");
}

#[tokio::test]
async fn unknown_host_key_is_refused_with_its_fingerprint() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let missing = sshd.dir.path().join("nothing_here");
    let err = SshTransport::connect(&sshd.spec(vec![missing], HostKeyMode::Strict))
        .await
        .expect_err("refused");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, TransportError::HostKey { .. }), "{msg}");
    assert!(msg.contains(&fingerprint(&sshd.host_key_pub)), "{msg}");
    assert!(
        msg.contains("unknown") && msg.contains("ssh-ed25519"),
        "{msg}"
    );
    assert!(msg.contains("--accept-new-host-keys"), "{msg}");
}

#[tokio::test]
async fn accept_new_records_the_key_then_strict_accepts_it() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let file = sshd.dir.path().join("fresh/.ssh/known_hosts");
    let t = connect(&sshd.spec(vec![file.clone()], HostKeyMode::AcceptNew)).await;
    assert!(t
        .exec(ExecRequest::new("true"))
        .await
        .expect("exec")
        .success());
    t.close().await;
    assert_eq!(
        fs::read_to_string(&file).expect("recorded"),
        sshd.known_hosts_line()
    );
    let t = connect(&sshd.spec(vec![file.clone()], HostKeyMode::Strict)).await;
    assert!(t
        .exec(ExecRequest::new("true"))
        .await
        .expect("exec")
        .success());
    // Known keys are not written twice.
    let t = connect(&sshd.spec(vec![file.clone()], HostKeyMode::AcceptNew)).await;
    t.close().await;
    assert_eq!(fs::read_to_string(&file).expect("read").lines().count(), 1);
}

#[tokio::test]
async fn changed_host_key_is_refused_in_every_checking_mode() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let other = sshd.dir.path().join("other_host_key");
    keygen(&other, "");
    let file = sshd.dir.path().join("known_hosts_stale");
    fs::write(
        &file,
        format!(
            "# stale\n[127.0.0.1]:{} ssh-ed25519 {}\n",
            sshd.port,
            pub_base64(&other.with_extension("pub"))
        ),
    )
    .expect("write");
    for mode in [HostKeyMode::Strict, HostKeyMode::AcceptNew] {
        let err = SshTransport::connect(&sshd.spec(vec![file.clone()], mode))
            .await
            .expect_err("refused");
        let msg = err.to_string();
        eprintln!("{msg}");
        assert!(matches!(err, TransportError::HostKey { .. }), "{msg}");
        assert!(
            msg.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{msg}"
        );
        assert!(msg.contains(&fingerprint(&sshd.host_key_pub)), "{msg}");
        assert!(msg.contains(&format!("{}:2", file.display())), "{msg}");
    }
    // Checking off accepts anything.
    let t = connect(&sshd.spec(vec![file], HostKeyMode::Off)).await;
    assert!(t
        .exec(ExecRequest::new("true"))
        .await
        .expect("exec")
        .success());
}

#[tokio::test]
async fn wrong_client_key_is_an_auth_error() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let stranger = sshd.dir.path().join("stranger");
    keygen(&stranger, "");
    let mut spec = sshd.trusted_spec();
    spec.private_key_file = Some(stranger.clone());
    let err = SshTransport::connect(&spec).await.expect_err("refused");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, TransportError::Auth { .. }), "{msg}");
    assert!(msg.contains(&stranger.display().to_string()), "{msg}");
    assert!(
        msg.contains(&fingerprint(&stranger.with_extension("pub"))),
        "{msg}"
    );

    spec.private_key_file = Some(sshd.dir.path().join("no_such_key"));
    let err = SshTransport::connect(&spec).await.expect_err("missing key");
    assert!(matches!(err, TransportError::Config { .. }), "{err}");
}

#[tokio::test]
async fn encrypted_key_needs_its_passphrase() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let key = sshd.dir.path().join("locked");
    keygen(&key, "open sesame");
    authorize(&sshd, &key);
    assert!(tend_ssh::key_is_encrypted(&key).expect("read"));

    let mut spec = sshd.trusted_spec();
    spec.private_key_file = Some(key);
    let err = SshTransport::connect(&spec)
        .await
        .expect_err("no passphrase");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, TransportError::Config { .. }), "{msg}");
    assert!(
        msg.contains("encrypted") && msg.contains("passphrase"),
        "{msg}"
    );

    spec.key_passphrase = Some("wrong".into());
    let err = SshTransport::connect(&spec)
        .await
        .expect_err("wrong passphrase");
    assert!(err.to_string().contains("wrong passphrase"), "{err}");

    spec.key_passphrase = Some("open sesame".into());
    let t = connect(&spec).await;
    let out = t.exec(ExecRequest::new("echo in")).await.expect("exec");
    assert_eq!(out.stdout, b"in\n");
}

#[tokio::test]
async fn nothing_listening_is_unreachable_quickly() {
    let spec = ConnectionSpec {
        name: "ghost".into(),
        kind: ConnectionKind::Ssh,
        address: "127.0.0.202".into(),
        port: 22,
        user: "root".into(),
        private_key_file: None,
        key_passphrase: None,
        known_hosts: KnownHostsPolicy {
            files: vec![],
            mode: HostKeyMode::Strict,
        },
        connect_timeout: Duration::from_secs(5),
    };
    let start = Instant::now();
    let err = SshTransport::connect(&spec).await.expect_err("unreachable");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, TransportError::Unreachable { .. }), "{msg}");
    assert!(msg.contains("connection refused"), "{msg}");
    assert!(err.is_unreachable());
}

#[tokio::test]
async fn silent_server_times_out_as_unreachable() {
    // Accepts TCP connections but never speaks SSH.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let spec = ConnectionSpec {
        name: "mute".into(),
        kind: ConnectionKind::Ssh,
        address: "127.0.0.1".into(),
        port,
        user: "root".into(),
        private_key_file: None,
        key_passphrase: None,
        known_hosts: KnownHostsPolicy {
            files: vec![],
            mode: HostKeyMode::Off,
        },
        connect_timeout: Duration::from_millis(500),
    };
    let start = Instant::now();
    let err = SshTransport::connect(&spec).await.expect_err("timeout");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    hold.abort();
}

#[tokio::test]
async fn server_killed_mid_command_is_unreachable() {
    if !sshd_available() {
        return;
    }
    let mut sshd = Sshd::start();
    let t = Arc::new(connect(&sshd.trusted_spec()).await);
    let marker = sshd.dir.path().join("started");
    let cmd = format!("touch {}; sleep 60", marker.display());
    let running = {
        let t = Arc::clone(&t);
        tokio::spawn(async move { t.exec(ExecRequest::new(&cmd)).await })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sshd.kill_all();
    let result = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("noticed the loss")
        .expect("task");
    let err = result.expect_err("lost");
    eprintln!("{err}");
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("connection lost"), "{err}");
    // Later commands fail the same way instead of hanging.
    let err = tokio::time::timeout(Duration::from_secs(10), t.exec(ExecRequest::new("true")))
        .await
        .expect("no hang")
        .expect_err("still lost");
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn abandoned_exec_frees_its_server_session() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let t = connect(&sshd.trusted_spec()).await;
    // Twelve commands abandoned while they run. Each keeps its server session until it ends
    // (OpenSSH will not signal a root session), so the transport must keep counting them,
    // or the execs below would be refused past MaxSessions 10 instead of waiting their turn.
    for _ in 0..12 {
        let abandoned = tokio::time::timeout(
            Duration::from_millis(300),
            t.exec(ExecRequest::new("sleep 1")),
        )
        .await;
        assert!(abandoned.is_err(), "the command should still be running");
    }
    let mut tasks = tokio::task::JoinSet::new();
    let t = Arc::new(t);
    for _ in 0..8 {
        let t = Arc::clone(&t);
        tasks.spawn(async move { t.exec(ExecRequest::new("echo ok")).await });
    }
    while let Some(joined) = tasks.join_next().await {
        let out = joined
            .expect("task")
            .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log()));
        assert_eq!(out.stdout, b"ok\n");
    }
}
