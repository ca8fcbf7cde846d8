//! The drill report: what a drill measured and concluded, schema `lifeboat/drill-report/v1`.
//!
//! The model (this module) is the contract of `report.json` (JSON Schema in
//! `docs/drill-report.schema.json`, field by field in `docs/drill-report.md`); pipelines parse
//! it, so fields are only ever added (a minor change, still `v1`), never renamed or retyped
//! without a new schema id.
//!
//! Every time of the timeline is simulated time (or real time in a live drill), taken as an
//! input: nothing here reads a clock. [`DrillReport::wall_clock`] says when the drill really ran.
//! The measures (RTO, RPO, support wait, targets met, the RTO's measured and assumed parts) and
//! the verdict are *derived* by [`DrillReport::compute_verdict`] (`verdict`) from the timeline,
//! the verifications and the detections, so a report cannot claim a pass its own data
//! contradicts. What the drill did not measure is listed in [`DrillReport::assumptions`], each
//! with its value and its source: no constant passes as a measurement.
//!
//! Renderings, one module each: [`to_json`] (here: the model as it serialises),
//! [`render_html`] (`html`: one self-contained file, template `templates/drill-report.html.hbs`),
//! [`render_junit`] (`junit`: Jenkins/Surefire-style JUnit XML) and [`render_summary`]
//! (`summary`: the terminal table); [`write_all`] (`write`) writes the files of a report
//! directory. `trend` holds what a report is compared with: past drills' RTO and RPO, the
//! regression and missed-target flags, the SVG charts (`report.html` and the history page).

mod html;
mod junit;
mod live;
mod summary;
pub mod trend;
mod verdict;
mod write;

pub use html::{render_html, render_html_with_trend, RenderError};
pub use junit::render_junit;
pub use live::{under_production, LedgerCleanup, LiveEvidence, NotRehearsed, WriteEffect};
pub use summary::render_summary;
pub use trend::{render_trend_summary, Flag, FlagKind, Measure, Trend, TrendPoint};
pub use write::{write_all, write_all_with_trend, Written};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The value of the `schema` field of every report this version writes.
pub const SCHEMA_ID: &str = "lifeboat/drill-report/v1";

/// The [`Detection::kind`] a `tampered-backup` drill must produce to pass.
pub const TAMPERED_SNAPSHOT: &str = "tampered-snapshot";

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
    /// When the drill really ran, on the wall clock (v1 minor addition; absent in older
    /// reports). In a simulated drill every other time is simulated: simulated time starts at the
    /// wall clock's second the simulator started, then runs ahead of it.
    #[serde(default)]
    pub wall_clock: Option<WallClock>,
    /// What the drill did not measure but assumed, each with its value and source (v1 minor
    /// addition; empty in older reports).
    #[serde(default)]
    pub assumptions: Vec<Assumption>,
    /// A live drill's evidence (`mode: live`): its writes checked against production, and what
    /// it did not rehearse. `null` in simulated drills (absent from reports of earlier versions).
    #[serde(default)]
    pub live: Option<LiveEvidence>,
    /// What the drilled tenant held and what the recovery brought back, by resource kind.
    /// `null` in live drills (absent from reports of earlier versions).
    #[serde(default)]
    pub resources: Option<Resources>,
}

/// What the drilled tenant held and what the recovery brought back, counted by resource kind
/// (the kinds of backup manifests: `connector`, `devops-configuration`, `azure-devops-org`,
/// `azure-devops-project`, `azure-devops-repo`, `github-owner`, `github-repo`, `gitlab-group`,
/// `gitlab-project`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resources {
    /// What the simulator was seeded with: `snapshot` (`drill --from-backup`: the organisation's
    /// snapshot) or `tenant` (a built-in or file tenant, backed up by the drill itself).
    pub seeded_from: String,
    /// The organisation's backup store (`--from-backup` only).
    pub store: Option<String>,
    /// Every resource of the snapshot restored from.
    pub in_snapshot: BTreeMap<String, u64>,
    /// The failed region's share of it: what the recovery must bring back.
    pub to_restore: BTreeMap<String, u64>,
    /// What the independent check found back, on the new connectors, as in the snapshot.
    pub restored: BTreeMap<String, u64>,
    /// What the seeding decided that the snapshot could not tell, and newer snapshots passed
    /// over because they do not verify.
    pub notes: Vec<String>,
}

