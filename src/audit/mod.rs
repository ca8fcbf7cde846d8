//! Audit records of runs: who did what, when, with which result, and the proof that the record
//! was not changed. Read-only over journals (the one exception, [`sign::sign_run`], appends a
//! signature entry under the run's lock).
//!
//! - [`AuditRecord::from_entries`] turns a verified journal (`journal::read`: the one parser) into
//!   a normalized record: run metadata, one [`AuditEvent`] per journal entry, one [`Attempt`] per
//!   step attempt, the manual actions with their identities, the Azure calls, the signatures.
//! - [`render`] writes it as CSV, Markdown, HTML or JUnit; the JSONL export is the journal itself,
//!   byte for byte, so `audit verify` checks an export exactly like a live journal.
//! - [`verify`] recomputes the chain and names the first line that does not match; [`sign`] holds
//!   the Ed25519 keys and the run-end signature.
//!
//! Invariant: the record only carries what the journal carries, and the journal never holds a
//! secret value (redaction markers only); secret inputs of step kinds are redacted again here,
//! since the declared `with:` of a step may hold a literal.

pub mod render;
pub mod sign;
pub mod verify;

use crate::engine::Actor;
use crate::journal::{self, Entry, JournalError};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Where a run's journal is: a run id under the state directory, a run directory, or a journal
/// (or exported JSONL) file.
pub fn locate(state_dir: &Path, what: &str) -> Result<PathBuf, crate::error::UserError> {
    let p = Path::new(what);
    if p.is_file() {
        return Ok(p.to_path_buf());
    }
    if p.is_dir() {
        let j = p.join(journal::JOURNAL_FILE);
        if j.is_file() {
            return Ok(j);
        }
        return Err(crate::error::UserError::usage(format!(
            "{} has no {}",
            p.display(),
            journal::JOURNAL_FILE
        ))
        .with_hint("pass a run id, a run directory or a journal file"));
    }
    let dir = crate::engine::runner::run_dir(state_dir, what).map_err(|e| {
        crate::error::UserError::usage(format!("{e}, and no file or directory {what} exists"))
            .with_hint(
                "`lifeboat runs list` shows the runs; or pass a run directory or a journal file",
            )
    })?;
    Ok(dir.join(journal::JOURNAL_FILE))
}

/// One journal entry, normalized: the columns of the CSV export (documented in `docs/auditor.md`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEvent {
    pub seq: u64,
    /// The wall clock when the entry was written.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// `header`, `signature`, or the engine event (`step_started`, `approved`, ...).
    pub event: String,
    /// `STEP`, `STEP[LABEL]` (a branch labelled by its connector) or `STEP#N`.
    pub step: Option<String>,
    pub attempt: Option<u32>,
    /// `succeeded`, `failed`, `failed (retryable)`, `waiting`, ... for results.
    pub result: Option<String>,
    pub user: Option<String>,
    pub host: Option<String>,
    pub azure_principal_name: Option<String>,
    pub azure_principal_id: Option<String>,
    /// The Entra ID tenant of the principal (claimed by its token).
    pub azure_tenant_id: Option<String>,
    /// The inbox request a person's action came through (another process queued it).
    pub inbox_request: Option<String>,
    pub method: Option<String>,
    pub resource: Option<String>,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
    /// Error, comment, evidence, reason, prompt, message or outputs (redacted JSON).
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    /// The simulated time of an entry of a run on a simulated clock (a simulated drill; journal
    /// format 1.2); `time` is the wall clock either way.
    #[serde(with = "time::serde::rfc3339::option")]
    pub sim_time: Option<OffsetDateTime>,
    /// What acted on the actor's behalf (`drill`), for a person's action.
    pub via: Option<String>,
    /// The pipeline run the actor acted in (`Pipeline::describe`), for a person's action.
    pub pipeline: Option<String>,
}

/// One attempt of one step instance.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Attempt {
    pub step: String,
    pub uses: Option<String>,
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended: Option<OffsetDateTime>,
    /// `succeeded`, `failed`, `waiting`, `awaiting-approval`, `awaiting-attestation`, `running`
    /// (no result journaled: still running, or interrupted by a crash).
    pub result: String,
    pub error: Option<String>,
    /// The step's declared `with:` (templates as written; secret inputs redacted).
    pub inputs: Value,
    /// As journaled (secret outputs are redaction markers).
    pub outputs: Option<Value>,
    /// Azure calls (and other effects) journaled by this attempt.
    pub effects: usize,
}

