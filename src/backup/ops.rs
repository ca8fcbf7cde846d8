//! Reading a store: anomaly detection between consecutive snapshots, `verify`, `diff`, `prune`
//! and the tree `show` prints.

use super::auth::{manifest_of_signature, signature_path};
use super::canonical::VOLATILE_FIELDS;
use super::lease::{Lease, LeaseKind};
use super::snapshot::{
    list_snapshots, load_manifest, load_object, open_manifest, read_copy, Manifest, SnapshotInfo,
};
use super::store::{parse_object_path, Store};
use super::{BackupError, ResourceKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::OffsetDateTime;

/// Thresholds of the anomaly rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnomalyRules {
    /// Share (0..1) of repos with annotations Enabled in the parent that are Disabled or None now.
    pub annotation_drop: f64,
    /// Share (0..1) of onboarded resources of the parent that are no longer onboarded (or gone).
    pub onboarded_drop: f64,
}

impl Default for AnomalyRules {
    fn default() -> Self {
        AnomalyRules { annotation_drop: 0.2, onboarded_drop: 0.2 }
    }
}

/// A suspicious change between two consecutive snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Anomaly {
    /// A connector of the older snapshot is absent from the newer one.
    ConnectorDisappeared { connector: String },
    /// Too many repos whose pull-request annotations were Enabled are now Disabled or None.
    AnnotationsDisabled { before_enabled: u64, now_off: u64, share: f64, threshold: f64 },
    /// Too many onboarded resources are gone or no longer onboarded.
    OnboardedDrop { before: u64, after: u64, share: f64, threshold: f64 },
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Anomaly::ConnectorDisappeared { connector } => {
                write!(f, "connector disappeared: {connector}")
            }
            Anomaly::AnnotationsDisabled { before_enabled, now_off, share, threshold } => write!(
                f,
                "pull-request annotations turned off on {now_off} of {before_enabled} repos that had them enabled ({:.0}% > {:.0}%)",
                share * 100.0,
                threshold * 100.0
            ),
            Anomaly::OnboardedDrop { before, after, share, threshold } => write!(
                f,
                "onboarded resources dropped from {before} to {after} ({:.0}% > {:.0}%)",
                share * 100.0,
                threshold * 100.0
            ),
        }
    }
}

/// Compares `new` with the snapshot before it. Resource IDs compare case-insensitively, as ARM's do.
pub fn detect_anomalies(old: &Manifest, new: &Manifest, rules: &AnomalyRules) -> Vec<Anomaly> {
    let new_by_id: HashMap<String, &super::Entry> =
        new.resources.iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    let mut out = Vec::new();
    for (id, e) in &old.resources {
        if e.kind == ResourceKind::Connector && !new_by_id.contains_key(&id.to_ascii_lowercase()) {
            out.push(Anomaly::ConnectorDisappeared { connector: id.clone() });
        }
    }
    let (mut before_enabled, mut now_off) = (0u64, 0u64);
    for (id, e) in &old.resources {
        if e.kind.is_repo() && e.annotation.as_deref() == Some("Enabled") {
            before_enabled += 1;
            if let Some(n) = new_by_id.get(&id.to_ascii_lowercase()) {
                if matches!(n.annotation.as_deref(), Some("Disabled") | Some("None") | None) {
                    now_off += 1;
                }
            }
        }
    }
    if before_enabled > 0 {
        let share = now_off as f64 / before_enabled as f64;
        if share > rules.annotation_drop {
            out.push(Anomaly::AnnotationsDisabled {
                before_enabled,
                now_off,
                share,
                threshold: rules.annotation_drop,
            });
        }
    }
    let onboarded = |m: &Manifest| {
        m.resources.values().filter(|e| e.onboarding.as_deref() == Some("Onboarded")).count() as u64
    };
    let (before, after) = (onboarded(old), onboarded(new));
    if before > 0 && after < before {
        let share = (before - after) as f64 / before as f64;
        if share > rules.onboarded_drop {
            out.push(Anomaly::OnboardedDrop {
                before,
                after,
                share,
                threshold: rules.onboarded_drop,
            });
        }
    }
    out
}

