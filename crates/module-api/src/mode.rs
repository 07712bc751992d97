//! File modes as playbooks write them: octal numbers or strings, and symbolic `u+rwx,g-w`.
//!
//! Ansible's `mode` is a "raw" parameter and this type keeps its rules:
//! - an **integer** is the permission bits as they are. YAML `0644` is the integer 420, which
//!   is `0o644`; but an unquoted `644` is the integer 644, which is `0o1204` (Ansible's
//!   well-known trap, kept so playbooks behave the same);
//! - a **string** is read as octal first (`"0644"`, `"644"`, `"0o644"`), otherwise as
//!   symbolic clauses (`"u=rw,g=r,o=r"`, `"u+x,g-w"`, `"a=rX"`) applied to the file's current
//!   mode exactly as `AnsibleModule._symbolic_mode_to_octal` does;
//! - `preserve` (copy and template only) keeps the source file's mode.
//!
//! A templated string seen while compiling (`"{{ m }}"`) is accepted as is and checked once it
//! has been rendered.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use crate::args::is_template;
use crate::ModuleError;

/// Every bit `chmod` can set: permissions plus setuid, setgid and sticky.
pub const PERM_BITS: u32 = 0o7777;

/// The umask [`ModeArg::resolve`] assumes; modules that know the host's should use
/// [`ModeArg::resolve_with_umask`].
pub const DEFAULT_UMASK: u32 = 0o022;

/// A `mode` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeArg {
    /// Permission bits.
    Octal(u32),
    /// chmod-style clauses, relative to the current mode.
    Symbolic(SymbolicMode),
    /// Keep the source file's mode (copy, template).
    Preserve,
    /// A templated string seen at compile time; it is checked after rendering.
    Template(String),
}

/// A parsed symbolic mode such as `u=rwX,g-w,+t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolicMode {
    text: String,
    clauses: Vec<Clause>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    /// Some of `u`, `g`, `o`, in the order written (`a` expanded).
    who: Vec<char>,
    /// No `who` was written: like `a`, but bits in the umask are left alone (chmod(1)).
    use_umask: bool,
    actions: Vec<(char, String)>,
}

/// Why a mode is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeError(pub String);

impl fmt::Display for ModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModeError {}

impl From<ModeError> for ModuleError {
    fn from(e: ModeError) -> Self {
        ModuleError::failed(e.0)
    }
}

/// Ansible's way of printing a mode in results and diffs (`'0%03o' % mode`): `0644`, `01777`.
pub fn format_mode(mode: u32) -> String {
    format!("0{:03o}", mode & PERM_BITS)
}

impl ModeArg {
    /// Reads a string the way Ansible does: octal, else `preserve`, else symbolic.
    pub fn parse(text: &str) -> Result<ModeArg, ModeError> {
        if is_template(text) {
            return Ok(ModeArg::Template(text.to_string()));
        }
        if let Some(bits) = parse_octal(text) {
            return ModeArg::from_bits(u64::from(bits), text);
        }
        if text == "preserve" {
            return Ok(ModeArg::Preserve);
        }
        SymbolicMode::parse(text).map(ModeArg::Symbolic)
    }

    /// An integer is taken as the bits themselves, never reinterpreted as octal digits.
    pub fn from_int(value: i64) -> Result<ModeArg, ModeError> {
        let bits = u64::try_from(value).map_err(|_| invalid_bits(&value.to_string()))?;
        ModeArg::from_bits(bits, &value.to_string())
    }

    fn from_bits(bits: u64, text: &str) -> Result<ModeArg, ModeError> {
        match u32::try_from(bits) {
            Ok(bits) if bits & !PERM_BITS == 0 => Ok(ModeArg::Octal(bits)),
            _ => Err(invalid_bits(text)),
        }
    }

    /// The permission bits this mode gives a path whose mode is now `current` (`None`: the
    /// path is about to be created), assuming the usual umask 022. See
    /// [`ModeArg::resolve_with_umask`].
    pub fn resolve(&self, current: Option<u32>, is_dir: bool) -> Result<u32, ModeError> {
        self.resolve_with_umask(current, is_dir, DEFAULT_UMASK)
    }

    /// The permission bits this mode gives a path whose mode is now `current`.
    ///
    /// A path about to be created starts from what `mkdir`/`open` would give it
    /// (`0777`/`0666` minus the umask), because Ansible creates first and applies the mode
    /// second. The umask also limits a symbolic clause with no `u`/`g`/`o`/`a` (`+x`).
    pub fn resolve_with_umask(
        &self,
        current: Option<u32>,
        is_dir: bool,
        umask: u32,
    ) -> Result<u32, ModeError> {
        match self {
            ModeArg::Octal(bits) => Ok(*bits),
            ModeArg::Symbolic(sym) => {
                let base = if is_dir { 0o777 } else { 0o666 };
                let start = current.unwrap_or(base & !umask);
                Ok(sym.apply(start, is_dir, umask))
            }
            ModeArg::Preserve => Err(ModeError(
                "mode 'preserve' is only supported by the copy and template modules".into(),
            )),
            ModeArg::Template(text) => Err(ModeError(format!(
                "mode must be in octal or symbolic form, found the unrendered template {text:?}"
            ))),
        }
    }
}

