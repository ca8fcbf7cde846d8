//! Honest drills (issue 16, items 2 and 3): a drill run today is journaled with today's wall-clock
//! time, so `audit export --all` over today finds it with its true times (and the simulated day
//! ahead does not); its actions are the person's or pipeline's that ran it, via the drill; the
//! report separates what was measured from what was assumed.

use crate::drill::{lifeboat, repo, text};
use lifeboat::clock::{Clock, SystemClock};
use lifeboat::engine::kind::Registry;
use lifeboat::engine::runner;
use lifeboat::journal;
use serde_json::Value;
use std::path::Path;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The drill as a GitHub Actions run queued by `octocat` would run it, as OS user
/// `drill-engineer`.
fn drill_in_a_pipeline(state: &Path, args: &[&str]) -> std::process::Output {
    lifeboat(state)
        .current_dir(repo())
        .env("USER", "drill-engineer")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_ACTOR", "octocat")
        .env("GITHUB_WORKFLOW", "monthly drill")
        .env("GITHUB_RUN_ID", "7001")
        .env("GITHUB_REPOSITORY", "contoso/ops")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .arg("drill")
        .args(args)
        .output()
        .expect("lifeboat runs")
}

fn day(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    t.date().format(&fmt).unwrap()
}

fn time_of(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")), &Rfc3339)
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// `audit export --all` of the period `[since, until]` (dates) into `out`: the rows of its
/// `index.csv` after the header (no cell of it holds a comma).
fn export_period(state: &Path, since: &str, until: &str, out: &Path) -> Vec<Vec<String>> {
    let o = lifeboat(state)
        .args(["audit", "export", "--all", "--format", "md", "--since", since, "--until", until])
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let index = std::fs::read_to_string(out.join("index.csv")).unwrap();
    index.lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect()
}

#[test]
fn a_drill_run_today_is_exported_by_today_with_its_true_times_and_who_ran_it() {
    let state = tempfile::tempdir().unwrap();
    let before = SystemClock.now();
    let out = drill_in_a_pipeline(state.path(), &["--run-id", "today"]);
    let after = SystemClock.now();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    // The wall clock to the second: RFC 3339 in the journal keeps the fraction, so compare
    // with the window widened to whole seconds.
    let within = |x: OffsetDateTime| {
        x >= before.replace_nanosecond(0).unwrap() && x <= after + time::Duration::SECOND
    };

    // Every journal entry's `time` is the wall clock during the drill; the simulated time the
    // engine ran on is kept beside it, a simulated day (and more) ahead.
    let path = state.path().join("runs/today").join(journal::JOURNAL_FILE);
    let read = journal::read(&path).expect("the journal verifies");
    assert_eq!(read.entries[0].payload["clock"], "simulated");
    for e in &read.entries {
        assert!(within(e.time), "entry {} at {} is outside [{before}, {after}]", e.seq, e.time);
        let sim = e.sim_time.unwrap_or_else(|| panic!("entry {} has no sim_time", e.seq));
        assert!(sim - e.time >= time::Duration::hours(23), "entry {}: sim {sim}", e.seq);
    }
    let v = lifeboat(state.path()).args(["audit", "verify", "today"]).output().unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));

    // `audit export --all` over the day(s) the drill ran finds it, started at its true time.
    let rows = export_period(state.path(), &day(before), &day(after), &state.path().join("x"));
    let row = rows.iter().find(|r| r[0] == "today").unwrap_or_else(|| panic!("{rows:?}"));
    let started = OffsetDateTime::parse(&row[2], &Rfc3339).unwrap();
    assert!(within(started), "exported as started {started}, outside [{before}, {after}]");
    // The simulated day after is not when it ran: an export of it does not find the drill.
    let next = after + time::Duration::days(1);
    let later = export_period(state.path(), &day(next), &day(next), &state.path().join("y"));
    assert!(later.is_empty(), "the drill is filed under the simulated day: {later:?}");

    // Who drilled: the person and the pipeline run, the actions the drill's on their behalf.
    let md = std::fs::read_to_string(state.path().join("x/today.md")).unwrap();
    assert!(md.contains("| Clock | simulated "), "{md}");
    // `user@host` (the host is this machine's), then the pipeline run and `via`.
    let queued =
        "in github-actions run 7001 of \"contoso/ops: monthly drill\" queued by octocat via drill";
    let started_by = md.lines().find(|l| l.starts_with("| Started by | ")).unwrap_or_default();
    assert!(started_by.starts_with("| Started by | `drill-engineer@"), "{md}");
    assert!(started_by.contains(&format!("` {queued} |")), "{md}");
    let approvals: Vec<&journal::Entry> =
        read.entries.iter().filter(|e| e.payload["event"] == "approved").collect();
    assert!(!approvals.is_empty());
    for a in approvals {
        let by = &a.payload["by"];
        assert_eq!((&by["user"], &by["via"]), (&"drill-engineer".into(), &"drill".into()), "{by}");
        assert_eq!(by["pipeline"]["system"], "github-actions", "{by}");
        assert_eq!(by["pipeline"]["requested_for"], "octocat", "{by}");
        assert_eq!(
            by["pipeline"]["url"], "https://github.com/contoso/ops/actions/runs/7001",
            "{by}"
        );
    }

    // The report shows the real date beside its simulated timeline.
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(state.path().join("drills/today/report.json")).unwrap(),
    )
    .unwrap();
    assert!(within(time_of(&report["wall_clock"]["started_at"])), "{}", report["wall_clock"]);
    assert!(within(time_of(&report["wall_clock"]["finished_at"])), "{}", report["wall_clock"]);
    assert!(
        t.contains("(wall clock, ") && t.contains("the timeline above is simulated time"),
        "{t}"
    );
    let history = lifeboat(state.path()).args(["drill", "history", "--output", "json"]).output();
    let history: Value = serde_json::from_slice(&history.unwrap().stdout).unwrap();
    assert!(within(time_of(&history[0]["wall_started_at"])), "{history}");
}