/// A person's action: approval, attestation, skip, cancel, resume.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ManualAction {
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub action: String,
    pub step: Option<String>,
    pub by: Actor,
    /// Comment, evidence or reason.
    pub text: Option<String>,
}

/// A warning a step succeeded with (its `warnings` output): what the run could not do or
/// confirm, though it did not fail (e.g. Microsoft's side not recreated by its deadline).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordWarning {
    /// The journal entry of the step's success.
    pub seq: u64,
    /// `STEP`, `STEP[LABEL]` or `STEP#N`.
    pub step: String,
    pub text: String,
}

/// A run-end signature entry, as journaled (not checked here: see [`verify`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SignatureEntry {
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub key_fingerprint: String,
    /// The hash of the line it signs (the line before it).
    pub signed_hash: String,
}

/// The audit record of one run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditRecord {
    pub run_id: String,
    pub runbook_name: String,
    pub runbook_path: String,
    pub runbook_sha256: String,
    pub journal_format: String,
    /// `simulated` for a run driven on a simulated clock (a simulated drill: its entries carry
    /// `sim_time`), else `wall`. Every time of the record is the wall clock either way.
    pub clock: String,
    /// As journaled: secret values are redaction markers.
    pub params: Map<String, Value>,
    pub started_by: Option<Actor>,
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_entry: OffsetDateTime,
    /// `succeeded`, `failed`, `paused`, `active`, `cancelled`, or `unknown` (not replayable).
    pub status: String,
    pub entries: usize,
    /// SHA-256 of the journal's last line: what a signature signs, what an auditor writes down.
    pub final_hash: String,
    pub attempts: Vec<Attempt>,
    pub manual: Vec<ManualAction>,
    pub effects: Vec<AuditEvent>,
    pub signatures: Vec<SignatureEntry>,
    /// Every warning of a succeeded step, in journal order.
    pub warnings: Vec<RecordWarning>,
    pub events: Vec<AuditEvent>,
}

/// Reads and verifies a journal (or JSONL export) and builds its record.
pub fn load(path: &Path) -> Result<AuditRecord, JournalError> {
    let read = journal::read(path)?;
    Ok(AuditRecord::from_entries(path, read.entries, read.last_line_hash))
}

