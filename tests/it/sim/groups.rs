//! Resource groups as ARM models them (resources.json 2025-04-01) and what a region outage does
//! to the writes of the resources in a group located in the down region: blocked (`rg-writes=
//! block`, the default) or failed over (`rg-writes=failover`); reads keep working, and a
//! connector located in the down region fails as before whatever its group.

use crate::sim::common::*;
use lifeboat::sim::tenant::{SMALL_SUB_EAST, SMALL_SUB_PROD, SMALL_SUB_TARGET};
use lifeboat::sim::{SimConfig, TenantSource};
use serde_json::{json, Value};

const RG: &str = "2025-04-01";

fn rg_url(sim: &lifeboat::sim::RunningSim, sub: &str, name: &str) -> String {
    format!("{}/subscriptions/{sub}/resourcegroups/{name}?api-version={RG}", sim.url())
}

fn sc_url(sim: &lifeboat::sim::RunningSim, sub: &str, rg: &str, name: &str) -> String {
    format!("{}{}?api-version={SC}", sim.url(), sc_path(sub, rg, name))
}

fn connector(location: &str) -> Value {
    json!({"location": location, "properties": {"environmentName": "AzureDevOps",
        "hierarchyIdentifier": "00000000-0000-0000-0000-000000000000",
        "environmentData": {"environmentType": "AzureDevOpsScope"},
        "offerings": [{"offeringType": "CspmMonitorAzureDevOps"}]}})
}

