//! The run's inbox: how `approve`, `attest` and `skip` reach a run that another process drives.
//!
//! A person's command that finds the run locked writes a [`Request`] into `<run dir>/inbox/`
//! ([`Inbox::put`]). The process driving the run reads the inbox about once a second
//! ([`Inbox::list`]; `runner`), validates each request exactly as it validates a command typed
//! where it runs, journals the event with the request's id in its actor
//! ([`super::Actor::request`]), and settles the file ([`Inbox::settle`]): into `inbox/done/`, or
//! into `inbox/refused/` with the reason beside it (`NAME.reason`). The command that queued the
//! request watches the journal for its id ([`JournalWatch`]) and the inbox for a refusal
//! ([`Inbox::state`]).
//!
//! Invariants:
//! - A request file is written once and never changed: created under a unique name
//!   (`<UTC time>-<random>.json`), create-only, the file and its directory fsync'd; a reader sees
//!   no file or the whole file ([`crate::fsutil::write_new`]).
//! - Nothing in a request is trusted: the driver validates it against the run's state like a
//!   command typed at its own terminal (known step and branch, the instance awaits this verb,
//!   the four-eyes rule). A file that is not a valid request is refused with the reason (and a
//!   warning in the log and in `status`), never journaled.
//! - A request is journaled at most once: the driver settles it after its event is durable, and a
//!   request still pending whose id the journal already holds (a crash between the two) is
//!   settled as done, never applied again.
//! - The request format lives here only ([`Request`], [`FORMAT`]); [`Inbox`] hides where the
//!   files are (a local directory today, [`LocalInbox`]; a blob container can implement it).

use super::{Actor, Engine, Event};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{Read as _, Seek as _};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The inbox directory inside a run directory.
pub const INBOX_DIR: &str = "inbox";
/// Where the driver moves a journaled request.
pub const DONE_DIR: &str = "done";
/// Where the driver moves a refused request, with `NAME.reason` beside it.
pub const REFUSED_DIR: &str = "refused";
/// The format (and version) of a request file. A request of another format is refused.
pub const FORMAT: &str = "lifeboat/inbox-request/v1";
/// A request file larger than this is refused unread.
pub const MAX_REQUEST_BYTES: u64 = 64 * 1024;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Approve,
    Attest,
    Skip,
}

impl Verb {
    pub fn name(self) -> &'static str {
        match self {
            Verb::Approve => "approve",
            Verb::Attest => "attest",
            Verb::Skip => "skip",
        }
    }
    /// The past tense, for messages (`approved`).
    pub fn done(self) -> &'static str {
        match self {
            Verb::Approve => "approved",
            Verb::Attest => "attested",
            Verb::Skip => "skipped",
        }
    }
}

/// One request in a run's inbox (`lifeboat/inbox-request/v1`, documented in
/// `docs/responder.md`). Unknown fields are refused: a newer writer's field could change what
/// the request means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// [`FORMAT`].
    pub format: String,
    /// Unique: `<UTC time>-<random hex>`; the file is `<id>.json`, and the journaled actor
    /// carries it (`by.request`).
    pub id: String,
    pub verb: Verb,
    /// The step instance as the person typed it: `STEP`, `STEP#N` or `STEP[label]`.
    pub step: String,
    /// `--all`: every branch of a fanned-out `STEP` this verb applies to.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// `approve --comment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `attest --evidence` (required for `attest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// `skip --reason` (required for `skip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who asked: OS user and host, and the Azure principal the command's token claims.
    pub by: Actor,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
}

impl Request {
    /// A new request with a fresh id. `text` is the comment, evidence or reason of `verb`.
    pub fn new(
        verb: Verb,
        step: &str,
        all: bool,
        text: Option<String>,
        by: Actor,
        now: OffsetDateTime,
    ) -> Request {
        let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let stamp = now.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap_or_default();
        let random = uuid::Uuid::new_v4().simple().to_string();
        let (comment, evidence, reason) = match verb {
            Verb::Approve => (text, None, None),
            Verb::Attest => (None, text, None),
            Verb::Skip => (None, None, text),
        };
        Request {
            format: FORMAT.into(),
            id: format!("{stamp}-{}", &random[..12]),
            verb,
            step: step.to_string(),
            all,
            comment,
            evidence,
            reason,
            by,
            requested_at: now,
        }
    }

    /// The file name of this request in the inbox.
    pub fn file_name(&self) -> String {
        file_name(&self.id)
    }

