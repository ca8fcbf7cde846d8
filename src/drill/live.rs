//! The live drill (`--live --connector ID --drill-region R`): seed 000's rehearsal, "simulate a
//! lost connector by creating a second connector and following the support steps", against real
//! Azure (or `--arm-endpoint`), through the region-outage runbook itself.
//!
//! Sequence ([`execute_live`]): the production connector is read (it must exist, be a DevOps
//! connector and live in another region than the drill's: bad input exits 2 with nothing
//! written), backed up into a store of this drill (reads only), then the built-in region-outage
//! runbook runs as a real run (`<state-dir>/runs/<run-id>`, a journal `audit verify` and `audit
//! export` read) with `drill=true`: discovery and backup loading as in a recovery, a second
//! connector `<name>-drill-<hash>` with production's scope in the drill region (discovery off),
//! the support request drafted (marked DRILL) and attested by the drill instead of filed (filed
//! only with `--submit-ticket`), the settings the second connector can take reapplied and
//! verified, and what the drill created removed by the runbook's `drill.cleanup` step. Microsoft's
//! release, promote, the region wait and the deletion of the old connector are skipped (the plan
//! shows them skipped) and the report lists them as not rehearsed.
//!
//! Safety, below the steps: the run's Azure client carries a [`WriteHook`] ([`DrillHook`]) that
//! every non-read request passes before it is sent: the [`WriteGuard`] refuses the production
//! connector and its children, and every creation (resource group, connector, support ticket) is
//! written to the cleanup ledger (fsync'd) before its PUT, so `lifeboat drill --cleanup RUN_ID`
//! removes what an interrupted drill left. The report proves it from the journal: every write
//! effect with its target, checked against the production connector's ID, and the writes the
//! client sent that no effect records. The hidden failpoint `LIFEBOAT_DRILL_FAILPOINT=<point>`
//! aborts the process at a named point (tests of the cleanup).

use super::cleanup::{self, CreatedKind, Ledger, LedgerLine, WriteGuard};
use super::report::{
    self, ApiCounts, ApiStats, DrillReport, LedgerCleanup, LiveEvidence, Mode, NotRecreated,
    NotRehearsed, Outage, Recovery, Rpo, Rto, Scenario, Verdict, Verification, WriteEffect,
};
use crate::azure::{ArmClient, ResourceId, WriteHook};
use crate::backup::{self, CreateOptions, Keys, Scope, Store};
use crate::clock::{Clock, SystemClock};
use crate::engine::kind::Services;
use crate::engine::runner::{self, RunObserver, RunOptions, RunOutcome, TimeMode};
use crate::engine::{Actor, Blocker, Engine, Event, InstanceView, Phase};
use crate::error::{Exit, UserError};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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

/// The parameters of the region-outage runbook a live drill may set with `--set`: the support
/// ticket's contact and severity (for `--submit-ticket`). Everything else is the drill's.
pub const SETTABLE: &[&str] = &[
    "contact_first_name",
    "contact_last_name",
    "contact_email",
    "contact_country",
    "contact_time_zone",
    "contact_language",
    "severity",
];

/// What the live drill is asked to do, as given (the CLI's `--live` flags, or another caller).
#[derive(Debug, Clone, Default)]
pub struct LiveDrillRequest {
    /// The production connector's resource ID (never written to).
    pub connector: String,
    /// The region the drill's second connector is created in.
    pub drill_region: String,
    /// A file with an OAuth authorization code for the drill connector's DevOps configuration
    /// (without it, the authorization and the configuration are not rehearsed: PARTIAL).
    pub authorization_code_file: Option<PathBuf>,
    /// File the drafted support request (by default it is only drafted, and attested).
    pub submit_ticket: bool,
    /// `--set KEY=VALUE` of [`SETTABLE`] parameters.
    pub sets: Vec<(String, String)>,
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
    sets: Vec<(String, String)>,
    pub rto_target: Option<Duration>,
    pub rpo_target: Option<Duration>,
    /// The drill's stores on Azure Blob (its run store) and the placement flags: checked
    /// against the production connector's region before anything is written
    /// (`steps::store_placement`).
    pub stores: crate::steps::store_placement::StoreCheck,
    /// `--run-store az://...`: the drill's run is recorded there (`crate::drill::shared`).
    pub run_store: Option<crate::runstore::BlobStore>,
}

impl LiveDrillOptions {
    /// The drill's run recorded on `store` (`--run-store az://...`).
    pub fn with_run_store(self, store: Option<crate::runstore::BlobStore>) -> LiveDrillOptions {
        LiveDrillOptions { run_store: store, ..self }
    }
}

