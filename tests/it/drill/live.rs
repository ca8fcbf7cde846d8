//! The live drill against the simulator standing in for Azure: it runs the region-outage
//! runbook itself (drill mode), leaves a run that `status`, `audit verify` and `audit export`
//! read, writes only to what it created (asserted from the simulator's request log, and proved
//! by the report from the journal's effects), removes it, says what it did not rehearse, refuses
//! bad input before anything, and `--cleanup` removes what an interrupted live drill left,
//! whatever the interruption point.

use crate::drill::{lifeboat, repo, text, validator};
use lifeboat::sim::{RunningSim, SimConfig, TenantSource};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const SUB: &str = "00000000-0000-4000-8000-0000000000a1";
const PROD: &str = "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-devsec-weu/providers/Microsoft.Security/securityConnectors/ado-weu";
/// The group the drill's connector goes to: `<production group>-<drill region>`.
const DRILL_GROUP: &str = "rg-devsec-weu-northeurope";

async fn start() -> RunningSim {
    // Simulated time runs fast so long-running operations end within the client's polls.
    let cfg = SimConfig { tenant: TenantSource::Small, time_scale: 1000.0, ..SimConfig::default() };
    crate::support::sim::start(cfg).await
}

/// Runs the binary off the async runtime, so the in-process simulator keeps serving.
async fn run_cmd(
    state: &Path,
    url: &str,
    args: Vec<String>,
    failpoint: Option<&str>,
) -> std::process::Output {
    let mut c = lifeboat(state);
    c.args(["--arm-endpoint", url, "--auth", "none"]).args(args);
    if let Some(f) = failpoint {
        c.env("LIFEBOAT_DRILL_FAILPOINT", f);
    }
    tokio::task::spawn_blocking(move || c.output().expect("lifeboat runs")).await.unwrap()
}

