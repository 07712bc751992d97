//! `service`: a service is running or stopped, restarted or reloaded, and started at boot or
//! not.
//!
//! ```yaml
//! - name: The web server runs and starts at boot
//!   ansible.builtin.service:
//!     name: nginx
//!     state: started
//!     enabled: true
//!
//! - ansible.builtin.service:
//!     name: nginx
//!     state: reloaded
//!
//! - name: A daemon without a status action, found by its process
//!   ansible.builtin.service:
//!     name: legacyd
//!     pattern: /usr/sbin/legacyd
//!     state: started
//! ```
//!
//! As Ansible's action plugin does, a systemd host (the `service_mgr` fact, or, without facts,
//! `/run/systemd/system` on the host) gets the `systemd_service` module's logic, with
//! `pattern`, `runlevel`, `sleep` and `arguments` dropped with a warning. Elsewhere this is
//! Ansible's Linux `service` implementation: OpenRC (`rc-service`, `rc-update`), or an init
//! script in `/etc/init.d` driven through `service` (or the script itself), enabled with
//! `update-rc.d` (boot links `/etc/rc?.d/S??name`). Status comes from the `status` action
//! and Ansible's reading of its exit code and output, or from `ps auxww` with `pattern`.
//! Returns `name`, `state`, `enabled` and, in check mode, Ansible's bare `changed`/`msg`.
//!
//! Differences from Ansible: upstart (`initctl`), `chkconfig` and `insserv` hosts are not
//! driven (the task fails saying so); the BSDs, Solaris and AIX are not supported. On a
//! host whose `service_mgr` fact is `sysvinit`, Ansible runs its `sysvinit` module; tend uses
//! this logic there too (same commands for the common cases). Commands run to completion in
//! their own session (`setsid -w`) with stdin from /dev/null and output collected once they
//! exit, as Ansible's daemonized runs do.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

use crate::systemd_service::{self, SystemdParams};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Started,
    Stopped,
    Restarted,
    Reloaded,
}

fn default_runlevel() -> String {
    "default".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceParams {
    /// The service's name (init script, OpenRC service or systemd unit).
    pub name: String,
    /// `started`/`stopped` are idempotent; `restarted`/`reloaded` always act.
    #[serde(default)]
    pub state: Option<ServiceState>,
    /// Start at boot.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Seconds between stop and start on `restarted`.
    #[serde(default)]
    pub sleep: Option<u64>,
    /// A substring of the process's `ps auxww` line that tells it is running, for services
    /// whose status action does not.
    #[serde(default)]
    pub pattern: Option<String>,
    /// OpenRC runlevel for `enabled`.
    #[serde(default = "default_runlevel")]
    pub runlevel: String,
    /// Extra words for the service command.
    #[serde(default, alias = "args")]
    pub arguments: String,
    /// The service manager module to use (`auto`, `service`, `systemd`, ...).
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
}

/// How the host's services are driven, as `LinuxService.get_service_tools` decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    OpenRc {
        rc_service: String,
        rc_update: String,
    },
    /// An init script, with `service` (if present) and `update-rc.d` (if present).
    SysV {
        script: String,
        service: Option<String>,
        update_rc_d: Option<String>,
    },
}

/// What the query saw.
#[derive(Debug)]
pub enum Observed {
    Systemd(systemd_service::Observed, SystemdParams, Vec<String>),
    Linux(LinuxObserved),
}

#[derive(Debug)]
pub struct LinuxObserved {
    backend: Backend,
    /// For update-rc.d: S and K links under /etc/rc?.d; for OpenRC: runlevels of the service.
    s_links: bool,
    k_links: bool,
    openrc_runlevels: Option<Vec<String>>,
    running: Option<bool>,
}

