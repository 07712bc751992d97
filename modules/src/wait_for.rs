//! `wait_for`: wait until a file exists (or holds a pattern), is gone, or a TCP port opens or
//! closes, as seen from the host.
//!
//! ```yaml
//! - ansible.builtin.wait_for:
//!     path: /var/run/app.pid
//!     timeout: 60
//!
//! - ansible.builtin.wait_for:
//!     path: /var/log/app.log
//!     search_regex: "listening on (?P<port>\\d+)"
//!   register: ready
//!
//! - ansible.builtin.wait_for:
//!     port: 8080
//!     state: started
//!     delay: 2
//! ```
//!
//! Polls every `sleep` seconds until `timeout`, after an initial `delay`, with Ansible's
//! messages on timeout (`msg` overrides them) and its return values: `elapsed`, `state`,
//! `path`, `port`, `search_regex`, `match_groups`, `match_groupdict`. A port is probed from the
//! host with `nc -z`, else bash's `/dev/tcp`. `search_regex` is a Python regular expression
//! (multi-line) matched against the file. Not supported yet: `state: drained`, and
//! `search_regex` against a port's banner. Runs in check mode too, as in Ansible.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitState {
    #[default]
    Started,
    Present,
    Stopped,
    Absent,
    Drained,
}

impl WaitState {
    fn name(self) -> &'static str {
        match self {
            WaitState::Started => "started",
            WaitState::Present => "present",
            WaitState::Stopped => "stopped",
            WaitState::Absent => "absent",
            WaitState::Drained => "drained",
        }
    }
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_timeout() -> u64 {
    300
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_sleep() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitForParams {
    /// Host to probe a port on, from the managed host.
    #[serde(default = "default_host")]
    pub host: String,
    /// TCP port to wait for.
    pub port: Option<u16>,
    /// File to wait for.
    pub path: Option<String>,
    /// Python regular expression the file must match.
    pub search_regex: Option<String>,
    /// `present`/`started`: the path or port appears; `absent`/`stopped`: it goes away.
    #[serde(default)]
    pub state: WaitState,
    /// Seconds to wait before the first check.
    #[serde(default)]
    pub delay: u64,
    /// Seconds to wait in all.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Seconds between checks.
    #[serde(default = "default_sleep")]
    pub sleep: u64,
    /// Seconds to wait for one connection attempt.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Message on timeout instead of Ansible's.
    pub msg: Option<String>,
    /// For `drained` (not supported yet).
    pub active_connection_states: Option<Vec<String>>,
    /// For `drained` (not supported yet).
    pub exclude_hosts: Option<Vec<String>>,
}

/// What one check found.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    /// The path or port is there; for a path, its content when a regex must be matched.
    Present(Option<Vec<u8>>),
    Absent,
}

pub struct WaitForModule;

/// Exit status of the probe script when the port is open / the path exists.
const PRESENT: i32 = 0;
const ABSENT: i32 = 3;
const NO_TOOL: i32 = 4;

fn probe_script(params: &WaitForParams, read: bool) -> String {
    if let Some(path) = &params.path {
        let read = if read { "cat -- \"$p\" 2>/dev/null; " } else { "" };
        return format!(
            "p={}; if [ -e \"$p\" ]; then {read}exit {PRESENT}; fi; exit {ABSENT}",
            quote(path)
        );
    }
    let host = quote(&params.host);
    let port = params.port.unwrap_or(0);
    let t = params.connect_timeout.max(1);
    format!(
        "h={host}; if command -v nc >/dev/null 2>&1; then \
         nc -z -w {t} \"$h\" {port} >/dev/null 2>&1 && exit {PRESENT}; exit {ABSENT}; \
         elif [ -x /bin/bash ]; then \
         timeout {t} /bin/bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' \"$h\" {port} >/dev/null 2>&1 \
         && exit {PRESENT}; exit {ABSENT}; else exit {NO_TOOL}; fi"
    )
}

