//! The client against the simulated Azure (`lifeboat::sim`, in-process on 127.0.0.1): the
//! `small` tenant's DevOps connectors are found exactly, faults are survived, long-running
//! operations complete, fail with the service's code, or hit their deadline, and ARM errors are
//! explained. The simulator and the client share a 100× time scale so waits take milliseconds.

use lifeboat::azure::models::*;
use lifeboat::azure::timer::TokioTimer;
use lifeboat::azure::{self, AzureError, ResourceId};
use lifeboat::cli::connectors::{list, ListArgs};
use lifeboat::sim::{RunningSim, SimConfig, TenantSource};
use std::sync::Arc;
use std::time::Duration;

const SCALE: f64 = 100.0;
const SUB_TARGET: &str = "00000000-0000-4000-8000-0000000000c3";

async fn start(faults: &str) -> RunningSim {
    let cfg = SimConfig {
        tenant: TenantSource::Small,
        time_scale: SCALE,
        faults: faults.parse().unwrap(),
        ..SimConfig::default()
    };
    crate::support::sim::start(cfg).await
}

/// A client whose waits run at the simulator's pace.
fn client(sim: &RunningSim) -> azure::ArmClient {
    crate::support::sim::client_with_timer(sim.url(), Arc::new(TokioTimer::scaled(SCALE)))
}

