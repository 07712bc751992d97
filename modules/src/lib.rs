//! tend's builtin modules. One file per module, each the same shape: a doc header with a YAML
//! example, `deny_unknown_fields` params, the query → plan → apply impl, and tests.
//!
//! Modules register themselves with `tend_module_api::register_module!`; [`link`] exists so the
//! binary can force this crate to be linked (the registry only sees linked crates).

mod assert;
mod attrs;
mod command;
mod copy;
mod debug;
mod fail;
mod file;
mod include_vars;
mod ping;
mod raw;
mod set_fact;
mod shell;
mod stat;
mod template;

#[cfg(test)]
mod testing;

/// Call once from the binary so the linker keeps this crate's module registrations.
pub fn link() {}
