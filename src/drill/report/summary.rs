//! The terminal summary of a drill.

use super::{format_duration, opt_duration, seconds_between, target_text, DrillReport, StepResult};
use crate::text::clean_text;
use std::fmt::Write as _;
use time::OffsetDateTime;

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
            "{} (backup {}{})",
            target(r.rpo.target_seconds, r.rpo.met, false),
            r.rpo.backup_id.as_deref().map(clean_text).unwrap_or_else(|| "none".into()),
            rpo_source(r.rpo.source)
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
    if let Some(live) = &r.live {
        let _ = writeln!(
            out,
            "live drill: {} write(s) journaled, {} to production ({}); {} refused by the guard",
            live.writes.len(),
            live.writes_to_production,
            clean_text(&live.production),
            live.refused_by_guard.len()
        );
        for n in &live.not_rehearsed {
            let _ = writeln!(
                out,
                "  not rehearsed{}: {} ({})",
                if n.by_design { "" } else { " (rehearsable)" },
                clean_text(&n.what),
                clean_text(&n.why)
            );
        }
    }
    let _ = writeln!(out, "verdict: {}", r.verdict.word());
    for reason in &r.verdict.reasons {
        let _ = writeln!(out, "  - {}", clean_text(reason));
    }
    out
}

/// How the RPO was obtained, after the backup's ID.
fn rpo_source(source: Option<super::RpoSource>) -> &'static str {
    match source {
        Some(super::RpoSource::SnapshotAge) => ", its real age",
        Some(super::RpoSource::SimulatedDay) => ", a simulated day: assumed",
        None => "",
    }
}
