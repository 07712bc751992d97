//! Vaulted playbooks, task files, role files and `vars_files`, and inline `!vault` values,
//! compiled with a keyring installed as the binary installs it; errors name the file and do not
//! show decrypted lines.

use std::path::Path;

use serde_json::json;

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

#[test]
fn vaulted_files_and_values_compile() {
    tend_modules::link();
    let secret = tend_vault::Secret::new("pw");
    let mut ring = tend_vault::Keyring::new();
    ring.add("default", secret.clone());
    tend_vault::install(ring);
    let vaulted = |text: &str| tend_vault::encrypt(text.as_bytes(), &secret, None).expect("enc");
    let inline = tend_vault::encrypt(b"inline-secret", &secret, None).expect("enc");
    let inline: String = inline.lines().map(|l| format!("      {l}\n")).collect();

    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        &root.join("secrets.yml"),
        &vaulted("from_file: file-secret\n"),
    );
    write(
        &root.join("roles/r/tasks/main.yml"),
        &vaulted("- debug: msg=role\n"),
    );
    write(&root.join("tasks.yml"), &vaulted("- debug: msg=included\n"));
    write(
        &root.join("site.yml"),
        &vaulted(&format!(
            "- hosts: all\n  vars_files: [secrets.yml]\n  vars:\n    token: !vault |\n{inline}  roles: [r]\n  tasks:\n    - import_tasks: tasks.yml\n"
        )),
    );
    let playbook = tend_playbook::load_playbook(&root.join("site.yml")).expect("compiles");
    let play = &playbook.plays[0];
    assert_eq!(play.vars.get("from_file"), Some(&json!("file-secret")));
    assert_eq!(play.vars.get("token"), Some(&json!("inline-secret")));

    // A syntax error inside a vaulted vars file: the file and line, but not the line's text.
    write(
        &root.join("secrets.yml"),
        &vaulted("a: 1\nleaked: \"hunter2\n"),
    );
    let err = tend_playbook::load_playbook(&root.join("site.yml"))
        .expect_err("bad vars file")
        .to_string();
    assert!(err.contains("secrets.yml:2:"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    // A wrong password for the vars file: the error names it.
    write(
        &root.join("secrets.yml"),
        &tend_vault::encrypt(b"x: 1\n", &tend_vault::Secret::new("other"), None).expect("enc"),
    );
    let err = tend_playbook::load_playbook(&root.join("site.yml"))
        .expect_err("wrong password")
        .to_string();
    assert!(err.contains("cannot read vars file"), "{err}");
    assert!(err.contains("secrets.yml"), "{err}");
    assert!(
        err.contains("Decryption failed (no vault secrets were found that could decrypt)."),
        "{err}"
    );
}
