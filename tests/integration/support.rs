//! A small builder for running `tend` in tests, and readers for its output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use tend_lab::Lab;

pub type TestResult = Result<()>;

/// A playbook project in a temporary directory, run with the `tend` binary.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Result<Self> {
        Ok(Project {
            dir: tempfile::tempdir().context("temp dir")?,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file relative to the project (`site.yml`, `templates/x.j2`, ...).
    pub fn file(&self, name: &str, content: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
        Ok(path)
    }

    /// A run of `site.yml` against a lab's inventory.
    pub fn run<'a>(&'a self, lab: &'a Lab) -> Run<'a> {
        Run {
            project: self,
            inventory: lab.inventory_ini().display().to_string(),
            known_hosts: Some(lab.known_hosts().to_path_buf()),
            args: Vec::new(),
            envs: Vec::new(),
            stdin: None,
            playbook: "site.yml".into(),
        }
    }
}

pub struct Run<'a> {
    project: &'a Project,
    inventory: String,
    known_hosts: Option<PathBuf>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    playbook: String,
}

impl Run<'_> {
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Runs this playbook of the project instead of `site.yml`.
    pub fn playbook(mut self, name: &str) -> Self {
        self.playbook = name.into();
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Feeds `data` to tend's standard input (otherwise it reads from /dev/null).
    pub fn stdin(mut self, data: &[u8]) -> Self {
        self.stdin = Some(data.to_vec());
        self
    }

    pub fn check(self) -> Self {
        self.arg("--check")
    }

    pub fn diff(self) -> Self {
        self.arg("--diff")
    }

    pub fn inventory(mut self, path: impl Into<String>) -> Self {
        self.inventory = path.into();
        self
    }

    pub fn known_hosts(mut self, path: Option<PathBuf>) -> Self {
        self.known_hosts = path;
        self
    }

    /// Starts tend without waiting, stdout and stderr piped, stdin from /dev/null: for tests
    /// that act on the running process (signals).
    pub fn spawn(self) -> Result<std::process::Child> {
        self.command()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("starting tend")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tend"));
        cmd.current_dir(self.project.path())
            .arg("run")
            .arg(&self.playbook)
            .arg("-i")
            .arg(&self.inventory)
            .args(&self.args)
            .env("NO_COLOR", "1")
            .env_remove("ANSIBLE_HOST_KEY_CHECKING")
            .env_remove("SSH_AUTH_SOCK");
        if let Some(kh) = &self.known_hosts {
            cmd.arg("--known-hosts").arg(kh);
        }
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd
    }

    pub fn exec(self) -> Result<Output> {
        let mut cmd = self.command();
        let Some(data) = self.stdin else {
            return Ok(cmd.output().context("running tend")?.into());
        };
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().context("running tend")?;
        if let Some(mut pipe) = child.stdin.take() {
            use std::io::Write;
            pipe.write_all(&data).context("writing tend's stdin")?;
        }
        Ok(child.wait_with_output().context("running tend")?.into())
    }
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Self {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// One host's PLAY RECAP counts.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recap {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

impl Output {
    /// Fails with the whole output when the exit code is not `code`.
    pub fn expect_code(&self, code: i32) -> Result<&Self> {
        if self.code != code {
            bail!(
                "expected exit code {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
                self.code,
                self.stdout,
                self.stderr
            );
        }
        Ok(self)
    }

    pub fn recap(&self) -> Result<BTreeMap<String, Recap>> {
        let start = self.stdout.find("PLAY RECAP").with_context(|| {
            format!("no PLAY RECAP in output:\n{}\n{}", self.stdout, self.stderr)
        })?;
        let mut hosts = BTreeMap::new();
        for line in self.stdout[start..].lines().skip(1) {
            let Some((host, counts)) = line.split_once(" : ") else {
                continue;
            };
            let mut r = Recap::default();
            for field in counts.split_whitespace() {
                let (k, v) = field.split_once('=').context("recap field")?;
                let v: u32 = v.parse()?;
                match k {
                    "ok" => r.ok = v,
                    "changed" => r.changed = v,
                    "unreachable" => r.unreachable = v,
                    "failed" => r.failed = v,
                    "skipped" => r.skipped = v,
                    "rescued" => r.rescued = v,
                    "ignored" => r.ignored = v,
                    _ => bail!("unknown recap field {k}"),
                }
            }
            hosts.insert(host.trim().to_string(), r);
        }
        Ok(hosts)
    }

    /// The recap of one host, failing with the output if it is missing.
    pub fn host(&self, name: &str) -> Result<Recap> {
        self.recap()?
            .remove(name)
            .with_context(|| format!("host {name} not in recap:\n{}", self.stdout))
    }

    pub fn assert_stdout_contains(&self, needle: &str) -> Result<()> {
        if !self.stdout.contains(needle) {
            bail!(
                "stdout lacks {needle:?}:\n{}\n--- stderr\n{}",
                self.stdout,
                self.stderr
            );
        }
        Ok(())
    }

    pub fn assert_stderr_contains(&self, needle: &str) -> Result<()> {
        if !self.stderr.contains(needle) {
            bail!(
                "stderr lacks {needle:?}:\n{}\n--- stdout\n{}",
                self.stderr,
                self.stdout
            );
        }
        Ok(())
    }
}

/// Starts a lab of `n` hosts.
pub fn lab(n: usize) -> Result<Lab> {
    Lab::builder()
        .hosts(n)
        .start()
        .context("starting lab hosts")
}

pub fn read(lab: &Lab, host: usize, path: &str) -> Result<Option<String>> {
    Ok(lab
        .read_file(host, path)?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<()> {
    if !cond {
        bail!("{}", what());
    }
    Ok(())
}
