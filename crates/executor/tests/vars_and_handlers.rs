//! What tasks see and what runs at the end: handlers, variable precedence and templating,
//! `omit`, `no_log`, magic variables and gathered facts.

mod support;

use serde_json::json;
use support::{ok, recap, Scenario};
use tend_executor::{Event, Status};

// ---------------------------------------------------------------------------------------------
// Handlers

/// Handler names in the order they started.
fn handlers_started(ran: &support::Ran) -> Vec<String> {
    ran.events
        .iter()
        .filter_map(|e| match e {
            Event::TaskStart {
                name,
                handler: true,
                ..
            } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn handlers_run_once_at_the_end_in_definition_order() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: change b first
      shell: change-one
      notify: restart b
    - name: change both
      shell: change-two
      notify: [restart a, restart b]
    - name: unchanged
      debug: msg=hi
      notify: never
    - name: last task
      debug: msg=hi
  handlers:
    - name: restart a
      shell: do-restart-a
    - name: restart b
      shell: do-restart-b
    - name: never
      shell: do-never
"#,
    )
    .run();
    assert_eq!(
        ran.started(),
        [
            "change b first",
            "change both",
            "unchanged",
            "last task",
            "restart a",
            "restart b"
        ]
    );
    assert_eq!(handlers_started(&ran), ["restart a", "restart b"]);
    for host in ["h1", "h2"] {
        assert_eq!(ran.commands_with(host, "do-restart-b").len(), 1);
        assert!(ran.commands_with(host, "do-never").is_empty());
        assert_eq!(ran.stats(host), recap(6, 4, 0, 0, 0));
    }
}

#[test]
fn handlers_listen_to_topics() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: config
      shell: write-config
      notify: web changed
  handlers:
    - name: reload nginx
      shell: do-reload
      listen: web changed
    - name: purge cache
      shell: do-purge
      listen: [other topic, web changed]
    - name: unrelated
      shell: do-unrelated
      listen: other topic
"#,
    )
    .run();
    assert_eq!(handlers_started(&ran), ["reload nginx", "purge cache"]);
    assert!(ran.commands_with("h1", "do-unrelated").is_empty());
}

#[test]
fn handlers_do_not_run_when_nothing_changed() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: quiet
      command: probe
      changed_when: false
      notify: h
    - name: skipped
      shell: other
      when: false
      notify: h
  handlers:
    - name: h
      shell: do-h
"#,
    )
    .run();
    assert!(handlers_started(&ran).is_empty());
    assert!(ran.commands_with("h1", "do-h").is_empty());
}

const NOTIFY_THEN_FAIL: &str = r#"
- hosts: all
  gather_facts: false
  FORCE
  tasks:
    - name: change
      shell: change-it
      notify: h
    - name: fail on h1
      fail: msg=down
      when: inventory_hostname == 'h1'
  handlers:
    - name: h
      shell: do-h
"#;

#[test]
fn handlers_skip_a_host_that_failed_after_notifying() {
    let ran = Scenario::new(&NOTIFY_THEN_FAIL.replace("FORCE", "")).run();
    assert_eq!(ran.hosts_of("h"), ["h2"]);
    assert!(ran.commands_with("h1", "do-h").is_empty());
    assert_eq!(ran.stats("h1"), recap(1, 1, 0, 1, 0));
}

#[test]
fn force_handlers_runs_them_on_failed_hosts_too() {
    let by_play = Scenario::new(&NOTIFY_THEN_FAIL.replace("FORCE", "force_handlers: true")).run();
    let by_flag = Scenario::new(&NOTIFY_THEN_FAIL.replace("FORCE", ""))
        .options(|o| o.force_handlers = true)
        .run();
    for ran in [by_play, by_flag] {
        assert_eq!(ran.hosts_of("h"), ["h1", "h2"]);
        assert_eq!(ran.commands_with("h1", "do-h").len(), 1);
        // The handler counts, but the host stays failed.
        assert_eq!(ran.stats("h1"), recap(2, 2, 0, 1, 0));
        assert_eq!(ran.summary.exit_code(), 2);
    }
}

