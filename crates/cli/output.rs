//! Prints run events the way ansible-playbook's default callback does: banners, one line per
//! host result, diffs under `--diff`, and the PLAY RECAP.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use serde_json::{Map, Value};
use similar::TextDiff;
use tend_executor::{Event, EventSink, HostResult, RunSummary, Status, StepAnswer};
use tend_module_api::Diff;

const WIDTH: usize = 80;
/// Ansible's `max_diff_size`.
const MAX_DIFF_BYTES: usize = 104_448;

pub struct Printer {
    out: Mutex<Box<dyn Write + Send>>,
    color: bool,
    verbosity: u8,
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
    pub fn stdout(verbosity: u8) -> Self {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Printer {
            out: Mutex::new(Box::new(std::io::stdout())),
            color,
            verbosity,
        }
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
        if let Ok(mut out) = self.out.lock() {
            // A closed stdout (e.g. piped into `head`) must not abort the run.
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
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
        let mut text = String::new();
        for diff in &r.diffs {
            text.push_str(&render_diff(diff));
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
            Status::Failed => self.paint(
                Color::Red,
                &format!("fatal: [{target}]: FAILED! => {}", compact(&r.result)),
            ),
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
            Event::PlayStart { name } => self.write(&Self::banner(&format!("PLAY [{name}]"))),
            Event::NoHostsMatched => self.write("skipping: no hosts matched\n"),
            Event::TaskStart { name, handler } => {
                let kind = if handler { "RUNNING HANDLER" } else { "TASK" };
                self.write(&Self::banner(&format!("{kind} [{name}]")));
            }
            Event::ItemResult(r) => self.result(&r, true),
            Event::TaskResult(r) => self.result(&r, false),
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
    pub fn stdout(verbosity: u8) -> Self {
        AdhocPrinter {
            inner: Printer::stdout(verbosity),
        }
    }
}

impl EventSink for AdhocPrinter {
    fn event(&self, event: Event) {
        let r = match event {
            Event::TaskResult(r) | Event::ItemResult(r) => r,
            Event::Warning(w) => return self.inner.write(&format!("[WARNING]: {w}\n")),
            _ => return,
        };
        let mut text = String::new();
        for diff in &r.diffs {
            text.push_str(&render_diff(diff));
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