#[derive(Debug)]
pub enum Action {
    Systemd(systemd_service::Action, SystemdParams, Vec<String>),
    Linux(LinuxAction),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxAction {
    /// Enablement commands, run in order (update-rc.d may need `defaults` first).
    enable: Vec<String>,
    /// The action for the service command (`start`, `stop`, `reload`, `restart`).
    control: Option<&'static str>,
    /// Whether the enablement changes (for the result).
    enable_changed: bool,
}

pub struct ServiceModule;

/// Words of a command joined for `sh`, each quoted.
fn words(ws: &[&str]) -> String {
    ws.iter()
        .filter(|w| !w.is_empty())
        .map(|w| quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Arguments split as Python's `shlex.split` would for simple cases (whitespace).
fn argument_words(arguments: &str) -> Vec<&str> {
    arguments.split_whitespace().collect()
}

/// The service command for `action`, as `LinuxService.service_control` builds it.
fn control_command(backend: &Backend, name: &str, action: &str, arguments: &str) -> String {
    let args = argument_words(arguments);
    let mut ws: Vec<&str> = match backend {
        Backend::OpenRc { rc_service, .. } => vec![rc_service, name, action],
        Backend::SysV {
            service: Some(service),
            ..
        } => vec![service, name, action],
        Backend::SysV { script, .. } => vec![script, action],
    };
    ws.extend(args);
    daemonized(&words(&ws))
}

/// A command run as Ansible's daemonized `execute_command`: in a new session (where
/// `setsid -w` exists), stdin from /dev/null, and its output read from files once it has
/// exited, so a daemon that keeps stdout open cannot hold the task.
fn daemonized(cmd: &str) -> String {
    format!(
        "o=''; e=''; trap 'rm -f -- \"$o\" \"$e\" 2>/dev/null' EXIT; trap 'exit 1' INT TERM HUP; \
         o=$(mktemp) && e=$(mktemp) || exit 1; \
         if setsid -w true </dev/null >/dev/null 2>&1; then setsid -w {cmd} </dev/null >\"$o\" 2>\"$e\"; \
         else {cmd} </dev/null >\"$o\" 2>\"$e\"; fi; rc=$?; cat \"$o\"; cat \"$e\" >&2; rm -f \"$o\" \"$e\"; exit $rc"
    )
}

/// Ansible's reading of a status action's exit code and output (`get_service_status`).
fn running_from_status(name: &str, rc: i32, stdout: &str, openrc: bool) -> Option<bool> {
    if openrc {
        return Some(stdout.contains("started"));
    }
    if [1, 2, 3, 4, 69].contains(&rc) {
        return Some(false);
    }
    if stdout.matches('\n').count() <= 1 {
        let clean = stdout.to_lowercase().replace(&name.to_lowercase(), "");
        if clean.contains("stop") {
            return Some(false);
        } else if clean.contains("run") {
            return Some(!clean.contains("not "));
        } else if clean.contains("start") && !clean.contains("not ") {
            return Some(true);
        } else if [
            "could not access pid file",
            "is dead and pid file exists",
            "dead but subsys locked",
            "dead but pid file exists",
        ]
        .iter()
        .any(|s| clean.contains(s))
        {
            return Some(false);
        }
    }
    if rc == 0 {
        return Some(true);
    }
    if name == "iptables" && stdout.contains("ACCEPT") {
        return Some(true);
    }
    None
}

/// Whether a `ps auxww` listing shows the pattern (Ansible's `check_ps`).
fn running_from_ps(ps: &str, pattern: &str) -> bool {
    ps.split('\n')
        .any(|line| line.contains(pattern) && !line.contains("pattern="))
}

/// Which module Ansible's action plugin would run for this host.
async fn wants_systemd(params: &ServiceParams, ctx: &Context<'_>) -> Result<bool, ModuleError> {
    let module = params.use_.as_deref().unwrap_or("auto").to_lowercase();
    if module != "auto" {
        return Ok(module == "systemd" || module == "ansible.builtin.systemd");
    }
    if let Ok(Value::String(mgr)) = ctx
        .controller
        .eval_expr("ansible_facts.service_mgr | default('')")
    {
        if !mgr.is_empty() {
            return Ok(mgr == "systemd");
        }
    }
    let out = ctx
        .host
        .sh("command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] && echo systemd")
        .await?;
    Ok(out.stdout_lossy().trim() == "systemd")
}

fn systemd_params(params: &ServiceParams) -> (SystemdParams, Vec<String>) {
    let mut warnings = Vec::new();
    let dropped = [
        ("pattern", params.pattern.is_some()),
        ("runlevel", params.runlevel != "default"),
        ("sleep", params.sleep.is_some()),
        ("arguments", !params.arguments.is_empty()),
    ];
    for (name, given) in dropped {
        if given {
            warnings.push(format!("Ignoring \"{name}\" as it is not used in \"systemd\""));
        }
    }
    (
        SystemdParams {
            name: Some(params.name.clone()),
            state: params.state,
            enabled: params.enabled,
            ..SystemdParams::default()
        },
        warnings,
    )
}

async fn observe_linux(
    params: &ServiceParams,
    ctx: &Context<'_>,
) -> Result<LinuxObserved, ModuleError> {
    let name = &params.name;
    let q = quote(name);
    let script = format!(
        "for b in service update-rc.d rc-service rc-update initctl chkconfig insserv; do \
           p=''; for d in /sbin /usr/sbin /bin /usr/bin; do [ -x \"$d/$b\" ] && {{ p=\"$d/$b\"; break; }}; done; \
           [ -n \"$p\" ] || p=$(command -v \"$b\" 2>/dev/null) || p=''; echo \"tool $b $p\"; done; \
         [ -f /etc/init.d/{q} ] && echo initscript; \
         [ -f /etc/init/{q}.conf ] && echo upstart; \
         for l in /etc/rc?.d/S??{q}; do [ -e \"$l\" ] || [ -L \"$l\" ] && echo slink; done; \
         for l in /etc/rc?.d/K??{q}; do [ -e \"$l\" ] || [ -L \"$l\" ] && echo klink; done; true"
    );
    let out = ctx.host.sh_ok(&script).await?.stdout_lossy();
    let mut tools: BTreeMap<&str, String> = BTreeMap::new();
    let (mut initscript, mut upstart, mut s_links, mut k_links) = (false, false, false, false);
    for line in out.lines() {
        let mut parts = line.splitn(3, ' ');
        match parts.next() {
            Some("tool") => {
                if let (Some(tool), Some(path)) = (parts.next(), parts.next()) {
                    if !path.is_empty() {
                        tools.insert(
                            match tool {
                                "service" => "service",
                                "update-rc.d" => "update-rc.d",
                                "rc-service" => "rc-service",
                                "rc-update" => "rc-update",
                                "initctl" => "initctl",
                                "chkconfig" => "chkconfig",
                                _ => "insserv",
                            },
                            path.to_string(),
                        );
                    }
                }
            }
            Some("initscript") => initscript = true,
            Some("upstart") => upstart = true,
            Some("slink") => s_links = true,
            Some("klink") => k_links = true,
            _ => {}
        }
    }
    let script_path = format!("/etc/init.d/{name}");
    let backend = if tools.contains_key("initctl") && upstart {
        return Err(ModuleError::failed(format!(
            "tend's service does not drive upstart jobs ({name})"
        )));
    } else if let Some(rc_service) = tools.get("rc-service") {
        Backend::OpenRc {
            rc_service: rc_service.clone(),
            rc_update: tools.get("rc-update").cloned().unwrap_or_default(),
        }
    } else if initscript {
        let update_rc_d = tools.get("update-rc.d").cloned();
        if update_rc_d.is_none()
            && (tools.contains_key("insserv") || tools.contains_key("chkconfig"))
            && params.enabled.is_some()
        {
            return Err(ModuleError::failed(format!(
                "tend's service enables init scripts with update-rc.d only; this host has insserv or chkconfig ({name})"
            )));
        }
        if update_rc_d.is_none() && params.enabled.is_some() {
            return Err(ModuleError::failed(format!(
                "Could not find the requested service {name}: host"
            )));
        }
        Backend::SysV {
            script: script_path,
            service: tools.get("service").cloned(),
            update_rc_d,
        }
    } else {
        // No enable tool without an init script or OpenRC: Ansible's fail_if_missing.
        return Err(ModuleError::failed(format!(
            "Could not find the requested service {name}: host"
        )));
    };
    let openrc_runlevels = match (&backend, params.enabled) {
        (Backend::OpenRc { rc_update, .. }, Some(_)) if !rc_update.is_empty() => {
            let out = ctx.host.sh(&format!("{} show", quote(rc_update))).await?;
            let text = out.stdout_lossy();
            Some(
                text.lines()
                    .filter_map(|line| {
                        let (svc, levels) = line.split_once('|')?;
                        (svc.trim() == name.as_str()).then(|| {
                            levels
                                .split_whitespace()
                                .map(str::to_string)
                                .collect::<Vec<_>>()
                        })
                    })
                    .next()
                    .unwrap_or_default(),
            )
        }
        _ => None,
    };
    let running = if params.state.is_none() {
        None
    } else if let Some(pattern) = &params.pattern {
        let ps = ctx.host.sh("ps auxww").await?;
        ps.success()
            .then(|| running_from_ps(&ps.stdout_lossy(), pattern))
    } else {
        let cmd = control_command(&backend, name, "status", &params.arguments);
        let out = ctx.host.sh(&cmd).await?;
        running_from_status(
            name,
            out.exit_code,
            &out.stdout_lossy(),
            matches!(backend, Backend::OpenRc { .. }),
        )
    };
    Ok(LinuxObserved {
        backend,
        s_links,
        k_links,
        openrc_runlevels,
        running,
    })
}

/// The enablement commands and whether they change anything (`service_enable`).
fn plan_enable(params: &ServiceParams, seen: &LinuxObserved) -> Result<(bool, Vec<String>), ModuleError> {
    let Some(enable) = params.enabled else {
        return Ok((false, Vec::new()));
    };
    let name = params.name.as_str();
    match &seen.backend {
        Backend::OpenRc { rc_update, .. } => {
            let levels = seen.openrc_runlevels.clone().unwrap_or_default();
            let has = levels.contains(&params.runlevel);
            if has == enable {
                return Ok((false, Vec::new()));
            }
            let action = if enable { "add" } else { "delete" };
            Ok((true, vec![words(&[rc_update, action, name, &params.runlevel])]))
        }
        Backend::SysV { update_rc_d, .. } => {
            let Some(tool) = update_rc_d else {
                return Err(ModuleError::failed(format!(
                    "cannot detect command to enable service {name}, typo or init system potentially unknown"
                )));
            };
            if seen.s_links == enable {
                return Ok((false, Vec::new()));
            }
            let mut cmds = Vec::new();
            if enable && !seen.k_links {
                cmds.push(words(&[tool, name, "defaults"]));
            }
            cmds.push(words(&[tool, name, if enable { "enable" } else { "disable" }]));
            Ok((true, cmds))
        }
    }
}

/// The action on the running state (`check_service_changed` + `modify_service_state`).
fn plan_control(state: ServiceState, running: bool) -> Option<&'static str> {
    match (state, running) {
        (ServiceState::Started, false) => Some("start"),
        (ServiceState::Reloaded, false) => Some("start"),
        (ServiceState::Reloaded, true) => Some("reload"),
        (ServiceState::Stopped, true) => Some("stop"),
        (ServiceState::Restarted, _) => Some("restart"),
        _ => None,
    }
}

fn final_outcome(params: &ServiceParams, changed: bool) -> Outcome {
    let mut o = Outcome::ok().with_value("name", params.name.clone());
    o.changed = changed;
    if let Some(enabled) = params.enabled {
        o = o.with_value("enabled", enabled);
    }
    if let Some(state) = params.state {
        let shown = if state == ServiceState::Stopped {
            "stopped"
        } else {
            "started"
        };
        o = o.with_value("state", shown);
    }
    o
}

fn plan_linux(
    params: &ServiceParams,
    seen: LinuxObserved,
) -> Result<Planned<LinuxAction>, ModuleError> {
    let (enable_changed, enable) = plan_enable(params, &seen)?;
    // Ansible exits early in check mode for these enable tools, with `changed` alone.
    let openrc = matches!(seen.backend, Backend::OpenRc { .. });
    let control = match params.state {
        None => None,
        Some(state) => {
            let Some(running) = seen.running else {
                return Err(ModuleError::failed(
                    "failed determining service state, possible typo of service name?",
                ));
            };
            plan_control(state, running)
        }
    };
    let preview = if enable_changed && openrc {
        Outcome::changed()
    } else if control.is_some() {
        Outcome::changed().with_msg("service state changed")
    } else {
        final_outcome(params, enable_changed)
    };
    if !enable_changed && control.is_none() {
        return Ok(Planned::Done(final_outcome(params, false)));
    }
    Ok(Planned::Change {
        action: LinuxAction {
            enable,
            control,
            enable_changed,
        },
        preview,
    })
}

async fn apply_linux(
    params: &ServiceParams,
    action: LinuxAction,
    ctx: &Context<'_>,
) -> Result<Outcome, ModuleError> {
    for cmd in &action.enable {
        let out = ctx
            .host
            .sh(&format!("LANG=C.UTF-8 LC_ALL=C.UTF-8; export LANG LC_ALL; {cmd}"))
            .await?;
        if !out.success() {
            let err = out.stderr_lossy();
            let msg = if err.is_empty() { out.stdout_lossy() } else { err };
            return Err(ModuleError::failed(msg));
        }
    }
    if let Some(control) = action.control {
        // The backend is needed again for the command line; observe it (cheap, no status).
        let light = ServiceParams {
            state: None,
            enabled: None,
            ..params.clone()
        };
        let seen = observe_linux(&light, ctx).await?;
        let run = |verb: &'static str| {
            let cmd = control_command(&seen.backend, &params.name, verb, &params.arguments);
            async move { ctx.host.sh(&cmd).await }
        };
        let (rc, stdout, stderr) = if control == "restart" && !matches!(seen.backend, Backend::OpenRc { .. }) {
            let stop = run("stop").await?;
            if let Some(secs) = params.sleep {
                tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            }
            let start = run("start").await?;
            if stop.exit_code != 0 && start.exit_code == 0 {
                (0, start.stdout_lossy(), start.stderr_lossy())
            } else {
                (
                    stop.exit_code + start.exit_code,
                    stop.stdout_lossy() + &start.stdout_lossy(),
                    stop.stderr_lossy() + &start.stderr_lossy(),
                )
            }
        } else {
            let out = run(control).await?;
            (out.exit_code, out.stdout_lossy(), out.stderr_lossy())
        };
        if rc != 0 && !stderr.contains("Job is already running") {
            return Err(ModuleError::failed(if stderr.is_empty() { stdout } else { stderr }));
        }
    }
    Ok(final_outcome(params, true))
}

#[async_trait]
impl Module for ServiceModule {
    type Params = ServiceParams;
    type Observed = Observed;
    type Action = Action;

