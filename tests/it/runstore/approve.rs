//! Issue 17 acceptance 1, with the approver (lane remote): on an `az://` run store (Azurite), a
//! driver is SIGKILLed while its run waits at a gate with steps still running; a third process,
//! from its own state directory, approves the gate meanwhile (the dead driver's lease still
//! holds the run, so the approval is queued in the run's inbox on Blob); a second process, from
//! yet another state directory, resumes once the lease expired, journals the approval first,
//! and finishes. The final state equals an uninterrupted run's, the approval is journaled
//! exactly once (with the request id), no step succeeded twice, the chain verifies and the
//! inbox holds the request in `done/`.

use super::{azurite, World};
use lifeboat::journal;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// A gate beside a chain of slow steps; `after` needs both.
fn runbook(steps: usize, sleep_ms: u64) -> String {
    let mut s = String::from(
        "apiVersion: lifeboat/v1\nmetadata:\n  name: remote-approve\nparams:\n  fx: { type: string }\nsteps:\n  - { id: go, uses: gate.approval, with: { prompt: \"Go ahead?\" } }\n",
    );
    for i in 1..=steps {
        let needs = if i > 1 { format!(", needs: [s{:02}]", i - 1) } else { String::new() };
        s.push_str(&format!(
            "  - {{ id: s{i:02}, uses: test.idempotent{needs}, with: {{ effect_file: \"{{{{ params.fx }}}}\", sleep_ms: {sleep_ms}, label: s{i:02} }} }}\n"
        ));
    }
    s.push_str(&format!(
        "  - {{ id: after, uses: test.idempotent, needs: [go, s{steps:02}], with: {{ effect_file: \"{{{{ params.fx }}}}\", label: after }} }}\n"
    ));
    s
}

impl World {
    /// Waits (a liveness bound, not a timing assertion) until the record satisfies `done`.
    async fn until(
        &self,
        run_id: &str,
        what: &str,
        child: &mut Child,
        done: impl Fn(&[Value]) -> bool,
    ) {
        let start = Instant::now();
        loop {
            if done(&payloads(&self.journal(run_id).await)) {
                return;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the driver ended ({status}) before {what}");
            }
            assert!(start.elapsed() < Duration::from_secs(180), "gave up waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn text(o: &Output) -> String {
    crate::support::cli::text(o)
}

/// The record's payloads; the chain is verified on the way.
fn payloads(bytes: &[u8]) -> Vec<Value> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let out = journal::parse(Path::new("blob"), bytes).expect("the record parses");
    journal::verify_chain(&out.entries).expect("the chain verifies");
    out.entries.iter().map(|e| e.payload.clone()).collect()
}

fn of_event<'a>(p: &'a [Value], kind: &str) -> Vec<&'a Value> {
    p.iter().filter(|e| e["event"] == kind).collect()
}

