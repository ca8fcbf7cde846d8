//! The measures and the verdict, derived from a report's own data (never set by hand).

use super::{
    format_duration, opt_duration, round_ms, seconds_between, Detection, DrillReport, Scenario,
    Verdict, Verification, WaitedOn, TAMPERED_SNAPSHOT,
};
use time::OffsetDateTime;

/// `1 verification passed`, `3 verifications passed`.
fn plural(n: usize, noun: &str, verb: &str) -> String {
    if n == 1 {
        format!("1 {noun} {verb}")
    } else {
        format!("{n} {noun}s {verb}")
    }
}

impl DrillReport {
    /// Derives the measures and the verdict from the report's own data:
    /// - `rto.seconds` = outage → `recovery.verified_at` (only when verified), the support wait
    ///   (union of `waited_on: support` step intervals inside that window), the RTO without it,
    ///   and `rto.met` against `rto.target_seconds`;
    /// - `rpo.seconds` = `backup_taken_at` → outage, and `rpo.met`;
    /// - with `resources`, every kind of `to_restore` must be `restored` in full;
    /// - `verdict`: for `tampered-backup`, passed iff a `tampered-snapshot` detection refused the
    ///   restore and every verification passed; otherwise passed iff recovery is verified, at least
    ///   one verification ran and all passed, every target set is met, and nothing unexpected was
    ///   detected.
    pub fn compute_verdict(&mut self) {
        self.compute_measures();
        let mut fails = Vec::new();
        let mut oks = Vec::new();
        // What a live drill could have rehearsed and did not: PARTIAL unless something failed.
        let mut partial = Vec::new();
        self.judge_live(&mut oks, &mut fails, &mut partial);
        let gaps = self.live_gaps();

        let failed_checks: Vec<&Verification> =
            self.verifications.iter().filter(|v| !v.passed).collect();
        for v in failed_checks.iter().take(5) {
            let what = v.resource_id.as_deref().map(|r| format!(" on {r}")).unwrap_or_default();
            fails.push(format!("verification '{}'{what} failed: {}", v.name, v.detail));
        }
        if failed_checks.len() > 5 {
            fails.push(format!(
                "and {}",
                plural(failed_checks.len() - 5, "more verification", "failed")
            ));
        }

        if self.scenario == Scenario::TamperedBackup {
            let tamper: Vec<&Detection> =
                self.detected.iter().filter(|d| d.kind == TAMPERED_SNAPSHOT).collect();
            match tamper.iter().find(|d| d.restore_refused) {
                Some(d) => oks.push(format!(
                    "tampered snapshot detected and the restore refused: {}",
                    d.message
                )),
                None if tamper.is_empty() => {
                    fails.push("the tampered snapshot was not detected".into())
                }
                None => fails.push(
                    "the tampered snapshot was detected but the restore was not refused".into(),
                ),
            }
            if failed_checks.is_empty() && !self.verifications.is_empty() {
                oks.push(plural(self.verifications.len(), "verification", "passed"));
            }
        } else {
            match (self.recovery.verified, self.recovery.verified_at) {
                (true, Some(_)) => oks.push(format!(
                    "recovery verified {} after the outage",
                    opt_duration(self.rto.seconds)
                )),
                (true, None) => {
                    fails.push("recovery is marked verified but has no verified_at time".into())
                }
                (false, _) if gaps > 0 => partial.push(
                    "recovery not verified end to end: part of it was not rehearsed (below)".into(),
                ),
                (false, _) => fails.push("recovery was not verified".into()),
            }
            if self.verifications.is_empty() {
                fails.push(
                    "no verification was recorded (nothing shows the settings are back)".into(),
                );
            } else if failed_checks.is_empty() {
                oks.push(plural(self.verifications.len(), "verification", "passed"));
            }
            for d in &self.detected {
                fails.push(format!("unexpected detection {}: {}", d.kind, d.message));
            }
            if let Some(res) = &self.resources {
                let short: Vec<String> = res
                    .to_restore
                    .iter()
                    .filter_map(|(kind, want)| {
                        let got = res.restored.get(kind).copied().unwrap_or(0);
                        (got < *want).then(|| format!("{kind} {got} of {want}"))
                    })
                    .collect();
                if !short.is_empty() {
                    fails.push(format!("not everything was restored: {}", short.join(", ")));
                } else if !res.to_restore.is_empty() {
                    let all: Vec<String> =
                        res.to_restore.iter().map(|(k, n)| format!("{k} {n}")).collect();
                    oks.push(format!("everything was restored: {}", all.join(", ")));
                }
            }
            Self::judge_target(
                "rto",
                self.rto.seconds,
                self.rto.target_seconds,
                self.rto.met,
                &mut oks,
                &mut fails,
            );
            Self::judge_target(
                "rpo",
                self.rpo.seconds,
                self.rpo.target_seconds,
                self.rpo.met,
                &mut oks,
                &mut fails,
            );
            if let Some(s) = self.rpo.seconds.filter(|s| *s < 0.0) {
                fails.push(format!(
                    "the backup used was taken {} after the outage was injected (a drill must restore an earlier backup)",
                    format_duration(-s)
                ));
            }
        }

        self.verdict = if !fails.is_empty() {
            Verdict { passed: false, reasons: fails, partial: false }
        } else if !partial.is_empty() {
            partial.extend(oks);
            Verdict { passed: false, reasons: partial, partial: true }
        } else {
            Verdict { passed: true, reasons: oks, partial: false }
        };
    }

