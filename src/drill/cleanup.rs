//! The live drill's safety net: the [`WriteGuard`] that refuses any write to the production
//! connector or its DevOps resources, and the cleanup [`Ledger`] that makes an interrupted live
//! drill removable by `lifeboat drill --cleanup RUN_ID`.
//!
//! The ledger is `<state-dir>/drills/<run-id>/ledger.jsonl`: one JSON object per line, appended and
//! fsync'd *before* each create (`intent`), so a crash between the request and its answer still
//! leaves a record of what may exist; `removed` lines record what cleanup deleted. Cleanup walks
//! the intents newest first and deletes what is still there; deleting what is already gone
//! counts as done, so cleanup can be repeated until it succeeds. Only what the drill made is
//! deleted: a connector or resource group must carry the tag `lifeboat-run=<run id>` (set only
//! on what a run creates), and a group that holds any other connector is kept (deleting a group
//! deletes everything in it).

use crate::azure::{ArmClient, AzureError, ResourceId};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The file name of the ledger inside a drill's directory.
pub const LEDGER_FILE: &str = "ledger.jsonl";

/// Refuses every write whose target is the production connector or one of its children.
///
/// Every write of the live drill goes through [`WriteGuard::check`] first: the drill's own
/// resources are created next to production (same subscription, often the same resource group),
/// so a wrong name or a template mistake must not be able to reach the production connector.
#[derive(Debug, Clone)]
pub struct WriteGuard {
    production: String,
}

impl WriteGuard {
    pub fn new(production: &ResourceId) -> Self {
        WriteGuard { production: production.connector_id().to_string().to_ascii_lowercase() }
    }

    /// `Err` with the reason when `target` is the production connector or under it (ARM IDs
    /// compare case-insensitively; a trailing `/` or a query changes nothing).
    pub fn check(&self, target: &str) -> Result<(), String> {
        let t = target.split('?').next().unwrap_or("").trim_end_matches('/').to_ascii_lowercase();
        let p = &self.production;
        if t == *p || t.starts_with(&format!("{p}/")) {
            return Err(format!(
                "refused a write to {target}: it is the production connector or one of its resources (a live drill only writes to the resources it created)"
            ));
        }
        Ok(())
    }
}

/// What the live drill may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CreatedKind {
    /// A security connector (deleting it deletes its DevOps children).
    Connector,
    /// The resource group the drill's connector went into (created when absent).
    ResourceGroup,
    /// A support ticket (`--submit-ticket`); tickets cannot be deleted, cleanup closes them.
    SupportTicket,
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum LedgerLine {
    /// The production connector of the drill, first line: cleanup guards against it too.
    Production { id: String },
    /// Written before the create request is sent.
    Intent { kind: CreatedKind, id: String, subscription: Option<String>, name: String },
    /// The resource is gone (deleted, closed, or found absent).
    Removed { id: String },
}

