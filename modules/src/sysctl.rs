//! `sysctl`: a kernel parameter in a sysctl file, and optionally in the running kernel.
//!
//! ```yaml
//! - name: Forward IPv4, now and after a reboot
//!   ansible.posix.sysctl:
//!     name: net.ipv4.ip_forward
//!     value: "1"
//!     sysctl_set: true
//!
//! - name: In its own file, without reloading it
//!   ansible.posix.sysctl:
//!     name: vm.swappiness
//!     value: "10"
//!     sysctl_file: /etc/sysctl.d/60-swap.conf
//!     reload: false
//!
//! - ansible.posix.sysctl: {name: kernel.panic, state: absent}
//! ```
//!
//! The logic is `ansible.posix.sysctl`, step for step. The file (`/etc/sysctl.conf` by
//! default) is read as `key=value` lines; when it changes it is rewritten whole in Ansible's
//! normal form: every line stripped, each key once as `key=value` (later duplicates dropped),
//! the wanted key in place (or appended; left out for `absent`), atomically through a temporary
//! file in its directory (a symlinked file is written through the link). The running value
//! comes from `sysctl -e -n KEY`. `sysctl_set` sets it with `sysctl -w KEY=VALUE` when it
//! differs (values compared word by word); `reload` (the default) runs `sysctl -p FILE` after
//! any change, and counts a running value that differs from the file as a change. Boolean
//! values (`yes`, `true`, `on`, ...) become `1`/`0`. `ignoreerrors` passes `-e`. Returns only
//! `changed`, as Ansible does.
//!
//! Differences from Ansible: only Linux `sysctl` (not the BSDs' conventions).

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned, WriteOptions};

use crate::attrs;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SysctlState {
    #[default]
    Present,
    Absent,
}

fn yes() -> bool {
    true
}

