//! `lifeboat connectors list` end to end: the real binary against a stub Resource Graph (and
//! DevOps endpoints for `--details`), plus the exit codes of bad endpoints and credentials.

use crate::support::stub::{json, Stub};
use serde_json::json;

const SUB_A: &str = "00000000-0000-4000-8000-0000000000a1";
const SUB_B: &str = "00000000-0000-4000-8000-0000000000b2";

fn connector(sub: &str, rg: &str, name: &str, ty: &str, region: &str) -> serde_json::Value {
    json!({
        "connectorResourceId": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/securityConnectors/{name}"),
        "region": region, "connectorType": ty, "name": name, "subscriptionId": sub, "resourceGroup": rg, "tags": {"owner": "secops"}
    })
}

/// A stub Resource Graph with three DevOps connectors over two pages, and DevOps children.
async fn tenant() -> Stub {
    faulty_tenant(0).await
}

/// [`tenant`] whose first `faults` answers are a 429 burst, then a 503, then a dropped connection.
async fn faulty_tenant(faults: usize) -> Stub {
    Stub::start(move |r, i| {
        if i < faults {
            return match i {
                0 | 1 => crate::support::stub::with_headers(429, &[("retry-after", "0")], json!({"error": {"code": "TooManyRequests", "message": "throttled"}})),
                2 => crate::support::stub::with_headers(503, &[("retry-after", "0")], json!({"error": {"code": "ServiceUnavailable", "message": "busy"}})),
                _ => crate::support::stub::Reply::Drop,
            };
        }
        if r.path.ends_with("/Microsoft.ResourceGraph/resources") {
            assert!(r.body["query"].as_str().unwrap().contains("microsoft.security/securityconnectors"));
            return if r.body["options"]["$skipToken"].is_null() {
                json(200, json!({"totalRecords": 3, "count": 2, "resultTruncated": "false", "$skipToken": "p2",
                    "data": [connector(SUB_A, "rg-weu", "ado-weu", "AzureDevOps", "westeurope"), connector(SUB_A, "rg-weu", "gh-weu", "Github", "westeurope")]}))
            } else {
                json(200, json!({"totalRecords": 3, "count": 1, "resultTruncated": "false",
                    "data": [connector(SUB_B, "rg-eus", "gl-eus", "GitLab", "eastus")]}))
            };
        }
        let p = r.path.as_str();
        if p.ends_with("/devops/default") {
            return if p.contains("gl-eus") {
                json(404, json!({"error": {"code": "ResourceNotFound", "message": "not found"}}))
            } else {
                json(200, json!({"name": "default", "properties": {"autoDiscovery": "Disabled", "topLevelInventoryList": ["org1", "org2"], "provisioningState": "Succeeded"}}))
            };
        }
        if p.ends_with("/azureDevOpsOrgs") {
            return json(200, json!({"value": [{"name": "org1"}, {"name": "org2"}]}));
        }
        if p.ends_with("/projects") {
            return json(200, json!({"value": [{"name": "p1"}]}));
        }
        if p.ends_with("/repos") {
            return json(200, json!({"value": [{"name": "r1"}, {"name": "r2"}, {"name": "r3"}]}));
        }
        if p.ends_with("/gitHubOwners") {
            return json(200, json!({"value": [{"name": "o1"}]}));
        }
        json(404, json!({"error": {"code": "NotFound", "message": p}}))
    })
    .await
}

fn lifeboat(args: &[&str]) -> std::process::Output {
    crate::support::cli::lifeboat().args(args).output().unwrap()
}

async fn run(args: Vec<String>) -> std::process::Output {
    let mut cmd = crate::support::cli::lifeboat();
    cmd.args(args);
    crate::support::cli::output(cmd).await
}