/// One problem `verify` found, naming what is damaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `config`, `snapshot <id>` or `object <hash>`.
    pub location: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub snapshots_checked: u64,
    pub objects_referenced: u64,
    pub objects_read: u64,
    pub problems: Vec<Problem>,
    /// Damaged copies of objects that also have a good copy (a later backup repaired them):
    /// reported, not problems; nothing reads them any more.
    pub repaired: Vec<Problem>,
    /// Snapshots whose signature verified with the key the store declares or the reader pinned.
    pub authenticated: u64,
    /// Snapshots nothing authenticates: unsigned, or signed by a key nobody declares.
    pub unauthenticated: Vec<String>,
}

/// Checks manifests (signature, seal, name, content addresses) and that every object they
/// reference exists; with `read_data`, also reads, decrypts and re-hashes every copy of every
/// object in the store (`restic check --read-data`). `id` limits the check to one snapshot
/// (and, with `read_data`, to the objects it references). A snapshot that must be signed and
/// is not, or whose signature does not verify, is a problem.
pub async fn verify(
    store: &Store,
    id: Option<&str>,
    read_data: bool,
) -> Result<VerifyReport, BackupError> {
    let config = store.config().await?;
    store.check_readable(config)?;
    let mut report = VerifyReport::default();
    let infos: Vec<SnapshotInfo> = match id {
        Some(id) => vec![super::snapshot::find_snapshot(store, id).await?],
        None => list_snapshots(store).await?,
    };
    // Content address → its copies (copy number), from one listing.
    let mut present: HashMap<String, Vec<u32>> = HashMap::new();
    for meta in store.list("objects").await? {
        match parse_object_path(&meta.location) {
            Some((h, copy)) => present.entry(h).or_default().push(copy),
            None => report.problems.push(Problem {
                location: meta.location.to_string(),
                message: "a file that is not an object sits among the objects".into(),
            }),
        }
    }
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    for info in &infos {
        report.snapshots_checked += 1;
        match open_manifest(store, info).await {
            Ok((m, authenticity)) => {
                if authenticity.is_authenticated() {
                    report.authenticated += 1;
                } else {
                    report.unauthenticated.push(m.id.clone());
                }
                for (rid, e) in &m.resources {
                    if !present.contains_key(&e.hash) {
                        report.problems.push(Problem {
                            location: format!("object {}", e.hash),
                            message: format!("missing; referenced by snapshot {} for {rid}", m.id),
                        });
                    }
                    referenced.insert(e.hash.clone());
                }
            }
            // A wrong identity or key is the reader's problem, not the store's: stop with it.
            Err(e @ BackupError::Usage { .. }) => return Err(e),
            Err(e) => report.problems.push(Problem {
                location: format!("snapshot {}", info.id),
                message: e.to_string(),
            }),
        }
    }
    report.objects_referenced = referenced.len() as u64;
    if read_data {
        let to_read: Vec<String> = if id.is_some() {
            referenced.iter().filter(|h| present.contains_key(*h)).cloned().collect()
        } else {
            let mut all: Vec<String> = present.keys().cloned().collect();
            all.sort();
            all
        };
        for hash in to_read {
            report.objects_read += 1;
            let mut copies = present.get(&hash).cloned().unwrap_or_default();
            copies.sort_unstable();
            let (mut good, mut damaged) = (0u32, Vec::new());
            for copy in copies {
                match read_copy(store, config, &hash, copy).await {
                    Ok(Some(_)) => good += 1,
                    // Gone since the listing.
                    Ok(None) => {}
                    Err(e @ BackupError::Usage { .. }) => return Err(e),
                    Err(e) => damaged.push(Problem {
                        location: format!("object {hash}"),
                        message: e.to_string(),
                    }),
                }
            }
            if good > 0 {
                report.repaired.extend(damaged);
            } else {
                report.problems.extend(damaged);
            }
        }
    }
    Ok(report)
}

/// One field that differs between two versions of a resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// JSON path from the resource root, e.g. `$.properties.actionableRemediation.state`.
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceChange {
    pub id: String,
    pub kind: ResourceKind,
    pub fields: Vec<FieldChange>,
}

/// The difference between two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub added: Vec<(String, ResourceKind)>,
    pub removed: Vec<(String, ResourceKind)>,
    pub changed: Vec<ResourceChange>,
    pub anomalies: Vec<Anomaly>,
}

