//! Conformance against Microsoft's official examples (`tests/fixtures/azure-specs`): every
//! example file is replayed with its own parameters against a simulator seeded with a tenant
//! made of the examples' own names; the status must be one of the example's and the body must
//! carry every field of the example's body with the same JSON type (values may differ).
//!
//! The request method and path come from the spec files' `x-ms-examples`, not from a table
//! here, so a new example is picked up (and must pass) without editing this file.

use crate::common::*;
use lifeboat::sim::model::{connector_key, Env};
use lifeboat::sim::tenant::TenantFile;
use lifeboat::sim::TenantSource;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/azure-specs")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("fixtures").flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

struct Op {
    method: String,
    path: String,
    spec_version: String,
}

/// Example file name → operation, from every spec's `x-ms-examples`.
fn operations(files: &[PathBuf]) -> HashMap<String, Op> {
    let mut ops = HashMap::new();
    for f in files {
        let v: Value = serde_json::from_slice(&std::fs::read(f).expect("read")).expect("json");
        let (Some(paths), Some(version)) =
            (v.get("paths").and_then(Value::as_object), v.pointer("/info/version"))
        else {
            continue;
        };
        for (path, methods) in paths {
            for (method, op) in methods.as_object().into_iter().flatten() {
                for ex in op
                    .get("x-ms-examples")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(_, e)| e)
                {
                    let r = ex["$ref"].as_str().unwrap_or("");
                    let name = r.rsplit('/').next().unwrap_or("").to_string();
                    ops.insert(
                        name,
                        Op {
                            method: method.to_uppercase(),
                            path: path.clone(),
                            spec_version: version.as_str().unwrap_or("").to_string(),
                        },
                    );
                }
            }
        }
    }
    ops
}

/// Every field of `example` must be in `ours` with the same JSON type.
pub fn shape_errors(example: &Value, ours: &Value, at: &str, errs: &mut Vec<String>) {
    match (example, ours) {
        (Value::Null, _) => {}
        (Value::Object(e), Value::Object(o)) => {
            for (k, ev) in e {
                match o.get(k) {
                    None => errs.push(format!("{at}.{k} is missing")),
                    Some(ov) => shape_errors(ev, ov, &format!("{at}.{k}"), errs),
                }
            }
        }
        (Value::Array(e), Value::Array(o)) => match (e.first(), o.first()) {
            (Some(ef), Some(of)) => shape_errors(ef, of, &format!("{at}[0]"), errs),
            (Some(_), None) => errs.push(format!("{at} is empty but the example has items")),
            _ => {}
        },
        (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Number(_), Value::Number(_)) => {}
        (e, o) => errs.push(format!("{at}: example is {e}, ours is {o}")),
    }
}

const SUB: &str = "0806e1cd-cfda-4ff8-b99c-2b0af42cffd3";

/// Resource rows the Resource Graph examples answer with, completed into full rows (their own
/// IDs, names, types, locations and tags), so the examples' queries find what they show.
fn graph_rows(examples: &[PathBuf]) -> Vec<Value> {
    let mut rows: BTreeMap<String, Value> = BTreeMap::new();
    for f in examples.iter().filter(|f| is_graph(f)) {
        let v: Value = serde_json::from_slice(&std::fs::read(f).expect("read")).expect("json");
        for d in
            v.pointer("/responses/200/body/data").and_then(Value::as_array).into_iter().flatten()
        {
            let Some(id) = d.get("id").and_then(Value::as_str) else { continue };
            let segs: Vec<&str> = id.split('/').collect();
            let row = rows.entry(id.to_ascii_lowercase()).or_insert_with(|| {
                let ty = if segs.len() > 7 { format!("{}/{}", segs[6], segs[7]).to_ascii_lowercase() } else { String::new() };
                json!({"id": id, "name": segs.last().copied().unwrap_or(""), "type": ty,
                       "subscriptionId": segs.get(2).copied().unwrap_or(""), "resourceGroup": segs.get(4).copied().unwrap_or(""),
                       "location": "eastus", "tags": {"tag1": "Value1"}, "properties": {}})
            });
            for k in ["name", "type", "location", "tags", "resourceGroup"] {
                if let Some(x) = d.get(k) {
                    row[k] = x.clone();
                }
            }
            if let Some(os) = d.get("properties_storageProfile_osDisk_osType") {
                row["properties"] = json!({"storageProfile": {"osDisk": {"osType": os}}});
            }
        }
    }
    // Enough virtual machines for the summarize examples, with both OS types.
    for (i, os) in ["Linux", "Windows", "Linux"].iter().enumerate() {
        let id = format!("/subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6/resourceGroups/RG1/providers/Microsoft.Compute/virtualMachines/simVm{i}");
        rows.insert(id.to_ascii_lowercase(), json!({"id": id, "name": format!("simVm{i}"), "type": "microsoft.compute/virtualmachines",
            "subscriptionId": "cfbbd179-59d2-4052-aa06-9270a38aa9d6", "resourceGroup": "RG1", "location": "centralus",
            "tags": {"tag1": "Value1"}, "properties": {"storageProfile": {"osDisk": {"osType": os}}}}));
    }
    // More disks named `...test...` so the paging examples have pages beyond theirs.
    for i in 0..16 {
        let id = format!("/subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6/resourceGroups/RG1/providers/Microsoft.Compute/disks/simtest_OsDisk_{i}");
        rows.insert(id.to_ascii_lowercase(), json!({"id": id, "name": format!("simtest_OsDisk_{i}"), "type": "microsoft.compute/disks",
            "subscriptionId": "cfbbd179-59d2-4052-aa06-9270a38aa9d6", "resourceGroup": "RG1", "location": "eastus",
            "tags": {"tag1": "Value1"}, "properties": {}}));
    }
    rows.into_values().collect()
}

