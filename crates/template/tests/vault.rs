//! Vault in templates: the `file`, `template`, `ini` and `unvault` lookups decrypt vaulted files
//! with the installed keyring, and the `vault`/`unvault` filters read and write the text
//! `ansible-vault` does.
//!
//! Fixtures under `tests/fixtures/vault` were written by ansible-vault 2.19 (ansible-core): the
//! password `pw` for the 1.1 files and `filter-default.vault` (`--vault-id
//! filter_default@…`), `devpw` for `files/vaulted-dev.txt` (`--vault-id dev@…`).
//! `salted.json` holds what ansible-playbook's `vault` filter gave for fixed salts
//! (`salted.yml` recorded it).

use std::path::{Path, PathBuf};
use std::sync::Once;

use serde_json::{json, Value as Json};
use tend_template::{TemplateError, Templater};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault")
}

fn fixture(name: &str) -> String {
    let path = fixtures().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The keyring `--vault-id pw --vault-id dev@devpw` would install; every test of this binary
/// uses the same one.
fn install_keyring() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut ring = tend_vault::Keyring::new();
        ring.add("default", tend_vault::Secret::new("pw"));
        ring.add("dev", tend_vault::Secret::new("devpw"));
        tend_vault::install(ring);
    });
}

fn vars() -> Json {
    json!({ "playbook_dir": fixtures().to_string_lossy(), "who": "world" })
}

fn render(s: &str, vars: &Json) -> Json {
    install_keyring();
    Templater::new()
        .render_str(s, vars)
        .unwrap_or_else(|e| panic!("{s:?} failed: {e}"))
}

fn render_err(s: &str, vars: &Json) -> String {
    install_keyring();
    match Templater::new().render_str(s, vars) {
        Ok(v) => panic!("{s:?} should fail, gave {v}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn file_lookup_decrypts_vaulted_files() {
    let vars = vars();
    // rstrip as for any file; the plaintext ends with two newlines.
    assert_eq!(
        render("{{ lookup('file', 'vaulted.txt') }}", &vars),
        json!("vaulted secret")
    );
    assert_eq!(
        render("{{ lookup('file', 'vaulted.txt', rstrip=False) }}", &vars),
        json!("vaulted secret\n\n")
    );
    // A 1.2 file is decrypted by the secret its header names.
    assert_eq!(
        render("{{ lookup('file', 'vaulted-dev.txt') }}", &vars),
        json!("dev secret")
    );
    // `first_found` then `file`, as playbooks pick a per-host secret file.
    assert_eq!(
        render(
            "{{ lookup('file', lookup('first_found', ['nope.txt', 'files/vaulted-dev.txt'])) }}",
            &vars
        ),
        json!("dev secret")
    );
    // `with_file`.
    install_keyring();
    let items = Templater::new()
        .run_lookup("file", json!(["vaulted.txt", "vaulted-dev.txt"]), &vars)
        .unwrap_or_else(|e| panic!("with_file: {e}"));
    assert_eq!(items, vec![json!("vaulted secret"), json!("dev secret")]);
}

#[test]
fn a_file_no_secret_decrypts_fails_with_ansibles_message() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let text = tend_vault::encrypt(b"x", &tend_vault::Secret::new("other"), None)
        .unwrap_or_else(|e| panic!("encrypt: {e}"));
    std::fs::write(dir.path().join("other.txt"), text).unwrap_or_else(|e| panic!("write: {e}"));
    let vars = json!({ "playbook_dir": dir.path().to_string_lossy() });
    assert_eq!(
        render_err("{{ lookup('file', 'other.txt') }}", &vars),
        "The lookup plugin 'file' failed: Unable to access the file 'other.txt': \
         Decryption failed (no vault secrets were found that could decrypt)."
    );
    assert_eq!(
        render_err("{{ lookup('unvault', 'other.txt') }}", &vars),
        "The lookup plugin 'unvault' failed: \
         Decryption failed (no vault secrets were found that could decrypt)."
    );
    // errors='ignore' applies as to any plugin failure.
    assert_eq!(
        render(
            "{{ lookup('file', 'other.txt', errors='ignore') is none }}",
            &vars
        ),
        json!(true)
    );
}

#[test]
fn unvault_lookup_gives_the_content_unstripped_and_untemplated() {
    let vars = vars();
    assert_eq!(
        render("{{ lookup('unvault', 'vaulted.txt') }}", &vars),
        json!("vaulted secret\n\n")
    );
    assert_eq!(
        render(
            "{{ lookup('ansible.builtin.unvault', 'vaulted-dev.txt') }}",
            &vars
        ),
        json!("dev secret\n")
    );
    // The template file's text, not rendered.
    assert_eq!(
        render("{{ lookup('unvault', 'templates/greet.j2') }}", &vars),
        json!("hello {{ who }} from a vaulted template\n")
    );
    // A file that is not vaulted is read as it is.
    assert_eq!(
        render(
            "{{ lookup('unvault', 'salted.yml') | length > 100 }}",
            &vars
        ),
        json!(true)
    );
    assert_eq!(
        render(
            "{{ query('unvault', 'vaulted.txt', 'vaulted-dev.txt') }}",
            &vars
        ),
        json!(["vaulted secret\n\n", "dev secret\n"])
    );
    assert_eq!(
        render_err("{{ lookup('unvault', 'missing.txt') }}", &vars),
        "The lookup plugin 'unvault' failed: Unable to find file matching \"missing.txt\""
    );
    install_keyring();
    let items = Templater::new()
        .run_lookup("unvault", json!(["vaulted-dev.txt"]), &vars)
        .unwrap_or_else(|e| panic!("with_unvault: {e}"));
    assert_eq!(items, vec![json!("dev secret\n")]);
}

#[test]
fn template_and_ini_lookups_decrypt_csvfile_does_not() {
    let vars = vars();
    assert_eq!(
        render("{{ lookup('template', 'greet.j2') }}", &vars),
        json!("hello world from a vaulted template\n")
    );
    assert_eq!(
        render(
            "{{ lookup('ini', 'password', section='db', file='db.ini') }}",
            &vars
        ),
        json!("s3cret")
    );
    // Ansible's csvfile opens the file itself: the vault text is what it searches.
    assert_eq!(
        render(
            "{{ lookup('csvfile', '$ANSIBLE_VAULT file=db.ini delimiter=; col=2') }}",
            &vars
        ),
        json!("AES256")
    );
}

#[test]
fn vault_filter_matches_ansible_byte_for_byte_with_a_salt() {
    let recorded: Json = serde_json::from_str(&fixture("salted.json"))
        .unwrap_or_else(|e| panic!("salted.json: {e}"));
    let cases = recorded.as_array().unwrap_or_else(|| panic!("a list"));
    assert_eq!(cases.len(), 4);
    for case in cases {
        let (args, expected) = (&case[0], &case[1]);
        let mut call = String::from("data | vault(secret, salt=salt");
        if args.get("vault_id").is_some() {
            call.push_str(", vault_id=vault_id");
        }
        call.push(')');
        let got = render(&format!("{{{{ {call} }}}}"), args);
        assert_eq!(&got, expected, "{args}");
        // And back, with the filter and with a keyring.
        let back = render(&format!("{{{{ {call} | unvault(secret) }}}}"), args);
        assert_eq!(&back, &args["data"]);
    }
}

#[test]
fn vault_filter_output_is_ansible_vault_text() {
    let vars = json!({ "pw": "pw" });
    let text = render("{{ 'x' | vault(pw) }}", &vars);
    let text = text.as_str().unwrap_or_else(|| panic!("a string: {text}"));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("$ANSIBLE_VAULT;1.2;AES256;filter_default")
    );
    assert!(lines.all(|l| l.len() <= 80 && l.bytes().all(|b| b.is_ascii_hexdigit())));
    assert!(text.ends_with('\n'));
    let mut ring = tend_vault::Keyring::new();
    ring.add("any", tend_vault::Secret::new("pw"));
    let decrypted = ring
        .decrypt(text.as_bytes())
        .unwrap_or_else(|e| panic!("decrypt: {e}"));
    assert_eq!(decrypted.plaintext.as_slice(), b"x");
    // A fresh salt every time.
    assert_ne!(render("{{ 'x' | vault(pw) }}", &vars).as_str(), Some(text));
    // No id (or `default`) gives a 1.1 header; the FQCN works.
    assert!(render(
        "{{ 'x' | ansible.builtin.vault('pw', vault_id=none) }}",
        &vars
    )
    .as_str()
    .is_some_and(|t| t.starts_with("$ANSIBLE_VAULT;1.1;AES256\n")));
}

