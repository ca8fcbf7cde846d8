//! api-version drift through the real binary (issue 12 item 4): the simulator retires the DevOps
//! api-version lifeboat compiles in; `backup create` and a region-outage recovery negotiate a
//! served one (the recovery journals it); when no served version is one lifeboat knows, both exit
//! 1 naming the served versions and the override flag, and with the override both succeed.

use crate::common::*;

const COMPILED: &str = "2025-03-01";
const KNOWN: [&str; 5] =
    ["2025-11-01-preview", "2025-03-01", "2024-05-15-preview", "2024-04-01", "2023-09-01-preview"];
const UNKNOWN: &str = "2026-01-01-preview";

async fn backup_create(
    sim: &lifeboat::sim::RunningSim,
    world: &World,
    extra: &[&str],
) -> std::process::Output {
    let mut args = extra.to_vec();
    args.extend(["backup", "create"]);
    run(world.cmd(sim, &args)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retired_compiled_devops_api_version_is_negotiated_by_backup_and_recovery() {
    const RUN: &str = "negotiate-1";
    let sim = start_sim("").await;
    sim.retire_api_version("devops", COMPILED).unwrap();
    let world = World::new();
    let out = backup_create(&sim, &world, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), RUN);
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    let journal = journal_text(&world, RUN);
    let negotiated: Vec<&str> =
        journal.lines().filter(|l| l.contains("NEGOTIATE-API-VERSION")).collect();
    assert!(!negotiated.is_empty(), "the negotiation is journaled:\n{journal}");
    assert!(
        negotiated
            .iter()
            .any(|l| l.contains(&format!("devops api-version {COMPILED} -> 2025-11-01-preview"))),
        "{negotiated:#?}"
    );
    // Nothing after the refusal used the retired version.
    let devops =
        sim.requests().into_iter().filter(|r| r.path.contains("/devops/")).collect::<Vec<_>>();
    assert!(devops.iter().any(|r| r.api_version.as_deref() == Some("2025-11-01-preview")));
    assert!(
        devops
            .iter()
            .filter(|r| r.api_version.as_deref() == Some(COMPILED))
            .all(|r| r.status == 400),
        "only refusals with the retired version"
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_known_devops_api_version_fails_naming_the_served_ones_and_the_override_works() {
    let sim = start_sim("").await;
    let world = World::new();
    // The backup a recovery needs, taken while the service still served the known versions.
    take_backup(&sim, &world.store()).await;
    sim.add_api_version("devops", UNKNOWN).unwrap();
    for v in KNOWN {
        sim.retire_api_version("devops", v).unwrap();
    }
    let flag = format!("--api-version devops={UNKNOWN}");
    let check = |what: &str, out: &std::process::Output| {
        let t = text(out);
        assert_eq!(out.status.code(), Some(1), "{what}: {t}");
        assert!(t.contains(UNKNOWN), "{what} names the served version: {t}");
        assert!(t.contains("--api-version devops="), "{what} names the flag: {t}");
    };
    check("backup create", &backup_create(&sim, &world, &[]).await);
    // With the override, backup create succeeds (and the recovery below).
    let override_args = ["--api-version", &flag["--api-version ".len()..]];
    let out = backup_create(&sim, &world, &override_args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), "no-known-1");
    let out = run(world.cmd(&sim, &args.iter().map(String::as_str).collect::<Vec<_>>())).await;
    check("run", &out);

    let mut world = world;
    world.env.push(("LIFEBOAT_API_VERSIONS".into(), format!("devops={UNKNOWN}")));
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), "override-1");
    drive_to_end(&sim, &world, "override-1", &args, &Kill::default()).await.unwrap();
    let devops =
        sim.requests().into_iter().filter(|r| r.path.contains("/devops/")).collect::<Vec<_>>();
    assert!(devops.iter().any(|r| r.api_version.as_deref() == Some(UNKNOWN) && r.status < 300));
    sim.shutdown().await.unwrap();
}
