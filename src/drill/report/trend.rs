//! The trend of past drills: RTO and RPO drill after drill, the flags that say a drill got worse
//! (against the previous comparable drill, or against its targets), and the inline SVG charts of
//! `report.html` and `lifeboat drill history --format html`.
//!
//! Pure: the points come from kept reports (`history`), nothing here reads a clock or a file, so
//! the same history always renders the same bytes (snapshot tests rely on it).
//!
//! Rules (also in `docs/drill.md`, "Trend and regression flags"):
//! - a **regression** is a measure (RTO, RTO excluding the support wait, RPO) more than
//!   [`REGRESSION_RATIO`] worse than in the previous drill of the same scenario and mode, and worse
//!   by at least [`REGRESSION_MIN_SECONDS`] (so a sub-minute jitter is not a regression), or a
//!   measure the previous drill had and this one lacks (recovery not verified, no backup used);
//! - a **missed target** is an RTO or RPO target set and not met, exactly as the verdict judges it
//!   (a `tampered-backup` drill's RTO target is not judged, as in the verdict).
//!
//! Flags inform: they never change a drill's verdict or exit status (a missed target already
//! fails the verdict; a regression within the targets is a warning for people).

use super::{format_duration, DrillReport, Mode, Scenario};
use crate::text::xml_escape;
use serde::Serialize;
use std::fmt::Write as _;
use time::OffsetDateTime;

/// A measure is a regression when it is worse than the previous drill's by more than this
/// fraction (0.20: 20 %) ...
pub const REGRESSION_RATIO: f64 = 0.20;
/// ... and by at least this many seconds.
pub const REGRESSION_MIN_SECONDS: f64 = 60.0;
/// A chart draws at most this many drills, the newest; the table and JSON keep them all.
pub const CHART_MAX_POINTS: usize = 50;

/// What the history shows of one drill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillSummary {
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub scenario: Scenario,
    pub mode: Mode,
    pub tenant: String,
    pub passed: bool,
    pub rto_seconds: Option<f64>,
    pub rto_excluding_support_wait_seconds: Option<f64>,
    pub rto_target_seconds: Option<f64>,
    pub rpo_seconds: Option<f64>,
    pub rpo_target_seconds: Option<f64>,
    /// The RTO's measured part (lifeboat's own work); `None` in reports before it was split.
    pub rto_measured_seconds: Option<f64>,
    /// The RTO's assumed part (support desk, people: see the report's `assumptions`).
    pub rto_assumed_seconds: Option<f64>,
    /// Whether the RPO was `measured` or `assumed`; `None` in older reports.
    pub rpo_basis: Option<super::BasisKind>,
    /// When the drill really ran (wall clock); `None` in older reports, whose `started_at` is
    /// the simulated start (the same second, give or take one).
    #[serde(with = "time::serde::rfc3339::option")]
    pub wall_started_at: Option<OffsetDateTime>,
}

impl DrillSummary {
    /// The summary of a report: the one place a report's figures are copied out.
    pub fn of(r: &DrillReport) -> Self {
        DrillSummary {
            started_at: r.started_at,
            scenario: r.scenario,
            mode: r.mode,
            tenant: r.tenant.clone(),
            passed: r.verdict.passed,
            rto_seconds: r.rto.seconds,
            rto_excluding_support_wait_seconds: r.rto.excluding_support_wait_seconds,
            rto_target_seconds: r.rto.target_seconds,
            rpo_seconds: r.rpo.seconds,
            rpo_target_seconds: r.rpo.target_seconds,
            rto_measured_seconds: r.rto.measured_seconds,
            rto_assumed_seconds: r.rto.assumed_seconds,
            rpo_basis: r.rpo.basis.as_ref().map(|b| b.kind),
            wall_started_at: r.wall_clock.as_ref().map(|w| w.started_at),
        }
    }
}

/// One drill as the trend sees it: its run and its summary.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    pub run_id: String,
    pub summary: DrillSummary,
}

