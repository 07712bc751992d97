//! The integration test cases: real playbooks, real sshd hosts, host state checked on each host.

use anyhow::{Context, Result};

use crate::support::{ensure, lab, read, Project, Recap, TestResult};

type Case = (&'static str, fn() -> TestResult);

/// Each case is named after its function.
macro_rules! cases {
    ($($name:ident),* $(,)?) => { vec![$((stringify!($name), $name as fn() -> TestResult)),*] };
}

pub fn all() -> Vec<Case> {
    cases![
        apply_is_idempotent_on_every_host,
        check_mode_predicts_and_touches_nothing,
        failing_task_stops_only_that_host,
        unreachable_host_is_reported_and_others_carry_on,
        changed_host_key_is_refused,
        unknown_host_key_is_refused_then_accepted_on_request,
        compile_errors_stop_before_any_host_is_contacted,
        become_runs_tasks_as_root_through_sudo,
        become_password_with_sudo,
        become_with_su,
        many_items_share_one_connection_below_max_sessions,
        handlers_run_once_and_only_when_notified,
        host_dying_mid_run_is_unreachable,
        one_connection_per_host_for_the_whole_run,
        facts_and_magic_variables_come_from_each_host,
        patterns_limit_extra_vars_and_group_vars,
        demo_playbook_runs_locally_and_is_idempotent,
        undefined_variable_fails_the_task_naming_it,
        roles_project_applies_and_is_idempotent,
        block_rescue_always_on_real_hosts,
        adhoc_runs_one_module_on_matching_hosts,
        custom_module_crate_runs_in_a_playbook,
        doc_prints_module_documentation_from_source,
    ]
}

const SITE: &str = r#"
- name: lay out an app
  hosts: all
  gather_facts: false
  vars:
    base: /srv/app
    settings: {port: 8080, debug: no}
  tasks:
    - name: directories
      file: {path: "{{ base }}/{{ item }}", state: directory, mode: "0750"}
      loop: [conf, data]
    - name: static content
      copy: {dest: "{{ base }}/conf/motd", content: "hello {{ inventory_hostname }}\n", mode: "0644"}
    - name: from files/
      copy: src=banner.txt dest={{ base }}/conf/banner.txt mode=0600
    - name: config
      template: {src: app.conf.j2, dest: "{{ base }}/conf/app.conf", mode: "0640"}
    - name: link
      file: {src: "{{ base }}/conf/app.conf", dest: "{{ base }}/current.conf", state: link}
    - name: once
      command: touch {{ base }}/data/stamp
      args: {creates: "{{ base }}/data/stamp"}
    - name: read back
      command: cat {{ base }}/conf/app.conf
      register: conf
      changed_when: false
      check_mode: false
    - name: check it
      assert: {that: ["'port = 8080' in conf.stdout"]}
    - name: stat
      stat: {path: "{{ base }}/conf/app.conf"}
      register: st
    - name: skipped on purpose
      debug: {msg: never}
      when: not st.stat.exists
"#;

const TEMPLATE: &str = "# {{ inventory_hostname }}\n{% for k, v in settings.items() %}\n{{ k }} = {{ v }}\n{% endfor %}\n";

fn site_project() -> Result<Project> {
    let p = Project::new()?;
    p.file("site.yml", SITE)?;
    p.file("templates/app.conf.j2", TEMPLATE)?;
    p.file("files/banner.txt", "banner\n")?;
    Ok(p)
}

fn apply_is_idempotent_on_every_host() -> TestResult {
    let lab = lab(2)?;
    let p = site_project()?;
    let first = p.run(&lab).exec()?;
    first.expect_code(0)?;
    for (i, host) in ["h1", "h2"].iter().enumerate() {
        let r = first.host(host)?;
        ensure(
            r == Recap {
                ok: 9,
                changed: 6,
                skipped: 1,
                ..Recap::default()
            },
            || format!("{host} first run: {r:?}\n{}", first.stdout),
        )?;
        ensure(
            read(&lab, i, "/srv/app/conf/motd")?.as_deref() == Some(&format!("hello {host}\n")),
            || "motd content".into(),
        )?;
        ensure(
            lab.file_mode(i, "/srv/app/conf/app.conf")? == Some(0o640),
            || "app.conf mode".into(),
        )?;
        ensure(
            lab.file_mode(i, "/srv/app/conf/banner.txt")? == Some(0o600),
            || "banner mode".into(),
        )?;
        ensure(lab.file_mode(i, "/srv/app/conf")? == Some(0o750), || {
            "dir mode".into()
        })?;
        let conf = read(&lab, i, "/srv/app/conf/app.conf")?.context("app.conf exists")?;
        ensure(
            conf == format!("# {host}\nport = 8080\ndebug = False\n"),
            || format!("app.conf rendered as {conf:?}"),
        )?;
        let link = lab.ssh(i, "readlink /srv/app/current.conf")?;
        ensure(
            String::from_utf8_lossy(&link.stdout).trim() == "/srv/app/conf/app.conf",
            || "symlink target".into(),
        )?;
        ensure(read(&lab, i, "/srv/app/data/stamp")?.is_some(), || {
            "stamp created".into()
        })?;
    }
    ensure(
        lab.read_file(0, "/srv/app/conf/motd")? != lab.read_file(1, "/srv/app/conf/motd")?,
        || "hosts are separate".into(),
    )?;

    let second = p.run(&lab).exec()?;
    second.expect_code(0)?;
    for host in ["h1", "h2"] {
        let r = second.host(host)?;
        ensure(
            r == Recap {
                ok: 9,
                changed: 0,
                skipped: 1,
                ..Recap::default()
            },
            || format!("{host} second run: {r:?}\n{}", second.stdout),
        )?;
    }
    Ok(())
}

fn check_mode_predicts_and_touches_nothing() -> TestResult {
    let lab = lab(1)?;
    let p = site_project()?;
    p.run(&lab).exec()?.expect_code(0)?;
    // Drift: edit content, mode and remove a file behind tend's back.
    lab.ssh(0, "echo tampered > /srv/app/conf/motd; chmod 0600 /srv/app/conf/app.conf; rm /srv/app/conf/banner.txt")?;
    let before = lab.ssh(
        0,
        "cd /srv/app && find . -printf '%p %m %s %l\\n' | sort; cat conf/motd",
    )?;

    let check = p.run(&lab).check().diff().exec()?;
    check.expect_code(0)?;
    let r = check.host("h1")?;
    ensure(r.changed == 3, || {
        format!("check predicted {r:?}\n{}", check.stdout)
    })?;
    check.assert_stdout_contains("--- before: /srv/app/conf/motd")?;
    check.assert_stdout_contains("-tampered")?;
    check.assert_stdout_contains("+hello h1")?;
    check.assert_stdout_contains("+++ after: /srv/app/conf/banner.txt")?;
    check.assert_stdout_contains("-mode: 0600")?;
    check.assert_stdout_contains("+mode: 0640")?;
    let after = lab.ssh(
        0,
        "cd /srv/app && find . -printf '%p %m %s %l\\n' | sort; cat conf/motd",
    )?;
    ensure(before.stdout == after.stdout, || {
        "check mode changed the host".into()
    })?;

    // The real run makes exactly the predicted changes.
    let apply = p.run(&lab).diff().exec()?;
    apply.expect_code(0)?;
    let a = apply.host("h1")?;
    ensure(a.changed == r.changed, || {
        format!("prediction {r:?} vs real {a:?}")
    })?;
    let again = p.run(&lab).check().exec()?;
    ensure(again.host("h1")?.changed == 0, || {
        format!("check after apply: {}", again.stdout)
    })?;
    Ok(())
}

fn failing_task_stops_only_that_host() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: fails on h1
      command: /bin/false
      when: inventory_hostname == 'h1'
    - name: ignored failure
      shell: exit 3
      ignore_errors: true
    - name: after
      file: {path: /tmp/after, state: touch}
"#,
    )?;
    let out = p.run(&lab).exec()?;
    out.expect_code(2)?;
    out.assert_stdout_contains("fatal: [h1]: FAILED!")?;
    out.assert_stdout_contains("\"rc\": 1")?;
    out.assert_stdout_contains("...ignoring")?;
    let h1 = out.host("h1")?;
    let h2 = out.host("h2")?;
    ensure(
        h1 == Recap {
            failed: 1,
            ..Recap::default()
        },
        || format!("h1 {h1:?}"),
    )?;
    // Ansible counts an ignored failure as ok and, when its result changed, as changed too.
    ensure(
        h2 == Recap {
            ok: 2,
            changed: 2,
            skipped: 1,
            ignored: 1,
            ..Recap::default()
        },
        || format!("h2 {h2:?}\n{}", out.stdout),
    )?;
    ensure(read(&lab, 0, "/tmp/after")?.is_none(), || {
        "h1 ran a task after failing".into()
    })?;
    ensure(read(&lab, 1, "/tmp/after")?.is_some(), || {
        "h2 stopped".into()
    })?;
    Ok(())
}

