//! `mount`: a filesystem's line in fstab, and whether it is mounted.
//!
//! ```yaml
//! - name: A scratch tmpfs, in fstab and mounted
//!   ansible.posix.mount:
//!     path: /srv/scratch
//!     src: tmpfs
//!     fstype: tmpfs
//!     opts: size=64m,mode=1777
//!     state: mounted
//!
//! - name: Gone from fstab and unmounted (the mount point removed)
//!   ansible.posix.mount: {path: /mnt/old, state: absent}
//! ```
//!
//! The logic is `ansible.posix.mount` on Linux, step for step. fstab lines are matched by
//! mount point (swap lines by source); a matching line whose source, type, options, dump or
//! passno differ is rewritten (`src path fstype opts dump passno`, spaces, `&` and `\` escaped
//! as `\040`, `\046`, `\134`), a missing one appended; comments and other lines are kept.
//! - `present`: the fstab line only; `absent_from_fstab`: the line removed only;
//! - `mounted`: the line, the mount point created (`mkdir -p`), then `mount PATH` when not
//!   mounted, or a remount (`mount -o remount PATH`, else `umount` + `mount`) when the line
//!   changed; a failed mount restores fstab and removes the directories it created;
//! - `unmounted`: `umount` when mounted; `absent`: the line removed, then unmounted and the
//!   mount point removed (`rmdir`) when the line was there;
//! - `remounted`: always a remount (changed); `ephemeral`: mounted with `-t`/`-o` on the
//!   command line, fstab untouched (remounted when already mounted from the same source).
//!
//! `fstab` names another file (passed as `mount -T FILE`); `boot: false` adds `noauto`;
//! `backup` copies fstab to `FSTAB.PID.YYYY-MM-DD@HH:MM:SS~` before writing it. Whether a path
//! is mounted comes from `mountpoint -q` and `/proc/self/mountinfo` (bind mounts). Returns
//! `name`, `src`, `fstype`, `opts`, `dump`, `passno`, `fstab`, `boot` (`yes`/`no`) and
//! `backup_file`, as Ansible does.
//!
//! Differences from Ansible: a missing fstab file is created only by a real run (Ansible also
//! creates it in check mode); Solaris and the BSDs are not supported.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

use crate::attrs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountState {
    Absent,
    AbsentFromFstab,
    Mounted,
    Present,
    Unmounted,
    Remounted,
    Ephemeral,
}

fn yes() -> bool {
    true
}

