//! Fuzzing of the inventory parsers and host patterns (proptest, bounded so it runs with every
//! `cargo test`): no INI or YAML inventory, and no pattern, panics, hangs or overflows the
//! stack; parse errors name a line and column inside the file; whatever loads answers every
//! query. Inputs are inventories built from Ansible's constructs, then mutated. The seeds in
//! `tests/fuzz-corpus/inventory` (`.ini`, `.yml`, and `.pattern` files of one pattern a line)
//! are replayed every run.

#[path = "../../../tests/fuzz-corpus/harness.rs"]
mod harness;

use std::path::Path;

use proptest::prelude::*;
use tend_inventory::{Inventory, InventoryError};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Ini,
    Yaml,
}

/// Patterns every loaded inventory is asked about.
const PATTERNS: &[&str] = &[
    "all",
    "*",
    "web",
    "h1",
    "web*",
    "~h[0-9]",
    "~(",
    "web[0]",
    "web[-1]",
    "web[0:1]",
    "web[5:]",
    "web:&db",
    "web:!db",
    "web,db",
    "!web",
    "&db",
    "",
    ":",
    "[",
    "localhost",
    "127.0.0.1",
    "all[99]",
    "ungrouped",
    "h*:!h1",
    "web[x]",
    "~",
    "web[-99:]",
    "db[1:0]",
];

/// Loads `src` as `format`, then asks the result everything a run asks of it.
fn check(src: &str, format: Format, patterns: &[&str], what: &str) -> Result<(), String> {
    let text = src.to_string();
    let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    let loaded = harness::bounded(what, move || {
        let origin = Path::new("/fuzz/inventory");
        let inventory = match format {
            Format::Ini => Inventory::from_ini_str(&text, origin),
            Format::Yaml => Inventory::from_yaml_str(&text, origin),
        }?;
        let names: Vec<String> = inventory.hosts().map(|h| h.name.clone()).collect();
        for name in &names {
            let _ = inventory.host_vars(name);
            let _ = inventory.group_names(name);
            let _ = inventory.host(name);
        }
        let _ = inventory.groups();
        for pattern in &patterns {
            let _ = inventory.select(pattern);
            let _ = inventory.select_with_limit(pattern, Some(pattern));
        }
        Ok::<usize, InventoryError>(names.len())
    });
    match loaded {
        Ok(_) => Ok(()),
        Err(e) => positioned(src, format, &e),
    }
}

