//! Vault passwords from files and scripts (`get_file_vault_secret`): a plain file's stripped
//! content (itself possibly vaulted with an earlier secret), an executable's stdout, and the
//! `*-client` scripts that are asked for a vault id with `--vault-id`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Keyring, Secret};

/// Why a password could not be read from a file or script. Messages are Ansible's.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("The vault password file {} was not found", .0.display())]
    NotFound(PathBuf),
    #[error("The vault password file provided '{}' can not be a directory", .0.display())]
    Directory(PathBuf),
    #[error("Could not read vault password file '{}': {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Problem running vault password script {} ({source}). If this is not a script, remove the executable bit from the file.", path.display())]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Vault password script {} returned non-zero ({code}): {stderr}", path.display())]
    ScriptFailed {
        path: PathBuf,
        code: i32,
        stderr: String,
    },
    #[error("Vault password client script {} did not find a secret for vault-id={vault_id}: {stderr}", path.display())]
    ClientUnknownId {
        path: PathBuf,
        vault_id: String,
        stderr: String,
    },
    #[error("Invalid vault password was provided from {kind} ({})", path.display())]
    Empty { kind: &'static str, path: PathBuf },
    #[error("{source} for {}", path.display())]
    Vaulted {
        path: PathBuf,
        source: crate::VaultError,
    },
}

/// Whether any execute bit is set (Ansible's `is_executable`).
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// A password script named `something-client` (any extension) is asked for a vault id.
fn is_client_script(path: &Path) -> bool {
    path.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with("-client"))
}

/// Reads the password `path` holds or prints. `earlier` decrypts a password file that is itself
/// vaulted, as Ansible lets a later password file be encrypted with an earlier secret.
pub fn secret_from_file(
    path: &Path,
    vault_id: &str,
    earlier: &Keyring,
) -> Result<Secret, PasswordError> {
    // Ansible names (and runs) the file by its absolute path, `~` expanded (`unfrackpath`).
    let expanded = match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => Path::new(&home).join(rest),
        _ => path.to_path_buf(),
    };
    let absolute = std::path::absolute(&expanded).unwrap_or(expanded);
    let path = absolute.as_path();
    if !path.exists() {
        return Err(PasswordError::NotFound(path.to_path_buf()));
    }
    if path.is_dir() {
        return Err(PasswordError::Directory(path.to_path_buf()));
    }
    if is_executable(path) {
        return run_script(path, vault_id);
    }
    let data = std::fs::read(path).map_err(|source| PasswordError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let data = zeroize::Zeroizing::new(data);
    let stripped = strip_ascii_whitespace(&data);
    let password = if crate::is_vaulted(stripped) {
        let decrypted = earlier
            .decrypt(stripped)
            .map_err(|source| PasswordError::Vaulted {
                path: path.to_path_buf(),
                source,
            })?;
        Secret::new(strip_newlines(&decrypted.plaintext).to_vec())
    } else {
        Secret::new(strip_newlines(stripped).to_vec())
    };
    if password.expose().is_empty() {
        return Err(PasswordError::Empty {
            kind: "file",
            path: path.to_path_buf(),
        });
    }
    Ok(password)
}

fn run_script(path: &Path, vault_id: &str) -> Result<Secret, PasswordError> {
    let client = is_client_script(path);
    let mut command = Command::new(path);
    command.stdin(Stdio::inherit()).stdout(Stdio::piped());
    if client {
        command.arg("--vault-id").arg(vault_id);
        command.stderr(Stdio::piped());
    } else {
        // A plain script's stderr stays on the terminal, so it can prompt there.
        command.stderr(Stdio::inherit());
    }
    let output = command.output().map_err(|source| PasswordError::Spawn {
        path: path.to_path_buf(),
        source,
    })?;
    let stdout = zeroize::Zeroizing::new(output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output.status.code().unwrap_or(-1);
    if client && code == 2 {
        return Err(PasswordError::ClientUnknownId {
            path: path.to_path_buf(),
            vault_id: vault_id.to_string(),
            stderr,
        });
    }
    if !output.status.success() {
        return Err(PasswordError::ScriptFailed {
            path: path.to_path_buf(),
            code,
            stderr,
        });
    }
    let password = Secret::new(strip_newlines(&stdout).to_vec());
    if password.expose().is_empty() {
        return Err(PasswordError::Empty {
            kind: "script",
            path: path.to_path_buf(),
        });
    }
    Ok(password)
}

/// Python's `bytes.strip()`.
fn strip_ascii_whitespace(data: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = data.iter().position(|b| !ws(b)).unwrap_or(data.len());
    let end = data.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    &data[start..end]
}

/// Python's `bytes.strip(b'\r\n')`.
pub(crate) fn strip_newlines(data: &[u8]) -> &[u8] {
    let nl = |b: &u8| matches!(b, b'\r' | b'\n');
    let start = data.iter().position(|b| !nl(b)).unwrap_or(data.len());
    let end = data.iter().rposition(|b| !nl(b)).map_or(start, |i| i + 1);
    &data[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_plain_file_is_stripped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "  hunter2 \n\n").expect("write");
        let secret = secret_from_file(&file, "default", &Keyring::new()).expect("read");
        assert_eq!(secret.expose(), b"hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn an_empty_or_missing_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "\n").expect("write");
        let err = secret_from_file(&file, "default", &Keyring::new()).expect_err("empty");
        assert!(err
            .to_string()
            .starts_with("Invalid vault password was provided from file"));
        let err = secret_from_file(&dir.path().join("nope"), "default", &Keyring::new())
            .expect_err("missing");
        assert!(err.to_string().contains("was not found"), "{err}");
        let err = secret_from_file(dir.path(), "default", &Keyring::new()).expect_err("dir");
        assert!(err.to_string().contains("can not be a directory"), "{err}");
    }

    #[test]
    fn an_executable_prints_the_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("pw.sh");
        std::fs::write(&script, "#!/bin/sh\nprintf 'from-script\\r\\n'\n").expect("write");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let secret = secret_from_file(&script, "default", &Keyring::new()).expect("run");
        assert_eq!(secret.expose(), b"from-script");

        let failing = dir.path().join("fail.sh");
        std::fs::write(&failing, "#!/bin/sh\nexit 3\n").expect("write");
        std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = secret_from_file(&failing, "default", &Keyring::new()).expect_err("fails");
        assert!(err.to_string().contains("returned non-zero (3)"), "{err}");
    }

    #[test]
    fn a_client_script_is_asked_for_the_vault_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("keys-client.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\n[ \"$1\" = --vault-id ] || exit 9\n[ \"$2\" = prod ] || { echo unknown >&2; exit 2; }\necho prod-pw\n",
        )
        .expect("write");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let secret = secret_from_file(&script, "prod", &Keyring::new()).expect("run");
        assert_eq!(secret.expose(), b"prod-pw");
        let err = secret_from_file(&script, "dev", &Keyring::new()).expect_err("unknown id");
        assert!(
            err.to_string()
                .contains("did not find a secret for vault-id=dev"),
            "{err}"
        );
    }
}
