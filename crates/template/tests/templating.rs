//! Behaviour of the public API: native types, undefined handling, conditionals, syntax errors,
//! template files, and Ansible-documented filter and test examples.

use serde_json::{json, Value as Json};
use tend_template::{is_template, TemplateError, Templater};

fn render(s: &str, vars: &Json) -> Json {
    Templater::new()
        .render_str(s, vars)
        .unwrap_or_else(|e| panic!("{s:?} failed: {e}"))
}

fn render_err(s: &str, vars: &Json) -> TemplateError {
    match Templater::new().render_str(s, vars) {
        Ok(v) => panic!("{s:?} should fail, gave {v}"),
        Err(e) => e,
    }
}

fn cond(s: &str, vars: &Json) -> Result<bool, TemplateError> {
    Templater::new().eval_condition(s, vars)
}

#[test]
fn templater_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Templater>();
    let t = std::sync::Arc::new(Templater::new());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || t.render_str("{{ n * 2 }}", &json!({ "n": i })))
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().ok().and_then(Result::ok), Some(json!(i * 2)));
    }
}

#[test]
fn marker_detection() {
    assert!(is_template("a {{ b }}"));
    assert!(is_template("{% if x %}{% endif %}"));
    assert!(is_template("{# note #}"));
    assert!(!is_template("plain { text } %}"));
}

#[test]
fn single_node_templates_keep_native_types() {
    let vars = json!({ "items": ["a", "b"], "port": 8080, "cfg": { "debug": false }, "n": null });
    assert_eq!(render("{{ [1,2] }}", &vars), json!([1, 2]));
    assert_eq!(render("{{ 5 }}", &vars), json!(5));
    assert_eq!(render("{{ 1.5 }}", &vars), json!(1.5));
    assert_eq!(render("{{ items }}", &vars), json!(["a", "b"]));
    assert_eq!(render("{{ cfg }}", &vars), json!({ "debug": false }));
    assert_eq!(render("{{ cfg.debug }}", &vars), json!(false));
    assert_eq!(render("{{ n }}", &vars), Json::Null);
    assert_eq!(render("{{ 'a' }}", &vars), json!("a"));
    assert_eq!(render("{{ '5' }}", &vars), json!("5"));
    assert_eq!(render("{{port}}", &vars), json!(8080));
    // Still one node: a trailing newline is dropped, comments and control blocks print nothing,
    // and None chunks are skipped.
    assert_eq!(render("{{ port }}\n", &vars), json!(8080));
    assert_eq!(render("{{ port }}{# why #}", &vars), json!(8080));
    assert_eq!(
        render("{% if true %}{{ port }}{% endif %}", &vars),
        json!(8080)
    );
    assert_eq!(render("{{ n }}{{ port }}", &vars), json!(8080));
    assert_eq!(render("{% if false %}x{% endif %}", &vars), Json::Null);
}

#[test]
fn other_templates_render_to_python_style_strings() {
    let vars = json!({ "items": ["a", "b"], "port": 8080, "cfg": { "debug": false }, "n": null });
    assert_eq!(render("x{{ 5 }}", &vars), json!("x5"));
    assert_eq!(render(" {{ port }} ", &vars), json!(" 8080 "));
    assert_eq!(render("{{ port }}{{ port }}", &vars), json!("80808080"));
    assert_eq!(render("v={{ items }}", &vars), json!("v=['a', 'b']"));
    assert_eq!(render("v={{ cfg }}", &vars), json!("v={'debug': False}"));
    assert_eq!(
        render("{{ True }}/{{ False }}/{{ None }}|", &vars),
        json!("True/False/|")
    );
    assert_eq!(
        render("{{ [True, None, 1.0, 1e20] }}!", &vars),
        json!("[True, None, 1.0, 1e+20]!")
    );
    assert_eq!(render("{{ 'a' ~ true ~ none }}", &vars), json!("aTrueNone"));
    assert_eq!(render("a {{ port }}\n\n", &vars), json!("a 8080\n\n"));
    assert_eq!(render("x{{ 'y' if false }}z", &vars), json!("xz"));
}

#[test]
fn strings_without_markers_are_untouched() {
    let vars = json!({});
    assert_eq!(render("plain {text}", &vars), json!("plain {text}"));
    assert_eq!(render("", &vars), json!(""));
}

