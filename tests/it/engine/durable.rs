//! The library driver (`engine::runner::drive`) under a manual clock: durable waits across
//! restarts, replay equality, secrets kept out of the journal.

use crate::engine::common::*;
use lifeboat::clock::{Clock, ManualClock};
use lifeboat::engine::kind::Services;
use lifeboat::engine::runner::{self, RunOptions, RunOutcome, TimeMode};
use lifeboat::engine::Phase;
use lifeboat::journal;
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

fn three_day_plan(fx: &std::path::Path) -> lifeboat::runbook::Plan {
    plan(
        "durable",
        4,
        &format!(
            r#"params:
  fx: {{ type: string, default: "{}" }}
steps:
  - id: hold
    uses: wait.duration
    with: {{ duration: 3d }}
  - id: after
    uses: test.idempotent
    needs: [hold]
    with: {{ effect_file: "{{{{ params.fx }}}}" }}
"#,
            fx.display()
        ),
    )
}

fn options(wait_until: Option<time::OffsetDateTime>, time: TimeMode) -> RunOptions {
    RunOptions { actor: actor(), time, wait_until, observer: None, ..RunOptions::default() }
}

#[tokio::test]
async fn a_three_day_wait_survives_a_restart_and_fires_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("effects");
    let clock = ManualClock::new(t0());
    let run_dir =
        runner::create_run(dir.path(), &three_day_plan(&fx), "wait3d", t0(), &actor(), 1).unwrap();
    let reg = registry();
    let c: Arc<dyn Clock> = Arc::new(clock.clone());

    // First process: starts the wait, and stops rather than sleep (as if the laptop closed).
    let out = runner::drive(
        &run_dir,
        &reg,
        Arc::new(Services::new()),
        c.clone(),
        &options(Some(t0()), TimeMode::Real),
    )
    .await
    .unwrap();
    assert_eq!(out, RunOutcome::Sleeping { until: t0() + 3 * DAY });

    // Two days later, another process resumes: the timer is not due and is not pushed back.
    clock.advance(2 * DAY);
    let out = runner::drive(
        &run_dir,
        &reg,
        Arc::new(Services::new()),
        c.clone(),
        &options(Some(clock.now()), TimeMode::Real),
    )
    .await
    .unwrap();
    assert_eq!(out, RunOutcome::Sleeping { until: t0() + 3 * DAY });
    assert!(!fx.exists(), "nothing after the wait ran early");

    // One more day: it fires, at the journaled time, and the run completes.
    clock.advance(DAY);
    let out = runner::drive(
        &run_dir,
        &reg,
        Arc::new(Services::new()),
        c.clone(),
        &options(Some(clock.now()), TimeMode::Real),
    )
    .await
    .unwrap();
    assert_eq!(out, RunOutcome::Succeeded);
    let loaded = runner::load(&run_dir, &reg).unwrap();
    let hold =
        loaded.engine.snapshot().into_iter().find(|v| v.step == "hold").unwrap().instance.unwrap();
    assert_eq!(hold.finished, Some(t0() + 3 * DAY));
    assert_eq!(hold.outputs.unwrap()["waited_until"], "2026-01-04T00:00:00Z");
    assert_eq!(std::fs::read_to_string(&fx).unwrap().lines().count(), 1);
}

#[tokio::test]
async fn virtual_time_drives_days_of_waiting_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("effects");
    let clock = ManualClock::new(t0());
    let run_dir =
        runner::create_run(dir.path(), &three_day_plan(&fx), "virt", t0(), &actor(), 1).unwrap();
    let reg = registry();
    let out = runner::drive(
        &run_dir,
        &reg,
        Arc::new(Services::new()),
        Arc::new(clock.clone()),
        &options(None, TimeMode::Virtual(clock.clone())),
    )
    .await
    .unwrap();
    assert_eq!(out, RunOutcome::Succeeded);
    assert_eq!(clock.now(), t0() + 3 * DAY);
}

#[tokio::test]
async fn replay_rebuilds_the_state_of_a_finished_run_and_secrets_stay_out() {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("effects");
    let p = plan_with(
        "secrets",
        3,
        &format!(
            r#"params:
  fx: {{ type: string, default: "{}" }}
  token: {{ type: string, secret: true }}
  items: {{ type: list, default: [p, q, r] }}
steps:
  - id: mint
    uses: test.guarded
    with: {{ effect_file: "{{{{ params.fx }}}}", secret_output: "{{{{ params.token }}}}-out", label: "{{{{ params.token }}}}" }}
  - id: fan
    uses: test.idempotent
    needs: [mint]
    for_each: "{{{{ params.items }}}}"
    retry: {{ max_attempts: 3, initial_delay: 1s }}
    with: {{ effect_file: "{{{{ params.fx }}}}", fail_first: 1 }}
"#,
            fx.display()
        ),
        &[("token", "param-secret-value")],
    );
    let clock = ManualClock::new(t0());
    let run_dir = runner::create_run(dir.path(), &p, "sec", t0(), &actor(), 9).unwrap();
    let reg = registry();
    let opts = RunOptions {
        secret_params: runner::secret_params_of(&p),
        ..options(None, TimeMode::Virtual(clock.clone()))
    };
    let out =
        runner::drive(&run_dir, &reg, Arc::new(Services::new()), Arc::new(clock.clone()), &opts)
            .await
            .unwrap();
    assert_eq!(out, RunOutcome::Succeeded);
    let text = std::fs::read_to_string(run_dir.join(journal::JOURNAL_FILE)).unwrap();
    assert!(!text.contains("param-secret-value"), "secret parameter journaled");
    assert!(
        text.contains(&journal::sha256_hex(b"param-secret-value-out")),
        "secret output: a marker with its hash"
    );
    // The step echoed the secret parameter into a plain output: scrubbed all the same, and the
    // output stays a string.
    let mint = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["payload"]["event"] == "step_succeeded" && e["payload"]["step"] == "mint")
        .unwrap();
    assert_eq!(mint["payload"]["outputs"]["label"], "[REDACTED]");
    let loaded = runner::load(&run_dir, &reg).unwrap();
    let snap = loaded.engine.snapshot();
    assert!(
        snap.iter().filter(|v| v.step == "fan").all(|v| v.instance.as_ref().unwrap().attempt == 2),
        "each branch failed once, then succeeded"
    );
    assert!(snap.iter().all(|v| v.instance.as_ref().unwrap().state.phase() == Phase::Succeeded));
    // Replaying the journal twice gives the same state (determinism of replay).
    assert_eq!(runner::load(&run_dir, &reg).unwrap().engine.snapshot(), snap);
    journal::verify_chain(&loaded.entries).unwrap();
}
