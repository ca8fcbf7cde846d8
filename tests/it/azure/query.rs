//! `queries/devops-connectors.kql` through the simulator's KQL evaluator: it is valid for the
//! Resource Graph subset and yields exactly the DevOps connectors, with the columns
//! `connectors list` reads.

use lifeboat::cli::connectors::DEVOPS_CONNECTORS_QUERY;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn connector(sub: &str, rg: &str, name: &str, env: &str, location: &str) -> Value {
    json!({
        "id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/securityConnectors/{name}"),
        "name": name, "type": "microsoft.security/securityconnectors", "location": location,
        "resourceGroup": rg, "subscriptionId": sub, "tags": {"env": "prod"}, "kind": "",
        "properties": {"environmentName": env, "hierarchyIdentifier": "x"}
    })
}

#[test]
fn the_connector_query_selects_exactly_the_devops_connectors() {
    let rows = vec![
        connector("s1", "rg", "gl", "GitLab", "westeurope"),
        connector("s1", "rg", "ado", "AzureDevOps", "westeurope"),
        connector("s2", "rg2", "gh", "Github", "eastus"),
        connector("s1", "rg", "aws", "AWS", "westeurope"),
        json!({"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st", "name": "st", "type": "microsoft.storage/storageaccounts", "location": "westeurope", "resourceGroup": "rg", "subscriptionId": "s1", "properties": {"environmentName": "AzureDevOps"}}),
    ];
    let mut tables = BTreeMap::new();
    tables.insert("resources".to_owned(), rows);
    let t = lifeboat::sim::kql::evaluate(DEVOPS_CONNECTORS_QUERY, &tables).unwrap();
    let cols: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        cols,
        [
            "connectorResourceId",
            "region",
            "connectorType",
            "name",
            "subscriptionId",
            "resourceGroup",
            "tags",
            "kind",
            "properties"
        ]
    );
    let names: Vec<&str> = t.rows.iter().map(|r| r[3].as_str().unwrap()).collect();
    assert_eq!(names, ["ado", "gl", "gh"], "DevOps only, ordered by resource ID (s1 before s2)");
    assert_eq!(t.rows[0][2], "AzureDevOps");
    assert_eq!(t.rows[2][1], "eastus");
}

#[test]
fn the_findings_query_selects_devops_alerts_and_recommendations_with_their_subject() {
    let sc =
        "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado";
    let org = format!("{sc}/devops/default/azureDevOpsOrgs/contoso");
    let vm = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm";
    let rows = vec![
        json!({"id": format!("{org}/providers/Microsoft.Security/assessments/k1"), "type": "microsoft.security/assessments",
               "properties": {"resourceDetails": {"Source": "Azure", "Id": org}, "status": {"code": "Unhealthy"}}}),
        json!({"id": format!("{vm}/providers/Microsoft.Security/assessments/k2"), "type": "microsoft.security/assessments",
               "properties": {"resourceDetails": {"Source": "Azure", "Id": vm}}}),
        json!({"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Security/locations/westeurope/alerts/a1",
               "type": "microsoft.security/locations/alerts",
               "properties": {"TimeGeneratedUtc": "2025-01-02T03:04:05Z", "ResourceIdentifiers": [
                   {"$id": "1", "Type": "LogAnalytics", "WorkspaceId": "w"},
                   {"$id": "2", "Type": "AzureResource", "AzureResourceId": org}]}}),
        json!({"id": "/subscriptions/s1/providers/Microsoft.Security/secureScores/ascScore", "type": "microsoft.security/securescores",
               "properties": {"resourceDetails": {"Id": org}}}),
    ];
    let mut tables = BTreeMap::new();
    tables.insert("securityresources".to_owned(), rows);
    let t = lifeboat::sim::kql::evaluate(lifeboat::queries::DEVOPS_FINDINGS, &tables).unwrap();
    let cols: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cols, ["id", "type", "subject", "generated"]);
    assert_eq!(t.rows.len(), 2, "the DevOps assessment and alert only: {:?}", t.rows);
    let types: Vec<&str> = t.rows.iter().map(|r| r[1].as_str().unwrap()).collect();
    assert_eq!(types, ["microsoft.security/locations/alerts", "microsoft.security/assessments"]);
    assert!(t.rows[0][2].as_str().unwrap().contains(&org), "{:?}", t.rows[0]);
    assert_eq!(t.rows[0][3], "2025-01-02T03:04:05Z");
    assert_eq!(t.rows[1][2], org.as_str());
}
