//! `unarchive`: unpack a tar or zip archive into a directory.
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
//! As Ansible's module: `src` is a controller file (from `files/`, uploaded to a private
//! temporary directory and removed afterwards) or, with `remote_src` (or `copy: no`), a file
//! on the host; `dest` must be an existing directory; `creates` skips the task when that path
//! exists.
//!
//! Zip archives (`ZipArchive`, needs `unzip` and `zipinfo` on the host): every entry listed
//! by `zipinfo -T -s` is compared with `dest` (type, mtime, size, CRC-32, mode, owner, group;
//! `keep_newer` as Ansible), and `unzip -o` extracts the archive when one differs; check mode
//! does the same comparison and `--diff` shows Ansible's itemized lines (`>f++++++.?? path`).
//!
//! Tar archives need GNU tar: the compression is found by trying `tar --list` with `-z`, none,
//! `-j`, `-J` and zstd, in Ansible's order. Idempotency is Ansible's: `tar --diff` against
//! `dest`, and the archive is extracted only when it reports missing files or differences in
//! contents, size, modification time or symlinks (and in uid/gid/mode unless
//! `owner`/`group`/`mode` are given). Check mode: Ansible skips tar archives ("remote module
//! (unarchive) does not support check mode when using gtar"); so does tend.
//!
//! `owner`/`group`/`mode` are then set on every entry and its top folder; `extra_opts`,
//! `exclude`, `include` and `keep_newer` are passed to tar/unzip as Ansible passes them.
//! Returns `dest`, `src`, `handler` (`ZipArchive`, `TgzArchive`, `TarArchive`,
//! `TarBzipArchive`, `TarXzArchive`, `TarZstdArchive`), `extract_results` (`cmd`, `rc`, `out`,
//! `err`) after an extraction, `files` with `list_files`, and `dest`'s
//! `mode`/`owner`/`group`/`uid`/`gid`/`size`/`state`.
//!
//! Not supported yet: a URL as `src`. Zip entry names are filtered with `*`/`?` patterns only
//! (no `[...]` classes) for `files`.

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
    /// Permissions of the file: octal (`"0644"`) or symbolic (`u=rw,g=r`).
    pub mode: Option<ModeArg>,
    /// User that should own the file (name or uid).
    pub owner: Option<String>,
    /// Group that should own the file (name or gid).
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
    /// A zip archive, inspected against `dest` (Ansible's `ZipArchive.is_unarchived`).
    Zip {
        upload: Option<Vec<u8>>,
        state: Box<zip::ZipState>,
    },
}

