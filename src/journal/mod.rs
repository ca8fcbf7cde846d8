//! The checkpoint of a run: an append-only, fsync'd, hash-chained JSON Lines file per run, with a
//! format version and an exclusive lock. Knows no step kinds: payloads are opaque JSON.
//!
//! Layout: `<state-dir>/runs/<run-id>/journal.jsonl` and `<state-dir>/runs/<run-id>/lock`.
//!
//! Every line is one [`Entry`]: `seq` (0 for the header, then +1), `time` (RFC 3339, the wall
//! clock), `sim_time` (only in a run driven on a simulated clock, see [`EntryTime`]), `kind`,
//! `payload`, `prev` (SHA-256 of the previous line's bytes, without its newline; 64 zeros for the
//! header) and `hash` (SHA-256 of the entry serialised without `hash`). A line is written with one
//! `write` call and the batch is fsync'd before the caller acts on it (group commit: one fsync per
//! batch of entries).
//!
//! A last line without its newline is a torn write (the process died inside `write`): nothing
//! acted on it, so it is ignored with a warning and cut off at the next append. Any other damage
//! (bad JSON in the middle, a broken hash chain, a gap in `seq`) is an error naming the line, never
//! silently repaired.
//!
//! Two readers check the same things: [`parse`]/[`read`], the reference, builds every [`Entry`];
//! [`scan::scan`], the fast one replay uses, hashes the lines as they are and hands payloads to
//! the caller as text, and sends anything it does not vouch for back to [`parse`]. A
//! [`tail::Tail`] follows a growing journal from its last verified line.
//!
//! # Format versions
//! The header entry (`kind: "header"`) carries `format: {major, minor}`. A reader refuses a newer
//! major ("upgrade lifeboat to resume this run") and accepts any minor.
//! - 1.0: first format: header, `event` entries (engine events, see `engine::Event`).
//! - 1.1: `signature` entries (an Ed25519 signature of the previous line's hash, written by
//!   `run/resume --sign-key`, see `audit::sign`; replay skips them) and the actor's optional
//!   `azure_principal_name` next to `azure_principal`. A 1.0 reader ignores both.
//! - 1.2: `sim_time` on every entry of a run driven on a simulated clock (a simulated drill), next
//!   to `time`, which is always the wall clock; the header of such a run says `"clock":
//!   "simulated"`. The engine runs on `sim_time` ([`Entry::engine_time`]), the audit record shows
//!   `time`. The actor's optional `pipeline` (the CI/CD run it acted in) and `via` (`drill`: the
//!   drill acted on the person's behalf). Journals without `sim_time` are laid out exactly as in
//!   1.1. A 1.1 reader reads, verifies and exports a 1.2 journal with its wall-clock times, but
//!   replays a simulated run on the wrong clock (the timers it sees are a simulated day ahead):
//!   a drill run's state needs a 1.2 reader.

pub mod lock;
pub mod replica;
pub mod scan;
pub mod tail;

pub use lock::{LockHolder, RunLock};
pub use scan::{ChainPos, Unvouched};
pub use tail::{Growth, Tail};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

/// The format this build writes.
pub const FORMAT_MAJOR: u32 = 1;
pub const FORMAT_MINOR: u32 = 2;
/// The file name of a run's journal inside its run directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";
const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// When an entry was written: `time` is the wall clock, always (what the audit record shows and
/// `audit export --all` selects by); `sim_time` is the simulated time of a run driven on a
/// simulated clock (a simulated drill, whose simulated day runs ahead of the wall clock), the
/// time its engine ran on (timers, retry backoff, waits), so that a replay rebuilds the state the
/// run had. `None` for every other run: its engine runs on the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryTime {
    pub time: OffsetDateTime,
    pub sim_time: Option<OffsetDateTime>,
}

impl EntryTime {
    /// An entry of a run on the wall clock.
    pub fn wall(time: OffsetDateTime) -> EntryTime {
        EntryTime { time, sim_time: None }
    }

    /// An entry of a run on a simulated clock: written at `wall`, at simulated time `sim`.
    pub fn simulated(wall: OffsetDateTime, sim: OffsetDateTime) -> EntryTime {
        EntryTime { time: wall, sim_time: Some(sim) }
    }

