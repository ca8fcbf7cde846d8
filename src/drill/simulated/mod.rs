//! The simulated drill: a complete region outage rehearsed against the embedded simulator.
//!
//! Sequence ([`run`]): start the simulator (frozen clock: simulated time moves only when the drill
//! or a client wait moves it), back up every DevOps connector into a drill-scoped store, let a
//! simulated day pass, fail the region, run the region-outage runbook through the library runner
//! (approvals granted by the drill on behalf of the person or pipeline that ran it, after the
//! assumed response time, OAuth codes minted by the simulator into a short-lived file, the support
//! ticket submitted to the simulated desk, which releases after the assumed support wait), restore the region
//! when the runbook waits for it, check independently that every backed-up setting is live on the
//! new connectors, and build the [`DrillReport`].
//!
//! Time: one clock for everything. The runner's clock, the step kinds' clock and the ARM client's
//! timer all read the simulator's clock; a client sleep (retry, `Retry-After`, long-running
//! operation poll) *advances* it instead of sleeping, and when the run sleeps on a durable timer
//! the drill advances the simulator to that timer. A simulated week takes milliseconds. The
//! run's journal records the wall clock beside the simulated time (`SimWallClock::wall_now`), so
//! the audit record says when the drill really ran.
//!
//! Honest times: what the drill cannot measure it assumes, and the report lists each assumption
//! with its value and source ([`AssumedTimes`], `DrillReport::assumptions`): the support desk's
//! delay (`--support-wait`), a person's response time (`--response-time`), the OAuth codes
//! prepared in advance, the backup's age.
//!
//! This module holds the drill's options and entry points; the rest, one concern each:
//! - `drive`: the drill itself, phase by phase (the failure to rehearse, the backup, the
//!   outage, the runbook's run, the report);
//! - `check`: the independent check of the recovery against the simulator's own state;
//! - `measure`: what the report records of the run (steps, waits, API calls, the detection);
//! - `clock`: the one simulated clock the runner, the steps and the ARM client share.
//!
//! [`DrillReport`]: super::report::DrillReport

mod check;
mod clock;
mod drive;
pub mod from_backup;
mod measure;
mod seed;

pub use clock::{advance_to, sim_time, SimTimer, SimWallClock};
pub use measure::{api_stats, operation_name, step_records, waited_on};

use super::report::{DrillReport, Scenario};
use super::scenario;
use crate::engine::{Actor, InstanceView, VIA_DRILL};
use crate::error::UserError;
use crate::sim::model::Cloud;
use crate::sim::{RunningSim, Shared, SimConfig, TenantSource};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The region-outage runbook, built in so `lifeboat drill` works from any directory: the one copy
/// of `runbook::builtin`, which `lifeboat run region-outage` uses too.
pub const REGION_OUTAGE_RUNBOOK: &str = crate::runbook::builtin::REGION_OUTAGE;

/// The recovery target of the `small` tenant: its free subscription, in a region with no
/// connector (see `docs/simulator.md`).
pub const DEFAULT_TARGET_REGION: &str = "northeurope";

/// How long "nothing changes" between the backup and the outage: the RPO of a daily backup.
pub const QUIET_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// How far the drill lets simulated time run before it gives up on a run that never ends.
const MAX_SIMULATED: Duration = Duration::from_secs(60 * 24 * 3600);

/// The default of `--support-wait`: how long the support desk takes from the ticket to the
/// release of the DevOps resources. A choice: Microsoft documents only the initial response time
/// of a support request (when an engineer starts working on it; it depends on the support plan
/// and the severity), not the time to the release (`docs/drill.md`).
pub const DEFAULT_SUPPORT_WAIT: Duration = Duration::from_secs(4 * 3600);

/// The default of `--response-time`: how long a person takes to answer the run (an approval, an
/// attestation). A choice: it is the organisation's own figure (its on-call acknowledgement
/// target, say).
pub const DEFAULT_RESPONSE_TIME: Duration = Duration::from_secs(15 * 60);

/// What the drill assumes instead of measuring: it cannot measure Microsoft's support desk nor
/// the people who answer the run. Each value lands in the report's assumptions with its source.
#[derive(Debug, Clone, PartialEq)]
pub struct AssumedTimes {
    /// From the support ticket to the release of the DevOps resources: the simulated desk's
    /// release delay ([`run`] sets it; [`run_on`] reports the caller's simulator's own).
    pub support_wait: Duration,
    /// `--support-wait` was given (the organisation's figure) rather than defaulted.
    pub support_wait_given: bool,
    /// How long a person takes to answer when the run pauses for one: the drill lets this much
    /// simulated time pass before it answers.
    pub response_time: Duration,
    /// `--response-time` was given rather than defaulted.
    pub response_time_given: bool,
}

impl Default for AssumedTimes {
    fn default() -> Self {
        AssumedTimes {
            support_wait: DEFAULT_SUPPORT_WAIT,
            support_wait_given: false,
            response_time: DEFAULT_RESPONSE_TIME,
            response_time_given: false,
        }
    }
}

/// Who a drill acts for: the person or pipeline that ran it ([`Actor::current`]), every action
/// marked as the drill's on their behalf (`via: drill`).
pub fn drill_actor() -> Actor {
    Actor::current().via(VIA_DRILL)
}

