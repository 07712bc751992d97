//! `replace`: replace every match of a regular expression in a file.
//!
//! ```yaml
//! - name: Point the app at the new database host
//!   ansible.builtin.replace:
//!     path: /etc/app/app.conf
//!     regexp: '^(db_host\s*=\s*).*$'
//!     replace: '\g<1>db2.example.com'
//!     backup: yes
//!
//! - name: Only between two markers
//!   ansible.builtin.replace:
//!     path: /etc/hosts
//!     after: '# BEGIN lab'
//!     before: '# END lab'
//!     regexp: '^10\.0\.0\.(\d+)'
//!     replace: '10.1.0.\1'
//! ```
//!
//! As Ansible's module: `regexp` is a Python pattern compiled with `re.MULTILINE` and applied
//! with `re.subn` (`replace` takes `\1`, `\g<1>`, `\g<name>` and Python's escapes). `after`
//! and `before` limit the work to the text after the first match of `after` and/or before
//! `before` (`after(?P<subsection>.*?)before`, with `re.DOTALL`); when they do not match,
//! nothing changes. The file is read once, the new text computed on the controller and
//! written atomically (to the symlink's target), after `validate` (`%s` is the temporary
//! file) accepted it.
//!
//! Returns `msg` (`N replacements made`, `""`, or Ansible's note that the section did not
//! match, plus ` and ownership, perms or SE linux context changed` when attributes changed),
//! `rc` (0), `backup_file` after a backup, and the diff of the whole file.
//!
//! Regular expressions are Python's as far as the `regex` crate goes: no lookaround or
//! backreferences in `regexp`. `encoding` may be UTF-8 (the default) or Latin-1.

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::mode::ModeArg;
use tend_module_api::{Context, Diff, Module, ModuleError, Outcome, Planned};

use crate::attrs::Wanted;
use crate::blockinfile::{
    apply_edit, attr_change, edit_action, path_error, query_edit, with_attrs_msg, EditAction,
    EditObserved,
};
use crate::pyre;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceParams {
    /// The file to edit.
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    pub path: String,
    /// A Python regular expression, compiled with `re.MULTILINE`.
    pub regexp: String,
    /// What each match becomes (Python `re.sub` template); empty removes the matches.
    #[serde(default)]
    pub replace: String,
    /// Only replace after the first match of this pattern.
    pub after: Option<String>,
    /// Only replace before the last match of this pattern.
    pub before: Option<String>,
    /// Keep a timestamped copy of the file being changed.
    #[serde(default)]
    pub backup: bool,
    /// A command checking the new file before it is put in place; `%s` is its path.
    pub validate: Option<String>,
    /// The file's character encoding: `utf-8` (default) or `latin-1`.
    pub encoding: Option<String>,
    /// Permissions of the file: octal (`"0644"`) or symbolic (`u=rw,g=r`).
    pub mode: Option<ModeArg>,
    /// User that should own the file (name or uid).
    pub owner: Option<String>,
    /// Group that should own the file (name or gid).
    pub group: Option<String>,
    /// Accepted; writes are always atomic.
    #[serde(default, rename = "unsafe_writes")]
    pub _unsafe_writes: bool,
}

impl ReplaceParams {
    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            mode: self.mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }
}

/// The supported encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Latin1,
}

impl Encoding {
    fn parse(name: Option<&str>) -> Result<Encoding, ModuleError> {
        let Some(name) = name else {
            return Ok(Encoding::Utf8);
        };
        let norm = name.to_ascii_lowercase().replace(['-', '_'], "");
        match norm.as_str() {
            "utf8" => Ok(Encoding::Utf8),
            "latin1" | "iso88591" | "l1" => Ok(Encoding::Latin1),
            _ => Err(ModuleError::failed(format!(
                "replace: encoding {name} is not supported yet (utf-8 and latin-1 are)"
            ))),
        }
    }

    fn decode(self, data: &[u8]) -> Result<String, String> {
        match self {
            Encoding::Utf8 => String::from_utf8(data.to_vec())
                .map_err(|e| format!("'utf-8' codec can't decode the file: {e}")),
            Encoding::Latin1 => Ok(data.iter().map(|&b| b as char).collect()),
        }
    }

    fn encode(self, text: &str) -> Result<Vec<u8>, String> {
        match self {
            Encoding::Utf8 => Ok(text.as_bytes().to_vec()),
            Encoding::Latin1 => text
                .chars()
                .map(|c| {
                    u8::try_from(u32::from(c))
                        .map_err(|_| format!("'latin-1' codec can't encode character {c:?}"))
                })
                .collect(),
        }
    }
}

/// What a replace task does to a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// `after`/`before` did not match: Ansible's message, nothing else is looked at.
    NoSection(String),
    /// The new text (`None`: unchanged) and the number of matches.
    Done { text: Option<String>, count: usize },
}