impl LiveDrillRequest {
    /// Checks every input that needs no Azure (the connector ID, the drill region, the code
    /// file, `--set`) before anything is read or written: bad input is a usage error (exit 2).
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
        for (k, _) in &self.sets {
            if !SETTABLE.contains(&k.as_str()) {
                return Err(UserError::usage(format!(
                    "--set {k}: a live drill sets only the support ticket's contact and severity"
                ))
                .with_hint(format!("settable: {}", SETTABLE.join(", "))));
            }
        }
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
                if let Some(why) = crate::redact::weakness(&c) {
                    return Err(UserError::usage(format!(
                        "--authorization-code-file {}: the code {why}",
                        p.display()
                    ))
                    .with_hint("copy the whole code from the Azure portal"));
                }
                crate::redact::register_str(&c);
                Some(c)
            }
        };
        Ok(LiveDrillOptions {
            production: prod,
            drill_region,
            authorization_code: code,
            submit_ticket: self.submit_ticket,
            sets: self.sets.clone(),
            rto_target: self.rto_target,
            rpo_target: self.rpo_target,
            run_store: None,
            stores: Default::default(),
        })
    }
}

/// The drill connector's name (the step names it; here for callers and tests).
pub fn drill_connector_name(production: &str, run_id: &str) -> String {
    crate::steps::connector::drill_connector_name(production, run_id)
}

/// The production connector as read before anything is written.
struct Production {
    id: ResourceId,
    region: String,
}

/// Reads the production connector (reads only) and checks it against the drill's inputs: it
/// exists, is a DevOps connector (Azure DevOps, GitHub, GitLab), and its region is not the drill
/// region. Bad input is a usage error (exit 2) with nothing written.
async fn inspect_production(
    client: &ArmClient,
    opts: &LiveDrillOptions,
) -> Result<Production, UserError> {
    let id = &opts.production;
    let c = match client.get_connector(id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            return Err(UserError::usage(format!(
                "--connector {id}: there is no such connector (Azure answered 404)"
            ))
            .with_hint("`lifeboat connectors list` shows the DevOps connectors and their IDs"))
        }
        Err(e) => return Err(crate::azure::user_error(e)),
    };
    let v = serde_json::to_value(&c).unwrap_or(Value::Null);
    let env = v.pointer("/properties/environmentName").and_then(Value::as_str).unwrap_or("");
    if !["AzureDevOps", "Github", "GitLab"].iter().any(|e| e.eq_ignore_ascii_case(env)) {
        return Err(UserError::usage(format!(
            "--connector {id} is a{} connector, not a DevOps one (Azure DevOps, GitHub or GitLab): there is nothing for the region-outage recovery to rehearse",
            if env.is_empty() { "n unknown".to_string() } else { format!(" {env}") }
        ))
        .with_hint("`lifeboat connectors list` shows the DevOps connectors"));
    }
    let region = crate::text::normalize_region(c.location.as_deref().unwrap_or(""));
    if region == opts.drill_region {
        return Err(UserError::usage(format!(
            "--drill-region {} is the production connector's own region: a recovery goes to another region, and so does its rehearsal",
            opts.drill_region
        ))
        .with_hint("choose another --drill-region where DevOps security is available (e.g. the one you would recover into)"));
    }
    Ok(Production { id: id.clone(), region })
}

/// The live drill's guard below the steps: every non-read request of the run's client passes
/// here before it is sent (see the module doc).
struct DrillHook {
    guard: WriteGuard,
    ledger: Ledger,
    /// `METHOD target: why` of every write refused.
    refused: Mutex<Vec<String>>,
    /// `(METHOD, resource)` of every PUT, PATCH and DELETE let through.
    sent: Mutex<Vec<(String, String)>>,
}

impl DrillHook {
    /// The ledger line of a creation: a PUT of a resource group, a connector or a support
    /// ticket (children go with their connector).
    fn creation(path: &str) -> Option<LedgerLine> {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let l: Vec<&str> = lower.iter().map(String::as_str).collect();
        match l.as_slice() {
            ["subscriptions", _, "resourcegroups", _] => Some(LedgerLine::Intent {
                kind: CreatedKind::ResourceGroup,
                id: format!("/subscriptions/{}/resourceGroups/{}", segs[1], segs[3]),
                subscription: Some(segs[1].to_string()),
                name: segs[3].to_string(),
            }),
            ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.security", "securityconnectors", _] => {
                Some(LedgerLine::Intent {
                    kind: CreatedKind::Connector,
                    id: ResourceId::connector(segs[1], segs[3], segs[7]).to_string(),
                    subscription: None,
                    name: segs[7].to_string(),
                })
            }
            ["subscriptions", _, "providers", "microsoft.support", "supporttickets", _] => {
                Some(LedgerLine::Intent {
                    kind: CreatedKind::SupportTicket,
                    id: format!("/{}", segs.join("/")),
                    subscription: Some(segs[1].to_string()),
                    name: segs[5].to_string(),
                })
            }
            _ => None,
        }
    }
}