    /// The time the run's engine saw: `sim_time` when there is one, else `time`.
    pub fn engine(&self) -> OffsetDateTime {
        self.sim_time.unwrap_or(self.time)
    }
}

impl From<OffsetDateTime> for EntryTime {
    fn from(time: OffsetDateTime) -> EntryTime {
        EntryTime::wall(time)
    }
}

/// One line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// The wall clock when the entry was written.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The simulated time of a run on a simulated clock (format 1.2; see [`EntryTime`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub sim_time: Option<OffsetDateTime>,
    pub kind: String,
    pub payload: Value,
    pub prev: String,
    pub hash: String,
}

impl Entry {
    /// The entry's times.
    pub fn times(&self) -> EntryTime {
        EntryTime { time: self.time, sim_time: self.sim_time }
    }

    /// The time the run's engine saw when the entry was written (what a replay applies it at):
    /// `sim_time` in a simulated run, else `time`.
    pub fn engine_time(&self) -> OffsetDateTime {
        self.times().engine()
    }
}

/// The entry as hashed: every field but `hash`, in this order.
#[derive(Serialize)]
struct Unhashed<'a> {
    seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    sim_time: Option<OffsetDateTime>,
    kind: &'a str,
    payload: &'a Value,
    prev: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: journal is corrupt: {what} (the file was changed or damaged; it is not repaired automatically: restore it from a copy)", path.display())]
    Corrupt { path: PathBuf, line: usize, what: String },
    #[error("{}: journal format {major}.{minor} is newer than this build reads ({FORMAT_MAJOR}.x) (upgrade lifeboat to resume this run)", path.display())]
    NewerFormat { path: PathBuf, major: u32, minor: u32 },
    #[error("{}: journal is empty (no header)", path.display())]
    Empty { path: PathBuf },
    /// The run's record elsewhere (its [`replica::Replica`]) did not take a batch: nothing of it
    /// was written, here or there. `fenced`: another driver holds the run.
    #[error("{message}")]
    Replica { path: PathBuf, message: String, fenced: bool },
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> JournalError + 'a {
    move |source| JournalError::Io { action, path: path.to_path_buf(), source }
}

pub use crate::digest::sha256_hex;

/// The marker written instead of a secret value: never the value, only its hash.
pub fn redact(value: &Value) -> Value {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    serde_json::json!({ "redacted": true, "sha256": sha256_hex(text.as_bytes()) })
}

/// Whether a value is a redaction marker.
pub fn is_redacted(value: &Value) -> bool {
    value.get("redacted") == Some(&Value::Bool(true)) && value.get("sha256").is_some()
}

fn entry_hash(seq: u64, stamp: EntryTime, kind: &str, payload: &Value, prev: &str) -> String {
    let unhashed =
        Unhashed { seq, time: stamp.time, sim_time: stamp.sim_time, kind, payload, prev };
    // Serialising plain JSON values cannot fail.
    sha256_hex(&serde_json::to_vec(&unhashed).unwrap_or_default())
}

/// The entry hash computed from the raw line (see [`line_hashes`]).
#[cfg(test)]
fn raw_entry_hash(line: &[u8]) -> Option<String> {
    line_hashes(line).1
}

fn make_entry(seq: u64, stamp: EntryTime, kind: &str, payload: Value, prev: &str) -> Entry {
    let hash = entry_hash(seq, stamp, kind, &payload, prev);
    Entry {
        seq,
        time: stamp.time,
        sim_time: stamp.sim_time,
        kind: kind.to_string(),
        payload,
        prev: prev.to_string(),
        hash,
    }
}

/// What [`read`] found: the verified entries, and whether a torn last line was dropped.
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    pub entries: Vec<Entry>,
    /// Byte length of the valid prefix (where the next append goes).
    pub valid_len: u64,
    /// The torn last line was ignored (1-based line number).
    pub torn_line: Option<usize>,
    /// SHA-256 of the last valid line (the next entry's `prev`).
    pub last_line_hash: String,
}

/// Reads and verifies a journal: the hash chain, `seq`, and the header's format version.
pub fn read(path: &Path) -> Result<ReadOutcome, JournalError> {
    parse(path, &read_bytes(path)?)
}

/// The bytes of a journal, with [`read`]'s error if it cannot be read.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, JournalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_err("read the journal", path))?;
    Ok(bytes)
}

