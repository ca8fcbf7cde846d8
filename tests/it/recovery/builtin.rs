//! Issue 15, item 1: the region-outage runbook is built into the binary. `lifeboat run
//! region-outage` from an empty directory (no checkout, no runbook file anywhere near) recovers
//! the region; the journal header names the built-in runbook and the SHA-256 of its text; the run
//! is resumed, approved and finished from other empty directories (its plan is in the journal).

use crate::recovery::common::*;
use lifeboat::runbook::builtin;

const RUN: &str = "by-name";

/// A `lifeboat` command of this world run in `cwd`.
fn cmd_in(
    sim: &lifeboat::sim::RunningSim,
    world: &World,
    cwd: &std::path::Path,
    args: &[&str],
) -> std::process::Command {
    let mut c = world.cmd(sim, args);
    c.current_dir(cwd);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_built_in_runbook_recovers_from_an_empty_directory_and_resumes_from_another() {
    let sim = start_sim("").await;
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let here = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();

    let args = run_args(&world, "region-outage", RUN);
    let out = run(cmd_in(
        &sim,
        &world,
        here.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
    .await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "paused at the submission gate: {t}");
    assert!(t.contains("approve-submission"), "{t}");

    // The header says which runbook ran: built in, its name, the digest of the text it ran.
    let journal = journal_text(&world, RUN);
    let header: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    let rb = &header["payload"]["runbook"];
    let b = builtin::region_outage();
    assert_eq!(rb["builtin"], "region-outage", "{rb}");
    assert_eq!(rb["name"], "region-outage", "{rb}");
    assert_eq!(rb["path"], "builtin:region-outage.yaml", "{rb}");
    assert_eq!(rb["sha256"], lifeboat::digest::sha256_hex(b.source.as_bytes()), "{rb}");
    assert_eq!(header["payload"]["plan"]["runbook"]["source"]["text"], b.source);

    // Approved and resumed from a directory that never saw the run or the runbook.
    let out = run(cmd_in(
        &sim,
        &world,
        elsewhere.path(),
        &["approve", RUN, "approve-submission", "--all"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before = journal_text(&world, RUN).lines().count();
    let resume = cmd_in(&sim, &world, elsewhere.path(), &["resume", RUN]);
    let mut child = resume.spawn_in_background();
    // The resume files the tickets (what the plan in the journal says), then waits for the
    // release: enough to know it ran from there.
    let start = std::time::Instant::now();
    while sim.cloud().tickets.len() < 2 {
        assert!(start.elapsed() < std::time::Duration::from_secs(120), "no tickets filed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.stop();
    assert!(journal_text(&world, RUN).lines().count() > before, "the resume journaled nothing");

    // The rest of the recovery, as the acceptance test drives it; it must end recovered.
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    assert_recovered(&sim, &world, &snapshot).await;
    sim.shutdown().await.unwrap();
}

/// A child process ended (killed) when the test is done with it or fails.
struct BackgroundChild(std::process::Child);

trait SpawnInBackground {
    fn spawn_in_background(self) -> BackgroundChild;
}

impl SpawnInBackground for std::process::Command {
    fn spawn_in_background(mut self) -> BackgroundChild {
        use std::process::Stdio;
        BackgroundChild(self.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
    }
}

impl BackgroundChild {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for BackgroundChild {
    fn drop(&mut self) {
        self.stop();
    }
}