#[test]
fn unvault_filter_reads_ansible_vault_output() {
    let vars = json!({
        "fd": fixture("filter-default.vault"),
        "v11": fixture("v11.vault"),
        "dev": fixture("files/vaulted-dev.txt"),
    });
    assert_eq!(
        render("{{ fd | unvault('pw') }}", &vars),
        json!("filter plaintext")
    );
    assert_eq!(
        render("{{ v11 | unvault('pw') }}", &vars),
        json!("multi\nline\n")
    );
    // The filter's vault id need not match the header's.
    assert_eq!(
        render("{{ dev | unvault('devpw', vault_id='other') }}", &vars),
        json!("dev secret\n")
    );
    // Only the filter's secret counts, not the installed keyring.
    assert_eq!(
        render_err("{{ dev | unvault('pw') }}", &vars),
        "Unable to decrypt: Decryption failed (no vault secrets were found that could decrypt)."
    );
    // Text that is not vaulted comes back as it is.
    assert_eq!(
        render("{{ 'plain' | unvault('pw') }}", &vars),
        json!("plain")
    );
}

#[test]
fn filter_errors_are_ansibles() {
    let vars = json!({});
    for (template, message) in [
        (
            "{{ 1 | vault('pw') }}",
            "Can only vault strings, instead we got <class 'int'>.",
        ),
        (
            "{{ 'x' | vault(1) }}",
            "Secret passed is required to be a string, instead we got <class 'int'>.",
        ),
        (
            "{{ 1 | unvault('pw') }}",
            "Vault should be in the form of a string, instead we got <class 'int'>.",
        ),
        (
            "{{ 'x' | unvault(['pw']) }}",
            "Secret passed is required to be as string, instead we got <class 'list'>.",
        ),
        (
            "{{ 'x' | vault('pw') | vault('pw') }}",
            "Unable to encrypt: input is already encrypted",
        ),
        (
            "{{ 'x' | vault('pw', salt='') }}",
            "Unable to encrypt: Empty or invalid salt passed to encrypt()",
        ),
        (
            "{{ 'x' | vault('pw', wrap_object=True) }}",
            "vault(wrap_object=True) is not supported by tend",
        ),
    ] {
        let got = render_err(template, &vars);
        assert!(got.contains(message), "{template}: {got}");
    }
    install_keyring();
    assert!(matches!(
        Templater::new().render_str("{{ nope | vault('pw') }}", &vars),
        Err(TemplateError::Undefined { .. })
    ));
}
