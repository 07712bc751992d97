//! `get_url`: download a file over HTTP(S) to the host, with `curl` on the host.
//!
//! ```yaml
//! - name: Fetch a release, verified
//!   ansible.builtin.get_url:
//!     url: https://example.com/app-1.2.tar.gz
//!     dest: /opt/app/app-1.2.tar.gz
//!     checksum: "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
//!     mode: "0644"
//!
//! - name: Into a directory (the name comes from Content-Disposition or the URL)
//!   ansible.builtin.get_url:
//!     url: http://mirror.local/files/tool
//!     dest: /usr/local/bin/
//!     checksum: sha256:http://mirror.local/files/SHA256SUMS
//!     url_username: deploy
//!     url_password: "{{ vault_pw }}"
//!     force_basic_auth: yes
//! ```
//!
//! As Ansible's module: an existing `dest` file is only re-downloaded with `force: yes`, or
//! when it is older than the server's copy (`If-Modified-Since` from its mtime, 304 = ok), or
//! when a given `checksum` does not match it. A download goes to a temporary file in the
//! destination's directory (or `tmp_dest`), is checked against `checksum` (`algo:hex`, or
//! `algo:URL` of a checksum file in GNU or BSD format), and replaces `dest` only if its SHA-1
//! differs (atomically, by rename; `backup` keeps the old one); then `mode`/`owner`/`group`.
//! Check mode sends a HEAD request and reports a change unless the server answers 304.
//!
//! Returns `url`, `dest`, `checksum_src`, `checksum_dest`, `src` (the temporary file),
//! `md5sum`, `msg` (`OK (N bytes)`), `status_code`, `elapsed`, `backup_file`, and `dest`'s
//! `mode`/`owner`/`group`/`uid`/`gid`/`size`/`state`. Failures carry Ansible's messages
//! ("Request failed" with `status_code` and `response`, "The checksum for ... did not match").
//!
//! Differences from Ansible: the request is made by `curl` on the host (needed there);
//! credentials without `force_basic_auth` use curl's `--anyauth` (sent after a challenge, like
//! urllib); `use_proxy: no` sets `--noproxy '*'`; `client_cert`, `client_key`, `ciphers`,
//! `use_gssapi`, `unredirected_headers` and `use_netrc` are not supported.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::mode::ModeArg;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

use crate::attrs::{self, AttrChange, Entry, Ids, Wanted};
use crate::http::{self, BodyTo, Request, Response};
use crate::stat::ChecksumAlgorithm;

fn yes() -> bool {
    true
}

fn ten() -> u64 {
    10
}

fn agent() -> String {
    "ansible-httpget".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetUrlParams {
    /// What to download (http, https, ftp, file).
    pub url: String,
    /// A file path, or an existing directory to put the file in.
    pub dest: String,
    /// Keep a timestamped copy of a file being replaced.
    #[serde(default)]
    pub backup: bool,
    /// `algorithm:hex`, or `algorithm:URL` of a checksum file.
    #[serde(default)]
    pub checksum: String,
    /// Download even when `dest` exists (and is not older than the server's copy).
    #[serde(default, alias = "thirsty")]
    pub force: bool,
    /// Seconds to wait for the connection and for data.
    #[serde(default = "ten")]
    pub timeout: u64,
    /// Extra request headers.
    pub headers: Option<Map<String, Value>>,
    /// Directory for the temporary download (default: `dest`'s directory).
    pub tmp_dest: Option<String>,
    /// User-Agent.
    #[serde(default = "agent")]
    pub http_agent: String,
    /// Use the host's proxy settings (environment).
    #[serde(default = "yes")]
    pub use_proxy: bool,
    /// Check HTTPS certificates.
    #[serde(default = "yes")]
    pub validate_certs: bool,
    /// User name for HTTP authentication.
    #[serde(alias = "username")]
    pub url_username: Option<String>,
    /// Password for HTTP authentication.
    #[serde(alias = "password")]
    pub url_password: Option<String>,
    /// Send credentials with the first request instead of after a 401.
    #[serde(default)]
    pub force_basic_auth: bool,
    /// Ask for and decompress gzip bodies (accepted; curl saves the body as sent).
    #[serde(default = "yes")]
    pub decompress: bool,
    /// Permissions of the file: octal (`"0644"`) or symbolic (`u=rw,g=r`).
    pub mode: Option<ModeArg>,
    /// User that should own the file (name or uid).
    pub owner: Option<String>,
    /// Group that should own the file (name or gid).
    pub group: Option<String>,
}

/// A parsed `checksum` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedSum {
    algorithm: ChecksumAlgorithm,
    hex: String,
}

