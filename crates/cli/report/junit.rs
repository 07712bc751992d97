//! `--report junit`: one `<testsuite>` per play and one `<testcase>` per host × task, so a CI
//! system lists each as a test. Failed tasks are failures, unreachable hosts errors, skipped
//! tasks skipped; ignored failures pass (as Ansible's junit callback has them by default).
//! Changed tasks pass with their diff in `<system-out>`, unless `--junit-fail-on-change`
//! (a pending change in a `--check` run then fails the pipeline's test view too).

use std::fmt::Write as _;

use tend_executor::{HostResult, Status};

use super::{message, status_word, RunRecord, TaskRecord};
use crate::output::render_diff;

pub fn render(record: &RunRecord, fail_on_change: bool) -> String {
    let mut suites = String::new();
    let (mut all_tests, mut all_failures, mut all_errors, mut all_skipped) = (0, 0, 0, 0);
    for play in &record.plays {
        let mut cases = String::new();
        let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
        let mut time = 0.0;
        for task in &play.tasks {
            for r in &task.results {
                tests += 1;
                time += r.duration.as_secs_f64();
                match verdict(r, fail_on_change) {
                    Verdict::Failure => failures += 1,
                    Verdict::Error => errors += 1,
                    Verdict::Skipped => skipped += 1,
                    Verdict::Pass => {}
                }
                cases.push_str(&testcase(task, r, fail_on_change));
            }
        }
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time:.3}\" timestamp=\"{}\">",
            attr(&play.name),
            super::rfc3339(play.started).trim_end_matches('Z'),
        );
        suites.push_str(&cases);
        suites.push_str("  </testsuite>\n");
        all_tests += tests;
        all_failures += failures;
        all_errors += errors;
        all_skipped += skipped;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"tend\" tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"{all_errors}\" skipped=\"{all_skipped}\" time=\"{:.3}\">\n{suites}</testsuites>\n",
        record.duration.as_secs_f64()
    )
}

enum Verdict {
    Pass,
    Failure,
    Error,
    Skipped,
}

fn verdict(r: &HostResult, fail_on_change: bool) -> Verdict {
    match r.status {
        Status::Failed if !r.ignored => Verdict::Failure,
        Status::Unreachable if !r.ignored => Verdict::Error,
        Status::Skipped => Verdict::Skipped,
        Status::Changed if fail_on_change => Verdict::Failure,
        _ => Verdict::Pass,
    }
}

fn testcase(task: &TaskRecord, r: &HostResult, fail_on_change: bool) -> String {
    let classname = task
        .path
        .as_deref()
        .and_then(|p| p.rsplit_once(':').map(|(file, _)| file))
        .unwrap_or("tend");
    let target = match &r.delegated_to {
        Some(d) => format!("{} -> {d}", r.host),
        None => r.host.clone(),
    };
    let mut out = format!(
        "    <testcase name=\"[{}] {}\" classname=\"{}\" time=\"{:.3}\">\n",
        attr(&target),
        attr(&task.title()),
        attr(classname),
        r.duration.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "      <properties><property name=\"status\" value=\"{}\"/></properties>",
        status_word(r)
    );
    let msg = message(r).unwrap_or_default();
    let details = format!(
        "{}{}",
        task.path
            .as_deref()
            .map(|p| format!("task path: {p}\n"))
            .unwrap_or_default(),
        serde_json::to_string_pretty(&r.result).unwrap_or_default()
    );
    match verdict(r, fail_on_change) {
        Verdict::Failure if r.status == Status::Changed => {
            let _ = writeln!(
                out,
                "      <failure message=\"changed\" type=\"changed\">{}</failure>",
                text(&diffs(r))
            );
        }
        Verdict::Failure => {
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"failed\">{}</failure>",
                attr(&msg),
                text(&details)
            );
        }
        Verdict::Error => {
            let _ = writeln!(
                out,
                "      <error message=\"{}\" type=\"unreachable\">{}</error>",
                attr(&msg),
                text(&details)
            );
        }
        Verdict::Skipped => {
            let _ = writeln!(out, "      <skipped message=\"{}\"/>", attr(&msg));
        }
        Verdict::Pass => {
            let body = match r.status {
                Status::Changed => diffs(r),
                _ if r.ignored => format!("...ignoring\n{details}"),
                _ => String::new(),
            };
            if !body.is_empty() {
                let _ = writeln!(out, "      <system-out>{}</system-out>", text(&body));
            }
        }
    }
    out.push_str("    </testcase>\n");
    out
}

fn diffs(r: &HostResult) -> String {
    let text: String = r.diffs.iter().map(render_diff).collect();
    if text.is_empty() {
        "changed\n".into()
    } else {
        text
    }
}

/// Text as XML 1.0 allows it: markup escaped, characters XML cannot hold dropped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// An attribute value: as [`text`], with quotes and line breaks escaped too.
fn attr(s: &str) -> String {
    text(s)
        .replace('"', "&quot;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_is_escaped_and_cleaned() {
        assert_eq!(text("a<b>&c\u{1}\n"), "a&lt;b&gt;&amp;c\n");
        assert_eq!(attr("say \"hi\"\nnow"), "say &quot;hi&quot;&#10;now");
    }
}
