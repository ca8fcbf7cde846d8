//! Integration tests of backups: the store conformance suite on a local directory and on
//! Azurite (`LIFEBOAT_TEST_AZURITE`), the CLI's exit codes and messages, and a 50,000-repo
//! memory/throughput check (printed, not asserted), and the regression tests of issue 11
//! (`defects`: leases, repairs, signatures, hash validation).

mod cli;
pub(crate) mod common;
mod defects;
mod scale;
mod suite;

use common::Backend;

async fn run_suite(b: &Backend) {
    eprintln!("[{}] capture, dedup, diff", b.name());
    suite::capture_dedup_and_diff(b).await;
    eprintln!("[{}] byte flips (clear, 200 trials)", b.name());
    suite::verify_detects_byte_flips(b, false, 200).await;
    eprintln!("[{}] byte flips (encrypted, 200 trials)", b.name());
    suite::verify_detects_byte_flips(b, true, 200).await;
    eprintln!("[{}] missing object", b.name());
    suite::missing_object_is_reported(b).await;
    eprintln!("[{}] encryption rules", b.name());
    suite::encryption_rules(b).await;
    eprintln!("[{}] racing writers", b.name());
    suite::racing_writers(b).await;
    eprintln!("[{}] failed run", b.name());
    suite::failed_run_leaves_no_manifest(b).await;
    eprintln!("[{}] prune", b.name());
    suite::prune_policy(b).await;
    eprintln!("[{}] anomalies", b.name());
    suite::anomalies_are_flagged(b).await;
    eprintln!("[{}] scope filter", b.name());
    suite::scope_filter(b).await;
    eprintln!("[{}] planted secret", b.name());
    suite::planted_secret_never_stored(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_suite_local() {
    run_suite(&Backend::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_suite_azurite() {
    if let Some(b) = Backend::azurite().await {
        run_suite(&b).await;
    }
}
