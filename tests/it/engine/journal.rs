//! The journal: torn last lines, corruption named by line, newer formats refused, the lock, and
//! the run commands' refusals (exit codes through the real binary).

use crate::engine::common::*;
use lifeboat::engine::runner;
use lifeboat::journal::{self, JournalError, RunLock, Writer};
use serde_json::json;
use std::io::Write;

fn sample(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join(journal::JOURNAL_FILE);
    let mut w = Writer::create(&path, t0(), json!({ "run_id": "r" })).unwrap();
    for i in 0..4 {
        w.append_batch(&[(t0(), "event", json!({ "n": i }))]).unwrap();
    }
    path
}

#[test]
fn a_torn_last_line_is_ignored_then_cut_off_at_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let good = std::fs::read(&path).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(br#"{"seq":5,"time":"2026-01-0"#)
        .unwrap();
    let out = journal::read(&path).unwrap();
    assert_eq!(out.entries.len(), 5, "earlier entries kept");
    assert_eq!(out.torn_line, Some(6));
    let (mut w, _) = Writer::open(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), good, "torn bytes cut off");
    w.append_batch(&[(t0(), "event", json!({ "n": 5 }))]).unwrap();
    let out = journal::read(&path).unwrap();
    assert_eq!(out.entries.len(), 6);
    assert_eq!(out.torn_line, None);
    journal::verify_chain(&out.entries).unwrap();
}

fn rewrite_line(path: &std::path::Path, line: usize, f: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line { f(l) } else { l.to_string() })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn invalid_json_in_the_middle_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    rewrite_line(&path, 3, |l| l[..l.len() / 2].to_string());
    let err = journal::read(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, JournalError::Corrupt { line: 3, .. }), "{msg}");
    assert!(msg.contains("journal.jsonl:3: journal is corrupt: invalid JSON"), "{msg}");
    assert!(Writer::open(&path).is_err(), "never silently repaired");
}