    /// Reads a request file's bytes: the format, the fields and what each verb requires are
    /// checked; the message says what is wrong (never the whole content).
    pub fn parse(bytes: &[u8]) -> Result<Request, String> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON ({e})"))?;
        let Some(obj) = v.as_object() else {
            return Err("is not a JSON object: it is not a lifeboat inbox request".into());
        };
        match obj.get("format").and_then(Value::as_str) {
            None => {
                return Err(format!(
                    "has no `format`: it is not a lifeboat inbox request (expected format {FORMAT})"
                ))
            }
            Some(f) if f == FORMAT => {}
            Some(f) if f.starts_with("lifeboat/inbox-request/") => {
                return Err(format!(
                    "is format {}, which this lifeboat does not read (it reads {FORMAT}: upgrade lifeboat, or write the request with this version)",
                    clip(f)
                ))
            }
            Some(f) => {
                return Err(format!(
                    "has format {}: it is not a lifeboat inbox request (expected {FORMAT})",
                    clip(f)
                ))
            }
        }
        let r = Request::deserialize(&v).map_err(|e| format!("has invalid fields ({e})"))?;
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), String> {
        if !valid_id(&self.id) {
            return Err(format!(
                "has id `{}`, which is not a request id (letters, digits, `.`, `_`, `-`, at most 80)",
                clip(&self.id)
            ));
        }
        if self.step.trim().is_empty() {
            return Err("names no step".into());
        }
        let blank = |t: &Option<String>| t.as_deref().is_none_or(|t| t.trim().is_empty());
        match self.verb {
            Verb::Attest if blank(&self.evidence) => Err("is an attest without evidence".into()),
            Verb::Skip if blank(&self.reason) => Err("is a skip without a reason".into()),
            _ => Ok(()),
        }
    }

    /// The engine event this request asks for, on the resolved instance: by the request's
    /// actor, marked with the request's id.
    pub fn event(&self, step: String, branch: Option<usize>) -> Event {
        let mut by = self.by.clone();
        by.request = Some(self.id.clone());
        match self.verb {
            Verb::Approve => Event::Approved { step, branch, by, comment: self.comment.clone() },
            Verb::Attest => Event::Attested {
                step,
                branch,
                by,
                evidence: self.evidence.clone().unwrap_or_default(),
            },
            Verb::Skip => {
                Event::Skipped { step, branch, by, reason: self.reason.clone().unwrap_or_default() }
            }
        }
    }

    /// One line for people: `approve gate[ado-weu] by bob@... `.
    pub fn summary(&self) -> String {
        let all = if self.all { " --all" } else { "" };
        format!("{} {}{all} by {}", self.verb.name(), self.step, self.by.describe())
    }
}

/// At most 80 characters of a value read from a file, for a message.
fn clip(s: &str) -> String {
    let mut c: String = s.chars().filter(|c| !c.is_control()).take(80).collect();
    if s.chars().count() > 80 {
        c.push('…');
    }
    c
}

/// A request id: `[A-Za-z0-9._-]{1,80}`, not starting with `.` (it becomes a file name).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 80
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The file name of the request `id`.
pub fn file_name(id: &str) -> String {
    format!("{id}.json")
}

/// A request waiting in the inbox, or a file there that is not one.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The file's name in the inbox.
    pub name: String,
    /// When it was written (the file's modification time).
    pub since: Option<OffsetDateTime>,
    /// The request, or why the file is not a valid one.
    pub request: Result<Request, String>,
}

/// A request the driver refused, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub name: String,
    pub reason: String,
    /// The request, when the file was one.
    pub request: Option<Request>,
    /// When it was refused (the reason file's modification time).
    pub at: Option<OffsetDateTime>,
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestState {
    /// Still in the inbox: no process driving the run has read it yet.
    Pending,
    /// Journaled (the journal holds its id).
    Done,
    /// Refused by the driver, with the reason; nothing was journaled.
    Refused(String),
    /// No such request.
    Unknown,
}

/// How the driver settles a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle<'a> {
    /// Its event is journaled.
    Done,
    /// Refused, with the reason.
    Refused(&'a str),
}

#[derive(Debug, thiserror::Error)]
#[error("cannot {what} {}: {source}", path.display())]
pub struct InboxError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> InboxError + 'a {
    move |source| InboxError { what, path: path.to_path_buf(), source }
}

