//! The engine as plain data: events in, actions and state out. No IO, no real time.

use crate::engine::common::*;
use lifeboat::engine::{backoff, lifecycle, Action, Event, Phase, Status};
use lifeboat::runbook::RetryPolicy;
use std::collections::BTreeSet;
use std::time::Duration;

type Covered = BTreeSet<(Phase, Phase)>;

const S: fn(u64) -> Duration = Duration::from_secs;

fn retries() -> Covered {
    let p = plan(
        "retries",
        8,
        "steps:\n  - id: a\n    uses: test.idempotent\n    with: { effect_file: x }\n    retry: { max_attempts: 3, initial_delay: 10s, multiplier: 2, max_delay: 15s, jitter: false }\n",
    );
    let mut h = Harness::new(p);
    assert_eq!(h.start_all().len(), 1);
    h.fail("a", None, true);
    let v = h.view("a", None);
    assert_eq!(
        v.state,
        lifeboat::engine::State::Waiting {
            until: t0() + S(10),
            reason: lifeboat::engine::WaitReason::Backoff
        }
    );
    h.advance(S(9));
    assert_eq!(h.phase("a", None), Phase::Waiting, "fired early");
    h.advance(S(1));
    let started = h.start_all();
    assert_eq!(started[0].attempt, 2);
    h.fail("a", None, true);
    // 10s * 2 = 20s, capped at 15s.
    assert!(
        matches!(h.view("a", None).state, lifeboat::engine::State::Waiting { until, .. } if until == t0() + S(25))
    );
    h.advance(S(15));
    assert_eq!(h.start_all()[0].attempt, 3);
    h.fail("a", None, true);
    assert_eq!(h.phase("a", None), Phase::Failed, "attempts exhausted");
    assert_eq!(h.engine.status(), Status::Failed);
    assert_eq!(h.replayed().snapshot(), h.engine.snapshot());
    h.engine.covered_transitions().clone()
}

#[test]
fn retries_back_off_exponentially_capped_then_fail() {
    retries();
}

#[test]
fn non_retryable_failure_fails_at_once() {
    let p = plan("nr", 8, "steps:\n  - id: a\n    uses: test.idempotent\n    with: { effect_file: x }\n    retry: { max_attempts: 5 }\n");
    let mut h = Harness::new(p);
    h.start_all();
    h.fail("a", None, false);
    assert_eq!(h.phase("a", None), Phase::Failed);
}

#[test]
fn jitter_is_bounded_deterministic_and_seeded() {
    let policy = RetryPolicy {
        max_attempts: 10,
        initial_delay: S(4),
        multiplier: 2.0,
        max_delay: S(60),
        jitter: true,
    };
    let mut distinct = BTreeSet::new();
    for seed in 0..50u64 {
        for failures in 1..6u32 {
            let d = backoff(seed, "a", 0, failures, &policy);
            let cap = (4.0 * 2f64.powi(failures as i32 - 1)).min(60.0);
            assert!(d.as_secs_f64() <= cap + 0.001, "{d:?} > {cap}");
            assert_eq!(d, backoff(seed, "a", 0, failures, &policy), "same inputs, same delay");
            distinct.insert(d.as_millis());
        }
    }
    assert!(distinct.len() > 100, "jitter spreads delays: {} distinct", distinct.len());
}

