//! A module's documentation, read from its own source file: the `//!` header (summary, YAML
//! example, notes) and the typed params struct (each field's `///` doc, type, aliases and
//! default). `tend doc` prints this; nothing is written twice.
//!
//! The params struct is found through `type Params = X;` in the module's `impl Module`. The
//! reading is deliberately textual and forgiving: an unusual construct only makes a line of
//! the options table less precise, never fails.

use std::fmt::Write as _;

/// Everything `tend doc MODULE` shows about one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleDoc {
    /// The `//!` header without the comment markers (Markdown).
    pub header: String,
    pub params: Vec<ParamDoc>,
    /// Set when params are not a struct this reader understands (`Map<String, Value>`).
    pub free_params: bool,
}

/// One parameter of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDoc {
    pub name: String,
    pub aliases: Vec<String>,
    /// The Rust type with `Option<…>` removed (`String`, `bool`, `Vec<String>`, …).
    pub ty: String,
    pub required: bool,
    /// The default as written in the source, when there is one to show.
    pub default: Option<String>,
    /// The accepted values, for a parameter whose type is an enum of plain words.
    pub choices: Vec<String>,
    pub doc: String,
}

impl ModuleDoc {
    /// The first sentence of the header: `` `copy`: put a file … `` → `put a file …`.
    pub fn summary(&self) -> String {
        let paragraph = self
            .header
            .lines()
            .map(str::trim)
            .take_while(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let sentence = match paragraph.find(". ") {
            Some(end) => &paragraph[..end],
            None => paragraph.as_str(),
        };
        let after_name = match sentence.split_once(": ") {
            Some((name, rest)) if name.starts_with('`') => rest,
            _ => sentence,
        };
        after_name.trim_end_matches('.').to_string()
    }

    /// The text `tend doc MODULE` prints.
    pub fn render(&self, name: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "> {name}\n");
        for line in self.header.lines() {
            let _ = writeln!(out, "  {line}").map(|_| ());
        }
        if self.free_params {
            let _ = writeln!(out, "\nOPTIONS: any `key: value` pairs (see above)");
            return trim_line_ends(&out);
        }
        if !self.params.is_empty() {
            let _ = writeln!(out, "\nOPTIONS (= is mandatory):");
            for p in &self.params {
                let mark = if p.required { '=' } else { '-' };
                let _ = writeln!(out, "\n{mark} {}", p.name);
                if !p.doc.is_empty() {
                    for line in p.doc.lines() {
                        let _ = writeln!(out, "      {line}");
                    }
                }
                if !p.aliases.is_empty() {
                    let _ = writeln!(out, "      aliases: [{}]", p.aliases.join(", "));
                }
                if !p.choices.is_empty() {
                    let _ = writeln!(out, "      choices: [{}]", p.choices.join(", "));
                }
                if let Some(default) = &p.default {
                    let _ = writeln!(out, "      default: {default}");
                }
                let _ = writeln!(out, "      type: {}", p.ty);
            }
        }
        trim_line_ends(&out)
    }
}