    fn judge_target(
        name: &str,
        seconds: Option<f64>,
        target: Option<f64>,
        met: Option<bool>,
        oks: &mut Vec<String>,
        fails: &mut Vec<String>,
    ) {
        match (met, seconds, target) {
            (Some(true), Some(s), Some(t)) => oks.push(format!(
                "{name} {} within the target {}",
                format_duration(s),
                format_duration(t)
            )),
            (Some(false), Some(s), Some(t)) => fails.push(format!(
                "{name} {} exceeds the target {}",
                format_duration(s),
                format_duration(t)
            )),
            (Some(false), None, Some(t)) => fails
                .push(format!("{name} unknown, so the target {} is not met", format_duration(t))),
            _ => {
                if let Some(s) = seconds {
                    oks.push(format!("{name} {} (no target set)", format_duration(s)));
                }
            }
        }
    }

    fn compute_measures(&mut self) {
        let outage = self.outage.injected_at;
        let verified_at = if self.recovery.verified { self.recovery.verified_at } else { None };
        // The support wait counts inside the RTO window; without a verified recovery the window
        // runs to the end of the drill, so a report still shows how long support took.
        let window_end = verified_at.unwrap_or(self.finished_at);
        let mut intervals: Vec<(OffsetDateTime, OffsetDateTime)> = self
            .steps
            .iter()
            .filter(|s| s.waited_on == Some(WaitedOn::Support))
            .map(|s| (s.started_at.max(outage), s.finished_at.min(window_end)))
            .filter(|(a, b)| a < b)
            .collect();
        intervals.sort();
        let mut wait = 0.0;
        let mut current: Option<(OffsetDateTime, OffsetDateTime)> = None;
        for (a, b) in intervals {
            current = match current {
                Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
                Some((ca, cb)) => {
                    wait += (cb - ca).as_seconds_f64();
                    Some((a, b))
                }
                None => Some((a, b)),
            };
        }
        if let Some((ca, cb)) = current {
            wait += (cb - ca).as_seconds_f64();
        }
        self.rto.support_wait_seconds = round_ms(wait);
        self.rto.seconds = verified_at.map(|v| seconds_between(outage, v));
        self.rto.excluding_support_wait_seconds =
            self.rto.seconds.map(|s| round_ms(s - self.rto.support_wait_seconds));
        self.rto.met = self.rto.target_seconds.map(|t| self.rto.seconds.is_some_and(|s| s <= t));

        self.rpo.seconds = self.rpo.backup_taken_at.map(|b| seconds_between(b, outage));
        self.rpo.met = self
            .rpo
            .target_seconds
            .map(|t| self.rpo.seconds.is_some_and(|s| (0.0..=t).contains(&s)));
    }