fn invalid_bits(text: &str) -> ModeError {
    ModeError(format!(
        "Invalid mode supplied, only permission info is allowed: {text} (at most 07777)"
    ))
}

/// Python's `int(text, 8)`, which is how Ansible first tries a string mode.
fn parse_octal(text: &str) -> Option<u32> {
    let t = text.trim();
    let digits = t
        .strip_prefix("0o")
        .or_else(|| t.strip_prefix("0O"))
        .unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    // Too many digits to be a mode: report it as out of range rather than as symbolic.
    Some(u32::from_str_radix(digits, 8).unwrap_or(u32::MAX))
}

impl SymbolicMode {
    /// Parses comma-separated clauses: `[ugoa]*([-+=][rwxXstugo]*)+`.
    pub fn parse(text: &str) -> Result<SymbolicMode, ModeError> {
        let bad = || {
            ModeError(format!(
                "mode must be in octal or symbolic form: bad symbolic permission for mode: {text}"
            ))
        };
        let mut clauses = Vec::new();
        for part in text.split(',') {
            let op_at = part.find(['+', '-', '=']).unwrap_or(part.len());
            let (users, rest) = part.split_at(op_at);
            if !users.chars().all(|c| "ugoa".contains(c)) {
                return Err(bad());
            }
            let mut who = Vec::new();
            for c in users.chars() {
                let add: &[char] = if c == 'a' { &['u', 'g', 'o'] } else { &[c] };
                who.extend_from_slice(add);
            }
            let use_umask = who.is_empty();
            if use_umask {
                who = vec!['u', 'g', 'o'];
            }
            let mut actions: Vec<(char, String)> = Vec::new();
            for c in rest.chars() {
                if matches!(c, '+' | '-' | '=') {
                    actions.push((c, String::new()));
                    continue;
                }
                match actions.last_mut() {
                    Some((_, perms)) if "rwxXstugo".contains(c) => perms.push(c),
                    _ => return Err(bad()),
                }
            }
            clauses.push(Clause {
                who,
                use_umask,
                actions,
            });
        }
        Ok(SymbolicMode {
            text: text.to_string(),
            clauses,
        })
    }

    /// Applies the clauses left to right, each operator to `u`, `g`, `o` in turn, as Ansible
    /// does: `X` and the `u`/`g`/`o` copy sources see the mode as changed so far.
    pub fn apply(&self, current: u32, is_dir: bool, umask: u32) -> u32 {
        let mut mode = current & PERM_BITS;
        for clause in &self.clauses {
            for (op, perms) in &clause.actions {
                for &who in &clause.who {
                    let bits = perms.chars().fold(0, |acc, perm| {
                        acc | perm_bits(who, perm, mode, is_dir, clause.use_umask.then_some(umask))
                    });
                    mode = match op {
                        '=' => {
                            let mask = match who {
                                'u' => 0o4700,
                                'g' => 0o2070,
                                _ => 0o1007,
                            };
                            (mode & !mask) | bits
                        }
                        '+' => mode | bits,
                        _ => mode & !bits,
                    };
                }
            }
        }
        mode
    }
}

/// The bits one permission letter stands for, for one of `u`/`g`/`o`, given the mode so far.
fn perm_bits(who: char, perm: char, mode: u32, is_dir: bool, umask: Option<u32>) -> u32 {
    // Position of `who`'s rwx triplet.
    let shift = match who {
        'u' => 6,
        'g' => 3,
        _ => 0,
    };
    let masked = |bit: u32| match umask {
        Some(umask) => bit & !umask,
        None => bit,
    };
    let copy_from = |from_shift: u32| ((mode >> from_shift) & 0o7) << shift;
    match perm {
        'r' => masked(0o4 << shift),
        'w' => masked(0o2 << shift),
        'x' => masked(0o1 << shift),
        'X' if is_dir || mode & 0o111 != 0 => 0o1 << shift,
        's' => match who {
            'u' => 0o4000,
            'g' => 0o2000,
            _ => 0,
        },
        't' if who == 'o' => 0o1000,
        'u' => copy_from(6),
        'g' => copy_from(3),
        'o' => copy_from(0),
        _ => 0,
    }
}

impl fmt::Display for ModeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModeArg::Octal(bits) => f.write_str(&format_mode(*bits)),
            ModeArg::Symbolic(sym) => f.write_str(&sym.text),
            ModeArg::Preserve => f.write_str("preserve"),
            ModeArg::Template(text) => f.write_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for ModeArg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ModeVisitor)
    }
}

struct ModeVisitor;

