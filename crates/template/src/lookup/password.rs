//! The `password` lookup: a random password stored in a controller file, so that every later run
//! (and every other host of this run) reads the same one; `/dev/null` means "do not store".

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value as Json};

use super::paths::{expanduser, normpath, SearchPath};
use super::{opt_int, parse_kv, term_text, Failure, Scope};
use crate::crypt::{self, Scheme};
use crate::pyrandom::{MersenneTwister, PyRng, Seed, SystemRandom};

const VALID_PARAMS: [&str; 5] = ["length", "encrypt", "chars", "ident", "seed"];
const DEFAULT_LENGTH: i64 = 20;
const NULL_DEVICE: &str = "/dev/null";

/// Hosts render in parallel; without this, two of them could both find no file and store
/// different passwords (Ansible takes a lock file for the same reason).
static STORE: Mutex<()> = Mutex::new(());

pub fn run(
    terms: &[Json],
    kwargs: &Map<String, Json>,
    scope: &Scope<'_>,
) -> Result<Vec<Json>, Failure> {
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        let term = term_text(term);
        let (relpath, params) = parse_term(&term)?;
        let mut options = kwargs.clone();
        for (key, value) in params {
            options.insert(key, Json::String(value));
        }
        let path = if relpath.starts_with('/') || relpath.starts_with('~') {
            PathBuf::from(normpath(&expanduser(&relpath)))
        } else {
            let basedir = SearchPath::new(scope).basedir;
            PathBuf::from(normpath(&basedir.join(&relpath).to_string_lossy()))
        };
        out.push(Json::String(password_for(&path, &options)?));
    }
    Ok(out)
}

/// `path key=value ...`; a path with spaces is rejoined from the words without `=`.
fn parse_term(term: &str) -> Result<(String, Vec<(String, String)>), Failure> {
    let Some((first, rest)) = term.split_once(' ') else {
        return Ok((term.to_string(), Vec::new()));
    };
    let (params, raw) = parse_kv(rest);
    let mut relpath = first.to_string();
    if !raw.is_empty() {
        relpath = format!("{relpath} {raw}");
        if !term.starts_with(&relpath) {
            return Err(Failure::Message(
                "Unrecognized value after key=value parameters given to password lookup".into(),
            ));
        }
    }
    let invalid: Vec<&str> = params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !VALID_PARAMS.contains(k))
        .collect();
    if !invalid.is_empty() {
        return Err(Failure::Message(format!(
            "Unrecognized parameter(s) given to password lookup: {}",
            invalid.join(", ")
        )));
    }
    Ok((relpath, params))
}

