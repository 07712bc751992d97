//! Hostile or broken input on real sshd hosts: odd file names, shell metacharacters in module
//! arguments, symlinks in destinations, a changed host key, duplicate inventory hosts, and
//! huge files. Each case checks the exact host state, and that nothing else happened.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::support::{ensure, lab, read, Project, TestResult};

type Case = (&'static str, fn() -> TestResult);

macro_rules! cases {
    ($($name:ident),* $(,)?) => { vec![$((stringify!($name), $name as fn() -> TestResult)),*] };
}

pub fn all() -> Vec<Case> {
    cases![
        hostile_odd_file_names_reach_exactly_the_named_files,
        hostile_non_utf8_names_in_a_copied_directory,
        hostile_shell_metacharacters_in_arguments_are_data,
        hostile_symlinked_destinations_follow_ansible,
        hostile_planted_temp_names_are_never_followed,
        hostile_changed_host_key_refuses_only_that_host,
        hostile_duplicate_inventory_hosts_run_once_with_merged_vars,
        hostile_huge_file_and_huge_template_output,
    ]
}

/// Every path under `dir` on host `i` (NUL-separated, so names with newlines survive).
fn tree(lab: &tend_lab::Lab, i: usize, dir: &str) -> Result<BTreeSet<Vec<u8>>> {
    let out = lab.ssh(i, &format!("find {dir} -mindepth 1 -print0"))?;
    ensure(out.status.success(), || {
        format!("find {dir}: {}", String::from_utf8_lossy(&out.stderr))
    })?;
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// Files whose creation would mean a shell ran something it was handed as data.
fn pwned(lab: &tend_lab::Lab, i: usize) -> Result<Vec<String>> {
    let out = lab.ssh(i, "ls -A /tmp /root / | grep pwned || true")?;
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    // And on this machine, should anything have been run on the controller.
    if let Ok(entries) = std::fs::read_dir("/tmp") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("pwned-hostile") {
                found.push(format!("controller:{name}"));
            }
        }
    }
    Ok(found)
}

/// Names that break naive quoting, globbing or option parsing; each a YAML double-quoted
/// string. (YAML cannot hold bytes that are not UTF-8; see the copied-directory case.)
const ODD_NAMES: &[&str] = &[
    "with space",
    "single'quote",
    "double\\\"quote",
    "$(touch pwned-subst)",
    "`touch pwned-tick`",
    "new\\nline",
    "glob*?[ab]",
    "-rf",
    "--",
    "-n",
    "tab\\there",
    "é ü 日本",
    "semi;colon&amp|pipe",
    "trailing space ",
    "~tilde",
];

/// The names as the host should see them (YAML escapes resolved).
fn decoded(name: &str) -> String {
    name.replace("\\\"", "\"")
        .replace("\\n", "\n")
        .replace("\\t", "\t")
}

