//! Prints run events the way ansible-playbook's default callback does: banners, one line per
//! host result, diffs under `--diff`, and the PLAY RECAP; with `-vv` task paths, with `-vvv`
//! the commands run on hosts (`-vvvv`: and their output), with `--profile` task timings.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use similar::TextDiff;
use tend_executor::{
    CommandOutcome, CommandTrace, Event, EventSink, HostResult, RunSummary, Status, StepAnswer,
};
use tend_module_api::Diff;

const WIDTH: usize = 80;
/// Ansible's `max_diff_size`.
const MAX_DIFF_BYTES: usize = 104_448;

/// At `-vvv` a command line is cut after this many bytes; `-vvvv` shows it whole.
const COMMAND_PREVIEW: usize = 2048;
/// At `-vvvv` a command's stdout and stderr are cut after this many bytes each.
const OUTPUT_PREVIEW: usize = 65_536;

pub struct Printer {
    out: Mutex<Box<dyn Write + Send>>,
    color: bool,
    verbosity: u8,
    progress: Option<crate::progress::Progress>,
    /// The path of the task whose results are printing (`file:line`).
    task_path: Mutex<Option<String>>,
    profile: Option<Mutex<Profile>>,
}

/// How the human output looks; chosen from flags, the terminal and the environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub verbosity: u8,
    pub color: bool,
    /// Print to stderr (stdout carries a report).
    pub to_stderr: bool,
    pub progress: bool,
    pub profile: bool,
}

/// `--profile`: wall time from each task's banner to the next, as Ansible's `profile_tasks`.
#[derive(Default)]
struct Profile {
    current: Option<(String, Option<String>, Instant)>,
    done: Vec<(String, Option<String>, Duration)>,
}