/// Verified entries, as [`read`] returns them: given, or parsed from the journal's bytes the
/// first time they are looked at (a replay by [`scan`] needs only the engine's events, so
/// `runner::load` does not build them unless a caller asks).
#[derive(Clone, Default)]
pub struct Entries {
    parsed: OnceLock<Vec<Entry>>,
    /// The journal already verified by the fast reader, to parse on first use.
    source: Option<Arc<(PathBuf, Vec<u8>)>>,
    len: usize,
    times: Option<(OffsetDateTime, OffsetDateTime)>,
}

impl Entries {
    /// The entries of journal bytes the fast reader verified ([`scan::scan`] from the start:
    /// `len` entries, the first and last at `times`), parsed on first use.
    pub fn lazy(
        path: &Path,
        bytes: Vec<u8>,
        len: usize,
        times: Option<(OffsetDateTime, OffsetDateTime)>,
    ) -> Entries {
        let source = Some(Arc::new((path.to_path_buf(), bytes)));
        Entries { parsed: OnceLock::new(), source, len, times }
    }

    /// The number of entries, header included (without parsing them).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The times of the first entry (the header) and of the last (without parsing them).
    pub fn times(&self) -> Option<(OffsetDateTime, OffsetDateTime)> {
        self.times
    }
}

impl From<Vec<Entry>> for Entries {
    fn from(entries: Vec<Entry>) -> Entries {
        let len = entries.len();
        let times = entries.first().zip(entries.last()).map(|(a, b)| (a.time, b.time));
        Entries { parsed: OnceLock::from(entries), source: None, len, times }
    }
}

impl std::ops::Deref for Entries {
    type Target = [Entry];

    fn deref(&self) -> &[Entry] {
        self.parsed.get_or_init(|| match &self.source {
            // The fast reader accepts only what `parse` accepts: this cannot fail.
            Some(source) => parse(&source.0, &source.1).map(|r| r.entries).unwrap_or_default(),
            None => Vec::new(),
        })
    }
}

impl std::fmt::Debug for Entries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// [`read`] over bytes already in memory (`path` only names the file in errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<ReadOutcome, JournalError> {
    // Split into complete lines; a last line without its newline is a torn write: the process
    // died inside `write`, and nothing acted on it.
    let mut lines = Vec::new();
    let mut offset = 0usize;
    let mut torn_line = None;
    while offset < bytes.len() {
        match bytes[offset..].iter().position(|b| *b == b'\n') {
            Some(nl) => {
                lines.push(&bytes[offset..offset + nl]);
                offset += nl + 1;
            }
            None => {
                torn_line = Some(lines.len() + 1);
                break;
            }
        }
    }
    // Parsing and hashing are independent per line: spread them over the cores (replay speed),
    // then check the chain in order.
    let parsed = parse_lines_parallel(&lines);
    let mut entries = Vec::with_capacity(lines.len());
    let mut prev_hash = ZERO_HASH.to_string();
    for (i, item) in parsed.into_iter().enumerate() {
        let line_no = i + 1;
        let corrupt =
            |what: String| JournalError::Corrupt { path: path.to_path_buf(), line: line_no, what };
        let Parsed { entry, line_hash, raw_hash } =
            item.map_err(|e| corrupt(format!("invalid JSON ({e})")))?;
        if entries.is_empty() {
            // The version decides whether the rest can be understood at all: check it first.
            check_header(path, &entry)?;
        }
        if entry.seq != entries.len() as u64 {
            return Err(corrupt(format!(
                "sequence number {} where {} was expected",
                entry.seq,
                entries.len()
            )));
        }
        if entry.prev != prev_hash {
            return Err(corrupt(
                "hash chain broken: `prev` does not match the previous line".into(),
            ));
        }
        if raw_hash.as_deref() != Some(entry.hash.as_str())
            && entry_hash(entry.seq, entry.times(), &entry.kind, &entry.payload, &entry.prev)
                != entry.hash
        {
            return Err(corrupt("entry hash does not match its content".into()));
        }
        prev_hash = line_hash;
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(JournalError::Empty { path: path.to_path_buf() });
    }
    Ok(ReadOutcome { entries, valid_len: offset as u64, torn_line, last_line_hash: prev_hash })
}

struct Parsed {
    entry: Entry,
    line_hash: String,
    raw_hash: Option<String>,
}

