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
use crate::engine::kind::Registry;
use crate::journal::scan::{self, Refused};
use crate::journal::{self, ChainPos, Growth, Tail, Writer};
use crate::runbook::Plan;
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
#[derive(Debug)]
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

/// The fast path reads and applies the journal a block of about this many bytes at a time:
/// one block's events are applied and dropped before the next block is decoded, so memory and
/// caches are reused instead of holding every decoded event at once.
const BLOCK: usize = 4 << 20;

/// Replays journal bytes with the fast reader. `Err` only says the fast path gave up: the
/// caller replays with the reference path, which returns the right state or error.
pub(crate) fn rebuild(bytes: &[u8], registry: &Registry) -> Result<Rebuilt, GaveUp> {
    rebuild_in(bytes, registry, BLOCK)
}

/// [`rebuild`] a `block` of bytes at a time.
fn rebuild_in(bytes: &[u8], registry: &Registry, block: usize) -> Result<Rebuilt, GaveUp> {
    let mut pos = ChainPos::start();
    let mut run: Option<(String, Engine, Value, OffsetDateTime)> = None;
    let mut last = None;
    loop {
        let rest = &bytes[pos.offset as usize..];
        // Whole lines: up to the first newline after BLOCK bytes.
        let len = match rest.get(block..).and_then(|r| memchr::memchr(b'\n', r)) {
            Some(nl) => block + nl + 1,
            None => rest.len(),
        };
        let mut s = scan::scan(&rest[..len], &pos, &decode).map_err(|u| u.to_string())?;
        if let Some((started, header)) = s.header.take() {
            let (run_id, engine) = engine_for(&header, registry).ok_or("header not replayable")?;
            run = Some((run_id, engine, header, started));
        }
        let (_, engine, _, _) = run.as_mut().ok_or("no header")?;
        let first_line = pos.next_seq + u64::from(pos.next_seq == 0) + 1;
        for (n, (time, event)) in s.entries().enumerate() {
            if let Some(event) = event {
                let line = first_line + n as u64;
                engine.handle(event, *time).map_err(|e| format!("line {line}: {e}"))?;
            }
        }
        last = s.last().map(|(t, _)| *t).or(last);
        pos = s.end.clone();
        if len == rest.len() {
            let (run_id, engine, header, started) = run.ok_or("no header")?;
            let times = (started, last.unwrap_or(started));
            return Ok(Rebuilt { run_id, engine, header, end: pos, torn: s.torn, times });
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Action, Actor};

    /// A finished run of twelve steps, three at a time, with progress: its journal's path.
    fn journal(dir: &Path) -> PathBuf {
        let steps: String = (0..12)
            .map(|i| {
                format!(
                    "  - id: s{i}\n    uses: manual.task\n    with: {{ instructions: do {i} }}\n"
                )
            })
            .collect();
        let text = format!(
            "apiVersion: lifeboat/v1\nmetadata:\n  name: blocks\n  concurrency: 3\nsteps:\n{steps}"
        );
        let plan = crate::runbook::load_str(Path::new("t.yaml"), &text, &[]).unwrap();
        let reg = Registry::empty();
        let t = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        let actor = Actor::os("u", "h");
        let run_dir = runner::create_run(dir, &plan, "b", t, &actor, 1).unwrap();
        let path = run_dir.join(journal::JOURNAL_FILE);
        let mut engine = Engine::new(Arc::new(plan), "b", 1, &|u| reg.class_of(u));
        let mut queue = engine.handle(&Event::RunStarted, t).unwrap();
        let (mut w, _) = Writer::open(&path).unwrap();
        let mut n = 0;
        while let Some(a) = queue.pop() {
            let Action::StartStep(s) = a else { continue };
            let (step, branch, attempt) = (s.step.clone(), s.branch, s.attempt);
            n += 1;
            let at = t + time::Duration::seconds(n);
            let events = [
                Event::StepStarted { step: step.clone(), branch, attempt },
                Event::StepProgress {
                    step: step.clone(),
                    branch,
                    attempt,
                    done: 1,
                    total: 2,
                    message: "half".into(),
                },
                Event::StepSucceeded { step, branch, attempt, outputs: Default::default() },
            ];
            for e in &events {
                queue.extend(engine.handle(e, at).unwrap());
                w.append_batch(&[(at, "event", serde_json::to_value(e).unwrap())]).unwrap();
            }
        }
        assert_eq!(engine.status(), super::super::Status::Succeeded);
        path
    }

    #[test]
    fn the_event_decoder_refuses_what_a_value_refuses_even_in_fields_it_ignores() {
        // The fast reader's contract (`journal::scan::Decode`): if `Event` ever stopped reading
        // every field as JSON (another serde representation), this fails.
        for bad in [r#"1e400"#, r#""\ud800""#, &("[".repeat(200) + &"]".repeat(200))] {
            let payload = format!(r#"{{"event":"timer_fired","unknown":{bad}}}"#);
            assert!(serde_json::from_str::<Value>(&payload).is_err(), "{payload}");
            assert_eq!(decode("event", &payload).unwrap_err(), Refused, "{payload}");
            assert_eq!(decode("signature", &payload).unwrap_err(), Refused, "{payload}");
        }
        // What a `Value` accepts, an ignored field included, is read as the reference reads it.
        let payload = r#"{"event":"timer_fired","unknown":[1,{"a":null}]}"#;
        let value: Value = serde_json::from_str(payload).unwrap();
        let reference = <Event as Deserialize>::deserialize(&value).unwrap();
        assert_eq!(decode("event", payload).unwrap(), Some(reference));
        assert_eq!(decode("header", payload).unwrap(), None);
    }

    #[test]
    fn a_journal_rebuilt_block_by_block_is_the_reference_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = journal(dir.path());
        let reg = Registry::empty();
        let bytes = std::fs::read(&path).unwrap();
        let read = journal::read(&path).unwrap();
        let (run_id, reference, header) =
            runner::replay_events(&path, &read.entries, &reg).unwrap();
        let end = ChainPos::after(
            &bytes,
            read.valid_len,
            read.entries.len() as u64,
            &read.last_line_hash,
        );
        let times = (read.entries[0].time, read.entries[read.entries.len() - 1].time);
        // From a block smaller than a line (one line at a time) to the whole journal at once.
        for block in [1, 300, 1000, 5000, BLOCK] {
            let r = rebuild_in(&bytes, &reg, block).unwrap();
            assert_eq!(r.engine.snapshot(), reference.snapshot(), "block {block}");
            assert_eq!(r.engine.status(), reference.status(), "block {block}");
            assert_eq!((&r.run_id, &r.header, &r.end, r.times), (&run_id, &header, &end, times));
            assert!(!r.torn);
        }
        // A torn last line is left out at any block size.
        let mut torn = bytes.clone();
        torn.extend_from_slice(br#"{"seq":99,"#);
        for block in [1, 1000, BLOCK] {
            let r = rebuild_in(&torn, &reg, block).unwrap();
            assert!(r.torn);
            assert_eq!(r.end, end, "block {block}");
        }
        // A broken chain in a later block is found there.
        let mut broken = bytes.clone();
        let at = broken.len() - 100;
        broken[at] ^= 1;
        assert!(rebuild_in(&broken, &reg, 1000).unwrap_err().contains("line"));
    }
}