#[test]
fn the_replay_runs_on_the_journaled_simulated_time() {
    // The same journal replayed on its wall-clock times alone does not rebuild the run: the
    // engine's timers (retry backoff, polls, the release wait) were set in simulated time.
    let state = tempfile::tempdir().unwrap();
    let out = drill_in_a_pipeline(state.path(), &["--run-id", "replay"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = state.path().join("runs/replay");
    let path = dir.join(journal::JOURNAL_FILE);
    let registry = Registry::empty();
    let fast = runner::load(&dir, &registry).expect("the fast replay reads it");
    let entries = journal::read(&path).unwrap().entries;
    let reference = runner::replay(&path, entries.clone(), &registry).expect("reference replay");
    assert_eq!(fast.engine.snapshot(), reference.engine.snapshot());
    assert_eq!(format!("{:?}", fast.engine.status()), "Succeeded");
    let wall_only: Vec<journal::Entry> =
        entries.into_iter().map(|e| journal::Entry { sim_time: None, ..e }).collect();
    let on_wall = runner::replay(&path, wall_only, &registry);
    assert!(
        on_wall.map_or(true, |r| r.engine.snapshot() != reference.engine.snapshot()),
        "the replay did not depend on the simulated time"
    );
}

#[test]
fn the_report_separates_measured_from_assumed_and_names_each_assumption() {
    let state = tempfile::tempdir().unwrap();
    let report = |run: &str, support: &str, response: &str| -> Value {
        let out = drill_in_a_pipeline(
            state.path(),
            &["--run-id", run, "--support-wait", support, "--response-time", response],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let path = state.path().join("drills").join(run).join("report.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let short = report("short", "1h", "0s");
    let long = report("long", "6h", "45m");
    for (r, support, response) in [(&short, 3600.0, 0.0), (&long, 6.0 * 3600.0, 2700.0)] {
        let rto = &r["rto"];
        let f = |k: &str| rto[k].as_f64().unwrap_or_else(|| panic!("rto.{k}: {rto}"));
        // The total is the measured part plus the assumed part, which is the support desk's and
        // the people's.
        assert_eq!(f("measured_seconds") + f("assumed_seconds"), f("seconds"), "{rto}");
        assert_eq!(
            f("assumed_support_seconds") + f("assumed_people_seconds"),
            f("assumed_seconds"),
            "{rto}"
        );
        // The desk's wait lasts at least the assumed wait; the part of it counted as assumed is
        // what no work of lifeboat's overlapped (another branch working meanwhile is measured).
        assert!(f("support_wait_seconds") >= support, "{rto}");
        assert!(f("assumed_support_seconds") <= f("support_wait_seconds"), "{rto}");
        assert!(f("assumed_support_seconds") >= support - f("measured_seconds"), "{rto}");
        assert!(f("measured_seconds") > 0.0, "{rto}");
        assert!(
            rto["measured_source"].as_str().unwrap().contains("ARM's documented limits"),
            "{rto}"
        );
        let listed: Vec<(&str, f64)> = r["assumptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["name"].as_str().unwrap(), a["seconds"].as_f64().unwrap()))
            .collect();
        assert_eq!(
            listed,
            [
                ("support-wait", support),
                ("response-time", response),
                ("oauth-authorization", 0.0),
                ("backup-age", 86_400.0)
            ]
        );
        let sources = r["assumptions"].to_string();
        assert!(sources.contains("--support-wait: the organisation's own figure"), "{sources}");
        assert!(sources.contains("--response-time: the organisation's own figure"), "{sources}");
        assert_eq!(r["rpo"]["basis"]["kind"], "assumed", "{}", r["rpo"]);
    }
    // A person answering in 45 minutes shows in the people's part; one answering at once does
    // not. The assumptions move the total.
    assert_eq!(short["rto"]["assumed_people_seconds"], 0.0);
    assert!(long["rto"]["assumed_people_seconds"].as_f64().unwrap() >= 2700.0);
    assert!(
        long["rto"]["seconds"].as_f64().unwrap()
            > short["rto"]["seconds"].as_f64().unwrap() + 5.0 * 3600.0
    );
    assert!(long["rto"]["measured_seconds"].as_f64().unwrap() > 0.0);
}
