//! Secrets inside strings (issue 11, item 2) and fan-out commands without a branch (item 15),
//! through the real binary: a secret in a gate prompt, a step error, a plain output, a step id
//! or a fan-out list never bricks the run nor reaches the journal, stdout, stderr, `status` or
//! the CSV export; short secrets are refused before anything is written; `attest`, `approve` and
//! `skip` of a fanned-out step name a branch or say `--all`.

use crate::engine::common::*;
use crate::support::cli::text;
use lifeboat::engine::runner;
use lifeboat::journal;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A value found nowhere else in the runbook, the run id or the test's paths.
const SECRET: &str = "Zq9-sekrit-Xv4";

/// The area's binary ([`crate::engine::common::lifeboat`]), without colours.
fn lifeboat(state: &Path) -> Command {
    let mut c = crate::engine::common::lifeboat(state);
    c.env("NO_COLOR", "1");
    c
}

fn runbook(dir: &Path, name: &str, body: &str) -> PathBuf {
    let rb = dir.join(format!("{name}.yaml"));
    let text = format!(
        "apiVersion: lifeboat/v1\nmetadata:\n  name: {name}\n  concurrency: 1\n{}",
        body.replace("FX", &dir.join("fx").display().to_string())
    );
    std::fs::write(&rb, text).unwrap();
    rb
}

/// Runs a command and checks its exit code; every byte it printed is kept for the leak check.
struct Session {
    state: PathBuf,
    printed: String,
}

impl Session {
    fn new(state: &Path) -> Session {
        Session { state: state.to_path_buf(), printed: String::new() }
    }

    fn cmd(&mut self, args: &[&str], expect: i32) -> Output {
        let out = lifeboat(&self.state).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(expect),
            "lifeboat {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        self.printed.push_str(&stdout);
        self.printed.push_str(&stderr);
        out
    }

    fn journal(&self, run: &str) -> String {
        std::fs::read_to_string(self.state.join("runs").join(run).join(journal::JOURNAL_FILE))
            .unwrap()
    }

    /// `status` (table and JSON) and the CSV export work, and nothing shows the secret.
    fn assert_clean(&mut self, run: &str, secret: &str) {
        self.cmd(&["status", run], 0);
        self.cmd(&["status", run, "--output", "json"], 0);
        self.cmd(&["runs", "list"], 0);
        self.cmd(&["audit", "export", run, "--format", "csv"], 0);
        assert!(!self.printed.contains(secret), "the secret was printed:\n{}", self.printed);
        let journal = self.journal(run);
        assert!(!journal.contains(secret), "the secret was journaled:\n{journal}");
    }
}

/// The payloads of a run's events of one kind.
fn events(journal_text: &str, kind: &str) -> Vec<Value> {
    journal_text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| e["payload"].clone())
        .filter(|p| p["event"] == kind)
        .collect()
}

#[test]
fn defect_02_a_secret_in_prompts_errors_and_outputs_keeps_the_run_usable_and_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(
        dir.path(),
        "leaky",
        r#"params:
  token: {type: string, secret: true}
steps:
  - id: echo
    uses: test.idempotent
    with:
      effect_file: "FX"
      label: "token={{ params.token }};"
  - id: gate
    uses: gate.approval
    needs: [echo]
    with:
      prompt: "Use {{ params.token }} for the failover?"
  - id: broken
    uses: test.idempotent
    needs: [gate]
    with:
      effect_file: "FX-missing/{{ params.token }}/effects"
  - id: after
    uses: manual.task
    needs: [broken]
    with:
      instructions: "Rotate {{ params.token }} now"
"#,
    );
    let set = format!("token={SECRET}");
    let rb = rb.display().to_string();
    let mut s = Session::new(dir.path());
    // (a) The gate's prompt holds the secret: the run pauses there and says so, scrubbed.
    let out = s.cmd(&["run", &rb, "--set", &set, "--run-id", "r1"], 3);
    assert!(text(&out).contains("Use [REDACTED] for the failover?"), "{}", text(&out));
    s.assert_clean("r1", SECRET);
    // Types are kept: the prompt and the plain output are strings with the marker in them.
    let journal = s.journal("r1");
    let asked = events(&journal, "step_awaiting_approval");
    assert_eq!(asked[0]["prompt"], "Use [REDACTED] for the failover?");
    let done = events(&journal, "step_succeeded");
    assert_eq!(done[0]["outputs"]["label"], "token=[REDACTED];");
    s.cmd(&["approve", "r1", "gate", "--comment", "ok"], 0);
    // (b) The step's error holds the secret (its path): the run fails, scrubbed.
    let out = s.cmd(&["resume", "r1", "--set", &set], 1);
    assert!(text(&out).contains("[REDACTED]/effects"), "{}", text(&out));
    s.assert_clean("r1", SECRET);
    let failed = events(&s.journal("r1"), "step_failed");
    assert!(failed[0]["error"].as_str().unwrap().contains("-missing/[REDACTED]/effects"));
    s.cmd(&["skip", "r1", "broken", "--reason", "the path was wrong"], 0);
    let out = s.cmd(&["resume", "r1", "--set", &set], 3);
    assert!(text(&out).contains("Rotate [REDACTED] now"), "{}", text(&out));
    s.cmd(&["attest", "r1", "after", "--evidence", "rotated"], 0);
    s.cmd(&["resume", "r1", "--set", &set], 0);
    s.assert_clean("r1", SECRET);
    // A replay of the whole journal rebuilds the run.
    let r = runner::load(&dir.path().join("runs/r1"), &registry()).unwrap();
    assert_eq!(r.engine.status(), lifeboat::engine::Status::Succeeded);
}

