//! `template`: render a controller-side Jinja template and put the result on the host.
//!
//! ```yaml
//! - name: Configure nginx
//!   ansible.builtin.template:
//!     src: nginx.conf.j2     # found in the role's or playbook's templates/
//!     dest: /etc/nginx/nginx.conf
//!     owner: root
//!     group: root
//!     mode: "0644"
//!     backup: yes
//! ```
//!
//! The template is rendered on the controller with the task's variables; from there on it is
//! `copy` with the rendered text as content (same comparison by SHA-1, atomic upload, attribute
//! handling, diff, `force`, `backup`, `follow`, `mode: preserve` taking the template file's
//! mode, and a directory `dest` receiving the template's file name). `newline_sequence`
//! (`\n`, `\r`, `\r\n`, escaped or not) sets the line endings of the result.
//!
//! Returns what `copy` returns, with `src` the template's name.
//!
//! `trim_blocks` and `lstrip_blocks` work as in Ansible, as does a template's own `#jinja2:`
//! first line (which wins over them). Only utf-8 is supported for `output_encoding`, and only
//! the default Jinja delimiters. `validate` runs on the host against the new file before it
//! replaces the old one.

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::mode::ModeArg;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned, SearchKind};

use crate::attrs::Wanted;
use crate::copy::{
    apply_content, plan_content, query_content, read_local, ContentAction, ContentFile,
    ContentObserved,
};

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateParams {
    /// The template, relative to `templates/` unless absolute.
    pub src: String,
    /// Where the rendered file goes; a directory receives the template's file name.
    pub dest: String,
    /// Octal, symbolic, or `preserve` (the template file's mode).
    pub mode: Option<ModeArg>,
    /// User that should own the file (name or uid).
    pub owner: Option<String>,
    /// Group that should own the file (name or gid).
    pub group: Option<String>,
    /// Replace a file whose content differs; `no` only creates missing files.
    #[serde(default = "yes")]
    pub force: bool,
    /// Keep a timestamped copy of the file being replaced.
    #[serde(default)]
    pub backup: bool,
    /// Follow a symlink at `dest` instead of replacing it.
    #[serde(default)]
    pub follow: bool,
    /// Line endings of the result: `\n` (default), `\r` or `\r\n`.
    pub newline_sequence: Option<String>,
    /// Remove the first newline after a block tag.
    #[serde(default = "yes")]
    pub trim_blocks: bool,
    /// Strip spaces and tabs before a block tag at the start of a line.
    #[serde(default)]
    pub lstrip_blocks: bool,
    /// Only utf-8 is supported.
    pub output_encoding: Option<String>,
    /// A command (with `%s` for the new file) that must accept it before it is put in place.
    pub validate: Option<String>,
    /// Custom Jinja delimiters: not supported yet.
    pub block_start_string: Option<String>,
    /// The string ending a block (`%}`).
    pub block_end_string: Option<String>,
    /// The string starting a print statement (`{{`).
    pub variable_start_string: Option<String>,
    /// The string ending a print statement (`}}`).
    pub variable_end_string: Option<String>,
    /// The string starting a comment (`{#`).
    pub comment_start_string: Option<String>,
    /// The string ending a comment (`#}`).
    pub comment_end_string: Option<String>,
}

impl TemplateParams {
    fn spec(&self) -> ContentFile<'_> {
        ContentFile {
            dest: &self.dest,
            wanted: Wanted {
                mode: self.mode.as_ref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
            },
            force: self.force,
            backup: self.backup,
            follow: self.follow,
            basename: std::path::Path::new(&self.src)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            src: Some(&self.src),
            validate: self.validate.as_deref(),
        }
    }

    /// Refuses what the renderer cannot honour yet, before anything is read or rendered.
    fn check_supported(&self) -> Result<&'static str, ModuleError> {
        let unsupported = |what: &str| {
            Err(ModuleError::failed(format!(
                "template: {what} is not supported yet"
            )))
        };
        crate::copy::check_validate(self.validate.as_deref())?;
        if let Some(enc) = &self.output_encoding {
            if !matches!(enc.to_ascii_lowercase().as_str(), "utf-8" | "utf8") {
                return unsupported(&format!("output_encoding={enc}"));
            }
        }
        let delimiters = [
            ("block_start_string", &self.block_start_string),
            ("block_end_string", &self.block_end_string),
            ("variable_start_string", &self.variable_start_string),
            ("variable_end_string", &self.variable_end_string),
            ("comment_start_string", &self.comment_start_string),
            ("comment_end_string", &self.comment_end_string),
        ];
        if let Some((name, _)) = delimiters.iter().find(|(_, v)| v.is_some()) {
            return unsupported(name);
        }
        newline_sequence(self.newline_sequence.as_deref())
    }
}

