//! `group`: a local group exists with the given id, or does not exist.
//!
//! ```yaml
//! - name: Deployers share a group
//!   ansible.builtin.group:
//!     name: deploy
//!     gid: 1500
//!     system: false
//!
//! - ansible.builtin.group:
//!     name: legacy
//!     state: absent
//! ```
//!
//! Drives `groupadd`/`groupmod`/`groupdel` (or `lgroupadd`/... with `local: true`) as Ansible's
//! Linux implementation does, and looks groups up with `getent group` (the local group file
//! with `local: true`). Returns `name`, `state`, and for a group that exists afterwards `gid`
//! and `system`; in check mode a change reports only `changed`, as Ansible does. The options
//! `gid_min`/`gid_max` are passed to `groupadd -K`. Not supported: BusyBox `addgroup` hosts
//! (Alpine) and the BSDs' `pw`.

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupState {
    #[default]
    Present,
    Absent,
}

impl GroupState {
    fn name(self) -> &'static str {
        match self {
            GroupState::Present => "present",
            GroupState::Absent => "absent",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupParams {
    /// The group's name.
    pub name: String,
    /// Whether the group should exist.
    #[serde(default)]
    pub state: GroupState,
    /// The group id to set.
    #[serde(default)]
    pub gid: Option<u32>,
    /// Create a system group (`groupadd -r`).
    #[serde(default)]
    pub system: bool,
    /// Use `lgroupadd` and friends and look only at the local group file.
    #[serde(default)]
    pub local: bool,
    /// Allow a `gid` another group already has (`-o`); needs `gid`.
    #[serde(default)]
    pub non_unique: bool,
    /// Remove the group even when it is some user's primary group (`groupdel -f`).
    #[serde(default)]
    pub force: bool,
    /// Lowest id for a new group (`groupadd -K GID_MIN=`).
    #[serde(default)]
    pub gid_min: Option<u32>,
    /// Highest id for a new group (`groupadd -K GID_MAX=`).
    #[serde(default)]
    pub gid_max: Option<u32>,
}

/// The group as the host has it: its id, or `None` when there is no such group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAction {
    Add,
    Modify { gid: u32 },
    Delete,
}

pub struct GroupModule;

/// The id of group `name` on the host, if it exists.
async fn lookup(params: &GroupParams, ctx: &Context<'_>) -> Result<Option<u32>, ModuleError> {
    let script = if params.local {
        format!(
            "grep -- {} /etc/group | tail -n 1",
            quote(&format!("^{}:", params.name))
        )
    } else {
        format!("getent group -- {} || true", quote(&params.name))
    };
    let out = ctx.host.sh_ok(&script).await?;
    Ok(parse_group_line(
        &String::from_utf8_lossy(&out.stdout),
        &params.name,
    ))
}

/// The gid in a `name:x:gid:members` line of group `name`.
fn parse_group_line(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.trim().parse().ok()
    })
}

