//! `assert`: checks that expressions are true, like `ansible.builtin.assert`.
//!
//! ```yaml
//! - ansible.builtin.assert:
//!     that:
//!       - ansible_memtotal_mb >= 1024
//!       - "'web' in group_names"
//!     fail_msg: "{{ inventory_hostname }} is too small"
//!     success_msg: big enough
//! ```
//!
//! The expressions are evaluated in order like `when:`; the first false one fails the task with
//! `fail_msg` (alias `msg`, default `Assertion failed`), reporting it as `assertion` with
//! `evaluated_to: false`. An expression that cannot be evaluated fails the task with the
//! error. Otherwise the result is ok with `success_msg` (default `All assertions passed`).
//! Messages may be strings or lists of strings. `quiet` is accepted (it only quiets Ansible's
//! output). Never changed.

use std::convert::Infallible;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

use crate::debug::{present, with_message};

/// The `assert` module.
pub struct AssertModule;

/// Parameters of `assert`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssertParams {
    /// One expression or a list of them.
    pub that: Value,
    /// The message when an assertion fails (a string or a list of strings).
    #[serde(default, deserialize_with = "present")]
    pub fail_msg: Option<Value>,
    /// The older name of `fail_msg`.
    #[serde(default, deserialize_with = "present")]
    pub msg: Option<Value>,
    /// The message when every assertion holds.
    #[serde(default, deserialize_with = "present")]
    pub success_msg: Option<Value>,
    /// Ansible's flag to print less; only its output differs, so it is accepted and unused.
    #[serde(default, rename = "quiet")]
    pub _quiet: bool,
}

/// Python's name for a value's type, as Ansible's type errors show it.
fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<class 'NoneType'>",
        Value::Bool(_) => "<class 'bool'>",
        Value::Number(n) if n.is_f64() => "<class 'float'>",
        Value::Number(_) => "<class 'int'>",
        Value::String(_) => "<class 'str'>",
        Value::Array(_) => "<class 'list'>",
        Value::Object(_) => "<class 'dict'>",
    }
}

/// A message parameter, checked as Ansible does: a string or a list of strings.
fn message(
    value: Option<&Value>,
    default: &str,
    what: &str,
    list_what: &str,
) -> Result<Value, ModuleError> {
    match value {
        None | Some(Value::Null) => Ok(Value::from(default)),
        Some(Value::String(s)) => Ok(Value::from(s.as_str())),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            Ok(Value::Array(items.clone()))
        }
        Some(Value::Array(_)) => Err(ModuleError::failed(format!(
            "Type of one of the elements in {list_what} list is not string type"
        ))),
        Some(other) => Err(ModuleError::failed(format!(
            "Incorrect type for {what}, expected a string or list and got {}",
            py_type(other)
        ))),
    }
}

/// Evaluates the assertions with `eval` (the task's `when:` evaluation) and builds the result.
fn check(
    params: &AssertParams,
    eval: impl Fn(&str) -> Result<bool, ModuleError>,
) -> Result<Outcome, ModuleError> {
    let fail_msg = message(
        params
            .fail_msg
            .as_ref()
            .filter(|v| !v.is_null())
            .or(params.msg.as_ref()),
        "Assertion failed",
        "fail_msg or msg",
        "fail_msg or msg",
    )?;
    let success_msg = message(
        params.success_msg.as_ref(),
        "All assertions passed",
        "success_msg",
        "success_msg",
    )?;
    let thats = match &params.that {
        Value::Array(items) => items.clone(),
        Value::Null => {
            return Err(ModuleError::failed(
                "conditional required in \"that\" string",
            ))
        }
        one => vec![one.clone()],
    };
    for that in thats {
        let holds = match &that {
            Value::Bool(b) => *b,
            Value::String(expr) => eval(expr).map_err(|e| {
                ModuleError::failed(format!(
                    "The conditional check '{expr}' failed. The error was: {e}"
                ))
            })?,
            // A number or such is no expression; let the evaluator name the type problem.
            other => {
                let expr = other.to_string();
                eval(&expr).map_err(|e| {
                    ModuleError::failed(format!(
                        "The conditional check '{expr}' failed. The error was: {e}"
                    ))
                })?
            }
        };
        if !holds {
            let mut failed = with_message(Outcome::ok(), fail_msg);
            failed.failed = true;
            failed.values.insert("assertion".into(), that);
            failed.values.insert("evaluated_to".into(), false.into());
            return Ok(failed);
        }
    }
    Ok(with_message(Outcome::ok(), success_msg))
}

