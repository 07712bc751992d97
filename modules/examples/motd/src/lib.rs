//! An example custom module crate for tend: one module, `motd`. Copy this crate to start your
//! own (see `modules/README.md`).
//!
//! `modules!` declares the crate's module files and defines `link()`, which tend's binary calls
//! (through `tend-custom-modules`) so the linker keeps every module registration.

tend_module_api::modules![motd];
