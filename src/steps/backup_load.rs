//! `backup.load`: picks the snapshot the recovery restores from, and proves it is usable before
//! anything is created: it must hold every failed connector, its manifest must authenticate
//! (signed by the store's declared key or by `LIFEBOAT_BACKUP_VERIFY_KEY` when either exists;
//! otherwise it loads with an "unauthenticated snapshot" warning), and every object of those
//! connectors must read back and re-hash to its address (a forged, tampered or damaged backup is
//! refused, never restored). Outputs the snapshot's age at loading time (the RPO) and the
//! connectors with their orgs/owners/groups for the per-connector fan-out. Idempotent: it only
//! reads.

use super::kind::{info, StepContext, StepKind, StepOutcome};
use super::recovery::{self, check_region, ConnectorItem};
use super::StepKindInfo;
use crate::backup::snapshot::{
    find_snapshot, list_snapshots, load_manifest, load_object, open_manifest, warn_unauthenticated,
    Manifest,
};
use crate::backup::{Authenticity, BackupError, ResourceKind, Store};
use futures::future::BoxFuture;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy)]
pub struct Load;

impl StepKind for Load {
    fn info(&self) -> &'static StepKindInfo {
        info("backup.load")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { run(ctx).await.unwrap_or_else(|o| o) })
    }
}

/// Is `id` the connector `connector` or one of its children?
fn under(id: &str, connector: &str) -> bool {
    let (id, c) = (id.to_ascii_lowercase(), connector.to_ascii_lowercase());
    id == c || id.starts_with(&format!("{c}/"))
}

/// Every resource of one connector in a manifest: (resource ID, kind, content address).
pub fn entries_of<'a>(
    manifest: &'a Manifest,
    connector: &str,
) -> Vec<(&'a String, ResourceKind, &'a String)> {
    manifest
        .resources
        .iter()
        .filter(|(id, _)| under(id, connector))
        .map(|(id, e)| (id, e.kind, &e.hash))
        .collect()
}

/// Reads every object of one connector, re-checking seal and address: the backup bodies of the
/// connector and its children, in resource-ID order.
pub async fn connector_objects(
    store: &Store,
    manifest: &Manifest,
    connector: &str,
) -> Result<Vec<(String, ResourceKind, Value)>, BackupError> {
    let mut out = Vec::new();
    for (id, kind, hash) in entries_of(manifest, connector) {
        let body = load_object(store, hash).await.map_err(|e| match e {
            BackupError::Integrity { message } => {
                BackupError::integrity(format!("{message} (object of {id})"))
            }
            other => other,
        })?;
        out.push((id.clone(), kind, body));
    }
    Ok(out)
}

/// The snapshot by ID (unique prefix), or `None` when the store has none with that ID.
pub async fn manifest_by_id(store: &Store, id: &str) -> Result<Manifest, BackupError> {
    let info = find_snapshot(store, id).await?;
    load_manifest(store, &info).await
}

fn has_connector(m: &Manifest, c: &ConnectorItem) -> bool {
    m.resources
        .iter()
        .any(|(id, e)| e.kind == ResourceKind::Connector && id.eq_ignore_ascii_case(&c.resource_id))
}

fn last_segment(id: &str) -> String {
    id.rsplit('/').next().unwrap_or_default().to_string()
}

fn with_inventory(m: &Manifest, c: &ConnectorItem) -> ConnectorItem {
    let mut item = c.clone();
    for (id, kind, _) in entries_of(m, &c.resource_id) {
        let name = last_segment(id);
        match kind {
            ResourceKind::AzureDevOpsOrg => item.orgs.push(name),
            ResourceKind::GitHubOwner => item.owners.push(name),
            // Ownership is per top-level group; subgroups (`group$sub`) follow their group.
            ResourceKind::GitLabGroup if !name.contains('$') => item.groups.push(name),
            _ => {}
        }
    }
    item
}

