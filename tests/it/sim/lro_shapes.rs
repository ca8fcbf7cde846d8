//! Issue 12, item 5: the simulator answers long-running writes in every shape ARM's RPC allows;
//! while an operation runs a GET shows an in-progress `provisioningState` and the old settings,
//! at its due time the new settings and `Succeeded`; the request log says when each write's
//! effect applied, so a client that counts a write as done too early can be caught.

use crate::sim::common::*;
use lifeboat::sim::tenant::SMALL_SUB_PROD;
use lifeboat::sim::{LroShape, RunningSim, TenantSource};
use serde_json::{json, Value};
use std::time::Duration;

const TERMINAL: [&str; 3] = ["Succeeded", "Failed", "Canceled"];

fn repo_url(sim: &RunningSim) -> String {
    format!(
        "{}{}/devops/default/azureDevOpsOrgs/contoso/projects/payments/repos/payments-api?api-version={DEVOPS}",
        sim.url(),
        sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
    )
}

async fn now(sim: &RunningSim) -> f64 {
    call("GET", &format!("{}/_sim/clock", sim.url()), None).await.body["now"]
        .as_f64()
        .unwrap_or(-1.0)
}

/// Follows whatever the first answer offers until the operation ends: `Azure-AsyncOperation`,
/// else `Location`, else the resource's `provisioningState`. Returns the final resource.
async fn follow(sim: &RunningSim, first: &Resp, resource: &str) -> Value {
    let async_op = header(first, "azure-asyncoperation").to_string();
    let location = header(first, "location").to_string();
    for _ in 0..30 {
        if !async_op.is_empty() {
            let r = call("GET", &async_op, None).await;
            assert_eq!(r.status, 200, "{}", r.body);
            if TERMINAL.contains(&r.body["status"].as_str().unwrap_or("")) {
                return call("GET", resource, None).await.body;
            }
        } else if !location.is_empty() {
            let r = call("GET", &location, None).await;
            if r.status != 202 {
                assert_eq!(r.status, 200, "{}", r.body);
                return r.body;
            }
            assert!(!header(&r, "retry-after").is_empty());
        } else {
            let r = call("GET", resource, None).await;
            let state =
                r.body["properties"]["provisioningState"].as_str().unwrap_or("").to_string();
            if TERMINAL.contains(&state.as_str()) {
                return r.body;
            }
        }
        sim.advance(Duration::from_secs(1));
    }
    panic!("the operation never ended");
}

