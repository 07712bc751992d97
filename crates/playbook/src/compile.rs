//! Compiles a playbook's YAML into the typed plan, collecting every error with its position.
//!
//! Nothing here touches a host: unknown modules, unknown or missing parameters, malformed
//! keywords and template syntax errors are all found before the run starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};
use tend_diag::Diagnostic;
use tend_module_api::args::{is_template, ArgErrorKind};
use tend_module_api::{executable, FreeForm};
use tend_template::{TemplateError, Templater};
use tend_yaml::{Node, NodeKind, Span};

use crate::kv::parse_kv;
use crate::model::{
    Action, BatchSize, Block, HostOrder, IncludeBody, Location, Loop, Meta, Play, Playbook,
    Privilege, Retry, Role, Step, Strategy, Task, VarPrompt,
};

#[path = "roles.rs"]
mod roles;
use roles::IncludeKind;

const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "gather_facts",
    "vars",
    "vars_files",
    "tasks",
    "pre_tasks",
    "post_tasks",
    "handlers",
    "become",
    "become_user",
    "become_method",
    "remote_user",
    "check_mode",
    "diff",
    "ignore_errors",
    "force_handlers",
    "tags",
    "strategy",
    "connection",
    "collections",
    "environment",
    "serial",
    "roles",
    "vars_prompt",
    "any_errors_fatal",
    "max_fail_percentage",
    "order",
    "gather_subset",
    "gather_timeout",
    "module_defaults",
    "run_once",
    "no_log",
    "port",
    "timeout",
    "throttle",
    "fact_path",
    "become_flags",
    "become_exe",
    "debugger",
    "ignore_unreachable",
];

const TASK_KEYWORDS: &[&str] = &[
    "name",
    "action",
    "args",
    "become",
    "become_user",
    "become_method",
    "changed_when",
    "check_mode",
    "diff",
    "failed_when",
    "ignore_errors",
    "loop",
    "loop_control",
    "no_log",
    "notify",
    "register",
    "tags",
    "vars",
    "when",
    "listen",
    "with_items",
    "with_list",
    "delegate_to",
    "delegate_facts",
    "run_once",
    "until",
    "retries",
    "delay",
    "environment",
    "async",
    "poll",
    "throttle",
    "timeout",
    "local_action",
    "remote_user",
    "connection",
    "ignore_unreachable",
    "any_errors_fatal",
    "collections",
    "module_defaults",
    "port",
    "debugger",
    "become_flags",
    "become_exe",
    "block",
    "rescue",
    "always",
];

/// Keywords tend parses but does not run yet: refusing them beats silently ignoring them.
const TASK_KEYWORDS_NOT_YET: &[&str] = &[
    "async",
    "poll",
    "throttle",
    "remote_user",
    "connection",
    "port",
    "debugger",
    "become_flags",
    "become_exe",
];

const PLAY_KEYWORDS_NOT_YET: &[&str] = &[
    "port",
    "timeout",
    "throttle",
    "fact_path",
    "become_flags",
    "become_exe",
    "debugger",
];

/// Well-known Ansible modules tend does not provide yet, for a clearer message than "unknown".
const ANSIBLE_MODULES_NOT_YET: &[&str] = &["zypper", "add_host", "group_by"];

/// Every problem found in a playbook.
#[derive(Debug, Clone)]
pub struct CompileErrors(pub Vec<Diagnostic>);

impl std::fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileErrors {}

/// Loads and compiles the playbook at `path`.
pub fn load_playbook(path: &Path) -> Result<Playbook, CompileErrors> {
    let source = tend_vault::read_to_string(path).map_err(|e| {
        CompileErrors(vec![Diagnostic::new(
            format!("cannot read playbook: {e}"),
            path,
            0,
            0,
        )])
    })?;
    compile_playbook(path, &source)
}

/// Compiles a task file named at run time (`include_tasks` with a templated name), as part
/// of `role` if any; roles it uses are looked up beside `playbook_dir`.
pub fn compile_task_file(
    path: &Path,
    role: Option<Arc<Role>>,
    playbook_dir: &Path,
) -> Result<Vec<Step>, CompileErrors> {
    let source = tend_vault::read_to_string(path).map_err(|e| {
        CompileErrors(vec![Diagnostic::new(
            format!("cannot read task file: {e}"),
            path,
            0,
            0,
        )])
    })?;
    let mut c = Compiler {
        file: Arc::new(path.to_path_buf()),
        source: &source,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        errors: Vec::new(),
        templater: Templater::new(),
        notified: Vec::new(),
        playbook_dir: playbook_dir.to_path_buf(),
        role,
        role_handlers: Vec::new(),
        roles_seen: Vec::new(),
        role_stack: Vec::new(),
        exposed_roles: Vec::new(),
        playbook_stack: Vec::new(),
        module_defaults: Map::new(),
        nesting: 0,
        // The file itself is open: including itself again is deferred to run time.
        task_files: vec![std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())],
    };
    let steps = match tend_yaml::load_one(&source) {
        Ok(root) if root.is_null() => Vec::new(),
        Ok(root) => c.step_list(&root, false),
        Err(e) => {
            c.error(e.span, e.headline());
            Vec::new()
        }
    };
    if c.errors.is_empty() {
        Ok(steps)
    } else {
        Err(CompileErrors(c.errors))
    }
}

/// Compiles playbook text; `path` names it in messages and anchors relative files.
pub fn compile_playbook(path: &Path, source: &str) -> Result<Playbook, CompileErrors> {
    let mut c = Compiler {
        file: Arc::new(path.to_path_buf()),
        source,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        errors: Vec::new(),
        templater: Templater::new(),
        notified: Vec::new(),
        playbook_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        role: None,
        role_handlers: Vec::new(),
        roles_seen: Vec::new(),
        role_stack: Vec::new(),
        exposed_roles: Vec::new(),
        playbook_stack: vec![path.to_path_buf()],
        module_defaults: Map::new(),
        nesting: 0,
        task_files: Vec::new(),
    };
    let plays = c.playbook();
    if c.errors.is_empty() {
        Ok(Playbook {
            path: path.to_path_buf(),
            dir: c.dir,
            plays,
        })
    } else {
        Err(CompileErrors(c.errors))
    }
}

struct Compiler<'s> {
    file: Arc<PathBuf>,
    source: &'s str,
    dir: PathBuf,
    errors: Vec<Diagnostic>,
    templater: Templater,
    /// The current play's `notify` names with the error to report if no handler has that
    /// name, checked once the play's handlers are known.
    notified: Vec<(String, Diagnostic)>,
    /// The directory of the playbook itself: `roles/` is looked up there.
    playbook_dir: PathBuf,
    /// The role whose files are being compiled, if any.
    role: Option<Arc<Role>>,
    /// Handlers brought in by roles, added to the play's handlers.
    role_handlers: Vec<Task>,
    /// Roles already expanded in this play (name and parameters), for de-duplication.
    roles_seen: Vec<(String, Map<String, Value>)>,
    /// Roles being expanded, outermost first, for cycle detection.
    role_stack: Vec<String>,
    /// Roles whose defaults and vars the play exposes to all its tasks.
    exposed_roles: Vec<Arc<Role>>,
    /// Playbooks being imported (`import_playbook`), outermost first, for cycle detection.
    playbook_stack: Vec<PathBuf>,
    /// `module_defaults` in force (the innermost level's per module), by module name.
    module_defaults: Map<String, Value>,
    /// Blocks and task files open around the current step, counted against [`MAX_NESTING`].
    nesting: usize,
    /// Task files being compiled (`import_tasks`, `include_tasks`), outermost first, for
    /// cycle detection.
    task_files: Vec<PathBuf>,
}

/// How deep blocks and task files may nest. Ansible itself fails somewhere between 120 and
/// 300 levels (Python's recursion limit); a limit keeps the compiler's and the executor's
/// recursion well inside a thread's stack.
pub const MAX_NESTING: usize = 128;

/// A module name without the `ansible.legacy.` prefix Ansible also accepts for local modules.
fn library_name(name: &str) -> &str {
    name.strip_prefix("ansible.legacy.").unwrap_or(name)
}

