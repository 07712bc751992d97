//! Vault on the command line: the `--vault-*` options of `run` and `adhoc` (the keyring they
//! install before anything is loaded), and `tend vault`, which mirrors `ansible-vault`.
//!
//! Secrets are gathered as Ansible's `setup_vault_secrets` does: `ANSIBLE_VAULT_IDENTITY_LIST`,
//! then `--vault-id`s, then `--vault-password-file`s and `ANSIBLE_VAULT_PASSWORD_FILE` (as
//! `default@FILE`), then `--ask-vault-pass` (`default@prompt`). A source that cannot be read is
//! a warning while another one works, and the error when none does.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};
use tend_vault::{Keyring, Secret, DEFAULT_ID};

/// ansible-vault's exit code for bad options (`AnsibleOptionsError`).
const EXIT_BAD_OPTIONS: u8 = 5;

/// Where vault passwords come from; shared by `run`, `adhoc` and `tend vault`.
#[derive(Args, Default, Clone)]
pub struct VaultArgs {
    /// A vault identity `LABEL@SOURCE` (or just `SOURCE`), where SOURCE is a password file, an
    /// executable printing the password, or `prompt`; repeatable.
    #[arg(long = "vault-id")]
    pub vault_ids: Vec<String>,
    /// A file holding the vault password (an executable file is run and its output is the
    /// password); repeatable. ANSIBLE_VAULT_PASSWORD_FILE in the environment gives one too.
    #[arg(long = "vault-password-file", visible_alias = "vault-pass-file")]
    pub vault_password_files: Vec<PathBuf>,
    /// Ask for the vault password (on the terminal; from a line of stdin if it is not one).
    #[arg(
        short = 'J',
        long = "ask-vault-password",
        visible_alias = "ask-vault-pass"
    )]
    pub ask_vault_pass: bool,
}

/// The prompts Ansible shows for a `prompt` source and for `--ask-vault-pass`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Decrypt,
    /// Encrypting: the password is asked twice.
    NewPassword,
}

/// Reads the `run`/`adhoc` vault options and installs the keyring every loader decrypts with.
/// Called before the playbook or inventory is read.
pub fn install_keyring(args: &VaultArgs) -> Result<()> {
    let keyring = keyring(args, Purpose::Decrypt, false)?;
    tend_vault::install(keyring);
    Ok(())
}

/// `label@source` → (label, source); without `@` the whole text is the source.
fn split_vault_id(slug: &str) -> (Option<&str>, &str) {
    match slug.split_once('@') {
        Some((label, source)) => (Some(label), source),
        None => (None, slug),
    }
}

/// The identity list, with password files and `--ask-vault-pass` appended
/// (`CLI.build_vault_ids`). `auto_prompt` asks when nothing else is given (`ansible-vault`).
fn vault_id_slugs(args: &VaultArgs, auto_prompt: bool) -> Vec<String> {
    let mut slugs: Vec<String> = std::env::var("ANSIBLE_VAULT_IDENTITY_LIST")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    slugs.extend(args.vault_ids.iter().cloned());
    let mut files = args.vault_password_files.clone();
    if let Some(file) = std::env::var_os("ANSIBLE_VAULT_PASSWORD_FILE").filter(|f| !f.is_empty()) {
        files.push(PathBuf::from(file));
    }
    for file in files {
        slugs.push(format!("{DEFAULT_ID}@{}", file.display()));
    }
    if args.ask_vault_pass || (slugs.is_empty() && auto_prompt) {
        slugs.push(format!("{DEFAULT_ID}@prompt_ask_vault_pass"));
    }
    slugs
}

fn keyring(args: &VaultArgs, purpose: Purpose, auto_prompt: bool) -> Result<Keyring> {
    keyring_from(&vault_id_slugs(args, auto_prompt), purpose)
}

