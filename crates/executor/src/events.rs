//! What the executor reports while it runs, and the final counts per host.

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
}

/// Progress of a run, in order.
#[derive(Debug, Clone)]
pub enum Event {
    PlayStart {
        name: String,
    },
    NoHostsMatched,
    TaskStart {
        name: String,
        handler: bool,
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
