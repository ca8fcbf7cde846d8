//! The pipeline against stubs: retries (429 with Retry-After, 503, dropped connections), what is
//! not retried (PATCH, a POST that writes), error messages, long-running-operation deadline and
//! failure, paging, token buckets and the Resource Graph quota, request identity and secrecy.

use crate::azure::TOKEN;
use crate::support::stub::{json, with_headers, Reply, Stub};
use lifeboat::azure::models::*;
use lifeboat::azure::pipeline::Request;
use lifeboat::azure::throttle::OpClass;
use lifeboat::azure::timer::Timer;
use lifeboat::azure::{AzureError, ResourceId};
use serde_json::json;
use std::time::Duration;

fn sc() -> ResourceId {
    ResourceId::connector("00000000-0000-0000-0000-000000000001", "rg", "conn")
}

fn org_body() -> serde_json::Value {
    json!({"name": "org", "properties": {"onboardingState": "Onboarded", "actionableRemediation": {"state": "Enabled"}}})
}

#[tokio::test]
async fn a_429_burst_is_retried_after_retry_after_and_succeeds() {
    let stub = Stub::start(|_r, i| {
        if i < 3 {
            with_headers(
                429,
                &[("retry-after", "7")],
                json!({"error": {"code": "TooManyRequests", "message": "slow down"}}),
            )
        } else {
            json(200, org_body())
        }
    })
    .await;
    let (client, timer) = crate::azure::client(&stub.url);
    let org = client.get_azure_devops_org(&sc(), "org").await.unwrap();
    assert_eq!(org.name.as_deref(), Some("org"));
    assert_eq!(stub.requests().len(), 4);
    assert_eq!(
        timer.sleeps(),
        vec![Duration::from_secs(7); 3],
        "Retry-After honoured, no extra wait from the bucket"
    );
    let log = client.call_log();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].attempts, log[0].throttled, log[0].status), (4, 3, Some(200)));
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried_for_reads() {
    let stub = Stub::start(|_r, i| match i {
        0 => json(503, json!({"error": {"code": "ServiceUnavailable", "message": "try later"}})),
        1 => Reply::Drop,
        2 => json(500, json!({})),
        _ => json(200, org_body()),
    })
    .await;
    let (client, timer) = crate::azure::client(&stub.url);
    client.get_azure_devops_org(&sc(), "org").await.unwrap();
    assert_eq!(stub.requests().len(), 4);
    let sleeps = timer.sleeps();
    assert_eq!(sleeps.len(), 3);
    assert!(
        sleeps.iter().all(|d| *d >= Duration::from_millis(500) && *d <= Duration::from_secs(30)),
        "{sleeps:?}"
    );
}

#[tokio::test]
async fn puts_are_retried_but_patches_and_writing_posts_are_not() {
    let stub = Stub::start(|_r, _i| {
        json(503, json!({"error": {"code": "ServiceUnavailable", "message": "down"}}))
    })
    .await;
    let (client, _t) = crate::azure::client(&stub.url);
    let body: AzureDevOpsOrg = serde_json::from_value(org_body()).unwrap();
    // PATCH: one attempt only.
    let e = client.patch_azure_devops_org(&sc(), "org", &body).await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(stub.requests().len(), 1);
    // A POST that is not marked as a read: one attempt only.
    let url = url::Url::parse(&format!(
        "{}subscriptions/s/providers/X/doSomething?api-version=1",
        stub.url
    ))
    .unwrap();
    let req = Request::new(reqwest::Method::POST, url, "/subscriptions/s/providers/X/doSomething");
    assert!(client.pipeline().send(&req).await.is_err());
    assert_eq!(stub.requests().len(), 2);
    // PUT: retried up to the policy's limit (5 retries).
    let e = client.put_azure_devops_org(&sc(), "org", &body).await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(stub.requests().len(), 2 + 6);
    assert_eq!(client.call_log().last().unwrap().attempts, 6);
}