fn default_file() -> String {
    "/etc/sysctl.conf".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlParams {
    /// The parameter (`net.ipv4.ip_forward`).
    #[serde(alias = "key")]
    pub name: String,
    /// Its value (required for `present`); booleans become `1`/`0`.
    #[serde(alias = "val")]
    pub value: Option<String>,
    /// `present` (the default) or `absent` (from the file).
    #[serde(default)]
    pub state: SysctlState,
    /// Run `sysctl -p FILE` after a change (the default).
    #[serde(default = "yes")]
    pub reload: bool,
    /// Also set the running value with `sysctl -w`.
    #[serde(default)]
    pub sysctl_set: bool,
    /// Ignore unknown keys (`sysctl -e`).
    #[serde(default)]
    pub ignoreerrors: bool,
    /// The file holding the parameter.
    #[serde(default = "default_file")]
    pub sysctl_file: String,
}

pub struct SysctlModule;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SysctlObserved {
    /// `sysctl -e -n NAME`'s output; `None` when it failed.
    pub proc_value: Option<String>,
    /// The file's lines; empty when it is not a regular file.
    pub lines: Vec<String>,
    /// The file with links resolved: where the new content goes.
    pub real: String,
}

#[derive(Debug)]
pub struct SysctlAction {
    set_proc: bool,
    /// The new file content, when it is rewritten.
    content: Option<String>,
    reload: bool,
    name: String,
    value: String,
    /// The file with links resolved.
    real: String,
}

/// Ansible's `_parse_value`.
fn parse_value(value: Option<&str>) -> String {
    let Some(value) = value else {
        return String::new();
    };
    let lower = value.to_lowercase();
    if ["y", "yes", "on", "1", "true", "t", "1.0"].contains(&lower.as_str()) {
        "1".into()
    } else if ["n", "no", "off", "0", "false", "f", "0.0"].contains(&lower.as_str()) {
        "0".into()
    } else {
        value.trim().to_string()
    }
}

fn values_equal(a: Option<&str>, b: &str) -> bool {
    let Some(a) = a else { return false };
    a.split_whitespace().eq(b.split_whitespace())
}

/// Python's `str.strip()` (whitespace, not only spaces).
fn py_strip(s: &str) -> &str {
    s.trim()
}

/// `sysctl: setting key "...": Invalid argument|Read-only file system` on its own line.
fn stderr_failed(err: &str) -> bool {
    err.lines().any(|l| {
        l.strip_prefix("sysctl: setting key \"").is_some_and(|rest| {
            rest.split_once("\": ").is_some_and(|(key, why)| {
                !key.is_empty()
                    && !key.contains('"')
                    && (why == "Invalid argument" || why == "Read-only file system")
            })
        })
    })
}

#[async_trait]
impl Module for SysctlModule {
    type Params = SysctlParams;
    type Observed = SysctlObserved;
    type Action = SysctlAction;

    const NAME: &'static str = "sysctl";

    async fn query(
        &self,
        params: &SysctlParams,
        ctx: &Context<'_>,
    ) -> Result<SysctlObserved, ModuleError> {
        let mut script = String::from(
            "command -v sysctl >/dev/null 2>&1 || PATH=\"$PATH:/sbin:/usr/sbin\"; \
             command -v sysctl >/dev/null 2>&1 || { echo nosysctl; exit 0; }; ",
        );
        script.push_str(&format!(
            "if v=$(LANG=C sysctl -e -n {} 2>/dev/null); then printf 'proc:%s\\n' \"$v\" | head -n 1; \
             printf '%s\\n' \"$v\" | tail -n +2 | sed 's/^/procmore:/'; fi; ",
            quote(params.name.trim())
        ));
        script.push_str(&attrs::assign("f", &params.sysctl_file));
        script.push_str(&format!(
            "printf 'real:%s\\n' \"$(realpath -m -- \"$f\")\"; \
             if [ -f \"$f\" ]; then echo {}; exec cat -- \"$f\"; fi",
            attrs::CONTENT_MARKER
        ));
        let out = ctx.host.sh_ok(&script).await?;
        let report = attrs::Report::parse(&out.stdout);
        if report.has("nosysctl") {
            return Err(ModuleError::failed(
                "Failed to find required executable \"sysctl\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let proc_value = report.get("proc").map(|first| {
            let mut v = first.to_string();
            for more in text.lines().filter_map(|l| l.strip_prefix("procmore:")) {
                v.push('\n');
                v.push_str(more);
            }
            v
        });
        let lines = report
            .content
            .as_deref()
            .map(|c| {
                String::from_utf8_lossy(c)
                    .split_inclusive('\n')
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(SysctlObserved {
            proc_value,
            lines,
            real: report.get("real").unwrap_or(&params.sysctl_file).to_string(),
        })
    }

    fn plan(
        &self,
        params: &SysctlParams,
        observed: SysctlObserved,
        _ctx: &Context<'_>,
    ) -> Result<Planned<SysctlAction>, ModuleError> {
        plan_with(params, observed)
    }

    async fn apply(
        &self,
        params: &SysctlParams,
        action: SysctlAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let e = if params.ignoreerrors { "-e " } else { "" };
        let path = "PATH=\"$PATH:/sbin:/usr/sbin\"; LANG=C; export LANG; ";
        if action.set_proc {
            let value = if action.value.split_whitespace().next().is_some() {
                format!("\"{}\"", action.value)
            } else {
                action.value.clone()
            };
            let out = ctx
                .host
                .sh(&format!(
                    "{path}sysctl {e}-w {}",
                    quote(&format!("{}={value}", action.name))
                ))
                .await?;
            let err = out.stderr_lossy();
            if !out.success() || stderr_failed(&err) {
                return Err(ModuleError::failed(format!(
                    "setting {} failed: {}{err}",
                    action.name,
                    out.stdout_lossy()
                )));
            }
        }
        if let Some(content) = &action.content {
            ctx.host
                .write_file_atomic(&action.real, content.as_bytes(), &WriteOptions::default())
                .await?;
        }
        if action.reload {
            let out = ctx
                .host
                .sh(&format!(
                    "{path}sysctl {e}-p {}",
                    quote(&expand_file(&params.sysctl_file, ctx).await?)
                ))
                .await?;
            let err = out.stderr_lossy();
            if !out.success() || stderr_failed(&err) {
                return Err(ModuleError::failed(format!(
                    "Failed to reload sysctl: {}{err}",
                    out.stdout_lossy()
                )));
            }
        }
        Ok(Outcome::changed())
    }
}

tend_module_api::register_module!(SysctlModule);

/// `sysctl_file` with `~` expanded on the host.
async fn expand_file(file: &str, ctx: &Context<'_>) -> Result<String, ModuleError> {
    if !file.starts_with('~') {
        return Ok(file.to_string());
    }
    let out = ctx
        .host
        .sh_ok(&format!("{}printf '%s' \"$f\"", attrs::assign("f", file)))
        .await?;
    Ok(out.stdout_lossy())
}

/// Ansible's `process()` without the host. Pure.
fn plan_with(
    params: &SysctlParams,
    observed: SysctlObserved,
) -> Result<Planned<SysctlAction>, ModuleError> {
    let present = params.state == SysctlState::Present;
    if present && params.value.is_none() {
        return Err(ModuleError::failed(
            "state is present but all of the following are missing: value",
        ));
    }
    if params.name.is_empty() {
        return Err(ModuleError::failed("name cannot be blank"));
    }
    if present && params.value.as_deref() == Some("") {
        return Err(ModuleError::failed("value cannot be blank"));
    }
    let name = py_strip(&params.name).to_string();
    let value = parse_value(params.value.as_deref());

    // read_sysctl_file: stripped lines, and the last value of each key.
    let lines: Vec<String> = observed
        .lines
        .iter()
        .map(|l| py_strip(l).to_string())
        .collect();
    let is_setting = |l: &str| !(l.is_empty() || l.starts_with(['#', ';']) || !l.contains('='));
    let mut file_value: Option<String> = None;
    for line in lines.iter().filter(|l| is_setting(l)) {
        if let Some((k, v)) = line.split_once('=') {
            if py_strip(k) == name {
                file_value = Some(py_strip(v).to_string());
            }
        }
    }

    // fix_lines
    let mut checked: Vec<String> = Vec::new();
    let mut fixed: Vec<String> = Vec::new();
    for line in &lines {
        if !is_setting(line) {
            fixed.push(line.clone());
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (py_strip(k), py_strip(v));
        if checked.iter().any(|c| c == k) {
            continue;
        }
        checked.push(k.to_string());
        if k == name {
            if present {
                fixed.push(format!("{k}={value}"));
            }
        } else {
            fixed.push(format!("{k}={v}"));
        }
    }
    if present && !checked.contains(&name) {
        fixed.push(format!("{name}={value}"));
    }

    let mut changed = false;
    let mut write_file = false;
    let mut set_proc = false;
    match (&file_value, present) {
        (None, true) => {
            changed = true;
            write_file = true;
        }
        (None, false) => {}
        // Python truthiness: an empty value in the file counts as not there.
        (Some(v), false) if !v.is_empty() => {
            changed = true;
            write_file = true;
        }
        (Some(v), _) if *v != value => {
            changed = true;
            write_file = true;
        }
        _ => {
            if params.reload && !values_equal(observed.proc_value.as_deref(), &value) {
                changed = true;
            }
        }
    }
    if params.sysctl_set && present {
        match observed.proc_value.as_deref() {
            None => changed = true,
            Some(current) if !values_equal(Some(current), &value) => {
                changed = true;
                set_proc = true;
            }
            Some(_) => {}
        }
    }
    if !changed {
        return Ok(Planned::Done(Outcome::ok()));
    }
    let content: String = fixed.iter().map(|l| format!("{}\n", py_strip(l))).collect();
    Ok(Planned::Change {
        action: SysctlAction {
            set_proc,
            content: write_file.then_some(content),
            reload: params.reload,
            name,
            value,
            real: observed.real,
        },
        preview: Outcome::changed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> SysctlParams {
        serde_json::from_value(json).expect("params")
    }

    fn observed(proc_value: Option<&str>, file: &str) -> SysctlObserved {
        SysctlObserved {
            proc_value: proc_value.map(str::to_string),
            lines: file.split_inclusive('\n').map(str::to_string).collect(),
            real: "/etc/sysctl.conf".into(),
        }
    }

    fn plan(p: serde_json::Value, o: SysctlObserved) -> Option<SysctlAction> {
        match plan_with(&params(p), o).expect("plan") {
            Planned::Done(_) => None,
            Planned::Change { action, .. } => Some(action),
        }
    }

    #[test]
    fn rewrites_the_file_in_normal_form() {
        let a = plan(
            serde_json::json!({"name": "kernel.domainname", "value": "lab"}),
            observed(Some("(none)\n"), "# c\n  a.b = 1 \na.b=2\n\nx.y=3"),
        )
        .expect("change");
        assert_eq!(
            a.content.as_deref(),
            Some("# c\na.b=1\n\nx.y=3\nkernel.domainname=lab\n")
        );
        assert!(a.reload);
        assert!(!a.set_proc);
        let a = plan(
            serde_json::json!({"name": "a.b", "state": "absent", "reload": false}),
            observed(None, "a.b=1\nc=2\n"),
        )
        .expect("change");
        assert_eq!(a.content.as_deref(), Some("c=2\n"));
    }

    #[test]
    fn running_values_and_reload() {
        // File right, kernel wrong: reload counts as a change, file untouched.
        let a = plan(
            serde_json::json!({"name": "k", "value": "a  b"}),
            observed(Some("x\n"), "k=a  b\n"),
        )
        .expect("change");
        assert_eq!(a.content, None);
        assert!(plan(
            serde_json::json!({"name": "k", "value": "a  b"}),
            observed(Some("a\tb\n"), "k=a  b\n")
        )
        .is_none());
        assert!(plan(
            serde_json::json!({"name": "k", "value": "1", "reload": false}),
            observed(Some("0\n"), "k=1\n")
        )
        .is_none());
        let a = plan(
            serde_json::json!({"name": "k", "value": "yes", "reload": false, "sysctl_set": true}),
            observed(Some("0\n"), "k=1\n"),
        )
        .expect("change");
        assert!(a.set_proc);
        assert_eq!(a.value, "1");
        assert!(stderr_failed("x\nsysctl: setting key \"k\": Invalid argument\n"));
        assert!(!stderr_failed("sysctl: cannot stat /proc/sys/k: No such file"));
    }
}
