//! `apt_key`: an OpenPGP key is in APT's keyring (through `apt-key`), or is not.
//!
//! ```yaml
//! - name: The repository's signing key, from a file on the host
//!   ansible.builtin.apt_key:
//!     file: /tmp/corp-archive.asc
//!     keyring: /etc/apt/trusted.gpg.d/corp.gpg
//!
//! - ansible.builtin.apt_key:
//!     data: "{{ lookup('file', 'corp-archive.asc') }}"
//!
//! - ansible.builtin.apt_key:
//!     id: 9FED2BCBDCD29CDF762678CBAED4B06F473041FA
//!     state: absent
//! ```
//!
//! Drives `apt-key` and `gpg` on the host as Ansible does: the key id comes from `id`, or
//! from `gpg --with-colons` on the `file`/`data` key; present keys are listed with
//! `apt-key adv --list-public-keys --keyid-format=long`; keys are added with `apt-key add`
//! and removed with `apt-key del` (short id). Returns `id`, `short_id`, `fp`, `key_id`,
//! `before` and (after a change) `after`, as Ansible does.
//!
//! Differences from Ansible: `url` and `keyserver` are refused (tend sends no traffic on the
//! host's behalf; fetch the key with `get_url` or ship it with `copy`, then use `file`).
//! `apt-key` is deprecated and gone from newer Debian releases; there, as with Ansible, the
//! task fails.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    #[default]
    Present,
    Absent,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
// `validate_certs` is accepted for compatibility only (no downloads).
#[allow(dead_code)]
pub struct AptKeyParams {
    /// The key id: 8, 16 or more hex digits (`0x` allowed).
    #[serde(default)]
    pub id: Option<String>,
    /// Refused: tend does not download keys.
    #[serde(default)]
    pub url: Option<String>,
    /// The key itself (armored or binary text).
    #[serde(default)]
    pub data: Option<String>,
    /// A key file on the host.
    #[serde(default)]
    pub file: Option<String>,
    /// The keyring to add to or remove from (`apt-key --keyring`).
    #[serde(default)]
    pub keyring: Option<String>,
    /// Accepted; unused without downloads.
    #[serde(default = "default_true")]
    pub validate_certs: bool,
    /// Refused: tend sends no keyserver traffic.
    #[serde(default)]
    pub keyserver: Option<String>,
    /// Whether the key should be in the keyring.
    #[serde(default)]
    pub state: KeyState,
}

/// Ansible's `parse_key_id`: (short id, fingerprint for comparisons, full id).
fn parse_key_id(key_id: &str) -> Result<KeyIds, ()> {
    let upper = key_id.trim().to_uppercase();
    let hex = upper.strip_prefix("0X").unwrap_or(&upper);
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(());
    }
    let len = hex.len();
    if len != 8 && len != 16 && len <= 16 {
        return Err(());
    }
    let short = hex[len - 8..].to_string();
    let fingerprint = if len > 16 {
        hex[len - 16..].to_string()
    } else {
        hex.to_string()
    };
    Ok((short, fingerprint, hex.to_string()))
}

