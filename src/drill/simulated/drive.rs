//! The drill itself, phase by phase ([`drive_drill`]): the failure to rehearse, the backup, a
//! quiet day and the outage, the runbook's run (its gates answered, interrupted in a crash
//! drill, the outage ended once every branch waits for the region), and the report.

use super::check::{verify_untouched, Baseline, Checked};
use super::measure::{api_stats, detection, step_records};
use super::{
    advance_to, choose_region, drill_overrides, phase, scenario, set_outage, sim_time,
    DrillOutcome, DrillProgress, SimDrillOptions, SimTimer, SimWallClock, MAX_SIMULATED,
    QUIET_PERIOD,
};
use crate::azure::{ArmClient, AuthMode, CloudName, ConnectOptions};
use crate::backup::{self, CreateOptions, Keys, Manifest, Scope, Store};
use crate::clock::{Clock, SystemClock};
use crate::drill::report::{
    self, AppliesTo, Assumption, Basis, BasisKind, DrillReport, Mode, NotRecreated, Outage,
    Recovery, Resources, Rpo, Rto, Scenario, Verdict, WallClock,
};
use crate::engine::kind::{Registry, Services};
use crate::engine::replay::Watcher;
use crate::engine::runner::{self, RunError, RunOptions, RunOutcome, TimeMode};
use crate::engine::Actor;
use crate::engine::{Blocker, Event, InstanceView, Phase, State};
use crate::error::UserError;
use crate::sim::{RunningSim, Shared};
use crate::steps::services::RunDir;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// How often (real time) a running drive is looked at, to end the outage at the right moment.
/// The journal is read only when it grew, and then only what was appended
/// (`engine::replay::Watcher`).
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// What every phase of one drill reads: the options, the simulator and its one clock, the
/// drill's directory, the region it fails and the DevOps connectors that takes down (key,
/// name), and the ARM client every step uses.
struct Drill<'a> {
    opts: &'a SimDrillOptions,
    sim: &'a RunningSim,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    drill_dir: &'a Path,
    region: String,
    failed: Vec<(String, String)>,
    client: Arc<ArmClient>,
}

impl Drill<'_> {
    /// Who the drill's actions are journaled as, now ([`super::acting_for`]): asked at each action, since
    /// a client learns its principal from the first token it uses.
    fn actor(&self) -> Actor {
        super::acting_for(&self.opts.actor, &self.client)
    }
}

/// The drill's backup, in a store of this drill only.
struct Backup {
    store: Arc<Store>,
    store_dir: PathBuf,
    /// The snapshot the runbook restores.
    id: String,
    manifest: Manifest,
    taken_at: OffsetDateTime,
}

/// The injected outage: when, and the object altered first in a tampered-backup drill.
struct Injected {
    at: OffsetDateTime,
    tampered: Option<PathBuf>,
}

/// The runbook's run: where it is, what it needs to be driven and replayed.
struct Run {
    dir: PathBuf,
    registry: Registry,
    services: Arc<Services>,
}

/// How the run ended and what happened on the way.
struct Ran {
    run: Run,
    /// `None`: the run did not finish within [`MAX_SIMULATED`].
    outcome: Option<RunOutcome>,
    /// The independent check made when every branch waited for the region, and its time.
    checked: Option<(Checked, OffsetDateTime)>,
    interruptions: u32,
    /// How many times the drill answered the run standing in for a person (each after the
    /// assumed response time).
    answers: u32,
}

pub(super) async fn drive_drill(
    opts: &SimDrillOptions,
    sim: &RunningSim,
    drill_dir: &Path,
    declared: &BTreeSet<String>,
    real_start: std::time::Instant,
) -> Result<DrillOutcome, UserError> {
    let wall_start = SystemClock.now();
    let shared = sim.shared().clone();
    let clock: Arc<dyn Clock> = Arc::new(SimWallClock::new(shared.clone()));
    let started_at = clock.now();
    let (region, failed) = choose_failure(opts, sim)?;
    let client = connect(sim, &shared)?;
    let d = Drill { opts, sim, shared, clock, drill_dir, region, failed, client };

    // 1. The backup, in a store of this drill only.
    let (backup, baseline) = back_up(&d).await?;
    // 2. A quiet day, then the outage.
    let injected = inject_outage(&d, &backup)?;
    // 3. The runbook.
    let ran = run_runbook(&d, declared, &backup, &baseline, injected.at).await?;
    // 4. The independent check (if the runbook never waited for the region) and the report.
    let started = (started_at, wall_start, real_start);
    conclude(&d, started, &backup, &baseline, &injected, ran)
}

