//! `user`: a local user account exists with the given attributes, or does not exist.
//!
//! ```yaml
//! - name: A deploy account
//!   ansible.builtin.user:
//!     name: deploy
//!     uid: 1500
//!     group: deploy
//!     groups: [adm, www-data]
//!     append: true
//!     shell: /bin/bash
//!     comment: Deploy user
//!     password: "$6$salt$..."      # a crypt(3) hash, as Ansible wants it
//!     update_password: on_create
//!     generate_ssh_key: true
//!
//! - ansible.builtin.user:
//!     name: olduser
//!     state: absent
//!     remove: true
//! ```
//!
//! Mirrors Ansible's Linux implementation (its generic `User` class): the account is looked
//! up with `getent passwd`/`getent shadow`/`getent group` in one round trip, and the change
//! is the `useradd`/`usermod`/`userdel` command line Ansible would run, with the same
//! comparisons (`groups` with `append`, `update_password: always|on_create`, `password_lock`,
//! `expires` compared by day, `-N` when a group named like the user exists, `-a` when
//! usermod knows it). After the account command come Ansible's follow-up steps: a home
//! directory that is missing is created from the skeleton (`create_home`), an SSH key is
//! generated with `ssh-keygen` (`generate_ssh_key`, as root, then given to the user) and
//! `password_expire_min/max/warn` are set with `chage`.
//!
//! Returns `name` and `state`; for a user that exists afterwards `uid`, `group` (the gid),
//! `comment`, `home`, `shell`, `groups` (as given), `system`/`create_home` after a creation,
//! `append`/`move_home` otherwise, `ssh_fingerprint`/`ssh_key_file`/`ssh_public_key` with
//! `generate_ssh_key`; `force`/`remove` after a removal. In check mode a creation or removal
//! reports only `changed`, as Ansible does.
//!
//! Not supported: `local: true` (the `luseradd` family) and the other platforms' classes
//! (BusyBox `adduser`, the BSDs, macOS, Solaris, AIX, HP-UX). The macOS/Solaris/BSD-only
//! options (`hidden`, `login_class`, `profile`, `authorization`, `role`) are accepted and,
//! as on Ansible's Linux class, have no effect. `home`, `shell` and `ssh_key_file` are not
//! `~`/`$VAR`-expanded on the host.

use async_trait::async_trait;
use serde::Deserialize;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    #[default]
    Present,
    Absent,
}

impl UserState {
    fn name(self) -> &'static str {
        match self {
            UserState::Present => "present",
            UserState::Absent => "absent",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdatePassword {
    /// Set the password whenever it differs.
    #[default]
    Always,
    /// Set it only when creating the user.
    OnCreate,
}

fn yes() -> bool {
    true
}

fn rsa() -> String {
    "rsa".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserParams {
    /// The account's name.
    #[serde(alias = "user")]
    pub name: String,
    /// Whether the account should exist.
    #[serde(default)]
    pub state: UserState,
    /// The user id (`-u`).
    #[serde(default)]
    pub uid: Option<u32>,
    /// Allow a `uid` another account already has (`-o`).
    #[serde(default)]
    pub non_unique: bool,
    /// The primary group, by name or gid (`-g`).
    #[serde(default)]
    pub group: Option<String>,
    /// Supplementary groups (`-G`); with `append: false` exactly these, an empty list none.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// The GECOS field (`-c`).
    #[serde(default)]
    pub comment: Option<String>,
    /// The home directory (`-d`).
    #[serde(default)]
    pub home: Option<String>,
    /// The login shell (`-s`).
    #[serde(default)]
    pub shell: Option<String>,
    /// A crypt(3) hash (`-p`).
    #[serde(default)]
    pub password: Option<String>,
    /// BSD only; no effect on Linux.
    #[serde(default)]
    #[allow(dead_code)]
    pub login_class: Option<String>,
    /// `chage -M`.
    #[serde(default)]
    pub password_expire_max: Option<i64>,
    /// `chage -m`.
    #[serde(default)]
    pub password_expire_min: Option<i64>,
    /// `chage -W`.
    #[serde(default)]
    pub password_expire_warn: Option<i64>,
    /// macOS only; no effect on Linux.
    #[serde(default)]
    #[allow(dead_code)]
    pub hidden: Option<bool>,
    /// The SELinux user (`useradd -Z`).
    #[serde(default)]
    pub seuser: Option<String>,
    /// `userdel -f`; with `generate_ssh_key`, overwrite an existing key.
    #[serde(default)]
    pub force: bool,
    /// `userdel -r`: remove the home directory and mail spool too.
    #[serde(default)]
    pub remove: bool,
    /// Create the home directory (`useradd -m`, else `-M`), and create it when missing.
    #[serde(default = "yes", alias = "createhome")]
    pub create_home: bool,
    /// The skeleton directory (`useradd -k`).
    #[serde(default)]
    pub skeleton: Option<String>,
    /// A system account (`useradd -r`); only at creation.
    #[serde(default)]
    pub system: bool,
    /// Move the contents when `home` changes (`usermod -m`).
    #[serde(default)]
    pub move_home: bool,
    /// Add `groups` to the current ones instead of replacing them.
    #[serde(default)]
    pub append: bool,
    /// Generate an SSH key pair for the user if there is none.
    #[serde(default)]
    pub generate_ssh_key: Option<bool>,
    /// `ssh-keygen -b` (0: ssh-keygen's default).
    #[serde(default)]
    pub ssh_key_bits: i64,
    /// `ssh-keygen -t`.
    #[serde(default = "rsa")]
    pub ssh_key_type: String,
    /// The private key path, relative to the home directory (default `.ssh/id_TYPE`).
    #[serde(default)]
    pub ssh_key_file: Option<String>,
    /// `ssh-keygen -C` (default `ansible-generated on HOSTNAME`).
    #[serde(default)]
    pub ssh_key_comment: Option<String>,
    /// A passphrase for the new key (written to ssh-keygen's stdin).
    #[serde(default)]
    pub ssh_key_passphrase: Option<String>,
    /// `always` or `on_create`.
    #[serde(default)]
    pub update_password: UpdatePassword,
    /// Account expiry, seconds since the epoch; negative removes it (`-e`).
    #[serde(default)]
    pub expires: Option<f64>,
    /// Lock (`-L`) or unlock (`-U`) the password.
    #[serde(default)]
    pub password_lock: Option<bool>,
    /// Use `luseradd` and friends: not supported by tend.
    #[serde(default)]
    pub local: Option<bool>,
    /// Solaris only; no effect on Linux.
    #[serde(default)]
    #[allow(dead_code)]
    pub profile: Option<String>,
    /// Solaris only; no effect on Linux.
    #[serde(default)]
    #[allow(dead_code)]
    pub authorization: Option<String>,
    /// Solaris only; no effect on Linux.
    #[serde(default)]
    #[allow(dead_code)]
    pub role: Option<String>,
    /// The home directory's umask at creation (`useradd -K UMASK=`).
    #[serde(default)]
    pub umask: Option<String>,
    /// Days after password expiry until the account is disabled (`-f`).
    #[serde(default)]
    pub password_expire_account_disable: Option<i64>,
    /// `useradd -K UID_MIN=`.
    #[serde(default)]
    pub uid_min: Option<i64>,
    /// `useradd -K UID_MAX=`.
    #[serde(default)]
    pub uid_max: Option<i64>,
}

impl UserParams {
    /// Ansible's `self.groups`: the list joined with commas.
    fn groups_joined(&self) -> Option<String> {
        self.groups.as_ref().map(|g| g.join(","))
    }

    fn ssh_file(&self) -> String {
        self.ssh_key_file
            .clone()
            .unwrap_or_else(|| format!(".ssh/id_{}", self.ssh_key_type))
    }

    fn generate_ssh_key(&self) -> bool {
        self.generate_ssh_key.unwrap_or(false)
    }
}

/// A `getent passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    pub name: String,
    pub password: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

/// A `getent shadow` entry; empty numeric fields are -1, as `getspnam` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    pub password: String,
    pub min: i64,
    pub max: i64,
    pub warn: i64,
    pub expire: i64,
}

/// A `getent group` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// What the host has for the user's SSH key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshFacts {
    /// The private key's path.
    pub key_path: String,
    pub dir_exists: bool,
    pub key_exists: bool,
    pub pub_exists: bool,
    /// `ssh_fingerprint` as Ansible reports it (`ssh-keygen -l` output, or its error).
    pub fingerprint: String,
    /// The public key file's text, stripped; `None` when it cannot be read.
    pub public_key: Option<String>,
}

/// Everything the module looks at on the host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub passwd: Option<Passwd>,
    pub shadow: Option<Shadow>,
    pub groups: Vec<GroupEntry>,
    /// `usermod --help` lists `-a, --append`.
    pub has_append: bool,
    /// `uname -n`, for the default key comment.
    pub hostname: String,
    /// The account's current home directory exists.
    pub current_home_exists: bool,
    /// The `home` parameter's path exists.
    pub param_home_exists: bool,
    /// The `home` parameter's parent is a directory.
    pub param_home_parent_is_dir: bool,
    /// The mode `create_homedir` gives a new home, from `/etc/login.defs` (`None` without it).
    pub home_mode: Option<u32>,
    pub ssh: Option<SshFacts>,
}