impl Profile {
    fn close(&mut self) {
        if let Some((title, path, started)) = self.current.take() {
            let elapsed = started.elapsed();
            match self
                .done
                .iter_mut()
                .find(|(t, p, _)| *t == title && *p == path)
            {
                Some((_, _, total)) => *total += elapsed,
                None => self.done.push((title, path, elapsed)),
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Color {
    Green,
    Yellow,
    Red,
    Cyan,
    Magenta,
}

impl Printer {
    pub fn new(style: Style) -> Self {
        let out: Box<dyn Write + Send> = if style.to_stderr {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        };
        Printer {
            out: Mutex::new(out),
            color: style.color,
            verbosity: style.verbosity,
            progress: style.progress.then(crate::progress::Progress::start),
            task_path: Mutex::new(None),
            profile: style.profile.then(|| Mutex::new(Profile::default())),
        }
    }

    /// Ends the progress line and prints the task timings (`--profile`), before the recap.
    pub fn finish(&self) {
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        let Some(profile) = &self.profile else {
            return;
        };
        let mut profile = crate::lock(profile);
        profile.close();
        let mut rows = profile.done.clone();
        rows.sort_by_key(|r| std::cmp::Reverse(r.2));
        let total: Duration = rows.iter().map(|r| r.2).sum();
        let shown = if self.verbosity > 0 { rows.len() } else { 20 };
        let mut text = Self::banner("TASK TIMINGS");
        for (title, path, elapsed) in rows.iter().take(shown) {
            let label = match path {
                Some(p) if self.verbosity > 0 => format!("{title} ({p})"),
                _ => title.clone(),
            };
            let secs = format!(" {:.2}s", elapsed.as_secs_f64());
            let dashes = WIDTH
                .saturating_sub(label.chars().count() + secs.len() + 1)
                .max(3);
            text.push_str(&format!("{label} {}{secs}\n", "-".repeat(dashes)));
        }
        if rows.len() > shown {
            text.push_str(&format!("({} more; -v shows all)\n", rows.len() - shown));
        }
        text.push_str(&format!("total: {:.2}s\n", total.as_secs_f64()));
        self.write(&text);
    }

    fn paint(&self, color: Color, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match color {
            Color::Green => "32",
            Color::Yellow => "33",
            Color::Red => "31",
            Color::Cyan => "36",
            Color::Magenta => "35",
        };
        format!("\x1b[0;{code}m{text}\x1b[0m")
    }

    fn write(&self, text: &str) {
        let emit = || {
            if let Ok(mut out) = self.out.lock() {
                // A closed stdout (e.g. piped into `head`) must not abort the run.
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        };
        match &self.progress {
            Some(progress) => progress.around(emit),
            None => emit(),
        }
    }

    /// A unified diff, coloured as Ansible colours it: additions green, removals red, hunk
    /// headers cyan.
    fn diff(&self, diff: &Diff) -> String {
        let text = render_diff(diff);
        if !self.color || diff.is_prepared() {
            return text;
        }
        text.split_inclusive('\n')
            .map(|line| {
                let body = line.strip_suffix('\n').unwrap_or(line);
                let color = if body.starts_with("+++") || body.starts_with("---") {
                    None
                } else if body.starts_with('+') {
                    Some(Color::Green)
                } else if body.starts_with('-') {
                    Some(Color::Red)
                } else if body.starts_with("@@") {
                    Some(Color::Cyan)
                } else {
                    None
                };
                match color {
                    Some(c) if !body.is_empty() => {
                        format!("{}{}", self.paint(c, body), &line[body.len()..])
                    }
                    _ => line.to_string(),
                }
            })
            .collect()
    }

    /// `-vvv`: the command and how it ended; `-vvvv`: its output too.
    fn command(&self, trace: &CommandTrace) {
        let host = &trace.host;
        let mut text = String::new();
        let command = if self.verbosity >= 4 {
            trace.command.clone()
        } else {
            preview(&trace.command, COMMAND_PREVIEW)
        };
        let stdin = trace
            .stdin_len
            .map(|n| format!(" (stdin: {n} bytes)"))
            .unwrap_or_default();
        text.push_str(&format!("<{host}> EXEC {command}{stdin}\n"));
        let ms = trace.duration.as_millis();
        match &trace.outcome {
            CommandOutcome::Exited(rc) => text.push_str(&format!("<{host}> rc={rc} ({ms} ms)\n")),
            CommandOutcome::Started => {
                text.push_str(&format!("<{host}> started interactively ({ms} ms)\n"))
            }
            CommandOutcome::Error(e) => {
                text.push_str(&self.paint(Color::Red, &format!("<{host}> could not run: {e}")));
                text.push('\n');
            }
        }
        if self.verbosity >= 4 {
            for (name, bytes) in [("STDOUT", &trace.stdout), ("STDERR", &trace.stderr)] {
                if !bytes.is_empty() {
                    let shown = preview(&String::from_utf8_lossy(bytes), OUTPUT_PREVIEW);
                    text.push_str(&format!(
                        "<{host}> {name}:\n{}\n",
                        shown.trim_end_matches('\n')
                    ));
                }
            }
        }
        self.write(&text);
    }

    fn current_path(&self) -> Option<String> {
        self.task_path.lock().ok().and_then(|p| p.clone())
    }

    fn banner(title: &str) -> String {
        let stars = WIDTH.saturating_sub(title.len() + 1).max(3);
        format!("\n{title} {}\n", "*".repeat(stars))
    }

    pub fn recap(&self, summary: &RunSummary) {
        let mut text = Self::banner("PLAY RECAP");
        for (host, s) in &summary.hosts {
            let color = if s.failed > 0 || s.unreachable > 0 {
                Color::Red
            } else if s.changed > 0 {
                Color::Yellow
            } else {
                Color::Green
            };
            let field = |name: &str, n: u32, c: Color| {
                let cell = format!("{name}={n:<4}");
                if n > 0 {
                    self.paint(c, &cell)
                } else {
                    cell
                }
            };
            text.push_str(&format!(
                "{} : {} {} {} {} {} {} {}\n",
                self.paint(color, &format!("{host:<26}")),
                field("ok", s.ok, Color::Green),
                field("changed", s.changed, Color::Yellow),
                field("unreachable", s.unreachable, Color::Red),
                field("failed", s.failed, Color::Red),
                field("skipped", s.skipped, Color::Cyan),
                field("rescued", s.rescued, Color::Magenta),
                field("ignored", s.ignored, Color::Magenta),
            ));
        }
        text.push('\n');
        self.write(&text);
    }

    fn result(&self, r: &HostResult, is_item: bool) {
        if r.loop_summary {
            // Its items were printed one by one; Ansible adds no line for the whole.
            return;
        }
        let mut text = String::new();
        for diff in &r.diffs {
            text.push_str(&self.diff(diff));
        }
        let target = match &r.delegated_to {
            Some(d) => format!("{} -> {d}", r.host),
            None => r.host.clone(),
        };
        let item = r
            .item
            .as_ref()
            .map(|i| format!(" => (item={i})"))
            .unwrap_or_default();
        let show_result = r.verbose_always || self.verbosity > 0;
        let line = match r.status {
            Status::Ok | Status::Changed | Status::Skipped => {
                let (word, color) = match r.status {
                    Status::Ok => ("ok", Color::Green),
                    Status::Changed => ("changed", Color::Yellow),
                    _ => ("skipping", Color::Cyan),
                };
                let body = if r.verbose_always && r.status != Status::Skipped {
                    format!(" => {}", pretty(&clean_debug(&r.result)))
                } else if show_result && r.status != Status::Skipped {
                    format!(" => {}", compact(&r.result))
                } else {
                    String::new()
                };
                self.paint(color, &format!("{word}: [{target}]{item}{body}"))
            }
            Status::Failed if is_item => self.paint(
                Color::Red,
                &format!(
                    "failed: [{}] (item={}) => {}",
                    r.host,
                    r.item.as_deref().unwrap_or(""),
                    compact(&r.result)
                ),
            ),
            // A loop's items were shown one by one; Ansible adds no line for the whole task.
            Status::Failed if r.result.get("results").is_some_and(Value::is_array) => String::new(),
            Status::Failed => {
                let mut line = self.paint(
                    Color::Red,
                    &format!("fatal: [{target}]: FAILED! => {}", compact(&r.result)),
                );
                // Where the failing task is written; at -vv the banner already said it.
                if self.verbosity < 2 && !r.ignored {
                    if let Some(path) = self.current_path() {
                        line.push_str(&format!("\n  task path: {path}"));
                    }
                }
                line
            }
            Status::Unreachable => self.paint(
                Color::Red,
                &format!(
                    "fatal: [{}]: UNREACHABLE! => {}",
                    r.host,
                    compact(&r.result)
                ),
            ),
        };
        if !line.is_empty() {
            text.push_str(&line);
            text.push('\n');
        }
        if r.ignored {
            text.push_str(&self.paint(Color::Cyan, "...ignoring"));
            text.push('\n');
        }
        self.write(&text);
    }
}

impl EventSink for Printer {
    fn confirm_step(&self, task: &str) -> StepAnswer {
        use std::io::{BufRead, Write};
        let question = format!("Perform task: {task} (N)o/(y)es/(c)ontinue: ");
        self.write(&question);
        std::io::stdout().flush().ok();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).ok();
        let answer = match line.trim().to_lowercase().as_str() {
            "y" | "yes" => StepAnswer::Yes,
            "c" | "continue" => StepAnswer::Continue,
            _ => StepAnswer::No,
        };
        self.write(&Self::banner(&question));
        answer
    }

    fn event(&self, event: Event) {
        match event {
            Event::PlayStart { name, hosts } => {
                if let Some(progress) = &self.progress {
                    progress.play(&name, hosts.len());
                }
                self.write(&Self::banner(&format!("PLAY [{name}]")))
            }
            Event::NoHostsMatched => self.write("skipping: no hosts matched\n"),
            Event::TaskStart {
                name,
                handler,
                path,
            } => {
                let kind = if handler { "RUNNING HANDLER" } else { "TASK" };
                let title = format!("{kind} [{name}]");
                if let Some(progress) = &self.progress {
                    progress.task(&name);
                }
                if let Some(profile) = &self.profile {
                    if let Ok(mut profile) = profile.lock() {
                        profile.close();
                        profile.current = Some((title.clone(), path.clone(), Instant::now()));
                    }
                }
                let mut text = Self::banner(&title);
                if self.verbosity >= 2 {
                    if let Some(path) = &path {
                        text.push_str(&format!("task path: {path}\n"));
                    }
                }
                if let Ok(mut current) = self.task_path.lock() {
                    *current = path;
                }
                self.write(&text);
            }
            Event::ItemResult(r) => self.result(&r, true),
            Event::TaskResult(r) => {
                if let Some(progress) = &self.progress {
                    progress.host_answered();
                }
                self.result(&r, false)
            }
            Event::Command(trace) => {
                if self.verbosity >= 3 {
                    self.command(&trace);
                }
            }
            Event::NoMoreHosts => self.write(&Self::banner("NO MORE HOSTS LEFT")),
            Event::Included { file, hosts, item } => {
                let item = item.map(|i| format!(" => (item={i})")).unwrap_or_default();
                let line = format!("included: {file} for {}{item}", hosts.join(", "));
                self.write(&format!("{}\n", self.paint(Color::Cyan, &line)));
            }
            Event::Retrying {
                host,
                task,
                retries_left,
                result,
            } => {
                let mut line =
                    format!("FAILED - RETRYING: [{host}]: {task} ({retries_left} retries left).");
                if self.verbosity > 0 {
                    line.push_str(&format!("Result was: {}", compact(&result)));
                }
                line.push('\n');
                self.write(&self.paint(Color::Red, &line));
            }
            Event::Warning(w) => self.write(&format!("[WARNING]: {w}\n")),
        }
    }
}

/// `text` cut to about `limit` bytes (at a character boundary), saying how much was left out.
fn preview(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// Keys sorted, as Ansible's callback dumps results; `failed` is not shown (the line says it).
fn sorted(result: &Map<String, Value>) -> Value {
    let mut keys: Vec<&String> = result.keys().filter(|k| k.as_str() != "failed").collect();
    keys.sort();
    Value::Object(
        keys.into_iter()
            .map(|k| (k.clone(), result[k].clone()))
            .collect(),
    )
}

/// One-line JSON as Python's `json.dumps` writes it (`{"a": 1, "b": [1, 2]}`).
fn compact(result: &Map<String, Value>) -> String {
    let mut out = String::new();
    py_json(&sorted(result), &mut out);
    out
}

fn py_json(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                py_json(v, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// What Ansible's callback keeps of a `debug` result: `msg` alone, or the variable.
fn clean_debug(result: &Map<String, Value>) -> Map<String, Value> {
    const ALLOWED: &[&str] = &["msg", "exception", "warnings", "deprecations"];
    const HIDDEN: &[&str] = &[
        "changed",
        "failed",
        "skipped",
        "invocation",
        "skip_reason",
        "item",
        "ansible_loop_var",
    ];
    result
        .iter()
        .filter(|(k, _)| {
            if result.contains_key("msg") {
                ALLOWED.contains(&k.as_str())
            } else {
                !HIDDEN.contains(&k.as_str())
            }
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn pretty(result: &Map<String, Value>) -> String {
    let value = sorted(result);
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    match serde::Serialize::serialize(&value, &mut ser) {
        Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => value.to_string(),
    }
}

/// A unified diff with Ansible's headers.
pub fn render_diff(diff: &Diff) -> String {
    if diff.is_prepared() {
        // Ansible prints a `prepared` diff as it is; an empty one prints nothing.
        return if diff.after.is_empty() {
            String::new()
        } else {
            format!("{}\n", diff.after.trim_end_matches('\n'))
        };
    }
    if diff.before == diff.after {
        // Nothing differs: Ansible prints nothing, not even the headers.
        return String::new();
    }
    if diff.before.len() > MAX_DIFF_BYTES || diff.after.len() > MAX_DIFF_BYTES {
        return format!("diff skipped: file size is greater than {MAX_DIFF_BYTES}\n");
    }
    let text = TextDiff::from_lines(&diff.before, &diff.after);
    let mut out = text
        .unified_diff()
        .context_radius(3)
        .header(&diff.before_header, &diff.after_header)
        .to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push('\n');
    out
}

/// Prints `tend adhoc` results the way the `ansible` command does: one block per host.
pub struct AdhocPrinter {
    inner: Printer,
}

impl AdhocPrinter {
    pub fn new(style: Style) -> Self {
        AdhocPrinter {
            inner: Printer::new(style),
        }
    }

    pub fn finish(&self) {
        self.inner.finish();
    }
}

impl EventSink for AdhocPrinter {
    fn event(&self, event: Event) {
        let r = match event {
            Event::TaskResult(r) | Event::ItemResult(r) if !r.loop_summary => r,
            Event::Warning(w) => return self.inner.write(&format!("[WARNING]: {w}\n")),
            Event::Command(trace) if self.inner.verbosity >= 3 => {
                return self.inner.command(&trace)
            }
            _ => return,
        };
        let mut text = String::new();
        for diff in &r.diffs {
            text.push_str(&self.inner.diff(diff));
        }
        let command_like = r.result.contains_key("rc") && r.result.contains_key("stdout");
        let (word, color) = match r.status {
            Status::Ok => ("SUCCESS", Color::Green),
            Status::Changed => ("CHANGED", Color::Yellow),
            Status::Skipped => ("SKIPPED", Color::Cyan),
            Status::Failed if command_like => ("FAILED", Color::Red),
            Status::Failed => ("FAILED!", Color::Red),
            Status::Unreachable => ("UNREACHABLE!", Color::Red),
        };
        let line = if r.status == Status::Skipped {
            format!("{} | {word}", r.host)
        } else if command_like && r.status != Status::Unreachable {
            let text_of = |k: &str| {
                r.result
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let mut body = text_of("stdout");
            let stderr = text_of("stderr");
            if !stderr.is_empty() {
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(&stderr);
            }
            if r.status == Status::Failed {
                if let Some(msg) = r.result.get("msg").and_then(Value::as_str) {
                    body.push_str(msg);
                }
            }
            let rc = r.result.get("rc").cloned().unwrap_or(Value::Null);
            format!("{} | {word} | rc={rc} >>\n{body}", r.host)
        } else {
            format!("{} | {word} => {}", r.host, pretty(&clean_debug_if(&r)))
        };
        text.push_str(&self.inner.paint(color, &line));
        text.push('\n');
        self.inner.write(&text);
    }
}

fn clean_debug_if(r: &HostResult) -> Map<String, Value> {
    if r.verbose_always {
        clean_debug(&r.result)
    } else {
        r.result.clone()
    }
}
