//! Shared harness for executor tests: scripted hosts, an event collector, and a one-call runner.
//!
//! A test compiles a playbook from a string, picks an inventory, scripts how each host answers
//! `sh` commands, runs the plan on a current-thread runtime and then asserts on the recap, the
//! events and the commands each host received.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tend_executor::{
    Event, EventSink, HostResult, HostStats, RunOptions, RunSummary, Runtime, StepAnswer,
};
use tend_inventory::Inventory;
use tend_transport::{
    ConnectionSpec, Connector, ExecOutput, HostKeyMode, KnownHostsPolicy, ScriptedReply,
    ScriptedTransport, Transport, TransportError,
};

/// How a scripted host answers one command: `(host, command) -> reply`.
pub type Script = dyn Fn(&str, &str) -> ScriptedReply + Send + Sync;

/// A command that ran and printed `stdout`.
pub fn ok(stdout: &str) -> ScriptedReply {
    rc(0, stdout, "")
}

/// A command that ran and exited with `code`.
pub fn rc(code: i32, stdout: &str, stderr: &str) -> ScriptedReply {
    Ok(ExecOutput {
        exit_code: code,
        stdout: stdout.as_bytes().to_vec(),
        stderr: stderr.as_bytes().to_vec(),
    })
}

/// The connection dropped while running a command.
pub fn lost(host: &str) -> ScriptedReply {
    Err(TransportError::Unreachable {
        host: host.to_string(),
        reason: "connection reset by peer".into(),
    })
}

/// Hands every host a [`ScriptedTransport`] answering with the shared script, except hosts
/// made unreachable (connect fails) and hosts whose connection drops after a number of
/// commands.
pub struct ScriptedConnector {
    script: Arc<Script>,
    unreachable: HashSet<String>,
    /// Host → how many commands succeed before every later one reports the host unreachable.
    drop_after: HashMap<String, usize>,
    transports: Mutex<Vec<(String, ScriptedTransport)>>,
    connects: Mutex<Vec<String>>,
}

impl ScriptedConnector {
    pub fn new(script: impl Fn(&str, &str) -> ScriptedReply + Send + Sync + 'static) -> Self {
        ScriptedConnector {
            script: Arc::new(script),
            unreachable: HashSet::new(),
            drop_after: HashMap::new(),
            transports: Mutex::default(),
            connects: Mutex::default(),
        }
    }

    /// The commands `host` received, in order, over all its connections.
    pub fn commands(&self, host: &str) -> Vec<String> {
        self.transports
            .lock()
            .unwrap()
            .iter()
            .filter(|(h, _)| h == host)
            .flat_map(|(_, t)| t.commands())
            .collect()
    }

