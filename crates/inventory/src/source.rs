//! Reading `-i` sources from disk: files (inventory scripts, YAML or INI, told apart as
//! Ansible's plugin chain would), inventory directories, comma-separated host lists, and the
//! `group_vars/` and `host_vars/` directories next to them.

use std::collections::HashMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tend_yaml::NodeKind;

use crate::address::parse_address;
use crate::data::{CurrentSource, InventoryData, LOCALHOST_NAMES, UNGROUPED};
use crate::{ini_format, script_format, yaml_format, InventoryError};

/// Extensions Ansible skips inside an inventory directory (`INVENTORY_IGNORE_EXTS`: the
/// generic reject list plus `.orig`, `.cfg`, `.retry`).
const IGNORED_EXTS: [&str; 12] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];

/// Entry names Ansible never reads as inventory inside a directory.
const IGNORED_NAMES: [&str; 3] = ["host_vars", "group_vars", "vars_plugins"];

/// Extensions the vars plugin accepts besides none at all (`YAML_FILENAME_EXTENSIONS`).
const VARS_EXTS: [&str; 3] = [".yml", ".yaml", ".json"];

/// Parses one `-i` argument into `data`; returns the directory whose `group_vars/` and
/// `host_vars/` belong to it (none for a host list).
pub(crate) fn load_source(
    data: &mut InventoryData,
    source: &str,
) -> Result<Option<PathBuf>, InventoryError> {
    let path = Path::new(source);
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            parse_dir(data, path)?;
            Ok(Some(path.to_path_buf()))
        }
        Ok(_) => {
            parse_file(data, path)?;
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            Ok(Some(dir))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if source.contains(',') {
                parse_host_list(data, source);
                Ok(None)
            } else {
                Err(InventoryError::NotFound(source.to_string()))
            }
        }
        Err(e) => Err(InventoryError::io(path, e)),
    }
}

fn parse_host_list(data: &mut InventoryData, list: &str) {
    data.current_source = CurrentSource::List(list.to_string());
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        // Ranges are not expanded here; an unparsable entry is used verbatim.
        let (name, port) =
            parse_address(entry, false).unwrap_or_else(|_| (entry.to_string(), None));
        if !data.hosts.contains_key(&name) {
            data.add_host(&name, Some(UNGROUPED), port);
        }
    }
    data.current_source = CurrentSource::None;
}

fn ignored_entry(name: &str) -> bool {
    name.starts_with('.')
        || IGNORED_NAMES.contains(&name)
        || IGNORED_EXTS.iter().any(|ext| name.ends_with(ext))
}

fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, InventoryError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| InventoryError::io(dir, e))? {
        let entry = entry.map_err(|e| InventoryError::io(dir, e))?;
        entries.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    entries.sort();
    Ok(entries)
}

fn parse_dir(data: &mut InventoryData, dir: &Path) -> Result<(), InventoryError> {
    for (name, path) in sorted_entries(dir)? {
        if ignored_entry(&name) {
            continue;
        }
        if path.is_dir() {
            parse_dir(data, &path)?;
        } else {
            parse_file(data, &path)?;
        }
    }
    Ok(())
}

/// A vars file's text, decrypted when it is vaulted (with the keyring the binary installed).
fn read_text(path: &Path) -> Result<String, InventoryError> {
    tend_vault::read_to_string(path).map_err(|e| InventoryError::io(path, e))
}

fn yaml_error(file: &Path, e: tend_yaml::YamlError) -> InventoryError {
    InventoryError::at_span(file, e.span, e.message)
}

/// Parses one inventory file: runs it when it is an inventory script, else reads it as YAML or
/// INI.
fn parse_file(data: &mut InventoryData, path: &Path) -> Result<(), InventoryError> {
    let meta = fs::metadata(path).map_err(|e| InventoryError::io(path, e))?;
    let bytes = fs::read(path).map_err(|e| InventoryError::io(path, e))?;
    data.set_current_file(path);
    let result = if script_format::is_script(&meta, &bytes) {
        script_format::parse(data, path)
    } else {
        // A vaulted inventory file is decrypted as Ansible's inventory plugins do; its
        // source lines stay out of error messages.
        let vaulted = bytes.starts_with(b"$ANSIBLE_VAULT");
        tend_vault::decrypt_if_vaulted(bytes)
            .and_then(|b| {
                String::from_utf8(b).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
            })
            .map_err(|e| InventoryError::io(path, e))
            .and_then(|text| {
                parse_text(data, &text, path).map_err(|e| {
                    if vaulted {
                        e
                    } else {
                        e.with_source(&text)
                    }
                })
            })
    };
    data.current_source = CurrentSource::None;
    result
}

