//! Behaviour: ownership and onboardingState, the DevOps LRO flow with OAuth codes, region
//! outages, the support desk releasing a lost connector's orgs to its replacement, faults, and
//! state that survives a restart.

use crate::sim::common::*;
use lifeboat::sim::tenant::{SMALL_SUB_EAST, SMALL_SUB_PROD, SMALL_SUB_TARGET};
use lifeboat::sim::{SimConfig, TenantSource};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const SEED_QUERY: &str = "resources | extend connectorType = tostring(parse_json(properties[\"environmentName\"])) | where type == \"microsoft.security/securityconnectors\" | where connectorType in (\"AzureDevOps\", \"Github\", \"GitLab\") | project connectorResourceId = id, region = location";
const DEFENDER: &str = "/providers/Microsoft.Support/services/3fbbda33-fdf5-19ba-2a34-3b41b5b3f5d5";
const DEVOPS_PC: &str = "/providers/Microsoft.Support/services/3fbbda33-fdf5-19ba-2a34-3b41b5b3f5d5/problemClassifications/1b4f2a8e-7c3d-4e59-9a06-d2c5b8e4f317";

fn states(body: &Value) -> BTreeMap<String, String> {
    body["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap_or("").to_string(),
                v["properties"]["onboardingState"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// Creates an Azure DevOps connector in the free target region and configures it with `code`.
async fn new_ado_connector(sim: &lifeboat::sim::RunningSim, code: Option<&str>) -> (String, Value) {
    let sc = sc_path(SMALL_SUB_TARGET, "rg-devsec-neu", "ado-neu");
    group(sim, SMALL_SUB_TARGET, "rg-devsec-neu", "northeurope").await;
    let r = call(
        "PUT",
        &format!("{}{sc}?api-version={SC}", sim.url()),
        Some(&json!({"location": "northeurope", "properties": {"environmentName": "AzureDevOps",
            "hierarchyIdentifier": "00000000-0000-0000-0000-000000000000",
            "environmentData": {"environmentType": "AzureDevOpsScope"},
            "offerings": [{"offeringType": "CspmMonitorAzureDevOps"}]}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut props = json!({"autoDiscovery": "Enabled"});
    if let Some(c) = code {
        props["authorization"] = json!({"code": c});
    }
    let r = call(
        "PUT",
        &format!("{}{sc}/devops/default?api-version={DEVOPS}", sim.url()),
        Some(&json!({"properties": props})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Accepted");
    let op = header(&r, "azure-asyncoperation").to_string();
    assert!(op.starts_with(&format!("{}{sc}/devops/default/operationResults/", sim.url())), "{op}");
    assert!(op.ends_with("?api-version=2025-03-01"), "{op}");
    assert!(!header(&r, "retry-after").is_empty());
    let status = finish_lro(sim, &op).await;
    (sc, status)
}

#[tokio::test]
async fn onboarding_states_follow_ownership() {
    let sim = start(TenantSource::Small, false).await;
    let weu = sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu");
    let r = call(
        "POST",
        &format!(
            "{}{weu}/devops/default/listAvailableAzureDevOpsOrgs?api-version={DEVOPS}",
            sim.url()
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        states(&r.body),
        m(&[
            ("adventure-works", "NotOnboarded"),
            ("contoso", "Onboarded"),
            ("fabrikam", "Onboarded")
        ])
    );

    let code = sim.mint_code();
    let (neu, status) = new_ado_connector(&sim, Some(&code)).await;
    assert_eq!(status["status"], "Succeeded", "{status}");
    let r = call(
        "POST",
        &format!(
            "{}{neu}/devops/default/listAvailableAzureDevOpsOrgs?api-version={DEVOPS}",
            sim.url()
        ),
        None,
    )
    .await;
    assert_eq!(
        states(&r.body),
        m(&[
            ("adventure-works", "Onboarded"),
            ("contoso", "OnboardedByOtherConnector"),
            ("fabrikam", "OnboardedByOtherConnector"),
            ("northwind", "OnboardedByOtherConnector"),
        ])
    );
    let r =
        call("GET", &format!("{}{neu}/devops/default?api-version={DEVOPS}", sim.url()), None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["properties"].get("authorization").is_none(),
        "the code is never returned: {}",
        r.body
    );
    assert!(!r.body.to_string().contains(&code));
    let r = call(
        "GET",
        &format!("{}{neu}/devops/default/azureDevOpsOrgs?api-version={DEVOPS}", sim.url()),
        None,
    )
    .await;
    assert_eq!(states(&r.body), m(&[("adventure-works", "Onboarded")]));

    // A used code is refused: the LRO fails with TokenExchangeFailed.
    let r = call(
        "PATCH",
        &format!("{}{neu}/devops/default?api-version={DEVOPS}", sim.url()),
        Some(&json!({"properties": {"authorization": {"code": code}}})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let status = finish_lro(&sim, header(&r, "azure-asyncoperation")).await;
    assert_eq!(status["status"], "Failed");
    assert_eq!(status["error"]["code"], "TokenExchangeFailed");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn configuration_without_code_fails_its_lro() {
    let sim = start(TenantSource::Small, false).await;
    let (sc, status) = new_ado_connector(&sim, None).await;
    assert_eq!(status["status"], "Failed");
    assert_eq!(status["error"]["code"], "TokenExchangeFailed");
    assert!(status["endTime"].is_string() && status["percentComplete"] == 100);
    let r =
        call("GET", &format!("{}{sc}/devops/default?api-version={DEVOPS}", sim.url()), None).await;
    assert_eq!(r.body["properties"]["provisioningState"], "Failed");
    // An expired code fails too.
    let code = sim.mint_code();
    sim.advance(Duration::from_secs(3600));
    let r = call(
        "PUT",
        &format!("{}{sc}/devops/default?api-version={DEVOPS}", sim.url()),
        Some(&json!({"properties": {"autoDiscovery": "Enabled", "authorization": {"code": code}}})),
    )
    .await;
    assert_eq!(r.status, 202, "an existing configuration is updated: {}", r.body);
    let status = finish_lro(&sim, header(&r, "azure-asyncoperation")).await;
    assert_eq!(status["status"], "Failed");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn repo_settings_change_through_a_long_running_operation() {
    let sim = start(TenantSource::Small, false).await;
    let repo = format!(
        "{}{}/devops/default/azureDevOpsOrgs/contoso/projects/payments/repos/payments-web?api-version={DEVOPS}",
        sim.url(),
        sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
    );
    let r = call("GET", &repo, None).await;
    assert_eq!(
        r.body["properties"]["actionableRemediation"],
        json!({"state": "Disabled", "inheritFromParentState": "Disabled"})
    );
    let bad = call(
        "PATCH",
        &repo,
        Some(&json!({"properties": {"actionableRemediation": {"state": "enabled"}}})),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["error"]["message"].as_str().unwrap_or("").contains("case-sensitive"),
        "{}",
        bad.body
    );
    let want = json!({"state": "Enabled", "inheritFromParentState": "Disabled", "categoryConfigurations": [{"category": "Secrets", "minimumSeverityLevel": "High"}]});
    let r =
        call("PATCH", &repo, Some(&json!({"properties": {"actionableRemediation": want}}))).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let op = header(&r, "azure-asyncoperation").to_string();
    let busy = call("PATCH", &repo, Some(&json!({"properties": {}}))).await;
    assert_eq!(busy.status, 409, "a second write while one runs: {}", busy.body);
    let before = call("GET", &repo, None).await;
    assert_eq!(
        before.body["properties"]["actionableRemediation"]["state"], "Disabled",
        "not applied before completion"
    );
    let status = finish_lro(&sim, &op).await;
    assert_eq!(status["status"], "Succeeded");
    let after = call("GET", &repo, None).await;
    assert_eq!(after.body["properties"]["actionableRemediation"], want);
    sim.shutdown().await.expect("shutdown");
}

async fn graph(sim: &lifeboat::sim::RunningSim, body: Value) -> Resp {
    call(
        "POST",
        &format!(
            "{}/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01",
            sim.url()
        ),
        Some(&body),
    )
    .await
}

#[tokio::test]
async fn seed_query_returns_exactly_the_devops_connectors() {
    let sim = start(TenantSource::Small, false).await;
    let r = graph(&sim, json!({"query": SEED_QUERY})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut got: Vec<(String, String)> = r.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| {
            (
                d["connectorResourceId"].as_str().unwrap_or("").to_string(),
                d["region"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = sim
        .cloud()
        .connectors
        .values()
        .filter(|c| c.env().is_some())
        .map(|c| (c.id.clone(), c.region()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(got.len(), 4);
    assert!(!header(&r, "x-ms-user-quota-remaining").is_empty());
    assert!(header(&r, "x-ms-user-quota-resets-after").contains(':'));
    // Table format, and a query error naming the operator and position.
    let t = graph(&sim, json!({"query": SEED_QUERY, "options": {"resultFormat": "table"}})).await;
    assert_eq!(t.body["data"]["columns"][0]["name"], "connectorResourceId");
    assert_eq!(t.body["data"]["rows"].as_array().map(Vec::len), Some(4));
    let e = graph(&sim, json!({"query": "resources | frobnicate"})).await;
    assert_eq!(e.status, 400);
    assert_eq!(e.body["error"]["details"][0]["code"], "InvalidQuery");
    assert!(e.body["error"]["message"].as_str().unwrap_or("").contains("position"), "{}", e.body);
    sim.shutdown().await.expect("shutdown");
}

fn ticket(description: &str, pc: &str) -> Value {
    json!({"properties": {
        "serviceId": DEFENDER, "problemClassificationId": pc,
        "title": "Release DevOps connector after region outage", "description": description,
        "severity": "critical", "advancedDiagnosticConsent": "Yes",
        "contactDetails": {"firstName": "Ada", "lastName": "Lovelace", "primaryEmailAddress": "ada@contoso.com",
            "preferredContactMethod": "email", "phoneNumber": "+44 20 7946 0000",
            "preferredTimeZone": "W. Europe Standard Time",
            "preferredSupportLanguage": "en-US", "country": "gbr"}}})
}

#[tokio::test]
async fn outage_then_support_desk_releases_orgs_to_the_new_connector() {
    let sim = start(TenantSource::Small, false).await;
    let old = sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu");
    let r = call("POST", &format!("{}/_sim/regions/West Europe/fail", sim.url()), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call("GET", &format!("{}{old}?api-version={SC}", sim.url()), None).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["error"]["code"], "ServiceUnavailable");
    let r = call(
        "GET",
        &format!("{}{old}/devops/default/azureDevOpsOrgs?api-version={DEVOPS}", sim.url()),
        None,
    )
    .await;
    assert_eq!(r.status, 503);
    let r = call(
        "PUT",
        &format!(
            "{}{}?api-version={SC}",
            sim.url(),
            sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "another")
        ),
        Some(&json!({"location": "westeurope", "properties": {"environmentName": "AzureDevOps"}})),
    )
    .await;
    assert_eq!(r.status, 503, "creating in a region that is down fails");
    let g = graph(&sim, json!({"query": SEED_QUERY})).await;
    assert!(
        g.body.to_string().contains("/securityConnectors/ado-weu"),
        "Resource Graph still lists it: {}",
        g.body
    );

    let code = sim.mint_code();
    let (new, status) = new_ado_connector(&sim, Some(&code)).await;
    assert_eq!(status["status"], "Succeeded");
    let avail = format!(
        "{}{new}/devops/default/listAvailableAzureDevOpsOrgs?api-version={DEVOPS}",
        sim.url()
    );
    let s = states(&call("POST", &avail, None).await.body);
    assert_eq!(s["contoso"], "OnboardedByOtherConnector");

    let tickets = format!(
        "{}/subscriptions/{SMALL_SUB_TARGET}/providers/Microsoft.Support/supportTickets",
        sim.url()
    );
    let text = format!("Region outage. Old connector: {old}\nNew connector: {new}.");
    let r = call(
        "PUT",
        &format!("{tickets}/release-1?api-version=2026-06-01"),
        Some(&ticket(&text, DEVOPS_PC)),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(header(&r, "location").starts_with(sim.url()));
    assert!(!header(&r, "retry-after").is_empty());
    let wrong_pc = DEVOPS_PC
        .replace("1b4f2a8e-7c3d-4e59-9a06-d2c5b8e4f317", "5e0c1c7a-2b9d-4f44-8c61-0f3a9d7e2b18");
    let r = call(
        "PUT",
        &format!("{tickets}/unrelated?api-version=2026-06-01"),
        Some(&ticket(&text, &wrong_pc)),
    )
    .await;
    assert_eq!(r.status, 202);
    let r = call("POST", &format!("{}/subscriptions/{SMALL_SUB_TARGET}/providers/Microsoft.Support/checkNameAvailability?api-version=2026-06-01", sim.url()),
        Some(&json!({"name": "release-1", "type": "Microsoft.Support/supportTickets"}))).await;
    assert_eq!(r.body["nameAvailable"], false);

    sim.advance(Duration::from_secs(3600));
    assert_eq!(
        states(&call("POST", &avail, None).await.body)["contoso"],
        "OnboardedByOtherConnector",
        "not before the delay"
    );
    sim.advance(Duration::from_secs(3601));
    let s = states(&call("POST", &avail, None).await.body);
    assert_eq!(s["contoso"], "Onboarded");
    assert_eq!(s["fabrikam"], "Onboarded");
    assert_eq!(s["northwind"], "OnboardedByOtherConnector", "only the old connector's orgs move");
    let t = call("GET", &format!("{tickets}/release-1?api-version=2026-06-01"), None).await;
    assert_eq!(t.body["properties"]["status"], "Closed");
    let t = call("GET", &format!("{tickets}/unrelated?api-version=2026-06-01"), None).await;
    assert_eq!(
        t.body["properties"]["status"], "Open",
        "a ticket without the right classification releases nothing"
    );
    // Microsoft's side is recreated for the new connector, `recreation_delay` after the
    // release: the old connector's rows are gone at the release, the new one's come later.
    let new_id = sim
        .cloud()
        .connectors
        .values()
        .find(|c| c.name == "ado-neu")
        .map(|c| c.id.clone())
        .expect("new");
    let old_id = sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu");
    let by_type = |id: &str| {
        format!(
            "securityresources | extend subject = iff(type =~ 'microsoft.security/assessments', \
             tostring(properties.resourceDetails.Id), tostring(properties.ResourceIdentifiers)) \
             | where subject contains '{id}/' | summarize n = count() by type | order by type asc"
        )
    };
    let counts = |g: &Resp| -> Vec<(String, u64)> {
        g.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["type"].as_str().unwrap().to_string(), r["n"].as_u64().unwrap()))
            .collect()
    };
    let g = graph(&sim, json!({"query": by_type(&new_id)})).await;
    assert_eq!(g.status, 200, "{}", g.body);
    assert!(counts(&g).is_empty(), "not recreated yet: {}", g.body);
    let g = graph(&sim, json!({"query": by_type(&old_id)})).await;
    assert!(counts(&g).is_empty(), "the old connector's rows went with the release: {}", g.body);
    sim.advance(lifeboat::sim::DEFAULT_RECREATION_DELAY);
    let g = graph(&sim, json!({"query": by_type(&new_id)})).await;
    assert_eq!(
        counts(&g),
        vec![
            ("microsoft.security/assessments".to_string(), 3),
            ("microsoft.security/locations/alerts".to_string(), 1),
        ],
        "one recommendation per org it owns (contoso and fabrikam released, adventure-works \
         auto-discovered), the old connector's alert less than a week old: {}",
        g.body
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn faults_from_the_control_api() {
    let sim = start(TenantSource::Small, false).await;
    let url = format!(
        "{}{}?api-version={SC}",
        sim.url(),
        sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
    );
    let r =
        call("PUT", &format!("{}/_sim/faults", sim.url()), Some(&json!({"spec": "500=1;seed=3"})))
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call("GET", &url, None).await;
    assert_eq!(r.status, 500);
    assert!(r.body["error"]["code"].is_string());
    call("PUT", &format!("{}/_sim/faults", sim.url()), Some(&json!({"spec": "drop=1"}))).await;
    let dropped = reqwest::Client::new().get(&url).send().await;
    let failed = match dropped {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "a dropped connection gives the client no complete response");
    let r =
        call("PUT", &format!("{}/_sim/faults", sim.url()), Some(&json!({"spec": "bogus=1"}))).await;
    assert_eq!(r.status, 400);
    call("PUT", &format!("{}/_sim/faults", sim.url()), Some(&json!({"spec": ""}))).await;
    assert_eq!(call("GET", &url, None).await.status, 200);
    let log = call("GET", &format!("{}/_sim/requests", sim.url()), None).await;
    let statuses: Vec<u64> = log.body["requests"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|e| e["status"].as_u64())
        .collect();
    assert_eq!(statuses, vec![500, 0, 200], "the request log records each call (0 = dropped)");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cloud.json");
    let cfg = || SimConfig {
        tenant: TenantSource::Small,
        time_scale: 0.0,
        state_file: Some(file.clone()),
        ..SimConfig::default()
    };
    let sim = start_with(cfg()).await;
    let sc = sc_path(SMALL_SUB_EAST, "rg-devsec-eus", "github-eus");
    let r = call(
        "PATCH",
        &format!("{}{sc}?api-version={SC}", sim.url()),
        Some(&json!({"tags": {"drill": "1"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    sim.advance(Duration::from_secs(500));
    sim.shutdown().await.expect("saved");
    let text = std::fs::read_to_string(&file).expect("state written");
    assert!(!text.contains("oauth_codes"), "codes are never persisted");
    let sim = start_with(cfg()).await;
    let r = call("GET", &format!("{}{sc}?api-version={SC}", sim.url()), None).await;
    assert_eq!(r.body["tags"], json!({"drill": "1"}));
    assert!(sim.shared().clock.now() >= 500.0, "simulated time continues");
    sim.shutdown().await.expect("saved");
}

#[tokio::test]
async fn tenant_files_load_and_bad_ones_are_refused() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sim");
    let sim = start(TenantSource::File(dir.join("tenant-min.json")), false).await;
    let sc = sc_path("00000000-0000-4000-8000-000000000001", "rg", "ado");
    let p = call(
        "GET",
        &format!(
            "{}{sc}/devops/default/azureDevOpsOrgs/contoso/projects/payments?api-version={DEVOPS}",
            sim.url()
        ),
        None,
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["properties"]["actionableRemediation"]["inheritFromParentState"], "Disabled");
    assert_eq!(p.body["properties"]["onboardingState"], "Onboarded");
    let gh = sc_path("00000000-0000-4000-8000-000000000001", "rg", "gh");
    let r = call(
        "POST",
        &format!("{}{gh}/devops/default/listAvailableGitHubOwners?api-version={DEVOPS}", sim.url()),
        None,
    )
    .await;
    assert_eq!(states(&r.body), m(&[("octo", "NotOnboarded")]));
    sim.shutdown().await.expect("shutdown");

    let cfg = SimConfig {
        tenant: TenantSource::File(dir.join("tenant-bad.json")),
        ..SimConfig::default()
    };
    let err = lifeboat::sim::start(cfg).await.err().expect("refused");
    assert!(err.to_string().contains("not valid"), "{err}");
    let cfg =
        SimConfig { tenant: TenantSource::File(dir.join("missing.json")), ..SimConfig::default() };
    assert!(lifeboat::sim::start(cfg).await.is_err());
}

/// The read-only children of GitHub and GitLab connectors, served by one handler: what the
/// connector owns is listed and shown (names in any case), what it does not own is 404, a known
/// path with a method it does not take is 405, an unknown path 404, and a connector of the other
/// code host is 400.
#[tokio::test]
async fn code_host_children_are_owned_read_only_and_routed_alike() {
    let sim = start(TenantSource::Small, false).await;
    let names = |r: &Resp| -> Vec<String> {
        let mut n: Vec<String> = r.body["value"]
            .as_array()
            .unwrap_or_else(|| panic!("a list: {}", r.body))
            .iter()
            .map(|v| v["name"].as_str().unwrap_or("").to_string())
            .collect();
        n.sort();
        n
    };
    let gh = sc_path(lifeboat::sim::tenant::SMALL_SUB_EAST, "rg-devsec-eus", "github-eus");
    let gl = sc_path(SMALL_SUB_PROD, "rg-platform-uks", "gitlab-weu");
    let url = |conn: &str, tail: &str| {
        format!("{}{conn}/devops/default/{tail}?api-version={DEVOPS}", sim.url())
    };
    let status = |r: Resp| (r.status, r.body["error"]["code"].as_str().unwrap_or("").to_string());
    let err = |s: u16, code: &str| (s, code.to_string());

    // GitHub: owners and repos.
    let r = call("GET", &url(&gh, "gitHubOwners"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(names(&r), ["contoso-gh", "tailspin"]);
    let r = call("GET", &url(&gh, "gitHubOwners/Contoso-GH"), None).await;
    assert_eq!((r.status, r.body["name"].as_str()), (200, Some("contoso-gh")), "{}", r.body);
    let r = call("GET", &url(&gh, "gitHubOwners/contoso-gh/repos"), None).await;
    assert_eq!(names(&r), ["backend", "frontend"]);
    let r = call("GET", &url(&gh, "gitHubOwners/contoso-gh/repos/FRONTEND"), None).await;
    assert_eq!((r.status, r.body["name"].as_str()), (200, Some("frontend")), "{}", r.body);
    let r = call("GET", &url(&gh, "gitHubOwners/wingtip"), None).await;
    assert_eq!(status(r), err(404, "ResourceNotFound"), "not owned by this connector");
    let r = call("GET", &url(&gh, "gitHubOwners/contoso-gh/repos/nope"), None).await;
    assert_eq!(status(r), err(404, "ResourceNotFound"));
    let r = call("GET", &url(&gh, "gitHubOwners/contoso-gh/nope"), None).await;
    assert_eq!(status(r), err(404, "ResourceNotFound"));
    for (m, tail) in
        [("PUT", "gitHubOwners/contoso-gh"), ("POST", "gitHubOwners/contoso-gh/listSubgroups")]
    {
        let r = call(m, &url(&gh, tail), Some(&json!({}))).await;
        assert_eq!(status(r), err(405, "MethodNotAllowed"), "{m} {tail}");
    }

    // GitLab: groups (a subgroup is owned with its top-level group), projects, listSubgroups.
    let r = call("GET", &url(&gl, "gitLabGroups"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(names(&r), ["contoso-gl", "contoso-gl$platform"]);
    let r = call("POST", &url(&gl, "gitLabGroups/Contoso-GL/listSubgroups"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(names(&r), ["contoso-gl$platform"]);
    let r = call("GET", &url(&gl, "gitLabGroups/contoso-gl$platform/projects"), None).await;
    assert_eq!(names(&r), ["charts", "runner"]);
    let r = call("GET", &url(&gl, "gitLabGroups/contoso-gl$platform/projects/RUNNER"), None).await;
    assert_eq!((r.status, r.body["name"].as_str()), (200, Some("runner")), "{}", r.body);
    let r = call("GET", &url(&gl, "gitLabGroups/litware"), None).await;
    assert_eq!(status(r), err(404, "ResourceNotFound"), "not owned by this connector");
    let r = call("GET", &url(&gl, "gitLabGroups/contoso-gl/nope"), None).await;
    assert_eq!(status(r), err(404, "ResourceNotFound"));
    for (m, tail) in [
        ("GET", "gitLabGroups/contoso-gl/listSubgroups"),
        ("POST", "gitLabGroups/contoso-gl/projects"),
        ("POST", "gitLabGroups"),
        ("PUT", "gitLabGroups/contoso-gl"),
    ] {
        let r = call(m, &url(&gl, tail), Some(&json!({}))).await;
        assert_eq!(status(r), err(405, "MethodNotAllowed"), "{m} {tail}");
    }

    // Each code host's children only under its own kind of connector.
    let r = call("GET", &url(&gh, "gitLabGroups"), None).await;
    assert_eq!(status(r), err(400, "BadRequest"));
    let r = call("GET", &url(&gl, "gitHubOwners"), None).await;
    assert_eq!(status(r), err(400, "BadRequest"));
    sim.shutdown().await.expect("shutdown");
}
