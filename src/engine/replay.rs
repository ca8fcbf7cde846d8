//! Replaying a journal fast, and keeping a replayed run up to date as its journal grows.
//!
//! [`rebuild`] replays with the journal's fast reader (`journal::scan`): every line hashed as it
//! is, `event` payloads parsed straight into [`Event`] (no `Entry`, no `serde_json::Value` per
//! line). Whatever the fast reader does not vouch for, and any event the engine refuses, sends
//! the caller back to the reference path (`journal::parse` + `runner::replay`), which accepts the
//! journal or names its error exactly as it always has: replay can only be faster, never
//! different.
//!
//! [`Watcher`] is a run kept up to date with its journal while another process writes it: each
//! [`Watcher::refresh`] reads and verifies only the entries appended since the last one
//! (`journal::Tail`) and applies them to the engine already built, so a look costs what was
//! appended, not the whole journal. It falls back to a full replay (said at debug level) when the
//! journal is not a continuation of what it read. `status --watch` and the drill's watcher use it.

use super::runner::{self, Replayed, RunError};
use super::{Engine, Event};
use crate::journal::scan::{self, Refused};
use crate::journal::{self, ChainPos, Growth, Tail, Writer};
use crate::runbook::Plan;
use crate::steps::Registry;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

/// What the fast reader keeps of an entry after the header: the engine's event, or nothing for
/// the kinds replay skips.
///
/// `Event` is an internally tagged enum, so serde reads the whole payload through
/// `deserialize_any` before it picks the variant: it refuses exactly the JSON a
/// `serde_json::Value` refuses (numbers out of range, lone surrogates, nesting), as the fast
/// reader's contract requires (`journal::scan::Decode`). Other kinds are checked as a `Value`.
pub fn decode(kind: &str, payload: &str) -> Result<Option<Event>, Refused> {
    if kind == "event" {
        serde_json::from_str::<Event>(payload).map(Some).map_err(|_| Refused)
    } else {
        serde_json::from_str::<Value>(payload).map(|_| None).map_err(|_| Refused)
    }
}

/// A run replayed by the fast path, before [`Engine::forget_dispatched`].
pub(crate) struct Rebuilt {
    pub run_id: String,
    /// Every event applied, nothing forgotten: more events can be applied to it.
    pub engine: Engine,
    pub header: Value,
    pub end: ChainPos,
    /// A line after the last complete one (torn by a crash, or still being written).
    pub torn: bool,
    /// The times of the first and last entries.
    pub times: (OffsetDateTime, OffsetDateTime),
}

/// Why the fast path gave up (the reference path decides instead).
pub(crate) type GaveUp = String;

/// Replays journal bytes with the fast reader. `Err` only says the fast path gave up: the
/// caller replays with the reference path, which returns the right state or error.
pub(crate) fn rebuild(bytes: &[u8], registry: &Registry) -> Result<Rebuilt, GaveUp> {
    let mut s = scan::scan(bytes, &ChainPos::start(), &decode).map_err(|u| u.to_string())?;
    let (started, header) = s.header.take().ok_or("no header")?;
    let last = s.last().map_or(started, |(t, _)| *t);
    let (run_id, mut engine) = engine_for(&header, registry).ok_or("header not replayable")?;
    for (n, (time, event)) in s.entries().enumerate() {
        if let Some(event) = event {
            engine.handle(event, *time).map_err(|e| format!("line {}: {e}", n + 2))?;
        }
    }
    let times = (started, last);
    Ok(Rebuilt { run_id, engine, header, end: s.end.clone(), torn: s.torn, times })
}

/// The fresh engine of a run whose header is `header`, as `runner::replay` builds it (`None`
/// where `runner::replay` reports an error).
fn engine_for(header: &Value, registry: &Registry) -> Option<(String, Engine)> {
    let plan = Plan::deserialize(header.get("plan").unwrap_or(&Value::Null)).ok()?;
    super::check_plan(&plan).ok()?;
    let run_id = header.get("run_id").and_then(Value::as_str).unwrap_or_default().to_string();
    let seed = header.get("seed").and_then(Value::as_u64).unwrap_or(0);
    let engine = Engine::new(Arc::new(plan), &run_id, seed, &|uses| registry.class_of(uses));
    Some((run_id, engine))
}

/// [`runner::load`]: the fast path, else the reference path.
pub(crate) fn load(path: &Path, registry: &Registry) -> Result<Replayed, RunError> {
    let bytes = journal::read_bytes(path)?;
    match rebuild(&bytes, registry) {
        Ok(Rebuilt { run_id, mut engine, header, end, times, .. }) => {
            engine.forget_dispatched();
            let entries = journal::Entries::lazy(path, bytes, end.next_seq as usize, Some(times));
            Ok(Replayed { run_id, engine, header, entries })
        }
        Err(why) => {
            tracing::debug!(path = %path.display(), %why, "replaying with the full reader");
            let read = journal::parse(path, &bytes)?;
            runner::replay(path, read.entries, registry)
        }
    }
}

/// What [`Watcher::refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// Nothing new in the journal.
    Unchanged,
    /// This many new entries were verified and applied.
    Appended(usize),
    /// The journal was replayed again from the start.
    Replayed,
}

/// A run kept up to date with its journal while another process writes it (read-only: no lock).
#[derive(Debug, Clone)]
pub struct Watcher {
    path: PathBuf,
    tail: Tail,
    run_id: String,
    header: Value,
    /// Every verified event applied, nothing forgotten ([`Rebuilt::engine`]).
    raw: Engine,
    /// `raw` as [`runner::load`] returns it (dispatched starts forgotten), made when asked.
    view: Option<Engine>,
    /// The last refresh failed part-way: the next one replays from the start.
    stale: bool,
}

