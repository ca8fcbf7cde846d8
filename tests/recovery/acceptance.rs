//! Issue 6's acceptance: westeurope fails in the `small` tenant; `lifeboat run
//! runbooks/region-outage.yaml` (tickets submitted, approvals by `lifeboat approve`, the support
//! desk releasing after the sim clock moves two hours, the region restored) ends with every
//! connector of the region recreated in northeurope, every backed-up setting live again —
//! checked here field by field, independently of the verify step — the old connectors deleted,
//! exactly one ticket and one new connector each, and exit 0.

use crate::common::*;
use lifeboat::azure::ResourceId;
use lifeboat::backup::snapshot::{find_snapshot, load_manifest, load_object};
use lifeboat::backup::{Keys, ResourceKind, Store};
use lifeboat::engine::runner;
use lifeboat::steps::Registry;
use serde_json::Value;
use std::time::{Duration, Instant};

const RUN: &str = "acceptance";

fn status_of(world: &World, step: &str) -> Vec<String> {
    let Ok(r) = runner::load(&world.run_dir(RUN), &Registry::builtin()) else { return vec![] };
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
    match runner::load(&world.run_dir(RUN), &Registry::builtin()) {
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
        run(world.cmd(&sim, &["approve", RUN, "approve-submission", "--comment", "ok"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The resume runs in the background: it files the tickets, then polls for the release.
    let mut resume = Background::spawn(world.cmd(&sim, &["resume", RUN]));
    wait_for(&world, "two support tickets", || sim.cloud().tickets.len() == 2).await;
    wait_for(&world, "the release wait", || {
        status_of(&world, "wait-for-release").iter().all(|p| p == "waiting")
            && !status_of(&world, "wait-for-release").is_empty()
    })
    .await;
    sim.advance(Duration::from_secs(3 * 3600));
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

    let out = run(world.cmd(&sim, &["approve", RUN, "approve-cleanup"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(world.cmd(&sim, &["resume", RUN])).await;
    assert_eq!(out.status.code(), Some(0), "run completes: {}", text(&out));

    // The cloud, checked independently of the verify step.
    let store = Store::open(world.store().to_str().unwrap(), Keys::default()).unwrap();
    let m = load_manifest(&store, &find_snapshot(&store, &snapshot).await.unwrap()).await.unwrap();
    let c = client(&sim);
    {
        let cloud = sim.cloud();
        let names: Vec<String> = cloud.connectors.values().map(|c| c.name.clone()).collect();
        assert!(
            !names.iter().any(|n| n == "ado-weu" || n == "gitlab-weu"),
            "old deleted: {names:?}"
        );
        for n in ["ado-weu-northeurope", "gitlab-weu-northeurope"] {
            let found: Vec<_> = cloud.connectors.values().filter(|c| c.name == n).collect();
            assert_eq!(found.len(), 1, "exactly one {n}");
            assert_eq!(found[0].region(), "northeurope");
        }
        assert_eq!(cloud.tickets.len(), 2, "one ticket per connector");
        assert!(cloud.tickets.values().all(|t| t.released), "both released");
    }
    let mut checked = 0;
    for (id, entry) in &m.resources {
        let old = ResourceId::parse(id).unwrap();
        let old_name = old.segments[0].1.clone();
        if !["ado-weu", "gitlab-weu"].contains(&old_name.as_str()) {
            continue;
        }
        let new = ResourceId::connector(
            &old.subscription,
            &old.resource_group,
            &format!("{old_name}-northeurope"),
        );
        let backup = load_object(&store, &entry.hash).await.unwrap();
        let seg = |n: usize| old.segments[n].1.clone();
        let live: Value = match entry.kind {
            ResourceKind::Connector => {
                let l = serde_json::to_value(c.get_connector(&new).await.unwrap()).unwrap();
                for f in ["environmentName", "hierarchyIdentifier", "environmentData", "offerings"]
                {
                    assert_eq!(l["properties"][f], backup["properties"][f], "{id} {f}");
                }
                for (k, v) in backup["tags"].as_object().cloned().unwrap_or_default() {
                    assert_eq!(l["tags"][&k], v, "{id} tag {k}");
                }
                checked += 1;
                continue;
            }
            ResourceKind::DevOpsConfiguration => {
                let l =
                    serde_json::to_value(c.get_devops_configuration(&new).await.unwrap()).unwrap();
                for f in ["autoDiscovery", "topLevelInventoryList", "agentlessConfiguration"] {
                    assert_eq!(l["properties"][f], backup["properties"][f], "{id} {f}");
                }
                checked += 1;
                continue;
            }
            ResourceKind::AzureDevOpsOrg => {
                serde_json::to_value(c.get_azure_devops_org(&new, &seg(2)).await.unwrap()).unwrap()
            }
            ResourceKind::AzureDevOpsProject => serde_json::to_value(
                c.get_azure_devops_project(&new, &seg(2), &seg(3)).await.unwrap(),
            )
            .unwrap(),
            ResourceKind::AzureDevOpsRepo => serde_json::to_value(
                c.get_azure_devops_repo(&new, &seg(2), &seg(3), &seg(4)).await.unwrap(),
            )
            .unwrap(),
            ResourceKind::GitLabGroup => {
                serde_json::to_value(c.get_gitlab_group(&new, &seg(2)).await.unwrap()).unwrap()
            }
            ResourceKind::GitLabProject => {
                serde_json::to_value(c.get_gitlab_project(&new, &seg(2), &seg(3)).await.unwrap())
                    .unwrap()
            }
            _ => continue,
        };
        assert_eq!(
            live["properties"]["actionableRemediation"],
            backup["properties"]["actionableRemediation"],
            "{id}: annotation settings restored"
        );
        assert_eq!(
            live["properties"]["onboardingState"], "Onboarded",
            "{id} owned by the new connector"
        );
        checked += 1;
    }
    assert!(checked >= 15, "every backed-up resource of both connectors was compared ({checked})");
    sim.shutdown().await.unwrap();
}