fn parse_line(line: &[u8]) -> Result<Parsed, String> {
    let entry: Entry = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let (line_hash, raw_hash) = line_hashes(line);
    Ok(Parsed { entry, line_hash, raw_hash })
}

fn parse_lines_parallel(lines: &[&[u8]]) -> Vec<Result<Parsed, String>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    if threads <= 1 || lines.len() < 4096 {
        return lines.iter().map(|l| parse_line(l)).collect();
    }
    let chunk = lines.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(|l| parse_line(l)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec![Err("parser thread failed".into())]))
            .collect()
    })
}

/// SHA-256 of the whole line (the next entry's `prev`) and of the line without its final
/// `"hash"` field (the entry hash, as this build writes lines), sharing the common prefix.
fn line_hashes(line: &[u8]) -> (String, Option<String>) {
    const FIELD: &[u8] = br#","hash":""#;
    match line.windows(FIELD.len()).rposition(|w| w == FIELD) {
        Some(at) => {
            let mut prefix = Sha256::new();
            prefix.update(&line[..at]);
            let mut entry = prefix.clone();
            entry.update(b"}");
            prefix.update(&line[at..]);
            (hex::encode(prefix.finalize()), Some(hex::encode(entry.finalize())))
        }
        None => (sha256_hex(line), None),
    }
}

/// The format major version a header payload declares.
fn check_header_payload(payload: &Value) -> Option<u64> {
    payload.pointer("/format/major").and_then(Value::as_u64)
}

fn check_header(path: &Path, entry: &Entry) -> Result<(), JournalError> {
    if entry.kind != "header" {
        return Err(JournalError::Corrupt {
            path: path.to_path_buf(),
            line: 1,
            what: format!("first entry is `{}`, not the header", entry.kind),
        });
    }
    let major = check_header_payload(&entry.payload);
    let minor = entry.payload.pointer("/format/minor").and_then(Value::as_u64).unwrap_or(0);
    match major {
        None => Err(JournalError::Corrupt {
            path: path.to_path_buf(),
            line: 1,
            what: "header has no format version".into(),
        }),
        Some(m) if m > u64::from(FORMAT_MAJOR) => Err(JournalError::NewerFormat {
            path: path.to_path_buf(),
            major: m as u32,
            minor: minor as u32,
        }),
        Some(_) => Ok(()),
    }
}

/// Verifies the hash chain of entries already read (e.g. by an auditor from an export).
pub fn verify_chain(entries: &[Entry]) -> Result<(), String> {
    let mut prev = ZERO_HASH.to_string();
    for (i, e) in entries.iter().enumerate() {
        if e.seq != i as u64 {
            return Err(format!("entry {i}: sequence number {}", e.seq));
        }
        if e.prev != prev {
            return Err(format!("entry {i}: hash chain broken"));
        }
        if entry_hash(e.seq, e.times(), &e.kind, &e.payload, &e.prev) != e.hash {
            return Err(format!("entry {i}: hash does not match its content"));
        }
        prev = sha256_hex(&serde_json::to_vec(e).map_err(|e| e.to_string())?);
    }
    Ok(())
}

/// Test hook: `LIFEBOAT_FAILPOINT=journal-append:N[:before|torn|after-write]` makes the process
/// SIGKILL itself at its Nth appended entry (1-based), so crash tests hit every journal write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailMode {
    Before,
    Torn,
    AfterWrite,
}

fn failpoint() -> Option<(u64, FailMode)> {
    let spec = std::env::var("LIFEBOAT_FAILPOINT").ok()?;
    let rest = spec.strip_prefix("journal-append:")?;
    let mut parts = rest.split(':');
    let n = parts.next()?.parse().ok()?;
    let mode = match parts.next() {
        None | Some("before") => FailMode::Before,
        Some("torn") => FailMode::Torn,
        Some("after-write") => FailMode::AfterWrite,
        Some(_) => return None,
    };
    Some((n, mode))
}

