//! Scale of `drill --from-backup`: a snapshot of a 5,000-repo tenant drilled by the release
//! binary, timed. Asserts nothing (timings depend on the machine); prints the figures.
//!
//! The tenant: 5 Azure DevOps orgs × 20 projects × 50 repos, one connector each, all in
//! westeurope, with settings at every level (every org, half the projects, 20% of the repos, so
//! the recovery rewrites about 1,100 resources under ARM's write throttle), plus a GitHub
//! connector (60 repos) in westeurope and a GitHub and a GitLab connector in eastus, over two
//! subscriptions. westeurope has the most connectors, so the drill fails it: every one of the
//! 5,000 repos is restored and verified.
//!
//! Steps: the simulator (in this process) serves the tenant; `lifeboat backup create` takes the
//! snapshot through it; the simulator stops; `lifeboat drill --from-backup` runs against that
//! store alone, timed: wall time, and the CPU time (user + system) of the drill process.
//!
//! Run: `cargo bench --bench drill_scale` (release build). `DRILL_SCALE_REPOS=N` changes the
//! repo count (multiples of 1,000).

use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

const SUB_A: &str = "00000000-0000-4000-8000-00000000da01";
const SUB_B: &str = "00000000-0000-4000-8000-00000000da02";
const PROJECTS: usize = 20;
const REPOS: usize = 50;

fn tenant(repos: usize) -> Value {
    let orgs_n = repos.div_ceil(PROJECTS * REPOS).max(1);
    let mut orgs = Vec::new();
    let mut connectors = Vec::new();
    for o in 0..orgs_n {
        let org = format!("org-{o:02}");
        let mut settings = serde_json::Map::new();
        settings.insert(
            org.clone(),
            json!({"state": "Enabled",
                "categoryConfigurations": [{"category": "Secrets", "minimumSeverityLevel": "High"}],
                "branchConfiguration": {"branchNames": ["main"], "annotateDefaultBranch": "Enabled"}}),
        );
        let mut projects = Vec::new();
        for p in 0..PROJECTS {
            let project = format!("project-{p:02}");
            if p % 2 == 0 {
                settings.insert(
                    format!("{org}/{project}"),
                    json!({"state": "Enabled", "inheritFromParentState": "Disabled",
                        "categoryConfigurations": [{"category": "IaC", "minimumSeverityLevel": "Medium"}]}),
                );
            }
            let names: Vec<String> = (0..REPOS).map(|r| format!("repo-{r:02}")).collect();
            for r in (0..REPOS).step_by(5) {
                settings.insert(
                    format!("{org}/{project}/repo-{r:02}"),
                    json!({"state": "Disabled", "inheritFromParentState": "Disabled"}),
                );
            }
            projects.push(json!({"name": project, "repos": names}));
        }
        orgs.push(json!({"name": org, "projects": projects}));
        connectors.push(json!({
            "subscription": if o % 2 == 0 { SUB_A } else { SUB_B },
            "resourceGroup": "rg-devsec-weu", "name": format!("ado-{org}"),
            "location": "westeurope", "environmentName": "AzureDevOps",
            "tags": {"owner": "platform-team", "cost-center": "1234"},
            "devops": {"autoDiscovery": "Disabled", "topLevelInventoryList": [org],
                "visible": [org], "settings": settings}
        }));
    }
    let gh_repos: Vec<String> = (0..60).map(|r| format!("svc-{r:02}")).collect();
    connectors.push(json!({
        "subscription": SUB_A, "resourceGroup": "rg-devsec-weu", "name": "gh-weu",
        "location": "westeurope", "environmentName": "Github",
        "devops": {"autoDiscovery": "Disabled", "topLevelInventoryList": ["contoso-gh"],
            "visible": ["contoso-gh"]}
    }));
    connectors.push(json!({
        "subscription": SUB_B, "resourceGroup": "rg-devsec-eus", "name": "gh-eus",
        "location": "eastus", "environmentName": "Github",
        "devops": {"autoDiscovery": "Disabled", "topLevelInventoryList": ["tailspin"],
            "visible": ["tailspin"]}
    }));
    connectors.push(json!({
        "subscription": SUB_B, "resourceGroup": "rg-devsec-eus", "name": "gl-eus",
        "location": "eastus", "environmentName": "GitLab",
        "devops": {"autoDiscovery": "Enabled", "visible": ["fabrikam-gl"]}
    }));
    json!({
        "subscriptions": [SUB_A, SUB_B],
        "azureDevOps": orgs,
        "github": [{"name": "contoso-gh", "repos": gh_repos}, {"name": "tailspin", "repos": ["web"]}],
        "gitlab": [{"fullyQualifiedName": "fabrikam-gl", "projects": ["app"]}],
        "connectors": connectors
    })
}

