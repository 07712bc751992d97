//! Unit tests for the loader: resolver rules, tags, anchors, merge keys, duplicate keys, spans,
//! errors, JSON conversion, and snapshots of a small playbook.

use serde_json::json;

use crate::json::python_float;
use crate::{load_one, load_one_with_warnings, load_str, Node, NodeKind, Span, YamlError};

fn kind(src: &str) -> NodeKind {
    match load_one(src) {
        Ok(node) => node.kind,
        Err(e) => panic!("{src:?} failed to load: {e}"),
    }
}

fn err(src: &str) -> YamlError {
    match load_one(src) {
        Ok(node) => panic!("{src:?} loaded as {node:?}, expected an error"),
        Err(e) => e,
    }
}

fn s(text: &str) -> NodeKind {
    NodeKind::Str(text.to_owned())
}

fn span(line: u32, col: u32, offset: usize) -> Span {
    Span { line, col, offset }
}

/// Asserts a float, including NaN and the sign of zero.
fn assert_float(src: &str, got: &NodeKind, want: f64) {
    match got {
        NodeKind::Float(f) if want.is_nan() && f.is_nan() => {}
        NodeKind::Float(f) if f.to_bits() == want.to_bits() => {}
        other => panic!("{src:?}: expected Float({want}), got {other:?}"),
    }
}

#[test]
fn all_patterns_compile() {
    for value in ["yes", "1.5", "12", "~", "2001-12-14"] {
        assert_ne!(
            crate::resolve::implicit_tag(value),
            crate::resolve::Implicit::Str,
            "{value}"
        );
    }
}

#[test]
fn plain_booleans_follow_yaml_1_1() {
    let cases = [
        ("yes", true),
        ("Yes", true),
        ("YES", true),
        ("no", false),
        ("No", false),
        ("NO", false),
        ("true", true),
        ("True", true),
        ("TRUE", true),
        ("false", false),
        ("False", false),
        ("FALSE", false),
        ("on", true),
        ("On", true),
        ("ON", true),
        ("off", false),
        ("Off", false),
        ("OFF", false),
    ];
    for (src, want) in cases {
        assert_eq!(kind(src), NodeKind::Bool(want), "{src}");
    }
    for src in ["yEs", "tRUE", "oN", "y", "Y", "n", "N", "yes!", "truee"] {
        assert_eq!(kind(src), s(src), "{src}");
    }
}

#[test]
fn plain_nulls() {
    for src in ["~", "null", "Null", "NULL", "", "key:"] {
        let node = load_one(src).unwrap_or_else(|e| panic!("{e}"));
        let node = node.get("key").unwrap_or(&node);
        assert!(node.is_null(), "{src:?} -> {node:?}");
    }
    for src in ["nULL", "nul", "None", "none", "~~"] {
        assert_eq!(kind(src), s(src), "{src}");
    }
}

#[test]
fn plain_integers() {
    let cases: &[(&str, i64)] = &[
        ("0", 0),
        ("-0", 0),
        ("+0", 0),
        ("42", 42),
        ("-17", -17),
        ("+12_3", 123),
        ("1_000_000", 1_000_000),
        ("1__2", 12),
        ("1_", 1),
        ("0x1F", 31),
        ("0x_1F", 31),
        ("+0x1F", 31),
        ("-0x1f", -31),
        ("0xDEAD_beef", 0xdead_beef),
        ("0b101", 5),
        ("-0b101", -5),
        ("0b1_0", 2),
        ("0755", 493),
        ("-0755", -493),
        ("0_", 0),
        ("00", 0),
        ("1:30", 90),
        ("-1:30", -90),
        ("1:30:00", 5400),
        ("-1:30:5", -5405),
        ("190:20:30", 685_230),
        ("9223372036854775807", i64::MAX),
        ("-9223372036854775808", i64::MIN),
    ];
    for &(src, want) in cases {
        assert_eq!(kind(src), NodeKind::Int(want), "{src}");
    }
}

#[test]
fn plain_strings_that_look_numeric() {
    // Each of these fails PyYAML's int and float patterns.
    for src in [
        "0o755", "09", "0x", "0b", "0b102", "1e3", "1E3", "1.0e3", "1.5E5", "-1e-3", "01:30",
        "1:60", "1:x", "+.5", "-.nan", "+.nan", ".", "._5", "1.2.3", "12abc", "0x1G", "1 2",
        ".Inf.", "inf", "nan", "Infinity", "1,000", "_1", "1-2",
    ] {
        assert_eq!(kind(src), s(src), "{src}");
    }
}

