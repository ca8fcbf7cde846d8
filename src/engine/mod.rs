//! The run as a sans-IO state machine: events in, actions out. No HTTP, no clap, no clock of its
//! own (time is an input).
//!
//! [`Engine::handle`] applies one [`Event`] at a given time and returns the [`Action`]s it
//! implies. The runner ([`runner`]) journals each event before handing it over, performs the
//! actions, and turns step results back into events; replaying a journal's events through a fresh
//! engine rebuilds the exact state ([`Engine::snapshot`]).
//!
//! Invariants:
//! - Every state change of an instance goes through the transition table in [`lifecycle`].
//! - The engine is deterministic: the same events at the same times give the same state (ordered
//!   collections only; retry jitter is derived from the run's seed, the step and the attempt).
//! - Fan-out follows `runbook::model`'s doc: item-wise dependencies between steps with the same
//!   `for_each`, so one stuck branch never blocks another.
//! - Secret outputs are held in memory only ([`Engine::remember_secrets`]); events carry markers.
//! - A failed instance never runs again by itself. Only an explicit, journaled
//!   [`Event::Rearmed`] (applied by `lifeboat resume` through [`runner::rearm_failed`]) makes it
//!   ready again, and only when its last failure was retryable and its step is not one-shot;
//!   the re-armed instance gets a fresh retry budget and re-enters with its scratch state.

pub mod artefact;
pub mod event;
pub mod inbox;
pub mod kind;
pub mod lifecycle;
pub mod rehearse;
pub mod replay;
pub mod runner;
pub mod template;

pub use event::{Action, Actor, Effect, Event, Pipeline, StartStep, VIA_DRILL};
pub use lifecycle::{Phase, State, WaitReason};

use crate::catalog::StepClass;
use crate::runbook::Plan;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("step {0} does not exist in this run")]
    UnknownStep(String),
    #[error("step {step} has no branch #{branch}")]
    UnknownBranch { step: String, branch: usize },
    #[error(
        "step {0} is fanned out: name a branch as {0}[LABEL] or {0}#N (see `lifeboat status RUN`)"
    )]
    NeedsBranch(String),
    /// `STEP[LABEL]` named no branch of the step: lists the names its branches have.
    #[error("step {step} has no branch [{label}] ({})", describe_names(names))]
    UnknownLabel { step: String, label: String, names: Vec<String> },
    /// `STEP[LABEL]` of a step that does not fan out.
    #[error("step {0} is not fanned out: name it {0}, without a branch")]
    NotFanned(String),
    #[error(transparent)]
    Invalid(#[from] lifecycle::InvalidTransition),
    #[error("step {step} is {state}, not {expected}")]
    NotIn { step: String, state: &'static str, expected: &'static str },
    #[error("step {step} cannot be re-armed: {why}")]
    NotRearmable { step: String, why: &'static str },
    #[error("step {step}: attempt {got} started where attempt {expected} was expected")]
    AttemptMismatch { step: String, got: u32, expected: u32 },
    #[error("step {step}: {what}: {error}")]
    TimeOutOfRange { step: String, what: &'static str, error: String },
    #[error("parameter {name} {why}")]
    Param { name: String, why: &'static str },
}

/// One step instance: a step, or one branch of a fanned-out step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    pub state: State,
    /// The current (or last) attempt number; 0 before the first start.
    pub attempt: u32,
    /// Failed attempts so far (retries are allowed while below `retry.max_attempts`).
    pub failures: u32,
    /// Re-polls of the current attempt.
    pub polls: u32,
    pub item: Option<Value>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_started: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub attempt_started: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished: Option<OffsetDateTime>,
    /// Deadline of the current attempt (`timeout`; for waits, of the whole wait).
    #[serde(with = "time::serde::rfc3339::option")]
    pub deadline: Option<OffsetDateTime>,
    pub outputs: Option<Map<String, Value>>,
    pub error: Option<String>,
    /// Whether the last failure may pass on another attempt (what `resume` re-arms).
    pub retryable: bool,
    pub scratch: Option<Value>,
    /// What a waiting or awaiting instance waits for, for people.
    pub waiting_for: Option<String>,
    pub progress: Option<(u64, u64, String)>,
    /// An approval gate that needs another person than the one who started the run (journaled
    /// with its `StepAwaitingApproval`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub four_eyes: bool,
    /// The next start re-polls the current attempt instead of starting a new one.
    #[serde(skip)]
    next_is_poll: bool,
    /// The next start re-enters an interrupted attempt.
    #[serde(skip)]
    next_is_reentry: bool,
    #[serde(skip)]
    timer: Option<OffsetDateTime>,
}

impl Instance {
    fn new(item: Option<Value>) -> Instance {
        Instance {
            state: State::Pending,
            attempt: 0,
            failures: 0,
            polls: 0,
            item,
            first_started: None,
            attempt_started: None,
            finished: None,
            deadline: None,
            outputs: None,
            error: None,
            retryable: false,
            scratch: None,
            waiting_for: None,
            progress: None,
            four_eyes: false,
            next_is_poll: false,
            next_is_reentry: false,
            timer: None,
        }
    }
}

/// Per-step runtime data.
#[derive(Debug, Clone)]
struct StepRt {
    class: StepClass,
    /// Indices of `needs`, and whether each dependency is item-wise.
    needs: Vec<(usize, bool)>,
    dependents: Vec<usize>,
    /// Steps referenced by this step's templates (`steps.<id>`).
    refs: Vec<usize>,
    fanned: bool,
    /// `None` until the fan-out (or the single instance) exists.
    instances: Option<Vec<Instance>>,
    /// One per instance once it exists ([`branch_labels`]; `None` for a step not fanned out).
    labels: Vec<Option<String>>,
    satisfied: usize,
    /// Skipped as a whole by a person before its branches existed.
    skipped_whole: bool,
}

/// The run's overall situation, computed from the instance counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Progress is possible without a person: something runs, is ready, or waits for a time.
    Active {
        #[serde(with = "time::serde::rfc3339::option")]
        next_timer: Option<OffsetDateTime>,
    },
    /// Only a person can unblock the run.
    Paused,
    Succeeded,
    /// At least one step failed for good, and nothing else can progress.
    Failed,
    Cancelled,
}

/// A step instance waiting for a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocker {
    pub step: String,
    pub branch: Option<usize>,
    /// The branch's label ([`branch_labels`]), if it has one.
    pub label: Option<String>,
    pub phase: Phase,
    pub interrupted: bool,
    pub message: Option<String>,
}

impl Blocker {
    /// `step`, `step[label]` or `step#N`: how commands name this instance.
    pub fn name(&self) -> String {
        instance_name(&self.step, self.branch, self.label.as_deref())
    }
}

/// How people and commands name a step instance: `step`, `step[label]` for a branch with a
/// label (its connector's name, see [`branch_labels`]), else `step#N` (branch index N).
pub fn instance_name(step: &str, branch: Option<usize>, label: Option<&str>) -> String {
    match (branch, label) {
        (Some(_), Some(l)) => format!("{step}[{l}]"),
        (Some(b), None) => format!("{step}#{b}"),
        (None, _) => step.to_string(),
    }
}

/// A branch as a person names it on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchRef {
    /// `step#N`: the branch index, as `status` shows for a branch without a label.
    Index(usize),
    /// `step[label]`: the branch's label.
    Label(String),
}

/// Parses `step`, `step#N` or `step[label]`; `None` for anything else (an empty step or
/// label, a branch that is not a number, text after `]`).
pub fn parse_instance_name(text: &str) -> Option<(String, Option<BranchRef>)> {
    if let Some((s, rest)) = text.split_once('[') {
        let label = rest.strip_suffix(']')?;
        if s.is_empty() || label.is_empty() || label.contains(['[', ']']) || s.contains('#') {
            return None;
        }
        return Some((s.to_string(), Some(BranchRef::Label(label.to_string()))));
    }
    if text.contains(']') {
        return None;
    }
    match text.split_once('#') {
        Some((s, b)) if !s.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
            Some((s.to_string(), Some(BranchRef::Index(b.parse().ok()?))))
        }
        Some(_) => None,
        None if text.is_empty() => None,
        None => Some((text.to_string(), None)),
    }
}

