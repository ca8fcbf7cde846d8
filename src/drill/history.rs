//! Drill history: every drill's `report.json` is kept under
//! `<state-dir>/drills/<run-id>/report.json`, and `lifeboat drill history` lists them (RTO and
//! RPO over time).
//!
//! Listing is read-only and tolerant: a report that cannot be read or parsed (a crash mid-write
//! of an older version, a hand edit, a newer schema) becomes an entry with a `problem`, never an
//! error that hides the other drills.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::report::trend::{render_charts, DrillSummary, Flag, FlagKind, Trend, TrendPoint};
use super::report::{self, format_duration, DrillReport, SCHEMA_ID};

/// `<state-dir>/drills`.
pub fn drills_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("drills")
}

/// Keeps `report` as `<state-dir>/drills/<run-id>/report.json` and returns that path.
///
/// The run id becomes a directory name, so it must be one plain path component (letters, digits,
/// `-`, `_`, `.`, not starting with `.`): anything else is refused with `InvalidInput` before
/// anything is written.
pub fn record(state_dir: &Path, report: &DrillReport) -> io::Result<PathBuf> {
    check_run_id(&report.run_id)?;
    let dir = drills_dir(state_dir).join(&report.run_id);
    std::fs::create_dir_all(&dir)
        .map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", dir.display())))?;
    let path = dir.join("report.json");
    crate::fsutil::write_atomic(&path, report::to_json(report).as_bytes())?;
    Ok(path)
}

fn check_run_id(id: &str) -> io::Result<()> {
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id.len() <= 128
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "drill run id '{}' cannot name a history directory (use letters, digits, '-', '_' and '.', not starting with '.')",
                id.escape_debug()
            ),
        ))
    }
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// The directory name under `drills/`.
    pub run_id: String,
    pub report: PathBuf,
    #[serde(flatten)]
    pub state: EntryState,
    /// Regressions against the previous drill of the same scenario and mode, and missed targets
    /// (`report::trend`); empty for an unreadable report.
    pub flags: Vec<Flag>,
}

impl HistoryEntry {
    /// The entry as a trend point; `None` for an unreadable report.
    pub fn point(&self) -> Option<TrendPoint> {
        match &self.state {
            EntryState::Ok(s) => {
                Some(TrendPoint { run_id: self.run_id.clone(), summary: s.clone() })
            }
            EntryState::Unreadable { .. } => None,
        }
    }
}

/// The trend of the readable entries.
pub fn trend(entries: &[HistoryEntry]) -> Trend {
    Trend::new(entries.iter().filter_map(HistoryEntry::point).collect())
}

/// The trend a new drill's report is drawn against: every readable drill kept under `state_dir`
/// (another report of the same run id replaced by this one) plus `report`. A history that cannot
/// be listed gives the trend of `report` alone and says why.
pub fn trend_with(state_dir: &Path, report: &DrillReport) -> (Trend, Option<String>) {
    let (mut points, problem) = match list(state_dir) {
        Ok(entries) => (entries.iter().filter_map(HistoryEntry::point).collect(), None),
        Err(e) => (Vec::new(), Some(format!("the drill history cannot be read: {e}"))),
    };
    points.retain(|p: &TrendPoint| p.run_id != report.run_id);
    points.push(TrendPoint::of(report));
    (Trend::new(points), problem)
}

/// A readable report's figures, or why the report could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum EntryState {
    Ok(DrillSummary),
    /// The report is missing, unreadable, not JSON, or not a `v1` drill report.
    Unreadable {
        problem: String,
    },
}

