//! Crash and resume of the region-outage recovery, through the real binary: SIGKILL at every
//! step boundary (journal-append failpoints on each step's start and end, in whichever `run` or
//! `resume` process journals it) and at 50 seeded points inside `reapply-settings` and
//! `submit-support-request` (failpoints at appends inside those steps, and kills at random delays
//! after the step started, the sim adding a little latency to every call so the steps take long
//! enough). Each case resumes as a responder would (approving gates, checking an interrupted
//! delete before attesting it) and must end like the uninterrupted run: the same final state,
//! one ticket and one new connector per failed connector, every backed-up setting live.
//!
//! By default a representative 25 of the 50 inside points run (every other one);
//! `LIFEBOAT_SLOW_TESTS=1` runs all 50. Cases run 4 at a time, each with its own in-process sim.

use crate::recovery::common::*;
use lifeboat::engine::runner;
use lifeboat::journal;
use lifeboat::steps::registry;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const RUN: &str = "crash";
/// Every call takes a few real milliseconds, so a timed kill can land inside a step.
const FAULTS: &str = "outage=westeurope;latency=3ms..8ms;seed=5";
/// The steps whose insides are crashed into.
const INSIDE: [&str; 2] = ["reapply-settings", "submit-support-request"];
const BOUNDARIES: [&str; 6] = [
    "step_started",
    "step_succeeded",
    "step_failed",
    "step_waiting",
    "step_awaiting_approval",
    "step_awaiting_attestation",
];

/// A fresh world: sim (small tenant), backup taken before the outage, faults, codes.
async fn world() -> (lifeboat::sim::RunningSim, World, String) {
    let sim = start_sim("").await;
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    set_faults(&sim, FAULTS).await;
    write_codes(&sim, &world);
    (sim, world, snapshot)
}

