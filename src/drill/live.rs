//! The live drill (`--live --connector ID --drill-region R`): seed 000's rehearsal, "simulate a
//! lost connector by creating a second connector and following the support steps", against real
//! Azure (or `--arm-endpoint`).
//!
//! It backs up the production connector (reads only), creates a second connector in the drill
//! region with the production connector's scope, reapplies the backed-up DevOps configuration to
//! it (what a connector that does not own the organizations can manage: the configuration itself;
//! discovery stays off so it claims nothing), drafts the support request (submits it only with
//! `--submit-ticket`), checks the result and that production is unchanged, and removes what it
//! created.
//!
//! Safety: every write goes through [`Writes`], which asks the [`WriteGuard`] first (the
//! production connector and its children are refused) and writes the ledger intent (fsync'd)
//! before the request, so `lifeboat drill --cleanup RUN_ID` can remove what an interrupted drill
//! left. The hidden failpoint `LIFEBOAT_DRILL_FAILPOINT=<point>` aborts the process at a named
//! point (tests of the cleanup).

use super::cleanup::{self, CreatedKind, Ledger, LedgerLine, WriteGuard};
use super::report::{
    self, ApiCounts, ApiStats, DrillReport, Mode, NotRecreated, Outage, Recovery, Rpo, Rto,
    Scenario, StepRecord, StepResult, Verdict, Verification,
};
use crate::azure::models::{DevOpsConfiguration, SecurityConnector, SupportTicketDetails};
use crate::azure::{ArmClient, AzureError, ResourceId};
use crate::backup::{self, CreateOptions, Keys, Scope, Store};
use crate::clock::{Clock, SystemClock};
use crate::error::{Exit, UserError};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Aborts the process when `LIFEBOAT_DRILL_FAILPOINT` names `point` (tests only: it simulates a
/// crash of the live drill at that point).
fn failpoint(point: &str) {
    if std::env::var("LIFEBOAT_DRILL_FAILPOINT").is_ok_and(|v| v == point) {
        eprintln!("failpoint {point}: aborting");
        std::process::abort();
    }
}

/// The live drill's only way to write: guard, then ledger, then the request.
pub struct Writes<'a> {
    client: &'a ArmClient,
    guard: &'a WriteGuard,
    ledger: &'a Ledger,
}

impl Writes<'_> {
    fn guard(&self, id: &str) -> Result<(), UserError> {
        self.guard.check(id).map_err(UserError::failed)
    }

    /// Creates the drill's connector (ledgered first).
    pub async fn create_connector(
        &self,
        id: &ResourceId,
        body: &SecurityConnector,
    ) -> Result<SecurityConnector, UserError> {
        self.guard(&id.to_string())?;
        self.ledger
            .append(&LedgerLine::Intent {
                kind: CreatedKind::Connector,
                id: id.to_string(),
                subscription: None,
                name: id.name().to_string(),
            })
            .map_err(|e| UserError::failed("cannot write the cleanup ledger").with_source(e))?;
        failpoint("before-create-connector");
        self.client.put_connector(id, body).await.map_err(crate::azure::user_error)
    }

    /// PUT of the DevOps configuration of a connector the drill created.
    pub async fn put_devops(
        &self,
        connector: &ResourceId,
        body: &DevOpsConfiguration,
    ) -> Result<DevOpsConfiguration, AzureError> {
        self.guard(&connector.devops().to_string())
            .map_err(|e| AzureError::Config(e.to_string()))?;
        self.client.put_devops_configuration(connector, body).await
    }

    /// Files the support request (ledgered first: cleanup closes it).
    pub async fn submit_ticket(
        &self,
        subscription: &str,
        name: &str,
        body: &SupportTicketDetails,
    ) -> Result<(), UserError> {
        let id = format!(
            "/subscriptions/{subscription}/providers/Microsoft.Support/supportTickets/{name}"
        );
        self.guard(&id)?;
        self.ledger
            .append(&LedgerLine::Intent {
                kind: CreatedKind::SupportTicket,
                id,
                subscription: Some(subscription.to_string()),
                name: name.to_string(),
            })
            .map_err(|e| UserError::failed("cannot write the cleanup ledger").with_source(e))?;
        self.client
            .create_support_ticket(subscription, name, body)
            .await
            .map(|_| ())
            .map_err(crate::azure::user_error)
    }
}

