//! The `vault` and `unvault` filters (ansible.builtin's `plugins/filter/encryption.py`): a string
//! encrypted with a password given in the template, and vault text decrypted with one, in the
//! `$ANSIBLE_VAULT` format `ansible-vault` reads and writes (through `tend-vault`).
//!
//! These use only the secret passed to the filter, never the keyring installed from the
//! `--vault-*` options, as Ansible builds a one-secret `VaultLib` for each call.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};

use crate::filters::{err, require_defined, text_of, Args, RestArgs};
use crate::pyfmt::type_name;

type FilterResult = Result<Value, Error>;

/// The vault id both filters use when none is given (`vault_id='filter_default'`).
const FILTER_DEFAULT_ID: &str = "filter_default";

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("vault", vault);
    env.add_filter("unvault", unvault);
}

/// The bytes of a `str` or `bytes` value; `None` for anything else.
fn text_bytes(value: &Value) -> Option<Vec<u8>> {
    match value.kind() {
        ValueKind::String => value.as_str().map(|s| s.as_bytes().to_vec()),
        ValueKind::Bytes => value.as_bytes().map(<[u8]>::to_vec),
        _ => None,
    }
}

/// The secret argument, which must be a string (`VaultSecret(to_bytes(secret))`).
fn secret_arg(value: Option<Value>, filter: &str, what: &str) -> Result<Vec<u8>, Error> {
    let value = value.ok_or_else(|| {
        err(format!(
            "{filter}() missing 1 required positional argument: 'secret'"
        ))
    })?;
    require_defined(&value)?;
    text_bytes(&value).ok_or_else(|| {
        err(format!(
            "Secret passed is required to be {what} string, instead we got <class '{}'>.",
            type_name(&value)
        ))
    })
}

/// `vault_id`, with the deprecated `vaultid` taking its place while `vault_id` is the default.
fn vault_id_arg(args: &mut Args, vault_id: usize, vaultid: usize) -> Result<Option<String>, Error> {
    let named = match args.get(vault_id) {
        None => Some(FILTER_DEFAULT_ID.to_string()),
        Some(v) if v.is_none() => None,
        Some(v) => Some(text_of(&v)?),
    };
    match args.string(vaultid)? {
        Some(old) if named.as_deref() == Some(FILTER_DEFAULT_ID) => Ok(Some(old)),
        _ => Ok(named),
    }
}

/// `vault(data, secret, salt=None, vault_id='filter_default', wrap_object=False)`.
fn vault(data: &Value, rest: RestArgs) -> FilterResult {
    require_defined(data)?;
    let mut args = Args::new(
        "vault",
        rest.into_values(),
        &["secret", "salt", "vault_id", "wrap_object", "vaultid"],
    )?;
    let secret = secret_arg(args.get(0), "vault", "a")?;
    let Some(plaintext) = text_bytes(data) else {
        return Err(err(format!(
            "Can only vault strings, instead we got <class '{}'>.",
            type_name(data)
        )));
    };
    // `to_bytes(salt)`: the salt's text is the salt, not hex (`salt=12345` salts with "12345").
    let salt = args.string(1)?;
    let vault_id = vault_id_arg(&mut args, 2, 4)?;
    if args.flag(3)? {
        // Ansible 2.19 returns the secret itself tagged with the ciphertext, which only its
        // `to_yaml` can turn back into vault text; tend's values carry no tags.
        return Err(err("vault(wrap_object=True) is not supported by tend"));
    }
    args.finish()?;
    let secret = tend_vault::Secret::new(secret);
    let encrypted = match salt {
        None => tend_vault::encrypt(&plaintext, &secret, vault_id.as_deref()),
        Some(salt) => {
            tend_vault::encrypt_with_salt(&plaintext, &secret, vault_id.as_deref(), salt.as_bytes())
        }
    };
    encrypted
        .map(Value::from)
        .map_err(|e| err(format!("Unable to encrypt: {e}")))
}

/// `unvault(vault, secret, vault_id='filter_default')`: text that is not vaulted is returned as
/// it is.
fn unvault(vaulted: &Value, rest: RestArgs) -> FilterResult {
    require_defined(vaulted)?;
    let mut args = Args::new(
        "unvault",
        rest.into_values(),
        &["secret", "vault_id", "vaultid"],
    )?;
    let secret = secret_arg(args.get(0), "unvault", "as")?;
    let Some(text) = text_bytes(vaulted) else {
        return Err(err(format!(
            "Vault should be in the form of a string, instead we got <class '{}'>.",
            type_name(vaulted)
        )));
    };
    let vault_id = vault_id_arg(&mut args, 1, 2)?.unwrap_or_default();
    args.finish()?;
    if !tend_vault::is_vaulted(&text) {
        return Ok(String::from_utf8_lossy(&text).into_owned().into());
    }
    let mut keyring = tend_vault::Keyring::new();
    keyring.add(vault_id, tend_vault::Secret::new(secret));
    let decrypted = keyring
        .decrypt(&text)
        .map_err(|e| err(format!("Unable to decrypt: {e}")))?;
    String::from_utf8(decrypted.plaintext.to_vec())
        .map(Value::from)
        .map_err(|_| err("Unable to decrypt: the decrypted vault content is not UTF-8 text"))
}
