//! The executor around the sans-IO engine: creates runs, replays journals, and drives a run in
//! the foreground ([`drive`]) by performing the engine's actions with the step kinds of a
//! [`Registry`]. The CLI (`run`, `resume`, `approve`, ...), the drill and the guided mode are thin
//! layers over these functions.
//!
//! Invariant: an event is journaled (fsync'd) before the engine applies it, and a step starts only
//! after its `StepStarted` is durable. Results that arrive together are committed together (one
//! fsync per batch).

use super::inbox::{self, Inbox, LocalInbox, Settle};
use super::kind::{
    CancelHandle, Cancellation, Registry, Services, StepContext, StepOutcome, StepSink,
};
use super::{Action, Actor, Blocker, Engine, EngineError, Event, InstanceView, StartStep, Status};
use crate::clock::{Clock, ManualClock};
use crate::error::{Exit, UserError};
use crate::journal::{self, Entry, EntryTime, JournalError, RunLock, Writer};
use crate::redact::{self, Redactor};
use crate::runbook::Plan;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Locked(#[from] journal::lock::LockError),
    #[error("run {0} already exists")]
    Exists(String),
    #[error("run {0} does not exist")]
    NotFound(String),
    #[error("run id `{0}` is not valid")]
    BadRunId(String),
    #[error("{}:{line}: journal entry cannot be replayed: {error}", path.display())]
    Replay { path: PathBuf, line: usize, error: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot create {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run {0} cannot progress and waits for nobody (internal error: please report it)")]
    Stuck(String),
    /// A secret value that could not be kept out of the journal and the output: refused before
    /// anything is written. The message names the parameter, never the value.
    #[error("{0}")]
    WeakSecret(String),
    /// An event that redaction would break: nothing is journaled.
    #[error(
        "refusing to journal an event of run {run}: {why} (nothing was written; please report it)"
    )]
    Redaction { run: String, why: String },
    /// A person's command on a fanned-out step named no branch and did not say `--all`.
    #[error(
        "step {step} is fanned out: name the branch to {verb} ({})",
        describe_branches(branches)
    )]
    NeedsBranch { run: String, step: String, verb: &'static str, branches: Vec<String> },
    /// An approval of a four-eyes gate by the person who started the run (or by someone the
    /// journal cannot tell apart from them): nothing is journaled.
    #[error("{gates} needs a second person (four eyes): {why}")]
    FourEyes { run: String, gates: String, why: String },
}

fn describe_branches(branches: &[String]) -> String {
    if branches.is_empty() {
        "its branches do not exist yet; without a branch the command applies to every branch it will have".into()
    } else {
        format!("branches it applies to: {}", branches.join(", "))
    }
}

impl From<RunError> for UserError {
    fn from(e: RunError) -> UserError {
        let msg = e.to_string();
        match e {
            RunError::Locked(journal::lock::LockError::Held { .. }) => UserError::locked(msg)
                .with_hint(
                    "wait for that process to finish or stop it; a lock dies with its process",
                ),
            RunError::Exists(_) => {
                UserError::usage(msg).with_hint("choose another --run-id, or `lifeboat resume` it")
            }
            RunError::NotFound(_) => {
                UserError::usage(msg).with_hint("`lifeboat runs list` shows the runs")
            }
            RunError::BadRunId(_) => UserError::usage(msg)
                .with_hint("use letters, digits, `.`, `_` and `-`, at most 64 characters"),
            RunError::Engine(_) => {
                UserError::usage(msg).with_hint("`lifeboat status RUN` shows each step's state")
            }
            RunError::Journal(JournalError::NewerFormat { .. }) => UserError::usage(msg),
            // Another driver holds the run's record (the run store's lease): stop, exit 4.
            RunError::Journal(JournalError::Replica { fenced: true, .. }) => UserError::locked(msg),
            RunError::Replay { .. } => UserError::failed(msg).with_hint(
                "if a newer lifeboat wrote this run, upgrade; otherwise the journal was changed or damaged: restore it from a copy, or start a new run",
            ),
            RunError::WeakSecret(_) => UserError::usage(msg)
                .with_hint("choose another value for that secret; nothing was written"),
            RunError::NeedsBranch { ref run, ref step, verb, ref branches } => {
                // A labelled branch is quoted: `[...]` is a glob pattern to a shell.
                let example = match branches.first() {
                    Some(b) if b.contains('[') => format!("'{b}'"),
                    Some(b) => b.clone(),
                    None => format!("{step}#N"),
                };
                let args = match verb {
                    "approve" => " --comment TEXT",
                    "attest" => " --evidence TEXT",
                    _ => " --reason TEXT",
                };
                UserError::usage(msg).with_hint(format!(
                    "e.g. lifeboat {verb} {run} {example}{args}; or add --all to {verb} every one of them with the same{}",
                    match verb {
                        "approve" => " comment",
                        "attest" => " evidence",
                        _ => " reason",
                    }
                ))
            }
            RunError::FourEyes { ref run, ref gates, .. } => {
                let first = gates.split(", ").next().unwrap_or_default();
                UserError::usage(msg).with_hint(format!(
                    "another person approves it: lifeboat approve {run} {first} --comment TEXT (from any machine; while the run is driven elsewhere the approval goes through the run's inbox)"
                ))
            }
            other => UserError::failed(other.to_string()),
        }
    }
}

/// The directory holding every run: `<state-dir>/runs`.
pub fn runs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runs")
}

/// Checks a run id: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
pub fn validate_run_id(id: &str) -> Result<(), RunError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(RunError::BadRunId(id.to_string()))
    }
}

