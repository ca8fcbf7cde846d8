//! The run's inbox on Blob storage ([`BlobInbox`]): the engine's [`Inbox`] where a team shares a
//! run through a run store (`--run-store az://container/prefix`).
//!
//! Layout, under the run's prefix (`<prefix>/runs/<run-id>/`):
//! - `inbox/<id>.json`: a pending request, written create-only (`If-None-Match: *`);
//! - `inbox/done/<id>.json`: a request the driver journaled;
//! - `inbox/refused/<id>.json` and `inbox/refused/<id>.json.reason`: a request the driver refused,
//!   and why.
//!
//! Blob storage has no rename, so settling is three idempotent steps, each of which a driver that
//! crashed may repeat: (1, refusals only) the reason, create-only; (2) the copy into `done/` or
//! `refused/`, create-only (an existing copy is the same request: a request blob is never
//! changed); (3) the delete of the pending blob, `If-Match` its ETag (a blob that is gone was
//! deleted by an earlier attempt). Until (3) the request is still listed; a pending request whose
//! copy is already in `done/` or `refused/` was settled before a crash, so [`BlobInbox::list`]
//! finishes its settling and does not list it: with the engine's own check (a pending request
//! whose id the journal holds is settled as done), a request is journaled at most once.
//!
//! The request format, its validation and the exit codes are the engine's ([`crate::engine::inbox`]),
//! unchanged: only where the bytes live differs.
//!
//! [`BlobInbox`] works on [`RunBlobs`], the four blob operations it needs (blocking calls: the
//! engine's `Inbox` is synchronous), so that it is tested without a service and runs on the run
//! store's client.

use crate::engine::inbox::{
    Inbox, InboxError, Pending, Refusal, Request, RequestState, Settle, DONE_DIR, INBOX_DIR,
    MAX_REQUEST_BYTES, REFUSED_DIR,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

/// A blob as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The blob's full name in its container.
    pub name: String,
    pub size: u64,
    pub modified: Option<OffsetDateTime>,
}

/// What a create-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    /// A blob of that name exists: nothing was written.
    Exists,
}

/// What a conditional delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    /// No such blob (an earlier attempt deleted it).
    Missing,
    /// The blob's ETag is not the one given: it was not deleted.
    Changed,
}

/// The blob operations the inbox and the artefacts need, blocking. Every error message is safe to show (it names
/// the blob, never a key or a SAS token).
pub trait RunBlobs: Send + Sync {
    /// Writes `bytes` to `name` only if no blob has that name (`If-None-Match: *`).
    fn put_new(&self, name: &str, bytes: &[u8]) -> Result<Created, String>;
    /// The blob's bytes and ETag, `None` if there is none.
    fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, String>;
    /// Every blob whose name starts with `prefix` (all levels), sorted by name.
    fn list(&self, prefix: &str) -> Result<Vec<Listed>, String>;
    /// Replaces `name` only if its ETag is `etag` (`If-Match`): `false` if it changed (or is gone).
    fn put_if_match(&self, name: &str, bytes: &[u8], etag: &str) -> Result<bool, String>;
    /// Deletes `name` only if its ETag is `etag` (`If-Match`).
    fn delete_if_match(&self, name: &str, etag: &str) -> Result<Deleted, String>;
    /// How people name a blob in a message: `az://container/name`.
    fn display(&self, name: &str) -> String;
}

/// A run's inbox on Blob storage. See the module documentation.
#[derive(Clone)]
pub struct BlobInbox {
    blobs: Arc<dyn RunBlobs>,
    /// `<prefix>/runs/<run-id>/inbox/` (ends with `/`).
    dir: String,
}

impl std::fmt::Debug for BlobInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobInbox").field("dir", &self.dir).finish()
    }
}

fn io_err(what: &'static str, path: String) -> impl FnOnce(String) -> InboxError {
    move |msg| InboxError { what, path: PathBuf::from(path), source: std::io::Error::other(msg) }
}

impl BlobInbox {
    /// The inbox of the run whose blobs are under `run_prefix` (`<prefix>/runs/<run-id>`, no
    /// trailing `/`; empty for a container's root).
    pub fn new(blobs: Arc<dyn RunBlobs>, run_prefix: &str) -> BlobInbox {
        let run_prefix = run_prefix.trim_end_matches('/');
        let dir = if run_prefix.is_empty() {
            format!("{INBOX_DIR}/")
        } else {
            format!("{run_prefix}/{INBOX_DIR}/")
        };
        BlobInbox { blobs, dir }
    }

