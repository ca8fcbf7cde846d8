//! Issue 11 regressions: a crafted journal (re-chained, so its hash chain is valid) or a huge
//! duration never panics a reader, and one unreadable run never hides the others of its state
//! directory (`runs list`, `status`).

use crate::engine::common::*;
use lifeboat::engine::runner;
use lifeboat::engine::{Engine, Event};
use lifeboat::journal::{self, Entry, Writer};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

const RUNBOOK: &str = "params: {}
steps:
  - id: work
    uses: manual.task
    with: { instructions: do it }
  - id: gate
    uses: gate.approval
    needs: [work]
";

fn run(state: &Path, args: &[&str]) -> Output {
    lifeboat(state).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A run created by the library (header + `RunStarted`), as `lifeboat run` writes it.
fn good_run(state: &Path, id: &str) {
    let plan = plan("defects", 4, RUNBOOK);
    runner::create_run(state, &plan, id, t0(), &actor(), 7).unwrap();
}

/// Rewrites a run's journal with `edit` applied to its entries, re-chained through the
/// journal's own writer: every `prev` and `hash` is recomputed, so the chain verifies and only
/// the content can be wrong.
fn rechain(state: &Path, id: &str, edit: impl FnOnce(&mut Vec<Entry>)) {
    let path = state.join("runs").join(id).join(journal::JOURNAL_FILE);
    let mut entries = journal::read(&path).unwrap().entries;
    edit(&mut entries);
    let tmp = path.with_extension("crafted");
    let mut w = Writer::create(&tmp, entries[0].time, entries[0].payload.clone()).unwrap();
    for e in &entries[1..] {
        w.append_batch(&[(e.time, e.kind.as_str(), e.payload.clone())]).unwrap();
    }
    drop(w);
    std::fs::rename(&tmp, &path).unwrap();
    // The forgery is consistent: the chain verifies.
    journal::read(&path).unwrap();
}

/// A run whose journaled plan lists a step index past the end of its steps.
fn out_of_range_order_run(state: &Path, id: &str) {
    good_run(state, id);
    rechain(state, id, |entries| entries[0].payload["plan"]["order"] = json!([0, 7]));
}

fn assert_clear_failure(out: &Output, what: &str, needle: &str) {
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{what} panicked: {err}");
    assert_ne!(out.status.code(), Some(0), "{what} succeeded: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(err.contains(needle), "{what}: expected `{needle}` in: {err}");
}

#[test]
fn defect_12_crafted_journal_with_out_of_range_plan_order_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    out_of_range_order_run(state, "bad");
    let needle = "journal.jsonl:1: journal entry cannot be replayed: header holds an invalid plan: plan.order[1] is 7, out of range (the steps are numbered 0 to 1)";
    for args in [
        vec!["status", "bad"],
        vec!["resume", "bad"],
        vec!["approve", "bad", "gate"],
        vec!["skip", "bad", "gate", "--reason", "r"],
    ] {
        assert_clear_failure(&run(state, &args), &args.join(" "), needle);
    }
    // Nothing was appended to the crafted journal by the refused commands.
    let entries = journal::read(&state.join("runs/bad").join(journal::JOURNAL_FILE)).unwrap();
    assert_eq!(entries.entries.len(), 2);
}

/// A change to a journal's entries, before they are re-chained.
type Edit = dyn Fn(&mut Vec<Entry>);

#[test]
fn defect_12_crafted_plans_and_events_are_errors_naming_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let reg = registry();
    let cases: Vec<(&str, Box<Edit>, &str)> = vec![
        (
            "dup-order",
            Box::new(|e| e[0].payload["plan"]["order"] = json!([1, 1])),
            ":1: journal entry cannot be replayed: header holds an invalid plan: plan.order lists step 1 (`gate`) twice",
        ),
        (
            "short-order",
            Box::new(|e| e[0].payload["plan"]["order"] = json!([0])),
            "plan.order has 1 entries for 2 steps",
        ),
        (
            "reversed",
            Box::new(|e| e[0].payload["plan"]["order"] = json!([1, 0])),
            "step `gate` needs `work`, which does not come before it in plan.order",
        ),
        (
            "dup-id",
            Box::new(|e| e[0].payload["plan"]["runbook"]["steps"][1]["id"] = json!("work")),
            "step id `work` appears twice",
        ),
        (
            "branch",
            Box::new(|e| {
                let mut ev = e[1].clone();
                ev.payload = json!({ "event": "step_started", "step": "work", "branch": 99, "attempt": 1 });
                e.push(ev);
            }),
            ":3: journal entry cannot be replayed: step work has no branch #99",
        ),
        (
            "step",
            Box::new(|e| {
                let mut ev = e[1].clone();
                ev.payload = json!({ "event": "step_started", "step": "nope", "branch": null, "attempt": 1 });
                e.push(ev);
            }),
            ":3: journal entry cannot be replayed: step nope does not exist in this run",
        ),
    ];
    for (id, edit, needle) in cases {
        good_run(state, id);
        rechain(state, id, edit);
        let err = runner::load(&state.join("runs").join(id), &reg).unwrap_err().to_string();
        assert!(err.contains(needle), "{id}: expected `{needle}` in: {err}");
    }
}

