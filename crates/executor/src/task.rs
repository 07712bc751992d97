//! One task on one host: variables, `when`, loops, templated arguments, the module run,
//! `until` retries, `changed_when`/`failed_when`, `register`, notifications and counts.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tend_module_api::{Context, Host, ModuleError, Outcome};
use tend_playbook::{Action, Privilege, Task};
use tend_transport::{
    BecomeMethod, BecomeTransport, EnvTransport, Secret, Transport, TransportError,
};

use crate::controller::TaskController;
use crate::events::{Event, Status};
use crate::run::{
    connection, emit, emit_loop_summary, failed_task_value, unreachable, HostState, PlayContext,
    TaskShared,
};
use crate::vars::{explain, resolve_templated, Unresolved};

/// A unique stand-in for `omit`: arguments rendering to it are dropped.
const OMIT: &str = "__omit_place_holder__tend_6c1d4f";

/// The variables a task sees on a host, lowest precedence first, before templated values
/// are resolved.
fn raw_task_vars(
    ctx: &PlayContext<'_>,
    task: &Task,
    host: &HostState,
    shared: &TaskShared,
) -> Map<String, Value> {
    let play_hosts = &shared.play_hosts;
    // Ansible's precedence, low to high: role defaults, inventory, facts, play vars and
    // vars_files, role vars, block and task vars, set_fact/register/include_vars, role
    // parameters, extra vars.
    let mut vars = ctx.play.role_defaults.clone();
    if let Some(role) = &task.role {
        vars.extend(role.defaults.clone());
    }
    vars.extend(host.inventory_vars.clone());
    vars.extend(host.facts.clone());
    vars.extend(ctx.play.vars.clone());
    vars.extend(ctx.play.role_vars.clone());
    if let Some(role) = &task.role {
        vars.extend(role.vars.clone());
    }
    vars.extend(task.vars.clone());
    vars.extend(host.host_vars.clone());
    if let Some(role) = &task.role {
        vars.extend(role.params.clone());
        vars.insert("role_name".into(), json!(role.name));
        vars.insert("role_path".into(), json!(role.path.display().to_string()));
        vars.insert("ansible_role_name".into(), json!(role.name));
    }
    // Include parameters: an include's `vars` and loop variable, for what it includes.
    for params in &host.include_vars {
        vars.extend(params.clone());
    }
    vars.extend(ctx.options.extra_vars.clone());
    // Ansible keeps an IP address whole as the short name.
    let short = if tend_inventory::is_ip_address(&host.name) {
        host.name.clone()
    } else {
        host.name
            .split('.')
            .next()
            .unwrap_or(&host.name)
            .to_string()
    };
    if ctx.uses_host_lists {
        let lists = [
            ("groups", ctx.groups.clone()),
            ("play_hosts", json!(shared.play_batch)),
            ("ansible_play_hosts", json!(play_hosts)),
            ("ansible_play_batch", json!(shared.play_batch)),
            ("ansible_play_hosts_all", json!(ctx.play_hosts_all)),
        ];
        for (k, v) in lists {
            vars.insert(k.to_string(), v);
        }
    }
    let magic = [
        ("inventory_hostname", json!(host.name)),
        ("inventory_hostname_short", json!(short)),
        ("group_names", json!(ctx.inventory.group_names(&host.name))),
        ("ansible_play_name", json!(ctx.play.name)),
        ("ansible_check_mode", json!(ctx.options.check)),
        ("ansible_diff_mode", json!(ctx.options.diff)),
        ("playbook_dir", json!(absolute_dir(&ctx.playbook.dir))),
        ("omit", json!(OMIT)),
    ];
    for (k, v) in magic {
        vars.insert(k.to_string(), v);
    }
    if let Some(hostvars) = &shared.hostvars {
        vars.insert("hostvars".into(), hostvars.clone());
    }
    vars
}

/// `playbook_dir` as Ansible gives it: absolute (`site.yml` in the current directory has an
/// empty parent, which would make `{{ playbook_dir }}/x` point at the root).
fn absolute_dir(dir: &std::path::Path) -> String {
    if dir.is_absolute() {
        return dir.display().to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) if dir.as_os_str().is_empty() => cwd.display().to_string(),
        Ok(cwd) => cwd.join(dir).display().to_string(),
        Err(_) => dir.display().to_string(),
    }
}

/// Variables with templated values resolved. Registered results hold module output
/// verbatim and are never templated again.
struct TaskVars {
    /// The unresolved variables' values as written (templates unrendered).
    raw: Map<String, Value>,
    resolved: Map<String, Value>,
    unresolved: Unresolved,
}

