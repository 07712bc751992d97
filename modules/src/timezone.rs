//! `timezone`: the system time zone (and whether the hardware clock keeps UTC).
//!
//! ```yaml
//! - name: Local time is Paris time
//!   community.general.timezone:
//!     name: Europe/Paris
//! ```
//!
//! The logic is `community.general.timezone`'s two Linux classes, chosen as Ansible chooses:
//! - with a working `timedatectl` (systemd running): the zone and "RTC in local TZ" are read
//!   from `timedatectl status` and set with `timedatectl set-timezone` / `set-local-rtc`;
//! - otherwise, on a Debian-like host (`dpkg-reconfigure` present): the zone is the first word
//!   of `/etc/timezone`, checked against the `/etc/localtime` symlink (or, for a regular file,
//!   its content against the zone file); a change rewrites `/etc/timezone` (the zone line
//!   replacing every line that starts with a word), then runs
//!   `ln -sf /usr/share/zoneinfo/ZONE /etc/localtime` and
//!   `dpkg-reconfigure --frontend noninteractive tzdata`; `hwclock` edits `UTC=` in
//!   `/etc/default/rcS` (read back through `/etc/adjtime`) and runs
//!   `hwclock --systohc --utc|--localtime`.
//!
//! The zone must exist under `/usr/share/zoneinfo`. After a real change the state is read
//! again and must be the one asked for ("still not desired state" otherwise, as Ansible).
//! Returns `msg` (what was done) when something was; the diff shows the values before and
//! after as JSON.
//!
//! Differences from Ansible: RHEL/SUSE (`/etc/sysconfig/clock`), Alpine, Gentoo, the BSDs,
//! macOS, SmartOS and AIX are not supported.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::{quote, Context, Diff, Module, ModuleError, Outcome, Planned};

use crate::attrs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Hwclock {
    #[serde(rename = "local")]
    Local,
    #[serde(rename = "UTC")]
    Utc,
}

impl Hwclock {
    fn name(self) -> &'static str {
        match self {
            Hwclock::Local => "local",
            Hwclock::Utc => "UTC",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimezoneParams {
    /// The zone (`Europe/Paris`), a name under `/usr/share/zoneinfo`.
    pub name: Option<String>,
    /// Whether the hardware clock keeps `UTC` or `local` time.
    #[serde(alias = "rtc")]
    pub hwclock: Option<Hwclock>,
}

pub struct TimezoneModule;

/// How the host keeps its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Systemd,
    Debian,
}

/// The current values, as Ansible's `get(key, 'before')` reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TzObserved {
    pub kind: Option<Kind>,
    /// The zone file for `name` exists.
    pub zone_exists: bool,
    pub has_hwclock: bool,
    pub name: Option<String>,
    pub hwclock: Option<String>,
}

#[derive(Debug)]
pub struct TzAction {
    kind: Kind,
    set_name: bool,
    set_hwclock: bool,
    before: Map<String, Value>,
}

