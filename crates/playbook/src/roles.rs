//! Roles and task-file inclusion: `roles:`, `import_role`/`include_role`, `import_tasks`/
//! `include_tasks`. Everything is expanded at compile time, so a role's tasks are checked
//! like the playbook's own before any host is contacted.
//!
//! `include_*` are dynamic in Ansible; tend expands them statically with the including
//! task's keywords inherited, which gives the same result unless the included file name
//! itself depends on host variables (refused with a clear error) or the include loops.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};
use tend_module_api::args::is_template;
use tend_template::Templater;
use tend_yaml::{Node, NodeKind};

use super::{inherit, Compiler, TaskParts};
use crate::model::{Action, Block, Include, IncludeAction, IncludeBody, Role, Step};

/// Which inclusion a task asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IncludeKind {
    ImportTasks,
    IncludeTasks,
    ImportRole,
    IncludeRole,
}

impl IncludeKind {
    pub(super) fn of(node: &Node) -> Option<IncludeKind> {
        let name = node.as_str()?;
        let short = name
            .strip_prefix("ansible.builtin.")
            .or_else(|| name.strip_prefix("ansible.legacy."))
            .unwrap_or(name);
        Some(match short {
            "import_tasks" => IncludeKind::ImportTasks,
            "include_tasks" => IncludeKind::IncludeTasks,
            "import_role" => IncludeKind::ImportRole,
            "include_role" => IncludeKind::IncludeRole,
            _ => return None,
        })
    }
}

/// A role use: from `roles:`, `import_role`/`include_role` or a `meta/main.yml` dependency.
struct RoleUse<'n> {
    name: String,
    node: &'n Node,
    params: Map<String, Value>,
    keywords: TaskParts<'n>,
    tasks_from: String,
    vars_from: String,
    defaults_from: String,
    handlers_from: String,
    /// `roles:` and dependencies run a role once per play unless it allows duplicates;
    /// `import_role`/`include_role` run it every time.
    dedupe: bool,
    /// Whether the play's other tasks see the role's defaults and vars: yes for `roles:`
    /// and `import_role`, only with `public: true` for `include_role`.
    public: bool,
}

