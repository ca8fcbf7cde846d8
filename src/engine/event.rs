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
    /// The CI/CD pipeline run the action was taken in, and who queued it (journal format 1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Pipeline>,
    /// What performed the action on this person's (or pipeline's) behalf: `drill` for the
    /// approvals and attestations a drill gives while rehearsing (journal format 1.2). `None`:
    /// the person did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// [`Actor::via`] of what a drill does standing in for the person who ran it.
pub const VIA_DRILL: &str = "drill";

impl Actor {
    /// The person at this terminal: `$USER` (or `$USERNAME`) on this host, and the pipeline run
    /// when lifeboat runs inside one ([`Pipeline::from_env`]). The Azure principal is the
    /// caller's to add (from the token's claims, once a credential was used).
    pub fn current() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .or_else(|_| std::env::var("LOGNAME"))
            // SAFETY: getuid(2) cannot fail and has no preconditions.
            .unwrap_or_else(|_| format!("uid {}", unsafe { libc::getuid() }));
        Actor {
            pipeline: Pipeline::from_env(&|k| std::env::var(k).ok()),
            ..Actor::os(user, crate::journal::lock::host_name())
        }
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
            pipeline: None,
            via: None,
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
    /// OS user bob@laptop-7`, or `bob@laptop-7`; then the pipeline run it acted in and what
    /// acted on its behalf, e.g. `bob@laptop-7 in github-actions run 99 of "ops: drill" queued
    /// by monalisa via drill`.
    pub fn describe(&self) -> String {
        let mut s = match (&self.azure_principal, &self.azure_principal_name) {
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
        };
        if let Some(p) = &self.pipeline {
            s.push_str(&format!(" in {}", p.describe()));
        }
        if let Some(v) = &self.via {
            s.push_str(&format!(" via {v}"));
        }
        s
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

    /// The same person, the action performed on their behalf by `via` (e.g. [`VIA_DRILL`]).
    pub fn via(mut self, via: &str) -> Actor {
        self.via = Some(via.to_string());
        self
    }
}

/// The CI/CD pipeline run lifeboat runs in, from the variables the pipeline sets (documented:
/// Azure Pipelines' predefined variables,
/// <https://learn.microsoft.com/azure/devops/pipelines/build/variables>; GitHub Actions' default
/// environment variables, <https://docs.github.com/actions/reference/variables-reference>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    /// `azure-pipelines` or `github-actions`.
    pub system: String,
    /// Who queued the run: Azure Pipelines `BUILD_REQUESTEDFOR` (its e-mail
    /// `BUILD_REQUESTEDFOREMAIL` when that is empty); GitHub Actions `GITHUB_TRIGGERING_ACTOR`,
    /// else `GITHUB_ACTOR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_for: Option<String>,
    /// The pipeline: Azure Pipelines `BUILD_DEFINITIONNAME`; GitHub Actions
    /// `GITHUB_REPOSITORY` and `GITHUB_WORKFLOW` (`owner/repo: workflow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The run: Azure Pipelines `BUILD_BUILDID`; GitHub Actions `GITHUB_RUN_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The run's page: Azure Pipelines `SYSTEM_COLLECTIONURI` + `SYSTEM_TEAMPROJECT` +
    /// `/_build/results?buildId=` + the run; GitHub Actions `GITHUB_SERVER_URL/GITHUB_REPOSITORY/
    /// actions/runs/GITHUB_RUN_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Pipeline {
    /// The pipeline run described by the environment `var` reads, if any: Azure Pipelines when
    /// `TF_BUILD` is `True`, GitHub Actions when `GITHUB_ACTIONS` is `true`; `None` elsewhere.
    /// Values are trimmed, control characters dropped and each cut to 256 characters; an empty
    /// one counts as unset.
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Option<Pipeline> {
        let get = |k: &str| {
            var(k)
                .map(|v| v.trim().chars().filter(|c| !c.is_control()).take(256).collect::<String>())
                .filter(|v| !v.is_empty())
        };
        let flag = |k: &str| get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if flag("TF_BUILD") {
            let run_id = get("BUILD_BUILDID");
            let url = match (get("SYSTEM_COLLECTIONURI"), get("SYSTEM_TEAMPROJECT"), &run_id) {
                (Some(c), Some(p), Some(id)) => Some(format!(
                    "{}/{}/_build/results?buildId={id}",
                    c.trim_end_matches('/'),
                    p.replace(' ', "%20")
                )),
                _ => None,
            };
            return Some(Pipeline {
                system: "azure-pipelines".into(),
                requested_for: get("BUILD_REQUESTEDFOR").or_else(|| get("BUILD_REQUESTEDFOREMAIL")),
                name: get("BUILD_DEFINITIONNAME"),
                run_id,
                url,
            });
        }
        if flag("GITHUB_ACTIONS") {
            let repo = get("GITHUB_REPOSITORY");
            let run_id = get("GITHUB_RUN_ID");
            let name = match (&repo, get("GITHUB_WORKFLOW")) {
                (Some(r), Some(w)) => Some(format!("{r}: {w}")),
                (Some(x), None) => Some(x.clone()),
                (None, w) => w,
            };
            let url = match (get("GITHUB_SERVER_URL"), &repo, &run_id) {
                (Some(s), Some(r), Some(id)) => {
                    Some(format!("{}/{r}/actions/runs/{id}", s.trim_end_matches('/')))
                }
                _ => None,
            };
            return Some(Pipeline {
                system: "github-actions".into(),
                requested_for: get("GITHUB_TRIGGERING_ACTOR").or_else(|| get("GITHUB_ACTOR")),
                name,
                run_id,
                url,
            });
        }
        None
    }

