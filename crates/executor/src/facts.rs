//! Fact gathering (`gather_facts`): the common `ansible_*` facts from one `sh` round trip.

use serde_json::{json, Map, Value};
use tend_module_api::{Host, ModuleError};

/// One script prints `key=value` lines; everything it needs is POSIX sh and coreutils.
const FACTS_SCRIPT: &str = r#"
echo "hostname=$(uname -n)"
echo "fqdn=$(hostname -f 2>/dev/null || uname -n)"
echo "kernel=$(uname -r)"
echo "kernel_version=$(uname -v)"
echo "system=$(uname -s)"
echo "machine=$(uname -m)"
echo "user_id=$(id -un)"
echo "user_uid=$(id -u)"
echo "user_gid=$(id -g)"
echo "user_dir=$HOME"
echo "user_shell=$SHELL"
echo "vcpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)"
[ -r /proc/meminfo ] && sed -n 's/^MemTotal: *\([0-9]*\) kB/memtotal_kb=\1/p; s/^MemFree: *\([0-9]*\) kB/memfree_kb=\1/p' /proc/meminfo
[ -r /etc/os-release ] && sed -n 's/^\(ID\|ID_LIKE\|VERSION_ID\|VERSION_CODENAME\|NAME\|PRETTY_NAME\)=/os_\1=/p' /etc/os-release
for m in apt-get dnf yum zypper apk pacman; do if command -v $m >/dev/null 2>&1; then echo "pkg_mgr=$m"; break; fi; done
if [ -d /run/systemd/system ]; then echo service_mgr=systemd; elif command -v rc-service >/dev/null 2>&1; then echo service_mgr=openrc; else echo service_mgr=sysvinit; fi
date +'date=%Y-%m-%d|%H:%M:%S|%s|%Z|%z|%A|%B|%d|%m|%Y'
if command -v ip >/dev/null 2>&1; then ip -4 -o addr show scope global 2>/dev/null | sed -n 's/^[0-9]*: \([^ ]*\) *inet \([0-9.]*\).*/ipv4=\1 \2/p'; fi
"#;

/// Collects facts; the result maps `ansible_x` names to values (and `ansible_facts` with
/// the same values under the short names).
pub(crate) async fn gather(host: &Host) -> Result<Map<String, Value>, ModuleError> {
    let out = host.sh(FACTS_SCRIPT).await?;
    Ok(facts_from_output(&out.stdout_lossy()))
}

fn unquote(v: &str) -> &str {
    v.trim().trim_matches('"').trim_matches('\'')
}

fn distribution_name(id: &str, name: &str) -> String {
    match id {
        "debian" => "Debian".into(),
        "ubuntu" => "Ubuntu".into(),
        "centos" => "CentOS".into(),
        "rhel" => "RedHat".into(),
        "fedora" => "Fedora".into(),
        "rocky" => "Rocky".into(),
        "almalinux" => "AlmaLinux".into(),
        "alpine" => "Alpine".into(),
        "arch" => "Archlinux".into(),
        "opensuse-leap" | "opensuse-tumbleweed" | "opensuse" => "openSUSE Leap".into(),
        "sles" => "SLES".into(),
        "amzn" => "Amazon".into(),
        _ if !name.is_empty() => name.split_whitespace().next().unwrap_or(name).to_string(),
        _ => "NA".into(),
    }
}

fn os_family(id: &str, id_like: &str) -> &'static str {
    let ids: Vec<&str> = std::iter::once(id)
        .chain(id_like.split_whitespace())
        .collect();
    for id in ids {
        match id {
            "debian" | "ubuntu" => return "Debian",
            "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "amzn" => return "RedHat",
            "alpine" => return "Alpine",
            "arch" => return "Archlinux",
            "suse" | "sles" | "opensuse" | "opensuse-leap" => return "Suse",
            _ => {}
        }
    }
    "NA"
}

