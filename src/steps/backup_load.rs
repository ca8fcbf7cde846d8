//! `backup.load`: picks the snapshot the recovery restores from, and proves it is usable before
//! anything is created: its manifest must authenticate (signed by the store's declared key or by
//! `LIFEBOAT_BACKUP_VERIFY_KEY` when either exists; otherwise it loads with an "unauthenticated
//! snapshot" warning), and every object of the failed connectors it holds must read back and
//! re-hash to its address (a forged, tampered or damaged backup is refused, never restored).
//! Outputs the snapshot's age at loading time (the RPO) and the connectors with their
//! orgs/owners/groups for the per-connector fan-out. Idempotent: it only reads.
//!
//! Which connectors are restored: every item of `connectors` carries `snapshot_id` (the snapshot
//! it is restored from, or `null`) and `restore` (`false`: recovered without restore, Microsoft's
//! procedure only, the settings only a backup holds reported as not restored). With `snapshot:
//! none` no store is opened and every connector is recovered without restore. Otherwise the
//! snapshot is the newest one (`latest`) or the one named that holds at least one failed
//! connector and whose objects of those connectors all verify; a failed connector it lacks is
//! recovered without restore (named in `not_in_backup`, with an older snapshot that holds it, if
//! any), so one connector missing from the backup never blocks the others. A snapshot holding
//! none of them is refused.

use super::recovery::{self, check_region, ConnectorItem};
use crate::backup::snapshot::{
    find_snapshot, list_snapshots, load_manifest, load_object, open_manifest, warn_unauthenticated,
    Manifest,
};
use crate::backup::{Authenticity, BackupError, ResourceKind, Store};
use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{StepContext, StepKind, StepOutcome};
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

/// The `backup` value that recovers without a backup (Microsoft's procedure, no restore).
pub const NO_BACKUP: &str = "none";

/// Whether a `snapshot`/`snapshot_id` value means "no backup": `none` (any case), empty or null.
pub fn is_no_backup(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty() || s.trim().eq_ignore_ascii_case(NO_BACKUP),
        Some(_) => false,
    }
}

/// Whether a run of `plan` recovers without any backup: it has `backup.load` steps and every one
/// of them is given `snapshot: none` (rendered from the parameters). The restoring steps take
/// their snapshot from `backup.load`, so such a run needs no backup store: `lifeboat run` opens
/// none and asks for no identity.
pub fn plan_without_backup(plan: &crate::runbook::Plan) -> bool {
    let ctx = json!({ "params": plan.params });
    let mut loads = plan.runbook.steps.iter().filter(|s| s.uses == "backup.load").peekable();
    loads.peek().is_some()
        && loads.all(|s| match s.with.get("snapshot") {
            Some(v) => crate::engine::template::render_value(v, &ctx).is_ok_and(
                |r| matches!(&r, Value::String(t) if t.trim().eq_ignore_ascii_case(NO_BACKUP)),
            ),
            None => false,
        })
}

/// The hint of every refusal that leaves the responder without a usable backup.
pub const NO_BACKUP_HINT: &str = "without a usable backup, recover without restoring settings: --set backup=none (Microsoft's procedure only; pull-request annotation settings and the DevOps configuration beyond your answers are reported as not restored, see docs/backups.md)";

