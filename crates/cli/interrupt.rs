//! Ctrl-C during a run, as ansible-playbook handles it: the first SIGINT stops the run (no
//! task starts after it, commands in flight are stopped on the hosts, connections closed)
//! and tend exits 99 with "User interrupted execution" and no recap; a second SIGINT
//! exits at once. SIGTERM is handled the same way.

use tend_executor::Interrupt;

/// ansible-playbook's exit code for a run the user interrupted.
pub const EXIT_INTERRUPTED: u8 = 99;

const MESSAGE: &str = "[ERROR]: User interrupted execution";

/// Turns SIGINT into `interrupt` while the returned guard lives.
pub fn watch(runtime: &tokio::runtime::Runtime, interrupt: Interrupt) -> Watch {
    Watch(runtime.spawn(async move {
        // SIGTERM (a CI job cancelled, a service manager stopping tend) winds the run down
        // the same way, so the hosts are left as cleanly as after Ctrl-C.
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = tokio::signal::ctrl_c() => if result.is_err() { return },
            _ = terminated => {}
        }
        interrupt.trigger();
        // A second signal: the user does not want to wait for the hosts to wind down.
        let again = async {
            match terminate.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = tokio::signal::ctrl_c() => if result.is_err() { return },
            _ = again => {}
        }
        eprintln!("{MESSAGE}");
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    }))
}

/// Stops listening for SIGINT when dropped.
pub struct Watch(tokio::task::JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Says the run was interrupted and gives the exit code.
pub fn report() -> u8 {
    eprintln!("{MESSAGE}");
    EXIT_INTERRUPTED
}
