//! `audit verify`: recompute a journal's (or JSONL export's) hash chain with `journal::parse`,
//! name the first line that does not match and say what probably happened (changed, removed,
//! reordered), then check the signatures.
//!
//! What the chain alone cannot catch: a line appended at the end with a correctly computed hash
//! and `prev` (anyone can compute SHA-256). Only a signature catches it: with `--public-key`, the
//! journal must end with a valid signature by that key, so an appended line is named as not
//! covered. Without a signature, compare [`Verified::final_hash`] with one written down
//! elsewhere (a ticket, the exported report).

use super::sign;
use crate::journal::{self, Entry, JournalError};
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What an intact journal looks like.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verified {
    pub path: PathBuf,
    pub entries: usize,
    pub final_hash: String,
    /// A torn last line (no newline) that is not part of the record (1-based).
    pub torn_line: Option<usize>,
    pub signatures: Vec<SignatureCheck>,
    /// Entries after the last signature (1-based line of the first), when the journal is signed.
    pub unsigned_tail: Option<usize>,
    /// Whether the signatures were checked against a key given by the auditor.
    pub key_given: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SignatureCheck {
    pub line: usize,
    pub key_fingerprint: String,
    pub signed_seq: u64,
}

/// The first thing that does not match.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct Broken {
    pub path: PathBuf,
    /// 1-based line of the journal or export.
    pub line: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The journal cannot be read at all, or is of a newer format.
    #[error(transparent)]
    Journal(JournalError),
    #[error(transparent)]
    Broken(Broken),
}

/// Verifies a journal or JSONL export file.
pub fn verify_file(path: &Path, key: Option<&VerifyingKey>) -> Result<Verified, VerifyError> {
    let bytes = std::fs::read(path).map_err(|source| {
        VerifyError::Journal(JournalError::Io {
            action: "read the journal",
            path: path.to_path_buf(),
            source,
        })
    })?;
    verify_bytes(path, &bytes, key)
}

/// [`verify_file`] over bytes in memory (`path` names the file in messages).
pub fn verify_bytes(
    path: &Path,
    bytes: &[u8],
    key: Option<&VerifyingKey>,
) -> Result<Verified, VerifyError> {
    let broken = |line: usize, message: String| {
        VerifyError::Broken(Broken { path: path.to_path_buf(), line, message })
    };
    let read = match journal::parse(path, bytes) {
        Ok(r) => r,
        Err(JournalError::Corrupt { line, what, .. }) => {
            return Err(broken(line, diagnose(bytes, line, &what)))
        }
        Err(e) => return Err(VerifyError::Journal(e)),
    };
    let run_id = read
        .entries
        .first()
        .and_then(|e| e.payload.get("run_id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut signatures = Vec::new();
    for (i, e) in read.entries.iter().enumerate().filter(|(_, e)| e.kind == "signature") {
        let line = i + 1;
        let check = check_signature(&run_id, e, key).map_err(|m| broken(line, m))?;
        signatures.push(SignatureCheck { line, ..check });
    }
    let last_sig = signatures.last().map(|s| s.line);
    let unsigned_tail = last_sig.filter(|l| *l < read.entries.len()).map(|l| l + 1);
    if key.is_some() {
        match (last_sig, unsigned_tail) {
            (None, _) => {
                return Err(broken(
                    1,
                    "the journal has no signature, so it cannot be checked against the public key (was the run started with --sign-key?)".into(),
                ))
            }
            (Some(sig_line), Some(first)) => {
                return Err(broken(
                    first,
                    format!(
                        "line {first} (entry {}) comes after the last signature (line {sig_line}) and is not covered by it: it was appended after the run was signed",
                        first - 1
                    ),
                ))
            }
            _ => {}
        }
    }
    Ok(Verified {
        path: path.to_path_buf(),
        entries: read.entries.len(),
        final_hash: read.last_line_hash,
        torn_line: read.torn_line,
        signatures,
        unsigned_tail,
        key_given: key.is_some(),
    })
}

fn check_signature(
    run_id: &str,
    e: &Entry,
    key: Option<&VerifyingKey>,
) -> Result<SignatureCheck, String> {
    let p = &e.payload;
    let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
    if field("algorithm") != sign::ALGORITHM {
        return Err(format!("signature algorithm `{}` is not supported", field("algorithm")));
    }
    let signed_seq = p.get("signed_seq").and_then(Value::as_u64).unwrap_or(u64::MAX);
    if signed_seq + 1 != e.seq || field("signed_hash") != e.prev {
        return Err("the signature entry does not sign the line before it".into());
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let embedded = b64
        .decode(field("public_key"))
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or("the signature entry's public key is not a valid Ed25519 key")?;
    let fp = field("key_fingerprint").to_string();
    if fp != sign::fingerprint(&embedded) {
        return Err("the signature entry's key fingerprint does not match its key".into());
    }
    let vk = match key {
        Some(k) if sign::fingerprint(k) != fp => {
            return Err(format!(
                "signed by key {fp}, not by the given public key {}",
                sign::fingerprint(k)
            ))
        }
        Some(k) => k,
        None => &embedded,
    };
    let sig = b64
        .decode(field("signature"))
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b))
        .ok_or("the signature is not a valid Ed25519 signature encoding")?;
    vk.verify_strict(&sign::message(run_id, signed_seq, &e.prev), &sig)
        .map_err(|_| "the signature does not match the journal it signs".to_string())?;
    Ok(SignatureCheck { line: 0, key_fingerprint: fp, signed_seq })
}

/// Explains a chain failure at `line` (1-based), using the `seq` of every parsable line to tell
/// a removed line from a reordered one.
fn diagnose(bytes: &[u8], line: usize, what: &str) -> String {
    let seqs: Vec<Option<u64>> = bytes
        .split(|b| *b == b'\n')
        .map(|l| serde_json::from_slice::<Entry>(l).ok().map(|e| e.seq))
        .collect();
    let expected = (line - 1) as u64;
    let actual = seqs.get(line - 1).copied().flatten();
    let line_of = |seq: u64, from: usize, to: usize| {
        (from..to.min(seqs.len())).find(|i| seqs[*i] == Some(seq)).map(|i| i + 1)
    };
    if what.starts_with("sequence number") {
        let Some(actual) = actual else { return what.to_string() };
        if actual > expected {
            return match line_of(expected, line, seqs.len()) {
                Some(later) => format!(
                    "lines were reordered: line {line} holds entry {actual} where entry {expected} was expected, and entry {expected} is at line {later}"
                ),
                None => format!(
                    "a line was removed: entry {expected} is missing before line {line} (which holds entry {actual})"
                ),
            };
        }
        return match line_of(actual, 0, line - 1) {
            Some(first) => format!(
                "line {line} repeats entry {actual} (already at line {first}): a line was duplicated or moved"
            ),
            None => format!(
                "lines were reordered: line {line} holds entry {actual} where entry {expected} was expected"
            ),
        };
    }
    if what.starts_with("hash chain broken") {
        return format!(
            "line {line} does not chain to line {}: its `prev` is not the hash of line {} (line {} was changed and its hash recomputed, or line {line}'s `prev` was changed)",
            line - 1,
            line - 1,
            line - 1
        );
    }
    if what.starts_with("entry hash") {
        return format!("line {line} was changed: its hash does not match its content");
    }
    if what.starts_with("invalid JSON") {
        return format!("line {line} was changed or damaged: it is not a journal entry ({what})");
    }
    what.to_string()
}