    const NAME: &'static str = "service";

    async fn query(
        &self,
        params: &ServiceParams,
        ctx: &Context<'_>,
    ) -> Result<Observed, ModuleError> {
        if params.state.is_none() && params.enabled.is_none() {
            return Err(ModuleError::failed(
                "one of the following is required: state, enabled",
            ));
        }
        if wants_systemd(params, ctx).await? {
            let (sp, warnings) = systemd_params(params);
            let seen = systemd_service::observe(&sp, ctx).await?;
            return Ok(Observed::Systemd(seen, sp, warnings));
        }
        Ok(Observed::Linux(observe_linux(params, ctx).await?))
    }

    fn plan(
        &self,
        params: &ServiceParams,
        observed: Observed,
        _ctx: &Context<'_>,
    ) -> Result<Planned<Action>, ModuleError> {
        match observed {
            Observed::Systemd(seen, sp, warnings) => {
                let with_warnings = |mut o: Outcome| {
                    o.warnings.extend(warnings.iter().cloned());
                    o
                };
                Ok(match systemd_service::plan(&sp, seen)? {
                    Planned::Done(o) => Planned::Done(with_warnings(o)),
                    Planned::Change { action, preview } => Planned::Change {
                        action: Action::Systemd(action, sp, warnings.clone()),
                        preview: with_warnings(preview),
                    },
                })
            }
            Observed::Linux(seen) => Ok(match plan_linux(params, seen)? {
                Planned::Done(o) => Planned::Done(o),
                Planned::Change { action, preview } => Planned::Change {
                    action: Action::Linux(action),
                    preview,
                },
            }),
        }
    }

