//! Our own `known_hosts` reader, matcher and writer, with the host key policy built on it.
//!
//! russh ships known_hosts helpers, but they ignore markers, negation and most pattern forms, and
//! report nothing useful when a key is refused, so tend reads the files itself, as OpenSSH does.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tend_transport::{HostKeyMode, KnownHostsPolicy};

/// A host public key in SSH wire form: what both known_hosts lines and servers carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// Always starts with a length-prefixed, non-empty UTF-8 type name (checked on creation).
    blob: Vec<u8>,
}

/// The type name at the front of a key blob.
fn blob_type(blob: &[u8]) -> Option<&str> {
    let len_bytes: [u8; 4] = blob.get(..4)?.try_into().ok()?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let name = std::str::from_utf8(blob.get(4..4usize.checked_add(len)?)?).ok()?;
    (!name.is_empty()).then_some(name)
}

impl HostKey {
    /// Reads a key from its wire encoding; the type is the blob's leading string, as OpenSSH
    /// takes it, so a known_hosts line whose type column disagrees with its key still works.
    pub fn from_blob(blob: Vec<u8>) -> Option<HostKey> {
        blob_type(&blob)?;
        Some(HostKey { blob })
    }

    /// Reads the base64 key column of a known_hosts or `.pub` line.
    pub fn from_base64(text: &str) -> Option<HostKey> {
        HostKey::from_blob(STANDARD.decode(text.trim()).ok()?)
    }

    /// The algorithm name, e.g. `ssh-ed25519`.
    pub fn key_type(&self) -> &str {
        blob_type(&self.blob).unwrap_or_default()
    }

    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The fingerprint as `ssh` and `ssh-keygen -l` print it: `SHA256:` and unpadded base64.
    pub fn fingerprint(&self) -> String {
        format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(&self.blob))
        )
    }

    fn to_base64(&self) -> String {
        STANDARD.encode(&self.blob)
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} key {}", self.key_type(), self.fingerprint())
    }
}

/// The name a host goes by in known_hosts: `host` on port 22, `[host]:port` elsewhere.
pub fn host_pattern(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
}

#[derive(Debug, Clone)]
enum Hosts {
    /// `|1|salt|hmac`: HMAC-SHA1 of the host name, keyed with the salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Comma-separated patterns, each maybe negated with `!`, with `*` and `?` wildcards.
    Patterns(Vec<String>),
}

impl Hosts {
    fn parse(field: &str) -> Option<Hosts> {
        if let Some(rest) = field.strip_prefix("|1|") {
            let (salt, hash) = rest.split_once('|')?;
            return Some(Hosts::Hashed {
                salt: STANDARD.decode(salt).ok()?,
                hash: STANDARD.decode(hash).ok()?,
            });
        }
        if field.starts_with('|') {
            // An unknown hash scheme: no host can match it.
            return None;
        }
        Some(Hosts::Patterns(
            field
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_ascii_lowercase)
                .collect(),
        ))
    }

    /// `name` is already in known_hosts form (see [`host_pattern`]) and lower case.
    fn matches(&self, name: &str) -> bool {
        match self {
            Hosts::Hashed { salt, hash } => {
                let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            Hosts::Patterns(patterns) => {
                // As in OpenSSH's match_pattern_list: one negated match vetoes the whole line,
                // whatever else matched.
                let mut matched = false;
                for pattern in patterns {
                    if let Some(negated) = pattern.strip_prefix('!') {
                        if glob_match(negated.as_bytes(), name.as_bytes()) {
                            return false;
                        }
                    } else if glob_match(pattern.as_bytes(), name.as_bytes()) {
                        matched = true;
                    }
                }
                matched
            }
        }
    }
}

/// Shell-style matching with `*` (any run) and `?` (any one byte), nothing else special.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*` when a later literal fails to match.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// One usable line of a known_hosts file.
#[derive(Debug, Clone)]
struct Entry {
    file: PathBuf,
    line: usize,
    marker: Marker,
    hosts: Hosts,
    key: HostKey,
}

