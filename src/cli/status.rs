//! `lifeboat status RUN`: what a person reads first, and the same as a versioned JSON document
//! (`--output json`, schema `docs/status.schema.json`, [`SCHEMA_VERSION`]).
//!
//! [`RunStatus::build`] gathers everything from one replayed run (no IO, no clock but `now`);
//! [`RunStatus::render`] writes the text in sections, most urgent first: the run line, "Needs
//! you now" (each with the exact command), pending requests, connectors (old and new connector
//! ID, support ticket, where each one is), the steps, the warnings. Each section is one function,
//! so a new one slots in without touching the others.
//!
//! Times in the text are local with their offset ([`crate::text::local_time`]); in JSON they are
//! RFC 3339 in UTC.

use super::run::{header_warnings, not_restored_note, render_rows, run_warnings};
use crate::engine::{self, Blocker, Engine, InstanceView, Phase, State, Status};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use time::OffsetDateTime;

/// The version of `status --output json` (`docs/status.schema.json`). Minor: fields added
/// (readers ignore what they do not know); major: a field removed, renamed or changed in
/// meaning. Documented in `docs/responder.md`.
pub const SCHEMA_VERSION: &str = "1.1";

/// RFC 3339 in UTC, for JSON.
mod utc {
    use serde::Serializer;
    use time::OffsetDateTime;

    pub fn text(t: OffsetDateTime) -> String {
        t.to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    pub fn option<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&text(*t)),
            None => s.serialize_none(),
        }
    }
}

/// One run's status: the `status --output json` document.
#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    pub schema_version: &'static str,
    pub run: String,
    pub runbook: String,
    /// `active`, `paused`, `succeeded`, `failed` or `cancelled`.
    pub state: &'static str,
    /// What the run waits for, in one line (`null` once it ended).
    pub waits_for: Option<String>,
    /// The earliest timer: when the run next checks something by itself.
    #[serde(serialize_with = "utc::option")]
    pub next_check: Option<OffsetDateTime>,
    /// What only a person can do now, most urgent first, each with its commands.
    pub needs_you: Vec<NeedsYou>,
    /// Approvals, attestations and skips sent to the run and not journaled yet (filled by the
    /// run's inbox; empty until then).
    pub pending_requests: Vec<Value>,
    pub connectors: Vec<ConnectorStatus>,
    pub steps: Vec<StepStatus>,
    pub warnings: Vec<StatusWarning>,
    /// Where a run kept on an `az://` run store is (schema 1.1): `null` for a local run.
    pub run_store: Option<RunStoreStatus>,
    /// Before schema 1.0 `status --output json` had `run_id`, `status` and `steps`: kept for
    /// scripts written against it (`run_id` is `run`; `status` the engine's status object).
    pub run_id: String,
    pub status: Status,
}

/// Where a run on an `az://` run store keeps its record, its inbox and its artefacts.
#[derive(Debug, Clone, Serialize)]
pub struct RunStoreStatus {
    /// The journal blob (the record): `az://container/prefix/runs/RUN/journal.jsonl`.
    pub journal: String,
    /// Where approvals, attestations and skips from any machine are queued.
    pub inbox: String,
    /// The drafted support requests (`support/`) and drill reports (`reports/`) stored beside
    /// the journal.
    pub artefacts: Vec<String>,
}

/// Something only a person can do.
#[derive(Debug, Clone, Serialize)]
pub struct NeedsYou {
    /// `approval`, `attestation`, `interrupted` (a one-shot step to check, then attest or skip)
    /// or `failed`.
    pub reason: &'static str,
    /// How commands name the instance: `step`, `step[label]` or `step#N`.
    pub instance: String,
    pub step: String,
    pub branch: Option<usize>,
    pub label: Option<String>,
    /// The prompt, instructions or error.
    pub message: Option<String>,
    /// The exact commands, first the usual one (text in capitals is yours to fill in).
    pub commands: Vec<String>,
}