impl Visitor<'_> for ModeVisitor {
    type Value = ModeArg;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mode: an octal number (0644), a string (\"0644\", \"u=rw,g=r\") or preserve")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ModeArg, E> {
        ModeArg::from_int(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ModeArg, E> {
        ModeArg::from_bits(v, &v.to_string()).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ModeArg, E> {
        ModeArg::parse(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{from_args, ArgMode};
    use serde_json::json;

    fn parse(s: &str) -> ModeArg {
        ModeArg::parse(s).expect("valid mode")
    }

    fn sym(s: &str, current: u32, is_dir: bool) -> u32 {
        parse(s).resolve(Some(current), is_dir).expect("resolves")
    }

    #[test]
    fn integers_are_bits_and_decimal_644_is_ansibles_trap() {
        assert_eq!(ModeArg::from_int(420), Ok(ModeArg::Octal(0o644)));
        assert_eq!(ModeArg::from_int(644), Ok(ModeArg::Octal(0o1204)));
        assert!(ModeArg::from_int(-1).is_err());
        assert!(ModeArg::from_int(0o10000).is_err());
    }

    #[test]
    fn octal_strings() {
        assert_eq!(parse("0644"), ModeArg::Octal(0o644));
        assert_eq!(parse("644"), ModeArg::Octal(0o644));
        assert_eq!(parse("0o755"), ModeArg::Octal(0o755));
        assert_eq!(parse("1777"), ModeArg::Octal(0o1777));
        assert_eq!(parse(" 0600 "), ModeArg::Octal(0o600));
        assert_eq!(parse("preserve"), ModeArg::Preserve);
        let e = ModeArg::parse("100644").expect_err("too big");
        assert!(e.0.contains("only permission info"), "{e}");
        assert!(ModeArg::parse("77777777777777").is_err());
    }

    #[test]
    fn symbolic_modes_follow_ansible() {
        assert_eq!(sym("u=rw,g=r,o=r", 0o777, false), 0o644);
        assert_eq!(sym("u+x,g-w", 0o664, false), 0o744);
        assert_eq!(sym("a=rX", 0o644, false), 0o444);
        assert_eq!(sym("a=rX", 0o744, false), 0o555);
        assert_eq!(sym("a=rX", 0o700, true), 0o555);
        assert_eq!(sym("go-rwx", 0o755, false), 0o700);
        assert_eq!(sym("g=u", 0o750, false), 0o770);
        assert_eq!(sym("o=g", 0o750, false), 0o755);
        assert_eq!(sym("u+s,g+s", 0o755, false), 0o6755);
        assert_eq!(sym("+t", 0o777, true), 0o1777);
        assert_eq!(sym("u=rwx,g=rx,o=", 0o4777, false), 0o750);
        assert_eq!(sym("u=rw-x+X", 0o700, true), 0o700);
        assert_eq!(sym("u-s", 0o4755, false), 0o755);
        // With no `who` the umask protects its bits, as with chmod(1).
        assert_eq!(sym("+w", 0o444, false), 0o644);
        assert_eq!(sym("+x", 0o644, false), 0o755);
        assert_eq!(sym("a+w", 0o444, false), 0o666);
    }

    #[test]
    fn new_paths_start_from_the_umask_default() {
        assert_eq!(parse("u+x").resolve(None, false), Ok(0o744));
        assert_eq!(parse("g+w").resolve(None, true), Ok(0o775));
        assert_eq!(
            parse("o-r").resolve_with_umask(None, false, 0o077),
            Ok(0o600)
        );
        assert_eq!(parse("0600").resolve(None, false), Ok(0o600));
    }

    #[test]
    fn bad_symbolic_modes() {
        for bad in ["u=rwz", "rw", "99", "x+r", "u=rw;g=r", "ug"] {
            let e = ModeArg::parse(bad);
            // `ug` alone is accepted by Ansible (a no-op); everything else is an error.
            if bad == "ug" {
                assert!(e.is_ok());
                continue;
            }
            let e = e.expect_err(bad);
            assert!(e.0.contains("octal or symbolic"), "{e}");
        }
        assert!(parse("preserve").resolve(Some(0o644), false).is_err());
    }

    #[test]
    fn deserializes_from_arguments_and_accepts_templates_at_compile_time() {
        #[derive(Debug, serde::Deserialize)]
        struct P {
            mode: ModeArg,
        }
        let p: P = from_args(&json!({"mode": 420}), ArgMode::Run).expect("int");
        assert_eq!(p.mode, ModeArg::Octal(0o644));
        let p: P = from_args(&json!({"mode": "u+x"}), ArgMode::Run).expect("str");
        assert_eq!(p.mode.to_string(), "u+x");
        let p: P = from_args(&json!({"mode": "{{ m }}"}), ArgMode::Compile).expect("template");
        assert!(matches!(p.mode, ModeArg::Template(_)));
        let e = from_args::<P>(&json!({"mode": "u=rwq"}), ArgMode::Compile).expect_err("bad");
        assert_eq!(e.path, vec!["mode"]);
        assert!(from_args::<P>(&json!({"mode": true}), ArgMode::Run).is_err());
        assert!(from_args::<P>(&json!({"mode": 6.5}), ArgMode::Run).is_err());
        assert_eq!(format_mode(0o644), "0644");
        assert_eq!(format_mode(0o1777), "01777");
        assert_eq!(ModeArg::Octal(0o600).to_string(), "0600");
    }
}
