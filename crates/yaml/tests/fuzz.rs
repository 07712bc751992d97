//! Fuzzing of the YAML loader (proptest, bounded so it runs with every `cargo test`): no input
//! panics, hangs or overflows the stack; every error and every node carries a position inside
//! the input; alias bombs and deep nesting are refused. The seeds in `tests/fuzz-corpus/yaml`
//! are replayed every run.

#[path = "../../../tests/fuzz-corpus/harness.rs"]
mod harness;

use proptest::prelude::*;
use tend_yaml::{load_one, load_str, Node, NodeKind, Span, YamlError, MAX_DEPTH};

/// The last line a position may name: YAML breaks lines at `\r\n`, `\n` and a lone `\r`,
/// and one past the last line is where an error at the end of the input sits.
fn max_line(src: &str) -> u32 {
    let breaks = src.replace("\r\n", "\n").matches(['\r', '\n']).count();
    u32::try_from(breaks + 2).unwrap_or(u32::MAX)
}

/// Checks a span against the text it came from, whose last line is `last`.
fn span_inside(src: &str, last: u32, span: Span, what: &str) -> Result<(), String> {
    let ok = span.line >= 1
        && span.line <= last
        && span.col >= 1
        && span.offset <= src.len()
        && src.is_char_boundary(span.offset);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} at {span:?} is outside the input of {} bytes",
            src.len()
        ))
    }
}

fn nodes_inside(src: &str, last: u32, node: &Node) -> Result<(), String> {
    span_inside(src, last, node.span, "node")?;
    match &node.kind {
        NodeKind::Seq(items) => items.iter().try_for_each(|n| nodes_inside(src, last, n)),
        NodeKind::Map(pairs) => pairs.iter().try_for_each(|(k, v)| {
            nodes_inside(src, last, k)?;
            nodes_inside(src, last, v)
        }),
        _ => Ok(()),
    }
}

/// Loads `src` both ways under the bounded runner and checks every position.
fn check(src: &str, what: &str) -> Result<(), String> {
    let text = src.to_string();
    let (many, one) = harness::bounded(what, move || {
        let many = load_str(&text);
        let one = load_one(&text);
        // Converting is what every caller does next; it must cope with whatever loaded.
        if let Ok(docs) = &many {
            for doc in docs {
                let _ = doc.to_json();
            }
        }
        (many, one)
    });
    let last = max_line(src);
    match many {
        Ok(docs) => docs.iter().try_for_each(|d| nodes_inside(src, last, d))?,
        Err(e) => error_inside(src, last, &e)?,
    }
    match one {
        Ok(doc) => nodes_inside(src, last, &doc),
        Err(e) => error_inside(src, last, &e),
    }
}

fn error_inside(src: &str, last: u32, e: &YamlError) -> Result<(), String> {
    if e.message.trim().is_empty() {
        return Err("an error without a message".into());
    }
    span_inside(src, last, e.span, &format!("error `{}`", e.message))
}

// ---------------------------------------------------------------------------------------------
// Structured inputs: YAML built from pieces, then mutated.

/// Scalars that exercise PyYAML's resolvers, quoting and the loader's special keys.
const SCALARS: &[&str] = &[
    "yes",
    "No",
    "off",
    "0755",
    "0x1F",
    "0b101",
    "1:30",
    "1.0e+3",
    "1e3",
    ".inf",
    "-.NaN",
    "~",
    "null",
    "",
    "<<",
    "=",
    "'single ''quoted'''",
    "\"double \\u263A \\x41 \\\"\"",
    "plain text",
    "2001-12-14",
    "-1",
    "+0",
    "9223372036854775808",
    "!!str 5",
    "!!int 0o7",
    "!!bool y",
    "!unsafe '{{ x }}'",
    "!vault |",
    "é ü 日本",
    "\u{feff}bom",
    "\"{{ item }}\"",
    "a # comment",
    "'unterminated",
    "\"bad \\q escape\"",
    "*undefined",
    "&a 1",
    "*a",
];