fn zero() -> String {
    "0".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountParams {
    /// The mount point.
    #[serde(alias = "name")]
    pub path: String,
    /// The device, remote share or `tmpfs` (required for `present`, `mounted`, `ephemeral`).
    pub src: Option<String>,
    /// The filesystem type (required for `present`, `mounted`, `ephemeral`).
    pub fstype: Option<String>,
    /// Mount options (`defaults`).
    pub opts: Option<String>,
    /// Do not log `opts`.
    #[serde(default)]
    pub opts_no_log: bool,
    /// fstab's dump field.
    #[serde(default = "zero")]
    pub dump: String,
    /// fstab's passno field.
    #[serde(default = "zero")]
    pub passno: String,
    /// Another fstab file than `/etc/fstab`.
    pub fstab: Option<String>,
    /// Mount at boot; `false` adds `noauto`.
    #[serde(default = "yes")]
    pub boot: bool,
    /// Copy fstab before changing it.
    #[serde(default)]
    pub backup: bool,
    /// What to make true (see the module docs).
    pub state: MountState,
}

pub struct MountModule;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountObserved {
    /// fstab's text ("" when missing).
    pub fstab: String,
    pub fstab_exists: bool,
    pub path_exists: bool,
    /// `mountpoint -q PATH`.
    pub is_mount: bool,
    /// `/proc/self/mountinfo`.
    pub mountinfo: Option<String>,
}

/// Ansible's `args`: the fstab fields (as given, not escaped) and the rest it returns.
#[derive(Debug, Clone)]
struct Args {
    name: String,
    src: Option<String>,
    fstype: Option<String>,
    opts: String,
    dump: String,
    passno: String,
    fstab: String,
    boot: &'static str,
    warnings: Vec<String>,
}

fn args_of(params: &MountParams) -> Args {
    let mut args = Args {
        name: params.path.clone(),
        src: params.src.clone(),
        fstype: params.fstype.clone(),
        opts: params.opts.clone().unwrap_or_else(|| "defaults".into()),
        dump: params.dump.clone(),
        passno: params.passno.clone(),
        fstab: params.fstab.clone().unwrap_or_else(|| "/etc/fstab".into()),
        boot: "yes",
        warnings: Vec::new(),
    };
    let mut opts: Vec<String> = args.opts.split(',').map(str::to_string).collect();
    if params.boot && opts.iter().any(|o| o == "noauto") {
        args.warnings
            .push("Ignore the 'boot' due to 'opts' contains 'noauto'.".into());
    } else if !params.boot {
        args.boot = "no";
        opts.push("noauto".into());
        args.opts = opts.join(",");
    }
    args
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('&', "\\046")
}

/// Python's `readlines()` with a final newline added to the last line (`_set_mount_save_old`).
fn fstab_lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n')
        .map(|l| {
            if l.ends_with('\n') {
                l.to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// `_set_mount_save_old`: the new fstab lines and whether they changed.
fn set_mount(args: &Args, text: &str) -> (Vec<String>, bool) {
    let e = |v: &Option<String>| escape(v.as_deref().unwrap_or("None"));
    let (src, name, fstype, opts) = (e(&args.src), escape(&args.name), e(&args.fstype), escape(&args.opts));
    let (dump, passno) = (escape(&args.dump), escape(&args.passno));
    let mut out = Vec::new();
    let mut exists = false;
    let mut changed = false;
    for line in fstab_lines(text) {
        if line.trim().is_empty() || line.trim().starts_with('#') {
            out.push(line);
            continue;
        }
        let fields: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if !(4..=6).contains(&fields.len()) {
            out.push(line);
            continue;
        }
        let mut ld: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        while ld.len() < 6 {
            ld.push("0".into());
        }
        let swap_other = args.src.is_some() && ld[1] == "none" && ld[2] == "swap" && ld[0] != args.src.clone().unwrap_or_default();
        if ld[1] != name || swap_other {
            out.push(line);
            continue;
        }
        exists = true;
        let wanted = [&src, &name, &fstype, &opts, &dump, &passno];
        let mut line_changed = false;
        for i in [0, 2, 3, 4, 5] {
            if ld[i] != *wanted[i] {
                ld[i] = wanted[i].clone();
                line_changed = true;
            }
        }
        // Ansible's `changed` carries over to later matching lines.
        changed |= line_changed;
        if changed {
            out.push(format!("{}\n", ld.join(" ")));
        } else {
            out.push(line);
        }
    }
    if !exists {
        out.push(format!("{src} {name} {fstype} {opts} {dump} {passno}\n"));
        changed = true;
    }
    (out, changed)
}

/// `unset_mount`: fstab without the mount point's lines, and whether any went.
fn unset_mount(args: &Args, text: &str) -> (Vec<String>, bool) {
    let name = escape(&args.name);
    let mut out = Vec::new();
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if line.trim().is_empty() || line.trim().starts_with('#') || fields.len() != 6 {
            out.push(line.to_string());
            continue;
        }
        let swap_other = args.src.as_deref().is_some_and(|s| {
            fields[1] == "none" && fields[2] == "swap" && fields[0] != s
        });
        if fields[1] != name || swap_other {
            out.push(line.to_string());
            continue;
        }
        changed = true;
    }
    (out, changed)
}

/// `get_linux_mounts`: mount point → source (bind mounts resolved to their directory).
fn linux_mounts(mountinfo: &str) -> std::collections::BTreeMap<String, String> {
    struct Rec {
        id: i64,
        parent: i64,
        root: String,
        dst: String,
        src: String,
    }
    let recs: Vec<Rec> = mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 7 {
                return None;
            }
            Some(Rec {
                id: f[0].parse().ok()?,
                parent: f[1].parse().ok()?,
                root: f[3].to_string(),
                dst: f[4].to_string(),
                src: f[f.len() - 2].to_string(),
            })
        })
        .collect();
    let mut mounts = std::collections::BTreeMap::new();
    for m in &recs {
        let parent = recs.iter().find(|p| p.id == m.parent);
        let src = match parent {
            Some(p) if m.parent != 1 => {
                let mut root = m.root.clone();
                if p.root.len() > 1 && root.starts_with(&format!("{}/", p.root)) {
                    root = root[p.root.len()..].to_string();
                }
                if p.dst != "/" {
                    root = format!("{}{root}", p.dst);
                }
                root
            }
            _ => m.src.clone(),
        };
        mounts.insert(m.dst.clone(), src);
    }
    mounts
}

fn is_bind_mounted(observed: &MountObserved, dest: &str, src: Option<&str>) -> bool {
    let Some(info) = &observed.mountinfo else {
        return false;
    };
    let mounts = linux_mounts(info);
    match (mounts.get(dest), src) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(s), Some(want)) => s == want,
    }
}

