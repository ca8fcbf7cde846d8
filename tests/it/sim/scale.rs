//! Throttling under load, the large tenant (paged listings, the seed query over several pages)
//! and the `lifeboat sim serve` binary. Figures are printed (`--nocapture`), never asserted as
//! timings: only simulated time is asserted.

use crate::sim::common::*;
use lifeboat::sim::tenant::SMALL_SUB_PROD;
use lifeboat::sim::TenantSource;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

/// 1,000 writes to one subscription as fast as the client can, honouring `Retry-After` by
/// advancing the simulated clock: 200 burst + 800 at 10/s = 80 s of simulated time.
#[tokio::test]
async fn thousand_writes_take_eighty_simulated_seconds() {
    let sim = start(TenantSource::Small, true).await;
    let url = format!(
        "{}{}?api-version={SC}",
        sim.url(),
        sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")
    );
    let client = reqwest::Client::new();
    let t0 = sim.shared().clock.now();
    let (mut done, mut throttled) = (0, 0);
    while done < 1000 {
        let r = client
            .patch(&url)
            .json(&json!({"tags": {"n": done.to_string()}}))
            .send()
            .await
            .expect("send");
        match r.status().as_u16() {
            200 => {
                assert!(r.headers().contains_key("x-ms-ratelimit-remaining-subscription-writes"));
                done += 1;
            }
            429 => {
                throttled += 1;
                let wait: u64 =
                    r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
                let v: Value = r.json().await.expect("json");
                assert_eq!(v["error"]["code"], "SubscriptionRequestsThrottled");
                sim.advance(Duration::from_secs(wait));
            }
            s => panic!("unexpected status {s}"),
        }
    }
    let elapsed = sim.shared().clock.now() - t0;
    println!("1000 writes: {elapsed:.1} simulated s, {throttled} responses 429");
    assert!((76.0..=84.0).contains(&elapsed), "80 s ±5% expected, got {elapsed}");
    assert!(throttled >= 80);
    // Reads have their own bucket.
    let r = client.get(&url).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().contains_key("x-ms-ratelimit-remaining-subscription-reads"));
    sim.shutdown().await.expect("shutdown");
}

async fn get_all(url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = Some(url.to_string());
    while let Some(u) = next {
        let r = call("GET", &u, None).await;
        assert_eq!(r.status, 200, "{u}: {}", r.body);
        out.extend(r.body["value"].as_array().cloned().unwrap_or_default());
        next = r.body["nextLink"].as_str().map(str::to_string);
    }
    out
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// The large tenant: every one of 50,000 repos through paged listings, and the seed query over
/// several Resource Graph pages.
#[tokio::test]
async fn large_tenant_lists_every_repo_and_pages_the_seed_query() {
    let t = Instant::now();
    let sim = start(TenantSource::Large { repos: 50_000, seed: 7 }, false).await;
    println!("large tenant (50,000 repos) started in {:?}", t.elapsed());
    let t = Instant::now();
    let subs = sim.cloud().subscriptions.clone();
    let mut repos = 0;
    let mut requests = 0;
    for sub in &subs {
        let conns = get_all(&format!("{}/subscriptions/{sub}/providers/Microsoft.Security/securityConnectors?api-version={SC}", sim.url())).await;
        for c in conns.iter().filter(|c| c["properties"]["environmentName"] == "AzureDevOps") {
            let id = c["id"].as_str().expect("id");
            let orgs = get_all(&format!(
                "{}{id}/devops/default/azureDevOpsOrgs?api-version={DEVOPS}",
                sim.url()
            ))
            .await;
            for o in orgs {
                let projects = get_all(&format!(
                    "{}{}/projects?api-version={DEVOPS}",
                    sim.url(),
                    o["id"].as_str().expect("id")
                ))
                .await;
                for p in projects {
                    let r = get_all(&format!(
                        "{}{}/repos?api-version={DEVOPS}",
                        sim.url(),
                        p["id"].as_str().expect("id")
                    ))
                    .await;
                    repos += r.len();
                    requests += 1;
                }
            }
        }
    }
    println!("listed {repos} repos ({requests} repo listings) in {:?}; peak RSS of the test process {} MiB", t.elapsed(), peak_rss_kib() / 1024);
    assert_eq!(repos, 50_000);

    let q = "resources | extend connectorType = tostring(parse_json(properties[\"environmentName\"])) | where type == \"microsoft.security/securityconnectors\" | where connectorType in (\"AzureDevOps\", \"Github\", \"GitLab\") | project connectorResourceId = id, region = location";
    let g =
        format!("{}/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01", sim.url());
    let mut body = json!({"query": q, "options": {"$top": 50}});
    let (mut ids, mut pages) = (Vec::new(), 0);
    loop {
        let r = call("POST", &g, Some(&body)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        ids.extend(
            r.body["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|d| d["connectorResourceId"].as_str().unwrap_or("").to_string()),
        );
        match r.body.get("$skipToken") {
            Some(t) => body["options"] = json!({"$skipToken": t, "$top": 50}),
            None => break,
        }
    }
    let mut want: Vec<String> = sim
        .cloud()
        .connectors
        .values()
        .filter(|c| c.env().is_some())
        .map(|c| c.id.clone())
        .collect();
    want.sort();
    ids.sort();
    assert_eq!(ids, want);
    assert!(pages >= 4, "{pages} pages");
    println!("seed query: {} DevOps connectors over {pages} pages", ids.len());
    sim.shutdown().await.expect("shutdown");
}

/// `lifeboat sim serve`: first stdout line, a request, clean shutdown on SIGTERM, state saved.
#[tokio::test]
async fn serve_binary_prints_url_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let t = Instant::now();
    let mut child = crate::support::cli::lifeboat()
        .args(["sim", "serve", "--tenant", "small", "--time-scale", "60", "--state"])
        .arg(&state)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("line");
    println!("sim serve --tenant small ready in {:?}", t.elapsed());
    let url = line.trim().strip_prefix("listening on ").expect("first line").to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let r = call(
        "GET",
        &format!("{url}{}?api-version={SC}", sc_path(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu")),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    // SAFETY: kill(2) on the PID of our own child process; no memory is shared.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    assert!(state.exists(), "the state is saved on SIGTERM");

    let out = crate::support::cli::lifeboat()
        .args(["sim", "serve", "--listen", "0.0.0.0:0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "a non-loopback address is bad usage");
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = crate::support::cli::lifeboat()
        .args(["sim", "serve", "--faults", "nonsense=1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

/// Starts `sim serve --tenant large --repos 50000` and reports the time to its first line.
#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture to print the figures"]
async fn bench_serve_large_startup() {
    let t = Instant::now();
    let mut time = std::process::Command::new("/usr/bin/time");
    let mut child = crate::support::cli::clean_env(&mut time)
        .args(["-v"])
        .arg(crate::support::cli::bin())
        .args(["sim", "serve", "--tenant", "large", "--repos", "50000", "--throttle", "off"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn /usr/bin/time");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("line");
    println!(
        "sim serve --tenant large --repos 50000: first line after {:?}: {}",
        t.elapsed(),
        line.trim()
    );
    let pid = child.id();
    // /usr/bin/time forwards no signal: signal its only child, found by PID in /proc.
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for c in children.split_whitespace().filter_map(|c| c.parse::<i32>().ok()) {
        // SAFETY: kill(2) on the PID of the process this test started through /usr/bin/time.
        unsafe { libc::kill(c, libc::SIGTERM) };
    }
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    for l in err.lines().filter(|l| l.contains("Maximum resident") || l.contains("Elapsed")) {
        println!("{}", l.trim());
    }
}
