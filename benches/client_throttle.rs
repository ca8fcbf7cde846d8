//! Throttling benchmark: PUT 2,000 Azure DevOps repo settings against a local stub that enforces
//! ARM's write bucket (200 burst, 10 per second, 429 + Retry-After when empty, the
//! `x-ms-ratelimit-remaining-subscription-writes` header on every answer), with lifeboat's client
//! versus a plain sequential client that sleeps on 429. Time runs 100× faster in both the stub and
//! the clients, so the run takes seconds; figures are reported in simulated seconds. Prints
//! figures, asserts nothing.
//!
//! The theoretical minimum is set by the bucket: 200 writes at once, then 10 per second, so
//! 2,000 writes need (2,000 − 200) / 10 = 180 s.
//!
//! Run: `cargo bench --bench client_throttle` (add `--profile dev` to skip a release build).

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use futures::StreamExt;
use lifeboat::azure::credential::StaticToken;
use lifeboat::azure::models::{
    ActionableRemediation, AzureDevOpsRepo, AzureDevOpsRepoProperties, RemediationState,
};
use lifeboat::azure::pipeline::{Pipeline, PipelineOptions, RetryPolicy};
use lifeboat::azure::timer::{Timer, TokioTimer};
use lifeboat::azure::{ArmClient, ResourceId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCALE: f64 = 100.0;
const WRITES: usize = 2_000;
const BURST: f64 = 200.0;
const RATE: f64 = 10.0;
const SUB: &str = "00000000-0000-0000-0000-0000000000b1";

struct Bucket {
    timer: TokioTimer,
    state: Mutex<(f64, Duration)>,
    ok: AtomicU64,
    throttled: AtomicU64,
}

impl Bucket {
    fn take(&self) -> Result<u64, u64> {
        let mut s = self.state.lock().unwrap();
        let now = self.timer.now();
        s.0 = (s.0 + now.saturating_sub(s.1).as_secs_f64() * RATE).min(BURST);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            Ok(s.0.floor() as u64)
        } else {
            // ARM answers whole seconds.
            Err(((1.0 - s.0) / RATE).ceil().max(1.0) as u64)
        }
    }
}

async fn stub() -> (String, Arc<Bucket>, tokio::task::JoinHandle<()>) {
    let bucket = Arc::new(Bucket {
        timer: TokioTimer::scaled(SCALE),
        state: Mutex::new((BURST, Duration::ZERO)),
        ok: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
    });
    let b = bucket.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let b = b.clone();
        async move {
            let mut h = HeaderMap::new();
            match b.take() {
                Ok(remaining) => {
                    b.ok.fetch_add(1, Ordering::Relaxed);
                    h.insert("x-ms-ratelimit-remaining-subscription-writes", remaining.into());
                    (StatusCode::OK, h, body).into_response()
                }
                Err(retry_after) => {
                    b.throttled.fetch_add(1, Ordering::Relaxed);
                    h.insert("retry-after", retry_after.into());
                    h.insert("x-ms-ratelimit-remaining-subscription-writes", 0u64.into());
                    (StatusCode::TOO_MANY_REQUESTS, h, r#"{"error":{"code":"SubscriptionRequestsThrottled","message":"throttled"}}"#).into_response()
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, bucket, task)
}

fn repo_body() -> AzureDevOpsRepo {
    AzureDevOpsRepo::with_properties(AzureDevOpsRepoProperties {
        actionable_remediation: Some(ActionableRemediation {
            state: Some(RemediationState::Enabled),
            ..Default::default()
        }),
        ..Default::default()
    })
}

struct Figures {
    name: &'static str,
    elapsed_sim_s: f64,
    throttled: u64,
    ok: u64,
}

async fn lifeboat_client(concurrency: usize) -> Figures {
    let (url, bucket, task) = stub().await;
    let timer = TokioTimer::scaled(SCALE);
    let pipeline = Pipeline::new(PipelineOptions {
        endpoint: url::Url::parse(&url).unwrap(),
        scope: "https://management.azure.com/.default".into(),
        token: Some(Arc::new(StaticToken(None))),
        timer: Arc::new(timer.clone()),
        retry: RetryPolicy::new(10, Duration::from_millis(800), Duration::from_secs(60), Some(42)),
        throttle: true,
        timeout: Duration::from_secs(30),
        observer: None,
    })
    .unwrap();
    let client = ArmClient::new(pipeline);
    let connector = ResourceId::connector(SUB, "rg", "ado");
    let body = repo_body();
    let start = timer.now();
    let results: Vec<_> = futures::stream::iter(0..WRITES)
        .map(|i| {
            let (client, connector, body) = (&client, &connector, &body);
            async move {
                client
                    .put_azure_devops_repo(connector, "org", "proj", &format!("repo-{i}"), body)
                    .await
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = timer.now() - start;
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 0, "every write succeeds");
    task.abort();
    Figures {
        name: if concurrency == 1 {
            "lifeboat client, sequential"
        } else {
            "lifeboat client, 8 in flight"
        },
        elapsed_sim_s: elapsed.as_secs_f64(),
        throttled: bucket.throttled.load(Ordering::Relaxed),
        ok: bucket.ok.load(Ordering::Relaxed),
    }
}

async fn plain_client() -> Figures {
    let (url, bucket, task) = stub().await;
    let timer = TokioTimer::scaled(SCALE);
    let http = reqwest::Client::new();
    let body = serde_json::to_vec(&repo_body()).unwrap();
    let start = timer.now();
    for i in 0..WRITES {
        let u = format!("{url}subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado/devops/default/azureDevOpsOrgs/org/projects/proj/repos/repo-{i}?api-version=2025-03-01");
        loop {
            let r = http
                .put(&u)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            if r.status() == 429 {
                let secs: u64 = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                timer.sleep(Duration::from_secs(secs)).await;
                continue;
            }
            break;
        }
    }
    let elapsed = timer.now() - start;
    task.abort();
    Figures {
        name: "plain client, sleeps on 429",
        elapsed_sim_s: elapsed.as_secs_f64(),
        throttled: bucket.throttled.load(Ordering::Relaxed),
        ok: bucket.ok.load(Ordering::Relaxed),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let minimum = (WRITES as f64 - BURST) / RATE;
    let runs = vec![lifeboat_client(8).await, lifeboat_client(1).await, plain_client().await];
    println!("PUT {WRITES} Azure DevOps repo settings; ARM write bucket {BURST} burst, {RATE}/s; time scale {SCALE}x");
    println!("theoretical minimum: {minimum:.1} simulated s");
    println!(
        "{:<30} {:>14} {:>12} {:>8} {:>12} {:>10}",
        "client", "elapsed (s)", "vs minimum", "429s", "429 share", "2xx"
    );
    for f in &runs {
        let total = f.ok + f.throttled;
        println!(
            "{:<30} {:>14.1} {:>11.3}x {:>8} {:>11.2}% {:>10}",
            f.name,
            f.elapsed_sim_s,
            f.elapsed_sim_s / minimum,
            f.throttled,
            100.0 * f.throttled as f64 / total.max(1) as f64,
            f.ok
        );
    }
}
