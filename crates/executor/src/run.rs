//! Plays over hosts: `order` and `serial` batches; the linear strategy (each task finishes on
//! every host before the next starts) and the free one (each host runs through the play on its
//! own); hosts run in parallel up to `forks`; failed and unreachable hosts drop out, and
//! `any_errors_fatal`/`max_fail_percentage` take the others with them; blocks rescue and clean
//! up per host; handlers run at flush points for the hosts that notified them.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use tend_inventory::Inventory;
use tend_module_api::{Host, ModuleError};
use tend_playbook::{
    Action, BatchSize, Block, HostOrder, Meta, Play, Playbook, Step, Strategy, Task,
};
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
    /// Free strategy: the banner of the task this host is running, shown before its first
    /// result unless it is already the last banner shown.
    pub banner: Option<Banner>,
    /// When the task this host is running started, for the result's duration.
    pub task_started: Instant,
    /// Parameters of the includes this host is inside (innermost last).
    pub include_vars: Vec<Map<String, Value>>,
    pub stats: HostStats,
}

/// A task banner: its shown name, whether it is a handler, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Banner {
    pub name: String,
    pub handler: bool,
    pub path: Option<String>,
}

impl Banner {
    pub fn of(name: &str, task: Option<&Task>, handler: bool) -> Self {
        Banner {
            name: name.to_string(),
            handler,
            // `file:line`, as Ansible shows a task's path.
            path: task.map(|t| format!("{}:{}", t.location.file.display(), t.location.line)),
        }
    }

    pub fn event(&self) -> Event {
        Event::TaskStart {
            name: self.name.clone(),
            handler: self.handler,
            path: self.path.clone(),
        }
    }
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
    /// The hosts of the current `serial` batch (all of the play's without `serial`),
    /// including hosts that failed in an earlier play: `max_fail_percentage` counts them.
    pub batch: Vec<String>,
    /// The hosts of the batch that started the play (free strategy: `ansible_play_hosts`,
    /// since each host only sees its own state).
    pub batch_running: Vec<String>,
    /// Hosts of the play already out of it when this batch started (failed or unreachable
    /// earlier, or ended in an earlier batch): not in `ansible_play_hosts`.
    pub removed: Vec<String>,
    /// Free strategy: the last task banner shown, so a banner shows only when the task
    /// whose results follow changes.
    pub last_banner: std::sync::Mutex<Option<Banner>>,
    /// For `hostvars`: the variables of the play's hosts that are not in this batch's
    /// slice of host states (earlier batches, or the other hosts under the free strategy).
    pub outside_hostvars: Map<String, Value>,
    /// Whether anything in the play mentions `hostvars`: building it costs a copy of every
    /// host's variables per task, so it is only built when used.
    pub uses_hostvars: bool,
    /// Whether a task may read the magic variables that list hosts (`groups`, `play_hosts`,
    /// `ansible_play_hosts`, `ansible_play_batch`, `ansible_play_hosts_all`): each is as long
    /// as the inventory, and copying them into every host's variables for every task made
    /// memory and time grow with the square of the number of hosts.
    pub uses_host_lists: bool,
    pub groups: Value,
    pub search_dirs: Vec<PathBuf>,
    /// `--start-at-task`: whether the named task has been reached (shared by all plays).
    pub started: &'a std::sync::atomic::AtomicBool,
    /// `--step`: whether tasks are still confirmed one by one (shared by all plays).
    pub stepping: &'a std::sync::atomic::AtomicBool,
    /// `delegate_facts`: facts set for other hosts, handed over once the task is done.
    pub delegated_facts: std::sync::Mutex<Vec<(String, Map<String, Value>)>>,
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
    let stepping = std::sync::atomic::AtomicBool::new(options.step);

