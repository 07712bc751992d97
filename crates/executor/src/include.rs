//! `include_tasks`/`include_role` at run time: the include is a task of its own on each host
//! (`when`, loop, tags, an ok per item), then its body runs for the hosts and items that
//! reached it, grouped as Ansible groups included files: hosts including the same file with
//! the same parameters run it together.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tend_playbook::{Include, IncludeBody, Step};

use crate::events::Event;
use crate::run::{
    confirmed, display_name, run_steps, selected, show_free_banner, Banner, Flow, HostState,
    PlayContext, TaskShared,
};
use crate::task::{fail_task, include_items};

/// The hosts that include one file with one set of parameters.
struct Group {
    /// What the `included:` line names.
    shown: String,
    /// The file to compile, for an include with a templated name.
    path: Option<PathBuf>,
    item: Option<String>,
    params: Map<String, Value>,
    hosts: Vec<usize>,
}

pub(crate) async fn run_include(
    ctx: &PlayContext<'_>,
    include: &Include,
    hosts: &mut [HostState],
    scope: &[bool],
) -> Flow {
    let task = &include.task;
    if !selected(ctx, task) || !confirmed(ctx, task) {
        return Flow::Continue;
    }
    let name = display_name(ctx, task);
    let free = ctx.play.strategy == tend_playbook::Strategy::Free;
    let banner = Banner::of(&name, Some(task), false);
    if !free {
        ctx.runtime.sink.event(banner.event());
    }
    let template = match &include.body {
        IncludeBody::Templated { file, .. } => Some(file.as_str()),
        IncludeBody::Steps(_) => None,
    };
    let shared = TaskShared::new(ctx, hosts);
    let mut groups: Vec<Group> = Vec::new();
    for (index, (host, in_scope)) in hosts.iter_mut().zip(scope).enumerate() {
        if !*in_scope || !host.active() {
            continue;
        }
        if free {
            host.banner = Some(banner.clone());
        }
        host.task_started = std::time::Instant::now();
        for item in include_items(ctx, task, host, &shared, template) {
            let (shown, path) = match (&include.body, &item.file) {
                (IncludeBody::Templated { dir, .. }, Some(file)) => {
                    let path = dir.join(file);
                    let shown = std::path::absolute(&path)
                        .unwrap_or_else(|_| path.clone())
                        .display()
                        .to_string();
                    (shown, Some(path))
                }
                _ => (include.shown.clone(), None),
            };
            let same = groups
                .iter_mut()
                .find(|g| g.shown == shown && g.params == item.params && g.item == item.label);
            match same {
                Some(group) => group.hosts.push(index),
                None => groups.push(Group {
                    shown,
                    path,
                    item: item.label,
                    params: item.params,
                    hosts: vec![index],
                }),
            }
        }
    }
    for group in &groups {
        if free {
            if let Some(first) = group.hosts.first() {
                show_free_banner(ctx, &hosts[*first]);
            }
        }
        ctx.runtime.sink.event(Event::Included {
            file: group.shown.clone(),
            hosts: group.hosts.iter().map(|i| hosts[*i].name.clone()).collect(),
            item: group.item.clone(),
        });
    }
    for group in groups {
        let compiled: Arc<Vec<Step>>;
        let steps: &[Step] = match (&include.body, &group.path) {
            (IncludeBody::Steps(steps), _) => steps,
            (
                IncludeBody::Templated {
                    role, playbook_dir, ..
                },
                Some(path),
            ) => match tend_playbook::compile_task_file(path, role.clone(), playbook_dir) {
                Ok(steps) => {
                    compiled = Arc::new(steps);
                    &compiled
                }
                Err(errors) => {
                    for i in &group.hosts {
                        fail_include(ctx, include, &mut hosts[*i], &errors.to_string());
                    }
                    continue;
                }
            },
            (IncludeBody::Templated { .. }, None) => continue,
        };
        let mut only = vec![false; hosts.len()];
        for i in &group.hosts {
            only[*i] = true;
            hosts[*i].include_vars.push(group.params.clone());
        }
        let flow = run_steps(ctx, steps, hosts, &only).await;
        for i in &group.hosts {
            hosts[*i].include_vars.pop();
        }
        if flow != Flow::Continue {
            return flow;
        }
    }
    Flow::Continue
}

/// An included file that does not compile fails the include on the hosts that reached it,
/// as a missing or broken file does in Ansible.
fn fail_include(ctx: &PlayContext<'_>, include: &Include, host: &mut HostState, reason: &str) {
    // The include already counted as ok for this item; a failure replaces that.
    host.stats.ok = host.stats.ok.saturating_sub(1);
    let mut result = Map::new();
    result.insert("changed".into(), false.into());
    result.insert("failed".into(), true.into());
    result.insert("reason".into(), json!(reason));
    fail_task(ctx, &include.task, host, result);
}
