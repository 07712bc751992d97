//! Playbooks: the model of plays and tasks, and the compiler that builds it from Ansible YAML.
//!
//! `load_playbook` reads a file, resolves every task's module through the registry and checks
//! its arguments against the module's typed params, so a run only starts from a valid plan.

mod compile;
pub mod kv;
mod model;

pub use compile::{
    compile_playbook, compile_task_file, is_identifier, load_playbook, CompileErrors,
};
pub use model::{
    Action, BatchSize, Block, HostOrder, Include, IncludeAction, IncludeBody, Location, Loop, Meta,
    Play, Playbook, Privilege, Retry, Role, Step, Strategy, Task, VarPrompt,
};