    'plays: for play in &playbook.plays {
        // `ansible_play_hosts_all` keeps inventory order; `order` is the order of the run.
        let targeted = inventory
            .select_with_limit(&play.hosts, options.limit.as_deref())
            .map_err(|e| RunError::Pattern(e.to_string()))?;
        let mut ordered = targeted.clone();
        order_hosts(&mut ordered, play.order);
        let uses_hostvars = crate::hostvars::play_mentions(play, "hostvars");
        let uses_host_lists = uses_hostvars
            || crate::hostvars::play_may_read(
                play,
                inventory,
                &options.extra_vars,
                &["groups", "play_hosts", "ansible_play_batch"],
            );
        let batches = serial_batches(&ordered, &play.serial);
        let mut ended_in_play: Vec<String> = Vec::new();
        if batches.is_empty() {
            runtime.sink.event(Event::PlayStart {
                name: play.name.clone(),
                hosts: Vec::new(),
            });
            runtime.sink.event(Event::NoHostsMatched);
        }
        for batch in batches {
            if options.interrupt.is_triggered() {
                break 'plays;
            }
            runtime.sink.event(Event::PlayStart {
                name: play.name.clone(),
                hosts: batch.iter().map(|h| h.to_string()).collect(),
            });
            // Hosts that failed or went unreachable in an earlier play stay out, as in
            // Ansible (they still count in `ansible_play_hosts_all`).
            let hosts: Vec<String> = batch
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
            let outside_hostvars = match (uses_hostvars, play.strategy) {
                (false, _) => Map::new(),
                (true, Strategy::Linear) => crate::hostvars::host_entries(states.values()),
                (true, Strategy::Free) => {
                    crate::hostvars::host_entries(states.values().chain(&play_states))
                }
            };
            let removed: Vec<String> = targeted
                .iter()
                .filter(|h| {
                    ended_in_play.contains(h)
                        || states.get(*h).is_some_and(|s| s.failed || s.unreachable)
                })
                .cloned()
                .collect();
            let ctx = PlayContext {
                playbook,
                play,
                inventory,
                options,
                runtime,
                templater: &templater,
                play_hosts_all: targeted.clone(),
                batch,
                batch_running: hosts,
                removed,
                last_banner: std::sync::Mutex::default(),
                outside_hostvars,
                uses_hostvars,
                uses_host_lists,
                groups: groups.clone(),
                search_dirs: if play.dir == playbook.dir {
                    vec![playbook.dir.clone()]
                } else {
                    vec![play.dir.clone(), playbook.dir.clone()]
                },
                started: &started,
                stepping: &stepping,
                delegated_facts: std::sync::Mutex::default(),
                delegates: std::sync::Mutex::default(),
            };
            let flow = run_play(&ctx, &mut play_states).await;
            let delegates: Vec<Arc<LazyConnection>> = ctx
                .delegates
                .lock()
                .map(|d| d.values().cloned().collect())
                .unwrap_or_default();
            for connection in delegates {
                connection.shutdown().await;
            }
            // Facts delegated to hosts outside this batch.
            let handed: Vec<(String, Map<String, Value>)> = ctx
                .delegated_facts
                .lock()
                .map(|mut f| std::mem::take(&mut *f))
                .unwrap_or_default();
            for (target, facts) in handed {
                let state = match play_states.iter_mut().find(|s| s.name == target) {
                    Some(state) => state,
                    None => states
                        .entry(target.clone())
                        .or_insert_with(|| new_host(inventory, &target)),
                };
                state.host_vars.extend(facts);
            }
            // A batch where every host failed ends the whole run, as in ansible-playbook.
            let all_failed = play_states.iter().all(|s| s.failed || s.unreachable);
            ended_in_play.extend(
                play_states
                    .iter()
                    .filter(|s| s.ended)
                    .map(|s| s.name.clone()),
            );
            for state in play_states {
                states.insert(state.name.clone(), state);
            }
            match flow {
                Flow::Abort | Flow::Interrupted => break 'plays,
                _ if all_failed => break 'plays,
                Flow::EndPlay => break,
                Flow::Continue | Flow::EndBatch => {}
            }
        }
    }

    for state in states.values() {
        if let Some(connection) = &state.connection {
            connection.shutdown().await;
        }
    }

    // Like Ansible's recap, only hosts that something happened to are listed.
    // Ansible's recap lists hosts sorted by name.
    order.sort();
    let hosts = order
        .into_iter()
        .filter_map(|h| states.remove(&h).map(|s| (h, s.stats)))
        .filter(|(_, s)| *s != HostStats::default())
        .collect();
    Ok(RunSummary { hosts })
}

