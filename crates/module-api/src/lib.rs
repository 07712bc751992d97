//! The contract between tend and a module: typed parameters, a query → plan → apply shape,
//! and the [`Host`] handle through which a module observes and changes a managed host.
//!
//! Builtin modules and user modules use exactly this API. A module:
//! 1. declares its parameters as a serde struct with `#[serde(deny_unknown_fields)]`; the
//!    compiler checks playbook arguments against it before any host is contacted;
//! 2. **queries** the host ([`Module::query`]) for the state it cares about, changing nothing;
//! 3. **plans** ([`Module::plan`], pure) what would change, with the diff and the values a
//!    check-mode run reports;
//! 4. **applies** ([`Module::apply`]) the plan, unless the run is in check mode.
//!
//! Check mode and `--diff` therefore come from the same code path as a real run.
//! Modules never see SSH: they drive the host through [`Host`], which speaks POSIX `sh`.

pub mod args;
pub mod calendar;
pub mod doc;
pub mod executable;
mod host;
pub mod mode;
mod outcome;
mod registry;
pub mod testing;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use host::{require_size, FileKind, FileStat, Host, WriteOptions};
pub use outcome::{Diff, Outcome};
pub use registry::{documentation, lookup, module_names, DynModule, ModuleEntry, ModuleSource};
pub use tend_transport::{quote, ExecOutput, ExecRequest, Transport, TransportError};

#[doc(hidden)]
pub use inventory as __inventory;

/// How a module takes a free-form string (`command: ls -l`), if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeForm {
    /// Arguments are only `key: value` pairs (or `key=value` shorthand).
    No,
    /// The free-form text becomes the `_raw_params` parameter; `key=value` words are taken
    /// out of it only for the module's own known keys (as Ansible does for `command`).
    RawParams,
}

/// What a module decided after looking at the host.
#[derive(Debug)]
pub enum Planned<A> {
    /// Nothing to change. The outcome is reported as is (normally `ok`).
    Done(Outcome),
    /// A change to make. `preview` is what check mode reports instead of applying it:
    /// normally `changed` with the diff a real run would show.
    Change { action: A, preview: Outcome },
}

/// A module. See the crate docs for the query → plan → apply shape.
#[async_trait]
pub trait Module: Send + Sync + 'static {
    /// Typed parameters. Use `#[serde(deny_unknown_fields)]` and document each field.
    type Params: DeserializeOwned + Send + Sync;
    /// What `query` observed on the host.
    type Observed: Send;
    /// What `plan` decided to do.
    type Action: Send;

    /// The name used in playbooks (`file`); `ansible.builtin.file` resolves to it too.
    const NAME: &'static str;
    const FREE_FORM: FreeForm = FreeForm::No;
    /// Whether the module can predict its changes. One that cannot is skipped in check mode,
    /// as Ansible skips modules without check-mode support.
    const SUPPORTS_CHECK_MODE: bool = true;
    /// Runs once per play batch, for the first host only (Ansible's `BYPASS_HOST_LOOP`, as
    /// `pause` has): like `run_once`, but the result stays with that host.
    const BYPASS_HOST_LOOP: bool = false;

    /// Observes the host. Must not change anything on it.
    async fn query(
        &self,
        params: &Self::Params,
        ctx: &Context<'_>,
    ) -> Result<Self::Observed, ModuleError>;

    /// Decides what would change. Pure: no host access, so it is unit-testable.
    fn plan(
        &self,
        params: &Self::Params,
        observed: Self::Observed,
        ctx: &Context<'_>,
    ) -> Result<Planned<Self::Action>, ModuleError>;

    /// Carries out the plan. Only called outside check mode.
    async fn apply(
        &self,
        params: &Self::Params,
        action: Self::Action,
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError>;
}

/// Everything a module may use while it runs on one host for one task.
pub struct Context<'a> {
    pub host: &'a Host,
    pub check_mode: bool,
    pub diff: bool,
    /// Controller-side services: templating with the task's variables, local file lookup.
    pub controller: &'a dyn Controller,
}

