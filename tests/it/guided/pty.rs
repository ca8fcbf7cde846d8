//! Guided mode end to end in a pseudo-terminal: approve a gate, watch progress, pause with
//! Ctrl-C during a durable wait, resume, attest a manual task, finish; a secret typed at a
//! hidden prompt is neither echoed nor journaled.

use super::{events, fixture, lifeboat};
use crate::support;
use expectrl::process::unix::WaitStatus;
use expectrl::{ControlCode, Eof, Expect, Session};
use std::path::Path;
use std::time::Duration;

/// A session plus everything it printed, for assertions on the whole transcript.
pub(super) struct Pty {
    pub(super) session: expectrl::session::OsSession,
    pub(super) transcript: String,
}

impl Pty {
    pub(super) fn spawn(cmd: std::process::Command) -> Pty {
        let mut session = Session::spawn(cmd).expect("spawn in a pty");
        // ptyprocess turns echo off in the child; a responder's terminal echoes what is typed,
        // which is what the hidden-input test must be checked against.
        session.get_process_mut().set_echo(true, None).expect("echo on");
        session.set_expect_timeout(Some(Duration::from_secs(60)));
        Pty { session, transcript: String::new() }
    }

    pub(super) fn expect(&mut self, text: &str) {
        match self.session.expect(text) {
            Ok(c) => self.transcript.push_str(&String::from_utf8_lossy(c.as_bytes())),
            Err(e) => panic!("waiting for {text:?}: {e}\n--- transcript ---\n{}", self.transcript),
        }
    }

    /// Like [`Pty::expect`], for a regular expression.
    pub(super) fn expect_re(&mut self, re: &str) {
        match self.session.expect(expectrl::Regex(re)) {
            Ok(c) => self.transcript.push_str(&String::from_utf8_lossy(c.as_bytes())),
            Err(e) => panic!("waiting for /{re}/: {e}\n--- transcript ---\n{}", self.transcript),
        }
    }

    pub(super) fn send_line(&mut self, text: &str) {
        self.session.send_line(text).expect("write to the pty");
    }

    /// Reads to the end and returns the exit code.
    pub(super) fn finish(mut self) -> (i32, String) {
        if let Ok(c) = self.session.expect(Eof) {
            self.transcript.push_str(&String::from_utf8_lossy(c.as_bytes()));
        }
        let status = self.session.get_process().wait().expect("wait");
        match status {
            WaitStatus::Exited(_, code) => (code, self.transcript),
            other => panic!("ended by {other:?}\n{}", self.transcript),
        }
    }
}

fn guided(state: &Path, args: &[&str]) -> Pty {
    let mut cmd = lifeboat(state);
    cmd.args(args).env("NO_COLOR", "1").env("TERM", "xterm");
    Pty::spawn(cmd)
}

