//! The linear strategy: each task finishes on every host before the next starts; hosts run
//! in parallel up to `forks`; failed and unreachable hosts drop out; handlers run at flush
//! points for the hosts that notified them.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use tend_inventory::Inventory;
use tend_module_api::{Context, Host, ModuleError, Outcome};
use tend_playbook::{Play, Playbook, Privilege, Task};
use tend_template::Templater;
use tend_transport::{BecomeTransport, ConnectionKind, ConnectionSpec, Transport, TransportError};

use crate::controller::TaskController;
use crate::events::{Event, HostResult, HostStats, RunSummary, Status};
use crate::vars::{explain, resolve_templated, Unresolved};
use crate::{facts, RunError, RunOptions, Runtime};

/// A unique stand-in for `omit`: arguments rendering to it are dropped.
const OMIT: &str = "__omit_place_holder__tend_6c1d4f";

/// Everything the run knows about one host, kept across plays.
struct HostState {
    name: String,
    inventory_vars: Map<String, Value>,
    /// Gathered facts (`ansible_*`).
    facts: Map<String, Value>,
    /// `set_fact` and `register` results.
    host_vars: Map<String, Value>,
    connection: Option<Arc<dyn Transport>>,
    failed: bool,
    unreachable: bool,
    /// Handlers (by index in the play) notified since the last flush.
    notified: BTreeSet<usize>,
    stats: HostStats,
}

/// Per-play context shared by every host future.
struct PlayContext<'a> {
    playbook: &'a Playbook,
    play: &'a Play,
    inventory: &'a Inventory,
    options: &'a RunOptions,
    runtime: &'a Runtime,
    templater: &'a Templater,
    play_hosts: Vec<String>,
    groups: Value,
    search_dirs: Vec<PathBuf>,
}

/// Runs every play of `playbook`. Host failures are in the summary; only a bad `--limit`
/// stops the run before it starts.
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

    for play in &playbook.plays {
        runtime.sink.event(Event::PlayStart {
            name: play.name.clone(),
        });
        let hosts = inventory
            .select_with_limit(&play.hosts, options.limit.as_deref())
            .map_err(|e| RunError::Pattern(e.to_string()))?;
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
                states.remove(h).unwrap_or_else(|| HostState {
                    name: h.clone(),
                    inventory_vars: inventory.host_vars(h),
                    facts: Map::new(),
                    host_vars: Map::new(),
                    connection: None,
                    failed: false,
                    unreachable: false,
                    notified: BTreeSet::new(),
                    stats: HostStats::default(),
                })
            })
            .collect();
        let ctx = PlayContext {
            playbook,
            play,
            inventory,
            options,
            runtime,
            templater: &templater,
            play_hosts: hosts.clone(),
            groups: groups.clone(),
            search_dirs: vec![playbook.dir.clone()],
        };
        run_play(&ctx, &mut play_states).await;
        for state in play_states {
            states.insert(state.name.clone(), state);
        }
    }

    for state in states.values() {
        if let Some(connection) = &state.connection {
            connection.close().await;
        }
    }
    let hosts = order
        .into_iter()
        .filter_map(|h| states.remove(&h).map(|s| (h, s.stats)))
        .collect();
    Ok(RunSummary { hosts })
}

async fn run_play(ctx: &PlayContext<'_>, hosts: &mut [HostState]) {
    if ctx.play.gather_facts {
        run_on_hosts(ctx, hosts, "Gathering Facts", false, |ctx, host| {
            Box::pin(gather_facts(ctx, host))
        })
        .await;
    }
    for (section, tasks) in [
        ("pre_tasks", &ctx.play.pre_tasks),
        ("tasks", &ctx.play.tasks),
        ("post_tasks", &ctx.play.post_tasks),
    ] {
        if tasks.is_empty() && section != "tasks" {
            continue;
        }
        for task in tasks {
            if !any_active(hosts) {
                ctx.runtime.sink.event(Event::NoMoreHosts);
                return;
            }
            let name = display_name(ctx, task);
            run_on_hosts(ctx, hosts, &name, false, |ctx, host| {
                Box::pin(run_task(ctx, task, host, None))
            })
            .await;
        }
        flush_handlers(ctx, hosts).await;
    }
}

fn any_active(hosts: &[HostState]) -> bool {
    hosts.iter().any(|h| !h.failed && !h.unreachable)
}

