//! Snapshots: [`create`] writes the objects a store lacks, then one manifest, last. A run that
//! fails before the manifest leaves only content-addressed objects, which the next run reuses and
//! nothing mistakes for a snapshot.

use super::canonical::{content_hash, scrub_secrets, to_canonical_bytes};
use super::ops::{detect_anomalies, Anomaly, AnomalyRules};
use super::store::{hash_of_object_path, object_path, PutOutcome, Store};
use super::{BackupError, Captured, ResourceKind};
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::OffsetDateTime;

/// How many object writes are in flight at once (matters for Azure Blob, harmless locally).
const WRITE_CONCURRENCY: usize = 16;

/// What a snapshot covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Subscriptions searched; empty = every subscription the credential sees.
    pub subscriptions: Vec<String>,
    /// Connector resource IDs or names kept; empty = every DevOps connector found.
    pub connectors: Vec<String>,
}

/// One resource of a snapshot: its content address, plus the few facts anomaly detection and
/// `show` need, so neither has to read objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: ResourceKind,
    pub hash: String,
    /// `properties.actionableRemediation.state` (Azure DevOps org/project/repo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
    /// `properties.onboardingState`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboarding: Option<String>,
    /// `properties.autoDiscovery` (DevOps configuration) or `properties.environmentName` (connector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
}

/// The manifest of one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub lifeboat_version: String,
    /// Resource kind → the ARM api-version it was read with.
    pub api_versions: BTreeMap<ResourceKind, String>,
    pub scope: Scope,
    pub counts: BTreeMap<ResourceKind, u64>,
    /// The previous snapshot of the same scope, if any (what anomalies were checked against).
    pub parent: Option<String>,
    /// Resource ID → entry.
    pub resources: BTreeMap<String, Entry>,
    /// Every DevOps connector captured: the OAuth authorization code is never returned by ARM
    /// and never stored, so recovering any of them needs a person to authorize again.
    pub needs_reauthorization: Vec<String>,
    /// Resources in which a secret (`properties.authorization`) was found and removed.
    pub secrets_removed: Vec<String>,
    pub anomalies: Vec<Anomaly>,
    /// Stored size of all the objects this snapshot references.
    pub total_bytes: u64,
    /// Stored size of the objects this run wrote.
    pub new_bytes: u64,
    pub new_objects: u64,
    /// True when anomaly detection could not run (encrypted store, no identity to read the parent).
    #[serde(default)]
    pub anomaly_check_skipped: bool,
}

impl Manifest {
    /// The manifest's path: time first so a listing is chronological without reading anything.
    pub fn path(&self) -> Path {
        Path::from(format!("snapshots/{}-{}.json", file_time(self.time), self.id))
    }
}

/// A snapshot as seen in a listing, before its manifest is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: String,
    /// From the file name, UTC, second precision.
    pub time: OffsetDateTime,
    pub path: Path,
    pub size: u64,
}

/// Options of [`create`].
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub scope: Scope,
    pub now: OffsetDateTime,
    pub rules: AnomalyRules,
    /// Recorded in a new store's config; ignored for an existing store.
    pub immutable: bool,
}

/// What [`create`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotSummary {
    pub id: String,
    pub path: String,
    pub resources: u64,
    pub new_objects: u64,
    pub new_bytes: u64,
    pub total_bytes: u64,
    pub parent: Option<String>,
    pub anomalies: Vec<Anomaly>,
    pub anomaly_check_skipped: bool,
    pub needs_reauthorization: Vec<String>,
    pub secrets_removed: Vec<String>,
}

fn file_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn parse_snapshot_path(path: &Path, size: u64) -> Option<SnapshotInfo> {
    let name = path.as_ref().strip_prefix("snapshots/")?.strip_suffix(".json")?;
    let (stamp, id) = name.split_once('-')?;
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let time = time::PrimitiveDateTime::parse(stamp, &fmt).ok()?.assume_utc();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(SnapshotInfo { id: id.to_string(), time, path: path.clone(), size })
}

