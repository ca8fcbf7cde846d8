//! The simulated drill: a complete region outage rehearsed against the embedded simulator.
//!
//! Sequence ([`run`]): start the simulator (frozen clock: simulated time moves only when the drill
//! or a client wait moves it), back up every DevOps connector into a drill-scoped store, let a
//! simulated day pass, fail the region, run the region-outage runbook through the library runner
//! (approvals granted by the drill as actor `drill`, OAuth codes minted by the simulator into a
//! short-lived file, the support ticket submitted to the simulated desk), restore the region
//! when the runbook waits for it, check independently that every backed-up setting is live on the
//! new connectors, and build the [`DrillReport`].
//!
//! Time: one clock for everything. The runner's clock, the step kinds' clock and the ARM client's
//! timer all read the simulator's clock; a client sleep (retry, `Retry-After`, long-running
//! operation poll) *advances* it instead of sleeping, and when the run sleeps on a durable timer
//! the drill advances the simulator to that timer. A simulated week takes milliseconds.

use super::report::{
    self, ApiCounts, ApiStats, Detection, DrillReport, Mode, NotRecreated, Outage, Recovery, Rpo,
    Rto, Scenario, StepRecord, StepResult, Verdict, Verification, WaitedOn,
};
use super::scenario;
use crate::azure::timer::Timer;
use crate::azure::ConnectOptions;
use crate::backup::{self, CreateOptions, Keys, Manifest, ResourceKind, Scope, Store};
use crate::cli::{AuthMode, CloudName};
use crate::clock::Clock;
use crate::engine::replay::Watcher;
use crate::engine::runner::{self, RunOptions, RunOutcome, TimeMode};
use crate::engine::{Actor, Event, InstanceView, Phase, State};
use crate::error::UserError;
use crate::sim::model::{item_key, Cloud, Env};
use crate::sim::{RunningSim, Shared, SimConfig, TenantSource};
use crate::steps::services::RunDir;
use crate::steps::{Registry, Services};
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The region-outage runbook, embedded so `lifeboat drill` works from any directory.
pub const REGION_OUTAGE_RUNBOOK: &str = include_str!("../../runbooks/region-outage.yaml");

/// The recovery target of the `small` tenant: its free subscription, in a region with no
/// connector (see `docs/simulator.md`).
pub const DEFAULT_TARGET_REGION: &str = "northeurope";

/// How long "nothing changes" between the backup and the outage: the RPO of a daily backup.
pub const QUIET_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// How far the drill lets simulated time run before it gives up on a run that never ends.
const MAX_SIMULATED: Duration = Duration::from_secs(60 * 24 * 3600);

/// The actor of every approval the drill grants.
pub fn drill_actor() -> Actor {
    Actor {
        user: "drill".into(),
        host: crate::journal::lock::host_name(),
        azure_principal: None,
        azure_principal_name: None,
    }
}

/// Which simulated tenant.
#[derive(Debug, Clone)]
pub struct TenantChoice {
    pub source: TenantSource,
    /// How the report names it: `small`, `large`, or the file name.
    pub label: String,
}

/// What the drill reports while it runs (the CLI draws a progress display from it).
#[derive(Debug, Clone)]
pub enum DrillProgress {
    /// A phase of the drill began (`backing up`, `region westeurope fails`, ...).
    Phase(String),
    /// The runbook's run exists: its journal can be watched.
    RunCreated(PathBuf),
    /// The steps as they stand after a stretch of the run.
    Steps(Vec<InstanceView>),
}

pub type ProgressFn = Arc<dyn Fn(DrillProgress) + Send + Sync>;

/// Everything a simulated drill needs.
#[derive(Clone)]
pub struct SimDrillOptions {
    pub state_dir: PathBuf,
    pub run_id: String,
    pub tenant: TenantChoice,
    pub scenario: Scenario,
    /// The region to fail; default: the one with the most DevOps connectors.
    pub region: Option<String>,
    pub target_region: String,
    /// Runbook text and the name it is journaled under.
    pub runbook: (String, PathBuf),
    pub rto_target: Option<Duration>,
    pub rpo_target: Option<Duration>,
    pub seed: u64,
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for SimDrillOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDrillOptions")
            .field("run_id", &self.run_id)
            .field("scenario", &self.scenario)
            .finish()
    }
}

/// The report and where the drill kept its files.
#[derive(Debug)]
pub struct DrillOutcome {
    pub report: DrillReport,
    /// `<state-dir>/drills/<run-id>`.
    pub drill_dir: PathBuf,
    /// The runbook's run (`<state-dir>/runs/<run-id>`).
    pub run_dir: Option<PathBuf>,
}

/// The runner's and the step kinds' clock: the simulator's time as a date.
#[derive(Clone)]
pub struct SimWallClock {
    shared: Arc<Shared>,
}

impl SimWallClock {
    pub fn new(shared: Arc<Shared>) -> Self {
        SimWallClock { shared }
    }
}

impl Clock for SimWallClock {
    fn now(&self) -> OffsetDateTime {
        sim_time(&self.shared, self.shared.clock.now())
    }
}

/// The date of simulated second `t`.
pub fn sim_time(shared: &Shared, t: f64) -> OffsetDateTime {
    let base =
        OffsetDateTime::from_unix_timestamp(shared.base_unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    base + time::Duration::seconds_f64(t.max(0.0))
}

/// The ARM client's timer in a simulated drill: its time is the simulator's, and sleeping
/// moves the simulator forward to the end of the sleep instead of waiting. Concurrent sleeps
/// that end at the same simulated time move it once.
#[derive(Clone)]
pub struct SimTimer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SimTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimTimer")
    }
}