/// Ansible accepts the sequences themselves or their escaped spellings (`'\r\n'` in YAML).
/// The first line of a template file that overrides Jinja settings for it (as the template
/// layer reads it).
const JINJA2_OVERRIDE: &str = "#jinja2:";

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn newline_sequence(value: Option<&str>) -> Result<&'static str, ModuleError> {
    match value {
        None | Some("\n") | Some("\\n") => Ok("\n"),
        Some("\r") | Some("\\r") => Ok("\r"),
        Some("\r\n") | Some("\\r\\n") => Ok("\r\n"),
        Some(other) => Err(ModuleError::failed(format!(
            "newline_sequence must be one of \\n, \\r, \\r\\n (got {other:?})"
        ))),
    }
}

pub struct TemplateModule;

/// The variables Ansible's template module adds for the template itself.
fn template_vars(
    params: &TemplateParams,
    path: &std::path::Path,
) -> serde_json::Map<String, serde_json::Value> {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let mut vars = serde_json::Map::new();
    vars.insert("ansible_managed".into(), "Ansible managed".into());
    vars.insert("template_path".into(), path.display().to_string().into());
    vars.insert(
        "template_fullpath".into(),
        full.display().to_string().into(),
    );
    vars.insert("template_destpath".into(), params.dest.clone().into());
    vars.insert("template_host".into(), host.into());
    vars
}

#[async_trait]
impl Module for TemplateModule {
    type Params = TemplateParams;
    type Observed = ContentObserved;
    type Action = ContentAction;

    const NAME: &'static str = "template";

    async fn query(
        &self,
        params: &TemplateParams,
        ctx: &Context<'_>,
    ) -> Result<ContentObserved, ModuleError> {
        let newline = params.check_supported()?;
        let path = ctx
            .controller
            .find_file(SearchKind::Templates, &params.src)?;
        // Ansible's loader decrypts a vaulted template source.
        let (source, mode) = read_local(&path, true)?;
        let source = String::from_utf8(source).map_err(|_| {
            ModuleError::failed(format!(
                "Template source files must be utf-8 encoded: {}",
                params.src
            ))
        })?;
        // The options travel as a `#jinja2:` line ahead of the template's own, which wins.
        let source = if params.trim_blocks && !params.lstrip_blocks {
            source
        } else {
            let options = format!(
                "trim_blocks: {}, lstrip_blocks: {}",
                py_bool(params.trim_blocks),
                py_bool(params.lstrip_blocks)
            );
            match source.strip_prefix(JINJA2_OVERRIDE) {
                Some(own) => format!("{JINJA2_OVERRIDE}{options},{own}"),
                None => format!("{JINJA2_OVERRIDE}{options}\n{source}"),
            }
        };
        let mut rendered = ctx.controller.render_template_with(
            &source,
            &params.src,
            &template_vars(params, &path),
        )?;
        if newline != "\n" {
            rendered = rendered.replace('\n', newline);
        }
        query_content(&params.spec(), rendered.into_bytes(), mode, ctx).await
    }

    fn plan(
        &self,
        params: &TemplateParams,
        observed: ContentObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<ContentAction>, ModuleError> {
        plan_content(&params.spec(), observed, ctx)
    }

    async fn apply(
        &self,
        _params: &TemplateParams,
        action: ContentAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        apply_content(action, ctx).await
    }
}

tend_module_api::register_module!(TemplateModule);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::{json, Value};
    use std::os::unix::fs::PermissionsExt;
    use tend_module_api::args::{from_args, ArgMode};
    use tend_module_api::Diff;

