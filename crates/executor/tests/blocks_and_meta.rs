//! Blocks (`block`/`rescue`/`always`), `meta` actions, `until` retries and `environment`.

mod support;

use support::{ok, rc, Scenario};
use tend_executor::HostStats;

fn stats(ok: u32, changed: u32, failed: u32, skipped: u32, rescued: u32) -> HostStats {
    HostStats {
        ok,
        changed,
        failed,
        skipped,
        rescued,
        ..HostStats::default()
    }
}

#[test]
fn rescue_runs_for_the_failed_host_and_counts_as_rescued() {
    // Ansible: a failure in a block that has a rescue counts as rescued, not failed, and
    // the run exits 0; `always` runs for every host that entered the block.
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - name: may fail
          command: /bin/check
        - name: after the failure
          debug: msg=fine
      rescue:
        - name: fix it
          debug: msg="rescued {{ ansible_failed_task.name }} rc={{ ansible_failed_result.rc }}"
      always:
        - name: cleanup
          debug: msg=always
    - name: later
      debug: msg=later
"#,
    )
    .script(|host, cmd| {
        if host == "h1" && cmd.contains("/bin/check") {
            rc(3, "", "")
        } else {
            ok("")
        }
    })
    .run();
    assert_eq!(ran.stats("h1"), stats(3, 0, 0, 0, 1));
    assert_eq!(ran.stats("h2"), stats(4, 1, 0, 0, 0));
    assert_eq!(ran.summary.exit_code(), 0);
    assert_eq!(ran.msg("fix it", "h1"), "rescued may fail rc=3");
    assert_eq!(ran.hosts_of("fix it"), vec!["h1"]);
    assert_eq!(ran.hosts_of("after the failure"), vec!["h2"]);
    assert_eq!(ran.hosts_of("cleanup").len(), 2);
    assert_eq!(ran.hosts_of("later").len(), 2);
}

#[test]
fn always_runs_without_rescue_and_the_host_stays_failed() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - name: boom
          fail: msg=no
      always:
        - name: cleanup
          debug: msg=always
    - name: never
      debug: msg=never
"#,
    )
    .inventory("h1\n")
    .run();
    assert_eq!(ran.stats("h1"), stats(1, 0, 1, 0, 0));
    assert_eq!(ran.hosts_of("cleanup"), vec!["h1"]);
    assert!(ran.hosts_of("never").is_empty());
    assert_eq!(ran.summary.exit_code(), 2);
}

#[test]
fn block_keywords_are_inherited_by_its_tasks() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - name: inside
          debug: msg="{{ greeting }}"
      when: inventory_hostname == 'h2'
      vars:
        greeting: hello
"#,
    )
    .run();
    assert_eq!(ran.hosts_of("inside"), vec!["h1", "h2"]);
    assert_eq!(ran.stats("h1").skipped, 1);
    assert_eq!(ran.msg("inside", "h2"), "hello");
}

#[test]
fn a_failing_rescue_leaves_the_host_failed() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - fail: msg=first
      rescue:
        - fail: msg=second
"#,
    )
    .inventory("h1\n")
    .run();
    let s = ran.stats("h1");
    assert_eq!((s.rescued, s.failed), (1, 1));
    assert_eq!(ran.summary.exit_code(), 2);
}

#[test]
fn meta_end_host_and_flush_handlers() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: change
      command: touch x
      notify: handle
    - meta: flush_handlers
    - name: after flush
      debug: msg=after
    - meta: end_host
      when: inventory_hostname == 'h1'
    - name: only h2
      debug: msg=h2
  handlers:
    - name: handle
      debug: msg=handled
"#,
    )
    .run();
    let started = ran.started();
    let handled = started
        .iter()
        .position(|t| t == "handle")
        .expect("handler ran");
    let after = started
        .iter()
        .position(|t| t == "after flush")
        .expect("task ran");
    assert!(
        handled < after,
        "flush_handlers ran the handler before the next task: {started:?}"
    );
    assert_eq!(ran.hosts_of("only h2"), vec!["h2"]);
    assert_eq!(ran.stats("h1").failed, 0);
    assert_eq!(ran.summary.exit_code(), 0);
}

#[test]
fn meta_end_play_stops_the_play_for_everyone() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - meta: end_play
    - name: never
      debug: msg=never
- hosts: all
  gather_facts: false
  tasks:
    - name: next play
      debug: msg=runs
"#,
    )
    .run();
    assert!(ran.hosts_of("never").is_empty());
    assert_eq!(ran.hosts_of("next play").len(), 2);
}

#[test]
fn until_retries_until_the_condition_holds() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let calls = std::sync::Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: poll
      command: /bin/poll
      register: r
      until: r.stdout == 'ready'
      retries: 5
      delay: 0
    - name: show
      debug: var=r.attempts
"#,
    )
    .inventory("h1\n")
    .script(move |_, cmd| {
        if cmd.contains("/bin/poll") {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            ok(if n >= 2 { "ready" } else { "wait" })
        } else {
            ok("")
        }
    })
    .run();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(ran.shown("show", "h1", "r.attempts"), 3);
    assert_eq!(ran.stats("h1").failed, 0);
}

#[test]
fn until_gives_up_after_retries_plus_one_attempts() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: poll
      command: /bin/poll
      register: r
      until: r.stdout == 'ready'
      retries: 2
      delay: 0
"#,
    )
    .inventory("h1\n")
    .run();
    assert_eq!(ran.commands_with("h1", "/bin/poll").len(), 3);
    assert_eq!(ran.stats("h1").failed, 1);
}

