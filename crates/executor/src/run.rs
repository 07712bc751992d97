//! The linear strategy: each task finishes on every host before the next starts; hosts run
//! in parallel up to `forks`; failed and unreachable hosts drop out; blocks rescue and clean
//! up per host; handlers run at flush points for the hosts that notified them.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use tend_inventory::Inventory;
use tend_module_api::{Host, ModuleError};
use tend_playbook::{Action, Block, Meta, Play, Playbook, Step, Task};
use tend_template::Templater;
use tend_transport::TransportError;

use crate::connect::{connection_spec, LazyConnection};
use crate::events::{Event, HostResult, HostStats, RunSummary, Status};
use crate::task::run_task;
use crate::{facts, RunError, RunOptions, Runtime};

/// Everything the run knows about one host, kept across plays.
pub(crate) struct HostState {
    pub name: String,
    pub inventory_vars: Map<String, Value>,
    /// Gathered facts (`ansible_*`).
    pub facts: Map<String, Value>,
    /// `set_fact` and `register` results.
    pub host_vars: Map<String, Value>,
    pub connection: Option<Arc<LazyConnection>>,
    pub failed: bool,
    pub unreachable: bool,
    /// `meta: end_host` for the rest of the play.
    pub ended: bool,
    /// How many enclosing blocks with a `rescue` this host is running the `block` part of:
    /// a failure there counts as rescued, not failed.
    pub rescue_depth: u32,
    /// The last failed task and its result, for `ansible_failed_task`/`ansible_failed_result`.
    pub last_failure: Option<(Value, Map<String, Value>)>,
    /// Handlers (by index in the play) notified since the last flush.
    pub notified: BTreeSet<usize>,
    /// While a delegated task runs: where it runs, for the `[host -> other]` display.
    pub delegated_to: Option<String>,
    pub stats: HostStats,
}

impl HostState {
    pub fn active(&self) -> bool {
        !self.failed && !self.unreachable && !self.ended
    }
}

/// Per-play context shared by every host future.
pub(crate) struct PlayContext<'a> {
    pub playbook: &'a Playbook,
    pub play: &'a Play,
    pub inventory: &'a Inventory,
    pub options: &'a RunOptions,
    pub runtime: &'a Runtime,
    pub templater: &'a Templater,
    /// Every host the play selected (`ansible_play_hosts_all`).
    pub play_hosts_all: Vec<String>,
    /// Whether anything in the play mentions `hostvars`: building it costs a copy of every
    /// host's variables per task, so it is only built when used.
    pub uses_hostvars: bool,
    pub groups: Value,
    pub search_dirs: Vec<PathBuf>,
    /// `--start-at-task`: whether the named task has been reached (shared by all plays).
    pub started: &'a std::sync::atomic::AtomicBool,
    /// Connections to hosts that tasks are delegated to, one per host for the play.
    pub delegates: std::sync::Mutex<HashMap<String, Arc<LazyConnection>>>,
}

/// Runs every play of `playbook`. Host failures are in the summary; only a bad host
/// pattern stops the run.
pub async fn run_playbook(
    playbook: &Playbook,
    inventory: &Inventory,
    options: &RunOptions,
    runtime: &Runtime,
) -> Result<RunSummary, RunError> {
    let templater = Templater::new();
    // A bad --limit is an error before any play starts, as in ansible-playbook.
    if let Some(limit) = &options.limit {
        inventory
            .select_with_limit("all", Some(limit))
            .map_err(|e| RunError::Pattern(e.to_string()))?;
    }
    let mut states: HashMap<String, HostState> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let groups = serde_json::to_value(inventory.groups()).unwrap_or(Value::Null);
    let started = std::sync::atomic::AtomicBool::new(options.start_at_task.is_none());

    for play in &playbook.plays {
        runtime.sink.event(Event::PlayStart {
            name: play.name.clone(),
        });
        let targeted = inventory
            .select_with_limit(&play.hosts, options.limit.as_deref())
            .map_err(|e| RunError::Pattern(e.to_string()))?;
        // Hosts that failed or went unreachable in an earlier play stay out, as in Ansible
        // (they still count in `ansible_play_hosts_all`).
        let hosts: Vec<String> = targeted
            .iter()
            .filter(|h| states.get(*h).is_none_or(|s| !s.failed && !s.unreachable))
            .cloned()
            .collect();
        if hosts.is_empty() {
            runtime.sink.event(Event::NoHostsMatched);
            continue;
        }
        let mut play_states: Vec<HostState> = hosts
            .iter()
            .map(|h| {
                if !order.contains(h) {
                    order.push(h.clone());
                }
                let mut state = states.remove(h).unwrap_or_else(|| new_host(inventory, h));
                state.ended = false;
                state
            })
            .collect();
        let ctx = PlayContext {
            playbook,
            play,
            inventory,
            options,
            runtime,
            templater: &templater,
            play_hosts_all: targeted.clone(),
            uses_hostvars: crate::hostvars::play_mentions(play, "hostvars"),
            groups: groups.clone(),
            search_dirs: vec![playbook.dir.clone()],
            started: &started,
            delegates: std::sync::Mutex::default(),
        };
        run_play(&ctx, &mut play_states).await;
        let delegates: Vec<Arc<LazyConnection>> = ctx
            .delegates
            .lock()
            .map(|d| d.values().cloned().collect())
            .unwrap_or_default();
        for connection in delegates {
            connection.shutdown().await;
        }
        for state in play_states {
            states.insert(state.name.clone(), state);
        }
    }

    for state in states.values() {
        if let Some(connection) = &state.connection {
            connection.shutdown().await;
        }
    }

    // Like Ansible's recap, only hosts that something happened to are listed.
    let hosts = order
        .into_iter()
        .filter_map(|h| states.remove(&h).map(|s| (h, s.stats)))
        .filter(|(_, s)| *s != HostStats::default())
        .collect();
    Ok(RunSummary { hosts })
}

