//! `authorized_key`: SSH public keys in a user's `authorized_keys` file.
//!
//! ```yaml
//! - name: Deploy can log in with its key
//!   ansible.posix.authorized_key:
//!     user: deploy
//!     key: "{{ lookup('file', 'files/deploy.pub') }}"
//!
//! - name: Restricted key, in a file sshd reads from /etc
//!   ansible.posix.authorized_key:
//!     user: backup
//!     key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... backup@vault
//!     key_options: 'from="127.0.0.1",no-pty,command="/usr/local/bin/backup"'
//!     path: /etc/ssh/authorized_keys/backup
//!     manage_dir: false
//!
//! - name: Only these keys for root (one per line)
//!   ansible.posix.authorized_key:
//!     user: root
//!     key: "{{ admin_keys | join('\n') }}"
//!     exclusive: true
//! ```
//!
//! The logic is `ansible.posix.authorized_key`, step for step: the file (`~USER/.ssh/
//! authorized_keys` unless `path`) is parsed into keys by their base64 blob, each with its
//! type, options and comment; every non-empty line of `key` not starting with `#` is a key to
//! put in (after the existing ones, in the given order) or take out. A key already there with
//! other options or another comment is replaced. `exclusive` removes every other line,
//! comments included. When anything changes, the whole file is written back in Ansible's
//! normal form (`options type blob comment`, a space after the blob even without a comment)
//! through a temporary file renamed over it; before that, with `manage_dir`, the key file's
//! directory is created `0700` (and made `0700`, owned by the user), and the key file is made
//! `0600` and owned by the user. `follow` writes through a symlinked key file instead of
//! replacing the link. A `key` starting with `http` is fetched on the host with `curl` or
//! `wget`; one starting with `file` names a file on the host to read the keys from.
//!
//! Returns the parameters and `keyfile` as Ansible does. The diff shows the file before and
//! after.
//!
//! Differences from Ansible: an existing key line with nothing after its type (a broken line)
//! fails the task with a message rather than a Python traceback.

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{quote, Context, Diff, Module, ModuleError, Outcome, Planned, WriteOptions};

use crate::attrs;
use crate::pytext::lines_with_ends;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    #[default]
    Present,
    Absent,
}

impl KeyState {
    fn name(self) -> &'static str {
        match self {
            KeyState::Present => "present",
            KeyState::Absent => "absent",
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizedKeyParams {
    /// The user whose `authorized_keys` file is edited.
    pub user: String,
    /// One or more public keys (one per line), an `http(s)` URL or a `file:` path on the host.
    pub key: String,
    /// Another key file than `~USER/.ssh/authorized_keys`.
    pub path: Option<String>,
    /// Create the key file's directory and give it mode `0700` and the user as owner.
    #[serde(default = "yes")]
    pub manage_dir: bool,
    /// `present` (the default) or `absent`.
    #[serde(default)]
    pub state: KeyState,
    /// SSH key options to put before the key (replacing those in `key`).
    pub key_options: Option<String>,
    /// Remove every key (and line) that is not in `key`.
    #[serde(default)]
    pub exclusive: bool,
    /// The comment after the key (replacing the one in `key`).
    pub comment: Option<String>,
    /// Check the TLS certificate when `key` is an `https` URL.
    #[serde(default = "yes")]
    pub validate_certs: bool,
    /// Write through a symlinked key file instead of replacing the link.
    #[serde(default)]
    pub follow: bool,
}

pub struct AuthorizedKeyModule;

/// The user's passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyObserved {
    /// `path` with `~` expanded.
    pub path: Option<String>,
    pub passwd: Option<Passwd>,
    /// The key file (not following a link).
    pub keyfile: String,
    /// The key file with links resolved (`follow`).
    pub real: String,
    /// The key file's text ("" when it is not a regular file).
    pub content: String,
    /// The keys, when `key` named a URL or a file on the host.
    pub fetched: Option<String>,
    /// What is at `path` now (Ansible adds it to a result that has a `path`).
    pub path_info: serde_json::Map<String, Value>,
}

#[derive(Debug)]
pub struct KeyAction {
    /// The path written (links resolved with `follow`).
    filename: String,
    /// The key file's directory, managed with `manage_dir`.
    sshdir: String,
    uid: u32,
    gid: u32,
    content: String,
    outcome: Outcome,
}

/// Why the key source could not be read (exit statuses of the query script).
const FETCH_FAILED: i32 = 41;
const SOURCE_MISSING: i32 = 42;
const SOURCE_IS_DIR: i32 = 43;
const SOURCE_UNREADABLE: i32 = 44;

#[async_trait]
impl Module for AuthorizedKeyModule {
    type Params = AuthorizedKeyParams;
    type Observed = KeyObserved;
    type Action = KeyAction;