#[test]
fn approve_pause_with_ctrl_c_resume_attest_and_finish() {
    let state = tempfile::tempdir().unwrap();
    let effects = state.path().join("effects");
    let runbook = fixture("failover.yaml");
    let set = format!("effects={}", effects.display());
    let mut p = guided(
        state.path(),
        // The wait is long enough for Ctrl-C to land in it even on a loaded machine.
        &[
            "run",
            runbook.to_str().unwrap(),
            "--set",
            &set,
            "--set",
            "pause=4s",
            "--run-id",
            "g1",
            "--guided",
            "--verbose",
        ],
    );
    // Before the gate: what the run is and what the step does.
    p.expect("run g1 of runbook guided-failover");
    p.expect("The incident commander confirms the failover may start");
    p.expect("Fail over contoso, fabrikam?");
    p.expect("[a]pprove, [s]kip with reason, [d]etails, [p]ause and come back later: ");
    p.send_line("x");
    p.expect("(type one of: a, s, d, p)");
    p.send_line("a");
    p.expect("comment for the audit record (optional): ");
    p.send_line("go ahead, region is down");
    p.expect("approve-failover approved (journaled)");
    // The fan-out: one line per state change of each branch, the description once (--verbose),
    // progress lines (--verbose without a terminal), then a summary of the outputs.
    p.expect("reapply#0  started");
    p.expect("Reapply the saved settings of each organisation");
    p.expect(" of 4: part ");
    p.expect("reapply#1  ✓ done (");
    p.expect("1 change): label ");
    // The durable wait: Ctrl-C pauses cleanly.
    p.expect("settle  … waiting: ");
    p.session.send(ControlCode::EndOfText).unwrap();
    p.expect("lifeboat resume g1 --guided");
    let (code, out) = p.finish();
    assert_eq!(code, 3, "Ctrl-C pauses with exit 3\n{out}");
    assert!(out.contains("run g1 interrupted"), "{out}");
    // The terminal echoes what is typed (so the hidden-input test below means something).
    assert!(out.contains("go ahead, region is down"), "{out}");
    assert_eq!(
        out.matches("Reapply the saved settings").count(),
        1,
        "a step's description is shown once, not per branch: {out}"
    );
    assert!(!out.contains('{') && !out.contains("\":"), "no JSON in guided output: {out}");
    let reapplied = std::fs::read_to_string(&effects).unwrap();
    assert_eq!(reapplied.lines().count(), 2, "each branch acted once: {reapplied}");

    // The run is not locked after the pause, and `resume --guided` continues at the wait.
    let mut p = guided(state.path(), &["resume", "g1", "--guided"]);
    p.expect("File a support ticket and note its number");
    p.expect(
        "[t] attest with evidence, [s]kip with reason, [d]etails, [p]ause and come back later: ",
    );
    // Details on demand: the step's description.
    p.send_line("d");
    p.expect("Tell the support desk the connector moved");
    p.expect("[p]ause and come back later: ");
    p.send_line("t");
    p.expect("evidence (what was done, e.g. a ticket number): ");
    p.send_line("");
    p.expect("an empty answer cannot go into the audit record");
    p.send_line("support ticket 2401010000123");
    p.expect("file-ticket attested (journaled)");
    p.expect("run g1  ✓ succeeded");
    let (code, out) = p.finish();
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("reapply#0  ✓ done"), "finished steps are not run again: {out}");
    assert!(
        !out.contains("Reapply the saved settings"),
        "no descriptions without --verbose: {out}"
    );
    assert_eq!(std::fs::read_to_string(&effects).unwrap().lines().count(), 3);

    // The decisions are journaled like `lifeboat approve/attest`, with the OS user.
    let ev = events(state.path(), "g1");
    let approved: Vec<_> = ev.iter().filter(|e| e["event"] == "approved").collect();
    assert_eq!(approved.len(), 1, "{approved:?}");
    assert_eq!(approved[0]["step"], "approve-failover");
    assert_eq!(approved[0]["by"]["user"], "responder-test");
    assert_eq!(approved[0]["comment"], "go ahead, region is down");
    let attested: Vec<_> = ev.iter().filter(|e| e["event"] == "attested").collect();
    assert_eq!(attested.len(), 1);
    assert_eq!(attested[0]["step"], "file-ticket");
    assert_eq!(attested[0]["by"]["user"], "responder-test");
    assert_eq!(attested[0]["evidence"], "support ticket 2401010000123");
    let progress = ev.iter().filter(|e| e["event"] == "step_progress").count();
    assert_eq!(progress, 8, "4 parts per branch, 2 branches");
    assert!(ev.iter().any(|e| e["event"] == "resumed"), "the resume is journaled");
}

#[test]
fn pause_at_a_prompt_then_the_run_waits_for_approve_from_elsewhere() {
    let state = tempfile::tempdir().unwrap();
    let set = format!("effects={}", state.path().join("e").display());
    let runbook = fixture("failover.yaml");
    let mut p = guided(
        state.path(),
        &["run", runbook.to_str().unwrap(), "--set", &set, "--run-id", "g2", "--guided"],
    );
    p.expect("[p]ause and come back later: ");
    p.send_line("p");
    p.expect("lifeboat resume g2 --guided");
    let (code, out) = p.finish();
    assert_eq!(code, 3, "{out}");
    assert!(!events(state.path(), "g2").iter().any(|e| e["event"] == "approved"));
    // Nothing holds the run: a colleague approves it with the ordinary command.
    let out = lifeboat(state.path())
        .args(["approve", "g2", "approve-failover", "--comment", "from elsewhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn a_secret_typed_at_the_hidden_prompt_is_not_echoed_nor_journaled() {
    let state = tempfile::tempdir().unwrap();
    let set = format!("effects={}", state.path().join("e").display());
    let runbook = fixture("secret.yaml");
    let secret = "M.C507_BAY.2.U.0c1b-secret-oauth-code";
    let mut p = guided(
        state.path(),
        &["run", runbook.to_str().unwrap(), "--set", &set, "--run-id", "s1", "--guided"],
    );
    p.expect("authorize  started");
    p.expect("OAuth authorization code (input is hidden, empty to decline): ");
    p.send_line(secret);
    p.expect("authorize  ✓ done");
    p.expect("answer (secret)");
    p.expect("run s1  ✓ succeeded");
    let (code, out) = p.finish();
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(secret), "the secret was echoed or printed:\n{out}");
    let journal = std::fs::read_to_string(state.path().join("runs/s1/journal.jsonl")).unwrap();
    assert!(!journal.contains(secret), "the secret reached the journal");
    // The step did receive it: its secret output is journaled as the marker of exactly that value.
    let marker = lifeboat::journal::redact(&serde_json::json!(secret));
    let succeeded = events(state.path(), "s1")
        .into_iter()
        .find(|e| e["event"] == "step_succeeded")
        .expect("the step succeeded");
    assert_eq!(succeeded["outputs"]["answer"], marker);
}

#[test]
fn ctrl_c_while_steps_run_leaves_a_consistent_journal_and_resume_reruns_them() {
    let state = tempfile::tempdir().unwrap();
    let effects = state.path().join("effects");
    let set = format!("effects={}", effects.display());
    let runbook = fixture("failover.yaml");
    let mut p = guided(
        state.path(),
        // Long work, so Ctrl-C lands while both branches run.
        &[
            "run",
            runbook.to_str().unwrap(),
            "--set",
            &set,
            "--set",
            "work_ms=8000",
            "--run-id",
            "g3",
            "--guided",
        ],
    );
    p.expect("[p]ause and come back later: ");
    p.send_line("a");
    p.expect("(optional): ");
    p.send_line("");
    p.expect("reapply#0  started");
    p.expect("reapply#1  started");
    p.session.send(ControlCode::EndOfText).unwrap();
    p.expect("lifeboat resume g3 --guided");
    let (code, out) = p.finish();
    assert_eq!(code, 3, "{out}");
    // The journal reads back (hash chain intact) and shows the interrupted attempts as running.
    let status =
        lifeboat(state.path()).args(["--output", "json", "status", "g3"]).output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{status:?}");
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let running = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == "reapply" && s["instance"]["state"]["state"] == "running")
        .count();
    assert!(running >= 1, "{doc}");
    // Resuming re-runs the idempotent attempts and goes on to the manual task.
    let resumed = lifeboat(state.path()).args(["resume", "g3"]).output().unwrap();
    let text = String::from_utf8_lossy(&resumed.stdout);
    assert_eq!(resumed.status.code(), Some(3), "{text}");
    assert!(text.contains("lifeboat attest g3 file-ticket"), "{text}");
    assert_eq!(std::fs::read_to_string(&effects).unwrap().lines().count(), 2);
}

