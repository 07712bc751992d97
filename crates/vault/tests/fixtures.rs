//! The vault crate against files the real `ansible-vault` (ansible-core 2.19) wrote: 1.1 and
//! 1.2 headers, `encrypt_string` output, a multi-line file, an empty file; and what must fail:
//! wrong passwords, tampered HMACs and ciphertexts, bad headers.

use std::path::PathBuf;

use tend_vault::{Keyring, Secret, VaultError};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The passwords the fixtures were made with (`--vault-password-file password.txt` and
/// `--vault-id dev@password-dev.txt`).
fn keyring() -> Keyring {
    let mut ring = Keyring::new();
    ring.add("default", Secret::new("correct horse battery staple"));
    ring.add("dev", Secret::new("other-secret"));
    ring
}

fn only(id: &str, password: &str) -> Keyring {
    let mut ring = Keyring::new();
    ring.add(id, Secret::new(password));
    ring
}

/// The ciphertext of an `encrypt_string` block scalar (`name: !vault |` and indented lines).
fn block_scalar(text: &[u8]) -> String {
    let text = String::from_utf8(text.to_vec()).expect("utf-8");
    let mut lines = text.lines();
    assert!(lines.next().expect("header line").ends_with(": !vault |"));
    lines.map(|l| format!("{}\n", l.trim_start())).collect()
}

#[test]
fn version_1_1_file() {
    let out = keyring().decrypt(&fixture("v11.yml")).expect("decrypt");
    assert_eq!(
        out.plaintext.as_slice(),
        fixture("v11.yml.plain").as_slice()
    );
    assert_eq!(out.header_id, None);
    assert_eq!(out.secret_id, "default");
}

#[test]
fn version_1_2_file_with_a_vault_id() {
    let text = fixture("v12-dev.yml");
    assert!(text.starts_with(b"$ANSIBLE_VAULT;1.2;AES256;dev\n"));
    let out = keyring().decrypt(&text).expect("decrypt");
    assert_eq!(
        out.plaintext.as_slice(),
        fixture("v12-dev.yml.plain").as_slice()
    );
    assert_eq!(out.header_id.as_deref(), Some("dev"));
    assert_eq!(out.secret_id, "dev");
    // The id in the header only orders the search: a secret under another label still works.
    let out = only("whatever", "other-secret")
        .decrypt(&text)
        .expect("decrypt");
    assert_eq!(out.secret_id, "whatever");
}

#[test]
fn encrypt_string_output() {
    let ciphertext = block_scalar(&fixture("encrypt_string.yml"));
    let out = keyring().decrypt(ciphertext.as_bytes()).expect("decrypt");
    assert_eq!(out.plaintext.as_slice(), b"hunter2");
    let ciphertext = block_scalar(&fixture("encrypt_string-dev.yml"));
    assert!(ciphertext.starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"));
    let out = keyring().decrypt(ciphertext.as_bytes()).expect("decrypt");
    assert_eq!(out.plaintext.as_slice(), b"s3cr3t-dev");
}

#[test]
fn multi_line_utf8_file() {
    let text = fixture("multiline.yml");
    assert!(
        text.split(|b| *b == b'\n').count() > 5,
        "several payload lines"
    );
    let out = keyring().decrypt(&text).expect("decrypt");
    assert_eq!(
        out.plaintext.as_slice(),
        fixture("multiline.yml.plain").as_slice()
    );
    assert!(String::from_utf8(out.plaintext.to_vec())
        .expect("utf-8")
        .contains("pässwörd-11"));
}

#[test]
fn empty_file() {
    let out = keyring().decrypt(&fixture("empty.vault")).expect("decrypt");
    assert!(out.plaintext.is_empty());
}

#[test]
fn wrong_password() {
    let err = only("default", "wrong")
        .decrypt(&fixture("v11.yml"))
        .expect_err("wrong");
    assert_eq!(err, VaultError::NoMatch);
    assert_eq!(
        err.to_string(),
        "Decryption failed (no vault secrets were found that could decrypt)."
    );
    // The right id with the wrong password fails too, after every secret was tried.
    let err = only("dev", "wrong")
        .decrypt(&fixture("v12-dev.yml"))
        .expect_err("wrong");
    assert_eq!(err, VaultError::NoMatch);
}

#[test]
fn no_secrets() {
    let err = Keyring::new()
        .decrypt(&fixture("v11.yml"))
        .expect_err("none");
    assert_eq!(
        err.to_string(),
        "Attempting to decrypt but no vault secrets found."
    );
}

/// The body's inner text (salt, HMAC, ciphertext in hex on three lines), editable.
fn inner(text: &[u8]) -> (String, Vec<String>) {
    let text = String::from_utf8(text.to_vec()).expect("ascii");
    let mut lines = text.lines();
    let header = lines.next().expect("header").to_string();
    let body: String = lines.collect();
    let inner = String::from_utf8(hex::decode(body).expect("hex")).expect("ascii");
    (header, inner.split('\n').map(str::to_string).collect())
}

fn rebuild(header: &str, parts: &[String]) -> Vec<u8> {
    format!("{header}\n{}\n", hex::encode(parts.join("\n"))).into_bytes()
}

#[test]
fn tampered_hmac_is_refused_before_decrypting() {
    let (header, mut parts) = inner(&fixture("v11.yml"));
    assert_eq!(parts.len(), 3);
    // Sanity: rebuilding unchanged still decrypts.
    assert!(keyring().decrypt(&rebuild(&header, &parts)).is_ok());
    let flipped = if parts[1].starts_with('0') { "1" } else { "0" };
    parts[1].replace_range(0..1, flipped);
    let err = keyring()
        .decrypt(&rebuild(&header, &parts))
        .expect_err("tampered hmac");
    assert_eq!(err, VaultError::NoMatch);
}

#[test]
fn tampered_ciphertext_is_refused() {
    let (header, mut parts) = inner(&fixture("multiline.yml"));
    let last = parts[2].pop().expect("digit");
    parts[2].push(if last == '0' { '1' } else { '0' });
    let err = keyring()
        .decrypt(&rebuild(&header, &parts))
        .expect_err("tampered ciphertext");
    assert_eq!(err, VaultError::NoMatch);
}

#[test]
fn bad_headers_and_bodies() {
    let text = fixture("v11.yml");
    let body = &text[text.iter().position(|b| *b == b'\n').expect("nl")..];
    let with_header = |h: &str| [h.as_bytes(), body].concat();
    assert_eq!(
        keyring()
            .decrypt(&with_header("$ANSIBLE_VAULT;1.1;AES128"))
            .map(|d| d.secret_id),
        Err(VaultError::UnknownCipher("AES128".into()))
    );
    assert!(matches!(
        keyring().decrypt(&with_header("$ANSIBLE_VAULT;1.1")),
        Err(VaultError::Format("Vault envelope format error."))
    ));
    assert!(matches!(
        keyring().decrypt(&with_header("$NOT_A_VAULT;1.1;AES256")),
        Err(VaultError::NotVault)
    ));
    assert!(matches!(
        keyring().decrypt(b"$ANSIBLE_VAULT;1.1;AES256\nzz\n"),
        Err(VaultError::Format("Vault format unhexlify error."))
    ));
    assert!(matches!(
        keyring()
            .decrypt(format!("$ANSIBLE_VAULT;1.1;AES256\n{}\n", hex::encode("ab\ncd")).as_bytes()),
        Err(VaultError::Format("Vault vaulttext format error."))
    ));
}

#[test]
fn what_tend_writes_matches_what_ansible_wrote() {
    // Same password and salt as the fixture: byte-identical output.
    let (_, parts) = inner(&fixture("v11.yml"));
    let salt = hex::decode(&parts[0]).expect("salt");
    let ours = tend_vault::encrypt_with_salt(
        &fixture("v11.yml.plain"),
        &Secret::new("correct horse battery staple"),
        None,
        &salt,
    )
    .expect("encrypt");
    assert_eq!(ours.as_bytes(), fixture("v11.yml").as_slice());

    let (_, parts) = inner(&fixture("v12-dev.yml"));
    let salt = hex::decode(&parts[0]).expect("salt");
    let ours = tend_vault::encrypt_with_salt(
        &fixture("v12-dev.yml.plain"),
        &Secret::new("other-secret"),
        Some("dev"),
        &salt,
    )
    .expect("encrypt");
    assert_eq!(ours.as_bytes(), fixture("v12-dev.yml").as_slice());
}

#[test]
fn vaulted_files_read_through_the_installed_keyring() {
    tend_vault::install(keyring());
    let dir = tempfile::tempdir().expect("tempdir");
    let vaulted = dir.path().join("v.yml");
    std::fs::write(&vaulted, fixture("multiline.yml")).expect("write");
    let text = tend_vault::read_to_string(&vaulted).expect("read");
    assert_eq!(text.as_bytes(), fixture("multiline.yml.plain").as_slice());
    let plain = dir.path().join("p.yml");
    std::fs::write(&plain, "a: 1\n").expect("write");
    assert_eq!(tend_vault::read_to_string(&plain).expect("read"), "a: 1\n");
    let ciphertext = block_scalar(&fixture("encrypt_string.yml"));
    assert_eq!(
        tend_vault::decrypt_inline(&ciphertext).expect("inline"),
        "hunter2"
    );
}