/// Ansible's replace on `contents`: the section `after`/`before` select, then `re.subn`.
pub fn replace_text(
    contents: &str,
    regexp: &str,
    replace: &str,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<Replaced, String> {
    let after = after.filter(|a| !a.is_empty());
    let before = before.filter(|b| !b.is_empty());
    let pattern = match (after, before) {
        (Some(a), Some(b)) => format!("{a}(?P<subsection>.*?){b}"),
        (Some(a), None) => format!("{a}(?P<subsection>.*)"),
        (None, Some(b)) => format!("(?P<subsection>.*){b}"),
        (None, None) => String::new(),
    };
    let (start, end) = if pattern.is_empty() {
        (0, contents.len())
    } else {
        let section_re = pyre::compile(&pattern, false, true)?;
        let found = section_re
            .captures(contents)
            .and_then(|c| c.name("subsection"))
            .map(|m| (m.start(), m.end()));
        match found {
            Some(range) => range,
            None => {
                return Ok(Replaced::NoSection(format!(
                    "Pattern for before/after params did not match the given file: {pattern}"
                )))
            }
        }
    };
    let section = &contents[start..end];
    let re = pyre::compile(regexp, true, false)?;
    let template = pyre::Template::parse(replace, &re)
        .map_err(|e| format!("Unable to process replace due to error: {e}"))?;
    let (new, count) = pyre::subn(&re, &template, section);
    let text = (count > 0 && new != section)
        .then(|| format!("{}{new}{}", &contents[..start], &contents[end..]));
    Ok(Replaced::Done { text, count })
}

pub struct ReplaceModule;

#[async_trait]
impl Module for ReplaceModule {
    type Params = ReplaceParams;
    type Observed = EditObserved;
    type Action = EditAction;

    const NAME: &'static str = "replace";

    async fn query(
        &self,
        params: &ReplaceParams,
        ctx: &Context<'_>,
    ) -> Result<EditObserved, ModuleError> {
        Encoding::parse(params.encoding.as_deref())?;
        query_edit(&params.path, &params.wanted(), ctx).await
    }

    fn plan(
        &self,
        params: &ReplaceParams,
        observed: EditObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<EditAction>, ModuleError> {
        plan_replace(params, observed, ctx.diff)
    }

    async fn apply(
        &self,
        _params: &ReplaceParams,
        action: EditAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        apply_edit(action, ctx).await
    }
}

tend_module_api::register_module!(ReplaceModule);

fn plan_replace(
    params: &ReplaceParams,
    observed: EditObserved,
    want_diff: bool,
) -> Result<Planned<EditAction>, ModuleError> {
    let path = params.path.as_str();
    if observed.is_dir {
        return Err(path_error(path, 256, "is a directory"));
    }
    let Some(data) = observed.content.as_deref() else {
        return Err(path_error(path, 257, "does not exist"));
    };
    let encoding = Encoding::parse(params.encoding.as_deref())?;
    let contents = encoding.decode(data).map_err(ModuleError::failed)?;
    let replaced = replace_text(
        &contents,
        &params.regexp,
        &params.replace,
        params.after.as_deref(),
        params.before.as_deref(),
    )
    .map_err(ModuleError::failed)?;
    let (text, count) = match replaced {
        Replaced::NoSection(msg) => {
            return Ok(Planned::Done(
                Outcome::ok().with_msg(msg).with_value("rc", 0),
            ))
        }
        Replaced::Done { text, count } => (text, count),
    };
    let content_changed = text.is_some();
    let mut msg = if content_changed {
        format!("{count} replacements made")
    } else {
        String::new()
    };
    let mut diffs = Vec::new();
    if let (true, Some(new)) = (want_diff, &text) {
        diffs.push(Diff::content(path, contents.clone(), new.clone()));
    }
    let change = attr_change(&observed, &params.wanted())?;
    if !change.is_empty() {
        msg = with_attrs_msg(&msg, content_changed);
    }
    let mut outcome = Outcome::ok().with_msg(msg).with_value("rc", 0);
    if !content_changed && change.is_empty() {
        return Ok(Planned::Done(outcome));
    }
    outcome.changed = true;
    outcome.diffs = diffs;
    let content = text
        .map(|t| encoding.encode(&t))
        .transpose()
        .map_err(ModuleError::failed)?;
    let action = edit_action(
        &observed,
        content,
        params.backup,
        params.validate.as_deref(),
        change,
        outcome.clone(),
    );
    Ok(Planned::Change {
        action,
        preview: outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::tests::entry;
    use crate::testing::{run_module, FakeController};
    use serde_json::{json, Value};
    use tend_module_api::args::{from_args, ArgMode};
    use tend_module_api::FileKind;

    /// `(file before, arguments, file after, msg)`, generated by running Ansible 2.19's
    /// replace module in check mode with diffs on a file holding the first column.
    const CASES: &[(&str, &str, &str, &str)] = &[
    ("db_host = old\nport=1\n", r###"{"regexp": "^(db_host\\s*=\\s*).*$", "replace": "\\g<1>new"}"###, "db_host = new\nport=1\n", "1 replacements made"),
    ("a=1\nb=2\n", r###"{"regexp": "^(\\w+)=(\\d)$", "replace": "\\2=\\1"}"###, "1=a\n2=b\n", "2 replacements made"),
    ("k: v\n", r###"{"regexp": "(?P<key>\\w+): (?P<val>\\w+)", "replace": "\\g<val>: \\g<key>"}"###, "v: k\n", "1 replacements made"),
    ("x\ny\n", r###"{"regexp": "nomatch", "replace": "z"}"###, "x\ny\n", ""),
    ("same\n", r###"{"regexp": "(same)", "replace": "\\1"}"###, "same\n", ""),
    ("a\n# BEGIN\n10.0.0.1\n10.0.0.2\n# END\n10.0.0.3\n", r###"{"regexp": "^10\\.0\\.0\\.(\\d+)", "replace": "10.1.0.\\1", "after": "# BEGIN", "before": "# END"}"###, "a\n# BEGIN\n10.1.0.1\n10.1.0.2\n# END\n10.0.0.3\n", "2 replacements made"),
    ("10.0.0.1\n# MARK\n10.0.0.2\n", r###"{"regexp": "^10\\.0", "replace": "11.0", "after": "# MARK"}"###, "10.0.0.1\n# MARK\n11.0.0.2\n", "1 replacements made"),
    ("10.0.0.1\n# MARK\n10.0.0.2\n", r###"{"regexp": "^10\\.0", "replace": "11.0", "before": "# MARK"}"###, "11.0.0.1\n# MARK\n10.0.0.2\n", "1 replacements made"),
    ("a\nb\n", r###"{"regexp": "a", "replace": "c", "after": "nothere"}"###, "a\nb\n", "Pattern for before/after params did not match the given file: nothere(?P<subsection>.*)"),
    ("a\nb\n", r###"{"regexp": "a", "replace": "c", "after": "x", "before": "y"}"###, "a\nb\n", "Pattern for before/after params did not match the given file: x(?P<subsection>.*?)y"),
    ("# comment\nvalue\n# other\n", r###"{"regexp": "^#.*\n", "replace": ""}"###, "value\n", "2 replacements made"),
    ("tab\tsep\n", r###"{"regexp": "\\t", "replace": "\\n"}"###, "tab\nsep\n", "1 replacements made"),
    ("server {\n  listen 80;\n}\n", r###"{"regexp": "listen \\d+;", "replace": "listen 8080;"}"###, "server {\n  listen 8080;\n}\n", "1 replacements made"),
    ("aaa\n", r###"{"regexp": "a*", "replace": "-"}"###, "--\n-", "3 replacements made"),
    ("line1\nline2\n", r###"{"regexp": "$", "replace": ";"}"###, "line1;\nline2;\n;", "3 replacements made"),
    ("café\n", r###"{"regexp": "é", "replace": "e"}"###, "cafe\n", "1 replacements made"),
    ("x=1\nx=1\n", r###"{"regexp": "x=1", "replace": "x=2"}"###, "x=2\nx=2\n", "2 replacements made"),
    ("a\nb\n", r###"{"regexp": "a", "replace": "c", "after": "", "before": ""}"###, "c\nb\n", "1 replacements made"),
    ("start\nfoo\nend\nfoo\n", r###"{"regexp": "foo", "replace": "bar", "after": "start", "before": "end"}"###, "start\nbar\nend\nfoo\n", "1 replacements made"),
    ];

    fn observed(text: &str) -> EditObserved {
        EditObserved {
            path: "/f".into(),
            real: "/f".into(),
            content: Some(text.as_bytes().to_vec()),
            entry: Some(entry(FileKind::File, 0o644)),
            parent_exists: true,
            umask: 0o022,
            ..EditObserved::default()
        }
    }

    fn params(args: Value) -> ReplaceParams {
        from_args(&args, ArgMode::Run).expect("params")
    }

    #[test]
    fn replacements_match_ansible() {
        for (original, args, after, msg) in CASES {
            let mut args: Value = serde_json::from_str(args).expect("json");
            args["path"] = "/f".into();
            let planned = plan_replace(&params(args.clone()), observed(original), true).expect("plan");
            match planned {
                Planned::Done(outcome) => {
                    assert_eq!(after, original, "{args}: unchanged");
                    assert_eq!(outcome.msg.as_deref(), Some(*msg), "{args}");
                    assert_eq!(outcome.values["rc"], 0);
                    assert!(!outcome.changed);
                }
                Planned::Change { preview, action } => {
                    assert_eq!(preview.msg.as_deref(), Some(*msg), "{args}");
                    assert_eq!(preview.diffs, vec![Diff::content("/f", *original, *after)]);
                    let EditAction::Write { content, .. } = action else {
                        panic!("expected a write")
                    };
                    assert_eq!(content, after.as_bytes(), "{args}");
                }
            }
        }
    }

    #[test]
    fn errors_encodings_and_attributes() {
        let p = |extra: Value| {
            let mut args = json!({"path": "/f", "regexp": "(a)"});
            args.as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            params(args)
        };
        let e = plan_replace(&p(json!({"replace": r"\2"})), observed("a"), false).expect_err("group");
        assert_eq!(
            e.to_string(),
            "Unable to process replace due to error: invalid group reference 2 at position 1"
        );
        let mut missing = observed("");
        missing.content = None;
        missing.entry = None;
        let e = plan_replace(&p(json!({})), missing, false).expect_err("missing");
        assert_eq!(e.to_string(), "Path /f does not exist !");
        let mut dir = observed("");
        dir.is_dir = true;
        let e = plan_replace(&p(json!({})), dir, false).expect_err("dir");
        assert_eq!(e.to_string(), "Path /f is a directory !");

        let mut latin = observed("");
        latin.content = Some(b"x\xe9 a\n".to_vec());
        let Planned::Change { action, .. } =
            plan_replace(&p(json!({"replace": "b", "encoding": "latin-1"})), latin, false)
                .expect("latin-1")
        else {
            panic!("expected a change")
        };
        let EditAction::Write { content, .. } = action else {
            panic!("expected a write")
        };
        assert_eq!(content, b"x\xe9 b\n");
        assert!(Encoding::parse(Some("utf-16")).is_err());

        let Planned::Change { preview, action } =
            plan_replace(&p(json!({"replace": "b", "mode": "0600"})), observed("a\n"), false)
                .expect("attrs")
        else {
            panic!("expected a change")
        };
        assert_eq!(
            preview.msg.as_deref(),
            Some("1 replacements made and ownership, perms or SE linux context changed")
        );
        assert!(matches!(action, EditAction::Write { change, .. } if change.mode == Some(0o600)));
        let Planned::Change { preview, action } =
            plan_replace(&p(json!({"regexp": "x", "mode": "0600"})), observed("a\n"), false)
                .expect("attrs only")
        else {
            panic!("expected a change")
        };
        assert_eq!(
            preview.msg.as_deref(),
            Some("ownership, perms or SE linux context changed")
        );
        assert!(matches!(action, EditAction::Attrs { ref script, .. } if script.contains("chmod 00600")));

        let module = tend_module_api::lookup("ansible.builtin.replace").expect("registered");
        module
            .check_args(&json!({"dest": "{{ d }}", "regexp": "x", "backup": "{{ b }}"}))
            .expect("aliases and templates");
        assert!(module.check_args(&json!({"path": "/f"})).is_err());
    }

    #[tokio::test]
    async fn replaces_on_a_real_file_with_backup_and_validate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let controller = FakeController::new(dir.path());
        let file = dir.path().join("app.conf");
        let f = file.to_string_lossy().to_string();
        std::fs::write(&file, "host = a\nport = 1\n").expect("write");
        let run = |args: Value, check: bool| run_module("replace", args, &controller, check);

        let args = json!({"path": f, "regexp": r"^(host\s*=\s*).*$", "replace": r"\1b", "backup": true});
        let check = run(args.clone(), true).await.expect("check");
        assert!(check.changed);
        assert_eq!(check.msg.as_deref(), Some("1 replacements made"));
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "host = a\nport = 1\n");
        let out = run(args.clone(), false).await.expect("run");
        assert!(out.changed);
        assert_eq!(out.diffs, check.diffs);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "host = b\nport = 1\n");
        let backup = out.values["backup_file"].as_str().expect("backup_file");
        assert_eq!(std::fs::read_to_string(backup).expect("backup"), "host = a\nport = 1\n");
        let again = run(args, false).await.expect("again");
        assert!(!again.changed);
        assert_eq!(again.msg.as_deref(), Some(""));

        let bad = json!({"path": f, "regexp": "port = 1", "replace": "port = 2", "validate": "grep -q 'port = 3' %s"});
        let e = run(bad, false).await.expect_err("invalid");
        assert!(e.to_string().starts_with("failed to validate: rc:1"), "{e}");
        assert!(std::fs::read_to_string(&file).expect("read").contains("port = 1"));
        let e = run(json!({"path": dir.path().join("nope").to_string_lossy(), "regexp": "x"}), false)
            .await
            .expect_err("missing");
        assert!(e.to_string().ends_with("does not exist !"), "{e}");
    }
}