fn new_host(inventory: &Inventory, name: &str) -> HostState {
    HostState {
        name: name.to_string(),
        inventory_vars: inventory.host_vars(name),
        facts: Map::new(),
        host_vars: Map::new(),
        connection: None,
        failed: false,
        unreachable: false,
        ended: false,
        rescue_depth: 0,
        last_failure: None,
        notified: BTreeSet::new(),
        delegated_to: None,
        stats: HostStats::default(),
    }
}

/// Whether the play goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    EndPlay,
}

async fn run_play(ctx: &PlayContext<'_>, hosts: &mut [HostState]) {
    let everyone = vec![true; hosts.len()];
    if ctx.play.gather_facts {
        run_on_hosts(
            ctx,
            hosts,
            &everyone,
            "Gathering Facts",
            false,
            |ctx, host, _| Box::pin(gather_facts(ctx, host)),
        )
        .await;
    }
    let force = ctx.options.force_handlers || ctx.play.force_handlers;
    for (section, steps) in [
        ("pre_tasks", &ctx.play.pre_tasks),
        ("tasks", &ctx.play.tasks),
        ("post_tasks", &ctx.play.post_tasks),
    ] {
        if steps.is_empty() && section != "tasks" {
            continue;
        }
        let flow = run_steps(ctx, steps, hosts, &everyone).await;
        // Handlers flush at the end of each section; with force_handlers even for hosts
        // that failed, and even when no host is left.
        if hosts.iter().any(HostState::active) || force {
            flush_handlers(ctx, hosts, &everyone).await;
        }
        if flow == Flow::EndPlay {
            return;
        }
        if !hosts.iter().any(HostState::active) {
            ctx.runtime.sink.event(Event::NoMoreHosts);
            return;
        }
    }
}

fn in_scope(hosts: &[HostState], scope: &[bool]) -> bool {
    hosts.iter().zip(scope).any(|(h, s)| *s && h.active())
}

/// Runs a list of steps on the hosts in `scope`.
fn run_steps<'a>(
    ctx: &'a PlayContext<'a>,
    steps: &'a [Step],
    hosts: &'a mut [HostState],
    scope: &'a [bool],
) -> BoxFuture<'a, Flow> {
    Box::pin(async move {
        for step in steps {
            if !in_scope(hosts, scope) {
                break;
            }
            let flow = match step {
                Step::Task(task) if !selected(ctx, task) => Flow::Continue,
                Step::Task(task) => match task.module {
                    Action::Meta(meta) => run_meta(ctx, task, meta, hosts, scope).await,
                    Action::Module(_) if task.run_once => {
                        run_once(ctx, task, hosts, scope).await;
                        Flow::Continue
                    }
                    Action::Module(_) => {
                        let name = display_name(ctx, task);
                        run_on_hosts(ctx, hosts, scope, &name, false, |ctx, host, play_hosts| {
                            Box::pin(run_task(ctx, task, host, play_hosts))
                        })
                        .await;
                        Flow::Continue
                    }
                },
                Step::Block(block) => run_block(ctx, block, hosts, scope).await,
            };
            if flow == Flow::EndPlay {
                return Flow::EndPlay;
            }
        }
        Flow::Continue
    })
}

