//! Helpers: start a simulator with a frozen clock, and a tiny JSON client.

pub use crate::support::sim::start as start_with;
use lifeboat::sim::{RunningSim, SimConfig, TenantSource};
use serde_json::Value;
use std::time::Duration;

pub const DEVOPS: &str = "2025-03-01";
pub const SC: &str = "2026-08-01-preview";

/// A simulator on the `small` tenant (unless `tenant` says otherwise) with a frozen clock.
pub async fn start(tenant: TenantSource, throttle: bool) -> RunningSim {
    let mut cfg = SimConfig { tenant, time_scale: 0.0, ..SimConfig::default() };
    cfg.throttle.enabled = throttle;
    start_with(cfg).await
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub async fn call(method: &str, url: &str, body: Option<&Value>) -> Resp {
    let client = reqwest::Client::new();
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(m, url);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.expect("the simulator answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    Resp { status, headers, body }
}

/// Creates resource group `rg` of `sub` in `location` (kept if it exists): as in ARM, a
/// connector can only be created in a group that exists.
pub async fn group(sim: &RunningSim, sub: &str, rg: &str, location: &str) {
    let url =
        format!("{}/subscriptions/{sub}/resourcegroups/{rg}?api-version=2025-04-01", sim.url());
    let r = call("PUT", &url, Some(&serde_json::json!({"location": location}))).await;
    assert!(r.status == 200 || r.status == 201, "creating group {rg}: {} {}", r.status, r.body);
}

pub fn sc_path(sub: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/securityConnectors/{name}")
}

/// Polls an `Azure-AsyncOperation` URL, advancing the simulated clock between polls.
pub async fn finish_lro(sim: &RunningSim, url: &str) -> Value {
    for _ in 0..20 {
        let r = call("GET", url, None).await;
        assert_eq!(r.status, 200, "operation status: {}", r.body);
        let status = r.body["status"].as_str().unwrap_or("").to_string();
        if status == "Succeeded" || status == "Failed" {
            return r.body;
        }
        let wait = r
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        sim.advance(Duration::from_secs(wait));
    }
    panic!("the operation never completed");
}

pub fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}
