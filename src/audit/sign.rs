//! Ed25519 signatures of a run's journal: `audit keygen` writes a key pair, `run/resume
//! --sign-key` appends a `signature` entry when the run stops, `audit verify --public-key`
//! checks it.
//!
//! A signature entry signs the hash of the line before it (`signed_hash`, which the chain already
//! ties to every earlier line), so one signature covers the whole journal up to that point. The
//! signed message is `lifeboat-journal-signature-v1:<run_id>:<signed_seq>:<signed_hash>`.
//! The entry carries the public key itself (for integrity checks without a key) and its
//! fingerprint (`SHA256:` + hex of the 32 raw key bytes); only a key the auditor obtained
//! elsewhere (`--public-key`) authenticates the signer, since anyone can sign with their own key.
//!
//! Key files: private key PKCS#8 PEM (`lifeboat-audit.key`, mode 0600), public key SPKI PEM
//! (`lifeboat-audit.pub`).

use crate::error::UserError;
use crate::journal::{self, Entry, RunLock, Writer};
use base64::Engine as _;
use ed25519_dalek::pkcs8::{
    spki::der::pem::LineEnding, DecodePrivateKey, DecodePublicKey, EncodePrivateKey,
    EncodePublicKey,
};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde_json::json;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const PRIVATE_KEY_FILE: &str = "lifeboat-audit.key";
pub const PUBLIC_KEY_FILE: &str = "lifeboat-audit.pub";
pub const ALGORITHM: &str = "ed25519";

/// `SHA256:<hex>` of the raw public key bytes.
pub fn fingerprint(key: &VerifyingKey) -> String {
    format!("SHA256:{}", journal::sha256_hex(key.as_bytes()))
}

/// The bytes a signature entry signs.
pub fn message(run_id: &str, signed_seq: u64, signed_hash: &str) -> Vec<u8> {
    format!("lifeboat-journal-signature-v1:{run_id}:{signed_seq}:{signed_hash}").into_bytes()
}

/// Writes a fresh key pair into `dir` (created if missing); refuses to overwrite either file.
/// Returns the two paths.
pub fn keygen(dir: &Path) -> Result<(PathBuf, PathBuf, String), UserError> {
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    for p in [&private, &public] {
        if p.exists() {
            return Err(UserError::usage(format!("{} already exists", p.display()))
                .with_hint("choose another --out directory; a key is never overwritten"));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        UserError::failed(format!("cannot create {}", dir.display())).with_source(e)
    })?;
    // rand's thread RNG is a CSPRNG seeded from the OS.
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| UserError::failed(format!("cannot encode the private key ({e})")))?;
    let pub_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| UserError::failed(format!("cannot encode the public key ({e})")))?;
    write_new(&private, pem.as_bytes(), true)?;
    write_new(&public, pub_pem.as_bytes(), false)?;
    Ok((private, public, fingerprint(&key.verifying_key())))
}

fn write_new(path: &Path, bytes: &[u8], private: bool) -> Result<(), UserError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(path).map_err(|e| {
        UserError::failed(format!("cannot create {}", path.display())).with_source(e)
    })?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| UserError::failed(format!("cannot write {}", path.display())).with_source(e))
}

fn read_text(path: &Path, what: &str) -> Result<String, UserError> {
    std::fs::read_to_string(path).map_err(|e| {
        UserError::usage(format!("cannot read the {what} {}", path.display()))
            .with_hint("`lifeboat audit keygen --out DIR` writes a key pair")
            .with_source(e)
    })
}

/// Reads an Ed25519 private key (PKCS#8 PEM). The error never quotes the file's content.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, UserError> {
    let text = read_text(path, "signing key")?;
    SigningKey::from_pkcs8_pem(&text).map_err(|_| {
        UserError::usage(format!("{} is not an Ed25519 private key in PKCS#8 PEM", path.display()))
            .with_hint("pass the `lifeboat-audit.key` written by `lifeboat audit keygen`")
    })
}

/// Reads an Ed25519 public key (SPKI PEM, `-----BEGIN PUBLIC KEY-----`).
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, UserError> {
    let text = read_text(path, "public key")?;
    VerifyingKey::from_public_key_pem(&text).map_err(|_| {
        UserError::usage(format!("{} is not an Ed25519 public key in PEM", path.display()))
            .with_hint("pass the `lifeboat-audit.pub` written by `lifeboat audit keygen`")
    })
}

/// Appends a `signature` entry signing the journal as it is now. Takes the run's lock (exit 4
/// while another process drives the run). Returns the entry.
pub fn sign_run(
    run_dir: &Path,
    key: &SigningKey,
    now: OffsetDateTime,
) -> Result<Entry, crate::engine::runner::RunError> {
    let run_id = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let _lock = RunLock::acquire(run_dir, &run_id, now)?;
    let path = run_dir.join(journal::JOURNAL_FILE);
    let (mut writer, read) = Writer::open(&path)?;
    let journal_run_id = read
        .entries
        .first()
        .and_then(|e| e.payload.get("run_id"))
        .and_then(|v| v.as_str())
        .unwrap_or(&run_id)
        .to_string();
    let signed_seq = read.entries.len() as u64 - 1;
    let signed_hash = read.last_line_hash.clone();
    let sig = key.sign(&message(&journal_run_id, signed_seq, &signed_hash));
    let vk = key.verifying_key();
    let payload = json!({
        "algorithm": ALGORITHM,
        "key_fingerprint": fingerprint(&vk),
        "public_key": base64::engine::general_purpose::STANDARD.encode(vk.as_bytes()),
        "signed_seq": signed_seq,
        "signed_hash": signed_hash,
        "signature": base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
    });
    let mut written = writer.append_batch(&[(now, "signature", payload)])?;
    Ok(written.remove(0))
}