/// `order`: the order a play takes its hosts in.
fn order_hosts(hosts: &mut [String], order: HostOrder) {
    match order {
        HostOrder::Inventory => {}
        HostOrder::ReverseInventory => hosts.reverse(),
        HostOrder::Sorted => hosts.sort(),
        HostOrder::ReverseSorted => {
            hosts.sort();
            hosts.reverse();
        }
        HostOrder::Shuffle => {
            // std's per-process random hash keys are randomness enough for an order.
            use std::hash::{BuildHasher, Hasher};
            let mut state = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            for i in (1..hosts.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                hosts.swap(i, (state % (i as u64 + 1)) as usize);
            }
        }
    }
}

/// `serial`: the play's hosts cut into batches, as Ansible's `_get_serialized_batches` does:
/// the sizes are used in turn, the last one repeating; a size of 0 or less takes the rest.
fn serial_batches(hosts: &[String], serial: &[BatchSize]) -> Vec<Vec<String>> {
    let mut batches = Vec::new();
    let mut rest = hosts;
    let mut turn = 0;
    while !rest.is_empty() {
        let size = serial
            .get(turn.min(serial.len().saturating_sub(1)))
            .map_or(-1, |s| s.hosts(hosts.len()));
        if size <= 0 {
            batches.push(rest.to_vec());
            break;
        }
        let take = (size as usize).min(rest.len());
        batches.push(rest[..take].to_vec());
        rest = &rest[take..];
        turn += 1;
    }
    batches
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
        banner: None,
        task_started: Instant::now(),
        include_vars: Vec::new(),
        stats: HostStats::default(),
    }
}

/// Whether the play goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// `meta: end_batch`: this batch is done; the next one runs.
    EndBatch,
    /// `meta: end_play`: this play is done, for every batch.
    EndPlay,
    /// `max_fail_percentage` was exceeded: the whole run stops.
    Abort,
    /// The run was interrupted (Ctrl-C): it stops where it is, with no handlers or
    /// `rescue`/`always` sections run.
    Interrupted,
}

async fn run_play(ctx: &PlayContext<'_>, hosts: &mut [HostState]) -> Flow {
    if ctx.play.strategy == Strategy::Linear {
        return run_play_on(ctx, hosts).await;
    }
    // The free strategy: every host runs through the play as fast as it can.
    let all = stream::iter(hosts.chunks_mut(1).map(|one| run_play_on(ctx, one)))
        .buffer_unordered(ctx.options.forks.max(1))
        .collect::<Vec<Flow>>();
    let flows = tokio::select! {
        flows = all => flows,
        _ = ctx.options.interrupt.triggered() => return Flow::Interrupted,
    };
    if flows.contains(&Flow::Interrupted) {
        return Flow::Interrupted;
    }
    if !hosts.iter().any(HostState::active) {
        ctx.runtime.sink.event(Event::NoMoreHosts);
    }
    flows
        .into_iter()
        .find(|f| *f == Flow::EndPlay)
        .unwrap_or(Flow::Continue)
}

/// The play on `hosts`: all of a batch (linear strategy) or one host (free strategy).
async fn run_play_on(ctx: &PlayContext<'_>, hosts: &mut [HostState]) -> Flow {
    let everyone = vec![true; hosts.len()];
    if ctx.play.gather_facts {
        run_on_hosts(
            ctx,
            hosts,
            &everyone,
            Banner::of("Gathering Facts", None, false),
            |ctx, host, _| Box::pin(gather_facts(ctx, host)),
        )
        .await;
    }
    if ctx.options.interrupt.is_triggered() {
        return Flow::Interrupted;
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
        if flow == Flow::Interrupted {
            return flow;
        }
        if flow == Flow::Abort {
            ctx.runtime.sink.event(Event::NoMoreHosts);
            return flow;
        }
        // Handlers flush at the end of each section; with force_handlers even for hosts
        // that failed, and even when no host is left.
        if hosts.iter().any(HostState::active) || force {
            flush_handlers(ctx, hosts, &everyone).await;
        }
        if flow != Flow::Continue {
            return flow;
        }
        if !hosts.iter().any(HostState::active) {
            if ctx.play.strategy == Strategy::Linear {
                ctx.runtime.sink.event(Event::NoMoreHosts);
            }
            return Flow::Continue;
        }
    }
    Flow::Continue
}

