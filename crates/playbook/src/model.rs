//! The compiled task plan: plays and tasks with their modules resolved and arguments checked.
//!
//! Values that hold templates stay as written here; they are rendered per host at run time.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use tend_module_api::DynModule;

/// Where something was written: `file:line:col`.
#[derive(Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<PathBuf>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // File names are left out so snapshots do not depend on temp directories.
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A compiled playbook.
#[derive(Debug)]
pub struct Playbook {
    pub path: PathBuf,
    /// The directory holding the playbook: `files/`, `templates/` and `vars_files` resolve here.
    pub dir: PathBuf,
    pub plays: Vec<Play>,
}

#[derive(Debug)]
pub struct Play {
    pub name: String,
    /// The host pattern, as written.
    pub hosts: String,
    pub gather_facts: bool,
    /// Play `vars` then `vars_files`, in precedence order (later wins).
    pub vars: Map<String, Value>,
    /// Defaults of the roles the play exposes (`roles:`, `import_role`): visible to every
    /// task of the play at the lowest precedence, as Ansible exposes them at parse time.
    pub role_defaults: Map<String, Value>,
    /// Vars of those roles, above play vars.
    pub role_vars: Map<String, Value>,
    pub privilege: Privilege,
    pub remote_user: Option<String>,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    pub ignore_errors: bool,
    /// `ignore_unreachable` for every task that does not say otherwise.
    pub ignore_unreachable: bool,
    pub force_handlers: bool,
    /// `serial`: batch sizes, used in turn, the last one repeating. Empty: one batch.
    pub serial: Vec<BatchSize>,
    /// `max_fail_percentage`: the play stops once more than this share of a batch failed.
    pub max_fail_percentage: Option<f64>,
    /// `any_errors_fatal` for every task that does not say otherwise.
    pub any_errors_fatal: bool,
    pub strategy: Strategy,
    /// `order`: the order hosts are taken in.
    pub order: HostOrder,
    /// `vars_prompt`: asked by the front end before the run; answers become play vars.
    pub vars_prompt: Vec<VarPrompt>,
    /// `connection`: `ssh` or `local` for hosts whose variables name none.
    pub connection: Option<String>,
    /// The play's own `tags` (already inherited by its tasks), for `--list-tasks`.
    pub tags: Vec<String>,
    pub pre_tasks: Vec<Step>,
    pub tasks: Vec<Step>,
    pub post_tasks: Vec<Step>,
    pub handlers: Vec<Task>,
    /// The directory of the playbook file the play is written in (an imported playbook's
    /// own directory): its `files/` and `templates/` are searched.
    pub dir: PathBuf,
    pub location: Location,
}

/// One entry of `vars_prompt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarPrompt {
    pub name: String,
    /// The question; `input for NAME` without one.
    pub prompt: Option<String>,
    /// Whether the answer is hidden while typed (Ansible's default: yes).
    pub private: bool,
    pub default: Option<String>,
    /// Ask twice and require the same answer.
    pub confirm: bool,
    /// `encrypt`: a crypt scheme (`sha512_crypt`, ...) the answer is hashed with.
    pub encrypt: Option<String>,
    pub salt: Option<String>,
    pub salt_size: Option<u64>,
}

/// One entry of `serial`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatchSize {
    /// A number of hosts; 0 or less means every remaining host.
    Hosts(i64),
    /// A share of the play's hosts, at least one.
    Percent(i64),
}

impl BatchSize {
    /// The batch size for a play of `total` hosts, as Ansible's `pct_to_int` computes it.
    pub fn hosts(self, total: usize) -> i64 {
        match self {
            BatchSize::Hosts(n) => n,
            BatchSize::Percent(p) => ((p as f64 / 100.0) * total as f64).trunc().max(1.0) as i64,
        }
    }
}

/// `strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Each task finishes on every host before the next starts.
    #[default]
    Linear,
    /// Each host runs through the play as fast as it can.
    Free,
}

/// `order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostOrder {
    #[default]
    Inventory,
    ReverseInventory,
    Sorted,
    ReverseSorted,
    Shuffle,
}

impl HostOrder {
    pub const NAMES: &'static [&'static str] = &[
        "inventory",
        "reverse_inventory",
        "sorted",
        "reverse_sorted",
        "shuffle",
    ];

    pub fn parse(name: &str) -> Option<HostOrder> {
        Some(match name {
            "inventory" => HostOrder::Inventory,
            "reverse_inventory" => HostOrder::ReverseInventory,
            "sorted" => HostOrder::Sorted,
            "reverse_sorted" => HostOrder::ReverseSorted,
            "shuffle" => HostOrder::Shuffle,
            _ => return None,
        })
    }
}

/// `become` settings; `None` inherits from the enclosing level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privilege {
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    /// `become_method`: `sudo` or `su` (the compiler refuses others).
    pub become_method: Option<String>,
}