#[derive(Debug, Default)]
pub struct GetUrlObserved {
    checksum: Option<ExpectedSum>,
    dest_is_dir: bool,
    /// `dest` (a file) as it is now.
    dest: Option<Entry>,
    /// `checksum`'s algorithm over the existing `dest`, when it was asked for.
    dest_digest: Option<String>,
    umask: u32,
    ids: Ids,
    /// Check mode: the HEAD response, and the final path and whether it exists there.
    head: Option<Response>,
    final_dest: String,
    final_exists: bool,
    final_parent_exists: bool,
    /// `tmp_dest` as the check-mode query found it: `None` (unset or a directory), else
    /// whether something that is not a directory is there.
    tmp_dest_bad: Option<bool>,
    /// When a user or group is missing in check mode.
    warnings: Vec<String>,
}

#[derive(Debug)]
pub enum GetUrlAction {
    /// Only attributes differ on a file that needs no download.
    Attrs {
        script: String,
        outcome: Box<Outcome>,
    },
    Download {
        /// The verified digest the download must have.
        checksum: Option<ExpectedSum>,
        dest_is_dir: bool,
        /// `dest` is an existing file (asked `If-Modified-Since` unless `force`).
        dest_is_file: bool,
    },
}

pub struct GetUrlModule;

impl GetUrlParams {
    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            mode: self.mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }

    fn request<'a>(&'a self, url: &'a str, method: &'static str, body_to: BodyTo) -> Request<'a> {
        let _ = self.decompress;
        let headers: Vec<(String, String)> = self
            .headers
            .iter()
            .flatten()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect();
        Request {
            url,
            method,
            headers,
            body: None,
            user: self.url_username.as_deref(),
            password: self.url_password.as_deref(),
            force_basic_auth: self.force_basic_auth,
            follow_redirects: true,
            timeout: self.timeout,
            validate_certs: self.validate_certs,
            if_modified_since: None,
            body_to,
            http_agent: &self.http_agent,
            no_proxy: !self.use_proxy,
        }
    }
}

/// Splits and checks `checksum` (`algo:value`); `value` may be a URL, resolved later.
fn split_checksum(text: &str) -> Result<Option<(ChecksumAlgorithm, String)>, ModuleError> {
    if text.is_empty() {
        return Ok(None);
    }
    let Some((algo, value)) = text.split_once(':') else {
        return Err(ModuleError::failed(
            "The checksum parameter has to be in format <algorithm>:<checksum>",
        ));
    };
    let algorithm = match algo.to_ascii_lowercase().as_str() {
        "md5" => ChecksumAlgorithm::Md5,
        "sha1" => ChecksumAlgorithm::Sha1,
        "sha224" => ChecksumAlgorithm::Sha224,
        "sha256" => ChecksumAlgorithm::Sha256,
        "sha384" => ChecksumAlgorithm::Sha384,
        "sha512" => ChecksumAlgorithm::Sha512,
        other => {
            return Err(ModuleError::failed(format!(
                "Could not hash file with unsupported algorithm '{other}'"
            )))
        }
    };
    Ok(Some((algorithm, value.to_string())))
}

fn is_url(value: &str) -> bool {
    ["http://", "https://", "ftp://", "file:/"]
        .iter()
        .any(|s| value.starts_with(s))
}

/// `re.sub(r'\W+', '', checksum).lower()`, then it must be hex.
fn normalize_hex(value: &str) -> Result<String, ModuleError> {
    let hex: String = value
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_lowercase();
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ModuleError::failed("The checksum format is invalid"));
    }
    Ok(hex)
}

