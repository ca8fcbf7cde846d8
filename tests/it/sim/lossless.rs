//! Issue 12: the simulator keeps what Azure keeps. Unknown fields at every level of every
//! writable type come back; unknown values of extensible enums are stored; fields ARM ignores
//! (read-only, derived) are ignored; tenant files with unknown fields load; the drift generator
//! is deterministic and reaches every level; a staged refusal names the field; every response
//! has its own request ID.

use crate::sim::common::*;
use lifeboat::sim::tenant::{SMALL_SUB_PROD, SMALL_SUB_TARGET};
use lifeboat::sim::{RunningSim, SimConfig, TenantSource};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// Every `(path, value)` leaf of `want` must be in `got` with the same value; returns the
/// paths that are not.
fn missing(want: &Value, got: &Value, at: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => missing(wv, gv, &format!("{at}.{k}"), out),
                    None => out.push(format!("{at}.{k}")),
                }
            }
        }
        (w, g) if w == g => {}
        _ => out.push(format!("{at}: sent {want}, got {got}")),
    }
}

fn assert_kept(want: &Value, got: &Value, what: &str) {
    let mut out = Vec::new();
    missing(want, got, "", &mut out);
    assert!(out.is_empty(), "{what}: not kept: {out:?}\ngot {got}");
}

const NEW_SC: &str = "/subscriptions/00000000-0000-4000-8000-0000000000c3/resourceGroups/rg-new/providers/Microsoft.Security/securityConnectors/ado-new";