pub(crate) fn facts_from_output(text: &str) -> Map<String, Value> {
    let mut raw: Map<String, Value> = Map::new();
    let mut ipv4: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k == "ipv4" {
            if let Some((iface, addr)) = v.split_once(' ') {
                ipv4.push((iface.to_string(), addr.to_string()));
            }
        } else {
            raw.insert(k.to_string(), Value::String(unquote(v).to_string()));
        }
    }
    let get = |k: &str| {
        raw.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let num = |k: &str| get(k).parse::<u64>().ok();
    let id = get("os_ID");
    let version = get("os_VERSION_ID");
    let hostname = get("hostname");
    let short = hostname.split('.').next().unwrap_or_default().to_string();
    let date: Vec<String> = get("date").split('|').map(str::to_string).collect();
    let date_field = |i: usize| date.get(i).cloned().unwrap_or_default();
    let machine = get("machine");
    let facts = json!({
        "hostname": short,
        "nodename": hostname,
        "fqdn": get("fqdn"),
        "domain": get("fqdn").split_once('.').map(|(_, d)| d.to_string()).unwrap_or_default(),
        "kernel": get("kernel"),
        "kernel_version": get("kernel_version"),
        "system": get("system"),
        "machine": machine,
        "architecture": machine,
        "user_id": get("user_id"),
        "user_uid": num("user_uid"),
        "user_gid": num("user_gid"),
        "user_dir": get("user_dir"),
        "user_shell": get("user_shell"),
        "processor_vcpus": num("vcpus"),
        "processor_nproc": num("vcpus"),
        "memtotal_mb": num("memtotal_kb").map(|kb| kb / 1024),
        "memfree_mb": num("memfree_kb").map(|kb| kb / 1024),
        "distribution": distribution_name(&id, &get("os_NAME")),
        "distribution_version": version,
        "distribution_major_version": version.split('.').next().unwrap_or_default(),
        "distribution_release": get("os_VERSION_CODENAME"),
        "os_family": os_family(&id, &get("os_ID_LIKE")),
        "pkg_mgr": match get("pkg_mgr").as_str() { "apt-get" => "apt".to_string(), "" => "unknown".to_string(), m => m.to_string() },
        "service_mgr": get("service_mgr"),
        "all_ipv4_addresses": ipv4.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>(),
        "default_ipv4": ipv4.first().map(|(iface, addr)| json!({"interface": iface, "address": addr})).unwrap_or_else(|| json!({})),
        "date_time": {
            "date": date_field(0),
            "time": date_field(1),
            "epoch": date_field(2),
            "tz": date_field(3),
            "tz_offset": date_field(4),
            "weekday": date_field(5),
            "month": date_field(8),
            "day": date_field(7),
            "year": date_field(9),
            "iso8601": format!("{}T{}", date_field(0), date_field(1)),
        },
    });
    let mut out = Map::new();
    if let Value::Object(facts) = facts {
        for (k, v) in &facts {
            out.insert(format!("ansible_{k}"), v.clone());
        }
        out.insert("ansible_facts".into(), Value::Object(facts));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_host_facts() {
        let text = "hostname=h1\nfqdn=h1.lab\nkernel=6.1.0\nsystem=Linux\nmachine=x86_64\nuser_id=root\nuser_uid=0\nvcpus=2\nmemtotal_kb=2048000\nos_ID=debian\nos_VERSION_ID=\"12\"\nos_VERSION_CODENAME=bookworm\nos_NAME=\"Debian GNU/Linux\"\npkg_mgr=apt-get\nservice_mgr=sysvinit\nipv4=eth0 10.0.0.5\n";
        let f = facts_from_output(text);
        assert_eq!(f["ansible_hostname"], "h1");
        assert_eq!(f["ansible_distribution"], "Debian");
        assert_eq!(f["ansible_distribution_major_version"], "12");
        assert_eq!(f["ansible_os_family"], "Debian");
        assert_eq!(f["ansible_pkg_mgr"], "apt");
        assert_eq!(f["ansible_memtotal_mb"], 2000);
        assert_eq!(f["ansible_default_ipv4"]["address"], "10.0.0.5");
        assert_eq!(f["ansible_facts"]["fqdn"], "h1.lab");
    }
}