impl SimTimer {
    pub fn new(shared: Arc<Shared>) -> Self {
        SimTimer { shared }
    }
}

/// Moves the simulator's clock forward to `t` (never back).
pub fn advance_to(shared: &Shared, t: f64) {
    let now = shared.clock.now();
    if t > now {
        shared.clock.advance(Duration::from_secs_f64(t - now));
    }
}

impl Timer for SimTimer {
    fn now(&self) -> Duration {
        self.shared.clock.now_duration()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        let target = self.shared.clock.now() + d.as_secs_f64();
        advance_to(&self.shared, target);
        Box::pin(tokio::task::yield_now())
    }
}

fn phase(opts: &SimDrillOptions, msg: impl Into<String>) {
    if let Some(p) = &opts.progress {
        p(DrillProgress::Phase(msg.into()));
    }
}

/// Removes the file of OAuth codes however the drill ends: it holds secrets.
struct SecretFile(PathBuf);

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `<old-connector-name> <code>` lines, readable by this user only.
fn write_codes(path: &Path, sim: &RunningSim, names: &[String]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    let mut text = String::new();
    for n in names {
        text.push_str(&format!("{n} {}\n", sim.mint_code()));
    }
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// The region to fail: the one with the most DevOps connectors; ties go to the region whose
/// connectors own the most items and hold the most settings (the richer rehearsal), then to the
/// name.
pub fn choose_region(cloud: &Cloud) -> Option<String> {
    let mut by_region: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (key, c) in &cloud.connectors {
        if c.env().is_none() {
            continue;
        }
        let owned = cloud.owners.values().filter(|o| *o == key).count()
            + c.devops.as_ref().map_or(0, |d| d.settings.len());
        let e = by_region.entry(c.region()).or_default();
        e.0 += 1;
        e.1 += owned;
    }
    let best = by_region.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))?;
    Some(best.0.clone())
}

/// Runs a whole simulated drill and returns its report (verdict computed). Errors are failures
/// of the drill itself (the simulator could not start, the state dir is not writable); a failed
/// recovery is a report with a failing verdict.
pub async fn run(opts: SimDrillOptions) -> Result<DrillOutcome, UserError> {
    let real_start = std::time::Instant::now();
    let declared = check_runbook(&opts.runbook.0, &opts.runbook.1)?;
    let drill_dir = super::history::drills_dir(&opts.state_dir).join(&opts.run_id);
    std::fs::create_dir_all(&drill_dir).map_err(|e| {
        UserError::failed(format!("cannot create the drill directory {}", drill_dir.display()))
            .with_source(e)
    })?;

    phase(&opts, format!("starting the simulated Azure (tenant {})", opts.tenant.label));
    let config = SimConfig {
        tenant: opts.tenant.source.clone(),
        faults: scenario::faults(opts.scenario, opts.seed),
        time_scale: 0.0,
        throttle: scenario::throttle(opts.scenario),
        ..SimConfig::default()
    };
    let sim = crate::sim::start(config).await.map_err(|e| {
        UserError::usage(format!("the simulator did not start: {e}"))
            .with_hint("check --tenant (small, large or a tenant JSON file)")
    })?;
    let result = drive_drill(&opts, &sim, &drill_dir, &declared, real_start).await;
    let _ = sim.shutdown().await;
    result
}

/// The drill against a simulator the caller started and still owns (a test's own cloud, drift
/// or api-versions): `opts.tenant` and `opts.scenario`'s faults are the caller's business; the
/// simulator is left running, so its state can be read after the drill.
pub async fn run_on(opts: &SimDrillOptions, sim: &RunningSim) -> Result<DrillOutcome, UserError> {
    let real_start = std::time::Instant::now();
    let declared = check_runbook(&opts.runbook.0, &opts.runbook.1)?;
    let drill_dir = super::history::drills_dir(&opts.state_dir).join(&opts.run_id);
    std::fs::create_dir_all(&drill_dir).map_err(|e| {
        UserError::failed(format!("cannot create the drill directory {}", drill_dir.display()))
            .with_source(e)
    })?;
    drive_drill(opts, sim, &drill_dir, &declared, real_start).await
}

