//! The drill report: what a drill measured and concluded, schema `lifeboat/drill-report/v1`.
//!
//! The model is the contract of `report.json` (JSON Schema in `docs/drill-report.schema.json`,
//! field by field in `docs/drill-report.md`); pipelines parse it, so fields are only ever added
//! (a minor change, still `v1`), never renamed or retyped without a new schema id.
//!
//! Every time is simulated time (or real time in a live drill), taken as an input: nothing here
//! reads a clock. The measures (RTO, RPO, support wait, targets met) and the verdict are *derived*
//! by [`DrillReport::compute_verdict`] from the timeline, the verifications and the detections, so
//! a report cannot claim a pass its own data contradicts.
//!
//! Renderings: [`to_json`], [`render_html`] (one self-contained file, template
//! `templates/drill-report.html.hbs`), [`render_junit`] (Jenkins/Surefire-style JUnit XML) and
//! [`render_summary`] (the terminal table); [`write_all`] writes the files of a report directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

/// The value of the `schema` field of every report this version writes.
pub const SCHEMA_ID: &str = "lifeboat/drill-report/v1";

/// The [`Detection::kind`] a `tampered-backup` drill must produce to pass.
pub const TAMPERED_SNAPSHOT: &str = "tampered-snapshot";

/// The HTML template, embedded so a report can be written from any working directory.
const HTML_TEMPLATE: &str = include_str!("../../templates/drill-report.html.hbs");

/// What the drill rehearsed (`--scenario`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    RegionOutage,
    Throttled,
    Flaky,
    Crash,
    TamperedBackup,
}

impl Scenario {
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::RegionOutage => "region-outage",
            Scenario::Throttled => "throttled",
            Scenario::Flaky => "flaky",
            Scenario::Crash => "crash",
            Scenario::TamperedBackup => "tampered-backup",
        }
    }
}

/// Against what the drill ran: the embedded simulator, or real Azure with a second connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Simulated,
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Simulated => "simulated",
            Mode::Live => "live",
        }
    }
}

/// How a step (one branch of it, for a fan-out) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepResult {
    Succeeded,
    Failed,
    Skipped,
    /// The drill ended (or was killed without resuming) while the step was running.
    Interrupted,
}

impl StepResult {
    pub fn as_str(self) -> &'static str {
        match self {
            StepResult::Succeeded => "succeeded",
            StepResult::Failed => "failed",
            StepResult::Skipped => "skipped",
            StepResult::Interrupted => "interrupted",
        }
    }
}

/// Whom or what a step spent its time waiting on. `Support` is Microsoft's share of the RTO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitedOn {
    /// Microsoft support releasing the DevOps resources from the old connector.
    Support,
    /// The failed region coming back.
    Region,
    /// A person: an approval, an attestation, an OAuth authorization.
    Person,
    /// A plain timer.
    Timer,
}

impl WaitedOn {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitedOn::Support => "support",
            WaitedOn::Region => "region",
            WaitedOn::Person => "person",
            WaitedOn::Timer => "timer",
        }
    }
}

/// One drill, measured. See the module doc and `docs/drill-report.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    /// Always [`SCHEMA_ID`] for this version.
    pub schema: String,
    pub run_id: String,
    pub lifeboat_version: String,
    pub scenario: Scenario,
    pub mode: Mode,
    /// The simulated tenant (`small`, `large`, a file name) or, live, the tenant's display name.
    pub tenant: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// Real seconds the whole drill took on this machine (simulated time runs faster).
    pub wall_clock_seconds: f64,
    pub outage: Outage,
    pub target_region: String,
    pub recovery: Recovery,
    pub rto: Rto,
    pub rpo: Rpo,
    pub api: ApiStats,
    pub steps: Vec<StepRecord>,
    pub verifications: Vec<Verification>,
    pub detected: Vec<Detection>,
    pub not_recreated_by_microsoft: Vec<NotRecreated>,
    pub verdict: Verdict,
}

/// The injected outage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    pub region: String,
    #[serde(with = "time::serde::rfc3339")]
    pub injected_at: OffsetDateTime,
}

/// Whether the independent check after the runbook found every setting back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub verified: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
}

/// Recovery time: outage → verified recovery. Derived by [`DrillReport::compute_verdict`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Rto {
    /// `None` when recovery was not verified: there is no recovery time to measure.
    pub seconds: Option<f64>,
    /// Time inside the RTO window spent waiting on Microsoft support (the release of the DevOps
    /// resources): the union of the `waited_on: support` step intervals, so parallel branches
    /// waiting at once count once.
    pub support_wait_seconds: f64,
    /// `seconds - support_wait_seconds`: the part the customer's own process controls.
    pub excluding_support_wait_seconds: Option<f64>,
    /// `--rto-target`; compared against `seconds` (the whole outage as users live it).
    pub target_seconds: Option<f64>,
    /// `None` without a target.
    pub met: Option<bool>,
}

/// Recovery point: the age of the backup used, at the time of the outage.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Rpo {
    /// `None` when no backup was used.
    pub seconds: Option<f64>,
    pub backup_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub backup_taken_at: Option<OffsetDateTime>,
    pub target_seconds: Option<f64>,
    pub met: Option<bool>,
}