    async fn apply(
        &self,
        params: &ServiceParams,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {
            Action::Systemd(action, sp, warnings) => {
                let mut o = systemd_service::apply(&sp, action, ctx).await?;
                o.warnings.extend(warnings);
                Ok(o)
            }
            Action::Linux(action) => {
                let _ = action.enable_changed;
                apply_linux(params, action, ctx).await
            }
        }
    }
}

tend_module_api::register_module!(ServiceModule);

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> ServiceParams {
        tend_module_api::args::from_args(&json, tend_module_api::args::ArgMode::Run)
            .expect("params")
    }

    fn sysv() -> Backend {
        Backend::SysV {
            script: "/etc/init.d/app".into(),
            service: Some("/usr/sbin/service".into()),
            update_rc_d: Some("/usr/sbin/update-rc.d".into()),
        }
    }

    #[test]
    fn status_reading_as_ansible() {
        assert_eq!(running_from_status("app", 3, "app is not running\n", false), Some(false));
        assert_eq!(running_from_status("app", 0, "app is running\n", false), Some(true));
        assert_eq!(running_from_status("app", 0, "", false), Some(true));
        assert_eq!(running_from_status("app", 5, "", false), None);
        assert_eq!(running_from_status("app", 0, "stopped\n", false), Some(false));
        assert_eq!(
            running_from_status("sshd", 0, " * status: started\n", true),
            Some(true)
        );
        assert_eq!(
            running_from_status("sshd", 3, " * status: stopped\n", true),
            Some(false)
        );
        assert!(running_from_ps("root 1 sleep 1000\n", "sleep 1000"));
        assert!(!running_from_ps("root 1 x pattern=sleep 1000\n", "sleep 1000"));
    }

