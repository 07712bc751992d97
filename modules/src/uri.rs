//! `uri`: make an HTTP request from the host (with `curl` there) and return the response.
//!
//! ```yaml
//! - name: Health check, with the JSON answer
//!   ansible.builtin.uri:
//!     url: http://localhost:8080/health
//!     return_content: yes
//!   register: health
//!   failed_when: health.json.status != "up"
//!
//! - name: Create an item
//!   ansible.builtin.uri:
//!     url: http://localhost:8080/api/items
//!     method: POST
//!     body_format: json
//!     body: {name: widget, size: 3}
//!     status_code: [200, 201]
//!     headers: {X-Token: "{{ token }}"}
//!
//! - name: Save a page (re-fetched only when the server has a newer one)
//!   ansible.builtin.uri:
//!     url: http://localhost:8080/export.csv
//!     dest: /srv/export.csv
//!     mode: "0640"
//! ```
//!
//! Returns as Ansible's module: `status`, `url` (after redirects), `redirected`, `msg`
//! (`OK (N bytes)`, `HTTP Error 404: Not Found`, ...), `elapsed`, `cookies`, `cookies_string`,
//! every response header lowercased with `-` as `_` (`content_type`, `location` made
//! absolute, ...), `json` when the response is JSON, `content` with `return_content`, and
//! `path` with `dest`. A status outside `status_code` fails with "Status code was N and not
//! [...]: <msg>". `body_format: json` serializes a structured body (and sets `Content-Type`),
//! `form-urlencoded` encodes a mapping or list of pairs. `follow_redirects`: `safe` (the
//! default) follows GET and HEAD only, `all`/`urllib2`/`yes` every method, `none`/`no` none.
//! With `dest` the body is written there (atomically, only if different; reported `changed`
//! as Ansible does), and an existing `dest` is sent as `If-Modified-Since` (304: unchanged).
//! `creates`/`removes` return early with Ansible's `stdout` text. Check mode skips the task, as
//! Ansible does (the module does not support it).
//!
//! Differences from Ansible: the request is made by `curl` on the host; `src`/`remote_src`,
//! `form-multipart`, `unix_socket`, `client_cert`/`client_key`, `ca_path`, `ciphers`,
//! `unredirected_headers`, `use_gssapi` and `use_netrc` are not supported; a body must be text.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::mode::ModeArg;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned};

use crate::attrs::{self, Ids, Wanted};
use crate::http::{self, BodyTo, Request, Response};

fn yes() -> bool {
    true
}

fn thirty() -> u64 {
    30
}

fn get() -> String {
    "GET".into()
}

fn ok_200() -> Vec<i64> {
    vec![200]
}

