//! The verdict and the measures are derived from the report's data.

use crate::report::fixtures;
use lifeboat::drill::report::{format_duration, StepResult};

#[test]
fn passed_drill_measures_rto_rpo_and_support_wait() {
    let r = fixtures::passed();
    assert!(r.verdict.passed, "{:?}", r.verdict.reasons);
    assert_eq!(r.exit_code(), 0);
    // Outage at T, verified at T+14700s.
    assert_eq!(r.rto.seconds, Some(14_700.0));
    // Two parallel support waits, 47..13247 and 47..11447: their union is 13200s, not the sum.
    assert_eq!(r.rto.support_wait_seconds, 13_200.0);
    assert_eq!(r.rto.excluding_support_wait_seconds, Some(1_500.0));
    assert_eq!(r.rto.met, Some(true));
    // Backup taken a day and 30 s before the outage.
    assert_eq!(r.rpo.seconds, Some(86_430.0));
    assert_eq!(r.rpo.met, Some(true));
    assert!(
        r.verdict.reasons.iter().any(|s| s.contains("rto 4h 05m 00s within the target 8h 00m 00s")),
        "{:?}",
        r.verdict.reasons
    );
}

#[test]
fn rto_over_target_fails_the_drill() {
    let r = fixtures::failed_rto();
    assert!(!r.verdict.passed);
    assert_eq!(r.exit_code(), 1);
    assert_eq!(r.rto.met, Some(false));
    assert_eq!(r.verdict.reasons, vec!["rto 4h 05m 00s exceeds the target 2h 00m 00s".to_string()]);
}

#[test]
fn tampered_backup_passes_when_detected_and_refused() {
    let r = fixtures::tampered();
    assert!(r.verdict.passed, "{:?}", r.verdict.reasons);
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.rto.seconds, None, "no recovery, no RTO");
    assert!(r.verdict.reasons[0].starts_with("tampered snapshot detected and the restore refused"));

    let mut not_refused = fixtures::tampered();
    not_refused.detected[0].restore_refused = false;
    not_refused.compute_verdict();
    assert!(!not_refused.verdict.passed);
    assert_eq!(
        not_refused.verdict.reasons,
        vec!["the tampered snapshot was detected but the restore was not refused"]
    );

    let mut undetected = fixtures::tampered();
    undetected.detected.clear();
    undetected.compute_verdict();
    assert!(!undetected.verdict.passed);
    assert_eq!(undetected.exit_code(), 1);
}

#[test]
fn failed_step_drill_lists_every_reason() {
    let r = fixtures::failed_step();
    assert!(!r.verdict.passed);
    let reasons = r.verdict.reasons.join("\n");
    assert!(reasons.contains("recovery was not verified"), "{reasons}");
    assert!(
        reasons.contains("verification 'actionableRemediation of repo <web> & \"api\"'"),
        "{reasons}"
    );
    assert!(reasons.contains("rto unknown, so the target 8h 00m 00s is not met"), "{reasons}");
    assert_eq!(r.steps.iter().filter(|s| s.result == StepResult::Failed).count(), 1);
    assert_eq!(r.steps.iter().filter(|s| s.result == StepResult::Interrupted).count(), 1);
}

#[test]
fn a_hand_set_verdict_is_recomputed() {
    let mut r = fixtures::failed_rto();
    r.verdict.passed = true;
    r.verdict.reasons.clear();
    r.compute_verdict();
    assert!(!r.verdict.passed);
}

#[test]
fn no_verification_means_no_pass() {
    let mut r = fixtures::passed();
    r.verifications.clear();
    r.compute_verdict();
    assert!(!r.verdict.passed);
    assert!(r.verdict.reasons.iter().any(|s| s.starts_with("no verification was recorded")));
}

#[test]
fn durations_read_well() {
    assert_eq!(format_duration(0.25), "250ms");
    assert_eq!(format_duration(12.0), "12s");
    assert_eq!(format_duration(12.46), "12.5s");
    assert_eq!(format_duration(245.0), "4m 05s");
    assert_eq!(format_duration(14_700.0), "4h 05m 00s");
    assert_eq!(format_duration(2.0 * 86_400.0 + 3.0 * 3600.0 + 240.0), "2d 03h 04m");
    assert_eq!(format_duration(-90.0), "-1m 30s");
    assert_eq!(format_duration(f64::NAN), "?");
}