fn positioned(src: &str, format: Format, e: &InventoryError) -> Result<(), String> {
    let InventoryError::Parse {
        line,
        col,
        message,
        source_line,
        ..
    } = e
    else {
        return Err(format!(
            "a parse failure that is not a positioned error: {e}"
        ));
    };
    if message.trim().is_empty() {
        return Err(format!("an error without a message: {e}"));
    }
    // The YAML loader also breaks lines at a lone `\r`.
    let lines = match format {
        Format::Ini => src.lines().count(),
        Format::Yaml => src.replace("\r\n", "\n").matches(['\r', '\n']).count() + 1,
    };
    let (line, col) = (*line as usize, *col as usize);
    if line < 1 || line > lines + 1 || col < 1 {
        return Err(format!(
            "position {line}:{col} outside the {lines} lines: {e}"
        ));
    }
    let lone_cr = src.replace("\r\n", "\n").contains('\r');
    if line <= src.lines().count() && !lone_cr && source_line.is_none() {
        return Err(format!("no source line under the position: {e}"));
    }
    if format == Format::Ini {
        let width = src.lines().nth(line - 1).map_or(0, |l| l.chars().count());
        if col > width + 1 {
            return Err(format!(
                "column {col} past line {line} ({width} chars): {e}"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Structured inputs.

const INI_LINES: &[&str] = &[
    "[web]",
    "[db]",
    "[web:vars]",
    "[db:children]",
    "[web:children]",
    "[all:vars]",
    "[ungrouped]",
    "[bad name]",
    "[x:unknown]",
    "[all]",
    "[]",
    "[web",
    "h1",
    "h2",
    "h1 ansible_host=127.0.0.1 ansible_port=2222",
    "web[01:03]",
    "db-[a:c].example.com",
    "h[1:5:2]",
    "[::1]:22",
    "host:2222",
    "h1 x='a b' y=\"c\" z=[1,2] w={'a':1}",
    "h1 x=",
    "h1 =x",
    "h1 x",
    "h1 x='unterminated",
    "x=1",
    "y = 'str'",
    "z=[1, {'a': None}]",
    "t=True",
    "u=0x1F",
    "v=1e3 # comment",
    "w={'a': [1, (2, 3)], 'b': {1, 2}}",
    "bad line without equals",
    "web",
    "db",
    "all",
    "missing",
    "# comment",
    "; comment",
    "",
    "  indented",
    "---",
    "h1:",
    "h[1:]",
    "h[a:1]",
    "h[3:1]",
    "é-host",
    "h1\tx=1",
];

const INI_PIECES: &[&str] = &[
    "[",
    "]",
    ":",
    "=",
    "'",
    "\"",
    " ",
    "\n",
    "#",
    ",",
    "\\",
    "{",
    "}",
    "(",
    ")",
    "é",
    "\t",
    ":vars",
    ":children",
    "\r",
    "\u{0}",
    "\u{2028}",
];

fn ini() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(INI_LINES), 0..20),
        harness::edits(INI_PIECES, 6),
    )
        .prop_map(|(lines, edits)| harness::mutate(&(lines.join("\n") + "\n"), &edits))
}

/// A YAML group: hosts, vars and children, with wrong types now and then.
#[derive(Debug, Clone)]
enum Group {
    Full {
        hosts: Vec<(&'static str, &'static str)>,
        vars: Vec<(&'static str, &'static str)>,
        children: Vec<(&'static str, Group)>,
    },
    Odd(&'static str),
}

const GROUP_NAMES: &[&str] = &["web", "db", "all", "ungrouped", "bad name", "web", "1"];
const HOST_NAMES: &[&str] = &["h1", "h2", "web[01:03]", "h1:2222", "[::1]", "''", "h1"];
const VALUES: &[&str] = &[
    "~",
    "1",
    "'s'",
    "[1, 2]",
    "{a: 1}",
    "yes",
    "!unsafe '{{ x }}'",
    "{ansible_port: 22}",
    "*a",
    "&a {x: 1}",
];
const ODD: &[&str] = &[
    "~",
    "[]",
    "[h1, h2]",
    "'text'",
    "1",
    "{hosts: [h1]}",
    "{vars: [1]}",
];

fn group() -> impl Strategy<Value = Group> {
    let leaf = prop::sample::select(ODD).prop_map(Group::Odd);
    let pairs = |keys: &'static [&'static str]| {
        prop::collection::vec(
            (prop::sample::select(keys), prop::sample::select(VALUES)),
            0..3,
        )
    };
    leaf.prop_recursive(4, 16, 3, move |inner| {
        (
            pairs(HOST_NAMES),
            pairs(&["x", "ansible_host", "ansible_port", "y"]),
            prop::collection::vec((prop::sample::select(GROUP_NAMES), inner), 0..3),
        )
            .prop_map(|(hosts, vars, children)| Group::Full {
                hosts,
                vars,
                children,
            })
    })
}

fn write_group(g: &Group, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match g {
        Group::Odd(text) => out.push_str(&format!(" {text}\n")),
        Group::Full {
            hosts,
            vars,
            children,
        } => {
            out.push('\n');
            for (key, items) in [("hosts", hosts), ("vars", vars)] {
                if !items.is_empty() {
                    out.push_str(&format!("{pad}{key}:\n"));
                    for (k, v) in items {
                        out.push_str(&format!("{pad}  {k}: {v}\n"));
                    }
                }
            }
            if !children.is_empty() {
                out.push_str(&format!("{pad}children:\n"));
                for (name, child) in children {
                    out.push_str(&format!("{pad}  {name}:"));
                    write_group(child, indent + 4, out);
                }
            }
        }
    }
}

const YAML_PIECES: &[&str] = &[
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "? ",
    "\"",
    "'",
    "#",
    "\n",
    "\t",
    "  ",
    "---\n",
    "hosts:",
    "vars:",
    "children:",
    "all:",
    "~",
    "é",
];

fn yaml() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((prop::sample::select(GROUP_NAMES), group()), 0..3),
        harness::edits(YAML_PIECES, 6),
    )
        .prop_map(|(groups, edits)| {
            let mut text = String::new();
            for (name, g) in &groups {
                text.push_str(&format!("{name}:"));
                write_group(g, 2, &mut text);
            }
            harness::mutate(&text, &edits)
        })
}

proptest! {
    #![proptest_config(harness::config(256))]

    #[test]
    fn ini_inventories_never_panic_and_errors_are_positioned(src in ini()) {
        if let Err(message) = check(&src, Format::Ini, PATTERNS, &format!("{src:?}")) {
            prop_assert!(false, "{message}\ninput: {src:?}");
        }
    }

    #[test]
    fn yaml_inventories_never_panic_and_errors_are_positioned(src in yaml()) {
        if let Err(message) = check(&src, Format::Yaml, PATTERNS, &format!("{src:?}")) {
            prop_assert!(false, "{message}\ninput: {src:?}");
        }
    }

    #[test]
    fn host_patterns_never_panic(
        pattern in "[a-z0-9:!&,*~\\[\\]\\-().^$|\\\\ ]{0,24}",
    ) {
        let src = "[web]\nweb1\nweb2\n[db]\ndb1\nweb1\n[all:children]\nweb\n";
        let patterns = [pattern.as_str()];
        if let Err(message) = check(src, Format::Ini, &patterns, &format!("{pattern:?}")) {
            prop_assert!(false, "{message}\npattern: {pattern:?}");
        }
    }

    /// Python literals in INI values, nested far past any sane depth: parsed or kept as a
    /// string, never a stack overflow.
    #[test]
    fn deeply_nested_ini_values_do_not_overflow(depth in 1usize..20_000, shape in 0u8..4) {
        let (open, close) = match shape {
            0 => ("[", "]"),
            1 => ("{'a': ", "}"),
            2 => ("(", ",)"),
            _ => ("-", ""),
        };
        let src = format!("h1 x={}1{}\n[web:vars]\ny={}1\n", open.repeat(depth), close.repeat(depth), open.repeat(depth));
        if let Err(message) = check(&src, Format::Ini, &["all"], &format!("depth {depth} shape {shape}")) {
            prop_assert!(false, "{message}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus.

#[test]
fn corpus_replays_cleanly() {
    let mut patterns: Vec<String> = PATTERNS.iter().map(|p| p.to_string()).collect();
    let seeds = harness::corpus("inventory");
    for (name, bytes) in &seeds {
        if name.ends_with(".pattern") {
            patterns.extend(String::from_utf8_lossy(bytes).lines().map(str::to_string));
        }
    }
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    for (name, bytes) in &seeds {
        let src = String::from_utf8_lossy(bytes).into_owned();
        let format = if name.ends_with(".ini") {
            Format::Ini
        } else if name.ends_with(".yml") {
            Format::Yaml
        } else {
            continue;
        };
        if let Err(message) = check(&src, format, &patterns, name) {
            panic!("corpus seed {name}: {message}");
        }
    }
}

/// Found by the YAML property: `all` under another group recursed for ever while the groups'
/// depths were computed.
#[test]
fn all_as_a_child_is_a_loop_not_an_overflow() {
    let yaml = harness::bounded("all under db (YAML)", || {
        Inventory::from_yaml_str("db:\n  children:\n    all:\n", Path::new("/inv/hosts.yml"))
            .err()
            .map(|e| e.to_string())
    });
    let ini = harness::bounded("all under db (INI)", || {
        Inventory::from_ini_str("[db:children]\nall\n", Path::new("/inv/hosts"))
            .err()
            .map(|e| e.to_string())
    });
    for message in [yaml, ini] {
        let message = message.unwrap_or_default();
        assert!(
            message.contains("adding group `db` as a child of `all` creates a dependency loop"),
            "{message}"
        );
    }
}
