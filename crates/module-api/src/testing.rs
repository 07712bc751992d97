//! Test support for module unit tests, builtin or custom: a controller that needs no playbook,
//! and a host that is this machine (through the real `/bin/sh`). Tests point modules at paths
//! in a temporary directory.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tend_transport::LocalTransport;

use crate::{Context, Controller, Host, ModuleError, Outcome, SearchKind};

/// A controller for tests: templates render verbatim, conditions are `true`/`false` literals
/// or looked up in `vars`, files are found under `root`.
pub struct FakeController {
    pub root: PathBuf,
    pub vars: serde_json::Map<String, Value>,
}

impl FakeController {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FakeController {
            root: root.into(),
            vars: serde_json::Map::new(),
        }
    }
}

impl Controller for FakeController {
    fn render_template(&self, source: &str, _name: &str) -> Result<String, ModuleError> {
        Ok(source.to_string())
    }

    fn eval_condition(&self, expr: &str) -> Result<bool, ModuleError> {
        match self.eval_expr(expr)? {
            Value::Bool(b) => Ok(b),
            other => Err(ModuleError::failed(format!("not a boolean: {other}"))),
        }
    }

    fn eval_expr(&self, expr: &str) -> Result<Value, ModuleError> {
        match expr.trim() {
            "true" | "True" => Ok(Value::Bool(true)),
            "false" | "False" => Ok(Value::Bool(false)),
            name => self
                .vars
                .get(name)
                .cloned()
                .ok_or_else(|| ModuleError::failed(format!("'{name}' is undefined"))),
        }
    }

    fn find_file(&self, kind: SearchKind, name: &str) -> Result<PathBuf, ModuleError> {
        let sub = match kind {
            SearchKind::Files => "files",
            SearchKind::Templates => "templates",
            SearchKind::Vars => "vars",
        };
        let candidate = self.root.join(sub).join(name);
        if candidate.exists() {
            Ok(candidate)
        } else {
            Err(ModuleError::failed(format!("could not find {name}")))
        }
    }
}

/// This machine as a host, through `/bin/sh`.
pub fn local_host() -> Host {
    Host::new("localhost", Arc::new(LocalTransport::new("localhost")))
}

/// Runs a registered module by name, as the executor would: query, plan and, outside check
/// mode, apply; `--diff` is on. The module's crate must be linked into the test binary (a
/// crate's own unit tests are).
pub async fn run_module(
    name: &str,
    args: Value,
    controller: &FakeController,
    check_mode: bool,
) -> Result<Outcome, ModuleError> {
    let host = local_host();
    let ctx = Context {
        host: &host,
        check_mode,
        diff: true,
        controller,
    };
    let module =
        crate::lookup(name).ok_or_else(|| ModuleError::failed(format!("no module {name}")))?;
    module.run(&args, &ctx).await
}
