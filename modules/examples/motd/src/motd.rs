//! `motd`: the host's message of the day, headed by what the host is.
//!
//! ```yaml
//! - name: Tell people what this host is for
//!   motd:
//!     message: |
//!       Web frontend. Ask #ops before changing anything.
//!
//! - name: No header, another file
//!   motd:
//!     message: Maintenance on Sunday.
//!     path: /etc/motd.d/maintenance
//!     show_host: false
//!     mode: "0640"
//!
//! - motd:
//!     path: /etc/motd.d/maintenance
//!     state: absent
//! ```
//!
//! An example of a complete custom module (see `modules/README.md`). With `show_host` the file
//! starts with a line naming the host and, when facts were gathered, its distribution
//! (`web1 — Debian 12`). The message always ends with a newline. Idempotent by content and
//! mode; the file is replaced atomically; `--check` predicts the change and `--diff` shows the
//! old and new text. Returns `path`, `state` and `lines` (the number of lines written).

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::{
    quote, Context, Diff, Module, ModuleError, Outcome, Planned, WriteOptions,
};

fn default_path() -> String {
    "/etc/motd".into()
}

fn yes() -> bool {
    true
}

fn default_mode() -> String {
    "0644".into()
}

/// Whether the message file should exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MotdState {
    #[default]
    Present,
    Absent,
}

/// Parameters of `motd`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotdParams {
    /// The message; a newline is added when it does not end with one. Needed for `present`.
    #[serde(default, alias = "msg")]
    pub message: Option<String>,
    /// The file to write.
    #[serde(default = "default_path", alias = "dest")]
    pub path: String,
    /// Start with a line naming the host (and its distribution, when facts were gathered).
    #[serde(default = "yes")]
    pub show_host: bool,
    /// The file's permissions, in octal.
    #[serde(default = "default_mode")]
    pub mode: String,
    /// Whether the file should exist.
    #[serde(default)]
    pub state: MotdState,
}

/// The file as the host has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// `None` when there is no file.
    pub content: Option<String>,
    /// Permission bits, when there is a file.
    pub mode: Option<u32>,
}

/// What `apply` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Write(String),
    Remove,
}

pub struct MotdModule;