/// The region to fail (`--region`, else [`choose_region`]) and its DevOps connectors; refused
/// when it has none or is the target region.
fn choose_failure(
    opts: &SimDrillOptions,
    sim: &RunningSim,
) -> Result<(String, Vec<(String, String)>), UserError> {
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
    Ok((region, failed))
}

/// The ARM client every step uses, on the simulator's clock.
fn connect(sim: &RunningSim, shared: &Arc<Shared>) -> Result<Arc<ArmClient>, UserError> {
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
    Ok(Arc::new(conn.client))
}

/// Backs up every DevOps connector into the drill's own store (with `--from-backup`: copies
/// the organisation's snapshot there, byte for byte), and takes the [`Baseline`] the
/// independent check compares with.
async fn back_up(d: &Drill<'_>) -> Result<(Backup, Baseline), UserError> {
    if let Some(org) = &d.opts.backup {
        phase(
            d.opts,
            format!(
                "restoring from snapshot {} of {} (taken {}), copied into the drill's own store",
                org.id(),
                org.store_url,
                org.taken_at_text()
            ),
        );
        let store_dir = d.drill_dir.join("backups");
        let store = Arc::new(super::from_backup::copy_into(org, &store_dir).await?);
        let baseline = Baseline::from_objects(d.sim, &org.objects, &d.failed);
        let backup = Backup {
            store,
            store_dir,
            id: org.id().to_string(),
            manifest: org.manifest.clone(),
            taken_at: org.taken_at(),
        };
        return Ok((backup, baseline));
    }
    phase(d.opts, "backing up every DevOps connector");
    let store_dir = d.drill_dir.join("backups");
    let store = Arc::new(Store::open(&store_dir.to_string_lossy(), Keys::default())?);
    let reader = crate::backup::arm_reader::ArmReader::new((*d.client).clone());
    let summary = backup::collect(
        &reader,
        &store,
        CreateOptions {
            scope: Scope::default(),
            now: d.clock.now(),
            rules: backup::AnomalyRules::default(),
            immutable: false,
        },
    )
    .await
    .map_err(|e| UserError::failed("the drill's backup failed").with_source(e))?;
    let info = backup::snapshot::find_snapshot(&store, &summary.id).await?;
    let manifest = backup::snapshot::load_manifest(&store, &info).await?;
    let taken_at = manifest.time;
    let baseline = Baseline::take(d.sim, &store, &manifest, &d.failed).await?;
    Ok((Backup { store, store_dir, id: summary.id, manifest, taken_at }, baseline))
}

/// A quiet day passes ([`QUIET_PERIOD`], the RPO of a daily backup; not with `--from-backup`,
/// whose RPO is the snapshot's real age), a tampered-backup drill alters one stored object of a
/// failed connector, and the region fails.
fn inject_outage(d: &Drill<'_>, backup: &Backup) -> Result<Injected, UserError> {
    if d.opts.backup.is_none() {
        d.shared.clock.advance(QUIET_PERIOD);
    }
    let mut tampered: Option<PathBuf> = None;
    if d.opts.scenario == Scenario::TamperedBackup {
        phase(d.opts, "altering one byte of a stored backup object");
        // An object of a connector of the failed region: the snapshot the recovery needs.
        let prefixes: Vec<String> = d.failed.iter().map(|(k, _)| format!("{k}/")).collect();
        let victim = backup
            .manifest
            .resources
            .iter()
            .find(|(id, _)| prefixes.iter().any(|p| id.to_ascii_lowercase().starts_with(p)))
            .map(|(_, e)| e.hash.clone());
        tampered =
            Some(scenario::tamper_one_object(&backup.store_dir, victim.as_deref()).map_err(
                |e| UserError::failed("the drill could not alter its backup").with_source(e),
            )?);
    }
    phase(d.opts, format!("region {} fails", d.region));
    set_outage(&d.shared, &d.region, true);
    Ok(Injected { at: d.clock.now(), tampered })
}