fn hostile_odd_file_names_reach_exactly_the_named_files() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    let names: Vec<String> = ODD_NAMES.iter().map(|n| format!("\"{n}\"")).collect();
    p.file(
        "site.yml",
        &format!(
            r#"
- hosts: all
  gather_facts: false
  vars:
    names: [{}]
  tasks:
    - file: {{path: /srv/odd, state: directory}}
    - copy: {{dest: "/srv/odd/c {{{{ item }}}}", content: "copy {{{{ item }}}}\n"}}
      loop: "{{{{ names }}}}"
    - template: {{src: t.j2, dest: "/srv/odd/t {{{{ item }}}}"}}
      loop: "{{{{ names }}}}"
    - file: {{path: "/srv/odd/f {{{{ item }}}}", state: touch}}
      loop: "{{{{ names }}}}"
    - file: {{path: "/srv/odd/d {{{{ item }}}}", state: directory}}
      loop: "{{{{ names }}}}"
    - lineinfile: {{path: "/srv/odd/l {{{{ item }}}}", line: "line {{{{ item }}}}", create: true}}
      loop: "{{{{ names }}}}"
    - stat: {{path: "/srv/odd/c {{{{ item }}}}"}}
      loop: "{{{{ names }}}}"
      register: st
    - assert:
        that: "{{{{ st.results | map(attribute='stat.exists') | list | unique == [true] }}}}"
"#,
            names.join(", ")
        ),
    )?;
    p.file("templates/t.j2", "template {{ item }}\n")?;
    let first = p.run(&lab).exec()?;
    first.expect_code(0)?;
    let r = first.host("h1")?;
    // A looped task counts once in the recap, however many items changed.
    ensure(r.changed == 6 && r.failed == 0, || {
        format!("first run: {r:?}\n{}", first.stdout)
    })?;
    // Exactly the named files, nothing else (no stray temp files, no glob expansion).
    let mut expected = BTreeSet::new();
    for name in ODD_NAMES.iter().map(|n| decoded(n)) {
        for prefix in ["c", "t", "f", "d", "l"] {
            expected.insert(format!("/srv/odd/{prefix} {name}").into_bytes());
        }
        let content = |path: &str| read(&lab, 0, path);
        ensure(
            content(&format!("/srv/odd/c {name}"))?.as_deref() == Some(&format!("copy {name}\n")),
            || format!("copy content for {name:?}"),
        )?;
        ensure(
            content(&format!("/srv/odd/t {name}"))?.as_deref()
                == Some(&format!("template {name}\n")),
            || format!("template content for {name:?}"),
        )?;
        ensure(
            content(&format!("/srv/odd/l {name}"))?.as_deref() == Some(&format!("line {name}\n")),
            || format!("lineinfile content for {name:?}"),
        )?;
        ensure(
            content(&format!("/srv/odd/f {name}"))?.as_deref() == Some(""),
            || format!("touched file for {name:?}"),
        )?;
        ensure(
            lab.metadata(0, format!("/srv/odd/d {name}"))?
                .is_some_and(|m| m.is_dir()),
            || format!("directory for {name:?}"),
        )?;
    }
    let found = tree(&lab, 0, "/srv/odd")?;
    ensure(found == expected, || {
        let show = |s: &BTreeSet<Vec<u8>>| {
            s.iter()
                .map(|p| format!("{:?}", String::from_utf8_lossy(p)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!(
            "unexpected tree:\nextra:\n{}\nmissing:\n{}",
            show(&found.difference(&expected).cloned().collect()),
            show(&expected.difference(&found).cloned().collect())
        )
    })?;
    ensure(pwned(&lab, 0)?.is_empty(), || {
        format!("a name was run as a command: {:?}", pwned(&lab, 0))
    })?;
    // And all of it is idempotent.
    let second = p.run(&lab).exec()?;
    second.expect_code(0)?;
    let r = second.host("h1")?;
    // `file: state=touch` always reports a change, and lineinfile with a `line` holding a
    // newline appends it again (it never equals one line of the file): both as in Ansible.
    ensure(r.changed == 2, || {
        format!("second run: {r:?}\n{}", second.stdout)
    })?;
    Ok(())
}

fn hostile_non_utf8_names_in_a_copied_directory() -> TestResult {
    use std::os::unix::ffi::OsStrExt;
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy: {src: tree/, dest: /srv/bytes/}\n",
    )?;
    let dir = p.path().join("files/tree");
    std::fs::create_dir_all(&dir)?;
    let bad = std::ffi::OsStr::from_bytes(b"latin1-\xe9t\xe9");
    std::fs::write(dir.join(bad), "latin1\n")?;
    std::fs::write(dir.join("plain"), "plain\n")?;
    let out = p.run(&lab).exec()?;
    // Either the exact bytes arrive, or the run refuses the name; never a mangled name.
    let found = tree(&lab, 0, "/srv/bytes").unwrap_or_default();
    let mangled = found
        .iter()
        .any(|p| String::from_utf8_lossy(p).contains('\u{fffd}'));
    ensure(!mangled, || {
        format!(
            "a non-UTF-8 name arrived mangled: {found:?}\n{}",
            out.stdout
        )
    })?;
    if out.code == 0 {
        ensure(
            found.contains(b"/srv/bytes/latin1-\xe9t\xe9".as_slice()),
            || format!("non-UTF-8 name missing: {found:?}\n{}", out.stdout),
        )?;
    } else {
        out.expect_code(2)?;
        out.assert_stdout_contains("UTF-8")?;
    }
    Ok(())
}

/// Values that a shell would run if they were spliced into a command line unquoted.
const METAS: &[&str] = &[
    "; touch /tmp/pwned-1",
    "$(touch /tmp/pwned-2)",
    "`touch /tmp/pwned-3`",
    "a && touch /tmp/pwned-4",
    "a | touch /tmp/pwned-5",
    "a\ntouch /tmp/pwned-6",
    "'; touch /tmp/pwned-7; '",
    "\"; touch /tmp/pwned-8; \"",
    "a > /tmp/pwned-9",
    "${IFS}touch${IFS}/tmp/pwned-10",
];

fn yaml_quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn hostile_shell_metacharacters_in_arguments_are_data() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    let values: Vec<String> = METAS.iter().map(|v| yaml_quoted(v)).collect();
    // GECOS fields cannot hold a newline or a colon; the comment gets the rest.
    let comments: Vec<String> = METAS
        .iter()
        .filter(|v| !v.contains('\n'))
        .map(|v| yaml_quoted(v))
        .collect();
    p.file(
        "site.yml",
        &format!(
            r#"
- hosts: all
  gather_facts: false
  vars:
    values: [{}]
    comments: [{}]
  tasks:
    - file: {{path: /srv/meta, state: directory}}
    - command:
        argv: [printf, "%s", "{{{{ item }}}}"]
      loop: "{{{{ values }}}}"
      register: echoed
    - assert:
        that: "{{{{ echoed.results | map(attribute='stdout') | list == values }}}}"
    - file: {{path: "/srv/meta/{{{{ item | replace('/', '_') | replace('\n', '_') }}}}", state: touch}}
      loop: "{{{{ values }}}}"
    - lineinfile: {{path: /srv/meta/lines, line: "{{{{ item | replace('\n', ' ') }}}}", create: true}}
      loop: "{{{{ values }}}}"
    - copy: {{dest: "/srv/meta/copy-{{{{ index }}}}", content: "{{{{ item }}}}"}}
      loop: "{{{{ values }}}}"
      loop_control: {{index_var: index}}
    - user: {{name: "hostile{{{{ index }}}}", comment: "{{{{ item }}}}", create_home: false}}
      loop: "{{{{ comments }}}}"
      loop_control: {{index_var: index}}
"#,
            values.join(", "),
            comments.join(", ")
        ),
    )?;
    let out = p.run(&lab).exec()?;
    out.expect_code(0)?;
    ensure(pwned(&lab, 0)?.is_empty(), || {
        format!("injection: {:?}\n{}", pwned(&lab, 0), out.stdout)
    })?;
    let lines = read(&lab, 0, "/srv/meta/lines")?.context("lines")?;
    let wanted: String = METAS
        .iter()
        .map(|v| format!("{}\n", v.replace('\n', " ")))
        .collect();
    ensure(lines == wanted, || format!("lineinfile wrote {lines:?}"))?;
    for (i, value) in METAS.iter().enumerate() {
        ensure(
            read(&lab, 0, &format!("/srv/meta/copy-{i}"))?.as_deref() == Some(*value),
            || format!("copy content {i} for {value:?}"),
        )?;
        let name = value.replace(['/', '\n'], "_");
        ensure(
            read(&lab, 0, &format!("/srv/meta/{name}"))?.is_some(),
            || format!("touched file for {value:?}"),
        )?;
    }
    let passwd = read(&lab, 0, "/etc/passwd")?.context("passwd")?;
    for (i, value) in METAS.iter().filter(|v| !v.contains('\n')).enumerate() {
        let line = passwd
            .lines()
            .find(|l| l.starts_with(&format!("hostile{i}:")))
            .with_context(|| format!("user hostile{i} missing"))?;
        let gecos = line.split(':').nth(4).unwrap_or_default();
        ensure(gecos == *value, || {
            format!("hostile{i} comment {gecos:?}, wanted {value:?}")
        })?;
    }
    Ok(())
}

