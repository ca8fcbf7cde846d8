//! Long-running operations in every shape ARM's RPC allows, against a stub that models one
//! operation: it ends at the stub's third request after the write (`DONE_AT`); until then a
//! read of the resource shows an in-progress `provisioningState` and the OLD settings
//! (`autoDiscovery: Disabled`), afterwards `Succeeded` and the NEW ones (`Enabled`). A client
//! that counted the write done before the operation ended would return the old settings; each
//! test also asserts the exact request sequence.

use crate::support::stub::{json, with_headers, Recorded, Reply, Stub};
use lifeboat::azure::api::ApiFamily;
use lifeboat::azure::models::{AutoDiscovery, DevOpsConfiguration, DevOpsConfigurationProperties};
use lifeboat::azure::pipeline::Request;
use lifeboat::azure::timer::Timer;
use lifeboat::azure::{AzureError, ResourceId};
use serde_json::{json, Value};
use std::time::Duration;

/// The request index (0 = the write) from which the operation is over.
const DONE_AT: usize = 3;
const OP: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Security/operationResults/op1?api-version=2025-03-01";
const LOC: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Security/operationLocations/op1?api-version=2025-03-01";

fn sc() -> ResourceId {
    ResourceId::connector("00000000-0000-0000-0000-000000000001", "rg", "conn")
}

fn resource(state: &str, auto_discovery: &str) -> Value {
    json!({"id": sc().devops().to_string(), "name": "default",
        "properties": {"autoDiscovery": auto_discovery, "provisioningState": state}})
}

fn old(state: &str) -> Value {
    resource(state, "Disabled")
}

fn new() -> Value {
    resource("Succeeded", "Enabled")
}

/// What a request was: the write, an operation-status poll, a location poll, a resource read.
fn kind(r: &Recorded) -> String {
    let k = if r.path.contains("/operationResults/") {
        "op"
    } else if r.path.contains("/operationLocations/") {
        "location"
    } else {
        "resource"
    };
    format!("{} {k}", r.method)
}

fn kinds(stub: &Stub) -> Vec<String> {
    stub.requests().iter().map(kind).collect()
}

