//! `stat`: report what is at a path, changing nothing.
//!
//! ```yaml
//! - name: Look at the config
//!   ansible.builtin.stat:
//!     path: /etc/app.conf
//!     checksum_algorithm: sha256
//!   register: conf
//!
//! - ansible.builtin.debug:
//!     msg: "{{ conf.stat.checksum }}"
//!   when: conf.stat.exists and conf.stat.isreg
//! ```
//!
//! Returns `stat` with Ansible's keys: `exists` (alone when nothing is there), `path`, `mode`
//! (`"0644"`), `isdir`, `ischr`, `isblk`, `isreg`, `isfifo`, `islnk`, `issock`, `uid`, `gid`,
//! `size`, `inode`, `dev`, `nlink`, `atime`, `mtime`, `ctime` (floats, as Python's), the `rusr` ...
//! `xoth` permission flags, `isuid`, `isgid`, `blocks`, `block_size`, `device_type`,
//! `readable`/`writeable`/`executable` (for the connecting or become user), `pw_name` and
//! `gr_name` when the ids have names, `lnk_source`/`lnk_target` for a symlink, and `checksum`
//! for a readable regular file (unless `get_checksum: no`). With `follow` a symlink is
//! reported as what it points to (a dangling one as not existing).
//!
//! `get_mime` and `get_attributes` are accepted and ignored: `mimetype`, `charset`,
//! `attributes` and `version` are not returned yet. Never changed; one `sh` call.

use std::convert::Infallible;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::{Context, FileKind, Module, ModuleError, Outcome, Planned};

use crate::attrs::{self, Entry};

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    Md5,
    #[default]
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl ChecksumAlgorithm {
    /// The coreutils/BusyBox tool computing it.
    pub(crate) fn tool(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Md5 => "md5sum",
            ChecksumAlgorithm::Sha1 => "sha1sum",
            ChecksumAlgorithm::Sha224 => "sha224sum",
            ChecksumAlgorithm::Sha256 => "sha256sum",
            ChecksumAlgorithm::Sha384 => "sha384sum",
            ChecksumAlgorithm::Sha512 => "sha512sum",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatParams {
    /// The path to look at.
    #[serde(alias = "dest", alias = "name")]
    pub path: String,
    /// Report a symlink's target rather than the link.
    #[serde(default)]
    pub follow: bool,
    /// Compute `checksum` for regular files.
    #[serde(default = "yes")]
    pub get_checksum: bool,
    /// Digest for `stat.checksum`: md5, sha1 (default), sha224, sha256, sha384, sha512.
    #[serde(default, alias = "checksum", alias = "checksum_algo")]
    pub checksum_algorithm: ChecksumAlgorithm,
    /// Accepted for compatibility; ignored.
    #[serde(
        default = "yes",
        alias = "mime",
        alias = "mime_type",
        alias = "mime-type"
    )]
    pub get_mime: bool,
    /// Accepted for compatibility; ignored.
    #[serde(default = "yes", alias = "attr", alias = "attributes")]
    pub get_attributes: bool,
}

/// What the single query script found.
#[derive(Debug, Clone, Default)]
pub struct StatObserved {
    path: String,
    /// `lstat`, or the target's `stat` when following.
    entry: Option<Entry>,
    /// For a symlink that is not followed: its text and fully resolved path.
    link: Option<(String, String)>,
    readable: bool,
    writeable: bool,
    executable: bool,
    checksum: Option<String>,
    /// (atime, mtime, ctime) as Python's float `st_*time`, fractions included.
    times: Option<(f64, f64, f64)>,
}

pub struct StatModule;

#[async_trait]
impl Module for StatModule {
    type Params = StatParams;
    type Observed = StatObserved;
    type Action = Infallible;

    const NAME: &'static str = "stat";