    /// `az://container/<prefix>/runs/<run-id>/inbox/`, for messages.
    pub fn location(&self) -> String {
        self.blobs.display(&self.dir)
    }

    /// Where the request `name` is kept once refused, for messages.
    pub fn refused_location(&self, name: &str) -> String {
        self.blobs.display(&self.refused_blob(name))
    }

    /// Where the pending request `name` is, for messages.
    pub fn pending_location(&self, name: &str) -> String {
        self.blobs.display(&self.pending(name))
    }

    fn pending(&self, name: &str) -> String {
        format!("{}{name}", self.dir)
    }
    fn done(&self, name: &str) -> String {
        format!("{}{DONE_DIR}/{name}", self.dir)
    }
    fn refused_blob(&self, name: &str) -> String {
        format!("{}{REFUSED_DIR}/{name}", self.dir)
    }
    fn reason(&self, name: &str) -> String {
        format!("{}{REFUSED_DIR}/{name}.reason", self.dir)
    }

    /// Everything under the inbox, by place: pending, done, refused (names relative to each).
    fn survey(&self) -> Result<Survey, InboxError> {
        let listed = self.blobs.list(&self.dir).map_err(io_err("list", self.location()))?;
        let mut s = Survey::default();
        for l in listed {
            let Some(rel) = l.name.strip_prefix(&self.dir) else { continue };
            match rel.split_once('/') {
                None if !rel.is_empty() && !rel.starts_with('.') => {
                    s.pending.insert(rel.to_string(), l);
                }
                Some((DONE_DIR, n)) if !n.contains('/') => {
                    s.done.insert(n.to_string(), l);
                }
                Some((REFUSED_DIR, n)) if !n.contains('/') => {
                    s.refused.insert(n.to_string(), l);
                }
                _ => {}
            }
        }
        Ok(s)
    }

    /// A blob's bytes as a request, at most [`MAX_REQUEST_BYTES`].
    fn read_request(&self, name: &str, size: u64) -> Result<(Request, String), String> {
        let (bytes, etag) = self.read_bounded(name, size)?;
        Request::parse(&bytes).map(|r| (r, etag))
    }

    fn read_bounded(&self, name: &str, size: u64) -> Result<(Vec<u8>, String), String> {
        let too_big = || format!("is larger than {} KiB", MAX_REQUEST_BYTES / 1024);
        if size > MAX_REQUEST_BYTES {
            return Err(too_big());
        }
        match self.blobs.get(name) {
            Ok(Some((bytes, _))) if bytes.len() as u64 > MAX_REQUEST_BYTES => Err(too_big()),
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err("is gone (settled meanwhile)".into()),
            Err(e) => Err(format!("cannot be read ({e})")),
        }
    }

    /// Copies the pending request `name` to `to` (create-only) and deletes it (`If-Match`).
    /// Every step may have been done before: a crash between them is finished here.
    fn move_to(&self, name: &str, to: &str) -> Result<(), InboxError> {
        let from = self.pending(name);
        let Some((bytes, etag)) =
            self.blobs.get(&from).map_err(io_err("read", self.display(&from)))?
        else {
            // Gone: deleted by an earlier settling (its copy is there) or never there.
            let copied = self.blobs.get(to).map_err(io_err("read", self.display(to)))?.is_some();
            return if copied {
                Ok(())
            } else {
                Err(io_err("settle", self.display(&from))("no such request in the inbox".into()))
            };
        };
        self.blobs.put_new(to, &bytes).map_err(io_err("write", self.display(to)))?;
        self.remove(&from, &etag)
    }

    fn remove(&self, name: &str, etag: &str) -> Result<(), InboxError> {
        match self.blobs.delete_if_match(name, etag).map_err(io_err("delete", self.display(name)))? {
            Deleted::Deleted | Deleted::Missing => Ok(()),
            Deleted::Changed => Err(io_err("delete", self.display(name))(
                "it changed since it was read (a request blob is never rewritten: someone replaced it); it stays for a person to look at".into(),
            )),
        }
    }

    fn display(&self, name: &str) -> String {
        self.blobs.display(name)
    }
}

#[derive(Default)]
struct Survey {
    pending: BTreeMap<String, Listed>,
    done: BTreeMap<String, Listed>,
    refused: BTreeMap<String, Listed>,
}

