//! Controller paths as Ansible resolves them for lookups: the role and playbook search path, `~`,
//! `os.path` normalisation, and Python's `glob`.

use std::path::{Path, PathBuf};

use super::Scope;

/// Where relative lookup paths are searched (`find_file_in_search_path`).
pub struct SearchPath {
    /// `ansible_search_path` when set, else the role's directory, else the playbook's.
    pub paths: Vec<PathBuf>,
    /// The playbook directory (the loader's basedir), searched last; the current directory when
    /// no playbook directory is known.
    pub basedir: PathBuf,
}

impl SearchPath {
    pub fn new(scope: &Scope<'_>) -> SearchPath {
        let basedir = scope
            .string_var("playbook_dir")
            .map(PathBuf::from)
            .unwrap_or_else(current_dir);
        let from_var: Vec<PathBuf> = match scope.json_var("ansible_search_path") {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|p| p.as_str().map(PathBuf::from))
                .collect(),
            _ => Vec::new(),
        };
        let paths = if !from_var.is_empty() {
            from_var
        } else if let Some(role) = scope.string_var("role_path") {
            vec![PathBuf::from(role)]
        } else {
            vec![basedir.clone()]
        };
        SearchPath { paths, basedir }
    }

    /// The candidates for `needle`, in Ansible's order (`path_dwim_relative_stack`): each
    /// search directory's `subdir` then the directory itself, then the same in the basedir.
    pub fn candidates(&self, subdir: Option<&str>, needle: &str) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        // A needle that already starts with the subdirectory (`files/x`) is not nested again.
        let first = needle.split('/').next().unwrap_or_default();
        let mut push = |p: PathBuf| {
            if !out.contains(&p) {
                out.push(p);
            }
        };
        for dir in self.paths.iter().chain(std::iter::once(&self.basedir)) {
            if let Some(sub) = subdir {
                if first != sub {
                    push(dir.join(sub).join(needle));
                }
            }
            push(dir.join(needle));
        }
        out
    }

    /// Finds `needle` (absolute, `~`, or relative to the search path); `Err` lists what was tried.
    pub fn find(&self, subdir: Option<&str>, needle: &str) -> Result<PathBuf, Vec<PathBuf>> {
        if needle.starts_with('/') || needle.starts_with('~') {
            let path = PathBuf::from(normpath(&expanduser(needle)));
            return if path.exists() {
                Ok(path)
            } else {
                Err(vec![path])
            };
        }
        let candidates = self.candidates(subdir, needle);
        match candidates.iter().find(|p| p.exists()) {
            Some(found) => Ok(found.clone()),
            None => Err(candidates),
        }
    }
}

pub fn current_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// `os.path.expanduser` for `~` and `~/…`.
pub fn expanduser(p: &str) -> String {
    crate::filters::expanduser(p)
}

