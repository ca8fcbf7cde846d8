//! Snapshots: [`create`] writes the objects a store lacks, re-checks the ones it reuses, then
//! writes one manifest, last (after its signature, when it signs). A run that fails before the
//! manifest leaves only content-addressed objects, which the next run reuses and nothing
//! mistakes for a snapshot.

use super::auth::{self, signature_path, Authenticity};
use super::canonical::{content_hash, scrub_secrets, to_canonical_bytes};
use super::lease::{Lease, LeaseKind};
use super::ops::{detect_anomalies, Anomaly, AnomalyRules};
use super::store::{
    check_hash, object_copy_path, parse_object_path, PutOutcome, Store, StoreConfig, MAX_COPIES,
};
use super::{BackupError, Captured, ResourceKind};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, Stream, StreamExt};
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
    /// The ARM api-version the object was read with (what restore writes it back with when the
    /// service still serves it). `None` in snapshots taken before lifeboat recorded it: unknown.
    #[serde(default, rename = "apiVersion", skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
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
    /// Whether the store encrypts (so this manifest and its objects are age-encrypted). `None`
    /// in snapshots taken before lifeboat recorded it: the store's config says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
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
    /// Existing objects found damaged (every copy) and written again as a repair copy.
    pub repaired_objects: u64,
    /// Existing objects reused without re-reading them: an encrypted store written without an
    /// identity cannot read what it reuses.
    pub unchecked_objects: u64,
    /// Whether the manifest was signed (`--signing-key`).
    pub signed: bool,
    /// Whether the store encrypts: false means every file of this snapshot is in clear.
    pub encrypted: bool,
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

/// Reads, authenticates, opens and checks one manifest, and says how it was authenticated.
/// Refused (exit 1) when the snapshot must be signed and is not, when a signature does not
/// verify, or when a content address in it is not one.
pub async fn open_manifest(
    store: &Store,
    info: &SnapshotInfo,
) -> Result<(Manifest, Authenticity), BackupError> {
    let config = store.config().await?;
    let what = format!("snapshot {} (`{}`)", info.id, info.path);
    let bytes = store
        .get(&info.path)
        .await?
        .ok_or_else(|| BackupError::integrity(format!("{what} is missing")))?;
    let sig = store.get(&signature_path(&info.path)).await?;
    let authenticity = auth::check(store, config, &info.path, &bytes, sig.as_deref(), &what)?;
    let content = store.unseal(config, &bytes, &what)?;
    let manifest: Manifest = serde_json::from_slice(&content)
        .map_err(|e| BackupError::integrity(format!("{what} is not a manifest: {e}")))?;
    if manifest.id != info.id || manifest.path() != info.path {
        return Err(BackupError::integrity(format!(
            "{what} holds the manifest of snapshot {} (a file was renamed or replaced)",
            manifest.id
        )));
    }
    for (rid, e) in &manifest.resources {
        check_hash(&e.hash, &format!("{what}, resource {rid:?},"))?;
    }
    Ok((manifest, authenticity))
}

/// [`open_manifest`], warning once per store and process when a snapshot is not authenticated.
pub async fn load_manifest(store: &Store, info: &SnapshotInfo) -> Result<Manifest, BackupError> {
    let (manifest, authenticity) = open_manifest(store, info).await?;
    warn_unauthenticated(store, &info.id, &authenticity);
    Ok(manifest)
}

/// The loud warning for a snapshot that nothing authenticates.
pub fn warn_unauthenticated(store: &Store, id: &str, a: &Authenticity) {
    use std::sync::atomic::Ordering;
    if a.is_authenticated() || store.warned_unauthenticated.swap(true, Ordering::Relaxed) {
        return;
    }
    tracing::warn!(
        "unauthenticated snapshot: snapshot {id} of backup store `{}` {}, so anyone able to write to the store could have forged it (sign backups with --signing-key and pin the public key with --verify-key; see docs/backups.md)",
        store.url(),
        match a {
            Authenticity::SignedUntrusted { .. } =>
                "is signed, but by a key neither the store nor the reader declares",
            _ => "is not signed",
        }
    );
}

/// Reads copy `copy` of the object `hash`: `None` when there is no such file; an integrity error
/// when its seal, canonical form or content address does not check.
pub async fn read_copy(
    store: &Store,
    config: &StoreConfig,
    hash: &str,
    copy: u32,
) -> Result<Option<Value>, BackupError> {
    Ok(read_copy_sealed(store, config, hash, copy).await?.map(|(_, body)| body))
}

