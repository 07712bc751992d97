//! `fetch`: copy a file from the host to the controller.
//!
//! ```yaml
//! - name: Collect each host's config under fetched/<inventory_hostname>/etc/app.conf
//!   ansible.builtin.fetch:
//!     src: /etc/app.conf
//!     dest: fetched
//!
//! - name: One file per host, named by the host
//!   ansible.builtin.fetch:
//!     src: /var/log/app/report.txt
//!     dest: "reports/{{ inventory_hostname }}.txt"
//!     flat: yes
//!     fail_on_missing: no
//! ```
//!
//! Without `flat`, the file goes to `dest/<inventory_hostname>/<src>`; with `flat`, to `dest`
//! itself (or `dest/<basename of src>` when `dest` ends with `/`). A relative `dest` is taken
//! from the playbook's directory. The local copy is compared by SHA-1 with the host's file
//! and only a difference is transferred, written atomically (temporary file beside it, then
//! a rename); `validate_checksum` checks the written file against the host's SHA-1.
//!
//! Returns `changed`, `checksum`, `dest`, `md5sum`, and `remote_checksum`/`remote_md5sum`
//! after a transfer or `file` when nothing changed. A missing source fails with Ansible's
//! "the remote file does not exist, not transferring, ignored" (ok with
//! `fail_on_missing: no`); a directory fails as in Ansible. Check mode skips the task, as
//! Ansible does.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

use crate::attrs;
use crate::copy::sha1_hex;

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchParams {
    /// The file on the host.
    pub src: String,
    /// Where it goes on the controller: a directory (see `flat`).
    pub dest: String,
    /// Put the file at `dest` itself rather than under `dest/<host>/<src>`.
    #[serde(default)]
    pub flat: bool,
    /// A missing source fails the task.
    #[serde(default = "yes")]
    pub fail_on_missing: bool,
    /// Check the transferred file's SHA-1 against the host's.
    #[serde(default = "yes")]
    pub validate_checksum: bool,
}

/// What the host has at `src`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Missing,
    Directory,
    /// Exists but cannot be read.
    Unreadable,
    File { checksum: String },
}

#[derive(Debug, Clone)]
pub struct FetchObserved {
    /// `src` with `~` expanded on the host.
    source: String,
    remote: Remote,
    /// The local path the file goes to.
    dest: PathBuf,
    /// SHA-1 and MD5 of the local file, if there is one.
    local: Option<(String, String)>,
    /// Check mode: nothing was looked at.
    skipped: bool,
}

#[derive(Debug)]
pub struct FetchAction {
    source: String,
    dest: PathBuf,
    remote_checksum: String,
    validate: bool,
}

pub struct FetchModule;

#[async_trait]
impl Module for FetchModule {
    type Params = FetchParams;
    type Observed = FetchObserved;
    type Action = FetchAction;

    const NAME: &'static str = "fetch";

    async fn query(
        &self,
        params: &FetchParams,
        ctx: &Context<'_>,
    ) -> Result<FetchObserved, ModuleError> {
        if ctx.check_mode {
            return Ok(FetchObserved {
                source: params.src.clone(),
                remote: Remote::Missing,
                dest: PathBuf::new(),
                local: None,
                skipped: true,
            });
        }
        let mut script = attrs::assign("p", &params.src);
        script.push_str(
            "printf 'path:%s\\n' \"$p\"; \
             if [ ! -e \"$p\" ]; then echo missing; elif [ -d \"$p\" ]; then echo isdir; \
             elif [ ! -r \"$p\" ]; then echo unreadable; else s=$(sha1sum < \"$p\") || exit 1; \
             printf 'sum:%s\\n' \"${s%% *}\"; fi; ",
        );
        let report = attrs::run(ctx.host, &script).await?;
        let source = report.get("path").unwrap_or(&params.src).to_string();
        let remote = if report.has("missing") {
            Remote::Missing
        } else if report.has("isdir") {
            Remote::Directory
        } else if let Some(sum) = report.get("sum") {
            Remote::File {
                checksum: sum.to_string(),
            }
        } else {
            Remote::Unreadable
        };
        let base = match ctx.controller.eval_expr("playbook_dir") {
            Ok(Value::String(dir)) => PathBuf::from(dir),
            _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        };
        let dest = local_dest(params, &source, ctx.host.name(), &base)?;
        let local = match std::fs::read(&dest) {
            Ok(bytes) if dest.is_file() => Some((sha1_hex(&bytes), md5_hex(&bytes))),
            _ => None,
        };
        Ok(FetchObserved {
            source,
            remote,
            dest,
            local,
            skipped: false,
        })
    }

