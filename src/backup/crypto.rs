//! Encryption at rest with `age` (X25519 recipients).
//!
//! Writers need only public keys (`age1...`), so a pipeline that takes backups cannot read old
//! ones; readers need an identity (`AGE-SECRET-KEY-1...`). Identities are never written anywhere
//! and never appear in messages.

use super::BackupError;
use std::io::{Read, Write};
use std::str::FromStr;

/// The public keys a store encrypts to.
#[derive(Clone)]
pub struct Recipients(Vec<age::x25519::Recipient>);

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|r| r.to_string())).finish()
    }
}

impl Recipients {
    /// Parses recipients: one `age1...` key per item; blank items and `#` comments are skipped.
    /// `origin` names where they came from, for the error message.
    pub fn parse<'a>(
        items: impl IntoIterator<Item = &'a str>,
        origin: &str,
    ) -> Result<Option<Self>, BackupError> {
        let mut keys = Vec::new();
        for (i, raw) in items.into_iter().enumerate() {
            let item = raw.trim();
            if item.is_empty() || item.starts_with('#') {
                continue;
            }
            let key = age::x25519::Recipient::from_str(item).map_err(|e| {
                BackupError::usage(
                    format!(
                        "recipient {} from {origin} is not an age X25519 public key: {e}",
                        i + 1
                    ),
                    "recipients look like `age1...`; create a key pair with `age-keygen`",
                )
            })?;
            keys.push(key);
        }
        Ok(if keys.is_empty() { None } else { Some(Recipients(keys)) })
    }

    /// The public keys, sorted and deduplicated.
    pub fn public_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.0.iter().map(|r| r.to_string()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// SHA-256 over the sorted public keys: recorded in the store config so a writer with a
    /// different set of keys is refused rather than producing snapshots some readers cannot open.
    pub fn fingerprint(&self) -> String {
        crate::digest::sha256_hex(self.public_keys().join("\n").as_bytes())
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, BackupError> {
        let encryptor =
            age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| BackupError::internal(format!("cannot encrypt: {e}")))?;
        let mut out = Vec::with_capacity(plaintext.len() + 256);
        let mut writer = encryptor
            .wrap_output(&mut out)
            .map_err(|e| BackupError::internal(format!("cannot encrypt: {e}")))?;
        writer
            .write_all(plaintext)
            .and_then(|_| writer.finish().map(|_| ()))
            .map_err(|e| BackupError::internal(format!("cannot encrypt: {e}")))?;
        Ok(out)
    }
}

/// The secret keys used to read an encrypted store.
pub struct Identities(Vec<age::x25519::Identity>);

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({} key(s), redacted)", self.0.len())
    }
}

/// Why a ciphertext could not be decrypted.
#[derive(Debug, PartialEq, Eq)]
pub enum DecryptFailure {
    /// None of the identities is a recipient of this file.
    NoMatchingIdentity,
    /// The bytes are not a valid age file, or fail authentication (changed or truncated).
    Corrupt(String),
}

impl Identities {
    /// Reads identities from `source`: the key itself if it starts with `AGE-SECRET-KEY-`
    /// (several may be separated by newlines), otherwise the path of an identity file as written
    /// by `age-keygen` (`#` comments allowed). `origin` names the flag or variable.
    pub fn load(source: &str, origin: &str) -> Result<Self, BackupError> {
        let text = if source.trim_start().starts_with("AGE-SECRET-KEY-") {
            source.to_string()
        } else {
            std::fs::read_to_string(source).map_err(|e| {
                BackupError::usage(
                    format!(
                        "identity file {} from {origin} cannot be read: {e}",
                        super::auth::shown_path(source)
                    ),
                    "give the path of an age identity file, or the `AGE-SECRET-KEY-1...` key itself",
                )
            })?
        };
        let mut keys = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // The parse error of age never echoes the key; ours must not either.
            let key = age::x25519::Identity::from_str(line).map_err(|_| {
                BackupError::usage(
                    format!("identity from {origin} is not an age X25519 secret key"),
                    "identities look like `AGE-SECRET-KEY-1...`, as written by `age-keygen`",
                )
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(BackupError::usage(
                format!("no identity found in {origin}"),
                "the file must contain an `AGE-SECRET-KEY-1...` line",
            ));
        }
        Ok(Identities(keys))
    }

    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, DecryptFailure> {
        let decryptor = age::Decryptor::new_buffered(ciphertext)
            .map_err(|e| DecryptFailure::Corrupt(e.to_string()))?;
        let mut reader = decryptor
            .decrypt(self.0.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => DecryptFailure::NoMatchingIdentity,
                other => DecryptFailure::Corrupt(other.to_string()),
            })?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(|e| DecryptFailure::Corrupt(e.to_string()))?;
        Ok(out)
    }

    /// The public keys of these identities (used by tests and by `init` for a round-trip check).
    pub fn recipients(&self) -> Recipients {
        Recipients(self.0.iter().map(|i| i.to_public()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn round_trip_and_wrong_identity() {
        let id = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let ids = Identities::load(id.to_string().expose_secret(), "test").unwrap();
        let wrong = Identities::load(other.to_string().expose_secret(), "test").unwrap();
        let ct = ids.recipients().encrypt(b"hello").unwrap();
        assert_eq!(ids.decrypt(&ct).unwrap(), b"hello");
        assert_eq!(wrong.decrypt(&ct), Err(DecryptFailure::NoMatchingIdentity));
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(ids.decrypt(&bad), Err(DecryptFailure::Corrupt(_))));
    }

    #[test]
    fn a_bad_identity_is_not_echoed() {
        let err = Identities::load("AGE-SECRET-KEY-1NOTAKEYATALL", "LIFEBOAT_BACKUP_IDENTITY")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("NOTAKEY"), "{err}");
    }
}
