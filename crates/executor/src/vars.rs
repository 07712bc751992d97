//! Assembling the variables a task sees on a host, in Ansible's precedence order, and
//! resolving variables whose values are themselves templates.

use serde_json::{Map, Value};
use tend_template::{is_template, TemplateError, Templater};

/// Deep check for template markup anywhere in a value.
pub(crate) fn holds_template(value: &Value) -> bool {
    match value {
        Value::String(s) => is_template(s),
        Value::Array(items) => items.iter().any(holds_template),
        Value::Object(map) => map.iter().any(|(k, v)| is_template(k) || holds_template(v)),
        _ => false,
    }
}

/// Variables whose values are templates, and why each could not be resolved.
#[derive(Debug, Default)]
pub(crate) struct Unresolved(pub Vec<(String, TemplateError)>);

/// Renders variables whose values hold templates against the other variables, the way
/// Ansible's lazy templating would see them when used. Values that cannot be rendered (an
/// undefined variable inside) are removed, and the reason kept, so that a task using them
/// fails naming the real cause while tasks that do not use them run.
pub(crate) fn resolve_templated(
    templater: &Templater,
    vars: &mut Map<String, Value>,
    skip: &[&str],
) -> Unresolved {
    let mut pending: Vec<String> = vars
        .iter()
        .filter(|(k, v)| !skip.contains(&k.as_str()) && holds_template(v))
        .map(|(k, _)| k.clone())
        .collect();
    let mut errors = Vec::new();
    // Each pass resolves at least one more variable or stops; chains are short in practice.
    while !pending.is_empty() {
        let context = Value::Object(vars.clone());
        let mut progressed = false;
        errors.clear();
        pending.retain(|name| {
            let Some(raw) = vars.get(name) else {
                return false;
            };
            match templater.render_value(raw, &context) {
                Ok(value) if !holds_template(&value) || value == *raw => {
                    vars.insert(name.clone(), value);
                    progressed = true;
                    false
                }
                Ok(value) => {
                    // Rendered into another template (a variable pointing at a templated
                    // variable): take the step and try again next pass.
                    vars.insert(name.clone(), value);
                    progressed = true;
                    true
                }
                Err(e) => {
                    errors.push((name.clone(), e));
                    true
                }
            }
        });
        if !progressed {
            break;
        }
    }
    for (name, _) in &errors {
        vars.remove(name);
    }
    Unresolved(errors)
}

/// Explains a template error, pointing through a variable that could not be resolved.
pub(crate) fn explain(error: &TemplateError, unresolved: &Unresolved) -> String {
    if let TemplateError::Undefined { name, .. } = error {
        let root = name.split(['.', '[']).next().unwrap_or(name);
        if let Some((var, cause)) = unresolved.0.iter().find(|(v, _)| v == root) {
            return format!("{error}: variable '{var}' could not be resolved: {cause}");
        }
    }
    error.to_string()
}
