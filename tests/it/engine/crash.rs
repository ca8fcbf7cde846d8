//! Crash safety of the real binary: SIGKILL at 100 points of a 20-step runbook with fan-out and
//! retries (80 journal-append failpoints before/torn/after each write, 20 kills at random times),
//! then resume until done. Every run must end like an uninterrupted one, with no guarded or
//! one-shot effect doubled. Also: two concurrent resumes of one run.

use crate::engine::common::*;
use lifeboat::journal;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// 20 steps, 5 of them fanned out over 3 items (30 instances); every class; retries.
const RUNBOOK: &str = r#"apiVersion: lifeboat/v1
metadata:
  name: crash
  concurrency: 4
params:
  items: { type: list, default: [a, b, c] }
  fx: { type: string }
steps:
  - { id: s01, uses: test.idempotent, with: { effect_file: "{{ params.fx }}", sleep_ms: 2, label: s01 } }
  - { id: s02, uses: test.guarded, needs: [s01], with: { effect_file: "{{ params.fx }}", sleep_ms: 1, label: s02 } }
  - { id: s03, uses: test.oneshot, needs: [s01], with: { effect_file: "{{ params.fx }}", sleep_ms: 2, label: s03 } }
  - id: f04
    uses: test.idempotent
    needs: [s02]
    for_each: "{{ params.items }}"
    retry: { max_attempts: 3, initial_delay: 5ms, max_delay: 20ms }
    with: { effect_file: "{{ params.fx }}", sleep_ms: 1, fail_first: 1, label: "f04-{{ item }}" }
  - id: f05
    uses: test.guarded
    needs: [f04]
    for_each: "{{ params.items }}"
    with: { effect_file: "{{ params.fx }}", sleep_ms: 2, label: "{{ steps.f04.outputs.label }}+" }
  - id: f06
    uses: test.oneshot
    needs: [f05]
    for_each: "{{ params.items }}"
    with: { effect_file: "{{ params.fx }}", sleep_ms: 1, label: "f06-{{ item }}" }
  - { id: s07, uses: test.idempotent, needs: [f06, s03], with: { effect_file: "{{ params.fx }}", label: s07 } }
  - id: s08
    uses: test.guarded
    needs: [s07]
    retry: { max_attempts: 4, initial_delay: 5ms, max_delay: 20ms }
    with: { effect_file: "{{ params.fx }}", fail_first: 2, label: s08 }
  - { id: s09, uses: test.oneshot, needs: [s07], with: { effect_file: "{{ params.fx }}", sleep_ms: 2, label: s09 } }
  - { id: s10, uses: test.idempotent, needs: [s08], with: { effect_file: "{{ params.fx }}", sleep_ms: 3, label: s10 } }
  - id: f11
    uses: test.idempotent
    needs: [s10]
    for_each: "{{ params.items }}"
    retry: { max_attempts: 3, initial_delay: 5ms, max_delay: 20ms }
    with: { effect_file: "{{ params.fx }}", fail_first: 1, sleep_ms: 1, label: "f11-{{ item }}" }
  - id: f12
    uses: test.oneshot
    needs: [f11]
    for_each: "{{ params.items }}"
    with: { effect_file: "{{ params.fx }}", label: "f12-{{ item }}" }
  - { id: s13, uses: test.guarded, needs: [s09], with: { effect_file: "{{ params.fx }}", sleep_ms: 2, label: s13 } }
  - { id: s14, uses: test.idempotent, needs: [s13, f12], with: { effect_file: "{{ params.fx }}", label: s14 } }
  - { id: s15, uses: test.oneshot, needs: [s14], with: { effect_file: "{{ params.fx }}", sleep_ms: 1, label: s15 } }
  - id: s16
    uses: test.idempotent
    needs: [s14]
    retry: { max_attempts: 2, initial_delay: 5ms }
    with: { effect_file: "{{ params.fx }}", fail_first: 1, label: s16 }
  - { id: s17, uses: test.guarded, needs: [s16], with: { effect_file: "{{ params.fx }}", sleep_ms: 1, label: s17 } }
  - { id: s18, uses: test.idempotent, needs: [s15], with: { effect_file: "{{ params.fx }}", sleep_ms: 2, label: s18 } }
  - { id: s19, uses: test.guarded, needs: [s17, s18], with: { effect_file: "{{ params.fx }}", label: s19 } }
  - { id: s20, uses: test.oneshot, needs: [s19], with: { effect_file: "{{ params.fx }}", sleep_ms: 1, label: s20 } }