/// The append-only ledger of one live drill.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    /// Opens (creating) the ledger under `drill_dir`.
    pub fn open(drill_dir: &Path) -> std::io::Result<Ledger> {
        std::fs::create_dir_all(drill_dir)?;
        let path = drill_dir.join(LEDGER_FILE);
        if !path.exists() {
            std::fs::File::create(&path)?.sync_all()?;
            // The new directory entry must be durable too.
            let _ = std::fs::File::open(drill_dir).and_then(|d| d.sync_all());
        }
        Ok(Ledger { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and fsyncs it before returning.
    pub fn append(&self, line: &LedgerLine) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        let mut text = serde_json::to_string(line).map_err(std::io::Error::other)?;
        text.push('\n');
        f.write_all(text.as_bytes())?;
        f.sync_all()
    }

    /// Every line, in order. A torn last line (a crash mid-append) is ignored.
    pub fn read(&self) -> std::io::Result<Vec<LedgerLine>> {
        let text = std::fs::read_to_string(&self.path)?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            match serde_json::from_str(l) {
                Ok(x) => out.push(x),
                Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
                Err(e) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}:{}: not a ledger line ({e})", self.path.display(), i + 1),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// The production connector recorded at the drill's start, if any.
    pub fn production(&self) -> std::io::Result<Option<String>> {
        Ok(self.read()?.into_iter().find_map(|l| match l {
            LedgerLine::Production { id } => Some(id),
            _ => None,
        }))
    }

    /// Intents not yet followed by a `removed` line, newest first (children before parents).
    pub fn outstanding(&self) -> std::io::Result<Vec<LedgerLine>> {
        let lines = self.read()?;
        let removed: Vec<String> = lines
            .iter()
            .filter_map(|l| match l {
                LedgerLine::Removed { id } => Some(id.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for l in lines.into_iter().rev() {
            if let LedgerLine::Intent { id, .. } = &l {
                let key = id.to_ascii_lowercase();
                if !removed.contains(&key) && !seen.contains(&key) {
                    seen.push(key);
                    out.push(l);
                }
            }
        }
        Ok(out)
    }
}

/// What cleanup did with one ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CleanupItem {
    pub id: String,
    pub kind: CreatedKind,
    /// `deleted`, `closed`, `already gone`, or `failed: …`.
    pub result: String,
}

impl CleanupItem {
    pub fn ok(&self) -> bool {
        !self.result.starts_with("failed")
    }
}

/// The tag values that mark a resource as made by the drill `run_id`: `lifeboat-run` (the
/// runbook's steps) or `lifeboat-drill` (live drills of earlier versions).
fn made_by(tags: Option<&std::collections::BTreeMap<String, String>>, run_id: &str) -> bool {
    tags.is_some_and(|t| {
        [crate::steps::connector::TAG_RUN, "lifeboat-drill"]
            .iter()
            .any(|k| t.get(*k).is_some_and(|v| v == run_id))
    })
}

/// Deletes the drill's connector `id` if it is there and the drill made it.
async fn remove_connector(client: &ArmClient, id: &str, run_id: &str) -> Result<String, String> {
    let rid = ResourceId::parse(id).map_err(|e| format!("not a resource ID ({e})"))?;
    match client.get_connector(&rid).await {
        Err(e) if is_not_found(&e) => return Ok("already gone".into()),
        Err(e) => return Err(e.to_string()),
        Ok(c) if !made_by(c.tags.as_ref(), run_id) => {
            return Err(format!(
                "it does not carry the tag lifeboat-run={run_id}, so this drill did not make it: left in place (check it in the portal)"
            ))
        }
        Ok(_) => {}
    }
    match client.delete_connector(&rid).await {
        Ok(()) => Ok("deleted".into()),
        Err(e) if is_not_found(&e) => Ok("already gone".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Deletes the resource group the drill created, if it did and nothing else is in it.
async fn remove_group(
    client: &ArmClient,
    subscription: &str,
    name: &str,
    run_id: &str,
) -> Result<String, String> {
    match client.get_resource_group(subscription, name).await {
        Err(e) if is_not_found(&e) => return Ok("already gone".into()),
        Err(e) => return Err(e.to_string()),
        Ok(g) if !made_by(g.tags.as_ref(), run_id) => {
            return Ok("kept: it existed before the drill".into())
        }
        Ok(_) => {}
    }
    let others = client
        .list_connectors_by_resource_group(subscription, name)
        .await
        .map_err(|e| e.to_string())?;
    if !others.is_empty() {
        let ids: Vec<String> = others.into_iter().filter_map(|c| c.id).collect();
        return Err(format!(
            "kept: it holds other connectors ({}), and deleting a group deletes everything in it; remove it by hand once it is empty",
            ids.join(", ")
        ));
    }
    match client.delete_resource_group(subscription, name).await {
        Ok(()) => Ok("deleted".into()),
        Err(e) if is_not_found(&e) => Ok("already gone".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Removes every outstanding resource of the ledger of drill `run_id`, newest first (the
/// connector before its group); each success is recorded as `removed` at once, so a cleanup
/// interrupted in turn resumes where it stopped.
pub async fn cleanup(
    ledger: &Ledger,
    client: &ArmClient,
    guard: Option<&WriteGuard>,
    run_id: &str,
) -> std::io::Result<Vec<CleanupItem>> {
    let mut out = Vec::new();
    for line in ledger.outstanding()? {
        let LedgerLine::Intent { kind, id, subscription, name } = line else { continue };
        if let Some(g) = guard {
            if let Err(why) = g.check(&id) {
                out.push(CleanupItem { id, kind, result: format!("failed: {why}") });
                continue;
            }
        }
        let result = match kind {
            CreatedKind::Connector => remove_connector(client, &id, run_id).await,
            CreatedKind::ResourceGroup => {
                let sub = subscription.unwrap_or_default();
                remove_group(client, &sub, &name, run_id).await
            }
            CreatedKind::SupportTicket => {
                let sub = subscription.unwrap_or_default();
                let close = crate::azure::models::UpdateSupportTicket {
                    status: Some("closed".into()),
                    ..Default::default()
                };
                match client.update_support_ticket(&sub, &name, &close).await {
                    Ok(_) => Ok("closed".to_string()),
                    Err(e) if is_not_found(&e) => Ok("already gone".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        match result {
            Ok(r) => {
                ledger.append(&LedgerLine::Removed { id: id.clone() })?;
                out.push(CleanupItem { id, kind, result: r });
            }
            Err(e) => out.push(CleanupItem { id, kind, result: format!("failed: {e}") }),
        }
    }
    Ok(out)
}

fn is_not_found(e: &AzureError) -> bool {
    matches!(e, AzureError::Arm(a) if a.status == 404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_refuses_the_production_connector_and_its_children_only() {
        let prod = ResourceId::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado",
        )
        .unwrap();
        let g = WriteGuard::new(&prod);
        assert!(g.check(&prod.to_string()).is_err());
        assert!(g.check(&format!("{}/", prod.to_string().to_uppercase())).is_err());
        assert!(g.check(&format!("{prod}/devops/default")).is_err());
        assert!(g.check(&format!("{prod}/devops/default/azureDevOpsOrgs/contoso")).is_err());
        assert!(g.check(&format!("{prod}?api-version=1")).is_err());
        // A sibling whose name starts with the production name is not production.
        assert!(g.check(&format!("{prod}-drill-1")).is_ok());
        assert!(g.check(&format!("{prod}-drill-1/devops/default")).is_ok());
    }

    #[test]
    fn ledger_lists_outstanding_intents_newest_first_and_ignores_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path()).unwrap();
        let intent = |id: &str| LedgerLine::Intent {
            kind: CreatedKind::Connector,
            id: id.into(),
            subscription: None,
            name: id.into(),
        };
        l.append(&intent("/a")).unwrap();
        l.append(&intent("/b")).unwrap();
        l.append(&intent("/c")).unwrap();
        l.append(&LedgerLine::Removed { id: "/B".into() }).unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(l.path()).unwrap();
        f.write_all(b"{\"op\":\"intent\",\"ki").unwrap();
        let ids: Vec<String> = l
            .outstanding()
            .unwrap()
            .into_iter()
            .map(|x| match x {
                LedgerLine::Intent { id, .. } => id,
                other => panic!("not an intent: {other:?}"),
            })
            .collect();
        assert_eq!(ids, ["/c", "/a"]);
        std::fs::write(l.path(), "garbage\n{}\n").unwrap();
        assert!(l.read().is_err());
    }
}