/// [`read_copy`], with the file's exact bytes as stored (sealed, encrypted in an encrypted
/// store): what a byte-for-byte copy of the object writes.
pub async fn read_copy_sealed(
    store: &Store,
    config: &StoreConfig,
    hash: &str,
    copy: u32,
) -> Result<Option<(bytes::Bytes, Value)>, BackupError> {
    let path = object_copy_path(hash, copy)?;
    let what = match copy {
        0 => format!("object {hash}"),
        _ => format!("object {hash} (repair copy `{path}`)"),
    };
    let Some(bytes) = store.get(&path).await? else { return Ok(None) };
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
    Ok(Some((bytes, body)))
}

/// Reads the body stored for `hash`, checking its seal and its content address: the original
/// copy, or when it is damaged or missing the first repair copy that checks. The hash is
/// validated before any path is built.
pub async fn load_object(store: &Store, hash: &str) -> Result<Value, BackupError> {
    Ok(load_object_sealed(store, hash).await?.1)
}

/// [`load_object`], with the exact bytes of the copy that checked (as stored: sealed, and
/// encrypted in an encrypted store), for a byte-for-byte copy of a snapshot.
pub async fn load_object_sealed(
    store: &Store,
    hash: &str,
) -> Result<(bytes::Bytes, Value), BackupError> {
    check_hash(hash, "an object reference")?;
    let config = store.config().await?;
    let mut first_damage: Option<BackupError> = None;
    let mut damaged = 0u32;
    for copy in 0..MAX_COPIES {
        match read_copy_sealed(store, config, hash, copy).await {
            Ok(Some(found)) => {
                if damaged > 0 {
                    tracing::info!(object = %hash, copy, "read a repair copy of a damaged object");
                }
                return Ok(found);
            }
            // Repairs are numbered from 1 without gaps: past the original, a gap is the end.
            Ok(None) if copy > 0 => break,
            Ok(None) => {}
            Err(e @ BackupError::Integrity { .. }) => {
                damaged += 1;
                first_damage.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(match first_damage {
        None => BackupError::integrity(format!("object {hash} is missing")),
        Some(e) if damaged == 1 => e,
        Some(e) => BackupError::integrity(format!(
            "{e} (and its {} repair copies are damaged too)",
            damaged - 1
        )),
    })
}

fn str_at<'a>(body: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = body;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn entry_for(kind: ResourceKind, hash: String, body: &Value, api_version: &str) -> Entry {
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
        api_version: Some(api_version.to_owned()).filter(|v| !v.is_empty()),
    }
}

/// What became of one object a snapshot references.
enum ObjectOutcome {
    /// Written now (the size written).
    Created(u64),
    /// Another writer created it first.
    AlreadyExisted,
    /// An existing copy re-read and re-hashed to its address (its size).
    Verified(u64),
    /// Every existing copy was damaged (or gone): a fresh copy was written (its size).
    Repaired(u64),
    /// Existing, not re-read: the store cannot be read with the keys given (its listed size).
    Unchecked(u64),
}

/// Re-reads the existing copies (`copies`: copy number and size, from the listing) of the object
/// `hash`; when none checks, writes `content` (its canonical JSON) as a fresh copy at the first
/// free copy number. Storage and key errors are returned, never taken for damage.
async fn ensure_existing(
    store: &Store,
    config: &StoreConfig,
    hash: &str,
    mut copies: Vec<(u32, u64)>,
    content: Vec<u8>,
) -> Result<ObjectOutcome, BackupError> {
    copies.sort_unstable();
    let mut damaged = Vec::new();
    for (copy, size) in &copies {
        match read_copy(store, config, hash, *copy).await {
            Ok(Some(_)) => return Ok(ObjectOutcome::Verified(*size)),
            Ok(None) => {}
            Err(BackupError::Integrity { message }) => {
                tracing::warn!(object = %hash, copy, problem = %message, "damaged object");
                damaged.push(*copy);
            }
            Err(e) => return Err(e),
        }
    }
    let sealed = store.seal(config, &content)?;
    let len = sealed.len() as u64;
    for copy in (0..MAX_COPIES).filter(|c| !damaged.contains(c)) {
        let path = object_copy_path(hash, copy)?;
        match store.put_create(&path, sealed.clone()).await? {
            PutOutcome::Created => return Ok(ObjectOutcome::Repaired(len)),
            // A copy this run did not list (another writer's repair): use it if it checks.
            PutOutcome::AlreadyExisted => {
                if let Ok(Some(_)) = read_copy(store, config, hash, copy).await {
                    return Ok(ObjectOutcome::Verified(len));
                }
            }
        }
    }
    Err(BackupError::integrity(format!(
        "object {hash}: all {MAX_COPIES} copies in the store are damaged; the store is failing (check it with `lifeboat backup verify --read-data`)"
    )))
}

/// Takes a snapshot of the resources `source` yields. Objects already in the store are not
/// written again, but re-read and re-hashed first (when the store can be read) and repaired when
/// damaged; the manifest is written last, so an error from `source` (or the store) leaves no
/// snapshot behind. Holds a `create` lease throughout, so no prune runs meanwhile. Memory grows
/// with the number of resources (the ID → hash map and the index of existing objects), never
/// with their bodies.
pub async fn create<S, E>(
    store: &Store,
    source: S,
    opts: CreateOptions,
) -> Result<SnapshotSummary, BackupError>
where
    S: Stream<Item = Result<Captured, E>>,
    E: Into<BackupError>,
{
    let config = store.init(opts.immutable, opts.now).await?.clone();
    // An immutable store is never pruned, and could not delete a lease object.
    let mut lease = match config.immutable {
        true => None,
        false => Some(store.acquire_lease(LeaseKind::Create).await?),
    };
    let result = create_leased(store, &config, source, opts, lease.as_mut()).await;
    if let Some(lease) = lease {
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "the lease of this backup could not be removed; it expires by itself");
        }
    }
    result
}

