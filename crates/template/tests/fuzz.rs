//! Fuzzing of the template layer (proptest, bounded so it runs with every `cargo test`):
//! checking, rendering and evaluating any text never panics, hangs or overflows the stack, and
//! a syntax error points inside the text. Inputs are Jinja built from Ansible's expressions,
//! filters and statements, then mutated. The seeds in `tests/fuzz-corpus/template` are
//! replayed every run.
//!
//! Lookups are left out of the generator on purpose: `pipe`, `password` and friends touch the
//! controller, which a fuzzer must not do at random.

#[path = "../../../tests/fuzz-corpus/harness.rs"]
mod harness;

use proptest::prelude::*;
use serde_json::{json, Value as Json};
use tend_template::{TemplateError, Templater};

fn vars() -> Json {
    json!({
        "x": 1, "s": "str", "l": [1, 2, 3], "d": {"a": 1, "b": "t", "c": [1, {"e": null}]},
        "n": null, "t": true, "f": 1.5, "u": "{{ x }}", "items": [{"k": "a", "v": 1}],
        "inventory_hostname": "h1", "groups": {"all": ["h1"]},
    })
}

/// A syntax error must point inside the text it is about.
fn positioned(text: &str, e: &TemplateError) -> Result<(), String> {
    if let TemplateError::Syntax { line, col, message } = e {
        if message.trim().is_empty() {
            return Err("a syntax error without a message".into());
        }
        if let Some(line) = *line {
            if line < 1 || line > harness::max_line(text) {
                return Err(format!("line {line} outside the text: {e}"));
            }
            if let Some(col) = *col {
                let width = text
                    .lines()
                    .nth(line as usize - 1)
                    .map_or(0, |l| l.chars().count());
                if col < 1 || col as usize > width + 1 {
                    return Err(format!(
                        "column {col} outside line {line} ({width} chars): {e}"
                    ));
                }
            }
        }
    } else if e.to_string().trim().is_empty() {
        return Err(format!("an error without a message: {e:?}"));
    }
    Ok(())
}

/// Every entry point on one text under the bounded runner; checks the errors' positions.
fn check(text: &str, what: &str) -> Result<(), String> {
    let owned = text.to_string();
    let results = harness::bounded(what, move || {
        let t = Templater::new();
        let vars = vars();
        let mut errors = Vec::new();
        let mut keep = |r: Result<(), TemplateError>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };
        keep(t.check_template(&owned));
        keep(t.render_str(&owned, &vars).map(drop));
        keep(t.render_template(&owned, "fuzz.j2", &vars).map(drop));
        keep(t.check_expr(&owned));
        keep(t.eval_condition(&owned, &vars).map(drop));
        keep(
            t.render_value(&json!({"k": [owned.clone()]}), &vars)
                .map(drop),
        );
        errors
    });
    results.iter().try_for_each(|e| positioned(text, e))
}

// ---------------------------------------------------------------------------------------------
// Structured inputs.

const NAMES: &[&str] = &[
    "x",
    "s",
    "l",
    "d",
    "n",
    "t",
    "f",
    "u",
    "items",
    "missing",
    "d.a",
    "d.c[1].e",
    "l[0]",
    "l[-1]",
    "d['b']",
    "loop.index",
    "item",
    "inventory_hostname",
    "groups.all",
    "d.nope.deeper",
    "omit",
    "hostvars",
    "range(3)",
    "dict(a=1)",
    "namespace(v=1)",
    "lipsum(1)",
    "now()",
];

const LITERALS: &[&str] = &[
    "1",
    "-3",
    "0",
    "1.5",
    "'a'",
    "\"b\"",
    "'%s-%d'",
    "''",
    "[1, 2]",
    "[]",
    "{'k': 1}",
    "{}",
    "true",
    "False",
    "none",
    "None",
    "(1, 'a')",
    "'\\n'",
    "'é'",
    "'{{ x }}'",
    "'a,b'",
    "'[0-9]+'",
    "'%(k)s'",
];