impl WriteHook for DrillHook {
    fn before_write(&self, method: &str, resource: &str, path: &str) -> Result<(), String> {
        for target in [resource, path] {
            if let Err(why) = self.guard.check(target) {
                self.refused
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("{method} {target}"));
                return Err(format!("lifeboat drill --live write guard: {why}"));
            }
        }
        if method == "PUT" {
            if let Some(line) = Self::creation(path) {
                let connector =
                    matches!(&line, LedgerLine::Intent { kind: CreatedKind::Connector, .. });
                self.ledger.append(&line).map_err(|e| {
                    format!(
                        "cannot write the cleanup ledger {} first, so nothing is created: {e}",
                        self.ledger.path().display()
                    )
                })?;
                if connector {
                    failpoint("before-create-connector");
                }
            }
        }
        if matches!(method, "PUT" | "PATCH" | "DELETE") {
            self.sent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((method.to_string(), resource.to_string()));
        }
        Ok(())
    }
}

/// The failpoints after a step (tests of the cleanup): once its success is journaled.
#[derive(Debug)]
struct Failpoints;

impl RunObserver for Failpoints {
    fn journaled(&self, _engine: &Engine, events: &[Event], _now: OffsetDateTime) {
        for e in events {
            if let Event::StepSucceeded { step, .. } = e {
                match step.as_str() {
                    "create-or-adopt-connector" => failpoint("after-create-connector"),
                    "reapply-settings" => failpoint("after-reapply-settings"),
                    _ => {}
                }
            }
        }
    }
}

/// Removes the drill's OAuth code file however the drill ends: it holds a secret.
struct SecretFile(PathBuf);

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// A live drill as it ended: the report, and the run it left (`runs list`, `status`, `audit`).
#[derive(Debug)]
pub struct LiveOutcome {
    pub report: DrillReport,
    pub run_dir: Option<PathBuf>,
}

