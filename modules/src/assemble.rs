//! `assemble`: one file made of the fragments in a directory on the host, in name order.
//!
//! ```yaml
//! - ansible.builtin.assemble:
//!     src: /etc/app/conf.d
//!     dest: /etc/app/app.conf
//!     delimiter: "### fragment ###"
//!     regexp: '\.conf$'
//!     mode: "0644"
//! ```
//!
//! Fragments are the regular files directly in `src`, sorted by name (byte order, as Python's
//! `sorted`), filtered by `regexp` (Python `re.search` on the name) and `ignore_hidden`. As in
//! Ansible, a newline goes between fragments when the previous one lacks it, and `delimiter`
//! (with `\n`-style escapes decoded) goes between fragments, always followed by a newline.
//! From there on it is `copy` with the result as content: compared by SHA-1, written
//! atomically, `backup`, `validate`, `mode`/`owner`/`group`. Only `remote_src: yes` (the
//! default) is supported: fragments on the controller are refused.

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::mode::ModeArg;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

use crate::attrs::Wanted;
use crate::copy::{
    apply_content, check_validate, plan_content, query_content, ContentAction, ContentFile,
    ContentObserved,
};

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssembleParams {
    /// The directory of fragments (on the host).
    pub src: String,
    /// The file to write.
    pub dest: String,
    /// Text put between fragments.
    pub delimiter: Option<String>,
    /// Only fragments whose names match (Python regular expression).
    pub regexp: Option<String>,
    /// Skip fragments whose names start with a dot.
    #[serde(default)]
    pub ignore_hidden: bool,
    /// Fragments are on the host; only `yes` is supported.
    #[serde(default = "yes")]
    pub remote_src: bool,
    /// Keep a timestamped copy of the old `dest`.
    #[serde(default)]
    pub backup: bool,
    /// A command (with `%s` for the new file) that must accept it first.
    pub validate: Option<String>,
    /// Accepted for compatibility (vault files are not decrypted on hosts anyway).
    #[serde(default = "yes")]
    pub decrypt: bool,
    /// Permissions of the file: octal (`"0644"`) or symbolic (`u=rw,g=r`).
    pub mode: Option<ModeArg>,
    /// User that should own the file (name or uid).
    pub owner: Option<String>,
    /// Group that should own the file (name or gid).
    pub group: Option<String>,
    /// Accepted for compatibility; ignored.
    #[serde(default)]
    pub unsafe_writes: bool,
}

impl AssembleParams {
    fn spec(&self) -> ContentFile<'_> {
        ContentFile {
            dest: &self.dest,
            wanted: Wanted {
                mode: self.mode.as_ref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
            },
            force: true,
            backup: self.backup,
            follow: false,
            basename: None,
            src: Some(&self.src),
            validate: self.validate.as_deref(),
        }
    }
}

/// Python's `codecs.escape_decode` for the escapes a delimiter uses.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('r') => out.push(b'\r'),
            Some('\\') => out.push(b'\\'),
            Some('\'') => out.push(b'\''),
            Some('"') => out.push(b'"'),
            Some('0') => out.push(0),
            Some(other) => {
                out.push(b'\\');
                let mut buf = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
            None => out.push(b'\\'),
        }
    }
    out
}

/// The assembled file from `(name, content)` fragments already filtered and sorted, as
/// Ansible's `assemble_from_fragments` writes it.
fn assemble(fragments: &[(String, Vec<u8>)], delimiter: Option<&str>) -> Vec<u8> {
    let delimiter = delimiter.filter(|d| !d.is_empty()).map(unescape);
    let mut out = Vec::new();
    let mut add_newline = false;
    for (i, (_, content)) in fragments.iter().enumerate() {
        if add_newline {
            out.push(b'\n');
        }
        if i > 0 {
            if let Some(delimiter) = &delimiter {
                out.extend_from_slice(delimiter);
                // Ansible compares a byte with a bytes object here, so the newline is always
                // added.
                out.push(b'\n');
            }
        }
        out.extend_from_slice(content);
        add_newline = !content.ends_with(b"\n");
    }
    out
}

/// Reads the fragment files of `src` on the host: one `sh` call printing each regular file's
/// name and size, then its bytes.
async fn read_fragments(
    params: &AssembleParams,
    ctx: &Context<'_>,
) -> Result<Vec<(String, Vec<u8>)>, ModuleError> {
    let src = quote(&params.src);
    let script = format!(
        "d={src}; if [ ! -e \"$d\" ]; then exit 44; fi; if [ ! -d \"$d\" ]; then exit 45; fi; \
         for f in \"$d\"/* \"$d\"/.[!.]* \"$d\"/..?*; do \
         [ -f \"$f\" ] || continue; n=${{f##*/}}; \
         printf '%s\\n%s\\n' \"$(printf %s \"$n\" | od -An -v -tx1 | tr -d ' \\n')\" \"$(wc -c < \"$f\")\"; \
         cat -- \"$f\"; done"
    );
    let out = ctx.host.sh(&script).await?;
    match out.exit_code {
        0 => {}
        44 => {
            return Err(ModuleError::failed(format!(
                "Source ({}) does not exist",
                params.src
            )))
        }
        45 => {
            return Err(ModuleError::failed(format!(
                "Source ({}) is not a directory",
                params.src
            )))
        }
        _ => {
            return Err(ModuleError::failed(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ))
        }
    }
    parse_fragments(&out.stdout)
}

