//! Vault secrets and the keyring that holds them with their vault ids: which secret decrypts a
//! vaulted text (the one named by a 1.2 header first, then the others in order), which one
//! encrypts (`--encrypt-vault-id`), and the keyring the binary installs for the loaders.

use std::fmt;
use std::sync::{Arc, RwLock};

use zeroize::Zeroizing;

use crate::envelope::{Envelope, DEFAULT_ID};
use crate::{cipher, VaultError};

/// A vault password. Its `Debug` is redacted and its bytes are zeroed when dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(Zeroizing::new(bytes.into()))
    }

    /// The password bytes, for the key derivation only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What a keyring decryption found.
#[derive(Debug)]
pub struct Decrypted {
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The vault id of the text's 1.2 header, if any.
    pub header_id: Option<String>,
    /// The id of the secret that decrypted it.
    pub secret_id: String,
    /// That secret, to re-encrypt an edited file with.
    pub secret: Secret,
}

/// Secrets in the order they were given, each under a vault id (`default` when none is named).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    entries: Vec<(String, Secret)>,
}

impl Keyring {
    pub fn new() -> Keyring {
        Keyring::default()
    }

    pub fn add(&mut self, vault_id: impl Into<String>, secret: Secret) {
        self.entries.push((vault_id.into(), secret));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The vault ids, in order.
    pub fn ids(&self) -> Vec<&str> {
        self.entries.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// Decrypts a vaulted text (`VaultLib.decrypt_and_get_vault_id`). The secret whose id the
    /// header names (`default` for 1.1) is tried first, then every other secret in order; a
    /// secret that fails the HMAC is skipped. Ansible walks its list in order either way; the
    /// first secret that passes the HMAC is the same, this just derives fewer keys.
    pub fn decrypt(&self, text: &[u8]) -> Result<Decrypted, VaultError> {
        let envelope = Envelope::parse(text)?;
        if envelope.cipher != "AES256" {
            return Err(VaultError::UnknownCipher(envelope.cipher));
        }
        if self.entries.is_empty() {
            return Err(VaultError::NoSecrets);
        }
        let payload = envelope.payload()?;
        let wanted = envelope.vault_id.as_deref().unwrap_or(DEFAULT_ID);
        let first = self.entries.iter().filter(|(id, _)| id == wanted);
        let rest = self.entries.iter().filter(|(id, _)| id != wanted);
        for (id, secret) in first.chain(rest) {
            match cipher::decrypt(&payload, secret.expose()) {
                Ok(plaintext) => {
                    return Ok(Decrypted {
                        plaintext: Zeroizing::new(plaintext),
                        header_id: envelope.vault_id.clone(),
                        secret_id: id.clone(),
                        secret: secret.clone(),
                    })
                }
                Err(VaultError::HmacMismatch) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(VaultError::NoMatch)
    }

    /// The secret to encrypt with (`match_encrypt_secret`): the one named by
    /// `--encrypt-vault-id`, else the first.
    pub fn encrypt_secret(
        &self,
        encrypt_vault_id: Option<&str>,
    ) -> Result<(&str, &Secret), VaultError> {
        let found = match encrypt_vault_id {
            Some(wanted) => self
                .entries
                .iter()
                .find(|(id, _)| id == wanted)
                .ok_or_else(|| VaultError::EncryptIdNotFound {
                    id: wanted.to_string(),
                    known: self.entries.iter().map(|(id, _)| id.clone()).collect(),
                })?,
            None => self.entries.first().ok_or(VaultError::NoEncryptSecret)?,
        };
        Ok((found.0.as_str(), &found.1))
    }
}

/// Encrypts `plaintext` into a vaulted text (`VaultLib.encrypt`): 1.1 header, or 1.2 with
/// `vault_id` when it is given and not `default`; a fresh 32-byte salt from the OS.
pub fn encrypt(
    plaintext: &[u8],
    secret: &Secret,
    vault_id: Option<&str>,
) -> Result<String, VaultError> {
    let mut salt = [0u8; cipher::SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| VaultError::Random(e.to_string()))?;
    encrypt_with_salt(plaintext, secret, vault_id, &salt)
}

/// [`encrypt`] with a given salt (Ansible's `VAULT_ENCRYPT_SALT`; tests).
pub fn encrypt_with_salt(
    plaintext: &[u8],
    secret: &Secret,
    vault_id: Option<&str>,
    salt: &[u8],
) -> Result<String, VaultError> {
    if crate::is_vaulted(plaintext) {
        return Err(VaultError::AlreadyEncrypted);
    }
    if salt.is_empty() {
        return Err(VaultError::Format(
            "Empty or invalid salt passed to encrypt()",
        ));
    }
    let body = cipher::encrypt(plaintext, secret.expose(), salt);
    Ok(crate::envelope::format(&body, vault_id))
}

/// The keyring the loaders decrypt with. Installed once by the binary, after reading the
/// `--vault-*` options and before loading anything; empty until then.
static INSTALLED: RwLock<Option<Arc<Keyring>>> = RwLock::new(None);

/// Makes `keyring` the one [`installed`] returns.
pub fn install(keyring: Keyring) {
    let mut slot = INSTALLED.write().unwrap_or_else(|e| e.into_inner());
    *slot = Some(Arc::new(keyring));
}

/// The installed keyring (an empty one when none was installed).
pub fn installed() -> Arc<Keyring> {
    let slot = INSTALLED.read().unwrap_or_else(|e| e.into_inner());
    slot.clone().unwrap_or_default()
}
