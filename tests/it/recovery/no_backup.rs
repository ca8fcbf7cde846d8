//! Issue 13, item 4: recovery without a backup. `--set backup=none` on the `small` tenant runs
//! Microsoft's procedure (new connectors copied from Resource Graph, the DevOps configuration
//! from the answers, tickets, release, promote, cleanup) without any backup store, and the
//! status, run report and audit record name what was not restored, per connector. A snapshot
//! that lacks one failed connector restores the others and recovers that one without restore.
//! Without a store and without `backup=none` the run is refused (exit 2, the hint names
//! `--set backup=none`) before any write.

use crate::recovery::common::*;
use lifeboat::azure::ResourceId;
use lifeboat::backup::{self, arm_reader::ArmReader, Keys, Scope, Store};
use lifeboat::engine::runner;
use lifeboat::steps::registry;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Every instance's outputs of `step`, by instance name.
fn outputs_of(world: &World, run: &str, step: &str) -> BTreeMap<String, Value> {
    let r = runner::load(&world.run_dir(run), &registry()).unwrap();
    r.engine
        .snapshot()
        .into_iter()
        .filter(|v| v.step == step)
        .filter_map(|v| {
            let name = v.name();
            v.instance.and_then(|i| i.outputs).map(|o| (name, Value::Object(o)))
        })
        .collect()
}

/// The `not_restored` entries of a step's instances, with the old connector each belongs to.
fn not_restored(world: &World, run: &str, step: &str) -> Vec<(String, Value)> {
    let r = runner::load(&world.run_dir(run), &registry()).unwrap();
    r.engine
        .snapshot()
        .into_iter()
        .filter(|v| v.step == step)
        .filter_map(|v| v.instance)
        .flat_map(|i| {
            let old = i.item.as_ref().and_then(|it| it["name"].as_str()).unwrap_or("").to_string();
            let list = i
                .outputs
                .and_then(|o| o.get("not_restored").cloned())
                .and_then(|l| l.as_array().cloned())
                .unwrap_or_default();
            list.into_iter().map(move |e| (old.clone(), e))
        })
        .collect()
}

/// The new connector that replaces `old`, wherever the run created it.
fn new_id(sim: &lifeboat::sim::RunningSim, old: &str) -> ResourceId {
    let name = format!("{old}-northeurope");
    let cloud = sim.cloud();
    let c = cloud.connectors.values().find(|c| c.name == name).expect("the new connector");
    ResourceId::parse(&c.id).unwrap()
}

/// What each instance of `step` waits for (its `waiting_for`), for instances that wait.
fn waiting_for(world: &World, run: &str, step: &str) -> Vec<String> {
    let Ok(r) = runner::load(&world.run_dir(run), &registry()) else { return vec![] };
    r.engine
        .snapshot()
        .into_iter()
        .filter(|v| v.step == step)
        .filter_map(|v| v.instance.and_then(|i| i.waiting_for))
        .collect()
}

fn phases(world: &World, run: &str, step: &str) -> Vec<String> {
    let Ok(r) = runner::load(&world.run_dir(run), &registry()) else { return vec![] };
    r.engine
        .snapshot()
        .into_iter()
        .filter(|v| v.step == step)
        .filter_map(|v| v.instance.map(|i| i.state.phase().name().to_string()))
        .collect()
}