#[test]
fn force_handlers_runs_them_when_the_only_host_failed() {
    // play.compile: with force_handlers each section is a block whose `always` is the
    // flush_handlers meta task, so a failed host still flushes (docs: "handlers will run on
    // all hosts, even hosts with failed tasks").
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  force_handlers: true
  tasks:
    - name: change
      shell: change-it
      notify: h
    - name: fail
      fail: msg=down
    - name: after
      debug: msg=hi
  handlers:
    - name: h
      shell: do-h
"#,
    )
    .run();
    assert!(ran.task_results("after").is_empty());
    assert_eq!(ran.commands_with("h1", "do-h").len(), 1);
    assert_eq!(ran.stats("h1"), recap(2, 2, 0, 1, 0));
}

#[test]
fn handlers_flush_after_pre_tasks_and_after_tasks() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  pre_tasks:
    - name: pre
      shell: pre-change
      notify: h
  tasks:
    - name: main
      shell: main-change
      notify: h
  post_tasks:
    - name: post
      shell: post-change
      notify: h
  handlers:
    - name: h
      shell: do-h
"#,
    )
    .run();
    assert_eq!(ran.started(), ["pre", "h", "main", "h", "post", "h"]);
    assert_eq!(ran.commands_with("h1", "do-h").len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Variables

#[test]
fn variable_precedence_from_inventory_to_extra_vars() {
    // Each variable is defined at two neighbouring levels; the higher one must win.
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  vars:
    d: play
    e: play
    out: play
  tasks:
    - name: set
      set_fact:
        f: fact
        g: fact
    - name: reg
      command: probe
      register: out
    - name: show
      debug:
        msg: "{{ a }} {{ b }} {{ c }} {{ d }} {{ e }} {{ f }} {{ g }} {{ out.rc }}"
      vars:
        e: task
        f: task
"#,
    )
    .inventory(
        "[grp]\nh1 c=host d=host\nh2\n\n[all:vars]\na=all\nb=all\n\n[grp:vars]\nb=group\nc=group\n",
    )
    .extra_var("g", json!("extra"))
    .run();
    assert_eq!(
        ran.msg("show", "h1"),
        "all group host play task fact extra 0"
    );
    assert_eq!(
        ran.msg("show", "h2"),
        "all group group play task fact extra 0"
    );
}

#[test]
fn extra_vars_beat_set_fact() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - set_fact:
        x: fact
    - name: show
      debug: var=x
"#,
    )
    .extra_var("x", json!("extra"))
    .run();
    assert_eq!(ran.shown("show", "h1", "x"), "extra");
}

#[test]
fn facts_and_registered_results_outlive_the_play_but_play_vars_do_not() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  vars:
    scoped: first play
  tasks:
    - command: probe
      register: r
    - set_fact:
        kept: yes
- hosts: h1
  gather_facts: false
  tasks:
    - name: show
      debug:
        msg: "{{ r.stdout }} {{ kept }}"
    - name: scoped
      debug: var=scoped
"#,
    )
    .script(|_, _| ok("out"))
    .run();
    assert_eq!(ran.msg("show", "h1"), "out True");
    assert_eq!(
        ran.shown("scoped", "h1", "scoped"),
        "VARIABLE IS NOT DEFINED!"
    );
}

const TEMPLATED_VARS: &str = r#"
- hosts: all
  gather_facts: false
  vars:
    a: base
    b: "{{ a }}-x"
    c: "{{ b }}-y"
    who: "{{ inventory_hostname }}"
    port: "{{ 8000 + 80 }}"
  tasks:
    - name: show
      debug:
        msg: "{{ c }} {{ who }}"
    - name: native
      debug: var=port
"#;