impl Privilege {
    /// This level's settings over `outer`'s.
    pub fn over(&self, outer: &Privilege) -> Privilege {
        Privilege {
            become_: self.become_.or(outer.become_),
            become_user: self
                .become_user
                .clone()
                .or_else(|| outer.become_user.clone()),
            become_method: self
                .become_method
                .clone()
                .or_else(|| outer.become_method.clone()),
        }
    }
}

/// An entry of a task list: a task, or a block of them.
// Steps are built once by the compiler and only read afterwards; boxing tasks would cost an
// indirection on every visit for no memory that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Step {
    Task(Task),
    Block(Block),
    Include(Include),
}

impl Step {
    /// Every task inside, depth first, the bodies of includes too (for checks that look at
    /// all tasks).
    pub fn tasks(&self) -> Vec<&Task> {
        self.collect_tasks(true)
    }

    /// The tasks `--list-tasks` shows: as Ansible, an include and not what it includes.
    pub fn listed_tasks(&self) -> Vec<&Task> {
        self.collect_tasks(false)
    }

    fn collect_tasks(&self, include_bodies: bool) -> Vec<&Task> {
        match self {
            Step::Task(t) => vec![t],
            Step::Block(b) => b
                .block
                .iter()
                .chain(&b.rescue)
                .chain(&b.always)
                .flat_map(|s| s.collect_tasks(include_bodies))
                .collect(),
            Step::Include(i) => {
                let mut tasks = vec![&i.task];
                if let (true, IncludeBody::Steps(steps)) = (include_bodies, &i.body) {
                    tasks.extend(steps.iter().flat_map(|s| s.collect_tasks(true)));
                }
                tasks
            }
        }
    }
}

/// `include_tasks`/`include_role`: a task of its own (`when`, loop, tags apply to it, and it
/// counts as ok once per host and item), whose body then runs for the hosts and items that
/// reached it, with the task's `vars` and loop variable as include parameters.
#[derive(Debug)]
pub struct Include {
    pub task: Task,
    /// What the `included:` line names: the task file's path, or the role's name.
    pub shown: String,
    pub body: IncludeBody,
}

/// What an include runs.
#[derive(Debug)]
pub enum IncludeBody {
    /// Compiled with the playbook.
    Steps(Vec<Step>),
    /// `include_tasks` with a templated file name: compiled once the name is rendered for a
    /// host, relative to `dir`, as part of `role` if any.
    Templated {
        file: String,
        dir: PathBuf,
        role: Option<Arc<Role>>,
        playbook_dir: PathBuf,
    },
}

/// `block`/`rescue`/`always`. Block-level keywords (`when`, `vars`, `become`, ...) were
/// pushed down into the tasks at compile time, as Ansible's inheritance has them.
#[derive(Debug)]
pub struct Block {
    pub name: Option<String>,
    pub block: Vec<Step>,
    /// Runs on hosts that failed a task in `block`; their failure then counts as rescued.
    pub rescue: Vec<Step>,
    /// Runs on every host that entered the block, failed or not.
    pub always: Vec<Step>,
    pub location: Location,
}

/// What a task does: run a module, or act on the run itself (`meta`).
#[derive(Clone, Copy)]
pub enum Action {
    Module(&'static dyn DynModule),
    Meta(Meta),
    /// The task of an [`Include`].
    Include(IncludeAction),
}

/// Which include an [`Include`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeAction {
    Tasks,
    Role,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Module(m) => m.name(),
            Action::Meta(_) => "meta",
            Action::Include(IncludeAction::Tasks) => "include_tasks",
            Action::Include(IncludeAction::Role) => "include_role",
        }
    }
}

/// `meta:` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    FlushHandlers,
    EndPlay,
    EndHost,
    EndBatch,
    ClearHostErrors,
    ClearFacts,
    Noop,
    ResetConnection,
    RefreshInventory,
}

impl Meta {
    pub const NAMES: &'static [&'static str] = &[
        "flush_handlers",
        "end_play",
        "end_host",
        "end_batch",
        "clear_host_errors",
        "clear_facts",
        "noop",
        "reset_connection",
        "refresh_inventory",
    ];

    pub fn parse(name: &str) -> Option<Meta> {
        Some(match name {
            "flush_handlers" => Meta::FlushHandlers,
            "end_play" => Meta::EndPlay,
            "end_host" => Meta::EndHost,
            "end_batch" => Meta::EndBatch,
            "clear_host_errors" => Meta::ClearHostErrors,
            "clear_facts" => Meta::ClearFacts,
            "noop" => Meta::Noop,
            "reset_connection" => Meta::ResetConnection,
            "refresh_inventory" => Meta::RefreshInventory,
            _ => return None,
        })
    }
}

/// `until`/`retries`/`delay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub until: Vec<String>,
    pub retries: u32,
    pub delay_secs: u64,
}