impl TaskVars {
    fn new(ctx: &PlayContext<'_>, task: &Task, host: &HostState, shared: &TaskShared) -> Self {
        let mut raw = raw_task_vars(ctx, task, host, shared);
        let mut resolved = raw.clone();
        let registered: Vec<&str> = host.host_vars.keys().map(String::as_str).collect();
        let unresolved = resolve_templated(ctx.templater, &mut resolved, &registered);
        // Only the variables still unresolved are read raw again (per loop item): the rest of
        // this copy would double the memory every host holds while its task runs.
        raw.retain(|name, _| unresolved.0.iter().any(|(pending, _)| pending == name));
        TaskVars {
            raw,
            resolved,
            unresolved,
        }
    }

    /// The variables for one loop item. Variables that could not be resolved without the
    /// loop variable (`greeting: "hi {{ item }}"`) get another try with it.
    fn for_item(
        &self,
        ctx: &PlayContext<'_>,
        extra: &[(&str, Value)],
    ) -> (Map<String, Value>, Unresolved) {
        let mut vars = self.resolved.clone();
        for (k, v) in extra {
            vars.insert((*k).to_string(), v.clone());
        }
        if self.unresolved.0.is_empty() {
            return (vars, Unresolved::default());
        }
        let pending: Vec<&str> = self.unresolved.0.iter().map(|(k, _)| k.as_str()).collect();
        for name in &pending {
            if let Some(raw) = self.raw.get(*name) {
                vars.insert((*name).to_string(), raw.clone());
            }
        }
        let settled: Vec<&str> = vars
            .keys()
            .map(String::as_str)
            .filter(|k| !pending.contains(k))
            .collect();
        let settled: Vec<String> = settled.into_iter().map(str::to_string).collect();
        let skip: Vec<&str> = settled.iter().map(String::as_str).collect();
        let unresolved = resolve_templated(ctx.templater, &mut vars, &skip);
        (vars, unresolved)
    }
}

/// Whether a task's `when` holds on a host (for `meta` tasks; errors count as false).
pub(crate) fn when_holds(ctx: &PlayContext<'_>, task: &Task, host: &HostState) -> bool {
    if task.when.is_empty() {
        return true;
    }
    let shared = TaskShared {
        play_hosts: ctx.play_hosts_all.clone(),
        play_batch: ctx.batch.clone(),
        hostvars: None,
    };
    let vars = TaskVars::new(ctx, task, host, &shared);
    let context = Value::Object(vars.resolved);
    task.when.iter().all(|expr| {
        ctx.templater
            .eval_condition(expr, &context)
            .unwrap_or(false)
    })
}

/// One task (or handler) on one host, loop included; a `no_log` task's commands stay out of
/// the transports' logs.
pub(crate) async fn run_task(
    ctx: &PlayContext<'_>,
    task: &Task,
    host: &mut HostState,
    shared: Arc<TaskShared>,
) {
    tend_transport::hide_commands(task.no_log, run_task_logged(ctx, task, host, shared)).await
}