/// `os.path.normpath`.
pub fn normpath(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    // POSIX keeps exactly two leading slashes; one or three and more become one.
    let lead = if p.starts_with("//") && !p.starts_with("///") {
        "//"
    } else if p.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if lead.is_empty() {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    let out = format!("{lead}{joined}");
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

/// `os.path.abspath`: absolute against the current directory, normalised, links untouched.
pub fn abspath(p: &str) -> String {
    if p.starts_with('/') {
        normpath(p)
    } else {
        normpath(&current_dir().join(p).to_string_lossy())
    }
}

/// Ansible's `unfrackpath(path, follow=False)`: `~` expanded, absolute, normalised.
pub fn unfrack(p: &Path) -> String {
    abspath(&expanduser(&p.to_string_lossy()))
}

/// `glob.glob(pattern)`: wildcards (`*`, `?`, `[…]`) in any component, hidden names matched
/// only by patterns that start with a dot; sorted, where Python leaves directory order.
pub fn glob(pattern: &str) -> Vec<String> {
    let absolute = pattern.starts_with('/');
    let mut current: Vec<String> = vec![if absolute { "/".into() } else { String::new() }];
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    if components.is_empty() {
        return Vec::new();
    }
    for (idx, component) in components.iter().enumerate() {
        let last = idx + 1 == components.len();
        let mut next = Vec::new();
        for base in &current {
            let join = |name: &str| {
                if base.is_empty() {
                    name.to_string()
                } else if base.ends_with('/') {
                    format!("{base}{name}")
                } else {
                    format!("{base}/{name}")
                }
            };
            if !has_magic(component) {
                let candidate = join(component);
                let path = Path::new(&candidate);
                if (last && path.symlink_metadata().is_ok()) || (!last && path.is_dir()) {
                    next.push(candidate);
                }
                continue;
            }
            let dir = if base.is_empty() { "." } else { base.as_str() };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.') || component.starts_with('.'))
                .filter(|name| fnmatch(component, name))
                .collect();
            names.sort();
            for name in names {
                let candidate = join(&name);
                if last || Path::new(&candidate).is_dir() {
                    next.push(candidate);
                }
            }
        }
        current = next;
    }
    current
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// `fnmatch.fnmatchcase(name, pattern)`.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|skip| match_from(&p[1..], &n[skip..])),
        Some('?') => !n.is_empty() && match_from(&p[1..], &n[1..]),
        Some('[') => match (class_end(p), n.first()) {
            (Some(end), Some(c)) => {
                class_matches(&p[1..end], *c) && match_from(&p[end + 1..], &n[1..])
            }
            // An unclosed `[` is a literal character.
            (None, Some('[')) => match_from(&p[1..], &n[1..]),
            _ => false,
        },
        Some(c) => n.first() == Some(c) && match_from(&p[1..], &n[1..]),
    }
}

/// Index of the `]` closing the class that starts at `p[0]`.
fn class_end(p: &[char]) -> Option<usize> {
    let mut i = 1;
    if p.get(i) == Some(&'!') {
        i += 1;
    }
    if p.get(i) == Some(&']') {
        i += 1;
    }
    while i < p.len() {
        if p[i] == ']' {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn class_matches(class: &[char], c: char) -> bool {
    let (negate, body) = match class.first() {
        Some('!') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut found = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            if body[i] <= c && c <= body[i + 2] {
                found = true;
            }
            i += 3;
        } else {
            if body[i] == c {
                found = true;
            }
            i += 1;
        }
    }
    found != negate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_follows_posixpath() {
        assert_eq!(normpath("/a/./b/../c//"), "/a/c");
        assert_eq!(normpath("a/../../b"), "../b");
        assert_eq!(normpath("/../a"), "/a");
        assert_eq!(normpath("//a"), "//a");
        assert_eq!(normpath("///a"), "/a");
        assert_eq!(normpath(""), ".");
        assert_eq!(normpath("a/.."), ".");
    }

    #[test]
    fn fnmatch_follows_python() {
        assert!(fnmatch("*.txt", "a.txt"));
        assert!(!fnmatch("*.txt", "a.txt.bak"));
        assert!(fnmatch("f?o[0-9]", "foo7"));
        assert!(fnmatch("[!a]x", "bx"));
        assert!(!fnmatch("[!a]x", "ax"));
        assert!(fnmatch("[]]", "]"));
        assert!(fnmatch("a[", "a["));
    }

    #[test]
    fn candidates_put_the_subdirectory_first() {
        let sp = SearchPath {
            paths: vec![PathBuf::from("/role")],
            basedir: PathBuf::from("/play"),
        };
        assert_eq!(
            sp.candidates(Some("files"), "a.txt"),
            vec![
                PathBuf::from("/role/files/a.txt"),
                PathBuf::from("/role/a.txt"),
                PathBuf::from("/play/files/a.txt"),
                PathBuf::from("/play/a.txt"),
            ]
        );
        assert_eq!(
            sp.candidates(Some("files"), "files/a.txt"),
            vec![
                PathBuf::from("/role/files/a.txt"),
                PathBuf::from("/play/files/a.txt"),
            ]
        );
    }
}
