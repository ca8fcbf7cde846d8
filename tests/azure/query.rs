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
        "resourceGroup": rg, "subscriptionId": sub, "tags": {"env": "prod"},
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
            "tags"
        ]
    );
    let names: Vec<&str> = t.rows.iter().map(|r| r[3].as_str().unwrap()).collect();
    assert_eq!(names, ["ado", "gl", "gh"], "DevOps only, ordered by resource ID (s1 before s2)");
    assert_eq!(t.rows[0][2], "AzureDevOps");
    assert_eq!(t.rows[2][1], "eastus");
}
