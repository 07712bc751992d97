//! `setup`: gathers facts about a host, as `ansible.builtin.setup` does, in one `sh` round trip.
//!
//! ```yaml
//! - name: Refresh network and memory facts only
//!   ansible.builtin.setup:
//!     gather_subset: ["!all", "network"]
//!     filter: ["ansible_default_ipv4", "ansible_*_mb"]
//!
//! - ansible.builtin.debug:
//!     msg: "{{ ansible_facts.default_ipv4.address }} has {{ ansible_memtotal_mb }} MB"
//! ```
//!
//! The whole collection is one POSIX `sh` script (coreutils or BusyBox); a missing tool or
//! unreadable file leaves its facts out instead of failing. Facts have Ansible's names, value
//! types and quirks (`ansible_memtotal_mb` is an int, `ansible_userspace_bits` a string,
//! `ansible_fqdn` is `socket.getfqdn()`'s answer), checked against ansible-core 2.19 on Debian.
//!
//! Parameters: `gather_subset` (with Ansible's rules: `min` always first, `all`, `!all`,
//! `!min`, a collector such as `hardware`/`network`/`virtual`/`distribution`, or one of its
//! fact ids such as `mounts`, and `!x` exclusions), `filter` (fnmatch patterns on the
//! `ansible_` names), `gather_timeout` (bounds the statfs of network mounts, which is what
//! hangs) and `fact_path` (`*.fact` local facts: executables are run, other files read, as
//! JSON or INI).
//!
//! Collectors and their facts:
//! - min: `hostname`, `nodename`, `fqdn`, `domain`, `system`, `kernel`, `kernel_version`,
//!   `machine`, `architecture`, `userspace_bits`, `userspace_architecture`, `machine_id`;
//!   `distribution*`, `os_family`; `date_time`; `env` (from `export -p`); `user_*`,
//!   `real_*`/`effective_*` ids; `pkg_mgr`; `service_mgr`; `selinux`; `apparmor`; `fips`;
//!   `lsb`; `cmdline`, `proc_cmdline`; `dns`; `ssh_host_key_*`; `system_capabilities*`
//!   (capsh); `local`.
//! - hardware: `processor*`, `flags`, `mem*_mb`, `swap*_mb`, `memory_mb`, `uptime_seconds`,
//!   `lvm` (root only), `mounts` (with statfs sizes and uuids), the DMI facts (`bios_*`,
//!   `board_*`, `chassis_*`, `product_*`, `system_vendor`, `form_factor`).
//! - network: `interfaces`, `ansible_<iface>` (bridges and bonds with their details,
//!   labelled addresses as their own entries), `default_ipv4`, `default_ipv6`,
//!   `all_ipv4_addresses`, `all_ipv6_addresses`, `locally_reachable_ips`; from one
//!   `ip -batch`, or `/proc/net` where there is no `ip` (Ansible gives nothing then).
//! - virtual: `virtualization_type`, `virtualization_role`, `virtualization_tech_guest`,
//!   `virtualization_tech_host`; `systemd-detect-virt` answers only where Ansible's checks
//!   find nothing.
//! - also in `all`: `is_chroot`, `loadavg`, `systemd`, `fibre_channel_wwn`, `iscsi_iqn`,
//!   `hostnqn`.
//!
//! Not provided: `python*` (targets need no Python), `devices`, `device_links`, interface
//! `features`/`timestamping`/`hw_timestamp_filters` (ethtool), `date_time.tz_dst`, the
//! `,bind` option Ansible adds to bind mounts, `facter`/`ohai`. `env` also holds the
//! `LC_ALL=C` every tend script runs with. Never changed. The result's `ansible_facts` holds
//! the `ansible_`-prefixed names, as Ansible's module returns them; the host gets them as
//! variables and, merged into what it already had, as `ansible_facts` with the short names.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::Ipv6Addr;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

fn default_subset() -> Vec<String> {
    vec!["all".to_string()]
}

fn default_timeout() -> u64 {
    10
}

fn default_fact_path() -> String {
    "/etc/ansible/facts.d".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupParams {
    /// Which collectors run: `all`, `min`, `hardware`, `network`, `virtual`, a collector name,
    /// or `!name` to leave one out.
    #[serde(default = "default_subset")]
    pub gather_subset: Vec<String>,
    /// Only facts whose `ansible_` name matches one of these fnmatch patterns are returned.
    #[serde(default)]
    pub filter: Vec<String>,
    /// Seconds allowed for the filesystem-size probe of the mounts.
    #[serde(default = "default_timeout")]
    pub gather_timeout: u64,
    /// Where local `*.fact` files live.
    #[serde(default = "default_fact_path")]
    pub fact_path: String,
}

// ---------------------------------------------------------------------------------------------
// Subsets

/// Ansible's `minimal_gather_subset`.
const MIN: &[&str] = &[
    "apparmor",
    "caps",
    "cmdline",
    "date_time",
    "distribution",
    "dns",
    "env",
    "fips",
    "local",
    "lsb",
    "pkg_mgr",
    "platform",
    "python",
    "selinux",
    "service_mgr",
    "ssh_pub_keys",
    "user",
];

/// Ansible's Linux collectors with the fact ids that also name them in `gather_subset`.
/// `python`, `facter` and `ohai` are accepted and give nothing.
const COLLECTORS: &[(&str, &[&str])] = &[
    ("apparmor", &[]),
    (
        "caps",
        &["system_capabilities", "system_capabilities_enforced"],
    ),
    ("chroot", &["is_chroot"]),
    ("cmdline", &[]),
    ("date_time", &[]),
    (
        "distribution",
        &[
            "distribution_major_version",
            "distribution_release",
            "distribution_version",
            "os_family",
        ],
    ),
    ("dns", &[]),
    ("env", &[]),
    ("facter", &["facter"]),
    ("fibre_channel_wwn", &[]),
    ("fips", &[]),
    (
        "hardware",
        &[
            "devices",
            "mounts",
            "processor",
            "processor_cores",
            "processor_count",
        ],
    ),
    ("iscsi", &[]),
    ("loadavg", &[]),
    ("local", &[]),
    ("lsb", &[]),
    (
        "network",
        &[
            "all_ipv4_addresses",
            "all_ipv6_addresses",
            "default_ipv4",
            "default_ipv6",
            "interfaces",
        ],
    ),
    ("nvme", &[]),
    ("ohai", &[]),
    ("pkg_mgr", &[]),
    (
        "platform",
        &[
            "architecture",
            "kernel",
            "kernel_version",
            "machine",
            "machine_id",
            "python_version",
            "system",
        ],
    ),
    ("python", &[]),
    ("selinux", &[]),
    ("service_mgr", &[]),
    (
        "ssh_pub_keys",
        &[
            "ssh_host_key_dsa_public",
            "ssh_host_key_ecdsa_public",
            "ssh_host_key_ed25519_public",
            "ssh_host_key_rsa_public",
            "ssh_host_pub_keys",
        ],
    ),
    ("systemd", &[]),
    (
        "user",
        &[
            "effective_group_ids",
            "effective_user_id",
            "real_user_id",
            "user_dir",
            "user_gecos",
            "user_gid",
            "user_id",
            "user_shell",
            "user_uid",
        ],
    ),
    (
        "virtual",
        &[
            "virtualization_role",
            "virtualization_tech_guest",
            "virtualization_tech_host",
            "virtualization_type",
        ],
    ),
];

/// Collectors that need others' facts; those then run and report too, as in Ansible.
const REQUIRES: &[(&str, &[&str])] = &[
    ("hardware", &["platform"]),
    ("network", &["distribution", "platform"]),
    ("pkg_mgr", &["distribution"]),
    ("service_mgr", &["distribution", "platform"]),
];

/// The collector a subset name (collector name or fact id) stands for.
fn collector_of(name: &str) -> Option<&'static str> {
    COLLECTORS
        .iter()
        .find(|(c, ids)| *c == name || ids.contains(&name))
        .map(|(c, _)| *c)
}

/// The collectors a `gather_subset` list selects, by Ansible's `get_collector_names`: `min`
/// always comes first, `!all` drops everything but `min`, `!x` drops a collector and its fact
/// ids unless named explicitly, and an unknown name to add is an error. A collector name or a
/// fact id selects its whole collector; required collectors are added last.
fn select(subsets: &[String]) -> Result<BTreeSet<&'static str>, String> {
    let mut valid: BTreeSet<&'static str> = BTreeSet::new();
    for (c, ids) in COLLECTORS {
        valid.insert(c);
        valid.extend(ids.iter().copied());
    }
    let min: BTreeSet<&'static str> = MIN.iter().copied().collect();
    let mut added: BTreeSet<&str> = BTreeSet::new();
    let mut excluded: BTreeSet<&str> = BTreeSet::new();
    let mut explicit: BTreeSet<&str> = BTreeSet::new();
    for subset in std::iter::once("min").chain(subsets.iter().map(|s| s.trim())) {
        match subset {
            "min" => added.extend(min.iter().copied()),
            "all" => added.extend(valid.iter().copied()),
            "!min" => excluded.extend(min.iter().copied()),
            "!all" => excluded.extend(valid.difference(&min).copied()),
            _ => {
                if let Some(name) = subset.strip_prefix('!') {
                    // Excluding an unknown subset is not an error in Ansible either.
                    excluded.insert(name);
                    if let Some((_, ids)) = COLLECTORS.iter().find(|(c, _)| *c == name) {
                        excluded.extend(ids.iter().copied());
                    }
                } else if valid.contains(subset) {
                    explicit.insert(subset);
                    added.insert(subset);
                } else {
                    let names: Vec<&str> = valid.iter().copied().collect();
                    return Err(format!(
                        "Bad subset '{subset}' given to Ansible. gather_subset options allowed: all, {}",
                        names.join(", ")
                    ));
                }
            }
        }
    }
    let mut chosen: BTreeSet<&'static str> = added
        .into_iter()
        .filter(|n| !excluded.contains(n) || explicit.contains(n))
        .filter_map(collector_of)
        .collect();
    for (c, needs) in REQUIRES {
        if chosen.contains(c) {
            chosen.extend(needs.iter().copied());
        }
    }
    Ok(chosen)
}

// ---------------------------------------------------------------------------------------------
// The script

const DMI_FIELDS: &[(&str, &str)] = &[
    ("bios_date", "bios_date"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("system_vendor", "sys_vendor"),
];
const DMI_DIR: &str = "/sys/devices/virtual/dmi/id/";

/// Ansible's `PKG_MGRS`, in its order: the last one present wins.
const PKG_MGRS: &[(&str, &str)] = &[
    ("/usr/bin/rpm-ostree", "atomic_container"),
    ("/usr/bin/yum", "yum"),
    ("/usr/bin/dnf", "dnf"),
    ("/usr/bin/dnf5", "dnf5"),
    ("/usr/bin/apt-get", "apt"),
    ("/usr/bin/zypper", "zypper"),
    ("/usr/sbin/urpmi", "urpmi"),
    ("/usr/bin/pacman", "pacman"),
    ("/bin/opkg", "opkg"),
    ("/usr/pkg/bin/pkgin", "pkgin"),
    ("/opt/local/bin/pkgin", "pkgin"),
    ("/opt/tools/bin/pkgin", "pkgin"),
    ("/opt/local/bin/port", "macports"),
    ("/usr/local/bin/brew", "homebrew"),
    ("/opt/homebrew/bin/brew", "homebrew"),
    ("/sbin/apk", "apk"),
    ("/usr/sbin/pkg", "pkgng"),
    ("/usr/sbin/swlist", "swdepot"),
    ("/usr/bin/emerge", "portage"),
    ("/usr/sbin/pkgadd", "svr4pkg"),
    ("/usr/bin/pkg", "pkg5"),
    ("/usr/bin/xbps-install", "xbps"),
    ("/usr/local/sbin/pkg", "pkgng"),
    ("/usr/bin/swupd", "swupd"),
    ("/usr/sbin/sorcery", "sorcery"),
];

const SSH_KEY_DIRS: &[&str] = &["/etc/ssh", "/etc/openssh", "/etc"];
const SSH_KEY_ALGOS: &[&str] = &["dsa", "rsa", "ecdsa", "ed25519"];

/// A throwaway marker for section headers, `@@tend-<hex>@@` (the form [`Raw::parse`] looks
/// for), so that no file content or environment value can be mistaken for one.
fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("@@tend-{t:x}{:x}{n:x}@@", std::process::id())
}