fn agent() -> String {
    "ansible-httpget".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum BodyFormat {
    #[serde(rename = "raw")]
    #[default]
    Raw,
    #[serde(rename = "json")]
    Json,
    #[serde(rename = "form-urlencoded")]
    FormUrlencoded,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FollowRedirects {
    All,
    No,
    None,
    #[default]
    Safe,
    Urllib2,
    Yes,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UriParams {
    /// The URL to request.
    pub url: String,
    /// Write the response body to this file (or into this directory).
    pub dest: Option<String>,
    /// User name for HTTP authentication.
    #[serde(alias = "user")]
    pub url_username: Option<String>,
    /// Password for HTTP authentication.
    #[serde(alias = "password")]
    pub url_password: Option<String>,
    /// Send credentials with the first request instead of after a 401.
    #[serde(default)]
    pub force_basic_auth: bool,
    /// The request body: text, or a structure for `json`/`form-urlencoded`.
    pub body: Option<Value>,
    /// How `body` is encoded: `raw`, `json` or `form-urlencoded`.
    #[serde(default)]
    pub body_format: BodyFormat,
    /// HTTP method (uppercase word).
    #[serde(default = "get")]
    pub method: String,
    /// Return the body as `content`.
    #[serde(default)]
    pub return_content: bool,
    /// Which redirects to follow: `safe` (GET/HEAD), `all`, `none`, ...
    #[serde(default)]
    pub follow_redirects: FollowRedirects,
    /// Skip the request when this path exists on the host.
    pub creates: Option<String>,
    /// Skip the request when this path does not exist on the host.
    pub removes: Option<String>,
    /// Statuses that count as success.
    #[serde(default = "ok_200")]
    pub status_code: Vec<i64>,
    /// Seconds to wait for the connection and for data.
    #[serde(default = "thirty")]
    pub timeout: u64,
    /// Request headers.
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// Do not send `If-Modified-Since` for an existing `dest`.
    #[serde(default)]
    pub force: bool,
    /// The User-Agent header.
    #[serde(default = "agent")]
    pub http_agent: String,
    /// Use the host's proxy environment variables.
    #[serde(default = "yes")]
    pub use_proxy: bool,
    /// Verify the server's TLS certificate.
    #[serde(default = "yes")]
    pub validate_certs: bool,
    /// Accepted; curl stores bodies as sent.
    #[serde(default = "yes")]
    pub decompress: bool,
    /// Permissions of the file: octal (`"0644"`) or symbolic (`u=rw,g=r`).
    pub mode: Option<ModeArg>,
    /// User that should own the file (name or uid).
    pub owner: Option<String>,
    /// Group that should own the file (name or gid).
    pub group: Option<String>,
}

/// How the request was set up after the creates/removes checks.
#[derive(Debug)]
pub enum UriObserved {
    /// `creates`/`removes` said no: Ansible's `stdout` text.
    Skip(String),
    /// Go ahead; `dest` is an existing file (If-Modified-Since), or a directory.
    Go {
        dest_is_file: bool,
        dest_is_dir: bool,
    },
}

#[derive(Debug)]
pub struct UriAction {
    dest_is_file: bool,
    dest_is_dir: bool,
}

pub struct UriModule;

#[async_trait]
impl Module for UriModule {
    type Params = UriParams;
    type Observed = UriObserved;
    type Action = UriAction;

    const NAME: &'static str = "uri";
    const SUPPORTS_CHECK_MODE: bool = false;

    async fn query(&self, params: &UriParams, ctx: &Context<'_>) -> Result<UriObserved, ModuleError> {
        let method = params.method.to_uppercase();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ModuleError::failed(
                "Parameter 'method' needs to be a single word in uppercase, like GET or POST.",
            ));
        }
        let _ = params.decompress;
        body_and_headers(params)?;
        let mut script = String::new();
        if let Some(c) = &params.creates {
            script.push_str(&attrs::assign("c", c));
            script.push_str("if [ -e \"$c\" ]; then echo creates; fi; ");
        }
        if let Some(r) = &params.removes {
            script.push_str(&attrs::assign("r", r));
            script.push_str("if [ -e \"$r\" ]; then echo removes; fi; ");
        }
        if let Some(d) = &params.dest {
            script.push_str(&attrs::assign("d", d));
            script.push_str(
                "if [ -d \"$d\" ]; then echo isdir; elif [ -f \"$d\" ]; then echo isfile; fi; ",
            );
        }
        let report = if script.is_empty() {
            attrs::Report::default()
        } else {
            attrs::run(ctx.host, &script).await?
        };
        if let Some(c) = params.creates.as_deref().filter(|_| report.has("creates")) {
            return Ok(UriObserved::Skip(format!("skipped, since '{c}' exists")));
        }
        if let Some(r) = params.removes.as_deref().filter(|_| !report.has("removes")) {
            return Ok(UriObserved::Skip(format!(
                "skipped, since '{r}' does not exist"
            )));
        }
        Ok(UriObserved::Go {
            dest_is_file: report.has("isfile"),
            dest_is_dir: report.has("isdir"),
        })
    }

    fn plan(
        &self,
        _params: &UriParams,
        observed: UriObserved,
        _ctx: &Context<'_>,
    ) -> Result<Planned<UriAction>, ModuleError> {
        match observed {
            UriObserved::Skip(text) => Ok(Planned::Done(Outcome::ok().with_value("stdout", text))),
            UriObserved::Go {
                dest_is_file,
                dest_is_dir,
            } => Ok(Planned::Change {
                action: UriAction {
                    dest_is_file,
                    dest_is_dir,
                },
                preview: Outcome::changed(),
            }),
        }
    }

    async fn apply(
        &self,
        params: &UriParams,
        action: UriAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let method = params.method.to_uppercase();
        let (body, headers) = body_and_headers(params)?;
        let follow = match params.follow_redirects {
            FollowRedirects::All | FollowRedirects::Yes | FollowRedirects::Urllib2 => true,
            FollowRedirects::Safe => method == "GET" || method == "HEAD",
            FollowRedirects::No | FollowRedirects::None => false,
        };
        let mut prelude = String::new();
        let body_to = if params.dest.is_some() {
            prelude.push_str("tmp=\"$__t/download\"; ");
            BodyTo::FileAndReport("\"$tmp\"".into())
        } else {
            BodyTo::Report
        };
        if let Some(d) = &params.dest {
            prelude.push_str(&attrs::assign("d", d));
        }
        let req = Request {
            url: &params.url,
            method: &method,
            headers,
            body,
            user: params.url_username.as_deref(),
            password: params.url_password.as_deref(),
            force_basic_auth: params.force_basic_auth,
            follow_redirects: follow,
            timeout: params.timeout,
            validate_certs: params.validate_certs,
            if_modified_since: (action.dest_is_file && !params.force).then(|| "\"$d\"".into()),
            body_to,
            http_agent: &params.http_agent,
            no_proxy: !params.use_proxy,
        };
        let started = std::time::Instant::now();
        let response = http::request(ctx.host, &req, &prelude).await?;
        let elapsed = started.elapsed().as_secs();
        let mut result = response_values(params, &response, elapsed);
        let content = response.body.clone().unwrap_or_default();
        let mut changed = false;
        let got_response = response.status != -1;
        if let (Some(dest), true) = (&params.dest, got_response) {
            let mut path = dest.clone();
            if action.dest_is_dir {
                let name = response
                    .header("content-disposition")
                    .and_then(disposition_name)
                    .unwrap_or_else(|| "index.html".into());
                path = format!("{}/{name}", dest.trim_end_matches('/'));
            }
            if params.status_code.contains(&response.status) && response.status != 304 {
                self.write_dest(params, &path, &content, ctx).await?;
                changed = true;
                changed |= self.fix_attrs(params, &path, ctx).await?;
            }
            // Ansible's add_path_info, for a result holding `path`.
            result.extend(attrs::path_info_on(ctx.host, &path).await?);
            result.insert("path".into(), path.into());
        }
        let text = String::from_utf8_lossy(&content).into_owned();
        if is_json(&response) {
            if let Ok(js) = serde_json::from_str::<Value>(&text) {
                result.insert("json".into(), js);
            }
        }
        if !params.status_code.contains(&response.status) {
            let msg = format!(
                "Status code was {} and not {}: {}",
                response.status,
                python_list(&params.status_code),
                response.msg()
            );
            if params.return_content {
                result.insert("content".into(), text.into());
            }
            result.insert("changed".into(), changed.into());
            return Err(ModuleError::Failed { msg, values: result });
        }
        if params.return_content {
            result.insert("content".into(), text.into());
        }
        let msg = result
            .remove("msg")
            .and_then(|m| m.as_str().map(str::to_string))
            .unwrap_or_default();
        let mut outcome = if changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        }
        .with_msg(msg);
        outcome.values = result;
        Ok(outcome)
    }
}

