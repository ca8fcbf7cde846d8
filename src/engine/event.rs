//! What goes into the engine ([`Event`], journaled before it is applied) and what comes out
//! ([`Action`], performed by the runner). Plain data, serialisable, so tests drive the engine
//! with literals and the journal stores events verbatim.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Who did something by hand: journaled with every approval, attestation, skip and resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The OS user.
    pub user: String,
    pub host: String,
    /// The Azure principal (object id), once authentication provides one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_principal: Option<String>,
    /// The Azure principal's name (`upn`, `unique_name` or application id) next to its object
    /// id, for the audit record (journal format 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_principal_name: Option<String>,
}

impl Actor {
    /// The person at this terminal: `$USER` (or `$USERNAME`) on this host.
    pub fn current() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .or_else(|_| std::env::var("LOGNAME"))
            // SAFETY: getuid(2) cannot fail and has no preconditions.
            .unwrap_or_else(|_| format!("uid {}", unsafe { libc::getuid() }));
        Actor {
            user,
            host: crate::journal::lock::host_name(),
            azure_principal: None,
            azure_principal_name: None,
        }
    }
}

/// One call a step made to the outside world (an Azure call, a file written), journaled so an
/// auditor sees every effect with its ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// `PUT`, `DELETE`, `write-file`, ...
    pub method: String,
    /// The Azure resource id (or path) acted on.
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// An input to the engine. Every event is journaled (fsync'd) before [`super::Engine::handle`]
/// applies it, so replaying the journal rebuilds the exact state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The first event of a run.
    RunStarted,
    /// A process took the run over after a stop or crash; interrupted attempts are re-entered
    /// according to their step's class.
    Resumed {
        by: Actor,
    },
    StepStarted {
        step: String,
        branch: Option<usize>,
        attempt: u32,
    },
    StepProgress {
        step: String,
        branch: Option<usize>,
        attempt: u32,
        done: u64,
        total: u64,
        message: String,
    },
    /// Secret outputs are already replaced by redaction markers.
    StepSucceeded {
        step: String,
        branch: Option<usize>,
        attempt: u32,
        outputs: Map<String, Value>,
    },
    StepFailed {
        step: String,
        branch: Option<usize>,
        attempt: u32,
        error: String,
        retryable: bool,
    },
    StepWaiting {
        step: String,
        branch: Option<usize>,
        attempt: u32,
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
        message: String,
        scratch: Option<Value>,
    },
    StepAwaitingApproval {
        step: String,
        branch: Option<usize>,
        attempt: u32,
        prompt: String,
    },
    StepAwaitingAttestation {
        step: String,
        branch: Option<usize>,
        attempt: u32,
        instructions: String,
    },
    /// A step's scratch state, saved before it acts so a re-entry can check what it did.
    ScratchSaved {
        step: String,
        branch: Option<usize>,
        attempt: u32,
        scratch: Value,
    },
    EffectRecorded {
        step: String,
        branch: Option<usize>,
        attempt: u32,
        effect: Effect,
    },
    /// Time passed: every timer due at the event's time fires.
    TimerFired,
    /// `branch: None` on a fanned-out step applies to every branch awaiting approval.
    Approved {
        step: String,
        branch: Option<usize>,
        by: Actor,
        comment: Option<String>,
    },
    Attested {
        step: String,
        branch: Option<usize>,
        by: Actor,
        evidence: String,
    },
    Skipped {
        step: String,
        branch: Option<usize>,
        by: Actor,
        reason: String,
    },
    /// `resume` gives a failed instance whose last failure was retryable (throttling, a server
    /// error, an unavailable region) a fresh retry budget: it becomes ready again and its next
    /// attempt re-enters with its scratch state. Never applies to one-shot steps.
    Rearmed {
        step: String,
        branch: Option<usize>,
        by: Actor,
        /// The failure being retried, for the audit record.
        reason: String,
    },
    /// `resume --set` changed parameters the runbook declares `resumable` (never a secret): the
    /// steps that start from now on see the new values, and a failed instance of a step that
    /// reads one of them becomes re-armable (its failure may not hold with the new value).
    ParamsChanged {
        params: Map<String, Value>,
        by: Actor,
    },
    /// No new step starts; the run ends once nothing runs.
    Cancelled {
        by: Actor,
        reason: String,
    },
}

/// What the runner must do to start one attempt (or one poll) of a step instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartStep {
    pub step: String,
    pub uses: String,
    pub branch: Option<usize>,
    /// The branch's label (`engine::branch_labels`), for what the step tells people.
    pub label: Option<String>,
    pub item: Option<Value>,
    pub attempt: u32,
    /// 0 for a fresh attempt, n for the nth re-poll of a waiting step.
    pub poll: u32,
    /// `with`, rendered (secret outputs of upstream steps included: never journal this).
    pub inputs: Value,
    /// Scratch state saved by an earlier poll or interrupted attempt.
    pub scratch: Option<Value>,
    /// Re-entry after a crash (guarded steps must check before acting).
    pub reentry: bool,
}

/// An output of the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Journal `StepStarted`, then run the step.
    StartStep(Box<StartStep>),
    /// The attempt timed out: stop it (its late result is ignored).
    CancelStep {
        step: String,
        branch: Option<usize>,
        attempt: u32,
        reason: String,
    },
    /// Deliver `TimerFired` at (or after) this time.
    ScheduleTimer {
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    AwaitApproval {
        step: String,
        branch: Option<usize>,
        prompt: String,
    },
    AwaitAttestation {
        step: String,
        branch: Option<usize>,
        instructions: String,
        interrupted: bool,
    },
    RunFinished {
        succeeded: bool,
    },
    /// Only a person can unblock the run.
    RunPaused,
}