    /// Every host name `connect` was called for, in call order (repeats included).
    pub fn connects(&self) -> Vec<String> {
        self.connects.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Connector for ScriptedConnector {
    async fn connect(&self, spec: &ConnectionSpec) -> Result<Arc<dyn Transport>, TransportError> {
        let host = spec.name.clone();
        self.connects.lock().unwrap().push(host.clone());
        if self.unreachable.contains(&host) {
            return Err(TransportError::Unreachable {
                host,
                reason: "Failed to connect to the host via ssh: Connection refused".into(),
            });
        }
        let script = self.script.clone();
        let budget = self.drop_after.get(&host).copied();
        let used = AtomicUsize::new(0);
        let name = host.clone();
        let transport = ScriptedTransport::new(move |command, _stdin| {
            let n = used.fetch_add(1, Ordering::SeqCst);
            if budget.is_some_and(|b| n >= b) {
                return lost(&name);
            }
            script(&name, command)
        });
        self.transports
            .lock()
            .unwrap()
            .push((host, transport.clone()));
        Ok(Arc::new(transport))
    }
}

/// Records every event in order.
#[derive(Default)]
pub struct CollectingSink {
    events: Mutex<Vec<Event>>,
    /// `--step` answers, in order, with the questions asked.
    answers: Mutex<Vec<StepAnswer>>,
    pub asked: Mutex<Vec<String>>,
}

impl CollectingSink {
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

impl EventSink for CollectingSink {
    fn event(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    fn confirm_step(&self, task: &str) -> StepAnswer {
        self.asked.lock().unwrap().push(task.to_string());
        let mut answers = self.answers.lock().unwrap();
        if answers.is_empty() {
            StepAnswer::Yes
        } else {
            answers.remove(0)
        }
    }
}

/// The inventory used when a test does not care: two ungrouped hosts.
pub const TWO_HOSTS: &str = "h1\nh2\n";

/// A playbook about to run: source text, inventory, host script and options.
pub struct Scenario {
    playbook: String,
    inventory: Inventory,
    connector: ScriptedConnector,
    options: RunOptions,
    answers: Vec<StepAnswer>,
}

impl Scenario {
    /// A run of `playbook` against [`TWO_HOSTS`] where every command succeeds silently.
    pub fn new(playbook: &str) -> Self {
        Scenario {
            playbook: playbook.to_string(),
            inventory: ini(TWO_HOSTS),
            connector: ScriptedConnector::new(|_, _| ok("")),
            options: RunOptions::new(KnownHostsPolicy {
                files: Vec::new(),
                mode: HostKeyMode::Off,
            }),
            answers: Vec::new(),
        }
    }

    /// An INI inventory.
    pub fn inventory(mut self, src: &str) -> Self {
        self.inventory = ini(src);
        self
    }

    /// A YAML inventory.
    pub fn yaml_inventory(mut self, src: &str) -> Self {
        self.inventory = Inventory::from_yaml_str(src, Path::new("hosts.yml"))
            .unwrap_or_else(|e| panic!("inventory: {e}"));
        self
    }

    /// How hosts answer commands; the default answers every command with rc 0 and no output.
    pub fn script(
        mut self,
        script: impl Fn(&str, &str) -> ScriptedReply + Send + Sync + 'static,
    ) -> Self {
        self.connector.script = Arc::new(script);
        self
    }

    /// Makes connecting to `host` fail as an unreachable host does.
    pub fn unreachable(mut self, host: &str) -> Self {
        self.connector.unreachable.insert(host.to_string());
        self
    }

    /// Lets `host` answer `n` commands, then drops its connection for good.
    pub fn drop_after(mut self, host: &str, n: usize) -> Self {
        self.connector.drop_after.insert(host.to_string(), n);
        self
    }

    pub fn options(mut self, edit: impl FnOnce(&mut RunOptions)) -> Self {
        edit(&mut self.options);
        self
    }

    /// `--step`, answering the questions in turn (then yes).
    pub fn step(mut self, answers: &[StepAnswer]) -> Self {
        self.options.step = true;
        self.answers = answers.to_vec();
        self
    }

    pub fn check(self) -> Self {
        self.options(|o| o.check = true)
    }

    pub fn extra_var(self, name: &str, value: Value) -> Self {
        self.options(|o| {
            o.extra_vars.insert(name.to_string(), value);
        })
    }

    pub fn run(self) -> Ran {
        tend_modules::link();
        let playbook = tend_playbook::compile_playbook(Path::new("site.yml"), &self.playbook)
            .unwrap_or_else(|e| panic!("playbook does not compile:\n{e}"));
        let connector = Arc::new(self.connector);
        let sink = Arc::new(CollectingSink::default());
        *sink.answers.lock().unwrap() = self.answers;
        let runtime = Runtime {
            connector: connector.clone(),
            sink: sink.clone(),
        };
        let summary = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(tend_executor::run_playbook(
                &playbook,
                &self.inventory,
                &self.options,
                &runtime,
            ))
            .expect("run starts");
        let asked = sink.asked.lock().unwrap().clone();
        Ran {
            summary,
            events: sink.events(),
            asked,
            connector,
        }
    }
}

fn ini(src: &str) -> Inventory {
    Inventory::from_ini_str(src, Path::new("hosts")).unwrap_or_else(|e| panic!("inventory: {e}"))
}

/// A finished run.
pub struct Ran {
    pub summary: RunSummary,
    pub events: Vec<Event>,
    /// The `--step` questions asked.
    pub asked: Vec<String>,
    pub connector: Arc<ScriptedConnector>,
}

impl Ran {
    /// The recap line of `host`.
    pub fn stats(&self, host: &str) -> HostStats {
        *self
            .summary
            .get(host)
            .unwrap_or_else(|| panic!("{host} is not in the recap: {:?}", self.summary))
    }

    /// Task (and handler) names in the order they started.
    pub fn started(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::TaskStart { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every result event with the name of the task it belongs to.
    fn results_by_task(&self) -> Vec<(&str, bool, &HostResult)> {
        let mut current = "";
        let mut out = Vec::new();
        for e in &self.events {
            match e {
                Event::TaskStart { name, .. } => current = name,
                Event::TaskResult(r) => out.push((current, false, r)),
                Event::ItemResult(r) => out.push((current, true, r)),
                _ => {}
            }
        }
        out
    }

    /// Every result `task` reported, items included.
    pub fn events_of(&self, task: &str) -> Vec<&HostResult> {
        self.results_by_task()
            .into_iter()
            .filter(|(t, _, _)| *t == task)
            .map(|(_, _, r)| r)
            .collect()
    }

    /// The final results of `task`, one per host that ran it.
    pub fn task_results(&self, task: &str) -> Vec<&HostResult> {
        self.results_by_task()
            .into_iter()
            .filter(|(t, item, _)| *t == task && !item)
            .map(|(_, _, r)| r)
            .collect()
    }

    /// The hosts `task` reported a final result for, sorted.
    pub fn hosts_of(&self, task: &str) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .task_results(task)
            .iter()
            .map(|r| r.host.clone())
            .collect();
        hosts.sort();
        hosts
    }

    /// The final result of `task` on `host`; panics when there is none.
    pub fn result(&self, task: &str, host: &str) -> &HostResult {
        self.task_results(task)
            .into_iter()
            .find(|r| r.host == host)
            .unwrap_or_else(|| {
                panic!(
                    "no result for `{task}` on {host}; events:\n{:#?}",
                    self.events
                )
            })
    }

    /// The per-item results of `task` on `host`, in item order.
    pub fn items(&self, task: &str, host: &str) -> Vec<&HostResult> {
        self.results_by_task()
            .into_iter()
            .filter(|(t, item, r)| *t == task && *item && r.host == host)
            .map(|(_, _, r)| r)
            .collect()
    }

    /// What a `debug: var=<var>` task named `task` showed on `host`.
    pub fn shown(&self, task: &str, host: &str, var: &str) -> Value {
        let result = &self.result(task, host).result;
        result
            .get(var)
            .cloned()
            .unwrap_or_else(|| panic!("`{task}` on {host} shows no `{var}`: {result:?}"))
    }

    /// The `msg` of a `debug: msg=...` (or failed) task on `host`.
    pub fn msg(&self, task: &str, host: &str) -> Value {
        self.result(task, host)
            .result
            .get("msg")
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The whole result map of `task` on `host`.
    pub fn map(&self, task: &str, host: &str) -> &Map<String, Value> {
        &self.result(task, host).result
    }

    /// Commands `host` received that contain `needle`.
    pub fn commands_with(&self, host: &str, needle: &str) -> Vec<String> {
        self.connector
            .commands(host)
            .into_iter()
            .filter(|c| c.contains(needle))
            .collect()
    }
}

/// Recap counts, written the way PLAY RECAP reads.
pub fn recap(ok: u32, changed: u32, unreachable: u32, failed: u32, skipped: u32) -> HostStats {
    HostStats {
        ok,
        changed,
        unreachable,
        failed,
        skipped,
        ..HostStats::default()
    }
}
