//! `report.html`: the handlebars view of a report and its rendering.

use super::trend::{render_charts, FlagKind, Trend};
use super::{
    format_duration, opt_duration, rfc3339, seconds_between, target_text, AppliesTo, DrillReport,
    WaitedOn,
};
use crate::text::clean_text;
use crate::text::local_time;
use serde_json::json;
use time::OffsetDateTime;

/// The HTML template, embedded so a report can be written from any working directory.
const HTML_TEMPLATE: &str = include_str!("../../../templates/drill-report.html.hbs");

/// An error rendering the HTML template: a bug in the template, never in the report's data.
#[derive(Debug, thiserror::Error)]
#[error("drill report template failed to render")]
pub struct RenderError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl RenderError {
    /// A template error of another page of the drill (the history page).
    pub(crate) fn new(e: Box<dyn std::error::Error + Send + Sync>) -> Self {
        RenderError(e)
    }
}

/// `report.html`: one self-contained HTML5 file (inline CSS, no script, no external URL),
/// without the trend section (no history given; see [`render_html_with_trend`]).
pub fn render_html(report: &DrillReport) -> Result<String, RenderError> {
    render(report, None)
}

/// `report.html` with its "Trend" section: this drill's flags (regression against the previous
/// comparable drill of `trend`, missed targets) and the RTO/RPO charts of `trend`, this drill
/// highlighted. `trend` should hold this drill (`Trend::new` over the history plus its point).
pub fn render_html_with_trend(report: &DrillReport, trend: &Trend) -> Result<String, RenderError> {
    render(report, Some(trend))
}

fn render(report: &DrillReport, trend: Option<&Trend>) -> Result<String, RenderError> {
    let mut hb = handlebars::Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_template_string("report", HTML_TEMPLATE).map_err(|e| RenderError(Box::new(e)))?;
    let mut view = html_view(report);
    view["trend"] = trend.map(|t| trend_view(report, t)).unwrap_or(serde_json::Value::Null);
    hb.render("report", &view).map_err(|e| RenderError(Box::new(e)))
}

