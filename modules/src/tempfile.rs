//! `tempfile`: a new temporary file or directory on the host, made with `mktemp`.
//!
//! ```yaml
//! - ansible.builtin.tempfile:
//!     state: directory
//!     suffix: build
//!   register: build_dir
//! ```
//!
//! Returns `path`; always changed. Like Ansible's module it cannot predict the name, so it is
//! skipped in check mode. The name is `<prefix>XXXXXXXX<suffix>` (Ansible's default prefix
//! `ansible.`) in `path`, or in `$TMPDIR`/`/tmp`. Created with mode 0600 (0700 for a directory).

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TempState {
    #[default]
    File,
    Directory,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TempfileParams {
    /// `file` or `directory`.
    #[serde(default)]
    pub state: TempState,
    /// The directory to create it in (default: `$TMPDIR`, else `/tmp`).
    pub path: Option<String>,
    /// Start of the name.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// End of the name.
    #[serde(default)]
    pub suffix: String,
}

fn default_prefix() -> String {
    "ansible.".into()
}

pub struct TempfileModule;

/// Ansible refuses a prefix or suffix that is not a single file name component.
fn check_component(what: &str, value: &str) -> Result<(), ModuleError> {
    if value.contains('/') {
        return Err(ModuleError::failed(format!(
            "{what} must be a valid file name component, got '{value}'"
        )));
    }
    Ok(())
}

/// The `mktemp` command for the parameters.
fn command(params: &TempfileParams) -> String {
    let dir = match &params.path {
        Some(path) => quote(path),
        None => "\"${TMPDIR:-/tmp}\"".to_string(),
    };
    let template = quote(&format!("{}XXXXXXXX{}", params.prefix, params.suffix));
    let flag = match params.state {
        TempState::File => "",
        TempState::Directory => "-d ",
    };
    format!("mktemp {flag}-- {dir}/{template}")
}

#[async_trait]
impl Module for TempfileModule {
    type Params = TempfileParams;
    type Observed = ();
    type Action = ();

    const NAME: &'static str = "tempfile";
    const SUPPORTS_CHECK_MODE: bool = false;

    async fn query(&self, params: &TempfileParams, _ctx: &Context<'_>) -> Result<(), ModuleError> {
        check_component("prefix", &params.prefix)?;
        check_component("suffix", &params.suffix)
    }

    fn plan(
        &self,
        _params: &TempfileParams,
        _observed: (),
        _ctx: &Context<'_>,
    ) -> Result<Planned<()>, ModuleError> {
        Ok(Planned::Change {
            action: (),
            preview: Outcome::changed(),
        })
    }

    async fn apply(
        &self,
        params: &TempfileParams,
        _action: (),
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let out = ctx.host.sh(&command(params)).await?;
        if out.exit_code != 0 {
            return Err(ModuleError::failed(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        let path = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        // Ansible's `add_path_info` describes the new path.
        let info = crate::attrs::path_info_on(ctx.host, &path).await?;
        let mut outcome = Outcome::changed().with_value("path", path);
        outcome.values.extend(info);
        Ok(outcome)
    }
}

tend_module_api::register_module!(TempfileModule);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    #[test]
    fn mktemp_commands() {
        let p: TempfileParams = serde_json::from_value(json!({})).expect("params");
        assert_eq!(command(&p), "mktemp -- \"${TMPDIR:-/tmp}\"/ansible.XXXXXXXX");
        let p: TempfileParams = serde_json::from_value(
            json!({"state": "directory", "path": "/srv/a b", "prefix": "x", "suffix": ".d"}),
        )
        .expect("params");
        assert_eq!(command(&p), "mktemp -d -- '/srv/a b'/xXXXXXXXX.d");
    }

    #[tokio::test]
    async fn creates_and_is_skipped_in_check_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = FakeController::new(dir.path());
        let root = dir.path().display().to_string();
        let out = run_module("tempfile", json!({"path": root, "suffix": ".txt"}), &c, false)
            .await
            .expect("creates");
        assert!(out.changed);
        let path = out.values["path"].as_str().expect("path").to_string();
        assert!(path.ends_with(".txt") && std::path::Path::new(&path).is_file());
        let out = run_module("tempfile", json!({"path": root}), &c, true)
            .await
            .expect("check");
        assert!(out.skipped && !out.changed);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
        assert!(run_module("tempfile", json!({"prefix": "a/b"}), &c, false)
            .await
            .is_err());
    }
}
