//! `--tags`/`--skip-tags` selection with Ansible's special tags: `always`, `never`, `all`,
//! `tagged` and `untagged`.

/// Whether a task with `task_tags` runs under `--tags only` and `--skip-tags skip`
/// (Ansible's `Taggable.evaluate_tags`).
pub fn should_run(task_tags: &[String], only: &[String], skip: &[String]) -> bool {
    let untagged = task_tags.is_empty();
    let has = |t: &str| task_tags.iter().any(|x| x == t) || (untagged && t == "untagged");
    let any_of = |set: &[String]| set.iter().any(|t| has(t));
    let mut run = true;
    if !only.is_empty() {
        let only_has = |t: &str| only.iter().any(|x| x == t);
        run = has("always")
            || (only_has("all") && !has("never"))
            || any_of(only)
            || (only_has("tagged") && !untagged && !has("never"));
    }
    if run && !skip.is_empty() {
        let skip_has = |t: &str| skip.iter().any(|x| x == t);
        if skip_has("all") {
            if !has("always") || skip_has("always") {
                run = false;
            }
        } else if any_of(skip) || (skip_has("tagged") && !untagged) {
            run = false;
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::should_run;

    fn v(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn ansible_tag_rules() {
        let all = v(&["all"]);
        assert!(should_run(&v(&[]), &all, &[]));
        assert!(!should_run(&v(&["never"]), &all, &[]));
        assert!(should_run(&v(&["never", "debug"]), &v(&["debug"]), &[]));
        assert!(should_run(&v(&["always"]), &v(&["web"]), &[]));
        assert!(!should_run(&v(&["db"]), &v(&["web"]), &[]));
        assert!(should_run(&v(&[]), &v(&["untagged"]), &[]));
        assert!(!should_run(&v(&["web"]), &v(&["untagged"]), &[]));
        assert!(should_run(&v(&["web"]), &v(&["tagged"]), &[]));
        assert!(!should_run(&v(&[]), &v(&["tagged"]), &[]));
        assert!(!should_run(&v(&["web"]), &all, &v(&["web"])));
        assert!(should_run(&v(&["always"]), &all, &v(&["all"])));
        assert!(!should_run(&v(&["always"]), &all, &v(&["always"])));
        assert!(!should_run(&v(&["web"]), &all, &v(&["tagged"])));
        assert!(should_run(&v(&[]), &all, &v(&["tagged"])));
    }
}