/// The snapshots in a store, oldest first. Files under `snapshots/` that are not manifests
/// (e.g. an editor's backup file) are ignored.
pub async fn list_snapshots(store: &Store) -> Result<Vec<SnapshotInfo>, BackupError> {
    let mut out: Vec<SnapshotInfo> = store
        .list("snapshots")
        .await?
        .into_iter()
        .filter_map(|m| parse_snapshot_path(&m.location, m.size))
        .collect();
    out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// Finds a snapshot by ID or unique ID prefix; `latest` names the newest.
pub async fn find_snapshot(store: &Store, id: &str) -> Result<SnapshotInfo, BackupError> {
    let all = list_snapshots(store).await?;
    if id == "latest" {
        return all.into_iter().next_back().ok_or_else(|| {
            BackupError::usage(
                format!("backup store `{}` holds no snapshot", store.url()),
                "run `lifeboat backup create` first",
            )
        });
    }
    let matches: Vec<SnapshotInfo> = all.into_iter().filter(|s| s.id.starts_with(id)).collect();
    match matches.len() {
        1 => Ok(matches.into_iter().next().expect("one match")),
        0 => Err(BackupError::usage(
            format!("no snapshot `{id}` in backup store `{}`", store.url()),
            "`lifeboat backup list` shows the snapshot IDs",
        )),
        n => Err(BackupError::usage(
            format!("snapshot ID `{id}` is ambiguous: {n} snapshots start with it"),
            "give more characters of the ID",
        )),
    }
}

/// Reads, opens and checks one manifest.
pub async fn load_manifest(store: &Store, info: &SnapshotInfo) -> Result<Manifest, BackupError> {
    let config = store.config().await?;
    let what = format!("snapshot {} (`{}`)", info.id, info.path);
    let bytes = store
        .get(&info.path)
        .await?
        .ok_or_else(|| BackupError::integrity(format!("{what} is missing")))?;
    let content = store.unseal(config, &bytes, &what)?;
    let manifest: Manifest = serde_json::from_slice(&content)
        .map_err(|e| BackupError::integrity(format!("{what} is not a manifest: {e}")))?;
    if manifest.id != info.id || manifest.path() != info.path {
        return Err(BackupError::integrity(format!(
            "{what} holds the manifest of snapshot {} (a file was renamed or replaced)",
            manifest.id
        )));
    }
    Ok(manifest)
}

/// Reads the body stored for `hash`, checking its seal and its content address.
pub async fn load_object(store: &Store, hash: &str) -> Result<Value, BackupError> {
    let config = store.config().await?;
    let what = format!("object {hash}");
    let bytes = store
        .get(&object_path(hash))
        .await?
        .ok_or_else(|| BackupError::integrity(format!("{what} is missing")))?;
    let content = store.unseal(config, &bytes, &what)?;
    let body: Value = serde_json::from_slice(&content)
        .map_err(|e| BackupError::integrity(format!("{what} is not JSON: {e}")))?;
    if to_canonical_bytes(&body) != content {
        return Err(BackupError::integrity(format!("{what} is not in canonical form")));
    }
    let actual = content_hash(&body);
    if actual != hash {
        return Err(BackupError::integrity(format!(
            "{what} holds content whose address is {actual}"
        )));
    }
    Ok(body)
}

fn str_at<'a>(body: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = body;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn entry_for(kind: ResourceKind, hash: String, body: &Value) -> Entry {
    let setting = match kind {
        ResourceKind::DevOpsConfiguration => str_at(body, &["properties", "autoDiscovery"]),
        ResourceKind::Connector => str_at(body, &["properties", "environmentName"]),
        _ => None,
    };
    Entry {
        kind,
        hash,
        annotation: str_at(body, &["properties", "actionableRemediation", "state"])
            .map(String::from),
        onboarding: str_at(body, &["properties", "onboardingState"]).map(String::from),
        setting: setting.map(String::from),
    }
}

