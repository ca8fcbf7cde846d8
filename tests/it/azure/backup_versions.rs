//! The backup reader through the client's generic JSON operations: each object of a snapshot
//! records the api-version it was actually read with, a negotiated one included, and the
//! `--api-version` flag reaches `backup create`.

use crate::support::cli::{lifeboat, output};
use crate::support::stub::{json, Recorded, Stub};
use lifeboat::backup::arm_reader::ArmReader;
use lifeboat::backup::snapshot::{find_snapshot, list_snapshots, load_manifest};
use lifeboat::backup::{
    collect, AnomalyRules, CreateOptions, Keys, Manifest, ResourceKind, Scope, Store,
};
use serde_json::json;

const SUB: &str = "00000000-0000-4000-8000-0000000000a1";

fn connector() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado-weu")
}

/// One Azure DevOps connector with one org; the DevOps API serves only `served`.
async fn tenant(served: &'static [&'static str]) -> Stub {
    Stub::start(move |r: &Recorded, _i| {
        let v = r.api_version().unwrap_or_default();
        let p = r.path.as_str();
        if p.contains("/devops") && !served.contains(&v) {
            return json(400, json!({"error": {"code": "NoRegisteredProviderFound", "message": format!(
                "No registered resource provider found for location 'westeurope' and API version '{v}' for type 'securityConnectors/devops'. The supported api-versions are '{}'. The supported locations are 'westeurope'.",
                served.join(", "))}}));
        }
        if p.ends_with("/Microsoft.ResourceGraph/resources") {
            return json(200, json!({"totalRecords": 1, "count": 1, "resultTruncated": "false", "data": [
                {"connectorResourceId": connector(), "subscriptionId": SUB}]}));
        }
        if p.ends_with("/securityConnectors") {
            return json(200, json!({"value": [{"id": connector(), "name": "ado-weu", "location": "westeurope",
                "properties": {"environmentName": "AzureDevOps", "futureField": {"x": 1}}}]}));
        }
        if p.ends_with("/devops/default") {
            return json(200, json!({"id": format!("{}/devops/default", connector()), "name": "default",
                "properties": {"autoDiscovery": "Disabled", "topLevelInventoryList": ["org1"], "provisioningState": "Succeeded"}}));
        }
        if p.ends_with("/azureDevOpsOrgs") {
            return json(200, json!({"value": [{"id": format!("{}/devops/default/azureDevOpsOrgs/org1", connector()), "name": "org1",
                "properties": {"actionableRemediation": {"state": "Enabled"}, "newInVersionX": true}}]}));
        }
        if p.ends_with("/projects") {
            return json(200, json!({"value": []}));
        }
        json(404, json!({"error": {"code": "NotFound", "message": p}}))
    })
    .await
}

fn version_of(m: &Manifest, kind: ResourceKind) -> Vec<Option<&str>> {
    m.resources.values().filter(|e| e.kind == kind).map(|e| e.api_version.as_deref()).collect()
}

#[tokio::test]
async fn a_snapshot_records_the_negotiated_version_each_object_was_read_with() {
    let stub = tenant(&["2024-04-01", "2025-11-01-preview"]).await;
    let (client, _t) = crate::azure::client(&stub.url);
    let reader = ArmReader::new(client);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), Keys::default()).unwrap();
    let opts = CreateOptions {
        scope: Scope::default(),
        now: time::macros::datetime!(2026-01-01 00:00 UTC),
        rules: AnomalyRules::default(),
        immutable: false,
    };
    let s = collect(&reader, &store, opts).await.unwrap();
    assert_eq!(s.resources, 3);
    let info = find_snapshot(&store, &s.id).await.unwrap();
    let m = load_manifest(&store, &info).await.unwrap();
    assert_eq!(version_of(&m, ResourceKind::Connector), [Some("2026-08-01-preview")]);
    assert_eq!(version_of(&m, ResourceKind::DevOpsConfiguration), [Some("2025-11-01-preview")]);
    assert_eq!(version_of(&m, ResourceKind::AzureDevOpsOrg), [Some("2025-11-01-preview")]);
    assert_eq!(m.api_versions[&ResourceKind::DevOpsConfiguration], "2025-11-01-preview");
    // Every DevOps read after the negotiation used the negotiated version.
    let devops: Vec<String> = stub
        .requests()
        .iter()
        .filter(|r| r.path.contains("/devops"))
        .map(|r| r.api_version().unwrap().to_owned())
        .collect();
    assert_eq!(devops[0], "2025-03-01");
    assert!(devops[1..].iter().all(|v| v == "2025-11-01-preview"), "{devops:?}");
    let n = reader.client().negotiations();
    assert_eq!((n.len(), n[0].to.as_str()), (1, "2025-11-01-preview"));
    // The manifest on disk names it as `apiVersion`.
    let raw = std::fs::read_to_string(
        walk(dir.path()).into_iter().find(|p| p.to_string_lossy().contains("snapshots")).unwrap(),
    )
    .unwrap();
    assert!(
        raw.contains("\"apiVersion\":\"2025-11-01-preview\"")
            || raw.contains("\"apiVersion\": \"2025-11-01-preview\""),
        "{raw}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_create_takes_the_api_version_flag_and_fails_naming_served_versions() {
    let stub = tenant(&["2024-04-01"]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap().to_owned();
    let run = |extra: Vec<&'static str>| {
        let mut cmd = lifeboat();
        cmd.args(["--arm-endpoint", &stub.url, "--auth", "none", "--backup-store", &store])
            .args(extra)
            .args(["backup", "create"]);
        output(cmd)
    };
    // An override the service does not serve: refused, named, nothing written.
    let out = run(vec!["--api-version", "devops=2025-11-01-preview"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("set by --api-version devops=2025-11-01-preview"), "{stderr}");
    assert!(stderr.contains("it serves 2024-04-01"), "{stderr}");
    let s = Store::open(&store, Keys::default()).unwrap();
    assert!(list_snapshots(&s).await.unwrap().is_empty(), "no snapshot written");
    // With an override the service serves, every DevOps object records it.
    let out = run(vec!["--api-version", "devops=2024-04-01"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let infos = list_snapshots(&s).await.unwrap();
    let m = load_manifest(&s, &infos[0]).await.unwrap();
    assert_eq!(version_of(&m, ResourceKind::AzureDevOpsOrg), [Some("2024-04-01")]);
    assert_eq!(version_of(&m, ResourceKind::Connector), [Some("2026-08-01-preview")]);
}