#[test]
fn defect_02_a_secret_output_inside_a_step_id_fails_its_step_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // The secret output's value is part of a later step's id: journaling it as a secret would
    // have to redact that step's id from every event about it.
    let rb = runbook(
        dir.path(),
        "ids",
        r#"params:
  minted: {type: string}
steps:
  - id: mint
    uses: test.idempotent
    with:
      effect_file: "FX"
      secret_output: "{{ params.minted }}"
  - id: ship-northwind-prod
    uses: test.idempotent
    needs: [mint]
    with:
      effect_file: "FX"
"#,
    )
    .display()
    .to_string();
    let mut s = Session::new(dir.path());
    let out = s.cmd(&["run", &rb, "--set", "minted=northwind-prod", "--run-id", "r2"], 1);
    assert!(
        text(&out).contains("secret output token occurs in the id of step ship-[REDACTED]"),
        "{}",
        text(&out)
    );
    s.cmd(&["status", "r2"], 0);
    s.cmd(&["skip", "r2", "mint", "--reason", "minted by hand"], 0);
    s.cmd(&["resume", "r2"], 0);
    s.cmd(&["status", "r2", "--output", "json"], 0);
    let started = events(&s.journal("r2"), "step_started");
    assert!(started.iter().any(|e| e["step"] == "ship-northwind-prod"), "ids stay as they are");
}

#[test]
fn defect_02_a_secret_list_never_decides_a_fan_out() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(
        dir.path(),
        "fan",
        r#"params:
  targets: {type: list, secret: true}
steps:
  - id: first
    uses: test.idempotent
    with:
      effect_file: "FX"
  - id: each
    uses: test.idempotent
    needs: [first]
    for_each: "{{ params.targets }}"
    with:
      effect_file: "FX"
  - id: last
    uses: test.idempotent
    needs: [each]
    with:
      effect_file: "FX"
"#,
    )
    .display()
    .to_string();
    let mut s = Session::new(dir.path());
    let set = "targets=Zq9-branch-one,Zq9-branch-two";
    // A replay cannot see the list (it is not journaled), so the live run must not either:
    // the fan-out fails the same way live and on replay, with a clear reason.
    let out = s.cmd(&["run", &rb, "--set", set, "--run-id", "r3"], 1);
    assert!(text(&out).contains("a secret cannot decide a fan-out"), "{}", text(&out));
    for secret in ["Zq9-branch-one", "Zq9-branch-two"] {
        s.assert_clean("r3", secret);
    }
    s.cmd(&["skip", "r3", "each", "--all", "--reason", "fanned out by hand"], 0);
    // (A list cannot be given again with --set: the steps that need it see its marker.)
    s.cmd(&["resume", "r3"], 0);
    s.cmd(&["status", "r3"], 0);
}

