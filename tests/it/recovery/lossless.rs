//! Lossless recovery through the real binary (issue 12): fields lifeboat does not know, in the
//! old connector and its Azure DevOps settings, come back on the new connector and are verified;
//! a write path that drops one makes `verify` fail naming it (the test-only mutation switch); a
//! stored value Azure refuses fails that connector's branch only, and `lifeboat resume RUN --set
//! restore_exclude=...` finishes it with the field reported as not restored.
//!
//! Today's simulator keeps unknown fields inside a connector's `properties` and inside
//! `actionableRemediation`; those are the ones used here (the rebuilt simulator keeps them at
//! every level: then the drift tests cover the rest).

use crate::recovery::common::*;
use lifeboat::azure::ResourceId;
use lifeboat::engine::{runner, Phase};
use lifeboat::sim::RunningSim;
use lifeboat::steps::registry;
use serde_json::{json, Value};

const PATH: &str = "properties.actionableRemediation.inheritFromParentState";

/// Changes the old `ado-weu` connector and its contoso org settings in the simulated cloud.
fn edit_old(sim: &RunningSim, edit: impl FnOnce(&mut Value, &mut Value)) {
    let key = lifeboat::sim::model::connector_key(SUB_A1, "rg-devsec-weu", "ado-weu");
    let mut cloud = sim.cloud();
    let c = cloud.connectors.get_mut(&key).expect("ado-weu");
    let mut props = c.properties.clone();
    let d = c.devops.as_mut().expect("ado-weu is configured");
    edit(&mut props, d.settings.get_mut("contoso").expect("contoso settings"));
    c.properties = props;
}

/// Unknown fields in the connector's properties and at three levels of contoso's settings.
fn drift(sim: &RunningSim) {
    edit_old(sim, |props, rem| {
        props["futureConnectorSetting"] = json!({"mode": "strict"});
        rem["futureRem"] = json!({"level": 3});
        rem["branchConfiguration"]["futureBranch"] = json!(["a", "b"]);
        rem["categoryConfigurations"][1]["futureCat"] = json!(true);
    });
}

fn new_ado() -> ResourceId {
    ResourceId::connector(SUB_A1, "rg-devsec-weu-northeurope", "ado-weu-northeurope")
}

/// The outputs of every instance of `step`, by instance name.
fn outputs_of(world: &World, run: &str, step: &str) -> Vec<(String, Value)> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_fields_survive_a_region_outage_recovery_and_are_verified() {
    const RUN: &str = "lossless-1";
    let sim = start_sim("").await;
    drift(&sim);
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), RUN);
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    // Independently of verify: every backed-up annotation setting, unknown fields included.
    assert_recovered(&sim, &world, &snapshot).await;
    let c = client(&sim);
    let conn = serde_json::to_value(c.get_connector(&new_ado()).await.unwrap()).unwrap();
    assert_eq!(conn["properties"]["futureConnectorSetting"], json!({"mode": "strict"}));
    let org = c.get_azure_devops_org(&new_ado(), "contoso").await.unwrap();
    let rem = serde_json::to_value(org.properties.unwrap().actionable_remediation).unwrap();
    assert_eq!(rem["futureRem"], json!({"level": 3}));
    assert_eq!(rem["branchConfiguration"]["futureBranch"], json!(["a", "b"]));
    assert_eq!(rem["categoryConfigurations"][1]["futureCat"], json!(true));
    // verify compared the connectors too (they were created, not adopted).
    for (name, out) in outputs_of(&world, RUN, "verify") {
        assert_eq!(out["adopted"], false, "{name}");
        assert_eq!(out["mismatches"], json!([]), "{name}");
        let (fields, resources) =
            (out["checked"].as_u64().unwrap(), out["resources_checked"].as_u64().unwrap());
        assert!(resources >= 7 && fields >= resources, "{name}: {out:#}");
    }
    sim.shutdown().await.unwrap();
}

