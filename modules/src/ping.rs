//! `ping`: proves the host is reachable and its shell runs commands; returns `pong`.
//!
//! ```yaml
//! - ping:
//! - ping: {data: crash}   # fails on purpose, to test error handling
//! ```

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingParams {
    /// What to return as `ping`; `crash` makes the module fail.
    #[serde(default = "pong")]
    data: String,
}

fn pong() -> String {
    "pong".into()
}

pub struct PingModule;

#[async_trait]
impl Module for PingModule {
    type Params = PingParams;
    type Observed = ();
    type Action = ();

    const NAME: &'static str = "ping";

    async fn query(&self, _params: &PingParams, ctx: &Context<'_>) -> Result<(), ModuleError> {
        // One round trip through the remote shell: connection, login and `sh` all work.
        ctx.host.sh_ok("true").await.map(drop)
    }

    fn plan(
        &self,
        params: &PingParams,
        _observed: (),
        _ctx: &Context<'_>,
    ) -> Result<Planned<()>, ModuleError> {
        if params.data == "crash" {
            return Err(ModuleError::failed("boom"));
        }
        Ok(Planned::Done(
            Outcome::ok().with_value("ping", params.data.clone()),
        ))
    }

    async fn apply(
        &self,
        _params: &PingParams,
        _action: (),
        _ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        Ok(Outcome::ok())
    }
}

tend_module_api::register_module!(PingModule);

#[cfg(test)]
mod tests {
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    #[tokio::test]
    async fn pongs_and_crashes_on_request() {
        let c = FakeController::new("/nonexistent");
        let out = run_module("ping", json!({}), &c, false)
            .await
            .expect("runs");
        assert_eq!(out.values["ping"], "pong");
        assert!(!out.changed);
        let out = run_module("ping", json!({"data": "hi"}), &c, true)
            .await
            .expect("runs");
        assert_eq!(out.values["ping"], "hi");
        assert!(run_module("ping", json!({"data": "crash"}), &c, false)
            .await
            .is_err());
    }
}