impl TrendPoint {
    /// The point of a report.
    pub fn of(r: &DrillReport) -> Self {
        TrendPoint { run_id: r.run_id.clone(), summary: DrillSummary::of(r) }
    }

    fn value(&self, m: Measure) -> Option<f64> {
        match m {
            Measure::Rto => self.summary.rto_seconds,
            Measure::RtoExcludingSupportWait => self.summary.rto_excluding_support_wait_seconds,
            Measure::Rpo => self.summary.rpo_seconds,
        }
    }

    fn target(&self, m: Measure) -> Option<f64> {
        match m {
            Measure::Rto => self.summary.rto_target_seconds,
            Measure::RtoExcludingSupportWait => None,
            Measure::Rpo => self.summary.rpo_target_seconds,
        }
    }

    /// `2026-03-02 09:00 UTC`.
    pub fn date_time(&self) -> String {
        let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        self.summary
            .started_at
            .to_offset(time::UtcOffset::UTC)
            .format(&fmt)
            .unwrap_or_else(|_| self.summary.started_at.to_string())
    }

    fn date(&self) -> String {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        self.summary
            .started_at
            .to_offset(time::UtcOffset::UTC)
            .format(&fmt)
            .unwrap_or_else(|_| self.summary.started_at.to_string())
    }
}

/// What a flag is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Rto,
    RtoExcludingSupportWait,
    Rpo,
}

impl Measure {
    pub const ALL: [Measure; 3] = [Measure::Rto, Measure::RtoExcludingSupportWait, Measure::Rpo];

    /// How people read it: `RTO`, `RTO excluding support wait`, `RPO`.
    pub fn label(self) -> &'static str {
        match self {
            Measure::Rto => "RTO",
            Measure::RtoExcludingSupportWait => "RTO excluding support wait",
            Measure::Rpo => "RPO",
        }
    }

    /// Why a drill has no value of it.
    fn missing(self) -> &'static str {
        match self {
            Measure::Rto | Measure::RtoExcludingSupportWait => "recovery not verified",
            Measure::Rpo => "no backup used",
        }
    }
}

/// The two kinds of flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlagKind {
    /// Worse than the previous comparable drill (see the module doc).
    Regression,
    /// A target set and not met (above it, or no value to meet it with).
    TargetMissed,
}

/// One flag on one drill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    pub kind: FlagKind,
    pub measure: Measure,
    /// This drill's value; `null` when it has none.
    pub seconds: Option<f64>,
    /// What it is compared with: the previous drill's value, or the target.
    pub reference_seconds: f64,
    /// A regression: the drill compared with.
    pub previous_run_id: Option<String>,
    /// A regression: how much worse, in percent of the previous value (`null` when that was 0 or
    /// this drill has no value).
    pub change_percent: Option<f64>,
    /// The flag as a sentence.
    pub message: String,
}

impl Flag {
    /// A few words for a table cell: `RTO +36%`, `RPO over target`.
    pub fn short(&self) -> String {
        match (self.kind, self.seconds, self.change_percent) {
            (FlagKind::Regression, _, Some(p)) => format!("{} +{p:.0}%", self.measure.label()),
            (FlagKind::Regression, Some(_), None) => format!("{} up from 0s", self.measure.label()),
            (FlagKind::Regression, None, _) => format!("{} missing", self.measure.label()),
            (FlagKind::TargetMissed, _, _) => format!("{} over target", self.measure.label()),
        }
    }
}

/// The drills of a history in order (oldest first, by start time then run id) with each one's
/// flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    points: Vec<TrendPoint>,
    flags: Vec<Vec<Flag>>,
    previous: Vec<Option<usize>>,
}

