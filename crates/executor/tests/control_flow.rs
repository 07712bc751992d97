//! Task flow as ansible-playbook runs it: the linear strategy, `when`, loops, `register`,
//! `changed_when`/`failed_when`, `ignore_errors`, failed and unreachable hosts, check mode.

mod support;

use serde_json::json;
use support::{lost, ok, rc, recap, Scenario};
use tend_executor::{Event, HostStats, Status};
use tend_transport::TransportError;

fn statuses(results: &[&tend_executor::HostResult]) -> Vec<Status> {
    results.iter().map(|r| r.status).collect()
}

fn labels(results: &[&tend_executor::HostResult]) -> Vec<String> {
    results.iter().filter_map(|r| r.item.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Linear strategy

const TWO_STEPS: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: first
      shell: step-one
    - name: second
      shell: step-two
"#;

#[test]
fn a_task_finishes_on_every_host_before_the_next_starts() {
    for forks in [1, 2, 5] {
        let ran = Scenario::new(TWO_STEPS)
            .inventory("h1\nh2\nh3\n")
            .options(|o| o.forks = forks)
            .run();
        let second_start = ran
            .events
            .iter()
            .position(|e| matches!(e, Event::TaskStart { name, .. } if name == "second"))
            .expect("second started");
        let first_results: Vec<usize> = ran
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Event::TaskResult(_)))
            .map(|(i, _)| i)
            .take(3)
            .collect();
        assert_eq!(first_results.len(), 3, "forks={forks}");
        assert!(
            first_results.iter().all(|&i| i < second_start),
            "forks={forks}: {:#?}",
            ran.events
        );
        // forks only bounds parallelism: every host still runs every task.
        assert_eq!(ran.hosts_of("first"), ["h1", "h2", "h3"], "forks={forks}");
        assert_eq!(ran.hosts_of("second"), ["h1", "h2", "h3"], "forks={forks}");
        for host in ["h1", "h2", "h3"] {
            assert_eq!(ran.stats(host), recap(2, 2, 0, 0, 0), "forks={forks}");
            let cmds = ran.connector.commands(host);
            assert_eq!(cmds.len(), 2);
            assert!(cmds[0].contains("step-one") && cmds[1].contains("step-two"));
        }
    }
}

#[test]
fn one_connection_per_host_for_the_whole_run() {
    let ran = Scenario::new(&format!(
        "{TWO_STEPS}{}",
        TWO_STEPS.replace("first", "third")
    ))
    .run();
    let mut connects = ran.connector.connects();
    connects.sort();
    assert_eq!(connects, ["h1", "h2"]);
}

// ---------------------------------------------------------------------------------------------
// when

#[test]
fn when_true_false_list_and_registered_results() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: literal true
      debug: msg=hi
      when: true
    - name: literal false
      debug: msg=hi
      when: false
    - name: every condition of a list
      debug: msg=hi
      when:
        - 1 == 1
        - inventory_hostname == 'h1'
    - name: probe
      command: probe
      register: r
      failed_when: false
    - name: on rc
      debug: msg=zero
      when: r.rc == 0
"#,
    )
    .script(|host, cmd| {
        if cmd.contains("probe") && host == "h2" {
            rc(3, "", "")
        } else {
            ok("")
        }
    })
    .run();
    assert_eq!(ran.result("literal true", "h1").status, Status::Ok);
    let skipped = ran.map("literal false", "h1");
    assert_eq!(skipped["skipped"], true);
    assert_eq!(skipped["skip_reason"], "Conditional result was False");
    assert_eq!(
        ran.result("every condition of a list", "h2").status,
        Status::Skipped
    );
    assert_eq!(ran.result("on rc", "h1").status, Status::Ok);
    assert_eq!(ran.result("on rc", "h2").status, Status::Skipped);
    assert_eq!(ran.stats("h1"), recap(4, 1, 0, 0, 1));
    assert_eq!(ran.stats("h2"), recap(2, 1, 0, 0, 3));
}

#[test]
fn when_is_evaluated_per_loop_item() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: some items
      shell: "do {{ item }}"
      loop: [1, 2, 3]
      when: item > 1
    - name: no items
      debug: msg="{{ item }}"
      loop: [1, 2]
      when: item > 5