/// One connector of a fan-out (a branch of every step that fans out over it).
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorStatus {
    pub branch: usize,
    /// The branch label (`wait-for-release[LABEL]`), `null` when the branches are `#N`.
    pub label: Option<String>,
    /// The old connector's name.
    pub name: Option<String>,
    pub old_connector_id: Option<String>,
    /// Once the connector step created or adopted it.
    pub new_connector_id: Option<String>,
    /// The support ticket number (submitted through the API, or attested by a person).
    pub ticket: Option<String>,
    /// The first of its step instances that is not done (`null`: all done).
    pub current_step: Option<String>,
    pub current_state: Option<&'static str>,
}

/// One step instance.
#[derive(Debug, Clone, Serialize)]
pub struct StepStatus {
    /// How commands name it: `step`, `step[label]` or `step#N`.
    pub name: String,
    pub step: String,
    pub label: Option<String>,
    pub branch: Option<usize>,
    pub uses: String,
    /// `pending`, `ready`, `running`, `waiting`, `awaiting-approval`, `awaiting-attestation`,
    /// `succeeded`, `failed` or `skipped`.
    pub state: &'static str,
    /// The current (or last) attempt; 0 before the first start.
    pub attempts: u32,
    #[serde(serialize_with = "utc::option")]
    pub started: Option<OffsetDateTime>,
    #[serde(serialize_with = "utc::option")]
    pub finished: Option<OffsetDateTime>,
    /// A waiting instance's next check (or retry).
    #[serde(serialize_with = "utc::option")]
    pub until: Option<OffsetDateTime>,
    #[serde(serialize_with = "utc::option")]
    pub deadline: Option<OffsetDateTime>,
    pub waiting_for: Option<String>,
    pub error: Option<String>,
    pub progress: Option<Progress>,
    /// As journaled (secret outputs are redaction markers).
    pub outputs: Option<Map<String, Value>>,
    /// Before schema 1.0: the engine's own view of the instance. Not covered by the schema's
    /// compatibility promise; use the fields above.
    pub instance: Option<engine::Instance>,
}

/// A step's last progress report.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub message: String,
}

/// A warning a step succeeded with.
#[derive(Debug, Clone, Serialize)]
pub struct StatusWarning {
    pub instance: String,
    pub text: String,
}

/// `active`, `paused`, ...: the run's state as one word.
pub fn state_word(s: &Status) -> &'static str {
    match s {
        Status::Active { .. } => "active",
        Status::Paused => "paused",
        Status::Succeeded => "succeeded",
        Status::Failed => "failed",
        Status::Cancelled => "cancelled",
    }
}

/// A command argument as a shell takes it: an instance with a label is quoted, since `[...]`
/// is a glob pattern (zsh refuses an unmatched one). Labels hold no quote (`engine::valid_label`).
pub fn shell_arg(name: &str) -> String {
    if name.contains('[') {
        format!("'{name}'")
    } else {
        name.to_string()
    }
}

/// The commands that unblock one instance.
pub fn commands_for(run: &str, b: &Blocker, rearmable: bool) -> (&'static str, Vec<String>) {
    let name = shell_arg(&b.name());
    match (b.phase, b.interrupted) {
        (Phase::AwaitingApproval, _) => {
            ("approval", vec![format!("lifeboat approve {run} {name} --comment TEXT")])
        }
        (Phase::AwaitingAttestation, false) => {
            ("attestation", vec![format!("lifeboat attest {run} {name} --evidence TEXT")])
        }
        (Phase::AwaitingAttestation, true) => (
            "interrupted",
            vec![
                format!("lifeboat attest {run} {name} --evidence TEXT"),
                format!("lifeboat skip {run} {name} --reason TEXT"),
            ],
        ),
        _ if rearmable => ("failed", vec![format!("lifeboat resume {run}")]),
        _ => ("failed", vec![format!("lifeboat skip {run} {name} --reason TEXT")]),
    }
}

