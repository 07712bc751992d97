//! `command`: runs a program with its arguments on the host, without a shell, like `ansible.builtin.command`.
//!
//! ```yaml
//! - name: Build the database once
//!   ansible.builtin.command: /usr/bin/make_database.sh db_user "db name"
//!   args:
//!     chdir: /srv/app
//!     creates: /srv/app/database
//!
//! - ansible.builtin.command:
//!     argv: [/usr/bin/psql, -c, "select 1"]
//!     stdin: "{{ sql }}"
//!   register: out
//! ```
//!
//! The free-form text (or `cmd`) is split into words as Python's `shlex.split` does, and every
//! word reaches the program exactly as written: `|`, `>`, `;`, `*` are plain characters.
//! Like Ansible (`expand_argument_vars`, on by default), `$NAME`, `${NAME}` and a leading `~`
//! or `~user` in each word are expanded with the *host's* environment, as Python's
//! `os.path.expandvars`/`expanduser` would in the module process there. tend does this in the
//! generated `sh` script rather than on the controller: literal text is single-quoted, each
//! variable becomes `"${NAME-$NAME}"` (quoted, so a value is never split or globbed, and an unset
//! variable stays literal as in Python), and a tilde prefix is left bare for `sh` to expand.
//! Nothing else in a word is ever interpreted by the shell.
//!
//! `chdir`, `creates` and `removes` are Ansible `path` parameters, so they get the same
//! expansions; `creates`/`removes` are glob patterns, matched after changing to `chdir`.
//!
//! This file also holds the machinery `shell` reuses ([`RunSpec`] and friends): the two modules
//! differ only in how the program is started.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tend_module_api::{quote, Context, FreeForm, Module, ModuleError, Outcome, Planned};

/// The `command` module.
pub struct CommandModule;

fn yes() -> bool {
    true
}

/// Parameters of `command`, as ansible.builtin.command takes them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandParams {
    /// The free-form command line.
    #[serde(rename = "_raw_params")]
    pub raw_params: Option<String>,
    /// The command line as a parameter (Ansible folds it into the free form).
    pub cmd: Option<String>,
    /// The command as a list of words; no splitting at all.
    pub argv: Option<Vec<String>>,
    /// Directory to run in.
    pub chdir: Option<String>,
    /// A path or glob: when something matches, the command is not run.
    pub creates: Option<String>,
    /// A path or glob: when nothing matches, the command is not run.
    pub removes: Option<String>,
    /// Data for the command's standard input.
    pub stdin: Option<String>,
    /// Add a newline to the end of `stdin` data.
    #[serde(default = "yes")]
    pub stdin_add_newline: bool,
    /// Strip trailing newlines from stdout and stderr.
    #[serde(default = "yes")]
    pub strip_empty_ends: bool,
    /// Expand `$VAR` and `~` in each word on the host.
    #[serde(default = "yes")]
    pub expand_argument_vars: bool,
    /// Not supported by command since Ansible 2.4: accepted and ignored with Ansible's warning.
    pub executable: Option<String>,
}

/// How the program is started.
#[derive(Debug, Clone, PartialEq)]
pub enum Program {
    /// `command`: a word list, executed directly.
    Argv { words: Vec<String>, expand: bool },
    /// `shell`: a script for `/bin/sh -c` or `<executable> -c`.
    Shell {
        script: String,
        executable: Option<String>,
    },
}

impl Program {
    /// The `cmd` return value: the word list for `command`, the string for `shell`.
    fn cmd_value(&self) -> Value {
        match self {
            Program::Argv { words, .. } => Value::from(words.clone()),
            Program::Shell { script, .. } => Value::from(script.clone()),
        }
    }
}

/// Everything `command` and `shell` need to decide about and run one command.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub program: Program,
    pub chdir: Option<String>,
    pub creates: Option<String>,
    pub removes: Option<String>,
    pub stdin: Option<String>,
    pub stdin_add_newline: bool,
    pub strip_empty_ends: bool,
    pub warnings: Vec<String>,
}

