//! Bad inputs get ARM error envelopes with ARM's statuses: never a panic or a hang.

use crate::sim::common::*;
use lifeboat::sim::tenant::SMALL_SUB_PROD;
use lifeboat::sim::TenantSource;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn assert_envelope(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["error"]["code"], code, "{}", r.body);
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(r.body["error"]["details"].is_array());
}

/// Sends raw bytes (paths a URL library would normalise) and returns status and body.
async fn raw(sim: &lifeboat::sim::RunningSim, request: &str) -> (u16, Value) {
    let addr = sim.url().trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn bad_inputs_get_arm_errors() {
    let sim = start(TenantSource::Small, false).await;
    let base = format!("{}{}", sim.url(), sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu"));
    let client = reqwest::Client::new();

    // Malformed JSON, and JSON that is not an object.
    for body in ["{\"location\": ", "[1,2]", "\u{0}\u{1}garbage"] {
        let r = client
            .put(format!("{base}?api-version={SC}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let v: Value = r.json().await.expect("json");
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["code"], "InvalidRequestContent");
    }
    // A body over the limit: 413 whether or not Content-Length announces it.
    let huge = vec![b' '; 5 * 1024 * 1024];
    let r = client
        .put(format!("{base}?api-version={SC}"))
        .body(huge.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 413);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "RequestEntityTooLarge");
    let stream = futures::stream::iter(
        huge.chunks(65536).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    );
    let r = client
        .put(format!("{base}?api-version={SC}"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 413);

    // api-version: missing, unknown, malformed, and one of another resource type.
    assert_envelope(&call("GET", &base, None).await, 400, "MissingApiVersionParameter");
    assert_envelope(
        &call("GET", &format!("{base}?api-version=2020-01-01"), None).await,
        400,
        "NoRegisteredProviderFound",
    );
    assert_envelope(
        &call("GET", &format!("{base}?api-version=latest"), None).await,
        400,
        "InvalidApiVersionParameter",
    );
    assert_envelope(
        &call("GET", &format!("{base}/devops/default?api-version={SC}"), None).await,
        400,
        "NoRegisteredProviderFound",
    );

    // Missing required fields and enums in the wrong case.
    assert_envelope(
        &call("PUT", &format!("{base}?api-version={SC}"), Some(&json!({"properties": {}}))).await,
        400,
        "LocationRequired",
    );
    let r = call(
        "PUT",
        &format!("{base}?api-version={SC}"),
        Some(&json!({"location": "westeurope", "properties": {"environmentName": "azuredevops"}})),
    )
    .await;
    assert_envelope(&r, 400, "BadRequest");
    assert_eq!(r.body["error"]["target"], "properties.environmentName");
    let r = call(
        "PUT",
        &format!("{base}/devops/default?api-version={DEVOPS}"),
        Some(&json!({"properties": {"autoDiscovery": "ENABLED"}})),
    )
    .await;
    assert_envelope(&r, 400, "BadRequest");
    assert_envelope(
        &call("PUT", &format!("{base}/devops/default?api-version={DEVOPS}"), Some(&json!({})))
            .await,
        400,
        "BadRequest",
    );

    // Names: encoded separators and traversal.
    let bad = format!("{}/subscriptions/{SMALL_SUB_PROD}/resourceGroups/rg-devsec-weu/providers/Microsoft.Security/securityConnectors/a%2F..%2Fb?api-version={SC}", sim.url());
    assert_envelope(&call("GET", &bad, None).await, 400, "InvalidResourceName");
    let path = format!("/subscriptions/{SMALL_SUB_PROD}/resourceGroups/rg-devsec-weu/providers/Microsoft.Security/securityConnectors/../../../etc/passwd?api-version={SC}");
    let (status, body) =
        raw(&sim, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "InvalidResourceName");
    let (status, body) =
        raw(&sim, "GET /%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(status == 400 || status == 404, "{status} {body}");
    assert!(body["error"]["code"].is_string());

    // Resource Graph options.
    let g =
        format!("{}/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01", sim.url());
    assert_envelope(
        &call("POST", &g, Some(&json!({"query": "resources", "options": {"$top": 0}}))).await,
        400,
        "BadRequest",
    );
    assert_envelope(&call("POST", &g, Some(&json!({"options": {}}))).await, 400, "BadRequest");
    let first =
        call("POST", &g, Some(&json!({"query": "resources", "options": {"$top": 1}}))).await;
    let token = first.body["$skipToken"].clone();
    assert!(token.is_string(), "{}", first.body);
    let r = call(
        "POST",
        &g,
        Some(&json!({"query": "resources | take 3", "options": {"$skipToken": token}})),
    )
    .await;
    assert_envelope(&r, 400, "BadRequest");
    assert_eq!(r.body["error"]["details"][0]["code"], "InvalidSkipToken");

    // Unknown routes and methods.
    assert_envelope(
        &call(
            "GET",
            &format!(
                "{}/subscriptions/{SMALL_SUB_PROD}/providers/Microsoft.Nope/things?api-version=1",
                sim.url()
            ),
            None,
        )
        .await,
        404,
        "InvalidResourceType",
    );
    assert_envelope(
        &call("POST", &format!("{base}?api-version={SC}"), None).await,
        405,
        "MethodNotAllowed",
    );
    assert_envelope(&call("GET", &format!("{}/subscriptions/00000000-0000-0000-0000-00000000dead/providers/Microsoft.Security/securityConnectors?api-version={SC}", sim.url()), None).await, 404, "SubscriptionNotFound");

    // Provider and type names are case-insensitive, as in ARM.
    let upper = base.replace(
        "/providers/Microsoft.Security/securityConnectors/",
        "/PROVIDERS/microsoft.security/SECURITYCONNECTORS/",
    );
    assert_eq!(call("GET", &format!("{upper}?api-version={SC}"), None).await.status, 200);
    sim.shutdown().await.expect("shutdown");
}
