//! Issue 17, acceptance "faults between lifeboat and Azurite": the run store's Blob client talks
//! to Azurite through [`FaultProxy`], which drops (before or after forwarding) and delays a
//! seeded 5% of requests. A journal-like sequence of appends (one Append Block per batch, each
//! at its `appendpos`, under the driver's lease) ends with every batch in the blob exactly once,
//! in order, and the proxy's counters show the faults happened.
//!
//! A batch whose request was dropped after Azurite took it is the case that matters: the client
//! does not know the outcome; its retry (the client's own, or the writer's) is refused with
//! `AppendPositionConditionNotMet`, and the writer settles it by reading its bytes back at that
//! position (never appending them twice). `append_durably` is that rule, as the journal writer on
//! Blob must apply it.

use super::{azurite, fresh_container, open};
use crate::support::faultproxy::{FaultProxy, Faults};
use bytes::Bytes;
use lifeboat::runstore::{BlobStore, StoreError};
use std::collections::HashMap;
use std::net::SocketAddr;

/// What one append came to.
#[derive(Debug, Default)]
struct Settled {
    /// Refused at its position, found already there: a retry of a write that had landed.
    found_landed: u64,
    /// Transient failures retried by the writer (beyond the client's own retries).
    retried: u64,
}

/// Appends `bytes` at `pos` until the outcome is known: `Ok(new length)`. A refusal at `pos`
/// (`AppendPosition`) reads back what is there: our bytes mean an earlier attempt landed.
async fn append_durably(
    s: &BlobStore,
    name: &str,
    bytes: &Bytes,
    pos: u64,
    lease: &str,
    settled: &mut Settled,
) -> u64 {
    for _ in 0..20 {
        match s.append(name, bytes.clone(), pos, Some(lease)).await {
            Ok(len) => return len,
            Err(StoreError::AppendPosition { .. }) => {
                let there = loop {
                    match s.get_range(name, pos).await {
                        Ok(b) => break b.unwrap_or_default(),
                        Err(e) if e.is_transient() => settled.retried += 1,
                        Err(e) => panic!("reading back at {pos}: {e}"),
                    }
                };
                assert!(
                    there.starts_with(bytes),
                    "position {pos} holds something else than this batch: {:?}",
                    String::from_utf8_lossy(&there)
                );
                settled.found_landed += 1;
                return pos + bytes.len() as u64;
            }
            Err(e) if e.is_transient() => settled.retried += 1,
            Err(e) => panic!("append at {pos}: {e}"),
        }
    }
    panic!("append at {pos} did not settle in 20 attempts");
}