"#,
    )
    .run();
    let items = ran.items("some items", "h1");
    assert_eq!(
        statuses(&items),
        [Status::Skipped, Status::Changed, Status::Changed]
    );
    assert_eq!(ran.commands_with("h1", "do ").len(), 2);
    // A loop whose every item was skipped counts as one skipped task.
    assert_eq!(
        statuses(&ran.items("no items", "h1")),
        [Status::Skipped, Status::Skipped]
    );
    assert_eq!(ran.stats("h1"), recap(1, 1, 0, 0, 1));
}

#[test]
fn a_registered_skip_is_visible_to_later_tasks() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: never
      command: never-run
      when: false
      register: r
    - name: check
      assert:
        that:
          - r is skipped
          - r is not changed
"#,
    )
    .run();
    assert_eq!(ran.result("check", "h1").status, Status::Ok);
    assert!(ran.commands_with("h1", "never-run").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Loops

#[test]
fn loop_over_a_list_and_a_templated_variable_with_loop_control() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  vars:
    pkgs: [nginx, redis]
  tasks:
    - name: literal
      shell: "install {{ item }}"
      loop: [a, b]
      register: lit
    - name: from var
      shell: "install {{ pkg }} at {{ idx }}"
      loop: "{{ pkgs }}"
      loop_control:
        loop_var: pkg
        index_var: idx
        label: "{{ idx }}: {{ pkg }}"
      register: fromvar
    - name: show lit
      debug: var=lit
    - name: show fromvar
      debug: var=fromvar
    - name: item after the loop
      debug: var=item
"#,
    )
    .run();
    let installs = ran.commands_with("h1", "install");
    assert_eq!(installs.len(), 4);
    for (cmd, want) in installs.iter().zip([
        "install a",
        "install b",
        "install nginx at 0",
        "install redis at 1",
    ]) {
        assert!(cmd.contains(want), "{cmd} should contain {want}");
    }
    assert_eq!(labels(&ran.items("literal", "h1")), ["a", "b"]);
    assert_eq!(
        labels(&ran.items("from var", "h1")),
        ["0: nginx", "1: redis"]
    );

    let lit = ran.shown("show lit", "h1", "lit");
    assert_eq!(lit["changed"], true);
    assert_eq!(lit["msg"], "All items completed");
    assert_eq!(lit["results"][0]["item"], "a");
    assert_eq!(lit["results"][1]["item"], "b");
    assert_eq!(lit["results"][1]["ansible_loop_var"], "item");
    assert_eq!(lit["results"][1]["rc"], 0);

    let fromvar = ran.shown("show fromvar", "h1", "fromvar");
    assert_eq!(fromvar["results"][1]["pkg"], "redis");
    assert_eq!(fromvar["results"][1]["ansible_loop_var"], "pkg");
    assert!(fromvar["results"][1].get("item").is_none());

    // The loop variable exists only while the loop runs.
    assert_eq!(
        ran.shown("item after the loop", "h1", "item"),
        "VARIABLE IS NOT DEFINED!"
    );
    // A loop task counts once in the recap however many items it had.
    assert_eq!(ran.stats("h1"), recap(5, 2, 0, 0, 0));
}

#[test]
fn registered_loop_results_carry_the_index_var() {
    // task_executor._run_loop: `if index_var: res[index_var] = item_index;
    // res['ansible_index_var'] = index_var`.
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: indexed
      debug: msg="{{ item }}"
      loop: [a, b]
      loop_control:
        index_var: i
      register: out
    - name: show
      debug: var=out
"#,
    )
    .run();
    let out = ran.shown("show", "h1", "out");
    assert_eq!(out["results"][1]["i"], 1);
    assert_eq!(out["results"][1]["ansible_index_var"], "i");
}

#[test]
fn with_items_flattens_one_level_and_loop_does_not() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: flattened
      debug: msg="{{ item }}"
      with_items: [[1, 2], 3, [4, [5]]]
    - name: nested
      debug: msg="{{ item }}"
      loop: [[1, 2], 3]
"#,
    )
    .run();
    let flat: Vec<_> = ran
        .items("flattened", "h1")
        .iter()
        .map(|r| r.result["msg"].clone())
        .collect();
    assert_eq!(flat, [json!(1), json!(2), json!(3), json!(4), json!([5])]);
    let nested: Vec<_> = ran
        .items("nested", "h1")
        .iter()
        .map(|r| r.result["msg"].clone())
        .collect();
    assert_eq!(nested, [json!([1, 2]), json!(3)]);
}

#[test]
fn a_failed_item_fails_the_task_after_every_item_ran() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: jobs
      shell: "job {{ item }}"
      loop: [one, bad, two]
      register: jobs
    - name: after
      debug: msg=after
