//! The `ini` and `csvfile` lookups: values from INI/Java-properties and CSV/TSV files on the
//! controller, read as Python's `configparser` and `csv` read them.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};

use super::paths::SearchPath;
use super::{json_bool, parse_kv, term_text, Failure, Scope};

const INI_OPTIONS: [&str; 10] = [
    "type",
    "file",
    "section",
    "re",
    "encoding",
    "default",
    "case_sensitive",
    "allow_no_value",
    "allow_none",
    "interpolation",
];

/// Option values as strings (inline `key=value` options are strings in Ansible too).
fn option_text(options: &Map<String, Json>, name: &str) -> Option<String> {
    options.get(name).filter(|v| !v.is_null()).map(term_text)
}

fn option_flag(options: &Map<String, Json>, name: &str, default: bool) -> Result<bool, Failure> {
    match options.get(name) {
        None | Some(Json::Null) => Ok(default),
        Some(v) => json_bool(v).ok_or_else(|| {
            Failure::Message(format!(
                "Invalid value for option '{name}': {} is not a boolean",
                term_text(v)
            ))
        }),
    }
}

fn check_encoding(options: &Map<String, Json>) -> Result<(), Failure> {
    match option_text(options, "encoding").map(|e| e.to_lowercase().replace('_', "-")) {
        None => Ok(()),
        Some(e) if e == "utf-8" || e == "utf8" => Ok(()),
        Some(e) => Err(Failure::Message(format!(
            "encoding '{e}' is not supported by tend (files are read as UTF-8)"
        ))),
    }
}

/// Reads a lookup's data file. `ini` reads through the loader, which decrypts a vaulted file;
/// `csvfile` opens the file itself in Ansible, so it reads vault text as it is.
fn read_file(scope: &Scope<'_>, name: &str, decrypt: bool) -> Result<String, Failure> {
    let path = SearchPath::new(scope)
        .find(Some("files"), name)
        .map_err(|searched| Failure::Message(super::not_found(name, &searched)))?;
    let text = if decrypt {
        tend_vault::read_to_string(&path)
    } else {
        std::fs::read_to_string(&path)
    };
    text.map_err(|e| Failure::Message(format!("Unable to read '{}': {e}", path.display())))
}

/// `ini` lookup `_parse_params`: words of the term grouped under the option they start.
fn ini_inline_params(term: &str) -> Vec<String> {
    let mut params: HashMap<&str, String> = HashMap::new();
    let mut keys: Vec<&str> = Vec::new();
    let mut current = "key";
    for (idx, phrase) in term.split_whitespace().enumerate() {
        if phrase.contains('=') {
            for option in INI_OPTIONS {
                if phrase.contains(&format!("{option}=")) {
                    current = option;
                }
            }
        }
        let entry = params.entry(current).or_default();
        if idx == 0 || entry.is_empty() {
            *entry = phrase.to_string();
            keys.push(current);
        } else {
            entry.push(' ');
            entry.push_str(phrase);
        }
    }
    keys.iter()
        .map(|k| params.get(k).cloned().unwrap_or_default())
        .collect()
}

