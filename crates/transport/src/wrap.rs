//! Transports that wrap another transport to change how commands run: privilege escalation
//! (`become`) and `environment`.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{
    quote, ExecOutput, ExecRequest, Output, Secret, Session, StartRequest, Transport,
    TransportError,
};

/// How `become` switches user (`become_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BecomeMethod {
    #[default]
    Sudo,
    Su,
}

impl BecomeMethod {
    /// The method named as in a playbook, `None` for one tend does not implement.
    pub fn parse(name: &str) -> Option<BecomeMethod> {
        match name {
            "sudo" => Some(BecomeMethod::Sudo),
            "su" => Some(BecomeMethod::Su),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BecomeMethod::Sudo => "sudo",
            BecomeMethod::Su => "su",
        }
    }

    /// What the program prints when the password was wrong (Ansible's `fail` strings).
    fn failure_texts(self) -> &'static [&'static str] {
        match self {
            BecomeMethod::Sudo => &["Sorry, try again.", "incorrect password attempt"],
            BecomeMethod::Su => &["Authentication failure"],
        }
    }

    /// What the program prints when it needs a password it was not given.
    fn missing_texts(self) -> &'static [&'static str] {
        match self {
            BecomeMethod::Sudo => &[
                "Sorry, a password is required to run sudo",
                "sudo: a password is required",
            ],
            BecomeMethod::Su => &[],
        }
    }
}

/// `su` prompts Ansible recognises (its `SU_PROMPT_LOCALIZATIONS`, the common part), matched
/// at the start of the last line, case-insensitively, optionally after `<user>'s `, and
/// followed by a colon.
const SU_PROMPTS: &[&str] = &[
    "Password",
    "Passwort",
    "Mot de passe",
    "Contraseña",
    "Senha",
    "Wachtwoord",
    "Lösenord",
    "Adgangskode",
    "Passord",
    "Salasana",
    "Hasło",
    "Heslo",
    "Jelszó",
    "Parola",
    "Пароль",
    "Лозинка",
    "Κωδικός",
    "密码",
    "密碼",
    "口令",
    "パスワード",
    "암호",
    "비밀번호",
];

/// How long `become` waits by default for the password prompt or for proof that the user was
/// switched, before it gives up on the command.
pub const DEFAULT_BECOME_TIMEOUT: Duration = Duration::from_secs(12);

/// `TEND_BECOME_PTY=1` runs `su` on a pseudo-terminal from the start (for an `su` that wants
/// one but does not say "must be run from a terminal").
pub const PTY_ENV: &str = "TEND_BECOME_PTY";

/// Runs every command as another user (`become: true`), through `sudo` or `su`.
///
/// Without a password, `sudo` runs as `sudo -H -n -u USER -- /bin/sh -c CMD` in one go. With a
/// password (and always for `su`) the command is started interactively ([`Transport::start`]),
/// as Ansible does: it is wrapped as `/bin/sh -c 'echo BECOME-SUCCESS-<random>; CMD'`; the
/// password is written to its standard input when the prompt appears (sudo's is made unique
/// with `-p`); once the marker line is seen the user was switched, the marker and prompts are
/// cut from the output, and the command's own stdin follows. A second prompt, the program's
/// "wrong password" words, or no marker within the timeout fail the command with Ansible's
/// words ("Incorrect sudo password", "Missing su password", "Timeout ...") and abandon it.
///
/// `su` runs without a terminal first (util-linux `su`, on most Linux systems, reads the
/// password from its standard input) and with `-s /bin/sh`, so that accounts whose shell is
/// `nologin` can be switched to. If it answers "must be run from a terminal", the command is
/// run again on a pseudo-terminal, where stdout and stderr arrive merged and the command's
/// stdin is carried base64-encoded (decoded on the host with `base64 -d`).
pub struct BecomeTransport {
    inner: Arc<dyn Transport>,
    user: String,
    method: BecomeMethod,
    password: Option<Secret>,
    timeout: Duration,
    pty: bool,
}

/// Why an interactive attempt ended without running the command.
enum Attempt {
    Failed(TransportError),
    /// `su` wants a terminal; try again on one.
    NeedsTerminal,
}

