//! A run whose record is on the run store (Azure Blob): the journal blob
//! `runs/<run-id>/journal.jsonl` (an append blob) is the record; a local working copy under
//! `<state-dir>/remote/<account>/<container>/<prefix>/runs/<run-id>/` is REPLACED from the blob
//! every time the run is opened (never trusted), so the engine runs on it unchanged.
//!
//! One driver at a time: a driver holds a lease on the journal blob ([`LeaseOptions`], 60 s by
//! default, renewed from a background thread every third of it, released at exit), its holder
//! (host, pid, OS user, since) in the blob's metadata. Each journal batch is ONE Append Block
//! with the lease id and `appendpos` (the replica attached to the local journal,
//! [`crate::journal::replica`]); a batch is durable once the service acknowledged it, then the
//! local copy is written. An append whose outcome is unknown is retried at the same position;
//! if the position moved, the blob's tail is read: the batch landed (not appended twice) or it
//! is an error. A lost lease fences the driver: nothing more is written, exit 4.
//! An append blob holds at most 50,000 blocks (one per batch): a run that reaches it is
//! refused clearly (no roll-over to a second segment).

use super::blob::BlobStore;
use super::StoreError;
use crate::engine::runner;
use crate::error::UserError;
use crate::journal::replica::{self, Replica, ReplicaError};
use crate::journal::{self, JournalError};
use bytes::Bytes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The journal blob of a run, relative to the store's prefix.
pub fn journal_blob(run_id: &str) -> String {
    format!("runs/{run_id}/{}", journal::JOURNAL_FILE)
}

/// The local working copies of `store`'s runs: used as the state directory of runs
/// (`<root>/runs/<run-id>/`).
pub fn cache_root(state_dir: &Path, store: &BlobStore) -> PathBuf {
    let mut p = state_dir.join("remote").join(store.account()).join(store.container());
    for seg in store.prefix().split('/').filter(|s| !s.is_empty()) {
        p = p.join(seg);
    }
    p.join("_")
}

/// How long a lease lasts and how long `resume` waits for another driver's to expire.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// 15-60 s (Azure's bounds). `LIFEBOAT_RUN_STORE_LEASE` (e.g. `15s`) sets it.
    pub seconds: i32,
    /// How long to wait for a held lease to expire before exit 4 (default: lease + 15 s).
    /// `LIFEBOAT_RUN_STORE_LEASE_WAIT` sets it.
    pub wait: Duration,
    /// Break a held lease at once (`resume --take-over`).
    pub take_over: bool,
}

impl LeaseOptions {
    /// From the environment (`env` is `std::env::var`); a bad value is exit 2.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        take_over: bool,
    ) -> Result<LeaseOptions, UserError> {
        let parse = |name: &str| -> Result<Option<Duration>, UserError> {
            env(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    humantime::parse_duration(v.trim()).map_err(|e| {
                        UserError::usage(format!("{name}={v} is not a duration ({e})"))
                            .with_hint("write it as e.g. 15s or 1m")
                    })
                })
                .transpose()
        };
        let seconds = match parse("LIFEBOAT_RUN_STORE_LEASE")? {
            None => 60,
            Some(d) if (15..=60).contains(&d.as_secs()) => d.as_secs() as i32,
            Some(_) => {
                return Err(UserError::usage(
                    "LIFEBOAT_RUN_STORE_LEASE must be between 15s and 60s",
                )
                .with_hint("Azure leases last 15 to 60 seconds"))
            }
        };
        let wait = parse("LIFEBOAT_RUN_STORE_LEASE_WAIT")?
            .unwrap_or(Duration::from_secs(seconds as u64 + 15));
        Ok(LeaseOptions { seconds, wait, take_over })
    }
}

/// Who holds a run's lease, as its metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub host: String,
    pub pid: String,
    pub user: String,
    pub since: String,
    /// The lease's duration in seconds, as its holder took it.
    pub lease_seconds: Option<u32>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {} on host {}, since {})", self.user, self.pid, self.host, self.since)
    }
}

impl Holder {
    fn me(now: OffsetDateTime, lease_seconds: i32) -> Holder {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Holder {
            host: journal::lock::host_name(),
            pid: std::process::id().to_string(),
            user,
            since: now
                .replace_nanosecond(0)
                .unwrap_or(now)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            lease_seconds: u32::try_from(lease_seconds).ok(),
        }
    }