/// The text the file should hold. Pure, so unit tests pin it down.
pub fn render(message: &str, header: Option<&str>) -> String {
    let mut text = String::new();
    if let Some(header) = header {
        text.push_str(header);
        text.push_str("\n\n");
    }
    text.push_str(message);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// `web1 — Debian 12`, or just the inventory name without facts.
fn header(ctx: &Context<'_>) -> String {
    let name = ctx.host.name();
    let text = |fact: &str| match ctx.fact(fact) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    match (text("distribution"), text("distribution_version")) {
        (Some(distro), Some(version)) => format!("{name} — {distro} {version}"),
        (Some(distro), None) => format!("{name} — {distro}"),
        _ => name.to_string(),
    }
}

fn parse_mode(mode: &str) -> Result<u32, ModuleError> {
    u32::from_str_radix(mode.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| ModuleError::failed(format!("mode must be octal, like 0644: {mode:?}")))
}

#[async_trait]
impl Module for MotdModule {
    type Params = MotdParams;
    type Observed = Observed;
    type Action = Action;

    const NAME: &'static str = "motd";

    async fn query(&self, params: &MotdParams, ctx: &Context<'_>) -> Result<Observed, ModuleError> {
        let stat = ctx.host.stat(&params.path, true).await?;
        let content = ctx.host.read_file(&params.path).await?;
        Ok(Observed {
            content: content.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            mode: stat.map(|s| s.mode),
        })
    }

    fn plan(
        &self,
        params: &MotdParams,
        observed: Observed,
        ctx: &Context<'_>,
    ) -> Result<Planned<Action>, ModuleError> {
        let base = Outcome::ok()
            .with_value("path", params.path.clone())
            .with_value(
                "state",
                match params.state {
                    MotdState::Present => "present",
                    MotdState::Absent => "absent",
                },
            );
        if params.state == MotdState::Absent {
            return Ok(match observed.content {
                None => Planned::Done(base),
                Some(before) => Planned::Change {
                    action: Action::Remove,
                    preview: Outcome {
                        changed: true,
                        ..base
                    }
                    .with_diff(Diff::content(&params.path, before, "")),
                },
            });
        }
        let Some(message) = &params.message else {
            return Err(ModuleError::failed(
                "state is present but all of the following are missing: message",
            ));
        };
        let wanted_mode = parse_mode(&params.mode)?;
        let header = params.show_host.then(|| header(ctx));
        let wanted = render(message, header.as_deref());
        let base = base.with_value("lines", wanted.lines().count());
        let same_text = observed.content.as_deref() == Some(wanted.as_str());
        if same_text && observed.mode == Some(wanted_mode) {
            return Ok(Planned::Done(base));
        }
        let mut preview = Outcome {
            changed: true,
            ..base
        };
        if !same_text {
            let before = observed.content.unwrap_or_default();
            preview = preview.with_diff(Diff::content(&params.path, before, wanted.clone()));
        }
        if let Some(mode) = observed.mode.filter(|m| *m != wanted_mode) {
            preview = preview.with_diff(Diff::attributes(
                &[("mode", format!("{mode:04o}"))],
                &[("mode", format!("{wanted_mode:04o}"))],
            ));
        }
        Ok(Planned::Change {
            action: Action::Write(wanted),
            preview,
        })
    }

    async fn apply(
        &self,
        params: &MotdParams,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {
            Action::Write(text) => {
                let options = WriteOptions {
                    mode: Some(params.mode.clone()),
                    ..WriteOptions::default()
                };
                ctx.host
                    .write_file_atomic(&params.path, text.as_bytes(), &options)
                    .await?;
            }
            Action::Remove => {
                ctx.host
                    .sh_ok(&format!("rm -f -- {}", quote(&params.path)))
                    .await?;
            }
        }
        // The registry keeps the plan's diff; the values are the plan's too.
        let observed = self.query(params, ctx).await?;
        match self.plan(params, observed, ctx)? {
            Planned::Done(outcome) => Ok(Outcome {
                changed: true,
                ..outcome
            }),
            Planned::Change { .. } => Err(ModuleError::failed(format!(
                "{} did not take the new content",
                params.path
            ))),
        }
    }
}

tend_module_api::register_module!(MotdModule);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tend_module_api::testing::{run_module, FakeController};

    #[test]
    fn render_adds_header_and_final_newline() {
        assert_eq!(render("hi", None), "hi\n");
        assert_eq!(render("hi\n", Some("web1")), "web1\n\nhi\n");
    }

    #[test]
    fn params_are_checked_before_any_host_is_contacted() {
        let module = tend_module_api::lookup("motd").expect("registered");
        assert!(module.check_args(&json!({"message": "x"})).is_ok());
        let err = module
            .check_args(&json!({"mesage": "x"}))
            .expect_err("a typo is refused");
        assert!(err.to_string().contains("mesage"), "{err}");
        assert!(module.check_args(&json!({"state": "gone"})).is_err());
    }

    #[tokio::test]
    async fn writes_once_predicts_in_check_mode_and_removes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("motd").display().to_string();
        let c = FakeController::new(dir.path());
        let args = json!({"message": "Be nice.", "path": path, "show_host": false});

        let check = run_module("motd", args.clone(), &c, true).await.expect("check");
        assert!(check.changed);
        assert_eq!(check.diffs[0].after, "Be nice.\n");
        assert!(!dir.path().join("motd").exists(), "check mode wrote the file");

        let first = run_module("motd", args.clone(), &c, false).await.expect("run");
        assert!(first.changed);
        assert_eq!(first.values["lines"], 1);
        assert_eq!(std::fs::read_to_string(&path).expect("written"), "Be nice.\n");

        let again = run_module("motd", args.clone(), &c, false).await.expect("rerun");
        assert!(!again.changed, "second run changed: {again:?}");

        let absent = json!({"path": path, "state": "absent"});
        let removed = run_module("motd", absent.clone(), &c, false).await.expect("rm");
        assert!(removed.changed);
        assert!(!dir.path().join("motd").exists());
        let gone = run_module("motd", absent, &c, false).await.expect("rm again");
        assert!(!gone.changed);
    }

    #[tokio::test]
    async fn header_names_the_host_and_its_distribution_from_facts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("motd").display().to_string();
        let mut c = FakeController::new(dir.path());
        let args = json!({"message": "hi", "path": path});
        run_module("motd", args.clone(), &c, false).await.expect("run");
        assert_eq!(std::fs::read_to_string(&path).expect("file"), "localhost\n\nhi\n");

        c.vars.insert(
            "ansible_facts".into(),
            json!({"distribution": "Debian", "distribution_version": "12"}),
        );
        let out = run_module("motd", args, &c, false).await.expect("run");
        assert!(out.changed);
        assert_eq!(
            std::fs::read_to_string(&path).expect("file"),
            "localhost — Debian 12\n\nhi\n"
        );
    }
}
