//! Notifications (`--notify URL`): a short message to a Slack, Teams or any JSON webhook when a
//! run needs a person, a step fails for good, a step takes longer than its `expected` time, and
//! when the command that drove the run stops (succeeded, failed, paused, waiting).
//!
//! - [`target`]: the webhook URL, checked (https, or plain http to loopback only), its payload
//!   shape (by host or an explicit `slack+`/`teams+`/`messagecard+`/`json+` prefix) and the
//!   redacted form every message shows instead of it.
//! - [`payload`]: what a message says ([`Message`]) and the JSON of each receiver.
//! - [`sender`]: the background delivery: a task and a bounded queue per webhook, timeouts,
//!   retries, and the summary printed at the end of the command.
//! - [`Notifier`] (here): watches the run as `engine::runner::drive` moves it
//!   ([`RunObserver`]) and turns state changes into messages.
//!
//! Invariants: the run never waits for a notification and no notification can fail it (the
//! observer only queues); a message carries instance names, states, errors and commands, never a
//! step's outputs, a parameter or a webhook URL, and every text is scrubbed of known secrets.
//! Deliveries are not journaled: a notification is not something the run did (see
//! docs/responder.md, Notifications).

pub mod payload;
pub mod sender;
pub mod target;

pub use payload::{Kind, Message, Tone};
pub use sender::{Sender, Settings, Summary, TargetReport};
pub use target::{Shape, Target};

use crate::engine::kind::Registry;
use crate::engine::runner::{self, RunObserver};
use crate::engine::{Blocker, Engine, Event, Phase, Status};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// Turns a run's state changes into messages and hands them to the [`Sender`].
pub struct Notifier {
    sender: Sender,
    /// A drill's run: messages say so.
    rehearsal: bool,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("sender", &self.sender).finish()
    }
}

