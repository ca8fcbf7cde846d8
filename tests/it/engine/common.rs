//! Shared helpers: plans from YAML text, a fixed start time, an engine harness that confirms
//! starts like the runner does and records every event for replay checks.

use lifeboat::engine::kind::Registry;
use lifeboat::engine::{Action, Engine, Event, StartStep};
use lifeboat::runbook::{self, Plan};
use std::sync::{Arc, Once};
use time::OffsetDateTime;

/// 2026-01-01T00:00:00Z.
pub fn t0() -> OffsetDateTime {
    time::macros::datetime!(2026-01-01 00:00:00 UTC)
}

pub fn enable_test_steps() {
    static ONCE: Once = Once::new();
    // Set once before any test reads it; the test kinds are only visible with this variable.
    ONCE.call_once(|| std::env::set_var("LIFEBOAT_TEST_STEPS", "1"));
}

/// A validated plan from runbook text (`apiVersion` and metadata are added).
pub fn plan(name: &str, concurrency: usize, body: &str) -> Plan {
    plan_with(name, concurrency, body, &[])
}

/// [`plan`] with `--set` overrides.
pub fn plan_with(name: &str, concurrency: usize, body: &str, set: &[(&str, &str)]) -> Plan {
    enable_test_steps();
    let set: Vec<(String, String)> =
        set.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let text = format!(
        "apiVersion: lifeboat/v1\nmetadata:\n  name: {name}\n  concurrency: {concurrency}\n{body}"
    );
    match runbook::load_str(std::path::Path::new("test.yaml"), &text, &set) {
        Ok(p) => p,
        Err(e) => panic!("test runbook invalid: {e}\n{text}"),
    }
}

pub fn registry() -> Registry {
    enable_test_steps();
    lifeboat::steps::registry()
}

/// An engine plus the events it was fed, at which times.
pub struct Harness {
    pub engine: Engine,
    pub now: OffsetDateTime,
    pub log: Vec<(Event, OffsetDateTime)>,
    /// Starts handed out and not yet confirmed.
    pub pending: Vec<StartStep>,
    pub actions: Vec<Action>,
}

impl Harness {
    pub fn new(plan: Plan) -> Harness {
        let reg = registry();
        let engine = Engine::new(Arc::new(plan), "run-1", 7, &|u| reg.class_of(u));
        let mut h = Harness {
            engine,
            now: t0(),
            log: Vec::new(),
            pending: Vec::new(),
            actions: Vec::new(),
        };
        h.ev(Event::RunStarted);
        h
    }

    /// Applies an event (must be valid) and collects its actions.
    pub fn ev(&mut self, e: Event) -> Vec<Action> {
        let actions = self.engine.handle(&e, self.now).unwrap_or_else(|err| panic!("{e:?}: {err}"));
        self.log.push((e, self.now));
        for a in &actions {
            if let Action::StartStep(s) = a {
                self.pending.push(s.as_ref().clone());
            }
        }
        self.actions.extend(actions.clone());
        actions
    }

    /// Confirms every handed-out start (journals `StepStarted`), returning them.
    pub fn start_all(&mut self) -> Vec<StartStep> {
        let mut started = Vec::new();
        while !self.pending.is_empty() {
            let batch: Vec<_> = std::mem::take(&mut self.pending);
            for s in batch {
                self.ev(Event::StepStarted {
                    step: s.step.clone(),
                    branch: s.branch,
                    attempt: s.attempt,
                });
                started.push(s);
            }
        }
        started
    }

    pub fn advance(&mut self, by: std::time::Duration) {
        self.now += by;
        self.ev(Event::TimerFired);
    }

    pub fn attempt(&self, step: &str, branch: Option<usize>) -> u32 {
        self.view(step, branch).attempt
    }

    pub fn view(&self, step: &str, branch: Option<usize>) -> lifeboat::engine::Instance {
        self.engine
            .snapshot()
            .into_iter()
            .find(|v| v.step == step && v.branch == branch)
            .and_then(|v| v.instance)
            .unwrap_or_else(|| panic!("no instance {step} {branch:?}"))
    }

    pub fn phase(&self, step: &str, branch: Option<usize>) -> lifeboat::engine::Phase {
        self.view(step, branch).state.phase()
    }

    pub fn succeed(&mut self, step: &str, branch: Option<usize>) {
        let attempt = self.attempt(step, branch);
        let label = serde_json::json!(lifeboat::engine::instance_name(step, branch, None));
        let outputs = serde_json::Map::from_iter([("label".to_string(), label)]);
        self.ev(Event::StepSucceeded { step: step.into(), branch, attempt, outputs });
    }

    pub fn fail(&mut self, step: &str, branch: Option<usize>, retryable: bool) {
        let attempt = self.attempt(step, branch);
        self.ev(Event::StepFailed {
            step: step.into(),
            branch,
            attempt,
            error: "boom".into(),
            retryable,
        });
    }

    /// A fresh engine fed the same events: must reach the same state.
    pub fn replayed(&self) -> Engine {
        let reg = registry();
        let mut e =
            Engine::new(Arc::new(self.engine.plan().clone()), "run-1", 7, &|u| reg.class_of(u));
        for (ev, t) in &self.log {
            e.handle(ev, *t).unwrap();
        }
        e
    }
}

pub fn actor() -> lifeboat::engine::Actor {
    lifeboat::engine::Actor::os("tester", "test-host")
}

/// The binary with a clean environment, `state` as its state directory and the test kinds.
pub fn lifeboat(state: &std::path::Path) -> std::process::Command {
    let mut c = crate::support::cli::lifeboat();
    c.env("LIFEBOAT_STATE_DIR", state).env("LIFEBOAT_TEST_STEPS", "1");
    c
}
