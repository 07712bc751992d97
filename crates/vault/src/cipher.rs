//! `VaultAES256`: PBKDF2-HMAC-SHA256 key derivation, AES-256-CTR over PKCS7-padded data, and an
//! HMAC-SHA256 of the ciphertext that is checked (in constant time) before anything is decrypted.

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::envelope::{self, Payload};
use crate::VaultError;

/// Ansible's fixed PBKDF2 iteration count.
const ITERATIONS: u32 = 10_000;
const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
/// The salt length Ansible draws from `os.urandom`.
pub(crate) const SALT_LEN: usize = 32;
const BLOCK: usize = 16;

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// The cipher key, the HMAC key and the CTR nonce, derived from one password and salt.
struct Keys {
    material: Zeroizing<[u8; 2 * KEY_LEN + IV_LEN]>,
}

impl Keys {
    fn derive(password: &[u8], salt: &[u8]) -> Keys {
        let mut material = Zeroizing::new([0u8; 2 * KEY_LEN + IV_LEN]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, ITERATIONS, material.as_mut_slice());
        Keys { material }
    }

    fn cipher_key(&self) -> &[u8] {
        &self.material[..KEY_LEN]
    }

    fn hmac_key(&self) -> &[u8] {
        &self.material[KEY_LEN..2 * KEY_LEN]
    }

    fn iv(&self) -> &[u8] {
        &self.material[2 * KEY_LEN..]
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; 32 bytes is never refused.
        <Hmac<Sha256> as KeyInit>::new_from_slice(self.hmac_key())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    fn apply_keystream(&self, data: &mut [u8]) {
        let mut cipher = Aes256Ctr::new_from_slices(self.cipher_key(), self.iv())
            .unwrap_or_else(|_| unreachable!("AES-256 key and CTR nonce have fixed lengths"));
        cipher.apply_keystream(data);
    }
}

/// Encrypts `plaintext` with `password` and `salt` into the hexlified vaulttext body (without
/// the header line and before wrapping), as `VaultAES256.encrypt` returns it.
pub(crate) fn encrypt(plaintext: &[u8], password: &[u8], salt: &[u8]) -> String {
    let keys = Keys::derive(password, salt);
    let pad = BLOCK - plaintext.len() % BLOCK;
    let mut data = Vec::with_capacity(plaintext.len() + pad);
    data.extend_from_slice(plaintext);
    data.extend(std::iter::repeat_n(pad as u8, pad));
    keys.apply_keystream(&mut data);
    let mut mac = keys.mac();
    mac.update(&data);
    let tag = mac.finalize().into_bytes();
    let inner = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(tag.as_slice()),
        hex::encode(&data)
    );
    hex::encode(inner.as_bytes())
}

/// Decrypts a parsed payload with one password. `Err(HmacMismatch)` means "not this password"
/// (or tampered data): nothing was decrypted.
pub(crate) fn decrypt(payload: &Payload, password: &[u8]) -> Result<Vec<u8>, VaultError> {
    let keys = Keys::derive(password, &payload.salt);
    let mut mac = keys.mac();
    mac.update(&payload.ciphertext);
    let expected = envelope::unhex(&payload.hmac_hex)?;
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| VaultError::HmacMismatch)?;
    let mut data = payload.ciphertext.clone();
    keys.apply_keystream(&mut data);
    match unpad(&data) {
        Some(len) => {
            let plain = data[..len].to_vec();
            data.zeroize();
            Ok(plain)
        }
        None => {
            data.zeroize();
            Err(VaultError::Padding)
        }
    }
}

/// The length of PKCS7-padded `data` without its padding, if the padding is valid.
fn unpad(data: &[u8]) -> Option<usize> {
    if data.is_empty() || !data.len().is_multiple_of(BLOCK) {
        return None;
    }
    let pad = usize::from(*data.last()?);
    if pad == 0 || pad > BLOCK || pad > data.len() {
        return None;
    }
    data[data.len() - pad..]
        .iter()
        .all(|b| usize::from(*b) == pad)
        .then_some(data.len() - pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_a_whole_block_for_aligned_input() {
        let body = encrypt(&[7u8; 16], b"pw", &[1u8; SALT_LEN]);
        let payload = envelope::parse_body(body.as_bytes()).expect("parse");
        assert_eq!(payload.ciphertext.len(), 32);
        assert_eq!(decrypt(&payload, b"pw").expect("decrypt"), vec![7u8; 16]);
    }

    #[test]
    fn unpad_rejects_bad_padding() {
        assert_eq!(unpad(&[3u8; 16]), Some(13));
        let mut bad = [3u8; 16];
        bad[14] = 4;
        assert_eq!(unpad(&bad), None);
        assert_eq!(unpad(&[0u8; 16]), None);
        assert_eq!(unpad(&[17u8; 16]), None);
        assert_eq!(unpad(&[1u8; 15]), None);
    }

    #[test]
    fn same_salt_and_password_give_the_same_body() {
        let a = encrypt(b"x", b"pw", &[9u8; SALT_LEN]);
        let b = encrypt(b"x", b"pw", &[9u8; SALT_LEN]);
        assert_eq!(a, b);
        assert_ne!(a, encrypt(b"x", b"pw2", &[9u8; SALT_LEN]));
    }
}
