//! The vault text format: the `$ANSIBLE_VAULT;<version>;<cipher>[;<vault-id>]` header, the
//! hexlified body wrapped at 80 columns, and inside it the hex salt, hex HMAC and hex ciphertext
//! on three lines (`parse_vaulttext_envelope`, `format_vaulttext_envelope`, `parse_vaulttext`).

use crate::VaultError;

/// What every vaulted text starts with (`b_HEADER`).
pub const HEADER: &str = "$ANSIBLE_VAULT";

/// The vault id Ansible gives secrets and files that name none (`DEFAULT_VAULT_IDENTITY`).
pub const DEFAULT_ID: &str = "default";

/// A vaulted text's header and still-hexlified body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `1.1` or `1.2` (older versions parse too; only the cipher decides decryption).
    pub version: String,
    pub cipher: String,
    /// The vault id of a 1.2 header.
    pub vault_id: Option<String>,
    /// The body lines joined, as `_parse_vaulttext_envelope` joins them.
    body: Vec<u8>,
}

/// The three parts of a body.
pub(crate) struct Payload {
    pub(crate) salt: Vec<u8>,
    /// Kept in hex until checked, as Ansible does.
    pub(crate) hmac_hex: Vec<u8>,
    pub(crate) ciphertext: Vec<u8>,
}

/// Whether `data` is vaulted: it starts with the header (and, as Python's ASCII check demands,
/// is ASCII throughout).
pub fn is_vaulted(data: &[u8]) -> bool {
    data.starts_with(HEADER.as_bytes()) && data.is_ascii()
}

impl Envelope {
    /// Splits a vaulted text into header fields and body.
    pub fn parse(text: &[u8]) -> Result<Envelope, VaultError> {
        if !is_vaulted(text) {
            return Err(VaultError::NotVault);
        }
        let mut lines = split_lines(text).into_iter();
        let header = lines.next().unwrap_or_default();
        let header = std::str::from_utf8(header)
            .map_err(|_| VaultError::Format("Vault envelope format error."))?
            .trim();
        let fields: Vec<&str> = header.split(';').collect();
        if fields.len() < 3 {
            return Err(VaultError::Format("Vault envelope format error."));
        }
        let vault_id = fields
            .get(3)
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty());
        Ok(Envelope {
            version: fields[1].trim().to_string(),
            cipher: fields[2].trim().to_string(),
            vault_id,
            body: lines.flatten().copied().collect(),
        })
    }

    pub(crate) fn payload(&self) -> Result<Payload, VaultError> {
        parse_body(&self.body)
    }
}

/// Python's `bytes.splitlines()`: `\n`, `\r` and `\r\n` end lines; no empty last line.
fn split_lines(text: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if text.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// `parse_vaulttext`: unhexlify the body, split salt, HMAC and ciphertext.
pub(crate) fn parse_body(body: &[u8]) -> Result<Payload, VaultError> {
    let inner = unhex(body)?;
    let mut parts = inner.splitn(3, |b| *b == b'\n');
    let (Some(salt), Some(hmac_hex), Some(ciphertext)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(VaultError::Format("Vault vaulttext format error."));
    };
    Ok(Payload {
        salt: unhex(salt)?,
        hmac_hex: hmac_hex.to_vec(),
        ciphertext: unhex(ciphertext)?,
    })
}

/// `binascii.unhexlify`: an even number of hex digits, nothing else.
pub(crate) fn unhex(data: &[u8]) -> Result<Vec<u8>, VaultError> {
    hex::decode(data).map_err(|_| VaultError::Format("Vault format unhexlify error."))
}

/// `format_vaulttext_envelope`: the header (1.2 with the id when one other than `default` is
/// given), then the body in 80-column lines, ending with a newline.
pub(crate) fn format(body: &str, vault_id: Option<&str>) -> String {
    let mut out = String::with_capacity(body.len() + body.len() / 80 + 64);
    out.push_str(HEADER);
    match vault_id.filter(|id| !id.is_empty() && *id != DEFAULT_ID) {
        Some(id) => {
            out.push_str(";1.2;AES256;");
            out.push_str(id);
        }
        None => out.push_str(";1.1;AES256"),
    }
    out.push('\n');
    // The body is hex, so every byte is one character.
    for chunk in body.as_bytes().chunks(80) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields() {
        let env = Envelope::parse(b"$ANSIBLE_VAULT;1.2;AES256;dev\n6162\n").expect("parse");
        assert_eq!(env.version, "1.2");
        assert_eq!(env.cipher, "AES256");
        assert_eq!(env.vault_id.as_deref(), Some("dev"));
        assert_eq!(env.body, b"6162");
        let env = Envelope::parse(b"$ANSIBLE_VAULT;1.1;AES256\r\n61\r\n62").expect("parse");
        assert_eq!(env.vault_id, None);
        assert_eq!(env.body, b"6162");
    }

    #[test]
    fn bad_envelopes() {
        assert!(matches!(
            Envelope::parse(b"hello"),
            Err(VaultError::NotVault)
        ));
        assert!(matches!(
            Envelope::parse(b"$ANSIBLE_VAULT;1.1\n00"),
            Err(VaultError::Format(_))
        ));
        assert!(!is_vaulted("$ANSIBLE_VAULT;1.1;AES256\né".as_bytes()));
    }

    #[test]
    fn format_wraps_at_80_and_picks_the_version() {
        let body = "a".repeat(170);
        let text = format(&body, None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "$ANSIBLE_VAULT;1.1;AES256");
        assert_eq!(lines[1].len(), 80);
        assert_eq!(lines[2].len(), 80);
        assert_eq!(lines[3].len(), 10);
        assert!(text.ends_with("a\n"));
        assert!(format("ab", Some("default")).starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
        assert!(format("ab", Some("prod")).starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
    }

    #[test]
    fn splitlines_like_python() {
        assert_eq!(
            split_lines(b"a\nb\r\nc\rd\n"),
            vec![&b"a"[..], b"b", b"c", b"d"]
        );
        assert_eq!(split_lines(b""), Vec::<&[u8]>::new());
    }
}
