//! `package`: the generic package module; runs the host's package manager module.
//!
//! ```yaml
//! - name: Tools, whatever the distribution
//!   ansible.builtin.package:
//!     name: [curl, rsync]
//!     state: present
//!
//! - ansible.builtin.package:
//!     name: telnet
//!     state: absent
//!     use: apt
//! ```
//!
//! The backend is chosen as Ansible's action plugin chooses it: `use`, else the
//! `ansible_package_use` variable, else the `pkg_mgr` fact, else the host is probed
//! (`apt-get` on the path means `apt`, as the `pkg_mgr` fact says on Debian and Ubuntu). The
//! arguments then go to that module unchanged.
//!
//! Differences from Ansible: `apt` and `dnf` (also named `yum`) are the backends tend has so
//! far; another package manager fails the task with a message naming it. Ansible passes any argument through to
//! the backend; tend takes the common ones (`name`, `state`, `use`) and `update_cache`, so an
//! argument only some backend knows is refused at compile time.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

use crate::apt::{self, AptParams, AptRun};
use crate::dnf::{self, DnfParams, DnfRun};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageParams {
    /// Package names (or `name=version` specs as the backend takes them).
    pub name: Vec<String>,
    /// `present`, `absent`, `latest` or what else the backend supports.
    #[serde(default)]
    pub state: Option<String>,
    /// The backend module (`apt`, ...); `auto` detects it.
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// Refresh the package cache first (backends that have one).
    #[serde(default)]
    pub update_cache: Option<bool>,
}

pub struct PackageModule;

pub enum Observed {
    Apt {
        params: AptParams,
        apt: apt::Observed,
    },
    Dnf {
        params: DnfParams,
        dnf: dnf::Observed,
    },
}

/// What the backend runs with.
pub enum Action {
    Apt { params: AptParams },
    Dnf { params: Box<DnfParams>, run: DnfRun },
}

/// A variable's value as a string, or "" when it is undefined or empty.
fn var(ctx: &Context<'_>, expr: &str) -> String {
    match ctx.controller.eval_expr(&format!("{expr} | default('')")) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Which backend a host gets, as Ansible's action plugin decides.
async fn backend(params: &PackageParams, ctx: &Context<'_>) -> Result<String, ModuleError> {
    if let Some(module) = params.use_.as_deref().filter(|m| *m != "auto") {
        return Ok(module.to_string());
    }
    for expr in ["ansible_package_use", "ansible_facts.pkg_mgr"] {
        let found = var(ctx, expr);
        if !found.is_empty() {
            return Ok(found);
        }
    }
    let probe = "for m in apt-get:apt dnf5:dnf5 dnf:dnf yum:yum zypper:zypper apk:apk pacman:pacman pkg:pkgng; do \
                 command -v \"${m%%:*}\" >/dev/null 2>&1 && { echo \"${m#*:}\"; exit 0; }; done; echo unknown";
    let out = ctx.host.sh_ok(probe).await?;
    Ok(out.stdout_lossy().trim().to_string())
}

/// The backend's parameters: the common ones, as the backend module takes them.
fn backend_params<T: serde::de::DeserializeOwned>(params: &PackageParams) -> Result<T, ModuleError> {
    let mut args = serde_json::Map::new();
    args.insert("name".into(), params.name.clone().into());
    if let Some(state) = &params.state {
        args.insert("state".into(), state.clone().into());
    }
    if let Some(update) = params.update_cache {
        args.insert("update_cache".into(), update.into());
    }
    Ok(tend_module_api::args::from_args(
        &Value::Object(args),
        tend_module_api::args::ArgMode::Run,
    )?)
}

#[async_trait]
impl Module for PackageModule {
    type Params = PackageParams;
    type Observed = Observed;
    type Action = Action;

    const NAME: &'static str = "package";

    async fn query(
        &self,
        params: &PackageParams,
        ctx: &Context<'_>,
    ) -> Result<Observed, ModuleError> {
        let module = backend(params, ctx).await?;
        match module.strip_prefix("ansible.builtin.").unwrap_or(&module) {
            "apt" => {
                let params: AptParams = backend_params(params)?;
                let apt = apt::simulate(&params, ctx).await?;
                Ok(Observed::Apt { params, apt })
            }
            "dnf" | "yum" | "dnf4" | "yum4" => {
                let params: DnfParams = backend_params(params)?;
                let dnf = dnf::query(&params, ctx).await?;
                Ok(Observed::Dnf { params, dnf })
            }
            "unknown" => Err(ModuleError::failed(
                "Could not detect a package manager. Try using the \"use\" option.",
            )),
            other => Err(ModuleError::failed(format!(
                "Could not find a matching action for the \"{other}\" package manager."
            ))),
        }
    }

    fn plan(
        &self,
        _params: &PackageParams,
        observed: Observed,
        _ctx: &Context<'_>,
    ) -> Result<Planned<Action>, ModuleError> {
        Ok(match observed {
            Observed::Apt { params, apt } => match apt::decide(apt) {
                Planned::Done(outcome) => Planned::Done(outcome),
                Planned::Change {
                    action: AptRun,
                    preview,
                } => Planned::Change {
                    action: Action::Apt { params },
                    preview,
                },
            },
            Observed::Dnf { params, dnf } => match dnf::decide(&params, dnf)? {
                Planned::Done(outcome) => Planned::Done(outcome),
                Planned::Change { action, preview } => Planned::Change {
                    action: Action::Dnf {
                        params: Box::new(params),
                        run: action,
                    },
                    preview,
                },
            },
        })
    }

    async fn apply(
        &self,
        _params: &PackageParams,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {
            Action::Apt { params } => apt::run_for_real(&params, ctx).await,
            Action::Dnf { params, run } => dnf::run(&params, run, ctx).await,
        }
    }
}

tend_module_api::register_module!(PackageModule);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_pass_to_apt() {
        let p: PackageParams = tend_module_api::args::from_args(
            &serde_json::json!({"name": "a,b", "state": "latest", "use": "apt"}),
            tend_module_api::args::ArgMode::Run,
        )
        .expect("params");
        assert_eq!(p.use_.as_deref(), Some("apt"));
        let apt: AptParams = backend_params(&p).expect("apt params");
        assert_eq!(apt.name.as_deref(), Some(&["a".to_string(), "b".to_string()][..]));
        assert_eq!(apt.state, apt::AptState::Latest);
        let bad = PackageParams {
            name: vec!["a".into()],
            state: Some("installed".into()),
            use_: None,
            update_cache: None,
        };
        assert!(backend_params::<AptParams>(&bad).is_err());
        // dnf takes `installed` (and `removed`), which apt does not.
        let dnf: DnfParams = backend_params(&bad).expect("dnf params");
        assert_eq!(dnf.name, vec!["a".to_string()]);
        assert_eq!(dnf.state, dnf::DnfState::Installed);
    }
}
