//! `hostvars`: every host's variables, for tasks that look at other hosts.

use serde_json::{Map, Value};
use tend_inventory::Inventory;
use tend_playbook::{Play, Step, Task};

use crate::run::HostState;

/// Every inventory host's variables as a task sees them through `hostvars`: inventory vars,
/// gathered facts and what `set_fact`/`register` stored, for the hosts this play has seen.
pub(crate) fn snapshot(
    inventory: &Inventory,
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

/// Whether anything a task of the play reads mentions `needle` (templates included).
pub(crate) fn play_mentions(play: &Play, needle: &str) -> bool {
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
