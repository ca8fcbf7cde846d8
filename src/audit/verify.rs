//! `audit verify`: recompute a journal's (or JSONL export's) hash chain with `journal::parse`,
//! name the first line that does not match and say what probably happened (changed, removed,
//! reordered), then check the signatures and what the auditor wrote down elsewhere.
//!
//! Stricter than `journal::read` (which a run uses to resume): an auditor verifies a closed
//! record, so
//! - every line must be byte for byte what lifeboat writes ([`exact_line`]): the SHA-256 in its
//!   `hash` covers every byte before the `hash` field, so a byte changed without changing the
//!   parsed content (the case of the `T` in a time, of a `\u` escape, added whitespace) is named
//!   too. Without this, such an edit of the *last* line passed: no next line's `prev` covers it;
//! - a last line without its newline (a write torn by a crash, or a newline removed or replaced)
//!   is an error, unless [`Options::allow_torn`].
//!
//! What the chain alone cannot catch: a line appended, or the last line removed or replaced
//! with a correctly computed hash and `prev` (anyone can compute SHA-256). Only a signature, or
//! a comparison with values kept elsewhere, catches it: with `--public-key`, the journal must
//! end with a valid signature by that key, so an appended line is named as not covered; with
//! `--expect-entries` / `--expect-hash` ([`Options::expect_entries`], [`Options::expect_hash`]),
//! the entry count and [`Verified::final_hash`] must be those written down elsewhere (a ticket,
//! the exported report).

use super::sign;
use crate::journal::{self, Entry, JournalError};
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What an intact journal looks like.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verified {
    pub path: PathBuf,
    pub entries: usize,
    pub final_hash: String,
    /// A torn last line (no newline) that is not part of the record (1-based); only with
    /// [`Options::allow_torn`], otherwise it is an error.
    pub torn_line: Option<usize>,
    pub signatures: Vec<SignatureCheck>,
    /// Entries after the last signature (1-based line of the first), when the journal is signed.
    pub unsigned_tail: Option<usize>,
    /// Whether the signatures were checked against a key given by the auditor.
    pub key_given: bool,
    /// Whether the entry count was checked against `--expect-entries` (and matched).
    pub entries_expected: bool,
    /// Whether the final hash was checked against `--expect-hash` (and matched).
    pub hash_expected: bool,
}

/// What the auditor asks for beyond an intact chain.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// Every signature must be by this key, and the journal must end with one.
    pub key: Option<&'a VerifyingKey>,
    /// Accept a last line without its newline (a write torn by a crash): verify the lines before
    /// it, with a warning. Without it, such a line is an error.
    pub allow_torn: bool,
    /// The number of entries written down elsewhere: any other count is a [`Mismatch`].
    pub expect_entries: Option<usize>,
    /// The final hash written down elsewhere (64 lowercase hex digits, see
    /// [`parse_expected_hash`]): any other is a [`Mismatch`].
    pub expect_hash: Option<String>,
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

/// An intact journal that is not the one written down elsewhere: its entry count or final hash
/// differs from `--expect-entries` / `--expect-hash`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {}", path.display(), problems.join("; "))]
pub struct Mismatch {
    pub path: PathBuf,
    pub entries: usize,
    pub final_hash: String,
    /// One sentence per value that differs, with both values.
    pub problems: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The journal cannot be read at all, or is of a newer format.
    #[error(transparent)]
    Journal(JournalError),
    #[error(transparent)]
    Broken(Broken),
    #[error(transparent)]
    Mismatch(Mismatch),
}

/// The prefix `audit verify` prints before a final hash (`sha256:<hex>`).
pub const HASH_PREFIX: &str = "sha256:";

/// Reads a final hash as an auditor wrote it down: `sha256:<64 hex>` or the 64 hex digits alone,
/// in either case. Returns the lowercase hex.
pub fn parse_expected_hash(s: &str) -> Result<String, String> {
    let t = s.trim();
    let hex = match t.get(..HASH_PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(HASH_PREFIX) => &t[HASH_PREFIX.len()..],
        _ => t,
    };
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(format!(
            "`{s}` is not a SHA-256 hash: expected `sha256:` and 64 hexadecimal digits (or the 64 digits alone), as `lifeboat audit verify` prints it"
        ))
    }
}

/// Verifies a journal or JSONL export file.
pub fn verify_file(path: &Path, opts: &Options) -> Result<Verified, VerifyError> {
    let bytes = std::fs::read(path).map_err(|source| {
        VerifyError::Journal(JournalError::Io {
            action: "read the journal",
            path: path.to_path_buf(),
            source,
        })
    })?;
    verify_bytes(path, &bytes, opts)
}