/// What a real run does, in order.
#[derive(Debug, Default)]
pub struct MountAction {
    mkdir: bool,
    /// New fstab content.
    fstab: Option<String>,
    /// The fstab content to restore when the mount fails.
    restore: Option<String>,
    umount: bool,
    rmdir: bool,
    mount: bool,
    remount: bool,
    outcome: Outcome,
}

#[async_trait]
impl Module for MountModule {
    type Params = MountParams;
    type Observed = MountObserved;
    type Action = MountAction;

    const NAME: &'static str = "mount";

    async fn query(
        &self,
        params: &MountParams,
        ctx: &Context<'_>,
    ) -> Result<MountObserved, ModuleError> {
        let args = args_of(params);
        let script = format!(
            "p={}; f={}; [ -e \"$p\" ] && echo exists; \
             if mountpoint -q -- \"$p\" 2>/dev/null; then echo ismount; fi; \
             if [ -r /proc/self/mountinfo ]; then sed 's/^/mi:/' /proc/self/mountinfo; fi; \
             if [ -e \"$f\" ]; then echo fstab.exists; echo {}; exec cat -- \"$f\"; fi",
            quote(&params.path),
            quote(&args.fstab),
            attrs::CONTENT_MARKER
        );
        let out = ctx.host.sh_ok(&script).await?;
        let report = attrs::Report::parse(&out.stdout);
        let text = String::from_utf8_lossy(&out.stdout);
        let mountinfo: Vec<&str> = text
            .lines()
            .take_while(|l| *l != attrs::CONTENT_MARKER)
            .filter_map(|l| l.strip_prefix("mi:"))
            .collect();
        Ok(MountObserved {
            fstab: report
                .content
                .as_deref()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .unwrap_or_default(),
            fstab_exists: report.has("fstab.exists"),
            path_exists: report.has("exists"),
            is_mount: report.has("ismount"),
            mountinfo: (!mountinfo.is_empty()).then(|| mountinfo.join("\n")),
        })
    }

    fn plan(
        &self,
        params: &MountParams,
        observed: MountObserved,
        _ctx: &Context<'_>,
    ) -> Result<Planned<MountAction>, ModuleError> {
        plan_with(params, observed)
    }

