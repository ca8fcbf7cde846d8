//! What goes into the engine ([`Event`], journaled before it is applied) and what comes out
//! ([`Action`], performed by the runner). Plain data, serialisable, so tests drive the engine
//! with literals and the journal stores events verbatim.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Who did something by hand: journaled with every approval, attestation, skip and resume.
///
/// The OS user and host are what the process was told (`$USER`); the Azure principal, when there
/// is one, is what the claims of the token Entra ID issued to this process say (lifeboat reads
/// them, it does not verify them: ARM does when the token is used). A person reading the record
/// sees both ([`Actor::describe`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The OS user.
    pub user: String,
    pub host: String,
    /// The Azure principal's object id (`oid` claim), when the command had a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_principal: Option<String>,
    /// The Azure principal's name (`upn`, `preferred_username`, `unique_name`, or the application
    /// id of a service principal) next to its object id, for the audit record (journal format
    /// 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_principal_name: Option<String>,
    /// The Entra ID tenant of the principal (`tid` claim). Absent in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_tenant: Option<String>,
    /// The inbox request this action came through, when another process wrote it into the
    /// run's inbox and the process driving the run journaled it (`engine::inbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

impl Actor {
    /// The person at this terminal: `$USER` (or `$USERNAME`) on this host.
    pub fn current() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .or_else(|_| std::env::var("LOGNAME"))
            // SAFETY: getuid(2) cannot fail and has no preconditions.
            .unwrap_or_else(|_| format!("uid {}", unsafe { libc::getuid() }));
        Actor::os(user, crate::journal::lock::host_name())
    }

    /// An actor known by its OS user and host only.
    pub fn os(user: impl Into<String>, host: impl Into<String>) -> Actor {
        Actor {
            user: user.into(),
            host: host.into(),
            azure_principal: None,
            azure_principal_name: None,
            azure_tenant: None,
            request: None,
        }
    }

    /// This actor with the Azure principal the claims of its token name (object id, name,
    /// tenant): an approval given where a token was used records who in Azure gave it.
    pub fn with_principal(
        mut self,
        object_id: impl Into<String>,
        name: Option<String>,
        tenant: impl Into<String>,
    ) -> Actor {
        self.azure_principal = Some(object_id.into());
        self.azure_principal_name = name;
        self.azure_tenant = Some(tenant.into());
        self
    }

    /// `user@host`: the OS identity.
    pub fn os_identity(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }

    /// How a person reads this actor: the Azure principal first when there is one, then the OS
    /// user, e.g. `bob@contoso.example (Azure object 0b0b…, tenant 1111…, claimed by token) as
    /// OS user bob@laptop-7`, or `bob@laptop-7`.
    pub fn describe(&self) -> String {
        match (&self.azure_principal, &self.azure_principal_name) {
            (None, None) => self.os_identity(),
            (oid, name) => {
                let mut parts = Vec::new();
                if let Some(o) = oid {
                    parts.push(format!("Azure object {o}"));
                }
                if let Some(t) = &self.azure_tenant {
                    parts.push(format!("tenant {t}"));
                }
                parts.push("claimed by token".to_string());
                let who = name.clone().or_else(|| oid.clone()).unwrap_or_default();
                format!("{who} ({}) as OS user {}", parts.join(", "), self.os_identity())
            }
        }
    }

    /// Whether two actors are the same person, for a four-eyes gate: their Azure object ids when
    /// both have one (compared without case), else their OS identities (`user@host`, the host
    /// without case).
    pub fn same_person(&self, other: &Actor) -> bool {
        match (&self.azure_principal, &other.azure_principal) {
            (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
            _ => self.user == other.user && self.host.eq_ignore_ascii_case(&other.host),
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
        /// The approver must be another person than the one who started the run (the gate's
        /// `four_eyes` input). Absent (false) in older journals and for other gates.
        #[serde(default, skip_serializing_if = "is_false")]
        four_eyes: bool,
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

fn is_false(b: &bool) -> bool {
    !*b
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