fn unreachable_host_is_reported_and_others_carry_on() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - file: {path: /tmp/tend-untouched, state: touch}\n",
    )?;
    let ini = std::fs::read_to_string(lab.inventory_ini())?;
    // Nothing listens on this loopback address.
    let inv = p.file(
        "hosts.ini",
        &format!("{ini}\nghost ansible_host=127.0.0.254 ansible_port=2 ansible_user=root\n"),
    )?;
    let out = p
        .run(&lab)
        .inventory(inv.display().to_string())
        .arg("-T")
        .arg("3")
        .exec()?;
    out.expect_code(4)?;
    out.assert_stdout_contains("fatal: [ghost]: UNREACHABLE!")?;
    ensure(out.host("ghost")?.unreachable == 1, || out.stdout.clone())?;
    ensure(
        out.host("h1")?
            == Recap {
                ok: 1,
                changed: 1,
                ..Recap::default()
            },
        || out.stdout.clone(),
    )?;
    Ok(())
}

fn changed_host_key_is_refused() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - file: {path: /tmp/tend-untouched, state: touch}\n",
    )?;
    // A known_hosts entry with some other ed25519 key for the host's address.
    let other = p.path().join("otherkey");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()?;
    ensure(st.success(), || "ssh-keygen".into())?;
    let pubkey = std::fs::read_to_string(other.with_extension("pub"))?;
    let key: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    let addr = lab.hosts()[0].address;
    let kh = p.file("known_hosts", &format!("{addr} {} {}\n", key[0], key[1]))?;
    let out = p.run(&lab).known_hosts(Some(kh.clone())).exec()?;
    out.expect_code(4)?;
    out.assert_stdout_contains("UNREACHABLE")?;
    out.assert_stdout_contains("SHA256:")?;
    ensure(read(&lab, 0, "/tmp/tend-untouched")?.is_none(), || {
        "task ran on a host with a changed key".into()
    })?;
    // accept-new does not override a changed key either.
    let out = p
        .run(&lab)
        .known_hosts(Some(kh))
        .arg("--accept-new-host-keys")
        .exec()?;
    out.expect_code(4)?;
    Ok(())
}