    #[test]
    fn commands_as_ansible_builds_them() {
        let start = control_command(&sysv(), "app", "start", "--fast x");
        assert!(start.contains(
            "then setsid -w /usr/sbin/service app start --fast x </dev/null >\"$o\" 2>\"$e\";"
        ));
        assert!(start.contains("else /usr/sbin/service app start --fast x </dev/null"));
        let bare = Backend::SysV {
            script: "/etc/init.d/app".into(),
            service: None,
            update_rc_d: None,
        };
        assert!(control_command(&bare, "app", "stop", "")
            .contains("setsid -w /etc/init.d/app stop </dev/null"));
    }

    #[tokio::test]
    async fn daemonized_commands_keep_output_and_status() {
        let host = crate::testing::local_host();
        let out = host
            .sh(&daemonized("sh -c 'echo out; echo err >&2; exit 3'"))
            .await
            .expect("run");
        assert_eq!(out.exit_code, 3);
        assert_eq!(out.stdout_lossy(), "out\n");
        assert_eq!(out.stderr_lossy(), "err\n");
        // A background child holding stdout open does not hold the command.
        let started = std::time::Instant::now();
        let out = host
            .sh(&daemonized("sh -c 'sleep 5 & echo started'"))
            .await
            .expect("run");
        assert_eq!(out.stdout_lossy(), "started\n");
        assert!(started.elapsed() < std::time::Duration::from_secs(4));
    }