fn keyring_from(slugs: &[String], purpose: Purpose) -> Result<Keyring> {
    for slug in slugs {
        if let Some((label, _)) = slug.split_once('@') {
            if label.contains(';') {
                bail!("'{slug}' is not a valid vault id. The character ';' is not allowed in vault ids");
            }
        }
    }
    let mut ring = Keyring::new();
    let mut last_error = None;
    for slug in slugs {
        let (label, source) = split_vault_id(slug);
        let id = label.filter(|l| !l.is_empty()).unwrap_or(DEFAULT_ID);
        if source == "prompt" || source == "prompt_ask_vault_pass" {
            let secret = ask_password(id, source == "prompt_ask_vault_pass", purpose)?;
            ring.add(id, secret);
            continue;
        }
        // Later password files may themselves be vaulted with an earlier secret.
        match tend_vault::secret_from_file(Path::new(source), id, &ring) {
            Ok(secret) => ring.add(id, secret),
            Err(e) => {
                eprintln!("[WARNING]: Error getting vault password file ({id}): {e}");
                last_error = Some(e);
            }
        }
    }
    match last_error {
        Some(e) if ring.is_empty() => Err(e.into()),
        _ => Ok(ring),
    }
}

/// Asks for a vault password as `PromptVaultSecret` does (twice, matching, when it is new).
fn ask_password(id: &str, ask_vault_pass: bool, purpose: Purpose) -> Result<Secret> {
    let prompts: &[String] = &match (purpose, ask_vault_pass) {
        (Purpose::Decrypt, true) => vec!["Vault password: ".to_string()],
        (Purpose::Decrypt, false) => vec![format!("Vault password ({id}): ")],
        (Purpose::NewPassword, true) => vec![
            "New Vault password: ".to_string(),
            "Confirm New Vault password: ".to_string(),
        ],
        (Purpose::NewPassword, false) => vec![
            format!("New vault password ({id}): "),
            format!("Confirm new vault password ({id}): "),
        ],
    };
    let mut first: Option<Secret> = None;
    for prompt in prompts {
        let typed = read_secret_line(prompt)
            .with_context(|| format!("reading the vault password for ({id})"))?
            .ok_or_else(|| anyhow!("EOFError (ctrl-d) on prompt for ({id})"))?;
        let typed = Secret::new(typed.trim().as_bytes().to_vec());
        if typed.expose().is_empty() {
            bail!("Invalid vault password was provided");
        }
        match &first {
            None => first = Some(typed),
            Some(f) if f.expose() != typed.expose() => bail!("Passwords do not match"),
            Some(_) => {}
        }
    }
    first.ok_or_else(|| anyhow!("no vault password was given"))
}

