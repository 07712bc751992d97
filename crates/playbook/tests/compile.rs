//! Snapshot tests of the playbook compiler: the plans it builds and its messages for bad input.
//!
//! Error snapshots carry the playbook as their description, so a reviewer reads the input next
//! to the message and can check that each caret points at the offending token.

use std::path::Path;

use tend_playbook::{compile_playbook, CompileErrors, Playbook};

/// A fixed relative path, so snapshots do not depend on where the tests run.
const SITE: &str = "playbooks/site.yml";

fn compile(source: &str) -> Result<Playbook, CompileErrors> {
    // Without a reference to the crate the linker drops the builtin modules' registrations.
    tend_modules::link();
    compile_playbook(Path::new(SITE), source)
}

fn plan(source: &str) -> Playbook {
    compile(source).unwrap_or_else(|e| panic!("expected the playbook to compile:\n{e}"))
}

fn errors(source: &str) -> String {
    match compile(source) {
        Ok(p) => panic!("expected compile errors, got a plan:\n{p:#?}"),
        Err(e) => e.to_string(),
    }
}

/// Snapshots the errors for `source`, with `source` as the snapshot's description.
macro_rules! assert_errors {
    ($source:expr) => {{
        let source: &str = $source;
        insta::with_settings!({description => source, omit_expression => true}, {
            insta::assert_snapshot!(errors(source));
        });
    }};
}

// ---------------------------------------------------------------------------------------------
// Valid playbooks