impl RunStatus {
    /// The status of a replayed run (`header`: the journal's first entry).
    pub fn build(run: &str, engine: &Engine, header: &Value) -> RunStatus {
        let views = engine.snapshot();
        let status = engine.status();
        let rearmable: Vec<(String, Option<usize>)> =
            engine.rearmable().into_iter().map(|(s, b, _)| (s, b)).collect();
        let needs_you = engine
            .blockers()
            .iter()
            .map(|b| {
                let can_rearm = rearmable.iter().any(|(s, br)| *s == b.step && *br == b.branch);
                let (reason, commands) = commands_for(run, b, can_rearm);
                NeedsYou {
                    reason,
                    instance: b.name(),
                    step: b.step.clone(),
                    branch: b.branch,
                    label: b.label.clone(),
                    message: b.message.clone(),
                    commands,
                }
            })
            .collect();
        RunStatus {
            schema_version: SCHEMA_VERSION,
            run: run.to_string(),
            runbook: header.pointer("/runbook/name").and_then(Value::as_str).unwrap_or("").into(),
            state: state_word(&status),
            waits_for: engine.waits_for(),
            next_check: engine.next_timer(),
            needs_you,
            pending_requests: Vec::new(),
            connectors: connectors(engine, &views),
            steps: views.iter().map(step_status).collect(),
            warnings: header_warnings(header)
                .into_iter()
                .chain(run_warnings(&views))
                .map(|(instance, text)| StatusWarning { instance, text })
                .collect(),
            run_store: None,
            run_id: run.to_string(),
            status,
        }
    }

    /// The text a person reads, section by section.
    pub fn render(&self, views: &[InstanceView], now: OffsetDateTime) -> String {
        let mut out = String::new();
        self.run_section(&mut out);
        self.needs_you_section(&mut out);
        self.pending_requests_section(&mut out);
        self.connectors_section(&mut out);
        let _ = write!(out, "\nSteps\n{}", super::run::status_table(views, now));
        self.warnings_section(&mut out);
        self.run_store_section(&mut out);
        out
    }

    /// Where the run is kept, when it is on a run store.
    fn run_store_section(&self, out: &mut String) {
        let Some(r) = &self.run_store else { return };
        let _ = writeln!(out, "\nRun store\n  journal: {}\n  inbox: {}", r.journal, r.inbox);
        for a in &r.artefacts {
            let _ = writeln!(out, "  artefact: {a}");
        }
    }

    fn run_section(&self, out: &mut String) {
        let _ = writeln!(out, "run {}: {}", self.run, self.state);
        if !self.runbook.is_empty() {
            let _ = writeln!(out, "runbook: {}", self.runbook);
        }
        if let Some(w) = &self.waits_for {
            let _ = writeln!(out, "waits for: {w}");
        }
    }

    fn needs_you_section(&self, out: &mut String) {
        if self.needs_you.is_empty() {
            let why = match self.state {
                "active" => match self.next_check {
                    Some(t) => format!(
                        "the run goes on by itself (next check {})",
                        crate::text::local_time(t)
                    ),
                    None => "the run goes on by itself".into(),
                },
                other => format!("the run {other}"),
            };
            let _ = writeln!(out, "\nNeeds you now: nothing, {why}");
            return;
        }
        let _ = writeln!(out, "\nNeeds you now");
        for n in &self.needs_you {
            let what = match n.reason {
                "approval" => "awaits your approval",
                "attestation" => "is a manual task: do it, then attest it",
                "interrupted" => "was interrupted and must never run twice: check whether it took effect, then attest (it did) or skip (it did not)",
                _ => "failed",
            };
            let msg = n.message.as_deref().map(|m| format!(": {}", m.trim())).unwrap_or_default();
            let _ = writeln!(out, "  {} {what}{msg}", n.instance);
            for c in &n.commands {
                let _ = writeln!(out, "    {c}");
            }
        }
        let resume = format!("lifeboat resume {}", self.run);
        if !self.needs_you.iter().all(|n| n.commands == [resume.clone()]) {
            let _ = writeln!(out, "  then continue with: {resume}");
        }
    }

