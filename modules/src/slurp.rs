//! `slurp`: a file's content from the host, base64-encoded, changing nothing.
//!
//! ```yaml
//! - ansible.builtin.slurp:
//!     src: /etc/hostname
//!   register: hostname_file
//!
//! - ansible.builtin.debug:
//!     msg: "{{ hostname_file.content | b64decode }}"
//! ```
//!
//! Returns `content` (base64), `source` and `encoding: base64`, as Ansible does; a missing
//! file, an unreadable one and a directory fail with Ansible's messages.

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurpParams {
    /// The file to read.
    #[serde(alias = "path")]
    pub src: String,
}

/// Exit statuses of the read script for the cases Ansible names.
const MISSING: i32 = 44;
const DIRECTORY: i32 = 45;
const UNREADABLE: i32 = 46;

pub struct SlurpModule;

#[async_trait]
impl Module for SlurpModule {
    type Params = SlurpParams;
    type Observed = Vec<u8>;
    type Action = ();

    const NAME: &'static str = "slurp";

    async fn query(&self, params: &SlurpParams, ctx: &Context<'_>) -> Result<Vec<u8>, ModuleError> {
        let src = quote(&params.src);
        let script = format!(
            "f={src}; if [ -d \"$f\" ]; then exit {DIRECTORY}; fi; \
             if [ ! -e \"$f\" ] && [ ! -L \"$f\" ]; then exit {MISSING}; fi; \
             if [ ! -r \"$f\" ]; then exit {UNREADABLE}; fi; cat -- \"$f\""
        );
        let out = ctx.host.sh(&script).await?;
        let src = &params.src;
        match out.exit_code {
            0 => Ok(out.stdout),
            MISSING => Err(ModuleError::failed(format!("File not found: {src}"))),
            DIRECTORY => Err(ModuleError::failed(format!(
                "Source is a directory and must be a file: {src}"
            ))),
            UNREADABLE => Err(ModuleError::failed(format!(
                "File is not readable: {src}"
            ))),
            _ => Err(ModuleError::failed(format!("Unable to slurp file: {src}"))),
        }
    }

    fn plan(
        &self,
        params: &SlurpParams,
        content: Vec<u8>,
        _ctx: &Context<'_>,
    ) -> Result<Planned<()>, ModuleError> {
        Ok(Planned::Done(
            Outcome::ok()
                .with_value(
                    "content",
                    base64::engine::general_purpose::STANDARD.encode(content),
                )
                .with_value("source", params.src.clone())
                .with_value("encoding", "base64"),
        ))
    }

    async fn apply(
        &self,
        _params: &SlurpParams,
        _action: (),
        _ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        Ok(Outcome::ok())
    }
}

tend_module_api::register_module!(SlurpModule);

#[cfg(test)]
mod tests {
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    #[tokio::test]
    async fn reads_base64_and_names_what_went_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"hi\n\x00\xff").expect("write");
        let c = FakeController::new(dir.path());
        let path = file.display().to_string();
        let out = run_module("slurp", json!({"src": path}), &c, false)
            .await
            .expect("reads");
        assert_eq!(out.values["content"], "aGkKAP8=");
        assert_eq!(out.values["encoding"], "base64");
        assert_eq!(out.values["source"], path.as_str());
        assert!(!out.changed);
        let missing = dir.path().join("nope").display().to_string();
        let err = run_module("slurp", json!({"path": missing}), &c, false)
            .await
            .expect_err("missing");
        assert_eq!(err.to_string(), format!("File not found: {missing}"));
        let d = dir.path().display().to_string();
        let err = run_module("slurp", json!({"src": d}), &c, false)
            .await
            .expect_err("dir");
        assert!(err.to_string().starts_with("Source is a directory"));
    }
}