/// Creates the runbook's run (parameters from [`drill_overrides`], OAuth codes in a file of
/// this drill) and drives it to its end, stretch after stretch ([`stretch`]): a sleeping run is
/// woken by advancing the simulator, a paused one answered ([`answer`]), an interrupted one
/// resumed, and the outage ends once every branch waits for the region ([`EndOfOutage`]).
async fn run_runbook(
    d: &Drill<'_>,
    declared: &BTreeSet<String>,
    backup: &Backup,
    baseline: &Baseline,
    injected_at: OffsetDateTime,
) -> Result<Ran, UserError> {
    let opts = d.opts;
    let names: Vec<String> = d.failed.iter().map(|(_, n)| n.clone()).collect();
    let codes = SecretFile(d.drill_dir.join("authorization-codes"));
    write_codes(&codes.0, d.sim, &names).map_err(|e| {
        UserError::failed("cannot write the authorization codes file").with_source(e)
    })?;
    let (text, name) = &opts.runbook;
    let overrides = drill_overrides(declared, &d.region, &opts.target_region, &backup.id, &codes.0);
    let plan = crate::runbook::load_str(name, text, &overrides).map_err(|e| {
        UserError::usage(format!("runbook {} cannot run as a drill", name.display()))
            .with_source(anyhow::anyhow!("{e}"))
    })?;
    let registry = crate::steps::registry();
    // On an az:// run store the run is created in its local working copy, then published: the
    // journal blob is its record (leased by this process until the drill ends).
    let store = opts.run_store.as_ref().map(|r| &r.store);
    let run_dir = runner::create_run(
        &crate::drill::shared::runs_root(&opts.state_dir, store),
        &plan,
        &opts.run_id,
        runner::entry_time(&*d.clock),
        &d.actor(),
        opts.seed,
    )
    .map_err(UserError::from)?;
    if let Some(p) = &opts.progress {
        p(DrillProgress::RunCreated(run_dir.clone()));
    }
    let mut services = Services::new();
    services.insert(d.client.clone());
    services.insert(backup.store.clone());
    services.insert(Arc::new(RunDir(run_dir.clone())));
    let shared = match store {
        Some(s) => Some(
            crate::drill::shared::publish(
                s,
                &opts.run_id,
                &run_dir,
                SystemClock.now(),
                &mut services,
            )
            .await?,
        ),
        None => None,
    };
    let inbox = shared.as_ref().map(|s| s.inbox.clone());
    let run = Run { dir: run_dir, registry, services: Arc::new(services) };

    phase(opts, "running the region-outage runbook");
    let mut end = EndOfOutage { d, baseline, checked: None };
    let mut crashes = Crashes::new(opts);
    let mut progress = 0usize;
    let mut answers = 0u32;
    // The run as it stands after each stretch: read incrementally (only what each stretch
    // appended), not replayed whole; a run of thousands of journaled writes and hundreds of
    // polling stretches would otherwise replay it hundreds of times.
    let mut after: Option<Watcher> = None;
    let secret_params = runner::secret_params_of(&plan);
    let outcome = loop {
        if d.clock.now() - injected_at > MAX_SIMULATED {
            break None;
        }
        // Fresh one-time codes before every stretch: an attempt re-entered after an
        // interruption needs an unused code.
        let _ = write_codes(&codes.0, d.sim, &names);
        let options = RunOptions {
            actor: d.actor(),
            time: TimeMode::Real,
            wait_until: Some(d.clock.now()),
            secret_params: secret_params.clone(),
            observer: opts.observer.clone(),
            inbox: inbox.clone(),
            ..RunOptions::default()
        };
        let deadline = crashes.deadline(progress);
        let Some(outcome) = stretch(&run, &d.clock, &options, deadline, &mut end).await else {
            crashes.count += 1;
            phase(opts, format!("interrupted the run ({})", crashes.count));
            continue;
        };
        let outcome = outcome.map_err(UserError::from)?;
        let views = match &mut after {
            Some(w) => {
                w.refresh(&run.registry).map_err(UserError::from)?;
                w.engine().snapshot()
            }
            None => {
                let mut w = Watcher::open(&run.dir, &run.registry).map_err(UserError::from)?;
                let views = w.engine().snapshot();
                after = Some(w);
                views
            }
        };
        progress = views
            .iter()
            .filter(|v| v.instance.as_ref().is_some_and(|i| i.state.is_terminal()))
            .count();
        if let Some(p) = &opts.progress {
            p(DrillProgress::Steps(views.clone()));
        }
        end.look(&views);
        match outcome {
            RunOutcome::Sleeping { until } => {
                let t = (until - sim_time(&d.shared, 0.0)).as_seconds_f64();
                advance_to(&d.shared, t);
            }
            RunOutcome::Paused { blockers } => {
                if !answer(d, &run, &views, blockers)? {
                    break Some(RunOutcome::Paused { blockers: Vec::new() });
                }
                answers += 1;
            }
            other => break Some(other),
        }
    };
    let checked = end.checked;
    drop(codes);
    // The run's lease is released here (the drill reads the run from its local copy after);
    // what its journal's appends cost goes to the caller.
    if let (Some(s), Some(r)) = (&shared, &opts.run_store) {
        use std::sync::atomic::Ordering::Relaxed;
        r.stats.batches.fetch_add(s.held.stats.batches.load(Relaxed), Relaxed);
        r.stats.requests.fetch_add(s.held.stats.requests.load(Relaxed), Relaxed);
    }
    drop(shared);
    Ok(Ran { run, outcome, checked, interruptions: crashes.count, answers })
}