impl Inbox for BlobInbox {
    fn put(&self, request: &Request) -> Result<String, InboxError> {
        let name = request.file_name();
        let blob = self.pending(&name);
        let mut bytes = serde_json::to_vec_pretty(request).map_err(|e| InboxError {
            what: "serialise",
            path: PathBuf::from(self.display(&blob)),
            source: e.into(),
        })?;
        bytes.push(b'\n');
        match self.blobs.put_new(&blob, &bytes).map_err(io_err("write", self.display(&blob)))? {
            Created::Created => Ok(name),
            // A retried write whose first attempt landed finds its own bytes (the id is random).
            Created::Exists
                if self.blobs.get(&blob).ok().flatten().is_some_and(|(b, _)| b == bytes) =>
            {
                Ok(name)
            }
            Created::Exists => Err(io_err("write", self.display(&blob))(
                "a request of that name exists (a request is never replaced)".into(),
            )),
        }
    }

    fn list(&self) -> Result<Vec<Pending>, InboxError> {
        let survey = self.survey()?;
        let mut out = Vec::new();
        for (name, listed) in &survey.pending {
            // Settled before a crash kept its pending blob from being deleted: finish that.
            if survey.done.contains_key(name) || survey.refused.contains_key(name) {
                let to = if survey.done.contains_key(name) {
                    self.done(name)
                } else {
                    self.refused_blob(name)
                };
                if let Err(e) = self.move_to(name, &to) {
                    tracing::warn!(request = %name, error = %e, "cannot finish settling an inbox request; it is settled again on the next read");
                }
                continue;
            }
            let request = if name.ends_with(".json") {
                self.read_request(&listed.name, listed.size).map(|(r, _)| r)
            } else {
                Err("is not a request file (a request is NAME.json)".into())
            };
            out.push(Pending { name: name.clone(), since: listed.modified, request });
        }
        Ok(out)
    }

    fn settle(&self, name: &str, how: Settle<'_>) -> Result<(), InboxError> {
        match how {
            Settle::Done => self.move_to(name, &self.done(name)),
            Settle::Refused(reason) => {
                // The reason first: whoever sees the request in `refused/` finds it. A reason
                // already there is an earlier attempt's (the same request, the same state).
                let why = self.reason(name);
                self.blobs
                    .put_new(&why, format!("{reason}\n").as_bytes())
                    .map_err(io_err("write", self.display(&why)))?;
                self.move_to(name, &self.refused_blob(name))
            }
        }
    }

    fn state(&self, name: &str) -> Result<RequestState, InboxError> {
        let survey = self.survey()?;
        if survey.done.contains_key(name) {
            return Ok(RequestState::Done);
        }
        if survey.refused.contains_key(name) {
            let reason = self.reason_of(name, &survey);
            return Ok(RequestState::Refused(reason));
        }
        if survey.pending.contains_key(name) {
            return Ok(RequestState::Pending);
        }
        Ok(RequestState::Unknown)
    }

    fn refused(&self) -> Result<Vec<Refusal>, InboxError> {
        let survey = self.survey()?;
        let mut out = Vec::new();
        for (name, listed) in &survey.refused {
            if name.ends_with(".reason") {
                continue;
            }
            let reason = self.reason_of(name, &survey);
            let request = self.read_request(&listed.name, listed.size).ok().map(|(r, _)| r);
            let at = survey.refused.get(&format!("{name}.reason")).and_then(|l| l.modified);
            out.push(Refusal { name: name.clone(), reason, request, at });
        }
        Ok(out)
    }
}

impl BlobInbox {
    fn reason_of(&self, name: &str, survey: &Survey) -> String {
        let none = || "(no reason recorded)".to_string();
        let Some(l) = survey.refused.get(&format!("{name}.reason")) else { return none() };
        match self.read_bounded(&l.name, l.size) {
            Ok((bytes, _)) => String::from_utf8_lossy(&bytes).trim().to_string(),
            Err(_) => none(),
        }
    }
}

