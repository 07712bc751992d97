//! The `tend` command: parses flags, loads inventory and playbook, runs, prints, picks the exit code.
//!
//! Only this binary prints and decides exit codes; the libraries report through types.

mod interrupt;
mod list;
mod output;
mod progress;
mod prompt;
mod report;
mod vault;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Map, Value};
use tend_executor::{RunOptions, Runtime};
use tend_inventory::Inventory;
use tend_transport::{HostKeyMode, KnownHostsPolicy};

/// A mutex's guard even after a panic elsewhere poisoned it: what the printer, the progress
/// line and the report collector hold stays usable to the end of the run.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Exit codes as ansible-playbook uses them.
const EXIT_ERROR: u8 = 1;
const EXIT_BAD_OPTIONS: u8 = 5;

#[derive(Parser)]
#[command(
    name = "tend",
    version,
    about = "Agentless configuration management: Ansible playbooks, compiled, over SSH"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a playbook against an inventory (like ansible-playbook).
    Run(RunArgs),
    /// Run one module on the hosts matching a pattern (like the `ansible` command).
    Adhoc(AdhocArgs),
    /// Show a module's documentation, example and options (like ansible-doc).
    Doc(DocArgs),
    /// Encrypt, decrypt, view, edit and rekey Ansible Vault files (like ansible-vault).
    #[command(subcommand)]
    Vault(vault::VaultCommand),
}

#[derive(Args)]
struct DocArgs {
    /// Module names (`copy`, `ansible.builtin.copy`).
    modules: Vec<String>,
    /// List every module with its one-line summary.
    #[arg(short = 'l', long = "list")]
    list: bool,
}

/// Options shared by `run` and `adhoc`: where hosts are and how to reach them.
#[derive(Args)]
struct CommonArgs {
    /// Inventory file, directory or comma-separated host list; repeatable.
    #[arg(short = 'i', long = "inventory")]
    inventory: Vec<String>,
    /// Further limit the selected hosts to this pattern.
    #[arg(short = 'l', long = "limit")]
    limit: Option<String>,
    /// Extra variables: key=value pairs, JSON/YAML, or @file; repeatable.
    #[arg(short = 'e', long = "extra-vars")]
    extra_vars: Vec<String>,
    /// Predict changes without making any.
    #[arg(short = 'C', long = "check")]
    check: bool,
    /// Show the differences in changed files and attributes.
    #[arg(short = 'D', long = "diff")]
    diff: bool,
    /// Hosts worked on in parallel.
    #[arg(short = 'f', long = "forks", default_value_t = 5)]
    forks: usize,
    /// Connect as this user when the inventory names none.
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Run tasks with become (sudo unless --become-method says otherwise).
    #[arg(short = 'b', long = "become")]
    become_: bool,
    /// The user to become.
    #[arg(long = "become-user")]
    become_user: Option<String>,
    /// How to become: sudo (the default) or su.
    #[arg(long = "become-method", value_parser = ["sudo", "su"])]
    become_method: Option<String>,
    /// Ask for the become password (on the terminal; from a line of stdin if it is not one).
    #[arg(
        short = 'K',
        long = "ask-become-pass",
        conflicts_with = "become_password_file"
    )]
    ask_become_pass: bool,
    /// Read the become password from this file (its first line). TEND_BECOME_PASSWORD in
    /// the environment gives it too.
    #[arg(long = "become-password-file", visible_alias = "become-pass-file")]
    become_password_file: Option<PathBuf>,
    /// SSH private key file when the inventory names none.
    #[arg(long = "private-key", visible_alias = "key-file")]
    private_key: Option<PathBuf>,
    /// Read the passphrase of an encrypted private key from the terminal.
    #[arg(long = "ask-key-passphrase")]
    ask_key_passphrase: bool,
    /// known_hosts file(s) to check host keys against (default: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts).
    #[arg(long = "known-hosts")]
    known_hosts: Vec<PathBuf>,
    /// Record keys of hosts not yet in known_hosts (changed keys are still refused).
    #[arg(long = "accept-new-host-keys")]
    accept_new_host_keys: bool,
    /// Do not check host keys at all (like ANSIBLE_HOST_KEY_CHECKING=False).
    #[arg(long = "no-host-key-checking")]
    no_host_key_checking: bool,
    /// Connection timeout in seconds.
    #[arg(short = 'T', long = "timeout", default_value_t = 10)]
    timeout: u64,
    /// More output: -v every result, -vv task paths, -vvv the commands run on hosts,
    /// -vvvv their output too.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    vault: vault::VaultArgs,
    /// Colours: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long = "color", visible_alias = "colour", value_enum, default_value_t = When::Auto)]
    color: When,
    /// The live progress line on stderr: auto (on a terminal), always or never.
    #[arg(long = "progress", value_enum, default_value_t = When::Auto)]
    progress: When,
    /// Exit codes for CI, one bit per outcome: 2 a task failed, 4 a host was unreachable,
    /// 8 changes were made (or are pending under --check); 0 nothing changed.
    #[arg(long = "detailed-exitcode")]
    detailed_exitcode: bool,
    /// Also write a report: json, junit or markdown, to a file (`json=run.json`) or to stdout
    /// (`json` or `json=-`; the human output then goes to stderr). Repeatable.
    #[arg(long = "report", value_name = "FORMAT[=PATH]", value_parser = report::ReportSpec::parse)]
    report: Vec<report::ReportSpec>,
    /// In the JUnit report, count changed tasks as failures.
    #[arg(long = "junit-fail-on-change")]
    junit_fail_on_change: bool,
    /// Print how long each task took, longest first, before the recap.
    #[arg(long = "profile")]
    profile: bool,
}