/// A fresh run id: `YYYYMMDD-HHMMSS-xxxxxx`.
pub fn new_run_id(now: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let stamp = now.format(&fmt).unwrap_or_else(|_| "run".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{stamp}-{}", &suffix[..6])
}

/// The directory of an existing run.
pub fn run_dir(state_dir: &Path, run_id: &str) -> Result<PathBuf, RunError> {
    validate_run_id(run_id)?;
    let dir = runs_dir(state_dir).join(run_id);
    if dir.join(journal::JOURNAL_FILE).is_file() {
        Ok(dir)
    } else {
        Err(RunError::NotFound(run_id.to_string()))
    }
}

/// The plan as journaled: secret parameter values replaced by redaction markers.
fn redacted_plan(plan: &Plan) -> Plan {
    let mut p = plan.clone();
    for def in &plan.runbook.params {
        if def.secret {
            if let Some(v) = p.params.get_mut(&def.name) {
                *v = journal::redact(v);
            }
        }
    }
    p
}

/// Refuses secret parameter values that could not be kept out of the journal and the output
/// (see `redact::weakness`): too short, part of the marker, or already in clear in what the
/// journal's header holds (the runbook's text, the run id, a parameter that is not secret).
/// Messages name the parameter, never the value.
pub fn check_secrets(plan: &Plan, run_id: &str) -> Result<(), RunError> {
    for def in plan.runbook.params.iter().filter(|d| d.secret) {
        let Some(value) = plan.params.get(&def.name) else { continue };
        let name = &def.name;
        if let Some(why) = redact::value_weakness(value) {
            return Err(RunError::WeakSecret(format!("secret parameter {name} {why}")));
        }
        for text in redact::secret_texts(value) {
            if let Some(place) = exposed_in(plan, run_id, &text) {
                return Err(RunError::WeakSecret(format!(
                    "the value of secret parameter {name} occurs in {place}, which the journal holds in clear: it cannot be kept secret"
                )));
            }
        }
    }
    Ok(())
}

/// Where a secret text already is in clear in a run's journal header, if it is.
fn exposed_in(plan: &Plan, run_id: &str, text: &str) -> Option<String> {
    if run_id.contains(text) {
        return Some("the run id".into());
    }
    if let Some(step) = plan.runbook.steps.iter().find(|s| s.id.contains(text)) {
        return Some(format!("the id of step {}", step.id.replace(text, redact::MARKER)));
    }
    if plan.runbook.source.text.contains(text) {
        return Some("the runbook's text (a default, a literal or a description)".into());
    }
    for def in plan.runbook.params.iter().filter(|d| !d.secret) {
        let clear = plan.params.get(&def.name).map(redact::secret_texts).unwrap_or_default();
        if clear.iter().any(|c| c.contains(text)) {
            return Some(format!("parameter {}, which is not secret", def.name));
        }
    }
    None
}

/// Creates a run: its directory and a journal with the header and `RunStarted`. Refuses an
/// existing run id, and secret values that could not be kept secret ([`check_secrets`]), before
/// anything is written. Returns the run directory.
/// `now` is an `OffsetDateTime` on the wall clock, or the [`EntryTime`] of a run on a simulated
/// clock ([`entry_time`]): the header then says `"clock": "simulated"`.
pub fn create_run(
    state_dir: &Path,
    plan: &Plan,
    run_id: &str,
    now: impl Into<EntryTime>,
    actor: &Actor,
    seed: u64,
) -> Result<PathBuf, RunError> {
    create_run_with(state_dir, plan, run_id, now, actor, seed, Map::new())
}

/// [`create_run`] with more header fields (`extra`, e.g. `inputs`: which parameters a person
/// answered in guided mode, whether a backup identity was given). Never a secret: the header is
/// scrubbed of the known ones like the rest, but `extra` must not hold one to begin with. A key
/// the header has already is ignored.
pub fn create_run_with(
    state_dir: &Path,
    plan: &Plan,
    run_id: &str,
    now: impl Into<EntryTime>,
    actor: &Actor,
    seed: u64,
    extra: Map<String, Value>,
) -> Result<PathBuf, RunError> {
    let now: EntryTime = now.into();
    validate_run_id(run_id)?;
    check_secrets(plan, run_id)?;
    let runs = runs_dir(state_dir);
    std::fs::create_dir_all(&runs).map_err(|source| RunError::Io { path: runs.clone(), source })?;
    let dir = runs.join(run_id);
    let journal_path = dir.join(journal::JOURNAL_FILE);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        // A directory without a journal is a creation that died before it finished: reuse it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !journal_path.exists() => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(RunError::Exists(run_id.to_string()))
        }
        Err(source) => return Err(RunError::Io { path: dir, source }),
    }
    let _lock = RunLock::acquire(&dir, run_id, now.time)?;
    if journal_path.exists() {
        return Err(RunError::Exists(run_id.to_string()));
    }
    let journaled = redacted_plan(plan);
    let mut header = json!({
        "run_id": run_id,
        "runbook": {
            "name": plan.runbook.name,
            "path": plan.runbook.source.path,
            "sha256": plan.runbook.source.sha256,
        },
        "params": journaled.params,
        "started_by": actor,
        "seed": seed,
        "plan": journaled,
    });
    // A run on a simulated clock says so: its entries carry `sim_time`, the engine's time.
    if now.sim_time.is_some() {
        header["clock"] = json!("simulated");
    }
    if let Some(h) = header.as_object_mut() {
        for (k, v) in extra {
            h.entry(k).or_insert(v);
        }
    }
    // A runbook built into the binary is named as such (its text is in the plan either way).
    if let Some(name) = &plan.runbook.source.builtin {
        header["runbook"]["builtin"] = json!(name);
    }
    // What [`check_secrets`] cannot see (the runbook's path, the user's name): scrubbed in place.
    let mut secrets = redact::process();
    for (_, v) in secret_params_of(plan) {
        secrets.add_value(&v);
    }
    secrets.scrub(&mut header);
    // Written aside and renamed into place, so a run exists with its first event or not at all.
    let tmp = dir.join(format!("{}.new", journal::JOURNAL_FILE));
    let _ = std::fs::remove_file(&tmp);
    let mut w = Writer::create(&tmp, now, header)?;
    w.append_batch(&[(now, "event", to_value(&Event::RunStarted))])?;
    drop(w);
    std::fs::rename(&tmp, &journal_path)
        .map_err(|source| RunError::Io { path: journal_path.clone(), source })?;
    let _ = std::fs::File::open(&dir).and_then(|d| d.sync_all());
    Ok(dir)
}

fn to_value(e: &Event) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// The secret parameters of a plan with their real values, for [`RunOptions::secret_params`].
pub fn secret_params_of(plan: &Plan) -> Map<String, Value> {
    plan.runbook
        .params
        .iter()
        .filter(|d| d.secret)
        .filter_map(|d| plan.params.get(&d.name).map(|v| (d.name.clone(), v.clone())))
        .filter(|(_, v)| !v.is_null() && !journal::is_redacted(v))
        .collect()
}

/// Checks re-supplied secret parameters against the hashes in the journal: a wrong value would
/// silently change what a resumed run does.
pub fn check_secret_params(header: &Value, values: &Map<String, Value>) -> Result<(), String> {
    for (name, v) in values {
        let Some(marker) = header.pointer(&format!("/params/{name}")) else {
            return Err(format!("parameter {name} is not a parameter of this run"));
        };
        if !journal::is_redacted(marker) {
            return Err(format!("parameter {name} is not secret: it cannot be changed on resume"));
        }
        if journal::redact(v) != *marker {
            return Err(format!(
                "secret parameter {name} differs from the value the run started with"
            ));
        }
    }
    Ok(())
}