fn parse_text(data: &mut InventoryData, text: &str, path: &Path) -> Result<(), InventoryError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "yml" | "yaml" | "json" => {
            let root = tend_yaml::load_one(text).map_err(|e| yaml_error(path, e))?;
            return yaml_format::parse(data, &root, path);
        }
        "ini" => return ini_format::parse(data, text, path),
        _ => {}
    }
    if text.starts_with("#!") {
        // An inventory script without its executable bit (executable ones never get here).
        return Err(script_format::not_executable(path));
    }
    // No telling extension: YAML if it has the shape of a YAML inventory, else INI, the order
    // in which Ansible's plugins try it.
    match tend_yaml::load_one(text) {
        Ok(root) if yaml_format::looks_like_inventory(&root) => {
            yaml_format::parse(data, &root, path)
        }
        Ok(root) if matches!(root.kind, NodeKind::Map(_)) => {
            ini_format::parse(data, text, path).or_else(|ini_err| {
                // A mapping that INI cannot read either was meant as YAML; its error is the
                // helpful one.
                let mut scratch = InventoryData::new();
                yaml_format::parse(&mut scratch, &root, path)?;
                Err(ini_err)
            })
        }
        _ => ini_format::parse(data, text, path),
    }
}

/// Variables from one inventory directory's `group_vars/` and `host_vars/`.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirVars {
    pub(crate) groups: HashMap<String, Map<String, Value>>,
    pub(crate) hosts: HashMap<String, Map<String, Value>>,
}

/// Loads the vars files for every group and host of `data` (and the localhost aliases, which
/// the implicit localhost may use) from `base/group_vars` and `base/host_vars`.
pub(crate) fn load_dir_vars(base: &Path, data: &InventoryData) -> Result<DirVars, InventoryError> {
    let mut out = DirVars::default();
    let group_dir = base.join("group_vars");
    if group_dir.is_dir() {
        for name in data.groups.keys() {
            if let Some(vars) = load_entity_vars(&group_dir, name)? {
                out.groups.insert(name.clone(), vars);
            }
        }
    }
    let host_dir = base.join("host_vars");
    if host_dir.is_dir() {
        let names = data
            .hosts
            .keys()
            .map(String::as_str)
            .chain(LOCALHOST_NAMES.iter().copied());
        for name in names {
            if out.hosts.contains_key(name) {
                continue;
            }
            if let Some(vars) = load_entity_vars(&host_dir, name)? {
                out.hosts.insert(name.to_string(), vars);
            }
        }
    }
    Ok(out)
}

fn load_entity_vars(dir: &Path, name: &str) -> Result<Option<Map<String, Value>>, InventoryError> {
    // Ansible skips names that look like absolute paths (chroot-style hosts).
    if name.starts_with('/') {
        return Ok(None);
    }
    let files = find_vars_files(dir, name)?;
    if files.is_empty() {
        return Ok(None);
    }
    let mut vars = Map::new();
    for file in files {
        vars.extend(load_vars_file(&file)?);
    }
    Ok(Some(vars))
}

/// Ansible's `_find_vars_files`: `name` itself (a file, or a directory read recursively),
/// else the first of `name.yml`, `name.yaml`, `name.json`.
fn find_vars_files(dir: &Path, name: &str) -> Result<Vec<PathBuf>, InventoryError> {
    let bare = dir.join(name);
    if bare.exists() {
        if bare.is_dir() {
            return vars_dir_files(&bare);
        }
        return Ok(vec![bare]);
    }
    Ok(VARS_EXTS
        .iter()
        .map(|ext| dir.join(format!("{name}{ext}")))
        .find(|p| p.is_file())
        .into_iter()
        .collect())
}

/// Python's `os.path.splitext(name)[1]` for a file name (leading dots do not start one).
fn extension(name: &str) -> &str {
    let stem_start = name.len() - name.trim_start_matches('.').len();
    match name[stem_start..].rfind('.') {
        Some(i) => &name[stem_start + i..],
        None => "",
    }
}

fn vars_dir_files(dir: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    let mut found = Vec::new();
    for (name, path) in sorted_entries(dir)? {
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = extension(&name);
        if path.is_dir() {
            // Sub-directories with a dot in their name are skipped, as in Ansible.
            if ext.is_empty() {
                found.extend(vars_dir_files(&path)?);
            }
        } else if path.is_file() && (ext.is_empty() || VARS_EXTS.contains(&ext)) {
            found.push(path);
        }
    }
    Ok(found)
}

fn load_vars_file(file: &Path) -> Result<Map<String, Value>, InventoryError> {
    let text = read_text(file)?;
    let root = tend_yaml::load_one(&text).map_err(|e| {
        if tend_vault::file_is_vaulted(file) {
            yaml_error(file, e)
        } else {
            yaml_error(file, e).with_source(&text)
        }
    })?;
    match root.to_json() {
        // Ansible ignores empty files.
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        _ => Err(InventoryError::at_span(
            file,
            root.span,
            format!(
                "a vars file must hold a mapping of variable names, found {}",
                root.type_name()
            ),
        )
        .with_source(&text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitext_like_python() {
        assert_eq!(extension("all.yml"), ".yml");
        assert_eq!(extension("all"), "");
        assert_eq!(extension(".hidden"), "");
        assert_eq!(extension("a.b.json"), ".json");
    }

    #[test]
    fn ignores_like_ansible() {
        for name in [
            "group_vars",
            "host_vars",
            ".git",
            "hosts~",
            "x.orig",
            "x.retry",
            "x.bak",
        ] {
            assert!(ignored_entry(name), "{name}");
        }
        for name in ["hosts", "hosts.yml", "prod.ini"] {
            assert!(!ignored_entry(name), "{name}");
        }
    }
}