fn names(rows: &[lifeboat::cli::connectors::ConnectorRow]) -> Vec<String> {
    rows.iter().map(|r| r.name.clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn connectors_list_finds_exactly_the_small_tenants_devops_connectors() {
    let sim = start("").await;
    let c = client(&sim);
    let rows = list(&c, &ListArgs::default()).await.unwrap();
    assert_eq!(
        names(&rows),
        ["ado-weu", "gitlab-weu", "ado-eus", "github-eus"],
        "ordered by resource ID; aws-weu is not DevOps"
    );
    let weu = list(&c, &ListArgs { region: Some("westeurope".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(names(&weu), ["ado-weu", "gitlab-weu"]);
    let east = list(
        &c,
        &ListArgs {
            subscriptions: vec!["00000000-0000-4000-8000-0000000000b2".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(names(&east), ["ado-eus", "github-eus"]);
    assert_eq!(east[1].connector_type, "Github");
    assert_eq!(east[1].resource_group, "rg-devsec-eus");
}

#[tokio::test(flavor = "multi_thread")]
async fn connectors_list_details_count_what_each_connector_owns() {
    let sim = start("").await;
    let rows =
        list(&client(&sim), &ListArgs { details: true, ..Default::default() }).await.unwrap();
    let d = |n: &str| rows.iter().find(|r| r.name == n).unwrap().details.clone().unwrap();
    let ado = d("ado-weu");
    assert_eq!(
        (
            ado.auto_discovery.as_deref(),
            ado.inventory_count,
            ado.top_level,
            ado.projects,
            ado.repos
        ),
        (Some("Disabled"), 2, 2, 3, 6),
        "contoso + fabrikam"
    );
    let gh = d("github-eus");
    assert_eq!((gh.top_level, gh.repos), (2, 3), "contoso-gh (2 repos) + tailspin (1)");
    let eus = d("ado-eus");
    assert_eq!(
        (eus.auto_discovery.as_deref(), eus.top_level, eus.projects, eus.repos),
        (Some("Enabled"), 1, 1, 1),
        "northwind"
    );
    assert!(d("gitlab-weu").top_level >= 1 && d("gitlab-weu").projects >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn connectors_list_survives_throttling_server_errors_and_drops() {
    use lifeboat::azure::pipeline::{Pipeline, PipelineOptions, RetryPolicy};
    let sim = start("429-burst=0.05x4;503=0.05;500=0.02;drop=0.04;seed=11").await;
    // About 30% of answers fail here, so give the client room: 15 retries per call.
    let c = azure::ArmClient::new(
        Pipeline::new(PipelineOptions {
            endpoint: url::Url::parse(sim.url()).unwrap(),
            scope: "https://management.azure.com/.default".into(),
            token: None,
            timer: Arc::new(TokioTimer::scaled(SCALE)),
            retry: RetryPolicy::new(
                15,
                Duration::from_millis(800),
                Duration::from_secs(30),
                Some(5),
            ),
            throttle: true,
            timeout: Duration::from_secs(30),
            observer: None,
        })
        .unwrap(),
    );
    for _ in 0..6 {
        let rows = list(&c, &ListArgs { details: true, ..Default::default() }).await.unwrap();
        assert_eq!(names(&rows), ["ado-weu", "gitlab-weu", "ado-eus", "github-eus"]);
        assert_eq!(rows[0].details.as_ref().unwrap().repos, 6);
    }
    assert!(c.call_log().iter().any(|r| r.attempts > 1));
    let log = sim.requests();
    let count = |s: u16| log.iter().filter(|e| e.status == s).count();
    assert!(
        count(429) > 0 && count(503) > 0 && count(0) > 0,
        "faults were injected: 429 {} 503 {} dropped {}",
        count(429),
        count(503),
        count(0)
    );
}

/// The group the new connectors go into (as in ARM, a connector needs an existing group).
async fn recovery_group(c: &azure::ArmClient) {
    let g = lifeboat::azure::models::ResourceGroup {
        location: Some("northeurope".into()),
        ..Default::default()
    };
    c.create_or_update_resource_group(SUB_TARGET, "rg-recovery", &g).await.unwrap();
}

async fn new_connector(c: &azure::ArmClient, name: &str) -> ResourceId {
    recovery_group(c).await;
    let id = ResourceId::connector(SUB_TARGET, "rg-recovery", name);
    let body: SecurityConnector = serde_json::from_value(serde_json::json!({
        "location": "northeurope",
        "tags": {"lifeboat": "recovered"},
        "properties": {"hierarchyIdentifier": "contoso", "environmentName": "AzureDevOps",
            "environmentData": {"environmentType": "AzureDevOpsScope"},
            "offerings": [{"offeringType": "CspmMonitorAzureDevOps"}]}
    }))
    .unwrap();
    let created = c.put_connector(&id, &body).await.unwrap();
    assert_eq!(created.location.as_deref(), Some("northeurope"));
    id
}

fn config(code: &str) -> DevOpsConfiguration {
    DevOpsConfiguration::with_properties(DevOpsConfigurationProperties {
        authorization: Some(Authorization {
            code: Some(SecretString::new(code)),
            extra: Default::default(),
        }),
        auto_discovery: Some(AutoDiscovery::Disabled),
        top_level_inventory_list: Some(vec!["adventure-works".into()]),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn devops_configuration_put_runs_to_completion_or_fails_with_the_service_code() {
    let sim = start("").await;
    let c = client(&sim);
    let id = new_connector(&c, "ado-neu").await;
    // A bad code: the operation ends Failed with TokenExchangeFailed.
    let e = c.put_devops_configuration(&id, &config("not-a-code")).await.unwrap_err();
    assert_eq!(e.code(), Some("TokenExchangeFailed"), "{e}");
    assert!(!e.to_string().contains("not-a-code"));
    // A fresh code: the configuration is created and the unowned org is onboarded.
    let code = sim.mint_code();
    let cfg = c.put_devops_configuration(&id, &config(&code)).await.unwrap();
    let props = cfg.properties.unwrap();
    assert_eq!(props.provisioning_state, Some(ProvisioningState::Succeeded));
    assert!(props.authorization.is_none(), "the code is never returned");
    let orgs = c.list_azure_devops_orgs(&id).await.unwrap();
    assert_eq!(
        orgs.iter().map(|o| o.name.clone().unwrap()).collect::<Vec<_>>(),
        ["adventure-works"]
    );
    // Read-modify-write of a repo's settings through the LRO.
    let repo =
        c.get_azure_devops_repo(&id, "adventure-works", "sandbox", "playground").await.unwrap();
    let mut props = repo.properties.clone().unwrap();
    props.actionable_remediation = Some(ActionableRemediation {
        state: Some(RemediationState::Enabled),
        inherit_from_parent_state: Some(EnabledState::Disabled),
        ..Default::default()
    });
    let written = c
        .put_azure_devops_repo(
            &id,
            "adventure-works",
            "sandbox",
            "playground",
            &AzureDevOpsRepo::with_properties(props),
        )
        .await
        .unwrap();
    assert_eq!(
        written.properties.unwrap().actionable_remediation.unwrap().state,
        Some(RemediationState::Enabled)
    );
    assert!(
        c.call_log().iter().any(|r| r.url.contains("/operationResults/")),
        "the operation was polled"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_long_running_operation_hits_the_client_deadline() {
    let sim = start("slow-lro=100000x").await;
    let mut c = client(&sim);
    let id = new_connector(&c, "ado-slow").await;
    c.lro = azure::LroOptions {
        deadline: Duration::from_secs(60),
        default_poll: Duration::from_secs(5),
    };
    let e = c.put_devops_configuration(&id, &config(&sim.mint_code())).await.unwrap_err();
    assert!(matches!(e, AzureError::LroTimeout { .. }), "{e}");
    assert!(e.to_string().contains("did not finish within 60s"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_400_from_the_simulator_names_the_resource_and_the_code() {
    let sim = start("").await;
    let c = client(&sim);
    recovery_group(&c).await;
    let id = ResourceId::connector(SUB_TARGET, "rg-recovery", "bad");
    let body: SecurityConnector = serde_json::from_value(serde_json::json!({"location": "northeurope", "properties": {"environmentName": "azuredevops"}})).unwrap();
    let e = c.put_connector(&id, &body).await.unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.status(), Some(400), "{msg}");
    assert!(msg.contains(&format!("PUT {id} failed with 400")), "{msg}");
    assert!(msg.contains(e.code().unwrap()), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_lists_the_simulators_connectors() {
    let sim = start("").await;
    let url = sim.url().to_owned();
    let mut cmd = crate::support::cli::lifeboat();
    cmd.args([
        "--arm-endpoint",
        &url,
        "--auth",
        "none",
        "--output",
        "json",
        "connectors",
        "list",
        "--details",
    ]);
    let out = crate::support::cli::output(cmd).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: Vec<&str> =
        doc["connectors"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    got.sort();
    assert_eq!(got, ["ado-eus", "ado-weu", "github-eus", "gitlab-weu"]);
    assert_eq!(doc["credential"], "none");
}
