//! api-version drift through the real binary (issue 12 item 4): the simulator retires the DevOps
//! api-version lifeboat compiles in; `backup create` and a region-outage recovery negotiate a
//! served one (the recovery journals it); when no served version is one lifeboat knows, both exit
//! 1 naming the served versions and the override flag, and with the override both succeed.

use crate::recovery::common::*;

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

/// The outputs of every instance of `step`.
fn outputs_of(world: &World, run: &str, step: &str) -> Vec<serde_json::Value> {
    use lifeboat::engine::runner;
    use lifeboat::steps::registry;
    let r = runner::load(&world.run_dir(run), &registry()).unwrap();
    r.engine
        .snapshot()
        .into_iter()
        .filter(|v| v.step == step)
        .filter_map(|v| v.instance.and_then(|i| i.outputs).map(serde_json::Value::Object))
        .collect()
}

/// What was read is what is written: a snapshot read with DevOps 2025-11-01-preview (an
/// override at backup time) is restored with that version, although the recovering process uses
/// the compiled 2025-03-01: create-or-adopt's PUT of the configuration (with the new OAuth code)
/// and `devops.reapply-settings`' writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_devops_resource_is_written_with_the_api_version_its_snapshot_read_it_with() {
    const RUN: &str = "read-with-1";
    let sim = start_sim("").await;
    let world = World::new();
    let out = backup_create(&sim, &world, &["--api-version", "devops=2025-11-01-preview"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), RUN);
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    let writes: Vec<_> = sim
        .requests()
        .into_iter()
        // create-or-adopt's PUT of the configuration, reapply's PATCH of it and the Azure
        // DevOps resources' PUTs.
        .filter(|r| {
            (matches!(r.method.as_str(), "PUT" | "PATCH") && r.path.ends_with("/devops/default"))
                || (r.method == "PUT" && r.path.contains("/azureDevOpsOrgs/"))
        })
        .collect();
    assert!(!writes.is_empty(), "the recovery restored DevOps settings");
    let config_puts =
        writes.iter().filter(|w| w.method == "PUT" && w.path.ends_with("/devops/default")).count();
    assert_eq!(config_puts, 2, "one authorizing PUT per new connector: {writes:#?}");
    for w in &writes {
        assert_eq!(w.api_version.as_deref(), Some("2025-11-01-preview"), "{} {}", w.method, w.path);
    }
    for step in ["create-or-adopt-connector", "reapply-settings"] {
        for out in outputs_of(&world, RUN, step) {
            assert_eq!(out["api_version_changes"], serde_json::json!([]), "{step}: {out:#}");
        }
    }
    assert!(!journal_text(&world, RUN).contains("WRITE-API-VERSION"));
    sim.shutdown().await.unwrap();
}

/// When the service no longer serves the version a resource was read with, the write goes with
/// the version the run uses and the run says which resource, with the version pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resource_read_with_a_retired_api_version_is_written_with_the_runs_and_reported() {
    const RUN: &str = "read-with-2";
    let sim = start_sim("").await;
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    sim.retire_api_version("devops", COMPILED).unwrap();
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), RUN);
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    let mut outs = outputs_of(&world, RUN, "create-or-adopt-connector");
    let created = outs.len();
    outs.extend(outputs_of(&world, RUN, "reapply-settings"));
    let changes: Vec<&serde_json::Value> =
        outs.iter().flat_map(|o| o["api_version_changes"].as_array().unwrap().iter()).collect();
    // Each new connector's authorizing PUT, then reapply's writes.
    assert!(changes.len() > created, "{outs:#?}");
    for c in &changes {
        assert_eq!(c["read_with"], COMPILED, "{c}");
        assert_eq!(c["written_with"], "2025-11-01-preview", "{c}");
        assert!(c["resource"].as_str().unwrap().contains("/devops/default"), "{c}");
        // lifeboat knows no field that 2025-11-01-preview adds to these types: it says so.
        assert_eq!(c["fields"], serde_json::json!([]), "{c}");
        assert!(c["note"].as_str().unwrap().starts_with("no field lifeboat knows differs"), "{c}");
    }
    let journal = journal_text(&world, RUN);
    let noted = journal.lines().filter(|l| l.contains("WRITE-API-VERSION")).count();
    assert_eq!(noted, changes.len(), "one effect per resource:\n{journal}");
    assert!(journal
        .contains(&format!("read with api-version {COMPILED}, written with 2025-11-01-preview")));
    sim.shutdown().await.unwrap();
}

/// The same for the connector itself (create-or-adopt): read with the compiled connectors
/// version, which the service then retires; created with the negotiated one, and journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connector_read_with_a_retired_api_version_is_created_with_the_runs_and_journaled() {
    const RUN: &str = "read-with-3";
    let sim = start_sim("").await;
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    sim.retire_api_version("connectors", "2026-08-01-preview").unwrap();
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), RUN);
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    let journal = journal_text(&world, RUN);
    let noted: Vec<&str> = journal.lines().filter(|l| l.contains("WRITE-API-VERSION")).collect();
    assert_eq!(noted.len(), 2, "one per created connector:\n{journal}");
    for l in noted {
        assert!(
            l.contains("read with api-version 2026-08-01-preview, written with 2024-08-01-preview"),
            "{l}"
        );
    }
    sim.shutdown().await.unwrap();
}

/// A snapshot read with DevOps 2024-04-01 (before `capabilities` and `agentlessConfiguration`
/// existed) that the service no longer serves: the configuration is written with the run's
/// version, and the run names the fields the newer version has that the backup has no value for
/// (the service applies its defaults there), in the output and the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retired_older_version_names_the_fields_the_newer_one_treats_differently() {
    const RUN: &str = "read-with-4";
    let sim = start_sim("").await;
    let world = World::new();
    let out = backup_create(&sim, &world, &["--api-version", "devops=2024-04-01"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    sim.retire_api_version("devops", "2024-04-01").unwrap();
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), RUN);
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    let outs = outputs_of(&world, RUN, "create-or-adopt-connector");
    assert_eq!(outs.len(), 2, "{outs:#?}");
    for o in &outs {
        let changes = o["api_version_changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "the authorizing PUT of devops/default: {o:#}");
        let c = &changes[0];
        assert_eq!(c["read_with"], "2024-04-01", "{c}");
        assert_eq!(c["written_with"], COMPILED, "{c}");
        let fields: Vec<&str> =
            c["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        assert_eq!(fields.len(), 2, "{c}");
        assert!(fields[0].starts_with("properties.capabilities (introduced in 2024-05-15-preview"));
        assert!(
            fields[1].starts_with("properties.agentlessConfiguration (introduced in 2025-03-01")
        );
        assert!(fields.iter().all(|f| f.contains("the service applies its default")), "{c}");
    }
    let journal = journal_text(&world, RUN);
    assert!(
        journal.contains("fields the versions treat differently: properties.capabilities"),
        "{journal}"
    );
    sim.shutdown().await.unwrap();
}