    /// The requests the run's inbox holds (none until the inbox exists).
    fn pending_requests_section(&self, out: &mut String) {
        if self.pending_requests.is_empty() {
            return;
        }
        let _ = writeln!(out, "\nPending requests (the process driving the run records them within a second; `lifeboat resume` otherwise)");
        for r in &self.pending_requests {
            match r.get("summary").and_then(Value::as_str) {
                Some(s) => _ = writeln!(out, "  {s}"),
                None => _ = writeln!(out, "  {r}"),
            }
        }
    }

    fn connectors_section(&self, out: &mut String) {
        if self.connectors.is_empty() {
            return;
        }
        let _ = writeln!(out, "\nConnectors");
        for c in &self.connectors {
            let name = c.name.clone().or_else(|| c.label.clone()).unwrap_or_default();
            let branch = match &c.label {
                Some(_) => String::new(),
                None => format!(" (branch #{})", c.branch),
            };
            let now = match (&c.current_step, c.current_state) {
                (Some(s), Some(st)) => format!("now at {s} ({st})"),
                _ => "all steps done".into(),
            };
            let _ = writeln!(out, "  {name}{branch}: {now}");
            let dash = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.into());
            let rows = [
                ["old connector".to_string(), dash(&c.old_connector_id, "-")],
                ["new connector".into(), dash(&c.new_connector_id, "not created yet")],
                ["support ticket".into(), dash(&c.ticket, "none yet")],
            ];
            out.push_str(&indent(&indent(&render_rows(&rows))));
        }
    }

    fn warnings_section(&self, out: &mut String) {
        if self.warnings.is_empty() {
            return;
        }
        let _ = writeln!(out, "\nWarnings");
        for w in &self.warnings {
            let _ = writeln!(out, "  {}: {}", w.instance, w.text);
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { "\n".into() } else { format!("  {l}\n") }).collect()
}