/// What every host of one task shares: the hosts still in the play and, when the play
/// uses it, `hostvars`.
pub(crate) struct TaskShared {
    /// `ansible_play_hosts`: the hosts still in the play when the task starts.
    pub play_hosts: Vec<String>,
    pub hostvars: Option<Value>,
}

impl TaskShared {
    fn new(ctx: &PlayContext<'_>, hosts: &[HostState]) -> Self {
        TaskShared {
            play_hosts: hosts
                .iter()
                .filter(|h| h.active())
                .map(|h| h.name.clone())
                .collect(),
            hostvars: ctx
                .uses_hostvars
                .then(|| crate::hostvars::snapshot(ctx.inventory, hosts)),
        }
    }
}

/// `run_once`: the first host in scope runs the task; what it registers and sets is given
/// to every other host, and a failure fails them all, as in Ansible.
async fn run_once(ctx: &PlayContext<'_>, task: &Task, hosts: &mut [HostState], scope: &[bool]) {
    let Some(first) = hosts.iter().zip(scope).position(|(h, s)| *s && h.active()) else {
        return;
    };
    let before = hosts[first].host_vars.clone();
    let mut only = vec![false; hosts.len()];
    only[first] = true;
    let name = display_name(ctx, task);
    run_on_hosts(ctx, hosts, &only, &name, false, |ctx, host, play_hosts| {
        Box::pin(run_task(ctx, task, host, play_hosts))
    })
    .await;
    let runner = &hosts[first];
    let failed = runner.failed;
    let set: Vec<(String, Value)> = runner
        .host_vars
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let ignore = task.ignore_errors || ctx.play.ignore_errors;
    for (i, (h, s)) in hosts.iter_mut().zip(scope).enumerate() {
        if i == first || !*s || !h.active() {
            continue;
        }
        for (k, v) in &set {
            h.host_vars.insert(k.clone(), v.clone());
        }
        if failed && !ignore {
            h.failed = true;
        }
    }
}

/// The connection for a host a task is delegated to, shared by the play.
pub(crate) fn delegate_connection(ctx: &PlayContext<'_>, target: &str) -> Arc<LazyConnection> {
    let mut delegates = match ctx.delegates.lock() {
        Ok(d) => d,
        Err(poisoned) => poisoned.into_inner(),
    };
    delegates
        .entry(target.to_string())
        .or_insert_with(|| {
            let spec = connection_spec(
                target,
                &ctx.inventory.host_vars(target),
                &ctx.play.vars,
                ctx.play.remote_user.as_deref(),
                ctx.options,
                ctx.templater,
            );
            Arc::new(LazyConnection::new(ctx.runtime.connector.clone(), spec))
        })
        .clone()
}

/// Whether `--tags`, `--skip-tags` and `--start-at-task` let a task run.
fn selected(ctx: &PlayContext<'_>, task: &Task) -> bool {
    use std::sync::atomic::Ordering;
    if !ctx.started.load(Ordering::Relaxed) {
        let wanted = ctx.options.start_at_task.as_deref().unwrap_or_default();
        if task.display_name() != wanted && display_name(ctx, task) != wanted {
            return false;
        }
        ctx.started.store(true, Ordering::Relaxed);
    }
    crate::tags::should_run(&task.tags, &ctx.options.tags, &ctx.options.skip_tags)
}

/// `block`, then `rescue` for the hosts that failed in it, then `always` for everyone who
/// entered, failed or not.
async fn run_block(
    ctx: &PlayContext<'_>,
    block: &Block,
    hosts: &mut [HostState],
    scope: &[bool],
) -> Flow {
    let entered: Vec<bool> = hosts
        .iter()
        .zip(scope)
        .map(|(h, s)| *s && h.active())
        .collect();
    let has_rescue = !block.rescue.is_empty();
    let each_entered = |hosts: &mut [HostState], f: &mut dyn FnMut(&mut HostState)| {
        for (h, e) in hosts.iter_mut().zip(&entered) {
            if *e {
                f(h);
            }
        }
    };
    if has_rescue {
        each_entered(hosts, &mut |h| h.rescue_depth += 1);
    }
    let flow = run_steps(ctx, &block.block, hosts, &entered).await;
    if has_rescue {
        each_entered(hosts, &mut |h| h.rescue_depth -= 1);
    }
    if flow == Flow::EndPlay {
        return flow;
    }
    if has_rescue {
        let rescuing: Vec<bool> = hosts
            .iter()
            .zip(&entered)
            .map(|(h, e)| *e && h.failed && !h.unreachable)
            .collect();
        if rescuing.contains(&true) {
            for (h, r) in hosts.iter_mut().zip(&rescuing) {
                if *r {
                    h.failed = false;
                    if let Some((task, result)) = h.last_failure.clone() {
                        h.host_vars.insert("ansible_failed_task".into(), task);
                        h.host_vars
                            .insert("ansible_failed_result".into(), Value::Object(result));
                    }
                }
            }
            if run_steps(ctx, &block.rescue, hosts, &rescuing).await == Flow::EndPlay {
                return Flow::EndPlay;
            }
        }
    }
    if !block.always.is_empty() {
        let was_failed: Vec<bool> = hosts
            .iter()
            .zip(&entered)
            .map(|(h, e)| *e && h.failed)
            .collect();
        for (h, f) in hosts.iter_mut().zip(&was_failed) {
            if *f {
                h.failed = false;
            }
        }
        let flow = run_steps(ctx, &block.always, hosts, &entered).await;
        // `always` does not undo a failure it did not rescue.
        for (h, f) in hosts.iter_mut().zip(&was_failed) {
            if *f {
                h.failed = true;
            }
        }
        return flow;
    }
    Flow::Continue
}

