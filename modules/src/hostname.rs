//! `hostname`: the host's name.
//!
//! ```yaml
//! - name: Name the host
//!   ansible.builtin.hostname:
//!     name: web01.example.com
//!
//! - name: Through hostnamectl
//!   ansible.builtin.hostname: {name: web01, use: systemd}
//! ```
//!
//! The strategy is chosen as Ansible's `hostname.py` chooses it: `use` when given, else
//! `systemd` on a Linux host booted with systemd (`systemctl` installed and
//! `/run/systemd/system` present), else by distribution (`/etc/os-release` `ID`): the
//! Debian family (Debian, Ubuntu, Mint, Kali, Raspbian, Devuan, Pop, ...) uses the file
//! strategy, Alpine its own.
//! - file strategy: the name is `/etc/hostname` (stripped); a change rewrites that file
//!   (`NAME\n`) and nothing else — as in Ansible, the running (kernel) name is not touched.
//! - `alpine`: as the file strategy, and `hostname -F /etc/hostname` runs before the file is
//!   written (Ansible's order).
//! - `systemd` (also `use: debian`, which Ansible maps to it): `hostnamectl --transient` and
//!   `--static` are compared and set (`set-hostname`, static with `--pretty`).
//!
//! Returns `name` and the facts `ansible_hostname`, `ansible_nodename`, `ansible_fqdn`,
//! `ansible_domain`; the diff is `hostname = OLD` → `hostname = NEW`.
//!
//! Differences from Ansible: the `redhat`, `sles`, `openrc`, `freebsd`, `openbsd`, `solaris`
//! and `macos` strategies are refused with a message; `ansible_fqdn` comes from
//! `getent hosts` for the running name (Python's `socket.getfqdn()` asks the same resolver).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{quote, Context, Diff, Module, ModuleError, Outcome, Planned, WriteOptions};

use crate::attrs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Use {
    Alpine,
    Debian,
    Freebsd,
    Generic,
    Macos,
    Macosx,
    Darwin,
    Openbsd,
    Openrc,
    Redhat,
    Sles,
    Solaris,
    Systemd,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostnameParams {
    /// The name to give the host.
    pub name: String,
    /// The strategy; detected as Ansible does when not given.
    #[serde(rename = "use")]
    pub use_: Option<Use>,
}

pub struct HostnameModule;

/// How the name is read and set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    File,
    Alpine,
    Systemd,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostnameObserved {
    /// `/etc/os-release` `ID`.
    pub os_id: String,
    pub systemd_booted: bool,
    pub has_hostnamectl: bool,
    /// `/etc/hostname` stripped; `None` when it is not a regular file.
    pub file: Option<String>,
    /// `hostnamectl --transient status` and `--static status`, when asked.
    pub transient: Option<String>,
    pub static_name: Option<String>,
    /// `hostnamectl` failing: its status and first line of error.
    pub ctl_error: Option<(String, String)>,
    /// The fully qualified name of the running name, as the resolver gives it.
    pub fqdn: String,
}

#[derive(Debug)]
pub struct HostnameAction {
    strategy: Strategy,
    set_current: bool,
    set_permanent: bool,
    outcome: Outcome,
}

/// Distributions Ansible gives the file strategy (`get_distribution()` names).
const FILE_DISTROS: &[&str] = &[
    "Debian",
    "Kylin",
    "Cumulus-linux",
    "Kali",
    "Parrot",
    "Ubuntu",
    "Linuxmint",
    "Linaro",
    "Devuan",
    "Raspbian",
    "Uos",
    "Deepin",
    "Neon",
    "Void",
    "Pop",
];

/// Python's `str.capitalize()`.
fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
        None => String::new(),
    }
}

fn strategy(params: &HostnameParams, observed: &HostnameObserved) -> Result<Strategy, ModuleError> {
    let unsupported = |what: &str| {
        Err(ModuleError::failed(format!(
            "the hostname strategy `{what}` is not supported by tend"
        )))
    };
    match params.use_ {
        Some(Use::Systemd | Use::Debian) => return Ok(Strategy::Systemd),
        Some(Use::Alpine) => return Ok(Strategy::Alpine),
        Some(Use::Generic) => return unsupported("generic"),
        Some(Use::Freebsd) => return unsupported("freebsd"),
        Some(Use::Macos | Use::Macosx | Use::Darwin) => return unsupported("darwin"),
        Some(Use::Openbsd) => return unsupported("openbsd"),
        Some(Use::Openrc) => return unsupported("openrc"),
        Some(Use::Redhat) => return unsupported("redhat"),
        Some(Use::Sles) => return unsupported("sles"),
        Some(Use::Solaris) => return unsupported("solaris"),
        None => {}
    }
    if observed.systemd_booted {
        return Ok(Strategy::Systemd);
    }
    let distro = capitalize(&observed.os_id);
    if FILE_DISTROS.contains(&distro.as_str()) {
        Ok(Strategy::File)
    } else if distro == "Alpine" {
        Ok(Strategy::Alpine)
    } else {
        Err(ModuleError::failed(format!(
            "hostname module cannot be used on platform Linux ({distro})"
        )))
    }
}