#[tokio::test]
async fn a_dropped_connection_on_a_writing_post_is_not_retried() {
    let stub = Stub::start(|_r, _i| Reply::Drop).await;
    let (client, _t) = crate::azure::client(&stub.url);
    let url = url::Url::parse(&format!(
        "{}subscriptions/s/providers/X/doSomething?api-version=1",
        stub.url
    ))
    .unwrap();
    let e = client
        .pipeline()
        .send(&Request::new(reqwest::Method::POST, url, "/subscriptions/s/providers/X/doSomething"))
        .await
        .unwrap_err();
    assert!(matches!(e, AzureError::Transport { attempts: 1, .. }), "{e}");
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn a_400_names_the_resource_and_the_arm_error_code() {
    let stub = Stub::start(|_r, _i| json(400, json!({"error": {"code": "InvalidRequestContent", "message": "The request content was invalid and could not be deserialized.", "target": "properties.autoDiscovery"}}))).await;
    let (client, _t) = crate::azure::client(&stub.url);
    let e =
        client.put_devops_configuration(&sc(), &DevOpsConfiguration::default()).await.unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.code(), Some("InvalidRequestContent"));
    assert!(msg.contains("PUT /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/conn/devops/default"), "{msg}");
    assert!(msg.contains("400 InvalidRequestContent"), "{msg}");
    assert!(msg.contains("properties.autoDiscovery"), "{msg}");
    assert!(msg.contains("request id req-0"), "{msg}");
    assert!(!msg.contains(TOKEN) && !msg.contains("SECRET-SIGNATURE"), "{msg}");
    assert_eq!(stub.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn a_long_running_operation_that_never_finishes_hits_its_deadline() {
    let stub = Stub::start(|r, _i| {
        if r.method == "PUT" {
            let op = "https://management.azure.com/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/conn/devops/default/operationResults/op1?api-version=2025-03-01";
            with_headers(201, &[("azure-asyncoperation", op), ("retry-after", "10")], json!({"properties": {"provisioningState": "Accepted"}}))
        } else {
            with_headers(200, &[("retry-after", "10")], json!({"status": "InProgress"}))
        }
    })
    .await;
    let (mut client, timer) = crate::azure::client(&stub.url);
    client.lro.deadline = Duration::from_secs(120);
    let e =
        client.put_devops_configuration(&sc(), &DevOpsConfiguration::default()).await.unwrap_err();
    assert!(matches!(e, AzureError::LroTimeout { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("did not finish within 120s")
            && msg.contains("InProgress")
            && msg.contains("/devops/default"),
        "{msg}"
    );
    assert!(timer.now() <= Duration::from_secs(120));
    // Polls followed the rebased URL on the stub, every Retry-After (10 s) until the deadline.
    let polls = stub.requests().iter().filter(|r| r.path.contains("/operationResults/op1")).count();
    assert_eq!(polls, 12);
}

#[tokio::test]
async fn a_failed_long_running_operation_surfaces_its_error_code() {
    let failed = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(format!(
        "{}/tests/fixtures/azure-specs/specification/security/resource-manager/Microsoft.Security/Security/stable/2025-03-01/examples/SecurityConnectorsDevOps/GetDevOpsOperationResultsFailed_example.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap())
    .unwrap()["responses"]["200"]["body"]
        .clone();
    let stub = Stub::start(move |r, _i| {
        if r.method == "PUT" {
            with_headers(202, &[("Azure-AsyncOperation", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/conn/devops/default/operationResults/x?api-version=2025-03-01")], json!({}))
        } else {
            json(200, failed.clone())
        }
    })
    .await;
    let (client, _t) = crate::azure::client(&stub.url);
    let cfg = DevOpsConfiguration::with_properties(DevOpsConfigurationProperties {
        authorization: Some(Authorization {
            code: Some(SecretString::new("one-time-oauth-code")),
            extra: Default::default(),
        }),
        auto_discovery: Some(AutoDiscovery::Enabled),
        ..Default::default()
    });
    let e = client.put_devops_configuration(&sc(), &cfg).await.unwrap_err();
    assert_eq!(e.code(), Some("TokenExchangeFailed"));
    let msg = e.to_string();
    assert!(
        msg.contains(
            "ended Failed with TokenExchangeFailed: AzureDevOps OAuth token exchange failed"
        ),
        "{msg}"
    );
    assert!(!msg.contains("one-time-oauth-code"));
    // The code went to the service, and nowhere else.
    assert_eq!(
        stub.requests()[0].body["properties"]["authorization"]["code"],
        "one-time-oauth-code"
    );
    assert!(!format!("{:?}", client.call_log()).contains("one-time-oauth-code"));
}

#[tokio::test]
async fn lists_follow_next_link_across_pages() {
    let stub = Stub::start(|r, _i| {
        let page = if r.query.contains("page=3") { 3 } else if r.query.contains("page=2") { 2 } else { 1 };
        let next = if page < 3 { json!(format!("https://management.azure.com{}?api-version=2025-03-01&page={}", r.path, page + 1)) } else { serde_json::Value::Null };
        let mut body = json!({"value": [{"name": format!("repo-{page}a")}, {"name": format!("repo-{page}b")}]});
        if !next.is_null() {
            body["nextLink"] = next;
        }
        json(200, body)
    })
    .await;
    let (client, _t) = crate::azure::client(&stub.url);
    let repos = client.list_azure_devops_repos(&sc(), "org", "proj").await.unwrap();
    let names: Vec<_> = repos.iter().map(|r| r.name.clone().unwrap()).collect();
    assert_eq!(names, ["repo-1a", "repo-1b", "repo-2a", "repo-2b", "repo-3a", "repo-3b"]);
    assert_eq!(stub.requests().len(), 3);
}

#[tokio::test]
async fn resource_graph_follows_skip_token_and_its_quota() {
    let stub = Stub::start(|r, i| {
        let token = r.body["options"]["$skipToken"].as_str().map(str::to_owned);
        let (rows, next) = match token.as_deref() {
            None => (json!([{"id": "a"}, {"id": "b"}]), Some("t1")),
            Some("t1") => (json!([{"id": "c"}]), Some("t2")),
            Some("t2") => (json!([{"id": "d"}]), None),
            Some(other) => panic!("unexpected token {other}"),
        };
        let mut body = json!({"totalRecords": 4, "count": rows.as_array().unwrap().len(), "resultTruncated": "false", "data": rows});
        if let Some(n) = next {
            body["$skipToken"] = json!(n);
        }
        // The quota runs out after the first page and resets 3 s later.
        let remaining = if i == 0 { "0" } else { "10" };
        with_headers(200, &[("x-ms-user-quota-remaining", remaining), ("x-ms-user-quota-resets-after", "00:00:03")], body)
    })
    .await;
    let (client, timer) = crate::azure::client(&stub.url);
    let rows = client.resource_graph_query("resources | project id", &["s1".into()]).await.unwrap();
    let ids: Vec<_> = rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs
        .iter()
        .all(|r| r.body["query"] == "resources | project id"
            && r.body["subscriptions"] == json!(["s1"])));
    assert_eq!(
        timer.sleeps(),
        vec![Duration::from_secs(3)],
        "waited for the quota window to reset"
    );
}

#[tokio::test]
async fn resource_graph_batches_subscriptions_under_300() {
    let stub = Stub::start(|r, _i| {
        let n = r.body["subscriptions"].as_array().unwrap().len();
        json(
            200,
            json!({"totalRecords": 1, "count": 1, "resultTruncated": "false", "data": [{"n": n}]}),
        )
    })
    .await;
    let (client, _t) = crate::azure::client(&stub.url);
    let subs: Vec<String> = (0..620).map(|i| format!("sub-{i}")).collect();
    let rows = client.resource_graph_query("resources", &subs).await.unwrap();
    let sizes: Vec<u64> = rows.iter().map(|r| r["n"].as_u64().unwrap()).collect();
    assert_eq!(sizes.iter().sum::<u64>(), 620);
    assert!(sizes.iter().all(|n| *n < 300), "{sizes:?}");
}

#[tokio::test]
async fn token_buckets_follow_the_remaining_headers() {
    // The service says only 2 writes remain: the third write waits for one token (1/10 s).
    let stub = Stub::start(|_r, i| {
        let remaining = (2 - i as i64).max(0).to_string();
        Reply::Json(
            200,
            vec![("x-ms-ratelimit-remaining-subscription-writes".into(), remaining)],
            org_body(),
        )
    })
    .await;
    let (client, timer) = crate::azure::client(&stub.url);
    let body: AzureDevOpsOrg = serde_json::from_value(org_body()).unwrap();
    let sub = "00000000-0000-0000-0000-000000000001";
    client.put_azure_devops_org(&sc(), "org", &body).await.unwrap();
    let st = client.pipeline().throttle().state(sub, OpClass::Writes).unwrap();
    assert_eq!(st.tokens, 2.0, "the bucket follows the header, not its own count (199)");
    client.put_azure_devops_org(&sc(), "org", &body).await.unwrap();
    client.put_azure_devops_org(&sc(), "org", &body).await.unwrap();
    assert_eq!(timer.now(), Duration::ZERO);
    client.put_azure_devops_org(&sc(), "org", &body).await.unwrap();
    assert_eq!(timer.sleeps(), vec![Duration::from_millis(100)]);
    // Reads are a separate bucket.
    assert!(client.pipeline().throttle().state(sub, OpClass::Reads).is_none());
}

#[tokio::test]
async fn every_request_carries_identity_and_every_answer_is_recorded() {
    let stub = Stub::start(|_r, _i| json(200, org_body())).await;
    let (client, _t) = crate::azure::client(&stub.url);
    client.get_azure_devops_org(&sc(), "org").await.unwrap();
    client.get_azure_devops_org(&sc(), "org").await.unwrap();
    let reqs = stub.requests();
    let ids: Vec<_> =
        reqs.iter().map(|r| r.header("x-ms-client-request-id").unwrap().to_owned()).collect();
    assert_ne!(ids[0], ids[1]);
    assert!(uuid::Uuid::parse_str(&ids[0]).is_ok());
    assert_eq!(reqs[0].header("user-agent"), Some(concat!("lifeboat/", env!("CARGO_PKG_VERSION"))));
    assert_eq!(reqs[0].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    let log = client.call_log();
    assert_eq!(log[0].client_request_id, ids[0]);
    assert_eq!(log[0].request_id.as_deref(), Some("req-0"));
    assert_eq!(log[0].correlation_id.as_deref(), Some("corr-stub"));
    assert_eq!(log[0].resource, sc().azure_devops_org("org").to_string());
    assert!(log[0].url.ends_with("/azureDevOpsOrgs/org?api-version=2025-03-01"), "{}", log[0].url);
    let all = format!("{log:?} {}", serde_json::to_string(&log).unwrap());
    assert!(!all.contains("SECRET-SIGNATURE"), "no token in the call log");
    // The principal comes from the token's claims.
    assert_eq!(client.principal().unwrap().name.as_deref(), Some("test@contoso.com"));
}

#[tokio::test]
async fn an_observer_sees_every_call() {
    use lifeboat::azure::pipeline::{Pipeline, PipelineOptions, RetryPolicy};
    use std::sync::{Arc, Mutex};
    let stub =
        Stub::start(|_r, i| if i == 0 { json(503, json!({})) } else { json(200, org_body()) })
            .await;
    let seen: Arc<Mutex<Vec<lifeboat::azure::CallRecord>>> = Arc::default();
    let s = seen.clone();
    let pipeline = Pipeline::new(PipelineOptions {
        endpoint: url::Url::parse(&stub.url).unwrap(),
        scope: "s".into(),
        token: None,
        timer: Arc::new(lifeboat::azure::timer::VirtualTimer::new()),
        retry: RetryPolicy::new(3, Duration::from_millis(10), Duration::from_secs(1), Some(3)),
        throttle: true,
        timeout: Duration::from_secs(5),
        observer: Some(Arc::new(move |r: &lifeboat::azure::CallRecord| {
            s.lock().unwrap().push(r.clone())
        })),
    })
    .unwrap();
    let client = lifeboat::azure::ArmClient::new(pipeline);
    client.get_azure_devops_org(&sc(), "org").await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].attempts, seen[0].status), (2, Some(200)));
    assert!(stub.requests()[0].header("authorization").is_none(), "no credential: no header");
}

#[derive(Debug)]
struct FailingCredential;

impl lifeboat::azure::TokenSource for FailingCredential {
    fn token<'a>(
        &'a self,
        _scope: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<lifeboat::azure::AccessToken, AzureError>> {
        Box::pin(async {
            Err(AzureError::Credential("tried Azure CLI: Please run 'az login' to set up an account (sign in with `az login`)".into()))
        })
    }
}

#[tokio::test]
async fn a_failed_credential_is_not_retried_and_exits_5() {
    use lifeboat::azure::pipeline::{Pipeline, PipelineOptions, RetryPolicy};
    use std::sync::Arc;
    let stub = Stub::start(|_r, _i| json(200, org_body())).await;
    let pipeline = Pipeline::new(PipelineOptions {
        endpoint: url::Url::parse(&stub.url).unwrap(),
        scope: "s".into(),
        token: Some(Arc::new(FailingCredential)),
        timer: Arc::new(lifeboat::azure::timer::VirtualTimer::new()),
        retry: RetryPolicy::default(),
        throttle: true,
        timeout: Duration::from_secs(5),
        observer: None,
    })
    .unwrap();
    let client = lifeboat::azure::ArmClient::new(pipeline);
    let e = client.get_azure_devops_org(&sc(), "org").await.unwrap_err();
    assert!(stub.requests().is_empty(), "nothing is sent without a token");
    let u = lifeboat::azure::user_error(e);
    assert_eq!(u.exit, lifeboat::error::Exit::Auth);
    assert!(u.to_string().contains("az login"), "{u}");
}

#[tokio::test]
async fn names_are_encoded_as_one_path_segment() {
    let stub = Stub::start(|_r, _i| json(200, json!({"value": []}))).await;
    let (client, _t) = crate::azure::client(&stub.url);
    client.list_gitlab_projects(&sc(), "group$sub group/x").await.unwrap();
    let p = &stub.requests()[0].path;
    assert!(p.ends_with("/gitLabGroups/group$sub%20group%2Fx/projects"), "{p}");
}

#[tokio::test]
async fn next_links_to_other_hosts_are_rebased_so_the_token_stays_home() {
    let stub = Stub::start(|r, _i| {
        if r.query.contains("page=2") {
            json(200, json!({"value": [{"name": "b"}]}))
        } else {
            json(200, json!({"value": [{"name": "a"}], "nextLink": format!("https://evil.example.com{}?page=2", r.path)}))
        }
    })
    .await;
    let (client, _t) = crate::azure::client(&stub.url);
    assert_eq!(client.list_github_owners(&sc()).await.unwrap().len(), 2);
    assert_eq!(stub.requests().len(), 2, "the second page came from the stub");
}

#[tokio::test]
async fn a_location_only_put_is_polled_until_it_stops_answering_202_then_read_again() {
    let ticket = json!({"name": "t1", "properties": {"title": "Region outage - DevOps Connector recovery", "severity": "moderate"}});
    let done = ticket.clone();
    let stub = Stub::start(move |r, i| match (r.method.as_str(), i) {
        ("PUT", _) => with_headers(202, &[("location", "https://management.azure.com/subscriptions/s/providers/Microsoft.Support/operationResults/op?api-version=2024-04-01"), ("retry-after", "30")], json!(null)),
        (_, 1) => with_headers(202, &[("retry-after", "30")], json!(null)),
        _ => json(200, done.clone()),
    })
    .await;
    let (client, timer) = crate::azure::client(&stub.url);
    let body: SupportTicketDetails = serde_json::from_value(ticket.clone()).unwrap();
    let got = client.create_support_ticket("s", "t1", &body).await.unwrap();
    assert_eq!(serde_json::to_value(got).unwrap(), ticket);
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 4);
    assert!(reqs[1].path.ends_with("/Microsoft.Support/operationResults/op"));
    assert!(reqs[2].path.ends_with("/Microsoft.Support/operationResults/op"));
    // A PUT's final state is the resource read again once the operation ended.
    assert_eq!((reqs[3].method.as_str(), reqs[3].path.as_str()), ("GET", reqs[0].path.as_str()));
    assert_eq!(timer.sleeps(), vec![Duration::from_secs(30), Duration::from_secs(30)]);
}