fn tenant(subs: Vec<String>, extra: Vec<Value>) -> TenantFile {
    serde_json::from_value(json!({
        "extraResources": extra,
        "subscriptions": subs,
        "azureDevOps": [{"name": "myAzDevOpsOrg", "projects": [{"name": "myAzDevOpsProject", "repos": ["myAzDevOpsRepo"]}]},
                        {"name": "otherOrg"}],
        "github": [{"name": "myGitHubOwner", "repos": ["myGitHubRepo"]}],
        "gitlab": [{"fullyQualifiedName": "myGitLabGroup", "projects": []},
                   {"fullyQualifiedName": "myGitLabGroup$mySubGroup", "projects": ["myGitLabProject"]}],
        "connectors": [
            {"subscription": "a5caac9c-5c04-49af-b3d0-e204f40345d5", "resourceGroup": "exampleResourceGroup",
             "name": "exampleSecurityConnectorName", "location": "Central US", "environmentName": "AWS", "tags": {"tag1": "Value1"},
             "properties": {"hierarchyIdentifier": "exampleHierarchyId", "environmentName": "AWS",
                "environmentData": {"environmentType": "AwsAccount"},
                "offerings": [{"offeringType": "CspmMonitorAws", "nativeCloudConnection": {"cloudRoleArn": "arn:aws:iam::00000000:role/ASCMonitor"}}]}},
            {"subscription": "20ff7fc3-e762-44dd-bd96-b71116dcdc23", "resourceGroup": "myRg",
             "name": "mySecurityConnectorName", "location": "westeurope", "environmentName": "AzureDevOps", "tags": {"tag1": "Value1"}},
            {"subscription": SUB, "resourceGroup": "myRg", "name": "mySecurityConnectorName",
             "location": "westeurope", "environmentName": "AzureDevOps", "tags": {"tag1": "Value1"},
             "devops": {"autoDiscovery": "Enabled",
                "agentlessConfiguration": {"agentlessEnabled": "Enabled", "agentlessAutoDiscovery": "Disabled",
                    "scanners": ["scanner1"], "inventoryListType": "Inclusion",
                    "inventoryList": [{"inventoryKind": "AzureDevOpsOrganization", "value": "org1"}]},
                "settings": {"myazdevopsorg": {"state": "Enabled"},
                             "myazdevopsorg/myazdevopsproject": {"state": "Enabled"},
                             "myazdevopsorg/myazdevopsproject/myazdevopsrepo": {"state": "Enabled"}}}}
        ],
        "supportServices": [
            {"name": "service_guid", "displayName": "Billing", "problemClassifications": [["problemClassification_guid_1", "Reservation Management / Exchanges and Refunds"]]},
            {"name": "cddd3eb5-1830-b494-44fd-782f691479dc", "displayName": "Virtual Machine running Linux",
             "problemClassifications": [["problemClassification_guid", "Connectivity / Cannot connect to virtual machine by using RDP or SSH"]]}
        ]
    }))
    .expect("conformance tenant")
}

/// The example files replayed by [`examples_replay`] (all but Resource Graph's, which need the
/// KQL evaluator and are replayed by [`graph_examples_replay`]).
fn is_graph(p: &Path) -> bool {
    p.to_string_lossy().contains("resourcegraph")
}