    const NAME: &'static str = "authorized_key";

    async fn query(
        &self,
        params: &AuthorizedKeyParams,
        ctx: &Context<'_>,
    ) -> Result<KeyObserved, ModuleError> {
        let mut script = format!(
            "u={}; if pw=$(getent passwd -- \"$u\" 2>/dev/null); then printf 'pw:%s\\n' \"$pw\"; fi; ",
            quote(&params.user)
        );
        if let Some(path) = &params.path {
            script.push_str(&attrs::assign("p", path));
            script.push_str("printf 'path:%s\\n' \"$p\"; ");
            script.push_str(&attrs::probe("pi", "p"));
        }
        let source = key_source(&params.key);
        match &source {
            Some(Source::Url(url)) => {
                let (curl_k, wget_k) = if params.validate_certs {
                    ("", "")
                } else {
                    ("-k ", "--no-check-certificate ")
                };
                script.push_str(&format!(
                    "url={}; if command -v curl >/dev/null 2>&1; then k=$(curl -fsSL {curl_k}-- \"$url\") || exit {FETCH_FAILED}; \
                     elif command -v wget >/dev/null 2>&1; then k=$(wget -q -O - {wget_k}-- \"$url\") || exit {FETCH_FAILED}; \
                     else exit {FETCH_FAILED}; fi; \
                     printf '%s\\n' \"$k\" | sed 's/^/fetched:/'; ",
                    quote(url)
                ));
            }
            Some(Source::File(path)) => {
                script.push_str(&format!(
                    "kp={}; [ -e \"$kp\" ] || exit {SOURCE_MISSING}; [ -f \"$kp\" ] || exit {SOURCE_IS_DIR}; \
                     k=$(cat -- \"$kp\") || exit {SOURCE_UNREADABLE}; printf '%s\\n' \"$k\" | sed 's/^/fetched:/'; ",
                    quote(path)
                ));
            }
            None => {}
        }
        let out = ctx.host.sh(&script).await?;
        let code = out.exit_code;
        let source_error = match (&source, code) {
            (Some(Source::Url(_)), FETCH_FAILED) => {
                Some(format!("Error getting key from: {}", params.key))
            }
            (Some(Source::File(p)), SOURCE_MISSING) => {
                Some(format!("Path to a key file not found: {p}"))
            }
            (Some(Source::File(p)), SOURCE_IS_DIR) => Some(format!(
                "Path to a key is a directory and must be a file: {p}"
            )),
            (Some(Source::File(p)), SOURCE_UNREADABLE) => {
                Some(format!("Failed to read key file {p} : permission denied"))
            }
            _ => None,
        };
        if let Some(msg) = source_error {
            return Err(ModuleError::failed(msg));
        }
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_lossy().trim().to_string()));
        }
        let report = attrs::Report::parse(&out.stdout);
        let passwd = report.get("pw").and_then(parse_passwd);
        let path = report.get("path").map(str::to_string);
        let path_info = if path.is_some() {
            report
                .probe("pi")?
                .entry
                .as_ref()
                .map(attrs::path_info)
                .unwrap_or_default()
        } else {
            serde_json::Map::new()
        };
        let fetched = source.is_some().then(|| {
            let text = String::from_utf8_lossy(&out.stdout);
            text.lines()
                .filter_map(|l| l.strip_prefix("fetched:"))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        });
        let keyfile = match (&path, &passwd) {
            (Some(p), _) => p.clone(),
            (None, Some(pw)) => format!("{}/authorized_keys", ssh_dir(&pw.home)),
            // No such user: plan fails with Ansible's message.
            (None, None) => {
                return Ok(KeyObserved {
                    path,
                    passwd,
                    fetched,
                    path_info,
                    ..KeyObserved::default()
                })
            }
        };
        let k = quote(&keyfile);
        let out = ctx
            .host
            .sh(&format!(
                "r=$(realpath -m -- {k} 2>/dev/null) || r={k}; printf 'real:%s\\n' \"$r\"; \
                 if [ -f {k} ]; then echo {}; exec cat -- {k}; fi",
                attrs::CONTENT_MARKER
            ))
            .await?;
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_lossy().trim().to_string()));
        }
        let report = attrs::Report::parse(&out.stdout);
        Ok(KeyObserved {
            real: report.get("real").unwrap_or(&keyfile).to_string(),
            content: report
                .content
                .as_deref()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .unwrap_or_default(),
            keyfile,
            path,
            passwd,
            fetched,
            path_info,
        })
    }

    fn plan(
        &self,
        params: &AuthorizedKeyParams,
        observed: KeyObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<KeyAction>, ModuleError> {
        plan_with(params, observed, ctx.check_mode, ctx.diff)
    }

    async fn apply(
        &self,
        params: &AuthorizedKeyParams,
        action: KeyAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let KeyAction {
            filename,
            sshdir,
            uid,
            gid,
            content,
            outcome,
        } = action;
        // Ansible's keyfile(write=True): the directory, then an empty key file with the
        // user's ownership and 0600, which the atomic write then keeps.
        let mut script = String::from("set -e; ");
        if params.manage_dir {
            script.push_str(&format!(
                "d={}; [ -e \"$d\" ] || mkdir -m 0700 -- \"$d\"; chown {uid}:{gid} -- \"$d\"; chmod 0700 -- \"$d\"; ",
                quote(&sshdir)
            ));
        }
        script.push_str(&format!(
            "f={}; if [ ! -e \"$f\" ]; then b=$(dirname -- \"$f\"); [ -e \"$b\" ] || mkdir -p -- \"$b\"; : > \"$f\"; fi; \
             chown {uid}:{gid} -- \"$f\" 2>/dev/null || true; chmod 0600 -- \"$f\" 2>/dev/null || true",
            quote(&filename)
        ));
        ctx.host.sh_ok(&script).await?;
        ctx.host
            .write_file_atomic(&filename, content.as_bytes(), &WriteOptions::default())
            .await?;
        let mut outcome = outcome;
        if let Some(path) = outcome.values.get("path").and_then(Value::as_str) {
            let info = attrs::path_info_on(ctx.host, path).await?;
            outcome.values.extend(info);
        }
        Ok(outcome)
    }
}

