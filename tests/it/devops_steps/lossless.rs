//! Lossless restore (issue 12): a write carries every stored writable field, known to lifeboat
//! or not, and nothing read-only or secret; `devops.verify` compares whole documents by field
//! path; unknown enum values are written back verbatim and, where they change a decision, take
//! the safe side; a value Azure refuses fails that resource only, and `restore_exclude` lets the
//! rest finish with the field reported as not restored.

use crate::devops_steps::harness::*;
use lifeboat::azure::models::*;
use lifeboat::azure::writable::READ_ONLY;
use lifeboat::backup::{Captured, ResourceKind};
use lifeboat::engine::kind::StepOutcome;
use lifeboat::steps::devops::{Reapply, Verify};
use serde_json::{json, Value};

fn ids(env: &Env) -> Value {
    json!({"snapshot_id": env.snapshot, "old_resource_id": env.old.to_string(),
        "new_resource_id": env.new.to_string()})
}

/// Verify's inputs: the harness's new connector is not created from the backup (its own tags),
/// so it counts as adopted.
fn verify_ids(env: &Env) -> Value {
    with(ids(env), "adopted", json!(true))
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

/// The captured body of the Azure DevOps resource whose ID ends with `tail`.
fn body_of<'a>(captured: &'a mut [Captured], tail: &str) -> &'a mut Value {
    &mut captured
        .iter_mut()
        .find(|c| c.resource_id.to_ascii_lowercase().ends_with(&tail.to_ascii_lowercase()))
        .unwrap_or_else(|| panic!("no captured {tail}"))
        .body
}

fn planned<'a>(outputs: &'a serde_json::Map<String, Value>, tail: &str) -> &'a Value {
    outputs["planned"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["resource"].as_str().unwrap().to_ascii_lowercase().ends_with(tail))
        .unwrap_or_else(|| panic!("no planned write of {tail}: {:#}", outputs["planned"]))
}

/// Fields a newer api-version might return, at every level of an org and of the configuration,
/// and an unknown enum value on a repo.
fn drift(captured: &mut [Captured]) {
    let org = body_of(captured, "azureDevOpsOrgs/contoso");
    org["futureTop"] = json!({"tier": "gold"});
    org["properties"]["futureProp"] = json!(["a", "b"]);
    let rem = &mut org["properties"]["actionableRemediation"];
    rem["futureRem"] = json!({"level": 3});
    rem["branchConfiguration"]["futureBranch"] = json!(true);
    rem["categoryConfigurations"][0]["futureCat"] = json!("x");
    let web = body_of(captured, "repos/payments-web");
    web["properties"]["actionableRemediation"]["inheritFromParentState"] =
        json!("PartiallyEnabled");
    let cfg = captured.iter_mut().find(|c| c.kind == ResourceKind::DevOpsConfiguration).unwrap();
    cfg.body["properties"]["futureCfg"] = json!({"k": 1});
    cfg.body["properties"]["agentlessConfiguration"]["futureAgentless"] = json!("y");
}

/// Every field of `stored` that is not read-only, secret or in `overridden` is in `sent` with
/// the same value (an independent check: it walks the stored document, not the strip list's
/// code).
fn assert_carries(stored: &Value, sent: &Value, at: &str) {
    let skip = |p: &str| READ_ONLY.iter().any(|f| f.pointer == p);
    fn walk(s: &Value, sent: &Value, ptr: String, at: &str, skip: &dyn Fn(&str) -> bool) {
        if skip(&ptr) {
            assert!(sent.pointer(&ptr).is_none(), "{at}: {ptr} must not be sent: {sent:#}");
            return;
        }
        match s {
            Value::Object(m) => {
                for (k, v) in m {
                    walk(v, sent, format!("{ptr}/{k}"), at, skip);
                }
            }
            leaf => assert_eq!(sent.pointer(&ptr), Some(leaf), "{at}: {ptr} in {sent:#}"),
        }
    }
    walk(stored, sent, String::new(), at, &skip);
}

