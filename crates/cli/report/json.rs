//! `--report json`: the shape of ansible-playbook's `json` callback (plays → tasks → hosts,
//! then per-host stats), so tools written for it read tend's too, plus a `tend` object with
//! the run's outcome and a `tend` object in each host result. Documented in
//! `docs/reports.md`; `schema` changes only when a key is renamed or removed.

use serde_json::{json, Map, Value};
use tend_executor::{HostResult, RunSummary, Status};

use super::{rfc3339, status_word, RunRecord};

/// Bumped when a key is renamed or removed (new keys keep the number).
pub const SCHEMA: u32 = 1;

pub fn render(record: &RunRecord, summary: &RunSummary, exit_code: u8) -> String {
    let plays: Vec<Value> = record
        .plays
        .iter()
        .map(|play| {
            let tasks: Vec<Value> = play
                .tasks
                .iter()
                .map(|task| {
                    let hosts: Map<String, Value> = task
                        .results
                        .iter()
                        .map(|r| (r.host.clone(), host_result(r)))
                        .collect();
                    json!({
                        "task": {
                            "name": task.name,
                            "path": task.path,
                            "handler": task.handler,
                            "duration": {
                                "start": rfc3339(task.started),
                                "end": rfc3339(task.ended),
                            },
                        },
                        "hosts": hosts,
                    })
                })
                .collect();
            json!({
                "play": {
                    "name": play.name,
                    "hosts": play.hosts,
                    "duration": {
                        "start": rfc3339(play.started),
                        "end": rfc3339(play.ended),
                    },
                },
                "tasks": tasks,
            })
        })
        .collect();
    let stats: Map<String, Value> = summary
        .hosts
        .iter()
        .map(|(host, s)| {
            (
                host.clone(),
                json!({
                    "ok": s.ok,
                    "changed": s.changed,
                    "unreachable": s.unreachable,
                    "failures": s.failed,
                    "skipped": s.skipped,
                    "rescued": s.rescued,
                    "ignored": s.ignored,
                }),
            )
        })
        .collect();
    let document = json!({
        "plays": plays,
        "stats": stats,
        "tend": {
            "version": env!("CARGO_PKG_VERSION"),
            "schema": SCHEMA,
            "check": record.check,
            "diff": record.diff,
            "start": rfc3339(record.started),
            "duration": seconds(record.duration),
            "changed": summary.any_changed(),
            "failed": summary.any_failed(),
            "unreachable": summary.any_unreachable(),
            "exit_code": exit_code,
        },
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// A host's result as `register` stores it (censored under `no_log`), with the flags Ansible's
/// callback shows, the diffs under `--diff`, and tend's own facts about it under `tend`.
fn host_result(r: &HostResult) -> Value {
    let mut value = r.result.clone();
    value
        .entry("changed")
        .or_insert(Value::Bool(r.status == Status::Changed));
    match r.status {
        Status::Failed => {
            value.insert("failed".into(), Value::Bool(true));
        }
        Status::Skipped => {
            value.insert("skipped".into(), Value::Bool(true));
        }
        Status::Unreachable => {
            value.insert("unreachable".into(), Value::Bool(true));
        }
        Status::Ok | Status::Changed => {}
    }
    if !r.diffs.is_empty() && !value.contains_key("diff") {
        let diffs: Vec<Value> = r
            .diffs
            .iter()
            .map(|d| {
                if d.is_prepared() {
                    return json!({ "prepared": d.after });
                }
                json!({
                    "before_header": d.before_header,
                    "after_header": d.after_header,
                    "before": d.before,
                    "after": d.after,
                })
            })
            .collect();
        value.insert("diff".into(), Value::Array(diffs));
    }
    value.insert(
        "tend".into(),
        json!({
            "status": status_word(r),
            "duration": seconds(r.duration),
            "delegated_to": r.delegated_to,
            "ignored": r.ignored,
        }),
    );
    Value::Object(value)
}

fn seconds(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
