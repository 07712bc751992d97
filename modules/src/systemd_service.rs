//! `systemd_service` (also `systemd`): a systemd unit is started, stopped, restarted or
//! reloaded, enabled or disabled, masked or unmasked; systemd reloads its units.
//!
//! ```yaml
//! - name: Pick up a changed unit file, then restart
//!   ansible.builtin.systemd_service:
//!     name: app.service
//!     state: restarted
//!     daemon_reload: true
//!
//! - ansible.builtin.systemd:
//!     name: nginx
//!     enabled: true
//!     state: started
//!
//! - ansible.builtin.systemd_service:
//!     name: telnet.socket
//!     masked: true
//!
//! - name: A user unit
//!   ansible.builtin.systemd_service:
//!     name: sync.timer
//!     scope: user
//!     state: started
//! ```
//!
//! Drives `systemctl` exactly as Ansible's module does (`show`, `is-enabled`, `enable`,
//! `mask`, `start`, ... with `--user`/`--global`, `--no-block`, `--force`), reads
//! `systemctl show` the same way (multi-line `Exec*={ ... }` values), and returns `name`,
//! `status` (the `show` properties), `enabled` and `state` as Ansible does. An init script
//! in `/etc/init.d` counts as the service when systemd has no unit (its boot links decide
//! `enabled`), with Ansible's warning.
//!
//! **Proven by unit tests only**: systemd cannot run as PID 1 in tend's lab hosts, so the
//! command lines and the parsing of recorded `systemctl show` output are tested, not runs
//! against a live systemd. Differences from Ansible: none known; chroot/`SYSTEMD_OFFLINE`
//! detection (which turns some failures into warnings) is not done.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

use crate::service::ServiceState;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    System,
    User,
    Global,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemdParams {
    /// The unit (`.service` may be left off).
    #[serde(default, alias = "service", alias = "unit")]
    pub name: Option<String>,
    /// `started`/`stopped` are idempotent; `restarted`/`reloaded` always act.
    #[serde(default)]
    pub state: Option<ServiceState>,
    /// Start at boot.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `systemctl --force` (overrides existing conflicting symlinks).
    #[serde(default)]
    pub force: Option<bool>,
    /// Masked (cannot be started at all).
    #[serde(default)]
    pub masked: Option<bool>,
    /// `systemctl daemon-reload` first.
    #[serde(default, alias = "daemon-reload")]
    pub daemon_reload: bool,
    /// `systemctl daemon-reexec` first.
    #[serde(default, alias = "daemon-reexec")]
    pub daemon_reexec: bool,
    /// `system`, `user` (the connecting user's manager) or `global` (all users).
    #[serde(default)]
    pub scope: Scope,
    /// Do not wait for the job to finish (`--no-block`).
    #[serde(default)]
    pub no_block: bool,
}

impl SystemdParams {
    /// `systemctl` with the scope and behaviour flags, as Ansible prefixes every call.
    fn systemctl(&self, bin: &str) -> String {
        let mut cmd = quote(bin).to_string();
        match self.scope {
            Scope::System => {}
            Scope::User => cmd.push_str(" --user"),
            Scope::Global => cmd.push_str(" --global"),
        }
        if self.no_block {
            cmd.push_str(" --no-block");
        }
        if self.force == Some(true) {
            cmd.push_str(" --force");
        }
        cmd
    }
}

/// Output of one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ran {
    pub rc: i32,
    pub out: String,
    pub err: String,
}

/// What the query saw about the unit.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub systemctl: String,
    /// `systemctl show UNIT`.
    pub show: Ran,
    /// `systemctl is-enabled UNIT`.
    pub is_enabled: Ran,
    /// `systemctl is-enabled UNIT -l` (what `enabled` reads).
    pub is_enabled_l: Ran,
    /// `systemctl list-unit-files UNIT` exit status, and for templated units the
    /// `list-unit-files 'base@*'` output and `is-active`.
    pub list_unit_files_rc: i32,
    pub list_template: String,
    pub is_active: String,
    /// `/etc/init.d/UNIT` is executable.
    pub is_initd: bool,
    /// `/etc/rc?.d/S??UNIT` exists.
    pub sysv_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// `daemon-reload`/`daemon-reexec`, run first; the unit is observed again after them.
    pub reload_first: bool,
    /// The unit commands, in Ansible's order (mask, enable, state).
    pub commands: Vec<(String, Failure)>,
}

