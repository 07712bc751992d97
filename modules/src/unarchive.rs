//! `unarchive`: unpack a tar archive (gzip, bzip2, xz, zstd or plain) into a directory.
//!
//! ```yaml
//! - name: Unpack a release shipped with the role (files/app-1.2.tar.gz)
//!   ansible.builtin.unarchive:
//!     src: app-1.2.tar.gz
//!     dest: /opt/app
//!     owner: app
//!     group: app
//!
//! - name: An archive already on the host, only some entries
//!   ansible.builtin.unarchive:
//!     src: /var/cache/dist/tools.tar.xz
//!     dest: /usr/local
//!     remote_src: yes
//!     include: [bin/tool]
//!     creates: /usr/local/bin/tool
//! ```
//!
//! As Ansible's module with GNU tar on the host: `src` is a controller file (from `files/`,
//! uploaded to a private temporary directory and removed afterwards) or, with `remote_src`, a
//! file on the host; `dest` must be an existing directory; `creates` skips the task when that
//! path exists. The compression is found by trying `tar --list` with `-z`, none, `-j`, `-J`
//! and zstd, in Ansible's order. Idempotency is Ansible's: `tar --diff` against `dest`, and
//! the archive is extracted only when it reports missing files or differences in contents,
//! size, modification time or symlinks (and in uid/gid/mode unless `owner`/`group`/`mode` are
//! given, which are then set on every extracted entry and its top folder). `extra_opts`,
//! `exclude`, `include` and `keep_newer` are passed to tar as Ansible passes them.
//!
//! Returns `dest`, `src`, `handler` (`TgzArchive`, `TarArchive`, `TarBzipArchive`,
//! `TarXzArchive`, `TarZstdArchive`), `extract_results` (`cmd`, `rc`, `out`, `err`) after an
//! extraction, `files` with `list_files`, and `dest`'s `mode`/`owner`/`group`/`uid`/`gid`/
//! `size`/`state`. Check mode: Ansible skips tar archives ("remote module (unarchive) does not
//! support check mode when using gtar"); so does tend.
//!
//! Not supported yet: zip archives (Ansible's `ZipArchive`), and a URL as `src`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::mode::ModeArg;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned, SearchKind};

use crate::attrs::{self, Ids, Report, Wanted};

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnarchiveParams {
    /// The archive: a controller file (`files/`), or a host path with `remote_src`.
    pub src: String,
    /// An existing directory to unpack into.
    pub dest: String,
    /// `src` is already on the host.
    #[serde(default)]
    pub remote_src: bool,
    /// The old spelling of `remote_src: no` (`copy: no` means the archive is on the host).
    pub copy: Option<bool>,
    /// Skip when this path exists on the host.
    pub creates: Option<String>,
    /// Return the archive's entries as `files`.
    #[serde(default)]
    pub list_files: bool,
    /// Do not replace files newer than the archive's (`--keep-newer-files`).
    #[serde(default)]
    pub keep_newer: bool,
    /// Entries to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Only these entries.
    #[serde(default)]
    pub include: Vec<String>,
    /// More tar options.
    #[serde(default)]
    pub extra_opts: Vec<String>,
    /// Accepted (for URL sources, which tend does not support).
    #[serde(default = "yes")]
    pub validate_certs: bool,
    /// Accepted; tend streams the archive as a whole.
    pub io_buffer_size: Option<u64>,
    /// Accepted (tend does not read vaulted files).
    #[serde(default = "yes")]
    pub decrypt: bool,
    pub mode: Option<ModeArg>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl UnarchiveParams {
    fn remote(&self) -> Result<bool, ModuleError> {
        match self.copy {
            Some(_) if self.remote_src => Err(ModuleError::failed(
                "parameters are mutually exclusive: ('copy', 'remote_src')",
            )),
            Some(copy) => Ok(!copy),
            None => Ok(self.remote_src),
        }
    }

    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            mode: self.mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }
}

