//! Test support for the builtin modules' unit tests: the module API's own test kit, which custom
//! module crates use too.

#[allow(unused_imports)] // Not every module test needs every helper.
pub use tend_module_api::testing::{local_host, run_module, FakeController};