#[tokio::test(flavor = "multi_thread")]
async fn connectors_list_finds_every_devops_connector_across_pages() {
    let stub = tenant().await;
    let out = run(vec![
        "--arm-endpoint".into(),
        stub.url.clone(),
        "--auth".into(),
        "none".into(),
        "--output".into(),
        "json".into(),
        "connectors".into(),
        "list".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<_> =
        doc["connectors"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ado-weu", "gh-weu", "gl-eus"]);
    assert_eq!(doc["count"], 3);
    assert_eq!(doc["connectors"][0]["connectorType"], "AzureDevOps");
    assert_eq!(doc["connectors"][0]["resourceGroup"], "rg-weu");
    assert_eq!(doc["connectors"][2]["subscriptionId"], SUB_B);
    // No --subscription: the query runs at the principal's whole scope (no subscriptions field).
    assert!(stub.requests().iter().all(|r| r.body.get("subscriptions").is_none()));
}

#[tokio::test(flavor = "multi_thread")]
async fn connectors_list_filters_by_region_and_subscription_and_shows_details() {
    let stub = tenant().await;
    let out = run(vec![
        "--arm-endpoint".into(),
        stub.url.clone(),
        "--auth".into(),
        "none".into(),
        "connectors".into(),
        "list".into(),
        "--region".into(),
        "West Europe".into(),
        "--subscription".into(),
        SUB_A.into(),
        "--details".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("ado-weu") && stdout.contains("gh-weu") && !stdout.contains("gl-eus"),
        "{stdout}"
    );
    assert!(stdout.contains("AUTO-DISCOVERY") && stdout.contains("Disabled"), "{stdout}");
    let graph: Vec<_> =
        stub.requests().into_iter().filter(|r| r.path.ends_with("/resources")).collect();
    assert!(graph.iter().all(|r| r.body["subscriptions"] == json!([SUB_A])));

    let out = run(vec![
        "--arm-endpoint".into(),
        stub.url.clone(),
        "--auth".into(),
        "none".into(),
        "--output".into(),
        "json".into(),
        "connectors".into(),
        "list".into(),
        "--details".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ado = &doc["connectors"][0]["details"];
    assert_eq!(
        (
            ado["topLevel"].as_u64(),
            ado["projects"].as_u64(),
            ado["repos"].as_u64(),
            ado["inventoryCount"].as_u64()
        ),
        (Some(2), Some(2), Some(6), Some(2))
    );
    assert_eq!(doc["connectors"][1]["details"]["repos"], 3, "GitHub: one owner with three repos");
    assert_eq!(
        doc["connectors"][2]["details"]["configured"], false,
        "GitLab connector never authorized"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connectors_list_survives_429s_503s_and_dropped_connections() {
    let stub = faulty_tenant(4).await;
    let out = run(vec![
        "--arm-endpoint".into(),
        stub.url.clone(),
        "--auth".into(),
        "none".into(),
        "--output".into(),
        "json".into(),
        "connectors".into(),
        "list".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["count"], 3);
    assert_eq!(stub.requests().len(), 4 + 2, "four failed attempts, then two pages");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arm_error_exits_1_with_the_code() {
    let stub = Stub::start(|_r, _i| {
        json(400, json!({"error": {"code": "InvalidQuery", "message": "Query is invalid"}}))
    })
    .await;
    let out = run(vec![
        "--arm-endpoint".into(),
        stub.url.clone(),
        "--auth".into(),
        "none".into(),
        "connectors".into(),
        "list".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "POST /providers/Microsoft.ResourceGraph/resources failed with 400 InvalidQuery"
        ),
        "{err}"
    );
}

#[test]
fn bad_endpoints_and_credentials_fail_before_any_request() {
    // --auth none to a remote endpoint: refused (2), nothing sent.
    let out = lifeboat(&[
        "--arm-endpoint",
        "https://management.azure.com",
        "--auth",
        "none",
        "connectors",
        "list",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--auth none is refused"));
    // Plain http to a remote host: refused (2).
    let out = lifeboat(&[
        "--arm-endpoint",
        "http://management.azure.com",
        "--auth",
        "none",
        "connectors",
        "list",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plain http"));
    // A credential whose variables are missing: exit 5, naming them.
    let out = lifeboat(&[
        "--arm-endpoint",
        "http://127.0.0.1:9",
        "--auth",
        "client-secret",
        "connectors",
        "list",
    ]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET"), "{err}");
    // A bad --subscription: exit 2.
    let out = lifeboat(&[
        "--arm-endpoint",
        "http://127.0.0.1:9",
        "--auth",
        "none",
        "connectors",
        "list",
        "--subscription",
        "/subscriptions/x",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// `backup create` keeps an Azure failure's own exit code: ARM refusing the token (401) is exit
/// 5, the message says no snapshot was written, and none was. The reader's error carries the
/// `AzureError` itself to the CLI (no side channel).
#[tokio::test(flavor = "multi_thread")]
async fn backup_create_exits_5_when_arm_refuses_the_credential() {
    let stub = Stub::start(|_r, _i| {
        json(
            401,
            json!({"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}),
        )
    })
    .await;
    let store = tempfile::tempdir().unwrap();
    let url = stub.url.clone();
    let dir = store.path().to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        lifeboat(&[
            "--arm-endpoint",
            &url,
            "--auth",
            "none",
            "--backup-store",
            &dir,
            "backup",
            "create",
        ])
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("backup create stopped: no snapshot was written"), "{err}");
    assert!(err.contains("InvalidAuthenticationToken"), "{err}");
    let manifests =
        std::fs::read_dir(store.path().join("snapshots")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(manifests, 0, "no snapshot was written");
}
