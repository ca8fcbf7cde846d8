//! The DevOps recovery step kinds against the in-process simulator (`small` tenant, frozen
//! clock, long-running operations that complete at once): a backup of `ado-weu` taken with the
//! ARM client, a new connector in northeurope, the region failed, the orgs released by moving
//! ownership in the simulated cloud, then each kind run through a `StepContext`.

mod harness;
mod lossless;
mod no_backup;

use harness::*;
use lifeboat::engine::kind::StepOutcome;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_release_waits_with_progress_then_completes() {
    let env = Env::start().await;
    let inputs = json!({"snapshot_id": env.snapshot, "old_resource_id": env.old.to_string(),
        "new_resource_id": env.new.to_string(), "poll_interval": "10m"});
    let (out, sink) = env.run(&lifeboat::steps::devops::WaitForRelease, inputs.clone()).await;
    let StepOutcome::Wait { until, message, .. } = &out else { panic!("{out:?}") };
    assert_eq!(*until, env.now() + std::time::Duration::from_secs(600));
    assert!(message.contains("0 of 2 released"), "{message}");
    assert!(message.contains("`contoso`") && message.contains("`fabrikam`"), "{message}");
    assert_eq!(sink.progress().last().unwrap().0, 0);
    // Release one of the two: progress moves, still waiting, naming only what is held.
    env.release(&["contoso"]);
    let (out, sink) = env.run(&lifeboat::steps::devops::WaitForRelease, inputs.clone()).await;
    let StepOutcome::Wait { message, .. } = &out else { panic!("{out:?}") };
    assert!(message.contains("1 of 2 released") && !message.contains("`contoso`"), "{message}");
    assert_eq!(sink.progress().last().unwrap(), &(1, 2));
    env.release(&["fabrikam"]);
    let (out, _) = env.run(&lifeboat::steps::devops::WaitForRelease, inputs).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };
    assert_eq!((outputs["released"].clone(), outputs["total"].clone()), (json!(2), json!(2)));
}

fn reapply_inputs(env: &Env, dry_run: bool) -> Value {
    json!({"snapshot_id": env.snapshot, "old_resource_id": env.old.to_string(),
        "new_resource_id": env.new.to_string(), "dry_run": dry_run})
}