/// `auto`, `always` or `never`, for colours and the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum When {
    Auto,
    Always,
    Never,
}

impl CommonArgs {
    /// The printer's look: verbosity, colours, where it prints, progress, timings.
    fn style(&self) -> Result<output::Style> {
        let to_stdout = self.report.iter().filter(|r| r.path.is_none()).count();
        if to_stdout > 1 {
            bail!("only one --report can go to stdout; give the others a path (`junit=FILE`)");
        }
        let to_stderr = to_stdout == 1;
        let env_set =
            |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let color = match self.color {
            When::Always => true,
            When::Never => false,
            When::Auto if env_set("NO_COLOR") || env_set("ANSIBLE_NOCOLOR") => false,
            When::Auto
                if env_set("FORCE_COLOR")
                    || env_set("CLICOLOR_FORCE")
                    || env_set("ANSIBLE_FORCE_COLOR") =>
            {
                true
            }
            When::Auto if to_stderr => std::io::stderr().is_terminal() && !dumb,
            When::Auto => std::io::stdout().is_terminal() && !dumb,
        };
        let progress = match self.progress {
            When::Always => true,
            When::Never => false,
            When::Auto => std::io::stderr().is_terminal() && !dumb,
        };
        Ok(output::Style {
            verbosity: self.verbose,
            color,
            to_stderr,
            progress,
            profile: self.profile,
        })
    }

    /// The exit code for a finished run: ansible-playbook's, or the detailed one.
    fn exit_code(&self, summary: &tend_executor::RunSummary) -> u8 {
        let code = if self.detailed_exitcode {
            summary.detailed_exit_code()
        } else {
            summary.exit_code()
        };
        code as u8
    }
}

#[derive(Args)]
struct RunArgs {
    /// Playbook file(s), run in order.
    #[arg(required = true)]
    playbooks: Vec<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
    /// Run handlers even on hosts that failed.
    #[arg(long = "force-handlers")]
    force_handlers: bool,
    /// Only compile the playbook(s) and report problems.
    #[arg(long = "syntax-check")]
    syntax_check: bool,
    /// Only run tasks with these tags (comma-separated; repeatable).
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    tags: Vec<String>,
    /// Skip tasks with these tags (comma-separated; repeatable).
    #[arg(long = "skip-tags", value_delimiter = ',')]
    skip_tags: Vec<String>,
    /// Start at the task with this name.
    #[arg(long = "start-at-task")]
    start_at_task: Option<String>,
    /// Confirm each task before it runs: (N)o/(y)es/(c)ontinue.
    #[arg(long = "step")]
    step: bool,
    /// List the tasks that would run, then exit.
    #[arg(long = "list-tasks")]
    list_tasks: bool,
    /// List the hosts each play would run on, then exit.
    #[arg(long = "list-hosts")]
    list_hosts: bool,
    /// List the tags of each play's tasks, then exit.
    #[arg(long = "list-tags")]
    list_tags: bool,
}