impl From<TransportError> for Attempt {
    fn from(e: TransportError) -> Self {
        Attempt::Failed(e)
    }
}

fn become_error(reason: impl Into<String>) -> TransportError {
    TransportError::Become {
        reason: reason.into(),
    }
}

impl BecomeTransport {
    /// Passwordless `sudo` to `user`; see the `with_*` methods for the rest.
    pub fn new(inner: Arc<dyn Transport>, user: impl Into<String>) -> Self {
        BecomeTransport {
            inner,
            user: user.into(),
            method: BecomeMethod::Sudo,
            password: None,
            timeout: DEFAULT_BECOME_TIMEOUT,
            pty: std::env::var_os(PTY_ENV).is_some_and(|v| v == "1"),
        }
    }

    pub fn with_method(mut self, method: BecomeMethod) -> Self {
        self.method = method;
        self
    }

    /// The password to answer the prompt with (`-K`, `ansible_become_password`).
    pub fn with_password(mut self, password: Option<Secret>) -> Self {
        self.password = password;
        self
    }

    /// How long to wait for the prompt or for the switch to succeed.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Run `su` on a pseudo-terminal from the start instead of only when it asks for one.
    pub fn with_pty(mut self, pty: bool) -> Self {
        self.pty = pty;
        self
    }

    /// The command line that runs `command` as the become user with passwordless sudo.
    pub fn wrap(&self, command: &str) -> String {
        // -n: never prompt (a password prompt would hang the channel); -H: the target user's HOME.
        format!(
            "sudo -H -n -u {} -- /bin/sh -c {}",
            quote(&self.user),
            quote(command)
        )
    }

    /// The command line for an interactive run: `inner` runs as the become user after the
    /// switch; `prompt` is sudo's.
    fn escalate(&self, inner: &str, prompt: &str) -> String {
        match self.method {
            BecomeMethod::Sudo => format!(
                "sudo -H -S -p {} -u {} -- /bin/sh -c {}",
                quote(prompt),
                quote(&self.user),
                quote(inner)
            ),
            BecomeMethod::Su => format!("su -s /bin/sh {} -c {}", quote(&self.user), quote(inner)),
        }
    }

    /// What runs after the switch: the marker, then the command. On a terminal, echo and
    /// newline translation are turned off, and the command's input is decoded from base64
    /// (`^D` ends it) or is `/dev/null`.
    fn inner_command(marker: &str, command: &str, pty: bool, has_stdin: bool) -> String {
        match (pty, has_stdin) {
            (false, _) => format!("echo {marker}; {command}"),
            (true, false) => {
                format!("stty -echo -onlcr 2>/dev/null; echo {marker}; exec </dev/null; {command}")
            }
            (true, true) => format!(
                "stty -echo -onlcr 2>/dev/null; echo {marker}; base64 -d | /bin/sh -c {}",
                quote(command)
            ),
        }
    }

    /// Whether `text`'s last line is a password prompt for this method.
    fn is_prompt(&self, tail: &[u8], sudo_prompt: &str) -> bool {
        let last = match tail.iter().rposition(|&b| b == b'\n') {
            Some(i) => &tail[i + 1..],
            None => tail,
        };
        let last = String::from_utf8_lossy(last);
        match self.method {
            BecomeMethod::Sudo => last.trim_end().ends_with(sudo_prompt),
            BecomeMethod::Su => is_su_prompt(last.trim_start_matches('\r')),
        }
    }