/// Builds the collection script for the selected collectors.
///
/// Output: sections headed `\n<marker> name [arg]\n`. `kv` sections hold `key=value` lines,
/// `files` sections `path:line` lines from `grep -H` (one process for many small files);
/// the others hold one command's raw output. Forks are what costs time, so single values come
/// from shell builtins (`[ -e ]`, `${var}`) wherever possible.
fn script(sel: &BTreeSet<&str>, params: &SetupParams, marker: &str) -> String {
    let on = |c: &str| sel.contains(c);
    let mut files: Vec<String> = Vec::new();
    let mut add_files = |list: &[&str]| {
        for f in list {
            if !files.iter().any(|x| x == f) {
                files.push((*f).to_string());
            }
        }
    };
    let mut exists: Vec<&str> = Vec::new();
    let mut late_files: Vec<&str> = Vec::new();
    let mut links: Vec<&str> = Vec::new();
    let mut s = format!("M='{marker}'\nsect() {{ printf '\\n%s %s\\n' \"$M\" \"$*\"; }}\n");
    // The environment first, before this script extends PATH.
    if on("env") {
        s.push_str("sect exportp\nexport -p\n");
    }
    // Ansible looks for tools in the sbin directories too; a plain user's PATH lacks them.
    s.push_str("PATH=\"$PATH:/sbin:/usr/sbin:/usr/local/sbin\"\nsect kv\n");
    if on("platform") {
        // uname only where /proc/sys/kernel does not say.
        s.push_str(
            "[ -r /proc/sys/kernel/hostname ] || printf 'hostname=%s\\n' \"$(uname -n)\"\n\
             [ -r /proc/sys/kernel/osrelease ] || printf 'uname=%s\\n' \"$(uname -s -r -m)\"\n\
             [ -r /proc/sys/kernel/version ] || printf 'kernel_version=%s\\n' \"$(uname -v)\"\n\
             [ -r /proc/sys/kernel/arch ] || printf 'machine=%s\\n' \"$(uname -m)\"\n\
             hn=; read -r hn 2>/dev/null < /proc/sys/kernel/hostname; [ -n \"$hn\" ] || hn=$(uname -n)\n\
             if command -v getent >/dev/null 2>&1; then a=$(getent ahosts \"$hn\" 2>/dev/null); a=${a%%[[:space:]]*}\n\
             [ -n \"$a\" ] && printf 'fqdn_hosts=%s\\n' \"$(getent hosts \"$a\" 2>/dev/null)\"\n\
             else printf 'fqdn=%s\\n' \"$(hostname -f 2>/dev/null)\"; fi\n\
             printf 'long_bit=%s\\n' \"$(getconf LONG_BIT 2>/dev/null)\"\n",
        );
        add_files(&[
            "/proc/sys/kernel/hostname",
            "/proc/sys/kernel/osrelease",
            "/proc/sys/kernel/version",
            "/proc/sys/kernel/ostype",
            "/proc/sys/kernel/arch",
            "/etc/machine-id",
            "/var/lib/dbus/machine-id",
        ]);
    }
    if on("distribution") || on("lsb") || on("pkg_mgr") || on("service_mgr") {
        add_files(&[
            "/etc/os-release",
            "/etc/lsb-release",
            "/etc/debian_version",
            "/etc/alpine-release",
            "/etc/redhat-release",
            "/etc/centos-release",
        ]);
        late_files.push("[ -e /etc/os-release ] || grep -s -H '' /usr/lib/os-release\n");
        exists.extend(["/etc/arch-release", "/run/ostree-booted"]);
    }
    if on("date_time") {
        s.push_str("printf 'date=%s\\n' \"$(date '+%Y-%m-%d %H:%M:%S %s %N %Z %z %A %w %W')\"\n");
    }
    if on("user") || on("hardware") {
        // The real uid, read without running `id`.
        s.push_str("me=; while read -r k v rest; do [ \"$k\" = Uid: ] && { me=$v; break; }; done 2>/dev/null < /proc/self/status\n");
    }
    if on("user") {
        s.push_str(
            "u=${LOGNAME:-${USER:-${LNAME:-${USERNAME:-}}}}\n\
             [ -n \"$me\" ] || printf 'id=%s\\n' \"$(id 2>/dev/null)\"\n\
             [ -n \"$u$me\" ] || u=$(id -un 2>/dev/null)\n\
             pw=\n\
             while IFS=: read -r n x uid gid gecos dir sh; do\n\
             if [ \"$n\" = \"$u\" ] || { [ -z \"$u\" ] && [ \"$uid\" = \"$me\" ]; }; then pw=\"$n:$x:$uid:$gid:$gecos:$dir:$sh\"; break; fi\n\
             done 2>/dev/null < /etc/passwd\n\
             [ -n \"$pw\" ] || pw=$(getent passwd \"${u:-$me}\" 2>/dev/null)\n\
             printf 'user=%s\\n' \"${u:-${pw%%:*}}\"\n\
             printf 'pw=%s\\n' \"$pw\"\n",
        );
    }
    if on("pkg_mgr") {
        exists.extend(PKG_MGRS.iter().map(|(p, _)| *p));
    }
    if on("service_mgr") {
        add_files(&["/proc/1/comm"]);
        exists.extend([
            "/run/systemd/system/",
            "/dev/.run/systemd/",
            "/dev/.systemd/",
            "/etc/init/",
            "/sbin/openrc",
            "/etc/init.d/",
            "/etc/dinit.d/",
        ]);
        // /sbin/init's target only matters when init's own name says nothing.
        s.push_str(
            "command -v systemctl >/dev/null 2>&1 && echo has_systemctl=1\n\
             command -v initctl >/dev/null 2>&1 && echo has_initctl=1\n\
             c1=; read -r c1 2>/dev/null < /proc/1/comm\n\
             case $c1 in ''|init|*sh) [ -L /sbin/init ] && printf 'sbin_init=%s\\n' \"$(readlink /sbin/init 2>/dev/null)\" ;; esac\n",
        );
    }
    if on("selinux") {
        add_files(&[
            "/sys/fs/selinux/enforce",
            "/sys/fs/selinux/policyvers",
            "/etc/selinux/config",
        ]);
    }
    if on("apparmor") {
        exists.push("/sys/kernel/security/apparmor");
    }
    if on("fips") {
        add_files(&["/proc/sys/crypto/fips_enabled"]);
    }
    if on("lsb") {
        s.push_str("command -v lsb_release >/dev/null 2>&1 && echo has_lsb_release=1\n");
    }
    if on("cmdline") {
        add_files(&["/proc/cmdline"]);
    }
    if on("fibre_channel_wwn") {
        add_files(&["/sys/class/fc_host/*/port_name"]);
    }
    if on("iscsi") {
        add_files(&["/etc/iscsi/initiatorname.iscsi"]);
    }
    if on("nvme") {
        add_files(&["/etc/nvme/hostnqn"]);
    }
    if on("dns") {
        add_files(&["/etc/resolv.conf"]);
    }
    if on("ssh_pub_keys") {
        let keys: Vec<String> = SSH_KEY_DIRS
            .iter()
            .flat_map(|d| {
                SSH_KEY_ALGOS
                    .iter()
                    .map(move |a| format!("{d}/ssh_host_{a}_key.pub"))
            })
            .collect();
        add_files(&keys.iter().map(String::as_str).collect::<Vec<_>>());
    }
    if on("chroot") {
        // `-ef` compares device and inode without running stat; without access to init's
        // root, the inode of / decides.
        s.push_str(
            "printf 'debian_chroot=%s\\n' \"${debian_chroot:-}\"\n\
             if [ -e /proc/1/root/. ]; then if [ / -ef /proc/1/root/. ]; then echo chroot=no; else echo chroot=yes; fi\n\
             else printf 'root_inode=%s\\n' \"$(ls -di / 2>/dev/null)\"; fi\n",
        );
    }
    if on("chroot") || on("hardware") {
        add_files(&["/proc/mounts"]);
    }
    if on("loadavg") {
        add_files(&["/proc/loadavg"]);
    }
    // Files of which only some lines are wanted: one `grep -E` with all the patterns.
    let mut patterns: Vec<&str> = Vec::new();
    let mut pattern_files: Vec<&str> = Vec::new();
    if on("user") || on("hardware") || on("virtual") {
        // Uid/Gid for the user facts, Cpus_allowed_list for processor_nproc, VxID for
        // Linux-VServer.
        patterns.push("^(Uid|Gid|Cpus_allowed_list|VxID):");
        pattern_files.push("/proc/self/status");
    }
    if on("hardware") || on("virtual") {
        // Only the cpuinfo keys Ansible reads: the flags lines are most of the file.
        patterns.push("^(processor|vendor_id|model name|physical id|core id|cpu cores|siblings|Processor|cpu|Vendor)[[:space:]]*:");
        pattern_files.push("/proc/cpuinfo");
    }
    if on("hardware") {
        add_files(&["/proc/meminfo", "/proc/uptime"]);
        // One CPU's flags: every CPU has the same long line.
        late_files.push("grep -s -H -m 1 '^flags' /proc/cpuinfo\n");
    }
    if on("hardware") || on("virtual") {
        let dmi: Vec<String> = DMI_FIELDS
            .iter()
            .map(|(_, f)| format!("{DMI_DIR}{f}"))
            .chain([format!("{DMI_DIR}chassis_type")])
            .collect();
        add_files(&dmi.iter().map(String::as_str).collect::<Vec<_>>());
    }
    if on("network") {
        s.push_str(
            "for d in /sys/class/net/*; do [ -e \"$d\" ] && printf 'iface=%s\\n' \"${d##*/}\"; done\n\
             for d in /sys/class/net/*/bonding /sys/class/net/*/bridge /sys/class/net/*/brif/*; do [ -e \"$d\" ] && printf 'ifkind=%s\\n' \"${d#/sys/class/net/}\"; done\n",
        );
        add_files(&[
            "/sys/class/net/*/address",
            "/sys/class/net/*/mtu",
            "/sys/class/net/*/operstate",
            "/sys/class/net/*/flags",
            "/sys/class/net/*/type",
            "/sys/class/net/*/speed",
            "/sys/class/net/*/bridge/bridge_id",
            "/sys/class/net/*/bridge/stp_state",
            "/sys/class/net/*/bonding/slaves",
            "/sys/class/net/*/bonding/mode",
            "/sys/class/net/*/bonding/miimon",
            "/sys/class/net/*/bonding/lacp_rate",
            "/sys/class/net/*/bonding/primary",
            "/sys/class/net/*/bonding/all_slaves_active",
            "/sys/class/net/*/bonding_slave/perm_hwaddr",
        ]);
        links.extend([
            "/sys/class/net/*/device",
            "/sys/class/net/*/device/driver/module",
        ]);
    }
    if on("virtual") {
        add_files(&[
            &format!("{DMI_DIR}product_family"),
            "/proc/1/cgroup",
            "/run/systemd/container",
            "/proc/xen/capabilities",
            "/sys/hypervisor/type",
        ]);
        exists.extend([
            "/.dockerenv",
            "/.dockerinit",
            "/run/.containerenv",
            "/proc/vz",
            "/proc/lve",
            "/proc/bc",
            "/proc/xen",
            "/dev/kvm",
            "/rhev/",
        ]);
        patterns.push("^(kvm|kvm_intel|kvm_amd|vboxdrv|virtio) ");
        pattern_files.push("/proc/modules");
        // systemd-detect-virt only backs up the cheap container markers.
        s.push_str(
            "if [ -r /proc/1/environ ]; then printf 'pid1_container=%s\\n' \"$(tr '\\0' '\\n' 2>/dev/null < /proc/1/environ | grep '^container=')\"; fi\n\
             if [ ! -e /.dockerenv ] && [ ! -e /run/.containerenv ] && [ ! -s /run/systemd/container ] && command -v systemd-detect-virt >/dev/null 2>&1; then\n\
             printf 'detect_virt=%s\\n' \"$(systemd-detect-virt 2>/dev/null)\"; fi\n",
        );
    }
    if on("hardware") {
        links.push("/dev/disk/by-uuid/*");
    }
    if !exists.is_empty() {
        s.push_str("for p in ");
        s.push_str(&exists.join(" "));
        s.push_str("; do [ -e \"$p\" ] && printf 'exists=%s\\n' \"$p\"; done\n");
    }
    if !files.is_empty() || !late_files.is_empty() || !patterns.is_empty() {
        s.push_str("sect files\n");
    }
    if !files.is_empty() {
        s.push_str("grep -s -H '' ");
        s.push_str(&files.join(" "));
        s.push_str(" 2>/dev/null\n");
    }
    s.extend(late_files);
    if !patterns.is_empty() {
        s.push_str(&format!(
            "grep -s -H -E '{}' {} 2>/dev/null\n",
            patterns.join("|"),
            pattern_files.join(" ")
        ));
    }
    if !links.is_empty() {
        s.push_str(&format!(
            "sect links\nls -ld {} 2>/dev/null\n",
            links.join(" ")
        ));
    }
    if on("network") {
        // One `ip` for addresses and both route lookups; BusyBox's ip has no -batch.
        s.push_str(
            "if command -v ip >/dev/null 2>&1; then\n\
             o=$(printf 'addr show\\nroute get 8.8.8.8\\nroute get 2404:6800:400a:800::1012\\nroute show table local\\n' | ip -o -force -batch - 2>/dev/null)\n\
             if [ -n \"$o\" ]; then sect ipbatch; printf '%s\\n' \"$o\"\n\
             else sect ipaddr; ip -o addr show 2>/dev/null\n\
             sect route4; ip -4 route get 8.8.8.8 2>/dev/null\n\
             sect route6; ip -6 route get 2404:6800:400a:800::1012 2>/dev/null; fi\n\
             else\n\
             sect files; grep -s -H '' /proc/net/route /proc/net/fib_trie /proc/net/if_inet6 /proc/net/ipv6_route 2>/dev/null\n\
             fi\n",
        );
    }
    if on("hardware") {
        // Ansible keeps only device-backed and network mounts, and never `none` (bind) ones.
        // Only a network filesystem can hang statfs, so only then is it bounded by timeout
        // (one bound for the whole probe, where Ansible has one per mount).
        s.push_str(&format!(
            "set --; T=\n\
             while read -r dev mnt fs rest; do\n\
             case $dev in /*|\\\\*|*:/*) ;; *) continue ;; esac\n\
             [ \"$fs\" = none ] && continue\n\
             case $fs in nfs*|cifs|smb*|ceph|glusterfs|9p|afs|fuse.*) T='timeout {t}' ;; esac\n\
             case $mnt in *\\\\*) mnt=$(printf '%b' \"$mnt\") ;; esac\n\
             set -- \"$@\" \"$mnt\"\n\
             done 2>/dev/null < /proc/mounts\n\
             command -v timeout >/dev/null 2>&1 || T=\n\
             if [ $# -gt 0 ]; then\n\
             if command -v stat >/dev/null 2>&1; then sect statfs; $T stat -f -c '%s %S %b %a %f %c %d %n' -- \"$@\" 2>/dev/null\n\
             else sect df; $T df -P -k -- \"$@\" 2>/dev/null; fi\n\
             fi\n",
            t = params.gather_timeout.max(1)
        ));
    }
    if on("hardware") {
        // LVM facts need root, as in Ansible.
        s.push_str(
            "if [ \"$me\" = 0 ] && command -v vgs >/dev/null 2>&1; then\n\
             o='--noheadings --nosuffix --units g --separator ,'\n\
             sect vgs; vgs $o 2>/dev/null; sect lvs; lvs $o 2>/dev/null; sect pvs; pvs $o 2>/dev/null; fi\n",
        );
    }
    if on("systemd") {
        s.push_str(
            "if command -v systemctl >/dev/null 2>&1 && { [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ]; }; then\n\
             sect systemd; systemctl --version 2>/dev/null; fi\n",
        );
    }
    if on("caps") {
        s.push_str(
            "if command -v capsh >/dev/null 2>&1; then sect caps; capsh --print 2>/dev/null; fi\n",
        );
    }
    if on("local") {
        s.push_str(&format!(
            "fp={}\n\
             if [ -d \"$fp\" ]; then for f in \"$fp\"/*.fact; do [ -f \"$f\" ] || continue\n\
             sect local \"${{f##*/}}\"\n\
             if [ -x \"$f\" ]; then \"$f\" 2>/dev/null; else cat \"$f\" 2>/dev/null; fi\n\
             done; fi\n",
            quote(&params.fact_path)
        ));
    }
    s.push_str("sect end\n");
    s
}

// ---------------------------------------------------------------------------------------------
// Parsing the output

/// The script's output, split up. Text before the first section counts as `kv` lines, which
/// keeps the old one-line-per-fact output format readable.
#[derive(Debug, Default)]
struct Raw {
    kv: Vec<(String, String)>,
    files: BTreeMap<String, Vec<String>>,
    sections: Vec<(String, String, String)>,
}

impl Raw {
    fn parse(text: &str) -> Raw {
        let mut raw = Raw::default();
        let marker = text
            .find("\n@@tend-")
            .and_then(|start| {
                let rest = &text[start + 1..];
                rest[2..].find("@@").map(|end| rest[..end + 4].to_string())
            })
            .unwrap_or_default();
        if marker.is_empty() {
            raw.add_kv(text);
            return raw;
        }
        let sep = format!("\n{marker} ");
        let mut parts = text.split(sep.as_str());
        if let Some(prelude) = parts.next() {
            raw.add_kv(prelude);
        }
        for part in parts {
            let (header, body) = part.split_once('\n').unwrap_or((part, ""));
            let (name, arg) = header.split_once(' ').unwrap_or((header, ""));
            match name {
                "kv" => raw.add_kv(body),
                "files" => {
                    for line in body.lines() {
                        if let Some((path, content)) = line.split_once(':') {
                            raw.files
                                .entry(path.to_string())
                                .or_default()
                                .push(content.to_string());
                        }
                    }
                }
                _ => raw
                    .sections
                    .push((name.to_string(), arg.to_string(), body.to_string())),
            }
        }
        raw
    }

    fn add_kv(&mut self, text: &str) {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                if !k.is_empty() && !k.contains(char::is_whitespace) {
                    self.kv.push((k.to_string(), v.to_string()));
                }
            }
        }
    }

    /// The first non-empty value of a key.
    fn get(&self, key: &str) -> Option<&str> {
        self.kv
            .iter()
            .find(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.kv
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn exists(&self, path: &str) -> bool {
        self.all("exists").any(|p| p == path)
    }

    fn file(&self, path: &str) -> Option<&[String]> {
        self.files.get(path).map(Vec::as_slice)
    }

    fn first_line(&self, path: &str) -> Option<&str> {
        self.file(path)
            .and_then(|lines| lines.first())
            .map(|l| l.trim())
    }

    fn section(&self, name: &str) -> Option<&str> {
        self.sections
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, body)| body.as_str())
    }
}

type Facts = BTreeMap<String, Value>;

fn put(facts: &mut Facts, key: &str, value: impl Into<Value>) {
    facts.insert(key.to_string(), value.into());
}

/// Builds the facts (short names) the selected collectors give from the script's output.
fn build_facts(raw: &Raw, sel: &BTreeSet<&str>) -> Facts {
    let mut f = Facts::new();
    let on = |c: &str| sel.contains(c);
    if on("platform") {
        platform(raw, &mut f);
    }
    let os = os_release(raw);
    if on("distribution") {
        distribution(raw, &os, &mut f);
    }
    if on("pkg_mgr") {
        let mgr = pkg_mgr(raw, &f);
        put(&mut f, "pkg_mgr", mgr);
    }
    if on("date_time") {
        if let Some(dt) = raw.get("date").and_then(date_time) {
            put(&mut f, "date_time", dt);
        }
    }
    if on("env") {
        put(&mut f, "env", environment(raw));
    }
    if on("user") {
        user(raw, &mut f);
    }
    if on("service_mgr") {
        put(&mut f, "service_mgr", service_mgr(raw));
    }
    if on("selinux") {
        put(&mut f, "selinux", selinux(raw));
    }
    if on("apparmor") {
        let status = if raw.exists("/sys/kernel/security/apparmor") {
            "enabled"
        } else {
            "disabled"
        };
        put(&mut f, "apparmor", json!({ "status": status }));
    }
    if on("fips") {
        put(
            &mut f,
            "fips",
            raw.first_line("/proc/sys/crypto/fips_enabled") == Some("1"),
        );
    }
    if on("lsb") {
        if let Some(lsb) = lsb(raw, &os) {
            put(&mut f, "lsb", lsb);
        }
    }
    if on("cmdline") {
        if let Some(line) = raw.first_line("/proc/cmdline") {
            let (cmdline, proc_cmdline) = cmdline(line);
            put(&mut f, "cmdline", cmdline);
            put(&mut f, "proc_cmdline", proc_cmdline);
        }
    }
    if on("dns") {
        if let Some(lines) = raw.file("/etc/resolv.conf") {
            put(&mut f, "dns", dns(lines));
        }
    }
    if on("ssh_pub_keys") {
        ssh_pub_keys(raw, &mut f);
    }
    if on("local") {
        put(&mut f, "local", local(raw));
    }
    if on("caps") {
        caps(raw, &mut f);
    }
    if on("systemd") {
        if let Some(text) = raw.section("systemd") {
            let mut lines = text.lines();
            let version = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(version) = version {
                let features = lines.next().unwrap_or_default();
                put(
                    &mut f,
                    "systemd",
                    json!({"features": features, "version": version}),
                );
            }
        }
    }
    if on("fibre_channel_wwn") {
        let wwns: Vec<Value> = raw
            .files
            .iter()
            .filter(|(path, _)| path.starts_with("/sys/class/fc_host/"))
            .flat_map(|(_, lines)| lines.iter())
            .map(|l| Value::from(l.trim().trim_start_matches("0x")))
            .collect();
        put(&mut f, "fibre_channel_wwn", wwns);
    }
    if on("iscsi") {
        let iqn = raw
            .file("/etc/iscsi/initiatorname.iscsi")
            .unwrap_or_default()
            .iter()
            .find_map(|l| l.trim().strip_prefix("InitiatorName="))
            .unwrap_or_default();
        put(&mut f, "iscsi_iqn", iqn.trim());
    }
    if on("nvme") {
        put(
            &mut f,
            "hostnqn",
            raw.first_line("/etc/nvme/hostnqn").unwrap_or_default(),
        );
    }
    if on("chroot") {
        if let Some(chroot) = is_chroot(raw) {
            put(&mut f, "is_chroot", chroot);
        }
    }
    if on("loadavg") {
        if let Some(l) = raw.first_line("/proc/loadavg") {
            let v: Vec<f64> = l
                .split_whitespace()
                .take(3)
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [one, five, fifteen] = v[..] {
                put(
                    &mut f,
                    "loadavg",
                    json!({"1m": one, "5m": five, "15m": fifteen}),
                );
            }
        }
    }
    if on("hardware") {
        cpu(raw, &mut f);
        memory(raw, &mut f);
        if let Some(up) = raw
            .first_line("/proc/uptime")
            .and_then(|l| l.split_whitespace().next())
            .and_then(|s| s.parse::<f64>().ok())
        {
            put(&mut f, "uptime_seconds", up as u64);
        }
    }
    if on("hardware") {
        put(&mut f, "lvm", lvm(raw));
    }
    if on("hardware") {
        put(&mut f, "mounts", mounts(raw));
        dmi(raw, &mut f);
    }
    if on("network") {
        network(raw, &mut f);
    }
    if on("virtual") {
        virtualization(raw, &mut f);
    }
    f
}

// ---------------------------------------------------------------------------------------------
// min: platform, distribution, date_time, env, user, pkg_mgr, service_mgr, security, ...

fn platform(raw: &Raw, f: &mut Facts) {
    // /proc/sys/kernel first, then `uname` output, then the old script's `key=value` lines.
    let uname: Vec<&str> = raw.get("uname").unwrap_or_default().split(' ').collect();
    let field = |proc: &str, i: usize, key: &str| {
        raw.first_line(&format!("/proc/sys/kernel/{proc}"))
            .or_else(|| uname.get(i).filter(|s| !s.is_empty()).copied())
            .or_else(|| raw.get(key))
            .unwrap_or_default()
            .to_string()
    };
    let nodename = field("hostname", usize::MAX, "hostname");
    let system = field("ostype", 0, "system");
    let kernel = field("osrelease", 1, "kernel");
    let machine = field("arch", 2, "machine");
    let kernel_version = field("version", usize::MAX, "kernel_version");
    let short = nodename.split('.').next().unwrap_or_default().to_string();
    // socket.getfqdn(): the first dotted name of the address's reverse lookup, else its
    // canonical name; the hostname itself when the lookup fails.
    let hosts: Vec<&str> = raw
        .get("fqdn_hosts")
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .collect();
    let fqdn = hosts
        .iter()
        .find(|n| n.contains('.'))
        .or(hosts.first())
        .copied()
        .or_else(|| raw.get("fqdn"))
        .unwrap_or(&nodename)
        .to_string();
    let domain = fqdn
        .split_once('.')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    put(f, "hostname", short);
    put(f, "nodename", nodename);
    put(f, "fqdn", fqdn);
    put(f, "domain", domain);
    put(f, "system", system);
    put(f, "kernel", kernel);
    put(f, "kernel_version", kernel_version);
    let arch = if machine.len() == 4
        && machine.starts_with('i')
        && machine.ends_with("86")
        && matches!(machine.as_bytes()[1], b'3'..=b'6')
    {
        "i386".to_string()
    } else {
        machine.clone()
    };
    put(f, "machine", machine.clone());
    put(f, "architecture", arch);
    // Without getconf (BusyBox), the kernel's word size is the best guess at userland's.
    let guessed = (!machine.is_empty()).then(|| {
        if machine.contains("64") || machine == "s390x" {
            "64"
        } else {
            "32"
        }
    });
    if let Some(bits) = raw.get("long_bit").or(guessed) {
        put(f, "userspace_bits", bits);
        if machine == "x86_64" {
            let ua = if bits == "32" { "i386" } else { "x86_64" };
            put(f, "userspace_architecture", ua);
        }
    }
    if let Some(id) = raw
        .first_line("/etc/machine-id")
        .or_else(|| raw.first_line("/var/lib/dbus/machine-id"))
        .filter(|s| !s.is_empty())
    {
        put(f, "machine_id", id);
    }
}