fn unknown_host_key_is_refused_then_accepted_on_request() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - file: {path: /tmp/tend-untouched, state: touch}\n",
    )?;
    let kh = p.path().join("known_hosts_empty");
    std::fs::write(&kh, "")?;
    let out = p.run(&lab).known_hosts(Some(kh.clone())).exec()?;
    out.expect_code(4)?;
    out.assert_stdout_contains("SHA256:")?;
    out.assert_stdout_contains("accept-new")?;
    let out = p
        .run(&lab)
        .known_hosts(Some(kh.clone()))
        .arg("--accept-new-host-keys")
        .exec()?;
    out.expect_code(0)?;
    let recorded = std::fs::read_to_string(&kh)?;
    ensure(
        recorded.contains(&lab.hosts()[0].address.to_string()),
        || format!("known_hosts now: {recorded}"),
    )?;
    // Now known: strict checking connects.
    p.run(&lab).known_hosts(Some(kh)).exec()?.expect_code(0)?;
    Ok(())
}

fn compile_errors_stop_before_any_host_is_contacted() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        "- hosts: all\n  tasks:\n    - name: typo in a module\n      fiel: {path: /tmp/tend-untouched, state: touch}\n    - name: typo in a parameter\n      file: {path: /tmp/y, stat: touch}\n    - copy: {dest: /tmp/z, content: \"{{ oops }\"}\n",
    )?;
    let out = p.run(&lab).exec()?;
    out.expect_code(1)?;
    out.assert_stderr_contains("site.yml:4:7")?;
    out.assert_stderr_contains("did you mean `file`?")?;
    out.assert_stderr_contains("site.yml:6:28")?;
    out.assert_stderr_contains("did you mean `state`?")?;
    out.assert_stderr_contains("site.yml:7:46")?;
    ensure(!out.stdout.contains("PLAY ["), || "the run started".into())?;
    ensure(read(&lab, 0, "/tmp/tend-untouched")?.is_none(), || {
        "a host was touched".into()
    })?;

    p.file(
        "site.yml",
        "- hosts: all\n  tasks:\n    - file: {path: /tmp/tend-untouched\n",
    )?;
    let out = p.run(&lab).exec()?;
    out.expect_code(1)?;
    out.assert_stderr_contains("malformed YAML")?;
    Ok(())
}

fn become_runs_tasks_as_root_through_sudo() -> TestResult {
    let lab = lab(1)?;
    lab.add_user(0, "deploy", true)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: as the login user
      command: id -un
      register: plain
    - name: as root
      command: id -un
      become: true
      register: root
    - name: root-owned file
      copy: {dest: /etc/tend-owned, content: "x\n", mode: "0600"}
      become: yes
    - assert:
        that: [plain.stdout == 'deploy', root.stdout == 'root']
"#,
    )?;
    let addr = lab.hosts()[0].address;
    let inv = p.file(
        "hosts.ini",
        &format!(
            "h1 ansible_host={addr} ansible_user=deploy ansible_ssh_private_key_file={}\n",
            lab.key_file().display()
        ),
    )?;
    let out = p.run(&lab).inventory(inv.display().to_string()).exec()?;
    out.expect_code(0)?;
    let meta = lab
        .metadata(0, "/etc/tend-owned")?
        .context("file created")?;
    use std::os::unix::fs::MetadataExt;
    ensure(meta.uid() == 0, || "owned by root".into())?;
    Ok(())
}

const BECOME_PLAY: &str = r#"
- hosts: all
  gather_facts: no
  become: true
  tasks:
    - name: who
      command: id -un
      register: who
    - name: stdin follows the password
      command: cat
      args: {stdin: "line one"}
      register: fed
    - name: an upload through become
      copy: {dest: /etc/tend-become, content: "uploaded\n", mode: "0600"}
    - assert:
        that: [who.stdout == 'root', fed.stdout == 'line one', fed.stderr == '']
"#;