/// Counters of one class of Azure calls.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApiCounts {
    /// HTTP requests sent, retries included.
    pub calls: u64,
    pub throttled_429: u64,
    pub retries: u64,
    pub errors_5xx: u64,
    pub dropped_connections: u64,
}

/// Azure calls the drill made: totals and per operation (e.g. `PUT devops/default`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApiStats {
    #[serde(flatten)]
    pub totals: ApiCounts,
    pub by_operation: BTreeMap<String, ApiCounts>,
}

/// One step of the runbook, or one branch of a fan-out step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    /// The item label of a `for_each` branch (e.g. the connector name).
    pub branch: Option<String>,
    /// The step kind (`uses:` in the runbook).
    pub kind: String,
    /// For a skipped step, when it was skipped (then `finished_at` is the same).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    pub duration_seconds: f64,
    pub attempts: u32,
    pub result: StepResult,
    pub error: Option<String>,
    pub waited_on: Option<WaitedOn>,
}

impl StepRecord {
    /// A step record with `duration_seconds` derived from its start and end.
    #[expect(clippy::too_many_arguments, reason = "one argument per field of the record")]
    pub fn new(
        id: impl Into<String>,
        branch: Option<String>,
        kind: impl Into<String>,
        started_at: OffsetDateTime,
        finished_at: OffsetDateTime,
        attempts: u32,
        result: StepResult,
        error: Option<String>,
        waited_on: Option<WaitedOn>,
    ) -> Self {
        StepRecord {
            id: id.into(),
            branch,
            kind: kind.into(),
            started_at,
            finished_at,
            duration_seconds: seconds_between(started_at, finished_at).max(0.0),
            attempts,
            result,
            error,
            waited_on,
        }
    }

    /// `id [branch]`, how steps are named in every rendering.
    pub fn label(&self) -> String {
        match &self.branch {
            Some(b) => format!("{} [{b}]", self.id),
            None => self.id.clone(),
        }
    }
}

/// One independent check of the recovered configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub name: String,
    pub resource_id: Option<String>,
    pub passed: bool,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub detail: String,
}

/// A problem the drill was meant to detect, and did (e.g. the tampered snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// e.g. [`TAMPERED_SNAPSHOT`].
    pub kind: String,
    pub message: String,
    /// The step that detected it.
    pub step: Option<String>,
    /// Whether lifeboat refused to restore from what it detected as bad.
    pub restore_refused: bool,
}

/// What Microsoft does not recreate on the new connector (seed 000), so a drill report tells
/// people what a real recovery would lose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotRecreated {
    pub item: String,
    pub detail: String,
}

impl NotRecreated {
    /// The list from Microsoft's documented recovery procedure ("Microsoft doesn't recreate
    /// history for some functionalities ...").
    pub fn documented() -> Vec<NotRecreated> {
        [
            ("container mapping history", "container mapping data from previous runs is not recreated on the new connector"),
            ("alerts older than one week", "alerts data more than one week old is not recreated on the new connector"),
            ("IaC mapping history", "infrastructure as code (IaC) mapping history data is not recreated on the new connector"),
        ]
        .into_iter()
        .map(|(item, detail)| NotRecreated { item: item.into(), detail: detail.into() })
        .collect()
    }
}

/// The conclusion; derived by [`DrillReport::compute_verdict`], never set by hand.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    /// Why: every failed criterion when it failed, the criteria met when it passed.
    pub reasons: Vec<String>,
}