tend_module_api::register_module!(UriModule);

impl UriModule {
    /// Writes the body to `path` through a temporary file beside it, only if it differs.
    async fn write_dest(
        &self,
        params: &UriParams,
        path: &str,
        content: &[u8],
        ctx: &Context<'_>,
    ) -> Result<(), ModuleError> {
        let _ = &params.url;
        let sum = crate::copy::sha1_hex(content);
        let mut script = attrs::assign("d", path);
        script.push_str(&attrs::checksum("d", "sha1sum"));
        let report = attrs::run(ctx.host, &script).await?;
        if report.get("sum") == Some(sum.as_str()) {
            return Ok(());
        }
        ctx.host
            .write_file_atomic(path, content, &Default::default())
            .await
            .map_err(|e| ModuleError::failed(format!("failed to write {path}: {e}")))
    }

    /// `mode`/`owner`/`group` on the written file; whether anything changed.
    async fn fix_attrs(
        &self,
        params: &UriParams,
        path: &str,
        ctx: &Context<'_>,
    ) -> Result<bool, ModuleError> {
        let wanted = Wanted {
            mode: params.mode.as_ref(),
            owner: params.owner.as_deref(),
            group: params.group.as_deref(),
        };
        if wanted.mode.is_none() && wanted.owner.is_none() && wanted.group.is_none() {
            return Ok(false);
        }
        let mut script = attrs::assign("d", path);
        script.push_str(&attrs::probe("d", "d"));
        script.push_str(attrs::umask());
        script.push_str(&attrs::lookup_ids(
            params.owner.as_deref(),
            params.group.as_deref(),
        ));
        let report = attrs::run(ctx.host, &script).await?;
        let Some(entry) = report.probe("d")?.entry else {
            return Ok(false);
        };
        let ids = Ids::from_report(params.owner.as_deref(), params.group.as_deref(), &report);
        let change = attrs::changes(&entry.stat, &wanted, &ids, report.umask())?;
        if change.is_empty() {
            return Ok(false);
        }
        let mut fix = attrs::assign("d", path);
        fix.push_str(&attrs::apply_script("\"$d\"", &change, false));
        attrs::run(ctx.host, &fix).await?;
        Ok(true)
    }
}

