//! `getent`: entries of a name service database (`passwd`, `group`, `hosts`, `services`, ...)
//! as facts, read with the host's `getent`.
//!
//! ```yaml
//! - ansible.builtin.getent:
//!     database: passwd
//!     key: root
//! - ansible.builtin.debug:
//!     msg: "root's shell is {{ getent_passwd.root[5] }}"
//! ```
//!
//! Sets the fact `getent_<database>`: each entry's first field maps to its other fields (split
//! on `:` for passwd, shadow, group and gshadow, on whitespace otherwise, or on `split`); a
//! key seen more than once maps to a list of those lists. A missing key fails unless
//! `fail_key: false` (the key then maps to `null`). Never changed.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetentParams {
    /// The database: `passwd`, `group`, `hosts`, `services`, ...
    pub database: String,
    /// One entry to look up; all of them without it.
    pub key: Option<String>,
    /// A `getent -s` service.
    pub service: Option<String>,
    /// What separates fields (default `:` for the colon databases, else whitespace).
    pub split: Option<String>,
    /// Fail when `key` is not found.
    #[serde(default = "yes")]
    pub fail_key: bool,
}

/// `getent`'s exit status and output.
pub struct Looked {
    rc: i32,
    out: String,
}

pub struct GetentModule;

const COLON: &[&str] = &["passwd", "shadow", "group", "gshadow"];

/// The fact's value from `getent` output, as Ansible's module builds it.
fn entries(database: &str, split: Option<&str>, out: &str) -> Map<String, Value> {
    let split = split.or(COLON.contains(&database).then_some(":"));
    let mut tree = Map::new();
    let mut seen = std::collections::HashMap::new();
    for line in out.lines() {
        let fields: Vec<&str> = match split {
            Some(sep) => line.split(sep).collect(),
            None => line.split_whitespace().collect(),
        };
        let Some((first, rest)) = fields.split_first() else {
            continue;
        };
        let rest = Value::Array(rest.iter().map(|f| Value::from(*f)).collect());
        let count = seen.entry((*first).to_string()).or_insert(0usize);
        *count += 1;
        match (*count, tree.get_mut(*first)) {
            // A repeated key collects its entries in a list.
            (2, Some(existing)) => {
                let first_entry = existing.take();
                *existing = Value::Array(vec![first_entry, rest]);
            }
            (_, Some(Value::Array(existing))) => existing.push(rest),
            _ => {
                tree.insert((*first).to_string(), rest);
            }
        }
    }
    tree
}

#[async_trait]
impl Module for GetentModule {
    type Params = GetentParams;
    type Observed = Looked;
    type Action = ();

    const NAME: &'static str = "getent";

    async fn query(&self, params: &GetentParams, ctx: &Context<'_>) -> Result<Looked, ModuleError> {
        let mut command = format!("getent {}", quote(&params.database));
        if let Some(key) = &params.key {
            command.push(' ');
            command.push_str(&quote(key));
        }
        if let Some(service) = &params.service {
            command.push_str(" -s ");
            command.push_str(&quote(service));
        }
        let out = ctx.host.sh(&command).await?;
        Ok(Looked {
            rc: out.exit_code,
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
        })
    }

    fn plan(
        &self,
        params: &GetentParams,
        looked: Looked,
        _ctx: &Context<'_>,
    ) -> Result<Planned<()>, ModuleError> {
        let fact = format!("getent_{}", params.database);
        let mut outcome = Outcome::ok();
        let msg = match looked.rc {
            0 => {
                let tree = entries(&params.database, params.split.as_deref(), &looked.out);
                outcome.facts.insert(fact, Value::Object(tree));
                return Ok(Planned::Done(outcome));
            }
            1 => "Missing arguments, or database unknown.",
            2 => {
                let msg = "One or more supplied key could not be found in the database.";
                if !params.fail_key {
                    let mut tree = Map::new();
                    tree.insert(params.key.clone().unwrap_or_default(), Value::Null);
                    outcome.facts.insert(fact, Value::Object(tree));
                    return Ok(Planned::Done(outcome.with_msg(msg)));
                }
                msg
            }
            3 => "Enumeration not supported on this database.",
            _ => "Unexpected failure!",
        };
        Err(ModuleError::failed(msg))
    }

    async fn apply(
        &self,
        _params: &GetentParams,
        _action: (),
        _ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        Ok(Outcome::ok())
    }
}

tend_module_api::register_module!(GetentModule);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_as_ansible() {
        let tree = entries(
            "passwd",
            None,
            "root:x:0:0:root:/root:/bin/bash\nbin:x:1:1::/bin:/usr/sbin/nologin\n",
        );
        assert_eq!(
            tree["root"],
            json!(["x", "0", "0", "root", "/root", "/bin/bash"])
        );
        assert_eq!(tree["bin"][3], "");
        let tree = entries(
            "hosts",
            None,
            "127.0.0.1       localhost\n127.0.0.1  other alias\n::1 localhost ip6\n",
        );
        assert_eq!(tree["127.0.0.1"], json!([["localhost"], ["other", "alias"]]));
        assert_eq!(tree["::1"], json!(["localhost", "ip6"]));
        let tree = entries("services", Some("/"), "ssh/22\n");
        assert_eq!(tree["ssh"], json!(["22"]));
    }
}
