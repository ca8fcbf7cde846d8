//! The trend of past drills: regression and missed-target flags, the inline SVG charts of the
//! history page and of `report.html`, the history's table, JSON and `--format html`.

use crate::report::{fixtures, validator};
use crate::support::browser::count_class;
use crate::support::cli::{lifeboat, text};
use lifeboat::clock::{Clock as _, SystemClock};
use lifeboat::drill::history::{self, EntryState};
use lifeboat::drill::report::trend::{render_charts, CHART_MAX_POINTS};
use lifeboat::drill::report::{
    render_html_with_trend, render_trend_summary, DrillReport, FlagKind, Measure, Trend, TrendPoint,
};
use std::path::Path;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const DAY0: OffsetDateTime = datetime!(2026-01-05 08:00:00 UTC);

/// Four drills a month apart (the `passed` fixture moved in time; targets RTO 8h, RPO 26h):
/// 3h, 2h30m, 2h45m (+10 %: no regression; no backup used: a gap in RPO, flagged), 4h05m (+48 %:
/// a regression).
pub fn four_drills(day0: OffsetDateTime) -> Vec<DrillReport> {
    let d = |n: i64| day0 + Duration::days(30 * n);
    vec![
        fixtures::drill_at(fixtures::passed(), "drill-1", d(0), 10_800.0, Some(86_400.0)),
        fixtures::drill_at(fixtures::passed(), "drill-2", d(1), 9_000.0, Some(86_400.0)),
        fixtures::drill_at(fixtures::passed(), "drill-3", d(2), 9_900.0, None),
        fixtures::drill_at(fixtures::passed(), "drill-4", d(3), 14_700.0, Some(90_000.0)),
    ]
}

fn recorded(state: &Path, reports: &[DrillReport]) {
    for r in reports {
        history::record(state, r).expect("record");
    }
}

fn vnu_ok(files: &[&Path]) {
    let Some(jar) = validator("LIFEBOAT_TEST_VNU_JAR", None) else { return };
    let out = std::process::Command::new("java")
        .arg("-jar")
        .arg(jar)
        .arg("--errors-only")
        .args(files)
        .output()
        .expect("java runs");
    assert!(out.status.success(), "the Nu HTML Checker rejected the page:\n{}", text(&out));
}

