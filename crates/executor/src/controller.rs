//! The controller-side services a module gets for one task on one host: templating with the
//! task's variables and finding the playbook's local files.

use std::path::PathBuf;

use serde_json::Value;
use tend_module_api::{Controller, ModuleError, SearchKind};
use tend_template::Templater;

pub(crate) struct TaskController<'a> {
    pub templater: &'a Templater,
    pub vars: &'a Value,
    /// Directories searched for relative `src` names, most specific first.
    pub search_dirs: &'a [PathBuf],
}

impl Controller for TaskController<'_> {
    fn render_template(&self, source: &str, name: &str) -> Result<String, ModuleError> {
        self.templater
            .render_template(source, name, self.vars)
            .map_err(|e| ModuleError::failed(format!("{name}: {e}")))
    }

    fn render_template_with(
        &self,
        source: &str,
        name: &str,
        extra: &serde_json::Map<String, Value>,
    ) -> Result<String, ModuleError> {
        let mut vars = match self.vars {
            Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        vars.extend(extra.clone());
        self.templater
            .render_template(source, name, &Value::Object(vars))
            .map_err(|e| ModuleError::failed(format!("{name}: {e}")))
    }

    fn eval_condition(&self, expr: &str) -> Result<bool, ModuleError> {
        self.templater
            .eval_condition(expr, self.vars)
            .map_err(|e| ModuleError::failed(e.to_string()))
    }

    fn eval_expr(&self, expr: &str) -> Result<Value, ModuleError> {
        self.templater
            .eval_expr(expr, self.vars)
            .map_err(|e| ModuleError::failed(e.to_string()))
    }

    fn find_file(&self, kind: SearchKind, name: &str) -> Result<PathBuf, ModuleError> {
        let path = PathBuf::from(name);
        if path.is_absolute() {
            return if path.exists() {
                Ok(path)
            } else {
                Err(ModuleError::failed(format!(
                    "Could not find or access '{name}'"
                )))
            };
        }
        let sub = match kind {
            SearchKind::Files => "files",
            SearchKind::Templates => "templates",
            SearchKind::Vars => "vars",
        };
        let mut tried = Vec::new();
        for dir in self.search_dirs {
            for candidate in [dir.join(sub).join(name), dir.join(name)] {
                if candidate.exists() {
                    return Ok(candidate);
                }
                tried.push(candidate.display().to_string());
            }
        }
        Err(ModuleError::failed(format!(
            "Could not find or access '{name}'\nSearched in:\n\t{}",
            tried.join("\n\t")
        )))
    }
}