/// What the live drill is asked to do, as given (the CLI's `--live` flags, or another caller).
#[derive(Debug, Clone, Default)]
pub struct LiveDrillRequest {
    /// The production connector's resource ID (never written to).
    pub connector: String,
    /// The region the drill's second connector is created in.
    pub drill_region: String,
    /// A file with an OAuth authorization code for the drill connector's DevOps configuration
    /// (without it, only the connector is created).
    pub authorization_code_file: Option<PathBuf>,
    /// File the drafted support request (by default it is only drafted).
    pub submit_ticket: bool,
    pub rto_target: Option<Duration>,
    pub rpo_target: Option<Duration>,
}

/// A [`LiveDrillRequest`] once validated: what [`execute_live`] runs. No `Debug`: it holds the
/// authorization code.
pub struct LiveDrillOptions {
    pub production: ResourceId,
    /// Normalised and checked against the regions where DevOps security is available.
    pub drill_region: String,
    authorization_code: Option<String>,
    pub submit_ticket: bool,
    pub rto_target: Option<Duration>,
    pub rpo_target: Option<Duration>,
}

impl LiveDrillRequest {
    /// Checks every input (the connector ID, the drill region, the code file) before anything
    /// is read from Azure or written: bad input is a usage error (exit 2).
    pub fn validate(&self) -> Result<LiveDrillOptions, UserError> {
        let raw = &self.connector;
        let prod = ResourceId::parse(raw).map_err(|e| {
            UserError::usage(format!("--connector '{raw}' is not a resource ID: {e}")).with_hint(
                "give the production connector's full ID: /subscriptions/S/resourceGroups/RG/providers/Microsoft.Security/securityConnectors/NAME",
            )
        })?;
        if !prod.resource_type().eq_ignore_ascii_case("Microsoft.Security/securityConnectors") {
            return Err(UserError::usage(format!(
                "--connector '{raw}' is not a security connector"
            ))
            .with_hint("`lifeboat connectors list` shows the connectors' IDs"));
        }
        let drill_region =
            crate::steps::recovery::check_region("--drill-region", &self.drill_region)
                .map_err(UserError::usage)?;
        crate::steps::regions::check_flag("--drill-region", &drill_region)
            .map_err(UserError::usage)?;
        let code = match &self.authorization_code_file {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    UserError::usage(format!(
                        "--authorization-code-file {}: cannot read it",
                        p.display()
                    ))
                    .with_source(e)
                })?;
                let c = text.trim().to_string();
                if c.is_empty() {
                    return Err(UserError::usage(format!(
                        "--authorization-code-file {} is empty",
                        p.display()
                    ))
                    .with_hint("write the OAuth authorization code on the file's first line"));
                }
                Some(c)
            }
        };
        Ok(LiveDrillOptions {
            production: prod,
            drill_region,
            authorization_code: code,
            submit_ticket: self.submit_ticket,
            rto_target: self.rto_target,
            rpo_target: self.rpo_target,
        })
    }
}

/// The drill connector's name: the production name plus a suffix from the run id, within ARM's
/// length limit.
pub fn drill_connector_name(production: &str, run_id: &str) -> String {
    let h = crate::digest::sha256_hex(run_id.as_bytes());
    let mut base: String = production.chars().take(40).collect();
    base.push_str("-drill-");
    base.push_str(&h[..8]);
    base
}

struct Timeline {
    steps: Vec<StepRecord>,
}

impl Timeline {
    fn record(
        &mut self,
        id: &str,
        kind: &str,
        start: OffsetDateTime,
        result: StepResult,
        error: Option<String>,
    ) {
        let end = SystemClock.now();
        let attempts = if result == StepResult::Skipped { 0 } else { 1 };
        self.steps.push(StepRecord::new(id, None, kind, start, end, attempts, result, error, None));
    }
}