/// Where a run's requests are kept: put by the person's command, listed and settled by the
/// driver. Each operation is durable when it returns.
pub trait Inbox: Send + Sync {
    /// Stores a new request, never replacing one. Returns its name.
    fn put(&self, request: &Request) -> Result<String, InboxError>;
    /// The pending requests (and files that are not requests), oldest first.
    fn list(&self) -> Result<Vec<Pending>, InboxError>;
    /// Settles the pending request `name`.
    fn settle(&self, name: &str, how: Settle<'_>) -> Result<(), InboxError>;
    /// What became of the request `name`.
    fn state(&self, name: &str) -> Result<RequestState, InboxError>;
    /// The refused requests, oldest first.
    fn refused(&self) -> Result<Vec<Refusal>, InboxError>;
}

impl std::fmt::Debug for dyn Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbox")
    }
}

/// The inbox as a directory of the run directory: `<run dir>/inbox/NAME.json`, `done/`,
/// `refused/` (with `NAME.reason`). Names starting with `.` (a writer's temporary file) and
/// directories are not requests.
#[derive(Debug, Clone)]
pub struct LocalInbox {
    dir: PathBuf,
}

impl LocalInbox {
    /// The inbox of the run in `run_dir`.
    pub fn for_run(run_dir: &Path) -> LocalInbox {
        LocalInbox { dir: run_dir.join(INBOX_DIR) }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    fn names(&self, dir: &Path) -> Result<Vec<String>, InboxError> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("list", dir)(e)),
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| !t.is_dir()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }
}

fn modified(path: &Path) -> Option<OffsetDateTime> {
    std::fs::symlink_metadata(path).and_then(|m| m.modified()).ok().map(OffsetDateTime::from)
}

/// A request file's bytes, at most [`MAX_REQUEST_BYTES`], never through a symbolic link.
fn read_request(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("cannot be read ({e})"))?;
    if !meta.file_type().is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() > MAX_REQUEST_BYTES {
        return Err(format!("is larger than {} KiB", MAX_REQUEST_BYTES / 1024));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_REQUEST_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot be read ({e})"))?;
    if bytes.len() as u64 > MAX_REQUEST_BYTES {
        return Err(format!("is larger than {} KiB", MAX_REQUEST_BYTES / 1024));
    }
    Ok(bytes)
}

impl Inbox for LocalInbox {
    fn put(&self, request: &Request) -> Result<String, InboxError> {
        if !self.dir.is_dir() {
            std::fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
            if let Some(run) = self.dir.parent() {
                let _ = std::fs::File::open(run).and_then(|d| d.sync_all());
            }
        }
        let name = request.file_name();
        let path = self.dir.join(&name);
        let mut bytes = serde_json::to_vec_pretty(request).map_err(|e| InboxError {
            what: "serialise",
            path: path.clone(),
            source: e.into(),
        })?;
        bytes.push(b'\n');
        fsutil::write_new(&path, &bytes).map_err(io("write", &path))?;
        Ok(name)
    }

    fn list(&self) -> Result<Vec<Pending>, InboxError> {
        let mut out = Vec::new();
        for name in self.names(&self.dir)? {
            let path = self.dir.join(&name);
            let request = if name.ends_with(".json") {
                read_request(&path).and_then(|b| Request::parse(&b))
            } else {
                Err("is not a request file (a request is NAME.json)".into())
            };
            out.push(Pending { since: modified(&path), name, request });
        }
        Ok(out)
    }

    fn settle(&self, name: &str, how: Settle<'_>) -> Result<(), InboxError> {
        let from = self.dir.join(name);
        match how {
            Settle::Done => {
                let to = self.dir.join(DONE_DIR);
                fsutil::move_into(&from, &to).map_err(io("settle", &from))?;
            }
            Settle::Refused(reason) => {
                let to = self.dir.join(REFUSED_DIR);
                std::fs::create_dir_all(&to).map_err(io("create", &to))?;
                // The reason first: whoever sees the request in `refused/` finds it.
                let why = to.join(format!("{name}.reason"));
                fsutil::write_atomic(&why, format!("{reason}\n").as_bytes())
                    .map_err(io("write", &why))?;
                fsutil::move_into(&from, &to).map_err(io("settle", &from))?;
            }
        }
        Ok(())
    }

