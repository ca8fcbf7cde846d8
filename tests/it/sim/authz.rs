//! Azure RBAC and DevOps locations in the simulator: the permissions API at every scope, shaped
//! like the official examples; the caller's role assignments from a tenant file (a Reader, with
//! Security Admin on one group) or the control API; ARM's 403 `AuthorizationFailed` on a write
//! the roles do not allow; and ARM's 400 `LocationNotAvailableForResourceType` for a DevOps
//! connector outside the regions where DevOps security is available.

use crate::sim::common::*;
use lifeboat::sim::TenantSource;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const AUTHZ: &str = "2022-04-01";
const SUB1: &str = "00000000-0000-4000-8000-000000000001";
const SUB2: &str = "00000000-0000-4000-8000-000000000002";
const CALLER: &str = "00000000-0000-4000-a000-00000000ca11";

fn reader_tenant() -> TenantSource {
    TenantSource::File(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sim/tenant-reader.json"),
    )
}

async fn permissions(sim: &lifeboat::sim::RunningSim, scope: &str) -> (u16, Value) {
    let r = call(
        "GET",
        &format!(
            "{}{scope}/providers/Microsoft.Authorization/permissions?api-version={AUTHZ}",
            sim.url()
        ),
        None,
    )
    .await;
    (r.status, r.body)
}

fn ado_body(location: &str) -> Value {
    json!({"location": location, "properties": {"environmentName": "AzureDevOps",
        "hierarchyIdentifier": "00000000-0000-0000-0000-000000000000",
        "environmentData": {"environmentType": "AzureDevOpsScope"},
        "offerings": [{"offeringType": "CspmMonitorAzureDevOps"}]}})
}

