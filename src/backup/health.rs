//! Backup health: is the store fit to recover from, now? The checks of `lifeboat backup check`,
//! each a pass or a failure with its reason and its fix, for a pipeline to gate on.
//!
//! - `integrity`: every snapshot's manifest opens, authenticates (a signed store, a pinned key)
//!   and names only objects that exist; with `read_data`, every object a snapshot references is
//!   also read, decrypted and re-hashed (each once). Unreferenced objects are not read here
//!   (`backup verify --read-data` reads them too): nothing restores from them.
//! - `fresh`: the newest *verified* snapshot (the newest that passed the above) is at most
//!   `max_age` old.
//! - `connectors`: every DevOps connector Azure Resource Graph lists in scope (the query the
//!   recovery's discovery runs, [`crate::queries::DEVOPS_CONNECTORS`]) is in that snapshot.
//! - `encrypted`: the store is age-encrypted, unless explicitly allowed.
//!
//! Nothing here writes: no lease, no repair, no config (the store is only listed and read).

use super::ops::Problem;
use super::snapshot::{list_snapshots, open_manifest, read_copy, Manifest};
use super::store::{parse_object_path, Store, StoreConfig};
use super::{BackupError, ResourceKind, Scope};
use crate::azure::{ArmClient, AzureError};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use time::OffsetDateTime;

/// `schema` of the JSON report (`backup check --output json`). Documented in docs/backups.md,
/// JSON Schema `docs/backup-check.schema.json`. Fields are only ever added.
pub const SCHEMA: &str = "lifeboat/backup-check/v1";

/// The names of the checks, in the order they are reported. Part of the JSON shape.
pub const INTEGRITY: &str = "integrity";
pub const FRESH: &str = "fresh";
pub const CONNECTORS: &str = "connectors";
pub const ENCRYPTED: &str = "encrypted";

/// How many problems a failed check's detail names (the JSON lists them all in `problems`).
const SHOWN: usize = 5;

/// What `backup check` checks against.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The oldest the newest verified snapshot may be.
    pub max_age: time::Duration,
    /// `max_age` as the user wrote it (`26h`), for messages.
    pub max_age_text: String,
    /// An unencrypted store passes the `encrypted` check (said so in its detail).
    pub allow_unencrypted: bool,
    /// Read and re-hash every object the snapshots reference.
    pub read_data: bool,
    /// Which connectors in Azure the snapshot must hold (the flags of `backup create`).
    pub scope: Scope,
    pub now: OffsetDateTime,
}

/// A DevOps connector as Resource Graph lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AzureConnector {
    pub id: String,
    pub name: String,
    pub region: String,
    pub connector_type: String,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `integrity`, `fresh`, `connectors` or `encrypted`.
    pub name: &'static str,
    pub ok: bool,
    /// What was found (on failure: why it failed).
    pub detail: String,
    /// How to fix a failure (a command to run); `null` when the check passed.
    pub fix: Option<String>,
}

/// The snapshot the checks judge: the newest one that verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotAge {
    pub id: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub age_seconds: i64,
    /// The age for people: `45m`, `30h12m`, `3d4h`.
    pub age: String,
}

/// The connectors in Azure against those in the snapshot (resource IDs as each side spells them;
/// compared without case, as ARM's are).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnectorComparison {
    /// The snapshot compared with (the newest verified), if any.
    pub snapshot: Option<String>,
    /// DevOps connectors Resource Graph lists in scope.
    pub in_azure: Vec<String>,
    /// Connectors the snapshot holds.
    pub in_snapshot: Vec<String>,
    /// In Azure, not in the snapshot: what fails the `connectors` check.
    pub missing: Vec<String>,
    /// In the snapshot and in scope, no longer listed by Resource Graph (deleted, or not visible
    /// to this credential). Reported, not a failure.
    pub not_in_azure: Vec<String>,
}

