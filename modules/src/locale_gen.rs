//! `locale_gen`: compiled locales (glibc's `/etc/locale.gen` and `locale-gen`).
//!
//! ```yaml
//! - name: French and German UTF-8 locales
//!   community.general.locale_gen:
//!     name: [fr_FR.UTF-8, de_DE.UTF-8]
//! ```
//!
//! The logic is `community.general.locale_gen` with its `glibc` mechanism: every name must
//! be listed in `/usr/share/i18n/SUPPORTED` (or already compiled); a locale is present when
//! `locale -a` lists it (`.utf8` and `.UTF-8` are the same). A change uncomments (or, for
//! `absent`, comments out as `# NAME CHARSET`) the names' lines in `/etc/locale.gen` and runs
//! `locale-gen`. As in Ansible, check mode reports no change (the module's helper skips the
//! work and finds the state unchanged). Returns `name`, `mechanism` (`glibc`) and
//! `ubuntu_mode` (false).
//!
//! Differences from Ansible: the deprecated `ubuntu_legacy` mechanism
//! (`/var/lib/locales/supported.d`) is not supported.

use async_trait::async_trait;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tend_module_api::{Context, Module, ModuleError, Outcome, Planned, WriteOptions};

use crate::attrs;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocaleState {
    #[default]
    Present,
    Absent,
}

/// A list, or one string (Ansible's `type: list` splits it on commas).
fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleGenParams {
    /// Locales (`de_CH.UTF-8`).
    #[serde(deserialize_with = "list")]
    pub name: Vec<String>,
    /// `present` (the default) or `absent`.
    #[serde(default)]
    pub state: LocaleState,
}

pub struct LocaleGenModule;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocaleObserved {
    pub has_locale_gen_file: bool,
    /// `locale -a`.
    pub compiled: Vec<String>,
    /// `/usr/share/i18n/SUPPORTED`.
    pub supported: String,
}

const LOCALE_GEN: &str = "/etc/locale.gen";

/// `fix_case`: `locale -a` may spell the encoding in lower case.
fn fix_case(name: &str) -> String {
    const NORMAL: &[(&str, &str)] = &[
        (".utf8", ".UTF-8"),
        (".eucjp", ".EUC-JP"),
        (".iso885915", ".ISO-8859-15"),
        (".cp1251", ".CP1251"),
        (".koi8r", ".KOI8-R"),
        (".armscii8", ".ARMSCII-8"),
        (".euckr", ".EUC-KR"),
        (".gbk", ".GBK"),
        (".gb18030", ".GB18030"),
        (".euctw", ".EUC-TW"),
    ];
    NORMAL
        .iter()
        .fold(name.to_string(), |acc, (s, r)| acc.replace(s, r))
}

fn not_present<'a>(names: &'a [String], compiled: &[String]) -> Vec<&'a String> {
    names
        .iter()
        .filter(|n| !compiled.iter().any(|c| fix_case(n) == fix_case(c)))
        .collect()
}

#[async_trait]
impl Module for LocaleGenModule {
    type Params = LocaleGenParams;
    type Observed = LocaleObserved;
    type Action = ();

    const NAME: &'static str = "locale_gen";

    async fn query(
        &self,
        _params: &LocaleGenParams,
        ctx: &Context<'_>,
    ) -> Result<LocaleObserved, ModuleError> {
        let script = format!(
            "if [ -e {LOCALE_GEN} ]; then echo gen; fi; \
             echo {}; cat /usr/share/i18n/SUPPORTED 2>/dev/null; true",
            attrs::CONTENT_MARKER
        );
        let report = attrs::run(ctx.host, &script).await?;
        let out = ctx.host.sh("locale -a").await?;
        let compiled = out
            .stdout_lossy()
            .lines()
            .map(str::to_string)
            .collect();
        Ok(LocaleObserved {
            has_locale_gen_file: report.has("gen"),
            compiled,
            supported: report
                .content
                .as_deref()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .unwrap_or_default(),
        })
    }

    fn plan(
        &self,
        params: &LocaleGenParams,
        observed: LocaleObserved,
        _ctx: &Context<'_>,
    ) -> Result<Planned<()>, ModuleError> {
        plan_with(params, &observed)
    }

