//! Client authentication: the inventory's key file, or else the ssh-agent and the default keys.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{AuthResult, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::{AgentAuthError, MethodKind, MethodSet};
use tend_transport::{ConnectionSpec, TransportError};

use crate::known_hosts::HostKey;

/// The default identities ssh tries, in its order, relative to `~/.ssh`.
const DEFAULT_KEY_FILES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// Problems with a private key file, found before any connection is made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read private key file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("private key file {} is encrypted and needs a passphrase (use --ask-key-passphrase or set TEND_SSH_KEY_PASSPHRASE)", path.display())]
    NeedsPassphrase { path: PathBuf },
    #[error("wrong passphrase for private key file {}", path.display())]
    WrongPassphrase { path: PathBuf },
    #[error("cannot parse private key file {}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
}

const OPENSSH_HEADER: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";

/// Whether the key file needs a passphrase, so a caller can prompt before connecting.
pub fn key_is_encrypted(path: &Path) -> Result<bool, KeyError> {
    let text = read_key_text(path)?;
    if text.contains(OPENSSH_HEADER) {
        let key = PrivateKey::from_openssh(&text).map_err(|e| KeyError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        return Ok(key.is_encrypted());
    }
    // Legacy PEM keys announce encryption in their headers.
    Ok(text.contains("ENCRYPTED"))
}

/// Loads an OpenSSH (or legacy PEM/PKCS#8) private key, decrypting it with `passphrase`.
pub fn load_private_key(path: &Path, passphrase: Option<&str>) -> Result<PrivateKey, KeyError> {
    let text = read_key_text(path)?;
    let parse_error = |reason: String| KeyError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    if text.contains(OPENSSH_HEADER) {
        // Decoded here rather than by russh so a wrong passphrase is told apart from a bad file.
        let key = PrivateKey::from_openssh(&text).map_err(|e| parse_error(e.to_string()))?;
        if !key.is_encrypted() {
            return Ok(key);
        }
        let Some(passphrase) = passphrase else {
            return Err(KeyError::NeedsPassphrase {
                path: path.to_path_buf(),
            });
        };
        return key
            .decrypt(passphrase)
            .map_err(|_| KeyError::WrongPassphrase {
                path: path.to_path_buf(),
            });
    }
    russh::keys::decode_secret_key(&text, passphrase).map_err(|e| match e {
        russh::keys::Error::KeyIsEncrypted => KeyError::NeedsPassphrase {
            path: path.to_path_buf(),
        },
        other if passphrase.is_some() => parse_error(format!("{other} (is the passphrase right?)")),
        other => parse_error(other.to_string()),
    })
}

fn read_key_text(path: &Path) -> Result<String, KeyError> {
    fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// What to authenticate with, settled before connecting so that a bad key file costs no
/// connection.
#[derive(Debug)]
pub(crate) enum Credentials {
    /// The inventory named a key file: only that key is offered, as ssh does with `-i` plus
    /// `IdentitiesOnly`.
    KeyFile { path: PathBuf, key: Arc<PrivateKey> },
    /// The agent at `$SSH_AUTH_SOCK`, then these default key files (already loaded; files that
    /// could not be used carry a note instead).
    Defaults {
        keys: Vec<(PathBuf, Arc<PrivateKey>)>,
        skipped: Vec<String>,
    },
}

impl Credentials {
    pub(crate) fn from_spec(spec: &ConnectionSpec) -> Result<Credentials, KeyError> {
        let passphrase = spec.key_passphrase.as_deref();
        if let Some(path) = &spec.private_key_file {
            let key = load_private_key(path, passphrase)?;
            return Ok(Credentials::KeyFile {
                path: path.clone(),
                key: Arc::new(key),
            });
        }
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        if let Some(home) = std::env::var_os("HOME") {
            let ssh_dir = PathBuf::from(home).join(".ssh");
            for name in DEFAULT_KEY_FILES {
                let path = ssh_dir.join(name);
                if !path.exists() {
                    continue;
                }
                match load_private_key(&path, passphrase) {
                    Ok(key) => keys.push((path, Arc::new(key))),
                    // An unusable default key must not stop the others from being tried.
                    Err(e) => skipped.push(format!("{e} (skipped)")),
                }
            }
        }
        Ok(Credentials::Defaults { keys, skipped })
    }
}

fn describe(key: &PublicKey) -> String {
    match key.to_bytes().ok().and_then(HostKey::from_blob) {
        Some(k) => format!("{} {}", k.key_type(), k.fingerprint()),
        None => key.algorithm().as_str().to_owned(),
    }
}

/// The outcome of one publickey attempt that did not end the connection.
enum Outcome {
    Accepted,
    Refused,
}

/// Tries the credentials in order until one is accepted.
pub(crate) struct Authenticator<'a, H: russh::client::Handler> {
    handle: &'a mut Handle<H>,
    host: &'a str,
    user: &'a str,
    tried: Vec<String>,
    offered: HashSet<Vec<u8>>,
    /// `None` until asked: the server's preferred RSA signature hash.
    rsa_hash: Option<Option<HashAlg>>,
    /// What the server said it would still accept after the last refusal.
    remaining: Option<MethodSet>,
}

impl<'a, H: russh::client::Handler> Authenticator<'a, H> {
    pub(crate) fn new(handle: &'a mut Handle<H>, host: &'a str, user: &'a str) -> Self {
        Authenticator {
            handle,
            host,
            user,
            tried: Vec::new(),
            offered: HashSet::new(),
            rsa_hash: None,
            remaining: None,
        }
    }

    fn lost(&self, error: impl std::fmt::Display) -> TransportError {
        TransportError::Unreachable {
            host: self.host.to_owned(),
            reason: format!("connection lost during authentication: {error}"),
        }
    }

    /// Whether more publickey attempts make sense: the server may have ruled the method out.
    fn publickey_still_allowed(&self) -> bool {
        self.remaining
            .as_ref()
            .is_none_or(|methods| methods.contains(&MethodKind::PublicKey))
    }

    async fn rsa_hash(&mut self) -> Option<HashAlg> {
        if let Some(hash) = self.rsa_hash {
            return hash;
        }
        // A server that never says which signatures it takes only knows SHA-1 `ssh-rsa`.
        let hash = self
            .handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten();
        self.rsa_hash = Some(hash);
        hash
    }

    fn record(&mut self, what: String, result: AuthResult) -> Outcome {
        match result {
            AuthResult::Success => Outcome::Accepted,
            AuthResult::Failure {
                remaining_methods,
                partial_success,
            } => {
                if partial_success {
                    self.tried.push(format!(
                        "{what}: accepted, but the server also requires another method, which tend does not support"
                    ));
                } else {
                    self.tried.push(format!("{what}: refused"));
                }
                self.remaining = Some(remaining_methods);
                Outcome::Refused
            }
        }
    }

    async fn try_private_key(
        &mut self,
        label: String,
        key: Arc<PrivateKey>,
    ) -> Result<Outcome, TransportError> {
        let public = key.public_key();
        if !self.offered.insert(public.to_bytes().unwrap_or_default()) {
            return Ok(Outcome::Refused);
        }
        let what = format!("{label} ({})", describe(public));
        let hash = if key.algorithm().is_rsa() {
            self.rsa_hash().await
        } else {
            None
        };
        let user = self.user.to_owned();
        let result = self
            .handle
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
            .await
            .map_err(|e| self.lost(e))?;
        Ok(self.record(what, result))
    }

    async fn try_agent(&mut self) -> Result<Outcome, TransportError> {
        let Some(socket) = std::env::var_os("SSH_AUTH_SOCK") else {
            return Ok(Outcome::Refused);
        };
        let mut agent = match AgentClient::connect_uds(&socket).await {
            Ok(agent) => agent,
            Err(e) => {
                self.tried.push(format!(
                    "ssh-agent at {}: cannot connect: {e}",
                    PathBuf::from(&socket).display()
                ));
                return Ok(Outcome::Refused);
            }
        };
        let identities = match agent.request_identities().await {
            Ok(identities) => identities,
            Err(e) => {
                self.tried
                    .push(format!("ssh-agent: cannot list identities: {e}"));
                return Ok(Outcome::Refused);
            }
        };
        if identities.is_empty() {
            self.tried.push("ssh-agent: holds no keys".to_owned());
        }
        for identity in identities {
            // Host certificates for users are rare in tend's setting; the plain keys suffice.
            let AgentIdentity::PublicKey { key, comment } = identity else {
                continue;
            };
            if !self.publickey_still_allowed() {
                break;
            }
            if !self.offered.insert(key.to_bytes().unwrap_or_default()) {
                continue;
            }
            let what = format!("ssh-agent key {comment} ({})", describe(&key));
            let hash = if key.algorithm().is_rsa() {
                self.rsa_hash().await
            } else {
                None
            };
            let user = self.user.to_owned();
            match self
                .handle
                .authenticate_publickey_with(user, key, hash, &mut agent)
                .await
            {
                Ok(result) => {
                    if let Outcome::Accepted = self.record(what, result) {
                        return Ok(Outcome::Accepted);
                    }
                }
                Err(AgentAuthError::Send(e)) => return Err(self.lost(e)),
                Err(AgentAuthError::Key(e)) => {
                    if self.handle.is_closed() {
                        return Err(self.lost(e));
                    }
                    self.tried
                        .push(format!("{what}: the agent did not sign: {e}"));
                }
            }
        }
        Ok(Outcome::Refused)
    }

    /// Runs every applicable method; `Ok` once the server accepts one.
    pub(crate) async fn run(mut self, credentials: &Credentials) -> Result<(), TransportError> {
        match credentials {
            Credentials::KeyFile { path, key } => {
                let label = format!("key file {}", path.display());
                if let Outcome::Accepted = self.try_private_key(label, key.clone()).await? {
                    return Ok(());
                }
            }
            Credentials::Defaults { keys, skipped } => {
                if let Outcome::Accepted = self.try_agent().await? {
                    return Ok(());
                }
                for (path, key) in keys {
                    if !self.publickey_still_allowed() {
                        break;
                    }
                    let label = format!("key file {}", path.display());
                    if let Outcome::Accepted = self.try_private_key(label, key.clone()).await? {
                        return Ok(());
                    }
                }
                self.tried.extend(skipped.iter().cloned());
            }
        }
        Err(self.failure())
    }

    fn failure(self) -> TransportError {
        let mut reason = if self.tried.is_empty() {
            "no credentials to offer: no private key file is set, no ssh-agent is reachable \
             (SSH_AUTH_SOCK), and none of ~/.ssh/id_ed25519, id_ecdsa, id_rsa exists"
                .to_owned()
        } else {
            format!("tried {}", self.tried.join("; "))
        };
        if let Some(methods) = self.remaining.as_ref() {
            if !methods.contains(&MethodKind::PublicKey) {
                let names: Vec<&str> = methods.iter().map(<&str>::from).collect();
                reason.push_str(&format!(
                    "; the server does not accept public keys (it offers: {})",
                    if names.is_empty() {
                        "nothing".to_owned()
                    } else {
                        names.join(", ")
                    }
                ));
            }
        }
        TransportError::Auth {
            host: self.host.to_owned(),
            user: self.user.to_owned(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keygen(dir: &Path, name: &str, passphrase: &str) -> Option<PathBuf> {
        let path = dir.join(name);
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
            .arg(&path)
            .status()
            .ok()?;
        status.success().then_some(path)
    }

    #[test]
    fn loads_plain_and_encrypted_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let Some(plain) = keygen(dir.path(), "plain", "") else {
            eprintln!("ssh-keygen not installed; skipping");
            return;
        };
        let secret = keygen(dir.path(), "secret", "hunter2").expect("keygen");
        assert!(!key_is_encrypted(&plain).expect("read"));
        assert!(key_is_encrypted(&secret).expect("read"));
        load_private_key(&plain, None).expect("plain key");
        load_private_key(&plain, Some("ignored")).expect("plain key ignores a passphrase");
        assert!(matches!(
            load_private_key(&secret, None),
            Err(KeyError::NeedsPassphrase { .. })
        ));
        let msg = load_private_key(&secret, None)
            .expect_err("needs passphrase")
            .to_string();
        assert!(
            msg.contains("encrypted") && msg.contains("passphrase"),
            "{msg}"
        );
        assert!(matches!(
            load_private_key(&secret, Some("wrong")),
            Err(KeyError::WrongPassphrase { .. })
        ));
        let key = load_private_key(&secret, Some("hunter2")).expect("decrypts");
        assert!(!key.is_encrypted());
        assert!(matches!(
            load_private_key(&dir.path().join("missing"), None),
            Err(KeyError::Read { .. })
        ));
    }
}