async fn probe(
    params: &WaitForParams,
    regex: Option<&regex::bytes::Regex>,
    ctx: &Context<'_>,
) -> Result<Probe, ModuleError> {
    let out = ctx
        .host
        .sh(&probe_script(params, regex.is_some()))
        .await?;
    match out.exit_code {
        PRESENT => Ok(Probe::Present(regex.map(|_| out.stdout))),
        ABSENT => Ok(Probe::Absent),
        NO_TOOL => Err(ModuleError::failed(
            "wait_for needs `nc` or bash on the host to probe a port",
        )),
        _ => Err(ModuleError::failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )),
    }
}

fn refuse(params: &WaitForParams) -> Result<(), ModuleError> {
    let fail = |msg: &str| Err(ModuleError::failed(msg));
    if params.port.is_some() && params.path.is_some() {
        return fail("port and path parameter can not both be passed to wait_for");
    }
    if params.path.is_some() && params.state == WaitState::Stopped {
        return fail("state=stopped should only be used for checking a port in the wait_for module");
    }
    if params.path.is_some() && params.state == WaitState::Drained {
        return fail("state=drained should only be used for checking a port in the wait_for module");
    }
    if params.exclude_hosts.is_some() && params.state != WaitState::Drained {
        return fail("exclude_hosts should only be with state=drained");
    }
    const STATES: &[&str] = &[
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
    ];
    for state in params.active_connection_states.iter().flatten() {
        if !STATES.contains(&state.as_str()) {
            return Err(ModuleError::failed(format!(
                "unknown active_connection_state ({state}) defined"
            )));
        }
    }
    if params.state == WaitState::Drained {
        return fail("wait_for: state=drained is not supported by tend yet");
    }
    if params.port.is_some() && params.search_regex.is_some() {
        return fail("wait_for: search_regex on a port is not supported by tend yet");
    }
    Ok(())
}

/// Python's `re.compile(pattern, re.MULTILINE)`, as far as the `regex` crate goes.
fn compile(pattern: &str) -> Result<regex::bytes::Regex, ModuleError> {
    regex::bytes::RegexBuilder::new(pattern)
        .multi_line(true)
        .unicode(false)
        .build()
        .map_err(|e| ModuleError::failed(format!("Invalid regular expression: {e}")))
}

/// `match_groups` and `match_groupdict` of the first match, if any.
fn matched(regex: &regex::bytes::Regex, content: &[u8]) -> Option<(Value, Value)> {
    let caps = regex.captures(content)?;
    let text = |m: Option<regex::bytes::Match<'_>>| match m {
        Some(m) => Value::String(String::from_utf8_lossy(m.as_bytes()).into_owned()),
        None => Value::Null,
    };
    let groups: Vec<Value> = (1..caps.len()).map(|i| text(caps.get(i))).collect();
    let named: Map<String, Value> = regex
        .capture_names()
        .flatten()
        .map(|name| (name.to_string(), text(caps.name(name))))
        .collect();
    Some((Value::Array(groups), Value::Object(named)))
}

#[async_trait]
impl Module for WaitForModule {
    type Params = WaitForParams;
    type Observed = Outcome;
    type Action = ();

    const NAME: &'static str = "wait_for";

