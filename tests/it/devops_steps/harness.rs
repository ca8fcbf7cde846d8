//! The test bench shared by the DevOps step tests: a simulator, a client, a backup of the old
//! connector taken through the client, a new connector, and a recording sink.

use futures::future::BoxFuture;
use lifeboat::azure::models::*;
use lifeboat::azure::timer::VirtualTimer;
use lifeboat::azure::{ArmClient, ResourceId};
use lifeboat::backup::{self, Captured, ResourceKind, Store};
use lifeboat::clock::ManualClock;
use lifeboat::engine::kind::{Cancellation, Services, StepSink};
use lifeboat::engine::kind::{StepContext, StepKind, StepOutcome};
use lifeboat::engine::Effect;
use lifeboat::sim::{self, RunningSim};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

pub const SUB_OLD: &str = "00000000-0000-4000-8000-0000000000a1";
pub const SUB_NEW: &str = "00000000-0000-4000-8000-0000000000c3";

/// A sink that keeps what a step reports.
#[derive(Default)]
pub struct RecSink {
    progress: Mutex<Vec<(u64, u64)>>,
    effects: Mutex<Vec<Effect>>,
    scratch: Mutex<Option<Value>>,
}

impl RecSink {
    pub fn progress(&self) -> Vec<(u64, u64)> {
        self.progress.lock().unwrap().clone()
    }
    pub fn effects(&self) -> Vec<Effect> {
        self.effects.lock().unwrap().clone()
    }
}

impl StepSink for RecSink {
    fn progress(&self, done: u64, total: u64, _: String) {
        self.progress.lock().unwrap().push((done, total));
    }
    fn effect(&self, effect: Effect) -> BoxFuture<'static, Result<(), String>> {
        self.effects.lock().unwrap().push(effect);
        Box::pin(async { Ok(()) })
    }
    fn scratch(&self, scratch: Value) -> BoxFuture<'static, Result<(), String>> {
        *self.scratch.lock().unwrap() = Some(scratch);
        Box::pin(async { Ok(()) })
    }
}

/// A client on `url` with virtual time (its waits return at once).
pub fn client_for(url: &str) -> ArmClient {
    crate::support::sim::client_with_timer(url, Arc::new(VirtualTimer::new()))
}

fn val<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap()
}

/// Reads connector `old` (and its DevOps tree) with the client, as a backup would.
pub async fn capture(client: &ArmClient, old: &ResourceId) -> Vec<Captured> {
    let mut out = Vec::new();
    let mut push = |kind: ResourceKind, body: Value| {
        out.push(Captured {
            resource_id: body["id"].as_str().unwrap().to_string(),
            kind,
            api_version: "2025-03-01".into(),
            body,
        })
    };
    push(ResourceKind::Connector, val(client.get_connector(old).await.unwrap()));
    push(
        ResourceKind::DevOpsConfiguration,
        val(client.get_devops_configuration(old).await.unwrap()),
    );
    for org in client.list_azure_devops_orgs(old).await.unwrap() {
        let o = org.name.clone().unwrap();
        push(ResourceKind::AzureDevOpsOrg, val(org));
        for project in client.list_azure_devops_projects(old, &o).await.unwrap() {
            let p = project.name.clone().unwrap();
            push(ResourceKind::AzureDevOpsProject, val(project));
            for repo in client.list_azure_devops_repos(old, &o, &p).await.unwrap() {
                push(ResourceKind::AzureDevOpsRepo, val(repo));
            }
        }
    }
    out
}

/// Writes `captured` as a snapshot; returns its ID.
pub async fn snapshot(store: &Store, captured: Vec<Captured>, now: OffsetDateTime) -> String {
    let opts = backup::CreateOptions {
        scope: backup::Scope::default(),
        now,
        rules: backup::AnomalyRules::default(),
        immutable: false,
    };
    let stream = futures::stream::iter(captured.into_iter().map(Ok::<_, String>));
    backup::create(store, stream, opts).await.unwrap().id
}

/// Creates a new Azure DevOps connector in `SUB_NEW` with an authorized configuration that
/// selects nothing (so ownership only moves by a release).
pub async fn new_connector(
    sim: &RunningSim,
    client: &ArmClient,
    old: &ResourceId,
    name: &str,
) -> ResourceId {
    let new = ResourceId::connector(SUB_NEW, "rg-recovery", name);
    // As in ARM, the connector's group must exist.
    let group = lifeboat::azure::models::ResourceGroup {
        location: Some("northeurope".into()),
        ..Default::default()
    };
    client.create_or_update_resource_group(SUB_NEW, "rg-recovery", &group).await.unwrap();
    let mut body = client.get_connector(old).await.unwrap();
    body.id = None;
    body.name = None;
    body.etag = None;
    body.system_data = None;
    body.location = Some("northeurope".into());
    body.tags = Some(BTreeMap::from([("owner".to_string(), "recovery-team".to_string())]));
    client.put_connector(&new, &body).await.unwrap();
    let config: DevOpsConfiguration = serde_json::from_value(json!({"properties": {
        "authorization": {"code": sim.mint_code()},
        "autoDiscovery": "Disabled", "topLevelInventoryList": []}}))
    .unwrap();
    client.put_devops_configuration(&new, &config).await.unwrap();
    new
}

