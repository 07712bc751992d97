//! `hostvars`: every host's variables, for tasks that look at other hosts.

use serde_json::{Map, Value};
use tend_inventory::Inventory;
use tend_playbook::{IncludeBody, Play, Step, Task};
use tend_template::Templater;

use crate::run::HostState;
use crate::vars::{holds_template, resolve_templated};

/// Every inventory host's variables as a task sees them through `hostvars`: inventory vars,
/// gathered facts and what `set_fact`/`register` stored, for the hosts this play has seen.
pub(crate) fn snapshot(
    inventory: &Inventory,
    templater: &Templater,
    groups: &Value,
    outside: &Map<String, Value>,
    hosts: &[HostState],
) -> Value {
    let mut all = Map::new();
    for h in inventory.hosts() {
        let mut vars = inventory.host_vars(&h.name);
        vars.insert("inventory_hostname".into(), Value::String(h.name.clone()));
        vars.insert(
            "group_names".into(),
            serde_json::json!(inventory.group_names(&h.name)),
        );
        all.insert(h.name.clone(), Value::Object(vars));
    }
    for (name, vars) in outside {
        if let (Some(Value::Object(entry)), Value::Object(vars)) = (all.get_mut(name), vars) {
            entry.extend(vars.clone());
        }
    }
    for state in hosts {
        let entry = all
            .entry(state.name.clone())
            .or_insert_with(|| Value::Object(inventory.host_vars(&state.name)));
        if let Value::Object(vars) = entry {
            vars.extend(state.facts.clone());
            vars.extend(state.host_vars.clone());
        }
    }
    // Each host's templated values are rendered with that host's own variables, as Ansible
    // renders `hostvars[h].x` for h; a value that cannot be rendered is left out alone
    // instead of making all of `hostvars` unusable.
    for vars in all.values_mut() {
        if let Value::Object(vars) = vars {
            if vars.values().any(holds_template) {
                vars.insert("groups".into(), groups.clone());
                resolve_templated(templater, vars, &[]);
                vars.remove("groups");
            }
        }
    }
    Value::Object(all)
}

/// Facts and stored variables of hosts outside the current slice of host states, for
/// [`snapshot`].
pub(crate) fn host_entries<'a>(states: impl Iterator<Item = &'a HostState>) -> Map<String, Value> {
    states
        .map(|s| {
            let mut vars = s.facts.clone();
            vars.extend(s.host_vars.clone());
            (s.name.clone(), Value::Object(vars))
        })
        .collect()
}

fn mentions(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|v| mentions(v, needle)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains(needle) || mentions(v, needle)),
        _ => false,
    }
}

fn task_mentions(task: &Task, needle: &str) -> bool {
    let texts = task
        .when
        .iter()
        .chain(task.changed_when.iter().flatten())
        .chain(task.failed_when.iter().flatten())
        .chain(task.retry.iter().flat_map(|r| r.until.iter()))
        .chain(task.name.iter())
        .chain(task.delegate_to.iter());
    texts.into_iter().any(|t| t.contains(needle))
        || task
            .args
            .iter()
            .any(|(k, v)| k.contains(needle) || mentions(v, needle))
        || mentions(&Value::Object(task.vars.clone()), needle)
        || mentions(&Value::Object(task.environment.clone()), needle)
        || task.loop_.as_ref().is_some_and(|l| {
            mentions(&l.items, needle) || l.label.as_deref().is_some_and(|x| x.contains(needle))
        })
        || task.role.as_ref().is_some_and(|r| {
            mentions(&Value::Object(r.defaults.clone()), needle)
                || mentions(&Value::Object(r.vars.clone()), needle)
                || mentions(&Value::Object(r.params.clone()), needle)
        })
}

/// Whether the play's template files may mention `needle`: any file under the `templates/`
/// of the play's directory or of a role the play uses (which template a task renders can
/// depend on variables, so all of them are looked at).
fn templates_mention(play: &Play, needle: &str) -> bool {
    let mut dirs = vec![play.dir.join("templates")];
    let steps = play
        .pre_tasks
        .iter()
        .chain(&play.tasks)
        .chain(&play.post_tasks);
    for task in steps.flat_map(Step::tasks).chain(&play.handlers) {
        if let Some(role) = &task.role {
            let dir = role.path.join("templates");
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs.iter().any(|d| dir_mentions(d, needle, 4))
}

fn dir_mentions(dir: &std::path::Path, needle: &str, depth: u32) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            depth > 0 && dir_mentions(&path, needle, depth - 1)
        } else {
            std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        }
    })
}

/// Whether a task of the play may read one of `names`: the play, its templates, the
/// inventory's variables or the extra vars mention one, or the play loads variables or tasks
/// whose text is only known at run time (`include_vars`, `include_tasks` of a templated
/// file name), which may mention anything.
pub(crate) fn play_may_read(
    play: &Play,
    inventory: &Inventory,
    extra_vars: &Map<String, Value>,
    names: &[&str],
) -> bool {
    let steps = play
        .pre_tasks
        .iter()
        .chain(&play.tasks)
        .chain(&play.post_tasks);
    let loads_at_run_time =
        steps.into_iter().any(step_loads_at_run_time) || play.handlers.iter().any(is_include_vars);
    if loads_at_run_time {
        return true;
    }
    let extra = Value::Object(extra_vars.clone());
    let any_name = |v: &Value| names.iter().any(|name| mentions(v, name));
    names.iter().any(|name| play_mentions(play, name))
        || any_name(&extra)
        || inventory
            .hosts()
            .any(|h| any_name(&Value::Object(inventory.host_vars(&h.name))))
}

fn is_include_vars(task: &Task) -> bool {
    let short = task.action.rsplit('.').next().unwrap_or(&task.action);
    short == "include_vars"
}

fn step_loads_at_run_time(step: &Step) -> bool {
    match step {
        Step::Task(t) => is_include_vars(t),
        Step::Block(b) => b
            .block
            .iter()
            .chain(&b.rescue)
            .chain(&b.always)
            .any(step_loads_at_run_time),
        Step::Include(i) => match &i.body {
            IncludeBody::Steps(steps) => steps.iter().any(step_loads_at_run_time),
            IncludeBody::Templated { .. } => true,
        },
    }
}

/// Whether anything a task of the play reads mentions `needle` (templates included).
pub(crate) fn play_mentions(play: &Play, needle: &str) -> bool {
    if templates_mention(play, needle) {
        return true;
    }
    let steps = play
        .pre_tasks
        .iter()
        .chain(&play.tasks)
        .chain(&play.post_tasks);
    mentions(&Value::Object(play.vars.clone()), needle)
        || mentions(&Value::Object(play.role_vars.clone()), needle)
        || mentions(&Value::Object(play.role_defaults.clone()), needle)
        || steps
            .flat_map(Step::tasks)
            .any(|t| task_mentions(t, needle))
        || play.handlers.iter().any(|t| task_mentions(t, needle))
}