/// Keys, including merge keys and duplicates.
const KEYS: &[&str] = &[
    "a",
    "b",
    "name",
    "<<",
    "? complex",
    "'q k'",
    "1",
    "yes",
    "~",
    "a",
];

/// Pieces that mutations insert.
const PIECES: &[&str] = &[
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "!!map ",
    "!!seq ",
    "!!str ",
    "!x ",
    "? ",
    "|",
    ">-",
    "\"",
    "'",
    "#",
    "\n",
    "\t",
    "  ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "<<: *a\n",
    "\\",
    "\u{0}",
    "\r",
    "\u{85}",
    "\u{2028}",
    "é",
    "@",
    "`",
    "%",
    "\u{feff}",
];

#[derive(Debug, Clone)]
enum Gen {
    Scalar(String),
    Seq(Vec<Gen>, bool),
    Map(Vec<(String, Gen)>, bool),
    Anchored(String, Box<Gen>),
    Block(String),
}

fn gen() -> impl Strategy<Value = Gen> {
    let leaf = prop_oneof![
        4 => prop::sample::select(SCALARS).prop_map(|s| Gen::Scalar(s.to_string())),
        1 => "[a-z ]{0,12}".prop_map(|s| Gen::Block(format!("{s}\nline two"))),
        1 => "[ -~]{0,8}".prop_map(Gen::Scalar),
    ];
    leaf.prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..5), any::<bool>())
                .prop_map(|(items, flow)| Gen::Seq(items, flow)),
            (
                prop::collection::vec(
                    (
                        prop::sample::select(KEYS).prop_map(str::to_string),
                        inner.clone()
                    ),
                    0..5
                ),
                any::<bool>()
            )
                .prop_map(|(pairs, flow)| Gen::Map(pairs, flow)),
            (prop::sample::select(&["a", "b"][..]), inner)
                .prop_map(|(name, node)| Gen::Anchored(name.to_string(), Box::new(node))),
        ]
    })
}

fn render(g: &Gen, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match g {
        Gen::Scalar(s) => out.push_str(s),
        Gen::Block(s) => {
            out.push_str("|\n");
            for line in s.lines() {
                out.push_str(&format!("{pad}  {line}\n"));
            }
        }
        Gen::Anchored(name, node) => {
            out.push_str(&format!("&{name} "));
            render(node, indent, out);
        }
        Gen::Seq(items, true) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render(item, indent, out);
            }
            out.push(']');
        }
        Gen::Map(pairs, true) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                render(v, indent, out);
            }
            out.push('}');
        }
        Gen::Seq(items, false) if items.is_empty() => out.push_str("[]"),
        Gen::Map(pairs, false) if pairs.is_empty() => out.push_str("{}"),
        Gen::Seq(items, false) => {
            for item in items {
                out.push_str(&format!("\n{pad}- "));
                render(item, indent + 2, out);
            }
        }
        Gen::Map(pairs, false) => {
            for (k, v) in pairs {
                out.push_str(&format!("\n{pad}{k}: "));
                render(v, indent + 2, out);
            }
        }
    }
}

fn document() -> impl Strategy<Value = String> {
    (gen(), harness::edits(PIECES, 6)).prop_map(|(g, edits)| {
        let mut text = String::new();
        render(&g, 0, &mut text);
        text.push('\n');
        harness::mutate(&text, &edits)
    })
}