const FILTERS: &[&str] = &[
    "default(1)",
    "d",
    "default(omit)",
    "int",
    "float",
    "string",
    "bool",
    "lower",
    "upper",
    "join(',')",
    "length",
    "first",
    "last",
    "unique",
    "sort",
    "reverse",
    "list",
    "map('string')",
    "map(attribute='k')",
    "select('defined')",
    "reject('none')",
    "selectattr('k', 'equalto', 'a')",
    "combine({'z': 1})",
    "combine(d, recursive=true)",
    "dict2items",
    "items2dict",
    "to_json",
    "from_json",
    "to_yaml",
    "from_yaml",
    "to_nice_json",
    "to_nice_yaml(indent=2)",
    "regex_replace('a', 'b')",
    "regex_search('(')",
    "regex_findall('[0-9]')",
    "replace('a', 'b')",
    "split(',')",
    "b64encode",
    "b64decode",
    "hash('sha1')",
    "checksum",
    "quote",
    "basename",
    "dirname",
    "ternary(1, 2)",
    "mandatory",
    "flatten",
    "zip([1])",
    "trim",
    "center(5)",
    "truncate(3)",
    "wordwrap(3)",
    "urlize",
    "xmlattr",
    "indent(2)",
    "format(1)",
    "comment",
    "type_debug",
    "random(seed=1)",
    "shuffle(seed=1)",
    "version('1.0', '>')",
    "ipaddr",
    "nosuchfilter",
    "int(base=16)",
    "round(1)",
    "abs",
    "sum",
    "min",
    "max",
    "batch(2)",
    "slice(2)",
    "groupby('k')",
    "tojson",
    "attr('a')",
    "dictsort",
    "items",
    "human_readable",
    "human_to_bytes",
    "bool | string",
    "strftime('%Y')",
    "to_datetime",
    "splitext",
    "realpath",
    "relpath('/')",
    "expanduser",
    "win_basename",
    "extract(d)",
    "subelements('c')",
    "json_query('a')",
    "unknownfilter(1, x=2)",
];

const TESTS: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "string",
    "number",
    "mapping",
    "iterable",
    "sequence",
    "match('a')",
    "search('b')",
    "regex('c')",
    "version('1', 'lt')",
    "subset([1])",
    "in([1])",
    "truthy",
    "falsy",
    "success",
    "failed",
    "changed",
    "skipped",
    "file",
    "directory",
    "exists",
    "abs",
    "divisibleby(2)",
    "equalto(1)",
    "sameas(true)",
    "nosuchtest",
];

