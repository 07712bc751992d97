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
    // Variables whose templates refer back to themselves would never resolve (or grow each
    // pass): they fail, as Ansible's "Recursive loop detected in template" does.
    for (name, chain) in recursive(templater, vars, &pending) {
        vars.remove(&name);
        errors.push((
            name,
            TemplateError::Render {
                message: format!(
                    "Recursive loop detected in template: {}",
                    chain.join(" -> ")
                ),
            },
        ));
    }
    let recursive_errors = errors.len();
    pending.retain(|name| vars.contains_key(name));
    // Each pass resolves at least one more link of every chain, so a chain of templated
    // variables needs at most as many passes as there are of them; more means a loop the
    // name analysis could not see (through `vars[...]` or a lookup).
    let mut passes_left = pending.len() + 1;
    while !pending.is_empty() {
        if passes_left == 0 {
            for name in pending.drain(..) {
                vars.remove(&name);
                errors.push((
                    name.clone(),
                    TemplateError::Render {
                        message: format!("Recursive loop detected in template: {name}"),
                    },
                ));
            }
            return Unresolved(errors);
        }
        passes_left -= 1;
        let context = Value::Object(vars.clone());
        let mut progressed = false;
        errors.truncate(recursive_errors);
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

/// Every string inside a value, map keys included.
fn strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k);
                strings(v, out);
            }
        }
        _ => {}
    }
}

/// The templated variables among `pending` that reach themselves through the names their
/// templates read, each with the loop it is on (`a -> b -> a`), in `pending` order.
fn recursive(
    templater: &Templater,
    vars: &Map<String, Value>,
    pending: &[String],
) -> Vec<(String, Vec<String>)> {
    let edges: Vec<Vec<usize>> = pending
        .iter()
        .map(|name| {
            let mut texts = Vec::new();
            if let Some(value) = vars.get(name) {
                strings(value, &mut texts);
            }
            let mut to: Vec<usize> = texts
                .iter()
                .flat_map(|t| templater.referenced_names(t))
                .filter_map(|n| pending.iter().position(|p| *p == n))
                .collect();
            to.sort_unstable();
            to.dedup();
            to
        })
        .collect();
    let mut found = Vec::new();
    for start in 0..pending.len() {
        if let Some(path) = path_back(&edges, start) {
            let chain = path.iter().map(|&i| pending[i].clone()).collect();
            found.push((pending[start].clone(), chain));
        }
    }
    found
}

/// A shortest path from `start` back to itself (both ends included), breadth first.
fn path_back(edges: &[Vec<usize>], start: usize) -> Option<Vec<usize>> {
    let mut parent: Vec<Option<usize>> = vec![None; edges.len()];
    let mut queue = std::collections::VecDeque::from([start]);
    let mut seen = vec![false; edges.len()];
    while let Some(at) = queue.pop_front() {
        for &next in &edges[at] {
            if next == start {
                // Walk back from `at` to `start`, then turn it around and close the loop.
                let mut path = vec![at];
                let mut cur = at;
                while cur != start {
                    cur = parent[cur]?;
                    path.push(cur);
                }
                path.reverse();
                path.push(start);
                return Some(path);
            }
            if !seen[next] {
                seen[next] = true;
                parent[next] = Some(at);
                queue.push_back(next);
            }
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn resolve(vars: Value) -> (Map<String, Value>, Vec<(String, String)>) {
        let Value::Object(mut vars) = vars else {
            panic!("vars must be an object");
        };
        let unresolved = resolve_templated(&Templater::new(), &mut vars, &[]);
        let errors = unresolved
            .0
            .into_iter()
            .map(|(name, e)| (name, e.to_string()))
            .collect();
        (vars, errors)
    }

    #[test]
    fn variables_that_refer_to_each_other_are_a_recursive_loop() {
        let (vars, errors) = resolve(json!({
            "a": "{{ b }}", "b": "{{ a }}", "c": "{{ c }}x", "d": "{{ a }}",
            "e": "{{ f }}", "f": "{{ g }}", "g": 1, "h": {"k": ["{{ h }}"]},
        }));
        assert_eq!(vars.get("e"), Some(&json!(1)));
        assert_eq!(vars.get("f"), Some(&json!(1)));
        for name in ["a", "b", "c", "d", "h"] {
            assert!(!vars.contains_key(name), "{name} resolved: {vars:?}");
        }
        let message = |name: &str| {
            errors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, m)| m.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            message("a"),
            "Recursive loop detected in template: a -> b -> a"
        );
        assert_eq!(
            message("b"),
            "Recursive loop detected in template: b -> a -> b"
        );
        assert_eq!(message("c"), "Recursive loop detected in template: c -> c");
        assert_eq!(message("h"), "Recursive loop detected in template: h -> h");
        // A variable that only uses a recursive one fails on the missing name.
        assert!(message("d").contains("'a' is undefined"), "{errors:?}");
    }

    #[test]
    fn explain_points_through_the_recursive_variable() {
        let mut vars = Map::new();
        vars.insert("a".into(), json!("{{ b }}"));
        vars.insert("b".into(), json!("{{ a }}"));
        let t = Templater::new();
        let unresolved = resolve_templated(&t, &mut vars, &[]);
        let e = match t.render_str("{{ a }}", &Value::Object(vars)) {
            Ok(v) => panic!("rendered {v}"),
            Err(e) => e,
        };
        assert_eq!(
            explain(&e, &unresolved),
            "'a' is undefined: variable 'a' could not be resolved: Recursive loop detected in template: a -> b -> a"
        );
    }
}