    async fn apply(
        &self,
        params: &MountParams,
        action: MountAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let args = args_of(params);
        // tend never logs module arguments, so there is nothing for `opts_no_log` to hide.
        let _ = params.opts_no_log;
        let mut outcome = action.outcome;
        let p = quote(&params.path);
        let fstab = quote(&args.fstab);
        // Ansible creates a missing fstab (and its directory) before anything else.
        if params.state != MountState::Ephemeral {
            ctx.host
                .sh_ok(&format!(
                    "f={fstab}; [ -e \"$f\" ] || {{ mkdir -p -- \"$(dirname -- \"$f\")\" && : >> \"$f\"; }}"
                ))
                .await?;
        }
        let mut created: Vec<String> = Vec::new();
        if action.mkdir {
            let out = ctx
                .host
                .sh_ok(&format!(
                    "p={p}; c=; IFS=/; for d in ${{p#/}}; do c=\"$c/$d\"; if [ ! -e \"$c\" ]; then mkdir -- \"$c\" && printf '%s\\n' \"$c\"; fi; done"
                ))
                .await
                .map_err(|e| ModuleError::failed(format!("Error making dir {}: {e}", params.path)))?;
            created = out.stdout_lossy().lines().map(str::to_string).collect();
        }
        if let Some(content) = &action.fstab {
            if params.backup {
                let out = ctx
                    .host
                    .sh_ok(&format!(
                        "f={fstab}; b=\"$f.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$f\" \"$b\"; printf '%s' \"$b\""
                    ))
                    .await?;
                outcome
                    .values
                    .insert("backup_file".into(), out.stdout_lossy().into());
            }
            write_in_place(ctx, &args.fstab, content).await?;
        }
        let fstab_arg = if args.fstab != "/etc/fstab" {
            format!("-T {fstab} ")
        } else {
            String::new()
        };
        let ephemeral = if params.state == MountState::Ephemeral {
            let mut s = format!("-t {} ", quote(args.fstype.as_deref().unwrap_or_default()));
            if args.opts != "defaults" {
                s.push_str(&format!("-o {} ", quote(&args.opts)));
            }
            s.push_str(&format!("{} ", quote(args.src.as_deref().unwrap_or_default())));
            s
        } else {
            String::new()
        };
        let fstab_or_eph = if params.state == MountState::Ephemeral {
            ephemeral.clone()
        } else {
            fstab_arg.clone()
        };
        let mount_cmd = format!("mount {fstab_or_eph}{p}");
        let mut failure: Option<String> = None;
        if action.umount {
            let out = ctx.host.sh(&format!("umount {p}")).await?;
            if !out.success() {
                return Err(ModuleError::failed(format!(
                    "Error unmounting {}: {}{}",
                    params.path,
                    out.stdout_lossy(),
                    out.stderr_lossy()
                )));
            }
        }
        if action.rmdir {
            let out = ctx
                .host
                .sh(&format!("if [ -e {p} ]; then rmdir -- {p}; fi"))
                .await?;
            if !out.success() {
                return Err(ModuleError::failed(format!(
                    "Error rmdir {}: {}",
                    params.path,
                    out.stderr_lossy().trim()
                )));
            }
        }
        if action.remount {
            let opts = if params.state == MountState::Remounted && args.opts != "defaults" {
                format!("remount,{}", args.opts)
            } else {
                "remount".into()
            };
            let out = ctx
                .host
                .sh(&format!("mount -o {} {fstab_or_eph}{p}", quote(&opts)))
                .await?;
            if !out.success() {
                if params.state == MountState::Remounted && args.opts != "defaults" {
                    return Err(ModuleError::failed(
                        "Options were specified with remounted, but the remount command failed. Failing in order to prevent an unexpected mount result. Try replacing this command with a \"state: unmounted\" followed by a \"state: mounted\" using the full desired mount options instead.",
                    ));
                }
                let out = ctx
                    .host
                    .sh(&format!("umount {p} && {mount_cmd}"))
                    .await?;
                if !out.success() {
                    failure = Some(format!("{}{}", out.stdout_lossy(), out.stderr_lossy()));
                }
            }
        }
        if action.mount {
            let out = ctx.host.sh(&mount_cmd).await?;
            if !out.success() {
                failure = Some(format!("{}{}", out.stdout_lossy(), out.stderr_lossy()));
            }
        }
        if let Some(msg) = failure {
            if params.state == MountState::Remounted {
                return Err(ModuleError::failed(format!(
                    "Error remounting {}: {msg}",
                    params.path
                )));
            }
            // Undo: the old fstab back, the directories this task made removed.
            if let Some(old) = &action.restore {
                let _ = write_in_place(ctx, &args.fstab, old).await;
            }
            for dir in created.iter().rev() {
                let _ = ctx.host.sh(&format!("rmdir -- {}", quote(dir))).await;
            }
            return Err(ModuleError::failed(format!(
                "Error mounting {}: {msg}",
                params.path
            )));
        }
        Ok(outcome)
    }
}

