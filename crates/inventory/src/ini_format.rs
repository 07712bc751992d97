//! The INI inventory format (Ansible's `ini` inventory plugin): `[group]` host lines,
//! `[group:vars]` assignments and `[group:children]` lists, with the plugin's value typing.

use std::path::Path;
use std::sync::LazyLock;

use indexmap::IndexMap;
use regex::Regex;
use serde_json::{Map, Value};

use crate::address::expand_hostpattern;
use crate::data::{InventoryData, UNGROUPED};
use crate::pyliteral::parse_ini_value;
use crate::shlex;
use crate::InventoryError;

static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("static regex, tested")
});

static GROUP_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("static regex, tested"));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Hosts,
    Vars,
    Children,
}

/// A group used before it was declared; Ansible allows forward references within a file and
/// reports the first one still unresolved at the end.
struct Pending {
    line: u32,
    col: u32,
    section: Section,
    parents: Vec<usize>,
}

struct IniParser<'a> {
    data: &'a mut InventoryData,
    file: &'a Path,
    line: u32,
    col: u32,
    pending: IndexMap<String, Pending>,
}

/// Adds the groups, hosts and variables of the INI text `src` to `data`.
pub(crate) fn parse(
    data: &mut InventoryData,
    src: &str,
    file: &Path,
) -> Result<(), InventoryError> {
    let mut parser = IniParser {
        data,
        file,
        line: 0,
        col: 1,
        pending: IndexMap::new(),
    };
    parser.run(src)
}