/// Ansible's `parse_digest_lines`: `(digest, file)` pairs from a checksum file.
fn parse_digest_lines(filename: &str, lines: &[&str]) -> Vec<(String, String)> {
    if lines.len() == 1 && lines[0].split_whitespace().count() == 1 {
        return vec![(lines[0].to_string(), filename.to_string())];
    }
    let bsd = regex::Regex::new(r"^(\w+) ?\((?P<path>.+)\) ?= (?P<digest>[\w.]+)$");
    let gnu = regex::Regex::new(r"^(?P<digest>[\w.]+)\s+(\*|\./|\.)?(?P<path>.+)$");
    let (Ok(bsd), Ok(gnu)) = (bsd, gnu) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in lines {
        if let Some(c) = bsd.captures(line) {
            out.push((c["digest"].to_string(), c["path"].to_string()));
        } else if let Some(c) = gnu.captures(line) {
            out.push((
                c["digest"].to_string(),
                c["path"].trim_start_matches(['.', '/']).to_string(),
            ));
        }
    }
    out
}

/// Python's `email.message` `get_param('filename')` on Content-Disposition, basename only.
fn disposition_filename(value: &str) -> Option<String> {
    for part in value.split(';').skip(1) {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("filename") {
            let v = v.trim().trim_matches('"');
            let base = v.rsplit('/').next().unwrap_or(v);
            if !base.is_empty() {
                return Some(base.to_string());
            }
        }
    }
    None
}

/// The file a directory `dest` receives: Content-Disposition's name, else the final URL's.
fn name_in_dir(dir: &str, response: &Response) -> String {
    let name = response
        .header("content-disposition")
        .and_then(disposition_filename)
        .unwrap_or_else(|| http::url_filename(&response.url));
    format!("{}/{name}", dir.trim_end_matches('/'))
}

fn base_values(params: &GetUrlParams, dest: &str) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert("checksum_dest".into(), Value::Null);
    v.insert("checksum_src".into(), Value::Null);
    v.insert("dest".into(), dest.into());
    v.insert("elapsed".into(), 0.into());
    v.insert("url".into(), http::mask_url(&params.url).into());
    v
}

/// What Ansible's `url_get` returns for a 304: no checksums.
fn not_modified_values(params: &GetUrlParams, dest: &str, elapsed: u64) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert("url".into(), http::mask_url(&params.url).into());
    v.insert("dest".into(), dest.into());
    v.insert("status_code".into(), 304.into());
    v.insert("elapsed".into(), elapsed.into());
    v
}

fn fail(msg: impl Into<String>, values: Map<String, Value>) -> ModuleError {
    ModuleError::Failed {
        msg: msg.into(),
        values,
    }
}

/// The failure for a response that is not a usable 200 (Ansible's `url_get`).
fn response_failure(
    params: &GetUrlParams,
    dest: &str,
    response: &Response,
) -> Option<ModuleError> {
    let mut values = Map::new();
    values.insert("url".into(), http::mask_url(&params.url).into());
    values.insert("dest".into(), dest.into());
    values.insert("elapsed".into(), 0.into());
    if response.status == -1 {
        return Some(fail(response.msg(), values));
    }
    if response.status != 200 && !params.url.starts_with("file:/") {
        values.insert("status_code".into(), response.status.into());
        values.insert("response".into(), response.msg().into());
        return Some(fail("Request failed", values));
    }
    None
}

#[async_trait]
impl Module for GetUrlModule {
    type Params = GetUrlParams;
    type Observed = GetUrlObserved;
    type Action = GetUrlAction;

    const NAME: &'static str = "get_url";