    async fn exec_interactive(
        &self,
        request: ExecRequest<'_>,
        pty: bool,
    ) -> Result<ExecOutput, Attempt> {
        let id = random_id();
        let marker = format!("BECOME-SUCCESS-{id}");
        let sudo_prompt = format!("[sudo via tend, key={id}] password:");
        let inner = Self::inner_command(&marker, request.command, pty, request.stdin.is_some());
        let command = self.escalate(&inner, &sudo_prompt);
        let mut session = self
            .inner
            .start(StartRequest {
                command: &command,
                pty,
            })
            .await?;

        let method = self.method.name();
        let mut out = Vec::new();
        let mut err = Vec::new();
        // Where each buffer stood when the password was sent: a prompt after that is a
        // second one.
        let mut answered: Option<(usize, usize)> = None;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let body_start = loop {
            if let Some(end) = marker_line_end(&out, marker.as_bytes()) {
                break end;
            }
            let (seen_out, seen_err) = answered.unwrap_or((0, 0));
            let prompted = self.is_prompt(&out[seen_out..], &sudo_prompt)
                || self.is_prompt(&err[seen_err..], &sudo_prompt);
            if prompted {
                if answered.is_some() {
                    return Err(become_error(format!("Incorrect {method} password")).into());
                }
                let Some(password) = &self.password else {
                    return Err(become_error(format!("Missing {method} password")).into());
                };
                let mut line = password.expose().as_bytes().to_vec();
                line.push(b'\n');
                session.send(&line).await?;
                answered = Some((out.len(), err.len()));
            }
            let next = match tokio::time::timeout_at(deadline, session.output()).await {
                Ok(next) => next?,
                Err(_) => {
                    let said = self.scrub(&out, &err, &sudo_prompt);
                    return Err(become_error(format!(
                        "Timeout ({}s) waiting for privilege escalation prompt: {}",
                        self.timeout.as_secs(),
                        said.trim()
                    ))
                    .into());
                }
            };
            match next {
                Some(Output::Stdout(d)) => out.extend_from_slice(&d),
                Some(Output::Stderr(d)) => err.extend_from_slice(&d),
                None => {
                    // The program ended before the switch: a refusal of some kind.
                    let rest = session.finish(None).await?;
                    out.extend_from_slice(&rest.stdout);
                    err.extend_from_slice(&rest.stderr);
                    let said = self.scrub(&out, &err, &sudo_prompt);
                    if self.method == BecomeMethod::Su
                        && !pty
                        && said.contains("must be run from a terminal")
                    {
                        return Err(Attempt::NeedsTerminal);
                    }
                    if answered.is_some()
                        && self.method.failure_texts().iter().any(|t| said.contains(t))
                    {
                        return Err(become_error(format!("Incorrect {method} password")).into());
                    }
                    if self.method.missing_texts().iter().any(|t| said.contains(t)) {
                        return Err(become_error(format!("Missing {method} password")).into());
                    }
                    return Ok(ExecOutput {
                        exit_code: rest.exit_code,
                        stdout: self.scrub_bytes(&out),
                        stderr: self.scrub_bytes(&self.without_prompts(&err, &sudo_prompt)),
                    });
                }
            }
        };

        let encoded;
        let stdin = match (pty, request.stdin) {
            (true, Some(data)) => {
                encoded = base64_lines(data);
                Some(encoded.as_slice())
            }
            (_, stdin) => stdin,
        };
        let rest = session.finish(stdin).await?;
        let mut stdout = out.split_off(body_start);
        stdout.extend_from_slice(&rest.stdout);
        // Whatever sudo or su said before the switch (the prompt) is not the command's.
        let mut stderr = if answered.is_some() || self.method == BecomeMethod::Su {
            let kept = self.without_prompts(&err, &sudo_prompt);
            self.scrub_bytes(&kept)
        } else {
            err
        };
        stderr.extend_from_slice(&rest.stderr);
        Ok(ExecOutput {
            exit_code: rest.exit_code,
            stdout,
            stderr,
        })
    }

    /// `bytes` with sudo's prompt (and su's) removed.
    fn without_prompts(&self, bytes: &[u8], sudo_prompt: &str) -> Vec<u8> {
        let text = String::from_utf8_lossy(bytes);
        let kept: String = match self.method {
            BecomeMethod::Sudo => text.replace(sudo_prompt, ""),
            BecomeMethod::Su => text
                .split_inclusive('\n')
                .map(|line| match su_prompt_len(line) {
                    Some(n) => &line[n..],
                    None => line,
                })
                .collect(),
        };
        let kept = kept.trim_start_matches(['\r', '\n']);
        kept.as_bytes().to_vec()
    }