/// A lab host with user `ops` (password `ops-pw`, sudo only with a password) and root's
/// password set to `root-pw`; and an inventory connecting as `ops`.
fn password_lab(p: &Project) -> Result<(tend_lab::Lab, std::path::PathBuf)> {
    let lab = lab(1)?;
    lab.add_user(0, "ops", false)?;
    let setup = lab.ssh(
        0,
        "set -e\n\
         printf '%s\\n' 'ops:ops-pw' 'root:root-pw' | chpasswd\n\
         printf '%s\\n' 'ops ALL=(ALL:ALL) ALL' > /etc/sudoers.d/tend-lab-ops\n\
         chmod 440 /etc/sudoers.d/tend-lab-ops\n",
    )?;
    ensure(setup.status.success(), || {
        format!("setup: {}", String::from_utf8_lossy(&setup.stderr))
    })?;
    let addr = lab.hosts()[0].address;
    let inv = p.file(
        "hosts.ini",
        &format!(
            "h1 ansible_host={addr} ansible_user=ops ansible_ssh_private_key_file={}\n",
            lab.key_file().display()
        ),
    )?;
    Ok((lab, inv))
}

fn no_password_in(out: &crate::support::Output, password: &str) -> Result<()> {
    ensure(
        !out.stdout.contains(password) && !out.stderr.contains(password),
        || format!("the password leaked:\n{}\n{}", out.stdout, out.stderr),
    )
}

fn become_password_with_sudo() -> TestResult {
    let p = Project::new()?;
    p.file("site.yml", BECOME_PLAY)?;
    let (lab, inv) = password_lab(&p)?;
    let inv = inv.display().to_string();

    // Without a password sudo refuses, in Ansible's words.
    let out = p.run(&lab).inventory(inv.clone()).exec()?;
    out.expect_code(2)?;
    out.assert_stdout_contains("Missing sudo password")?;

    let pw_file = p.file("become-pw", "ops-pw\n")?;
    let out = p
        .run(&lab)
        .inventory(inv.clone())
        .arg("--become-password-file")
        .arg(pw_file.display().to_string())
        .arg("-vvvv")
        .exec()?;
    out.expect_code(0)?;
    no_password_in(&out, "ops-pw")?;
    use std::os::unix::fs::MetadataExt;
    let meta = lab.metadata(0, "/etc/tend-become")?.context("uploaded")?;
    ensure(meta.uid() == 0, || "owned by root".into())?;
    ensure(
        read(&lab, 0, "/etc/tend-become")?.as_deref() == Some("uploaded\n"),
        || "upload content".into(),
    )?;

    // -K reads a line from stdin when it is not a terminal.
    let out = p
        .run(&lab)
        .inventory(inv.clone())
        .arg("-K")
        .arg("-vvv")
        .stdin(b"ops-pw\n")
        .exec()?;
    out.expect_code(0)?;
    no_password_in(&out, "ops-pw")?;

    // A wrong password fails the task clearly, and soon.
    let started = std::time::Instant::now();
    let out = p
        .run(&lab)
        .inventory(inv)
        .env("TEND_BECOME_PASSWORD", "not-the-password")
        .arg("-vvvv")
        .exec()?;
    out.expect_code(2)?;
    out.assert_stdout_contains("Incorrect sudo password")?;
    no_password_in(&out, "not-the-password")?;
    ensure(
        started.elapsed() < std::time::Duration::from_secs(30),
        || format!("a wrong password took {:?}", started.elapsed()),
    )?;
    Ok(())
}

fn become_with_su() -> TestResult {
    let p = Project::new()?;
    p.file("site.yml", BECOME_PLAY)?;
    let (lab, inv) = password_lab(&p)?;
    let inv = inv.display().to_string();

    let out = p
        .run(&lab)
        .inventory(inv.clone())
        .arg("--become-method")
        .arg("su")
        .env("TEND_BECOME_PASSWORD", "root-pw")
        .arg("-vvvv")
        .exec()?;
    out.expect_code(0)?;
    no_password_in(&out, "root-pw")?;
    ensure(
        read(&lab, 0, "/etc/tend-become")?.as_deref() == Some("uploaded\n"),
        || "upload content".into(),
    )?;

    // On a pseudo-terminal, as an su that insists on one is run: stdin still arrives intact.
    let out = p
        .run(&lab)
        .inventory(inv.clone())
        .arg("--become-method=su")
        .env("TEND_BECOME_PASSWORD", "root-pw")
        .env("TEND_BECOME_PTY", "1")
        .arg("-vvvv")
        .exec()?;
    out.expect_code(0)?;
    no_password_in(&out, "root-pw")?;

    let out = p
        .run(&lab)
        .inventory(inv)
        .arg("--become-method=su")
        .env("TEND_BECOME_PASSWORD", "wrong-root-pw")
        .exec()?;
    out.expect_code(2)?;
    out.assert_stdout_contains("Incorrect su password")?;
    no_password_in(&out, "wrong-root-pw")?;

    // Root needs no password to become anyone, even an account whose shell is nologin; the
    // method can come from the play or from `ansible_become_method`.
    p.file(
        "nobody.yml",
        r#"
- hosts: all
  gather_facts: no
  become: true
  become_method: su
  become_user: nobody
  tasks:
    - command: id -un
      register: who
    - assert: {that: [who.stdout == 'nobody']}
"#,
    )?;
    let out = p.run(&lab).playbook("nobody.yml").exec()?;
    out.expect_code(0)?;
    Ok(())
}

