//! `pip`: install or remove Python packages with the host's pip, optionally in a virtualenv.
//!
//! ```yaml
//! - name: The app's dependencies in its own virtualenv
//!   ansible.builtin.pip:
//!     name: [requests>=2.31, click]
//!     virtualenv: /srv/app/venv
//!     virtualenv_command: python3 -m venv
//!
//! - name: From a requirements file
//!   ansible.builtin.pip:
//!     requirements: /srv/app/requirements.txt
//!     virtualenv: /srv/app/venv
//! ```
//!
//! Ansible's module, with the same commands on the host: pip is `<virtualenv>/bin/pip3` (or
//! `pip`), `executable`, or `python3 -m pip`; a missing `virtualenv` is created first with
//! `virtualenv_command` (`-p <python>` unless it is the venv module, `--system-site-packages`
//! with `virtualenv_site_packages`). Then `pip install` (`-U` for `latest`, `-U
//! --force-reinstall` for `forcereinstall`) or `pip uninstall -y` runs with `extra_args`, the
//! packages (or `-r requirements`), from `chdir` (default `/tmp`); the task is `changed` when
//! pip says "Successfully installed"/"Successfully uninstalled" (with `requirements`, when `pip
//! list` differs before and after), or when the virtualenv was created.
//!
//! Check mode as Ansible: a virtualenv to create, `extra_args`, `requirements` or `latest`
//! report a change; otherwise `pip list --format=freeze` is compared with the requested names
//! and version specifiers. Returns `cmd`, `name`, `version`, `state`, `requirements`,
//! `virtualenv`, `stdout`, `stderr`; failures give Ansible's "stdout: ...\n:stderr: ..." text.
//!
//! Differences: version specifiers are matched with a PEP 440 subset (release numbers, `==`
//! with `.*`, `!=`, `<`, `<=`, `>`, `>=`, `~=`, `===`; pre/post/dev suffixes compare as text
//! after the release); `pip`/`setuptools` are found through `pip list` only.

use std::cmp::Ordering;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tend_module_api::{quote, Context, Module, ModuleError, Outcome, Planned};

use crate::attrs::{self, Report};
use crate::command::shlex_split;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PipState {
    #[default]
    Present,
    Absent,
    Latest,
    Forcereinstall,
}

impl PipState {
    fn args(self) -> &'static [&'static str] {
        match self {
            PipState::Present => &["install"],
            PipState::Absent => &["uninstall", "-y"],
            PipState::Latest => &["install", "-U"],
            PipState::Forcereinstall => &["install", "-U", "--force-reinstall"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            PipState::Present => "present",
            PipState::Absent => "absent",
            PipState::Latest => "latest",
            PipState::Forcereinstall => "forcereinstall",
        }
    }
}

fn venv_default() -> String {
    "virtualenv".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipParams {
    /// Packages, with optional version specifiers (`foo>=1.2,<2`).
    pub name: Option<Vec<String>>,
    /// The version of the single package in `name`.
    pub version: Option<String>,
    /// A requirements file on the host.
    pub requirements: Option<String>,
    /// present, absent, latest or forcereinstall.
    #[serde(default)]
    pub state: PipState,
    /// A virtualenv to install into (created when missing).
    pub virtualenv: Option<String>,
    /// Give the new virtualenv the system's packages.
    #[serde(default)]
    pub virtualenv_site_packages: bool,
    /// How to create the virtualenv (`virtualenv`, `python3 -m venv`).
    #[serde(default = "venv_default")]
    pub virtualenv_command: String,
    /// The Python for `virtualenv -p`.
    pub virtualenv_python: Option<String>,
    /// More pip arguments.
    pub extra_args: Option<String>,
    /// Install in editable mode (`-e`).
    #[serde(default)]
    pub editable: bool,
    /// Run pip from here.
    pub chdir: Option<String>,
    /// The pip program.
    pub executable: Option<String>,
    /// umask for pip (octal string).
    pub umask: Option<String>,
    /// Allow installing into an externally managed Python (PEP 668).
    #[serde(default)]
    pub break_system_packages: bool,
}

/// One requested package: its canonical name and specifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Package {
    /// Canonical (PEP 503) name.
    name: String,
    /// As given to pip.
    text: String,
    specs: Vec<(String, String)>,
    plain: bool,
}