/// Unquotes a shell-style `os-release` value.
fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        let mut out = String::new();
        let mut chars = v[1..v.len() - 1].chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        out
    } else if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

fn parse_assignments<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeMap<String, String> {
    lines
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), unquote(v)))
        .collect()
}

/// `/etc/os-release` (or `/usr/lib/os-release`); the old script's `os_KEY=` lines also count.
fn os_release(raw: &Raw) -> BTreeMap<String, String> {
    let lines = raw
        .file("/etc/os-release")
        .or_else(|| raw.file("/usr/lib/os-release"));
    let mut os = parse_assignments(lines.unwrap_or_default().iter().map(String::as_str));
    for (k, v) in &raw.kv {
        if let Some(key) = k.strip_prefix("os_") {
            os.entry(key.to_string()).or_insert_with(|| unquote(v));
        }
    }
    os
}

/// `distro.id()` to Ansible's distribution name.
fn distribution_name(id: &str) -> String {
    let name = match id {
        "debian" | "raspbian" => "Debian",
        "ubuntu" => "Ubuntu",
        "linuxmint" => "Linux Mint",
        "kali" => "Kali",
        "devuan" => "Devuan",
        "pop" => "Pop!_OS",
        "neon" => "KDE neon",
        "parrot" => "Parrot",
        "deepin" => "Deepin",
        "uos" => "Uos",
        "osmc" => "OSMC",
        "cumulus-linux" => "Cumulus Linux",
        "steamos" => "SteamOS",
        "centos" => "CentOS",
        "rhel" => "RedHat",
        "fedora" => "Fedora",
        "rocky" => "Rocky",
        "almalinux" => "AlmaLinux",
        "ol" => "OracleLinux",
        "amzn" => "Amazon",
        "cloudlinux" => "CloudLinux",
        "virtuozzo" => "Virtuozzo",
        "scientific" => "Scientific",
        "xenenterprise" => "XenServer",
        "euleros" => "EulerOS",
        "openEuler" | "openeuler" => "openEuler",
        "tencentos" => "TencentOS",
        "eurolinux" => "EuroLinux",
        "miracle" => "MIRACLE",
        "alinux" => "Alibaba",
        "alpine" => "Alpine",
        "arch" | "archarm" => "Archlinux",
        "manjaro" | "manjaro-arm" => "Manjaro",
        "opensuse-leap" => "openSUSE Leap",
        "opensuse-tumbleweed" => "openSUSE Tumbleweed",
        "opensuse-microos" => "openSUSE MicroOS",
        "opensuse" => "openSUSE",
        "sles" => "SLES",
        "sled" => "SLED",
        "sles_sap" => "SLES_SAP",
        "sl-micro" => "SL-Micro",
        "gentoo" => "Gentoo",
        "funtoo" => "Funtoo",
        "altlinux" => "Altlinux",
        "slackware" => "Slackware",
        "mandriva" => "Mandriva",
        "clear-linux-os" => "Clear Linux OS",
        "nixos" => "NixOS",
        "" => "OtherLinux",
        // Python's str.capitalize(), which Ansible applies to unknown ids.
        other => {
            let mut chars = other.chars();
            return chars
                .next()
                .map(|c| {
                    c.to_uppercase()
                        .chain(chars.flat_map(char::to_lowercase))
                        .collect()
                })
                .unwrap_or_default();
        }
    };
    name.to_string()
}

/// Ansible's `OS_FAMILY_MAP`; a distribution not in it is its own family.
fn os_family(distribution: &str) -> String {
    const MAP: &[(&str, &[&str])] = &[
        (
            "RedHat",
            &[
                "RedHat",
                "RHEL",
                "Fedora",
                "CentOS",
                "Scientific",
                "SLC",
                "Ascendos",
                "CloudLinux",
                "PSBM",
                "OracleLinux",
                "OVS",
                "OEL",
                "Amazon",
                "Amzn",
                "Virtuozzo",
                "XenServer",
                "Alibaba",
                "EulerOS",
                "openEuler",
                "AlmaLinux",
                "Rocky",
                "TencentOS",
                "EuroLinux",
                "Kylin Linux Advanced Server",
                "MIRACLE",
            ],
        ),
        (
            "Debian",
            &[
                "Debian",
                "Ubuntu",
                "Raspbian",
                "Neon",
                "KDE neon",
                "Linux Mint",
                "SteamOS",
                "Devuan",
                "Kali",
                "Cumulus Linux",
                "Pop!_OS",
                "Parrot",
                "Pardus GNU/Linux",
                "Uos",
                "Deepin",
                "OSMC",
            ],
        ),
        (
            "Suse",
            &[
                "SuSE",
                "SLES",
                "SLED",
                "openSUSE",
                "openSUSE Tumbleweed",
                "SLES_SAP",
                "SUSE_LINUX",
                "openSUSE Leap",
                "ALP-Dolomite",
                "SL-Micro",
                "openSUSE MicroOS",
            ],
        ),
        ("Archlinux", &["Archlinux", "Antergos", "Manjaro"]),
        ("Mandrake", &["Mandrake", "Mandriva"]),
        ("Slackware", &["Slackware"]),
        ("Altlinux", &["Altlinux"]),
        ("Gentoo", &["Gentoo", "Funtoo"]),
        ("Alpine", &["Alpine"]),
        ("ClearLinux", &["Clear Linux OS", "Clear Linux Mix"]),
    ];
    MAP.iter()
        .find(|(_, members)| members.contains(&distribution))
        .map(|(family, _)| family.to_string())
        .unwrap_or_else(|| distribution.to_string())
}

fn is_version(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn distribution(raw: &Raw, os: &BTreeMap<String, String>, f: &mut Facts) {
    let get = |k: &str| os.get(k).map(String::as_str).unwrap_or_default();
    let lsb = parse_assignments(
        raw.file("/etc/lsb-release")
            .unwrap_or_default()
            .iter()
            .map(String::as_str),
    );
    let mut id = get("ID").to_string();
    if id.is_empty() {
        if raw.first_line("/etc/alpine-release").is_some() {
            id = "alpine".into();
        } else if raw.exists("/etc/arch-release") {
            id = "arch".into();
        } else if raw.first_line("/etc/debian_version").is_some() {
            id = "debian".into();
        }
    }
    let name = distribution_name(&id);
    // distro.version(best=True) for Debian and CentOS: the release files carry the minor
    // version os-release leaves out (bugs.debian.org/931197).
    let mut version = get("VERSION_ID").to_string();
    match id.as_str() {
        "debian" => {
            if let Some(v) = raw
                .first_line("/etc/debian_version")
                .filter(|v| is_version(v))
            {
                version = v.to_string();
            } else if version.is_empty() {
                version = "n/a".into();
            }
        }
        "centos" => {
            if let Some(v) = raw.first_line("/etc/centos-release").and_then(|l| {
                l.split_whitespace()
                    .find(|w| w.starts_with(|c: char| c.is_ascii_digit()) && is_version(w))
            }) {
                version = v.split('.').take(2).collect::<Vec<_>>().join(".");
            }
        }
        "alpine" if version.is_empty() => {
            version = raw
                .first_line("/etc/alpine-release")
                .unwrap_or_default()
                .to_string();
        }
        _ => {}
    }
    if version.is_empty() {
        version = lsb
            .get("DISTRIB_RELEASE")
            .cloned()
            .unwrap_or_else(|| "NA".into());
    }
    let release = if let Some(c) = os.get("VERSION_CODENAME") {
        c.clone()
    } else if let Some(c) = os.get("UBUNTU_CODENAME") {
        c.clone()
    } else if let Some(c) = get("VERSION")
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(c, _)| c.trim().to_string())
    {
        c
    } else {
        lsb.get("DISTRIB_CODENAME")
            .cloned()
            .unwrap_or_else(|| "NA".into())
    };
    let major = version.split('.').next().unwrap_or_default().to_string();
    let family = os_family(&name);
    put(f, "distribution", name.clone());
    put(f, "distribution_version", version.clone());
    put(f, "distribution_major_version", major);
    if let Some(minor) = version.split('.').nth(1) {
        put(f, "distribution_minor_version", minor);
    }
    put(f, "distribution_release", release);
    put(f, "os_family", family.clone());
    let file = match family.as_str() {
        "RedHat" if raw.file("/etc/redhat-release").is_some() => {
            Some(("/etc/redhat-release", "RedHat"))
        }
        "Debian" => Some(("/etc/os-release", "Debian")),
        "Alpine" => Some(("/etc/alpine-release", "Alpine")),
        "Archlinux" => Some(("/etc/arch-release", "Archlinux")),
        "Suse" => Some(("/etc/os-release", "SUSE")),
        _ => None,
    };
    if let Some((path, variety)) = file {
        put(f, "distribution_file_path", path);
        put(f, "distribution_file_variety", variety);
        put(f, "distribution_file_parsed", true);
    }
}

/// Ansible's `PkgMgrFactCollector`: the last manager present wins, then the family's default.
fn pkg_mgr(raw: &Raw, f: &Facts) -> String {
    let text = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut mgr = PKG_MGRS
        .iter()
        .filter(|(p, _)| raw.exists(p))
        .filter(|(p, _)| *p != "/usr/bin/rpm-ostree" || raw.exists("/run/ostree-booted"))
        .map(|(_, m)| *m)
        .next_back()
        .unwrap_or("unknown")
        .to_string();
    let family = text("os_family");
    let major: u32 = text("distribution_major_version").parse().unwrap_or(0);
    if family == "RedHat" && mgr != "atomic_container" {
        let has = |p: &str| raw.exists(p);
        mgr = if text("distribution") == "Fedora" && major >= 41 && has("/usr/bin/dnf5") {
            "dnf5".into()
        } else if has("/usr/bin/dnf") && (text("distribution") == "Fedora" || major >= 8) {
            "dnf".into()
        } else if has("/usr/bin/yum") {
            "yum".into()
        } else {
            mgr
        };
    } else if family == "Debian" && raw.exists("/usr/bin/apt-get") {
        // yum or zypper installed on Debian does not make them its package manager.
        mgr = "apt".into();
    }
    mgr
}

fn service_mgr(raw: &Raw) -> String {
    let proc_1 = raw
        .first_line("/proc/1/comm")
        .map(|c| c.rsplit('/').next().unwrap_or(c).trim().to_string())
        .filter(|c| !c.is_empty() && c != "init" && !c.ends_with("sh"));
    if let Some(p) = proc_1 {
        return match p.as_str() {
            "procd" => "openwrt_init".into(),
            "runit-init" => "runit".into(),
            "svscan" => "svc".into(),
            "openrc-init" => "openrc".into(),
            other => other.into(),
        };
    }
    let systemd_dirs = [
        "/run/systemd/system/",
        "/dev/.run/systemd/",
        "/dev/.systemd/",
    ];
    let name = if raw.get("has_systemctl").is_some() && systemd_dirs.iter().any(|d| raw.exists(d)) {
        "systemd"
    } else if raw.get("has_initctl").is_some() && raw.exists("/etc/init/") {
        "upstart"
    } else if raw.exists("/sbin/openrc") {
        "openrc"
    } else if raw.get("has_systemctl").is_some()
        && raw
            .get("sbin_init")
            .is_some_and(|p| p.rsplit('/').next() == Some("systemd"))
    {
        "systemd"
    } else if raw.exists("/etc/init.d/") {
        "sysvinit"
    } else if raw.exists("/etc/dinit.d/") {
        "dinit"
    } else {
        "service"
    };
    name.into()
}

/// Splits `YYYY-mm-dd HH:MM:SS epoch nanos TZ +zzzz Weekday w WW` into Ansible's
/// `date_time`; the UTC forms are computed from the epoch, so both come from one instant.
fn date_time(line: &str) -> Option<Value> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let [date, time, epoch, nanos, tz, offset, weekday, wday, week] = w[..] else {
        return None;
    };
    let epoch_n: i64 = epoch.parse().ok()?;
    // BusyBox `date` may not know %N; Ansible's micro fields are then whole seconds.
    let micros = if nanos.len() == 9 && nanos.bytes().all(|b| b.is_ascii_digit()) {
        nanos[..6].to_string()
    } else {
        "000000".to_string()
    };
    let (year, rest) = date.split_once('-')?;
    let (month, day) = rest.split_once('-')?;
    let mut hms = time.split(':');
    let (hour, minute, second) = (hms.next()?, hms.next()?, hms.next()?);
    let days = epoch_n.div_euclid(86_400);
    let secs = epoch_n.rem_euclid(86_400);
    let (uy, um, ud) = tend_module_api::calendar::civil_from_days(days);
    let utc = format!(
        "{uy:04}-{um:02}-{ud:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    let basic_short = format!("{year}{month}{day}T{hour}{minute}{second}");
    Some(json!({
        "date": date,
        "day": day,
        "epoch": epoch,
        "epoch_int": epoch_n.to_string(),
        "hour": hour,
        "iso8601": format!("{utc}Z"),
        "iso8601_basic": format!("{basic_short}{micros}"),
        "iso8601_basic_short": basic_short,
        "iso8601_micro": format!("{utc}.{micros}Z"),
        "minute": minute,
        "month": month,
        "second": second,
        "time": time,
        "tz": tz,
        "tz_offset": offset,
        "weekday": weekday,
        "weekday_number": wday,
        "weeknumber": week,
        "year": year,
    }))
}

fn environment(raw: &Raw) -> Value {
    let env: BTreeMap<String, String> = parse_export_p(raw.section("exportp").unwrap_or_default())
        .into_iter()
        .collect();
    json!(env)
}

/// Reads `export -p` output as dash, bash (`declare -x` too), BusyBox ash and zsh print it:
/// one `export NAME=word` per command, where the word may be single-quoted, double-quoted,
/// `$'...'`-quoted or backslash-escaped, and may span lines.
fn parse_export_p(text: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let mut words: Vec<String> = Vec::new();
        loop {
            while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                i += 1;
            }
            if i >= chars.len() || chars[i] == '\n' || chars[i] == ';' {
                i += 1;
                break;
            }
            let (word, next) = shell_word(&chars, i);
            words.push(word);
            i = next;
        }
        if matches!(
            words.first().map(String::as_str),
            Some("export" | "declare")
        ) {
            let assignment = words.iter().skip(1).find(|w| !w.starts_with('-'));
            if let Some((k, v)) = assignment.and_then(|a| a.split_once('=')) {
                out.push((k.to_string(), v.to_string()));
            }
        }
    }
    out
}

/// One shell word starting at `i`, quotes removed; returns the index after it.
fn shell_word(chars: &[char], mut i: usize) -> (String, usize) {
    let mut word = String::new();
    while i < chars.len() {
        match chars[i] {
            ' ' | '\t' | '\n' | ';' => break,
            '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    word.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\'
                        && i + 1 < chars.len()
                        && matches!(chars[i + 1], '"' | '\\' | '$' | '`' | '\n')
                    {
                        if chars[i + 1] != '\n' {
                            word.push(chars[i + 1]);
                        }
                        i += 2;
                    } else {
                        word.push(chars[i]);
                        i += 1;
                    }
                }
                i += 1;
            }
            '$' if chars.get(i + 1) == Some(&'\'') => {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        let (c, used) = ansi_c_escape(&chars[i + 1..]);
                        word.push_str(&c);
                        i += 1 + used;
                    } else {
                        word.push(chars[i]);
                        i += 1;
                    }
                }
                i += 1;
            }
            '\\' if i + 1 < chars.len() => {
                if chars[i + 1] != '\n' {
                    word.push(chars[i + 1]);
                }
                i += 2;
            }
            c => {
                word.push(c);
                i += 1;
            }
        }
    }
    (word, i)
}

/// The character a `$'...'` escape (after its backslash) stands for, and how many chars it used.
fn ansi_c_escape(rest: &[char]) -> (String, usize) {
    let simple = |c: char| (c.to_string(), 1);
    match rest.first() {
        Some('n') => simple('\n'),
        Some('t') => simple('\t'),
        Some('r') => simple('\r'),
        Some('a') => simple('\x07'),
        Some('b') => simple('\x08'),
        Some('e' | 'E') => simple('\x1b'),
        Some('f') => simple('\x0c'),
        Some('v') => simple('\x0b'),
        Some('x') => {
            let hex: String = rest[1..]
                .iter()
                .take(2)
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                Some(c) => (c.to_string(), 1 + hex.len()),
                None => simple('x'),
            }
        }
        Some(c) if c.is_digit(8) => {
            let oct: String = rest.iter().take(3).take_while(|c| c.is_digit(8)).collect();
            match u32::from_str_radix(&oct, 8).ok().and_then(char::from_u32) {
                Some(c) => (c.to_string(), oct.len()),
                None => simple('0'),
            }
        }
        Some(c) => simple(*c),
        None => (String::new(), 0),
    }
}

/// `id` output: `uid=1000(a) gid=1000(a) euid=0(root) groups=...`, as `key -> (number, name)`.
fn parse_id(line: &str) -> BTreeMap<&str, (u64, &str)> {
    line.split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            let (num, name) = v.split_once('(').unwrap_or((v, ""));
            Some((k, (num.parse().ok()?, name.trim_end_matches(')'))))
        })
        .collect()
}

/// `Uid:`/`Gid:` of `/proc/self/status` (real, effective, ...), or `id` output where there is no
/// `/proc`.
fn ids(raw: &Raw, status_key: &str, id_key: &str) -> Option<(u64, u64)> {
    let status = raw
        .file("/proc/self/status")
        .unwrap_or_default()
        .iter()
        .find_map(|l| l.strip_prefix(status_key))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|n| n.parse::<u64>().ok())
                .collect::<Vec<_>>()
        });
    if let Some([real, effective, ..]) = status.as_deref() {
        return Some((*real, *effective));
    }
    let id = parse_id(raw.get("id").unwrap_or_default());
    let real = id.get(id_key)?.0;
    let effective = id.get(format!("e{id_key}").as_str()).map_or(real, |e| e.0);
    Some((real, effective))
}

