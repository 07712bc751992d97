//! The module registry: every crate linked into the binary submits its modules here, so there
//! is no hand-kept list to forget to update.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use async_trait::async_trait;
use serde_json::Value;

use crate::args::{self, ArgError, ArgMode};
use crate::doc::{self, ModuleDoc};
use crate::{Context, FreeForm, Module, ModuleError, Outcome, Planned};

/// A module with its parameter type erased, as the compiler and executor hold it.
#[async_trait]
pub trait DynModule: Send + Sync {
    fn name(&self) -> &'static str;
    fn free_form(&self) -> FreeForm;
    /// See [`Module::BYPASS_HOST_LOOP`].
    fn bypass_host_loop(&self) -> bool {
        false
    }
    /// Checks playbook arguments against the typed params before any host is contacted.
    /// Template strings count as "any value of the right type".
    fn check_args(&self, args: &Value) -> Result<(), ArgError>;
    /// Runs the module on one host: query, plan and, outside check mode, apply.
    async fn run(&self, args: &Value, ctx: &Context<'_>) -> Result<Outcome, ModuleError>;
}

#[doc(hidden)]
pub struct Adapter<M>(pub M);

#[async_trait]
impl<M: Module> DynModule for Adapter<M> {
    fn name(&self) -> &'static str {
        M::NAME
    }

    fn free_form(&self) -> FreeForm {
        M::FREE_FORM
    }

    fn bypass_host_loop(&self) -> bool {
        M::BYPASS_HOST_LOOP
    }

    fn check_args(&self, args: &Value) -> Result<(), ArgError> {
        args::from_args::<M::Params>(args, ArgMode::Compile).map(drop)
    }

    async fn run(&self, args: &Value, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
        let params = args::from_args::<M::Params>(args, ArgMode::Run)?;
        if ctx.check_mode && !M::SUPPORTS_CHECK_MODE {
            return Ok(Outcome {
                skipped: true,
                msg: Some(format!(
                    "remote module ({}) does not support check mode",
                    M::NAME
                )),
                ..Outcome::default()
            });
        }
        let observed = self.0.query(&params, ctx).await?;
        match self.0.plan(&params, observed, ctx)? {
            Planned::Done(outcome) => Ok(outcome),
            Planned::Change { preview, .. } if ctx.check_mode => Ok(preview),
            Planned::Change { action, preview } => {
                let mut outcome = self.0.apply(&params, action, ctx).await?;
                // The plan computed the diff from what it observed; apply rarely knows better.
                if outcome.diffs.is_empty() {
                    outcome.diffs = preview.diffs;
                }
                Ok(outcome)
            }
        }
    }
}

/// One registered module.
pub struct ModuleEntry {
    make: fn() -> Box<dyn DynModule>,
    /// `module_path!()` where the module was registered: `tend_modules::copy`. It ties the
    /// module to its source file's [`ModuleSource`] for `tend doc`.
    module_path: &'static str,
}

impl ModuleEntry {
    pub const fn new(make: fn() -> Box<dyn DynModule>, module_path: &'static str) -> Self {
        ModuleEntry { make, module_path }
    }
}

inventory::collect!(ModuleEntry);

/// The text of a module's source file, submitted by [`crate::modules!`] so `tend doc` can read
/// the module's documentation from it.
pub struct ModuleSource {
    module_path: &'static str,
    source: &'static str,
}

impl ModuleSource {
    pub const fn new(module_path: &'static str, source: &'static str) -> Self {
        ModuleSource {
            module_path,
            source,
        }
    }
}

inventory::collect!(ModuleSource);

struct Registered {
    module: Box<dyn DynModule>,
    module_path: &'static str,
}

fn registry() -> &'static BTreeMap<&'static str, Registered> {
    static REGISTRY: OnceLock<BTreeMap<&'static str, Registered>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        inventory::iter::<ModuleEntry>
            .into_iter()
            .map(|entry| {
                let module = (entry.make)();
                let registered = Registered {
                    module,
                    module_path: entry.module_path,
                };
                (registered.module.name(), registered)
            })
            .collect()
    })
}

/// Modules whose Ansible home is a collection other than `ansible.builtin`, by their full
/// names (Ansible's builtin routing sends the short names there too).
const COLLECTION_NAMES: &[&str] = &[
    "ansible.posix.authorized_key",
    "ansible.posix.mount",
    "ansible.posix.sysctl",
    "community.general.archive",
    "community.general.ini_file",
    "community.general.locale_gen",
    "community.general.timezone",
];

/// The registry's name for a module: without `ansible.builtin.`/`ansible.legacy.`, and the
/// short name of the collection modules tend provides.
fn short_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .or_else(|| {
            COLLECTION_NAMES
                .contains(&name)
                .then(|| name.rsplit('.').next())
                .flatten()
        })
        .unwrap_or(name)
}

/// Finds a module by the name a playbook uses: `file`, `ansible.builtin.file` or
/// `ansible.legacy.file`; for the modules of [`COLLECTION_NAMES`], also their full name.
pub fn lookup(name: &str) -> Option<&'static dyn DynModule> {
    registry().get(short_name(name)).map(|r| r.module.as_ref())
}

/// Every registered module name, sorted (for "did you mean" and `tend doc`).
pub fn module_names() -> Vec<&'static str> {
    registry().keys().copied().collect()
}

/// A module's documentation, read from its source file; `None` for an unknown module.
/// A module whose crate did not submit its sources (not declared with [`crate::modules!`])
/// gets an empty one.
pub fn documentation(name: &str) -> Option<ModuleDoc> {
    let registered = registry().get(short_name(name))?;
    let source = inventory::iter::<ModuleSource>
        .into_iter()
        .find(|s| s.module_path == registered.module_path);
    Some(match source {
        Some(s) => doc::from_source(s.source),
        None => ModuleDoc {
            header: format!("`{}`: (no documentation)", registered.module.name()),
            params: Vec::new(),
            free_params: false,
        },
    })
}