/// The script printing `name:` and `hwclock:` as Ansible reads them, for `planned` values.
fn read_script(params: &TimezoneParams) -> String {
    let planned = params.name.clone().unwrap_or_default();
    let planned_hw = params.hwclock.map_or("", Hwclock::name);
    format!(
        "pl={pl}; plh={plh}; \
         if command -v timedatectl >/dev/null 2>&1 && st=$(timedatectl status 2>/dev/null); then \
           echo kind:systemd; \
           z=$(printf '%s\\n' \"$st\" | sed -n 's/^[[:space:]]*Time \\{{0,1\\}}zone[[:space:]]*:[[:space:]]*\\([^[:space:]]*\\).*/\\1/p' | head -n 1); \
           printf 'name:%s\\n' \"$z\"; \
           r=$(printf '%s\\n' \"$st\" | sed -n 's/^[[:space:]]*RTC in local TZ[[:space:]]*:[[:space:]]*\\([^[:space:]]*\\).*/\\1/p' | head -n 1); \
           case \"$r\" in yes|Yes|YES|true|on|1) echo hwclock:local;; *) echo hwclock:UTC;; esac; \
         elif command -v dpkg-reconfigure >/dev/null 2>&1; then \
           echo kind:debian; \
           if [ -r /etc/timezone ]; then z=$(grep -o -m 1 '^[^[:space:]]\\+' /etc/timezone); [ -n \"$z\" ] || z=n/a; else z=n/a; fi; \
           if [ \"$z\" = \"$pl\" ]; then \
             if [ -L /etc/localtime ]; then \
               if [ -e /etc/localtime ]; then l=$(readlink /etc/localtime); \
                 case \"$l\" in */usr/share/zoneinfo/*) lz=${{l#*/usr/share/zoneinfo/}};; */etc/zoneinfo/*) lz=${{l#*/etc/zoneinfo/}};; *) lz=n/a;; esac; \
                 if [ \"$lz\" = n/a ]; then z=n/a; elif [ \"$lz\" != \"$pl\" ]; then z=$lz; fi; \
               else z=n/a; fi; \
             elif ! cmp -s /etc/localtime \"/usr/share/zoneinfo/$pl\" 2>/dev/null; then z=n/a; fi; \
           fi; printf 'name:%s\\n' \"$z\"; \
           h=n/a; if [ -r /etc/default/rcS ]; then v=$(sed -n 's/^UTC[[:space:]]*=[[:space:]]*\\([^[:space:]]*\\).*/\\1/p' /etc/default/rcS | head -n 1); \
             case \"$v\" in '') ;; y|Y|yes|Yes|YES|true|True|TRUE|on|On|ON|1|t|T) h=UTC;; *) h=local;; esac; fi; \
           if [ \"$h\" = \"$plh\" ]; then h=UTC; if [ -r /etc/adjtime ]; then a=$(grep -x -m 1 'UTC\\|LOCAL' /etc/adjtime); [ \"$a\" = LOCAL ] && h=local; fi; fi; \
           printf 'hwclock:%s\\n' \"$h\"; \
         fi; \
         if [ -n \"$pl\" ] && [ -f \"/usr/share/zoneinfo/$pl\" ]; then echo zone; fi; \
         if command -v hwclock >/dev/null 2>&1 || [ -x /sbin/hwclock ] || [ -x /usr/sbin/hwclock ]; then echo hwclock.bin; fi",
        pl = quote(&planned),
        plh = quote(planned_hw),
    )
}

async fn observe(params: &TimezoneParams, ctx: &Context<'_>) -> Result<TzObserved, ModuleError> {
    let report = attrs::run(ctx.host, &read_script(params)).await?;
    let kind = match report.get("kind") {
        Some("systemd") => Some(Kind::Systemd),
        Some("debian") => Some(Kind::Debian),
        _ => None,
    };
    Ok(TzObserved {
        kind,
        zone_exists: report.has("zone"),
        has_hwclock: report.has("hwclock.bin"),
        name: report.get("name").map(str::to_string),
        hwclock: report.get("hwclock").map(str::to_string),
    })
}

fn abort(msg: &str, done: &[String]) -> ModuleError {
    let mut text = format!("Error message:\n{msg}");
    if !done.is_empty() {
        text.push_str("\nOther message(s):\n");
        text.push_str(&done.join("\n"));
    }
    ModuleError::failed(text)
}

/// The values Ansible compares, in its key order (`hwclock`, then `name`).
fn values(params: &TimezoneParams, observed: &TzObserved) -> (Map<String, Value>, Map<String, Value>) {
    let mut before = Map::new();
    let mut planned = Map::new();
    if let Some(hw) = params.hwclock {
        before.insert(
            "hwclock".into(),
            observed.hwclock.clone().unwrap_or_default().into(),
        );
        planned.insert("hwclock".into(), hw.name().into());
    }
    if let Some(name) = &params.name {
        before.insert("name".into(), observed.name.clone().unwrap_or_default().into());
        planned.insert("name".into(), name.clone().into());
    }
    (before, planned)
}

/// Ansible's diff of dicts: `json.dumps(sort_keys=True, indent=4)`.
fn json_text(map: &Map<String, Value>) -> String {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    let _ = serde::Serialize::serialize(&Value::Object(map.clone()), &mut ser);
    format!("{}\n", String::from_utf8_lossy(&buf))
}

