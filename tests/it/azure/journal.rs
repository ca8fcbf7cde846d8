//! A run journals the api-version choice: `lifeboat run` of a one-step runbook (discovery through
//! Resource Graph) against a stub that no longer serves the compiled Resource Graph version. The
//! negotiation is an effect of the run, with the refused call's request ID.

use crate::support::cli::{lifeboat, output};
use crate::support::stub::{json, Stub};
use serde_json::{json, Value};

const RUNBOOK: &str = r#"apiVersion: lifeboat/v1
metadata:
  name: negotiate
  description: discovery only
steps:
  - id: discover
    uses: resource-graph.query
    with:
      query: devops-connectors
      region: westeurope
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_run_journals_the_negotiated_api_version_as_an_effect() {
    let stub = Stub::start(|r, _i| {
        if r.api_version() != Some("2022-10-01") {
            return json(400, json!({"error": {"code": "InvalidApiVersionParameter", "message": format!(
                "The api-version '{}' is invalid. The supported versions are '2022-10-01,2021-03-01'. Please see https://aka.ms/api-version for more details.",
                r.api_version().unwrap_or_default())}}));
        }
        json(200, json!({"totalRecords": 1, "count": 1, "resultTruncated": "false", "data": [{
            "connectorResourceId": "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado-weu",
            "region": "westeurope", "connectorType": "AzureDevOps", "name": "ado-weu",
            "subscriptionId": "00000000-0000-4000-8000-0000000000a1", "resourceGroup": "rg"}]}))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let runbook = dir.path().join("negotiate.yaml");
    std::fs::write(&runbook, RUNBOOK).unwrap();
    let state = dir.path().join("state");
    let mut cmd = lifeboat();
    cmd.args(["--arm-endpoint", &stub.url, "--auth", "none", "--state-dir"])
        .arg(&state)
        .args(["run", "--run-id", "neg-1"])
        .arg(&runbook);
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let journal = std::fs::read_to_string(state.join("runs/neg-1/journal.jsonl")).unwrap();
    let effects: Vec<Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| {
            let text = e.to_string();
            text.contains("NEGOTIATE-API-VERSION").then_some(e)
        })
        .collect();
    assert_eq!(effects.len(), 1, "one negotiation, journaled once:\n{journal}");
    let text = effects[0].to_string();
    assert!(text.contains("graph api-version 2024-04-01 -> 2022-10-01"), "{text}");
    assert!(text.contains("served: 2022-10-01, 2021-03-01"), "{text}");
    // The refused call's request id (the stub's `req-N`) is the effect's.
    assert!(text.contains("\"request_id\":\"req-"), "{text}");
    // After the negotiation, every query of the run used the negotiated version.
    let versions: Vec<String> =
        stub.requests().iter().map(|r| r.api_version().unwrap_or("-").to_owned()).collect();
    assert_eq!(versions.iter().filter(|v| *v == "2024-04-01").count(), 1, "{versions:?}");
}