    fn metadata(&self) -> HashMap<String, String> {
        // Metadata values are ASCII HTTP header values: anything else is replaced.
        let clean = |s: &str| {
            s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
        };
        HashMap::from([
            ("lifeboatholderhost".to_string(), clean(&self.host)),
            ("lifeboatholderpid".to_string(), clean(&self.pid)),
            ("lifeboatholderuser".to_string(), clean(&self.user)),
            ("lifeboatholdersince".to_string(), clean(&self.since)),
            (
                "lifeboatleaseseconds".to_string(),
                self.lease_seconds.map(|s| s.to_string()).unwrap_or_default(),
            ),
        ])
    }

    /// The holder recorded in a blob's metadata, if any.
    pub fn from_metadata(md: &HashMap<String, String>) -> Option<Holder> {
        let get =
            |k: &str| md.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
        Some(Holder {
            host: get("lifeboatholderhost")?,
            pid: get("lifeboatholderpid").unwrap_or_default(),
            user: get("lifeboatholderuser").unwrap_or_default(),
            since: get("lifeboatholdersince").unwrap_or_default(),
            lease_seconds: get("lifeboatleaseseconds").and_then(|s| s.parse().ok()),
        })
    }
}

/// Round trips of the journal's appends, for the benchmark.
#[derive(Debug, Default)]
pub struct AppendStats {
    pub batches: AtomicU64,
    pub requests: AtomicU64,
}

/// A run this process drives on the run store: holds its lease (renewed in the background)
/// and the replica of its local journal. Dropping it stops the renewal, releases the lease and
/// detaches the replica.
pub struct RemoteRun {
    store: BlobStore,
    blob: String,
    lease: String,
    pub run_dir: PathBuf,
    journal_path: PathBuf,
    pub stats: Arc<AppendStats>,
    lost: Arc<AtomicBool>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for RemoteRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteRun").field("blob", &self.blob).finish_non_exhaustive()
    }
}

impl RemoteRun {
    /// The store's name and the blob, for messages: `az://c/p/runs/<id>/journal.jsonl`.
    pub fn source(&self) -> String {
        format!("{}/{}", self.store.store_name(), self.blob)
    }

    /// Whether the lease was lost (the renewal was refused).
    pub fn lease_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    fn start(
        store: BlobStore,
        blob: String,
        lease: String,
        run_dir: PathBuf,
        seconds: i32,
    ) -> RemoteRun {
        let journal_path = run_dir.join(journal::JOURNAL_FILE);
        let stats = Arc::new(AppendStats::default());
        replica::attach(
            &journal_path,
            Arc::new(BlobReplica {
                store: store.clone(),
                blob: blob.clone(),
                lease: lease.clone(),
                stats: stats.clone(),
            }),
        );
        let lost = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let period = Duration::from_secs((seconds.max(15) as u64) / 3);
        let renewer = {
            let (store, blob, lease, lost) =
                (store.clone(), blob.clone(), lease.clone(), lost.clone());
            std::thread::Builder::new()
                .name("lifeboat-lease".into())
                .spawn(move || renew_until_stopped(&store, &blob, &lease, &lost, &rx, period))
                .ok()
        };
        RemoteRun {
            store,
            blob,
            lease,
            run_dir,
            journal_path,
            stats,
            lost,
            stop: Some(tx),
            renewer,
        }
    }
}