/// A task name may hold templates; Ansible renders it with play-level variables only.
fn display_name(ctx: &PlayContext<'_>, task: &Task) -> String {
    let name = task.display_name();
    if !tend_template::is_template(name) {
        return name.to_string();
    }
    let mut vars = ctx.play.vars.clone();
    vars.extend(ctx.options.extra_vars.clone());
    ctx.templater
        .render_str(name, &Value::Object(vars))
        .ok()
        .map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_else(|| name.to_string())
}

type HostFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Runs one step on every active host, `forks` at a time.
async fn run_on_hosts<'a, F>(
    ctx: &'a PlayContext<'a>,
    hosts: &'a mut [HostState],
    name: &str,
    handler: bool,
    step: F,
) where
    F: Fn(&'a PlayContext<'a>, &'a mut HostState) -> HostFuture<'a>,
{
    ctx.runtime.sink.event(Event::TaskStart {
        name: name.to_string(),
        handler,
    });
    let futures: Vec<_> = hosts
        .iter_mut()
        .filter(|h| !h.failed && !h.unreachable)
        .map(|h| step(ctx, h))
        .collect();
    stream::iter(futures)
        .buffer_unordered(ctx.options.forks.max(1))
        .collect::<Vec<()>>()
        .await;
}

async fn flush_handlers(ctx: &PlayContext<'_>, hosts: &mut [HostState]) {
    let force = ctx.options.force_handlers || ctx.play.force_handlers;
    for (index, handler) in ctx.play.handlers.iter().enumerate() {
        let wanted: Vec<usize> = hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.notified.contains(&index) && !h.unreachable && (force || !h.failed))
            .map(|(i, _)| i)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        ctx.runtime.sink.event(Event::TaskStart {
            name: display_name(ctx, handler),
            handler: true,
        });
        let futures: Vec<_> = hosts
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| wanted.contains(i))
            .map(|(_, h)| {
                h.notified.remove(&index);
                Box::pin(run_task(ctx, handler, h, Some(index))) as HostFuture<'_>
            })
            .collect();
        stream::iter(futures)
            .buffer_unordered(ctx.options.forks.max(1))
            .collect::<Vec<()>>()
            .await;
    }
    for host in hosts.iter_mut() {
        host.notified.clear();
    }
}

/// The connection for a host, opened on first use and kept for the whole run.
async fn connection(
    ctx: &PlayContext<'_>,
    host: &mut HostState,
) -> Result<Arc<dyn Transport>, TransportError> {
    if let Some(c) = &host.connection {
        return Ok(c.clone());
    }
    let spec = connection_spec(ctx, host)?;
    let transport = ctx.runtime.connector.connect(&spec).await?;
    host.connection = Some(transport.clone());
    Ok(transport)
}