    /// The password, should a program have echoed it, replaced by `********`.
    fn scrub_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        match &self.password {
            Some(p) if !p.expose().is_empty() => {
                let text = String::from_utf8_lossy(bytes);
                if text.contains(p.expose()) {
                    text.replace(p.expose(), "********").into_bytes()
                } else {
                    bytes.to_vec()
                }
            }
            _ => bytes.to_vec(),
        }
    }

    /// Everything said before the switch, for a message: prompts cut, password scrubbed.
    fn scrub(&self, out: &[u8], err: &[u8], sudo_prompt: &str) -> String {
        let mut all = self.without_prompts(out, sudo_prompt);
        all.extend(self.without_prompts(err, sudo_prompt));
        String::from_utf8_lossy(&self.scrub_bytes(&all)).into_owned()
    }
}

/// The length of the su prompt `line` starts with, if it starts with one: an optional
/// `<word>'s `, a known prompt word, an optional space, a colon (or a fullwidth one), an
/// optional space.
fn su_prompt_len(line: &str) -> Option<usize> {
    let lower = line.to_lowercase();
    // Lower-casing may change byte lengths of non-ASCII text; only ASCII offsets are reused.
    if lower.len() != line.len() {
        return su_prompt_len_exact(line, line);
    }
    su_prompt_len_exact(line, &lower)
}

fn su_prompt_len_exact(line: &str, lower: &str) -> Option<usize> {
    let mut rest = lower;
    if let Some(pos) = rest.find("'s ") {
        let owner = &rest[..pos];
        if !owner.is_empty() && owner.chars().all(|c| c.is_alphanumeric() || c == '_') {
            rest = &rest[pos + 3..];
        }
    }
    let word = SU_PROMPTS
        .iter()
        .find(|p| rest.starts_with(&p.to_lowercase()))?;
    rest = &rest[word.to_lowercase().len()..];
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    rest = rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))?;
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    Some(line.len() - rest.len())
}

fn is_su_prompt(last_line: &str) -> bool {
    su_prompt_len(last_line).is_some()
}

/// Where the output after the marker line starts, once the whole marker line is in.
fn marker_line_end(out: &[u8], marker: &[u8]) -> Option<usize> {
    let at = out.windows(marker.len()).position(|w| w == marker)?;
    let newline = out[at..].iter().position(|&b| b == b'\n')?;
    Some(at + newline + 1)
}

/// 32 random lowercase letters, as Ansible's `BECOME-SUCCESS-` keys: unique, not secret.
pub(crate) fn random_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let mut id = String::with_capacity(32);
    for round in 0..4u64 {
        let mut h = state.build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u64(round);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.write_u128(nanos);
        let mut bits = h.finish();
        for _ in 0..8 {
            id.push(char::from(b'a' + (bits % 26) as u8));
            bits /= 26;
        }
    }
    id
}

/// `data` as base64 in 76-character lines, then `^D` to end a terminal's input.
fn base64_lines(data: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(data.len() * 4 / 3 + data.len() / 57 + 8);
    for line in data.chunks(57) {
        for chunk in line.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]);
                } else {
                    out.push(b'=');
                }
            }
        }
        out.push(b'\n');
    }
    out.push(0x04);
    out
}

#[async_trait::async_trait]
impl Transport for BecomeTransport {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        if self.method == BecomeMethod::Sudo && self.password.is_none() {
            let wrapped = self.wrap(request.command);
            let out = self
                .inner
                .exec(ExecRequest {
                    command: &wrapped,
                    stdin: request.stdin,
                    login_shell: false,
                })
                .await?;
            if out.exit_code == 1 {
                let said = out.stderr_lossy();
                if BecomeMethod::Sudo
                    .missing_texts()
                    .iter()
                    .any(|t| said.contains(t))
                {
                    return Err(become_error("Missing sudo password"));
                }
            }
            return Ok(out);
        }
        match self.exec_interactive(request, self.pty).await {
            Ok(out) => Ok(out),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::NeedsTerminal) => match self.exec_interactive(request, true).await {
                Ok(out) => Ok(out),
                Err(Attempt::Failed(e)) => Err(e),
                Err(Attempt::NeedsTerminal) => Err(become_error("su: must be run from a terminal")),
            },
        }
    }

    async fn close(&self) {
        self.inner.close().await
    }
}