/// Seconds from `a` to `b`, rounded to the millisecond (so JSON shows `12.5`, not float noise).
pub fn seconds_between(a: OffsetDateTime, b: OffsetDateTime) -> f64 {
    round_ms((b - a).as_seconds_f64())
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// A duration for people: `850ms`, `12.5s`, `4m 05s`, `1h 02m 03s`, `2d 03h 04m`.
pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "?".into();
    }
    let neg = seconds < 0.0;
    let s = seconds.abs();
    let body = if s == 0.0 {
        "0s".to_string()
    } else if s < 1.0 {
        format!("{}ms", (s * 1000.0).round() as u64)
    } else if s < 60.0 {
        let t = (s * 10.0).round() / 10.0;
        if t.fract() == 0.0 {
            format!("{t:.0}s")
        } else {
            format!("{t:.1}s")
        }
    } else {
        let total = s.round() as u64;
        let (d, h, m, sec) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60);
        if d > 0 {
            format!("{d}d {h:02}h {m:02}m")
        } else if h > 0 {
            format!("{h}h {m:02}m {sec:02}s")
        } else {
            format!("{m}m {sec:02}s")
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// RFC 3339 in UTC with milliseconds, for the HTML and JUnit renderings: HTML's `<time
/// datetime>` allows at most three fractional digits (the Nu checker rejects nanoseconds), and
/// no reader needs more. Formatting only fails for years outside 0..=9999, which no clock of
/// ours produces; the fallback keeps the renderers total anyway.
fn rfc3339(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap_or_else(|_| t.to_string())
}

/// `1 verification passed`, `3 verifications passed`.
fn plural(n: usize, noun: &str, verb: &str) -> String {
    if n == 1 {
        format!("1 {noun} {verb}")
    } else {
        format!("{n} {noun}s {verb}")
    }
}

/// How a target reads next to its measure. A `tampered-backup` drill expects no recovery, so its
/// RTO target is shown as not judged rather than as a failure the verdict does not count.
fn target_text(
    r: &DrillReport,
    target: Option<f64>,
    met: Option<bool>,
    rto: bool,
) -> (String, &'static str) {
    match (target, met) {
        (Some(_), _) if rto && r.scenario == Scenario::TamperedBackup => {
            ("not judged: a tampered-backup drill expects no recovery".into(), "neutral")
        }
        (Some(t), Some(true)) => (format!("target {}: met", format_duration(t)), "ok"),
        (Some(t), _) => (format!("target {}: NOT MET", format_duration(t)), "bad"),
        (None, _) => ("no target set".into(), "neutral"),
    }
}

/// Seconds to the nearest whole second for human-facing cells.
fn opt_duration(s: Option<f64>) -> String {
    s.map(format_duration).unwrap_or_else(|| "n/a".into())
}

impl DrillReport {
    /// Derives the measures and the verdict from the report's own data:
    /// - `rto.seconds` = outage → `recovery.verified_at` (only when verified), the support wait
    ///   (union of `waited_on: support` step intervals inside that window), the RTO without it,
    ///   and `rto.met` against `rto.target_seconds`;
    /// - `rpo.seconds` = `backup_taken_at` → outage, and `rpo.met`;
    /// - `verdict`: for `tampered-backup`, passed iff a `tampered-snapshot` detection refused the
    ///   restore and every verification passed; otherwise passed iff recovery is verified, at least
    ///   one verification ran and all passed, every target set is met, and nothing unexpected was
    ///   detected.
    pub fn compute_verdict(&mut self) {
        self.compute_measures();
        let mut fails = Vec::new();
        let mut oks = Vec::new();

        let failed_checks: Vec<&Verification> =
            self.verifications.iter().filter(|v| !v.passed).collect();
        for v in failed_checks.iter().take(5) {
            let what = v.resource_id.as_deref().map(|r| format!(" on {r}")).unwrap_or_default();
            fails.push(format!("verification '{}'{what} failed: {}", v.name, v.detail));
        }
        if failed_checks.len() > 5 {
            fails.push(format!(
                "and {}",
                plural(failed_checks.len() - 5, "more verification", "failed")
            ));
        }

        if self.scenario == Scenario::TamperedBackup {
            let tamper: Vec<&Detection> =
                self.detected.iter().filter(|d| d.kind == TAMPERED_SNAPSHOT).collect();
            match tamper.iter().find(|d| d.restore_refused) {
                Some(d) => oks.push(format!(
                    "tampered snapshot detected and the restore refused: {}",
                    d.message
                )),
                None if tamper.is_empty() => {
                    fails.push("the tampered snapshot was not detected".into())
                }
                None => fails.push(
                    "the tampered snapshot was detected but the restore was not refused".into(),
                ),
            }
            if failed_checks.is_empty() && !self.verifications.is_empty() {
                oks.push(plural(self.verifications.len(), "verification", "passed"));
            }
        } else {
            match (self.recovery.verified, self.recovery.verified_at) {
                (true, Some(_)) => oks.push(format!(
                    "recovery verified {} after the outage",
                    opt_duration(self.rto.seconds)
                )),
                (true, None) => {
                    fails.push("recovery is marked verified but has no verified_at time".into())
                }
                (false, _) => fails.push("recovery was not verified".into()),
            }
            if self.verifications.is_empty() {
                fails.push(
                    "no verification was recorded (nothing shows the settings are back)".into(),
                );
            } else if failed_checks.is_empty() {
                oks.push(plural(self.verifications.len(), "verification", "passed"));
            }
            for d in &self.detected {
                fails.push(format!("unexpected detection {}: {}", d.kind, d.message));
            }
            Self::judge_target(
                "rto",
                self.rto.seconds,
                self.rto.target_seconds,
                self.rto.met,
                &mut oks,
                &mut fails,
            );
            Self::judge_target(
                "rpo",
                self.rpo.seconds,
                self.rpo.target_seconds,
                self.rpo.met,
                &mut oks,
                &mut fails,
            );
            if let Some(s) = self.rpo.seconds.filter(|s| *s < 0.0) {
                fails.push(format!(
                    "the backup used was taken {} after the outage was injected (a drill must restore an earlier backup)",
                    format_duration(-s)
                ));
            }
        }

        self.verdict = if fails.is_empty() {
            Verdict { passed: true, reasons: oks }
        } else {
            Verdict { passed: false, reasons: fails }
        };
    }

    fn judge_target(
        name: &str,
        seconds: Option<f64>,
        target: Option<f64>,
        met: Option<bool>,
        oks: &mut Vec<String>,
        fails: &mut Vec<String>,
    ) {
        match (met, seconds, target) {
            (Some(true), Some(s), Some(t)) => oks.push(format!(
                "{name} {} within the target {}",
                format_duration(s),
                format_duration(t)
            )),
            (Some(false), Some(s), Some(t)) => fails.push(format!(
                "{name} {} exceeds the target {}",
                format_duration(s),
                format_duration(t)
            )),
            (Some(false), None, Some(t)) => fails
                .push(format!("{name} unknown, so the target {} is not met", format_duration(t))),
            _ => {
                if let Some(s) = seconds {
                    oks.push(format!("{name} {} (no target set)", format_duration(s)));
                }
            }
        }
    }

    fn compute_measures(&mut self) {
        let outage = self.outage.injected_at;
        let verified_at = if self.recovery.verified { self.recovery.verified_at } else { None };
        // The support wait counts inside the RTO window; without a verified recovery the window
        // runs to the end of the drill, so a report still shows how long support took.
        let window_end = verified_at.unwrap_or(self.finished_at);
        let mut intervals: Vec<(OffsetDateTime, OffsetDateTime)> = self
            .steps
            .iter()
            .filter(|s| s.waited_on == Some(WaitedOn::Support))
            .map(|s| (s.started_at.max(outage), s.finished_at.min(window_end)))
            .filter(|(a, b)| a < b)
            .collect();
        intervals.sort();
        let mut wait = 0.0;
        let mut current: Option<(OffsetDateTime, OffsetDateTime)> = None;
        for (a, b) in intervals {
            current = match current {
                Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
                Some((ca, cb)) => {
                    wait += (cb - ca).as_seconds_f64();
                    Some((a, b))
                }
                None => Some((a, b)),
            };
        }
        if let Some((ca, cb)) = current {
            wait += (cb - ca).as_seconds_f64();
        }
        self.rto.support_wait_seconds = round_ms(wait);
        self.rto.seconds = verified_at.map(|v| seconds_between(outage, v));
        self.rto.excluding_support_wait_seconds =
            self.rto.seconds.map(|s| round_ms(s - self.rto.support_wait_seconds));
        self.rto.met = self.rto.target_seconds.map(|t| self.rto.seconds.is_some_and(|s| s <= t));

        self.rpo.seconds = self.rpo.backup_taken_at.map(|b| seconds_between(b, outage));
        self.rpo.met = self
            .rpo
            .target_seconds
            .map(|t| self.rpo.seconds.is_some_and(|s| (0.0..=t).contains(&s)));
    }

    /// The drill's process exit code: 0 when the verdict passed, 1 otherwise (`error::Exit`).
    pub fn exit_code(&self) -> u8 {
        if self.verdict.passed {
            crate::error::Exit::Ok.code()
        } else {
            crate::error::Exit::Failed.code()
        }
    }
}

/// `report.json`: pretty JSON, fields in schema order, a trailing newline.
pub fn to_json(report: &DrillReport) -> String {
    // Serializing plain data to a String cannot fail (no maps with non-string keys, no IO).
    let mut s =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// Replaces characters that are not allowed in HTML or XML 1.0 text (C0 controls other than
/// tab/newline/return, DEL and C1 controls, noncharacters) with U+FFFD: error text may carry ANSI
/// escapes or raw bytes from a server, and one such character makes the whole file invalid.
pub fn clean_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => '\u{fffd}',
            '\u{fdd0}'..='\u{fdef}' => '\u{fffd}',
            c if (c as u32) & 0xfffe == 0xfffe => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// An error rendering the HTML template: a bug in the template, never in the report's data.
#[derive(Debug, thiserror::Error)]
#[error("drill report template failed to render")]
pub struct RenderError(#[source] Box<dyn std::error::Error + Send + Sync>);

/// `report.html`: one self-contained HTML5 file (inline CSS, no script, no external URL).
pub fn render_html(report: &DrillReport) -> Result<String, RenderError> {
    let mut hb = handlebars::Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_template_string("report", HTML_TEMPLATE).map_err(|e| RenderError(Box::new(e)))?;
    hb.render("report", &html_view(report)).map_err(|e| RenderError(Box::new(e)))
}

/// The template's view: every string cleaned, every number formatted, timeline positions
/// computed here so the template has no logic beyond loops and conditions.
fn html_view(r: &DrillReport) -> serde_json::Value {
    let c = |s: &str| clean_text(s);
    let t0 = r
        .steps
        .iter()
        .map(|s| s.started_at)
        .chain([r.outage.injected_at])
        .min()
        .unwrap_or(r.started_at);
    let t1 = r
        .steps
        .iter()
        .map(|s| s.finished_at)
        .chain(r.recovery.verified_at)
        .chain([r.outage.injected_at])
        .max()
        .unwrap_or(r.finished_at);
    let span = (t1 - t0).as_seconds_f64().max(1.0);
    let pct = |t: OffsetDateTime| ((t - t0).as_seconds_f64() / span * 100.0).clamp(0.0, 100.0);
    let rel = |t: OffsetDateTime| {
        let s = seconds_between(r.outage.injected_at, t);
        if s < 0.0 {
            format!("T-{}", format_duration(-s))
        } else {
            format!("T+{}", format_duration(s))
        }
    };

    let steps: Vec<_> = r
        .steps
        .iter()
        .map(|s| {
            let left = pct(s.started_at);
            let width = (pct(s.finished_at) - left).max(0.0);
            json!({
                "label": c(&s.label()),
                "kind": c(&s.kind),
                "start": rel(s.started_at),
                "started_at": rfc3339(s.started_at),
                "duration": format_duration(s.duration_seconds),
                "attempts": s.attempts,
                "result": s.result.as_str(),
                "error": s.error.as_deref().map(c),
                "waited_on": s.waited_on.map(WaitedOn::as_str),
                "left": format!("{left:.3}"),
                "width": format!("{width:.3}"),
            })
        })
        .collect();
    let ticks: Vec<_> = (0..=4)
        .map(|i| {
            let f = f64::from(i) / 4.0;
            json!({ "left": format!("{:.3}", f * 100.0), "label": format!("+{}", format_duration(span * f)) })
        })
        .collect();
    let ops: Vec<_> = r
        .api
        .by_operation
        .iter()
        .map(|(op, n)| json!({ "operation": c(op), "counts": n }))
        .collect();
    let verifications: Vec<_> = r
        .verifications
        .iter()
        .map(|v| {
            json!({
                "name": c(&v.name),
                "resource_id": v.resource_id.as_deref().map(c),
                "passed": v.passed,
                "expected": v.expected.as_deref().map(c),
                "actual": v.actual.as_deref().map(c),
                "detail": c(&v.detail),
            })
        })
        .collect();
    let detected: Vec<_> = r
        .detected
        .iter()
        .map(|d| {
            json!({
                "kind": c(&d.kind), "message": c(&d.message),
                "step": d.step.as_deref().map(c), "restore_refused": d.restore_refused,
            })
        })
        .collect();
    let not_recreated: Vec<_> = r
        .not_recreated_by_microsoft
        .iter()
        .map(|n| json!({ "item": c(&n.item), "detail": c(&n.detail) }))
        .collect();
    let target = |t: Option<f64>, met: Option<bool>, rto: bool| {
        let (text, class) = target_text(r, t, met, rto);
        json!({ "text": text, "class": class })
    };

    json!({
        "run_id": c(&r.run_id),
        "schema": c(&r.schema),
        "lifeboat_version": c(&r.lifeboat_version),
        "scenario": r.scenario.as_str(),
        "mode": r.mode.as_str(),
        "tenant": c(&r.tenant),
        "started_at": rfc3339(r.started_at),
        "finished_at": rfc3339(r.finished_at),
        "wall_clock": format_duration(r.wall_clock_seconds),
        "outage_region": c(&r.outage.region),
        "outage_at": rfc3339(r.outage.injected_at),
        "target_region": c(&r.target_region),
        "verified": r.recovery.verified,
        "verified_at": r.recovery.verified_at.map(rfc3339),
        "verified_left": r.recovery.verified_at.map(|t| format!("{:.3}", pct(t))),
        "outage_left": format!("{:.3}", pct(r.outage.injected_at)),
        "passed": r.verdict.passed,
        "reasons": r.verdict.reasons.iter().map(|s| c(s)).collect::<Vec<_>>(),
        "rto": {
            "value": opt_duration(r.rto.seconds),
            "excluding": opt_duration(r.rto.excluding_support_wait_seconds),
            "support_wait": format_duration(r.rto.support_wait_seconds),
            "target": target(r.rto.target_seconds, r.rto.met, true),
        },
        "rpo": {
            "value": opt_duration(r.rpo.seconds),
            "backup_id": r.rpo.backup_id.as_deref().map(c),
            "backup_taken_at": r.rpo.backup_taken_at.map(rfc3339),
            "target": target(r.rpo.target_seconds, r.rpo.met, false),
        },
        "api": r.api.totals,
        "operations": ops,
        "steps": steps,
        "ticks": ticks,
        "verifications": verifications,
        "detected": detected,
        "not_recreated": not_recreated,
    })
}

/// Escapes text for an XML attribute or element (also newlines and tabs, so attribute values
/// keep them instead of being normalised to spaces).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in clean_text(s).chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// JUnit `time` attributes: seconds with three decimals, no exponent, never negative.
fn junit_time(s: f64) -> String {
    format!("{:.3}", if s.is_finite() { s.max(0.0) } else { 0.0 })
}

/// `junit.xml`: a `<testsuites>` with one `<testsuite>` for the drill, one `<testcase>` per step
/// (classname `drill.steps`) and per verification (`drill.verify`), plus `drill.verdict`.
/// Failed steps are `<failure>`, interrupted ones `<error>`, skipped ones `<skipped/>`. In a
/// `tampered-backup` drill, the step that refused the tampered restore failed *as expected*: it
/// is reported as passed with the explanation in `<system-out>`, so a pipeline that fails on
/// failed tests agrees with the verdict. The Jenkins/Surefire shape that Azure Pipelines
/// (`PublishTestResults`, JUnit format) and GitHub Actions test reporters read.
pub fn render_junit(r: &DrillReport) -> String {
    struct Case {
        name: String,
        classname: &'static str,
        time: f64,
        body: String,
        failure: bool,
        error: bool,
        skipped: bool,
    }
    let expected_fail: Vec<&str> = if r.scenario == Scenario::TamperedBackup {
        r.detected
            .iter()
            .filter(|d| d.kind == TAMPERED_SNAPSHOT && d.restore_refused)
            .filter_map(|d| d.step.as_deref())
            .collect()
    } else {
        Vec::new()
    };
    let mut cases = Vec::new();
    for s in &r.steps {
        let mut case = Case {
            name: s.label(),
            classname: "drill.steps",
            time: s.duration_seconds,
            body: String::new(),
            failure: false,
            error: false,
            skipped: false,
        };
        let msg = s.error.clone().unwrap_or_else(|| format!("step {}", s.result.as_str()));
        let detail = format!(
            "kind: {}\nattempts: {}\nstarted: {}\nfinished: {}\n{}",
            s.kind,
            s.attempts,
            rfc3339(s.started_at),
            rfc3339(s.finished_at),
            s.error.as_deref().unwrap_or("")
        );
        match s.result {
            StepResult::Succeeded => {}
            StepResult::Failed if expected_fail.contains(&s.id.as_str()) => {
                case.body = format!(
                    "<system-out>{}</system-out>",
                    xml_escape(&format!("failed as the tampered-backup drill expects: {msg}"))
                );
            }
            StepResult::Failed => {
                case.failure = true;
                case.body = format!(
                    "<failure message=\"{}\" type=\"step-failed\">{}</failure>",
                    xml_escape(&msg),
                    xml_escape(&detail)
                );
            }
            StepResult::Interrupted => {
                case.error = true;
                case.body = format!(
                    "<error message=\"{}\" type=\"step-interrupted\">{}</error>",
                    xml_escape(&msg),
                    xml_escape(&detail)
                );
            }
            StepResult::Skipped => {
                case.skipped = true;
                case.body = format!("<skipped message=\"{}\"/>", xml_escape(&msg));
            }
        }
        cases.push(case);
    }
    for v in &r.verifications {
        let name = match &v.resource_id {
            Some(id) => format!("{} ({id})", v.name),
            None => v.name.clone(),
        };
        let mut case = Case {
            name,
            classname: "drill.verify",
            time: 0.0,
            body: String::new(),
            failure: false,
            error: false,
            skipped: false,
        };
        if !v.passed {
            case.failure = true;
            let text = format!(
                "expected: {}\nactual: {}\n{}",
                v.expected.as_deref().unwrap_or("n/a"),
                v.actual.as_deref().unwrap_or("n/a"),
                v.detail
            );
            case.body = format!(
                "<failure message=\"{}\" type=\"verification-failed\">{}</failure>",
                xml_escape(&v.detail),
                xml_escape(&text)
            );
        }
        cases.push(case);
    }
    let mut verdict = Case {
        name: "verdict".into(),
        classname: "drill.verdict",
        time: r.wall_clock_seconds,
        body: String::new(),
        failure: false,
        error: false,
        skipped: false,
    };
    let reasons = r.verdict.reasons.join("\n");
    if r.verdict.passed {
        verdict.body = format!("<system-out>{}</system-out>", xml_escape(&reasons));
    } else {
        verdict.failure = true;
        let first = r.verdict.reasons.first().cloned().unwrap_or_else(|| "drill failed".into());
        verdict.body = format!(
            "<failure message=\"{}\" type=\"drill-verdict\">{}</failure>",
            xml_escape(&first),
            xml_escape(&reasons)
        );
    }
    cases.push(verdict);

    let tests = cases.len();
    let failures = cases.iter().filter(|c| c.failure).count();
    let errors = cases.iter().filter(|c| c.error).count();
    let skipped = cases.iter().filter(|c| c.skipped).count();
    let suite_time = junit_time(r.wall_clock_seconds);
    let suite_name = format!("lifeboat drill {} ({})", r.scenario.as_str(), r.run_id);
    // Surefire's timestamp is a local date-time without offset; the report's start is UTC-based.
    let ts = r.started_at.to_offset(time::UtcOffset::UTC);
    let timestamp = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        ts.year(),
        u8::from(ts.month()),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second()
    );

    let mut props: Vec<(&str, String)> = vec![
        ("schema", r.schema.clone()),
        ("run_id", r.run_id.clone()),
        ("scenario", r.scenario.as_str().into()),
        ("mode", r.mode.as_str().into()),
        ("tenant", r.tenant.clone()),
        ("outage_region", r.outage.region.clone()),
        ("target_region", r.target_region.clone()),
        ("recovery_verified", r.recovery.verified.to_string()),
        ("verdict", if r.verdict.passed { "passed" } else { "failed" }.into()),
    ];
    let num = |o: Option<f64>| o.map(|v| v.to_string()).unwrap_or_default();
    props.push(("rto_seconds", num(r.rto.seconds)));
    props.push(("rto_support_wait_seconds", r.rto.support_wait_seconds.to_string()));
    props.push(("rto_excluding_support_wait_seconds", num(r.rto.excluding_support_wait_seconds)));
    props.push(("rto_target_seconds", num(r.rto.target_seconds)));
    props.push(("rpo_seconds", num(r.rpo.seconds)));
    props.push(("rpo_target_seconds", num(r.rpo.target_seconds)));
    props.push(("rpo_backup_id", r.rpo.backup_id.clone().unwrap_or_default()));
    props.push(("api_calls", r.api.totals.calls.to_string()));
    props.push(("api_throttled_429", r.api.totals.throttled_429.to_string()));

    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"lifeboat drill\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{suite_time}\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{suite_time}\" timestamp=\"{timestamp}\" id=\"{}\" package=\"drill\">",
        xml_escape(&suite_name),
        xml_escape(&r.run_id)
    );
    x.push_str("    <properties>\n");
    for (name, value) in props {
        let _ = writeln!(x, "      <property name=\"{name}\" value=\"{}\"/>", xml_escape(&value));
    }
    x.push_str("    </properties>\n");
    for c in cases {
        let open = format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            xml_escape(&c.name),
            c.classname,
            junit_time(c.time)
        );
        if c.body.is_empty() {
            let _ = writeln!(x, "{open}/>");
        } else {
            let _ = writeln!(x, "{open}>{}</testcase>", c.body);
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// The terminal summary: the step table, then RTO (with and without support wait), RPO, API
/// calls and 429s, and the verdict with its reasons. Starts are relative to the outage
/// (`T+4m 05s`), which is what the RTO is measured from.
pub fn render_summary(r: &DrillReport) -> String {
    use tabled::builder::Builder;
    use tabled::settings::Style;

    let rel = |t: OffsetDateTime| {
        let s = seconds_between(r.outage.injected_at, t);
        if s < 0.0 {
            format!("T-{}", format_duration(-s))
        } else {
            format!("T+{}", format_duration(s))
        }
    };
    let mut steps = Builder::default();
    steps.push_record(["step", "start", "duration", "attempts", "result"]);
    for s in &r.steps {
        let result = match (s.result, s.waited_on) {
            (res, Some(w)) => format!("{} (waited on {})", res.as_str(), w.as_str()),
            (res, None) => res.as_str().to_string(),
        };
        steps.push_record([
            clean_text(&s.label()),
            rel(s.started_at),
            format_duration(s.duration_seconds),
            s.attempts.to_string(),
            result,
        ]);
    }
    let mut steps = steps.build();
    steps.with(Style::sharp());

    let target = |t: Option<f64>, met: Option<bool>, rto: bool| target_text(r, t, met, rto).0;
    let mut m = Builder::default();
    m.push_record(["measure", "value", "against"]);
    m.push_record([
        "RTO".to_string(),
        opt_duration(r.rto.seconds),
        target(r.rto.target_seconds, r.rto.met, true),
    ]);
    m.push_record([
        "RTO without support wait".to_string(),
        opt_duration(r.rto.excluding_support_wait_seconds),
        format!("support wait {}", format_duration(r.rto.support_wait_seconds)),
    ]);
    m.push_record([
        "RPO".to_string(),
        opt_duration(r.rpo.seconds),
        format!(
            "{} (backup {})",
            target(r.rpo.target_seconds, r.rpo.met, false),
            r.rpo.backup_id.as_deref().map(clean_text).unwrap_or_else(|| "none".into())
        ),
    ]);
    m.push_record([
        "API calls".to_string(),
        r.api.totals.calls.to_string(),
        format!(
            "{} retries, {} 5xx, {} dropped connections",
            r.api.totals.retries, r.api.totals.errors_5xx, r.api.totals.dropped_connections
        ),
    ]);
    m.push_record([
        "429 throttled".to_string(),
        r.api.totals.throttled_429.to_string(),
        String::new(),
    ]);
    let mut m = m.build();
    m.with(Style::sharp());

    let mut out = format!(
        "drill {} · {} · {} · tenant {} · outage {} → {}\n",
        clean_text(&r.run_id),
        r.scenario.as_str(),
        r.mode.as_str(),
        clean_text(&r.tenant),
        clean_text(&r.outage.region),
        clean_text(&r.target_region)
    );
    let _ = writeln!(out, "{steps}");
    for s in
        r.steps.iter().filter(|s| matches!(s.result, StepResult::Failed | StepResult::Interrupted))
    {
        if let Some(e) = &s.error {
            let _ = writeln!(
                out,
                "{} {}: {}",
                s.label(),
                s.result.as_str(),
                clean_text(e).replace('\n', "\n    ")
            );
        }
    }
    let _ = writeln!(out, "{m}");
    let _ = writeln!(out, "wall clock: {}", format_duration(r.wall_clock_seconds));
    let _ = writeln!(out, "verdict: {}", if r.verdict.passed { "PASSED" } else { "FAILED" });
    for reason in &r.verdict.reasons {
        let _ = writeln!(out, "  - {}", clean_text(reason));
    }
    out
}

/// The files [`write_all`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub json: PathBuf,
    pub html: PathBuf,
    pub junit: Option<PathBuf>,
}

/// Writes `report.json` and `report.html` into `dir` (created if missing) and, when asked, the
/// JUnit XML to `junit`. Each file is written to a temporary sibling and renamed, so a reader
/// (a pipeline's artifact upload, a browser) never sees half a report.
pub fn write_all(report: &DrillReport, dir: &Path, junit: Option<&Path>) -> io::Result<Written> {
    std::fs::create_dir_all(dir).map_err(|e| with_path(e, "create report directory", dir))?;
    let html = render_html(report).map_err(io::Error::other)?;
    let json_path = dir.join("report.json");
    let html_path = dir.join("report.html");
    write_atomic(&json_path, to_json(report).as_bytes())?;
    write_atomic(&html_path, html.as_bytes())?;
    let junit_path = match junit {
        Some(p) => {
            if let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| with_path(e, "create directory", parent))?;
            }
            write_atomic(p, render_junit(report).as_bytes())?;
            Some(p.to_path_buf())
        }
        None => None,
    };
    Ok(Written { json: json_path, html: html_path, junit: junit_path })
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Writes `bytes` to `path` through a temporary sibling and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name =
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| with_path(e, "write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        with_path(e, "rename into place", path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

    fn at(s: i64) -> OffsetDateTime {
        T0 + Duration::seconds(s)
    }

    fn report(steps: Vec<StepRecord>, verified_at: Option<i64>) -> DrillReport {
        DrillReport {
            schema: SCHEMA_ID.into(),
            run_id: "r".into(),
            lifeboat_version: "0".into(),
            scenario: Scenario::RegionOutage,
            mode: Mode::Simulated,
            tenant: "small".into(),
            started_at: at(-100),
            finished_at: at(1000),
            wall_clock_seconds: 1.0,
            outage: Outage { region: "eastus".into(), injected_at: T0 },
            target_region: "westus2".into(),
            recovery: Recovery {
                verified: verified_at.is_some(),
                verified_at: verified_at.map(at),
            },
            rto: Rto::default(),
            rpo: Rpo { backup_taken_at: Some(at(-50)), ..Rpo::default() },
            api: ApiStats::default(),
            steps,
            verifications: vec![Verification {
                name: "v".into(),
                resource_id: None,
                passed: true,
                expected: None,
                actual: None,
                detail: String::new(),
            }],
            detected: vec![],
            not_recreated_by_microsoft: NotRecreated::documented(),
            verdict: Verdict::default(),
        }
    }

    fn wait(a: i64, b: i64, on: WaitedOn) -> StepRecord {
        StepRecord::new(
            "w",
            None,
            "wait.until",
            at(a),
            at(b),
            1,
            StepResult::Succeeded,
            None,
            Some(on),
        )
    }

    #[test]
    fn support_wait_is_the_union_of_intervals_clipped_to_the_rto_window() {
        // Overlapping 10..50 and 30..70, disjoint 100..120, one before the outage (-20..5, clipped
        // to 0..5), one after verification (600..900, clipped away), a person wait (not counted).
        let steps = vec![
            wait(10, 50, WaitedOn::Support),
            wait(30, 70, WaitedOn::Support),
            wait(100, 120, WaitedOn::Support),
            wait(-20, 5, WaitedOn::Support),
            wait(600, 900, WaitedOn::Support),
            wait(200, 300, WaitedOn::Person),
        ];
        let mut r = report(steps, Some(500));
        r.compute_verdict();
        assert_eq!(r.rto.support_wait_seconds, 5.0 + 60.0 + 20.0);
        assert_eq!(r.rto.seconds, Some(500.0));
        assert_eq!(r.rto.excluding_support_wait_seconds, Some(415.0));
        assert_eq!(r.rpo.seconds, Some(50.0));
        assert!(r.verdict.passed, "{:?}", r.verdict.reasons);
    }

    #[test]
    fn without_verification_the_wait_runs_to_the_end_and_rto_is_unknown() {
        let mut r = report(vec![wait(10, 2000, WaitedOn::Support)], None);
        r.rto.target_seconds = Some(3600.0);
        r.compute_verdict();
        assert_eq!(r.rto.support_wait_seconds, 990.0);
        assert_eq!(r.rto.seconds, None);
        assert_eq!(r.rto.met, Some(false));
        assert!(!r.verdict.passed);
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn a_backup_taken_after_the_outage_fails() {
        let mut r = report(vec![], Some(10));
        r.rpo.backup_taken_at = Some(at(30));
        r.rpo.target_seconds = Some(3600.0);
        r.compute_verdict();
        assert_eq!(r.rpo.seconds, Some(-30.0));
        assert_eq!(r.rpo.met, Some(false));
        assert!(
            r.verdict.reasons.iter().any(|s| s.contains("taken 30s after the outage")),
            "{:?}",
            r.verdict.reasons
        );
    }

    #[test]
    fn an_unexpected_detection_fails_a_normal_drill() {
        let mut r = report(vec![], Some(10));
        r.detected.push(Detection {
            kind: TAMPERED_SNAPSHOT.into(),
            message: "m".into(),
            step: None,
            restore_refused: true,
        });
        r.compute_verdict();
        assert_eq!(r.verdict.reasons, vec!["unexpected detection tampered-snapshot: m"]);
    }

    #[test]
    fn clean_text_replaces_only_forbidden_characters() {
        assert_eq!(clean_text("a\tb\nc\r<&>é"), "a\tb\nc\r<&>é");
        assert_eq!(
            clean_text("\u{1b}[0m\u{0}\u{7f}\u{85}\u{fffe}\u{1ffff}\u{fdd0}"),
            "\u{fffd}[0m\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}"
        );
    }
}
