//! `include_vars`: loads variables from YAML/JSON files on the controller into the host's
//! variables, at Ansible's include_vars precedence.
//!
//! ```yaml
//! - include_vars: vars/{{ ansible_os_family }}.yml
//! - include_vars:
//!     dir: vars/common
//!     extensions: [yml, yaml]
//!     name: common
//! ```

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::{Context, FreeForm, Module, ModuleError, Outcome, Planned, SearchKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeVarsParams {
    /// The file to load (free form or `file:`), relative to `vars/` of the role or playbook.
    #[serde(alias = "_raw_params")]
    file: Option<String>,
    /// A directory whose files are all loaded, in name order.
    dir: Option<String>,
    /// Store everything under this one variable instead of at the top level.
    name: Option<String>,
    /// How deep to descend into `dir` (0: no limit).
    #[serde(default)]
    depth: usize,
    /// Only files whose name matches this regular expression.
    files_matching: Option<String>,
    /// File names to skip.
    #[serde(default)]
    ignore_files: Vec<String>,
    /// Extensions loaded from `dir`.
    #[serde(default = "default_extensions")]
    extensions: Vec<String>,
    /// Skip files with other extensions instead of failing.
    #[serde(default)]
    ignore_unknown_extensions: bool,
    /// Only `replace` (Ansible's default) is supported.
    hash_behaviour: Option<String>,
}

fn default_extensions() -> Vec<String> {
    vec!["yaml".into(), "yml".into(), "json".into()]
}

pub struct IncludeVarsModule;

pub struct Loaded {
    vars: Map<String, Value>,
    files: Vec<String>,
}

#[async_trait]
impl Module for IncludeVarsModule {
    type Params = IncludeVarsParams;
    type Observed = Loaded;
    type Action = ();

    const NAME: &'static str = "include_vars";
    const FREE_FORM: FreeForm = FreeForm::RawParams;

    async fn query(
        &self,
        params: &IncludeVarsParams,
        ctx: &Context<'_>,
    ) -> Result<Loaded, ModuleError> {
        if params
            .hash_behaviour
            .as_deref()
            .is_some_and(|h| h != "replace")
        {
            return Err(ModuleError::failed(
                "only hash_behaviour=replace is supported by tend",
            ));
        }
        let files = match (&params.file, &params.dir) {
            (Some(_), Some(_)) => {
                return Err(ModuleError::failed("file and dir are mutually exclusive"))
            }
            (Some(file), None) => vec![ctx.controller.find_file(SearchKind::Vars, file)?],
            (None, Some(dir)) => {
                let root = ctx.controller.find_file(SearchKind::Vars, dir)?;
                if !root.is_dir() {
                    return Err(ModuleError::failed(format!(
                        "{} is not a directory",
                        root.display()
                    )));
                }
                let matching = match &params.files_matching {
                    Some(re) => Some(regex_lite(re)?),
                    None => None,
                };
                let mut found = Vec::new();
                walk(&root, 1, params.depth, &mut found)?;
                found.sort();
                found
                    .into_iter()
                    .filter(|p| {
                        let name = p
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        !params.ignore_files.contains(&name)
                            && matching.as_ref().is_none_or(|m| m(&name))
                            && (has_extension(p, &params.extensions)
                                || !params.ignore_unknown_extensions)
                    })
                    .collect()
            }
            (None, None) => return Err(ModuleError::failed("one of file or dir is required")),
        };
        let mut vars = Map::new();
        let mut names = Vec::new();
        for path in files {
            if !has_extension(&path, &params.extensions) && params.dir.is_some() {
                return Err(ModuleError::failed(format!(
                    "{} does not have a valid extension: {}",
                    path.display(),
                    params.extensions.join(", ")
                )));
            }
            vars.extend(load(&path)?);
            names.push(path.display().to_string());
        }
        Ok(Loaded { vars, files: names })
    }

    fn plan(
        &self,
        params: &IncludeVarsParams,
        loaded: Loaded,
        _ctx: &Context<'_>,
    ) -> Result<Planned<()>, ModuleError> {
        let facts = match &params.name {
            Some(name) => {
                let mut m = Map::new();
                m.insert(name.clone(), Value::Object(loaded.vars));
                m
            }
            None => loaded.vars,
        };
        let mut outcome = Outcome::ok().with_value(
            "ansible_included_var_files",
            Value::Array(loaded.files.into_iter().map(Value::String).collect()),
        );
        outcome
            .values
            .insert("ansible_facts".into(), Value::Object(facts.clone()));
        outcome.facts = facts;
        Ok(Planned::Done(outcome))
    }

    async fn apply(
        &self,
        _params: &IncludeVarsParams,
        _action: (),
        _ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        Ok(Outcome::ok())
    }
}

tend_module_api::register_module!(IncludeVarsModule);

fn has_extension(path: &Path, extensions: &[String]) -> bool {
    path.extension()
        .map(|e| {
            extensions
                .iter()
                .any(|x| x.trim_start_matches('.') == e.to_string_lossy())
        })
        .unwrap_or(extensions.iter().any(|x| x.is_empty()))
}

fn walk(dir: &Path, level: usize, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), ModuleError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ModuleError::failed(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if depth == 0 || level < depth {
                walk(&path, level + 1, depth, out)?;
            }
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// `files_matching` as a predicate; a plain substring/anchor subset is enough for the
/// patterns playbooks use, without pulling a regex engine into the modules crate.
fn regex_lite(pattern: &str) -> Result<impl Fn(&str) -> bool, ModuleError> {
    if pattern.chars().any(|c| "[](){}|+?\\".contains(c)) {
        return Err(ModuleError::failed(format!(
            "files_matching `{pattern}`: only ^, $, . and .* are supported by tend yet"
        )));
    }
    let anchored_start = pattern.starts_with('^');
    let anchored_end = pattern.ends_with('$') && !pattern.ends_with("\\$");
    let core = pattern
        .trim_start_matches('^')
        .trim_end_matches('$')
        .to_string();
    Ok(move |name: &str| glob_match(&core, name, anchored_start, anchored_end))
}

fn glob_match(pattern: &str, text: &str, anchored_start: bool, anchored_end: bool) -> bool {
    // `.*` is any run, `.` any one character; Python's re.search semantics otherwise.
    let starts: Vec<usize> = if anchored_start {
        vec![0]
    } else {
        (0..=text.len()).collect()
    };
    starts
        .into_iter()
        .any(|s| matches_here(pattern.as_bytes(), &text.as_bytes()[s..], anchored_end))
}

fn matches_here(p: &[u8], t: &[u8], anchored_end: bool) -> bool {
    if p.is_empty() {
        return !anchored_end || t.is_empty();
    }
    if p.len() >= 2 && p[0] == b'.' && p[1] == b'*' {
        return (0..=t.len()).any(|i| matches_here(&p[2..], &t[i..], anchored_end));
    }
    match t.first() {
        Some(&c) if p[0] == b'.' || p[0] == c => matches_here(&p[1..], &t[1..], anchored_end),
        _ => false,
    }
}

fn load(path: &Path) -> Result<Map<String, Value>, ModuleError> {
    let text = tend_vault::read_to_string(path)
        .map_err(|e| ModuleError::failed(format!("cannot read {}: {e}", path.display())))?;
    let node = tend_yaml::load_one(&text)
        .map_err(|e| {
            ModuleError::failed(format!(
                "{}: {} at line {} column {}",
                path.display(),
                e.headline(),
                e.span.line,
                e.span.col
            ))
        })?;
    match node.to_json() {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(ModuleError::failed(format!(
            "{} must hold a mapping of variables",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    #[tokio::test]
    async fn loads_a_file_and_a_directory() {
        let root = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(root.path().join("vars/dir/sub")).expect("mkdir");
        std::fs::write(root.path().join("vars/one.yml"), "a: 1\nb: [x]\n").expect("write");
        std::fs::write(root.path().join("vars/dir/10.yml"), "x: first\n").expect("write");
        std::fs::write(root.path().join("vars/dir/20.yaml"), "x: second\ny: yes\n").expect("write");
        std::fs::write(root.path().join("vars/dir/sub/30.json"), "{\"z\": 3}").expect("write");
        let c = FakeController::new(root.path());

        let out = run_module("include_vars", json!({"_raw_params": "one.yml"}), &c, false)
            .await
            .expect("runs");
        assert_eq!(Value::Object(out.facts), json!({"a": 1, "b": ["x"]}));
        assert!(!out.changed);

        let out = run_module(
            "include_vars",
            json!({"dir": "dir", "name": "cfg"}),
            &c,
            false,
        )
        .await
        .expect("runs");
        assert_eq!(
            Value::Object(out.facts),
            json!({"cfg": {"x": "second", "y": true, "z": 3}})
        );

        let out = run_module(
            "include_vars",
            json!({"dir": "dir", "depth": 1, "files_matching": "^1.*"}),
            &c,
            false,
        )
        .await
        .expect("runs");
        assert_eq!(Value::Object(out.facts), json!({"x": "first"}));

        let err = run_module("include_vars", json!({"file": "missing.yml"}), &c, false)
            .await
            .expect_err("missing");
        assert!(err.to_string().contains("missing.yml"), "{err}");
    }
}
