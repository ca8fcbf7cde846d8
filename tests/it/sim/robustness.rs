//! Issue 11, item 13: the simulator never panics on a request. A connector deleted between the
//! route's check and the handler's lookup is a 404, not an index out of bounds; every `/_sim/`
//! input is validated (400 with a message naming the field), and the server keeps serving.

use crate::sim::common::*;
use lifeboat::sim::tenant::SMALL_SUB_PROD;
use lifeboat::sim::{RunningSim, TenantSource};
use serde_json::{json, Value};

/// Status and body of a request; status 0 when no complete answer came back (a handler that
/// panicked drops the connection).
async fn try_call(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(m, url);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_owned());
    }
    let Ok(resp) = req.send().await else { return (0, Value::Null) };
    let status = resp.status().as_u16();
    match resp.bytes().await {
        Ok(b) => (status, serde_json::from_slice(&b).unwrap_or(Value::Null)),
        Err(_) => (0, Value::Null),
    }
}

async fn now(sim: &RunningSim) -> f64 {
    let r = call("GET", &format!("{}/_sim/clock", sim.url()), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["now"].as_f64().expect("now")
}

fn assert_400(status: u16, body: &Value, what: &str, mentions: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["error"]["code"].as_str().map(|c| !c.is_empty()), Some(true), "{what}: {body}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(mentions), "{what}: the message names {mentions}: {msg}");
}

#[tokio::test]
async fn defect_13_clock_advance_refuses_huge_negative_and_non_numeric_seconds() {
    let sim = start(TenantSource::Small, false).await;
    let client = reqwest::Client::new();
    let url = format!("{}/_sim/clock/advance", sim.url());
    let before = now(&sim).await;
    for body in [
        r#"{"seconds": 1e300}"#,
        r#"{"seconds": 1e20}"#,
        r#"{"seconds": 18446744073709551616}"#,
        r#"{"seconds": 34560001}"#,
        r#"{"seconds": -1}"#,
        r#"{"seconds": -0.5}"#,
        r#"{"seconds": "NaN"}"#,
        r#"{"seconds": "Infinity"}"#,
        r#"{"seconds": "10"}"#,
        r#"{"seconds": null}"#,
        r#"{"seconds": [1]}"#,
        r#"{}"#,
    ] {
        let (status, v) = try_call(&client, "POST", &url, Some(body)).await;
        assert_400(status, &v, body, "seconds");
        assert_eq!(v["error"]["target"], "seconds", "{body}: {v}");
        assert_eq!(now(&sim).await, before, "{body} moved the clock");
    }
    // Shapes: not JSON, JSON that overflows, not an object, an unknown key.
    for (body, mentions) in [
        (r#"{"seconds": 1e400}"#, "could not be deserialized"),
        ("seconds=10", "could not be deserialized"),
        ("[10]", "a JSON object is expected"),
        (r#"{"seconds": 10, "minutes": 1}"#, "Unknown property 'minutes'"),
    ] {
        let (status, v) = try_call(&client, "POST", &url, Some(body)).await;
        assert_400(status, &v, body, mentions);
    }
    assert_eq!(now(&sim).await, before);
    // Still serving, and the largest jump (400 days) and a normal one are accepted.
    let (status, v) = try_call(&client, "POST", &url, Some(r#"{"seconds": 34560000}"#)).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = try_call(&client, "POST", &url, Some(r#"{"seconds": 0.5}"#)).await;
    assert_eq!(status, 200, "{v}");
    assert!((now(&sim).await - (before + 34_560_000.5)).abs() < 1e-3);
    let r = call(
        "GET",
        &format!(
            "{}{}?api-version={SC}",
            sim.url(),
            sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["systemData"]["createdAt"].is_string());
}

#[tokio::test]
async fn defect_13_every_control_endpoint_validates_its_inputs() {
    let sim = start(TenantSource::Small, false).await;
    let client = reqwest::Client::new();
    let base = sim.url().to_owned();
    let cases: Vec<(&str, String, Option<String>, &str)> = vec![
        (
            "POST",
            format!("{base}/_sim/oauth/code"),
            Some(r#"{"scope": [1, "org"]}"#.into()),
            "scope[0]",
        ),
        ("POST", format!("{base}/_sim/oauth/code"), Some(r#"{"scope": [""]}"#.into()), "scope[0]"),
        (
            "POST",
            format!("{base}/_sim/oauth/code"),
            Some(r#"{"scope": "org"}"#.into()),
            "'scope' must be an array",
        ),
        (
            "POST",
            format!("{base}/_sim/oauth/code"),
            Some(r#"{"scopes": ["org"]}"#.into()),
            "Unknown property 'scopes'",
        ),
        ("POST", format!("{base}/_sim/regions/west%00europe/fail"), None, "not a region name"),
        ("POST", format!("{base}/_sim/regions/{}/fail", "x".repeat(65)), None, "not a region name"),
        (
            "POST",
            format!("{base}/_sim/regions/westeurope/fail"),
            Some(r#"{"region": "x"}"#.into()),
            "takes no body",
        ),
        (
            "PUT",
            format!("{base}/_sim/faults"),
            Some(r#"{"spec": "latency=0ms..100y"}"#.into()),
            "above the maximum",
        ),
        (
            "PUT",
            format!("{base}/_sim/faults"),
            Some(r#"{"spec": "slow-lro=1e300x"}"#.into()),
            "at most",
        ),
        (
            "PUT",
            format!("{base}/_sim/faults"),
            Some(format!(r#"{{"spec": "seed={}"}}"#, "1".repeat(5000))),
            "longer than",
        ),
        ("PUT", format!("{base}/_sim/faults"), Some(r#"{"spec": 7}"#.into()), "'spec'"),
        (
            "PUT",
            format!("{base}/_sim/faults"),
            Some(r#"{"spec": "none", "seed": 1}"#.into()),
            "Unknown property 'seed'",
        ),
    ];
    for (method, url, body, mentions) in &cases {
        let (status, v) = try_call(&client, method, url, body.as_deref()).await;
        assert_400(status, &v, &format!("{method} {url} {body:?}"), mentions);
    }
    // Nothing was changed by the refused calls; valid ones still work.
    let r = call("GET", &format!("{base}/_sim/faults"), None).await;
    assert_eq!(r.body["outageRegions"], json!([]), "{}", r.body);
    let r =
        call("POST", &format!("{base}/_sim/oauth/code"), Some(&json!({"scope": ["org1"]}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call("POST", &format!("{base}/_sim/regions/West Europe/fail"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["outageRegions"], json!(["westeurope"]));
    let r = call(
        "PUT",
        &format!("{base}/_sim/faults"),
        Some(&json!({"spec": "latency=1ms..600s;slow-lro=1000000x"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn defect_13_concurrent_reads_and_deletes_of_one_connector_give_200_or_404() {
    let sim = start(TenantSource::Small, false).await;
    let client = reqwest::Client::new();
    let conn = format!("{}{}", sim.url(), sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "race-gh"));
    let body = json!({
        "location": "westeurope",
        "properties": {"environmentName": "Github", "hierarchyIdentifier": "race",
                       "environmentData": {"environmentType": "GithubScope"},
                       "offerings": [{"offeringType": "CspmMonitorGithub"}]}
    })
    .to_string();
    // Every route that looks the connector up again after the route checked it: reads answer
    // 200 or 404 (gone), deletes 200, 204 (nothing to delete) or 404.
    const READ: &[u16] = &[200, 404];
    const DELETE: &[u16] = &[200, 204, 404];
    let calls = [
        ("GET", format!("{conn}/devops/default?api-version={DEVOPS}"), READ),
        ("GET", format!("{conn}/devops?api-version={DEVOPS}"), READ),
        ("GET", format!("{conn}/devops/default/gitHubOwners?api-version={DEVOPS}"), READ),
        (
            "POST",
            format!("{conn}/devops/default/listAvailableGitHubOwners?api-version={DEVOPS}"),
            READ,
        ),
        ("GET", format!("{conn}/devops/default/operationResults/x?api-version={DEVOPS}"), READ),
        ("GET", format!("{conn}?api-version={SC}"), READ),
        ("DELETE", format!("{conn}/devops/default?api-version={DEVOPS}"), DELETE),
    ];
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..200 {
        let (s, v) =
            try_call(&client, "PUT", &format!("{conn}?api-version={SC}"), Some(&body)).await;
        assert!(s == 200 || s == 201, "iteration {i}: PUT {s} {v}");
        let mut tasks = Vec::new();
        for round in 0..3 {
            for (method, url, allowed) in calls.iter().cloned() {
                let client = client.clone();
                tasks.push(tokio::spawn(async move {
                    let status = try_call(&client, method, &url, None).await.0;
                    (format!("{method} {url}"), status, allowed)
                }));
            }
            if round == 1 {
                let client = client.clone();
                let url = format!("{conn}?api-version={SC}");
                tasks.push(tokio::spawn(async move {
                    let status = try_call(&client, "DELETE", &url, None).await.0;
                    (format!("DELETE {url}"), status, DELETE)
                }));
            }
        }
        for t in tasks {
            let (what, status, allowed) = t.await.expect("the task ends");
            assert!(
                allowed.contains(&status),
                "iteration {i}: {what} answered {status} (0: the connection was dropped)"
            );
            *statuses.entry(status).or_default() += 1;
        }
    }
    assert!(statuses.contains_key(&404) && statuses.contains_key(&200), "{statuses:?}");
    // Still serving.
    assert!(now(&sim).await >= 0.0);
    let r = call(
        "GET",
        &format!(
            "{}{}?api-version={SC}",
            sim.url(),
            sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