    async fn query(
        &self,
        params: &GetUrlParams,
        ctx: &Context<'_>,
    ) -> Result<GetUrlObserved, ModuleError> {
        let mut observed = GetUrlObserved::default();
        if let Some((algorithm, value)) = split_checksum(&params.checksum)? {
            let hex = if is_url(&value) {
                let resp = http::request(
                    ctx.host,
                    &params.request(&value, "GET", BodyTo::Report),
                    "",
                )
                .await?;
                if let Some(e) = response_failure(params, &params.dest, &resp) {
                    return Err(e);
                }
                let text = String::from_utf8_lossy(resp.body.as_deref().unwrap_or(&[]))
                    .into_owned();
                let lines: Vec<&str> = text.lines().collect();
                let filename = http::url_filename(&params.url);
                parse_digest_lines(&filename, &lines)
                    .into_iter()
                    .find(|(_, f)| *f == filename)
                    .map(|(d, _)| d)
                    .ok_or_else(|| {
                        ModuleError::failed(format!(
                            "Unable to find a checksum for file '{filename}' in '{}'",
                            http::mask_url(&value)
                        ))
                    })?
            } else {
                value
            };
            observed.checksum = Some(ExpectedSum {
                algorithm,
                hex: normalize_hex(&hex)
                    .map_err(|e| fail(e.to_string(), base_values(params, &params.dest)))?,
            });
        }

        let mut script = attrs::assign("p", &params.dest);
        script.push_str("if [ -d \"$p\" ]; then echo isdir; fi; ");
        script.push_str(&attrs::probe("p", "p"));
        script.push_str(attrs::umask());
        script.push_str(&attrs::lookup_ids(
            params.owner.as_deref(),
            params.group.as_deref(),
        ));
        if let Some(c) = &observed.checksum {
            if !params.force {
                script.push_str(&attrs::checksum("p", c.algorithm.tool()));
            }
        }
        let report = attrs::run(ctx.host, &script).await?;
        observed.dest_is_dir = report.has("isdir");
        observed.dest = report.probe("p")?.entry.filter(|e| !e.is_dir());
        observed.dest_digest = report.get("sum").map(str::to_string);
        observed.umask = report.umask();
        observed.ids = Ids::from_report(params.owner.as_deref(), params.group.as_deref(), &report);

        if ctx.check_mode && !self.already_there(params, &observed) {
            let mut req = params.request(&params.url, "HEAD", BodyTo::Discard);
            let ims;
            if observed.dest.is_some() && !params.force && !observed.dest_is_dir {
                ims = format!("{}\"$p\"", "");
                req.if_modified_since = Some(ims);
            }
            let prelude = attrs::assign("p", &params.dest);
            let head = http::request(ctx.host, &req, &prelude).await?;
            let final_dest = if observed.dest_is_dir {
                name_in_dir(&params.dest, &head)
            } else {
                params.dest.clone()
            };
            let mut script = attrs::assign("p", &final_dest);
            script.push_str(
                "if [ -e \"$p\" ]; then echo exists; fi; \
                 if [ -d \"$(dirname -- \"$p\")\" ]; then echo parent; fi; ",
            );
            if let Some(td) = &params.tmp_dest {
                script.push_str(&attrs::assign("td", td));
                script.push_str(
                    "if [ ! -d \"$td\" ]; then if [ -e \"$td\" ]; then echo td.file; else echo td.missing; fi; fi; ",
                );
            }
            let report = attrs::run(ctx.host, &script).await?;
            observed.tmp_dest_bad = if report.has("td.file") {
                Some(true)
            } else if report.has("td.missing") {
                Some(false)
            } else {
                None
            };
            observed.final_exists = report.has("exists");
            observed.final_parent_exists = report.has("parent");
            observed.final_dest = final_dest;
            observed.head = Some(head);
        }
        Ok(observed)
    }

