//! What the executor reports while it runs, and the final counts per host.

use std::time::Duration;

use serde_json::{Map, Value};
use tend_module_api::Diff;

/// How one task ended on one host (or one loop item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Changed,
    Skipped,
    Failed,
    Unreachable,
}

/// One task's result on one host, or one loop item's.
#[derive(Debug, Clone)]
pub struct HostResult {
    pub host: String,
    /// Where the task ran instead (`delegate_to`), shown as `[host -> other]`.
    pub delegated_to: Option<String>,
    pub status: Status,
    /// The loop item's label, for item results.
    pub item: Option<String>,
    /// A failure that `ignore_errors` let pass.
    pub ignored: bool,
    /// The result as `register` would store it (masked under `no_log`).
    pub result: Map<String, Value>,
    pub diffs: Vec<Diff>,
    /// Whether the printer should show the result even when it is ok (`debug`).
    pub verbose_always: bool,
    /// How long the task (or this item) took on this host.
    pub duration: Duration,
    /// The whole result of a loop that went fine, after its items were reported one by one:
    /// Ansible's output adds no line for it, reports and summaries use it.
    pub loop_summary: bool,
}

/// One command a task ran on a host, reported when [`crate::RunOptions::trace_commands`] is
/// on (`-vvv`). Commands of `no_log` tasks are not reported.
#[derive(Debug, Clone)]
pub struct CommandTrace {
    /// The inventory host the command ran for.
    pub host: String,
    pub command: String,
    /// Bytes given on stdin (their content is not kept: it may be a file's or a password's).
    pub stdin_len: Option<usize>,
    pub outcome: CommandOutcome,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
}

/// How a traced command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    Exited(i32),
    /// Started as an interactive session (a `become` password prompt): its output is read by
    /// the task as it arrives and is not reported.
    Started,
    /// The command could not be run (the connection failed).
    Error(String),
}

/// Progress of a run, in order.
#[derive(Debug, Clone)]
pub enum Event {
    PlayStart {
        name: String,
        /// The hosts of this play (of this `serial` batch).
        hosts: Vec<String>,
    },
    NoHostsMatched,
    TaskStart {
        name: String,
        handler: bool,
        /// Where the task is written (`file:line`); `None` for implicit tasks such as fact
        /// gathering.
        path: Option<String>,
    },
    /// One loop item finished on one host.
    ItemResult(HostResult),
    /// A task finished on one host (after all its items).
    TaskResult(HostResult),
    NoMoreHosts,
    /// An include's body runs for these hosts: `included: FILE for h1, h2 => (item=x)`.
    Included {
        /// The task file's path, or the role's name.
        file: String,
        hosts: Vec<String>,
        item: Option<String>,
    },
    /// An `until` condition did not hold yet; the task runs again after its delay.
    Retrying {
        host: String,
        task: String,
        retries_left: u32,
        result: Map<String, Value>,
    },
    Warning(String),
    /// A command run on a host (only with [`crate::RunOptions::trace_commands`]).
    Command(CommandTrace),
}

/// Receives events. Implementations print, collect or forward them.
pub trait EventSink: Send + Sync {
    fn event(&self, event: Event);

    /// `--step`: whether to run the task named `task` (`TASK: name`). Sinks that cannot ask
    /// anyone run everything.
    fn confirm_step(&self, task: &str) -> StepAnswer {
        let _ = task;
        StepAnswer::Continue
    }
}

/// An answer to `--step`'s question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAnswer {
    /// Run this task.
    Yes,
    /// Skip this task.
    No,
    /// Run this task and all the rest without asking.
    Continue,
}

/// The recap counts for one host, as ansible-playbook's PLAY RECAP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

/// The counts of a finished run, hosts in the order they were first seen.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub hosts: Vec<(String, HostStats)>,
}

impl RunSummary {
    pub fn get(&self, host: &str) -> Option<&HostStats> {
        self.hosts.iter().find(|(h, _)| h == host).map(|(_, s)| s)
    }

    pub fn any_unreachable(&self) -> bool {
        self.hosts.iter().any(|(_, s)| s.unreachable > 0)
    }

    pub fn any_failed(&self) -> bool {
        self.hosts.iter().any(|(_, s)| s.failed > 0)
    }

    /// Whether any task changed (or, in check mode, would change) a host.
    pub fn any_changed(&self) -> bool {
        self.hosts.iter().any(|(_, s)| s.changed > 0)
    }

    /// `--detailed-exitcode`: a bit per outcome, so CI can tell them apart and see them
    /// together: 2 a task failed, 4 a host was unreachable, 8 changes were made (or are
    /// pending under `--check`); 0 when nothing changed and nothing went wrong.
    pub fn detailed_exit_code(&self) -> i32 {
        let mut code = 0;
        if self.any_failed() {
            code |= 2;
        }
        if self.any_unreachable() {
            code |= 4;
        }
        if self.any_changed() {
            code |= 8;
        }
        code
    }

    /// ansible-playbook's exit code: 4 if a host was unreachable, else 2 if a task failed.
    pub fn exit_code(&self) -> i32 {
        if self.any_unreachable() {
            4
        } else if self.any_failed() {
            2
        } else {
            0
        }
    }
}
