//! The interface between the executor and step kinds: the dyn-compatible [`StepKind`] trait, the
//! [`StepContext`] a step runs with (built by [`StepContext::for_start`], for the runner and the
//! rehearsal alike), its [`StepOutcome`], the [`Registry`] keyed by the names in
//! `crate::catalog`, and [`Services`], a typed map through which kinds reach shared clients
//! (Azure, backup store). The kinds themselves live in `steps`, above the engine.

use super::{Effect, StartStep};
use crate::catalog::{StepClass, StepKindInfo};
use crate::clock::Clock;
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// How one attempt (or poll) of a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Done. Keys in `secret` are journaled as redaction markers only.
    Succeeded {
        outputs: Map<String, Value>,
        secret: Vec<String>,
    },
    /// Failed; `retryable` lets the retry policy try again.
    Failed {
        error: String,
        retryable: bool,
    },
    /// Poll again at `until` (a durable timer: it survives restarts). `scratch` is kept for the
    /// next poll.
    Wait {
        until: OffsetDateTime,
        message: String,
        scratch: Option<Value>,
    },
    AwaitApproval {
        prompt: String,
        /// The approver must be another person than the one who started the run.
        four_eyes: bool,
    },
    AwaitAttestation {
        instructions: String,
    },
}

impl StepOutcome {
    pub fn ok(outputs: Map<String, Value>) -> StepOutcome {
        StepOutcome::Succeeded { outputs, secret: Vec::new() }
    }
    pub fn fail(error: impl Into<String>, retryable: bool) -> StepOutcome {
        StepOutcome::Failed { error: error.into(), retryable }
    }
    /// Poll again after `d` from `now`, and never sooner than `runbook::limits::MIN_POLL_INTERVAL`
    /// (every poll is a journal entry). A wake-up beyond the representable time is a failure.
    pub fn poll_after(
        now: OffsetDateTime,
        d: Duration,
        message: impl Into<String>,
        scratch: Option<Value>,
    ) -> StepOutcome {
        let d = d.max(crate::runbook::limits::MIN_POLL_INTERVAL);
        match crate::runbook::limits::add(now, d) {
            Ok(until) => StepOutcome::Wait { until, message: message.into(), scratch },
            Err(e) => StepOutcome::fail(format!("cannot schedule the next poll: {e}"), false),
        }
    }
}

/// Where a running step reports progress, effects and scratch state. The runner's sink journals
/// effects and scratch (fsync'd) before the returned future resolves, so a step that awaits
/// `save_scratch` before acting is guaranteed to find it on re-entry.
pub trait StepSink: Send + Sync {
    fn progress(&self, done: u64, total: u64, message: String);
    fn effect(&self, effect: Effect) -> BoxFuture<'static, Result<(), String>>;
    fn scratch(&self, scratch: Value) -> BoxFuture<'static, Result<(), String>>;
}

/// A sink that keeps nothing: for calling a step kind outside a run (unit tests).
#[derive(Debug, Default)]
pub struct NullSink;

impl StepSink for NullSink {
    fn progress(&self, _: u64, _: u64, _: String) {}
    fn effect(&self, _: Effect) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn scratch(&self, _: Value) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// Cooperative cancellation of one attempt (timeouts, shutdown). The runner also drops the
/// attempt's future, so a step only needs this to stop cleanly between awaits.
#[derive(Debug, Clone)]
pub struct Cancellation(tokio::sync::watch::Receiver<bool>);

/// The sending side of a [`Cancellation`].
#[derive(Debug)]
pub struct CancelHandle(tokio::sync::watch::Sender<bool>);

impl Cancellation {
    pub fn new() -> (CancelHandle, Cancellation) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (CancelHandle(tx), Cancellation(rx))
    }
    /// Resolves once cancelled.
    pub async fn cancelled(&mut self) {
        let _ = self.0.wait_for(|c| *c).await;
    }
}

impl CancelHandle {
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

/// Shared services for step kinds, keyed by type: `services.get::<AzureClient>()`. A clone
/// shares the same clients (each is an `Arc`): a command builds its services once.
#[derive(Default, Clone)]
pub struct Services {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("len", &self.map.len()).finish()
    }
}

impl Services {
    pub fn new() -> Services {
        Services::default()
    }
    pub fn insert<T: Any + Send + Sync>(&mut self, value: Arc<T>) {
        self.map.insert(TypeId::of::<T>(), value);
    }
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.map.get(&TypeId::of::<T>()).cloned().and_then(|v| v.downcast::<T>().ok())
    }
}