fn password_for(path: &Path, options: &Map<String, Json>) -> Result<String, Failure> {
    let length = opt_int(options, "length")?.unwrap_or(DEFAULT_LENGTH);
    let length = usize::try_from(length)
        .map_err(|_| Failure::Message(format!("invalid password length {length}")))?;
    let chars = candidate_chars(options.get("chars"))?;
    let encrypt = match options.get("encrypt") {
        None | Some(Json::Null) => None,
        Some(value) => {
            let name = term_text(value);
            match Scheme::from_name(&name) {
                Some(scheme) if name.ends_with("_crypt") || name == "bcrypt" => Some(scheme),
                _ => {
                    return Err(Failure::Message(format!(
                        "encrypt={name} is not supported by tend; use md5_crypt, sha256_crypt, sha512_crypt or bcrypt"
                    )))
                }
            }
        }
    };
    let wanted_ident = options.get("ident").filter(|v| !v.is_null()).map(term_text);
    let seed = options.get("seed").filter(|v| !v.is_null());
    let store = path != Path::new(NULL_DEVICE);

    let _guard = STORE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let content = if store { read_content(path)? } else { None };
    let (plaintext, mut salt, mut ident, mut changed) = match content {
        Some(content) => {
            let (password, salt, ident) = parse_content(&content);
            (password, salt, ident, false)
        }
        None => (generate(length, &chars, seed)?, None, None, true),
    };
    if let Some(scheme) = encrypt {
        if salt.is_none() {
            salt = Some(crypt::random_salt(scheme.salt_size()).map_err(Failure::Message)?);
            changed = true;
        }
    }
    match (&ident, &wanted_ident) {
        (None, _) => ident = wanted_ident.clone(),
        (Some(stored), Some(wanted)) if stored != wanted => {
            return Err(Failure::Message(format!(
                "The ident parameter provided ({wanted}) does not match the stored one ({stored})."
            )))
        }
        _ => {}
    }
    // bcrypt's variant is stored with the salt so that later runs hash the same way.
    if encrypt == Some(Scheme::Bcrypt) && ident.is_none() {
        ident = Some("2b".into());
        changed = true;
    }
    if changed && store {
        let content = match (&salt, &ident) {
            (Some(salt), Some(ident)) => format!("{plaintext} salt={salt} ident={ident}"),
            (Some(salt), None) => format!("{plaintext} salt={salt}"),
            _ => plaintext.clone(),
        };
        write_content(path, &content)?;
    }
    match encrypt {
        Some(scheme) => crypt::hash(
            scheme,
            &plaintext,
            salt.as_deref(),
            None,
            None,
            ident.as_deref(),
        )
        .map_err(|e| Failure::Message(format!("Could not hash the secret: {e}"))),
        None => Ok(plaintext),
    }
}

/// The `chars` option: names of Python `string` constants or literal characters, comma
/// separated in a string (`,,` is a comma); quotes are always removed.
fn candidate_chars(option: Option<&Json>) -> Result<Vec<char>, Failure> {
    let specs: Vec<String> = match option {
        None | Some(Json::Null) => vec!["ascii_letters".into(), "digits".into(), ".,:-_".into()],
        Some(Json::String(s)) => {
            let mut specs = Vec::new();
            if s.contains(",,") {
                specs.push(",".to_string());
            }
            specs.extend(
                s.replace(",,", ",")
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
            specs
        }
        Some(Json::Array(items)) => items.iter().map(term_text).collect(),
        Some(other) => vec![term_text(other)],
    };
    let mut chars = String::new();
    for spec in &specs {
        chars.push_str(string_constant(spec).unwrap_or(spec));
    }
    let chars: Vec<char> = chars.chars().filter(|c| *c != '"' && *c != '\'').collect();
    if chars.is_empty() {
        return Err(Failure::Message(
            "the chars option leaves no characters to build a password from".into(),
        ));
    }
    Ok(chars)
}

/// Python's `string` module constants.
fn string_constant(name: &str) -> Option<&'static str> {
    const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
    const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    Some(match name {
        "ascii_lowercase" => LOWER,
        "ascii_uppercase" => UPPER,
        "ascii_letters" => LETTERS,
        "digits" => "0123456789",
        "hexdigits" => "0123456789abcdefABCDEF",
        "octdigits" => "01234567",
        "punctuation" => PUNCTUATION,
        "whitespace" => " \t\n\r\x0b\x0c",
        "printable" => concat!(
            "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
            " \t\n\r\x0b\x0c"
        ),
        _ => return None,
    })
}

/// `random_password(length, chars, seed)`: `random.Random(seed).choice` when seeded, so that a
/// seed gives Ansible's password.
fn generate(length: usize, chars: &[char], seed: Option<&Json>) -> Result<String, Failure> {
    let pick = |rng: &mut dyn FnMut(usize) -> Result<usize, String>| -> Result<String, Failure> {
        let mut out = String::with_capacity(length);
        for _ in 0..length {
            let idx = rng(chars.len()).map_err(Failure::Message)?;
            out.push(chars[idx]);
        }
        Ok(out)
    };
    match seed {
        None => {
            let mut rng = SystemRandom;
            pick(&mut |n| rng.choice_index(n))
        }
        Some(seed) => {
            let text;
            let seed = match seed {
                Json::Number(n) if n.is_i64() || n.is_u64() => Seed::Int(
                    n.as_i64()
                        .map(i128::from)
                        .unwrap_or_else(|| n.as_u64().map(i128::from).unwrap_or_default()),
                ),
                Json::Bool(b) => Seed::Int(i128::from(*b)),
                Json::String(s) => Seed::Text(s),
                other => {
                    text = term_text(other);
                    Seed::Text(&text)
                }
            };
            let mut rng = MersenneTwister::new(seed);
            pick(&mut |n| rng.choice_index(n))
        }
    }
}