pub fn ini(
    terms: &[Json],
    kwargs: &Map<String, Json>,
    scope: &Scope<'_>,
) -> Result<Vec<Json>, Failure> {
    let mut out = Vec::new();
    for term in terms {
        let term = term_text(term);
        let mut options = kwargs.clone();
        let mut key = term.clone();
        if term.contains('=') || term.trim().contains(' ') {
            let mut found_key = false;
            for param in ini_inline_params(&term) {
                match param.split_once('=') {
                    Some((name, value)) => {
                        if value.contains('=') {
                            return Err(Failure::Message(format!(
                                "Could not use '{param}' from the inline options of '{term}'."
                            )));
                        }
                        if !INI_OPTIONS.contains(&name) {
                            return Err(Failure::Message(format!(
                                "'{name}' is not a valid option."
                            )));
                        }
                        options.insert(name.to_string(), Json::String(value.to_string()));
                    }
                    None if !found_key => {
                        key = param;
                        found_key = true;
                    }
                    None => {}
                }
            }
            if !found_key {
                return Err(Failure::Message(format!(
                    "No key to look up was provided as first term within string inline options: {term}"
                )));
            }
        }
        check_encoding(&options)?;
        let file = option_text(&options, "file").unwrap_or_else(|| "ansible.ini".into());
        let properties = match option_text(&options, "type").as_deref() {
            None | Some("ini") => false,
            Some("properties") => true,
            Some(other) => {
                return Err(Failure::Message(format!(
                    "Invalid type '{other}' (choose from ini, properties)"
                )))
            }
        };
        let section = if properties {
            "java_properties".to_string()
        } else {
            option_text(&options, "section").unwrap_or_else(|| "global".into())
        };
        let parser = IniOptions {
            case_sensitive: option_flag(&options, "case_sensitive", false)?,
            allow_no_value: option_flag(&options, "allow_no_value", false)?
                || option_flag(&options, "allow_none", false)?,
            interpolation: option_flag(&options, "interpolation", true)?,
        };
        let mut text = read_file(scope, &file, true)?;
        if properties {
            text = format!("[java_properties]\n{text}");
        }
        let ini =
            parse_ini(&text, &parser).map_err(|e| Failure::Message(format!("{e} in '{file}'.")))?;
        let Some(values) = ini.sections.get(&section) else {
            return Err(Failure::Message(format!(
                "No section '{section}' in '{file}'."
            )));
        };
        let default = options
            .get("default")
            .cloned()
            .unwrap_or(Json::String(String::new()));
        if option_flag(&options, "re", false)? {
            let re = crate::filters::compile_regex(&format!("^(?:{key})"), false, false)
                .map_err(|e| Failure::Message(e.to_string()))?;
            for (name, _) in ini.items(&section) {
                if re.is_match(&name) {
                    // A key without a value comes back empty (ansible-core 2.19).
                    let value = ini.get(&section, &name, &parser)?.unwrap_or_default();
                    out.push(Json::String(value));
                }
            }
            continue;
        }
        let lookup_key = parser.optionxform(&key);
        let present = values.contains_key(&lookup_key)
            || ini
                .sections
                .get("DEFAULT")
                .is_some_and(|d| d.contains_key(&lookup_key));
        if !present {
            if !default.is_null() {
                out.push(default);
            }
            continue;
        }
        if let Some(value) = ini.get(&section, &lookup_key, &parser)? {
            out.push(Json::String(value));
        }
    }
    Ok(out)
}

struct IniOptions {
    case_sensitive: bool,
    allow_no_value: bool,
    interpolation: bool,
}

impl IniOptions {
    fn optionxform(&self, key: &str) -> String {
        if self.case_sensitive {
            key.to_string()
        } else {
            key.to_lowercase()
        }
    }
}

/// Sections in file order; each maps option names (after `optionxform`) to raw values.
#[derive(Default)]
struct Ini {
    order: Vec<String>,
    sections: HashMap<String, Vec<(String, Option<String>)>>,
}

trait OptionList {
    fn contains_key(&self, key: &str) -> bool;
    fn value(&self, key: &str) -> Option<&Option<String>>;
}

impl OptionList for Vec<(String, Option<String>)> {
    fn contains_key(&self, key: &str) -> bool {
        self.iter().any(|(k, _)| k == key)
    }

    fn value(&self, key: &str) -> Option<&Option<String>> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl Ini {
    /// `ConfigParser.items(section)`: the section's options after the defaults it inherits.
    fn items(&self, section: &str) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> =
            self.sections.get("DEFAULT").cloned().unwrap_or_default();
        for (k, v) in self.sections.get(section).into_iter().flatten() {
            match out.iter_mut().find(|(existing, _)| existing == k) {
                Some(slot) => slot.1 = v.clone(),
                None => out.push((k.clone(), v.clone())),
            }
        }
        out
    }

    fn raw(&self, section: &str, key: &str) -> Option<Option<String>> {
        self.sections
            .get(section)
            .and_then(|s| s.value(key))
            .or_else(|| self.sections.get("DEFAULT").and_then(|d| d.value(key)))
            .cloned()
    }

    /// `ConfigParser.get(section, key)` with `BasicInterpolation` when enabled.
    fn get(&self, section: &str, key: &str, opts: &IniOptions) -> Result<Option<String>, Failure> {
        let Some(raw) = self.raw(section, key) else {
            return Ok(None);
        };
        match raw {
            Some(value) if opts.interpolation => {
                self.interpolate(section, &value, opts, 1).map(Some)
            }
            other => Ok(other),
        }
    }