/// Blobs in memory, with the service's conditions: for tests of what sits on [`RunBlobs`].
/// `fail_*` make the next matching operation fail once (a crash or a dropped connection).
#[derive(Debug, Default)]
pub struct MemoryBlobs {
    inner: std::sync::Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    blobs: BTreeMap<String, (Vec<u8>, u64)>,
    next_etag: u64,
    /// Fail the next operation whose (verb, name) matches.
    fail: Vec<(&'static str, String)>,
    /// Every operation, `verb name`, for tests that count round trips.
    log: Vec<String>,
}

impl MemoryBlobs {
    pub fn new() -> MemoryBlobs {
        MemoryBlobs::default()
    }
    /// The next `verb` (`put_new`, `get`, `list`, `delete`) on the blob `name` (for `list`: the
    /// prefix) fails once.
    pub fn fail_next(&self, verb: &'static str, name: &str) {
        self.lock().fail.push((verb, name.to_string()));
    }
    /// Every blob name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().blobs.keys().cloned().collect()
    }
    /// Replaces a blob's bytes (a new ETag), as an outside writer could.
    pub fn overwrite(&self, name: &str, bytes: &[u8]) {
        let mut s = self.lock();
        s.next_etag += 1;
        let etag = s.next_etag;
        s.blobs.insert(name.to_string(), (bytes.to_vec(), etag));
    }
    /// The operations so far, `verb name`.
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn enter(
        &self,
        verb: &'static str,
        name: &str,
    ) -> Result<std::sync::MutexGuard<'_, MemoryState>, String> {
        let mut s = self.lock();
        s.log.push(format!("{verb} {name}"));
        if let Some(i) = s.fail.iter().position(|(v, n)| *v == verb && n == name) {
            s.fail.remove(i);
            return Err(format!("injected failure of {verb} {name}"));
        }
        Ok(s)
    }
}