fn many_items_share_one_connection_below_max_sessions() -> TestResult {
    // The lab's sshd runs with OpenSSH's default MaxSessions 10.
    let lab = tend_lab::Lab::builder().hosts(1).max_sessions(10).start()?;
    let p = Project::new()?;
    let items: Vec<String> = (1..=40).map(|i| i.to_string()).collect();
    p.file(
        "site.yml",
        &format!(
            "- hosts: all\n  gather_facts: no\n  tasks:\n    - copy: {{dest: \"/tmp/f{{{{ item }}}}\", content: \"{{{{ item }}}}\"}}\n      loop: [{}]\n",
            items.join(", ")
        ),
    )?;
    let out = p.run(&lab).exec()?;
    out.expect_code(0)?;
    for i in [1, 20, 40] {
        ensure(
            read(&lab, 0, &format!("/tmp/f{i}"))?.as_deref() == Some(&i.to_string()),
            || format!("f{i}"),
        )?;
    }
    Ok(())
}

fn handlers_run_once_and_only_when_notified() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - copy: {dest: /tmp/a, content: "a"}
      notify: bump
    - copy: {dest: /tmp/b, content: "b"}
      notify: [bump, other]
    - copy: {dest: /tmp/c, content: "c"}
      notify: never
  handlers:
    - name: bump
      shell: echo x >> /tmp/count
    - name: other
      shell: echo y >> /tmp/other
    - name: never
      shell: echo z >> /tmp/never
      listen: nothing
"#,
    )?;
    let out = p.run(&lab).exec()?;
    out.expect_code(0)?;
    out.assert_stdout_contains("RUNNING HANDLER [bump]")?;
    ensure(
        read(&lab, 0, "/tmp/count")?.as_deref() == Some("x\n"),
        || "bump ran once".into(),
    )?;
    ensure(read(&lab, 0, "/tmp/other")?.is_some(), || {
        "other ran".into()
    })?;
    let out = p.run(&lab).exec()?;
    ensure(!out.stdout.contains("RUNNING HANDLER"), || {
        format!("handlers ran without a change:\n{}", out.stdout)
    })?;
    ensure(
        read(&lab, 0, "/tmp/count")?.as_deref() == Some("x\n"),
        || "bump ran again".into(),
    )?;
    Ok(())
}

fn host_dying_mid_run_is_unreachable() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - file: {path: /tmp/one, state: touch}\n    - command: sleep 4\n    - file: {path: /tmp/two, state: touch}\n",
    )?;
    std::thread::scope(|s| -> TestResult {
        let run = s.spawn(|| p.run(&lab).exec());
        std::thread::sleep(std::time::Duration::from_millis(2000));
        lab.kill_host(1)?;
        let out = run
            .join()
            .map_err(|_| anyhow::anyhow!("runner panicked"))??;
        out.expect_code(4)?;
        ensure(out.host("h2")?.unreachable == 1, || out.stdout.clone())?;
        ensure(
            out.host("h1")?
                == Recap {
                    ok: 3,
                    changed: 3,
                    ..Recap::default()
                },
            || out.stdout.clone(),
        )?;
        Ok(())
    })
}

fn accepted_logins(lab: &tend_lab::Lab, host: usize) -> Result<usize> {
    Ok(lab.host_log(host)?.matches("Accepted publickey").count())
}

fn one_connection_per_host_for_the_whole_run() -> TestResult {
    let lab = lab(2)?;
    let p = site_project()?;
    // Two plays and a dozen tasks with loops: still one SSH login per host.
    let mut site = SITE.to_string();
    site.push_str("- hosts: all\n  tasks:\n    - command: 'true'\n      loop: [1, 2, 3]\n");
    p.file("site.yml", &site)?;
    let before = [accepted_logins(&lab, 0)?, accepted_logins(&lab, 1)?];
    p.run(&lab).exec()?.expect_code(0)?;
    for (i, b) in before.iter().enumerate() {
        let after = accepted_logins(&lab, i)?;
        ensure(after == b + 1, || {
            format!("h{}: {} logins during the run", i + 1, after - b)
        })?;
    }
    Ok(())
}

fn facts_and_magic_variables_come_from_each_host() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  tasks:
    - assert:
        that:
          - ansible_hostname == inventory_hostname
          - ansible_facts.hostname == inventory_hostname
          - ansible_system == 'Linux'
          - ansible_user_id == 'root'
          - ansible_distribution | length > 0
          - "'all' in groups"
          - groups['all'] | length == 2
          - play_hosts | length == 2
          - not ansible_check_mode
    - copy:
        dest: /tmp/facts
        content: "{{ ansible_hostname }} {{ ansible_os_family }} {{ ansible_architecture }}\n"