#[tokio::test(flavor = "multi_thread")]
async fn planned_writes_carry_every_stored_field_known_or_not_and_nothing_read_only() {
    let mut stored: Vec<Captured> = Vec::new();
    let env = Env::start_with(|c| {
        drift(c);
        stored = c.clone();
    })
    .await;
    env.release(&["contoso", "fabrikam"]);
    let (out, _) = env.run(&Reapply, with(ids(&env), "dry_run", json!(true))).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };

    let org = planned(outputs, "azuredevopsorgs/contoso");
    assert_carries(body_of(&mut stored, "azureDevOpsOrgs/contoso"), &org["body"], "contoso");
    assert_eq!(org["body"]["futureTop"], json!({"tier": "gold"}));
    assert_eq!(org["body"]["properties"]["futureProp"], json!(["a", "b"]));
    assert_eq!(org["body"]["properties"]["actionableRemediation"]["futureRem"]["level"], 3);
    for ro in ["id", "name", "type", "systemData"] {
        assert!(org["body"].get(ro).is_none(), "{ro}: {:#}", org["body"]);
    }
    for ro in ["provisioningState", "onboardingState"] {
        assert!(org["body"]["properties"].get(ro).is_none(), "{ro}: {:#}", org["body"]);
    }
    assert!(org["diff"].to_string().contains("futureRem"), "the diff names unknown fields too");
    assert_eq!(org["snapshot_api_version"], "2025-03-01", "the seam for item 4 is filled");

    let web = planned(outputs, "repos/payments-web");
    assert_eq!(
        web["body"]["properties"]["actionableRemediation"]["inheritFromParentState"],
        "PartiallyEnabled",
        "an unknown enum value is written back verbatim, not rewritten to Disabled"
    );
    let cfg = planned(outputs, "devops/default");
    assert_eq!(cfg["method"], "PATCH");
    let stored_cfg =
        stored.iter().find(|c| c.kind == ResourceKind::DevOpsConfiguration).unwrap().body.clone();
    assert_carries(&stored_cfg, &cfg["body"], "devops/default");
    assert!(cfg["body"]["properties"].get("authorization").is_none(), "no secret");
    assert!(cfg["body"]["properties"].get("capabilities").is_none(), "read-only");
    assert_eq!(cfg["body"]["properties"]["futureCfg"], json!({"k": 1}));
}

/// Unknown fields inside `actionableRemediation` (which today's simulator keeps): restored,
/// then verified; a live value that drops one fails verify, naming its path.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_fields_are_restored_and_verify_names_a_missing_one_by_path() {
    let env = Env::start_with(|c| {
        let rem = &mut body_of(c, "azureDevOpsOrgs/contoso")["properties"]["actionableRemediation"];
        rem["futureRem"] = json!({"level": 3});
        rem["branchConfiguration"]["futureBranch"] = json!([1, 2]);
        rem["categoryConfigurations"][1]["futureCat"] = json!("x");
    })
    .await;
    env.release(&["contoso", "fabrikam"]);
    let (out, _) = env.run(&Reapply, ids(&env)).await;
    assert!(matches!(out, StepOutcome::Succeeded { .. }), "{out:?}");
    let live = env.client.get_azure_devops_org(&env.new, "contoso").await.unwrap();
    let rem = serde_json::to_value(live.properties.unwrap().actionable_remediation).unwrap();
    assert_eq!(rem["futureRem"], json!({"level": 3}));
    assert_eq!(rem["branchConfiguration"]["futureBranch"], json!([1, 2]));
    assert_eq!(rem["categoryConfigurations"][1]["futureCat"], "x");
    let (out, _) = env.run(&Verify, verify_ids(&env)).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };
    assert_eq!(outputs["mismatches"], json!([]));

    // The live org loses one unknown field and one array item changes: both named by path.
    let mut lossy = rem.clone();
    lossy["categoryConfigurations"][1].as_object_mut().unwrap().remove("futureCat");
    lossy["branchConfiguration"]["futureBranch"] = json!([1, 3]);
    let body: AzureDevOpsOrg =
        serde_json::from_value(json!({"properties": {"actionableRemediation": lossy}})).unwrap();
    env.client.put_azure_devops_org(&env.new, "contoso", &body).await.unwrap();
    let (out, _) = env.run(&Verify, verify_ids(&env)).await;
    let StepOutcome::Failed { error, retryable: false } = &out else { panic!("{out:?}") };
    // Two fields of the org, and the same two through the project that inherits from it.
    assert!(error.starts_with("4 of "), "{error}");
    assert!(error.contains("projects/payments properties.actionableRemediation (effective).categoryConfigurations[1].futureCat"), "{error}");
    assert!(
        error.contains("azureDevOpsOrgs/contoso properties.actionableRemediation.categoryConfigurations[1].futureCat: expected \"x\", actual null"),
        "{error}"
    );
    assert!(
        error.contains("properties.actionableRemediation.branchConfiguration.futureBranch[1]: expected 2, actual 3"),
        "{error}"
    );
}