#[test]
fn plain_floats() {
    let cases: &[(&str, f64)] = &[
        ("1.0", 1.0),
        ("1.", 1.0),
        ("0.", 0.0),
        ("-0.0", -0.0),
        ("1._", 1.0),
        (".5", 0.5),
        ("-1.5", -1.5),
        ("+1.5", 1.5),
        ("1_000.5_5", 1000.55),
        ("1.0e+3", 1000.0),
        ("1.0E-3", 0.001),
        ("1.e+3", 1000.0),
        ("1.5e-3", 0.0015),
        (".5e-3", 0.0005),
        ("1:30.5", 90.5),
        ("1:30.", 90.0),
        ("-1:30.5", -90.5),
        (".inf", f64::INFINITY),
        (".Inf", f64::INFINITY),
        ("+.INF", f64::INFINITY),
        ("-.inf", f64::NEG_INFINITY),
        (".nan", f64::NAN),
        (".NaN", f64::NAN),
        (".NAN", f64::NAN),
        ("1.0e+400", f64::INFINITY),
    ];
    for &(src, want) in cases {
        assert_float(src, &kind(src), want);
    }
}

#[test]
fn integers_beyond_i64_become_floats() {
    assert_float(
        "9223372036854775808",
        &kind("9223372036854775808"),
        9_223_372_036_854_775_808.0,
    );
    assert_float(
        "1_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000",
        &kind("1_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000"),
        1e40,
    );
    assert_float(
        "-0x1_0000_0000_0000_0001",
        &kind("-0x1_0000_0000_0000_0001"),
        -18_446_744_073_709_551_617.0,
    );
    assert_float("huge", &kind(&"9".repeat(400)), f64::INFINITY);
}

#[test]
fn timestamps_stay_strings() {
    for src in [
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 -5",
    ] {
        assert_eq!(kind(src), s(src), "{src}");
    }
}

#[test]
fn quoted_and_block_scalars_are_strings() {
    let cases = [
        ("'yes'", "yes"),
        ("\"yes\"", "yes"),
        ("'42'", "42"),
        ("\"0x1F\"", "0x1F"),
        ("'~'", "~"),
        ("''", ""),
        ("\"1.5\"", "1.5"),
        ("|\n  42\n", "42\n"),
        (">-\n  yes\n", "yes"),
        ("|-\n  null\n", "null"),
    ];
    for (src, want) in cases {
        assert_eq!(kind(src), s(want), "{src}");
    }
}

#[test]
fn explicit_core_tags() {
    let cases = [
        ("!!str yes", s("yes")),
        ("!!str 42", s("42")),
        ("!!str ~", s("~")),
        ("!!str", s("")),
        ("!!int '42'", NodeKind::Int(42)),
        ("!!int ' 12 '", NodeKind::Int(12)),
        ("!!int \"0x1F\"", NodeKind::Int(31)),
        ("!!int '0o17'", NodeKind::Int(15)),
        ("!!int 1:30", NodeKind::Int(90)),
        ("!!bool 'yes'", NodeKind::Bool(true)),
        ("!!bool yEs", NodeKind::Bool(true)),
        ("!!bool \"OFF\"", NodeKind::Bool(false)),
        ("!!null foo", NodeKind::Null),
        ("!!null ''", NodeKind::Null),
        ("!!float '1_0'", NodeKind::Float(10.0)),
        ("!!float 1e3", NodeKind::Float(1000.0)),
        ("!!float '1_000.5'", NodeKind::Float(1000.5)),
        ("!<tag:yaml.org,2002:int> \"7\"", NodeKind::Int(7)),
    ];
    for (src, want) in cases {
        assert_eq!(kind(src), want, "{src}");
    }
    for (src, want) in [("!!map {a: 1}", json!({"a": 1})), ("!!seq [1]", json!([1]))] {
        assert_eq!(load_one(src).map(|n| n.to_json()), Ok(want), "{src}");
    }
    assert_float("!!float .inf", &kind("!!float '-.inf'"), f64::NEG_INFINITY);
}

#[test]
fn explicit_core_tag_errors() {
    let cases = [
        ("!!bool y", "invalid boolean value \"y\""),
        ("!!int abc", "invalid integer value \"abc\""),
        ("!!int", "invalid integer value \"\""),
        ("!!int 1.5", "invalid integer value \"1.5\""),
        ("!!float abc", "invalid float value \"abc\""),
        ("!!map 1", "expected a mapping node, but found a scalar"),
        ("!!seq 1", "expected a sequence node, but found a scalar"),
        ("!!str [1]", "expected a scalar node, but found a sequence"),
        (
            "!!int {a: 1}",
            "expected a scalar node, but found a mapping",
        ),
        (
            "!!seq {a: 1}",
            "expected a sequence node, but found a mapping",
        ),
        ("!!map [1]", "expected a mapping node, but found a sequence"),
    ];
    for (src, want) in cases {
        let e = err(src);
        assert!(e.message.contains(want), "{src}: {e}");
        assert_eq!(e.span, Span::START, "{src}");
    }
}

