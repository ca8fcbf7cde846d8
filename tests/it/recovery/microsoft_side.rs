//! Issue 13 item 5, Microsoft's side verified: after the release, `check-microsoft-side`
//! (`defender.check-recreated`) confirms through Resource Graph that Microsoft recreated the
//! DevOps recommendations and alerts for each new connector, comparing with the old connector's
//! counts taken before the ticket (`count-microsoft-side`). On the simulator it passes; with the
//! support desk configured not to recreate them (`no-recreate=all`) the run still succeeds, and
//! the warning, naming the connectors and the counts, is in `lifeboat status`, at the end of
//! the run's output and in the audit record.

use crate::recovery::common::*;
use lifeboat::engine::{runner, Phase};
use lifeboat::steps::registry;
use serde_json::{Map, Value};

/// The outputs of every succeeded branch of `step`, by the branch's connector name.
fn outputs_of(world: &World, run: &str, step: &str) -> Vec<(String, Map<String, Value>)> {
    let r = runner::load(&world.run_dir(run), &registry()).unwrap();
    r.engine
        .snapshot()
        .into_iter()
        .filter(|v| v.step == step)
        .map(|v| {
            let i = v.instance.expect("expanded");
            assert_eq!(i.state.phase(), Phase::Succeeded, "{step}: {:?}", i.error);
            let name = i.item.as_ref().unwrap()["name"].as_str().unwrap().to_string();
            (name, i.outputs.expect("outputs"))
        })
        .collect()
}

fn args_with(world: &World, run: &str, extra: &[&str]) -> Vec<String> {
    let mut args = run_args(world, &World::runbook(), run);
    for e in extra {
        args.push("--set".into());
        args.push(e.to_string());
    }
    args
}

/// The small tenant's westeurope connectors before the outage, per the simulator's tenant:
/// (recommendations, alerts) — one recommendation per onboarded org/group, one alert an hour
/// old and one ten days old.
const BEFORE: [(&str, u64, u64); 2] = [("ado-weu", 2, 2), ("gitlab-weu", 1, 2)];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_recreated_alerts_and_recommendations_are_confirmed_after_the_release() {
    let sim = start_sim("").await;
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    const RUN: &str = "ms-side";
    let args = args_with(&world, RUN, &["recreation_poll_interval=1s"]);
    drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    assert_recovered(&sim, &world, &snapshot).await;

    let counted = outputs_of(&world, RUN, "count-microsoft-side");
    let checked = outputs_of(&world, RUN, "check-microsoft-side");
    assert_eq!(counted.len(), 2);
    assert_eq!(checked.len(), 2);
    for (name, assessments, alerts) in BEFORE {
        let (_, c) = counted.iter().find(|(n, _)| n == name).unwrap();
        assert_eq!(c["counted"], true, "{name}: {c:?}");
        assert_eq!(c["assessments"], assessments, "{name}: counted before the release");
        assert_eq!(c["alerts"], alerts, "{name}");
        let (_, o) = checked.iter().find(|(n, _)| n == name).unwrap();
        assert_eq!(o["recreated"], true, "{name}: {o:?}");
        assert_eq!(o["expected_assessments"], assessments, "{name}");
        assert_eq!(o["new_assessments"], assessments, "{name}");
        // The ten-day-old alert is not recreated (seed 000), and not expected.
        assert_eq!(o["expected_alerts"], 1, "{name}");
        assert_eq!(o["old_alerts_older_than_a_week"], 1, "{name}");
        assert_eq!(o["new_alerts"], 1, "{name}");
        assert_eq!(o["warnings"], serde_json::json!([]), "{name}");
        assert!(o["new_resource_id"].as_str().unwrap().ends_with(&format!("{name}-northeurope")));
    }
    let status = run(world.cmd(&sim, &["status", RUN])).await;
    assert_eq!(status.status.code(), Some(0));
    assert!(!text(&status).contains("warning"), "{}", text(&status));
    sim.shutdown().await.unwrap();
}