    fn plan(
        &self,
        params: &GetUrlParams,
        observed: GetUrlObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<GetUrlAction>, ModuleError> {
        if self.already_there(params, &observed) {
            let Some(entry) = &observed.dest else {
                return Err(ModuleError::failed("internal: no destination"));
            };
            let (ids, warnings) = if ctx.check_mode {
                observed.ids.for_new_path(true)
            } else {
                (observed.ids.clone(), Vec::new())
            };
            let change = attrs::changes(&entry.stat, &params.wanted(), &ids, observed.umask)?;
            let mut values = base_values(params, &params.dest);
            values.extend(attrs::path_info(entry));
            if change.is_empty() {
                let mut outcome = Outcome::ok().with_msg("file already exists");
                outcome.values = values;
                outcome.warnings = warnings;
                return Ok(Planned::Done(outcome));
            }
            let mut outcome =
                Outcome::changed().with_msg("file already exists but file attributes changed");
            outcome.values = values;
            outcome.warnings = warnings;
            let mut script = attrs::assign("r", &params.dest);
            script.push_str(&attrs::apply_script("\"$r\"", &change, false));
            return Ok(Planned::Change {
                action: GetUrlAction::Attrs {
                    script,
                    outcome: Box::new(outcome.clone()),
                },
                preview: outcome,
            });
        }
        if let Some(head) = &observed.head {
            // Check mode: Ansible's HEAD request decides.
            let dest = &observed.final_dest;
            if head.status == 304 {
                let values = not_modified_values(params, dest, 0);
                let mut outcome = Outcome::ok().with_msg(head.msg());
                outcome.values = values;
                return Ok(Planned::Done(outcome));
            }
            if let Some(e) = response_failure(params, dest, head) {
                return Err(e);
            }
            if let (Some(is_file), Some(td)) = (observed.tmp_dest_bad, &params.tmp_dest) {
                let mut values = Map::new();
                values.insert("elapsed".into(), 0.into());
                return Err(fail(
                    if is_file {
                        format!("{td} is a file but should be a directory.")
                    } else {
                        format!("{td} directory does not exist.")
                    },
                    values,
                ));
            }
            if !observed.final_exists && !observed.final_parent_exists {
                let parent = dest.rsplit_once('/').map_or(".", |(p, _)| p);
                let mut values = base_values(params, dest);
                values.insert("checksum_src".into(), crate::copy::sha1_hex(b"").into());
                return Err(fail(format!("Destination {parent} does not exist"), values));
            }
            let mut values = base_values(params, dest);
            // The sum of HEAD's (empty) body, as Ansible reports it.
            values.insert(
                "checksum_src".into(),
                crate::copy::sha1_hex(b"").into(),
            );
            let mut outcome = Outcome::changed().with_msg(head.msg());
            outcome.values = values;
            outcome.warnings = observed.warnings.clone();
            return Ok(Planned::Change {
                action: download(&observed),
                preview: outcome,
            });
        }
        Ok(Planned::Change {
            action: download(&observed),
            preview: Outcome::changed(),
        })
    }

    async fn apply(
        &self,
        params: &GetUrlParams,
        action: GetUrlAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {
            GetUrlAction::Attrs {
                script,
                mut outcome,
            } => {
                let mut script = script;
                script.push_str(&attrs::probe("r", "r"));
                let report = attrs::run(ctx.host, &script).await?;
                if let Some(entry) = report.probe("r")?.entry {
                    outcome.values.extend(attrs::path_info(&entry));
                }
                Ok(*outcome)
            }
            GetUrlAction::Download {
                checksum,
                dest_is_dir,
                dest_is_file,
            } => {
                self.download(params, checksum, dest_is_dir, dest_is_file, ctx)
                    .await
            }
        }
    }
}

tend_module_api::register_module!(GetUrlModule);

fn download(observed: &GetUrlObserved) -> GetUrlAction {
    GetUrlAction::Download {
        checksum: observed.checksum.clone(),
        dest_is_dir: observed.dest_is_dir,
        dest_is_file: observed.dest.is_some(),
    }
}

impl GetUrlModule {
    /// `dest` exists, `force` is off and a given checksum matches it: no request at all.
    fn already_there(&self, params: &GetUrlParams, observed: &GetUrlObserved) -> bool {
        !params.force
            && !observed.dest_is_dir
            && observed.dest.is_some()
            && matches!((&observed.checksum, &observed.dest_digest),
                (Some(c), Some(d)) if c.hex == *d)
    }