"#,
    )?;
    let out = p.run(&lab).exec()?;
    out.expect_code(0)?;
    out.assert_stdout_contains("TASK [Gathering Facts]")?;
    ensure(
        out.host("h1")?
            == Recap {
                ok: 3,
                changed: 1,
                ..Recap::default()
            },
        || out.stdout.clone(),
    )?;
    let arch = std::env::consts::ARCH;
    let family = read(&lab, 0, "/tmp/facts")?.context("facts file")?;
    ensure(
        family.starts_with("h1 ") && family.trim_end().ends_with(arch),
        || format!("h1 facts: {family}"),
    )?;
    ensure(
        read(&lab, 1, "/tmp/facts")?
            .unwrap_or_default()
            .starts_with("h2 "),
        || "h2 facts".into(),
    )?;
    Ok(())
}

fn patterns_limit_extra_vars_and_group_vars() -> TestResult {
    let lab = lab(3)?;
    let p = Project::new()?;
    let key = lab.key_file().display().to_string();
    let h = |i: usize| lab.hosts()[i].address;
    p.file(
        "inventory/hosts.yml",
        &format!(
            "all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: {key}\n    greeting: from-all\n  children:\n    web:\n      hosts:\n        h1: {{ansible_host: {}}}\n        h2: {{ansible_host: {}}}\n    db:\n      hosts:\n        h3: {{ansible_host: {}}}\n      vars:\n        greeting: from-db-inline\n",
            h(0), h(1), h(2)
        ),
    )?;
    p.file(
        "inventory/group_vars/web.yml",
        "greeting: from-web-group-vars\nport: 8080\n",
    )?;
    p.file(
        "inventory/host_vars/h2.yml",
        "greeting: from-h2-host-vars\n",
    )?;
    // group_vars beside the playbook rank above those of the inventory.
    p.file("group_vars/db.yml", "greeting: from-playbook-group-vars\n")?;
    p.file(
        "site.yml",
        r#"
- hosts: web:!h2
  gather_facts: no
  tasks:
    - copy: {dest: /tmp/play1, content: "{{ greeting }} {{ port }} {{ extra | default('none') }}\n"}
- hosts: all
  gather_facts: no
  tasks:
    - copy: {dest: /tmp/play2, content: "{{ greeting }} {{ group_names | join(',') }}\n"}
"#,
    )?;
    let inv = p.path().join("inventory").display().to_string();
    let out = p
        .run(&lab)
        .inventory(inv.clone())
        .arg("-e")
        .arg("extra=given")
        .exec()?;
    out.expect_code(0)?;
    ensure(
        read(&lab, 0, "/tmp/play1")?.as_deref() == Some("from-web-group-vars 8080 given\n"),
        || format!("h1 play1 {:?}", read(&lab, 0, "/tmp/play1")),
    )?;
    ensure(read(&lab, 1, "/tmp/play1")?.is_none(), || {
        "h2 excluded by web:!h2".into()
    })?;
    ensure(
        read(&lab, 1, "/tmp/play2")?.as_deref() == Some("from-h2-host-vars web\n"),
        || format!("h2 play2 {:?}", read(&lab, 1, "/tmp/play2")),
    )?;
    ensure(
        read(&lab, 2, "/tmp/play2")?.as_deref() == Some("from-playbook-group-vars db\n"),
        || format!("h3 play2 {:?}", read(&lab, 2, "/tmp/play2")),
    )?;

    // --limit narrows every play; -e wins over every other variable.
    lab.ssh(0, "rm -f /tmp/play1 /tmp/play2")?;
    lab.ssh(2, "rm -f /tmp/play2")?;
    let out = p
        .run(&lab)
        .inventory(inv)
        .arg("-l")
        .arg("db")
        .arg("-e")
        .arg("greeting=override")
        .exec()?;
    out.expect_code(0)?;
    ensure(out.recap()?.len() == 1, || {
        format!("only h3 should run:\n{}", out.stdout)
    })?;
    ensure(
        read(&lab, 2, "/tmp/play2")?.as_deref() == Some("override db\n"),
        || "extra vars win".into(),
    )?;
    ensure(read(&lab, 0, "/tmp/play2")?.is_none(), || {
        "h1 ran despite --limit".into()
    })?;
    Ok(())
}

fn demo_playbook_runs_locally_and_is_idempotent() -> TestResult {
    // The README's main command, pointed at a temporary directory.
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir()?;
    let demo = dir.path().join("demo");
    let run = || -> Result<crate::support::Output> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
            .current_dir(root)
            .args([
                "run",
                "playbooks/site.yml",
                "-i",
                "inventory.example.yaml",
                "--diff",
                "-e",
            ])
            .arg(format!("demo_dir={}", demo.display()))
            .env("NO_COLOR", "1")
            .output()?;
        Ok(out.into())
    };
    let first = run()?;
    first.expect_code(0)?;
    ensure(first.host("localhost")?.changed > 0, || {
        first.stdout.clone()
    })?;
    ensure(demo.join("conf/app.conf").exists(), || {
        "app.conf written".into()
    })?;
    let second = run()?;
    second.expect_code(0)?;
    ensure(second.host("localhost")?.changed == 0, || {
        format!("second run changed:\n{}", second.stdout)
    })?;
    Ok(())
}

