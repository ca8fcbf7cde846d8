//! A run kept in a shared run store (`--run-store az://container/prefix`), as the person's
//! commands see it: the run's inbox beside its journal ([`BlobInbox`]: approve, attest and skip
//! from any machine), its artefacts ([`BlobArtefacts`]: `support/`, `reports/`), and what
//! `status` says of both. The journal and its lease are the run store's (`crate::runstore`).

use crate::engine::inbox::{self, Inbox as _, RequestState};
use crate::engine::runner;
use crate::error::{Exit, UserError};
use crate::runstore::artefacts::{BlobArtefacts, REPORTS_DIR};
use crate::runstore::inbox::{BlobInbox, RunBlobs};
use crate::runstore::remote::{self, LeaseOptions, RemoteRun};
use crate::runstore::BlobStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One run of a shared run store: its blobs are under `runs/<run-id>/` of the store.
#[derive(Clone)]
pub struct SharedRun {
    pub blobs: Arc<dyn RunBlobs>,
    pub run_id: String,
}

impl SharedRun {
    pub fn new(blobs: Arc<dyn RunBlobs>, run_id: &str) -> SharedRun {
        SharedRun { blobs, run_id: run_id.to_string() }
    }
    /// `runs/<run-id>`, relative to the store's prefix.
    pub fn prefix(&self) -> String {
        format!("runs/{}", self.run_id)
    }
    pub fn inbox(&self) -> BlobInbox {
        BlobInbox::new(self.blobs.clone(), &self.prefix())
    }
    pub fn artefacts(&self) -> BlobArtefacts {
        BlobArtefacts::new(self.blobs.clone(), &self.prefix())
    }
    /// The journal blob's name.
    pub fn journal(&self) -> String {
        format!("{}/{}", self.prefix(), crate::journal::JOURNAL_FILE)
    }

    /// The artefacts stored beside the journal (`support/…`, `reports/…`), where they are.
    pub fn artefact_locations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for dir in [crate::runstore::artefacts::SUPPORT_DIR, REPORTS_DIR] {
            let prefix = format!("{}/{dir}/", self.prefix());
            if let Ok(listed) = self.blobs.list(&prefix) {
                out.extend(listed.iter().map(|l| self.blobs.display(&l.name)));
            }
        }
        out
    }

    /// Where the run is, for `status`.
    pub async fn status(&self) -> crate::cli::status::RunStoreStatus {
        let me = self.clone();
        let artefacts = off(move || me.artefact_locations()).await;
        crate::cli::status::RunStoreStatus {
            journal: self.blobs.display(&self.journal()),
            inbox: self.inbox().location(),
            artefacts,
        }
    }

    /// The sequence number of the event journaled for request `id`, read from the journal blob.
    fn recorded_seq(&self, id: &str) -> Option<u64> {
        let (bytes, _) = self.blobs.get(&self.journal()).ok().flatten()?;
        bytes.split(|b| *b == b'\n').find_map(|line| {
            memchr::memmem::find(line, id.as_bytes())?;
            let entry = serde_json::from_slice::<crate::journal::Entry>(line).ok()?;
            let by = entry.payload.pointer("/by/request").and_then(serde_json::Value::as_str);
            (entry.kind == "event" && by == Some(id)).then_some(entry.seq)
        })
    }
}

/// A run driven on an `az://` run store: its support drafts are also stored beside the journal
/// (the `Artefacts` service), and its inbox is there (returned, for `RunOptions::inbox`).
pub fn wire(
    store: &BlobStore,
    run_id: &str,
    services: &mut crate::engine::kind::Services,
) -> Arc<dyn inbox::Inbox> {
    let run = SharedRun::new(Arc::new(store.clone()), run_id);
    services.insert(Arc::new(crate::engine::artefact::Artefacts(Arc::new(run.artefacts()))));
    Arc::new(run.inbox())
}

/// Runs a blocking run store call off the async runtime's workers.
async fn off<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// What [`queue`] asks of its caller while it waits: take the run's lease and journal the
/// inbox when no driver holds it (`Ok(true)`: it did), as a driver would.
pub type TakeOver<'a> =
    &'a mut (dyn FnMut() -> futures::future::BoxFuture<'static, Result<bool, UserError>> + Send);