#[async_trait]
impl Module for TimezoneModule {
    type Params = TimezoneParams;
    type Observed = TzObserved;
    type Action = TzAction;

    const NAME: &'static str = "timezone";

    async fn query(
        &self,
        params: &TimezoneParams,
        ctx: &Context<'_>,
    ) -> Result<TzObserved, ModuleError> {
        observe(params, ctx).await
    }

    fn plan(
        &self,
        params: &TimezoneParams,
        observed: TzObserved,
        ctx: &Context<'_>,
    ) -> Result<Planned<TzAction>, ModuleError> {
        plan_with(params, observed, ctx.diff)
    }

    async fn apply(
        &self,
        params: &TimezoneParams,
        action: TzAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let mut done: Vec<String> = Vec::new();
        let run = |script: String| async move {
            let out = ctx.host.sh(&script).await?;
            if out.success() {
                Ok(())
            } else {
                let mut values = Map::new();
                values.insert("rc".into(), out.exit_code.into());
                values.insert("stdout".into(), out.stdout_lossy().into());
                values.insert("stderr".into(), out.stderr_lossy().into());
                Err(ModuleError::Failed {
                    msg: out.stderr_lossy().trim().to_string(),
                    values,
                })
            }
        };
        // Ansible sets the keys in its dict order: hwclock, then name.
        if action.set_hwclock {
            let hw = params.hwclock.unwrap_or(Hwclock::Utc);
            let option = if hw == Hwclock::Local { "--localtime" } else { "--utc" };
            match action.kind {
                Kind::Systemd => {
                    let v = if hw == Hwclock::Local { "yes" } else { "no" };
                    run(format!("timedatectl set-local-rtc {v}")).await?;
                    done.push(format!("executed `timedatectl set-local-rtc {v}`"));
                }
                Kind::Debian => {
                    let utc = if hw == Hwclock::Local { "no" } else { "yes" };
                    let n = edit_file(ctx, "/etc/default/rcS", "^UTC[[:space:]]*=[[:space:]]*[^[:space:]]", &format!("UTC={utc}")).await?;
                    done.push(format!(
                        "Added 1 line and deleted {n} line(s) on /etc/default/rcS"
                    ));
                    run(format!("hwclock --systohc {option}")).await?;
                    done.push(format!("executed `hwclock --systohc {option}`"));
                }
            }
        }
        if action.set_name {
            let name = params.name.clone().unwrap_or_default();
            match action.kind {
                Kind::Systemd => {
                    run(format!("timedatectl set-timezone {}", quote(&name))).await?;
                    done.push(format!("executed `timedatectl set-timezone {name}`"));
                }
                Kind::Debian => {
                    let n = edit_file(ctx, "/etc/timezone", "^[^[:space:]]", &name).await?;
                    done.push(format!(
                        "Added 1 line and deleted {n} line(s) on /etc/timezone"
                    ));
                    run(format!(
                        "ln -sf {} /etc/localtime && DEBIAN_FRONTEND=noninteractive dpkg-reconfigure --frontend noninteractive tzdata",
                        quote(&format!("/usr/share/zoneinfo/{name}"))
                    ))
                    .await?;
                }
            }
        }
        let after = observe(params, ctx).await?;
        let (after_values, planned) = values(params, &after);
        if after_values != planned {
            return Err(abort(
                &format!(
                    "still not desired state, though changes have made - planned: {}, after: {}",
                    python_dict(&planned),
                    python_dict(&after_values)
                ),
                &done,
            ));
        }
        let mut outcome = Outcome::changed();
        if ctx.diff {
            outcome.diffs.push(Diff {
                before_header: "before".into(),
                after_header: "after".into(),
                before: json_text(&action.before),
                after: json_text(&after_values),
            });
        }
        if !done.is_empty() {
            outcome.msg = Some(done.join("\n"));
        }
        Ok(outcome)
    }
}

tend_module_api::register_module!(TimezoneModule);