/// Where a known_hosts entry lives, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// What the known_hosts files say about a key offered by a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An entry for this host holds exactly this key.
    Known,
    /// Nothing recorded for this host and key type. `other_types` lists the key types that are
    /// recorded for the host, if any.
    Unknown { other_types: Vec<String> },
    /// The host has a recorded key of the same type, and it is a different one.
    Changed { recorded: Location },
    /// The key is listed under `@revoked` for this host.
    Revoked { at: Location },
}

/// The parsed contents of one or more known_hosts files.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// Reads the files in order. A missing file is no error (it is simply empty), as for ssh.
    pub fn load(files: &[PathBuf]) -> Result<KnownHosts, KnownHostsError> {
        let mut known = KnownHosts::default();
        for file in files {
            match fs::read(file) {
                Ok(bytes) => known.add_text(file, &String::from_utf8_lossy(&bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(KnownHostsError::Read {
                        path: file.clone(),
                        source,
                    })
                }
            }
        }
        Ok(known)
    }

    /// Parses the text of one file; lines it cannot use are skipped, as ssh skips them.
    pub fn parse(file: &Path, text: &str) -> KnownHosts {
        let mut known = KnownHosts::default();
        known.add_text(file, text);
        known
    }

    fn add_text(&mut self, file: &Path, text: &str) {
        for (index, line) in text.lines().enumerate() {
            if let Some((marker, hosts, key)) = parse_line(line) {
                self.entries.push(Entry {
                    file: file.to_path_buf(),
                    line: index + 1,
                    marker,
                    hosts,
                    key,
                });
            } else if !is_ignorable(line) {
                tracing::debug!(
                    "{}:{}: skipping unusable known_hosts line",
                    file.display(),
                    index + 1
                );
            }
        }
    }

    fn matching(&self, host: &str, port: u16) -> impl Iterator<Item = &Entry> {
        let name = host_pattern(host, port);
        self.entries
            .iter()
            .filter(move |entry| entry.hosts.matches(&name))
    }

    /// Looks the offered key up for `host` on `port`.
    pub fn check(&self, host: &str, port: u16, key: &HostKey) -> Verdict {
        let entries: Vec<&Entry> = self.matching(host, port).collect();
        let location = |entry: &Entry| Location {
            file: entry.file.clone(),
            line: entry.line,
        };
        if let Some(entry) = entries
            .iter()
            .find(|e| e.marker == Marker::Revoked && e.key == *key)
        {
            return Verdict::Revoked {
                at: location(entry),
            };
        }
        let plain = || entries.iter().filter(|e| e.marker == Marker::None);
        if plain().any(|e| e.key == *key) {
            return Verdict::Known;
        }
        if let Some(entry) = plain().find(|e| e.key.key_type() == key.key_type()) {
            return Verdict::Changed {
                recorded: location(entry),
            };
        }
        Verdict::Unknown {
            other_types: self.known_key_types(host, port),
        }
    }

    /// The key types recorded for the host, in file order, without duplicates. The client asks
    /// the server for these first so that a host known by, say, its RSA key is not refused
    /// for offering an Ed25519 one nobody recorded, as OpenSSH orders its algorithms too.
    pub fn known_key_types(&self, host: &str, port: u16) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for entry in self.matching(host, port) {
            let key_type = entry.key.key_type();
            if entry.marker == Marker::None && !types.iter().any(|t| t == key_type) {
                types.push(key_type.to_owned());
            }
        }
        types
    }
}

fn is_ignorable(line: &str) -> bool {
    let line = line.trim_start();
    line.is_empty() || line.starts_with('#')
}

fn parse_line(line: &str) -> Option<(Marker, Hosts, HostKey)> {
    if is_ignorable(line) {
        return None;
    }
    let mut fields = line.split_ascii_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        // CA keys vouch for host certificates, which tend does not ask servers for.
        "@cert-authority" => return None,
        m if m.starts_with('@') => return None,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    let hosts = Hosts::parse(first)?;
    let _declared_type = fields.next()?;
    let key = HostKey::from_base64(fields.next()?)?;
    Some((marker, hosts, key))
}

/// Failures reading or writing known_hosts files.
#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error("cannot read known_hosts file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot record the host key in {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("host key checking is set to accept new keys, but no known_hosts file is configured to record them in")]
    NoFile,
}

