//! `script`: upload a controller-side script to the host, run it there, and remove it.
//!
//! ```yaml
//! - name: Run a script from files/ with arguments
//!   ansible.builtin.script: bootstrap.sh --fast
//!   args:
//!     creates: /var/lib/app/.bootstrapped
//!
//! - name: A Python script, in a directory
//!   ansible.builtin.script:
//!     cmd: report.py --json
//!     executable: python3
//!     chdir: /srv/app
//! ```
//!
//! The first word of the command (free form or `cmd`) names the script: an absolute path, or
//! one found in the role's/playbook's `files/` or the playbook directory. It is uploaded to a
//! new private directory (`mkdir -m 0700` in `/tmp`) under its own name with mode `0700`, and
//! the command runs with that word replaced by the uploaded path (as Ansible's `replace`, every
//! occurrence), through `sh`, from `chdir` (which must be absolute) if given, prefixed with
//! `executable` if given. The directory is removed whatever happens.
//!
//! `creates`/`removes` skip the task when the path exists / does not exist, checked first, in
//! check mode too. In check mode the script never runs: with `creates` or `removes` the task
//! reports `changed` (as Ansible does), without them it is skipped ("Check mode is not
//! supported for this task.").
//!
//! Returns `rc`, `stdout`, `stderr` and their `_lines`, always `changed`; a non-zero `rc` fails
//! with "non-zero return code". Difference from Ansible: Ansible runs the script on a
//! terminal, so its `stdout` has `\r\n` line ends and includes stderr; tend keeps them apart.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::{quote, Context, FreeForm, Module, ModuleError, Outcome, Planned, SearchKind};

use crate::command::{add_lines, shlex_split};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptParams {
    /// The script and its arguments, free form.
    #[serde(rename = "_raw_params")]
    pub raw_params: Option<String>,
    /// The script and its arguments, instead of the free form.
    pub cmd: Option<String>,
    /// Skip when this path exists on the host.
    pub creates: Option<String>,
    /// Skip when this path does not exist on the host.
    pub removes: Option<String>,
    /// Run from this (absolute) directory.
    pub chdir: Option<String>,
    /// Run the script with this program (`python3`, `/bin/bash`).
    pub executable: Option<String>,
    /// Accepted for compatibility (tend does not read vaulted files).
    #[serde(default)]
    pub decrypt: Option<Value>,
}

impl ScriptParams {
    fn command(&self) -> Result<&str, ModuleError> {
        let raw = self.raw_params.as_deref().filter(|s| !s.trim().is_empty());
        let cmd = self.cmd.as_deref().filter(|s| !s.trim().is_empty());
        match (raw, cmd) {
            (Some(_), Some(_)) => Err(ModuleError::failed(
                "parameters are mutually exclusive: _raw_params|cmd",
            )),
            (None, None) => Err(ModuleError::failed(
                "one of the following is required: _raw_params, cmd",
            )),
            (Some(c), None) | (None, Some(c)) => Ok(c.trim()),
        }
    }
}

#[derive(Debug)]
pub struct ScriptObserved {
    /// Why the task is skipped (`creates`/`removes`).
    skip: Option<String>,
    /// The script's first word and its bytes.
    word: String,
    name: String,
    content: Vec<u8>,
}

#[derive(Debug)]
pub struct ScriptAction {
    word: String,
    name: String,
    content: Vec<u8>,
}

pub struct ScriptModule;

#[async_trait]
impl Module for ScriptModule {
    type Params = ScriptParams;
    type Observed = ScriptObserved;
    type Action = ScriptAction;

    const NAME: &'static str = "script";
    const FREE_FORM: FreeForm = FreeForm::RawParams;