/// The renewal thread: renews the lease every `period` until the run is dropped (the sender
/// goes) or the lease is lost (then `lost` is set; the next append is refused anyway).
fn renew_until_stopped(
    store: &BlobStore,
    blob: &str,
    lease: &str,
    lost: &AtomicBool,
    stop: &std::sync::mpsc::Receiver<()>,
    period: Duration,
) {
    use std::sync::mpsc::RecvTimeoutError;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(period) {
        let (b, l) = (blob.to_string(), lease.to_string());
        match store.blocking(move |s| async move { s.renew_lease(&b, &l).await }) {
            Ok(()) => {}
            Err(e @ (StoreError::LeaseLost { .. } | StoreError::LeaseHeld { .. })) => {
                tracing::warn!(blob, "the run's lease could not be renewed: {e}");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => tracing::warn!(blob, "renewing the run's lease failed (retried): {e}"),
        }
    }
}

impl Drop for RemoteRun {
    fn drop(&mut self) {
        replica::detach(&self.journal_path);
        let (batches, requests) = (
            self.stats.batches.load(Ordering::Relaxed),
            self.stats.requests.load(Ordering::Relaxed),
        );
        tracing::info!(batches, requests, "run store: journal batches appended");
        // The benchmark's figure (round trips per journal batch), on request.
        if std::env::var_os("LIFEBOAT_RUN_STORE_STATS").is_some() {
            eprintln!("run store: {batches} journal batches appended in {requests} requests");
        }
        drop(self.stop.take());
        if let Some(h) = self.renewer.take() {
            let _ = h.join();
        }
        let (b, l) = (self.blob.clone(), self.lease.clone());
        if let Err(e) = self.store.blocking(move |s| async move { s.release_lease(&b, &l).await }) {
            tracing::debug!("releasing the run's lease: {e}");
        }
    }
}

/// The replica of a driven run's journal: one Append Block per batch.
struct BlobReplica {
    store: BlobStore,
    blob: String,
    lease: String,
    stats: Arc<AppendStats>,
}

impl Replica for BlobReplica {
    fn append(&self, offset: u64, bytes: &[u8]) -> Result<(), ReplicaError> {
        let bytes = Bytes::copy_from_slice(bytes);
        let (blob, lease, stats) = (self.blob.clone(), self.lease.clone(), self.stats.clone());
        let before = self.store.round_trips();
        let r = self.store.blocking(move |s| async move {
            append_exactly_once(&s, &blob, bytes, offset, &lease).await
        });
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .requests
            .fetch_add(self.store.round_trips().saturating_sub(before), Ordering::Relaxed);
        r
    }
}

/// Appends one journal batch at `offset` under `lease`, exactly once: an attempt whose answer
/// was lost is retried at the same position, and a position already passed is checked against
/// the blob's tail (the batch landed: `Ok`, not appended twice; something else: a fenced error).
/// A lost lease is a fenced error naming the holder. What the replica of a driven run does.
pub async fn append_exactly_once(
    s: &BlobStore,
    blob: &str,
    bytes: Bytes,
    offset: u64,
    lease: &str,
) -> Result<(), ReplicaError> {
    let mut attempt = 0u32;
    loop {
        match s.append(blob, bytes.clone(), offset, Some(lease)).await {
            Ok(_) => return Ok(()),
            Err(StoreError::AppendPosition { .. }) => {
                // An earlier attempt whose answer was lost may have landed: look, never append twice.
                let tail = s.get_range(blob, offset).await.map_err(|e| failed(&e))?;
                if tail.as_ref().is_some_and(|t| t.starts_with(&bytes)) {
                    return Ok(());
                }
                return Err(ReplicaError {
                    message: format!(
                        "the run's journal {}/{blob} changed under this driver at byte {offset}: \
                         nothing more was written (another process wrote to it; `lifeboat status` \
                         shows the run as recorded)",
                        s.store_name()
                    ),
                    fenced: true,
                });
            }
            Err(StoreError::LeaseLost { .. } | StoreError::LeaseHeld { .. }) => {
                let holder = s
                    .properties(blob)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|p| Holder::from_metadata(&p.metadata));
                let who = holder
                    .map(|h| {
                        format!(
                            "held since {} by {} on host {} (pid {})",
                            h.since, h.user, h.host, h.pid
                        )
                    })
                    .unwrap_or_else(|| "held by another driver".into());
                return Err(ReplicaError {
                    message: format!(
                        "this driver lost the run's lease ({who}); nothing more was written; \
                         the run goes on there (`lifeboat status` shows it)"
                    ),
                    fenced: true,
                });
            }
            Err(e) if e.is_transient() && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) => return Err(failed(&e)),
        }
    }
}

fn failed(e: &StoreError) -> ReplicaError {
    ReplicaError {
        message: format!("the run's journal could not be written to the run store: {e}"),
        fenced: false,
    }
}

fn not_found(store: &BlobStore, run_id: &str) -> UserError {
    UserError::usage(format!("run {run_id} does not exist in the run store {}", store.store_name()))
        .with_hint(format!(
            "`lifeboat runs list --run-store {}` shows its runs",
            store.store_name()
        ))
}