#[test]
fn non_specific_tag_resolves_even_quoted() {
    // PyYAML quirk: `!` asks for implicit resolution whatever the style.
    assert_eq!(kind("! 42"), NodeKind::Int(42));
    assert_eq!(kind("! '42'"), NodeKind::Int(42));
    assert_eq!(kind("! |\n  42\n"), NodeKind::Int(42));
    assert_eq!(kind("! abc"), s("abc"));
    assert_eq!(load_one("! [1]").map(|n| n.to_json()), Ok(json!([1])));
}

#[test]
fn other_tags_are_kept_and_scalars_stay_strings() {
    let cases = [
        ("!unsafe yes", s("yes"), "unsafe"),
        ("!unsafe '{{ x }}'", s("{{ x }}"), "unsafe"),
        ("!unsafe 42", s("42"), "unsafe"),
        ("!other |\n  a\n  b\n", s("a\nb\n"), "other"),
        ("!!binary aGk=", s("aGk="), "tag:yaml.org,2002:binary"),
        (
            "!<tag:example.com,2000:x> 1",
            s("1"),
            "tag:example.com,2000:x",
        ),
        ("!<!local> 1", s("1"), "local"),
        (
            "!unsafe [yes]",
            NodeKind::Seq(vec![Node::new(NodeKind::Bool(true), span(1, 10, 9))]),
            "unsafe",
        ),
    ];
    for (src, want, tag) in cases {
        let node = load_one(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(node.kind, want, "{src}");
        assert_eq!(node.tag.as_deref(), Some(tag), "{src}");
    }
    let cases = [
        (
            "!!set {a, b}",
            json!({"a": null, "b": null}),
            "tag:yaml.org,2002:set",
        ),
        ("!!omap [a: 1]", json!([{"a": 1}]), "tag:yaml.org,2002:omap"),
        // (`!vault` and `!vault-encrypted` are not kept: see the vault test below.)
        ("!custom {x: 1}", json!({"x": 1}), "custom"),
    ];
    for (src, want, tag) in cases {
        let node = load_one(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(node.to_json(), want, "{src}");
        assert_eq!(node.tag.as_deref(), Some(tag), "{src}");
    }
    assert_eq!(load_one("!!str x").map(|n| n.tag), Ok(None));
    assert_eq!(load_one("!!map {}").map(|n| n.tag), Ok(None));
}

#[test]
fn anchors_and_aliases_copy_the_node_with_the_alias_span() {
    let doc = load_one("a: &x\n  k: [1, 2]\nb: *x\nc: &y !unsafe v\nd: *y\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = (doc.get("a"), doc.get("b"));
    let (Some(a), Some(b)) = (a, b) else {
        panic!("missing keys in {doc:?}");
    };
    assert_eq!(a.kind, b.kind);
    assert_eq!(a.span, span(1, 4, 3));
    assert_eq!(b.span, span(3, 4, 21));
    // The copy's children keep where they were written.
    assert_eq!(b.get("k").map(|k| k.span), Some(span(2, 6, 11)));
    let d = doc.get("d").unwrap_or_else(|| panic!("no d"));
    assert_eq!(d.tag.as_deref(), Some("unsafe"));
    assert_eq!(d.span, span(5, 4, 43));
    assert_eq!(
        doc.to_json(),
        json!({"a": {"k": [1, 2]}, "b": {"k": [1, 2]}, "c": "v", "d": "v"})
    );
}

#[test]
fn alias_keys_and_redefinition_across_documents() {
    assert_eq!(
        load_one("{&a a: 1, *a : 2}").map(|n| n.to_json()),
        Ok(json!({"a": 2}))
    );
    let docs = load_str("- &a 1\n- *a\n---\n- &a 2\n- *a\n").unwrap_or_else(|e| panic!("{e}"));
    let docs: Vec<_> = docs.iter().map(Node::to_json).collect();
    assert_eq!(docs, vec![json!([1, 1]), json!([2, 2])]);
}

#[test]
fn alias_errors() {
    let cases = [
        (
            "a: 1\nb: *nope\n",
            "found undefined alias 'nope'",
            span(2, 4, 8),
        ),
        ("[*a]", "found undefined alias 'a'", span(1, 2, 1)),
        (
            "- &a 1\n---\n- *a\n",
            "found undefined alias 'a'",
            span(3, 3, 13),
        ),
        (
            "a: &a [*a]",
            "alias 'a' refers to a collection that contains it",
            span(1, 8, 7),
        ),
        (
            "a: &a 1\nb: &a 2",
            "found duplicate anchor 'a'; first occurrence at line 1 column 4",
            span(2, 4, 11),
        ),
        ("&a [!t &a 1]", "found duplicate anchor 'a'", span(1, 5, 4)),
    ];
    for (src, want, at) in cases {
        let e = load_str(src)
            .err()
            .unwrap_or_else(|| panic!("{src} loaded"));
        assert!(e.message.contains(want), "{src}: {e}");
        assert_eq!(e.span, at, "{src}: {e}");
    }
}

#[test]
fn alias_bombs_are_refused() {
    let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        src.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let e = err(&src);
    assert!(e.message.contains("alias bomb"), "{e}");
}

#[test]
fn deep_nesting_is_refused() {
    let depth = crate::MAX_DEPTH + 1;
    let src = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    // saphyr caps flow nesting at 255 itself; block nesting is ours to bound.
    assert!(err(&src).message.contains("recursion limit"));
    let src = format!("{}x", "- ".repeat(depth));
    let e = err(&src);
    assert!(e.message.contains("nested deeper than 1000"), "{e}");
    assert_eq!(e.span.col, 2001);
    let src = format!("{}x", "- ".repeat(crate::MAX_DEPTH));
    assert!(load_one(&src).is_ok());
}

#[test]
fn merge_keys() {
    let cases = [
        // A single mapping; explicit keys win wherever they are written.
        ("{a: 1, <<: {a: 2, b: 3}}", json!({"a": 1, "b": 3})),
        ("{<<: {a: 2, b: 3}, a: 1}", json!({"a": 1, "b": 3})),
        // A list: earlier mappings win over later ones.
        (
            "{<<: [{x: 1}, {x: 2, y: 3}], k: 0}",
            json!({"x": 1, "y": 3, "k": 0}),
        ),
        (
            "{k: 0, <<: [{x: 1}, {x: 2, y: 3, k: 9}]}",
            json!({"x": 1, "y": 3, "k": 0}),
        ),
        // Through anchors, and merges inside merged mappings.
        (
            "base: &b {a: 1, b: 2}\nmore: &m {<<: *b, c: 3}\nx:\n  <<: *m\n  a: 9\n",
            json!({"base": {"a": 1, "b": 2}, "more": {"a": 1, "b": 2, "c": 3}, "x": {"a": 9, "b": 2, "c": 3}}),
        ),
        // Two merge keys in one mapping: the later one's pairs come later and win.
        ("{<<: {a: 1}, <<: {a: 2, b: 2}}", json!({"a": 2, "b": 2})),
        // Only a plain (or `!!merge`) `<<` merges.
        ("{'<<': {a: 1}}", json!({"<<": {"a": 1}})),
        ("{? !!merge x : {a: 1}}", json!({"a": 1})),
        ("{<<: []}", json!({})),
    ];
    for (src, want) in cases {
        assert_eq!(load_one(src).map(|n| n.to_json()), Ok(want), "{src}");
    }
    // Order follows Python: merged keys first.
    let doc = load_one("{k: 0, <<: {a: 1}}").unwrap_or_else(|e| panic!("{e}"));
    let keys: Vec<_> = doc
        .as_map()
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["a", "k"]);
}

#[test]
fn merge_errors() {
    let cases = [
        ("<<: 1", "expected a mapping or list of mappings for merging into the mapping at line 1 column 1, but found an integer", span(1, 5, 4)),
        ("a: {<<: 1}", "but found an integer", span(1, 9, 8)),
        ("a:\n  <<: [{x: 1}, 2]\n", "expected a mapping for merging into the mapping at line 2 column 3, but found an integer", span(2, 16, 18)),
        ("<<:", "but found null", span(1, 3, 2)),
        ("- <<", "merge key '<<' that is not a mapping key", span(1, 3, 2)),
        ("a: <<", "merge key '<<' that is not a mapping key", span(1, 4, 3)),
        ("a: =", "plain '=' that is not a mapping key", span(1, 4, 3)),
    ];
    for (src, want, at) in cases {
        let e = err(src);
        assert!(e.message.contains(want), "{src}: {e}");
        assert_eq!(e.span, at, "{src}: {e}");
    }
    // As a key, `=` is just a string.
    assert_eq!(load_one("{=: 1}").map(|n| n.to_json()), Ok(json!({"=": 1})));
    assert_eq!(kind("'='"), s("="));
}

#[test]
fn duplicate_keys_keep_first_position_and_last_value() {
    let (doc, warnings) =
        load_one_with_warnings("a: 1\nb: 2\na: 3\n").unwrap_or_else(|e| panic!("{e}"));
    let pairs = doc.as_map().unwrap_or_default();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0].0.as_str(), Some("a"));
    assert_eq!(pairs[0].0.span, span(1, 1, 0));
    assert_eq!(pairs[0].1.as_i64(), Some(3));
    assert_eq!(pairs[0].1.span, span(3, 4, 13));
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].span, span(3, 1, 10));
    assert_eq!(
        warnings[0].to_string(),
        "found a duplicate dict key (a); using last defined value only at line 3 column 1"
    );

    // Python equality: True == 1 == 1.0, False == 0 == -0.0; the first key is kept.
    let cases = [
        ("{1: a, true: b, 1.0: c}", json!({"1": "c"})),
        ("{yes: a, 1: b}", json!({"True": "b"})),
        ("{0: a, false: b, -0.0: c}", json!({"0": "c"})),
        ("{~: a, null: b, '': c}", json!({"None": "b", "": "c"})),
        ("{'1': a, 1: b}", json!({"1": "b"})),
        ("{.nan: a, .nan: b}", json!({"nan": "b"})),
        ("{1.5: a, 1.50: b, 2.5: c}", json!({"1.5": "b", "2.5": "c"})),
    ];
    for (src, want) in cases {
        assert_eq!(load_one(src).map(|n| n.to_json()), Ok(want), "{src}");
    }
    assert_eq!(
        load_one("{1: a, true: b}").map(|n| n.as_map().map(<[_]>::len)),
        Ok(Some(1))
    );
    assert_eq!(
        load_one("{.nan: a, .nan: b}").map(|n| n.as_map().map(<[_]>::len)),
        Ok(Some(2))
    );
    let (docs, warnings) = crate::load_str_with_warnings("{a: 1, a: 2}\n---\n[{b: 1, b: 2}]\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(docs.len(), 2);
    let spans: Vec<_> = warnings.iter().map(|w| w.span).collect();
    assert_eq!(spans, [span(1, 8, 7), span(3, 9, 25)]);
    // Overriding a merged key is not a duplicate worth a warning.
    let (_, warnings) =
        load_one_with_warnings("{<<: {a: 1}, a: 2}").unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn unhashable_keys_are_errors() {
    let cases = [
        ("{[1, 2]: 3}", span(1, 2, 1)),
        ("? {a: 1}\n: 4\n", span(1, 3, 2)),
    ];
    for (src, at) in cases {
        let e = err(src);
        assert!(e.message.contains("found unhashable key"), "{src}: {e}");
        assert_eq!(e.span, at, "{src}");
    }
}

/// Asserts a span's line and column, and that its byte offset points at `text`.
#[track_caller]
fn assert_at(src: &str, got: Span, line: u32, col: u32, text: &str) {
    assert_eq!((got.line, got.col), (line, col), "{text:?} in {src:?}");
    let found = src.get(got.offset..).unwrap_or_default();
    assert!(
        found.starts_with(text),
        "offset {} is at {found:?}, expected {text:?}",
        got.offset
    );
}

#[test]
fn spans_in_block_collections() {
    let src = "\
- name: play
  hosts: all
  vars:
    list:
      - one
      - two: 2
    nested:
    - - a
  tasks:
  - debug:
      msg: |
        hi
    when: x
";
    let doc = load_one(src).unwrap_or_else(|e| panic!("{e}"));
    let at = |node: &Node, line, col, text| assert_at(src, node.span, line, col, text);
    at(&doc, 1, 1, "- name");
    let play = &doc.as_seq().unwrap_or_default()[0];
    at(play, 1, 3, "name: play");
    let pairs = play.as_map().unwrap_or_default();
    let expected = [
        (1, 3, "name", 1, 9, "play"),
        (2, 3, "hosts", 2, 10, "all"),
        (3, 3, "vars", 4, 5, "list:"),
        // An indentless sequence starts at its first dash.
        (9, 3, "tasks", 10, 3, "- debug"),
    ];
    assert_eq!(pairs.len(), expected.len());
    for ((key, value), (kl, kc, kt, vl, vc, vt)) in pairs.iter().zip(expected) {
        at(key, kl, kc, kt);
        at(value, vl, vc, vt);
    }
    let vars = play.get("vars").unwrap_or_else(|| panic!("no vars"));
    let list = vars.get("list").unwrap_or_else(|| panic!("no list"));
    at(list, 5, 7, "- one");
    let items = list.as_seq().unwrap_or_default();
    at(&items[0], 5, 9, "one");
    at(&items[1], 6, 9, "two: 2");
    at(
        items[1].get("two").unwrap_or_else(|| panic!("no two")),
        6,
        14,
        "2",
    );
    let nested = vars.get("nested").unwrap_or_else(|| panic!("no nested"));
    // The inner sequence shares the outer one's first line; both start at a dash.
    at(nested, 8, 5, "- - a");
    at(&nested.as_seq().unwrap_or_default()[0], 8, 7, "- a");
    let task = &play.get("tasks").and_then(Node::as_seq).unwrap_or_default()[0];
    at(task, 10, 5, "debug:");
    let msg = task.get("debug").and_then(|d| d.get("msg"));
    let msg = msg.unwrap_or_else(|| panic!("no msg"));
    at(msg, 11, 12, "|");
    assert_eq!(msg.as_str(), Some("hi\n"));
    let when = task.as_map().unwrap_or_default()[1].0.clone();
    at(&when, 13, 5, "when");
}

#[test]
fn spans_in_flow_collections() {
    let src = "a: {b: [1, {c: d}], 'e': \"f\"}\nz: [\n  x,\n  {y: 1}\n]\n";
    let doc = load_one(src).unwrap_or_else(|e| panic!("{e}"));
    let at = |node: &Node, line, col, text| assert_at(src, node.span, line, col, text);
    let a = doc.get("a").unwrap_or_else(|| panic!("no a"));
    at(a, 1, 4, "{b:");
    let pairs = a.as_map().unwrap_or_default();
    at(&pairs[0].0, 1, 5, "b:");
    at(&pairs[0].1, 1, 8, "[1,");
    at(&pairs[1].0, 1, 21, "'e'");
    at(&pairs[1].1, 1, 26, "\"f\"");
    let inner = &pairs[0].1.as_seq().unwrap_or_default()[1];
    at(inner, 1, 12, "{c: d}");
    at(&inner.as_map().unwrap_or_default()[0].1, 1, 16, "d}");
    let z = doc.get("z").unwrap_or_else(|| panic!("no z"));
    at(z, 2, 4, "[");
    let items = z.as_seq().unwrap_or_default();
    at(&items[0], 3, 3, "x,");
    at(&items[1], 4, 3, "{y: 1}");
    at(
        items[1].get("y").unwrap_or_else(|| panic!("no y")),
        4,
        7,
        "1}",
    );
}

#[test]
fn spans_with_properties_start_at_the_first_property() {
    let src = "a: &x !t v\nb: !!str &y\n  - 1\nc: *x\n";
    let doc = load_one(src);
    assert!(doc.is_err(), "!!str on a sequence");
    let src = "a: &x !t v\nb: !!seq &y\n  - 1\nc: *x\nd: *y\n";
    let doc = load_one(src).unwrap_or_else(|e| panic!("{e}"));
    let at = |key: &str, line, col, text| {
        let node = doc.get(key).unwrap_or_else(|| panic!("no {key}"));
        assert_at(src, node.span, line, col, text);
    };
    at("a", 1, 4, "&x");
    at("b", 2, 4, "!!seq");
    at("c", 4, 4, "*x");
    at("d", 5, 4, "*y");
}

#[test]
fn block_scalars_start_at_their_header() {
    let src = "a: |\n  x\nb: >-  # folded\n\n  y\nc: |\nd: [x]\n\"e |\": |2+\n   z\n--- |\n  doc\n";
    let docs = load_str(src).unwrap_or_else(|e| panic!("{e}"));
    let doc = &docs[0];
    let at = |key: &str, line, col, text| {
        let node = doc.get(key).unwrap_or_else(|| panic!("no {key}"));
        assert_at(src, node.span, line, col, text);
    };
    at("a", 1, 4, "|\n  x");
    at("b", 3, 4, ">-");
    at("c", 6, 4, "|\nd:");
    at("e |", 8, 8, "|2+");
    assert_at(src, docs[1].span, 10, 5, "|\n  doc");
}

#[test]
fn spans_count_bytes_and_characters() {
    // Columns count characters, offsets count bytes; a BOM is not a column.
    let src = "\u{feff}é: ü\nx: [ß, y]\n";
    let doc = load_one(src).unwrap_or_else(|e| panic!("{e}"));
    let pairs = doc.as_map().unwrap_or_default();
    assert_at(src, pairs[0].0.span, 1, 1, "é:");
    assert_at(src, pairs[0].1.span, 1, 4, "ü");
    let y = &pairs[1].1.as_seq().unwrap_or_default()[1];
    assert_at(src, y.span, 2, 8, "y]");

    let src = "a: 1\r\nb: 2\r\n";
    let doc = load_one(src).unwrap_or_else(|e| panic!("{e}"));
    let b = doc.get("b").unwrap_or_else(|| panic!("no b"));
    assert_at(src, b.span, 2, 4, "2");
}

#[test]
fn parse_errors_carry_positions() {
    let cases = [
        ("a: [1, 2\n", span(2, 1, 9)),
        ("a: b: c\n", span(1, 5, 4)),
        ("a:\n  b: 1\n c: 2\n", span(3, 2, 11)),
        ("key: \"unterminated\n", span(1, 6, 5)),
        ("- a\nb: 1\n", span(2, 1, 4)),
        ("é: [\"ü\", }\n", span(1, 10, 11)),
    ];
    for (src, at) in cases {
        let e = load_str(src)
            .err()
            .unwrap_or_else(|| panic!("{src:?} loaded"));
        assert_eq!(e.span, at, "{src:?}: {e}");
        assert!(!e.message.is_empty());
    }
}

#[test]
fn documents() {
    assert_eq!(load_one(""), Ok(Node::new(NodeKind::Null, Span::START)));
    assert_eq!(
        load_one("# just a comment\n"),
        Ok(Node::new(NodeKind::Null, Span::START))
    );
    assert_eq!(load_str(""), Ok(vec![]));
    assert_eq!(load_one("---\n").map(|n| n.kind), Ok(NodeKind::Null));
    assert_eq!(
        load_one("a: 1\n...\n").map(|n| n.to_json()),
        Ok(json!({"a": 1}))
    );

    let e = err("a: 1\n---\nb: 2\n");
    assert_eq!(
        e.message,
        "expected a single document in the stream, but found another document"
    );
    assert_eq!(e.span, span(2, 1, 5));
    assert_eq!(err("a: 1\n---\n").span, span(2, 1, 5));

    let docs = load_str("1\n--- 2\n---\n...\n").unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<_> = docs.into_iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [NodeKind::Int(1), NodeKind::Int(2), NodeKind::Null]);
}

