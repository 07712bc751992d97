//! Ansible inventories for tend: loading (`-i` files, directories, host lists), host patterns,
//! and the inventory part of variable precedence (group/host vars, `group_vars/`, `host_vars/`).
//!
//! Behaviour follows ansible-core's `InventoryManager`, `InventoryData`, the `yaml`, `ini`,
//! `script` and `host_list` inventory plugins and the `host_group_vars` vars plugin, including
//! the implicit `localhost` that exists only when a pattern names it.

mod address;
mod data;
mod error;
mod ini_format;
mod pattern;
mod pyliteral;
mod script_format;
mod shlex;
mod source;
mod yaml_format;

use std::path::Path;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::data::{InventoryData, ALL, LOCALHOST_NAMES};
use crate::source::DirVars;

pub use crate::address::is_ip_address;
pub use crate::error::InventoryError;

/// One inventory host.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    /// Variables set on the host itself: inline vars, `ansible_port` from `name:port`, and the
    /// `inventory_file`/`inventory_dir` Ansible records. Group vars are not included; see
    /// [`Inventory::host_vars`] for the merged view.
    pub vars: Map<String, Value>,
    /// Every group the host belongs to, directly or through a child group, including `all`
    /// (and `ungrouped` when it applies), in inventory group order. Empty for the implicit
    /// localhost.
    pub groups: Vec<String>,
    /// True for the implicit localhost, which Ansible invents when a pattern names `localhost`
    /// (or `127.0.0.1`, `::1`) and the inventory does not define it. It is in no group, not
    /// even `all`.
    pub implicit: bool,
}

/// A loaded inventory: hosts, groups, their variables and the `group_vars/`/`host_vars/` found
/// next to the sources.
#[derive(Debug, Clone)]
pub struct Inventory {
    data: InventoryData,
    /// One entry per file or directory source, in `-i` order.
    dir_vars: Vec<DirVars>,
    /// The implicit hosts for each of [`LOCALHOST_NAMES`].
    implicit: Vec<Host>,
}

impl Inventory {
    fn assemble(mut data: InventoryData, dir_vars: Vec<DirVars>) -> Inventory {
        data.reconcile();
        let implicit = LOCALHOST_NAMES
            .iter()
            .map(|name| {
                let mut vars = Map::new();
                vars.insert("ansible_connection".into(), Value::from("local"));
                Host {
                    name: (*name).to_string(),
                    vars,
                    groups: Vec::new(),
                    implicit: true,
                }
            })
            .collect();
        Inventory {
            data,
            dir_vars,
            implicit,
        }
    }

    /// An inventory with no hosts (only the implicit localhost is reachable).
    pub fn empty() -> Inventory {
        Inventory::assemble(InventoryData::new(), Vec::new())
    }

    /// Loads one `-i` argument: a YAML file (`.yml`/`.yaml`/`.json`, or any file shaped like a
    /// YAML inventory), an INI file, an executable inventory script (a file with an executable
    /// bit that starts with `#!`, run with `--list` and, without `_meta.hostvars`, `--host`),
    /// a directory of any of these (hidden files, `group_vars`/`host_vars`, and `~`, `.orig`,
    /// `.bak`, `.retry`, `.pyc`, ... are skipped), or a comma-separated host list such as
    /// `web1,web2,` (when no such path exists).
    /// `group_vars/` and `host_vars/` next to a file (or inside a directory) are loaded too.
    pub fn load(source: &str) -> Result<Inventory, InventoryError> {
        Inventory::load_many(&[source.to_string()])
    }

