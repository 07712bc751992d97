//! Scratch benchmark (temporary).
fn main() {
    let t = tend_template::Templater::new();
    let mut vars = serde_json::Map::new();
    for i in 0..200 {
        vars.insert(format!("var{i}"), serde_json::json!({"a": [1, 2, 3], "b": "text value here", "c": {"d": i}}));
    }
    vars.insert("foo".into(), serde_json::json!("x"));
    let vars = serde_json::Value::Object(vars);
    let n = 5000;
    for (label, f) in [
        ("render_str simple", Box::new(|| { let _ = t.render_str("{{ foo }}/bar", &vars); }) as Box<dyn Fn()>),
        ("render_str native", Box::new(|| { let _ = t.render_str("{{ var3.a }}", &vars); })),
        ("eval_condition", Box::new(|| { let _ = t.eval_condition("var5.c.d == 5 and foo is defined", &vars); })),
        ("render_value 5 strings", Box::new(|| { let _ = t.render_value(&serde_json::json!({"a": "{{ foo }}", "b": ["{{ var1.b }}", "x", "{{ var2.c }}"], "c": "{% if foo %}y{% endif %}"}), &vars); })),
    ] {
        let start = std::time::Instant::now();
        for _ in 0..n { f(); }
        println!("{label}: {:?} per call", start.elapsed() / n);
    }
}
