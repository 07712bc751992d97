//! Snapshots of the messages for hostile or broken playbooks: each must name the file, line
//! and column, show the source line and put a caret under the offending text.

use std::path::Path;

use tend_playbook::compile_playbook;

const SITE: &str = "playbooks/site.yml";

fn errors(source: &str) -> String {
    tend_modules::link();
    match compile_playbook(Path::new(SITE), source) {
        Ok(p) => panic!("expected compile errors, got a plan:\n{p:#?}"),
        Err(e) => e.to_string(),
    }
}

/// Snapshots the errors for `source`, with `source` as the snapshot's description, and checks
/// the shape every message must have.
macro_rules! assert_precise {
    ($source:expr) => {{
        let source: &str = $source;
        let shown = errors(source);
        assert!(shown.contains("  --> playbooks/site.yml:"), "no file:line:col\n{shown}");
        assert!(shown.contains(" | "), "no source line\n{shown}");
        assert!(shown.contains('^'), "no caret\n{shown}");
        insta::with_settings!({description => source, omit_expression => true}, {
            insta::assert_snapshot!(shown);
        });
    }};
}

#[test]
fn malformed_yaml_unterminated_quote() {
    assert_precise!("- hosts: all\n  tasks:\n    - copy: {dest: \"/tmp/x, content: y}\n");
}

#[test]
fn malformed_yaml_tab_indentation() {
    assert_precise!("- hosts: all\n  tasks:\n\t- debug: msg=hi\n");
}

#[test]
fn template_syntax_error_in_a_task_argument() {
    assert_precise!(
        "- hosts: all\n  tasks:\n    - copy:\n        dest: /tmp/x\n        content: \"{{ greeting }\"\n"
    );
}

#[test]
fn template_syntax_error_in_a_multiline_argument() {
    assert_precise!(
        "- hosts: all\n  tasks:\n    - copy:\n        dest: /tmp/x\n        content: |\n          line one\n          {% if x %}\n          {{ x }\n          {% endif %}\n"
    );
}

#[test]
fn unknown_filter() {
    assert_precise!("- hosts: all\n  tasks:\n    - debug: msg=\"{{ x | to_jsn }}\"\n");
}

#[test]
fn unknown_filter_in_when() {
    assert_precise!("- hosts: all\n  tasks:\n    - debug: msg=x\n      when: x | boool\n");
}

#[test]
fn blocks_nested_past_the_limit() {
    let mut src = String::from("- hosts: all\n  tasks:\n");
    for level in 0..130 {
        src.push_str(&format!("{}- block:\n", " ".repeat(4 + 2 * level)));
    }
    src.push_str(&format!("{}- debug: msg=x\n", " ".repeat(4 + 2 * 130)));
    let shown = errors(&src);
    assert!(shown.contains("nested deeper than 128 levels"), "{shown}");
    assert!(shown.contains("  --> playbooks/site.yml:131:"), "{shown}");
    assert!(shown.contains('^'), "{shown}");
}

#[test]
fn import_tasks_cycle_and_self_include() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    write("a.yml", "- import_tasks: b.yml\n");
    write("b.yml", "- debug: msg=b\n- import_tasks: a.yml\n");
    // Recursion through include_tasks, guarded by a condition, is legal and compiles.
    write(
        "loop.yml",
        "- debug: msg=again\n- include_tasks: loop.yml\n  when: false\n",
    );
    write(
        "site.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: a.yml\n    - include_tasks: loop.yml\n",
    );
    let site = dir.path().join("site.yml");
    let source = std::fs::read_to_string(&site).unwrap_or_default();
    tend_modules::link();
    let shown = match compile_playbook(&site, &source) {
        Ok(p) => panic!("expected an import cycle error, got\n{p:#?}"),
        Err(e) => e.to_string(),
    };
    let root = std::fs::canonicalize(dir.path()).unwrap_or_default();
    let shown = shown
        .replace(&root.display().to_string(), "<dir>")
        .replace(&dir.path().display().to_string(), "<dir>");
    insta::assert_snapshot!(shown);
}