/// [`verify_file`] over bytes in memory (`path` names the file in messages).
pub fn verify_bytes(path: &Path, bytes: &[u8], opts: &Options) -> Result<Verified, VerifyError> {
    let key = opts.key;
    let broken = |line: usize, message: String| {
        VerifyError::Broken(Broken { path: path.to_path_buf(), line, message })
    };
    let read = match journal::parse(path, bytes) {
        Ok(r) => r,
        Err(JournalError::Corrupt { line, what, .. }) => {
            let (line, message) = diagnose(bytes, line, &what);
            return Err(broken(line, message));
        }
        Err(e) => return Err(VerifyError::Journal(e)),
    };
    // `journal::parse` accepts a line whose bytes differ from what its hash covers as long as
    // the parsed content hashes right; an auditor does not.
    for (i, (line, entry)) in bytes.split(|b| *b == b'\n').zip(&read.entries).enumerate() {
        if !exact_line(line, &entry.hash) {
            return Err(broken(i + 1, changed_in_place(i + 1)));
        }
    }
    if let Some(line) = read.torn_line {
        if !opts.allow_torn {
            return Err(broken(line, torn(bytes, &read, line)));
        }
    }
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
    let mut problems = Vec::new();
    let entries = read.entries.len();
    if let Some(expected) = opts.expect_entries.filter(|n| *n != entries) {
        let why = if expected > entries {
            let gone = expected - entries;
            let missing =
                if gone == 1 { "1 entry is".to_string() } else { format!("{gone} entries are") };
            match read.torn_line {
                Some(l) => format!(
                    "{missing} missing at the end: line {l} has no final newline and is not counted{}",
                    if gone > 1 { ", and later lines were removed" } else { "" }
                ),
                None => format!(
                    "{missing} missing at the end: the last line{} removed",
                    if gone == 1 { " was" } else { "s were" }
                ),
            }
        } else {
            format!("lines {}..{entries} were added after the count was written down", expected + 1)
        };
        problems.push(format!(
            "the journal has {entries} entries, but {expected} were expected (--expect-entries): {why}"
        ));
    }
    if let Some(expected) = opts.expect_hash.as_deref().filter(|h| *h != read.last_line_hash) {
        // Entry k's `prev` is the hash of line k (1-based): was the hash written down earlier?
        let line_of = read.entries.iter().skip(1).position(|e| e.prev == expected).map(|k| k + 1);
        let why = match line_of {
            Some(k) => format!(
                "{HASH_PREFIX}{expected} is the hash of line {k}: lines {}..{entries} were added after it was written down",
                k + 1
            ),
            None => "no line of this journal has the expected hash: the journal was changed or cut, or it is another run's".to_string(),
        };
        problems.push(format!(
            "the final hash is {HASH_PREFIX}{}, but {HASH_PREFIX}{expected} was expected (--expect-hash): {why}",
            read.last_line_hash
        ));
    }
    if !problems.is_empty() {
        return Err(VerifyError::Mismatch(Mismatch {
            path: path.to_path_buf(),
            entries,
            final_hash: read.last_line_hash,
            problems,
        }));
    }
    Ok(Verified {
        path: path.to_path_buf(),
        entries,
        final_hash: read.last_line_hash,
        torn_line: read.torn_line,
        signatures,
        unsigned_tail,
        key_given: key.is_some(),
        entries_expected: opts.expect_entries.is_some(),
        hash_expected: opts.expect_hash.is_some(),
    })
}

/// Whether `line` is byte for byte what lifeboat writes for an entry whose hash is `hash`: the
/// entry without its `hash` field (whose SHA-256 is `hash`) with `,"hash":"<hash>"` inserted
/// before its closing brace. Then every byte of the line is covered by its own hash, not only
/// the content it parses to.
pub fn exact_line(line: &[u8], hash: &str) -> bool {
    let suffix = format!(",\"hash\":\"{hash}\"}}");
    let Some(body) = line.strip_suffix(suffix.as_bytes()) else { return false };
    let mut h = Sha256::new();
    h.update(body);
    h.update(b"}");
    hex::encode(h.finalize()) == hash
}

/// Whether a raw line parses as an entry and is exact ([`exact_line`]).
fn line_is_exact(line: &[u8]) -> bool {
    serde_json::from_slice::<Entry>(line).is_ok_and(|e| exact_line(line, &e.hash))
}

fn changed_in_place(line: usize) -> String {
    format!(
        "line {line} was changed: its bytes are not the ones its hash covers (a character changed without changing the value it reads as, such as the case of a letter in its time or an escape, spaces added, or a carriage return before its newline); lifeboat never writes such a line"
    )
}

/// Explains a last line without its newline.
fn torn(bytes: &[u8], read: &journal::ReadOutcome, line: usize) -> String {
    let tail = bytes.get(read.valid_len as usize..).unwrap_or_default();
    let complete = serde_json::from_slice::<Entry>(tail.trim_ascii())
        .is_ok_and(|e| e.seq == read.entries.len() as u64);
    let what = if complete {
        format!("line {line} is a whole entry without its final newline: the newline was removed or replaced, or the file was cut")
    } else {
        format!("line {line} is incomplete (no final newline): a write torn by a crash, or the file was cut or edited")
    };
    format!(
        "{what}; the record would end at line {} with this line dropped. A closed run's journal has no such line: if the run crashed, `lifeboat resume` cuts it off; pass --allow-torn to verify the lines before it",
        line - 1
    )
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

/// Explains a chain failure at `line` (1-based) and names the line to blame: the line before,
/// when it was changed in place and so broke this line's link.
fn diagnose(bytes: &[u8], line: usize, what: &str) -> (usize, String) {
    if what.starts_with("hash chain broken") && line >= 2 {
        let previous = bytes.split(|b| *b == b'\n').nth(line - 2);
        if previous.is_some_and(|l| !line_is_exact(l)) {
            return (line - 1, changed_in_place(line - 1));
        }
    }
    (line, explain(bytes, line, what))
}

/// Explains a chain failure at `line` (1-based), using the `seq` of every parsable line to tell
/// a removed line from a reordered one.
fn explain(bytes: &[u8], line: usize, what: &str) -> String {
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
        if line < 2 {
            return "line 1 was changed: the header's `prev` is not 64 zeros".to_string();
        }
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
