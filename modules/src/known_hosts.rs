//! `known_hosts`: a host's key in an SSH `known_hosts` file.
//!
//! ```yaml
//! - name: Trust the git server's key
//!   ansible.builtin.known_hosts:
//!     name: git.example.com
//!     key: "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."
//!     path: /etc/ssh/ssh_known_hosts
//!
//! - name: Hashed, in root's file
//!   ansible.builtin.known_hosts: {name: "[db.example.com]:2222", key: "{{ db_key }}", hash_host: true}
//!
//! - ansible.builtin.known_hosts: {name: old.example.com, state: absent}
//! ```
//!
//! The logic is Ansible's `known_hosts.py`: `ssh-keygen -F NAME -f FILE` on the host finds the
//! entries for the (lower-cased) name; a line with the same key type but another key is
//! replaced, a missing key is appended (after the file's lines), `absent` with a key removes
//! that key's line, `absent` without a key removes every entry of the host
//! (`ssh-keygen -R`). `hash_host` hashes the host field (`|1|salt|hash`, HMAC-SHA1 with a
//! random salt) before comparing; an already hashed entry is not re-hashed. The key is first
//! checked to name the host (`ssh-keygen -F` on a temporary file). The file is rewritten
//! through a temporary file in its directory renamed over it (a new file gets the umask's
//! default mode).
//!
//! Returns the parameters (`name`, `key`, `path`, `hash_host`, `state`); the diff shows the
//! file before and after (before `/dev/null` for a missing file).
//!
//! Differences from Ansible: none known.

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use sha1::{Digest, Sha1};
use tend_module_api::{quote, Context, Diff, Module, ModuleError, Outcome, Planned, WriteOptions};

use crate::attrs;
use crate::pytext::lines_with_ends;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KnownState {
    #[default]
    Present,
    Absent,
}

impl KnownState {
    fn name(self) -> &'static str {
        match self {
            KnownState::Present => "present",
            KnownState::Absent => "absent",
        }
    }
}

