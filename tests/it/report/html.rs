//! `report.html`: valid HTML5 (Nu HTML Checker), self-contained, everything escaped.

use crate::report::{fixtures, validator};
use lifeboat::drill::report::render_html;
use std::path::Path;
use std::process::Command;

/// Runs vnu on `files`; returns its exit status and combined messages.
fn vnu(jar: &Path, files: &[&Path]) -> (bool, String) {
    let out = Command::new("java")
        .arg("-jar")
        .arg(jar)
        .arg("--errors-only")
        .args(files)
        .output()
        .expect("java runs (install a JRE, see .ci/validators.sh)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn every_fixture_passes_the_nu_html_checker() {
    let Some(jar) = validator("LIFEBOAT_TEST_VNU_JAR", None) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (name, report) in fixtures::all() {
        let path = dir.path().join(format!("{name}.html"));
        std::fs::write(&path, render_html(&report).expect("renders")).expect("write");
        files.push(path);
    }
    // A control: a file the checker must reject, so a checker that accepts anything cannot pass.
    let broken = dir.path().join("broken.html");
    std::fs::write(&broken, "<!DOCTYPE html><html lang=\"en\"><head><title>x</title></head><body><div><p>x</div></span></body></html>").expect("write");
    let (ok, text) = vnu(&jar, &[&broken]);
    assert!(!ok && text.contains("error"), "vnu accepted a broken file: {text}");

    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let (ok, text) = vnu(&jar, &refs);
    assert!(ok, "the Nu HTML Checker rejected report.html:\n{text}");
}

#[test]
fn html_is_self_contained() {
    for (name, report) in fixtures::all() {
        let html = render_html(&report).expect("renders");
        let lower = html.to_lowercase();
        for needle in [
            "http://", "https://", "//", "<script", "<link", "<img", "<iframe", "<object", "src=",
            "href=", "url(", "@import",
        ] {
            assert!(!lower.contains(needle), "{name}: report.html contains {needle:?}");
        }
        assert!(lower.starts_with("<!doctype html>"), "{name}: no doctype first");
    }
}

#[test]
fn html_escapes_every_value() {
    let html = render_html(&fixtures::failed_step()).expect("renders");
    assert!(
        html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2F;script&gt;")
            || html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"),
        "expected value not escaped:\n{html}"
    );
    assert!(html.contains("returned 400 &lt;InvalidRequest&gt;: &quot;actionableRemediation.state&quot; must be &#x27;Enabled&#x27; &amp; not &#x27;Unknown&#x27;"), "error text not escaped");
    assert!(!html.contains('\u{1b}'), "an ANSI escape reached the HTML");
    assert!(
        html.contains("\u{fffd}[31mretry budget exhausted"),
        "control characters are replaced, the text kept"
    );
}

#[test]
fn html_shows_verdict_measures_timeline_and_lists() {
    let html = render_html(&fixtures::passed()).expect("renders");
    for needle in [
        "Drill passed",
        "4h 05m 00s",             // RTO
        "target 8h 00m 00s: met", // RTO target
        "25m 00s",                // RTO without support wait
        "1d 00h 00m",             // RPO (a day and 30 s)
        "537 calls",
        "1 throttled (429)",
        "wait-for-release[contoso-ado]",
        "tl-bar succeeded wait-support",
        "container mapping history",
        "alerts older than one week",
        "IaC mapping history",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle:?}");
    }
    // The timeline runs from the outage (T+0) to the last step's end (T+14702s); the longest step,
    // wait-for-release[contoso-ado] (T+47s .. T+13247s), starts at 47/14702 of it and spans
    // 13200/14702.
    assert!(html.contains("style=\"left: 0.320%; width: 89.784%\""), "timeline bar position");
    let failed = render_html(&fixtures::failed_rto()).expect("renders");
    assert!(failed.contains("Drill failed") && failed.contains("target 2h 00m 00s: NOT MET"));
    let tampered = render_html(&fixtures::tampered()).expect("renders");
    assert!(tampered.contains("tampered-snapshot") && tampered.contains("restore refused"));
}

#[test]
fn a_url_in_error_text_stays_inert_text() {
    // Errors from the ARM pipeline name the URL they called. In the report it is text a person
    // reads, never a link or a resource the page loads.
    let mut r = fixtures::failed_step();
    r.steps[0].result = lifeboat::drill::report::StepResult::Failed;
    r.steps[0].error = Some("POST https://127.0.0.1:8443/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01 failed".into());
    let html = render_html(&r).expect("renders");
    assert!(
        html.contains("POST https:&#x2F;&#x2F;127.0.0.1:8443")
            || html.contains("POST https://127.0.0.1:8443")
    );
    let lower = html.to_lowercase();
    for needle in ["href", "src=", "url(", "<a ", "<link", "<script"] {
        assert!(!lower.contains(needle), "report.html contains {needle:?}");
    }
}
