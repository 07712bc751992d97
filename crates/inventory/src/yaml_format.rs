//! The YAML inventory format (Ansible's `yaml` inventory plugin): top-level groups, each with
//! optional `hosts`, `vars` and `children`, nested to any depth.

use std::path::Path;

use serde_json::Value;
use tend_yaml::{Node, NodeKind};

use crate::address::expand_hostpattern;
use crate::data::InventoryData;
use crate::InventoryError;

const GROUP_KEYS: [&str; 3] = ["hosts", "vars", "children"];

/// True when `root` has the shape of a YAML inventory: a mapping whose values are all
/// mappings or empty. Used to tell YAML from INI for files without a telling extension.
pub(crate) fn looks_like_inventory(root: &Node) -> bool {
    match &root.kind {
        NodeKind::Map(pairs) => pairs
            .iter()
            .all(|(_, v)| matches!(v.kind, NodeKind::Map(_) | NodeKind::Null)),
        _ => false,
    }
}

/// Adds the groups, hosts and variables of the YAML document `root` to `data`.
pub(crate) fn parse(
    data: &mut InventoryData,
    root: &Node,
    file: &Path,
) -> Result<(), InventoryError> {
    let pairs = match &root.kind {
        // Ansible refuses an empty file but then lets the INI plugin read it as empty.
        NodeKind::Null => return Ok(()),
        NodeKind::Map(pairs) => pairs,
        other => {
            return Err(InventoryError::at_span(
                file,
                root.span,
                format!(
                    "a YAML inventory must be a mapping of group names, found {}",
                    other.type_name()
                ),
            ))
        }
    };
    if let Some(plugin) = root.get("plugin") {
        return Err(InventoryError::at_span(
            file,
            plugin.span,
            "inventory plugin configuration files (`plugin:`) are not supported; \
             list hosts and groups instead",
        ));
    }
    let mut parser = YamlInventory { data, file };
    for (key, value) in pairs {
        let name = parser.name(key, "group")?;
        parser.group(&name, value)?;
    }
    Ok(())
}

struct YamlInventory<'a> {
    data: &'a mut InventoryData,
    file: &'a Path,
}

