//! Run store benchmark (issue 17): the same simulated drill (the built-in region-outage runbook
//! on the small tenant, same seed) with its run store on Azurite versus on local disk, on the
//! same machine, one run each, side by side. Printed: the wall time of each drill and their
//! ratio (goal: under 2x), and the run store's round trips per journal batch (goal: 1; counted
//! in the run store's client: every HTTP attempt of the journal's Append Blocks, retries
//! included, divided by the batches the journal wrote), with the store's other round trips
//! (lease, inbox reads, support drafts, reports) beside them. Asserts nothing.
//!
//! Needs Azurite: `AZURITE_BLOB_PORT=10000 bash .ci/azurite.sh start` and the
//! `LIFEBOAT_TEST_AZURITE` line it prints; without it the benchmark says so and skips.
//! Run: `cargo bench --bench run_store`.

use lifeboat::clock::{Clock, SystemClock};
use lifeboat::drill::report::Scenario;
use lifeboat::drill::simulated::{self, RunStoreDrill, SimDrillOptions, TenantChoice};
use lifeboat::runstore::{BlobStore, RunStoreUrl};
use lifeboat::sim::TenantSource;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

fn options(
    state: &std::path::Path,
    run_id: &str,
    run_store: Option<RunStoreDrill>,
) -> SimDrillOptions {
    SimDrillOptions {
        state_dir: state.to_path_buf(),
        run_id: run_id.into(),
        tenant: TenantChoice { source: TenantSource::Small, label: "small".into() },
        scenario: Scenario::RegionOutage,
        region: Some("westeurope".into()),
        target_region: "northeurope".into(),
        runbook: (
            simulated::REGION_OUTAGE_RUNBOOK.to_string(),
            PathBuf::from("embedded:region-outage.yaml"),
        ),
        rto_target: None,
        rpo_target: None,
        seed: 17,
        progress: None,
        assumed: simulated::AssumedTimes::default(),
        actor: simulated::drill_actor(),
        observer: None,
        backup: None,
        run_store,
    }
}

/// One drill: its wall time and the number of journal entries its run wrote.
async fn drill(opts: SimDrillOptions) -> (Duration, usize) {
    let start = Instant::now();
    let outcome = simulated::run(opts).await.expect("the drill runs");
    let took = start.elapsed();
    assert!(outcome.report.verdict.passed, "{:?}", outcome.report.verdict.reasons);
    let entries = outcome
        .run_dir
        .and_then(|d| std::fs::read(d.join(lifeboat::journal::JOURNAL_FILE)).ok())
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0);
    (took, entries)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let Ok(endpoint) = std::env::var("LIFEBOAT_TEST_AZURITE") else {
        println!(
            "run_store: skipped, LIFEBOAT_TEST_AZURITE is unset (start Azurite with `bash .ci/azurite.sh start` and export the line it prints)"
        );
        return;
    };
    let endpoint = endpoint.trim_end_matches('/').to_string();
    let env = |k: &str| match k {
        "AZURE_STORAGE_USE_EMULATOR" => Some("true".to_string()),
        "AZURE_STORAGE_ENDPOINT" => Some(endpoint.clone()),
        _ => None,
    };
    let container = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let url = RunStoreUrl::Azure { container: container.clone(), prefix: "bench".into() };
    let store = BlobStore::open(&url, &env, SystemClock.now()).expect("open the run store");
    store.create_container().await.expect("create the container");

    let local_dir = tempfile::tempdir().expect("temporary directory");
    let remote_dir = tempfile::tempdir().expect("temporary directory");
    let (local, local_entries) = drill(options(local_dir.path(), "bench-local", None)).await;
    let shared = RunStoreDrill::new(store.clone());
    let before = store.round_trips();
    let (remote, remote_entries) =
        drill(options(remote_dir.path(), "bench-remote", Some(shared.clone()))).await;
    let all = store.round_trips() - before;
    let batches = shared.stats.batches.load(Relaxed);
    let requests = shared.stats.requests.load(Relaxed);

    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "run store benchmark: simulated region-outage drill (small tenant, seed 17), one run each"
    );
    println!("{:<28} {:>12} {:>16}", "", "local disk", "Azurite (az://)");
    println!("{:<28} {:>11.3}s {:>15.3}s", "wall time", secs(local), secs(remote));
    println!("{:<28} {:>12} {:>16}", "journal entries", local_entries, remote_entries);
    println!("{:<28} {:>12} {:>16}", "journal batches (appends)", "-", batches);
    println!(
        "wall-time ratio Azurite/local: {:.2}x (goal < 2x)",
        secs(remote) / secs(local).max(1e-9)
    );
    println!(
        "round trips per journal batch: {:.2} ({requests} Append Block attempts / {batches} batches; goal 1)",
        requests as f64 / (batches.max(1) as f64)
    );
    println!(
        "other run store round trips: {} (run creation, lease acquire/renew/release, inbox reads, support drafts, reports)",
        all.saturating_sub(requests)
    );
}