    async fn apply(
        &self,
        params: &LocaleGenParams,
        _action: (),
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let enabled = params.state == LocaleState::Present;
        let text = ctx
            .host
            .read_file(LOCALE_GEN)
            .await?
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default();
        let new = set_locales(&text, &params.name, enabled)?;
        if new != text {
            ctx.host
                .write_file_atomic(LOCALE_GEN, new.as_bytes(), &WriteOptions::default())
                .await?;
        }
        let out = ctx.host.sh("locale-gen").await?;
        if !out.success() {
            let mut values = serde_json::Map::new();
            values.insert("rc".into(), out.exit_code.into());
            values.insert("stdout".into(), out.stdout_lossy().into());
            values.insert("stderr".into(), out.stderr_lossy().into());
            return Err(ModuleError::Failed {
                msg: out.stderr_lossy().trim().to_string(),
                values,
            });
        }
        let after = ctx.host.sh("locale -a").await?;
        let compiled: Vec<String> = after.stdout_lossy().lines().map(str::to_string).collect();
        let now_present = not_present(&params.name, &compiled).is_empty();
        let mut outcome = described(params);
        outcome.changed = now_present == enabled;
        Ok(outcome)
    }
}

tend_module_api::register_module!(LocaleGenModule);

fn described(params: &LocaleGenParams) -> Outcome {
    Outcome::ok()
        .with_value(
            "name",
            Value::Array(params.name.iter().cloned().map(Value::String).collect()),
        )
        .with_value("ubuntu_mode", false)
        .with_value("mechanism", "glibc")
}

/// `set_locale_glibc` on the text of `/etc/locale.gen`.
fn set_locales(text: &str, names: &[String], enabled: bool) -> Result<String, ModuleError> {
    let mut rules = Vec::new();
    for name in names {
        let re = regex::Regex::new(&format!(r"^#?\s*{} (?P<charset>.+)", regex::escape(name)))
            .map_err(|e| ModuleError::failed(e.to_string()))?;
        let replacement = if enabled {
            format!("{name} $charset")
        } else {
            format!("# {name} $charset")
        };
        rules.push((re, replacement));
    }
    let lines = text.split_inclusive('\n').map(|line| {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let body = rules.iter().fold(body.to_string(), |acc, (re, rep)| {
            re.replace(&acc, rep.replace("$charset", "${charset}").as_str())
                .into_owned()
        });
        format!("{body}{end}")
    });
    Ok(lines.collect())
}

/// The module's checks and the state before. Pure.
fn plan_with(params: &LocaleGenParams, observed: &LocaleObserved) -> Result<Planned<()>, ModuleError> {
    if !observed.has_locale_gen_file {
        return Err(ModuleError::failed(
            "/var/lib/locales/supported.d and /etc/locale.gen are missing. Is the package \"locales\" installed?",
        ));
    }
    // assert_available
    let re = regex::Regex::new(r"^\s*#?\s*(?P<locale>\S+[\._\S]+) (?P<charset>\S+)\s*$")
        .map_err(|e| ModuleError::failed(e.to_string()))?;
    let listed: Vec<&str> = observed
        .supported
        .lines()
        .filter_map(|l| re.captures(l).and_then(|c| c.name("locale")).map(|m| m.as_str()))
        .collect();
    let unlisted: Vec<String> = params
        .name
        .iter()
        .filter(|n| !listed.contains(&n.as_str()))
        .cloned()
        .collect();
    let missing = not_present(&unlisted, &observed.compiled);
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Err(ModuleError::failed(format!(
            "The following locales you have entered are not available on your system: {}",
            names.join(", ")
        )));
    }
    let present = not_present(&params.name, &observed.compiled).is_empty();
    let wanted = params.state == LocaleState::Present;
    if present == wanted {
        return Ok(Planned::Done(described(params)));
    }
    // Ansible's check mode skips the work and then finds nothing changed.
    Ok(Planned::Change {
        action: (),
        preview: described(params),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_locale_gen_lines() {
        let text = "# en_US ISO-8859-1\n# fr_FR.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n";
        let names = vec!["fr_FR.UTF-8".to_string(), "de_DE.UTF-8".to_string()];
        assert_eq!(
            set_locales(text, &names, true).expect("edit"),
            "# en_US ISO-8859-1\nfr_FR.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n"
        );
        assert_eq!(
            set_locales(text, &names, false).expect("edit"),
            "# en_US ISO-8859-1\n# fr_FR.UTF-8 UTF-8\n# de_DE.UTF-8 UTF-8\n"
        );
    }

    #[test]
    fn presence_ignores_the_encoding_case() {
        let p: LocaleGenParams =
            serde_json::from_value(serde_json::json!({"name": "fr_FR.UTF-8"})).expect("params");
        let observed = LocaleObserved {
            has_locale_gen_file: true,
            compiled: vec!["C".into(), "fr_FR.utf8".into()],
            supported: "fr_FR.UTF-8 UTF-8\n".into(),
        };
        assert!(matches!(plan_with(&p, &observed), Ok(Planned::Done(_))));
        let p: LocaleGenParams =
            serde_json::from_value(serde_json::json!({"name": ["xx_YY"]})).expect("params");
        let err = plan_with(&p, &observed).expect_err("unknown");
        assert!(err.to_string().ends_with("system: xx_YY"));
    }
}