async fn run(ctx: StepContext) -> Result<StepOutcome, StepOutcome> {
    let failed = check_region("failed_region", &recovery::required(&ctx, "failed_region")?)
        .map_err(|e| StepOutcome::fail(e, false))?;
    let target = check_region("target_region", &recovery::required(&ctx, "target_region")?)
        .map_err(|e| StepOutcome::fail(e, false))?;
    if failed == target {
        return Err(StepOutcome::fail(
            format!("target_region {target} is the failed region (recover into another region, e.g. the failed region's pair)"),
            false,
        ));
    }
    let wanted = ctx.input_str("snapshot").filter(|s| !s.trim().is_empty());
    let wanted = wanted.unwrap_or_else(|| "latest".into());
    let connectors: Vec<ConnectorItem> =
        serde_json::from_value(ctx.inputs.get("connectors").cloned().unwrap_or(Value::Null))
            .map_err(|e| {
                StepOutcome::fail(
                    format!("input `connectors` is not discover's list of connectors ({e})"),
                    false,
                )
            })?;
    if connectors.is_empty() {
        return Err(StepOutcome::fail("input `connectors` is empty: nothing to recover", false));
    }
    let store = recovery::store(&ctx)?;
    let backup_fail = |e: BackupError| {
        let retry = matches!(e, BackupError::Storage { .. });
        StepOutcome::fail(format!("backup store `{}`: {e}", store.url()), retry)
    };
    let names = |cs: &[&ConnectorItem]| {
        cs.iter().map(|c| format!("{} ({})", c.name, c.resource_id)).collect::<Vec<_>>().join(", ")
    };
    let mut refusals = Vec::new();
    // Candidates, newest first: `latest` may fall back to an older snapshot that verifies.
    let candidates: Vec<(Manifest, Authenticity)> = if wanted == "latest" {
        let infos = list_snapshots(&store).await.map_err(backup_fail)?;
        if infos.is_empty() {
            return Err(StepOutcome::fail(
                format!("backup store `{}` holds no snapshot (take one with `lifeboat backup create` while the region is up; without a backup, recover by hand)", store.url()),
                false,
            ));
        }
        let mut ms = Vec::new();
        for info in infos.iter().rev() {
            match open_manifest(&store, info).await {
                Ok(m) => ms.push(m),
                Err(e @ BackupError::Usage { .. }) => return Err(backup_fail(e)),
                Err(e) => {
                    tracing::warn!(snapshot = %info.id, error = %e, "snapshot skipped");
                    refusals.push(format!("snapshot {} refused: {e}", info.id));
                }
            }
        }
        ms
    } else {
        let found = async {
            let info = find_snapshot(&store, &wanted).await?;
            open_manifest(&store, &info).await
        };
        vec![found.await.map_err(|e| {
            StepOutcome::fail(
                format!("backup store `{}`: {e}", store.url()),
                matches!(e, BackupError::Storage { .. }),
            )
        })?]
    };
    let mut chosen = None;
    for (m, authenticity) in candidates {
        let missing: Vec<&ConnectorItem> =
            connectors.iter().filter(|c| !has_connector(&m, c)).collect();
        if !missing.is_empty() {
            refusals.push(format!("snapshot {} does not contain {}", m.id, names(&missing)));
            continue;
        }
        let mut problem = None;
        let mut total = 0u64;
        for (i, c) in connectors.iter().enumerate() {
            ctx.progress(
                i as u64,
                connectors.len() as u64,
                format!("verifying {} in snapshot {}", c.name, m.id),
            );
            match connector_objects(&store, &m, &c.resource_id).await {
                Ok(objs) => total += objs.len() as u64,
                Err(e @ BackupError::Usage { .. }) => return Err(backup_fail(e)),
                Err(e) => {
                    problem = Some(e.to_string());
                    break;
                }
            }
        }
        match problem {
            Some(p) => refusals.push(format!("snapshot {} failed verification: {p}", m.id)),
            None => {
                tracing::info!(snapshot = %m.id, objects = total, "snapshot verified");
                // The rehearsal before a run (`recovery::preflight`) stays quiet: the run warns.
                if ctx.run_id != "preflight" {
                    warn_unauthenticated(&store, &m.id, &authenticity);
                }
                chosen = Some((m, authenticity));
                break;
            }
        }
    }
    let Some((m, authenticity)) = chosen else {
        return Err(StepOutcome::fail(
            format!(
                "no usable backup of the failed connectors in `{}`: {} (a snapshot must hold every connector to recover and read back unchanged; pick one with --set backup=ID, see `lifeboat backup list`)",
                store.url(),
                refusals.join("; ")
            ),
            false,
        ));
    };
    let age = (ctx.now() - m.time).whole_seconds().max(0);
    let items: Vec<ConnectorItem> = connectors.iter().map(|c| with_inventory(&m, c)).collect();
    ctx.progress(
        connectors.len() as u64,
        connectors.len() as u64,
        format!(
            "snapshot {} verified ({} old, {})",
            m.id,
            humantime::format_duration(std::time::Duration::from_secs(age as u64)),
            match &authenticity {
                Authenticity::Authenticated { fingerprint, .. } =>
                    format!("signed by {fingerprint}"),
                _ => "UNAUTHENTICATED: not signed by a trusted key".to_string(),
            }
        ),
    );
    let taken_at =
        m.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    Ok(recovery::outputs(vec![
        ("snapshot_id", json!(m.id)),
        ("taken_at", json!(taken_at)),
        ("age_seconds", json!(age)),
        ("failed_region", json!(failed)),
        ("target_region", json!(target)),
        ("connectors", json!(items)),
    ]))
}
