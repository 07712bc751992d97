//! The mutable inventory model the parsers fill in, with Ansible's `InventoryData` rules:
//! group/host registration, child links with loop detection, `ansible_group_priority`,
//! and the final `reconcile_inventory` pass (`all` and `ungrouped` membership, group depth).

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::Host;

/// Host names Ansible treats as the controller (`C.LOCALHOST`).
pub(crate) const LOCALHOST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) vars: Map<String, Value>,
    pub(crate) priority: i64,
    pub(crate) children: Vec<usize>,
    pub(crate) parents: Vec<usize>,
    /// Hosts added to this group directly, in the order they were added.
    pub(crate) hosts: Vec<usize>,
    /// Longest path from `all`; computed by [`InventoryData::reconcile`].
    pub(crate) depth: usize,
}

impl Group {
    fn new(name: &str) -> Group {
        Group {
            name: name.to_string(),
            vars: Map::new(),
            priority: 1,
            children: Vec::new(),
            parents: Vec::new(),
            hosts: Vec::new(),
            depth: 0,
        }
    }
}

pub(crate) const ALL: usize = 0;
pub(crate) const UNGROUPED: usize = 1;

/// Where the host currently being added comes from (sets `inventory_file`/`inventory_dir`).
#[derive(Debug, Clone)]
pub(crate) enum CurrentSource {
    None,
    File(PathBuf),
    /// A comma-separated `-i` host list.
    List(String),
}

#[derive(Debug, Clone)]
pub(crate) struct InventoryData {
    pub(crate) groups: IndexMap<String, Group>,
    pub(crate) hosts: IndexMap<String, Host>,
    /// Direct group memberships of each host (indices into `groups`).
    pub(crate) host_groups: Vec<Vec<usize>>,
    /// First localhost-like host defined in the inventory; patterns naming any localhost alias
    /// resolve to it instead of an implicit localhost.
    pub(crate) localhost: Option<usize>,
    pub(crate) current_source: CurrentSource,
}

impl InventoryData {
    pub(crate) fn new() -> InventoryData {
        let mut data = InventoryData {
            groups: IndexMap::new(),
            hosts: IndexMap::new(),
            host_groups: Vec::new(),
            localhost: None,
            current_source: CurrentSource::None,
        };
        data.add_group("all");
        data.add_group("ungrouped");
        data.link(ALL, UNGROUPED);
        data
    }

    pub(crate) fn add_group(&mut self, name: &str) -> usize {
        if let Some(idx) = self.groups.get_index_of(name) {
            return idx;
        }
        self.groups
            .insert_full(name.to_string(), Group::new(name))
            .0
    }