/// A request body and headers.
type BodyHeaders = (Option<Vec<u8>>, Vec<(String, String)>);

/// The body as bytes and the headers with the Content-Type the body format implies.
fn body_and_headers(params: &UriParams) -> Result<BodyHeaders, ModuleError> {
    let mut headers: Vec<(String, String)> = params
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), value_text(v)))
        .collect();
    let has_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    let body = match (&params.body, params.body_format) {
        (None, BodyFormat::Raw) | (Some(Value::Null), BodyFormat::Raw) => None,
        (Some(b), BodyFormat::Raw) => Some(value_text(b)),
        (b, BodyFormat::Json) => {
            if !has_type {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            match b {
                Some(Value::String(s)) => Some(s.clone()),
                Some(v) => Some(
                    crate::copy::python_json(v).map_err(|e| ModuleError::failed(e.to_string()))?,
                ),
                None => Some("null".into()),
            }
        }
        (b, BodyFormat::FormUrlencoded) => {
            if !has_type {
                headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
            }
            match b {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(v) => Some(form_urlencoded(v)?),
            }
        }
    };
    Ok((body.map(String::into_bytes), headers))
}

/// Python's `to_text` of a YAML value.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// Ansible's `form_urlencoded` (`urlencode(..., doseq=True)`).
fn form_urlencoded(body: &Value) -> Result<String, ModuleError> {
    let pairs: Vec<(String, Value)> = match body {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Array(kv) if kv.len() == 2 => Ok((value_text(&kv[0]), kv[1].clone())),
                _ => Err(ModuleError::failed(
                    "failed to parse body as form_urlencoded: expected pairs",
                )),
            })
            .collect::<Result<_, _>>()?,
        other => return Ok(value_text(other)),
    };
    let mut out = Vec::new();
    for (key, values) in pairs {
        let values = match values {
            Value::Array(list) => list,
            Value::Object(map) => map.keys().map(|k| Value::String(k.clone())).collect(),
            v => vec![v],
        };
        for v in values.into_iter().filter(|v| !v.is_null()) {
            out.push(format!("{}={}", quote_plus(&key), quote_plus(&value_text(&v))));
        }
    }
    Ok(out.join("&"))
}