/// A new Azure DevOps connector whose configuration owns `adventure-works` (unowned in the
/// small tenant), with unknown fields everywhere. Returns the connector's URL (no query).
async fn new_connector(sim: &RunningSim) -> String {
    let url = format!("{}{NEW_SC}", sim.url());
    group(sim, SMALL_SUB_TARGET, "rg-new", "northeurope").await;
    let body = json!({
        "location": "northeurope",
        "kind": "",
        "tags": {"team": "a"},
        "futureTop": {"nested": {"deep": [1, 2]}, "list": [{"a": 1}, {"b": "x"}]},
        "properties": {
            "environmentName": "AzureDevOps",
            "hierarchyIdentifier": "00000000-0000-0000-0000-000000000000",
            "environmentData": {"environmentType": "AzureDevOpsScope", "futureData": true},
            "offerings": [{"offeringType": "CspmMonitorAzureDevOps", "futureOffering": {"x": 1}}],
            "futureProp": "v",
        }
    });
    let r = call("PUT", &format!("{url}?api-version={SC}"), Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut want = body.clone();
    want.as_object_mut().unwrap().remove("location");
    assert_kept(&want, &r.body, "connector PUT answer");
    let r = call("GET", &format!("{url}?api-version={SC}"), None).await;
    assert_kept(&want, &r.body, "connector GET");
    url
}

#[tokio::test]
async fn unknown_fields_at_every_level_come_back_on_every_writable_type() {
    let sim = start(TenantSource::Small, false).await;
    let url = new_connector(&sim).await;

    // devops/default: top level, properties, nested objects, array items; read-only fields
    // sent in the body are ignored as ARM does.
    let code = sim.mint_code();
    let config = json!({
        "futureTop": [{"k": {"v": 1}}],
        "properties": {
            "autoDiscovery": "Disabled",
            "topLevelInventoryList": ["adventure-works"],
            "agentlessConfiguration": {"agentlessEnabled": "Enabled", "futureAgentless": {"a": [1]},
                "inventoryList": [{"inventoryKind": "AzureDevOpsOrganization", "value": "adventure-works", "futureItem": 3}]},
            "futureSetting": {"mode": "strict", "windows": [{"day": "Mon"}]},
        }
    });
    let mut sent = config.clone();
    sent["properties"]["authorization"] = json!({"code": code});
    sent["properties"]["provisioningState"] = json!("Bogus");
    sent["properties"]["capabilities"] = json!([{"name": "X", "value": "Y"}]);
    sent["id"] = json!("/not/this/id");
    let r = call("PUT", &format!("{url}/devops/default?api-version={DEVOPS}"), Some(&sent)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let done = finish_lro(&sim, header(&r, "azure-asyncoperation")).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    let got = call("GET", &format!("{url}/devops/default?api-version={DEVOPS}"), None).await;
    assert_kept(&config, &got.body, "devops/default");
    assert_eq!(got.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(got.body["properties"]["capabilities"][0]["name"], "DCSPM_ENABLED");
    assert!(got.body["id"].as_str().unwrap_or("").ends_with("/devops/default"));
    assert!(got.body["properties"].get("authorization").is_none(), "the code is never returned");

    // Azure DevOps org, project and repo: unknown top-level and properties fields, unknown
    // fields inside actionableRemediation, its nested objects and array items.
    let base = format!("{url}/devops/default/azureDevOpsOrgs/adventure-works");
    for (path, inherit) in [
        (base.clone(), false),
        (format!("{base}/projects/sandbox"), true),
        (format!("{base}/projects/sandbox/repos/playground"), true),
    ] {
        let mut remediation = json!({"state": "Enabled", "futureFlag": {"on": true},
            "categoryConfigurations": [{"category": "Secrets", "minimumSeverityLevel": "High", "futureCat": 1}],
            "branchConfiguration": {"branchNames": ["main"], "annotateDefaultBranch": "Enabled", "futureBranch": ["x"]}});
        if inherit {
            remediation["inheritFromParentState"] = json!("Disabled");
        }
        let doc = json!({"futureTop": {"a": [{"b": 2}]}, "properties": {
            "actionableRemediation": remediation, "futureProp": [{"x": "y"}], "more": 1.5}});
        let mut sent = doc.clone();
        sent["properties"]["onboardingState"] = json!("NotApplicable");
        sent["properties"]["provisioningState"] = json!("Bogus");
        let r = call("PUT", &format!("{path}?api-version={DEVOPS}"), Some(&sent)).await;
        assert!(r.status == 200 || r.status == 201, "{path}: {} {}", r.status, r.body);
        assert_kept(&doc, &r.body, "the write's answer");
        let done = finish_lro(&sim, header(&r, "azure-asyncoperation")).await;
        assert_eq!(done["status"], "Succeeded", "{done}");
        let got = call("GET", &format!("{path}?api-version={DEVOPS}"), None).await;
        assert_kept(&doc, &got.body, &path);
        assert_eq!(got.body["properties"]["onboardingState"], "Onboarded", "derived, not stored");
        assert_eq!(got.body["properties"]["provisioningState"], "Succeeded");
        // A PATCH merges: the fields it does not name stay.
        let r = call(
            "PATCH",
            &format!("{path}?api-version={DEVOPS}"),
            Some(&json!({"properties": {"patched": "yes"}})),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.body);
        finish_lro(&sim, header(&r, "azure-asyncoperation")).await;
        let got = call("GET", &format!("{path}?api-version={DEVOPS}"), None).await;
        assert_kept(&doc, &got.body, "after a PATCH");
        assert_eq!(got.body["properties"]["patched"], "yes");
        // Listings show the same documents.
        let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or(&path).to_string();
        let list = call("GET", &format!("{parent}?api-version={DEVOPS}"), None).await;
        let item = list.body["value"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["id"] == got.body["id"]).cloned())
            .unwrap_or(Value::Null);
        assert_kept(&doc, &item, "listed");
    }
    // A connector PATCH merges unknown top-level fields and replaces what it names.
    let r = call(
        "PATCH",
        &format!("{url}?api-version={SC}"),
        Some(&json!({"anotherTop": 1, "properties": {"futureProp": "w"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["anotherTop"], 1);
    assert_eq!(r.body["futureTop"]["list"][1]["b"], "x");
    assert_eq!(r.body["properties"]["futureProp"], "w");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn unknown_enum_values_are_stored_and_wrong_case_is_still_refused() {
    let sim = start(TenantSource::Small, false).await;
    let repo = format!(
        "{}{}/devops/default/azureDevOpsOrgs/contoso/projects/payments/repos/payments-api?api-version={DEVOPS}",
        sim.url(),
        sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
    );
    let want = json!({"state": "EnabledWithOverrides", "inheritFromParentState": "Partial",
        "categoryConfigurations": [{"category": "SupplyChain", "minimumSeverityLevel": "Critical"}],
        "branchConfiguration": {"branchNames": [], "annotateDefaultBranch": "Scheduled"}});
    let r = call("PUT", &repo, Some(&json!({"properties": {"actionableRemediation": want}}))).await;
    assert_eq!(r.status, 200, "a PUT of an existing repo replaces it: {}", r.body);
    finish_lro(&sim, header(&r, "azure-asyncoperation")).await;
    let got = call("GET", &repo, None).await;
    assert_eq!(got.body["properties"]["actionableRemediation"], want);
    // A known value in the wrong case: refused, naming the casing.
    let r = call(
        "PUT",
        &repo,
        Some(&json!({"properties": {"actionableRemediation": {"inheritFromParentState": "enabled"}}})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap_or("").contains("'Enabled'"), "{}", r.body);
    // Not a string: refused (types stay validated).
    let r =
        call("PUT", &repo, Some(&json!({"properties": {"actionableRemediation": {"state": 3}}})))
            .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // devops/default and the connector's environment enums.
    let cfg = format!(
        "{}{}/devops/default?api-version={DEVOPS}",
        sim.url(),
        sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
    );
    let r = call(
        "PATCH",
        &cfg,
        Some(&json!({"properties": {"autoDiscovery": "Scheduled",
            "agentlessConfiguration": {"agentlessEnabled": "Paused", "inventoryListType": "Both",
                "inventoryList": [{"inventoryKind": "GitLabGroup", "value": "x"}]}}})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    finish_lro(&sim, header(&r, "azure-asyncoperation")).await;
    let got = call("GET", &cfg, None).await;
    assert_eq!(got.body["properties"]["autoDiscovery"], "Scheduled");
    assert_eq!(
        got.body["properties"]["agentlessConfiguration"]["inventoryList"][0]["inventoryKind"],
        "GitLabGroup"
    );
    let aws = format!(
        "{}{}?api-version={SC}",
        sim.url(),
        sc_path(SMALL_SUB_TARGET, "rg", "future-cloud")
    );
    group(&sim, SMALL_SUB_TARGET, "rg", "northeurope").await;
    let r = call(
        "PUT",
        &aws,
        Some(&json!({"location": "northeurope", "properties": {"environmentName": "Oracle",
            "environmentData": {"environmentType": "OracleTenancy"}, "offerings": [{"offeringType": "CspmMonitorOracle"}]}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["properties"]["environmentName"], "Oracle");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn tenant_files_with_unknown_fields_load_and_show_them() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sim");
    let sim = start(TenantSource::File(dir.join("tenant-unknown.json")), false).await;
    let sc = sc_path("00000000-0000-4000-8000-000000000001", "rg", "ado");
    let c = call("GET", &format!("{}{sc}?api-version={SC}", sim.url()), None).await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.body["futureConnectorField"], json!({"enabled": true}));
    let d =
        call("GET", &format!("{}{sc}/devops/default?api-version={DEVOPS}", sim.url()), None).await;
    assert_eq!(d.body["properties"]["futureConfigField"], json!([{"k": 1}]));
    let gh = sc_path("00000000-0000-4000-8000-000000000001", "rg", "gh");
    let o = call(
        "GET",
        &format!("{}{gh}/devops/default/gitHubOwners/octo?api-version={DEVOPS}", sim.url()),
        None,
    )
    .await;
    assert_eq!(o.status, 200, "{}", o.body);
    assert_eq!(o.body["futureOwnerField"], "x");
    sim.shutdown().await.expect("shutdown");
}

/// The whole simulated cloud of a fresh `small` tenant drifted with `seed`, over HTTP.
async fn drifted_state(seed: u64) -> (Value, Value) {
    let sim = start(TenantSource::Small, false).await;
    let owners = call("GET", &format!("{}/_sim/owners", sim.url()), None).await.body;
    let r = call("POST", &format!("{}/_sim/drift", sim.url()), Some(&json!({"seed": seed}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut state = call("GET", &format!("{}/_sim/state", sim.url()), None).await.body;
    let after = call("GET", &format!("{}/_sim/owners", sim.url()), None).await.body;
    assert_eq!(owners, after, "drift never changes ownership");
    for k in ["base_unix", "sim_elapsed"] {
        state.as_object_mut().map(|m| m.remove(k));
    }
    // The seeded alerts are dated from the simulator's start (wall clock): two starts a second
    // apart differ there, whatever the seed.
    if let Some(rows) = state.get_mut("security_resources").and_then(Value::as_array_mut) {
        for p in rows.iter_mut().filter_map(|r| r.get_mut("properties")?.as_object_mut()) {
            for k in ["TimeGeneratedUtc", "StartTimeUtc", "EndTimeUtc"] {
                p.remove(k);
            }
        }
    }
    sim.shutdown().await.expect("shutdown");
    (state, after)
}

#[tokio::test]
async fn drift_is_deterministic_and_reaches_every_level_over_http() {
    let (a, _) = drifted_state(42).await;
    let (b, _) = drifted_state(42).await;
    assert_eq!(a, b, "same seed, same drift");
    let (c, _) = drifted_state(43).await;
    assert_ne!(a, c, "another seed, another drift");

    // `SimConfig::drift` (what `sim serve --drift` sets) drifts the tenant at start; then the
    // API shows unknown fields at every level and unknown enum values.
    let mut seen = BTreeSet::new();
    for seed in 0..6u64 {
        let sim = lifeboat::sim::start(SimConfig {
            tenant: TenantSource::Small,
            time_scale: 0.0,
            drift: Some(seed),
            ..SimConfig::default()
        })
        .await
        .expect("start");
        let ado = format!("{}{}", sim.url(), sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu"));
        let c = call("GET", &format!("{ado}?api-version={SC}"), None).await.body;
        let known_top =
            ["id", "name", "type", "location", "kind", "etag", "tags", "properties", "systemData"];
        if c.as_object().is_some_and(|m| m.keys().any(|k| !known_top.contains(&k.as_str()))) {
            seen.insert("connector top level");
        }
        let d = call("GET", &format!("{ado}/devops/default?api-version={DEVOPS}"), None).await.body;
        let known_props = [
            "autoDiscovery",
            "topLevelInventoryList",
            "agentlessConfiguration",
            "provisioningState",
            "provisioningStatusUpdateTimeUtc",
            "capabilities",
        ];
        if d["properties"]
            .as_object()
            .is_some_and(|m| m.keys().any(|k| !known_props.contains(&k.as_str())))
        {
            seen.insert("devops properties");
        }
        let repos = call(
            "GET",
            &format!("{ado}/devops/default/azureDevOpsOrgs/contoso/projects/payments/repos?api-version={DEVOPS}"),
            None,
        )
        .await
        .body;
        for r in repos["value"].as_array().into_iter().flatten() {
            let ar = &r["properties"]["actionableRemediation"];
            let state = ar["state"].as_str().unwrap_or("None");
            if !["None", "Disabled", "Enabled"].contains(&state) {
                seen.insert("unknown state");
            }
            let inherit = ar["inheritFromParentState"].as_str().unwrap_or("Enabled");
            if !["Disabled", "Enabled"].contains(&inherit) {
                seen.insert("unknown inheritFromParentState");
            }
            if r["properties"].as_object().is_some_and(|m| m.len() > 8) {
                seen.insert("repo properties");
            }
        }
        let gh = format!(
            "{}{}",
            sim.url(),
            sc_path("00000000-0000-4000-8000-0000000000b2", "rg-devsec-eus", "github-eus")
        );
        let owners =
            call("GET", &format!("{gh}/devops/default/gitHubOwners?api-version={DEVOPS}"), None)
                .await
                .body;
        for o in owners["value"].as_array().into_iter().flatten() {
            if o.as_object().is_some_and(|m| m.len() > 4)
                || o["properties"].as_object().is_some_and(|m| m.len() > 4)
            {
                seen.insert("github owner");
            }
        }
        sim.shutdown().await.expect("shutdown");
    }
    for want in [
        "connector top level",
        "devops properties",
        "unknown state",
        "unknown inheritFromParentState",
        "repo properties",
        "github owner",
    ] {
        assert!(seen.contains(want), "{want} never drifted over six seeds: {seen:?}");
    }
}

#[tokio::test]
async fn a_refused_value_gets_invalid_request_content_naming_the_path() {
    let sim = start(TenantSource::Small, false).await;
    let repo = format!(
        "{}{}/devops/default/azureDevOpsOrgs/contoso/projects/payments/repos/payments-api?api-version={DEVOPS}",
        sim.url(),
        sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
    );
    let r = call(
        "POST",
        &format!("{}/_sim/reject", sim.url()),
        Some(&json!({"path": "properties.actionableRemediation.state", "value": "Scheduled"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bad = json!({"properties": {"actionableRemediation": {"state": "Scheduled"}}});
    let r = call("PUT", &repo, Some(&bad)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "InvalidRequestContent");
    assert_eq!(r.body["error"]["target"], "properties.actionableRemediation.state");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("properties.actionableRemediation.state") && msg.contains("Scheduled"),
        "{msg}"
    );
    // Another value of the field passes; any value once the value is omitted.
    let ok = json!({"properties": {"actionableRemediation": {"state": "Enabled"}}});
    let r = call("PUT", &repo, Some(&ok)).await;
    assert_eq!(r.status, 200, "a PUT of an existing repo replaces it: {}", r.body);
    finish_lro(&sim, header(&r, "azure-asyncoperation")).await;
    sim.reject_field("properties.futureTop", None).expect("reject");
    let r = call("PATCH", &repo, Some(&json!({"properties": {"futureTop": {"a": 1}}}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["target"], "properties.futureTop");
    // A bad control input is a 400 naming the field; DELETE clears.
    let r = call("POST", &format!("{}/_sim/reject", sim.url()), Some(&json!({"path": ""}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = call("DELETE", &format!("{}/_sim/reject", sim.url()), None).await;
    assert_eq!(r.status, 204);
    let r = call("PUT", &repo, Some(&bad)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn every_response_has_its_own_request_id_and_echoes_the_correlation_id() {
    let sim = start(TenantSource::Small, false).await;
    let client = reqwest::Client::new();
    let sc = format!("{}{}", sim.url(), sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu"));
    let mut ids = BTreeSet::new();
    let mut correlations = BTreeSet::new();
    for url in [
        format!("{sc}?api-version={SC}"),
        format!("{sc}?api-version={SC}"),
        format!("{sc}/nothing?api-version={SC}"),
        format!("{sc}?api-version=1999-01-01"),
        format!("{}/_sim/clock", sim.url()),
    ] {
        let r = client.get(&url).send().await.expect("send");
        let rid = r.headers().get("x-ms-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
        let cid = r
            .headers()
            .get("x-ms-correlation-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(rid.len(), 36, "{url}: {rid:?}");
        assert_ne!(rid, "00000000-0000-0000-0000-000000000000");
        assert!(ids.insert(rid.to_string()), "{url}: request id {rid} repeated");
        assert!(correlations.insert(cid.to_string()), "{url}: correlation id repeated");
    }
    let r = client
        .get(format!("{sc}?api-version={SC}"))
        .header("x-ms-correlation-request-id", "my-correlation-7")
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["x-ms-correlation-request-id"], "my-correlation-7");
    let rid = r.headers()["x-ms-request-id"].to_str().unwrap_or("").to_string();
    let last = sim.requests().last().cloned().expect("logged");
    assert_eq!(last.request_id, rid);
    assert_eq!(last.correlation_id, "my-correlation-7");
    assert_eq!(last.api_version.as_deref(), Some(SC));
    let logged = call("GET", &format!("{}/_sim/requests", sim.url()), None).await;
    let entry =
        logged.body["requests"].as_array().and_then(|a| a.last()).cloned().unwrap_or_default();
    assert_eq!(entry["requestId"], rid.as_str());
    assert_eq!(entry["apiVersion"], SC);
    sim.advance(Duration::from_secs(1));
    sim.shutdown().await.expect("shutdown");
}