/// The keys of a `Permission` in the official example (GetPermissions.json, 2022-04-01).
fn example_keys() -> BTreeSet<String> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "tests/fixtures/azure-specs/specification/authorization/resource-manager/Microsoft.Authorization/Authorization/stable/2022-04-01/examples/GetPermissions.json",
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["responses"]["200"]["body"]["value"][0].as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn the_default_caller_is_owner_of_every_subscription_at_every_scope() {
    let sim = start(TenantSource::Small, false).await;
    let sub = "00000000-0000-4000-8000-0000000000a1";
    let connector = sc_path(sub, "rg-devsec-weu", "ado-weu");
    for scope in [
        format!("/subscriptions/{sub}"),
        format!("/subscriptions/{sub}/resourceGroups/rg-devsec-weu"),
        connector.clone(),
    ] {
        let (status, body) = permissions(&sim, &scope).await;
        assert_eq!(status, 200, "{scope}: {body}");
        let entries = body["value"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{scope}: {body}");
        let keys: BTreeSet<String> = entries[0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, example_keys(), "shaped like the official example");
        assert_eq!(entries[0]["actions"], json!(["*"]));
        assert_eq!(entries[0]["notActions"], json!([]));
    }
    // A group that does not exist, an unknown subscription, a version ARM does not serve.
    let (status, body) =
        permissions(&sim, &format!("/subscriptions/{sub}/resourceGroups/rg-nope")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("ResourceGroupNotFound")),
        "{body}"
    );
    let (status, body) = permissions(&sim, &format!("/subscriptions/{SUB2}")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("SubscriptionNotFound")),
        "{body}"
    );
    let r = call(
        "GET",
        &format!("{}/subscriptions/{sub}/providers/Microsoft.Authorization/permissions?api-version=2099-01-01", sim.url()),
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Writes go through for an Owner (into a group that exists, as in ARM).
    group(&sim, sub, "rg-new", "northeurope").await;
    let r = call(
        "PUT",
        &format!("{}{}?api-version={SC}", sim.url(), sc_path(sub, "rg-new", "ado-neu")),
        Some(&ado_body("northeurope")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_reader_reads_but_every_write_is_authorization_failed() {
    let sim = start(reader_tenant(), false).await;
    let ado = sc_path(SUB1, "rg", "ado");
    // The permissions API reports the Reader role at the subscription and the group.
    for scope in [
        format!("/subscriptions/{SUB1}"),
        format!("/subscriptions/{SUB1}/resourceGroups/rg"),
        ado.clone(),
    ] {
        let (status, body) = permissions(&sim, &scope).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["value"],
            json!([{"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}]),
            "{scope}"
        );
    }
    // Security Admin on rg-sec adds up with Reader there.
    let (_, body) =
        permissions(&sim, &format!("/subscriptions/{SUB1}/resourceGroups/rg-sec")).await;
    let entries = body["value"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{body}");
    assert!(entries
        .iter()
        .any(|e| e["actions"].as_array().unwrap().contains(&json!("Microsoft.Security/*"))));
    // No role at all on the second subscription: no entry.
    let (status, body) = permissions(&sim, &format!("/subscriptions/{SUB2}")).await;
    assert_eq!((status, body["value"].clone()), (200, json!([])));

    let get = call("GET", &format!("{}{ado}?api-version={SC}", sim.url()), None).await;
    assert_eq!(get.status, 200, "reads are allowed: {}", get.body);
    let before = sim.cloud().connectors.len();
    for (method, path, body, action) in [
        (
            "PUT",
            sc_path(SUB1, "rg", "ado-neu"),
            Some(ado_body("northeurope")),
            "Microsoft.Security/securityConnectors/write",
        ),
        (
            "PATCH",
            ado.clone(),
            Some(json!({"tags": {"x": "1"}})),
            "Microsoft.Security/securityConnectors/write",
        ),
        ("DELETE", ado.clone(), None, "Microsoft.Security/securityConnectors/delete"),
        (
            "PATCH",
            format!("{ado}/devops/default"),
            Some(json!({"properties": {"autoDiscovery": "Disabled"}})),
            "Microsoft.Security/securityConnectors/devops/write",
        ),
        (
            "PUT",
            format!("{ado}/devops/default/azureDevOpsOrgs/Contoso"),
            Some(json!({"properties": {}})),
            "Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/write",
        ),
        (
            "PUT",
            format!("/subscriptions/{SUB1}/providers/Microsoft.Support/supportTickets/t1"),
            Some(json!({"properties": {}})),
            "Microsoft.Support/supportTickets/write",
        ),
    ] {
        let v = if path.contains("/devops") {
            DEVOPS
        } else if path.contains("Support") {
            "2026-06-01"
        } else {
            SC
        };
        let r = call(method, &format!("{}{path}?api-version={v}", sim.url()), body.as_ref()).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "AuthorizationFailed");
        assert_eq!(
            r.body["error"]["message"],
            format!("The client '{CALLER}' with object id '{CALLER}' does not have authorization to perform action '{action}' over scope '{path}' or the scope is invalid. If access was recently granted, please refresh your credentials.")
        );
    }
    assert_eq!(sim.cloud().connectors.len(), before, "nothing was written");
    // Listing what an identity sees is a read-like action: allowed.
    let r = call(
        "POST",
        &format!(
            "{}{ado}/devops/default/listAvailableAzureDevOpsOrgs?api-version={DEVOPS}",
            sim.url()
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Security Admin on rg-sec may write connectors there, and only there.
    let r = call(
        "PUT",
        &format!("{}{}?api-version={SC}", sim.url(), sc_path(SUB1, "rg-sec", "ado-neu")),
        Some(&ado_body("northeurope")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn role_assignments_change_through_the_control_api_and_bad_ones_are_refused() {
    let sim = start(TenantSource::Small, false).await;
    let url = format!("{}/_sim/role-assignments", sim.url());
    let r = call("GET", &url, None).await;
    assert_eq!(r.body["default"], true);
    assert_eq!(
        r.body["assignments"].as_array().unwrap().len(),
        3,
        "Owner of the three subscriptions"
    );
    let sub = "00000000-0000-4000-8000-0000000000a1";
    let r = call("PUT", &url, Some(&json!({"assignments": [{"role": "Security Reader", "scope": format!("/subscriptions/{sub}")}]}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["default"], false);
    let w = call(
        "PUT",
        &format!("{}{}?api-version={SC}", sim.url(), sc_path(sub, "rg", "x")),
        Some(&ado_body("northeurope")),
    )
    .await;
    assert_eq!(w.status, 403, "{}", w.body);
    for bad in [
        json!({"assignments": [{"role": "Root", "scope": "/"}]}),
        json!({"assignments": [{"role": "Owner", "scope": "subscriptions/x"}]}),
        json!({"assignments": "Owner"}),
        json!({"assigments": []}),
    ] {
        let r = call("PUT", &url, Some(&bad)).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let r = call("PUT", &url, Some(&json!({"assignments": null}))).await;
    assert_eq!(r.body["default"], true);
    group(&sim, sub, "rg", "northeurope").await;
    let w = call(
        "PUT",
        &format!("{}{}?api-version={SC}", sim.url(), sc_path(sub, "rg", "x")),
        Some(&ado_body("northeurope")),
    )
    .await;
    assert_eq!(w.status, 201, "{}", w.body);
    // A tenant file with an unknown role does not load.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.json");
    std::fs::write(
        &f,
        json!({"subscriptions": [sub], "roleAssignments": [{"role": "Superuser", "scope": "/"}]})
            .to_string(),
    )
    .unwrap();
    let e = lifeboat::sim::start(lifeboat::sim::SimConfig {
        tenant: TenantSource::File(f),
        ..Default::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(e.to_string().contains("`Superuser` is not a built-in role"), "{e}");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_devops_connector_outside_the_supported_regions_is_location_not_available() {
    let sim = start(TenantSource::Small, false).await;
    let sub = "00000000-0000-4000-8000-0000000000c3";
    group(&sim, sub, "rg", "northeurope").await;
    let r = call(
        "PUT",
        &format!("{}{}?api-version={SC}", sim.url(), sc_path(sub, "rg", "ado-wus2")),
        Some(&ado_body("westus2")),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "LocationNotAvailableForResourceType");
    assert_eq!(
        r.body["error"]["message"],
        "The provided location 'westus2' is not available for resource type 'Microsoft.Security/securityConnectors'. List of available regions for the resource type is 'eastasia,australiaeast,canadacentral,westeurope,northeurope,swedencentral,uksouth,eastus,centralus'."
    );
    assert!(sim.cloud().connectors.values().all(|c| c.name != "ado-wus2"), "nothing created");
    // Display names are normalised; other clouds' connectors are not DevOps security's.
    let r = call(
        "PUT",
        &format!("{}{}?api-version={SC}", sim.url(), sc_path(sub, "rg", "ado-cus")),
        Some(&ado_body("Central US")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let aws = json!({"location": "westus2", "properties": {"environmentName": "AWS", "hierarchyIdentifier": "123456789012",
        "environmentData": {"environmentType": "AwsAccount"}, "offerings": []}});
    let r = call(
        "PUT",
        &format!("{}{}?api-version={SC}", sim.url(), sc_path(sub, "rg", "aws-wus2")),
        Some(&aws),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    sim.shutdown().await.unwrap();
}