/// What was announced already, so each state is announced once per command.
#[derive(Debug, Default)]
struct Seen {
    /// (instance, what it waits for or `failed`, attempt).
    announced: HashSet<(String, &'static str, u32)>,
    /// Instances announced as overdue.
    overdue: HashSet<(String, Option<usize>)>,
}

impl RunObserver for Notifier {
    fn journaled(&self, engine: &Engine, events: &[Event], now: OffsetDateTime) {
        for m in self.messages(engine, events, now) {
            self.sender.push(m);
        }
    }
}

/// The instance an event is about.
fn instance_of(e: &Event) -> Option<(&str, Option<usize>)> {
    match e {
        Event::StepStarted { step, branch, .. }
        | Event::StepProgress { step, branch, .. }
        | Event::StepSucceeded { step, branch, .. }
        | Event::StepFailed { step, branch, .. }
        | Event::StepWaiting { step, branch, .. }
        | Event::StepAwaitingApproval { step, branch, .. }
        | Event::StepAwaitingAttestation { step, branch, .. }
        | Event::ScratchSaved { step, branch, .. }
        | Event::EffectRecorded { step, branch, .. } => Some((step, *branch)),
        _ => None,
    }
}

/// Events that cannot change who the run waits for: a batch of only these is not looked at
/// for new blockers (they are most of a long run's batches).
fn routine(e: &Event) -> bool {
    matches!(
        e,
        Event::StepProgress { .. } | Event::EffectRecorded { .. } | Event::ScratchSaved { .. }
    )
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
}

fn time_text(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn duration_text(d: time::Duration) -> String {
    let secs = d.whole_seconds().max(0) as u64;
    // To the minute: a person reads it.
    humantime::format_duration(std::time::Duration::from_secs(secs - secs % 60)).to_string()
}

impl Notifier {
    /// Starts the delivery tasks (within a tokio runtime). `rehearsal`: the runs it watches
    /// are a drill's.
    pub fn start(settings: Settings, rehearsal: bool) -> Arc<Notifier> {
        Arc::new(Notifier {
            sender: Sender::start(settings),
            rehearsal,
            seen: Mutex::new(Seen::default()),
        })
    }

    fn message(&self, kind: Kind, tone: Tone, engine: &Engine, now: OffsetDateTime) -> Message {
        Message::new(kind, tone, engine.run_id(), &engine.plan().runbook.name, now)
            .rehearsal(self.rehearsal)
    }

    /// The messages a batch of events calls for (and remembers them as announced).
    pub fn messages(&self, engine: &Engine, events: &[Event], now: OffsetDateTime) -> Vec<Message> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let run = engine.run_id().to_string();
        if events.iter().any(|e| !routine(e)) {
            let mut person = Vec::new();
            let mut failed = Vec::new();
            for b in engine.blockers() {
                let attempt = engine
                    .view(&b.step, b.branch)
                    .and_then(|v| v.instance.map(|i| i.attempt))
                    .unwrap_or(0);
                let what = match (b.phase, b.interrupted) {
                    (Phase::Failed, _) => "failed",
                    (Phase::AwaitingApproval, _) => "approval",
                    (Phase::AwaitingAttestation, false) => "attestation",
                    (Phase::AwaitingAttestation, true) => "interrupted",
                    _ => continue,
                };
                if seen.announced.insert((b.name(), what, attempt)) {
                    if b.phase == Phase::Failed {
                        failed.push((b, attempt));
                    } else {
                        person.push(b);
                    }
                }
            }
            if !person.is_empty() {
                out.push(self.needs_person(engine, &run, &person, now));
            }
            if !failed.is_empty() {
                out.push(self.step_failed(engine, &run, &failed, now));
            }
        }
        for e in events {
            let Some((step, branch)) = instance_of(e) else { continue };
            let Some(expected) = engine.plan().runbook.step(step).and_then(|d| d.expected) else {
                continue;
            };
            if seen.overdue.contains(&(step.to_string(), branch)) {
                continue;
            }
            let Some(view) = engine.view(step, branch) else { continue };
            let Some(inst) = &view.instance else { continue };
            let (Some(started), false) = (inst.first_started, inst.state.is_terminal()) else {
                continue;
            };
            let running = now - started;
            if running < expected {
                continue;
            }
            seen.overdue.insert((step.to_string(), branch));
            let name = view.name();
            let mut m = self
                .message(Kind::WaitOverdue, Tone::Warning, engine, now)
                .title(&format!("run {run}: {name} takes longer than expected"))
                .step(&name)
                .line(&format!(
                    "{name} has been running for {} (expected: {}; it fails at its timeout, if any)",
                    duration_text(running),
                    humantime::format_duration(expected)
                ));
            if let Some(w) = inst.waiting_for.as_deref().filter(|w| !w.trim().is_empty()) {
                m = m.line(&format!("it waits for: {}", first_line(w)));
            }
            out.push(m.command(&format!("lifeboat status {run}")));
        }
        out
    }

    fn needs_person(
        &self,
        engine: &Engine,
        run: &str,
        blockers: &[Blocker],
        now: OffsetDateTime,
    ) -> Message {
        let mut m = self
            .message(Kind::NeedsPerson, Tone::Warning, engine, now)
            .title(&format!("run {run} needs a person"));
        if self.rehearsal {
            m = m.line("(a drill: lifeboat answers its own gates; nothing real waits)");
        }
        m = describe_blockers(m, run, blockers);
        m.command(&format!("lifeboat status {run}"))
    }

    fn step_failed(
        &self,
        engine: &Engine,
        run: &str,
        failed: &[(Blocker, u32)],
        now: OffsetDateTime,
    ) -> Message {
        let title = match failed {
            [(b, _)] => format!("run {run}: step {} failed", b.name()),
            _ => format!("run {run}: {} steps failed", failed.len()),
        };
        let mut m = self.message(Kind::StepFailed, Tone::Attention, engine, now).title(&title);
        for (n, (b, attempt)) in failed.iter().enumerate() {
            m = m.step(&b.name());
            if n < payload::MAX_ITEMS {
                let error = first_line(b.message.as_deref().unwrap_or(""));
                let tries =
                    if *attempt == 1 { "1 attempt".into() } else { format!("{attempt} attempts") };
                m = m.line(&format!("{} failed after {tries}: {error}", b.name()));
            }
        }
        if failed.len() > payload::MAX_ITEMS {
            m = m.line(&format!("and {} more", failed.len() - payload::MAX_ITEMS));
        }
        let first = failed.first().map(|(b, _)| b.name()).unwrap_or_default();
        m.line("other steps go on where they can; once the cause is fixed, resume retries what can be retried")
            .command(&format!("lifeboat status {run}"))
            .command(&format!("lifeboat resume {run}"))
            .command(&format!("lifeboat skip {run} {first} --reason TEXT"))
    }

    /// The message that says how the command left the run (from its replayed state).
    pub fn end_message(&self, engine: &Engine, now: OffsetDateTime, extra: &[String]) -> Message {
        let run = engine.run_id().to_string();
        let blockers = engine.blockers();
        let failed: Vec<Blocker> =
            blockers.iter().filter(|b| b.phase == Phase::Failed).cloned().collect();
        let mut m = match engine.status() {
            Status::Succeeded => self
                .message(Kind::RunEnded, Tone::Good, engine, now)
                .title(&format!("run {run} succeeded"))
                .status("succeeded"),
            Status::Failed => {
                let mut m = self
                    .message(Kind::RunEnded, Tone::Attention, engine, now)
                    .title(&format!("run {run} failed"))
                    .status("failed");
                for (n, b) in failed.iter().enumerate() {
                    m = m.step(&b.name());
                    if n < payload::MAX_ITEMS {
                        let error = first_line(b.message.as_deref().unwrap_or(""));
                        m = m.line(&format!("{} failed: {error}", b.name()));
                    }
                }
                if failed.len() > payload::MAX_ITEMS {
                    m = m.line(&format!("and {} more", failed.len() - payload::MAX_ITEMS));
                }
                m.command(&format!("lifeboat status {run}"))
                    .command(&format!("lifeboat resume {run}"))
            }
            Status::Paused => {
                let m = self
                    .message(Kind::RunEnded, Tone::Warning, engine, now)
                    .title(&format!("run {run} is paused: it waits for a person"))
                    .status("paused");
                let waiting: Vec<Blocker> =
                    blockers.into_iter().filter(|b| b.phase != Phase::Failed).collect();
                describe_blockers(m, &run, &waiting).command(&format!("lifeboat resume {run}"))
            }
            Status::Cancelled => self
                .message(Kind::RunEnded, Tone::Neutral, engine, now)
                .title(&format!("run {run} was cancelled"))
                .status("cancelled"),
            Status::Active { next_timer: Some(t) } => self
                .message(Kind::RunEnded, Tone::Neutral, engine, now)
                .title(&format!("run {run} stopped; it waits until {}", time_text(t)))
                .status("waiting")
                .command(&format!("lifeboat resume {run}")),
            Status::Active { next_timer: None } => self
                .message(Kind::RunEnded, Tone::Neutral, engine, now)
                .title(&format!("run {run} stopped before its end"))
                .status("stopped")
                .command(&format!("lifeboat resume {run}")),
        };
        for l in extra {
            m = m.line(l);
        }
        m
    }

    /// Queues the end message and waits (at most the timeout) for the queues to drain.
    pub async fn finish(&self, end: Option<Message>) -> Summary {
        if let Some(m) = end {
            self.sender.push(m);
        }
        self.sender.finish().await
    }

    /// [`Notifier::finish`] with the end message of the run in `run_dir` as its journal holds
    /// it now (a run that cannot be read is said so).
    pub async fn finish_run(
        &self,
        run_dir: &Path,
        registry: &Registry,
        now: OffsetDateTime,
        extra: &[String],
    ) -> Summary {
        let end = match runner::load(run_dir, registry) {
            Ok(r) => self.end_message(&r.engine, now, extra),
            Err(e) => {
                let run = run_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut m = Message::new(Kind::RunEnded, Tone::Attention, &run, "", now)
                    .rehearsal(self.rehearsal)
                    .title(&format!("run {run} stopped; its journal cannot be read"))
                    .status("unknown")
                    .line(first_line(&e.to_string()))
                    .command(&format!("lifeboat status {run}"));
                for l in extra {
                    m = m.line(l);
                }
                m
            }
        };
        self.finish(Some(end)).await
    }
}

/// One line per instance waiting for a person, and the commands that answer it.
fn describe_blockers(mut m: Message, run: &str, blockers: &[Blocker]) -> Message {
    for (n, b) in blockers.iter().enumerate() {
        let name = b.name();
        m = m.step(&name);
        if n >= payload::MAX_ITEMS {
            continue;
        }
        m = match (b.phase, b.interrupted) {
            (Phase::AwaitingApproval, _) => m
                .line(&format!("{name} awaits approval"))
                .command(&format!("lifeboat approve {run} {name} --comment TEXT")),
            (Phase::AwaitingAttestation, false) => m
                .line(&format!("{name} is a manual task: do it, then attest it"))
                .command(&format!("lifeboat attest {run} {name} --evidence TEXT")),
            (Phase::AwaitingAttestation, true) => m
                .line(&format!(
                    "{name} was interrupted and must never run twice: check whether it took effect, then attest it (it did) or skip it (it did not)"
                ))
                .command(&format!("lifeboat attest {run} {name} --evidence TEXT"))
                .command(&format!("lifeboat skip {run} {name} --reason TEXT")),
            _ => m,
        };
    }
    if blockers.len() > payload::MAX_ITEMS {
        m = m.line(&format!(
            "and {} more (lifeboat status {run})",
            blockers.len() - payload::MAX_ITEMS
        ));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::StepClass;
    use serde_json::json;
    use time::macros::datetime;

    const RUNBOOK: &str = r#"
apiVersion: lifeboat/v1
metadata: {name: nt}
params:
  items: {type: list, default: [a, b]}
  token: {type: string, secret: true, default: "observe-test-secret-value"}
steps:
  - id: gate
    uses: gate.approval
    with: {prompt: "go with {{ params.items }}?"}
  - id: fan
    uses: wait.duration
    for_each: "{{ params.items }}"
    expected: 10m
    timeout: 1h
    with: {duration: 30m}
"#;

    fn t(min: i64) -> OffsetDateTime {
        datetime!(2025-01-01 00:00 UTC) + time::Duration::minutes(min)
    }

    fn engine() -> Engine {
        let plan = crate::runbook::load_str(Path::new("nt.yaml"), RUNBOOK, &[])
            .expect("the runbook loads");
        let mut e = Engine::new(Arc::new(plan), "r1", 1, &|_| StepClass::Idempotent);
        e.handle(&Event::RunStarted, t(0)).unwrap();
        e
    }

    fn apply(n: &Notifier, e: &mut Engine, events: &[Event], now: OffsetDateTime) -> Vec<Message> {
        for ev in events {
            e.handle(ev, now).unwrap();
        }
        n.messages(e, events, now)
    }

    fn quiet() -> Arc<Notifier> {
        Notifier::start(Settings::new(Vec::new(), sender::DEFAULT_TIMEOUT), false)
    }

    fn started(step: &str, branch: Option<usize>) -> Event {
        Event::StepStarted { step: step.into(), branch, attempt: 1 }
    }

    #[test]
    fn a_gate_a_failure_and_an_overdue_wait_are_each_announced_once() {
        let n = quiet();
        let mut e = engine();
        let msgs = apply(
            &n,
            &mut e,
            &[started("gate", None), started("fan", Some(0)), started("fan", Some(1))],
            t(0),
        );
        assert!(msgs.is_empty(), "{msgs:?}");
        let waiting = |b, until| Event::StepWaiting {
            step: "fan".into(),
            branch: Some(b),
            attempt: 1,
            until,
            message: "the clock runs".into(),
            scratch: None,
        };
        let msgs = apply(
            &n,
            &mut e,
            &[
                Event::StepAwaitingApproval {
                    step: "gate".into(),
                    branch: None,
                    attempt: 1,
                    prompt: "go with observe-test-secret-value?".into(),
                    four_eyes: false,
                },
                waiting(0, t(11)),
            ],
            t(1),
        );
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        let m = &msgs[0];
        assert_eq!(m.kind, Kind::NeedsPerson);
        assert_eq!(m.title, "run r1 needs a person");
        assert_eq!(m.steps, ["gate"]);
        assert!(m.commands.contains(&"lifeboat approve r1 gate --comment TEXT".to_string()));
        // The prompt (rendered from parameters and outputs) is never in a message.
        assert!(!m.text().contains("go with"), "{}", m.text());

        // Nothing new: nothing said. The same gate is not announced twice.
        let msgs = apply(&n, &mut e, &[Event::TimerFired], t(2));
        assert!(msgs.is_empty(), "{msgs:?}");

        // Branch 1 fails for good (no retry): one failure message naming it and its error.
        let failed = Event::StepFailed {
            step: "fan".into(),
            branch: Some(1),
            attempt: 1,
            error: "the region is down\nsecond line".into(),
            retryable: false,
        };
        let msgs = apply(&n, &mut e, &[failed], t(5));
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        let m = &msgs[0];
        assert_eq!(m.kind, Kind::StepFailed);
        assert_eq!(m.title, "run r1: step fan#1 failed");
        assert_eq!(m.lines[0], "fan#1 failed after 1 attempt: the region is down");
        assert!(m.commands.contains(&"lifeboat resume r1".to_string()));

        // Branch 0 re-polls after its expected 10 minutes: overdue, once.
        assert!(apply(&n, &mut e, &[Event::TimerFired], t(11)).is_empty());
        let msgs = apply(&n, &mut e, &[started("fan", Some(0))], t(12));
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        let m = &msgs[0];
        assert_eq!(m.kind, Kind::WaitOverdue);
        assert_eq!(m.title, "run r1: fan#0 takes longer than expected");
        assert!(m.lines[0].starts_with("fan#0 has been running for 12m (expected: 10m"), "{m:?}");
        let msgs = apply(&n, &mut e, &[waiting(0, t(20))], t(13));
        assert!(msgs.is_empty(), "{msgs:?}");
    }

    #[test]
    fn the_end_message_says_how_the_command_left_the_run() {
        let n = quiet();
        let mut e = engine();
        apply(&n, &mut e, &[started("gate", None)], t(0));
        let awaiting = Event::StepAwaitingApproval {
            step: "gate".into(),
            branch: None,
            attempt: 1,
            prompt: "p".into(),
            four_eyes: false,
        };
        apply(&n, &mut e, &[awaiting], t(0));
        for b in [0, 1] {
            let done = Event::StepSucceeded {
                step: "fan".into(),
                branch: Some(b),
                attempt: 1,
                outputs: Default::default(),
            };
            apply(&n, &mut e, &[started("fan", Some(b)), done], t(0));
        }
        let m = n.end_message(&e, t(1), &["drill verdict: PASSED".to_string()]);
        assert_eq!(m.kind, Kind::RunEnded);
        assert_eq!(m.status.as_deref(), Some("paused"));
        assert_eq!(m.title, "run r1 is paused: it waits for a person");
        assert!(m.commands.contains(&"lifeboat approve r1 gate --comment TEXT".to_string()));
        assert_eq!(m.lines.last().unwrap(), "drill verdict: PASSED");
        let json = payload::render(Shape::Generic, &m);
        assert_eq!(json["status"], "paused");
        assert_eq!(json["event"], "run_ended");
        assert_eq!(json["steps"], json!(["gate"]));
    }
}