fn in_scope(hosts: &[HostState], scope: &[bool]) -> bool {
    hosts.iter().zip(scope).any(|(h, s)| *s && h.active())
}

/// Runs a list of steps on the hosts in `scope`.
pub(crate) fn run_steps<'a>(
    ctx: &'a PlayContext<'a>,
    steps: &'a [Step],
    hosts: &'a mut [HostState],
    scope: &'a [bool],
) -> BoxFuture<'a, Flow> {
    Box::pin(async move {
        for step in steps {
            if ctx.options.interrupt.is_triggered() {
                return Flow::Interrupted;
            }
            if !in_scope(hosts, scope) {
                break;
            }
            let flow = match step {
                Step::Task(task) if !selected(ctx, task) => Flow::Continue,
                Step::Task(task) if !confirmed(ctx, task) => Flow::Continue,
                Step::Task(task) => match task.module {
                    Action::Meta(meta) => run_meta(ctx, task, meta, hosts, scope).await,
                    Action::Module(_) | Action::Include(_) => {
                        let ran: Vec<bool> = hosts
                            .iter()
                            .zip(scope)
                            .map(|(h, s)| *s && h.active())
                            .collect();
                        if (task.run_once || bypasses_host_loop(task))
                            && ctx.play.strategy == Strategy::Linear
                        {
                            run_once(ctx, task, hosts, scope).await;
                        } else {
                            let name = display_name(ctx, task);
                            run_on_hosts(
                                ctx,
                                hosts,
                                scope,
                                Banner::of(&name, Some(task), false),
                                |ctx, host, shared| Box::pin(run_task(ctx, task, host, shared)),
                            )
                            .await;
                        }
                        hand_over_facts(ctx, hosts);
                        after_task(ctx, task, hosts, &ran)
                    }
                },
                Step::Block(block) => run_block(ctx, block, hosts, scope).await,
                Step::Include(include) => {
                    crate::include::run_include(ctx, include, hosts, scope).await
                }
            };
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    })
}

/// `--step`: asks whether to run a module task, until the answer is `continue`.
pub(crate) fn confirmed(ctx: &PlayContext<'_>, task: &Task) -> bool {
    use std::sync::atomic::Ordering;
    if matches!(task.module, Action::Meta(_)) || !ctx.stepping.load(Ordering::Relaxed) {
        return true;
    }
    match ctx
        .runtime
        .sink
        .confirm_step(&format!("TASK: {}", display_name(ctx, task)))
    {
        crate::StepAnswer::Yes => true,
        crate::StepAnswer::No => false,
        crate::StepAnswer::Continue => {
            ctx.stepping.store(false, Ordering::Relaxed);
            true
        }
    }
}

/// `any_errors_fatal` and `max_fail_percentage` after a task ran on the hosts in `ran`.
fn after_task(ctx: &PlayContext<'_>, task: &Task, hosts: &mut [HostState], ran: &[bool]) -> Flow {
    if !ran.contains(&true) {
        return Flow::Continue;
    }
    let broke: Vec<bool> = hosts
        .iter()
        .zip(ran)
        .map(|(h, r)| *r && (h.failed || h.unreachable))
        .collect();
    let ignoring = task.ignore_errors || ctx.play.ignore_errors;
    let fatal = task.any_errors_fatal.unwrap_or(ctx.play.any_errors_fatal);
    // Every other host fails where it stands, as if the task had failed there too: a
    // block's `rescue`/`always` still run for it (Ansible marks the host failed in its
    // iterator; no count changes).
    if fatal && !ignoring && broke.contains(&true) && ctx.play.strategy == Strategy::Linear {
        for (h, b) in hosts.iter_mut().zip(&broke) {
            if !*b && h.active() {
                h.failed = true;
            }
        }
    }
    if let (Some(max), Strategy::Linear) = (ctx.play.max_fail_percentage, ctx.play.strategy) {
        // Failures not being rescued, over the whole batch as Ansible counts them.
        let failed = hosts
            .iter()
            .filter(|h| h.failed && !h.unreachable && h.rescue_depth == 0)
            .count();
        if failed as f64 / ctx.batch.len().max(1) as f64 > max / 100.0 {
            for h in hosts.iter_mut() {
                if h.active() {
                    h.failed = true;
                }
            }
            return Flow::Abort;
        }
    }
    Flow::Continue
}