/// A run rebuilt from its journal.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub run_id: String,
    pub engine: Engine,
    pub header: Value,
    /// The verified entries ([`load`] parses them only if they are looked at).
    pub entries: journal::Entries,
}

/// Rebuilds the engine from verified journal entries (the reference replay; [`load`] replays
/// with the fast reader and comes back here for anything it does not vouch for).
pub fn replay(path: &Path, entries: Vec<Entry>, registry: &Registry) -> Result<Replayed, RunError> {
    let (run_id, mut engine, header) = replay_events(path, &entries, registry)?;
    engine.forget_dispatched();
    Ok(Replayed { run_id, engine, header, entries: entries.into() })
}

/// [`replay`] without forgetting the starts handed out: the engine can take more events.
pub(crate) fn replay_events(
    path: &Path,
    entries: &[Entry],
    registry: &Registry,
) -> Result<(String, Engine, Value), RunError> {
    let header = entries.first().map(|e| e.payload.clone()).unwrap_or(Value::Null);
    let bad =
        |line: usize, error: String| RunError::Replay { path: path.to_path_buf(), line, error };
    let plan: Plan = serde_json::from_value(header.get("plan").cloned().unwrap_or(Value::Null))
        .map_err(|e| bad(1, format!("header has no valid plan ({e})")))?;
    // The header may be damaged or crafted (with a valid hash chain): nothing in it is trusted
    // to index with until it is checked.
    super::check_plan(&plan).map_err(|e| bad(1, format!("header holds an invalid plan: {e}")))?;
    let run_id = header.get("run_id").and_then(Value::as_str).unwrap_or_default().to_string();
    let seed = header.get("seed").and_then(Value::as_u64).unwrap_or(0);
    let mut engine = Engine::new(Arc::new(plan), &run_id, seed, &|uses| registry.class_of(uses));
    for (n, entry) in entries.iter().enumerate().skip(1) {
        if entry.kind != "event" {
            continue;
        }
        let event = <Event as serde::Deserialize>::deserialize(&entry.payload)
            .map_err(|e| bad(n + 1, format!("unknown event ({e})")))?;
        engine.handle(&event, entry.engine_time()).map_err(|e| bad(n + 1, e.to_string()))?;
    }
    Ok((run_id, engine, header))
}

/// Reads a run without locking it (for `status` and `runs list`): [`replay`] of
/// `journal::read`, by the fast path (`engine::replay`). To follow a run as it grows, use
/// [`super::replay::Watcher`].
pub fn load(run_dir: &Path, registry: &Registry) -> Result<Replayed, RunError> {
    super::replay::load(&run_dir.join(journal::JOURNAL_FILE), registry)
}

/// How [`drive`] waits for timers.
#[derive(Debug, Clone, Default)]
pub enum TimeMode {
    /// Sleep in real time until the clock reaches the next timer.
    #[default]
    Real,
    /// Jump the manual clock to the next timer whenever nothing runs (tests, simulations).
    Virtual(ManualClock),
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub actor: Actor,
    pub time: TimeMode,
    /// Return [`RunOutcome::Sleeping`] instead of waiting for a timer later than this.
    pub wait_until: Option<OffsetDateTime>,
    /// Real values of secret parameters (never journaled; see [`secret_params_of`]).
    pub secret_params: Map<String, Value>,
    /// How often the run's inbox is read while the driver waits (for a step, a timer or a
    /// person): approvals, attestations and skips that other processes queued there.
    pub inbox_poll: std::time::Duration,
    /// How long to keep driving (holding the lock and reading the inbox) once only a person can
    /// unblock the run (paused, or failed with nothing else to do), before returning
    /// [`RunOutcome::Paused`] (or `Failed`). Zero: read the inbox once, then return.
    pub wait_for_people: std::time::Duration,
    /// Told of every batch of events [`drive`] journals (e.g. the notifier of `--notify`).
    pub observer: Option<Arc<dyn RunObserver>>,
    /// The driver this process took the run over from (its lease broken), journaled in the
    /// `resumed` event so the audit record says whose run was taken.
    pub took_over_from: Option<String>,
    /// The run's inbox when it is not `<run dir>/inbox/` (a run in a shared run store keeps it
    /// beside its journal there: `runstore::BlobInbox`). `None`: the local one.
    pub inbox: Option<Arc<dyn Inbox>>,
}

/// The default of [`RunOptions::inbox_poll`].
pub const INBOX_POLL: std::time::Duration = std::time::Duration::from_secs(1);

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            actor: Actor::current(),
            time: TimeMode::Real,
            wait_until: None,
            secret_params: Map::new(),
            inbox_poll: INBOX_POLL,
            wait_for_people: std::time::Duration::ZERO,
            observer: None,
            took_over_from: None,
            inbox: None,
        }
    }
}

/// Something that watches a run as [`drive`] moves it, from a layer above the engine: called
/// with each batch of events once it is journaled and applied (`engine` is the state after it;
/// `now` the batch's time on the run's clock). Called on the driver's task between commits, so
/// it must return at once and never fail the run: queue work, never wait for it. `events` are
/// the batch as handed to the journal, before its secrets were scrubbed: read which steps they
/// name; take any text from `engine`, whose state holds the scrubbed form.
pub trait RunObserver: Send + Sync + std::fmt::Debug {
    fn journaled(&self, engine: &Engine, events: &[Event], now: OffsetDateTime);
}

/// How a [`drive`] ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    Succeeded,
    /// At least one step failed for good; `blockers` lists failures and open requests.
    Failed {
        blockers: Vec<Blocker>,
    },
    /// Only a person can unblock the run.
    Paused {
        blockers: Vec<Blocker>,
    },
    /// Nothing runs and the next timer is later than `RunOptions::wait_until`.
    Sleeping {
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    Cancelled,
}

impl RunOutcome {
    pub fn exit(&self) -> Exit {
        match self {
            RunOutcome::Succeeded => Exit::Ok,
            RunOutcome::Failed { .. } | RunOutcome::Cancelled => Exit::Failed,
            RunOutcome::Paused { .. } | RunOutcome::Sleeping { .. } => Exit::Paused,
        }
    }
}

type Key = (String, Option<usize>);

enum TaskMsg {
    Progress { key: Key, attempt: u32, done: u64, total: u64, message: String },
    Effect { key: Key, attempt: u32, effect: super::Effect, ack: oneshot::Sender<()> },
    Scratch { key: Key, attempt: u32, scratch: Value, ack: oneshot::Sender<()> },
    Done { key: Key, attempt: u32, outcome: StepOutcome },
}

struct ChannelSink {
    key: Key,
    attempt: u32,
    tx: mpsc::UnboundedSender<TaskMsg>,
}