fn headers(h: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    h.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The operation's status document at request `i`.
fn op_status(i: usize) -> Reply {
    let status = if i >= DONE_AT { "Succeeded" } else { "InProgress" };
    with_headers(200, &[("retry-after", "5")], json!({"name": "op1", "status": status}))
}

/// A resource read at request `i` (`state` while running).
fn read(i: usize, state: &str) -> Reply {
    json(200, if i >= DONE_AT { new() } else { old(state) })
}

/// A stub whose write answers `first` and whose polls follow the operation model.
async fn service(first: impl Fn() -> Reply + Send + Sync + 'static) -> Stub {
    Stub::start(move |r, i| {
        if r.method != "GET" {
            return first();
        }
        if r.path.contains("/operationResults/") {
            return op_status(i);
        }
        if r.path.contains("/operationLocations/") {
            return if i >= DONE_AT {
                json(200, json!({"status": "Succeeded"}))
            } else {
                with_headers(202, &[("retry-after", "5")], json!(null))
            };
        }
        read(i, "InProgress")
    })
    .await
}

async fn put(stub: &Stub) -> Result<Value, AzureError> {
    let (client, _t) = crate::azure::client(&stub.url);
    let body = json!({"properties": {"autoDiscovery": "Enabled"}});
    client.put_json(&sc().devops(), ApiFamily::Devops, &body, None).await
}

fn assert_new(v: &Value) {
    assert_eq!(v, &new(), "the settings of the finished operation, not the old ones");
}

#[tokio::test]
async fn a_200_with_the_final_body_is_done_at_once() {
    let stub = service(|| json(200, new())).await;
    assert_new(&put(&stub).await.unwrap());
    assert_eq!(kinds(&stub), ["PUT resource"]);
}

#[tokio::test]
async fn a_201_with_azure_async_operation_is_polled_then_read_again() {
    let stub = service(|| {
        Reply::Json(
            201,
            headers(&[("azure-asyncoperation", OP), ("retry-after", "5")]),
            old("Accepted"),
        )
    })
    .await;
    assert_new(&put(&stub).await.unwrap());
    assert_eq!(kinds(&stub), ["PUT resource", "GET op", "GET op", "GET op", "GET resource"]);
}

#[tokio::test]
async fn a_200_with_azure_async_operation_is_polled_too() {
    let stub =
        service(|| Reply::Json(200, headers(&[("Azure-AsyncOperation", OP)]), old("InProgress")))
            .await;
    assert_new(&put(&stub).await.unwrap());
    assert_eq!(kinds(&stub), ["PUT resource", "GET op", "GET op", "GET op", "GET resource"]);
}

#[tokio::test]
async fn a_202_with_azure_async_operation_is_polled() {
    let stub = service(|| Reply::Empty(202, headers(&[("azure-asyncoperation", OP)]))).await;
    assert_new(&put(&stub).await.unwrap());
    assert_eq!(kinds(&stub), ["PUT resource", "GET op", "GET op", "GET op", "GET resource"]);
}

#[tokio::test]
async fn a_202_with_location_only_is_polled_until_it_stops_answering_202() {
    let stub = service(|| Reply::Empty(202, headers(&[("location", LOC)]))).await;
    assert_new(&put(&stub).await.unwrap());
    assert_eq!(
        kinds(&stub),
        ["PUT resource", "GET location", "GET location", "GET location", "GET resource"]
    );
}

#[tokio::test]
async fn a_202_with_both_headers_follows_the_operation_and_reads_the_resource() {
    // final-state-via for a PUT: the resource itself, not the Location.
    let stub =
        service(|| Reply::Empty(202, headers(&[("azure-asyncoperation", OP), ("location", LOC)])))
            .await;
    assert_new(&put(&stub).await.unwrap());
    assert_eq!(kinds(&stub), ["PUT resource", "GET op", "GET op", "GET op", "GET resource"]);
}

#[tokio::test]
async fn a_201_without_headers_is_followed_by_reading_the_provisioning_state() {
    let stub = service(|| json(201, old("Accepted"))).await;
    let (client, timer) = crate::azure::client(&stub.url);
    let cfg = DevOpsConfiguration::with_properties(DevOpsConfigurationProperties {
        auto_discovery: Some(AutoDiscovery::Enabled),
        ..Default::default()
    });
    let got = client.put_devops_configuration(&sc(), &cfg).await.unwrap();
    assert_eq!(got.properties.unwrap().auto_discovery, Some(AutoDiscovery::Enabled));
    assert_eq!(kinds(&stub), ["PUT resource", "GET resource", "GET resource", "GET resource"]);
    // Each read after the default poll interval (no Retry-After on the 201).
    assert_eq!(timer.sleeps().len(), 3);
}

#[tokio::test]
async fn a_202_without_headers_or_body_is_followed_by_reading_the_resource() {
    let stub = service(|| Reply::Empty(202, Vec::new())).await;
    assert_new(&put(&stub).await.unwrap());
    assert_eq!(kinds(&stub), ["PUT resource", "GET resource", "GET resource", "GET resource"]);
}

#[tokio::test]
async fn unknown_intermediate_provisioning_states_count_as_running() {
    // States this build does not know, in any case, until a terminal one.
    let stub = Stub::start(|r, i| {
        if r.method == "PUT" {
            return json(200, old("Provisioning"));
        }
        match i {
            1 => json(200, old("WaitingForSomethingNew")),
            2 => json(200, old("updating")),
            _ => json(200, resource("SUCCEEDED", "Enabled")),
        }
    })
    .await;
    let got = put(&stub).await.unwrap();
    assert_eq!(got["properties"]["autoDiscovery"], "Enabled");
    assert_eq!(kinds(&stub), ["PUT resource", "GET resource", "GET resource", "GET resource"]);
}

#[tokio::test]
async fn the_final_read_waits_until_the_resource_itself_is_terminal() {
    // The operation says Succeeded at once, the resource still shows InProgress for a while.
    let stub =
        Stub::start(|r, i| match (r.method.as_str(), r.path.contains("/operationResults/")) {
            ("PUT", _) => {
                Reply::Json(201, headers(&[("azure-asyncoperation", OP)]), old("Accepted"))
            }
            (_, true) => json(200, json!({"status": "Succeeded"})),
            _ => read(i, "InProgress"),
        })
        .await;
    assert_new(&put(&stub).await.unwrap());
    assert_eq!(kinds(&stub), ["PUT resource", "GET op", "GET resource", "GET resource"]);
}

#[tokio::test]
async fn an_unknown_operation_status_runs_until_the_deadline() {
    let stub = Stub::start(|r, _i| {
        if r.method == "PUT" {
            Reply::Json(201, headers(&[("azure-asyncoperation", OP)]), old("Accepted"))
        } else if r.path.contains("/operationResults/") {
            with_headers(200, &[("retry-after", "10")], json!({"status": "Finalizing"}))
        } else {
            json(200, new())
        }
    })
    .await;
    let (mut client, timer) = crate::azure::client(&stub.url);
    client.lro.deadline = Duration::from_secs(60);
    client.lro.default_poll = Duration::from_secs(10);
    let body = json!({"properties": {"autoDiscovery": "Enabled"}});
    let e = client.put_json(&sc().devops(), ApiFamily::Devops, &body, None).await.unwrap_err();
    match &e {
        AzureError::LroTimeout { last_status, .. } => assert_eq!(last_status, "Finalizing"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let k = kinds(&stub);
    assert!(!k.contains(&"GET resource".to_owned()), "never read as done: {k:?}");
    assert_eq!(k.len(), 1 + 6, "polled every 10 s for 60 s: {k:?}");
    assert!(timer.now() <= Duration::from_secs(60));
}

#[tokio::test]
async fn failed_and_canceled_are_terminal_in_any_case() {
    for (status, expect) in
        [("failed", "failed"), ("CANCELED", "CANCELED"), ("Cancelled", "Cancelled")]
    {
        let stub = Stub::start(move |r, i| {
            if r.method == "PUT" {
                Reply::Json(201, headers(&[("azure-asyncoperation", OP)]), old("Accepted"))
            } else if i < 2 {
                json(200, json!({"status": "InProgress"}))
            } else {
                json(200, json!({"status": status, "error": {"code": "TokenExchangeFailed", "message": "the code expired"}}))
            }
        })
        .await;
        let e = put(&stub).await.unwrap_err();
        match &e {
            AzureError::LroFailed { status, .. } => assert_eq!(status, expect),
            other => panic!("{expect}: expected LroFailed, got {other:?}"),
        }
        assert_eq!(e.code(), Some("TokenExchangeFailed"));
        assert_eq!(kinds(&stub), ["PUT resource", "GET op", "GET op"], "{expect}");
    }
}

#[tokio::test]
async fn a_failed_provisioning_state_without_headers_is_an_error_with_its_message() {
    let stub = Stub::start(|r, i| {
        if r.method == "PUT" {
            json(201, old("Accepted"))
        } else if i < 2 {
            json(200, old("InProgress"))
        } else {
            json(200, json!({"properties": {"provisioningState": "Failed", "provisioningStatusMessage": "the OAuth code was already used"}}))
        }
    })
    .await;
    let e = put(&stub).await.unwrap_err();
    assert!(matches!(e, AzureError::LroFailed { .. }), "{e:?}");
    assert!(e.to_string().contains("the OAuth code was already used"), "{e}");
    assert_eq!(kinds(&stub), ["PUT resource", "GET resource", "GET resource"]);
}

#[tokio::test]
async fn a_delete_answered_202_without_headers_is_done_when_the_resource_is_gone() {
    let stub = Stub::start(|r, i| {
        if r.method == "DELETE" {
            Reply::Empty(202, Vec::new())
        } else if i < DONE_AT {
            json(200, old("PendingDeletion"))
        } else {
            json(404, json!({"error": {"code": "ResourceNotFound", "message": "gone"}}))
        }
    })
    .await;
    let (client, _t) = crate::azure::client(&stub.url);
    client.delete_json(&sc().devops(), ApiFamily::Devops, None).await.unwrap();
    assert_eq!(kinds(&stub), ["DELETE resource", "GET resource", "GET resource", "GET resource"]);
}

#[tokio::test]
async fn a_delete_with_both_headers_ends_with_the_location() {
    // final-state-via for DELETE/POST: the Location, read once the operation is over.
    let stub =
        service(|| Reply::Empty(202, headers(&[("azure-asyncoperation", OP), ("location", LOC)])))
            .await;
    let (client, _t) = crate::azure::client(&stub.url);
    client.delete_devops_configuration(&sc()).await.unwrap();
    assert_eq!(kinds(&stub), ["DELETE resource", "GET op", "GET op", "GET op", "GET location"]);
}

#[tokio::test]
async fn a_post_answered_202_without_headers_is_not_reported_done() {
    let stub = Stub::start(|_r, _i| Reply::Empty(202, Vec::new())).await;
    let (client, _t) = crate::azure::client(&stub.url);
    let url = url::Url::parse(&format!(
        "{}subscriptions/s/providers/Microsoft.Security/doIt?api-version=1",
        stub.url
    ))
    .unwrap();
    let e = client
        .run_lro(Request::new(reqwest::Method::POST, url, "/subscriptions/s/doIt"))
        .await
        .unwrap_err();
    assert!(matches!(e, AzureError::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("cannot be observed"), "{e}");
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn an_operation_and_its_polls_share_one_correlation_id() {
    let stub = service(|| Reply::Empty(202, headers(&[("azure-asyncoperation", OP)]))).await;
    let (client, _t) = crate::azure::client(&stub.url);
    let body = json!({"properties": {"autoDiscovery": "Enabled"}});
    client.put_json(&sc().devops(), ApiFamily::Devops, &body, None).await.unwrap();
    client.get_json(&sc().devops(), ApiFamily::Devops, None).await.unwrap();
    let reqs = stub.requests();
    let corr: Vec<&str> =
        reqs.iter().map(|r| r.header("x-ms-correlation-request-id").unwrap()).collect();
    assert!(corr[..5].iter().all(|c| *c == corr[0]), "{corr:?}");
    assert_ne!(corr[5], corr[0], "a new logical call, a new correlation id");
    assert!(uuid::Uuid::parse_str(corr[0]).is_ok());
    let client_ids: std::collections::HashSet<&str> =
        reqs.iter().map(|r| r.header("x-ms-client-request-id").unwrap()).collect();
    assert_eq!(client_ids.len(), reqs.len(), "one client request id per request");
}

#[tokio::test]
async fn every_call_record_carries_the_answers_request_and_correlation_ids() {
    // ARM-like: a unique request id per answer, the client's correlation id echoed.
    let stub = Stub::start(|r, i| {
        let corr = r.header("x-ms-correlation-request-id").unwrap_or("none").to_owned();
        let rid = format!("rid-{i}");
        let reply = |status: u16, extra: &[(&str, &str)], body: Value| {
            let mut h = vec![
                ("x-ms-request-id".to_owned(), rid.clone()),
                ("x-ms-correlation-request-id".to_owned(), corr.clone()),
            ];
            h.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Reply::Json(status, h, body)
        };
        match (r.method.as_str(), r.path.contains("/operationResults/")) {
            ("PUT", _) => reply(201, &[("azure-asyncoperation", OP)], old("Accepted")),
            (_, true) => {
                reply(200, &[], json!({"status": if i >= 2 { "Succeeded" } else { "InProgress" }}))
            }
            _ => reply(200, &[], new()),
        }
    })
    .await;
    let (client, _t) = crate::azure::client(&stub.url);
    let body = json!({"properties": {"autoDiscovery": "Enabled"}});
    client.put_json(&sc().devops(), ApiFamily::Devops, &body, None).await.unwrap();
    let log = client.call_log();
    let reqs = stub.requests();
    assert_eq!(log.len(), reqs.len());
    for (i, (rec, req)) in log.iter().zip(&reqs).enumerate() {
        assert_eq!(rec.request_id.as_deref(), Some(format!("rid-{i}").as_str()), "{rec:?}");
        assert_eq!(rec.correlation_id.as_deref(), req.header("x-ms-correlation-request-id"));
        assert_eq!(rec.client_request_id, req.header("x-ms-client-request-id").unwrap());
    }
    // The write's record is what a step journals: method, resource and both IDs.
    let put = log.iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.resource, sc().devops().to_string());
    assert_eq!(put.request_id.as_deref(), Some("rid-0"));
}