/// What every host of one task shares: the hosts still in the play and, when the play
/// uses it, `hostvars`.
pub(crate) struct TaskShared {
    /// `ansible_play_hosts`: the play's hosts still in it when the task starts.
    pub play_hosts: Vec<String>,
    /// `ansible_play_batch`: the same, for the current batch only, in the play's `order`.
    pub play_batch: Vec<String>,
    pub hostvars: Option<Value>,
}

impl TaskShared {
    pub(crate) fn new(ctx: &PlayContext<'_>, hosts: &[HostState]) -> Self {
        // Hosts out of the play; a set, as this runs for every task over every host.
        let out: std::collections::HashSet<&str> = hosts
            .iter()
            .filter(|h| !h.active())
            .map(|h| h.name.as_str())
            .chain(ctx.removed.iter().map(String::as_str))
            .collect();
        let in_play = |h: &&String| !out.contains(h.as_str());
        let (play_hosts, play_batch) = match ctx.play.strategy {
            Strategy::Linear => (
                ctx.play_hosts_all.iter().filter(in_play).cloned().collect(),
                ctx.batch.iter().filter(in_play).cloned().collect(),
            ),
            // Each host only sees its own state.
            Strategy::Free => (ctx.batch_running.clone(), ctx.batch_running.clone()),
        };
        TaskShared {
            play_hosts,
            play_batch,
            hostvars: ctx.uses_hostvars.then(|| {
                // Facts delegated to hosts outside this slice are theirs already.
                let pending = ctx
                    .delegated_facts
                    .lock()
                    .map(|p| p.clone())
                    .unwrap_or_default();
                let mut outside = std::borrow::Cow::Borrowed(&ctx.outside_hostvars);
                for (target, facts) in pending {
                    let entry = outside
                        .to_mut()
                        .entry(target)
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(entry) = entry {
                        entry.extend(facts);
                    }
                }
                crate::hostvars::snapshot(
                    ctx.inventory,
                    ctx.templater,
                    &ctx.groups,
                    &outside,
                    hosts,
                )
            }),
        }
    }
}

/// Modules that declare `BYPASS_HOST_LOOP` (`pause`): they run for the first host only,
/// like `run_once`, but their result stays with that host unless `run_once` is set.
fn bypasses_host_loop(task: &Task) -> bool {
    matches!(&task.module, Action::Module(module) if module.bypass_host_loop())
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
    run_on_hosts(
        ctx,
        hosts,
        &only,
        Banner::of(&name, Some(task), false),
        |ctx, host, play_hosts| Box::pin(run_task(ctx, task, host, play_hosts)),
    )
    .await;
    if !task.run_once {
        return;
    }
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
                ctx.play,
                ctx.options,
                ctx.templater,
            );
            Arc::new(LazyConnection::new(ctx.runtime.connector.clone(), spec))
        })
        .clone()
}