fn lifeboat() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_ascii_uppercase();
        if k.starts_with("AZURE") || k.starts_with("LIFEBOAT") {
            c.env_remove(&k);
        }
    }
    c
}

/// CPU time (user + system) of the children waited for so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct it is given, nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_CHILDREN is a valid `who`.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let t = |v: libc::timeval| Duration::new(v.tv_sec as u64, (v.tv_usec as u32) * 1000);
    t(u.ru_utime) + t(u.ru_stime)
}

fn run(c: &mut Command) -> (std::process::Output, Duration, Duration) {
    let (cpu0, t0) = (children_cpu(), Instant::now());
    let o = c.output().expect("lifeboat runs");
    let wall = t0.elapsed();
    (o, wall, children_cpu().saturating_sub(cpu0))
}

fn check(o: &std::process::Output, what: &str) {
    if !o.status.success() {
        panic!(
            "{what} failed ({:?}):\n{}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn main() {
    let repos: usize =
        std::env::var("DRILL_SCALE_REPOS").ok().and_then(|s| s.parse().ok()).unwrap_or(5_000);
    // `DRILL_SCALE_DIR=DIR` keeps the tenant, the store and the drill there (to profile the
    // drill again: `lifeboat --state-dir DIR/state --backup-store DIR/org-store drill
    // --from-backup`); by default a temporary directory.
    let tmp = tempfile::tempdir().expect("tempdir");
    let kept = std::env::var_os("DRILL_SCALE_DIR").map(std::path::PathBuf::from);
    let root = kept.as_deref().unwrap_or(tmp.path());
    std::fs::create_dir_all(root).expect("the directory exists");
    let _ = std::fs::remove_dir_all(root.join("state"));
    let _ = std::fs::remove_dir_all(root.join("org-store"));
    let dir = root;
    let tenant_file = dir.join("tenant.json");
    std::fs::write(&tenant_file, tenant(repos).to_string()).expect("tenant written");
    let store = dir.join("org-store");
    let state = dir.join("state");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // The organisation's backup, taken through the simulator.
    let backup = rt.block_on(async {
        let sim = lifeboat::sim::start(lifeboat::sim::SimConfig {
            tenant: lifeboat::sim::TenantSource::File(tenant_file.clone()),
            time_scale: 0.0,
            ..lifeboat::sim::SimConfig::default()
        })
        .await
        .expect("the simulator starts");
        let mut c = lifeboat();
        c.args(["--arm-endpoint", sim.url(), "--auth", "none", "--backup-store"])
            .arg(&store)
            .args(["backup", "create"]);
        let r = tokio::task::spawn_blocking(move || run(&mut c)).await.expect("joined");
        sim.shutdown().await.expect("the simulator stops");
        r
    });
    check(&backup.0, "backup create");
    println!(
        "backup create: {repos} repos in {:.1}s wall, {:.1}s CPU",
        backup.1.as_secs_f64(),
        backup.2.as_secs_f64()
    );

    // The drill, from that store alone.
    let (o, wall, cpu) = run(lifeboat()
        .arg("--state-dir")
        .arg(&state)
        .arg("--backup-store")
        .arg(&store)
        .args(["drill", "--from-backup", "--run-id", "scale"]));
    check(&o, "drill --from-backup");
    let report: Value = serde_json::from_slice(
        &std::fs::read(state.join("drills/scale/report.json")).expect("report.json"),
    )
    .expect("report JSON");
    let res = &report["resources"];
    println!(
        "drill --from-backup: {:.1}s wall, {:.1}s CPU (user + system) on {} cores; verdict {}",
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if report["verdict"]["passed"] == true { "PASSED" } else { "FAILED" }
    );
    println!("  failed region: {}", report["outage"]["region"]);
    println!("  in the snapshot: {}", res["in_snapshot"]);
    println!("  to restore:      {}", res["to_restore"]);
    println!("  restored:        {}", res["restored"]);
    println!(
        "  RTO {} (simulated), RPO {}s ({}), {} API calls, {} verifications",
        report["rto"]["seconds"],
        report["rpo"]["seconds"],
        report["rpo"]["source"],
        report["api"]["calls"],
        report["verifications"].as_array().map_or(0, Vec::len)
    );
    if report["verdict"]["passed"] != true {
        println!("  verdict: {:#}", report["verdict"]);
    }
}
