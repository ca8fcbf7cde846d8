//! Reapply benchmark: `devops.reapply-settings` for a 5,000-repo Azure DevOps tenant (5 orgs ×
//! 20 projects × 50 repos) in which 20% of the repos override their project's settings, half of
//! the projects override their org's, and every org has settings of its own. The old connector
//! (westeurope) is backed up through the client, its orgs are given to a new connector
//! (northeurope, same subscription, so the same write bucket), then the step runs against the
//! simulator with ARM throttling on (writes 200 burst + 10/s) and time 5× faster (a higher scale turns CPU contention on a shared machine into simulated delay).
//!
//! Printed side by side (simulated seconds): the number of writes against the goal (distinct
//! overrides + org and project settings + the configuration), the write phase (first write sent
//! to last write answered) against the write-bucket minimum `(writes − 200) / 10`, the whole
//! step (backup read and live listing included), and the 429s seen. Asserts nothing.
//!
//! The simulator's long-running operations are set to complete at once (`lro_delay` 0): the
//! bucket minimum is about ARM's write limit, and the simulator otherwise refuses a second
//! operation on a configuration while one runs (the step then serialises; see its module doc).
//!
//! Run: `cargo bench --profile dev --bench reapply`.

use lifeboat::azure::timer::TokioTimer;
use lifeboat::azure::{self, ConnectOptions, ResourceId};
use lifeboat::azure::{AuthMode, CloudName};
use lifeboat::backup::{self, Captured, ResourceKind, Store};
use lifeboat::clock::ManualClock;
use lifeboat::engine::kind::{Cancellation, NullSink, Services};
use lifeboat::engine::kind::{StepContext, StepKind, StepOutcome};
use lifeboat::sim::{self, SimConfig, TenantSource};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const SCALE: f64 = 5.0;
const SUB: &str = "00000000-0000-4000-8000-0000000000d4";
const ORGS: usize = 5;
const PROJECTS: usize = 20;
const REPOS: usize = 50;

fn tenant() -> (Value, usize) {
    let mut orgs = Vec::new();
    let mut settings = serde_json::Map::new();
    let mut overrides = 0;
    for o in 0..ORGS {
        let org = format!("org{o}");
        settings.insert(
            org.clone(),
            json!({"state": "Enabled",
            "categoryConfigurations": [{"category": "Secrets", "minimumSeverityLevel": "High"}],
            "branchConfiguration": {"branchNames": ["main"], "annotateDefaultBranch": "Enabled"}}),
        );
        overrides += 1;
        let mut projects = Vec::new();
        for p in 0..PROJECTS {
            let project = format!("project{p}");
            if p % 2 == 0 {
                settings.insert(format!("{org}/{project}"), json!({"state": "Enabled",
                    "inheritFromParentState": "Disabled",
                    "categoryConfigurations": [{"category": "IaC", "minimumSeverityLevel": "Medium"}]}));
                overrides += 1;
            }
            let repos: Vec<String> = (0..REPOS).map(|r| format!("repo{r}")).collect();
            for r in (0..REPOS).step_by(5) {
                settings.insert(
                    format!("{org}/{project}/repo{r}"),
                    json!({"state": "Disabled", "inheritFromParentState": "Disabled"}),
                );
                overrides += 1;
            }
            projects.push(json!({"name": project, "repos": repos}));
        }
        orgs.push(json!({"name": org, "projects": projects}));
    }
    let t = json!({
        "subscriptions": [SUB],
        "azureDevOps": orgs,
        "connectors": [
            {"subscription": SUB, "resourceGroup": "rg-weu", "name": "ado-weu", "location": "westeurope",
             "environmentName": "AzureDevOps",
             "devops": {"autoDiscovery": "Enabled", "settings": settings}},
            {"subscription": SUB, "resourceGroup": "rg-neu", "name": "ado-neu", "location": "northeurope",
             "environmentName": "AzureDevOps",
             "devops": {"autoDiscovery": "Disabled", "topLevelInventoryList": []}}
        ]
    });
    // + the configuration (autoDiscovery differs).
    (t, overrides + 1)
}

fn v<T: serde::Serialize>(x: T) -> Value {
    serde_json::to_value(x).unwrap_or_default()
}

