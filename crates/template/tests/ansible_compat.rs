//! Checks tend-template against results recorded from ansible-core 2.19 (`fixtures/ansible_2_19.json`).
//!
//! The fixture is produced by `fixtures/gen_ansible_cases.py` under a real ansible-core; each
//! case holds the variables, the template (`t`: a task-argument string, `f`: a template file,
//! `c`: a conditional) and what Ansible returned. Error cases only require that tend fails too.

use serde_json::Value as Json;
use tend_template::Templater;

fn run(t: &Templater, case: &Json) -> Result<Json, String> {
    let vars = &case["vars"];
    let src = case["src"].as_str().expect("src is a string");
    let result = match case["kind"].as_str().expect("kind is a string") {
        "t" => t.render_str(src, vars),
        "f" => t.render_template(src, "case", vars).map(Json::String),
        _ => t.eval_condition(src, vars).map(Json::Bool),
    };
    result.map_err(|e| e.to_string())
}

#[test]
fn results_match_ansible_core_2_19() {
    let cases: Vec<Json> =
        serde_json::from_str(include_str!("fixtures/ansible_2_19.json")).expect("fixture parses");
    assert!(cases.len() > 1000);
    let t = Templater::new();
    let mut failures = Vec::new();
    for case in &cases {
        let got = run(&t, case);
        let expected = &case["expected"];
        let ok = match (expected.get("ok"), &got) {
            (Some(want), Ok(have)) => want == have,
            (None, Err(_)) => true,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{:?} [{}]\n  ansible: {}\n  tend:    {:?}",
                case["src"].as_str().unwrap_or_default(),
                case["kind"],
                expected,
                got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from ansible-core 2.19:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The compile-time checks (syntax, unknown filter/test/lookup names) accept every template
/// that ansible-core rendered successfully.
#[test]
fn checks_accept_what_ansible_core_renders() {
    let cases: Vec<Json> =
        serde_json::from_str(include_str!("fixtures/ansible_2_19.json")).expect("fixture parses");
    let t = Templater::new();
    let mut flagged = Vec::new();
    for case in cases.iter().filter(|c| c["expected"].get("ok").is_some()) {
        let src = case["src"].as_str().expect("src is a string");
        let checked = match case["kind"].as_str().expect("kind is a string") {
            "c" => t.check_expr(src),
            _ => t.check_template(src),
        };
        if let Err(e) = checked {
            flagged.push(format!("{src:?}: {e}"));
        }
    }
    assert!(
        flagged.is_empty(),
        "valid templates flagged:\n{}",
        flagged.join("\n")
    );
}