async fn run_meta(
    ctx: &PlayContext<'_>,
    task: &Task,
    meta: Meta,
    hosts: &mut [HostState],
    scope: &[bool],
) -> Flow {
    // Which hosts the action applies to: `when` is evaluated per host.
    let mut applies = Vec::with_capacity(hosts.len());
    for (h, s) in hosts.iter().zip(scope) {
        applies.push(
            *s && (h.active() || meta == Meta::ClearHostErrors)
                && crate::task::when_holds(ctx, task, h),
        );
    }
    match meta {
        Meta::FlushHandlers => flush_handlers(ctx, hosts, &applies).await,
        Meta::EndPlay | Meta::EndBatch => {
            if applies.contains(&true) {
                return Flow::EndPlay;
            }
        }
        Meta::EndHost => {
            for (h, a) in hosts.iter_mut().zip(&applies) {
                if *a {
                    h.ended = true;
                }
            }
        }
        Meta::ClearHostErrors => {
            for (h, a) in hosts.iter_mut().zip(&applies) {
                if *a && !h.unreachable {
                    h.failed = false;
                }
            }
        }
        Meta::ClearFacts => {
            for (h, a) in hosts.iter_mut().zip(&applies) {
                if *a {
                    h.facts.clear();
                }
            }
        }
        Meta::ResetConnection => {
            for (h, a) in hosts.iter_mut().zip(&applies) {
                if *a {
                    if let Some(c) = h.connection.take() {
                        c.shutdown().await;
                    }
                }
            }
        }
        Meta::Noop | Meta::RefreshInventory => {}
    }
    Flow::Continue
}

/// The name shown in the task banner: templated with host-independent variables (those
/// that are undefined leave the name as written), prefixed with the role as Ansible does.
fn display_name(ctx: &PlayContext<'_>, task: &Task) -> String {
    let name = task.display_name();
    let name = if tend_template::is_template(name) {
        let mut vars = task
            .role
            .as_ref()
            .map(|r| r.defaults.clone())
            .unwrap_or_default();
        vars.extend(ctx.play.vars.clone());
        if let Some(role) = &task.role {
            vars.extend(role.vars.clone());
        }
        vars.extend(task.vars.clone());
        vars.extend(ctx.options.extra_vars.clone());
        ctx.templater
            .render_str(name, &Value::Object(vars))
            .ok()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .unwrap_or_else(|| name.to_string())
    } else {
        name.to_string()
    };
    match &task.role {
        Some(role) => format!("{} : {name}", role.name),
        None => name,
    }
}

type HostFuture<'a> = BoxFuture<'a, ()>;