#[tokio::test]
async fn every_shape_shows_progress_then_the_new_settings_and_logs_when_they_applied() {
    // (shape, status of an update, Azure-AsyncOperation, Location, body)
    let cases = [
        (LroShape::Sync200, 200, false, false, true),
        (LroShape::Created201Async, 200, true, false, true),
        (LroShape::Accepted202Location, 202, false, true, false),
        (LroShape::Accepted202Async, 202, true, false, false),
        (LroShape::Accepted202Both, 202, true, true, false),
        (LroShape::Ok200Async, 200, true, false, true),
        (LroShape::Created201NoHeader, 200, false, false, true),
    ];
    for (shape, status, has_async, has_location, has_body) in cases {
        let sim = start(TenantSource::Small, false).await;
        sim.set_lro_shape(shape);
        let url = repo_url(&sim);
        let old = call("GET", &url, None).await.body["properties"]["actionableRemediation"].clone();
        let want = json!({"state": "Enabled", "inheritFromParentState": "Disabled", "futureKnob": {"x": [1]}});
        let t0 = now(&sim).await;
        let r =
            call("PUT", &url, Some(&json!({"properties": {"actionableRemediation": want}}))).await;
        assert_eq!(r.status, status, "{shape}: {}", r.body);
        assert_eq!(!header(&r, "azure-asyncoperation").is_empty(), has_async, "{shape}");
        assert_eq!(!header(&r, "location").is_empty(), has_location, "{shape}");
        assert_eq!(!r.body.is_null(), has_body, "{shape}: {}", r.body);
        if has_async || has_location {
            assert!(!header(&r, "retry-after").is_empty(), "{shape}");
        }
        if has_location {
            assert!(header(&r, "location")
                .contains("/providers/Microsoft.Security/locations/westeurope/operationResults/"));
        }
        let entry = sim.requests().last().cloned().expect("logged");
        assert_eq!(entry.method, "PUT");
        let confirmed = entry.confirmed_at.expect("a write's confirmation time is logged");
        assert!(entry.operation_id.is_some(), "{shape}");
        if shape == LroShape::Sync200 {
            assert_eq!(confirmed, t0, "a synchronous write applies when answered");
            assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
            assert_eq!(r.body["properties"]["actionableRemediation"], want);
            sim.shutdown().await.expect("shutdown");
            continue;
        }
        assert!(confirmed > t0, "{shape}: applies later ({confirmed} > {t0})");
        if has_body {
            let state = r.body["properties"]["provisioningState"].as_str().unwrap_or("");
            assert!(
                !TERMINAL.contains(&state),
                "{shape}: the first answer is not terminal: {state}"
            );
        }
        // While it runs: an in-progress state and the old settings.
        let during = call("GET", &url, None).await.body;
        let state = during["properties"]["provisioningState"].as_str().unwrap_or("");
        assert!(!TERMINAL.contains(&state), "{shape}: during the operation: {state}");
        assert_eq!(during["properties"]["actionableRemediation"], old, "{shape}: old settings");
        let done = follow(&sim, &r, &url).await;
        assert!(now(&sim).await >= confirmed, "{shape}: followed to the end");
        assert_eq!(done["properties"]["provisioningState"], "Succeeded", "{shape}: {done}");
        assert_eq!(done["properties"]["actionableRemediation"], want, "{shape}");
        let after = call("GET", &url, None).await.body;
        assert_eq!(after["properties"]["actionableRemediation"], want, "{shape}");
        sim.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn a_put_of_an_existing_azure_devops_resource_answers_200_and_a_new_one_201() {
    let sim = start(TenantSource::Small, false).await;
    sim.set_lro_shape(LroShape::Ok200Async);
    let base = format!("{}{}", sim.url(), sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu"));
    let owned = format!("{base}/devops/default/azureDevOpsOrgs/contoso?api-version={DEVOPS}");
    let r = call(
        "PUT",
        &owned,
        Some(&json!({"properties": {"actionableRemediation": {"state": "Enabled"}}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "InProgress");
    follow(&sim, &r, &owned).await;
    // adventure-works is visible to ado-weu and owned by nobody: the PUT creates it.
    let new = format!("{base}/devops/default/azureDevOpsOrgs/adventure-works?api-version={DEVOPS}");
    let r = call(
        "PUT",
        &new,
        Some(&json!({"properties": {"actionableRemediation": {"state": "Enabled"}}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let done = follow(&sim, &r, &new).await;
    assert_eq!(done["properties"]["onboardingState"], "Onboarded");
    // devops/default: 200 for an update in this shape.
    let cfg = format!("{base}/devops/default?api-version={DEVOPS}");
    let r = call("PATCH", &cfg, Some(&json!({"properties": {"autoDiscovery": "Disabled"}}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let during = call("GET", &cfg, None).await.body;
    assert_eq!(during["properties"]["provisioningState"], "InProgress");
    let done = follow(&sim, &r, &cfg).await;
    assert_eq!(done["properties"]["provisioningState"], "Succeeded");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn by_default_a_put_of_an_existing_azure_devops_resource_answers_200_with_its_operation() {
    // The default shape too: a replacing PUT is a 200 whose operation the client must follow
    // (before issue 12 the simulator answered 201, and a 200 with Azure-AsyncOperation was
    // never exercised by a recovery).
    let sim = start(TenantSource::Small, false).await;
    assert_eq!(LroShape::default(), LroShape::Created201Async);
    let base = format!("{}{}", sim.url(), sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu"));
    let owned = format!("{base}/devops/default/azureDevOpsOrgs/contoso?api-version={DEVOPS}");
    let r = call(
        "PUT",
        &owned,
        Some(&json!({"properties": {"actionableRemediation": {"state": "Enabled"}}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let done = follow(&sim, &r, &owned).await;
    assert_eq!(done["properties"]["provisioningState"], "Succeeded");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn location_and_headerless_shapes_carry_configuration_failures_too() {
    let sim = start(TenantSource::Small, false).await;
    let cfg = format!(
        "{}{}/devops/default?api-version={DEVOPS}",
        sim.url(),
        sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
    );
    // Location: 202 while running, then the operation's error.
    sim.set_lro_shape(LroShape::Accepted202Location);
    let r = call(
        "PUT",
        &cfg,
        Some(
            &json!({"properties": {"autoDiscovery": "Enabled", "authorization": {"code": "bad"}}}),
        ),
    )
    .await;
    assert_eq!(r.status, 202);
    let loc = header(&r, "location").to_string();
    assert_eq!(call("GET", &loc, None).await.status, 202);
    sim.advance(Duration::from_secs(5));
    let end = call("GET", &loc, None).await;
    assert_eq!(end.status, 400, "{}", end.body);
    assert_eq!(end.body["error"]["code"], "TokenExchangeFailed");
    // No header: the resource's provisioningState says Failed.
    let r = call(
        "POST",
        &format!("{}/_sim/lro-shape", sim.url()),
        Some(&json!({"shape": "Created201NoHeader"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        "PUT",
        &cfg,
        Some(
            &json!({"properties": {"autoDiscovery": "Enabled", "authorization": {"code": "bad"}}}),
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(header(&r, "azure-asyncoperation").is_empty() && header(&r, "location").is_empty());
    let done = follow(&sim, &r, &cfg).await;
    assert_eq!(done["properties"]["provisioningState"], "Failed");
    // A bad shape is a 400 naming the choices.
    let r =
        call("POST", &format!("{}/_sim/lro-shape", sim.url()), Some(&json!({"shape": "Sync201"})))
            .await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["message"].as_str().unwrap_or("").contains("Accepted202Location"));
    sim.shutdown().await.expect("shutdown");
}

/// Status, headers present and in-progress state of 40 writes under `Mixed(seed)`.
async fn mixed_answers(seed: u64) -> Vec<(u16, bool, bool, String)> {
    let sim = start(TenantSource::Small, false).await;
    let r = call(
        "POST",
        &format!("{}/_sim/lro-shape", sim.url()),
        Some(&json!({"shape": "Mixed", "seed": seed})),
    )
    .await;
    assert_eq!(r.body["shape"], format!("Mixed({seed})"));
    let url = repo_url(&sim);
    let mut out = Vec::new();
    for i in 0..40 {
        let state = if i % 2 == 0 { "Enabled" } else { "Disabled" };
        let r = call(
            "PUT",
            &url,
            Some(&json!({"properties": {"actionableRemediation": {"state": state}}})),
        )
        .await;
        assert!((200..=202).contains(&r.status), "{}", r.body);
        let during = call("GET", &url, None).await.body;
        out.push((
            r.status,
            !header(&r, "azure-asyncoperation").is_empty(),
            !header(&r, "location").is_empty(),
            during["properties"]["provisioningState"].as_str().unwrap_or("").to_string(),
        ));
        let done = follow(&sim, &r, &url).await;
        assert_eq!(done["properties"]["actionableRemediation"]["state"], state);
    }
    sim.shutdown().await.expect("shutdown");
    out
}

#[tokio::test]
async fn mixed_picks_a_seeded_shape_per_write_including_unknown_intermediate_states() {
    let a = mixed_answers(11).await;
    assert_eq!(a, mixed_answers(11).await, "same seed, same answers");
    let shapes: std::collections::BTreeSet<(u16, bool, bool)> =
        a.iter().map(|(s, x, l, _)| (*s, *x, *l)).collect();
    assert!(shapes.len() >= 5, "many shapes: {shapes:?}");
    let states: std::collections::BTreeSet<&str> = a.iter().map(|x| x.3.as_str()).collect();
    assert!(
        states
            .iter()
            .any(|s| !["Accepted", "InProgress", "Succeeded", "Failed", "Canceled"].contains(s)),
        "an intermediate state outside the usual ones is served: {states:?}"
    );
}
