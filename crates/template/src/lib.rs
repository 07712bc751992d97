//! Ansible-flavoured Jinja2 templating on minijinja: native-typed rendering, conditionals, Ansible's filters and tests.
//!
//! Semantics follow ansible-core 2.19; `tests/fixtures/ansible_2_19.json` holds over a thousand
//! cases recorded from it, which the test suite replays:
//! - a string that is a single template node (`"{{ expr }}"`) yields the expression's native
//!   value; any other template yields a string (surrounding text or whitespace makes a string);
//! - undefined values are chainable (`foo.bar is defined`, `foo.bar | default(1)`) but fail,
//!   naming the variable, when printed, returned, filtered, tested by `{% if %}` or looped over;
//! - `True`/`False` and containers print as Python does; a printed `None` is empty (2.19);
//! - backslashes in string literals inside `{{ }}` are literal in task strings
//!   (`escape_backslashes`), not in statements, template files or conditionals;
//! - conditionals must produce a boolean;
//! - `to_yaml`/`to_nice_yaml`/`to_json` output is byte-for-byte that of PyYAML (libyaml) and
//!   Python's `json`;
//! - lookups (`lookup()`, `query()`/`q()`, [`Templater::run_lookup`] for `with_<name>`) run on
//!   the controller; relative paths are searched in `role_path`, then `playbook_dir` (with
//!   `files/` or `templates/` first), read from the variables; `password_hash` and the
//!   password lookup's `encrypt` produce passlib's md5/sha256/sha512-crypt and bcrypt hashes;
//! - unknown filters, tests and literally named lookups are reported by
//!   [`Templater::check_template`], as Jinja2 reports them when compiling;
//! - filters and tests also answer to `ansible.builtin.<name>` and `ansible.legacy.<name>`;
//! - `'…' % values` is Python's printf-style formatting (`percent.rs`, reached through tend's
//!   patch of minijinja): `(a, b)` spreads, a list is one argument, a mapping feeds `%(key)s`;
//! - `random(seed=…)`, `shuffle(seed=…)` and the password lookup's `seed` reproduce Python's
//!   `random.Random`, so seeded values equal Ansible's.
//!
//! Known deviations:
//! - minijinja has no "strict but chainable" undefined: an undefined value under `not`, in a
//!   comparison, or in an `and`/`or` whose result is not the undefined value itself, counts as
//!   false instead of failing as in Ansible;
//! - `union`/`intersect`/`difference`/`symmetric_difference` keep first-seen order (Python's set
//!   order is a hash order);
//! - values are immutable: `list.append()`/`dict.update()` in templates have no effect;
//! - datetime arithmetic (`date1 - date2`, `.days`) is not provided; datetimes compare, format
//!   and have attributes;
//! - lookups: `errors='warn'` behaves as `'ignore'` (no warning channel); `vars`, `varnames`
//!   and `template` also see template locals (loop variables, `set`); `config`, `url`
//!   and `inventory_hostnames` are not provided; `ini`/`csvfile` read UTF-8 only;
//! - `strftime`'s `%Z` is `UTC` or a numeric offset for local time (chrono has no zone
//!   abbreviations); `to_datetime` drops a `%z` offset;
//! - `vault(wrap_object=True)`, `from_yaml_all` and the `win_*` path filters are not provided;
//! - regular expressions use the `regex` crate: no lookaround or backreferences in patterns.

mod check;
mod crypt;
mod datetime;
mod error;
mod filters;
mod jinja_tests;
mod lookup;
mod methods;
mod more_filters;
mod percent;
mod pyfmt;
mod pyjson;
mod pyrandom;
mod rewrite;
mod text_filters;
mod vault_filters;
mod version;
mod yaml;

use std::borrow::Cow;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, State, UndefinedBehavior};
use serde_json::Value as Json;

pub use error::TemplateError;

use error::{convert, undefined_for, ErrorContext};

