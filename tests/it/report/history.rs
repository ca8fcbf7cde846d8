//! Drill history in a state dir: record, list (sorted, tolerant of bad files), render.

use crate::report::fixtures;
use lifeboat::drill::history::{self, EntryState};
use time::Duration;

#[test]
fn record_then_list_sorted_with_unreadable_reports_reported() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut older = fixtures::passed();
    older.run_id = "drill-b-older".into();
    older.started_at -= Duration::days(30);
    let newer = fixtures::failed_rto(); // run id ...c3d4, started as the fixture says
    let mut middle = fixtures::tampered();
    middle.run_id = "drill-z-middle".into();
    middle.started_at -= Duration::days(7);
    // Recorded out of time order, with run ids whose order differs from time order.
    for r in [&newer, &older, &middle] {
        let path = history::record(state.path(), r).expect("record");
        assert_eq!(path, state.path().join("drills").join(&r.run_id).join("report.json"));
    }
    let drills = state.path().join("drills");
    std::fs::create_dir_all(drills.join("drill-corrupt")).expect("mkdir");
    std::fs::write(
        drills.join("drill-corrupt/report.json"),
        "{\"schema\": \"lifeboat/drill-report/v1\", \"run_id\": ",
    )
    .expect("write");
    std::fs::create_dir_all(drills.join("drill-interrupted")).expect("mkdir");
    std::fs::create_dir_all(drills.join("drill-future")).expect("mkdir");
    std::fs::write(
        drills.join("drill-future/report.json"),
        "{\"schema\": \"lifeboat/drill-report/v9\"}",
    )
    .expect("write");
    std::fs::write(drills.join("stray-file.txt"), "not a drill").expect("write");

    let entries = history::list(state.path()).expect("list");
    let ids: Vec<&str> = entries.iter().map(|e| e.run_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "drill-b-older",
            "drill-z-middle",
            newer.run_id.as_str(),
            "drill-corrupt",
            "drill-future",
            "drill-interrupted"
        ]
    );
    let problems: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.state {
            EntryState::Unreadable { problem } => Some(problem.clone()),
            EntryState::Ok(_) => None,
        })
        .collect();
    assert!(
        problems[0].starts_with("report.json is not valid JSON: EOF while parsing"),
        "{problems:?}"
    );
    assert_eq!(problems[1], "report.json has schema 'lifeboat/drill-report/v9', this lifeboat reads 'lifeboat/drill-report/v1' (upgrade lifeboat to read it)");
    assert_eq!(problems[2], "report.json is missing (the drill may have been interrupted)");
    match &entries[0].state {
        EntryState::Ok(s) => {
            assert!(s.passed);
            assert_eq!(s.rto_seconds, Some(14_700.0));
            assert_eq!(s.rpo_seconds, Some(86_430.0));
        }
        other => panic!("expected a readable entry, got {other:?}"),
    }

    let table = history::render_table(&entries);
    assert!(table.contains("UNREADABLE") && table.contains("drill-corrupt"), "{table}");
    assert!(table.contains("4h 05m 00s / 2h 00m 00s"), "RTO against target: {table}");
    assert!(table.find("drill-b-older") < table.find("drill-z-middle"), "{table}");

    let json: serde_json::Value =
        serde_json::from_str(&history::render_json(&entries)).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(6));
    assert_eq!(json[0]["status"], "ok");
    assert_eq!(json[0]["rto_seconds"], 14_700.0);
    assert_eq!(json[3]["status"], "unreadable");
    assert!(json[3]["problem"].as_str().is_some_and(|p| p.contains("not valid JSON")));
}

#[test]
fn empty_and_missing_history() {
    let state = tempfile::tempdir().expect("tempdir");
    let entries = history::list(state.path()).expect("a missing drills dir is an empty history");
    assert!(entries.is_empty());
    assert_eq!(history::render_table(&entries), "no drill recorded yet (run `lifeboat drill`)\n");
    assert_eq!(history::render_json(&entries), "[]\n");
}

#[test]
fn a_run_id_that_is_not_a_plain_name_is_refused_before_writing() {
    let state = tempfile::tempdir().expect("tempdir");
    for bad in ["../escape", "a/b", "", ".hidden", "with space"] {
        let mut r = fixtures::passed();
        r.run_id = bad.into();
        let err = history::record(state.path(), &r).expect_err(bad);
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
        assert!(err.to_string().starts_with("drill run id"), "{err}");
    }
    assert!(!state.path().join("drills").exists(), "nothing was written");
    assert!(!state.path().parent().expect("parent").join("escape").exists());
}

#[test]
fn write_all_writes_the_report_directory_and_junit() {
    let out = tempfile::tempdir().expect("tempdir");
    let r = fixtures::failed_step();
    let dir = out.path().join("reports/drill");
    let junit = out.path().join("test-results/drill.xml");
    let written = lifeboat::drill::report::write_all(&r, &dir, Some(&junit)).expect("write_all");
    assert_eq!(written.json, dir.join("report.json"));
    assert_eq!(written.html, dir.join("report.html"));
    assert_eq!(written.junit.as_deref(), Some(junit.as_path()));
    let back = history::load(&written.json).expect("report.json reads back");
    assert_eq!(back, r);
    assert!(std::fs::read_to_string(&written.html).expect("html").contains("Drill failed"));
    assert!(std::fs::read_to_string(&junit).expect("junit").starts_with("<?xml"));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left behind: {names:?}");

    let none =
        lifeboat::drill::report::write_all(&r, &out.path().join("only"), None).expect("write_all");
    assert_eq!(none.junit, None);
}