/// Who a drill's actions are journaled as: `actor` (the person or pipeline that ran it), `via:
/// drill`, with the Azure principal (object id, name, tenant) the client's token names when it
/// has one (never against the simulator, which the drill calls without a credential; a live
/// drill against Azure does). Asked at each action: a client learns its principal from the first
/// token it uses.
pub fn acting_for(actor: &Actor, client: &crate::azure::ArmClient) -> Actor {
    let mut a = actor.clone();
    if a.via.is_none() {
        a.via = Some(VIA_DRILL.into());
    }
    if let Some(p) = client.principal() {
        a.azure_principal = a.azure_principal.or(p.object_id);
        a.azure_principal_name = a.azure_principal_name.or(p.name);
        a.azure_tenant = a.azure_tenant.or(p.tenant_id);
    }
    a
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
    /// The support desk's delay and people's response time.
    pub assumed: AssumedTimes,
    /// Who ran the drill ([`drill_actor`]): its start, approvals and attestations are journaled
    /// as theirs, `via: drill`, with the Azure principal of the drill's client when its token
    /// names one.
    pub actor: Actor,
    /// Told of the runbook run's every journaled batch (the CLI's `--notify`).
    pub observer: Option<Arc<dyn crate::engine::runner::RunObserver>>,
    /// `--from-backup`: the organisation's snapshot the tenant was seeded from
    /// ([`seed_from_backup`]), which the runbook restores (from a byte-for-byte copy in the
    /// drill's own store). `None`: the drill backs its tenant up itself.
    pub backup: Option<Arc<from_backup::OrgSnapshot>>,
    /// `--run-store az://...`: the run's journal (its record), inbox and support drafts go to
    /// this run store, its local working copy under the state directory's `remote/`.
    pub run_store: Option<RunStoreDrill>,
}

/// The run store of a drill's run, and what its journal's appends cost (filled as it runs: the
/// benchmark's round trips per batch).
#[derive(Debug, Clone)]
pub struct RunStoreDrill {
    pub store: crate::runstore::BlobStore,
    pub stats: Arc<crate::runstore::remote::AppendStats>,
}

impl RunStoreDrill {
    pub fn new(store: crate::runstore::BlobStore) -> RunStoreDrill {
        RunStoreDrill { store, stats: Arc::default() }
    }
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

fn phase(opts: &SimDrillOptions, msg: impl Into<String>) {
    if let Some(p) = &opts.progress {
        p(DrillProgress::Phase(msg.into()));
    }
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

/// `drill --from-backup`: the simulator's tenant seeded from `snapshot` (every connector,
/// configuration, org, project and repo it holds) with simulated time zero at `now` (so the
/// RPO is the snapshot's real age), and the region to fail: `region`, else the one with the
/// most DevOps connectors ([`choose_region`]). Bad input (exit 2, before anything is written):
/// a snapshot the simulator cannot be seeded from, a region with no connector in the snapshot
/// (its regions are listed with their counts), the target region failing too. What the
/// seeding decided is added to `snapshot.seeding_notes`.
pub fn seed_from_backup(
    snapshot: &mut from_backup::OrgSnapshot,
    region: Option<&str>,
    target_region: &str,
    now: time::OffsetDateTime,
) -> Result<(TenantChoice, String), UserError> {
    let id = snapshot.id().to_string();
    // Whole seconds (the simulator's), rounded up: the outage never precedes the snapshot.
    let base = now.unix_timestamp() + i64::from(now.nanosecond() > 0);
    let seeded = seed::cloud_from_snapshot(&id, &snapshot.objects, base)?;
    let regions = seed::regions(&seeded.cloud);
    let listed = || {
        let mut by_count: Vec<(&String, &usize)> = regions.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        by_count.iter().map(|(r, n)| format!("{r} ({n})")).collect::<Vec<_>>().join(", ")
    };
    let region = match region {
        Some(r) => {
            let r = crate::sim::model::normalize_region(r);
            if !regions.contains_key(&r) {
                return Err(UserError::usage(format!(
                    "region {r} has no DevOps connector in snapshot {id}; its DevOps connectors are in {}",
                    if regions.is_empty() { "no region".to_string() } else { listed() }
                ))
                .with_hint("pass one of those regions to --region, or omit it to fail the region with the most connectors"));
            }
            r
        }
        None => choose_region(&seeded.cloud).ok_or_else(|| {
            UserError::usage(format!(
                "snapshot {id} holds no DevOps connector: there is nothing to drill"
            ))
            .with_hint("drill a snapshot taken with `lifeboat backup create` over your DevOps connectors (`lifeboat backup list` shows their counts)")
        })?,
    };
    if region == crate::sim::model::normalize_region(target_region) {
        return Err(UserError::usage(format!(
            "the failed region and the target region are both {region}"
        ))
        .with_hint(format!(
            "choose another --target-region (the snapshot's DevOps connectors are in {})",
            listed()
        )));
    }
    snapshot.seeding_notes.extend(seeded.notes);
    let label = format!("backup {id}");
    Ok((TenantChoice { source: TenantSource::Cloud(Box::new(seeded.cloud)), label }, region))
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
        // The support desk releases after the assumed wait (`--support-wait`).
        release_delay: opts.assumed.support_wait,
        ..SimConfig::default()
    };
    let sim = crate::sim::start(config).await.map_err(|e| {
        UserError::usage(format!("the simulator did not start: {e}"))
            .with_hint("check --tenant (small, large or a tenant JSON file)")
    })?;
    let result = drive::drive_drill(&opts, &sim, &drill_dir, &declared, real_start).await;
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
    drive::drive_drill(opts, sim, &drill_dir, &declared, real_start).await
}

/// Turns the outage of `region` on or off (the fault spec keeps its seed and rates).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_small_tenant_fails_the_region_with_most_connectors_and_owned_items() {
        let cloud = crate::sim::tenant::small().build(0).unwrap();
        assert_eq!(choose_region(&cloud).as_deref(), Some("westeurope"));
    }
}
