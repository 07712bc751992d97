//! CI dry runs on lab hosts: `--detailed-exitcode`, the JSON, JUnit and Markdown reports,
//! `no_log` in every output, `-vv`/`-vvv`/`-vvvv`, colours, the progress line and `--profile`.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::support::{ensure, lab, read, Output, Project, TestResult};

type Case = (&'static str, fn() -> TestResult);

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        vec![$((concat!("reports::", stringify!($name)), $name as fn() -> TestResult)),*]
    };
}

pub fn all() -> Vec<Case> {
    cases![
        check_run_reports_pending_changes_in_every_format,
        detailed_exit_codes_add_up_failures_unreachable_and_changes,
        json_report_on_stdout_moves_the_human_output_to_stderr,
        verbosity_levels_show_paths_commands_and_output_but_not_no_log,
        colours_progress_and_profile,
    ]
}

/// A secret that must never show in any output.
const SECRET: &str = "hunter2-s3cr3t";

fn site() -> String {
    format!(
        r#"
- name: configure
  hosts: all
  gather_facts: false
  tasks:
    - name: write config
      copy:
        dest: /srv/app.conf
        content: "port=80\nname={{{{ inventory_hostname }}}}\n"
    - name: marker files
      file: path=/srv/{{{{ item }}}} state=directory
      loop: [a, b]
    - name: secret file
      copy: dest=/srv/secret content="{SECRET}\n" mode=0600
      no_log: true
    - name: never
      debug: msg=never
      when: false
"#
    )
}

fn json_file(p: &Project, name: &str) -> Result<Value> {
    let text = std::fs::read_to_string(p.path().join(name)).with_context(|| name.to_string())?;
    serde_json::from_str(&text).with_context(|| format!("{name} is not JSON:\n{text}"))
}

/// Fails if `text` shows the secret.
fn no_secret(what: &str, text: &str) -> Result<()> {
    ensure(!text.contains(SECRET), || {
        format!("{what} shows the no_log secret:\n{text}")
    })
}