    fn plan(
        &self,
        params: &FetchParams,
        observed: FetchObserved,
        _ctx: &Context<'_>,
    ) -> Result<Planned<FetchAction>, ModuleError> {
        if observed.skipped {
            return Ok(Planned::Done(Outcome {
                skipped: true,
                msg: Some("check mode not (yet) supported for this module".into()),
                ..Outcome::default()
            }));
        }
        let not_there = |msg: &str| {
            if params.fail_on_missing {
                Err(ModuleError::failed(msg))
            } else {
                Ok(Planned::Done(
                    Outcome::ok()
                        .with_msg(msg)
                        .with_value("file", observed.source.clone()),
                ))
            }
        };
        let remote_checksum = match &observed.remote {
            Remote::Missing => {
                return not_there("the remote file does not exist, not transferring, ignored")
            }
            Remote::Directory => {
                let msg = "remote file is a directory, fetch cannot work on directories";
                return if params.fail_on_missing {
                    Err(ModuleError::failed(msg))
                } else {
                    Ok(Planned::Done(
                        Outcome::ok().with_msg(format!("{msg}, not transferring, ignored")),
                    ))
                };
            }
            Remote::Unreadable => {
                return not_there(&format!("file is not readable: {}", observed.source))
            }
            Remote::File { checksum } => checksum.clone(),
        };
        let dest = observed.dest.to_string_lossy().into_owned();
        if let Some((sum, md5)) = &observed.local {
            if *sum == remote_checksum {
                return Ok(Planned::Done(
                    Outcome::ok()
                        .with_value("md5sum", md5.clone())
                        .with_value("file", observed.source.clone())
                        .with_value("dest", dest)
                        .with_value("checksum", sum.clone()),
                ));
            }
        }
        Ok(Planned::Change {
            preview: Outcome::changed()
                .with_value("dest", dest)
                .with_value("remote_md5sum", Value::Null)
                .with_value("remote_checksum", remote_checksum.clone()),
            action: FetchAction {
                source: observed.source,
                dest: observed.dest,
                remote_checksum,
                validate: params.validate_checksum,
            },
        })
    }

    async fn apply(
        &self,
        _params: &FetchParams,
        action: FetchAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let data = ctx.host.read_file(&action.source).await?.ok_or_else(|| {
            ModuleError::failed("the remote file does not exist, not transferring, ignored")
        })?;
        write_local(&action.dest, &data)
            .map_err(|e| ModuleError::failed(format!("Failed to fetch the file: {e}")))?;
        let checksum = sha1_hex(&data);
        let md5 = md5_hex(&data);
        let dest = action.dest.to_string_lossy().into_owned();
        if action.validate && checksum != action.remote_checksum {
            let mut values = serde_json::Map::new();
            values.insert("md5sum".into(), md5.into());
            values.insert("file".into(), action.source.into());
            values.insert("dest".into(), dest.into());
            values.insert("remote_md5sum".into(), Value::Null);
            values.insert("checksum".into(), checksum.into());
            values.insert("remote_checksum".into(), action.remote_checksum.into());
            return Err(ModuleError::Failed {
                msg: "checksum mismatch".into(),
                values,
            });
        }
        Ok(Outcome::changed()
            .with_value("md5sum", md5)
            .with_value("dest", dest)
            .with_value("remote_md5sum", Value::Null)
            .with_value("checksum", checksum)
            .with_value("remote_checksum", action.remote_checksum))
    }
}

tend_module_api::register_module!(FetchModule);

pub(crate) fn md5_hex(data: &[u8]) -> String {
    format!("{:x}", md5::compute(data))
}

/// `~` and `~/...` as the controller user's home.
fn expand_home(path: &str) -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match (path, home) {
        ("~", Some(h)) => h,
        (p, Some(h)) if p.starts_with("~/") => h.join(&p[2..]),
        (p, _) => PathBuf::from(p),
    }
}

/// Ansible's `path_dwim`: absolute (or `~`) as is, else relative to the playbook directory.
fn dwim(dest: &str, base: &Path) -> PathBuf {
    if dest.starts_with('/') || dest.starts_with('~') {
        expand_home(dest)
    } else {
        base.join(dest)
    }
}