/// One task (or handler) with its module resolved.
pub struct Task {
    /// The `name:` as written (may hold templates); `None` shows the module name.
    pub name: Option<String>,
    /// The module name as the playbook wrote it (`ansible.builtin.copy`).
    pub action: String,
    pub module: Action,
    /// Module arguments, templates unrendered. `key=value` shorthand is already parsed.
    pub args: Map<String, Value>,
    /// All must hold (each a bare Jinja expression).
    pub when: Vec<String>,
    pub loop_: Option<Loop>,
    pub register: Option<String>,
    pub notify: Vec<String>,
    /// Handler topics (`listen`), for handlers only.
    pub listen: Vec<String>,
    pub changed_when: Option<Vec<String>>,
    pub failed_when: Option<Vec<String>>,
    pub ignore_errors: bool,
    /// `ignore_unreachable`; `None` takes the play's.
    pub ignore_unreachable: Option<bool>,
    /// `any_errors_fatal`; `None` takes the play's.
    pub any_errors_fatal: Option<bool>,
    pub no_log: bool,
    pub privilege: Privilege,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    pub vars: Map<String, Value>,
    /// `environment`: variables exported for the task's commands (templates unrendered).
    pub environment: Map<String, Value>,
    /// `delegate_to` (or `local_action`): run on this host instead, with the task host's
    /// variables. May be a template.
    pub delegate_to: Option<String>,
    /// `delegate_facts`: facts the task sets go to the host it is delegated to.
    pub delegate_facts: bool,
    /// `run_once`: run on the first host only; its result is given to every host.
    pub run_once: bool,
    pub retry: Option<Retry>,
    /// `timeout`: seconds one run of the module may take before it is stopped and the task
    /// fails (per loop item, as in Ansible).
    pub timeout: Option<u64>,
    pub tags: Vec<String>,
    /// The role the task comes from: its variables, defaults and files.
    pub role: Option<Arc<Role>>,
    pub location: Location,
}

/// A role as its tasks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    /// The role's directory (`role_path`): `files/` and `templates/` resolve here first.
    pub path: PathBuf,
    /// `defaults/main.yml`: the lowest-precedence variables.
    pub defaults: Map<String, Value>,
    /// `vars/main.yml`: above play vars.
    pub vars: Map<String, Value>,
    /// Parameters given where the role is used (`roles: [{role: x, port: 80}]`).
    pub params: Map<String, Value>,
}

impl Task {
    /// The name shown in output: the `name:` or, like Ansible, the action.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.action)
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Task");
        s.field("name", &self.name)
            .field("module", &self.module.name())
            .field("args", &Value::Object(self.args.clone()).to_string());
        if !self.when.is_empty() {
            s.field("when", &self.when);
        }
        if let Some(l) = &self.loop_ {
            s.field("loop", l);
        }
        if let Some(r) = &self.register {
            s.field("register", r);
        }
        if !self.notify.is_empty() {
            s.field("notify", &self.notify);
        }
        if !self.listen.is_empty() {
            s.field("listen", &self.listen);
        }
        if let Some(c) = &self.changed_when {
            s.field("changed_when", c);
        }
        if let Some(c) = &self.failed_when {
            s.field("failed_when", c);
        }
        if self.ignore_errors {
            s.field("ignore_errors", &true);
        }
        if let Some(i) = self.ignore_unreachable {
            s.field("ignore_unreachable", &i);
        }
        if let Some(a) = self.any_errors_fatal {
            s.field("any_errors_fatal", &a);
        }
        if self.privilege != Privilege::default() {
            s.field("privilege", &self.privilege);
        }
        if let Some(c) = self.check_mode {
            s.field("check_mode", &c);
        }
        if !self.vars.is_empty() {
            s.field("vars", &Value::Object(self.vars.clone()).to_string());
        }
        if !self.environment.is_empty() {
            s.field(
                "environment",
                &Value::Object(self.environment.clone()).to_string(),
            );
        }
        if let Some(r) = &self.retry {
            s.field("retry", r);
        }
        if let Some(d) = &self.delegate_to {
            s.field("delegate_to", d);
        }
        if self.delegate_facts {
            s.field("delegate_facts", &true);
        }
        if self.run_once {
            s.field("run_once", &true);
        }
        if let Some(r) = &self.role {
            s.field("role", &r.name);
        }
        s.field("at", &self.location).finish()
    }
}

/// A task's `loop` (or `with_items`/`with_list`) with its `loop_control`.
#[derive(Debug, Clone, PartialEq)]
pub struct Loop {
    /// `loop`: a list, or a template string that renders to one. `with_<lookup>`: the
    /// lookup's terms.
    pub items: Value,
    /// For `with_<lookup>`, the lookup that turns the terms into items.
    pub lookup: Option<String>,
    pub loop_var: String,
    pub index_var: Option<String>,
    pub label: Option<String>,
    /// `pause`: seconds between items (a number, or a template rendering to one).
    pub pause: Option<Value>,
    /// `extended`: `ansible_loop` with the item's position; `extended_allitems` adds
    /// `allitems` to it.
    pub extended: bool,
    pub extended_allitems: bool,
    /// `break_when`: conditions checked after each item (with its registered result); the
    /// loop stops once they all hold.
    pub break_when: Vec<String>,
}