    #[test]
    fn plans_enable_and_state() {
        let p = params(serde_json::json!({"name": "app", "state": "started", "enabled": true}));
        let seen = LinuxObserved {
            backend: sysv(),
            s_links: false,
            k_links: false,
            openrc_runlevels: None,
            running: Some(false),
        };
        let Ok(Planned::Change { action, preview }) = plan_linux(&p, seen) else {
            panic!("expected a change");
        };
        assert_eq!(
            action.enable,
            vec![
                "/usr/sbin/update-rc.d app defaults",
                "/usr/sbin/update-rc.d app enable"
            ]
        );
        assert_eq!(action.control, Some("start"));
        assert_eq!(preview.msg.as_deref(), Some("service state changed"));

        let seen = LinuxObserved {
            backend: sysv(),
            s_links: true,
            k_links: true,
            openrc_runlevels: None,
            running: Some(true),
        };
        let Ok(Planned::Done(o)) = plan_linux(&p, seen) else {
            panic!("expected no change");
        };
        assert_eq!(o.values["state"], "started");
        assert_eq!(o.values["enabled"], true);

        assert_eq!(plan_control(ServiceState::Reloaded, false), Some("start"));
        assert_eq!(plan_control(ServiceState::Stopped, false), None);
        assert_eq!(plan_control(ServiceState::Restarted, false), Some("restart"));
    }
}