impl Trend {
    /// Orders the points and derives every flag. Two points with the same run id keep the first
    /// (after ordering): a history has one report per run id.
    pub fn new(mut points: Vec<TrendPoint>) -> Trend {
        points.sort_by(|a, b| {
            a.summary.started_at.cmp(&b.summary.started_at).then_with(|| a.run_id.cmp(&b.run_id))
        });
        let mut seen = std::collections::BTreeSet::new();
        points.retain(|p| seen.insert(p.run_id.clone()));
        let previous: Vec<Option<usize>> = (0..points.len())
            .map(|i| {
                (0..i).rev().find(|&j| {
                    points[j].summary.scenario == points[i].summary.scenario
                        && points[j].summary.mode == points[i].summary.mode
                })
            })
            .collect();
        let flags = (0..points.len())
            .map(|i| flags_of(&points[i], previous[i].map(|j| &points[j])))
            .collect();
        Trend { points, flags, previous }
    }

    /// The drills, oldest first.
    pub fn points(&self) -> &[TrendPoint] {
        &self.points
    }

    fn index(&self, run_id: &str) -> Option<usize> {
        self.points.iter().position(|p| p.run_id == run_id)
    }

    /// The flags of a drill (none for a run id not in the trend).
    pub fn flags_of(&self, run_id: &str) -> &[Flag] {
        self.index(run_id).map(|i| self.flags[i].as_slice()).unwrap_or(&[])
    }

    /// The drill a drill's regressions are judged against: the latest earlier one of the same
    /// scenario and mode.
    pub fn previous_of(&self, run_id: &str) -> Option<&TrendPoint> {
        self.index(run_id).and_then(|i| self.previous[i]).map(|j| &self.points[j])
    }
}

fn percent(value: f64) -> String {
    format!("{value:.0}%")
}

/// The flags of `current` against its own targets and against `previous`.
fn flags_of(current: &TrendPoint, previous: Option<&TrendPoint>) -> Vec<Flag> {
    let mut flags = Vec::new();
    for m in Measure::ALL {
        let value = current.value(m);
        let Some(prev) = previous else { continue };
        let Some(before) = prev.value(m) else { continue };
        let name = m.label();
        let (regressed, change, message) = match value {
            None => (
                true,
                None,
                format!(
                    "no {name} ({}), where drill {} had {}",
                    m.missing(),
                    prev.run_id,
                    format_duration(before)
                ),
            ),
            Some(now) => {
                let worse = now - before;
                let change = (before > 0.0).then(|| worse / before * 100.0);
                let regressed =
                    now > before * (1.0 + REGRESSION_RATIO) && worse >= REGRESSION_MIN_SECONDS;
                let by = match change {
                    Some(c) => format!("{} worse than", percent(c)),
                    None => "up from".into(),
                };
                (
                    regressed,
                    change,
                    format!(
                        "{name} {} is {by} {} in drill {} (a regression is more than {} and at least {} worse)",
                        format_duration(now),
                        format_duration(before),
                        prev.run_id,
                        percent(REGRESSION_RATIO * 100.0),
                        format_duration(REGRESSION_MIN_SECONDS)
                    ),
                )
            }
        };
        if regressed {
            flags.push(Flag {
                kind: FlagKind::Regression,
                measure: m,
                seconds: value,
                reference_seconds: before,
                previous_run_id: Some(prev.run_id.clone()),
                change_percent: change.map(|c| (c * 10.0).round() / 10.0),
                message,
            });
        }
    }
    for m in [Measure::Rto, Measure::Rpo] {
        let Some(target) = current.target(m) else { continue };
        if m == Measure::Rto && current.summary.scenario == Scenario::TamperedBackup {
            continue; // not judged: a tampered-backup drill expects no recovery (the verdict's rule)
        }
        let value = current.value(m);
        // The verdict's rule: RTO within the target; RPO between 0 and the target.
        let met = value.is_some_and(|v| v <= target && (m == Measure::Rto || v >= 0.0));
        if met {
            continue;
        }
        let message = match value {
            Some(v) if v > target => format!(
                "{} {} is above the target {}",
                m.label(),
                format_duration(v),
                format_duration(target)
            ),
            Some(v) => format!(
                "{} {} does not meet the target {} (the backup postdates the outage)",
                m.label(),
                format_duration(v),
                format_duration(target)
            ),
            None => format!(
                "no {} ({}), so the target {} is not met",
                m.label(),
                m.missing(),
                format_duration(target)
            ),
        };
        flags.push(Flag {
            kind: FlagKind::TargetMissed,
            measure: m,
            seconds: value,
            reference_seconds: target,
            previous_run_id: None,
            change_percent: None,
            message,
        });
    }
    flags
}

