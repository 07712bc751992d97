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
//! Check mode runs the same reads and skips the writes, as Ansible does; a real run repeats
//! the reads in Ansible's order, so each decision sees the unit as the previous command left
//! it.
//!
//! **Not proven against a live systemd**: systemd cannot run as PID 1 in tend's lab hosts.
//! The command lines and the reading of recorded `systemctl show` output are unit-tested,
//! and the conformance case `systemd_fake_systemctl` runs tend and Ansible against the same
//! recording stand-in `systemctl` and compares the commands that change units and the
//! results. Differences from Ansible: none known; chroot/`SYSTEMD_OFFLINE` detection (which
//! turns some failures into warnings) is not done.

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

/// What the query found: Ansible's logic run as in check mode (reads only).
#[derive(Debug)]
pub struct Observed {
    preview: Outcome,
    /// Something would be run: a unit command, or a daemon reload/reexec.
    acts: bool,
}

/// A real run of the module's logic.
#[derive(Debug)]
pub struct Action;

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

/// `systemctl VERB 'UNIT'` as Ansible writes it.
fn unit_command(systemctl: &str, verb: &str, unit: &str) -> String {
    format!("{systemctl} {verb} {}", quote_unit(unit))
}

fn quote_unit(unit: &str) -> String {
    format!("'{}'", unit.replace('\'', "'\\''"))
}

/// Whether `systemctl is-enabled UNIT -l` means enabled, as Ansible reads it.
fn enabled_from(l: &Ran, scope: Scope, is_initd: bool, sysv_enabled: bool) -> bool {
    match l.rc {
        0 => !matches!(l.out.trim_end(), "enabled-runtime" | "indirect" | "alias"),
        1 => {
            scope == Scope::System
                && is_initd
                && !l.out.trim().ends_with("disabled")
                && sysv_enabled
        }
        _ => false,
    }
}

/// The unit command for a wanted state given `ActiveState`, and the state reported.
fn state_action(state: ServiceState, active: &str) -> (Option<&'static str>, &'static str) {
    let running = matches!(active, "active" | "activating");
    match state {
        ServiceState::Started => ((!running).then_some("start"), "started"),
        ServiceState::Stopped => (
            (running || active == "deactivating").then_some("stop"),
            "stopped",
        ),
        ServiceState::Restarted | ServiceState::Reloaded => (
            Some(if !running {
                "start"
            } else if state == ServiceState::Restarted {
                "restart"
            } else {
                "reload"
            }),
            "started",
        ),
    }
}

/// The parameter checks Ansible's argument spec makes.
fn validate(params: &SystemdParams) -> Result<(), ModuleError> {
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
    if let Some(unit) = params.name.as_deref() {
        for glob in ["*", "?", "["] {
            if unit.contains(glob) {
                return Err(ModuleError::failed(format!(
                    "This module does not currently support using glob patterns, found '{glob}' in service name: {unit}"
                )));
            }
        }
    }
    Ok(())
}