#[async_trait]
impl Module for HostnameModule {
    type Params = HostnameParams;
    type Observed = HostnameObserved;
    type Action = HostnameAction;

    const NAME: &'static str = "hostname";

    async fn query(
        &self,
        params: &HostnameParams,
        ctx: &Context<'_>,
    ) -> Result<HostnameObserved, ModuleError> {
        let script = format!(
            "id=$( . /etc/os-release 2>/dev/null; printf '%s' \"$ID\"); printf 'id:%s\\n' \"$id\"; \
             if command -v systemctl >/dev/null 2>&1; then \
               for c in /run/systemd/system/ /dev/.run/systemd/ /dev/.systemd/; do [ -e \"$c\" ] && echo systemd && break; done; fi; \
             if command -v hostnamectl >/dev/null 2>&1; then echo hostnamectl; \
               if [ -n {want_ctl} ] || [ -e /run/systemd/system/ ]; then \
                 for k in transient static; do \
                   if v=$(hostnamectl --$k status 2>/dev/null); then printf '%s:%s\\n' $k \"$v\"; \
                   else rc=$?; printf '%s.rc:%s\\n' $k $rc; \
                   hostnamectl --$k status 2>&1 >/dev/null | sed \"s/^/$k.err:/\"; fi; done; fi; fi; \
             n=$(uname -n); f=$n; \
             for w in $(getent hosts \"$n\" 2>/dev/null | head -n 1 | cut -d ' ' -f 2- | tr -s ' \\t' '  '); do \
               case \"$w\" in *.*) f=$w; break;; esac; done; printf 'fqdn:%s\\n' \"$f\"; \
             if [ -f /etc/hostname ]; then echo {}; exec cat /etc/hostname; fi",
            attrs::CONTENT_MARKER,
            want_ctl = quote(if matches!(params.use_, Some(Use::Systemd | Use::Debian)) {
                "yes"
            } else {
                ""
            }),
        );
        let out = ctx.host.sh_ok(&script).await?;
        let report = attrs::Report::parse(&out.stdout);
        let text = out.stdout_lossy();
        // Ansible's message carries hostnamectl's whole stderr, newline included.
        let stderr_of = |k: &str| {
            let tag = format!("{k}.err:");
            let lines: Vec<&str> = text
                .lines()
                .take_while(|l| *l != attrs::CONTENT_MARKER)
                .filter_map(|l| l.strip_prefix(tag.as_str()))
                .collect();
            if lines.is_empty() {
                String::new()
            } else {
                format!("{}\n", lines.join("\n"))
            }
        };
        Ok(HostnameObserved {
            os_id: report.get("id").unwrap_or_default().to_string(),
            systemd_booted: report.has("systemd"),
            has_hostnamectl: report.has("hostnamectl"),
            file: report
                .content
                .as_deref()
                .map(|c| String::from_utf8_lossy(c).trim().to_string()),
            transient: report.get("transient").map(|s| s.trim().to_string()),
            static_name: report.get("static").map(|s| s.trim().to_string()),
            ctl_error: ["transient", "static"].iter().find_map(|k| {
                let rc = report.get(&format!("{k}.rc"))?;
                Some((rc.to_string(), stderr_of(k)))
            }),
            fqdn: report.get("fqdn").unwrap_or_default().to_string(),
        })
    }