proptest! {
    #![proptest_config(harness::config(384))]

    #[test]
    fn structured_yaml_never_panics_and_errors_are_positioned(src in document()) {
        if let Err(message) = check(&src, &format!("{src:?}")) {
            prop_assert!(false, "{message}\ninput: {src:?}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let src = String::from_utf8_lossy(&bytes).into_owned();
        if let Err(message) = check(&src, &format!("{src:?}")) {
            prop_assert!(false, "{message}\ninput: {src:?}");
        }
    }

}

proptest! {
    // A refused bomb has copied up to a million nodes first: fewer, costlier cases.
    #![proptest_config(harness::config(24))]

    /// Nested alias expansion of any shape finishes quickly: loaded when small, refused as a
    /// bomb when it would copy too much.
    #[test]
    fn alias_expansion_is_bounded(levels in 1usize..14, fan in 1usize..14, flow in any::<bool>()) {
        let src = bomb(levels, fan, flow);
        let copies = (fan as f64).powi(levels as i32);
        let text = src.clone();
        let result = harness::bounded(&format!("bomb {levels}x{fan}"), move || load_one(&text));
        match result {
            Ok(_) => prop_assert!(copies <= 2e6, "{levels}x{fan} loaded {copies} copies"),
            Err(e) => prop_assert!(e.message.contains("alias bomb"), "{e}"),
        }
    }

    /// Nesting of any kind up to and past the limit: loaded or refused, never a stack overflow.
    #[test]
    fn deep_nesting_is_refused_not_overflowed(depth in 1usize..3000, shape in 0u8..5) {
        let src = nested(depth, shape);
        let text = src.clone();
        let result = harness::bounded(&format!("depth {depth} shape {shape}"), move || {
            load_one(&text).map(|n| n.to_json().is_null())
        });
        match result {
            Ok(_) => prop_assert!(depth <= MAX_DEPTH + 1, "depth {depth} loaded"),
            // saphyr's own limit for flow collections comes first (256 levels); shape 3 is
            // also unclosed.
            Err(e) => prop_assert!(
                shape == 3
                    || e.message.contains("nested deeper")
                    || e.message.contains("recursion limit"),
                "{e}"
            ),
        }
    }
}

/// A billion-laughs document: level `i` is a sequence of `fan` aliases to level `i - 1`.
fn bomb(levels: usize, fan: usize, flow: bool) -> String {
    let mut src = String::from("l0: &l0 [lol]\n");
    for level in 1..=levels {
        let aliases = vec![format!("*l{}", level - 1); fan];
        if flow {
            src.push_str(&format!("l{level}: &l{level} [{}]\n", aliases.join(", ")));
        } else {
            src.push_str(&format!("l{level}: &l{level}\n"));
            for alias in aliases {
                src.push_str(&format!("  - {alias}\n"));
            }
        }
    }
    src
}

/// `depth` nested collections of one shape (a nested block mapping grows quadratically in
/// text, so its depth is what the others' is, capped where the text stays small).
fn nested(depth: usize, shape: u8) -> String {
    match shape {
        0 => format!("{}x{}", "[".repeat(depth), "]".repeat(depth)),
        1 => format!("{}x{}", "{a: ".repeat(depth), "}".repeat(depth)),
        2 => format!("{}x\n", "- ".repeat(depth)),
        3 => format!("{}[", "[".repeat(depth)),
        _ => {
            let mut src = String::new();
            for level in 0..depth.min(1500) {
                src.push_str(&" ".repeat(level));
                src.push_str("k:\n");
            }
            src
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus and the regressions it holds.

#[test]
fn corpus_replays_cleanly() {
    for (name, bytes) in harness::corpus("yaml") {
        let src = String::from_utf8_lossy(&bytes).into_owned();
        if let Err(message) = check(&src, &name) {
            panic!("corpus seed {name}: {message}");
        }
    }
}

#[test]
fn billion_laughs_is_refused_with_its_position() {
    let src = bomb(9, 10, true);
    let e = match load_one(&src) {
        Ok(_) => panic!("a billion laughs loaded"),
        Err(e) => e,
    };
    assert!(e.message.contains("alias bomb"), "{e}");
    // The alias that crossed the limit is on one of the deep levels' lines.
    assert!(e.span.line >= 6, "{e}");
}

#[test]
fn deep_flow_nesting_is_refused_where_it_crosses_the_limit() {
    let e = match load_one(&"[".repeat(100_000)) {
        Ok(_) => panic!("100000 open brackets loaded"),
        Err(e) => e,
    };
    assert!(e.message.contains("recursion limit exceeded"), "{e}");
    assert_eq!((e.span.line, e.span.col), (1, 256), "{e}");
}