/// Checks XML well-formedness with the system Python's parser, which CI machines have.
fn well_formed_xml(path: &std::path::Path) -> Result<()> {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])")
        .arg(path)
        .output()
        .context("running python3 to parse the JUnit report")?;
    ensure(out.status.success(), || {
        format!(
            "{} is not well-formed XML: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check_run_reports_pending_changes_in_every_format() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file("site.yml", &site())?;
    let out = p
        .run(&lab)
        .check()
        .diff()
        .arg("--detailed-exitcode")
        .arg("--report=json=out/run.json")
        .arg("--report=junit=out/run.xml")
        .arg("--report=markdown=out/run.md")
        .exec();
    // The reports' directory must exist: a missing one is an error, not a silent loss.
    let out = out?;
    ensure(out.code == 1, || {
        format!("a missing report directory should fail the run: {out:?}")
    })?;
    std::fs::create_dir(p.path().join("out"))?;
    let out = p
        .run(&lab)
        .check()
        .diff()
        .arg("--detailed-exitcode")
        .arg("--report=json=out/run.json")
        .arg("--report=junit=out/run.xml")
        .arg("--report=markdown=out/run.md")
        .exec()?;
    // Changes pending, nothing failed: 8.
    out.expect_code(8)?;
    for i in 0..2 {
        ensure(read(&lab, i, "/srv/app.conf")?.is_none(), || {
            "--check wrote a file".into()
        })?;
    }
    no_secret("stdout", &out.stdout)?;

    let json = json_file(&p, "out/run.json")?;
    let json_text = json.to_string();
    no_secret("the JSON report", &json_text)?;
    ensure(
        json["tend"]["check"] == true && json["tend"]["exit_code"] == 8,
        || format!("run summary: {}", json["tend"]),
    )?;
    ensure(json["tend"]["schema"] == 1, || "schema".into())?;
    let tasks = json["plays"][0]["tasks"]
        .as_array()
        .context("plays[0].tasks")?;
    let names: Vec<&str> = tasks
        .iter()
        .filter_map(|t| t["task"]["name"].as_str())
        .collect();
    ensure(
        names == ["write config", "marker files", "secret file", "never"],
        || format!("task names {names:?}"),
    )?;
    let config = &tasks[0]["hosts"]["h2"];
    ensure(config["tend"]["status"] == "changed", || config.to_string())?;
    ensure(config["diff"][0]["after"] == "port=80\nname=h2\n", || {
        format!("diff of write config: {config}")
    })?;
    ensure(tasks[0]["task"]["path"] == "site.yml:6", || {
        format!("task path {}", tasks[0]["task"]["path"])
    })?;
    // A loop's whole result, with its items inside.
    let marker = &tasks[1]["hosts"]["h1"];
    ensure(
        marker["results"].as_array().map(Vec::len) == Some(2),
        || format!("loop result: {marker}"),
    )?;
    let secret = &tasks[2]["hosts"]["h1"];
    ensure(
        secret.get("censored").is_some() && secret.get("diff").is_none(),
        || format!("no_log result: {secret}"),
    )?;
    ensure(tasks[3]["hosts"]["h1"]["skipped"] == true, || {
        tasks[3].to_string()
    })?;
    ensure(
        json["stats"]["h1"]["changed"] == 3 && json["stats"]["h1"]["skipped"] == 1,
        || format!("stats {}", json["stats"]),
    )?;

    let xml_path = p.path().join("out/run.xml");
    well_formed_xml(&xml_path)?;
    let xml = std::fs::read_to_string(&xml_path)?;
    no_secret("the JUnit report", &xml)?;
    ensure(xml.matches("<testcase ").count() == 8, || {
        format!("want 4 tasks x 2 hosts:\n{xml}")
    })?;
    ensure(
        xml.contains(r#"<testcase name="[h1] TASK [write config]" classname="site.yml""#)
            && xml.contains("+name=h1")
            && xml.contains(r#"tests="8" failures="0" errors="0" skipped="2""#),
        || xml.clone(),
    )?;

    let md = std::fs::read_to_string(p.path().join("out/run.md"))?;
    no_secret("the Markdown report", &md)?;
    ensure(
        md.contains("(check mode): 6 changes pending on 2 of 2 hosts")
            && md.matches("<details>").count() == 2
            && md.contains("```diff")
            && md.contains("+name=h2")
            // The loop's item diffs are gathered under the loop task.
            && md.contains("+state: directory"),
        || md.clone(),
    )?;

    // A real run, then a re-run: the reports say what happened each time.
    p.run(&lab)
        .arg("--detailed-exitcode")
        .exec()?
        .expect_code(8)?;
    let again = p
        .run(&lab)
        .check()
        .arg("--detailed-exitcode")
        .arg("--report=markdown=out/run.md")
        .arg("--report=json=out/run.json")
        .exec()?;
    again.expect_code(0)?;
    let md = std::fs::read_to_string(p.path().join("out/run.md"))?;
    ensure(
        md.contains("no changes pending") && !md.contains("<details"),
        || md.clone(),
    )?;
    let json = json_file(&p, "out/run.json")?;
    ensure(json["tend"]["changed"] == false, || {
        json["tend"].to_string()
    })?;
    Ok(())
}

fn detailed_exit_codes_add_up_failures_unreachable_and_changes() -> TestResult {
    let lab = lab(2)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: touch
      file: path=/srv/touched state=touch
    - name: fails on h2
      shell: echo "broken pipe on purpose" >&2; exit 3
      when: inventory_hostname == 'h2'
"#,
    )?;
    let ini = std::fs::read_to_string(lab.inventory_ini())?;
    let inv = p.file(
        "hosts.ini",
        &format!("{ini}\nghost ansible_host=127.0.0.254 ansible_port=2 ansible_user=root\n"),
    )?;
    let run = |detailed: bool| -> Result<Output> {
        let mut r = p
            .run(&lab)
            .inventory(inv.display().to_string())
            .arg("-T")
            .arg("3")
            .arg("--report=junit=run.xml")
            .arg("--report=markdown=run.md");
        if detailed {
            r = r.arg("--detailed-exitcode");
        }
        r.exec()
    };
    // Without the option: ansible-playbook's code (4 wins over 2).
    run(false)?.expect_code(4)?;
    // With it: failed (2) | unreachable (4) | changed (8) — h1 touched again each run.
    let out = run(true)?;
    out.expect_code(14)?;
    // The failing task names its path in the human output.
    out.assert_stdout_contains("task path: site.yml:7")?;
    let xml_path = p.path().join("run.xml");
    well_formed_xml(&xml_path)?;
    let xml = std::fs::read_to_string(&xml_path)?;
    ensure(
        xml.contains(r#"failures="1" errors="1""#)
            && xml.contains(r#"<error message="#)
            && xml.contains(r#"type="unreachable""#)
            && xml.contains("broken pipe on purpose"),
        || xml.clone(),
    )?;
    let md = std::fs::read_to_string(p.path().join("run.md"))?;
    ensure(
        md.contains("2 hosts failed or unreachable")
            && md.contains("<details open><summary><b>h2</b>")
            && md.contains("rc: 3")
            && md.contains("broken pipe on purpose"),
        || md.clone(),
    )?;
    Ok(())
}

fn json_report_on_stdout_moves_the_human_output_to_stderr() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file("site.yml", &site())?;
    let out = p.run(&lab).diff().arg("--report").arg("json").exec()?;
    out.expect_code(0)?;
    let json: Value = serde_json::from_str(&out.stdout)
        .with_context(|| format!("stdout is not the JSON report:\n{}", out.stdout))?;
    ensure(json["stats"]["h1"]["changed"] == 3, || {
        json["stats"].to_string()
    })?;
    out.assert_stderr_contains("PLAY RECAP")?;
    out.assert_stderr_contains("changed: [h1]")?;
    no_secret("stderr", &out.stderr)?;
    no_secret("the JSON on stdout", &out.stdout)?;
    // Two reports cannot share stdout.
    let both = p
        .run(&lab)
        .arg("--report=json")
        .arg("--report=junit")
        .exec()?;
    both.expect_code(1)?;
    both.assert_stderr_contains("only one --report can go to stdout")?;
    Ok(())
}

fn verbosity_levels_show_paths_commands_and_output_but_not_no_log() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file("site.yml", &site())?;
    let vv = p.run(&lab).check().arg("-vv").exec()?;
    vv.expect_code(0)?;
    vv.assert_stdout_contains("task path: site.yml:6")?;
    ensure(!vv.stdout.contains("EXEC"), || "-vv shows commands".into())?;

    let vvv = p.run(&lab).arg("-vvv").exec()?;
    vvv.expect_code(0)?;
    vvv.assert_stdout_contains("<h1> EXEC ")?;
    vvv.assert_stdout_contains("<h1> rc=0 (")?;
    ensure(!vvv.stdout.contains("<h1> STDOUT:"), || {
        "-vvv shows command output".into()
    })?;
    no_secret("-vvv output", &vvv.stdout)?;
    // The no_log task runs no command that is shown: the secret's file name never appears.
    ensure(!vvv.stdout.contains("/srv/secret"), || {
        format!("-vvv shows a no_log task's commands:\n{}", vvv.stdout)
    })?;

    let vvvv = p.run(&lab).arg("-vvvv").exec()?;
    vvvv.expect_code(0)?;
    vvvv.assert_stdout_contains("<h1> STDOUT:")?;
    no_secret("-vvvv output", &vvvv.stdout)?;
    no_secret("-vvvv stderr", &vvvv.stderr)?;
    // Debug logs (TEND_LOG) name the commands they run, except a no_log task's.
    p.file(
        "raw.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: echo visible-marker\n    - raw: echo {SECRET} > /srv/raw-secret\n      no_log: true\n"
        ),
    )?;
    let logged = p
        .run(&lab)
        .playbook("raw.yml")
        .env("TEND_LOG", "debug")
        .exec()?;
    logged.expect_code(0)?;
    logged.assert_stderr_contains("exec echo visible-marker")?;
    logged.assert_stderr_contains("exec (command hidden: no_log)")?;
    no_secret("debug logs", &logged.stderr)?;
    no_secret("stdout with debug logs", &logged.stdout)?;
    ensure(
        read(&lab, 0, "/srv/raw-secret")?.is_some_and(|t| t.contains(SECRET)),
        || "the no_log raw task did not run".into(),
    )?;

    let written = read(&lab, 0, "/srv/secret")?.unwrap_or_default();
    ensure(written.contains(SECRET), || {
        format!("the no_log task did not write its file: {written:?}")
    })?;
    Ok(())
}

fn colours_progress_and_profile() -> TestResult {
    let lab = lab(1)?;
    let p = Project::new()?;
    p.file(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: slow
      command: sleep 3
    - name: quick
      file: path=/srv/quick state=touch
"#,
    )?;
    // NO_COLOR (set by the test builder) and a pipe: plain text, no progress line.
    let plain = p.run(&lab).check().diff().exec()?;
    plain.expect_code(0)?;
    ensure(
        !plain.stdout.contains('\x1b') && !plain.stderr.contains('\x1b'),
        || format!("escape codes without a terminal: {plain:?}"),
    )?;
    let coloured = p
        .run(&lab)
        .diff()
        .arg("--color=always")
        .arg("--progress=always")
        .arg("--profile")
        .exec()?;
    coloured.expect_code(0)?;
    // changed lines yellow, diff additions green.
    coloured.assert_stdout_contains("\x1b[0;33mchanged: [h1]")?;
    coloured.assert_stdout_contains("\x1b[0;32m+state: touch\x1b[0m")?;
    // The progress line showed the slow task while it ran, on stderr.
    coloured.assert_stderr_contains("task 1 [slow] · 0/1 hosts")?;
    // Timings: the slow task first, with its time.
    let timings = coloured
        .stdout
        .split("TASK TIMINGS")
        .nth(1)
        .context("no TASK TIMINGS section")?;
    let first = timings.lines().nth(1).unwrap_or_default();
    ensure(
        first.starts_with("TASK [slow] ---") && first.ends_with('s'),
        || format!("timings:\n{timings}"),
    )?;
    ensure(
        timings.contains("TASK [quick]") && timings.contains("total: "),
        || timings.to_string(),
    )?;
    Ok(())
}