/// Downloads a run's journal into its local working copy (replacing it), verified exactly as a
/// local journal is: a malformed one is exit 2 naming the blob and line, and nothing is written.
/// Returns the local run directory.
pub async fn sync_down(store: &BlobStore, root: &Path, run_id: &str) -> Result<PathBuf, UserError> {
    let (dir, bytes) = download(store, root, run_id).await?;
    let shown = PathBuf::from(format!("{}/{}", store.store_name(), journal_blob(run_id)));
    match journal::parse(&shown, &bytes) {
        Ok(out) if out.torn_line.is_none() => {}
        Ok(out) => {
            return Err(UserError::usage(format!(
                "{}:{}: the run store's journal ends in a partial line",
                shown.display(),
                out.torn_line.unwrap_or_default()
            ))
            .with_hint("the blob was changed outside lifeboat: restore it from a copy"))
        }
        Err(e @ (JournalError::Corrupt { .. } | JournalError::Empty { .. })) => {
            return Err(UserError::usage(e.to_string()))
        }
        Err(e) => return Err(UserError::usage(e.to_string())),
    }
    write_local(&dir, &bytes)?;
    Ok(dir)
}

/// Downloads a run's journal into its local working copy as it is (no check: `audit verify`
/// reports what it finds). Returns the local run directory.
pub async fn download_raw(
    store: &BlobStore,
    root: &Path,
    run_id: &str,
) -> Result<PathBuf, UserError> {
    let (dir, bytes) = download(store, root, run_id).await?;
    write_local(&dir, &bytes)?;
    Ok(dir)
}

async fn download(
    store: &BlobStore,
    root: &Path,
    run_id: &str,
) -> Result<(PathBuf, Bytes), UserError> {
    runner::validate_run_id(run_id).map_err(UserError::from)?;
    let (bytes, _) =
        store.get(&journal_blob(run_id)).await?.ok_or_else(|| not_found(store, run_id))?;
    Ok((runner::runs_dir(root).join(run_id), bytes))
}