/// The trend section's view. `charts` is SVG markup built (and escaped) by `trend`; the template
/// inserts it as is.
fn trend_view(r: &DrillReport, t: &Trend) -> serde_json::Value {
    let flags: Vec<_> = t
        .flags_of(&r.run_id)
        .iter()
        .map(|f| {
            json!({
                "kind": match f.kind { FlagKind::Regression => "regression", FlagKind::TargetMissed => "target missed" },
                "message": clean_text(&f.message),
            })
        })
        .collect();
    let previous = t.previous_of(&r.run_id).map(|p| {
        json!({
            "run_id": clean_text(&p.run_id),
            "date": p.date_time(),
            "kind": format!("{} {}", p.summary.scenario.as_str(), p.summary.mode.as_str()),
        })
    });
    json!({
        "drills": t.points().len(),
        "previous": previous,
        "kind": format!("{} {}", r.scenario.as_str(), r.mode.as_str()),
        "flags": flags,
        "charts": render_charts(t, "trend-", Some(&r.run_id)),
    })
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

    // What was measured and what assumed, shown when the report separates them.
    let split = r
        .rto
        .measured_seconds
        .zip(r.rto.assumed_seconds)
        .filter(|_| r.rto.measured_source.is_some() || !r.assumptions.is_empty())
        .map(|(measured, assumed)| {
            json!({
                "measured": format_duration(measured),
                "assumed": format_duration(assumed),
                "support": opt_duration(r.rto.assumed_support_seconds),
                "people": opt_duration(r.rto.assumed_people_seconds),
            })
        });
    let assumptions: Vec<_> = r
        .assumptions
        .iter()
        .map(|a| {
            json!({
                "name": c(&a.name),
                "applies_to": match a.applies_to { AppliesTo::Rto => "RTO", AppliesTo::Rpo => "RPO" },
                "value": format_duration(a.seconds),
                "option": a.option.as_deref().map(c),
                "source": c(&a.source),
            })
        })
        .collect();
    let basis = (r.rto.measured_source.is_some() || !assumptions.is_empty()).then(|| {
        json!({
            "measured": r.rto.measured_source.as_deref().map(c),
            "assumptions": assumptions,
        })
    });

    json!({
        "run_id": c(&r.run_id),
        "schema": c(&r.schema),
        "lifeboat_version": c(&r.lifeboat_version),
        "scenario": r.scenario.as_str(),
        "mode": r.mode.as_str(),
        "tenant": c(&r.tenant),
        "started_at": rfc3339(r.started_at),
        "started_at_text": local_time(r.started_at),
        "finished_at": rfc3339(r.finished_at),
        "finished_at_text": local_time(r.finished_at),
        "wall_clock": format_duration(r.wall_clock_seconds),
        "outage_region": c(&r.outage.region),
        "outage_at": rfc3339(r.outage.injected_at),
        "outage_at_text": local_time(r.outage.injected_at),
        "target_region": c(&r.target_region),
        "verified": r.recovery.verified,
        "verified_at": r.recovery.verified_at.map(rfc3339),
        "verified_at_text": r.recovery.verified_at.map(local_time),
        "verified_left": r.recovery.verified_at.map(|t| format!("{:.3}", pct(t))),
        "outage_left": format!("{:.3}", pct(r.outage.injected_at)),
        "passed": r.verdict.passed,
        "partial": r.verdict.partial,
        "live": r.live.as_ref().map(live_view),
        "reasons": r.verdict.reasons.iter().map(|s| c(s)).collect::<Vec<_>>(),
        "rto": {
            "value": opt_duration(r.rto.seconds),
            "excluding": opt_duration(r.rto.excluding_support_wait_seconds),
            "support_wait": format_duration(r.rto.support_wait_seconds),
            "target": target(r.rto.target_seconds, r.rto.met, true),
            "split": split,
        },
        "rpo": {
            "value": opt_duration(r.rpo.seconds),
            "backup_id": r.rpo.backup_id.as_deref().map(c),
            "backup_taken_at": r.rpo.backup_taken_at.map(rfc3339),
            "backup_taken_at_text": r.rpo.backup_taken_at.map(local_time),
            "target": target(r.rpo.target_seconds, r.rpo.met, false),
            "basis": r.rpo.basis.as_ref().map(|b| json!({ "kind": b.kind.as_str(), "source": c(&b.source) })),
        },
        "ran": r.wall_clock.as_ref().map(|w| json!({
            "started_at": rfc3339(w.started_at),
            "started_at_text": local_time(w.started_at),
            "finished_at": rfc3339(w.finished_at),
            "finished_at_text": local_time(w.finished_at),
        })),
        "basis": basis,
        "resources": r.resources.as_ref().map(|res| {
            let kinds: std::collections::BTreeSet<&String> =
                res.in_snapshot.keys().chain(res.to_restore.keys()).chain(res.restored.keys()).collect();
            let n = |m: &std::collections::BTreeMap<String, u64>, k: &String| m.get(k).copied().unwrap_or(0);
            json!({
                "store": res.store.as_deref().map(c),
                "rows": kinds.into_iter().map(|k| json!({
                    "kind": c(k),
                    "in_snapshot": n(&res.in_snapshot, k),
                    "to_restore": n(&res.to_restore, k),
                    "restored": n(&res.restored, k),
                    "short": n(&res.restored, k) < n(&res.to_restore, k),
                })).collect::<Vec<_>>(),
                "notes": res.notes.iter().map(|s| c(s)).collect::<Vec<_>>(),
            })
        }),
        "api": r.api.totals,
        "operations": ops,
        "steps": steps,
        "ticks": ticks,
        "verifications": verifications,
        "detected": detected,
        "not_recreated": not_recreated,
    })
}

/// The live drill's section: every journaled write with its check against production, the
/// refused and unrecorded writes, what was not rehearsed and what the ledger cleaned.
fn live_view(l: &super::LiveEvidence) -> serde_json::Value {
    let c = |s: &str| clean_text(s);
    json!({
        "production": c(&l.production),
        "drill_connector": l.drill_connector.as_deref().map(c),
        "writes": l.writes.iter().map(|w| json!({
            "step": c(&w.step),
            "method": c(&w.method),
            "target": c(&w.target),
            "status": w.status.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            "to_production": w.to_production,
        })).collect::<Vec<_>>(),
        "count": l.writes.len(),
        "to_production": l.writes_to_production,
        "refused": l.refused_by_guard.iter().map(|s| c(s)).collect::<Vec<_>>(),
        "unrecorded": l.unrecorded_writes.iter().map(|s| c(s)).collect::<Vec<_>>(),
        "not_rehearsed": l.not_rehearsed.iter().map(|n| json!({
            "what": c(&n.what), "why": c(&n.why), "by_design": n.by_design,
        })).collect::<Vec<_>>(),
        "ledger_cleanup": l.ledger_cleanup.iter().map(|x| json!({
            "resource": c(&x.resource), "result": c(&x.result), "ok": x.ok,
        })).collect::<Vec<_>>(),
    })
}
