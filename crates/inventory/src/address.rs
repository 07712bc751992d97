//! Host addresses the way Ansible reads them: `host:port` splitting (`parse_address`) and
//! `[x:y:step]` host-range expansion (`expand_hostname_range`).
//!
//! The regular expressions are transcriptions of `ansible/parsing/utils/addresses.py`, quirks
//! included, because the same functions also decide how a host *pattern* is split on `:`.

use std::sync::LazyLock;

use regex::Regex;

const NUMERIC_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

fn compile(pattern: &str) -> Regex {
    // The patterns are constants of this file; the unit tests compile every one of them.
    Regex::new(pattern).expect("address regexes are static and tested")
}

static BRACKETED_HOSTPORT: LazyLock<Regex> = LazyLock::new(|| compile(r"^\[(.+)\]:([0-9]+)$"));

static HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$"));

static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    compile(&format!(r"(?i)^(?:{c}\.){{3}}{c}$"))
});

static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})");
    // Ansible writes `^alt1|...|altN$` without a group, so `$` binds to the last alternative
    // only; `re.match` anchors every alternative at the start. Reproduced as is, because this
    // regex also decides whether a host pattern such as `a::b` is split on its colons.
    let alternatives = [
        format!(r"(?:{c}:){{7}}{c}"),
        format!(r"(?:{c}:){{1,6}}:"),
        format!(r"(?:{c}:)(?::{c}){{1,6}}"),
        format!(r"(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!(r"(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!(r"(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!(r"(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!(r"(?:{c}:){{6}}(?::{c})"),
        format!(r":(?::{c}){{1,6}}"),
        format!(r"{c}?::"),
        format!(r"(?:0:){{6}}(?:{c}\.){{3}}{c}"),
        format!(r"::(?:ffff:)?(?:{c}\.){{3}}{c}"),
        format!(r"(?:0:){{5}}ffff:(?:{c}\.){{3}}{c}$"),
    ];
    compile(&format!("(?i)^(?:{})", alternatives.join("|")))
});

static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    let r = ALNUM_RANGE;
    // Python's label ends with the lookbehind `(?<![_-])`, which the regex crate lacks: spell
    // out "a single non-underscore word char, or word chars whose last one is not `_`/`-`".
    let label = format!(r"(?:(?:[^\W_]|{r})|(?:\w|{r})(?:[\w-]|{r})*(?:[^\W_]|{r}))");
    compile(&format!(r"(?i)^{label}(?:\.{label})*$"))
});

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddressError(pub String);

/// Ansible's `parse_address`: splits an optional `:port` (or `[host]:port`) off and checks that
/// the rest is an IPv4/IPv6 address or a host name, possibly with `[x:y]` ranges.
pub(crate) fn parse_address(
    address: &str,
    allow_ranges: bool,
) -> Result<(String, Option<u64>), AddressError> {
    let mut address = address.to_string();
    let mut port = None;
    // Both port forms are tried in turn (Ansible `continue`s rather than `break`s).
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Some(caps) = re.captures(&address) {
            let (host, digits) = (caps[1].to_string(), caps[2].to_string());
            port = Some(
                digits
                    .parse::<u64>()
                    .map_err(|_| AddressError(format!("port {digits} is out of range")))?,
            );
            address = host;
        }
    }
    let recognised = [&*IPV4, &*IPV6, &*HOSTNAME]
        .iter()
        .any(|re| re.is_match(&address));
    if !recognised {
        return Err(AddressError(format!(
            "not a valid network hostname: {address}"
        )));
    }
    if !allow_ranges && address.contains('[') {
        return Err(AddressError(
            "detected range in host but was asked to ignore ranges".into(),
        ));
    }
    Ok((address, port))
}

/// True when `address` looks like an IPv4 or IPv6 address (Ansible keeps those whole for
/// `inventory_hostname_short`).
pub fn is_ip_address(address: &str) -> bool {
    IPV4.is_match(address) || IPV6.is_match(address)
}

/// The inventory plugins' `_expand_hostpattern`: host names (ranges expanded) and the port
/// given with them.
pub(crate) fn expand_hostpattern(pattern: &str) -> Result<(Vec<String>, Option<u64>), String> {
    let (host, port) = match parse_address(pattern, true) {
        Ok(parsed) => parsed,
        // Not an address at all: Ansible still takes the text as a host name.
        Err(_) => (pattern.to_string(), None),
    };
    let hosts = if host.contains('[') {
        expand_hostname_range(&host)?
    } else {
        vec![host]
    };
    Ok((hosts, port))
}