fn timeouts() -> Covered {
    let p = plan(
        "timeouts",
        8,
        "steps:\n  - id: a\n    uses: test.idempotent\n    with: { effect_file: x }\n    timeout: 30s\n    retry: { max_attempts: 2, initial_delay: 1s, jitter: false }\n",
    );
    let mut h = Harness::new(p);
    h.start_all();
    h.advance(S(29));
    assert_eq!(h.phase("a", None), Phase::Running);
    let actions = {
        h.now += S(1);
        h.ev(Event::TimerFired)
    };
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::CancelStep { step, attempt: 1, .. } if step == "a")),
        "{actions:?}"
    );
    assert_eq!(h.phase("a", None), Phase::Waiting);
    // The late result of the timed-out attempt is stale: ignored, not an error.
    h.ev(Event::StepSucceeded {
        step: "a".into(),
        branch: None,
        attempt: 1,
        outputs: Default::default(),
    });
    assert_eq!(h.phase("a", None), Phase::Waiting);
    h.advance(S(1));
    assert_eq!(h.start_all()[0].attempt, 2);
    h.advance(S(30));
    assert_eq!(h.phase("a", None), Phase::Failed);
    assert!(h.view("a", None).error.unwrap().contains("timed out after 30s"));
    h.engine.covered_transitions().clone()
}

#[test]
fn timeouts_cancel_the_attempt_and_retry() {
    timeouts();
}

fn fan_out() -> Covered {
    let p = plan(
        "fan",
        8,
        r#"params:
  teams: { type: list, default: [red, blue, green] }
steps:
  - id: a
    uses: test.idempotent
    for_each: "{{ params.teams }}"
    with: { effect_file: x, label: "{{ item }}" }
  - id: b
    uses: test.idempotent
    needs: [a]
    for_each: "{{ params.teams }}"
    with: { effect_file: x, label: "{{ steps.a.outputs.label }}" }
  - id: c
    uses: test.idempotent
    needs: [b]
    with: { effect_file: x, label: "{{ json steps.b.outputs }}" }
"#,
    );
    let mut h = Harness::new(p);
    let started = h.start_all();
    assert_eq!(started.len(), 3, "three branches of a");
    assert_eq!(started[1].inputs["label"], "blue");
    // Branch 1 of a finishes while branch 0 hangs: b#1 starts at once.
    let out = serde_json::Map::from_iter([("label".to_string(), serde_json::json!("L1"))]);
    h.ev(Event::StepSucceeded { step: "a".into(), branch: Some(1), attempt: 1, outputs: out });
    let started = h.start_all();
    assert_eq!(started.len(), 1);
    assert_eq!((started[0].step.as_str(), started[0].branch), ("b", Some(1)));
    assert_eq!(started[0].inputs["label"], "L1", "item-wise outputs");
    assert_eq!(h.phase("b", Some(0)), Phase::Pending, "b#0 waits for a#0 only");
    h.succeed("b", Some(1));
    h.succeed("a", Some(2));
    h.start_all();
    h.succeed("b", Some(2));
    assert!(h.start_all().is_empty(), "c waits for every branch of b");
    h.succeed("a", Some(0));
    h.start_all();
    h.succeed("b", Some(0));
    let c = h.start_all();
    assert_eq!(
        c.len(),
        1,
        "{:#?}",
        h.engine
            .snapshot()
            .iter()
            .map(|v| (v.name(), v.instance.as_ref().map(|i| i.state.clone())))
            .collect::<Vec<_>>()
    );
    let label: serde_json::Value =
        serde_json::from_str(c[0].inputs["label"].as_str().unwrap()).unwrap();
    assert_eq!(label.as_array().unwrap().len(), 3, "c sees the list of b's outputs: {label}");
    h.succeed("c", None);
    assert_eq!(h.engine.status(), Status::Succeeded);
    assert_eq!(h.replayed().snapshot(), h.engine.snapshot());
    h.engine.covered_transitions().clone()
}

#[test]
fn fan_out_branches_are_independent() {
    fan_out();
}