fn user(raw: &Raw, f: &mut Facts) {
    let id = parse_id(raw.get("id").unwrap_or_default());
    let user = raw
        .get("user")
        .or_else(|| id.get("uid").map(|(_, n)| *n))
        .unwrap_or_default();
    let uid = ids(raw, "Uid:", "uid");
    let gid = ids(raw, "Gid:", "gid");
    let pw: Vec<&str> = raw.get("pw").unwrap_or_default().splitn(7, ':').collect();
    let pw_num = |i: usize| pw.get(i).and_then(|s| s.parse::<u64>().ok());
    put(f, "user_id", user);
    if let Some(n) = pw_num(2).or(uid.map(|u| u.1)) {
        put(f, "user_uid", n);
    }
    if let Some(n) = pw_num(3).or(gid.map(|g| g.1)) {
        put(f, "user_gid", n);
    }
    if pw.len() == 7 {
        put(f, "user_gecos", pw[4]);
        put(f, "user_dir", pw[5]);
        put(f, "user_shell", pw[6].trim_end());
    }
    if let Some((real, effective)) = uid {
        put(f, "real_user_id", real);
        put(f, "effective_user_id", effective);
    }
    if let Some((real, effective)) = gid {
        put(f, "real_group_id", real);
        put(f, "effective_group_id", effective);
    }
}

/// `capsh --print`'s `Current:` line as Ansible reads it; `N/A` without capsh.
fn caps(raw: &Raw, f: &mut Facts) {
    let current = raw
        .section("caps")
        .and_then(|text| text.lines().find(|l| l.starts_with("Current:")));
    let (enforced, list) = match current {
        None => (Value::from("N/A"), Value::from("N/A")),
        Some(line) if line["Current:".len()..].trim() == "=ep" => ("False".into(), json!([])),
        Some(line) => {
            let list: Vec<&str> = line
                .split('=')
                .nth(1)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .collect();
            ("True".into(), json!(list))
        }
    };
    put(f, "system_capabilities_enforced", enforced);
    put(f, "system_capabilities", list);
}

fn selinux(raw: &Raw) -> Value {
    let Some(enforce) = raw.first_line("/sys/fs/selinux/enforce") else {
        return json!({"status": "disabled"});
    };
    let mut s = Map::new();
    s.insert("status".into(), "enabled".into());
    let mode = if enforce == "1" {
        "enforcing"
    } else {
        "permissive"
    };
    s.insert("mode".into(), mode.into());
    if let Some(v) = raw
        .first_line("/sys/fs/selinux/policyvers")
        .and_then(|v| v.parse::<u64>().ok())
    {
        s.insert("policyvers".into(), v.into());
    }
    let config = parse_assignments(
        raw.file("/etc/selinux/config")
            .unwrap_or_default()
            .iter()
            .map(String::as_str),
    );
    if let Some(m) = config.get("SELINUX") {
        s.insert("config_mode".into(), m.to_lowercase().into());
    }
    if let Some(t) = config.get("SELINUXTYPE") {
        s.insert("type".into(), t.clone().into());
    }
    Value::Object(s)
}

/// `lsb_release -a` as Ansible reads it. The values come from the files `lsb_release` itself
/// reads, which saves running it (it is a Python program on Debian).
fn lsb(raw: &Raw, os: &BTreeMap<String, String>) -> Option<Value> {
    let file = parse_assignments(
        raw.file("/etc/lsb-release")
            .unwrap_or_default()
            .iter()
            .map(String::as_str),
    );
    let (id, release, codename, description) = if file.contains_key("DISTRIB_ID") {
        let get = |k: &str| file.get(k).cloned();
        (
            get("DISTRIB_ID"),
            get("DISTRIB_RELEASE"),
            get("DISTRIB_CODENAME"),
            get("DISTRIB_DESCRIPTION"),
        )
    } else if raw.get("has_lsb_release").is_some() && !os.is_empty() {
        let get = |k: &str| os.get(k).cloned();
        (
            os.get("NAME")
                .and_then(|n| n.split_whitespace().next())
                .map(str::to_string),
            get("VERSION_ID"),
            get("VERSION_CODENAME"),
            get("PRETTY_NAME"),
        )
    } else {
        return None;
    };
    let mut lsb = Map::new();
    if let Some(id) = id {
        lsb.insert("id".into(), id.into());
    }
    if let Some(d) = description {
        lsb.insert("description".into(), d.into());
    }
    if let Some(r) = release {
        lsb.insert(
            "major_release".into(),
            r.split('.').next().unwrap_or_default().into(),
        );
        lsb.insert("release".into(), r.into());
    }
    if let Some(c) = codename {
        lsb.insert("codename".into(), c.into());
    }
    Some(Value::Object(lsb))
}

/// `shlex.split(posix=False)` for the kernel command line: whitespace separates words except
/// inside double quotes, which stay in the word.
fn split_cmdline(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c.is_whitespace() && !quoted {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `cmdline` keeps the last value of a repeated key; `proc_cmdline` keeps them all in a list.
fn cmdline(line: &str) -> (Value, Value) {
    let mut last = Map::new();
    let mut all = Map::new();
    for word in split_cmdline(line) {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
            None => (word.clone(), Value::Bool(true)),
        };
        last.insert(key.clone(), value.clone());
        match all.get_mut(&key) {
            Some(Value::Array(list)) => list.push(value),
            Some(old) => *old = Value::Array(vec![old.clone(), value]),
            None => {
                all.insert(key, value);
            }
        }
    }
    (Value::Object(last), Value::Object(all))
}

fn dns(lines: &[String]) -> Value {
    let mut dns = Map::new();
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else {
            continue;
        };
        if first.starts_with('#') || first.starts_with(';') {
            continue;
        }
        let rest = || json!(words[1..]);
        match *first {
            "nameserver" if words.len() > 1 => {
                let list = dns.entry("nameservers").or_insert_with(|| json!([]));
                if let Value::Array(l) = list {
                    l.push(words[1].into());
                }
            }
            "domain" if words.len() > 1 => {
                dns.insert("domain".into(), words[1].into());
            }
            "search" => {
                dns.insert("search".into(), rest());
            }
            "sortlist" => {
                dns.insert("sortlist".into(), rest());
            }
            "options" => {
                let opts = dns.entry("options").or_insert_with(|| json!({}));
                if let Value::Object(o) = opts {
                    for opt in &words[1..] {
                        match opt.split_once(':') {
                            Some((k, v)) => o.insert(k.into(), v.into()),
                            None => o.insert((*opt).into(), true.into()),
                        };
                    }
                }
            }
            _ => {}
        }
    }
    Value::Object(dns)
}

fn ssh_pub_keys(raw: &Raw, f: &mut Facts) {
    // Ansible stops at the first directory holding any host key.
    for dir in SSH_KEY_DIRS {
        let mut found = false;
        for algo in SSH_KEY_ALGOS {
            let Some(line) = raw.first_line(&format!("{dir}/ssh_host_{algo}_key.pub")) else {
                continue;
            };
            let mut words = line.split_whitespace();
            if let (Some(kind), Some(key)) = (words.next(), words.next()) {
                put(f, &format!("ssh_host_key_{algo}_public"), key);
                put(f, &format!("ssh_host_key_{algo}_public_keytype"), kind);
                found = true;
            }
        }
        if found {
            break;
        }
    }
}

fn local(raw: &Raw) -> Value {
    let mut local = Map::new();
    for (name, file, body) in &raw.sections {
        if name != "local" {
            continue;
        }
        let base = file.strip_suffix(".fact").unwrap_or(file);
        let value = serde_json::from_str::<Value>(body)
            .ok()
            .or_else(|| parse_ini(body))
            .unwrap_or_else(|| {
                Value::String(format!(
                    "error loading facts as JSON or ini - please check content: {file}"
                ))
            });
        local.insert(base.to_string(), value);
    }
    Value::Object(local)
}

/// Python's `configparser` as Ansible uses it for local facts: sections of `key = value` or
/// `key: value`, keys lowercased; text before any section header is an error.
fn parse_ini(text: &str) -> Option<Value> {
    let mut out = Map::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(section) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            out.entry(section.to_string()).or_insert_with(|| json!({}));
            current = Some(section.to_string());
            continue;
        }
        let section = current.as_ref()?;
        let split = match (t.find('='), t.find(':')) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (k, v) = match split {
            Some(at) => (&t[..at], &t[at + 1..]),
            None => (t, ""),
        };
        if let Some(Value::Object(sect)) = out.get_mut(section) {
            sect.insert(k.trim().to_lowercase(), v.trim().into());
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(Value::Object(out))
    }
}

/// Whether `/` is another root than init's; without access to `/proc/1/root`, whether its
/// inode is the filesystem's root inode.
fn is_chroot(raw: &Raw) -> Option<bool> {
    if raw.get("debian_chroot").is_some() {
        return Some(true);
    }
    if let Some(answer) = raw.get("chroot") {
        return Some(answer == "yes");
    }
    let inode = raw.get("root_inode")?.split_whitespace().next()?;
    let fstype = raw
        .file("/proc/mounts")
        .unwrap_or_default()
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.get(1) == Some(&"/")).then(|| w.get(2).copied().unwrap_or_default())
        })
        .next_back()
        .unwrap_or_default();
    let root_inode = match fstype {
        "btrfs" => "256",
        "xfs" => "128",
        _ => "2",
    };
    Some(inode != root_inode)
}

// ---------------------------------------------------------------------------------------------
// hardware

/// Ansible's `LinuxHardware.get_cpu_facts` for the architectures it treats alike.
fn cpu(raw: &Raw, f: &mut Facts) {
    let lines = raw.file("/proc/cpuinfo").unwrap_or_default();
    let arch = f
        .get("architecture")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut processor: Vec<Value> = Vec::new();
    let mut sockets: Vec<(String, u64)> = Vec::new();
    let mut cores: Vec<(String, u64)> = Vec::new();
    let (mut physid, mut coreid) = (String::new(), String::new());
    let mut flags: Option<Vec<&str>> = None;
    let (mut i, mut processor_n, mut vendor_n, mut model_n) = (0u64, 0u64, 0u64, 0u64);
    let set = |list: &mut Vec<(String, u64)>, key: &str, value: u64, only_new: bool| match list
        .iter_mut()
        .find(|(k, _)| k == key)
    {
        Some(_) if only_new => {}
        Some(entry) => entry.1 = value,
        None => list.push((key.to_string(), value)),
    };
    for line in lines {
        let (key, val) = line.split_once(':').unwrap_or((line, ""));
        let (key, val) = (key.trim(), val.trim());
        match key {
            "model name" | "Processor" | "vendor_id" | "cpu" | "Vendor" | "processor" => {
                processor.push(val.into());
                i += 1;
                match key {
                    "processor" => processor_n += 1,
                    "vendor_id" => vendor_n += 1,
                    "model name" => model_n += 1,
                    _ => {}
                }
            }
            "physical id" => {
                physid = val.to_string();
                set(&mut sockets, &physid, 1, true);
            }
            "core id" => {
                coreid = val.to_string();
                set(&mut cores, &coreid, 1, true);
            }
            "flags" => flags = Some(val.split_whitespace().collect::<Vec<_>>()),
            "cpu cores" => set(&mut sockets, &physid, val.parse().unwrap_or(1), false),
            "siblings" => set(&mut cores, &coreid, val.parse().unwrap_or(1), false),
            _ => {}
        }
    }
    if vendor_n > 0 && vendor_n == model_n {
        i = vendor_n;
    }
    if arch.starts_with("armv") || arch.starts_with("aarch") || arch.starts_with("ppc") {
        i = processor_n;
    }
    let nproc = raw
        .file("/proc/self/status")
        .unwrap_or_default()
        .iter()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .and_then(|list| count_cpus(list.trim()));
    if processor.is_empty() && nproc.is_none() {
        return;
    }
    let count = if sockets.is_empty() {
        i
    } else {
        sockets.len() as u64
    };
    let per_socket = sockets.first().map(|s| s.1).filter(|c| *c > 0).unwrap_or(1);
    let threads = match (cores.first(), sockets.first()) {
        (Some(c), Some(_)) => c.1 / per_socket,
        _ => 1,
    }
    .max(1);
    if let Some(flags) = flags {
        put(f, "flags", flags);
    }
    put(f, "processor", processor);
    put(f, "processor_count", count);
    put(f, "processor_cores", per_socket);
    put(f, "processor_threads_per_core", threads);
    put(f, "processor_vcpus", threads * count * per_socket);
    put(f, "processor_nproc", nproc.unwrap_or(processor_n));
}

/// The number of CPUs in a list like `0-3,8,10-11`: what `nproc` counts.
fn count_cpus(list: &str) -> Option<u64> {
    list.split(',').try_fold(0u64, |n, part| {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?);
        Some(n + b.checked_sub(a)? + 1)
    })
}

fn memory(raw: &Raw, f: &mut Facts) {
    let mut mb: BTreeMap<&str, u64> = BTreeMap::new();
    for line in raw.file("/proc/meminfo").unwrap_or_default() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let kb = rest
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok());
        for wanted in [
            "MemTotal",
            "MemFree",
            "Buffers",
            "Cached",
            "SwapTotal",
            "SwapFree",
            "SwapCached",
        ] {
            if key == wanted {
                if let Some(kb) = kb {
                    mb.insert(wanted, kb / 1024);
                }
            }
        }
    }
    let get = |k: &str| mb.get(k).copied().unwrap_or(0);
    for (key, fact) in [
        ("MemTotal", "memtotal_mb"),
        ("MemFree", "memfree_mb"),
        ("SwapTotal", "swaptotal_mb"),
        ("SwapFree", "swapfree_mb"),
    ] {
        if let Some(v) = mb.get(key) {
            put(f, fact, *v);
        }
    }
    if !mb.contains_key("MemTotal") {
        return;
    }
    let nocache_free = get("Cached") + get("MemFree") + get("Buffers");
    put(
        f,
        "memory_mb",
        json!({
            "nocache": {
                "free": nocache_free,
                "used": get("MemTotal").saturating_sub(nocache_free),
            },
            "real": {
                "free": get("MemFree"),
                "total": get("MemTotal"),
                "used": get("MemTotal").saturating_sub(get("MemFree")),
            },
            "swap": {
                "cached": get("SwapCached"),
                "free": get("SwapFree"),
                "total": get("SwapTotal"),
                "used": get("SwapTotal").saturating_sub(get("SwapFree")),
            },
        }),
    );
}

/// `vgs`/`lvs`/`pvs` (`--separator ,`, sizes in g) as Ansible reads them; `N/A` without the
/// tools or root.
fn lvm(raw: &Raw) -> Value {
    let (Some(vgs), Some(lvs), Some(pvs)) =
        (raw.section("vgs"), raw.section("lvs"), raw.section("pvs"))
    else {
        return "N/A".into();
    };
    let rows = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.trim().split(',').map(str::to_string).collect::<Vec<_>>())
            .filter(|r| r.len() > 1)
            .collect()
    };
    let at = |r: &[String], i: usize| r.get(i).cloned().unwrap_or_default();
    let mut vg = Map::new();
    for r in rows(vgs) {
        let n = r.len();
        vg.insert(
            at(&r, 0),
            json!({"size_g": at(&r, n.saturating_sub(2)), "free_g": at(&r, n - 1),
                   "num_lvs": at(&r, 2), "num_pvs": at(&r, 1)}),
        );
    }
    let mut lv = Map::new();
    for r in rows(lvs) {
        lv.insert(at(&r, 0), json!({"size_g": at(&r, 3), "vg": at(&r, 1)}));
    }
    let mut pv = Map::new();
    for r in rows(pvs) {
        pv.insert(
            at(&r, 0),
            json!({"size_g": at(&r, 4), "free_g": at(&r, 5), "vg": at(&r, 1)}),
        );
    }
    json!({"lvs": lv, "vgs": vg, "pvs": pv})
}

/// Decodes the octal escapes (`\040`) of `/proc/mounts` fields.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(d)) = (bytes[i], octal) {
            let v = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mounts(raw: &Raw) -> Value {
    // statfs numbers by mount point: `%s %S %b %a %f %c %d %n`.
    let mut statfs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in raw.section("statfs").unwrap_or_default().lines() {
        let mut parts = line.splitn(8, ' ');
        let nums: Vec<u64> = parts
            .by_ref()
            .take(7)
            .filter_map(|n| n.parse().ok())
            .collect();
        if let (7, Some(name)) = (nums.len(), parts.next()) {
            statfs.insert(name.to_string(), nums);
        }
    }
    // `df -P -k` when there is no `stat`: sizes only.
    let mut df: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in raw.section("df").unwrap_or_default().lines().skip(1) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 6 {
            if let (Ok(total), Ok(avail)) = (w[1].parse::<u64>(), w[3].parse::<u64>()) {
                df.insert(w[5..].join(" "), (total * 1024, avail * 1024));
            }
        }
    }
    let mut uuids: BTreeMap<String, String> = BTreeMap::new();
    for (path, target) in links(raw) {
        if let Some(uuid) = path.strip_prefix("/dev/disk/by-uuid/") {
            uuids.insert(format!("/dev/{target}"), uuid.to_string());
        }
    }
    let mut list = Vec::new();
    for line in raw.file("/proc/mounts").unwrap_or_default() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let [device, mount, fstype, options, rest @ ..] = &w[..] else {
            continue;
        };
        let device = unescape_octal(device);
        let path_like =
            device.starts_with('/') || device.starts_with('\\') || device.contains(":/");
        if !path_like || *fstype == "none" {
            continue;
        }
        let mount = unescape_octal(mount);
        let num = |i: usize| rest.get(i).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        let mut m = Map::new();
        m.insert("mount".into(), mount.clone().into());
        m.insert("device".into(), device.clone().into());
        m.insert("fstype".into(), (*fstype).into());
        m.insert("options".into(), (*options).into());
        m.insert("dump".into(), num(0).into());
        m.insert("passno".into(), num(1).into());
        if let Some(s) = statfs.get(&mount) {
            let (bsize, frsize, blocks, bavail, _bfree, files, ffree) =
                (s[0], s[1], s[2], s[3], s[4], s[5], s[6]);
            m.insert("size_total".into(), (frsize * blocks).into());
            m.insert("size_available".into(), (frsize * bavail).into());
            m.insert("block_size".into(), bsize.into());
            m.insert("block_total".into(), blocks.into());
            m.insert("block_available".into(), bavail.into());
            m.insert("block_used".into(), blocks.saturating_sub(bavail).into());
            m.insert("inode_total".into(), files.into());
            m.insert("inode_available".into(), ffree.into());
            m.insert("inode_used".into(), files.saturating_sub(ffree).into());
        } else if let Some((total, avail)) = df.get(&mount) {
            m.insert("size_total".into(), (*total).into());
            m.insert("size_available".into(), (*avail).into());
        }
        let uuid = uuids.get(&device).cloned().unwrap_or_else(|| "N/A".into());
        m.insert("uuid".into(), uuid.into());
        list.push(Value::Object(m));
    }
    Value::Array(list)
}

