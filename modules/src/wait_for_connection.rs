//! `wait_for_connection`: wait until the host can be reached and runs a command.
//!
//! ```yaml
//! - name: Wait for the rebuilt machine
//!   ansible.builtin.wait_for_connection:
//!     delay: 10
//!     timeout: 300
//! ```
//!
//! After `delay` seconds, tries `sh -c true` on the host every `sleep` seconds (each attempt
//! bounded by `connect_timeout`) until one succeeds or `timeout` seconds have passed, as
//! Ansible's action tries its ping module. A failure to connect is retried rather than making
//! the host unreachable; running out of time fails with Ansible's "timed out waiting for ping
//! module test: <last error>". Returns `elapsed` (whole seconds). Check mode skips the task, as
//! Ansible does.
//!
//! Difference from Ansible: a connection that was already open and then broke is not reopened
//! (tend keeps one connection per host); the typical use, waiting for a host that is not up
//! yet, works as in Ansible.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

fn five() -> u64 {
    5
}

fn one() -> u64 {
    1
}

fn six_hundred() -> u64 {
    600
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitForConnectionParams {
    /// Seconds one attempt may take.
    #[serde(default = "five")]
    pub connect_timeout: u64,
    /// Seconds to wait before the first attempt.
    #[serde(default)]
    pub delay: u64,
    /// Seconds between attempts.
    #[serde(default = "one")]
    pub sleep: u64,
    /// Seconds to keep trying.
    #[serde(default = "six_hundred")]
    pub timeout: u64,
}

pub struct WaitForConnectionModule;

#[async_trait]
impl Module for WaitForConnectionModule {
    type Params = WaitForConnectionParams;
    type Observed = ();
    type Action = ();

    const NAME: &'static str = "wait_for_connection";

    async fn query(
        &self,
        _params: &WaitForConnectionParams,
        _ctx: &Context<'_>,
    ) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(
        &self,
        _params: &WaitForConnectionParams,
        _observed: (),
        ctx: &Context<'_>,
    ) -> Result<Planned<()>, ModuleError> {
        if ctx.check_mode {
            return Ok(Planned::Done(Outcome {
                skipped: true,
                ..Outcome::default()
            }));
        }
        // Never `changed`: the wait happens in apply, which reports ok.
        Ok(Planned::Change {
            action: (),
            preview: Outcome::ok(),
        })
    }

    async fn apply(
        &self,
        params: &WaitForConnectionParams,
        _action: (),
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let start = Instant::now();
        if params.delay > 0 {
            tokio::time::sleep(Duration::from_secs(params.delay)).await;
        }
        let end = Instant::now() + Duration::from_secs(params.timeout);
        let mut last = String::from("no attempt was made");
        let mut ok = false;
        while Instant::now() < end {
            let attempt = tokio::time::timeout(
                Duration::from_secs(params.connect_timeout.max(1)),
                ctx.host.sh("true"),
            )
            .await;
            match attempt {
                Ok(Ok(out)) if out.success() => {
                    ok = true;
                    break;
                }
                Ok(Ok(out)) => last = format!("ping test failed (exit {})", out.exit_code),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "timed out".into(),
            }
            tokio::time::sleep(Duration::from_secs(params.sleep)).await;
        }
        let elapsed = start.elapsed().as_secs();
        if !ok {
            let mut values = serde_json::Map::new();
            values.insert("elapsed".into(), elapsed.into());
            return Err(ModuleError::Failed {
                msg: format!("timed out waiting for ping module test: {last}"),
                values,
            });
        }
        Ok(Outcome::ok().with_value("elapsed", elapsed))
    }
}

tend_module_api::register_module!(WaitForConnectionModule);

#[cfg(test)]
mod tests {
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    #[tokio::test]
    async fn waits_and_skips_in_check_mode() {
        let c = FakeController::new("/");
        let out = run_module("wait_for_connection", json!({"timeout": 5}), &c, false)
            .await
            .expect("reachable");
        assert!(!out.changed);
        assert_eq!(out.values["elapsed"], 0);
        let out = run_module("wait_for_connection", json!({}), &c, true)
            .await
            .expect("check");
        assert!(out.skipped);
    }
}