/// What `backup check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    pub schema: &'static str,
    /// Every check passed.
    pub ok: bool,
    pub store: String,
    /// RFC 3339, UTC.
    pub checked_at: String,
    pub max_age: String,
    pub max_age_seconds: i64,
    pub read_data: bool,
    pub encrypted: bool,
    /// Snapshots in the store, and how many of them verify.
    pub snapshots: u64,
    pub verified_snapshots: u64,
    /// The newest verified snapshot (`null` when none verifies).
    pub newest_snapshot: Option<SnapshotAge>,
    pub connectors: ConnectorComparison,
    /// Every verification problem, per snapshot.
    pub problems: Vec<Problem>,
    pub checks: Vec<Check>,
}

impl HealthReport {
    /// The checks that failed, in report order.
    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }
}

/// The DevOps connectors Resource Graph lists in `scope`: the recovery's discovery query over
/// `scope.subscriptions` (none: every subscription the credential reads), kept when their ID or
/// name is one of `scope.connectors` (none: all). A read: one POST per result page.
pub async fn discover(
    client: &ArmClient,
    scope: &Scope,
) -> Result<Vec<AzureConnector>, AzureError> {
    let rows = client
        .resource_graph_query(crate::queries::DEVOPS_CONNECTORS, &scope.subscriptions)
        .await?;
    let text = |r: &serde_json::Map<String, serde_json::Value>, k: &str| {
        r.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
    };
    let mut out: Vec<AzureConnector> = rows
        .iter()
        .map(|r| AzureConnector {
            id: text(r, "connectorResourceId"),
            name: text(r, "name"),
            region: text(r, "region"),
            connector_type: text(r, "connectorType"),
        })
        .filter(|c| !c.id.is_empty() && matches_filter(&c.id, &c.name, &scope.connectors))
        .collect();
    out.sort_by_key(|c| c.id.to_ascii_lowercase());
    out.dedup_by_key(|c| c.id.to_ascii_lowercase());
    Ok(out)
}

/// The `--connector` filters that name no connector Resource Graph listed: a typo would
/// otherwise make the `connectors` check pass on nothing. Bad input (exit 2).
pub fn check_filters(scope: &Scope, found: &[AzureConnector]) -> Result<(), BackupError> {
    let unmatched: Vec<&String> = scope
        .connectors
        .iter()
        .filter(|f| !found.iter().any(|c| matches_filter(&c.id, &c.name, std::slice::from_ref(f))))
        .collect();
    if unmatched.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = unmatched.iter().map(|f| format!("`{f}`")).collect();
    Err(BackupError::usage(
        format!(
            "--connector {} names no DevOps connector Azure Resource Graph lists{}",
            names.join(", "),
            if scope.subscriptions.is_empty() {
                String::new()
            } else {
                format!(" in --subscription {}", scope.subscriptions.join(", "))
            }
        ),
        "pass a connector's name or resource ID as `lifeboat connectors list` shows it",
    ))
}

fn matches_filter(id: &str, name: &str, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| f.eq_ignore_ascii_case(id) || f.eq_ignore_ascii_case(name))
}

/// Whether a connector of a snapshot is within `scope` (its subscription and name or ID).
fn in_scope(id: &str, scope: &Scope) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    let sub = parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("subscriptions"))
        .and_then(|i| parts.get(i + 1))
        .copied()
        .unwrap_or("");
    let name = parts.last().copied().unwrap_or("");
    (scope.subscriptions.is_empty()
        || scope.subscriptions.iter().any(|s| s.eq_ignore_ascii_case(sub)))
        && matches_filter(id, name, &scope.connectors)
}

