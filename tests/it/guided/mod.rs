//! Integration tests of guided mode, `status --watch` and the generated reference docs: the real
//! binary in a temporary state directory; guided mode in a pseudo-terminal (`expectrl`).
//!
//! Runbooks live in `tests/fixtures/guided/` and use the test-only step kinds
//! (`LIFEBOAT_TEST_STEPS=1`).

mod docs;
mod pty;
mod questions;
mod responder;
mod watch;

use crate::support::cli::journal_path;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn fixture(name: &str) -> PathBuf {
    crate::support::repo().join("tests/fixtures/guided").join(name)
}

/// The binary with a state directory, the test kinds, a fixed OS user and no colours.
pub fn lifeboat(state: &Path) -> Command {
    let mut c = crate::support::cli::lifeboat();
    c.arg("--state-dir").arg(state).env("LIFEBOAT_TEST_STEPS", "1").env("USER", "responder-test");
    c
}

/// The journal's events (payloads of `event` entries).
pub fn events(state: &Path, run_id: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(journal_path(state, run_id)).expect("journal exists");
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("journal line is JSON"))
        .filter(|e| e["kind"] == "event")
        .map(|e| e["payload"].clone())
        .collect()
}

#[test]
fn guided_without_a_terminal_on_stdin_is_refused_before_anything_is_done() {
    let state = tempfile::tempdir().unwrap();
    let out = lifeboat(state.path())
        .arg("run")
        .arg(fixture("failover.yaml"))
        .args(["--set", "effects=/nonexistent/e", "--guided", "--run-id", "nt"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--guided needs a terminal on stdin"), "{err}");
    assert!(err.contains("lifeboat approve"), "the hint names the non-interactive commands: {err}");
    assert!(!state.path().join("runs").join("nt").exists(), "no run was created");

    // resume --guided too, even before looking at the run.
    let out = lifeboat(state.path())
        .args(["resume", "nt", "--guided"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"));
}