impl IniParser<'_> {
    fn err(&self, message: impl Into<String>) -> InventoryError {
        InventoryError::parse(self.file, self.line, self.col, message)
    }

    fn run(&mut self, src: &str) -> Result<(), InventoryError> {
        // Hosts before the first section header belong to `ungrouped`.
        let mut group = UNGROUPED;
        let mut section = Section::Hosts;
        for (idx, raw) in src.lines().enumerate() {
            self.line = u32::try_from(idx + 1).unwrap_or(u32::MAX);
            let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
            self.col = u32::try_from(indent + 1).unwrap_or(u32::MAX);
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(caps) = SECTION.captures(line) {
                let name = caps[1].to_string();
                let kind = caps.get(2).map_or("hosts", |m| m.as_str());
                section = match kind {
                    "hosts" => Section::Hosts,
                    "vars" => Section::Vars,
                    "children" => Section::Children,
                    other => {
                        return Err(self.err(format!(
                            "section [{name}:{other}] has unknown type `{other}` \
                             (expected `vars` or `children`)"
                        )))
                    }
                };
                group = self.declare(&name, section)?;
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                return Err(self.err(format!(
                    "invalid section entry `{line}`: a section is `[group]`, `[group:vars]` or \
                     `[group:children]`, without spaces or other invalid characters"
                )));
            }
            match section {
                Section::Hosts => self.host_line(group, line)?,
                Section::Vars => self.var_line(group, line)?,
                Section::Children => self.child_line(group, line)?,
            }
        }
        self.report_pending()
    }

    /// Handles a section header, resolving forward references to the group.
    fn declare(&mut self, name: &str, section: Section) -> Result<usize, InventoryError> {
        if self.data.group_index(name).is_none() {
            // `[g:vars]` alone does not declare `g`; it must be declared somewhere in this file.
            if section == Section::Vars && !self.pending.contains_key(name) {
                self.pending.insert(
                    name.to_string(),
                    Pending {
                        line: self.line,
                        col: self.col,
                        section,
                        parents: Vec::new(),
                    },
                );
            }
            self.data.add_group(name);
        }
        if section != Section::Vars {
            match self.pending.get(name).map(|p| p.section) {
                Some(Section::Children) => self.add_pending_children(name)?,
                Some(_) => {
                    self.pending.shift_remove(name);
                }
                None => {}
            }
        }
        Ok(self.data.add_group(name))
    }

    fn add_pending_children(&mut self, name: &str) -> Result<(), InventoryError> {
        let parents = self
            .pending
            .get(name)
            .map(|p| p.parents.clone())
            .unwrap_or_default();
        let child = self.data.add_group(name);
        for parent in parents {
            self.data
                .add_child_group(parent, child)
                .map_err(|m| self.err(m))?;
            let parent_name = self.data.groups[parent].name.clone();
            if self
                .pending
                .get(&parent_name)
                .is_some_and(|p| p.section == Section::Children)
            {
                self.add_pending_children(&parent_name)?;
            }
        }
        self.pending.shift_remove(name);
        Ok(())
    }

    fn report_pending(&self) -> Result<(), InventoryError> {
        let Some((name, decl)) = self.pending.first() else {
            return Ok(());
        };
        let message = match decl.section {
            Section::Vars => format!(
                "section [{name}:vars] is not valid for undefined group `{name}` \
                 (declare it with [{name}] or list it under some [group:children])"
            ),
            _ => {
                let parent = decl
                    .parents
                    .last()
                    .map_or("?", |&p| self.data.groups[p].name.as_str());
                format!(
                    "section [{parent}:children] includes undefined group `{name}` \
                     (declare it with [{name}] or [{name}:children])"
                )
            }
        };
        Err(InventoryError::parse(
            self.file, decl.line, decl.col, message,
        ))
    }

    fn host_line(&mut self, group: usize, line: &str) -> Result<(), InventoryError> {
        let tokens = shlex::split(line)
            .map_err(|e| self.err(format!("cannot parse host definition `{line}`: {e}")))?;
        let Some((pattern, assignments)) = tokens.split_first() else {
            return Err(self.err(format!("expected a host name, got `{line}`")));
        };
        let (names, port) = expand_hostpattern(pattern).map_err(|m| self.err(m))?;
        if pattern.trim().ends_with(':') && port.is_none() {
            return Err(self.err(format!(
                "invalid host pattern `{pattern}`: a trailing `:` is reserved for a port"
            )));
        }
        for name in &names {
            if name.trim() == "---" {
                return Err(self.err(format!(
                    "invalid host pattern `{pattern}`: `---` is normally a sign this is a \
                     YAML file (give it a .yml extension)"
                )));
            }
            if name.is_empty() {
                return Err(self.err("empty host name"));
            }
        }
        let mut vars = Map::new();
        for token in assignments {
            let Some((key, value)) = token.split_once('=') else {
                return Err(self.err(format!(
                    "expected key=value host variable assignment, got `{token}`"
                )));
            };
            vars.insert(key.to_string(), parse_ini_value(value));
        }
        for name in names {
            let host = self.data.add_host(&name, Some(group), port);
            for (k, v) in &vars {
                self.data.set_host_var(host, k, v.clone());
            }
        }
        Ok(())
    }

    fn var_line(&mut self, group: usize, line: &str) -> Result<(), InventoryError> {
        let Some((key, value)) = line.split_once('=') else {
            return Err(self.err(format!("expected key=value, got `{line}`")));
        };
        // The whole rest of the line is the value, comment included; literal_eval then
        // drops a trailing `# ...` only when the value is a Python literal.
        let value: Value = parse_ini_value(value.trim());
        self.data
            .set_group_var(group, key.trim(), value)
            .map_err(|m| self.err(m))
    }

    fn child_line(&mut self, group: usize, line: &str) -> Result<(), InventoryError> {
        let Some(caps) = GROUP_NAME.captures(line) else {
            return Err(self.err(format!("expected a group name, got `{line}`")));
        };
        let child = caps[1].to_string();
        match self.data.group_index(&child) {
            Some(idx) => self
                .data
                .add_child_group(group, idx)
                .map_err(|m| self.err(m)),
            None => {
                let (line, col) = (self.line, self.col);
                self.pending
                    .entry(child)
                    .or_insert_with(|| Pending {
                        line,
                        col,
                        section: Section::Children,
                        parents: Vec::new(),
                    })
                    .parents
                    .push(group);
                Ok(())
            }
        }
    }
}