/// `str(dict)` for a dict of strings.
fn python_dict(map: &Map<String, Value>) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("'{k}': '{}'", v.as_str().unwrap_or_default()))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// Ansible's `_edit_file`: every line matching `regexp` goes, `line` takes the place of the
/// first (or goes first). Returns how many lines were deleted.
async fn edit_file(
    ctx: &Context<'_>,
    file: &str,
    regexp: &str,
    line: &str,
) -> Result<usize, ModuleError> {
    let content = ctx.host.read_file(file).await?.unwrap_or_default();
    let text = String::from_utf8_lossy(&content);
    let re = regex::Regex::new(&regexp.replace("[[:space:]]", r"\s")).map_err(|e| ModuleError::failed(e.to_string()))?;
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let matched: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| re.is_match(l))
        .map(|(i, _)| i)
        .collect();
    let at = matched.first().copied().unwrap_or(0);
    for i in matched.iter().rev() {
        lines.remove(*i);
    }
    lines.insert(at, format!("{line}\n"));
    let options = tend_module_api::WriteOptions {
        mode: None,
        ..Default::default()
    };
    ctx.host
        .write_file_atomic(file, lines.concat().as_bytes(), &options)
        .await?;
    Ok(matched.len())
}

/// Ansible's `main()` up to the change. Pure.
fn plan_with(
    params: &TimezoneParams,
    observed: TzObserved,
    want_diff: bool,
) -> Result<Planned<TzAction>, ModuleError> {
    if params.name.is_none() && params.hwclock.is_none() {
        return Err(ModuleError::failed(
            "one of the following is required: hwclock, name",
        ));
    }
    let Some(kind) = observed.kind else {
        return Err(ModuleError::failed(
            "the timezone module in tend supports hosts with systemd's timedatectl or Debian's dpkg-reconfigure only",
        ));
    };
    if let Some(name) = &params.name {
        if !observed.zone_exists {
            return Err(abort(&format!("given timezone \"{name}\" is not available"), &[]));
        }
    }
    if kind == Kind::Debian && !observed.has_hwclock {
        return Err(ModuleError::failed(
            "Failed to find required executable \"hwclock\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ));
    }
    let (before, planned) = values(params, &observed);
    if before == planned {
        return Ok(Planned::Done(Outcome::ok()));
    }
    let mut preview = Outcome::changed();
    if want_diff {
        preview.diffs.push(Diff {
            before_header: "before".into(),
            after_header: "after".into(),
            before: json_text(&before),
            after: json_text(&planned),
        });
    }
    Ok(Planned::Change {
        action: TzAction {
            kind,
            set_name: before.get("name") != planned.get("name"),
            set_hwclock: before.get("hwclock") != planned.get("hwclock"),
            before,
        },
        preview,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> TimezoneParams {
        serde_json::from_value(json).expect("params")
    }

    fn debian(name: &str) -> TzObserved {
        TzObserved {
            kind: Some(Kind::Debian),
            zone_exists: true,
            has_hwclock: true,
            name: Some(name.into()),
            hwclock: Some("n/a".into()),
        }
    }

    #[test]
    fn plans_a_zone_change_with_a_json_diff() {
        let p = params(serde_json::json!({"name": "Europe/Paris"}));
        match plan_with(&p, debian("Etc/UTC"), true).expect("plan") {
            Planned::Change { action, preview } => {
                assert!(action.set_name);
                assert!(!action.set_hwclock);
                assert_eq!(preview.diffs[0].before, "{\n    \"name\": \"Etc/UTC\"\n}\n");
                assert_eq!(preview.diffs[0].after, "{\n    \"name\": \"Europe/Paris\"\n}\n");
            }
            Planned::Done(_) => panic!("expected a change"),
        }
        assert!(matches!(
            plan_with(&p, debian("Europe/Paris"), false),
            Ok(Planned::Done(_))
        ));
        let mut missing = debian("Etc/UTC");
        missing.zone_exists = false;
        let err = plan_with(&p, missing, false).expect_err("no zone");
        assert_eq!(
            err.to_string(),
            "Error message:\ngiven timezone \"Europe/Paris\" is not available"
        );
    }

    #[test]
    fn python_dicts_in_messages() {
        let mut m = Map::new();
        m.insert("name".into(), "UTC".into());
        assert_eq!(python_dict(&m), "{'name': 'UTC'}");
    }
}