fn when_and_gates() -> Covered {
    let p = plan(
        "gates",
        8,
        r#"params:
  go: { type: bool, default: false }
steps:
  - id: maybe
    uses: test.idempotent
    when: "{{ params.go }}"
    with: { effect_file: x }
  - id: gate
    uses: gate.approval
    needs: [maybe]
    with: { prompt: "ship it?" }
  - id: task
    uses: manual.task
    needs: [gate]
    with: { instructions: "file the ticket" }
"#,
    );
    let mut h = Harness::new(p);
    assert_eq!(h.phase("maybe", None), Phase::Skipped, "`when` false skips");
    let s = h.start_all();
    assert_eq!(s[0].step, "gate", "a skipped step counts as done");
    // A gate cannot be approved while it runs: an error, nothing changes.
    let before = h.engine.snapshot();
    let err = h.engine.clone().handle(
        &Event::Approved { step: "gate".into(), branch: None, by: actor(), comment: None },
        h.now,
    );
    assert!(err.unwrap_err().to_string().contains("not awaiting approval"));
    assert_eq!(h.engine.snapshot(), before);
    let actions = h.ev(Event::StepAwaitingApproval {
        step: "gate".into(),
        branch: None,
        attempt: 1,
        prompt: "ship it?".into(),
        four_eyes: false,
    });
    assert!(actions.contains(&Action::RunPaused));
    assert_eq!(h.engine.status(), Status::Paused);
    assert_eq!(h.engine.blockers()[0].step, "gate");
    let err = h.engine.clone().handle(
        &Event::Attested { step: "gate".into(), branch: None, by: actor(), evidence: "x".into() },
        h.now,
    );
    assert!(err.is_err(), "a gate is approved, not attested");
    assert!(h
        .engine
        .clone()
        .handle(
            &Event::Approved { step: "nope".into(), branch: None, by: actor(), comment: None },
            h.now
        )
        .is_err());
    h.ev(Event::Approved {
        step: "gate".into(),
        branch: None,
        by: actor(),
        comment: Some("ok".into()),
    });
    assert_eq!(h.view("gate", None).outputs.unwrap()["approved_by"], "tester@test-host");
    h.start_all();
    h.ev(Event::StepAwaitingAttestation {
        step: "task".into(),
        branch: None,
        attempt: 1,
        instructions: "file".into(),
    });
    assert_eq!(h.engine.status(), Status::Paused);
    h.ev(Event::Attested {
        step: "task".into(),
        branch: None,
        by: actor(),
        evidence: "ticket 42".into(),
    });
    assert_eq!(h.engine.status(), Status::Succeeded);
    h.engine.covered_transitions().clone()
}

#[test]
fn when_skips_and_gates_wait_for_people() {
    when_and_gates();
}

fn concurrency() -> Covered {
    let steps: String = (0..5)
        .map(|i| {
            format!("  - id: s{i}\n    uses: test.idempotent\n    with: {{ effect_file: x }}\n")
        })
        .collect();
    let mut h = Harness::new(plan("conc", 2, &format!("steps:\n{steps}")));
    assert_eq!(h.pending.len(), 2, "limit 2");
    h.start_all();
    h.succeed("s0", None);
    assert_eq!(h.pending.len(), 1, "a slot freed, one more starts");
    // A person skips a ready step that waits for a slot.
    h.ev(Event::Skipped {
        step: "s4".into(),
        branch: None,
        by: actor(),
        reason: "not needed".into(),
    });
    let started = h.start_all();
    assert_eq!(started.len(), 1);
    h.succeed("s1", None);
    h.succeed(&started[0].step.clone(), None);
    h.start_all();
    h.succeed("s3", None);
    assert_eq!(h.engine.status(), Status::Succeeded);
    h.engine.covered_transitions().clone()
}

#[test]
fn concurrency_limit_holds() {
    concurrency();
}