#[derive(Debug)]
pub struct UnarchiveAction {
    upload: Option<Vec<u8>>,
    /// For a zip: whether to run unzip, the itemized diff, and the archive's names.
    zip: Option<(bool, String, Vec<String>)>,
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
        }
        let is_zip = match &upload {
            Some(bytes) => bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06"),
            None => report.get("magic").is_some_and(is_zip_magic_hex),
        };
        if is_zip {
            let state = zip::inspect(params, ctx, upload.as_deref(), dest).await?;
            return Ok(UnarchiveObserved::Zip {
                upload,
                state: Box::new(state),
            });
        }
        Ok(UnarchiveObserved::Ready { upload })
    }

    fn plan(
        &self,
        params: &UnarchiveParams,
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
                action: UnarchiveAction { upload, zip: None },
                preview: Outcome::changed(),
            }),
            UnarchiveObserved::Zip { upload, state } => {
                let check = zip::check(params, &state)?;
                let mut preview = if check.unarchived {
                    Outcome::ok()
                } else {
                    Outcome::changed()
                };
                preview.values.insert("handler".into(), "ZipArchive".into());
                preview.values.insert("dest".into(), params.dest.clone().into());
                preview.values.insert("src".into(), state.src.clone().into());
                if !check.diff.is_empty() {
                    preview.diffs.push(crate::git::prepared(&check.diff));
                }
                if ctx.check_mode {
                    return Ok(if check.unarchived {
                        Planned::Done(preview)
                    } else {
                        Planned::Change {
                            action: UnarchiveAction {
                                upload: None,
                                zip: None,
                            },
                            preview,
                        }
                    });
                }
                Ok(Planned::Change {
                    action: UnarchiveAction {
                        upload,
                        zip: Some((!check.unarchived, check.diff, state.names.clone())),
                    },
                    preview,
                })
            }
        }
    }

    async fn apply(
        &self,
        params: &UnarchiveParams,
        action: UnarchiveAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        if let Some((extract, diff, names)) = action.zip {
            return zip::apply(params, action.upload, extract, diff, names, ctx).await;
        }
        let script = unpack_script(params, action.upload.as_ref().map(|u| u.len()));
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
    pub(crate) async fn fix_attrs(
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
fn unpack_script(params: &UnarchiveParams, upload: Option<usize>) -> String {
    let mut s = String::from(
        "__um=$(umask); umask 077; __t=$(mktemp -d \"${TMPDIR:-/tmp}/tend-unarchive.XXXXXXXX\") || exit 1; \
         trap 'rm -rf -- \"$__t\"' EXIT HUP INT TERM; ",
    );
    s.push_str(&attrs::assign("d", &params.dest));
    s.push_str("printf 'dest:%s\\n' \"$d\"; ");
    if let Some(len) = upload {
        s.push_str("src=\"$__t/source\"; cat > \"$src\" || exit 1; ");
        s.push_str(&tend_module_api::require_size("src", len));
        s.push_str("printf 'src:%s\\n' \"$src\"; ");
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

/// Zip archives, as Ansible's `ZipArchive`: `zipinfo -T -s` and `unzip -v` list the archive,
/// every entry is compared with `dest` (type, mtime, size, CRC-32, mode, owner, group), and
/// `unzip -o` extracts it when something differs.
mod zip {
    use std::collections::HashMap;

    use serde_json::{Map, Value};
    use tend_module_api::{quote, Context, ModuleError, Outcome};

    use super::{excluded, glob_match, lines_text, UnarchiveModule, UnarchiveParams};
    use crate::attrs::{self, Report};

    /// What the host said about the archive and `dest`.
    #[derive(Debug, Default)]
    pub struct ZipState {
        /// The archive on the host (a temporary upload or `src`).
        pub src: String,
        zipinfo_rc: i64,
        zipinfo: Vec<String>,
        /// Entry name → CRC-32 (from `unzip -v`).
        crcs: HashMap<String, u32>,
        /// `files_in_archive`: the names, with include/exclude applied.
        pub names: Vec<String>,
        /// Path (relative) → what is at dest.
        entries: HashMap<String, DestEntry>,
        /// zipinfo timestamp → seconds (the host's local time).
        stamps: HashMap<String, f64>,
        umask: u32,
        run_uid: u32,
        fut_owner: String,
        fut_uid: u32,
        fut_group: String,
        fut_gid: u32,
    }

    #[derive(Debug, Clone)]
    struct DestEntry {
        raw_mode: u32,
        owner: Option<String>,
        uid: u32,
        group: Option<String>,
        gid: u32,
        size: u64,
        mtime: f64,
        crc: Option<u32>,
    }

    /// The outcome of the comparison.
    #[derive(Debug, Default)]
    pub struct ZipCheck {
        pub unarchived: bool,
        pub diff: String,
    }

    fn archive_var(upload: Option<usize>, params: &UnarchiveParams) -> String {
        let mut s = String::from(
            "__um=$(umask); umask 077; __t=$(mktemp -d \"${TMPDIR:-/tmp}/tend-unarchive.XXXXXXXX\") || exit 1; \
             trap 'rm -rf -- \"$__t\"' EXIT HUP INT TERM; ",
        );
        if let Some(len) = upload {
            s.push_str("src=\"$__t/source\"; cat > \"$src\" || exit 1; ");
            s.push_str(&tend_module_api::require_size("src", len));
        } else {
            s.push_str(&attrs::assign("src", &params.src));
        }
        s.push_str("umask \"$__um\"; ");
        s
    }

    /// Lists the archive and looks at every entry's counterpart under `dest`.
    pub async fn inspect(
        params: &UnarchiveParams,
        ctx: &Context<'_>,
        upload: Option<&[u8]>,
        dest: &str,
    ) -> Result<ZipState, ModuleError> {
        let mut script = archive_var(upload.map(|u| u.len()), params);
        script.push_str(
            "for b in unzip zipinfo; do command -v $b >/dev/null 2>&1 || echo \"missing:$b\"; done; \
             printf 'src:%s\\n' \"$src\"; ",
        );
        let mut zi = String::from("zipinfo -T -s \"$src\"");
        if !params.exclude.is_empty() {
            zi.push_str(" -x");
            for e in &params.exclude {
                zi.push(' ');
                zi.push_str(&quote(e));
            }
        }
        for i in &params.include {
            zi.push(' ');
            zi.push_str(&quote(i));
        }
        script.push_str(&format!(
            "{zi} > \"$__t/zi\" 2>/dev/null; printf 'zirc:%s\\n' $?; sed 's/^/zi:/' \"$__t/zi\"; \
             unzip -v \"$src\" 2>/dev/null | sed 's/^/uv:/'; unzip -Z1 \"$src\" 2>/dev/null | sed 's/^/zn:/'; "
        ));
        script.push_str(attrs::umask());
        script.push_str(
            "printf 'run.uid:%s\\nrun.owner:%s\\nrun.gid:%s\\nrun.group:%s\\n' \"$(id -u)\" \"$(id -un)\" \"$(id -g)\" \"$(id -gn)\"; ",
        );
        if let Some(o) = &params.owner {
            script.push_str(&format!(
                "o={}; if n=$(id -un -- \"$o\" 2>/dev/null); then printf 'fut.owner:%s\\nfut.uid:%s\\n' \"$n\" \"$(id -u -- \"$o\")\"; fi; ",
                quote(o)
            ));
        }
        if let Some(g) = &params.group {
            script.push_str(&format!(
                "g={}; l=$(getent group \"$g\" 2>/dev/null | head -n 1); \
                 if [ -n \"$l\" ]; then printf 'fut.group:%s\\nfut.gid:%s\\n' \"${{l%%%%:*}}\" \"$(printf '%s' \"$l\" | cut -d: -f3)\"; fi; ",
                quote(g)
            ));
        }
        let out = ctx.host.sh_with_stdin(&script, upload.unwrap_or(&[])).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "could not inspect the archive: {}",
                out.stderr_lossy().trim()
            )));
        }
        let r = Report::parse(&out.stdout);
        let missing: Vec<&str> = r.all("missing").collect();
        if !missing.is_empty() {
            return Err(ModuleError::failed(format!(
                "Failed to find handler for \"{}\". Make sure the required command to extract the file is installed.\nUnable to find required '{}' binary in the path.",
                r.get("src").unwrap_or(&params.src),
                missing.join("' or '")
            )));
        }
        let num = |k: &str| r.get(k).and_then(|v| v.trim().parse::<u32>().ok());
        let run_uid = num("run.uid").unwrap_or(0);
        let run_gid = num("run.gid").unwrap_or(0);
        let mut state = ZipState {
            src: if upload.is_some() {
                params.src.clone()
            } else {
                r.get("src").unwrap_or(&params.src).to_string()
            },
            zipinfo_rc: r.get("zirc").and_then(|v| v.parse().ok()).unwrap_or(1),
            zipinfo: r.all("zi").map(str::to_string).collect(),
            umask: r.umask(),
            run_uid,
            fut_owner: r
                .get("fut.owner")
                .or(r.get("run.owner"))
                .unwrap_or("root")
                .to_string(),
            fut_uid: num("fut.uid").unwrap_or(run_uid),
            fut_group: r
                .get("fut.group")
                .or(r.get("run.group"))
                .unwrap_or("root")
                .to_string(),
            fut_gid: num("fut.gid").unwrap_or(run_gid),
            ..ZipState::default()
        };
        // `unzip -v`: Length Method Size Cmpr Date Time CRC-32 Name.
        for line in r.all("uv") {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 8 && f[6].len() == 8 {
                if let Ok(crc) = u32::from_str_radix(f[6], 16) {
                    if let Some(name) = rest_after(line, 7) {
                        state.crcs.insert(name.to_string(), crc);
                    }
                }
            }
        }
        for name in r.all("zn") {
            let keep = if params.include.is_empty() {
                !excluded(name, &params.exclude)
            } else {
                params.include.iter().any(|i| glob_match(i, name))
            };
            if keep {
                state.names.push(name.to_string());
            }
        }
        // Second look: the dest side of every listed entry, and the timestamps as epoch.
        let entries = parsed_lines(&state.zipinfo);
        if entries.is_empty() {
            return Ok(state);
        }
        let mut script = attrs::assign("d", dest);
        let mut stamps: Vec<&str> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            script.push_str(&format!(
                "p=\"$d\"/{}; if [ -e \"$p\" ] || [ -L \"$p\" ]; then \
                 stat -c 'e{i}:%f|%U|%u|%G|%g|%s|%.9Y' -- \"$p\"; \
                 if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then printf 'c{i}:%s\\n' \"$(gzip -c < \"$p\" | tail -c 8 | od -An -tu4 -N4 | tr -d ' ')\"; fi; fi; ",
                quote(&e.path)
            ));
            if !stamps.contains(&e.stamp.as_str()) {
                stamps.push(&e.stamp);
            }
        }
        for st in &stamps {
            let when = stamp_text(st);
            script.push_str(&format!(
                "printf 'ts:%s:%s\\n' {} \"$(date -d {} +%s)\"; ",
                quote(st),
                quote(&when)
            ));
        }
        let r2 = attrs::run(ctx.host, &script).await?;
        for (i, e) in entries.iter().enumerate() {
            let Some(line) = r2.get(&format!("e{i}")) else {
                continue;
            };
            let f: Vec<&str> = line.split('|').collect();
            if f.len() != 7 {
                continue;
            }
            let name = |s: &str| (s != "UNKNOWN").then(|| s.to_string());
            state.entries.insert(
                e.path.clone(),
                DestEntry {
                    raw_mode: u32::from_str_radix(f[0], 16).unwrap_or(0),
                    owner: name(f[1]),
                    uid: f[2].parse().unwrap_or(0),
                    group: name(f[3]),
                    gid: f[4].parse().unwrap_or(0),
                    size: f[5].parse().unwrap_or(0),
                    mtime: f[6].parse().unwrap_or(0.0),
                    crc: r2
                        .get(&format!("c{i}"))
                        .and_then(|c| c.trim().parse().ok()),
                },
            );
        }
        for line in r2.all("ts") {
            if let Some((stamp, secs)) = line.split_once(':') {
                if let Ok(secs) = secs.trim().parse::<f64>() {
                    state.stamps.insert(stamp.to_string(), secs);
                }
            }
        }
        Ok(state)
    }

    /// The text after `n` whitespace-separated fields (Python's `split(None, n)[n]`).
    fn rest_after(line: &str, n: usize) -> Option<&str> {
        let mut rest = line.trim_start();
        for _ in 0..n {
            let end = rest.find(char::is_whitespace)?;
            rest = rest[end..].trim_start();
        }
        (!rest.is_empty()).then_some(rest)
    }

    /// One `zipinfo -T -s` line that passes Ansible's sanity checks.
    #[derive(Debug)]
    struct Listed {
        ztype: char,
        permstr: String,
        size: u64,
        stamp: String,
        path: String,
    }

    fn parsed_lines(lines: &[String]) -> Vec<Listed> {
        let mut out = Vec::new();
        for line in lines {
            let pcs: Vec<&str> = line.split_whitespace().collect();
            if pcs.len() < 8 {
                continue;
            }
            let Some(path) = rest_after(line, 7) else {
                continue;
            };
            let perm = pcs[0];
            if ![7, 8, 10].contains(&perm.len()) || pcs[6].len() != 15 {
                continue;
            }
            let mut chars = perm.chars();
            let Some(ztype) = chars.next() else { continue };
            if !"dl-?".contains(ztype) || !chars.clone().all(|c| "rwxstah-".contains(c)) {
                continue;
            }
            let Ok(size) = pcs[3].parse::<u64>() else {
                continue;
            };
            out.push(Listed {
                ztype,
                permstr: chars.collect(),
                size,
                stamp: pcs[6].to_string(),
                path: path.to_string(),
            });
        }
        out
    }

    /// `yyyymmdd.hhmmss` as `date -d` reads it, clamped as Ansible's `_valid_time_stamp`.
    fn stamp_text(stamp: &str) -> String {
        let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
        if digits.len() != 14 {
            return "1980-01-01 00:00:00".into();
        }
        let year: u32 = digits[0..4].parse().unwrap_or(1980);
        if year < 1980 {
            return "1980-01-01 00:00:00".into();
        }
        if year > 2107 {
            return "2107-12-31 23:59:59".into();
        }
        format!(
            "{}-{}-{} {}:{}:{}",
            &digits[0..4],
            &digits[4..6],
            &digits[6..8],
            &digits[8..10],
            &digits[10..12],
            &digits[12..14]
        )
    }

    /// Ansible's `_permstr_to_octal`.
    fn permstr_to_octal(permstr: &str, umask: u32) -> u32 {
        let rev: Vec<char> = permstr.chars().rev().collect();
        let mut mode = 0;
        for j in 0..3 {
            for i in 0..3 {
                if rev
                    .get(i + 3 * j)
                    .is_some_and(|c| ['r', 'w', 'x', 's', 't'].contains(c))
                {
                    mode += 1 << (i + 3 * j);
                }
            }
        }
        mode & !umask
    }

    /// Ansible's `ZipArchive.is_unarchived` on what `inspect` found. Pure.
    pub fn check(params: &UnarchiveParams, state: &ZipState) -> Result<ZipCheck, ModuleError> {
        let mut unarchived = state.zipinfo_rc == 0;
        let mut diff = String::new();
        let mut includes = 0usize;
        for e in parsed_lines(&state.zipinfo) {
            if params.exclude.contains(&e.path) {
                continue;
            }
            let ftype = if e.path.ends_with('/') {
                'd'
            } else if e.ztype == 'l' {
                'L'
            } else {
                'f'
            };
            let mut permstr = e.permstr.clone();
            let file_umask = match permstr.len() {
                6 => {
                    permstr = if e.path.ends_with('/') || permstr == "rwx---" {
                        "rwxrwxrwx".into()
                    } else {
                        "rw-rw-rw-".into()
                    };
                    state.umask
                }
                7 => {
                    permstr = if permstr == "rwxa---" {
                        "rwxrwxrwx".into()
                    } else {
                        "rw-rw-rw-".into()
                    };
                    state.umask
                }
                _ => 0,
            };
            let Some(st) = state.entries.get(&e.path) else {
                includes += 1;
                diff.push_str(&format!(">{ftype}++++++.?? {}\n", e.path));
                continue;
            };
            let kind = st.raw_mode & 0o170000;
            let (is_dir, is_reg, is_lnk) =
                (kind == 0o040000, kind == 0o100000, kind == 0o120000);
            if (ftype == 'd' && !is_dir) || (ftype == 'f' && !is_reg) || (ftype == 'L' && !is_lnk)
            {
                if ftype == 'f' {
                    unarchived = false;
                }
                includes += 1;
                diff.push_str(&format!("c{ftype}++++++.?? {}\n", e.path));
                continue;
            }
            let mut change = false;
            let mut itemized: Vec<char> = format!(".{ftype}.......??").chars().collect();
            let stamp = state.stamps.get(&e.stamp).copied().unwrap_or(0.0);
            if is_reg {
                if params.keep_newer {
                    if stamp > st.mtime {
                        change = true;
                        itemized[4] = 't';
                    } else if stamp < st.mtime {
                        continue;
                    }
                } else if (stamp - st.mtime).abs() > 1e-6 {
                    change = true;
                    itemized[4] = 't';
                }
                if e.size != st.size {
                    change = true;
                    itemized[3] = 's';
                }
                if st.crc != state.crcs.get(&e.path).copied() {
                    change = true;
                    itemized[2] = 'c';
                }
            }
            if ftype != 'L' {
                let mode = match &params.mode {
                    Some(m) => m
                        .resolve_with_umask(Some(st.raw_mode & 0o7777), is_dir, state.umask)
                        .map_err(|e| ModuleError::failed(e.0))?,
                    None if e.ztype == '?' => permstr_to_octal(&permstr, 0),
                    None => permstr_to_octal(&permstr, file_umask),
                };
                if mode != st.raw_mode & 0o7777 {
                    change = true;
                    itemized[5] = 'p';
                }
            }
            if state.run_uid != 0 && (state.fut_uid != state.run_uid) {
                return Err(ModuleError::failed(format!(
                    "Cannot change ownership of {} to {}",
                    e.path, state.fut_owner
                )));
            }
            match &st.owner {
                Some(o) if *o != state.fut_owner => {
                    change = true;
                    itemized[6] = 'o';
                }
                None if st.uid != state.fut_uid => {
                    change = true;
                    itemized[6] = 'o';
                }
                _ => {}
            }
            match &st.group {
                Some(g) if *g != state.fut_group => {
                    change = true;
                    itemized[6] = 'g';
                }
                None if st.gid != state.fut_gid => {
                    change = true;
                    itemized[6] = 'g';
                }
                _ => {}
            }
            if change {
                includes += 1;
                diff.push_str(&format!("{} {}\n", itemized.iter().collect::<String>(), e.path));
            }
        }
        if includes > 0 {
            unarchived = false;
        }
        Ok(ZipCheck { unarchived, diff })
    }

    /// Extracts (when something differed), sets attributes, and reports as Ansible.
    pub async fn apply(
        params: &UnarchiveParams,
        upload: Option<Vec<u8>>,
        extract: bool,
        diff: String,
        names: Vec<String>,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let mut values = Map::new();
        values.insert("handler".into(), "ZipArchive".into());
        values.insert("dest".into(), params.dest.clone().into());
        let mut dest = params.dest.clone();
        let mut changed = false;
        let mut src = params.src.clone();
        if extract {
            let mut script = archive_var(upload.as_ref().map(|u| u.len()), params);
            script.push_str(&attrs::assign("d", &params.dest));
            script.push_str("printf 'dest:%s\\n' \"$d\"; printf 'src:%s\\n' \"$src\"; ");
            let mut words = vec!["\"$(command -v unzip)\"".to_string(), "-o".into()];
            words.extend(params.extra_opts.iter().map(|o| quote(o)));
            words.push("\"$src\"".into());
            if !params.exclude.is_empty() {
                words.push("-x".into());
                words.extend(params.exclude.iter().map(|e| quote(e)));
            }
            words.extend(params.include.iter().map(|i| quote(i)));
            words.push("-d".into());
            words.push("\"$d\"".into());
            let cmd = words.join(" ");
            script.push_str(&format!(
                "xrc=0; {cmd} > \"$__t/xout\" 2>\"$__t/xerr\" || xrc=$?; printf 'xrc:%s\\n' \"$xrc\"; \
                 for w in {cmd}; do printf 'xcmd:%s\\n' \"$w\"; done; \
                 sed 's/^/xout:/' \"$__t/xout\"; sed 's/^/xerr:/' \"$__t/xerr\"; "
            ));
            let out = ctx
                .host
                .sh_with_stdin(&script, upload.as_deref().unwrap_or(&[]))
                .await?;
            if !out.success() {
                return Err(ModuleError::failed(format!(
                    "could not unpack on the host: {}",
                    out.stderr_lossy().trim()
                )));
            }
            let r = Report::parse(&out.stdout);
            dest = r.get("dest").unwrap_or(&params.dest).to_string();
            if upload.is_none() {
                src = r.get("src").unwrap_or(&params.src).to_string();
            }
            let rc: i64 = r.get("xrc").and_then(|v| v.trim().parse().ok()).unwrap_or(1);
            let mut results = Map::new();
            results.insert(
                "cmd".into(),
                Value::Array(r.all("xcmd").map(Value::from).collect()),
            );
            results.insert("rc".into(), rc.into());
            results.insert("out".into(), lines_text(&r, "xout").into());
            results.insert("err".into(), lines_text(&r, "xerr").into());
            values.insert("src".into(), src.clone().into());
            values.insert("extract_results".into(), Value::Object(results));
            if rc != 0 {
                return Err(ModuleError::Failed {
                    msg: format!("failed to unpack {src} to {}", params.dest),
                    values,
                });
            }
            changed = true;
        } else {
            values.insert("src".into(), src.into());
        }
        if params.mode.is_some() || params.owner.is_some() || params.group.is_some() {
            let names: Vec<String> = names
                .iter()
                .map(|n| n.trim_end_matches('/').to_string())
                .collect();
            changed |= UnarchiveModule
                .fix_attrs(params, &dest, &names, ctx)
                .await?;
        }
        if params.list_files {
            values.insert(
                "files".into(),
                Value::Array(names.into_iter().map(Value::from).collect()),
            );
        }
        values.extend(attrs::path_info_on(ctx.host, &dest).await?);
        let mut outcome = if changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        if !diff.is_empty() {
            outcome.diffs.push(crate::git::prepared(&diff));
        }
        outcome.values = values;
        Ok(outcome)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn zipinfo_lines_and_modes() {
            let lines = vec![
                "-rw-r--r--  3.0 unx        6 tx stor 20240101.000000 app/read me.txt".to_string(),
                "drwxr-xr-x  3.0 unx        0 bx stor 20240101.000000 app/".to_string(),
                "1 file, 6 bytes uncompressed".to_string(),
            ];
            let p = parsed_lines(&lines);
            assert_eq!(p.len(), 2);
            assert_eq!(p[0].path, "app/read me.txt");
            assert_eq!(p[0].size, 6);
            assert_eq!(p[1].ztype, 'd');
            assert_eq!(permstr_to_octal("rw-r--r--", 0), 0o644);
            assert_eq!(permstr_to_octal("rwxrwxrwx", 0o022), 0o755);
            assert_eq!(stamp_text("20240102.030405"), "2024-01-02 03:04:05");
            assert_eq!(stamp_text("19700101.000000"), "1980-01-01 00:00:00");
            assert_eq!(
                rest_after("  1  2 3 4 5 6 7 name with  spaces", 7),
                Some("name with  spaces")
            );
        }
    }
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
        // A zip: compared entry by entry, extracted once.
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg("cd src && zip -qr ../files/t.zip top")
            .current_dir(root)
            .status()
            .expect("zip");
        assert!(status.success());
        let zdest = root.join("zdest");
        std::fs::create_dir(&zdest).expect("mkdir");
        let zargs = json!({"src": "t.zip", "dest": zdest.to_string_lossy(), "list_files": true});
        let check = run_module("unarchive", zargs.clone(), &controller, true)
            .await
            .expect("zip check");
        assert!(check.changed && !check.skipped, "{check:?}");
        assert!(!zdest.join("top").exists());
        let out = run_module("unarchive", zargs.clone(), &controller, false)
            .await
            .expect("unzip");
        assert!(out.changed, "{out:?}");
        assert_eq!(out.values["handler"], "ZipArchive");
        assert_eq!(
            std::fs::read_to_string(zdest.join("top/sub/b.txt")).expect("read"),
            "b\n"
        );
        let again = run_module("unarchive", zargs.clone(), &controller, false)
            .await
            .expect("unzip again");
        assert!(!again.changed, "{again:?}");
        std::fs::write(zdest.join("top/a.txt"), "changed\n").expect("write");
        let check = run_module("unarchive", zargs, &controller, true)
            .await
            .expect("zip check");
        assert!(check.changed);
        assert!(check.diffs[0].after.contains("top/a.txt"), "{:?}", check.diffs);

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
