//! Version comparison for the `version`/`version_compare` test: Python's LooseVersion and StrictVersion.

use std::cmp::Ordering;

/// One LooseVersion component: a number or a run of other characters.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Num(u128),
    Text(String),
}

/// LooseVersion splits on `\d+|[a-z]+|\.`, keeps the text between matches too, and drops dots.
fn loose_parts(v: &str) -> Vec<Part> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Digit,
        Lower,
        Dot,
        Other,
    }
    let class = |c: char| {
        if c.is_ascii_digit() {
            Class::Digit
        } else if c.is_ascii_lowercase() {
            Class::Lower
        } else if c == '.' {
            Class::Dot
        } else {
            Class::Other
        }
    };
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut current_class = None;
    let mut flush = |text: &mut String, cls: Option<Class>| {
        if text.is_empty() {
            return;
        }
        match cls {
            Some(Class::Digit) => parts.push(match text.parse::<u128>() {
                Ok(n) => Part::Num(n),
                Err(_) => Part::Text(text.clone()),
            }),
            Some(Class::Dot) | None => {}
            Some(_) => parts.push(Part::Text(text.clone())),
        }
        text.clear();
    };
    for c in v.chars() {
        let cls = class(c);
        // Dots are single-character matches; other classes form runs.
        if Some(cls) != current_class || cls == Class::Dot {
            flush(&mut current, current_class);
            current_class = Some(cls);
        }
        current.push(c);
    }
    flush(&mut current, current_class);
    parts
}

/// Python list comparison of LooseVersion components; mixing a number and text where they
/// differ is Python's TypeError, reported as an error as Ansible does.
fn compare_loose(a: &str, b: &str) -> Result<Ordering, String> {
    let (pa, pb) = (loose_parts(a), loose_parts(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        match (x, y) {
            (Part::Num(m), Part::Num(n)) if m != n => return Ok(m.cmp(n)),
            (Part::Text(s), Part::Text(t)) if s != t => return Ok(s.cmp(t)),
            (Part::Num(_), Part::Text(_)) | (Part::Text(_), Part::Num(_)) => {
                return Err(format!(
                    "'<' not supported between instances of '{}' and '{}'",
                    part_type(x),
                    part_type(y)
                ))
            }
            _ => {}
        }
    }
    Ok(pa.len().cmp(&pb.len()))
}

fn part_type(p: &Part) -> &'static str {
    match p {
        Part::Num(_) => "int",
        Part::Text(_) => "str",
    }
}

/// A StrictVersion: (major, minor, patch) and an optional pre-release (`a`/`b`, number).
type StrictKey = ((u64, u64, u64), Option<(char, u64)>);

/// StrictVersion: `N.N[.N][(a|b)N]`.
fn strict_key(v: &str) -> Result<StrictKey, String> {
    let invalid = || format!("invalid version number '{v}'");
    let (main, pre) = match v.find(['a', 'b']) {
        Some(i) => (&v[..i], Some(&v[i..])),
        None => (v, None),
    };
    let nums: Vec<&str> = main.split('.').collect();
    if !(2..=3).contains(&nums.len()) {
        return Err(invalid());
    }
    let mut parsed = [0u64; 3];
    for (slot, n) in parsed.iter_mut().zip(nums.iter()) {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        *slot = n.parse().map_err(|_| invalid())?;
    }
    let pre = match pre {
        None => None,
        Some(p) => {
            let letter = p.chars().next().ok_or_else(invalid)?;
            let digits = &p[1..];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            Some((letter, digits.parse().map_err(|_| invalid())?))
        }
    };
    Ok(((parsed[0], parsed[1], parsed[2]), pre))
}

fn compare_strict(a: &str, b: &str) -> Result<Ordering, String> {
    let (ka, kb) = (strict_key(a)?, strict_key(b)?);
    Ok(ka.0.cmp(&kb.0).then_with(|| match (ka.1, kb.1) {
        (None, None) => Ordering::Equal,
        // A release sorts after its pre-releases.
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }))
}