    fn plan(
        &self,
        params: &HostnameParams,
        observed: HostnameObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<HostnameAction>, ModuleError> {
        plan_with(params, observed, ctx.diff)
    }

    async fn apply(
        &self,
        params: &HostnameParams,
        action: HostnameAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let name = &params.name;
        let run = |script: String| async move {
            let out = ctx.host.sh(&script).await?;
            if out.success() {
                Ok(())
            } else {
                Err(ModuleError::failed(format!(
                    "Command failed rc={}, out={}, err={}",
                    out.exit_code,
                    out.stdout_lossy(),
                    out.stderr_lossy()
                )))
            }
        };
        let write_file = || async {
            let exists = ctx.host.stat("/etc/hostname", true).await?.is_some();
            let options = WriteOptions {
                mode: (!exists).then(|| "0644".to_string()),
                ..WriteOptions::default()
            };
            ctx.host
                .write_file_atomic("/etc/hostname", format!("{name}\n").as_bytes(), &options)
                .await
                .map_err(|e| ModuleError::failed(format!("failed to update hostname: {e}")))
        };
        match action.strategy {
            Strategy::File => {
                if action.set_permanent {
                    write_file().await?;
                }
            }
            Strategy::Alpine => {
                if action.set_current {
                    run("hostname -F /etc/hostname".to_string()).await?;
                }
                if action.set_permanent {
                    write_file().await?;
                }
            }
            Strategy::Systemd => {
                if action.set_permanent {
                    run(format!(
                        "hostnamectl --pretty --static set-hostname {}",
                        quote(name)
                    ))
                    .await?;
                }
                if action.set_current {
                    run(format!("hostnamectl --transient set-hostname {}", quote(name))).await?;
                }
            }
        }
        Ok(action.outcome)
    }
}

tend_module_api::register_module!(HostnameModule);

/// Ansible's `main()` from what the query saw. Pure.
fn plan_with(
    params: &HostnameParams,
    observed: HostnameObserved,
    want_diff: bool,
) -> Result<Planned<HostnameAction>, ModuleError> {
    let strategy = strategy(params, &observed)?;
    let name = params.name.as_str();
    if strategy == Strategy::Systemd && !observed.has_hostnamectl {
        return Err(ModuleError::failed(
            "Failed to find required executable \"hostnamectl\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ));
    }
    if let (Strategy::Systemd, Some((rc, err))) = (strategy, &observed.ctl_error) {
        return Err(ModuleError::failed(format!(
            "Command failed rc={rc}, out=, err={err}"
        )));
    }
    if strategy == Strategy::Systemd && name.chars().count() > 64 {
        return Err(ModuleError::failed(
            "name cannot be longer than 64 characters on systemd servers, try a shorter name",
        ));
    }
    let (current, permanent) = match strategy {
        Strategy::File | Strategy::Alpine => {
            let file = observed.file.clone().unwrap_or_default();
            (file.clone(), file)
        }
        Strategy::Systemd => (
            observed.transient.clone().unwrap_or_default(),
            observed.static_name.clone().unwrap_or_default(),
        ),
    };
    let set_current = current != name;
    let set_permanent = permanent != name;
    let changed = set_current || set_permanent;
    let before = if name != current { &current } else { &permanent };

    let fqdn = observed.fqdn.clone();
    let domain = fqdn.split('.').skip(1).collect::<Vec<_>>().join(".");
    let mut outcome = Outcome::ok().with_value("name", name);
    outcome.changed = changed;
    let facts = [
        ("ansible_hostname", name.split('.').next().unwrap_or(name).to_string()),
        ("ansible_nodename", name.to_string()),
        ("ansible_fqdn", fqdn),
        ("ansible_domain", domain),
    ];
    for (k, v) in facts {
        outcome.facts.insert(k.into(), Value::String(v));
    }
    if !changed {
        return Ok(Planned::Done(outcome));
    }
    if want_diff {
        outcome.diffs.push(Diff {
            before_header: "before".into(),
            after_header: "after".into(),
            before: format!("hostname = {before}\n"),
            after: format!("hostname = {name}\n"),
        });
    }
    Ok(Planned::Change {
        action: HostnameAction {
            strategy,
            set_current,
            set_permanent,
            outcome: outcome.clone(),
        },
        preview: outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> HostnameParams {
        serde_json::from_value(json).expect("params")
    }

    fn debian(file: Option<&str>) -> HostnameObserved {
        HostnameObserved {
            os_id: "debian".into(),
            has_hostnamectl: true,
            file: file.map(str::to_string),
            fqdn: "h1".into(),
            ..HostnameObserved::default()
        }
    }

    #[test]
    fn debian_without_systemd_edits_the_file_only() {
        match plan_with(&params(serde_json::json!({"name": "web.example.com"})), debian(Some("old")), true)
            .expect("plan")
        {
            Planned::Change { action, preview } => {
                assert_eq!(action.strategy, Strategy::File);
                assert!(action.set_permanent);
                assert_eq!(preview.diffs[0].before, "hostname = old\n");
                assert_eq!(preview.facts["ansible_hostname"], "web");
                assert_eq!(preview.facts["ansible_nodename"], "web.example.com");
            }
            Planned::Done(_) => panic!("expected a change"),
        }
        assert!(matches!(
            plan_with(&params(serde_json::json!({"name": "old"})), debian(Some("old")), true),
            Ok(Planned::Done(_))
        ));
        let mut systemd = debian(None);
        systemd.systemd_booted = true;
        systemd.transient = Some("a".into());
        systemd.static_name = Some("b".into());
        match plan_with(&params(serde_json::json!({"name": "a"})), systemd, true).expect("plan") {
            Planned::Change { action, preview } => {
                assert_eq!(action.strategy, Strategy::Systemd);
                assert!(!action.set_current);
                assert!(action.set_permanent);
                assert_eq!(preview.diffs[0].before, "hostname = b\n");
            }
            Planned::Done(_) => panic!("expected a change"),
        }
        let mut fedora = debian(None);
        fedora.os_id = "fedora".into();
        let err = plan_with(&params(serde_json::json!({"name": "a"})), fedora, false)
            .expect_err("unsupported");
        assert_eq!(
            err.to_string(),
            "hostname module cannot be used on platform Linux (Fedora)"
        );
    }
}