fn hostile_symlinked_destinations_follow_ansible() -> TestResult {
    let lab = lab(1)?;
    let setup = lab.ssh(
        0,
        "set -e; mkdir -p /srv/sl; cd /srv/sl; \
         for f in copy tmpl lif touch; do echo target > real-$f; ln -s real-$f link-$f; done; \
         ln -s missing-copy dangling-copy; ln -s missing-lif dangling-lif; \
         mkdir realdir; ln -s realdir linkdir",
    )?;
    ensure(setup.status.success(), || "setup".into())?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy: {dest: /srv/sl/link-copy, content: "new\n"}
    - template: {dest: /srv/sl/link-tmpl, src: t.j2}
    - lineinfile: {path: /srv/sl/link-lif, line: added}
    - file: {path: /srv/sl/link-touch, state: touch, mode: "0600"}
    - copy: {dest: /srv/sl/dangling-copy, content: "new\n"}
    - lineinfile: {path: /srv/sl/dangling-lif, line: added, create: true}
    - copy: {dest: /srv/sl/linkdir/f, content: "via link\n"}
"#,
    )?;
    p.file("templates/t.j2", "tmpl\n")?;
    p.run(&lab).exec()?.expect_code(0)?;
    // What ansible-playbook 2.19 leaves (recorded from it): copy and template replace a
    // symlink with a file (follow: no); lineinfile and file follow it; a symlinked parent
    // directory is used as the directory it points to.
    let out = lab.ssh(
        0,
        "cd /srv/sl && for f in *; do printf '%s=' \"$f\"; \
         if [ -L \"$f\" ]; then printf 'link->%s ' \"$(readlink \"$f\")\"; fi; \
         if [ -f \"$f\" ]; then printf '[%s] %s' \"$(tr '\\n' '|' < \"$f\")\" \"$(stat -L -c %a \"$f\")\"; fi; \
         echo; done; ls realdir",
    )?;
    let got = String::from_utf8_lossy(&out.stdout).into_owned();
    let want = "dangling-copy=[new|] 644\n\
                dangling-lif=link->missing-lif [added|] 644\n\
                link-copy=[new|] 644\n\
                link-lif=link->real-lif [target|added|] 644\n\
                link-tmpl=[tmpl|] 644\n\
                link-touch=link->real-touch [target|] 600\n\
                linkdir=link->realdir \n\
                missing-lif=[added|] 644\n\
                real-copy=[target|] 644\n\
                real-lif=[target|added|] 644\n\
                real-tmpl=[target|] 644\n\
                real-touch=[target|] 600\n\
                realdir=\n\
                f\n";
    ensure(got == want, || {
        format!("host state:\n{got}\nwanted:\n{want}")
    })?;
    Ok(())
}