    /// `azure-pipelines run 42 of "nightly drill" queued by Ada`, for people.
    pub fn describe(&self) -> String {
        let mut s = self.system.clone();
        if let Some(id) = &self.run_id {
            s.push_str(&format!(" run {id}"));
        }
        if let Some(n) = &self.name {
            s.push_str(&format!(" of \"{n}\""));
        }
        if let Some(r) = &self.requested_for {
            s.push_str(&format!(" queued by {r}"));
        }
        s
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
        /// The driver whose lease this process broke to take the run over (`resume
        /// --take-over` on a shared run store), as that driver recorded itself: who, where,
        /// since when. Absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        took_over_from: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn no_pipeline_outside_one() {
        assert_eq!(Pipeline::from_env(&env(&[])), None);
        // A variable of a pipeline without the pipeline's own flag is not a pipeline.
        assert_eq!(Pipeline::from_env(&env(&[("GITHUB_ACTOR", "octocat")])), None);
        assert_eq!(Pipeline::from_env(&env(&[("TF_BUILD", "False")])), None);
    }

    #[test]
    fn azure_pipelines_run_and_requester() {
        let p = Pipeline::from_env(&env(&[
            ("TF_BUILD", "True"),
            ("BUILD_REQUESTEDFOR", "Ada Lovelace"),
            ("BUILD_DEFINITIONNAME", "nightly drill"),
            ("BUILD_BUILDID", "4242"),
            ("SYSTEM_COLLECTIONURI", "https://dev.azure.com/contoso/"),
            ("SYSTEM_TEAMPROJECT", "Platform Ops"),
        ]))
        .unwrap();
        assert_eq!(p.system, "azure-pipelines");
        assert_eq!(p.requested_for.as_deref(), Some("Ada Lovelace"));
        assert_eq!(p.name.as_deref(), Some("nightly drill"));
        assert_eq!(p.run_id.as_deref(), Some("4242"));
        assert_eq!(
            p.url.as_deref(),
            Some("https://dev.azure.com/contoso/Platform%20Ops/_build/results?buildId=4242")
        );
        assert_eq!(
            p.describe(),
            "azure-pipelines run 4242 of \"nightly drill\" queued by Ada Lovelace"
        );
    }

    #[test]
    fn github_actions_run_and_triggering_actor() {
        let p = Pipeline::from_env(&env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_ACTOR", "octocat"),
            ("GITHUB_TRIGGERING_ACTOR", "monalisa"),
            ("GITHUB_WORKFLOW", "drill"),
            ("GITHUB_RUN_ID", "99"),
            ("GITHUB_REPOSITORY", "contoso/ops"),
            ("GITHUB_SERVER_URL", "https://github.com"),
        ]))
        .unwrap();
        assert_eq!(p.system, "github-actions");
        assert_eq!(p.requested_for.as_deref(), Some("monalisa"));
        assert_eq!(p.name.as_deref(), Some("contoso/ops: drill"));
        assert_eq!(p.url.as_deref(), Some("https://github.com/contoso/ops/actions/runs/99"));
        // Without the triggering actor (older runners), the actor.
        let p = Pipeline::from_env(&env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_ACTOR", "octocat"),
            ("GITHUB_TRIGGERING_ACTOR", "  "),
        ]))
        .unwrap();
        assert_eq!(p.requested_for.as_deref(), Some("octocat"));
        assert_eq!((p.name, p.url), (None, None));
    }

    #[test]
    fn values_are_cleaned_and_bounded() {
        let long = "x".repeat(1000);
        let p = Pipeline::from_env(&env(&[
            ("TF_BUILD", "true"),
            ("BUILD_REQUESTEDFOR", "Eve\u{1b}[31m\n"),
            ("BUILD_DEFINITIONNAME", &long),
        ]))
        .unwrap();
        assert_eq!(p.requested_for.as_deref(), Some("Eve[31m"));
        assert_eq!(p.name.map(|n| n.len()), Some(256));
    }

    #[test]
    fn an_actor_via_the_drill_says_so_and_reads_back() {
        let a = Actor::os("ada", "h").via(VIA_DRILL);
        assert_eq!(a.describe(), "ada@h via drill");
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json, serde_json::json!({"user": "ada", "host": "h", "via": "drill"}));
        // A 1.1 actor (no pipeline, no via) still reads.
        let old: Actor =
            serde_json::from_value(serde_json::json!({"user": "u", "host": "h"})).unwrap();
        assert_eq!((old.pipeline, old.via), (None, None));
    }
}