/// Added, removed and changed resources from snapshot `a` to `b`, with field-level changes
/// (volatile fields left out) and the anomalies of the change.
pub async fn diff(
    store: &Store,
    a: &str,
    b: &str,
    rules: &AnomalyRules,
) -> Result<Diff, BackupError> {
    let config = store.config().await?;
    store.check_readable(config)?;
    let ma = load_manifest(store, &super::snapshot::find_snapshot(store, a).await?).await?;
    let mb = load_manifest(store, &super::snapshot::find_snapshot(store, b).await?).await?;
    let la: BTreeMap<String, (&String, &super::Entry)> =
        ma.resources.iter().map(|(k, v)| (k.to_ascii_lowercase(), (k, v))).collect();
    let lb: BTreeMap<String, (&String, &super::Entry)> =
        mb.resources.iter().map(|(k, v)| (k.to_ascii_lowercase(), (k, v))).collect();
    let mut out = Diff {
        from: ma.id.clone(),
        to: mb.id.clone(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        anomalies: detect_anomalies(&ma, &mb, rules),
    };
    for (k, (id, e)) in &lb {
        if !la.contains_key(k) {
            out.added.push(((*id).clone(), e.kind));
        }
    }
    for (k, (id, ea)) in &la {
        match lb.get(k) {
            None => out.removed.push(((*id).clone(), ea.kind)),
            Some((_, eb)) if eb.hash != ea.hash => {
                let mut before = load_object(store, &ea.hash).await?;
                let mut after = load_object(store, &eb.hash).await?;
                strip_volatile(&mut before);
                strip_volatile(&mut after);
                let mut fields = Vec::new();
                field_diff("$", Some(&before), Some(&after), &mut fields);
                out.changed.push(ResourceChange { id: (*id).clone(), kind: eb.kind, fields });
            }
            Some(_) => {}
        }
    }
    Ok(out)
}

fn strip_volatile(v: &mut Value) {
    for path in VOLATILE_FIELDS {
        let (last, parents) = path.split_last().expect("non-empty path");
        let mut cur = Some(&mut *v);
        for p in parents {
            cur = cur.and_then(|c| c.get_mut(*p));
        }
        if let Some(Value::Object(m)) = cur {
            m.remove(*last);
        }
    }
}

fn field_diff(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (a, b) {
        (Some(Value::Object(ma)), Some(Value::Object(mb))) => {
            let keys: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
            for k in keys {
                field_diff(&format!("{path}.{k}"), ma.get(k), mb.get(k), out);
            }
        }
        (Some(Value::Array(xa)), Some(Value::Array(xb))) if xa.len() == xb.len() => {
            for (i, (x, y)) in xa.iter().zip(xb).enumerate() {
                field_diff(&format!("{path}[{i}]"), Some(x), Some(y), out);
            }
        }
        (x, y) if x != y => {
            out.push(FieldChange { path: path.to_string(), before: x.cloned(), after: y.cloned() })
        }
        _ => {}
    }
}

/// Maps a snapshot time to its day, week or month.
type Bucket = fn(OffsetDateTime) -> (i32, u32);

/// Which snapshots `prune` keeps (restic's `forget` policy): the newest `last`, and the newest
/// snapshot of each of the newest `daily` days, `weekly` ISO weeks and `monthly` months (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunePolicy {
    pub last: usize,
    pub daily: usize,
    pub weekly: usize,
    pub monthly: usize,
}

impl PrunePolicy {
    pub fn is_empty(&self) -> bool {
        self.last == 0 && self.daily == 0 && self.weekly == 0 && self.monthly == 0
    }