/// The longest branch label: a longer `name` leaves its branch as `step#N`.
pub const MAX_LABEL_LEN: usize = 80;

/// Whether `text` may label a branch: 1 to [`MAX_LABEL_LEN`] ASCII letters, digits, `.`, `_`
/// and `-` (what Azure allows in a connector's name), so `step[label]` needs no quoting in a
/// shell and never holds a control character, a bracket, a space or a `#`.
pub fn valid_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_LABEL_LEN
        && text.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// The labels of a fan-out's branches, one per item: the item's `name` (the connector's name in
/// the region-outage runbook) when it is a string that is a [`valid_label`] and no other item
/// of the same list has; else `None` (the branch is `step#N`). A pure function of the items,
/// which are journaled step outputs or parameters, so a replay gives the same labels. A step's
/// `label:` template chooses other candidates ([`unique_labels`]).
pub fn branch_labels(items: &[Option<Value>]) -> Vec<Option<String>> {
    unique_labels(
        items
            .iter()
            .map(|i| i.as_ref().and_then(|v| v.get("name")).and_then(Value::as_str))
            .map(|n| n.map(String::from))
            .collect(),
    )
}

/// Keeps the candidates that are a [`valid_label`] and unique among them; the others are `None`.
pub fn unique_labels(candidates: Vec<Option<String>>) -> Vec<Option<String>> {
    let names: Vec<Option<&str>> =
        candidates.iter().map(|n| n.as_deref().filter(|n| valid_label(n))).collect();
    names
        .iter()
        .map(|n| {
            n.filter(|n| names.iter().filter(|m| **m == Some(*n)).count() == 1).map(String::from)
        })
        .collect()
}

fn describe_names(names: &[String]) -> String {
    if names.is_empty() {
        "it has no branches yet".into()
    } else {
        format!("its branches: {}", names.join(", "))
    }
}

/// The state machine of one run.
#[derive(Debug, Clone)]
pub struct Engine {
    plan: Arc<Plan>,
    run_id: String,
    seed: u64,
    steps: Vec<StepRt>,
    index: HashMap<String, usize>,
    /// The steps in scheduling order: `plan.order`, with anything out of range or repeated left
    /// out and any step it misses appended in file order (never needed for a validated plan, see
    /// [`check_plan`], but the engine must not index with unchecked values).
    order: Vec<usize>,
    /// Position of each step in `order` (scheduling priority): `order[pos[s]] == s`.
    pos: Vec<usize>,
    counts: BTreeMap<Phase, usize>,
    unexpanded: usize,
    total: usize,
    ready: BTreeSet<(usize, usize)>,
    dispatched: BTreeSet<(usize, usize)>,
    timers: BTreeSet<(OffsetDateTime, usize, usize)>,
    dirty: BTreeSet<usize>,
    cancelled: bool,
    started: bool,
    covered: BTreeSet<(Phase, Phase)>,
    secrets: HashMap<(usize, usize), Map<String, Value>>,
    /// Real values of secret parameters (the journaled plan holds markers).
    secret_params: Map<String, Value>,
}