const REALISTIC: &str = r#"
- name: Web tier
  hosts: [web, "app:&prod"]
  become: yes
  become_user: root
  gather_facts: no
  vars:
    defaults: &defaults
      user: www
      mode: 0755
      enabled: yes
    site:
      <<: *defaults
      mode: 0700
      root: /srv/www
    ports: [80, 443]
    debug_mode: off
    version: 1.10
    greeting: "hello {{ inventory_hostname }}"
  pre_tasks:
    - name: Say hello
      debug: msg="{{ greeting }}, starting"
  tasks:
    - name: Create the web root
      file: path=/srv/www state=directory mode=0755

    - name: Make the log directory
      ansible.builtin.file:
        path: /var/log/site
        state: directory
        owner: "{{ site.user }}"
        mode: "0750"
      become_user: www
      when: site.enabled

    - name: Initialise once
      command: touch /srv/www/.init creates=/srv/www/.init

    - name: Reload the config
      shell: ./reload.sh --all > reload.log
      args:
        chdir: /srv/www
        creates: /srv/www/reload.log
      register: reload_out
      changed_when: "'reloaded' in reload_out.stdout"
      failed_when:
        - reload_out.rc != 0
        - "'fatal' in reload_out.stderr"

    - name: Install the config
      action: copy src=site.conf dest=/etc/site.conf
      notify: restart site

    - name: Content directories
      file:
        path: "/srv/www/{{ d.name }}"
        state: directory
      loop:
        - { name: static }
        - { name: media }
      loop_control:
        loop_var: d
        index_var: i
        label: "{{ d.name }}"
      when:
        - ansible_facts is defined
        - i is not defined or i >= 0

    - name: Open the ports
      debug: msg="port {{ item }}"
      loop: "{{ ports }}"

    - name: Old-style loop
      debug: var=item
      with_items:
        - [a, b]
        - c
      when: false

    - name: Probe the web root
      ansible.builtin.stat:
        path: /srv/www
      register: www
      check_mode: false
      ignore_errors: true
      no_log: true
      become: false

    - name: Write a marker
      ansible.builtin.copy:
        content: "x"
        dest: /etc/marker
      notify:
        - restart site
        - flush caches
  post_tasks:
    - debug:
        msg: done
  handlers:
    - name: restart site
      command: systemctl restart site
    - name: Flush the cache
      shell: rm -rf /var/cache/site/*
      listen: flush caches

- hosts: db
  become: true
  tasks:
    - set_fact:
        db_port: 5432
    - ansible.builtin.assert:
        that:
          - db_port == 5432
        fail_msg: wrong port
      become: no
      vars:
        extra: 1
"#;

#[test]
fn realistic_playbook() {
    insta::assert_snapshot!(format!("{:#?}", plan(REALISTIC)));
}

#[test]
fn anchors_and_merge_keys_in_vars() {
    let p = plan(REALISTIC);
    let vars = serde_json::Value::Object(p.plays[0].vars.clone());
    // Merge keys fill in what the mapping does not set itself; YAML 1.1 gives `0755` = 493.
    assert_eq!(vars["site"]["user"], "www");
    assert_eq!(vars["site"]["mode"], 0o700);
    assert_eq!(vars["defaults"]["mode"], 0o755);
    assert_eq!(vars["defaults"]["enabled"], true);
    assert_eq!(vars["debug_mode"], false);
}

#[test]
fn keywords_the_debug_form_leaves_out() {
    let p = plan(REALISTIC);
    let probe = p.plays[0].tasks[8].tasks()[0];
    assert_eq!(probe.display_name(), "Probe the web root");
    assert!(probe.no_log);
    assert_eq!(p.plays[1].tasks[0].tasks()[0].display_name(), "set_fact");
}

#[test]
fn action_forms() {
    let p = plan(
        r#"
- hosts: all
  tasks:
    - action: copy src=a dest=b
    - action:
        module: ansible.builtin.file
        path: /x
        state: absent
    - ansible.builtin.command:
        cmd: ls -l
        chdir: /tmp
    - command: echo 'a b' "c d" chdir=/tmp
    - raw: uname -a
    - shell: echo {{ x }} creates=/x
"#,
    );
    insta::assert_snapshot!(format!("{:#?}", p.plays[0].tasks));
}

#[test]
fn templated_values_are_not_compile_errors() {
    // The types are only known once rendered per host, so templates stand for any value.
    let p = plan(
        r#"
- hosts: all
  tasks:
    - file:
        path: "{{ p }}"
        state: "{{ s }}"
        force: "{{ f }}"
        mode: "{{ m }}"
        recurse: "{{ r | bool }}"
    - file: path={{ p }} state={{ s }} mode={{ m }}
    - copy:
        content: "{{ c }}"
        dest: /x
        force: "{{ f }}"
        backup: "{% if b %}yes{% else %}no{% endif %}"
    - debug:
        msg: hi
        verbosity: "{{ level | int }}"
    - debug: msg=hi verbosity={{ level }}
"#,
    );
    insta::assert_snapshot!(format!("{:#?}", p.plays[0].tasks));
}

#[test]
fn vars_files_are_read_relative_to_the_playbook() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("vars")).unwrap();
    std::fs::write(
        dir.path().join("vars/main.yml"),
        "shared: &s {a: 1}\ncopy_of: *s\nenabled: on\nmode: 0644\nport: 8080\n",
    )
    .unwrap();
    let source = "- hosts: all\n  vars:\n    port: 80\n    only_here: yes\n  vars_files:\n    - vars/main.yml\n  tasks: []\n";
    tend_modules::link();
    let p =
        compile_playbook(&dir.path().join("site.yml"), source).unwrap_or_else(|e| panic!("{e}"));
    // Later sources win: `port` comes from the vars file.
    insta::assert_snapshot!(format!("{:#?}", p.plays[0].vars));
}

#[test]
fn vars_files_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yml"), "a: [1, 2\n").unwrap();
    std::fs::write(dir.path().join("list.yml"), "- a\n- b\n").unwrap();
    let source = "- hosts: all\n  vars_files:\n    - bad.yml\n    - list.yml\n    - missing.yml\n    - \"{{ env }}.yml\"\n";
    tend_modules::link();
    let e = compile_playbook(&dir.path().join("site.yml"), source)
        .expect_err("vars files are broken")
        .to_string();
    // The temp directory's name changes on every run.
    let e = e.replace(&dir.path().display().to_string(), "[TMP]");
    insta::with_settings!({description => source, omit_expression => true}, {
        insta::assert_snapshot!(e);
    });
}

// ---------------------------------------------------------------------------------------------
// The shape of the file

#[test]
fn malformed_yaml_bad_indentation() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - name: Say hi
      debug: msg=hi
     when: true
"#
    );
}

#[test]
fn malformed_yaml_unclosed_flow_mapping() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - file: {path: /tmp/x, state: directory
    - debug: msg=hi
"#
    );
}

#[test]
fn playbook_not_a_list() {
    assert_errors!(
        r#"hosts: all
tasks:
  - debug: msg=hi
"#
    );
}

#[test]
fn play_not_a_mapping() {
    assert_errors!(
        r#"- web
- hosts: all
  tasks: []
"#
    );
}

#[test]
fn empty_file() {
    assert_errors!("");
}

#[test]
fn comments_only_file() {
    assert_errors!("# nothing here yet\n\n");
}

#[test]
fn missing_hosts() {
    assert_errors!(
        r#"- name: Configure
  tasks:
    - debug: msg=hi
"#
    );
}

#[test]
fn unknown_play_keyword() {
    assert_errors!(
        r#"- hosts: all
  taks:
    - debug: msg=hi
"#
    );
}

#[test]
fn tasks_not_a_list() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    debug: msg=hi
"#
    );
}

// ---------------------------------------------------------------------------------------------
// Modules and their arguments

#[test]
fn unknown_module() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - name: Make the directory
      fiel:
        path: /tmp/x
        state: directory
"#
    );
}

#[test]
fn ansible_module_not_provided_yet() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - ansible.builtin.zypper:
        name: nginx
"#
    );
}

#[test]
fn task_keyword_typo_after_module() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug: msg=hi
      whn: false
"#
    );
}

#[test]
fn task_keyword_typo_before_module() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - name: Say hi
      whn: false
      debug: msg=hi
"#
    );
}

#[test]
fn task_without_module() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - name: Nothing to do
      when: true
"#
    );
}

#[test]
fn two_modules_in_one_task() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - name: Confused
      file: path=/tmp/x state=touch
      copy: content=x dest=/tmp/x
"#
    );
}

#[test]
fn unknown_parameter() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - file:
        path: /tmp/x
        mdoe: "0644"
"#
    );
}

#[test]
fn unknown_parameter_in_key_value_shorthand() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - file: path=/tmp/x mdoe=0644
"#
    );
}

#[test]
fn missing_required_parameter() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - copy:
        content: hello
"#
    );
}

#[test]
fn invalid_choice() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - file:
        path: /tmp/x
        state: directry
"#
    );
}

#[test]
fn wrong_type() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - copy:
        content: hello
        dest: /tmp/x
        force: maybe
"#
    );
}

#[test]
fn invalid_mode() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - file:
        path: /tmp/x
        mode: rwxr-xr-x
"#
    );
}

#[test]
fn free_form_to_a_module_without_one() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - file: /tmp/x
"#
    );
}

#[test]
fn list_as_module_arguments() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - file:
        - path=/tmp/x
"#
    );
}

// ---------------------------------------------------------------------------------------------
// Templates

#[test]
fn template_syntax_error_in_args() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug:
        msg: "{{ greeting }"
"#
    );
}

#[test]
fn template_syntax_error_in_key_value_args() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug: msg={{ greeting | }}
"#
    );
}

#[test]
fn template_syntax_error_in_action_text() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - action: debug msg="{{ x | }}"
"#
    );
}

#[test]
fn template_syntax_error_in_escaped_string() {
    // The source text differs from the value here, so the caret falls back to the whole value.
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug:
        msg: "say \"{{ x + }}\""
"#
    );
}

#[test]
fn template_syntax_error_in_when() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug: msg=hi
      when: result.rc ==
"#
    );
}

#[test]
fn template_syntax_error_in_when_list() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug: msg=hi
      when:
        - true
        - x is definedd and (y
"#
    );
}

#[test]
fn template_syntax_error_in_vars() {
    assert_errors!(
        r#"- hosts: all
  vars:
    url: "http://{{ host }}:{{ port + }}/"
  tasks:
    - debug:
        msg: hi
      vars:
        path: "{% if x %}/a"
"#
    );
}

// ---------------------------------------------------------------------------------------------
// Keywords

#[test]
fn notify_without_handler() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - copy: content=x dest=/etc/nginx.conf
      notify: restart nginx
  handlers:
    - name: restart ngnix
      command: systemctl restart nginx
"#
    );
}

#[test]
fn notify_list_without_handler() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - copy: content=x dest=/etc/app.conf
      notify:
        - reload app
        - "restart {{ svc }}"
        - restart ap
  handlers:
    - name: restart app
      command: systemctl restart app
    - name: Reload
      command: systemctl reload app
      listen: reload app
"#
    );
}

#[test]
fn notify_of_a_handler_that_does_not_compile() {
    // Only the handler's own error: the notify would be fine once it is fixed.
    assert_errors!(
        r#"- hosts: all
  tasks:
    - copy: content=x dest=/etc/app.conf
      notify: restart app
  handlers:
    - name: restart app
      comand: systemctl restart app
"#
    );
}

#[test]
fn delegation_forms() {
    let p = plan(
        r#"- hosts: all
  tasks:
    - command: uptime
      delegate_to: "{{ groups['lb'][0] }}"
    - local_action: command echo hi
    - local_action:
        module: copy
        content: x
        dest: /tmp/x
      run_once: true
"#,
    );
    insta::assert_snapshot!(format!("{:#?}", p.plays[0].tasks));
}

#[test]
fn blocks_push_their_keywords_into_their_tasks() {
    let p = plan(
        r#"- hosts: all
  tasks:
    - block:
        - debug: msg=hi
          when: b
      rescue:
        - debug: msg=oops
      always:
        - meta: noop
      when: a
      become: true
      vars: {x: 1}
"#,
    );
    insta::assert_snapshot!(format!("{:#?}", p.plays[0].tasks));
}

#[test]
fn rescue_without_block_is_an_error() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug: msg=hi
      rescue:
        - debug: msg=oops
"#
    );
}

#[test]
fn unsupported_roles() {
    assert_errors!(
        r#"- hosts: all
  roles:
    - common
"#
    );
}

#[test]
fn unsupported_include_tasks() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - include_tasks: more.yml
"#
    );
}

#[test]
fn unsupported_import_playbook() {
    assert_errors!(
        r#"- import_playbook: other.yml
- hosts: all
  tasks: []
"#
    );
}

#[test]
fn unknown_with_lookup() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug: msg={{ item.key }}
      with_dicts: "{{ users }}"
"#
    );
}

#[test]
fn invalid_register_name() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - command: uptime
      register: up-time
"#
    );
}

#[test]
fn loop_control_without_loop() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug: msg={{ x }}
      loop_control:
        loop_var: x
"#
    );
}

#[test]
fn unknown_loop_control_option() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug: msg={{ x }}
      loop: [1, 2]
      loop_control:
        loop_vra: x
"#
    );
}

#[test]
fn two_loops() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug: msg={{ item }}
      loop: [1, 2]
      with_items: [3, 4]
"#
    );
}

#[test]
fn loop_over_a_mapping() {
    assert_errors!(
        r#"- hosts: all
  tasks:
    - debug: msg={{ item }}
      loop:
        a: 1
"#
    );
}

#[test]
fn bad_booleans() {
    assert_errors!(
        r#"- hosts: all
  gather_facts: sometimes
  tasks:
    - debug: msg=hi
      ignore_errors: perhaps
      become: [yes]
"#
    );
}

#[test]
fn unsupported_become_method() {
    assert_errors!(
        r#"- hosts: all
  become_method: doas
  tasks: []
"#
    );
}

#[test]
fn every_error_is_reported() {
    assert_errors!(
        r#"- hosts: all
  taks: []
  tasks:
    - fiel: path=/tmp/x
    - file:
        path: /tmp/y
        mdoe: "0644"
    - debug: msg=hi
      when: x ==
      notify: nobody
- name: Second play
  tasks:
    - copy: content=x
"#
    );
}

#[test]
fn batching_and_strategy_keywords() {
    let p = plan(
        r#"- hosts: all
  serial: [1, "30%", 5]
  max_fail_percentage: "20%"
  any_errors_fatal: yes
  strategy: free
  order: reverse_sorted
  ignore_unreachable: true
  tasks:
    - block:
        - command: "true"
          any_errors_fatal: false
        - command: "true"
      ignore_unreachable: false
      any_errors_fatal: true
"#,
    );
    let play = &p.plays[0];
    insta::assert_debug_snapshot!((
        &play.serial,
        play.max_fail_percentage,
        play.any_errors_fatal,
        play.strategy,
        play.order,
        play.ignore_unreachable,
        play.tasks[0]
            .tasks()
            .iter()
            .map(|t| (t.any_errors_fatal, t.ignore_unreachable))
            .collect::<Vec<_>>(),
    ));
}

#[test]
fn batching_and_strategy_errors() {
    assert_errors!(
        r#"- hosts: all
  serial: [1, lots]
  max_fail_percentage: many
  strategy: fre
  order: sideways
  tasks: []
"#
    );
}

#[test]
fn module_defaults_innermost_level_wins() {
    let p = plan(
        r#"- hosts: all
  module_defaults:
    ansible.builtin.file: {mode: "0700"}
    copy: {mode: "0600", content: "x"}
  tasks:
    - copy: {dest: /a}
    - block:
        - copy: {dest: /b}
        - file: {path: /c, mode: "0755"}
          module_defaults:
            file: {owner: root}
      module_defaults:
        ansible.builtin.copy: {content: "y"}
"#,
    );
    let args: Vec<String> = p.plays[0]
        .tasks
        .iter()
        .flat_map(|s| s.tasks())
        .map(|t| serde_json::Value::Object(t.args.clone()).to_string())
        .collect();
    insta::assert_debug_snapshot!(args);
}

#[test]
fn module_defaults_errors() {
    assert_errors!(
        r#"- hosts: all
  module_defaults:
    fiel: {mode: "0700"}
    copy: {moed: "0600"}
    community.general.thing: {x: 1}
    group/aws: {region: x}
  tasks: []
"#
    );
}

#[test]
fn import_playbook_errors() {
    assert_errors!(
        r#"- import_playbook: missing.yml
  colour: blue
- import_playbook: "{{ which }}.yml"
- hosts: all
  tasks:
    - import_playbook: other.yml
"#
    );
}

#[test]
fn play_environment_no_log_run_once_and_connection() {
    let p = plan(
        r#"- hosts: all
  connection: local
  environment: {A: "1"}
  no_log: true
  run_once: yes
  tasks:
    - command: "true"
      environment: {B: "2"}
  handlers:
    - name: h
      command: "true"
"#,
    );
    let play = &p.plays[0];
    let task = play.tasks[0].tasks()[0];
    let handler = &play.handlers[0];
    insta::assert_debug_snapshot!((
        &play.connection,
        serde_json::Value::Object(task.environment.clone()).to_string(),
        task.no_log,
        task.run_once,
        serde_json::Value::Object(handler.environment.clone()).to_string(),
        handler.no_log,
    ));
    assert_errors!(
        r#"- hosts: all
  connection: winrm
  tasks: []
"#
    );
}

#[test]
fn task_timeout_is_compiled_and_block_timeout_refused() {
    let p = plan(
        "- hosts: all\n  tasks:\n    - command: sleep 9\n      timeout: 3\n    - command: 'true'\n      timeout: 0\n",
    );
    let tasks: Vec<_> = p.plays[0].tasks.iter().flat_map(|s| s.tasks()).collect();
    assert_eq!(tasks[0].timeout, Some(3));
    // 0 is Ansible's "no timeout".
    assert_eq!(tasks[1].timeout, None);
    let e = errors("- hosts: all\n  tasks:\n    - command: 'true'\n      timeout: soon\n");
    assert!(e.contains("`timeout` must be a whole number"), "{e}");
    let e = errors(
        "- hosts: all\n  tasks:\n    - block:\n        - command: 'true'\n      timeout: 3\n",
    );
    assert!(
        e.contains("block keyword `timeout` is not supported by tend yet"),
        "{e}"
    );
}