/// `lifeboat ... drill ARGS`.
async fn run(
    state: &Path,
    url: &str,
    args: Vec<String>,
    failpoint: Option<&str>,
) -> std::process::Output {
    let args = std::iter::once("drill".to_string()).chain(args).collect();
    run_cmd(state, url, args, failpoint).await
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// `--live` against production with a fresh OAuth code minted by the simulator.
fn live_args(state: &Path, sim: &RunningSim, run_id: &str) -> Vec<String> {
    let code = state.join(format!("{run_id}.code"));
    std::fs::write(&code, sim.mint_code()).unwrap();
    let mut a = live_args_without_code(run_id);
    a.extend(strings(&["--authorization-code-file", code.to_str().unwrap()]));
    a
}

fn live_args_without_code(run_id: &str) -> Vec<String> {
    strings(&["--live", "--connector", PROD, "--drill-region", "northeurope", "--run-id", run_id])
}

/// Whether a request of the log is a write: PUT, PATCH, DELETE, and POSTs other than the read
/// actions (listAvailable*, listSubgroups, Resource Graph queries, name checks).
fn is_write(e: &lifeboat::sim::LogEntry) -> bool {
    let p = e.path.to_ascii_lowercase();
    let read_post = e.method == "POST"
        && (p.contains("/listavailable")
            || p.contains("/listsubgroups")
            || p.contains("microsoft.resourcegraph")
            || p.contains("/checknameavailability"));
    !e.path.starts_with("/_sim") && e.method != "GET" && e.method != "HEAD" && !read_post
}

fn path_of(e: &lifeboat::sim::LogEntry) -> String {
    e.path.split('?').next().unwrap_or("").to_string()
}

/// Writes of the simulator's request log that targeted production or any of its children.
fn writes_to_production(sim: &RunningSim) -> Vec<String> {
    let prod = PROD.to_ascii_lowercase();
    sim.requests()
        .into_iter()
        .filter(is_write)
        .filter(|e| {
            let p = path_of(e).to_ascii_lowercase();
            p == prod || p.starts_with(&format!("{prod}/"))
        })
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

/// Every write of the simulator's request log.
fn all_writes(sim: &RunningSim) -> Vec<(String, String)> {
    sim.requests().iter().filter(|e| is_write(e)).map(|e| (e.method.clone(), path_of(e))).collect()
}

fn drill_connectors(sim: &RunningSim) -> Vec<String> {
    sim.cloud()
        .connectors
        .values()
        .filter(|c| c.name.contains("-drill-"))
        .map(|c| c.name.clone())
        .collect()
}

fn drill_group_exists(sim: &RunningSim) -> bool {
    sim.cloud().group(SUB, DRILL_GROUP).is_some()
}

fn report(state: &Path, run_id: &str) -> Value {
    let p = state.join(format!("drills/{run_id}/report.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}")))
        .unwrap()
}

fn check_schema(doc: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/drill-report.schema.json")).expect("schema"),
    )
    .unwrap();
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    let errors: Vec<String> =
        v.iter_errors(doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "report.json does not follow the schema: {errors:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_drill_runs_the_runbook_leaves_an_auditable_run_and_never_writes_to_production() {
    let sim = start().await;
    let state = tempfile::tempdir().unwrap();
    let st = state.path();
    let owners_before = sim.cloud().owners.clone();
    let out = run(st, sim.url(), live_args(st, &sim, "live1"), None).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("verdict: PASSED"), "{t}");

    // The simulator's own record: no write to production or below it; the drill did write its
    // own group, connector and configuration, then removed them; ownership is untouched.
    assert_eq!(writes_to_production(&sim), Vec::<String>::new());
    let writes = all_writes(&sim);
    let drill_writes: Vec<&(String, String)> =
        writes.iter().filter(|(_, p)| p.contains("-drill-")).collect();
    assert!(
        drill_writes.iter().any(|(m, p)| m == "PUT" && p.ends_with("/devops/default")),
        "{writes:?}"
    );
    assert!(drill_writes.iter().any(|(m, _)| m == "DELETE"), "{writes:?}");
    assert!(
        writes.iter().any(|(m, p)| m == "DELETE"
            && p.to_ascii_lowercase().ends_with(&format!("/resourcegroups/{DRILL_GROUP}"))),
        "the drill's group was removed: {writes:?}"
    );
    assert_eq!(drill_connectors(&sim), Vec::<String>::new());
    assert!(!drill_group_exists(&sim), "the drill's resource group is left");
    assert_eq!(sim.cloud().owners, owners_before, "ownership changed");
    // No support ticket was filed: the request is drafted (marked DRILL) and attested.
    assert!(!writes.iter().any(|(_, p)| p.to_ascii_lowercase().contains("supporttickets")));
    let drafted = std::fs::read_to_string(st.join("runs/live1/support/ado-weu.md")).unwrap();
    assert!(drafted.contains("DRILL, NOT AN OUTAGE"), "{drafted}");

    // The report proves it from the journal: every write the simulator saw is a journaled
    // effect, and none targets production.
    let doc = report(st, "live1");
    check_schema(&doc);
    assert_eq!(doc["mode"], "live");
    assert_eq!(doc["verdict"]["passed"], true, "{doc}");
    let live = &doc["live"];
    assert_eq!(live["production"], PROD);
    assert_eq!(live["writes_to_production"], 0);
    assert_eq!(live["refused_by_guard"], serde_json::json!([]));
    assert_eq!(live["unrecorded_writes"], serde_json::json!([]));
    let journaled: BTreeSet<(String, String)> = live["writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            assert_eq!(w["to_production"], false, "{w}");
            (
                w["method"].as_str().unwrap().to_string(),
                w["target"].as_str().unwrap().to_ascii_lowercase(),
            )
        })
        .collect();
    let seen: BTreeSet<(String, String)> =
        writes.iter().map(|(m, p)| (m.clone(), p.to_ascii_lowercase())).collect();
    assert_eq!(journaled, seen, "the journal's write effects are the writes the simulator saw");
    assert!(doc["verifications"].to_string().contains("production connector unchanged"));
    let not_rehearsed = live["not_rehearsed"].to_string();
    for what in ["release", "primary", "deleting the old connector", "organization `contoso`"] {
        assert!(not_rehearsed.contains(what), "{what}: {not_rehearsed}");
    }
    assert!(live["not_rehearsed"].as_array().unwrap().iter().all(|n| n["by_design"] == true));
    assert!(doc["rto"]["seconds"].is_number(), "{}", doc["rto"]);
    let html = std::fs::read_to_string(st.join("drills/live1/report.html")).unwrap();
    assert!(html.contains("0 write(s) to production"), "the HTML report says it");
    if let Some(jar) = validator("LIFEBOAT_TEST_VNU_JAR", None) {
        let o = std::process::Command::new("java")
            .arg("-jar")
            .arg(jar)
            .arg("--errors-only")
            .arg(st.join("drills/live1/report.html"))
            .output()
            .unwrap();
        assert!(o.status.success(), "vnu: {}", text(&o));
    }

    // A real run: listed, shown, verified, exported.
    let cmd = |args: &[&str]| run_cmd(st, sim.url(), strings(args), None);
    let o = cmd(&["runs", "list"]).await;
    assert!(text(&o).contains("live1"), "{}", text(&o));
    let o = cmd(&["status", "live1"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let status = text(&o);
    assert!(status.contains("attest-drill-request"), "{status}");
    assert!(status.contains("not rehearsed by this live drill"), "{status}");
    let o = cmd(&["audit", "verify", "live1"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("intact"), "{}", text(&o));
    for (format, needle) in [
        ("html", "live1"),
        ("md", "attest-drill-request"),
        ("jsonl", "\"drill\":true"),
        ("csv", "remove-drill-resources"),
    ] {
        let o = cmd(&["audit", "export", "live1", "--format", format]).await;
        assert_eq!(o.status.code(), Some(0), "{format}: {}", text(&o));
        let body = String::from_utf8_lossy(&o.stdout);
        assert!(body.contains(needle), "{format} export lacks {needle}");
    }
    // The drill attestation is journaled with who ran the drill.
    let o = cmd(&["audit", "export", "live1", "--format", "md"]).await;
    assert!(String::from_utf8_lossy(&o.stdout).contains("drill attestation"));

    // The code is nowhere in what the drill wrote.
    let code = std::fs::read_to_string(st.join("live1.code")).unwrap();
    for f in [
        "drills/live1/report.json",
        "drills/live1/report.html",
        "drills/live1/ledger.jsonl",
        "runs/live1/journal.jsonl",
        "runs/live1/support/ado-weu.md",
    ] {
        let body = std::fs::read_to_string(st.join(f)).unwrap();
        assert!(!body.contains(code.trim()), "{f} holds the code");
    }
    assert!(!st.join("drills/live1/authorization-codes").exists(), "the code file is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_drill_without_a_code_is_partial_and_says_what_it_did_not_rehearse() {
    let sim = start().await;
    let state = tempfile::tempdir().unwrap();
    let st = state.path();
    let out = run(st, sim.url(), live_args_without_code("nocode"), None).await;
    let t = text(&out);
    // Not "PASSED" with an RTO: PARTIAL, exit 1, and why.
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("verdict: PARTIAL"), "{t}");
    assert!(!t.contains("verdict: PASSED"), "{t}");
    assert!(
        t.contains("not rehearsed (rehearsable): the authorization of the drill connector"),
        "{t}"
    );
    let doc = report(st, "nocode");
    check_schema(&doc);
    assert_eq!(doc["verdict"]["passed"], false);
    assert_eq!(doc["verdict"]["partial"], true);
    assert!(doc["rto"]["seconds"].is_null(), "no RTO for what was not rehearsed: {}", doc["rto"]);
    assert_eq!(doc["recovery"]["verified"], false);
    let gaps: Vec<&Value> = doc["live"]["not_rehearsed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["by_design"] == false)
        .collect();
    assert!(gaps.iter().any(|n| n["what"].as_str().unwrap().contains("OAuth code")), "{gaps:?}");
    assert!(
        gaps.iter().any(|n| n["what"].as_str().unwrap().contains("DevOps configuration")),
        "{gaps:?}"
    );
    // Still nothing to production, and nothing left.
    assert_eq!(writes_to_production(&sim), Vec::<String>::new());
    assert_eq!(drill_connectors(&sim), Vec::<String>::new());
    assert!(!drill_group_exists(&sim));
    // status and the audit record say it too.
    let o = run_cmd(st, sim.url(), strings(&["status", "nocode"]), None).await;
    assert!(
        text(&o).contains("not rehearsed: the authorization of the drill connector"),
        "{}",
        text(&o)
    );
    let o = run_cmd(st, sim.url(), strings(&["audit", "export", "nocode", "--format", "md"]), None)
        .await;
    assert!(String::from_utf8_lossy(&o.stdout).contains("not rehearsed"));
    let html = std::fs::read_to_string(st.join("drills/nocode/report.html")).unwrap();
    assert!(html.contains("Drill partial"), "the HTML banner says partial");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_ticket_files_the_drill_request_journaled_and_the_cleanup_closes_it() {
    let sim = start().await;
    let state = tempfile::tempdir().unwrap();
    let st = state.path();
    let owners_before = sim.cloud().owners.clone();
    let mut args = live_args(st, &sim, "tick");
    args.extend(strings(&[
        "--submit-ticket",
        "--set",
        "contact_first_name=Ada",
        "--set",
        "contact_last_name=Lovelace",
        "--set",
        "contact_email=ada@example.com",
    ]));
    let out = run(st, sim.url(), args, None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The ticket was filed (a journaled write, approved by whoever ran the drill), marked DRILL,
    // and closed by the cleanup; nothing reached production.
    let tickets: Vec<_> = sim.cloud().tickets.values().cloned().collect();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0].properties["status"], "Closed");
    assert!(tickets[0].properties.to_string().contains("DRILL, NOT AN OUTAGE"));
    let doc = report(st, "tick");
    let live = &doc["live"];
    assert!(
        live["writes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["method"] == "PUT"
                && w["target"].as_str().unwrap().contains("/supportTickets/")),
        "{live}"
    );
    assert_eq!(live["unrecorded_writes"], serde_json::json!([]));
    assert_eq!(live["ledger_cleanup"][0]["result"], "closed", "{live}");
    assert!(!live["not_rehearsed"].to_string().contains("filing the support request"));
    assert_eq!(writes_to_production(&sim), Vec::<String>::new());
    assert_eq!(sim.cloud().owners, owners_before, "ownership changed");
    let o =
        run_cmd(st, sim.url(), strings(&["audit", "export", "tick", "--format", "md"]), None).await;
    assert!(String::from_utf8_lossy(&o.stdout).contains("approve-submission"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_live_drill_input_exits_2_before_anything_is_written() {
    let sim = start().await;
    let state = tempfile::tempdir().unwrap();
    let st = state.path();
    let missing = PROD.replace("/ado-weu", "/no-such-connector");
    let aws = "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-cloud-weu/providers/Microsoft.Security/securityConnectors/aws-weu";
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            strings(&[
                "--live",
                "--connector",
                &missing,
                "--drill-region",
                "northeurope",
                "--run-id",
                "bad1",
            ]),
            "no such connector",
        ),
        (
            strings(&[
                "--live",
                "--connector",
                PROD,
                "--drill-region",
                "West Europe",
                "--run-id",
                "bad2",
            ]),
            "production connector's own region",
        ),
        (
            strings(&[
                "--live",
                "--connector",
                PROD,
                "--drill-region",
                "brazilsouth",
                "--run-id",
                "bad3",
            ]),
            "brazilsouth",
        ),
        (
            strings(&[
                "--live",
                "--connector",
                PROD,
                "--drill-region",
                "northeurope",
                "--run-id",
                "bad4",
                "--set",
                "drill=false",
            ]),
            "--set drill",
        ),
    ];
    for (args, needle) in cases {
        let out = run(st, sim.url(), args.clone(), None).await;
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {t}");
        assert!(t.contains(needle), "{args:?}: {t}");
    }
    // The small tenant's AWS connector is not a DevOps one.
    let args = strings(&[
        "--live",
        "--connector",
        aws,
        "--drill-region",
        "northeurope",
        "--run-id",
        "bad5",
    ]);
    let out = run(st, sim.url(), args, None).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a DevOps one"), "{}", text(&out));
    assert_eq!(all_writes(&sim), Vec::<(String, String)>::new(), "nothing was written to Azure");
    for d in ["drills", "runs"] {
        let left: Vec<_> =
            std::fs::read_dir(st.join(d)).map(|r| r.flatten().collect()).unwrap_or_default();
        assert!(left.is_empty(), "{d}/ holds {left:?}");
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
        assert!(drill_group_exists(&sim), "{point}: the drill's group was created first");
        let out = run(state.path(), sim.url(), vec!["--cleanup".into(), id.clone()], None).await;
        assert_eq!(out.status.code(), Some(0), "{point}: {}", text(&out));
        assert_eq!(drill_connectors(&sim), Vec::<String>::new(), "{point}");
        assert!(!drill_group_exists(&sim), "{point}: the drill's group is left");
        // A second cleanup has nothing left to do.
        let out = run(state.path(), sim.url(), vec!["--cleanup".into(), id], None).await;
        assert!(text(&out).contains("nothing left"), "{}", text(&out));
    }
    assert_eq!(writes_to_production(&sim), Vec::<String>::new());
}