tend_module_api::register_module!(AuthorizedKeyModule);

/// Where `key` says the keys come from, if not from itself.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Url(String),
    /// A path on the host (`urlparse(key).path`).
    File(String),
}

fn key_source(key: &str) -> Option<Source> {
    if key.starts_with("http") {
        return Some(Source::Url(key.to_string()));
    }
    if !key.starts_with("file") {
        return None;
    }
    // urlparse(key).path: after the scheme and the `//netloc`, before `?` and `#`.
    let rest = key.strip_prefix("file:").unwrap_or(key);
    let rest = match rest.strip_prefix("//") {
        Some(after) => after.find('/').map_or("", |at| &after[at..]),
        None => rest,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    Some(Source::File(rest[..end].to_string()))
}

fn parse_passwd(line: &str) -> Option<Passwd> {
    let fields: Vec<&str> = line.split(':').collect();
    Some(Passwd {
        uid: fields.get(2)?.parse().ok()?,
        gid: fields.get(3)?.parse().ok()?,
        home: (*fields.get(5)?).to_string(),
    })
}

/// `os.path.join(home, ".ssh")`.
fn ssh_dir(home: &str) -> String {
    if home.is_empty() {
        ".ssh".to_string()
    } else if home.ends_with('/') {
        format!("{home}.ssh")
    } else {
        format!("{home}/.ssh")
    }
}

/// `os.path.dirname`.
fn dirname(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".to_string(),
        Some(at) => {
            let head = &path[..at];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                head.to_string()
            } else {
                trimmed.to_string()
            }
        }
        None => String::new(),
    }
}