async fn wait_for(world: &World, run: &str, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > Duration::from_secs(60) {
            let r = runner::load(&world.run_dir(run), &registry()).unwrap();
            let table = lifeboat::cli::run::status_table(
                &r.engine.snapshot(),
                lifeboat::clock::Clock::now(&lifeboat::clock::SystemClock),
            );
            panic!("timed out waiting for {what}:\n{table}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// The old connectors of westeurope as the simulator holds them (what Resource Graph returns).
fn old_connectors(sim: &lifeboat::sim::RunningSim) -> BTreeMap<String, (Value, Value, String)> {
    sim.cloud()
        .connectors
        .values()
        .filter(|c| FAILED.contains(&c.name.as_str()))
        .map(|c| (c.name.clone(), (c.properties.clone(), c.tags.clone(), c.kind.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_none_recovers_the_small_tenant_and_reports_what_was_not_restored() {
    const RUN: &str = "no-backup-1";
    let sim = start_sim("").await;
    let world = World::new();
    let before = old_connectors(&sim);
    assert_eq!(before.len(), FAILED.len());
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let mut args = run_args(&world, &World::runbook(), RUN);
    for s in [
        "backup=none",
        "auto_discovery=Disabled",
        "inventory_list=ado-weu:contoso,ado-weu:fabrikam,gitlab-weu:contoso-gl",
    ] {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    // No backup store exists, and none is needed: the store directory is never created.
    assert!(!world.store().exists());
    let out = run(world.cmd(&sim, &args.iter().map(String::as_str).collect::<Vec<_>>())).await;
    assert_eq!(out.status.code(), Some(3), "paused at the submission gate: {}", text(&out));
    let out =
        run(world.cmd(&sim, &["approve", RUN, "approve-submission", "--all", "--comment", "ok"]))
            .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The release wait holds while Microsoft has not released the old connectors' orgs and
    // groups, and names them; northwind (owned by the healthy ado-eus) is not waited for.
    let mut resume = Background::spawn(world.cmd(&sim, &["resume", RUN]));
    wait_for(&world, RUN, "both release waits", || {
        let w = waiting_for(&world, RUN, "wait-for-release");
        w.len() == 2 && w.iter().all(|m| m.contains("still held"))
    })
    .await;
    assert_eq!(sim.cloud().tickets.len(), 2);
    let held = waiting_for(&world, RUN, "wait-for-release").join("\n");
    for name in ["`contoso`", "`fabrikam`", "`contoso-gl`"] {
        assert!(held.contains(name), "{name} waited for: {held}");
    }
    assert!(!held.contains("northwind"), "{held}");
    // Past the desk's release and Microsoft's recreation of alerts and recommendations after it.
    sim.advance(Duration::from_secs(3 * 3600) + sim.shared().config.recreation_delay);
    wait_for(&world, RUN, "the region wait", || {
        let s = phases(&world, RUN, "wait-for-region-recovery");
        s.len() == 2 && s.iter().all(|p| p == "waiting" || p == "running")
    })
    .await;
    restore_region(&sim, "westeurope").await;
    let out = resume.finish().await;
    assert_eq!(out.status.code(), Some(3), "paused at the cleanup gate: {}", text(&out));
    let out = run(world.cmd(&sim, &["approve", RUN, "approve-cleanup", "--all"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(world.cmd(&sim, &["resume", RUN])).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "run completes: {t}");
    assert!(!world.store().exists(), "no backup store was opened or created");
    // The end of the run says it, per connector, among its warnings.
    assert!(t.contains("warnings ("), "{t}");
    for needle in [
        "step load-backup: no backup (backup=none): ado-weu, gitlab-weu recovered without restore",
        "organization(s) contoso, fabrikam",
        "set them by hand on ado-weu-northeurope",
        "set them by hand on gitlab-weu-northeurope",
    ] {
        assert!(t.contains(needle), "{needle}: {t}");
    }

    // Microsoft's procedure went through: one new connector each in northeurope, copied from
    // Resource Graph's copy of the old one, its own ticket released, the old one deleted.
    {
        let cloud = sim.cloud();
        let names: Vec<String> = cloud.connectors.values().map(|c| c.name.clone()).collect();
        assert!(!names.iter().any(|n| FAILED.contains(&n.as_str())), "old deleted: {names:?}");
        for (old, (props, tags, kind)) in &before {
            let n = format!("{old}-northeurope");
            let found: Vec<_> = cloud.connectors.values().filter(|c| c.name == n).collect();
            assert_eq!(found.len(), 1, "exactly one {n}");
            let c = found[0];
            assert_eq!(c.region(), "northeurope");
            for f in ["environmentName", "hierarchyIdentifier", "environmentData", "offerings"] {
                assert_eq!(c.properties[f], props[f], "{n}: {f} copied from Resource Graph");
            }
            assert_eq!(&c.kind, kind, "{n}: kind");
            for (k, v) in tags.as_object().cloned().unwrap_or_default() {
                assert_eq!(c.tags[&k], v, "{n}: tag {k}");
            }
            assert_eq!(c.tags["lifeboat-role"], "primary", "{n} promoted");
        }
        assert_eq!(cloud.tickets.len(), FAILED.len(), "one ticket per connector");
        assert!(cloud.tickets.values().all(|t| t.released), "every ticket released");
    }
    // The DevOps configuration is the one answered; the released orgs/groups are the new ones'.
    let c = client(&sim);
    for (old, list) in
        [("ado-weu", vec!["contoso", "fabrikam"]), ("gitlab-weu", vec!["contoso-gl"])]
    {
        let cfg =
            serde_json::to_value(c.get_devops_configuration(&new_id(&sim, old)).await.unwrap())
                .unwrap();
        assert_eq!(cfg["properties"]["autoDiscovery"], "Disabled", "{old}");
        assert_eq!(cfg["properties"]["topLevelInventoryList"], serde_json::json!(list), "{old}");
    }
    for org in ["contoso", "fabrikam"] {
        let o = serde_json::to_value(
            c.get_azure_devops_org(&new_id(&sim, "ado-weu"), org).await.unwrap(),
        )
        .unwrap();
        assert_eq!(
            o["properties"]["onboardingState"], "Onboarded",
            "{org} released to the new one"
        );
    }
    let gl = serde_json::to_value(
        c.get_gitlab_group(&new_id(&sim, "gitlab-weu"), "contoso-gl").await.unwrap(),
    )
    .unwrap();
    assert_eq!(gl["properties"]["onboardingState"], "Onboarded");

    // load-backup: no snapshot, every item marked.
    let lb = outputs_of(&world, RUN, "load-backup").into_values().next().unwrap();
    assert_eq!(lb["backup"], "none");
    assert!(lb["snapshot_id"].is_null());
    for item in lb["connectors"].as_array().unwrap() {
        assert!(item["snapshot_id"].is_null() && item["restore"] == false, "{item}");
    }
    // wait-for-release worked from the new connector's view, ado-eus's northwind accounted for.
    let waits = outputs_of(&world, RUN, "wait-for-release");
    assert_eq!(waits.len(), 2);
    let ado_wait = waits.values().find(|o| o["onboarded"].to_string().contains("contoso")).unwrap();
    assert!(
        ado_wait["owned_by_other_connectors"].to_string().contains("ado-eus"),
        "northwind is ado-eus's: {ado_wait}"
    );

    // What was not restored, per connector, in reapply's and verify's outputs.
    for step in ["reapply-settings", "verify"] {
        let entries = not_restored(&world, RUN, step);
        assert!(entries.iter().all(|(_, e)| e["reason"] == "no backup"), "{entries:#?}");
        let has = |old: &str, resource_end: &str, field: &str| {
            entries.iter().any(|(o, e)| {
                o == old
                    && e["resource"].as_str().unwrap().ends_with(resource_end)
                    && e["field"] == field
            })
        };
        for org in ["contoso", "fabrikam"] {
            let end = format!("ado-weu-northeurope/devops/default/azureDevOpsOrgs/{org}");
            assert!(has("ado-weu", &end, "properties.actionableRemediation"), "{step} {org}");
        }
        for old in FAILED {
            let end = format!("{old}-northeurope/devops/default");
            assert!(has(old, &end, "properties"), "{step}: {old}'s DevOps configuration");
        }
        assert!(has(
            "gitlab-weu",
            "gitlab-weu-northeurope/devops/default/gitLabGroups",
            "(not verified)"
        ));
    }
    for o in outputs_of(&world, RUN, "verify").values() {
        assert_eq!(o["verified"], false, "{o}");
    }

    // `lifeboat status`: the table says it, the JSON has every entry.
    let out = run(world.cmd(&sim, &["status", RUN])).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let rows: Vec<&str> = t
        .lines()
        .filter(|l| l.starts_with("reapply-settings[") || l.starts_with("verify["))
        .collect();
    assert_eq!(rows.len(), 4, "{t}");
    for r in rows {
        assert!(r.contains("not restored: no backup"), "{r}");
    }
    let out = run(world.cmd(&sim, &["--output", "json", "status", RUN])).await;
    let t = text(&out);
    assert!(
        t.contains("azureDevOpsOrgs/contoso") && t.contains("\"reason\": \"no backup\""),
        "{t}"
    );

    // The run report (Markdown, HTML) and the audit record (CSV, JSONL) name them per connector.
    for format in ["md", "html", "csv", "jsonl"] {
        let out = run(world.cmd(&sim, &["audit", "export", RUN, "--format", format])).await;
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "{format}: {t}");
        assert!(t.contains("no backup"), "{format}");
        if format == "md" {
            assert!(
                t.contains("not restored: no backup: the pull-request annotation settings"),
                "the Warnings section"
            );
        }
        for needle in [
            "ado-weu-northeurope/devops/default/azureDevOpsOrgs/contoso",
            "ado-weu-northeurope/devops/default/azureDevOpsOrgs/fabrikam",
            "gitlab-weu-northeurope/devops/default",
            "actionableRemediation",
        ] {
            assert!(t.contains(needle), "{format}: {needle}");
        }
    }
    sim.shutdown().await.unwrap();
}

/// A backup of `scope` taken at sim time + `after` (so snapshots sort by age).
async fn backup_at(
    sim: &lifeboat::sim::RunningSim,
    dir: &std::path::Path,
    scope: Scope,
    after: i64,
) -> String {
    let store = Store::open(dir.to_str().unwrap(), Keys::default()).unwrap();
    let opts = backup::CreateOptions {
        scope,
        now: time::OffsetDateTime::from_unix_timestamp(sim.shared().base_unix + after).unwrap(),
        rules: Default::default(),
        immutable: false,
    };
    backup::collect(&ArmReader::new(client(sim)), &store, opts).await.unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snapshot_without_one_connector_restores_the_others_and_recovers_that_one_without() {
    const RUN: &str = "no-backup-2";
    let sim = start_sim("").await;
    let world = World::new();
    // An older snapshot holds both; the newest one only ado-weu: the newest is used.
    let older = backup_at(&sim, &world.store(), Scope::default(), 0).await;
    let newest = backup_at(
        &sim,
        &world.store(),
        Scope { subscriptions: vec![], connectors: vec!["ado-weu".into()] },
        60,
    )
    .await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), RUN);
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();

    let lb = outputs_of(&world, RUN, "load-backup").into_values().next().unwrap();
    assert_eq!(lb["snapshot_id"], newest.as_str());
    let items = lb["connectors"].as_array().unwrap();
    let item = |n: &str| items.iter().find(|i| i["name"] == n).unwrap().clone();
    assert_eq!(item("ado-weu")["snapshot_id"], newest.as_str());
    assert_eq!(item("ado-weu")["restore"], true);
    assert!(item("gitlab-weu")["snapshot_id"].is_null());
    assert_eq!(item("gitlab-weu")["restore"], false);
    let lacking = lb["not_in_backup"].as_array().unwrap();
    assert_eq!(lacking.len(), 1, "{lacking:?}");
    assert_eq!(lacking[0]["name"], "gitlab-weu");
    assert_eq!(lacking[0]["older_snapshot"], older.as_str(), "the older copy is named");
    let w = lb["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    let w = w[0].as_str().unwrap();
    assert!(w.contains("does not hold gitlab-weu: recovered without restore"), "{w}");
    assert!(w.contains(&format!("--set connectors=gitlab-weu --set backup={older}")), "{w}");

    // ado-weu restored and verified from the snapshot; gitlab-weu recovered without restore.
    for (name, o) in outputs_of(&world, RUN, "verify") {
        let old = if o["restored"] == false { "gitlab-weu" } else { "ado-weu" };
        if old == "ado-weu" {
            assert_eq!(o["snapshot_id"], newest.as_str(), "{name}");
            assert!(o["checked"].as_u64().unwrap() > 0, "{name}: {o}");
            assert!(o["not_restored"].as_array().unwrap().is_empty(), "{name}");
        } else {
            assert!(o["snapshot_id"].is_null());
            assert_eq!(o["verified"], false);
            let nr = o["not_restored"].as_array().unwrap();
            assert!(!nr.is_empty() && nr.iter().all(|e| e["reason"] == "no backup"), "{nr:?}");
            assert!(nr
                .iter()
                .all(|e| e["resource"].as_str().unwrap().contains("gitlab-weu-northeurope")));
        }
    }
    let writes: Vec<u64> = outputs_of(&world, RUN, "reapply-settings")
        .values()
        .map(|o| o["writes"].as_u64().unwrap())
        .collect();
    assert_eq!(
        writes.iter().filter(|w| **w > 0).count(),
        1,
        "only ado-weu is reapplied: {writes:?}"
    );
    // The ADO annotation settings are the backup's.
    let store = Store::open(world.store().to_str().unwrap(), Keys::default()).unwrap();
    let m = backup::snapshot::load_manifest(
        &store,
        &backup::snapshot::find_snapshot(&store, &newest).await.unwrap(),
    )
    .await
    .unwrap();
    let (_, entry) = m
        .resources
        .iter()
        .find(|(id, _)| {
            id.to_ascii_lowercase().ends_with("ado-weu/devops/default/azuredevopsorgs/contoso")
        })
        .unwrap();
    let stored = backup::snapshot::load_object(&store, &entry.hash).await.unwrap();
    let live = serde_json::to_value(
        client(&sim).get_azure_devops_org(&new_id(&sim, "ado-weu"), "contoso").await.unwrap(),
    )
    .unwrap();
    assert_eq!(
        live["properties"]["actionableRemediation"],
        stored["properties"]["actionableRemediation"]
    );
    // Both old connectors are gone, both new ones are primary.
    {
        let cloud = sim.cloud();
        for old in FAILED {
            assert!(!cloud.connectors.values().any(|c| c.name == old));
            let n = format!("{old}-northeurope");
            assert!(cloud
                .connectors
                .values()
                .any(|c| c.name == n && c.tags["lifeboat-role"] == "primary"));
        }
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_store_the_run_is_refused_before_any_write_with_the_backup_none_hint() {
    let sim = start_sim("").await;
    let world = World::new();
    fail_region(&sim, "westeurope").await;
    let before = writes(&sim).len();
    let runbook = World::runbook();
    let out = run(world.cmd(
        &sim,
        &[
            "run",
            &runbook,
            "--run-id",
            "no-store",
            "--set",
            "failed_region=westeurope",
            "--set",
            "target_region=northeurope",
        ],
    ))
    .await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.starts_with("error: no backup store at"), "{t}");
    assert!(t.contains("--set backup=none"), "{t}");
    assert_eq!(writes(&sim).len(), before, "no write: {:?}", writes(&sim));
    assert!(!world.run_dir("no-store").exists(), "no run directory");
    assert!(!world.store().exists(), "no store created");

    // A store that holds no snapshot of the failed connectors: refused the same way.
    backup_at(
        &sim,
        &world.store(),
        Scope {
            subscriptions: vec!["00000000-0000-4000-8000-0000000000b2".into()],
            connectors: vec![],
        },
        0,
    )
    .await;
    let out = run(world.cmd(
        &sim,
        &[
            "run",
            &runbook,
            "--run-id",
            "no-store",
            "--set",
            "failed_region=westeurope",
            "--set",
            "target_region=northeurope",
        ],
    ))
    .await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("does not contain") && t.contains("--set backup=none"), "{t}");
    assert_eq!(writes(&sim).len(), before, "no write: {:?}", writes(&sim));
    assert!(!world.run_dir("no-store").exists(), "no run directory");
    sim.shutdown().await.unwrap();
}