/// Whether `--tags`, `--skip-tags` and `--start-at-task` let a task run.
pub(crate) fn selected(ctx: &PlayContext<'_>, task: &Task) -> bool {
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
    if flow != Flow::Continue {
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
            let flow = run_steps(ctx, &block.rescue, hosts, &rescuing).await;
            if flow != Flow::Continue {
                return flow;
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
        Meta::EndPlay => {
            if applies.contains(&true) {
                return Flow::EndPlay;
            }
        }
        Meta::EndBatch => {
            if applies.contains(&true) {
                return Flow::EndBatch;
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
pub(crate) fn display_name(ctx: &PlayContext<'_>, task: &Task) -> String {
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
    banner: Banner,
    step: F,
) where
    F: Fn(&'a PlayContext<'a>, &'a mut HostState, Arc<TaskShared>) -> HostFuture<'a>,
{
    let free = ctx.play.strategy == Strategy::Free;
    if !free {
        ctx.runtime.sink.event(banner.event());
    }
    let play_hosts = Arc::new(TaskShared::new(ctx, hosts));
    let futures: Vec<_> = hosts
        .iter_mut()
        .zip(scope)
        .filter(|(h, s)| **s && h.active())
        .map(|(h, _)| {
            if free {
                h.banner = Some(banner.clone());
            }
            step(ctx, h, play_hosts.clone())
        })
        .collect();
    run_all(ctx, futures).await;
}

/// Runs the hosts' futures, `forks` at a time, until all are done or the run is interrupted
/// (then those still running are dropped: their commands are abandoned).
async fn run_all<'a>(ctx: &PlayContext<'_>, futures: Vec<HostFuture<'a>>) {
    let all = stream::iter(futures)
        .buffer_unordered(ctx.options.forks.max(1))
        .collect::<Vec<()>>();
    tokio::select! {
        _ = all => {}
        _ = ctx.options.interrupt.triggered() => {}
    }
}

/// `delegate_facts`: gives the facts a task set for other hosts of this slice to them now;
/// facts for hosts outside it wait for the end of the batch.
fn hand_over_facts(ctx: &PlayContext<'_>, hosts: &mut [HostState]) {
    let Ok(mut pending) = ctx.delegated_facts.lock() else {
        return;
    };
    pending.retain(
        |(target, facts)| match hosts.iter_mut().find(|h| h.name == *target) {
            Some(h) => {
                h.host_vars.extend(facts.clone());
                false
            }
            None => true,
        },
    );
}

async fn flush_handlers(ctx: &PlayContext<'_>, hosts: &mut [HostState], scope: &[bool]) {
    let force = ctx.options.force_handlers || ctx.play.force_handlers;
    for (index, handler) in ctx.play.handlers.iter().enumerate() {
        if ctx.options.interrupt.is_triggered() {
            return;
        }
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
        let name = display_name(ctx, handler);
        let free = ctx.play.strategy == Strategy::Free;
        let banner = Banner::of(&name, Some(handler), true);
        if !free {
            ctx.runtime.sink.event(banner.event());
        }
        let play_hosts = Arc::new(TaskShared::new(ctx, hosts));
        let futures: Vec<_> = hosts
            .iter_mut()
            .zip(&wanted)
            .filter(|(_, w)| **w)
            .map(|(h, _)| {
                h.notified.remove(&index);
                if free {
                    h.banner = Some(banner.clone());
                }
                // A forced handler runs on a failed host; it stays failed afterwards.
                let was_failed = std::mem::replace(&mut h.failed, false);
                let play_hosts = play_hosts.clone();
                Box::pin(async move {
                    run_task(ctx, handler, h, play_hosts).await;
                    h.failed |= was_failed;
                }) as HostFuture<'_>
            })
            .collect();
        run_all(ctx, futures).await;
        hand_over_facts(ctx, hosts);
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
        ctx.play,
        ctx.options,
        ctx.templater,
    );
    let c = Arc::new(LazyConnection::new(ctx.runtime.connector.clone(), spec));
    host.connection = Some(c.clone());
    c
}

/// Records a host as unreachable for the rest of the run, or, with `ignore_unreachable`,
/// reports it and goes on (Ansible counts that as ok and ignored). Returns the result.
pub(crate) fn unreachable(
    ctx: &PlayContext<'_>,
    host: &mut HostState,
    error: &TransportError,
    ignore: bool,
) -> Map<String, Value> {
    if ignore {
        host.stats.ok += 1;
        host.stats.ignored += 1;
    } else {
        host.unreachable = true;
        host.stats.unreachable += 1;
    }
    let mut result = Map::new();
    result.insert("changed".into(), false.into());
    result.insert("msg".into(), error.to_string().into());
    result.insert("unreachable".into(), true.into());
    emit(
        ctx,
        host,
        Status::Unreachable,
        None,
        result.clone(),
        Vec::new(),
        ignore,
        false,
    );
    result
}

async fn gather_facts(ctx: &PlayContext<'_>, host: &mut HostState) {
    host.task_started = Instant::now();
    let transport = crate::trace::traced(ctx, true, connection(ctx, host), &host.name);
    let handle = Host::new(host.name.clone(), transport);
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
        Err(ModuleError::Transport(e)) if e.is_unreachable() => {
            unreachable(ctx, host, &e, ctx.play.ignore_unreachable);
        }
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

/// Free strategy: the banner of the task whose result follows, unless it was the last shown.
pub(crate) fn show_free_banner(ctx: &PlayContext<'_>, host: &HostState) {
    let Some(banner) = &host.banner else {
        return;
    };
    let mut last = match ctx.last_banner.lock() {
        Ok(last) => last,
        Err(poisoned) => poisoned.into_inner(),
    };
    if last.as_ref() != Some(banner) {
        ctx.runtime.sink.event(banner.event());
        *last = Some(banner.clone());
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
    let r = host_result(host, status, item, result, diffs, ignored, verbose_always);
    emit_result(ctx, host, r);
}

/// A loop that went fine: its whole result, after its items were reported one by one (see
/// [`HostResult::loop_summary`]).
pub(crate) fn emit_loop_summary(
    ctx: &PlayContext<'_>,
    host: &HostState,
    status: Status,
    result: Map<String, Value>,
    ignored: bool,
) {
    let mut r = host_result(host, status, None, result, Vec::new(), ignored, false);
    r.loop_summary = true;
    emit_result(ctx, host, r);
}

#[allow(clippy::too_many_arguments)]
fn host_result(
    host: &HostState,
    status: Status,
    item: Option<String>,
    result: Map<String, Value>,
    diffs: Vec<tend_module_api::Diff>,
    ignored: bool,
    verbose_always: bool,
) -> HostResult {
    HostResult {
        host: host.name.clone(),
        delegated_to: host.delegated_to.clone(),
        status,
        item,
        ignored,
        result,
        diffs,
        verbose_always,
        duration: host.task_started.elapsed(),
        loop_summary: false,
    }
}

/// Shows the free strategy's banner if it is due, then reports `r`.
fn emit_result(ctx: &PlayContext<'_>, host: &HostState, r: HostResult) {
    show_free_banner(ctx, host);
    ctx.runtime.sink.event(if r.item.is_some() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    fn sizes(batches: &[Vec<String>]) -> Vec<usize> {
        batches.iter().map(Vec::len).collect()
    }

    #[test]
    fn serial_batches_follow_ansible() {
        use BatchSize::{Hosts, Percent};
        assert_eq!(sizes(&serial_batches(&names(5), &[])), [5]);
        assert_eq!(sizes(&serial_batches(&names(5), &[Hosts(2)])), [2, 2, 1]);
        // A list is used in turn, the last size repeating.
        assert_eq!(
            sizes(&serial_batches(&names(7), &[Hosts(1), Hosts(2)])),
            [1, 2, 2, 2]
        );
        // Percentages of the play's hosts round down, but take at least one host.
        assert_eq!(sizes(&serial_batches(&names(5), &[Percent(40)])), [2, 2, 1]);
        assert_eq!(sizes(&serial_batches(&names(3), &[Percent(10)])), [1, 1, 1]);
        // Zero means the rest.
        assert_eq!(
            sizes(&serial_batches(&names(5), &[Hosts(1), Hosts(0)])),
            [1, 4]
        );
        assert!(serial_batches(&[], &[Hosts(1)]).is_empty());
        assert_eq!(serial_batches(&names(3), &[Hosts(2)])[1], ["h3"]);
    }

    #[test]
    fn host_orders() {
        let mut hosts = vec!["b".to_string(), "c".into(), "a".into()];
        order_hosts(&mut hosts, HostOrder::Sorted);
        assert_eq!(hosts, ["a", "b", "c"]);
        order_hosts(&mut hosts, HostOrder::ReverseSorted);
        assert_eq!(hosts, ["c", "b", "a"]);
        order_hosts(&mut hosts, HostOrder::ReverseInventory);
        assert_eq!(hosts, ["a", "b", "c"]);
        order_hosts(&mut hosts, HostOrder::Shuffle);
        hosts.sort();
        assert_eq!(hosts, ["a", "b", "c"]);
    }
}
