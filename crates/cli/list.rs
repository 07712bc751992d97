//! `--list-hosts`, `--list-tasks` and `--list-tags`, in ansible-playbook's layout.

use std::fmt::Write as _;

use anyhow::Result;
use tend_inventory::Inventory;
use tend_playbook::{Action, Playbook, Step, Task};

pub struct Listing<'a> {
    pub inventory: &'a Inventory,
    pub limit: Option<&'a str>,
    pub tags: &'a [String],
    pub skip_tags: &'a [String],
}

fn tag_list(tags: &[String]) -> String {
    format!("[{}]", tags.join(", "))
}

fn tasks_of(steps: &[Step]) -> Vec<&Task> {
    steps.iter().flat_map(Step::listed_tasks).collect()
}

impl Listing<'_> {
    pub fn render(
        &self,
        playbook: &Playbook,
        hosts: bool,
        tasks: bool,
        tags: bool,
    ) -> Result<String> {
        let mut out = format!("\nplaybook: {}\n", playbook.path.display());
        for (i, play) in playbook.plays.iter().enumerate() {
            let _ = writeln!(
                out,
                "\n  play #{} ({}): {}\tTAGS: {}",
                i + 1,
                play.hosts,
                play.name,
                tag_list(&play.tags)
            );
            if hosts {
                let selected = self
                    .inventory
                    .select_with_limit(&play.hosts, self.limit)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let _ = writeln!(out, "    pattern: ['{}']", play.hosts);
                let _ = writeln!(out, "    hosts ({}):", selected.len());
                for h in selected {
                    let _ = writeln!(out, "      {h}");
                }
            }
            let all: Vec<&Task> = [&play.pre_tasks, &play.tasks, &play.post_tasks]
                .into_iter()
                .flat_map(|s| tasks_of(s))
                .filter(|t| tend_executor::should_run(&t.tags, self.tags, self.skip_tags))
                .collect();
            if tasks {
                let _ = writeln!(out, "    tasks:");
                for t in &all {
                    if matches!(t.module, Action::Meta(_)) {
                        continue;
                    }
                    let name = match &t.role {
                        Some(r) => format!("{} : {}", r.name, t.display_name()),
                        None => t.display_name().to_string(),
                    };
                    let _ = writeln!(out, "      {name}\tTAGS: {}", tag_list(&t.tags));
                }
            }
            if tags {
                let mut seen: Vec<String> = Vec::new();
                for t in &all {
                    for tag in &t.tags {
                        if !seen.contains(tag) {
                            seen.push(tag.clone());
                        }
                    }
                }
                seen.sort();
                let _ = writeln!(out, "      TASK TAGS: {}", tag_list(&seen));
            }
        }
        Ok(out)
    }
}