impl RunBlobs for MemoryBlobs {
    fn put_new(&self, name: &str, bytes: &[u8]) -> Result<Created, String> {
        let mut s = self.enter("put_new", name)?;
        if s.blobs.contains_key(name) {
            return Ok(Created::Exists);
        }
        s.next_etag += 1;
        let etag = s.next_etag;
        s.blobs.insert(name.to_string(), (bytes.to_vec(), etag));
        Ok(Created::Created)
    }
    fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, String> {
        let s = self.enter("get", name)?;
        Ok(s.blobs.get(name).map(|(b, e)| (b.clone(), format!("\"{e}\""))))
    }
    fn list(&self, prefix: &str) -> Result<Vec<Listed>, String> {
        let s = self.enter("list", prefix)?;
        Ok(s.blobs
            .range(prefix.to_string()..)
            .take_while(|(n, _)| n.starts_with(prefix))
            .map(|(n, (b, _))| Listed { name: n.clone(), size: b.len() as u64, modified: None })
            .collect())
    }
    fn put_if_match(&self, name: &str, bytes: &[u8], etag: &str) -> Result<bool, String> {
        let mut s = self.enter("put_if_match", name)?;
        match s.blobs.get(name) {
            Some((_, e)) if format!("\"{e}\"") == etag => {
                s.next_etag += 1;
                let etag = s.next_etag;
                s.blobs.insert(name.to_string(), (bytes.to_vec(), etag));
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    fn delete_if_match(&self, name: &str, etag: &str) -> Result<Deleted, String> {
        let mut s = self.enter("delete", name)?;
        match s.blobs.get(name) {
            None => Ok(Deleted::Missing),
            Some((_, e)) if format!("\"{e}\"") != etag => Ok(Deleted::Changed),
            Some(_) => {
                s.blobs.remove(name);
                Ok(Deleted::Deleted)
            }
        }
    }
    fn display(&self, name: &str) -> String {
        format!("memory://{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Actor;

    fn request(n: u8) -> Request {
        let t =
            time::macros::datetime!(2026-01-02 03:04:05 UTC) + time::Duration::seconds(n.into());
        Request::new(
            crate::engine::inbox::Verb::Approve,
            "gate",
            false,
            Some("ok".into()),
            Actor::os("bob", "h2"),
            t,
        )
    }

    fn inbox() -> (Arc<MemoryBlobs>, BlobInbox) {
        let blobs = Arc::new(MemoryBlobs::new());
        let inbox = BlobInbox::new(blobs.clone(), "team/runs/r1");
        (blobs, inbox)
    }

    #[test]
    fn puts_lists_and_settles_create_only_under_the_run_prefix() {
        let (blobs, inbox) = inbox();
        assert!(inbox.list().unwrap().is_empty());
        let a = request(1);
        let name = inbox.put(&a).unwrap();
        assert_eq!(blobs.names(), vec![format!("team/runs/r1/inbox/{name}")]);
        assert_eq!(inbox.put(&a).unwrap(), name, "a retried put finds its own bytes");
        let mut other = a.clone();
        other.comment = Some("changed".into());
        assert!(inbox.put(&other).is_err(), "a request is never replaced");
        blobs.put_new("team/runs/r1/inbox/junk.json", b"{oops").unwrap();
        blobs.put_new("team/runs/r1/inbox/note.txt", b"hi").unwrap();
        let listed = inbox.list().unwrap();
        assert_eq!(listed.len(), 3, "{listed:?}");
        assert_eq!(listed.iter().find(|p| p.name == name).unwrap().request.as_ref().unwrap(), &a);
        let junk = listed.iter().find(|p| p.name == "junk.json").unwrap();
        assert!(junk.request.as_ref().unwrap_err().contains("not valid JSON"));
        let note = listed.iter().find(|p| p.name == "note.txt").unwrap();
        assert!(note.request.as_ref().unwrap_err().contains("not a request file"));
        assert_eq!(inbox.state(&name).unwrap(), RequestState::Pending);

        crate::engine::inbox::assert_settles(&inbox, &name);
        let left: Vec<String> = inbox.list().unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(left, vec!["note.txt".to_string()]);
        assert!(blobs.names().contains(&format!("team/runs/r1/inbox/done/{name}")));
    }

    #[test]
    fn a_crash_between_the_copy_and_the_delete_is_finished_and_never_listed_again() {
        let (blobs, inbox) = inbox();
        let name = inbox.put(&request(1)).unwrap();
        let pending = format!("team/runs/r1/inbox/{name}");
        // The copy into done/ lands, the delete does not (the driver dies there).
        blobs.fail_next("delete", &pending);
        assert!(inbox.settle(&name, Settle::Done).is_err());
        assert!(blobs.names().contains(&pending), "still pending after the failed delete");
        assert_eq!(inbox.state(&name).unwrap(), RequestState::Done, "its copy says done");
        // The next driver's read finishes the settling instead of handing it out again.
        assert!(inbox.list().unwrap().is_empty());
        assert!(!blobs.names().contains(&pending));
        // Settling again (a driver that had it listed before) is harmless.
        inbox.settle(&name, Settle::Done).unwrap();
        assert_eq!(inbox.state(&name).unwrap(), RequestState::Done);
    }

    #[test]
    fn a_crash_before_the_copy_leaves_the_request_pending_and_a_refusal_is_repeated_safely() {
        let (blobs, inbox) = inbox();
        let name = inbox.put(&request(1)).unwrap();
        blobs.fail_next("put_new", &format!("team/runs/r1/inbox/done/{name}"));
        assert!(inbox.settle(&name, Settle::Done).is_err());
        assert_eq!(inbox.list().unwrap().len(), 1, "not copied: still pending, read again");
        // A refusal whose copy failed after its reason was written: repeated, it completes.
        blobs.fail_next("put_new", &format!("team/runs/r1/inbox/refused/{name}"));
        assert!(inbox.settle(&name, Settle::Refused("no longer applies")).is_err());
        inbox.settle(&name, Settle::Refused("no longer applies")).unwrap();
        assert_eq!(inbox.state(&name).unwrap(), RequestState::Refused("no longer applies".into()));
        assert!(inbox.list().unwrap().is_empty());
    }

    #[test]
    fn a_replaced_pending_blob_is_not_deleted_and_a_large_one_is_refused_unread() {
        let (blobs, inbox) = inbox();
        let name = inbox.put(&request(1)).unwrap();
        let pending = format!("team/runs/r1/inbox/{name}");
        // Someone rewrites the blob between the driver's read and its delete: If-Match fails,
        // the blob stays.
        let (bytes, etag) = blobs.get(&pending).unwrap().unwrap();
        blobs.overwrite(&pending, &bytes);
        let e = inbox.remove(&pending, &etag).unwrap_err();
        assert!(e.to_string().contains("changed since it was read"), "{e}");
        assert!(blobs.names().contains(&pending));
        let big = format!("team/runs/r1/inbox/{}", "big.json");
        blobs.put_new(&big, &vec![b' '; (MAX_REQUEST_BYTES + 1) as usize]).unwrap();
        let listed = inbox.list().unwrap();
        let p = listed.iter().find(|p| p.name == "big.json").unwrap();
        assert!(p.request.as_ref().unwrap_err().contains("larger than"), "{p:?}");
        assert!(
            !blobs.log().iter().any(|l| l == &format!("get {big}")),
            "a blob larger than a request is not downloaded"
        );
    }
}