fn recovery_and_skips() -> Covered {
    let p = plan(
        "recover",
        8,
        r#"steps:
  - id: idem
    uses: test.idempotent
    with: { effect_file: x }
  - id: guard
    uses: test.guarded
    with: { effect_file: x }
  - id: once
    uses: test.oneshot
    with: { effect_file: x }
  - id: wait
    uses: wait.until
    timeout: 10m
    with: { condition: "false", poll_interval: 1m }
  - id: src
    uses: test.idempotent
    with: { effect_file: x }
  - id: bad
    uses: test.idempotent
    needs: [src]
    for_each: "{{ steps.src.outputs.label }}"
    with: { effect_file: x }
  - id: later
    uses: wait.duration
    with: { duration: 1h }
  - id: after-bad
    uses: test.idempotent
    needs: [bad]
    with: { effect_file: x }
"#,
    );
    let mut h = Harness::new(p);
    h.start_all();
    let out = serde_json::Map::from_iter([("label".to_string(), serde_json::json!("not a list"))]);
    h.ev(Event::StepSucceeded { step: "src".into(), branch: None, attempt: 1, outputs: out });
    assert_eq!(h.phase("bad", Some(0)), Phase::Failed, "for_each over a non-list fails the step");
    h.ev(Event::ScratchSaved {
        step: "guard".into(),
        branch: None,
        attempt: 1,
        scratch: serde_json::json!({"intent": 1}),
    });
    h.ev(Event::StepWaiting {
        step: "wait".into(),
        branch: None,
        attempt: 1,
        until: h.now + S(60),
        message: "poll".into(),
        scratch: None,
    });
    h.ev(Event::StepWaiting {
        step: "later".into(),
        branch: None,
        attempt: 1,
        until: h.now + S(3600),
        message: "t".into(),
        scratch: None,
    });
    // Crash: idem, guard and once were running.
    let actions = h.ev(Event::Resumed { by: actor(), took_over_from: None });
    assert!(actions.iter().any(
        |a| matches!(a, Action::AwaitAttestation { step, interrupted: true, .. } if step == "once")
    ));
    let again = h.start_all();
    let guard = again.iter().find(|s| s.step == "guard").unwrap();
    assert!(guard.reentry && guard.scratch.is_some(), "guarded re-entry carries its scratch");
    assert!(again.iter().any(|s| s.step == "idem" && s.attempt == 2));
    assert!(!again.iter().any(|s| s.step == "once"), "one-shot never re-runs");
    h.ev(Event::Skipped {
        step: "once".into(),
        branch: None,
        by: actor(),
        reason: "did not happen".into(),
    });
    h.ev(Event::Skipped {
        step: "later".into(),
        branch: None,
        by: actor(),
        reason: "no time".into(),
    });
    // The poll repeats until the wait's deadline.
    for _ in 0..9 {
        h.advance(S(60));
        let s = h.start_all();
        assert_eq!(s.len(), 1, "re-poll");
        assert_eq!(s[0].attempt, 1, "a poll stays in its attempt");
        h.ev(Event::StepWaiting {
            step: "wait".into(),
            branch: None,
            attempt: 1,
            until: h.now + S(60),
            message: "poll".into(),
            scratch: None,
        });
    }
    h.advance(S(60));
    assert_eq!(h.phase("wait", None), Phase::Failed, "wait timed out");
    h.ev(Event::Skipped {
        step: "bad".into(),
        branch: None,
        by: actor(),
        reason: "fixed by hand".into(),
    });
    assert_eq!(
        h.phase("after-bad", None),
        Phase::Ready,
        "a skipped failure unblocks its dependents"
    );
    h.ev(Event::Skipped {
        step: "after-bad".into(),
        branch: None,
        by: actor(),
        reason: "r".into(),
    });
    assert_eq!(h.replayed().snapshot(), h.engine.snapshot());
    h.engine.covered_transitions().clone()
}

#[test]
fn crash_recovery_follows_the_step_class() {
    recovery_and_skips();
}