/// Issue 13: with no backup store, guided mode offers a recovery without backup; declining it
/// is the usual refusal (exit 2, the hint names `--set backup=none`, nothing written or
/// created); accepting it asks for the new connectors' DevOps configuration and starts the run
/// with `backup=none` and the answers as parameters.
#[test]
fn without_a_backup_store_guided_mode_offers_a_recovery_without_backup() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt.block_on(async {
        let sim = support::sim::start(support::sim::quiet()).await;
        support::sim::region(&sim, "westeurope", "fail").await;
        sim
    });
    let state = tempfile::tempdir().unwrap();
    let runbook = format!("{}/runbooks/region-outage.yaml", env!("CARGO_MANIFEST_DIR"));
    let start = |run: &str| {
        let mut cmd = lifeboat(state.path());
        cmd.args(["--arm-endpoint", sim.url(), "--auth", "none"])
            .args(["run", &runbook, "--run-id", run, "--guided"])
            .args(["--set", "failed_region=westeurope", "--set", "target_region=northeurope"])
            .env_remove("LIFEBOAT_BACKUP_STORE")
            .env("NO_COLOR", "1")
            .env("TERM", "xterm");
        Pty::spawn(cmd)
    };
    let writes = || {
        sim.requests()
            .into_iter()
            .filter(|r| matches!(r.method.as_str(), "PUT" | "PATCH" | "DELETE"))
            .count()
    };

    let mut p = start("g-no-1");
    p.expect("no backup store at");
    p.expect("Recover without a backup (backup=none)? [y/N]: ");
    p.send_line("n");
    let (code, out) = p.finish();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--set backup=none"), "{out}");
    assert!(!state.path().join("runs/g-no-1").exists(), "no run was created");
    assert_eq!(writes(), 0, "nothing was written");

    let mut p = start("g-no-2");
    p.expect("Recover without a backup (backup=none)? [y/N]: ");
    p.send_line("y");
    p.expect("Auto-discovery for the new connectors' DevOps configuration");
    p.send_line("disabled");
    p.expect("topLevelInventoryList), comma-separated [none]: ");
    p.send_line("ado-weu:contoso,gitlab-weu:contoso-gl");
    p.expect("? File the requests through the Support API");
    p.send_line("n");
    // The run starts without a store and gets as far as asking for an OAuth code.
    p.expect("run g-no-2 of runbook region-outage");
    p.expect("OAuth authorization code for the new connector");
    p.session.send(ControlCode::EndOfText).unwrap();
    let (code, out) = p.finish();
    assert_eq!(code, 3, "paused: {out}");
    let journal = std::fs::read_to_string(state.path().join("runs/g-no-2/journal.jsonl")).unwrap();
    let header: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    let params = &header["payload"]["params"];
    assert_eq!(params["backup"], "none", "{header}");
    assert_eq!(params["auto_discovery"], "Disabled");
    assert_eq!(
        params["inventory_list"],
        serde_json::json!(["ado-weu:contoso", "gitlab-weu:contoso-gl"])
    );
    assert_eq!(params["submit_ticket"], false);
    // What a person answered is recorded as such; no store, so no word of an identity.
    assert_eq!(
        header["payload"]["guided"]["asked"],
        serde_json::json!(["backup", "auto_discovery", "inventory_list", "submit_ticket"])
    );
    assert!(header["payload"].get("backup_identity").is_none(), "{header}");
    assert!(!state.path().join("backups").exists(), "no backup store was created");
    rt.block_on(sim.shutdown()).unwrap();
}