/// A line typed without echo on the terminal, or read from stdin when it is not one. `None` at
/// end of input.
fn read_secret_line(prompt: &str) -> Result<Option<String>> {
    if std::io::stdin().is_terminal() {
        return Ok(Some(rpassword::prompt_password(prompt)?));
    }
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

/// `tend vault`: what `ansible-vault` does to files and strings.
#[derive(Subcommand)]
pub enum VaultCommand {
    /// Encrypt files in place (or to --output); no file or `-` reads stdin.
    Encrypt {
        #[command(flatten)]
        vault: VaultArgs,
        #[command(flatten)]
        encrypt: EncryptArgs,
        /// Where to write instead of in place; `-` for stdout.
        #[arg(long = "output")]
        output: Option<PathBuf>,
        files: Vec<PathBuf>,
    },
    /// Decrypt files in place (or to --output); no file or `-` reads stdin.
    Decrypt {
        #[command(flatten)]
        vault: VaultArgs,
        /// Where to write instead of in place; `-` for stdout.
        #[arg(long = "output")]
        output: Option<PathBuf>,
        files: Vec<PathBuf>,
    },
    /// Print the plaintext of vaulted files.
    View {
        #[command(flatten)]
        vault: VaultArgs,
        files: Vec<PathBuf>,
    },
    /// Create a vaulted file: write its plaintext with $EDITOR, then encrypt it into FILE.
    Create {
        #[command(flatten)]
        vault: VaultArgs,
        #[command(flatten)]
        encrypt: EncryptArgs,
        /// Open the editor even when stdout is not a terminal.
        #[arg(long = "skip-tty-check")]
        skip_tty_check: bool,
        files: Vec<PathBuf>,
    },
    /// Edit a vaulted file's plaintext with $EDITOR, then encrypt it again.
    Edit {
        #[command(flatten)]
        vault: VaultArgs,
        #[command(flatten)]
        encrypt: EncryptArgs,
        files: Vec<PathBuf>,
    },
    /// Encrypt strings into `!vault |` YAML values.
    #[command(name = "encrypt_string", alias = "encrypt-string")]
    EncryptString(EncryptString),
    /// Encrypt vaulted files again with a new password.
    Rekey {
        #[command(flatten)]
        vault: VaultArgs,
        #[command(flatten)]
        encrypt: EncryptArgs,
        /// The new password's file.
        #[arg(long = "new-vault-password-file", conflicts_with = "new_vault_id")]
        new_vault_password_file: Option<PathBuf>,
        /// The new vault identity, `LABEL@SOURCE`.
        #[arg(long = "new-vault-id")]
        new_vault_id: Option<String>,
        files: Vec<PathBuf>,
    },
}

#[derive(Args, Clone)]
pub struct EncryptArgs {
    /// The vault id to encrypt with (required when more than one is given).
    #[arg(long = "encrypt-vault-id")]
    encrypt_vault_id: Option<String>,
}

/// An error `tend vault` reports with ansible-vault's bad-options exit code.
#[derive(Debug)]
struct OptionsError(String);

impl std::fmt::Display for OptionsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OptionsError {}

fn options_error(message: impl Into<String>) -> anyhow::Error {
    OptionsError(message.into()).into()
}

/// Runs `tend vault ...`; the exit code as ansible-vault's (0, 1 for errors, 5 for options).
pub fn command(command: VaultCommand) -> u8 {
    match run(command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("[ERROR]: {e:#}");
            if e.downcast_ref::<OptionsError>().is_some() {
                EXIT_BAD_OPTIONS
            } else {
                1
            }
        }
    }
}

fn run(command: VaultCommand) -> Result<()> {
    match command {
        VaultCommand::Encrypt {
            vault,
            encrypt,
            output,
            files,
        } => {
            check_output(&output, &files)?;
            let (id, secret) = encrypt_secret(&vault, &encrypt)?;
            let files = stdin_if_none(files);
            if files == [PathBuf::from("-")] && std::io::stdin().is_terminal() {
                eprintln!("Reading plaintext input from stdin");
            }
            for file in &files {
                let plaintext = read_input(file)?;
                let text = tend_vault::encrypt(&plaintext, &secret, Some(&id))?;
                write_output(text.as_bytes(), output.as_deref().unwrap_or(file), None)?;
            }
            if std::io::stdout().is_terminal() {
                eprintln!("Encryption successful");
            }
        }
        VaultCommand::Decrypt {
            vault,
            output,
            files,
        } => {
            check_output(&output, &files)?;
            let ring = decrypt_keyring(&vault)?;
            let files = stdin_if_none(files);
            if files == [PathBuf::from("-")] && std::io::stdin().is_terminal() {
                eprintln!("Reading ciphertext input from stdin");
            }
            for file in &files {
                let text = read_input(file)?;
                let plain = ring
                    .decrypt(&text)
                    .map_err(|e| anyhow!("{e} for {}", file.display()))?;
                write_output(&plain.plaintext, output.as_deref().unwrap_or(file), None)?;
            }
            if std::io::stdout().is_terminal() {
                eprintln!("Decryption successful");
            }
        }
        VaultCommand::View { vault, files } => {
            let ring = decrypt_keyring(&vault)?;
            let mut out = std::io::stdout().lock();
            for file in &files {
                let text = read_input(file)?;
                let plain = ring
                    .decrypt(&text)
                    .map_err(|e| anyhow!("{e} for {}", file.display()))?;
                out.write_all(&plain.plaintext)?;
            }
            out.flush()?;
        }
        VaultCommand::Create {
            vault,
            encrypt,
            skip_tty_check,
            files,
        } => {
            // ansible-vault asks for the password before it looks at the arguments.
            let (id, secret) = encrypt_secret(&vault, &encrypt)?;
            let [file] = files.as_slice() else {
                return Err(options_error(
                    "ansible-vault create can take only one filename argument",
                ));
            };
            if !std::io::stdout().is_terminal() && !skip_tty_check {
                return Err(options_error("not a tty, editor cannot be opened"));
            }
            create(file, &secret, &id)?;
        }
        VaultCommand::Edit {
            vault,
            encrypt: _,
            files,
        } => {
            let ring = decrypt_keyring(&vault)?;
            for file in &files {
                edit(&ring, file)?;
            }
        }
        VaultCommand::EncryptString(args) => encrypt_string(args)?,
        VaultCommand::Rekey {
            vault,
            encrypt,
            new_vault_password_file,
            new_vault_id,
            files,
        } => {
            let ring = decrypt_keyring(&vault)?;
            let mut new_slugs = Vec::new();
            if let Some(id) = new_vault_id {
                new_slugs.push(id);
            }
            if let Some(file) = new_vault_password_file {
                new_slugs.push(format!("{DEFAULT_ID}@{}", file.display()));
            }
            if vault.ask_vault_pass || new_slugs.is_empty() {
                new_slugs.push(format!("{DEFAULT_ID}@prompt_ask_vault_pass"));
            }
            let new_ring = keyring_from(&new_slugs, Purpose::NewPassword)?;
            if new_ring.is_empty() {
                return Err(options_error(
                    "A new vault password is required to use Ansible's Vault rekey",
                ));
            }
            let (new_id, new_secret) =
                new_ring.encrypt_secret(encrypt.encrypt_vault_id.as_deref())?;
            for file in &files {
                let path = fs::canonicalize(file)
                    .with_context(|| format!("Unable to read source file ({})", file.display()))?;
                let text = read_input(&path)?;
                let plain = ring
                    .decrypt(&text)
                    .map_err(|e| anyhow!("{e} for {}", file.display()))?;
                let again = tend_vault::encrypt(&plain.plaintext, new_secret, Some(new_id))?;
                let meta = fs::metadata(&path)?;
                write_output(again.as_bytes(), &path, Some(&meta))?;
            }
            eprintln!("Rekey successful");
        }
    }
    Ok(())
}