impl StepSink for ChannelSink {
    fn progress(&self, done: u64, total: u64, message: String) {
        let _ = self.tx.send(TaskMsg::Progress {
            key: self.key.clone(),
            attempt: self.attempt,
            done,
            total,
            message,
        });
    }
    fn effect(&self, effect: super::Effect) -> BoxFuture<'static, Result<(), String>> {
        let (ack, rx) = oneshot::channel();
        let sent = self.tx.send(TaskMsg::Effect {
            key: self.key.clone(),
            attempt: self.attempt,
            effect,
            ack,
        });
        Box::pin(async move {
            sent.map_err(|_| "the run is stopping".to_string())?;
            rx.await.map_err(|_| "the effect could not be journaled".to_string())
        })
    }
    fn scratch(&self, scratch: Value) -> BoxFuture<'static, Result<(), String>> {
        let (ack, rx) = oneshot::channel();
        let sent = self.tx.send(TaskMsg::Scratch {
            key: self.key.clone(),
            attempt: self.attempt,
            scratch,
            ack,
        });
        Box::pin(async move {
            sent.map_err(|_| "the run is stopping".to_string())?;
            rx.await.map_err(|_| "the scratch state could not be journaled".to_string())
        })
    }
}

struct Running {
    attempt: u32,
    handle: tokio::task::JoinHandle<()>,
    cancel: CancelHandle,
}

/// When an entry is written on `clock`: its time alone, or, on a simulated clock (one that
/// knows the wall clock's time, [`Clock::wall_now`]), the wall clock's time with the simulated
/// time beside it, which the engine runs on.
pub fn entry_time(clock: &dyn Clock) -> EntryTime {
    let now = clock.now();
    match clock.wall_now() {
        Some(wall) => EntryTime::simulated(wall, now),
        None => EntryTime::wall(now),
    }
}

/// Journals events as one batch (one fsync), then applies them at the engine's time of `now`
/// (the simulated time of a run on a simulated clock); returns the actions. Every
/// string of every event is scrubbed of the secrets this process knows (`redact::process`:
/// secret parameters, secret outputs, OAuth codes), types kept; the engine applies the journaled
/// (scrubbed) form, so a replay sees exactly what the live engine saw. An event that would not
/// survive its scrubbing (it no longer parses, or a secret occurs in the step it names) is an
/// error and nothing of the batch is journaled: never the clear event.
fn commit(
    writer: &mut Writer,
    engine: &mut Engine,
    events: &[Event],
    now: EntryTime,
) -> Result<Vec<Action>, RunError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let redactor = redact::process();
    let run = engine.run_id().to_string();
    let mut journaled = Vec::with_capacity(events.len());
    let mut scrubbed = Vec::with_capacity(events.len());
    for e in events {
        let (v, back) = scrub_event(&redactor, e)
            .map_err(|why| RunError::Redaction { run: run.clone(), why })?;
        journaled.push(v);
        scrubbed.push(back);
    }
    let batch: Vec<_> = journaled.into_iter().map(|v| (now, "event", v)).collect();
    writer.append_batch(&batch)?;
    let mut actions = Vec::new();
    for e in &scrubbed {
        actions.extend(engine.handle(e, now.engine())?);
    }
    Ok(actions)
}

/// One event as journaled: its JSON with every secret replaced by the marker, and that JSON
/// read back. Errors say why the event cannot be journaled, without any secret.
fn scrub_event(redactor: &Redactor, event: &Event) -> Result<(Value, Event), String> {
    let mut v =
        serde_json::to_value(event).map_err(|e| format!("it cannot be serialised ({e})"))?;
    if redactor.is_empty() {
        return Ok((v, event.clone()));
    }
    let step = v.get("step").and_then(Value::as_str).map(str::to_string);
    redactor.scrub(&mut v);
    if let Some(step) = step {
        let now = v.get("step").and_then(Value::as_str).unwrap_or_default();
        if now != step {
            return Err(format!(
                "a secret value occurs in the id of step {now}, which the event must name in clear"
            ));
        }
    }
    let back = <Event as serde::Deserialize>::deserialize(&v)
        .map_err(|e| format!("the event no longer parses once its secrets are redacted ({e})"))?;
    Ok((v, back))
}

