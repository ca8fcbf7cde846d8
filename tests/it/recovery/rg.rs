//! Issue 13, item 1: a healthy resource group for the new connector. In the `small` tenant,
//! `ado-weu` (westeurope) is in `rg-devsec-weu` (westeurope: the group is in the failed region)
//! and `gitlab-weu` (westeurope) in `rg-platform-uks` (uksouth: the connector is in the failed
//! region, its group elsewhere). With westeurope down and the simulator blocking writes under
//! groups located there (`rg-writes=block`, the drill's mode), the recovery succeeds because each
//! new connector goes into `<old group>-northeurope`, created in northeurope; forcing the old
//! group gets the simulated ARM failure; with `rg-writes=failover` the forced write goes
//! through, and lifeboat still picks a healthy group (it cannot know which behaviour ARM shows).
//! Bad placements are refused before any write (exit 2, nothing in the request log).

use crate::recovery::common::*;
use lifeboat::azure::{ApiFamily, ResourceId};
use lifeboat::engine::runner;
use lifeboat::sim::model::{group_key, ResourceGroup};
use lifeboat::sim::RunningSim;
use lifeboat::steps::registry;
use serde_json::{json, Value};

/// Groups of the small tenant located in, or holding a connector of, westeurope.
const OLD_GROUPS: [&str; 2] = ["rg-devsec-weu", "rg-platform-uks"];

fn create_outputs(world: &World, run: &str) -> Vec<Value> {
    let r = runner::load(&world.run_dir(run), &registry()).unwrap();
    r.engine
        .snapshot()
        .into_iter()
        .filter(|v| v.step == "create-or-adopt-connector")
        .filter_map(|v| v.instance.and_then(|i| i.outputs).map(Value::Object))
        .collect()
}

/// Write requests (PUT, PATCH, DELETE) on paths under `/resourceGroups/{group}/` or on the
/// group itself, with their status, from the `from`th request of the log on.
fn writes_under(sim: &RunningSim, group: &str, from: usize) -> Vec<(String, String, u16)> {
    let g = format!("/resourcegroups/{}", group.to_ascii_lowercase());
    sim.requests()
        .into_iter()
        .skip(from)
        .filter(|r| matches!(r.method.as_str(), "PUT" | "PATCH" | "DELETE"))
        .filter(|r| {
            let p = r.path.to_ascii_lowercase();
            p.ends_with(&g) || p.contains(&format!("{g}/"))
        })
        .map(|r| (r.method, r.path, r.status))
        .collect()
}

/// Position in the request log of the first request `method` whose path ends with `tail`.
fn position(sim: &RunningSim, method: &str, tail: &str) -> usize {
    sim.requests()
        .iter()
        .position(|r| {
            r.method == method && r.path.to_ascii_lowercase().ends_with(&tail.to_ascii_lowercase())
        })
        .unwrap_or_else(|| panic!("no {method} …{tail} in the request log"))
}

fn args_with(world: &World, run: &str, extra: &[&str]) -> Vec<String> {
    let mut a = run_args(world, &World::runbook(), run);
    for s in extra {
        a.push("--set".into());
        a.push(s.to_string());
    }
    a
}