#[test]
fn defect_12_one_bad_run_does_not_hide_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    good_run(state, "a-good");
    out_of_range_order_run(state, "b-bad");
    good_run(state, "c-good");
    good_run(state, "d-corrupt");
    let corrupt = state.join("runs/d-corrupt").join(journal::JOURNAL_FILE);
    let damaged = std::fs::read_to_string(&corrupt).unwrap().replace("run_started", "run_stopped");
    std::fs::write(&corrupt, damaged).unwrap();

    for args in [vec!["runs", "list"], vec!["status"]] {
        let out = run(state, &args);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        let line = |id: &str| {
            stdout.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id}: {stdout}"))
        };
        for good in ["a-good", "c-good"] {
            assert!(line(good).contains("defects") && line(good).contains("0/2"), "{stdout}");
        }
        assert!(
            line("b-bad").contains("unreadable:") && line("b-bad").contains("journal.jsonl:1:")
        );
        assert!(line("b-bad").contains("plan.order[1] is 7, out of range"), "{stdout}");
        assert!(line("d-corrupt").contains("unreadable:") && line("d-corrupt").contains(":2:"));
    }
    let out = run(state, &["--output", "json", "runs", "list"]);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> =
        runs.as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a-good", "b-bad", "c-good", "d-corrupt"]);
    assert!(runs[0]["error"].is_null() && runs[2]["error"].is_null());
    assert!(runs[1]["error"].as_str().unwrap().contains("plan.order"));
    // The good runs still work one by one; the bad one is a clear error.
    let out = run(state, &["status", "c-good"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_clear_failure(&run(state, &["status", "b-bad"]), "status b-bad", "journal.jsonl:1:");
}

/// A journal as the unfixed build wrote it for `timeout: 1000000000y`: the plan, then the
/// `StepStarted` whose deadline overflowed (the process panicked right after journaling it).
fn huge_timeout_run(state: &Path, id: &str) {
    good_run(state, id);
    rechain(state, id, |entries| {
        entries[0].payload["plan"]["runbook"]["steps"][0]["timeout"] = json!("1000000000years");
        let mut started = entries[1].clone();
        started.payload =
            json!({ "event": "step_started", "step": "work", "branch": null, "attempt": 1 });
        entries.push(started);
    });
}

#[test]
fn defect_01_a_run_journaled_with_a_huge_timeout_is_an_error_and_the_others_still_list() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    good_run(state, "a-good");
    huge_timeout_run(state, "b-huge");
    for args in [vec!["runs", "list"], vec!["status"]] {
        let out = run(state, &args);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert!(stdout.lines().any(|l| l.starts_with("a-good") && l.contains("0/2")), "{stdout}");
        assert!(
            stdout.lines().any(|l| l.starts_with("b-huge")
                && l.contains("unreadable:")
                && l.contains("timeout of step `work` is longer than the maximum of 400 days")),
            "{stdout}"
        );
    }
    for args in [
        vec!["status", "b-huge"],
        vec!["resume", "b-huge"],
        vec!["skip", "b-huge", "gate", "--reason", "r"],
    ] {
        assert_clear_failure(&run(state, &args), &args.join(" "), "journal.jsonl:1:");
    }
}

#[test]
fn defect_01_engine_time_arithmetic_is_checked() {
    // Plans the validator refuses (it bounds durations to 400 days) must still never panic the
    // engine: the deadline and the retry wake-up are checked additions.
    let reg = registry();
    let mut p = plan(
        "huge",
        1,
        "steps:\n  - id: w\n    uses: test.idempotent\n    with: { effect_file: x }\n",
    );
    p.runbook.steps[0].timeout = Some(Duration::from_secs(u64::MAX));
    let mut e = Engine::new(Arc::new(p.clone()), "r", 7, &|u| reg.class_of(u));
    e.handle(&Event::RunStarted, t0()).unwrap();
    let started = Event::StepStarted { step: "w".into(), branch: None, attempt: 1 };
    let err = e.handle(&started, t0()).unwrap_err().to_string();
    assert!(err.starts_with("step w: deadline: "), "{err}");
    assert!(err.contains("beyond the latest representable time"), "{err}");

    p.runbook.steps[0].timeout = None;
    p.runbook.steps[0].retry.max_attempts = 3;
    p.runbook.steps[0].retry.jitter = false;
    p.runbook.steps[0].retry.initial_delay = Duration::from_secs(u64::MAX / 2);
    p.runbook.steps[0].retry.max_delay = Duration::from_secs(u64::MAX / 2);
    let mut e = Engine::new(Arc::new(p), "r", 7, &|u| reg.class_of(u));
    e.handle(&Event::RunStarted, t0()).unwrap();
    e.handle(&started, t0()).unwrap();
    let failed = Event::StepFailed {
        step: "w".into(),
        branch: None,
        attempt: 1,
        error: "boom".into(),
        retryable: true,
    };
    let err = e.handle(&failed, t0()).unwrap_err().to_string();
    assert!(err.starts_with("step w: retry: "), "{err}");
    assert!(err.contains("beyond the latest representable time"), "{err}");
}

#[test]
fn defect_12_an_engine_built_from_an_unchecked_plan_never_indexes_out_of_range() {
    // `replay` refuses such a plan; the engine itself must still not panic on it.
    let reg = registry();
    let mut p = plan("order", 1, RUNBOOK);
    p.order = vec![5, 1, 1, usize::MAX];
    let mut e = Engine::new(Arc::new(p), "r", 7, &|u| reg.class_of(u));
    e.handle(&Event::RunStarted, t0()).unwrap();
    let steps: Vec<String> = e.snapshot().into_iter().map(|v| v.step).collect();
    assert_eq!(steps, ["gate", "work"], "listed steps first, then the missing ones");
    assert!(e.blockers().is_empty() && e.rearmable().is_empty());
}
