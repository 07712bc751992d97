//! Temporary exploration.
mod support;
use support::{ok, Scenario};

#[test]
fn accumulate() {
    let ran = Scenario::new(r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: collect
      set_fact:
        acc: "{{ (acc | default([])) + [item] }}"
      loop: [a, b, c]
    - name: show
      debug: var=acc
"#).run();
    println!("ACC {:?}", ran.shown("show", "h1", "acc"));
}

#[test]
fn check_failed_when() {
    let ran = Scenario::new(r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: health
      command: health-check
      register: h
      failed_when: "'OK' not in h.stdout"
"#).check().script(|_, _| ok("OK")).run();
    println!("HEALTH {:?} {:?}", ran.result("health", "h1").status, ran.stats("h1"));
}

#[test]
fn limit_file() {
    let path = std::env::temp_dir().join("tend-limit-probe");
    std::fs::write(&path, "h2\n").unwrap();
    let lim = format!("@{}", path.display());
    let ran = Scenario::new("- hosts: all\n  gather_facts: false\n  tasks:\n    - name: t\n      debug: msg=hi\n")
        .options(move |o| o.limit = Some(lim)).run();
    println!("LIMIT {:?}", ran.hosts_of("t"));
}