/// Ansible's `keydict`: options in order, a name possibly more than once.
#[derive(Debug, Clone, Default)]
struct Options(Vec<(String, Option<String>)>);

impl PartialEq for Options {
    /// `dict.__eq__` on the keydict: the same names with the same values per name, in any
    /// order of names.
    fn eq(&self, other: &Self) -> bool {
        fn group(o: &Options) -> std::collections::BTreeMap<&str, Vec<Option<&str>>> {
            let mut map: std::collections::BTreeMap<&str, Vec<Option<&str>>> =
                std::collections::BTreeMap::new();
            for (k, v) in &o.0 {
                map.entry(k.as_str()).or_default().push(v.as_deref());
            }
            map
        }
        group(self) == group(other)
    }
}

/// `parseoptions`: split on commas outside quotes.
fn parse_options(options: Option<&str>) -> Options {
    let mut out = Options::default();
    let Some(options) = options.filter(|o| !o.is_empty()) else {
        return out;
    };
    let Ok(re) = Regex::new(r#"((?:[^,"']|"[^"]*"|'[^']*')+)"#) else {
        return out;
    };
    // re.split with one group: [before, m1, between, m2, ..., after]; [1:-1] drops the ends.
    let mut parts: Vec<&str> = Vec::new();
    let mut last = 0;
    for m in re.find_iter(options) {
        parts.push(&options[last..m.start()]);
        parts.push(m.as_str());
        last = m.end();
    }
    parts.push(&options[last..]);
    if parts.len() < 2 {
        return out;
    }
    for part in &parts[1..parts.len() - 1] {
        if let Some((k, v)) = part.split_once('=') {
            out.0.push((k.to_string(), Some(v.to_string())));
        } else if *part != "," {
            out.0.push((part.to_string(), None));
        }
    }
    out
}

const KEY_TYPES: &[&str] = &[
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-dss",
    "ssh-rsa",
    "ssh-xmss@openssh.com",
    "ssh-xmss-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
];

/// One line of a key file, or one wanted key: Ansible's `(key, type, options, comment, rank)`.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    /// The base64 blob; for a line that is no key, the line itself.
    id: String,
    /// `None` for a line kept as it is (`'skipped'`).
    kind: Option<String>,
    options: Options,
    comment: String,
    rank: usize,
}

impl Key {
    fn skipped(line: &str, rank: usize) -> Key {
        Key {
            id: line.to_string(),
            kind: None,
            options: Options::default(),
            comment: String::new(),
            rank,
        }
    }

    /// Everything but the rank (`key[:4]`).
    fn same(&self, other: &Key) -> bool {
        self.id == other.id
            && self.kind == other.kind
            && self.options == other.options
            && self.comment == other.comment
    }

    fn serialize(&self) -> String {
        let Some(kind) = &self.kind else {
            return self.id.clone();
        };
        let mut options = self
            .options
            .0
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect::<Vec<_>>()
            .join(",");
        if !self.options.0.is_empty() {
            options.push(' ');
        }
        format!("{options}{kind} {} {}\n", self.id, self.comment)
    }
}

