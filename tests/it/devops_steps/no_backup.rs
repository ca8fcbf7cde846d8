//! `devops.wait-for-release` without a backup (`snapshot_id` null): it works from the new
//! connector's view. Items held by a connector that answers (a healthy one of the same type, or
//! one this run created for another failed connector) are not waited for; the old connector's
//! are, until released; the failed region is never called.

use crate::devops_steps::harness::*;
use lifeboat::azure::ResourceId;
use lifeboat::engine::kind::StepOutcome;
use serde_json::{json, Value};

const SUB_EAST: &str = "00000000-0000-4000-8000-0000000000b2";

fn item(id: &ResourceId, region: &str) -> Value {
    json!({"resource_id": id.to_string(), "name": id.name(), "subscription_id": id.subscription,
        "resource_group": id.resource_group, "region": region, "connector_type": "AzureDevOps"})
}

fn inputs(env: &Env, candidates: Value) -> Value {
    json!({"snapshot_id": null, "old_resource_id": env.old.to_string(),
        "new_resource_id": env.new.to_string(), "poll_interval": "10m", "candidates": candidates})
}

fn calls_to(env: &Env, name: &str) -> usize {
    let needle = format!("/securityconnectors/{name}/devops");
    env.sim.requests().iter().filter(|r| r.path.to_ascii_lowercase().contains(&needle)).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_backup_the_release_wait_holds_for_the_old_connectors_items_only() {
    let env = Env::start().await;
    let eus = ResourceId::connector(SUB_EAST, "rg-devsec-eus", "ado-eus");
    let kind = lifeboat::steps::devops::WaitForRelease;
    // Calls to the old connector before the step (the harness's backup read it).
    let old_calls = calls_to(&env, "ado-weu");
    // The new connector sees contoso and fabrikam (the old one's), northwind (ado-eus's) and
    // adventure-works (nobody's). ado-eus answers: northwind is accounted for.
    let with_eus = inputs(&env, json!([item(&env.old, "westeurope"), item(&eus, "eastus")]));
    let (out, _) = env.run(&kind, with_eus.clone()).await;
    let StepOutcome::Wait { message, scratch, .. } = &out else { panic!("{out:?}") };
    assert!(message.contains("`contoso`") && message.contains("`fabrikam`"), "{message}");
    assert!(!message.contains("northwind") && !message.contains("adventure-works"), "{message}");
    assert!(message.contains("lifeboat skip run-1 under-test#0"), "{message}");
    let scratch = scratch.clone().expect("what it learnt is kept");
    assert_eq!(scratch["others"]["northwind"], "ado-eus");
    assert_eq!(calls_to(&env, "ado-weu"), old_calls, "the failed region is never called");
    assert_eq!(calls_to(&env, "ado-eus"), 1);

    // Later polls reuse what was learnt: ado-eus is not asked again.
    let (out, _) = env.run_scratch(&kind, with_eus.clone(), scratch.clone()).await;
    assert!(matches!(out, StepOutcome::Wait { .. }), "{out:?}");
    assert_eq!(calls_to(&env, "ado-eus"), 1);

    // Without a connector that answers for it, northwind is waited for too, and the message
    // says how to go on if it belongs to another connector.
    let (out, _) = env.run(&kind, inputs(&env, json!([item(&env.old, "westeurope")]))).await;
    let StepOutcome::Wait { message, .. } = &out else { panic!("{out:?}") };
    assert!(message.contains("`northwind`") && message.contains("skip"), "{message}");

    // Released: done, with what the new connector onboarded and who owns the rest.
    env.release(&["contoso", "fabrikam"]);
    let (out, _) = env.run_scratch(&kind, with_eus, scratch).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };
    assert_eq!(outputs["onboarded"], json!(["contoso", "fabrikam"]));
    assert_eq!(
        outputs["owned_by_other_connectors"],
        json!([{"name": "northwind", "owner": "ado-eus"}])
    );
    assert!(outputs["snapshot_id"].is_null());
    assert_eq!(calls_to(&env, "ado-weu"), old_calls);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_backup_items_released_to_this_runs_other_new_connectors_are_not_waited_for() {
    let env = Env::start().await;
    // Another failed Azure DevOps connector of the same region (recovered by another branch of
    // the same run): its replacement is tagged by this run. ado-eus plays that replacement.
    let sibling = ResourceId::connector(SUB_EAST, "rg-devsec-weu", "ado-weu-2");
    let eus = ResourceId::connector(SUB_EAST, "rg-devsec-eus", "ado-eus");
    {
        let key = lifeboat::sim::model::connector_key(SUB_EAST, "rg-devsec-eus", "ado-eus");
        let mut cloud = env.sim.cloud();
        let c = cloud.connectors.get_mut(&key).expect("ado-eus");
        c.tags = json!({"lifeboat-run": "run-1", "lifeboat-replaces": sibling.to_string()});
    }
    let kind = lifeboat::steps::devops::WaitForRelease;
    let candidates = json!([item(&env.old, "westeurope"), item(&sibling, "westeurope")]);
    let (out, _) = env.run(&kind, inputs(&env, candidates.clone())).await;
    let StepOutcome::Wait { message, .. } = &out else { panic!("{out:?}") };
    assert!(message.contains("`contoso`") && !message.contains("northwind"), "{message}");
    assert_eq!(calls_to(&env, "ado-weu-2"), 0, "a failed sibling is never called");
    assert!(calls_to(&env, eus.name()) >= 1, "this run's other new connector is asked");
    env.release(&["contoso", "fabrikam"]);
    let (out, _) = env.run(&kind, inputs(&env, candidates)).await;
    assert!(matches!(out, StepOutcome::Succeeded { .. }), "{out:?}");
}
