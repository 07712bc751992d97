//! Host patterns (`hosts:` and `--limit`), evaluated as Ansible's `InventoryManager` does:
//! split on `,` (or, failing that, on `:`), apply plain patterns, then `&` intersections, then
//! `!` exclusions; each single pattern matches group names first, then host names.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::address::parse_address;
use crate::data::LOCALHOST_NAMES;
use crate::{Inventory, InventoryError};

static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").expect("static regex, tested")
});

static COLON_PARTS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").expect("static regex, tested"));

/// Ansible's `split_host_pattern`: commas always separate; without commas the text is one
/// pattern if it reads as an address (IPv6, `host:port`, `web[1:3]`), else it splits on `:`.
pub(crate) fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<&str> = if pattern.contains(',') {
        pattern.split(',').collect()
    } else if parse_address(pattern, true).is_ok() {
        vec![pattern]
    } else {
        COLON_PARTS.find_iter(pattern).map(|m| m.as_str()).collect()
    };
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// Plain patterns first, then intersections, then exclusions; only modifiers means `all`.
fn order_patterns(patterns: &[String]) -> Vec<&str> {
    let mut regular = Vec::new();
    let mut intersect = Vec::new();
    let mut exclude = Vec::new();
    for p in patterns.iter().filter(|p| !p.is_empty()) {
        match p.as_bytes()[0] {
            b'!' => exclude.push(p.as_str()),
            b'&' => intersect.push(p.as_str()),
            _ => regular.push(p.as_str()),
        }
    }
    if regular.is_empty() {
        regular.push("all");
    }
    regular
        .into_iter()
        .chain(intersect)
        .chain(exclude)
        .collect()
}

/// Host names selected by already-split patterns, de-duplicated, in evaluation order.
pub(crate) fn evaluate(
    inv: &Inventory,
    patterns: &[String],
) -> Result<Vec<String>, InventoryError> {
    let mut hosts: Vec<String> = Vec::new();
    for p in order_patterns(patterns) {
        if inv.data.hosts.contains_key(p) {
            // A plain host name skips matching altogether.
            hosts.push(p.to_string());
            continue;
        }
        let that = match_one_pattern(inv, p)?;
        if p.starts_with('!') {
            let that: HashSet<&String> = that.iter().collect();
            hosts.retain(|h| !that.contains(h));
        } else if p.starts_with('&') {
            let that: HashSet<&String> = that.iter().collect();
            hosts.retain(|h| that.contains(h));
        } else {
            let existing: HashSet<String> = hosts.iter().cloned().collect();
            hosts.extend(that.into_iter().filter(|h| !existing.contains(h)));
        }
    }
    let mut seen = HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    Ok(hosts)
}