/// Runs one step on every active host in `scope`, `forks` at a time.
async fn run_on_hosts<'a, F>(
    ctx: &'a PlayContext<'a>,
    hosts: &'a mut [HostState],
    scope: &[bool],
    name: &str,
    handler: bool,
    step: F,
) where
    F: Fn(&'a PlayContext<'a>, &'a mut HostState, Arc<TaskShared>) -> HostFuture<'a>,
{
    ctx.runtime.sink.event(Event::TaskStart {
        name: name.to_string(),
        handler,
    });
    let play_hosts = Arc::new(TaskShared::new(ctx, hosts));
    let futures: Vec<_> = hosts
        .iter_mut()
        .zip(scope)
        .filter(|(h, s)| **s && h.active())
        .map(|(h, _)| step(ctx, h, play_hosts.clone()))
        .collect();
    stream::iter(futures)
        .buffer_unordered(ctx.options.forks.max(1))
        .collect::<Vec<()>>()
        .await;
}

async fn flush_handlers(ctx: &PlayContext<'_>, hosts: &mut [HostState], scope: &[bool]) {
    let force = ctx.options.force_handlers || ctx.play.force_handlers;
    for (index, handler) in ctx.play.handlers.iter().enumerate() {
        let wanted: Vec<bool> = hosts
            .iter()
            .zip(scope)
            .map(|(h, s)| {
                *s && h.notified.contains(&index)
                    && !h.unreachable
                    && !h.ended
                    && (force || !h.failed)
            })
            .collect();
        if !wanted.contains(&true) {
            continue;
        }
        ctx.runtime.sink.event(Event::TaskStart {
            name: display_name(ctx, handler),
            handler: true,
        });
        let play_hosts = Arc::new(TaskShared::new(ctx, hosts));
        let futures: Vec<_> = hosts
            .iter_mut()
            .zip(&wanted)
            .filter(|(_, w)| **w)
            .map(|(h, _)| {
                h.notified.remove(&index);
                // A forced handler runs on a failed host; it stays failed afterwards.
                let was_failed = std::mem::replace(&mut h.failed, false);
                let play_hosts = play_hosts.clone();
                Box::pin(async move {
                    run_task(ctx, handler, h, play_hosts).await;
                    h.failed |= was_failed;
                }) as HostFuture<'_>
            })
            .collect();
        stream::iter(futures)
            .buffer_unordered(ctx.options.forks.max(1))
            .collect::<Vec<()>>()
            .await;
    }
    for (h, s) in hosts.iter_mut().zip(scope) {
        if *s {
            h.notified.clear();
        }
    }
}

/// The host's connection, created (not yet opened) on first use and kept for the run.
pub(crate) fn connection(ctx: &PlayContext<'_>, host: &mut HostState) -> Arc<LazyConnection> {
    if let Some(c) = &host.connection {
        return c.clone();
    }
    let spec = connection_spec(
        &host.name,
        &host.inventory_vars,
        &ctx.play.vars,
        ctx.play.remote_user.as_deref(),
        ctx.options,
        ctx.templater,
    );
    let c = Arc::new(LazyConnection::new(ctx.runtime.connector.clone(), spec));
    host.connection = Some(c.clone());
    c
}

/// Records a host as unreachable for the rest of the run.
pub(crate) fn unreachable(ctx: &PlayContext<'_>, host: &mut HostState, error: &TransportError) {
    host.unreachable = true;
    host.stats.unreachable += 1;
    let mut result = Map::new();
    result.insert("changed".into(), false.into());
    result.insert("msg".into(), error.to_string().into());
    result.insert("unreachable".into(), true.into());
    emit(
        ctx,
        host,
        Status::Unreachable,
        None,
        result,
        Vec::new(),
        false,
        false,
    );
}

async fn gather_facts(ctx: &PlayContext<'_>, host: &mut HostState) {
    let handle = Host::new(host.name.clone(), connection(ctx, host));
    match facts::gather(&handle).await {
        Ok(facts) => {
            host.facts = facts;
            host.stats.ok += 1;
            emit(
                ctx,
                host,
                Status::Ok,
                None,
                Map::new(),
                Vec::new(),
                false,
                false,
            );
        }
        Err(ModuleError::Transport(e)) if e.is_unreachable() => unreachable(ctx, host, &e),
        Err(e) => {
            host.failed = true;
            host.stats.failed += 1;
            let mut result = Map::new();
            result.insert("msg".into(), format!("fact gathering failed: {e}").into());
            emit(
                ctx,
                host,
                Status::Failed,
                None,
                result,
                Vec::new(),
                false,
                false,
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn emit(
    ctx: &PlayContext<'_>,
    host: &HostState,
    status: Status,
    item: Option<String>,
    result: Map<String, Value>,
    diffs: Vec<tend_module_api::Diff>,
    ignored: bool,
    verbose_always: bool,
) {
    let r = HostResult {
        host: host.name.clone(),
        delegated_to: host.delegated_to.clone(),
        status,
        item: item.clone(),
        ignored,
        result,
        diffs,
        verbose_always,
    };
    ctx.runtime.sink.event(if item.is_some() {
        Event::ItemResult(r)
    } else {
        Event::TaskResult(r)
    });
}

/// Ansible's `ansible_failed_task`: enough of the task to name it in a rescue.
pub(crate) fn failed_task_value(task: &Task) -> Value {
    json!({
        "name": task.name.clone().unwrap_or_default(),
        "action": task.action,
        "path": task.location.to_string(),
    })
}