fn code(r: &Resp) -> &str {
    r.body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn resource_groups_are_read_created_listed_and_checked_as_arm_does() {
    let sim = start_with(SimConfig { time_scale: 0.0, page_size: 2, ..SimConfig::default() }).await;
    // The small tenant's groups have real locations.
    let r = call("GET", &rg_url(&sim, SMALL_SUB_PROD, "RG-DEVSEC-WEU"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "rg-devsec-weu", "the name as created, found case-insensitively");
    assert_eq!(r.body["location"], "westeurope");
    assert_eq!(r.body["type"], "Microsoft.Resources/resourceGroups");
    assert_eq!(r.body["tags"]["owner"], "platform-team");
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        r.body["id"],
        format!("/subscriptions/{SMALL_SUB_PROD}/resourceGroups/rg-devsec-weu")
    );
    let r = call("GET", &rg_url(&sim, SMALL_SUB_PROD, "rg-platform-uks"), None).await;
    assert_eq!(r.body["location"], "uksouth");
    let c = sim.cloud().connectors.values().find(|c| c.name == "gitlab-weu").cloned().unwrap();
    assert_eq!((c.resource_group.as_str(), c.region().as_str()), ("rg-platform-uks", "westeurope"));

    // HEAD: 204 or 404, no body.
    let r = call("HEAD", &rg_url(&sim, SMALL_SUB_EAST, "rg-devsec-eus"), None).await;
    assert_eq!((r.status, &r.body), (204, &Value::Null));
    let r = call("HEAD", &rg_url(&sim, SMALL_SUB_EAST, "rg-nope"), None).await;
    assert_eq!((r.status, &r.body), (404, &Value::Null));
    let r = call("GET", &rg_url(&sim, SMALL_SUB_EAST, "rg-nope"), None).await;
    assert_eq!((r.status, code(&r)), (404, "ResourceGroupNotFound"));
    assert_eq!(r.body["error"]["message"], "Resource group 'rg-nope' could not be found.");

    // PUT: 201 created (the official example's shape), 200 updated, the location never changes.
    let url = rg_url(&sim, SMALL_SUB_TARGET, "rg-dr");
    let r = call("PUT", &url, Some(&json!({"location": "North Europe", "tags": {"a": "1"}}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["location"], "northeurope");
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    let r = call("PUT", &url, Some(&json!({"location": "northeurope", "tags": {"b": "2"}}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["tags"], json!({"b": "2"}), "a PUT replaces the tags");
    let r = call("PUT", &url, Some(&json!({"location": "eastus"}))).await;
    assert_eq!((r.status, code(&r)), (409, "InvalidResourceGroupLocation"), "{}", r.body);
    assert_eq!(
        r.body["error"]["message"],
        "Invalid resource group location 'eastus'. The Resource group already exists in location 'northeurope'."
    );
    let r =
        call("PATCH", &url, Some(&json!({"tags": {"c": "3"}, "managedBy": "/subscriptions/x"})))
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["tags"]["c"].clone(), r.body["managedBy"].clone()),
        (json!("3"), json!("/subscriptions/x"))
    );

    // Bad input.
    let r = call("PUT", &url, Some(&json!({"tags": {}}))).await;
    assert_eq!((r.status, code(&r)), (400, "LocationRequired"));
    let r = call("PUT", &url, Some(&json!({"location": "northeurope", "tags": {"n": 1}}))).await;
    assert_eq!((r.status, r.body["error"]["target"].as_str()), (400, Some("tags")));
    let r = call(
        "PUT",
        &rg_url(&sim, SMALL_SUB_TARGET, "rg%20ops"),
        Some(&json!({"location": "northeurope"})),
    )
    .await;
    assert_eq!((r.status, code(&r)), (400, "InvalidResourceGroup"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("invalid characters: ' '"));
    let r = call(
        "PUT",
        &rg_url(&sim, SMALL_SUB_TARGET, "rg."),
        Some(&json!({"location": "northeurope"})),
    )
    .await;
    assert_eq!((r.status, code(&r)), (400, "InvalidResourceGroup"), "{}", r.body);
    let unknown = "00000000-0000-4000-8000-0000000000ff";
    let r = call("GET", &rg_url(&sim, unknown, "rg"), None).await;
    assert_eq!((r.status, code(&r)), (404, "SubscriptionNotFound"));
    let r = call(
        "GET",
        &format!(
            "{}/subscriptions/{SMALL_SUB_PROD}/resourcegroups/rg-devsec-weu?api-version=2019-01-01",
            sim.url()
        ),
        None,
    )
    .await;
    assert_eq!((r.status, code(&r)), (400, "InvalidApiVersionParameter"));

    // The list is pageable and filterable by tag.
    let list =
        format!("{}/subscriptions/{SMALL_SUB_PROD}/resourcegroups?api-version={RG}", sim.url());
    let mut names = Vec::new();
    let mut next = Some(list.clone());
    while let Some(u) = next {
        let r = call("GET", &u, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        names.extend(
            r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["name"].as_str().unwrap().to_string()),
        );
        next = r.body["nextLink"].as_str().map(str::to_string);
    }
    names.sort();
    assert_eq!(names, ["rg-cloud-weu", "rg-devsec-weu", "rg-platform-uks"]);
    let r = call(
        "GET",
        &format!("{list}&$filter=tagName%20eq%20'owner'%20and%20tagValue%20eq%20'platform-team'"),
        None,
    )
    .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1, "{}", r.body);
    let r = call("GET", &format!("{list}&$filter=location%20eq%20'x'"), None).await;
    assert_eq!(r.status, 400, "an unsupported filter is refused, not ignored: {}", r.body);

    // A connector cannot be created in a group that does not exist.
    let before = sim.cloud().connectors.len();
    let r = call(
        "PUT",
        &sc_url(&sim, SMALL_SUB_TARGET, "rg-nope", "c1"),
        Some(&connector("northeurope")),
    )
    .await;
    assert_eq!((r.status, code(&r)), (404, "ResourceGroupNotFound"), "{}", r.body);
    assert_eq!(sim.cloud().connectors.len(), before);
    let r = call(
        "PUT",
        &sc_url(&sim, SMALL_SUB_TARGET, "rg-dr", "c1"),
        Some(&connector("northeurope")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_group_being_deleted_refuses_writes_and_tenant_files_declare_groups() {
    let dir = tempfile::tempdir().unwrap();
    let sub = "00000000-0000-4000-8000-000000000001";
    let tenant = json!({
        "subscriptions": [sub],
        "resourceGroups": [
            {"subscription": sub, "name": "rg", "location": "West Europe"},
            {"subscription": sub, "name": "rg-old", "location": "eastus", "provisioningState": "Deleting"}
        ],
        "connectors": [{"subscription": sub, "resourceGroup": "rg", "name": "c", "location": "westeurope", "environmentName": "AWS"}]
    });
    let path = dir.path().join("tenant.json");
    std::fs::write(&path, tenant.to_string()).unwrap();
    let sim = start(TenantSource::File(path), false).await;
    let r = call("GET", &rg_url(&sim, sub, "rg-old"), None).await;
    assert_eq!(r.body["properties"]["provisioningState"], "Deleting");
    let r = call("PUT", &rg_url(&sim, sub, "rg-old"), Some(&json!({"location": "eastus"}))).await;
    assert_eq!((r.status, code(&r)), (409, "ResourceGroupBeingDeleted"), "{}", r.body);
    assert_eq!(
        r.body["error"]["message"],
        "The resource group 'rg-old' is in deprovisioning state and cannot perform this operation."
    );
    let r = call("PUT", &sc_url(&sim, sub, "rg-old", "c2"), Some(&connector("eastus"))).await;
    assert_eq!((r.status, code(&r)), (409, "ResourceGroupBeingDeleted"), "{}", r.body);
    sim.shutdown().await.unwrap();

    // A resourceGroups section must list every connector's group.
    let bad = json!({"subscriptions": [sub], "resourceGroups": [],
        "connectors": [{"subscription": sub, "resourceGroup": "rg", "name": "c", "location": "westeurope", "environmentName": "AWS"}]});
    std::fs::write(dir.path().join("bad.json"), bad.to_string()).unwrap();
    let e = lifeboat::sim::start(SimConfig {
        tenant: TenantSource::File(dir.path().join("bad.json")),
        ..SimConfig::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(e.to_string().contains("which resourceGroups does not list"), "{e}");
    // Without the section, each connector's group is created in the connector's region.
    let none = json!({"subscriptions": [sub],
        "connectors": [{"subscription": sub, "resourceGroup": "rg-x", "name": "c", "location": "East US", "environmentName": "AWS"}]});
    std::fs::write(dir.path().join("none.json"), none.to_string()).unwrap();
    let sim = start(TenantSource::File(dir.path().join("none.json")), false).await;
    let r = call("GET", &rg_url(&sim, sub, "rg-x"), None).await;
    assert_eq!((r.status, r.body["location"].as_str()), (200, Some("eastus")), "{}", r.body);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_down_region_blocks_writes_under_its_groups_and_keeps_reads() {
    let sim = start(TenantSource::Small, false).await;
    let r = call("POST", &format!("{}/_sim/regions/westeurope/fail", sim.url()), None).await;
    assert_eq!(r.status, 200);
    let faults = call("GET", &format!("{}/_sim/faults", sim.url()), None).await;
    assert_eq!(faults.body["groupWrites"], "block", "the default");

    // A connector of a healthy region, put into the group of the down region: blocked.
    let forced = sc_url(&sim, SMALL_SUB_PROD, "rg-devsec-weu", "new-neu");
    let r = call("PUT", &forced, Some(&connector("northeurope"))).await;
    assert_eq!((r.status, code(&r)), (503, "ResourceGroupRegionUnavailable"), "{}", r.body);
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("'rg-devsec-weu'") && msg.contains("region 'westeurope'"), "{msg}");
    assert!(sim.cloud().connectors.values().all(|c| c.name != "new-neu"));
    // The group itself cannot be written either; reads work.
    let g = rg_url(&sim, SMALL_SUB_PROD, "rg-devsec-weu");
    let r = call("PATCH", &g, Some(&json!({"tags": {}}))).await;
    assert_eq!((r.status, code(&r)), (503, "ResourceGroupRegionUnavailable"));
    let r = call("PUT", &g, Some(&json!({"location": "westeurope"}))).await;
    assert_eq!((r.status, code(&r)), (503, "ResourceGroupRegionUnavailable"));
    assert_eq!(call("GET", &g, None).await.status, 200);
    let list = format!(
        "{}/subscriptions/{SMALL_SUB_PROD}/resourceGroups/rg-devsec-weu/providers/Microsoft.Security/securityConnectors?api-version={SC}",
        sim.url()
    );
    assert_eq!(call("GET", &list, None).await.status, 200);
    // A new group in the down region is blocked too; one elsewhere is not.
    let r = call(
        "PUT",
        &rg_url(&sim, SMALL_SUB_TARGET, "rg-weu2"),
        Some(&json!({"location": "westeurope"})),
    )
    .await;
    assert_eq!((r.status, code(&r)), (503, "ResourceGroupRegionUnavailable"));
    let r = call(
        "PUT",
        &rg_url(&sim, SMALL_SUB_TARGET, "rg-neu"),
        Some(&json!({"location": "northeurope"})),
    )
    .await;
    assert_eq!(r.status, 201);

    // A connector in the down region fails as an outage does, whatever its group: ado-weu's
    // group is down too, gitlab-weu's (uksouth) is not; both answer the outage's 503.
    for (rg, name) in [("rg-devsec-weu", "ado-weu"), ("rg-platform-uks", "gitlab-weu")] {
        let url = sc_url(&sim, SMALL_SUB_PROD, rg, name);
        let r = call("GET", &url, None).await;
        assert_eq!((r.status, code(&r)), (503, "ServiceUnavailable"), "{name}: {}", r.body);
        let r = call("PATCH", &url, Some(&json!({"tags": {"x": "y"}}))).await;
        assert_eq!((r.status, code(&r)), (503, "ServiceUnavailable"), "{name}: {}", r.body);
    }
    // ... while gitlab-weu's healthy group takes a new connector, and eastus is untouched.
    let r = call(
        "PUT",
        &sc_url(&sim, SMALL_SUB_PROD, "rg-platform-uks", "beside"),
        Some(&connector("northeurope")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = call(
        "PATCH",
        &sc_url(&sim, SMALL_SUB_EAST, "rg-devsec-eus", "ado-eus"),
        Some(&json!({"tags": {"x": "y"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Failed over: writes under the down region's groups go through; the connector located
    // there still fails.
    let r = call(
        "PUT",
        &format!("{}/_sim/group-writes", sim.url()),
        Some(&json!({"mode": "failover"})),
    )
    .await;
    assert_eq!((r.status, r.body["mode"].as_str()), (200, Some("failover")));
    let r = call("PUT", &forced, Some(&connector("northeurope"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = call("PATCH", &g, Some(&json!({"tags": {"failed": "over"}}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        "PATCH",
        &sc_url(&sim, SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu"),
        Some(&json!({"tags": {}})),
    )
    .await;
    assert_eq!((r.status, code(&r)), (503, "ServiceUnavailable"));
    let r =
        call("PUT", &format!("{}/_sim/group-writes", sim.url()), Some(&json!({"mode": "maybe"})))
            .await;
    assert_eq!((r.status, r.body["error"]["target"].as_str()), (400, Some("mode")));

    // Back to block, then the region returns: writes go through again.
    let r = call(
        "PUT",
        &format!("{}/_sim/faults", sim.url()),
        Some(&json!({"spec": "outage=westeurope"})),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call("PATCH", &g, Some(&json!({"tags": {}}))).await;
    assert_eq!(r.status, 503, "{}", r.body);
    call("POST", &format!("{}/_sim/regions/westeurope/restore", sim.url()), None).await;
    let r = call("PATCH", &g, Some(&json!({"tags": {}}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The request log holds every refusal.
    let refused = sim.requests().iter().filter(|r| r.status == 503 && r.method != "GET").count();
    assert!(refused >= 8, "{refused}");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_fault_mode_is_a_config_option_and_a_serve_flag() {
    let spec: lifeboat::sim::faults::FaultSpec =
        "outage=westeurope;rg-writes=failover".parse().unwrap();
    let sim = start_with(SimConfig { faults: spec, time_scale: 0.0, ..SimConfig::default() }).await;
    let r = call(
        "PUT",
        &sc_url(&sim, SMALL_SUB_PROD, "rg-devsec-weu", "n"),
        Some(&connector("northeurope")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let f = call("GET", &format!("{}/_sim/faults", sim.url()), None).await;
    assert_eq!(f.body["spec"], "outage=westeurope;rg-writes=failover");
    sim.set_group_writes(lifeboat::sim::faults::GroupWrites::Block);
    let r = call(
        "PUT",
        &sc_url(&sim, SMALL_SUB_PROD, "rg-devsec-weu", "m"),
        Some(&connector("northeurope")),
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.body);
    sim.shutdown().await.unwrap();

    // `sim serve --rg-writes`: a bad value is a usage error (exit 2) before anything listens.
    let out = crate::support::cli::lifeboat()
        .args(["sim", "serve", "--rg-writes", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--rg-writes: 'sometimes' is not block or failover"), "{err}");
}