/// Every drill kept under `state_dir`, oldest first (by `started_at`, then run id); unreadable
/// reports follow, by run id. A missing `drills/` directory is an empty history. Only a failure to
/// list the `drills/` directory itself is an error.
pub fn list(state_dir: &Path) -> io::Result<Vec<HistoryEntry>> {
    let dir = drills_dir(state_dir);
    let read = match std::fs::read_dir(&dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("list {}: {e}", dir.display()))),
    };
    let mut entries = Vec::new();
    for item in read {
        let item =
            item.map_err(|e| io::Error::new(e.kind(), format!("list {}: {e}", dir.display())))?;
        let path = item.path();
        if !path.is_dir() {
            continue;
        }
        let run_id = item.file_name().to_string_lossy().into_owned();
        let report = path.join("report.json");
        let state = match load(&report) {
            Ok(r) => EntryState::Ok(DrillSummary::of(&r)),
            Err(problem) => EntryState::Unreadable { problem },
        };
        entries.push(HistoryEntry { run_id, report, state, flags: Vec::new() });
    }
    entries.sort_by(|a, b| match (&a.state, &b.state) {
        (EntryState::Ok(x), EntryState::Ok(y)) => {
            x.started_at.cmp(&y.started_at).then_with(|| a.run_id.cmp(&b.run_id))
        }
        (EntryState::Ok(_), EntryState::Unreadable { .. }) => std::cmp::Ordering::Less,
        (EntryState::Unreadable { .. }, EntryState::Ok(_)) => std::cmp::Ordering::Greater,
        _ => a.run_id.cmp(&b.run_id),
    });
    let t = trend(&entries);
    for e in &mut entries {
        e.flags = t.flags_of(&e.run_id).to_vec();
    }
    Ok(entries)
}

/// Reads one kept report; the error is a sentence for the history's `problem` column.
pub fn load(path: &Path) -> Result<DrillReport, String> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            "report.json is missing (the drill may have been interrupted)".to_string()
        }
        _ => format!("report.json cannot be read: {e}"),
    })?;
    // Check the schema id first, so a report of another version says so instead of failing on
    // whichever field changed.
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("report.json is not valid JSON: {e}"))?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA_ID) => {}
        Some(other) => {
            return Err(format!(
                "report.json has schema '{}', this lifeboat reads '{SCHEMA_ID}' (upgrade lifeboat to read it)",
                other.escape_debug()
            ))
        }
        None => return Err("report.json has no 'schema' field (not a lifeboat drill report)".into()),
    }
    serde_json::from_value(value)
        .map_err(|e| format!("report.json does not match {SCHEMA_ID}: {e}"))
}

/// The `lifeboat drill history` table.
pub fn render_table(entries: &[HistoryEntry]) -> String {
    use tabled::builder::Builder;
    use tabled::settings::Style;

    if entries.is_empty() {
        return "no drill recorded yet (run `lifeboat drill`)\n".into();
    }
    let opt = |s: Option<f64>| s.map(format_duration).unwrap_or_else(|| "n/a".into());
    let with_target = |s: Option<f64>, t: Option<f64>| match t {
        Some(t) => format!("{} / {}", opt(s), format_duration(t)),
        None => opt(s),
    };
    let mut b = Builder::default();
    b.push_record([
        "started",
        "run",
        "scenario",
        "mode",
        "verdict",
        "RTO / target",
        "RTO w/o support",
        "RPO / target",
        "RTO measured + assumed",
        "flags",
    ]);
    for e in entries {
        match &e.state {
            EntryState::Ok(s) => b.push_record([
                crate::text::local_time(s.wall_started_at.unwrap_or(s.started_at)),
                e.run_id.clone(),
                s.scenario.as_str().into(),
                s.mode.as_str().into(),
                if s.passed { "passed" } else { "FAILED" }.into(),
                with_target(s.rto_seconds, s.rto_target_seconds),
                opt(s.rto_excluding_support_wait_seconds),
                with_target(s.rpo_seconds, s.rpo_target_seconds)
                    + if s.rpo_basis == Some(super::report::BasisKind::Assumed) {
                        " (assumed)"
                    } else {
                        ""
                    },
                match (s.rto_measured_seconds, s.rto_assumed_seconds) {
                    (Some(m), Some(a)) => {
                        format!("{} + {}", format_duration(m), format_duration(a))
                    }
                    _ => "n/a".into(),
                },
                flags_cell(&e.flags),
            ]),
            EntryState::Unreadable { problem } => b.push_record([
                "?".into(),
                e.run_id.clone(),
                String::new(),
                String::new(),
                "UNREADABLE".into(),
                crate::text::clean_text(problem),
                String::new(),
                String::new(),
                String::new(),
            ]),
        }
    }
    let mut t = b.build();
    t.with(Style::sharp());
    let mut out = format!("{t}\n");
    if entries.iter().any(|e| !e.flags.is_empty()) {
        out.push_str(&flags_legend());
        out.push_str(" (`--output json` gives each flag's sentence)\n");
    }
    out
}