impl Observed {
    /// Ansible's `group_exists`/`group_info`: a gid first, then a name.
    fn group(&self, group: &str) -> Option<&GroupEntry> {
        if let Ok(gid) = group.trim().parse::<u32>() {
            if let Some(g) = self.groups.iter().find(|g| g.gid == gid) {
                return Some(g);
            }
        }
        self.groups.iter().find(|g| g.name == group)
    }

    /// Ansible's `user_info()[1]`: the passwd field, or the shadow one when that is `x`.
    fn password(&self) -> String {
        match &self.passwd {
            Some(p) if p.password.chars().count() > 1 => p.password.clone(),
            _ => self
                .shadow
                .as_ref()
                .map(|s| s.password.clone())
                .unwrap_or_default(),
        }
    }

    /// Groups listing the user as a member (`user_group_membership(exclude_primary=False)`).
    fn membership(&self, name: &str) -> Vec<String> {
        self.groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
            .map(|g| g.name.clone())
            .collect()
    }
}

/// The account command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Main {
    /// `useradd`; `make_parents` when the home's parent is missing and Ansible creates the
    /// home itself first.
    Create {
        argv: Vec<String>,
        make_parents: bool,
    },
    Modify {
        argv: Vec<String>,
    },
    Delete {
        argv: Vec<String>,
    },
}

#[derive(Debug)]
pub struct UserAction {
    main: Option<Main>,
    observed: Observed,
}

pub struct UserModule;

fn fail(msg: impl Into<String>) -> ModuleError {
    ModuleError::failed(msg)
}