#[derive(Debug)]
pub enum PipObserved {
    /// Check mode decided already (Ansible's early exits).
    Decided(Box<Outcome>),
    Run,
}

pub struct PipModule;

/// Specifier operators, longest first.
const OPS: [&str; 8] = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"];

fn canonical(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep {
                out.push('-');
                sep = false;
            }
            out.extend(c.to_lowercase());
        }
    }
    if sep {
        out.push('-');
    }
    out
}

/// Ansible's `_recover_package_name`: `['a>1', '<2', 'b']` → `['a>1,<2', 'b']`.
fn recover_names(names: &[String]) -> Vec<String> {
    let parts: Vec<&str> = names.iter().flat_map(|n| n.split(',')).collect();
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut in_brackets = false;
    for part in parts {
        let is_name = !OPS.iter().any(|op| part.trim_start().starts_with(op));
        if is_name && !in_brackets && !current.is_empty() {
            out.push(current.join(","));
            current.clear();
        }
        if part.contains('[') {
            in_brackets = true;
        }
        if in_brackets && part.contains(']') {
            in_brackets = false;
        }
        current.push(part);
    }
    out.push(current.join(","));
    out
}

impl Package {
    fn parse(text: &str, version: Option<&str>) -> Package {
        let mut full = text.to_string();
        if let Some(v) = version {
            let v = v.trim_start();
            let sep = if v.starts_with(|c: char| c.is_ascii_digit()) {
                "=="
            } else {
                " "
            };
            full = format!("{text}{sep}{v}");
        }
        let body = full.split(';').next().unwrap_or("").trim();
        let name_end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty() || body.contains("://") || body.starts_with('/') {
            return Package {
                name: text.to_string(),
                text: text.to_string(),
                specs: Vec::new(),
                plain: false,
            };
        }
        let mut rest = body[name_end..].trim();
        let mut extras = String::new();
        if rest.starts_with('[') {
            if let Some(end) = rest.find(']') {
                extras = rest[..=end].to_string();
                rest = rest[end + 1..].trim();
            }
        }
        let rest = rest.trim_start_matches('(').trim_end_matches(')');
        let mut specs = Vec::new();
        for spec in rest.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some(op) = OPS.iter().find(|op| spec.starts_with(**op)) else {
                return Package {
                    name: text.to_string(),
                    text: text.to_string(),
                    specs: Vec::new(),
                    plain: false,
                };
            };
            specs.push((op.to_string(), spec[op.len()..].trim().to_string()));
        }
        // packaging's str(Requirement): name, extras, specifiers sorted.
        let mut shown: Vec<String> = specs.iter().map(|(o, v)| format!("{o}{v}")).collect();
        shown.sort();
        Package {
            name: canonical(name),
            text: format!("{name}{extras}{}", shown.join(",")),
            specs,
            plain: true,
        }
    }

    fn is_satisfied_by(&self, version: &str) -> bool {
        self.plain && self.specs.iter().all(|(op, v)| spec_matches(op, v, version))
    }
}

/// Release numbers and the rest (`1.2.3rc1` → `[1,2,3]`, `rc1`).
fn split_version(v: &str) -> (Vec<u64>, String) {
    let v = v.trim().trim_start_matches(['v', 'V']);
    let v = v.split('+').next().unwrap_or(v);
    let mut release = Vec::new();
    let mut rest = "";
    for (i, part) in v.split('.').enumerate() {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            rest = &v[v.split('.').take(i).map(|p| p.len() + 1).sum::<usize>()..];
            break;
        }
        release.push(digits.parse().unwrap_or(0));
        if digits.len() < part.len() {
            let consumed: usize = v.split('.').take(i).map(|p| p.len() + 1).sum::<usize>();
            rest = &v[consumed + digits.len()..];
            break;
        }
    }
    (release, rest.to_string())
}