fn hostile_planted_temp_names_are_never_followed() -> TestResult {
    let lab = lab(1)?;
    // Symlinks at every name a naive writer might use for its temporary file, all pointing at
    // a file outside the destination directory that must stay untouched.
    let setup = lab.ssh(
        0,
        "set -e; echo precious > /root/outside; mkdir -p /srv/plant; cd /srv/plant; \
         for n in .tend.tmp .tend .conf.tmp conf.tmp .conf.swp conf~ .tend.XXXXXXXX \
                  .conf.tend .tend.conf .tend.1 .tend.$$ .ansible_tmp; do \
           ln -s /root/outside \"$n\"; done; echo old > conf",
    )?;
    ensure(setup.status.success(), || "setup".into())?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy: {dest: /srv/plant/conf, content: "copied\n"}
    - template: {dest: /srv/plant/conf2, src: t.j2}
    - lineinfile: {path: /srv/plant/conf, line: "lined"}
    - blockinfile: {path: /srv/plant/conf, block: "blocked"}
    - replace: {path: /srv/plant/conf, regexp: "copied", replace: "replaced"}
    - ini_file: {path: /srv/plant/conf3, section: s, option: o, value: v}
"#,
    )?;
    p.file("templates/t.j2", "tmpl\n")?;
    p.run(&lab).exec()?.expect_code(0)?;
    ensure(
        read(&lab, 0, "/root/outside")?.as_deref() == Some("precious\n"),
        || "a write followed a planted symlink out of the directory".into(),
    )?;
    let conf = read(&lab, 0, "/srv/plant/conf")?.unwrap_or_default();
    ensure(conf.starts_with("replaced\nlined\n"), || {
        format!("conf is {conf:?}")
    })?;
    // No temporary file left behind either.
    let left = lab.ssh(0, "find /srv/plant -name '.tend.*' ! -type l")?;
    ensure(left.stdout.is_empty(), || {
        format!("left over: {}", String::from_utf8_lossy(&left.stdout))
    })?;
    Ok(())
}