/// Exports environment variables for every command (`environment:` on a task or play).
pub struct EnvTransport {
    inner: Arc<dyn Transport>,
    exports: String,
}

impl EnvTransport {
    /// `vars` are exported in order; names must be valid shell identifiers.
    pub fn new(inner: Arc<dyn Transport>, vars: &[(String, String)]) -> Self {
        let exports = vars
            .iter()
            .map(|(k, v)| format!("{k}={}; export {k}; ", quote(v)))
            .collect();
        EnvTransport { inner, exports }
    }

    /// Whether `name` can be exported by a POSIX shell.
    pub fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
}

#[async_trait::async_trait]
impl Transport for EnvTransport {
    async fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        let command = format!("{}{}", self.exports, request.command);
        self.inner
            .exec(ExecRequest {
                command: &command,
                stdin: request.stdin,
                login_shell: request.login_shell,
            })
            .await
    }

    async fn start(&self, request: StartRequest<'_>) -> Result<Box<dyn Session>, TransportError> {
        let command = format!("{}{}", self.exports, request.command);
        self.inner
            .start(StartRequest {
                command: &command,
                pty: request.pty,
            })
            .await
    }

    async fn close(&self) {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScriptedInput, ScriptedProgram, ScriptedTransport};

    /// The `BECOME-SUCCESS-...` marker in a wrapped command line.
    fn marker_in(command: &str) -> String {
        let at = command.find("BECOME-SUCCESS-").expect("marker");
        command[at..at + "BECOME-SUCCESS-".len() + 32].to_string()
    }

    /// The prompt given to sudo with `-p '...'`.
    fn prompt_in(command: &str) -> String {
        let at = command.find("-p '").expect("prompt") + 4;
        let len = command[at..].find('\'').expect("quoted");
        command[at..at + len].to_string()
    }

    /// A sudo that wants `secret`, then runs a command that prints "ran\n" and echoes stdin.
    fn fake_sudo(command: &str) -> ScriptedProgram {
        let prompt = prompt_in(command);
        let marker = format!("{}\n", marker_in(command));
        let mut authenticated = false;
        let mut stdin = Vec::new();
        Box::new(move |input| match input {
            ScriptedInput::Start => (vec![Output::Stderr(prompt.clone().into_bytes())], None),
            ScriptedInput::Data(d) if !authenticated => {
                if d == b"secret\n" {
                    authenticated = true;
                    (
                        vec![
                            Output::Stdout(marker.clone().into_bytes()),
                            Output::Stdout(b"ran\n".to_vec()),
                        ],
                        None,
                    )
                } else {
                    let mut said = b"Sorry, try again.\n".to_vec();
                    said.extend_from_slice(prompt.as_bytes());
                    (vec![Output::Stderr(said)], None)
                }
            }
            ScriptedInput::Data(d) => {
                stdin.extend_from_slice(d);
                (Vec::new(), None)
            }
            ScriptedInput::Eof if authenticated => (vec![Output::Stdout(stdin.clone())], Some(0)),
            ScriptedInput::Eof => (
                vec![Output::Stderr(b"sudo: no password was provided\n".to_vec())],
                Some(1),
            ),
        })
    }

    fn sudo_host() -> ScriptedTransport {
        ScriptedTransport::new(|_, _| Ok(ExecOutput::default()))
            .with_sessions(|command, _| fake_sudo(command))
    }

    fn become_sudo(host: &ScriptedTransport, password: &str) -> BecomeTransport {
        BecomeTransport::new(Arc::new(host.clone()), "root")
            .with_password(Some(Secret::new(password)))
            .with_timeout(Duration::from_secs(5))
    }

    #[test]
    fn passwordless_sudo_never_prompts() {
        let t = BecomeTransport::new(Arc::new(sudo_host()), "app user");
        assert_eq!(
            t.wrap("id -un"),
            "sudo -H -n -u 'app user' -- /bin/sh -c 'id -un'"
        );
    }

    #[tokio::test]
    async fn sudo_password_goes_to_the_prompt_and_stdin_follows() {
        let host = sudo_host();
        let t = become_sudo(&host, "secret");
        let out = t
            .exec(ExecRequest::new("cat").with_stdin(b"payload"))
            .await
            .expect("runs");
        assert_eq!(out.exit_code, 0);
        assert_eq!(out.stdout_lossy(), "ran\npayload");
        assert_eq!(
            out.stderr_lossy(),
            "",
            "the prompt is not the command's stderr"
        );
        let commands = host.commands();
        assert_eq!(commands.len(), 1);
        assert!(commands[0].starts_with("sudo -H -S -p '[sudo via tend, key="));
        assert!(commands[0].contains(" -u root -- /bin/sh -c 'echo BECOME-SUCCESS-"));
        assert!(!commands[0].contains("secret"), "{}", commands[0]);
        assert_eq!(host.pty_requests(), vec![false]);
    }

    #[tokio::test]
    async fn a_wrong_sudo_password_fails_as_ansible_says() {
        let t = become_sudo(&sudo_host(), "wrong");
        let err = t.exec(ExecRequest::new("true")).await.expect_err("fails");
        assert_eq!(err.to_string(), "Incorrect sudo password");
        assert!(!err.is_unreachable());
    }

    #[tokio::test]
    async fn a_silent_escalation_times_out() {
        let host = ScriptedTransport::new(|_, _| Ok(ExecOutput::default()))
            .with_sessions(|_, _| Box::new(|_| (Vec::new(), None)));
        let t = BecomeTransport::new(Arc::new(host), "root")
            .with_password(Some(Secret::new("secret")))
            .with_timeout(Duration::from_millis(50));
        let err = t.exec(ExecRequest::new("true")).await.expect_err("fails");
        assert!(
            err.to_string()
                .starts_with("Timeout (0s) waiting for privilege escalation prompt"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn passwordless_sudo_that_wants_one_is_a_missing_password() {
        let host = ScriptedTransport::new(|_, _| {
            Ok(ExecOutput {
                exit_code: 1,
                stdout: Vec::new(),
                stderr: b"sudo: a password is required\n".to_vec(),
            })
        });
        let t = BecomeTransport::new(Arc::new(host), "root");
        let err = t.exec(ExecRequest::new("true")).await.expect_err("fails");
        assert_eq!(err.to_string(), "Missing sudo password");
    }

    /// An su that needs `pw` unless `as_root`; on a terminal (`pty`) everything is stdout and
    /// the prompt ends with the echoed newline.
    fn fake_su(command: &str, pty: bool, as_root: bool) -> ScriptedProgram {
        let marker = format!("{}\n", marker_in(command));
        let mut authenticated = false;
        let mut stdin = Vec::new();
        let say = move |d: &[u8]| {
            if pty {
                Output::Stdout(d.to_vec())
            } else {
                Output::Stderr(d.to_vec())
            }
        };
        Box::new(move |input| match input {
            ScriptedInput::Start if as_root => {
                authenticated = true;
                (vec![Output::Stdout(marker.clone().into_bytes())], None)
            }
            ScriptedInput::Start => (vec![say(b"Password: ")], None),
            ScriptedInput::Data(d) if !authenticated => {
                if d == b"pw\n" {
                    authenticated = true;
                    let mut out = if pty { b"\r\n".to_vec() } else { Vec::new() };
                    out.extend_from_slice(marker.as_bytes());
                    (vec![Output::Stdout(out)], None)
                } else {
                    (vec![say(b"su: Authentication failure\n")], Some(1))
                }
            }
            ScriptedInput::Data(d) => {
                stdin.extend_from_slice(d);
                (Vec::new(), None)
            }
            ScriptedInput::Eof => (
                vec![Output::Stdout(std::mem::take(&mut stdin))],
                Some(if authenticated { 0 } else { 1 }),
            ),
        })
    }

    #[tokio::test]
    async fn su_as_root_needs_no_password() {
        let host = ScriptedTransport::new(|_, _| Ok(ExecOutput::default()))
            .with_sessions(|command, pty| fake_su(command, pty, true));
        let t =
            BecomeTransport::new(Arc::new(host.clone()), "nobody").with_method(BecomeMethod::Su);
        let out = t
            .exec(ExecRequest::new("cat").with_stdin(b"x"))
            .await
            .expect("runs");
        assert_eq!((out.exit_code, out.stdout_lossy()), (0, "x".to_string()));
        assert!(host.commands()[0].starts_with("su -s /bin/sh nobody -c 'echo BECOME-SUCCESS-"));
    }

    #[tokio::test]
    async fn su_with_a_password_and_without_one() {
        let host = ScriptedTransport::new(|_, _| Ok(ExecOutput::default()))
            .with_sessions(|command, pty| fake_su(command, pty, false));
        let su = |password: Option<&str>| {
            BecomeTransport::new(Arc::new(host.clone()), "root")
                .with_method(BecomeMethod::Su)
                .with_password(password.map(Secret::new))
        };
        let out = su(Some("pw"))
            .exec(ExecRequest::new("cat").with_stdin(b"data"))
            .await
            .expect("runs");
        assert_eq!(out.stdout_lossy(), "data");
        assert_eq!(out.stderr_lossy(), "");
        let err = su(Some("nope"))
            .exec(ExecRequest::new("true"))
            .await
            .expect_err("wrong");
        assert_eq!(err.to_string(), "Incorrect su password");
        let err = su(None)
            .exec(ExecRequest::new("true"))
            .await
            .expect_err("missing");
        assert_eq!(err.to_string(), "Missing su password");
    }

    #[tokio::test]
    async fn su_that_wants_a_terminal_is_run_again_on_one() {
        let host = ScriptedTransport::new(|_, _| Ok(ExecOutput::default())).with_sessions(
            |command, pty| {
                if pty {
                    fake_su(command, true, false)
                } else {
                    Box::new(|_| {
                        (
                            vec![Output::Stderr(
                                b"su: must be run from a terminal\n".to_vec(),
                            )],
                            Some(1),
                        )
                    })
                }
            },
        );
        let t = BecomeTransport::new(Arc::new(host.clone()), "root")
            .with_method(BecomeMethod::Su)
            .with_password(Some(Secret::new("pw")));
        let payload: Vec<u8> = (0..=255u8).cycle().take(200).collect();
        let out = t
            .exec(ExecRequest::new("cat").with_stdin(&payload))
            .await
            .expect("runs");
        assert_eq!(host.pty_requests(), vec![false, true]);
        let commands = host.commands();
        assert!(
            commands[1].contains("base64 -d | /bin/sh -c"),
            "{}",
            commands[1]
        );
        // The fake su hands back what it got: the payload, base64-encoded, then ^D.
        assert_eq!(out.stdout, base64_lines(&payload));
        assert!(out.stdout.ends_with(b"\n\x04"));
        assert_eq!(
            &out.stdout[..20],
            b"AAECAwQFBgcICQoLDA0O",
            "standard base64 of 0, 1, 2, ..."
        );
    }

    #[test]
    fn su_prompts_are_recognised_as_ansible_does() {
        for prompt in [
            "Password: ",
            "password:",
            "root's Password: ",
            "Passwort: ",
            "密码：",
        ] {
            assert!(is_su_prompt(prompt), "{prompt:?}");
        }
        for text in ["su: Authentication failure", "Password changed", ""] {
            assert!(!is_su_prompt(text), "{text:?}");
        }
    }

    #[test]
    fn base64_matches_the_standard_encoding() {
        assert_eq!(base64_lines(b""), b"\x04");
        assert_eq!(base64_lines(b"f"), b"Zg==\n\x04");
        assert_eq!(base64_lines(b"foobar"), b"Zm9vYmFy\n\x04");
        let long = base64_lines(&[0u8; 60]);
        assert_eq!(long.iter().position(|&b| b == b'\n'), Some(76));
    }
}