fn misc() -> Covered {
    let p = plan(
        "misc",
        8,
        r#"params:
  teams: { type: list, default: [a, b] }
steps:
  - id: g
    uses: gate.approval
    for_each: "{{ params.teams }}"
  - id: m
    uses: manual.task
    with: { instructions: "x" }
  - id: first
    uses: test.idempotent
    with: { effect_file: x }
  - id: render
    uses: test.idempotent
    needs: [first]
    with: { effect_file: "{{ steps.first.outputs.nothing }}" }
"#,
    );
    let mut h = Harness::new(p);
    h.start_all();
    h.succeed("first", None);
    assert_eq!(h.phase("render", None), Phase::Failed, "inputs that cannot render fail the step");
    h.ev(Event::StepAwaitingApproval {
        step: "g".into(),
        branch: Some(0),
        attempt: 1,
        prompt: "p".into(),
        four_eyes: false,
    });
    h.ev(Event::StepAwaitingApproval {
        step: "g".into(),
        branch: Some(1),
        attempt: 1,
        prompt: "p".into(),
        four_eyes: false,
    });
    h.ev(Event::Skipped { step: "g".into(), branch: Some(1), by: actor(), reason: "r".into() });
    h.ev(Event::Approved { step: "g".into(), branch: None, by: actor(), comment: None });
    assert_eq!(
        h.phase("g", Some(0)),
        Phase::Succeeded,
        "approving a fanned gate approves every waiting branch"
    );
    h.ev(Event::StepAwaitingAttestation {
        step: "m".into(),
        branch: None,
        attempt: 1,
        instructions: "x".into(),
    });
    h.ev(Event::Skipped { step: "m".into(), branch: None, by: actor(), reason: "r".into() });
    assert!(
        h.engine
            .clone()
            .handle(
                &Event::Skipped { step: "m".into(), branch: None, by: actor(), reason: "r".into() },
                h.now
            )
            .is_err(),
        "skipping twice is invalid"
    );
    h.engine.covered_transitions().clone()
}