/// Drives a run in the foreground until it succeeds, fails, pauses for a person, or (with
/// `wait_until`) would sleep past that time. Holds the run's lock throughout.
pub async fn drive(
    run_dir: &Path,
    registry: &Registry,
    services: Arc<Services>,
    clock: Arc<dyn Clock>,
    options: &RunOptions,
) -> Result<RunOutcome, RunError> {
    let run_id = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Secret parameters are checked again (a run started by an older build may hold a short
    // one), then known to every commit and every line this process prints.
    for (name, v) in &options.secret_params {
        if let Some(why) = redact::value_weakness(v) {
            return Err(RunError::WeakSecret(format!("secret parameter {name} {why}")));
        }
    }
    for v in options.secret_params.values() {
        redact::register(v);
    }
    let _lock = RunLock::acquire(run_dir, &run_id, entry_time(&*clock).time)?;
    let path = run_dir.join(journal::JOURNAL_FILE);
    let (mut writer, Replayed { run_id, mut engine, entries, header }) =
        super::replay::open(&path, registry)?;
    let fresh = entries.len() <= 2;
    drop(entries);
    // Every commit of this drive, then its observer (if any) with the state it left.
    // The observer gets the engine's time, the one the state it reads was computed on.
    let commit = |w: &mut Writer, e: &mut Engine, batch: &[Event], now: EntryTime| {
        let actions = commit(w, e, batch, now)?;
        if let Some(o) = &options.observer {
            o.journaled(e, batch, now.engine());
        }
        Ok::<_, RunError>(actions)
    };
    engine.remember_secret_params(options.secret_params.clone());
    let mut actions = engine.forget_dispatched();
    if !fresh {
        let resumed = [Event::Resumed {
            by: options.actor.clone(),
            took_over_from: options.took_over_from.clone(),
        }];
        actions.extend(commit(&mut writer, &mut engine, &resumed, entry_time(&*clock))?);
    }
    // Requests queued while no process drove the run are taken first.
    let local = LocalInbox::for_run(run_dir);
    let inbox: &dyn Inbox = options.inbox.as_deref().unwrap_or(&local);
    let desk = Desk { inbox, path: &path, header: &header, observer: options.observer.as_ref() };
    actions.extend(desk.take(&mut writer, &mut engine, entry_time(&*clock))?.0);
    let poll = options.inbox_poll.max(std::time::Duration::from_millis(10));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + poll, poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Since when only a person can unblock the run (for `wait_for_people`).
    let mut waiting_for_people: Option<tokio::time::Instant> = None;
    let (tx, mut rx) = mpsc::unbounded_channel::<TaskMsg>();
    let mut running: HashMap<Key, Running> = HashMap::new();
    let result = loop {
        // Perform actions; starts are journaled as one batch before any of them runs.
        let mut starts: Vec<StartStep> = Vec::new();
        for a in actions.drain(..) {
            match a {
                Action::StartStep(s) => starts.push(*s),
                Action::CancelStep { step, branch, attempt, .. } => {
                    let key = (step, branch);
                    if running.get(&key).is_some_and(|r| r.attempt == attempt) {
                        if let Some(r) = running.remove(&key) {
                            r.cancel.cancel();
                            r.handle.abort();
                        }
                    }
                }
                _ => {}
            }
        }
        if !starts.is_empty() {
            let events: Vec<Event> = starts
                .iter()
                .map(|s| Event::StepStarted {
                    step: s.step.clone(),
                    branch: s.branch,
                    attempt: s.attempt,
                })
                .collect();
            actions = commit(&mut writer, &mut engine, &events, entry_time(&*clock))?;
            for s in starts {
                let key = (s.step.clone(), s.branch);
                let r = spawn_step(s, &run_id, registry, &services, &clock, &tx);
                running.insert(key, r);
            }
            continue;
        }
        let status = engine.status();
        if !matches!(status, Status::Active { .. }) {
            // Before stopping, the inbox: a person elsewhere may have answered (an approval, a
            // skip of the failed step); a request for a finished run is refused, and its sender
            // told so.
            let (more, settled) = desk.take(&mut writer, &mut engine, entry_time(&*clock))?;
            if settled.iter().any(|s| s.outcome.is_ok()) || !more.is_empty() {
                actions = more;
                waiting_for_people = None;
                continue;
            }
            let for_people = matches!(status, Status::Paused | Status::Failed);
            let since = *waiting_for_people.get_or_insert_with(tokio::time::Instant::now);
            if for_people && since.elapsed() < options.wait_for_people {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = tokio::time::sleep_until(since + options.wait_for_people) => {}
                }
                continue;
            }
            match status {
                Status::Succeeded => break RunOutcome::Succeeded,
                Status::Failed => break RunOutcome::Failed { blockers: engine.blockers() },
                Status::Paused => break RunOutcome::Paused { blockers: engine.blockers() },
                Status::Cancelled => break RunOutcome::Cancelled,
                Status::Active { .. } => {}
            }
        }
        waiting_for_people = None;
        let next = engine.next_timer();
        if running.is_empty() && next.is_none() {
            break Err(RunError::Stuck(run_id.clone()))?;
        }
        let wake = match next {
            Some(t) if t <= clock.now() => Wake::Time,
            Some(t) if running.is_empty() && options.wait_until.is_some_and(|w| t > w) => {
                break RunOutcome::Sleeping { until: t };
            }
            Some(t) => match &options.time {
                TimeMode::Virtual(manual) if running.is_empty() => {
                    manual.set(t);
                    Wake::Time
                }
                TimeMode::Virtual(_) => wait(&mut rx, None, &mut tick).await,
                TimeMode::Real => {
                    let delay = (t - clock.now()).try_into().unwrap_or(std::time::Duration::ZERO);
                    wait(&mut rx, Some(delay), &mut tick).await
                }
            },
            None => wait(&mut rx, None, &mut tick).await,
        };
        let first = match wake {
            Wake::Msg(m) => m,
            Wake::Inbox => {
                actions = desk.take(&mut writer, &mut engine, entry_time(&*clock))?.0;
                continue;
            }
            Wake::Time => {
                if engine.next_timer().is_some_and(|t| t <= clock.now()) {
                    actions = commit(
                        &mut writer,
                        &mut engine,
                        &[Event::TimerFired],
                        entry_time(&*clock),
                    )?;
                }
                continue;
            }
        };
        // Group commit: everything that arrived meanwhile goes into one batch.
        let mut msgs = vec![first];
        while let Ok(m) = rx.try_recv() {
            msgs.push(m);
        }
        let mut events = Vec::with_capacity(msgs.len());
        let mut acks = Vec::new();
        for m in msgs {
            match m {
                TaskMsg::Progress { key, attempt, done, total, message } => {
                    events.push(Event::StepProgress {
                        step: key.0,
                        branch: key.1,
                        attempt,
                        done,
                        total,
                        message,
                    });
                }
                TaskMsg::Effect { key, attempt, effect, ack } => {
                    events.push(Event::EffectRecorded {
                        step: key.0,
                        branch: key.1,
                        attempt,
                        effect,
                    });
                    acks.push(ack);
                }
                TaskMsg::Scratch { key, attempt, scratch, ack } => {
                    events.push(Event::ScratchSaved {
                        step: key.0,
                        branch: key.1,
                        attempt,
                        scratch,
                    });
                    acks.push(ack);
                }
                TaskMsg::Done { key, attempt, outcome } => {
                    if running.get(&key).is_some_and(|r| r.attempt == attempt) {
                        running.remove(&key);
                    }
                    let (step, branch) = key;
                    events.push(match outcome {
                        StepOutcome::Succeeded { outputs, secret } => {
                            let mut journaled = Map::new();
                            let mut secrets = Map::new();
                            for (k, v) in outputs {
                                if secret.contains(&k) {
                                    journaled.insert(k.clone(), journal::redact(&v));
                                    secrets.insert(k, v);
                                } else {
                                    journaled.insert(k, v);
                                }
                            }
                            match weak_secret_output(engine.plan(), &run_id, &secrets) {
                                Some(error) => Event::StepFailed {
                                    step,
                                    branch,
                                    attempt,
                                    error,
                                    retryable: false,
                                },
                                None => {
                                    if !secrets.is_empty() {
                                        for v in secrets.values() {
                                            redact::register(v);
                                        }
                                        engine.remember_secrets(&step, branch, secrets);
                                    }
                                    Event::StepSucceeded {
                                        step,
                                        branch,
                                        attempt,
                                        outputs: journaled,
                                    }
                                }
                            }
                        }
                        StepOutcome::Failed { error, retryable } => {
                            Event::StepFailed { step, branch, attempt, error, retryable }
                        }
                        StepOutcome::Wait { until, message, scratch } => {
                            Event::StepWaiting { step, branch, attempt, until, message, scratch }
                        }
                        StepOutcome::AwaitApproval { prompt, four_eyes } => {
                            Event::StepAwaitingApproval { step, branch, attempt, prompt, four_eyes }
                        }
                        StepOutcome::AwaitAttestation { instructions } => {
                            Event::StepAwaitingAttestation { step, branch, attempt, instructions }
                        }
                    });
                }
            }
        }
        actions = commit(&mut writer, &mut engine, &events, entry_time(&*clock))?;
        for ack in acks {
            let _ = ack.send(());
        }
    };
    for (_, r) in running {
        r.cancel.cancel();
        r.handle.abort();
    }
    Ok(result)
}