/// A field the service adds that the backup did not have is information, not a failure.
#[tokio::test(flavor = "multi_thread")]
async fn fields_the_service_adds_are_reported_not_failed() {
    let env = Env::start().await;
    env.release(&["contoso", "fabrikam"]);
    let (out, _) = env.run(&Reapply, ids(&env)).await;
    assert!(matches!(out, StepOutcome::Succeeded { .. }), "{out:?}");
    let live = env.client.get_azure_devops_org(&env.new, "fabrikam").await.unwrap();
    let mut rem = serde_json::to_value(live.properties.unwrap().actionable_remediation).unwrap();
    rem["serviceDefault"] = json!("On");
    let body: AzureDevOpsOrg =
        serde_json::from_value(json!({"properties": {"actionableRemediation": rem}})).unwrap();
    env.client.put_azure_devops_org(&env.new, "fabrikam", &body).await.unwrap();
    let (out, _) = env.run(&Verify, verify_ids(&env)).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };
    let added = outputs["added_by_service"].as_array().unwrap();
    assert!(
        added.iter().any(|a| a["field"] == "properties.actionableRemediation.serviceDefault"
            && a["value"] == "On"
            && a["resource"].as_str().unwrap().ends_with("azureDevOpsOrgs/fabrikam")),
        "{added:#?}"
    );
}

/// Effective settings still count: a child whose own document matches fails verify when the
/// parent it inherits from differs.
#[tokio::test(flavor = "multi_thread")]
async fn verify_still_compares_effective_settings_through_inheritance() {
    let env = Env::start().await;
    env.release(&["contoso", "fabrikam"]);
    let (out, _) = env.run(&Reapply, ids(&env)).await;
    assert!(matches!(out, StepOutcome::Succeeded { .. }), "{out:?}");
    // `payments` inherits from contoso; contoso changes live.
    let body: AzureDevOpsOrg = serde_json::from_value(
        json!({"properties": {"actionableRemediation": {"state": "Disabled"}}}),
    )
    .unwrap();
    env.client.put_azure_devops_org(&env.new, "contoso", &body).await.unwrap();
    let (out, _) = env.run(&Verify, verify_ids(&env)).await;
    let StepOutcome::Failed { error, .. } = &out else { panic!("{out:?}") };
    assert!(
        error.contains("azureDevOpsOrgs/contoso properties.actionableRemediation.state"),
        "{error}"
    );
    assert!(
        error.contains("projects/payments properties.actionableRemediation (effective).state"),
        "the inheriting project is named too: {error}"
    );
}

