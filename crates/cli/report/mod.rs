//! Machine-readable reports of a run (`--report json|junit|markdown[=PATH]`): a collector that
//! keeps every play, task and host result as the run goes, and the renderers that write it.
//!
//! Results are kept as the executor reports them, so `no_log` is already respected: a
//! censored result and no diffs are all there is to write.

mod json;
mod junit;
mod markdown;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _, Result};
use tend_executor::{Event, EventSink, HostResult, RunSummary, StepAnswer};

/// One report the user asked for: its format and where it goes (`None`: stdout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    pub format: Format,
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Junit,
    Markdown,
}

impl ReportSpec {
    /// `json`, `junit=out.xml`, `markdown=-` (stdout).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, path) = match text.split_once('=') {
            Some((name, path)) => (name, Some(path)),
            None => (text, None),
        };
        let format = match name.to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "junit" | "xml" => Format::Junit,
            "markdown" | "md" => Format::Markdown,
            other => {
                return Err(format!(
                    "unknown report format `{other}` (expected json, junit or markdown)"
                ))
            }
        };
        let path = match path {
            None | Some("-") => None,
            Some("") => return Err(format!("`{text}`: the path after `=` is empty")),
            Some(p) => Some(PathBuf::from(p)),
        };
        Ok(ReportSpec { format, path })
    }
}

/// Everything a report shows, in run order.
pub struct RunRecord {
    pub started: SystemTime,
    pub duration: Duration,
    pub check: bool,
    pub diff: bool,
    pub plays: Vec<PlayRecord>,
}

pub struct PlayRecord {
    pub name: String,
    pub hosts: Vec<String>,
    pub started: SystemTime,
    pub ended: SystemTime,
    pub tasks: Vec<TaskRecord>,
}

pub struct TaskRecord {
    pub name: String,
    /// `file:line`; `None` for fact gathering.
    pub path: Option<String>,
    pub handler: bool,
    pub started: SystemTime,
    pub ended: SystemTime,
    /// One per host: the task's final result (a loop's whole result, not its items; its
    /// items' diffs are gathered into it).
    pub results: Vec<HostResult>,
    /// Diffs of loop items per host, until the loop's whole result arrives.
    item_diffs: Vec<(String, Vec<tend_module_api::Diff>)>,
}

impl TaskRecord {
    /// The task as a report names it: `TASK [name]` or `RUNNING HANDLER [name]`.
    pub fn title(&self) -> String {
        let kind = if self.handler {
            "RUNNING HANDLER"
        } else {
            "TASK"
        };
        format!("{kind} [{}]", self.name)
    }
}

/// Collects events for the reports; pass it to the executor next to the printer.
pub struct Collector {
    record: Mutex<RunRecord>,
    clock: Instant,
}

impl Collector {
    pub fn new(check: bool, diff: bool) -> Self {
        Collector {
            record: Mutex::new(RunRecord {
                started: SystemTime::now(),
                duration: Duration::ZERO,
                check,
                diff,
                plays: Vec::new(),
            }),
            clock: Instant::now(),
        }
    }

    /// Writes every requested report. Reports for stdout are printed after the run.
    /// `junit_fail_on_change`: changed tasks are JUnit failures.
    pub fn write_all(
        &self,
        specs: &[ReportSpec],
        summary: &RunSummary,
        exit_code: u8,
        junit_fail_on_change: bool,
    ) -> Result<()> {
        let mut record = crate::lock(&self.record);
        record.duration = self.clock.elapsed();
        for spec in specs {
            let text = match spec.format {
                Format::Json => json::render(&record, summary, exit_code),
                Format::Junit => junit::render(&record, junit_fail_on_change),
                Format::Markdown => markdown::render(&record, summary),
            };
            match &spec.path {
                None => {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes())
                        .and_then(|()| out.flush())
                        .context("writing the report to stdout")?;
                }
                Some(path) => write_file(path, &text)
                    .with_context(|| format!("writing the report {}", path.display()))?,
            }
        }
        Ok(())
    }
}

/// Writes a report next to its final name, then renames it: a CI job never reads half of one.
fn write_file(path: &std::path::Path, text: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!("directory {} does not exist", dir.display());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let temp = dir.join(format!(".{name}.tend-{}", std::process::id()));
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })?;
    Ok(())
}

