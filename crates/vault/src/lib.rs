//! Ansible Vault: the `$ANSIBLE_VAULT` 1.1/1.2 AES256 format, keyrings of vault secrets, and vaulted files read through the installed keyring.
//!
//! The format is `ansible/parsing/vault/__init__.py`'s, byte for byte: a header
//! (`$ANSIBLE_VAULT;1.1;AES256`, or `$ANSIBLE_VAULT;1.2;AES256;<vault-id>`), then a hexlified
//! body wrapped at 80 columns that holds the hex salt, hex HMAC and hex ciphertext on three
//! lines. PBKDF2-HMAC-SHA256 with 10000 iterations turns the password and a 32-byte salt into an
//! AES-256 key, an HMAC-SHA256 key and a CTR nonce; the plaintext is PKCS7-padded and encrypted
//! with AES-256-CTR; the HMAC of the ciphertext is checked, in constant time, before decrypting.
//!
//! Where decryption happens: the binary reads the `--vault-*` options, builds a [`Keyring`] and
//! [`install`]s it before loading anything. Every loader that reads a file Ansible would decrypt
//! (playbooks, vars files, inventories, `-e @file`, `include_vars`, `copy`/`template` sources,
//! the `file`/`template`/`ini`/`unvault` lookups) reads it through [`read`] or [`read_to_string`], and the YAML loader decrypts `!vault`
//! scalars through [`decrypt_inline`]. Inline values are decrypted when their file is loaded,
//! not when first used as Ansible does.

mod cipher;
mod envelope;
mod keyring;
mod source;

use std::io;
use std::path::Path;

pub use envelope::{is_vaulted, Envelope, DEFAULT_ID, HEADER};
pub use keyring::{encrypt, encrypt_with_salt, install, installed, Decrypted, Keyring, Secret};
pub use source::{secret_from_file, PasswordError};

/// Why a vaulted text could not be decrypted or a text encrypted. Messages are Ansible's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("Input is not vault encrypted data.")]
    NotVault,
    #[error("{0}")]
    Format(&'static str),
    #[error("Cipher '{0}' could not be found.")]
    UnknownCipher(String),
    #[error("Attempting to decrypt but no vault secrets found.")]
    NoSecrets,
    #[error("Decryption failed (no vault secrets were found that could decrypt).")]
    NoMatch,
    /// One secret's HMAC did not match: a wrong password or tampered data. The keyring moves
    /// on to the next secret and reports [`VaultError::NoMatch`] when none is left.
    #[error("HMAC verification failed")]
    HmacMismatch,
    /// The HMAC matched but the padding is invalid: data encrypted wrongly with the right key.
    #[error("Decryption failed (invalid padding).")]
    Padding,
    #[error("the decrypted vault content is not UTF-8 text")]
    NotUtf8,
    #[error("input is already encrypted")]
    AlreadyEncrypted,
    #[error("A vault password must be specified to encrypt data")]
    NoEncryptSecret,
    #[error("Did not find a match for --encrypt-vault-id={id} in the known vault-ids {}", python_list(.known))]
    EncryptIdNotFound { id: String, known: Vec<String> },
    #[error("cannot get random bytes for a salt: {0}")]
    Random(String),
}

fn python_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", items.join(", "))
}

/// Decrypts an inline `!vault` value with the installed keyring.
pub fn decrypt_inline(ciphertext: &str) -> Result<String, VaultError> {
    let decrypted = installed().decrypt(ciphertext.as_bytes())?;
    String::from_utf8(decrypted.plaintext.to_vec()).map_err(|_| VaultError::NotUtf8)
}

/// Reads a file, decrypting it with the installed keyring when it is vaulted (Ansible's
/// `DataLoader` does this for every file it loads). A vault failure is an `io::Error` of kind
/// `InvalidData` wrapping the [`VaultError`], so callers that name the file in their I/O
/// errors name it for vault errors too.
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let data = std::fs::read(path)?;
    decrypt_if_vaulted(data)
}

/// [`read`] for text files.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let data = read(path)?;
    String::from_utf8(data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Whether the file at `path` starts with the vault header. Diagnostics use this to leave out
/// source lines, which would show decrypted text (Ansible says "source not shown").
pub fn file_is_vaulted(path: impl AsRef<Path>) -> bool {
    use std::io::Read;
    let mut head = [0u8; HEADER.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| is_vaulted(&head))
}

/// `data` itself, or its plaintext when it is vaulted.
pub fn decrypt_if_vaulted(data: Vec<u8>) -> io::Result<Vec<u8>> {
    if !is_vaulted(&data) {
        return Ok(data);
    }
    let decrypted = installed()
        .decrypt(&data)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(decrypted.plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_ids() {
        let secret = Secret::new("pw");
        let text = encrypt(b"hello\n", &secret, Some("prod")).expect("encrypt");
        assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
        let mut ring = Keyring::new();
        ring.add("other", Secret::new("nope"));
        ring.add("prod", secret);
        let out = ring.decrypt(text.as_bytes()).expect("decrypt");
        assert_eq!(out.plaintext.as_slice(), b"hello\n");
        assert_eq!(out.secret_id, "prod");
        assert_eq!(out.header_id.as_deref(), Some("prod"));
    }

    #[test]
    fn fresh_salts_differ() {
        let secret = Secret::new("pw");
        let a = encrypt(b"x", &secret, None).expect("a");
        let b = encrypt(b"x", &secret, None).expect("b");
        assert_ne!(a, b);
    }

    #[test]
    fn encrypting_vaulted_input_is_refused() {
        let secret = Secret::new("pw");
        let text = encrypt(b"x", &secret, None).expect("encrypt");
        assert_eq!(
            encrypt(text.as_bytes(), &secret, None),
            Err(VaultError::AlreadyEncrypted)
        );
    }

    #[test]
    fn encrypt_secret_selection() {
        let mut ring = Keyring::new();
        assert_eq!(
            ring.encrypt_secret(None).map(|s| s.0),
            Err(VaultError::NoEncryptSecret)
        );
        ring.add("a", Secret::new("1"));
        ring.add("b", Secret::new("2"));
        assert_eq!(ring.encrypt_secret(None).map(|s| s.0), Ok("a"));
        assert_eq!(ring.encrypt_secret(Some("b")).map(|s| s.0), Ok("b"));
        let err = ring
            .encrypt_secret(Some("c"))
            .map(|s| s.0)
            .expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "Did not find a match for --encrypt-vault-id=c in the known vault-ids ['a', 'b']"
        );
    }

    #[test]
    fn an_empty_keyring_says_so() {
        let secret = Secret::new("pw");
        let text = encrypt(b"x", &secret, None).expect("encrypt");
        assert_eq!(
            Keyring::new().decrypt(text.as_bytes()).map(|d| d.secret_id),
            Err(VaultError::NoSecrets)
        );
    }
}