/// One stretch of the run: [`runner::drive`] until it returns, looked at every [`WATCH_EVERY`]
/// while it runs (with many connectors it may not return for a long stretch of simulated time,
/// waiting branches polling while others still write, and the region must come back once every
/// branch waits for it, not after the run). `None` when `deadline` (a crash drill's
/// interruption) came first and the drive was dropped.
async fn stretch(
    run: &Run,
    clock: &Arc<dyn Clock>,
    options: &RunOptions,
    deadline: Option<tokio::time::Instant>,
    end: &mut EndOfOutage<'_>,
) -> Option<Result<RunOutcome, RunError>> {
    let drive =
        runner::drive(&run.dir, &run.registry, run.services.clone(), clock.clone(), options);
    tokio::pin!(drive);
    let journal = run.dir.join(crate::journal::JOURNAL_FILE);
    let mut seen_len = 0u64;
    // Follows the journal while the stretch runs: reads only what each look finds appended.
    let mut watcher: Option<Watcher> = None;
    loop {
        tokio::select! {
            o = &mut drive => return Some(o),
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                if deadline.is_some() => return None,
            _ = tokio::time::sleep(WATCH_EVERY) => {
                let len = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
                if end.checked.is_none() && len != seen_len {
                    seen_len = len;
                    let looked = match &mut watcher {
                        Some(w) => w.refresh(&run.registry).is_ok(),
                        None => Watcher::open(&run.dir, &run.registry)
                            .map(|w| watcher = Some(w))
                            .is_ok(),
                    };
                    if let Some(w) = watcher.as_mut().filter(|_| looked) {
                        end.look(&w.engine().snapshot());
                    }
                }
            }
        }
    }
}

/// The moment the recovery is as complete as it gets while the region is down: once every
/// branch waits for the failed region, the recovery is checked independently (that moment ends
/// the RTO) and the outage ends.
struct EndOfOutage<'a> {
    d: &'a Drill<'a>,
    baseline: &'a Baseline,
    /// The check made then, and its time.
    checked: Option<(Checked, OffsetDateTime)>,
}

impl EndOfOutage<'_> {
    fn look(&mut self, views: &[InstanceView]) {
        let d = self.d;
        if self.checked.is_none() && waits_for_region(views) {
            phase(d.opts, "checking the recovery independently");
            self.checked = Some((self.baseline.settings(d.sim, &d.region, d.opts), d.clock.now()));
            phase(d.opts, format!("region {} recovers", d.region));
            set_outage(&d.shared, &d.region, false);
        }
    }
}

/// A crash drill's interruptions: a stretch of the run is interrupted at a random point of real
/// time (seeded, at most 6, at most once per stage of progress so they spread over the whole
/// run); the next stretch resumes from the journal.
struct Crashes {
    on: bool,
    rng: u64,
    /// Interruptions so far.
    count: u32,
    /// The progress (step instances ended) at the last interruption.
    last: Option<usize>,
}

impl Crashes {
    fn new(opts: &SimDrillOptions) -> Self {
        Crashes {
            on: opts.scenario == Scenario::Crash,
            rng: opts.seed ^ 0x9e37_79b9_7f4a_7c15,
            count: 0,
            last: None,
        }
    }