tend_module_api::register_module!(MountModule);

/// fstab is rewritten in place as Ansible's `open(path, 'w')` does (same inode, mode, owner).
async fn write_in_place(ctx: &Context<'_>, path: &str, content: &str) -> Result<(), ModuleError> {
    let out = ctx
        .host
        .sh_with_stdin(&format!("cat > {}", quote(path)), content.as_bytes())
        .await?;
    if out.success() {
        Ok(())
    } else {
        Err(ModuleError::failed(out.stderr_lossy().trim().to_string()))
    }
}

fn described(args: &Args, changed: bool) -> Outcome {
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    let mut outcome = Outcome::ok()
        .with_value("name", args.name.clone())
        .with_value("opts", args.opts.clone())
        .with_value("dump", args.dump.clone())
        .with_value("passno", args.passno.clone())
        .with_value("fstab", args.fstab.clone())
        .with_value("boot", args.boot)
        .with_value("backup_file", "");
    if args.src.is_some() {
        outcome = outcome.with_value("src", opt(&args.src));
    }
    if args.fstype.is_some() {
        outcome = outcome.with_value("fstype", opt(&args.fstype));
    }
    outcome.changed = changed;
    outcome.warnings = args.warnings.clone();
    outcome
}

/// Ansible's `main()` without the host. Pure.
fn plan_with(params: &MountParams, observed: MountObserved) -> Result<Planned<MountAction>, ModuleError> {
    let needs_src = matches!(
        params.state,
        MountState::Mounted | MountState::Present | MountState::Ephemeral
    );
    if needs_src {
        let mut missing = Vec::new();
        if params.src.is_none() {
            missing.push("src");
        }
        if params.fstype.is_none() {
            missing.push("fstype");
        }
        if !missing.is_empty() {
            let state = match params.state {
                MountState::Mounted => "mounted",
                MountState::Present => "present",
                _ => "ephemeral",
            };
            return Err(ModuleError::failed(format!(
                "state is {state} but all of the following are missing: {}",
                missing.join(", ")
            )));
        }
    }
    let args = args_of(params);
    let name = params.path.as_str();
    let mounted_any = observed.is_mount || is_bind_mounted(&observed, name, None);
    let mut action = MountAction::default();
    let changed = match params.state {
        MountState::AbsentFromFstab | MountState::Absent => {
            let (lines, changed) = unset_mount(&args, &observed.fstab);
            if changed {
                action.fstab = Some(lines.concat());
                if params.state == MountState::Absent {
                    action.umount = mounted_any;
                    action.rmdir = true;
                }
            }
            changed
        }
        MountState::Unmounted => {
            action.umount = mounted_any;
            mounted_any
        }
        MountState::Present => {
            let (lines, changed) = set_mount(&args, &observed.fstab);
            if changed {
                action.fstab = Some(lines.concat());
            }
            changed
        }
        MountState::Remounted => {
            action.remount = true;
            true
        }
        MountState::Mounted | MountState::Ephemeral => {
            action.mkdir = !observed.path_exists;
            let mut changed = false;
            if params.state == MountState::Mounted {
                let (lines, c) = set_mount(&args, &observed.fstab);
                if c {
                    action.fstab = Some(lines.concat());
                    action.restore = Some(fstab_lines(&observed.fstab).concat());
                }
                changed = c;
            }
            let mounted = observed.is_mount
                || is_bind_mounted(&observed, name, args.src.as_deref());
            if mounted {
                if changed {
                    action.remount = true;
                }
                if params.state == MountState::Ephemeral {
                    let same = is_bind_mounted(&observed, name, args.src.as_deref())
                        || observed.mountinfo.as_deref().is_some_and(|mi| {
                            mi.lines().any(|l| {
                                let f: Vec<&str> = l.split_whitespace().collect();
                                f.len() > 4 && f[4] == name && f[f.len() - 2] == args.src.as_deref().unwrap_or_default()
                            })
                        });
                    if !same {
                        return Err(ModuleError::failed(
                            "Ephemeral mount point is already mounted with a different source than the specified one. Failing in order to prevent an unwanted unmount or override operation. Try replacing this command with a \"state: unmounted\" followed by a \"state: ephemeral\", or use a different destination path.",
                        ));
                    }
                    action.remount = true;
                    changed = true;
                }
            } else {
                changed = true;
                action.mount = true;
            }
            changed
        }
    };
    let outcome = described(&args, changed);
    if !changed {
        return Ok(Planned::Done(outcome));
    }
    action.outcome = outcome.clone();
    Ok(Planned::Change {
        action,
        preview: outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> MountParams {
        serde_json::from_value(json).expect("params")
    }

    #[test]
    fn fstab_lines_as_ansible_writes_them() {
        let p = params(serde_json::json!({"path": "/srv/my mnt", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=1m", "state": "present"}));
        let args = args_of(&p);
        let (lines, changed) = set_mount(&args, "# c\n/dev/sda1 / ext4 defaults 0 1\n");
        assert!(changed);
        assert_eq!(
            lines.concat(),
            "# c\n/dev/sda1 / ext4 defaults 0 1\ntmpfs /srv/my\\040mnt tmpfs size=1m 0 0\n"
        );
        let (_, changed) = set_mount(&args, "tmpfs /srv/my\\040mnt tmpfs size=1m 0 0\n");
        assert!(!changed);
        let (lines, changed) = set_mount(&args, "tmpfs /srv/my\\040mnt tmpfs defaults\n");
        assert!(changed);
        assert_eq!(lines.concat(), "tmpfs /srv/my\\040mnt tmpfs size=1m 0 0\n");
        let (lines, changed) = unset_mount(&args, "a /srv/my\\040mnt tmpfs d 0 0\nb /x t d 0 0\n");
        assert!(changed);
        assert_eq!(lines.concat(), "b /x t d 0 0\n");
        let p = params(serde_json::json!({"path": "/m", "src": "s", "fstype": "t", "boot": false, "state": "present"}));
        assert_eq!(args_of(&p).opts, "defaults,noauto");
    }

    #[test]
    fn found_under_the_collection_names() {
        for name in [
            "ansible.posix.mount",
            "ansible.posix.authorized_key",
            "ansible.posix.sysctl",
            "community.general.ini_file",
            "community.general.timezone",
            "community.general.locale_gen",
            "ansible.builtin.cron",
            "mount",
        ] {
            assert!(tend_module_api::lookup(name).is_some(), "{name}");
        }
        assert!(tend_module_api::lookup("community.general.file").is_none());
        assert!(tend_module_api::lookup("ansible.posix.cron").is_none());
    }

    #[test]
    fn bind_mount_sources_from_mountinfo() {
        let mi = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n42 1 0:35 / /tmp rw - tmpfs tmpfs rw\n78 42 0:35 /aaa /tmp/bbb rw - tmpfs tmpfs rw\n";
        let m = linux_mounts(mi);
        assert_eq!(m["/tmp/bbb"], "/tmp/aaa");
        assert_eq!(m["/tmp"], "tmpfs");
    }
}