/// Python's `urllib.parse.quote_plus`.
fn quote_plus(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Python's `str()` of a list of ints: `[200, 201]`.
fn python_list(codes: &[i64]) -> String {
    let items: Vec<String> = codes.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// The main type says JSON (`application/json`, `application/problem+json`, `text/javascript`).
fn is_json(response: &Response) -> bool {
    let Some(ct) = response.header("content-type") else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((_, sub)) = mime.split_once('/') else {
        return false;
    };
    let sub = sub.split_once('+').map_or(sub, |(_, suffix)| suffix);
    sub == "json" || sub == "javascript"
}

fn disposition_name(value: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|part| {
        let (k, v) = part.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("filename")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Python's `urljoin(base, location)` for the usual shapes of `Location`.
fn urljoin(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return location.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    if let Some(net) = location.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = rest[authority_end..]
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{origin}{dir}/{location}")
}

/// The values Ansible's `uri` returns about a response (before `content`/`json`/`path`).
fn response_values(params: &UriParams, response: &Response, elapsed: u64) -> Map<String, Value> {
    let masked = http::mask_url(&params.url);
    let url = if response.status == -1 || response.url.is_empty() {
        masked.clone()
    } else {
        http::mask_url(&response.url)
    };
    let mut info: Map<String, Value> = Map::new();
    info.insert("redirected".into(), (url != masked).into());
    info.insert("url".into(), url.into());
    info.insert("status".into(), response.status.into());
    if response.status != -1 {
        for (k, v) in &response.headers {
            info.insert(k.replace('-', "_"), v.clone().into());
        }
    }
    // urllib raises HTTPError for anything but 2xx, and Ansible then reports no cookies.
    if (200..300).contains(&response.status) {
        let mut cookies = Map::new();
        let mut pairs = Vec::new();
        for (k, v) in &response.headers {
            if k != "set-cookie" {
                continue;
            }
            for c in v.split(", ") {
                let first = c.split(';').next().unwrap_or("");
                if let Some((name, value)) = first.split_once('=') {
                    cookies.insert(name.trim().into(), value.trim().into());
                    pairs.push(format!("{}={}", name.trim(), value.trim()));
                }
            }
        }
        info.insert("cookies_string".into(), pairs.join("; ").into());
        info.insert("cookies".into(), Value::Object(cookies));
    }
    info.insert("msg".into(), response.msg().into());
    info.insert("elapsed".into(), elapsed.into());
    if let Some(Value::String(loc)) = info.get("location").cloned() {
        info.insert("location".into(), urljoin(&masked, &loc).into());
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tend_module_api::args::{from_args, ArgMode};

    fn params(v: Value) -> UriParams {
        from_args(&v, ArgMode::Run).expect("params")
    }

    #[test]
    fn bodies_are_encoded_as_ansible() {
        let p = params(json!({"url": "http://h/", "body": {"a": 1, "b": [true, "x"]}, "body_format": "json"}));
        let (body, headers) = body_and_headers(&p).expect("body");
        assert_eq!(body.as_deref(), Some(&b"{\"a\": 1, \"b\": [true, \"x\"]}"[..]));
        assert_eq!(headers, vec![("Content-Type".into(), "application/json".into())]);
        let p = params(json!({"url": "http://h/", "body": {"name": "a b&c", "tags": ["x", "y"], "n": 3}, "body_format": "form-urlencoded", "headers": {"content-type": "text/x"}}));
        let (body, headers) = body_and_headers(&p).expect("body");
        assert_eq!(
            String::from_utf8(body.expect("body")).expect("utf8"),
            "name=a+b%26c&tags=x&tags=y&n=3"
        );
        assert_eq!(headers.len(), 1);
        let p = params(json!({"url": "http://h/", "body": "raw text"}));
        assert_eq!(body_and_headers(&p).expect("raw").0.as_deref(), Some(&b"raw text"[..]));
    }

    #[test]
    fn response_values_follow_ansible() {
        let p = params(json!({"url": "http://h:1/a/b"}));
        let r = Response {
            status: 302,
            reason: "Found".into(),
            headers: vec![
                ("location".into(), "c".into()),
                ("content-type".into(), "application/problem+json; charset=utf-8".into()),
                ("set-cookie".into(), "s=1; Path=/, t=2".into()),
            ],
            url: "http://h:1/a/b".into(),
            ..Response::default()
        };
        let v = response_values(&p, &r, 0);
        assert_eq!(v["location"], "http://h:1/a/c");
        assert_eq!(v["content_type"], "application/problem+json; charset=utf-8");
        assert_eq!(v["redirected"], false);
        assert_eq!(v["msg"], "HTTP Error 302: Found");
        assert!(v.get("cookies").is_none(), "urllib gives no cookies for an HTTPError");
        let ok = Response { status: 200, ..r.clone() };
        let v = response_values(&p, &ok, 0);
        assert_eq!(v["cookies"], json!({"s": "1", "t": "2"}));
        assert_eq!(v["cookies_string"], "s=1; t=2");
        assert!(is_json(&r));
        assert_eq!(urljoin("http://h/x/y?q", "/z"), "http://h/z");
        assert_eq!(urljoin("http://h/x/y", "https://o/"), "https://o/");
        assert_eq!(python_list(&[200, 201]), "[200, 201]");
    }
}