/// When the drill really ran (the wall clock, whatever clock its timeline is on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WallClock {
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
}

/// Whether a figure of the report was measured or assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BasisKind {
    Measured,
    Assumed,
}

impl BasisKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BasisKind::Measured => "measured",
            BasisKind::Assumed => "assumed",
        }
    }
}

/// A figure's basis: measured or assumed, and from where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Basis {
    pub kind: BasisKind,
    pub source: String,
}

/// What an [`Assumption`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppliesTo {
    Rto,
    Rpo,
}

/// A value the drill assumed instead of measuring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assumption {
    /// `support-wait`, `response-time`, `oauth-authorization`, `backup-age`, ...
    pub name: String,
    pub applies_to: AppliesTo,
    /// The value assumed (for `response-time`: per answer of the drill standing in for a person).
    pub seconds: f64,
    /// The flag that sets it, if one does (`--support-wait`).
    pub option: Option<String>,
    /// Where the value comes from: the flag as given, or the default and why.
    pub source: String,
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
    /// The part of `seconds` lifeboat's own work took (its steps and API calls, as measured
    /// against the simulator or Azure): `seconds - assumed_seconds`. v1 minor addition: `None`
    /// in older reports and without a verified recovery.
    #[serde(default)]
    pub measured_seconds: Option<f64>,
    /// The part of `seconds` when the recovery waited on nothing but assumed delays (the
    /// support desk, people): `assumed_support_seconds + assumed_people_seconds`.
    #[serde(default)]
    pub assumed_seconds: Option<f64>,
    /// Time when only `waited_on: support` steps ran (nothing else progressed).
    #[serde(default)]
    pub assumed_support_seconds: Option<f64>,
    /// Time when only `waited_on: person` steps ran (nothing else progressed, no support wait).
    #[serde(default)]
    pub assumed_people_seconds: Option<f64>,
    /// What the measured part is and where it was measured (the simulator's model, or Azure).
    #[serde(default)]
    pub measured_source: Option<String>,
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
    /// Whether `seconds` was measured (a real snapshot's age) or assumed (the drill backed up
    /// itself and chose the backup's age), and from where. v1 minor addition.
    #[serde(default)]
    pub basis: Option<Basis>,
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
    /// The label of a `for_each` branch (its connector's name, as `lifeboat status` shows it
    /// in `step[label]`), or `#N` for a branch without one.
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

    /// `id[label]` (or `id#N` for a branch without a label), how steps are named in every
    /// rendering, as in `lifeboat status`.
    pub fn label(&self) -> String {
        match &self.branch {
            Some(b) if b.starts_with('#') => format!("{}{b}", self.id),
            Some(b) => format!("{}[{b}]", self.id),
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
    /// Nothing failed, but part of what the drill is meant to rehearse was not (a live drill
    /// without an OAuth code): `passed` is false, and the reasons say what was not rehearsed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

impl Verdict {
    /// `PASSED`, `PARTIAL` or `FAILED`.
    pub fn word(&self) -> &'static str {
        match (self.passed, self.partial) {
            (true, _) => "PASSED",
            (false, true) => "PARTIAL",
            (false, false) => "FAILED",
        }
    }
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

/// Seconds to the nearest whole second for human-facing cells.
fn opt_duration(s: Option<f64>) -> String {
    s.map(format_duration).unwrap_or_else(|| "n/a".into())
}

/// `report.json`: pretty JSON, fields in schema order, a trailing newline.
pub fn to_json(report: &DrillReport) -> String {
    // Serializing plain data to a String cannot fail (no maps with non-string keys, no IO).
    let mut s =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

// ------------------------------------------------------------ shared by the renderings

/// RFC 3339 in UTC with milliseconds, for the HTML and JUnit renderings: HTML's `<time
/// datetime>` allows at most three fractional digits (the Nu checker rejects nanoseconds), and
/// no reader needs more. Formatting only fails for years outside 0..=9999, which no clock of
/// ours produces; the fallback keeps the renderers total anyway.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap_or_else(|_| t.to_string())
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