async fn run_task_logged(
    ctx: &PlayContext<'_>,
    task: &Task,
    host: &mut HostState,
    shared: Arc<TaskShared>,
) {
    let Action::Module(module) = task.module else {
        return;
    };
    host.task_started = std::time::Instant::now();
    let vars = TaskVars::new(ctx, task, host, &shared);
    // With a loop, `delegate_to` may name the item (`delegate_to: "{{ item }}"`): it is then
    // rendered for each item.
    let per_item_delegate = task.loop_.is_some() && task.delegate_to.is_some();
    let delegated_to = if per_item_delegate {
        None
    } else {
        match delegate_target(ctx, task, &host.name, &vars.resolved, &vars.unresolved) {
            Ok(target) => target,
            Err(msg) => return TaskRun::Done(failure_result(task, msg)).finish(ctx, task, host),
        }
    };
    let env = if task.environment.is_empty() {
        None
    } else {
        match environment(ctx, task, &vars) {
            Ok(env) => Some(env),
            Err(msg) => {
                let runner_failure = failure_result(task, msg);
                return TaskRun::Done(runner_failure).finish(ctx, task, host);
            }
        }
    };
    host.delegated_to = delegated_to.clone();
    let handle = match task_handle(
        ctx,
        task,
        host,
        &vars.resolved,
        delegated_to.as_deref(),
        env.as_deref(),
    ) {
        Ok(handle) => handle,
        Err(msg) => return TaskRun::Done(failure_result(task, msg)).finish(ctx, task, host),
    };
    let check = task
        .check_mode
        .or(ctx.play.check_mode)
        .unwrap_or(ctx.options.check);
    let diff = task.diff.or(ctx.play.diff).unwrap_or(ctx.options.diff);
    let runner = ItemRunner {
        ctx,
        task,
        module,
        host: &handle,
        check,
        diff,
    };

    let Some(spec) = &task.loop_ else {
        let (item_vars, unresolved) = vars.for_item(ctx, &[]);
        let run = runner.run(&item_vars, &unresolved).await;
        return run.finish(ctx, task, host);
    };
    let items = match loop_items(ctx, spec, &vars, module.name()) {
        Ok(items) => items,
        Err(msg) => return TaskRun::Done(failure_result(task, msg)).finish(ctx, task, host),
    };
    if items.is_empty() {
        // Ansible skips a loop over nothing.
        let mut result = Map::new();
        result.insert("changed".into(), false.into());
        result.insert("skipped".into(), true.into());
        result.insert("skipped_reason".into(), "No items in the list".into());
        result.insert("results".into(), Value::Array(Vec::new()));
        return TaskRun::Loop(ItemOutcome::new(Status::Skipped, result)).finish(ctx, task, host);
    }
    let mut vars = vars;
    let pause = match &spec.pause {
        None => None,
        Some(p) => match loop_pause(ctx, p, &vars) {
            Ok(p) => p,
            Err(msg) => return TaskRun::Done(failure_result(task, msg)).finish(ctx, task, host),
        },
    };
    let mut results = Vec::new();
    let (mut any_changed, mut any_failed, mut all_skipped) = (false, false, true);
    for (index, item) in items.iter().cloned().enumerate() {
        if let (Some(pause), true) = (pause, index > 0) {
            tokio::time::sleep(pause).await;
        }
        let mut extra = vec![(spec.loop_var.as_str(), item.clone())];
        if let Some(index_var) = &spec.index_var {
            extra.push((index_var.as_str(), index.into()));
        }
        let position = spec
            .extended
            .then(|| loop_position(&items, index, spec.extended_allitems));
        if let Some(position) = &position {
            extra.push(("ansible_loop", position.clone()));
        }
        let (item_vars, unresolved) = vars.for_item(ctx, &extra);
        let item_handle;
        let item_runner;
        let runner = if per_item_delegate {
            let target = match delegate_target(ctx, task, &host.name, &item_vars, &unresolved) {
                Ok(target) => target,
                Err(msg) => {
                    return TaskRun::Done(failure_result(task, msg)).finish(ctx, task, host)
                }
            };
            host.delegated_to = target.clone();
            item_handle = match task_handle(
                ctx,
                task,
                host,
                &item_vars,
                target.as_deref(),
                env.as_deref(),
            ) {
                Ok(handle) => handle,
                Err(msg) => {
                    return TaskRun::Done(failure_result(task, msg)).finish(ctx, task, host)
                }
            };
            item_runner = ItemRunner {
                host: &item_handle,
                ..runner
            };
            &item_runner
        } else {
            &runner
        };
        let label = match &spec.label {
            Some(label) => ctx
                .templater
                .render_str(label, &Value::Object(item_vars.clone()))
                .map(|v| plain(&v))
                .unwrap_or_else(|_| label.clone()),
            None => plain(&item),
        };
        let mut one = match runner.run(&item_vars, &unresolved).await {
            TaskRun::Done(one) | TaskRun::Loop(one) => one,
            TaskRun::Unreachable(e) => {
                return unreachable_task(ctx, task, host, &e);
            }
        };
        any_changed |= one.status == Status::Changed;
        any_failed |= one.status == Status::Failed;
        all_skipped &= one.status == Status::Skipped;
        one.result.insert(spec.loop_var.clone(), item);
        one.result
            .insert("ansible_loop_var".into(), spec.loop_var.clone().into());
        if let Some(index_var) = &spec.index_var {
            one.result.insert(index_var.clone(), index.into());
            one.result
                .insert("ansible_index_var".into(), index_var.clone().into());
        }
        if let Some(position) = position {
            one.result.insert("ansible_loop".into(), position);
        }
        // Facts set by one item are visible to the next, as in Ansible.
        if let Some(target) = fact_target(task, host) {
            delegate_facts(ctx, target, one.facts.clone());
        } else {
            for (k, v) in &one.facts {
                vars.resolved.insert(k.clone(), v.clone());
                vars.raw.insert(k.clone(), v.clone());
                host.host_vars.insert(k.clone(), v.clone());
            }
        }
        let mut shown = one.result.clone();
        let mut diffs = one.diffs;
        if task.no_log {
            mask(&mut shown, &mut diffs);
        }
        emit(
            ctx,
            host,
            one.status,
            Some(label),
            shown,
            diffs,
            false,
            module.name() == "debug",
        );
        // `break_when` sees the item's variables and its registered result.
        let stop = !spec.break_when.is_empty() && {
            let mut context = item_vars;
            if let Some(register) = &task.register {
                context.insert(register.clone(), Value::Object(one.result.clone()));
            }
            for (k, v) in &one.facts {
                context.insert(k.clone(), v.clone());
            }
            let context = Value::Object(context);
            spec.break_when.iter().all(|expr| {
                ctx.templater
                    .eval_condition(expr, &context)
                    .unwrap_or(false)
            })
        };
        results.push(Value::Object(one.result));
        if stop {
            break;
        }
    }
    let mut result = Map::new();
    result.insert("changed".into(), any_changed.into());
    let msg = if any_failed {
        "One or more items failed"
    } else {
        "All items completed"
    };
    result.insert("msg".into(), msg.into());
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
    TaskRun::Loop(ItemOutcome::new(status, result)).finish(ctx, task, host)
}

