//! The terminal summary, as a person sees it (insta snapshots; the wall-clock duration and the
//! local wall-clock date are redacted because they vary with the run and the time zone;
//! simulated times are inputs and stay).

use crate::report::fixtures;
use lifeboat::drill::report::render_summary;

fn redact(s: &str) -> String {
    s.lines()
        .map(|l| {
            if l.starts_with("wall clock: ") {
                "wall clock: [redacted]"
            } else if l.starts_with("ran ") {
                // When the drill really ran, in the local time zone of whoever runs the tests.
                "ran [redacted]"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn summary_snapshots() {
    for (name, report) in fixtures::all() {
        insta::assert_snapshot!(format!("summary-{name}"), redact(&render_summary(&report)));
    }
}

#[test]
fn summary_names_rto_with_and_without_support_wait() {
    let s = render_summary(&fixtures::passed());
    assert!(s.contains("RTO without support wait"), "{s}");
    assert!(s.contains("support wait 3h 40m 00s"), "{s}");
    assert!(s.contains("verdict: PASSED"), "{s}");
    assert!(s.contains("wall clock: 23.4s"), "{s}");
    let f = render_summary(&fixtures::failed_step());
    assert!(f.contains("verdict: FAILED") && !f.contains('\u{1b}'), "{f}");
}