fn step_status(v: &InstanceView) -> StepStatus {
    let i = v.instance.as_ref();
    StepStatus {
        name: v.name(),
        step: v.step.clone(),
        label: v.label.clone(),
        branch: v.branch,
        uses: v.uses.clone(),
        state: i.map(|i| i.state.phase().name()).unwrap_or("pending"),
        attempts: i.map(|i| i.attempt).unwrap_or(0),
        started: i.and_then(|i| i.first_started),
        finished: i.and_then(|i| i.finished),
        until: i.and_then(|i| match i.state {
            State::Waiting { until, .. } => Some(until),
            _ => None,
        }),
        deadline: i.and_then(|i| i.deadline),
        waiting_for: i.and_then(|i| i.waiting_for.clone()),
        error: i.and_then(|i| i.error.clone()).filter(|_| {
            i.is_some_and(|i| matches!(i.state, State::Failed | State::Waiting { .. }))
        }),
        progress: i.and_then(|i| i.progress.clone()).map(|(done, total, message)| Progress {
            done,
            total,
            message,
        }),
        outputs: i.and_then(|i| i.outputs.clone()),
        instance: i.cloned(),
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The manual step where a person records the support ticket number, unless a support draft
/// names another (`attest_step`).
const TICKET_STEP: &str = "file-support-request";

/// The connectors of a run: the branches of the fan-out whose items are connectors (objects
/// with a `resource_id`, as discovery and `backup.load` give them), with what the steps found
/// out about each one.
fn connectors(engine: &Engine, views: &[InstanceView]) -> Vec<ConnectorStatus> {
    let plan = engine.plan();
    let for_each = |step: &str| -> Option<String> {
        plan.runbook.step(step).and_then(|d| d.for_each.as_deref()).map(|f| f.trim().to_string())
    };
    // The first fan-out over connectors; every step with the same for_each shares its branches.
    let Some(expr) = views.iter().find_map(|v| {
        let item = v.instance.as_ref()?.item.as_ref()?;
        item.get("resource_id")?.as_str()?;
        for_each(&v.step)
    }) else {
        return Vec::new();
    };
    let group: Vec<&InstanceView> = views
        .iter()
        .filter(|v| v.branch.is_some() && for_each(&v.step).as_deref() == Some(expr.as_str()))
        .collect();
    // The manual steps a support draft names for the ticket number (`attest_step`; by default,
    // and without a draft, `file-support-request`, as in the region-outage runbook).
    let mut ticket_steps: Vec<String> = plan
        .runbook
        .steps
        .iter()
        .filter(|d| d.uses == "support.draft")
        .map(|d| d.with.get("attest_step").and_then(Value::as_str).unwrap_or(TICKET_STEP))
        .map(String::from)
        .collect();
    if ticket_steps.is_empty() {
        ticket_steps.push(TICKET_STEP.into());
    }
    let branches = group.iter().filter_map(|v| v.branch).max().map_or(0, |m| m + 1);
    (0..branches)
        .map(|b| {
            let mine: Vec<&&InstanceView> =
                group.iter().filter(|v| v.branch == Some(b) && v.instance.is_some()).collect();
            let item = mine.iter().find_map(|v| v.instance.as_ref()?.item.clone());
            let item_str = |k: &str| item.as_ref().and_then(|i| i.get(k)).and_then(text_of);
            let output = |uses: Option<&str>, key: &str| -> Option<String> {
                mine.iter().find_map(|v| {
                    if uses.is_some_and(|u| u != v.uses) {
                        return None;
                    }
                    v.instance.as_ref()?.outputs.as_ref()?.get(key).and_then(text_of)
                })
            };
            let ticket = output(Some("support.submit"), "ticket_number").or_else(|| {
                mine.iter().find_map(|v| {
                    let i = v.instance.as_ref()?;
                    (ticket_steps.contains(&v.step) && i.state == State::Succeeded)
                        .then(|| i.outputs.as_ref()?.get("evidence").and_then(text_of))
                        .flatten()
                })
            });
            let current = mine
                .iter()
                .find(|v| v.instance.as_ref().is_some_and(|i| !i.state.satisfies_dependents()));
            ConnectorStatus {
                branch: b,
                label: mine.iter().find_map(|v| v.label.clone()),
                name: item_str("name"),
                old_connector_id: item_str("resource_id")
                    .or_else(|| output(None, "old_resource_id")),
                new_connector_id: output(None, "new_resource_id"),
                ticket,
                current_step: current.map(|v| v.name()),
                current_state: current
                    .and_then(|v| v.instance.as_ref())
                    .map(|i| i.state.phase().name()),
            }
        })
        .collect()
}

/// The note of a status table row: the error, warnings, what it waits for, what it did not
/// restore.
pub fn row_note(i: &engine::Instance) -> String {
    let warnings: Vec<String> = i
        .outputs
        .as_ref()
        .filter(|_| i.state.phase() == Phase::Succeeded)
        .map(crate::catalog::output_warnings)
        .unwrap_or_default()
        .into_iter()
        .map(|w| format!("warning: {w}"))
        .collect();
    let note = i
        .error
        .clone()
        .filter(|_| i.state.phase() == Phase::Failed)
        .or_else(|| (!warnings.is_empty()).then(|| warnings.join("; ")))
        .or_else(|| i.waiting_for.clone())
        .or_else(|| i.outputs.as_ref().and_then(not_restored_note));
    match (&i.state, note) {
        (State::Waiting { until, .. }, n) => {
            format!("{} (until {})", n.unwrap_or_default(), crate::text::local_time(*until))
        }
        (_, n) => n.unwrap_or_default(),
    }
}
