//! Fuzzing of the playbook compiler (proptest, bounded so it runs with every `cargo test`): no
//! playbook panics, hangs or overflows the stack while compiling, and every error is a
//! diagnostic with a line and column inside the file and the source line under it. Inputs are
//! playbooks built from Ansible's plays, tasks, blocks, modules and keywords, then mutated.
//! The seeds in `tests/fuzz-corpus/playbook` are replayed every run.
//!
//! The playbook is compiled as if it lived in a directory that does not exist, so the files
//! it names (`vars_files`, `import_tasks`, roles, `src`) are never read from this machine.

#[path = "../../../tests/fuzz-corpus/harness.rs"]
mod harness;

use std::path::Path;

use proptest::prelude::*;
use tend_playbook::{compile_playbook, CompileErrors};

const SITE: &str = "/nonexistent-tend-fuzz/site.yml";

/// Compiles `src` under the bounded runner and checks every diagnostic.
fn check(src: &str, what: &str) -> Result<(), String> {
    tend_modules::link();
    let text = src.to_string();
    let result = harness::bounded(what, move || {
        compile_playbook(Path::new(SITE), &text).map(|plan| format!("{plan:?}").len())
    });
    match result {
        Ok(_) => Ok(()),
        Err(errors) => positioned(src, &errors),
    }
}