impl YamlInventory<'_> {
    fn err(&self, node: &Node, message: impl Into<String>) -> InventoryError {
        InventoryError::at_span(self.file, node.span, message)
    }

    /// A group or host name: Ansible requires a string.
    fn name(&self, key: &Node, what: &str) -> Result<String, InventoryError> {
        match &key.kind {
            NodeKind::Str(s) if !s.is_empty() => Ok(s.clone()),
            NodeKind::Str(_) => Err(self.err(key, format!("{what} name must not be empty"))),
            other => Err(self.err(
                key,
                format!(
                    "{what} name must be a string, found {} (quote it)",
                    other.type_name()
                ),
            )),
        }
    }

    /// A variable name: non-string keys become Python's `str()` of the key, as `to_json` does.
    fn var_name(&self, key: &Node) -> Result<String, InventoryError> {
        match &key.kind {
            NodeKind::Str(s) => Ok(s.clone()),
            NodeKind::Seq(_) | NodeKind::Map(_) => Err(self.err(
                key,
                format!("variable name must be a scalar, found {}", key.type_name()),
            )),
            _ => {
                let wrapped = Node::new(NodeKind::Map(vec![(key.clone(), key.clone())]), key.span);
                match wrapped.to_json() {
                    Value::Object(map) => map
                        .keys()
                        .next()
                        .cloned()
                        .ok_or_else(|| self.err(key, "variable name cannot be converted")),
                    _ => Err(self.err(key, "variable name cannot be converted")),
                }
            }
        }
    }

    /// The entries of a `hosts`/`vars`/`children` section. A bare string is shorthand for a
    /// single entry (Ansible converts `hosts: web1` to `{web1: null}`).
    fn section<'n>(
        &self,
        group: &str,
        section: &str,
        value: &'n Node,
    ) -> Result<Vec<(&'n Node, Option<&'n Node>)>, InventoryError> {
        match &value.kind {
            NodeKind::Null => Ok(Vec::new()),
            NodeKind::Str(_) => Ok(vec![(value, None)]),
            NodeKind::Map(pairs) => Ok(pairs.iter().map(|(k, v)| (k, Some(v))).collect()),
            NodeKind::Seq(_) if section != "vars" => Err(self.err(
                value,
                format!(
                    "`{section}` of group `{group}` must be a mapping, found a sequence \
                     (write each entry as `name:` on its own line, without `- `)"
                ),
            )),
            other => Err(self.err(
                value,
                format!(
                    "`{section}` of group `{group}` must be a mapping, found {}",
                    other.type_name()
                ),
            )),
        }
    }

    fn group(&mut self, name: &str, value: &Node) -> Result<usize, InventoryError> {
        let pairs = match &value.kind {
            NodeKind::Null => &[][..],
            NodeKind::Map(pairs) => pairs.as_slice(),
            other => {
                return Err(self.err(
                    value,
                    format!(
                        "group `{name}` must be a mapping with `hosts`, `vars` or `children` \
                         (or empty), found {}",
                        other.type_name()
                    ),
                ))
            }
        };
        let group = self.data.add_group(name);
        for (section_key, section_value) in pairs {
            let section = match section_key.as_str() {
                Some(s) if GROUP_KEYS.contains(&s) => s,
                _ => return Err(self.unknown_key(name, section_key)),
            };
            let entries = self.section(name, section, section_value)?;
            match section {
                "vars" => {
                    for (k, v) in entries {
                        let var = self.var_name(k)?;
                        let value = v.map_or(Value::Null, Node::to_json);
                        self.data
                            .set_group_var(group, &var, value)
                            .map_err(|m| self.err(v.unwrap_or(k), m))?;
                    }
                }
                "children" => {
                    for (k, v) in entries {
                        let child_name = self.name(k, "group")?;
                        let null = Node::new(NodeKind::Null, k.span);
                        let child = self.group(&child_name, v.unwrap_or(&null))?;
                        self.data
                            .add_child_group(group, child)
                            .map_err(|m| self.err(k, m))?;
                    }
                }
                _ => {
                    for (k, v) in entries {
                        self.hosts(group, k, v)?;
                    }
                }
            }
        }
        Ok(group)
    }

    fn hosts(
        &mut self,
        group: usize,
        key: &Node,
        value: Option<&Node>,
    ) -> Result<(), InventoryError> {
        let pattern = self.name(key, "host")?;
        let (names, port) = expand_hostpattern(&pattern).map_err(|m| self.err(key, m))?;
        let vars: &[(Node, Node)] = match value.map(|v| (&v.kind, v)) {
            None | Some((NodeKind::Null, _)) => &[],
            Some((NodeKind::Map(pairs), _)) => pairs,
            Some((other, node)) => {
                return Err(self.err(
                    node,
                    format!(
                        "variables of host `{pattern}` must be a mapping, found {}",
                        other.type_name()
                    ),
                ))
            }
        };
        let mut resolved = Vec::with_capacity(vars.len());
        for (k, v) in vars {
            resolved.push((self.var_name(k)?, v.to_json()));
        }
        for name in names {
            let host = self.data.add_host(&name, Some(group), port);
            for (k, v) in &resolved {
                self.data.set_host_var(host, k, v.clone());
            }
        }
        Ok(())
    }

    fn unknown_key(&self, group: &str, key: &Node) -> InventoryError {
        let shown = match &key.kind {
            NodeKind::Str(s) => s.clone(),
            _ => format!("{:?}", key.to_json()),
        };
        let suggestion = GROUP_KEYS
            .iter()
            .map(|k| (strsim::jaro_winkler(k, &shown), *k))
            .filter(|(score, _)| *score >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        self.err(
            key,
            format!(
                "group `{group}` has unknown key `{shown}` (a group holds only `hosts`, \
                 `vars` and `children`){suggestion}"
            ),
        )
    }
}
