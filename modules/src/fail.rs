//! `fail`: fails the task with a message, like `ansible.builtin.fail`.
//!
//! ```yaml
//! - ansible.builtin.fail:
//!     msg: "{{ inventory_hostname }} runs an unsupported release"
//!   when: ansible_distribution_major_version | int < 10
//! ```
//!
//! `msg` may be any value (default `Failed as requested from task`). Never changed.

use std::convert::Infallible;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

use crate::debug::{present, with_message};

/// The `fail` module.
pub struct FailModule;

/// Parameters of `fail`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailParams {
    /// The failure message: any value.
    #[serde(default, deserialize_with = "present")]
    pub msg: Option<Value>,
}

fn failure(params: &FailParams) -> Outcome {
    let msg = params
        .msg
        .clone()
        .filter(|m| !m.is_null())
        .unwrap_or_else(|| Value::from("Failed as requested from task"));
    let mut outcome = with_message(Outcome::ok(), msg);
    outcome.failed = true;
    outcome
}

#[async_trait]
impl Module for FailModule {
    type Params = FailParams;
    type Observed = ();
    type Action = Infallible;

    const NAME: &'static str = "fail";

    async fn query(&self, _: &FailParams, _: &Context<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(
        &self,
        params: &FailParams,
        _: (),
        _: &Context<'_>,
    ) -> Result<Planned<Infallible>, ModuleError> {
        Ok(Planned::Done(failure(params)))
    }

    async fn apply(
        &self,
        _: &FailParams,
        action: Infallible,
        _: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {}
    }
}

tend_module_api::register_module!(FailModule);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    fn params(v: Value) -> FailParams {
        tend_module_api::args::from_args(&v, tend_module_api::args::ArgMode::Run).expect("params")
    }

    #[test]
    fn messages() {
        let out = failure(&params(json!({})));
        assert!(out.failed && !out.changed);
        assert_eq!(out.msg.as_deref(), Some("Failed as requested from task"));
        assert_eq!(
            failure(&params(json!({"msg": "custom"}))).msg.as_deref(),
            Some("custom")
        );
        let out = failure(&params(json!({"msg": {"why": "dict"}})));
        assert_eq!(out.values["msg"], json!({"why": "dict"}));
    }

    #[tokio::test]
    async fn through_the_registry() {
        let ctl = FakeController::new("/nonexistent");
        for check in [false, true] {
            let out = run_module("fail", json!({"msg": "stop"}), &ctl, check)
                .await
                .expect("runs");
            assert!(out.failed);
            assert_eq!(out.msg.as_deref(), Some("stop"));
        }
        assert!(run_module("fail", json!({"message": "typo"}), &ctl, false)
            .await
            .is_err());
    }
}