    fn state(&self, name: &str) -> Result<RequestState, InboxError> {
        if std::fs::symlink_metadata(self.dir.join(name)).is_ok() {
            return Ok(RequestState::Pending);
        }
        let refused = self.dir.join(REFUSED_DIR);
        if std::fs::symlink_metadata(refused.join(name)).is_ok() {
            let reason = std::fs::read_to_string(refused.join(format!("{name}.reason")))
                .map(|r| r.trim().to_string())
                .unwrap_or_else(|_| "(no reason recorded)".into());
            return Ok(RequestState::Refused(reason));
        }
        if std::fs::symlink_metadata(self.dir.join(DONE_DIR).join(name)).is_ok() {
            return Ok(RequestState::Done);
        }
        Ok(RequestState::Unknown)
    }

    fn refused(&self) -> Result<Vec<Refusal>, InboxError> {
        let dir = self.dir.join(REFUSED_DIR);
        let mut out = Vec::new();
        for name in self.names(&dir)? {
            if name.ends_with(".reason") {
                continue;
            }
            let why = dir.join(format!("{name}.reason"));
            let reason = std::fs::read_to_string(&why)
                .map(|r| r.trim().to_string())
                .unwrap_or_else(|_| "(no reason recorded)".into());
            let request = read_request(&dir.join(&name)).and_then(|b| Request::parse(&b)).ok();
            out.push(Refusal { at: modified(&why), name, reason, request });
        }
        Ok(out)
    }
}

/// Resolves a step instance as a person typed it against the run's state: `STEP`, `STEP#N`, or
/// `STEP[label]` (`super::parse_instance_name`, `Engine::resolve`); the step must exist. The
/// message of an error says what is unknown and what the run has.
pub fn resolve_target(engine: &Engine, text: &str) -> Result<(String, Option<usize>), String> {
    let text = text.trim();
    let Some((step, branch)) = super::parse_instance_name(text) else {
        return Err(format!(
            "`{}` is not a step instance (write STEP, STEP[label] or STEP#N)",
            clip(text)
        ));
    };
    resolve_parsed(engine, &step, branch)
}

/// [`resolve_target`] of a step and branch already parsed (`super::parse_instance_name`).
pub fn resolve_parsed(
    engine: &Engine,
    step: &str,
    branch: Option<super::BranchRef>,
) -> Result<(String, Option<usize>), String> {
    known_step(engine, step)?;
    engine.resolve(step, branch).map_err(|e| e.to_string())
}

fn known_step(engine: &Engine, step: &str) -> Result<(), String> {
    if engine.plan().runbook.step(step).is_some() {
        Ok(())
    } else {
        Err(format!("step {} does not exist in this run", clip(step)))
    }
}

/// Follows a journal as it grows, looking for the event a request was journaled as: reads only
/// what was appended since the last look (whole lines). For the person's command that queued a
/// request; it does not verify the chain (`lifeboat audit verify` does).
#[derive(Debug)]
pub struct JournalWatch {
    path: PathBuf,
    offset: u64,
}

impl JournalWatch {
    pub fn new(journal: &Path) -> JournalWatch {
        JournalWatch { path: journal.to_path_buf(), offset: 0 }
    }

    /// The sequence number of the event journaled for request `id`, if it is there now.
    pub fn find(&mut self, id: &str) -> std::io::Result<Option<u64>> {
        let mut f = std::fs::File::open(&self.path)?;
        let len = f.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
        }
        f.seek(std::io::SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        f.take(len - self.offset).read_to_end(&mut bytes)?;
        let Some(end) = memchr::memrchr(b'\n', &bytes).map(|i| i + 1) else { return Ok(None) };
        self.offset += end as u64;
        let needle = id.as_bytes();
        for line in bytes[..end].split(|b| *b == b'\n') {
            if memchr::memmem::find(line, needle).is_none() {
                continue;
            }
            let Ok(entry) = serde_json::from_slice::<crate::journal::Entry>(line) else { continue };
            let request = entry.payload.pointer("/by/request").and_then(Value::as_str);
            if entry.kind == "event" && request == Some(id) {
                return Ok(Some(entry.seq));
            }
        }
        Ok(None)
    }
}

/// Whether the journal's entries hold an event journaled for request `id`.
pub fn recorded_in(entries: &[crate::journal::Entry], id: &str) -> Option<u64> {
    entries
        .iter()
        .filter(|e| e.kind == "event")
        .find(|e| e.payload.pointer("/by/request").and_then(Value::as_str) == Some(id))
        .map(|e| e.seq)
}