#[derive(Debug)]
pub enum UnarchiveObserved {
    /// `creates` exists: Ansible's skip message.
    Skip(String),
    /// Ready: the archive bytes for a controller-side `src`.
    Ready { upload: Option<Vec<u8>> },
}

#[derive(Debug)]
pub struct UnarchiveAction {
    upload: Option<Vec<u8>>,
}

pub struct UnarchiveModule;

/// Ansible's handlers for tar, in the order it tries them: name and tar flag.
const HANDLERS: [(&str, &str); 5] = [
    ("TgzArchive", "-z"),
    ("TarArchive", ""),
    ("TarBzipArchive", "-j"),
    ("TarXzArchive", "-J"),
    ("TarZstdArchive", "--use-compress-program=zstd"),
];

#[async_trait]
impl Module for UnarchiveModule {
    type Params = UnarchiveParams;
    type Observed = UnarchiveObserved;
    type Action = UnarchiveAction;

    const NAME: &'static str = "unarchive";

    async fn query(
        &self,
        params: &UnarchiveParams,
        ctx: &Context<'_>,
    ) -> Result<UnarchiveObserved, ModuleError> {
        let remote = params.remote()?;
        let _ = (params.validate_certs, params.io_buffer_size, params.decrypt);
        if !params.include.is_empty() && !params.exclude.is_empty() {
            return Err(ModuleError::failed(
                "parameters are mutually exclusive: include|exclude",
            ));
        }
        let mut script = String::new();
        if let Some(c) = &params.creates {
            script.push_str(&attrs::assign("c", c));
            script.push_str("if [ -e \"$c\" ]; then printf 'creates:%s\\n' \"$c\"; fi; ");
        }
        script.push_str(&attrs::assign("d", &params.dest));
        script.push_str("printf 'dest:%s\\n' \"$d\"; if [ -d \"$d\" ]; then echo isdir; fi; ");
        if remote {
            script.push_str(&attrs::assign("s", &params.src));
            script.push_str(
                "if [ ! -e \"$s\" ]; then echo nosrc; elif [ ! -r \"$s\" ]; then echo unreadable; \
                 elif [ ! -s \"$s\" ]; then echo empty; \
                 else printf 'magic:%s\\n' \"$(head -c 4 -- \"$s\" | od -An -tx1 | tr -d ' \\n')\"; fi; ",
            );
        }
        let report = attrs::run(ctx.host, &script).await?;
        if let Some(c) = report.get("creates") {
            return Ok(UnarchiveObserved::Skip(format!(
                "skipped, since {c} exists"
            )));
        }
        if params.src.contains("://") {
            return Err(ModuleError::failed(if remote {
                "a URL as src is not supported by tend yet".to_string()
            } else {
                format!(
                    "Unsupported option, an URI src ({}) is only supported when remote_src is True",
                    crate::http::mask_url(&params.src)
                )
            }));
        }
        let upload = if remote {
            None
        } else {
            let path = ctx.controller.find_file(SearchKind::Files, &params.src)?;
            Some(std::fs::read(&path).map_err(|e| {
                ModuleError::failed(format!("Could not find or access '{}': {e}", params.src))
            })?)
        };
        let dest = report.get("dest").unwrap_or(&params.dest);
        if !report.has("isdir") {
            return Err(ModuleError::failed(format!(
                "dest '{dest}' must be an existing dir"
            )));
        }
        if remote {
            if report.has("nosrc") {
                return Err(ModuleError::failed(format!(
                    "Source '{}' does not exist",
                    params.src
                )));
            }
            if report.has("unreadable") {
                return Err(ModuleError::failed(format!(
                    "Source '{}' not readable",
                    params.src
                )));
            }
            if report.has("empty") {
                return Err(ModuleError::failed(format!(
                    "Invalid archive '{}', the file is 0 bytes",
                    params.src
                )));
            }
            if report.get("magic").is_some_and(is_zip_magic_hex) {
                return Err(zip_unsupported());
            }
        }
        if let Some(bytes) = &upload {
            if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
                return Err(zip_unsupported());
            }
        }
        Ok(UnarchiveObserved::Ready { upload })
    }

    fn plan(
        &self,
        _params: &UnarchiveParams,
        observed: UnarchiveObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<UnarchiveAction>, ModuleError> {
        match observed {
            UnarchiveObserved::Skip(msg) => Ok(Planned::Done(Outcome {
                skipped: true,
                msg: Some(msg),
                ..Outcome::default()
            })),
            // Ansible's tar handlers refuse check mode outright.
            UnarchiveObserved::Ready { .. } if ctx.check_mode => Ok(Planned::Done(Outcome {
                skipped: true,
                msg: Some(
                    "remote module (unarchive) does not support check mode when using gtar"
                        .into(),
                ),
                ..Outcome::default()
            })),
            UnarchiveObserved::Ready { upload } => Ok(Planned::Change {
                action: UnarchiveAction { upload },
                preview: Outcome::changed(),
            }),
        }
    }

    async fn apply(
        &self,
        params: &UnarchiveParams,
        action: UnarchiveAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let script = unpack_script(params, action.upload.is_some());
        let out = match &action.upload {
            Some(bytes) => ctx.host.sh_with_stdin(&script, bytes).await?,
            None => ctx.host.sh(&script).await?,
        };
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "could not unpack on the host: {}",
                out.stderr_lossy().trim()
            )));
        }
        let report = Report::parse(&out.stdout);
        let dest = report.get("dest").unwrap_or(&params.dest).to_string();
        let src = if action.upload.is_some() {
            report.get("src").unwrap_or(&params.src).to_string()
        } else {
            params.src.clone()
        };
        if let Some(msg) = report.get("fail") {
            return Err(ModuleError::failed(msg));
        }
        let Some(flag) = report.get("handler") else {
            let reasons = report.all("reason").collect::<Vec<_>>().join("\n");
            return Err(ModuleError::failed(format!(
                "Failed to find handler for \"{src}\". Make sure the required command to extract the file is installed.\n{reasons}"
            )));
        };
        let handler = HANDLERS
            .iter()
            .find(|(_, f)| *f == flag)
            .map_or("TgzArchive", |(n, _)| n);
        let files: Vec<String> = report.all("file").map(tar_unescape).collect();
        let files: Vec<String> = files
            .into_iter()
            .map(|f| f.strip_prefix('/').map(str::to_string).unwrap_or(f))
            .filter(|f| !excluded(f, &params.exclude))
            .collect();
        let mut values = Map::new();
        values.insert("handler".into(), handler.into());
        values.insert("dest".into(), params.dest.clone().into());
        values.insert("src".into(), src.clone().into());
        let mut changed = false;
        if let Some(rc) = report.get("xrc") {
            let rc: i64 = rc.trim().parse().unwrap_or(1);
            let cmd: Vec<Value> = report.all("xcmd").map(Value::from).collect();
            let mut results = Map::new();
            results.insert("cmd".into(), Value::Array(cmd));
            results.insert("rc".into(), rc.into());
            results.insert("out".into(), lines_text(&report, "xout").into());
            results.insert("err".into(), lines_text(&report, "xerr").into());
            values.insert("extract_results".into(), Value::Object(results));
            if rc != 0 {
                return Err(ModuleError::Failed {
                    msg: format!("failed to unpack {src} to {}", params.dest),
                    values,
                });
            }
            changed = true;
        }
        if params.mode.is_some() || params.owner.is_some() || params.group.is_some() {
            changed |= self.fix_attrs(params, &dest, &files, ctx).await?;
        }
        if params.list_files {
            values.insert(
                "files".into(),
                Value::Array(files.iter().cloned().map(Value::from).collect()),
            );
        }
        values.extend(attrs::path_info_on(ctx.host, &dest).await?);
        let mut outcome = if changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        outcome.values = values;
        Ok(outcome)
    }
}

