//! Acceptance of `backup create` against the simulated Azure (in-process, 127.0.0.1): the
//! `small` tenant is captured completely (compared with the simulator's own state), a second
//! backup writes nothing new, one changed repo setting is one new object and shows in `diff`;
//! API calls follow pages, not items (50,000-repo tenant); planted secrets appear in
//! no stored file, output or log.
//!
//! The binary runs with `--arm-endpoint <sim> --auth none --backup-store <tempdir>`, so the
//! production code path (CLI → `azure::connect` → `ArmReader` → `backup::collect`) is the one
//! tested.

mod check;
mod expect;

use lifeboat::backup::arm_reader::ArmReader;
use lifeboat::backup::snapshot::{find_snapshot, load_manifest, load_object};
use lifeboat::backup::{
    collect, AnomalyRules, CreateOptions, Keys, Manifest, ResourceKind, Scope, Store,
};
use lifeboat::sim::{RunningSim, SimConfig, TenantSource};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

async fn start(tenant: TenantSource, time_scale: f64) -> RunningSim {
    crate::support::sim::start(SimConfig { tenant, time_scale, ..SimConfig::default() }).await
}

/// Output of one run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `lifeboat` against the simulator and the store (off the async workers, so the in-process
/// simulator keeps answering).
async fn lifeboat(sim: &RunningSim, store: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = crate::support::cli::lifeboat();
    c.args(["--arm-endpoint", sim.url(), "--auth", "none", "--backup-store"]).arg(store).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = crate::support::cli::output(c).await;
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

async fn manifest(store_dir: &Path, id: &str) -> Manifest {
    let store = Store::open(store_dir.to_str().unwrap(), Keys::default()).unwrap();
    let info = find_snapshot(&store, id).await.unwrap();
    load_manifest(&store, &info).await.unwrap()
}

fn json_of(r: &Run) -> Value {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn ids(m: &Manifest) -> BTreeSet<String> {
    m.resources.keys().map(|k| k.to_ascii_lowercase()).collect()
}

/// ARM calls in the simulator's log (its `/_sim/` control API excluded).
fn arm_calls(sim: &RunningSim) -> usize {
    sim.requests().iter().filter(|r| !r.path.starts_with("/_sim")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_tenant_is_captured_completely_and_incrementally() {
    let sim = start(TenantSource::Small, 0.0).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let page = SimConfig::default().page_size;

    // 1. Everything the tenant holds, nothing more (aws-weu is not DevOps).
    let before = arm_calls(&sim);
    let s1 = json_of(&lifeboat(&sim, &store, &["--output", "json", "backup", "create"], &[]).await);
    let calls = arm_calls(&sim) - before;
    let want = expect::capture(&sim.cloud());
    let m1 = manifest(&store, s1["id"].as_str().unwrap()).await;
    assert_eq!(ids(&m1), want.ids, "captured resources vs the simulator's state");
    assert_eq!(s1["resources"].as_u64().unwrap() as usize, want.ids.len());
    assert_eq!(s1["new_objects"].as_u64().unwrap() as usize, want.ids.len(), "all distinct");
    assert_eq!(calls, expect::calls(&sim.cloud(), page, 100, None), "one call per list page");
    // Settings captured as the API reports them.
    let repo = |m: &Manifest, path: &str| {
        m.resources
            .iter()
            .find(|(k, _)| k.to_ascii_lowercase().ends_with(path))
            .map(|(_, e)| e.clone())
            .unwrap_or_else(|| panic!("{path} captured"))
    };
    let web = repo(&m1, "azuredevopsorgs/contoso/projects/payments/repos/payments-web");
    assert_eq!(web.annotation.as_deref(), Some("Disabled"));
    assert_eq!(web.onboarding.as_deref(), Some("Onboarded"));
    assert!(
        m1.resources.keys().all(|k| !k.contains("adventure-works")),
        "adventure-works is owned by nobody: not listed"
    );
    assert_eq!(m1.needs_reauthorization.len(), 4, "every DevOps connector");
    // The stored body is the API's, field for field.
    let api_body = {
        let c = expect::devops_connector_id(&sim.cloud(), "ado-weu");
        let url = format!(
            "{}{c}/devops/default/azureDevOpsOrgs/contoso/projects/payments/repos/payments-web?api-version=2025-03-01",
            sim.url().trim_end_matches('/')
        );
        reqwest::get(url).await.unwrap().json::<Value>().await.unwrap()
    };
    let store_h = Store::open(store.to_str().unwrap(), Keys::default()).unwrap();
    let stored = load_object(&store_h, &web.hash).await.unwrap();
    assert_eq!(stored, api_body, "lossless");

    // 2. `show latest` names every captured resource.
    let show = json_of(
        &lifeboat(&sim, &store, &["--output", "json", "backup", "show", "latest"], &[]).await,
    );
    let tree = show["tree"].as_array().unwrap();
    assert_eq!(tree.len(), want.ids.len(), "{show:#}");
    assert_eq!(show["counts"][ResourceKind::AzureDevOpsRepo.as_str()], json!(want.ado_repos));
    assert_eq!(show["counts"][ResourceKind::GitHubRepo.as_str()], json!(want.github_repos));
    assert_eq!(show["counts"][ResourceKind::GitLabGroup.as_str()], json!(want.gitlab_groups));
    assert_eq!(show["counts"][ResourceKind::GitLabProject.as_str()], json!(want.gitlab_projects));
    assert_eq!(show["counts"][ResourceKind::Connector.as_str()], json!(4));
    assert_eq!(show["id"], s1["id"]);

    // 3. Unchanged tenant: only a manifest (snapshot file names have second precision).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let s2 = json_of(&lifeboat(&sim, &store, &["--output", "json", "backup", "create"], &[]).await);
    assert_eq!(s2["new_objects"], json!(0), "{s2:#}");
    assert_eq!(s2["parent"], s1["id"]);

    // 4. One repo's annotation setting changed through ARM: one new object, and diff shows it.
    let c = expect::devops_connector_id(&sim.cloud(), "ado-weu");
    let url = format!(
        "{}{c}/devops/default/azureDevOpsOrgs/contoso/projects/payments/repos/payments-api?api-version=2025-03-01",
        sim.url().trim_end_matches('/')
    );
    let r = reqwest::Client::new()
        .patch(&url)
        .json(&json!({"properties": {"actionableRemediation": {"state": "Disabled"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    sim.advance(Duration::from_secs(10)); // the long-running operation completes
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let s3 = json_of(&lifeboat(&sim, &store, &["--output", "json", "backup", "create"], &[]).await);
    assert_eq!(s3["new_objects"], json!(1), "{s3:#}");
    let (a, b) = (s2["id"].as_str().unwrap(), s3["id"].as_str().unwrap());
    let d =
        json_of(&lifeboat(&sim, &store, &["--output", "json", "backup", "diff", a, b], &[]).await);
    assert_eq!(d["added"], json!([]), "{d:#}");
    assert_eq!(d["removed"], json!([]), "{d:#}");
    let changed = d["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{d:#}");
    assert!(changed[0]["id"].as_str().unwrap().ends_with("/repos/payments-api"), "{d:#}");
    let paths: Vec<&str> = changed[0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.contains("actionableRemediation")),
        "the changed field is named: {paths:?}"
    );
    let text = lifeboat(&sim, &store, &["backup", "diff", a, b], &[]).await;
    assert!(text.stdout.contains("actionableRemediation"), "{}", text.stdout);
    assert!(text.stdout.contains("\"Disabled\""), "{}", text.stdout);

    // 5. The store verifies, data included.
    let v = lifeboat(&sim, &store, &["backup", "verify", "--read-data"], &[]).await;
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_flags_limit_what_is_read() {
    let sim = start(TenantSource::Small, 0.0).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let east = "00000000-0000-4000-8000-0000000000b2";
    let s = json_of(
        &lifeboat(
            &sim,
            &store,
            &[
                "--output",
                "json",
                "backup",
                "create",
                "--subscription",
                east,
                "--connector",
                "github-eus",
            ],
            &[],
        )
        .await,
    );
    let m = manifest(&store, s["id"].as_str().unwrap()).await;
    assert!(!m.resources.is_empty());
    assert!(
        m.resources.keys().all(|k| k.contains("/securityConnectors/github-eus")),
        "{:?}",
        m.resources.keys()
    );
    // No Resource Graph query when subscriptions are given.
    assert!(sim.requests().iter().all(|r| !r.path.contains("ResourceGraph")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_any_call() {
    let sim = start(TenantSource::Small, 0.0).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    for (args, needle) in [
        (vec!["backup", "create", "--subscription", "a/b"], "is not a subscription ID"),
        (vec!["backup", "create", "--recipient", "age1nope"], "is not an age X25519 public key"),
        (vec!["backup", "create", "--annotation-drop-threshold", "2"], "is not a share"),
    ] {
        let r = lifeboat(&sim, &store, &args, &[]).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
    let r = lifeboat(&sim, Path::new("ftp://nowhere/x"), &["backup", "create"], &[]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(arm_calls(&sim), 0, "nothing reached the simulator");
    assert!(!store.exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_error_fails_without_a_snapshot() {
    let sim = start(TenantSource::Small, 0.0).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // A well-formed subscription the tenant does not have: ARM answers 404 (not retried).
    let r = lifeboat(
        &sim,
        &store,
        &["backup", "create", "--subscription", "00000000-0000-4000-8000-0000000000ff"],
        &[],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no snapshot was written"), "{}", r.stderr);
    assert!(r.stderr.contains("SubscriptionNotFound"), "the service's reason: {}", r.stderr);
    let snaps = store.join("snapshots");
    assert!(!snaps.exists() || std::fs::read_dir(&snaps).unwrap().next().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_reach_store_output_or_logs() {
    let sim = start(TenantSource::Small, 0.0).await;
    // An authorization code, consumed by a real configuration update of a connector.
    let code = sim.mint_code();
    let c = expect::devops_connector_id(&sim.cloud(), "ado-weu");
    let url =
        format!("{}{c}/devops/default?api-version=2025-03-01", sim.url().trim_end_matches('/'));
    let r = reqwest::Client::new()
        .patch(&url)
        .json(&json!({"properties": {"authorization": {"code": code}, "autoDiscovery": "Enabled"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    sim.advance(Duration::from_secs(10));
    let cfg: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(cfg["properties"]["provisioningState"], "Succeeded", "{cfg:#}");

    let age_secret = {
        use age::secrecy::ExposeSecret;
        age::x25519::Identity::generate().to_string().expose_secret().to_string()
    };
    let client_secret = "Zq8~planted-client-secret-7f3a9c";
    let token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.planted-token.c2lnbmF0dXJl";
    let env = [
        ("AZURE_CLIENT_SECRET", client_secret),
        ("AZURE_CLIENT_ID", "11111111-0000-0000-0000-000000000001"),
        ("AZURE_TENANT_ID", "11111111-2222-4333-8444-555555555555"),
        ("AZURE_FEDERATED_TOKEN", token),
        ("IDENTITY_HEADER", token),
        ("LIFEBOAT_BACKUP_IDENTITY", age_secret.as_str()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let state = dir.path().join("state");
    let st = state.to_str().unwrap();
    let mut outputs = String::new();
    for args in [
        vec!["--log", "trace", "--state-dir", st, "backup", "create"],
        vec!["--log", "trace", "--state-dir", st, "--output", "json", "backup", "create"],
        vec!["--log", "trace", "--state-dir", st, "backup", "show", "latest"],
        vec!["--log", "trace", "--state-dir", st, "backup", "list"],
    ] {
        let r = lifeboat(&sim, &store, &args, &env).await;
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        outputs.push_str(&r.stdout);
        outputs.push_str(&r.stderr);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(outputs.contains("TRACE") || outputs.contains("DEBUG"), "trace logging was on");
    let secrets = [code.as_str(), client_secret, token, age_secret.as_str()];
    for s in secrets {
        assert!(!outputs.contains(s), "a planted secret is in the output/logs");
    }
    // Every file the run left (store and state dir).
    let mut files = 0;
    for root in [&store, &state] {
        for f in walk(root) {
            let bytes = std::fs::read(&f).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for s in secrets {
                assert!(!text.contains(s), "a planted secret is in {}", f.display());
            }
            files += 1;
        }
    }
    assert!(files > 10, "the scan read the store ({files} files)");
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// 50,000 repos: API calls against the tenant's shape, elapsed time and peak RSS (printed).
/// About 16 s in a debug build. Figures: `cargo test --test it backup_sim::large -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_tenant_calls_follow_pages() {
    let repos = 50_000;
    let sim = start(TenantSource::Large { repos, seed: 7 }, 1.0).await;
    let page = SimConfig::default().page_size;
    let want = expect::capture(&sim.cloud());
    assert_eq!(want.ado_repos, repos);
    let expected = expect::calls(&sim.cloud(), page, 100, None);
    let reader = ArmReader::new(crate::support::sim::client(sim.url()));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), Keys::default()).unwrap();
    let opts = CreateOptions {
        scope: Scope::default(),
        now: time::macros::datetime!(2026-01-01 00:00 UTC),
        rules: AnomalyRules::default(),
        immutable: false,
    };
    let hwm_before = vm_hwm_kib();
    let before = arm_calls(&sim);
    let t = Instant::now();
    let s = collect(&reader, &store, opts).await.unwrap();
    let elapsed = t.elapsed();
    let log = sim.requests();
    let calls = log.iter().filter(|r| !r.path.starts_with("/_sim")).count() - before;
    let throttled = log.iter().filter(|r| r.status == 429).count();
    let hwm = vm_hwm_kib();
    println!(
        "large tenant: {repos} repos, {} resources captured in {:.2?}; API calls {calls} (expected from shape {expected}, ratio {:.3}; {throttled} answered 429); client calls logged {}; peak RSS (VmHWM, sim in-process) {} MiB (before the backup {} MiB)",
        s.resources,
        elapsed,
        calls as f64 / expected as f64,
        reader.client().call_log().len(),
        hwm / 1024,
        hwm_before / 1024,
    );
    assert_eq!(s.resources as usize, want.ids.len());
    let ratio = calls as f64 / expected as f64;
    assert!((0.9..=1.1).contains(&ratio), "{calls} calls vs {expected} expected");
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
