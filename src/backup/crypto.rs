//! Encryption at rest with `age` (X25519 recipients).
//!
//! Writers need only public keys (`age1...`), so a pipeline that takes backups cannot read old
//! ones; readers need an identity (`AGE-SECRET-KEY-1...`). Identities are never written anywhere
//! and never appear in messages.

use super::BackupError;
use std::io::{Read, Write};
use std::path::Path;
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
                    "recipients look like `age1...`; `lifeboat backup keygen --out FILE` (or `age-keygen`) creates a key pair and prints its recipient",
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
                    "identities look like `AGE-SECRET-KEY-1...`, as written by `lifeboat backup keygen` or `age-keygen`",
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

/// The name of the file `keygen` writes, in messages (never its content).
fn shown(path: &Path) -> String {
    format!("`{}`", path.display())
}

/// Writes a new age X25519 identity to `path` in `age-keygen`'s format (a `# created:` and a
/// `# public key:` comment, then the `AGE-SECRET-KEY-1...` line) and returns its recipient
/// (`age1...`). The file is created exclusively (never overwritten: losing an identity makes its
/// backups unreadable), with mode 0600 on Unix, and fsync'd; its parent directory must exist.
/// A failure after the file was created removes it. The identity is never returned, printed or
/// put in an error.
pub fn keygen(path: &Path, now: time::OffsetDateTime) -> Result<String, BackupError> {
    use age::secrecy::ExposeSecret;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(BackupError::usage(
            format!("the directory {} of --out does not exist", shown(parent)),
            "create the directory first, or choose another --out path",
        ));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            BackupError::usage(
                format!("{} already exists; an identity file is never overwritten", shown(path)),
                "choose another --out path: overwriting an identity would make the backups encrypted to it unreadable",
            )
        } else {
            BackupError::usage(
                format!("{} cannot be created: {e}", shown(path)),
                "check the path and its directory's permissions, or choose another --out path",
            )
        }
    })?;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let created = now
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let text = age::secrecy::SecretString::from(format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    ));
    let written = file.write_all(text.expose_secret().as_bytes()).and_then(|_| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(BackupError::internal(format!(
            "cannot write the identity file {}: {e} (the file was removed)",
            shown(path)
        )));
    }
    Ok(recipient)
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

    #[test]
    fn keygen_writes_a_private_identity_once_and_its_recipient_opens_what_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup.key");
        let now = time::macros::datetime!(2026-12-06 10:00:00.5 UTC);
        let recipient = keygen(&path, now).unwrap();
        assert!(recipient.starts_with("age1"), "{recipient}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# created: 2026-12-06T10:00:00Z\n"), "{text}");
        assert!(text.contains(&format!("# public key: {recipient}\n")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let ids = Identities::load(path.to_str().unwrap(), "test").unwrap();
        assert_eq!(ids.recipients().public_keys(), vec![recipient.clone()]);
        let r = Recipients::parse([recipient.as_str()], "test").unwrap().unwrap();
        assert_eq!(ids.decrypt(&r.encrypt(b"x").unwrap()).unwrap(), b"x");

        let e = keygen(&path, now).unwrap_err();
        assert!(matches!(e, BackupError::Usage { .. }));
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "not overwritten");
        let e = keygen(&dir.path().join("nope/backup.key"), now).unwrap_err();
        assert!(matches!(e, BackupError::Usage { .. }));
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(!dir.path().join("nope").exists());
    }
}