/// A fan-out item: the connector, the snapshot it is restored from (`null`: none) and whether
/// it is restored at all.
fn item_json(c: &ConnectorItem, snapshot: Option<&str>) -> Value {
    let mut v = json!(c);
    if let Some(m) = v.as_object_mut() {
        m.insert("snapshot_id".into(), json!(snapshot));
        m.insert("restore".into(), json!(snapshot.is_some()));
    }
    v
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
    let not_in_backup = |cs: &[&ConnectorItem], older: &[(String, Option<String>)]| -> Value {
        json!(cs
            .iter()
            .map(|c| {
                let older = older
                    .iter()
                    .find(|(id, _)| id.eq_ignore_ascii_case(&c.resource_id))
                    .and_then(|(_, s)| s.clone());
                json!({"name": c.name, "resource_id": c.resource_id, "older_snapshot": older})
            })
            .collect::<Vec<_>>())
    };
    if wanted.trim().eq_ignore_ascii_case(NO_BACKUP) {
        // Microsoft's procedure without restore: no store is opened.
        let items: Vec<Value> = connectors.iter().map(|c| item_json(c, None)).collect();
        let all: Vec<&ConnectorItem> = connectors.iter().collect();
        if ctx.run_id != crate::engine::rehearse::RUN_ID {
            tracing::warn!(
                connectors = connectors.len(),
                "backup=none: the connectors are recovered without restore; the settings only a backup holds are reported as not restored"
            );
        }
        ctx.progress(
            connectors.len() as u64,
            connectors.len() as u64,
            format!(
                "no backup (backup=none): {} connector(s) recovered without restore; not restored: pull-request annotation settings, the DevOps configuration beyond your answers",
                connectors.len()
            ),
        );
        let warning = format!(
            "no backup (backup=none): {} recovered without restore; pull-request annotation settings and the DevOps configuration beyond your answers are not restored",
            connectors.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        );
        return Ok(recovery::outputs(vec![
            (crate::catalog::WARNINGS_OUTPUT, json!([warning])),
            ("backup", json!(NO_BACKUP)),
            ("snapshot_id", Value::Null),
            ("taken_at", Value::Null),
            ("age_seconds", Value::Null),
            ("failed_region", json!(failed)),
            ("target_region", json!(target)),
            ("not_in_backup", not_in_backup(&all, &[])),
            ("connectors", json!(items)),
        ]));
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
                format!("backup store `{}` holds no snapshot (take one with `lifeboat backup create` while the region is up; {NO_BACKUP_HINT})", store.url()),
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
    // For each failed connector, the newest candidate holding it (named when the chosen
    // snapshot lacks it, so the responder knows where an older copy is).
    let holder: Vec<(String, Option<String>)> = connectors
        .iter()
        .map(|c| {
            let m = candidates.iter().find(|(m, _)| has_connector(m, c)).map(|(m, _)| m.id.clone());
            (c.resource_id.clone(), m)
        })
        .collect();
    let mut chosen = None;
    for (m, authenticity) in candidates {
        let held: Vec<&ConnectorItem> =
            connectors.iter().filter(|c| has_connector(&m, c)).collect();
        if held.is_empty() {
            let all: Vec<&ConnectorItem> = connectors.iter().collect();
            refusals.push(format!("snapshot {} does not contain {}", m.id, names(&all)));
            continue;
        }
        let mut problem = None;
        let mut total = 0u64;
        for (i, c) in held.iter().enumerate() {
            ctx.progress(
                i as u64,
                held.len() as u64,
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
                // The rehearsal before a run (`engine::rehearse`) stays quiet: the run warns.
                if ctx.run_id != crate::engine::rehearse::RUN_ID {
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
                "no usable backup of the failed connectors in `{}`: {} (a snapshot must hold at least one connector to recover and read back unchanged; pick one with --set backup=ID, see `lifeboat backup list`; {NO_BACKUP_HINT})",
                store.url(),
                refusals.join("; ")
            ),
            false,
        ));
    };
    let age = (ctx.now() - m.time).whole_seconds().max(0);
    let lacking: Vec<&ConnectorItem> =
        connectors.iter().filter(|c| !has_connector(&m, c)).collect();
    let older: Vec<(String, Option<String>)> =
        holder.into_iter().map(|(c, s)| (c, s.filter(|s| *s != m.id))).collect();
    if !lacking.is_empty() && ctx.run_id != crate::engine::rehearse::RUN_ID {
        tracing::warn!(
            snapshot = %m.id,
            "snapshot {} does not hold {}: recovered without restore (reported as not restored: no backup)",
            m.id,
            names(&lacking)
        );
    }
    let items: Vec<Value> = connectors
        .iter()
        .map(|c| {
            if has_connector(&m, c) {
                item_json(&with_inventory(&m, c), Some(&m.id))
            } else {
                item_json(c, None)
            }
        })
        .collect();
    let lacking_note = if lacking.is_empty() {
        String::new()
    } else {
        format!(
            "; not in it, recovered without restore: {}",
            lacking.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        )
    };
    ctx.progress(
        connectors.len() as u64,
        connectors.len() as u64,
        format!(
            "snapshot {} verified ({} old, {}){lacking_note}",
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
    let warnings: Vec<String> = lacking
        .iter()
        .map(|c| {
            let older = older
                .iter()
                .find(|(id, _)| id.eq_ignore_ascii_case(&c.resource_id))
                .and_then(|(_, s)| s.clone());
            let hint = match older {
                Some(o) => format!(
                    "; older snapshot {o} holds it: to restore from that one, recover it in a run of its own with --set connectors={} --set backup={o}",
                    c.name
                ),
                None => String::new(),
            };
            format!(
                "snapshot {} does not hold {}: recovered without restore (not restored: no backup){hint}",
                m.id, c.name
            )
        })
        .collect();
    Ok(recovery::outputs(vec![
        (crate::catalog::WARNINGS_OUTPUT, json!(warnings)),
        ("backup", json!("snapshot")),
        ("snapshot_id", json!(m.id)),
        ("taken_at", json!(taken_at)),
        ("age_seconds", json!(age)),
        ("failed_region", json!(failed)),
        ("target_region", json!(target)),
        ("not_in_backup", not_in_backup(&lacking, &older)),
        ("connectors", json!(items)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(extra: &[(&str, &str)]) -> crate::runbook::Plan {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/runbooks/region-outage.yaml"
        ))
        .unwrap();
        let mut set = vec![
            ("failed_region".to_string(), "westeurope".to_string()),
            ("target_region".to_string(), "northeurope".to_string()),
        ];
        set.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        crate::runbook::load_str(std::path::Path::new("region-outage.yaml"), &text, &set).unwrap()
    }

    #[test]
    fn only_backup_none_makes_a_run_without_backup_store() {
        assert!(!plan_without_backup(&plan(&[])));
        assert!(!plan_without_backup(&plan(&[("backup", "20260301")])));
        assert!(plan_without_backup(&plan(&[("backup", "none")])));
        assert!(plan_without_backup(&plan(&[("backup", "NONE")])));
        // A plan without backup.load steps is not a recovery without backup.
        let text = "apiVersion: lifeboat/v1\nmetadata: {name: x}\nsteps:\n  - id: a\n    uses: gate.approval\n";
        let p = crate::runbook::load_str(std::path::Path::new("x.yaml"), text, &[]).unwrap();
        assert!(!plan_without_backup(&p));
    }

    #[test]
    fn no_backup_values() {
        assert!(is_no_backup(None));
        assert!(is_no_backup(Some(&Value::Null)));
        assert!(is_no_backup(Some(&json!(" None "))));
        assert!(is_no_backup(Some(&json!(""))));
        assert!(!is_no_backup(Some(&json!("20260301-abc"))));
        assert!(!is_no_backup(Some(&json!("latest"))));
    }

    #[test]
    fn items_say_whether_they_are_restored() {
        let c = ConnectorItem { name: "ado-weu".into(), ..Default::default() };
        let v = item_json(&c, None);
        assert!(v["snapshot_id"].is_null() && v["restore"] == false, "{v}");
        let v = item_json(&c, Some("s1"));
        assert_eq!((v["snapshot_id"].clone(), v["restore"].clone()), (json!("s1"), json!(true)));
        // The fan-out item still reads back as the connector.
        let back: ConnectorItem = serde_json::from_value(v).unwrap();
        assert_eq!(back, ConnectorItem { restore: Some(true), ..c });
    }
}