/// With `delegate_facts`, the host a delegated task's facts belong to.
fn fact_target(task: &Task, host: &HostState) -> Option<String> {
    task.delegate_facts
        .then(|| host.delegated_to.clone())
        .flatten()
}

fn delegate_facts(ctx: &PlayContext<'_>, target: String, facts: Map<String, Value>) {
    if facts.is_empty() {
        return;
    }
    if let Ok(mut pending) = ctx.delegated_facts.lock() {
        pending.push((target, facts));
    }
}

/// Where a task runs for these variables: its `delegate_to` rendered; `None` for the host
/// itself.
fn delegate_target(
    ctx: &PlayContext<'_>,
    task: &Task,
    host: &str,
    vars: &Map<String, Value>,
    unresolved: &Unresolved,
) -> Result<Option<String>, String> {
    let Some(raw) = &task.delegate_to else {
        return Ok(None);
    };
    match ctx.templater.render_str(raw, &Value::Object(vars.clone())) {
        Ok(target) => Ok(Some(plain(&target)).filter(|t| t != host)),
        Err(e) => Err(format!(
            "error while templating `delegate_to`: {}",
            explain(&e, unresolved)
        )),
    }
}

/// The handle a task's module drives: the host's connection or the delegate's, wrapped for
/// `become` and `environment`.
fn task_handle(
    ctx: &PlayContext<'_>,
    task: &Task,
    host: &mut HostState,
    vars: &Map<String, Value>,
    delegated_to: Option<&str>,
    env: Option<&[(String, String)]>,
) -> Result<Host, String> {
    let privilege = task.privilege.over(&ctx.play.privilege).over(&Privilege {
        become_: Some(ctx.options.become_),
        become_user: ctx.options.become_user.clone(),
        become_method: ctx.options.become_method.clone(),
    });
    let transport: Arc<dyn Transport> = match delegated_to {
        Some(target) => crate::run::delegate_connection(ctx, target),
        None => connection(ctx, host),
    };
    let transport = crate::trace::traced(ctx, !task.no_log, transport, &host.name);
    let mut transport = become_wrapper(ctx, privilege, vars, transport)?;
    if let Some(env) = env {
        transport = Arc::new(EnvTransport::new(transport, env));
    }
    Ok(Host::new(host.name.clone(), transport))
}

/// Reports `result` as the task's failure on a host, with the usual counts and `register`.
pub(crate) fn fail_task(
    ctx: &PlayContext<'_>,
    task: &Task,
    host: &mut HostState,
    result: Map<String, Value>,
) {
    TaskRun::Done(ItemOutcome::new(Status::Failed, result)).finish(ctx, task, host);
}

/// One run of an include's body for a host: one per loop item.
pub(crate) struct IncludeItem {
    /// `(item=...)` in the `included:` line.
    pub label: Option<String>,
    /// The include parameters its tasks see: the include's `vars` and loop variables.
    pub params: Map<String, Value>,
    /// The rendered file name, for `include_tasks` with a templated name.
    pub file: Option<String>,
}