    async fn query(
        &self,
        params: &ScriptParams,
        ctx: &Context<'_>,
    ) -> Result<ScriptObserved, ModuleError> {
        let command = params.command()?;
        let _ = &params.decrypt;
        let mut skip = None;
        if params.creates.is_some() || params.removes.is_some() {
            let mut script = String::new();
            if let Some(c) = &params.creates {
                script.push_str(&format!("if test -e {}; then echo creates; fi; ", quote(c)));
            }
            if let Some(r) = &params.removes {
                script.push_str(&format!("if test -e {}; then echo removes; fi; ", quote(r)));
            }
            let out = ctx.host.sh_ok(&script).await?;
            let text = out.stdout_lossy();
            let has = |w: &str| text.lines().any(|l| l == w);
            if let Some(c) = params.creates.as_deref().filter(|_| has("creates")) {
                skip = Some(format!("{c} exists, matching creates option"));
            } else if let Some(r) = params.removes.as_deref().filter(|_| !has("removes")) {
                skip = Some(format!("{r} does not exist, matching removes option"));
            }
        }
        if skip.is_some() {
            return Ok(ScriptObserved {
                skip,
                word: String::new(),
                name: String::new(),
                content: Vec::new(),
            });
        }
        if let Some(dir) = params.chdir.as_deref().filter(|d| !d.is_empty()) {
            if !dir.starts_with('/') {
                return Err(ModuleError::failed(format!(
                    "chdir {dir} must be an absolute path for a Unix-aware remote node"
                )));
            }
        }
        let words = shlex_split(command).map_err(ModuleError::failed)?;
        let word = words
            .first()
            .cloned()
            .ok_or_else(|| ModuleError::failed("no script given"))?;
        let path = ctx.controller.find_file(SearchKind::Files, &word)?;
        let content = std::fs::read(&path).map_err(|e| {
            ModuleError::failed(format!("Could not find or access '{word}': {e}"))
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "script".into());
        Ok(ScriptObserved {
            skip: None,
            word,
            name,
            content,
        })
    }

    fn plan(
        &self,
        params: &ScriptParams,
        observed: ScriptObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<ScriptAction>, ModuleError> {
        if let Some(msg) = observed.skip {
            return Ok(Planned::Done(skipped(msg)));
        }
        if ctx.check_mode && params.creates.is_none() && params.removes.is_none() {
            return Ok(Planned::Done(skipped(
                "Check mode is not supported for this task.".into(),
            )));
        }
        Ok(Planned::Change {
            action: ScriptAction {
                word: observed.word,
                name: observed.name,
                content: observed.content,
            },
            preview: Outcome::changed(),
        })
    }

    async fn apply(
        &self,
        params: &ScriptParams,
        action: ScriptAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let command = params.command()?;
        let dir = format!("/tmp/tend-script-{}", unique());
        let file = format!("{dir}/{}", action.name);
        // Ansible replaces the script's word everywhere in the text, unquoted.
        let target = command.replace(&action.word, &file);
        let line = match params.executable.as_deref().filter(|e| !e.is_empty()) {
            Some(exe) => format!("{exe} {target}"),
            None => target,
        };
        let cd = match params.chdir.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => format!("cd {} && ", quote(d)),
            None => String::new(),
        };
        let d = quote(&dir);
        let f = quote(&file);
        let script = format!(
            "trap 'rm -rf -- {dq}' EXIT HUP INT TERM; \
             if ! (umask 077 && mkdir -m 0700 -- {d} && cat > {f} && chmod 0700 -- {f}); then \
             echo 'could not upload the script' >&2; exit {UPLOAD_FAILED}; fi; \
             __s={f}; {complete}\
             {cd}{line}",
            dq = dir.replace('\'', "'\\''"),
            complete = tend_module_api::require_size("__s", action.content.len()),
        );
        let out = ctx.host.sh_raw(&script, Some(&action.content)).await?;
        if out.exit_code == UPLOAD_FAILED && out.stderr_lossy().contains("could not upload") {
            return Err(ModuleError::failed(format!(
                "failed to transfer the script to the host: {}",
                out.stderr_lossy().trim()
            )));
        }
        let mut values = Map::new();
        values.insert("rc".into(), out.exit_code.into());
        values.insert("stdout".into(), out.stdout_lossy().into());
        values.insert("stderr".into(), out.stderr_lossy().into());
        add_lines(&mut values);
        if out.exit_code != 0 {
            values.insert("changed".into(), true.into());
            return Err(ModuleError::Failed {
                msg: "non-zero return code".into(),
                values,
            });
        }
        let mut outcome = Outcome::changed();
        outcome.values = values;
        Ok(outcome)
    }
}

tend_module_api::register_module!(ScriptModule);

/// Exit status of the wrapper when the upload itself failed.
const UPLOAD_FAILED: i32 = 97;

fn skipped(msg: String) -> Outcome {
    Outcome {
        skipped: true,
        msg: Some(msg),
        ..Outcome::default()
    }
}

/// A name no other run uses: time, process and a counter.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}-{}-{}",
        nanos,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn setup() -> (tempfile::TempDir, FakeController) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("files")).expect("mkdir");
        std::fs::write(
            dir.path().join("files/hello.sh"),
            "#!/bin/sh\necho \"hello $1 from $(basename \"$0\") in $(pwd)\"\necho oops >&2\n[ -z \"$2\" ] || exit \"$2\"\n",
        )
        .expect("write");
        std::fs::set_permissions(
            dir.path().join("files/hello.sh"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        let controller = FakeController::new(dir.path());
        (dir, controller)
    }

    #[tokio::test]
    async fn runs_uploaded_scripts_with_args_chdir_and_failures() {
        let (dir, controller) = setup();
        let d = dir.path().to_string_lossy().to_string();
        let out = run_module(
            "script",
            json!({"_raw_params": "hello.sh world", "chdir": d}),
            &controller,
            false,
        )
        .await
        .expect("runs");
        assert!(out.changed);
        assert_eq!(out.values["rc"], 0);
        assert_eq!(
            out.values["stdout"],
            format!("hello world from hello.sh in {d}\n")
        );
        assert_eq!(out.values["stderr_lines"], json!(["oops"]));

        let e = run_module(
            "script",
            json!({"cmd": "hello.sh x 3", "executable": "sh"}),
            &controller,
            false,
        )
        .await
        .expect_err("fails");
        let ModuleError::Failed { msg, values } = e else {
            panic!("expected a failure")
        };
        assert_eq!(msg, "non-zero return code");
        assert_eq!(values["rc"], 3);

        let marker = dir.path().join("marker").to_string_lossy().to_string();
        let out = run_module(
            "script",
            json!({"_raw_params": "hello.sh", "removes": marker}),
            &controller,
            false,
        )
        .await
        .expect("skips");
        assert!(out.skipped);
        assert_eq!(
            out.msg,
            Some(format!("{marker} does not exist, matching removes option"))
        );
        let out = run_module(
            "script",
            json!({"_raw_params": "hello.sh", "creates": marker}),
            &controller,
            true,
        )
        .await
        .expect("check");
        assert!(out.changed && !out.skipped);
        let out = run_module(
            "script",
            json!({"_raw_params": "hello.sh"}),
            &controller,
            true,
        )
        .await
        .expect("check");
        assert!(out.skipped);
        let e = run_module(
            "script",
            json!({"_raw_params": "hello.sh", "chdir": "rel"}),
            &controller,
            false,
        )
        .await
        .expect_err("relative chdir");
        assert!(e.to_string().contains("must be an absolute path"));
        let leftovers = std::fs::read_dir("/tmp")
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("tend-script-")
                    && e.file_name()
                        .to_string_lossy()
                        .contains(&format!("-{}-", std::process::id()))
            })
            .count();
        assert_eq!(leftovers, 0, "uploaded scripts left behind");
    }
}