/// An age for people: `45m`, `30h12m` (under 3 days), `3d4h`.
pub fn format_age(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    match s {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 3 * 86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The store read through: every snapshot, newest first.
struct Scan {
    listed: u64,
    verified: u64,
    /// The newest snapshot that verified, whole.
    newest: Option<Manifest>,
    /// IDs of snapshots newer than `newest` (they failed).
    newer_failed: Vec<String>,
    problems: Vec<Problem>,
    unauthenticated: u64,
    objects_read: u64,
}

/// Reads every copy of `hash` until one checks: `None` when one does, else the first problem.
async fn read_object(
    store: &Store,
    config: &StoreConfig,
    hash: &str,
    copies: &[u32],
) -> Result<Option<String>, BackupError> {
    let mut first: Option<String> = None;
    for copy in copies {
        match read_copy(store, config, hash, *copy).await {
            Ok(Some(_)) => return Ok(None),
            Ok(None) => {}
            // A key that does not fit is the reader's problem: stop with it (exit 2).
            Err(e @ BackupError::Usage { .. }) => return Err(e),
            Err(e) => {
                first.get_or_insert(e.to_string());
            }
        }
    }
    Ok(Some(first.unwrap_or_else(|| format!("object {hash} is missing"))))
}

/// The newest snapshot that verifies: its manifest opens and authenticates and every object it
/// references is present (with `read_data`, also reads back and re-hashes), or `None` when none
/// does. The snapshot `backup check` judges; anything that must start from "the latest verified
/// snapshot" can take it from here. Reads only; stops at the first snapshot that verifies.
pub async fn newest_verified(
    store: &Store,
    read_data: bool,
) -> Result<Option<Manifest>, BackupError> {
    let config = store.config().await?;
    store.check_readable(config)?;
    Ok(scan(store, config, read_data, true).await?.newest)
}

/// Verifies the snapshots, newest first, reading each object (with `read_data`) once; all of
/// them, or (`stop_at_verified`) down to the newest that verifies.
async fn scan(
    store: &Store,
    config: &StoreConfig,
    read_data: bool,
    stop_at_verified: bool,
) -> Result<Scan, BackupError> {
    let infos = list_snapshots(store).await?;
    let mut present: HashMap<String, Vec<u32>> = HashMap::new();
    for meta in store.list("objects").await? {
        if let Some((h, copy)) = parse_object_path(&meta.location) {
            present.entry(h).or_default().push(copy);
        }
    }
    for copies in present.values_mut() {
        copies.sort_unstable();
    }
    let mut s = Scan {
        listed: infos.len() as u64,
        verified: 0,
        newest: None,
        newer_failed: Vec::new(),
        problems: Vec::new(),
        unauthenticated: 0,
        objects_read: 0,
    };
    // Content address → its problem (`None`: it read back), for objects already read.
    let mut read: HashMap<String, Option<String>> = HashMap::new();
    for info in infos.iter().rev() {
        let manifest = match open_manifest(store, info).await {
            Ok((m, authenticity)) => {
                if !authenticity.is_authenticated() {
                    s.unauthenticated += 1;
                }
                m
            }
            Err(e @ BackupError::Usage { .. }) => return Err(e),
            Err(e) => {
                s.problems.push(Problem {
                    location: format!("snapshot {}", info.id),
                    message: e.to_string(),
                });
                if s.newest.is_none() {
                    s.newer_failed.push(info.id.clone());
                }
                continue;
            }
        };
        let mut bad: Vec<String> = Vec::new();
        for (rid, e) in &manifest.resources {
            let Some(copies) = present.get(&e.hash) else {
                bad.push(format!("object {} of {rid} is missing", e.hash));
                continue;
            };
            if !read_data {
                continue;
            }
            let problem = match read.get(&e.hash) {
                Some(p) => p.clone(),
                None => {
                    s.objects_read += 1;
                    let p = read_object(store, config, &e.hash, copies).await?;
                    read.insert(e.hash.clone(), p.clone());
                    p
                }
            };
            if let Some(p) = problem {
                bad.push(format!("{p} (for {rid})"));
            }
        }
        if bad.is_empty() {
            s.verified += 1;
            if s.newest.is_none() {
                s.newest = Some(manifest);
            }
            if stop_at_verified {
                break;
            }
        } else {
            let more = bad.len() - 1;
            let mut message = bad.swap_remove(0);
            if more > 0 {
                message.push_str(&format!(", and {more} more"));
            }
            s.problems.push(Problem { location: format!("snapshot {}", manifest.id), message });
            if s.newest.is_none() {
                s.newer_failed.push(manifest.id.clone());
            }
        }
    }
    Ok(s)
}

/// Runs the checks of `backup check` on `store` against the connectors `in_azure` (from
/// [`discover`]). Errors are bad input (no store, no or a wrong identity: exit 2) or a store
/// that cannot be read at all; everything else is a check in the report.
pub async fn check(
    store: &Store,
    in_azure: &[AzureConnector],
    opts: &CheckOptions,
) -> Result<HealthReport, BackupError> {
    let config = store.config().await?;
    store.check_readable(config)?;
    let scan = scan(store, config, opts.read_data, false).await?;
    let limit = &opts.max_age_text;
    let mut checks = Vec::new();

    // integrity
    let integrity = if scan.problems.is_empty() {
        let mut detail = format!(
            "{} snapshot(s): every manifest opens{} and every object they reference is present",
            scan.listed,
            if config.authentication.is_some() || store.keys().verify.is_some() {
                " and authenticates"
            } else {
                ""
            }
        );
        if opts.read_data {
            detail.push_str(&format!(
                "; {} object(s) read, decrypted and re-hashed",
                scan.objects_read
            ));
        } else {
            detail.push_str(" (objects not read: add --read-data to re-hash them)");
        }
        if scan.unauthenticated > 0 {
            detail.push_str(&format!(
                "; note: {} snapshot(s) are unsigned, so anyone able to write to the store could have forged them (sign with --signing-key, see docs/backups.md)",
                scan.unauthenticated
            ));
        }
        Check { name: INTEGRITY, ok: true, detail, fix: None }
    } else {
        let shown: Vec<String> = scan
            .problems
            .iter()
            .take(SHOWN)
            .map(|p| format!("{}: {}", p.location, p.message))
            .collect();
        let rest = scan.problems.len().saturating_sub(SHOWN);
        Check {
            name: INTEGRITY,
            ok: false,
            detail: format!(
                "{} of {} snapshot(s) fail verification: {}{}",
                scan.problems.len(),
                scan.listed,
                shown.join("; "),
                if rest > 0 { format!("; and {rest} more") } else { String::new() }
            ),
            fix: Some(
                "run `lifeboat backup verify --read-data` to list every problem, then `lifeboat backup create`: it writes a fresh snapshot and repairs the damaged objects it references again"
                    .into(),
            ),
        }
    };
    checks.push(integrity);

    // fresh
    let newest = scan.newest.as_ref().map(|m| {
        let age = opts.now - m.time;
        SnapshotAge {
            id: m.id.clone(),
            time: rfc3339(m.time),
            age_seconds: age.whole_seconds(),
            age: format_age(age),
        }
    });
    let newer_note = if scan.newer_failed.is_empty() {
        String::new()
    } else {
        format!(
            " (newer snapshot(s) that fail verification were passed over: {})",
            scan.newer_failed.join(", ")
        )
    };
    let fresh = match (&scan.newest, &newest) {
        (Some(m), Some(a)) => {
            let age = opts.now - m.time;
            if age <= opts.max_age {
                let future = if age.is_negative() {
                    format!(
                        "; its time is {} ahead of this machine's clock (check the clocks)",
                        format_age(-age)
                    )
                } else {
                    String::new()
                };
                Check {
                    name: FRESH,
                    ok: true,
                    detail: format!(
                        "newest verified snapshot {} was taken {} ({} ago), within the limit of {limit}{newer_note}{future}",
                        a.id, a.time, a.age
                    ),
                    fix: None,
                }
            } else {
                Check {
                    name: FRESH,
                    ok: false,
                    detail: format!(
                        "newest verified snapshot {} was taken {} ({} ago), older than the limit of {limit}{newer_note}",
                        a.id, a.time, a.age
                    ),
                    fix: Some(
                        "run `lifeboat backup create` (and check that the scheduled backup runs)"
                            .into(),
                    ),
                }
            }
        }
        _ => Check {
            name: FRESH,
            ok: false,
            detail: if scan.listed == 0 {
                "the store holds no snapshot".to_string()
            } else {
                format!("none of the {} snapshot(s) verifies", scan.listed)
            },
            fix: Some("run `lifeboat backup create`".into()),
        },
    };
    checks.push(fresh);

    // connectors
    let mut cmp = ConnectorComparison {
        snapshot: scan.newest.as_ref().map(|m| m.id.clone()),
        in_azure: in_azure.iter().map(|c| c.id.clone()).collect(),
        ..Default::default()
    };
    let connectors = match &scan.newest {
        None => Check {
            name: CONNECTORS,
            ok: false,
            detail: format!(
                "no verified snapshot to compare with: the {} DevOps connector(s) Azure lists are not backed up",
                in_azure.len()
            ),
            fix: Some("run `lifeboat backup create`".into()),
        },
        Some(m) => {
            cmp.in_snapshot = m
                .resources
                .iter()
                .filter(|(_, e)| e.kind == ResourceKind::Connector)
                .map(|(id, _)| id.clone())
                .collect();
            let backed: BTreeSet<String> =
                cmp.in_snapshot.iter().map(|id| id.to_ascii_lowercase()).collect();
            let listed: BTreeSet<String> =
                in_azure.iter().map(|c| c.id.to_ascii_lowercase()).collect();
            let missing: Vec<&AzureConnector> =
                in_azure.iter().filter(|c| !backed.contains(&c.id.to_ascii_lowercase())).collect();
            cmp.missing = missing.iter().map(|c| c.id.clone()).collect();
            cmp.not_in_azure = cmp
                .in_snapshot
                .iter()
                .filter(|id| in_scope(id, &opts.scope) && !listed.contains(&id.to_ascii_lowercase()))
                .cloned()
                .collect();
            connectors_check(m, in_azure, &missing, &cmp)
        }
    };
    checks.push(connectors);

    // encrypted
    let encrypted = match &config.encryption {
        Some(e) => Check {
            name: ENCRYPTED,
            ok: true,
            detail: format!(
                "the store is encrypted ({}, {} recipient(s))",
                e.scheme,
                e.recipients.len()
            ),
            fix: None,
        },
        None if opts.allow_unencrypted => Check {
            name: ENCRYPTED,
            ok: true,
            detail: "the store is NOT encrypted (allowed by --allow-unencrypted)".into(),
            fix: None,
        },
        None => Check {
            name: ENCRYPTED,
            ok: false,
            detail: "the store is not encrypted: anyone who can read it reads every connector's configuration (org, project and repo names, settings)".into(),
            fix: Some(UNENCRYPTED_FIX.into()),
        },
    };
    checks.push(encrypted);

    Ok(HealthReport {
        schema: SCHEMA,
        ok: checks.iter().all(|c| c.ok),
        store: store.url().to_string(),
        checked_at: rfc3339(opts.now),
        max_age: opts.max_age_text.clone(),
        max_age_seconds: opts.max_age.whole_seconds(),
        read_data: opts.read_data,
        encrypted: config.encrypted(),
        snapshots: scan.listed,
        verified_snapshots: scan.verified,
        newest_snapshot: newest,
        connectors: cmp,
        problems: scan.problems,
        checks,
    })
}

/// How to move to an encrypted store (a store is encrypted or not for life).
pub const UNENCRYPTED_FIX: &str = "create a key with `lifeboat backup keygen --out FILE` (it prints the recipient age1...), then back up to a new store encrypted to it: `lifeboat --backup-store NEW_STORE backup create --recipient age1...`; read it with `--identity-file FILE`. To accept a store in clear, pass --allow-unencrypted";

fn connectors_check(
    m: &Manifest,
    in_azure: &[AzureConnector],
    missing: &[&AzureConnector],
    cmp: &ConnectorComparison,
) -> Check {
    let gone = if cmp.not_in_azure.is_empty() {
        String::new()
    } else {
        format!(
            "; {} connector(s) of the snapshot are no longer listed by Resource Graph (deleted, or not visible to this credential): {}",
            cmp.not_in_azure.len(),
            cmp.not_in_azure.join(", ")
        )
    };
    if !missing.is_empty() {
        let shown: Vec<String> = missing
            .iter()
            .take(SHOWN)
            .map(|c| format!("{} ({}, {}, {})", c.name, c.connector_type, c.region, c.id))
            .collect();
        let rest = missing.len().saturating_sub(SHOWN);
        let scoped = !m.scope.connectors.is_empty() || !m.scope.subscriptions.is_empty();
        return Check {
            name: CONNECTORS,
            ok: false,
            detail: format!(
                "{} of the {} DevOps connector(s) in Azure are missing from snapshot {}: {}{}",
                missing.len(),
                in_azure.len(),
                m.id,
                shown.join(", "),
                if rest > 0 { format!(", and {rest} more") } else { String::new() }
            ),
            fix: Some(if scoped {
                format!(
                    "run `lifeboat backup create` with a scope that includes them (snapshot {} was limited to {})",
                    m.id,
                    scope_text(&m.scope)
                )
            } else {
                "run `lifeboat backup create` (a connector created after the last backup is captured by the next one)".into()
            }),
        };
    }
    if in_azure.is_empty() && !cmp.in_snapshot.is_empty() {
        return Check {
            name: CONNECTORS,
            ok: false,
            detail: format!(
                "Azure Resource Graph lists no DevOps connector in scope, while snapshot {} holds {}: the credential may not see their subscriptions",
                m.id,
                cmp.in_snapshot.len()
            ),
            fix: Some(
                "give the credential Reader (or Security Reader) on the connectors' subscriptions, or pass --subscription; if every connector was deleted on purpose, run `lifeboat backup create`"
                    .into(),
            ),
        };
    }
    Check {
        name: CONNECTORS,
        ok: true,
        detail: if in_azure.is_empty() {
            "Azure Resource Graph lists no DevOps connector in scope, and the snapshot holds none"
                .to_string()
        } else {
            format!(
                "all {} DevOps connector(s) in Azure are in snapshot {}{gone}",
                in_azure.len(),
                m.id
            )
        },
        fix: None,
    }
}

fn scope_text(s: &Scope) -> String {
    let mut parts = Vec::new();
    if !s.subscriptions.is_empty() {
        parts.push(format!("--subscription {}", s.subscriptions.join(",")));
    }
    if !s.connectors.is_empty() {
        parts.push(format!("--connector {}", s.connectors.join(",")));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(sub: &str, name: &str) -> AzureConnector {
        AzureConnector {
            id: format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/{name}"),
            name: name.into(),
            region: "westeurope".into(),
            connector_type: "AzureDevOps".into(),
        }
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(format_age(time::Duration::minutes(45)), "45m");
        assert_eq!(format_age(time::Duration::hours(30) + time::Duration::minutes(12)), "30h12m");
        assert_eq!(format_age(time::Duration::hours(76)), "3d4h");
        assert_eq!(format_age(time::Duration::seconds(-5)), "0m");
    }

    #[test]
    fn filters_match_names_or_ids_without_case_and_unmatched_ones_are_bad_input() {
        let found = vec![conn("s1", "ado-weu"), conn("s2", "github-eus")];
        let scope = Scope { subscriptions: vec![], connectors: vec!["ADO-WEU".into()] };
        assert!(check_filters(&scope, &found).is_ok());
        let scope = Scope { subscriptions: vec![], connectors: vec![found[1].id.to_uppercase()] };
        assert!(check_filters(&scope, &found).is_ok());
        let scope = Scope { subscriptions: vec![], connectors: vec!["ado-wue".into()] };
        let e = check_filters(&scope, &found).unwrap_err();
        assert!(matches!(e, BackupError::Usage { .. }));
        assert!(e.to_string().contains("`ado-wue`"), "{e}");
    }

    #[test]
    fn snapshot_connectors_are_in_scope_by_subscription_and_name() {
        let id = conn("S1", "ado-weu").id;
        assert!(in_scope(&id, &Scope::default()));
        assert!(in_scope(&id, &Scope { subscriptions: vec!["s1".into()], connectors: vec![] }));
        assert!(!in_scope(&id, &Scope { subscriptions: vec!["s2".into()], connectors: vec![] }));
        assert!(in_scope(
            &id,
            &Scope { subscriptions: vec![], connectors: vec!["ADO-weu".into()] }
        ));
        assert!(!in_scope(&id, &Scope { subscriptions: vec![], connectors: vec!["gh".into()] }));
    }
}