impl EventSink for Collector {
    fn event(&self, event: Event) {
        let mut record = crate::lock(&self.record);
        let now = SystemTime::now();
        match event {
            Event::PlayStart { name, hosts } => {
                close_task(&mut record, now);
                if let Some(play) = record.plays.last_mut() {
                    play.ended = now;
                }
                record.plays.push(PlayRecord {
                    name,
                    hosts,
                    started: now,
                    ended: now,
                    tasks: Vec::new(),
                });
            }
            Event::TaskStart {
                name,
                handler,
                path,
            } => {
                close_task(&mut record, now);
                if let Some(play) = record.plays.last_mut() {
                    play.tasks.push(TaskRecord {
                        name,
                        path,
                        handler,
                        started: now,
                        ended: now,
                        results: Vec::new(),
                        item_diffs: Vec::new(),
                    });
                }
            }
            Event::ItemResult(item) => {
                if let Some(task) = record.plays.last_mut().and_then(|p| p.tasks.last_mut()) {
                    match task.item_diffs.iter_mut().find(|(h, _)| *h == item.host) {
                        Some((_, diffs)) => diffs.extend(item.diffs),
                        None => task.item_diffs.push((item.host, item.diffs)),
                    }
                }
            }
            Event::TaskResult(mut result) => {
                if let Some(task) = record.plays.last_mut().and_then(|p| p.tasks.last_mut()) {
                    task.ended = now;
                    if let Some(i) = task.item_diffs.iter().position(|(h, _)| *h == result.host) {
                        let (_, diffs) = task.item_diffs.swap_remove(i);
                        if result.diffs.is_empty() {
                            result.diffs = diffs;
                        }
                    }
                    task.results.push(result);
                }
            }
            _ => {}
        }
    }
}

fn close_task(record: &mut RunRecord, now: SystemTime) {
    if let Some(play) = record.plays.last_mut() {
        play.ended = now;
        if let Some(task) = play.tasks.last_mut() {
            task.ended = now;
        }
    }
}

/// Sends every event to each sink in turn; `--step` questions go to the first.
pub struct Tee(pub Vec<Arc<dyn EventSink>>);

impl EventSink for Tee {
    fn event(&self, event: Event) {
        if let Some((last, rest)) = self.0.split_last() {
            for sink in rest {
                sink.event(event.clone());
            }
            last.event(event);
        }
    }

    fn confirm_step(&self, task: &str) -> StepAnswer {
        match self.0.first() {
            Some(sink) => sink.confirm_step(task),
            None => StepAnswer::Continue,
        }
    }
}

/// `2026-11-22T12:40:01.123Z`: UTC, as CI systems read timestamps.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = tend_module_api::calendar::civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The status word reports use: `ok`, `changed`, `skipped`, `failed`, `unreachable`.
pub fn status_word(result: &HostResult) -> &'static str {
    use tend_executor::Status;
    match result.status {
        Status::Ok => "ok",
        Status::Changed => "changed",
        Status::Skipped => "skipped",
        Status::Failed => "failed",
        Status::Unreachable => "unreachable",
    }
}

/// A result's message, as Ansible puts it in `msg` (or the reason a task was skipped).
pub fn message(result: &HostResult) -> Option<String> {
    ["msg", "skip_reason", "censored"]
        .iter()
        .find_map(|k| result.result.get(*k))
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
}

