//! tend's builtin modules. One file per module, each the same shape: a doc header with a YAML
//! example, `deny_unknown_fields` params, the query → plan → apply impl, and tests.
//!
//! Modules register themselves with `tend_module_api::register_module!`; `modules!` lists the
//! files and defines `link()`, which the binary calls so the linker keeps this crate (the
//! registry only sees linked crates). Builtins use exactly what a custom module crate uses.

mod attrs;
mod copy_tree;
mod http;
mod pyre;
mod pytext;

#[cfg(test)]
mod testing;

tend_module_api::modules![
    apt,
    apt_key,
    apt_repository,
    archive,
    assemble,
    assert,
    authorized_key,
    blockinfile,
    command,
    copy,
    cron,
    debug,
    dnf,
    fail,
    fetch,
    file,
    find,
    get_url,
    getent,
    git,
    group,
    hostname,
    include_vars,
    ini_file,
    known_hosts,
    lineinfile,
    locale_gen,
    mount,
    pause,
    package,
    ping,
    pip,
    raw,
    replace,
    script,
    service,
    set_fact,
    setup,
    shell,
    slurp,
    stat,
    sysctl,
    systemd,
    systemd_service,
    template,
    tempfile,
    timezone,
    unarchive,
    uri,
    user,
    wait_for,
    wait_for_connection,
    yum,
];

#[cfg(test)]
mod docs {
    /// `tend doc` reads each module's `//!` header: every builtin has one, with an example.
    #[test]
    fn every_module_documents_itself_with_an_example() {
        let names = tend_module_api::module_names();
        assert!(names.len() > 20, "modules not registered: {names:?}");
        for name in names {
            let doc = tend_module_api::documentation(name).expect("registered");
            assert!(
                doc.header.starts_with(&format!("`{name}`")) || doc.header.contains(name),
                "{name}: the header should name the module"
            );
            assert!(!doc.summary().is_empty(), "{name}: no summary");
            assert!(doc.header.contains("```yaml"), "{name}: no YAML example");
            for param in &doc.params {
                assert!(
                    !param.doc.is_empty(),
                    "{name}: parameter `{}` has no doc comment",
                    param.name
                );
            }
        }
    }
}