#[test]
fn defect_02_short_secrets_and_secrets_in_the_runbook_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(
        dir.path(),
        "short",
        r#"params:
  token: {type: string, secret: true}
steps:
  - id: ship-northwind-prod
    uses: test.idempotent
    with:
      effect_file: "FX"
      label: "{{ params.token }}"
"#,
    )
    .display()
    .to_string();
    let mut s = Session::new(dir.path());
    // (d) A 3-character secret would be cut out of every word that contains it.
    let out = s.cmd(&["run", &rb, "--set", "token=q7z", "--run-id", "r4"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("secret parameter token is 3 characters long"), "{err}");
    assert!(err.contains("at least 8"), "{err}");
    assert!(!err.contains("q7z"), "{err}");
    // (c) A secret that is part of a step id is already in clear in the journaled runbook.
    let out = s.cmd(&["run", &rb, "--set", "token=northwind-prod", "--run-id", "r5"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "the value of secret parameter token occurs in the id of step ship-[REDACTED]"
        ),
        "{err}"
    );
    for run in ["r4", "r5"] {
        assert!(!dir.path().join("runs").join(run).exists(), "{run} was created");
    }
    assert!(!dir.path().join("fx").exists(), "no step ran");
}

fn fan_out_runbook(dir: &Path) -> String {
    runbook(
        dir,
        "branches",
        r#"params:
  connectors: {type: list, default: [ado-weu, gitlab-weu, github-weu]}
steps:
  - id: file-support-request
    uses: manual.task
    for_each: "{{ params.connectors }}"
    with:
      instructions: "File the request for {{ item }}"
  - id: go
    uses: gate.approval
    for_each: "{{ params.connectors }}"
    with:
      prompt: "Go for {{ item }}?"
"#,
    )
    .display()
    .to_string()
}

fn phases(state: &Path, run: &str) -> Vec<(String, String)> {
    let r = runner::load(&state.join("runs").join(run), &registry()).unwrap();
    r.engine
        .snapshot()
        .into_iter()
        .map(|v| (v.name(), v.instance.unwrap().state.phase().name().to_string()))
        .collect()
}

#[test]
fn defect_15_a_fanned_out_step_without_a_branch_is_refused_unless_all() {
    let dir = tempfile::tempdir().unwrap();
    let rb = fan_out_runbook(dir.path());
    let mut s = Session::new(dir.path());
    s.cmd(&["run", &rb, "--run-id", "b1"], 3);
    let before = s.journal("b1");
    // The support draft's old advice: attest the bare step. It would attest every connector.
    let out = s.cmd(&["attest", "b1", "file-support-request", "--evidence", "ticket 123"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("step file-support-request is fanned out"), "{err}");
    assert!(
        err.contains("file-support-request#0, file-support-request#1, file-support-request#2"),
        "lists the branches: {err}"
    );
    assert!(err.contains("lifeboat attest b1 file-support-request#0 --evidence TEXT"), "{err}");
    assert!(err.contains("--all"), "{err}");
    for args in [vec!["approve", "b1", "go"], vec!["skip", "b1", "go", "--reason", "not needed"]] {
        let out = s.cmd(&args, 2);
        assert!(text(&out).contains("go#0, go#1, go#2"), "{args:?}: {}", text(&out));
    }
    assert_eq!(s.journal("b1"), before, "nothing journaled");
    // One branch at a time, then the rest with --all.
    s.cmd(&["attest", "b1", "file-support-request#1", "--evidence", "ticket 123"], 0);
    let out =
        s.cmd(&["attest", "b1", "file-support-request", "--all", "--evidence", "ticket 9"], 0);
    assert!(
        text(&out).contains("attested file-support-request#0, file-support-request#2"),
        "{}",
        text(&out)
    );
    let evidence: Vec<Value> =
        events(&s.journal("b1"), "attested").iter().map(|e| e["evidence"].clone()).collect();
    assert_eq!(evidence, ["ticket 123", "ticket 9"]);
    let out = s.cmd(&["approve", "b1", "go#0", "--all"], 2);
    assert!(text(&out).contains("names one branch and --all"), "{}", text(&out));
    s.cmd(&["approve", "b1", "go#2"], 0);
    s.cmd(&["skip", "b1", "go", "--all", "--reason", "not needed"], 0);
    let p = phases(dir.path(), "b1");
    let want = [
        ("file-support-request#0", "succeeded"),
        ("file-support-request#1", "succeeded"),
        ("file-support-request#2", "succeeded"),
        ("go#0", "skipped"),
        ("go#1", "skipped"),
        ("go#2", "succeeded"),
    ];
    let want: Vec<(String, String)> =
        want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(p, want);
}