    /// The IDs kept among `snapshots` (any order).
    pub fn keep(&self, snapshots: &[SnapshotInfo]) -> BTreeSet<String> {
        let mut newest_first: Vec<&SnapshotInfo> = snapshots.iter().collect();
        newest_first.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
        let mut keep = BTreeSet::new();
        for s in newest_first.iter().take(self.last) {
            keep.insert(s.id.clone());
        }
        let buckets: [(usize, Bucket); 3] = [
            (self.daily, |t| (t.year(), t.ordinal() as u32)),
            (self.weekly, |t| {
                let (y, w, _) = t.to_iso_week_date();
                (y, w as u32)
            }),
            (self.monthly, |t| (t.year(), u8::from(t.month()) as u32)),
        ];
        for (n, bucket) in buckets {
            let mut seen = BTreeSet::new();
            for s in &newest_first {
                if seen.len() >= n {
                    break;
                }
                if seen.insert(bucket(s.time)) {
                    keep.insert(s.id.clone());
                }
            }
        }
        keep
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub kept: Vec<String>,
    pub removed_snapshots: Vec<String>,
    pub removed_objects: u64,
    pub removed_bytes: u64,
    /// Unreferenced objects younger than the grace period, left for a backup that may be running.
    pub spared_recent_objects: u64,
    pub dry_run: bool,
    /// Expired leases (of processes that died or hung) this prune broke, described.
    pub broken_leases: Vec<String>,
}

/// Unreferenced objects younger than this are left alone (on top of the leases: a crashed
/// `create` may have written objects that its retry will reference).
pub const PRUNE_GRACE: time::Duration = time::Duration::hours(1);

/// Removes the manifests the policy does not keep (with their signatures), then the objects (all
/// their copies) no kept manifest references. Refuses on an immutable store and on an empty
/// policy (which would remove everything). Holds the store's exclusive lease (unless `dry_run`):
/// refused with [`BackupError::Locked`] while a `create` or another prune runs.
pub async fn prune(
    store: &Store,
    policy: PrunePolicy,
    dry_run: bool,
    now: OffsetDateTime,
) -> Result<PruneReport, BackupError> {
    let config = store.config().await?;
    if config.immutable {
        return Err(BackupError::usage(
            format!(
                "backup store `{}` is configured immutable (WORM); lifeboat never deletes from it",
                store.url()
            ),
            "expire snapshots with the container's retention policy instead",
        ));
    }
    if policy.is_empty() {
        return Err(BackupError::usage(
            "prune needs a policy; without one it would remove every snapshot",
            "pass at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly",
        ));
    }
    store.check_readable(config)?;
    if dry_run {
        return prune_leased(store, policy, None, now).await;
    }
    let mut lease = store.acquire_lease(LeaseKind::Prune).await?;
    let result = prune_leased(store, policy, Some(&mut lease), now).await;
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "the lease of this prune could not be removed; it expires by itself");
    }
    result
}

async fn prune_leased(
    store: &Store,
    policy: PrunePolicy,
    mut lease: Option<&mut Lease<'_>>,
    now: OffsetDateTime,
) -> Result<PruneReport, BackupError> {
    let dry_run = lease.is_none();
    let mut report = PruneReport {
        dry_run,
        broken_leases: lease.as_ref().map(|l| l.broken().to_vec()).unwrap_or_default(),
        ..Default::default()
    };
    let snapshots = list_snapshots(store).await?;
    let keep = policy.keep(&snapshots);
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    // Read every kept manifest before deleting anything: a damaged (or forged) one stops the prune.
    for s in snapshots.iter().filter(|s| keep.contains(&s.id)) {
        let m: Manifest = load_manifest(store, s).await?;
        referenced.extend(m.resources.values().map(|e| e.hash.clone()));
    }
    // Still ours? (A lease broken while this process stalled means a create may be running.)
    if let Some(lease) = lease.as_deref_mut() {
        lease.confirm().await?;
    }
    let old = |last_modified: i64| {
        let modified = OffsetDateTime::from_unix_timestamp(last_modified)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        now - modified >= PRUNE_GRACE
    };
    let mut kept_paths = BTreeSet::new();
    for s in &snapshots {
        if keep.contains(&s.id) {
            report.kept.push(s.id.clone());
            kept_paths.insert(s.path.clone());
        } else {
            report.removed_snapshots.push(s.id.clone());
            if let Some(lease) = lease.as_deref_mut() {
                lease.keep_alive().await?;
                // The manifest first: a crash in between leaves a stray signature, never an
                // unsigned manifest.
                store.delete(&s.path).await?;
                store.delete(&signature_path(&s.path)).await?;
            }
        }
    }
    // Signatures whose manifest is gone (a crashed create, or a prune interrupted above).
    for meta in store.list("snapshots").await? {
        let Some(manifest) = manifest_of_signature(&meta.location) else { continue };
        if kept_paths.contains(&manifest) || !old(meta.last_modified.timestamp()) {
            continue;
        }
        if let Some(lease) = lease.as_deref_mut() {
            if store.get(&manifest).await?.is_none() {
                lease.keep_alive().await?;
                store.delete(&meta.location).await?;
            }
        }
    }
    let mut counted: BTreeSet<String> = BTreeSet::new();
    for meta in store.list("objects").await? {
        let Some((hash, _copy)) = parse_object_path(&meta.location) else { continue };
        if referenced.contains(&hash) {
            continue;
        }
        if !old(meta.last_modified.timestamp()) {
            report.spared_recent_objects += 1;
            continue;
        }
        if counted.insert(hash) {
            report.removed_objects += 1;
        }
        report.removed_bytes += meta.size;
        if let Some(lease) = lease.as_deref_mut() {
            lease.keep_alive().await?;
            store.delete(&meta.location).await?;
        }
    }
    Ok(report)
}