/// The trend lines of the terminal summary for the drill `run_id`: what it was compared with and
/// every flag, or a sentence saying there was nothing to compare with.
pub fn render_trend_summary(trend: &Trend, run_id: &str) -> String {
    let mut out = String::new();
    let Some(current) = trend.points.iter().find(|p| p.run_id == run_id) else {
        return out;
    };
    match trend.previous_of(run_id) {
        Some(p) => {
            let _ = writeln!(
                out,
                "trend: compared with drill {} of {} ({} {}, tenant {})",
                p.run_id,
                p.date_time(),
                p.summary.scenario.as_str(),
                p.summary.mode.as_str(),
                crate::text::clean_text(&p.summary.tenant)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "trend: no earlier {} {} drill in the history to compare with",
                current.summary.scenario.as_str(),
                current.summary.mode.as_str()
            );
        }
    }
    let flags = trend.flags_of(run_id);
    if flags.is_empty() {
        let _ = writeln!(out, "  no regression, no target missed");
    }
    for f in flags {
        let word = match f.kind {
            FlagKind::Regression => "REGRESSION",
            FlagKind::TargetMissed => "TARGET MISSED",
        };
        let _ = writeln!(out, "  {word}: {}", f.message);
    }
    out
}

// ------------------------------------------------------------------------------- the charts

/// The SVG charts (RTO, RPO) of `trend` as an HTML fragment: one `<figure>` per chart, or a
/// sentence where a chart would be empty or pointless (no drill, one drill, no value to draw).
/// `id_prefix` keeps element ids unique in the page; `highlight` marks one drill (the report's
/// own). No script, no external resource; every text is escaped.
pub fn render_charts(trend: &Trend, id_prefix: &str, highlight: Option<&str>) -> String {
    let n_all = trend.points.len();
    match n_all {
        0 => return "<p class=\"trend-note\">No drill is recorded yet, so there is no trend to draw: run <code>lifeboat drill</code>.</p>\n".into(),
        1 => {
            let p = &trend.points[0];
            return format!(
                "<p class=\"trend-note\">Only one drill is recorded ({}, {}: RTO {}, RPO {}), so there is no trend to draw yet: a chart needs two drills.</p>\n",
                xml_escape(&p.run_id),
                p.date_time(),
                opt(p.summary.rto_seconds),
                opt(p.summary.rpo_seconds)
            );
        }
        _ => {}
    }
    let start = n_all.saturating_sub(CHART_MAX_POINTS);
    let mut out = String::new();
    if start > 0 {
        let _ = writeln!(
            out,
            "<p class=\"trend-note\">The charts show the newest {} of {n_all} drills; the table lists them all.</p>",
            n_all - start
        );
    }
    let shown = Shown { points: &trend.points[start..], flags: &trend.flags[start..], highlight };
    out.push_str(&chart(
        &shown,
        &format!("{id_prefix}rto"),
        "RTO",
        &[
            Series {
                measure: Measure::Rto,
                class: "pt-rto",
                name: "RTO (outage to verified recovery)",
                color: "#0969da",
                shape: Shape::Circle,
                dashed: false,
            },
            Series {
                measure: Measure::RtoExcludingSupportWait,
                class: "pt-rto-measured",
                name: "RTO excluding the support wait",
                color: "#1a7f37",
                shape: Shape::Square,
                dashed: true,
            },
        ],
        Measure::Rto,
    ));
    out.push_str(&chart(
        &shown,
        &format!("{id_prefix}rpo"),
        "RPO",
        &[Series {
            measure: Measure::Rpo,
            class: "pt-rpo",
            name: "RPO (age of the backup at the outage)",
            color: "#8250df",
            shape: Shape::Circle,
            dashed: false,
        }],
        Measure::Rpo,
    ));
    out
}