    async fn query(
        &self,
        params: &StatParams,
        ctx: &Context<'_>,
    ) -> Result<StatObserved, ModuleError> {
        // Mime type and attributes are not reported yet; the flags only need to parse.
        let _ = (params.get_mime, params.get_attributes);
        let mut script = attrs::assign("p", &params.path);
        script.push_str(&attrs::show("path", "\"$p\""));
        script.push_str(&attrs::probe("p", "p"));
        script.push_str(
            "if [ -r \"$p\" ]; then echo can.r; fi; if [ -w \"$p\" ]; then echo can.w; fi; \
             if [ -x \"$p\" ]; then echo can.x; fi; ",
        );
        // Nanosecond times, of the link itself or (following) of its target.
        let l = if params.follow { "-L " } else { "" };
        script.push_str(&format!(
            "if [ -e \"$p\" ] || [ -L \"$p\" ]; then stat {l}-c 'times:%.9X|%.9Y|%.9Z' -- \"$p\" 2>/dev/null || true; fi; "
        ));
        if params.get_checksum {
            let sum = attrs::checksum("p", params.checksum_algorithm.tool());
            if params.follow {
                script.push_str(&sum);
            } else {
                // Without follow a symlink is not a regular file and gets no checksum.
                script.push_str(&format!("if [ ! -L \"$p\" ]; then {sum}fi; "));
            }
        }
        let report = attrs::run(ctx.host, &script).await?;
        let probe = report.probe("p")?;
        let (entry, link) = match probe.entry {
            Some(entry) if entry.is_link() && params.follow => (probe.target, None),
            Some(entry) if entry.is_link() => {
                let text = entry.stat.link_target.clone().unwrap_or_default();
                let real = probe.real.clone().unwrap_or_default();
                (Some(entry), Some((text, real)))
            }
            other => (other, None),
        };
        Ok(StatObserved {
            path: report.get("path").unwrap_or(&params.path).to_string(),
            entry,
            link,
            readable: report.has("can.r"),
            writeable: report.has("can.w"),
            executable: report.has("can.x"),
            checksum: report.get("sum").map(str::to_string),
            times: report.get("times").and_then(parse_times),
        })
    }

    fn plan(
        &self,
        _params: &StatParams,
        observed: StatObserved,
        _ctx: &Context<'_>,
    ) -> Result<Planned<Infallible>, ModuleError> {
        Ok(Planned::Done(
            Outcome::ok().with_value("stat", Value::Object(stat_values(&observed))),
        ))
    }

    async fn apply(
        &self,
        _params: &StatParams,
        action: Infallible,
        _ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {}
    }
}

tend_module_api::register_module!(StatModule);

/// The `stat` dictionary, keyed and ordered as Ansible's `format_output` and `main`.
/// `SECONDS.NANOSECONDS` three times, as Python computes `st_mtime`: `sec + nsec * 1e-9`.
fn parse_times(line: &str) -> Option<(f64, f64, f64)> {
    let one = |text: &str| -> Option<f64> {
        let (sec, nsec) = text.trim().split_once('.')?;
        let sec: i64 = sec.parse().ok()?;
        let nsec: i64 = nsec.parse().ok()?;
        Some(sec as f64 + nsec as f64 * 1e-9)
    };
    let mut parts = line.split('|');
    Some((one(parts.next()?)?, one(parts.next()?)?, one(parts.next()?)?))
}