/// Template name that switches the formatter into value-capturing mode (see [`Capture`]).
const NATIVE_NAME: &str = "<template>";
/// Name given to template files when the caller gives none.
const FILE_NAME: &str = "<template file>";
/// Auto-escape mode used as a flag: minijinja hands the formatter the template's auto-escape
/// setting, which is the one per-render switch a formatter can see.
const NATIVE_ESCAPE: &str = "tend-native";

/// Whether `s` contains template markers (`{{`, `{%` or `{#`).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// How a template string is compiled and reported.
#[derive(Clone, Copy)]
struct Mode<'a> {
    name: &'a str,
    escape_backslashes: bool,
    strict_blocks: bool,
    /// Whether render errors mention the template line (useful in multi-line files).
    report_line: bool,
}

/// The values a native-mode render printed. One value and no other output means the template
/// was a single node, whose value is returned as is (Ansible's native templating).
#[derive(Default)]
struct Capture {
    count: usize,
    first: Option<Value>,
}

/// The templating engine. Build once and share (`Send + Sync`); every method takes `&self`.
pub struct Templater {
    env: Environment<'static>,
    /// Copies of `env` with other block whitespace settings, made when a template's
    /// `#jinja2:` header first asks for them, by (trim_blocks, lstrip_blocks).
    variants: std::sync::Mutex<Vec<(BlockWhitespace, std::sync::Arc<Environment<'static>>)>>,
}

/// `(trim_blocks, lstrip_blocks)`.
type BlockWhitespace = (bool, bool);

impl Default for Templater {
    fn default() -> Self {
        Templater::new()
    }
}

impl std::fmt::Debug for Templater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templater").finish_non_exhaustive()
    }
}