/// Entries appended by this process, over every writer: what the failpoint counts.
static APPENDS_IN_PROCESS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn die() -> ! {
    // SAFETY: kill(2) on our own pid with SIGKILL has no memory-safety preconditions.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}

/// Appends entries to one journal. Obtain it through [`Writer::create`] or [`Writer::open`] while
/// holding the run's [`RunLock`].
pub struct Writer {
    path: PathBuf,
    file: File,
    /// The file's length: where the next batch starts (the replica's append position).
    offset: u64,
    replica: Option<std::sync::Arc<dyn replica::Replica>>,
    next_seq: u64,
    last_line_hash: String,
    failpoint: Option<(u64, FailMode)>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("next_seq", &self.next_seq)
            .field("replicated", &self.replica.is_some())
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Creates a new journal with its header entry (fails if the file exists), written at `time`
    /// (an `OffsetDateTime` on the wall clock, or an [`EntryTime`]).
    pub fn create(
        path: &Path,
        time: impl Into<EntryTime>,
        header: Value,
    ) -> Result<Writer, JournalError> {
        let time: EntryTime = time.into();
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(io_err("create the journal", path))?;
        let mut header = header;
        if let Value::Object(map) = &mut header {
            map.insert(
                "format".into(),
                serde_json::json!({ "major": FORMAT_MAJOR, "minor": FORMAT_MINOR }),
            );
        }
        let mut w = Writer {
            path: path.to_path_buf(),
            file,
            offset: 0,
            replica: replica::attached(path),
            next_seq: 0,
            last_line_hash: ZERO_HASH.into(),
            failpoint: failpoint(),
            buf: Vec::new(),
        };
        w.append_batch(&[(time, "header", header)])?;
        if let Some(dir) = path.parent() {
            // The new directory entry must survive a crash too.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(w)
    }

    /// Opens an existing journal for appending: verifies it, cuts off a torn last line (with a
    /// warning) and returns the verified entries.
    pub fn open(path: &Path) -> Result<(Writer, ReadOutcome), JournalError> {
        let outcome = read(path)?;
        let w = Writer::open_verified(
            path,
            outcome.valid_len,
            outcome.entries.len() as u64,
            &outcome.last_line_hash,
            outcome.torn_line,
        )?;
        Ok((w, outcome))
    }

    /// [`Writer::open`] of a journal already read and verified (by [`read`] or [`scan::scan`])
    /// while holding the run's lock: `valid_len` bytes of `entries` whole lines, the last hashing
    /// to `last_line_hash`; a torn line after them (`torn_line`, 1-based) is cut off.
    pub fn open_verified(
        path: &Path,
        valid_len: u64,
        entries: u64,
        last_line_hash: &str,
        torn_line: Option<usize>,
    ) -> Result<Writer, JournalError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err("open the journal", path))?;
        if let Some(line) = torn_line {
            tracing::warn!(
                path = %path.display(),
                line,
                "the journal's last line was torn by a crash; it is ignored and cut off"
            );
            file.set_len(valid_len).map_err(io_err("truncate the torn journal line of", path))?;
            file.sync_all().map_err(io_err("fsync", path))?;
        }
        let mut file = file;
        let offset = file.seek(SeekFrom::End(0)).map_err(io_err("seek in", path))?;
        Ok(Writer {
            path: path.to_path_buf(),
            file,
            offset,
            replica: replica::attached(path),
            next_seq: entries,
            last_line_hash: last_line_hash.to_string(),
            failpoint: failpoint(),
            buf: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of entries in the journal (header included).
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// Appends a batch of entries with one `write` and one fsync (group commit). When this
    /// returns, every entry is durable. Each entry's time is an `OffsetDateTime` on the wall
    /// clock or an [`EntryTime`].
    pub fn append_batch<S: Into<EntryTime> + Copy>(
        &mut self,
        batch: &[(S, &str, Value)],
    ) -> Result<Vec<Entry>, JournalError> {
        self.buf.clear();
        let mut written = Vec::with_capacity(batch.len());
        for (time, kind, payload) in batch {
            let entry = make_entry(
                self.next_seq,
                (*time).into(),
                kind,
                payload.clone(),
                &self.last_line_hash,
            );
            let start = self.buf.len();
            serde_json::to_writer(&mut self.buf, &entry).map_err(|e| JournalError::Io {
                action: "serialise an entry of",
                path: self.path.clone(),
                source: e.into(),
            })?;
            self.last_line_hash = sha256_hex(&self.buf[start..]);
            self.buf.push(b'\n');
            self.next_seq += 1;
            if let Some((n, mode)) = self.failpoint {
                if n == APPENDS_IN_PROCESS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 {
                    self.hit_failpoint(start, mode);
                }
            }
            written.push(entry);
        }
        if let Some(r) = &self.replica {
            // The record first: a batch is durable when the replica acknowledged it.
            if let Err(e) = r.append(self.offset, &self.buf) {
                return Err(JournalError::Replica {
                    path: self.path.clone(),
                    message: e.message,
                    fenced: e.fenced,
                });
            }
        }
        self.file.write_all(&self.buf).map_err(io_err("append to", &self.path))?;
        self.file.sync_data().map_err(io_err("fsync", &self.path))?;
        self.offset += self.buf.len() as u64;
        Ok(written)
    }

    fn hit_failpoint(&mut self, start: usize, mode: FailMode) {
        match mode {
            FailMode::Before => {
                let _ = self.file.write_all(&self.buf[..start]);
            }
            FailMode::Torn => {
                let end = start + (self.buf.len() - start) / 2;
                let _ = self.file.write_all(&self.buf[..end]);
            }
            FailMode::AfterWrite => {
                let _ = self.file.write_all(&self.buf);
            }
        }
        let _ = self.file.sync_data();
        die()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let t = OffsetDateTime::UNIX_EPOCH;
        let mut w = Writer::create(&path, t, serde_json::json!({"run_id": "r"})).unwrap();
        w.append_batch(&[
            (t, "event", serde_json::json!({"a": 1})),
            (t, "event", serde_json::json!({"b": 2})),
        ])
        .unwrap();
        let out = read(&path).unwrap();
        assert_eq!(out.entries.len(), 3);
        verify_chain(&out.entries).unwrap();
        let mut tampered = out.entries.clone();
        tampered[1].payload = serde_json::json!({"a": 2});
        assert!(verify_chain(&tampered).unwrap_err().contains("entry 1"));
    }

    #[test]
    fn a_simulated_entry_keeps_both_times_covered_by_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let t = OffsetDateTime::UNIX_EPOCH;
        let sim = t + time::Duration::days(1);
        let mut w =
            Writer::create(&path, EntryTime::simulated(t, sim), json!({"run_id": "r"})).unwrap();
        w.append_batch(&[
            (EntryTime::simulated(t, sim), "event", json!({"a": 1})),
            (EntryTime::wall(t), "event", json!({"b": 2})),
        ])
        .unwrap();
        let out = read(&path).unwrap();
        assert_eq!((out.entries[1].time, out.entries[1].sim_time), (t, Some(sim)));
        assert_eq!(out.entries[1].engine_time(), sim);
        assert_eq!((out.entries[2].sim_time, out.entries[2].engine_time()), (None, t));
        verify_chain(&out.entries).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with(
                r#"{"seq":1,"time":"1970-01-01T00:00:00Z","sim_time":"1970-01-02T00:00:00Z","kind":"event""#
            ),
            "{}",
            lines[1]
        );
        // An entry on the wall clock is laid out exactly as format 1.1 laid it out.
        assert!(lines[2].starts_with(r#"{"seq":2,"time":"1970-01-01T00:00:00Z","kind":"event""#));
        // The simulated time is covered by the hash: changing it breaks the chain.
        let changed = text.replacen("1970-01-02T00:00:00Z", "1970-01-03T00:00:00Z", 2);
        let err = parse(&path, changed.as_bytes()).unwrap_err().to_string();
        assert!(err.contains(":1: journal is corrupt"), "{err}");
        let mut entries = out.entries.clone();
        entries[1].sim_time = None;
        assert!(verify_chain(&entries).unwrap_err().contains("entry 1"));
    }

    #[test]
    fn raw_line_hash_equals_the_serialised_hash() {
        let e = make_entry(
            3,
            OffsetDateTime::UNIX_EPOCH.into(),
            "event",
            serde_json::json!({"x": {"a": 1, "hash": "h"}}),
            ZERO_HASH,
        );
        let line = serde_json::to_vec(&e).unwrap();
        assert_eq!(raw_entry_hash(&line), Some(e.hash));
    }

    #[test]
    fn redaction_keeps_no_value() {
        let r = redact(&Value::String("hunter2".into()));
        assert!(is_redacted(&r));
        assert!(!r.to_string().contains("hunter2"));
    }
}
