//! `status --watch` on a run driven by other processes: shows states and progress as they
//! change, holds no lock (the run is approved and resumed meanwhile), ends with the run.

use super::{fixture, lifeboat};
use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn watch_follows_a_run_driven_elsewhere_and_ends_with_it() {
    let state = tempfile::tempdir().unwrap();
    let set = format!("effects={}", state.path().join("e").display());
    let mut driver = lifeboat(state.path())
        .arg("run")
        .arg(fixture("watched.yaml"))
        .args(["--set", &set, "--run-id", "w1"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let journal = state.path().join("runs/w1/journal.jsonl");
    let start = Instant::now();
    while !journal.exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "the run never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut watcher = lifeboat(state.path())
        .args(["status", "w1", "--watch", "--interval", "50ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut out = String::new();
    let wait_for = |needle: &str, out: &mut String| {
        while !out.contains(needle) {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    out.push_str(&line);
                    out.push('\n');
                }
                Err(e) => panic!("watch never showed {needle:?} ({e}):\n{out}"),
            }
        }
    };
    // The run goes through its work and its wait, then stops at the gate.
    assert_eq!(driver.wait().unwrap().code(), Some(3));
    wait_for("go awaiting-approval attempt 1", &mut out);
    // Neither approving nor driving the run is blocked by the watcher.
    let approved =
        lifeboat(state.path()).args(["approve", "w1", "go", "--comment", "ok"]).output().unwrap();
    assert_eq!(approved.status.code(), Some(0), "{approved:?}");
    let resumed = lifeboat(state.path()).args(["resume", "w1"]).output().unwrap();
    assert_eq!(resumed.status.code(), Some(0), "{resumed:?}");

    let start = Instant::now();
    let status = loop {
        if let Some(s) = watcher.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = watcher.kill();
            panic!("the watcher did not end with the run");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    wait_for("run w1: succeeded", &mut out);
    assert_eq!(status.code(), Some(0), "{out}");
    // Not a terminal: one line per change, no escape sequences.
    assert!(!out.contains('\x1b'), "{out}");
    assert!(out.contains("work running attempt 1 progress 1/3 part 1 of 3"), "{out}");
    assert!(out.contains("work running attempt 1 progress 2/3 part 2 of 3"), "{out}");
    assert!(out.contains("pause waiting attempt 1"), "{out}");
    assert!(out.contains("go awaiting-approval attempt 1"), "{out}");
    assert!(out.contains("run w1: paused (waits for a person)"), "{out}");
    assert!(out.contains("finish succeeded attempt 1"), "{out}");
    assert!(out.trim_end().ends_with("run w1: succeeded"), "the end is the last line: {out}");
    // Each change once: the paused state is not repeated while nothing changes.
    assert_eq!(out.matches("go awaiting-approval").count(), 1, "{out}");
}

#[test]
fn watch_of_a_finished_run_ends_at_once_with_its_code_and_needs_a_run_id() {
    let state = tempfile::tempdir().unwrap();
    let out = lifeboat(state.path()).args(["status", "--watch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--watch needs RUN_ID: {out:?}");
    let out = lifeboat(state.path()).args(["status", "nope", "--watch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("run nope does not exist"));
}
