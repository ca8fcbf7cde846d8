//! `junit.xml` against a JUnit XSD (Jenkins/Surefire shape) with xmllint, and its content.

use crate::report::{fixtures, repo, validator};
use lifeboat::drill::report::render_junit;
use std::path::Path;
use std::process::Command;

fn xmllint(bin: &Path, file: &Path) -> (bool, String) {
    let xsd = repo().join("tests/fixtures/report/junit.xsd");
    let out = Command::new(bin)
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(file)
        .output()
        .expect("xmllint runs");
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn every_fixture_passes_the_junit_xsd() {
    let Some(bin) = validator("LIFEBOAT_TEST_XMLLINT", Some("xmllint")) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // Controls: the XSD must reject a testcase without a name and a non-numeric count.
    for (i, bad) in [
        "<testsuites><testsuite name=\"s\" tests=\"1\" failures=\"0\" errors=\"0\"><testcase classname=\"c\"/></testsuite></testsuites>",
        "<testsuites><testsuite name=\"s\" tests=\"one\" failures=\"0\" errors=\"0\"/></testsuites>",
    ]
    .iter()
    .enumerate()
    {
        let path = dir.path().join(format!("bad-{i}.xml"));
        std::fs::write(&path, bad).expect("write");
        let (ok, text) = xmllint(&bin, &path);
        assert!(!ok, "the XSD accepted an invalid JUnit file: {text}");
    }
    for (name, report) in fixtures::all() {
        let path = dir.path().join(format!("{name}.xml"));
        std::fs::write(&path, render_junit(&report)).expect("write");
        let (ok, text) = xmllint(&bin, &path);
        assert!(ok, "{name}: junit.xml fails the XSD check:\n{text}\n{}", render_junit(&report));
    }
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn one_testcase_per_step_and_verification_plus_the_verdict() {
    let r = fixtures::passed();
    let x = render_junit(&r);
    assert_eq!(count(&x, "classname=\"drill.steps\""), r.steps.len());
    assert_eq!(count(&x, "classname=\"drill.verify\""), r.verifications.len());
    assert_eq!(count(&x, "classname=\"drill.verdict\""), 1);
    assert_eq!(count(&x, "<testsuite "), 1);
    let tests = r.steps.len() + r.verifications.len() + 1;
    assert!(x.contains(&format!("<testsuite name=\"lifeboat drill region-outage (drill-20260302-090000-a1b2)\" tests=\"{tests}\" failures=\"0\" errors=\"0\" skipped=\"0\" time=\"23.418\" timestamp=\"2026-03-01T08:59:30\"")), "{x}");
    assert!(x.contains("<testcase name=\"wait-for-release[contoso-ado]\" classname=\"drill.steps\" time=\"13200.000\"/>"), "{x}");
    assert!(x.contains("<property name=\"rto_seconds\" value=\"14700\"/>"), "{x}");
    assert!(
        x.contains("<property name=\"rto_excluding_support_wait_seconds\" value=\"1500\"/>"),
        "{x}"
    );
    assert!(x.contains("<property name=\"rpo_seconds\" value=\"86430\"/>"), "{x}");
    assert_eq!(count(&x, "<failure"), 0);
}

#[test]
fn failures_errors_and_skips_are_marked_and_escaped() {
    let x = render_junit(&fixtures::failed_step());
    // reapply-settings [contoso-ado] failed, the verification failed, the verdict failed.
    assert_eq!(count(&x, "<failure "), 3, "{x}");
    assert_eq!(count(&x, "<error "), 1, "verify was interrupted: {x}");
    assert!(x.contains("failures=\"3\" errors=\"1\""), "{x}");
    assert!(x.contains("<failure message=\"PUT devops/default/azureDevOpsOrgs/contoso/projects/web returned 400 &lt;InvalidRequest&gt;: &quot;actionableRemediation.state&quot; must be &apos;Enabled&apos; &amp; not &apos;Unknown&apos;&#10;\u{fffd}[31mretry budget exhausted"), "{x}");
    assert!(!x.contains('\u{1b}'), "an ANSI escape reached the XML");

    let t = render_junit(&fixtures::tampered());
    // The refused restore is the expected outcome: not a failure, explained in system-out.
    assert_eq!(count(&t, "<failure "), 0, "{t}");
    assert!(t.contains("<system-out>failed as the tampered-backup drill expects: snapshot"), "{t}");
    assert_eq!(count(&t, "<skipped "), 4, "{t}");
    assert!(t.contains("skipped=\"4\""), "{t}");

    let f = render_junit(&fixtures::failed_rto());
    assert!(f.contains("<failure message=\"rto 4h 05m 00s exceeds the target 2h 00m 00s\" type=\"drill-verdict\">"), "{f}");
}