fn check_output(output: &Option<PathBuf>, files: &[PathBuf]) -> Result<()> {
    if output.is_some() && files.len() > 1 {
        return Err(options_error(
            "At most one input file may be used with the --output option",
        ));
    }
    Ok(())
}

fn stdin_if_none(files: Vec<PathBuf>) -> Vec<PathBuf> {
    if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files
    }
}

/// The secrets to decrypt with; `ansible-vault` asks when no source is given.
fn decrypt_keyring(vault: &VaultArgs) -> Result<Keyring> {
    let ring = keyring(vault, Purpose::Decrypt, true)?;
    if ring.is_empty() {
        return Err(options_error(
            "A vault password is required to use Ansible's Vault",
        ));
    }
    Ok(ring)
}

/// The id and secret to encrypt with: `--encrypt-vault-id`'s, or the only one given.
fn encrypt_secret(vault: &VaultArgs, encrypt: &EncryptArgs) -> Result<(String, Secret)> {
    let ring = keyring(vault, Purpose::NewPassword, true)?;
    if ring.ids().len() > 1 && encrypt.encrypt_vault_id.is_none() {
        return Err(options_error(format!(
            "The vault-ids {} are available to encrypt. Specify the vault-id to encrypt with --encrypt-vault-id",
            ring.ids().join(",")
        )));
    }
    if ring.is_empty() {
        return Err(options_error(
            "A vault password is required to use Ansible's Vault",
        ));
    }
    let (id, secret) = ring.encrypt_secret(encrypt.encrypt_vault_id.as_deref())?;
    Ok((id.to_string(), secret.clone()))
}

/// A file's bytes, or stdin's for `-` (`VaultEditor.read_data`).
fn read_input(file: &Path) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    if file == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut data)
            .context("Unable to read source file (-)")?;
    } else {
        data = fs::read(file)
            .with_context(|| format!("Unable to read source file ({})", file.display()))?;
    }
    Ok(data)
}