/// Ansible's main(), in its order of reads and writes. With `check`, nothing is changed
/// (reads only); the result is what check mode reports. Returns the result and whether a
/// real run would run anything (a unit command, or a daemon reload/reexec).
async fn flow(
    params: &SystemdParams,
    ctx: &Context<'_>,
    check: bool,
) -> Result<(Outcome, bool), ModuleError> {
    validate(params)?;
    let found_bin = ran(ctx, "command -v systemctl").await?;
    let bin = found_bin.out.trim().to_string();
    if found_bin.rc != 0 || bin.is_empty() {
        return Err(ModuleError::failed(
            "Failed to find required executable \"systemctl\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ));
    }
    let systemctl = params.systemctl(&bin);
    let mut acts = params.daemon_reload || params.daemon_reexec;
    for (wanted, verb) in [
        (params.daemon_reload, "daemon-reload"),
        (params.daemon_reexec, "daemon-reexec"),
    ] {
        if wanted && !check {
            let r = ran(ctx, &format!("{systemctl} {verb}")).await?;
            if r.rc != 0 {
                return Err(ModuleError::failed(format!(
                    "failure {} during {verb}: {}",
                    r.rc, r.err
                )));
            }
        }
    }
    let mut outcome = Outcome::ok().with_value(
        "name",
        params.name.clone().map_or(Value::Null, Value::String),
    );
    let Some(unit) = params.name.as_deref() else {
        return Ok((outcome.with_value("status", Map::new()), acts));
    };
    let u = quote_unit(unit);
    let sysv = ran(
        ctx,
        &format!(
            "[ -x /etc/init.d/{q} ] && echo initd; for l in /etc/rc?.d/S??{q}; do [ -e \"$l\" ] || [ -L \"$l\" ] && echo enabled; done; true",
            q = quote(unit)
        ),
    )
    .await?;
    let is_initd = sysv.out.lines().any(|l| l == "initd");
    let sysv_enabled = sysv.out.lines().any(|l| l == "enabled");
    let mut is_systemd = false;
    let mut status: BTreeMap<String, String> = BTreeMap::new();
    let show = ran(ctx, &format!("{systemctl} show {u}")).await?;
    if show.rc == 0 && !(request_was_ignored(&show.out) || request_was_ignored(&show.err)) {
        if !show.out.is_empty() {
            status = parse_systemctl_show(&show.out);
            let load = status.get("LoadState").map(String::as_str);
            is_systemd = load.is_some() && load != Some("not-found");
            if is_systemd && load != Some("masked") {
                if let Some(err) = status.get("LoadError") {
                    return Err(ModuleError::failed(format!(
                        "Error loading unit file '{unit}': {err}"
                    )));
                }
            }
        }
    } else if show.rc == 1 && show.err.contains("Failed to parse bus message") {
        status = parse_systemctl_show(&show.out);
        let (base, sep, _) = partition(unit, '@');
        let search = format!("{base}{sep}");
        let listed = ran(
            ctx,
            &format!("{systemctl} list-unit-files {}", quote_unit(&format!("{search}*"))),
        )
        .await?;
        is_systemd = listed.out.contains(&search);
        let active = ran(ctx, &format!("{systemctl} is-active {u}")).await?;
        status.insert(
            "ActiveState".into(),
            active.out.trim_end_matches('\n').to_string(),
        );
    } else {
        let r = ran(ctx, &format!("{systemctl} is-enabled {u}")).await?;
        // `list-unit-files` is only asked when `is-enabled` did not tell (as Ansible).
        let known = VALID_ENABLED_STATES.contains(&r.out.trim())
            || ran(ctx, &format!("{systemctl} list-unit-files {u}")).await?.rc == 0;
        if known {
            is_systemd = true;
        } else {
            let r = ran(ctx, &systemctl).await?;
            if r.rc != 0 {
                return Err(ModuleError::failed(r.err.trim().to_string()));
            }
        }
    }
    let found = is_systemd || is_initd;
    if is_initd && !is_systemd {
        outcome.warnings.push(format!(
            "The service ({unit}) is actually an init script but the system is managed by systemd"
        ));
    }
    let missing = || ModuleError::failed(format!("Could not find the requested service {unit}: host"));

    if let Some(want) = params.masked {
        let r = ran(ctx, &format!("{systemctl} is-enabled {u}")).await?;
        let masked = r.out.trim() == "masked";
        if masked != want {
            outcome.changed = true;
            acts = true;
            let action = if want { "mask" } else { "unmask" };
            if !check {
                let r = ran(ctx, &unit_command(&systemctl, action, unit)).await?;
                if r.rc != 0 {
                    if !found {
                        return Err(missing());
                    }
                    return Err(ModuleError::failed(format!(
                        "Failed to {action} the service ({unit}): {}",
                        r.err.trim()
                    )));
                }
            }
        }
    }

    if let Some(want) = params.enabled {
        let action = if want { "enable" } else { "disable" };
        if !found {
            return Err(missing());
        }
        let l = ran(ctx, &format!("{systemctl} is-enabled {u} -l")).await?;
        let enabled = enabled_from(&l, params.scope, is_initd, sysv_enabled);
        let mut shown = enabled;
        if enabled != want {
            outcome.changed = true;
            acts = true;
            if !check {
                let r = ran(ctx, &unit_command(&systemctl, action, unit)).await?;
                if r.rc != 0 {
                    return Err(ModuleError::failed(format!(
                        "Unable to {action} service {unit}: {}{}",
                        r.out, r.err
                    )));
                }
            }
            shown = !enabled;
        }
        outcome = outcome.with_value("enabled", shown);
    }

    if let Some(state) = params.state {
        if !found {
            return Err(missing());
        }
        let Some(active) = status.get("ActiveState").cloned() else {
            let mut values = Map::new();
            values.insert("status".into(), status_value(&status));
            return Err(fail("Service is in unknown state", values));
        };
        let (action, shown) = state_action(state, &active);
        if let Some(action) = action {
            outcome.changed = true;
            acts = true;
            if !check {
                let r = ran(ctx, &unit_command(&systemctl, action, unit)).await?;
                if r.rc != 0 {
                    return Err(ModuleError::failed(format!(
                        "Unable to {action} service {unit}: {}",
                        r.err
                    )));
                }
            }
        }
        outcome = outcome.with_value("state", shown);
    }
    Ok((outcome.with_value("status", status_value(&status)), acts))
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

fn status_value(status: &BTreeMap<String, String>) -> Value {
    Value::Object(
        status
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

pub(crate) async fn observe(
    params: &SystemdParams,
    ctx: &Context<'_>,
) -> Result<Observed, ModuleError> {
    let (preview, acts) = flow(params, ctx, true).await?;
    Ok(Observed { preview, acts })
}

pub(crate) fn plan(
    _params: &SystemdParams,
    seen: Observed,
) -> Result<Planned<Action>, ModuleError> {
    Ok(if seen.acts {
        Planned::Change {
            action: Action,
            preview: seen.preview,
        }
    } else {
        Planned::Done(seen.preview)
    })
}

pub(crate) async fn apply(
    params: &SystemdParams,
    _action: Action,
    ctx: &Context<'_>,
) -> Result<Outcome, ModuleError> {
    Ok(flow(params, ctx, false).await?.0)
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

    fn params(json: serde_json::Value) -> SystemdParams {
        tend_module_api::args::from_args(&json, tend_module_api::args::ArgMode::Run)
            .expect("params")
    }

    fn ran(rc: i32, out: &str) -> Ran {
        Ran {
            rc,
            out: out.into(),
            err: String::new(),
        }
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
    fn enabled_read_as_ansible() {
        assert!(enabled_from(&ran(0, "enabled\n"), Scope::System, false, false));
        assert!(enabled_from(&ran(0, "static\n"), Scope::System, false, false));
        assert!(!enabled_from(&ran(0, "indirect\n"), Scope::System, false, false));
        assert!(!enabled_from(&ran(1, "disabled\n"), Scope::System, true, true));
        // An init script with boot links counts when systemd knows nothing.
        assert!(enabled_from(&ran(1, ""), Scope::System, true, true));
        assert!(!enabled_from(&ran(1, ""), Scope::User, true, true));
        assert!(!enabled_from(&ran(4, ""), Scope::System, true, true));
    }

    #[test]
    fn state_actions_as_ansible() {
        use ServiceState::*;
        assert_eq!(state_action(Started, "active"), (None, "started"));
        assert_eq!(state_action(Started, "failed"), (Some("start"), "started"));
        assert_eq!(state_action(Stopped, "deactivating"), (Some("stop"), "stopped"));
        assert_eq!(state_action(Stopped, "inactive"), (None, "stopped"));
        assert_eq!(state_action(Reloaded, "inactive"), (Some("start"), "started"));
        assert_eq!(state_action(Reloaded, "activating"), (Some("reload"), "started"));
        assert_eq!(state_action(Restarted, "active"), (Some("restart"), "started"));
    }

    #[test]
    fn commands_as_ansible_builds_them() {
        let p = params(serde_json::json!({
            "name": "app", "state": "started", "scope": "user", "no_block": true, "force": true
        }));
        let systemctl = p.systemctl("/usr/bin/systemctl");
        assert_eq!(systemctl, "/usr/bin/systemctl --user --no-block --force");
        assert_eq!(
            unit_command(&systemctl, "restart", "app"),
            "/usr/bin/systemctl --user --no-block --force restart 'app'"
        );
        assert_eq!(unit_command("systemctl", "stop", "it's"), "systemctl stop 'it'\\''s'");
    }

    #[test]
    fn parameters_checked_as_ansible() {
        let err = |json| validate(&params(json)).expect_err("invalid").to_string();
        assert_eq!(
            err(serde_json::json!({"name": "x"})),
            "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec"
        );
        assert_eq!(
            err(serde_json::json!({"state": "started"})),
            "missing parameter(s) required by 'state': name"
        );
        assert_eq!(
            err(serde_json::json!({"name": "web*", "state": "started"})),
            "This module does not currently support using glob patterns, found '*' in service name: web*"
        );
        assert!(validate(&params(serde_json::json!({"daemon_reload": true}))).is_ok());
        let p = params(serde_json::json!({"service": "a", "daemon-reload": "yes", "masked": false}));
        assert_eq!(p.name.as_deref(), Some("a"));
        assert!(p.daemon_reload);
    }
}