    async fn download(
        &self,
        params: &GetUrlParams,
        checksum: Option<ExpectedSum>,
        dest_is_dir: bool,
        dest_is_file: bool,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let started = std::time::Instant::now();
        // The temporary file: in tmp_dest, else beside dest (dest itself when a directory).
        let mut prelude = attrs::assign("p", &params.dest);
        match &params.tmp_dest {
            Some(dir) => {
                prelude.push_str(&attrs::assign("td", dir));
                prelude.push_str(
                    "if [ ! -d \"$td\" ]; then if [ -e \"$td\" ]; then echo \"tmpdest:$td is a file but should be a directory.\"; \
                     else echo \"tmpdest:$td directory does not exist.\"; fi; exit 0; fi; ",
                );
            }
            None => prelude.push_str(
                "if [ -d \"$p\" ]; then td=\"$p\"; else td=$(dirname -- \"$p\"); fi; \
                 if [ ! -d \"$td\" ]; then td=\"${TMPDIR:-/tmp}\"; fi; ",
            ),
        }
        prelude.push_str(
            "tmp=$(mktemp \"$td/.tend-get_url.XXXXXXXX\") || exit 1; printf 'tmp:%s\\n' \"$tmp\"; ",
        );
        let mut req = params.request(&params.url, "GET", BodyTo::File("\"$tmp\"".into()));
        if !params.force && dest_is_file {
            req.if_modified_since = Some("\"$p\"".into());
        }
        let response = http::request(ctx.host, &req, &prelude).await?;
        let elapsed = started.elapsed().as_secs();
        let tmp = response.report.get("tmp").map(str::to_string);
        let cleanup = |tmp: &Option<String>| {
            tmp.as_ref()
                .map(|t| format!("rm -f -- {}; ", quote(t)))
                .unwrap_or_default()
        };
        if let Some(msg) = response.report.get("tmpdest") {
            return Err(ModuleError::failed(msg));
        }
        if response.status == 304 {
            let _ = ctx.host.sh(&cleanup(&tmp)).await;
            let mut values = not_modified_values(params, &params.dest, elapsed);
            values.extend(attrs::path_info_on(ctx.host, &params.dest).await?);
            let mut outcome = Outcome::ok().with_msg(response.msg());
            outcome.values = values;
            return Ok(outcome);
        }
        if let Some(e) = response_failure(params, &params.dest, &response) {
            let _ = ctx.host.sh(&cleanup(&tmp)).await;
            return Err(e);
        }
        let Some(tmp) = tmp else {
            return Err(ModuleError::failed("the download left no temporary file"));
        };
        let dest = if dest_is_dir {
            name_in_dir(&params.dest, &response)
        } else {
            params.dest.clone()
        };
        let wanted_sum = checksum.as_ref().map(|c| c.algorithm);

        // Compare, verify, back up and move in one script; it ends with the final probe.
        let mut script = format!("t={}; ", quote(&tmp));
        script.push_str(&attrs::assign("d", &dest));
        script.push_str(
            "fail() { rm -f -- \"$t\"; echo \"fail:$1\"; exit 0; }; \
             s=$(sha1sum < \"$t\") || fail 'Source is not readable'; echo \"src:${s%% *}\"; ",
        );
        if let Some(algo) = wanted_sum {
            script.push_str(&format!(
                "c=$({} < \"$t\"); echo \"algo:${{c%% *}}\"; ",
                algo.tool()
            ));
        }
        script.push_str(
            "if [ -e \"$d\" ]; then ds=$(sha1sum < \"$d\") && echo \"dest:${ds%% *}\"; \
             elif [ ! -d \"$(dirname -- \"$d\")\" ]; then fail \"Destination $(dirname -- \"$d\") does not exist\"; fi; ",
        );
        let out = attrs::run(ctx.host, &script).await?;
        let mut values = base_values(params, &dest);
        values.insert("elapsed".into(), elapsed.into());
        values.insert("src".into(), tmp.clone().into());
        values.insert(
            "checksum_src".into(),
            out.get("src").map(Value::from).unwrap_or(Value::Null),
        );
        if let Some(d) = out.get("dest") {
            values.insert("checksum_dest".into(), d.into());
        }
        if let Some(msg) = out.get("fail") {
            return Err(fail(msg, values));
        }
        if let Some(c) = checksum.as_ref().map(|c| &c.hex) {
            let got = out.get("algo").unwrap_or("");
            if got != c {
                let _ = ctx.host.sh(&cleanup(&Some(tmp.clone()))).await;
                return Err(fail(
                    format!("The checksum for {tmp} did not match {c}; it was {got}."),
                    values,
                ));
            }
        }
        let same = out.get("src").is_some() && out.get("src") == out.get("dest");
        let mut script = format!("t={}; ", quote(&tmp));
        script.push_str(&attrs::assign("d", &dest));
        if same {
            script.push_str("rm -f -- \"$t\"; ");
        } else {
            if params.backup {
                script.push_str(
                    "if [ -e \"$d\" ]; then b=\"$d.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$d\" \"$b\"; printf 'backup:%s\\n' \"$b\"; fi; ",
                );
            }
            script.push_str(
                "if [ -e \"$d\" ]; then chmod --reference=\"$d\" \"$t\" 2>/dev/null || true; \
                 chown --reference=\"$d\" \"$t\" 2>/dev/null || true; \
                 else chmod \"$(printf '%o' $((0666 & ~$(umask))))\" \"$t\"; fi; \
                 mv -f -- \"$t\" \"$d\" || { rm -f -- \"$t\"; exit 1; }; ",
            );
        }
        script.push_str(&attrs::probe("d", "d"));
        script.push_str(attrs::umask());
        script.push_str(&attrs::lookup_ids(
            params.owner.as_deref(),
            params.group.as_deref(),
        ));
        script.push_str(&attrs::checksum("d", "md5sum"));
        let report = attrs::run(ctx.host, &script).await?;
        let mut changed = !same;
        let mut entry = report.probe("d")?.entry;
        if let Some(e) = &entry {
            let ids = Ids::from_report(params.owner.as_deref(), params.group.as_deref(), &report);
            let change: AttrChange =
                attrs::changes(&e.stat, &params.wanted(), &ids, report.umask())?;
            if !change.is_empty() {
                changed = true;
                let mut fix = attrs::assign("d", &dest);
                fix.push_str(&attrs::apply_script("\"$d\"", &change, false));
                fix.push_str(&attrs::probe("d", "d"));
                entry = attrs::run(ctx.host, &fix).await?.probe("d")?.entry;
            }
        }
        if let Some(b) = report.get("backup") {
            values.insert("backup_file".into(), b.into());
        }
        values.insert(
            "md5sum".into(),
            report.get("sum").map(Value::from).unwrap_or(Value::Null),
        );
        values.insert("status_code".into(), response.status.into());
        if let Some(e) = &entry {
            values.extend(attrs::path_info(e));
        }
        let mut outcome = if changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        }
        .with_msg(response.msg());
        outcome.values.extend(values);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_parameters_parse_like_ansible() {
        assert_eq!(split_checksum("").expect("empty"), None);
        assert!(split_checksum("abc").is_err());
        let (a, v) = split_checksum("SHA256:AB:CD").expect("ok").expect("some");
        assert_eq!(a, ChecksumAlgorithm::Sha256);
        assert_eq!(normalize_hex(&v).expect("hex"), "abcd");
        assert!(normalize_hex("xyz").is_err());
        assert!(is_url("http://h/SHA256SUMS"));
        assert!(!is_url("deadbeef"));
        let lines = [
            "aaa  app.tar.gz",
            "bbb *other.bin",
            "SHA256 (tool) = ccc",
            "ddd  ./sub/x",
        ];
        let map = parse_digest_lines("app.tar.gz", &lines);
        assert_eq!(map[0], ("aaa".to_string(), "app.tar.gz".to_string()));
        assert_eq!(map[1], ("bbb".to_string(), "other.bin".to_string()));
        assert_eq!(map[2], ("ccc".to_string(), "tool".to_string()));
        assert_eq!(map[3], ("ddd".to_string(), "sub/x".to_string()));
        assert_eq!(
            parse_digest_lines("f", &["eee"]),
            vec![("eee".to_string(), "f".to_string())]
        );
        assert_eq!(
            disposition_filename("attachment; filename=\"../report.csv\""),
            Some("report.csv".into())
        );
        assert_eq!(disposition_filename("inline"), None);
    }
}