    /// Loads several `-i` arguments into one inventory, in order; later sources add hosts,
    /// groups and memberships and override variables of earlier ones.
    pub fn load_many(sources: &[String]) -> Result<Inventory, InventoryError> {
        let mut data = InventoryData::new();
        let mut bases = Vec::new();
        for source in sources.iter().filter(|s| !s.is_empty()) {
            if let Some(base) = source::load_source(&mut data, source)? {
                bases.push(base);
            }
        }
        let dir_vars = bases
            .iter()
            .map(|base| source::load_dir_vars(base, &data))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Inventory::assemble(data, dir_vars))
    }

    /// Adds the `group_vars/` and `host_vars/` beside a playbook. Ansible ranks them just
    /// above the inventory's own (`group_vars/all` above the inventory's `all`, and so on),
    /// which is where appending them to the per-source list puts them.
    pub fn add_playbook_vars_dir(&mut self, dir: &Path) -> Result<(), InventoryError> {
        if !dir.join("group_vars").is_dir() && !dir.join("host_vars").is_dir() {
            return Ok(());
        }
        let vars = source::load_dir_vars(dir, &self.data)?;
        self.dir_vars.push(vars);
        Ok(())
    }

    /// Parses a YAML inventory held in memory. `origin` names it in errors and becomes the
    /// hosts' `inventory_file`; no `group_vars/`/`host_vars/` are read.
    pub fn from_yaml_str(src: &str, origin: &Path) -> Result<Inventory, InventoryError> {
        let root = tend_yaml::load_one(src)
            .map_err(|e| InventoryError::at_span(origin, e.span, e.message).with_source(src))?;
        let mut data = InventoryData::new();
        data.set_current_file(origin);
        yaml_format::parse(&mut data, &root, origin).map_err(|e| e.with_source(src))?;
        Ok(Inventory::assemble(data, Vec::new()))
    }

    /// Parses an INI inventory held in memory. `origin` names it in errors and becomes the
    /// hosts' `inventory_file`; no `group_vars/`/`host_vars/` are read.
    pub fn from_ini_str(src: &str, origin: &Path) -> Result<Inventory, InventoryError> {
        let mut data = InventoryData::new();
        data.set_current_file(origin);
        ini_format::parse(&mut data, src, origin).map_err(|e| e.with_source(src))?;
        Ok(Inventory::assemble(data, Vec::new()))
    }

    /// Host names matching an Ansible host pattern, in inventory order, without duplicates.
    ///
    /// Supports `all`/`*`, host and group names, globs (`web*`), regexes (`~web\d+`),
    /// subscripts (`web[0]`, `web[-1]`, `web[0:2]` inclusive, `web[1:]`), unions (`a:b`,
    /// `a,b`), intersections (`a:&b`) and exclusions (`a:!b`), applied in Ansible's order:
    /// unions, then intersections, then exclusions. A pattern that matches nothing yields an
    /// empty list; errors are an invalid regex, or (as in Ansible) a subscript past the end
    /// of a non-empty match.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, InventoryError> {
        pattern::evaluate(self, &pattern::split_host_pattern(pattern))
    }

    /// [`Inventory::select`] restricted by a `--limit` pattern (which may name `@file`s
    /// holding one pattern per line), as `ansible-playbook --limit` applies it.
    pub fn select_with_limit(
        &self,
        pattern: &str,
        limit: Option<&str>,
    ) -> Result<Vec<String>, InventoryError> {
        let hosts = self.select(pattern)?;
        let Some(limit) = limit else {
            return Ok(hosts);
        };
        let mut subset = Vec::new();
        for part in pattern::split_host_pattern(limit) {
            match part.strip_prefix('@') {
                Some(file) => {
                    let text =
                        std::fs::read_to_string(file).map_err(|e| InventoryError::io(file, e))?;
                    subset.extend(text.split('\n').map(|l| l.trim().to_string()));
                }
                None => subset.push(part),
            }
        }
        let allowed: std::collections::HashSet<String> =
            pattern::evaluate(self, &subset)?.into_iter().collect();
        Ok(hosts.into_iter().filter(|h| allowed.contains(h)).collect())
    }

    /// A host by name. A localhost alias that the inventory does not define resolves as in
    /// [`Inventory::resolve_implicit_localhost`].
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.data
            .hosts
            .get(name)
            .or_else(|| self.resolve_implicit_localhost(name))
    }

    /// What Ansible uses for `name` when it is a localhost alias (`localhost`, `127.0.0.1`,
    /// `::1`) missing from the inventory: the first localhost alias the inventory does define,
    /// else the implicit localhost (`ansible_connection: local`, in no group). `None` for
    /// other names and for aliases the inventory defines itself.
    pub fn resolve_implicit_localhost(&self, name: &str) -> Option<&Host> {
        if self.data.hosts.contains_key(name) {
            return None;
        }
        let pos = LOCALHOST_NAMES.iter().position(|n| *n == name)?;
        match self.data.localhost {
            Some(idx) => self.data.hosts.get_index(idx).map(|(_, h)| h),
            None => self.implicit.get(pos),
        }
    }

    /// Every inventory host in definition order (never the implicit localhost).
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.data.hosts.values()
    }

    /// The inventory variables of a host, merged in Ansible's order (each later layer wins
    /// per top-level key):
    ///
    /// 1. group `all` vars from the inventory files;
    /// 2. every other group of the host from the inventory files, parents before children
    ///    (sorted by depth, then `ansible_group_priority`, then name);
    /// 3. `group_vars/all` next to each source;
    /// 4. `group_vars/<group>` for those groups in the same order;
    /// 5. the host's own inventory vars;
    /// 6. `host_vars/<host>`.
    ///
    /// Magic variables (`inventory_hostname`, `group_names`, `groups`, ...) are not included.
    /// Unknown hosts give an empty map.
    pub fn host_vars(&self, host: &str) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(h) = self.host(host) else {
            return out;
        };
        let groups: Vec<usize> = match self.data.hosts.get_index_of(&h.name) {
            Some(idx) if !h.implicit => self
                .data
                .sorted_groups(self.data.host_group_closure(idx))
                .into_iter()
                .filter(|&g| g != ALL)
                .collect(),
            _ => Vec::new(),
        };
        let merge = |out: &mut Map<String, Value>, vars: Option<&Map<String, Value>>| {
            if let Some(vars) = vars {
                for (k, v) in vars {
                    out.insert(k.clone(), v.clone());
                }
            }
        };
        merge(&mut out, Some(&self.data.groups[ALL].vars));
        for &g in &groups {
            merge(&mut out, Some(&self.data.groups[g].vars));
        }
        for dv in &self.dir_vars {
            merge(&mut out, dv.groups.get("all"));
        }
        for dv in &self.dir_vars {
            for &g in &groups {
                merge(&mut out, dv.groups.get(&self.data.groups[g].name));
            }
        }
        merge(&mut out, Some(&h.vars));
        for dv in &self.dir_vars {
            merge(&mut out, dv.hosts.get(&h.name));
        }
        out
    }

    /// The `group_names` magic variable: the host's groups (direct and inherited), sorted,
    /// without `all`. Like Ansible this keeps `ungrouped` for hosts in no other group.
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let Some(h) = self.host(host) else {
            return Vec::new();
        };
        let mut names: Vec<String> = h.groups.iter().filter(|g| *g != "all").cloned().collect();
        names.sort();
        names
    }

    /// The `groups` magic variable: every group, `all` and `ungrouped` included, with its
    /// hosts (members of child groups too) in inventory order.
    pub fn groups(&self) -> IndexMap<String, Vec<String>> {
        self.data
            .groups
            .iter()
            .enumerate()
            .map(|(idx, (name, _))| {
                let hosts = self
                    .data
                    .group_hosts(idx)
                    .into_iter()
                    .map(|h| self.data.hosts[h].name.clone())
                    .collect();
                (name.clone(), hosts)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