    /// When to interrupt the next stretch, if it is to be interrupted; `progress` is the number
    /// of step instances ended so far. The seeded sequence advances before every stretch of
    /// every drill.
    fn deadline(&mut self, progress: usize) -> Option<tokio::time::Instant> {
        self.rng = splitmix(self.rng);
        // Until the first interruption has landed every stretch tries one: a drive that pauses
        // before its deadline (a gate, a wait) interrupts nothing, and on a loaded machine a
        // coin flip per stretch left some crash drills with no interruption at all.
        let interrupt = self.on
            && self.count < 6
            && self.last != Some(progress)
            && (self.count == 0 || self.rng % 2 == 0);
        if !interrupt {
            return None;
        }
        self.last = Some(progress);
        self.rng = splitmix(self.rng);
        Some(tokio::time::Instant::now() + Duration::from_micros(200 + self.rng % 20_000))
    }
}

/// Answers what a paused run waits for, standing in for the person who ran the drill (the
/// actor, `via: drill`): every approval is granted, an interrupted one-shot step is looked at
/// ([`check_interrupted`]). A person takes time to answer: the assumed response time
/// (`--response-time`) passes in simulated time first, once for all the blockers of a pause (one
/// person answers them together). `false` when there was nothing it could answer (the run stops
/// for a person).
fn answer(
    d: &Drill<'_>,
    run: &Run,
    views: &[InstanceView],
    blockers: Vec<Blocker>,
) -> Result<bool, UserError> {
    let mut events = Vec::new();
    for b in blockers {
        let event = match b.phase {
            Phase::AwaitingApproval => Event::Approved {
                step: b.step.clone(),
                branch: b.branch,
                by: d.actor(),
                comment: Some(
                    "granted by lifeboat drill on behalf of the person who ran it (a rehearsal)"
                        .into(),
                ),
            },
            Phase::AwaitingAttestation if b.interrupted => {
                match check_interrupted(d.sim, views, &b.step, b.branch, &d.actor()) {
                    Some(e) => e,
                    None => continue,
                }
            }
            _ => continue,
        };
        events.push(event);
    }
    if events.is_empty() {
        return Ok(false);
    }
    let respond = d.opts.assumed.response_time.as_secs_f64();
    advance_to(&d.shared, d.shared.clock.now() + respond);
    for event in events {
        runner::apply_manual(&run.dir, &run.registry, event, runner::entry_time(&*d.clock))
            .map_err(UserError::from)?;
    }
    Ok(true)
}

/// Ends the outage, makes the independent check if the runbook never waited for the region,
/// checks Microsoft's side, and builds the report: the verdict computed, and why the run did
/// not succeed when it did not.
fn conclude(
    d: &Drill<'_>,
    (started_at, wall_start, real_start): (OffsetDateTime, OffsetDateTime, std::time::Instant),
    backup: &Backup,
    baseline: &Baseline,
    injected: &Injected,
    ran: Ran,
) -> Result<DrillOutcome, UserError> {
    let opts = d.opts;
    set_outage(&d.shared, &d.region, false);
    let replayed = runner::load(&ran.run.dir, &ran.run.registry).map_err(UserError::from)?;
    let views = replayed.engine.snapshot();
    let succeeded = matches!(ran.outcome, Some(RunOutcome::Succeeded));

    let (checked, verified_at) = match ran.checked {
        Some(c) => c,
        None if opts.scenario == Scenario::TamperedBackup => (
            Checked {
                verifications: verify_untouched(d.sim, &opts.target_region),
                restored: Default::default(),
            },
            d.clock.now(),
        ),
        None => (baseline.settings(d.sim, &d.region, opts), d.clock.now()),
    };
    let mut verifications = checked.verifications;
    // Microsoft's side lags the release (and lifeboat waits for it beside the rest of the
    // recovery), so it is checked once the run has ended; it is not part of the RTO.
    if opts.scenario != Scenario::TamperedBackup {
        verifications.extend(baseline.microsoft_side(d.sim, d.clock.now()));
    }

    let mut detected = Vec::new();
    if opts.scenario == Scenario::TamperedBackup {
        if let Some(found) = detection(&views, injected.tampered.as_deref()) {
            detected.push(found);
        }
    }
    let verified = opts.scenario != Scenario::TamperedBackup
        && succeeded
        && !verifications.is_empty()
        && verifications.iter().all(|v| v.passed);

    let finished_at = d.clock.now();
    let steps = step_records(&views, finished_at);
    let api = api_stats(&d.sim.requests(), &d.client.call_log());
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
        outage: Outage { region: d.region.clone(), injected_at: injected.at },
        target_region: crate::sim::model::normalize_region(&opts.target_region),
        recovery: Recovery { verified, verified_at: verified.then_some(verified_at) },
        rto: Rto {
            target_seconds: opts.rto_target.map(|t| t.as_secs_f64()),
            measured_source: Some(measured_source(&d.shared.config)),
            ..Rto::default()
        },
        rpo: Rpo {
            backup_id: Some(backup.id.clone()),
            backup_taken_at: Some(backup.taken_at),
            target_seconds: opts.rpo_target.map(|t| t.as_secs_f64()),
            basis: Some(match opts.backup {
                Some(_) => Basis { kind: BasisKind::Measured, source: SNAPSHOT_AGE_SOURCE.into() },
                None => Basis { kind: BasisKind::Assumed, source: BACKUP_AGE_SOURCE.into() },
            }),
            ..Rpo::default()
        },
        api,
        steps,
        verifications,
        detected,
        not_recreated_by_microsoft: NotRecreated::documented(),
        verdict: Verdict::default(),
        wall_clock: Some(WallClock { started_at: wall_start, finished_at: SystemClock.now() }),
        assumptions: assumptions(d, ran.answers),
        live: None,
        resources: Some(resources(opts, backup, baseline, &d.region, checked.restored)),
    };
    r.compute_verdict();
    if ran.interruptions > 0 {
        r.verdict.reasons.push(format!(
            "the drill interrupted its own run {} times and resumed it from the journal",
            ran.interruptions
        ));
    }
    if !succeeded && opts.scenario != Scenario::TamperedBackup {
        let why = why_not(ran.outcome.as_ref());
        if !r.verdict.reasons.contains(&why) {
            r.verdict.reasons.push(why);
        }
    }
    Ok(DrillOutcome { report: r, drill_dir: d.drill_dir.to_path_buf(), run_dir: Some(ran.run.dir) })
}