#[test]
fn flags_in_the_history_table_json_and_page() {
    let state = tempfile::tempdir().expect("tempdir");
    recorded(state.path(), &four_drills(DAY0));
    let entries = history::list(state.path()).expect("list");
    let flags = |i: usize| -> Vec<(FlagKind, Measure)> {
        entries[i].flags.iter().map(|f| (f.kind, f.measure)).collect()
    };
    assert_eq!(flags(0), []);
    assert_eq!(flags(1), [], "an improvement is no regression");
    assert_eq!(
        flags(2),
        [(FlagKind::Regression, Measure::Rpo), (FlagKind::TargetMissed, Measure::Rpo)],
        "+10 % RTO is within the threshold; a missing RPO is flagged: {:?}",
        entries[2].flags
    );
    assert_eq!(
        flags(3),
        [
            (FlagKind::Regression, Measure::Rto),
            (FlagKind::Regression, Measure::RtoExcludingSupportWait)
        ]
    );
    let rto = &entries[3].flags[0];
    assert_eq!(rto.previous_run_id.as_deref(), Some("drill-3"));
    assert_eq!(rto.seconds, Some(14_700.0));
    assert_eq!(rto.reference_seconds, 9_900.0);
    assert_eq!(rto.change_percent, Some(48.5));
    assert!(
        rto.message.starts_with("RTO 4h 05m 00s is 48% worse than 2h 45m 00s in drill drill-3"),
        "{}",
        rto.message
    );
    // Flags inform, the verdict judges: drill-4 regressed but met its targets and passed.
    assert!(matches!(&entries[3].state, EntryState::Ok(s) if s.passed));

    let table = history::render_table(&entries);
    assert!(table.contains("REGRESSION RTO +48%"), "{table}");
    assert!(table.contains("REGRESSION RPO missing, TARGET RPO over target"), "{table}");
    assert!(
        table.contains("flags: REGRESSION = more than 20% and at least 1m 00s worse"),
        "{table}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&history::render_json(&entries)).expect("json");
    assert_eq!(json[0]["flags"], serde_json::json!([]));
    assert_eq!(json[3]["flags"][0]["kind"], "regression");
    assert_eq!(json[3]["flags"][0]["measure"], "rto");
    assert_eq!(json[3]["flags"][0]["previous_run_id"], "drill-3");
    assert_eq!(json[3]["flags"][1]["measure"], "rto_excluding_support_wait");
    assert_eq!(json[2]["flags"][1]["kind"], "target-missed");

    let page = history::render_html(&entries).expect("renders");
    // One mark per drill and series; drill-3's missing RPO is a gap (two line pieces) with a
    // marked "×" on the axis, not a point at zero.
    assert_eq!(count_class(&page, &["pt", "pt-rto"]), 4);
    assert_eq!(count_class(&page, &["pt", "pt-rto-measured"]), 4);
    assert_eq!(count_class(&page, &["pt", "pt-rpo"]), 3);
    assert_eq!(count_class(&page, &["missing", "missing-pt-rpo"]), 1);
    assert_eq!(page.matches("class=\"line line-pt-rpo\" d=\"M").count(), 1);
    let rpo_line = page.split("class=\"line line-pt-rpo\" d=\"").nth(1).expect("rpo line");
    let d = rpo_line.split('"').next().unwrap_or("");
    // drill-1 to drill-2, then nothing: the line does not cross drill-3's gap to drill-4.
    assert_eq!((d.matches('M').count(), d.matches('L').count()), (1, 1), "a gap: {d}");
    assert_eq!(count_class(&page, &["pt", "pt-rto", "pt-regression"]), 1);
    for needle in [
        "RTO (hours)",
        "RPO (hours)",
        "drill start date (UTC), oldest to newest",
        "RTO target 8h 00m 00s",
        "RPO target 1d 02h 00m",
        "stroke-dasharray=\"6 4\"",
        "<title id=\"history-rto-title\">RTO over the last 4 drills</title>",
        "2026-04-05 08:00 UTC · RTO 4h 05m 00s · drill drill-4 (region-outage simulated) · regression: RTO 4h 05m 00s is 48% worse",
        "<li class=\"flag\"><strong>regression</strong>RTO 4h 05m 00s is 48% worse",
        "regression: RTO +48%",
    ] {
        assert!(page.contains(needle), "the history page lacks {needle:?}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("history.html");
    std::fs::write(&file, &page).expect("write");
    vnu_ok(&[&file]);
}

#[test]
fn the_report_of_a_drill_shows_its_trend_and_flags() {
    let drills = four_drills(DAY0);
    let trend = Trend::new(drills.iter().map(TrendPoint::of).collect());
    let html = render_html_with_trend(&drills[3], &trend).expect("renders");
    assert!(html.contains("<h2 id=\"h-trend\">Trend</h2>"));
    assert!(
        html.contains("Compared with drill <code>drill-3</code> of 2026-03-06 08:00 UTC"),
        "{html}"
    );
    assert!(
        html.contains("<li class=\"flag\"><strong>regression</strong>RTO 4h 05m 00s is 48% worse")
    );
    assert_eq!(count_class(&html, &["current"]), 2, "this drill is highlighted in both charts");
    assert_eq!(count_class(&html, &["pt", "pt-rto"]), 4);
    let first = render_html_with_trend(&drills[0], &trend).expect("renders");
    assert!(first.contains("No earlier region-outage simulated drill is recorded"), "{first}");
    assert!(first.contains("No regression against the previous drill, no target missed."));

    // The terminal summary says the same.
    let s = render_trend_summary(&trend, "drill-4");
    assert!(s.starts_with("trend: compared with drill drill-3 of 2026-03-06 08:00 UTC (region-outage simulated, tenant small)\n"), "{s}");
    assert!(
        s.contains("  REGRESSION: RTO 4h 05m 00s is 48% worse than 2h 45m 00s in drill drill-3"),
        "{s}"
    );
    let s = render_trend_summary(&trend, "drill-3");
    assert!(
        s.contains("  TARGET MISSED: no RPO (no backup used), so the target 1d 02h 00m is not met"),
        "{s}"
    );
    let s = render_trend_summary(&trend, "drill-1");
    assert_eq!(s, "trend: no earlier region-outage simulated drill in the history to compare with\n  no regression, no target missed\n");

    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a.html"), dir.path().join("b.html"));
    std::fs::write(&a, &html).expect("write");
    std::fs::write(&b, &first).expect("write");
    vnu_ok(&[&a, &b]);
}

#[test]
fn no_drill_or_one_drill_gives_a_sentence_not_an_empty_chart() {
    let none = render_charts(&Trend::new(vec![]), "x-", None);
    assert!(none.starts_with("<p class=\"trend-note\">No drill is recorded yet"), "{none}");
    assert!(!none.contains("<svg"));
    let one = Trend::new(vec![TrendPoint::of(&fixtures::passed())]);
    let text = render_charts(&one, "x-", None);
    assert!(text.contains("Only one drill is recorded (drill-20260302-090000-a1b2, 2026-03-01 08:59 UTC: RTO 4h 05m 00s, RPO 1d 00h 00m)"), "{text}");
    assert!(!text.contains("<svg"));
    // Two drills without any RTO (tampered backups): the RTO chart is a sentence, RPO is drawn.
    let mut t1 = TrendPoint::of(&fixtures::tampered());
    let mut t2 = t1.clone();
    t1.run_id = "t1".into();
    t2.run_id = "t2".into();
    t2.summary.started_at += Duration::days(1);
    let text = render_charts(&Trend::new(vec![t1, t2]), "x-", None);
    assert!(
        text.contains(
            "No RTO to draw: none of the 2 drills shown has one (recovery not verified)."
        ),
        "{text}"
    );
    assert_eq!(text.matches("<svg").count(), 1);

    // The pages around them stay valid.
    let state = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.html");
    std::fs::write(&empty, history::render_html(&[]).expect("renders")).expect("write");
    history::record(state.path(), &fixtures::passed()).expect("record");
    let single = dir.path().join("single.html");
    let page = history::render_html(&history::list(state.path()).expect("list")).expect("renders");
    assert!(page.contains("Only one drill is recorded"));
    std::fs::write(&single, page).expect("write");
    vnu_ok(&[&empty, &single]);
}

#[test]
fn hundreds_of_drills_chart_the_newest_fifty_on_a_readable_axis() {
    let points: Vec<TrendPoint> = (0..300)
        .map(|i| {
            let mut p = TrendPoint::of(&fixtures::passed());
            p.run_id = format!("drill-{i:03}");
            p.summary.started_at = DAY0 + Duration::days(i);
            p.summary.rto_seconds = Some(7_200.0 + (i % 7) as f64 * 600.0);
            p
        })
        .collect();
    let html = render_charts(&Trend::new(points), "h-", None);
    assert!(html.contains(&format!("The charts show the newest {CHART_MAX_POINTS} of 300 drills; the table lists them all.")), "{html}");
    assert_eq!(count_class(&html, &["pt", "pt-rto"]), CHART_MAX_POINTS);
    assert!(html.contains("drill drill-299 ") && !html.contains("drill drill-249 "));
    // At most 8 date labels on the x axis, the first and the last shown drill among them.
    assert_eq!(count_class(&html, &["x-tick"]), 2 * 8);
    assert!(html.contains(">2026-09-12</text>") && html.contains(">2026-10-31</text>"), "{html}");
}

#[test]
fn charts_are_deterministic_and_self_contained() {
    let trend = Trend::new(four_drills(DAY0).iter().map(TrendPoint::of).collect());
    let charts = render_charts(&trend, "history-", Some("drill-2"));
    assert_eq!(charts, render_charts(&trend, "history-", Some("drill-2")));
    insta::assert_snapshot!("charts-four-drills", charts);
    let state = tempfile::tempdir().expect("tempdir");
    recorded(state.path(), &four_drills(DAY0));
    let entries = history::list(state.path()).expect("list");
    let page = history::render_html(&entries).expect("renders");
    assert_eq!(page, history::render_html(&entries).expect("renders"));
    let today = SystemClock.now().date().to_string();
    assert!(
        !page.contains(&today),
        "the page has today's date {today}: it must not depend on the clock"
    );
    let lower = page.to_lowercase();
    for needle in
        ["http:", "https:", "//", "<script", "<link", "<img", "src=", "href=", "url(", "@import"]
    {
        assert!(!lower.contains(needle), "the history page contains {needle:?}");
    }
}

#[test]
fn a_hostile_run_id_or_tenant_stays_text_in_the_svg() {
    let mut a = TrendPoint::of(&fixtures::passed());
    a.run_id = "a<script>&\"'".into();
    a.summary.tenant = "</svg><p>".into();
    let mut b = a.clone();
    b.run_id = "b</title>".into();
    b.summary.started_at += Duration::days(1);
    let html = render_charts(&Trend::new(vec![a, b]), "x-", Some("b</title>"));
    assert!(
        !html.contains("<script") && !html.contains("b</title>") && !html.contains("</svg><p>")
    );
    assert!(html.contains("drill a&lt;script&gt;&amp;&quot;&apos;"), "{html}");
}

#[test]
fn drill_history_format_html_and_out_through_the_binary() {
    let state = tempfile::tempdir().expect("tempdir");
    recorded(state.path(), &four_drills(DAY0));
    let out = state.path().join("history.html");
    let o = lifeboat()
        .arg("--state-dir")
        .arg(state.path())
        .args(["drill", "history", "--format", "html", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("history: {}\n", out.display()));
    let page = std::fs::read_to_string(&out).expect("written");
    assert_eq!(count_class(&page, &["pt", "pt-rto"]), 4);
    // Without --out, to standard output; --format overrides the global --output.
    let o = lifeboat()
        .arg("--state-dir")
        .arg(state.path())
        .args(["--output", "json", "drill", "history", "--format", "table"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&o.stdout).contains("REGRESSION RTO +48%"), "{}", text(&o));
    let o = lifeboat()
        .arg("--state-dir")
        .arg(state.path())
        .args(["--output", "json", "drill", "history"])
        .output()
        .expect("runs");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(json[3]["flags"][0]["kind"], "regression");
    // An --out in a directory that does not exist: bad input, exit 2, nothing written.
    let bad = state.path().join("no-such-dir/history.html");
    let o = lifeboat()
        .arg("--state-dir")
        .arg(state.path())
        .args(["drill", "history", "--format", "html", "--out"])
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("its directory does not exist"), "{}", text(&o));
    assert!(!bad.exists());
}