#[test]
fn play_vars_may_be_templates_over_other_vars() {
    let ran = Scenario::new(TEMPLATED_VARS).run();
    assert_eq!(ran.msg("show", "h1"), "base-x-y h1");
    assert_eq!(ran.msg("show", "h2"), "base-x-y h2");
    assert_eq!(ran.shown("native", "h1", "port"), 8080);

    // Templates are resolved lazily, so they see the winning value of what they reference.
    let ran = Scenario::new(TEMPLATED_VARS)
        .extra_var("a", json!("cli"))
        .run();
    assert_eq!(ran.msg("show", "h1"), "cli-x-y h1");
}

#[test]
fn play_vars_may_reference_results_registered_later() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  vars:
    version: "v{{ probe.stdout }}"
  tasks:
    - name: probe
      command: get-version
      register: probe
    - name: show
      debug: var=version
"#,
    )
    .script(|_, cmd| {
        if cmd.contains("get-version") {
            ok("1.2\n")
        } else {
            ok("")
        }
    })
    .run();
    assert_eq!(ran.shown("show", "h1", "version"), "v1.2");
}

#[test]
fn vars_may_reference_the_loop_variable() {
    // Ansible templates variables lazily, when used, so a task var built from `item` takes
    // each item's value.
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: greet
      debug: msg="{{ greeting }}"
      loop: [a, b]
      vars:
        greeting: "hi {{ item }}"
"#,
    )
    .run();
    let msgs: Vec<_> = ran
        .items("greet", "h1")
        .iter()
        .map(|r| r.result["msg"].clone())
        .collect();
    assert_eq!(msgs, [json!("hi a"), json!("hi b")]);
    assert_eq!(ran.stats("h1"), recap(1, 0, 0, 0, 0));
}

#[test]
fn an_undefined_variable_fails_only_the_task_that_uses_it() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  vars:
    broken: "{{ nowhere }}"
  tasks:
    - name: deploy
      shell: "deploy {{ only_h1 }}"
    - name: unrelated
      debug: msg=fine
    - name: uses broken
      debug: msg="{{ broken }}"
      ignore_errors: true
"#,
    )
    .inventory("h1 only_h1=yes\nh2\n")
    .run();
    assert_eq!(ran.result("deploy", "h1").status, Status::Changed);
    let failed = ran.result("deploy", "h2");
    assert_eq!(failed.status, Status::Failed);
    let msg = failed.result["msg"].as_str().unwrap();
    assert!(msg.contains("only_h1"), "{msg}");
    assert!(ran.commands_with("h2", "deploy").is_empty());
    assert_eq!(ran.hosts_of("unrelated"), ["h1"]);

    // A play var over an undefined name fails where it is used, naming the real culprit.
    let broken = ran.result("uses broken", "h1");
    assert_eq!(broken.status, Status::Failed);
    let msg = broken.result["msg"].as_str().unwrap();
    assert!(msg.contains("nowhere"), "{msg}");
    assert_eq!(ran.stats("h2"), recap(0, 0, 0, 1, 0));
}

#[test]
fn omit_drops_the_parameter() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: no message
      debug:
        msg: "{{ missing | default(omit) }}"
    - name: no chdir
      command:
        cmd: run-it
        chdir: "{{ workdir | default(omit) }}"
"#,
    )
    .run();
    assert_eq!(ran.msg("no message", "h1"), "Hello world!");
    // Without chdir the command module sends only the command, no directory check.
    let cmds = ran.connector.commands("h1");
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert!(cmds[0].contains("run-it") && !cmds[0].contains("cd "));
}

// ---------------------------------------------------------------------------------------------
// no_log

const SECRET: &str = r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: secret
      shell: print-secret
      register: s
      no_log: true
    - name: secret items
      shell: "print {{ item }}"
      loop: [one]
      no_log: true
    - name: reveal
      debug: var=s.stdout
"#;

fn secret_script() -> impl Fn(&str, &str) -> tend_transport::ScriptedReply {
    |_, cmd| {
        if cmd.contains("print") {
            ok("hunter2")
        } else {
            ok("")
        }
    }
}

