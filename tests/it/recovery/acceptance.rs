//! Issue 6's acceptance: westeurope fails in the `small` tenant; `lifeboat run
//! runbooks/region-outage.yaml` (tickets submitted, approvals by `lifeboat approve`, the support
//! desk releasing after the sim clock moves two hours, the region restored) ends with every
//! connector of the region recreated in northeurope, every backed-up setting live again —
//! checked here field by field, independently of the verify step — the old connectors deleted,
//! exactly one ticket and one new connector each, and exit 0.

use crate::recovery::common::*;
use lifeboat::engine::runner;
use lifeboat::steps::registry;
use std::time::{Duration, Instant};

const RUN: &str = "acceptance";

fn status_of(world: &World, step: &str) -> Vec<String> {
    let Ok(r) = runner::load(&world.run_dir(RUN), &registry()) else { return vec![] };
    r.engine
        .snapshot()
        .into_iter()
        .filter(|v| v.name().starts_with(step))
        .filter_map(|v| v.instance.map(|i| i.state.phase().name().to_string()))
        .collect()
}

/// A child process killed if the test fails before it ends (it would poll a dead simulator).
struct Background(Option<std::process::Child>);

impl Background {
    fn spawn(mut cmd: std::process::Command) -> Background {
        use std::process::Stdio;
        Background(Some(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()))
    }
    async fn finish(&mut self) -> std::process::Output {
        let start = Instant::now();
        while self.0.as_mut().unwrap().try_wait().unwrap().is_none() {
            assert!(start.elapsed() < Duration::from_secs(120), "the resume did not end");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn table(world: &World) -> String {
    match runner::load(&world.run_dir(RUN), &registry()) {
        Ok(r) => lifeboat::cli::run::status_table(
            &r.engine.snapshot(),
            lifeboat::clock::Clock::now(&lifeboat::clock::SystemClock),
        ),
        Err(e) => e.to_string(),
    }
}

async fn wait_for(world: &World, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}:\n{}",
            table(world)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_region_outage_is_recovered_end_to_end() {
    let sim = start_sim("").await;
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    std::fs::write(
        world.codes(),
        format!("ado-weu {}\ngitlab-weu {}\n", sim.mint_code(), sim.mint_code()),
    )
    .unwrap();
    let codes = world.codes();
    let runbook = World::runbook();
    let args = [
        "run",
        runbook.as_str(),
        "--run-id",
        RUN,
        "--set",
        "failed_region=westeurope",
        "--set",
        "target_region=northeurope",
        "--set",
        "submit_ticket=true",
        "--set",
        "contact_first_name=Ada",
        "--set",
        "contact_last_name=Lovelace",
        "--set",
        "contact_email=ada@example.com",
        "--set",
        &format!("authorization_codes={}", codes.display()),
        "--set",
        "release_poll_interval=1s",
        "--set",
        "region_poll_interval=1s",
    ];
    let out = run(world.cmd(&sim, &args)).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "paused at the submission gate: {t}");
    assert!(t.contains("approve-submission"), "{t}");
    assert!(!t.contains(&std::fs::read_to_string(&codes).unwrap()[8..20]), "no code in output");
    for conn in ["ado-weu", "gitlab-weu"] {
        assert!(world.run_dir(RUN).join("support").join(format!("{conn}.md")).is_file());
    }

    let out =
        run(world.cmd(&sim, &["approve", RUN, "approve-submission", "--all", "--comment", "ok"]))
            .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The resume runs in the background: it files the tickets, then polls for the release.
    let mut resume = Background::spawn(world.cmd(&sim, &["resume", RUN]));
    wait_for(&world, "two support tickets", || sim.cloud().tickets.len() == 2).await;
    wait_for(&world, "the release wait", || {
        status_of(&world, "wait-for-release").iter().all(|p| p == "waiting")
            && !status_of(&world, "wait-for-release").is_empty()
    })
    .await;
    // Past the desk's release and Microsoft's recreation of alerts and recommendations after it.
    sim.advance(Duration::from_secs(3 * 3600) + sim.shared().config.recreation_delay);
    // The old connectors still answer 503: the region wait polls (through the client's retries).
    wait_for(&world, "the region wait", || {
        let s = status_of(&world, "wait-for-region-recovery");
        s.len() == 2 && s.iter().all(|p| p == "waiting" || p == "running")
    })
    .await;
    restore_region(&sim, "westeurope").await;
    let out = resume.finish().await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "paused at the cleanup gate: {t}");
    assert!(t.contains("approve-cleanup"), "{t}");

    let out = run(world.cmd(&sim, &["approve", RUN, "approve-cleanup", "--all"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(world.cmd(&sim, &["resume", RUN])).await;
    assert_eq!(out.status.code(), Some(0), "run completes: {}", text(&out));

    // The cloud, checked independently of the verify step.
    assert_recovered(&sim, &world, &snapshot).await;
    sim.shutdown().await.unwrap();
}