/// `parsekey`: `Ok(None)` for a line without a known key type.
fn parse_key(raw: &str, rank: usize) -> Result<Option<Key>, ModuleError> {
    let raw = raw.replace(r"\#", "#");
    let parts: Vec<&str> = raw
        .split([' ', '\t', '\r', '\n'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.first() == Some(&"#") {
        return Ok(Some(Key::skipped(&raw, rank)));
    }
    let Some(at) = parts.iter().position(|p| KEY_TYPES.contains(p)) else {
        return Ok(None);
    };
    let options = (at > 0).then(|| parts[..at].join(" "));
    let Some(blob) = parts.get(at + 1) else {
        return Err(ModuleError::failed(format!(
            "invalid key line (no key after its type): {}",
            raw.trim_end()
        )));
    };
    Ok(Some(Key {
        id: (*blob).to_string(),
        kind: Some(parts[at].to_string()),
        options: parse_options(options.as_deref()),
        comment: parts[at + 2..].join(" "),
        rank,
    }))
}

/// A Python dict of keys by id: insertion order kept, re-assignment in place.
#[derive(Debug, Default)]
struct KeyMap(Vec<Key>);

impl KeyMap {
    fn get(&self, id: &str) -> Option<&Key> {
        self.0.iter().find(|k| k.id == id)
    }

    fn set(&mut self, key: Key) {
        match self.0.iter_mut().find(|k| k.id == key.id) {
            Some(slot) => *slot = key,
            None => self.0.push(key),
        }
    }

    fn remove(&mut self, id: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|k| k.id != id);
        self.0.len() != before
    }

    /// `serialize`: by rank, ties in dict order (Python's sort is stable).
    fn serialize(&self) -> String {
        let mut keys: Vec<&Key> = self.0.iter().collect();
        keys.sort_by_key(|k| k.rank);
        keys.iter().map(|k| k.serialize()).collect()
    }
}

fn parse_keys(text: &str) -> Result<KeyMap, ModuleError> {
    let mut map = KeyMap::default();
    for (rank, line) in lines_with_ends(text).into_iter().enumerate() {
        match parse_key(line, rank)? {
            Some(key) => map.set(key),
            None => map.set(Key::skipped(line, rank)),
        }
    }
    Ok(map)
}

/// The parameters as Ansible returns them, with `keyfile`.
fn described(params: &AuthorizedKeyParams, observed: &KeyObserved, keyfile: &str) -> Outcome {
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    Outcome::ok()
        .with_value("user", params.user.clone())
        .with_value("key", params.key.clone())
        .with_value(
            "path",
            observed
                .path
                .clone()
                .map_or(Value::Null, Value::String),
        )
        .with_value("manage_dir", params.manage_dir)
        .with_value("state", params.state.name())
        .with_value("key_options", opt(&params.key_options))
        .with_value("exclusive", params.exclusive)
        .with_value("comment", opt(&params.comment))
        .with_value("validate_certs", params.validate_certs)
        .with_value("follow", params.follow)
        .with_value("keyfile", keyfile.to_string())
        .with_path_info(&observed.path_info)
}

trait WithPathInfo {
    fn with_path_info(self, info: &serde_json::Map<String, Value>) -> Self;
}

impl WithPathInfo for Outcome {
    /// Ansible's `add_path_info`: the file's attributes, its kind replacing `state`.
    fn with_path_info(mut self, info: &serde_json::Map<String, Value>) -> Self {
        self.values
            .extend(info.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }
}

/// Ansible's `enforce_state`. Pure.
fn plan_with(
    params: &AuthorizedKeyParams,
    observed: KeyObserved,
    check_mode: bool,
    want_diff: bool,
) -> Result<Planned<KeyAction>, ModuleError> {
    let key_text = observed.fetched.as_deref().unwrap_or(&params.key);
    let new_keys: Vec<&str> = key_text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .collect();

    // keyfile(): in check mode a given path needs no user.
    let checked_path = check_mode && observed.path.is_some();
    if observed.passwd.is_none() && !checked_path {
        if check_mode {
            return Err(ModuleError::failed(
                "Either user must exist or you must provide full path to key file in check mode",
            ));
        }
        return Err(ModuleError::failed(format!(
            "Failed to lookup user {}: \"getpwnam(): name not found: '{}'\"",
            params.user, params.user
        )));
    }
    let keyfile = observed.keyfile.clone();
    let before = observed.content.clone();
    let mut existing = parse_keys(&before)?;
    let max_rank = existing.0.len();
    let mut keys_to_exist: Vec<String> = Vec::new();
    let mut do_write = false;

    for (rank, new_key) in new_keys.iter().enumerate() {
        let Some(mut parsed) = parse_key(new_key, rank)? else {
            return Err(ModuleError::failed(format!(
                "invalid key specified: {new_key}"
            )));
        };
        if let Some(options) = &params.key_options {
            parsed.options = parse_options(Some(options));
        }
        if let Some(comment) = &params.comment {
            parsed.comment = comment.clone();
        }
        let mut matched = false;
        let mut replaced = None;
        if let Some(old) = existing.get(&parsed.id) {
            if !parsed.same(old) && params.state == KeyState::Present {
                replaced = Some(old.id.clone());
            } else {
                matched = true;
            }
        }
        match params.state {
            KeyState::Present => {
                keys_to_exist.push(parsed.id.clone());
                if let Some(id) = replaced {
                    if existing.remove(&id) {
                        do_write = true;
                    }
                }
                if !matched {
                    parsed.rank += max_rank;
                    existing.set(parsed);
                    do_write = true;
                }
            }
            KeyState::Absent => {
                if matched {
                    existing.remove(&parsed.id);
                    do_write = true;
                }
            }
        }
    }
    if params.state == KeyState::Present && params.exclusive {
        let before_len = existing.0.len();
        existing.0.retain(|k| keys_to_exist.contains(&k.id));
        if existing.0.len() != before_len {
            do_write = true;
        }
    }

    if !do_write {
        return Ok(Planned::Done(described(params, &observed, &keyfile)));
    }
    let filename = if params.follow {
        observed.real.clone()
    } else {
        keyfile.clone()
    };
    let content = existing.serialize();
    let mut outcome = described(params, &observed, &keyfile);
    outcome.changed = true;
    if want_diff && before != content {
        outcome.diffs.push(Diff {
            before_header: format!("before: {keyfile}"),
            after_header: format!("after: {filename}"),
            before,
            after: content.clone(),
        });
    }
    let sshdir = match (&observed.path, &observed.passwd) {
        (Some(p), _) => dirname(p),
        (None, Some(pw)) => ssh_dir(&pw.home),
        (None, None) => dirname(&keyfile),
    };
    let (uid, gid) = observed
        .passwd
        .as_ref()
        .map_or((0, 0), |pw| (pw.uid, pw.gid));
    Ok(Planned::Change {
        action: KeyAction {
            filename,
            sshdir,
            uid,
            gid,
            content,
            outcome: outcome.clone(),
        },
        preview: outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaa alice@x";
    const B: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABbbbb bob@y";

    fn params(json: serde_json::Value) -> AuthorizedKeyParams {
        serde_json::from_value(json).expect("params")
    }

    fn observed(content: &str) -> KeyObserved {
        KeyObserved {
            path: None,
            passwd: Some(Passwd {
                uid: 1000,
                gid: 1000,
                home: "/home/u".into(),
            }),
            keyfile: "/home/u/.ssh/authorized_keys".into(),
            real: "/home/u/.ssh/authorized_keys".into(),
            content: content.into(),
            fetched: None,
            path_info: serde_json::Map::new(),
        }
    }

    fn run(p: serde_json::Value, content: &str) -> Option<String> {
        match plan_with(&params(p), observed(content), false, true).expect("plan") {
            Planned::Done(_) => None,
            Planned::Change { action, .. } => Some(action.content),
        }
    }

    #[test]
    fn adds_after_existing_keys_and_normalizes_lines() {
        let got = run(serde_json::json!({"user": "u", "key": B}), &format!("# keys\n{A}"));
        assert_eq!(got, Some(format!("# keys\n{A}\n{B}\n")));
        // Already there: nothing to do, even with extra spaces in the file.
        let spaced = "ssh-rsa   AAAAB3NzaC1yc2EAAAADAQABbbbb   bob@y\n";
        assert_eq!(run(serde_json::json!({"user": "u", "key": B}), spaced), None);
        // No comment: a space after the blob, as Ansible writes it.
        let got = run(
            serde_json::json!({"user": "u", "key": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABbbbb"}),
            "",
        );
        assert_eq!(got.as_deref(), Some("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABbbbb \n"));
    }

    #[test]
    fn options_and_comments_replace_the_old_line() {
        let got = run(
            serde_json::json!({"user": "u", "key": A, "key_options": "no-pty,from=\"127.0.0.1,::1\""}),
            &format!("{A}\n{B}\n"),
        );
        assert_eq!(
            got,
            Some(format!("{B}\nno-pty,from=\"127.0.0.1,::1\" {A}\n"))
        );
        // Options in another order are the same options.
        let line = format!("from=\"127.0.0.1,::1\",no-pty {A}\n");
        assert_eq!(
            run(
                serde_json::json!({"user": "u", "key": A, "key_options": "no-pty,from=\"127.0.0.1,::1\""}),
                &line
            ),
            None
        );
        let got = run(
            serde_json::json!({"user": "u", "key": A, "comment": "new"}),
            &format!("{A}\n"),
        );
        assert_eq!(
            got.as_deref(),
            Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaa new\n")
        );
    }

    #[test]
    fn absent_and_exclusive() {
        let got = run(
            serde_json::json!({"user": "u", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaa other", "state": "absent"}),
            &format!("{A}\n{B}\n"),
        );
        assert_eq!(got, Some(format!("{B}\n")));
        let got = run(
            serde_json::json!({"user": "u", "key": format!("{B}\n\n# c\n{A}\n"), "exclusive": true}),
            &format!("# head\n{A}\n\nssh-dss AAAAold x\n"),
        );
        assert_eq!(got, Some(format!("{A}\n{B}\n")));
        assert_eq!(
            run(serde_json::json!({"user": "u", "key": A, "state": "absent"}), "# x\n"),
            None
        );
    }

    #[test]
    fn errors_and_sources() {
        let err = plan_with(
            &params(serde_json::json!({"user": "u", "key": "garbage"})),
            observed(""),
            false,
            false,
        )
        .expect_err("invalid");
        assert_eq!(err.to_string(), "invalid key specified: garbage");
        let mut nobody = observed("");
        nobody.passwd = None;
        let err = plan_with(
            &params(serde_json::json!({"user": "zed", "key": A})),
            nobody.clone(),
            true,
            false,
        )
        .expect_err("check");
        assert!(err.to_string().starts_with("Either user must exist"));
        let err = plan_with(
            &params(serde_json::json!({"user": "zed", "key": A})),
            nobody,
            false,
            false,
        )
        .expect_err("real");
        assert_eq!(
            err.to_string(),
            "Failed to lookup user zed: \"getpwnam(): name not found: 'zed'\""
        );
        assert_eq!(
            key_source("file:///tmp/k.pub"),
            Some(Source::File("/tmp/k.pub".into()))
        );
        assert_eq!(key_source("file:/a"), Some(Source::File("/a".into())));
        assert_eq!(
            key_source("https://h/u.keys"),
            Some(Source::Url("https://h/u.keys".into()))
        );
        assert_eq!(key_source(A), None);
        assert_eq!(dirname("/etc/ssh/keys/u"), "/etc/ssh/keys");
        assert_eq!(dirname("/x"), "/");
    }

    #[test]
    fn option_splitting_as_python() {
        let o = parse_options(Some("a,b=\"x,y\",c='1,2'"));
        assert_eq!(
            o.0,
            vec![
                ("a".to_string(), None),
                ("b".to_string(), Some("\"x,y\"".to_string())),
                ("c".to_string(), Some("'1,2'".to_string())),
            ]
        );
        assert!(parse_options(Some("")).0.is_empty());
    }
}
