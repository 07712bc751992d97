//! `--report markdown`: a summary for a pull-request comment: a headline, the recap as a
//! table, then per host the tasks that changed (with their diffs) and those that failed,
//! each host collapsed in a `<details>` block so a large run stays readable.

use std::fmt::Write as _;

use tend_executor::{HostResult, RunSummary, Status};

use super::{failure_detail, RunRecord, TaskRecord};
use crate::output::render_diff;

pub fn render(record: &RunRecord, summary: &RunSummary) -> String {
    let mut out = String::new();
    let changed_hosts = summary.hosts.iter().filter(|(_, s)| s.changed > 0).count();
    let changes: u32 = summary.hosts.iter().map(|(_, s)| s.changed).sum();
    let failed_hosts = summary
        .hosts
        .iter()
        .filter(|(_, s)| s.failed > 0 || s.unreachable > 0)
        .count();
    let mode = if record.check { " (check mode)" } else { "" };
    let verb = if record.check { "pending" } else { "made" };
    let mut headline = if changes == 0 {
        format!("no changes {verb}")
    } else {
        format!(
            "{changes} {} {verb} on {changed_hosts} of {} {}",
            plural(changes as usize, "change", "changes"),
            summary.hosts.len(),
            plural(summary.hosts.len(), "host", "hosts")
        )
    };
    if failed_hosts > 0 {
        let _ = write!(
            headline,
            ", {failed_hosts} {} failed or unreachable",
            plural(failed_hosts, "host", "hosts")
        );
    }
    let icon = if failed_hosts > 0 {
        "❌"
    } else if changes > 0 {
        "📝"
    } else {
        "✅"
    };
    let _ = writeln!(out, "### {icon} tend{mode}: {headline}\n");
    out.push_str("| host | ok | changed | unreachable | failed | skipped | rescued | ignored |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (host, s) in &summary.hosts {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(host),
            s.ok,
            s.changed,
            s.unreachable,
            s.failed,
            s.skipped,
            s.rescued,
            s.ignored
        );
    }
    for (host, stats) in &summary.hosts {
        let notable: Vec<(&TaskRecord, &HostResult)> = record
            .plays
            .iter()
            .flat_map(|p| p.tasks.iter())
            .flat_map(|t| t.results.iter().map(move |r| (t, r)))
            .filter(|(_, r)| &r.host == host && notable(r))
            .collect();
        if notable.is_empty() {
            continue;
        }
        let mut counts = Vec::new();
        if stats.changed > 0 {
            counts.push(format!("{} changed", stats.changed));
        }
        if stats.failed > 0 {
            counts.push(format!("{} failed", stats.failed));
        }
        if stats.unreachable > 0 {
            counts.push("unreachable".to_string());
        }
        // Hosts with a failure start open: that is what the reader came for.
        let open = if stats.failed > 0 || stats.unreachable > 0 {
            " open"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "\n<details{open}><summary><b>{}</b>: {}</summary>\n",
            html(host),
            counts.join(", ")
        );
        for (task, r) in notable {
            let path = task
                .path
                .as_deref()
                .map(|p| format!(" · `{}`", p.replace('`', "'")))
                .unwrap_or_default();
            let word = match r.status {
                Status::Changed => "changed",
                Status::Unreachable => "unreachable",
                _ if r.ignored => "failed (ignored)",
                _ => "failed",
            };
            let _ = writeln!(out, "**{}** — {word}{path}\n", cell(&task.title()));
            if r.status == Status::Changed {
                let diff: String = r.diffs.iter().map(render_diff).collect();
                if !diff.trim().is_empty() {
                    out.push_str(&fenced("diff", &diff));
                }
            } else {
                let detail = failure_detail(r);
                if !detail.is_empty() {
                    out.push_str(&fenced("", &detail));
                }
            }
        }
        out.push_str("</details>\n");
    }
    out
}

fn notable(r: &HostResult) -> bool {
    matches!(
        r.status,
        Status::Changed | Status::Failed | Status::Unreachable
    )
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// A fenced code block whose fence is longer than any run of backticks in `body`.
fn fenced(lang: &str, body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest.max(2) + 1);
    format!(
        "{fence}{lang}\n{}\n{fence}\n\n",
        body.trim_end_matches('\n')
    )
}

/// Text inside a table cell or bold span: pipes and markup characters escaped.
fn cell(s: &str) -> String {
    html(s)
        .replace('|', "\\|")
        .replace('*', "\\*")
        .replace('_', "\\_")
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_backticks_in_the_body() {
        assert_eq!(fenced("diff", "+a\n"), "```diff\n+a\n```\n\n");
        assert_eq!(fenced("", "x ```` y"), "`````\nx ```` y\n`````\n\n");
    }
}