/// SMBIOS chassis types, as Ansible names them for `form_factor`.
const FORM_FACTORS: &[&str] = &[
    "Unknown",
    "Other",
    "Unknown",
    "Desktop",
    "Low Profile Desktop",
    "Pizza Box",
    "Mini Tower",
    "Tower",
    "Portable",
    "Laptop",
    "Notebook",
    "Hand Held",
    "Docking Station",
    "All In One",
    "Sub Notebook",
    "Space-saving",
    "Lunch Box",
    "Main Server Chassis",
    "Expansion Chassis",
    "Sub Chassis",
    "Bus Expansion Chassis",
    "Peripheral Chassis",
    "RAID Chassis",
    "Rack Mount Chassis",
    "Sealed-case PC",
    "Multi-system",
    "CompactPCI",
    "AdvancedTCA",
    "Blade",
    "Blade Enclosure",
    "Tablet",
    "Convertible",
    "Detachable",
    "IoT Gateway",
    "Embedded PC",
    "Mini PC",
    "Stick PC",
];

fn dmi(raw: &Raw, f: &mut Facts) {
    for (fact, file) in DMI_FIELDS {
        let v = raw
            .first_line(&format!("{DMI_DIR}{file}"))
            .unwrap_or("NA")
            .to_string();
        put(f, fact, v);
    }
    let form = raw
        .first_line(&format!("{DMI_DIR}chassis_type"))
        .and_then(|t| t.parse::<usize>().ok())
        .and_then(|t| FORM_FACTORS.get(t))
        .copied()
        .unwrap_or("NA");
    put(f, "form_factor", form);
}

// ---------------------------------------------------------------------------------------------
// network

#[derive(Debug, Clone, Default)]
struct V4 {
    address: String,
    prefix: u32,
    broadcast: String,
    label: String,
    secondary: bool,
}

impl V4 {
    fn value(&self) -> Value {
        let mask = prefix_mask(self.prefix);
        let addr = self
            .address
            .parse::<std::net::Ipv4Addr>()
            .map(u32::from)
            .unwrap_or(0);
        json!({
            "address": self.address,
            "broadcast": self.broadcast,
            "netmask": std::net::Ipv4Addr::from(mask).to_string(),
            "network": std::net::Ipv4Addr::from(addr & mask).to_string(),
            "prefix": self.prefix.to_string(),
        })
    }
}

#[derive(Debug, Clone)]
struct V6 {
    address: String,
    prefix: String,
    scope: String,
}

/// Addresses with their interface names, in the order found.
type ByIface<T> = Vec<(String, T)>;

fn prefix_mask(prefix: u32) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32))
    }
}

/// Addresses from `ip -o addr show`, by interface, in order.
fn parse_ip_addr(text: &str) -> (ByIface<V4>, ByIface<V6>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let words: Vec<&str> = line
            .split_whitespace()
            .take_while(|w| *w != "valid_lft")
            .map(|w| w.trim_end_matches('\\'))
            .filter(|w| !w.is_empty())
            .collect();
        let [_, iface, family, addr, rest @ ..] = &words[..] else {
            continue;
        };
        let iface = iface.split('@').next().unwrap_or(iface).to_string();
        let after = |key: &str| {
            rest.iter()
                .position(|w| *w == key)
                .and_then(|i| rest.get(i + 1))
                .copied()
        };
        match *family {
            "inet" => {
                let (address, prefix) = match after("peer") {
                    Some(peer) => (
                        addr.to_string(),
                        peer.split_once('/').map_or("32", |(_, p)| p),
                    ),
                    None => addr
                        .split_once('/')
                        .map_or((addr.to_string(), "32"), |(a, p)| (a.to_string(), p)),
                };
                let label = rest
                    .last()
                    .filter(|w| after("scope").is_some_and(|s| s != **w))
                    .map_or(iface.clone(), |w| w.to_string());
                v4.push((
                    iface,
                    V4 {
                        address,
                        prefix: prefix.parse().unwrap_or(32),
                        broadcast: after("brd").unwrap_or_default().to_string(),
                        label,
                        secondary: rest.contains(&"secondary"),
                    },
                ));
            }
            "inet6" => {
                let with_prefix = after("peer").unwrap_or(addr);
                let prefix = with_prefix.split_once('/').map_or("128", |(_, p)| p);
                let address = addr.split('/').next().unwrap_or(addr);
                v6.push((
                    iface,
                    V6 {
                        address: address.to_string(),
                        prefix: prefix.to_string(),
                        scope: after("scope").unwrap_or_default().to_string(),
                    },
                ));
            }
            _ => {}
        }
    }
    (v4, v6)
}

/// `ip route get` output: `{address, interface, gateway}` as far as given.
fn parse_route_get(text: &str) -> Map<String, Value> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
    };
    let mut m = Map::new();
    for (key, fact) in [("src", "address"), ("dev", "interface"), ("via", "gateway")] {
        if let Some(v) = after(key) {
            m.insert(fact.into(), (*v).into());
        }
    }
    m
}

fn hex_v4(hex: &str) -> Option<u32> {
    // /proc/net/route prints the address bytes as a native integer of the target, which is
    // little-endian on every common target (s390x aside).
    u32::from_str_radix(hex, 16).ok().map(u32::swap_bytes)
}

/// The addresses whose routes give the default IPv4/IPv6 facts, as Ansible looks them up.
const ROUTE4_PROBE: &str = "8.8.8.8";
const ROUTE6_PROBE: &str = "2404:6800:400a:800::1012";

/// Every address by interface, and the default routes' `{address, interface, gateway}`.
struct Addresses {
    v4: ByIface<V4>,
    v6: ByIface<V6>,
    default4: Map<String, Value>,
    default6: Map<String, Value>,
}

/// Without `ip`: IPv4 addresses from `/proc/net/fib_trie` matched to interfaces through
/// `/proc/net/route`, IPv6 from `/proc/net/if_inet6`, default routes from the route tables.
fn proc_net(raw: &Raw) -> Addresses {
    let mut routes: Vec<(String, u32, u32, u32)> = Vec::new();
    for line in raw
        .file("/proc/net/route")
        .unwrap_or_default()
        .iter()
        .skip(1)
    {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 8 {
            if let (Some(dest), Some(gw), Some(mask)) = (hex_v4(w[1]), hex_v4(w[2]), hex_v4(w[7])) {
                routes.push((w[0].to_string(), dest, gw, mask));
            }
        }
    }
    let mut locals: Vec<String> = Vec::new();
    let mut last = "";
    for line in raw.file("/proc/net/fib_trie").unwrap_or_default() {
        let t = line.trim();
        if let Some(addr) = t.strip_prefix("|-- ") {
            last = addr;
        } else if t.starts_with("/32 host LOCAL") && !locals.iter().any(|a| a == last) {
            locals.push(last.to_string());
        }
    }
    let mut v4 = Vec::new();
    for addr in locals {
        let Ok(ip) = addr.parse::<std::net::Ipv4Addr>() else {
            continue;
        };
        let n = u32::from(ip);
        let (iface, prefix) = if ip.is_loopback() {
            ("lo".to_string(), 8)
        } else {
            match routes
                .iter()
                .filter(|(_, dest, gw, mask)| *gw == 0 && *mask != 0 && n & mask == *dest)
                .max_by_key(|(_, _, _, mask)| mask.count_ones())
            {
                Some((iface, _, _, mask)) => (iface.clone(), mask.count_ones()),
                None => continue,
            }
        };
        let mask = prefix_mask(prefix);
        let broadcast = if prefix < 31 && !ip.is_loopback() {
            std::net::Ipv4Addr::from(n | !mask).to_string()
        } else {
            String::new()
        };
        v4.push((
            iface.clone(),
            V4 {
                address: addr,
                prefix,
                broadcast,
                label: iface,
                secondary: false,
            },
        ));
    }
    let mut v6 = Vec::new();
    for line in raw.file("/proc/net/if_inet6").unwrap_or_default() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 6 {
            continue;
        }
        let (Some(addr), Ok(prefix), Ok(scope)) = (
            hex_v6(w[0]),
            u32::from_str_radix(w[2], 16),
            u32::from_str_radix(w[3], 16),
        ) else {
            continue;
        };
        let scope = match scope {
            0x00 => "global",
            0x10 => "host",
            0x20 => "link",
            0x40 => "site",
            _ => "unknown",
        };
        v6.push((
            w[5].to_string(),
            V6 {
                address: addr.to_string(),
                prefix: prefix.to_string(),
                scope: scope.to_string(),
            },
        ));
    }
    let mut default4 = Map::new();
    if let Some((iface, _, gw, _)) = routes.iter().find(|(_, d, _, m)| *d == 0 && *m == 0) {
        default4.insert(
            "gateway".into(),
            std::net::Ipv4Addr::from(*gw).to_string().into(),
        );
        default4.insert("interface".into(), iface.clone().into());
        if let Some((_, a)) = v4.iter().find(|(i, a)| i == iface && !a.secondary) {
            default4.insert("address".into(), a.address.clone().into());
        }
    }
    let mut default6 = Map::new();
    for line in raw.file("/proc/net/ipv6_route").unwrap_or_default() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 10 && w[1] == "00" && w[0].bytes().all(|b| b == b'0') && w[9] != "lo" {
            if let Some(gw) = hex_v6(w[4]).filter(|g| !g.is_unspecified()) {
                default6.insert("gateway".into(), gw.to_string().into());
                default6.insert("interface".into(), w[9].into());
                if let Some((_, a)) = v6.iter().find(|(i, a)| i == w[9] && a.scope == "global") {
                    default6.insert("address".into(), a.address.clone().into());
                }
                break;
            }
        }
    }
    Addresses {
        v4,
        v6,
        default4,
        default6,
    }
}

fn hex_v6(hex: &str) -> Option<Ipv6Addr> {
    (hex.len() == 32)
        .then(|| u128::from_str_radix(hex, 16).ok())
        .flatten()
        .map(Ipv6Addr::from)
}

/// `ls -ld` of symlinks: each link's path and the last component of its target.
fn links(raw: &Raw) -> BTreeMap<String, String> {
    let mut links = BTreeMap::new();
    for line in raw.section("links").unwrap_or_default().lines() {
        if let Some((left, target)) = line.split_once(" -> ") {
            if let Some(path) = left.split_whitespace().next_back() {
                let base = target.trim().rsplit('/').next().unwrap_or_default();
                links.insert(path.to_string(), base.to_string());
            }
        }
    }
    links
}

/// An interface's fact name: Ansible replaces `-` and `:` with `_` (dots stay).
fn iface_fact(name: &str) -> String {
    name.replace(['-', ':'], "_")
}

fn network(raw: &Raw, f: &mut Facts) {
    let Addresses {
        v4,
        v6,
        mut default4,
        mut default6,
    } = match (raw.section("ipbatch"), raw.section("ipaddr")) {
        (Some(text), _) => {
            // The route lookups' lines start with the address looked up.
            let route = |dest: &str| {
                text.lines()
                    .find(|l| l.starts_with(&format!("{dest} ")))
                    .map(parse_route_get)
                    .unwrap_or_default()
            };
            let (v4, v6) = parse_ip_addr(text);
            Addresses {
                v4,
                v6,
                default4: route(ROUTE4_PROBE),
                default6: route(ROUTE6_PROBE),
            }
        }
        (None, Some(text)) => {
            let (v4, v6) = parse_ip_addr(text);
            Addresses {
                v4,
                v6,
                default4: parse_route_get(raw.section("route4").unwrap_or_default()),
                default6: parse_route_get(raw.section("route6").unwrap_or_default()),
            }
        }
        (None, None) => proc_net(raw),
    };
    let mut names: Vec<String> = raw.all("iface").map(str::to_string).collect();
    let kinds: Vec<&str> = raw.all("ifkind").collect();
    for iface in v4.iter().map(|(i, _)| i).chain(v6.iter().map(|(i, _)| i)) {
        if !names.contains(iface) {
            names.push(iface.clone());
        }
    }
    let sys = |iface: &str, attr: &str| raw.first_line(&format!("/sys/class/net/{iface}/{attr}"));
    let links = links(raw);
    let mut all4 = Vec::new();
    let mut all6 = Vec::new();
    let mut ifaces: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for name in &names {
        let mut d = Map::new();
        d.insert("device".into(), name.clone().into());
        if let Some(state) = sys(name, "operstate") {
            d.insert("active".into(), (state != "down").into());
        }
        if let Some(mac) =
            sys(name, "address").filter(|m| *m != "00:00:00:00:00:00" && !m.is_empty())
        {
            d.insert("macaddress".into(), mac.into());
        }
        if let Some(mtu) = sys(name, "mtu").and_then(|m| m.parse::<u64>().ok()) {
            d.insert("mtu".into(), mtu.into());
        }
        if let Some(flags) = sys(name, "flags")
            .and_then(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).ok())
        {
            d.insert("promisc".into(), (flags & 0x100 != 0).into());
        }
        if let Some(speed) = sys(name, "speed").and_then(|s| s.parse::<i64>().ok()) {
            d.insert("speed".into(), speed.into());
        }
        let kind = if kinds.contains(&format!("{name}/bonding").as_str()) {
            Some("bonding")
        } else if kinds.contains(&format!("{name}/bridge").as_str()) {
            Some("bridge")
        } else {
            sys(name, "type").map(|t| match t {
                "1" => "ether",
                "32" => "infiniband",
                "512" => "ppp",
                "772" => "loopback",
                "65534" => "tunnel",
                _ => "unknown",
            })
        };
        if let Some(kind) = kind {
            d.insert("type".into(), kind.into());
        }
        if let Some(module) = links.get(&format!("/sys/class/net/{name}/device/driver/module")) {
            d.insert("module".into(), module.clone().into());
        }
        if let Some(pciid) = links.get(&format!("/sys/class/net/{name}/device")) {
            d.insert("pciid".into(), pciid.clone().into());
        }
        if kind == Some("bridge") {
            let prefix = format!("{name}/brif/");
            let ports: Vec<&str> = kinds
                .iter()
                .filter_map(|k| k.strip_prefix(&prefix))
                .collect();
            d.insert("interfaces".into(), json!(ports));
            if let Some(id) = sys(name, "bridge/bridge_id") {
                d.insert("id".into(), id.into());
            }
            if let Some(stp) = sys(name, "bridge/stp_state") {
                d.insert("stp".into(), (stp == "1").into());
            }
        }
        if kind == Some("bonding") {
            let first = |attr: &str| {
                sys(name, attr)
                    .and_then(|v| v.split_whitespace().next())
                    .unwrap_or_default()
            };
            let slaves: Vec<&str> = sys(name, "bonding/slaves")
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            d.insert("slaves".into(), json!(slaves));
            for key in ["mode", "miimon", "lacp_rate"] {
                d.insert(key.into(), first(&format!("bonding/{key}")).into());
            }
            if let Some(primary) = sys(name, "bonding/primary").filter(|p| !p.is_empty()) {
                d.insert("primary".into(), primary.into());
                if let Some(all) = sys(name, "bonding/all_slaves_active") {
                    d.insert("all_slaves_active".into(), (all == "1").into());
                }
            }
        }
        if let Some(perm) = sys(name, "bonding_slave/perm_hwaddr") {
            d.insert("perm_macaddress".into(), perm.into());
        }
        ifaces.insert(name.clone(), d);
    }
    for (iface, a) in &v4 {
        // An address labelled `eth0:1` makes an interface entry of its own, as in Ansible;
        // a secondary one is listed on the device too.
        let label = a.label.replace(':', "_");
        if label != *iface && !ifaces.contains_key(&label) {
            ifaces.insert(label.clone(), Map::new());
            names.push(label.clone());
        }
        let Some(d) = ifaces.get_mut(&label) else {
            continue;
        };
        if !a.secondary && !d.contains_key("ipv4") {
            d.insert("ipv4".into(), a.value());
        } else if let Value::Array(list) = d
            .entry("ipv4_secondaries")
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(a.value());
        }
        if a.secondary && label != *iface {
            if let Some(Value::Array(list)) = ifaces.get_mut(iface).map(|d| {
                d.entry("ipv4_secondaries")
                    .or_insert_with(|| Value::Array(Vec::new()))
            }) {
                list.push(a.value());
            }
        }
        let Some(d) = ifaces.get(iface) else {
            continue;
        };
        if default4.get("address").and_then(Value::as_str) == Some(a.address.as_str()) {
            if let Value::Object(v) = a.value() {
                for k in ["broadcast", "netmask", "network", "prefix"] {
                    if let Some(x) = v.get(k) {
                        default4.insert(k.into(), x.clone());
                    }
                }
            }
            for k in ["macaddress", "mtu", "type"] {
                if let Some(x) = d.get(k) {
                    default4.insert(k.into(), x.clone());
                }
            }
            default4.insert("alias".into(), a.label.clone().into());
        }
        if !a.address.starts_with("127.") {
            all4.push(Value::from(a.address.clone()));
        }
    }
    for (iface, a) in &v6 {
        let Some(d) = ifaces.get_mut(iface) else {
            continue;
        };
        if let Value::Array(list) = d.entry("ipv6").or_insert_with(|| Value::Array(Vec::new())) {
            list.push(json!({"address": a.address, "prefix": a.prefix, "scope": a.scope}));
        }
        if default6.get("address").and_then(Value::as_str) == Some(a.address.as_str()) {
            default6.insert("prefix".into(), a.prefix.clone().into());
            default6.insert("scope".into(), a.scope.clone().into());
            for k in ["macaddress", "mtu", "type"] {
                if let Some(x) = d.get(k) {
                    default6.insert(k.into(), x.clone());
                }
            }
        }
        if a.address != "::1" {
            all6.push(Value::from(a.address.clone()));
        }
    }
    if let Some(text) = raw.section("ipbatch") {
        // `ip route show table local` for IPv4; the IPv6 local table holds the addresses.
        let mut local4: Vec<&str> = Vec::new();
        for line in text.lines() {
            if let Some(addr) = line
                .strip_prefix("local ")
                .and_then(|r| r.split_whitespace().next())
            {
                if !local4.contains(&addr) {
                    local4.push(addr);
                }
            }
        }
        let mut local6: Vec<&str> = Vec::new();
        for (_, a) in &v6 {
            if !local6.contains(&a.address.as_str()) {
                local6.push(&a.address);
            }
        }
        put(
            f,
            "locally_reachable_ips",
            json!({"ipv4": local4, "ipv6": local6}),
        );
    }
    put(f, "interfaces", names.clone());
    for (name, d) in ifaces {
        put(f, &iface_fact(&name), Value::Object(d));
    }
    put(f, "default_ipv4", Value::Object(default4));
    put(f, "default_ipv6", Value::Object(default6));
    put(f, "all_ipv4_addresses", all4);
    put(f, "all_ipv6_addresses", all6);
}

