//! Fact gathering (`gather_facts`): runs the registered `setup` module, which collects the
//! `ansible_*` facts in one `sh` round trip.
//!
//! The executor does not depend on the builtin modules crate; it finds `setup` in the module
//! registry, like any task's module. The binary links tend-modules, so it is always there.

use serde_json::{json, Map, Value};
use tend_module_api::{Context, Host, ModuleError};
use tend_template::Templater;

use crate::controller::TaskController;

/// Collects facts; the result maps `ansible_x` names to values, plus `ansible_facts` with the
/// same values under the short names (and `module_setup`/`gather_subset`, as Ansible sets).
pub(crate) async fn gather(host: &Host) -> Result<Map<String, Value>, ModuleError> {
    let module = tend_module_api::lookup("setup").ok_or_else(|| {
        ModuleError::failed("the setup module is not registered (tend-modules is not linked)")
    })?;
    // `setup` needs no templating or controller files; an empty controller keeps the facts
    // from merging with anything but what this gathering finds.
    let templater = Templater::new();
    let vars = Value::Object(Map::new());
    let controller = TaskController {
        templater: &templater,
        vars: &vars,
        search_dirs: &[],
    };
    let ctx = Context {
        host,
        check_mode: false,
        diff: false,
        controller: &controller,
    };
    let outcome = module.run(&json!({}), &ctx).await?;
    if outcome.failed {
        return Err(ModuleError::failed(
            outcome.msg.unwrap_or_else(|| "setup failed".into()),
        ));
    }
    Ok(outcome.facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tend_transport::ScriptedTransport;

    fn host(stdout: &'static str) -> Host {
        let transport = ScriptedTransport::new(move |_, _| {
            Ok(tend_transport::ExecOutput {
                exit_code: 0,
                stdout: stdout.as_bytes().to_vec(),
                stderr: Vec::new(),
            })
        });
        Host::new("h1", Arc::new(transport))
    }

    #[tokio::test]
    async fn gathers_through_the_setup_module_in_one_command() {
        tend_modules::link();
        let text = "hostname=h1.lab\nfqdn=h1.lab\nos_ID=debian\nos_VERSION_ID=\"12\"\nos_VERSION_CODENAME=bookworm\nos_NAME=\"Debian GNU/Linux\"\n";
        let h = host(text);
        let f = gather(&h).await.expect("facts");
        assert_eq!(f["ansible_hostname"], "h1");
        assert_eq!(f["ansible_distribution"], "Debian");
        assert_eq!(f["ansible_distribution_major_version"], "12");
        assert_eq!(f["ansible_os_family"], "Debian");
        assert_eq!(f["ansible_facts"]["fqdn"], "h1.lab");
        assert_eq!(f["ansible_facts"]["domain"], "lab");
        assert_eq!(f["module_setup"], true);
        assert!(f
            .keys()
            .all(|k| k.starts_with("ansible_") || k == "module_setup" || k == "gather_subset"));
    }

    #[tokio::test]
    async fn a_lost_host_is_a_transport_error() {
        tend_modules::link();
        let transport = ScriptedTransport::new(|_, _| {
            Err(tend_transport::TransportError::Unreachable {
                host: "h1".into(),
                reason: "connection reset".into(),
            })
        });
        let h = Host::new("h1", Arc::new(transport));
        let err = gather(&h).await.expect_err("unreachable");
        assert!(matches!(err, ModuleError::Transport(e) if e.is_unreachable()));
    }
}