impl Watcher {
    /// Replays the run in `run_dir` and keeps its place in the journal.
    pub fn open(run_dir: &Path, registry: &Registry) -> Result<Watcher, RunError> {
        let path = run_dir.join(journal::JOURNAL_FILE);
        let (tail, raw, run_id, header) = full(&path, registry)?;
        Ok(Watcher { path, tail, run_id, header, raw, view: None, stale: false })
    }

    /// Reads what was appended to the journal since the last look and applies it (a full replay
    /// when the journal is not a continuation of what was read). The error is the one
    /// [`runner::load`] returns; after it, [`Watcher::engine`] is not meaningful (it may hold
    /// part of what was appended) until a refresh succeeds, and the next refresh replays the
    /// journal from the start.
    pub fn refresh(&mut self, registry: &Registry) -> Result<Refreshed, RunError> {
        let growth = if self.stale {
            Growth::Reread("the last refresh failed".into())
        } else {
            self.tail.poll(&decode)
        };
        match growth {
            Growth::Same => Ok(Refreshed::Unchanged),
            Growth::Appended(entries) if entries.is_empty() => Ok(Refreshed::Unchanged),
            Growth::Appended(entries) => {
                let n = entries.len();
                for (time, event) in entries.iter() {
                    let Some(event) = event else { continue };
                    if let Err(e) = self.raw.handle(event, *time) {
                        // The full replay names the line (or reads what is there by now).
                        tracing::debug!(
                            path = %self.path.display(),
                            error = %e,
                            "a new event does not apply: replaying the journal"
                        );
                        return self.reload(registry);
                    }
                }
                self.view = None;
                Ok(Refreshed::Appended(n))
            }
            Growth::Reread(why) => {
                tracing::debug!(%why, "the journal is not a continuation of what was read: replaying it");
                self.reload(registry)
            }
        }
    }

    fn reload(&mut self, registry: &Registry) -> Result<Refreshed, RunError> {
        match full(&self.path, registry) {
            Ok((tail, raw, run_id, header)) => {
                *self = Watcher {
                    path: self.path.clone(),
                    tail,
                    run_id,
                    header,
                    raw,
                    view: None,
                    stale: false,
                };
                Ok(Refreshed::Replayed)
            }
            Err(e) => {
                self.stale = true;
                Err(e)
            }
        }
    }

    /// The run's state as [`runner::load`] would return it now. Usually the engine itself; a
    /// copy with the dispatched starts forgotten only when forgetting them changes what is seen
    /// ([`Engine::forgetting_changes_nothing_visible`]).
    pub fn engine(&mut self) -> &Engine {
        if self.view.is_none() && self.raw.forgetting_changes_nothing_visible() {
            return &self.raw;
        }
        let raw = &self.raw;
        self.view.get_or_insert_with(|| {
            let mut e = raw.clone();
            e.forget_dispatched();
            e
        })
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The journal's header payload.
    pub fn header(&self) -> &Value {
        &self.header
    }

    /// The number of verified entries (header included).
    pub fn entries(&self) -> u64 {
        self.tail.pos().next_seq
    }
}

/// A full replay for a [`Watcher`]: fast path, else the reference path.
fn full(path: &Path, registry: &Registry) -> Result<(Tail, Engine, String, Value), RunError> {
    let (bytes, stamp) = journal::tail::read_stamped(path).map_err(|source| {
        RunError::Journal(journal::JournalError::Io {
            action: "read the journal",
            path: path.to_path_buf(),
            source,
        })
    })?;
    match rebuild(&bytes, registry) {
        Ok(r) => Ok((Tail::new(path, r.end, stamp), r.engine, r.run_id, r.header)),
        Err(why) => {
            tracing::debug!(path = %path.display(), %why, "replaying with the full reader");
            let read = journal::parse(path, &bytes)?;
            let pos = ChainPos::after(
                &bytes,
                read.valid_len,
                read.entries.len() as u64,
                &read.last_line_hash,
            );
            let (run_id, engine, header) = runner::replay_events(path, &read.entries, registry)?;
            Ok((Tail::new(path, pos, stamp), engine, run_id, header))
        }
    }
}

/// `Writer::open` + [`runner::replay`] for a command that appends to the run (the run lock held):
/// the fast path, else the reference path.
pub(crate) fn open(path: &Path, registry: &Registry) -> Result<(Writer, Replayed), RunError> {
    let bytes = journal::read_bytes(path)?;
    match rebuild(&bytes, registry) {
        Ok(Rebuilt { run_id, mut engine, header, end, torn, times }) => {
            let torn_line = torn.then_some(end.next_seq as usize + 1);
            let writer = Writer::open_verified(
                path,
                end.offset,
                end.next_seq,
                &hex::encode(end.last_hash),
                torn_line,
            )?;
            engine.forget_dispatched();
            let entries = journal::Entries::lazy(path, bytes, end.next_seq as usize, Some(times));
            Ok((writer, Replayed { run_id, engine, header, entries }))
        }
        Err(why) => {
            tracing::debug!(path = %path.display(), %why, "replaying with the full reader");
            let (writer, read) = Writer::open(path)?;
            Ok((writer, runner::replay(path, read.entries, registry)?))
        }
    }
}
