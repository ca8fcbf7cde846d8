//! `drill --from-backup`: the organisation's own snapshot is both the drill's tenant and the
//! backup its runbook restores.
//!
//! [`load`] chooses the snapshot in the organisation's store (the newest *verified* one,
//! `backup::health::newest_verified`, the rule `backup check` judges by; or `latest`, or an ID)
//! and reads it whole: the manifest authenticated, every object read back and re-hashed. It only
//! reads. Every problem is bad input (exit 2) before the drill writes anything: no snapshot by
//! that ID (the newest IDs listed), a snapshot that fails verification (which snapshot, which
//! object), an encrypted store without its identity.
//!
//! [`copy_into`] writes the snapshot's files, byte for byte as the organisation's store holds
//! them, into the drill's own store (`<drill dir>/backups`): the config, the manifest and its
//! signature, one verified copy of every object. The runbook restores from that copy, which *is*
//! the snapshot (same ID, same bytes, same keys); the organisation's store is never written.

use crate::backup::snapshot::{
    find_snapshot, list_snapshots, load_object_sealed, open_manifest, warn_unauthenticated,
    SnapshotInfo,
};
use crate::backup::store::CONFIG_PATH;
use crate::backup::{auth, BackupError, Keys, Manifest, ResourceKind, Store};
use crate::error::UserError;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;

/// Builds the reading keys of the organisation's store again (the identity and the pinned
/// verifying key), for the drill's copy of it.
pub type KeysFn = Arc<dyn Fn() -> Result<Keys, UserError> + Send + Sync>;

/// How many objects are read at once (matters for Azure Blob, harmless locally).
const READ_CONCURRENCY: usize = 16;

/// How many snapshot IDs an error about a missing one lists.
const LISTED_IDS: usize = 5;

/// A snapshot of the organisation's store, read whole and verified.
pub struct OrgSnapshot {
    /// The organisation's store, as named (`--backup-store`).
    pub store_url: String,
    pub manifest: Manifest,
    /// Every object, by resource ID as the manifest spells it.
    pub objects: BTreeMap<String, (ResourceKind, Value)>,
    /// Newer snapshots passed over because they do not verify (the default choice only): one
    /// line each, naming the snapshot and its first problem.
    pub passed_over: Vec<String>,
    /// Whether the store encrypts.
    pub encrypted: bool,
    /// What seeding the simulator from it decided that the snapshot could not tell.
    pub seeding_notes: Vec<String>,
    /// The files of the snapshot as stored, by path in the store.
    files: Vec<(StorePath, Bytes)>,
    keys: KeysFn,
}

impl std::fmt::Debug for OrgSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgSnapshot")
            .field("store_url", &self.store_url)
            .field("id", &self.manifest.id)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl OrgSnapshot {
    pub fn id(&self) -> &str {
        &self.manifest.id
    }
    pub fn taken_at(&self) -> OffsetDateTime {
        self.manifest.time
    }
    /// [`OrgSnapshot::taken_at`], RFC 3339.
    pub fn taken_at_text(&self) -> String {
        rfc3339(self.manifest.time)
    }
}

/// A problem of the organisation's store, as bad input of the drill (exit 2): the store is not
/// fit to drill from. Storage failures (the store cannot be reached) keep their exit code.
fn unfit(store: &Store, e: BackupError) -> UserError {
    match e {
        BackupError::Integrity { message } => UserError::usage(format!(
            "backup store `{}` fails verification: {message}",
            store.url()
        ))
        .with_hint(
            "`lifeboat backup verify --read-data` lists every problem; drill an older snapshot by \
             ID (`lifeboat backup list`), or take a fresh one with `lifeboat backup create`",
        ),
        other => other.into(),
    }
}