fn stat_values(observed: &StatObserved) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(entry) = &observed.entry else {
        out.insert("exists".into(), false.into());
        return out;
    };
    let st = &entry.stat;
    out.insert("exists".into(), true.into());
    out.insert("path".into(), observed.path.clone().into());
    attrs::put_stat_kind(entry, &mut out);
    // Python's float times; whole seconds when the host's stat cannot print fractions.
    let (atime, mtime, ctime) = observed.times.unwrap_or((
        entry.atime as f64,
        st.mtime as f64,
        entry.ctime as f64,
    ));
    out.insert("atime".into(), atime.into());
    out.insert("mtime".into(), mtime.into());
    out.insert("ctime".into(), ctime.into());
    attrs::put_stat_bits(st.mode, &mut out);
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    put("blocks", entry.blocks.into());
    put("block_size", entry.block_size.into());
    put("device_type", entry.rdev.into());
    put("readable", observed.readable.into());
    put("writeable", observed.writeable.into());
    put("executable", observed.executable.into());
    if let Some((target, source)) = &observed.link {
        put("lnk_source", source.clone().into());
        put("lnk_target", target.clone().into());
    }
    if entry.owner_known {
        put("pw_name", st.owner.clone().into());
    }
    if entry.group_known {
        put("gr_name", st.group.clone().into());
    }
    if st.kind == FileKind::File && observed.readable {
        if let Some(sum) = &observed.checksum {
            put("checksum", sum.clone().into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::tests::entry;
    use crate::copy::sha1_hex;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;
    use std::os::unix::fs::symlink;

    #[test]
    fn plan_reports_absent_and_file_keys() {
        let absent = stat_values(&StatObserved::default());
        assert_eq!(Value::Object(absent), json!({"exists": false}));
        let observed = StatObserved {
            path: "/etc/motd".into(),
            entry: Some(entry(FileKind::File, 0o4754)),
            readable: true,
            checksum: Some("abc".into()),
            ..StatObserved::default()
        };
        let v = stat_values(&observed);
        assert_eq!(v["mode"], "4754");
        assert_eq!(v["isreg"], true);
        assert_eq!(v["isuid"], true);
        assert_eq!(v["xoth"], false);
        assert_eq!(v["roth"], true);
        assert_eq!(v["pw_name"], "alice");
        assert_eq!(v["checksum"], "abc");
        assert!(!v.contains_key("lnk_source"));
        let unreadable = StatObserved {
            readable: false,
            ..observed
        };
        assert!(!stat_values(&unreadable).contains_key("checksum"));
    }

    async fn stat(args: Value) -> Value {
        let out = run_module("stat", args, &FakeController::new("/nonexistent"), false)
            .await
            .expect("stat");
        assert!(!out.changed);
        out.values["stat"].clone()
    }

    #[tokio::test]
    async fn stats_files_links_and_missing_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, "hello").expect("write");
        symlink("f", dir.path().join("ln")).expect("symlink");
        let f = file.to_string_lossy().to_string();
        let ln = dir.path().join("ln").to_string_lossy().to_string();

        let s = stat(json!({"path": f})).await;
        assert_eq!(s["exists"], true);
        assert_eq!(s["isreg"], true);
        assert_eq!(s["size"], 5);
        assert_eq!(s["path"], f.as_str());
        assert_eq!(s["checksum"], sha1_hex(b"hello"));
        assert_eq!(s["readable"], true);
        assert!(s["pw_name"].is_string());
        assert!(s["mtime"].as_f64().is_some_and(|t| t > 0.0));

        let s = stat(json!({"path": f, "checksum_algorithm": "sha256", "get_mime": false})).await;
        assert_eq!(
            s["checksum"],
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let s = stat(json!({"path": f, "get_checksum": false})).await;
        assert!(s.get("checksum").is_none());

        let s = stat(json!({"path": ln})).await;
        assert_eq!(s["islnk"], true);
        assert_eq!(s["isreg"], false);
        assert_eq!(s["lnk_target"], "f");
        let real = std::fs::canonicalize(&file).expect("canon");
        assert_eq!(s["lnk_source"], real.to_string_lossy().as_ref());
        assert!(s.get("checksum").is_none());

        let s = stat(json!({"path": ln, "follow": true})).await;
        assert_eq!(s["islnk"], false);
        assert_eq!(s["isreg"], true);
        assert_eq!(s["checksum"], sha1_hex(b"hello"));

        let s = stat(json!({"path": dir.path().to_string_lossy()})).await;
        assert_eq!(s["isdir"], true);
        assert_eq!(s["executable"], true);

        let missing = dir.path().join("nope").to_string_lossy().to_string();
        assert_eq!(
            stat(json!({"name": missing})).await,
            json!({"exists": false})
        );
        symlink("nope", dir.path().join("dangling")).expect("symlink");
        let dangling = dir.path().join("dangling").to_string_lossy().to_string();
        assert_eq!(stat(json!({"path": dangling.clone()})).await["islnk"], true);
        assert_eq!(
            stat(json!({"path": dangling, "follow": true})).await,
            json!({"exists": false})
        );

        // Check mode changes nothing either way.
        let out = run_module("stat", json!({"path": f}), &FakeController::new("/"), true)
            .await
            .expect("check");
        assert!(!out.changed);
        assert_eq!(out.values["stat"]["exists"], true);
    }
}