/// The command line for an action, as Ansible's Linux group class builds it.
fn command(params: &GroupParams, action: &GroupAction) -> String {
    let tool = |base: &str| {
        if params.local {
            format!("l{base}")
        } else {
            base.to_string()
        }
    };
    let mut words: Vec<String> = Vec::new();
    match action {
        GroupAction::Add => {
            words.push(tool("groupadd"));
            if let Some(gid) = params.gid {
                words.extend(["-g".into(), gid.to_string()]);
                if params.non_unique {
                    words.push("-o".into());
                }
            }
            if params.system {
                words.push("-r".into());
            }
            if let Some(min) = params.gid_min {
                words.extend(["-K".into(), format!("GID_MIN={min}")]);
            }
            if let Some(max) = params.gid_max {
                words.extend(["-K".into(), format!("GID_MAX={max}")]);
            }
        }
        GroupAction::Modify { gid } => {
            words.push(tool("groupmod"));
            words.extend(["-g".into(), gid.to_string()]);
            if params.non_unique {
                words.push("-o".into());
            }
        }
        GroupAction::Delete => {
            words.push(tool("groupdel"));
            if params.force {
                words.push("-f".into());
            }
        }
    }
    words.push(params.name.clone());
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

fn described(params: &GroupParams, outcome: Outcome, gid: Option<u32>) -> Outcome {
    let outcome = outcome
        .with_value("name", params.name.clone())
        .with_value("state", params.state.name());
    match gid {
        Some(gid) => outcome
            .with_value("system", params.system)
            .with_value("gid", gid),
        None => outcome,
    }
}

#[async_trait]
impl Module for GroupModule {
    type Params = GroupParams;
    type Observed = Observed;
    type Action = GroupAction;

    const NAME: &'static str = "group";

    async fn query(&self, params: &GroupParams, ctx: &Context<'_>) -> Result<Observed, ModuleError> {
        Ok(Observed {
            gid: lookup(params, ctx).await?,
        })
    }

    fn plan(
        &self,
        params: &GroupParams,
        observed: Observed,
        _ctx: &Context<'_>,
    ) -> Result<Planned<GroupAction>, ModuleError> {
        if params.force && params.local {
            return Err(ModuleError::failed(
                "force is not a valid option for local, force=True and local=True are mutually exclusive",
            ));
        }
        if params.non_unique && params.gid.is_none() {
            return Err(ModuleError::failed(
                "non_unique is True but all of the following are missing: gid",
            ));
        }
        let change = |action| {
            // Check mode reports a new or removed group with `changed` alone, as Ansible.
            Ok(Planned::Change {
                action,
                preview: Outcome::changed(),
            })
        };
        match (params.state, observed.gid) {
            (GroupState::Absent, Some(_)) => change(GroupAction::Delete),
            (GroupState::Absent, None) => Ok(Planned::Done(described(params, Outcome::ok(), None))),
            (GroupState::Present, None) => change(GroupAction::Add),
            (GroupState::Present, Some(current)) => match params.gid {
                Some(gid) if gid != current => Ok(Planned::Change {
                    action: GroupAction::Modify { gid },
                    // Ansible reports the id the group has before the change.
                    preview: described(params, Outcome::changed(), Some(current)),
                }),
                _ => Ok(Planned::Done(described(
                    params,
                    Outcome::ok(),
                    Some(current),
                ))),
            },
        }
    }

    async fn apply(
        &self,
        params: &GroupParams,
        action: GroupAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let out = ctx.host.sh(&command(params, &action)).await?;
        // Ansible strips the trailing newline of a command's output.
        let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end_matches('\n').to_string();
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        if out.exit_code != 0 {
            let mut values = serde_json::Map::new();
            values.insert("name".into(), params.name.clone().into());
            return Err(ModuleError::Failed {
                msg: stderr,
                values,
            });
        }
        let gid = lookup(params, ctx).await?;
        let mut outcome = described(params, Outcome::changed(), gid);
        if !stdout.is_empty() {
            outcome = outcome.with_value("stdout", stdout);
        }
        if !stderr.is_empty() {
            outcome = outcome.with_value("stderr", stderr);
        }
        Ok(outcome)
    }
}

tend_module_api::register_module!(GroupModule);

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> GroupParams {
        serde_json::from_value(json).expect("params")
    }

    #[test]
    fn reads_the_gid_of_the_named_group_only() {
        let text = "deployers:x:1501:\ndeploy:x:1500:alice,bob\n";
        assert_eq!(parse_group_line(text, "deploy"), Some(1500));
        assert_eq!(parse_group_line(text, "deployers"), Some(1501));
        assert_eq!(parse_group_line(text, "dep"), None);
        assert_eq!(parse_group_line("", "deploy"), None);
    }

    #[test]
    fn commands_as_ansible_builds_them() {
        let p = params(serde_json::json!({
            "name": "app", "gid": 1500, "non_unique": true, "system": true,
            "gid_min": 100, "gid_max": 999
        }));
        assert_eq!(
            command(&p, &GroupAction::Add),
            "groupadd -g 1500 -o -r -K GID_MIN=100 -K GID_MAX=999 app"
        );
        assert_eq!(
            command(&p, &GroupAction::Modify { gid: 7 }),
            "groupmod -g 7 -o app"
        );
        let p = params(serde_json::json!({"name": "odd name", "force": true}));
        assert_eq!(command(&p, &GroupAction::Delete), "groupdel -f 'odd name'");
        let p = params(serde_json::json!({"name": "app", "local": true}));
        assert_eq!(command(&p, &GroupAction::Add), "lgroupadd app");
    }
}