#[test]
fn no_log_censors_what_is_reported() {
    let ran = Scenario::new(SECRET).script(secret_script()).run();
    let shown = ran.map("secret", "h1");
    assert!(shown.contains_key("censored"), "{shown:?}");
    assert!(!shown.contains_key("stdout"));
    assert_eq!(shown["changed"], true);
    let item = &ran.items("secret items", "h1")[0].result;
    assert!(item.contains_key("censored") && !item.contains_key("stdout"));
    for task in ["secret", "secret items"] {
        let reported = format!("{:?}", ran.events_of(task));
        assert!(!reported.contains("hunter2"), "{task}: {reported}");
    }
}

#[test]
fn no_log_keeps_the_registered_value() {
    // strategy._process_pending_results registers `task_result._result`; censoring happens only
    // in TaskResult.clean_copy for the callbacks, so a later task can still use the value.
    let ran = Scenario::new(SECRET).script(secret_script()).run();
    assert_eq!(ran.shown("reveal", "h1", "s.stdout"), "hunter2");
}

// ---------------------------------------------------------------------------------------------
// Magic variables

const MAGIC: &str = r#"
- hosts: PATTERN
  gather_facts: false
  tasks:
    - name: me
      debug: var=inventory_hostname
    - name: my groups
      debug: var=group_names
    - name: all groups
      debug: var=groups
    - name: checking
      debug: var=ansible_check_mode
    - name: play
      debug: var=play_hosts
"#;

const GROUPED: &str = "[web]\nh1\nh2\n\n[db]\nh3\n\n[prod:children]\nweb\ndb\n";

#[test]
fn magic_variables() {
    let ran = Scenario::new(&MAGIC.replace("PATTERN", "all"))
        .inventory(GROUPED)
        .run();
    assert_eq!(ran.shown("me", "h3", "inventory_hostname"), "h3");
    assert_eq!(
        ran.shown("my groups", "h1", "group_names"),
        json!(["prod", "web"])
    );
    assert_eq!(
        ran.shown("my groups", "h3", "group_names"),
        json!(["db", "prod"])
    );
    let groups = ran.shown("all groups", "h1", "groups");
    assert_eq!(groups["all"], json!(["h1", "h2", "h3"]));
    assert_eq!(groups["web"], json!(["h1", "h2"]));
    assert_eq!(groups["prod"], json!(["h1", "h2", "h3"]));
    assert_eq!(groups["ungrouped"], json!([]));
    assert_eq!(ran.shown("checking", "h1", "ansible_check_mode"), false);
    assert_eq!(
        ran.shown("play", "h1", "play_hosts"),
        json!(["h1", "h2", "h3"])
    );

    let ran = Scenario::new(&MAGIC.replace("PATTERN", "web"))
        .inventory(GROUPED)
        .check()
        .run();
    assert_eq!(ran.shown("checking", "h2", "ansible_check_mode"), true);
    assert_eq!(ran.shown("play", "h2", "play_hosts"), json!(["h1", "h2"]));
    assert!(ran.task_results("me").iter().all(|r| r.host != "h3"));
}

#[test]
fn magic_variables_from_a_yaml_inventory() {
    let ran = Scenario::new(&MAGIC.replace("PATTERN", "all"))
        .yaml_inventory("all:\n  children:\n    web:\n      hosts:\n        w1:\n        w2:\n")
        .run();
    assert_eq!(ran.shown("my groups", "w2", "group_names"), json!(["web"]));
    assert_eq!(
        ran.shown("all groups", "w1", "groups")["web"],
        json!(["w1", "w2"])
    );
}