/// Where the RPO of a simulated drill comes from: it is chosen, not measured.
/// Where the RPO of a drill from the organisation's snapshot comes from: measured.
const SNAPSHOT_AGE_SOURCE: &str = "the real age of the organisation's snapshot when the drill's outage began (the drill's simulated time starts at its wall-clock start)";

const BACKUP_AGE_SOURCE: &str = "the drill takes its own backup of the simulated tenant and lets one simulated day pass before the outage (the worst case of a daily backup); only a drill from the organisation's own backup measures a real snapshot's age";

/// What the measured part of the RTO is, from the simulator's configuration: lifeboat's work
/// against the simulator's model of ARM.
fn measured_source(config: &crate::sim::SimConfig) -> String {
    let t = &config.throttle;
    let limits = format!(
        "reads {} + {}/s, writes {} + {}/s, deletes {} + {}/s per subscription; Resource Graph {} queries per {}",
        t.reads.capacity,
        t.reads.refill_per_sec,
        t.writes.capacity,
        t.writes.refill_per_sec,
        t.deletes.capacity,
        t.deletes.refill_per_sec,
        t.graph_quota,
        report::format_duration(t.graph_window.as_secs_f64()),
    );
    let throttle = if !t.enabled {
        "ARM throttling off".to_string()
    } else if *t == crate::sim::throttle::ThrottleConfig::default() {
        format!("ARM throttling at ARM's documented limits ({limits})")
    } else {
        format!("ARM throttling tighter than ARM's documented limits ({limits})")
    };
    format!(
        "lifeboat's steps and Azure calls against the simulator, simulated time advanced only by what lifeboat waited for (retry backoff, Retry-After, long-running operations of {} each, polls); {throttle}; the simulator answers at once, so network latency is not included",
        report::format_duration(config.lro_delay.as_secs_f64())
    )
}

