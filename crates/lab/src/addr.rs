//! Loopback address allocation: parsing the lab network and flock-based per-address leases shared by all processes.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, LabError};

/// Where the per-address lock files live. A fixed path rather than `temp_dir()`, so that
/// processes with different `TMPDIR`s still see each other's leases.
pub(crate) const LOCK_DIR: &str = "/tmp/tend-lab-addrs";

/// The default network labs allocate from.
pub const DEFAULT_NETWORK: (Ipv4Addr, u8) = (Ipv4Addr::new(127, 80, 0, 0), 16);

/// An address (and port) this process holds for one lab host. The flock is released when the
/// lease is dropped, and by the kernel if the process dies, so a crashed test never leaks it.
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) addr: Ipv4Addr,
    _lock: File,
}

/// Parse `TEND_LAB_NET`-style text: `127.81` (a /16), `127.81.3` (a /24) or CIDR `127.81.0.0/16`.
pub fn parse_network(value: &str) -> Result<(Ipv4Addr, u8), LabError> {
    let bad = |reason: &str| LabError::BadNetwork {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let text = value.trim();
    let (addr_part, prefix) = match text.split_once('/') {
        Some((a, p)) => (
            a,
            Some(p.parse::<u8>().map_err(|_| bad("bad prefix length"))?),
        ),
        None => (text, None),
    };
    let octets: Vec<u8> = addr_part
        .split('.')
        .map(|o| o.parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("not dotted decimal"))?;
    if octets.is_empty() || octets.len() > 4 {
        return Err(bad("not dotted decimal"));
    }
    let prefix = match prefix {
        Some(p) => p,
        None if octets.len() == 4 => return Err(bad("a full address needs a /prefix")),
        // The number of given octets decides the size: 127.81 is 127.81.0.0/16.
        None => (octets.len() * 8) as u8,
    };
    let mut full = [0u8; 4];
    full[..octets.len()].copy_from_slice(&octets);
    let network = Ipv4Addr::from(full);
    validate_network(network, prefix).map_err(|reason| bad(&reason))?;
    Ok((mask(network, prefix), prefix))
}

pub(crate) fn validate_network(network: Ipv4Addr, prefix: u8) -> Result<(), String> {
    if !(8..=30).contains(&prefix) {
        return Err(format!("prefix /{prefix} must be between /8 and /30"));
    }
    if network.octets()[0] != 127 {
        return Err("must lie inside 127.0.0.0/8".to_string());
    }
    Ok(())
}

fn mask(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let bits = u32::from(addr);
    let m = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    Ipv4Addr::from(bits & m)
}

/// The host addresses of a network, skipping the all-zeros and all-ones host parts.
fn candidates(network: Ipv4Addr, prefix: u8) -> impl Iterator<Item = Ipv4Addr> {
    let base = u32::from(mask(network, prefix));
    let size = 1u32 << (32 - u32::from(prefix));
    (1..size - 1).map(move |off| Ipv4Addr::from(base + off))
}

fn lock_path(dir: &Path, addr: Ipv4Addr, port: u16) -> PathBuf {
    dir.join(format!("{addr}-{port}.lock"))
}

/// Try to take the machine-wide lease on `addr:port`; `None` if another lab holds it.
fn try_lock(addr: Ipv4Addr, port: u16) -> Result<Option<Lease>, LabError> {
    let dir = Path::new(LOCK_DIR);
    fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
    let path = lock_path(dir, addr, port);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .ctx(|| format!("opening lock file {}", path.display()))?;
    // SAFETY: flock on a descriptor we own; no memory is shared with the kernel.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(Some(Lease { addr, _lock: file }));
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::WouldBlock {
        Ok(None)
    } else {
        Err(LabError::io(format!("locking {}", path.display()), err))
    }
}

/// Whether something (a stray sshd, another service) already listens on `addr:port`.
/// The probe listener is dropped at once, freeing the port for the host's sshd.
fn port_taken(addr: Ipv4Addr, port: u16) -> Result<bool, LabError> {
    match TcpListener::bind((addr, port)) {
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(true),
        Err(e) => Err(LabError::io(format!("probing {addr}:{port}"), e)),
    }
}

/// Lease `count` free addresses from the network, moving past any that another lab holds
/// or that something already listens on.
pub(crate) fn allocate(
    network: Ipv4Addr,
    prefix: u8,
    count: usize,
    port: u16,
) -> Result<Vec<Lease>, LabError> {
    let mut leases = Vec::with_capacity(count);
    for addr in candidates(network, prefix) {
        if leases.len() == count {
            break;
        }
        let Some(lease) = try_lock(addr, port)? else {
            continue;
        };
        if port_taken(addr, port)? {
            continue;
        }
        leases.push(lease);
    }
    if leases.len() < count {
        return Err(LabError::NoFreeAddress {
            network,
            prefix,
            wanted: count,
            port,
        });
    }
    Ok(leases)
}

/// Lease exactly the given addresses, refusing any that is held or listened on.
pub(crate) fn lease_exact(addrs: &[Ipv4Addr], port: u16) -> Result<Vec<Lease>, LabError> {
    let mut leases: Vec<Lease> = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        if addr.octets()[0] != 127 {
            return Err(LabError::NotLoopback { addr });
        }
        if leases.iter().any(|l| l.addr == addr) {
            return Err(LabError::Options(format!("address {addr} given twice")));
        }
        let Some(lease) = try_lock(addr, port)? else {
            return Err(LabError::AddressTaken {
                addr,
                port,
                reason: "held by another running lab",
            });
        };
        if port_taken(addr, port)? {
            return Err(LabError::AddressTaken {
                addr,
                port,
                reason: "something already listens there; a lab left running?",
            });
        }
        leases.push(lease);
    }
    Ok(leases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_cidr_networks() {
        assert_eq!(
            parse_network("127.81").ok(),
            Some((Ipv4Addr::new(127, 81, 0, 0), 16))
        );
        assert_eq!(
            parse_network("127.81.3").ok(),
            Some((Ipv4Addr::new(127, 81, 3, 0), 24))
        );
        assert_eq!(
            parse_network("127.81.7.9/16").ok(),
            Some((Ipv4Addr::new(127, 81, 0, 0), 16))
        );
        assert!(parse_network("10.1").is_err());
        assert!(parse_network("127.1.2.3").is_err());
        assert!(parse_network("127.x").is_err());
        assert!(parse_network("127.0.0.0/31").is_err());
    }

    #[test]
    fn candidates_skip_network_and_broadcast() {
        let all: Vec<_> = candidates(Ipv4Addr::new(127, 9, 9, 0), 30).collect();
        assert_eq!(
            all,
            vec![Ipv4Addr::new(127, 9, 9, 1), Ipv4Addr::new(127, 9, 9, 2)]
        );
    }

    #[test]
    fn a_lease_excludes_others_until_dropped() {
        let addr = Ipv4Addr::new(127, 80, 255, 201);
        let first = try_lock(addr, 65001).expect("lock").expect("free");
        assert!(try_lock(addr, 65001).expect("lock").is_none());
        drop(first);
        assert!(try_lock(addr, 65001).expect("lock").is_some());
    }
}
