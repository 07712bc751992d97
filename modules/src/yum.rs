//! `yum`: in Ansible 2.19 an alias that redirects to [`dnf`](crate::dnf); the same parameters
//! and behaviour (`tend doc dnf` lists them), driven by the host's `dnf` command line.
//!
//! ```yaml
//! - ansible.builtin.yum:
//!     name: [httpd, mod_ssl]
//!     state: present
//!     enablerepo: epel
//! ```
//!
//! Proven by unit tests only, as `dnf`: no RPM-based host is available to tend's test lab.

use async_trait::async_trait;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

use crate::dnf::{self, DnfRun, Observed};

pub struct YumModule;

#[async_trait]
impl Module for YumModule {
    type Params = dnf::DnfParams;
    type Observed = Observed;
    type Action = DnfRun;

    const NAME: &'static str = "yum";

    async fn query(
        &self,
        p: &dnf::DnfParams,
        ctx: &Context<'_>,
    ) -> Result<Observed, ModuleError> {
        dnf::query(p, ctx).await
    }

    fn plan(
        &self,
        p: &dnf::DnfParams,
        observed: Observed,
        _ctx: &Context<'_>,
    ) -> Result<Planned<DnfRun>, ModuleError> {
        dnf::decide(p, observed)
    }

    async fn apply(
        &self,
        p: &dnf::DnfParams,
        action: DnfRun,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        dnf::run(p, action, ctx).await
    }
}

tend_module_api::register_module!(YumModule);