    async fn query(&self, params: &WaitForParams, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
        refuse(params)?;
        let regex = params.search_regex.as_deref().map(compile).transpose()?;
        let start = Instant::now();
        let elapsed = |start: Instant| start.elapsed().as_secs();
        if params.delay > 0 {
            tokio::time::sleep(Duration::from_secs(params.delay)).await;
        }
        let end = start + Duration::from_secs(params.timeout);
        let (mut groups, mut groupdict) = (Value::Array(Vec::new()), Value::Object(Map::new()));
        if params.port.is_none() && params.path.is_none() {
            tokio::time::sleep(Duration::from_secs(params.timeout)).await;
        } else {
            let want_present = matches!(params.state, WaitState::Started | WaitState::Present);
            let mut done = false;
            while Instant::now() < end {
                let found = probe(params, regex.as_ref(), ctx).await?;
                done = match (&found, want_present) {
                    (Probe::Absent, false) => true,
                    (Probe::Present(_), false) | (Probe::Absent, true) => false,
                    (Probe::Present(content), true) => match (&regex, content) {
                        (Some(regex), Some(content)) => match matched(regex, content) {
                            Some((g, d)) => {
                                (groups, groupdict) = (g, d);
                                true
                            }
                            None => false,
                        },
                        _ => true,
                    },
                };
                if done {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(params.sleep)).await;
            }
            if !done {
                let target = match (&params.path, params.port) {
                    (Some(path), _) => path.clone(),
                    (None, Some(port)) => format!("{}:{port}", params.host),
                    (None, None) => String::new(),
                };
                let default = match (params.state, &params.search_regex, params.port) {
                    (WaitState::Stopped, _, _) => format!("Timeout when waiting for {target} to stop."),
                    (WaitState::Absent, _, Some(_)) => {
                        format!("Timeout when waiting for {target} to stop.")
                    }
                    (WaitState::Absent, _, None) => {
                        format!("Timeout when waiting for {target} to be absent.")
                    }
                    (_, Some(re), _) => {
                        format!("Timeout when waiting for search string {re} in {target}")
                    }
                    (_, None, Some(_)) => format!("Timeout when waiting for {target}"),
                    (_, None, None) => format!("Timeout when waiting for file {target}"),
                };
                let mut values = Map::new();
                values.insert("elapsed".into(), elapsed(start).into());
                return Err(ModuleError::Failed {
                    msg: params.msg.clone().unwrap_or(default),
                    values,
                });
            }
        }
        let opt = |v: Option<Value>| v.unwrap_or(Value::Null);
        let elapsed = elapsed(start);
        let mut outcome = Outcome::ok()
            .with_value("state", params.state.name())
            .with_value("port", opt(params.port.map(Value::from)))
            .with_value(
                "search_regex",
                opt(params.search_regex.clone().map(Value::from)),
            )
            .with_value("match_groups", groups)
            .with_value("match_groupdict", groupdict)
            .with_value("path", opt(params.path.clone().map(Value::from)))
            .with_value("elapsed", elapsed);
        // Ansible's `add_path_info` describes an existing `path` (its `state` included).
        if let Some(path) = &params.path {
            outcome
                .values
                .extend(crate::attrs::path_info_on(ctx.host, path).await?);
        }
        Ok(outcome)
    }

    fn plan(
        &self,
        _params: &WaitForParams,
        outcome: Outcome,
        _ctx: &Context<'_>,
    ) -> Result<Planned<()>, ModuleError> {
        Ok(Planned::Done(outcome))
    }

    async fn apply(
        &self,
        _params: &WaitForParams,
        _action: (),
        _ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        Ok(Outcome::ok())
    }
}

tend_module_api::register_module!(WaitForModule);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    #[test]
    fn groups_of_the_first_match() {
        let re = compile(r"port (?P<port>\d+) on (\w+)").expect("compiles");
        let (g, d) = matched(&re, b"x\nport 80 on eth0\nport 81 on lo\n").expect("matches");
        assert_eq!(g, json!(["80", "eth0"]));
        assert_eq!(d, json!({"port": "80"}));
        assert!(matched(&re, b"nothing").is_none());
        assert!(compile("(").is_err());
    }

    #[tokio::test]
    async fn waits_for_files_and_times_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = FakeController::new(dir.path());
        let file = dir.path().join("ready");
        std::fs::write(&file, "starting\nlistening on 8080\n").expect("write");
        let path = file.display().to_string();
        let out = run_module(
            "wait_for",
            json!({"path": path, "search_regex": r"listening on (?P<port>\d+)", "timeout": 5}),
            &c,
            false,
        )
        .await
        .expect("found");
        assert_eq!(out.values["match_groupdict"], json!({"port": "8080"}));
        assert!(!out.changed);
        let err = run_module(
            "wait_for",
            json!({"path": path, "state": "absent", "timeout": 1}),
            &c,
            false,
        )
        .await
        .expect_err("times out");
        assert_eq!(
            err.to_string(),
            format!("Timeout when waiting for {path} to be absent.")
        );
        let missing = dir.path().join("nope").display().to_string();
        assert!(run_module(
            "wait_for",
            json!({"path": missing, "state": "absent", "timeout": 2}),
            &c,
            true
        )
        .await
        .is_ok());
        assert!(run_module("wait_for", json!({"path": path, "port": 1}), &c, false)
            .await
            .is_err());
    }
}