/// One line of the tree `show` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeLine {
    pub depth: usize,
    pub id: String,
    pub name: String,
    pub kind: ResourceKind,
    pub settings: Vec<(String, String)>,
}

/// The resources of a manifest as a tree, parents before children (ARM IDs are hierarchical:
/// connector → devops/default → orgs → projects → repos; owners → repos; groups → projects).
pub fn tree(m: &Manifest) -> Vec<TreeLine> {
    let mut ids: Vec<(&String, &super::Entry)> = m.resources.iter().collect();
    ids.sort_by_key(|(id, _)| id.to_ascii_lowercase());
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (id, e) in ids {
        let lower = id.to_ascii_lowercase();
        while let Some(top) = stack.last() {
            if lower.starts_with(&format!("{top}/")) {
                break;
            }
            stack.pop();
        }
        let mut settings = Vec::new();
        if let Some(s) = &e.setting {
            let key =
                if e.kind == ResourceKind::Connector { "environment" } else { "autoDiscovery" };
            settings.push((key.to_string(), s.clone()));
        }
        if let Some(a) = &e.annotation {
            settings.push(("annotations".into(), a.clone()));
        }
        if let Some(o) = &e.onboarding {
            settings.push(("onboarding".into(), o.clone()));
        }
        let name = match e.kind {
            ResourceKind::DevOpsConfiguration => "devops/default".to_string(),
            _ => id.rsplit('/').next().unwrap_or(id).to_string(),
        };
        out.push(TreeLine { depth: stack.len(), id: id.clone(), name, kind: e.kind, settings });
        stack.push(lower);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn info(id: &str, t: OffsetDateTime) -> SnapshotInfo {
        SnapshotInfo { id: id.into(), time: t, path: object_store::path::Path::from("x"), size: 0 }
    }

    #[test]
    fn prune_policy_keeps_newest_per_bucket() {
        let s = vec![
            info("a", datetime!(2026-01-01 01:00 UTC)),
            info("b", datetime!(2026-01-01 02:00 UTC)),
            info("c", datetime!(2026-01-02 01:00 UTC)),
            info("d", datetime!(2026-02-10 01:00 UTC)),
        ];
        let p = PrunePolicy { last: 1, ..Default::default() };
        assert_eq!(p.keep(&s), ["d".to_string()].into());
        let p = PrunePolicy { daily: 3, ..Default::default() };
        assert_eq!(p.keep(&s), ["b", "c", "d"].map(String::from).into());
        let p = PrunePolicy { monthly: 5, ..Default::default() };
        assert_eq!(p.keep(&s), ["c", "d"].map(String::from).into());
    }

    #[test]
    fn field_diff_gives_json_paths() {
        let a = serde_json::json!({"properties":{"actionableRemediation":{"state":"Enabled"},"x":[1,2]}});
        let b = serde_json::json!({"properties":{"actionableRemediation":{"state":"Disabled"},"x":[1,3]}});
        let mut out = Vec::new();
        field_diff("$", Some(&a), Some(&b), &mut out);
        let paths: Vec<&str> = out.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["$.properties.actionableRemediation.state", "$.properties.x[1]"]);
    }
}