/// What a person's command found on an `az://` run store.
pub enum Reached {
    /// No driver held the run: this process holds its lease (released when dropped) and the
    /// local copy was just replaced from the blob; what it journals goes to the blob first.
    Taken(RemoteRun),
    /// A driver holds the run's lease: the local copy was replaced from the blob (to read, not
    /// to write); `driver` names the holder.
    Driven { dir: PathBuf, driver: String },
}

impl Reached {
    /// The run's local working copy.
    pub fn dir(&self) -> &Path {
        match self {
            Reached::Taken(r) => &r.run_dir,
            Reached::Driven { dir, .. } => dir,
        }
    }
}

/// Takes the run's lease at once if nobody holds it, else reads the run as it is: how
/// `approve`, `attest` and `skip` reach a run on an `az://` run store. A run the store does not
/// have, a malformed journal: exit 2, nothing written.
pub async fn reach(store: &BlobStore, root: &Path, run_id: &str) -> Result<Reached, UserError> {
    let env = |k: &str| std::env::var(k).ok();
    let mut lease = LeaseOptions::from_env(&env, false)?;
    lease.wait = std::time::Duration::ZERO;
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    match remote::take(store, root, run_id, &lease, now, &|_| {}).await {
        Ok(r) => Ok(Reached::Taken(r)),
        Err(e) if e.exit == Exit::Locked => {
            let dir = remote::sync_down(store, root, run_id).await?;
            Ok(Reached::Driven { dir, driver: holder(store, run_id).await })
        }
        Err(e) => Err(e),
    }
}

/// Who holds the run's lease, as its journal blob's metadata says.
async fn holder(store: &BlobStore, run_id: &str) -> String {
    store
        .properties(&remote::journal_blob(run_id))
        .await
        .ok()
        .flatten()
        .and_then(|p| remote::Holder::from_metadata(&p.metadata))
        .map(|h| h.to_string())
        .unwrap_or_else(|| "another driver".into())
}

/// [`queue`] on an `az://` run store: while it waits, if the driver lets the run go (its lease
/// released or expired), this process takes the lease and journals the inbox itself.
pub async fn queue_remote(
    store: &BlobStore,
    root: &Path,
    run_id: &str,
    request: &inbox::Request,
    driver: &str,
    wait: std::time::Duration,
) -> anyhow::Result<Exit> {
    let run = SharedRun::new(Arc::new(store.clone()), run_id);
    let (store2, root2, id2) = (store.clone(), root.to_path_buf(), run_id.to_string());
    let mut take_over = move || -> futures::future::BoxFuture<'static, Result<bool, UserError>> {
        let (store, root, run_id) = (store2.clone(), root2.clone(), id2.clone());
        Box::pin(async move {
            let blob = remote::journal_blob(&run_id);
            if store.properties(&blob).await?.is_none_or(|p| p.leased) {
                return Ok(false);
            }
            let Reached::Taken(r) = reach(&store, &root, &run_id).await? else { return Ok(false) };
            let inbox = SharedRun::new(Arc::new(store.clone()), &run_id).inbox();
            off(move || {
                let now = crate::clock::Clock::now(&crate::clock::SystemClock);
                let out =
                    runner::drain_inbox_with(&r.run_dir, &crate::steps::registry(), now, &inbox);
                drop(r);
                out.map(|_| true).map_err(UserError::from)
            })
            .await
        })
    };
    queue(&run, request, driver, wait, &mut take_over).await
}

