//! The simulated drill's independent check includes Microsoft's side (issue 13 item 5): after the
//! run, each new connector has the recommendations and the alerts less than a week old that the
//! failed connector had, read from the simulator's own state; when the support desk is
//! configured not to recreate them, the report says so in a failed verification.

use lifeboat::drill::report::Scenario;
use lifeboat::drill::simulated::{self, SimDrillOptions, TenantChoice};
use lifeboat::sim::{SimConfig, TenantSource};
use serde_json::Value;
use std::path::PathBuf;

async fn drill(faults: &str, run_id: &str) -> lifeboat::drill::report::DrillReport {
    let dir = tempfile::tempdir().unwrap();
    let sim = lifeboat::sim::start(SimConfig {
        tenant: TenantSource::Small,
        time_scale: 0.0,
        faults: faults.parse().unwrap(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let opts = SimDrillOptions {
        state_dir: dir.path().to_path_buf(),
        run_id: run_id.into(),
        tenant: TenantChoice { source: TenantSource::Small, label: "small".into() },
        scenario: Scenario::RegionOutage,
        region: Some("westeurope".into()),
        target_region: "northeurope".into(),
        runbook: (
            simulated::REGION_OUTAGE_RUNBOOK.to_string(),
            PathBuf::from("embedded:region-outage.yaml"),
        ),
        rto_target: None,
        rpo_target: None,
        seed: 3,
        progress: None,
        assumed: simulated::AssumedTimes::default(),
        actor: simulated::drill_actor(),
        observer: None,
        backup: None,
        run_store: None,
    };
    let outcome = simulated::run_on(&opts, &sim).await.expect("the drill runs");
    sim.shutdown().await.unwrap();
    outcome.report
}

fn microsoft_side(r: &lifeboat::drill::report::DrillReport) -> Vec<Value> {
    r.verifications
        .iter()
        .filter(|v| v.name.ends_with(": Microsoft's side recreated"))
        .map(|v| serde_json::to_value(v).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drill_checks_that_microsoft_recreated_alerts_and_recommendations() {
    let r = drill("", "ms-side").await;
    assert!(r.verdict.passed, "{:?}", r.verdict.reasons);
    let v = microsoft_side(&r);
    assert_eq!(v.len(), 2, "one per failed connector: {v:?}");
    for (name, assessments) in [("ado-weu", 2), ("gitlab-weu", 1)] {
        let one = v.iter().find(|x| x["name"].as_str().unwrap().starts_with(name)).unwrap();
        assert_eq!(one["passed"], true, "{one}");
        assert_eq!(
            one["expected"],
            format!("at least {assessments} recommendations and 1 alerts (of 2; alerts more than a week old are not recreated)")
        );
        assert_eq!(one["actual"], format!("{assessments} recommendations and 1 alerts"));
        assert!(one["resource_id"].as_str().unwrap().ends_with(&format!("{name}-northeurope")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drill_report_says_when_microsoft_did_not_recreate_them() {
    let r = drill("no-recreate=ado-weu", "ms-side-missing").await;
    let v = microsoft_side(&r);
    let ado = v.iter().find(|x| x["name"] == "ado-weu: Microsoft's side recreated").unwrap();
    assert_eq!(ado["passed"], false);
    assert_eq!(ado["actual"], "0 recommendations and 0 alerts");
    assert_eq!(
        ado["detail"],
        "Microsoft did not recreate the DevOps recommendations and alerts of ado-weu for \
         ado-weu-northeurope (the simulated desk was configured not to): 0 recommendations and 0 alerts"
    );
    let gl = v.iter().find(|x| x["name"] == "gitlab-weu: Microsoft's side recreated").unwrap();
    assert_eq!(gl["passed"], true, "the other release was recreated: {gl}");
    assert!(!r.verdict.passed);
    assert!(
        r.verdict.reasons.iter().any(|s| s.contains("Microsoft did not recreate")),
        "{:?}",
        r.verdict.reasons
    );
    // The run itself succeeded: the check warned, it did not fail.
    use lifeboat::drill::report::StepResult;
    assert!(r.steps.iter().all(|s| s.result != StepResult::Failed), "{:?}", r.steps);
    let check = r
        .steps
        .iter()
        .find(|s| s.id == "check-microsoft-side" && s.branch.as_deref() == Some("ado-weu"))
        .expect("the check ran for ado-weu");
    assert_eq!(check.result, StepResult::Succeeded);
}