fn undefined_variable_fails_the_task_naming_it() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - copy: {dest: /tmp/u, content: \"{{ nope }}\"}\n    - file: {path: /tmp/never, state: touch}\n",
    )?;
    let out = p.run(&lab).exec()?;
    out.expect_code(2)?;
    out.assert_stdout_contains("'nope' is undefined")?;
    out.assert_stdout_contains("line 4, column 7")?;
    ensure(
        read(&lab, 0, "/tmp/u")?.is_none() && read(&lab, 0, "/tmp/never")?.is_none(),
        || "host touched".into(),
    )?;
    Ok(())
}

/// A small multi-role project written like real-world roles.
fn roles_project() -> Result<Project> {
    let p = Project::new()?;
    p.file(
        "site.yml",
        r#"
- name: web tier
  hosts: all
  gather_facts: false
  roles:
    - role: nginxish
      listen_port: 8081
  tasks:
    - name: site marker
      copy: {dest: /srv/www/marker, content: "{{ site_name }} on {{ inventory_hostname }}\n"}
"#,
    )?;
    p.file(
        "roles/base/defaults/main.yml",
        "base_dirs: [/srv/www, /srv/logs]\n",
    )?;
    p.file(
        "roles/base/tasks/main.yml",
        "- name: base directories\n  file: {path: \"{{ item }}\", state: directory, mode: \"0755\"}\n  loop: \"{{ base_dirs }}\"\n",
    )?;
    p.file("roles/nginxish/meta/main.yml", "dependencies:\n  - base\n")?;
    p.file(
        "roles/nginxish/defaults/main.yml",
        "listen_port: 80\nworkers: 2\n",
    )?;
    p.file("roles/nginxish/vars/main.yml", "site_name: demo-site\n")?;
    p.file(
        "roles/nginxish/tasks/main.yml",
        r#"
- name: config
  template: {src: server.conf.j2, dest: /srv/www/server.conf, mode: "0644"}
  notify: reload server
- import_tasks: static.yml
"#,
    )?;
    p.file(
        "roles/nginxish/tasks/static.yml",
        "- name: static page\n  copy: {src: index.html, dest: /srv/www/index.html}\n",
    )?;
    p.file("roles/nginxish/files/index.html", "<h1>hello</h1>\n")?;
    p.file(
        "roles/nginxish/templates/server.conf.j2",
        "listen {{ listen_port }};\nworkers {{ workers }};\nserver_name {{ site_name }};\n",
    )?;
    p.file(
        "roles/nginxish/handlers/main.yml",
        "- name: reload server\n  shell: echo reloaded >> /srv/logs/reloads\n",
    )?;
    Ok(p)
}

fn roles_project_applies_and_is_idempotent() -> TestResult {
    let lab = lab(2)?;
    let p = roles_project()?;
    let first = p.run(&lab).exec()?;
    first.expect_code(0)?;
    first.assert_stdout_contains("TASK [nginxish : config]")?;
    first.assert_stdout_contains("RUNNING HANDLER [nginxish : reload server]")?;
    for i in 0..2 {
        let conf = read(&lab, i, "/srv/www/server.conf")?.context("server.conf")?;
        ensure(
            conf == "listen 8081;\nworkers 2;\nserver_name demo-site;\n",
            || format!("server.conf: {conf:?}"),
        )?;
        ensure(
            read(&lab, i, "/srv/www/index.html")?.as_deref() == Some("<h1>hello</h1>\n"),
            || "index.html".into(),
        )?;
        ensure(
            read(&lab, i, "/srv/logs/reloads")?.as_deref() == Some("reloaded\n"),
            || "handler ran once".into(),
        )?;
        ensure(lab.file_mode(i, "/srv/logs")? == Some(0o755), || {
            "base dir mode".into()
        })?;
    }
    let second = p.run(&lab).exec()?;
    second.expect_code(0)?;
    ensure(second.host("h1")?.changed == 0, || {
        format!("second run changed:\n{}", second.stdout)
    })?;
    ensure(
        read(&lab, 0, "/srv/logs/reloads")?.as_deref() == Some("reloaded\n"),
        || "handler ran again".into(),
    )?;
    Ok(())
}

fn block_rescue_always_on_real_hosts() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - name: risky
          command: test -e /tmp/ready
        - name: after risky
          file: {path: /tmp/after, state: touch}
      rescue:
        - name: recover
          copy: {dest: /tmp/recovered, content: "{{ ansible_failed_task.name }}\n"}
      always:
        - name: always
          file: {path: /tmp/always, state: touch}
"#,
    )?;
    lab.ssh(1, "touch /tmp/ready")?;
    let out = p.run(&lab).exec()?;
    out.expect_code(0)?;
    let h1 = out.host("h1")?;
    ensure(h1.rescued == 1 && h1.failed == 0, || format!("h1 {h1:?}"))?;
    ensure(
        read(&lab, 0, "/tmp/recovered")?.as_deref() == Some("risky\n"),
        || "rescue ran on h1".into(),
    )?;
    ensure(read(&lab, 1, "/tmp/recovered")?.is_none(), || {
        "rescue ran on h2".into()
    })?;
    ensure(
        read(&lab, 0, "/tmp/after")?.is_none() && read(&lab, 1, "/tmp/after")?.is_some(),
        || "block order".into(),
    )?;
    ensure(
        read(&lab, 0, "/tmp/always")?.is_some() && read(&lab, 1, "/tmp/always")?.is_some(),
        || "always ran".into(),
    )?;
    Ok(())
}