/// The mutation check of issue 12: with the test-only switch, the write path drops one unknown
/// field, and `verify` fails naming its path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_path_that_drops_an_unknown_field_fails_verify_naming_it() {
    const RUN: &str = "lossless-2";
    let sim = start_sim("").await;
    drift(&sim);
    let mut world = World::new();
    world.env = vec![
        ("LIFEBOAT_TEST_STEPS".into(), "1".into()),
        ("LIFEBOAT_TEST_MUTATE_DROP_UNKNOWN".into(), "1".into()),
    ];
    take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), RUN);
    let err = drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap_err();
    assert!(err.contains("exited Some(1)"), "{err}");
    assert!(err.contains("step verify["), "verify is what fails: {err}");
    assert!(
        err.contains(
            "azureDevOpsOrgs/contoso properties.actionableRemediation.futureRem: expected {\"level\":3}, actual null"
        ),
        "{err}"
    );
    assert!(
        err.contains("ado-weu-northeurope properties.futureConnectorSetting: expected {\"mode\":\"strict\"}, actual null"),
        "{err}"
    );
    sim.shutdown().await.unwrap();
}

/// A stored value Azure refuses (an org with `inheritFromParentState`): that branch fails with
/// the resource, the field path, the value and the command to resume with; the other connector
/// recovers; a parameter that is not resumable cannot be changed; `resume --set
/// restore_exclude=...` journals the change, re-arms the branch and finishes it, the field
/// listed as not restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_stored_value_fails_its_branch_only_and_resume_with_restore_exclude_finishes() {
    const RUN: &str = "lossless-3";
    let sim = start_sim("").await;
    edit_old(&sim, |_, rem| rem["inheritFromParentState"] = json!("Disabled"));
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), RUN);
    let err = drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap_err();
    let exclude = format!("azureDevOpsOrgs/contoso:{PATH}");
    assert!(err.contains("exited Some(1)"), "{err}");
    assert!(err.contains(&format!("Azure refused the stored value of `{PATH}`")), "{err}");
    assert!(err.contains("azureDevOpsOrgs/contoso: \"Disabled\""), "{err}");
    assert!(
        err.contains(&format!("lifeboat resume {RUN} --set restore_exclude={exclude}")),
        "{err}"
    );
    // The GitLab connector's branch went on: verified, promoted, at the cleanup gate (a person's).
    let r = runner::load(&world.run_dir(RUN), &registry()).unwrap();
    let phase = |step: &str, want: Phase| -> usize {
        r.engine
            .snapshot()
            .into_iter()
            .filter(|v| v.step == step)
            .filter(|v| v.instance.as_ref().is_some_and(|i| i.state.phase() == want))
            .count()
    };
    assert_eq!(phase("reapply-settings", Phase::Failed), 1);
    assert_eq!(phase("verify", Phase::Succeeded), 1);
    assert_eq!(phase("promote-new-connector", Phase::Succeeded), 1);
    assert_eq!(phase("approve-cleanup", Phase::AwaitingApproval), 1);

    let out = run(world.cmd(&sim, &["resume", RUN, "--set", "target_region=westus"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cannot be changed on resume"), "{}", text(&out));

    let set = format!("restore_exclude={exclude}");
    let out = run(world.cmd(&sim, &["resume", RUN, "--set", &set])).await;
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", text(&out));
    assert!(text(&out).contains("parameters changed"), "{}", text(&out));
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();

    let journal = journal_text(&world, RUN);
    assert!(journal.contains("\"event\":\"params_changed\""), "journaled");
    let not_restored: Vec<Value> = outputs_of(&world, RUN, "verify")
        .into_iter()
        .flat_map(|(_, o)| o["not_restored"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(not_restored.len(), 1, "{not_restored:#?}");
    assert_eq!(not_restored[0]["field"], PATH);
    assert_eq!(not_restored[0]["value"], "Disabled");
    // Everything else of contoso is restored.
    let org = client(&sim).get_azure_devops_org(&new_ado(), "contoso").await.unwrap();
    let rem = serde_json::to_value(org.properties.unwrap().actionable_remediation).unwrap();
    assert_eq!(rem["state"], "Enabled");
    assert!(rem.get("inheritFromParentState").is_none());
    sim.shutdown().await.unwrap();
}