/// An include task on one host: `when` and the loop, item by item. Each item that runs
/// counts as ok, as in Ansible. A skip or a failure is reported here, leaving no items.
pub(crate) fn include_items(
    ctx: &PlayContext<'_>,
    task: &Task,
    host: &mut HostState,
    shared: &TaskShared,
    file: Option<&str>,
) -> Vec<IncludeItem> {
    let vars = TaskVars::new(ctx, task, host, shared);
    let items: Vec<Option<Value>> = match &task.loop_ {
        None => vec![None],
        Some(spec) => match loop_items(ctx, spec, &vars, task.action.as_str()) {
            Ok(items) if items.is_empty() => {
                let mut result = Map::new();
                result.insert("changed".into(), false.into());
                result.insert("skipped".into(), true.into());
                result.insert("skipped_reason".into(), "No items in the list".into());
                TaskRun::Done(ItemOutcome::new(Status::Skipped, result)).finish(ctx, task, host);
                return Vec::new();
            }
            Ok(items) => items.into_iter().map(Some).collect(),
            Err(msg) => {
                TaskRun::Done(failure_result(task, msg)).finish(ctx, task, host);
                return Vec::new();
            }
        },
    };
    let mut out = Vec::new();
    let mut false_condition = None;
    for (index, item) in items.iter().enumerate() {
        let mut extra: Vec<(&str, Value)> = Vec::new();
        if let (Some(spec), Some(item)) = (&task.loop_, item) {
            extra.push((spec.loop_var.as_str(), item.clone()));
            if let Some(index_var) = &spec.index_var {
                extra.push((index_var.as_str(), index.into()));
            }
            if spec.extended {
                let all: Vec<Value> = items.iter().flatten().cloned().collect();
                extra.push((
                    "ansible_loop",
                    loop_position(&all, index, spec.extended_allitems),
                ));
            }
        }
        let (item_vars, unresolved) = vars.for_item(ctx, &extra);
        let context = Value::Object(item_vars);
        for expr in &task.when {
            match ctx.templater.eval_condition(expr, &context) {
                Ok(true) => {}
                Ok(false) => {
                    false_condition = Some(expr.clone());
                    break;
                }
                Err(e) => {
                    let msg = format!(
                        "The conditional check '{expr}' failed. The error was: {}",
                        explain(&e, &unresolved)
                    );
                    TaskRun::Done(failure_result(task, msg)).finish(ctx, task, host);
                    return Vec::new();
                }
            }
        }
        if false_condition.is_some() {
            continue;
        }
        let label = match (&task.loop_, item) {
            (Some(spec), Some(item)) => Some(match &spec.label {
                Some(label) => ctx
                    .templater
                    .render_str(label, &context)
                    .map(|v| plain(&v))
                    .unwrap_or_else(|_| label.clone()),
                None => plain(item),
            }),
            _ => None,
        };
        let file = match file {
            None => None,
            Some(template) => match ctx.templater.render_str(template, &context) {
                Ok(name) => Some(plain(&name)),
                Err(e) => {
                    let msg = format!(
                        "error while templating the included file name: {}",
                        explain(&e, &unresolved)
                    );
                    TaskRun::Done(failure_result(task, msg)).finish(ctx, task, host);
                    return Vec::new();
                }
            },
        };
        let mut params = task.vars.clone();
        for (k, v) in extra {
            params.insert(k.to_string(), v);
        }
        out.push(IncludeItem {
            label,
            params,
            file,
        });
    }
    if out.is_empty() {
        let mut result = Map::new();
        result.insert("changed".into(), false.into());
        result.insert("skipped".into(), true.into());
        result.insert("skip_reason".into(), "Conditional result was False".into());
        if let Some(expr) = false_condition {
            result.insert("false_condition".into(), expr.into());
        }
        TaskRun::Done(ItemOutcome::new(Status::Skipped, result)).finish(ctx, task, host);
        return Vec::new();
    }
    host.stats.ok += out.len() as u32;
    out
}

/// An unreachable host during a task: `ignore_unreachable` keeps it in the play, and the
/// result is registered as Ansible does.
fn unreachable_task(ctx: &PlayContext<'_>, task: &Task, host: &mut HostState, e: &TransportError) {
    let ignore = task
        .ignore_unreachable
        .unwrap_or(ctx.play.ignore_unreachable);
    let result = unreachable(ctx, host, e, ignore);
    if let Some(register) = &task.register {
        host.host_vars
            .insert(register.clone(), Value::Object(result));
    }
    host.delegated_to = None;
}

/// The task's `become` wrapper, if it becomes: keywords and the `-b`/`--become-*` flags, each
/// overridden by its `ansible_become*` variable as in Ansible.
fn become_wrapper(
    ctx: &PlayContext<'_>,
    privilege: Privilege,
    vars: &Map<String, Value>,
    transport: Arc<dyn Transport>,
) -> Result<Arc<dyn Transport>, String> {
    let text = |k: &str| match vars.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let become_ = match vars.get("ansible_become") {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => Some(matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "true" | "on" | "1" | "y"
        )),
        _ => privilege.become_,
    };
    if become_ != Some(true) {
        return Ok(transport);
    }
    let user = text("ansible_become_user")
        .or(privilege.become_user)
        .unwrap_or_else(|| "root".into());
    let method_name = text("ansible_become_method")
        .or(privilege.become_method)
        .unwrap_or_else(|| "sudo".into());
    let method = BecomeMethod::parse(&method_name).ok_or_else(|| {
        format!("become_method `{method_name}` is not supported by tend yet (sudo and su are)")
    })?;
    let password = text("ansible_become_password")
        .or_else(|| text("ansible_become_pass"))
        .map(Secret::new)
        .or_else(|| ctx.options.become_password.clone());
    Ok(Arc::new(
        BecomeTransport::new(transport, user)
            .with_method(method)
            .with_password(password)
            // Ansible waits its connection timeout plus a little for the prompt.
            .with_timeout(ctx.options.connect_timeout + Duration::from_secs(2)),
    ))
}