/// Python's `os.path.dirname`.
fn dirname(path: &str) -> String {
    let head = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

/// The date `time.strftime('%Y-%m-%d', time.gmtime(secs))` gives.
fn date_of(secs: f64) -> String {
    let days = (secs.floor() as i64).div_euclid(86_400);
    let (y, m, d) = tend_module_api::calendar::civil_from_days(days);
    format!("{y}-{m:02}-{d:02}")
}

/// Ansible's `check_password_encrypted` warning, if the password does not look hashed.
fn password_warning(password: Option<&str>) -> Option<String> {
    let pw = password.filter(|p| !p.is_empty())?;
    let invalid = if ["*", "!", "*************"].contains(&pw) {
        false
    } else {
        let mut invalid = pw.contains([':', '*', '!']);
        if !pw.contains('$') {
            invalid = true;
        } else {
            let fields: Vec<&str> = pw.split('$').collect();
            if fields.len() >= 3 {
                let last = fields[fields.len() - 1];
                if last
                    .chars()
                    .any(|c| !(c.is_ascii_alphanumeric() || "./=".contains(c)))
                {
                    invalid = true;
                }
                let len = last.chars().count();
                match fields[1] {
                    "1" if len != 22 => invalid = true,
                    "5" | "y" if len != 43 => invalid = true,
                    "6" if len != 86 => invalid = true,
                    _ => {}
                }
            } else {
                invalid = true;
            }
        }
        invalid
    };
    invalid.then(|| {
        "The input password appears not to have been hashed. The 'password' argument must be \
         encrypted for this module to work properly."
            .to_string()
    })
}

/// Warnings Ansible gives before doing anything.
fn initial_warnings(params: &UserParams) -> Vec<String> {
    let mut warnings = Vec::new();
    if params.groups.is_none() && params.append {
        warnings.push(
            "'append' is set, but no 'groups' are specified. Use 'groups' for appending new \
             groups.This will change to an error in Ansible 2.14."
                .to_string(),
        );
    }
    warnings.extend(password_warning(params.password.as_deref()));
    warnings
}

/// Ansible's `get_groups_set`: the wanted groups, each checked to exist; with `names_only`
/// their names, else the words as given minus the user's primary group (`remove_existing`).
fn groups_set(
    params: &UserParams,
    observed: &Observed,
    remove_existing: bool,
    names_only: bool,
) -> Result<Vec<String>, ModuleError> {
    let joined = params.groups_joined().unwrap_or_default();
    let mut wanted: Vec<String> = Vec::new();
    for word in joined.split(',').filter(|w| !w.is_empty()) {
        let word = word.trim().to_string();
        if !wanted.contains(&word) {
            wanted.push(word);
        }
    }
    let mut out: Vec<String> = Vec::new();
    for g in wanted {
        let info = observed
            .group(&g)
            .ok_or_else(|| fail(format!("Group {g} does not exist")))?;
        let primary = observed.passwd.as_ref().map(|p| p.gid);
        if remove_existing && primary == Some(info.gid) {
            continue;
        }
        let item = if names_only { info.name.clone() } else { g };
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

/// The `-e` argument for `expires`.
fn expires_arg(expires: f64) -> String {
    if expires < 0.0 {
        String::new()
    } else {
        date_of(expires)
    }
}

/// `create_user_useradd`, as Ansible builds it.
fn useradd(params: &UserParams, observed: &Observed) -> Result<Vec<String>, ModuleError> {
    let mut cmd: Vec<String> = vec!["useradd".into()];
    if let Some(uid) = params.uid {
        cmd.extend(["-u".into(), uid.to_string()]);
        if params.non_unique {
            cmd.push("-o".into());
        }
    }
    if let Some(seuser) = &params.seuser {
        cmd.extend(["-Z".into(), seuser.clone()]);
    }
    if let Some(group) = &params.group {
        if observed.group(group).is_none() {
            return Err(fail(format!("Group {group} does not exist")));
        }
        cmd.extend(["-g".into(), group.clone()]);
    } else if observed.group(&params.name).is_some() {
        cmd.push("-N".into());
    }
    if params.groups_joined().is_some_and(|g| !g.is_empty()) {
        let groups = groups_set(params, observed, true, false)?;
        cmd.extend(["-G".into(), groups.join(",")]);
    }
    if let Some(comment) = &params.comment {
        cmd.extend(["-c".into(), comment.clone()]);
    }
    if let Some(home) = &params.home {
        cmd.extend(["-d".into(), home.clone()]);
    }
    if let Some(shell) = &params.shell {
        cmd.extend(["-s".into(), shell.clone()]);
    }
    if let Some(expires) = params.expires {
        cmd.extend(["-e".into(), expires_arg(expires)]);
    }
    if let Some(inactive) = params.password_expire_account_disable {
        cmd.extend(["-f".into(), inactive.to_string()]);
    }
    if let Some(password) = &params.password {
        cmd.push("-p".into());
        if params.password_lock == Some(true) {
            cmd.push(format!("!{password}"));
        } else {
            cmd.push(password.clone());
        }
    }
    if params.create_home {
        cmd.push("-m".into());
        if let Some(skel) = &params.skeleton {
            cmd.extend(["-k".into(), skel.clone()]);
        }
        if let Some(umask) = &params.umask {
            cmd.extend(["-K".into(), format!("UMASK={umask}")]);
        }
    } else {
        cmd.push("-M".into());
    }
    if params.system {
        cmd.push("-r".into());
    }
    if let Some(min) = params.uid_min {
        cmd.extend(["-K".into(), format!("UID_MIN={min}")]);
    }
    if let Some(max) = params.uid_max {
        cmd.extend(["-K".into(), format!("UID_MAX={max}")]);
    }
    cmd.push(params.name.clone());
    Ok(cmd)
}

/// `modify_user_usermod`, as Ansible builds it; `None` when nothing differs.
fn usermod(
    params: &UserParams,
    observed: &Observed,
    info: &Passwd,
) -> Result<Option<Vec<String>>, ModuleError> {
    let mut cmd: Vec<String> = vec!["usermod".into()];
    let password = observed.password();

    if let Some(uid) = params.uid {
        if info.uid != uid {
            cmd.extend(["-u".into(), uid.to_string()]);
            if params.non_unique {
                cmd.push("-o".into());
            }
        }
    }

    if let Some(group) = &params.group {
        let ginfo = observed
            .group(group)
            .ok_or_else(|| fail(format!("Group {group} does not exist")))?;
        if info.gid != ginfo.gid {
            cmd.extend(["-g".into(), ginfo.gid.to_string()]);
        }
    }

    if let Some(joined) = params.groups_joined() {
        let current = observed.membership(&params.name);
        let mut need_mod = false;
        let mut groups: Vec<String> = Vec::new();
        let mut diff: Vec<String> = Vec::new();
        if joined.is_empty() {
            if !current.is_empty() && !params.append {
                need_mod = true;
            }
        } else {
            groups = groups_set(params, observed, false, true)?;
            diff = current
                .iter()
                .filter(|g| !groups.contains(g))
                .chain(groups.iter().filter(|g| !current.contains(g)))
                .cloned()
                .collect();
            if !diff.is_empty() {
                if params.append {
                    if groups.iter().any(|g| diff.contains(g)) {
                        if observed.has_append {
                            cmd.push("-a".into());
                        }
                        need_mod = true;
                    }
                } else {
                    need_mod = true;
                }
            }
        }
        if need_mod {
            if params.append && !observed.has_append {
                cmd.extend(["-A".into(), diff.join(",")]);
            } else {
                cmd.extend(["-G".into(), groups.join(",")]);
            }
        }
    }

    if let Some(comment) = &params.comment {
        if &info.gecos != comment {
            cmd.extend(["-c".into(), comment.clone()]);
        }
    }

    if let Some(home) = &params.home {
        if &info.home != home {
            cmd.extend(["-d".into(), home.clone()]);
            if params.move_home {
                cmd.push("-m".into());
            }
        }
    }

    if let Some(shell) = &params.shell {
        if &info.shell != shell {
            cmd.extend(["-s".into(), shell.clone()]);
        }
    }

    if let Some(expires) = params.expires {
        // `user_password()[1] or '0'`: a missing shadow entry counts as day 0.
        let current = observed.shadow.as_ref().map_or(0, |s| s.expire);
        if expires < 0.0 {
            if current >= 0 {
                cmd.extend(["-e".into(), String::new()]);
            }
        } else if current < 0 || date_of(current as f64 * 86_400.0) != date_of(expires) {
            cmd.extend(["-e".into(), date_of(expires)]);
        }
    }

    if let Some(inactive) = params.password_expire_account_disable {
        cmd.extend(["-f".into(), inactive.to_string()]);
    }

    if params.password_lock == Some(true) && !password.starts_with('!') {
        cmd.push("-L".into());
    } else if params.password_lock == Some(false) && password.starts_with('!') {
        cmd.push("-U".into());
    }

    if let Some(wanted) = &params.password {
        if params.update_password == UpdatePassword::Always
            && password.trim_start_matches('!') != wanted.trim_start_matches('!')
        {
            cmd.retain(|c| c != "-U" && c != "-L");
            cmd.push("-p".into());
            if params.password_lock == Some(true) {
                cmd.push(format!("!{wanted}"));
            } else {
                cmd.push(wanted.clone());
            }
        }
    }

    if cmd.len() > 1 {
        cmd.push(params.name.clone());
        Ok(Some(cmd))
    } else {
        Ok(None)
    }
}

/// `remove_user_userdel`.
fn userdel(params: &UserParams) -> Vec<String> {
    let mut cmd: Vec<String> = vec!["userdel".into()];
    if params.force {
        cmd.push("-f".into());
    }
    if params.remove {
        cmd.push("-r".into());
    }
    cmd.push(params.name.clone());
    cmd
}

/// `set_password_expire`: the `chage` command, if a value differs.
fn chage(params: &UserParams, observed: &Observed) -> Option<Vec<String>> {
    // Without a shadow entry Ansible leaves the values alone.
    let shadow = observed.shadow.as_ref()?;
    let min = params.password_expire_min.filter(|&v| v != shadow.min);
    let max = params.password_expire_max.filter(|&v| v != shadow.max);
    let warn = params.password_expire_warn.filter(|&v| v != shadow.warn);
    if min.is_none() && max.is_none() && warn.is_none() {
        return None;
    }
    let mut cmd: Vec<String> = vec!["chage".into()];
    if let Some(v) = min {
        cmd.extend(["-m".into(), v.to_string()]);
    }
    if let Some(v) = max {
        cmd.extend(["-M".into(), v.to_string()]);
    }
    if let Some(v) = warn {
        cmd.extend(["-W".into(), v.to_string()]);
    }
    cmd.push(params.name.clone());
    Some(cmd)
}

fn command_line(argv: &[String]) -> String {
    argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// What `ssh_key_gen` would do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SshPlan {
    /// Nothing (`rc None`), with Ansible's warnings.
    Keep(Vec<String>),
    /// Check mode: the `.ssh` directory is missing, so a key would be made.
    WouldCreate,
    /// Run ssh-keygen.
    Generate {
        argv: Vec<String>,
        make_dir: bool,
        overwrite: bool,
        remove_pub: bool,
        warnings: Vec<String>,
    },
    /// `rc 1` with this message.
    Fail(String),
}

fn ssh_plan(params: &UserParams, observed: &Observed, check_mode: bool) -> SshPlan {
    let Some(ssh) = &observed.ssh else {
        return SshPlan::Keep(Vec::new());
    };
    if !params.ssh_file().starts_with('/') && !observed.current_home_exists && !check_mode {
        return SshPlan::Fail(format!("User {} home directory does not exist", params.name));
    }
    let key = &ssh.key_path;
    let public = format!("{key}.pub");
    let mut warnings = Vec::new();
    if !ssh.dir_exists && check_mode {
        return SshPlan::WouldCreate;
    }
    let mut overwrite = false;
    let mut remove_pub = false;
    if ssh.key_exists {
        if params.force {
            warnings.push(format!("Overwriting existing ssh key private file \"{key}\""));
            overwrite = true;
        } else {
            warnings.push(format!(
                "Found existing ssh key private file \"{key}\", no force, so skipping ssh-keygen generation"
            ));
            return SshPlan::Keep(warnings);
        }
    }
    if ssh.pub_exists {
        if params.force {
            warnings.push(format!("Overwriting existing ssh key public file \"{public}\""));
            remove_pub = true;
        } else {
            warnings.push(format!(
                "Found existing ssh key public file \"{public}\", no force, so skipping ssh-keygen generation"
            ));
            return SshPlan::Keep(warnings);
        }
    }
    let mut argv: Vec<String> = vec!["ssh-keygen".into(), "-t".into(), params.ssh_key_type.clone()];
    if params.ssh_key_bits > 0 {
        argv.extend(["-b".into(), params.ssh_key_bits.to_string()]);
    }
    let comment = params
        .ssh_key_comment
        .clone()
        .unwrap_or_else(|| format!("ansible-generated on {}", observed.hostname));
    argv.extend(["-C".into(), comment, "-f".into(), key.clone()]);
    if params.ssh_key_passphrase.is_none() {
        argv.extend(["-N".into(), String::new()]);
    }
    SshPlan::Generate {
        argv,
        make_dir: !ssh.dir_exists,
        overwrite,
        remove_pub,
        warnings,
    }
}

/// The home directory Ansible checks after the account command, if it is missing.
fn missing_home(params: &UserParams, observed: &Observed) -> Option<String> {
    let info = observed.passwd.as_ref()?;
    if !params.create_home {
        return None;
    }
    match &params.home {
        Some(home) if !observed.param_home_exists => Some(home.clone()),
        None if !observed.current_home_exists => Some(info.home.clone()),
        _ => None,
    }
}

/// The values Ansible reports for a user that exists after the run.
fn describe_account(params: &UserParams, outcome: Outcome, observed: &Observed) -> Outcome {
    let Some(info) = &observed.passwd else {
        return outcome;
    };
    let mut outcome = outcome
        .with_value("uid", info.uid)
        .with_value("group", info.gid)
        .with_value("comment", info.gecos.clone())
        .with_value("home", info.home.clone())
        .with_value("shell", info.shell.clone());
    if let Some(groups) = params.groups_joined() {
        outcome = outcome.with_value("groups", groups);
    }
    outcome
}

fn with_ssh_values(outcome: Outcome, ssh: &SshFacts) -> Outcome {
    outcome
        .with_value("ssh_fingerprint", ssh.fingerprint.clone())
        .with_value("ssh_key_file", ssh.key_path.clone())
        .with_value(
            "ssh_public_key",
            ssh.public_key
                .clone()
                .map_or(serde_json::Value::Null, Into::into),
        )
}

fn base(params: &UserParams, changed: bool, warnings: Vec<String>) -> Outcome {
    let mut outcome = if changed {
        Outcome::changed()
    } else {
        Outcome::ok()
    };
    outcome.warnings = warnings;
    outcome
        .with_value("name", params.name.clone())
        .with_value("state", params.state.name())
}

fn failed_with(params: &UserParams, msg: String, rc: i32) -> ModuleError {
    let mut values = serde_json::Map::new();
    values.insert("name".into(), params.name.clone().into());
    values.insert("rc".into(), rc.into());
    ModuleError::Failed { msg, values }
}

/// Parses the query script's output.
fn parse_observed(text: &str, name: &str) -> Observed {
    let mut observed = Observed::default();
    let mut section = "";
    let mut login_defs: Option<Vec<String>> = None;
    let mut pub_lines: Option<Vec<String>> = None;
    let mut ssh = SshFacts::default();
    for line in text.split('\n') {
        if let Some(s) = line.strip_prefix("@@TEND@@") {
            section = match s {
                "passwd" | "shadow" | "group" | "facts" | "logindefs" | "ssh" | "pub" => s,
                _ => "",
            };
            if section == "logindefs" {
                login_defs = None;
            }
            if section == "pub" {
                pub_lines = Some(Vec::new());
            }
            continue;
        }
        match section {
            "passwd" => {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() >= 7 && f[0] == name && observed.passwd.is_none() {
                    if let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse()) {
                        observed.passwd = Some(Passwd {
                            name: f[0].to_string(),
                            password: f[1].to_string(),
                            uid,
                            gid,
                            gecos: f[4].to_string(),
                            home: f[5].to_string(),
                            shell: f[6..].join(":"),
                        });
                    }
                }
            }
            "shadow" => {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() >= 8 && f[0] == name && observed.shadow.is_none() {
                    let num = |s: &str| s.trim().parse::<i64>().unwrap_or(-1);
                    observed.shadow = Some(Shadow {
                        password: f[1].to_string(),
                        min: num(f[3]),
                        max: num(f[4]),
                        warn: num(f[5]),
                        expire: num(f[7]),
                    });
                }
            }
            "group" => {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() >= 4 {
                    if let Ok(gid) = f[2].trim().parse() {
                        observed.groups.push(GroupEntry {
                            name: f[0].to_string(),
                            gid,
                            members: f[3]
                                .split(',')
                                .filter(|m| !m.is_empty())
                                .map(str::to_string)
                                .collect(),
                        });
                    }
                }
            }
            "facts" => match line {
                "append" => observed.has_append = true,
                "curhome" => observed.current_home_exists = true,
                "paramhome" => observed.param_home_exists = true,
                "parent" => observed.param_home_parent_is_dir = true,
                _ => {
                    if let Some(host) = line.strip_prefix("host=") {
                        observed.hostname = host.to_string();
                    }
                }
            },
            "logindefs" => login_defs.get_or_insert_with(Vec::new).push(line.to_string()),
            "ssh" => {
                if let Some(k) = line.strip_prefix("key=") {
                    ssh.key_path = k.to_string();
                } else if let Some(fp) = line.strip_prefix("fp=") {
                    ssh.fingerprint = fp.trim().to_string();
                } else {
                    match line {
                        "dir" => ssh.dir_exists = true,
                        "key" => ssh.key_exists = true,
                        "pub" => ssh.pub_exists = true,
                        _ => {}
                    }
                }
            }
            "pub" => {
                if let Some(lines) = pub_lines.as_mut() {
                    lines.push(line.to_string());
                }
            }
            _ => {}
        }
    }
    observed.home_mode = login_defs.and_then(|lines| home_mode(&lines));
    if text.contains("@@TEND@@ssh") {
        if text.contains("@@TEND@@pubfile") {
            ssh.public_key = pub_lines.map(|l| l.join("\n").trim().to_string());
        }
        observed.ssh = Some(ssh);
    }
    observed
}

/// The mode `create_homedir` sets, from the `/etc/login.defs` lines the query printed (the
/// first being `exists`): `HOME_MODE` wins, else `0777 & ~UMASK`, else 0755.
fn home_mode(lines: &[String]) -> Option<u32> {
    if lines.first().map(String::as_str) != Some("exists") {
        return None;
    }
    let mut mode = 0o755;
    for line in &lines[1..] {
        let value = |key: &str| {
            let rest = line.strip_prefix(key)?;
            let trimmed = rest.trim_start();
            (trimmed.len() < rest.len()
                && !trimmed.is_empty()
                && trimmed.chars().all(|c| c.is_ascii_digit()))
            .then(|| u32::from_str_radix(trimmed, 8).ok())
            .flatten()
        };
        if let Some(m) = value("HOME_MODE") {
            mode = m;
            break;
        }
        if let Some(umask) = value("UMASK") {
            mode = 0o777 & !umask;
        }
    }
    Some(mode)
}

/// One round trip: the passwd, shadow and group entries, usermod's `--append`, the home
/// directories, login.defs and, with `generate_ssh_key`, the key files.
async fn lookup(params: &UserParams, ctx: &Context<'_>) -> Result<Observed, ModuleError> {
    let mut script = format!(
        "n={name}; pw=$(getent passwd -- \"$n\" | head -n 1)\n\
         echo @@TEND@@passwd; [ -n \"$pw\" ] && printf '%s\\n' \"$pw\"\n\
         echo @@TEND@@shadow; getent shadow -- \"$n\" 2>/dev/null\n\
         echo @@TEND@@group; getent group\n\
         echo @@TEND@@facts\n\
         usermod --help 2>&1 | grep -q '^[[:space:]]*-a, --append' && echo append\n\
         h=$(printf '%s\\n' \"$pw\" | cut -d: -f6)\n\
         [ -n \"$h\" ] && [ -e \"$h\" ] && echo curhome\n\
         printf 'host=%s\\n' \"$(uname -n)\"\n",
        name = quote(&params.name)
    );
    if let Some(home) = &params.home {
        script.push_str(&format!(
            "[ -e {} ] && echo paramhome\n[ -d {} ] && echo parent\n",
            quote(home),
            quote(&dirname(home))
        ));
    }
    script.push_str(
        "echo @@TEND@@logindefs\n\
         [ -e /etc/login.defs ] && { echo exists; grep -E '^(HOME_MODE|UMASK)' /etc/login.defs; }\n",
    );
    if params.generate_ssh_key() {
        script.push_str(&format!(
            "echo @@TEND@@ssh; f={file}\n\
             case $f in /*) k=$f;; *) case $h in ''|*/) k=$h$f;; *) k=$h/$f;; esac;; esac\n\
             printf 'key=%s\\n' \"$k\"\n\
             [ -e \"$(dirname -- \"$k\")\" ] && echo dir\n\
             [ -e \"$k\" ] && echo key\n\
             [ -e \"$k.pub\" ] && echo pub\n\
             if [ -e \"$k\" ]; then\n\
               if fp=$(ssh-keygen -l -f \"$k\" 2>/dev/null); then printf 'fp=%s\\n' \"$fp\";\n\
               else printf 'fp=%s\\n' \"$(ssh-keygen -l -f \"$k\" 2>&1 >/dev/null)\"; fi\n\
             fi\n\
             if [ -r \"$k.pub\" ] && [ -f \"$k.pub\" ]; then echo @@TEND@@pubfile; echo @@TEND@@pub; cat -- \"$k.pub\"; fi\n",
            file = quote(&params.ssh_file())
        ));
    }
    script.push_str("exit 0\n");
    let out = ctx.host.sh_ok(&script).await?;
    Ok(parse_observed(
        &String::from_utf8_lossy(&out.stdout),
        &params.name,
    ))
}

/// `create_homedir`: the skeleton copied (or an empty directory) with login.defs' mode.
fn create_home_script(params: &UserParams, path: &str, mode: Option<u32>) -> String {
    let p = quote(path);
    let skel = quote(params.skeleton.as_deref().unwrap_or("/etc/skel"));
    let mut script = format!(
        "set -e; if [ ! -e {p} ]; then\n\
           if [ -e {skel} ] && [ {skel} != /dev/null ]; then\n\
             mkdir -p -- \"$(dirname -- {p})\"; cp -RPp -- {skel} {p}\n\
           else mkdir -p -- {p}; fi\n"
    );
    if let Some(mode) = mode {
        script.push_str(&format!("  chmod {mode:o} {p}\n"));
    }
    script.push_str("fi\n");
    script
}

/// `chown_homedir`: the tree to the user's uid and gid.
fn chown_script(path: &str, owner: &Passwd) -> String {
    format!("chown -R {}:{} -- {}\n", owner.uid, owner.gid, quote(path))
}

/// The account command's output as Ansible reports it: unstripped, left out when empty,
/// with the `_lines` Ansible's action layer derives from it.
fn add_output(mut outcome: Outcome, stdout: &str, stderr: &str) -> Outcome {
    if !stdout.is_empty() {
        outcome = outcome.with_value("stdout", stdout.to_string());
    }
    if !stderr.is_empty() {
        outcome = outcome.with_value("stderr", stderr.to_string());
    }
    crate::command::add_lines(&mut outcome.values);
    outcome
}

#[async_trait]
impl Module for UserModule {
    type Params = UserParams;
    type Observed = Observed;
    type Action = UserAction;

    const NAME: &'static str = "user";

    async fn query(&self, params: &UserParams, ctx: &Context<'_>) -> Result<Observed, ModuleError> {
        lookup(params, ctx).await
    }

    fn plan(
        &self,
        params: &UserParams,
        observed: Observed,
        ctx: &Context<'_>,
    ) -> Result<Planned<UserAction>, ModuleError> {
        plan(params, observed, ctx.check_mode)
    }

    async fn apply(
        &self,
        params: &UserParams,
        action: UserAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        apply(params, action, ctx).await
    }
}

fn plan(
    params: &UserParams,
    observed: Observed,
    check_mode: bool,
) -> Result<Planned<UserAction>, ModuleError> {
    if params.local == Some(true) {
        return Err(fail(
            "local: true (luseradd and friends) is not supported by tend",
        ));
    }
    let warnings = initial_warnings(params);
    let change = |main: Option<Main>, observed: Observed, preview: Outcome| {
        Ok(Planned::Change {
            action: UserAction { main, observed },
            preview,
        })
    };
    let mut only_changed = Outcome::changed();
    only_changed.warnings = warnings.clone();

    match (params.state, &observed.passwd) {
        (UserState::Absent, Some(_)) => {
            let main = Main::Delete {
                argv: userdel(params),
            };
            change(Some(main), observed, only_changed)
        }
        (UserState::Absent, None) => Ok(Planned::Done(base(params, false, warnings))),
        (UserState::Present, None) => {
            if check_mode {
                // Ansible exits with `changed` alone before building anything.
                return change(None, observed, only_changed);
            }
            let argv = useradd(params, &observed)?;
            let make_parents = params.home.is_some()
                && params.create_home
                && !observed.param_home_parent_is_dir;
            let main = Main::Create { argv, make_parents };
            change(Some(main), observed, only_changed)
        }
        (UserState::Present, Some(info)) => {
            let main = usermod(params, &observed, info)?.map(|argv| Main::Modify { argv });
            let mut outcome = base(params, main.is_some(), warnings);
            outcome = outcome
                .with_value("append", params.append)
                .with_value("move_home", params.move_home);
            if params.password.is_some() {
                outcome = outcome.with_value("password", "NOT_LOGGING_PASSWORD");
            }
            outcome = describe_account(params, outcome, &observed);
            if main.is_some() && !check_mode {
                // The follow-up steps are decided again after usermod has run.
                return change(main, observed, outcome);
            }
            let post = follow_up(params, &observed, check_mode, outcome)?;
            if main.is_some() || post.changed {
                change(main, observed, post)
            } else {
                Ok(Planned::Done(post))
            }
        }
    }
}

/// The steps after the account command, as check mode sees them (nothing is run): a
/// missing home, the SSH key, `chage`. Returns the outcome with their effects.
fn follow_up(
    params: &UserParams,
    observed: &Observed,
    check_mode: bool,
    mut outcome: Outcome,
) -> Result<Outcome, ModuleError> {
    let home_missing = missing_home(params, observed).is_some();
    if home_missing {
        outcome.changed = true;
    }
    if params.generate_ssh_key() {
        match ssh_plan(params, observed, check_mode) {
            SshPlan::Keep(warnings) => outcome.warnings.extend(warnings),
            SshPlan::WouldCreate => outcome.changed = true,
            SshPlan::Generate { warnings, .. } => {
                outcome.warnings.extend(warnings);
                outcome.changed = true;
            }
            // A real run creates the home first and decides again.
            SshPlan::Fail(_) if home_missing && !check_mode => {}
            SshPlan::Fail(msg) => return Err(failed_with(params, msg, 1)),
        }
        if let Some(ssh) = &observed.ssh {
            outcome = with_ssh_values(outcome, ssh);
        }
    }
    if chage(params, observed).is_some() {
        outcome.changed = true;
    }
    Ok(outcome)
}

/// Runs a command line; a failure is reported as Ansible's `fail_json(name, msg=err, rc)`.
async fn run(
    params: &UserParams,
    ctx: &Context<'_>,
    script: &str,
    stdin: Option<&[u8]>,
) -> Result<(String, String), ModuleError> {
    let out = match stdin {
        Some(data) => ctx.host.sh_with_stdin(script, data).await?,
        None => ctx.host.sh(script).await?,
    };
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if out.exit_code != 0 {
        return Err(failed_with(params, stderr, out.exit_code));
    }
    Ok((stdout, stderr))
}

async fn apply(
    params: &UserParams,
    action: UserAction,
    ctx: &Context<'_>,
) -> Result<Outcome, ModuleError> {
    let warnings = initial_warnings(params);
    let mut observed = action.observed;
    let Some(main) = action.main else {
        return follow_up_apply(params, observed, ctx, None, warnings).await;
    };
    match main {
        Main::Delete { argv } => {
            let (stdout, stderr) = run(params, ctx, &command_line(&argv), None).await?;
            let outcome = base(params, true, warnings)
                .with_value("force", params.force)
                .with_value("remove", params.remove);
            Ok(add_output(outcome, &stdout, &stderr))
        }
        Main::Create { argv, make_parents } => {
            let home = params.home.clone().unwrap_or_default();
            if make_parents {
                // Ansible's create_homedir before useradd; the chown comes after it.
                let script = create_home_script(params, &home, observed.home_mode);
                run(params, ctx, &script, None).await?;
            }
            let output = run(params, ctx, &command_line(&argv), None).await?;
            observed = lookup(params, ctx).await?;
            if make_parents {
                if let Some(info) = &observed.passwd {
                    run(params, ctx, &chown_script(&home, info), None).await?;
                }
            }
            let outcome = base(params, true, warnings)
                .with_value("system", params.system)
                .with_value("create_home", params.create_home);
            let outcome = with_password(params, outcome);
            follow_up_apply(params, observed, ctx, Some((outcome, output)), Vec::new()).await
        }
        Main::Modify { argv } => {
            let output = run(params, ctx, &command_line(&argv), None).await?;
            observed = lookup(params, ctx).await?;
            let outcome = base(params, true, warnings)
                .with_value("append", params.append)
                .with_value("move_home", params.move_home);
            let outcome = with_password(params, outcome);
            follow_up_apply(params, observed, ctx, Some((outcome, output)), Vec::new()).await
        }
    }
}

fn with_password(params: &UserParams, outcome: Outcome) -> Outcome {
    if params.password.is_some() {
        outcome.with_value("password", "NOT_LOGGING_PASSWORD")
    } else {
        outcome
    }
}

/// After the account command (or without one): report the account, create a missing home,
/// generate the SSH key, run `chage`.
async fn follow_up_apply(
    params: &UserParams,
    mut observed: Observed,
    ctx: &Context<'_>,
    started: Option<(Outcome, (String, String))>,
    warnings: Vec<String>,
) -> Result<Outcome, ModuleError> {
    let mut outcome = match started {
        Some((outcome, (stdout, stderr))) => add_output(outcome, &stdout, &stderr),
        None => with_password(
            params,
            base(params, false, warnings)
                .with_value("append", params.append)
                .with_value("move_home", params.move_home),
        ),
    };
    outcome = describe_account(params, outcome, &observed);
    let Some(info) = observed.passwd.clone() else {
        return Ok(outcome);
    };

    if let Some(home) = missing_home(params, &observed) {
        let script = format!(
            "{}{}",
            create_home_script(params, &home, observed.home_mode),
            chown_script(&home, &info)
        );
        let out = ctx.host.sh(&script).await?;
        if !out.success() {
            return Err(fail(out.stderr_lossy().trim().to_string()));
        }
        outcome.changed = true;
        if params.generate_ssh_key() {
            observed = lookup(params, ctx).await?;
        }
    }

    if params.generate_ssh_key() {
        match ssh_plan(params, &observed, false) {
            SshPlan::Keep(warnings) => outcome.warnings.extend(warnings),
            SshPlan::WouldCreate => {}
            SshPlan::Fail(msg) => return Err(failed_with(params, msg, 1)),
            SshPlan::Generate {
                argv,
                make_dir,
                overwrite,
                remove_pub,
                warnings,
            } => {
                outcome.warnings.extend(warnings);
                let ssh = observed.ssh.clone().unwrap_or_default();
                let key = quote(&ssh.key_path);
                let mut script = String::from("set -e\n");
                if make_dir {
                    script.push_str(&format!(
                        "d=$(dirname -- {key}); mkdir -m 700 -- \"$d\"; chown {}:{} -- \"$d\"\n",
                        info.uid, info.gid
                    ));
                }
                if remove_pub {
                    script.push_str(&format!("rm -f -- {}\n", quote(&format!("{}.pub", ssh.key_path))));
                }
                script.push_str(&format!(
                    "{}\nchown {}:{} -- {key} {}\n",
                    command_line(&argv),
                    info.uid,
                    info.gid,
                    quote(&format!("{}.pub", ssh.key_path))
                ));
                let mut stdin = String::new();
                if overwrite {
                    stdin.push_str("y\n");
                }
                if let Some(pass) = &params.ssh_key_passphrase {
                    stdin.push_str(&format!("{pass}\n{pass}\n"));
                }
                let out = if stdin.is_empty() {
                    ctx.host.sh(&script).await?
                } else {
                    ctx.host.sh_with_stdin(&script, stdin.as_bytes()).await?
                };
                if !out.success() {
                    return Err(failed_with(
                        params,
                        out.stderr_lossy().to_string(),
                        out.exit_code,
                    ));
                }
                outcome.changed = true;
                observed = lookup(params, ctx).await?;
            }
        }
        if let Some(ssh) = &observed.ssh {
            outcome = with_ssh_values(outcome, ssh);
        }
    }

    if let Some(argv) = chage(params, &observed) {
        run(params, ctx, &command_line(&argv), None).await?;
        outcome.changed = true;
    }
    Ok(outcome)
}

tend_module_api::register_module!(UserModule);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Params through the argument deserializer, with Ansible's coercions ("a,b" → a list).
    fn params(json: Value) -> UserParams {
        tend_module_api::args::from_args(&json, tend_module_api::args::ArgMode::Run)
            .expect("params")
    }

    /// An `Observed` from a case of the table below.
    fn observed(case: &Value) -> Observed {
        let s = |v: &Value| v.as_str().unwrap().to_string();
        let passwd = case.get("passwd").map(|p| Passwd {
            name: s(&p[0]),
            password: s(&p[1]),
            uid: p[2].as_u64().unwrap() as u32,
            gid: p[3].as_u64().unwrap() as u32,
            gecos: s(&p[4]),
            home: s(&p[5]),
            shell: s(&p[6]),
        });
        let shadow = case.get("shadow").map(|sh| Shadow {
            password: s(&sh["pw"]),
            min: -1,
            max: -1,
            warn: -1,
            expire: sh.get("expire").and_then(Value::as_i64).unwrap_or(-1),
        });
        let groups = case["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| GroupEntry {
                name: s(&g[0]),
                gid: g[1].as_u64().unwrap() as u32,
                members: g[2].as_array().unwrap().iter().map(s).collect(),
            })
            .collect();
        Observed {
            passwd,
            shadow,
            groups,
            has_append: case.get("has_append").and_then(Value::as_bool).unwrap_or(true),
            ..Observed::default()
        }
    }

    /// The command line as the Python side prints it, group lists sorted (Ansible builds them
    /// from a set, in no fixed order).
    fn shown(argv: &[String]) -> String {
        let mut words: Vec<String> = argv
            .iter()
            .map(|w| {
                if w.is_empty() || w.contains(' ') {
                    format!("'{w}'")
                } else {
                    w.clone()
                }
            })
            .collect();
        for i in 0..words.len().saturating_sub(1) {
            if words[i] == "-G" || words[i] == "-A" {
                let mut list: Vec<&str> = words[i + 1].split(',').collect();
                list.sort();
                words[i + 1] = list.join(",");
            }
        }
        words.join(" ")
    }

    fn command_for(case: &Value) -> String {
        let p = params(case["params"].clone());
        let obs = observed(case);
        let result = match (&obs.passwd, p.state) {
            (None, _) => useradd(&p, &obs).map(Some),
            (Some(_), UserState::Absent) => Ok(Some(userdel(&p))),
            (Some(info), UserState::Present) => usermod(&p, &obs, info),
        };
        match result {
            Ok(Some(argv)) => shown(&argv),
            Ok(None) => "NONE".to_string(),
            Err(e) => format!("FAIL: {e}"),
        }
    }

    /// (case, expected) pairs: the case as the host would show it, and the command line
    /// Ansible's User class builds for it (a fake AnsibleModule over these entries).
    const ANSIBLE_CASES: &[(&str, &str)] = &[
        (
            r#"{"id": "create_min", "params": {"name": "alice"}, "groups": [["users", 100, []]]}"#,
            "useradd -m alice",
        ),
        (
            r#"{"id": "create_same_group", "params": {"name": "alice"}, "groups": [["alice", 1500, []]]}"#,
            "useradd -N -m alice",
        ),
        (
            r#"{"id": "create_full", "params": {"name": "alice", "uid": 1600, "non_unique": true, "group": "users", "groups": ["adm", "users"], "comment": "Alice A", "home": "/srv/alice", "shell": "/bin/bash", "password": "$6$x$y", "password_lock": true, "skeleton": "/etc/skel2", "umask": "077", "uid_min": 1000, "uid_max": 2000, "seuser": "user_u", "expires": 1700000000.5, "password_expire_account_disable": 5}, "groups": [["users", 100, []], ["adm", 4, []]]}"#,
            "useradd -u 1600 -o -Z user_u -g users -G adm,users -c 'Alice A' -d /srv/alice -s /bin/bash -e 2023-11-14 -f 5 -p !$6$x$y -m -k /etc/skel2 -K UMASK=077 -K UID_MIN=1000 -K UID_MAX=2000 alice",
        ),
        (
            r#"{"id": "create_system_nohome", "params": {"name": "svc", "system": true, "create_home": false, "expires": -1}, "groups": []}"#,
            "useradd -e '' -M -r svc",
        ),
        (
            r#"{"id": "create_missing_group", "params": {"name": "a", "groups": ["nope"]}, "groups": []}"#,
            "FAIL: Group nope does not exist",
        ),
        (
            r#"{"id": "create_missing_primary", "params": {"name": "a", "group": "nope"}, "groups": []}"#,
            "FAIL: Group nope does not exist",
        ),
        (
            r#"{"id": "create_gid_group", "params": {"name": "a", "group": "100", "groups": "4"}, "groups": [["users", 100, []], ["adm", 4, []]]}"#,
            "useradd -g 100 -G 4 -m a",
        ),
        (
            r#"{"id": "mod_nothing", "params": {"name": "alice", "uid": 1500, "comment": "A", "shell": "/bin/sh", "home": "/home/alice"}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": [["alice", 1500, []]]}"#,
            "NONE",
        ),
        (
            r#"{"id": "mod_attrs", "params": {"name": "alice", "uid": 1501, "non_unique": true, "comment": "B", "shell": "/bin/bash", "home": "/srv/a", "move_home": true, "group": "users"}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": [["alice", 1500, []], ["users", 100, []]]}"#,
            "usermod -u 1501 -o -g 100 -c B -d /srv/a -m -s /bin/bash alice",
        ),
        (
            r#"{"id": "mod_groups_replace", "params": {"name": "alice", "groups": ["adm", "staff"]}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": [["alice", 1500, []], ["adm", 4, ["alice"]], ["staff", 50, []], ["cdrom", 24, ["alice"]]]}"#,
            "usermod -G adm,staff alice",
        ),
        (
            r#"{"id": "mod_groups_append", "params": {"name": "alice", "groups": ["staff"], "append": true}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": [["alice", 1500, []], ["adm", 4, ["alice"]], ["staff", 50, []]]}"#,
            "usermod -a -G staff alice",
        ),
        (
            r#"{"id": "mod_groups_append_have", "params": {"name": "alice", "groups": ["adm"], "append": true}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": [["alice", 1500, []], ["adm", 4, ["alice"]], ["staff", 50, ["alice"]]]}"#,
            "NONE",
        ),
        (
            r#"{"id": "mod_groups_empty", "params": {"name": "alice", "groups": []}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": [["alice", 1500, []], ["adm", 4, ["alice"]]]}"#,
            "usermod -G '' alice",
        ),
        (
            r#"{"id": "mod_groups_empty_none", "params": {"name": "alice", "groups": ""}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": [["alice", 1500, []]]}"#,
            "NONE",
        ),
        (
            r#"{"id": "mod_groups_primary", "params": {"name": "alice", "groups": ["alice"]}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": [["alice", 1500, []]]}"#,
            "usermod -G alice alice",
        ),
        (
            r#"{"id": "mod_password_always", "params": {"name": "alice", "password": "$6$a$b"}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": []}"#,
            "usermod -p $6$a$b alice",
        ),
        (
            r#"{"id": "mod_password_same_locked", "params": {"name": "alice", "password": "$6$a$b"}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!$6$a$b"}, "groups": []}"#,
            "NONE",
        ),
        (
            r#"{"id": "mod_password_on_create", "params": {"name": "alice", "password": "$6$a$c", "update_password": "on_create"}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "$6$a$b"}, "groups": []}"#,
            "NONE",
        ),
        (
            r#"{"id": "mod_lock", "params": {"name": "alice", "password_lock": true}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "$6$a$b"}, "groups": []}"#,
            "usermod -L alice",
        ),
        (
            r#"{"id": "mod_unlock", "params": {"name": "alice", "password_lock": false}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!$6$a$b"}, "groups": []}"#,
            "usermod -U alice",
        ),
        (
            r#"{"id": "mod_lock_and_password", "params": {"name": "alice", "password_lock": true, "password": "$6$n$m"}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "$6$a$b"}, "groups": []}"#,
            "usermod -p !$6$n$m alice",
        ),
        (
            r#"{"id": "mod_expires_same_day", "params": {"name": "alice", "expires": 1700000000}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!", "expire": 19675}, "groups": []}"#,
            "NONE",
        ),
        (
            r#"{"id": "mod_expires_other_day", "params": {"name": "alice", "expires": 1700000000}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!", "expire": 19000}, "groups": []}"#,
            "usermod -e 2023-11-14 alice",
        ),
        (
            r#"{"id": "mod_expires_unset", "params": {"name": "alice", "expires": -1}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!", "expire": 19000}, "groups": []}"#,
            "usermod -e '' alice",
        ),
        (
            r#"{"id": "mod_expires_unset_none", "params": {"name": "alice", "expires": -1}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!", "expire": -1}, "groups": []}"#,
            "NONE",
        ),
        (
            r#"{"id": "mod_inactive", "params": {"name": "alice", "password_expire_account_disable": 3}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": []}"#,
            "usermod -f 3 alice",
        ),
        (
            r#"{"id": "del", "params": {"name": "alice", "state": "absent"}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "groups": []}"#,
            "userdel alice",
        ),
        (
            r#"{"id": "del_force_remove", "params": {"name": "alice", "state": "absent", "force": true, "remove": true}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "groups": []}"#,
            "userdel -f -r alice",
        ),
        (
            r#"{"id": "mod_groups_append_old_usermod", "has_append": false, "params": {"name": "alice", "groups": ["staff"], "append": true}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": [["alice", 1500, []], ["adm", 4, ["alice"]], ["staff", 50, []]]}"#,
            "usermod -A adm,staff alice",
        ),
        (
            r#"{"id": "mod_comment_dash_L", "params": {"name": "alice", "comment": "-L", "password": "$6$n$m"}, "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"], "shadow": {"pw": "!"}, "groups": []}"#,
            "usermod -c -p $6$n$m alice",
        ),
        (
            r#"{"id": "mod_passwd_field_hash", "params": {"name": "alice", "password": "$6$n$m"}, "passwd": ["alice", "$6$n$m", 1500, 1500, "A", "/home/alice", "/bin/sh"], "groups": []}"#,
            "NONE",
        ),
    ];

    #[test]
    fn commands_as_ansible_builds_them() {
        for (case, expected) in ANSIBLE_CASES {
            let case: Value = serde_json::from_str(case).unwrap();
            assert_eq!(&command_for(&case), expected, "case {}", case["id"]);
        }
    }

    #[test]
    fn dates_as_python_gmtime() {
        assert_eq!(date_of(0.0), "1970-01-01");
        assert_eq!(date_of(1_700_000_000.5), "2023-11-14");
        assert_eq!(date_of(951_782_400.0), "2000-02-29");
        assert_eq!(date_of(4_102_444_799.0), "2099-12-31");
        assert_eq!(date_of(19_675.0 * 86_400.0), "2023-11-14");
    }

    #[test]
    fn dirname_as_python() {
        assert_eq!(dirname("/home/alice"), "/home");
        assert_eq!(dirname("/home/alice/"), "/home/alice");
        assert_eq!(dirname("/alice"), "/");
        assert_eq!(dirname("alice"), "");
        assert_eq!(dirname("//x"), "//");
    }

    #[test]
    fn password_warning_as_ansible() {
        let sha512 = format!("$6$salt${}", "a".repeat(86));
        assert_eq!(password_warning(Some(&sha512)), None);
        assert_eq!(password_warning(Some("!")), None);
        assert_eq!(password_warning(None), None);
        assert!(password_warning(Some("plaintext")).is_some());
        assert!(password_warning(Some("$6$salt$short")).is_some());
        assert!(password_warning(Some(&format!("{sha512}!"))).is_some());
    }

    #[test]
    fn home_mode_from_login_defs() {
        let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(home_mode(&lines(&[])), None);
        assert_eq!(home_mode(&lines(&["exists"])), Some(0o755));
        assert_eq!(home_mode(&lines(&["exists", "UMASK\t\t027"])), Some(0o750));
        assert_eq!(
            home_mode(&lines(&["exists", "HOME_MODE 0700", "UMASK 022"])),
            Some(0o700)
        );
        assert_eq!(home_mode(&lines(&["exists", "UMASKX 077"])), Some(0o755));
    }

    #[test]
    fn parses_the_query_output() {
        let text = "@@TEND@@passwd\nalice:x:1500:1500:Alice A,,,:/home/alice:/bin/sh\n\
                    @@TEND@@shadow\nalice:!:19675:0:99999:7:::\n\
                    @@TEND@@group\nalice:x:1500:\nadm:x:4:syslog,alice\n\
                    @@TEND@@facts\nappend\ncurhome\nhost=h1\n\
                    @@TEND@@logindefs\nexists\nUMASK\t022\n\
                    @@TEND@@ssh\nkey=/home/alice/.ssh/id_rsa\ndir\nkey\npub\nfp=3072 SHA256:abc c (RSA)\n\
                    @@TEND@@pubfile\n@@TEND@@pub\nssh-rsa AAAA c\n";
        let o = parse_observed(text, "alice");
        let p = o.passwd.clone().unwrap();
        assert_eq!((p.uid, p.gid, p.gecos.as_str()), (1500, 1500, "Alice A,,,"));
        let sh = o.shadow.clone().unwrap();
        assert_eq!((sh.password.as_str(), sh.min, sh.max, sh.warn, sh.expire), ("!", 0, 99999, 7, -1));
        assert_eq!(o.membership("alice"), vec!["adm".to_string()]);
        assert!(o.has_append && o.current_home_exists && !o.param_home_exists);
        assert_eq!(o.hostname, "h1");
        assert_eq!(o.home_mode, Some(0o755));
        let ssh = o.ssh.unwrap();
        assert!(ssh.dir_exists && ssh.key_exists && ssh.pub_exists);
        assert_eq!(ssh.fingerprint, "3072 SHA256:abc c (RSA)");
        assert_eq!(ssh.public_key.as_deref(), Some("ssh-rsa AAAA c"));
        let none = parse_observed("@@TEND@@passwd\n@@TEND@@shadow\n@@TEND@@group\n", "bob");
        assert_eq!(none.passwd, None);
    }

    fn existing() -> Observed {
        observed(&json!({
            "passwd": ["alice", "x", 1500, 1500, "A", "/home/alice", "/bin/sh"],
            "shadow": {"pw": "!"},
            "groups": [["alice", 1500, []]]
        }))
    }

    #[test]
    fn check_mode_reports_as_ansible() {
        // Creation and removal: `changed` alone.
        let p = params(json!({"name": "bob", "uid": 7}));
        let Planned::Change { preview, .. } = plan(&p, Observed::default(), true).unwrap() else {
            panic!("a creation")
        };
        assert!(preview.changed);
        assert!(preview.values.is_empty());
        // A modification: the current values, plus append and move_home.
        let mut obs = existing();
        obs.current_home_exists = true;
        let p = params(json!({"name": "alice", "shell": "/bin/bash", "groups": []}));
        let Planned::Change { preview, .. } = plan(&p, obs.clone(), true).unwrap() else {
            panic!("a modification")
        };
        assert!(preview.changed);
        assert_eq!(preview.values["shell"], "/bin/sh");
        assert_eq!(preview.values["groups"], "");
        assert_eq!(preview.values["append"], false);
        // Nothing to do.
        let p = params(json!({"name": "alice", "shell": "/bin/sh"}));
        let Planned::Done(done) = plan(&p, obs.clone(), true).unwrap() else {
            panic!("nothing to do")
        };
        assert!(!done.changed);
        assert_eq!(done.values["uid"], 1500);
        // A missing home is a change.
        obs.current_home_exists = false;
        assert!(matches!(plan(&p, obs, true).unwrap(), Planned::Change { .. }));
    }

    #[test]
    fn ssh_key_generation_plan() {
        let mut obs = existing();
        obs.current_home_exists = true;
        obs.hostname = "h1".into();
        obs.ssh = Some(SshFacts {
            key_path: "/home/alice/.ssh/id_ed25519".into(),
            dir_exists: true,
            ..SshFacts::default()
        });
        let p = params(json!({"name": "alice", "generate_ssh_key": true, "ssh_key_type": "ed25519"}));
        let SshPlan::Generate { argv, make_dir, .. } = ssh_plan(&p, &obs, false) else {
            panic!("generate")
        };
        assert!(!make_dir);
        assert_eq!(
            argv,
            [
                "ssh-keygen", "-t", "ed25519", "-C", "ansible-generated on h1", "-f",
                "/home/alice/.ssh/id_ed25519", "-N", ""
            ]
        );
        obs.ssh.as_mut().unwrap().key_exists = true;
        let SshPlan::Keep(warnings) = ssh_plan(&p, &obs, false) else {
            panic!("keep")
        };
        assert_eq!(
            warnings,
            ["Found existing ssh key private file \"/home/alice/.ssh/id_ed25519\", no force, so skipping ssh-keygen generation"]
        );
        obs.ssh.as_mut().unwrap().dir_exists = false;
        obs.ssh.as_mut().unwrap().key_exists = false;
        assert_eq!(ssh_plan(&p, &obs, true), SshPlan::WouldCreate);
        obs.current_home_exists = false;
        assert_eq!(
            ssh_plan(&p, &obs, false),
            SshPlan::Fail("User alice home directory does not exist".into())
        );
    }

    #[test]
    fn chage_only_for_differing_values() {
        let mut obs = existing();
        obs.shadow.as_mut().unwrap().max = 99999;
        let p = params(json!({"name": "alice", "password_expire_max": 99999, "password_expire_min": 1}));
        assert_eq!(chage(&p, &obs).unwrap(), ["chage", "-m", "1", "alice"]);
        let p = params(json!({"name": "alice", "password_expire_max": 99999}));
        assert_eq!(chage(&p, &obs), None);
        obs.shadow = None;
        let p = params(json!({"name": "alice", "password_expire_max": 5}));
        assert_eq!(chage(&p, &obs), None);
    }
}