fn opt(s: Option<f64>) -> String {
    s.map(format_duration).unwrap_or_else(|| "n/a".into())
}

struct Shown<'a> {
    points: &'a [TrendPoint],
    flags: &'a [Vec<Flag>],
    highlight: Option<&'a str>,
}

enum Swatch {
    Mark(Shape, &'static str, f64),
    Dashed,
}

#[derive(Clone, Copy)]
enum Shape {
    Circle,
    Square,
}

struct Series {
    measure: Measure,
    class: &'static str,
    name: &'static str,
    color: &'static str,
    shape: Shape,
    dashed: bool,
}

/// The time unit of an axis, chosen from its largest value.
fn unit_of(max: f64) -> (f64, &'static str) {
    if max < 120.0 {
        (1.0, "seconds")
    } else if max < 2.0 * 3600.0 {
        (60.0, "minutes")
    } else if max < 3.0 * 86_400.0 {
        (3600.0, "hours")
    } else {
        (86_400.0, "days")
    }
}

/// A step of 1, 2 or 5 times a power of ten giving at most 6 intervals up to `max` (in units).
fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| max / s <= 6.0)
        .unwrap_or(10.0 * mag)
}

fn number(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

const W: f64 = 760.0;
const H: f64 = 320.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 64.0;

fn chart(
    shown: &Shown<'_>,
    id: &str,
    title: &str,
    series: &[Series],
    target_measure: Measure,
) -> String {
    let pts = shown.points;
    let n = pts.len();
    let mut max: f64 = 0.0;
    let mut any = false;
    for p in pts {
        for s in series {
            if let Some(v) = p.value(s.measure) {
                max = max.max(v);
                any = true;
            }
        }
        if let Some(t) = p.target(target_measure) {
            max = max.max(t);
        }
    }
    if !any {
        return format!(
            "<p class=\"trend-note\">No {title} to draw: none of the {n} drills shown has one ({}).</p>\n",
            target_measure.missing()
        );
    }
    let (unit, unit_name) = unit_of(max);
    let step = nice_step((max / unit).max(1e-9));
    // Headroom above the highest value or target, so none sits on the frame.
    let y_max = ((max * 1.08 / unit / step).ceil().max(1.0)) * step;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let x = |i: usize| LEFT + (i as f64 + 0.5) * slot;
    let y = |seconds: f64| TOP + plot_h - (seconds / unit / y_max * plot_h).clamp(0.0, plot_h);

    let first = &pts[0];
    let last = &pts[n - 1];
    let mut desc = format!(
        "{title} of {n} drills from {} to {}. Latest, drill {}: ",
        first.date(),
        last.date(),
        last.run_id
    );
    desc.push_str(
        &series
            .iter()
            .map(|s| format!("{} {}", s.measure.label(), opt(last.value(s.measure))))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some(t) = last.target(target_measure) {
        let _ = write!(desc, ", target {}", format_duration(t));
    }
    desc.push('.');
    let flagged: usize = shown
        .flags
        .iter()
        .map(|f| {
            f.iter()
                .filter(|f| {
                    series.iter().any(|s| s.measure == f.measure) && f.kind == FlagKind::Regression
                })
                .count()
        })
        .sum();
    let _ = write!(desc, " {flagged} regression(s) flagged.");

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<figure class=\"chart\" id=\"{id}\">\n<svg viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" font-family=\"system-ui, sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        svg,
        "<title id=\"{id}-title\">{} over the last {n} drills</title>\n<desc id=\"{id}-desc\">{}</desc>",
        xml_escape(title),
        xml_escape(&desc)
    );
    // Grid and y axis.
    let mut k = 0.0;
    while k <= y_max + step / 2.0 {
        let yy = y(k * unit);
        let _ = writeln!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#d0d7de\" stroke-width=\"1\"/><text class=\"tick y-tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#57606a\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            number(k)
        );
        k += step;
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#57606a\"/><line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#57606a\"/>",
        TOP + plot_h,
        W - RIGHT,
        TOP + plot_h,
        TOP + plot_h
    );
    let _ = writeln!(
        svg,
        "<text class=\"axis-label y-label\" transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\" fill=\"#1b1f24\">{title} ({unit_name})</text>",
        TOP + plot_h / 2.0
    );
    // x ticks: every drill up to 10, else 8 evenly spread (first and last included).
    let labels: Vec<usize> = if n <= 10 {
        (0..n).collect()
    } else {
        let mut v: Vec<usize> = (0..8).map(|i| i * (n - 1) / 7).collect();
        v.dedup();
        v
    };
    for i in labels {
        let _ = writeln!(
            svg,
            "<text class=\"tick x-tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#57606a\">{}</text>",
            x(i),
            TOP + plot_h + 16.0,
            pts[i].date()
        );
    }
    let _ = writeln!(
        svg,
        "<text class=\"axis-label x-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#1b1f24\">drill start date (UTC), oldest to newest, one mark per drill</text>",
        LEFT + plot_w / 2.0,
        H - 14.0
    );
    // The highlighted drill: a narrow band behind its marks, labelled.
    if let Some(i) = shown.highlight.and_then(|h| pts.iter().position(|p| p.run_id == h)) {
        let band = slot.min(28.0);
        let _ = writeln!(
            svg,
            "<g class=\"current\"><title>this drill: {}</title><rect x=\"{:.1}\" y=\"{TOP}\" width=\"{band:.1}\" height=\"{plot_h:.1}\" fill=\"#fff1a8\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#7d4e00\">this drill</text></g>",
            xml_escape(&pts[i].run_id),
            x(i) - band / 2.0,
            x(i),
            TOP + 12.0
        );
    }
    // Targets: dashed, one segment per run of drills with the same target.
    let mut i = 0;
    while i < n {
        let Some(t) = pts[i].target(target_measure) else {
            i += 1;
            continue;
        };
        let mut j = i;
        while j + 1 < n && pts[j + 1].target(target_measure) == Some(t) {
            j += 1;
        }
        let yy = y(t);
        let (x1, x2) = (x(i) - slot / 2.0, x(j) + slot / 2.0);
        let label = format!("{} target {}", target_measure.label(), format_duration(t));
        let _ = writeln!(
            svg,
            "<g class=\"target\"><title>{label}</title><line x1=\"{x1:.1}\" x2=\"{x2:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#cf222e\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"#cf222e\">target {}</text></g>",
            x2 - 4.0,
            yy - 5.0,
            format_duration(t)
        );
        i = j + 1;
    }
    // Lines, broken where a drill has no value (a lone value is only its mark), then marks.
    for s in series {
        let mut d = String::new();
        let mut run: Vec<(f64, f64)> = Vec::new();
        let flush = |run: &mut Vec<(f64, f64)>, d: &mut String| {
            if run.len() > 1 {
                for (k, (px, py)) in run.iter().enumerate() {
                    let _ = write!(d, "{}{px:.1} {py:.1} ", if k == 0 { "M" } else { "L" });
                }
            }
            run.clear();
        };
        for (i, p) in pts.iter().enumerate() {
            match p.value(s.measure) {
                Some(v) => run.push((x(i), y(v))),
                None => flush(&mut run, &mut d),
            }
        }
        flush(&mut run, &mut d);
        if !d.is_empty() {
            let dash = if s.dashed { " stroke-dasharray=\"3 3\"" } else { "" };
            let _ = writeln!(
                svg,
                "<path class=\"line line-{}\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash}/>",
                s.class,
                d.trim_end(),
                s.color
            );
        }
    }
    for s in series {
        for (i, p) in pts.iter().enumerate() {
            let flags: Vec<&Flag> =
                shown.flags[i].iter().filter(|f| f.measure == s.measure).collect();
            let regression = flags.iter().any(|f| f.kind == FlagKind::Regression);
            let mut tip = format!(
                "{} · {} {} · drill {} ({} {})",
                p.date_time(),
                s.measure.label(),
                opt(p.value(s.measure)),
                p.run_id,
                p.summary.scenario.as_str(),
                p.summary.mode.as_str()
            );
            for f in &flags {
                let word = match f.kind {
                    FlagKind::Regression => "regression",
                    FlagKind::TargetMissed => "target missed",
                };
                let _ = write!(tip, " · {word}: {}", f.message);
            }
            let tip = xml_escape(&tip);
            let Some(v) = p.value(s.measure) else {
                // A gap in the line, marked on the axis so the missing drill is not silent.
                let _ = writeln!(
                    svg,
                    "<text class=\"missing missing-{}\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{}\"><title>{tip}</title>×</text>",
                    s.class,
                    x(i),
                    TOP + plot_h - 4.0,
                    s.color
                );
                continue;
            };
            let (cx, cy) = (x(i), y(v));
            let fill = if regression { "#cf222e" } else { s.color };
            let class = if regression {
                format!("pt {} pt-regression", s.class)
            } else {
                format!("pt {}", s.class)
            };
            match s.shape {
                Shape::Circle => {
                    let _ = writeln!(
                        svg,
                        "<circle class=\"{class}\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{}\" fill=\"{fill}\" stroke=\"#ffffff\" stroke-width=\"1\"><title>{tip}</title></circle>",
                        if regression { 6 } else { 4 }
                    );
                }
                Shape::Square => {
                    let r = if regression { 5.5 } else { 3.5 };
                    let _ = writeln!(
                        svg,
                        "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" stroke=\"#ffffff\" stroke-width=\"1\"><title>{tip}</title></rect>",
                        cx - r,
                        cy - r,
                        2.0 * r,
                        2.0 * r
                    );
                }
            }
        }
    }
    // Legend, one row above the plot (about 6 px per character at 11 px).
    let mut items: Vec<(Swatch, &str)> =
        series.iter().map(|s| (Swatch::Mark(s.shape, s.color, 4.0), s.name)).collect();
    items.push((Swatch::Mark(Shape::Circle, "#cf222e", 5.0), "regression"));
    items.push((Swatch::Dashed, "target"));
    let (mut lx, ly) = (LEFT, 18.0);
    for (swatch, name) in items {
        let (cx, cy) = (lx + 5.0, ly - 4.0);
        let mark = match swatch {
            Swatch::Mark(Shape::Circle, color, r) => {
                format!("<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{r}\" fill=\"{color}\"/>")
            }
            Swatch::Mark(Shape::Square, color, r) => format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{}\" height=\"{}\" fill=\"{color}\"/>",
                cx - r,
                cy - r,
                2.0 * r,
                2.0 * r
            ),
            Swatch::Dashed => format!(
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{cy:.1}\" y2=\"{cy:.1}\" stroke=\"#cf222e\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>",
                lx - 2.0,
                lx + 12.0
            ),
        };
        let _ = writeln!(
            svg,
            "<g class=\"legend\">{mark}<text x=\"{:.1}\" y=\"{ly:.1}\" font-size=\"11\" fill=\"#1b1f24\">{}</text></g>",
            lx + 14.0,
            xml_escape(name)
        );
        lx += 14.0 + name.chars().count() as f64 * 6.0 + 16.0;
    }
    svg.push_str("</svg>\n");
    let _ = writeln!(
        svg,
        "<figcaption>{}: one mark per drill; hover a mark for its date, value and run. A red mark is a regression, the dashed red line the target, a × on the axis a drill without a value.</figcaption>\n</figure>",
        xml_escape(title)
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    fn point(id: &str, day: i64, rto: Option<f64>, rpo: Option<f64>) -> TrendPoint {
        TrendPoint {
            run_id: id.into(),
            summary: DrillSummary {
                started_at: datetime!(2026-01-01 09:00 UTC) + Duration::days(day),
                scenario: Scenario::RegionOutage,
                mode: Mode::Simulated,
                tenant: "small".into(),
                passed: true,
                rto_seconds: rto,
                rto_excluding_support_wait_seconds: rto.map(|r| r / 2.0),
                rto_target_seconds: None,
                rpo_seconds: rpo,
                rpo_target_seconds: None,
                rto_measured_seconds: None,
                rto_assumed_seconds: None,
                rpo_basis: None,
                wall_started_at: None,
            },
        }
    }

    #[test]
    fn a_regression_needs_both_the_ratio_and_the_minimum() {
        let t = Trend::new(vec![
            point("a", 0, Some(10_000.0), Some(86_400.0)),
            point("b", 1, Some(12_000.0), Some(86_400.0)), // +20%: not more than 20%
            point("c", 2, Some(14_401.0), Some(86_400.0)), // +20.0083%: yes
            point("d", 3, Some(14_401.0), None),           // RPO missing: yes
        ]);
        assert!(t.flags_of("b").is_empty(), "{:?}", t.flags_of("b"));
        let c = t.flags_of("c");
        assert_eq!(c.len(), 2, "{c:?}"); // RTO and RTO excluding support wait
        assert_eq!(c[0].measure, Measure::Rto);
        assert_eq!(c[0].previous_run_id.as_deref(), Some("b"));
        assert_eq!(c[0].change_percent, Some(20.0));
        assert_eq!(c[0].short(), "RTO +20%");
        let d = t.flags_of("d");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].short(), "RPO missing");
        assert!(d[0].message.contains("no backup used"), "{}", d[0].message);

        // Tiny values: 2 s to 40 s is +1900 % but under a minute worse: no regression.
        let t = Trend::new(vec![point("x", 0, Some(2.0), None), point("y", 1, Some(40.0), None)]);
        assert!(t.flags_of("y").iter().all(|f| f.measure != Measure::Rto));
    }

    #[test]
    fn only_the_same_scenario_and_mode_is_compared() {
        let mut throttled = point("t", 1, Some(90_000.0), Some(86_400.0));
        throttled.summary.scenario = Scenario::Throttled;
        let t = Trend::new(vec![
            point("a", 0, Some(10_000.0), Some(86_400.0)),
            throttled,
            point("b", 2, Some(10_000.0), Some(86_400.0)),
        ]);
        assert_eq!(t.previous_of("b").map(|p| p.run_id.as_str()), Some("a"));
        assert!(t.previous_of("t").is_none());
        assert!(t.flags_of("t").is_empty() && t.flags_of("b").is_empty());
    }

    #[test]
    fn targets_are_judged_as_the_verdict_does() {
        let mut p = point("a", 0, Some(10_000.0), Some(-30.0));
        p.summary.rto_target_seconds = Some(7200.0);
        p.summary.rpo_target_seconds = Some(86_400.0);
        let mut tampered = point("b", 1, None, Some(100.0));
        tampered.summary.scenario = Scenario::TamperedBackup;
        tampered.summary.rto_target_seconds = Some(7200.0);
        let t = Trend::new(vec![p, tampered]);
        let kinds: Vec<(FlagKind, Measure)> =
            t.flags_of("a").iter().map(|f| (f.kind, f.measure)).collect();
        assert_eq!(
            kinds,
            [(FlagKind::TargetMissed, Measure::Rto), (FlagKind::TargetMissed, Measure::Rpo)]
        );
        assert!(t.flags_of("a")[0].message.contains("above the target 2h 00m 00s"));
        assert!(t.flags_of("b").is_empty(), "{:?}", t.flags_of("b"));
    }

    #[test]
    fn nice_axes() {
        assert_eq!(unit_of(90.0), (1.0, "seconds"));
        assert_eq!(unit_of(14_700.0), (3600.0, "hours"));
        assert_eq!(nice_step(4.08), 1.0);
        assert_eq!(nice_step(26.0), 5.0);
        assert_eq!(nice_step(0.5), 0.1);
        assert_eq!(number(0.30000000000000004), "0.3");
        assert_eq!(number(25.0), "25");
    }
}