/// Takes a snapshot of the resources `source` yields. Objects already in the store are not
/// written again; the manifest is written last, so an error from `source` (or the store) leaves
/// no snapshot behind. Memory grows with the number of resources (the ID → hash map and the
/// index of existing objects), never with their bodies.
pub async fn create<S, E>(
    store: &Store,
    source: S,
    opts: CreateOptions,
) -> Result<SnapshotSummary, BackupError>
where
    S: Stream<Item = Result<Captured, E>>,
    E: std::fmt::Display,
{
    let config = store.init(opts.immutable, opts.now).await?.clone();

    // The index of what the store already holds: one listing instead of one probe per resource.
    let mut existing: HashMap<String, u64> = HashMap::new();
    for meta in store.list("objects").await? {
        if let Some(h) = hash_of_object_path(&meta.location) {
            existing.insert(h, meta.size);
        }
    }

    // The parent: the newest snapshot of the same scope, if it can be read.
    let mut parent: Option<Manifest> = None;
    let mut anomaly_check_skipped = false;
    let snapshots = list_snapshots(store).await?;
    if store.can_read(&config) {
        for info in snapshots.iter().rev() {
            let m = load_manifest(store, info).await?;
            if m.scope == opts.scope {
                parent = Some(m);
                break;
            }
        }
    } else {
        anomaly_check_skipped = !snapshots.is_empty();
    }

    let mut resources: BTreeMap<String, Entry> = BTreeMap::new();
    let mut api_versions: BTreeMap<ResourceKind, String> = BTreeMap::new();
    let mut needs_reauthorization = Vec::new();
    let mut secrets_removed = Vec::new();
    let mut written_now: HashMap<String, u64> = HashMap::new();
    let (mut new_objects, mut new_bytes) = (0u64, 0u64);
    let mut in_flight = FuturesUnordered::new();

    // On any failure, stop reading but let the writes already started finish, so the store is
    // settled (and the next run's index complete) when the error is returned.
    let mut failure: Option<BackupError> = None;
    let mut tally = |r: Result<(PutOutcome, u64), BackupError>,
                     failure: &mut Option<BackupError>| match r {
        Ok((PutOutcome::Created, len)) => {
            new_objects += 1;
            new_bytes += len;
        }
        Ok((PutOutcome::AlreadyExisted, _)) => {}
        Err(e) => {
            failure.get_or_insert(e);
        }
    };
    futures::pin_mut!(source);
    while let Some(item) = source.next().await {
        let mut captured = match item {
            Ok(c) => c,
            Err(e) => {
                failure = Some(BackupError::Source { message: e.to_string() });
                break;
            }
        };
        if scrub_secrets(&mut captured.body) {
            secrets_removed.push(captured.resource_id.clone());
        }
        let hash = content_hash(&captured.body);
        api_versions.entry(captured.kind).or_insert_with(|| captured.api_version.clone());
        if captured.kind == ResourceKind::Connector {
            needs_reauthorization.push(captured.resource_id.clone());
        }
        let entry = entry_for(captured.kind, hash.clone(), &captured.body);
        // Pages can overlap when the tenant changes during a listing: the first copy wins.
        if resources.contains_key(&captured.resource_id) {
            continue;
        }
        resources.insert(captured.resource_id, entry);
        if existing.contains_key(&hash) || written_now.contains_key(&hash) {
            continue;
        }
        let sealed = match store.seal(&config, &to_canonical_bytes(&captured.body)) {
            Ok(s) => s,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        written_now.insert(hash.clone(), sealed.len() as u64);
        let path = object_path(&hash);
        in_flight.push(async move {
            let len = sealed.len() as u64;
            store.put_create(&path, sealed).await.map(|o| (o, len))
        });
        while in_flight.len() >= WRITE_CONCURRENCY {
            if let Some(r) = in_flight.next().await {
                tally(r, &mut failure);
            }
        }
        if failure.is_some() {
            break;
        }
    }
    while let Some(r) = in_flight.next().await {
        tally(r, &mut failure);
    }
    if let Some(e) = failure {
        return Err(e);
    }

    let mut counts: BTreeMap<ResourceKind, u64> = BTreeMap::new();
    let mut referenced: BTreeSet<&str> = BTreeSet::new();
    for e in resources.values() {
        *counts.entry(e.kind).or_default() += 1;
        referenced.insert(&e.hash);
    }
    let total_bytes = referenced
        .iter()
        .map(|h| existing.get(*h).or_else(|| written_now.get(*h)).copied().unwrap_or(0))
        .sum();

    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let mut manifest = Manifest {
        id,
        time: opts.now.to_offset(time::UtcOffset::UTC).replace_nanosecond(0).unwrap_or(opts.now),
        lifeboat_version: env!("CARGO_PKG_VERSION").to_string(),
        api_versions,
        scope: opts.scope.clone(),
        counts,
        parent: parent.as_ref().map(|p| p.id.clone()),
        resources,
        needs_reauthorization,
        secrets_removed,
        anomalies: Vec::new(),
        total_bytes,
        new_bytes,
        new_objects,
        anomaly_check_skipped,
    };
    if let Some(p) = &parent {
        manifest.anomalies = detect_anomalies(p, &manifest, &opts.rules);
    }
    // Serialized straight from the struct (BTreeMaps keep it deterministic): no JSON tree copy.
    let content = serde_json::to_vec(&manifest)
        .map_err(|e| BackupError::internal(format!("cannot serialize the manifest: {e}")))?;
    let sealed = store.seal(&config, &content)?;
    drop(content);
    let path = manifest.path();
    if store.put_create(&path, sealed).await? == PutOutcome::AlreadyExisted {
        return Err(BackupError::integrity(format!(
            "a manifest already exists at `{path}`; nothing was overwritten (retry the backup)"
        )));
    }
    Ok(SnapshotSummary {
        id: manifest.id,
        path: path.to_string(),
        resources: manifest.resources.len() as u64,
        new_objects,
        new_bytes,
        total_bytes,
        parent: manifest.parent,
        anomalies: manifest.anomalies,
        anomaly_check_skipped,
        needs_reauthorization: manifest.needs_reauthorization,
        secrets_removed: manifest.secrets_removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_paths_parse_back() {
        let t = time::macros::datetime!(2026-11-22 00:31:40 UTC);
        let p = Path::from(format!("snapshots/{}-abc123.json", file_time(t)));
        let info = parse_snapshot_path(&p, 5).unwrap();
        assert_eq!((info.id.as_str(), info.time), ("abc123", t));
        assert!(parse_snapshot_path(&Path::from("snapshots/notes.txt"), 1).is_none());
    }
}