fn positioned(src: &str, errors: &CompileErrors) -> Result<(), String> {
    if errors.0.is_empty() {
        return Err("a failed compile without any error".into());
    }
    // The YAML loader also breaks lines at a lone `\r`; `str::lines` (and so the source line
    // shown) does not, so such files only get their line numbers checked.
    let lone_cr = src.replace("\r\n", "\n").contains('\r');
    let lines = src.replace("\r\n", "\n").matches(['\r', '\n']).count() + 1;
    for d in &errors.0 {
        let shown = d.to_string();
        if d.message.trim().is_empty() {
            return Err(format!("an error without a message:\n{shown}"));
        }
        if d.line < 1 || d.line as usize > lines + 1 || d.col < 1 {
            return Err(format!(
                "position {}:{} outside the input:\n{shown}",
                d.line, d.col
            ));
        }
        let exists = (d.line as usize) <= src.lines().count();
        if exists && !lone_cr {
            let Some(line) = &d.source_line else {
                return Err(format!("no source line:\n{shown}"));
            };
            if d.col as usize > line.chars().count() + 1 {
                return Err(format!("caret past the end of its line:\n{shown}"));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Structured inputs.

const MODULES: &[&str] = &[
    "debug",
    "file",
    "copy",
    "command",
    "shell",
    "template",
    "lineinfile",
    "stat",
    "set_fact",
    "assert",
    "fail",
    "meta",
    "include_tasks",
    "import_tasks",
    "user",
    "service",
    "nosuchmodule",
    "ansible.builtin.copy",
    "include_role",
    "import_role",
    "pause",
    "wait_for",
    "raw",
    "uri",
    "get_url",
    "apt",
    "cron",
    "ansible.builtin.nope",
    "include_vars",
    "zypper",
];

const ARGS: &[&str] = &[
    "msg=hi",
    "{path: /tmp/x, state: touch}",
    "{msg: '{{ x }'}",
    "echo hi",
    "ls {{ x }}",
    "{src: a, dest: b}",
    "~",
    "[1]",
    "{that: ['x ==']}",
    "flush_handlers",
    "{var: x}",
    "{nosuchparam: 1}",
    "\"{{ x | nosuchfilter }}\"",
    "{content: \"{{ a }}\", dest: /tmp/y}",
    "{name: x, state: bogus}",
    "{path: /tmp/z, mode: '0999'}",
    "other.yml",
    "{file: x.yml}",
    "{name: r}",
    "{seconds: x}",
    "path=/tmp/a state=directory mode=0755",
    "{cmd: [a, b]}",
    "{argv: [touch, '/tmp/$(id)']}",
    "{line: '; touch /tmp/pwned'}",
    "a=1 b",
    "{ msg: \"{{ lookup('nosuch', 'x') }}\" }",
    "\"{{ }}\"",
    "{msg: !unsafe '{{ x }'}",
    "x=1 y='2 3' z=\"{{ a }}\"",
    "{_raw_params: x}",
];

const KEYWORDS: &[&str] = &[
    "when: x is defined",
    "when: x ==",
    "when: [a, 'b |']",
    "loop: [1, 2]",
    "loop: \"{{ l }}\"",
    "loop: {a: 1}",
    "register: r",
    "register: 1bad",
    "notify: h",
    "notify: [missing]",
    "tags: [a]",
    "become: yes",
    "become: maybe",
    "with_items: [1]",
    "with_nosuch: x",
    "loop_control: {loop_var: y}",
    "loop_control: {nope: 1}",
    "until: r is success",
    "retries: x",
    "delay: -1",
    "delegate_to: localhost",
    "changed_when: false",
    "failed_when: \"{{ \"",
    "ignore_errors: yes",
    "vars: {a: \"{{ b }}\", b: \"{{ a }}\"}",
    "environment: {PATH: x}",
    "no_log: true",
    "run_once: yes",
    "async: 10",
    "args: {chdir: /}",
    "args: [1]",
    "action: debug msg=x",
    "local_action: command id",
    "become_method: nope",
    "check_mode: no",
    "diff: 1",
    "listen: h",
    "name: \"{{ x }}\"",
    "timeout: 5",
    "nosuch: 1",
];

const PLAY_KEYS: &[&str] = &[
    "hosts: all",
    "hosts: \"{{ x }}\"",
    "hosts: [web, 'db:&x']",
    "gather_facts: no",
    "vars: {x: 1, l: [1, 2]}",
    "vars: [1]",
    "vars_files: [nope.yml]",
    "serial: 2",
    "serial: [1, '50%']",
    "serial: x",
    "strategy: free",
    "strategy: nope",
    "become: yes",
    "order: shuffle",
    "max_fail_percentage: 200",
    "any_errors_fatal: yes",
    "roles: [r]",
    "roles: [{role: r, when: x}]",
    "vars_prompt: [{name: p, prompt: P}]",
    "module_defaults: {file: {mode: '0644'}}",
    "name: play",
    "connection: local",
    "environment: {A: b}",
    "tags: x",
    "nosuch: 1",
    "import_playbook: other.yml",
];

const PIECES: &[&str] = &[
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "#",
    "\n",
    "\t",
    "  ",
    "{{",
    "}}",
    "{%",
    "%}",
    "|",
    "=",
    "---\n",
    "block:",
    "rescue:",
    "always:",
    "tasks:",
    "handlers:",
    "&a ",
    "*a",
    "<<: *a\n",
    "~",
    "é",
    "\\",
    "\r",
];

#[derive(Debug, Clone)]
enum Task {
    Module(&'static str, &'static str, Vec<&'static str>),
    Block(Vec<Task>, Vec<Task>, Vec<Task>, Vec<&'static str>),
}

fn task() -> impl Strategy<Value = Task> {
    let keywords = prop::collection::vec(prop::sample::select(KEYWORDS), 0..3);
    let leaf = (
        prop::sample::select(MODULES),
        prop::sample::select(ARGS),
        keywords.clone(),
    )
        .prop_map(|(m, a, k)| Task::Module(m, a, k));
    leaf.prop_recursive(3, 16, 3, move |inner| {
        (
            prop::collection::vec(inner.clone(), 0..3),
            prop::collection::vec(inner.clone(), 0..2),
            prop::collection::vec(inner, 0..2),
            keywords.clone(),
        )
            .prop_map(|(b, r, a, k)| Task::Block(b, r, a, k))
    })
}

fn write_tasks(tasks: &[Task], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for t in tasks {
        match t {
            Task::Module(module, args, keywords) => {
                out.push_str(&format!("{pad}- {module}: {args}\n"));
                for k in keywords {
                    out.push_str(&format!("{pad}  {k}\n"));
                }
            }
            Task::Block(block, rescue, always, keywords) => {
                out.push_str(&format!("{pad}- block:\n"));
                write_tasks(block, indent + 4, out);
                for (name, list) in [("rescue", rescue), ("always", always)] {
                    if !list.is_empty() {
                        out.push_str(&format!("{pad}  {name}:\n"));
                        write_tasks(list, indent + 4, out);
                    }
                }
                for k in keywords {
                    out.push_str(&format!("{pad}  {k}\n"));
                }
            }
        }
    }
}

fn playbook() -> impl Strategy<Value = String> {
    let play = (
        prop::collection::vec(prop::sample::select(PLAY_KEYS), 0..4),
        prop::collection::vec(task(), 0..4),
        prop::collection::vec(task(), 0..2),
    );
    (prop::collection::vec(play, 1..3), harness::edits(PIECES, 3)).prop_map(|(plays, edits)| {
        let mut text = String::new();
        for (keys, tasks, handlers) in &plays {
            text.push_str("- hosts: all\n");
            for k in keys {
                text.push_str(&format!("  {k}\n"));
            }
            if !tasks.is_empty() {
                text.push_str("  tasks:\n");
                write_tasks(tasks, 4, &mut text);
            }
            if !handlers.is_empty() {
                text.push_str("  handlers:\n");
                write_tasks(handlers, 4, &mut text);
            }
        }
        harness::mutate(&text, &edits)
    })
}

proptest! {
    #![proptest_config(harness::config(256))]

    #[test]
    fn structured_playbooks_compile_or_fail_with_positioned_errors(src in playbook()) {
        if let Err(message) = check(&src, &format!("{src:?}")) {
            prop_assert!(false, "{message}\ninput: {src:?}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        let src = String::from_utf8_lossy(&bytes).into_owned();
        if let Err(message) = check(&src, &format!("{src:?}")) {
            prop_assert!(false, "{message}\ninput: {src:?}");
        }
    }
}

proptest! {
    #![proptest_config(harness::config(32))]

    /// Blocks and values nested as deep as the YAML loader allows compile without
    /// overflowing the compiler's recursion.
    #[test]
    fn deep_blocks_and_values_do_not_overflow(depth in 1usize..1100, shape in 0u8..4) {
        let src = nested(depth, shape);
        if let Err(message) = check(&src, &format!("depth {depth} shape {shape}")) {
            prop_assert!(false, "{message}");
        }
    }
}

fn nested(depth: usize, shape: u8) -> String {
    match shape {
        // Blocks inside blocks, in flow style so the text stays linear in the depth.
        0 => format!(
            "- hosts: all\n  tasks: [{}{{debug: {{msg: x}}}}{}]\n",
            "{block: [".repeat(depth),
            "]}".repeat(depth)
        ),
        // A deep value in task arguments, checked for templates all the way down.
        1 => format!(
            "- hosts: all\n  tasks:\n    - debug: {{msg: {}'{{{{ x }}}}'{}}}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
        // Blocks in block style: quadratic text, so capped lower.
        2 => {
            let mut src = String::from("- hosts: all\n  tasks:\n");
            let depth = depth.min(400);
            for level in 0..depth {
                src.push_str(&format!("{}- block:\n", " ".repeat(4 + 4 * level)));
            }
            src.push_str(&format!("{}- debug: msg=x\n", " ".repeat(4 + 4 * depth)));
            src
        }
        // A deep value in play vars.
        _ => format!(
            "- hosts: all\n  vars:\n    v: {}1{}\n  tasks: []\n",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus.

#[test]
fn corpus_replays_cleanly() {
    for (name, bytes) in harness::corpus("playbook") {
        let src = String::from_utf8_lossy(&bytes).into_owned();
        if let Err(message) = check(&src, &name) {
            panic!("corpus seed {name}: {message}");
        }
    }
}