/// Where the fetched file goes on the controller, as Ansible's fetch action computes it.
fn local_dest(
    params: &FetchParams,
    source: &str,
    host: &str,
    base: &Path,
) -> Result<PathBuf, ModuleError> {
    let dest = &params.dest;
    let path = if params.flat {
        let expanded = expand_home(dest);
        if expanded.is_dir() && !dest.ends_with('/') {
            return Err(ModuleError::failed(
                "dest is an existing directory, use a trailing slash if you want to fetch src into that directory",
            ));
        }
        let mut d = dest.clone();
        if dest.ends_with('/') {
            let name = source.rsplit('/').next().unwrap_or(source);
            d = format!("{dest}{name}");
            if expand_home(&d).is_dir() {
                return Err(ModuleError::failed(format!(
                    "calculated dest '{d}' is an existing directory, use another path that does not point to an existing directory"
                )));
            }
        }
        dwim(&d, base)
    } else {
        PathBuf::from(format!(
            "{}/{host}/{source}",
            dwim(dest, base).to_string_lossy()
        ))
    };
    Ok(PathBuf::from(normpath(&path.to_string_lossy())))
}

/// Python's `os.path.normpath` for an absolute path (`..` cannot climb above `/`).
fn normpath(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !path.starts_with('/') {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let lead = if path.starts_with('/') { "/" } else { "" };
    format!("{lead}{}", parts.join("/"))
}

/// Writes a controller-side file atomically: a temporary file in the same directory, then a
/// rename. A file being replaced keeps its permissions.
fn write_local(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = dest.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir)?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tend.{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        if let Ok(meta) = std::fs::metadata(dest) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    fn params(dest: &str, flat: bool) -> FetchParams {
        FetchParams {
            src: "/etc/app.conf".into(),
            dest: dest.into(),
            flat,
            fail_on_missing: true,
            validate_checksum: true,
        }
    }

    #[test]
    fn destinations_follow_ansible() {
        let base = Path::new("/play");
        let d = |dest: &str, flat: bool| {
            local_dest(&params(dest, flat), "/etc/app.conf", "web1", base)
                .expect("dest")
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(d("fetched", false), "/play/fetched/web1/etc/app.conf");
        assert_eq!(d("/backup/", false), "/backup/web1/etc/app.conf");
        assert_eq!(d("out/x.conf", true), "/play/out/x.conf");
        assert_eq!(d("/nonexistent-dir/", true), "/nonexistent-dir/app.conf");
        assert!(local_dest(&params("/", true), "/etc/app.conf", "h", base).is_ok());
        let e = local_dest(&params("/tmp", true), "/etc/app.conf", "h", base).expect_err("dir");
        assert!(e.to_string().starts_with("dest is an existing directory"));
        assert_eq!(normpath("/a/b/../c//d/."), "/a/c/d");
    }

    #[tokio::test]
    async fn fetches_once_and_reports_missing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("remote.txt");
        std::fs::write(&src, "data\n").expect("write");
        let dest = dir.path().join("out");
        let controller = FakeController::new(dir.path());
        let args = json!({"src": src.to_string_lossy(), "dest": format!("{}/", dest.to_string_lossy()), "flat": true});
        let out = run_module("fetch", args.clone(), &controller, false)
            .await
            .expect("fetch");
        assert!(out.changed);
        let local = dest.join("remote.txt");
        assert_eq!(std::fs::read_to_string(&local).expect("read"), "data\n");
        assert_eq!(out.values["checksum"], sha1_hex(b"data\n"));
        assert_eq!(out.values["md5sum"], md5_hex(b"data\n"));
        let again = run_module("fetch", args.clone(), &controller, false)
            .await
            .expect("again");
        assert!(!again.changed);
        assert_eq!(again.values["dest"], local.to_string_lossy().as_ref());

        let check = run_module("fetch", args, &controller, true)
            .await
            .expect("check");
        assert!(check.skipped);

        let nested = json!({"src": src.to_string_lossy(), "dest": dest.to_string_lossy()});
        let out = run_module("fetch", nested, &controller, false)
            .await
            .expect("nested");
        assert!(out.changed);
        let path = format!("{}/localhost{}", dest.to_string_lossy(), src.to_string_lossy());
        assert_eq!(out.values["dest"], path.as_str());
        assert!(Path::new(&path).is_file());

        let missing = json!({"src": "/nonexistent/x", "dest": dest.to_string_lossy()});
        let e = run_module("fetch", missing, &controller, false)
            .await
            .expect_err("missing");
        assert_eq!(
            e.to_string(),
            "the remote file does not exist, not transferring, ignored"
        );
        let ignored =
            json!({"src": "/nonexistent/x", "dest": dest.to_string_lossy(), "fail_on_missing": false});
        let out = run_module("fetch", ignored, &controller, false)
            .await
            .expect("ignored");
        assert!(!out.changed);
        let e = run_module(
            "fetch",
            json!({"src": dir.path().to_string_lossy(), "dest": "x"}),
            &controller,
            false,
        )
        .await
        .expect_err("dir");
        assert_eq!(
            e.to_string(),
            "remote file is a directory, fetch cannot work on directories"
        );
    }
}
