//! HTTP requests made *on the host* with `curl`, for `get_url` and `uri`.
//!
//! Everything about the request (URL, headers, credentials, body) travels to `curl` as a
//! config file on standard input (`curl -K -`), so no secret appears on a command line. The
//! response's status, reason, headers (of the last response, after redirects), final URL and,
//! when asked, its body come back in one report.

use tend_module_api::{Host, ModuleError};

use crate::attrs::{Report, CONTENT_MARKER};

/// Where the response body goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyTo {
    /// Nowhere (HEAD-like uses, or bodies nobody reads).
    Discard,
    /// Returned in [`Response::body`].
    Report,
    /// A file on the host, named by a shell expression (`"$tmp"`); created even when empty.
    File(String),
    /// A file, and also returned.
    FileAndReport(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    pub url: &'a str,
    pub method: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    /// Send credentials with the first request rather than after a 401 challenge.
    pub force_basic_auth: bool,
    pub follow_redirects: bool,
    /// Seconds; for connecting and for a stalled transfer.
    pub timeout: u64,
    pub validate_certs: bool,
    /// A shell expression naming a file whose mtime becomes `If-Modified-Since`.
    pub if_modified_since: Option<String>,
    pub body_to: BodyTo,
    pub http_agent: &'a str,
    /// Ignore the host's proxy settings.
    pub no_proxy: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Response {
    /// HTTP status; `-1` when there was no response (Ansible's value).
    pub status: i64,
    /// The status line's reason phrase (`Not Found`).
    pub reason: String,
    /// Header names lowercased, repeated headers joined with `, ` (as Ansible's `info`).
    pub headers: Vec<(String, String)>,
    pub url: String,
    pub body: Option<Vec<u8>>,
    /// curl's complaint when there was no response.
    pub error: Option<String>,
    /// Everything the script printed (lines the caller's prelude printed, too).
    pub report: Report,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Ansible's `info['msg']`.
    pub fn msg(&self) -> String {
        if self.status == -1 {
            return self.failure_msg();
        }
        if (200..300).contains(&self.status) {
            format!(
                "OK ({} bytes)",
                self.header("content-length").unwrap_or("unknown")
            )
        } else {
            format!("HTTP Error {}: {}", self.status, self.reason)
        }
    }

    /// What Ansible says when no response came, from curl's error.
    fn failure_msg(&self) -> String {
        let err = self.error.as_deref().unwrap_or("").trim();
        let reason = if err.contains("Connection refused") || err.contains("Failed to connect") {
            "[Errno 111] Connection refused".to_string()
        } else if err.contains("timed out") || err.contains("Timeout") {
            "timed out".to_string()
        } else if err.contains("resolve host") {
            "[Errno -2] Name or service not known".to_string()
        } else {
            err.strip_prefix("curl: ")
                .map(|e| e.split_once(") ").map_or(e, |(_, rest)| rest))
                .unwrap_or(err)
                .to_string()
        };
        format!("Request failed: <urlopen error {reason}>")
    }
}

/// A value in a curl config file: double-quoted with curl's escapes.
fn conf(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The curl config for a request.
pub(crate) fn curl_config(req: &Request<'_>) -> Result<String, ModuleError> {
    let mut c = String::new();
    c.push_str(&format!("url = {}\n", conf(req.url)));
    match req.method {
        "HEAD" => c.push_str("head\n"),
        "GET" if req.body.is_none() => {}
        m => c.push_str(&format!("request = {}\n", conf(m))),
    }
    c.push_str(&format!("user-agent = {}\n", conf(req.http_agent)));
    for (k, v) in &req.headers {
        if v.is_empty() {
            // `Name;` sends an empty header (`Name:` alone would remove it).
            c.push_str(&format!("header = {}\n", conf(&format!("{k};"))));
        } else {
            c.push_str(&format!("header = {}\n", conf(&format!("{k}: {v}"))));
        }
    }
    if let Some(user) = req.user {
        let pass = req.password.unwrap_or("");
        c.push_str(&format!("user = {}\n", conf(&format!("{user}:{pass}"))));
        c.push_str(if req.force_basic_auth {
            "basic\n"
        } else {
            "anyauth\n"
        });
    }
    if let Some(body) = &req.body {
        let text = std::str::from_utf8(body).map_err(|_| {
            ModuleError::failed("a request body that is not UTF-8 text is not supported by tend")
        })?;
        if text.contains('\0') {
            return Err(ModuleError::failed(
                "a request body holding NUL bytes is not supported by tend",
            ));
        }
        c.push_str(&format!("data-binary = {}\n", conf(text)));
    }
    if req.follow_redirects {
        c.push_str("location\n");
    }
    if req.no_proxy {
        c.push_str("noproxy = \"*\"\n");
    }
    if !req.validate_certs {
        c.push_str("insecure\n");
    }
    c.push_str(&format!("connect-timeout = {}\n", req.timeout.max(1)));
    c.push_str(&format!(
        "speed-time = {}\nspeed-limit = 1\n",
        req.timeout.max(1)
    ));
    Ok(c)
}

/// Runs the request on the host. `prelude` runs first in the same script (it may set `$tmp`
/// for [`BodyTo::File`]); the script removes its own scratch files whatever happens.
pub(crate) async fn request(
    host: &Host,
    req: &Request<'_>,
    prelude: &str,
) -> Result<Response, ModuleError> {
    let config = curl_config(req)?;
    let out_file = match &req.body_to {
        BodyTo::Discard | BodyTo::Report => "\"$__t/body\"".to_string(),
        BodyTo::File(f) | BodyTo::FileAndReport(f) => f.clone(),
    };
    let ims = match &req.if_modified_since {
        Some(f) => format!("-z {f} "),
        None => String::new(),
    };
    let cat_body = match &req.body_to {
        BodyTo::Report | BodyTo::FileAndReport(_) => {
            format!("echo {CONTENT_MARKER}; if [ -f {out_file} ]; then cat {out_file}; fi; ")
        }
        _ => String::new(),
    };
    let script = format!(
        "umask 077; __t=$(mktemp -d \"${{TMPDIR:-/tmp}}/tend-http.XXXXXXXX\") || exit 1; \
         trap 'rm -rf -- \"$__t\"' EXIT HUP INT TERM; \
         {prelude}\
         if ! command -v curl >/dev/null 2>&1; then echo nocurl; exit 0; fi; \
         w=$(curl -K - -sS {ims}-o {out_file} -D \"$__t/h\" -w '%{{http_code}} %{{url_effective}}' 2>\"$__t/e\"); \
         printf 'rc:%s\\n' $?; printf 'w:%s\\n' \"$w\"; \
         printf 'err:%s\\n' \"$(tr '\\n' ' ' < \"$__t/e\")\"; \
         if [ -f \"$__t/h\" ]; then sed 's/^/hdr:/' \"$__t/h\"; fi; \
         {cat_body}"
    );
    let out = host.sh_with_stdin(&script, config.as_bytes()).await?;
    if !out.success() {
        return Err(ModuleError::failed(format!(
            "could not run the request on the host: {}",
            out.stderr_lossy().trim()
        )));
    }
    let report = Report::parse(&out.stdout);
    if report.has("nocurl") {
        return Err(ModuleError::failed(
            "tend needs curl on the host for HTTP requests (it is not installed)",
        ));
    }
    Ok(parse_response(&report, &out.stdout))
}

fn parse_response(report: &Report, _raw: &[u8]) -> Response {
    let (code, url) = report
        .get("w")
        .and_then(|w| w.split_once(' '))
        .map(|(c, u)| (c.parse::<i64>().unwrap_or(0), u.to_string()))
        .unwrap_or((0, String::new()));
    // The last response block is the one that counts (after redirects and 100 Continue).
    let mut blocks: Vec<Vec<String>> = Vec::new();
    for line in report.all("hdr") {
        let line = line.trim_end_matches('\r');
        if line.starts_with("HTTP/") {
            blocks.push(vec![line.to_string()]);
        } else if !line.is_empty() {
            if let Some(b) = blocks.last_mut() {
                b.push(line.to_string());
            }
        }
    }
    let last = blocks.pop().unwrap_or_default();
    let reason = last
        .first()
        .map(|s| s.splitn(3, ' ').nth(2).unwrap_or("").to_string())
        .unwrap_or_default();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in last.iter().skip(1) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim().to_string();
        match headers.iter_mut().find(|(name, _)| *name == k) {
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(&v);
            }
            None => headers.push((k, v)),
        }
    }
    let status = if code == 0 { -1 } else { code };
    let error = report
        .get("err")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string);
    Response {
        status,
        reason,
        headers,
        url,
        body: report.content.clone(),
        error,
        report: report.clone(),
    }
}

