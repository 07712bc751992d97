//! `pause`: wait for a time, or for the operator, on the controller.
//!
//! ```yaml
//! - name: Let the cluster settle
//!   ansible.builtin.pause:
//!     seconds: 30
//!
//! - name: Wait for a go-ahead (only waits when run from a terminal)
//!   ansible.builtin.pause:
//!     prompt: Check the canary, then press enter
//! ```
//!
//! Runs on the controller and never contacts a host. As in Ansible, the task runs once per
//! play, for the first host (the executor treats it like `run_once` without handing the result
//! to the other hosts). With `seconds` or `minutes` it sleeps that long (at least one second).
//! Without them it would wait for input; tend, like Ansible without an interactive stdin, does
//! not wait and warns "Not waiting for response to prompt as stdin is not interactive".
//!
//! Returns Ansible's keys: `changed: false`, `rc: 0`, `stdout` (`Paused for 2.0 seconds`,
//! `Paused for 0.5 minutes`), `stderr`, `start`, `stop`, `delta` (whole seconds), `echo`,
//! `user_input` (empty). Difference: tend never reads input from a terminal (a prompt is
//! always treated as non-interactive), so Ctrl+C continue/abort does not apply.

use std::convert::Infallible;

use async_trait::async_trait;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseParams {
    /// Minutes to pause (Python's `int()`: a float is truncated).
    #[serde(default, deserialize_with = "int_like")]
    pub minutes: Option<i64>,
    /// Seconds to pause.
    #[serde(default, deserialize_with = "int_like")]
    pub seconds: Option<i64>,
    /// The text shown when waiting for input.
    pub prompt: Option<String>,
    /// Show what is typed (no effect in tend: input is never read).
    #[serde(default = "yes")]
    pub echo: bool,
}

/// Python's `int()` of a number or numeric string (`1.5` → 1).
fn int_like<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{v} is not an integer"))),
        Value::String(s) => {
            let t = s.trim();
            t.parse::<i64>()
                .ok()
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("invalid literal for int(): '{s}'")))
        }
        _ => Err(D::Error::custom(format!("{v} is not an integer"))),
    }
}

/// What happened while pausing.
#[derive(Debug)]
pub struct Paused {
    start: String,
    stop: String,
    elapsed: f64,
}

pub struct PauseModule;

#[async_trait]
impl Module for PauseModule {
    type Params = PauseParams;
    type Observed = Paused;
    type Action = Infallible;

    const NAME: &'static str = "pause";
    const BYPASS_HOST_LOOP: bool = true;

    async fn query(&self, params: &PauseParams, _ctx: &Context<'_>) -> Result<Paused, ModuleError> {
        if params.minutes.is_some() && params.seconds.is_some() {
            return Err(ModuleError::failed(
                "parameters are mutually exclusive: minutes|seconds",
            ));
        }
        // The prompt is only shown when input is read, which tend never does.
        let _ = params.prompt.as_deref();
        let started = std::time::Instant::now();
        let start = now_text();
        if let Some(secs) = wait_seconds(params) {
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
        }
        Ok(Paused {
            start,
            stop: now_text(),
            elapsed: started.elapsed().as_secs_f64(),
        })
    }

    fn plan(
        &self,
        params: &PauseParams,
        observed: Paused,
        _ctx: &Context<'_>,
    ) -> Result<Planned<Infallible>, ModuleError> {
        Ok(Planned::Done(outcome(params, observed)))
    }

    async fn apply(
        &self,
        _params: &PauseParams,
        action: Infallible,
        _ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {}
    }
}

tend_module_api::register_module!(PauseModule);

/// How long to sleep: minutes or seconds, at least one second; `None` waits for input.
fn wait_seconds(params: &PauseParams) -> Option<u64> {
    let secs = match (params.minutes, params.seconds) {
        (Some(m), _) => m * 60,
        (None, Some(s)) => s,
        (None, None) => return None,
    };
    Some(secs.max(1) as u64)
}

fn outcome(params: &PauseParams, paused: Paused) -> Outcome {
    let (amount, unit) = if params.seconds.is_some() {
        (round2(paused.elapsed), "seconds")
    } else {
        (round2(paused.elapsed / 60.0), "minutes")
    };
    let mut outcome = Outcome::ok()
        .with_value("rc", 0)
        .with_value("stderr", "")
        .with_value("stdout", format!("Paused for {} {unit}", py_float(amount)))
        .with_value("start", paused.start)
        .with_value("stop", paused.stop)
        .with_value("delta", paused.elapsed as i64)
        .with_value("echo", params.echo)
        .with_value("user_input", "");
    if wait_seconds(params).is_none() {
        outcome
            .warnings
            .push("Not waiting for response to prompt as stdin is not interactive".into());
    }
    outcome
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Python's `str(float)` for the short values `round(x, 2)` gives.
fn py_float(x: f64) -> String {
    let s = format!("{x}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Python's `str(datetime.datetime.now())`: local time with microseconds.
fn now_text() -> String {
    let out = std::process::Command::new("date")
        .arg("+%Y-%m-%d %H:%M:%S.%6N")
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    #[test]
    fn durations_and_texts() {
        let p = |v: Value| -> PauseParams {
            tend_module_api::args::from_args(&v, tend_module_api::args::ArgMode::Run)
                .expect("params")
        };
        assert_eq!(wait_seconds(&p(json!({"seconds": 0}))), Some(1));
        assert_eq!(wait_seconds(&p(json!({"minutes": "2"}))), Some(120));
        assert_eq!(wait_seconds(&p(json!({"seconds": 1.7}))), Some(1));
        assert_eq!(wait_seconds(&p(json!({"prompt": "go"}))), None);
        assert_eq!(py_float(2.0), "2.0");
        assert_eq!(py_float(0.03), "0.03");
        let o = outcome(
            &p(json!({"minutes": 1})),
            Paused {
                start: "a".into(),
                stop: "b".into(),
                elapsed: 60.2,
            },
        );
        assert_eq!(o.values["stdout"], "Paused for 1.0 minutes");
        assert_eq!(o.values["delta"], 60);
    }

    #[tokio::test]
    async fn pauses_and_does_not_wait_for_input() {
        let c = FakeController::new("/");
        let started = std::time::Instant::now();
        let out = run_module("pause", json!({"seconds": 1}), &c, true)
            .await
            .expect("pause");
        assert!(started.elapsed().as_secs_f64() >= 1.0);
        assert!(!out.changed);
        assert!(out.values["stdout"]
            .as_str()
            .expect("stdout")
            .starts_with("Paused for 1."));
        let out = run_module("pause", json!({"prompt": "go on"}), &c, false)
            .await
            .expect("prompt");
        assert_eq!(out.warnings.len(), 1);
        assert!(run_module("pause", json!({"seconds": 1, "minutes": 1}), &c, false)
            .await
            .is_err());
    }
}
