//! The live drill against the simulator standing in for Azure: it writes only to what it
//! created (asserted from the simulator's request log), removes it, and `--cleanup` removes what
//! an interrupted live drill left, whatever the interruption point.

use crate::drill::{lifeboat, text};
use lifeboat::sim::{RunningSim, SimConfig, TenantSource};
use std::path::Path;

const PROD: &str = "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-devsec-weu/providers/Microsoft.Security/securityConnectors/ado-weu";

async fn start() -> RunningSim {
    // Simulated time runs fast so long-running operations end within the client's polls.
    let cfg = SimConfig { tenant: TenantSource::Small, time_scale: 1000.0, ..SimConfig::default() };
    crate::support::sim::start(cfg).await
}

/// Runs the binary off the async runtime, so the in-process simulator keeps serving.
async fn run(
    state: &Path,
    url: &str,
    args: Vec<String>,
    failpoint: Option<&str>,
) -> std::process::Output {
    let mut c = lifeboat(state);
    c.args(["--arm-endpoint", url, "--auth", "none", "drill"]).args(args);
    if let Some(f) = failpoint {
        c.env("LIFEBOAT_DRILL_FAILPOINT", f);
    }
    tokio::task::spawn_blocking(move || c.output().expect("lifeboat runs")).await.unwrap()
}

fn live_args(state: &Path, sim: &RunningSim, run_id: &str) -> Vec<String> {
    let code = state.join(format!("{run_id}.code"));
    std::fs::write(&code, sim.mint_code()).unwrap();
    [
        "--live",
        "--connector",
        PROD,
        "--drill-region",
        "northeurope",
        "--run-id",
        run_id,
        "--authorization-code-file",
        code.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Writes (PUT, PATCH, DELETE, and POSTs other than list actions) that targeted production.
fn writes_to_production(sim: &RunningSim) -> Vec<String> {
    let prod = PROD.to_ascii_lowercase();
    sim.requests()
        .into_iter()
        .filter(|e| !e.path.starts_with("/_sim"))
        .filter(|e| {
            let p = e.path.to_ascii_lowercase();
            let read_post = e.method == "POST"
                && (p.contains("/listavailable")
                    || p.contains("/listsubgroups")
                    || p.contains("microsoft.resourcegraph"));
            e.method != "GET" && !read_post
        })
        .filter(|e| {
            let p = e.path.split('?').next().unwrap_or("").to_ascii_lowercase();
            p == prod || p.starts_with(&format!("{prod}/"))
        })
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

fn drill_connectors(sim: &RunningSim) -> Vec<String> {
    sim.cloud()
        .connectors
        .values()
        .filter(|c| c.name.contains("-drill-"))
        .map(|c| c.name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_drill_never_writes_to_production_and_removes_what_it_created() {
    let sim = start().await;
    let state = tempfile::tempdir().unwrap();
    let owners_before = sim.cloud().owners.clone();
    let out = run(state.path(), sim.url(), live_args(state.path(), &sim, "live1"), None).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("verdict: PASSED"), "{t}");
    assert_eq!(writes_to_production(&sim), Vec::<String>::new());
    // The drill did write: its own connector and configuration, then removed them.
    let log = sim.requests();
    let drill_writes: Vec<_> =
        log.iter().filter(|e| e.path.contains("-drill-") && e.method != "GET").collect();
    assert!(
        drill_writes.iter().any(|e| e.method == "PUT" && e.path.contains("/devops/default")),
        "{drill_writes:?}"
    );
    assert!(drill_writes.iter().any(|e| e.method == "DELETE"), "{drill_writes:?}");
    assert_eq!(drill_connectors(&sim), Vec::<String>::new());
    assert_eq!(sim.cloud().owners, owners_before, "ownership changed");
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(state.path().join("drills/live1/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["mode"], "live");
    assert!(doc["verifications"].to_string().contains("production connector unchanged"));
    // The support request is drafted, not submitted.
    assert!(state.path().join("drills/live1/support-request.md").is_file());
    assert!(!log
        .iter()
        .any(|e| e.path.to_ascii_lowercase().contains("supporttickets/") && e.method == "PUT"));
    // The code is nowhere in what the drill wrote.
    let code = std::fs::read_to_string(state.path().join("live1.code")).unwrap();
    for f in ["report.json", "report.html", "ledger.jsonl", "support-request.md"] {
        let body = std::fs::read_to_string(state.path().join("drills/live1").join(f)).unwrap();
        assert!(!body.contains(code.trim()), "{f} holds the code");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_what_an_interrupted_live_drill_created() {
    let sim = start().await;
    let state = tempfile::tempdir().unwrap();
    for point in ["before-create-connector", "after-create-connector", "after-reapply-settings"] {
        let id = format!("cut-{point}");
        let out =
            run(state.path(), sim.url(), live_args(state.path(), &sim, &id), Some(point)).await;
        assert!(
            !out.status.success(),
            "{point}: the failpoint did not stop the drill: {}",
            text(&out)
        );
        if point != "before-create-connector" {
            assert_eq!(drill_connectors(&sim).len(), 1, "{point}: nothing was left to clean up");
        }
        let out = run(state.path(), sim.url(), vec!["--cleanup".into(), id.clone()], None).await;
        assert_eq!(out.status.code(), Some(0), "{point}: {}", text(&out));
        assert_eq!(drill_connectors(&sim), Vec::<String>::new(), "{point}");
        // A second cleanup has nothing left to do.
        let out = run(state.path(), sim.url(), vec!["--cleanup".into(), id], None).await;
        assert!(text(&out).contains("nothing left"), "{}", text(&out));
    }
    assert_eq!(writes_to_production(&sim), Vec::<String>::new());
}