fn s(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Branch labels by step and branch index, from the replayed run (`engine::branch_labels`).
type Labels = std::collections::HashMap<(String, usize), String>;

/// `STEP`, `STEP[LABEL]` or `STEP#N`, as every other output names the instance.
fn instance(step: &str, branch: Option<u64>, labels: &Labels) -> String {
    let branch = branch.and_then(|b| usize::try_from(b).ok());
    let label = branch.and_then(|b| labels.get(&(step.to_string(), b)));
    match (branch, label) {
        (Some(b), l) => crate::engine::instance_name(step, Some(b), l.map(String::as_str)),
        (None, _) => step.to_string(),
    }
}

/// The secret inputs of every known step kind (test-only kinds included: an export of a test
/// run must redact them too).
fn secret_input(uses: &str, name: &str) -> bool {
    crate::catalog::catalog()
        .iter()
        .filter(|k| k.name == uses)
        .flat_map(|k| k.inputs.iter())
        .any(|i| i.name == name && i.secret)
}

impl AuditRecord {
    /// Builds the record from verified entries (`last_line_hash` from `journal::read`).
    pub fn from_entries(path: &Path, entries: Vec<Entry>, last_line_hash: String) -> AuditRecord {
        let header = entries.first().map(|e| e.payload.clone()).unwrap_or(Value::Null);
        let str_at = |p: &str| header.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        let format = format!(
            "{}.{}",
            header.pointer("/format/major").and_then(Value::as_u64).unwrap_or(0),
            header.pointer("/format/minor").and_then(Value::as_u64).unwrap_or(0)
        );
        // The declared inputs and kinds of each step, from the journaled plan.
        let mut declared: std::collections::HashMap<String, (String, Value)> = Default::default();
        if let Some(steps) = header.pointer("/plan/runbook/steps").and_then(Value::as_array) {
            for st in steps {
                let id = s(st, "id").unwrap_or_default();
                let uses = s(st, "uses").unwrap_or_default();
                let mut with = st.get("with").cloned().unwrap_or(Value::Object(Map::new()));
                if let Value::Object(m) = &mut with {
                    for (k, v) in m.iter_mut() {
                        if secret_input(&uses, k) && !journal::is_redacted(v) {
                            *v = journal::redact(v);
                        }
                    }
                }
                declared.insert(id, (uses, with));
            }
        }
        let mut labels = Labels::new();
        let status = {
            // A replay needs each kind's class only, which is the catalog's: no implementation.
            let registry = crate::engine::kind::Registry::empty();
            match crate::engine::runner::replay(path, entries.clone(), &registry) {
                Ok(r) => {
                    for v in r.engine.snapshot() {
                        if let (Some(b), Some(l)) = (v.branch, v.label) {
                            labels.insert((v.step, b), l);
                        }
                    }
                    status_name(&r.engine.status())
                }
                // Not replayable: branches keep their index (`STEP#N`).
                Err(_) => "unknown".into(),
            }
        };
        let mut rec = AuditRecord {
            run_id: str_at("/run_id"),
            runbook_name: str_at("/runbook/name"),
            runbook_path: str_at("/runbook/path"),
            runbook_sha256: str_at("/runbook/sha256"),
            journal_format: format,
            clock: match header.get("clock").and_then(Value::as_str) {
                Some("simulated") => "simulated".into(),
                _ => "wall".into(),
            },
            params: header.get("params").and_then(Value::as_object).cloned().unwrap_or_default(),
            started_by: header
                .get("started_by")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
            started: entries.first().map(|e| e.time).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            last_entry: entries.last().map(|e| e.time).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            status,
            entries: entries.len(),
            final_hash: last_line_hash,
            attempts: Vec::new(),
            manual: Vec::new(),
            effects: Vec::new(),
            signatures: Vec::new(),
            warnings: Vec::new(),
            events: Vec::with_capacity(entries.len()),
        };
        for e in &entries {
            let ev = rec.absorb(e, &declared, &labels);
            rec.events.push(ev);
        }
        rec
    }

    /// Normalizes one entry and updates attempts, manual actions, effects and signatures.
    fn absorb(
        &mut self,
        e: &Entry,
        declared: &std::collections::HashMap<String, (String, Value)>,
        labels: &Labels,
    ) -> AuditEvent {
        let p = &e.payload;
        let mut ev = AuditEvent {
            seq: e.seq,
            time: e.time,
            event: e.kind.clone(),
            step: None,
            attempt: None,
            result: None,
            user: None,
            host: None,
            azure_principal_name: None,
            azure_principal_id: None,
            azure_tenant_id: None,
            inbox_request: None,
            method: None,
            resource: None,
            http_status: None,
            request_id: None,
            correlation_id: None,
            detail: None,
            prev_hash: e.prev.clone(),
            hash: e.hash.clone(),
            sim_time: e.sim_time,
            via: None,
            pipeline: None,
        };
        match e.kind.as_str() {
            "header" => {
                ev.detail =
                    Some(format!("runbook {} (sha256 {})", self.runbook_name, self.runbook_sha256));
                self.set_actor(&mut ev, p.get("started_by"));
                // The warnings of the checks before the run (e.g. where its stores live).
                for w in p.get("warnings").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(text) = w.as_str() {
                        let text = text.to_string();
                        self.warnings.push(RecordWarning { seq: e.seq, step: "run".into(), text });
                    }
                }
                return ev;
            }
            "signature" => {
                let fp = s(p, "key_fingerprint").unwrap_or_default();
                let signed = s(p, "signed_hash").unwrap_or_default();
                ev.detail = Some(format!("ed25519 signature by key {fp} of hash {signed}"));
                self.signatures.push(SignatureEntry {
                    seq: e.seq,
                    time: e.time,
                    key_fingerprint: fp,
                    signed_hash: signed,
                });
                return ev;
            }
            "event" => {}
            _ => return ev,
        }
        let name = s(p, "event").unwrap_or_default();
        ev.event = name.clone();
        let step = s(p, "step");
        let branch = p.get("branch").and_then(Value::as_u64);
        ev.step = step.as_deref().map(|st| instance(st, branch, labels));
        ev.attempt = p.get("attempt").and_then(Value::as_u64).map(|a| a as u32);
        let key = (ev.step.clone().unwrap_or_default(), ev.attempt.unwrap_or(0));
        let find = |attempts: &mut Vec<Attempt>| -> Option<usize> {
            attempts.iter().rposition(|a| a.step == key.0 && a.attempt == key.1)
        };
        match name.as_str() {
            "step_started" => {
                let (uses, inputs) = step
                    .as_deref()
                    .and_then(|st| declared.get(st))
                    .map(|(u, w)| (Some(u.clone()), w.clone()))
                    .unwrap_or((None, Value::Object(Map::new())));
                if find(&mut self.attempts).is_none() {
                    self.attempts.push(Attempt {
                        step: key.0.clone(),
                        uses,
                        attempt: key.1,
                        started: e.time,
                        ended: None,
                        result: "running".into(),
                        error: None,
                        inputs,
                        outputs: None,
                        effects: 0,
                    });
                }
            }
            "step_succeeded" => {
                ev.result = Some("succeeded".into());
                let outputs = p.get("outputs").cloned().unwrap_or(Value::Null);
                ev.detail = Some(format!("outputs: {outputs}"));
                if let Some(o) = outputs.as_object() {
                    for text in crate::catalog::output_warnings(o) {
                        self.warnings.push(RecordWarning { seq: e.seq, step: key.0.clone(), text });
                    }
                }
                if let Some(i) = find(&mut self.attempts) {
                    let a = &mut self.attempts[i];
                    a.ended = Some(e.time);
                    a.result = "succeeded".into();
                    a.outputs = Some(outputs);
                }
            }
            "step_failed" => {
                let retryable = p.get("retryable").and_then(Value::as_bool).unwrap_or(false);
                ev.result =
                    Some(if retryable { "failed (retryable)" } else { "failed" }.to_string());
                ev.detail = s(p, "error");
                if let Some(i) = find(&mut self.attempts) {
                    let a = &mut self.attempts[i];
                    a.ended = Some(e.time);
                    a.result = "failed".into();
                    a.error = s(p, "error");
                }
            }
            "step_waiting" => {
                ev.result = Some("waiting".into());
                ev.detail = Some(format!(
                    "{} (until {})",
                    s(p, "message").unwrap_or_default(),
                    s(p, "until").unwrap_or_default()
                ));
                if let Some(i) = find(&mut self.attempts) {
                    self.attempts[i].result = "waiting".into();
                }
            }
            "step_awaiting_approval" | "step_awaiting_attestation" => {
                let phase = if name == "step_awaiting_approval" {
                    "awaiting-approval"
                } else {
                    "awaiting-attestation"
                };
                ev.result = Some(phase.into());
                ev.detail = s(p, "prompt").or_else(|| s(p, "instructions"));
                if let Some(i) = find(&mut self.attempts) {
                    self.attempts[i].result = phase.into();
                }
            }
            "step_progress" => {
                ev.detail = Some(format!(
                    "{}/{} {}",
                    p.get("done").and_then(Value::as_u64).unwrap_or(0),
                    p.get("total").and_then(Value::as_u64).unwrap_or(0),
                    s(p, "message").unwrap_or_default()
                ));
            }
            "scratch_saved" => {
                ev.detail = p.get("scratch").map(|v| v.to_string());
            }
            "effect_recorded" => {
                let fx = p.get("effect").cloned().unwrap_or(Value::Null);
                ev.method = s(&fx, "method");
                ev.resource = s(&fx, "resource");
                ev.http_status = fx.get("status").and_then(Value::as_u64).map(|n| n as u16);
                ev.request_id = s(&fx, "request_id");
                ev.correlation_id = s(&fx, "correlation_id");
                ev.detail = Some(format!(
                    "{} {}{}",
                    ev.method.as_deref().unwrap_or(""),
                    ev.resource.as_deref().unwrap_or(""),
                    ev.http_status.map(|s| format!(" -> {s}")).unwrap_or_default()
                ));
                if let Some(i) = find(&mut self.attempts) {
                    self.attempts[i].effects += 1;
                }
                self.effects.push(ev.clone());
            }
            "approved" | "attested" | "skipped" | "cancelled" | "resumed" | "rearmed"
            | "params_changed" => {
                self.set_actor(&mut ev, p.get("by"));
                ev.detail = s(p, "comment")
                    .or_else(|| s(p, "evidence"))
                    .or_else(|| s(p, "reason"))
                    .or_else(|| p.get("params").map(Value::to_string));
                if let Some(by) = p.get("by").and_then(|v| serde_json::from_value(v.clone()).ok()) {
                    self.manual.push(ManualAction {
                        seq: e.seq,
                        time: e.time,
                        action: name.clone(),
                        step: ev.step.clone(),
                        by,
                        text: ev.detail.clone(),
                    });
                }
                if name == "skipped" || name == "attested" {
                    // A skip or attestation ends the step instance's open attempt, if any.
                    let step_name = ev.step.clone().unwrap_or_default();
                    if let Some(a) = self
                        .attempts
                        .iter_mut()
                        .rev()
                        .find(|a| a.step == step_name && a.ended.is_none())
                    {
                        a.ended = Some(e.time);
                        a.result = name.clone();
                    } else if name == "skipped" {
                        // Skipped without an open attempt (never started, or failed for good):
                        // attempt 0 records the instance's final state.
                        let base = step.as_deref().unwrap_or_default();
                        let (uses, inputs) = declared
                            .get(base)
                            .map(|(u, w)| (Some(u.clone()), w.clone()))
                            .unwrap_or((None, Value::Object(Map::new())));
                        self.attempts.push(Attempt {
                            step: step_name,
                            uses,
                            attempt: 0,
                            started: e.time,
                            ended: Some(e.time),
                            result: "skipped".into(),
                            error: None,
                            inputs,
                            outputs: None,
                            effects: 0,
                        });
                    }
                }
                if name == "approved" {
                    let step_name = ev.step.clone().unwrap_or_default();
                    let branchless = branch.is_none();
                    // An approval without a branch approves every waiting branch of its step.
                    let base = |name: &str| name.split(['#', '[']).next().unwrap_or("").to_string();
                    for a in self.attempts.iter_mut().filter(|a| {
                        a.result == "awaiting-approval"
                            && (a.step == step_name || (branchless && base(&a.step) == step_name))
                    }) {
                        a.ended = Some(e.time);
                        a.result = "approved".into();
                    }
                }
            }
            _ => {}
        }
        ev
    }

    fn set_actor(&self, ev: &mut AuditEvent, by: Option<&Value>) {
        if let Some(by) = by {
            ev.user = s(by, "user");
            ev.host = s(by, "host");
            ev.azure_principal_id = s(by, "azure_principal");
            ev.azure_principal_name = s(by, "azure_principal_name");
            ev.via = s(by, "via");
            ev.pipeline = by
                .get("pipeline")
                .and_then(|p| serde_json::from_value::<crate::engine::Pipeline>(p.clone()).ok())
                .map(|p| p.describe());
            ev.azure_tenant_id = s(by, "azure_tenant");
            ev.inbox_request = s(by, "request");
        }
    }

    /// The last attempt of every step instance, in first-start order (the JUnit test cases).
    pub fn instances(&self) -> Vec<(&str, Vec<&Attempt>)> {
        let mut out: Vec<(&str, Vec<&Attempt>)> = Vec::new();
        for a in &self.attempts {
            match out.iter_mut().find(|(s, _)| *s == a.step) {
                Some((_, v)) => v.push(a),
                None => out.push((a.step.as_str(), vec![a])),
            }
        }
        out
    }
}

fn status_name(s: &crate::engine::Status) -> String {
    use crate::engine::Status;
    match s {
        Status::Active { .. } => "active",
        Status::Paused => "paused",
        Status::Succeeded => "succeeded",
        Status::Failed => "failed",
        Status::Cancelled => "cancelled",
    }
    .into()
}