/// Writes `data` to stdout (`-`) or atomically to `path`: a new file in the same directory,
/// created readable by its owner only, renamed over the old one. `keep` gives the mode and
/// owner to keep (rekey and edit, as Ansible keeps them); otherwise the file is 0600, as
/// ansible-vault leaves what it encrypts or decrypts.
fn write_output(data: &[u8], path: &Path, keep: Option<&fs::Metadata>) -> Result<()> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()?;
        return Ok(());
    }
    // A symlink is followed, so the file it points at is the one rewritten.
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vault".into());
    let (tmp, mut file) = create_private(dir, &format!(".{name}"))
        .with_context(|| format!("Destination '{}' not writable", dir.display()))?;
    let written = (|| -> Result<()> {
        file.write_all(data)?;
        if let Some(meta) = keep {
            let (uid, gid) = (meta.uid(), meta.gid());
            if (uid, gid) != (file.metadata()?.uid(), file.metadata()?.gid()) {
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
            }
            file.set_permissions(Permissions::from_mode(meta.mode() & 0o7777))?;
        }
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.with_context(|| format!("Unable to write to vault file {}", target.display()))
}

/// A new file only its owner can read, with a fresh name starting with `prefix` in `dir`.
fn create_private(dir: &Path, prefix: &str) -> Result<(PathBuf, fs::File)> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{prefix}.{}.{nanos}.{n}.tmp", std::process::id()));
        // `create_new` refuses an existing file or symlink, so the name cannot be hijacked.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("cannot create a temporary file in {}", dir.display())
}

/// `ansible-vault edit`: the plaintext in a 0600 temporary file for $EDITOR, encrypted again
/// (same secret, same vault id) when it changed; the temporary file is overwritten and removed.
fn edit(ring: &Keyring, file: &Path) -> Result<()> {
    let path = fs::canonicalize(file)
        .with_context(|| format!("Unable to read source file ({})", file.display()))?;
    let text = read_input(&path)?;
    let plain = ring
        .decrypt(&text)
        .map_err(|e| anyhow!("{e} for {}", file.display()))?;
    let envelope = tend_vault::Envelope::parse(&text)?;
    let edited = run_editor(&plain.plaintext, &path, file)?;
    if edited != plain.plaintext.as_slice() {
        let again = tend_vault::encrypt(&edited, &plain.secret, envelope.vault_id.as_deref())?;
        let meta = fs::metadata(&path)?;
        write_output(again.as_bytes(), &path, Some(&meta))?;
    }
    Ok(())
}

/// `ansible-vault create`: $EDITOR on an empty 0600 temporary file, whose content (even empty)
/// is encrypted into `file`, 0600. A missing directory is created (0700, with a warning, as
/// Ansible's umask leaves it); an existing file is refused, before the editor opens and again,
/// atomically, when the new file is linked into place.
fn create(file: &Path, secret: &Secret, id: &str) -> Result<()> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir.filter(|d| !d.exists()) {
        eprintln!("[WARNING]: {} does not exist, creating...", dir.display());
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let exists = || anyhow!("{} exists, please use 'edit' instead", file.display());
    if file.is_file() {
        return Err(exists());
    }
    let plaintext = run_editor(b"", file, file)?;
    let text = tend_vault::encrypt(&plaintext, secret, Some(id))?;
    let dir = dir.unwrap_or(Path::new("."));
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vault".into());
    let (tmp, mut handle) = create_private(dir, &format!(".{name}"))
        .with_context(|| format!("Destination '{}' not writable", dir.display()))?;
    let written = (|| -> Result<()> {
        handle.write_all(text.as_bytes())?;
        handle.sync_all()?;
        // A link, unlike a rename, never replaces a file created while the editor was open.
        fs::hard_link(&tmp, file).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(),
            _ => anyhow::Error::new(e)
                .context(format!("Unable to write to vault file {}", file.display())),
        })
    })();
    let _ = fs::remove_file(&tmp);
    written
}