/// Semantic versions (`semver`/`semantic` version_type): numeric core, pre-release identifiers
/// compared per semver 2.0, build metadata ignored.
fn compare_semver(a: &str, b: &str) -> Result<Ordering, String> {
    fn parse(v: &str) -> Result<(Vec<u64>, Option<Vec<String>>), String> {
        let v = v.split('+').next().unwrap_or(v);
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p.split('.').map(str::to_string).collect())),
            None => (v, None),
        };
        let nums = core
            .split('.')
            .map(|n| n.parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("invalid semantic version '{v}'"))?;
        if nums.len() != 3 {
            return Err(format!("invalid semantic version '{v}'"));
        }
        Ok((nums, pre))
    }
    let (ca, pa) = parse(a)?;
    let (cb, pb) = parse(b)?;
    Ok(ca.cmp(&cb).then_with(|| match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            for (i, j) in x.iter().zip(y.iter()) {
                let ord = match (i.parse::<u64>(), j.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => i.cmp(j),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            x.len().cmp(&y.len())
        }
    }))
}

/// Ansible's `version_compare(value, version, operator='eq', strict=None, version_type=None)`.
pub fn version_compare(
    value: &str,
    version: &str,
    operator: &str,
    strict: bool,
    version_type: Option<&str>,
) -> Result<bool, String> {
    if value.is_empty() {
        return Err("Input version value cannot be empty".into());
    }
    if version.is_empty() {
        return Err("Version parameter to compare against cannot be empty".into());
    }
    let op = match operator {
        "==" | "=" | "eq" => "eq",
        "<" | "lt" => "lt",
        "<=" | "le" => "le",
        ">" | "gt" => "gt",
        ">=" | "ge" => "ge",
        "!=" | "<>" | "ne" => "ne",
        other => {
            return Err(format!(
                "Invalid operator type ({other}). Must be one of '==', '=', 'eq', '<', 'lt', '<=', 'le', '>', 'gt', '>=', 'ge', '!=', '<>', 'ne'"
            ))
        }
    };
    let kind = match (strict, version_type) {
        (true, Some(_)) => return Err("Cannot specify both 'strict' and 'version_type'".into()),
        (true, None) => "strict",
        (false, None) => "loose",
        (false, Some(t)) => t,
    };
    let ordering = match kind {
        "loose" => compare_loose(value, version),
        "strict" => compare_strict(value, version),
        "semver" | "semantic" => compare_semver(value, version),
        "pep440" => return Err("The pep440 version_type is not supported".into()),
        other => {
            return Err(format!(
                "Invalid version type ({other}). Must be one of 'loose', 'strict', 'semver', 'semantic', 'pep440'"
            ))
        }
    }
    .map_err(|e| format!("Version comparison failed: {e}"))?;
    Ok(match op {
        "eq" => ordering == Ordering::Equal,
        "ne" => ordering != Ordering::Equal,
        "lt" => ordering == Ordering::Less,
        "le" => ordering != Ordering::Greater,
        "gt" => ordering == Ordering::Greater,
        _ => ordering != Ordering::Less,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, op: &str, b: &str) -> bool {
        version_compare(a, b, op, false, None).unwrap_or(false)
    }

    #[test]
    fn loose_versions() {
        assert!(cmp("1.10", ">", "1.9"));
        assert!(cmp("1.2.3", "==", "1.2.3"));
        assert!(cmp("2.0", ">=", "2.0"));
        assert!(cmp("12.04", "<", "14.04"));
        assert!(cmp("1.0", "<", "1.0.1"));
        assert!(cmp("5.4.0-rc1", "!=", "5.4.0"));
        assert!(cmp("1.2a", "<", "1.2b"));
        assert!(version_compare("1.0", "1.a", "lt", false, None).is_err());
    }

    #[test]
    fn strict_versions() {
        assert!(version_compare("1.0a1", "1.0", "lt", true, None).unwrap_or(false));
        assert!(version_compare("1.0.1", "1.0", "gt", true, None).unwrap_or(false));
        assert!(version_compare("1.0-x", "1.0", "gt", true, None).is_err());
    }

    #[test]
    fn semantic_versions() {
        assert!(
            version_compare("1.0.0-alpha", "1.0.0", "lt", false, Some("semver")).unwrap_or(false)
        );
        assert!(version_compare(
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "lt",
            false,
            Some("semver")
        )
        .unwrap_or(false));
    }

    #[test]
    fn bad_operator_is_an_error() {
        assert!(version_compare("1", "2", "~", false, None).is_err());
    }
}