#[tokio::test(flavor = "multi_thread")]
async fn reapply_writes_only_what_differs_relies_on_inheritance_and_verify_checks_it() {
    let env = Env::start().await;
    env.release(&["contoso", "fabrikam"]);
    let writes_before = env.writes();

    // Dry run: the exact list of writes, nothing sent.
    let (out, _) = env.run(&lifeboat::steps::devops::Reapply, reapply_inputs(&env, true)).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };
    let planned: Vec<String> = outputs["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            format!("{} {}", w["method"].as_str().unwrap(), tail(w["resource"].as_str().unwrap()))
        })
        .collect();
    let expected = [
        "PATCH devops/default",
        "PUT devops/default/azureDevOpsOrgs/contoso",
        "PUT devops/default/azureDevOpsOrgs/contoso/projects/platform",
        "PUT devops/default/azureDevOpsOrgs/fabrikam/projects/mobile",
        "PUT devops/default/azureDevOpsOrgs/contoso/projects/payments/repos/payments-api",
        "PUT devops/default/azureDevOpsOrgs/contoso/projects/payments/repos/payments-web",
    ];
    assert_eq!(planned, expected, "{:#}", outputs["planned"]);
    assert_eq!(outputs["writes"], 6);
    // payments, infra, tools, ios, android inherit; fabrikam's live settings already equal the
    // backup's. payments-api has its own settings (equal to contoso's, `inheritFromParentState:
    // Disabled`): it is restored as backed up, not replaced by inheritance.
    assert_eq!(outputs["inherited"], 5, "{outputs:#?}");
    assert_eq!(outputs["unchanged"], 1);
    let api = &outputs["planned"][4]["body"]["properties"]["actionableRemediation"];
    assert_eq!(api["inheritFromParentState"], "Disabled", "{api:#}");
    assert!(api.get("categoryConfigurations").is_some(), "its own settings travel: {api:#}");
    assert_eq!(env.writes(), writes_before, "a dry run sends no write");
    let config = &outputs["planned"][0];
    assert!(config["body"]["properties"].get("authorization").is_none(), "no OAuth code is sent");
    assert!(config["diff"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["path"] == "properties.topLevelInventoryList"));

    // For real: exactly those writes reach the service, each journaled with its IDs.
    let (out, sink) = env.run(&lifeboat::steps::devops::Reapply, reapply_inputs(&env, false)).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };
    assert_eq!(outputs["writes"], 6);
    let sent: Vec<String> = env.writes()[writes_before.len()..]
        .iter()
        .map(|(m, p)| format!("{m} {}", tail(p)))
        .collect();
    let mut sorted_sent = sent.clone();
    sorted_sent.sort();
    let mut sorted_expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    sorted_expected.sort();
    assert_eq!(sorted_sent, sorted_expected);
    assert_eq!(sent[0], "PATCH devops/default", "parents first: the configuration before anything");
    let effects = sink.effects();
    assert_eq!(effects.len(), 6);
    // Every effect carries the IDs that came back; the configuration PATCH is accepted (202),
    // each PUT replaces a resource the release made visible (200, as ARM answers a replace).
    assert!(
        effects.iter().all(|e| e.request_id.is_some()
            && e.correlation_id.is_some()
            && match e.method.as_str() {
                "PATCH" => e.status == Some(202),
                _ => e.status == Some(200),
            }),
        "{effects:?}"
    );
    assert_eq!(sink.progress().last().unwrap(), &(6, 6));

    // Again: nothing left to write.
    let (out, _) = env.run(&lifeboat::steps::devops::Reapply, reapply_inputs(&env, false)).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };
    assert_eq!(outputs["writes"], 0);
    assert_eq!(env.writes().len(), writes_before.len() + 6);

    // Verify passes and lists what Microsoft does not recreate.
    // The harness's new connector was not created from the backup (its own tags): adopted.
    let verify_inputs = json!({"snapshot_id": env.snapshot, "old_resource_id": env.old.to_string(),
        "new_resource_id": env.new.to_string(), "adopted": true});
    let (out, _) = env.run(&lifeboat::steps::devops::Verify, verify_inputs.clone()).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };
    assert_eq!(
        outputs["resources_checked"],
        1 + 2 + 3 + 6,
        "the configuration, 2 orgs, 3 projects, 6 repos (the adopted connector keeps its own)"
    );
    let checked = outputs["checked"].as_u64().unwrap();
    assert!(checked > 13, "every field of every resource is compared ({checked})");
    assert!(outputs["not_recreated_by_microsoft"].to_string().contains("IaC"));

    // One repo changed live: verify fails with the resource, field, expected and actual value.
    env.put_repo_setting(
        "contoso",
        "payments",
        "payments-web",
        json!({"state": "Enabled", "inheritFromParentState": "Disabled"}),
    )
    .await;
    let (out, _) = env.run(&lifeboat::steps::devops::Verify, verify_inputs).await;
    let StepOutcome::Failed { error, retryable } = &out else { panic!("{out:?}") };
    assert!(!retryable);
    assert!(error.starts_with(&format!("1 of {checked} restored fields differ")), "{error}");
    assert!(error.contains("repos/payments-web properties.actionableRemediation.state: expected \"Disabled\", actual \"Enabled\""), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reapply_refuses_before_release_and_without_services() {
    let env = Env::start().await;
    let (out, _) = env.run(&lifeboat::steps::devops::Reapply, reapply_inputs(&env, false)).await;
    let StepOutcome::Failed { error, retryable: false } = &out else { panic!("{out:?}") };
    assert!(error.contains("does not own") && error.contains("wait-for-release"), "{error}");
    let (out, _) =
        env.run_with(&lifeboat::steps::devops::Reapply, reapply_inputs(&env, false), false).await;
    let StepOutcome::Failed { error, retryable: false } = &out else { panic!("{out:?}") };
    assert!(error.contains("needs an Azure connection"), "{error}");
    let mut bad = reapply_inputs(&env, false);
    bad["old_resource_id"] = json!("not-an-id");
    let (out, _) = env.run(&lifeboat::steps::devops::Reapply, bad).await;
    assert!(
        matches!(&out, StepOutcome::Failed { error, retryable: false } if error.contains("old_resource_id")),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn promote_wait_recovered_and_delete() {
    use lifeboat::steps::lifecycle_kinds::{Delete, Promote, WaitRecovered};
    let env = Env::start().await;
    let ids =
        json!({"old_resource_id": env.old.to_string(), "new_resource_id": env.new.to_string()});

    // Not primary yet: delete refuses, and so it does for old == new.
    let (out, _) = env.run(&Delete, ids.clone()).await;
    assert!(
        matches!(&out, StepOutcome::Failed { error, retryable: false } if error.contains("not tagged lifeboat-role=primary")),
        "{out:?}"
    );
    let same =
        json!({"old_resource_id": env.old.to_string(), "new_resource_id": env.old.to_string()});
    let (out, _) = env.run(&Delete, same).await;
    assert!(
        matches!(&out, StepOutcome::Failed { error, retryable: false } if error.contains("also the new connector")),
        "{out:?}"
    );

    // Promote keeps the existing tags and adds ours; a second promote writes nothing.
    let patches = env.count("PATCH");
    let (out, sink) = env.run(&Promote, ids.clone()).await;
    assert!(
        matches!(&out, StepOutcome::Succeeded { outputs, .. } if outputs["tags_written"] == true),
        "{out:?}"
    );
    assert_eq!(sink.effects().len(), 1);
    let tags = env.tags_of_new().await;
    assert_eq!(tags["owner"], "recovery-team", "existing tags are kept");
    assert_eq!(tags["lifeboat-role"], "primary");
    assert_eq!(tags["lifeboat-replaces"], env.old.to_string());
    let (out, sink) = env.run(&Promote, ids.clone()).await;
    assert!(
        matches!(&out, StepOutcome::Succeeded { outputs, .. } if outputs["tags_written"] == false)
    );
    assert!(sink.effects().is_empty());
    assert_eq!(env.count("PATCH"), patches + 1);

    // The region is down: keep polling; back: recovered.
    let wait = json!({"old_resource_id": env.old.to_string(), "poll_interval": "15m"});
    let (out, _) = env.run(&WaitRecovered, wait.clone()).await;
    assert!(
        matches!(&out, StepOutcome::Wait { message, .. } if message.contains("does not answer yet")),
        "{out:?}"
    );
    env.region("westeurope", "restore").await;
    let (out, _) = env.run(&WaitRecovered, wait).await;
    assert!(
        matches!(&out, StepOutcome::Succeeded { outputs, .. } if outputs["answer"] == "200"),
        "{out:?}"
    );

    // Delete: done, journaled; again: 404 counts as already deleted.
    let (out, sink) = env.run(&Delete, ids.clone()).await;
    assert!(
        matches!(&out, StepOutcome::Succeeded { outputs, .. } if outputs["already_absent"] == false),
        "{out:?}"
    );
    assert_eq!(sink.effects()[0].method, "DELETE");
    let (out, _) = env.run(&Delete, ids).await;
    assert!(
        matches!(&out, StepOutcome::Succeeded { outputs, .. } if outputs["already_absent"] == true),
        "{out:?}"
    );
}

/// The part of a resource ID from `devops/default` on.
fn tail(id: &str) -> String {
    let i = id.to_ascii_lowercase().find("/devops/default").map(|i| i + 1).unwrap_or(0);
    id[i..].to_string()
}