/// What the flags column means, under the table.
fn flags_legend() -> String {
    format!(
        "flags: REGRESSION = more than {:.0}% and at least {} worse than the previous drill of the same scenario and mode (or a measure it had, missing); TARGET = a target missed",
        report::trend::REGRESSION_RATIO * 100.0,
        format_duration(report::trend::REGRESSION_MIN_SECONDS)
    )
}

fn flags_cell(flags: &[Flag]) -> String {
    flags
        .iter()
        .map(|f| match f.kind {
            FlagKind::Regression => format!("REGRESSION {}", f.short()),
            FlagKind::TargetMissed => format!("TARGET {}", f.short()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The history page template, embedded.
const HTML_TEMPLATE: &str = include_str!("../../templates/drill-history.html.hbs");

/// `lifeboat drill history --format html`: one self-contained HTML5 page (inline CSS and SVG, no
/// script, no external URL): the RTO and RPO charts (`report::trend`), the flags of the newest
/// drill, the table of every drill with its flags, and the reports that could not be read.
/// Deterministic: the same history gives the same bytes (no current time in it).
pub fn render_html(entries: &[HistoryEntry]) -> Result<String, report::RenderError> {
    use crate::text::clean_text;
    use serde_json::json;
    let t = trend(entries);
    let opt = |s: Option<f64>| s.map(format_duration).unwrap_or_else(|| "n/a".into());
    let with_target = |s: Option<f64>, t: Option<f64>| match t {
        Some(t) => format!("{} / {}", opt(s), format_duration(t)),
        None => opt(s),
    };
    let flag_view = |f: &Flag| {
        json!({
            "kind": match f.kind { FlagKind::Regression => "regression", FlagKind::TargetMissed => "target missed" },
            "short": clean_text(&f.short()),
            "message": clean_text(&f.message),
        })
    };
    let rows: Vec<_> = entries
        .iter()
        .filter_map(|e| match &e.state {
            EntryState::Ok(s) => Some(json!({
                "run_id": clean_text(&e.run_id),
                "started_at": report::rfc3339(s.started_at),
                "started": e.point().map(|p| p.date_time()).unwrap_or_default(),
                "scenario": s.scenario.as_str(),
                "mode": s.mode.as_str(),
                "tenant": clean_text(&s.tenant),
                "passed": s.passed,
                "rto": with_target(s.rto_seconds, s.rto_target_seconds),
                "rto_excluding": opt(s.rto_excluding_support_wait_seconds),
                "rpo": with_target(s.rpo_seconds, s.rpo_target_seconds),
                "flags": e.flags.iter().map(flag_view).collect::<Vec<_>>(),
            })),
            EntryState::Unreadable { .. } => None,
        })
        .collect();
    let unreadable: Vec<_> = entries
        .iter()
        .filter_map(|e| match &e.state {
            EntryState::Unreadable { problem } => Some(json!({
                "run_id": clean_text(&e.run_id),
                "problem": clean_text(problem),
            })),
            EntryState::Ok(_) => None,
        })
        .collect();
    let latest = t.points().last().map(|p| {
        json!({
            "run_id": clean_text(&p.run_id),
            "date": p.date_time(),
            "passed": p.summary.passed,
            "previous": t.previous_of(&p.run_id).map(|q| clean_text(&q.run_id)),
            "kind": format!("{} {}", p.summary.scenario.as_str(), p.summary.mode.as_str()),
            "flags": t.flags_of(&p.run_id).iter().map(flag_view).collect::<Vec<_>>(),
        })
    });
    let view = json!({
        "drills": rows.len(),
        "first": t.points().first().map(|p| p.date_time()),
        "last": t.points().last().map(|p| p.date_time()),
        "latest": latest,
        "charts": render_charts(&t, "history-", None),
        "rows": rows,
        "unreadable": unreadable,
        "legend": flags_legend(),
        "lifeboat_version": env!("CARGO_PKG_VERSION"),
    });
    let mut hb = handlebars::Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_template_string("history", HTML_TEMPLATE)
        .map_err(|e| report::RenderError::new(Box::new(e)))?;
    hb.render("history", &view).map_err(|e| report::RenderError::new(Box::new(e)))
}

/// The `--output json` form: one JSON array, entries as [`list`] orders them.
pub fn render_json(entries: &[HistoryEntry]) -> String {
    let mut s = serde_json::to_string_pretty(entries).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}