    fn params(args: Value) -> TemplateParams {
        from_args(&args, ArgMode::Run).expect("params")
    }

    #[test]
    fn unsupported_rendering_options_are_refused() {
        let p = params(json!({"src": "a.j2", "dest": "/a"}));
        assert_eq!(p.check_supported().expect("defaults"), "\n");
        let p = params(
            json!({"src": "a.j2", "dest": "/a", "newline_sequence": "\\r\\n", "output_encoding": "UTF-8"}),
        );
        assert_eq!(p.check_supported().expect("crlf"), "\r\n");
        let p = params(json!({"src": "a", "dest": "/a", "trim_blocks": false, "lstrip_blocks": true}));
        assert!(p.check_supported().is_ok());
        for bad in [
            json!({"src": "a", "dest": "/a", "validate": "visudo -cf"}),
            json!({"src": "a", "dest": "/a", "variable_start_string": "[["}),
            json!({"src": "a", "dest": "/a", "output_encoding": "latin-1"}),
            json!({"src": "a", "dest": "/a", "newline_sequence": "x"}),
        ] {
            assert!(params(bad.clone()).check_supported().is_err(), "{bad}");
        }
        let module = tend_module_api::lookup("ansible.builtin.template").expect("registered");
        module
            .check_args(&json!({"src": "{{ s }}", "dest": "{{ d }}", "force": "{{ f }}"}))
            .expect("templates compile");
        assert!(module
            .check_args(&json!({"src": "a", "dest": "/a", "content": "x"}))
            .is_err());
    }

    #[tokio::test]
    async fn renders_on_the_controller_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
        std::fs::write(
            dir.path().join("templates/app.conf.j2"),
            "line one\nline two\n",
        )
        .expect("write");
        std::fs::set_permissions(
            dir.path().join("templates/app.conf.j2"),
            std::fs::Permissions::from_mode(0o640),
        )
        .expect("chmod");
        let controller = FakeController::new(dir.path());
        let dest = dir.path().join("app.conf");
        let d = dest.to_string_lossy().to_string();
        let args = json!({"src": "app.conf.j2", "dest": d, "mode": "preserve"});

        let check = run_module("template", args.clone(), &controller, true)
            .await
            .expect("check");
        assert!(check.changed);
        assert!(!dest.exists());
        let mut new_file = Diff::content(&d, "", "line one\nline two\n");
        new_file.before_header = "before".into();
        assert_eq!(
            check.diffs,
            vec![new_file]
        );

        let first = run_module("template", args.clone(), &controller, false)
            .await
            .expect("first");
        assert!(first.changed);
        assert_eq!(first.values["src"], "app.conf.j2");
        assert_eq!(first.values["mode"], "0640");
        assert_eq!(
            std::fs::read_to_string(&dest).expect("read"),
            "line one\nline two\n"
        );
        let second = run_module("template", args, &controller, false)
            .await
            .expect("second");
        assert!(!second.changed, "{second:?}");

        // Different line endings are different content.
        let crlf = json!({"src": "app.conf.j2", "dest": d, "newline_sequence": "\\r\\n"});
        let out = run_module("template", crlf, &controller, false)
            .await
            .expect("crlf");
        assert!(out.changed);
        assert_eq!(out.diffs[0].before, "line one\nline two\n");
        assert_eq!(
            std::fs::read_to_string(&dest).expect("read"),
            "line one\r\nline two\r\n"
        );

        // A directory dest receives the template's name.
        let into = json!({"src": "app.conf.j2", "dest": dir.path().to_string_lossy()});
        let out = run_module("template", into, &controller, false)
            .await
            .expect("into dir");
        assert!(out.changed);
        assert!(dir.path().join("app.conf.j2").exists());

        let e = run_module(
            "template",
            json!({"src": "missing.j2", "dest": d}),
            &controller,
            false,
        )
        .await
        .expect_err("missing template");
        assert!(e.to_string().contains("could not find"), "{e}");
    }
}
