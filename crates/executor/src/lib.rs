//! Runs a compiled playbook across an inventory with Ansible's linear strategy.
//!
//! The executor owns connections (one per host for the whole run), variables, conditions,
//! loops, registered results, handlers and the per-host counts. It never prints: everything a
//! user sees is an [`Event`] handed to the caller's [`EventSink`].

mod connect;
mod controller;
mod events;
mod facts;
mod hostvars;
mod include;
mod interrupt;
mod run;
mod tags;
mod task;
mod trace;
mod vars;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tend_transport::{Connector, KnownHostsPolicy, Secret};

pub use events::{
    CommandOutcome, CommandTrace, Event, EventSink, HostResult, HostStats, RunSummary, Status,
    StepAnswer,
};
pub use interrupt::Interrupt;
pub use run::run_playbook;
pub use tags::should_run;

/// How a run behaves: the `tend run` flags, resolved.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub check: bool,
    pub diff: bool,
    /// Hosts worked on at once.
    pub forks: usize,
    /// `--limit` pattern.
    pub limit: Option<String>,
    /// `-e`: the highest-precedence variables.
    pub extra_vars: Map<String, Value>,
    /// `-b`: become for every task that does not say otherwise.
    pub become_: bool,
    pub become_user: Option<String>,
    /// `--become-method`: `sudo` (the default) or `su`.
    pub become_method: Option<String>,
    /// `-K`, `--become-password-file` or `TEND_BECOME_PASSWORD`; `ansible_become_password`
    /// overrides it per host.
    pub become_password: Option<Secret>,
    /// `-u`: the SSH user when the inventory names none.
    pub remote_user: Option<String>,
    pub private_key_file: Option<PathBuf>,
    pub key_passphrase: Option<String>,
    pub known_hosts: KnownHostsPolicy,
    pub connect_timeout: Duration,
    pub force_handlers: bool,
    /// `--tags`: run only tasks with these tags (`all` by default).
    pub tags: Vec<String>,
    /// `--skip-tags`.
    pub skip_tags: Vec<String>,
    /// `--start-at-task`: skip tasks until one with this name.
    pub start_at_task: Option<String>,
    /// `--step`: confirm each task through the event sink.
    pub step: bool,
    /// Report every command run on a host as an [`Event::Command`] (`-vvv`), except those of
    /// `no_log` tasks.
    pub trace_commands: bool,
    /// Triggered (by Ctrl-C) to stop the run: no task starts after it, tasks in flight are
    /// abandoned, connections closed.
    pub interrupt: Interrupt,
}

impl RunOptions {
    pub fn new(known_hosts: KnownHostsPolicy) -> Self {
        RunOptions {
            check: false,
            diff: false,
            forks: 5,
            limit: None,
            extra_vars: Map::new(),
            become_: false,
            become_user: None,
            become_method: None,
            become_password: None,
            remote_user: None,
            private_key_file: None,
            key_passphrase: None,
            known_hosts,
            connect_timeout: Duration::from_secs(10),
            force_handlers: false,
            tags: vec!["all".to_string()],
            skip_tags: Vec::new(),
            start_at_task: None,
            step: false,
            trace_commands: false,
            interrupt: Interrupt::new(),
        }
    }
}

/// Why a run could not start (as opposed to hosts failing, which is in the summary).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid host pattern: {0}")]
    Pattern(String),
}

/// What the executor needs from the outside world.
pub struct Runtime {
    pub connector: Arc<dyn Connector>,
    pub sink: Arc<dyn EventSink>,
}