/// Everything one attempt of a step sees.
#[derive(Clone)]
pub struct StepContext {
    pub run_id: String,
    pub step: String,
    pub branch: Option<usize>,
    /// The branch's label (its connector's name, `engine::branch_labels`), if it has one.
    pub label: Option<String>,
    /// The `for_each` item of this branch.
    pub item: Option<Value>,
    pub attempt: u32,
    /// 0 for a fresh attempt; n for the nth re-poll of a waiting step.
    pub poll: u32,
    /// `with`, rendered. May hold secrets: never log it.
    pub inputs: Value,
    /// Scratch state from an earlier poll or an interrupted attempt.
    pub scratch: Option<Value>,
    /// This attempt re-enters one interrupted by a crash: a guarded step checks before acting.
    pub reentry: bool,
    pub clock: Arc<dyn Clock>,
    pub cancel: Cancellation,
    pub services: Arc<Services>,
    pub sink: Arc<dyn StepSink>,
}

impl StepContext {
    /// The context of the attempt (or poll) `start` asks for: what the runner gives every step
    /// it starts, and what the rehearsal before a run gives the steps it runs.
    pub fn for_start(
        start: StartStep,
        run_id: &str,
        clock: Arc<dyn Clock>,
        services: Arc<Services>,
        cancel: Cancellation,
        sink: Arc<dyn StepSink>,
    ) -> StepContext {
        StepContext {
            run_id: run_id.to_string(),
            step: start.step,
            branch: start.branch,
            label: start.label,
            item: start.item,
            attempt: start.attempt,
            poll: start.poll,
            inputs: start.inputs,
            scratch: start.scratch,
            reentry: start.reentry,
            clock,
            cancel,
            services,
            sink,
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// How people and commands name this instance: `step`, `step[label]` or `step#N`.
    pub fn instance_name(&self) -> String {
        super::instance_name(&self.step, self.branch, self.label.as_deref())
    }
    /// Reports progress (n of m), shown by `status`.
    pub fn progress(&self, done: u64, total: u64, message: impl Into<String>) {
        self.sink.progress(done, total, message.into());
    }
    /// Journals an effect (an Azure call: method, resource id, status, request ids).
    pub async fn record_effect(&self, effect: Effect) -> Result<(), String> {
        self.sink.effect(effect).await
    }
    /// Journals scratch state; when this returns it is durable.
    pub async fn save_scratch(&self, scratch: Value) -> Result<(), String> {
        self.sink.scratch(scratch).await
    }
    /// A string input, or `None`.
    pub fn input_str(&self, name: &str) -> Option<String> {
        match self.inputs.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
    /// An integer input (number or numeric string), or `None`.
    pub fn input_u64(&self, name: &str) -> Option<u64> {
        match self.inputs.get(name)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Bad input a step kind finds before a run starts ([`StepKind::check_inputs`]): refused with
/// exit 2 before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// What is wrong, naming the input (never a secret value).
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

/// A step kind's implementation.
pub trait StepKind: Send + Sync {
    fn info(&self) -> &'static StepKindInfo;
    /// One attempt (or poll). The future owns what it needs so the runner can spawn it.
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome>;
    /// Checks, before the run exists, the inputs that are known then: `inputs` holds the `with`
    /// entries that render from the parameters and the rehearsed steps' outputs, the others are
    /// absent. Reads nothing but local files; the default accepts everything. Called by the
    /// rehearsal (`engine::rehearse`) for a step it does not run.
    fn check_inputs(&self, _inputs: &Map<String, Value>) -> Result<(), InputError> {
        Ok(())
    }
}

/// Implementations by name; the names are those of `crate::catalog`.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: HashMap<&'static str, Arc<dyn StepKind>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.kinds.keys().collect();
        names.sort();
        f.debug_struct("Registry").field("kinds", &names).finish()
    }
}

impl Registry {
    pub fn empty() -> Registry {
        Registry::default()
    }

    pub fn register(&mut self, kind: Arc<dyn StepKind>) {
        self.kinds.insert(kind.info().name, kind);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn StepKind>> {
        self.kinds.get(name).cloned()
    }

    /// The replay class of a kind. The class is the catalog's, so a replay needs no
    /// implementation (`Registry::empty()` replays like the full registry); a kind the catalog
    /// does not know is treated as one-shot (never re-run blindly).
    pub fn class_of(&self, name: &str) -> StepClass {
        self.kinds
            .get(name)
            .map(|k| k.info().class)
            .unwrap_or_else(|| crate::catalog::class_of(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct AzureStub(&'static str);

    #[test]
    fn services_are_typed() {
        let mut s = Services::new();
        s.insert(Arc::new(AzureStub("arm")));
        assert_eq!(s.get::<AzureStub>().unwrap().0, "arm");
        assert!(s.get::<String>().is_none());
    }
}