fn trim_line_ends(text: &str) -> String {
    let mut out: String = text
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// Reads a module's documentation from the text of its source file.
pub fn from_source(source: &str) -> ModuleDoc {
    let header = source
        .lines()
        .take_while(|l| l.trim_start().starts_with("//!"))
        .map(|l| {
            let text = l.trim_start().trim_start_matches("//!");
            text.strip_prefix(' ').unwrap_or(text)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let params_type = find_params_type(source);
    let (params, free_params) = match params_type.as_deref() {
        Some(ty) => match struct_body(source, ty) {
            Some(body) => (parse_fields(source, body), false),
            None => (Vec::new(), true),
        },
        None => (Vec::new(), false),
    };
    ModuleDoc {
        header: header.trim().to_string(),
        params,
        free_params,
    }
}

fn find_params_type(source: &str) -> Option<String> {
    let at = source.find("type Params =")?;
    let rest = &source[at + "type Params =".len()..];
    let end = rest.find(';')?;
    Some(rest[..end].trim().to_string())
}

/// The text between the braces of `struct NAME { … }`.
fn struct_body<'s>(source: &'s str, name: &str) -> Option<&'s str> {
    let needle = format!("struct {name} {{");
    let start = source.find(&needle)? + needle.len();
    block_end(&source[start..]).map(|end| &source[start..start + end])
}

/// Where the block that starts right after an opening brace closes.
fn block_end(text: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_fields(source: &str, body: &str) -> Vec<ParamDoc> {
    let mut fields = Vec::new();
    let mut docs: Vec<String> = Vec::new();
    let mut attrs = String::new();
    let mut pending: Option<String> = None;
    let mut open_attr = false;
    for raw in body.lines() {
        let line = raw.trim();
        if open_attr {
            // An attribute rustfmt spread over several lines.
            attrs.push_str(line);
            open_attr = !line.ends_with(']');
            continue;
        }
        if let Some(decl) = pending.as_mut() {
            // A field whose type spans lines: gather until the top-level comma.
            decl.push(' ');
            decl.push_str(line);
            if field_complete(decl) {
                let decl = pending.take().unwrap_or_default();
                fields.extend(field(source, &decl, &docs, &attrs));
                docs.clear();
                attrs.clear();
            }
            continue;
        }
        if let Some(doc) = line.strip_prefix("///") {
            docs.push(doc.strip_prefix(' ').unwrap_or(doc).to_string());
        } else if line.starts_with("#[") {
            attrs.push_str(line);
            open_attr = !line.ends_with(']');
        } else if line.is_empty() || line.starts_with("//") {
            continue;
        } else if field_complete(line) {
            fields.extend(field(source, line, &docs, &attrs));
            docs.clear();
            attrs.clear();
        } else {
            pending = Some(line.to_string());
        }
    }
    fields
}

fn field_complete(decl: &str) -> bool {
    let depth = decl.chars().fold(0i32, |d, c| match c {
        '<' | '(' | '[' => d + 1,
        '>' | ')' | ']' => d - 1,
        _ => d,
    });
    depth <= 0 && decl.trim_end().ends_with(',')
}

fn field(source: &str, decl: &str, docs: &[String], attrs: &str) -> Option<ParamDoc> {
    let decl = decl.trim().trim_end_matches(',');
    let decl = decl.strip_prefix("pub(crate) ").unwrap_or(decl);
    let decl = decl.strip_prefix("pub ").unwrap_or(decl);
    let (ident, ty) = decl.split_once(':')?;
    let ident = ident.trim().trim_start_matches("r#");
    let ty = ty.trim();
    let serde = serde_attr_items(attrs);
    if serde
        .iter()
        .any(|(k, _)| k == "skip" || k == "skip_deserializing")
    {
        return None;
    }
    let name = serde
        .iter()
        .find(|(k, _)| k == "rename")
        .and_then(|(_, v)| v.clone())
        .unwrap_or_else(|| ident.to_string());
    let aliases = serde
        .iter()
        .filter(|(k, _)| k == "alias")
        .filter_map(|(_, v)| v.clone())
        .collect();
    let (inner, optional) = match ty.strip_prefix("Option<").and_then(|t| t.strip_suffix('>')) {
        Some(inner) => (inner.trim().trim_end_matches(',').trim().to_string(), true),
        None => (ty.to_string(), false),
    };
    let default_attr = serde.iter().find(|(k, _)| k == "default");
    let default = match default_attr {
        Some((_, Some(function))) => function_value(source, function),
        Some((_, None)) if !optional => type_default(source, &inner),
        Some((_, None)) => None,
        None => None,
    };
    let choices = enum_choices(source, &inner);
    let ty = if choices.is_empty() {
        friendly_type(&inner)
    } else {
        "str".to_string()
    };
    let required = !optional && default_attr.is_none();
    Some(ParamDoc {
        name,
        aliases,
        ty,
        required,
        default,
        choices,
        doc: docs.join("\n").trim().to_string(),
    })
}

/// The `key` or `key = "value"` items of every `#[serde(...)]` attribute.
fn serde_attr_items(attrs: &str) -> Vec<(String, Option<String>)> {
    let mut items = Vec::new();
    let mut rest = attrs;
    while let Some(at) = rest.find("#[serde(") {
        let inner = &rest[at + "#[serde(".len()..];
        let end = inner.find(")]").unwrap_or(inner.len());
        for item in split_top_level(&inner[..end]) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            match item.split_once('=') {
                Some((k, v)) => items.push((
                    k.trim().to_string(),
                    Some(v.trim().trim_matches('"').to_string()),
                )),
                None => items.push((item.to_string(), None)),
            }
        }
        rest = &inner[end..];
    }
    items
}

/// Splits on commas outside quotes and brackets.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' | '<' if !quoted => depth += 1,
            ')' | ']' | '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The value a `default = "function"` gives, when the function is a one-line literal.
fn function_value(source: &str, function: &str) -> Option<String> {
    let needle = format!("fn {function}()");
    let at = source.find(&needle)?;
    let rest = &source[at..];
    let open = rest.find('{')?;
    let end = block_end(&rest[open + 1..])?;
    let body = rest[open + 1..open + 1 + end].trim();
    if body.contains('\n') || body.contains(';') {
        return None;
    }
    Some(literal(body))
}

fn literal(expr: &str) -> String {
    let mut e = expr.trim();
    for suffix in [".into()", ".to_string()", ".to_owned()"] {
        e = e.strip_suffix(suffix).unwrap_or(e);
    }
    if let Some(inner) = e
        .strip_prefix("String::from(")
        .and_then(|s| s.strip_suffix(')'))
    {
        e = inner;
    }
    if let Some(inner) = e.strip_prefix("Some(").and_then(|s| s.strip_suffix(')')) {
        e = inner;
    }
    e.to_string()
}

/// What `#[serde(default)]` gives for a type, where it is worth showing.
fn type_default(source: &str, ty: &str) -> Option<String> {
    match ty {
        "bool" => Some("false".into()),
        "u8" | "u16" | "u32" | "u64" | "usize" | "i32" | "i64" => Some("0".into()),
        t => enum_default(source, t),
    }
}

/// The variants of `enum TY` as a playbook writes them, when it is an enum of plain words.
fn enum_choices(source: &str, ty: &str) -> Vec<String> {
    enum_variants(source, ty)
        .map(|(variants, _)| variants)
        .unwrap_or_default()
}

fn enum_default(source: &str, ty: &str) -> Option<String> {
    enum_variants(source, ty).and_then(|(_, default)| default)
}

/// `(variant names, the #[default] one)`, renamed as serde would with `rename_all`.
fn enum_variants(source: &str, ty: &str) -> Option<(Vec<String>, Option<String>)> {
    if !ty.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let needle = format!("enum {ty} {{");
    let at = source.find(&needle)?;
    let before = &source[..at];
    // The attributes just above the enum, for `rename_all`.
    let attr_start = before
        .rfind("\n\n")
        .or_else(|| before.rfind("}\n"))
        .unwrap_or(0);
    let rename_all = serde_attr_items(&before[attr_start..])
        .into_iter()
        .find(|(k, _)| k == "rename_all")
        .and_then(|(_, v)| v);
    let start = at + needle.len();
    let body = &source[start..start + block_end(&source[start..])?];
    let mut variants = Vec::new();
    let mut default = None;
    let mut attrs = String::new();
    for line in body.lines().map(str::trim) {
        if line.starts_with("#[") {
            attrs.push_str(line);
            continue;
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let word = line.trim_end_matches(',');
        if !word.chars().all(|c| c.is_alphanumeric() || c == '_') {
            // A variant carrying data: not a plain choice list.
            return None;
        }
        let items = serde_attr_items(&attrs);
        let name = items
            .iter()
            .find(|(k, _)| k == "rename")
            .and_then(|(_, v)| v.clone())
            .unwrap_or_else(|| rename(word, rename_all.as_deref()));
        if attrs.contains("#[default]") {
            default = Some(name.clone());
        }
        variants.push(name);
        attrs.clear();
    }
    Some((variants, default))
}

fn rename(variant: &str, rule: Option<&str>) -> String {
    match rule {
        Some("lowercase") => variant.to_lowercase(),
        Some("snake_case") => {
            let mut out = String::new();
            for (i, c) in variant.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    out.push('_');
                }
                out.extend(c.to_lowercase());
            }
            out
        }
        Some("kebab-case") => rename(variant, Some("snake_case")).replace('_', "-"),
        Some("UPPERCASE") => variant.to_uppercase(),
        _ => variant.to_string(),
    }
}