fn cmp_versions(a: &str, b: &str) -> Ordering {
    let (ra, xa) = split_version(a);
    let (rb, xb) = split_version(b);
    let n = ra.len().max(rb.len());
    for i in 0..n {
        let (x, y) = (
            ra.get(i).copied().unwrap_or(0),
            rb.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    // A pre-release (a/b/rc/dev) sorts before the release, a post-release after.
    let rank = |s: &str| {
        let s = s.trim_start_matches(['.', '-', '_']).to_ascii_lowercase();
        if s.is_empty() {
            1
        } else if s.starts_with("post") {
            2
        } else {
            0
        }
    };
    rank(&xa).cmp(&rank(&xb)).then_with(|| xa.cmp(&xb))
}

fn spec_matches(op: &str, want: &str, have: &str) -> bool {
    match op {
        "===" => want == have,
        "==" | "!=" => {
            let eq = match want.strip_suffix(".*") {
                Some(prefix) => {
                    let (p, _) = split_version(prefix);
                    let (h, _) = split_version(have);
                    h.len() >= p.len() && h[..p.len()] == p[..]
                }
                None => cmp_versions(have, want) == Ordering::Equal,
            };
            (op == "==") == eq
        }
        "<=" => cmp_versions(have, want) != Ordering::Greater,
        ">=" => cmp_versions(have, want) != Ordering::Less,
        "<" => cmp_versions(have, want) == Ordering::Less,
        ">" => cmp_versions(have, want) == Ordering::Greater,
        "~=" => {
            let (w, _) = split_version(want);
            let (h, _) = split_version(have);
            cmp_versions(have, want) != Ordering::Less
                && w.len() >= 2
                && h.len() >= w.len() - 1
                && h[..w.len() - 1] == w[..w.len() - 1]
        }
        _ => false,
    }
}

/// Ansible's `_is_present` over `pip list --format=freeze` lines.
fn is_present(pkg: &Package, installed: &[String]) -> bool {
    installed.iter().any(|line| {
        line.split_once("==").is_some_and(|(n, v)| {
            !v.contains("==") && canonical(n) == pkg.name && pkg.is_satisfied_by(v)
        })
    })
}

impl PipParams {
    fn packages(&self) -> Result<Vec<Package>, ModuleError> {
        let Some(names) = &self.name else {
            return Ok(Vec::new());
        };
        let mut packages: Vec<Package> = recover_names(names)
            .iter()
            .map(|n| Package::parse(n, None))
            .collect();
        if let Some(v) = &self.version {
            if packages.len() > 1 {
                return Err(ModuleError::failed("'version' argument is ambiguous when installing multiple package distributions. Please specify version restrictions next to each package in 'name' argument."));
            }
            if packages.first().is_some_and(|p| !p.specs.is_empty()) {
                return Err(ModuleError::failed("The 'version' argument conflicts with any version specifier provided along with a package name. Please keep the version specifier, but remove the 'version' argument."));
            }
            if let Some(first) = packages.first_mut() {
                *first = Package::parse(&first.text.clone(), Some(v));
            }
        }
        Ok(packages)
    }

    fn extra_args(&self) -> Option<String> {
        let mut extra = self.extra_args.clone();
        if self.editable {
            let mut args: Vec<String> = extra
                .as_deref()
                .map(|e| e.split(' ').map(str::to_string).collect())
                .unwrap_or_default();
            if !args.iter().any(|a| a == "-e") {
                args.push("-e".into());
            }
            extra = Some(args.join(" "));
        }
        extra.filter(|e| !e.is_empty())
    }

    /// Shell setup: umask, env/chdir variables and the pip command in `"$@"`-free form
    /// (`$pip`, a list of quoted words).
    fn prelude(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.umask {
            s.push_str(&format!("umask {}; ", quote(u)));
        }
        if self.break_system_packages {
            s.push_str("PIP_BREAK_SYSTEM_PACKAGES=1; export PIP_BREAK_SYSTEM_PACKAGES; ");
        }
        match &self.chdir {
            Some(c) => s.push_str(&attrs::assign("cd", c)),
            None => s.push_str("cd=\"${TMPDIR:-/tmp}\"; "),
        }
        match &self.virtualenv {
            Some(v) => {
                s.push_str(&attrs::assign("env", v));
                if self.chdir.is_some() {
                    s.push_str("case \"$env\" in /*) ;; *) env=\"$cd/$env\";; esac; ");
                }
            }
            None => s.push_str("env=; "),
        }
        s
    }
}

/// Finds pip (as Ansible's `_get_pip`) into `pip` (a command prefix) or reports `fail:`.
fn find_pip(params: &PipParams) -> String {
    match (&params.executable, &params.virtualenv) {
        (Some(e), _) if e.starts_with('/') => format!("pip={}; ", quote(&quote(e))),
        (Some(e), _) => format!(
            "p=$(command -v {e}) || {{ echo 'fail:Unable to find any of {name} to use.  pip needs to be installed.'; exit 0; }}; pip=\"'$p'\"; ",
            e = quote(e),
            name = e.replace('\'', "")
        ),
        (None, None) => "if python3 -c 'import pip' >/dev/null 2>&1; then pip=\"python3 -m pip\"; \
             elif p=$(command -v pip3); then pip=\"'$p'\"; \
             else echo 'fail:Unable to find any of pip3 to use.  pip needs to be installed.'; exit 0; fi; "
            .to_string(),
        (None, Some(_)) => "if [ -x \"$env/bin/pip3\" ]; then pip=\"'$env/bin/pip3'\"; \
             elif [ -x \"$env/bin/pip\" ]; then pip=\"'$env/bin/pip'\"; \
             else printf 'fail:Unable to find pip in the virtualenv, %s, under any of these names: pip3, pip. Make sure pip is present in the virtualenv.\\n' \"$env\"; exit 0; fi; "
            .to_string(),
    }
}

#[async_trait]
impl Module for PipModule {
    type Params = PipParams;
    type Observed = PipObserved;
    type Action = ();

    const NAME: &'static str = "pip";

    async fn query(&self, params: &PipParams, ctx: &Context<'_>) -> Result<PipObserved, ModuleError> {
        match (&params.name, &params.requirements) {
            (None, None) => {
                return Err(ModuleError::failed(
                    "one of the following is required: name, requirements",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(ModuleError::failed(
                    "parameters are mutually exclusive: name|requirements",
                ))
            }
            _ => {}
        }
        if params.executable.is_some() && params.virtualenv.is_some() {
            return Err(ModuleError::failed(
                "parameters are mutually exclusive: executable|virtualenv",
            ));
        }
        if params.state == PipState::Latest && params.version.is_some() {
            return Err(ModuleError::failed(
                "version is incompatible with state=latest",
            ));
        }
        let packages = params.packages()?;
        if !ctx.check_mode {
            return Ok(PipObserved::Run);
        }
        let mut script = params.prelude();
        script.push_str(
            "if [ -n \"$env\" ] && [ ! -e \"$env/bin/activate\" ]; then echo novenv; exit 0; fi; ",
        );
        let early = params.extra_args().is_some()
            || params.requirements.is_some()
            || params.state == PipState::Latest;
        if early {
            script.push_str("exit 0; ");
        }
        script.push_str(&find_pip(params));
        script.push_str(
            "cd \"$cd\" || exit 1; out=$(eval \"$pip list --format=freeze\" 2>/dev/null) || out=$(eval \"$pip freeze\") || exit 1; \
             printf 'cmd:%s list --format=freeze\\n' \"$pip\"; printf '%s\\n' \"$out\" | sed 's/^/pkg:/'; ",
        );
        let report = attrs::run(ctx.host, &script).await?;
        if let Some(msg) = report.get("fail") {
            return Err(ModuleError::failed(msg));
        }
        if report.has("novenv") || early {
            return Ok(PipObserved::Decided(Box::new(Outcome::changed())));
        }
        let installed: Vec<String> = report.all("pkg").map(str::to_string).collect();
        let changed = packages.iter().any(|p| {
            let present = is_present(p, &installed);
            (params.state == PipState::Present && !present)
                || (params.state == PipState::Absent && present)
        });
        let stdout: String = installed.iter().map(|l| format!("{l}\n")).collect();
        let cmd = report.get("cmd").unwrap_or("").replace('\'', "");
        let outcome = if changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        }
        .with_value("cmd", cmd)
        .with_value("stdout", stdout)
        .with_value("stderr", "");
        Ok(PipObserved::Decided(Box::new(outcome)))
    }

    fn plan(
        &self,
        _params: &PipParams,
        observed: PipObserved,
        _ctx: &Context<'_>,
    ) -> Result<Planned<()>, ModuleError> {
        match observed {
            PipObserved::Decided(outcome) if outcome.changed => Ok(Planned::Change {
                action: (),
                preview: *outcome,
            }),
            PipObserved::Decided(outcome) => Ok(Planned::Done(*outcome)),
            PipObserved::Run => Ok(Planned::Change {
                action: (),
                preview: Outcome::changed(),
            }),
        }
    }

    async fn apply(
        &self,
        params: &PipParams,
        _action: (),
        ctx: &Context<'_>,
    ) -> Result<Outcome, ModuleError> {
        let packages = params.packages()?;
        let mut script = params.prelude();
        // A missing virtualenv is created first.
        let venv_words = shlex_split(&params.virtualenv_command).map_err(ModuleError::failed)?;
        let is_venv_module = venv_words.first().is_some_and(|w| w == "pyvenv")
            || venv_words.windows(2).any(|w| w[0] == "-m" && w[1] == "venv");
        if params.virtualenv_python.is_some() && is_venv_module {
            return Err(ModuleError::failed(
                "virtualenv_python should not be used when using the venv module or pyvenv as virtualenv_command",
            ));
        }
        let mut venv = String::from("if [ -n \"$env\" ] && [ ! -e \"$env/bin/activate\" ]; then ");
        let Some((first, rest)) = venv_words.split_first() else {
            return Err(ModuleError::failed("virtualenv_command is empty"));
        };
        venv.push_str(&format!(
            "v0={}; case \"$v0\" in */*) ;; *) v0=$(command -v \"$v0\") || {{ echo \"fail:Failed to find required executable \\\"$v0\\\" in paths: $PATH\"; exit 0; }};; esac; \
             set -- \"$v0\"",
            quote(first)
        ));
        for w in rest {
            venv.push(' ');
            venv.push_str(&quote(w));
        }
        venv.push_str("; ");
        if params.virtualenv_site_packages {
            venv.push_str("set -- \"$@\" --system-site-packages; ");
        } else {
            venv.push_str(
                "if \"$v0\" --help 2>/dev/null | tr ' ' '\\n' | grep -qx -- '--no-site-packages'; then set -- \"$@\" --no-site-packages; fi; ",
            );
        }
        if !is_venv_module {
            match &params.virtualenv_python {
                Some(p) => venv.push_str(&format!("set -- \"$@\" {}; ", quote(&format!("-p{p}")))),
                None => venv.push_str("set -- \"$@\" \"-p$(command -v python3)\"; "),
            }
        }
        venv.push_str(
            "vo=$(cd \"$cd\" && \"$@\" \"$env\" 2>\"$__e\"); vrc=$?; [ -z \"$vo\" ] || printf '%s\\n' \"$vo\" | sed 's/^/out:/'; sed 's/^/err:/' \"$__e\"; \
             if [ $vrc -ne 0 ]; then echo \"fail:venv\"; exit 0; fi; echo venv.created; fi; ",
        );
        script.push_str("__e=$(mktemp) || exit 1; trap 'rm -f -- \"$__e\"' EXIT HUP INT TERM; ");
        script.push_str(&venv);
        script.push_str(&find_pip(params));
        let mut words: Vec<String> = params.state.args().iter().map(|a| a.to_string()).collect();
        if let Some(extra) = params.extra_args() {
            words.extend(shlex_split(&extra).map_err(ModuleError::failed)?);
        }
        if params.name.is_some() {
            words.extend(packages.iter().map(|p| p.text.clone()));
        } else if let Some(r) = &params.requirements {
            words.push("-r".into());
            words.push(r.clone());
        }
        let quoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
        let freeze = params.requirements.is_some()
            || params
                .name
                .iter()
                .flatten()
                .any(|n| n.contains("+") && n.contains("://"));
        if freeze {
            script.push_str(
                "fb=$(cd \"$cd\" && eval \"$pip list --format=freeze\" 2>/dev/null); ",
            );
        }
        script.push_str(&format!(
            "set -- {words}; printf 'pipcmd:%s\\n' \"$pip\"; for w in \"$@\"; do printf 'cmd:%s\\n' \"$w\"; done; \
             if [ -n \"$env\" ]; then PATH=\"$env/bin:$PATH\"; export PATH; fi; \
             o=$(cd \"$cd\" && eval \"$pip \\\"\\$@\\\"\" 2>\"$__e\"); rc=$?; \
             printf 'rc:%s\\n' $rc; [ -z \"$o\" ] || printf '%s\\n' \"$o\" | sed 's/^/out:/'; sed 's/^/err:/' \"$__e\"; ",
            words = quoted.join(" ")
        ));
        if freeze {
            script.push_str(
                "fa=$(cd \"$cd\" && eval \"$pip list --format=freeze\" 2>/dev/null); [ \"$fb\" = \"$fa\" ] || echo freeze.changed; ",
            );
        }
        let out = ctx.host.sh(&script).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "could not run pip on the host: {}",
                out.stderr_lossy().trim()
            )));
        }
        let r = Report::parse(&out.stdout);
        let text = |k: &str| -> String {
            let lines: Vec<&str> = r.all(k).collect();
            if lines.is_empty() {
                String::new()
            } else {
                format!("{}\n", lines.join("\n"))
            }
        };
        let (stdout, stderr) = (text("out"), text("err"));
        // The pip prefix is one line of quoted words; the arguments one per line.
        let cmd: Vec<String> = r
            .get("pipcmd")
            .unwrap_or("")
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| w.replace('\'', ""))
            .chain(r.all("cmd").map(str::to_string))
            .collect();
        if let Some(msg) = r.get("fail") {
            let msg = if msg == "venv" {
                pip_failure(&stdout, &stderr)
            } else {
                msg.to_string()
            };
            return Err(ModuleError::failed(msg));
        }
        let rc: i64 = r.get("rc").and_then(|v| v.parse().ok()).unwrap_or(1);
        let not_installed = stdout.contains("not installed") || stderr.contains("not installed");
        if rc != 0 && !(rc == 1 && params.state == PipState::Absent && not_installed) {
            let mut values = serde_json::Map::new();
            values.insert("cmd".into(), Value::from(cmd));
            return Err(ModuleError::Failed {
                msg: pip_failure(&stdout, &stderr),
                values,
            });
        }
        let mut changed = if params.state == PipState::Absent {
            stdout.contains("Successfully uninstalled")
        } else if freeze {
            r.has("freeze.changed")
        } else {
            stdout.contains("Successfully installed")
        };
        changed |= r.has("venv.created");
        let mut outcome = if changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::from);
        outcome.values.insert("cmd".into(), Value::from(cmd));
        outcome.values.insert(
            "name".into(),
            params.name.clone().map_or(Value::Null, Value::from),
        );
        outcome.values.insert("version".into(), opt(&params.version));
        outcome
            .values
            .insert("state".into(), params.state.name().into());
        outcome
            .values
            .insert("requirements".into(), opt(&params.requirements));
        outcome
            .values
            .insert("virtualenv".into(), opt(&params.virtualenv));
        outcome.values.insert("stdout".into(), stdout.into());
        outcome.values.insert("stderr".into(), stderr.into());
        Ok(outcome)
    }
}