// ---------------------------------------------------------------------------------------------
// virtual

/// Which virtualization was seen: the techs as sets, and the first finding as type and role.
#[derive(Default)]
struct Virt {
    guest: BTreeSet<String>,
    host: BTreeSet<String>,
    kind: Option<String>,
    role: Option<&'static str>,
    found: bool,
}

impl Virt {
    /// Takes `kind` (and `role`) unless something was found before.
    fn claim(&mut self, kind: &str, role: Option<&'static str>) {
        if !self.found {
            self.kind = Some(kind.to_string());
            if role.is_some() {
                self.role = role;
            }
            self.found = true;
        }
    }

    fn guest(&mut self, tech: &str, kind: &str) {
        self.guest.insert(tech.to_string());
        self.claim(kind, Some("guest"));
    }
}

/// Docker's cgroup paths: `/docker/<id>` or `/docker-<id>.scope`.
fn docker_cgroup(line: &str) -> bool {
    line.contains("/docker/")
        || line.split("/docker-").skip(1).any(|rest| {
            rest.split_once(".scope")
                .is_some_and(|(id, _)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
        })
}

/// Ansible's `LinuxVirtual`, step by step in its order: containers, Xen, DMI names, VServer,
/// cpuinfo, kernel modules, `/dev/kvm`. `systemd-detect-virt` answers only when all of those
/// found nothing (Ansible then says `NA`).
fn virtualization(raw: &Raw, f: &mut Facts) {
    let mut v = Virt::default();
    for line in raw.file("/proc/1/cgroup").unwrap_or_default() {
        if docker_cgroup(line) {
            v.guest("docker", "docker");
        }
        if line.contains("/lxc/") || line.contains("/machine.slice/machine-lxc") {
            v.guest("lxc", "lxc");
        }
        if line.contains("/system.slice/containerd.service") {
            v.guest("containerd", "containerd");
        }
    }
    if let Some(env) = raw.get("pid1_container") {
        if env.contains("container=lxc") {
            v.guest("lxc", "lxc");
        }
        if env.contains("container=podman") {
            v.guest("podman", "podman");
        }
        if env.len() > "container=".len() && env.starts_with("container=") {
            v.guest("container", "container");
        }
    }
    if raw.exists("/proc/vz") && !raw.exists("/proc/lve") {
        // Ansible sets the type here even over an earlier finding.
        v.kind = Some("openvz".into());
        if raw.exists("/proc/bc") {
            v.host.insert("openvz".into());
            v.claim("openvz", Some("host"));
        } else {
            v.guest("openvz", "openvz");
        }
        v.found = true;
    }
    let systemd_container = raw
        .first_line("/run/systemd/container")
        .filter(|c| !c.is_empty());
    if let Some(c) = systemd_container {
        v.guest(c, c);
    }
    if raw.exists("/.dockerenv") || raw.exists("/.dockerinit") {
        v.guest("docker", "docker");
    }
    let containers = ["docker", "lxc", "podman", "openvz", "containerd"];
    if containers.iter().any(|c| v.guest.contains(*c)) || systemd_container.is_some() {
        v.guest.insert("container".into());
    }
    if raw.exists("/proc/xen") {
        let dom0 = raw
            .file("/proc/xen/capabilities")
            .unwrap_or_default()
            .iter()
            .any(|l| l.contains("control_d"));
        if dom0 {
            v.host.insert("xen".into());
        }
        v.claim("xen", Some(if dom0 { "host" } else { "guest" }));
    }
    // DMI findings are guests; the role is assumed before and dropped if none matched.
    let assumed = !v.found;
    if assumed {
        v.role = Some("guest");
    }
    let dmi = |file: &str| {
        raw.first_line(&format!("{DMI_DIR}{file}"))
            .unwrap_or_default()
    };
    let (product, sys_vendor, bios_vendor) =
        (dmi("product_name"), dmi("sys_vendor"), dmi("bios_vendor"));
    let kvm_products = [
        "KVM",
        "KVM Server",
        "Bochs",
        "AHV",
        "CloudStack KVM Hypervisor",
    ];
    let dmi_tech = |v: &mut Virt, tech: &str| {
        v.guest.insert(tech.to_string());
        v.claim(tech, None);
    };
    if kvm_products.contains(&product) {
        dmi_tech(&mut v, "kvm");
    }
    if sys_vendor == "oVirt" {
        dmi_tech(&mut v, "oVirt");
    }
    if sys_vendor == "Red Hat" {
        if dmi("product_family") == "RHV" {
            dmi_tech(&mut v, "RHV");
        } else if product == "RHEV Hypervisor" {
            dmi_tech(&mut v, "RHEV");
        }
    }
    if product.starts_with("VMware") {
        dmi_tech(&mut v, "VMware");
    }
    if product == "OpenStack Compute" || product == "OpenStack Nova" {
        dmi_tech(&mut v, "openstack");
    }
    match bios_vendor {
        "Xen" => dmi_tech(&mut v, "xen"),
        "innotek GmbH" => dmi_tech(&mut v, "virtualbox"),
        "Amazon EC2" | "DigitalOcean" | "Hetzner" | "Linode" => dmi_tech(&mut v, "kvm"),
        _ => {}
    }
    match sys_vendor {
        "QEMU" | "Amazon EC2" | "DigitalOcean" | "Google" | "Scaleway" | "Nutanix" => {
            dmi_tech(&mut v, "kvm")
        }
        "KubeVirt" => dmi_tech(&mut v, "KubeVirt"),
        "Microsoft Corporation" => dmi_tech(&mut v, "VirtualPC"),
        "Parallels Software International Inc." => dmi_tech(&mut v, "parallels"),
        "OpenStack Foundation" => dmi_tech(&mut v, "openstack"),
        _ => {}
    }
    if assumed && !v.found {
        v.role = None;
    }
    let vxid = raw
        .file("/proc/self/status")
        .unwrap_or_default()
        .iter()
        .find_map(|l| l.strip_prefix("VxID:"))
        .map(str::trim);
    if let Some(id) = vxid.filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())) {
        if id == "0" {
            v.host.insert("linux_vserver".into());
            v.claim("linux_vserver", Some("host"));
        } else {
            v.guest("linux_vserver", "linux_vserver");
        }
    }
    // cpuinfo names a type without counting as a finding, as in Ansible.
    for line in raw.file("/proc/cpuinfo").unwrap_or_default() {
        let (key, val) = line.split_once(':').unwrap_or((line, ""));
        let tech = match key.trim() {
            "model name" if val.contains("QEMU Virtual CPU") => Some("kvm"),
            "model name" if val.contains("UML") => Some("uml"),
            "vendor_id" if val.contains("User Mode Linux") => Some("uml"),
            "vendor_id" if val.contains("PowerVM Lx86") => Some("powervm_lx86"),
            "vendor_id" if val.contains("IBM/S390") => Some("PR/SM"),
            _ => None,
        };
        if let Some(tech) = tech {
            v.guest.insert(tech.into());
            if !v.found {
                v.kind = Some(tech.into());
            }
        }
    }
    let modules: Vec<&str> = raw
        .file("/proc/modules")
        .unwrap_or_default()
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if modules.contains(&"kvm") {
        v.host.insert("kvm".into());
        v.claim("kvm", Some("host"));
    }
    if modules.contains(&"vboxdrv") {
        v.host.insert("virtualbox".into());
        v.claim("virtualbox", Some("host"));
    }
    if modules.contains(&"virtio") {
        // Ansible counts a virtio module as a KVM host tech but a guest role.
        v.host.insert("kvm".into());
        v.claim("kvm", Some("guest"));
    }
    if raw.exists("/dev/kvm") {
        v.host.insert("kvm".into());
        v.claim("kvm", Some("host"));
    }
    if let Some(detected) = raw.get("detect_virt").filter(|d| *d != "none") {
        if !v.found {
            let kind = match detected {
                "qemu" | "kvm" | "amazon" | "google" => "kvm",
                "vmware" => "VMware",
                "oracle" => "virtualbox",
                "microsoft" => "VirtualPC",
                "parallels" => "parallels",
                "lxc-libvirt" => "lxc",
                other => other,
            };
            v.guest(kind, kind);
        }
    }
    let (kind, role) = if v.found {
        (
            v.kind.unwrap_or_else(|| "NA".into()),
            v.role.unwrap_or("NA"),
        )
    } else {
        ("NA".to_string(), "NA")
    };
    put(f, "virtualization_type", kind);
    put(f, "virtualization_role", role);
    put(
        f,
        "virtualization_tech_guest",
        v.guest.into_iter().collect::<Vec<_>>(),
    );
    put(
        f,
        "virtualization_tech_host",
        v.host.into_iter().collect::<Vec<_>>(),
    );
}

// ---------------------------------------------------------------------------------------------
// filter and the module

