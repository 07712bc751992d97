//! tend's builtin modules. One file per module, each the same shape: a doc header with a YAML
//! example, `deny_unknown_fields` params, the query → plan → apply impl, and tests.
//!
//! Modules register themselves with `tend_module_api::register_module!`; [`link`] exists so the
//! binary can force this crate to be linked (the registry only sees linked crates).

mod attrs;
mod pyre;

#[cfg(test)]
mod testing;

/// Declares the module files and makes [`link`] refer to each one, so the linker keeps
/// every module's registration. A module file is listed here and nowhere else.
macro_rules! builtin_modules {
    ($($module:ident),* $(,)?) => {
        $(mod $module;)*

        /// Call once from the binary so the linker keeps this crate's module registrations.
        pub fn link() {
            $(std::hint::black_box($module::__tend_link_module as fn());)*
        }
    };
}

builtin_modules![
    apt,
    apt_key,
    apt_repository,
    assemble,
    assert,
    blockinfile,
    command,
    copy,
    debug,
    fail,
    file,
    getent,
    group,
    include_vars,
    lineinfile,
    package,
    ping,
    raw,
    replace,
    service,
    set_fact,
    setup,
    shell,
    slurp,
    stat,
    systemd,
    systemd_service,
    template,
    tempfile,
    user,
    wait_for,
];