tend_module_api::register_module!(PipModule);

/// Ansible's `_fail` message.
fn pip_failure(out: &str, err: &str) -> String {
    let mut msg = String::new();
    if !out.is_empty() {
        msg.push_str(&format!("stdout: {out}"));
    }
    if !err.is_empty() {
        msg.push_str(&format!("\n:stderr: {err}"));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_specifiers_and_versions() {
        assert_eq!(
            recover_names(&["django>1.11.1".into(), "<1.11.3".into(), "ipaddress".into()]),
            vec!["django>1.11.1,<1.11.3".to_string(), "ipaddress".to_string()]
        );
        let p = Package::parse("Foo_Bar[x]>=1.0,<2", None);
        assert_eq!(p.name, "foo-bar");
        assert_eq!(p.text, "Foo_Bar[x]<2,>=1.0");
        assert!(p.is_satisfied_by("1.5"));
        assert!(!p.is_satisfied_by("2.0"));
        let p = Package::parse("tinypkg", Some("1.0"));
        assert_eq!(p.text, "tinypkg==1.0");
        assert!(p.is_satisfied_by("1.0.0"));
        assert!(!p.is_satisfied_by("1.0.1"));
        assert!(spec_matches("==", "1.*", "1.4"));
        assert!(!spec_matches("==", "1.*", "2.0"));
        assert!(spec_matches("~=", "1.4", "1.9"));
        assert!(!spec_matches("~=", "1.4", "2.0"));
        assert!(spec_matches("<", "2.0", "2.0rc1"));
        assert!(spec_matches(">", "2.0", "2.0.post1"));
        assert!(is_present(
            &Package::parse("TinyPkg>=1", None),
            &["pip==23.0.1".into(), "tinypkg==2.0".into()]
        ));
        assert!(!is_present(
            &Package::parse("tinypkg<2", None),
            &["tinypkg==2.0".into()]
        ));
        assert_eq!(canonical("A.b__C"), "a-b-c");
    }
}
