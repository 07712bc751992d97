//! `set_fact`: sets host variables for the rest of the play, like `ansible.builtin.set_fact`.
//!
//! ```yaml
//! - ansible.builtin.set_fact:
//!     app_port: 8080
//!     app_hosts: "{{ groups['web'] }}"
//!     cacheable: true
//! ```
//!
//! Every argument except `cacheable` becomes a fact, keeping the type its (already templated)
//! value has. Names must be Python identifiers, as Ansible requires. As in Ansible (with
//! `jinja2_native` off, the default), the strings `yes`/`no`/`true`/`false` (any case) become
//! booleans. `cacheable` is accepted; tend has no fact cache, so it changes nothing.
//! The facts are returned under `ansible_facts` too. Never changed.

use std::convert::Infallible;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tend_module_api::args::{is_template, parse_bool};
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

/// The `set_fact` module.
pub struct SetFactModule;

/// Python's keywords, which `isidentifier` in Ansible rejects as variable names.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Ansible's `isidentifier`: an ASCII Python identifier that is not a keyword.
fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !PYTHON_KEYWORDS.contains(&name)
}

/// The facts from the arguments. `template_key` renders a key that still holds a template
/// (Ansible templates set_fact's keys, unlike any other module's).
fn facts(
    args: &Map<String, Value>,
    template_key: impl Fn(&str) -> Result<String, ModuleError>,
) -> Result<Map<String, Value>, ModuleError> {
    let mut facts = Map::new();
    for (key, value) in args {
        if key == "cacheable" {
            let ok = match value {
                Value::Bool(_) => true,
                Value::String(s) => parse_bool(s).is_some(),
                Value::Number(n) => matches!(n.as_f64(), Some(f) if f == 0.0 || f == 1.0),
                _ => false,
            };
            if !ok {
                return Err(ModuleError::failed(format!(
                    "The value '{value}' is not a valid boolean for 'cacheable'."
                )));
            }
            continue;
        }
        let key = if is_template(key) {
            template_key(key)?
        } else {
            key.clone()
        };
        if !is_identifier(&key) {
            return Err(ModuleError::failed(format!(
                "The variable name '{key}' is not valid. Variables must start with a letter or underscore character, \
                 and contain only letters, numbers and underscores."
            )));
        }
        let value = match value {
            Value::String(s)
                if ["true", "false", "yes", "no"].contains(&s.to_ascii_lowercase().as_str()) =>
            {
                Value::Bool(parse_bool(s).unwrap_or(false))
            }
            other => other.clone(),
        };
        facts.insert(key, value);
    }
    if facts.is_empty() {
        return Err(ModuleError::failed(
            "No key/value pairs provided, at least one is required for this action to succeed",
        ));
    }
    Ok(facts)
}

#[async_trait]
impl Module for SetFactModule {
    /// Any `name: value` pairs, plus `cacheable`.
    type Params = Map<String, Value>;
    type Observed = ();
    type Action = Infallible;

    const NAME: &'static str = "set_fact";

    async fn query(&self, _: &Map<String, Value>, _: &Context<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(
        &self,
        args: &Map<String, Value>,
        _: (),
        ctx: &Context<'_>,
    ) -> Result<Planned<Infallible>, ModuleError> {
        let facts = facts(args, |key| {
            ctx.controller.render_template(key, "set_fact key")
        })?;
        let outcome = Outcome {
            values: Map::from_iter([("ansible_facts".to_string(), Value::Object(facts.clone()))]),
            facts,
            ..Outcome::default()
        };
        Ok(Planned::Done(outcome))
    }

    async fn apply(
        &self,
        _: &Map<String, Value>,
        action: Infallible,
        _: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {}
    }
}

tend_module_api::register_module!(SetFactModule);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    fn no_templates(key: &str) -> Result<String, ModuleError> {
        Err(ModuleError::failed(format!("unexpected template {key}")))
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn types_are_kept_and_bool_strings_converted() {
        let f = facts(
            &map(json!({"n": 3, "l": [1, "a"], "d": {"k": null}, "s": "text", "y": "Yes", "f": "false", "cacheable": "yes"})),
            no_templates,
        )
        .expect("facts");
        assert_eq!(
            Value::Object(f),
            json!({"n": 3, "l": [1, "a"], "d": {"k": null}, "s": "text", "y": true, "f": false})
        );
    }

    #[test]
    fn names_must_be_identifiers() {
        for bad in ["x-y", "1abc", "class", "None", "héllo", ""] {
            let err = facts(&map(json!({ bad: 1 })), no_templates).expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!(
                    "The variable name '{bad}' is not valid. Variables must start with a letter or underscore \
                     character, and contain only letters, numbers and underscores."
                )
            );
        }
        let f = facts(&map(json!({"{{ name }}": 1})), |_| Ok("templated".into())).expect("facts");
        assert_eq!(f["templated"], 1);
        let err = facts(&map(json!({"cacheable": true})), no_templates).expect_err("empty");
        assert!(err.to_string().starts_with("No key/value pairs provided"));
    }

    #[tokio::test]
    async fn through_the_registry() {
        let ctl = FakeController::new("/nonexistent");
        let out = run_module("set_fact", json!({"a": 1, "b": "two"}), &ctl, true)
            .await
            .expect("runs");
        assert!(!out.changed && !out.failed);
        assert_eq!(
            Value::Object(out.facts.clone()),
            json!({"a": 1, "b": "two"})
        );
        assert_eq!(out.values["ansible_facts"], json!({"a": 1, "b": "two"}));
    }
}