/// Parses `hex name \n size \n bytes` records.
fn parse_fragments(mut data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ModuleError> {
    let bad = || ModuleError::failed("assemble: unexpected output while reading fragments");
    let line = |data: &mut &[u8]| -> Result<String, ModuleError> {
        let end = data.iter().position(|b| *b == b'\n').ok_or_else(bad)?;
        let text = String::from_utf8_lossy(&data[..end]).trim().to_string();
        *data = &data[end + 1..];
        Ok(text)
    };
    let mut fragments = Vec::new();
    while !data.is_empty() {
        let hex = line(&mut data)?;
        let size: usize = line(&mut data)?.parse().map_err(|_| bad())?;
        if data.len() < size {
            return Err(bad());
        }
        let name_bytes: Vec<u8> = (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
            .collect();
        fragments.push((
            String::from_utf8_lossy(&name_bytes).into_owned(),
            data[..size].to_vec(),
        ));
        data = &data[size..];
    }
    Ok(fragments)
}

pub struct AssembleModule;

#[async_trait]
impl Module for AssembleModule {
    type Params = AssembleParams;
    type Observed = ContentObserved;
    type Action = ContentAction;

    const NAME: &'static str = "assemble";

    async fn query(
        &self,
        params: &AssembleParams,
        ctx: &Context<'_>,
    ) -> Result<ContentObserved, ModuleError> {
        // Accepted and without effect here: writes are always atomic, and fragments on hosts
        // are never vault-encrypted by tend.
        let _ = (params.decrypt, params.unsafe_writes);
        if !params.remote_src {
            return Err(ModuleError::failed(
                "assemble with remote_src=no (fragments on the controller) is not supported by tend yet",
            ));
        }
        let regexp = match &params.regexp {
            None => None,
            Some(re) => Some(regex::Regex::new(re).map_err(|e| {
                ModuleError::failed(format!("Invalid Regexp ({e}) in \"{re}\""))
            })?),
        };
        check_validate(params.validate.as_deref())?;
        let mut fragments = read_fragments(params, ctx).await?;
        fragments.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        fragments.retain(|(name, _)| {
            regexp.as_ref().is_none_or(|re| re.is_match(name))
                && !(params.ignore_hidden && name.starts_with('.'))
        });
        let content = assemble(&fragments, params.delimiter.as_deref());
        query_content(&params.spec(), content, None, ctx).await
    }

    fn plan(
        &self,
        params: &AssembleParams,
        observed: ContentObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<ContentAction>, ModuleError> {
        let planned = plan_content(&params.spec(), observed, ctx)?;
        let ok = |o: Outcome| o.with_msg("OK");
        Ok(match planned {
            Planned::Done(outcome) => Planned::Done(ok(outcome)),
            Planned::Change { action, preview } => Planned::Change {
                action,
                preview: ok(preview),
            },
        })
    }

    async fn apply(
        &self,
        _params: &AssembleParams,
        action: ContentAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        Ok(apply_content(action, ctx).await?.with_msg("OK"))
    }
}

tend_module_api::register_module!(AssembleModule);

#[cfg(test)]
mod tests {
    use super::*;

    fn frags(parts: &[&str]) -> Vec<(String, Vec<u8>)> {
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| (i.to_string(), p.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn joins_fragments_as_ansible() {
        assert_eq!(assemble(&frags(&["a\n", "b\n"]), None), b"a\nb\n");
        // A missing newline is added between fragments, not at the end.
        assert_eq!(assemble(&frags(&["a", "b"]), None), b"a\nb");
        // The delimiter is unescaped and always followed by a newline.
        assert_eq!(
            assemble(&frags(&["a\n", "b\n"]), Some("--\\n")),
            b"a\n--\n\nb\n"
        );
        assert_eq!(assemble(&frags(&["a", "b"]), Some("##")), b"a\n##\nb");
        assert_eq!(assemble(&frags(&[]), Some("##")), b"");
    }

    #[test]
    fn parses_fragment_records() {
        let data = b"6162\n3\nxyz2e68\n0\n";
        let parsed = parse_fragments(data).expect("parses");
        assert_eq!(
            parsed,
            vec![("ab".to_string(), b"xyz".to_vec()), (".h".to_string(), Vec::new())]
        );
        assert!(parse_fragments(b"6162\n9\nxy").is_err());
    }
}