/// The task's `environment`, templated; values become strings as Ansible passes them.
fn environment(
    ctx: &PlayContext<'_>,
    task: &Task,
    vars: &TaskVars,
) -> Result<Vec<(String, String)>, String> {
    let context = Value::Object(vars.resolved.clone());
    let rendered = ctx
        .templater
        .render_value(&Value::Object(task.environment.clone()), &context)
        .map_err(|e| {
            format!(
                "error while templating `environment`: {}",
                explain(&e, &vars.unresolved)
            )
        })?;
    let Value::Object(map) = rendered else {
        return Err("`environment` must be a mapping".into());
    };
    map.into_iter()
        .map(|(k, v)| {
            if !EnvTransport::valid_name(&k) {
                return Err(format!("`{k}` is not a valid environment variable name"));
            }
            Ok((k, plain(&v)))
        })
        .collect()
}

/// `ansible_loop` for the item at `index` (`loop_control.extended`).
fn loop_position(items: &[Value], index: usize, all_items: bool) -> Value {
    let len = items.len();
    let mut position = Map::new();
    position.insert("index".into(), (index + 1).into());
    position.insert("index0".into(), index.into());
    position.insert("first".into(), (index == 0).into());
    position.insert("last".into(), (index + 1 == len).into());
    position.insert("length".into(), len.into());
    position.insert("revindex".into(), (len - index).into());
    position.insert("revindex0".into(), (len - index - 1).into());
    if all_items {
        position.insert("allitems".into(), Value::Array(items.to_vec()));
    }
    if let Some(next) = items.get(index + 1) {
        position.insert("nextitem".into(), next.clone());
    }
    if let Some(prev) = index.checked_sub(1).and_then(|i| items.get(i)) {
        position.insert("previtem".into(), prev.clone());
    }
    Value::Object(position)
}

/// `loop_control.pause`, templated if need be.
fn loop_pause(
    ctx: &PlayContext<'_>,
    pause: &Value,
    vars: &TaskVars,
) -> Result<Option<Duration>, String> {
    let rendered = ctx
        .templater
        .render_value(pause, &Value::Object(vars.resolved.clone()))
        .map_err(|e| {
            format!(
                "error while templating `loop_control.pause`: {}",
                explain(&e, &vars.unresolved)
            )
        })?;
    let seconds = match &rendered {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match seconds {
        Some(s) if s.is_finite() && s >= 0.0 => Ok((s > 0.0).then(|| Duration::from_secs_f64(s))),
        _ => Err(format!(
            "`loop_control.pause` must be a number of seconds, got {rendered}"
        )),
    }
}

/// Items of a loop: a list, or a template rendering to one.
fn loop_items(
    ctx: &PlayContext<'_>,
    spec: &tend_playbook::Loop,
    vars: &TaskVars,
    action: &str,
) -> Result<Vec<Value>, String> {
    let context = Value::Object(vars.resolved.clone());
    let rendered = ctx
        .templater
        .render_value(&spec.items, &context)
        .map_err(|e| {
            format!(
                "error while evaluating the loop: {}",
                explain(&e, &vars.unresolved)
            )
        })?;
    // `with_<lookup>`: the lookup turns the terms into items (`items` flattens one level).
    if let Some(lookup) = &spec.lookup {
        return ctx
            .templater
            .run_lookup_for_action(lookup, rendered, &context, action)
            .map_err(|e| format!("error while evaluating with_{lookup}: {e}"));
    }
    match rendered {
        Value::Array(items) => Ok(items),
        other => Err(format!(
            "Invalid data passed to 'loop', it requires a list, got this instead: {other}. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup."
        )),
    }
}

/// How a value shows in `(item=...)` and in environment values: strings bare, else JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What `no_log` leaves of a result for display (no diffs either); the registered value
/// keeps everything.
fn mask(result: &mut Map<String, Value>, diffs: &mut Vec<tend_module_api::Diff>) {
    diffs.clear();
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

impl ItemOutcome {
    fn new(status: Status, result: Map<String, Value>) -> Self {
        ItemOutcome {
            status,
            result,
            diffs: Vec::new(),
            facts: Map::new(),
        }
    }
}

/// A failure of tend's own making (templating, conditions), pointing at the task.
fn failure_result(task: &Task, msg: String) -> ItemOutcome {
    let at = &task.location;
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
    ItemOutcome::new(Status::Failed, result)
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
            TaskRun::Unreachable(e) => return unreachable_task(ctx, task, host, &e),
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
                // A failure inside a block that has a rescue counts as rescued.
                if host.rescue_depth > 0 {
                    host.stats.rescued += 1;
                } else {
                    host.stats.failed += 1;
                }
                host.failed = true;
                host.last_failure = Some((failed_task_value(task), outcome.result.clone()));
            }
            Status::Unreachable => host.stats.unreachable += 1,
        }
        if outcome.status == Status::Changed {
            for name in &task.notify {
                for (i, handler) in ctx.play.handlers.iter().enumerate() {
                    if handler_answers(handler, name) {
                        host.notified.insert(i);
                    }
                }
            }
        }
        if outcome.status != Status::Failed || ignored {
            let facts = std::mem::take(&mut outcome.facts);
            match fact_target(task, host) {
                Some(target) => delegate_facts(ctx, target, facts),
                None => host.host_vars.extend(facts),
            }
        }
        if let Some(register) = &task.register {
            host.host_vars
                .insert(register.clone(), Value::Object(outcome.result.clone()));
        }
        if task.no_log {
            mask(&mut outcome.result, &mut outcome.diffs);
        }
        // A loop that went fine was shown item by item; Ansible prints no extra line then
        // (a skipped loop still gets its `skipping:` line), but reports want the whole.
        if is_loop && matches!(outcome.status, Status::Ok | Status::Changed) {
            emit_loop_summary(ctx, host, outcome.status, outcome.result, ignored);
            host.delegated_to = None;
            return;
        }
        let debug = task.module.name() == "debug";
        emit(
            ctx,
            host,
            outcome.status,
            None,
            outcome.result,
            outcome.diffs,
            ignored,
            debug,
        );
        host.delegated_to = None;
    }
}

