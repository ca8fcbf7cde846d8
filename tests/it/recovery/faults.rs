//! Faults: the recovery completes through 5% failing calls (500/503), 429 bursts and dropped
//! connections with every setting restored; and when the target region fails too, the run stops
//! with an error that names the region and the resume command (exit 1), every write the sim saw
//! is journaled, and `resume` finishes the job once the region is back.

use crate::recovery::common::*;
use lifeboat::journal;
use serde_json::Value;
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_recovery_completes_through_errors_throttling_and_dropped_connections() {
    let sim = start_sim("").await;
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    // About 5% of calls fail (500/503), bursts of 429s, 1% dropped connections; the outage too.
    let spec = "outage=westeurope;500=0.03;503=0.02;429-burst=0.01x4;drop=0.01;seed=11";
    set_faults(&sim, spec).await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), "faults");
    let d = drive_to_end(&sim, &world, "faults", &args, &Kill::default()).await.unwrap();
    assert!(d.exits.iter().all(Option::is_some), "nothing was killed: {:?}", d.exits);
    let faulted = sim.requests().iter().filter(|r| r.status >= 429 || r.status == 0).count();
    assert!(faulted >= 5, "faults were injected ({faulted})");
    assert_recovered(&sim, &world, &snapshot).await;
    sim.shutdown().await.unwrap();
}

/// Every write request the sim logged (PUT/PATCH/DELETE on connectors and their children, ticket
/// PUTs) must match an effect journaled for that resource (method + path, case-insensitive).
fn unrecorded_writes(sim: &lifeboat::sim::RunningSim, world: &World, run: &str) -> Vec<String> {
    let entries = journal::read(&world.run_dir(run).join(journal::JOURNAL_FILE)).unwrap().entries;
    let mut effects: BTreeMap<String, usize> = BTreeMap::new();
    for e in &entries {
        if e.payload["event"] == "effect_recorded" {
            let f = &e.payload["effect"];
            let key = format!(
                "{} {}",
                f["method"].as_str().unwrap_or(""),
                f["resource"].as_str().unwrap_or("").to_ascii_lowercase()
            );
            *effects.entry(key).or_default() += 1;
        }
    }
    sim.requests()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "PATCH" | "DELETE"))
        .map(|r| format!("{} {}", r.method, r.path.to_ascii_lowercase()))
        .filter(|w| !effects.contains_key(w))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_target_region_stops_the_run_clearly_and_resume_continues_once_it_is_back() {
    let sim = start_sim("").await;
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    fail_region(&sim, "northeurope").await;
    write_codes(&sim, &world);
    // The shipped runbook retries the connector step 4 times over minutes; this copy keeps the
    // same bounded policy shape with millisecond delays so the test does not wait minutes.
    let text = std::fs::read_to_string(World::runbook()).unwrap();
    let fast = text.replace(
        "retry: {max_attempts: 4, initial_delay: 15s, max_delay: 2m}\n    timeout: 7d",
        "retry: {max_attempts: 3, initial_delay: 50ms, max_delay: 100ms}\n    timeout: 7d",
    );
    assert_ne!(fast, text, "the connector step's retry policy was found");
    let rb = world.tmp.path().join("region-outage.yaml");
    std::fs::write(&rb, fast).unwrap();
    let args = run_args(&world, rb.to_str().unwrap(), "target");
    let mut cmd = world.cmd(&sim, &args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.env("LIFEBOAT_HTTP_RETRIES", "1");
    let out = run(cmd).await;
    let t = text_of(&out);
    assert_eq!(out.status.code(), Some(1), "stops with an error: {t}");
    assert!(t.contains("target region northeurope is unavailable"), "names the region: {t}");
    assert!(t.contains("lifeboat resume target"), "says how to continue: {t}");
    let unrecorded = unrecorded_writes(&sim, &world, "target");
    assert!(unrecorded.is_empty(), "writes without a journaled effect: {unrecorded:?}");
    let tried = sim.requests().iter().filter(|r| r.method == "PUT" && r.status == 503).count();
    assert!(tried >= 3, "the step retried within its policy ({tried} refused PUTs)");

    // A resume while the region is still down re-arms the step and stops the same way.
    let mut cmd = world.cmd(&sim, &["resume", "target"]);
    cmd.env("LIFEBOAT_HTTP_RETRIES", "1");
    let out = run(cmd).await;
    let t = text_of(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("re-armed step create-or-adopt-connector["), "{t}");
    assert!(t.contains("target region northeurope is unavailable"), "{t}");
    let journal = std::fs::read_to_string(world.run_dir("target").join("journal.jsonl")).unwrap();
    let rearmed = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["payload"]["event"] == "rearmed")
        .count();
    assert_eq!(rearmed, 2, "one journaled re-arm per connector branch");

    restore_region(&sim, "northeurope").await;
    let d = drive_to_end(&sim, &world, "target", &args, &Kill::default()).await.unwrap();
    assert!(d.exits.iter().all(Option::is_some));
    assert_recovered(&sim, &world, &snapshot).await;
    let unrecorded = unrecorded_writes(&sim, &world, "target");
    assert!(unrecorded.is_empty(), "writes without a journaled effect: {unrecorded:?}");
    sim.shutdown().await.unwrap();
}

fn text_of(o: &std::process::Output) -> String {
    text(o)
}