/// Pieces that mutations insert.
const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{{-",
    "-}}",
    "{%-",
    "-%}",
    "|",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "\\",
    ".",
    ",",
    "=",
    ":",
    "~",
    "+",
    "*",
    "/",
    "//",
    "%",
    "not ",
    " and ",
    " or ",
    " in ",
    " is ",
    " if ",
    " else ",
    "endfor",
    "endif",
    "endmacro",
    "recursive",
    "loop.cycle(1, 2)",
    "caller()",
    "super()",
    "self",
    "varargs",
    "\n",
    "\t",
    "é",
    "\u{0}",
    "{% raw %}",
    "{% endraw %}",
    "{% include 'nope' %}",
    "{% extends 'nope' %}",
    "{% import 'nope' as m %}",
    "{% filter upper %}",
    "{% endfilter %}",
    "{% break %}",
    "{% continue %}",
    "#jinja2: trim_blocks: False\n",
    "{% do x %}",
    "{% with a = 1 %}",
];

#[derive(Debug, Clone)]
enum Expr {
    Atom(String),
    Bin(Box<Expr>, &'static str, Box<Expr>),
    Filter(Box<Expr>, &'static str),
    Test(Box<Expr>, bool, &'static str),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Call(&'static str, Vec<Expr>),
}

fn expr() -> impl Strategy<Value = Expr> {
    let atom = prop_oneof![
        prop::sample::select(NAMES).prop_map(|s| Expr::Atom(s.to_string())),
        prop::sample::select(LITERALS).prop_map(|s| Expr::Atom(s.to_string())),
    ];
    atom.prop_recursive(5, 32, 3, |inner| {
        let ops: &'static [&'static str] = &[
            "+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">=", "and", "or", "in", "not in",
        ];
        prop_oneof![
            (inner.clone(), prop::sample::select(ops), inner.clone())
                .prop_map(|(a, op, b)| Expr::Bin(Box::new(a), op, Box::new(b))),
            (inner.clone(), prop::sample::select(FILTERS))
                .prop_map(|(a, f)| Expr::Filter(Box::new(a), f)),
            (inner.clone(), any::<bool>(), prop::sample::select(TESTS))
                .prop_map(|(a, not, t)| Expr::Test(Box::new(a), not, t)),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(a, b, c)| Expr::Cond(
                Box::new(a),
                Box::new(b),
                Box::new(c)
            )),
            inner.clone().prop_map(|a| Expr::Not(Box::new(a))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Index(Box::new(a), Box::new(b))),
            (
                prop::sample::select(&["range", "dict", "lipsum", "zip", "cycler", "joiner"][..]),
                prop::collection::vec(inner, 0..3)
            )
                .prop_map(|(f, args)| Expr::Call(f, args)),
        ]
    })
}

fn show(e: &Expr) -> String {
    match e {
        Expr::Atom(s) => s.clone(),
        Expr::Bin(a, op, b) => format!("({} {op} {})", show(a), show(b)),
        Expr::Filter(a, f) => format!("{} | {f}", show(a)),
        Expr::Test(a, not, t) => {
            format!("{} is {}{t}", show(a), if *not { "not " } else { "" })
        }
        Expr::Cond(a, b, c) => format!("({} if {} else {})", show(a), show(b), show(c)),
        Expr::Not(a) => format!("not {}", show(a)),
        Expr::Index(a, b) => format!("{}[{}]", show(a), show(b)),
        Expr::Call(f, args) => {
            // Keep range() small: the generator hunts bugs, not slow but legal templates.
            let args: Vec<String> = args.iter().map(show).collect();
            match *f {
                "range" => format!("range([{}] | length)", args.join(", ")),
                _ => format!("{f}({})", args.join(", ")),
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Stmt {
    Text(String),
    Print(Expr),
    If(Expr, Vec<Stmt>, Vec<Stmt>),
    For(Expr, Vec<Stmt>),
    Set(Expr),
    Macro(Vec<Stmt>),
    Comment(String),
}

fn stmt() -> impl Strategy<Value = Stmt> {
    let leaf = prop_oneof![
        "[a-z \n]{0,10}".prop_map(Stmt::Text),
        expr().prop_map(Stmt::Print),
        expr().prop_map(Stmt::Set),
        "[ -~]{0,10}".prop_map(Stmt::Comment),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            (
                expr(),
                prop::collection::vec(inner.clone(), 0..3),
                prop::collection::vec(inner.clone(), 0..2)
            )
                .prop_map(|(c, a, b)| Stmt::If(c, a, b)),
            (expr(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(e, body)| Stmt::For(e, body)),
            prop::collection::vec(inner, 0..3).prop_map(Stmt::Macro),
        ]
    })
}

fn write(s: &Stmt, out: &mut String) {
    match s {
        Stmt::Text(t) => out.push_str(t),
        Stmt::Print(e) => out.push_str(&format!("{{{{ {} }}}}", show(e))),
        Stmt::If(c, a, b) => {
            out.push_str(&format!("{{% if {} %}}", show(c)));
            a.iter().for_each(|s| write(s, out));
            if !b.is_empty() {
                out.push_str("{% else %}");
                b.iter().for_each(|s| write(s, out));
            }
            out.push_str("{% endif %}");
        }
        Stmt::For(e, body) => {
            // Iterations are capped so nested loops stay small.
            out.push_str(&format!(
                "{{% for item in ({}) | list | batch(1) | list | first | default([]) %}}",
                show(e)
            ));
            body.iter().for_each(|s| write(s, out));
            out.push_str("{% else %}none{% endfor %}");
        }
        Stmt::Set(e) => out.push_str(&format!("{{% set v = {} %}}", show(e))),
        Stmt::Macro(body) => {
            out.push_str("{% macro m(a, b=2) %}");
            body.iter().for_each(|s| write(s, out));
            out.push_str("{% endmacro %}{{ m(1) }}");
        }
        Stmt::Comment(c) => out.push_str(&format!("{{# {c} #}}")),
    }
}

fn template() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(stmt(), 1..4),
        harness::edits(PIECES, 5),
    )
        .prop_map(|(stmts, edits)| {
            let mut text = String::new();
            stmts.iter().for_each(|s| write(s, &mut text));
            harness::mutate(&text, &edits)
        })
}

proptest! {
    #![proptest_config(harness::config(256))]

    #[test]
    fn structured_templates_never_panic_and_errors_are_positioned(text in template()) {
        if let Err(message) = check(&text, &format!("{text:?}")) {
            prop_assert!(false, "{message}\ninput: {text:?}");
        }
    }

    #[test]
    fn single_expressions_never_panic(e in expr(), edits in harness::edits(PIECES, 3)) {
        let text = harness::mutate(&format!("{{{{ {} }}}}", show(&e)), &edits);
        if let Err(message) = check(&text, &format!("{text:?}")) {
            prop_assert!(false, "{message}\ninput: {text:?}");
        }
    }

    #[test]
    fn arbitrary_text_with_markers_never_panics(
        body in "[ -~\n]{0,60}",
        edits in harness::edits(PIECES, 8),
    ) {
        let text = harness::mutate(&format!("{{{{{body}"), &edits);
        if let Err(message) = check(&text, &format!("{text:?}")) {
            prop_assert!(false, "{message}\ninput: {text:?}");
        }
    }
}

proptest! {
    // Long chains cost the parser time quadratic in their length (a 16 KiB `not not ...`
    // takes a second unoptimised): fewer cases.
    #![proptest_config(harness::config(48))]

    /// Nesting of any construct, up to far past what a parser's recursion allows: an error or
    /// a result, never a stack overflow.
    #[test]
    fn deep_nesting_is_refused_not_overflowed(depth in 1usize..3000, shape in 0u8..6) {
        let text = nested(depth, shape);
        if let Err(message) = check(&text, &format!("depth {depth} shape {shape}")) {
            prop_assert!(false, "{message}");
        }
    }
}

fn nested(depth: usize, shape: u8) -> String {
    match shape {
        0 => format!("{{{{ {}1{} }}}}", "(".repeat(depth), ")".repeat(depth)),
        1 => format!("{{{{ {}1{} }}}}", "[".repeat(depth), "]".repeat(depth)),
        2 => format!(
            "{}x{}",
            "{% if true %}".repeat(depth),
            "{% endif %}".repeat(depth)
        ),
        3 => format!("{{{{ x{} }}}}", " | string".repeat(depth)),
        4 => format!("{{{{ {}x }}}}", "not ".repeat(depth)),
        _ => format!("{{{{ {}1 }}}}", "- ".repeat(depth)),
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus and the regressions it holds.

#[test]
fn corpus_replays_cleanly() {
    for (name, bytes) in harness::corpus("template") {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Err(message) = check(&text, &name) {
            panic!("corpus seed {name}: {message}");
        }
    }
}

#[test]
fn a_macro_calling_itself_is_an_error_not_an_overflow() {
    let text = "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}";
    let result = harness::bounded("self-recursive macro", move || {
        Templater::new().render_str(text, &vars())
    });
    match result {
        Ok(v) => panic!("a self-recursive macro rendered {v}"),
        Err(e) => assert!(e.to_string().contains("recursion"), "{e}"),
    }
}