/// Step instance → phase, once the run succeeded.
fn final_state(world: &World) -> BTreeMap<String, String> {
    let r = runner::load(&world.run_dir(RUN), &registry()).unwrap();
    assert_eq!(r.engine.status(), lifeboat::engine::Status::Succeeded);
    r.engine
        .snapshot()
        .into_iter()
        .map(|v| {
            let phase = v.instance.as_ref().map(|i| i.state.phase().name()).unwrap_or("unexpanded");
            (v.name(), phase.to_string())
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Case {
    Failpoint { process: usize, spec: String, what: String },
    Timed { step: String, delay: Duration },
}

impl Case {
    fn kill(&self) -> Kill {
        match self {
            Case::Failpoint { process, spec, .. } => {
                Kill { failpoint: Some((*process, spec.clone())), timed: None }
            }
            Case::Timed { step, delay } => {
                Kill { failpoint: None, timed: Some((step.clone(), *delay)) }
            }
        }
    }
    fn name(&self) -> String {
        match self {
            Case::Failpoint { process, spec, what } => format!("process {process} {spec} ({what})"),
            Case::Timed { step, delay } => format!("kill {delay:?} into {step}"),
        }
    }
}

async fn one_case(case: Case, reference: Arc<BTreeMap<String, String>>) {
    let (sim, world, snapshot) = world().await;
    let args = run_args(&world, &World::runbook(), RUN);
    let d = drive_to_end(&sim, &world, RUN, &args, &case.kill()).await.unwrap();
    assert!(d.exits.contains(&None), "the process was killed: {:?}", d.exits);
    assert_eq!(final_state(&world), *reference, "the same final state");
    journal::read(&world.run_dir(RUN).join(journal::JOURNAL_FILE)).unwrap();
    assert_recovered(&sim, &world, &snapshot).await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_every_step_boundary_and_inside_reapply_and_submit_then_resume() {
    // The reference: one uninterrupted recovery.
    let (sim, world, snapshot) = world().await;
    let args = run_args(&world, &World::runbook(), RUN);
    let d = drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    assert_recovered(&sim, &world, &snapshot).await;
    let reference = Arc::new(final_state(&world));
    let lines: Vec<Value> =
        journal_text(&world, RUN).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    sim.shutdown().await.unwrap();

    // Journal line (0-based) → (driving process, its 1-based append number).
    let process_of = |line: usize| -> Option<(usize, usize)> {
        (0..d.lines_before.len())
            .find(|&k| line >= d.lines_before[k] && line < d.lines_after[k])
            .map(|k| (k, line - d.lines_before[k] + 1))
    };
    let event = |l: &Value| l["payload"]["event"].as_str().unwrap_or("").to_string();
    let step = |l: &Value| l["payload"]["step"].as_str().unwrap_or("").to_string();
    let modes = ["before", "after-write", "torn"];
    let mut cases = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if !BOUNDARIES.contains(&event(l).as_str()) {
            continue;
        }
        let Some((process, n)) = process_of(i) else { continue };
        let what = format!("{} {}", event(l), step(l));
        let spec = format!("journal-append:{n}:{}", modes[cases.len() % 3]);
        cases.push(Case::Failpoint { process, spec, what });
    }
    let boundaries = cases.len();
    assert!(boundaries >= 40, "every step's start and end ({boundaries})");

    // Appends inside the two steps, and how long each ran (journal times).
    let mut inside: Vec<(usize, usize, String)> = Vec::new();
    let mut spans: BTreeMap<String, Duration> = BTreeMap::new();
    for s in INSIDE {
        let mut open: BTreeMap<String, (usize, time::OffsetDateTime)> = BTreeMap::new();
        for (i, l) in lines.iter().enumerate() {
            if step(l) != s {
                continue;
            }
            let key = format!("{}", l["payload"]["branch"]);
            let t = time::OffsetDateTime::parse(
                l["time"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
            match event(l).as_str() {
                "step_started" => {
                    open.insert(key, (i, t));
                }
                e if BOUNDARIES.contains(&e) => {
                    if let Some((_, t0)) = open.remove(&key) {
                        let span: Duration = (t - t0).try_into().unwrap_or_default();
                        let e = spans.entry(s.to_string()).or_default();
                        *e = (*e).max(span);
                    }
                }
                _ if open.contains_key(&key) => {
                    if let Some((p, n)) = process_of(i) {
                        inside.push((p, n, s.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
    assert!(!inside.is_empty(), "the steps journal effects while they run");
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let mut random = Vec::new();
    for k in 0..50 {
        if k % 2 == 0 {
            let (process, n, s) = inside[rng.random_range(0..inside.len())].clone();
            let spec = format!("journal-append:{n}:{}", modes[k % 3]);
            random.push(Case::Failpoint { process, spec, what: format!("inside {s}") });
        } else {
            let s = INSIDE[rng.random_range(0..INSIDE.len())];
            let max = spans.get(s).copied().unwrap_or_default().as_millis().max(10) as u64;
            random.push(Case::Timed {
                step: s.to_string(),
                delay: Duration::from_millis(rng.random_range(0..max)),
            });
        }
    }
    let slow = std::env::var("LIFEBOAT_SLOW_TESTS").is_ok_and(|v| v == "1");
    let random: Vec<Case> = random
        .into_iter()
        .enumerate()
        .filter(|(k, _)| slow || k % 2 == 0)
        .map(|(_, c)| c)
        .collect();
    // Every other of the 50 is a timed kill: the default keeps failpoints and timed kills mixed.
    cases.extend(random);

    eprintln!(
        "{} crash cases: {boundaries} step boundaries, {} inside",
        cases.len(),
        cases.len() - boundaries
    );
    let limit = Arc::new(tokio::sync::Semaphore::new(4));
    let mut handles = Vec::new();
    for case in cases.clone() {
        let limit = limit.clone();
        let reference = reference.clone();
        handles.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            one_case(case, reference).await
        }));
    }
    let mut failures = Vec::new();
    for (case, h) in cases.iter().zip(handles) {
        if let Err(e) = h.await {
            let msg = e
                .try_into_panic()
                .ok()
                .and_then(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                })
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", case.name()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} crash cases failed ({boundaries} boundaries):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