impl Engine {
    /// A fresh engine for a plan. `class_of` gives each step kind's class (replay policy).
    pub fn new(
        plan: Arc<Plan>,
        run_id: &str,
        seed: u64,
        class_of: &dyn Fn(&str) -> StepClass,
    ) -> Engine {
        let defs = &plan.runbook.steps;
        let index: HashMap<String, usize> =
            defs.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        let mut listed = vec![false; defs.len()];
        let mut order = Vec::with_capacity(defs.len());
        for &i in &plan.order {
            if listed.get(i) == Some(&false) {
                listed[i] = true;
                order.push(i);
            }
        }
        // Steps missing from `order` (never from a validated plan) keep file order after the rest.
        order.extend((0..defs.len()).filter(|&i| !listed[i]));
        let mut pos = vec![0; defs.len()];
        for (p, &i) in order.iter().enumerate() {
            pos[i] = p;
        }
        let mut steps: Vec<StepRt> = defs
            .iter()
            .map(|d| {
                let needs = d
                    .needs
                    .iter()
                    .filter_map(|n| index.get(n).copied())
                    .map(|n| {
                        let item_wise = match (&d.for_each, &defs[n].for_each) {
                            (Some(a), Some(b)) => a.trim() == b.trim(),
                            _ => false,
                        };
                        (n, item_wise)
                    })
                    .collect();
                StepRt {
                    class: class_of(&d.uses),
                    needs,
                    dependents: Vec::new(),
                    refs: template_refs(d, &index),
                    fanned: d.for_each.is_some(),
                    instances: None,
                    labels: Vec::new(),
                    satisfied: 0,
                    skipped_whole: false,
                }
            })
            .collect();
        for i in 0..steps.len() {
            for (n, _) in steps[i].needs.clone() {
                steps[n].dependents.push(i);
            }
        }
        let n = steps.len();
        Engine {
            plan,
            run_id: run_id.to_string(),
            seed,
            steps,
            index,
            order,
            pos,
            counts: BTreeMap::new(),
            unexpanded: n,
            total: 0,
            ready: BTreeSet::new(),
            dispatched: BTreeSet::new(),
            timers: BTreeSet::new(),
            dirty: BTreeSet::new(),
            cancelled: false,
            started: false,
            covered: BTreeSet::new(),
            secrets: HashMap::new(),
            secret_params: Map::new(),
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Every transition taken so far (for the coverage test of the transition table).
    pub fn covered_transitions(&self) -> &BTreeSet<(Phase, Phase)> {
        &self.covered
    }

    /// Keeps the real values of a step's secret outputs in memory, for its dependents' inputs.
    /// They are never journaled: after a restart dependents see the redaction marker.
    pub fn remember_secrets(
        &mut self,
        step: &str,
        branch: Option<usize>,
        values: Map<String, Value>,
    ) {
        if let Ok((s, i)) = self.locate(step, branch) {
            self.secrets.insert((s, i), values);
        }
    }

    /// Gives the real values of secret parameters, in memory only: the journaled plan holds
    /// redaction markers, so after a restart they must be supplied again.
    pub fn remember_secret_params(&mut self, values: Map<String, Value>) {
        self.secret_params = values;
    }

    /// Forgets which starts were handed out but not confirmed: after a replay, every ready
    /// instance is offered again.
    pub fn forget_dispatched(&mut self) -> Vec<Action> {
        let keys: Vec<_> = std::mem::take(&mut self.dispatched).into_iter().collect();
        for (s, i) in keys {
            self.ready.insert((self.pos[s], i));
        }
        let mut actions = Vec::new();
        self.dispatch(&mut actions);
        actions
    }

    /// The earliest pending timer.
    pub fn next_timer(&self) -> Option<OffsetDateTime> {
        self.timers.first().map(|(t, _, _)| *t)
    }

    fn count(&self, p: Phase) -> usize {
        self.counts.get(&p).copied().unwrap_or(0)
    }

    /// The run's situation.
    pub fn status(&self) -> Status {
        let running = self.count(Phase::Running);
        if self.cancelled {
            return if running > 0 {
                Status::Active { next_timer: self.next_timer() }
            } else {
                Status::Cancelled
            };
        }
        if running > 0 || self.count(Phase::Ready) > 0 || self.count(Phase::Waiting) > 0 {
            return Status::Active { next_timer: self.next_timer() };
        }
        let failed = self.count(Phase::Failed) > 0;
        let awaiting =
            self.count(Phase::AwaitingApproval) + self.count(Phase::AwaitingAttestation) > 0;
        if failed {
            Status::Failed
        } else if awaiting {
            Status::Paused
        } else if self.unexpanded == 0
            && self.total == self.count(Phase::Succeeded) + self.count(Phase::Skipped)
        {
            Status::Succeeded
        } else {
            // Nothing can move and nobody is asked: only a not-yet-started run looks like this.
            Status::Active { next_timer: self.next_timer() }
        }
    }

    /// Why instance `i` of step `s` cannot be re-armed, or `None` if it can.
    fn not_rearmable(&self, s: usize, i: usize) -> Option<&'static str> {
        let inst = self.inst(s, i);
        if inst.state != State::Failed {
            Some("only a failed step can be re-armed")
        } else if self.steps[s].class == StepClass::OneShot {
            Some("it is a one-shot step, which never runs twice (check it, then attest or skip it)")
        } else if !inst.retryable {
            Some("its last failure is not retryable (fix the cause, then skip it or start a new run)")
        } else {
            None
        }
    }

    /// Applies [`Event::ParamsChanged`]: only declared, resumable, non-secret parameters; failed
    /// instances of steps whose templates read a changed one become re-armable.
    fn change_params(&mut self, params: &Map<String, Value>) -> Result<(), EngineError> {
        for name in params.keys() {
            let why = match self.plan.runbook.param(name) {
                None => Some("is not a parameter of this run"),
                Some(d) if d.secret => Some("is secret: it cannot be changed on resume"),
                Some(d) if !d.resumable => Some(
                    "cannot be changed on resume (the runbook does not declare it `resumable: true`)",
                ),
                Some(_) => None,
            };
            if let Some(why) = why {
                return Err(EngineError::Param { name: name.clone(), why });
            }
        }
        let plan = Arc::make_mut(&mut self.plan);
        for (k, v) in params {
            plan.params.insert(k.clone(), v.clone());
        }
        for s in 0..self.steps.len() {
            let def = &self.plan.runbook.steps[s];
            if !params.keys().any(|k| reads_param(def, k)) {
                continue;
            }
            for inst in self.steps[s].instances.iter_mut().flatten() {
                if inst.state == State::Failed {
                    inst.retryable = true;
                }
            }
        }
        Ok(())
    }

    /// Failed instances `resume` re-arms ([`Event::Rearmed`]): the last failure was retryable
    /// and the step is not one-shot. In plan order, with the failure message.
    pub fn rearmable(&self) -> Vec<(String, Option<usize>, String)> {
        let mut out = Vec::new();
        for &s in &self.order {
            for (i, inst) in self.steps[s].instances.iter().flatten().enumerate() {
                if self.not_rearmable(s, i).is_none() {
                    out.push((
                        self.plan.runbook.steps[s].id.clone(),
                        self.branch_of(s, i),
                        inst.error.clone().unwrap_or_default(),
                    ));
                }
            }
        }
        out
    }

    /// Instances waiting for a person, in plan order.
    pub fn blockers(&self) -> Vec<Blocker> {
        let mut out = Vec::new();
        for &s in &self.order {
            let id = &self.plan.runbook.steps[s].id;
            for (i, inst) in self.steps[s].instances.iter().flatten().enumerate() {
                let (phase, interrupted) = match inst.state {
                    State::AwaitingApproval => (Phase::AwaitingApproval, false),
                    State::AwaitingAttestation { interrupted } => {
                        (Phase::AwaitingAttestation, interrupted)
                    }
                    State::Failed => (Phase::Failed, false),
                    _ => continue,
                };
                let message = if phase == Phase::Failed {
                    inst.error.clone()
                } else {
                    inst.waiting_for.clone()
                };
                out.push(Blocker {
                    step: id.clone(),
                    branch: self.branch_of(s, i),
                    label: self.label_of(s, i),
                    phase,
                    interrupted,
                    message,
                });
            }
        }
        out
    }

    /// The instances an approval of `step` (one `branch`, or every branch awaiting approval)
    /// would approve whose gate needs another person than the one who started the run
    /// ([`Instance::four_eyes`]), by name.
    pub fn four_eyes_gates(&self, step: &str, branch: Option<usize>) -> Vec<String> {
        let Some(&s) = self.index.get(step) else { return Vec::new() };
        self.steps[s]
            .instances
            .iter()
            .flatten()
            .enumerate()
            .filter(|(i, inst)| {
                inst.four_eyes
                    && inst.state == State::AwaitingApproval
                    && branch.is_none_or(|b| self.branch_of(s, *i).unwrap_or(0) == b)
            })
            .map(|(i, _)| self.name(s, i))
            .collect()
    }

    /// What the run waits for, in one line for people (`lifeboat status`, `runs list`): the
    /// people it waits for (instances awaiting approval or attestation, failed ones), else the
    /// instances running or waiting (with what for and until when); `None` once it ended.
    pub fn waits_for(&self) -> Option<String> {
        const SHOWN: usize = 3;
        let list = |names: Vec<String>| -> String {
            let more = names.len().saturating_sub(SHOWN);
            let mut text = names.into_iter().take(SHOWN).collect::<Vec<_>>().join(", ");
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
            text
        };
        if matches!(self.status(), Status::Succeeded | Status::Cancelled) {
            return None;
        }
        let blockers = self.blockers();
        let mut parts = Vec::new();
        if !blockers.is_empty() {
            let mut people = Vec::new();
            for (phase, interrupted, what) in [
                (Phase::AwaitingApproval, false, "approval of"),
                (Phase::AwaitingAttestation, false, "attestation of"),
                (Phase::AwaitingAttestation, true, "a check of interrupted"),
                (Phase::Failed, false, "failed"),
            ] {
                let names: Vec<String> = blockers
                    .iter()
                    .filter(|b| b.phase == phase && b.interrupted == interrupted)
                    .map(Blocker::name)
                    .collect();
                if !names.is_empty() {
                    people.push(format!("{what} {}", list(names)));
                }
            }
            parts.push(format!("a person: {}", people.join("; ")));
        }
        // Other branches may go on meanwhile.
        let mut running = Vec::new();
        let mut waiting = Vec::new();
        for &s in &self.order {
            for (i, inst) in self.steps[s].instances.iter().flatten().enumerate() {
                match &inst.state {
                    State::Running { .. } | State::Ready => running.push(self.name(s, i)),
                    State::Waiting { until, .. } => waiting.push(format!(
                        "{} ({}next check {})",
                        self.name(s, i),
                        inst.waiting_for
                            .as_deref()
                            .map(|w| format!("{}; ", w.trim()))
                            .unwrap_or_default(),
                        crate::text::local_time(*until)
                    )),
                    _ => {}
                }
            }
        }
        if !running.is_empty() {
            parts.push(format!("running {}", list(running)));
        }
        if !waiting.is_empty() {
            parts.push(format!("waiting {}", list(waiting)));
        }
        Some(if parts.is_empty() { "nothing yet (not started)".into() } else { parts.join("; ") })
    }

    fn branch_of(&self, s: usize, i: usize) -> Option<usize> {
        self.steps[s].fanned.then_some(i)
    }

    fn label_of(&self, s: usize, i: usize) -> Option<String> {
        self.steps[s].labels.get(i).cloned().flatten()
    }

    /// The label of a branch ([`branch_labels`]), once its step has fanned out.
    pub fn label(&self, step: &str, branch: Option<usize>) -> Option<String> {
        let s = *self.index.get(step)?;
        self.label_of(s, branch?)
    }

    /// How people name an instance: `step`, `step[label]` or `step#N` ([`instance_name`]).
    pub fn instance_name(&self, step: &str, branch: Option<usize>) -> String {
        instance_name(step, branch, self.label(step, branch).as_deref())
    }

    /// The step and branch a person's `step`, `step#N` or `step[label]` names. A label must be
    /// one of the step's branches' ([`EngineError::UnknownLabel`] lists their names); a plain
    /// step or a branch index is checked by the command it is given to, as before.
    pub fn resolve(
        &self,
        step: &str,
        branch: Option<BranchRef>,
    ) -> Result<(String, Option<usize>), EngineError> {
        match branch {
            None => Ok((step.to_string(), None)),
            Some(BranchRef::Index(b)) => Ok((step.to_string(), Some(b))),
            Some(BranchRef::Label(label)) => {
                let s = *self
                    .index
                    .get(step)
                    .ok_or_else(|| EngineError::UnknownStep(step.to_string()))?;
                if !self.steps[s].fanned {
                    return Err(EngineError::NotFanned(step.to_string()));
                }
                let labels = &self.steps[s].labels;
                match labels.iter().position(|l| l.as_deref() == Some(label.as_str())) {
                    Some(i) => Ok((step.to_string(), Some(i))),
                    None => Err(EngineError::UnknownLabel {
                        step: step.to_string(),
                        label,
                        names: (0..labels.len()).map(|i| self.name(s, i)).collect(),
                    }),
                }
            }
        }
    }

    /// A serialisable view of every instance, in plan order: what `status` shows and what replay
    /// tests compare.
    pub fn snapshot(&self) -> Vec<InstanceView> {
        let mut out = Vec::new();
        for &s in &self.order {
            let def = &self.plan.runbook.steps[s];
            match &self.steps[s].instances {
                None => out.push(InstanceView {
                    step: def.id.clone(),
                    uses: def.uses.clone(),
                    branch: None,
                    label: None,
                    instance: None,
                }),
                Some(insts) => {
                    for (i, inst) in insts.iter().enumerate() {
                        out.push(InstanceView {
                            step: def.id.clone(),
                            uses: def.uses.clone(),
                            branch: self.branch_of(s, i),
                            label: self.label_of(s, i),
                            instance: Some(inst.clone()),
                        });
                    }
                }
            }
        }
        out
    }

    /// One instance as [`Engine::snapshot`] shows it (`None` if it does not exist yet): for
    /// observers that look at the instances an event names without copying the whole run.
    pub fn view(&self, step: &str, branch: Option<usize>) -> Option<InstanceView> {
        let (s, i) = self.locate(step, branch).ok()?;
        let def = &self.plan.runbook.steps[s];
        Some(InstanceView {
            step: def.id.clone(),
            uses: def.uses.clone(),
            branch: self.branch_of(s, i),
            label: self.label_of(s, i),
            instance: Some(self.inst(s, i).clone()),
        })
    }

    fn locate(&self, step: &str, branch: Option<usize>) -> Result<(usize, usize), EngineError> {
        let s = *self.index.get(step).ok_or_else(|| EngineError::UnknownStep(step.to_string()))?;
        let rt = &self.steps[s];
        let i = match (rt.fanned, branch) {
            (true, Some(b)) => b,
            (true, None) => return Err(EngineError::NeedsBranch(step.to_string())),
            (false, None) | (false, Some(0)) => 0,
            (false, Some(b)) => {
                return Err(EngineError::UnknownBranch { step: step.to_string(), branch: b })
            }
        };
        match &rt.instances {
            Some(v) if i < v.len() => Ok((s, i)),
            _ => Err(EngineError::UnknownBranch { step: step.to_string(), branch: i }),
        }
    }

    fn inst(&self, s: usize, i: usize) -> &Instance {
        &self.steps[s].instances.as_ref().expect("located instance exists")[i]
    }

    fn inst_mut(&mut self, s: usize, i: usize) -> &mut Instance {
        &mut self.steps[s].instances.as_mut().expect("located instance exists")[i]
    }

    fn name(&self, s: usize, i: usize) -> String {
        instance_name(
            &self.plan.runbook.steps[s].id,
            self.branch_of(s, i),
            self.steps[s].labels.get(i).and_then(Option::as_deref),
        )
    }

    /// The one place instance states change: checks the table, keeps counts, queues and timers.
    fn set_state(&mut self, s: usize, i: usize, to: State) -> Result<(), EngineError> {
        let from = self.inst(s, i).state.clone();
        lifecycle::check(&self.name(s, i), from.phase(), to.phase())?;
        self.covered.insert((from.phase(), to.phase()));
        *self.counts.entry(from.phase()).or_default() -= 1;
        *self.counts.entry(to.phase()).or_default() += 1;
        let key = (self.pos[s], i);
        if from == State::Ready {
            self.ready.remove(&key);
            self.dispatched.remove(&(s, i));
        }
        if to == State::Ready {
            self.ready.insert(key);
        }
        let was_satisfied = from.satisfies_dependents();
        let now_satisfied = to.satisfies_dependents();
        let inst = self.inst_mut(s, i);
        inst.state = to;
        if let Some(t) = inst.timer.take() {
            self.timers.remove(&(t, s, i));
        }
        if was_satisfied != now_satisfied {
            if now_satisfied {
                self.steps[s].satisfied += 1;
            } else {
                self.steps[s].satisfied -= 1;
            }
            let deps = self.steps[s].dependents.clone();
            self.dirty.extend(deps.into_iter().map(|d| self.pos[d]));
        }
        Ok(())
    }

    fn set_timer(&mut self, s: usize, i: usize, at: OffsetDateTime, actions: &mut Vec<Action>) {
        let inst = self.inst_mut(s, i);
        if let Some(old) = inst.timer.replace(at) {
            self.timers.remove(&(old, s, i));
        }
        self.timers.insert((at, s, i));
        actions.push(Action::ScheduleTimer { at });
    }

    /// Applies one event at time `now`. Errors leave the state unchanged only for the checks
    /// done before any change (the CLI validates manual events on a clone first).
    pub fn handle(
        &mut self,
        event: &Event,
        now: OffsetDateTime,
    ) -> Result<Vec<Action>, EngineError> {
        let mut actions = Vec::new();
        match event {
            Event::RunStarted => {
                if !self.started {
                    self.started = true;
                    self.dirty.extend(self.pos.iter().copied());
                }
            }
            Event::Resumed { .. } => self.recover(now, &mut actions)?,
            Event::StepStarted { step, branch, attempt } => {
                let (s, i) = self.locate(step, *branch)?;
                let inst = self.inst(s, i);
                if inst.state != State::Ready {
                    return Err(EngineError::NotIn {
                        step: self.name(s, i),
                        state: inst.state.phase().name(),
                        expected: "ready",
                    });
                }
                let expected = if inst.next_is_poll { inst.attempt } else { inst.attempt + 1 };
                if *attempt != expected {
                    return Err(EngineError::AttemptMismatch {
                        step: self.name(s, i),
                        got: *attempt,
                        expected,
                    });
                }
                let poll = inst.next_is_poll;
                // Checked before any change: a deadline beyond the representable time is an
                // error, never a panic (a validated plan's timeout is at most 400 days).
                let deadline = match self.plan.runbook.steps[s].timeout {
                    Some(t) if !poll => {
                        Some(crate::runbook::limits::add(now, t).map_err(|error| {
                            EngineError::TimeOutOfRange {
                                step: self.name(s, i),
                                what: "deadline",
                                error,
                            }
                        })?)
                    }
                    _ => None,
                };
                self.set_state(s, i, State::Running { attempt: *attempt })?;
                let inst = self.inst_mut(s, i);
                inst.next_is_poll = false;
                inst.next_is_reentry = false;
                inst.attempt = *attempt;
                inst.first_started.get_or_insert(now);
                if !poll {
                    inst.attempt_started = Some(now);
                    inst.polls = 0;
                    inst.deadline = deadline;
                } else {
                    inst.polls += 1;
                }
                inst.waiting_for = None;
                if let Some(d) = inst.deadline {
                    self.set_timer(s, i, d, &mut actions);
                }
            }
            Event::StepProgress { step, branch, attempt, done, total, message } => {
                if let Some((s, i)) = self.current(step, *branch, *attempt)? {
                    self.inst_mut(s, i).progress = Some((*done, *total, message.clone()));
                }
            }
            Event::ScratchSaved { step, branch, attempt, scratch } => {
                if let Some((s, i)) = self.current(step, *branch, *attempt)? {
                    self.inst_mut(s, i).scratch = Some(scratch.clone());
                }
            }
            Event::EffectRecorded { step, branch, .. } => {
                // Journal-only: the auditor reads effects; the state does not depend on them.
                self.locate(step, *branch)?;
            }
            Event::StepSucceeded { step, branch, attempt, outputs } => {
                if let Some((s, i)) = self.current(step, *branch, *attempt)? {
                    self.set_state(s, i, State::Succeeded)?;
                    let inst = self.inst_mut(s, i);
                    inst.outputs = Some(outputs.clone());
                    inst.finished = Some(now);
                    inst.error = None;
                    inst.waiting_for = None;
                }
            }
            Event::StepFailed { step, branch, attempt, error, retryable } => {
                if let Some((s, i)) = self.current(step, *branch, *attempt)? {
                    self.fail_attempt(s, i, error.clone(), *retryable, now, &mut actions)?;
                }
            }
            Event::StepWaiting { step, branch, attempt, until, message, scratch } => {
                if let Some((s, i)) = self.current(step, *branch, *attempt)? {
                    self.set_state(
                        s,
                        i,
                        State::Waiting { until: *until, reason: WaitReason::Poll },
                    )?;
                    let inst = self.inst_mut(s, i);
                    inst.waiting_for = Some(message.clone());
                    if scratch.is_some() {
                        inst.scratch = scratch.clone();
                    }
                    let at = match inst.deadline {
                        Some(d) if d < *until => d,
                        _ => *until,
                    };
                    self.set_timer(s, i, at, &mut actions);
                }
            }
            Event::StepAwaitingApproval { step, branch, attempt, prompt, four_eyes } => {
                if let Some((s, i)) = self.current(step, *branch, *attempt)? {
                    self.set_state(s, i, State::AwaitingApproval)?;
                    let inst = self.inst_mut(s, i);
                    inst.waiting_for = Some(prompt.clone());
                    inst.four_eyes = *four_eyes;
                    actions.push(Action::AwaitApproval {
                        step: step.clone(),
                        branch: *branch,
                        prompt: prompt.clone(),
                    });
                }
            }
            Event::StepAwaitingAttestation { step, branch, attempt, instructions } => {
                if let Some((s, i)) = self.current(step, *branch, *attempt)? {
                    self.set_state(s, i, State::AwaitingAttestation { interrupted: false })?;
                    self.inst_mut(s, i).waiting_for = Some(instructions.clone());
                    actions.push(Action::AwaitAttestation {
                        step: step.clone(),
                        branch: *branch,
                        instructions: instructions.clone(),
                        interrupted: false,
                    });
                }
            }
            Event::TimerFired => self.fire_timers(now, &mut actions)?,
            Event::Approved { step, branch, by, comment } => {
                let targets = self.targets(
                    step,
                    *branch,
                    |st| *st == State::AwaitingApproval,
                    "awaiting approval",
                )?;
                for (s, i) in targets {
                    self.set_state(s, i, State::Succeeded)?;
                    let inst = self.inst_mut(s, i);
                    inst.finished = Some(now);
                    inst.waiting_for = None;
                    inst.outputs = Some(Map::from_iter([
                        // Who, as a person reads it: the Azure principal and the OS user.
                        ("approved_by".to_string(), json!(by.describe())),
                        ("comment".to_string(), json!(comment)),
                    ]));
                }
            }
            Event::Attested { step, branch, by, evidence } => {
                let targets = self.targets(
                    step,
                    *branch,
                    |st| matches!(st, State::AwaitingAttestation { .. }),
                    "awaiting attestation",
                )?;
                for (s, i) in targets {
                    self.set_state(s, i, State::Succeeded)?;
                    let inst = self.inst_mut(s, i);
                    inst.finished = Some(now);
                    inst.waiting_for = None;
                    inst.outputs = Some(Map::from_iter([
                        ("attested_by".to_string(), json!(by.describe())),
                        ("evidence".to_string(), json!(evidence)),
                    ]));
                }
            }
            Event::Skipped { step, branch, reason, .. } => self.skip(step, *branch, reason, now)?,
            Event::Rearmed { step, branch, .. } => {
                let (s, i) = self.locate(step, *branch)?;
                if let Some(why) = self.not_rearmable(s, i) {
                    return Err(EngineError::NotRearmable { step: self.name(s, i), why });
                }
                self.set_state(s, i, State::Ready)?;
                let inst = self.inst_mut(s, i);
                inst.failures = 0;
                inst.finished = None;
                inst.retryable = false;
                inst.waiting_for = None;
                inst.next_is_poll = false;
                // The next attempt carries the scratch state: a guarded step checks what the
                // failed attempts did before acting again.
                inst.next_is_reentry = true;
            }
            Event::ParamsChanged { params, .. } => self.change_params(params)?,
            Event::Cancelled { .. } => {
                self.cancelled = true;
            }
        }
        self.advance(now, &mut actions);
        match self.status() {
            Status::Succeeded => actions.push(Action::RunFinished { succeeded: true }),
            Status::Failed | Status::Cancelled => {
                actions.push(Action::RunFinished { succeeded: false })
            }
            Status::Paused => actions.push(Action::RunPaused),
            Status::Active { .. } => {}
        }
        Ok(actions)
    }

    /// The instance if it is running this attempt; `None` for a stale result (e.g. of an
    /// attempt that timed out), which is ignored.
    fn current(
        &self,
        step: &str,
        branch: Option<usize>,
        attempt: u32,
    ) -> Result<Option<(usize, usize)>, EngineError> {
        let (s, i) = self.locate(step, branch)?;
        Ok(match self.inst(s, i).state {
            State::Running { attempt: a } if a == attempt => Some((s, i)),
            _ => {
                tracing::debug!(step, attempt, "stale step result ignored");
                None
            }
        })
    }

    /// The instances a person's command applies to: one branch, or every matching branch.
    fn targets(
        &self,
        step: &str,
        branch: Option<usize>,
        accept: impl Fn(&State) -> bool,
        expected: &'static str,
    ) -> Result<Vec<(usize, usize)>, EngineError> {
        let s = *self.index.get(step).ok_or_else(|| EngineError::UnknownStep(step.to_string()))?;
        if self.steps[s].fanned && branch.is_none() {
            let all: Vec<_> = self.steps[s]
                .instances
                .iter()
                .flatten()
                .enumerate()
                .filter(|(_, inst)| accept(&inst.state))
                .map(|(i, _)| (s, i))
                .collect();
            if all.is_empty() {
                return Err(EngineError::NotIn {
                    step: step.to_string(),
                    state: "not waiting",
                    expected,
                });
            }
            return Ok(all);
        }
        let (s, i) = self.locate(step, branch)?;
        let st = &self.inst(s, i).state;
        if !accept(st) {
            return Err(EngineError::NotIn {
                step: self.name(s, i),
                state: st.phase().name(),
                expected,
            });
        }
        Ok(vec![(s, i)])
    }

    fn skip(
        &mut self,
        step: &str,
        branch: Option<usize>,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), EngineError> {
        let s = *self.index.get(step).ok_or_else(|| EngineError::UnknownStep(step.to_string()))?;
        let skippable = |st: &State| lifecycle::allowed(st.phase(), Phase::Skipped);
        let targets = if self.steps[s].instances.is_none() {
            if branch.is_some() {
                return Err(EngineError::UnknownBranch {
                    step: step.to_string(),
                    branch: branch.unwrap_or(0),
                });
            }
            // Not expanded yet: the whole step (every future branch) is skipped.
            self.steps[s].skipped_whole = true;
            self.dirty.insert(self.pos[s]);
            Vec::new()
        } else {
            self.targets(step, branch, skippable, "pending, ready, waiting, awaiting or failed")?
        };
        for (s, i) in targets {
            self.set_state(s, i, State::Skipped)?;
            let inst = self.inst_mut(s, i);
            inst.finished = Some(now);
            inst.waiting_for = Some(format!("skipped: {reason}"));
        }
        Ok(())
    }

    fn fail_attempt(
        &mut self,
        s: usize,
        i: usize,
        error: String,
        retryable: bool,
        now: OffsetDateTime,
        actions: &mut Vec<Action>,
    ) -> Result<(), EngineError> {
        let policy = self.plan.runbook.steps[s].retry.clone();
        let failures = self.inst(s, i).failures + 1;
        if retryable && failures < policy.max_attempts {
            let delay = backoff(self.seed, &self.plan.runbook.steps[s].id, i, failures, &policy);
            let until = crate::runbook::limits::add(now, delay).map_err(|error| {
                EngineError::TimeOutOfRange { step: self.name(s, i), what: "retry", error }
            })?;
            self.set_state(s, i, State::Waiting { until, reason: WaitReason::Backoff })?;
            self.set_timer(s, i, until, actions);
            let inst = self.inst_mut(s, i);
            inst.waiting_for = Some(format!("retry after: {error}"));
            inst.failures = failures;
            inst.error = Some(error);
        } else {
            self.set_state(s, i, State::Failed)?;
            let inst = self.inst_mut(s, i);
            inst.failures = failures;
            inst.finished = Some(now);
            inst.error = Some(error);
            inst.retryable = retryable;
        }
        Ok(())
    }

    fn fire_timers(
        &mut self,
        now: OffsetDateTime,
        actions: &mut Vec<Action>,
    ) -> Result<(), EngineError> {
        let due: Vec<_> = self.timers.iter().take_while(|(t, _, _)| *t <= now).copied().collect();
        for (t, s, i) in due {
            self.timers.remove(&(t, s, i));
            self.inst_mut(s, i).timer = None;
            let inst = self.inst(s, i).clone();
            let timed_out = inst.deadline.is_some_and(|d| d <= now);
            match inst.state {
                State::Running { attempt } if timed_out => {
                    let step = self.plan.runbook.steps[s].id.clone();
                    let reason = format!(
                        "timed out after {}",
                        fmt_timeout(self.plan.runbook.steps[s].timeout)
                    );
                    actions.push(Action::CancelStep {
                        step,
                        branch: self.branch_of(s, i),
                        attempt,
                        reason: reason.clone(),
                    });
                    self.fail_attempt(s, i, reason, true, now, actions)?;
                }
                State::Waiting { reason: WaitReason::Poll, .. } if timed_out => {
                    let reason = format!(
                        "timed out after {}",
                        fmt_timeout(self.plan.runbook.steps[s].timeout)
                    );
                    self.set_state(s, i, State::Failed)?;
                    let inst = self.inst_mut(s, i);
                    inst.finished = Some(now);
                    inst.failures += 1;
                    inst.error = Some(reason);
                }
                State::Waiting { until, reason } if until <= now => {
                    self.set_state(s, i, State::Ready)?;
                    self.inst_mut(s, i).next_is_poll = reason == WaitReason::Poll;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// After a restart: attempts that started but never ended are re-entered by class.
    fn recover(
        &mut self,
        _now: OffsetDateTime,
        actions: &mut Vec<Action>,
    ) -> Result<(), EngineError> {
        for s in 0..self.steps.len() {
            let n = self.steps[s].instances.as_ref().map_or(0, Vec::len);
            for i in 0..n {
                let State::Running { attempt } = self.inst(s, i).state else { continue };
                match self.steps[s].class {
                    StepClass::Idempotent | StepClass::Guarded => {
                        self.set_state(s, i, State::Ready)?;
                        let inst = self.inst_mut(s, i);
                        // A re-poll stays in its attempt; an interrupted attempt is re-entered as
                        // a new attempt, carrying its scratch state for the guard.
                        inst.next_is_poll = inst.polls > 0;
                        inst.next_is_reentry = true;
                    }
                    StepClass::OneShot => {
                        self.set_state(s, i, State::AwaitingAttestation { interrupted: true })?;
                        let msg = format!(
                            "attempt {attempt} was interrupted; this step must never run twice: check whether it took effect, then attest or skip it"
                        );
                        self.inst_mut(s, i).waiting_for = Some(msg.clone());
                        actions.push(Action::AwaitAttestation {
                            step: self.plan.runbook.steps[s].id.clone(),
                            branch: self.branch_of(s, i),
                            instructions: msg,
                            interrupted: true,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Expands fan-outs, promotes pending instances, and hands out starts.
    fn advance(&mut self, now: OffsetDateTime, actions: &mut Vec<Action>) {
        while let Some(p) = self.dirty.pop_first() {
            let s = self.step_at(p);
            self.advance_step(s, now);
        }
        self.dispatch(actions);
    }

    /// The step at scheduling position `p` (inverse of `pos`).
    fn step_at(&self, p: usize) -> usize {
        self.order[p]
    }

    fn dep_complete(&self, d: usize) -> bool {
        let rt = &self.steps[d];
        rt.instances.as_ref().is_some_and(|v| rt.satisfied == v.len())
    }

    fn advance_step(&mut self, s: usize, now: OffsetDateTime) {
        if self.steps[s].instances.is_none() {
            let ready = self.steps[s].needs.iter().all(|&(d, item_wise)| {
                if item_wise {
                    self.steps[d].instances.is_some()
                } else {
                    self.dep_complete(d)
                }
            });
            if !ready {
                return;
            }
            self.expand(s, now);
        }
        let n = self.steps[s].instances.as_ref().map_or(0, Vec::len);
        for i in 0..n {
            if self.inst(s, i).state != State::Pending {
                continue;
            }
            let mut blocked = false;
            let mut mismatch = false;
            for &(d, item_wise) in &self.steps[s].needs {
                if item_wise {
                    match self.steps[d].instances.as_ref().and_then(|v| v.get(i)) {
                        Some(di) => blocked |= !di.state.satisfies_dependents(),
                        None => mismatch = true,
                    }
                } else {
                    blocked |= !self.dep_complete(d);
                }
            }
            if mismatch {
                self.fail_pending(
                    s,
                    i,
                    "its item-wise dependency has fewer branches (the for_each list changed)"
                        .into(),
                    now,
                );
                continue;
            }
            if blocked {
                continue;
            }
            let def = &self.plan.runbook.steps[s];
            let when = match &def.when {
                None => Ok(true),
                Some(expr) => {
                    let ctx = self.context(s, i, false);
                    template::eval_condition(expr, &ctx)
                }
            };
            match when {
                Ok(true) => {
                    let _ = self.set_state(s, i, State::Ready);
                }
                Ok(false) => {
                    let _ = self.set_state(s, i, State::Skipped);
                    let inst = self.inst_mut(s, i);
                    inst.finished = Some(now);
                    inst.waiting_for = Some("skipped: `when` is false".into());
                }
                Err(e) => self.fail_pending(s, i, format!("cannot evaluate `when`: {e}"), now),
            }
        }
    }

    fn fail_pending(&mut self, s: usize, i: usize, error: String, now: OffsetDateTime) {
        let _ = self.set_state(s, i, State::Failed);
        let inst = self.inst_mut(s, i);
        inst.finished = Some(now);
        inst.error = Some(error);
    }

    /// Creates the instances of a step: one, or one per `for_each` item.
    fn expand(&mut self, s: usize, now: OffsetDateTime) {
        let def = &self.plan.runbook.steps[s];
        let mut failure = None;
        let items: Vec<Option<Value>> = match &def.for_each {
            None => vec![None],
            Some(expr) => {
                let ctx = self.context(s, usize::MAX, false);
                match template::render_value(&Value::String(expr.clone()), &ctx) {
                    Ok(Value::Array(items)) => items.into_iter().map(Some).collect(),
                    Ok(other) if crate::journal::is_redacted(&other) => {
                        failure = Some(
                            "for_each yields a secret, and a secret cannot decide a fan-out: it is not journaled, so a replay could not rebuild the branches (fan out over a list that is not secret)"
                                .into(),
                        );
                        vec![None]
                    }
                    Ok(other) => {
                        failure =
                            Some(format!("for_each must yield a list, got {}", json_kind(&other)));
                        vec![None]
                    }
                    Err(e) => {
                        failure = Some(format!("cannot evaluate for_each: {e}"));
                        vec![None]
                    }
                }
            }
        };
        let n = items.len();
        let labels = if self.steps[s].fanned { branch_labels(&items) } else { vec![None; n] };
        self.steps[s].instances = Some(items.into_iter().map(Instance::new).collect());
        self.steps[s].labels = match (&self.plan.runbook.steps[s].label, failure.is_some()) {
            // The step's `label:` template, over each branch's context (secrets as markers, as
            // a replay sees them): a string or number that is a valid, unique label.
            (Some(tpl), false) if self.steps[s].fanned => unique_labels(
                (0..n)
                    .map(|i| {
                        let ctx = self.context(s, i, false);
                        match template::render_value(&Value::String(tpl.clone()), &ctx) {
                            Ok(Value::String(t)) => Some(t),
                            Ok(Value::Number(x)) => Some(x.to_string()),
                            _ => None,
                        }
                    })
                    .collect(),
            ),
            _ => labels,
        };
        self.unexpanded -= 1;
        self.total += n;
        *self.counts.entry(Phase::Pending).or_default() += n;
        // Dependents with an item-wise need may now expand.
        let deps = self.steps[s].dependents.clone();
        self.dirty.extend(deps.into_iter().map(|d| self.pos[d]));
        if let Some(error) = failure {
            self.fail_pending(s, 0, error, now);
        } else if self.steps[s].skipped_whole {
            for i in 0..n {
                let _ = self.set_state(s, i, State::Skipped);
                let inst = self.inst_mut(s, i);
                inst.finished = Some(now);
                inst.waiting_for = Some("skipped by a person".into());
            }
        }
    }

    fn dispatch(&mut self, actions: &mut Vec<Action>) {
        if self.cancelled {
            return;
        }
        let limit = self.plan.runbook.concurrency.max(1);
        while self.count(Phase::Running) + self.dispatched.len() < limit {
            let Some((p, i)) = self.ready.pop_first() else { break };
            let s = self.step_at(p);
            let def = &self.plan.runbook.steps[s];
            match self.render_inputs(s, i) {
                Ok(inputs) => {
                    let inst = self.inst(s, i);
                    let attempt = if inst.next_is_poll { inst.attempt } else { inst.attempt + 1 };
                    let start = StartStep {
                        step: def.id.clone(),
                        uses: def.uses.clone(),
                        branch: self.branch_of(s, i),
                        label: self.label_of(s, i),
                        item: inst.item.clone(),
                        attempt,
                        poll: if inst.next_is_poll { inst.polls + 1 } else { 0 },
                        inputs,
                        scratch: inst.scratch.clone(),
                        reentry: inst.next_is_reentry,
                    };
                    self.dispatched.insert((s, i));
                    actions.push(Action::StartStep(Box::new(start)));
                }
                Err(e) => {
                    // Inputs are a pure function of upstream outputs: retrying cannot help.
                    let _ = self.set_state(s, i, State::Failed);
                    let inst = self.inst_mut(s, i);
                    inst.error = Some(format!("cannot render inputs: {e}"));
                    inst.finished = inst.finished.or(inst.first_started);
                }
            }
        }
    }

    /// The rendered `with` of instance `i` of step `s`, as [`Engine::dispatch`] hands it out.
    fn render_inputs(&self, s: usize, i: usize) -> Result<Value, String> {
        let ctx = self.context(s, i, true);
        let with = Value::Object(self.plan.runbook.steps[s].with.clone().into_iter().collect());
        template::render_value(&with, &ctx)
    }

    /// Whether [`Engine::forget_dispatched`] would change nothing but which starts are handed
    /// out (no state, no snapshot, no status): every input it would render again renders. Then
    /// a replayed engine's state can be read without forgetting on a copy (a watcher's engine
    /// keeps taking events, so it cannot forget).
    pub fn forgetting_changes_nothing_visible(&self) -> bool {
        if self.cancelled {
            return true;
        }
        // What `forget_dispatched` hands out: the dispatched and the ready instances in
        // priority order, up to the free slots; an instance whose inputs do not render fails
        // (a visible change) and takes no slot.
        let limit = self.plan.runbook.concurrency.max(1);
        let mut free = limit.saturating_sub(self.count(Phase::Running));
        let mut dispatched: Vec<(usize, usize)> =
            self.dispatched.iter().map(|&(s, i)| (self.pos[s], i)).collect();
        dispatched.sort_unstable();
        let mut dispatched = dispatched.into_iter().peekable();
        let mut ready = self.ready.iter().copied().peekable();
        while free > 0 {
            let next = match (ready.peek(), dispatched.peek()) {
                (Some(r), Some(d)) if r == d => {
                    dispatched.next();
                    ready.next()
                }
                (Some(r), Some(d)) if d < r => dispatched.next(),
                (Some(_), _) => ready.next(),
                (None, _) => dispatched.next(),
            };
            let Some((p, i)) = next else { break };
            if self.render_inputs(self.step_at(p), i).is_err() {
                return false;
            }
            free -= 1;
        }
        true
    }

    /// The template context of instance `i` of step `s` (`usize::MAX`: the step as a whole).
    /// With `secrets`, the real values of secret parameters and outputs (held in memory only)
    /// replace their markers: for a step's inputs only. `for_each` and `when` see the markers,
    /// as a replay does, so a secret never decides the shape of a run a replay must rebuild.
    fn context(&self, s: usize, i: usize, secrets: bool) -> Value {
        let mut steps = Map::new();
        let fanned_expr = self.plan.runbook.steps[s].for_each.as_deref().map(str::trim);
        for &r in &self.steps[s].refs {
            let Some(insts) = &self.steps[r].instances else { continue };
            let outputs = |k: usize, inst: &Instance| -> Value {
                let mut o = inst.outputs.clone().unwrap_or_default();
                if let Some(secret) = self.secrets.get(&(r, k)).filter(|_| secrets) {
                    o.extend(secret.clone());
                }
                if inst.outputs.is_none() && inst.state != State::Succeeded {
                    Value::Null
                } else {
                    Value::Object(o)
                }
            };
            let item_wise = fanned_expr.is_some()
                && self.plan.runbook.steps[r].for_each.as_deref().map(str::trim) == fanned_expr;
            let value = if item_wise && i != usize::MAX {
                insts.get(i).map(|inst| outputs(i, inst)).unwrap_or(Value::Null)
            } else if self.steps[r].fanned {
                Value::Array(insts.iter().enumerate().map(|(k, inst)| outputs(k, inst)).collect())
            } else {
                insts.first().map(|inst| outputs(0, inst)).unwrap_or(Value::Null)
            };
            steps.insert(self.plan.runbook.steps[r].id.clone(), json!({ "outputs": value }));
        }
        let item = if i == usize::MAX {
            Value::Null
        } else {
            self.steps[s]
                .instances
                .as_ref()
                .and_then(|v| v.get(i))
                .and_then(|x| x.item.clone())
                .unwrap_or(Value::Null)
        };
        json!({
            "params": if self.secret_params.is_empty() || !secrets {
                json!(self.plan.params)
            } else {
                let mut p: Map<String, Value> = self.plan.params.clone().into_iter().collect();
                p.extend(self.secret_params.clone());
                Value::Object(p)
            },
            "steps": steps,
            "item": item,
            "run": { "id": self.run_id },
        })
    }
}

/// Checks what the engine relies on in a plan that was not just validated by `runbook::load`:
/// one read back from a journal header, which may be damaged or crafted (even with a valid hash
/// chain). Step ids are unique, `order` is a permutation of the step indices, every need names
/// another step that comes earlier in `order` (so the graph is acyclic), and every duration is
/// within `runbook::limits`. `Err` says what is wrong, naming the field.
pub fn check_plan(plan: &Plan) -> Result<(), String> {
    use crate::catalog::DurationUse;
    use crate::runbook::limits::check;
    let steps = &plan.runbook.steps;
    let n = steps.len();
    if n == 0 {
        return Err("the plan has no steps".into());
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, def) in steps.iter().enumerate() {
        if !crate::runbook::valid_step_id(&def.id) {
            return Err(format!("step {i} has an invalid id `{}`", def.id.escape_debug()));
        }
        if index.insert(def.id.as_str(), i).is_some() {
            return Err(format!("step id `{}` appears twice", def.id));
        }
    }
    if plan.order.len() != n {
        return Err(format!("plan.order has {} entries for {n} steps", plan.order.len()));
    }
    let mut pos = vec![usize::MAX; n];
    for (p, &i) in plan.order.iter().enumerate() {
        match pos.get_mut(i) {
            None => {
                return Err(format!(
                    "plan.order[{p}] is {i}, out of range (the steps are numbered 0 to {})",
                    n - 1
                ))
            }
            Some(slot) if *slot != usize::MAX => {
                return Err(format!("plan.order lists step {i} (`{}`) twice", steps[i].id))
            }
            Some(slot) => *slot = p,
        }
    }
    for (i, def) in steps.iter().enumerate() {
        for need in &def.needs {
            match index.get(need.as_str()) {
                None => return Err(format!("step `{}` needs unknown step `{need}`", def.id)),
                Some(&j) if pos[j] >= pos[i] => {
                    return Err(format!(
                        "step `{}` needs `{need}`, which does not come before it in plan.order",
                        def.id
                    ))
                }
                Some(_) => {}
            }
        }
        let durations = [
            ("timeout", def.timeout),
            ("expected", def.expected),
            ("retry.initial_delay", Some(def.retry.initial_delay)),
            ("retry.max_delay", Some(def.retry.max_delay)),
        ];
        for (what, d) in durations {
            if let Some(Err(e)) = d.map(|d| check(d, DurationUse::Duration)) {
                return Err(format!("{what} of step `{}` {e}", def.id));
            }
        }
    }
    Ok(())
}

/// One instance as shown by `status` and compared by replay tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceView {
    pub step: String,
    pub uses: String,
    pub branch: Option<usize>,
    /// The branch's label ([`branch_labels`]: its connector's name), if it has one.
    pub label: Option<String>,
    /// `None` while a fanned-out step has not expanded yet.
    pub instance: Option<Instance>,
}

impl InstanceView {
    /// `step`, `step[label]` or `step#N` ([`instance_name`]).
    pub fn name(&self) -> String {
        instance_name(&self.step, self.branch, self.label.as_deref())
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn fmt_timeout(t: Option<Duration>) -> String {
    t.map(|d| humantime::format_duration(d).to_string()).unwrap_or_else(|| "its deadline".into())
}

/// The delay before retry number `failures` (1 = after the first failure): exponential, capped,
/// with full jitter drawn from a generator seeded by (run seed, step, branch, failures), so a
/// replay computes the same delay.
pub fn backoff(
    seed: u64,
    step: &str,
    branch: usize,
    failures: u32,
    policy: &crate::runbook::RetryPolicy,
) -> Duration {
    let exp = policy.multiplier.max(1.0).powi(failures.saturating_sub(1).min(64) as i32);
    let raw = policy.initial_delay.as_secs_f64() * exp;
    let capped = raw.min(policy.max_delay.as_secs_f64()).max(0.0);
    let secs = if policy.jitter {
        use rand::{Rng, SeedableRng};
        let digest =
            crate::journal::sha256_hex(format!("{seed}:{step}:{branch}:{failures}").as_bytes());
        let mut bytes = [0u8; 8];
        if let Ok(raw) = hex::decode(&digest[..16]) {
            bytes.copy_from_slice(&raw);
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from_le_bytes(bytes));
        rng.random_range(0.0..=capped.max(f64::MIN_POSITIVE))
    } else {
        capped
    };
    // Whole milliseconds: journal times are RFC 3339 with nanoseconds, but keep delays readable.
    Duration::from_millis((secs * 1000.0).round() as u64)
}

/// The ids of steps a step's templates reference (`steps.<id>`), for its template context.
/// Whether a step's templates (`with`, `for_each`, `when`) read `params.<name>`.
fn reads_param(def: &crate::runbook::StepDef, name: &str) -> bool {
    fn collect<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            Value::Object(m) => m.values().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    let mut texts: Vec<&str> = Vec::new();
    for v in def.with.values() {
        collect(v, &mut texts);
    }
    texts.extend(def.for_each.as_deref());
    texts.extend(def.when.as_deref());
    let needle = format!("params.{name}");
    texts.iter().any(|t| {
        t.match_indices(&needle).any(|(at, _)| {
            !t[at + needle.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    })
}

fn template_refs(def: &crate::runbook::StepDef, index: &HashMap<String, usize>) -> Vec<usize> {
    let mut texts: Vec<&str> = Vec::new();
    fn collect<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            Value::Object(m) => m.values().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    for v in def.with.values() {
        collect(v, &mut texts);
    }
    texts.extend(def.for_each.as_deref());
    texts.extend(def.when.as_deref());
    let mut refs = BTreeSet::new();
    for t in texts.into_iter().filter(|t| template::is_template(t)) {
        for (at, _) in t.match_indices("steps.") {
            let id: String = t[at + 6..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if let Some(&i) = index.get(&id) {
                refs.insert(i);
            }
        }
    }
    refs.into_iter().collect()
}

#[cfg(test)]
mod label_tests {
    use super::*;

    fn items(names: &[Value]) -> Vec<Option<Value>> {
        names.iter().map(|n| Some(json!({ "name": n, "resource_id": "/x" }))).collect()
    }

    #[test]
    fn a_branch_is_labelled_by_its_items_name_when_it_is_unique_and_plain() {
        let got = branch_labels(&items(&[
            json!("ado-weu"),
            json!("gh-weu"),
            json!("dup"),
            json!("dup"),
            json!("has space"),
            json!("a]b"),
            json!(42),
            json!(""),
            json!("x".repeat(MAX_LABEL_LEN + 1)),
        ]));
        let want: Vec<Option<String>> =
            [Some("ado-weu"), Some("gh-weu"), None, None, None, None, None, None, None]
                .iter()
                .map(|l| l.map(String::from))
                .collect();
        assert_eq!(got, want);
        // Items without a name, or not objects, have no label.
        assert_eq!(branch_labels(&[Some(json!("s")), None, Some(json!({}))]), [None, None, None]);
    }

    #[test]
    fn instance_names_parse_in_every_form_and_nothing_else() {
        let p = parse_instance_name;
        assert_eq!(p("go"), Some(("go".into(), None)));
        assert_eq!(p("go#2"), Some(("go".into(), Some(BranchRef::Index(2)))));
        assert_eq!(p("go[ado-weu]"), Some(("go".into(), Some(BranchRef::Label("ado-weu".into())))));
        for bad in
            ["", "go#", "go#x", "#1", "go[]", "[a]", "go[a", "go[a]x", "go]", "go#1[a]", "go[a[b]]"]
        {
            assert_eq!(p(bad), None, "{bad}");
        }
        assert_eq!(instance_name("go", Some(1), Some("a")), "go[a]");
        assert_eq!(instance_name("go", Some(1), None), "go#1");
        assert_eq!(instance_name("go", None, Some("a")), "go");
    }
}