/// Runs the live drill (inputs validated by [`LiveDrillRequest::validate`], `client` connected
/// by the caller) and returns its report. Errors are bad input (exit 2, nothing written) or
/// failures of the drill itself; a failed rehearsal is a report with a failing verdict.
pub async fn execute_live(
    opts: &LiveDrillOptions,
    client: ArmClient,
    state_dir: &Path,
    run_id: &str,
) -> Result<LiveOutcome, UserError> {
    let real_start = std::time::Instant::now();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let started_at = clock.now();
    // 1. Production, read and checked: bad input leaves nothing behind.
    let prod = inspect_production(&client, opts).await?;
    // Where the drill's state lives: a run store in the production connector's region (the
    // region the drill plays failed) is refused, as `lifeboat run` refuses it.
    let mut header = serde_json::Map::new();
    if !opts.stores.stores.is_empty() {
        let placed =
            crate::steps::store_placement::check(Some(&client), &prod.region, &opts.stores).await?;
        for w in &placed.warnings {
            crate::say_err!("warning: {w}");
        }
        placed.add_to_header(&mut header);
    }

    // 2. The drill's directory, its ledger, and a backup of production (reads only).
    let drill_dir = super::history::drills_dir(state_dir).join(run_id);
    let ledger = Ledger::open(&drill_dir)
        .map_err(|e| UserError::failed("cannot create the cleanup ledger").with_source(e))?;
    ledger
        .append(&LedgerLine::Production { id: prod.id.to_string() })
        .map_err(|e| UserError::failed("cannot write the cleanup ledger").with_source(e))?;
    crate::say_err!("· backing up the production connector {}", prod.id);
    let store_dir = drill_dir.join("backups");
    let store = Arc::new(Store::open(&store_dir.to_string_lossy(), Keys::default())?);
    let reader = crate::backup::arm_reader::ArmReader::new(client.clone());
    let scope = Scope {
        subscriptions: vec![prod.id.subscription.clone()],
        connectors: vec![prod.id.to_string()],
    };
    let summary = backup::collect(
        &reader,
        &store,
        CreateOptions {
            scope,
            now: clock.now(),
            rules: backup::AnomalyRules::default(),
            immutable: false,
        },
    )
    .await
    .map_err(|e| {
        UserError::failed("the backup of the production connector failed").with_source(e)
    })?;
    let info = backup::snapshot::find_snapshot(&store, &summary.id).await?;
    let manifest = backup::snapshot::load_manifest(&store, &info).await?;
    let conn_hash = manifest
        .resources
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(&prod.id.to_string()))
        .map(|(_, e)| e.hash.clone());
    let prod_body = match conn_hash {
        Some(h) => backup::snapshot::load_object(&store, &h).await?,
        None => {
            let _ = std::fs::remove_dir_all(&drill_dir);
            return Err(UserError::usage(format!(
                "connector {} is not in the backup of its subscription (is it a DevOps connector lifeboat can read?)",
                prod.id
            ))
            .with_hint("`lifeboat connectors list` shows the DevOps connectors"));
        }
    };
    let devops_body = match manifest
        .resources
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(&prod.id.devops().to_string()))
    {
        Some((_, e)) => Some(backup::snapshot::load_object(&store, &e.hash).await?),
        None => None,
    };

    // 3. The runbook, in drill mode, with the drill's parameters.
    let codes = SecretFile(drill_dir.join("authorization-codes"));
    if let Some(code) = &opts.authorization_code {
        write_secret(&codes.0, &format!("{} {code}\n", prod.id.name())).map_err(|e| {
            UserError::failed("cannot write the authorization codes file").with_source(e)
        })?;
    }
    let b = crate::runbook::builtin::region_outage();
    let mut sets: Vec<(String, String)> = vec![
        ("drill".into(), "true".into()),
        ("failed_region".into(), prod.region.clone()),
        ("target_region".into(), opts.drill_region.clone()),
        ("subscriptions".into(), prod.id.subscription.clone()),
        ("connectors".into(), prod.id.to_string()),
        ("backup".into(), summary.id.clone()),
        ("adopt_existing".into(), "false".into()),
        ("submit_ticket".into(), opts.submit_ticket.to_string()),
        ("severity".into(), "minimal".into()),
        (
            "authorization_codes".into(),
            if opts.authorization_code.is_some() {
                codes.0.to_string_lossy().into_owned()
            } else {
                String::new()
            },
        ),
    ];
    for (k, v) in &opts.sets {
        sets.retain(|(s, _)| s != k);
        sets.push((k.clone(), v.clone()));
    }
    let plan = crate::runbook::load_str(&b.display_path(), b.source, &sets).map_err(|e| {
        UserError::failed("the built-in region-outage runbook refused the live drill's parameters")
            .with_source(anyhow::anyhow!("{e}"))
    })?;

    // 4. The run's client: every write passes the guard and the ledger first.
    let guard = WriteGuard::new(&prod.id);
    let hook = Arc::new(DrillHook {
        guard: guard.clone(),
        ledger: Ledger::open(&drill_dir)
            .map_err(|e| UserError::failed("cannot open the cleanup ledger").with_source(e))?,
        refused: Mutex::default(),
        sent: Mutex::default(),
    });
    let guarded = Arc::new(client.with_write_hook(hook.clone()));
    let registry = crate::steps::registry();
    let mut services = Services::new();
    services.insert(guarded.clone());
    services.insert(store.clone());
    services
        .insert(Arc::new(crate::steps::services::LiveDrill { production: prod.id.to_string() }));
    // The checks `lifeboat run` makes first (reads only): bad input exits 2, nothing created.
    if let Err(e) = crate::steps::recovery::preflight(
        &plan,
        &registry,
        Arc::new(services.clone()),
        clock.clone(),
    )
    .await
    {
        let _ = std::fs::remove_dir_all(&drill_dir);
        return Err(e);
    }

    // 5. The run, on the wall clock (no simulated time: `runner::entry_time` journals the wall
    // clock alone). Its start and every answer are the person's or pipeline's that ran the
    // drill, `via: drill`, with the principal of the client's token (asked at each action).
    let me = Actor::current();
    let actor = super::simulated::acting_for(&me, &client);
    let seed = rand::random::<u64>();
    let store = opts.run_store.as_ref();
    let runs_root = crate::drill::shared::runs_root(state_dir, store);
    let run_dir = runner::create_run_with(
        &runs_root,
        &plan,
        run_id,
        runner::entry_time(&*clock),
        &actor,
        seed,
        header,
    )
    .map_err(UserError::from)?;
    let injected_at = clock.now();
    services.insert(Arc::new(crate::steps::services::RunDir(run_dir.clone())));
    let shared = match store {
        Some(s) => Some(
            crate::drill::shared::publish(s, run_id, &run_dir, clock.now(), &mut services).await?,
        ),
        None => None,
    };
    let services = Arc::new(services);
    crate::say_err!(
        "· running the region-outage runbook in drill mode as run {run_id} (`lifeboat status {run_id}`)"
    );
    let options = RunOptions {
        actor: actor.clone(),
        time: TimeMode::Real,
        wait_until: None,
        secret_params: runner::secret_params_of(&plan),
        observer: Some(Arc::new(Failpoints)),
        inbox: shared.as_ref().map(|s| s.inbox.clone()),
        ..RunOptions::default()
    };
    let outcome = loop {
        let outcome = runner::drive(&run_dir, &registry, services.clone(), clock.clone(), &options)
            .await
            .map_err(UserError::from)?;
        let RunOutcome::Paused { blockers } = &outcome else { break outcome };
        let views = runner::load(&run_dir, &registry).map_err(UserError::from)?.engine.snapshot();
        let actor = super::simulated::acting_for(&me, &client);
        if !answer(&run_dir, &registry, &views, blockers, &actor, &*clock)? {
            break outcome;
        }
    };
    drop(codes);
    // The run's lease is released; the run stays on the run store.
    drop(shared);
    let sent_in_run = hook.sent.lock().unwrap_or_else(|p| p.into_inner()).clone();

    // 6. Whatever the run did not remove, the ledger does (nothing, when the run's cleanup ran).
    crate::say_err!("· removing what the drill created (cleanup ledger)");
    let cleaned = cleanup::cleanup(&ledger, &guarded, Some(&guard), run_id)
        .await
        .map_err(|e| UserError::failed("cannot read the cleanup ledger").with_source(e))?;
    let refused = hook.refused.lock().unwrap_or_else(|p| p.into_inner()).clone();

    // 7. The report, from the journal.
    let ctx = Concluded {
        opts,
        prod: &prod,
        run_id,
        run_dir: &run_dir,
        started_at,
        injected_at,
        real_start,
        snapshot: (&summary.id, manifest.time),
        outcome: &outcome,
    };
    let report = conclude(
        &ctx,
        &client,
        &registry,
        (&prod_body, devops_body.as_ref()),
        &sent_in_run,
        refused,
        &cleaned,
    )
    .await?;
    Ok(LiveOutcome { report, run_dir: Some(run_dir) })
}

