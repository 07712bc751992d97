//! `raw`: sends a command line to the host as is, like `ansible.builtin.raw`.
//!
//! ```yaml
//! - name: Bootstrap a host that has nothing yet
//!   ansible.builtin.raw: test -e /usr/bin/python3 || (apt-get -y update && apt-get install -y python3)
//!
//! - ansible.builtin.raw: echo $0
//!   args:
//!     executable: /bin/bash
//! ```
//!
//! No `creates`, `chdir` or output stripping: the text runs once and the results are `rc`,
//! `stdout`, `stderr` and their `_lines`, always `changed`, failed on a non-zero `rc`. With
//! `executable`, the line becomes `<executable> -c '<text>'`, the executable written unquoted
//! as Ansible does (so `/bin/bash -l` works).
//!
//! Check mode: Ansible's raw action always skips the task under `--check` (it cannot know what
//! the text does), reporting only `skipped`; tend does the same.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Map;
use tend_module_api::{quote, Context, FreeForm, Module, ModuleError, Outcome, Planned};

use crate::command::add_lines;

/// The `raw` module.
pub struct RawModule;

/// Parameters of `raw`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParams {
    /// The command line, sent unchanged.
    #[serde(rename = "_raw_params")]
    pub raw_params: Option<String>,
    /// A shell to run the line with: `<executable> -c '<line>'`.
    pub executable: Option<String>,
}

impl RawParams {
    /// The command line the host receives.
    fn command_line(&self) -> Result<String, ModuleError> {
        let text = self
            .raw_params
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ModuleError::failed("no command given"))?;
        Ok(match self.executable.as_deref().filter(|e| !e.is_empty()) {
            Some(exe) => format!("{exe} -c {}", quote(text)),
            None => text.to_string(),
        })
    }
}

#[async_trait]
impl Module for RawModule {
    type Params = RawParams;
    type Observed = ();
    /// The command line to send.
    type Action = String;

    const NAME: &'static str = "raw";
    const FREE_FORM: FreeForm = FreeForm::RawParams;

    async fn query(&self, _: &RawParams, _: &Context<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(
        &self,
        params: &RawParams,
        _: (),
        _: &Context<'_>,
    ) -> Result<Planned<String>, ModuleError> {
        Ok(Planned::Change {
            action: params.command_line()?,
            preview: Outcome {
                skipped: true,
                ..Outcome::default()
            },
        })
    }

    async fn apply(
        &self,
        _: &RawParams,
        line: String,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        // Ansible hands the line to the login shell with no wrapper at all.
        let out = ctx
            .host
            .transport()
            .exec(tend_module_api::ExecRequest::new(&line).in_login_shell())
            .await?;
        let mut values = Map::new();
        values.insert("rc".into(), out.exit_code.into());
        values.insert("stdout".into(), out.stdout_lossy().into());
        values.insert("stderr".into(), out.stderr_lossy().into());
        add_lines(&mut values);
        let mut outcome = Outcome::changed();
        if out.exit_code != 0 {
            outcome.failed = true;
            outcome.msg = Some("non-zero return code".into());
        }
        outcome.values = values;
        Ok(outcome)
    }
}

tend_module_api::register_module!(RawModule);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::{json, Value};

    fn params(v: Value) -> RawParams {
        tend_module_api::args::from_args(&v, tend_module_api::args::ArgMode::Run).expect("params")
    }

    #[test]
    fn command_line_is_sent_unchanged() {
        let p = params(json!({"_raw_params": "echo 'a' | cat; x=$HOME"}));
        assert_eq!(p.command_line().expect("line"), "echo 'a' | cat; x=$HOME");
        let p = params(json!({"_raw_params": "echo $0", "executable": "/bin/bash -l"}));
        assert_eq!(p.command_line().expect("line"), "/bin/bash -l -c 'echo $0'");
        let p = params(json!({}));
        assert_eq!(
            p.command_line().expect_err("empty").to_string(),
            "no command given"
        );
    }

    #[tokio::test]
    async fn runs_reports_and_fails_on_rc() {
        let ctl = FakeController::new("/nonexistent");
        let out = run_module(
            "raw",
            json!({"_raw_params": "echo one; echo two; echo err >&2"}),
            &ctl,
            false,
        )
        .await
        .expect("runs");
        assert!(out.changed && !out.failed);
        assert_eq!(out.values["stdout"], "one\ntwo\n");
        assert_eq!(out.values["stdout_lines"], json!(["one", "two"]));
        assert_eq!(out.values["stderr_lines"], json!(["err"]));
        assert_eq!(out.values["rc"], 0);

        let out = run_module("raw", json!({"_raw_params": "exit 5"}), &ctl, false)
            .await
            .expect("runs");
        assert!(out.failed && out.changed);
        assert_eq!(out.values["rc"], 5);
        assert_eq!(out.msg.as_deref(), Some("non-zero return code"));

        let out = run_module(
            "raw",
            json!({"_raw_params": "[[ -n x ]] && echo $0", "executable": "/bin/bash"}),
            &ctl,
            false,
        )
        .await
        .expect("runs");
        assert_eq!(out.values["stdout"], "/bin/bash\n");
    }

    #[tokio::test]
    async fn check_mode_skips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let made = dir.path().join("made");
        let ctl = FakeController::new("/nonexistent");
        let out = run_module(
            "raw",
            json!({"_raw_params": format!("touch '{}'", made.display())}),
            &ctl,
            true,
        )
        .await
        .expect("runs");
        assert!(out.skipped && !out.changed && !out.failed);
        assert!(!made.exists());
    }
}