fn hostile_changed_host_key_refuses_only_that_host() -> TestResult {
    let lab = lab(3)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - copy: {dest: /tmp/run-mark, content: \"{{ run }}\\n\"}\n",
    )?;
    let kh = p.path().join("known_hosts");
    std::fs::copy(lab.known_hosts(), &kh)?;
    p.run(&lab)
        .known_hosts(Some(kh.clone()))
        .arg("-e")
        .arg("run=1")
        .exec()?
        .expect_code(0)?;
    // h2 now presents a key other than the recorded one: record a fresh key in its place.
    let other = p.path().join("otherkey");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()?;
    ensure(st.success(), || "ssh-keygen".into())?;
    let pubkey = std::fs::read_to_string(other.with_extension("pub"))?;
    let fields: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    let h2 = lab.hosts()[1].address.to_string();
    let recorded = std::fs::read_to_string(&kh)?;
    let rewritten: String = recorded
        .lines()
        .map(|line| {
            let host = line.split_whitespace().next().unwrap_or_default();
            let bare = host
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default();
            if bare == h2 && line.contains("ssh-ed25519") {
                format!("{host} {} {}\n", fields[0], fields[1])
            } else if bare == h2 {
                String::new()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    std::fs::write(&kh, rewritten)?;
    let out = p
        .run(&lab)
        .known_hosts(Some(kh))
        .arg("-e")
        .arg("run=2")
        .exec()?;
    out.expect_code(4)?;
    out.assert_stdout_contains("UNREACHABLE")?;
    out.assert_stdout_contains("REMOTE HOST IDENTIFICATION HAS CHANGED")?;
    let recap = out.recap()?;
    let h = |name: &str| recap.get(name).cloned().unwrap_or_default();
    ensure(h("h2").unreachable == 1 && h("h2").ok == 0, || {
        format!("h2: {:?}\n{}", h("h2"), out.stdout)
    })?;
    for name in ["h1", "h3"] {
        ensure(h(name).changed == 1 && h(name).unreachable == 0, || {
            format!("{name}: {:?}\n{}", h(name), out.stdout)
        })?;
    }
    ensure(
        read(&lab, 1, "/tmp/run-mark")?.as_deref() == Some("1\n"),
        || "the host with the changed key was written to".into(),
    )?;
    ensure(
        read(&lab, 0, "/tmp/run-mark")?.as_deref() == Some("2\n"),
        || "h1 did not run".into(),
    )?;
    Ok(())
}

fn hostile_duplicate_inventory_hosts_run_once_with_merged_vars() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    // h1 in two groups, twice in one group, and again in a second inventory file.
    p.file(
        "a.ini",
        "[web]\nh1 x=web1 y=web\nh1 x=web2\nh2\n[db]\nh1 x=db z=db\n[db:vars]\ndbv=1\n[web:vars]\nwebv=1\n",
    )?;
    p.file("b.ini", "[other]\nh1 x=other w=other\n")?;
    p.file(
        "site.yml",
        r#"
- hosts: web:db:other
  gather_facts: false
  tasks:
    - copy:
        dest: /tmp/vars
        content: "{{ [x | default('-'), y | default('-'), z | default('-'), w | default('-'), dbv | default('-'), webv | default('-')] | join(' ') }} {{ group_names | join(',') }}\n"
    - shell: echo run >> /tmp/runs
"#,
    )?;
    let out = p
        .run(&lab)
        .arg("-i")
        .arg(p.path().join("a.ini").display().to_string())
        .arg("-i")
        .arg(p.path().join("b.ini").display().to_string())
        .exec()?;
    out.expect_code(0)?;
    // ansible-inventory -i a.ini -i b.ini --host h1 gives x=other, y=web, z=db, w=other,
    // dbv=1, webv=1; h1 is in db, other and web.
    ensure(
        read(&lab, 0, "/tmp/vars")?.as_deref() == Some("other web db other 1 1 db,other,web\n"),
        || format!("h1 vars: {:?}", read(&lab, 0, "/tmp/vars")),
    )?;
    ensure(
        read(&lab, 1, "/tmp/vars")?.as_deref() == Some("- - - - - 1 web\n"),
        || format!("h2 vars: {:?}", read(&lab, 1, "/tmp/vars")),
    )?;
    for i in 0..2 {
        ensure(
            read(&lab, i, "/tmp/runs")?.as_deref() == Some("run\n"),
            || {
                format!(
                    "host {i} did not run exactly once: {:?}",
                    read(&lab, i, "/tmp/runs")
                )
            },
        )?;
    }
    let recap = out.recap()?;
    ensure(recap.len() == 2, || format!("recap: {recap:?}"))?;
    let shell_lines = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("changed: [h1]"))
        .count();
    ensure(shell_lines == 2, || {
        format!(
            "h1 reported {shell_lines} changes, wanted 2:\n{}",
            out.stdout
        )
    })?;
    Ok(())
}

fn hostile_huge_file_and_huge_template_output() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    // 50 MiB of deterministic, incompressible-looking bytes.
    let mut data = Vec::with_capacity(50 << 20);
    let mut block = Sha256::digest(b"tend hostile huge file").to_vec();
    while data.len() < 50 << 20 {
        data.extend_from_slice(&block);
        block = Sha256::digest(&block).to_vec();
    }
    data.truncate(50 << 20);
    std::fs::create_dir_all(p.path().join("files"))?;
    std::fs::write(p.path().join("files/huge.bin"), &data)?;
    // About 12 MiB of template output.
    p.file(
        "templates/big.j2",
        "{% for i in range(1000) %}{% for j in range(200) %}row {{ i }} {{ j }} {{ pad }}\n{% endfor %}{% endfor %}",
    )?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  vars:
    pad: "0123456789012345678901234567890123456789012345"
  tasks:
    - copy: {src: huge.bin, dest: /srv/huge.bin, mode: "0600"}
    - template: {src: big.j2, dest: /srv/big.txt}
"#,
    )?;
    let out = p.run(&lab).exec()?;
    out.expect_code(0)?;
    ensure(out.host("h1")?.changed == 2, || out.stdout.clone())?;
    let sum = |path: &str| -> Result<String> {
        let o = lab.ssh(0, &format!("sha256sum {path}"))?;
        Ok(String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string())
    };
    let want = format!("{:x}", Sha256::digest(&data));
    ensure(sum("/srv/huge.bin")? == want, || "huge.bin hash".into())?;
    let mut text = String::new();
    for i in 0..1000 {
        for j in 0..200 {
            text.push_str(&format!(
                "row {i} {j} 0123456789012345678901234567890123456789012345\n"
            ));
        }
    }
    let want = format!("{:x}", Sha256::digest(text.as_bytes()));
    ensure(sum("/srv/big.txt")? == want, || "big.txt hash".into())?;
    // Idempotent: the second run compares checksums, not 60 MiB of content.
    let again = p.run(&lab).exec()?;
    again.expect_code(0)?;
    ensure(again.host("h1")?.changed == 0, || again.stdout.clone())?;
    Ok(())
}