/// How a failing unit command is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Mask { action: String, found: bool },
    Enable { action: String },
    State { action: String },
}

pub struct SystemdServiceModule;

/// Ansible's `parse_systemctl_show`.
pub fn parse_systemctl_show(text: &str) -> BTreeMap<String, String> {
    let mut parsed = BTreeMap::new();
    let mut multival: Vec<&str> = Vec::new();
    let mut key: Option<&str> = None;
    for line in text.split('\n') {
        match key {
            None => {
                if let Some((k, v)) = line.split_once('=') {
                    if k.starts_with("Exec")
                        && v.trim_start().starts_with('{')
                        && !v.trim_end().ends_with('}')
                    {
                        multival.push(v);
                        key = Some(k);
                        continue;
                    }
                    parsed.insert(k.to_string(), v.trim().to_string());
                }
            }
            Some(k) => {
                multival.push(line);
                if line.trim_end().ends_with('}') {
                    parsed.insert(k.to_string(), multival.join("\n").trim().to_string());
                    multival.clear();
                    key = None;
                }
            }
        }
    }
    parsed
}

fn request_was_ignored(out: &str) -> bool {
    !out.contains('=') && (out.contains("ignoring request") || out.contains("ignoring command"))
}

const VALID_ENABLED_STATES: &[&str] = &[
    "enabled",
    "enabled-runtime",
    "linked",
    "linked-runtime",
    "masked",
    "masked-runtime",
    "static",
    "indirect",
    "disabled",
    "generated",
    "transient",
];

async fn ran(ctx: &Context<'_>, cmd: &str) -> Result<Ran, ModuleError> {
    let out = ctx
        .host
        .sh(&format!(
            "[ -n \"${{XDG_RUNTIME_DIR:-}}\" ] || {{ XDG_RUNTIME_DIR=/run/user/$(id -u); export XDG_RUNTIME_DIR; }}; {cmd}"
        ))
        .await?;
    Ok(Ran {
        rc: out.exit_code,
        out: out.stdout_lossy(),
        err: out.stderr_lossy(),
    })
}