#[derive(Args)]
struct AdhocArgs {
    /// Host pattern, e.g. `web:&prod`.
    pattern: String,
    /// The module to run.
    #[arg(short = 'm', long = "module-name", default_value = "command")]
    module: String,
    /// The module's arguments: `key=value` words, or a command for command/shell/raw.
    #[arg(short = 'a', long = "args", default_value = "")]
    args: String,
    /// Gather facts first (off by default, as with `ansible`).
    #[arg(long = "gather-facts")]
    gather_facts: bool,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_BAD_OPTIONS } else { 0 });
        }
    };
    tend_modules::link();
    tend_custom_modules::link();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("TEND_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Adhoc(args) => adhoc(args),
        Command::Doc(args) => doc(args),
        Command::Vault(command) => return ExitCode::from(vault::command(command)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(args: RunArgs) -> Result<u8> {
    // Vaulted files and values are decrypted as they are loaded, with this keyring.
    vault::install_keyring(&args.common.vault)?;
    // Everything is compiled before any host is contacted.
    let mut playbooks = Vec::new();
    let mut failed = false;
    for path in &args.playbooks {
        match tend_playbook::load_playbook(path) {
            Ok(p) => playbooks.push(p),
            Err(errors) => {
                eprintln!("{errors}");
                failed = true;
            }
        }
    }
    if failed {
        return Ok(EXIT_ERROR);
    }
    let mut inventory = load_inventory(&args.common)?;
    let mut vars_dirs: Vec<&Path> = Vec::new();
    for playbook in &playbooks {
        if !vars_dirs.contains(&playbook.dir.as_path()) {
            vars_dirs.push(&playbook.dir);
            inventory
                .add_playbook_vars_dir(&playbook.dir)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    let mut options = run_options(&args.common, &inventory)?;
    if args.syntax_check {
        for p in &playbooks {
            println!("\nplaybook: {}", p.path.display());
        }
        return Ok(0);
    }
    if !args.tags.is_empty() {
        options.tags = args.tags.clone();
    }
    options.skip_tags = args.skip_tags.clone();
    options.start_at_task = args.start_at_task.clone();
    options.force_handlers = args.force_handlers;
    options.step = args.step;
    if args.list_tasks || args.list_hosts || args.list_tags {
        let listing = list::Listing {
            inventory: &inventory,
            limit: args.common.limit.as_deref(),
            tags: &options.tags,
            skip_tags: &options.skip_tags,
        };
        for p in &playbooks {
            print!(
                "{}",
                listing.render(p, args.list_hosts, args.list_tasks, args.list_tags)?
            );
        }
        return Ok(0);
    }
    prompt::answer_var_prompts(&mut playbooks, &options.extra_vars)?;
    let mut style = args.common.style()?;
    // The progress line would sit in the way of `--step`'s questions.
    style.progress &= !args.step;
    let printer = Arc::new(output::Printer::new(style));
    let collector = Arc::new(report::Collector::new(options.check, options.diff));
    let sink = with_reports(printer.clone(), &collector, &args.common);
    let summary = execute(&playbooks, &inventory, &options, sink)?;
    printer.finish();
    if options.interrupt.is_triggered() {
        let code = interrupt::report();
        // A cancelled CI job still gets its reports: what ran before the signal.
        write_reports(&collector, &args.common, &summary, code)?;
        return Ok(code);
    }
    printer.recap(&summary);
    let code = args.common.exit_code(&summary);
    write_reports(&collector, &args.common, &summary, code)?;
    Ok(code)
}

/// `tend doc MODULE...` / `tend doc --list`: documentation read from each module's source.
fn doc(args: DocArgs) -> Result<u8> {
    if args.list || args.modules.is_empty() {
        let names = tend_module_api::module_names();
        let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
        for name in names {
            let summary = tend_module_api::documentation(name)
                .map(|d| d.summary())
                .unwrap_or_default();
            println!("{name:width$}  {summary}");
        }
        return Ok(0);
    }
    let mut out = String::new();
    for name in &args.modules {
        let Some(doc) = tend_module_api::documentation(name) else {
            let known = tend_module_api::module_names();
            let hint = tend_diag::did_you_mean(name, known.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            bail!("module `{name}` not found{hint}");
        };
        out.push_str(&doc.render(name));
        out.push('\n');
    }
    print!("{}", out.trim_end_matches('\n'));
    println!();
    Ok(0)
}

/// `tend adhoc PATTERN -m MODULE -a ARGS`: a one-task playbook, compiled like any other.
fn adhoc(args: AdhocArgs) -> Result<u8> {
    let module_args = if args.args.trim().is_empty() {
        "{}".to_string()
    } else {
        serde_json::to_string(&args.args)?
    };
    let source = format!(
        "- hosts: {}\n  gather_facts: {}\n  tasks:\n    - {}: {}\n",
        serde_json::to_string(&args.pattern)?,
        args.gather_facts,
        args.module,
        module_args
    );
    let playbook = match tend_playbook::compile_playbook(Path::new("<adhoc>"), &source) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(EXIT_ERROR);
        }
    };
    vault::install_keyring(&args.common.vault)?;
    let inventory = load_inventory(&args.common)?;
    let options = run_options(&args.common, &inventory)?;
    let printer = Arc::new(output::AdhocPrinter::new(args.common.style()?));
    let collector = Arc::new(report::Collector::new(options.check, options.diff));
    let sink = with_reports(printer.clone(), &collector, &args.common);
    let summary = execute(std::slice::from_ref(&playbook), &inventory, &options, sink)?;
    printer.finish();
    if options.interrupt.is_triggered() {
        let code = interrupt::report();
        write_reports(&collector, &args.common, &summary, code)?;
        return Ok(code);
    }
    if summary.hosts.is_empty() {
        eprintln!("[WARNING]: No hosts matched, nothing to do");
    }
    let code = args.common.exit_code(&summary);
    write_reports(&collector, &args.common, &summary, code)?;
    Ok(code)
}

/// Writes the reports `--report` asked for (none: nothing to do).
fn write_reports(
    collector: &report::Collector,
    common: &CommonArgs,
    summary: &tend_executor::RunSummary,
    code: u8,
) -> Result<()> {
    collector.write_all(&common.report, summary, code, common.junit_fail_on_change)
}

/// The printer, and the report collector beside it when a report was asked for (it keeps
/// every result until the end, which a run without reports has no use for).
fn with_reports(
    printer: Arc<dyn tend_executor::EventSink>,
    collector: &Arc<report::Collector>,
    common: &CommonArgs,
) -> Arc<dyn tend_executor::EventSink> {
    if common.report.is_empty() {
        printer
    } else {
        Arc::new(report::Tee(vec![printer, collector.clone()]))
    }
}

fn load_inventory(common: &CommonArgs) -> Result<Inventory> {
    if common.inventory.is_empty() {
        Ok(Inventory::empty())
    } else {
        Inventory::load_many(&common.inventory).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

fn run_options(common: &CommonArgs, inventory: &Inventory) -> Result<RunOptions> {
    let mut options = RunOptions::new(known_hosts_policy(common));
    options.check = common.check;
    options.diff = common.diff;
    options.forks = common.forks.max(1);
    options.limit = common.limit.clone();
    options.extra_vars = parse_extra_vars(&common.extra_vars)?;
    options.become_ = common.become_;
    options.become_user = common.become_user.clone();
    options.become_method = common.become_method.clone();
    options.become_password = become_password(common)?;
    options.remote_user = common.user.clone();
    options.private_key_file = common.private_key.clone();
    options.connect_timeout = Duration::from_secs(common.timeout);
    options.trace_commands = common.verbose >= 3;
    options.key_passphrase = std::env::var("TEND_SSH_KEY_PASSPHRASE").ok();
    let ask = common.ask_key_passphrase
        || (options.key_passphrase.is_none()
            && std::io::stdin().is_terminal()
            && encrypted_key_in_use(inventory, common.private_key.as_deref()));
    if ask {
        options.key_passphrase = Some(
            rpassword::prompt_password("SSH key passphrase: ")
                .context("reading the key passphrase")?,
        );
    }
    Ok(options)
}

/// The become password from `-K`, `--become-password-file` or `TEND_BECOME_PASSWORD`, in that
/// order; an empty one is none, as in Ansible. Asked for before any host is contacted.
fn become_password(common: &CommonArgs) -> Result<Option<tend_transport::Secret>> {
    let password = if common.ask_become_pass {
        if std::io::stdin().is_terminal() {
            rpassword::prompt_password("BECOME password: ")
                .context("reading the become password")?
        } else {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the become password from stdin")?;
            line
        }
    } else if let Some(path) = &common.become_password_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the become password file {}", path.display()))?;
        text.lines().next().unwrap_or_default().to_string()
    } else {
        match std::env::var("TEND_BECOME_PASSWORD") {
            Ok(p) => p,
            Err(_) => return Ok(None),
        }
    };
    let password = password.trim_end_matches(['\r', '\n']);
    Ok((!password.is_empty()).then(|| tend_transport::Secret::new(password)))
}

/// Runs compiled playbooks in order and adds up their counts.
fn execute(
    playbooks: &[tend_playbook::Playbook],
    inventory: &Inventory,
    options: &RunOptions,
    sink: Arc<dyn tend_executor::EventSink>,
) -> Result<tend_executor::RunSummary> {
    let runtime = Runtime {
        connector: Arc::new(tend_ssh::SshConnector::new()),
        sink,
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let _sigint = interrupt::watch(&tokio, options.interrupt.clone());
    let mut summary = tend_executor::RunSummary::default();
    for playbook in playbooks {
        if options.interrupt.is_triggered() {
            break;
        }
        let s = tokio
            .block_on(tend_executor::run_playbook(
                playbook, inventory, options, &runtime,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        merge(&mut summary, s);
    }
    Ok(summary)
}

fn merge(into: &mut tend_executor::RunSummary, from: tend_executor::RunSummary) {
    for (host, s) in from.hosts {
        match into.hosts.iter_mut().find(|(h, _)| *h == host) {
            Some((_, t)) => {
                t.ok += s.ok;
                t.changed += s.changed;
                t.unreachable += s.unreachable;
                t.failed += s.failed;
                t.skipped += s.skipped;
                t.rescued += s.rescued;
                t.ignored += s.ignored;
            }
            None => into.hosts.push((host, s)),
        }
    }
}

/// Whether any key file the run will use is encrypted, so the passphrase is asked once up
/// front instead of every host failing to authenticate.
fn encrypted_key_in_use(inventory: &Inventory, cli_key: Option<&Path>) -> bool {
    let inventory_keys = inventory.hosts().filter_map(|h| {
        let vars = inventory.host_vars(&h.name);
        ["ansible_ssh_private_key_file", "ansible_private_key_file"]
            .iter()
            .find_map(|k| vars.get(*k).and_then(Value::as_str).map(PathBuf::from))
    });
    cli_key
        .map(Path::to_path_buf)
        .into_iter()
        .chain(inventory_keys)
        .any(|path| tend_ssh::key_is_encrypted(&path).unwrap_or(false))
}

fn known_hosts_policy(args: &CommonArgs) -> KnownHostsPolicy {
    let files = if args.known_hosts.is_empty() {
        let mut files = Vec::new();
        if let Some(home) = std::env::var_os("HOME") {
            files.push(Path::new(&home).join(".ssh/known_hosts"));
        }
        files.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
        files
    } else {
        args.known_hosts.clone()
    };
    let env_off = std::env::var("ANSIBLE_HOST_KEY_CHECKING")
        .map(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "false" | "no" | "0" | "off"
            )
        })
        .unwrap_or(false);
    let mode = if args.no_host_key_checking || env_off {
        HostKeyMode::Off
    } else if args.accept_new_host_keys {
        HostKeyMode::AcceptNew
    } else {
        HostKeyMode::Strict
    };
    KnownHostsPolicy { files, mode }
}

/// `-e` values: `@file`, a JSON/YAML mapping, or `key=value` words. Later ones win.
fn parse_extra_vars(values: &[String]) -> Result<Map<String, Value>> {
    let mut vars = Map::new();
    for raw in values {
        let raw = raw.trim();
        let parsed = if let Some(file) = raw.strip_prefix('@') {
            let text = tend_vault::read_to_string(file)
                .with_context(|| format!("reading extra vars file {file}"))?;
            yaml_mapping(&text).with_context(|| format!("extra vars file {file}"))?
        } else if raw.starts_with('{') {
            yaml_mapping(raw).context("extra vars")?
        } else {
            let map = tend_playbook::kv::parse_kv(raw, false);
            if map.contains_key("_raw_params") {
                bail!("extra vars must be key=value pairs, JSON/YAML or @file: `{raw}`");
            }
            map
        };
        vars.extend(parsed);
    }
    Ok(vars)
}

fn yaml_mapping(text: &str) -> Result<Map<String, Value>> {
    let node = tend_yaml::load_one(text).map_err(|e| {
        anyhow::anyhow!(
            "{} at line {} column {}",
            e.headline(),
            e.span.line,
            e.span.col
        )
    })?;
    match node.to_json() {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => bail!("must be a mapping"),
    }
}