impl<'s> Compiler<'s> {
    /// A compiler for another file of the same playbook (a role's or an imported task file).
    fn sub<'t>(&self, path: &Path, source: &'t str, role: Option<Arc<Role>>) -> Compiler<'t> {
        Compiler {
            file: Arc::new(path.to_path_buf()),
            source,
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            errors: Vec::new(),
            templater: Templater::new(),
            notified: Vec::new(),
            playbook_dir: self.playbook_dir.clone(),
            role,
            role_handlers: Vec::new(),
            roles_seen: Vec::new(),
            role_stack: self.role_stack.clone(),
            exposed_roles: Vec::new(),
            playbook_stack: self.playbook_stack.clone(),
            module_defaults: self.module_defaults.clone(),
            nesting: self.nesting,
            task_files: self.task_files.clone(),
        }
    }

    /// Takes what a sub-compiler found: errors, notifications, role handlers, seen roles.
    fn absorb(&mut self, sub: Compiler<'_>) {
        self.errors.extend(sub.errors);
        self.notified.extend(sub.notified);
        self.role_handlers.extend(sub.role_handlers);
        self.exposed_roles.extend(sub.exposed_roles);
        for seen in sub.roles_seen {
            if !self.roles_seen.contains(&seen) {
                self.roles_seen.push(seen);
            }
        }
    }

    /// Compiles a task file (a list of tasks) in its own sub-compiler.
    fn task_file(
        &mut self,
        at: &Node,
        path: &Path,
        role: Option<Arc<Role>>,
        handlers: bool,
    ) -> Vec<Step> {
        if self.nesting >= super::MAX_NESTING {
            self.error_at(
                at,
                format!(
                    "blocks and task files are nested deeper than {} levels",
                    super::MAX_NESTING
                ),
            );
            return Vec::new();
        }
        let source = match tend_vault::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                self.error_at(at, format!("cannot read {}: {e}", path.display()));
                return Vec::new();
            }
        };
        let mut sub = self.sub(path, &source, role);
        sub.nesting += 1;
        sub.task_files.push(file_identity(path));
        sub.roles_seen = std::mem::take(&mut self.roles_seen);
        let steps = match tend_yaml::load_one(&source) {
            Ok(root) if root.is_null() => Vec::new(),
            Ok(root) => sub.step_list(&root, handlers),
            Err(e) => {
                sub.error(e.span, e.headline());
                Vec::new()
            }
        };
        self.absorb(sub);
        steps
    }

    /// `roles:` of a play: each role's steps, in order.
    pub(super) fn play_roles(&mut self, node: &Node) -> Vec<Step> {
        let Some(entries) = node.as_seq() else {
            if !node.is_null() {
                self.error_at(node, "`roles` must be a list of role names or mappings");
            }
            return Vec::new();
        };
        let mut steps = Vec::new();
        for entry in entries {
            if let Some(role) = self.role_entry(entry) {
                steps.extend(self.expand_role(role));
            }
        }
        steps
    }

    /// One `roles:` or `dependencies:` entry: a name, or a mapping with `role:` and more.
    fn role_entry<'n>(&mut self, entry: &'n Node) -> Option<RoleUse<'n>> {
        let mut role = RoleUse {
            name: String::new(),
            node: entry,
            params: Map::new(),
            keywords: TaskParts::default(),
            tasks_from: "main".into(),
            vars_from: "main".into(),
            defaults_from: "main".into(),
            handlers_from: "main".into(),
            dedupe: true,
            public: true,
        };
        match &entry.kind {
            NodeKind::Str(name) => role.name = name.clone(),
            NodeKind::Map(pairs) => {
                for (k, v) in pairs {
                    let key = k.as_str().unwrap_or_default();
                    match key {
                        "role" | "name" => {
                            role.name = self.scalar_string(v).unwrap_or_default();
                            role.node = v;
                        }
                        "vars" => self.vars_into(v, &mut role.keywords.vars),
                        "when" => role.keywords.when = self.conditions(v),
                        "tags" => role.keywords.tags = self.string_list(v),
                        "become" => role.keywords.privilege.become_ = self.boolean(v),
                        "become_user" => {
                            role.keywords.privilege.become_user = self.scalar_string(v)
                        }
                        "become_method" => {
                            role.keywords.privilege.become_method = self.become_method(v)
                        }
                        "ignore_errors" => {
                            role.keywords.ignore_errors = self.boolean(v).unwrap_or(false)
                        }
                        "no_log" => role.keywords.no_log = self.boolean(v).unwrap_or(false),
                        "check_mode" => role.keywords.check_mode = self.boolean(v),
                        "diff" => role.keywords.diff = self.boolean(v),
                        "environment" => role.keywords.environment = self.environment(v),
                        "collections" => {}
                        _ => {
                            // Anything else is a role parameter, as in Ansible.
                            self.check_templates(v);
                            role.params.insert(key.to_string(), v.to_json());
                        }
                    }
                }
            }
            _ => {
                self.error_at(
                    entry,
                    "a role must be given as a name or a mapping with `role:`",
                );
                return None;
            }
        }
        if role.name.is_empty() {
            self.error_at(entry, "this role entry names no role (`role: name`)");
            return None;
        }
        if is_template(&role.name) {
            self.error_at(
                role.node,
                "templated role names are not supported by tend yet",
            );
            return None;
        }
        Some(role)
    }

    /// Where role names are looked up, in Ansible's order.
    fn role_search_path(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.playbook_dir.join("roles")];
        // Inside a role, sibling roles are found next to it.
        if let Some(role) = &self.role {
            if let Some(parent) = role.path.parent() {
                dirs.push(parent.to_path_buf());
            }
        }
        for var in ["TEND_ROLES_PATH", "ANSIBLE_ROLES_PATH"] {
            if let Ok(value) = std::env::var(var) {
                dirs.extend(value.split(':').filter(|s| !s.is_empty()).map(expand_home));
            }
        }
        if let Some(home) = std::env::var_os("HOME") {
            dirs.push(Path::new(&home).join(".ansible/roles"));
        }
        dirs.push(PathBuf::from("/usr/share/ansible/roles"));
        dirs.push(PathBuf::from("/etc/ansible/roles"));
        dirs.push(self.playbook_dir.clone());
        dirs
    }

    fn find_role(&mut self, role: &RoleUse<'_>) -> Option<PathBuf> {
        let as_path = self.playbook_dir.join(&role.name);
        if (role.name.contains('/') || role.name.starts_with('.')) && as_path.is_dir() {
            return Some(as_path);
        }
        let dirs = self.role_search_path();
        if let Some(found) = dirs.iter().map(|d| d.join(&role.name)).find(|p| {
            p.join("tasks").is_dir()
                || p.join("meta").is_dir()
                || p.join("handlers").is_dir()
                || p.join("defaults").is_dir()
        }) {
            return Some(found);
        }
        let known: Vec<String> = dirs
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("tasks").is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let d = self
            .diag(
                role.node.span,
                format!(
                    "role `{}` was not found in {} or the roles path (TEND_ROLES_PATH, ANSIBLE_ROLES_PATH, ~/.ansible/roles, /usr/share/ansible/roles, /etc/ansible/roles)",
                    role.name,
                    self.playbook_dir.join("roles").display()
                ),
            )
            .with_width(role.name.chars().count())
            .suggest(&role.name, known.iter().map(String::as_str));
        self.errors.push(d);
        None
    }

    /// A role's steps (dependencies first), wrapped in a block carrying the role's keywords.
    fn expand_role(&mut self, role: RoleUse<'_>) -> Vec<Step> {
        let Some(path) = self.find_role(&role) else {
            return Vec::new();
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| role.name.clone());
        if self.role_stack.contains(&name) {
            let cycle = self.role_stack.join(" -> ");
            self.error_at(
                role.node,
                format!("role dependency cycle: {cycle} -> {name}"),
            );
            return Vec::new();
        }
        let meta = self.yaml_file(&path.join("meta"), "main", role.node);
        let allow_duplicates = meta
            .as_ref()
            .and_then(|m| m.get("allow_duplicates"))
            .and_then(Node::as_bool)
            .unwrap_or(false);
        let key = (name.clone(), role.params.clone());
        if role.dedupe && !allow_duplicates && self.roles_seen.contains(&key) {
            return Vec::new();
        }
        self.roles_seen.push(key);

        self.role_stack.push(name.clone());
        let mut steps = Vec::new();
        if let Some(deps) = meta.as_ref().and_then(|m| m.get("dependencies")) {
            if let Some(items) = deps.as_seq() {
                let items = items.to_vec();
                for dep in &items {
                    // A dependency's position is in meta/main.yml, which the entry reports
                    // against the playbook; the message still names the role.
                    if let Some(dep_role) = self.role_entry(dep) {
                        steps.extend(self.expand_role(dep_role));
                    }
                }
            }
        }
        let defaults = self.vars_file(&path.join("defaults"), &role.defaults_from, role.node);
        let vars = self.vars_file(&path.join("vars"), &role.vars_from, role.node);
        let context = Arc::new(Role {
            name: name.clone(),
            path: path.clone(),
            defaults,
            vars,
            params: role.params.clone(),
        });
        if role.public {
            self.exposed_roles.push(context.clone());
        }
        if let Some(file) = yaml_path(&path.join("tasks"), &role.tasks_from) {
            steps.extend(self.task_file(role.node, &file, Some(context.clone()), false));
        } else if role.tasks_from != "main" {
            self.error_at(
                role.node,
                format!("role `{name}` has no tasks file `{}`", role.tasks_from),
            );
        }
        if let Some(file) = yaml_path(&path.join("handlers"), &role.handlers_from) {
            let handlers = self.task_file(role.node, &file, Some(context), true);
            for step in handlers {
                if let Step::Task(t) = step {
                    self.role_handlers.push(t);
                }
            }
        }
        self.role_stack.pop();
        let mut block = Step::Block(Block {
            name: Some(format!("role {name}")),
            block: steps,
            rescue: Vec::new(),
            always: Vec::new(),
            location: self.location(role.node.span),
        });
        inherit(&mut block, &role.keywords);
        vec![block]
    }

    /// `meta/main.yml`-style files: `dir/name.yml`, `.yaml` or no extension.
    fn yaml_file(&mut self, dir: &Path, name: &str, at: &Node) -> Option<Node> {
        let path = yaml_path(dir, name)?;
        let text = match tend_vault::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.error_at(at, format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        match tend_yaml::load_one(&text) {
            Ok(node) => Some(node),
            Err(e) => {
                let d = tend_diag::Diagnostic::new(e.headline(), &path, e.span.line, e.span.col);
                // A vaulted file's lines are secrets: no source line, as Ansible shows none.
                let d = if tend_vault::file_is_vaulted(&path) {
                    d
                } else {
                    d.with_source(&text)
                };
                self.errors.push(d);
                None
            }
        }
    }

    fn vars_file(&mut self, dir: &Path, name: &str, at: &Node) -> Map<String, Value> {
        match self.yaml_file(dir, name, at).map(|n| n.to_json()) {
            Some(Value::Object(map)) => map,
            Some(Value::Null) | None => Map::new(),
            Some(_) => {
                self.error_at(
                    at,
                    format!(
                        "{}/{name}.yml must hold a mapping of variables",
                        dir.display()
                    ),
                );
                Map::new()
            }
        }
    }

    /// `import_tasks`/`include_tasks`/`import_role`/`include_role` as a block of the
    /// included steps, with the including task's keywords inherited.
    pub(super) fn include(
        &mut self,
        kind: IncludeKind,
        task_node: &Node,
        key: &Node,
        value: &Node,
        parts: TaskParts<'_>,
    ) -> Option<Step> {
        let dynamic = matches!(kind, IncludeKind::IncludeTasks | IncludeKind::IncludeRole);
        if parts.loop_.is_some() && !dynamic {
            self.error_at(
                key,
                format!(
                    "`{}` is static and cannot loop; use `include_{}` for a loop",
                    key.as_str().unwrap_or_default(),
                    if kind == IncludeKind::ImportRole {
                        "role"
                    } else {
                        "tasks"
                    },
                ),
            );
            return None;
        }
        let mut shown = String::new();
        let mut templated = None;
        let steps = match kind {
            IncludeKind::ImportTasks | IncludeKind::IncludeTasks => {
                let file = match &value.kind {
                    NodeKind::Str(s) => s.clone(),
                    NodeKind::Map(_) => match value.get("file").and_then(Node::as_str) {
                        Some(f) => f.to_string(),
                        None => {
                            self.error_at(value, "the task file to include is missing (`file:`)");
                            return None;
                        }
                    },
                    _ => {
                        self.error_at(value, "expected the name of a task file");
                        return None;
                    }
                };
                if is_template(&file) {
                    if !dynamic {
                        self.error_at(
                            value,
                            "`import_tasks` is static: its file name cannot be a template (`include_tasks` can)",
                        );
                        return None;
                    }
                    self.check_templates(value);
                    templated = Some(file);
                    Vec::new()
                } else {
                    let path = self.dir.join(&file);
                    if !path.is_file() {
                        self.error_at(
                            value,
                            format!("task file {} does not exist", path.display()),
                        );
                        return None;
                    }
                    let identity = file_identity(&path);
                    let cycle = self.task_files.iter().position(|f| *f == identity);
                    if let Some(first) = cycle {
                        if !dynamic {
                            let chain: Vec<String> = self.task_files[first..]
                                .iter()
                                .chain([&identity])
                                .map(|f| f.display().to_string())
                                .collect();
                            self.error_at(
                                value,
                                format!(
                                    "`import_tasks` cycle: {} (use `include_tasks` with a condition to recurse)",
                                    chain.join(" -> ")
                                ),
                            );
                            return None;
                        }
                    }
                    if cycle.is_some() {
                        // A task file including itself recurses at run time, guarded by a
                        // condition; compiling its body up front would never end. It is
                        // compiled when a host reaches it, as a templated name is.
                        templated = Some(file);
                        Vec::new()
                    } else {
                        shown = std::path::absolute(&path)
                            .unwrap_or_else(|_| path.clone())
                            .display()
                            .to_string();
                        let role = self.role.clone();
                        self.task_file(value, &path, role, false)
                    }
                }
            }
            IncludeKind::ImportRole | IncludeKind::IncludeRole => {
                let Some(pairs) = value.as_map() else {
                    self.error_at(value, "expected a mapping with the role's `name`");
                    return None;
                };
                let mut role = RoleUse {
                    name: String::new(),
                    node: value,
                    params: Map::new(),
                    keywords: TaskParts::default(),
                    tasks_from: "main".into(),
                    vars_from: "main".into(),
                    defaults_from: "main".into(),
                    handlers_from: "main".into(),
                    dedupe: false,
                    public: kind == IncludeKind::ImportRole,
                };
                for (k, v) in pairs {
                    match k.as_str().unwrap_or_default() {
                        "name" => {
                            role.name = self.scalar_string(v).unwrap_or_default();
                            role.node = v;
                        }
                        "tasks_from" => role.tasks_from = self.scalar_string(v).unwrap_or_default(),
                        "vars_from" => role.vars_from = self.scalar_string(v).unwrap_or_default(),
                        "defaults_from" => {
                            role.defaults_from = self.scalar_string(v).unwrap_or_default()
                        }
                        "handlers_from" => {
                            role.handlers_from = self.scalar_string(v).unwrap_or_default()
                        }
                        "public" => role.public = self.boolean(v).unwrap_or(false),
                        "allow_duplicates" | "rolespec_validate" => {}
                        other => {
                            let d = self
                                .diag(
                                    k.span,
                                    format!(
                                        "`{other}` is not an option of `{}`",
                                        key.as_str().unwrap_or_default()
                                    ),
                                )
                                .suggest(
                                    other,
                                    [
                                        "name",
                                        "tasks_from",
                                        "vars_from",
                                        "defaults_from",
                                        "handlers_from",
                                        "public",
                                        "allow_duplicates",
                                    ],
                                );
                            self.errors.push(d);
                        }
                    }
                }
                if role.name.is_empty() {
                    self.error_at(value, "the role to import is missing (`name:`)");
                    return None;
                }
                // Role parameters come from the including task's `vars`, as in Ansible.
                role.params = parts.vars.clone();
                shown = role.name.clone();
                self.expand_role(role)
            }
        };
        if dynamic {
            let action = match kind {
                IncludeKind::IncludeRole => IncludeAction::Role,
                _ => IncludeAction::Tasks,
            };
            let mut parts = parts;
            if action == IncludeAction::Role && parts.name.is_none() {
                parts.name = Some(format!("include_role : {shown}"));
            }
            let name = key.as_str().unwrap_or_default().to_string();
            let task = self.build_task(parts, name, Action::Include(action), Map::new(), task_node);
            let body = match templated {
                Some(file) => IncludeBody::Templated {
                    file,
                    dir: self.dir.clone(),
                    role: self.role.clone(),
                    playbook_dir: self.playbook_dir.clone(),
                },
                None => IncludeBody::Steps(steps),
            };
            return Some(Step::Include(Include { task, shown, body }));
        }
        let mut block = Step::Block(Block {
            name: parts.name.clone(),
            block: steps,
            rescue: Vec::new(),
            always: Vec::new(),
            location: self.location(task_node.span),
        });
        inherit(&mut block, &parts);
        Some(block)
    }
}

/// A task file as cycle detection compares it: the canonical path when there is one.
fn file_identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `dir/name.yml`, `dir/name.yaml` or `dir/name`, whichever exists.
fn yaml_path(dir: &Path, name: &str) -> Option<PathBuf> {
    [
        format!("{name}.yml"),
        format!("{name}.yaml"),
        name.to_string(),
    ]
    .into_iter()
    .map(|n| dir.join(n))
    .find(|p| p.is_file())
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}