/// The text width a node occupies on its first line, for the caret.
fn node_width(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Str(s) if !s.contains('\n') => s.chars().count().max(1),
        _ => 1,
    }
}

impl Compiler<'_> {
    /// Where Ansible looks for modules shipped with the playbook: the current role's
    /// `library/`, those of the play's roles, the playbook's own `library/`, then
    /// `ANSIBLE_LIBRARY` (colon-separated).
    fn library_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let roles = self.role.iter().chain(self.exposed_roles.iter());
        for dir in roles
            .map(|r| r.path.join("library"))
            .chain([self.dir.join("library"), self.playbook_dir.join("library")])
        {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        if let Some(paths) = std::env::var_os("ANSIBLE_LIBRARY") {
            dirs.extend(std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()));
        }
        dirs
    }

    /// The `library/` file providing module `name`, if any.
    fn library_module_path(&self, name: &str) -> Option<PathBuf> {
        let short = library_name(name);
        if short.contains('.') {
            return None;
        }
        executable::find_in(&self.library_dirs(), short)
    }

    fn location(&self, span: Span) -> Location {
        Location {
            file: self.file.clone(),
            line: span.line,
            col: span.col,
        }
    }

    fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        let d = Diagnostic::new(message, self.file.as_ref().clone(), span.line, span.col);
        // A vaulted file's lines are secrets: no source line, as Ansible shows none.
        if tend_vault::file_is_vaulted(self.file.as_ref()) {
            d
        } else {
            d.with_source(self.source)
        }
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        let d = self.diag(span, message);
        self.errors.push(d);
    }

    fn error_at(&mut self, node: &Node, message: impl Into<String>) {
        let d = self.diag(node.span, message).with_width(node_width(node));
        self.errors.push(d);
    }

    fn playbook(&mut self) -> Vec<Play> {
        let root = match tend_yaml::load_one(self.source) {
            Ok(root) => root,
            Err(e) => {
                self.error(e.span, e.headline());
                return Vec::new();
            }
        };
        let Some(items) = root.as_seq() else {
            if !root.is_null() {
                self.error_at(
                    &root,
                    format!(
                        "a playbook must be a list of plays, found {}",
                        root.kind.type_name()
                    ),
                );
            } else {
                self.error(root.span, "the playbook is empty");
            }
            return Vec::new();
        };
        let mut plays = Vec::new();
        for node in items {
            let import = node.as_map().and_then(|m| {
                m.iter().find(|(k, _)| {
                    matches!(
                        k.as_str(),
                        Some("import_playbook" | "ansible.builtin.import_playbook")
                    )
                })
            });
            match import {
                Some((_, value)) => plays.extend(self.import_playbook(node, value)),
                None => plays.extend(self.play(node)),
            }
        }
        plays
    }

    /// `import_playbook`: the plays of another playbook, compiled in place with its own
    /// directory for relative files and roles; `vars`, `when` and `tags` given on the import
    /// apply to every imported play.
    fn import_playbook(&mut self, node: &Node, value: &Node) -> Vec<Play> {
        let mut inherited = TaskParts::default();
        let mut import_vars = Map::new();
        for (k, v) in node.as_map().unwrap_or_default() {
            match k.as_str().unwrap_or_default() {
                "import_playbook" | "ansible.builtin.import_playbook" | "name" => {}
                "vars" => self.vars_into(v, &mut import_vars),
                "when" => inherited.when = self.conditions(v),
                "tags" => inherited.tags = self.string_list(v),
                other => {
                    let d = self
                        .diag(
                            k.span,
                            format!("`{other}` is not a valid keyword for `import_playbook`"),
                        )
                        .with_width(other.chars().count())
                        .suggest(other, ["name", "vars", "when", "tags"]);
                    self.errors.push(d);
                }
            }
        }
        let Some(name) = self.scalar_string(value) else {
            return Vec::new();
        };
        if is_template(&name) {
            self.error_at(
                value,
                "`import_playbook` is static: its file name cannot be a template",
            );
            return Vec::new();
        }
        let path = self.dir.join(&name);
        if self.playbook_stack.contains(&path) {
            self.error_at(
                value,
                format!(
                    "`{name}` imports itself (through {})",
                    key_path(&self.playbook_stack)
                ),
            );
            return Vec::new();
        }
        let source = match tend_vault::read_to_string(&path) {
            Ok(source) => source,
            Err(e) => {
                self.error_at(
                    value,
                    format!("cannot read the imported playbook {}: {e}", path.display()),
                );
                return Vec::new();
            }
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut stack = self.playbook_stack.clone();
        stack.push(path.clone());
        let mut sub = Compiler {
            file: Arc::new(path.clone()),
            source: &source,
            dir: dir.clone(),
            errors: Vec::new(),
            templater: Templater::new(),
            notified: Vec::new(),
            playbook_dir: dir,
            role: None,
            role_handlers: Vec::new(),
            roles_seen: Vec::new(),
            role_stack: Vec::new(),
            exposed_roles: Vec::new(),
            playbook_stack: stack,
            module_defaults: Map::new(),
            nesting: 0,
            task_files: Vec::new(),
        };
        let mut plays = sub.playbook();
        self.errors.extend(sub.errors);
        for play in &mut plays {
            // The import's vars win over the play's own, as in Ansible.
            play.vars.extend(import_vars.clone());
            for step in play
                .pre_tasks
                .iter_mut()
                .chain(&mut play.tasks)
                .chain(&mut play.post_tasks)
            {
                inherit(step, &inherited);
            }
            for handler in &mut play.handlers {
                for tag in &inherited.tags {
                    if !handler.tags.contains(tag) {
                        handler.tags.push(tag.clone());
                    }
                }
            }
            for tag in &inherited.tags {
                if !play.tags.contains(tag) {
                    play.tags.push(tag.clone());
                }
            }
        }
        plays
    }

    fn play(&mut self, node: &Node) -> Option<Play> {
        let Some(entries) = node.as_map() else {
            self.error_at(
                node,
                format!("a play must be a mapping, found {}", node.kind.type_name()),
            );
            return None;
        };
        let mut play = Play {
            name: String::new(),
            hosts: String::new(),
            gather_facts: true,
            vars: Map::new(),
            role_defaults: Map::new(),
            role_vars: Map::new(),
            privilege: Privilege::default(),
            remote_user: None,
            check_mode: None,
            diff: None,
            ignore_errors: false,
            ignore_unreachable: false,
            force_handlers: false,
            serial: Vec::new(),
            max_fail_percentage: None,
            any_errors_fatal: false,
            strategy: Strategy::Linear,
            order: HostOrder::Inventory,
            vars_prompt: Vec::new(),
            connection: None,
            tags: Vec::new(),
            pre_tasks: Vec::new(),
            tasks: Vec::new(),
            post_tasks: Vec::new(),
            handlers: Vec::new(),
            dir: self.dir.clone(),
            location: self.location(node.span),
        };
        let mut saw_hosts = false;
        let mut handlers_broken = false;
        let mut role_steps = Vec::new();
        let mut play_tags = Vec::new();
        let mut play_parts = TaskParts::default();
        let mut play_env = Map::new();
        let mut play_no_log = false;
        self.notified.clear();
        self.roles_seen.clear();
        self.module_defaults = Map::new();
        if let Some(defaults) = keyword(entries, "module_defaults") {
            self.push_module_defaults(defaults);
        }
        self.role_handlers.clear();
        self.exposed_roles.clear();
        for (key, value) in entries {
            let Some(k) = key.as_str() else {
                self.error_at(key, "play keys must be strings");
                continue;
            };
            match k {
                "name" => play.name = self.scalar_string(value).unwrap_or_default(),
                "hosts" => {
                    saw_hosts = true;
                    play.hosts = self.host_pattern(value).unwrap_or_default();
                }
                "gather_facts" => play.gather_facts = self.boolean(value).unwrap_or(true),
                "vars" => self.vars_into(value, &mut play.vars),
                "vars_files" => self.vars_files(value, &mut play.vars),
                "tasks" => play.tasks = self.step_list(value, false),
                "roles" => role_steps = self.play_roles(value),
                "pre_tasks" => play.pre_tasks = self.step_list(value, false),
                "post_tasks" => play.post_tasks = self.step_list(value, false),
                "handlers" => {
                    let before = self.errors.len();
                    play.handlers = self.handler_list(value);
                    handlers_broken = self.errors.len() > before;
                }
                "become" => play.privilege.become_ = self.boolean(value),
                "become_user" => play.privilege.become_user = self.scalar_string(value),
                "become_method" => play.privilege.become_method = self.become_method(value),
                "remote_user" => play.remote_user = self.scalar_string(value),
                "check_mode" => play.check_mode = self.boolean(value),
                "diff" => play.diff = self.boolean(value),
                "ignore_errors" => play.ignore_errors = self.boolean(value).unwrap_or(false),
                "force_handlers" => play.force_handlers = self.boolean(value).unwrap_or(false),
                "ignore_unreachable" => {
                    play.ignore_unreachable = self.boolean(value).unwrap_or(false)
                }
                "serial" => play.serial = self.serial(value),
                "max_fail_percentage" => play.max_fail_percentage = self.percentage(value),
                "any_errors_fatal" => play.any_errors_fatal = self.boolean(value).unwrap_or(false),
                "strategy" => play.strategy = self.strategy(value).unwrap_or_default(),
                "order" => play.order = self.host_order(value).unwrap_or_default(),
                "vars_prompt" => play.vars_prompt = self.vars_prompt(value),
                "tags" => play_tags = self.string_list(value),
                "no_log" => play_parts.no_log = self.boolean(value).unwrap_or(false),
                "run_once" => play_parts.run_once = self.boolean(value).unwrap_or(false),
                "environment" => play_parts.environment = self.environment(value),
                "connection" => play.connection = self.connection(value),
                "gather_subset" | "gather_timeout" | "collections" | "module_defaults" => {}
                k if PLAY_KEYWORDS_NOT_YET.contains(&k) => {
                    self.error_at(
                        key,
                        format!("play keyword `{k}` is not supported by tend yet"),
                    );
                }
                other => {
                    let d = self
                        .diag(key.span, format!("`{other}` is not a valid play keyword"))
                        .with_width(other.chars().count())
                        .suggest(other, PLAY_KEYWORDS.iter().copied());
                    self.errors.push(d);
                }
            }
        }
        if !saw_hosts {
            self.error(node.span, "the play has no `hosts`");
        }
        // Play tags, `environment`, `no_log` and `run_once` apply to every task of the play.
        if !play_tags.is_empty()
            || !play_parts.environment.is_empty()
            || play_parts.no_log
            || play_parts.run_once
        {
            let parts = TaskParts {
                tags: play_tags.clone(),
                ..play_parts
            };
            for step in play
                .pre_tasks
                .iter_mut()
                .chain(&mut play.tasks)
                .chain(&mut play.post_tasks)
                .chain(&mut role_steps)
            {
                inherit(step, &parts);
            }
            play.tags = play_tags;
            play_env = parts.environment;
            play_no_log = parts.no_log;
        }
        // Roles run before the play's tasks, and their handlers come before the play's.
        role_steps.append(&mut play.tasks);
        play.tasks = role_steps;
        for role in std::mem::take(&mut self.exposed_roles) {
            play.role_defaults.extend(role.defaults.clone());
            play.role_vars.extend(role.vars.clone());
        }
        let mut handlers = std::mem::take(&mut self.role_handlers);
        // A role used more than once in a play (`roles:` and `include_role`, say) has its
        // handlers once, as in Ansible.
        let mut seen = Vec::new();
        handlers.retain(|h| {
            let new = !seen.contains(&h.location);
            if new {
                seen.push(h.location.clone());
            }
            new
        });
        handlers.append(&mut play.handlers);
        for handler in &mut handlers {
            let mut env = play_env.clone();
            env.extend(std::mem::take(&mut handler.environment));
            handler.environment = env;
            handler.no_log |= play_no_log;
        }
        play.handlers = handlers;
        // A handler that did not compile would make every `notify` of it look unknown.
        if !handlers_broken {
            self.check_notify(&play);
        }
        if play.name.is_empty() {
            play.name = play.hosts.clone();
        }
        Some(play)
    }

    /// Every `notify` must name a handler or a `listen` topic of the play, as Ansible
    /// requires; finding that out at the end of a run would be too late.
    fn check_notify(&mut self, play: &Play) {
        let qualified: Vec<String> = play
            .handlers
            .iter()
            .filter_map(|h| Some(format!("{} : {}", h.role.as_ref()?.name, h.name.as_ref()?)))
            .collect();
        let known: Vec<&str> = play
            .handlers
            .iter()
            .flat_map(|h| h.name.iter().chain(h.listen.iter()))
            .chain(qualified.iter())
            .map(String::as_str)
            .collect();
        for (name, d) in std::mem::take(&mut self.notified) {
            if is_template(&name) || known.contains(&name.as_str()) {
                continue;
            }
            self.errors.push(d.suggest(&name, known.iter().copied()));
        }
    }

    /// A task's `notify` names, each remembered with its position for [`Self::check_notify`].
    fn notify(&mut self, node: &Node) -> Vec<String> {
        let items = match &node.kind {
            NodeKind::Seq(items) => items.as_slice(),
            NodeKind::Null => &[],
            _ => std::slice::from_ref(node),
        };
        let mut names = Vec::new();
        for item in items {
            if let Some(name) = self.scalar_string(item) {
                let d = self
                    .diag(
                        item.span,
                        format!("handler `{name}` is notified but the play has no handler or `listen` topic of that name"),
                    )
                    .with_width(node_width(item));
                self.notified.push((name.clone(), d));
                names.push(name);
            }
        }
        names
    }

    fn host_pattern(&mut self, node: &Node) -> Option<String> {
        match &node.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Seq(items) => {
                let parts: Option<Vec<String>> =
                    items.iter().map(|n| self.scalar_string(n)).collect();
                parts.map(|p| p.join(","))
            }
            _ => {
                self.error_at(node, "`hosts` must be a host pattern or a list of them");
                None
            }
        }
    }

    /// `serial`: a number, a percentage, or a list of them.
    fn serial(&mut self, node: &Node) -> Vec<BatchSize> {
        let items = match &node.kind {
            NodeKind::Seq(items) => items.as_slice(),
            NodeKind::Null => &[],
            _ => std::slice::from_ref(node),
        };
        let mut sizes = Vec::new();
        for item in items {
            let size = match &item.kind {
                NodeKind::Int(n) => Some(BatchSize::Hosts(*n)),
                NodeKind::Str(s) => {
                    let s = s.trim();
                    match s.strip_suffix('%') {
                        Some(p) => p.trim().parse().ok().map(BatchSize::Percent),
                        None => s.parse().ok().map(BatchSize::Hosts),
                    }
                }
                _ => None,
            };
            match size {
                Some(size) => sizes.push(size),
                None => self.error_at(
                    item,
                    "`serial` must be a number of hosts, a percentage like \"30%\", or a list of them",
                ),
            }
        }
        sizes
    }

    /// `max_fail_percentage`: a number from 0 to 100 (a trailing `%` is allowed).
    fn percentage(&mut self, node: &Node) -> Option<f64> {
        let value = match &node.kind {
            NodeKind::Int(n) => Some(*n as f64),
            NodeKind::Float(f) => Some(*f),
            NodeKind::Str(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
            _ => None,
        };
        if value.is_none() {
            self.error_at(node, "`max_fail_percentage` must be a number from 0 to 100");
        }
        value
    }

    fn strategy(&mut self, node: &Node) -> Option<Strategy> {
        match node.as_str() {
            Some("linear" | "ansible.builtin.linear") => Some(Strategy::Linear),
            Some("free" | "ansible.builtin.free") => Some(Strategy::Free),
            other => {
                let name = other.unwrap_or_default();
                let d = self
                    .diag(
                        node.span,
                        format!("strategy `{name}` is not supported by tend (linear and free are)"),
                    )
                    .with_width(node_width(node))
                    .suggest(name, ["linear", "free"]);
                self.errors.push(d);
                None
            }
        }
    }

    fn host_order(&mut self, node: &Node) -> Option<HostOrder> {
        let name = node.as_str().unwrap_or_default();
        match HostOrder::parse(name) {
            Some(order) => Some(order),
            None => {
                let d = self
                    .diag(node.span, format!("`{name}` is not a valid `order`"))
                    .with_width(node_width(node))
                    .suggest(name, HostOrder::NAMES.iter().copied());
                self.errors.push(d);
                None
            }
        }
    }

    /// `module_defaults` at this level, over the outer levels' per module. Keys name
    /// modules (`file`, `ansible.builtin.file`); defaults for modules tend does not have, or
    /// for action groups (`group/...`), cannot apply to any task and are left alone.
    fn push_module_defaults(&mut self, node: &Node) {
        let entries: Vec<&Node> = match &node.kind {
            NodeKind::Map(_) => vec![node],
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Null => Vec::new(),
            _ => {
                self.error_at(node, "`module_defaults` must be a mapping of module names to their default arguments");
                return;
            }
        };
        for entry in entries {
            let Some(map) = entry.as_map() else {
                self.error_at(
                    entry,
                    "`module_defaults` entries must be mappings of module names to arguments",
                );
                continue;
            };
            for (key, args) in map {
                let name = key.as_str().unwrap_or_default();
                let Some(module) = tend_module_api::lookup(name) else {
                    let foreign = name.starts_with("group/")
                        || (name.contains('.')
                            && !name.starts_with("ansible.builtin.")
                            && !name.starts_with("ansible.legacy."));
                    if !foreign {
                        let d = self
                            .diag(key.span, format!("`module_defaults` names `{name}`, which is not a module tend knows"))
                            .with_width(node_width(key))
                            .suggest(name, tend_module_api::module_names());
                        self.errors.push(d);
                    }
                    continue;
                };
                let Some(arg_map) = args.as_map() else {
                    self.error_at(
                        args,
                        format!("the defaults for `{name}` must be a mapping of arguments"),
                    );
                    continue;
                };
                let mut defaults = Map::new();
                for (k, v) in arg_map {
                    self.check_templates(v);
                    if let Some(k) = k.as_str() {
                        defaults.insert(k.to_string(), v.to_json());
                    }
                }
                // Alone the defaults may lack required arguments; anything else wrong with
                // them is wrong for every task they would apply to.
                if let Err(e) = module.check_args(&Value::Object(defaults.clone())) {
                    if !matches!(e.kind, ArgErrorKind::MissingParam { .. }) {
                        let at = e
                            .path
                            .first()
                            .and_then(|p| arg_map.iter().find(|(k, _)| k.as_str() == Some(p)))
                            .map(|(k, v)| match e.kind {
                                ArgErrorKind::UnknownParam { .. } => k,
                                _ => v,
                            })
                            .unwrap_or(key);
                        let mut d = self
                            .diag(at.span, format!("module_defaults for `{name}`: {e}"))
                            .with_width(node_width(at));
                        if let Some(word) = e.misspelt() {
                            d = d.suggest(word, e.candidates().iter().copied());
                        }
                        self.errors.push(d);
                        continue;
                    }
                }
                // An inner level's defaults for a module replace the outer ones whole, as
                // Ansible's dict update of the levels does.
                self.module_defaults
                    .insert(module.name().to_string(), Value::Object(defaults));
            }
        }
    }

    /// `connection`: how the play's hosts are reached when their variables do not say.
    fn connection(&mut self, node: &Node) -> Option<String> {
        match node.as_str() {
            Some(c @ ("ssh" | "smart" | "paramiko" | "local")) => Some(c.to_string()),
            Some(c @ ("ansible.builtin.ssh" | "ansible.builtin.local")) => {
                Some(c.trim_start_matches("ansible.builtin.").to_string())
            }
            _ => {
                self.error_at(node, "`connection` must be `ssh` or `local` in tend");
                None
            }
        }
    }

    /// `vars_prompt`: a list of `{name, prompt, private, default, confirm, encrypt, ...}`.
    fn vars_prompt(&mut self, node: &Node) -> Vec<VarPrompt> {
        const KEYS: &[&str] = &[
            "name",
            "prompt",
            "private",
            "default",
            "confirm",
            "encrypt",
            "salt",
            "salt_size",
            "unsafe",
        ];
        let items = match &node.kind {
            NodeKind::Seq(items) => items.as_slice(),
            NodeKind::Null => &[],
            _ => {
                self.error_at(node, "`vars_prompt` must be a list of prompts");
                return Vec::new();
            }
        };
        let mut prompts = Vec::new();
        for item in items {
            let Some(entries) = item.as_map() else {
                self.error_at(
                    item,
                    "a `vars_prompt` entry must be a mapping with a `name`",
                );
                continue;
            };
            let mut prompt = VarPrompt {
                name: String::new(),
                prompt: None,
                private: true,
                default: None,
                confirm: false,
                encrypt: None,
                salt: None,
                salt_size: None,
            };
            for (k, v) in entries {
                match k.as_str().unwrap_or_default() {
                    "name" => prompt.name = self.scalar_string(v).unwrap_or_default(),
                    "prompt" => prompt.prompt = self.scalar_string(v),
                    "private" => prompt.private = self.boolean(v).unwrap_or(true),
                    "default" => prompt.default = self.scalar_string(v),
                    "confirm" => prompt.confirm = self.boolean(v).unwrap_or(false),
                    "encrypt" => prompt.encrypt = self.scalar_string(v),
                    "salt" => prompt.salt = self.scalar_string(v),
                    "salt_size" => prompt.salt_size = self.count(v, "salt_size"),
                    "unsafe" => {}
                    other => {
                        let d = self
                            .diag(k.span, format!("`{other}` is not a `vars_prompt` option"))
                            .with_width(other.chars().count())
                            .suggest(other, KEYS.iter().copied());
                        self.errors.push(d);
                    }
                }
            }
            if !is_identifier(&prompt.name) {
                self.error_at(
                    item,
                    "a `vars_prompt` entry needs a `name` that is a valid variable name",
                );
                continue;
            }
            prompts.push(prompt);
        }
        prompts
    }

    /// `become_method`: `sudo` or `su`; others are refused.
    fn become_method(&mut self, node: &Node) -> Option<String> {
        match node.as_str() {
            Some(m @ ("sudo" | "su")) => Some(m.to_string()),
            _ => {
                self.error_at(
                    node,
                    "only `become_method: sudo` and `become_method: su` are supported by tend yet",
                );
                None
            }
        }
    }

    fn scalar_string(&mut self, node: &Node) -> Option<String> {
        match &node.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
            _ => {
                self.error_at(
                    node,
                    format!("expected a string, found {}", node.kind.type_name()),
                );
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node) -> Vec<String> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|n| self.scalar_string(n)).collect(),
            NodeKind::Null => Vec::new(),
            _ => self.scalar_string(node).into_iter().collect(),
        }
    }

    fn boolean(&mut self, node: &Node) -> Option<bool> {
        match &node.kind {
            NodeKind::Bool(b) => Some(*b),
            NodeKind::Str(s) => match tend_module_api::args::parse_bool(s) {
                Some(b) => Some(b),
                None => {
                    self.error_at(node, format!("expected a boolean, found {s:?}"));
                    None
                }
            },
            NodeKind::Int(i @ (0 | 1)) => Some(*i == 1),
            _ => {
                self.error_at(
                    node,
                    format!("expected a boolean, found {}", node.kind.type_name()),
                );
                None
            }
        }
    }

    fn vars_into(&mut self, node: &Node, into: &mut Map<String, Value>) {
        match &node.kind {
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let Some(name) = k.as_str() else {
                        self.error_at(k, "variable names must be strings");
                        continue;
                    };
                    if !is_identifier(name) {
                        self.error_at(k, format!("`{name}` is not a valid variable name"));
                        continue;
                    }
                    self.check_templates(v);
                    into.insert(name.to_string(), v.to_json());
                }
            }
            // The older list-of-mappings form.
            NodeKind::Seq(items) => {
                for item in items {
                    self.vars_into(item, into);
                }
            }
            NodeKind::Null => {}
            _ => self.error_at(
                node,
                format!("`vars` must be a mapping, found {}", node.kind.type_name()),
            ),
        }
    }

    fn vars_files(&mut self, node: &Node, into: &mut Map<String, Value>) {
        for name_node in node
            .as_seq()
            .map(<[Node]>::to_vec)
            .unwrap_or_else(|| vec![node.clone()])
        {
            let Some(name) = self.scalar_string(&name_node) else {
                continue;
            };
            if is_template(&name) {
                self.error_at(
                    &name_node,
                    "templated `vars_files` paths are not supported by tend yet",
                );
                continue;
            }
            let path = self.dir.join(&name);
            let text = match tend_vault::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    self.error_at(
                        &name_node,
                        format!("cannot read vars file {}: {e}", path.display()),
                    );
                    continue;
                }
            };
            match tend_yaml::load_one(&text) {
                Ok(vars) if vars.as_map().is_some() || vars.is_null() => {
                    for (k, v) in vars.as_map().unwrap_or_default() {
                        if let Some(name) = k.as_str() {
                            into.insert(name.to_string(), v.to_json());
                        }
                    }
                }
                Ok(_) => self.error_at(
                    &name_node,
                    format!("vars file {} must hold a mapping", path.display()),
                ),
                Err(e) => {
                    let d = Diagnostic::new(e.headline(), &path, e.span.line, e.span.col);
                    // A vaulted file's lines are secrets: no source line, as Ansible shows none.
                    let d = if tend_vault::file_is_vaulted(&path) {
                        d
                    } else {
                        d.with_source(&text)
                    };
                    self.errors.push(d);
                }
            }
        }
    }

    fn handler_list(&mut self, node: &Node) -> Vec<Task> {
        self.step_list(node, true)
            .into_iter()
            .filter_map(|step| match step {
                Step::Task(t) => Some(t),
                Step::Include(i) => {
                    let at = i.task.location.clone();
                    self.error(
                        Span {
                            line: at.line,
                            col: at.col,
                            offset: 0,
                        },
                        "includes in `handlers` are not supported by tend yet",
                    );
                    None
                }
                Step::Block(b) => {
                    let at = b.location.clone();
                    self.error(
                        Span {
                            line: at.line,
                            col: at.col,
                            offset: 0,
                        },
                        "blocks in `handlers` are not supported by tend yet",
                    );
                    None
                }
            })
            .collect()
    }

    fn step_list(&mut self, node: &Node, handlers: bool) -> Vec<Step> {
        match &node.kind {
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|t| self.step(t, handlers))
                .collect(),
            NodeKind::Null => Vec::new(),
            _ => {
                self.error_at(
                    node,
                    format!("expected a list of tasks, found {}", node.kind.type_name()),
                );
                Vec::new()
            }
        }
    }

    /// Reports template syntax errors anywhere inside a value.
    fn check_templates(&mut self, node: &Node) {
        match &node.kind {
            NodeKind::Str(s) if is_template(s) => {
                if let Err(e) = self.templater.check_template(s) {
                    self.template_error(node, s, &e);
                }
            }
            NodeKind::Seq(items) => items.iter().for_each(|n| self.check_templates(n)),
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    self.check_templates(k);
                    self.check_templates(v);
                }
            }
            _ => {}
        }
    }

    /// Reports a template error in `node`, whose value ends with the checked `text`.
    fn template_error(&mut self, node: &Node, text: &str, e: &TemplateError) {
        match self.syntax_error_span(node, text, e) {
            Some(span) => self.error(span, e.to_string()),
            None => self.error_at(node, e.to_string()),
        }
    }

    /// Where in the source a syntax error is, when the value is written there as is (no
    /// escapes, no folding) and the caret can point at the offending token, not the value.
    fn syntax_error_span(&self, node: &Node, text: &str, e: &TemplateError) -> Option<Span> {
        let TemplateError::Syntax {
            line: Some(line),
            col: Some(col),
            ..
        } = e
        else {
            return None;
        };
        let NodeKind::Str(value) = &node.kind else {
            return None;
        };
        if *line != 1 {
            return self.block_scalar_error_span(node, value, text, *line, *col);
        }
        let before_text = value.strip_suffix(text)?;
        let written = self.source.get(node.span.offset..)?;
        let quoted = written.starts_with(['"', '\'']);
        let written = if quoted { &written[1..] } else { written };
        if value.contains('\n') || !written.starts_with(value.as_str()) {
            return None;
        }
        let in_text = (*col as usize).checked_sub(1)?;
        let shift = usize::from(quoted) + before_text.chars().count() + in_text;
        let bytes = text
            .char_indices()
            .nth(in_text)
            .map_or(text.len(), |(i, _)| i);
        Some(Span {
            line: node.span.line,
            col: node.span.col + u32::try_from(shift).ok()?,
            offset: node.span.offset + usize::from(quoted) + before_text.len() + bytes,
        })
    }

    /// Where line `line`, column `col` of a template is in the source when the template is
    /// a literal block scalar (`|`): each of its lines is one source line below the header,
    /// behind the block's indentation.
    fn block_scalar_error_span(
        &self,
        node: &Node,
        value: &str,
        text: &str,
        line: u32,
        col: u32,
    ) -> Option<Span> {
        if value != text || !self.source.get(node.span.offset..)?.starts_with('|') {
            return None;
        }
        let wanted = value.split('\n').nth(line as usize - 1)?;
        let source_line = node.span.line + line;
        let written = self.source.lines().nth(source_line as usize - 1)?;
        let indent = written.strip_suffix(wanted)?;
        if !indent.chars().all(|c| c == ' ') {
            return None;
        }
        let line_start = self
            .source
            .split_inclusive('\n')
            .take(source_line as usize - 1)
            .map(str::len)
            .sum::<usize>();
        let in_line = wanted
            .char_indices()
            .nth(col as usize - 1)
            .map_or(wanted.len(), |(i, _)| i);
        Some(Span {
            line: source_line,
            col: u32::try_from(indent.len()).ok()? + col,
            offset: line_start + indent.len() + in_line,
        })
    }

    fn conditions(&mut self, node: &Node) -> Vec<String> {
        let exprs: Vec<(String, &Node)> = match &node.kind {
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|n| self.scalar_string(n).map(|s| (s, n)))
                .collect(),
            _ => self
                .scalar_string(node)
                .map(|s| (s, node))
                .into_iter()
                .collect(),
        };
        exprs
            .into_iter()
            .map(|(expr, n)| {
                if let Err(e) = self.templater.check_expr(&expr) {
                    self.template_error(n, &expr, &e);
                }
                expr
            })
            .collect()
    }

    fn step(&mut self, node: &Node, handler: bool) -> Option<Step> {
        if node.get("block").is_some() {
            return self.block(node, handler).map(Step::Block);
        }
        for word in ["rescue", "always"] {
            if let Some((key, _)) = node
                .as_map()
                .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some(word)))
            {
                self.error_at(
                    key,
                    format!("`{word}` belongs to a `block`, and this task has none"),
                );
                return None;
            }
        }
        self.task(node, handler)
    }

    /// A `block` with its `rescue` and `always`; block keywords are pushed into its tasks.
    fn block(&mut self, node: &Node, handler: bool) -> Option<Block> {
        if self.nesting >= MAX_NESTING {
            self.error_at(
                node,
                format!("blocks and task files are nested deeper than {MAX_NESTING} levels"),
            );
            return None;
        }
        self.nesting += 1;
        let block = self.block_body(node, handler);
        self.nesting -= 1;
        block
    }

    fn block_body(&mut self, node: &Node, handler: bool) -> Option<Block> {
        let entries = node.as_map().unwrap_or_default();
        let mut block = Block {
            name: None,
            block: Vec::new(),
            rescue: Vec::new(),
            always: Vec::new(),
            location: self.location(node.span),
        };
        let mut inherited = TaskParts::default();
        let outer_defaults = self.module_defaults.clone();
        if let Some(defaults) = keyword(entries, "module_defaults") {
            self.push_module_defaults(defaults);
        }
        for (key, value) in entries {
            let Some(k) = key.as_str() else {
                self.error_at(key, "block keys must be strings");
                continue;
            };
            match k {
                "block" => block.block = self.step_list(value, handler),
                "rescue" => block.rescue = self.step_list(value, handler),
                "always" => block.always = self.step_list(value, handler),
                "name" => block.name = self.scalar_string(value),
                "when" => inherited.when = self.conditions(value),
                "vars" => self.vars_into(value, &mut inherited.vars),
                "become" => inherited.privilege.become_ = self.boolean(value),
                "become_user" => inherited.privilege.become_user = self.scalar_string(value),
                "become_method" => inherited.privilege.become_method = self.become_method(value),
                "ignore_errors" => inherited.ignore_errors = self.boolean(value).unwrap_or(false),
                "no_log" => inherited.no_log = self.boolean(value).unwrap_or(false),
                "check_mode" => inherited.check_mode = self.boolean(value),
                "diff" => inherited.diff = self.boolean(value),
                "environment" => inherited.environment = self.environment(value),
                "tags" => inherited.tags = self.string_list(value),
                "notify" => inherited.notify = self.notify(value),
                "ignore_unreachable" => inherited.ignore_unreachable = self.boolean(value),
                "any_errors_fatal" => inherited.any_errors_fatal = self.boolean(value),
                "collections" | "module_defaults" => {}
                k if TASK_KEYWORDS_NOT_YET.contains(&k) || k == "timeout" => {
                    self.error_at(
                        key,
                        format!("block keyword `{k}` is not supported by tend yet"),
                    );
                }
                other => {
                    let d = self
                        .diag(key.span, format!("`{other}` is not a valid block keyword"))
                        .with_width(other.chars().count())
                        .suggest(other, BLOCK_KEYWORDS.iter().copied());
                    self.errors.push(d);
                }
            }
        }
        self.module_defaults = outer_defaults;
        for step in block
            .block
            .iter_mut()
            .chain(&mut block.rescue)
            .chain(&mut block.always)
        {
            inherit(step, &inherited);
        }
        Some(block)
    }

    fn environment(&mut self, node: &Node) -> Map<String, Value> {
        match node.as_map() {
            Some(_) => {
                self.check_templates(node);
                match node.to_json() {
                    Value::Object(map) => map,
                    _ => Map::new(),
                }
            }
            None if node.is_null() => Map::new(),
            None => {
                self.error_at(
                    node,
                    "`environment` must be a mapping of variable names to values",
                );
                Map::new()
            }
        }
    }

    fn count(&mut self, node: &Node, what: &str) -> Option<u64> {
        match &node.kind {
            NodeKind::Int(i) if *i >= 0 => Some(*i as u64),
            NodeKind::Str(s) if s.trim().parse::<u64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.error_at(
                    node,
                    format!("`{what}` must be a whole number of at least 0"),
                );
                None
            }
        }
    }

    fn task(&mut self, node: &Node, handler: bool) -> Option<Step> {
        let Some(entries) = node.as_map() else {
            self.error_at(
                node,
                format!("a task must be a mapping, found {}", node.kind.type_name()),
            );
            return None;
        };
        let errors_before = self.errors.len();
        let mut action: Option<(&Node, &Node)> = None;
        let mut extra_args: Option<&Node> = None;
        let mut task = TaskParts::default();
        for (key, value) in entries {
            let Some(k) = key.as_str() else {
                self.error_at(key, "task keys must be strings");
                continue;
            };
            match k {
                "name" => task.name = self.scalar_string(value),
                "args" => extra_args = Some(value),
                "action" => action = self.pick_action(action, key, value),
                "local_action" => {
                    action = self.pick_action(action, key, value);
                    task.delegate_to = Some("localhost".into());
                }
                "delegate_to" => task.delegate_to = self.scalar_string(value),
                "run_once" => task.run_once = self.boolean(value).unwrap_or(false),
                "delegate_facts" => task.delegate_facts = self.boolean(value).unwrap_or(false),
                "when" => task.when = self.conditions(value),
                "changed_when" => task.changed_when = Some(self.conditions(value)),
                "failed_when" => task.failed_when = Some(self.conditions(value)),
                "register" => match self.scalar_string(value) {
                    Some(r) if is_identifier(&r) => task.register = Some(r),
                    Some(r) => self.error_at(
                        value,
                        format!("`{r}` is not a valid variable name for `register`"),
                    ),
                    None => {}
                },
                "notify" => task.notify = self.notify(value),
                "listen" if handler => task.listen = self.string_list(value),
                "ignore_errors" => task.ignore_errors = self.boolean(value).unwrap_or(false),
                "ignore_unreachable" => task.ignore_unreachable = self.boolean(value),
                "any_errors_fatal" => task.any_errors_fatal = self.boolean(value),
                "no_log" => task.no_log = self.boolean(value).unwrap_or(false),
                "become" => task.privilege.become_ = self.boolean(value),
                "become_user" => task.privilege.become_user = self.scalar_string(value),
                "become_method" => task.privilege.become_method = self.become_method(value),
                "check_mode" => task.check_mode = self.boolean(value),
                "diff" => task.diff = self.boolean(value),
                "vars" => self.vars_into(value, &mut task.vars),
                "tags" => task.tags = self.string_list(value),
                "environment" => task.environment = self.environment(value),
                "until" => task.until = Some(self.conditions(value)),
                "retries" => task.retries = self.count(value, "retries").map(|n| n as u32),
                "delay" => task.delay = self.count(value, "delay"),
                "timeout" => task.timeout = self.count(value, "timeout").filter(|&n| n > 0),
                "collections" | "module_defaults" => {}
                "loop" => {
                    if task.loop_.is_some() {
                        self.error_at(key, "a task can have only one loop");
                    }
                    self.check_templates(value);
                    let items = value.to_json();
                    if !matches!(items, Value::Array(_) | Value::String(_)) {
                        self.error_at(
                            value,
                            format!("`{k}` needs a list, found {}", value.kind.type_name()),
                        );
                    }
                    task.loop_ = Some(Loop {
                        items,
                        lookup: None,
                        loop_var: "item".into(),
                        index_var: None,
                        label: None,
                        pause: None,
                        extended: false,
                        extended_allitems: true,
                        break_when: Vec::new(),
                    });
                }
                // `with_<lookup>`: the lookup turns the terms into the items, as in Ansible.
                k if k.starts_with("with_") && Templater::lookup_names().contains(&&k[5..]) => {
                    if task.loop_.is_some() {
                        self.error_at(key, "a task can have only one loop");
                    }
                    self.check_templates(value);
                    task.loop_ = Some(Loop {
                        items: value.to_json(),
                        lookup: Some(k[5..].to_string()),
                        loop_var: "item".into(),
                        index_var: None,
                        label: None,
                        pause: None,
                        extended: false,
                        extended_allitems: true,
                        break_when: Vec::new(),
                    });
                }
                "loop_control" => task.loop_control = Some((key, value)),
                k if TASK_KEYWORDS_NOT_YET.contains(&k) => {
                    self.error_at(
                        key,
                        format!("task keyword `{k}` is not supported by tend yet"),
                    );
                }
                k if k.starts_with("with_") => {
                    let known: Vec<String> = Templater::lookup_names()
                        .iter()
                        .map(|n| format!("with_{n}"))
                        .collect();
                    let d = self
                        .diag(key.span, format!("`{k}` names no lookup plugin tend has"))
                        .with_width(k.chars().count())
                        .suggest(k, known.iter().map(String::as_str));
                    self.errors.push(d);
                }
                _ => action = self.pick_action(action, key, value),
            }
        }
        if let Some((key, control)) = task.loop_control {
            self.loop_control(key, control, task.loop_.as_mut());
        }
        let Some((module_key, module_value)) = action else {
            if self.errors.len() == errors_before {
                self.error(node.span, "no module or action in this task");
            }
            return None;
        };
        if let Some(kind) = IncludeKind::of(module_key) {
            if self.errors.len() > errors_before {
                return None;
            }
            return self.include(kind, node, module_key, module_value, task);
        }
        let outer_defaults = self.module_defaults.clone();
        if let Some(defaults) = keyword(entries, "module_defaults") {
            self.push_module_defaults(defaults);
        }
        let resolved = if is_meta(module_key) {
            self.meta(module_value).map(|m| {
                let name = module_key.as_str().unwrap_or("meta").to_string();
                (name, Action::Meta(m), Map::new())
            })
        } else {
            self.module_and_args(module_key, module_value, extra_args)
                .map(|(name, module, args)| (name, Action::Module(module), args))
        };
        self.module_defaults = outer_defaults;
        if self.errors.len() > errors_before {
            return None;
        }
        let (action, module, args) = resolved?;
        Some(Step::Task(
            self.build_task(task, action, module, args, node),
        ))
    }

    /// The task from its parsed keywords and resolved action.
    fn build_task(
        &self,
        task: TaskParts<'_>,
        action: String,
        module: Action,
        args: Map<String, Value>,
        node: &Node,
    ) -> Task {
        // `until` alone means 3 retries, 5 seconds apart, as in Ansible.
        let retry = task.until.map(|until| Retry {
            until,
            retries: task.retries.unwrap_or(3),
            delay_secs: task.delay.unwrap_or(5),
        });
        Task {
            name: task.name,
            timeout: task.timeout,
            action,
            module,
            args,
            when: task.when,
            loop_: task.loop_,
            register: task.register,
            notify: task.notify,
            listen: task.listen,
            changed_when: task.changed_when,
            failed_when: task.failed_when,
            ignore_errors: task.ignore_errors,
            ignore_unreachable: task.ignore_unreachable,
            any_errors_fatal: task.any_errors_fatal,
            no_log: task.no_log,
            privilege: task.privilege,
            check_mode: task.check_mode,
            diff: task.diff,
            vars: task.vars,
            environment: task.environment,
            delegate_to: task.delegate_to,
            delegate_facts: task.delegate_facts,
            run_once: task.run_once,
            retry,
            tags: task.tags,
            role: self.role.clone(),
            location: self.location(node.span),
        }
    }

    fn meta(&mut self, node: &Node) -> Option<Meta> {
        let name = node.as_str().unwrap_or_default();
        match Meta::parse(name) {
            Some(m) => Some(m),
            None => {
                let d = self
                    .diag(node.span, format!("`{name}` is not a meta action"))
                    .with_width(node_width(node))
                    .suggest(name, Meta::NAMES.iter().copied());
                self.errors.push(d);
                None
            }
        }
    }

    fn pick_action<'n>(
        &mut self,
        current: Option<(&'n Node, &'n Node)>,
        key: &'n Node,
        value: &'n Node,
    ) -> Option<(&'n Node, &'n Node)> {
        let names_module = |n: &Node| {
            let name = n.as_str().unwrap_or_default();
            name == "action"
                || name == "local_action"
                || is_meta(n)
                || IncludeKind::of(n).is_some()
                || tend_module_api::lookup(name).is_some()
                || self.library_module_path(name).is_some()
        };
        let name = key.as_str().unwrap_or_default();
        let is_module = names_module(key);
        match current {
            // A word that is neither a module nor a keyword is most likely a typo of either.
            _ if !is_module && current.is_some() => {
                self.unknown_module_or_keyword(key, name);
                current
            }
            // The word taken for the action was such a typo (`whn:` above the module).
            Some((first, _)) if is_module && !names_module(first) => {
                self.unknown_module_or_keyword(first, first.as_str().unwrap_or_default());
                Some((key, value))
            }
            Some((first, _)) if is_module => {
                let a = first.as_str().unwrap_or_default();
                let d = self
                    .diag(
                        key.span,
                        format!("conflicting action statements: `{a}` and `{name}`"),
                    )
                    .with_width(name.chars().count());
                self.errors.push(d);
                current
            }
            _ => Some((key, value)),
        }
    }

    fn unknown_module_or_keyword(&mut self, node: &Node, name: &str) {
        let short = name.trim_start_matches("ansible.builtin.");
        let message = if short == "import_playbook" {
            "`import_playbook` brings in plays: it belongs at the top level of a playbook, not in a task list".to_string()
        } else if ANSIBLE_MODULES_NOT_YET.contains(&short) {
            format!("module `{name}` is not provided by tend yet")
        } else {
            format!("`{name}` is not a known module or task keyword")
        };
        let d = self
            .diag(node.span, message)
            .with_width(name.chars().count())
            .suggest(
                name,
                TASK_KEYWORDS
                    .iter()
                    .copied()
                    .chain(tend_module_api::module_names()),
            );
        self.errors.push(d);
    }

    fn loop_control(&mut self, key: &Node, node: &Node, loop_: Option<&mut Loop>) {
        let Some(loop_) = loop_ else {
            self.error_at(key, "`loop_control` without a loop");
            return;
        };
        let Some(entries) = node.as_map() else {
            self.error_at(node, "`loop_control` must be a mapping");
            return;
        };
        for (k, v) in entries {
            match k.as_str().unwrap_or_default() {
                "loop_var" => {
                    if let Some(s) = self.scalar_string(v) {
                        loop_.loop_var = s;
                    }
                }
                "index_var" => loop_.index_var = self.scalar_string(v),
                "label" => loop_.label = self.scalar_string(v),
                "extended" => loop_.extended = self.boolean(v).unwrap_or(false),
                "extended_allitems" => loop_.extended_allitems = self.boolean(v).unwrap_or(true),
                "break_when" => loop_.break_when = self.conditions(v),
                "pause" => match &v.kind {
                    NodeKind::Int(n) if *n >= 0 => loop_.pause = Some(v.to_json()),
                    NodeKind::Float(f) if *f >= 0.0 => loop_.pause = Some(v.to_json()),
                    NodeKind::Str(t) if is_template(t) => {
                        self.check_templates(v);
                        loop_.pause = Some(v.to_json());
                    }
                    NodeKind::Str(t) if t.trim().parse::<f64>().is_ok_and(|f| f >= 0.0) => {
                        loop_.pause = t.trim().parse::<f64>().ok().map(Value::from);
                    }
                    _ => self.error_at(v, "`pause` must be a number of seconds"),
                },
                other => {
                    let d = self
                        .diag(k.span, format!("`{other}` is not a `loop_control` option"))
                        .with_width(other.chars().count())
                        .suggest(
                            other,
                            [
                                "loop_var",
                                "index_var",
                                "label",
                                "pause",
                                "extended",
                                "extended_allitems",
                                "break_when",
                            ],
                        );
                    self.errors.push(d);
                }
            }
        }
    }

    /// Resolves the module and builds its arguments from the module value and `args:`.
    fn module_and_args(
        &mut self,
        key: &Node,
        value: &Node,
        extra_args: Option<&Node>,
    ) -> Option<(
        String,
        &'static dyn tend_module_api::DynModule,
        Map<String, Value>,
    )> {
        let key_name = match key.as_str().unwrap_or_default() {
            // `local_action` takes the same forms as `action`.
            "local_action" => "action",
            other => other,
        };
        // `action: copy src=a dest=b` or `action: {module: copy, src: a}`.
        let (name, name_node, inline): (String, &Node, Option<ArgsSource>) = if key_name == "action"
        {
            match &value.kind {
                NodeKind::Str(s) => {
                    let (module, rest) = s
                        .trim()
                        .split_once(char::is_whitespace)
                        .unwrap_or((s.trim(), ""));
                    (
                        module.to_string(),
                        value,
                        Some(ArgsSource::Text(rest.to_string(), value)),
                    )
                }
                NodeKind::Map(_) => match value.get("module").and_then(Node::as_str) {
                    Some(m) => (
                        m.to_string(),
                        value,
                        Some(ArgsSource::Map(value, &["module"])),
                    ),
                    None => {
                        self.error_at(value, "`action` mapping needs a `module` key");
                        return None;
                    }
                },
                _ => {
                    self.error_at(value, "`action` must be a string or a mapping");
                    return None;
                }
            }
        } else {
            let source = match &value.kind {
                NodeKind::Null => None,
                NodeKind::Map(_) => Some(ArgsSource::Map(value, &[])),
                NodeKind::Str(s) => Some(ArgsSource::Text(s.clone(), value)),
                NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => {
                    Some(ArgsSource::Text(value.to_json().to_string(), value))
                }
                NodeKind::Seq(_) => {
                    self.error_at(
                        value,
                        format!(
                            "arguments of `{key_name}` must be a mapping or a string, found a list"
                        ),
                    );
                    return None;
                }
            };
            (key_name.to_string(), key, source)
        };
        let module = match tend_module_api::lookup(&name) {
            Some(module) => module,
            None => match self.library_module_path(&name) {
                Some(path) => match executable::load_static(library_name(&name), &path) {
                    Ok(module) => module,
                    Err(e) => {
                        let d = self
                            .diag(name_node.span, e.to_string())
                            .with_width(node_width(name_node));
                        self.errors.push(d);
                        return None;
                    }
                },
                None => {
                    self.unknown_module_or_keyword(name_node, &name);
                    return None;
                }
            },
        };
        let free_form = module.free_form() == FreeForm::RawParams;
        // `module_defaults` first: the task's own arguments override them.
        let mut args = match self.module_defaults.get(module.name()) {
            Some(Value::Object(defaults)) => defaults.clone(),
            _ => Map::new(),
        };
        let mut spans: Vec<(String, Span, Span, usize)> = Vec::new();
        if let Some(extra) = extra_args {
            match extra.as_map() {
                Some(_) => self.collect_map_args(extra, &[], &mut args, &mut spans),
                None if extra.is_null() => {}
                None => self.error_at(extra, "`args` must be a mapping"),
            }
        }
        match &inline {
            Some(ArgsSource::Map(node, skip)) => {
                self.collect_map_args(node, skip, &mut args, &mut spans)
            }
            Some(ArgsSource::Text(text, node)) => {
                if is_template(text) {
                    if let Err(e) = self.templater.check_template(text) {
                        self.template_error(node, text, &e);
                    }
                }
                for (k, v) in parse_kv(text, free_form) {
                    spans.push((k.clone(), node.span, node.span, node_width(node)));
                    args.insert(k, v);
                }
            }
            None => {}
        }
        if args.contains_key("_raw_params") && !free_form {
            let at = match &inline {
                Some(ArgsSource::Text(_, node)) => *node,
                _ => value,
            };
            self.error_at(
                at,
                format!("module `{name}` takes `key=value` arguments, not free-form text"),
            );
            return None;
        }
        if let Err(e) = module.check_args(&Value::Object(args.clone())) {
            let top = e.path.first().cloned();
            let place = top
                .as_ref()
                .and_then(|k| spans.iter().find(|(name, ..)| name == k));
            let (span, width) = match (place, &e.kind) {
                (Some((k, key_span, ..)), ArgErrorKind::UnknownParam { .. }) => {
                    (*key_span, k.chars().count())
                }
                (Some((_, _, value_span, width)), _) => (*value_span, *width),
                (None, _) => (name_node.span, name.chars().count()),
            };
            let mut d = self
                .diag(span, format!("module `{name}`: {e}"))
                .with_width(width);
            if let Some(word) = e.misspelt() {
                d = d.suggest(word, e.candidates().iter().copied());
            }
            self.errors.push(d);
            return None;
        }
        Some((name, module, args))
    }

    fn collect_map_args(
        &mut self,
        node: &Node,
        skip: &[&str],
        args: &mut Map<String, Value>,
        spans: &mut Vec<(String, Span, Span, usize)>,
    ) {
        for (k, v) in node.as_map().unwrap_or_default() {
            let Some(name) = k.as_str() else {
                self.error_at(k, "argument names must be strings");
                continue;
            };
            if skip.contains(&name) {
                continue;
            }
            self.check_templates(v);
            spans.push((name.to_string(), k.span, v.span, node_width(v)));
            args.insert(name.to_string(), v.to_json());
        }
    }
}

