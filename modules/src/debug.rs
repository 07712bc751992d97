//! `debug`: prints a message or a variable's value, like `ansible.builtin.debug`.
//!
//! ```yaml
//! - ansible.builtin.debug:
//!     msg: "{{ inventory_hostname }} has {{ ansible_memtotal_mb }} MB"
//!
//! - ansible.builtin.debug:
//!     var: result.stdout_lines
//!     verbosity: 1
//! ```
//!
//! `msg` may be any value (a list or mapping is reported as such); it defaults to
//! `Hello world!`. `var` is an expression evaluated with the task's variables; the result is
//! reported under the expression's own text (`{"result.stdout_lines": [...]}`), or as
//! `VARIABLE IS NOT DEFINED!` when it is undefined. `verbosity` is accepted here; showing the
//! task only at that `-v` level is the output layer's job. Never changed.

use std::convert::Infallible;

use async_trait::async_trait;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

/// The `debug` module.
pub struct DebugModule;

/// Parameters of `debug`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugParams {
    /// The message: any value.
    #[serde(default, deserialize_with = "present")]
    pub msg: Option<Value>,
    /// A variable name or expression to show.
    #[serde(default, deserialize_with = "present")]
    pub var: Option<Value>,
    /// The `-v` level from which the task is shown; the output layer reads it from the task.
    #[serde(default, rename = "verbosity")]
    pub _verbosity: u32,
}

/// Deserializes a parameter of any type, keeping a given `null` apart from an absent one.
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Sets a message that may be any value: strings are the outcome's message; anything else
/// goes into the values as is, so `register` keeps its type.
pub(crate) fn with_message(mut outcome: Outcome, msg: Value) -> Outcome {
    match msg {
        Value::String(s) => outcome.msg = Some(s),
        other => {
            outcome.values.insert("msg".into(), other);
        }
    }
    outcome
}

/// Ansible's wording for a `var` whose value cannot be found.
const NOT_DEFINED: &str = "VARIABLE IS NOT DEFINED!";

/// Whether an evaluation error means "undefined" (Ansible's AnsibleUndefinedVariable), as
/// opposed to a broken expression, which fails the task.
fn is_undefined(err: &ModuleError) -> bool {
    let text = err.to_string();
    text.contains("is undefined")
        || text.contains("has no attribute")
        || text.contains("undefined value")
}

/// What `debug` reports, given a way to evaluate `var`. Pure apart from that evaluation.
fn report(
    params: &DebugParams,
    eval: impl Fn(&str) -> Result<Value, ModuleError>,
) -> Result<Outcome, ModuleError> {
    let msg = params.msg.clone().filter(|m| !m.is_null());
    let var = params.var.clone().filter(|v| !v.is_null());
    match (msg, var) {
        (Some(_), Some(_)) => {
            let mut failed = Outcome::ok().with_msg("'msg' and 'var' are incompatible options");
            failed.failed = true;
            Ok(failed)
        }
        (Some(msg), None) => Ok(with_message(Outcome::ok(), msg)),
        (None, Some(Value::String(expr))) => {
            let value = match eval(&expr) {
                Ok(value) => value,
                Err(e) if is_undefined(&e) => Value::from(NOT_DEFINED),
                Err(e) => return Err(e),
            };
            Ok(Outcome::ok().with_value(&expr, value))
        }
        // Ansible keys a list or mapping by its Python type and shows it as given.
        (None, Some(v @ Value::Array(_))) => Ok(Outcome::ok().with_value("<class 'list'>", v)),
        (None, Some(v @ Value::Object(_))) => Ok(Outcome::ok().with_value("<class 'dict'>", v)),
        // A number or boolean is no variable name: Ansible reports it as not defined.
        (None, Some(other)) => {
            let key = match other {
                Value::Bool(true) => "True".to_string(),
                Value::Bool(false) => "False".to_string(),
                other => other.to_string(),
            };
            Ok(Outcome::ok().with_value(&key, NOT_DEFINED))
        }
        (None, None) => Ok(Outcome::ok().with_msg("Hello world!")),
    }
}

#[async_trait]
impl Module for DebugModule {
    type Params = DebugParams;
    type Observed = ();
    type Action = Infallible;

    const NAME: &'static str = "debug";

    async fn query(&self, _: &DebugParams, _: &Context<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(
        &self,
        params: &DebugParams,
        _: (),
        ctx: &Context<'_>,
    ) -> Result<Planned<Infallible>, ModuleError> {
        report(params, |expr| ctx.controller.eval_expr(expr)).map(Planned::Done)
    }

    async fn apply(
        &self,
        _: &DebugParams,
        action: Infallible,
        _: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {}
    }
}

tend_module_api::register_module!(DebugModule);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    fn params(v: Value) -> DebugParams {
        tend_module_api::args::from_args(&v, tend_module_api::args::ArgMode::Run).expect("params")
    }

    fn undefined(expr: &str) -> Result<Value, ModuleError> {
        Err(ModuleError::failed(format!("'{expr}' is undefined")))
    }

    #[test]
    fn messages_of_any_type() {
        let out = report(&params(json!({})), undefined).expect("ok");
        assert_eq!(out.msg.as_deref(), Some("Hello world!"));
        assert!(!out.changed && !out.failed);

        let out = report(&params(json!({"msg": "hi"})), undefined).expect("ok");
        assert_eq!(out.msg.as_deref(), Some("hi"));

        let out = report(&params(json!({"msg": ["a", {"b": 1}]})), undefined).expect("ok");
        assert_eq!(out.msg, None);
        assert_eq!(out.values["msg"], json!(["a", {"b": 1}]));

        let out = report(&params(json!({"msg": "x", "var": "y"})), undefined).expect("ok");
        assert!(out.failed);
        assert_eq!(
            out.msg.as_deref(),
            Some("'msg' and 'var' are incompatible options")
        );
    }

    #[test]
    fn var_is_keyed_by_its_text() {
        let eval = |e: &str| match e {
            "a.b" => Ok(json!([1, 2])),
            "broken(" => Err(ModuleError::failed("template syntax error: unexpected end")),
            other => undefined(other),
        };
        let out = report(&params(json!({"var": "a.b"})), eval).expect("ok");
        assert_eq!(out.values["a.b"], json!([1, 2]));
        let out = report(&params(json!({"var": "nope"})), eval).expect("ok");
        assert_eq!(out.values["nope"], "VARIABLE IS NOT DEFINED!");
        assert!(report(&params(json!({"var": "broken("})), eval).is_err());
        let out = report(&params(json!({"var": [1, 2]})), eval).expect("ok");
        assert_eq!(out.values["<class 'list'>"], json!([1, 2]));
        let out = report(&params(json!({"var": 5})), eval).expect("ok");
        assert_eq!(out.values["5"], "VARIABLE IS NOT DEFINED!");
    }

    #[tokio::test]
    async fn through_the_registry() {
        let mut ctl = FakeController::new("/nonexistent");
        ctl.vars.insert("answer".into(), json!({"n": 42}));
        let out = run_module(
            "debug",
            json!({"var": "answer", "verbosity": 2}),
            &ctl,
            false,
        )
        .await
        .expect("runs");
        assert_eq!(out.values["answer"], json!({"n": 42}));
        assert!(!out.changed);
        let out = run_module("debug", json!({"var": "missing"}), &ctl, true)
            .await
            .expect("runs");
        assert_eq!(out.values["missing"], "VARIABLE IS NOT DEFINED!");
        let err = run_module("debug", json!({"mgs": "typo"}), &ctl, false)
            .await
            .expect_err("unknown param");
        assert!(err.to_string().contains("mgs"), "{err}");
    }
}
