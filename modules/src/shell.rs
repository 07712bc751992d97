//! `shell`: runs a command line through `/bin/sh -c` (or another shell), like `ansible.builtin.shell`.
//!
//! ```yaml
//! - name: Count the users
//!   ansible.builtin.shell: getent passwd | wc -l > /tmp/users
//!   args:
//!     chdir: /tmp
//!     creates: /tmp/users
//!
//! - ansible.builtin.shell:
//!     cmd: "[[ -d /srv ]] && echo yes"
//!     executable: /bin/bash
//!   register: has_srv
//! ```
//!
//! Everything but the start of the program is `command`'s ([`crate::command`]): `chdir`,
//! `creates`/`removes`, `stdin`, check mode and the results. The string is handed to the shell
//! untouched, so pipes, redirections, variables and globs work; `cmd` in the results is the string.

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::{Context, FreeForm, Module, ModuleError, Outcome, Planned};

use crate::command::{self, Observed, Program, RunAction, RunSpec};

/// The `shell` module.
pub struct ShellModule;

fn yes() -> bool {
    true
}

/// Parameters of `shell`, as ansible.builtin.shell takes them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellParams {
    /// The free-form command line.
    #[serde(rename = "_raw_params")]
    pub raw_params: Option<String>,
    /// The command line as a parameter.
    pub cmd: Option<String>,
    /// Directory to run in.
    pub chdir: Option<String>,
    /// A path or glob: when something matches, the command is not run.
    pub creates: Option<String>,
    /// A path or glob: when nothing matches, the command is not run.
    pub removes: Option<String>,
    /// The shell to run the command with (`<executable> -c <command>`); `/bin/sh` by default.
    pub executable: Option<String>,
    /// Data for the command's standard input.
    pub stdin: Option<String>,
    /// Add a newline to the end of `stdin` data.
    #[serde(default = "yes")]
    pub stdin_add_newline: bool,
    /// Strip trailing newlines from stdout and stderr.
    #[serde(default = "yes")]
    pub strip_empty_ends: bool,
}

impl ShellParams {
    fn spec(&self) -> Result<RunSpec, ModuleError> {
        let script = command::command_text(self.raw_params.as_deref(), self.cmd.as_deref())?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| command::usage_error("no command given"))?;
        Ok(RunSpec {
            program: Program::Shell {
                script,
                executable: self.executable.clone().filter(|e| !e.is_empty()),
            },
            chdir: self.chdir.clone(),
            creates: self.creates.clone(),
            removes: self.removes.clone(),
            stdin: self.stdin.clone(),
            stdin_add_newline: self.stdin_add_newline,
            strip_empty_ends: self.strip_empty_ends,
            warnings: Vec::new(),
        })
    }
}

#[async_trait]
impl Module for ShellModule {
    type Params = ShellParams;
    type Observed = Observed;
    type Action = RunAction;

    const NAME: &'static str = "shell";
    const FREE_FORM: FreeForm = FreeForm::RawParams;

    async fn query(
        &self,
        params: &ShellParams,
        ctx: &Context<'_>,
    ) -> Result<Observed, ModuleError> {
        command::query(params.spec()?, ctx).await
    }

    fn plan(
        &self,
        _: &ShellParams,
        observed: Observed,
        ctx: &Context<'_>,
    ) -> Result<Planned<RunAction>, ModuleError> {
        Ok(command::plan(observed, ctx.check_mode))
    }

    async fn apply(
        &self,
        _: &ShellParams,
        action: RunAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        command::apply(action, ctx).await
    }
}

tend_module_api::register_module!(ShellModule);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::{json, Value};

    fn ctl() -> FakeController {
        FakeController::new("/nonexistent")
    }

    async fn run(args: Value) -> Outcome {
        run_module("shell", args, &ctl(), false)
            .await
            .expect("runs")
    }

    #[test]
    fn spec_keeps_the_string_whole() {
        let params: ShellParams = tend_module_api::args::from_args(
            &json!({"_raw_params": "echo 'a  b' | cat", "executable": "/bin/bash"}),
            tend_module_api::args::ArgMode::Run,
        )
        .expect("params");
        let spec = params.spec().expect("spec");
        assert_eq!(
            spec.program,
            Program::Shell {
                script: "echo 'a  b' | cat".into(),
                executable: Some("/bin/bash".into())
            }
        );
    }

    #[tokio::test]
    async fn pipes_redirections_and_variables_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_string_lossy().into_owned();
        let script = "echo hello | tr a-z A-Z > out.txt; X=world; cat out.txt; echo \"$X\" >&2";
        let out = run(json!({"_raw_params": script, "chdir": d})).await;
        assert!(out.changed && !out.failed, "{out:?}");
        assert_eq!(out.values["stdout"], "HELLO");
        assert_eq!(out.values["stderr"], "world");
        assert_eq!(out.values["cmd"], script);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.txt")).expect("out.txt"),
            "HELLO\n"
        );

        let out =
            run(json!({"_raw_params": "echo again > out.txt", "chdir": d, "creates": "out.*"}))
                .await;
        assert!(!out.changed);
        assert_eq!(
            out.msg.as_deref(),
            Some("Did not run command since 'out.*' exists")
        );
    }

    #[tokio::test]
    async fn executable_and_failures() {
        let out =
            run(json!({"cmd": "[[ 1 == 1 ]] && echo \"$0\"", "executable": "/bin/bash"})).await;
        assert_eq!(out.values["stdout"], "/bin/bash");

        let out = run(json!({"_raw_params": "echo partial; exit 7"})).await;
        assert!(out.failed && out.changed);
        assert_eq!(out.values["rc"], 7);
        assert_eq!(out.values["stdout"], "partial");
        assert_eq!(out.msg.as_deref(), Some("non-zero return code"));

        let out = run(json!({"_raw_params": "read x; echo \"got $x\"", "stdin": "line"})).await;
        assert_eq!(out.values["stdout"], "got line");
    }

    #[tokio::test]
    async fn check_mode_and_empty_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let made = dir.path().join("made");
        let script = format!("touch '{}'", made.display());
        let out = run_module("shell", json!({ "_raw_params": script }), &ctl(), true)
            .await
            .expect("runs");
        assert!(out.skipped && !out.changed);
        assert!(!made.exists());

        let err = run_module("shell", json!({"_raw_params": " "}), &ctl(), false)
            .await
            .expect_err("empty");
        assert_eq!(err.to_string(), "no command given");
    }
}