"#;

const RUN: &str = "crash";

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rb.yaml"), RUNBOOK).unwrap();
        Case { dir }
    }
    fn state(&self) -> &Path {
        self.dir.path()
    }
    fn fx(&self) -> PathBuf {
        self.dir.path().join("effects")
    }
    fn run_cmd(&self) -> Command {
        let mut c = lifeboat(self.state());
        c.arg("run")
            .arg(self.dir.path().join("rb.yaml"))
            .arg("--set")
            .arg(format!("fx={}", self.fx().display()));
        c.args(["--run-id", RUN]);
        c
    }
    fn lifeboat(&self, args: &[&str]) -> Output {
        lifeboat(self.state()).args(args).output().unwrap()
    }
    fn status(&self) -> Value {
        let out = self.lifeboat(&["status", RUN, "--output", "json"]);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status: {e}: {}", String::from_utf8_lossy(&out.stderr)))
    }

    /// Resumes until the run succeeds, doing what a person would for parked one-shot steps:
    /// check the effect; if it never happened, do it by hand; then attest.
    fn finish(&self) -> Result<(), String> {
        for _ in 0..30 {
            let out = self.lifeboat(&["resume", RUN]);
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            match out.status.code() {
                Some(0) => return Ok(()),
                Some(2) if err.contains("does not exist") => {
                    // Killed before the run was created: start it again under the same id.
                    let out = self.run_cmd().output().unwrap();
                    if out.status.code() == Some(0) {
                        return Ok(());
                    }
                }
                Some(3) => {
                    let status = self.status();
                    let parked: Vec<&Value> = status["steps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|v| v["instance"]["state"]["state"] == "awaiting_attestation")
                        .collect();
                    if parked.is_empty()
                        || parked.iter().any(|v| v["instance"]["state"]["interrupted"] != true)
                    {
                        return Err(format!(
                            "paused on something other than an interrupted one-shot: {status}"
                        ));
                    }
                    for v in parked {
                        let step = v["step"].as_str().unwrap();
                        let branch = v["branch"].as_u64().map(|b| b as usize);
                        let key = effect_key(step, branch);
                        if !self.effects().iter().any(|(_, k)| *k == key) {
                            append_line(&self.fx(), &format!("manual\t{RUN}\t{key}\t0"));
                        }
                        // As status names it: `step[label]` for a labelled branch.
                        let name = v["name"].as_str().unwrap();
                        let out = self.lifeboat(&[
                            "attest",
                            RUN,
                            name,
                            "--evidence",
                            "checked the effect file",
                        ]);
                        if out.status.code() != Some(0) {
                            return Err(format!(
                                "attest {name}: {}",
                                String::from_utf8_lossy(&out.stderr)
                            ));
                        }
                    }
                }
                code => return Err(format!("resume exited {code:?}: {err}")),
            }
        }
        Err("the run did not finish after 30 resumes".into())
    }

    /// (class, "step\tbranch") per effect line.
    fn effects(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.fx())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), format!("{}\t{}", f[2], f[3]))
            })
            .collect()
    }

    /// The final state as comparable data: instance → (state, label unless attested).
    fn final_state(&self) -> BTreeMap<String, (String, Value)> {
        let status = self.status();
        assert_eq!(status["status"]["status"], "succeeded");
        status["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let inst = &v["instance"];
                let label = if v["uses"] == "test.oneshot" {
                    Value::Null
                } else {
                    inst["outputs"]["label"].clone()
                };
                let name = v["name"].as_str().unwrap().to_string();
                (name, (inst["state"]["state"].as_str().unwrap_or("?").to_string(), label))
            })
            .collect()
    }

    /// The effect invariants of every class.
    fn check_effects(&self, reference: &BTreeMap<String, (String, Value)>) -> Result<(), String> {
        let effects = self.effects();
        let status = self.status();
        for v in status["steps"].as_array().unwrap() {
            let key =
                effect_key(v["step"].as_str().unwrap(), v["branch"].as_u64().map(|b| b as usize));
            let auto = effects.iter().filter(|(c, k)| *k == key && c != "manual").count();
            let manual = effects.iter().filter(|(c, k)| *k == key && c == "manual").count();
            let ok = match v["uses"].as_str().unwrap() {
                "test.oneshot" => auto <= 1 && auto + manual == 1,
                "test.guarded" => auto == 1 && manual == 0,
                _ => auto >= 1 && manual == 0,
            };
            if !ok {
                return Err(format!("{key}: {auto} effects, {manual} by hand ({})", v["uses"]));
            }
        }
        let fin = self.final_state();
        if &fin != reference {
            return Err(format!("final state differs:\n{fin:?}\nvs\n{reference:?}"));
        }
        journal::read(&self.state().join("runs").join(RUN).join(journal::JOURNAL_FILE))
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

fn effect_key(step: &str, branch: Option<usize>) -> String {
    format!("{step}\t{}", branch.map(|b| b.to_string()).unwrap_or_else(|| "-".into()))
}

fn append_line(path: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

enum Kill {
    Failpoint(String),
    After(Duration),
}

fn crash_once(kill: &Kill, reference: &BTreeMap<String, (String, Value)>) -> Result<(), String> {
    let case = Case::new();
    match kill {
        Kill::Failpoint(spec) => {
            let out = case.run_cmd().env("LIFEBOAT_FAILPOINT", spec).output().unwrap();
            if out.status.code().is_some_and(|c| c != 0) {
                return Err(format!(
                    "run with {spec} exited {:?}: {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Kill::After(d) => {
            let mut child = case.run_cmd().stdout(std::process::Stdio::null()).spawn().unwrap();
            std::thread::sleep(*d);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    case.finish()?;
    case.check_effects(reference)
}

#[test]
fn sigkill_at_100_points_then_resume_ends_like_an_uninterrupted_run() {
    // The reference: one uninterrupted run.
    let reference_case = Case::new();
    let started = Instant::now();
    let out = reference_case.run_cmd().output().unwrap();
    let duration = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reference = reference_case.final_state();
    assert_eq!(reference.len(), 30, "15 steps plus 5 fanned out over 3 items");
    reference_case.check_effects(&reference).unwrap();
    let appends = std::fs::read_to_string(
        reference_case.state().join("runs").join(RUN).join(journal::JOURNAL_FILE),
    )
    .unwrap()
    .lines()
    .count();
    assert!(appends > 80, "the journal has {appends} entries");

    let modes = ["before", "torn", "after-write"];
    let mut kills: Vec<Kill> = (0..80)
        .map(|k| {
            Kill::Failpoint(format!("journal-append:{}:{}", 1 + k * appends / 80, modes[k % 3]))
        })
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let max_ms = duration.as_millis().max(20) as u64;
    kills.extend((0..20).map(|_| Kill::After(Duration::from_millis(rng.random_range(5..max_ms)))));
    assert_eq!(kills.len(), 100);

    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(kill) = kills.get(i) else { break };
                if let Err(e) = crash_once(kill, &reference) {
                    let what = match kill {
                        Kill::Failpoint(s) => s.clone(),
                        Kill::After(d) => format!("kill after {d:?}"),
                    };
                    failures.lock().unwrap().push(format!("{what}: {e}"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of 100 crash points failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn two_concurrent_resumes_one_wins_the_other_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("fx");
    let rb = dir.path().join("slow.yaml");
    std::fs::write(
        &rb,
        format!("apiVersion: lifeboat/v1\nmetadata: {{ name: slow }}\nsteps:\n  - id: slow\n    uses: test.idempotent\n    with: {{ effect_file: {}, sleep_ms: 1500 }}\n", fx.display()),
    )
    .unwrap();
    // Created, then killed just before its first step starts.
    let out = lifeboat(dir.path())
        .arg("run")
        .arg(&rb)
        .args(["--run-id", "duo"])
        .env("LIFEBOAT_FAILPOINT", "journal-append:3:before")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "killed by the failpoint");
    let a = lifeboat(dir.path())
        .args(["resume", "duo"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = lifeboat(dir.path())
        .args(["resume", "duo"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (pa, pb) = (a.id(), b.id());
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut results = [(oa.status.code(), pa, oa), (ob.status.code(), pb, ob)];
    results.sort_by_key(|r| r.0);
    assert_eq!((results[0].0, results[1].0), (Some(0), Some(4)));
    let loser = String::from_utf8_lossy(&results[1].2.stderr);
    assert!(loser.contains(&format!("run duo is locked by pid {}", results[0].1)), "{loser}");
    let entries =
        journal::read(&dir.path().join("runs/duo").join(journal::JOURNAL_FILE)).unwrap().entries;
    journal::verify_chain(&entries).unwrap();
    assert_eq!(std::fs::read_to_string(&fx).unwrap().lines().count(), 1, "the step ran once");
}