    /// The drill's process exit code: 0 when the verdict passed, 1 otherwise (`error::Exit`).
    pub fn exit_code(&self) -> u8 {
        if self.verdict.passed {
            crate::error::Exit::Ok.code()
        } else {
            crate::error::Exit::Failed.code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use time::macros::datetime;
    use time::Duration;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

    fn at(s: i64) -> OffsetDateTime {
        T0 + Duration::seconds(s)
    }

    fn report(steps: Vec<StepRecord>, verified_at: Option<i64>) -> DrillReport {
        DrillReport {
            schema: SCHEMA_ID.into(),
            run_id: "r".into(),
            lifeboat_version: "0".into(),
            scenario: Scenario::RegionOutage,
            mode: Mode::Simulated,
            tenant: "small".into(),
            started_at: at(-100),
            finished_at: at(1000),
            wall_clock_seconds: 1.0,
            outage: Outage { region: "eastus".into(), injected_at: T0 },
            target_region: "westus2".into(),
            recovery: Recovery {
                verified: verified_at.is_some(),
                verified_at: verified_at.map(at),
            },
            rto: Rto::default(),
            rpo: Rpo { backup_taken_at: Some(at(-50)), ..Rpo::default() },
            api: ApiStats::default(),
            steps,
            verifications: vec![Verification {
                name: "v".into(),
                resource_id: None,
                passed: true,
                expected: None,
                actual: None,
                detail: String::new(),
            }],
            detected: vec![],
            not_recreated_by_microsoft: NotRecreated::documented(),
            verdict: Verdict::default(),
            live: None,
            resources: None,
        }
    }

    fn wait(a: i64, b: i64, on: WaitedOn) -> StepRecord {
        StepRecord::new(
            "w",
            None,
            "wait.until",
            at(a),
            at(b),
            1,
            StepResult::Succeeded,
            None,
            Some(on),
        )
    }

    #[test]
    fn support_wait_is_the_union_of_intervals_clipped_to_the_rto_window() {
        // Overlapping 10..50 and 30..70, disjoint 100..120, one before the outage (-20..5, clipped
        // to 0..5), one after verification (600..900, clipped away), a person wait (not counted).
        let steps = vec![
            wait(10, 50, WaitedOn::Support),
            wait(30, 70, WaitedOn::Support),
            wait(100, 120, WaitedOn::Support),
            wait(-20, 5, WaitedOn::Support),
            wait(600, 900, WaitedOn::Support),
            wait(200, 300, WaitedOn::Person),
        ];
        let mut r = report(steps, Some(500));
        r.compute_verdict();
        assert_eq!(r.rto.support_wait_seconds, 5.0 + 60.0 + 20.0);
        assert_eq!(r.rto.seconds, Some(500.0));
        assert_eq!(r.rto.excluding_support_wait_seconds, Some(415.0));
        assert_eq!(r.rpo.seconds, Some(50.0));
        assert!(r.verdict.passed, "{:?}", r.verdict.reasons);
    }

    #[test]
    fn without_verification_the_wait_runs_to_the_end_and_rto_is_unknown() {
        let mut r = report(vec![wait(10, 2000, WaitedOn::Support)], None);
        r.rto.target_seconds = Some(3600.0);
        r.compute_verdict();
        assert_eq!(r.rto.support_wait_seconds, 990.0);
        assert_eq!(r.rto.seconds, None);
        assert_eq!(r.rto.met, Some(false));
        assert!(!r.verdict.passed);
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn a_backup_taken_after_the_outage_fails() {
        let mut r = report(vec![], Some(10));
        r.rpo.backup_taken_at = Some(at(30));
        r.rpo.target_seconds = Some(3600.0);
        r.compute_verdict();
        assert_eq!(r.rpo.seconds, Some(-30.0));
        assert_eq!(r.rpo.met, Some(false));
        assert!(
            r.verdict.reasons.iter().any(|s| s.contains("taken 30s after the outage")),
            "{:?}",
            r.verdict.reasons
        );
    }

    #[test]
    fn an_unexpected_detection_fails_a_normal_drill() {
        let mut r = report(vec![], Some(10));
        r.detected.push(Detection {
            kind: TAMPERED_SNAPSHOT.into(),
            message: "m".into(),
            step: None,
            restore_refused: true,
        });
        r.compute_verdict();
        assert_eq!(r.verdict.reasons, vec!["unexpected detection tampered-snapshot: m"]);
    }
}