/// A security connector body as a responder would PUT it in northeurope.
fn connector_body() -> Value {
    json!({"location": "northeurope", "properties": {"environmentName": "AzureDevOps",
        "hierarchyIdentifier": "00000000-0000-0000-0000-000000000000",
        "environmentData": {"environmentType": "AzureDevOpsScope"},
        "offerings": [{"offeringType": "CspmMonitorAzureDevOps"}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rg_recovery_puts_each_connector_in_a_healthy_group_while_the_old_group_is_blocked() {
    const RUN: &str = "rg-blocked";
    let sim = start_sim("rg-writes=block").await;
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    drive_to_end(&sim, &world, RUN, &args_with(&world, RUN, &[]), &Kill::default()).await.unwrap();

    // Both combinations recovered: every setting back, old connectors deleted once the region
    // returned (checked field by field, with the new IDs in the new groups).
    assert_recovered(&sim, &world, &snapshot).await;
    for (old_group, old_name) in [("rg-devsec-weu", "ado-weu"), ("rg-platform-uks", "gitlab-weu")] {
        let new_group = format!("{old_group}-northeurope");
        {
            let cloud = sim.cloud();
            let g = cloud.group(SUB_A1, &new_group).expect("the new group exists");
            assert_eq!(g.location, "northeurope", "{new_group}");
            assert_eq!(g.tags["lifeboat-run"], RUN, "{new_group} is tagged with the run");
            let c = cloud
                .connectors
                .values()
                .find(|c| c.name == format!("{old_name}-northeurope"))
                .expect("the new connector");
            assert_eq!(c.resource_group, new_group, "{old_name}'s replacement is in the new group");
        }
        // The group was created before the connector was put into it.
        let group_put = position(&sim, "PUT", &format!("/resourcegroups/{new_group}"));
        let conn_put = position(
            &sim,
            "PUT",
            &format!("/resourceGroups/{new_group}/providers/Microsoft.Security/securityConnectors/{old_name}-northeurope"),
        );
        assert!(group_put < conn_put, "group {group_put} before connector {conn_put}");
    }
    // Nothing was ever written under the old groups but the deletion of the old connectors
    // after the region came back; no write was refused by the blocked group.
    for g in OLD_GROUPS {
        let w = writes_under(&sim, g, 0);
        assert!(
            w.iter().all(|(m, p, s)| m == "DELETE" && *s < 300 && !p.contains("northeurope")),
            "{g}: {w:?}"
        );
    }
    // The outputs name where each connector went, and the group creation is journaled.
    let outs = create_outputs(&world, RUN);
    assert_eq!(outs.len(), 2);
    for o in &outs {
        let new = ResourceId::parse(o["new_resource_id"].as_str().unwrap()).unwrap();
        assert_eq!(o["target_resource_group"], json!(new.resource_group));
        assert_eq!(o["target_subscription"], json!(SUB_A1));
        assert!(new.resource_group.ends_with("-northeurope"), "{new}");
    }
    let journal = journal_text(&world, RUN);
    for g in OLD_GROUPS {
        let scope =
            format!("\"resource\":\"/subscriptions/{SUB_A1}/resourceGroups/{g}-northeurope\"");
        assert!(journal.contains(&scope), "the group PUT is a journaled effect: {scope}");
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rg_forcing_the_old_group_gets_the_simulated_arm_failure() {
    let sim = start_sim("rg-writes=block").await;
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    let c = client(&sim);
    let forced = ResourceId::connector(SUB_A1, "rg-devsec-weu", "ado-weu-northeurope");
    let e = c.put_json(&forced, ApiFamily::Connectors, &connector_body(), None).await.unwrap_err();
    let arm = e.arm().expect("an ARM error");
    assert_eq!((arm.status, arm.code.as_str()), (503, "ResourceGroupRegionUnavailable"), "{e}");
    assert!(arm.message.contains("'rg-devsec-weu'") && arm.message.contains("'westeurope'"), "{e}");
    assert!(
        sim.cloud().connectors.values().all(|c| c.name != "ado-weu-northeurope"),
        "nothing created"
    );
    let w = writes_under(&sim, "rg-devsec-weu", 0);
    assert!(!w.is_empty() && w.iter().all(|(m, _, s)| m == "PUT" && *s == 503), "{w:?}");
    // Reads of the group and its resources still work.
    let g = c.get_resource_group(SUB_A1, "rg-devsec-weu").await.unwrap();
    assert_eq!(g.location.as_deref(), Some("westeurope"));
    c.list_connectors_by_resource_group(SUB_A1, "rg-devsec-weu").await.unwrap();

    // The other combination: gitlab-weu is in the failed region, its group (uksouth) is not:
    // the connector still fails as an outage does, while its group takes a new connector.
    let gitlab = ResourceId::connector(SUB_A1, "rg-platform-uks", "gitlab-weu");
    let e = c.get_connector(&gitlab).await.unwrap_err();
    assert_eq!(
        e.arm().map(|a| (a.status, a.code.as_str())),
        Some((503, "ServiceUnavailable")),
        "{e}"
    );
    let e = c
        .patch_json(&gitlab, ApiFamily::Connectors, &json!({"tags": {"x": "y"}}), None)
        .await
        .unwrap_err();
    assert_eq!(e.arm().map(|a| a.code.as_str()), Some("ServiceUnavailable"), "{e}");
    let beside = ResourceId::connector(SUB_A1, "rg-platform-uks", "beside-probe");
    c.put_json(&beside, ApiFamily::Connectors, &connector_body(), None).await.unwrap();

    // Through lifeboat, the old group is refused before anything is written.
    write_codes(&sim, &world);
    let before = writes(&sim).len();
    let args = args_with(&world, "forced", &["target_resource_group=rg-devsec-weu"]);
    let out = run(cmd(&world, &sim, &args)).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    for part in [
        "`rg-devsec-weu`",
        "is located in westeurope, the failed region",
        "--set target_resource_group=NAME",
    ] {
        assert!(t.contains(part), "expected `{part}` in: {t}");
    }
    assert_eq!(writes(&sim).len(), before, "no write: {:?}", writes(&sim));
    assert!(!world.run_dir("forced").exists());
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rg_failed_over_writes_go_through_and_the_recovery_still_uses_a_healthy_group() {
    const RUN: &str = "rg-failover";
    let sim = start_sim("rg-writes=failover").await;
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    // ARM failed the group's metadata over: a write under the old group goes through ...
    let c = client(&sim);
    let forced = ResourceId::connector(SUB_A1, "rg-devsec-weu", "forced-probe");
    c.put_json(&forced, ApiFamily::Connectors, &connector_body(), None).await.unwrap();
    c.delete_connector(&forced).await.unwrap();
    // ... but a connector located in the failed region still fails.
    let old = ResourceId::connector(SUB_A1, "rg-devsec-weu", "ado-weu");
    let e =
        c.patch_json(&old, ApiFamily::Connectors, &json!({"tags": {}}), None).await.unwrap_err();
    assert_eq!(e.arm().map(|a| a.code.as_str()), Some("ServiceUnavailable"), "{e}");

    // lifeboat cannot know which behaviour ARM shows: it still avoids the failed region's group.
    let from = sim.requests().len();
    write_codes(&sim, &world);
    drive_to_end(&sim, &world, RUN, &args_with(&world, RUN, &[]), &Kill::default()).await.unwrap();
    assert_recovered(&sim, &world, &snapshot).await;
    let w = writes_under(&sim, "rg-devsec-weu", from);
    assert!(
        w.iter().all(|(m, p, _)| m == "DELETE" && p.ends_with("/ado-weu")),
        "only the old connector's deletion: {w:?}"
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rg_an_existing_group_of_another_region_is_used_as_is() {
    const RUN: &str = "rg-given";
    let sim = start_sim("").await;
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = args_with(&world, RUN, &["target_resource_group=rg-platform-uks"]);
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    {
        let cloud = sim.cloud();
        for old in FAILED {
            let c = cloud
                .connectors
                .values()
                .find(|c| c.name == format!("{old}-northeurope"))
                .expect("recovered");
            assert_eq!(c.resource_group, "rg-platform-uks", "{old}");
            assert_eq!(c.region(), "northeurope");
        }
        let g = cloud.group(SUB_A1, "rg-platform-uks").unwrap();
        assert_eq!(g.location, "uksouth", "the existing group is unchanged");
        assert!(g.tags.get("lifeboat-run").is_none(), "not re-tagged: {}", g.tags);
    }
    let group_puts: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "PUT"
                && r.path.to_ascii_lowercase().contains("/resourcegroups/")
                && !r.path.contains("/providers/")
        })
        .map(|r| r.path)
        .collect();
    assert!(group_puts.is_empty(), "no group created: {group_puts:?}");
    sim.shutdown().await.unwrap();
}

fn cmd(world: &World, sim: &RunningSim, args: &[String]) -> std::process::Command {
    world.cmd(sim, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `lifeboat run` with `extra` parameters must exit 2 naming every part of `expect`, with no
/// write in the request log and no run directory. `setup` changes the cloud first.
async fn refused(extra: &[&str], setup: impl FnOnce(&RunningSim), expect: &[&str]) {
    let sim = start_sim("").await;
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    setup(&sim);
    write_codes(&sim, &world);
    let before = writes(&sim).len();
    let args = args_with(&world, "bad", extra);
    let out = run(cmd(&world, &sim, &args)).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.starts_with("error: "), "{t}");
    for e in expect {
        assert!(t.contains(e), "expected `{e}` in: {t}");
    }
    assert_eq!(writes(&sim).len(), before, "no write: {:?}", writes(&sim));
    assert!(!world.run_dir("bad").exists(), "no run directory");
    sim.shutdown().await.unwrap();
}

fn add_group(sim: &RunningSim, name: &str, location: &str, state: &str) {
    sim.cloud().resource_groups.insert(
        group_key(SUB_A1, name),
        ResourceGroup {
            subscription: SUB_A1.into(),
            name: name.into(),
            location: location.into(),
            tags: json!({}),
            provisioning_state: state.into(),
            managed_by: None,
        },
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rg_a_target_group_name_arm_would_refuse_is_refused_before_any_write() {
    refused(
        &["target_resource_group=rg ops!"],
        |_| {},
        &["target_resource_group `rg ops!` contains ` `", "Azure refuses in a resource group name"],
    )
    .await;
    refused(
        &["target_resource_group=rg-dr."],
        |_| {},
        &["`rg-dr.` ends with a period", "drop the final `.`"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rg_a_target_subscription_the_caller_cannot_see_is_refused_before_any_write() {
    refused(
        &["target_subscription=00000000-0000-4000-8000-0000000000ff"],
        |_| {},
        &[
            "target_subscription `00000000-0000-4000-8000-0000000000ff` is not visible to this credential",
            "SubscriptionNotFound",
            "az account list",
        ],
    )
    .await;
    refused(&["target_subscription=prod"], |_| {}, &["`prod` is not a subscription ID"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rg_a_group_being_deleted_or_in_the_failed_region_is_refused_before_any_write() {
    refused(
        &["target_resource_group=rg-dr"],
        |sim| add_group(sim, "rg-dr", "northeurope", "Deleting"),
        &[
            "`rg-dr`",
            "is being deleted (provisioningState Deleting)",
            "--set target_resource_group=NAME",
        ],
    )
    .await;
    // The default group, when it exists in the failed region, is refused the same way.
    refused(
        &[],
        |sim| add_group(sim, "rg-devsec-weu-northeurope", "westeurope", "Succeeded"),
        &[
            "`rg-devsec-weu-northeurope`",
            "is located in westeurope, the failed region",
            "lifeboat creates it in northeurope if it does not exist",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rg_plan_shows_where_the_new_connectors_go() {
    let world = World::new();
    let runbook = World::runbook();
    let base = [
        "plan",
        runbook.as_str(),
        "--set",
        "failed_region=westeurope",
        "--set",
        "target_region=North Europe",
    ];
    let out = crate::support::cli::lifeboat()
        .args(["--state-dir", world.state().to_str().unwrap()])
        .args(base)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("placement: new connectors go to resource group `<old group>-northeurope` per connector in each old connector's subscription"), "{t}");
    let out = crate::support::cli::lifeboat()
        .args(["--state-dir", world.state().to_str().unwrap(), "--output", "json"])
        .args(base)
        .args(["--set", "target_resource_group=rg-dr"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let line = doc["placement"].as_str().unwrap_or_default();
    assert!(
        line.starts_with(
            "new connectors go to resource group `rg-dr` in each old connector's subscription"
        ),
        "{doc}"
    );
}