/// Puts `request` into the shared run's inbox and waits up to `wait` for the process driving
/// the run to record it (`done/`) or refuse it (`refused/` with the reason); when the driver
/// lets the run go meanwhile, `take_over` journals the inbox from here. Exit 6 when nobody
/// recorded it in time: the request stays queued, and the next driver takes it.
pub async fn queue(
    run: &SharedRun,
    request: &inbox::Request,
    driver: &str,
    wait: std::time::Duration,
    take_over: TakeOver<'_>,
) -> anyhow::Result<Exit> {
    let run_id = run.run_id.clone();
    let box_ = run.inbox();
    let name = {
        let (b, r) = (box_.clone(), request.clone());
        off(move || b.put(&r)).await.map_err(|e| UserError::failed(e.to_string()))?
    };
    let what = format!("{} {}", request.verb.name(), request.step);
    crate::say!(
        "run {run_id} is driven by {driver}: queued request {} ({what}) in its inbox {}; waiting up to {} for that process to record it",
        request.id,
        box_.location(),
        humantime::format_duration(wait)
    );
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let state = {
            let (b, n) = (box_.clone(), name.clone());
            off(move || b.state(&n)).await
        };
        match state {
            Ok(RequestState::Done) => {
                let seq = {
                    let (r, id) = (run.clone(), request.id.clone());
                    off(move || r.recorded_seq(&id)).await
                };
                let at = seq.map(|s| format!(" at seq {s}")).unwrap_or_default();
                println!(
                    "{what} of run {run_id}: recorded{at} by the process driving the run (request {})",
                    request.id
                );
                return Ok(Exit::Ok);
            }
            Ok(RequestState::Refused(reason)) => {
                return Err(UserError::usage(format!(
                    "{what} of run {run_id} was refused by the process driving the run: {reason}"
                ))
                .with_hint(format!(
                    "nothing was journaled; the request is kept in {}",
                    box_.refused_location(&name)
                ))
                .into());
            }
            Ok(RequestState::Pending) => match take_over().await {
                Ok(_) => {}
                Err(e) if e.exit == Exit::Locked => {}
                Err(e) => tracing::warn!(error = %e, "cannot take the run's inbox"),
            },
            Ok(RequestState::Unknown) | Err(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    crate::say!(
        "{what} of run {run_id} is not recorded yet: the process driving the run did not take it within {}. The request stays queued ({}); it is recorded when that process next reads its inbox, or by the next `lifeboat resume {run_id}`; `lifeboat status {run_id}` shows it",
        humantime::format_duration(wait),
        box_.pending_location(&name)
    );
    Ok(Exit::Queued)
}

/// Stores the drill's report files beside the run's journal (`reports/NAME`); returns where.
pub async fn store_reports(run: &SharedRun, files: &[&Path]) -> Result<Vec<String>, UserError> {
    let artefacts = run.artefacts();
    let mut out = Vec::new();
    for file in files {
        let Some(name) = file.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let bytes = std::fs::read(file).map_err(|e| {
            UserError::failed(format!("cannot read the drill report {}", file.display()))
                .with_source(e)
        })?;
        let a = artefacts.clone();
        let rel = format!("{REPORTS_DIR}/{name}");
        let at = off(move || a.store_blocking(&rel, &bytes)).await.map_err(|e| {
            UserError::failed(format!("cannot store the drill report beside the run: {e}"))
        })?;
        out.push(at);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::inbox::{Settle, Verb};
    use crate::engine::Actor;
    use crate::runstore::inbox::MemoryBlobs;

    fn request() -> inbox::Request {
        let t = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        inbox::Request::new(Verb::Approve, "gate", false, None, Actor::os("bob", "h2"), t)
    }

    #[tokio::test]
    async fn a_queued_request_waits_for_the_driver_and_reports_its_answer() {
        let blobs = Arc::new(MemoryBlobs::new());
        let run = SharedRun::new(blobs.clone(), "r1");
        // Nobody answers: exit 6, the request stays pending.
        let r = request();
        let mut never = || -> futures::future::BoxFuture<'static, Result<bool, UserError>> {
            Box::pin(async { Ok(false) })
        };
        let exit = queue(&run, &r, "pid 1", std::time::Duration::ZERO, &mut never).await.unwrap();
        assert_eq!(exit, Exit::Queued);
        assert_eq!(run.inbox().list().unwrap().len(), 1);
        // A driver that refuses: exit 2 with its reason.
        let refusing = run.inbox();
        let r2 = request();
        let mut refuse = move || -> futures::future::BoxFuture<'static, Result<bool, UserError>> {
            for p in refusing.list().unwrap() {
                refusing.settle(&p.name, Settle::Refused("no such gate now")).unwrap();
            }
            Box::pin(async { Ok(true) })
        };
        let e = queue(&run, &r2, "pid 1", std::time::Duration::from_secs(5), &mut refuse)
            .await
            .unwrap_err();
        let e = e.downcast::<UserError>().unwrap();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("no such gate now"), "{}", e.message);
        assert!(run.inbox().list().unwrap().is_empty());
    }

    #[tokio::test]
    async fn reports_go_beside_the_journal() {
        let blobs = Arc::new(MemoryBlobs::new());
        let run = SharedRun::new(blobs.clone(), "r1");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("report.html");
        std::fs::write(&f, "<html>").unwrap();
        let at = store_reports(&run, &[f.as_path()]).await.unwrap();
        assert_eq!(at, vec!["memory://runs/r1/reports/report.html".to_string()]);
        assert_eq!(run.artefact_locations(), at);
    }
}
