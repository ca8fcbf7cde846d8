//! The lifecycle of one step instance (a step, or one branch of a fanned-out step) as a small
//! transition table. Every state change goes through [`check`]: a transition not in [`TABLE`] is
//! an error, never a silent change.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Why an instance waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The step asked to be polled again (durable timer or condition).
    Poll,
    /// Backing off before the next attempt after a retryable failure.
    Backoff,
}

/// The state of one step instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum State {
    /// Dependencies not done yet.
    Pending,
    /// May start (subject to the concurrency limit).
    Ready,
    /// An attempt is in flight.
    Running {
        attempt: u32,
    },
    /// Until a time: a durable timer, the next poll of a condition, or a retry backoff.
    Waiting {
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
        reason: WaitReason,
    },
    /// A person must approve (`lifeboat approve`).
    AwaitingApproval,
    /// A person must attest (`lifeboat attest`): a manual task, or a one-shot step interrupted by
    /// a crash (`interrupted`), which must never run twice.
    AwaitingAttestation {
        interrupted: bool,
    },
    Succeeded,
    Failed,
    Skipped,
}

/// The state without its data: the rows and columns of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    Ready,
    Running,
    Waiting,
    AwaitingApproval,
    AwaitingAttestation,
    Succeeded,
    Failed,
    Skipped,
}

impl State {
    pub fn phase(&self) -> Phase {
        match self {
            State::Pending => Phase::Pending,
            State::Ready => Phase::Ready,
            State::Running { .. } => Phase::Running,
            State::Waiting { .. } => Phase::Waiting,
            State::AwaitingApproval => Phase::AwaitingApproval,
            State::AwaitingAttestation { .. } => Phase::AwaitingAttestation,
            State::Succeeded => Phase::Succeeded,
            State::Failed => Phase::Failed,
            State::Skipped => Phase::Skipped,
        }
    }

    /// Done, successfully or not: no further transition but a person's skip of a failure.
    pub fn is_terminal(&self) -> bool {
        matches!(self, State::Succeeded | State::Failed | State::Skipped)
    }

    /// Counts as done for dependents.
    pub fn satisfies_dependents(&self) -> bool {
        matches!(self, State::Succeeded | State::Skipped)
    }
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Ready => "ready",
            Phase::Running => "running",
            Phase::Waiting => "waiting",
            Phase::AwaitingApproval => "awaiting-approval",
            Phase::AwaitingAttestation => "awaiting-attestation",
            Phase::Succeeded => "succeeded",
            Phase::Failed => "failed",
            Phase::Skipped => "skipped",
        }
    }
}

use Phase::*;

/// Every allowed transition, with why it happens.
pub const TABLE: &[(Phase, Phase, &str)] = &[
    (Pending, Ready, "dependencies done and `when` true"),
    (Pending, Skipped, "`when` false, or skipped by a person"),
    (Pending, Failed, "inputs, `when` or `for_each` could not be evaluated"),
    (Ready, Running, "attempt started (journaled before the step acts)"),
    (Ready, Skipped, "skipped by a person"),
    (Ready, Failed, "inputs could not be rendered (retrying cannot help)"),
    (Running, Succeeded, "the attempt succeeded"),
    (Running, Failed, "the attempt failed for good (not retryable, or attempts exhausted)"),
    (Running, Waiting, "poll again later, or back off before a retry"),
    (Running, AwaitingApproval, "a gate asks a person"),
    (Running, AwaitingAttestation, "a manual task, or an interrupted one-shot step parked"),
    (Running, Ready, "interrupted by a crash: re-run (idempotent) or re-enter its guard (guarded)"),
    (Waiting, Ready, "the timer fired: poll again or retry"),
    (Waiting, Failed, "the wait timed out"),
    (Waiting, Skipped, "skipped by a person"),
    (AwaitingApproval, Succeeded, "approved"),
    (AwaitingApproval, Skipped, "skipped by a person"),
    (AwaitingAttestation, Succeeded, "attested"),
    (AwaitingAttestation, Skipped, "skipped by a person"),
    (Failed, Skipped, "a person skips a failed step so dependents may go on"),
    (Failed, Ready, "re-armed by `resume`: the last failure was retryable (never a one-shot step)"),
];

/// Whether `from → to` is in the table.
pub fn allowed(from: Phase, to: Phase) -> bool {
    TABLE.iter().any(|(f, t, _)| *f == from && *t == to)
}

/// An invalid transition, named by its phases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step {step} cannot go from {} to {}", from.name(), to.name())]
pub struct InvalidTransition {
    pub step: String,
    pub from: Phase,
    pub to: Phase,
}

pub fn check(step: &str, from: Phase, to: Phase) -> Result<(), InvalidTransition> {
    if allowed(from, to) {
        Ok(())
    } else {
        Err(InvalidTransition { step: step.to_string(), from, to })
    }
}