#[test]
fn environment_is_exported_for_the_task() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  vars:
    proxy: http://proxy:3128
  tasks:
    - name: with env
      command: /bin/env-user
      environment:
        HTTP_PROXY: "{{ proxy }}"
        LANG: C.UTF-8
"#,
    )
    .inventory("h1\n")
    .run();
    let cmds = ran.commands_with("h1", "/bin/env-user");
    assert_eq!(cmds.len(), 1);
    assert!(
        cmds[0].starts_with(
            "HTTP_PROXY=http://proxy:3128; export HTTP_PROXY; LANG=C.UTF-8; export LANG; "
        ),
        "{}",
        cmds[0]
    );
}

#[test]
fn tags_select_tasks_like_ansible() {
    let playbook = r#"
- hosts: all
  gather_facts: false
  tags: [play]
  tasks:
    - name: web
      debug: msg=web
      tags: web
    - name: db
      debug: msg=db
      tags: [db]
    - name: always
      debug: msg=always
      tags: always
    - name: never
      debug: msg=never
      tags: [never, debug]
"#;
    let run = |only: &[&str], skip: &[&str]| {
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        let skip: Vec<String> = skip.iter().map(|s| s.to_string()).collect();
        Scenario::new(playbook)
            .inventory("h1\n")
            .options(move |o| {
                o.tags = only;
                o.skip_tags = skip;
            })
            .run()
            .started()
    };
    assert_eq!(run(&["all"], &[]), vec!["web", "db", "always"]);
    assert_eq!(run(&["web"], &[]), vec!["web", "always"]);
    assert_eq!(run(&["debug"], &[]), vec!["always", "never"]);
    assert_eq!(run(&["all"], &["db"]), vec!["web", "always"]);
    // Play tags reach every task, `never` ones included once a tag names them.
    assert_eq!(run(&["play"], &["always"]), vec!["web", "db", "never"]);
}

#[test]
fn start_at_task_skips_what_comes_before() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: one
      debug: msg=1
    - name: two
      debug: msg=2
    - name: three
      debug: msg=3
"#,
    )
    .inventory("h1\n")
    .options(|o| o.start_at_task = Some("two".into()))
    .run();
    assert_eq!(ran.started(), vec!["two", "three"]);
}

#[test]
fn run_once_runs_on_the_first_host_and_shares_the_result() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: once
      command: /bin/once
      register: r
      run_once: true
    - name: show
      debug: var=r.stdout
"#,
    )
    .script(|_, cmd| {
        if cmd.contains("/bin/once") {
            ok("token")
        } else {
            ok("")
        }
    })
    .run();
    assert_eq!(ran.hosts_of("once"), vec!["h1"]);
    assert_eq!(ran.commands_with("h2", "/bin/once").len(), 0);
    assert_eq!(ran.shown("show", "h2", "r.stdout"), "token");
}

#[test]
fn delegate_to_runs_on_the_other_host_with_this_hosts_vars() {
    let ran = Scenario::new(
        r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: register with the balancer
      command: /bin/add {{ inventory_hostname }}
      delegate_to: lb
"#,
    )
    .inventory("[web]\nh1\nh2\n[balancers]\nlb\n")
    .run();
    assert_eq!(ran.commands_with("lb", "/bin/add").len(), 2);
    assert!(ran.commands_with("lb", "/bin/add h1").len() == 1);
    assert!(ran.commands_with("h1", "/bin/add").is_empty());
    let r = ran.result("register with the balancer", "h1");
    assert_eq!(r.delegated_to.as_deref(), Some("lb"));
}

#[test]
fn with_lookup_loops_build_their_items_like_ansible() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  vars:
    users: {alice: 1, bob: 2}
    groups_of: [{name: web, members: [a, b]}, {name: db, members: [c]}]
  tasks:
    - name: dict
      debug: msg="{{ item.key }}={{ item.value }}"
      with_dict: "{{ users }}"
    - name: sequence
      debug: msg="{{ item }}"
      with_sequence: start=1 end=3 format=n%02d
    - name: nested
      debug: msg="{{ item[0] }}{{ item[1] }}"
      with_nested: [[x, y], [1, 2]]
    - name: subelements
      debug: msg="{{ item.0.name }}:{{ item.1 }}"
      with_subelements: ["{{ groups_of }}", members]
    - name: together
      debug: msg="{{ item.0 }}-{{ item.1 }}"
      with_together: [[a, b], [1, 2]]
"#,
    )
    .inventory("h1\n")
    .run();
    let msgs = |task: &str| -> Vec<String> {
        ran.items(task, "h1")
            .iter()
            .map(|r| r.result["msg"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(msgs("dict"), vec!["alice=1", "bob=2"]);
    assert_eq!(msgs("sequence"), vec!["n01", "n02", "n03"]);
    assert_eq!(msgs("nested"), vec!["x1", "x2", "y1", "y2"]);
    assert_eq!(msgs("subelements"), vec!["web:a", "web:b", "db:c"]);
    assert_eq!(msgs("together"), vec!["a-1", "b-2"]);
}

#[test]
fn hostvars_shows_other_hosts_variables_and_facts() {
    let ran = Scenario::new(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: remember
      set_fact: token="t-{{ inventory_hostname }}"
    - name: peek
      debug: msg="{{ hostvars['h2'].token }} {{ hostvars['h1'].role }} {{ hostvars[groups['all'][0]].inventory_hostname }}"
"#,
    )
    .inventory("h1 role=db\nh2 role=web\n")
    .run();
    assert_eq!(ran.msg("peek", "h1"), "t-h2 db h1");
    assert_eq!(ran.msg("peek", "h2"), "t-h2 db h1");
}
