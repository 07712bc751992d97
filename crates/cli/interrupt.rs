//! Ctrl-C during a run, as ansible-playbook handles it: the first SIGINT stops the run (no
//! task starts after it, commands in flight are stopped on the hosts, connections closed)
//! and tend exits 99 with "User interrupted execution" and no recap; a second SIGINT
//! exits at once.

use tend_executor::Interrupt;

/// ansible-playbook's exit code for a run the user interrupted.
pub const EXIT_INTERRUPTED: u8 = 99;

const MESSAGE: &str = "[ERROR]: User interrupted execution";

/// Turns SIGINT into `interrupt` while the returned guard lives.
pub fn watch(runtime: &tokio::runtime::Runtime, interrupt: Interrupt) -> Watch {
    Watch(runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        interrupt.trigger();
        // A second Ctrl-C: the user does not want to wait for the hosts to wind down.
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("{MESSAGE}");
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
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