const ASCII_LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Expands the first `[beg:end(:step)]` of `line` and recurses on the results, as Ansible's
/// `expand_hostname_range` does: `web[01:03]` keeps the zero padding, `[a:c]` walks
/// `string.ascii_letters`.
pub(crate) fn expand_hostname_range(line: &str) -> Result<Vec<String>, String> {
    let Some((head, rest)) = line.split_once('[') else {
        return Ok(vec![line.to_string()]);
    };
    let Some((nrange, tail)) = rest.split_once(']') else {
        return Err(format!("host range in `{line}` is missing its closing `]`"));
    };
    if tail.contains('|') || head.contains('|') || nrange.contains('|') {
        // Ansible splits on `|` after substituting the brackets; a literal `|` breaks it.
        return Err(format!("host range in `{line}` must not contain `|`"));
    }
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!(
            "host range `[{nrange}]` must be begin:end or begin:end:step"
        ));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(format!("host range `[{nrange}]` must specify an end value"));
    }
    let step: usize = match bounds.get(2) {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(0) | Err(_) => {
                return Err(format!("host range `[{nrange}]` has an invalid step `{s}`"))
            }
            Ok(n) => n,
        },
    };
    let pad = if beg.len() > 1 && beg.starts_with('0') {
        if beg.len() != end.len() {
            return Err(format!(
                "host range `[{nrange}]` must specify equal-length begin and end formats"
            ));
        }
        beg.len()
    } else {
        0
    };

    let seq: Vec<String> = match (ASCII_LETTERS.find(beg), ASCII_LETTERS.find(end)) {
        (Some(b), Some(e)) if beg.len() == 1 && end.len() == 1 => {
            if b > e {
                return Err(format!("host range `[{nrange}]` must have begin <= end"));
            }
            ASCII_LETTERS[b..=e]
                .chars()
                .step_by(step)
                .map(String::from)
                .collect()
        }
        _ => {
            let parse = |s: &str| {
                s.parse::<i64>()
                    .map_err(|_| format!("host range `[{nrange}]` bound `{s}` is not a number"))
            };
            let (b, e) = (parse(beg)?, parse(end)?);
            if b > e {
                // Python's range() is simply empty here.
                Vec::new()
            } else {
                (b..=e)
                    .step_by(step)
                    .map(|n| format!("{n:0pad$}"))
                    .collect()
            }
        }
    };

    let mut hosts = Vec::new();
    for item in seq {
        let name = format!("{head}{item}{tail}");
        if name.contains('[') {
            hosts.extend(expand_hostname_range(&name)?);
        } else {
            hosts.push(name);
        }
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_compile() {
        for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT, &*IPV4, &*IPV6, &*HOSTNAME] {
            assert!(!re.as_str().is_empty());
        }
    }

    #[test]
    fn splits_ports() {
        let p = |s| parse_address(s, true);
        assert_eq!(p("web1"), Ok(("web1".into(), None)));
        assert_eq!(p("web1:2222"), Ok(("web1".into(), Some(2222))));
        assert_eq!(p("10.0.0.1:22"), Ok(("10.0.0.1".into(), Some(22))));
        assert_eq!(p("[::1]:22"), Ok(("::1".into(), Some(22))));
        assert_eq!(p("::1"), Ok(("::1".into(), None)));
        assert_eq!(p("fe80::1"), Ok(("fe80::1".into(), None)));
        assert_eq!(p("web[01:03].example.com:22").map(|x| x.1), Ok(Some(22)));
        assert_eq!(p("db-[a:c]"), Ok(("db-[a:c]".into(), None)));
        assert!(p("web:db").is_err());
        assert!(p("web*").is_err());
        assert!(p("bad_").is_err());
        assert!(p("_").is_err());
        assert!(p("a_b").is_ok());
        assert!(parse_address("web[1:2]", false).is_err());
    }

    #[test]
    fn expands_ranges() {
        assert_eq!(
            expand_hostname_range("web[01:03].example.com").ok(),
            Some(vec![
                "web01.example.com".to_string(),
                "web02.example.com".into(),
                "web03.example.com".into()
            ])
        );
        assert_eq!(
            expand_hostname_range("db-[a:c]").ok(),
            Some(vec!["db-a".to_string(), "db-b".into(), "db-c".into()])
        );
        assert_eq!(
            expand_hostname_range("h[1:6:2]").ok(),
            Some(vec!["h1".to_string(), "h3".into(), "h5".into()])
        );
        assert_eq!(
            expand_hostname_range("r[1:2]c[a:b]").ok(),
            Some(vec![
                "r1ca".to_string(),
                "r1cb".into(),
                "r2ca".into(),
                "r2cb".into()
            ])
        );
        assert_eq!(
            expand_hostname_range("h[:2]").ok(),
            Some(vec!["h0".to_string(), "h1".into(), "h2".into()])
        );
        assert!(expand_hostname_range("h[01:100]").is_err());
        assert!(expand_hostname_range("h[1]").is_err());
        assert!(expand_hostname_range("h[1:]").is_err());
        assert!(expand_hostname_range("h[c:a]").is_err());
        assert!(expand_hostname_range("h[1:2").is_err());
    }

    #[test]
    fn expands_patterns_with_ports() {
        assert_eq!(
            expand_hostpattern("web[1:2]:2222"),
            Ok((vec!["web1".to_string(), "web2".into()], Some(2222)))
        );
        // Not an address: taken verbatim (Ansible accepts odd names).
        assert_eq!(
            expand_hostpattern("my_host_"),
            Ok((vec!["my_host_".to_string()], None))
        );
    }
}