tend_module_api::register_module!(UnarchiveModule);

impl UnarchiveModule {
    /// `mode`/`owner`/`group` on every entry and top folder (Ansible's loop); whether any
    /// changed.
    async fn fix_attrs(
        &self,
        params: &UnarchiveParams,
        dest: &str,
        files: &[String],
        ctx: &Context<'_>,
    ) -> Result<bool, ModuleError> {
        let mut paths: Vec<String> = files
            .iter()
            .map(|f| format!("{}/{f}", dest.trim_end_matches('/')))
            .collect();
        let mut tops: Vec<String> = Vec::new();
        for f in files {
            if let Some((top, _)) = f.split_once('/') {
                if !tops.iter().any(|t| t == top) {
                    tops.push(top.to_string());
                }
            }
        }
        paths.extend(tops.iter().map(|t| format!("{dest}/{t}")));
        if paths.is_empty() {
            return Ok(false);
        }
        let quoted: Vec<String> = paths.iter().map(|p| quote(p)).collect();
        let mut script = attrs::stat_each("u", &quoted.join(" "));
        script.push_str(attrs::umask());
        script.push_str(&attrs::lookup_ids(
            params.owner.as_deref(),
            params.group.as_deref(),
        ));
        let report = attrs::run(ctx.host, &script).await?;
        let ids = Ids::from_report(params.owner.as_deref(), params.group.as_deref(), &report);
        let umask = report.umask();
        let mut fix = String::new();
        let mut seen = std::collections::HashSet::new();
        for (path, entry) in report.tree("u", "")? {
            // A path listed twice (an entry and a top folder) is set once.
            if !seen.insert(path.clone()) {
                continue;
            }
            let change = attrs::changes(&entry.stat, &params.wanted(), &ids, umask)?;
            if !change.is_empty() {
                fix.push_str(&attrs::apply_script(&quote(&path), &change, true));
            }
        }
        if fix.is_empty() {
            return Ok(false);
        }
        ctx.host.sh_ok(&format!("set -e; {fix}")).await?;
        Ok(true)
    }
}