async fn replay(files: Vec<PathBuf>, ops: &HashMap<String, Op>, subs: Vec<String>) -> Vec<String> {
    let extra = graph_rows(&files);
    let cloud = tenant(subs, extra).build(1_750_000_000).expect("tenant builds");
    let sim = start(TenantSource::Cloud(Box::new(cloud)), false).await;
    let mut failures = Vec::new();
    let mut ordered: Vec<(u8, PathBuf, &Op)> = files
        .into_iter()
        .map(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            let op = ops
                .get(&name)
                .unwrap_or_else(|| panic!("{name} is referenced by no spec's x-ms-examples"));
            let rank = match op.method.as_str() {
                "PUT" => 0,
                "DELETE" => 2,
                _ => 1,
            };
            (rank, f, op)
        })
        .collect();
    ordered.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let sc = sc_path(SUB, "myRg", "mySecurityConnectorName");
    for (_, file, op) in ordered {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        let ex: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
        let params = ex["parameters"].as_object().cloned().unwrap_or_default();
        let mut path = op.path.clone();
        let mut body: Option<Value> = None;
        for (k, v) in &params {
            match v {
                Value::String(s) => path = path.replace(&format!("{{{k}}}"), s),
                Value::Object(_) if k != "api-version" => body = Some(v.clone()),
                _ => {}
            }
        }
        // The two 2024-08-01-preview stand-ins are replayed with the spec's api-version.
        let mut version =
            params.get("api-version").and_then(Value::as_str).unwrap_or("").to_string();
        if version.starts_with("2024-08-01") {
            version = op.spec_version.clone();
        }
        // Mappings of the examples onto the simulated tenant (documented in docs/simulator.md).
        // The DevOps examples use one connector for Azure DevOps, GitHub and GitLab resources;
        // the simulator's connector has one environment, so it is switched per example.
        let lower = path.to_ascii_lowercase();
        let env = if lower.contains("github") {
            Env::Github
        } else if lower.contains("gitlab") {
            Env::GitLab
        } else {
            Env::AzureDevOps
        };
        {
            let key = connector_key(SUB, "myRg", "mySecurityConnectorName");
            let mut c = sim.cloud();
            let all = c.top_level_names(env);
            if let Some(conn) = c.connectors.get_mut(&key) {
                conn.properties["environmentName"] = json!(env.name());
                if let Some(d) = conn.devops.as_mut() {
                    d.visible = all;
                }
            }
            c.claim_selected(&key);
        }
        if name.starts_with("GetDevOpsOperationResults") {
            let code = if name.contains("Succeeded") {
                sim.mint_code()
            } else {
                "not-a-valid-code".into()
            };
            let r = call(
                "PUT",
                &format!("{}{sc}/devops/default?api-version={DEVOPS}", sim.url()),
                Some(&json!({"properties": {"authorization": {"code": code}, "autoDiscovery": "Enabled"}})),
            )
            .await;
            let async_url = header(&r, "azure-asyncoperation").to_string();
            let id = async_url
                .split("/operationResults/")
                .nth(1)
                .and_then(|s| s.split('?').next())
                .unwrap_or("")
                .to_string();
            path = path.replace(params["operationResultId"].as_str().unwrap_or(""), &id);
            sim.advance(Duration::from_secs(10));
        }
        if name.starts_with("CheckNameAvailability") {
            let t = json!({"properties": {"serviceId": "/providers/Microsoft.Support/services/service_guid",
                "problemClassificationId": "/providers/Microsoft.Support/services/service_guid/problemClassifications/problemClassification_guid_1",
                "title": "t", "description": "d", "severity": "minimal", "advancedDiagnosticConsent": "No",
                "contactDetails": {"firstName": "a", "lastName": "b", "primaryEmailAddress": "a@contoso.com", "preferredContactMethod": "email",
                    "preferredTimeZone": "UTC", "preferredSupportLanguage": "en-US", "country": "usa"}}});
            let sub = params["subscriptionId"].as_str().unwrap_or("");
            let r = call("PUT", &format!("{}/subscriptions/{sub}/providers/Microsoft.Support/supportTickets/sampleName?api-version=2026-06-01", sim.url()), Some(&t)).await;
            assert_eq!(r.status, 202, "{}", r.body);
        }
        if name == "ResourcesNextPageQuery.json" {
            // Microsoft's example token is opaque to us: ask for the first page and use its token.
            if let Some(b) = body.as_mut() {
                let mut first = b.clone();
                first["options"] = json!({"$top": 1});
                let r = call(
                    "POST",
                    &format!("{}{path}?api-version=2024-04-01", sim.url()),
                    Some(&first),
                )
                .await;
                b["options"]["$skipToken"] = r.body["$skipToken"].clone();
            }
        }
        if name.starts_with("CreateTechnicalSupportTicket") {
            if let Some(b) = body.as_mut() {
                b["properties"]["problemClassificationId"] = json!("/providers/Microsoft.Support/services/cddd3eb5-1830-b494-44fd-782f691479dc/problemClassifications/problemClassification_guid");
            }
        }
        let url = format!("{}{path}?api-version={version}", sim.url());
        let r = call(&op.method, &url, body.as_ref()).await;
        let responses = ex["responses"].as_object().cloned().unwrap_or_default();
        match responses.get(&r.status.to_string()) {
            None => failures.push(format!(
                "{name}: {} {path} answered {} (example: {:?}): {}",
                op.method,
                r.status,
                responses.keys().collect::<Vec<_>>(),
                r.body
            )),
            Some(expected) => {
                if let Some(eb) = expected.get("body") {
                    let mut errs = Vec::new();
                    shape_errors(eb, &r.body, "body", &mut errs);
                    if !errs.is_empty() {
                        failures.push(format!("{name}: {}", errs.join("; ")));
                    }
                }
                if let Some(h) = expected.get("headers").and_then(Value::as_object) {
                    for k in h.keys() {
                        if r.headers.get(k.as_str()).is_none() {
                            failures.push(format!("{name}: header {k} is missing"));
                        }
                    }
                }
            }
        }
        sim.advance(Duration::from_secs(10));
    }
    sim.shutdown().await.expect("shutdown");
    failures
}