/// What the drill assumed instead of measuring, each with its value and source.
fn assumptions(d: &Drill<'_>, answers: u32) -> Vec<Assumption> {
    let a = &d.opts.assumed;
    let desk = d.shared.config.release_delay;
    let support_source = if desk != a.support_wait {
        "the simulator's release delay, as the caller that started the simulator configured it"
            .to_string()
    } else if a.support_wait_given {
        "--support-wait: the organisation's own figure".to_string()
    } else {
        format!(
            "default {}, a choice: Microsoft documents the initial response time of a support request (when an engineer starts working on it: it depends on the support plan and on the severity, {} for this runbook), not how long until the DevOps resources are released (Azure support plans, \"Support scope and responsiveness\"; docs/drill.md); set --support-wait from your support plan and your own experience",
            report::format_duration(super::DEFAULT_SUPPORT_WAIT.as_secs_f64()),
            "moderate (Severity B) by default"
        )
    };
    let people_source = format!(
        "{}; the drill answered {answers} time(s), each after this much simulated time (approvals, attestations: one person answering every branch at once)",
        if a.response_time_given {
            "--response-time: the organisation's own figure".to_string()
        } else {
            format!(
                "default {}, a choice: how fast a person answers is the organisation's own figure (its on-call acknowledgement target); set --response-time",
                report::format_duration(super::DEFAULT_RESPONSE_TIME.as_secs_f64())
            )
        }
    );
    let mut v = vec![
        Assumption {
            name: "support-wait".into(),
            applies_to: AppliesTo::Rto,
            seconds: desk.as_secs_f64(),
            option: Some("--support-wait".into()),
            source: support_source,
        },
        Assumption {
            name: "response-time".into(),
            applies_to: AppliesTo::Rto,
            seconds: a.response_time.as_secs_f64(),
            option: Some("--response-time".into()),
            source: people_source,
        },
        Assumption {
            name: "oauth-authorization".into(),
            applies_to: AppliesTo::Rto,
            seconds: 0.0,
            option: None,
            source: "the drill hands the runbook one-time OAuth codes prepared before the run (authorization_codes); in a recovery a person authorizes each new connector (fresh codes, or the Azure portal), which takes their time".into(),
        },
    ];
    // A drill from the organisation's snapshot measures the backup's age: nothing to assume.
    if d.opts.backup.is_none() {
        v.push(Assumption {
            name: "backup-age".into(),
            applies_to: AppliesTo::Rpo,
            seconds: QUIET_PERIOD.as_secs_f64(),
            option: None,
            source: BACKUP_AGE_SOURCE.into(),
        });
    }
    v
}

/// The report's counts: the snapshot's, the failed region's share of it, and what the
/// independent check found back (in a tampered-backup drill, which must refuse the restore,
/// nothing).
fn resources(
    opts: &SimDrillOptions,
    backup: &Backup,
    baseline: &Baseline,
    region: &str,
    restored: std::collections::BTreeMap<crate::backup::ResourceKind, u64>,
) -> Resources {
    let named = |m: std::collections::BTreeMap<crate::backup::ResourceKind, u64>| {
        m.into_iter().map(|(k, n)| (k.as_str().to_string(), n)).collect()
    };
    let to_restore = named(baseline.to_restore(region));
    let (seeded_from, store, notes) = match &opts.backup {
        Some(org) => (
            "snapshot",
            Some(org.store_url.clone()),
            org.passed_over.iter().chain(&org.seeding_notes).cloned().collect(),
        ),
        None => ("tenant", None, Vec::new()),
    };
    Resources {
        seeded_from: seeded_from.into(),
        store,
        in_snapshot: named(backup.manifest.counts.clone()),
        to_restore,
        restored: named(restored),
        notes,
    }
}

/// Why a run that did not succeed did not, for the verdict's reasons: it never ended, the first
/// few failures (the steps table has them all), or where it stopped.
fn why_not(outcome: Option<&RunOutcome>) -> String {
    match outcome {
        None => "the run did not finish within 60 simulated days".to_string(),
        Some(RunOutcome::Failed { blockers }) => {
            // The first few failures say what went wrong; the steps table has them all.
            let failed: Vec<String> = blockers
                .iter()
                .filter(|b| b.phase == Phase::Failed)
                .map(|b| format!("{} ({})", b.name(), b.message.as_deref().unwrap_or("")))
                .collect();
            let more = failed.len().saturating_sub(3);
            let mut text = format!("the run failed: {}", failed[..failed.len().min(3)].join("; "));
            if more > 0 {
                text.push_str(&format!("; and {more} more failed steps"));
            }
            text
        }
        Some(o) => format!("the run stopped: {}", o.exit().code()),
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
    actor: &Actor,
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
            by: actor.clone(),
            evidence: format!(
                "the drill checked the simulated Azure: {id} is gone, the interrupted delete took effect"
            ),
        }
    } else {
        Event::Skipped {
            step: step.to_string(),
            branch,
            by: actor.clone(),
            reason: format!(
                "interrupted before the delete took effect: the drill leaves {id} in place"
            ),
        }
    })
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