"#,
    )
    .script(|_, cmd| {
        if cmd.contains("job bad") {
            rc(1, "", "boom")
        } else {
            ok("")
        }
    })
    .run();
    assert_eq!(
        statuses(&ran.items("jobs", "h1")),
        [Status::Changed, Status::Failed, Status::Changed]
    );
    // Ansible does not stop at the failed item.
    assert_eq!(ran.commands_with("h1", "job ").len(), 3);
    let task = ran.result("jobs", "h1");
    assert_eq!(task.status, Status::Failed);
    assert_eq!(task.result["msg"], "One or more items failed");
    assert_eq!(task.result["failed"], true);
    assert_eq!(task.result["changed"], true);
    assert_eq!(task.result["results"][1]["stderr"], "boom");
    assert!(ran.task_results("after").is_empty());
    assert_eq!(ran.stats("h1"), recap(0, 0, 0, 1, 0));
}

#[test]
fn a_loop_over_nothing_is_skipped() {
    // task_executor.run: `res = dict(changed=False, skipped=True,
    // skipped_reason='No items in the list', results=[])`; the recap counts it as skipped.
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  vars:
    nothing: []
  tasks:
    - name: empty
      shell: "do {{ item }}"
      loop: "{{ nothing }}"
"#,
    )
    .run();
    assert_eq!(ran.stats("h1"), recap(0, 0, 0, 0, 1));
    assert_eq!(ran.result("empty", "h1").status, Status::Skipped);
}

#[test]
fn set_fact_in_a_loop_accumulates() {
    // TaskExecutor._execute ends with `variables.update(result['ansible_facts'])` on the
    // task_vars the loop shares between items, so each item sees the facts of the one before.
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: collect
      set_fact:
        acc: "{{ (acc | default([])) + [item] }}"
      loop: [a, b, c]
    - name: show
      debug: var=acc
"#,
    )
    .run();
    assert_eq!(ran.shown("show", "h1", "acc"), json!(["a", "b", "c"]));
}

// ---------------------------------------------------------------------------------------------
// register, changed_when, failed_when, ignore_errors

#[test]
fn changed_when_and_failed_when_rewrite_the_result() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: quiet probe
      command: probe
      register: q
      changed_when: false
    - name: tolerant grep
      command: grep-thing
      register: g
      failed_when: g.rc > 1
    - name: show
      debug: var=g
    - name: show q
      debug: var=q
"#,
    )
    .script(|host, cmd| match (host, cmd.contains("grep-thing")) {
        ("h1", true) => rc(1, "", ""),
        (_, true) => rc(2, "", "grep: bad pattern"),
        _ => ok("probed"),
    })
    .run();
    assert_eq!(ran.result("quiet probe", "h1").status, Status::Ok);
    assert_eq!(ran.shown("show q", "h1", "q")["changed"], false);
    assert_eq!(ran.shown("show q", "h1", "q")["stdout"], "probed");

    // rc 1 is not > 1: the task is not failed, and a command still reports changed.
    assert_eq!(ran.result("tolerant grep", "h1").status, Status::Changed);
    let g = ran.shown("show", "h1", "g");
    assert_eq!(g["rc"], 1);
    assert_eq!(g["failed"], false);
    assert_eq!(g["failed_when_result"], false);
    assert_eq!(ran.stats("h1"), recap(4, 1, 0, 0, 0));

    let failed = ran.result("tolerant grep", "h2");
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.result["failed_when_result"], true);
    assert_eq!(ran.hosts_of("show"), ["h1"]);
    assert_eq!(ran.stats("h2"), recap(1, 0, 0, 1, 0));
}

#[test]
fn ignore_errors_counts_ok_and_ignored_and_keeps_changed() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: broken command
      command: explode
      ignore_errors: true
      register: e
    - name: broken fail
      fail: msg=nope
      ignore_errors: true
    - name: still here
      debug: msg="{{ e.rc }} {{ e is failed }}"
"#,
    )
    .script(|_, cmd| {
        if cmd.contains("explode") {
            rc(5, "", "")
        } else {
            ok("")
        }
    })
    .run();
    let broken = ran.result("broken command", "h1");
    assert_eq!(broken.status, Status::Failed);
    assert!(broken.ignored);
    assert!(ran.result("broken fail", "h1").ignored);
    assert_eq!(ran.msg("still here", "h1"), "5 True");
    // strategy: an ignored failure increments ok and ignored, plus changed when the result
    // says changed (a command always does).
    assert_eq!(
        ran.stats("h1"),
        HostStats {
            ignored: 2,
            ..recap(3, 1, 0, 0, 0)
        }
    );
    assert_eq!(ran.summary.exit_code(), 0);
}