#[test]
fn accessors() {
    let doc = load_one("s: x\nb: yes\ni: 7\nf: 1.5\nl: [1]\nm: {k: v}\nn: ~\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let get = |k: &str| doc.get(k).unwrap_or_else(|| panic!("no {k}"));
    assert_eq!(get("s").as_str(), Some("x"));
    assert_eq!(get("b").as_bool(), Some(true));
    assert_eq!(get("i").as_i64(), Some(7));
    assert_eq!(get("i").as_f64(), Some(7.0));
    assert_eq!(get("f").as_f64(), Some(1.5));
    assert_eq!(get("f").as_i64(), None);
    assert_eq!(get("l").as_seq().map(<[_]>::len), Some(1));
    assert_eq!(get("m").as_map().map(<[_]>::len), Some(1));
    assert!(get("n").is_null());
    assert_eq!(get("s").as_bool(), None);
    assert_eq!(doc.get("missing"), None);
    assert_eq!(get("s").get("x"), None);

    let names: Vec<_> = ["n", "b", "i", "f", "s", "l", "m"]
        .iter()
        .map(|k| get(k).type_name())
        .collect();
    assert_eq!(
        names,
        [
            "null",
            "a boolean",
            "an integer",
            "a float",
            "a string",
            "a sequence",
            "a mapping"
        ]
    );

    // Hand-built mappings may repeat a key; the last one wins like in a dict.
    let k = |t: &str| Node::new(s(t), Span::START);
    let map = Node::new(
        NodeKind::Map(vec![(k("a"), k("1")), (k("a"), k("2"))]),
        Span::START,
    );
    assert_eq!(map.get("a").and_then(Node::as_str), Some("2"));
}

#[test]
fn json_conversion() {
    let doc = load_one(
        "{3: a, on: b, no: c, ~: d, 1.5: e, 1e3: f, 2.0: g, .inf: h, -.inf: i, .nan: j, \
         1.0e+20: k, 0.0001: l, 0.00001: m, s: 1.0, t: .nan, u: -.inf, v: [0x10, 1.50], w: 'x'}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let json = doc.to_json();
    assert_eq!(
        json,
        json!({
            "3": "a", "True": "b", "False": "c", "None": "d", "1.5": "e", "1e3": "f",
            "2.0": "g", "inf": "h", "-inf": "i", "nan": "j", "1e+20": "k", "0.0001": "l",
            "1e-05": "m", "s": 1.0, "t": "nan", "u": "-inf", "v": [16, 1.5], "w": "x"
        })
    );
    // Integral floats stay floats, so they print with a fraction.
    assert_eq!(
        serde_json::to_string(&json["s"]).ok().as_deref(),
        Some("1.0")
    );
    // Key order is source order.
    let keys: Vec<_> = json
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(keys[..3], ["3", "True", "False"]);
}

#[test]
fn python_float_repr() {
    let cases = [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (1.5, "1.5"),
        (100.0, "100.0"),
        (0.1, "0.1"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.25e-7, "1.25e-07"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (123_456_789_012_345_680.0, "1.2345678901234568e+17"),
        (-2.5e300, "-2.5e+300"),
        (f64::NAN, "nan"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ];
    for (f, want) in cases {
        assert_eq!(python_float(f), want, "{f:e}");
    }
}

#[test]
fn python_str_of_keys() {
    let node =
        load_one("['it''s', \"a\\nb\", [1, {k: ~}], 'q\"x''']").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        crate::json::python_repr(&node),
        r#"["it's", 'a\nb', [1, {'k': None}], 'q"x\'']"#
    );
}

/// A compact, reviewable rendering of a tree: one line per node with its position.
fn outline(node: &Node) -> String {
    fn walk(node: &Node, depth: usize, label: &str, out: &mut String) {
        let pad = "  ".repeat(depth);
        let tag = node
            .tag
            .as_deref()
            .map(|t| format!(" !{t}"))
            .unwrap_or_default();
        let head = format!("{pad}{label}@{}{tag} ", node.span);
        match &node.kind {
            NodeKind::Seq(items) => {
                out.push_str(&format!("{head}seq\n"));
                for item in items {
                    walk(item, depth + 1, "- ", out);
                }
            }
            NodeKind::Map(pairs) => {
                out.push_str(&format!("{head}map\n"));
                for (key, value) in pairs {
                    let label = format!("{} @{} => ", crate::json::python_repr(key), key.span);
                    walk(value, depth + 1, &label, out);
                }
            }
            scalar => out.push_str(&format!("{head}{scalar:?}\n")),
        }
    }
    let mut out = String::new();
    walk(node, 0, "", &mut out);
    out
}

const PLAYBOOK: &str = r#"---
- name: Configure web servers
  hosts: webservers
  become: yes
  gather_facts: no
  vars:
    http_port: 0080
    max_clients: 200
    timeout: 1:30
    ratio: 1.5e3
    version: "1.10"
    defaults: &defaults
      state: present
      update_cache: on
  tasks:
    - name: Install nginx
      apt:
        <<: *defaults
        name: nginx
        state: latest
    - name: Template config
      template: {src: nginx.j2, dest: /etc/nginx/nginx.conf, mode: 0644}
      notify: restart nginx
      when: ansible_os_family == "Debian"
    - debug:
        msg: !unsafe "{{ not_templated }}"
  handlers:
    - name: restart nginx
      service: name=nginx state=restarted
"#;

#[test]
fn snapshot_playbook_debug() {
    let doc = load_one(PLAYBOOK).unwrap_or_else(|e| panic!("{e}"));
    let play = doc
        .as_seq()
        .and_then(|plays| plays.first())
        .and_then(|play| play.get("tasks"))
        .and_then(|tasks| tasks.as_seq())
        .and_then(|tasks| tasks.first())
        .cloned()
        .unwrap_or_else(|| panic!("no first task"));
    insta::assert_debug_snapshot!(play);
}

#[test]
fn snapshot_playbook_outline() {
    let doc = load_one(PLAYBOOK).unwrap_or_else(|e| panic!("{e}"));
    insta::assert_snapshot!(outline(&doc));
}

#[test]
fn snapshot_playbook_json() {
    let doc = load_one(PLAYBOOK).unwrap_or_else(|e| panic!("{e}"));
    insta::assert_yaml_snapshot!(doc.to_json());
}

/// `db_password: !vault |` as `ansible-vault encrypt_string --name db_password hunter2` wrote
/// it (crates/vault/tests/fixtures/encrypt_string.yml), under a second key.
const VAULTED: &str = include_str!("../../vault/tests/fixtures/encrypt_string.yml");

#[test]
fn vault_tagged_scalars_are_decrypted_while_loading() {
    let src = format!("user: admin\n{VAULTED}");
    // Only this test installs a keyring in the yaml crate's test process.
    tend_vault::install(tend_vault::Keyring::new());
    let e = err(&src);
    assert_eq!(
        e.message,
        "cannot decrypt this '!vault' value: Attempting to decrypt but no vault secrets found."
    );
    assert_eq!((e.span.line, e.span.col), (2, 14));

    let mut wrong = tend_vault::Keyring::new();
    wrong.add("default", tend_vault::Secret::new("wrong"));
    tend_vault::install(wrong);
    assert!(err(&src)
        .message
        .ends_with("Decryption failed (no vault secrets were found that could decrypt)."));

    let mut ring = tend_vault::Keyring::new();
    ring.add(
        "default",
        tend_vault::Secret::new("correct horse battery staple"),
    );
    tend_vault::install(ring);
    let node = load_one(&src).expect("load");
    let value = node.get("db_password").expect("db_password");
    assert_eq!(value.kind, s("hunter2"));
    assert_eq!(value.tag, None);
    assert_eq!(
        node.to_json(),
        json!({"user": "admin", "db_password": "hunter2"})
    );
    // Anchored, aliased and under the deprecated tag name it is the same string.
    let aliased = format!(
        "a: &x {}\nb: *x\n",
        VAULTED
            .trim_start_matches("db_password: ")
            .replace("!vault", "!vault-encrypted")
    );
    assert_eq!(
        load_one(&aliased).expect("load").to_json(),
        json!({"a": "hunter2", "b": "hunter2"})
    );
    let e = err("x: !vault {a: 1}\n");
    assert_eq!(e.message, "the '!vault' tag requires a string value");
}
