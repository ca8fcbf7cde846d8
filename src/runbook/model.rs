//! The validated runbook: what `runbook::load` produces and the engine consumes.
//!
//! These types are the contract between the parser/validator (`runbook`) and the engine. Every
//! value here has already been validated: step ids are unique, `needs` name existing steps, the
//! graph is acyclic, every `uses` names a registered step kind, templates only reference
//! parameters that exist and steps that are upstream.
//!
//! Template semantics (implemented in `runbook::template`):
//! - Strings in `with`, `for_each`, `label` and `when` are handlebars templates over the context
//!   `{ "params": {..}, "steps": { "<id>": { "outputs": {..} } }, "item": <for_each item>,
//!   "run": { "id": "..." } }`.
//! - A string that is exactly one expression (`"{{ steps.discover.outputs.connectors }}"`) yields
//!   the typed JSON value at that path (a list stays a list); any other string renders to a string.
//! - Fan-out: a step with `for_each` runs one branch per item of the list. If it needs another
//!   step whose `for_each` is the same expression, the dependency is item-wise (branch i waits only
//!   for branch i, and `steps.<id>.outputs` is branch i's outputs), so one stuck branch never blocks
//!   the others. A step without `for_each` that needs a fanned-out step waits for every branch and
//!   sees `steps.<id>.outputs` as the list of every branch's outputs, in item order.
//! - Branch labels: a branch is named `step[label]` (else `step#N`), the label being the item's
//!   `name`, or what the step's `label:` template (`"{{ item.id }}"`, with `for_each` only)
//!   renders for the branch; a label is kept only if it is `[A-Za-z0-9._-]{1,80}` and unique
//!   among the step's branches (`engine::branch_labels`, `engine::unique_labels`).
//! - `when` is evaluated when the step becomes ready; false (`false`, `""`, `0`, `null`, empty
//!   list) skips the step (and its branch), which counts as done for its dependents.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The only runbook format version this build reads.
pub const API_VERSION: &str = "lifeboat/v1";

/// A position in the runbook file, 1-based, for error messages (`file:line:column`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub line: u32,
    pub column: u32,
}

/// Where a runbook came from, and the exact bytes that were validated.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// The path as given by the user (or `builtin:<name>.yaml` for a built-in runbook).
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, lowercase hex: journaled so an auditor can tie a run to a file.
    pub sha256: String,
    /// The file's text, kept so a run can be resumed even if the file changed or is gone.
    pub text: String,
    /// The built-in runbook's name when the text came from the binary (`runbook::builtin`),
    /// absent for a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Runbook {
    pub source: Source,
    /// `metadata.name`
    pub name: String,
    /// `metadata.description`
    pub description: Option<String>,
    /// Ready steps (or branches) that may run at the same time (`metadata.concurrency`; default 8).
    pub concurrency: usize,
    /// In file order.
    pub params: Vec<ParamDef>,
    /// In file order.
    pub steps: Vec<StepDef>,
}

impl Runbook {
    pub fn step(&self, id: &str) -> Option<&StepDef> {
        self.steps.iter().find(|s| s.id == id)
    }
    pub fn param(&self, name: &str) -> Option<&ParamDef> {
        self.params.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "values")]
pub enum ParamType {
    String,
    Bool,
    Int,
    /// A duration such as `90s`, `15m`, `3d` (humantime syntax); resolved to its text form.
    Duration,
    /// One of the listed values (case-sensitive).
    Enum(Vec<String>),
    /// A list of strings; on the command line `--set k=a,b,c`.
    List,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParamDef {
    pub name: String,
    pub ty: ParamType,
    /// Required parameters have no default and must be set with `--set`.
    pub required: bool,
    /// Already type-checked against `ty`.
    pub default: Option<serde_json::Value>,
    /// A secret is never journaled (only a redaction marker and its hash) and never printed.
    pub secret: bool,
    /// `lifeboat resume RUN --set NAME=VALUE` may change it for the rest of the run (journaled;
    /// failed steps that read it are re-armed). Never for a secret.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resumable: bool,
    pub description: Option<String>,
    pub span: Span,
}

/// Retry policy of a step: exponential backoff with full jitter, capped.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the second attempt, before jitter.
    #[serde(with = "humantime_serde_compat")]
    pub initial_delay: Duration,
    /// Growth factor per attempt.
    pub multiplier: f64,
    /// Cap on any single delay.
    #[serde(with = "humantime_serde_compat")]
    pub max_delay: Duration,
    /// Apply jitter (uniform in [0, delay]).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial_delay: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(300),
            jitter: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepDef {
    /// Unique within the runbook: `[a-z0-9][a-z0-9-]*`.
    pub id: String,
    /// The step kind, e.g. `gate.approval`; validated against `catalog::catalog()`.
    pub uses: String,
    /// Ids of the steps this one depends on (validated, no duplicates).
    pub needs: Vec<String>,
    /// Inputs: JSON values whose strings are templates (see module doc).
    pub with: BTreeMap<String, serde_json::Value>,
    /// A template that must yield a list: one branch per item.
    pub for_each: Option<String>,
    /// With `for_each`: a template giving each branch its label (`step[label]`), e.g.
    /// `{{ item.id }}`; by default the item's `name` (see `engine::branch_labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A template; false skips the step.
    pub when: Option<String>,
    pub retry: RetryPolicy,
    /// Deadline for one attempt (for waits: for the whole wait).
    #[serde(with = "humantime_serde_compat::option")]
    pub timeout: Option<Duration>,
    /// How long the step usually takes from its first start (e.g. Microsoft support's release):
    /// past it, the run tells the people `--notify` reaches that it takes longer than expected.
    /// Changes nothing in the run itself. Absent from journals of runbooks that do not set it.
    #[serde(
        default,
        with = "humantime_serde_compat::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected: Option<Duration>,
    /// Shown to responders: what the step does and why.
    pub description: Option<String>,
    pub span: Span,
}

/// A runbook with its parameters resolved: what `lifeboat plan` shows and `lifeboat run` starts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub runbook: Runbook,
    /// Every declared parameter, with its resolved, type-checked value (defaults applied).
    pub params: BTreeMap<String, serde_json::Value>,
    /// Step indices (into `runbook.steps`) in a deterministic topological order.
    pub order: Vec<usize>,
}

/// Durations serialise as humantime text ("1s", "5m") so journals and JSON output stay readable.
pub mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            let text: Option<String> = Option::deserialize(d)?;
            text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}
