//! `vars_prompt`: asking the operator for play variables before the run.
//!
//! Every prompt of every play is asked up front, before any host is contacted (Ansible asks
//! at the start of each play; asking first means a long run never stops halfway for input).
//! A variable given with `-e` is not asked. Without a terminal on stdin nothing is asked, as
//! in Ansible: the answer is the prompt's `default`, or the text `None` when it has none.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use tend_playbook::{Playbook, VarPrompt};
use tend_template::Templater;

/// Asks every play's `vars_prompt` and stores the answers as play variables.
pub fn answer_var_prompts(
    playbooks: &mut [Playbook],
    extra_vars: &Map<String, Value>,
) -> Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let mut warned = false;
    for play in playbooks.iter_mut().flat_map(|p| p.plays.iter_mut()) {
        for prompt in &play.vars_prompt {
            if extra_vars.contains_key(&prompt.name) {
                continue;
            }
            let typed = if interactive {
                ask(prompt)?
            } else {
                if !warned {
                    eprintln!("[WARNING]: Not prompting as we are not in interactive mode");
                    warned = true;
                }
                String::new()
            };
            let answer = match (typed.is_empty(), &prompt.default) {
                (true, Some(default)) => default.clone(),
                (true, None) if !interactive => "None".to_string(),
                _ => typed,
            };
            let answer = match &prompt.encrypt {
                Some(scheme) => encrypt(&answer, scheme, prompt)?,
                None => answer,
            };
            play.vars.insert(prompt.name.clone(), Value::String(answer));
        }
    }
    Ok(())
}

/// Asks one prompt on the terminal (twice with `confirm`, until both answers match).
fn ask(prompt: &VarPrompt) -> Result<String> {
    let message = match (&prompt.prompt, &prompt.default) {
        (Some(text), Some(default)) => format!("{text} [{default}]: "),
        (Some(text), None) => format!("{text}: "),
        (None, _) => format!("input for {}: ", prompt.name),
    };
    loop {
        let first = read_answer(&message, prompt.private)?;
        if !prompt.confirm {
            return Ok(first);
        }
        let second = read_answer(&format!("confirm {message}"), prompt.private)?;
        if first == second {
            return Ok(first);
        }
        println!("***** VALUES ENTERED DO NOT MATCH ****");
    }
}

fn read_answer(message: &str, private: bool) -> Result<String> {
    if private {
        return rpassword::prompt_password(message).context("reading a vars_prompt answer");
    }
    print!("{message}");
    std::io::stdout().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading a vars_prompt answer")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `encrypt`: the answer hashed as the `password_hash` filter does.
fn encrypt(answer: &str, scheme: &str, prompt: &VarPrompt) -> Result<String> {
    let mut vars = Map::new();
    vars.insert("answer".into(), Value::String(answer.to_string()));
    vars.insert("scheme".into(), Value::String(scheme.to_string()));
    vars.insert(
        "salt".into(),
        prompt
            .salt
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    vars.insert(
        "salt_size".into(),
        prompt.salt_size.map(Value::from).unwrap_or(Value::Null),
    );
    let hashed = Templater::new()
        .render_str(
            "{{ answer | password_hash(scheme, salt=salt, salt_size=salt_size) }}",
            &Value::Object(vars),
        )
        .map_err(|e| anyhow::anyhow!("vars_prompt `{}`: cannot encrypt: {e}", prompt.name))?;
    Ok(match hashed {
        Value::String(s) => s,
        other => other.to_string(),
    })
}