#[test]
fn render_value_walks_structures_and_keys() {
    let t = Templater::new();
    let vars = json!({ "name": "web", "ports": [80, 443], "key": "listen" });
    let value = json!({
        "{{ key }}": "{{ ports }}",
        "static": ["{{ name }}-1", 3, true, null, "no template"],
        "nested": { "n": "{{ ports | length }}" }
    });
    assert_eq!(
        t.render_value(&value, &vars).ok(),
        Some(json!({
            "listen": [80, 443],
            "static": ["web-1", 3, true, null, "no template"],
            "nested": { "n": 2 }
        }))
    );
}

#[test]
fn undefined_variables_are_named() {
    let vars = json!({ "foo": { "a": 1 }, "l": [1] });
    assert_eq!(
        render_err("{{ x }}", &vars),
        TemplateError::Undefined {
            name: "x".into(),
            detail: "'x' is undefined".into()
        }
    );
    let err = render_err("{{ foo.bar }}", &vars);
    assert_eq!(
        err,
        TemplateError::Undefined {
            name: "foo.bar".into(),
            detail: "object of type 'dict' has no attribute 'bar'".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "object of type 'dict' has no attribute 'bar' ('foo.bar' is undefined)"
    );
    assert!(
        matches!(render_err("{{ foo.bar.baz }}", &vars), TemplateError::Undefined { name, .. } if name == "foo.bar")
    );
    assert!(
        matches!(render_err("{{ l[3] }}", &vars), TemplateError::Undefined { detail, .. } if detail == "object of type 'list' has no attribute 3")
    );
    assert!(
        matches!(render_err("a {{ x | lower }}", &vars), TemplateError::Undefined { name, .. } if name == "x")
    );
    assert!(
        matches!(render_err("{{ x + 1 }}", &vars), TemplateError::Undefined { name, .. } if name == "x")
    );
    assert!(
        matches!(render_err("{{ [1, x] }}", &vars), TemplateError::Undefined { name, .. } if name == "x")
    );
    assert!(
        matches!(render_err("{% for i in x %}{% endfor %}", &vars), TemplateError::Undefined { name, .. } if name == "x")
    );
    assert!(
        matches!(render_err("{% if x %}{% endif %}", &vars), TemplateError::Undefined { name, .. } if name == "x")
    );
    assert!(
        matches!(render_err("{% if false %}{% elif foo.zz %}{% endif %}", &vars), TemplateError::Undefined { name, .. } if name == "foo.zz")
    );
    // A loop variable's missing attribute cannot be traced to the variables; it is still named.
    assert!(matches!(
        render_err("{% for i in [{}] %}{{ i.k }}{% endfor %}", &vars),
        TemplateError::Undefined { name, .. } if name == "i.k"
    ));
}

#[test]
fn undefined_values_chain_and_default() {
    let vars = json!({ "foo": { "a": 1 }, "empty": "", "n": null });
    assert_eq!(render("{{ x is defined }}", &vars), json!(false));
    assert_eq!(render("{{ x is undefined }}", &vars), json!(true));
    assert_eq!(render("{{ x.y.z is defined }}", &vars), json!(false));
    assert_eq!(render("{{ foo.a is defined }}", &vars), json!(true));
    assert_eq!(render("{{ x | default('d') }}", &vars), json!("d"));
    assert_eq!(render("{{ x.y | d(5) }}", &vars), json!(5));
    assert_eq!(render("{{ foo.zz | default([]) }}", &vars), json!([]));
    assert_eq!(render("{{ x | default }}", &vars), json!(""));
    assert_eq!(render("{{ empty | default('d') }}", &vars), json!(""));
    assert_eq!(
        render("{{ empty | default('d', true) }}", &vars),
        json!("d")
    );
    assert_eq!(
        render("{{ empty | default('d', boolean=true) }}", &vars),
        json!("d")
    );
    // Jinja's default does not replace None.
    assert_eq!(render("{{ n | default('d') }}", &vars), Json::Null);
    assert_eq!(
        render("{{ 'y' if x is defined else 'n' }}", &vars),
        json!("n")
    );
    assert!(
        matches!(render_err("{{ x | mandatory('set x') }}", &vars), TemplateError::Render { message } if message == "set x")
    );
    assert!(
        matches!(render_err("{{ x | mandatory }}", &vars), TemplateError::Undefined { name, .. } if name == "x")
    );
}

#[test]
fn conditions_must_be_booleans() {
    let vars = json!({ "s": "True", "yes": "yes", "t": true, "n": null, "l": [1], "rc": 0 });
    assert_eq!(cond("t", &vars).ok(), Some(true));
    assert_eq!(cond("rc == 0", &vars).ok(), Some(true));
    assert_eq!(cond("l | length > 1", &vars).ok(), Some(false));
    assert_eq!(cond("yes | bool", &vars).ok(), Some(true));
    assert_eq!(cond("x is defined and x", &vars).ok(), Some(false));
    assert_eq!(cond("True", &vars).ok(), Some(true));
    assert_eq!(cond("{{ rc == 0 }}", &vars).ok(), Some(true));
    assert_eq!(cond("", &vars).ok(), Some(true));
    // ansible-core 2.19: no truthiness, not even for the strings "True"/"yes".
    assert_eq!(
        cond("s", &vars),
        Err(TemplateError::NotBoolean {
            expr: "s".into(),
            type_name: "str".into(),
            value: "'True'".into()
        })
    );
    for (expr, type_name) in [
        ("yes", "str"),
        ("l", "list"),
        ("rc", "int"),
        ("n", "NoneType"),
        ("1 or x", "int"),
    ] {
        assert!(
            matches!(cond(expr, &vars), Err(TemplateError::NotBoolean { type_name: t, .. }) if t == type_name),
            "{expr}"
        );
    }
    assert!(matches!(cond("x", &vars), Err(TemplateError::Undefined { name, .. }) if name == "x"));
    assert!(
        matches!(cond("x and t", &vars), Err(TemplateError::Undefined { name, .. }) if name == "x")
    );
    // Known deviation: Ansible also fails these; minijinja's chainable undefined is falsy here.
    assert_eq!(cond("not x", &vars).ok(), Some(true));
    assert_eq!(cond("x == 1", &vars).ok(), Some(false));
}

#[test]
fn expressions_evaluate_to_native_values() {
    let t = Templater::new();
    let vars = json!({ "a": [1, 2], "d": { "k": "v" } });
    assert_eq!(t.eval_expr("a + [3]", &vars).ok(), Some(json!([1, 2, 3])));
    assert_eq!(t.eval_expr("d.k ~ '!'", &vars).ok(), Some(json!("v!")));
    assert_eq!(t.eval_expr("None", &vars).ok(), Some(Json::Null));
    assert!(
        matches!(t.eval_expr("[1, nope]", &vars), Err(TemplateError::Undefined { name, .. }) if name == "nope")
    );
    assert!(
        matches!(t.eval_expr("d.nope", &vars), Err(TemplateError::Undefined { name, .. }) if name == "d.nope")
    );
}

#[test]
fn syntax_errors_carry_positions() {
    let t = Templater::new();
    assert_eq!(
        t.check_template("{{ foo }"),
        Err(TemplateError::Syntax {
            message: "unexpected `}`, expected end of variable block".into(),
            line: Some(1),
            col: Some(8)
        })
    );
    assert!(matches!(
        t.check_template("x\n  {% if %}\n"),
        Err(TemplateError::Syntax {
            line: Some(2),
            col: Some(9),
            ..
        })
    ));
    // Positions count in the user's text, before backslash escaping.
    assert!(matches!(
        t.check_template(r"{{ x | regex_replace('\1') }} {{ 1 +* 2 }}"),
        Err(TemplateError::Syntax {
            line: Some(1),
            col: Some(37),
            ..
        })
    ));
    assert!(matches!(
        t.check_expr("foo bar"),
        Err(TemplateError::Syntax {
            line: Some(1),
            col: Some(5),
            ..
        })
    ));
    assert!(matches!(
        t.check_expr("{{ x == }}"),
        Err(TemplateError::Syntax { line: Some(1), .. })
    ));
    // Unknown filters and tests are compile-time errors, as in Jinja2.
    assert_eq!(
        t.check_template("{{ a | unknown_filter }} plain"),
        Err(TemplateError::Syntax {
            message: "No filter named 'unknown_filter'.".into(),
            line: Some(1),
            col: Some(8),
        })
    );
    assert_eq!(t.check_expr("a is defined and b | bool"), Ok(()));
    // Rendering reports the error as the user wrote it, not the strict-block rewrite.
    assert!(matches!(
        t.render_str("{% if %}x{% endif %}", &json!({})),
        Err(TemplateError::Syntax { message, col: Some(7), .. }) if message == "unexpected end of block"
    ));
}

#[test]
fn render_errors_are_reported() {
    let t = Templater::new();
    let err = t.render_template("line1\n{{ 1 + 'a' }}\n", "f.j2", &json!({}));
    assert!(
        matches!(&err, Err(TemplateError::Render { message }) if message.ends_with("(line 2)")),
        "{err:?}"
    );
    assert!(matches!(
        t.render_str("{{ 1 | nofilter }}", &json!({})),
        Err(TemplateError::Syntax { message, .. }) if message == "No filter named 'nofilter'."
    ));
}

#[test]
fn backslashes_in_expression_literals_are_literal() {
    // In YAML `"{{ x | regex_replace('^(.*)$', '\\1!') }}"` reaches the templater with one backslash.
    let vars = json!({ "x": "ansible" });
    assert_eq!(
        render(r"{{ x | regex_replace('^a.*i(.*)$', 'a\1') }}", &vars),
        json!("able")
    );
    assert_eq!(render(r"{{ 'a\nb' }}", &vars), json!(r"a\nb"));
    // Statements keep Jinja's escape processing, as do template files and conditionals.
    assert_eq!(render(r"{% set s = 'a\tb' %}{{ s }}", &vars), json!("a\tb"));
    let t = Templater::new();
    assert_eq!(
        t.render_template(r"{{ 'a\tb' }}", "f", &vars)
            .ok()
            .as_deref(),
        Some("a\tb")
    );
    assert_eq!(t.eval_condition(r"'\t' == '	'", &vars).ok(), Some(true));
}

#[test]
fn template_files_follow_ansible_whitespace_rules() {
    let t = Templater::new();
    let vars = json!({
        "inventory_hostname": "web1",
        "app": "myapp",
        "settings": { "port": 8080, "workers": 4, "debug": false }
    });
    let source = include_str!("fixtures/app.conf.j2");
    let out = t.render_template(source, "app.conf.j2", &vars);
    insta::assert_snapshot!("app_conf", out.unwrap_or_else(|e| e.to_string()));

    // trim_blocks: the newline after a block tag goes; lstrip_blocks is off, so indentation stays.
    let r = |s: &str| {
        t.render_template(s, "", &vars)
            .unwrap_or_else(|e| e.to_string())
    };
    assert_eq!(r("{% if true %}\nyes\n{% endif %}\n"), "yes\n");
    assert_eq!(
        r("  {% if true %}\n  yes\n  {% endif %}\n"),
        "    yes\n  \n"
    );
    assert_eq!(r("{%- if true -%}\n  yes\n{%- endif %}\nend\n"), "yesend\n");
    // The final newline is kept (and only as many as the source had).
    assert_eq!(r("a\n\n"), "a\n\n");
    assert_eq!(r("a\n{% if true %}b{% endif %}\n"), "a\nb\n");
    assert_eq!(r("no newline"), "no newline");
    assert_eq!(
        r("{% for u in users | default([{'n': 'x', 'a': true}]) %}\n- {{ u.n }}: {{ u.a }}\n{% endfor %}"),
        "- x: True\n"
    );
}

#[test]
fn ansible_documented_filter_examples() {
    let vars = json!({
        "path": "/etc/asdf/foo.txt",
        "d1": { "a": 1, "b": { "x": 1 } },
        "d2": { "b": { "y": 2 }, "c": 3 },
        "tags": { "Application": "payment", "Environment": "dev" },
        "users": [{ "name": "alice" }, { "name": "bob" }]
    });
    let cases: &[(&str, Json)] = &[
        ("{{ 'yes' | bool }}", json!(true)),
        ("{{ 'off' | bool }}", json!(false)),
        ("{{ '42' | int + 1 }}", json!(43)),
        ("{{ 'x' | int }}", json!(0)),
        ("{{ '0x1F' | int(base=16) }}", json!(31)),
        ("{{ '3.5' | float }}", json!(3.5)),
        ("{{ 42 | string }}", json!("42")),
        ("{{ true | string }}", json!("True")),
        ("{{ {'b': 1, 'a': 'é'} | to_json }}", json!(r#"{"b": 1, "a": "\u00e9"}"#)),
        ("{{ {'b': 1, 'a': [1]} | to_nice_json }}", json!("{\n    \"a\": [\n        1\n    ],\n    \"b\": 1\n}")),
        ("{{ '{\"a\": [1, 2]}' | from_json }}", json!({ "a": [1, 2] })),
        ("{{ {'b': [1, 2], 'a': 'yes'} | to_yaml }}", json!("a: 'yes'\nb: [1, 2]\n")),
        ("{{ 'a: yes\nb: 0755' | from_yaml }}", json!({ "a": true, "b": 493 })),
        ("{{ 'ansible' | regex_replace('^a.*i(.*)$', 'a\\1') }}", json!("able")),
        ("{{ 'foobar' | regex_replace('^f.*o(.*)$', '\\1') }}", json!("bar")),
        ("{{ 'localhost:80' | regex_replace('^(?P<host>.+):(?P<port>\\d+)$', '\\g<host>, \\g<port>') }}", json!("localhost, 80")),
        ("{{ 'aaa' | regex_replace('a', 'b', count=2) }}", json!("bba")),
        ("{{ 'server1/database42' | regex_search('database[0-9]+') }}", json!("database42")),
        ("{{ 'foo' | regex_search('bar') }}", Json::Null),
        ("{{ 'server1/database42' | regex_search('server([0-9]+)/database([0-9]+)', '\\1', '\\2') }}", json!(["1", "42"])),
        ("{{ 'Some DNS servers are 8.8.8.8 and 8.8.4.4' | regex_findall('\\b(?:[0-9]{1,3}\\.){3}[0-9]{1,3}\\b') }}", json!(["8.8.8.8", "8.8.4.4"])),
        ("{{ '^f.*o(.*)$' | regex_escape() }}", json!("\\^f\\.\\*o\\(\\.\\*\\)\\$")),
        ("{{ 'Hello' | b64encode }}", json!("SGVsbG8=")),
        ("{{ 'SGVsbG8=' | b64decode }}", json!("Hello")),
        ("{{ path | basename }}", json!("foo.txt")),
        ("{{ path | dirname }}", json!("/etc/asdf")),
        ("{{ 'nginx.conf' | splitext }}", json!(["nginx", ".conf"])),
        ("{{ ['/etc', 'a', 'b.conf'] | path_join }}", json!("/etc/a/b.conf")),
        ("{{ d1 | combine(d2) }}", json!({ "a": 1, "b": { "y": 2 }, "c": 3 })),
        ("{{ d1 | combine(d2, recursive=True) }}", json!({ "a": 1, "b": { "x": 1, "y": 2 }, "c": 3 })),
        ("{{ {'a': [1]} | combine({'a': [2]}, list_merge='append') }}", json!({ "a": [1, 2] })),
        ("{{ tags | dict2items }}", json!([{ "key": "Application", "value": "payment" }, { "key": "Environment", "value": "dev" }])),
        ("{{ tags | dict2items(key_name='k', value_name='v') | items2dict(key_name='k', value_name='v') }}", json!({ "Application": "payment", "Environment": "dev" })),
        ("{{ true | ternary('restart', 'continue') }}", json!("restart")),
        ("{{ none | ternary('a', 'b', 'n') }}", json!("n")),
        ("{{ 'it is' | quote }}", json!("'it is'")),
        ("{{ [1, [2, [3]]] | flatten }}", json!([1, 2, 3])),
        ("{{ [1, [2, [3]]] | flatten(levels=1) }}", json!([1, 2, [3]])),
        ("{{ [1, 2, 2, 'a', 'A'] | unique }}", json!([1, 2, "a"])),
        ("{{ [1, 2] | union([2, 3]) }}", json!([1, 2, 3])),
        ("{{ [1, 2] | intersect([2, 3]) }}", json!([2])),
        ("{{ [1, 2] | difference([2, 3]) }}", json!([1])),
        ("{{ [1, 2] | symmetric_difference([2, 3]) }}", json!([1, 3])),
        ("{{ [1, 2, 3] | zip(['a', 'b']) | list }}", json!([[1, "a"], [2, "b"]])),
        ("{{ 'test1' | hash('sha1') }}", json!("b444ac06613fc8d63795be9ad0beaf55011936ac")),
        ("{{ 'test1' | hash('md5') }}", json!("5a105e8b9d40e1329780d62ea2265d8a")),
        ("{{ 'test1' | hash('sha256') }}", json!("1b4f0e9851971998e732078544c96b36c3d01cedf7caa332359d6f1d83567014")),
        ("{{ 'test2' | checksum }}", json!("109f4b3c50d7b0df729d299bc6f8e9ef9066971f")),
        ("{{ 'Plain style (default)' | comment }}", json!("#\n# Plain style (default)\n#")),
        ("{{ 'C style' | comment('c') }}", json!("//\n// C style\n//")),
        ("{{ 'abc' | type_debug }}", json!("str")),
        ("{{ users | map(attribute='name') | join(',') }}", json!("alice,bob")),
        ("{{ 'a\nb' | indent(2, true) }}", json!("  a\n  b")),
        ("{{ 'www.example.com' | to_uuid }}", json!("69680a13-a686-5d20-a166-0e7b3b17ef84")),
    ];
    let t = Templater::new();
    for (template, want) in cases {
        // Task arguments reach the templater after YAML unescaping, as these strings are.
        let got = t.render_str(template, &vars).map_err(|e| e.to_string());
        assert_eq!(got.as_ref(), Ok(want), "{template}");
    }
}

#[test]
fn ansible_documented_test_examples() {
    let vars = json!({
        "ok": { "changed": true, "failed": false, "rc": 0 },
        "bad": { "failed": true },
        "skip": { "skipped": true, "changed": false },
        "loop": { "results": [{ "changed": false }, { "changed": true }] },
        "url": "https://example.com/users/foo/resources/bar",
        "ver": "1.2.10"
    });
    let cases = [
        ("ok is succeeded", true),
        ("ok is success", true),
        ("ok is changed", true),
        ("ok is change", true),
        ("ok is failed", false),
        ("bad is failed", true),
        ("bad is failure", true),
        ("bad is succeeded", false),
        ("skip is skipped", true),
        ("skip is skip", true),
        ("ok is skipped", false),
        ("loop is changed", true),
        (
            "url is match('https://example.com/users/.*/resources')",
            true,
        ),
        ("url is search('users/.*/resources/.*')", true),
        ("url is search('USERS', ignorecase=true)", true),
        ("url is regex('example\\.com/\\w+/foo')", true),
        ("url is match('example')", false),
        ("ver is version('1.2.9', '>')", true),
        ("ver is version('1.10', 'lt')", true),
        ("ver is version('1.2.10', '==')", true),
        ("ver is version_compare('1.3', '<=')", true),
        ("'1.0a1' is version('1.0', '<', strict=true)", true),
        (
            "'1.0.0-rc.1' is version('1.0.0', 'lt', version_type='semver')",
            true,
        ),
        ("[1, 2] is subset([1, 2, 3])", true),
        ("[1, 2, 3] is superset([1, 2])", true),
        ("[1, 2] is contains(2)", true),
        ("{} is mapping", true),
        ("[] is sequence", true),
        ("'abc' is sequence", true),
        ("'abc' is iterable", true),
        ("5 is iterable", false),
        ("'abc' is string", true),
        ("5 is number", true),
        ("true is number", true),
        ("5 is integer", true),
        ("true is integer", false),
        ("5.0 is float", true),
        ("true is boolean", true),
        ("none is none", true),
        ("'' is falsy", true),
        ("'no' is truthy", true),
        ("'no' is truthy(convert_bool=true)", false),
        ("nope is undefined", true),
        ("ok is defined", true),
    ];
    let t = Templater::new();
    for (expr, want) in cases {
        assert_eq!(
            t.eval_condition(expr, &vars).map_err(|e| e.to_string()),
            Ok(want),
            "{expr}"
        );
    }
    assert!(t.eval_condition("'x' is failed", &vars).is_err());
    assert!(t
        .eval_condition("'1.0' is version('1.a', '<')", &vars)
        .is_err());
}

#[test]
fn yaml_output_matches_pyyaml() {
    let t = Templater::new();
    let vars = json!({
        "config": {
            "name": "web",
            "ports": [80, 443],
            "env": { "DEBUG": "false", "MODE": "yes", "EMPTY": "" },
            "users": [{ "name": "alice", "groups": ["wheel", "dev"] }, { "name": "bob", "groups": [] }],
            "motd": "Welcome to the server. This line is long enough that PyYAML folds it at eighty columns.",
            "script": "#!/bin/sh\necho hi\n",
            "ratio": 0.5
        }
    });
    let nice = t.render_str("{{ config | to_nice_yaml }}", &vars);
    insta::assert_snapshot!(
        "to_nice_yaml",
        nice.map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|e| e.to_string())
    );
    let terse = t.render_str("{{ config | to_yaml }}", &vars);
    insta::assert_snapshot!(
        "to_yaml",
        terse
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|e| e.to_string())
    );
}