async fn create_leased<S, E>(
    store: &Store,
    config: &StoreConfig,
    source: S,
    opts: CreateOptions,
    mut lease: Option<&mut Lease<'_>>,
) -> Result<SnapshotSummary, BackupError>
where
    S: Stream<Item = Result<Captured, E>>,
    E: Into<BackupError>,
{
    // The index of what the store already holds: one listing instead of one probe per resource.
    let mut existing: HashMap<String, Vec<(u32, u64)>> = HashMap::new();
    for meta in store.list("objects").await? {
        if let Some((h, copy)) = parse_object_path(&meta.location) {
            existing.entry(h).or_default().push((copy, meta.size));
        }
    }
    let readable = store.can_read(config);

    // The parent: the newest snapshot of the same scope, if it can be read.
    let mut parent: Option<Manifest> = None;
    let mut anomaly_check_skipped = false;
    let snapshots = list_snapshots(store).await?;
    if readable {
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
    // Stored size of every object referenced so far (written, re-checked or repaired).
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let (mut new_objects, mut new_bytes, mut repaired, mut unchecked) = (0u64, 0u64, 0u64, 0u64);
    let mut in_flight = FuturesUnordered::new();

    // On any failure, stop reading but let the writes already started finish, so the store is
    // settled (and the next run's index complete) when the error is returned.
    let mut failure: Option<BackupError> = None;
    let mut tally = |r: Result<(String, ObjectOutcome), BackupError>,
                     failure: &mut Option<BackupError>| match r {
        Ok((hash, ObjectOutcome::Created(len))) => {
            new_objects += 1;
            new_bytes += len;
            sizes.insert(hash, len);
        }
        Ok((_, ObjectOutcome::AlreadyExisted)) => {}
        Ok((hash, ObjectOutcome::Verified(len))) => {
            sizes.insert(hash, len);
        }
        Ok((hash, ObjectOutcome::Repaired(len))) => {
            repaired += 1;
            new_bytes += len;
            sizes.insert(hash, len);
        }
        Ok((hash, ObjectOutcome::Unchecked(len))) => {
            unchecked += 1;
            sizes.insert(hash, len);
        }
        Err(e) => {
            failure.get_or_insert(e);
        }
    };
    let mut seen: HashSet<String> = HashSet::new();
    futures::pin_mut!(source);
    while let Some(item) = source.next().await {
        let mut captured = match item {
            Ok(c) => c,
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        };
        if let Some(lease) = lease.as_deref_mut() {
            if let Err(e) = lease.keep_alive().await {
                failure = Some(e);
                break;
            }
        }
        if scrub_secrets(&mut captured.body) {
            secrets_removed.push(captured.resource_id.clone());
        }
        let hash = content_hash(&captured.body);
        api_versions.entry(captured.kind).or_insert_with(|| captured.api_version.clone());
        if captured.kind == ResourceKind::Connector {
            needs_reauthorization.push(captured.resource_id.clone());
        }
        let entry = entry_for(captured.kind, hash.clone(), &captured.body, &captured.api_version);
        // Pages can overlap when the tenant changes during a listing: the first copy wins.
        if resources.contains_key(&captured.resource_id) {
            continue;
        }
        resources.insert(captured.resource_id, entry);
        if !seen.insert(hash.clone()) {
            continue;
        }
        let content = to_canonical_bytes(&captured.body);
        match existing.get(&hash) {
            Some(copies) if readable => {
                let copies = copies.clone();
                in_flight.push(
                    async move {
                        let o = ensure_existing(store, config, &hash, copies, content).await?;
                        Ok::<_, BackupError>((hash, o))
                    }
                    .boxed(),
                );
            }
            Some(copies) => {
                // Encrypted, no identity: the object cannot be read, so it is trusted as listed.
                let size = copies.iter().map(|(_, s)| *s).max().unwrap_or(0);
                in_flight.push(
                    async move { Ok::<_, BackupError>((hash, ObjectOutcome::Unchecked(size))) }
                        .boxed(),
                );
            }
            None => {
                let sealed = match store.seal(config, &content) {
                    Ok(s) => s,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                };
                in_flight.push(
                    async move {
                        let path = object_copy_path(&hash, 0)?;
                        let len = sealed.len() as u64;
                        let o = match store.put_create(&path, sealed).await? {
                            PutOutcome::Created => ObjectOutcome::Created(len),
                            PutOutcome::AlreadyExisted => ObjectOutcome::AlreadyExisted,
                        };
                        Ok::<_, BackupError>((hash, o))
                    }
                    .boxed(),
                );
            }
        }
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
    let total_bytes = referenced.iter().map(|h| sizes.get(*h).copied().unwrap_or(0)).sum();

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
        encrypted: Some(config.encrypted()),
    };
    if let Some(p) = &parent {
        manifest.anomalies = detect_anomalies(p, &manifest, &opts.rules);
    }
    // Serialized straight from the struct (BTreeMaps keep it deterministic): no JSON tree copy.
    let content = serde_json::to_vec(&manifest)
        .map_err(|e| BackupError::internal(format!("cannot serialize the manifest: {e}")))?;
    let sealed = store.seal(config, &content)?;
    drop(content);
    let path = manifest.path();
    // The lease must still be ours: if it was broken, a prune may have removed what we reference.
    if let Some(lease) = lease {
        lease.confirm().await?;
    }
    let signed = match &store.keys().signing {
        Some(key) => {
            let sig = auth::sign(key, &config.id, &path, &sealed);
            if store.put_create(&signature_path(&path), sig).await? == PutOutcome::AlreadyExisted {
                return Err(BackupError::integrity(format!(
                    "a signature already exists for `{path}`; nothing was overwritten (retry the backup)"
                )));
            }
            true
        }
        None => false,
    };
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
        repaired_objects: repaired,
        unchecked_objects: unchecked,
        signed,
        encrypted: config.encrypted(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_the_api_version_and_old_ones_without_it_still_load() {
        let body = serde_json::json!({"properties": {"onboardingState": "Onboarded"}});
        let e =
            entry_for(ResourceKind::AzureDevOpsOrg, "ab".repeat(32), &body, "2025-11-01-preview");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["apiVersion"], "2025-11-01-preview");
        assert_eq!(serde_json::from_value::<Entry>(v).unwrap(), e);
        // A manifest entry written before lifeboat recorded versions: unknown, not an error.
        let old: Entry = serde_json::from_value(serde_json::json!({
            "kind": "azure-devops-org", "hash": "ab".repeat(32), "onboarding": "Onboarded"
        }))
        .unwrap();
        assert_eq!(old.api_version, None);
        assert!(serde_json::to_value(&old).unwrap().get("apiVersion").is_none());
        let unknown = entry_for(ResourceKind::Connector, "cd".repeat(32), &body, "");
        assert_eq!(unknown.api_version, None);
    }

    #[test]
    fn snapshot_paths_parse_back() {
        let t = time::macros::datetime!(2026-11-22 00:31:40 UTC);
        let p = Path::from(format!("snapshots/{}-abc123.json", file_time(t)));
        let info = parse_snapshot_path(&p, 5).unwrap();
        assert_eq!((info.id.as_str(), info.time), ("abc123", t));
        assert!(parse_snapshot_path(&Path::from("snapshots/notes.txt"), 1).is_none());
    }
}