/// Gives `names` (Azure DevOps orgs) to connector `to`, as the support desk does.
pub fn release_to(sim: &RunningSim, to: &ResourceId, names: &[&str]) {
    let key = sim::model::connector_key(&to.subscription, &to.resource_group, to.name());
    let mut cloud = sim.cloud();
    for n in names {
        cloud.owners.insert(sim::model::item_key(sim::model::Env::AzureDevOps, n), key.clone());
    }
}

/// One simulator with `ado-weu` backed up, a new connector, and westeurope down.
pub struct Env {
    pub sim: RunningSim,
    pub client: Arc<ArmClient>,
    pub store: Arc<Store>,
    pub snapshot: String,
    pub old: ResourceId,
    pub new: ResourceId,
    pub clock: ManualClock,
    _dir: tempfile::TempDir,
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(|_| {}).await
    }

    /// Like [`Env::start`], with the captured bodies changed by `edit` before the snapshot is
    /// written (e.g. fields a newer api-version would return).
    pub async fn start_with(edit: impl FnOnce(&mut Vec<Captured>)) -> Env {
        let sim = crate::support::sim::start(crate::support::sim::quiet()).await;
        let client = Arc::new(client_for(sim.url()));
        let old = ResourceId::connector(SUB_OLD, "rg-devsec-weu", "ado-weu");
        // payments-api gets its own settings, equal to its org's: after the recovery,
        // inheritance reproduces them without a write.
        let contoso = client.get_azure_devops_org(&old, "contoso").await.unwrap();
        let mut own = val(contoso.properties.unwrap().actionable_remediation.unwrap());
        own["inheritFromParentState"] = json!("Disabled");
        let repo: AzureDevOpsRepo =
            serde_json::from_value(json!({"properties": {"actionableRemediation": own}})).unwrap();
        client
            .put_azure_devops_repo(&old, "contoso", "payments", "payments-api", &repo)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(dir.path().to_str().unwrap(), Default::default()).unwrap());
        let t0 = time::macros::datetime!(2026-03-01 08:00:00 UTC);
        let mut captured = capture(&client, &old).await;
        edit(&mut captured);
        let snapshot = snapshot(&store, captured, t0).await;
        let new = new_connector(&sim, &client, &old, "ado-neu").await;
        crate::support::sim::region(&sim, "westeurope", "fail").await;
        Env { sim, client, store, snapshot, old, new, clock: ManualClock::new(t0), _dir: dir }
    }

    pub fn now(&self) -> OffsetDateTime {
        lifeboat::clock::Clock::now(&self.clock)
    }

    pub fn release(&self, names: &[&str]) {
        release_to(&self.sim, &self.new, names);
    }

    pub async fn run(&self, kind: &dyn StepKind, inputs: Value) -> (StepOutcome, Arc<RecSink>) {
        self.run_with(kind, inputs, true).await
    }

    pub async fn run_with(
        &self,
        kind: &dyn StepKind,
        inputs: Value,
        with_services: bool,
    ) -> (StepOutcome, Arc<RecSink>) {
        self.run_full(kind, inputs, with_services, None).await
    }

    /// Runs `kind` as a re-entry with `scratch` (what an earlier attempt saved).
    pub async fn run_scratch(
        &self,
        kind: &dyn StepKind,
        inputs: Value,
        scratch: Value,
    ) -> (StepOutcome, Arc<RecSink>) {
        self.run_full(kind, inputs, true, Some(scratch)).await
    }

    pub async fn run_full(
        &self,
        kind: &dyn StepKind,
        inputs: Value,
        with_services: bool,
        scratch: Option<Value>,
    ) -> (StepOutcome, Arc<RecSink>) {
        let mut services = Services::new();
        if with_services {
            services.insert(self.client.clone());
            services.insert(self.store.clone());
        }
        let sink = Arc::new(RecSink::default());
        let ctx = StepContext {
            run_id: "run-1".into(),
            step: "under-test".into(),
            branch: Some(0),
            label: None,
            item: None,
            attempt: 1,
            poll: 0,
            inputs,
            reentry: scratch.is_some(),
            scratch,
            clock: Arc::new(self.clock.clone()),
            cancel: Cancellation::new().1,
            services: Arc::new(services),
            sink: sink.clone(),
        };
        (kind.run(ctx).await, sink)
    }

    /// Writes (PUT/PATCH) the simulator received under a `devops` path, in order.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| (r.method == "PUT" || r.method == "PATCH") && r.path.contains("/devops/"))
            .map(|r| (r.method, r.path.split('?').next().unwrap_or_default().to_string()))
            .collect()
    }

    pub fn count(&self, method: &str) -> usize {
        self.sim.requests().iter().filter(|r| r.method == method).count()
    }

    pub async fn put_repo_setting(&self, org: &str, project: &str, repo: &str, rem: Value) {
        let body: AzureDevOpsRepo =
            serde_json::from_value(json!({"properties": {"actionableRemediation": rem}})).unwrap();
        self.client.put_azure_devops_repo(&self.new, org, project, repo, &body).await.unwrap();
    }

    pub async fn tags_of_new(&self) -> BTreeMap<String, String> {
        self.client.get_connector(&self.new).await.unwrap().tags.unwrap_or_default()
    }

    pub async fn region(&self, name: &str, action: &str) {
        crate::support::sim::region(&self.sim, name, action).await
    }
}