/// Appends `host key-type base64` (or the `[host]:port` form) to `file`, creating the file and
/// its parent directory (mode 0700) when missing.
pub fn append(file: &Path, host: &str, port: u16, key: &HostKey) -> Result<(), KnownHostsError> {
    // Hosts connect concurrently, and a line must never be interleaved with another.
    static APPEND_LOCK: Mutex<()> = Mutex::new(());
    let _guard = APPEND_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let write_error = |source: io::Error| KnownHostsError::Write {
        path: file.to_path_buf(),
        source,
    };
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(write_error)?;
        }
    }
    // A file whose last line lacks its newline would otherwise swallow our entry into it.
    let needs_newline = match fs::read(file) {
        Ok(bytes) => bytes.last().is_some_and(|&b| b != b'\n'),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(write_error(e)),
    };
    let mut line = String::new();
    if needs_newline {
        line.push('\n');
    }
    line.push_str(&format!(
        "{} {} {}\n",
        host_pattern(host, port),
        key.key_type(),
        key.to_base64()
    ));
    let mut out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(write_error)?;
    out.write_all(line.as_bytes()).map_err(write_error)?;
    out.flush().map_err(write_error)
}

/// What happened to a key the policy let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// It was already recorded.
    Known,
    /// It was unknown and has just been recorded in this file.
    Recorded(PathBuf),
    /// Checking is off.
    Unchecked,
}

/// Why a host key was refused. The messages are meant for the person running tend.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error(
        "the {key_type} host key of {name} is unknown (fingerprint {fingerprint}){other}; \
         searched {searched}. If that fingerprint is the host's, accept it with \
         --accept-new-host-keys, or record it with `ssh-keyscan{port_flag} {host} >> {first_file}`",
        name = host_pattern(host, *port),
        key_type = key.key_type(),
        fingerprint = key.fingerprint(),
        other = other_types_note(other_types),
        searched = searched_note(files),
        first_file = first_file_note(files),
        port_flag = if *port == 22 { String::new() } else { format!(" -p {port}") },
    )]
    Unknown {
        host: String,
        port: u16,
        key: HostKey,
        other_types: Vec<String>,
        files: Vec<PathBuf>,
    },
    #[error(
        "REMOTE HOST IDENTIFICATION HAS CHANGED for {name}! The {key_type} key it offered has \
         fingerprint {fingerprint}, which does not match the key recorded at {recorded}. \
         Someone could be intercepting the connection (man-in-the-middle), or the host key was \
         replaced. If the change is expected, remove the old entry with \
         `ssh-keygen -R '{name}' -f {file}` and connect again",
        key_type = key.key_type(),
        fingerprint = key.fingerprint(),
        file = recorded.file.display(),
    )]
    Changed {
        name: String,
        key: HostKey,
        recorded: Location,
    },
    #[error(
        "the {key_type} key offered by {name} (fingerprint {fingerprint}) is marked @revoked at \
         {at}; refusing to connect",
        key_type = key.key_type(),
        fingerprint = key.fingerprint(),
    )]
    Revoked {
        name: String,
        key: HostKey,
        at: Location,
    },
    #[error(transparent)]
    Files(#[from] KnownHostsError),
}

fn other_types_note(types: &[String]) -> String {
    if types.is_empty() {
        String::new()
    } else {
        format!("; only {} recorded for it", types.join(", "))
    }
}