impl Context<'_> {
    /// A gathered fact by its short name (`distribution`, `fqdn`, `os_family`), as
    /// `ansible_facts.NAME`; `None` when facts were not gathered or the host has no such fact.
    pub fn fact(&self, name: &str) -> Option<Value> {
        match self.controller.eval_expr("ansible_facts") {
            Ok(Value::Object(mut facts)) => facts.remove(name).filter(|v| !v.is_null()),
            _ => None,
        }
    }
}

/// Where a module looks for a controller-side file named relatively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    /// `files/` (copy's `src`)
    Files,
    /// `templates/` (template's `src`)
    Templates,
    /// `vars/` (include_vars' `file`)
    Vars,
}

/// Controller-side services for the module of one task on one host.
pub trait Controller: Send + Sync {
    /// Renders a template file's text with the task's variables.
    fn render_template(&self, source: &str, name: &str) -> Result<String, ModuleError>;
    /// Like [`Controller::render_template`], with extra variables on top of the task's (the
    /// template module's `ansible_managed`, `template_destpath`, ...).
    fn render_template_with(
        &self,
        source: &str,
        name: &str,
        extra: &serde_json::Map<String, Value>,
    ) -> Result<String, ModuleError> {
        let _ = extra;
        self.render_template(source, name)
    }
    /// Evaluates a bare Jinja expression (`assert`'s `that`), which must give a boolean.
    fn eval_condition(&self, expr: &str) -> Result<bool, ModuleError>;
    /// Evaluates a bare Jinja expression to a value (`debug`'s `var`).
    fn eval_expr(&self, expr: &str) -> Result<Value, ModuleError>;
    /// Finds a controller-side file by the name a playbook gave it: an absolute path, or
    /// relative to the role's/playbook's `files/` or `templates/` directory, then the playbook dir.
    fn find_file(&self, kind: SearchKind, name: &str) -> Result<std::path::PathBuf, ModuleError>;
}

/// Why a module could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The parameters do not fit the module (at run time, after templating).
    #[error("{0}")]
    Args(#[from] args::ArgError),
    /// The task failed on the host; the message is shown to the user.
    #[error("{msg}")]
    Failed {
        msg: String,
        /// Extra values to report (stdout, rc, ...).
        values: serde_json::Map<String, Value>,
    },
    /// The host could not be reached or was lost.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl ModuleError {
    pub fn failed(msg: impl Into<String>) -> Self {
        ModuleError::Failed {
            msg: msg.into(),
            values: serde_json::Map::new(),
        }
    }
}

/// Registers a module type with the global module registry. Use it once in each module
/// file; the crate lists its module files with [`modules!`].
///
/// ```ignore
/// tend_module_api::register_module!(FileModule);
/// ```
///
/// It also defines `__tend_link_module()` in the calling module: the linker only keeps a
/// registration whose object file something refers to, so [`modules!`] takes that function's
/// address from the crate's `link()`.
#[macro_export]
macro_rules! register_module {
    ($module:expr) => {
        $crate::__inventory::submit! {
            $crate::ModuleEntry::new(
                || ::std::boxed::Box::new($crate::registry_adapter($module)),
                ::std::module_path!(),
            )
        }

        #[doc(hidden)]
        #[inline(never)]
        pub fn __tend_link_module() {}
    };
}

/// Declares a crate's module files (one `src/<name>.rs` each, using [`register_module!`]) and
/// defines the crate's `pub fn link()`, which the tend binary calls so the linker keeps every
/// registration. Each file's source text is submitted too: `tend doc` reads the module's
/// `//!` header and params struct from it. Put it in the crate's `lib.rs`:
///
/// ```ignore
/// tend_module_api::modules![motd, sysfact];
/// ```
#[macro_export]
macro_rules! modules {
    ($($module:ident),* $(,)?) => {
        $(
            mod $module;
            $crate::__inventory::submit! {
                $crate::ModuleSource::new(
                    ::std::concat!(::std::module_path!(), "::", ::std::stringify!($module)),
                    ::std::include_str!(::std::concat!(::std::stringify!($module), ".rs")),
                )
            }
        )*

        /// Call once from the binary so the linker keeps this crate's module registrations.
        pub fn link() {
            $(::std::hint::black_box($module::__tend_link_module as fn());)*
        }
    };
}

#[doc(hidden)]
pub fn registry_adapter<M: Module>(module: M) -> registry::Adapter<M> {
    registry::Adapter(module)
}