/// Runs the live drill (inputs validated by [`LiveDrillRequest::validate`], `client` connected
/// by the caller) and returns its report.
pub async fn execute_live(
    opts: &LiveDrillOptions,
    client: ArmClient,
    state_dir: &Path,
    run_id: &str,
) -> anyhow::Result<DrillReport> {
    let real_start = std::time::Instant::now();
    let clock = SystemClock;
    let prod = opts.production.clone();
    let drill_region = opts.drill_region.clone();
    let code = opts.authorization_code.clone();
    let guard = WriteGuard::new(&prod);
    let drill_dir = super::history::drills_dir(state_dir).join(run_id);
    let ledger = Ledger::open(&drill_dir)
        .map_err(|e| UserError::failed("cannot create the cleanup ledger").with_source(e))?;
    ledger
        .append(&LedgerLine::Production { id: prod.to_string() })
        .map_err(|e| UserError::failed("cannot write the cleanup ledger").with_source(e))?;
    let writes = Writes { client: &client, guard: &guard, ledger: &ledger };
    let started_at = clock.now();
    let mut tl = Timeline { steps: Vec::new() };

    // 1. Back up the production connector (reads only).
    let t = clock.now();
    let store = Store::open(&drill_dir.join("backups").to_string_lossy(), Keys::default())?;
    let reader = crate::backup::arm_reader::ArmReader::new(client.clone());
    let scope = Scope {
        subscriptions: prod.path_segments().get(1).map(|s| vec![s.to_string()]).unwrap_or_default(),
        connectors: vec![prod.to_string()],
    };
    let summary = backup::collect(
        &reader,
        &store,
        CreateOptions { scope, now: t, rules: backup::AnomalyRules::default(), immutable: false },
    )
    .await;
    let summary = match summary {
        Ok(s) => {
            tl.record("backup-production", "backup.create", t, StepResult::Succeeded, None);
            s
        }
        Err(e) => {
            return Err(UserError::failed("the backup of the production connector failed")
                .with_source(e)
                .into())
        }
    };
    let info = backup::snapshot::find_snapshot(&store, &summary.id).await?;
    let manifest = backup::snapshot::load_manifest(&store, &info).await?;
    let find = |suffix: &str| -> Option<String> {
        let want = format!("{prod}{suffix}").to_ascii_lowercase();
        manifest
            .resources
            .iter()
            .find(|(id, _)| id.to_ascii_lowercase() == want)
            .map(|(_, e)| e.hash.clone())
    };
    let Some(conn_hash) = find("") else {
        return Err(UserError::usage(format!(
            "connector {prod} was not found, or is not a DevOps connector"
        ))
        .with_hint("`lifeboat connectors list` shows the DevOps connectors")
        .into());
    };
    let prod_body = backup::snapshot::load_object(&store, &conn_hash).await?;
    let devops_backup = match find("/devops/default") {
        Some(h) => Some(backup::snapshot::load_object(&store, &h).await?),
        None => None,
    };

    // 2. The second connector, with production's scope, in the drill region.
    let t = clock.now();
    let injected_at = t;
    let name = drill_connector_name(prod.name(), run_id);
    let segs = prod.path_segments();
    let (sub, rg) = (segs.get(1).copied().unwrap_or(""), segs.get(3).copied().unwrap_or(""));
    let drill_id = ResourceId::connector(sub, rg, &name);
    let mut body: SecurityConnector = serde_json::from_value(json!({
        "location": drill_region,
        "tags": {"lifeboat-drill": run_id},
        "properties": prod_body.get("properties").cloned().unwrap_or(Value::Null),
    }))
    .map_err(|e| {
        UserError::failed(format!("the production connector's body is not usable: {e}"))
    })?;
    if let Some(p) = body.properties.as_mut() {
        // Read-only fields are not sent back.
        p.hierarchy_identifier_trial_end_date = None;
    }
    let created = writes.create_connector(&drill_id, &body).await;
    failpoint("after-create-connector");
    let mut verifications = Vec::new();
    let mut fatal: Option<String> = None;
    match &created {
        Ok(_) => tl.record(
            "create-drill-connector",
            "connector.create-or-adopt",
            t,
            StepResult::Succeeded,
            None,
        ),
        Err(e) => {
            fatal = Some(e.to_string());
            tl.record(
                "create-drill-connector",
                "connector.create-or-adopt",
                t,
                StepResult::Failed,
                Some(e.to_string()),
            );
        }
    }

    // 3. Reapply the DevOps configuration the drill connector can manage.
    let t = clock.now();
    if fatal.is_none() {
        match (&code, &devops_backup) {
            (Some(code), Some(cfg)) => {
                let props = cfg.get("properties").cloned().unwrap_or(Value::Null);
                let want = json!({
                    "properties": {
                        "authorization": {"code": code},
                        // Discovery off: the drill connector must not claim anything.
                        "autoDiscovery": "Disabled",
                        "topLevelInventoryList": props.get("topLevelInventoryList").cloned().unwrap_or(json!([])),
                        "agentlessConfiguration": props.get("agentlessConfiguration").cloned().unwrap_or(Value::Null),
                    }
                });
                let body: DevOpsConfiguration = serde_json::from_value(want).unwrap_or_default();
                match writes.put_devops(&drill_id, &body).await {
                    Ok(_) => {
                        tl.record("reapply-settings", "devops.reapply-settings", t, StepResult::Succeeded, None);
                        failpoint("after-reapply-settings");
                        verifications.extend(verify_drill(&client, &drill_id, &props).await);
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        tl.record("reapply-settings", "devops.reapply-settings", t, StepResult::Failed, Some(msg.clone()));
                        fatal = Some(msg);
                    }
                }
            }
            (None, _) => tl.record("reapply-settings", "devops.reapply-settings", t, StepResult::Skipped, Some("no --authorization-code-file: the drill connector was not authorized, so its DevOps configuration was not rehearsed".into())),
            (_, None) => tl.record("reapply-settings", "devops.reapply-settings", t, StepResult::Skipped, Some("the production connector has no DevOps configuration".into())),
        }
    }

    // 4. The support request: drafted; filed only with --submit-ticket.
    let t = clock.now();
    if fatal.is_none() {
        match draft_support(
            &client,
            &drill_dir,
            run_id,
            &prod,
            &prod_body,
            &drill_id,
            &drill_region,
            opts.submit_ticket,
        )
        .await
        {
            Ok((ticket, path)) => {
                tl.record("draft-support-request", "support.draft", t, StepResult::Succeeded, None);
                let _ = path;
                if let Some((name, body)) = ticket {
                    let t = clock.now();
                    match writes.submit_ticket(sub, &name, &body).await {
                        Ok(()) => tl.record(
                            "submit-support-request",
                            "support.submit",
                            t,
                            StepResult::Succeeded,
                            None,
                        ),
                        Err(e) => tl.record(
                            "submit-support-request",
                            "support.submit",
                            t,
                            StepResult::Failed,
                            Some(e.to_string()),
                        ),
                    }
                }
            }
            Err(e) => {
                tl.record("draft-support-request", "support.draft", t, StepResult::Failed, Some(e))
            }
        }
    }
    let verified_at = clock.now();

    // 5. Production untouched: its configuration is what the backup says.
    verifications
        .extend(verify_production(&client, &prod, &prod_body, devops_backup.as_ref()).await);

    // 6. Remove everything the drill created.
    let t = clock.now();
    let items = cleanup::cleanup(&ledger, &client, Some(&guard))
        .await
        .map_err(|e| UserError::failed("cannot read the cleanup ledger").with_source(e))?;
    let failed: Vec<String> =
        items.iter().filter(|i| !i.ok()).map(|i| format!("{}: {}", i.id, i.result)).collect();
    if failed.is_empty() {
        tl.record("cleanup", "connector.delete", t, StepResult::Succeeded, None);
    } else {
        tl.record(
            "cleanup",
            "connector.delete",
            t,
            StepResult::Failed,
            Some(format!("{} (run `lifeboat drill --cleanup {run_id}`)", failed.join("; "))),
        );
    }
    for i in &items {
        verifications.push(Verification {
            name: format!("removed {}", i.id),
            resource_id: Some(i.id.clone()),
            passed: i.ok(),
            expected: Some("removed".into()),
            actual: Some(i.result.clone()),
            detail: format!("cleanup of {}: {}", i.id, i.result),
        });
    }

    let all_ok = fatal.is_none()
        && tl.steps.iter().all(|s| s.result != StepResult::Failed)
        && verifications.iter().all(|v| v.passed);
    let finished_at = clock.now();
    let calls = client.call_log();
    let mut api = ApiStats::default();
    for c in &calls {
        let op = super::simulated::operation_name(&c.method, &c.url);
        let add = |x: &mut ApiCounts| {
            x.calls += u64::from(c.attempts.max(1));
            x.throttled_429 += u64::from(c.throttled);
            x.retries += u64::from(c.attempts.saturating_sub(1));
            match c.status {
                Some(500..=599) => x.errors_5xx += 1,
                None => x.dropped_connections += 1,
                _ => {}
            }
        };
        add(&mut api.totals);
        add(api.by_operation.entry(op).or_default());
    }
    let region = prod_body
        .get("location")
        .and_then(Value::as_str)
        .map(crate::text::normalize_region)
        .unwrap_or_default();
    let mut r = DrillReport {
        schema: report::SCHEMA_ID.into(),
        run_id: run_id.to_string(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        scenario: Scenario::RegionOutage,
        mode: Mode::Live,
        tenant: sub.to_string(),
        started_at,
        finished_at,
        wall_clock_seconds: (real_start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        outage: Outage { region, injected_at },
        target_region: drill_region,
        recovery: Recovery { verified: all_ok, verified_at: all_ok.then_some(verified_at) },
        rto: Rto { target_seconds: opts.rto_target.map(|d| d.as_secs_f64()), ..Rto::default() },
        rpo: Rpo {
            backup_id: Some(summary.id.clone()),
            backup_taken_at: Some(manifest.time),
            target_seconds: opts.rpo_target.map(|d| d.as_secs_f64()),
            ..Rpo::default()
        },
        api,
        steps: tl.steps,
        verifications,
        detected: Vec::new(),
        not_recreated_by_microsoft: NotRecreated::documented(),
        verdict: Verdict::default(),
        resources: None,
    };
    r.compute_verdict();
    Ok(r)
}

/// The drill connector's DevOps configuration against the backup (what it can manage).
async fn verify_drill(client: &ArmClient, drill: &ResourceId, backup: &Value) -> Vec<Verification> {
    let live = match client.get_devops_configuration(drill).await {
        Ok(c) => serde_json::to_value(c).unwrap_or(Value::Null),
        Err(e) => {
            return vec![Verification {
                name: "drill connector DevOps configuration".into(),
                resource_id: Some(drill.devops().to_string()),
                passed: false,
                expected: None,
                actual: None,
                detail: format!("cannot read it: {e}"),
            }]
        }
    };
    let id = drill.devops().to_string();
    ["topLevelInventoryList", "agentlessConfiguration"]
        .iter()
        .map(|f| {
            let e = backup.get(*f).cloned().unwrap_or(Value::Null);
            let a = live.pointer(&format!("/properties/{f}")).cloned().unwrap_or(Value::Null);
            let passed = e == a;
            Verification {
                name: format!("drill connector: {f}"),
                resource_id: Some(id.clone()),
                passed,
                expected: Some(e.to_string()),
                actual: Some(a.to_string()),
                detail: if passed {
                    format!("{f} reapplied as in the backup")
                } else {
                    format!("{f} differs from the backup")
                },
            }
        })
        .collect()
}

/// The production connector and its DevOps configuration are as the backup found them.
async fn verify_production(
    client: &ArmClient,
    prod: &ResourceId,
    body: &Value,
    devops: Option<&Value>,
) -> Vec<Verification> {
    let mut out = Vec::new();
    let live =
        client.get_connector(prod).await.map(|c| serde_json::to_value(c).unwrap_or(Value::Null));
    let same = live.as_ref().is_ok_and(|l| {
        l.get("properties") == body.get("properties") && l.get("location") == body.get("location")
    });
    out.push(Verification {
        name: "production connector unchanged".into(),
        resource_id: Some(prod.to_string()),
        passed: same,
        expected: Some("as backed up".into()),
        actual: Some(match &live {
            Ok(_) if same => "as backed up".into(),
            Ok(_) => "changed".into(),
            Err(e) => e.to_string(),
        }),
        detail: if same {
            "the drill left the production connector as it found it".into()
        } else {
            "the production connector differs from its backup taken at the drill's start".into()
        },
    });
    if let Some(d) = devops {
        let live = client
            .get_devops_configuration(prod)
            .await
            .map(|c| serde_json::to_value(c).unwrap_or(Value::Null));
        let fields = ["autoDiscovery", "topLevelInventoryList", "agentlessConfiguration"];
        let same = live.as_ref().is_ok_and(|l| {
            fields.iter().all(|f| {
                l.pointer(&format!("/properties/{f}")) == d.pointer(&format!("/properties/{f}"))
            })
        });
        out.push(Verification {
            name: "production DevOps configuration unchanged".into(),
            resource_id: Some(prod.devops().to_string()),
            passed: same,
            expected: Some("as backed up".into()),
            actual: Some(if same { "as backed up".into() } else { "changed or unreadable".into() }),
            detail: if same {
                "autoDiscovery, topLevelInventoryList and agentlessConfiguration are as backed up"
                    .into()
            } else {
                "the production DevOps configuration differs from its backup".into()
            },
        });
    }
    out
}

#[expect(clippy::too_many_arguments, reason = "the facts of one support request")]
async fn draft_support(
    client: &ArmClient,
    drill_dir: &Path,
    run_id: &str,
    prod: &ResourceId,
    prod_body: &Value,
    drill: &ResourceId,
    drill_region: &str,
    submit: bool,
) -> Result<(Option<(String, SupportTicketDetails)>, std::path::PathBuf), String> {
    use crate::steps::support as s;
    let ids = if submit {
        s::classification(client).await.map_err(|o| format!("{o:?}"))?
    } else {
        (String::new(), String::new())
    };
    let region = prod_body.get("location").and_then(Value::as_str).unwrap_or("");
    let env =
        prod_body.pointer("/properties/environmentName").and_then(Value::as_str).unwrap_or("");
    let description = format!(
        "DRILL (lifeboat drill {run_id}): {}. Rehearsal of the documented recovery of connector {} ({env}, {region}) into region {drill_region}. Old connector resource ID: {prod} . New connector resource ID: {drill} .",
        s::SUMMARY,
        prod.name()
    );
    let context = json!({
        "run_id": run_id,
        "drafted_at": SystemClock.now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "summary": s::SUMMARY, "issue_type": s::ISSUE_TYPE, "service_type": s::SERVICE_TYPE,
        "problem_type": s::PROBLEM_TYPE, "problem_subtype": s::PROBLEM_SUBTYPE,
        "failed_region": region,
        "old": {"name": prod.name(), "connector_type": env, "region": region, "resource_id": prod.to_string()},
        "new": {"region": drill_region, "resource_id": drill.to_string()},
        "description": description,
        "query": "",
        "attest_step": "submit-support-request",
        "service_id": ids.0, "problem_classification_id": ids.1,
        "severity": "minimal", "advanced_diagnostic_consent": "No",
        "contact": {"first_name": "", "last_name": "", "preferred_contact_method": "email", "email": "",
                    "time_zone": "Pacific Standard Time", "country": "usa", "language": "en-US"},
    });
    let (md, body) = s::render(&context)?;
    let path = drill_dir.join("support-request.md");
    std::fs::write(&path, md).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let ticket = if submit {
        let details: SupportTicketDetails =
            serde_json::from_value(body).map_err(|e| e.to_string())?;
        Some((s::ticket_name(run_id, &prod.to_string()), details))
    } else {
        None
    };
    Ok((ticket, path))
}

/// `lifeboat drill --cleanup RUN_ID`: removes what the ledger says an interrupted live drill
/// created. `connect` is called once the ledger is found (no connection for a drill without one).
pub async fn execute_cleanup(
    state_dir: &Path,
    run_id: &str,
    connect: impl FnOnce() -> Result<ArmClient, UserError>,
) -> anyhow::Result<Exit> {
    crate::engine::runner::validate_run_id(run_id).map_err(UserError::from)?;
    let dir = super::history::drills_dir(state_dir).join(run_id);
    if !dir.join(cleanup::LEDGER_FILE).is_file() {
        return Err(UserError::usage(format!("drill {run_id} has no cleanup ledger"))
            .with_hint(format!("only live drills keep one, under {}", dir.display()))
            .into());
    }
    let ledger = Ledger::open(&dir)
        .map_err(|e| UserError::failed("cannot open the ledger").with_source(e))?;
    let client = Arc::new(connect()?);
    let production = ledger
        .production()
        .map_err(|e| UserError::failed("cannot read the ledger").with_source(e))?;
    let guard =
        production.as_deref().and_then(|p| ResourceId::parse(p).ok()).map(|p| WriteGuard::new(&p));
    let items = cleanup::cleanup(&ledger, &client, guard.as_ref())
        .await
        .map_err(|e| UserError::failed("cannot read the cleanup ledger").with_source(e))?;
    if items.is_empty() {
        println!("drill {run_id}: nothing left to clean up");
    }
    for i in &items {
        println!("{:<14} {}", i.result, i.id);
    }
    Ok(if items.iter().all(|i| i.ok()) { Exit::Ok } else { Exit::Failed })
}