/// The newest few snapshot IDs of the store, newest first, for an error message.
async fn newest_ids(store: &Store) -> String {
    match list_snapshots(store).await {
        Ok(all) if all.is_empty() => "the store holds no snapshot".into(),
        Ok(all) => {
            let ids: Vec<String> = all
                .iter()
                .rev()
                .take(LISTED_IDS)
                .map(|s| format!("{} ({})", s.id, rfc3339(s.time)))
                .collect();
            let more = all.len().saturating_sub(LISTED_IDS);
            let mut text = format!("the newest: {}", ids.join(", "));
            if more > 0 {
                text.push_str(&format!(", and {more} older"));
            }
            text
        }
        Err(e) => format!("the snapshots cannot be listed: {e}"),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Chooses and reads the snapshot: `choice` `None` is the newest verified snapshot, `latest`
/// the newest, anything else an ID or unique ID prefix. Reads only.
pub async fn load(
    store: &Store,
    choice: Option<&str>,
    keys: KeysFn,
) -> Result<OrgSnapshot, UserError> {
    let config = store.config().await.map_err(|e| unfit(store, e))?.clone();
    store.check_readable(&config).map_err(|e| unfit(store, e))?;
    let mut passed_over = Vec::new();
    let info: SnapshotInfo = match choice {
        None => {
            let newest = crate::backup::health::newest_verified(store, true)
                .await
                .map_err(|e| unfit(store, e))?;
            let all = list_snapshots(store).await.map_err(|e| unfit(store, e))?;
            let Some(m) = newest else {
                let Some(last) = all.last() else {
                    return Err(UserError::usage(format!(
                        "backup store `{}` holds no snapshot",
                        store.url()
                    ))
                    .with_hint("run `lifeboat backup create` first, or check --backup-store"));
                };
                // None verifies: the newest one's own problem says which object.
                let why = match read_whole(store, last).await {
                    Err(BackupError::Integrity { message }) => message,
                    Err(e) => return Err(unfit(store, e)),
                    Ok(_) => "it did not verify when the store was scanned".into(),
                };
                return Err(unfit(
                    store,
                    BackupError::integrity(format!(
                        "none of its {} snapshots verifies; the newest, {} ({}): {why}",
                        all.len(),
                        last.id,
                        rfc3339(last.time)
                    )),
                ));
            };
            for newer in all.iter().rev().take_while(|s| s.id != m.id) {
                let why = match read_whole(store, newer).await {
                    Err(BackupError::Integrity { message }) => message,
                    Err(e) => return Err(unfit(store, e)),
                    Ok(_) => "it did not verify when the store was scanned".into(),
                };
                passed_over.push(format!(
                    "snapshot {} ({}) passed over, it does not verify: {why}",
                    newer.id,
                    rfc3339(newer.time)
                ));
            }
            all.into_iter().find(|s| s.id == m.id).ok_or_else(|| {
                UserError::failed(format!("snapshot {} vanished from the listing", m.id))
            })?
        }
        Some(id) => match find_snapshot(store, id).await {
            Ok(info) => info,
            Err(BackupError::Usage { message, hint }) => {
                let listed = newest_ids(store).await;
                return Err(UserError::usage(format!("{message}; {listed}")).with_hint(
                    hint.unwrap_or_else(|| "`lifeboat backup list` shows the snapshots".into()),
                ));
            }
            Err(e) => return Err(unfit(store, e)),
        },
    };
    let (manifest, objects, files) = read_whole(store, &info).await.map_err(|e| match e {
        BackupError::Integrity { message } => unfit(
            store,
            BackupError::integrity(format!(
                "snapshot {} ({}): {message}",
                info.id,
                rfc3339(info.time)
            )),
        ),
        other => unfit(store, other),
    })?;
    Ok(OrgSnapshot {
        store_url: store.url().to_string(),
        manifest,
        objects,
        passed_over,
        encrypted: config.encrypted(),
        seeding_notes: Vec::new(),
        files,
        keys,
    })
}

type Whole = (Manifest, BTreeMap<String, (ResourceKind, Value)>, Vec<(StorePath, Bytes)>);

/// One snapshot, read whole: its manifest (authenticated), every object re-hashed, and the files
/// a byte-for-byte copy needs. An integrity problem names the object and the resource it holds
/// (the caller names the snapshot).
async fn read_whole(store: &Store, info: &SnapshotInfo) -> Result<Whole, BackupError> {
    let (manifest, authenticity) = open_manifest(store, info).await?;
    warn_unauthenticated(store, &info.id, &authenticity);
    // Each object once, however many resources share it.
    let mut by_hash: HashMap<&str, Vec<&str>> = HashMap::new();
    for (rid, e) in &manifest.resources {
        by_hash.entry(e.hash.as_str()).or_default().push(rid.as_str());
    }
    let by_hash = &by_hash;
    let read: Vec<(String, Bytes, Value)> = futures::stream::iter(by_hash.keys().copied())
        .map(|hash| async move {
            load_object_sealed(store, hash).await.map(|(b, v)| (hash.to_string(), b, v)).map_err(
                |e| match e {
                    BackupError::Integrity { message } => {
                        let rid = by_hash.get(hash).and_then(|r| r.first()).copied().unwrap_or("");
                        BackupError::Integrity { message: format!("{message} (for {rid})") }
                    }
                    other => other,
                },
            )
        })
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    let mut bodies: HashMap<String, Value> = HashMap::with_capacity(read.len());
    let mut files: Vec<(StorePath, Bytes)> = Vec::with_capacity(read.len() + 3);
    for (hash, bytes, body) in read {
        files.push((crate::backup::store::object_path(&hash)?, bytes));
        bodies.insert(hash, body);
    }
    let mut objects = BTreeMap::new();
    for (rid, e) in &manifest.resources {
        if let Some(body) = bodies.get(&e.hash) {
            objects.insert(rid.clone(), (e.kind, body.clone()));
        }
    }
    for (path, required) in [
        (StorePath::from(CONFIG_PATH), true),
        (info.path.clone(), true),
        (auth::signature_path(&info.path), false),
    ] {
        match store.get(&path).await? {
            Some(bytes) => files.push((path, bytes)),
            None if required => {
                return Err(BackupError::integrity(format!("`{path}` vanished while it was read")))
            }
            None => {}
        }
    }
    Ok((manifest, objects, files))
}

/// How many threads write the drill's copy (creating thousands of small files is the cost).
const COPY_THREADS: usize = 4;

/// Writes the snapshot's files, exactly as read, into a new local store at `dir`, and opens it
/// with the organisation's reading keys: the store the drill's runbook restores from.
pub async fn copy_into(snapshot: &OrgSnapshot, dir: &Path) -> Result<Store, UserError> {
    let fail = |file: &Path, e: std::io::Error| {
        UserError::failed(format!("cannot copy the snapshot into {}", file.display()))
            .with_source(e)
    };
    let parents: std::collections::BTreeSet<std::path::PathBuf> = snapshot
        .files
        .iter()
        .filter_map(|(path, _)| dir.join(path.as_ref()).parent().map(Path::to_path_buf))
        .collect();
    for p in &parents {
        std::fs::create_dir_all(p).map_err(|e| fail(p, e))?;
    }
    let chunk = snapshot.files.len().div_ceil(COPY_THREADS).max(1);
    std::thread::scope(|scope| {
        let writers: Vec<_> = snapshot
            .files
            .chunks(chunk)
            .map(|files| {
                scope.spawn(move || -> Result<(), UserError> {
                    for (path, bytes) in files {
                        let file = dir.join(path.as_ref());
                        std::fs::write(&file, bytes).map_err(|e| fail(&file, e))?;
                    }
                    Ok(())
                })
            })
            .collect();
        writers.into_iter().try_for_each(|w| {
            w.join().unwrap_or_else(|_| Err(UserError::failed("a copying thread panicked")))
        })
    })?;
    let store = Store::open(&dir.to_string_lossy(), (snapshot.keys)()?)?;
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_problems_are_bad_input_and_storage_keeps_its_code() {
        let store =
            Store::open(&tempfile::tempdir().unwrap().path().to_string_lossy(), Keys::default())
                .unwrap();
        let e = unfit(&store, BackupError::integrity("object abc is missing"));
        assert_eq!(e.exit, crate::error::Exit::Usage);
        assert!(e.message.contains("fails verification: object abc is missing"), "{}", e.message);
        let e = unfit(&store, BackupError::internal("boom"));
        assert_eq!(e.exit, crate::error::Exit::Failed);
    }
}