fn read_content(path: &Path) -> Result<Option<String>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| Failure::Message(format!("{} is not valid UTF-8", path.display())))?;
            Ok(Some(text.trim_end().to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Message(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// `password salt=… ident=…` as Ansible stores it.
fn parse_content(content: &str) -> (String, Option<String>, Option<String>) {
    let Some(sep) = content.rfind(" salt=") else {
        return (content.to_string(), None, None);
    };
    let rest = &content[sep + " salt=".len()..];
    let (salt, ident) = match rest.rfind(" ident=") {
        Some(i) => (&rest[..i], Some(rest[i + " ident=".len()..].to_string())),
        None => (rest, None),
    };
    let salt = (!salt.is_empty()).then(|| salt.to_string());
    (
        content[..sep].to_string(),
        salt,
        ident.filter(|i| !i.is_empty()),
    )
}

/// Stores the password readable by its owner only, creating the directory (0700) as Ansible
/// does, and renaming a complete temporary file into place.
fn write_content(path: &Path, content: &str) -> Result<(), Failure> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let fail = |what: &str, e: std::io::Error| {
        Failure::Message(format!("cannot {what} {}: {e}", path.display()))
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail("create the directory of", e))?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tend-tmp-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(content.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("store the password in", e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_passwords_match_ansible() {
        let default = candidate_chars(None).unwrap_or_default();
        let seed = Json::String("foo".into());
        assert_eq!(
            generate(20, &default, Some(&seed)).ok().as_deref(),
            Some("6JUEsF6-,RiuGZDEWF4r")
        );
        let letters =
            candidate_chars(Some(&Json::String("ascii_letters".into()))).unwrap_or_default();
        assert_eq!(
            generate(8, &letters, Some(&seed)).ok().as_deref(),
            Some("DUrxTpSj")
        );
        let abc = candidate_chars(Some(&Json::String("abc".into()))).unwrap_or_default();
        assert_eq!(
            generate(8, &abc, Some(&seed)).ok().as_deref(),
            Some("bcbbcaca")
        );
    }

    #[test]
    fn chars_option_parsing() {
        let chars = |s: &str| {
            candidate_chars(Some(&Json::String(s.into())))
                .unwrap_or_default()
                .into_iter()
                .collect::<String>()
        };
        assert_eq!(chars("ab,,"), ",ab");
        assert_eq!(chars("digits,xy"), "0123456789xy");
        assert_eq!(chars("a'b\""), "ab");
    }

    #[test]
    fn stored_content_parsing() {
        assert_eq!(parse_content("pw"), ("pw".into(), None, None));
        assert_eq!(
            parse_content("p w salt=abc"),
            ("p w".into(), Some("abc".into()), None)
        );
        assert_eq!(
            parse_content("pw salt=abc ident=2b"),
            ("pw".into(), Some("abc".into()), Some("2b".into()))
        );
    }

    #[test]
    fn term_parameters() {
        let parsed = parse_term("creds/x length=5 chars=digits");
        assert!(matches!(parsed, Ok((ref p, ref kv)) if p == "creds/x" && kv.len() == 2));
        assert!(matches!(
            parse_term("x bogus=1"),
            Err(Failure::Message(m)) if m == "Unrecognized parameter(s) given to password lookup: bogus"
        ));
    }
}
