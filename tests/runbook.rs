//! The runbook area through the real CLI: every malformed fixture is refused with its expected
//! diagnostic and exit code 2 before anything touches the state directory; valid fixtures are
//! snapshotted as `plan --output json` and `graph --format dot|mermaid`.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn lifeboat() -> Command {
    let mut cmd = Command::cargo_bin("lifeboat").expect("the lifeboat binary is built");
    // Test-only step kinds must not leak into hints or validation.
    cmd.env_remove("LIFEBOAT_TEST_STEPS").env_remove("LIFEBOAT_STATE_DIR");
    cmd
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new("tests/fixtures/runbook").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Directives in a fixture's leading comments.
struct Expectations {
    expect: Vec<String>,
    set: Vec<String>,
    absent: Vec<String>,
}

fn expectations(text: &str) -> Expectations {
    let mut e = Expectations { expect: vec![], set: vec![], absent: vec![] };
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(x) = line.strip_prefix("# expect: ") {
            e.expect.push(x.to_string());
        } else if let Some(x) = line.strip_prefix("# set: ") {
            e.set.extend(x.split_whitespace().map(str::to_string));
        } else if let Some(x) = line.strip_prefix("# absent: ") {
            e.absent.push(x.to_string());
        }
    }
    e
}

#[test]
fn every_malformed_runbook_is_refused_with_its_diagnostic() {
    let files = fixtures("invalid");
    assert!(files.len() >= 30, "only {} malformed fixtures", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("fixture is readable");
        let exp = expectations(&text);
        assert!(!exp.expect.is_empty(), "{} has no '# expect:' line", file.display());
        let tmp = tempfile::tempdir().expect("temp dir");
        let state = tmp.path().join("state");
        let mut cmd = lifeboat();
        cmd.arg("--state-dir").arg(&state).arg("plan").arg(file);
        for s in &exp.set {
            cmd.arg("--set").arg(s);
        }
        let out = cmd.output().expect("lifeboat runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let path = file.display().to_string();
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit code {:?}, expected 2", out.status.code()));
        }
        for e in &exp.expect {
            if !stderr.contains(&format!("error: {path}:{e}\n")) {
                problems.push(format!("missing diagnostic '{e}'"));
            }
        }
        // No other diagnostic than the expected ones.
        let printed = stderr.lines().filter(|l| l.starts_with(&format!("error: {path}:"))).count();
        if printed != exp.expect.len() {
            problems.push(format!("{printed} diagnostics printed, {} expected", exp.expect.len()));
        }
        for a in &exp.absent {
            if stderr.contains(a.as_str())
                || String::from_utf8_lossy(&out.stdout).contains(a.as_str())
            {
                problems.push(format!("'{a}' must not be printed"));
            }
        }
        if !out.stdout.is_empty() {
            problems.push("stdout is not empty".into());
        }
        if state.exists() {
            problems.push("the state directory was created".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{path}: {}\n{stderr}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn stdout_of(args: &[&str]) -> String {
    let out = lifeboat().args(args).output().expect("lifeboat runs");
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn valid_runbooks_match_their_snapshots() {
    let files = fixtures("valid");
    assert!(files.len() >= 3);
    for file in &files {
        let name = file.file_stem().and_then(|s| s.to_str()).expect("file name");
        let path = file.to_str().expect("utf-8 path");
        // Required parameters of the fixtures get a value; graph needs none.
        let mut args = vec!["--output", "json", "plan", path];
        if name == "fan-out" {
            args.extend(["--set", "target_region=westeurope"]);
        }
        let json = stdout_of(&args);
        let doc: serde_json::Value =
            serde_json::from_str(&json).expect("plan prints one JSON document");
        insta::assert_json_snapshot!(format!("plan-{name}"), doc);
        insta::assert_snapshot!(
            format!("dot-{name}"),
            stdout_of(&["graph", path, "--format", "dot"])
        );
        insta::assert_snapshot!(
            format!("mermaid-{name}"),
            stdout_of(&["graph", path, "--format", "mermaid"])
        );
    }
}

#[test]
fn plan_redacts_secrets_and_orders_steps() {
    let json = stdout_of(&[
        "--output",
        "json",
        "plan",
        "tests/fixtures/runbook/valid/fan-out.yaml",
        "--set",
        "target_region=northeurope",
        "--set",
        "ticket_token=hunter2",
    ]);
    assert!(!json.contains("hunter2") && !json.contains("do-not-print-me"), "{json}");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    let ids: Vec<&str> = doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["inventory", "recreate", "wait-release", "sign-off"]);
    let table = stdout_of(&[
        "plan",
        "tests/fixtures/runbook/valid/fan-out.yaml",
        "--set",
        "target_region=westeurope",
    ]);
    assert!(table.contains("<redacted>") && !table.contains("do-not-print-me"), "{table}");
    assert!(table.contains("│ 2 │ recreate"), "{table}");
}

#[test]
fn the_example_runbook_is_valid() {
    let table =
        stdout_of(&["plan", "runbooks/examples/hello.yaml", "--set", "teams=red,blue,green"]);
    assert!(
        table.contains("kick-off") && table.contains("[\"red\",\"blue\",\"green\"]"),
        "{table}"
    );
    let mermaid = stdout_of(&["graph", "runbooks/examples/hello.yaml", "--format", "mermaid"]);
    assert!(mermaid.contains("s_brief_team -. per item .-> s_cool_down"), "{mermaid}");
}

#[test]
fn graph_does_not_need_required_parameters_but_plan_does() {
    let path = "tests/fixtures/runbook/valid/fan-out.yaml";
    stdout_of(&["graph", path]);
    let out = lifeboat().args(["plan", path]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("required parameter 'target_region' is not set"));
}

#[test]
fn unreadable_runbooks_and_bad_set_syntax_are_usage_errors() {
    let out = lifeboat()
        .args(["plan", "tests/fixtures/runbook/no-such-file.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: cannot read runbook tests/fixtures/runbook/no-such-file.yaml"),
        "{stderr}"
    );
    let out = lifeboat()
        .args(["plan", "runbooks/examples/hello.yaml", "--set", "teams"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected KEY=VALUE"));
}
