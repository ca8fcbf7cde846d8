//! api-version negotiation against stubs that refuse versions the way ARM does (the envelopes of
//! ISSUE12-DESIGN.md): a retired compiled version is replaced once by the newest served version
//! lifeboat knows, recorded, and kept; a refusal naming no known version, a refused override, a
//! refused explicit version and a refusal after the family already worked are errors that say
//! what ARM serves and what to type.

use crate::support::stub::{json, Recorded, Reply, Stub};
use lifeboat::azure::api::{ApiFamily, ApiOverride, OverrideOrigin, VersionSource};
use lifeboat::azure::{AzureError, ResourceId, VersionPin};
use serde_json::json;

fn sc() -> ResourceId {
    ResourceId::connector("00000000-0000-0000-0000-000000000001", "rg", "conn")
}

/// ARM's `NoRegisteredProviderFound` for `version`, serving `served` (", "-separated).
fn no_provider(version: &str, served: &str) -> Reply {
    json(
        400,
        json!({"error": {"code": "NoRegisteredProviderFound", "message": format!(
            "No registered resource provider found for location 'westeurope' and API version '{version}' for type 'securityConnectors'. The supported api-versions are '{served}'. The supported locations are 'centralus, westeurope'."
        )}}),
    )
}

/// ARM's `InvalidApiVersionParameter` (comma-separated without blanks).
fn invalid_version(version: &str, served: &str) -> Reply {
    json(
        400,
        json!({"error": {"code": "InvalidApiVersionParameter", "message": format!(
            "The api-version '{version}' is invalid. The supported versions are '{served}'. Please see https://aka.ms/api-version for more details."
        )}}),
    )
}

fn devops_body() -> serde_json::Value {
    json!({"name": "default", "properties": {"autoDiscovery": "Enabled", "provisioningState": "Succeeded"}})
}

/// A stub whose DevOps API serves only `served`; everything else answers `devops_body`.
async fn devops_serving(served: &'static [&'static str]) -> Stub {
    Stub::start(move |r: &Recorded, _i| {
        let v = r.api_version().unwrap_or_default().to_owned();
        if r.path.contains("/devops") && !served.contains(&v.as_str()) {
            return no_provider(&v, &served.join(", "));
        }
        if r.path.ends_with("/azureDevOpsOrgs") {
            return json(200, json!({"value": [{"name": "org1"}]}));
        }
        json(200, devops_body())
    })
    .await
}

#[tokio::test]
async fn a_retired_compiled_version_is_negotiated_once_recorded_and_kept() {
    let stub = devops_serving(&["2024-04-01", "2025-11-01-preview"]).await;
    let (client, _t) = crate::azure::client(&stub.url);
    assert_eq!(client.api_version(ApiFamily::Devops), "2025-03-01", "the compiled default");
    let cfg = client.get_devops_configuration(&sc()).await.unwrap();
    assert_eq!(cfg.properties.unwrap().auto_discovery.unwrap().to_string(), "Enabled");
    client.list_azure_devops_orgs(&sc()).await.unwrap();
    client.get_devops_configuration(&sc()).await.unwrap();
    let versions: Vec<String> =
        stub.requests().iter().map(|r| r.api_version().unwrap().to_owned()).collect();
    assert_eq!(
        versions,
        ["2025-03-01", "2025-11-01-preview", "2025-11-01-preview", "2025-11-01-preview"],
        "refused once, retried once with the newest served known version, then kept"
    );
    let n = client.negotiations();
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(
        (n[0].family, n[0].from.as_str(), n[0].to.as_str()),
        (ApiFamily::Devops, "2025-03-01", "2025-11-01-preview")
    );
    assert_eq!(n[0].served, ["2024-04-01", "2025-11-01-preview"]);
    assert_eq!(n[0].code, "NoRegisteredProviderFound");
    assert_eq!(n[0].request_id.as_deref(), Some("req-0"), "the refused call's request id");
    let summary = n[0].summary();
    assert!(summary.contains("devops api-version 2025-03-01 -> 2025-11-01-preview"), "{summary}");
    let chosen = client.api_versions();
    assert_eq!(
        chosen.get(ApiFamily::Devops).source,
        VersionSource::Negotiated { from: "2025-03-01".into() }
    );
    assert!(chosen.get(ApiFamily::Devops).confirmed);
    // The refusal and its retry are one logical call: one correlation ID.
    let reqs = stub.requests();
    let corr = |i: usize| reqs[i].header("x-ms-correlation-request-id").unwrap().to_owned();
    assert_eq!(corr(0), corr(1));
    assert_ne!(corr(1), corr(2));
    // Each negotiation is handed out once for journaling.
    assert_eq!(client.take_unjournaled_negotiations().len(), 1);
    assert!(client.take_unjournaled_negotiations().is_empty());
    assert_eq!(client.negotiations().len(), 1);
    // Other families are untouched.
    assert_eq!(client.api_version(ApiFamily::Connectors), "2026-08-01-preview");
}