fn searched_note(files: &[PathBuf]) -> String {
    if files.is_empty() {
        "no known_hosts files".to_owned()
    } else {
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn first_file_note(files: &[PathBuf]) -> String {
    files.first().map_or_else(
        || "~/.ssh/known_hosts".to_owned(),
        |f| f.display().to_string(),
    )
}

/// Applies the policy to the key `host` offered on `port`, recording it when the policy says so.
pub fn verify(
    policy: &KnownHostsPolicy,
    host: &str,
    port: u16,
    key: &HostKey,
) -> Result<Accepted, HostKeyError> {
    if policy.mode == HostKeyMode::Off {
        return Ok(Accepted::Unchecked);
    }
    let known = KnownHosts::load(&policy.files)?;
    let name = host_pattern(host, port);
    match known.check(host, port, key) {
        Verdict::Known => Ok(Accepted::Known),
        Verdict::Revoked { at } => Err(HostKeyError::Revoked {
            name,
            key: key.clone(),
            at,
        }),
        Verdict::Changed { recorded } => Err(HostKeyError::Changed {
            name,
            key: key.clone(),
            recorded,
        }),
        Verdict::Unknown { other_types } => match policy.mode {
            HostKeyMode::AcceptNew => {
                let file = policy.files.first().ok_or(KnownHostsError::NoFile)?;
                append(file, host, port, key)?;
                tracing::info!("{name}: recorded new host key {key} in {}", file.display());
                Ok(Accepted::Recorded(file.clone()))
            }
            _ => Err(HostKeyError::Unknown {
                host: host.to_owned(),
                port,
                key: key.clone(),
                other_types,
                files: policy.files.clone(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `ssh-keygen -t ed25519` output, and a second key of the same type.
    const ED_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAILqK7P4eGdsKujPl90iJPrRbgkyJDXGVS1mY4piz1sLk";
    const ED_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAINXHVlrD1W5VzF+3sPCN9K/q0QlF1/4NE48q1SycR2ZI";

    fn key(b64: &str) -> HostKey {
        HostKey::from_base64(b64).expect("valid key")
    }

    fn known(text: &str) -> KnownHosts {
        KnownHosts::parse(Path::new("kh"), text)
    }

    fn hashed(name: &str, salt: &[u8]) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).expect("any key length");
        mac.update(name.as_bytes());
        format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match(b"*", b"anything"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"web?.example.com", b"web1.example.com"));
        assert!(!glob_match(b"web?.example.com", b"web12.example.com"));
        assert!(glob_match(b"*.example.com", b"a.b.example.com"));
        assert!(!glob_match(b"*.example.com", b"example.com"));
        assert!(glob_match(b"10.0.*.1", b"10.0.255.1"));
        assert!(glob_match(b"a*b*c", b"aXbYbZc"));
        assert!(!glob_match(b"a*b*c", b"aXbYbZ"));
        assert!(glob_match(b"[*]:2222", b"[h]:2222"));
    }

    #[test]
    fn key_type_comes_from_the_blob() {
        let k = key(ED_A);
        assert_eq!(k.key_type(), "ssh-ed25519");
        assert!(HostKey::from_base64("not base64!").is_none());
        assert!(HostKey::from_blob(vec![0, 0, 0, 9, b'x']).is_none());
    }

    #[test]
    fn fingerprint_is_unpadded_base64_sha256() {
        // As printed by `ssh-keygen -lf` for ED_A.
        let fp = key(ED_A).fingerprint();
        assert_eq!(fp, "SHA256:O/nGZ77Pk5j1oY4fxU8LUjgVo3VJ/u/cdXvjsZHMnKM");
        assert!(fp.starts_with("SHA256:"));
        assert_eq!(fp.len(), "SHA256:".len() + 43);
        assert!(!fp.ends_with('='));
    }

    #[test]
    fn plain_entry_lists_and_comments() {
        let kh = known(&format!(
            "# a comment\n\n   \nweb1,web2,10.0.0.1 ssh-ed25519 {ED_A} admin@box\n"
        ));
        for host in ["web1", "WEB2", "10.0.0.1"] {
            assert_eq!(kh.check(host, 22, &key(ED_A)), Verdict::Known, "{host}");
        }
        assert_eq!(
            kh.check("web3", 22, &key(ED_A)),
            Verdict::Unknown {
                other_types: vec![]
            }
        );
    }

    #[test]
    fn non_default_ports_use_bracket_form() {
        let kh = known(&format!(
            "[db]:2222 ssh-ed25519 {ED_A}\ndb ssh-ed25519 {ED_B}\n"
        ));
        assert_eq!(kh.check("db", 2222, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("db", 22, &key(ED_B)), Verdict::Known);
        // The port-22 entry says nothing about port 2222, and the reverse.
        assert!(matches!(
            kh.check("db", 2222, &key(ED_B)),
            Verdict::Changed { .. }
        ));
        assert!(matches!(
            kh.check("db", 2200, &key(ED_A)),
            Verdict::Unknown { .. }
        ));
        assert_eq!(host_pattern("DB", 22), "db");
        assert_eq!(host_pattern("db", 2222), "[db]:2222");
        assert_eq!(host_pattern("::1", 2222), "[::1]:2222");
    }

    #[test]
    fn wildcards_and_negation() {
        let kh = known(&format!(
            "*.prod.example.com,!bastion.prod.example.com ssh-ed25519 {ED_A}\n"
        ));
        assert_eq!(
            kh.check("app1.prod.example.com", 22, &key(ED_A)),
            Verdict::Known
        );
        assert!(matches!(
            kh.check("bastion.prod.example.com", 22, &key(ED_A)),
            Verdict::Unknown { .. }
        ));
        // Negation alone matches nothing.
        let kh = known(&format!("!web1 ssh-ed25519 {ED_A}\n"));
        assert!(matches!(
            kh.check("web2", 22, &key(ED_A)),
            Verdict::Unknown { .. }
        ));
        let kh = known(&format!("web? ssh-ed25519 {ED_A}\n"));
        assert_eq!(kh.check("web7", 22, &key(ED_A)), Verdict::Known);
        assert!(matches!(
            kh.check("web10", 22, &key(ED_A)),
            Verdict::Unknown { .. }
        ));
    }

    #[test]
    fn hashed_entries() {
        let salt = b"0123456789abcdefghij";
        let kh = known(&format!(
            "{} ssh-ed25519 {ED_A}\n{} ssh-ed25519 {ED_B}\n",
            hashed("web1", salt),
            hashed("[web1]:2222", salt)
        ));
        assert_eq!(kh.check("web1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("Web1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("web1", 2222, &key(ED_B)), Verdict::Known);
        assert!(matches!(
            kh.check("web2", 22, &key(ED_A)),
            Verdict::Unknown { .. }
        ));
        assert_eq!(
            kh.check("web1", 22, &key(ED_B)),
            Verdict::Changed {
                recorded: Location {
                    file: "kh".into(),
                    line: 1
                }
            }
        );
    }

    #[test]
    fn hashed_entries_from_ssh_keygen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("known_hosts");
        fs::write(
            &file,
            format!("web1 ssh-ed25519 {ED_A}\n[web2]:2200 ssh-ed25519 {ED_B}\n"),
        )
        .expect("write");
        let status = std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let Ok(status) = status else {
            eprintln!("ssh-keygen not installed; skipping");
            return;
        };
        assert!(status.success());
        let text = fs::read_to_string(&file).expect("read");
        assert!(text.lines().all(|l| l.starts_with("|1|")), "{text}");
        let kh = KnownHosts::load(std::slice::from_ref(&file)).expect("load");
        assert_eq!(kh.check("web1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("web2", 2200, &key(ED_B)), Verdict::Known);
        assert!(matches!(
            kh.check("web2", 22, &key(ED_B)),
            Verdict::Unknown { .. }
        ));
    }

    #[test]
    fn changed_key_reports_file_and_line() {
        let kh = known(&format!(
            "other ssh-ed25519 {ED_A}\n# x\nweb1 ssh-ed25519 {ED_A}\n"
        ));
        assert_eq!(
            kh.check("web1", 22, &key(ED_B)),
            Verdict::Changed {
                recorded: Location {
                    file: "kh".into(),
                    line: 3
                }
            }
        );
    }

    #[test]
    fn any_matching_line_with_the_key_wins() {
        // A host may have several keys of one type listed (e.g. during a key rotation).
        let kh = known(&format!(
            "web1 ssh-ed25519 {ED_A}\nweb1 ssh-ed25519 {ED_B}\n"
        ));
        assert_eq!(kh.check("web1", 22, &key(ED_B)), Verdict::Known);
    }

    #[test]
    fn revoked_keys_are_refused_even_when_also_listed() {
        let kh = known(&format!(
            "web1 ssh-ed25519 {ED_A}\n@revoked * ssh-ed25519 {ED_A}\n"
        ));
        assert_eq!(
            kh.check("web1", 22, &key(ED_A)),
            Verdict::Revoked {
                at: Location {
                    file: "kh".into(),
                    line: 2
                }
            }
        );
        // A revocation scoped to other hosts does not apply.
        let kh = known(&format!(
            "web1 ssh-ed25519 {ED_A}\n@revoked db* ssh-ed25519 {ED_A}\n"
        ));
        assert_eq!(kh.check("web1", 22, &key(ED_A)), Verdict::Known);
    }

    #[test]
    fn cert_authority_and_garbage_lines_are_ignored() {
        let kh = known(&format!(
            "@cert-authority * ssh-ed25519 {ED_A}\n@bogus web1 ssh-ed25519 {ED_A}\n\
             web1 ssh-ed25519\nweb1 ssh-ed25519 %%%%\n|2|abc|def ssh-ed25519 {ED_A}\n"
        ));
        assert_eq!(
            kh.check("web1", 22, &key(ED_A)),
            Verdict::Unknown {
                other_types: vec![]
            }
        );
    }

    #[test]
    fn other_key_types_are_reported_not_treated_as_changed() {
        let rsa = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7";
        let kh = known(&format!("web1 ssh-rsa {rsa}\n"));
        assert_eq!(kh.known_key_types("web1", 22), vec!["ssh-rsa".to_owned()]);
        assert_eq!(
            kh.check("web1", 22, &key(ED_A)),
            Verdict::Unknown {
                other_types: vec!["ssh-rsa".to_owned()]
            }
        );
    }

    #[test]
    fn later_files_are_searched_and_missing_files_are_fine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let user = dir.path().join("user_known_hosts");
        let system = dir.path().join("ssh_known_hosts");
        fs::write(&system, format!("web1 ssh-ed25519 {ED_A}\n")).expect("write");
        let kh =
            KnownHosts::load(&[dir.path().join("missing"), user, system.clone()]).expect("load");
        assert_eq!(kh.check("web1", 22, &key(ED_A)), Verdict::Known);
        match kh.check("web1", 22, &key(ED_B)) {
            Verdict::Changed { recorded } => assert_eq!(recorded.file, system),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn policy_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("new/sub/known_hosts");
        let policy = |mode| KnownHostsPolicy {
            files: vec![file.clone()],
            mode,
        };
        let err = verify(&policy(HostKeyMode::Strict), "web1", 2222, &key(ED_A))
            .expect_err("unknown refused");
        let msg = err.to_string();
        assert!(msg.contains("unknown"), "{msg}");
        assert!(msg.contains(&key(ED_A).fingerprint()), "{msg}");
        assert!(msg.contains("ssh-ed25519"), "{msg}");
        assert!(msg.contains("--accept-new-host-keys"), "{msg}");
        assert!(msg.contains("ssh-keyscan -p 2222 web1"), "{msg}");

        assert_eq!(
            verify(&policy(HostKeyMode::AcceptNew), "web1", 2222, &key(ED_A)).expect("recorded"),
            Accepted::Recorded(file.clone())
        );
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(file.parent().expect("parent"))
                .expect("dir")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert_eq!(
            fs::read_to_string(&file).expect("read"),
            format!("[web1]:2222 ssh-ed25519 {ED_A}\n")
        );
        assert_eq!(
            verify(&policy(HostKeyMode::Strict), "web1", 2222, &key(ED_A)).expect("known"),
            Accepted::Known
        );
        for mode in [HostKeyMode::Strict, HostKeyMode::AcceptNew] {
            let msg = verify(&policy(mode), "web1", 2222, &key(ED_B))
                .expect_err("changed refused")
                .to_string();
            assert!(
                msg.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
                "{msg}"
            );
            assert!(msg.contains(&key(ED_B).fingerprint()), "{msg}");
            assert!(msg.contains(&format!("{}:1", file.display())), "{msg}");
        }
        assert_eq!(
            verify(&policy(HostKeyMode::Off), "web1", 2222, &key(ED_B)).expect("off"),
            Accepted::Unchecked
        );
        assert!(matches!(
            verify(
                &KnownHostsPolicy {
                    files: vec![],
                    mode: HostKeyMode::AcceptNew
                },
                "web1",
                22,
                &key(ED_A)
            ),
            Err(HostKeyError::Files(KnownHostsError::NoFile))
        ));
    }

    #[test]
    fn append_adds_a_missing_final_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("known_hosts");
        fs::write(&file, format!("web1 ssh-ed25519 {ED_A}")).expect("write");
        append(&file, "web2", 22, &key(ED_B)).expect("append");
        let kh = KnownHosts::load(std::slice::from_ref(&file)).expect("load");
        assert_eq!(kh.check("web1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("web2", 22, &key(ED_B)), Verdict::Known);
    }
}