/// The settling contract every [`Inbox`] keeps, for their unit tests: `name` is a pending valid
/// request and `junk.json` a pending file that is not valid JSON; after settling them (the
/// request done, the junk refused), each one's state, the refusals and the unknown name read
/// back as settled.
#[cfg(test)]
pub(crate) fn assert_settles(inbox: &dyn Inbox, name: &str) {
    inbox.settle(name, Settle::Done).unwrap();
    inbox.settle("junk.json", Settle::Refused("is not valid JSON")).unwrap();
    assert_eq!(inbox.state(name).unwrap(), RequestState::Done);
    assert_eq!(
        inbox.state("junk.json").unwrap(),
        RequestState::Refused("is not valid JSON".into())
    );
    assert_eq!(inbox.state("nope.json").unwrap(), RequestState::Unknown);
    let refused = inbox.refused().unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0].name.as_str(), refused[0].reason.as_str()),
        ("junk.json", "is not valid JSON")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(verb: Verb, text: Option<&str>) -> Request {
        let t = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        Request::new(
            verb,
            "gate[ado-weu]",
            false,
            text.map(String::from),
            Actor::os("bob", "h2"),
            t,
        )
    }

    #[test]
    fn a_request_round_trips_and_its_id_names_its_file() {
        let r = request(Verb::Approve, Some("ok"));
        assert!(r.id.starts_with("20260102T030405Z-") && valid_id(&r.id), "{}", r.id);
        assert_eq!(r.file_name(), format!("{}.json", r.id));
        let bytes = serde_json::to_vec(&r).unwrap();
        assert_eq!(Request::parse(&bytes).unwrap(), r);
        let Event::Approved { by, comment, branch, .. } = r.event("gate".into(), Some(1)) else {
            panic!("an approval")
        };
        assert_eq!(
            (by.request.as_deref(), comment.as_deref(), branch),
            (Some(&*r.id), Some("ok"), Some(1))
        );
    }

    #[test]
    fn what_is_not_a_valid_request_is_named() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "is not valid JSON"),
            (b"[1]".to_vec(), "is not a JSON object"),
            (b"{}".to_vec(), "has no `format`"),
            (
                br#"{"format": "lifeboat/inbox-request/v9"}"#.to_vec(),
                "which this lifeboat does not read",
            ),
            (br#"{"format": "other/v1"}"#.to_vec(), "it is not a lifeboat inbox request"),
            (
                br#"{"format": "lifeboat/inbox-request/v1", "verb": "approve"}"#.to_vec(),
                "has invalid fields",
            ),
        ];
        for (bytes, want) in cases {
            let e = Request::parse(&bytes).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        let mut v = serde_json::to_value(request(Verb::Approve, None)).unwrap();
        v["extra"] = serde_json::json!(1);
        assert!(Request::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err().contains("extra"));
        let mut v = serde_json::to_value(request(Verb::Approve, None)).unwrap();
        v["id"] = serde_json::json!("../x");
        assert!(Request::parse(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .contains("request id"));
        let skip = serde_json::to_vec(&request(Verb::Skip, Some("  "))).unwrap();
        assert!(Request::parse(&skip).unwrap_err().contains("without a reason"));
        let attest = serde_json::to_vec(&request(Verb::Attest, None)).unwrap();
        assert!(Request::parse(&attest).unwrap_err().contains("without evidence"));
    }

    #[test]
    fn the_local_inbox_puts_lists_and_settles_create_only() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = LocalInbox::for_run(dir.path());
        assert!(inbox.list().unwrap().is_empty(), "no inbox yet is an empty one");
        let a = request(Verb::Approve, Some("ok"));
        let name = inbox.put(&a).unwrap();
        assert!(inbox.put(&a).is_err(), "a request is never replaced");
        std::fs::write(inbox.dir().join("junk.json"), b"{oops").unwrap();
        std::fs::write(inbox.dir().join(".partial.json.tmp-1-0"), b"").unwrap();
        let listed = inbox.list().unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        let junk = listed.iter().find(|p| p.name == "junk.json").unwrap();
        assert!(junk.request.as_ref().unwrap_err().contains("not valid JSON"));
        let mine = listed.iter().find(|p| p.name == name).unwrap();
        assert_eq!(mine.request.as_ref().unwrap(), &a);
        assert_eq!(inbox.state(&name).unwrap(), RequestState::Pending);
        assert_settles(&inbox, &name);
        assert!(inbox.list().unwrap().is_empty());
    }
}