impl Templater {
    pub fn new() -> Templater {
        let mut env = Environment::new();
        // Debug mode makes minijinja remember where each undefined value came from, which is
        // how errors get to name `foo.bar`; its cost is paid only when an error is built.
        env.set_debug(true);
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        // Ansible's settings for both strings and template files: trim_blocks on, lstrip off, and
        // the trailing newline dropped by Jinja then restored by Ansible (see `restore_newlines`).
        if let Ok(syntax) = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(false)
            .keep_trailing_newline(false)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_auto_escape_callback(|name| {
            if name == NATIVE_NAME {
                AutoEscape::Custom(Cow::Borrowed(NATIVE_ESCAPE))
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(format_value);
        env.set_unknown_method_callback(methods::call_method);
        env.set_string_rem_callback(|_, format, args| percent::format_value(format, args));
        env.add_function(
            rewrite::STRICT_FN,
            |value: &Value| -> Result<Value, Error> {
                if value.is_undefined() && !is_silent_undefined(value) {
                    return Err(pyfmt::undefined_error(value));
                }
                Ok(value.clone())
            },
        );
        filters::register(&mut env);
        jinja_tests::register(&mut env);
        more_filters::register(&mut env);
        text_filters::register(&mut env);
        vault_filters::register(&mut env);
        lookup::register(&mut env);
        env.add_function("now", datetime::now_function);
        // Registered last: the aliases forward to whatever the names above resolve to.
        more_filters::register_fqcn_aliases(&mut env);
        Templater {
            env,
            variants: std::sync::Mutex::default(),
        }
    }

    /// The environment for a template's block whitespace settings.
    fn env_for(
        &self,
        trim_blocks: bool,
        lstrip_blocks: bool,
    ) -> std::sync::Arc<Environment<'static>> {
        let mut variants = match self.variants.lock() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((_, env)) = variants
            .iter()
            .find(|(k, _)| *k == (trim_blocks, lstrip_blocks))
        {
            return env.clone();
        }
        let mut env = self.env.clone();
        if let Ok(syntax) = SyntaxConfig::builder()
            .trim_blocks(trim_blocks)
            .lstrip_blocks(lstrip_blocks)
            .keep_trailing_newline(false)
            .build()
        {
            env.set_syntax(syntax);
        }
        let env = std::sync::Arc::new(env);
        variants.push(((trim_blocks, lstrip_blocks), env.clone()));
        env
    }

    /// Runs a lookup plugin as `query(name, *terms)` does, for `with_<name>` loops: `terms` is
    /// the (already templated) loop value, a list of terms or a single one. Names may carry the
    /// `ansible.builtin.`/`ansible.legacy.` prefix. Relative paths resolve against `role_path`
    /// and `playbook_dir` from `vars`, else the current directory.
    pub fn run_lookup(
        &self,
        name: &str,
        terms: Json,
        vars: &Json,
    ) -> Result<Vec<Json>, TemplateError> {
        self.run_lookup_for_action(name, terms, vars, "")
    }

    /// [`run_lookup`](Self::run_lookup) for a task whose action (module name, e.g.
    /// `ansible.builtin.template`) is known: `with_first_found` then searches `templates/`,
    /// `vars/` or `files/` as Ansible does for that action (`files/` when it is empty).
    pub fn run_lookup_for_action(
        &self,
        name: &str,
        terms: Json,
        vars: &Json,
        action: &str,
    ) -> Result<Vec<Json>, TemplateError> {
        let plugin = lookup::canonical(name).ok_or_else(|| TemplateError::UnknownLookup {
            name: name.to_string(),
        })?;
        let terms = match terms {
            Json::Array(items) => items,
            other => vec![other],
        };
        let source = lookup::JsonVars(vars);
        let scope = lookup::Scope {
            env: &self.env,
            vars: &source,
            loop_action: Some(action),
        };
        match lookup::run_plugin(plugin, &terms, &serde_json::Map::new(), &scope) {
            Ok(items) => Ok(items),
            Err(lookup::Failure::Template(e)) => Err(e),
            Err(lookup::Failure::Message(message)) => Err(TemplateError::LookupFailed {
                plugin: name.to_string(),
                message,
            }),
        }
    }

    /// The lookup plugins tend provides (bare names; see [`lookup_names`]).
    pub fn lookup_names() -> &'static [&'static str] {
        lookup_names()
    }

    /// Renders every string inside `value` recursively (map keys too). A string that is exactly
    /// one template node returns that node's native value; other templates render to strings;
    /// strings without template markers are returned untouched.
    pub fn render_value(&self, value: &Json, vars: &Json) -> Result<Json, TemplateError> {
        let mut ctx = None;
        self.render_value_inner(value, vars, &mut ctx)
    }

    fn render_value_inner(
        &self,
        value: &Json,
        vars: &Json,
        ctx: &mut Option<Value>,
    ) -> Result<Json, TemplateError> {
        match value {
            Json::String(s) => {
                if !is_template(s) {
                    return Ok(value.clone());
                }
                let ctx = ctx.get_or_insert_with(|| crate::json_to_value(vars));
                self.render_native(s, ctx, vars)
            }
            Json::Array(items) => items
                .iter()
                .map(|item| self.render_value_inner(item, vars, ctx))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array),
            Json::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (key, item) in map {
                    let key = if is_template(key) {
                        let ctx = ctx.get_or_insert_with(|| crate::json_to_value(vars));
                        match self.render_native(key, ctx, vars)? {
                            Json::String(s) => s,
                            other => json_key_string(&other),
                        }
                    } else {
                        key.clone()
                    };
                    out.insert(key, self.render_value_inner(item, vars, ctx)?);
                }
                Ok(Json::Object(out))
            }
            _ => Ok(value.clone()),
        }
    }

    /// Renders one string, with native types for a single-node template.
    pub fn render_str(&self, s: &str, vars: &Json) -> Result<Json, TemplateError> {
        if !is_template(s) {
            return Ok(Json::String(s.to_string()));
        }
        self.render_native(s, &crate::json_to_value(vars), vars)
    }

    fn render_native(&self, source: &str, ctx: &Value, vars: &Json) -> Result<Json, TemplateError> {
        let mode = Mode {
            name: NATIVE_NAME,
            escape_backslashes: true,
            strict_blocks: true,
            report_line: false,
        };
        render_native_in(&self.env, source, mode, ctx, vars)
    }

    /// Renders a template file (the `template` module): always a string.
    pub fn render_template(
        &self,
        source: &str,
        name: &str,
        vars: &Json,
    ) -> Result<String, TemplateError> {
        let mode = Mode {
            name: if name.is_empty() || name == NATIVE_NAME {
                FILE_NAME
            } else {
                name
            },
            // The template module renders with escape_backslashes=False.
            escape_backslashes: false,
            strict_blocks: true,
            report_line: true,
        };
        let ctx = crate::json_to_value(vars);
        // Ansible's `#jinja2:` first line sets environment options for this template.
        if let Some(header) = source.strip_prefix(JINJA2_OVERRIDE) {
            let (line, body) = header.split_once('\n').unwrap_or((header, ""));
            let (trim, lstrip) = jinja2_overrides(line)?;
            let env = self.env_for(trim, lstrip);
            let (output, _) = render_captured_in(&env, body, mode, &ctx, vars)?;
            return Ok(restore_newlines(body, output));
        }
        let (output, _) = self.render_captured(source, mode, &ctx, vars)?;
        Ok(restore_newlines(source, output))
    }

    fn render_captured(
        &self,
        user_text: &str,
        mode: Mode<'_>,
        ctx: &Value,
        vars: &Json,
    ) -> Result<(String, Option<Capture>), TemplateError> {
        render_captured_in(&self.env, user_text, mode, ctx, vars)
    }

    fn syntax_error(&self, user_text: &str, escape_backslashes: bool) -> Option<TemplateError> {
        syntax_error_in(&self.env, user_text, escape_backslashes)
    }

    /// Evaluates a conditional (`when:`, `changed_when:`, `failed_when:`, `assert: that:`).
    ///
    /// The expression is bare; a `{{ }}`-wrapped one is accepted too, as Ansible does (with a
    /// deprecation warning there). An empty conditional is true, as in Ansible. The result must be
    /// a boolean (ansible-core 2.19): strings such as `"True"`, numbers, lists and `None` are
    /// errors; an undefined result is an error naming the variable.
    pub fn eval_condition(&self, expr: &str, vars: &Json) -> Result<bool, TemplateError> {
        let (inner, offset) = unwrap_braces(expr);
        if inner.trim().is_empty() {
            return Ok(true);
        }
        let value = self.eval_inner(expr, inner, offset, vars)?;
        if value.kind() == ValueKind::Bool {
            return Ok(value.is_true());
        }
        Err(TemplateError::NotBoolean {
            expr: expr.trim().to_string(),
            type_name: pyfmt::type_name(&value).to_string(),
            value: pyfmt::py_repr(&value).unwrap_or_else(|_| value.to_string()),
        })
    }

    /// Evaluates a bare expression to its native value.
    pub fn eval_expr(&self, expr: &str, vars: &Json) -> Result<Json, TemplateError> {
        let value = self.eval_inner(expr, expr, 0, vars)?;
        to_json(&value)
    }

    fn eval_inner(
        &self,
        user_text: &str,
        inner: &str,
        offset: usize,
        vars: &Json,
    ) -> Result<Value, TemplateError> {
        let err_ctx = |undeclared| ErrorContext {
            inserted: &[],
            offset,
            user_text,
            vars,
            undeclared,
            report_line: false,
        };
        let compiled = self
            .env
            .compile_expression(inner)
            .map_err(|e| convert(e, &err_ctx(None)))?;
        let value = compiled.eval(crate::json_to_value(vars)).map_err(|e| {
            convert(
                e,
                &err_ctx(Some(
                    compiled.undeclared_variables(true).into_iter().collect(),
                )),
            )
        })?;
        // Undefined values nested in a list or dict fail too, as printing them would.
        if contains_undefined(&value) {
            return Err(self.name_undefined_expr(inner, vars, &compiled));
        }
        Ok(value)
    }

    /// An expression evaluated to undefined; the value carries no name outside the engine, so
    /// print it through a template, whose formatter error minijinja words with the expression path.
    fn name_undefined_expr(
        &self,
        inner: &str,
        vars: &Json,
        compiled: &minijinja::Expression<'_, '_>,
    ) -> TemplateError {
        let source = format!("{{{{ {inner} }}}}");
        let mode = Mode {
            name: NATIVE_NAME,
            escape_backslashes: false,
            strict_blocks: false,
            report_line: false,
        };
        match self.render_captured(&source, mode, &crate::json_to_value(vars), vars) {
            Err(err @ TemplateError::Undefined { .. }) => err,
            _ => {
                let mut names: Vec<String> =
                    compiled.undeclared_variables(true).into_iter().collect();
                names.sort();
                match names.first() {
                    Some(name) => undefined_for(name, vars),
                    None => undefined_for(inner.trim(), vars),
                }
            }
        }
    }

    /// Checks a template string without rendering it: its syntax, and that every filter, test
    /// and (literally named) lookup plugin it uses exists, as Jinja2 checks when compiling.
    pub fn check_template(&self, s: &str) -> Result<(), TemplateError> {
        if !is_template(s) {
            return Ok(());
        }
        if let Some(err) = self.syntax_error(s, true) {
            return Err(err);
        }
        match check::unknown_in_template(&self.env, s) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// The top-level variable names a template string reads, without the names it binds
    /// itself (`set`, loop variables); empty when the string is no template or does not
    /// parse. Callers use it to find variables whose templates refer to each other.
    pub fn referenced_names(&self, s: &str) -> Vec<String> {
        if !is_template(s) {
            return Vec::new();
        }
        let rewritten = rewrite::rewrite(s, true, false);
        let source = rewritten.as_ref().map_or(s, |r| r.text.as_str());
        let Ok(tmpl) = self.env.template_from_named_str(NATIVE_NAME, source) else {
            return Vec::new();
        };
        let mut names: Vec<String> = tmpl.undeclared_variables(false).into_iter().collect();
        names.sort();
        names
    }

    /// Checks a bare expression (a conditional) as [`check_template`](Self::check_template)
    /// checks a template; `{{ }}` around it is accepted.
    pub fn check_expr(&self, expr: &str) -> Result<(), TemplateError> {
        let (inner, offset) = unwrap_braces(expr);
        if inner.trim().is_empty() {
            return Ok(());
        }
        let vars = Json::Null;
        self.env.compile_expression(inner).map_err(|e| {
            convert(
                e,
                &ErrorContext {
                    inserted: &[],
                    offset,
                    user_text: expr,
                    vars: &vars,
                    undeclared: None,
                    report_line: false,
                },
            )
        })?;
        match check::unknown_in_expr(&self.env, expr) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// Renders with native types for a single-node template (`mode.name` must be [`NATIVE_NAME`]).
fn render_native_in(
    env: &Environment<'_>,
    source: &str,
    mode: Mode<'_>,
    ctx: &Value,
    vars: &Json,
) -> Result<Json, TemplateError> {
    let (output, capture) = render_captured_in(env, source, mode, ctx, vars)?;
    let native = match capture {
        Some(Capture {
            count: 1,
            first: Some(value),
        }) if pyfmt::py_output(&value).is_ok_and(|text| text == output) => value,
        // Nothing printed at all (`{% if false %}…{% endif %}`): Ansible returns None.
        Some(Capture { count: 0, .. }) | None if output.is_empty() => {
            return Ok(Json::Null);
        }
        _ => return Ok(Json::String(restore_newlines(source, output))),
    };
    match to_json(&native)? {
        Json::String(s) => Ok(Json::String(restore_newlines(source, s))),
        other => Ok(other),
    }
}

/// Renders a template file for the `template` lookup: like the `template` module (no backslash
/// escaping, line numbers in errors) but with native types, as ansible-core 2.19 returns them.
pub(crate) fn render_file_native(
    env: &Environment<'_>,
    source: &str,
    ctx: &Value,
    vars: &Json,
) -> Result<Json, TemplateError> {
    let mode = Mode {
        name: NATIVE_NAME,
        escape_backslashes: false,
        strict_blocks: true,
        report_line: true,
    };
    render_native_in(env, source, mode, ctx, vars)
}

/// The lookup plugins tend provides, by bare name; `lookup()`, `query()` and
/// [`Templater::run_lookup`] also accept them with an `ansible.builtin.`/`ansible.legacy.` prefix.
pub fn lookup_names() -> &'static [&'static str] {
    lookup::NAMES
}

/// Compiles `user_text` (after the source rewrites `mode` asks for) and renders it.
fn render_captured_in(
    env: &Environment<'_>,
    user_text: &str,
    mode: Mode<'_>,
    ctx: &Value,
    vars: &Json,
) -> Result<(String, Option<Capture>), TemplateError> {
    let rewritten = rewrite::rewrite(user_text, mode.escape_backslashes, mode.strict_blocks);
    let (source, inserted) = match &rewritten {
        Some(r) => (r.text.as_str(), r.inserted.as_slice()),
        None => (user_text, &[][..]),
    };
    let err_ctx = |undeclared| ErrorContext {
        inserted,
        offset: 0,
        user_text,
        vars,
        undeclared,
        report_line: mode.report_line,
    };
    let tmpl = match env.template_from_named_str(mode.name, source) {
        Ok(tmpl) => tmpl,
        Err(e) if mode.strict_blocks && rewritten.is_some() => {
            // Report the syntax error of the text without the strict-block wrapping, so
            // that the message and position are about what the user wrote.
            return Err(syntax_error_in(env, user_text, mode.escape_backslashes)
                .unwrap_or_else(|| convert(e, &err_ctx(None))));
        }
        Err(e) => return Err(convert(e, &err_ctx(None))),
    };
    let result = match tmpl.render_captured(ctx.clone()) {
        Ok(mut captured) => {
            let capture = captured
                .with_state_mut(|state| state.get_extension_mut::<Capture>().map(std::mem::take));
            Ok((captured.into_output(), capture))
        }
        Err(e) => {
            let undeclared = tmpl.undeclared_variables(true).into_iter().collect();
            Err(convert(e, &err_ctx(Some(undeclared))))
        }
    };
    result
}

/// The syntax error of a template string, if it has one.
fn syntax_error_in(
    env: &Environment<'_>,
    user_text: &str,
    escape_backslashes: bool,
) -> Option<TemplateError> {
    let rewritten = rewrite::rewrite(user_text, escape_backslashes, false);
    let (source, inserted) = match &rewritten {
        Some(r) => (r.text.as_str(), r.inserted.as_slice()),
        None => (user_text, &[][..]),
    };
    let vars = Json::Null;
    env.template_from_named_str(NATIVE_NAME, source)
        .err()
        .map(|e| {
            convert(
                e,
                &ErrorContext {
                    inserted,
                    offset: 0,
                    user_text,
                    vars: &vars,
                    undeclared: None,
                    report_line: false,
                },
            )
        })
}

/// Prints a value the way Jinja2 under Ansible does, failing on undefined values; in native
/// mode also records the value so a single-node template can return it unconverted.
fn format_value(
    out: &mut minijinja::Output,
    state: &mut State,
    value: &Value,
) -> Result<(), Error> {
    if value.is_undefined() {
        if is_silent_undefined(value) {
            return Ok(());
        }
        return Err(pyfmt::undefined_error(value));
    }
    let text = pyfmt::py_output(value)?;
    // Ansible's native concatenation skips None chunks: `{{ none }}{{ 5 }}` is the number 5.
    if !value.is_none()
        && matches!(state.auto_escape(), AutoEscape::Custom(name) if name == NATIVE_ESCAPE)
    {
        let capture = state.get_or_insert_extension_with(Capture::default);
        capture.count += 1;
        if capture.count == 1 {
            capture.first = Some(value.clone());
        }
    }
    out.write_str(&text).map_err(Error::from)
}

/// The undefined value of an `{{ x if cond }}` without `else` prints as nothing in Jinja2 even
/// under strict undefined. minijinja marks it "silent"; that mark is not public, but a strict
/// environment's default formatter honours it, so ask one.
fn is_silent_undefined(value: &Value) -> bool {
    static STRICT: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    let env = STRICT.get_or_init(|| {
        let mut env = Environment::empty();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env
    });
    env.render_str("{{ v }}", minijinja::context! { v => value.clone() })
        .is_ok()
}

fn contains_undefined(value: &Value) -> bool {
    match value.kind() {
        ValueKind::Undefined => !is_silent_undefined(value),
        ValueKind::Seq => value
            .try_iter()
            .is_ok_and(|mut items| items.any(|item| contains_undefined(&item))),
        ValueKind::Map => value.try_iter().is_ok_and(|mut keys| {
            keys.any(|key| {
                value
                    .get_item(&key)
                    .is_ok_and(|item| contains_undefined(&item))
            })
        }),
        _ => false,
    }
}

/// Converts JSON data (variables, filter results) into a template value.
pub(crate) fn json_to_value(value: &Json) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// Converts a template value into JSON (tuples become lists; undefined becomes an error).
fn to_json(value: &Value) -> Result<Json, TemplateError> {
    if value.is_undefined() {
        return Err(TemplateError::Undefined {
            name: String::new(),
            detail: "undefined value".into(),
        });
    }
    serde_json::to_value(value).map_err(|e| TemplateError::Render {
        message: format!("cannot convert the template result to data: {e}"),
    })
}

fn json_key_string(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// Ansible drops the template's final newline while rendering, then appends newlines until the
/// result ends with as many as the template did.
/// The first line of a template file that overrides Jinja settings for it.
pub const JINJA2_OVERRIDE: &str = "#jinja2:";

/// `trim_blocks` and `lstrip_blocks` from a `#jinja2:` line (`key: value, ...` with Python
/// literal values), over Ansible's defaults.
fn jinja2_overrides(line: &str) -> Result<(bool, bool), TemplateError> {
    let (mut trim, mut lstrip) = (true, false);
    for pair in line.split(',').filter(|p| !p.trim().is_empty()) {
        let bad = || TemplateError::Syntax {
            message: format!("invalid #jinja2: override `{}`", pair.trim()),
            line: Some(1),
            col: Some(1),
        };
        let (key, value) = pair.split_once(':').ok_or_else(bad)?;
        let value = match value.trim() {
            "True" | "true" => true,
            "False" | "false" => false,
            _ => return Err(bad()),
        };
        match key.trim() {
            "trim_blocks" => trim = value,
            "lstrip_blocks" => lstrip = value,
            // Ansible's own default for template files; nothing to change.
            "keep_trailing_newline" if value => {}
            other => {
                return Err(TemplateError::Syntax {
                    message: format!("#jinja2: override `{other}` is not supported by tend yet"),
                    line: Some(1),
                    col: Some(1),
                })
            }
        }
    }
    Ok((trim, lstrip))
}

fn restore_newlines(template: &str, mut result: String) -> String {
    let wanted = trailing_newlines(template);
    let have = trailing_newlines(&result);
    for _ in have..wanted {
        result.push('\n');
    }
    result
}

fn trailing_newlines(s: &str) -> usize {
    s.bytes().rev().take_while(|b| *b == b'\n').count()
}

/// Strips `{{ }}` (with optional whitespace control) around a conditional, returning the inner
/// text and its byte offset in `expr`.
fn unwrap_braces(expr: &str) -> (&str, usize) {
    let trimmed = expr.trim();
    let lead = expr.len() - expr.trim_start().len();
    if let Some(inner) = trimmed
        .strip_prefix("{{")
        .and_then(|s| s.strip_suffix("}}"))
    {
        if !inner.contains("{{") && !inner.contains("}}") {
            let (inner, skip) = match inner.strip_prefix(['-', '+']) {
                Some(rest) => (rest, 3),
                None => (inner, 2),
            };
            let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
            return (inner, lead + skip);
        }
    }
    (expr, 0)
}
