//! The runbook loader: arbitrary bytes as a runbook, as `lifeboat plan` and `lifeboat run` read
//! it (`runbook::load_str`), plus what a run does first with an accepted plan.
//!
//! Input: the runbook text, optionally followed by a NUL byte and `KEY=VALUE` lines (the `--set`
//! overrides, parsed by `runbook::parse_set` as the CLI does). A NUL cannot occur in a YAML
//! document, so the split never changes what the loader sees.
//!
//! Invariants checked (a panic is a crash):
//! - the loader never panics, and reports every problem as a diagnostic;
//! - an accepted plan draws as DOT and Mermaid, and survives the journal's JSON round trip (the
//!   header of every run holds the plan; replay deserialises it);
//! - the engine can drive it: a dry run where gates are approved, manual tasks attested, waits
//!   wait a minute, every other step fails once (retryable) and then succeeds, and timers fire,
//!   for a bounded number of events. This is where a duration that passed validation but overflows time arithmetic
//!   shows up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::engine::kind::Registry;
use lifeboat::engine::{Action, Actor, Engine, Event};
use lifeboat::runbook::{self, graph, Plan};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

/// Bound on the events of one dry run (keeps each execution short).
const MAX_EVENTS: usize = 400;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(lifeboat::steps::registry)
}

fuzz_target!(|data: &[u8]| {
    let (text, sets) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    // `runbook::load` turns invalid UTF-8 into a diagnostic before `load_str`; nothing to fuzz.
    let Ok(text) = std::str::from_utf8(text) else { return };
    let overrides: Vec<(String, String)> =
        String::from_utf8_lossy(sets).lines().filter_map(|l| runbook::parse_set(l).ok()).collect();
    let path = Path::new("fuzz.yaml");
    let plan = match runbook::load_str(path, text, &overrides) {
        Ok(plan) => plan,
        Err(e) => {
            // Rendering the diagnostics is part of the reader (what `plan` prints).
            let _ = e.to_string();
            return;
        }
    };
    let _ = graph::to_dot(&plan.runbook);
    let _ = graph::to_mermaid(&plan.runbook);
    let _ = graph::order(&plan.runbook);

    let journaled = serde_json::to_value(&plan).expect("a plan serialises");
    let replayed: Plan = serde_json::from_value(journaled)
        .unwrap_or_else(|e| panic!("an accepted plan does not survive the journal: {e}"));
    dry_run(replayed);
});

fn actor() -> Actor {
    Actor::os("fuzz", "fuzz")
}

/// Drives the engine as `runner::drive` would, with a fake executor. Engine errors are fine
/// (they are reported to the user); panics are not.
fn dry_run(plan: Plan) {
    let mut engine = Engine::new(Arc::new(plan), "fuzz", 7, &|uses| registry().class_of(uses));
    let mut now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let mut queue: Vec<Event> = vec![Event::RunStarted];
    let mut timers: Vec<OffsetDateTime> = Vec::new();
    for _ in 0..MAX_EVENTS {
        let event = match queue.pop() {
            Some(e) => e,
            None => match timers.iter().min().copied() {
                Some(at) => {
                    timers.retain(|t| *t != at);
                    now = now.max(at);
                    Event::TimerFired
                }
                None => break,
            },
        };
        let Ok(actions) = engine.handle(&event, now) else { continue };
        for action in actions {
            match action {
                Action::StartStep(s) => {
                    let (step, branch, attempt) = (s.step.clone(), s.branch, s.attempt);
                    // What the built-in kinds do, roughly; anything else fails its first
                    // attempt (retryable) and then succeeds.
                    let outcome = match s.uses.as_str() {
                        "gate.approval" => Event::StepAwaitingApproval {
                            step: step.clone(),
                            branch,
                            attempt,
                            prompt: "fuzz".into(),
                            four_eyes: false,
                        },
                        "manual.task" => Event::StepAwaitingAttestation {
                            step: step.clone(),
                            branch,
                            attempt,
                            instructions: "fuzz".into(),
                        },
                        "wait.duration" | "wait.until" if s.poll == 0 => Event::StepWaiting {
                            step: step.clone(),
                            branch,
                            attempt,
                            until: now + time::Duration::minutes(1),
                            message: "fuzz".into(),
                            scratch: None,
                        },
                        _ if attempt <= 1 && s.poll == 0 => Event::StepFailed {
                            step: step.clone(),
                            branch,
                            attempt,
                            error: "fuzz: first attempt fails".into(),
                            retryable: true,
                        },
                        _ => Event::StepSucceeded {
                            step: step.clone(),
                            branch,
                            attempt,
                            outputs: Default::default(),
                        },
                    };
                    // Pushed in reverse: the queue is a stack.
                    queue.push(outcome);
                    queue.push(Event::StepStarted { step, branch, attempt });
                }
                Action::ScheduleTimer { at } => timers.push(at),
                Action::AwaitApproval { step, branch, .. } => {
                    queue.push(Event::Approved { step, branch, by: actor(), comment: None })
                }
                Action::AwaitAttestation { step, branch, .. } => queue.push(Event::Attested {
                    step,
                    branch,
                    by: actor(),
                    evidence: "fuzz".into(),
                }),
                Action::CancelStep { .. } | Action::RunPaused => {}
                Action::RunFinished { .. } => return,
            }
        }
        let _ = engine.snapshot();
        let _ = engine.status();
    }
}