#[async_trait]
impl Module for AssertModule {
    type Params = AssertParams;
    type Observed = ();
    type Action = Infallible;

    const NAME: &'static str = "assert";

    async fn query(&self, _: &AssertParams, _: &Context<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(
        &self,
        params: &AssertParams,
        _: (),
        ctx: &Context<'_>,
    ) -> Result<Planned<Infallible>, ModuleError> {
        check(params, |expr| ctx.controller.eval_condition(expr)).map(Planned::Done)
    }

    async fn apply(
        &self,
        _: &AssertParams,
        action: Infallible,
        _: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {}
    }
}

tend_module_api::register_module!(AssertModule);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    fn params(v: Value) -> AssertParams {
        tend_module_api::args::from_args(&v, tend_module_api::args::ArgMode::Run).expect("params")
    }

    fn eval(expr: &str) -> Result<bool, ModuleError> {
        match expr {
            "yes_" => Ok(true),
            "no_" => Ok(false),
            other => Err(ModuleError::failed(format!("'{other}' is undefined"))),
        }
    }

    #[test]
    fn first_false_assertion_fails() {
        let out = check(
            &params(json!({"that": ["yes_", "no_", "undefined_but_never_reached"]})),
            eval,
        )
        .expect("ok");
        assert!(out.failed && !out.changed);
        assert_eq!(out.msg.as_deref(), Some("Assertion failed"));
        assert_eq!(out.values["assertion"], "no_");
        assert_eq!(out.values["evaluated_to"], false);

        let out = check(&params(json!({"that": "no_", "msg": "old alias"})), eval).expect("ok");
        assert_eq!(out.msg.as_deref(), Some("old alias"));
        let out = check(
            &params(json!({"that": "no_", "msg": "alias", "fail_msg": "wins"})),
            eval,
        )
        .expect("ok");
        assert_eq!(out.msg.as_deref(), Some("wins"));
        let out = check(
            &params(json!({"that": "no_", "fail_msg": ["a", "b"]})),
            eval,
        )
        .expect("ok");
        assert_eq!(out.values["msg"], json!(["a", "b"]));
    }

    #[test]
    fn success_and_errors() {
        let out = check(&params(json!({"that": ["yes_", true]})), eval).expect("ok");
        assert!(!out.failed && !out.changed);
        assert_eq!(out.msg.as_deref(), Some("All assertions passed"));
        let out = check(
            &params(json!({"that": "yes_", "success_msg": "fine", "quiet": true})),
            eval,
        )
        .expect("ok");
        assert_eq!(out.msg.as_deref(), Some("fine"));

        let err = check(&params(json!({"that": "nope"})), eval).expect_err("undefined");
        assert_eq!(
            err.to_string(),
            "The conditional check 'nope' failed. The error was: 'nope' is undefined"
        );
        let err = check(&params(json!({"that": "yes_", "fail_msg": 3})), eval).expect_err("type");
        assert_eq!(
            err.to_string(),
            "Incorrect type for fail_msg or msg, expected a string or list and got <class 'int'>"
        );
        let err = check(
            &params(json!({"that": "yes_", "success_msg": ["a", 1]})),
            eval,
        )
        .expect_err("type");
        assert_eq!(
            err.to_string(),
            "Type of one of the elements in success_msg list is not string type"
        );
    }

    #[tokio::test]
    async fn through_the_registry() {
        let mut ctl = FakeController::new("/nonexistent");
        ctl.vars.insert("ok".into(), json!(true));
        ctl.vars.insert("bad".into(), json!(false));
        let out = run_module("assert", json!({"that": ["ok", "true"]}), &ctl, false)
            .await
            .expect("runs");
        assert!(!out.failed);
        let out = run_module(
            "assert",
            json!({"that": ["ok", "bad"], "fail_msg": "bad is false"}),
            &ctl,
            true,
        )
        .await
        .expect("runs");
        assert!(out.failed);
        assert_eq!(out.msg.as_deref(), Some("bad is false"));
        assert_eq!(out.values["assertion"], "bad");
        let err = run_module("assert", json!({"fail_msg": "x"}), &ctl, false)
            .await
            .expect_err("that is required");
        assert!(err.to_string().contains("that"), "{err}");
    }
}
