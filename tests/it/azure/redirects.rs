//! Issue 11, item 4: a 3xx from ARM is never followed. It is an error naming the status and the
//! host the `Location` points to (never its query), the request is not sent again anywhere, and
//! the command fails. Two stubs on 127.0.0.1: the "ARM" endpoint that redirects, and the
//! elsewhere it redirects to, which must receive nothing.

use crate::azure::TOKEN;
use crate::support::cli::{lifeboat, output};
use crate::support::stub::{json, with_headers, Stub};
use lifeboat::azure::models::DevOpsConfiguration;
use lifeboat::azure::{AzureError, ResourceId};
use serde_json::json;

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const OAUTH_CODE: &str = "oauth-code-never-leaves-7f3a";
const LOCATION_SECRET: &str = "sig=location-query-secret";

/// `host:port` of a stub.
fn authority(stub: &Stub) -> String {
    url::Url::parse(&stub.url)
        .map(|u| format!("{}:{}", u.host_str().unwrap(), u.port().unwrap()))
        .unwrap()
}

/// The stub everything is redirected to: it answers as ARM would, and records what it got.
async fn elsewhere() -> Stub {
    Stub::start(|r, _i| {
        if r.path.ends_with("/securityConnectors") {
            return json(
                200,
                json!({"value": [{
                    "id": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/gh-weu"),
                    "name": "gh-weu", "type": "Microsoft.Security/securityConnectors", "location": "westeurope",
                    "properties": {"environmentName": "Github", "hierarchyIdentifier": "x", "environmentData": {"environmentType": "GithubScope"}, "offerings": []}
                }]}),
            );
        }
        json(200, json!({"name": "default", "properties": {"provisioningState": "Succeeded"}}))
    })
    .await
}

#[tokio::test]
async fn defect_04_a_307_on_put_devops_default_is_not_followed_and_names_status_and_host() {
    let other = elsewhere().await;
    let location = format!(
        "{}subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/conn/devops/default?api-version=2025-03-01&{LOCATION_SECRET}",
        other.url
    );
    let arm =
        Stub::start(move |_r, _i| with_headers(307, &[("location", location.as_str())], json!({})))
            .await;
    let (client, _timer) = crate::azure::client(&arm.url);
    let config: DevOpsConfiguration = serde_json::from_value(json!({
        "properties": {"authorization": {"code": OAUTH_CODE}, "autoDiscovery": "Disabled"}
    }))
    .unwrap();
    let connector = ResourceId::connector(SUB, "rg", "conn");

    let e = client.put_devops_configuration(&connector, &config).await.unwrap_err();

    assert!(other.requests().is_empty(), "the body (OAuth code) went to {:?}", other.requests());
    let sent = arm.requests();
    assert_eq!(sent.len(), 1, "a redirect is not retried either");
    assert_eq!(sent[0].body["properties"]["authorization"]["code"], OAUTH_CODE);
    let host = authority(&other);
    match &e {
        AzureError::Redirect { status, location, method, .. } => {
            assert_eq!(*status, 307);
            assert_eq!(location.as_deref(), Some(host.as_str()));
            assert_eq!(method, "PUT");
        }
        other => panic!("expected a redirect error, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("307") && msg.contains(&host), "{msg}");
    assert!(msg.contains("devops/default"), "names the resource: {msg}");
    for secret in [LOCATION_SECRET, "location-query-secret", OAUTH_CODE, TOKEN] {
        assert!(!msg.contains(secret), "{secret} in {msg}");
    }
    let user = lifeboat::azure::user_error(e);
    assert_eq!(user.exit, lifeboat::error::Exit::Failed);
}

#[tokio::test]
async fn defect_04_a_redirect_without_location_is_still_an_error() {
    let arm = Stub::start(|_r, _i| json(302, json!({}))).await;
    let (client, _timer) = crate::azure::client(&arm.url);
    let e = client.get_connector(&ResourceId::connector(SUB, "rg", "conn")).await.unwrap_err();
    assert!(matches!(e, AzureError::Redirect { status: 302, location: None, .. }), "{e:?}");
    assert!(e.to_string().contains("302 redirecting to no location"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_04_a_307_on_a_listing_makes_backup_create_exit_non_zero() {
    let other = elsewhere().await;
    let target = other.url.clone();
    let arm = Stub::start(move |r, _i| {
        if r.path.ends_with("/securityConnectors") {
            let to =
                format!("{target}{}?{}&{LOCATION_SECRET}", r.path.trim_start_matches('/'), r.query);
            return with_headers(307, &[("location", to.as_str())], json!({}));
        }
        json(404, json!({"error": {"code": "ResourceNotFound", "message": "not here"}}))
    })
    .await;
    let store = tempfile::tempdir().unwrap();
    let store_path = store.path().join("store");
    let mut cmd = lifeboat();
    cmd.args(["--arm-endpoint", &arm.url, "--auth", "none", "--backup-store"])
        .arg(&store_path)
        .args(["backup", "create", "--subscription", SUB]);
    let out = output(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);

    assert!(other.requests().is_empty(), "the listing went to {:?}", other.requests());
    assert_ne!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("307") && stderr.contains(&authority(&other)), "{stderr}");
    assert!(!stderr.contains("location-query-secret"), "{stderr}");
    // No snapshot was written.
    let snapshots = store_path.join("snapshots");
    let written = std::fs::read_dir(&snapshots).map(|d| d.count()).unwrap_or(0);
    assert_eq!(written, 0, "a snapshot was written under {}", snapshots.display());
}