/// What the host said about `chdir`, `creates` and `removes`, all expanded there.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub spec: RunSpec,
    pub chdir: Option<Chdir>,
    pub creates: Option<PathMatch>,
    pub removes: Option<PathMatch>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Chdir {
    /// The expanded directory, which `cd` accepted.
    Usable(String),
    /// The expanded directory and the errno Python's `os.chdir` would have reported.
    Unusable { path: String, errno: i32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PathMatch {
    /// The pattern after `~`/`$VAR` expansion, as Ansible's messages show it.
    pub path: String,
    pub matched: bool,
}

/// The script to run and how to report it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunAction {
    pub script: String,
    pub stdin: Option<Vec<u8>>,
    pub cmd: Value,
    pub strip_empty_ends: bool,
    pub warnings: Vec<String>,
}

/// The words of the command line: the free form or `cmd`, which Ansible treats as one.
pub(crate) fn command_text(
    raw: Option<&str>,
    cmd: Option<&str>,
) -> Result<Option<String>, ModuleError> {
    match (raw.filter(|s| !s.is_empty()), cmd) {
        (Some(_), Some(_)) => Err(ModuleError::failed(
            "The 'cmd' argument cannot be used when other raw parameters are specified. \
             Please put everything in one or the other place.",
        )),
        (Some(text), None) | (None, Some(text)) => Ok(Some(text.to_string())),
        (None, None) => Ok(None),
    }
}

/// Ansible's failure for a task that cannot start: the always-returned keys with rc 256.
pub(crate) fn usage_error(msg: &str) -> ModuleError {
    let mut values = base_values(Value::Null);
    values.insert("rc".into(), 256.into());
    values.remove("msg");
    add_lines(&mut values);
    ModuleError::Failed {
        msg: msg.to_string(),
        values,
    }
}

impl CommandParams {
    fn spec(&self) -> Result<RunSpec, ModuleError> {
        let text = command_text(self.raw_params.as_deref(), self.cmd.as_deref())?;
        let argv = self.argv.as_ref().filter(|a| !a.is_empty());
        let words = match (text, argv) {
            (Some(t), Some(_)) if !t.is_empty() => {
                return Err(usage_error("only command or argv can be given, not both"))
            }
            (Some(t), _) if !t.trim().is_empty() => shlex_split(&t).map_err(|e| usage_error(&e))?,
            (_, Some(argv)) => argv.clone(),
            _ => return Err(usage_error("no command given")),
        };
        let mut warnings = Vec::new();
        if let Some(exe) = &self.executable {
            warnings.push(format!(
                "As of Ansible 2.4, the parameter 'executable' is no longer supported with the 'command' module. Not using '{exe}'."
            ));
        }
        Ok(RunSpec {
            program: Program::Argv {
                words,
                expand: self.expand_argument_vars,
            },
            chdir: self.chdir.clone(),
            creates: self.creates.clone(),
            removes: self.removes.clone(),
            stdin: self.stdin.clone(),
            stdin_add_newline: self.stdin_add_newline,
            strip_empty_ends: self.strip_empty_ends,
            warnings,
        })
    }
}

#[async_trait]
impl Module for CommandModule {
    type Params = CommandParams;
    type Observed = Observed;
    type Action = RunAction;

    const NAME: &'static str = "command";
    const FREE_FORM: FreeForm = FreeForm::RawParams;

    async fn query(
        &self,
        params: &CommandParams,
        ctx: &Context<'_>,
    ) -> Result<Observed, ModuleError> {
        query(params.spec()?, ctx).await
    }

    fn plan(
        &self,
        _: &CommandParams,
        observed: Observed,
        ctx: &Context<'_>,
    ) -> Result<Planned<RunAction>, ModuleError> {
        Ok(plan(observed, ctx.check_mode))
    }

    async fn apply(
        &self,
        _: &CommandParams,
        action: RunAction,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        apply(action, ctx).await
    }
}

tend_module_api::register_module!(CommandModule);

// ---------------------------------------------------------------------------------------------
// query → plan → apply, shared with `shell`

/// Looks at `chdir`, `creates` and `removes` on the host in one `sh` call (none when no path
/// parameter is given).
pub(crate) async fn query(spec: RunSpec, ctx: &Context<'_>) -> Result<Observed, ModuleError> {
    let Some(script) = query_script(&spec) else {
        return Ok(Observed {
            spec,
            chdir: None,
            creates: None,
            removes: None,
        });
    };
    // The user's environment, not tend's C locale: paths expand as the command would see them.
    let out = ctx.host.sh_raw(&script, None).await?;
    if !out.success() {
        return Err(ModuleError::failed(format!(
            "cannot check chdir/creates/removes: {}",
            out.stderr_lossy().trim()
        )));
    }
    parse_query(spec, &out.stdout)
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// The observation script. It prints NUL-separated `key value` pairs.
fn query_script(spec: &RunSpec) -> Option<String> {
    let chdir = non_empty(&spec.chdir);
    let creates = non_empty(&spec.creates);
    let removes = non_empty(&spec.removes);
    if chdir.is_none() && creates.is_none() && removes.is_none() {
        return None;
    }
    let path = Expand {
        vars: true,
        tilde: true,
        glob: false,
    };
    let pattern = Expand { glob: true, ..path };
    let mut s = String::from(EXPAND_HELPERS);
    s.push_str("emit() { printf '%s\\000%s\\000' \"$1\" \"$2\"; }\n");
    if let Some(dir) = chdir {
        s.push_str(&format!("__tend_p={}\n", sh_word(dir, path)));
        // `./` keeps cd from consulting CDPATH or treating `-` as OLDPWD, as os.chdir would not.
        s.push_str(
            "emit chdir \"$__tend_p\"\n\
             case $__tend_p in /*) __tend_cd=$__tend_p ;; *) __tend_cd=./$__tend_p ;; esac\n\
             if cd -- \"$__tend_cd\" 2>/dev/null; then :\n\
             elif [ ! -e \"$__tend_cd\" ]; then emit chdir_errno 2; exit 0\n\
             elif [ ! -d \"$__tend_cd\" ]; then emit chdir_errno 20; exit 0\n\
             else emit chdir_errno 13; exit 0; fi\n",
        );
    }
    for (key, value) in [("creates", creates), ("removes", removes)] {
        let Some(value) = value else { continue };
        s.push_str(&format!(
            "__tend_p={}\nemit {key} \"$__tend_p\"\n__tend_m=0\n\
             for __tend_f in {}; do if [ -e \"$__tend_f\" ] || [ -L \"$__tend_f\" ]; then __tend_m=1; break; fi; done\n\
             emit {key}_found $__tend_m\n",
            sh_word(value, path),
            sh_word(value, pattern),
        ));
    }
    s.push_str("exit 0\n");
    Some(s)
}

fn parse_query(spec: RunSpec, stdout: &[u8]) -> Result<Observed, ModuleError> {
    let text = String::from_utf8_lossy(stdout);
    let fields: Vec<&str> = text.split('\0').collect();
    let mut observed = Observed {
        spec,
        chdir: None,
        creates: None,
        removes: None,
    };
    let bad = || {
        ModuleError::failed(format!(
            "unexpected output while checking chdir/creates/removes: {text:?}"
        ))
    };
    let mut pairs = fields.chunks_exact(2);
    for pair in &mut pairs {
        let [key, value] = pair else {
            return Err(bad());
        };
        match *key {
            "chdir" => observed.chdir = Some(Chdir::Usable(value.to_string())),
            "chdir_errno" => {
                let path = match &observed.chdir {
                    Some(Chdir::Usable(p)) => p.clone(),
                    _ => return Err(bad()),
                };
                let errno = value.parse().map_err(|_| bad())?;
                observed.chdir = Some(Chdir::Unusable { path, errno });
            }
            "creates" | "removes" => {
                let m = Some(PathMatch {
                    path: value.to_string(),
                    matched: false,
                });
                if *key == "creates" {
                    observed.creates = m;
                } else {
                    observed.removes = m;
                }
            }
            "creates_found" | "removes_found" => {
                let slot = if *key == "creates_found" {
                    &mut observed.creates
                } else {
                    &mut observed.removes
                };
                match slot {
                    Some(m) => m.matched = *value == "1",
                    None => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        }
    }
    // The output ends with a NUL, which leaves one empty trailing field.
    if pairs.remainder() != [""] {
        return Err(bad());
    }
    Ok(observed)
}

/// Python's `os.strerror` text for the errnos the chdir check reports.
fn strerror(errno: i32) -> &'static str {
    match errno {
        2 => "No such file or directory",
        20 => "Not a directory",
        _ => "Permission denied",
    }
}

/// Decides whether the command runs. Pure: `creates`/`removes` were already looked at.
pub(crate) fn plan(observed: Observed, check_mode: bool) -> Planned<RunAction> {
    let spec = observed.spec;
    let cmd = spec.program.cmd_value();
    let mut values = base_values(cmd.clone());
    let done = |values: Map<String, Value>, mut outcome: Outcome| {
        outcome.warnings = spec.warnings.clone();
        Planned::Done(finish(values, outcome))
    };
    let chdir = match observed.chdir {
        Some(Chdir::Unusable { path, errno }) => {
            let mut failed = Outcome::ok().with_msg(format!(
                "Unable to change directory before execution: [Errno {errno}] {}: b'{path}'",
                strerror(errno)
            ));
            failed.failed = true;
            return done(values, failed);
        }
        Some(Chdir::Usable(path)) => Some(path),
        None => None,
    };
    // Ansible words it by mode: "Did not run" for real, "Would not run" under --check.
    let shoulda = if check_mode { "Would" } else { "Did" };
    let skip = match (&observed.creates, &observed.removes) {
        (Some(c), _) if c.matched => Some((
            format!("{shoulda} not run command since '{}' exists", c.path),
            format!("skipped, since {} exists", c.path),
        )),
        (_, Some(r)) if !r.matched => Some((
            format!(
                "{shoulda} not run command since '{}' does not exist",
                r.path
            ),
            format!("skipped, since {} does not exist", r.path),
        )),
        _ => None,
    };
    if let Some((msg, stdout)) = skip {
        values.insert("rc".into(), 0.into());
        values.insert("stdout".into(), stdout.into());
        return done(values, Outcome::ok().with_msg(msg));
    }

    let action = RunAction {
        script: run_script(&spec.program, chdir.as_deref()),
        stdin: non_empty(&spec.stdin).map(|data| {
            let mut bytes = data.as_bytes().to_vec();
            if spec.stdin_add_newline {
                bytes.push(b'\n');
            }
            bytes
        }),
        cmd,
        strip_empty_ends: spec.strip_empty_ends,
        warnings: spec.warnings.clone(),
    };
    // Check mode: a command's effect is unknown, so Ansible skips it, unless creates/removes
    // were given, in which case it reports the change they say would happen.
    values.insert("rc".into(), 0.into());
    let guarded = observed.creates.is_some() || observed.removes.is_some();
    let preview = Outcome {
        changed: guarded,
        skipped: !guarded,
        msg: Some("Command would have run if not in check mode".into()),
        warnings: spec.warnings,
        ..Outcome::default()
    };
    Planned::Change {
        action,
        preview: finish(values, preview),
    }
}

/// Runs the command and reports it as Ansible does: changed, and failed on a non-zero rc.
pub(crate) async fn apply(action: RunAction, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let start = SystemTime::now();
    let clock = Instant::now();
    let out = ctx
        .host
        .sh_raw(&action.script, action.stdin.as_deref())
        .await?;
    let elapsed = clock.elapsed();

    let mut stdout = out.stdout_lossy();
    let mut stderr = out.stderr_lossy();
    if action.strip_empty_ends {
        stdout.truncate(stdout.trim_end_matches(['\r', '\n']).len());
        stderr.truncate(stderr.trim_end_matches(['\r', '\n']).len());
    }
    let mut values = base_values(action.cmd);
    values.insert("rc".into(), out.exit_code.into());
    values.insert("stdout".into(), stdout.into());
    values.insert("stderr".into(), stderr.into());
    values.insert("start".into(), py_datetime(start).into());
    values.insert("end".into(), py_datetime(start + elapsed).into());
    values.insert("delta".into(), py_timedelta(elapsed).into());
    let mut outcome = Outcome::changed();
    if out.exit_code != 0 {
        outcome.failed = true;
        outcome.msg = Some("non-zero return code".into());
    }
    outcome.warnings = action.warnings;
    Ok(finish(values, outcome))
}

/// Puts the values into the outcome with the derived `_lines` keys. A message in the outcome
/// replaces the empty `msg` value.
fn finish(mut values: Map<String, Value>, mut outcome: Outcome) -> Outcome {
    add_lines(&mut values);
    if outcome.msg.is_some() {
        values.remove("msg");
    }
    outcome.values = values;
    outcome
}

/// The keys Ansible's command module always returns, before anything ran.
fn base_values(cmd: Value) -> Map<String, Value> {
    let mut values = Map::new();
    for key in ["stdout", "stderr"] {
        values.insert(key.into(), "".into());
    }
    values.insert("rc".into(), Value::Null);
    values.insert("cmd".into(), cmd);
    for key in ["start", "end", "delta"] {
        values.insert(key.into(), Value::Null);
    }
    // Ansible returns an empty msg on success; a real message goes in Outcome::msg instead.
    values.insert("msg".into(), "".into());
    values
}

/// `stdout_lines`/`stderr_lines`, which Ansible's action layer derives from `stdout`/`stderr`.
pub(crate) fn add_lines(values: &mut Map<String, Value>) {
    for key in ["stdout", "stderr"] {
        if let Some(text) = values.get(key).and_then(Value::as_str) {
            let lines = py_splitlines(text);
            values.insert(format!("{key}_lines"), lines.into());
        }
    }
}

/// The `sh` script that runs the program, from the login directory or the expanded `chdir`.
pub(crate) fn run_script(program: &Program, chdir: Option<&str>) -> String {
    let cd = match chdir {
        // `./` keeps cd from consulting CDPATH or treating `-` as OLDPWD.
        Some(dir) if dir.starts_with('/') => format!("cd -- {} && ", quote(dir)),
        Some(dir) => format!("cd -- {} && ", quote(&format!("./{dir}"))),
        None => String::new(),
    };
    match program {
        Program::Argv { words, expand } => {
            let how = Expand {
                vars: *expand,
                tilde: *expand,
                glob: false,
            };
            let words: Vec<String> = words.iter().map(|w| sh_word(w, how)).collect();
            let words = words.join(" ");
            let helpers = if words.contains("__tend_dollar") {
                EXPAND_HELPERS
            } else {
                ""
            };
            format!("{helpers}{cd}exec {words}")
        }
        // Without chdir or executable the script is the whole `/bin/sh -c` argument, untouched.
        Program::Shell {
            script,
            executable: None,
        } if cd.is_empty() => script.clone(),
        Program::Shell { script, executable } => {
            let shell = executable.as_deref().unwrap_or("/bin/sh");
            format!("{cd}exec {} -c {}", quote(shell), quote(script))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Words: Python's shlex.split, and host-side expansion as os.path.expandvars/expanduser/glob do

/// Splits a command line as Python's `shlex.split(s)` does (POSIX mode, no comments).
pub(crate) fn shlex_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next().ok_or("No escaped character")?);
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next().ok_or("No closing quotation")? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next().ok_or("No closing quotation")? {
                        '"' => break,
                        // Inside double quotes a backslash escapes only `"` and `\`.
                        '\\' => match chars.next().ok_or("No escaped character")? {
                            c @ ('"' | '\\') => word.push(c),
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Which of Python's expansions a word gets on the host.
#[derive(Debug, Clone, Copy)]
struct Expand {
    /// `os.path.expandvars`: `$NAME` and `${NAME}` from the environment, unset ones kept.
    vars: bool,
    /// `os.path.expanduser`: a leading `~` or `~user`.
    tilde: bool,
    /// `glob.glob`: `*`, `?` and simple `[...]` classes.
    glob: bool,
}

/// Shell variables the expansions use to spell an unset variable's `$NAME` back literally.
/// They are not exported, so the command never sees them.
const EXPAND_HELPERS: &str = "__tend_dollar='$'; __tend_lb='{'; __tend_rb='}'\n";

/// Variables `sh` sets for itself (and tend's own helpers) without exporting them: Python's
/// `os.environ` has none of them, so `$IFS` stays literal as in Ansible instead of turning
/// into a blank, tab and newline.
fn shell_internal(name: &str) -> bool {
    matches!(
        name,
        "IFS" | "PPID" | "OPTIND" | "OPTARG" | "PS1" | "PS2" | "PS4" | "LINENO" | "RANDOM"
    ) || name.starts_with("__tend_")
}

/// One `sh` word that evaluates to `word` with the chosen expansions and nothing else.
fn sh_word(word: &str, how: Expand) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    let mut rest = word;
    if how.tilde {
        if let Some(prefix) = tilde_prefix(word) {
            out.push_str(prefix);
            rest = &word[prefix.len()..];
            // sh only expands a tilde prefix ended by an unquoted slash.
            if let Some(after) = rest.strip_prefix('/') {
                out.push('/');
                rest = after;
            }
        }
    }
    let flush = |out: &mut String, literal: &mut String| {
        if !literal.is_empty() {
            out.push_str(&quote(literal));
            literal.clear();
        }
    };
    while let Some(c) = rest.chars().next() {
        if how.vars && c == '$' {
            if let Some((name, len, braced)) = python_var(rest) {
                if is_sh_name(name) && !shell_internal(name) {
                    flush(&mut out, &mut literal);
                    out.push_str(&if braced {
                        format!(
                            "\"${{{name}-${{__tend_dollar}}${{__tend_lb}}{name}${{__tend_rb}}}}\""
                        )
                    } else {
                        format!("\"${{{name}-${{__tend_dollar}}{name}}}\"")
                    });
                } else {
                    // Python finds no such variable and keeps the text; sh cannot name it anyway.
                    literal.push_str(&rest[..len]);
                }
                rest = &rest[len..];
                continue;
            }
        }
        if how.glob {
            if let Some(len) = glob_len(rest) {
                flush(&mut out, &mut literal);
                out.push_str(&rest[..len]);
                rest = &rest[len..];
                continue;
            }
        }
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut out, &mut literal);
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

/// A leading `~` or `~user` that `sh` expands the way `expanduser` does. Names `sh` would read
/// differently (`~+`, `~-`) or that need quoting are left literal.
fn tilde_prefix(word: &str) -> Option<&str> {
    let after = word.strip_prefix('~')?;
    let user = &after[..after.find('/').unwrap_or(after.len())];
    let ok = user.is_empty()
        || (user.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')));
    ok.then(|| &word[..1 + user.len()])
}

/// Matches Python's `\$(\w+|\{[^}]*\})` (ASCII) at the start of `s`: the name, the length of the
/// whole reference, and whether it was braced.
fn python_var(s: &str) -> Option<(&str, usize, bool)> {
    let after = s.strip_prefix('$')?;
    if let Some(inner) = after.strip_prefix('{') {
        let close = inner.find('}')?;
        return Some((&inner[..close], close + 3, true));
    }
    let n = after
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    (n > 0).then(|| (&after[..n], n + 1, false))
}

fn is_sh_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The length of a glob construct at the start of `s`. Bracket classes are passed to `sh` only
/// when `sh` and Python's fnmatch read them the same (letters, digits, `._-` ranges, leading `!`).
fn glob_len(s: &str) -> Option<usize> {
    match s.as_bytes().first()? {
        b'*' | b'?' => Some(1),
        b'[' => {
            let close = s[1..].find(']')? + 1;
            let body = &s[1..close];
            let body = body.strip_prefix('!').unwrap_or(body);
            let simple = !body.is_empty()
                && body
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            simple.then_some(close + 1)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Python's formats for results

/// Python's `str.splitlines()`.
pub(crate) fn py_splitlines(s: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                lines.push(std::mem::take(&mut line));
            }
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => {
                lines.push(std::mem::take(&mut line));
            }
            c => line.push(c),
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Python's `str(datetime)`: `2024-01-01 12:00:00.123456` (no fraction when it is zero).
/// tend has no time-zone database, so this is UTC where Ansible shows the host's local time.
pub(crate) fn py_datetime(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (y, m, d) = tend_module_api::calendar::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let base = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    match since.subsec_micros() {
        0 => base,
        us => format!("{base}.{us:06}"),
    }
}

/// Python's `str(timedelta)`: `0:00:00.002345`, `1 day, 2:03:04`.
pub(crate) fn py_timedelta(d: Duration) -> String {
    let total = d.as_secs();
    let (days, rem) = (total / 86_400, total % 86_400);
    let mut s = match days {
        0 => String::new(),
        1 => "1 day, ".to_string(),
        n => format!("{n} days, "),
    };
    s.push_str(&format!(
        "{}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ));
    if d.subsec_micros() != 0 {
        s.push_str(&format!(".{:06}", d.subsec_micros()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_module, FakeController};
    use serde_json::json;

    fn argv_spec(words: &[&str]) -> RunSpec {
        RunSpec {
            program: Program::Argv {
                words: words.iter().map(|w| w.to_string()).collect(),
                expand: true,
            },
            chdir: None,
            creates: None,
            removes: None,
            stdin: None,
            stdin_add_newline: true,
            strip_empty_ends: true,
            warnings: Vec::new(),
        }
    }

    fn observed(spec: RunSpec) -> Observed {
        Observed {
            spec,
            chdir: None,
            creates: None,
            removes: None,
        }
    }

    fn sh(script: &str) -> std::process::Output {
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .env("TEND_TEST_VAR", "v a l * x")
            .env_remove("TEND_TEST_UNSET")
            .output()
            .expect("sh runs")
    }

    // --- pure parts ---

    #[test]
    fn shlex_split_matches_python() {
        let cases: &[(&str, &[&str])] = &[
            ("echo hello", &["echo", "hello"]),
            ("  a   b\t\nc  ", &["a", "b", "c"]),
            (r#"a "b c" 'd e'"#, &["a", "b c", "d e"]),
            (r#"a"b c"d"#, &["ab cd"]),
            (r#"'it'\''s'"#, &["it's"]),
            (r#""say \"hi\" \n \\ \$""#, &[r#"say "hi" \n \ \$"#]),
            (r"a\ b \$x \\", &["a b", "$x", "\\"]),
            ("a '' \"\"", &["a", "", ""]),
            ("'$HOME' ; | >", &["$HOME", ";", "|", ">"]),
            ("a\\\nb", &["a\nb"]),
        ];
        for (input, want) in cases {
            assert_eq!(shlex_split(input).expect(input), *want, "{input}");
        }
        assert_eq!(shlex_split("a 'b").unwrap_err(), "No closing quotation");
        assert_eq!(shlex_split("a \"b").unwrap_err(), "No closing quotation");
        assert_eq!(shlex_split("a \\").unwrap_err(), "No escaped character");
    }

    #[test]
    fn python_formats() {
        let t = UNIX_EPOCH + Duration::from_micros(1_704_110_400_123_456);
        assert_eq!(py_datetime(t), "2024-01-01 12:00:00.123456");
        assert_eq!(
            py_datetime(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00"
        );
        assert_eq!(py_timedelta(Duration::from_micros(2345)), "0:00:00.002345");
        assert_eq!(
            py_timedelta(Duration::from_secs(3 * 86_400 + 3661)),
            "3 days, 1:01:01"
        );
        assert_eq!(py_timedelta(Duration::from_secs(86_400)), "1 day, 0:00:00");
        assert_eq!(
            py_splitlines("a\nb\r\nc\rd\n\ne"),
            vec!["a", "b", "c", "d", "", "e"]
        );
        assert_eq!(py_splitlines("a\n"), vec!["a"]);
        assert_eq!(py_splitlines("\n"), vec![""]);
        assert!(py_splitlines("").is_empty());
    }

    #[test]
    fn words_expand_like_python_and_nothing_else() {
        let home = std::env::var("HOME").expect("HOME");
        let all = Expand {
            vars: true,
            tilde: true,
            glob: false,
        };
        let none = Expand {
            vars: false,
            tilde: false,
            glob: false,
        };
        let cases: &[(&str, Expand, String)] = &[
            ("$TEND_TEST_VAR", all, "v a l * x".into()),
            ("<${TEND_TEST_VAR}>", all, "<v a l * x>".into()),
            (
                "$TEND_TEST_UNSET/${TEND_TEST_UNSET}",
                all,
                "$TEND_TEST_UNSET/${TEND_TEST_UNSET}".into(),
            ),
            (
                "${not a name} $1x $ ${",
                all,
                "${not a name} $1x $ ${".into(),
            ),
            ("~/x y", all, format!("{home}/x y")),
            ("~", all, home.clone()),
            ("~tend-no-such-user/x", all, "~tend-no-such-user/x".into()),
            ("a~/b", all, "a~/b".into()),
            ("~/$TEND_TEST_VAR", none, "~/$TEND_TEST_VAR".into()),
            (
                "; | > `id` $(id) * \\ ' \" \n",
                all,
                "; | > `id` $(id) * \\ ' \" \n".into(),
            ),
            ("", all, String::new()),
        ];
        for (word, how, want) in cases {
            let script = format!("{EXPAND_HELPERS}printf '%s' {}", sh_word(word, *how));
            let out = sh(&script);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                *want,
                "{word:?} via {script}"
            );
        }
    }

    #[test]
    fn glob_words_match_like_python_glob() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["a1.txt", "b2.txt", "c d.log"] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        let pattern = Expand {
            vars: true,
            tilde: true,
            glob: true,
        };
        let d = dir.path().display();
        for (glob, want) in [
            (format!("{d}/*.txt"), 2),
            (format!("{d}/[ab][0-9].txt"), 2),
            (format!("{d}/[!a]2.txt"), 1),
            (format!("{d}/c d.*"), 1),
            (format!("{d}/?.txt"), 0),
            (format!("{d}/*.nope"), 0),
        ] {
            let script = format!(
                "{EXPAND_HELPERS}n=0; for f in {}; do [ -e \"$f\" ] && n=$((n+1)); done; printf %s $n",
                sh_word(&glob, pattern)
            );
            let out = sh(&script);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                want.to_string(),
                "{glob}"
            );
        }
    }

    #[test]
    fn run_script_quotes_every_word() {
        let program = Program::Argv {
            words: vec!["echo".into(), "a b".into(), "$X".into()],
            expand: false,
        };
        assert_eq!(
            run_script(&program, Some("rel/dir")),
            "cd -- ./rel/dir && exec echo 'a b' '$X'"
        );
        let shell = Program::Shell {
            script: "echo hi | wc -c".into(),
            executable: None,
        };
        assert_eq!(run_script(&shell, None), "echo hi | wc -c");
        assert_eq!(
            run_script(&shell, Some("/tmp")),
            "cd -- /tmp && exec /bin/sh -c 'echo hi | wc -c'"
        );
        let bash = Program::Shell {
            script: "echo $0".into(),
            executable: Some("/bin/bash".into()),
        };
        assert_eq!(run_script(&bash, None), "exec /bin/bash -c 'echo $0'");
    }

    #[test]
    fn plan_skips_on_creates_and_removes() {
        let mut obs = observed(argv_spec(&["touch", "x"]));
        obs.creates = Some(PathMatch {
            path: "/tmp/x".into(),
            matched: true,
        });
        let Planned::Done(outcome) = plan(obs.clone(), false) else {
            panic!("should not run")
        };
        assert!(!outcome.changed && !outcome.failed && !outcome.skipped);
        assert_eq!(
            outcome.msg.as_deref(),
            Some("Did not run command since '/tmp/x' exists")
        );
        assert_eq!(outcome.values["stdout"], "skipped, since /tmp/x exists");
        assert_eq!(
            outcome.values["stdout_lines"],
            json!(["skipped, since /tmp/x exists"])
        );
        assert_eq!(outcome.values["rc"], 0);
        assert_eq!(outcome.values["cmd"], json!(["touch", "x"]));
        let Planned::Done(outcome) = plan(obs, true) else {
            panic!("should not run")
        };
        assert_eq!(
            outcome.msg.as_deref(),
            Some("Would not run command since '/tmp/x' exists")
        );

        let mut obs = observed(argv_spec(&["rm", "x"]));
        obs.removes = Some(PathMatch {
            path: "/tmp/x".into(),
            matched: false,
        });
        let Planned::Done(outcome) = plan(obs, false) else {
            panic!("should not run")
        };
        assert_eq!(
            outcome.msg.as_deref(),
            Some("Did not run command since '/tmp/x' does not exist")
        );
        assert_eq!(
            outcome.values["stdout"],
            "skipped, since /tmp/x does not exist"
        );
    }

    #[test]
    fn plan_check_mode_preview() {
        let Planned::Change { action, preview } = plan(observed(argv_spec(&["ls"])), true) else {
            panic!("should run")
        };
        assert_eq!(action.script, "exec ls");
        assert!(preview.skipped && !preview.changed);
        assert_eq!(
            preview.msg.as_deref(),
            Some("Command would have run if not in check mode")
        );

        let mut obs = observed(argv_spec(&["ls"]));
        obs.creates = Some(PathMatch {
            path: "/nope".into(),
            matched: false,
        });
        let Planned::Change { preview, .. } = plan(obs, true) else {
            panic!("should run")
        };
        assert!(preview.changed && !preview.skipped);
        assert_eq!(preview.values["rc"], 0);
    }

    #[test]
    fn plan_reports_an_unusable_chdir() {
        let mut obs = observed(argv_spec(&["ls"]));
        obs.chdir = Some(Chdir::Unusable {
            path: "/nope".into(),
            errno: 2,
        });
        let Planned::Done(outcome) = plan(obs, false) else {
            panic!("should fail")
        };
        assert!(outcome.failed);
        assert_eq!(
            outcome.msg.as_deref(),
            Some("Unable to change directory before execution: [Errno 2] No such file or directory: b'/nope'")
        );
    }

    #[test]
    fn plan_stdin_gets_its_newline() {
        let mut spec = argv_spec(&["cat"]);
        spec.stdin = Some("hello".into());
        let Planned::Change { action, .. } = plan(observed(spec.clone()), false) else {
            panic!("should run")
        };
        assert_eq!(action.stdin.as_deref(), Some(&b"hello\n"[..]));
        spec.stdin_add_newline = false;
        let Planned::Change { action, .. } = plan(observed(spec), false) else {
            panic!("should run")
        };
        assert_eq!(action.stdin.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn query_output_parses() {
        let out =
            b"chdir\0/tmp\0creates\0/tmp/a*\0creates_found\x001\0removes\0/x\0removes_found\x000\0";
        let obs = parse_query(argv_spec(&["ls"]), out).expect("parses");
        assert_eq!(obs.chdir, Some(Chdir::Usable("/tmp".into())));
        assert_eq!(
            obs.creates,
            Some(PathMatch {
                path: "/tmp/a*".into(),
                matched: true
            })
        );
        assert_eq!(
            obs.removes,
            Some(PathMatch {
                path: "/x".into(),
                matched: false
            })
        );
        assert!(parse_query(argv_spec(&["ls"]), b"garbage").is_err());
    }

    // --- through the registry, on this machine's /bin/sh ---

    fn ctl() -> FakeController {
        FakeController::new("/nonexistent")
    }

    async fn run(args: Value) -> Outcome {
        run_module("command", args, &ctl(), false)
            .await
            .expect("runs")
    }

    #[tokio::test]
    async fn tricky_words_reach_the_program_unchanged() {
        let out = run(json!({
            "_raw_params": r#"printf '[%s]' 'a b' "it's" ';' '|' '>' 'x*' '$(id)' '`id`' a\ b"#
        }))
        .await;
        assert!(out.changed && !out.failed, "{out:?}");
        assert_eq!(
            out.values["stdout"],
            "[a b][it's][;][|][>][x*][$(id)][`id`][a b]"
        );
        assert_eq!(out.values["rc"], 0);
        assert_eq!(out.values["msg"], "");
        assert_eq!(out.values["cmd"][0], "printf");
        assert_eq!(out.values["cmd"][2], "a b");
    }

    #[tokio::test]
    async fn argument_vars_expand_unless_disabled() {
        let home = std::env::var("HOME").expect("HOME");
        let out =
            run(json!({"argv": ["printf", "%s|", "$HOME", "~", "$TEND_SURELY_UNSET_VAR"]})).await;
        assert_eq!(
            out.values["stdout"],
            format!("{home}|{home}|$TEND_SURELY_UNSET_VAR|")
        );
        // cmd reports the words as given, like Ansible.
        assert_eq!(out.values["cmd"][2], "$HOME");
        let out =
            run(json!({"_raw_params": "printf %s|%s $HOME ~", "expand_argument_vars": false}))
                .await;
        assert_eq!(out.values["stdout"], "$HOME|~");
    }

    #[tokio::test]
    async fn shell_only_variables_are_not_the_environment() {
        let out = run(json!({"argv": ["printf", "%s|", "${IFS}x", "$PPID", "$__tend_dollar"]})).await;
        assert_eq!(out.values["stdout"], "${IFS}x|$PPID|$__tend_dollar|");
    }

    #[tokio::test]
    async fn non_zero_rc_fails_but_keeps_the_output() {
        let out = run(json!({"argv": ["sh", "-c", "echo out; echo err >&2; exit 3"]})).await;
        assert!(out.failed && out.changed);
        assert_eq!(out.msg.as_deref(), Some("non-zero return code"));
        assert_eq!(out.values["rc"], 3);
        assert_eq!(out.values["stdout"], "out");
        assert_eq!(out.values["stderr"], "err");
        assert_eq!(out.values["stdout_lines"], json!(["out"]));
        assert_eq!(out.values["stderr_lines"], json!(["err"]));
        assert!(!out.values.contains_key("msg"));
    }

    #[tokio::test]
    async fn times_use_pythons_formats() {
        let out = run(json!({"_raw_params": "true"})).await;
        let datetime = |v: &Value| {
            let s = v.as_str().expect("string");
            s.len() >= 19
                && s.as_bytes()[4] == b'-'
                && s.as_bytes()[10] == b' '
                && s.as_bytes()[13] == b':'
        };
        assert!(datetime(&out.values["start"]), "{}", out.values["start"]);
        assert!(datetime(&out.values["end"]), "{}", out.values["end"]);
        let delta = out.values["delta"].as_str().expect("delta");
        assert!(delta.starts_with("0:00:0"), "{delta}");
    }

    #[tokio::test]
    async fn creates_removes_and_chdir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_string_lossy().into_owned();
        std::fs::write(dir.path().join("there.txt"), "").expect("write");

        let out = run(json!({"_raw_params": "touch made", "chdir": d, "creates": "there.*"})).await;
        assert!(!out.changed && !out.failed);
        assert_eq!(
            out.msg.as_deref(),
            Some("Did not run command since 'there.*' exists")
        );
        assert!(!dir.path().join("made").exists());

        let out = run(json!({"_raw_params": "touch made", "chdir": d, "creates": "made"})).await;
        assert!(out.changed && !out.failed, "{out:?}");
        assert!(dir.path().join("made").exists());

        let out = run(json!({"_raw_params": "rm gone", "chdir": d, "removes": "gone"})).await;
        assert!(!out.changed);
        assert_eq!(
            out.msg.as_deref(),
            Some("Did not run command since 'gone' does not exist")
        );

        let out =
            run(json!({"_raw_params": "rm made", "chdir": d, "removes": format!("{d}/ma?e")}))
                .await;
        assert!(out.changed && !out.failed, "{out:?}");
        assert!(!dir.path().join("made").exists());

        let out = run(json!({"_raw_params": "pwd", "chdir": d})).await;
        let pwd = std::fs::canonicalize(dir.path()).expect("canonical");
        assert_eq!(out.values["stdout"], pwd.to_string_lossy().as_ref());

        let out = run(json!({"_raw_params": "pwd", "chdir": format!("{d}/missing")})).await;
        assert!(out.failed);
        assert_eq!(
            out.msg.as_deref(),
            Some(format!("Unable to change directory before execution: [Errno 2] No such file or directory: b'{d}/missing'").as_str())
        );
    }

    #[tokio::test]
    async fn stdin_and_strip_empty_ends() {
        let out = run(json!({"_raw_params": "cat", "stdin": "hello"})).await;
        assert_eq!(out.values["stdout"], "hello");
        let out =
            run(json!({"_raw_params": "cat", "stdin": "hello", "strip_empty_ends": false})).await;
        assert_eq!(out.values["stdout"], "hello\n");
        let out = run(json!({
            "_raw_params": "cat", "stdin": "hello", "strip_empty_ends": false, "stdin_add_newline": false
        }))
        .await;
        assert_eq!(out.values["stdout"], "hello");
    }

    #[tokio::test]
    async fn check_mode_never_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let made = dir.path().join("made");
        let made_s = made.to_string_lossy().into_owned();
        let out = run_module("command", json!({"argv": ["touch", made_s]}), &ctl(), true)
            .await
            .expect("runs");
        assert!(out.skipped && !out.changed);
        assert_eq!(
            out.msg.as_deref(),
            Some("Command would have run if not in check mode")
        );
        assert!(!made.exists());

        let out = run_module(
            "command",
            json!({"argv": ["touch", made_s], "creates": made_s}),
            &ctl(),
            true,
        )
        .await
        .expect("runs");
        assert!(out.changed && !out.skipped);
        assert!(!made.exists());
    }

    #[tokio::test]
    async fn usage_errors() {
        let err = |args: Value| async move {
            run_module("command", args, &ctl(), false)
                .await
                .expect_err("should fail")
                .to_string()
        };
        assert_eq!(err(json!({"_raw_params": "  "})).await, "no command given");
        assert_eq!(err(json!({})).await, "no command given");
        assert_eq!(
            err(json!({"_raw_params": "ls", "argv": ["ls"]})).await,
            "only command or argv can be given, not both"
        );
        assert!(err(json!({"_raw_params": "ls", "cmd": "ls"}))
            .await
            .starts_with("The 'cmd' argument cannot be used"));
        assert_eq!(
            err(json!({"_raw_params": "echo 'oops"})).await,
            "No closing quotation"
        );
        let out = run(json!({"cmd": "echo via cmd"})).await;
        assert_eq!(out.values["stdout"], "via cmd");
        let out = run(json!({"cmd": "echo $0", "executable": "/bin/bash"})).await;
        assert_eq!(out.values["stdout"], "$0");
        assert_eq!(out.warnings.len(), 1);
        assert!(
            out.warnings[0].contains("Not using '/bin/bash'"),
            "{:?}",
            out.warnings
        );
    }
}