fn match_one_pattern(inv: &Inventory, pattern: &str) -> Result<Vec<String>, InventoryError> {
    let bare = pattern.strip_prefix(['&', '!']).unwrap_or(pattern);
    if bare.is_empty() {
        return Err(InventoryError::Pattern {
            pattern: pattern.to_string(),
            message: "nothing follows the `&`/`!`".into(),
        });
    }
    let (expr, subscript) = split_subscript(bare);
    let hosts = enumerate_matches(inv, expr)?;
    apply_subscript(hosts, subscript).ok_or_else(|| InventoryError::Pattern {
        pattern: bare.to_string(),
        message: "no hosts matched the subscripted pattern (index out of range)".into(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscript {
    Index(i64),
    /// `[start:end]`, end inclusive; `None` end means "to the last host".
    Range(i64, Option<i64>),
}

fn split_subscript(pattern: &str) -> (&str, Option<Subscript>) {
    if pattern.starts_with('~') {
        // The brackets belong to the regex.
        return (pattern, None);
    }
    let Some(caps) = SUBSCRIPT.captures(pattern) else {
        return (pattern, None);
    };
    let expr = caps.get(1).map_or(pattern, |m| m.as_str());
    // A number too large for i64 can only ever be out of range.
    let num = |s: &str| s.parse::<i64>().unwrap_or(i64::MAX);
    let subscript = match (caps.get(2), caps.get(3), caps.get(5)) {
        (Some(idx), _, _) => Subscript::Index(num(idx.as_str())),
        (None, Some(start), end) => {
            let end = end.map(|e| e.as_str()).filter(|e| !e.is_empty()).map(num);
            Subscript::Range(num(start.as_str()), end)
        }
        _ => return (pattern, None),
    };
    (expr, Some(subscript))
}

/// Ansible's `_apply_subscript`, Python indexing included: `None` is its IndexError.
fn apply_subscript(hosts: Vec<String>, subscript: Option<Subscript>) -> Option<Vec<String>> {
    let Some(subscript) = subscript else {
        return Some(hosts);
    };
    if hosts.is_empty() {
        return Some(hosts);
    }
    let len = i64::try_from(hosts.len()).unwrap_or(i64::MAX);
    let index = |i: i64| -> Option<Vec<String>> {
        let i = if i < 0 { i + len } else { i };
        let i = usize::try_from(i).ok()?;
        hosts.get(i).map(|h| vec![h.clone()])
    };
    match subscript {
        Subscript::Index(i) => index(i),
        // `if end:` in Python: an explicit end of 0 falls back to indexing by start.
        Subscript::Range(start, Some(0)) => index(start),
        Subscript::Range(start, end) => {
            let stop = end.unwrap_or(len - 1).saturating_add(1).min(len);
            let start = start.min(len);
            if start >= stop {
                return Some(Vec::new());
            }
            let (start, stop) = (usize::try_from(start).ok()?, usize::try_from(stop).ok()?);
            Some(hosts[start..stop].to_vec())
        }
    }
}

/// Groups matching the pattern contribute all their hosts; hosts are matched by name too when
/// no group matched or the pattern is a regex or glob. A localhost alias that matches nothing
/// yields the implicit localhost.
fn enumerate_matches(inv: &Inventory, pattern: &str) -> Result<Vec<String>, InventoryError> {
    let matcher = Matcher::new(pattern)?;
    let mut results = Vec::new();
    let mut matched_group = false;
    for (idx, name) in inv.data.groups.keys().enumerate() {
        if matcher.is_match(name) {
            matched_group = true;
            results.extend(
                inv.data
                    .group_hosts(idx)
                    .into_iter()
                    .map(|h| inv.data.hosts[h].name.clone()),
            );
        }
    }
    let special = pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']);
    if !matched_group || special {
        results.extend(
            inv.data
                .hosts
                .keys()
                .filter(|name| matcher.is_match(name))
                .cloned(),
        );
    }
    if results.is_empty() && LOCALHOST_NAMES.contains(&pattern) {
        if let Some(host) = inv.resolve_implicit_localhost(pattern) {
            results.push(host.name.clone());
        }
    }
    Ok(results)
}

/// A compiled single pattern: `~regex` (matched at the start, like `re.match`) or a glob.
struct Matcher(Regex);

impl Matcher {
    fn new(pattern: &str) -> Result<Matcher, InventoryError> {
        let source = match pattern.strip_prefix('~') {
            Some(re) => format!(r"\A(?:{re})"),
            None => glob_to_regex(pattern),
        };
        Regex::new(&source)
            .map(Matcher)
            .map_err(|e| InventoryError::Pattern {
                pattern: pattern.to_string(),
                message: format!("invalid regular expression: {e}"),
            })
    }

    fn is_match(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

/// Python's `fnmatch.translate`: `*`, `?`, `[seq]`, `[!seq]`; a `[` without its `]` is literal.
fn glob_to_regex(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from(r"(?s)\A(?:");
    let mut i = 0;
    let mut last_star = false;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let was_star = c == '*';
        match c {
            '*' => {
                if !last_star {
                    out.push_str(".*");
                }
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str(r"\[");
                } else {
                    out.push_str(&glob_class(&chars[i..j]));
                    i = j + 1;
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
        last_star = was_star;
    }
    out.push_str(r")\z");
    out
}

fn glob_class(stuff: &[char]) -> String {
    let (negate, body) = match stuff.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, stuff),
    };
    if negate && body.is_empty() {
        return ".".into();
    }
    // Inside a class only ASCII punctuation can be special; the regex crate accepts an escape
    // before any of it (and rejects one before anything else).
    let escape = |c: char| {
        if c.is_ascii_punctuation() {
            format!("\\{c}")
        } else {
            c.to_string()
        }
    };
    let mut items = String::new();
    let mut k = 0;
    while k < body.len() {
        if k + 2 < body.len() && body[k + 1] == '-' {
            // Python drops reversed ranges such as `z-a`.
            if body[k] <= body[k + 2] {
                items.push_str(&format!("{}-{}", escape(body[k]), escape(body[k + 2])));
            }
            k += 3;
        } else {
            items.push_str(&escape(body[k]));
            k += 1;
        }
    }
    if items.is_empty() {
        // An empty set never matches (Python emits `(?!)`).
        return if negate {
            ".".into()
        } else {
            r"[^\s\S]".into()
        };
    }
    format!("[{}{items}]", if negate { "^" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_ansible() {
        let s = |p: &str| split_host_pattern(p);
        assert_eq!(s("web,db"), ["web", "db"]);
        assert_eq!(s(" web , db ,"), ["web", "db"]);
        assert_eq!(s("web:db"), ["web", "db"]);
        assert_eq!(s("web:&db:!stage"), ["web", "&db", "!stage"]);
        assert_eq!(s("web[0:2]"), ["web[0:2]"]);
        assert_eq!(s("web[0:2]:db"), ["web[0:2]", "db"]);
        assert_eq!(s("fe80::1"), ["fe80::1"]);
        assert_eq!(s("host:22"), ["host:22"]);
        // Commas win: colons inside comma-separated parts are not separators.
        assert_eq!(s("a,b:c"), ["a", "b:c"]);
        assert_eq!(s("~web\\d+"), ["~web\\d+"]);
        assert!(s("").is_empty());
    }

    #[test]
    fn orders_modifiers_last() {
        let ps: Vec<String> = ["!a", "&b", "c", "!d", "e"].map(String::from).to_vec();
        assert_eq!(order_patterns(&ps), ["c", "e", "&b", "!a", "!d"]);
        let only: Vec<String> = vec!["!a".into()];
        assert_eq!(order_patterns(&only), ["all", "!a"]);
    }

    #[test]
    fn subscripts() {
        assert_eq!(
            split_subscript("web[0]"),
            ("web", Some(Subscript::Index(0)))
        );
        assert_eq!(
            split_subscript("web[-1]"),
            ("web", Some(Subscript::Index(-1)))
        );
        assert_eq!(
            split_subscript("web[1:3]"),
            ("web", Some(Subscript::Range(1, Some(3))))
        );
        assert_eq!(
            split_subscript("web[1:]"),
            ("web", Some(Subscript::Range(1, None)))
        );
        assert_eq!(
            split_subscript("web[1-3]"),
            ("web", Some(Subscript::Range(1, Some(3))))
        );
        assert_eq!(split_subscript("~web[0]"), ("~web[0]", None));
        assert_eq!(split_subscript("web[a]"), ("web[a]", None));

        let hosts: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let apply = |s| apply_subscript(hosts.clone(), Some(s));
        assert_eq!(apply(Subscript::Index(1)), Some(vec!["b".to_string()]));
        assert_eq!(apply(Subscript::Index(-1)), Some(vec!["c".to_string()]));
        assert_eq!(apply(Subscript::Index(3)), None);
        assert_eq!(
            apply(Subscript::Range(0, Some(1))).map(|v| v.len()),
            Some(2)
        );
        assert_eq!(apply(Subscript::Range(1, None)).map(|v| v.len()), Some(2));
        assert_eq!(
            apply(Subscript::Range(2, Some(9))).map(|v| v.len()),
            Some(1)
        );
        assert_eq!(apply(Subscript::Range(5, Some(9))), Some(Vec::new()));
        // Python's `if end:` quirk: `[2:0]` means index 2.
        assert_eq!(
            apply(Subscript::Range(2, Some(0))),
            Some(vec!["c".to_string()])
        );
        assert_eq!(
            apply_subscript(Vec::new(), Some(Subscript::Index(4))),
            Some(Vec::new())
        );
    }

    #[test]
    fn globs() {
        let m = |p: &str, s: &str| Matcher::new(p).map(|m| m.is_match(s)).unwrap_or(false);
        assert!(m("web*", "web01"));
        assert!(m("web*", "web"));
        assert!(!m("web*", "db-web"));
        assert!(m("*.example.com", "a.example.com"));
        assert!(!m("*.example.com", "a.example.org"));
        assert!(m("web?", "web1"));
        assert!(!m("web?", "web12"));
        assert!(m("web[12]", "web2"));
        assert!(!m("web[!12]", "web2"));
        assert!(m("web[!12]", "web3"));
        assert!(m("web[a-c]", "webb"));
        assert!(m("a[", "a["));
        assert!(m("a+b", "a+b"));
        assert!(!m("web", "web1"));
        assert!(m("~web\\d+", "web12"));
        assert!(m("~web\\d+", "web12x"));
        assert!(!m("~web\\d+", "xweb12"));
        assert!(Matcher::new("~web(").is_err());
    }
}