async fn drive_drill(
    opts: &SimDrillOptions,
    sim: &RunningSim,
    drill_dir: &Path,
    declared: &BTreeSet<String>,
    real_start: std::time::Instant,
) -> Result<DrillOutcome, UserError> {
    let shared = sim.shared().clone();
    let clock: Arc<dyn Clock> = Arc::new(SimWallClock::new(shared.clone()));
    let started_at = clock.now();

    let region = match &opts.region {
        Some(r) => crate::sim::model::normalize_region(r),
        None => choose_region(&sim.cloud()).ok_or_else(|| {
            UserError::usage("the simulated tenant has no DevOps connector: there is nothing to drill")
                .with_hint("use --tenant small, or a tenant file with at least one AzureDevOps, Github or GitLab connector")
        })?,
    };
    let failed: Vec<(String, String)> = {
        let cloud = sim.cloud();
        cloud
            .connectors
            .iter()
            .filter(|(_, c)| c.env().is_some() && c.region() == region)
            .map(|(k, c)| (k.clone(), c.name.clone()))
            .collect()
    };
    if failed.is_empty() {
        return Err(UserError::usage(format!(
            "region {region} has no DevOps connector in the simulated tenant"
        ))
        .with_hint("omit --region to fail the region with the most DevOps connectors"));
    }
    if region == crate::sim::model::normalize_region(&opts.target_region) {
        return Err(UserError::usage(format!(
            "the failed region and the target region are both {region}"
        ))
        .with_hint("choose another --region or --target-region"));
    }

    // The ARM client every step uses, on the simulator's clock.
    let conn = crate::azure::connect_with(
        &ConnectOptions {
            arm_endpoint: Some(sim.url().to_string()),
            auth: AuthMode::None,
            cloud: CloudName::Public,
        },
        &std::collections::HashMap::new(),
        Arc::new(SimTimer::new(shared.clone())),
        None,
    )?;
    let client = Arc::new(conn.client);

    // 1. The backup, in a store of this drill only.
    phase(opts, "backing up every DevOps connector");
    let store_dir = drill_dir.join("backups");
    let store = Arc::new(Store::open(&store_dir.to_string_lossy(), Keys::default())?);
    let reader = crate::backup::arm_reader::ArmReader::new((*client).clone());
    let summary = backup::collect(
        &reader,
        &store,
        CreateOptions {
            scope: Scope::default(),
            now: clock.now(),
            rules: backup::AnomalyRules::default(),
            immutable: false,
        },
    )
    .await
    .map_err(|e| UserError::failed("the drill's backup failed").with_source(e))?;
    let info = backup::snapshot::find_snapshot(&store, &summary.id).await?;
    let manifest = backup::snapshot::load_manifest(&store, &info).await?;
    let backup_taken_at = manifest.time;
    // Read the objects now, before any tampering: this is what recovery must bring back.
    let objects = load_objects(&store, &manifest).await?;

    // 2. A quiet day, then the outage.
    shared.clock.advance(QUIET_PERIOD);
    let mut tampered: Option<PathBuf> = None;
    if opts.scenario == Scenario::TamperedBackup {
        phase(opts, "altering one byte of a stored backup object");
        // An object of a connector of the failed region: the snapshot the recovery needs.
        let prefixes: Vec<String> = failed.iter().map(|(k, _)| format!("{k}/")).collect();
        let victim = manifest
            .resources
            .iter()
            .find(|(id, _)| prefixes.iter().any(|p| id.to_ascii_lowercase().starts_with(p)))
            .map(|(_, e)| e.hash.clone());
        tampered =
            Some(scenario::tamper_one_object(&store_dir, victim.as_deref()).map_err(|e| {
                UserError::failed("the drill could not alter its backup").with_source(e)
            })?);
    }
    phase(opts, format!("region {region} fails"));
    set_outage(&shared, &region, true);
    let injected_at = clock.now();

    // 3. The runbook.
    let names: Vec<String> = failed.iter().map(|(_, n)| n.clone()).collect();
    let codes = SecretFile(drill_dir.join("authorization-codes"));
    write_codes(&codes.0, sim, &names).map_err(|e| {
        UserError::failed("cannot write the authorization codes file").with_source(e)
    })?;
    let (text, name) = &opts.runbook;
    let overrides = drill_overrides(declared, &region, &opts.target_region, &summary.id, &codes.0);
    let plan = crate::runbook::load_str(name, text, &overrides).map_err(|e| {
        UserError::usage(format!("runbook {} cannot run as a drill", name.display()))
            .with_source(anyhow::anyhow!("{e}"))
    })?;
    let registry = Registry::builtin();
    let run_dir = runner::create_run(
        &opts.state_dir,
        &plan,
        &opts.run_id,
        clock.now(),
        &drill_actor(),
        opts.seed,
    )
    .map_err(UserError::from)?;
    if let Some(p) = &opts.progress {
        p(DrillProgress::RunCreated(run_dir.clone()));
    }
    let mut services = Services::new();
    services.insert(client.clone());
    services.insert(store.clone());
    services.insert(Arc::new(RunDir(run_dir.clone())));
    let services = Arc::new(services);

    phase(opts, "running the region-outage runbook");
    let mut checked: Option<(Vec<Verification>, OffsetDateTime)> = None;
    let mut interruptions = 0u32;
    let (mut progress, mut last_interrupt) = (0usize, None::<usize>);
    let mut rng = opts.seed ^ 0x9e37_79b9_7f4a_7c15;
    let secret_params = runner::secret_params_of(&plan);
    // Once every branch waits for the failed region, the recovery is checked independently
    // (that moment ends the RTO) and the outage ends.
    let check_and_restore =
        |views: &[InstanceView], checked: &mut Option<(Vec<Verification>, OffsetDateTime)>| {
            if checked.is_none() && waits_for_region(views) {
                phase(opts, "checking the recovery independently");
                *checked = Some((verify(sim, &objects, &region, opts), clock.now()));
                phase(opts, format!("region {region} recovers"));
                set_outage(&shared, &region, false);
            }
        };
    // Follows the journal while a stretch runs: reads only what each look finds appended.
    let mut watcher: Option<Watcher> = None;
    let final_outcome = loop {
        if clock.now() - injected_at > MAX_SIMULATED {
            break None;
        }
        // Fresh one-time codes before every stretch: an attempt re-entered after an
        // interruption needs an unused code.
        let _ = write_codes(&codes.0, sim, &names);
        let options = RunOptions {
            actor: drill_actor(),
            time: TimeMode::Real,
            wait_until: Some(clock.now()),
            secret_params: secret_params.clone(),
        };
        // Crash: a stretch of the run is interrupted at a random point of real time (seeded, at
        // most 6, at most once per stage of progress so they spread over the whole run); the
        // next stretch resumes from the journal.
        rng = splitmix(rng);
        // Until the first interruption has landed every stretch tries one: a drive that pauses
        // before its deadline (a gate, a wait) interrupts nothing, and on a loaded machine a
        // coin flip per stretch left some crash drills with no interruption at all.
        let interrupt = opts.scenario == Scenario::Crash
            && interruptions < 6
            && last_interrupt != Some(progress)
            && (interruptions == 0 || rng % 2 == 0);
        if interrupt {
            last_interrupt = Some(progress);
        }
        // The drive is watched while it runs: with many connectors it may not return for a
        // long stretch of simulated time (waiting branches poll while others still write), and
        // the region must come back once every branch waits for it, not after the run.
        let deadline = interrupt.then(|| {
            rng = splitmix(rng);
            tokio::time::Instant::now() + Duration::from_micros(200 + rng % 20_000)
        });
        let drive = runner::drive(&run_dir, &registry, services.clone(), clock.clone(), &options);
        tokio::pin!(drive);
        let journal = run_dir.join(crate::journal::JOURNAL_FILE);
        let mut seen_len = 0u64;
        let outcome = loop {
            tokio::select! {
                o = &mut drive => break Some(o),
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => break None,
                _ = tokio::time::sleep(WATCH_EVERY) => {
                    let len = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
                    if checked.is_none() && len != seen_len {
                        seen_len = len;
                        let looked = match &mut watcher {
                            Some(w) => w.refresh(&registry).is_ok(),
                            None => Watcher::open(&run_dir, &registry)
                                .map(|w| watcher = Some(w))
                                .is_ok(),
                        };
                        if let Some(w) = watcher.as_mut().filter(|_| looked) {
                            check_and_restore(&w.engine().snapshot(), &mut checked);
                        }
                    }
                }
            }
        };
        let Some(outcome) = outcome else {
            interruptions += 1;
            phase(opts, format!("interrupted the run ({interruptions})"));
            continue;
        };
        let outcome = outcome.map_err(UserError::from)?;
        let views = runner::load(&run_dir, &registry).map_err(UserError::from)?.engine.snapshot();
        progress = views
            .iter()
            .filter(|v| v.instance.as_ref().is_some_and(|i| i.state.is_terminal()))
            .count();
        if let Some(p) = &opts.progress {
            p(DrillProgress::Steps(views.clone()));
        }
        check_and_restore(&views, &mut checked);
        match outcome {
            RunOutcome::Sleeping { until } => {
                let t = (until - sim_time(&shared, 0.0)).as_seconds_f64();
                advance_to(&shared, t);
            }
            RunOutcome::Paused { blockers } => {
                let mut acted = false;
                for b in blockers {
                    let event = match b.phase {
                        Phase::AwaitingApproval => Event::Approved {
                            step: b.step.clone(),
                            branch: b.branch,
                            by: drill_actor(),
                            comment: Some("granted by lifeboat drill (a rehearsal)".into()),
                        },
                        Phase::AwaitingAttestation if b.interrupted => {
                            match check_interrupted(sim, &views, &b.step, b.branch) {
                                Some(e) => e,
                                None => continue,
                            }
                        }
                        _ => continue,
                    };
                    runner::apply_manual(&run_dir, &registry, event, clock.now())
                        .map_err(UserError::from)?;
                    acted = true;
                }
                if !acted {
                    break Some(RunOutcome::Paused { blockers: Vec::new() });
                }
            }
            other => break Some(other),
        }
    };
    drop(codes);
    set_outage(&shared, &region, false);
    let replayed = runner::load(&run_dir, &registry).map_err(UserError::from)?;
    let views = replayed.engine.snapshot();
    let succeeded = matches!(final_outcome, Some(RunOutcome::Succeeded));

    // 4. The independent check, if the runbook never waited for the region.
    let (verifications, verified_at) = match checked {
        Some(c) => c,
        None if opts.scenario == Scenario::TamperedBackup => {
            (verify_untouched(sim, &opts.target_region), clock.now())
        }
        None => (verify(sim, &objects, &region, opts), clock.now()),
    };

    let mut detected = Vec::new();
    if opts.scenario == Scenario::TamperedBackup {
        if let Some(d) = detection(&views, tampered.as_deref()) {
            detected.push(d);
        }
    }
    let verified = opts.scenario != Scenario::TamperedBackup
        && succeeded
        && !verifications.is_empty()
        && verifications.iter().all(|v| v.passed);

    let finished_at = clock.now();
    let steps = step_records(&views, finished_at);
    let api = api_stats(&sim.requests(), &client.call_log());
    let mut r = DrillReport {
        schema: report::SCHEMA_ID.into(),
        run_id: opts.run_id.clone(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        scenario: opts.scenario,
        mode: Mode::Simulated,
        tenant: opts.tenant.label.clone(),
        started_at,
        finished_at,
        wall_clock_seconds: (real_start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        outage: Outage { region: region.clone(), injected_at },
        target_region: crate::sim::model::normalize_region(&opts.target_region),
        recovery: Recovery { verified, verified_at: verified.then_some(verified_at) },
        rto: Rto { target_seconds: opts.rto_target.map(|d| d.as_secs_f64()), ..Rto::default() },
        rpo: Rpo {
            backup_id: Some(summary.id.clone()),
            backup_taken_at: Some(backup_taken_at),
            target_seconds: opts.rpo_target.map(|d| d.as_secs_f64()),
            ..Rpo::default()
        },
        api,
        steps,
        verifications,
        detected,
        not_recreated_by_microsoft: NotRecreated::documented(),
        verdict: Verdict::default(),
    };
    r.compute_verdict();
    if interruptions > 0 {
        r.verdict.reasons.push(format!(
            "the drill interrupted its own run {interruptions} times and resumed it from the journal"
        ));
    }
    if !succeeded && opts.scenario != Scenario::TamperedBackup {
        let why = match &final_outcome {
            None => "the run did not finish within 60 simulated days".to_string(),
            Some(RunOutcome::Failed { blockers }) => {
                // The first few failures say what went wrong; the steps table has them all.
                let failed: Vec<String> = blockers
                    .iter()
                    .filter(|b| b.phase == Phase::Failed)
                    .map(|b| format!("{} ({})", b.name(), b.message.as_deref().unwrap_or("")))
                    .collect();
                let more = failed.len().saturating_sub(3);
                let mut text =
                    format!("the run failed: {}", failed[..failed.len().min(3)].join("; "));
                if more > 0 {
                    text.push_str(&format!("; and {more} more failed steps"));
                }
                text
            }
            Some(o) => format!("the run stopped: {}", o.exit().code()),
        };
        if !r.verdict.reasons.contains(&why) {
            r.verdict.reasons.push(why);
        }
    }
    Ok(DrillOutcome { report: r, drill_dir: drill_dir.to_path_buf(), run_dir: Some(run_dir) })
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What the drill, standing in for the person, does with a one-shot step a crash interrupted:
/// it looks at the simulated Azure as a person would look at the portal. An interrupted
/// `connector.delete` whose connector is gone is attested; one whose connector is still there is
/// skipped (the old connector stays, as after a person's "skip"). Other kinds: `None`, and the
/// run stops for a person.
fn check_interrupted(
    sim: &RunningSim,
    views: &[InstanceView],
    step: &str,
    branch: Option<usize>,
) -> Option<Event> {
    let v = views.iter().find(|v| v.step == step && v.branch == branch)?;
    if v.uses != "connector.delete" {
        return None;
    }
    let id = v.instance.as_ref()?.item.as_ref()?.get("resource_id")?.as_str()?.to_string();
    let gone = !sim.cloud().connectors.contains_key(&id.to_ascii_lowercase());
    Some(if gone {
        Event::Attested {
            step: step.to_string(),
            branch,
            by: drill_actor(),
            evidence: format!(
                "the drill checked the simulated Azure: {id} is gone, the interrupted delete took effect"
            ),
        }
    } else {
        Event::Skipped {
            step: step.to_string(),
            branch,
            by: drill_actor(),
            reason: format!(
                "interrupted before the delete took effect: the drill leaves {id} in place"
            ),
        }
    })
}

/// Turns the outage of `region` on or off (the fault spec keeps its seed and rates).
/// How often (real time) a running drive is looked at, to end the outage at the right moment.
/// The journal is read only when it grew, and then only what was appended
/// (`engine::replay::Watcher`).
const WATCH_EVERY: Duration = Duration::from_millis(50);

pub fn set_outage(shared: &Shared, region: &str, on: bool) {
    let mut spec = shared.faults.spec();
    spec.outage_regions.retain(|r| !r.eq_ignore_ascii_case(region));
    if on {
        spec.outage_regions.push(region.to_string());
    }
    shared.faults.set_spec(spec);
}

/// The drill's values for the runbook parameters it declares (a custom `--runbook` may declare
/// fewer; undeclared ones are not passed, since `--set` of an unknown parameter is an error).
fn drill_overrides(
    declared: &BTreeSet<String>,
    region: &str,
    target_region: &str,
    snapshot: &str,
    codes: &Path,
) -> Vec<(String, String)> {
    [
        ("failed_region", region.to_string()),
        ("target_region", target_region.to_string()),
        ("backup", snapshot.to_string()),
        ("authorization_codes", codes.to_string_lossy().into_owned()),
        ("submit_ticket", "true".into()),
    ]
    .into_iter()
    .filter(|(k, _)| declared.contains(*k))
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Validates the runbook before the drill does anything (exit 2 on a bad one) and returns the
/// parameters it declares.
pub fn check_runbook(text: &str, name: &Path) -> Result<BTreeSet<String>, UserError> {
    let bad = |detail: String| {
        UserError::usage(format!("runbook {} cannot run as a drill", name.display()))
            .with_source(anyhow::anyhow!("{detail}"))
            .with_hint("a drill runbook declares failed_region and target_region, and takes authorization_codes, backup and submit_ticket if it needs them")
    };
    let doc: Value = serde_saphyr::from_str(text).map_err(|e| bad(e.to_string()))?;
    let declared: BTreeSet<String> = doc
        .get("params")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for p in ["failed_region", "target_region"] {
        if !declared.contains(p) {
            return Err(bad(format!("it declares no parameter `{p}`")));
        }
    }
    let probe = drill_overrides(&declared, "eastus", "northeurope", "latest", Path::new("codes"));
    crate::runbook::load_str(name, text, &probe).map_err(|e| bad(e.to_string()))?;
    Ok(declared)
}

fn kind_of(views: &[InstanceView], uses: &str) -> bool {
    views.iter().any(|v| v.uses == uses)
}

/// Every branch has reached its wait for the failed region to come back (or ended before it):
/// the recovery is as complete as it gets while the region is down. Reached means everything
/// before the wait is done (the wait is ready or later), whether or not the engine has found a
/// free slot to start its first poll yet.
fn waits_for_region(views: &[InstanceView]) -> bool {
    let started =
        |v: &InstanceView| v.instance.as_ref().is_some_and(|i| !matches!(i.state, State::Pending));
    let waits: Vec<&InstanceView> =
        views.iter().filter(|v| v.uses == "region.wait-recovered").collect();
    kind_of(views, "region.wait-recovered")
        && waits.iter().any(|v| started(v))
        && waits.iter().all(|v| started(v) || branch_ended(views, v.branch))
}

/// A branch whose steps have all ended (a failure stops it before the region wait).
fn branch_ended(views: &[InstanceView], branch: Option<usize>) -> bool {
    views.iter().filter(|v| v.branch == branch).all(|v| {
        v.instance
            .as_ref()
            .is_none_or(|i| i.state.is_terminal() || matches!(i.state, State::Pending))
    }) && views
        .iter()
        .filter(|v| v.branch == branch)
        .any(|v| v.instance.as_ref().is_some_and(|i| matches!(i.state, State::Failed)))
}

/// What a step spent its time waiting on, by kind.
pub fn waited_on(uses: &str) -> Option<WaitedOn> {
    match uses {
        "devops.wait-for-release" => Some(WaitedOn::Support),
        "region.wait-recovered" => Some(WaitedOn::Region),
        "gate.approval" | "manual.task" => Some(WaitedOn::Person),
        "wait.duration" | "wait.until" => Some(WaitedOn::Timer),
        _ => None,
    }
}

/// One record per step instance; the branch is labelled by its item's connector name.
pub fn step_records(views: &[InstanceView], finished_at: OffsetDateTime) -> Vec<StepRecord> {
    let mut out = Vec::new();
    for v in views {
        let Some(i) = &v.instance else { continue };
        let result = match i.state.phase() {
            Phase::Succeeded => StepResult::Succeeded,
            Phase::Failed => StepResult::Failed,
            Phase::Skipped => StepResult::Skipped,
            Phase::Pending | Phase::Ready if i.first_started.is_none() => continue,
            _ => StepResult::Interrupted,
        };
        let end = i.finished.unwrap_or(finished_at);
        let start = i.first_started.unwrap_or(end);
        let branch = v.branch.map(|b| {
            i.item
                .as_ref()
                .and_then(|it| it.get("name").and_then(Value::as_str).map(String::from))
                .unwrap_or_else(|| format!("#{b}"))
        });
        let attempts = if result == StepResult::Skipped { 0 } else { i.attempt };
        out.push(StepRecord::new(
            v.step.clone(),
            branch,
            v.uses.clone(),
            start,
            end,
            attempts,
            result,
            i.error.clone(),
            // A skipped step waited on nobody.
            if result == StepResult::Skipped { None } else { waited_on(&v.uses) },
        ));
    }
    out
}

/// The tampered-backup detection: the step that loads the backup failed on it, and nothing was
/// restored (no step after it ran).
fn detection(views: &[InstanceView], tampered: Option<&Path>) -> Option<Detection> {
    tampered?;
    let load = views.iter().find(|v| v.uses == "backup.load")?;
    let i = load.instance.as_ref()?;
    if i.state.phase() != Phase::Failed {
        return None;
    }
    let restored = views.iter().any(|v| {
        v.uses.starts_with("connector.") && v.instance.as_ref().is_some_and(|i| i.attempt > 0)
    });
    Some(Detection {
        kind: report::TAMPERED_SNAPSHOT.into(),
        message: i.error.clone().unwrap_or_else(|| "the backup was refused".into()),
        step: Some(load.step.clone()),
        restore_refused: !restored,
    })
}

/// Every object of the manifest, by resource ID (lowercase).
async fn load_objects(
    store: &Store,
    m: &Manifest,
) -> Result<BTreeMap<String, (ResourceKind, Value)>, UserError> {
    let mut out = BTreeMap::new();
    for (id, e) in &m.resources {
        let body = backup::snapshot::load_object(store, &e.hash).await?;
        out.insert(id.to_ascii_lowercase(), (e.kind, body));
    }
    Ok(out)
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(absent)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn check(
    name: String,
    id: &str,
    expected: Option<&Value>,
    actual: Option<&Value>,
    same: bool,
) -> Verification {
    let (e, a) = (text(expected), text(actual));
    Verification {
        detail: if same {
            format!("{name}: {a}, as in the backup")
        } else {
            format!("{name}: the backup has {e}, the live value is {a}")
        },
        name,
        resource_id: Some(id.to_string()),
        passed: same,
        expected: Some(e),
        actual: Some(a),
    }
}

/// Case-insensitive set equality of two string lists (ARM compares names so).
fn same_names(a: Option<&Value>, b: Option<&Value>) -> bool {
    let set = |v: Option<&Value>| -> BTreeSet<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect())
            .unwrap_or_default()
    };
    set(a) == set(b)
}

/// The independent check: reads the simulator's own state (not through the API the runbook
/// used) and compares it, setting by setting, with the backup taken before the outage.
fn verify(
    sim: &RunningSim,
    objects: &BTreeMap<String, (ResourceKind, Value)>,
    region: &str,
    opts: &SimDrillOptions,
) -> Vec<Verification> {
    let cloud = sim.cloud().clone();
    let target = crate::sim::model::normalize_region(&opts.target_region);
    let mut out = Vec::new();
    let failed: Vec<(&String, &Value)> = objects
        .iter()
        .filter(|(_, (k, b))| {
            *k == ResourceKind::Connector
                && b.get("location")
                    .and_then(Value::as_str)
                    .is_some_and(|l| crate::sim::model::normalize_region(l) == region)
        })
        .map(|(id, (_, b))| (id, b))
        .collect();
    for (old_id, body) in failed {
        let old_name = body.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let env = body
            .pointer("/properties/environmentName")
            .and_then(Value::as_str)
            .and_then(Env::from_environment_name);
        let Some(env) = env else { continue };
        let prefix = format!("{old_id}/devops/default/");
        // The items the old connector owned, from the backup's own bodies.
        let mut items: Vec<(String, String, Value)> = Vec::new();
        for (id, (kind, b)) in objects.range(prefix.clone()..) {
            if !id.starts_with(&prefix) {
                break;
            }
            let top = matches!(
                kind,
                ResourceKind::AzureDevOpsOrg
                    | ResourceKind::GitHubOwner
                    | ResourceKind::GitLabGroup
            );
            let onboarded = b.pointer("/properties/onboardingState").and_then(Value::as_str)
                == Some("Onboarded");
            if top && onboarded {
                let name = b.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                items.push((id.clone(), name, b.clone()));
            }
        }
        // The new connector: the one that owns the old connector's items now.
        let mut new_key: Option<String> = None;
        for (id, name, _) in &items {
            let owner = cloud.owners.get(&item_key(env, name)).cloned();
            let owner_conn = owner.as_ref().and_then(|k| cloud.connectors.get(k));
            let ok = owner_conn
                .is_some_and(|c| c.region() == target && !c.id.eq_ignore_ascii_case(old_id));
            let actual = owner_conn
                .map(|c| format!("{} ({})", c.name, c.region()))
                .unwrap_or_else(|| "nobody".into());
            out.push(Verification {
                name: format!("{old_name}: {name} owned by a connector in {target}"),
                resource_id: Some(id.clone()),
                passed: ok,
                expected: Some(format!("a new connector in {target}")),
                actual: Some(actual.clone()),
                detail: if ok {
                    format!("{name} was released from {old_name} and is onboarded by {actual}")
                } else {
                    format!("{name} is owned by {actual}, not by a connector in {target}")
                },
            });
            if ok && new_key.is_none() {
                new_key = owner;
            }
        }
        let Some(new_key) = new_key else {
            out.push(Verification {
                name: format!("{old_name}: replacement connector"),
                resource_id: Some(old_id.clone()),
                passed: false,
                expected: Some(format!("a connector in {target} owning the backed-up items")),
                actual: Some("none found".into()),
                detail: format!("no connector in {target} owns what {old_name} owned"),
            });
            continue;
        };
        let new = &cloud.connectors[&new_key];
        let Some(devops) = &new.devops else {
            out.push(Verification {
                name: format!("{old_name}: DevOps configuration of {}", new.name),
                resource_id: Some(new.id.clone()),
                passed: false,
                expected: Some("a DevOps configuration".into()),
                actual: Some("(absent)".into()),
                detail: format!("{} has no DevOps configuration", new.name),
            });
            continue;
        };
        // The DevOps configuration, field by field.
        if let Some((_, cfg)) = objects.get(&format!("{old_id}/devops/default")) {
            let new_cfg = format!("{}/devops/default", new.id);
            for field in ["autoDiscovery", "agentlessConfiguration", "topLevelInventoryList"] {
                let e = cfg.pointer(&format!("/properties/{field}"));
                let a = devops.properties.get(field);
                let same = if field == "topLevelInventoryList" {
                    same_names(e, a)
                } else {
                    e.unwrap_or(&Value::Null) == a.unwrap_or(&Value::Null)
                };
                out.push(check(format!("{}: {field}", new.name), &new_cfg, e, a, same));
            }
        }
        // Every Azure DevOps org, project and repo setting (pull request annotations).
        if env == Env::AzureDevOps {
            for (id, (kind, b)) in objects.range(prefix.clone()..) {
                if !id.starts_with(&prefix) {
                    break;
                }
                if !matches!(
                    kind,
                    ResourceKind::AzureDevOpsOrg
                        | ResourceKind::AzureDevOpsProject
                        | ResourceKind::AzureDevOpsRepo
                ) {
                    continue;
                }
                let Some(path) = ado_path(&id[prefix.len()..]) else { continue };
                let owned = items.iter().any(|(_, n, _)| {
                    path.split('/').next().is_some_and(|o| o.eq_ignore_ascii_case(n))
                });
                if !owned {
                    continue;
                }
                let expected = b.pointer("/properties/actionableRemediation");
                let default = if *kind == ResourceKind::AzureDevOpsOrg {
                    serde_json::json!({"state": "None"})
                } else {
                    serde_json::json!({"inheritFromParentState": "Enabled"})
                };
                let actual = devops.settings.get(&path).cloned().unwrap_or(default);
                let same = expected.unwrap_or(&Value::Null) == &actual;
                let new_id = format!("{}/devops/default/{}", new.id, &id[prefix.len()..]);
                out.push(check(
                    format!("{}: {path} actionableRemediation", new.name),
                    &new_id,
                    expected,
                    Some(&actual),
                    same,
                ));
            }
        }
    }
    out
}

/// `azuredevopsorgs/o/projects/p/repos/r` (lowercase tail of a backup ID) → `o/p/r`.
fn ado_path(tail: &str) -> Option<String> {
    let s: Vec<&str> = tail.split('/').collect();
    match s.as_slice() {
        ["azuredevopsorgs", o] => Some(o.to_string()),
        ["azuredevopsorgs", o, "projects", p] => Some(format!("{o}/{p}")),
        ["azuredevopsorgs", o, "projects", p, "repos", r] => Some(format!("{o}/{p}/{r}")),
        _ => None,
    }
}

/// A tampered-backup drill expects no restore: nothing may have been created in the target.
fn verify_untouched(sim: &RunningSim, target_region: &str) -> Vec<Verification> {
    let target = crate::sim::model::normalize_region(target_region);
    let cloud = sim.cloud();
    let created: Vec<String> = cloud
        .connectors
        .values()
        .filter(|c| c.region() == target)
        .map(|c| c.name.clone())
        .collect();
    vec![Verification {
        name: format!("no connector restored in {target} from the altered snapshot"),
        resource_id: None,
        passed: created.is_empty(),
        expected: Some("none".into()),
        actual: Some(if created.is_empty() { "none".into() } else { created.join(", ") }),
        detail: if created.is_empty() {
            "the altered snapshot was refused before anything was created".into()
        } else {
            format!("connectors were created from an altered snapshot: {}", created.join(", "))
        },
    }]
}

/// `PUT devops/default`, `GET azureDevOpsOrgs/projects`, ...: the operation of a request path.
pub fn operation_name(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let name = if let Some(i) = lower.iter().position(|s| s == "securityconnectors") {
        let rest = &segs[i..];
        let mut parts = Vec::new();
        let mut j = 0;
        while j < rest.len() {
            let t = rest[j];
            if t.eq_ignore_ascii_case("devops") {
                parts.push("devops/default".to_string());
                j += 2;
                continue;
            }
            if t.eq_ignore_ascii_case("operationResults") {
                parts.push("operationResults".into());
                break;
            }
            parts.push(t.to_string());
            // Collections alternate with names; an action (listAvailable...) ends the path.
            j += 2;
        }
        if parts.len() > 1 {
            parts.remove(0);
        }
        parts.join("/")
    } else if let Some(i) = lower.iter().position(|s| s == "providers") {
        segs.get(i + 1..i + 3).map(|s| s.join("/")).unwrap_or_default()
    } else {
        segs.iter().step_by(2).copied().collect::<Vec<_>>().join("/")
    };
    format!("{method} {name}")
}

/// Totals and per-operation counters: requests, 429s, 5xx and dropped connections from the
/// simulator's request log (what reached the server, retries included), retries from the
/// client's call log.
pub fn api_stats(log: &[crate::sim::LogEntry], calls: &[crate::azure::CallRecord]) -> ApiStats {
    let mut s = ApiStats::default();
    for e in log.iter().filter(|e| !e.path.starts_with("/_sim")) {
        let op = operation_name(&e.method, &e.path);
        for c in [&mut s.totals, s.by_operation.entry(op).or_default()] {
            c.calls += 1;
            match e.status {
                429 => c.throttled_429 += 1,
                500..=599 => c.errors_5xx += 1,
                0 => c.dropped_connections += 1,
                _ => {}
            }
        }
    }
    for c in calls {
        let retries = u64::from(c.attempts.saturating_sub(1));
        if retries == 0 {
            continue;
        }
        let op = operation_name(&c.method, &c.url);
        s.totals.retries += retries;
        s.by_operation.entry(op).or_insert_with(ApiCounts::default).retries += retries;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_follow_the_resource_types() {
        let c = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado";
        assert_eq!(operation_name("PUT", &format!("{c}/devops/default")), "PUT devops/default");
        assert_eq!(
            operation_name(
                "GET",
                &format!("{c}/devops/default/azureDevOpsOrgs/o/projects?api-version=1")
            ),
            "GET devops/default/azureDevOpsOrgs/projects"
        );
        assert_eq!(operation_name("PUT", c), "PUT securityConnectors");
        assert_eq!(
            operation_name("POST", "/providers/Microsoft.ResourceGraph/resources"),
            "POST Microsoft.ResourceGraph/resources"
        );
    }

    #[test]
    fn ado_paths_from_backup_ids() {
        assert_eq!(ado_path("azuredevopsorgs/contoso").as_deref(), Some("contoso"));
        assert_eq!(
            ado_path("azuredevopsorgs/contoso/projects/p/repos/r").as_deref(),
            Some("contoso/p/r")
        );
        assert_eq!(ado_path("githubowners/x"), None);
    }

    #[test]
    fn the_small_tenant_fails_the_region_with_most_connectors_and_owned_items() {
        let cloud = crate::sim::tenant::small().build(0).unwrap();
        assert_eq!(choose_region(&cloud).as_deref(), Some("westeurope"));
    }

    #[test]
    fn waits_are_attributed_by_kind() {
        assert_eq!(waited_on("devops.wait-for-release"), Some(WaitedOn::Support));
        assert_eq!(waited_on("region.wait-recovered"), Some(WaitedOn::Region));
        assert_eq!(waited_on("gate.approval"), Some(WaitedOn::Person));
        assert_eq!(waited_on("connector.promote"), None);
    }
}