    pub(crate) fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.get_index_of(name)
    }

    /// Adds `host` (if new) and puts it in `group`. A port only applies when the host is new,
    /// as in Ansible, where it is a constructor argument.
    pub(crate) fn add_host(
        &mut self,
        name: &str,
        group: Option<usize>,
        port: Option<u64>,
    ) -> usize {
        let idx = match self.hosts.get_index_of(name) {
            Some(idx) => idx,
            None => {
                let mut vars = Map::new();
                if let Some(port) = port {
                    vars.insert("ansible_port".into(), Value::from(port));
                }
                let (file, dir) = match &self.current_source {
                    CurrentSource::None => (Value::Null, Value::Null),
                    CurrentSource::File(path) => (
                        Value::String(path.display().to_string()),
                        path.parent()
                            .map_or(Value::Null, |d| Value::String(d.display().to_string())),
                    ),
                    CurrentSource::List(list) => (Value::String(list.clone()), Value::Null),
                };
                vars.insert("inventory_file".into(), file);
                vars.insert("inventory_dir".into(), dir);
                let host = Host {
                    name: name.to_string(),
                    vars,
                    groups: Vec::new(),
                    implicit: false,
                };
                let idx = self.hosts.insert_full(name.to_string(), host).0;
                self.host_groups.push(Vec::new());
                if self.localhost.is_none() && LOCALHOST_NAMES.contains(&name) {
                    self.localhost = Some(idx);
                }
                idx
            }
        };
        if let Some(group) = group {
            self.add_host_to_group(group, idx);
        }
        idx
    }

    pub(crate) fn add_host_to_group(&mut self, group: usize, host: usize) {
        if !self.groups[group].hosts.contains(&host) {
            self.groups[group].hosts.push(host);
        }
        if !self.host_groups[host].contains(&group) {
            self.host_groups[host].push(group);
        }
    }

    fn remove_host_from_group(&mut self, group: usize, host: usize) {
        self.groups[group].hosts.retain(|&h| h != host);
        self.host_groups[host].retain(|&g| g != group);
    }

    fn link(&mut self, parent: usize, child: usize) {
        if !self.groups[parent].children.contains(&child) {
            self.groups[parent].children.push(child);
        }
        if !self.groups[child].parents.contains(&parent) {
            self.groups[child].parents.push(parent);
        }
    }

    /// Makes `child` a child group of `parent`, refusing loops as Ansible does.
    pub(crate) fn add_child_group(&mut self, parent: usize, child: usize) -> Result<(), String> {
        if parent == child {
            return Err(format!(
                "group `{}` cannot be a child of itself",
                self.groups[parent].name
            ));
        }
        if self.groups[parent].children.contains(&child) {
            return Ok(());
        }
        // Every group ends up under `all` (`reconcile` links the parentless ones), so `all`
        // below any group is always a loop; Ansible finds it when reconciling.
        if child == ALL {
            return Err(format!(
                "adding group `{}` as a child of `{}` creates a dependency loop",
                self.groups[parent].name, self.groups[child].name
            ));
        }
        if self.ancestors(parent).contains(&child) {
            return Err(format!(
                "adding group `{}` as a child of `{}` creates a dependency loop",
                self.groups[child].name, self.groups[parent].name
            ));
        }
        self.link(parent, child);
        Ok(())
    }

    /// Every group above `group` (not including itself).
    pub(crate) fn ancestors(&self, group: usize) -> HashSet<usize> {
        let mut seen = HashSet::new();
        let mut stack = self.groups[group].parents.clone();
        while let Some(g) = stack.pop() {
            if seen.insert(g) {
                stack.extend(self.groups[g].parents.iter().copied());
            }
        }
        seen
    }

    pub(crate) fn set_group_var(
        &mut self,
        group: usize,
        key: &str,
        value: Value,
    ) -> Result<(), String> {
        if key == "ansible_group_priority" {
            // Ansible keeps this out of the group's vars and applies `int(value)`.
            self.groups[group].priority = python_int(&value).ok_or_else(|| {
                format!("ansible_group_priority must be an integer, found {value}")
            })?;
            return Ok(());
        }
        self.groups[group].vars.insert(key.to_string(), value);
        Ok(())
    }

    pub(crate) fn set_host_var(&mut self, host: usize, key: &str, value: Value) {
        self.hosts[host].vars.insert(key.to_string(), value);
    }

    /// A host's direct groups plus all their ancestors.
    pub(crate) fn host_group_closure(&self, host: usize) -> HashSet<usize> {
        let mut all = HashSet::new();
        for &g in &self.host_groups[host] {
            all.insert(g);
            all.extend(self.ancestors(g));
        }
        all
    }

    /// Ansible's `reconcile_inventory` plus the depth bookkeeping `add_child_group` does.
    pub(crate) fn reconcile(&mut self) {
        for g in 0..self.groups.len() {
            if g != ALL && self.groups[g].parents.is_empty() {
                self.link(ALL, g);
            }
        }
        for h in 0..self.hosts.len() {
            let mine = self.host_group_closure(h);
            if mine.contains(&UNGROUPED) {
                // A parser may have put it in `ungrouped` before seeing a real group.
                if mine.iter().any(|&g| g != ALL && g != UNGROUPED) {
                    self.remove_host_from_group(UNGROUPED, h);
                }
            } else if mine.iter().all(|&g| g == ALL) {
                self.add_host_to_group(UNGROUPED, h);
            }
        }
        let mut depth: Vec<Option<usize>> = vec![None; self.groups.len()];
        for g in 0..self.groups.len() {
            self.groups[g].depth = self.depth_of(g, &mut depth);
        }
        for h in 0..self.hosts.len() {
            let mine = self.host_group_closure(h);
            let groups = (0..self.groups.len())
                .filter(|g| mine.contains(g))
                .map(|g| self.groups[g].name.clone())
                .collect();
            self.hosts[h].groups = groups;
        }
    }

    fn depth_of(&self, g: usize, memo: &mut [Option<usize>]) -> usize {
        if let Some(d) = memo[g] {
            return d;
        }
        // Loops are refused when links are added; the mark keeps a missed one from
        // recursing for ever.
        memo[g] = Some(0);
        let d = self.groups[g]
            .parents
            .iter()
            .map(|&p| self.depth_of(p, memo) + 1)
            .max()
            .unwrap_or(0);
        memo[g] = Some(d);
        d
    }

    /// Ansible's `Group.get_hosts()`: own hosts, then those of children level by level, without
    /// repeats. (Ansible walks each level through a Python set; here a level keeps the order
    /// its groups were reached in, so results are stable.)
    pub(crate) fn group_hosts(&self, group: usize) -> Vec<usize> {
        let mut ordered = vec![group];
        let mut seen: HashSet<usize> = HashSet::from([group]);
        let mut level = vec![group];
        while !level.is_empty() {
            let mut next = Vec::new();
            for &g in &level {
                for &child in &self.groups[g].children {
                    if seen.insert(child) {
                        next.push(child);
                        ordered.push(child);
                    }
                }
            }
            level = next;
        }
        let mut hosts = Vec::new();
        let mut seen_hosts = HashSet::new();
        for g in ordered {
            for &h in &self.groups[g].hosts {
                if seen_hosts.insert(h) {
                    hosts.push(h);
                }
            }
        }
        hosts
    }

    /// Ansible's `sort_groups`: by depth, then `ansible_group_priority`, then name.
    pub(crate) fn sorted_groups(&self, groups: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut groups: Vec<usize> = groups.into_iter().collect();
        groups.sort_by(|&a, &b| {
            let (a, b) = (&self.groups[a], &self.groups[b]);
            (a.depth, a.priority, &a.name).cmp(&(b.depth, b.priority, &b.name))
        });
        groups
    }

    pub(crate) fn set_current_file(&mut self, path: &Path) {
        self.current_source = CurrentSource::File(normalize(path));
    }
}