fn connection_spec(
    ctx: &PlayContext<'_>,
    host: &HostState,
) -> Result<ConnectionSpec, TransportError> {
    // Connection variables may be templates over other variables.
    let mut vars = host.inventory_vars.clone();
    vars.extend(ctx.play.vars.clone());
    vars.extend(ctx.options.extra_vars.clone());
    vars.insert(
        "inventory_hostname".into(),
        Value::String(host.name.clone()),
    );
    resolve_templated(ctx.templater, &mut vars, &[]);
    let text = |k: &str| -> Option<String> {
        vars.get(k).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let config_error = |reason: String| TransportError::Config {
        host: host.name.clone(),
        reason,
    };
    let kind = match text("ansible_connection").as_deref() {
        None | Some("ssh" | "smart" | "paramiko" | "paramiko_ssh") => ConnectionKind::Ssh,
        Some("local") => ConnectionKind::Local,
        Some(other) => {
            return Err(config_error(format!(
                "unsupported ansible_connection `{other}`"
            )))
        }
    };
    let port = match text("ansible_port").or_else(|| text("ansible_ssh_port")) {
        Some(p) => p
            .parse()
            .map_err(|_| config_error(format!("invalid ansible_port `{p}`")))?,
        None => 22,
    };
    let user = text("ansible_user")
        .or_else(|| text("ansible_ssh_user"))
        .or_else(|| ctx.options.remote_user.clone())
        .or_else(|| ctx.play.remote_user.clone())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    Ok(ConnectionSpec {
        name: host.name.clone(),
        kind,
        address: text("ansible_host")
            .or_else(|| text("ansible_ssh_host"))
            .unwrap_or_else(|| host.name.clone()),
        port,
        user,
        private_key_file: text("ansible_ssh_private_key_file")
            .or_else(|| text("ansible_private_key_file"))
            .map(PathBuf::from)
            .or_else(|| ctx.options.private_key_file.clone()),
        key_passphrase: ctx.options.key_passphrase.clone(),
        known_hosts: ctx.options.known_hosts.clone(),
        connect_timeout: text("ansible_ssh_timeout")
            .or_else(|| text("ansible_timeout"))
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(ctx.options.connect_timeout),
    })
}

/// Records a host as unreachable for the rest of the run.
fn unreachable(ctx: &PlayContext<'_>, host: &mut HostState, error: &TransportError) {
    host.unreachable = true;
    host.stats.unreachable += 1;
    let mut result = Map::new();
    result.insert("changed".into(), false.into());
    result.insert("msg".into(), error.to_string().into());
    result.insert("unreachable".into(), true.into());
    ctx.runtime.sink.event(Event::TaskResult(HostResult {
        host: host.name.clone(),
        status: Status::Unreachable,
        item: None,
        ignored: false,
        result,
        diffs: Vec::new(),
        verbose_always: false,
    }));
}

async fn gather_facts(ctx: &PlayContext<'_>, host: &mut HostState) {
    let transport = match connection(ctx, host).await {
        Ok(t) => t,
        Err(e) => return unreachable(ctx, host, &e),
    };
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
fn emit(
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

/// The variables a task sees on a host, lowest precedence first.
fn task_vars(
    ctx: &PlayContext<'_>,
    task: &Task,
    host: &HostState,
) -> (Map<String, Value>, Unresolved) {
    let mut vars = host.inventory_vars.clone();
    vars.extend(host.facts.clone());
    vars.extend(ctx.play.vars.clone());
    vars.extend(task.vars.clone());
    vars.extend(host.host_vars.clone());
    vars.extend(ctx.options.extra_vars.clone());
    let short = host
        .name
        .split('.')
        .next()
        .unwrap_or(&host.name)
        .to_string();
    let magic = [
        ("inventory_hostname", json!(host.name)),
        ("inventory_hostname_short", json!(short)),
        ("group_names", json!(ctx.inventory.group_names(&host.name))),
        ("groups", ctx.groups.clone()),
        ("play_hosts", json!(ctx.play_hosts)),
        ("ansible_play_hosts", json!(ctx.play_hosts)),
        ("ansible_play_batch", json!(ctx.play_hosts)),
        ("ansible_play_name", json!(ctx.play.name)),
        ("ansible_check_mode", json!(ctx.options.check)),
        ("ansible_diff_mode", json!(ctx.options.diff)),
        (
            "playbook_dir",
            json!(ctx.playbook.dir.display().to_string()),
        ),
        ("omit", json!(OMIT)),
    ];
    for (k, v) in magic {
        vars.insert(k.to_string(), v);
    }
    // Registered results hold module output verbatim and are never templated again.
    let registered: Vec<&str> = host.host_vars.keys().map(String::as_str).collect();
    let unresolved = resolve_templated(ctx.templater, &mut vars, &registered);
    (vars, unresolved)
}

/// One task (or handler) on one host, loop included.
async fn run_task(
    ctx: &PlayContext<'_>,
    task: &Task,
    host: &mut HostState,
    _handler: Option<usize>,
) {
    let transport = match connection(ctx, host).await {
        Ok(t) => t,
        Err(e) => return unreachable(ctx, host, &e),
    };
    let (vars, unresolved) = task_vars(ctx, task, host);
    let privilege = task.privilege.over(&ctx.play.privilege).over(&Privilege {
        become_: Some(ctx.options.become_),
        become_user: ctx.options.become_user.clone(),
    });
    let transport: Arc<dyn Transport> = if privilege.become_ == Some(true) {
        let user = privilege.become_user.unwrap_or_else(|| "root".into());
        Arc::new(BecomeTransport::new(transport, user))
    } else {
        transport
    };
    let handle = Host::new(host.name.clone(), transport);
    let check = task
        .check_mode
        .or(ctx.play.check_mode)
        .unwrap_or(ctx.options.check);
    let diff = task.diff.or(ctx.play.diff).unwrap_or(ctx.options.diff);
    let runner = ItemRunner {
        ctx,
        task,
        host: &handle,
        check,
        diff,
        unresolved: &unresolved,
    };

    let outcome = match &task.loop_ {
        None => runner.run(&vars).await,
        Some(spec) => {
            let items = match loop_items(ctx, spec, &vars, &unresolved) {
                Ok(items) => items,
                Err(msg) => {
                    let mut result = Map::new();
                    result.insert("msg".into(), msg.into());
                    result.insert("failed".into(), true.into());
                    result.insert("changed".into(), false.into());
                    TaskRun::Done(ItemOutcome {
                        status: Status::Failed,
                        result,
                        diffs: Vec::new(),
                        facts: Map::new(),
                    })
                    .finish(ctx, task, host);
                    return;
                }
            };
            let mut results = Vec::new();
            let mut any_changed = false;
            let mut any_failed = false;
            let mut all_skipped = !items.is_empty();
            for (index, item) in items.into_iter().enumerate() {
                let mut item_vars = vars.clone();
                item_vars.insert(spec.loop_var.clone(), item.clone());
                if let Some(index_var) = &spec.index_var {
                    item_vars.insert(index_var.clone(), index.into());
                }
                let label = match &spec.label {
                    Some(label) => ctx
                        .templater
                        .render_str(label, &Value::Object(item_vars.clone()))
                        .map(|v| plain(&v))
                        .unwrap_or_else(|_| label.clone()),
                    None => plain(&item),
                };
                let run = runner.run(&item_vars).await;
                let TaskRun::Done(mut one) = run else {
                    if let TaskRun::Unreachable(e) = run {
                        return unreachable(ctx, host, &e);
                    }
                    continue;
                };
                any_changed |= one.status == Status::Changed;
                any_failed |= one.status == Status::Failed;
                all_skipped &= one.status == Status::Skipped;
                one.result.insert(spec.loop_var.clone(), item);
                one.result
                    .insert("ansible_loop_var".into(), spec.loop_var.clone().into());
                if task.no_log {
                    mask(&mut one.result);
                }
                emit(
                    ctx,
                    host,
                    one.status,
                    Some(label),
                    one.result.clone(),
                    one.diffs,
                    false,
                    task.module.name() == "debug",
                );
                for (k, v) in one.facts {
                    host.host_vars.insert(k, v);
                }
                results.push(Value::Object(one.result));
            }
            let mut result = Map::new();
            result.insert("changed".into(), any_changed.into());
            result.insert(
                "msg".into(),
                if any_failed {
                    "One or more items failed"
                } else {
                    "All items completed"
                }
                .into(),
            );
            if any_failed {
                result.insert("failed".into(), true.into());
            }
            if all_skipped {
                result.insert("skipped".into(), true.into());
            }
            result.insert("results".into(), Value::Array(results));
            let status = if any_failed {
                Status::Failed
            } else if all_skipped {
                Status::Skipped
            } else if any_changed {
                Status::Changed
            } else {
                Status::Ok
            };
            TaskRun::Loop(ItemOutcome {
                status,
                result,
                diffs: Vec::new(),
                facts: Map::new(),
            })
        }
    };
    outcome.finish(ctx, task, host);
}

/// Items of a loop: a list, or a template rendering to one.
fn loop_items(
    ctx: &PlayContext<'_>,
    spec: &tend_playbook::Loop,
    vars: &Map<String, Value>,
    unresolved: &Unresolved,
) -> Result<Vec<Value>, String> {
    let context = Value::Object(vars.clone());
    let rendered = ctx
        .templater
        .render_value(&spec.items, &context)
        .map_err(|e| {
            format!(
                "error while evaluating the loop: {}",
                explain(&e, unresolved)
            )
        })?;
    let items = match rendered {
        Value::Array(items) => items,
        Value::String(s) if spec.flatten => vec![Value::String(s)],
        other => {
            return Err(format!(
                "Invalid data passed to 'loop', it requires a list, got this instead: {other}. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup."
            ))
        }
    };
    if spec.flatten {
        // with_items flattens one level.
        Ok(items
            .into_iter()
            .flat_map(|i| match i {
                Value::Array(inner) => inner,
                other => vec![other],
            })
            .collect())
    } else {
        Ok(items)
    }
}

/// How a value shows in `(item=...)`: strings bare, everything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn mask(result: &mut Map<String, Value>) {
    let changed = result.get("changed").cloned().unwrap_or(Value::Bool(false));
    result.clear();
    result.insert(
        "censored".into(),
        "the output has been hidden due to the fact that 'no_log: true' was specified for this result".into(),
    );
    result.insert("changed".into(), changed);
}

struct ItemOutcome {
    status: Status,
    result: Map<String, Value>,
    diffs: Vec<tend_module_api::Diff>,
    facts: Map<String, Value>,
}

enum TaskRun {
    Done(ItemOutcome),
    /// A loop's aggregate; items were already reported.
    Loop(ItemOutcome),
    Unreachable(TransportError),
}

impl TaskRun {
    /// Reports the task's result, updates counts, registers, notifies handlers.
    fn finish(self, ctx: &PlayContext<'_>, task: &Task, host: &mut HostState) {
        let (mut outcome, is_loop) = match self {
            TaskRun::Done(o) => (o, false),
            TaskRun::Loop(o) => (o, true),
            TaskRun::Unreachable(e) => return unreachable(ctx, host, &e),
        };
        let ignore = task.ignore_errors || ctx.play.ignore_errors;
        let ignored = outcome.status == Status::Failed && ignore;
        match outcome.status {
            Status::Ok => host.stats.ok += 1,
            Status::Changed => {
                host.stats.ok += 1;
                host.stats.changed += 1;
            }
            Status::Skipped => host.stats.skipped += 1,
            Status::Failed if ignored => {
                host.stats.ok += 1;
                host.stats.ignored += 1;
                if outcome.result.get("changed") == Some(&Value::Bool(true)) {
                    host.stats.changed += 1;
                }
            }
            Status::Failed => {
                host.stats.failed += 1;
                host.failed = true;
            }
            Status::Unreachable => host.stats.unreachable += 1,
        }
        if outcome.status == Status::Changed {
            for name in &task.notify {
                for (i, handler) in ctx.play.handlers.iter().enumerate() {
                    if handler.name.as_deref() == Some(name.as_str())
                        || handler.listen.contains(name)
                    {
                        host.notified.insert(i);
                    }
                }
            }
        }
        if outcome.status != Status::Failed || ignored {
            for (k, v) in std::mem::take(&mut outcome.facts) {
                host.host_vars.insert(k, v);
            }
        }
        if task.no_log {
            mask(&mut outcome.result);
        }
        if let Some(register) = &task.register {
            host.host_vars
                .insert(register.clone(), Value::Object(outcome.result.clone()));
        }
        // A loop that went fine was shown item by item; Ansible prints no extra line then.
        let show = !is_loop || outcome.status == Status::Failed;
        if show {
            emit(
                ctx,
                host,
                outcome.status,
                None,
                outcome.result,
                outcome.diffs,
                ignored,
                task.module.name() == "debug",
            );
        }
    }
}

struct ItemRunner<'a> {
    ctx: &'a PlayContext<'a>,
    task: &'a Task,
    host: &'a Host,
    check: bool,
    diff: bool,
    unresolved: &'a Unresolved,
}

impl ItemRunner<'_> {
    /// A failure of tend's own making (templating, conditions), pointing at the task.
    fn failure(&self, msg: String) -> TaskRun {
        let at = &self.task.location;
        let msg = format!(
            "{msg}\n\nThe error appears to be in '{}': line {}, column {}",
            at.file.display(),
            at.line,
            at.col
        );
        let mut result = Map::new();
        result.insert("changed".into(), false.into());
        result.insert("failed".into(), true.into());
        result.insert("msg".into(), msg.into());
        TaskRun::Done(ItemOutcome {
            status: Status::Failed,
            result,
            diffs: Vec::new(),
            facts: Map::new(),
        })
    }

    fn condition(&self, expr: &str, vars: &Value) -> Result<bool, String> {
        self.ctx.templater.eval_condition(expr, vars).map_err(|e| {
            format!(
                "The conditional check '{expr}' failed. The error was: {}",
                explain(&e, self.unresolved)
            )
        })
    }

    /// One run of the module for one set of variables (one loop item, or the task).
    async fn run(&self, vars: &Map<String, Value>) -> TaskRun {
        let ctx = self.ctx;
        let task = self.task;
        let context = Value::Object(vars.clone());
        for expr in &task.when {
            match self.condition(expr, &context) {
                Ok(true) => {}
                Ok(false) => {
                    let mut result = Map::new();
                    result.insert("changed".into(), false.into());
                    result.insert("skipped".into(), true.into());
                    result.insert("skip_reason".into(), "Conditional result was False".into());
                    result.insert("false_condition".into(), expr.clone().into());
                    return TaskRun::Done(ItemOutcome {
                        status: Status::Skipped,
                        result,
                        diffs: Vec::new(),
                        facts: Map::new(),
                    });
                }
                Err(msg) => return self.failure(msg),
            }
        }
        let args = match ctx
            .templater
            .render_value(&Value::Object(task.args.clone()), &context)
        {
            Ok(Value::Object(mut args)) => {
                args.retain(|_, v| v.as_str() != Some(OMIT));
                Value::Object(args)
            }
            Ok(_) => return self.failure("module arguments must be a mapping".into()),
            Err(e) => {
                return self.failure(format!(
                "The task includes an option with an undefined variable or a template error: {}",
                explain(&e, self.unresolved)
            ))
            }
        };
        let controller = TaskController {
            templater: ctx.templater,
            vars: &context,
            search_dirs: &ctx.search_dirs,
        };
        let module_ctx = Context {
            host: self.host,
            check_mode: self.check,
            diff: self.diff,
            controller: &controller,
        };
        let outcome = match task.module.run(&args, &module_ctx).await {
            Ok(o) => o,
            Err(ModuleError::Transport(e)) if e.is_unreachable() => return TaskRun::Unreachable(e),
            Err(ModuleError::Failed { msg, values }) => Outcome {
                failed: true,
                msg: Some(msg),
                values,
                ..Outcome::default()
            },
            Err(e) => Outcome {
                failed: true,
                msg: Some(e.to_string()),
                ..Outcome::default()
            },
        };
        let mut result = result_value(&outcome);
        let mut changed = outcome.changed;
        let mut failed = outcome.failed;
        if task.changed_when.is_some() || task.failed_when.is_some() {
            // The registered name is visible to changed_when/failed_when, as in Ansible.
            let mut with_result = vars.clone();
            if let Some(register) = &task.register {
                with_result.insert(register.clone(), Value::Object(result.clone()));
            }
            let with_result = Value::Object(with_result);
            if let Some(conds) = &task.changed_when {
                match all_true(self, conds, &with_result) {
                    Ok(c) => changed = c,
                    Err(msg) => return self.failure(msg),
                }
            }
            if let Some(conds) = &task.failed_when {
                match all_true(self, conds, &with_result) {
                    Ok(f) => failed = f,
                    Err(msg) => return self.failure(msg),
                }
                result.insert("failed_when_result".into(), failed.into());
            }
            result.insert("changed".into(), changed.into());
            result.insert("failed".into(), failed.into());
        }
        let status = if failed {
            Status::Failed
        } else if outcome.skipped {
            Status::Skipped
        } else if changed {
            Status::Changed
        } else {
            Status::Ok
        };
        TaskRun::Done(ItemOutcome {
            status,
            result,
            diffs: if self.diff { outcome.diffs } else { Vec::new() },
            facts: outcome.facts,
        })
    }
}

fn all_true(runner: &ItemRunner<'_>, conds: &[String], vars: &Value) -> Result<bool, String> {
    for expr in conds {
        if !runner.condition(expr, vars)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A module outcome as `register` stores it.
fn result_value(outcome: &Outcome) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert("changed".into(), outcome.changed.into());
    for (k, v) in &outcome.values {
        result.insert(k.clone(), v.clone());
    }
    if let Some(msg) = &outcome.msg {
        result.insert("msg".into(), msg.clone().into());
    }
    result.insert("failed".into(), outcome.failed.into());
    if outcome.skipped {
        result.insert("skipped".into(), true.into());
    }
    if !outcome.warnings.is_empty() {
        result.insert("warnings".into(), json!(outcome.warnings));
    }
    if !outcome.facts.is_empty() && !result.contains_key("ansible_facts") {
        result.insert("ansible_facts".into(), Value::Object(outcome.facts.clone()));
    }
    result
}