fn step_states(status: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = status["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let id = s.get("id").or_else(|| s.get("step")).and_then(Value::as_str).unwrap_or("?");
            (id.to_string(), s["state"].as_str().unwrap_or("?").to_string())
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_third_process_approves_while_the_killed_drivers_run_is_resumed_elsewhere() {
    let Some(endpoint) = azurite() else { return };
    let w = World::new(endpoint, &runbook(6, 400)).await;

    // The reference: the same runbook uninterrupted on the same store; paused at the gate
    // (exit 3), approved by another process while nobody drives (the lease is free: journaled
    // directly), then resumed to the end.
    let out = w.run("ref", "reference").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out =
        w.cmd("lead").args(["approve", "reference", "go", "--comment", "ok"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("recorded in the run store"), "{}", text(&out));
    let out = w.cmd("ref").args(["resume", "reference"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let reference = step_states(&w.status("ref", "reference"));
    assert_eq!(reference.len(), 8, "{reference:?}");
    assert!(reference.iter().all(|(_, s)| s == "succeeded"), "{reference:?}");

    // Driver A waits for people; killed once the gate waits and the chain is under way.
    let mut a = w.run("a", "r1");
    a.args(["--wait-for-people", "10m"]).stdout(Stdio::null()).stderr(Stdio::null());
    let mut a = a.spawn().expect("driver A starts");
    w.until("r1", "the gate to wait and s02 to start", &mut a, |p| {
        !of_event(p, "step_awaiting_approval").is_empty()
            && p.iter().any(|e| e["event"] == "step_started" && e["step"] == "s02")
    })
    .await;
    // SAFETY: kill(2) on a child we spawned.
    assert_eq!(unsafe { libc::kill(a.id() as i32, libc::SIGKILL) }, 0);
    let _ = a.wait();
    let at_kill = w.journal("r1").await;

    // Bad input, while the dead driver's lease still holds the run: a step the run does not
    // have, a run the store does not have: exit 2, nothing queued or journaled.
    let out = w.cmd("lead").args(["approve", "r1", "nosuchstep"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("step nosuchstep does not exist"), "{}", text(&out));
    let out = w.cmd("lead").args(["approve", "nosuchrun", "go"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("does not exist in the run store"), "{}", text(&out));
    assert!(w.store.list("runs/r1/inbox/").await.unwrap().is_empty(), "nothing queued");
    assert!(w.store.list("runs/nosuchrun/").await.unwrap().is_empty(), "nothing written");
    assert_eq!(w.journal("r1").await, at_kill, "nothing journaled");

    // The lead approves from a third machine while the dead driver's lease still holds the run:
    // the request is queued in the run's inbox on Blob, and the command waits for a driver.
    let mut lead = w.cmd("lead");
    lead.args(["approve", "r1", "go", "--comment", "lead approves", "--wait", "5m"]);
    lead.stdout(Stdio::piped()).stderr(Stdio::piped());
    let lead = lead.spawn().expect("the approver starts");
    let inbox = "runs/r1/inbox/";
    let start = Instant::now();
    let queued = loop {
        let names = w.store.list(inbox).await.unwrap();
        if let Some(n) = names.into_iter().find(|n| !n[inbox.len()..].contains('/')) {
            break n;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the request was never queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(w.journal("r1").await, at_kill, "queued, not journaled: nobody drives the run");

    // B, on another machine, resumes after the lease expired: the inbox first, then the end.
    let mut b = w.cmd("b");
    b.args(["resume", "r1"]).env("LIFEBOAT_RUN_STORE_LEASE_WAIT", "90s");
    let out = b.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = lead.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let id = queued[inbox.len()..].trim_end_matches(".json").to_string();
    assert!(text(&out).contains("recorded at seq"), "{}", text(&out));
    assert!(text(&out).contains(&id), "{}", text(&out));

    // Same final state as the uninterrupted run, read from a fourth place, which also says
    // where the run is kept.
    let st = w.status("d", "r1");
    assert_eq!(step_states(&st), reference);
    assert_eq!(st["run_store"]["journal"], format!("{}/runs/r1/journal.jsonl", w.url));
    assert_eq!(st["run_store"]["inbox"], format!("{}/runs/r1/inbox/", w.url));
    assert_eq!(st["pending_requests"], serde_json::json!([]));
    let record = w.journal("r1").await;
    assert!(record.starts_with(&at_kill), "nothing the killed driver recorded was lost");
    let p = payloads(&record);
    let approvals = of_event(&p, "approved");
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["by"]["request"], Value::String(id.clone()));
    let mut succeeded: Vec<&str> =
        of_event(&p, "step_succeeded").iter().filter_map(|e| e["step"].as_str()).collect();
    succeeded.sort();
    let before = succeeded.len();
    succeeded.dedup();
    assert_eq!(before, succeeded.len(), "a step succeeded twice: {succeeded:?}");
    // The six chained steps and `after` (the gate ends with its approval, no step_succeeded).
    assert_eq!(succeeded.len(), 7, "{succeeded:?}");
    let names = w.store.list(inbox).await.unwrap();
    assert_eq!(names, vec![format!("{inbox}done/{id}.json")], "settled as done, once");
    let out = w.cmd("e").args(["audit", "verify", "r1"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