/// What woke the driver up.
enum Wake {
    Msg(TaskMsg),
    /// A timer may be due.
    Time,
    /// Time to read the inbox.
    Inbox,
}

/// Waits for a step's message, `delay` (a timer), or the inbox's next tick.
async fn wait(
    rx: &mut mpsc::UnboundedReceiver<TaskMsg>,
    delay: Option<std::time::Duration>,
    tick: &mut tokio::time::Interval,
) -> Wake {
    let timer = async {
        match delay {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        m = rx.recv() => m.map(Wake::Msg).unwrap_or(Wake::Time),
        _ = timer => Wake::Time,
        _ = tick.tick() => Wake::Inbox,
    }
}

/// What the process holding a run's lock did with one inbox request.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The request's file name in the inbox.
    pub name: String,
    /// `approve gate[ado-weu] by ...`, or the file name of a file that is not a request.
    pub summary: String,
    /// `Ok`: journaled; `Err`: refused, with the reason (nothing journaled).
    pub outcome: Result<(), String>,
}

/// The inbox as the process holding the run's lock sees it: reads the pending requests,
/// validates each one as [`apply_manual_to`] validates a command, journals the accepted ones and
/// settles every file.
struct Desk<'a> {
    inbox: &'a dyn Inbox,
    path: &'a Path,
    header: &'a Value,
    /// Told of each request journaled, like every other commit of a drive.
    observer: Option<&'a Arc<dyn RunObserver>>,
}

impl Desk<'_> {
    /// Takes every pending request: the actions their events imply, and what became of each.
    /// A request that cannot be read or does not apply is refused (a warning in the log, the
    /// reason in the inbox for its sender and `status`); only a journal that cannot be written
    /// is an error.
    fn take(
        &self,
        writer: &mut Writer,
        engine: &mut Engine,
        now: EntryTime,
    ) -> Result<(Vec<Action>, Vec<Settled>), RunError> {
        let pending = match self.inbox.list() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the run's inbox; requests in it wait");
                return Ok((Vec::new(), Vec::new()));
            }
        };
        let mut actions = Vec::new();
        let mut settled = Vec::new();
        for p in pending {
            let (summary, verdict) = match &p.request {
                Err(problem) => (p.name.clone(), Err(format!("inbox file {} {problem}", p.name))),
                Ok(req) => (req.summary(), request_event(engine, self.header, req, now.engine())),
            };
            let verdict = match verdict {
                Ok(event) => match commit(writer, engine, std::slice::from_ref(&event), now) {
                    Ok(more) => {
                        if let Some(o) = self.observer {
                            o.journaled(engine, std::slice::from_ref(&event), now.engine());
                        }
                        actions.extend(more);
                        Ok(())
                    }
                    Err(RunError::Redaction { why, .. }) => {
                        Err(format!("it cannot be journaled: {why}"))
                    }
                    Err(e) => return Err(e),
                },
                Err(why) => Err(why),
            };
            let outcome = match verdict {
                Ok(()) => {
                    tracing::info!(request = %p.name, "journaled the inbox request {summary}");
                    self.settle(&p.name, Settle::Done);
                    Ok(())
                }
                Err(why) if p.request.as_ref().is_ok_and(|r| self.journaled(&r.id)) => {
                    // Journaled before a crash kept the file from being settled.
                    tracing::debug!(request = %p.name, %why, "inbox request already journaled");
                    self.settle(&p.name, Settle::Done);
                    Ok(())
                }
                Err(why) => {
                    tracing::warn!(request = %p.name, "refused the inbox request {summary}: {why}");
                    self.settle(&p.name, Settle::Refused(&why));
                    Err(why)
                }
            };
            settled.push(Settled { name: p.name, summary, outcome });
        }
        Ok((actions, settled))
    }

    fn settle(&self, name: &str, how: Settle<'_>) {
        if let Err(e) = self.inbox.settle(name, how) {
            tracing::warn!(request = %name, error = %e, "cannot settle the inbox request (it is read again, and never journaled twice)");
        }
    }

    /// Whether the journal already holds an event for request `id` (only asked on the rare
    /// path of a request that no longer applies).
    fn journaled(&self, id: &str) -> bool {
        journal::read(self.path).is_ok_and(|r| inbox::recorded_in(&r.entries, id).is_some())
    }
}

/// The event an inbox request asks for, validated against the run's state as a person's command
/// is ([`apply_manual_to`]): the instance exists (a label resolves), a fanned-out step names its
/// branch unless `all`, the four-eyes rule holds, and the engine accepts the event now. `Err`
/// says why not, for the request's sender.
fn request_event(
    engine: &Engine,
    header: &Value,
    req: &inbox::Request,
    now: OffsetDateTime,
) -> Result<Event, String> {
    let (step, branch) = inbox::resolve_target(engine, &req.step)?;
    if req.all && branch.is_some() {
        return Err(format!("`{}` names one branch and --all asks for every branch", req.step));
    }
    let event = req.event(step, branch);
    let run = engine.run_id().to_string();
    if !req.all {
        if let Some((step, verb)) = branchless_command(engine, &event) {
            let mut probe = engine.clone();
            let changed = match probe.handle(&event, now) {
                Ok(_) => changed_instances(&step, &engine.snapshot(), &probe.snapshot()),
                Err(_) => Vec::new(),
            };
            let e = RunError::NeedsBranch { run, step, verb, branches: changed };
            return Err(UserError::from(e).to_string());
        }
    }
    check_four_eyes(engine, header, &event).map_err(|e| UserError::from(e).to_string())?;
    let mut probe = engine.clone();
    probe.handle(&event, now).map_err(|e| e.to_string())?;
    Ok(event)
}

/// The four-eyes rule: an approval of a gate whose `four_eyes` input is true must come from
/// another person than the one who started the run (`started_by` in the journal's header),
/// compared by Azure object id when both have one, else by `user@host` ([`Actor::same_person`]).
pub fn check_four_eyes(engine: &Engine, header: &Value, event: &Event) -> Result<(), RunError> {
    let Event::Approved { step, branch, by, .. } = event else { return Ok(()) };
    let gates = engine.four_eyes_gates(step, *branch);
    if gates.is_empty() {
        return Ok(());
    }
    let run = engine.run_id().to_string();
    let gates = gates.join(", ");
    let starter = header.get("started_by").and_then(|v| Actor::deserialize(v).ok());
    match starter {
        None => Err(RunError::FourEyes {
            run,
            gates,
            why: "the journal does not say who started the run, so the approver cannot be told apart from them".into(),
        }),
        Some(s) if s.same_person(by) => {
            let how = match (&s.azure_principal, &by.azure_principal) {
                (Some(_), Some(_)) => "the same Azure object id",
                _ => "the same OS user on the same host",
            };
            Err(RunError::FourEyes {
                run: run.clone(),
                gates,
                why: format!(
                    "run {run} was started by {} and this approval is by {} ({how}): a self-approval is refused",
                    s.describe(),
                    by.describe()
                ),
            })
        }
        Some(_) => Ok(()),
    }
}