/// The warning the check gives for one connector when nothing came back within `within`.
fn expected_warning(old: &str, assessments: u64, within: &str) -> String {
    format!(
        "Microsoft has not recreated the DevOps alerts and recommendations of {old} for \
         {old}-northeurope within {within} of the release: Resource Graph shows 0 of \
         {assessments} recommendations and 0 of 1 alerts (alerts more than a week old are not \
         recreated); ask Microsoft support, on the release ticket, to recreate them"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_recreation_the_run_succeeds_and_warns_in_status_output_and_audit_record() {
    // The desk releases the orgs but never recreates Microsoft's side.
    let sim = start_sim("no-recreate=all").await;
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    const RUN: &str = "ms-side-missing";
    // The deadline runs on lifeboat's clock (real time here): a few seconds.
    let args = args_with(&world, RUN, &["recreation_deadline=3s", "recreation_poll_interval=1s"]);
    let d = drive_to_end(&sim, &world, RUN, &args, &Kill::default()).await.unwrap();
    assert_eq!(d.exits.last(), Some(&Some(0)), "the run succeeds: {:?}", d.exits);
    assert_recovered(&sim, &world, &snapshot).await;
    assert!(
        sim.cloud().tickets.values().all(|t| t.recreated == Some(false)),
        "the desk did not recreate"
    );

    let warnings: Vec<String> =
        BEFORE.iter().map(|(name, a, _)| expected_warning(name, *a, "3s")).collect();
    for (name, o) in outputs_of(&world, RUN, "check-microsoft-side") {
        let i = BEFORE.iter().position(|(n, _, _)| *n == name).unwrap();
        assert_eq!(o["recreated"], false, "{name}");
        assert_eq!(o["warnings"], serde_json::json!([warnings[i]]), "{name}");
    }

    // `lifeboat status`: the succeeded check shows its warning.
    let status = run(world.cmd(&sim, &["status", RUN])).await;
    let st = text(&status);
    assert_eq!(status.status.code(), Some(0), "{st}");
    assert!(st.contains(&format!("run {RUN}: succeeded")), "{st}");
    for w in &warnings {
        let line = st.lines().find(|l| l.contains(w.as_str())).unwrap_or_else(|| panic!("{st}"));
        assert!(line.starts_with("check-microsoft-side["), "{line}");
        assert!(line.contains("succeeded") && line.contains(&format!("warning: {w}")), "{line}");
    }

    // The end of the run's output (the last process drove it to success).
    let last = d.exits.len() - 1;
    let out = std::fs::read_to_string(world.tmp.path().join(format!("out-{last}.txt"))).unwrap();
    assert!(out.contains(&format!("run {RUN} succeeded")), "{out}");
    assert!(
        out.contains(&format!(
            "warnings (2; also in `lifeboat status {RUN}` and the audit record):"
        )),
        "{out}"
    );
    for w in &warnings {
        assert!(out.contains(&format!(": {w}\n")), "{out}");
    }

    // The audit record: the record's warnings, the HTML and Markdown reports, the JUnit file.
    let rec = lifeboat::audit::load(&world.run_dir(RUN).join("journal.jsonl")).unwrap();
    let mut texts: Vec<&str> = rec.warnings.iter().map(|w| w.text.as_str()).collect();
    texts.sort();
    assert_eq!(texts, warnings.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(rec.warnings.iter().all(|w| w.step.starts_with("check-microsoft-side[")));
    for (format, escape) in [("html", false), ("md", true), ("junit", false)] {
        let o = run(world.cmd(&sim, &["audit", "export", RUN, "--format", format])).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let body = String::from_utf8_lossy(&o.stdout).to_string();
        for w in &warnings {
            // Markdown escapes what could start markup (the parentheses here).
            let shown = if escape { w.replace('(', "\\(").replace(')', "\\)") } else { w.clone() };
            assert!(body.contains(&shown), "{format} lacks {shown}:\n{body}");
        }
        if format != "junit" {
            assert!(body.contains("Warnings"), "{format}: a Warnings section");
        }
    }
    sim.shutdown().await.unwrap();
}