/// What a failed task's report shows: its message, and for commands the command line, exit
/// status and stderr.
pub fn failure_detail(result: &HostResult) -> String {
    use serde_json::Value;
    let r = &result.result;
    let mut text = message(result).unwrap_or_default();
    let cmd = match r.get("cmd") {
        Some(Value::Array(words)) => Some(
            words
                .iter()
                .map(|w| {
                    w.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| w.to_string())
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    if let Some(cmd) = cmd {
        text.push_str(&format!("\ncommand: {cmd}"));
    }
    if let Some(rc) = r.get("rc") {
        text.push_str(&format!("\nrc: {rc}"));
    }
    if let Some(stderr) = r.get("stderr").and_then(Value::as_str) {
        if !stderr.trim().is_empty() {
            text.push_str(&format!("\nstderr:\n{}", stderr.trim_end()));
        }
    }
    text.trim_start_matches('\n').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_and_without_paths() {
        assert_eq!(
            ReportSpec::parse("json").unwrap(),
            ReportSpec {
                format: Format::Json,
                path: None
            }
        );
        assert_eq!(
            ReportSpec::parse("junit=out/r.xml").unwrap().path,
            Some(PathBuf::from("out/r.xml"))
        );
        assert_eq!(ReportSpec::parse("md=-").unwrap().path, None);
        assert!(ReportSpec::parse("yaml")
            .unwrap_err()
            .contains("unknown report format"));
        assert!(ReportSpec::parse("json=").is_err());
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_437_601_123);
        assert_eq!(rfc3339(t), "2026-11-23T12:40:01.123Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}

#[cfg(test)]
mod snapshots {
    //! Each format rendered from one fixed run: a check run with a changed file (diff), a loop,
    //! a skipped task, a failed command, an ignored failure, an unreachable host and a
    //! `no_log` result.

    use std::time::{Duration, SystemTime};

    use serde_json::{json, Map, Value};
    use tend_executor::{HostResult, HostStats, RunSummary, Status};
    use tend_module_api::Diff;

    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_437_600_000 + ms)
    }

    fn result(host: &str, status: Status, value: Value) -> HostResult {
        let Value::Object(map) = value else {
            return result(host, status, json!({}));
        };
        HostResult {
            host: host.into(),
            delegated_to: None,
            status,
            item: None,
            ignored: false,
            result: map,
            diffs: Vec::new(),
            verbose_always: false,
            duration: Duration::from_millis(12),
            loop_summary: false,
        }
    }

    fn task(name: &str, line: u32, ms: u64, results: Vec<HostResult>) -> TaskRecord {
        TaskRecord {
            name: name.into(),
            path: Some(format!("site.yml:{line}")),
            handler: false,
            started: at(ms),
            ended: at(ms + 20),
            results,
            item_diffs: Vec::new(),
        }
    }

    fn fixture() -> (RunRecord, RunSummary) {
        let mut config = result(
            "web1",
            Status::Changed,
            json!({"changed": true, "dest": "/etc/app.conf"}),
        );
        config.diffs = vec![Diff::content("/etc/app.conf", "port=80\n", "port=8080\n")];
        let mut looped = result(
            "web1",
            Status::Changed,
            json!({"changed": true, "msg": "All items completed", "results": [{"item": "a", "changed": true}]}),
        );
        looped.loop_summary = true;
        looped.diffs = vec![Diff::attributes(
            &[("path", "/srv/a".into()), ("state", "absent".into())],
            &[("path", "/srv/a".into()), ("state", "directory".into())],
        )];
        let mut ignored = result(
            "web1",
            Status::Failed,
            json!({"changed": false, "msg": "not there", "rc": 1}),
        );
        ignored.ignored = true;
        let record = RunRecord {
            started: at(0),
            duration: Duration::from_millis(900),
            check: true,
            diff: true,
            plays: vec![PlayRecord {
                name: "web <servers> & \"friends\"".into(),
                hosts: vec!["web1".into(), "web2".into(), "db1".into()],
                started: at(1),
                ended: at(800),
                tasks: vec![
                    task(
                        "write config",
                        6,
                        10,
                        vec![
                            config,
                            result(
                                "web2",
                                Status::Ok,
                                json!({"changed": false, "dest": "/etc/app.conf"}),
                            ),
                            result(
                                "db1",
                                Status::Unreachable,
                                json!({"changed": false, "msg": "Failed to connect to the host via ssh: timed out", "unreachable": true}),
                            ),
                        ],
                    ),
                    task("dirs", 10, 40, vec![looped]),
                    task(
                        "secret",
                        13,
                        70,
                        vec![result(
                            "web1",
                            Status::Changed,
                            json!({"censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result", "changed": true}),
                        )],
                    ),
                    task(
                        "only on db",
                        16,
                        100,
                        vec![result(
                            "web1",
                            Status::Skipped,
                            json!({"changed": false, "skip_reason": "Conditional result was False"}),
                        )],
                    ),
                    task(
                        "probe",
                        19,
                        130,
                        vec![
                            ignored,
                            result(
                                "web2",
                                Status::Failed,
                                json!({"changed": true, "cmd": ["/usr/bin/check", "--all"], "rc": 3, "msg": "non-zero return code", "stderr": "check: <disk> full & failing", "stdout": ""}),
                            ),
                        ],
                    ),
                ],
            }],
        };
        let summary = RunSummary {
            hosts: vec![
                (
                    "web1".into(),
                    HostStats {
                        ok: 5,
                        changed: 3,
                        skipped: 1,
                        ignored: 1,
                        ..HostStats::default()
                    },
                ),
                (
                    "web2".into(),
                    HostStats {
                        ok: 1,
                        failed: 1,
                        ..HostStats::default()
                    },
                ),
                (
                    "db1".into(),
                    HostStats {
                        unreachable: 1,
                        ..HostStats::default()
                    },
                ),
            ],
        };
        (record, summary)
    }

    #[test]
    fn json_report() {
        let (record, summary) = fixture();
        let text = json::render(&record, &summary, 14);
        let parsed: Map<String, Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["tend"]["exit_code"], 14);
        insta::assert_snapshot!(text.replace(env!("CARGO_PKG_VERSION"), "VERSION"));
    }

    #[test]
    fn junit_report() {
        let (record, _) = fixture();
        insta::assert_snapshot!(junit::render(&record, false));
    }

    #[test]
    fn junit_report_failing_changes() {
        let (record, _) = fixture();
        let text = junit::render(&record, true);
        assert!(
            text.contains(r#"tests="8" failures="4" errors="1" skipped="1""#),
            "{text}"
        );
    }

    #[test]
    fn markdown_report() {
        let (record, summary) = fixture();
        insta::assert_snapshot!(markdown::render(&record, &summary));
    }
}