struct ItemRunner<'a> {
    ctx: &'a PlayContext<'a>,
    task: &'a Task,
    module: &'static dyn tend_module_api::DynModule,
    host: &'a Host,
    check: bool,
    diff: bool,
}

impl ItemRunner<'_> {
    fn failure(&self, msg: String) -> TaskRun {
        TaskRun::Done(failure_result(self.task, msg))
    }

    fn condition(&self, expr: &str, vars: &Value, unresolved: &Unresolved) -> Result<bool, String> {
        self.ctx.templater.eval_condition(expr, vars).map_err(|e| {
            format!(
                "The conditional check '{expr}' failed. The error was: {}",
                explain(&e, unresolved)
            )
        })
    }

    fn all_true(
        &self,
        conds: &[String],
        vars: &Value,
        unresolved: &Unresolved,
    ) -> Result<bool, String> {
        for expr in conds {
            if !self.condition(expr, vars, unresolved)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One run of the task for one set of variables (one loop item, or the task), with
    /// `until` retries.
    async fn run(&self, vars: &Map<String, Value>, unresolved: &Unresolved) -> TaskRun {
        let context = Value::Object(vars.clone());
        for expr in &self.task.when {
            match self.condition(expr, &context, unresolved) {
                Ok(true) => {}
                Ok(false) => {
                    let mut result = Map::new();
                    result.insert("changed".into(), false.into());
                    result.insert("skipped".into(), true.into());
                    result.insert("skip_reason".into(), "Conditional result was False".into());
                    result.insert("false_condition".into(), expr.clone().into());
                    return TaskRun::Done(ItemOutcome::new(Status::Skipped, result));
                }
                Err(msg) => return self.failure(msg),
            }
        }
        let Some(retry) = &self.task.retry else {
            return self.attempt(vars, &context, unresolved).await;
        };
        let attempts = retry.retries.max(1) + 1;
        let mut attempt = 1;
        loop {
            let run = self.attempt(vars, &context, unresolved).await;
            let TaskRun::Done(mut one) = run else {
                return run;
            };
            // A time-out ends the task in Ansible: it is not retried.
            if one.result.contains_key("timedout") {
                return TaskRun::Done(one);
            }
            one.result.insert("attempts".into(), attempt.into());
            let mut with_result = vars.clone();
            if let Some(register) = &self.task.register {
                with_result.insert(register.clone(), Value::Object(one.result.clone()));
            }
            let done = match self.all_true(&retry.until, &Value::Object(with_result), unresolved) {
                Ok(done) => done,
                Err(msg) => return self.failure(msg),
            };
            if done && one.status != Status::Failed {
                return TaskRun::Done(one);
            }
            if attempt >= attempts {
                // Ansible reports the configured retries, not the attempts made.
                one.status = Status::Failed;
                one.result.insert("attempts".into(), retry.retries.into());
                one.result.insert("failed".into(), true.into());
                return TaskRun::Done(one);
            }
            self.ctx.runtime.sink.event(Event::Retrying {
                host: self.host.name().to_string(),
                task: self.task.display_name().to_string(),
                retries_left: attempts - attempt,
                result: one.result.clone(),
            });
            tokio::time::sleep(Duration::from_secs(retry.delay_secs)).await;
            attempt += 1;
        }
    }

    /// Templates the arguments, runs the module, applies changed_when/failed_when.
    async fn attempt(
        &self,
        vars: &Map<String, Value>,
        context: &Value,
        unresolved: &Unresolved,
    ) -> TaskRun {
        let ctx = self.ctx;
        let task = self.task;
        let args = match ctx
            .templater
            .render_value(&Value::Object(task.args.clone()), context)
        {
            Ok(Value::Object(mut args)) => {
                args.retain(|_, v| v.as_str() != Some(OMIT));
                Value::Object(args)
            }
            Ok(_) => return self.failure("module arguments must be a mapping".into()),
            Err(e) => {
                return self.failure(format!(
                "The task includes an option with an undefined variable or a template error: {}",
                explain(&e, unresolved)
            ))
            }
        };
        // As Ansible's task search path: the role's own files/ and templates/, then those
        // beside the file the task is written in, then the play's and the playbook's.
        let mut search_dirs: Vec<std::path::PathBuf> = Vec::with_capacity(4);
        let task_dir = task.location.file.parent();
        for dir in task
            .role
            .as_ref()
            .map(|r| r.path.as_path())
            .into_iter()
            .chain(task_dir.filter(|_| task.role.is_none()))
            .chain(ctx.search_dirs.iter().map(|d| d.as_path()))
        {
            if !search_dirs.iter().any(|d| d == dir) {
                search_dirs.push(dir.to_path_buf());
            }
        }
        let search_dirs = search_dirs.as_slice();
        let controller = TaskController {
            templater: ctx.templater,
            vars: context,
            search_dirs,
        };
        let module_ctx = Context {
            host: self.host,
            check_mode: self.check,
            diff: self.diff,
            controller: &controller,
        };
        let running = self.module.run(&args, &module_ctx);
        let finished = match task.timeout {
            // Dropping the module's future on time-out abandons its command; the transport
            // stops it on the host (the resident shell kills its process group).
            Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), running).await {
                Ok(finished) => finished,
                Err(_) => return TaskRun::Done(timed_out(secs)),
            },
            None => running.await,
        };
        let outcome = match finished {
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
        // Ansible evaluates these only on results the module did not skip.
        if !outcome.skipped && (task.changed_when.is_some() || task.failed_when.is_some()) {
            // The registered name is visible to changed_when/failed_when, as in Ansible.
            let mut with_result = vars.clone();
            if let Some(register) = &task.register {
                with_result.insert(register.clone(), Value::Object(result.clone()));
            }
            let with_result = Value::Object(with_result);
            if let Some(conds) = &task.changed_when {
                match self.all_true(conds, &with_result, unresolved) {
                    Ok(c) => changed = c,
                    Err(msg) => return self.failure(msg),
                }
            }
            if let Some(conds) = &task.failed_when {
                match self.all_true(conds, &with_result, unresolved) {
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

/// The result of a module run stopped by the task's `timeout`, as Ansible 2.19 words it
/// (`TaskTimeoutError` turned into a task result).
fn timed_out(secs: u64) -> ItemOutcome {
    let mut result = Map::new();
    result.insert("changed".into(), false.into());
    result.insert("failed".into(), true.into());
    result.insert(
        "msg".into(),
        format!("Task failed: Timed out after {secs} second(s).").into(),
    );
    result.insert(
        "timedout".into(),
        serde_json::json!({
            "frame": "Configure `DISPLAY_TRACEBACK` to see a traceback on timeout errors.",
            "period": secs,
        }),
    );
    ItemOutcome::new(Status::Failed, result)
}

/// Whether a handler answers a notification: by name, by `role : name`, or by topic.
fn handler_answers(handler: &Task, notification: &str) -> bool {
    let Some(name) = handler.name.as_deref() else {
        return handler.listen.iter().any(|l| l == notification);
    };
    name == notification
        || handler.listen.iter().any(|l| l == notification)
        || handler
            .role
            .as_ref()
            .is_some_and(|r| notification == format!("{} : {name}", r.name))
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