/// Retries a call whose failures are all transient (setup and reading back).
macro_rules! settle {
    ($e:expr) => {{
        let mut n = 0;
        loop {
            match $e {
                Ok(v) => break v,
                Err(e) if e.is_transient() && n < 20 => n += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }};
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_through_dropped_and_delayed_requests_are_kept_once_each_in_order() {
    let Some(endpoint) = azurite() else { return };
    let container = fresh_container();
    let direct = open(&endpoint, &container, "faults");
    direct.create_container().await.expect("create the container");
    let target: SocketAddr = {
        let u = url::Url::parse(&endpoint).expect("endpoint");
        format!("{}:{}", u.host_str().unwrap_or("127.0.0.1"), u.port().unwrap_or(80))
            .parse()
            .expect("address")
    };
    let proxy = FaultProxy::start(target, Faults::five_percent(17)).await;
    let s = open(&proxy.url(&endpoint), &container, "faults");
    let name = "runs/r1/journal.jsonl";

    // Created once (a create-only put whose first attempt may have landed), leased for the run.
    match s.create_append(name, HashMap::new()).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
        Err(e) if e.is_transient() => settle!(match s.create_append(name, HashMap::new()).await {
            Err(StoreError::AlreadyExists { .. }) => Ok(()),
            other => other,
        }),
        Err(e) => panic!("{e}"),
    }
    let lease = "00000000-0000-4000-8000-000000000017";
    settle!(match s.acquire_lease(name, 60, lease).await {
        // A retried acquire by the same id after a landed first attempt.
        Err(StoreError::LeaseHeld { .. }) =>
            s.renew_lease(name, lease).await.map(|_| lease.to_string()),
        other => other,
    });

    // 150 batches of one to three journal-like lines each.
    let mut expected = Vec::new();
    let mut pos = 0u64;
    let mut settled = Settled::default();
    for batch in 0..150u32 {
        let lines: String = (0..=(batch % 3))
            .map(|i| {
                format!("{{\"seq\":{},\"batch\":{batch},\"i\":{i}}}\n", expected.len() + i as usize)
            })
            .collect();
        for l in lines.lines() {
            expected.push(l.to_string());
        }
        let bytes = Bytes::from(lines);
        pos = append_durably(&s, name, &bytes, pos, lease, &mut settled).await;
        if batch % 40 == 39 {
            settle!(s.renew_lease(name, lease).await);
        }
    }

    // Read directly (not through the proxy): every line once, in order; nothing after them.
    let (body, _) = direct.get(name).await.expect("read").expect("the journal exists");
    let got: Vec<String> = String::from_utf8_lossy(&body).lines().map(str::to_string).collect();
    assert_eq!(got.len(), expected.len(), "no line lost or duplicated");
    assert_eq!(got, expected);
    assert_eq!(body.len() as u64, pos);
    let c = proxy.counts();
    eprintln!(
        "faults: {c:?}; appends settled by reading back: {}; writer retries: {}; client round trips: {}",
        settled.found_landed,
        settled.retried,
        s.round_trips()
    );
    assert!(c.faults() > 0, "{c:?}");
    assert!(c.dropped_before > 0 && c.dropped_after > 0 && c.delayed > 0, "{c:?}");
}

/// Sequential test steps (`LIFEBOAT_TEST_STEPS=1`).
fn runbook(steps: usize) -> String {
    let mut s = String::from(
        "apiVersion: lifeboat/v1\nmetadata:\n  name: faults\nparams:\n  fx: { type: string }\nsteps:\n",
    );
    for i in 1..=steps {
        let needs = if i > 1 { format!(", needs: [s{:02}]", i - 1) } else { String::new() };
        s.push_str(&format!(
            "  - {{ id: s{i:02}, uses: test.idempotent{needs}, with: {{ effect_file: \"{{{{ params.fx }}}}\", sleep_ms: 0, label: s{i:02} }} }}\n"
        ));
    }
    s
}

/// The acceptance itself: `lifeboat run` with its run store on Azurite behind the proxy (5% of
/// requests dropped before or after forwarding, or delayed) completes; the record on Blob
/// verifies (chain, sequence), every step succeeded exactly once, and faults happened.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_on_a_run_store_behind_a_faulty_network_completes_with_nothing_lost_or_duplicated() {
    let Some(endpoint) = azurite() else { return };
    let store = super::fresh_store(&endpoint, "team").await;
    let target: SocketAddr = {
        let u = url::Url::parse(&endpoint).expect("endpoint");
        format!("{}:{}", u.host_str().unwrap_or("127.0.0.1"), u.port().unwrap_or(80))
            .parse()
            .expect("address")
    };
    let proxy = FaultProxy::start(target, Faults::five_percent(1717)).await;
    let tmp = tempfile::tempdir().unwrap();
    let steps = 30;
    std::fs::write(tmp.path().join("rb.yaml"), runbook(steps)).unwrap();
    let mut c = crate::support::cli::lifeboat();
    c.env("LIFEBOAT_STATE_DIR", tmp.path().join("state"))
        .env("LIFEBOAT_TEST_STEPS", "1")
        .env("LIFEBOAT_RUN_STORE", format!("az://{}/team", store.container()));
    for (k, v) in super::azurite_env(&proxy.url(&endpoint)) {
        c.env(k, v);
    }
    c.arg("run")
        .arg(tmp.path().join("rb.yaml"))
        .arg("--set")
        .arg(format!("fx={}", tmp.path().join("fx").display()))
        .args(["--run-id", "faulty"]);
    let out = crate::support::cli::output(c).await;
    let said = crate::support::cli::text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");

    let (record, _) = store
        .get(&lifeboat::runstore::remote::journal_blob("faulty"))
        .await
        .expect("read")
        .expect("the record exists");
    let parsed = lifeboat::journal::parse(std::path::Path::new("blob"), &record)
        .expect("the record parses and its chain verifies");
    assert!(parsed.torn_line.is_none());
    lifeboat::journal::verify_chain(&parsed.entries).expect("chain");
    let mut succeeded = std::collections::BTreeMap::new();
    for e in &parsed.entries {
        if e.payload.get("event").and_then(serde_json::Value::as_str) == Some("step_succeeded") {
            *succeeded.entry(e.payload["step"].as_str().unwrap_or("?").to_string()).or_insert(0) +=
                1;
        }
    }
    assert_eq!(succeeded.len(), steps, "{succeeded:?}");
    assert!(succeeded.values().all(|n| *n == 1), "each step's success once: {succeeded:?}");
    // Each step ran once (the test kind writes one effect line per execution).
    let effects = std::fs::read_to_string(tmp.path().join("fx")).unwrap_or_default();
    let mut ran = std::collections::BTreeMap::new();
    for l in effects.lines() {
        *ran.entry(l.split('\t').nth(2).unwrap_or("?").to_string()).or_insert(0) += 1;
    }
    assert_eq!(ran, succeeded, "executions per step");
    let c = proxy.counts();
    eprintln!("run behind the proxy: {c:?}; {} journal entries", parsed.entries.len());
    assert!(c.faults() > 0, "{c:?}");
}
