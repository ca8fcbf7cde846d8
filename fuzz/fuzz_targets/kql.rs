//! The simulator's KQL evaluator (`sim::kql::evaluate`): arbitrary bytes as a Resource Graph
//! query over a small fixed tenant (DevOps and cloud connectors, another resource type, a row
//! without properties, mixed casings and value types, one `securityresources` row).
//!
//! Invariant: `evaluate` never panics, whatever the query (it answers a 400 instead).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::sim::kql;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn connector(sub: &str, name: &str, env: &str, location: &str) -> Value {
    json!({
        "id": format!("/subscriptions/{sub}/resourceGroups/rg-{name}/providers/Microsoft.Security/securityConnectors/{name}"),
        "name": name,
        "type": "microsoft.security/securityconnectors",
        "location": location,
        "resourceGroup": format!("rg-{name}"),
        "subscriptionId": sub,
        "tags": {"owner": "team-a", "lifeboat-role": "primary"},
        "properties": {
            "environmentName": env,
            "hierarchyIdentifier": "h1",
            "environmentData": {"environmentType": format!("{env}Scope")},
            "offerings": [{"offeringType": format!("CspmMonitor{env}")}]
        },
    })
}

fn tables() -> &'static BTreeMap<String, Vec<Value>> {
    static TABLES: OnceLock<BTreeMap<String, Vec<Value>>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut resources = vec![
            connector("s1", "ado-weu", "AzureDevOps", "westeurope"),
            connector("s1", "gh-eus", "Github", "eastus"),
            connector("s2", "gl-eus", "GitLab", "eastus"),
            connector("s2", "aws", "AWS", "eastus"),
            connector("s2", "gcp", "GCP", "westeurope"),
            json!({"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1",
                   "name": "st1", "type": "microsoft.storage/storageaccounts", "location": "eastus",
                   "subscriptionId": "s1", "resourceGroup": "rg", "sku": {"name": "Standard_LRS"},
                   "zones": ["1", "2"], "properties": {"environmentName": "AzureDevOps", "sizeGb": 12.5,
                   "created": "2024-01-01T00:00:00Z", "enabled": true}}),
            json!({"id": "/subscriptions/s3/x/no-props", "name": "np", "type": "microsoft.security/securityconnectors",
                   "location": "northeurope", "subscriptionId": "s3", "resourceGroup": "rg", "tags": null}),
        ];
        let mut cased = connector("s3", "ado-cased", "AzureDevOps", "northeurope");
        cased["type"] = json!("Microsoft.Security/securityConnectors");
        resources.push(cased);
        let mut lower_env = connector("s3", "gh-lower", "github", "northeurope");
        lower_env["properties"]["count"] = json!(3);
        lower_env["properties"]["ratio"] = json!(-0.5);
        lower_env["extra"] = json!("not a standard column");
        resources.push(lower_env);
        let security = vec![json!({
            "id": "/subscriptions/s1/providers/Microsoft.Security/assessments/a1",
            "name": "a1", "type": "microsoft.security/assessments", "location": "global",
            "subscriptionId": "s1", "properties": {"status": {"code": "Unhealthy"}, "severity": 2}
        })];
        BTreeMap::from([
            ("resources".to_string(), resources),
            ("securityresources".to_string(), security),
        ])
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    match kql::evaluate(query, tables()) {
        Ok(table) => {
            // What the Resource Graph endpoint does with a result (`table` format).
            let _ = serde_json::to_string(&json!({"columns": table.columns, "rows": table.rows}));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