/// Ansible's `parse_output_for_keys`: key ids of `pub`/`sub` lines that are not expired,
/// from `--keyid-format=long` listings or `--with-colons` output.
fn parse_output_for_keys(output: &str, short: bool) -> Vec<String> {
    let mut found = Vec::new();
    for line in output.split('\n') {
        if !(line.starts_with("pub") || line.starts_with("sub")) || line.contains("expired") {
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let code = tokens
            .get(1)
            .and_then(|t| t.split_once('/'))
            .filter(|(_, code)| !code.contains('/'))
            .map(|(_, code)| code.to_string())
            .or_else(|| line.split(':').nth(4).map(str::to_string));
        if let Some(code) = code {
            found.push(code);
        }
    }
    if short {
        found = found
            .into_iter()
            .map(|k| k[k.len().saturating_sub(8)..].to_string())
            .collect();
    }
    found
}

pub struct AptKeyModule;

#[derive(Debug)]
pub struct Observed {
    apt_key: String,
    /// The key id given or read from the key, before parsing.
    id: Option<String>,
    keys: Vec<String>,
    short_format: bool,
}

#[derive(Debug)]
pub enum Action {
    Add { apt_key: String, result: Map<String, Value> },
    Remove { apt_key: String, result: Map<String, Value> },
}

fn keyring_flag(params: &AptKeyParams) -> String {
    match &params.keyring {
        Some(k) => format!(" --keyring {}", quote(k)),
        None => String::new(),
    }
}

async fn list_keys(
    params: &AptKeyParams,
    apt_key: &str,
    short: bool,
    ctx: &Context<'_>,
) -> Result<Vec<String>, ModuleError> {
    let cmd = format!(
        "{}{} adv --list-public-keys --keyid-format=long",
        quote(apt_key),
        keyring_flag(params)
    );
    let out = ctx.host.sh(&cmd).await?;
    if !out.success() {
        let mut values = Map::new();
        values.insert("cmd".into(), cmd.into());
        values.insert("rc".into(), out.exit_code.into());
        values.insert("stdout".into(), out.stdout_lossy().into());
        values.insert("stderr".into(), out.stderr_lossy().into());
        return Err(ModuleError::Failed {
            msg: "Unable to list public keys".into(),
            values,
        });
    }
    Ok(parse_output_for_keys(&out.stdout_lossy(), short))
}

fn fail_with(msg: impl Into<String>, values: &Map<String, Value>) -> ModuleError {
    ModuleError::Failed {
        msg: msg.into(),
        values: values.clone(),
    }
}

/// A key id split as Ansible's `parse_key_id`: (short id, fingerprint, full id).
type KeyIds = (String, String, String);

/// The result keys Ansible reports before acting: id, short_id, fp, key_id.
fn id_values(id: &Option<String>) -> Result<(Map<String, Value>, KeyIds), ModuleError> {
    let mut r = Map::new();
    r.insert("id".into(), id.clone().map_or(Value::Null, Value::String));
    let parsed = id
        .as_deref()
        .ok_or(())
        .and_then(parse_key_id)
        .map_err(|_| fail_with("Invalid key_id", &r))?;
    r.insert("short_id".into(), parsed.0.clone().into());
    r.insert("fp".into(), parsed.1.clone().into());
    r.insert("key_id".into(), parsed.2.clone().into());
    Ok((r, parsed))
}

#[async_trait]
impl Module for AptKeyModule {
    type Params = AptKeyParams;
    type Observed = Observed;
    type Action = Action;

    const NAME: &'static str = "apt_key";

    async fn query(&self, params: &AptKeyParams, ctx: &Context<'_>) -> Result<Observed, ModuleError> {
        let given = [
            params.data.is_some(),
            params.file.is_some(),
            params.keyserver.is_some(),
            params.url.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(ModuleError::failed(
                "parameters are mutually exclusive: data|file|keyserver|url",
            ));
        }
        if params.url.is_some() || params.keyserver.is_some() {
            return Err(ModuleError::failed(
                "tend's apt_key does not fetch keys (url, keyserver); put the key on the host and use `file`",
            ));
        }
        let tools = ctx
            .host
            .sh("command -v apt-key || echo; command -v gpg || echo")
            .await?
            .stdout_lossy();
        let mut lines = tools.lines();
        let apt_key = lines.next().unwrap_or("").trim().to_string();
        let gpg = lines.next().unwrap_or("").trim().to_string();
        if apt_key.is_empty() {
            return Err(ModuleError::failed(
                "Failed to find required executable \"apt-key\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin. Apt-key has been deprecated. See the deb822_repository as an alternative.",
            ));
        }
        if gpg.is_empty() {
            return Err(ModuleError::failed(
                "Failed to find required executable \"gpg\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ));
        }
        let mut id = params.id.clone().filter(|i| !i.is_empty());
        if id.is_none() {
            let env = "LANG=C.UTF-8 LC_ALL=C.UTF-8 LC_MESSAGES=C.UTF-8 LANGUAGE=C.UTF-8; export LANG LC_ALL LC_MESSAGES LANGUAGE; ";
            let out = if let Some(file) = &params.file {
                Some((
                    ctx.host
                        .sh(&format!("{env}{} --with-colons {}", quote(&gpg), quote(file)))
                        .await?,
                    file.clone(),
                ))
            } else if let Some(data) = &params.data {
                Some((
                    ctx.host
                        .sh_with_stdin(
                            &format!("{env}{} --with-colons -", quote(&gpg)),
                            data.as_bytes(),
                        )
                        .await?,
                    "inline data".to_string(),
                ))
            } else {
                None
            };
            if let Some((out, from)) = out {
                if !out.success() {
                    let mut values = Map::new();
                    values.insert("stdout".into(), out.stdout_lossy().into());
                    values.insert("stderr".into(), out.stderr_lossy().into());
                    return Err(ModuleError::Failed {
                        msg: format!("Unable to extract key from '{from}'"),
                        values,
                    });
                }
                id = parse_output_for_keys(&out.stdout_lossy(), false)
                    .into_iter()
                    .next();
            }
        }
        let (_, (_, _, full)) = id_values(&id)?;
        let short_format = full.len() == 8;
        let keys = list_keys(params, &apt_key, short_format, ctx).await?;
        Ok(Observed {
            apt_key,
            id,
            keys,
            short_format,
        })
    }

    fn plan(
        &self,
        params: &AptKeyParams,
        seen: Observed,
        _ctx: &Context<'_>,
    ) -> Result<Planned<Action>, ModuleError> {
        let (mut r, (short, fingerprint, _)) = id_values(&seen.id)?;
        r.insert(
            "before".into(),
            Value::Array(seen.keys.iter().cloned().map(Value::String).collect()),
        );
        let outcome = |r: &Map<String, Value>, changed: bool| Outcome {
            changed,
            values: r.clone(),
            ..Outcome::default()
        };
        match params.state {
            KeyState::Present => {
                let has = if seen.short_format {
                    seen.keys.contains(&short)
                } else {
                    seen.keys.contains(&fingerprint)
                };
                if has {
                    return Ok(Planned::Done(outcome(&r, false)));
                }
                if params.file.is_none() && params.data.is_none() {
                    return Err(fail_with("No key to add ... how did i get here?!?!", &r));
                }
                Ok(Planned::Change {
                    preview: outcome(&r, true),
                    action: Action::Add {
                        apt_key: seen.apt_key,
                        result: r,
                    },
                })
            }
            KeyState::Absent => {
                if !seen.keys.contains(&fingerprint) {
                    return Ok(Planned::Done(outcome(&r, false)));
                }
                Ok(Planned::Change {
                    preview: outcome(&r, true),
                    action: Action::Remove {
                        apt_key: seen.apt_key,
                        result: r,
                    },
                })
            }
        }
    }

    async fn apply(
        &self,
        params: &AptKeyParams,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let kr = keyring_flag(params);
        let (apt_key, mut r, adding) = match action {
            Action::Add { apt_key, result } => (apt_key, result, true),
            Action::Remove { apt_key, result } => (apt_key, result, false),
        };
        let short = r.get("short_id").and_then(Value::as_str).unwrap_or("").to_string();
        let fingerprint = r.get("fp").and_then(Value::as_str).unwrap_or("").to_string();
        let full = r.get("key_id").and_then(Value::as_str).unwrap_or("").to_string();
        let short_format = full.len() == 8;
        let (cmd, out, failure) = if adding {
            if let Some(file) = &params.file {
                let cmd = format!("{}{kr} add {}", quote(&apt_key), quote(file));
                let out = ctx.host.sh(&cmd).await?;
                (cmd, out, format!("Unable to add a key from file {file}"))
            } else {
                let cmd = format!("{}{kr} add -", quote(&apt_key));
                let data = params.data.clone().unwrap_or_default();
                let out = ctx.host.sh_with_stdin(&cmd, data.as_bytes()).await?;
                (cmd, out, "Unable to add a key from binary data".to_string())
            }
        } else {
            let cmd = format!("{}{kr} del {}", quote(&apt_key), quote(&short));
            let out = ctx.host.sh(&cmd).await?;
            (cmd, out, format!("Unable to remove a key with id {short}"))
        };
        if !out.success() {
            r.insert("cmd".into(), cmd.into());
            r.insert("rc".into(), out.exit_code.into());
            r.insert("stdout".into(), out.stdout_lossy().into());
            r.insert("stderr".into(), out.stderr_lossy().into());
            return Err(fail_with(failure, &r));
        }
        let after = list_keys(params, &apt_key, short_format, ctx).await?;
        r.insert(
            "after".into(),
            Value::Array(after.iter().cloned().map(Value::String).collect()),
        );
        let wanted = if short_format { &short } else { &fingerprint };
        if adding && !after.contains(wanted) {
            return Err(fail_with(
                "apt-key did not return an error, but failed to add the key (check that the id is correct and *not* a subkey)",
                &r,
            ));
        }
        if !adding && after.contains(&fingerprint) {
            return Err(fail_with(
                "apt-key did not return an error, but the key was not removed (check that the id is correct and *not* a subkey)",
                &r,
            ));
        }
        Ok(Outcome {
            changed: true,
            values: r,
            ..Outcome::default()
        })
    }
}

tend_module_api::register_module!(AptKeyModule);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_as_ansible_splits_them() {
        assert_eq!(
            parse_key_id("0x473041fa"),
            Ok(("473041FA".into(), "473041FA".into(), "473041FA".into()))
        );
        assert_eq!(
            parse_key_id("9FED2BCBDCD29CDF762678CBAED4B06F473041FA"),
            Ok((
                "473041FA".into(),
                "AED4B06F473041FA".into(),
                "9FED2BCBDCD29CDF762678CBAED4B06F473041FA".into()
            ))
        );
        assert!(parse_key_id("12345").is_err());
        assert!(parse_key_id("xyz12345").is_err());
    }

    #[test]
    fn key_listings_parse_as_ansible() {
        let listing = "/etc/apt/trusted.gpg.d/debian.asc\n---------\npub   rsa4096/6ED0E7B82643E131 2023-01-21 [SC] [expires: 2031-01-19]\n      B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8\nuid           [ unknown] Debian Archive\nsub   rsa4096/0E98404D386FA1D9 2019-04-14 [S] [expired: 2021-01-01]\npub   ed25519/AED4B06F473041FA 2026-11-22 [SC]\n";
        assert_eq!(
            parse_output_for_keys(listing, false),
            vec!["6ED0E7B82643E131", "AED4B06F473041FA"]
        );
        assert_eq!(parse_output_for_keys(listing, true), vec!["2643E131", "473041FA"]);
        let colons = "pub:-:255:22:AED4B06F473041FA:1763790000:::-:::scSC::::::23::0:\nfpr:::::::::9FED2BCBDCD29CDF762678CBAED4B06F473041FA:\n";
        assert_eq!(parse_output_for_keys(colons, false), vec!["AED4B06F473041FA"]);
    }
}
