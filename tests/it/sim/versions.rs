//! Issue 12: several api-versions per family, configurable, refused with ARM's envelopes, and
//! responses shaped per version (a field introduced later is absent from an earlier version).

use crate::sim::common::*;
use lifeboat::sim::tenant::{SMALL_SUB_PROD, SMALL_SUB_TARGET};
use lifeboat::sim::{SimConfig, TenantSource};
use serde_json::{json, Value};

fn served(body: &Value, family: &str) -> Vec<String> {
    body["apiVersions"][family]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_listed_version_is_served_and_retired_ones_get_arms_refusal() {
    let sim = start(TenantSource::Small, false).await;
    let sc = format!("{}{}", sim.url(), sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu"));
    let graph = format!("{}/providers/Microsoft.ResourceGraph/resources", sim.url());
    let support = format!("{}/providers/Microsoft.Support/services", sim.url());
    let subs = format!("{}/subscriptions", sim.url());
    let defaults = call("GET", &format!("{}/_sim/api-versions", sim.url()), None).await.body;
    for (family, versions) in [
        (
            "connectors",
            vec![
                "2026-08-01-preview",
                "2024-08-01-preview",
                "2024-07-01-preview",
                "2024-03-01-preview",
                "2023-10-01-preview",
                "2023-03-01-preview",
            ],
        ),
        (
            "devops",
            vec![
                "2025-11-01-preview",
                "2025-03-01",
                "2024-05-15-preview",
                "2024-04-01",
                "2023-09-01-preview",
            ],
        ),
        ("graph", vec!["2024-04-01", "2022-10-01", "2021-03-01"]),
        ("support", vec!["2026-06-01", "2024-04-01", "2020-04-01"]),
        ("subscriptions", vec!["2022-12-01", "2021-01-01", "2020-01-01"]),
    ] {
        assert_eq!(served(&defaults, family), versions, "{family}");
        for v in versions {
            let r = match family {
                "connectors" => call("GET", &format!("{sc}?api-version={v}"), None).await,
                "devops" => {
                    call("GET", &format!("{sc}/devops/default?api-version={v}"), None).await
                }
                "graph" => {
                    call(
                        "POST",
                        &format!("{graph}?api-version={v}"),
                        Some(&json!({"query": "resources | take 1"})),
                    )
                    .await
                }
                "support" => call("GET", &format!("{support}?api-version={v}"), None).await,
                _ => call("GET", &format!("{subs}?api-version={v}"), None).await,
            };
            assert_eq!(r.status, 200, "{family} {v}: {}", r.body);
        }
    }
    let r = call("GET", &format!("{subs}/{SMALL_SUB_PROD}?api-version=2022-12-01"), None).await;
    assert_eq!(r.body["subscriptionId"], SMALL_SUB_PROD);
    assert_eq!(r.body["state"], "Enabled");

    // Retire the DevOps version lifeboat compiles in: ARM's NoRegisteredProviderFound, naming
    // the location, the type and the versions still served.
    let r = call(
        "POST",
        &format!("{}/_sim/api-versions", sim.url()),
        Some(&json!({"family": "devops", "retire": ["2025-03-01"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call("GET", &format!("{sc}/devops/default?api-version=2025-03-01"), None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "NoRegisteredProviderFound");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("location 'westeurope'"), "{msg}");
    assert!(msg.contains("API version '2025-03-01'"), "{msg}");
    assert!(msg.contains("The supported api-versions are '2023-09-01-preview, 2024-04-01, 2024-05-15-preview, 2025-11-01-preview'."), "{msg}");
    let ok =
        call("GET", &format!("{sc}/devops/default?api-version=2025-11-01-preview"), None).await;
    assert_eq!(ok.status, 200);
    // The connector itself is another family: still served.
    assert_eq!(call("GET", &format!("{sc}?api-version={SC}"), None).await.status, 200);

    // Graph, Support and subscriptions refuse with InvalidApiVersionParameter.
    sim.retire_api_version("graph", "2024-04-01").expect("retire");
    let r = call(
        "POST",
        &format!("{graph}?api-version=2024-04-01"),
        Some(&json!({"query": "resources"})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "InvalidApiVersionParameter");
    assert_eq!(
        r.body["error"]["message"],
        "The api-version '2024-04-01' is invalid. The supported versions are '2022-10-01,2021-03-01'. Please see https://aka.ms/api-version for more details."
    );
    sim.set_api_versions("subscriptions", vec!["2016-06-01".into()]).expect("set");
    let r = call("GET", &format!("{subs}?api-version=2022-12-01"), None).await;
    assert_eq!(r.body["error"]["code"], "InvalidApiVersionParameter");
    assert!(r.body["error"]["message"].as_str().unwrap_or("").contains("'2016-06-01'"));

    // A version from the future can be added; bad control inputs are 400s.
    sim.add_api_version("devops", "2099-01-01-preview").expect("add");
    let r = call("GET", &format!("{sc}/devops/default?api-version=2099-01-01-preview"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["properties"]["agentlessConfiguration"].is_object(), "newest shape: {}", r.body);
    for bad in [
        json!({"family": "nope", "add": ["2024-01-01"]}),
        json!({"family": "devops", "add": ["latest"]}),
        json!({"add": ["2024-01-01"]}),
        json!({"family": "devops", "retire": 3}),
    ] {
        let r = call("POST", &format!("{}/_sim/api-versions", sim.url()), Some(&bad)).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let now = sim.api_versions();
    assert_eq!(now["devops"][0], "2099-01-01-preview");
    assert!(!now["devops"].contains(&"2025-03-01".to_string()));
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn configured_versions_at_start_and_retiring_every_known_devops_version() {
    let mut versions = lifeboat::sim::versions::default_served();
    versions.insert("devops".into(), vec!["2026-01-01-preview".into()]);
    let sim = lifeboat::sim::start(SimConfig {
        tenant: TenantSource::Small,
        time_scale: 0.0,
        api_versions: versions,
        ..SimConfig::default()
    })
    .await
    .expect("start");
    let sc = format!("{}{}", sim.url(), sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu"));
    for v in ["2025-11-01-preview", "2025-03-01", "2024-04-01"] {
        let r = call("GET", &format!("{sc}/devops/default?api-version={v}"), None).await;
        assert_eq!(r.body["error"]["code"], "NoRegisteredProviderFound", "{v}");
        assert!(
            r.body["error"]["message"].as_str().unwrap_or("").contains("'2026-01-01-preview'"),
            "{}",
            r.body
        );
    }
    let r = call("GET", &format!("{sc}/devops/default?api-version=2026-01-01-preview"), None).await;
    assert_eq!(r.status, 200);
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn responses_and_writes_are_shaped_per_api_version() {
    let sim = start(TenantSource::Small, false).await;
    let cfg = format!(
        "{}{}/devops/default",
        sim.url(),
        sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
    );
    // ado-weu has agentlessConfiguration; capabilities are always generated.
    let get = |v: &str| {
        let url = format!("{cfg}?api-version={v}");
        async move { call("GET", &url, None).await }
    };
    let new = get("2025-11-01-preview").await.body;
    assert!(new["properties"]["agentlessConfiguration"].is_object());
    assert!(new["properties"]["capabilities"].is_array());
    let stable = get("2025-03-01").await.body;
    assert_eq!(stable, new, "2025-03-01 and 2025-11-01-preview have the same fields");
    let mid = get("2024-05-15-preview").await.body;
    assert!(mid["properties"].get("agentlessConfiguration").is_none(), "{mid}");
    assert!(mid["properties"]["capabilities"].is_array());
    let old = get("2024-04-01").await.body;
    assert!(old["properties"].get("agentlessConfiguration").is_none());
    assert!(old["properties"].get("capabilities").is_none());
    assert_eq!(old["properties"]["autoDiscovery"], new["properties"]["autoDiscovery"]);
    // The list answers the same way.
    let list =
        call("GET", &format!("{}?api-version=2024-04-01", cfg.trim_end_matches("/default")), None)
            .await
            .body;
    assert!(list["value"][0]["properties"].get("agentlessConfiguration").is_none());

    // A write at an older version cannot set a field that version does not have: a PUT
    // through 2024-04-01 drops the stored agentlessConfiguration.
    let r = call(
        "PUT",
        &format!("{cfg}?api-version=2024-04-01"),
        Some(&json!({"properties": {"autoDiscovery": "Disabled", "topLevelInventoryList": ["contoso", "fabrikam"],
            "agentlessConfiguration": {"agentlessEnabled": "Enabled"}}})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(header(&r, "azure-asyncoperation").ends_with("?api-version=2024-04-01"));
    finish_lro(&sim, header(&r, "azure-asyncoperation")).await;
    let after = get("2025-11-01-preview").await.body;
    assert!(after["properties"].get("agentlessConfiguration").is_none(), "{after}");

    // GitLab connectors need securityConnectors 2023-10-01-preview or newer.
    let gl = format!("{}{}", sim.url(), sc_path(SMALL_SUB_TARGET, "rg", "gl-new"));
    group(&sim, SMALL_SUB_TARGET, "rg", "northeurope").await;
    let body = json!({"location": "northeurope", "properties": {"environmentName": "GitLab",
        "environmentData": {"environmentType": "GitlabScope"}, "offerings": [{"offeringType": "CspmMonitorGitLab"}]}});
    let r = call("PUT", &format!("{gl}?api-version=2023-03-01-preview"), Some(&body)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["target"], "properties.environmentName");
    assert!(r.body["error"]["message"].as_str().unwrap_or("").contains("2023-10-01-preview"));
    let r = call("PUT", &format!("{gl}?api-version=2023-10-01-preview"), Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // AWS environment fields of 2023-10-01-preview are absent at 2023-03-01-preview.
    let aws = format!("{}{}", sim.url(), sc_path(SMALL_SUB_TARGET, "rg", "aws-new"));
    let r = call(
        "PUT",
        &format!("{aws}?api-version={SC}"),
        Some(&json!({"location": "northeurope", "properties": {"environmentName": "AWS",
            "environmentData": {"environmentType": "AwsAccount", "regions": ["us-east-1"]}}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let old = call("GET", &format!("{aws}?api-version=2023-03-01-preview"), None).await.body;
    assert!(old["properties"]["environmentData"].get("regions").is_none(), "{old}");
    let new = call("GET", &format!("{aws}?api-version=2023-10-01-preview"), None).await.body;
    assert_eq!(new["properties"]["environmentData"]["regions"], json!(["us-east-1"]));
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn sim_serve_takes_drift_lro_shape_and_api_versions() {
    use std::io::{BufRead, BufReader};
    let mut child = crate::support::cli::lifeboat()
        .args(["sim", "serve", "--time-scale", "0", "--drift", "3", "--lro-shape", "Mixed(5)"])
        .args(["--api-versions", "devops=2025-11-01-preview,2024-04-01"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("line");
    let url = line.trim().strip_prefix("listening on ").expect("first line").to_string();
    let v = call("GET", &format!("{url}/_sim/api-versions"), None).await.body;
    assert_eq!(served(&v, "devops"), vec!["2025-11-01-preview", "2024-04-01"]);
    assert_eq!(served(&v, "connectors").len(), 6, "families not named keep every version");
    let shape = call("GET", &format!("{url}/_sim/lro-shape"), None).await.body;
    assert_eq!(shape["shape"], "Mixed(5)");
    // Drifted at start: the same unknown fields as a drift of the built-in tenant with that seed.
    let mut expected = lifeboat::sim::tenant::small().build(0).expect("small");
    lifeboat::sim::drift::drift_cloud(&mut expected, 3);
    let mut checked = 0;
    for c in expected.connectors.values().filter(|c| !c.extra.is_empty()) {
        let got = call("GET", &format!("{url}{}?api-version={SC}", c.id), None).await.body;
        for (k, v) in &c.extra {
            assert_eq!(&got[k.as_str()], v, "{}: drifted field {k}", c.name);
            checked += 1;
        }
    }
    assert!(checked > 0, "seed 3 drifts some connector's top level");
    // SAFETY: kill(2) on the PID of our own child process; no memory is shared.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert!(child.wait().expect("wait").success());
    for bad in [
        vec!["--lro-shape", "Sync201"],
        vec!["--api-versions", "devops"],
        vec!["--api-versions", "nope=2024-01-01"],
        vec!["--api-versions", "devops=latest"],
        vec!["--drift", "-1"],
    ] {
        let out = crate::support::cli::lifeboat()
            .args(["sim", "serve"])
            .args(&bad)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