async fn capture(client: &azure::ArmClient, old: &ResourceId) -> Vec<Captured> {
    let mut out = Vec::new();
    let mut push = |kind, body: Value| {
        out.push(Captured {
            resource_id: body["id"].as_str().unwrap_or_default().to_string(),
            kind,
            api_version: "2025-03-01".into(),
            body,
        })
    };
    push(ResourceKind::Connector, v(client.get_connector(old).await.unwrap()));
    push(ResourceKind::DevOpsConfiguration, v(client.get_devops_configuration(old).await.unwrap()));
    for org in client.list_azure_devops_orgs(old).await.unwrap() {
        let o = org.name.clone().unwrap_or_default();
        push(ResourceKind::AzureDevOpsOrg, v(org));
        for project in client.list_azure_devops_projects(old, &o).await.unwrap() {
            let p = project.name.clone().unwrap_or_default();
            push(ResourceKind::AzureDevOpsProject, v(project));
            for repo in client.list_azure_devops_repos(old, &o, &p).await.unwrap() {
                push(ResourceKind::AzureDevOpsRepo, v(repo));
            }
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (tenant, goal) = tenant();
    let tenant_path = dir.path().join("tenant.json");
    std::fs::write(&tenant_path, tenant.to_string()).expect("tenant file");
    let sim = sim::start(SimConfig {
        tenant: TenantSource::File(tenant_path),
        time_scale: SCALE,
        lro_delay: Duration::ZERO,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let o = ConnectOptions {
        arm_endpoint: Some(sim.url().to_owned()),
        auth: AuthMode::None,
        cloud: CloudName::Public,
    };
    let client = Arc::new(
        azure::connect_with(&o, &HashMap::new(), Arc::new(TokioTimer::scaled(SCALE)), None)
            .expect("client")
            .client,
    );
    let old = ResourceId::connector(SUB, "rg-weu", "ado-weu");
    let new = ResourceId::connector(SUB, "rg-neu", "ado-neu");
    let store = Arc::new(
        Store::open(dir.path().join("store").to_str().unwrap_or("store"), Default::default())
            .expect("store"),
    );
    let t0 = time::macros::datetime!(2026-03-01 08:00:00 UTC);
    let captured = capture(&client, &old).await;
    let resources = captured.len();
    let snapshot = backup::create(
        &store,
        futures::stream::iter(captured.into_iter().map(Ok::<_, String>)),
        backup::CreateOptions {
            scope: Default::default(),
            now: t0,
            rules: Default::default(),
            immutable: false,
        },
    )
    .await
    .expect("snapshot")
    .id;
    {
        let key = sim::model::connector_key(SUB, "rg-neu", "ado-neu");
        let mut cloud = sim.cloud();
        for o in 0..ORGS {
            cloud.owners.insert(
                sim::model::item_key(sim::model::Env::AzureDevOps, &format!("org{o}")),
                key.clone(),
            );
        }
    }
    // Let both sides' read buckets refill after the capture (the write buckets are untouched).
    tokio::time::sleep(Duration::from_secs_f64(12.0 / SCALE)).await;
    let before = sim.requests().len();
    let mut services = Services::new();
    services.insert(client.clone());
    services.insert(store.clone());
    let ctx = StepContext {
        run_id: "bench".into(),
        step: "reapply".into(),
        branch: None,
        label: None,
        item: None,
        attempt: 1,
        poll: 0,
        inputs: json!({"snapshot_id": snapshot, "old_resource_id": old.to_string(), "new_resource_id": new.to_string()}),
        scratch: None,
        reentry: false,
        clock: Arc::new(ManualClock::new(t0)),
        cancel: Cancellation::new().1,
        services: Arc::new(services),
        sink: Arc::new(NullSink),
    };
    let start = sim.shared().clock.now();
    let out = lifeboat::steps::devops::Reapply.run(ctx).await;
    let end = sim.shared().clock.now();
    let StepOutcome::Succeeded { outputs, .. } = out else {
        println!("reapply did not succeed: {out:?}");
        return;
    };
    let log: Vec<_> = sim.requests().into_iter().skip(before).collect();
    let writes: Vec<_> = log.iter().filter(|r| r.method == "PUT" || r.method == "PATCH").collect();
    let admitted = writes.iter().filter(|r| (200..300).contains(&r.status)).count();
    let throttled = log.iter().filter(|r| r.status == 429).count();
    let first = writes.first().map(|r| r.time).unwrap_or(start);
    let last_write_answer = log
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/devops/"))
        .map(|r| r.time)
        .fold(first, f64::max)
        .min(end);
    let n = outputs["writes"].as_u64().unwrap_or(0) as f64;
    let minimum = ((n - 200.0) / 10.0).max(0.0);
    let phase = last_write_answer - first;
    println!("reapply benchmark: {resources} resources backed up, 5,000 repos, 20% overriding");
    println!("  writes            {n:>8}   goal {goal} (overrides + org/project settings + configuration)");
    println!("  writes admitted   {admitted:>8}   429s seen {throttled}");
    println!(
        "  inherited         {:>8}   unchanged {}",
        outputs["inherited"], outputs["unchanged"]
    );
    println!(
        "  write phase       {phase:>8.1} s   bucket minimum {minimum:.1} s   ratio {:.3}",
        phase / minimum.max(f64::EPSILON)
    );
    println!("  conflicts retried {:>8}", outputs["conflicts_retried"]);
    println!("  whole step        {:>8.1} s   (backup read + live listing + writes)", end - start);
}