/// Answers what the paused run waits for, standing in for the person running the drill (`actor`,
/// `via: drill`): the approval to file the ticket (only asked with `--submit-ticket`) and the drill attestation
/// that replaces filing it. `false` when there was nothing it may answer.
fn answer(
    run_dir: &Path,
    registry: &crate::engine::kind::Registry,
    views: &[InstanceView],
    blockers: &[Blocker],
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<bool, UserError> {
    let mut acted = false;
    for b in blockers.iter().filter(|b| !b.interrupted) {
        let event = match (b.phase, b.step.as_str()) {
            (Phase::AwaitingApproval, "approve-submission") => Event::Approved {
                step: b.step.clone(),
                branch: b.branch,
                by: actor.clone(),
                comment: Some(
                    "granted by lifeboat drill --live --submit-ticket: the drafted DRILL request is filed"
                        .into(),
                ),
            },
            (Phase::AwaitingAttestation, "attest-drill-request") => {
                let drafted = views
                    .iter()
                    .find(|v| v.step == "draft-support-request" && v.branch == b.branch)
                    .and_then(|v| v.instance.as_ref()?.outputs.as_ref()?.get("markdown_path").cloned())
                    .and_then(|p| p.as_str().map(str::to_string))
                    .unwrap_or_else(|| "the run's support/ directory".into());
                Event::Attested {
                    step: b.step.clone(),
                    branch: b.branch,
                    by: actor.clone(),
                    evidence: format!(
                        "drill attestation (lifeboat drill --live): the support request was drafted ({drafted}) and not filed; Microsoft's release is not rehearsed"
                    ),
                }
            }
            _ => continue,
        };
        runner::apply_manual(run_dir, registry, event, runner::entry_time(clock))
            .map_err(UserError::from)?;
        acted = true;
    }
    Ok(acted)
}

/// What [`conclude`] reads of the drill.
struct Concluded<'a> {
    opts: &'a LiveDrillOptions,
    prod: &'a Production,
    run_id: &'a str,
    run_dir: &'a Path,
    started_at: OffsetDateTime,
    injected_at: OffsetDateTime,
    real_start: std::time::Instant,
    snapshot: (&'a str, OffsetDateTime),
    outcome: &'a RunOutcome,
}

/// Methods of journaled effects that change something in Azure.
const WRITE_METHODS: &[&str] = &["PUT", "PATCH", "DELETE", "POST"];

/// What a step the drill skips by its `when` leaves unrehearsed (step id, what, why).
const SKIPPED: &[(&str, &str, &str)] = &[
    ("file-support-request", "filing the support request with Microsoft (in the portal or through the Support API)", "replaced by the drill attestation (attest-drill-request): the drafted request is kept for the record, not filed (--submit-ticket files it)"),
    ("wait-for-release", "Microsoft support's release of the orgs, owners and groups to the new connector, and the wait for it", "a drill asks for no release: it would move production's DevOps resources"),
    ("check-microsoft-side", "Microsoft's recreation of the DevOps recommendations and alerts for the new connector", "follows the release, which a drill does not ask for"),
    ("promote-new-connector", "making the new connector primary", "the drill's connector replaces nothing"),
    ("wait-for-region-recovery", "the wait for the failed region", "no region is down in a drill"),
    ("delete-old-connector", "deleting the old connector", "the old connector is production: a drill never deletes it"),
];

async fn conclude(
    c: &Concluded<'_>,
    client: &ArmClient,
    registry: &crate::engine::kind::Registry,
    (prod_body, devops_body): (&Value, Option<&Value>),
    sent_in_run: &[(String, String)],
    refused: Vec<String>,
    cleaned: &[cleanup::CleanupItem],
) -> Result<DrillReport, UserError> {
    let clock = SystemClock;
    let views = runner::load(c.run_dir, registry).map_err(UserError::from)?.engine.snapshot();
    let record =
        crate::audit::load(&c.run_dir.join(crate::journal::JOURNAL_FILE)).map_err(|e| {
            UserError::failed(format!("cannot read the run's journal in {}", c.run_dir.display()))
                .with_source(e)
        })?;
    let outputs = |step: &str| -> Vec<(&InstanceView, serde_json::Map<String, Value>)> {
        views
            .iter()
            .filter(|v| v.step == step)
            .filter_map(|v| Some((v, v.instance.as_ref()?.outputs.clone()?)))
            .collect()
    };
    let succeeded = |step: &str| {
        let all: Vec<&InstanceView> = views.iter().filter(|v| v.step == step).collect();
        !all.is_empty()
            && all
                .iter()
                .all(|v| v.instance.as_ref().is_some_and(|i| i.state.phase() == Phase::Succeeded))
    };

    // Every write the run journaled, and the writes the client sent that none records.
    let writes: Vec<WriteEffect> = record
        .effects
        .iter()
        .filter(|e| {
            e.method
                .as_deref()
                .is_some_and(|m| WRITE_METHODS.iter().any(|w| w.eq_ignore_ascii_case(m)))
        })
        .map(|e| WriteEffect {
            step: e.step.clone().unwrap_or_default(),
            method: e.method.clone().unwrap_or_default(),
            target: e.resource.clone().unwrap_or_default(),
            status: e.http_status,
            to_production: false,
        })
        .collect();
    let recorded: BTreeSet<(String, String)> = writes
        .iter()
        .map(|w| (w.method.to_ascii_uppercase(), w.target.to_ascii_lowercase()))
        .collect();
    let unrecorded: Vec<String> = sent_in_run
        .iter()
        .filter(|(m, r)| !recorded.contains(&(m.to_ascii_uppercase(), r.to_ascii_lowercase())))
        .map(|(m, r)| format!("{m} {r}"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    // What was not rehearsed: the steps the drill skips, and what its steps said.
    let mut not_rehearsed: Vec<NotRehearsed> = Vec::new();
    let mut push = |n: NotRehearsed| {
        if !not_rehearsed.iter().any(|x| x.what == n.what) {
            not_rehearsed.push(n);
        }
    };
    for (step, what, why) in SKIPPED {
        if *step == "file-support-request" && c.opts.submit_ticket {
            continue;
        }
        let skipped = views.iter().any(|v| {
            v.step == *step
                && v.instance.as_ref().is_some_and(|i| i.state.phase() == Phase::Skipped)
        });
        if skipped {
            push(NotRehearsed { what: (*what).into(), why: (*why).into(), by_design: true });
        }
    }
    for (_, o) in outputs("create-or-adopt-connector") {
        if o.get("authorized") == Some(&json!(false)) {
            push(NotRehearsed {
                what: "the authorization of the drill connector with an OAuth code".into(),
                why:
                    "no --authorization-code-file: a drill has nobody to authorize it in the portal"
                        .into(),
                by_design: false,
            });
        }
    }
    for step in ["reapply-settings", "verify"] {
        for (_, o) in outputs(step) {
            for n in o.get("not_rehearsed").and_then(Value::as_array).into_iter().flatten() {
                push(NotRehearsed {
                    what: n["what"].as_str().unwrap_or_default().to_string(),
                    why: n["reason"].as_str().unwrap_or_default().to_string(),
                    by_design: n.get("by_design").and_then(Value::as_bool).unwrap_or(true),
                });
            }
        }
    }

    // Verifications: the runbook's own verify of the drill connector, production untouched,
    // the drill's resources gone.
    let drill_connector: Option<String> = outputs("create-or-adopt-connector")
        .into_iter()
        .find_map(|(_, o)| o.get("new_resource_id").and_then(Value::as_str).map(String::from));
    let mut verifications = Vec::new();
    let verified_step = succeeded("verify");
    let verify_end = views
        .iter()
        .filter(|v| v.step == "verify")
        .filter_map(|v| v.instance.as_ref()?.finished)
        .max();
    verifications.push(match outputs("verify").into_iter().next() {
        Some((_, o)) if verified_step => Verification {
            name: "drill connector matches the backup (what it can take)".into(),
            resource_id: drill_connector.clone(),
            passed: true,
            expected: Some("as backed up".into()),
            actual: Some("as backed up".into()),
            detail: format!(
                "devops.verify compared {} field(s) of {} resource(s) with the backup",
                o.get("checked").cloned().unwrap_or(json!(0)),
                o.get("resources_checked").cloned().unwrap_or(json!(0))
            ),
        },
        _ => Verification {
            name: "drill connector matches the backup (what it can take)".into(),
            resource_id: drill_connector.clone(),
            passed: false,
            expected: Some("as backed up".into()),
            actual: None,
            detail: views
                .iter()
                .find(|v| v.step == "verify")
                .and_then(|v| v.instance.as_ref()?.error.clone())
                .unwrap_or_else(|| "the runbook's verify step did not run to success".into()),
        },
    });
    verifications.extend(verify_production(client, &c.prod.id, prod_body, devops_body).await);
    if let Some(d) = drill_connector.as_deref().and_then(|d| ResourceId::parse(d).ok()) {
        let gone = matches!(client.get_connector(&d).await, Err(e) if e.is_not_found());
        verifications.push(Verification {
            name: "drill connector removed".into(),
            resource_id: Some(d.to_string()),
            passed: gone,
            expected: Some("absent".into()),
            actual: Some(if gone { "absent" } else { "still there" }.into()),
            detail: if gone {
                "the drill left no connector behind".into()
            } else {
                format!("remove it with `lifeboat drill --cleanup {}`", c.run_id)
            },
        });
    }

    let ledger_cleanup: Vec<LedgerCleanup> = cleaned
        .iter()
        .filter(|i| i.result != "already gone")
        .map(|i| LedgerCleanup { resource: i.id.clone(), result: i.result.clone(), ok: i.ok() })
        .collect();
    let gaps = not_rehearsed.iter().any(|n| !n.by_design);
    let verified = verified_step && !gaps;
    let finished_at = clock.now();
    let mut r = DrillReport {
        schema: report::SCHEMA_ID.into(),
        run_id: c.run_id.to_string(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        scenario: Scenario::RegionOutage,
        mode: Mode::Live,
        tenant: c.prod.id.subscription.clone(),
        started_at: c.started_at,
        finished_at,
        wall_clock_seconds: (c.real_start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        outage: Outage { region: c.prod.region.clone(), injected_at: c.injected_at },
        target_region: c.opts.drill_region.clone(),
        recovery: Recovery { verified, verified_at: if verified { verify_end } else { None } },
        rto: Rto {
            target_seconds: c.opts.rto_target.map(|d| d.as_secs_f64()),
            measured_source: Some(
                "the region-outage runbook's steps and Azure calls against Azure, on the drill connector (the support request is drafted, not waited for)".into(),
            ),
            ..Rto::default()
        },
        rpo: Rpo {
            backup_id: Some(c.snapshot.0.to_string()),
            backup_taken_at: Some(c.snapshot.1),
            target_seconds: c.opts.rpo_target.map(|d| d.as_secs_f64()),
            basis: Some(report::Basis {
                kind: report::BasisKind::Measured,
                source: "the age of the backup the live drill took of the production connector at its start".into(),
            }),
            ..Rpo::default()
        },
        api: api_stats(&client.call_log()),
        steps: super::simulated::step_records(&views, finished_at),
        verifications,
        detected: Vec::new(),
        not_recreated_by_microsoft: NotRecreated::documented(),
        verdict: Verdict::default(),
        // A live drill runs on the wall clock: its timeline is its wall clock.
        wall_clock: Some(report::WallClock { started_at: c.started_at, finished_at }),
        assumptions: Vec::new(),
        live: Some(LiveEvidence {
            production: c.prod.id.to_string(),
            drill_connector,
            writes,
            writes_to_production: 0,
            refused_by_guard: refused,
            unrecorded_writes: unrecorded,
            not_rehearsed,
            ledger_cleanup,
        }),
        resources: None,
    };
    r.compute_verdict();
    if !matches!(c.outcome, RunOutcome::Succeeded) {
        let why = match c.outcome {
            RunOutcome::Failed { blockers } => format!(
                "the run failed: {}",
                blockers
                    .iter()
                    .filter(|b| b.phase == Phase::Failed)
                    .map(|b| format!("{} ({})", b.name(), b.message.as_deref().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            other => format!(
                "the run stopped before its end (exit {}): see `lifeboat status {}`",
                other.exit().code(),
                c.run_id
            ),
        };
        r.verdict.passed = false;
        r.verdict.partial = false;
        r.verdict.reasons.insert(0, why);
    }
    Ok(r)
}

/// Azure calls of the drill (its client's call log: the backup, the run, the cleanup).
fn api_stats(calls: &[crate::azure::CallRecord]) -> ApiStats {
    let mut api = ApiStats::default();
    for c in calls {
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
    api
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
        l.get("properties") == body.get("properties")
            && l.get("location") == body.get("location")
            && l.get("tags") == body.get("tags")
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
    let items = cleanup::cleanup(&ledger, &client, guard.as_ref(), run_id)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::{AuthMode, AzureError, CloudName, ConnectOptions};

    const PROD: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado";

    fn hook(dir: &Path) -> DrillHook {
        let prod = ResourceId::parse(PROD).unwrap();
        DrillHook {
            guard: WriteGuard::new(&prod),
            ledger: Ledger::open(dir).unwrap(),
            refused: Mutex::default(),
            sent: Mutex::default(),
        }
    }

    #[test]
    fn the_hook_refuses_production_and_ledgers_each_creation_before_it_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let h = hook(dir.path());
        let drill = "/subscriptions/s/resourceGroups/rg-neu/providers/Microsoft.Security/securityConnectors/ado-drill-1";
        for (m, target) in [
            ("PUT", format!("{PROD}/devops/default")),
            ("PATCH", PROD.to_string()),
            ("DELETE", format!("{PROD}/devops/default/azureDevOpsOrgs/contoso")),
            ("POST", format!("{PROD}/devops/default/listAvailableAzureDevOpsOrgs")),
        ] {
            assert!(h.before_write(m, &target, &target).is_err(), "{m} {target}");
        }
        // The resource names a harmless path, the URL production: refused all the same.
        assert!(h.before_write("PUT", drill, PROD).is_err());
        assert_eq!(h.refused.lock().unwrap().len(), 5);
        for (m, target) in [
            ("PUT", "/subscriptions/s/resourceGroups/rg-neu".to_string()),
            ("PUT", drill.to_string()),
            ("PUT", format!("{drill}/devops/default")),
            (
                "PUT",
                "/subscriptions/s/providers/Microsoft.Support/supportTickets/lifeboat-1".into(),
            ),
            ("DELETE", drill.to_string()),
        ] {
            h.before_write(m, &target, &target).unwrap();
        }
        let kinds: Vec<(CreatedKind, String)> = h
            .ledger
            .read()
            .unwrap()
            .into_iter()
            .filter_map(|l| match l {
                LedgerLine::Intent { kind, id, .. } => Some((kind, id)),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (CreatedKind::ResourceGroup, "/subscriptions/s/resourceGroups/rg-neu".to_string()),
                (CreatedKind::Connector, drill.to_string()),
                (
                    CreatedKind::SupportTicket,
                    "/subscriptions/s/providers/Microsoft.Support/supportTickets/lifeboat-1".into()
                ),
            ]
        );
        assert_eq!(h.sent.lock().unwrap().len(), 5);
    }

    #[tokio::test]
    async fn a_write_to_production_through_the_drill_client_is_refused_before_it_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens there: a request that left the client would fail as a transport error.
        let conn = crate::azure::connect_with(
            &ConnectOptions {
                arm_endpoint: Some("http://127.0.0.1:9".into()),
                auth: AuthMode::None,
                cloud: CloudName::Public,
            },
            &std::collections::HashMap::new(),
            Arc::new(crate::azure::timer::VirtualTimer::new()),
            None,
        )
        .unwrap();
        let client = conn.client.with_write_hook(Arc::new(hook(dir.path())));
        let prod = ResourceId::parse(PROD).unwrap();
        let e = client.put_devops_configuration(&prod, &Default::default()).await.unwrap_err();
        assert!(matches!(e, AzureError::WriteRefused { .. }), "{e:?}");
        assert!(e.to_string().contains("write guard"), "{e}");
        let e = client.delete_connector(&prod).await.unwrap_err();
        assert!(matches!(e, AzureError::WriteRefused { .. }), "{e:?}");
        assert!(client.call_log().is_empty(), "nothing was sent");
    }
}