fn friendly_type(ty: &str) -> String {
    match ty {
        "String" | "&str" => "str".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" | "i32" | "i64" => "int".into(),
        "f64" | "f32" => "float".into(),
        "Value" | "serde_json::Value" => "raw".into(),
        t if t.starts_with("Vec<") => format!(
            "list of {}",
            friendly_type(t.trim_start_matches("Vec<").trim_end_matches('>'))
        ),
        t if t.contains("Map<") => "dict".into(),
        "ModeArg" => "str (octal or symbolic mode)".into(),
        t => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r##"//! `demo`: shows how docs are read.
//!
//! ```yaml
//! - demo:
//!     name: x
//! ```

use serde::Deserialize;

fn yes() -> bool {
    true
}

fn default_marker() -> String {
    "# {mark} MANAGED".into()
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoParams {
    /// The thing's name.
    #[serde(alias = "path", alias = "dest")]
    pub name: String,
    /// Whether it exists.
    #[serde(default)]
    pub state: State,
    /// Replace it.
    #[serde(default = "yes")]
    pub force: bool,
    #[serde(default = "default_marker")]
    pub marker: String,
    /// Its groups.
    pub groups: Option<Vec<String>>,
    /// The free form.
    #[serde(rename = "_raw_params")]
    pub raw: Option<String>,
    pub map: Option<
        std::collections::BTreeMap<String, String>,
    >,
    #[serde(
        default = "yes",
        alias = "mime",
        alias = "mime-type"
    )]
    pub get_mime: bool,
}

impl Module for Demo {
    type Params = DemoParams;
}
"##;

    #[test]
    fn reads_header_and_params() {
        let doc = from_source(SOURCE);
        assert_eq!(doc.summary(), "shows how docs are read");
        assert!(doc.header.contains("- demo:\n    name: x"));
        let names: Vec<_> = doc.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "name",
                "state",
                "force",
                "marker",
                "groups",
                "_raw_params",
                "map",
                "get_mime"
            ]
        );
        let name = &doc.params[0];
        assert!(name.required);
        assert_eq!(name.aliases, ["path", "dest"]);
        assert_eq!(name.ty, "str");
        let state = &doc.params[1];
        assert_eq!(state.choices, ["present", "absent"]);
        assert_eq!(state.default.as_deref(), Some("present"));
        assert_eq!(doc.params[2].default.as_deref(), Some("true"));
        assert_eq!(
            doc.params[3].default.as_deref(),
            Some("\"# {mark} MANAGED\"")
        );
        assert_eq!(doc.params[4].ty, "list of str");
        assert!(!doc.params[4].required);
        assert_eq!(doc.params[6].ty, "dict");
        assert_eq!(doc.params[7].name, "get_mime");
        assert_eq!(doc.params[7].aliases, ["mime", "mime-type"]);
        assert_eq!(doc.params[7].default.as_deref(), Some("true"));
    }

    #[test]
    fn renders_like_ansible_doc() {
        let text = from_source(SOURCE).render("demo");
        assert!(text.starts_with("> demo\n\n  `demo`: shows how docs are read."));
        assert!(text.contains(
            "= name\n      The thing's name.\n      aliases: [path, dest]\n      type: str\n"
        ));
        assert!(text.contains("- state\n      Whether it exists.\n      choices: [present, absent]\n      default: present\n"));
    }

    #[test]
    fn map_params_are_free() {
        let doc = from_source("//! `set_fact`: x\nimpl M { type Params = Map<String, Value>; }");
        assert!(doc.free_params);
        assert!(doc.render("set_fact").contains("any `key: value` pairs"));
    }
}