pub(crate) async fn observe(
    params: &SystemdParams,
    ctx: &Context<'_>,
) -> Result<Observed, ModuleError> {
    let found = ran(ctx, "command -v systemctl").await?;
    let bin = found.out.trim().to_string();
    if found.rc != 0 || bin.is_empty() {
        return Err(ModuleError::failed(
            "Failed to find required executable \"systemctl\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ));
    }
    let mut seen = Observed {
        systemctl: bin.clone(),
        ..Observed::default()
    };
    let Some(unit) = params.name.as_deref() else {
        return Ok(seen);
    };
    if unit.contains(['*', '?', '[']) {
        return Ok(seen);
    }
    let systemctl = params.systemctl(&bin);
    let u = quote(unit);
    seen.show = ran(ctx, &format!("{systemctl} show {u}")).await?;
    let sysv = ran(
        ctx,
        &format!(
            "[ -x /etc/init.d/{u} ] && echo initd; for l in /etc/rc?.d/S??{u}; do [ -e \"$l\" ] || [ -L \"$l\" ] && echo enabled; done; true"
        ),
    )
    .await?;
    seen.is_initd = sysv.out.lines().any(|l| l == "initd");
    seen.sysv_enabled = sysv.out.lines().any(|l| l == "enabled");
    let show_ok = seen.show.rc == 0
        && !(request_was_ignored(&seen.show.out) || request_was_ignored(&seen.show.err));
    if !show_ok {
        if seen.show.rc == 1 && seen.show.err.contains("Failed to parse bus message") {
            let (base, sep, _) = partition(unit, '@');
            let search = format!("{base}{sep}");
            seen.list_template = ran(
                ctx,
                &format!("{systemctl} list-unit-files {}", quote(&format!("{search}*"))),
            )
            .await?
            .out;
            seen.is_active = ran(ctx, &format!("{systemctl} is-active {u}")).await?.out;
        } else {
            seen.is_enabled = ran(ctx, &format!("{systemctl} is-enabled {u}")).await?;
            if !VALID_ENABLED_STATES.contains(&seen.is_enabled.out.trim()) {
                seen.list_unit_files_rc = ran(ctx, &format!("{systemctl} list-unit-files {u}"))
                    .await?
                    .rc;
            }
        }
    }
    if params.masked.is_some() && seen.is_enabled.out.is_empty() {
        seen.is_enabled = ran(ctx, &format!("{systemctl} is-enabled {u}")).await?;
    }
    if params.enabled.is_some() {
        seen.is_enabled_l = ran(ctx, &format!("{systemctl} is-enabled {u} -l")).await?;
    }
    Ok(seen)
}

fn partition(s: &str, sep: char) -> (&str, &str, &str) {
    match s.find(sep) {
        Some(i) => (&s[..i], &s[i..i + sep.len_utf8()], &s[i + sep.len_utf8()..]),
        None => (s, "", ""),
    }
}

fn fail(msg: impl Into<String>, values: Map<String, Value>) -> ModuleError {
    ModuleError::Failed {
        msg: msg.into(),
        values,
    }
}

/// Ansible's main() after the daemon reload, from what was observed: the result and the unit
/// commands to run.
pub fn decide(
    params: &SystemdParams,
    seen: &Observed,
) -> Result<(Outcome, Vec<(String, Failure)>), ModuleError> {
    if params.state.is_none()
        && params.enabled.is_none()
        && params.masked.is_none()
        && !params.daemon_reload
        && !params.daemon_reexec
    {
        return Err(ModuleError::failed(
            "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec",
        ));
    }
    for (given, key) in [
        (params.state.is_some(), "state"),
        (params.enabled.is_some(), "enabled"),
        (params.masked.is_some(), "masked"),
    ] {
        if given && params.name.is_none() {
            return Err(ModuleError::failed(format!(
                "missing parameter(s) required by '{key}': name"
            )));
        }
    }
    let mut outcome = Outcome::ok().with_value(
        "name",
        params.name.clone().map_or(Value::Null, Value::String),
    );
    let mut commands = Vec::new();
    let Some(unit) = params.name.as_deref() else {
        return Ok((outcome.with_value("status", Map::new()), commands));
    };
    for glob in ["*", "?", "["] {
        if unit.contains(glob) {
            return Err(ModuleError::failed(format!(
                "This module does not currently support using glob patterns, found '{glob}' in service name: {unit}"
            )));
        }
    }
    let systemctl = params.systemctl(&seen.systemctl);
    let u = format!("'{}'", unit.replace('\'', "'\\''"));
    let mut status: BTreeMap<String, String> = BTreeMap::new();
    let mut is_systemd = false;
    let show_ok = seen.show.rc == 0
        && !(request_was_ignored(&seen.show.out) || request_was_ignored(&seen.show.err));
    if show_ok {
        if !seen.show.out.is_empty() {
            status = parse_systemctl_show(&seen.show.out);
            let load = status.get("LoadState").map(String::as_str);
            is_systemd = load.is_some() && load != Some("not-found");
            let masked = load == Some("masked");
            if is_systemd && !masked {
                if let Some(err) = status.get("LoadError") {
                    return Err(ModuleError::failed(format!(
                        "Error loading unit file '{unit}': {err}"
                    )));
                }
            }
        }
    } else if seen.show.rc == 1 && seen.show.err.contains("Failed to parse bus message") {
        status = parse_systemctl_show(&seen.show.out);
        let (base, sep, _) = partition(unit, '@');
        is_systemd = seen.list_template.contains(&format!("{base}{sep}"));
        status.insert(
            "ActiveState".into(),
            seen.is_active.trim_end_matches('\n').to_string(),
        );
    } else if VALID_ENABLED_STATES.contains(&seen.is_enabled.out.trim())
        || seen.list_unit_files_rc == 0
    {
        is_systemd = true;
    } else {
        return Err(ModuleError::failed(format!(
            "systemctl could not tell about {unit}: {}",
            seen.show.err.trim()
        )));
    }
    let found = is_systemd || seen.is_initd;
    if seen.is_initd && !is_systemd {
        outcome.warnings.push(format!(
            "The service ({unit}) is actually an init script but the system is managed by systemd"
        ));
    }
    let missing = || {
        ModuleError::failed(format!("Could not find the requested service {unit}: host"))
    };

    if let Some(want) = params.masked {
        let masked = seen.is_enabled.out.trim() == "masked";
        if masked != want {
            outcome.changed = true;
            let action = if want { "mask" } else { "unmask" };
            commands.push((
                format!("{systemctl} {action} {u}"),
                Failure::Mask {
                    action: action.into(),
                    found,
                },
            ));
        }
    }

    if let Some(want) = params.enabled {
        if !found {
            return Err(missing());
        }
        let action = if want { "enable" } else { "disable" };
        let out = seen.is_enabled_l.out.trim_end();
        let enabled = match seen.is_enabled_l.rc {
            0 => !matches!(out, "enabled-runtime" | "indirect" | "alias"),
            1 => {
                params.scope == Scope::System
                    && seen.is_initd
                    && !seen.is_enabled_l.out.trim().ends_with("disabled")
                    && seen.sysv_enabled
            }
            _ => false,
        };
        let mut shown = enabled;
        if enabled != want {
            outcome.changed = true;
            commands.push((
                format!("{systemctl} {action} {u}"),
                Failure::Enable {
                    action: action.into(),
                },
            ));
            shown = !enabled;
        }
        outcome = outcome.with_value("enabled", shown);
    }

    if let Some(state) = params.state {
        if !found {
            return Err(missing());
        }
        let mut shown = state.name();
        let Some(active) = status.get("ActiveState").map(String::as_str) else {
            let mut values = Map::new();
            values.insert("status".into(), status_value(&status));
            return Err(fail("Service is in unknown state", values));
        };
        let running = matches!(active, "active" | "activating");
        let action = match state {
            ServiceState::Started => (!running).then_some("start"),
            ServiceState::Stopped => (running || active == "deactivating").then_some("stop"),
            ServiceState::Restarted | ServiceState::Reloaded => {
                shown = "started";
                Some(if !running {
                    "start"
                } else if state == ServiceState::Restarted {
                    "restart"
                } else {
                    "reload"
                })
            }
        };
        if let Some(action) = action {
            outcome.changed = true;
            commands.push((
                format!("{systemctl} {action} {u}"),
                Failure::State {
                    action: action.into(),
                },
            ));
        }
        outcome = outcome.with_value("state", shown);
    }
    Ok((outcome.with_value("status", status_value(&status)), commands))
}

fn status_value(status: &BTreeMap<String, String>) -> Value {
    Value::Object(
        status
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

pub(crate) fn plan(
    params: &SystemdParams,
    seen: Observed,
) -> Result<Planned<Action>, ModuleError> {
    let (outcome, commands) = decide(params, &seen)?;
    let reload_first = params.daemon_reload || params.daemon_reexec;
    if commands.is_empty() && !reload_first {
        return Ok(Planned::Done(outcome));
    }
    Ok(Planned::Change {
        action: Action {
            reload_first,
            commands,
        },
        preview: outcome,
    })
}

pub(crate) async fn apply(
    params: &SystemdParams,
    action: Action,
    ctx: &Context<'_>,
) -> Result<Outcome, ModuleError> {
    let mut commands = action.commands;
    let mut outcome = None;
    if action.reload_first {
        let found = ran(ctx, "command -v systemctl").await?;
        let systemctl = params.systemctl(found.out.trim());
        for (wanted, verb) in [
            (params.daemon_reload, "daemon-reload"),
            (params.daemon_reexec, "daemon-reexec"),
        ] {
            if wanted {
                let r = ran(ctx, &format!("{systemctl} {verb}")).await?;
                if r.rc != 0 {
                    return Err(ModuleError::failed(format!(
                        "failure {} during {verb}: {}",
                        r.rc, r.err
                    )));
                }
            }
        }
        // The unit files may have changed: decide again from a fresh look.
        let seen = observe(params, ctx).await?;
        let (fresh, fresh_commands) = decide(params, &seen)?;
        outcome = Some(fresh);
        commands = fresh_commands;
    }
    let mut outcome = match outcome {
        Some(o) => o,
        None => {
            let seen = observe(params, ctx).await?;
            decide(params, &seen)?.0
        }
    };
    let unit = params.name.clone().unwrap_or_default();
    for (cmd, failure) in &commands {
        let r = ran(ctx, cmd).await?;
        if r.rc == 0 {
            continue;
        }
        return Err(match failure {
            Failure::Mask { action, found } => {
                if !found {
                    ModuleError::failed(format!(
                        "Could not find the requested service {unit}: host"
                    ))
                } else {
                    ModuleError::failed(format!(
                        "Failed to {action} the service ({unit}): {}",
                        r.err.trim()
                    ))
                }
            }
            Failure::Enable { action } => ModuleError::failed(format!(
                "Unable to {action} service {unit}: {}{}",
                r.out, r.err
            )),
            Failure::State { action } => ModuleError::failed(format!(
                "Unable to {action} service {unit}: {}",
                r.err
            )),
        });
    }
    outcome.changed = !commands.is_empty();
    Ok(outcome)
}

#[async_trait]
impl Module for SystemdServiceModule {
    type Params = SystemdParams;
    type Observed = Observed;
    type Action = Action;

    const NAME: &'static str = "systemd_service";

    async fn query(
        &self,
        params: &SystemdParams,
        ctx: &Context<'_>,
    ) -> Result<Observed, ModuleError> {
        observe(params, ctx).await
    }

    fn plan(
        &self,
        params: &SystemdParams,
        seen: Observed,
        _ctx: &Context<'_>,
    ) -> Result<Planned<Action>, ModuleError> {
        plan(params, seen)
    }

    async fn apply(
        &self,
        params: &SystemdParams,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        apply(params, action, ctx).await
    }
}

tend_module_api::register_module!(SystemdServiceModule);

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from `systemctl show ssh.service` on Debian 12 (systemd 252).
    const SHOW_RUNNING: &str = "Type=notify\nRestart=on-failure\nMainPID=612\nExecMainPID=612\nExecStartPre={ path=/usr/sbin/sshd ; argv[]=/usr/sbin/sshd -t ; ignore_errors=no ; start_time=[Sun 2026-11-22 06:00:01 UTC] ; stop_time=[Sun 2026-11-22 06:00:01 UTC] ; pid=600 ; code=exited ; status=0 }\nExecStart={ path=/usr/sbin/sshd ; argv[]=/usr/sbin/sshd -D $SSHD_OPTS ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=612 ; code=(null) ; status=0/0 }\nExecReload={ path=/usr/sbin/sshd ; argv[]=/usr/sbin/sshd -t ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\nId=ssh.service\nNames=ssh.service\nDescription=OpenBSD Secure Shell server\nLoadState=loaded\nActiveState=active\nSubState=running\nFragmentPath=/lib/systemd/system/ssh.service\nUnitFileState=enabled\n";

    fn seen(show: &str) -> Observed {
        Observed {
            systemctl: "/usr/bin/systemctl".into(),
            show: Ran {
                rc: 0,
                out: show.into(),
                err: String::new(),
            },
            ..Observed::default()
        }
    }

    fn params(json: serde_json::Value) -> SystemdParams {
        tend_module_api::args::from_args(&json, tend_module_api::args::ArgMode::Run)
            .expect("params")
    }

    #[test]
    fn parses_systemctl_show_as_ansible() {
        let parsed = parse_systemctl_show(SHOW_RUNNING);
        assert_eq!(parsed["ActiveState"], "active");
        assert_eq!(parsed["MainPID"], "612");
        assert!(parsed["ExecStart"].starts_with("{ path=/usr/sbin/sshd"));
        let multi = "ExecStart={ path=/bin/sh ; argv[]=/bin/sh -c echo\n a ; status=0/0 }\nActiveState=inactive\n";
        let parsed = parse_systemctl_show(multi);
        assert_eq!(
            parsed["ExecStart"],
            "{ path=/bin/sh ; argv[]=/bin/sh -c echo\n a ; status=0/0 }"
        );
        assert_eq!(parsed["ActiveState"], "inactive");
    }

    #[test]
    fn started_and_enabled_unit_needs_nothing() {
        let p = params(serde_json::json!({"name": "ssh", "state": "started", "enabled": true}));
        let mut s = seen(SHOW_RUNNING);
        s.is_enabled_l = Ran {
            rc: 0,
            out: "enabled\n".into(),
            err: String::new(),
        };
        let (o, cmds) = decide(&p, &s).expect("decide");
        assert!(cmds.is_empty());
        assert!(!o.changed);
        assert_eq!(o.values["state"], "started");
        assert_eq!(o.values["enabled"], true);
        assert_eq!(o.values["status"]["SubState"], "running");
    }

    #[test]
    fn commands_as_ansible_builds_them() {
        let p = params(serde_json::json!({
            "name": "app", "state": "restarted", "enabled": false, "masked": false,
            "scope": "user", "no_block": true
        }));
        let mut s = seen(SHOW_RUNNING);
        s.is_enabled = Ran {
            rc: 1,
            out: "masked\n".into(),
            err: String::new(),
        };
        s.is_enabled_l = Ran {
            rc: 0,
            out: "enabled\n".into(),
            err: String::new(),
        };
        let (o, cmds) = decide(&p, &s).expect("decide");
        let lines: Vec<&str> = cmds.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            lines,
            vec![
                "/usr/bin/systemctl --user --no-block unmask 'app'",
                "/usr/bin/systemctl --user --no-block disable 'app'",
                "/usr/bin/systemctl --user --no-block restart 'app'",
            ]
        );
        assert!(o.changed);
        assert_eq!(o.values["enabled"], false);
        assert_eq!(o.values["state"], "started");

        let stopped = seen("LoadState=loaded\nActiveState=inactive\n");
        let p = params(serde_json::json!({"name": "app", "state": "reloaded"}));
        let (_, cmds) = decide(&p, &stopped).expect("decide");
        assert_eq!(cmds[0].0, "/usr/bin/systemctl start 'app'");
        let p = params(serde_json::json!({"name": "app", "state": "stopped"}));
        let (o, cmds) = decide(&p, &stopped).expect("decide");
        assert!(cmds.is_empty() && !o.changed);
    }

    #[test]
    fn missing_units_and_init_scripts() {
        let p = params(serde_json::json!({"name": "nope", "state": "started"}));
        let s = seen("LoadState=not-found\nActiveState=inactive\n");
        let err = decide(&p, &s).expect_err("missing");
        assert_eq!(err.to_string(), "Could not find the requested service nope: host");

        let p = params(serde_json::json!({"name": "legacy", "enabled": true}));
        let mut s = seen("LoadState=not-found\nActiveState=inactive\n");
        s.is_initd = true;
        s.sysv_enabled = true;
        s.is_enabled_l = Ran {
            rc: 1,
            out: String::new(),
            err: String::new(),
        };
        let (o, cmds) = decide(&p, &s).expect("decide");
        assert!(cmds.is_empty());
        assert_eq!(o.values["enabled"], true);
        assert_eq!(o.warnings.len(), 1);

        let p = params(serde_json::json!({"name": "web*", "state": "started"}));
        assert!(decide(&p, &seen("")).is_err());
        let p = params(serde_json::json!({"daemon_reload": true}));
        let (o, cmds) = decide(&p, &Observed::default()).expect("decide");
        assert!(cmds.is_empty() && !o.changed);
        assert_eq!(o.values["name"], Value::Null);
    }
}