    fn interpolate(
        &self,
        section: &str,
        value: &str,
        opts: &IniOptions,
        depth: usize,
    ) -> Result<String, Failure> {
        if depth > 10 {
            return Err(Failure::Message(format!(
                "Recursion limit exceeded in value substitution: '{value}'"
            )));
        }
        let mut out = String::new();
        let mut rest = value;
        while let Some(pos) = rest.find('%') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                out.push('%');
                rest = tail;
            } else if let Some(inner) = after.strip_prefix('(') {
                let Some((name, tail)) = inner.split_once(")s") else {
                    return Err(Failure::Message(format!(
                        "bad interpolation variable reference '{value}'"
                    )));
                };
                let name = opts.optionxform(name);
                let Some(Some(raw)) = self.raw(section, &name) else {
                    return Err(Failure::Message(format!(
                        "Bad value substitution: option '{key}' in section '{section}' contains an interpolation key '{name}' which is not a valid option name.",
                        key = value
                    )));
                };
                out.push_str(&self.interpolate(section, &raw, opts, depth + 1)?);
                rest = tail;
            } else {
                return Err(Failure::Message(format!(
                    "'%' must be followed by '%' or '(', found: '{}'",
                    &rest[pos..]
                )));
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Python's `configparser` reading rules: `[section]` headers, `key = value` or `key: value`,
/// whole-line `#`/`;` comments, indented continuation lines, strict duplicates.
fn parse_ini(text: &str, opts: &IniOptions) -> Result<Ini, String> {
    let mut ini = Ini::default();
    let mut section: Option<String> = None;
    // The option whose value an indented line continues, and that option's indentation.
    let mut open: Option<(String, usize)> = None;
    for (lineno, line) in text.lines().enumerate() {
        let stripped = line.trim();
        let indent = line.len() - line.trim_start().len();
        if stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        if stripped.is_empty() {
            // A blank line inside a multi-line value is part of it.
            if let (Some(sec), Some((key, _))) = (&section, &open) {
                if let Some((_, Some(v))) = ini
                    .sections
                    .get_mut(sec)
                    .and_then(|s| s.iter_mut().find(|(k, _)| k == key))
                {
                    v.push('\n');
                }
            }
            continue;
        }
        if let (Some(sec), Some((key, key_indent))) = (&section, &open) {
            if indent > *key_indent {
                if let Some((_, Some(v))) = ini
                    .sections
                    .get_mut(sec)
                    .and_then(|s| s.iter_mut().find(|(k, _)| k == key))
                {
                    v.push('\n');
                    v.push_str(stripped);
                    continue;
                }
            }
        }
        if let Some(name) = stripped.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            if ini.sections.contains_key(name) {
                return Err(format!("Duplicate section '{name}'"));
            }
            ini.order.push(name.to_string());
            ini.sections.insert(name.to_string(), Vec::new());
            section = Some(name.to_string());
            open = None;
            continue;
        }
        let Some(sec) = &section else {
            return Err(format!(
                "File contains no section headers (line {})",
                lineno + 1
            ));
        };
        let delimiter = stripped.find(['=', ':']);
        let (key, value) = match delimiter {
            Some(at) => (
                stripped[..at].trim(),
                Some(stripped[at + 1..].trim().to_string()),
            ),
            None if opts.allow_no_value => (stripped, None),
            None => {
                return Err(format!(
                    "Source contains parsing errors (line {})",
                    lineno + 1
                ))
            }
        };
        let key = opts.optionxform(key);
        let options = ini.sections.entry(sec.clone()).or_default();
        if options.contains_key(&key) {
            return Err(format!("Duplicate option '{key}' in section '{sec}'"));
        }
        options.push((key.clone(), value.clone()));
        open = value.map(|_| (key, indent));
    }
    // Trailing blank lines of multi-line values are not part of them.
    for options in ini.sections.values_mut() {
        for (_, value) in options.iter_mut() {
            if let Some(v) = value {
                let trimmed = v.trim_end_matches('\n').len();
                v.truncate(trimmed);
            }
        }
    }
    Ok(ini)
}

const CSV_OPTIONS: [&str; 6] = ["col", "keycol", "default", "delimiter", "file", "encoding"];

pub fn csvfile(
    terms: &[Json],
    kwargs: &Map<String, Json>,
    scope: &Scope<'_>,
) -> Result<Vec<Json>, Failure> {
    let missing_key = || Failure::Message("Search key is required but was not found".into());
    if terms.is_empty() {
        return Err(missing_key());
    }
    let mut out = Vec::new();
    for term in terms {
        let (params, raw) = parse_kv(&term_text(term));
        if raw.is_empty() {
            return Err(missing_key());
        }
        let mut options = kwargs.clone();
        for (name, value) in params {
            if !CSV_OPTIONS.contains(&name.as_str()) {
                return Err(Failure::Message(format!("'{name}' is not a valid option")));
            }
            options.insert(name, Json::String(value));
        }
        check_encoding(&options)?;
        let column = |name: &str, default: usize| -> Result<usize, Failure> {
            match super::opt_int(&options, name)? {
                None => Ok(default),
                Some(n) => usize::try_from(n).map_err(|_| {
                    Failure::Message(format!("{name} must be a non-negative integer"))
                }),
            }
        };
        let col = column("col", 1)?;
        let keycol = column("keycol", 0)?;
        let delimiter = match option_text(&options, "delimiter").as_deref() {
            None | Some("TAB") | Some("\\t") => '\t',
            Some(d) => {
                let mut chars = d.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    _ => {
                        return Err(Failure::Message(
                            "\"delimiter\" must be a 1-character string".into(),
                        ))
                    }
                }
            }
        };
        let file = option_text(&options, "file").unwrap_or_else(|| "ansible.csv".into());
        let text = read_file(scope, &file, false)?;
        let mut found = None;
        for row in parse_csv(&text, delimiter) {
            if row.get(keycol) == Some(&raw) {
                found = Some(row.get(col).cloned().ok_or_else(|| {
                    Failure::Message(format!(
                        "list index out of range (column {col} of the row for '{raw}' in '{file}')"
                    ))
                })?);
                break;
            }
        }
        match found {
            Some(value) => out.push(Json::String(value)),
            None => {
                if let Some(default) = options.get("default").filter(|d| !d.is_null()) {
                    out.push(default.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Python's `csv.reader` with the excel dialect and the given delimiter: `"` quotes fields,
/// `""` is a quote inside one, quoted fields may span lines.
fn parse_csv(text: &str, delimiter: char) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut field_started = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if !field_started => {
                in_quotes = true;
                field_started = true;
            }
            c if c == delimiter => {
                row.push(std::mem::take(&mut field));
                field_started = false;
            }
            '\r' => {}
            '\n' => {
                if field_started || !field.is_empty() || !row.is_empty() {
                    row.push(std::mem::take(&mut field));
                }
                rows.push(std::mem::take(&mut row));
                field_started = false;
            }
            c => {
                field.push(c);
                field_started = true;
            }
        }
    }
    if field_started || !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_follows_python() {
        assert_eq!(
            parse_csv("a,\"b,c\",\"d \"\"q\"\"\"\n\nx,\"multi\nline\"\n", ','),
            vec![
                vec!["a".to_string(), "b,c".to_string(), "d \"q\"".to_string()],
                vec![],
                vec!["x".to_string(), "multi\nline".to_string()],
            ]
        );
    }

    #[test]
    fn ini_follows_configparser() {
        let opts = IniOptions {
            case_sensitive: false,
            allow_no_value: false,
            interpolation: true,
        };
        let text = "[DEFAULT]\nbase = /srv\n\n[app]\nUser = bob\npath: %(base)s/app\nmulti = one\n  two\n# comment\n";
        let ini = parse_ini(text, &opts).unwrap_or_default();
        assert_eq!(
            ini.get("app", "user", &opts).ok().flatten().as_deref(),
            Some("bob")
        );
        assert_eq!(
            ini.get("app", "path", &opts).ok().flatten().as_deref(),
            Some("/srv/app")
        );
        assert_eq!(
            ini.get("app", "multi", &opts).ok().flatten().as_deref(),
            Some("one\ntwo")
        );
        assert!(parse_ini("[a]\nx=1\nx=2\n", &opts).is_err());
        assert!(parse_ini("x=1\n", &opts).is_err());
    }

    #[test]
    fn inline_params_group_words() {
        assert_eq!(
            ini_inline_params("user section=my section file=users.ini"),
            vec!["user", "section=my section", "file=users.ini"]
        );
    }
}