#[tokio::test]
async fn an_invalid_resource_type_naming_served_versions_is_negotiated_not_a_404() {
    // InvalidResourceType may come as a 404: it must not read as "the resource does not exist".
    let stub = Stub::start(|r, _i| {
        if r.api_version() == Some("2026-08-01-preview") {
            json(404, json!({"error": {"code": "InvalidResourceType", "message": "The resource type 'securityConnectors' could not be found in the namespace 'Microsoft.Security' for api version '2026-08-01-preview'. The supported api-versions are '2023-10-01-preview,2024-08-01-preview'."}}))
        } else {
            json(200, json!({"id": sc().to_string(), "name": "conn", "location": "westeurope", "properties": {"environmentName": "AzureDevOps"}}))
        }
    })
    .await;
    let (client, _t) = crate::azure::client(&stub.url);
    let c = client.get_connector(&sc()).await.unwrap();
    assert_eq!(c.name.as_deref(), Some("conn"));
    assert_eq!(client.api_version(ApiFamily::Connectors), "2024-08-01-preview");
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn when_no_served_version_is_known_the_error_lists_them_and_the_flag() {
    let stub = devops_serving(&["2099-01-01-preview", "2098-06-01"]).await;
    let (client, _t) = crate::azure::client(&stub.url);
    let e = client.get_devops_configuration(&sc()).await.unwrap_err();
    match &e {
        AzureError::NoKnownApiVersion { family, version, served, .. } => {
            assert_eq!(*family, ApiFamily::Devops);
            assert_eq!(version, "2025-03-01");
            assert_eq!(served, &["2099-01-01-preview", "2098-06-01"]);
        }
        other => panic!("expected NoKnownApiVersion, got {other:?}"),
    }
    let msg = e.to_string();
    for part in [
        "ARM refused devops api-version 2025-03-01",
        "it serves 2099-01-01-preview, 2098-06-01",
        "--api-version devops=2099-01-01-preview",
        "LIFEBOAT_API_VERSIONS=devops=2099-01-01-preview",
        "2025-11-01-preview, 2025-03-01",
        "request id req-0",
    ] {
        assert!(msg.contains(part), "missing `{part}` in: {msg}");
    }
    assert_eq!(stub.requests().len(), 1, "nothing to retry with");
    assert!(client.negotiations().is_empty());
    assert_eq!(lifeboat::azure::user_error(e).exit, lifeboat::error::Exit::Failed);
}

#[tokio::test]
async fn an_override_is_used_and_its_refusal_names_it() {
    let stub = devops_serving(&["2025-11-01-preview"]).await;
    let (client, _t) = crate::azure::client(&stub.url);
    let o = ApiOverride {
        family: ApiFamily::Devops,
        version: "2024-05-15-preview".into(),
        origin: OverrideOrigin::Flag,
    };
    client.set_api_overrides(&[o]);
    let e = client.get_devops_configuration(&sc()).await.unwrap_err();
    match &e {
        AzureError::ApiVersionRefused { version, why: VersionPin::Override(o), served, .. } => {
            assert_eq!(version, "2024-05-15-preview");
            assert_eq!(o.describe(), "--api-version devops=2024-05-15-preview");
            assert_eq!(served, &["2025-11-01-preview"]);
        }
        other => panic!("expected a refused override, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("set by --api-version devops=2024-05-15-preview"), "{msg}");
    assert!(msg.contains("never negotiated away"), "{msg}");
    assert!(msg.contains("e.g. --api-version devops=2025-11-01-preview"), "{msg}");
    assert_eq!(stub.sequence().len(), 1, "not retried with another version");
    assert!(stub.requests()[0].query.contains("api-version=2024-05-15-preview"));
    assert!(client.negotiations().is_empty());
    assert_eq!(client.api_version(ApiFamily::Devops), "2024-05-15-preview", "kept");

    // An override ARM serves is simply used.
    let (client, _t) = crate::azure::client(&stub.url);
    client.set_api_overrides(&[ApiOverride {
        family: ApiFamily::Devops,
        version: "2025-11-01-preview".into(),
        origin: OverrideOrigin::Env,
    }]);
    client.get_devops_configuration(&sc()).await.unwrap();
    assert_eq!(stub.requests().last().unwrap().api_version(), Some("2025-11-01-preview"));
}

#[tokio::test]
async fn a_family_that_worked_never_switches_mid_run() {
    // The first call succeeds with the compiled version; then the service stops serving it.
    let stub = Stub::start(|r, i| {
        let v = r.api_version().unwrap_or_default().to_owned();
        if i >= 1 && v == "2025-03-01" {
            return invalid_version(&v, "2025-11-01-preview,2024-04-01");
        }
        json(200, devops_body())
    })
    .await;
    let (client, _t) = crate::azure::client(&stub.url);
    client.get_devops_configuration(&sc()).await.unwrap();
    let e = client.get_devops_configuration(&sc()).await.unwrap_err();
    match &e {
        AzureError::ApiVersionRefused { why: VersionPin::InUse, version, .. } => {
            assert_eq!(version, "2025-03-01")
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("never switches an api-version mid-run"), "{msg}");
    assert!(msg.contains("--api-version devops=2025-11-01-preview"), "{msg}");
    assert_eq!(stub.requests().len(), 2);
    assert!(client.negotiations().is_empty());
}

#[tokio::test]
async fn an_explicit_version_is_used_as_is_and_its_refusal_says_so() {
    let stub = devops_serving(&["2025-03-01", "2024-04-01"]).await;
    let (client, _t) = crate::azure::client(&stub.url);
    let id = sc().devops();
    // Served: used as is, the family's own version untouched.
    let v = client.get_json(&id, ApiFamily::Devops, Some("2024-04-01")).await.unwrap();
    assert_eq!(v, devops_body());
    assert_eq!(stub.requests()[0].api_version(), Some("2024-04-01"));
    assert_eq!(client.api_version(ApiFamily::Devops), "2025-03-01");
    assert!(!client.api_versions().get(ApiFamily::Devops).confirmed);
    // Refused: an error naming the version and what is served, no retry, no negotiation.
    let e = client
        .put_json(&id, ApiFamily::Devops, &json!({"properties": {}}), Some("2023-09-01-preview"))
        .await
        .unwrap_err();
    match &e {
        AzureError::ApiVersionRefused { family, version, served, why, .. } => {
            assert_eq!(*family, ApiFamily::Devops);
            assert_eq!(version, "2023-09-01-preview");
            assert_eq!(served, &["2025-03-01", "2024-04-01"]);
            assert_eq!(why, &VersionPin::Explicit);
        }
        other => panic!("expected ApiVersionRefused, got {other:?}"),
    }
    assert!(e.to_string().contains("asked for explicitly"), "{e}");
    assert_eq!(stub.requests().len(), 2);
    assert!(client.negotiations().is_empty());
}

#[tokio::test]
async fn every_page_of_a_negotiated_list_uses_the_negotiated_version() {
    let stub = Stub::start(|r, _i| {
        let v = r.api_version().unwrap_or_default().to_owned();
        if v != "2024-04-01" {
            return no_provider(&v, "2024-04-01");
        }
        if r.query.contains("page=2") {
            json(200, json!({"value": [{"name": "org2"}]}))
        } else {
            json(200, json!({"value": [{"name": "org1"}], "nextLink": format!("https://management.azure.com{}?api-version=2024-04-01&page=2", r.path)}))
        }
    })
    .await;
    let (client, _t) = crate::azure::client(&stub.url);
    let path = format!("{}/azureDevOpsOrgs", sc().devops());
    let orgs = client.list_json(&path, ApiFamily::Devops, None).await.unwrap();
    assert_eq!(orgs.len(), 2);
    assert_eq!(
        stub.requests().iter().map(|r| r.api_version().unwrap()).collect::<Vec<_>>(),
        ["2025-03-01", "2024-04-01", "2024-04-01"]
    );
    let reqs = stub.requests();
    assert_eq!(
        reqs[1].header("x-ms-correlation-request-id"),
        reqs[2].header("x-ms-correlation-request-id"),
        "a list is one logical call"
    );
}

#[tokio::test]
async fn a_second_client_of_the_process_keeps_the_first_ones_choice() {
    // `lifeboat run` rehearses read-only steps and runs with one client (clones share its
    // choices); what the rehearsal journaled went nowhere, so the run journals it again.
    let stub = devops_serving(&["2025-11-01-preview"]).await;
    let (rehearsal, _t) = crate::azure::client(&stub.url);
    rehearsal.get_devops_configuration(&sc()).await.unwrap();
    assert_eq!(rehearsal.take_unjournaled_negotiations().len(), 1, "the rehearsal's sink took it");
    let run = rehearsal.clone();
    run.rejournal_negotiations();
    run.get_devops_configuration(&sc()).await.unwrap();
    assert_eq!(
        stub.requests().iter().map(|r| r.api_version().unwrap()).collect::<Vec<_>>(),
        ["2025-03-01", "2025-11-01-preview", "2025-11-01-preview"],
        "no second refusal"
    );
    let n = run.take_unjournaled_negotiations();
    assert_eq!((n.len(), n[0].to.as_str()), (1, "2025-11-01-preview"), "the run journals it");
}