/// Runs $EDITOR on a 0600 temporary file holding `initial` (named with `path`'s extension, for
/// the editor's syntax highlighting) and returns what it saved; the file is then overwritten
/// and removed. `file` is the name the user gave, for messages.
fn run_editor(initial: &[u8], path: &Path, file: &Path) -> Result<Vec<u8>> {
    let tmp_dir = std::env::temp_dir();
    let (tmp, mut handle) = create_private(&tmp_dir, "tend-vault-edit")?;
    let tmp = match path.extension() {
        Some(ext) => {
            let with_ext = tmp.with_extension(format!("tmp.{}", ext.to_string_lossy()));
            if let Err(e) = fs::rename(&tmp, &with_ext) {
                shred(&tmp);
                return Err(e.into());
            }
            with_ext
        }
        None => tmp,
    };
    let result = (|| -> Result<Vec<u8>> {
        handle.write_all(initial)?;
        handle.sync_all()?;
        drop(handle);
        let editor = std::env::var("EDITOR")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| "vi".into());
        // `$EDITOR` may carry arguments (`code --wait`), as Ansible's shlex split allows.
        let status = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(&tmp)
            .status()
            .with_context(|| format!("Unable to execute the command \"{editor}\""))?;
        if !status.success() {
            bail!(
                "the editor \"{editor}\" exited with {status}; nothing was written to {}",
                file.display()
            );
        }
        Ok(fs::read(&tmp)?)
    })();
    shred(&tmp);
    result
}

/// Overwrites a plaintext temporary file with zeros before removing it.
fn shred(path: &Path) {
    if let Ok(meta) = fs::metadata(path) {
        if let Ok(mut f) = OpenOptions::new().write(true).open(path) {
            let zeros = vec![0u8; meta.len() as usize];
            let _ = f.write_all(&zeros);
            let _ = f.sync_all();
        }
    }
    let _ = fs::remove_file(path);
}

/// `tend vault encrypt_string`'s options.
#[derive(Args)]
pub struct EncryptString {
    #[command(flatten)]
    vault: VaultArgs,
    #[command(flatten)]
    encrypt: EncryptArgs,
    /// Where to write instead of stdout.
    #[arg(long = "output")]
    output: Option<PathBuf>,
    /// Ask for the string to encrypt.
    #[arg(short = 'p', long = "prompt")]
    prompt: bool,
    /// Show the string typed at --prompt.
    #[arg(long = "show-input")]
    show_input: bool,
    /// The variable name for each string, in order; repeatable.
    #[arg(short = 'n', long = "name")]
    names: Vec<String>,
    /// The variable name for the string read from stdin.
    #[arg(long = "stdin-name")]
    stdin_name: Option<String>,
    /// Strings to encrypt; `-` (or none) reads stdin.
    strings: Vec<String>,
}

/// `ansible-vault encrypt_string`: each string as a `name: !vault |` block (10-space indent).
fn encrypt_string(args: EncryptString) -> Result<()> {
    let read_stdin = args.strings.iter().any(|s| s == "-")
        || args.stdin_name.is_some()
        || (args.strings.is_empty() && !args.prompt);
    if args.prompt && read_stdin {
        return Err(options_error(
            "The --prompt option is not supported if also reading input from stdin",
        ));
    }
    let (id, secret) = encrypt_secret(&args.vault, &args.encrypt)?;
    // (plaintext, where it came from, variable name)
    let mut items: Vec<(Vec<u8>, &str, Option<String>)> = Vec::new();
    if args.prompt {
        let name = prompt_line("Variable name (enter for no name): ", true)?;
        let msg = if args.show_input {
            "String to encrypt:"
        } else {
            "String to encrypt (hidden): "
        };
        let text = prompt_line(msg, args.show_input)?;
        if text.is_empty() {
            return Err(options_error(
                "The plaintext provided from the prompt was empty, not encrypting",
            ));
        }
        items.push((
            text.into_bytes(),
            "the interactive prompt",
            (!name.is_empty()).then_some(name),
        ));
    }
    if read_stdin {
        if std::io::stdout().is_terminal() {
            eprintln!("Reading plaintext input from stdin. (ctrl-d to end input, twice if your content does not already have a newline)");
        }
        let mut text = Vec::new();
        std::io::stdin().read_to_end(&mut text)?;
        if text.is_empty() {
            return Err(options_error("stdin was empty, not encrypting"));
        }
        items.push((text, "stdin", args.stdin_name.clone()));
    }
    let strings: Vec<&String> = args.strings.iter().filter(|s| *s != "-").collect();
    if !args.names.is_empty() && strings.len() > args.names.len() {
        eprintln!("The number of --name options do not match the number of args.");
        eprintln!(
            "The last named variable will be \"{}\". The rest will not have names.",
            args.names[args.names.len() - 1]
        );
    }
    for (i, text) in strings.iter().enumerate() {
        if text.is_empty() {
            return Err(options_error(
                "The plaintext provided from the command line args was empty, not encrypting",
            ));
        }
        items.push((
            text.as_bytes().to_vec(),
            "the command line args",
            args.names.get(i).cloned(),
        ));
    }
    let several = items.len() > 1;
    let mut out = String::new();
    for (index, (plaintext, source, name)) in items.iter().enumerate() {
        let text = tend_vault::encrypt(plaintext, &secret, Some(&id))?;
        if several {
            match name {
                Some(name) => eprintln!(
                    "# The encrypted version of variable (\"{name}\", the string #{} from {source}).",
                    index + 1
                ),
                None => eprintln!(
                    "# The encrypted version of the string #{} from {source}.)",
                    index + 1
                ),
            }
        }
        out.push_str(&format_block(&text, name.as_deref()));
        out.push('\n');
    }
    write_output(
        out.as_bytes(),
        args.output.as_deref().unwrap_or(Path::new("-")),
        None,
    )?;
    if std::io::stdout().is_terminal() {
        eprintln!("Encryption successful");
    }
    Ok(())
}