#[test]
fn play_hosts_leaves_out_failed_hosts() {
    // VariableManager._get_magic_variables: ansible_play_hosts and ansible_play_batch (and
    // play_hosts, its alias) drop the play's _removed_hosts, i.e. failed and unreachable ones.
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: fail h2
      fail: msg=down
      when: inventory_hostname == 'h2'
    - name: play
      debug: var=play_hosts
    - name: ansible play
      debug: var=ansible_play_hosts
"#,
    )
    .run();
    assert_eq!(ran.shown("play", "h1", "play_hosts"), json!(["h1"]));
    assert_eq!(
        ran.shown("ansible play", "h1", "ansible_play_hosts"),
        json!(["h1"])
    );
}

// ---------------------------------------------------------------------------------------------
// Facts

fn facts_script(host: &str, cmd: &str) -> tend_transport::ScriptedReply {
    if !cmd.contains("uname -n") {
        return ok("");
    }
    match host {
        "h1" => ok("hostname=web1.example.com\nos_ID=ubuntu\nos_ID_LIKE=debian\nos_VERSION_ID=\"22.04\"\nos_NAME=\"Ubuntu\"\n"),
        _ => ok("hostname=db2\nos_ID=alpine\nos_VERSION_ID=3.19.1\nos_NAME=\"Alpine Linux\"\n"),
    }
}

#[test]
fn gathered_facts_are_usable_in_later_tasks() {
    let ran = Scenario::new(
        r#"
- hosts: all
  tasks:
    - name: about
      debug:
        msg: "{{ ansible_hostname }} runs {{ ansible_facts.distribution }} {{ ansible_distribution_version }}"
    - name: debian only
      command: apt-thing
      when: ansible_facts['os_family'] == 'Debian'
"#,
    )
    .script(facts_script)
    .run();
    assert_eq!(ran.started()[0], "Gathering Facts");
    assert_eq!(ran.msg("about", "h1"), "web1 runs Ubuntu 22.04");
    assert_eq!(ran.msg("about", "h2"), "db2 runs Alpine 3.19.1");
    assert_eq!(ran.commands_with("h1", "apt-thing").len(), 1);
    assert!(ran.commands_with("h2", "apt-thing").is_empty());
    assert_eq!(ran.stats("h1"), recap(3, 1, 0, 0, 0));
    assert_eq!(ran.stats("h2"), recap(2, 0, 0, 0, 1));
}

#[test]
fn gather_facts_false_sends_no_facts_script() {
    let ran = Scenario::new(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: t\n      shell: work\n",
    )
    .script(facts_script)
    .run();
    assert!(ran.commands_with("h1", "uname -n").is_empty());
    assert!(!ran.started().contains(&"Gathering Facts".to_string()));
}

#[test]
fn controller_only_tasks_do_not_need_the_connection() {
    // Ansible's connection plugins connect lazily, on the first remote command: `debug`,
    // `set_fact`, `assert` and `fail` never touch the host, so they report ok on a host that
    // cannot be reached, and the host turns unreachable only at the first remote task.
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: local
      debug: msg=hi
    - name: remote
      shell: work
"#,
    )
    .unreachable("h2")
    .run();
    assert_eq!(ran.result("local", "h2").status, Status::Ok);
    assert_eq!(ran.result("remote", "h2").status, Status::Unreachable);
    assert_eq!(ran.stats("h2"), recap(1, 0, 1, 0, 0));
}

#[test]
fn host_lists_reach_tasks_that_read_them_indirectly() {
    // The lists are only built for plays that may read them; reading one through an
    // inventory variable or a play variable still sees it.
    let play = r#"
- hosts: all
  gather_facts: false
  vars:
    batch_size: "{{ ansible_play_batch | length }}"
  tasks:
    - name: peers
      debug: var=peers
    - name: size
      debug: var=batch_size
"#;
    let ran = Scenario::new(play)
        .inventory("[web]\nh1\nh2\n\n[all:vars]\npeers=\"{{ groups['web'] }}\"\n")
        .run();
    assert_eq!(ran.shown("peers", "h2", "peers"), json!(["h1", "h2"]));
    assert_eq!(ran.shown("size", "h1", "batch_size"), 2);
}