fn default_path() -> String {
    "~/.ssh/known_hosts".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownHostsParams {
    /// The host (`name` or `[name]:port`), as `ssh-keygen -F` looks it up.
    #[serde(alias = "host")]
    pub name: String,
    /// The `known_hosts` line: `NAME TYPE KEY`; required for `present`.
    pub key: Option<String>,
    /// The file.
    #[serde(default = "default_path")]
    pub path: String,
    /// Hash the host name in the new line.
    #[serde(default)]
    pub hash_host: bool,
    /// `present` (the default) or `absent`.
    #[serde(default)]
    pub state: KnownState,
}

pub struct KnownHostsModule;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownObserved {
    /// `path` with `~` expanded.
    pub path: String,
    /// The file's text; `None` when it does not exist.
    pub content: Option<String>,
    /// The key as compared and written (hashed with `hash_host`), with its newline.
    pub key: Option<String>,
    /// `ssh-keygen -F` of the key alone found the host.
    pub sane: bool,
    /// `ssh-keygen -F NAME -f path`: exit status, stdout, stderr (`None`: no file).
    pub search: Option<(i32, String, String)>,
    /// Ansible's `add_path_info` for `path` as it is now.
    pub path_info: serde_json::Map<String, Value>,
}

#[derive(Debug)]
pub enum KnownAction {
    /// `ssh-keygen -R NAME -f PATH`.
    RemoveHost,
    /// Write this content.
    Write(String),
}

#[derive(Debug)]
pub struct KnownPlan {
    action: KnownAction,
    outcome: Outcome,
}

/// HMAC-SHA1, as `hmac.new(key, msg, sha1)`.
fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let mut inner = Sha1::new();
    inner.update(pad(0x36));
    inner.update(msg);
    let mut outer = Sha1::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// `hash_host_key`: the host field replaced by `|1|salt|hash`.
fn hash_host_key(host: &str, key: &str, salt: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let hashed = hmac_sha1(salt, host.as_bytes());
    let mut parts: Vec<String> = key.split_whitespace().map(str::to_string).collect();
    let i = usize::from(parts.first().is_some_and(|p| p.starts_with('@')));
    if let Some(part) = parts.get_mut(i) {
        *part = format!("|1|{}|{}", b64.encode(salt), b64.encode(hashed));
    }
    parts.join(" ")
}

/// Twenty random bytes for a salt.
fn salt() -> Result<Vec<u8>, ModuleError> {
    use std::io::Read as _;
    let mut bytes = vec![0u8; 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| ModuleError::failed(format!("cannot read random bytes: {e}")))?;
    Ok(bytes)
}

#[async_trait]
impl Module for KnownHostsModule {
    type Params = KnownHostsParams;
    type Observed = KnownObserved;
    type Action = KnownPlan;

    const NAME: &'static str = "known_hosts";

    async fn query(
        &self,
        params: &KnownHostsParams,
        ctx: &Context<'_>,
    ) -> Result<KnownObserved, ModuleError> {
        let host = params.name.to_lowercase();
        let mut key = params.key.clone().filter(|k| !k.is_empty());
        if let (Some(k), true) = (&key, params.hash_host) {
            key = Some(hash_host_key(&host, k, &salt()?));
        }
        if let Some(k) = key.as_mut() {
            if !k.ends_with('\n') {
                k.push('\n');
            }
        }
        let h = quote(&host);
        let mut script = String::from(
            "command -v ssh-keygen >/dev/null 2>&1 || { echo nokeygen; exit 0; }; ",
        );
        script.push_str(&attrs::assign("p", &params.path));
        script.push_str("printf 'path:%s\\n' \"$p\"; ");
        script.push_str(&attrs::probe("pp", "p"));
        if let Some(k) = &key {
            // sanity_check: the key alone must name the host.
            script.push_str(&format!(
                "t=$(mktemp) || exit 1; trap 'rm -f -- \"$t\"' EXIT; printf '%s' {} > \"$t\"; \
                 if [ -n \"$(ssh-keygen -F {h} -f \"$t\" 2>/dev/null)\" ]; then echo sane; fi; rm -f -- \"$t\"; ",
                quote(k)
            ));
        }
        script.push_str(&format!(
            "if [ -e \"$p\" ]; then e=$(mktemp) || exit 1; trap 'rm -f -- \"$e\"' EXIT; o=$(ssh-keygen -F {h} -f \"$p\" 2>\"$e\"); rc=$?; \
             printf 'rc:%s\\n' \"$rc\"; printf '%s\\n' \"$o\" | sed 's/^/out:/'; sed 's/^/err:/' \"$e\"; rm -f -- \"$e\"; fi; \
             if [ -f \"$p\" ]; then echo {}; exec cat -- \"$p\"; fi",
            attrs::CONTENT_MARKER
        ));
        let out = ctx.host.sh_ok(&script).await?;
        let report = attrs::Report::parse(&out.stdout);
        if report.has("nokeygen") {
            return Err(ModuleError::failed(
                "Failed to find required executable \"ssh-keygen\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ));
        }
        let head_end = out
            .stdout
            .windows(attrs::CONTENT_MARKER.len() + 1)
            .position(|w| w.starts_with(attrs::CONTENT_MARKER.as_bytes()) && w.ends_with(b"\n"))
            .unwrap_or(out.stdout.len());
        let head = String::from_utf8_lossy(&out.stdout[..head_end]).into_owned();
        let collect = |tag: &str| {
            let lines: Vec<&str> = head.lines().filter_map(|l| l.strip_prefix(tag)).collect();
            lines.join("\n")
        };
        let search = report.get("rc").map(|rc| {
            let stdout = collect("out:");
            let stdout = if stdout.is_empty() {
                stdout
            } else {
                format!("{stdout}\n")
            };
            let stderr = collect("err:");
            (rc.trim().parse().unwrap_or(255), stdout, stderr)
        });
        Ok(KnownObserved {
            path: report.get("path").unwrap_or(&params.path).to_string(),
            content: report
                .content
                .as_deref()
                .map(|c| String::from_utf8_lossy(c).into_owned()),
            sane: report.has("sane"),
            key,
            search,
            path_info: report
                .probe("pp")?
                .entry
                .as_ref()
                .map(attrs::path_info)
                .unwrap_or_default(),
        })
    }

    fn plan(
        &self,
        params: &KnownHostsParams,
        observed: KnownObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<KnownPlan>, ModuleError> {
        plan_with(params, observed, ctx.check_mode, ctx.diff)
    }

    async fn apply(
        &self,
        params: &KnownHostsParams,
        plan: KnownPlan,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let path = plan
            .outcome
            .values
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or(&params.path)
            .to_string();
        match plan.action {
            KnownAction::RemoveHost => {
                ctx.host
                    .sh_ok(&format!(
                        "ssh-keygen -R {} -f {}",
                        quote(&params.name.to_lowercase()),
                        quote(&path)
                    ))
                    .await?;
            }
            KnownAction::Write(content) => {
                let dir = ctx
                    .host
                    .sh(&format!("[ -d \"$(dirname -- {})\" ]", quote(&path)))
                    .await?;
                if !dir.success() {
                    return Err(ModuleError::failed(format!(
                        "Failed to write to file '{path}': [Errno 2] No such file or directory"
                    )));
                }
                // A new file gets the umask's default mode (Ansible's atomic_move), an existing
                // one keeps its mode and owner.
                ctx.host
                    .write_file_atomic(&path, content.as_bytes(), &WriteOptions::default())
                    .await?;
            }
        }
        let mut outcome = plan.outcome;
        outcome.values.extend(attrs::path_info_on(ctx.host, &path).await?);
        Ok(outcome)
    }
}

tend_module_api::register_module!(KnownHostsModule);

/// `normalize_known_hosts_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Normal {
    options: Option<String>,
    host: String,
    kind: String,
    key: String,
}

fn normalize(line: &str) -> Option<Normal> {
    let k: Vec<&str> = line.split_whitespace().collect();
    let marker = k.first()?.starts_with('@');
    let at = usize::from(marker);
    Some(Normal {
        options: marker.then(|| k[0].to_string()),
        host: (*k.get(at)?).to_string(),
        kind: (*k.get(at + 1)?).to_string(),
        key: (*k.get(at + 2)?).to_string(),
    })
}

/// `search_for_host_key`: (found, replace_or_add, found_line).
fn search(
    observed: &KnownObserved,
) -> Result<(bool, bool, Option<usize>), ModuleError> {
    let Some((rc, stdout, stderr)) = &observed.search else {
        return Ok((false, false, None));
    };
    if stdout.is_empty() && stderr.is_empty() && (*rc == 0 || *rc == 1) {
        return Ok((false, false, None));
    }
    if *rc != 0 {
        return Err(ModuleError::failed(format!(
            "ssh-keygen failed (rc={rc}, stdout='{stdout}',stderr='{stderr}')"
        )));
    }
    let Some(key) = &observed.key else {
        return Ok((true, false, None));
    };
    let bad = || ModuleError::failed(format!("invalid key: {}", key.trim_end()));
    let mut found_line = None;
    for l in stdout.split('\n') {
        if l.is_empty() {
            continue;
        }
        if l.starts_with('#') {
            found_line = l
                .split("found: line ")
                .nth(1)
                .and_then(|rest| {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().ok()
                });
            continue;
        }
        let mut new_key = normalize(key).ok_or_else(bad)?;
        let Some(found) = normalize(l) else { continue };
        let special = found
            .options
            .as_deref()
            .is_some_and(|o| o.starts_with("@cert-authority") || o.starts_with("@revoke"));
        if special {
            if new_key == found {
                return Ok((true, false, found_line));
            }
            continue;
        }
        if new_key.host.starts_with("|1|") && found.host.starts_with("|1|") {
            new_key.host = found.host.clone();
        }
        if new_key == found {
            return Ok((true, false, found_line));
        } else if new_key.kind == found.kind {
            return Ok((true, true, found_line));
        }
    }
    Ok((true, true, None))
}

/// Ansible's `enforce_state`. Pure.
fn plan_with(
    params: &KnownHostsParams,
    observed: KnownObserved,
    check_mode: bool,
    want_diff: bool,
) -> Result<Planned<KnownPlan>, ModuleError> {
    let present = params.state == KnownState::Present;
    let key = observed.key.clone();
    if key.is_none() && present {
        return Err(ModuleError::failed("No key specified when adding a host"));
    }
    if key.is_some() {
        let host = params.name.to_lowercase();
        let comma = regex::Regex::new(r"\S+(\s+)?,(\s+)?").map_err(|e| ModuleError::failed(e.to_string()))?;
        if comma.is_match(&host) {
            return Err(ModuleError::failed(
                "Comma separated list of names is not supported. Please pass a single name to lookup in the known_hosts file.",
            ));
        }
        if !observed.sane {
            return Err(ModuleError::failed(
                "Host parameter does not match hashed host field in supplied key",
            ));
        }
    }
    let (found, replace_or_add, found_line) = search(&observed)?;
    let path = observed.path.clone();

    // compute_diff
    let before = observed.content.clone().unwrap_or_default();
    let mut lines: Vec<&str> = lines_with_ends(&before);
    if let Some(n) = found_line {
        if (replace_or_add || !present) && 1 <= n && n <= lines.len() {
            lines.remove(n - 1);
        }
    }
    let mut after: String = lines.concat();
    if present && (replace_or_add || found_line.is_none()) {
        after.push_str(key.as_deref().unwrap_or_default());
    }

    let mut outcome = Outcome::ok()
        .with_value("name", params.name.clone())
        .with_value("key", params.key.clone().map_or(Value::Null, Value::String))
        .with_value("path", path.clone())
        .with_value("hash_host", params.hash_host)
        .with_value("state", params.state.name());
    outcome.values.extend(observed.path_info.clone());
    let diff = Diff {
        before_header: format!(
            "before: {}",
            if observed.content.is_some() || observed.search.is_some() {
                path.as_str()
            } else {
                "/dev/null"
            }
        ),
        after_header: format!("after: {path}"),
        before: before.clone(),
        after,
    };
    if !present && found_line.is_none() && key.is_some() {
        return Ok(Planned::Done(outcome));
    }
    let changed = replace_or_add || present != found;
    if !changed {
        return Ok(Planned::Done(outcome));
    }
    outcome.changed = true;
    // An empty diff (a whole host removed with ssh-keygen -R) shows nothing, as in Ansible.
    if want_diff && diff.before != diff.after {
        outcome.diffs.push(diff);
    }
    if check_mode {
        return Ok(Planned::Change {
            action: KnownPlan {
                action: KnownAction::Write(String::new()),
                outcome: outcome.clone(),
            },
            preview: outcome,
        });
    }
    let action = if found && key.is_none() && !present {
        KnownAction::RemoveHost
    } else {
        // The file's lines without the replaced/removed one, then the new key.
        let mut kept: Vec<&str> = lines_with_ends(&before);
        if let Some(n) = found_line {
            if (replace_or_add || !present) && 1 <= n && n <= kept.len() {
                kept.remove(n - 1);
            }
        }
        let mut content: String = kept.concat();
        if present {
            content.push_str(key.as_deref().unwrap_or_default());
        }
        KnownAction::Write(content)
    };
    Ok(Planned::Change {
        action: KnownPlan {
            action,
            outcome: outcome.clone(),
        },
        preview: outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "example.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMgTv1bL7vg7Z7vx4RpZhpL";

    fn params(json: serde_json::Value) -> KnownHostsParams {
        serde_json::from_value(json).expect("params")
    }

    #[test]
    fn hmac_matches_the_rfc_2202_vector() {
        let mac = hmac_sha1(&[0x0b; 20], b"Hi There");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b617318655057264e28bc0b6fb378c8ef146be00");
        let hashed = hash_host_key("example.test", K, &[1; 20]);
        assert!(hashed.starts_with("|1|AQEBAQEBAQEBAQEBAQEBAQEBAQE=|"));
        assert!(hashed.ends_with(" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMgTv1bL7vg7Z7vx4RpZhpL"));
    }

    #[test]
    fn replaces_a_key_of_the_same_type() {
        let old = "example.test ssh-ed25519 AAAAold\n";
        let observed = KnownObserved {
            path: "/k".into(),
            content: Some(format!("other ssh-rsa AAAA\n{old}")),
            key: Some(format!("{K}\n")),
            sane: true,
            search: Some((
                0,
                format!("# Host example.test found: line 2 \n{old}"),
                String::new(),
            )),
            path_info: Default::default(),
        };
        let p = params(serde_json::json!({"name": "Example.test", "key": K}));
        match plan_with(&p, observed, false, true).expect("plan") {
            Planned::Change { action, preview } => {
                match action.action {
                    KnownAction::Write(c) => assert_eq!(c, format!("other ssh-rsa AAAA\n{K}\n")),
                    KnownAction::RemoveHost => panic!("expected a write"),
                }
                assert_eq!(preview.diffs[0].before_header, "before: /k");
            }
            Planned::Done(_) => panic!("expected a change"),
        }
    }

    #[test]
    fn absent_without_a_key_removes_the_host() {
        let observed = KnownObserved {
            path: "/k".into(),
            content: Some(format!("{K}\n")),
            key: None,
            sane: false,
            search: Some((0, format!("# Host example.test found: line 1 \n{K}\n"), String::new())),
            path_info: Default::default(),
        };
        let p = params(serde_json::json!({"name": "example.test", "state": "absent"}));
        match plan_with(&p, observed, false, false).expect("plan") {
            Planned::Change { action, .. } => assert!(matches!(action.action, KnownAction::RemoveHost)),
            Planned::Done(_) => panic!("expected a change"),
        }
        let missing = KnownObserved {
            path: "/k".into(),
            ..KnownObserved::default()
        };
        assert!(matches!(
            plan_with(&p, missing, false, false),
            Ok(Planned::Done(_))
        ));
    }
}