/// Python's `os.path.basename(urlsplit(url).path)`, or `index.html`.
pub(crate) fn url_filename(url: &str) -> String {
    let without_fragment = url.split('#').next().unwrap_or(url);
    let without_query = without_fragment
        .split('?')
        .next()
        .unwrap_or(without_fragment);
    let path = match without_query.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |at| &rest[at..]),
        None => without_query,
    };
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() {
        "index.html".into()
    } else {
        name.to_string()
    }
}

/// Ansible's `mask_url`: the password in `user:pass@host` replaced.
pub(crate) fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, hostpart)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:********")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}@{hostpart}{}", &rest[authority_end..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_quotes_and_auth() {
        let req = Request {
            url: "http://127.0.0.1:1/a b",
            method: "POST",
            headers: vec![("X-A".into(), "v\"1".into()), ("X-Empty".into(), "".into())],
            body: Some(b"{\"k\": \"a\\nb\"}\n".to_vec()),
            user: Some("u"),
            password: Some("p:w"),
            force_basic_auth: true,
            follow_redirects: false,
            timeout: 10,
            validate_certs: true,
            if_modified_since: None,
            body_to: BodyTo::Report,
            http_agent: "ansible-httpget",
            no_proxy: false,
        };
        let c = curl_config(&req).expect("config");
        assert!(c.contains("url = \"http://127.0.0.1:1/a b\"\n"));
        assert!(c.contains("request = \"POST\"\n"));
        assert!(c.contains("header = \"X-A: v\\\"1\"\n"));
        assert!(c.contains("header = \"X-Empty;\"\n"));
        assert!(c.contains("user = \"u:p:w\"\nbasic\n"));
        assert!(c.contains("data-binary = \"{\\\"k\\\": \\\"a\\\\nb\\\"}\\n\"\n"));
        assert!(!c.contains("location"));
    }

    #[test]
    fn responses_take_the_last_block() {
        let out = b"rc:0\nw:200 http://h/b\nerr:\nhdr:HTTP/1.0 302 Found\r\nhdr:Location: /b\r\nhdr:\r\n\
hdr:HTTP/1.0 200 OK\r\nhdr:Content-Type: text/plain\r\nhdr:Set-Cookie: a=1\r\nhdr:Set-Cookie: b=2\r\nhdr:Content-Length: 3\r\nhdr:\r\n__TEND_CONTENT__\nabc";
        let r = parse_response(&Report::parse(out), out);
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.url, "http://h/b");
        assert_eq!(r.header("set-cookie"), Some("a=1, b=2"));
        assert_eq!(r.msg(), "OK (3 bytes)");
        assert_eq!(r.body.as_deref(), Some(&b"abc"[..]));
        let out = b"rc:7\nw:000 http://h/\nerr:curl: (7) Failed to connect to h port 1: Connection refused \n";
        let r = parse_response(&Report::parse(out), out);
        assert_eq!(r.status, -1);
        assert_eq!(
            r.msg(),
            "Request failed: <urlopen error [Errno 111] Connection refused>"
        );
    }

    #[test]
    fn url_names_and_masks() {
        assert_eq!(url_filename("http://h/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(url_filename("http://h/"), "index.html");
        assert_eq!(url_filename("http://h"), "index.html");
        assert_eq!(mask_url("http://u:p@h/x"), "http://u:********@h/x");
        assert_eq!(mask_url("http://h/x"), "http://h/x");
    }
}