/// Takes the run's lock and journals what its inbox holds, as a driver does ([`drive`] reads
/// the inbox while it runs): for a person's command that queued a request when the run was
/// driven elsewhere and finds it no longer is. `Locked` while another process holds the lock.
pub fn drain_inbox(
    run_dir: &Path,
    registry: &Registry,
    now: impl Into<EntryTime>,
) -> Result<Vec<Settled>, RunError> {
    drain_inbox_with(run_dir, registry, now, &LocalInbox::for_run(run_dir))
}

/// [`drain_inbox`] of `inbox` (a shared run store's, beside the journal there).
pub fn drain_inbox_with(
    run_dir: &Path,
    registry: &Registry,
    now: impl Into<EntryTime>,
    inbox: &dyn Inbox,
) -> Result<Vec<Settled>, RunError> {
    let now: EntryTime = now.into();
    let run_id = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if inbox.list().map(|l| l.is_empty()).unwrap_or(true) {
        return Ok(Vec::new());
    }
    let _lock = RunLock::acquire(run_dir, &run_id, now.time)?;
    let path = run_dir.join(journal::JOURNAL_FILE);
    let (mut writer, Replayed { mut engine, header, .. }) = super::replay::open(&path, registry)?;
    let desk = Desk { inbox, path: &path, header: &header, observer: None };
    Ok(desk.take(&mut writer, &mut engine, now)?.1)
}

/// The requests waiting in a run's inbox (and files there that are not requests), oldest first:
/// for `status`. An inbox that cannot be read is empty here (the driver logs why).
pub fn pending_requests(run_dir: &Path) -> Vec<inbox::Pending> {
    LocalInbox::for_run(run_dir).list().unwrap_or_default()
}

/// The requests the driver refused, oldest first, with the reasons: for `status`.
pub fn refused_requests(run_dir: &Path) -> Vec<inbox::Refusal> {
    LocalInbox::for_run(run_dir).refused().unwrap_or_default()
}

fn spawn_step(
    s: StartStep,
    run_id: &str,
    registry: &Registry,
    services: &Arc<Services>,
    clock: &Arc<dyn Clock>,
    tx: &mpsc::UnboundedSender<TaskMsg>,
) -> Running {
    let key: Key = (s.step.clone(), s.branch);
    let (cancel, cancellation) = Cancellation::new();
    let kind = registry.get(&s.uses);
    let attempt = s.attempt;
    let uses = s.uses.clone();
    let sink = Arc::new(ChannelSink { key: key.clone(), attempt, tx: tx.clone() });
    let ctx =
        StepContext::for_start(s, run_id, clock.clone(), services.clone(), cancellation, sink);
    let tx = tx.clone();
    let handle = tokio::spawn(async move {
        let outcome = match kind {
            None => {
                StepOutcome::fail(format!("step kind {uses} is not available in this build"), false)
            }
            Some(kind) => match std::panic::AssertUnwindSafe(kind.run(ctx)).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(_) => StepOutcome::fail(
                    format!("step kind {uses} panicked (a bug: please report it)"),
                    false,
                ),
            },
        };
        let _ = tx.send(TaskMsg::Done { key, attempt, outcome });
    });
    Running { attempt, handle, cancel }
}

/// Why a step's secret outputs cannot be journaled as markers and kept in memory: one is too
/// short or part of the marker ([`redact::weakness`]), or already in clear in the journal's
/// header (a step id, the runbook's text, the run id). The step then fails with this message,
/// which names the output, never its value.
fn weak_secret_output(plan: &Plan, run_id: &str, secrets: &Map<String, Value>) -> Option<String> {
    for (k, v) in secrets {
        if let Some(why) = redact::value_weakness(v) {
            return Some(format!(
                "secret output {k} {why}; the step's result was not journaled (check what the step was given)"
            ));
        }
        for text in redact::secret_texts(v) {
            if let Some(place) = exposed_in(plan, run_id, &text) {
                return Some(format!(
                    "secret output {k} occurs in {place}, which the journal holds in clear; the step's result was not journaled"
                ));
            }
        }
    }
    None
}

/// Whether a person's command without a branch may apply to every branch of a fanned-out step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Branches {
    /// A fanned-out step must be named with its branch (`STEP#N`): refused otherwise, listing
    /// the branches the command would apply to ([`RunError::NeedsBranch`]).
    #[default]
    Named,
    /// Without a branch, every branch the command applies to (`--all`).
    All,
}

/// A person's command (approve, attest, skip, cancel): validated against the replayed state,
/// then journaled. Takes the run's lock, so it fails with exit 4 while a process drives the run.
/// A fanned-out step must be named with its branch ([`Branches::Named`]); see
/// [`apply_manual_to`] for `--all`. `now`: see [`create_run`].
pub fn apply_manual(
    run_dir: &Path,
    registry: &Registry,
    event: Event,
    now: impl Into<EntryTime>,
) -> Result<Vec<InstanceView>, RunError> {
    apply_manual_to(run_dir, registry, event, now, Branches::Named).map(|a| a.snapshot)
}

/// What [`apply_manual_to`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The run's instances afterwards.
    pub snapshot: Vec<InstanceView>,
    /// The instances the command changed (`step` or `step#N`), in plan order.
    pub changed: Vec<String>,
}

/// [`apply_manual`], saying whether a command without a branch may apply to every branch.
pub fn apply_manual_to(
    run_dir: &Path,
    registry: &Registry,
    event: Event,
    now: impl Into<EntryTime>,
    branches: Branches,
) -> Result<Applied, RunError> {
    let now: EntryTime = now.into();
    let run_id = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let _lock = RunLock::acquire(run_dir, &run_id, now.time)?;
    let path = run_dir.join(journal::JOURNAL_FILE);
    let (mut writer, Replayed { mut engine, header, .. }) = super::replay::open(&path, registry)?;
    // Validate on a copy first: nothing is journaled for a command that does not apply.
    let mut probe = engine.clone();
    probe.handle(&event, now.engine())?;
    check_four_eyes(&engine, &header, &event)?;
    let changed = match manual_step(&event) {
        Some(step) => changed_instances(step, &engine.snapshot(), &probe.snapshot()),
        None => Vec::new(),
    };
    if branches == Branches::Named {
        if let Some((step, verb)) = branchless_command(&engine, &event) {
            return Err(RunError::NeedsBranch { run: run_id, step, verb, branches: changed });
        }
    }
    commit(&mut writer, &mut engine, &[event], now)?;
    Ok(Applied { snapshot: engine.snapshot(), changed })
}

