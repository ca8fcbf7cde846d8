//! The runbook area through the real CLI: every malformed fixture is refused with its expected
//! diagnostic and exit code 2 before anything touches the state directory; valid fixtures are
//! snapshotted as `plan --output json` and `graph --format dot|mermaid`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binary with a clean environment (test-only step kinds must not leak into hints or
/// validation) and an empty stdin.
fn lifeboat() -> Command {
    let mut cmd = crate::support::cli::lifeboat();
    cmd.stdin(Stdio::null());
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

/// Runs `plan` on a malformed fixture: what is wrong with the output, if anything.
fn check_invalid_fixture(file: &Path) -> Result<(), String> {
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
        if stderr.contains(a.as_str()) || String::from_utf8_lossy(&out.stdout).contains(a.as_str())
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
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{path}: {}\n{stderr}", problems.join("; ")))
    }
}

#[test]
fn every_malformed_runbook_is_refused_with_its_diagnostic() {
    let files = fixtures("invalid");
    assert!(files.len() >= 30, "only {} malformed fixtures", files.len());
    let failures: Vec<String> =
        files.iter().filter_map(|f| check_invalid_fixture(f).err()).collect();
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
fn plan_warns_about_a_target_region_without_devops_security() {
    let plan = |target: &str| {
        lifeboat()
            .args(["plan", "runbooks/region-outage.yaml", "--set", "failed_region=eastus"])
            .args(["--set", &format!("target_region={target}")])
            .output()
            .expect("lifeboat runs")
    };
    let out = plan("westus2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "plan only shows: {stderr}");
    assert!(
        stderr.contains("warning: step create-or-adopt-connector: target_region westus2 is not a region where Microsoft Defender for Cloud DevOps security is available"),
        "{stderr}"
    );
    assert!(stderr.contains("nearest to westus2 first: centralus ("), "{stderr}");
    let out = plan("centralus");
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "a supported region");
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

fn invalid(name: &str) -> PathBuf {
    Path::new("tests/fixtures/runbook/invalid").join(name)
}

/// `lifeboat run` on a runbook it must refuse: exit 2, `needle` on stderr, and nothing written.
fn run_is_refused(runbook: &Path, set: &[&str], needle: &str) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let state = tmp.path().join("state");
    let mut cmd = lifeboat();
    cmd.arg("--state-dir").arg(&state).arg("run").arg(runbook);
    for s in set {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("lifeboat runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!state.exists(), "the state directory was created");
}

#[test]
fn defect_01_huge_durations_are_diagnostics_with_their_position() {
    for name in [
        "61-durations-too-long.yaml",
        "62-wait-duration-too-long.yaml",
        "63-set-poll-interval-too-long.yaml",
    ] {
        if let Err(e) = check_invalid_fixture(&invalid(name)) {
            panic!("{e}");
        }
    }
    let file = invalid("61-durations-too-long.yaml");
    run_is_refused(
        &file,
        &[],
        &format!("error: {}:10:14: timeout of step 'a' is '1000000000y', which is longer than the maximum of 400 days", file.display()),
    );
    let file = invalid("62-wait-duration-too-long.yaml");
    run_is_refused(
        &file,
        &[],
        &format!("error: {}:12:22: input duration of step 'w'", file.display()),
    );
}

#[test]
fn defect_01_huge_set_poll_interval_is_refused_naming_the_parameter() {
    let set = [
        "failed_region=westeurope",
        "target_region=northeurope",
        "authorization_poll_interval=1000000000y",
    ];
    let needle = "--set authorization_poll_interval=1000000000y: parameter 'authorization_poll_interval' is longer than the maximum of 400 days";
    let mut args = vec!["plan", "runbooks/region-outage.yaml"];
    for s in &set {
        args.extend(["--set", s]);
    }
    let out = lifeboat().args(&args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
    run_is_refused(Path::new("runbooks/region-outage.yaml"), &set, needle);
}

#[test]
fn defect_03_deeply_nested_template_is_refused_without_overflowing_the_stack() {
    if let Err(e) = check_invalid_fixture(&invalid("66-template-too-deep.yaml")) {
        panic!("{e}");
    }
    // The runbook of the report: 8,000 nested `{{#if}}` blocks, about 152 KB.
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("deep.yaml");
    let prompt = "{{#if params.go}}".repeat(8000) + "go" + &"{{/if}}".repeat(8000);
    let text = format!(
        "apiVersion: lifeboat/v1\nmetadata: {{name: deep}}\nparams:\n  go: {{type: bool, default: true}}\nsteps:\n  - id: g\n    uses: gate.approval\n    with:\n      prompt: \"{prompt}\"\n"
    );
    assert!(text.len() > 150_000);
    std::fs::write(&file, text).expect("write runbook");
    let needle = format!(
        "error: {}:9:15: template in with.prompt of step 'g' nests blocks and subexpressions 8000 deep; at most 32 are allowed",
        file.display()
    );
    let out = lifeboat().arg("plan").arg(&file).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&needle), "{stderr}");
    run_is_refused(&file, &[], &needle);
}

#[test]
fn defect_09_poll_intervals_below_one_second_are_diagnostics() {
    for name in ["64-poll-interval-too-short.yaml", "65-set-poll-interval-too-short.yaml"] {
        if let Err(e) = check_invalid_fixture(&invalid(name)) {
            panic!("{e}");
        }
    }
    let file = invalid("64-poll-interval-too-short.yaml");
    run_is_refused(
        &file,
        &[],
        &format!("error: {}:13:22: input poll_interval of step 'a' is '1ns', which is shorter than the minimum poll interval of 1s", file.display()),
    );
    let out = lifeboat()
        .args(["plan", "runbooks/region-outage.yaml", "--set", "failed_region=westeurope"])
        .args(["--set", "target_region=northeurope", "--set", "release_poll_interval=1ns"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("input poll_interval of step 'wait-for-release' is '1ns' (from --set release_poll_interval), which is shorter than the minimum poll interval of 1s"),
        "{stderr}"
    );
}