fn collect() -> (Vec<PathBuf>, HashMap<String, Op>, Vec<String>) {
    let mut files = Vec::new();
    walk(&root(), &mut files);
    let ops = operations(&files);
    let examples: Vec<PathBuf> =
        files.into_iter().filter(|f| f.to_string_lossy().contains("/examples/")).collect();
    let mut subs: BTreeMap<String, ()> = BTreeMap::new();
    for f in &examples {
        let v: Value = serde_json::from_slice(&std::fs::read(f).expect("read")).expect("json");
        if let Some(s) = v.pointer("/parameters/subscriptionId").and_then(Value::as_str) {
            subs.insert(s.to_string(), ());
        }
    }
    (examples, ops, subs.into_keys().collect())
}

#[tokio::test]
async fn examples_replay() {
    let (examples, ops, subs) = collect();
    let files: Vec<PathBuf> = examples.into_iter().filter(|f| !is_graph(f)).collect();
    assert!(
        files.len() >= 47,
        "expected the DevOps, connector and Support examples, found {}",
        files.len()
    );
    let failures = replay(files, &ops, subs).await;
    // Examples the simulator does not reproduce, and why (also in docs/simulator.md). The test
    // fails if one of them starts passing (update the list) or anything else fails.
    let known: &[(&str, &str)] = &[(
        "ListProblemClassifications.json",
        "secondaryConsentEnabled: the simulated classifications ask for no secondary consent, so the array is empty",
    )];
    let unexpected: Vec<&String> =
        failures.iter().filter(|f| !known.iter().any(|(k, _)| f.starts_with(k))).collect();
    assert!(
        unexpected.is_empty(),
        "{} example(s) not reproduced:\n{}",
        unexpected.len(),
        failures.join("\n")
    );
    for (k, why) in known {
        assert!(
            failures.iter().any(|f| f.starts_with(k)),
            "{k} is listed as not reproducible ({why}) but passes now"
        );
    }
}

#[tokio::test]
async fn graph_examples_replay() {
    let (examples, ops, subs) = collect();
    let files: Vec<PathBuf> = examples.into_iter().filter(|f| is_graph(f)).collect();
    assert_eq!(files.len(), 11);
    let failures = replay(files, &ops, subs).await;
    let known: &[(&str, &str)] = &[(
        "ResourcesPropertiesQuery.json",
        "the example names the `summarize count()` column `count`; Resource Graph (and its own ResourcesComplexQuery example) names it `count_`",
    )];
    let unexpected: Vec<&String> =
        failures.iter().filter(|f| !known.iter().any(|(k, _)| f.starts_with(k))).collect();
    assert!(
        unexpected.is_empty(),
        "{} example(s) not reproduced:\n{}",
        unexpected.len(),
        failures.join("\n")
    );
    for (k, why) in known {
        assert!(
            failures.iter().any(|f| f.starts_with(k)),
            "{k} is listed as not reproducible ({why}) but passes now"
        );
    }
}