/// The step a person's command names.
fn manual_step(event: &Event) -> Option<&str> {
    match event {
        Event::Approved { step, .. }
        | Event::Attested { step, .. }
        | Event::Skipped { step, .. }
        | Event::Rearmed { step, .. } => Some(step),
        _ => None,
    }
}

/// The instances of `step` whose state differs between two snapshots of one run.
fn changed_instances(step: &str, before: &[InstanceView], after: &[InstanceView]) -> Vec<String> {
    let state = |v: &InstanceView| v.instance.as_ref().map(|i| i.state.clone());
    after
        .iter()
        .filter(|a| a.step == step && a.instance.is_some())
        .filter(|a| {
            !before.iter().any(|b| b.step == a.step && b.branch == a.branch && state(b) == state(a))
        })
        .map(InstanceView::name)
        .collect()
}

/// The step and the verb of an approve/attest/skip that names no branch of a fanned-out step.
fn branchless_command(engine: &Engine, event: &Event) -> Option<(String, &'static str)> {
    let (step, verb) = match event {
        Event::Approved { step, branch: None, .. } => (step, "approve"),
        Event::Attested { step, branch: None, .. } => (step, "attest"),
        Event::Skipped { step, branch: None, .. } => (step, "skip"),
        _ => return None,
    };
    let fanned = engine.plan().runbook.step(step).is_some_and(|d| d.for_each.is_some());
    fanned.then(|| (step.clone(), verb))
}

/// Re-arms every failed instance whose last failure was retryable and whose step is not
/// one-shot (`lifeboat resume` does this before driving): one journaled [`Event::Rearmed`] each,
/// in one batch under the run lock. Returns the instances re-armed (`step` or `step#N`) with the
/// failure each one retries. A failure that retrying cannot fix, and any one-shot step, stays
/// failed for a person to skip.
pub fn rearm_failed(
    run_dir: &Path,
    registry: &Registry,
    actor: &Actor,
    now: impl Into<EntryTime>,
) -> Result<Vec<(String, String)>, RunError> {
    let now: EntryTime = now.into();
    let run_id = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let _lock = RunLock::acquire(run_dir, &run_id, now.time)?;
    let path = run_dir.join(journal::JOURNAL_FILE);
    let (mut writer, Replayed { mut engine, .. }) = super::replay::open(&path, registry)?;
    let targets = engine.rearmable();
    let events: Vec<Event> = targets
        .iter()
        .map(|(step, branch, reason)| Event::Rearmed {
            step: step.clone(),
            branch: *branch,
            by: actor.clone(),
            reason: reason.clone(),
        })
        .collect();
    commit(&mut writer, &mut engine, &events, now)?;
    Ok(targets
        .into_iter()
        .map(|(step, branch, reason)| (engine.instance_name(&step, branch), reason))
        .collect())
}

/// One line of `runs list`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub runbook: String,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_activity: Option<OffsetDateTime>,
    pub started_by: Option<String>,
    pub steps_done: usize,
    pub steps_total: usize,
    /// What the run waits for, for people ([`Engine::waits_for`]); `None` once it ended.
    pub waits_for: Option<String>,
    /// Set when the journal cannot be read.
    pub error: Option<String>,
}

/// Every run under the state directory, oldest first.
pub fn list_runs(state_dir: &Path, registry: &Registry) -> Vec<RunSummary> {
    let mut ids: Vec<String> = std::fs::read_dir(runs_dir(state_dir))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    let mut out = Vec::new();
    for id in ids {
        let dir = runs_dir(state_dir).join(&id);
        if !dir.join(journal::JOURNAL_FILE).is_file() {
            continue;
        }
        match load_guarded(&dir, registry) {
            Ok(r) => {
                let snap = r.engine.snapshot();
                let done = snap
                    .iter()
                    .filter(|v| v.instance.as_ref().is_some_and(|i| i.state.is_terminal()))
                    .count();
                out.push(RunSummary {
                    run_id: id,
                    runbook: r
                        .header
                        .pointer("/runbook/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    status: r.engine.status(),
                    started: r.entries.times().map(|(first, _)| first),
                    last_activity: r.entries.times().map(|(_, last)| last),
                    started_by: r
                        .header
                        .get("started_by")
                        .and_then(|a| Actor::deserialize(a).ok())
                        .map(|a| a.describe()),
                    steps_done: done,
                    steps_total: snap.len(),
                    waits_for: r.engine.waits_for(),
                    error: None,
                });
            }
            Err(error) => out.push(RunSummary {
                run_id: id,
                runbook: String::new(),
                status: Status::Failed,
                started: None,
                last_activity: None,
                started_by: None,
                steps_done: 0,
                steps_total: 0,
                waits_for: None,
                error: Some(error),
            }),
        }
    }
    out
}

/// [`load`] for a listing: one run that cannot be read, even one that makes the reader panic
/// (a bug, but one run must never hide the others), is an error message.
fn load_guarded(run_dir: &Path, registry: &Registry) -> Result<Replayed, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load(run_dir, registry))) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!(
                "{}: reading this run failed unexpectedly ({what}; a bug: please report it)",
                run_dir.join(journal::JOURNAL_FILE).display()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defect_02_a_scrubbed_event_keeps_its_types_and_never_falls_back_to_the_clear_one() {
        let mut r = Redactor::new();
        r.add("hunter2-long");
        let e = Event::StepFailed {
            step: "s".into(),
            branch: None,
            attempt: 1,
            error: "cannot open /x/hunter2-long/y".into(),
            retryable: false,
        };
        let (v, back) = scrub_event(&r, &e).unwrap();
        assert_eq!(v["error"], "cannot open /x/[REDACTED]/y");
        assert!(
            matches!(back, Event::StepFailed { ref error, .. } if error == "cannot open /x/[REDACTED]/y")
        );
        // A secret in the step an event names: an error, never the clear event.
        let e = Event::StepStarted { step: "deploy-hunter2-long".into(), branch: None, attempt: 1 };
        let err = scrub_event(&r, &e).unwrap_err();
        assert!(err.contains("step deploy-[REDACTED]") && !err.contains("hunter2"), "{err}");
    }
}