/// `format_ciphertext_yaml`: `[name: ]!vault |` and the vault text indented by 10.
fn format_block(ciphertext: &str, name: Option<&str>) -> String {
    let mut lines = vec![match name {
        Some(name) => format!("{name}: !vault |"),
        None => "!vault |".to_string(),
    }];
    lines.extend(ciphertext.lines().map(|l| format!("          {l}")));
    lines.join("\n")
}

fn prompt_line(prompt: &str, visible: bool) -> Result<String> {
    if !visible {
        return Ok(read_secret_line(prompt)?.unwrap_or_default());
    }
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_id_slugs_in_ansible_order() {
        let args = VaultArgs {
            vault_ids: vec!["dev@dev.txt".into(), "plain.txt".into()],
            vault_password_files: vec![PathBuf::from("pw.txt")],
            ask_vault_pass: true,
        };
        let slugs = vault_id_slugs(&args, false);
        let tail: Vec<&str> = slugs.iter().map(String::as_str).rev().take(4).collect();
        assert_eq!(
            tail,
            vec![
                "default@prompt_ask_vault_pass",
                "default@pw.txt",
                "plain.txt",
                "dev@dev.txt"
            ]
        );
        assert_eq!(split_vault_id("dev@a@b"), (Some("dev"), "a@b"));
        assert_eq!(split_vault_id("file"), (None, "file"));
        assert!(vault_id_slugs(&VaultArgs::default(), true)
            .iter()
            .any(|s| s == "default@prompt_ask_vault_pass"));
    }

    #[test]
    fn block_format_matches_encrypt_string() {
        let block = format_block("$ANSIBLE_VAULT;1.1;AES256\n6162\n", Some("pw"));
        assert_eq!(
            block,
            "pw: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n          6162"
        );
    }

    #[test]
    fn atomic_write_keeps_or_restricts_the_mode() {
        let dir = std::env::temp_dir().join(format!("tend-vault-cli-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("f.yml");
        fs::write(&file, "old").expect("write");
        fs::set_permissions(&file, Permissions::from_mode(0o640)).expect("chmod");
        let meta = fs::metadata(&file).expect("meta");
        write_output(b"new", &file, Some(&meta)).expect("keep");
        assert_eq!(fs::read(&file).expect("read"), b"new");
        assert_eq!(fs::metadata(&file).expect("meta").mode() & 0o777, 0o640);
        write_output(b"newer", &file, None).expect("private");
        assert_eq!(fs::metadata(&file).expect("meta").mode() & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(&dir).expect("ls").collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
