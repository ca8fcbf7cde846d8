//! The simulated drill through the binary.

use crate::drill::{lifeboat, repo, text, validator};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn schema_errors(doc: &Value) -> Vec<String> {
    let text =
        std::fs::read_to_string(repo().join("docs/drill-report.schema.json")).expect("schema");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles");
    v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

fn read_report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json written");
    let doc: Value = serde_json::from_str(&text).expect("report.json is JSON");
    let errs = schema_errors(&doc);
    assert!(errs.is_empty(), "report.json violates the schema:\n{}", errs.join("\n"));
    doc
}

fn drill(state: &Path, args: &[&str]) -> std::process::Output {
    lifeboat(state).current_dir(repo()).arg("drill").args(args).output().expect("lifeboat runs")
}

#[test]
fn the_default_drill_recovers_the_region_and_reports_every_step() {
    let state = tempfile::tempdir().unwrap();
    let reports = state.path().join("out");
    let junit = state.path().join("junit.xml");
    let out = drill(
        state.path(),
        &[
            "--run-id",
            "d1",
            "--report-dir",
            reports.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    for want in [
        "discover",
        "wait-for-release",
        "reapply-settings",
        "delete-old-connector",
        "RTO",
        "RPO",
        "verdict: PASSED",
    ] {
        assert!(t.contains(want), "summary lacks {want}:\n{t}");
    }
    // Per-step timings: the support wait of the simulated desk (2 simulated hours) is there.
    assert!(t.contains("2h 00m"), "{t}");
    let doc = read_report(&reports);
    assert_eq!(doc["scenario"], "region-outage");
    assert_eq!(doc["mode"], "simulated");
    assert_eq!(doc["recovery"]["verified"], true);
    assert_eq!(doc["outage"]["region"], "westeurope");
    let rto = doc["rto"]["seconds"].as_f64().unwrap();
    let support = doc["rto"]["support_wait_seconds"].as_f64().unwrap();
    assert!(support >= 7200.0 && rto > support, "rto {rto}, support {support}");
    assert_eq!(doc["rpo"]["seconds"].as_f64(), Some(86_400.0));
    assert!(doc["api"]["calls"].as_u64().unwrap() > 20);
    // Independent checks: contoso's annotation settings, one per restored resource setting.
    let v = doc["verifications"].as_array().unwrap();
    assert!(v.iter().all(|v| v["passed"] == true));
    assert!(
        v.iter().any(|v| v["name"]
            .as_str()
            .unwrap()
            .contains("contoso/platform actionableRemediation")),
        "{v:?}"
    );
    let steps = doc["steps"].as_array().unwrap();
    let wait = steps.iter().find(|s| s["id"] == "wait-for-release").unwrap();
    assert_eq!(wait["waited_on"], "support");
    // A branch is named by its connector (issue 15), as in `lifeboat status`: the report's
    // branch is the engine's label, and the summary shows `step[label]`.
    let branch = wait["branch"].as_str().unwrap();
    assert!(!branch.starts_with('#'), "a unique connector name labels the branch: {branch}");
    assert!(t.contains(&format!("wait-for-release[{branch}]")), "{t}");
    let status = lifeboat(state.path()).args(["status", "d1"]).output().unwrap();
    assert!(text(&status).contains(&format!("wait-for-release[{branch}]")), "{}", text(&status));
    let gate = steps.iter().find(|s| s["id"] == "approve-cleanup").unwrap();
    assert_eq!(gate["waited_on"], "person");
    // The approvals are the drill's, recorded as such in the run's journal.
    let journal = std::fs::read_to_string(state.path().join("runs/d1/journal.jsonl")).unwrap();
    let approvals: Vec<&str> =
        journal.lines().filter(|l| l.contains("\"event\":\"approved\"")).collect();
    assert!(approvals.len() >= 2, "the gates were not approved in the journal");
    assert!(
        approvals.iter().all(|l| l.contains("\"by\":{\"user\":\"drill\"")),
        "approvals are not recorded as the drill's: {approvals:?}"
    );
    // The OAuth codes file (a secret) is gone once the drill ends.
    assert!(!state.path().join("drills/d1/authorization-codes").exists());
    // History keeps the report.
    assert!(state.path().join("drills/d1/report.json").is_file());
    let h = lifeboat(state.path()).args(["drill", "history", "--output", "json"]).output().unwrap();
    assert_eq!(h.status.code(), Some(0), "{}", text(&h));
    let entries: Value = serde_json::from_slice(&h.stdout).expect("history json");
    assert_eq!(entries.as_array().map(Vec::len), Some(1), "{entries}");

    // report.html and the JUnit file through the external validators, when present.
    if let Some(jar) = validator("LIFEBOAT_TEST_VNU_JAR", None) {
        let o = Command::new("java")
            .arg("-jar")
            .arg(jar)
            .arg("--errors-only")
            .arg(reports.join("report.html"))
            .output()
            .unwrap();
        assert!(o.status.success(), "vnu: {}", text(&o));
    }
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    if let Some(x) = validator("LIFEBOAT_TEST_XMLLINT", Some("xmllint")) {
        let xsd = repo().join("tests/fixtures/report/junit.xsd");
        let o =
            Command::new(x).arg("--noout").arg("--schema").arg(xsd).arg(&junit).output().unwrap();
        assert!(o.status.success(), "junit: {}", text(&o));
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("classname=\"drill.steps\"") && xml.contains("classname=\"drill.verify\"")
    );
}

#[test]
fn every_scenario_completes_the_recovery_path() {
    let state = tempfile::tempdir().unwrap();
    for (scenario, region) in
        [("throttled", "eastus"), ("flaky", "westeurope"), ("crash", "westeurope")]
    {
        let out = drill(
            state.path(),
            &["--run-id", scenario, "--scenario", scenario, "--region", region],
        );
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "{scenario}: {t}");
        let doc = read_report(&state.path().join("drills").join(scenario));
        assert_eq!(doc["scenario"], scenario);
        assert_eq!(doc["recovery"]["verified"], true, "{scenario}");
        let api = &doc["api"];
        match scenario {
            "throttled" => assert!(api["throttled_429"].as_u64().unwrap() > 0, "{api}"),
            "flaky" => assert!(
                api["errors_5xx"].as_u64().unwrap() + api["dropped_connections"].as_u64().unwrap()
                    > 0,
                "{api}"
            ),
            _ => {
                let reasons = doc["verdict"]["reasons"].to_string();
                assert!(reasons.contains("interrupted its own run"), "{reasons}");
            }
        }
    }
}

#[test]
fn a_tampered_backup_is_detected_and_refused() {
    let state = tempfile::tempdir().unwrap();
    let out = drill(state.path(), &["--run-id", "t", "--scenario", "tampered-backup"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let doc = read_report(&state.path().join("drills/t"));
    let d = &doc["detected"][0];
    assert_eq!(d["kind"], "tampered-snapshot");
    assert_eq!(d["restore_refused"], true);
    assert_eq!(d["step"], "load-backup");
    assert!(d["message"].as_str().unwrap().contains("seal mismatch"), "{d}");
    assert_eq!(doc["recovery"]["verified"], false);
    let steps = doc["steps"].as_array().unwrap();
    assert!(!steps.iter().any(|s| s["id"] == "create-or-adopt-connector"), "restored anyway");
}

#[test]
fn a_missed_target_fails_the_drill() {
    let state = tempfile::tempdir().unwrap();
    let out =
        drill(state.path(), &["--run-id", "slow", "--rto-target", "1s", "--rpo-target", "2d"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("FAILED"), "{t}");
    let doc = read_report(&state.path().join("drills/slow"));
    assert_eq!(doc["rto"]["met"], false);
    assert_eq!(doc["rpo"]["met"], true);
}

#[test]
fn bad_flags_exit_2_before_anything_is_written() {
    let state = tempfile::tempdir().unwrap();
    for (args, want) in [
        (vec!["--scenario", "meteor"], "meteor"),
        (vec!["--rto-target", "soon"], "not a duration"),
        (vec!["--tenant", "/no/such/tenant.json"], "no such tenant file"),
        (vec!["--region", "mars"], "not an Azure region"),
        (vec!["--target-region", "westeurpe"], "westeurope"),
        (vec!["--run-id", "../x"], "not valid"),
        (vec!["--live"], "--connector"),
        (
            vec!["--live", "--connector", "nope", "--drill-region", "northeurope"],
            "not a resource ID",
        ),
        (vec!["--cleanup", "never-ran"], "no cleanup ledger"),
        (
            vec!["--runbook", "runbooks/examples/hello.yaml"],
            "declares no parameter `failed_region`",
        ),
        (vec!["--runbook", "/no/such.yaml"], "no built-in runbook has that name"),
    ] {
        let out = drill(state.path(), &args);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {t}");
        assert!(t.contains(want), "{args:?}: {t}");
    }
    assert!(
        !state.path().join("drills").exists()
            || std::fs::read_dir(state.path().join("drills")).unwrap().next().is_none()
    );
    assert!(!state.path().join("runs").exists());
}