/// Python's `fnmatch.fnmatchcase`: `*`, `?`, `[seq]`, `[!seq]`.
fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class(&p[pi..], n[ni]) {
                Some((true, len)) => Some(pi + len),
                Some((false, _)) => None,
                None => (n[ni] == '[').then_some(pi + 1),
            },
            Some(c) => (*c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the bracket expression at the start of `p`: whether it matched and the
/// expression's length, or `None` when the bracket is not closed (then it is a literal `[`).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!'));
    if negate {
        i += 1;
    }
    let start = i;
    let mut matched = false;
    while i < p.len() {
        if p[i] == ']' && i > start {
            return Some((matched != negate, i + 1));
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

/// What the query found: the facts under their short names, and the host's facts so far.
#[derive(Debug, Default)]
pub struct SetupObserved {
    facts: Facts,
    previous: Map<String, Value>,
}

pub struct SetupModule;

#[async_trait]
impl Module for SetupModule {
    type Params = SetupParams;
    type Observed = SetupObserved;
    type Action = Infallible;

    const NAME: &'static str = "setup";

    async fn query(
        &self,
        params: &SetupParams,
        ctx: &Context<'_>,
    ) -> Result<SetupObserved, ModuleError> {
        let sel = select(&params.gather_subset).map_err(ModuleError::failed)?;
        let out = ctx.host.sh(&script(&sel, params, &nonce())).await?;
        let text = out.stdout_lossy();
        if text.trim().is_empty() && !out.success() {
            return Err(ModuleError::failed(format!(
                "fact gathering script failed (rc {}): {}",
                out.exit_code,
                out.stderr_lossy().trim()
            )));
        }
        // Facts gathered earlier stay in `ansible_facts` unless gathered again, as Ansible
        // merges each setup's facts into the host's.
        let previous = match ctx.controller.eval_expr("ansible_facts") {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Ok(SetupObserved {
            facts: build_facts(&Raw::parse(&text), &sel),
            previous,
        })
    }

    fn plan(
        &self,
        params: &SetupParams,
        observed: SetupObserved,
        _ctx: &Context<'_>,
    ) -> Result<Planned<Infallible>, ModuleError> {
        Ok(Planned::Done(outcome(params, observed)))
    }

    async fn apply(
        &self,
        _params: &SetupParams,
        action: Infallible,
        _ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        match action {}
    }
}

tend_module_api::register_module!(SetupModule);

/// The module result: `ansible_facts` with the prefixed names (filtered) as the registered
/// value, and as host facts the prefixed variables plus `ansible_facts` under short names.
fn outcome(params: &SetupParams, observed: SetupObserved) -> Outcome {
    let keep = |name: &str| {
        params.filter.is_empty()
            || params
                .filter
                .iter()
                .any(|p| p.is_empty() || fnmatch(p, name))
    };
    let mut returned: Facts = observed
        .facts
        .into_iter()
        .map(|(k, v)| (format!("ansible_{k}"), v))
        .filter(|(k, _)| keep(k))
        .collect();
    for (k, v) in [
        ("gather_subset", json!(params.gather_subset)),
        ("module_setup", json!(true)),
    ] {
        if keep(k) {
            returned.insert(k.to_string(), v);
        }
    }
    let mut short = observed.previous;
    let mut facts = Map::new();
    for (k, v) in &returned {
        let name = k.strip_prefix("ansible_").unwrap_or(k);
        short.insert(name.to_string(), v.clone());
        facts.insert(k.clone(), v.clone());
    }
    let mut sorted: Vec<(String, Value)> = short.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    facts.insert(
        "ansible_facts".into(),
        Value::Object(sorted.into_iter().collect()),
    );
    let mut outcome = Outcome::ok().with_value(
        "ansible_facts",
        Value::Object(returned.into_iter().collect()),
    );
    outcome.facts = facts;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};

    /// `/bin/sh` (dash) running this module's script on a Debian 12 container VM, trimmed: fewer
    /// variables, mounts and meminfo lines; `TEND_ML` and `TEND_Q` were added to the
    /// environment to see dash's quoting.
    const CAPTURED: &str = r##"
@@tend-0123abcd@@ exportp
export HOME='/root'
export LC_ALL='C'
export PATH='/root/.cargo/bin:/root/.cargo/bin:/root/.pyenv/plugins/pyenv-virtualenv/shims:/root/.pyenv/shims:/root/.pyenv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
export PWD='/tmp'
export SHELL='/bin/bash'
export TEND_ML='line one
line two'
export TEND_Q='it'"'"'s "quoted" $x'
@@tend-0123abcd@@ kv
fqdn_hosts=127.0.0.1       localhost
long_bit=64
date=2026-11-22 01:39:56 1795311596 164639309 UTC +0000 Sunday 0 46
user=root
pw=root:x:0:0:root:/root:/bin/bash
has_systemctl=1
has_lsb_release=1
debian_chroot=
root_inode=2 /
iface=eth0
iface=ifb0
iface=ifb1
iface=lo
pid1_container=
exists=/usr/bin/apt-get
exists=/etc/init.d/
exists=/.dockerenv
exists=/dev/kvm

@@tend-0123abcd@@ files
/proc/sys/kernel/hostname:vm
/proc/sys/kernel/osrelease:6.18.44-fc-v445
/proc/sys/kernel/version:#1 SMP PREEMPT_DYNAMIC @0
/proc/sys/kernel/ostype:Linux
/proc/sys/kernel/arch:x86_64
/etc/machine-id:3d1219c7c4c5404aaa1f6d2a48adfda4
/etc/os-release:PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
/etc/os-release:NAME="Debian GNU/Linux"
/etc/os-release:VERSION_ID="12"
/etc/os-release:VERSION="12 (bookworm)"
/etc/os-release:VERSION_CODENAME=bookworm
/etc/os-release:ID=debian
/etc/debian_version:12.11
/proc/1/comm:process_api
/proc/cmdline:console=ttyS0 quiet reboot=k panic=1 rdinit=/process_api -- --addr 0.0.0.0:2024
/etc/resolv.conf:nameserver 10.255.255.53
/etc/ssh/ssh_host_ed25519_key.pub:ssh-ed25519 AAAAC3NzaC1lZD root@vm
/proc/mounts:proc /proc proc rw,relatime 0 0
/proc/mounts:sysfs /sys sysfs rw,relatime 0 0
/proc/mounts:devtmpfs /dev devtmpfs rw,relatime,size=12331664k,nr_inodes=3082916,mode=755 0 0
/proc/mounts:tmpfs /dev/shm tmpfs rw,relatime,size=24682416k 0 0
/proc/mounts:devpts /dev/pts devpts rw,relatime,mode=600,ptmxmode=000 0 0
/proc/mounts:/dev/vda / ext4 rw,relatime,discard,resv_strict,resuid=65534,resgid=65534 0 0
/proc/mounts:model_tools_unavailable /mnt/sandboxing/model_tools_env/v1/python tmpfs ro,nosuid,nodev,relatime,size=4k,mode=755 0 0
/proc/loadavg:5.04 4.15 4.77 6/140 7415
/proc/meminfo:MemTotal:       24682416 kB
/proc/meminfo:MemFree:         1286112 kB
/proc/meminfo:Buffers:          146776 kB
/proc/meminfo:Cached:         21778028 kB
/proc/meminfo:SwapCached:            0 kB
/proc/meminfo:SwapTotal:             0 kB
/proc/meminfo:SwapFree:              0 kB
/proc/uptime:5364.90 1391.11
/sys/class/net/eth0/address:02:fc:00:00:00:01
/sys/class/net/ifb0/address:76:0d:cf:2c:3a:14
/sys/class/net/ifb1/address:7a:92:28:96:0f:7d
/sys/class/net/lo/address:00:00:00:00:00:00
/sys/class/net/eth0/mtu:1400
/sys/class/net/ifb0/mtu:1500
/sys/class/net/ifb1/mtu:1500
/sys/class/net/lo/mtu:65536
/sys/class/net/eth0/operstate:up
/sys/class/net/ifb0/operstate:down
/sys/class/net/ifb1/operstate:down
/sys/class/net/lo/operstate:unknown
/sys/class/net/eth0/flags:0x1003
/sys/class/net/ifb0/flags:0x82
/sys/class/net/ifb1/flags:0x82
/sys/class/net/lo/flags:0x9
/sys/class/net/eth0/type:1
/sys/class/net/ifb0/type:1
/sys/class/net/ifb1/type:1
/sys/class/net/lo/type:772
/sys/class/net/eth0/speed:-1
/proc/1/cgroup:0::/
/proc/cpuinfo:flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat
/proc/self/status:Uid:	0	0	0	0
/proc/self/status:Gid:	0	0	0	0
/proc/self/status:Cpus_allowed_list:	0-1
/proc/cpuinfo:processor	: 0
/proc/cpuinfo:vendor_id	: GenuineIntel
/proc/cpuinfo:model name	: Intel(R) Xeon(R) Processor
/proc/cpuinfo:physical id	: 0
/proc/cpuinfo:siblings	: 2
/proc/cpuinfo:core id		: 0
/proc/cpuinfo:cpu cores	: 2
/proc/cpuinfo:processor	: 1
/proc/cpuinfo:vendor_id	: GenuineIntel
/proc/cpuinfo:model name	: Intel(R) Xeon(R) Processor
/proc/cpuinfo:physical id	: 0
/proc/cpuinfo:siblings	: 2
/proc/cpuinfo:core id		: 1
/proc/cpuinfo:cpu cores	: 2

@@tend-0123abcd@@ links
lrwxrwxrwx 1 root root 0 Nov 22 01:17 /sys/class/net/eth0/device -> ../../../virtio2

@@tend-0123abcd@@ ipbatch
1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \       valid_lft forever preferred_lft forever
4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\       valid_lft forever preferred_lft forever
4: eth0    inet6 fd00::2/64 scope global nodad \       valid_lft forever preferred_lft forever
4: eth0    inet6 fe80::fc:ff:fe00:1/64 scope link \       valid_lft forever preferred_lft forever
8.8.8.8 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0 \    cache 
2404:6800:400a:800::1012 from :: via fd00::1 dev eth0 src fd00::2 metric 1024 pref medium
local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1 
local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 
broadcast 127.255.255.255 dev lo proto kernel scope link src 127.0.0.1 
local 192.0.2.2 dev eth0 proto kernel scope host src 192.0.2.2 
broadcast 192.0.2.255 dev eth0 proto kernel scope link src 192.0.2.2 

@@tend-0123abcd@@ statfs
4096 4096 66053021 15833514 58065063 16777216 16285491 /

@@tend-0123abcd@@ caps
Current: =ep cap_sys_resource-ep
Bounding set =cap_chown,cap_dac_override,cap_dac_read_search,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,cap_setpcap,cap_linux_immutable,cap_net_bind_service,cap_net_broadcast,cap_net_admin,cap_net_raw,cap_ipc_lock,cap_ipc_owner,cap_sys_module,cap_sys_rawio,cap_sys_chroot,cap_sys_ptrace,cap_sys_pacct,cap_sys_admin,cap_sys_boot,cap_sys_nice,cap_sys_time,cap_sys_tty_config,cap_mknod,cap_lease,cap_audit_write,cap_audit_control,cap_setfcap,cap_mac_override,cap_mac_admin,cap_syslog,cap_wake_alarm,cap_block_suspend,cap_audit_read,cap_perfmon,cap_bpf,cap_checkpoint_restore
Ambient set =
Current IAB: !cap_sys_resource
Securebits: 00/0x0/1'b0 (no-new-privs=0)
 secure-noroot: no (unlocked)
 secure-no-suid-fixup: no (unlocked)
 secure-keep-caps: no (unlocked)
 secure-no-ambient-raise: no (unlocked)
uid=0(root) euid=0(root)
gid=0(root)
groups=
Guessed mode: HYBRID (4)

@@tend-0123abcd@@ local exe.fact
{"run": "yes"}

@@tend-0123abcd@@ local ini.fact
[sec]
Key = v1
other: x

@@tend-0123abcd@@ local js.fact
{"a": 1, "b": [true]}
@@tend-0123abcd@@ end
"##;

    fn all() -> BTreeSet<&'static str> {
        select(&["all".to_string()]).expect("all")
    }

    fn facts_of(text: &str) -> Facts {
        build_facts(&Raw::parse(text), &all())
    }

    #[test]
    fn captured_output_gives_ansible_shaped_facts() {
        let f = facts_of(CAPTURED);
        let v = |k: &str| f.get(k).cloned().unwrap_or(Value::Null);
        // platform
        assert_eq!(v("hostname"), "vm");
        assert_eq!(v("nodename"), "vm");
        assert_eq!(v("fqdn"), "localhost");
        assert_eq!(v("domain"), "");
        assert_eq!(v("system"), "Linux");
        assert_eq!(v("kernel"), "6.18.44-fc-v445");
        assert_eq!(v("kernel_version"), "#1 SMP PREEMPT_DYNAMIC @0");
        assert_eq!(v("machine"), "x86_64");
        assert_eq!(v("architecture"), "x86_64");
        assert_eq!(v("userspace_bits"), "64");
        assert_eq!(v("userspace_architecture"), "x86_64");
        assert_eq!(v("machine_id"), "3d1219c7c4c5404aaa1f6d2a48adfda4");
        // distribution, package and service managers
        assert_eq!(v("distribution"), "Debian");
        assert_eq!(v("distribution_version"), "12.11");
        assert_eq!(v("distribution_major_version"), "12");
        assert_eq!(v("distribution_minor_version"), "11");
        assert_eq!(v("distribution_release"), "bookworm");
        assert_eq!(v("distribution_file_variety"), "Debian");
        assert_eq!(v("os_family"), "Debian");
        assert_eq!(v("pkg_mgr"), "apt");
        assert_eq!(v("service_mgr"), "process_api");
        assert_eq!(
            v("lsb"),
            json!({"id": "Debian", "description": "Debian GNU/Linux 12 (bookworm)",
                   "release": "12", "major_release": "12", "codename": "bookworm"})
        );
        // date_time: all strings, UTC forms from the epoch
        let dt = v("date_time");
        assert_eq!(dt["date"], "2026-11-22");
        assert_eq!(dt["time"], "01:39:56");
        assert_eq!(dt["epoch"], "1795311596");
        assert_eq!(dt["iso8601"], "2026-11-22T01:39:56Z");
        assert_eq!(dt["iso8601_micro"], "2026-11-22T01:39:56.164639Z");
        assert_eq!(dt["iso8601_basic_short"], "20261122T013956");
        assert_eq!(dt["weekday"], "Sunday");
        assert_eq!(dt["weekday_number"], "0");
        assert_eq!(dt["weeknumber"], "46");
        assert_eq!(dt["tz"], "UTC");
        assert_eq!(dt["tz_offset"], "+0000");
        assert_eq!(
            (dt["year"].clone(), dt["month"].clone()),
            (json!("2026"), json!("11"))
        );
        // env, with dash's quoting of newlines and quotes
        let env = v("env");
        assert_eq!(env["TEND_ML"], "line one\nline two");
        assert_eq!(env["TEND_Q"], "it's \"quoted\" $x");
        assert_eq!(env["HOME"], "/root");
        // user
        assert_eq!(v("user_id"), "root");
        assert_eq!(v("user_uid"), 0);
        assert_eq!(v("user_gid"), 0);
        assert_eq!(v("user_dir"), "/root");
        assert_eq!(v("user_shell"), "/bin/bash");
        assert_eq!(v("user_gecos"), "root");
        assert_eq!(v("effective_user_id"), 0);
        // security and misc
        assert_eq!(v("selinux"), json!({"status": "disabled"}));
        assert_eq!(v("apparmor"), json!({"status": "disabled"}));
        assert_eq!(v("fips"), false);
        assert_eq!(v("is_chroot"), false);
        assert_eq!(v("cmdline")["console"], "ttyS0");
        assert_eq!(v("cmdline")["quiet"], true);
        assert_eq!(v("dns")["nameservers"], json!(["10.255.255.53"]));
        assert_eq!(v("ssh_host_key_ed25519_public"), "AAAAC3NzaC1lZD");
        assert_eq!(v("ssh_host_key_ed25519_public_keytype"), "ssh-ed25519");
        assert_eq!(v("loadavg")["1m"], 5.04);
        assert_eq!(
            v("local"),
            json!({"exe": {"run": "yes"}, "ini": {"sec": {"key": "v1", "other": "x"}},
                   "js": {"a": 1, "b": [true]}})
        );
        // hardware
        assert_eq!(
            v("processor"),
            json!([
                "0",
                "GenuineIntel",
                "Intel(R) Xeon(R) Processor",
                "1",
                "GenuineIntel",
                "Intel(R) Xeon(R) Processor"
            ])
        );
        assert_eq!(v("processor_count"), 1);
        assert_eq!(v("processor_cores"), 2);
        assert_eq!(v("processor_threads_per_core"), 1);
        assert_eq!(v("processor_vcpus"), 2);
        assert_eq!(v("processor_nproc"), 2);
        assert_eq!(v("memtotal_mb"), 24103);
        assert_eq!(v("memfree_mb"), 1255);
        assert_eq!(v("swaptotal_mb"), 0);
        assert_eq!(
            v("memory_mb")["real"],
            json!({"free": 1255, "total": 24103, "used": 22848})
        );
        assert_eq!(
            v("memory_mb")["nocache"],
            json!({"free": 22665, "used": 1438})
        );
        assert_eq!(v("uptime_seconds"), 5364);
        assert_eq!(v("product_name"), "NA");
        assert_eq!(v("form_factor"), "NA");
        let mounts = v("mounts");
        assert_eq!(mounts.as_array().map(Vec::len), Some(1), "{mounts}");
        let root = &mounts[0];
        assert_eq!(root["mount"], "/");
        assert_eq!(root["device"], "/dev/vda");
        assert_eq!(root["fstype"], "ext4");
        assert_eq!(root["size_total"], 4096_u64 * 66_053_021);
        assert_eq!(root["size_available"], 4096_u64 * 15_833_514);
        assert_eq!(root["block_size"], 4096);
        assert_eq!(root["inode_total"], 16_777_216);
        assert_eq!(root["inode_used"], 16_777_216 - 16_285_491);
        assert_eq!(root["uuid"], "N/A");
        // network
        assert_eq!(v("interfaces"), json!(["eth0", "ifb0", "ifb1", "lo"]));
        let eth0 = v("eth0");
        assert_eq!(eth0["active"], true);
        assert_eq!(eth0["mtu"], 1400);
        assert_eq!(eth0["macaddress"], "02:fc:00:00:00:01");
        assert_eq!(eth0["promisc"], false);
        assert_eq!(eth0["type"], "ether");
        assert_eq!(eth0["pciid"], "virtio2");
        assert_eq!(
            eth0["ipv4"],
            json!({"address": "192.0.2.2", "broadcast": "192.0.2.255",
                   "netmask": "255.255.255.0", "network": "192.0.2.0", "prefix": "24"})
        );
        assert_eq!(
            eth0["ipv6"],
            json!([{"address": "fd00::2", "prefix": "64", "scope": "global"},
                   {"address": "fe80::fc:ff:fe00:1", "prefix": "64", "scope": "link"}])
        );
        let lo = v("lo");
        assert_eq!(lo["type"], "loopback");
        assert!(lo.get("macaddress").is_none());
        assert_eq!(lo["ipv4"]["broadcast"], "");
        assert_eq!(lo["ipv6"][0]["scope"], "host");
        assert_eq!(v("ifb0")["active"], false);
        assert_eq!(
            v("default_ipv4"),
            json!({"address": "192.0.2.2", "interface": "eth0", "gateway": "192.0.2.1",
                   "broadcast": "192.0.2.255", "netmask": "255.255.255.0",
                   "network": "192.0.2.0", "prefix": "24", "macaddress": "02:fc:00:00:00:01",
                   "mtu": 1400, "type": "ether", "alias": "eth0"})
        );
        let d6 = v("default_ipv6");
        assert_eq!(
            (&d6["address"], &d6["gateway"], &d6["prefix"], &d6["scope"]),
            (
                &json!("fd00::2"),
                &json!("fd00::1"),
                &json!("64"),
                &json!("global")
            )
        );
        assert_eq!(v("all_ipv4_addresses"), json!(["192.0.2.2"]));
        assert_eq!(
            v("all_ipv6_addresses"),
            json!(["fd00::2", "fe80::fc:ff:fe00:1"])
        );
        // virtual
        assert_eq!(v("virtualization_type"), "docker");
        assert_eq!(v("virtualization_role"), "guest");
        assert_eq!(
            v("virtualization_tech_guest"),
            json!(["container", "docker"])
        );
        assert_eq!(v("virtualization_tech_host"), json!(["kvm"]));
        assert_eq!(
            v("locally_reachable_ips"),
            json!({"ipv4": ["127.0.0.0/8", "127.0.0.1", "192.0.2.2"],
                   "ipv6": ["::1", "fd00::2", "fe80::fc:ff:fe00:1"]})
        );
        assert_eq!(v("flags")[0], "fpu");
        assert_eq!(v("system_capabilities"), json!(["ep cap_sys_resource-ep"]));
        assert_eq!(v("system_capabilities_enforced"), "True");
        assert_eq!(v("lvm"), "N/A");
        assert_eq!(
            (v("fibre_channel_wwn"), v("iscsi_iqn"), v("hostnqn")),
            (json!([]), json!(""), json!(""))
        );
        assert!(f.keys().all(|k| !k.starts_with("python")));
    }

    #[test]
    fn the_old_key_value_output_still_reads() {
        // What executor tests script for the facts command.
        let text = "hostname=web1.example.com\nos_ID=ubuntu\nos_ID_LIKE=debian\nos_VERSION_ID=\"22.04\"\nos_NAME=\"Ubuntu\"\n";
        let f = facts_of(text);
        assert_eq!(f["hostname"], "web1");
        assert_eq!(f["nodename"], "web1.example.com");
        assert_eq!(f["fqdn"], "web1.example.com");
        assert_eq!(f["domain"], "example.com");
        assert_eq!(f["distribution"], "Ubuntu");
        assert_eq!(f["distribution_version"], "22.04");
        assert_eq!(f["distribution_major_version"], "22");
        assert_eq!(f["os_family"], "Debian");
        let f = facts_of("hostname=db2\nos_ID=alpine\nos_VERSION_ID=3.19.1\n");
        assert_eq!(
            (&f["distribution"], &f["os_family"]),
            (&json!("Alpine"), &json!("Alpine"))
        );
    }

    fn with_files(files: &[(&str, &str)], kv: &str) -> String {
        let mut text = format!("\n@@tend-1@@ kv\n{kv}\n@@tend-1@@ files\n");
        for (path, content) in files {
            for line in content.lines() {
                text.push_str(&format!("{path}:{line}\n"));
            }
        }
        text
    }

    #[test]
    fn distributions_and_their_families() {
        let centos = with_files(
            &[
                (
                    "/etc/os-release",
                    "ID=\"centos\"\nVERSION_ID=\"7\"\nVERSION=\"7 (Core)\"",
                ),
                (
                    "/etc/centos-release",
                    "CentOS Linux release 7.9.2009 (Core)",
                ),
                (
                    "/etc/redhat-release",
                    "CentOS Linux release 7.9.2009 (Core)",
                ),
            ],
            "exists=/usr/bin/yum",
        );
        let f = facts_of(&centos);
        assert_eq!(f["distribution"], "CentOS");
        assert_eq!(f["distribution_version"], "7.9");
        assert_eq!(f["distribution_release"], "Core");
        assert_eq!(f["os_family"], "RedHat");
        assert_eq!(f["distribution_file_path"], "/etc/redhat-release");
        assert_eq!(f["pkg_mgr"], "yum");
        let rocky = with_files(
            &[(
                "/etc/os-release",
                "ID=\"rocky\"\nVERSION_ID=\"9.3\"\nVERSION=\"9.3 (Blue Onyx)\"",
            )],
            "exists=/usr/bin/yum\nexists=/usr/bin/dnf",
        );
        let f = facts_of(&rocky);
        assert_eq!(
            (&f["distribution"], &f["pkg_mgr"]),
            (&json!("Rocky"), &json!("dnf"))
        );
        assert_eq!(f["distribution_release"], "Blue Onyx");
        let unknown = with_files(&[("/etc/os-release", "ID=zorin\nVERSION_ID=17")], "");
        let f = facts_of(&unknown);
        assert_eq!(
            (&f["distribution"], &f["os_family"]),
            (&json!("Zorin"), &json!("Zorin"))
        );
        assert_eq!(f["distribution_release"], "NA");
        assert_eq!(f["pkg_mgr"], "unknown");
        let sid = with_files(
            &[
                (
                    "/etc/os-release",
                    "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"",
                ),
                ("/etc/debian_version", "trixie/sid"),
            ],
            "",
        );
        assert_eq!(facts_of(&sid)["distribution_version"], "n/a");
    }

    #[test]
    fn without_ip_addresses_come_from_proc_net() {
        let text = with_files(
            &[
                ("/proc/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0"),
                ("/proc/net/fib_trie", "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 127.0.0.0/8 2 0 2\n        |-- 127.0.0.1\n           /32 host LOCAL\n     |-- 192.0.2.2\n        /32 host LOCAL\nLocal:\n     |-- 192.0.2.2\n        /32 host LOCAL"),
                ("/proc/net/if_inet6", "00000000000000000000000000000001 01 80 10 80       lo\nfd000000000000000000000000000002 04 40 00 80     eth0"),
                ("/proc/net/ipv6_route", "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0"),
                ("/sys/class/net/eth0/mtu", "1500"),
                ("/sys/class/net/eth0/address", "52:54:00:12:34:56"),
                ("/sys/class/net/eth0/type", "1"),
            ],
            "iface=eth0\niface=lo",
        );
        let f = facts_of(&text);
        assert_eq!(
            f["default_ipv4"],
            json!({"gateway": "192.0.2.1", "interface": "eth0", "address": "192.0.2.2",
                   "broadcast": "192.0.2.255", "netmask": "255.255.255.0", "network": "192.0.2.0",
                   "prefix": "24", "macaddress": "52:54:00:12:34:56", "mtu": 1500,
                   "type": "ether", "alias": "eth0"})
        );
        assert_eq!(f["lo"]["ipv4"]["address"], "127.0.0.1");
        assert_eq!(f["all_ipv4_addresses"], json!(["192.0.2.2"]));
        assert_eq!(f["all_ipv6_addresses"], json!(["fd00::2"]));
        assert_eq!(f["default_ipv6"]["gateway"], "fd00::1");
        assert_eq!(f["default_ipv6"]["address"], "fd00::2");
    }

    #[test]
    fn ip_output_with_secondaries_aliases_and_peers() {
        let (v4, v6) = parse_ip_addr(
            "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global dynamic eth0\\       valid_lft 86000sec preferred_lft 86000sec\n\
             2: eth0    inet 10.0.0.6/24 brd 10.0.0.255 scope global secondary eth0:1\\       valid_lft forever preferred_lft forever\n\
             5: tun0    inet 10.8.0.1 peer 10.8.0.2/32 scope global tun0\\       valid_lft forever preferred_lft forever\n\
             6: veth1@if5    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever\n",
        );
        assert_eq!(v4.len(), 3);
        assert!(!v4[0].1.secondary);
        assert!(v4[1].1.secondary);
        assert_eq!(v4[1].1.label, "eth0:1");
        assert_eq!((v4[2].1.address.as_str(), v4[2].1.prefix), ("10.8.0.1", 32));
        assert_eq!(v6[0].0, "veth1");
        assert_eq!(iface_fact("br-1a2b:0"), "br_1a2b_0");
        assert_eq!(iface_fact("eth0.100"), "eth0.100");
    }

    #[test]
    fn bridges_bonds_and_labelled_addresses() {
        let mut text = with_files(
            &[
                ("/sys/class/net/br-x/type", "1"),
                ("/sys/class/net/br-x/bridge/bridge_id", "8000.0242ac110001"),
                ("/sys/class/net/br-x/bridge/stp_state", "0"),
                ("/sys/class/net/bond0/type", "1"),
                ("/sys/class/net/bond0/bonding/slaves", "eth1 eth2"),
                ("/sys/class/net/bond0/bonding/mode", "active-backup 1"),
                ("/sys/class/net/bond0/bonding/miimon", "100"),
                ("/sys/class/net/bond0/bonding/lacp_rate", "slow 0"),
                ("/sys/class/net/bond0/bonding/primary", ""),
                ("/sys/class/net/eth1/bonding_slave/perm_hwaddr", "52:54:00:00:00:01"),
            ],
            "iface=bond0\niface=br-x\niface=eth1\nifkind=br-x/bridge\nifkind=br-x/brif/veth1\nifkind=bond0/bonding",
        );
        text.push_str(
            "@@tend-1@@ ipaddr\n\
             3: bond0    inet 10.0.0.5/24 brd 10.0.0.255 scope global bond0\\       valid_lft forever preferred_lft forever\n\
             3: bond0    inet 10.0.0.6/24 brd 10.0.0.255 scope global secondary bond0:1\\       valid_lft forever preferred_lft forever\n",
        );
        let f = facts_of(&text);
        assert_eq!(f["interfaces"], json!(["bond0", "br-x", "eth1", "bond0_1"]));
        let br = &f["br_x"];
        assert_eq!(br["device"], "br-x");
        assert_eq!(br["type"], "bridge");
        assert_eq!(br["interfaces"], json!(["veth1"]));
        assert_eq!(br["id"], "8000.0242ac110001");
        assert_eq!(br["stp"], false);
        let bond = &f["bond0"];
        assert_eq!(bond["type"], "bonding");
        assert_eq!(bond["slaves"], json!(["eth1", "eth2"]));
        assert_eq!(
            (&bond["mode"], &bond["miimon"], &bond["lacp_rate"]),
            (&json!("active-backup"), &json!("100"), &json!("slow"))
        );
        assert!(bond.get("primary").is_none());
        assert_eq!(bond["ipv4"]["address"], "10.0.0.5");
        assert_eq!(bond["ipv4_secondaries"][0]["address"], "10.0.0.6");
        assert_eq!(f["bond0_1"]["ipv4_secondaries"][0]["address"], "10.0.0.6");
        assert_eq!(f["eth1"]["perm_macaddress"], "52:54:00:00:00:01");
        assert_eq!(f["all_ipv4_addresses"], json!(["10.0.0.5", "10.0.0.6"]));
        assert!(!f.contains_key("locally_reachable_ips"));
    }

    #[test]
    fn fqdn_caps_and_lvm() {
        let f = facts_of("hostname=web1\nfqdn_hosts=10.0.0.5 web1 web1.example.com\n");
        assert_eq!(
            (&f["fqdn"], &f["domain"]),
            (&json!("web1.example.com"), &json!("example.com"))
        );
        let f = facts_of("hostname=web1\nfqdn_hosts=\n");
        assert_eq!(f["fqdn"], "web1");
        let no_caps = facts_of("");
        assert_eq!(no_caps["system_capabilities"], "N/A");
        let f = facts_of("\n@@tend-1@@ caps\nCurrent: =ep\nBounding set =cap_chown\n");
        assert_eq!(
            (
                &f["system_capabilities_enforced"],
                &f["system_capabilities"]
            ),
            (&json!("False"), &json!([]))
        );
        let raw = Raw::parse(
            "\n@@tend-1@@ vgs\n  vg0,1,2,0,wz--n-,99.50,10.00\n@@tend-1@@ lvs\n  root,vg0,-wi-ao----,20.00,,,,,,,\n\
             @@tend-1@@ pvs\n  /dev/sda2,vg0,lvm2,a--,99.50,10.00\n",
        );
        assert_eq!(
            lvm(&raw),
            json!({"lvs": {"root": {"size_g": "20.00", "vg": "vg0"}},
                   "vgs": {"vg0": {"size_g": "99.50", "free_g": "10.00", "num_lvs": "2", "num_pvs": "1"}},
                   "pvs": {"/dev/sda2": {"size_g": "99.50", "free_g": "10.00", "vg": "vg0"}}})
        );
        assert_eq!(lvm(&Raw::parse("")), "N/A");
    }

    #[test]
    fn export_p_as_each_shell_prints_it() {
        // bash in POSIX mode, bash, BusyBox ash, and a value-less export.
        let text = "export A=\"x \\\"y\\\" \\$z\\\\\"\ndeclare -x B=\"two\nlines\"\nexport C='it'\\''s'\nexport D\nexport E=$'tab\\there\\n'\nexport F=plain\n";
        let env: BTreeMap<String, String> = parse_export_p(text).into_iter().collect();
        assert_eq!(env["A"], "x \"y\" $z\\");
        assert_eq!(env["B"], "two\nlines");
        assert_eq!(env["C"], "it's");
        assert!(!env.contains_key("D"));
        assert_eq!(env["E"], "tab\there\n");
        assert_eq!(env["F"], "plain");
    }

    #[test]
    fn dates_without_nanoseconds_and_before_1970() {
        let dt =
            date_time("2024-02-29 23:59:59 1709247599 %N CET +0100 Thursday 4 08").expect("date");
        assert_eq!(dt["iso8601"], "2024-02-29T22:59:59Z");
        assert_eq!(dt["iso8601_micro"], "2024-02-29T22:59:59.000000Z");
        assert_eq!(tend_module_api::calendar::civil_from_days(-1), (1969, 12, 31));
        assert_eq!(tend_module_api::calendar::civil_from_days(0), (1970, 1, 1));
        assert!(date_time("garbage").is_none());
    }

    #[test]
    fn mounts_unescape_names_and_fall_back_to_df() {
        let text = "\n@@tend-1@@ files\n/proc/mounts:/dev/sdb1 /mnt/my\\040disk ext4 rw 0 2\n/proc/mounts:srv:/export /nfs nfs4 rw 0 0\n/proc/mounts:/dev/sdc /bind none rw,bind 0 0\n/proc/mounts:tmpfs /tmp tmpfs rw 0 0\n\
             @@tend-1@@ df\nFilesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb1 1000 100 900 10% /mnt/my disk\n\
             @@tend-1@@ links\nlrwxrwxrwx 1 root root 10 Jan 1 00:00 /dev/disk/by-uuid/abcd-1234 -> ../../sdb1\n";
        let m = mounts(&Raw::parse(text));
        assert_eq!(m.as_array().map(Vec::len), Some(2));
        assert_eq!(m[0]["mount"], "/mnt/my disk");
        assert_eq!(m[0]["size_total"], 1_024_000);
        assert_eq!(m[0]["size_available"], 921_600);
        assert_eq!(m[0]["passno"], 2);
        assert_eq!(m[0]["uuid"], "abcd-1234");
        assert_eq!(m[1]["device"], "srv:/export");
        assert_eq!(unescape_octal("a\\134b\\011"), "a\\b\t");
    }

    #[test]
    fn virtualization_from_dmi_modules_and_systemd() {
        let kvm = with_files(&[("/sys/devices/virtual/dmi/id/product_name", "KVM")], "");
        let f = facts_of(&kvm);
        assert_eq!(
            (&f["virtualization_type"], &f["virtualization_role"]),
            (&json!("kvm"), &json!("guest"))
        );
        let host = with_files(
            &[("/proc/modules", "kvm 1130496 1 kvm_intel, Live 0x0")],
            "",
        );
        let f = facts_of(&host);
        assert_eq!(
            (&f["virtualization_type"], &f["virtualization_role"]),
            (&json!("kvm"), &json!("host"))
        );
        assert_eq!(f["virtualization_tech_host"], json!(["kvm"]));
        let nspawn = with_files(&[], "detect_virt=systemd-nspawn");
        assert_eq!(facts_of(&nspawn)["virtualization_type"], "systemd-nspawn");
        let bare = facts_of(&with_files(&[], "detect_virt=none"));
        assert_eq!(
            (&bare["virtualization_type"], &bare["virtualization_role"]),
            (&json!("NA"), &json!("NA"))
        );
    }

    #[test]
    fn small_parsers() {
        assert_eq!(count_cpus("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpus("0"), Some(1));
        let (last, all) = cmdline("ro console=tty0 console=ttyS0 x=\"a b\"");
        assert_eq!(last["console"], "ttyS0");
        assert_eq!(all["console"], json!(["tty0", "ttyS0"]));
        assert_eq!(last["ro"], true);
        assert_eq!(last["x"], "\"a b\"");
        let d = dns(&[
            "search a.lan b.lan".into(),
            "options ndots:2 rotate".into(),
            "nameserver 1.1.1.1".into(),
        ]);
        assert_eq!(
            d,
            json!({"search": ["a.lan", "b.lan"], "options": {"ndots": "2", "rotate": true}, "nameservers": ["1.1.1.1"]})
        );
        assert_eq!(parse_ini("no = section"), None);
        assert_eq!(service_mgr(&Raw::parse("exists=/sbin/openrc\n")), "openrc");
        assert_eq!(
            service_mgr(&Raw::parse(
                "has_systemctl=1\nexists=/run/systemd/system/\n"
            )),
            "systemd"
        );
        let init = "\n@@tend-1@@ files\n/proc/1/comm:init\n@@tend-1@@ kv\nexists=/etc/init.d/\n";
        assert_eq!(service_mgr(&Raw::parse(init)), "sysvinit");
    }

    #[test]
    fn subsets_follow_ansible_rules() {
        let sel = |s: &[&str]| select(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        let min: BTreeSet<&str> = MIN.iter().copied().collect();
        let with = |extra: &[&'static str]| {
            let mut set = min.clone();
            set.extend(extra.iter().copied());
            set
        };
        assert_eq!(sel(&["min"]).expect("min"), min);
        assert_eq!(sel(&["!all"]).expect("!all"), min);
        assert!(sel(&["!all", "!min"]).expect("none").is_empty());
        assert_eq!(
            sel(&["!all", "network"]).expect("network"),
            with(&["network"])
        );
        // Exclusions alone leave `min`: Ansible starts every list with it.
        assert_eq!(sel(&["!hardware", "!virtual"]).expect("excl"), min);
        assert_eq!(sel(&["!facter"]).expect("excl"), min);
        let everything = sel(&["all"]).expect("all");
        assert!(everything.contains("hardware") && everything.contains("systemd"));
        let no_hw = sel(&["all", "!hardware"]).expect("no hw");
        assert!(!no_hw.contains("hardware") && no_hw.contains("virtual"));
        // A fact id selects its collector, which brings the ones it needs.
        assert_eq!(
            sel(&["!all", "!min", "mounts"]).expect("mounts"),
            ["hardware", "platform"].into_iter().collect()
        );
        assert_eq!(sel(&["processor"]).expect("processor"), with(&["hardware"]));
        let err = sel(&["bogus"]).expect_err("bogus");
        assert!(
            err.starts_with("Bad subset 'bogus' given to Ansible"),
            "{err}"
        );
        assert!(sel(&["dmi"]).is_err());
    }

    #[test]
    fn fnmatch_like_python() {
        assert!(fnmatch("ansible_*_mb", "ansible_memtotal_mb"));
        assert!(!fnmatch("ansible_*_mb", "ansible_memory_mb_x"));
        assert!(fnmatch("ansible_eth[0-2]", "ansible_eth1"));
        assert!(!fnmatch("ansible_eth[!0-2]", "ansible_eth1"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("*", ""));
        assert!(fnmatch("a[b", "a[b"));
        assert!(!fnmatch("ansible_date_time", "ansible_date_time_x"));
    }

    #[test]
    fn outcome_filters_prefixes_and_merges() {
        let params = |filter: &[&str]| SetupParams {
            gather_subset: vec!["all".into()],
            filter: filter.iter().map(|s| s.to_string()).collect(),
            gather_timeout: 10,
            fact_path: String::new(),
        };
        let facts: Facts = [
            ("memtotal_mb".to_string(), json!(100)),
            ("swaptotal_mb".to_string(), json!(0)),
            ("hostname".to_string(), json!("h1")),
            ("local".to_string(), json!({})),
        ]
        .into_iter()
        .collect();
        let mut previous = Map::new();
        previous.insert("hostname".into(), json!("old"));
        previous.insert("distribution".into(), json!("Debian"));
        let out = outcome(
            &params(&["ansible_*_mb"]),
            SetupObserved {
                facts: facts.clone(),
                previous,
            },
        );
        assert!(!out.changed);
        let returned = out.values["ansible_facts"].as_object().expect("object");
        assert_eq!(
            returned.keys().collect::<Vec<_>>(),
            vec!["ansible_memtotal_mb", "ansible_swaptotal_mb"]
        );
        assert_eq!(out.facts["ansible_memtotal_mb"], 100);
        assert!(!out.facts.contains_key("ansible_hostname"));
        // Earlier facts stay in ansible_facts; new ones come in under their short names.
        assert_eq!(
            out.facts["ansible_facts"],
            json!({"distribution": "Debian", "hostname": "old", "memtotal_mb": 100, "swaptotal_mb": 0})
        );
        let out = outcome(
            &params(&[]),
            SetupObserved {
                facts,
                previous: Map::new(),
            },
        );
        assert_eq!(out.facts["ansible_local"], json!({}));
        assert_eq!(out.facts["ansible_facts"]["local"], json!({}));
        assert_eq!(out.facts["ansible_facts"]["hostname"], "h1");
        assert_eq!(out.facts["module_setup"], true);
        assert_eq!(out.values["ansible_facts"]["gather_subset"], json!(["all"]));
    }

    #[test]
    fn the_script_is_valid_sh_for_every_collector() {
        let params = SetupParams {
            gather_subset: Vec::new(),
            filter: Vec::new(),
            gather_timeout: 5,
            fact_path: "/tmp/it's here".into(),
        };
        let mut subsets: Vec<Vec<String>> = vec![vec!["all".into()], vec!["min".into()]];
        for (c, _) in COLLECTORS {
            subsets.push(vec!["!all".into(), "!min".into(), (*c).into()]);
        }
        for subset in subsets {
            let sel = select(&subset).expect("subset");
            let text = script(&sel, &params, "@@tend-0@@");
            let out = std::process::Command::new("/bin/sh")
                .args(["-n", "-c", &text])
                .output()
                .expect("sh -n");
            assert!(
                out.status.success(),
                "{subset:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    async fn setup(args: Value) -> Outcome {
        run_module("setup", args, &FakeController::new("/nonexistent"), false)
            .await
            .expect("setup")
    }

    #[tokio::test]
    async fn gathers_this_machine() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("app.fact"), "{\"port\": 8080}").expect("write");
        let started = std::time::Instant::now();
        let out = setup(json!({"fact_path": dir.path().to_string_lossy()})).await;
        let elapsed = started.elapsed();
        assert!(!out.changed);
        let f = &out.facts;
        let uname = |flag: &str| {
            std::process::Command::new("uname")
                .arg(flag)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .expect("uname")
        };
        assert_eq!(f["ansible_system"], uname("-s"));
        assert_eq!(f["ansible_kernel"], uname("-r"));
        assert_eq!(f["ansible_nodename"], uname("-n"));
        assert_eq!(f["ansible_facts"]["machine"], uname("-m"));
        for key in [
            "ansible_hostname",
            "ansible_fqdn",
            "ansible_distribution",
            "ansible_os_family",
            "ansible_distribution_major_version",
            "ansible_pkg_mgr",
            "ansible_service_mgr",
            "ansible_user_id",
            "ansible_user_dir",
            "ansible_userspace_bits",
        ] {
            assert!(
                f[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key}: {}",
                f[key]
            );
        }
        for key in [
            "ansible_user_uid",
            "ansible_user_gid",
            "ansible_memtotal_mb",
            "ansible_memfree_mb",
            "ansible_swaptotal_mb",
            "ansible_processor_vcpus",
            "ansible_processor_count",
            "ansible_processor_cores",
            "ansible_processor_nproc",
            "ansible_uptime_seconds",
        ] {
            assert!(f[key].is_u64(), "{key} is not an int: {}", f[key]);
        }
        assert!(f["ansible_memtotal_mb"].as_u64().is_some_and(|m| m > 0));
        assert!(f["ansible_processor_vcpus"].as_u64().is_some_and(|n| n > 0));
        assert!(f["ansible_processor"].is_array());
        assert!(f["ansible_env"]["PATH"].is_string());
        assert!(f["ansible_date_time"]["epoch"]
            .as_str()
            .is_some_and(|e| e.parse::<u64>().is_ok()));
        let mounts = f["ansible_mounts"].as_array().expect("mounts");
        assert!(mounts
            .iter()
            .any(|m| m["mount"] == "/" && m["size_total"].is_u64()));
        let interfaces = f["ansible_interfaces"].as_array().expect("interfaces");
        assert!(interfaces.iter().any(|i| i == "lo"));
        assert_eq!(f["ansible_lo"]["ipv4"]["address"], "127.0.0.1");
        assert!(f["ansible_lo"]["mtu"].is_u64());
        assert!(f["ansible_default_ipv4"].is_object());
        assert!(f["ansible_all_ipv4_addresses"].is_array());
        assert!(f["ansible_virtualization_type"].is_string());
        assert!(f["ansible_is_chroot"].is_boolean());
        assert_eq!(f["ansible_selinux"]["status"], "disabled");
        assert_eq!(f["ansible_local"], json!({"app": {"port": 8080}}));
        assert_eq!(f["ansible_facts"]["local"]["app"]["port"], 8080);
        assert_eq!(
            out.values["ansible_facts"]["ansible_hostname"],
            f["ansible_hostname"]
        );
        // One round trip; generous bound for a loaded test machine.
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    }

    #[tokio::test]
    async fn min_subset_and_filter() {
        let out = setup(json!({"gather_subset": "min"})).await;
        let f = &out.facts;
        for key in [
            "ansible_hostname",
            "ansible_distribution",
            "ansible_env",
            "ansible_date_time",
            "ansible_user_uid",
            "ansible_pkg_mgr",
            "ansible_local",
        ] {
            assert!(f.contains_key(key), "min lacks {key}");
        }
        for key in [
            "ansible_mounts",
            "ansible_interfaces",
            "ansible_processor",
            "ansible_memtotal_mb",
            "ansible_virtualization_type",
            "ansible_is_chroot",
        ] {
            assert!(!f.contains_key(key), "min has {key}");
        }
        assert_eq!(f["gather_subset"], json!(["min"]));

        let out = setup(json!({"filter": ["ansible_*_mb", "ansible_hostname"]})).await;
        let mut keys: Vec<&String> = out.facts.keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                "ansible_facts",
                "ansible_hostname",
                "ansible_memfree_mb",
                "ansible_memory_mb",
                "ansible_memtotal_mb",
                "ansible_swapfree_mb",
                "ansible_swaptotal_mb"
            ]
        );
        assert!(out.facts["ansible_facts"]["memtotal_mb"].is_u64());
        let out =
            setup(json!({"gather_subset": ["!all", "!min", "network"], "filter": "ansible_lo"}))
                .await;
        assert_eq!(out.facts["ansible_lo"]["device"], "lo");

        // A collector alone still reads what it needs (the user facts come from /proc).
        let out =
            setup(json!({"gather_subset": ["!all", "!min", "user"], "gather_timeout": 3})).await;
        assert!(out.facts["ansible_user_uid"].is_u64(), "{:?}", out.facts);
        assert!(!out.facts.contains_key("ansible_hostname"));

        let err = run_module(
            "setup",
            json!({"gather_subset": "nope"}),
            &FakeController::new("/"),
            false,
        )
        .await
        .expect_err("bad subset");
        assert!(err.to_string().contains("Bad subset 'nope'"), "{err}");
    }
}