#[test]
fn a_changed_entry_breaks_the_hash_chain_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    rewrite_line(&path, 2, |l| l.replace(r#""n":0"#, r#""n":9"#));
    let msg = journal::read(&path).unwrap_err().to_string();
    assert!(msg.contains(":2: journal is corrupt: entry hash does not match"), "{msg}");
    // Re-hashing the changed entry still breaks the chain at the next line.
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let mut entries = journal::read(&path).unwrap().entries;
    entries.remove(2);
    assert!(journal::verify_chain(&entries).is_err());
}

#[test]
fn a_newer_major_format_is_refused_with_an_upgrade_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    rewrite_line(&path, 1, |l| l.replace(r#""major":1"#, r#""major":2"#));
    let msg = journal::read(&path).unwrap_err().to_string();
    let newer =
        format!("journal format 2.{} is newer than this build reads", journal::FORMAT_MINOR);
    assert!(msg.contains(&newer), "{msg}");
    assert!(msg.contains("upgrade lifeboat to resume this run"), "{msg}");
    // A newer minor is fine (only the hash check then objects to the edit itself).
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let minor = format!(r#""minor":{}"#, journal::FORMAT_MINOR);
    rewrite_line(&path, 1, |l| l.replace(&minor, r#""minor":7"#));
    assert!(!journal::read(&path).unwrap_err().to_string().contains("newer"));
}

fn simple_runbook(dir: &std::path::Path, sleep_ms: u64) -> std::path::PathBuf {
    let rb = dir.join("rb.yaml");
    let fx = dir.join("fx");
    std::fs::write(
        &rb,
        format!(
            "apiVersion: lifeboat/v1\nmetadata:\n  name: simple\nparams:\n  token:\n    type: string\n    secret: true\nsteps:\n  - id: work\n    uses: test.idempotent\n    with:\n      effect_file: {}\n      sleep_ms: {sleep_ms}\n      label: \"{{{{ params.token }}}}\"\n  - id: gate\n    uses: gate.approval\n    needs: [work]\n",
            fx.display()
        ),
    )
    .unwrap();
    rb
}

#[test]
fn a_locked_run_exits_4_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let rb = simple_runbook(dir.path(), 0);
    let out = lifeboat(dir.path())
        .args(["run"])
        .arg(&rb)
        .args(["--set", "token=tok-SECRET-1", "--run-id", "lk"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let run_dir = runner::run_dir(dir.path(), "lk").unwrap();
    let _held = RunLock::acquire(&run_dir, "lk", t0()).unwrap();
    let out = lifeboat(dir.path()).args(["resume", "lk"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains(&format!("run lk is locked by pid {} on host", std::process::id())),
        "{err}"
    );
    assert!(err.contains("since 2026-01-01T00:00:00Z"), "{err}");
    // A person's command is not refused: it goes into the run's inbox for the holder (issue
    // 15), which does not read it here; without waiting, it says so (exit 6).
    let out =
        lifeboat(dir.path()).args(["approve", "lk", "gate", "--wait", "0s"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(6), "{said}");
    assert!(
        said.contains(&format!("run lk is driven by pid {} on host", std::process::id())),
        "{said}"
    );
    assert!(said.contains("queued request") && said.contains("stays queued"), "{said}");
}

#[test]
fn secrets_never_reach_the_journal_or_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let rb = simple_runbook(dir.path(), 0);
    let out = lifeboat(dir.path())
        .args(["run"])
        .arg(&rb)
        .args(["--set", "token=tok-SECRET-2", "--run-id", "sec"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let status = lifeboat(dir.path()).args(["status", "sec", "--output", "json"]).output().unwrap();
    let journal_text = std::fs::read_to_string(dir.path().join("runs/sec/journal.jsonl")).unwrap();
    for text in [
        journal_text,
        String::from_utf8_lossy(&status.stdout).into_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ] {
        assert!(!text.contains("tok-SECRET-2"), "secret leaked: {text}");
    }
    // Resuming with a different secret value is refused before anything runs.
    let out =
        lifeboat(dir.path()).args(["resume", "sec", "--set", "token=wrong"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret parameter token differs"));
}

#[test]
fn commands_refuse_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let rb = simple_runbook(dir.path(), 0);
    let run = |args: &[&str]| lifeboat(dir.path()).args(args).output().unwrap();
    let out = lifeboat(dir.path())
        .args(["run"])
        .arg(&rb)
        .args(["--set", "token=tok-dup-secret", "--run-id", "dup"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("lifeboat approve dup gate"),
        "says what to do next"
    );
    let out = lifeboat(dir.path())
        .args(["run"])
        .arg(&rb)
        .args(["--set", "token=tok-dup-secret", "--run-id", "dup"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run dup already exists"));
    // A bad runbook creates no run directory.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: lifeboat/v1\nmetadata: { name: x }\nsteps:\n  - id: a\n    uses: nope.nope\n",
    )
    .unwrap();
    let out =
        lifeboat(dir.path()).args(["run"]).arg(&bad).args(["--run-id", "never"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("runs/never").exists());
    let out = run(&["resume", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run nope does not exist"));
    let out = run(&["approve", "dup", "work"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("step work is succeeded, not awaiting approval"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["run", "x.yaml", "--run-id", "../evil"]);
    assert_eq!(out.status.code(), Some(2));
    // The happy path: approve, resume, status, runs list.
    assert_eq!(run(&["approve", "dup", "gate", "--comment", "ok"]).status.code(), Some(0));
    let out = run(&["resume", "dup", "--set", "token=tok-dup-secret"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let list = run(&["runs", "list", "--output", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["status"]["status"], "succeeded");
    let entries = journal::read(&dir.path().join("runs/dup/journal.jsonl")).unwrap().entries;
    let approved = entries.iter().find(|e| e.payload["event"] == "approved").unwrap();
    assert!(approved.payload["by"]["user"].is_string() && approved.payload["comment"] == "ok");
}