enum ArgsSource<'n> {
    Map(&'n Node, &'static [&'static str]),
    Text(String, &'n Node),
}

#[derive(Default)]
struct TaskParts<'n> {
    name: Option<String>,
    when: Vec<String>,
    changed_when: Option<Vec<String>>,
    failed_when: Option<Vec<String>>,
    register: Option<String>,
    notify: Vec<String>,
    listen: Vec<String>,
    ignore_errors: bool,
    ignore_unreachable: Option<bool>,
    any_errors_fatal: Option<bool>,
    no_log: bool,
    privilege: Privilege,
    check_mode: Option<bool>,
    diff: Option<bool>,
    vars: Map<String, Value>,
    tags: Vec<String>,
    loop_: Option<Loop>,
    /// The `loop_control` key and value.
    loop_control: Option<(&'n Node, &'n Node)>,
    environment: Map<String, Value>,
    delegate_to: Option<String>,
    delegate_facts: bool,
    run_once: bool,
    until: Option<Vec<String>>,
    retries: Option<u32>,
    delay: Option<u64>,
    timeout: Option<u64>,
}

const BLOCK_KEYWORDS: &[&str] = &[
    "block",
    "rescue",
    "always",
    "ignore_unreachable",
    "any_errors_fatal",
    "name",
    "when",
    "vars",
    "become",
    "become_user",
    "become_method",
    "ignore_errors",
    "no_log",
    "check_mode",
    "diff",
    "environment",
    "tags",
    "notify",
];

fn is_meta(node: &Node) -> bool {
    matches!(
        node.as_str(),
        Some("meta" | "ansible.builtin.meta" | "ansible.legacy.meta")
    )
}

/// Pushes a block's keywords into a step, the way Ansible's keyword inheritance resolves
/// them: the block's conditions come first; the task's own settings win.
fn inherit(step: &mut Step, from: &TaskParts<'_>) {
    match step {
        Step::Task(t) => {
            let mut when = from.when.clone();
            when.append(&mut t.when);
            t.when = when;
            let mut vars = from.vars.clone();
            vars.extend(std::mem::take(&mut t.vars));
            t.vars = vars;
            let mut env = from.environment.clone();
            env.extend(std::mem::take(&mut t.environment));
            t.environment = env;
            t.privilege = t.privilege.over(&from.privilege);
            t.ignore_errors |= from.ignore_errors;
            t.ignore_unreachable = t.ignore_unreachable.or(from.ignore_unreachable);
            t.any_errors_fatal = t.any_errors_fatal.or(from.any_errors_fatal);
            t.no_log |= from.no_log;
            t.run_once |= from.run_once;
            t.check_mode = t.check_mode.or(from.check_mode);
            t.diff = t.diff.or(from.diff);
            for tag in &from.tags {
                if !t.tags.contains(tag) {
                    t.tags.push(tag.clone());
                }
            }
            if t.notify.is_empty() {
                t.notify = from.notify.clone();
            }
        }
        Step::Block(b) => {
            for inner in b.block.iter_mut().chain(&mut b.rescue).chain(&mut b.always) {
                inherit(inner, from);
            }
        }
        // What encloses an include reaches both the include and what it includes.
        Step::Include(i) => {
            let mut task = Step::Task(std::mem::replace(&mut i.task, placeholder_task()));
            inherit(&mut task, from);
            if let Step::Task(t) = task {
                i.task = t;
            }
            if let IncludeBody::Steps(steps) = &mut i.body {
                for inner in steps {
                    inherit(inner, from);
                }
            }
        }
    }
}

/// A task that is never run, to move a real one out of an include for a moment.
fn placeholder_task() -> Task {
    Task {
        name: None,
        timeout: None,
        action: String::new(),
        module: Action::Meta(Meta::Noop),
        args: Map::new(),
        when: Vec::new(),
        loop_: None,
        register: None,
        notify: Vec::new(),
        listen: Vec::new(),
        changed_when: None,
        failed_when: None,
        ignore_errors: false,
        ignore_unreachable: None,
        any_errors_fatal: None,
        no_log: false,
        privilege: Privilege::default(),
        check_mode: None,
        diff: None,
        vars: Map::new(),
        environment: Map::new(),
        delegate_to: None,
        delegate_facts: false,
        run_once: false,
        retry: None,
        tags: Vec::new(),
        role: None,
        location: Location {
            file: Arc::new(PathBuf::new()),
            line: 0,
            col: 0,
        },
    }
}

/// The value of keyword `name` in a mapping's entries.
fn keyword<'n>(entries: &'n [(Node, Node)], name: &str) -> Option<&'n Node> {
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .map(|(_, v)| v)
}

/// `a.yml -> b.yml -> ...` for a message about an import cycle.
fn key_path(stack: &[PathBuf]) -> String {
    stack
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// A valid Python identifier (Ansible's rule for variable names), ASCII only.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