#[test]
fn a_failed_host_leaves_the_play_and_the_others_go_on() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: first
      fail: msg=down
      when: inventory_hostname == 'h1'
    - name: second
      shell: step-two
- hosts: all
  gather_facts: false
  tasks:
    - name: next play
      debug: msg=hi
"#,
    )
    .run();
    assert_eq!(ran.result("first", "h1").status, Status::Failed);
    assert_eq!(ran.msg("first", "h1"), "down");
    assert_eq!(ran.hosts_of("second"), ["h2"]);
    assert!(ran.commands_with("h1", "step-two").is_empty());
    // A host failed in one play stays failed for the plays after it (TQM._failed_hosts).
    assert_eq!(ran.hosts_of("next play"), ["h2"]);
    assert_eq!(ran.stats("h1"), recap(0, 0, 0, 1, 0));
    assert_eq!(ran.stats("h2"), recap(2, 1, 0, 0, 1));
    assert_eq!(ran.summary.exit_code(), 2);
}

#[test]
fn when_every_host_failed_no_more_tasks_start() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: doom
      fail: msg=down
    - name: never
      debug: msg=hi
"#,
    )
    .run();
    assert!(ran.events.iter().any(|e| matches!(e, Event::NoMoreHosts)));
    assert!(!ran.started().contains(&"never".to_string()));
    assert_eq!(ran.summary.exit_code(), 2);
}

#[test]
fn exit_codes_unreachable_wins_over_failed() {
    let clean = Scenario::new(TWO_STEPS).run();
    assert_eq!(clean.summary.exit_code(), 0);

    let both = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: doom
      command: /bin/false
"#,
    )
    .inventory("h1\nh2\nh3\n")
    .script(|_, _| rc(1, "", ""))
    .unreachable("h3")
    .run();
    assert!(both.summary.any_failed() && both.summary.any_unreachable());
    assert_eq!(both.summary.exit_code(), 4);
}

// ---------------------------------------------------------------------------------------------
// Unreachable hosts

#[test]
fn a_host_unreachable_at_connect_drops_out_and_the_others_carry_on() {
    let ran = Scenario::new(TWO_STEPS).unreachable("h2").run();
    let first = ran.result("first", "h2");
    assert_eq!(first.status, Status::Unreachable);
    assert_eq!(first.result["unreachable"], true);
    assert!(first.result["msg"]
        .as_str()
        .unwrap()
        .contains("Connection refused"));
    assert_eq!(ran.hosts_of("second"), ["h1"]);
    // Ansible does not try an unreachable host again in later tasks.
    assert_eq!(
        ran.connector
            .connects()
            .iter()
            .filter(|h| *h == "h2")
            .count(),
        1
    );
    assert_eq!(ran.stats("h2"), recap(0, 0, 1, 0, 0));
    assert_eq!(ran.stats("h1"), recap(2, 2, 0, 0, 0));
    assert_eq!(ran.summary.exit_code(), 4);
}

#[test]
fn a_connection_lost_mid_run_makes_the_host_unreachable() {
    let ran = Scenario::new(&format!(
        "{TWO_STEPS}    - name: third\n      shell: step-three\n"
    ))
    .drop_after("h1", 1)
    .run();
    assert_eq!(ran.result("first", "h1").status, Status::Changed);
    assert_eq!(ran.result("second", "h1").status, Status::Unreachable);
    assert_eq!(ran.hosts_of("third"), ["h2"]);
    assert_eq!(ran.stats("h1"), recap(1, 1, 1, 0, 0));
    assert_eq!(ran.stats("h2"), recap(3, 3, 0, 0, 0));
}

#[test]
fn a_connection_lost_inside_a_loop_makes_the_host_unreachable() {
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: items
      shell: "do {{ item }}"
      loop: [a, b, c]
    - name: after
      debug: msg=hi
"#,
    )
    .script(|host, cmd| {
        if cmd.contains("do b") {
            lost(host)
        } else {
            ok("")
        }
    })
    .run();
    assert_eq!(ran.stats("h1"), recap(0, 0, 1, 0, 0));
    assert!(ran.commands_with("h1", "do c").is_empty());
    assert!(ran.task_results("after").is_empty());
}