/// `resume` re-arms failed instances whose last failure was retryable (not one-shot ones): a
/// journaled `Rearmed` makes them ready with a fresh retry budget and a re-entry.
fn rearm() -> Covered {
    let rearmed = |step: &str| Event::Rearmed {
        step: step.into(),
        branch: None,
        by: actor(),
        reason: "region down".into(),
    };
    let p = plan(
        "rearm",
        8,
        "steps:\n  - id: a\n    uses: test.guarded\n    with: { effect_file: x }\n    retry: { max_attempts: 2, initial_delay: 1s, jitter: false }\n  - id: once\n    uses: test.oneshot\n    with: { effect_file: x }\n  - id: hard\n    uses: test.idempotent\n    with: { effect_file: x }\n  - id: d\n    uses: test.idempotent\n    needs: [a]\n    with: { effect_file: x }\n",
    );
    let mut h = Harness::new(p);
    h.start_all();
    h.fail("a", None, true);
    h.fail("once", None, true);
    h.fail("hard", None, false);
    h.advance(S(1));
    h.start_all();
    h.fail("a", None, true);
    assert_eq!(h.phase("a", None), Phase::Failed, "retries spent");
    assert_eq!(h.engine.status(), Status::Failed);
    let names: Vec<String> = h.engine.rearmable().into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(names, ["a"], "only the retryable, non-one-shot failure");
    for (step, why) in [("once", "one-shot"), ("hard", "not retryable")] {
        let err = h.engine.clone().handle(&rearmed(step), h.now).unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
    h.ev(rearmed("a"));
    assert!(matches!(h.engine.status(), Status::Active { .. }));
    let started = h.start_all();
    assert_eq!(started.len(), 1);
    assert_eq!((started[0].attempt, started[0].reentry), (3, true), "a new attempt, re-entered");
    // A fresh budget: it may fail once more (retryable) before failing for good again.
    h.fail("a", None, true);
    assert_eq!(h.phase("a", None), Phase::Waiting);
    h.advance(S(1));
    h.start_all();
    h.succeed("a", None);
    h.start_all();
    h.succeed("d", None);
    assert!(h.engine.clone().handle(&rearmed("a"), h.now).is_err(), "only failed steps");
    assert_eq!(h.replayed().snapshot(), h.engine.snapshot());
    h.engine.covered_transitions().clone()
}

#[test]
fn resume_rearms_only_retryable_failures_of_steps_that_may_run_again() {
    rearm();
}

/// `resume --set` of a resumable parameter: journaled as `ParamsChanged`, seen by steps that
/// start afterwards, and it makes the non-retryable failure of a step that reads it re-armable;
/// other failures, secrets and parameters not declared resumable are untouched or refused.
#[test]
fn a_resumable_parameter_changes_on_resume_and_rearms_the_steps_that_read_it() {
    let p = plan(
        "params",
        8,
        "params:\n  skip: {type: list, default: [], resumable: true}\n  skipped: {type: string, default: s, resumable: true}\n  fixed: {type: string, default: a}\n  token: {type: string, default: a-long-secret, secret: true}\nsteps:\n  - id: reads\n    uses: test.idempotent\n    with: { effect_file: x, label: '{{ params.skip }}' }\n  - id: other\n    uses: test.idempotent\n    with: { effect_file: x, label: '{{ params.skipped }}' }\n",
    );
    let mut h = Harness::new(p);
    h.start_all();
    h.fail("reads", None, false);
    h.fail("other", None, false);
    assert!(h.engine.rearmable().is_empty());
    let change = |k: &str, v: serde_json::Value| Event::ParamsChanged {
        params: serde_json::Map::from_iter([(k.to_string(), v)]),
        by: actor(),
    };
    for (k, why) in [
        ("fixed", "not declare it `resumable: true`"),
        ("token", "is secret"),
        ("nope", "not a parameter of this run"),
    ] {
        let err = h.engine.clone().handle(&change(k, serde_json::json!("b")), h.now).unwrap_err();
        assert!(err.to_string().contains(why), "{k}: {err}");
    }
    h.ev(change("skip", serde_json::json!(["properties.x"])));
    assert_eq!(h.engine.plan().params["skip"], serde_json::json!(["properties.x"]));
    let names: Vec<String> = h.engine.rearmable().into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(names, ["reads"], "only the step that reads the parameter (`skipped` is another)");
    h.ev(Event::Rearmed { step: "reads".into(), branch: None, by: actor(), reason: "x".into() });
    let started = h.start_all();
    assert_eq!(started[0].inputs["label"], serde_json::json!(["properties.x"]), "the new value");
    assert_eq!(h.replayed().snapshot(), h.engine.snapshot());
}

#[test]
fn every_transition_of_the_table_is_covered() {
    let mut covered = Covered::new();
    for scenario in
        [retries, timeouts, fan_out, when_and_gates, concurrency, recovery_and_skips, misc, rearm]
    {
        covered.extend(scenario());
    }
    let table: Covered = lifecycle::TABLE.iter().map(|(f, t, _)| (*f, *t)).collect();
    let missing: Vec<_> = table.difference(&covered).collect();
    assert!(missing.is_empty(), "transitions never exercised: {missing:?}");
    assert!(covered.is_subset(&table), "a transition outside the table happened");
}

#[test]
fn invalid_transitions_are_errors() {
    assert!(lifecycle::check("a", Phase::Succeeded, Phase::Running).is_err());
    assert!(lifecycle::check("a", Phase::Pending, Phase::Running).is_err());
    let mut h = Harness::new(plan(
        "inv",
        8,
        "steps:\n  - id: a\n    uses: test.idempotent\n    with: { effect_file: x }\n",
    ));
    let err = h
        .engine
        .handle(&Event::StepStarted { step: "a".into(), branch: None, attempt: 2 }, h.now)
        .unwrap_err();
    assert!(err.to_string().contains("attempt 2 started where attempt 1 was expected"), "{err}");
    h.start_all();
    let err = h
        .engine
        .handle(&Event::StepStarted { step: "a".into(), branch: None, attempt: 1 }, h.now)
        .unwrap_err();
    assert!(err.to_string().contains("is running, not ready"), "{err}");
}