fn adhoc_runs_one_module_on_matching_hosts() -> TestResult {
    let lab = lab(2)?;
    let adhoc = |args: &[&str]| -> Result<crate::support::Output> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
            .arg("adhoc")
            .args(args)
            .arg("-i")
            .arg(lab.inventory_ini())
            .arg("--known-hosts")
            .arg(lab.known_hosts())
            .env("NO_COLOR", "1")
            .output()?;
        Ok(out.into())
    };
    let ping = adhoc(&["all", "-m", "ping"])?;
    ping.expect_code(0)?;
    ping.assert_stdout_contains("h1 | SUCCESS => {")?;
    ping.assert_stdout_contains("\"ping\": \"pong\"")?;
    let shell = adhoc(&["h2", "-m", "shell", "-a", "hostname; echo done"])?;
    shell.expect_code(0)?;
    shell.assert_stdout_contains("h2 | CHANGED | rc=0 >>\nh2\ndone")?;
    ensure(!shell.stdout.contains("h1 |"), || "h1 matched h2".into())?;
    let failing = adhoc(&["all", "-a", "test -e /nope"])?;
    failing.expect_code(2)?;
    failing.assert_stdout_contains("| FAILED | rc=1 >>")?;
    Ok(())
}

/// The example custom module crate (`modules/examples/motd`), linked in through
/// `tend-custom-modules`, on real hosts: compile-time checks of its params, check mode,
/// a real run, an idempotent re-run, `--diff`, and facts in its header.
fn custom_module_crate_runs_in_a_playbook() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file(
        "typo.yml",
        "- hosts: all\n  tasks:\n    - motd: {mesage: hi}\n",
    )?;
    let typo = p.run(&lab).playbook("typo.yml").exec()?;
    typo.expect_code(1)?;
    ensure(
        typo.stderr.contains("typo.yml:3:") && typo.stderr.contains("mesage"),
        || format!("typo not reported with its position:\n{}", typo.stderr),
    )?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  gather_facts: true
  tasks:
    - name: message of the day
      motd:
        message: "Managed by tend. {{ inventory_hostname }} serves the web."
        path: /srv/motd
      register: m
    - name: its return values
      copy: {dest: /srv/motd.lines, content: "{{ m.lines }} {{ m.path }}\n"}
"#,
    )?;
    let check = p.run(&lab).check().diff().exec()?;
    check.expect_code(0)?;
    check.assert_stdout_contains("+Managed by tend. h1 serves the web.")?;
    ensure(read(&lab, 0, "/srv/motd")?.is_none(), || {
        "check mode wrote the file".into()
    })?;
    ensure(check.host("h1")?.changed == 2, || check.stdout.clone())?;
    let first = p.run(&lab).exec()?;
    first.expect_code(0)?;
    ensure(first.host("h2")?.changed == 2, || first.stdout.clone())?;
    let motd = read(&lab, 1, "/srv/motd")?.context("motd written")?;
    ensure(
        motd.starts_with("h2 — Debian ")
            && motd.ends_with("\n\nManaged by tend. h2 serves the web.\n"),
        || format!("unexpected motd: {motd:?}"),
    )?;
    ensure(
        read(&lab, 1, "/srv/motd.lines")?.as_deref() == Some("3 /srv/motd\n"),
        || "return values".into(),
    )?;
    let again = p.run(&lab).exec()?;
    again.expect_code(0)?;
    ensure(again.host("h1")?.changed == 0, || again.stdout.clone())?;
    Ok(())
}

/// `tend doc` reads modules' documentation from their sources, builtin and custom alike.
fn doc_prints_module_documentation_from_source() -> TestResult {
    let doc = |args: &[&str]| -> Result<crate::support::Output> {
        Ok(std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
            .arg("doc")
            .args(args)
            .output()?
            .into())
    };
    let list = doc(&["--list"])?;
    list.expect_code(0)?;
    list.assert_stdout_contains("motd ")?;
    list.assert_stdout_contains("copy ")?;
    let copy = doc(&["ansible.builtin.copy"])?;
    copy.expect_code(0)?;
    copy.assert_stdout_contains("> ansible.builtin.copy")?;
    copy.assert_stdout_contains("```yaml")?;
    copy.assert_stdout_contains("= dest\n")?;
    copy.assert_stdout_contains("- force\n")?;
    copy.assert_stdout_contains("aliases: [thirsty]")?;
    let motd = doc(&["motd"])?;
    motd.expect_code(0)?;
    motd.assert_stdout_contains("choices: [present, absent]")?;
    let missing = doc(&["cpoy"])?;
    missing.expect_code(1)?;
    ensure(missing.stderr.contains("did you mean `copy`"), || {
        missing.stderr.clone()
    })?;
    Ok(())
}