#[test]
fn a_channel_error_fails_the_task_but_the_host_stays_reachable() {
    let ran = Scenario::new(TWO_STEPS)
        .inventory("h1\n")
        .script(|host, cmd| {
            if cmd.contains("step-one") {
                Err(TransportError::Channel {
                    host: host.into(),
                    reason: "channel open failed".into(),
                })
            } else {
                ok("")
            }
        })
        .run();
    assert_eq!(ran.result("first", "h1").status, Status::Failed);
    assert_eq!(ran.stats("h1"), recap(0, 0, 0, 1, 0));
    assert_eq!(ran.summary.exit_code(), 2);
}

// ---------------------------------------------------------------------------------------------
// Check mode

const CHECKED: &str = r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: plain command
      command: touch-it
      register: p
    - name: forced real
      command: really-run
      check_mode: false
    - name: simulated
      command: pretend-only
      check_mode: true
    - name: show
      debug: var=p
"#;

#[test]
fn check_mode_skips_commands_unless_the_task_says_otherwise() {
    let ran = Scenario::new(CHECKED).check().run();
    assert!(ran.commands_with("h1", "touch-it").is_empty());
    assert_eq!(ran.commands_with("h1", "really-run").len(), 1);
    assert!(ran.commands_with("h1", "pretend-only").is_empty());
    assert_eq!(ran.result("plain command", "h1").status, Status::Skipped);
    assert_eq!(ran.result("forced real", "h1").status, Status::Changed);
    let p = ran.shown("show", "h1", "p");
    assert_eq!(p["skipped"], true);
    assert_eq!(p["msg"], "Command would have run if not in check mode");
    assert_eq!(ran.stats("h1"), recap(2, 1, 0, 0, 2));
}

#[test]
fn check_mode_true_on_a_task_simulates_it_without_check() {
    let ran = Scenario::new(CHECKED).run();
    assert_eq!(ran.commands_with("h1", "touch-it").len(), 1);
    assert_eq!(ran.commands_with("h1", "really-run").len(), 1);
    assert!(ran.commands_with("h1", "pretend-only").is_empty());
    assert_eq!(ran.result("simulated", "h1").status, Status::Skipped);
    assert_eq!(ran.stats("h1"), recap(3, 2, 0, 0, 1));
}

#[test]
fn failed_when_is_not_evaluated_on_a_skipped_result() {
    // TaskExecutor._execute: `if 'skipped' not in result:` guards both changed_when and
    // failed_when, so a command skipped by --check is never failed by its output test.
    let ran = Scenario::new(
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: health
      command: health-check
      register: h
      failed_when: "'OK' not in h.stdout"
      changed_when: true
"#,
    )
    .check()
    .run();
    assert!(ran.commands_with("h1", "health-check").is_empty());
    assert_eq!(ran.result("health", "h1").status, Status::Skipped);
    assert_eq!(ran.stats("h1"), recap(0, 0, 0, 0, 1));
}

// ---------------------------------------------------------------------------------------------
// --step

#[test]
fn step_asks_before_each_task_until_continue() {
    use tend_executor::StepAnswer::{Continue, No, Yes};
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: one
      shell: one
    - name: two
      shell: two
    - meta: noop
    - name: three
      shell: three
    - name: four
      shell: four
"#,
    )
    .step(&[No, Yes, Continue])
    .run();
    // Meta tasks are not asked about; after `continue` nothing is.
    assert_eq!(ran.asked, ["TASK: one", "TASK: two", "TASK: three"]);
    assert_eq!(ran.started(), ["two", "three", "four"]);
    assert_eq!(ran.stats("h1").changed, 3);
}

// ---------------------------------------------------------------------------------------------
// Interrupt (Ctrl-C)

#[test]
fn an_interrupt_stops_the_run_where_it_is_without_handlers() {
    let interrupt = tend_executor::Interrupt::new();
    let trigger = interrupt.clone();
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: first
      shell: step-one
      notify: react
    - name: second
      shell: step-two
  handlers:
    - name: react
      shell: handler-ran
- hosts: all
  gather_facts: false
  tasks:
    - name: next play
      shell: step-three
"#,
    )
    .script(move |_, command| {
        if command.contains("step-one") {
            trigger.trigger();
        }
        ok("")
    })
    .options(|o| o.interrupt = interrupt.clone())
    .run();
    assert_eq!(ran.started(), ["first"]);
    for host in ["h1", "h2"] {
        for later in ["step-two", "handler-ran", "step-three"] {
            assert!(
                ran.commands_with(host, later).is_empty(),
                "{host} ran {later} after the interrupt"
            );
        }
    }
}
