//! `systemd`: the older name of [`systemd_service`](crate::systemd_service), with the same
//! parameters and behaviour.
//!
//! ```yaml
//! - ansible.builtin.systemd:
//!     name: nginx
//!     state: started
//!     enabled: true
//! ```
//!
//! Not proven against a live systemd (see `systemd_service`): systemd cannot run as PID 1
//! in tend's lab hosts; unit tests and a recording stand-in `systemctl` cover it.

use async_trait::async_trait;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

use crate::systemd_service::{self, Action, Observed, SystemdParams};

pub struct SystemdModule;

#[async_trait]
impl Module for SystemdModule {
    type Params = SystemdParams;
    type Observed = Observed;
    type Action = Action;

    const NAME: &'static str = "systemd";

    async fn query(
        &self,
        params: &SystemdParams,
        ctx: &Context<'_>,
    ) -> Result<Observed, ModuleError> {
        systemd_service::observe(params, ctx).await
    }

    fn plan(
        &self,
        params: &SystemdParams,
        seen: Observed,
        _ctx: &Context<'_>,
    ) -> Result<Planned<Action>, ModuleError> {
        systemd_service::plan(params, seen)
    }

    async fn apply(
        &self,
        params: &SystemdParams,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        systemd_service::apply(params, action, ctx).await
    }
}

tend_module_api::register_module!(SystemdModule);
