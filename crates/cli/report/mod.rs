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
        let mut record = match self.record.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
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
        let mut record = match self.record.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
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
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// Howard Hinnant's days-to-civil: the proleptic Gregorian date of a day count since 1970.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