fn write_local(dir: &Path, bytes: &[u8]) -> Result<(), UserError> {
    let io = |e: std::io::Error| {
        UserError::failed(format!(
            "cannot write the local copy of the run in {}: {e}",
            dir.display()
        ))
        .with_hint("check the state directory (--state-dir) and its permissions")
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    crate::fsutil::write_atomic(&dir.join(journal::JOURNAL_FILE), bytes).map_err(io)
}

/// Mirrors every run of the store into `root` (`runs list`, `status`): journals as they are,
/// local copies of runs the store no longer has removed.
pub async fn sync_all(store: &BlobStore, root: &Path) -> Result<Vec<String>, UserError> {
    let suffix = format!("/{}", journal::JOURNAL_FILE);
    let ids: Vec<String> = store
        .list("runs/")
        .await?
        .into_iter()
        .filter_map(|n| n.strip_prefix("runs/")?.strip_suffix(&suffix).map(str::to_string))
        .filter(|id| !id.contains('/') && runner::validate_run_id(id).is_ok())
        .collect();
    let runs = runner::runs_dir(root);
    if let Ok(rd) = std::fs::read_dir(&runs) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !ids.contains(&name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    for id in &ids {
        download_raw(store, root, id).await?;
    }
    Ok(ids)
}

/// Publishes a run just created in the local working copy `run_dir` (its journal holds the
/// header and `RunStarted`): creates the journal blob (create-only: a run id the store has is
/// refused, exit 2, and the local copy removed), takes its lease and appends the journal in one
/// block. From then on the run's batches go to the blob first.
pub async fn publish_new(
    store: &BlobStore,
    run_id: &str,
    run_dir: &Path,
    lease: &LeaseOptions,
    now: OffsetDateTime,
) -> Result<RemoteRun, UserError> {
    let blob = journal_blob(run_id);
    let path = run_dir.join(journal::JOURNAL_FILE);
    let bytes = std::fs::read(&path)
        .map_err(|e| UserError::failed(format!("cannot read {}: {e}", path.display())))?;
    let me = Holder::me(now, lease.seconds);
    match store.create_append(&blob, me.metadata()).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists { .. }) => {
            let _ = std::fs::remove_dir_all(run_dir);
            return Err(UserError::usage(format!(
                "run {run_id} already exists in the run store {}",
                store.store_name()
            ))
            .with_hint("choose another --run-id, or `lifeboat resume` it"));
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(run_dir);
            return Err(e.into());
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let result = async {
        store.acquire_lease(&blob, lease.seconds, &id).await?;
        store.append(&blob, Bytes::from(bytes), 0, Some(&id)).await?;
        Ok::<_, StoreError>(())
    }
    .await;
    if let Err(e) = result {
        // Nothing half-made is left behind: the run does not exist.
        let _ = store.break_lease(&blob).await;
        let _ = store.delete(&blob, None).await;
        let _ = std::fs::remove_dir_all(run_dir);
        return Err(e.into());
    }
    Ok(RemoteRun::start(store.clone(), blob, id, run_dir.to_path_buf(), lease.seconds))
}

/// Takes a run to drive it (`resume`): waits for another driver's lease to expire (saying
/// whose it is, up to [`LeaseOptions::wait`]; then exit 4 suggesting `--take-over`) or, with
/// `take_over`, breaks it and says whose it was; then, under the lease, replaces the local copy
/// from the blob (verified: a malformed journal is exit 2, the lease released, nothing written)
/// and records this process as the holder.
pub async fn take(
    store: &BlobStore,
    root: &Path,
    run_id: &str,
    lease: &LeaseOptions,
    now: OffsetDateTime,
    say: &(dyn Fn(&str) + Sync),
) -> Result<RemoteRun, UserError> {
    runner::validate_run_id(run_id).map_err(UserError::from)?;
    let blob = journal_blob(run_id);
    if store.properties(&blob).await?.is_none() {
        return Err(not_found(store, run_id));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        match store.acquire_lease(&blob, lease.seconds, &id).await {
            Ok(_) => break,
            Err(StoreError::LeaseHeld { .. }) => {
                let holder =
                    store.properties(&blob).await?.and_then(|p| Holder::from_metadata(&p.metadata));
                let expiry = holder
                    .as_ref()
                    .and_then(|h| h.lease_seconds)
                    .map(|s| format!("its lease expires within {s}s of its last renewal"))
                    .unwrap_or_else(|| "a lease lasts at most 60s unless renewed".into());
                let who = holder.map(|h| h.to_string()).unwrap_or_else(|| "another driver".into());
                if lease.take_over {
                    store.break_lease(&blob).await?;
                    say(&format!("took over run {run_id}: broke the lease of {who}"));
                    continue;
                }
                if started.elapsed() >= lease.wait {
                    return Err(UserError::locked(format!(
                        "run {run_id} is driven by {who}, whose lease is still being renewed after {}s",
                        lease.wait.as_secs()
                    ))
                    .with_hint(format!(
                        "wait for it to finish or stop it; or `lifeboat resume {run_id} --take-over` breaks its lease (that driver is then refused on its next write)"
                    )));
                }
                if !told {
                    say(&format!(
                        "run {run_id} is leased by {who}; {expiry}: waiting up to {}s for it to expire, until {} (--take-over breaks it)",
                        lease.wait.as_secs(),
                        crate::text::local_time(now + lease.wait)
                    ));
                    told = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let under_lease = async {
        let dir = sync_down(store, root, run_id).await?;
        store.set_metadata(&blob, &Holder::me(now, lease.seconds).metadata(), Some(&id)).await?;
        Ok::<_, UserError>(dir)
    }
    .await;
    match under_lease {
        Ok(dir) => Ok(RemoteRun::start(store.clone(), blob, id, dir, lease.seconds)),
        Err(e) => {
            let _ = store.release_lease(&blob, &id).await;
            Err(e)
        }
    }
}

/// Brings a run's local copy up to date with the record by fetching only what was appended
/// since (`status --watch`): one ranged read from the local copy's length (nothing new: an
/// empty answer). Returns the number of bytes added. Blocks are whole journal lines, so the
/// local copy never ends in a partial line because of this.
pub async fn pull_new(store: &BlobStore, run_dir: &Path, run_id: &str) -> Result<u64, UserError> {
    use std::io::Write;
    let path = run_dir.join(journal::JOURNAL_FILE);
    let have = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let Some(new) = store.get_range(&journal_blob(run_id), have).await? else {
        return Err(not_found(store, run_id));
    };
    if new.is_empty() {
        return Ok(0);
    }
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).map_err(|e| {
        UserError::failed(format!("cannot append to the local copy {}: {e}", path.display()))
    })?;
    f.write_all(&new).map_err(|e| {
        UserError::failed(format!("cannot append to the local copy {}: {e}", path.display()))
    })?;
    Ok(new.len() as u64)
}