fn zip_unsupported() -> ModuleError {
    ModuleError::failed("zip archives are not supported by tend's unarchive yet")
}

fn is_zip_magic_hex(hex: &str) -> bool {
    hex == "504b0304" || hex == "504b0506"
}

/// The lines printed under `key`, joined as the command printed them.
fn lines_text(report: &Report, key: &str) -> String {
    let lines: Vec<&str> = report.all(key).collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!("{}\n", lines.join("\n"))
    }
}

/// Python's `fnmatch` against the `exclude` patterns (without trailing `/`).
fn excluded(file: &str, excludes: &[String]) -> bool {
    excludes.iter().any(|e| {
        let pattern = e.trim_end_matches('/');
        glob_match(pattern, file)
    })
}

/// A minimal `fnmatch` (`*`, `?`, literal otherwise) for exclude patterns.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Python's `codecs.escape_decode` of a tar listing line (`\\`, `\n`, octal `\ooo`, ...).
fn tar_unescape(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            let c = bytes[i + 1];
            let simple = match c {
                b'\\' => Some(b'\\'),
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'a' => Some(7),
                b'b' => Some(8),
                b'f' => Some(12),
                b'v' => Some(11),
                b'\'' => Some(b'\''),
                b'"' => Some(b'"'),
                _ => None,
            };
            if let Some(b) = simple {
                out.push(b);
                i += 2;
                continue;
            }
            if (b'0'..=b'7').contains(&c) {
                let mut n = 0u32;
                let mut j = i + 1;
                while j < bytes.len() && j < i + 4 && (b'0'..=b'7').contains(&bytes[j]) {
                    n = n * 8 + u32::from(bytes[j] - b'0');
                    j += 1;
                }
                out.push((n & 0xff) as u8);
                i = j;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The tar options shared by `--list`, `--diff` and `--extract`, after the zip flag.
fn tar_words(params: &UnarchiveParams, with_owner: bool) -> (String, String) {
    let mut before = String::new();
    if !params.extra_opts.is_empty() {
        before.push_str(" --show-transformed-names");
        for o in &params.extra_opts {
            before.push(' ');
            before.push_str(&quote(o));
        }
    }
    if with_owner {
        // Ansible passes them through `shlex.quote` into the argument itself.
        if let Some(o) = &params.owner {
            before.push(' ');
            before.push_str(&quote(&format!("--owner={}", quote(o))));
        }
        if let Some(g) = &params.group {
            before.push(' ');
            before.push_str(&quote(&format!("--group={}", quote(g))));
        }
        if params.keep_newer {
            before.push_str(" --keep-newer-files");
        }
    }
    for e in &params.exclude {
        before.push(' ');
        before.push_str(&quote(&format!("--exclude={}", e.trim_end_matches('/'))));
    }
    let mut after = String::new();
    for f in &params.include {
        after.push(' ');
        after.push_str(&quote(f));
    }
    (before, after)
}

/// The whole unpacking on the host: (upload,) find the handler, list, diff, extract if needed.
fn unpack_script(params: &UnarchiveParams, upload: bool) -> String {
    let mut s = String::from(
        "__um=$(umask); umask 077; __t=$(mktemp -d \"${TMPDIR:-/tmp}/tend-unarchive.XXXXXXXX\") || exit 1; \
         trap 'rm -rf -- \"$__t\"' EXIT HUP INT TERM; ",
    );
    s.push_str(&attrs::assign("d", &params.dest));
    s.push_str("printf 'dest:%s\\n' \"$d\"; ");
    if upload {
        s.push_str("src=\"$__t/source\"; cat > \"$src\" || exit 1; printf 'src:%s\\n' \"$src\"; ");
    } else {
        s.push_str(&attrs::assign("src", &params.src));
    }
    s.push_str("umask \"$__um\"; ");
    s.push_str(
        "tar=$(command -v gtar || command -v tar) || { echo \"reason:Unable to find required 'gtar' or 'tar' binary in the path\"; exit 0; }; \
         case \"$($tar --version 2>/dev/null | head -n 1)\" in *GNU*) ;; \
         *) echo \"reason:Command \\\"$tar\\\" detected as tar type None. GNU tar required.\"; exit 0;; esac; \
         cd \"$d\" || exit 1; ",
    );
    let (list_opts, after) = tar_words(params, false);
    let (opts, _) = tar_words(params, true);
    let mut chain = String::new();
    for (i, (_, flag)) in HANDLERS.iter().enumerate() {
        let kw = if i == 0 { "if" } else { "elif" };
        chain.push_str(&format!(
            "{kw} \"$tar\" --list -C \"$d\" {flag}{list_opts} -f \"$src\"{after} > \"$__t/list\" 2>\"$__t/lerr\" && [ -s \"$__t/list\" ]; then z={}; ",
            quote(flag)
        ));
    }
    chain.push_str(
        "else echo \"reason:Command \\\"$tar\\\" could not handle archive: $(tr '\\n' ' ' < \"$__t/lerr\")\"; exit 0; fi; ",
    );
    s.push_str(&chain);
    s.push_str("printf 'handler:%s\\n' \"$z\"; sed 's/^/file:/' \"$__t/list\"; ");
    // Ansible's is_unarchived: which --diff complaints count as "not unpacked".
    let mut pats = vec![
        ": Mod time differs$",
        ": Warning: Cannot stat: No such file or directory$",
        ": Invalid owner",
        ": Invalid group",
        ": Symlink differs$",
        ": Contents differ$",
        ": Size differs$",
    ];
    if params.mode.is_none() {
        pats.push(": Mode differs$");
    }
    let uid_pats: Vec<&str> = [
        params.owner.is_none().then_some(": Uid differs$"),
        params.group.is_none().then_some(": Gid differs$"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let zword = "${z:+\"$z\"}";
    s.push_str(&format!(
        "\"$tar\" --diff -C \"$d\" {zword}{opts} -f \"$src\"{after} > \"$__t/dout\" 2>\"$__t/derr\"; \
         pats={}; if [ \"$(id -u)\" = 0 ]; then pats=\"$pats\"{}; fi; \
         if cat \"$__t/dout\" \"$__t/derr\" | grep -v ': : Warning: Cannot stat: No such file or directory$' \
         | grep -E -q -e \"$pats\"; then \
         xrc=0; \"$tar\" --extract -C \"$d\" {zword}{opts} -f \"$src\"{after} > \"$__t/xout\" 2>\"$__t/xerr\" || xrc=$?; \
         printf 'xrc:%s\\n' \"$xrc\"; \
         for w in \"$tar\" --extract -C \"$d\" {zword}{opts} -f \"$src\"{after}; do printf 'xcmd:%s\\n' \"$w\"; done; \
         sed 's/^/xout:/' \"$__t/xout\"; sed 's/^/xerr:/' \"$__t/xerr\"; fi; ",
        quote(&pats.join("|")),
        if uid_pats.is_empty() {
            String::new()
        } else {
            quote(&format!("|{}", uid_pats.join("|")))
        },
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    #[test]
    fn helpers_match_python() {
        assert_eq!(tar_unescape("a\\\\b\\nc\\303\\251"), "a\\b\ncé");
        assert!(glob_match("*.txt", "dir/a.txt"));
        assert!(glob_match("dir", "dir"));
        assert!(!glob_match("dir", "dir/x"));
        assert!(excluded("skip", &["skip/".to_string()]));
        assert!(is_zip_magic_hex("504b0304"));
    }

    #[tokio::test]
    async fn unpacks_once_then_reports_ok() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("files")).expect("mkdir");
        std::fs::create_dir_all(root.join("src/top/sub")).expect("mkdir");
        std::fs::write(root.join("src/top/a.txt"), "a\n").expect("write");
        std::fs::write(root.join("src/top/sub/b.txt"), "b\n").expect("write");
        let status = std::process::Command::new("tar")
            .arg("-czf")
            .arg(root.join("files/t.tar.gz"))
            .arg("-C")
            .arg(root.join("src"))
            .arg("top")
            .status()
            .expect("tar");
        assert!(status.success());
        let dest = root.join("dest");
        std::fs::create_dir(&dest).expect("mkdir");
        let controller = FakeController::new(root);
        let args = json!({"src": "t.tar.gz", "dest": dest.to_string_lossy(), "list_files": true, "mode": "u=rwX,g=rX,o="});
        let check = run_module("unarchive", args.clone(), &controller, true)
            .await
            .expect("check");
        assert!(check.skipped);
        let out = run_module("unarchive", args.clone(), &controller, false)
            .await
            .expect("unpack");
        assert!(out.changed, "{out:?}");
        assert_eq!(out.values["handler"], "TgzArchive");
        assert_eq!(
            std::fs::read_to_string(dest.join("top/sub/b.txt")).expect("read"),
            "b\n"
        );
        assert!(out.values["files"]
            .as_array()
            .expect("files")
            .contains(&json!("top/a.txt")));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dest.join("top/a.txt"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o640);
        let again = run_module("unarchive", args, &controller, false)
            .await
            .expect("again");
        assert!(!again.changed, "{again:?}");
        assert!(again.values.get("extract_results").is_none());

        std::fs::write(dest.join("top/a.txt"), "changed\n").expect("write");
        let out = run_module(
            "unarchive",
            json!({"src": root.join("files/t.tar.gz").to_string_lossy(), "dest": dest.to_string_lossy(), "remote_src": true, "exclude": ["top/sub"]}),
            &controller,
            false,
        )
        .await
        .expect("remote");
        assert!(out.changed);
        assert_eq!(
            std::fs::read_to_string(dest.join("top/a.txt")).expect("read"),
            "a\n"
        );
        let out = run_module(
            "unarchive",
            json!({"src": "t.tar.gz", "dest": dest.to_string_lossy(), "creates": dest.join("top").to_string_lossy()}),
            &controller,
            false,
        )
        .await
        .expect("creates");
        assert!(out.skipped);
        let e = run_module(
            "unarchive",
            json!({"src": "t.tar.gz", "dest": root.join("nope").to_string_lossy()}),
            &controller,
            false,
        )
        .await
        .expect_err("no dest");
        assert!(e.to_string().contains("must be an existing dir"), "{e}");
    }
}