/// Ansible's `unfrackpath(follow=False)`: absolute and lexically normalised (`.`/`..` folded),
/// without resolving symlinks, so `inventory_file` reads the same however `-i` was spelled.
fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Python's `int(value)` for the JSON values an inventory can hold.
fn python_int(value: &Value) -> Option<i64> {
    match value {
        Value::Bool(b) => Some(i64::from(*b)),
        // int() truncates floats toward zero; the cast saturates out-of-range values.
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_loops() {
        let mut d = InventoryData::new();
        let a = d.add_group("a");
        let b = d.add_group("b");
        let c = d.add_group("c");
        assert!(d.add_child_group(a, b).is_ok());
        assert!(d.add_child_group(b, c).is_ok());
        assert!(d.add_child_group(c, a).is_err());
        assert!(d.add_child_group(a, a).is_err());
    }

    #[test]
    fn depth_is_longest_path() {
        let mut d = InventoryData::new();
        let a = d.add_group("a");
        let b = d.add_group("b");
        let c = d.add_group("c");
        assert!(d.add_child_group(a, b).is_ok());
        assert!(d.add_child_group(b, c).is_ok());
        assert!(d.add_child_group(a, c).is_ok());
        d.reconcile();
        assert_eq!(d.groups[a].depth, 1);
        assert_eq!(d.groups[b].depth, 2);
        assert_eq!(d.groups[c].depth, 3);
        assert_eq!(d.groups[UNGROUPED].depth, 1);
    }

    #[test]
    fn normalizes_source_paths() {
        assert_eq!(
            normalize(Path::new("/a/./b/../c/hosts")),
            PathBuf::from("/a/c/hosts")
        );
    }

    #[test]
    fn priority_parses_like_int() {
        assert_eq!(python_int(&Value::from("10")), Some(10));
        assert_eq!(python_int(&Value::from(2.9)), Some(2));
        assert_eq!(python_int(&Value::from("x")), None);
    }
}