/// Azure refuses a stored value (the simulator, like the service, refuses
/// `inheritFromParentState` on an org): that org and its children are not written, every other
/// write is; the failure names the resource, the field path, the value and the remedy, and with
/// `restore_exclude` the rest is restored and the field reported as not restored.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_value_fails_that_resource_only_and_restore_exclude_finishes_the_rest() {
    let env = Env::start_with(|c| {
        body_of(c, "azureDevOpsOrgs/contoso")["properties"]["actionableRemediation"]
            ["inheritFromParentState"] = json!("Disabled");
    })
    .await;
    env.release(&["contoso", "fabrikam"]);
    let before = env.writes().len();
    let (out, _) = env.run(&Reapply, ids(&env)).await;
    let StepOutcome::Failed { error, retryable: false } = &out else { panic!("{out:?}") };
    let path = "properties.actionableRemediation.inheritFromParentState";
    let scoped = format!("azureDevOpsOrgs/contoso:{path}");
    assert!(error.contains(&format!("Azure refused the stored value of `{path}`")), "{error}");
    assert!(error.contains("azureDevOpsOrgs/contoso: \"Disabled\""), "{error}");
    assert!(
        error.contains(&format!("lifeboat resume run-1 --set restore_exclude={scoped}")),
        "{error}"
    );
    assert!(error.contains("not written because their parent was refused"), "{error}");
    let sent: Vec<String> =
        env.writes()[before..].iter().map(|(m, p)| format!("{m} {p}")).collect();
    assert!(sent.iter().any(|w| w.ends_with("fabrikam/projects/mobile")), "others go on: {sent:?}");
    assert!(!sent.iter().any(|w| w.contains("contoso/projects")), "children wait: {sent:?}");

    let excluded = with(ids(&env), "restore_exclude", json!([scoped]));
    let (out, _) = env.run(&Reapply, excluded.clone()).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };
    let not_restored = outputs["not_restored"].as_array().unwrap();
    assert_eq!(not_restored.len(), 1, "{not_restored:#?}");
    assert_eq!(not_restored[0]["field"], path);
    assert_eq!(not_restored[0]["value"], "Disabled");
    assert!(not_restored[0]["resource"].as_str().unwrap().ends_with("azureDevOpsOrgs/contoso"));

    let (out, _) = env.run(&Verify, with(excluded, "adopted", json!(true))).await;
    let StepOutcome::Succeeded { outputs, .. } = &out else { panic!("{out:?}") };
    assert_eq!(outputs["not_restored"].as_array().unwrap().len(), 1, "{outputs:#?}");
    let (out, _) = env.run(&Verify, verify_ids(&env)).await;
    let StepOutcome::Failed { error, .. } = &out else { panic!("{out:?}") };
    assert!(
        error.contains(&format!(
            "azureDevOpsOrgs/contoso {path}: expected \"Disabled\", actual null"
        )),
        "{error}"
    );

    // A malformed exclusion is refused before anything is read or written.
    let (out, _) =
        env.run(&Reapply, with(ids(&env), "restore_exclude", json!(["properties"]))).await;
    assert!(
        matches!(&out, StepOutcome::Failed { error, retryable: false } if error.contains("restore_exclude")),
        "{out:?}"
    );
}

/// An unknown `provisioningState` of the new connector's configuration during create-or-adopt
/// is "still in progress": the step waits, sends no second PUT and spends no OAuth code.
#[tokio::test(flavor = "multi_thread")]
async fn create_or_adopt_waits_on_an_unknown_provisioning_state_without_a_second_put() {
    let env = Env::start().await;
    let key = lifeboat::sim::model::connector_key(
        &env.new.subscription,
        &env.new.resource_group,
        env.new.name(),
    );
    {
        let mut cloud = env.sim.cloud();
        let d = cloud.connectors.get_mut(&key).unwrap().devops.as_mut().unwrap();
        d.provisioning_state = "Migrating".into();
    }
    let dir = tempfile::tempdir().unwrap();
    let code = env.sim.mint_code();
    let codes = dir.path().join("codes");
    std::fs::write(&codes, format!("ado-weu {code}\n")).unwrap();
    let item = json!({"resource_id": env.old.to_string(), "name": "ado-weu",
        "subscription_id": env.old.subscription, "resource_group": env.old.resource_group,
        "region": "westeurope", "connector_type": "AzureDevOps", "orgs": ["contoso", "fabrikam"]});
    let inputs = json!({"connector": item, "snapshot_id": env.snapshot,
        "target_region": "northeurope", "authorization_codes": codes.to_str().unwrap()});
    let puts = env.count("PUT");
    let (out, _) = env
        .run_scratch(
            &lifeboat::steps::connector::CreateOrAdopt,
            inputs,
            json!({"new_resource_id": env.new.to_string(), "adopted": false, "phase": "authorizing"}),
        )
        .await;
    let StepOutcome::Wait { message, .. } = &out else { panic!("{out:?}") };
    assert!(message.contains("provisioningState `Migrating`"), "{message}");
    assert!(message.contains("still in progress"), "{message}");
    assert_eq!(env.count("PUT"), puts, "no second PUT");
    assert!(env.sim.cloud().oauth_codes.contains_key(&code), "the OAuth code is not spent");
}
