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
        // The RTO's assumed part: the time when the recovery waited on nothing but the support
        // desk or a person (no other step ran); the rest is lifeboat's own work, measured.
        let split = verified_at.map(|v| self.assumed_within(outage, v));
        self.rto.assumed_support_seconds = split.map(|(support, _)| round_ms(support));
        self.rto.assumed_people_seconds = split.map(|(_, people)| round_ms(people));
        self.rto.assumed_seconds = split.map(|(support, people)| round_ms(support + people));
        self.rto.measured_seconds = self
            .rto
            .seconds
            .zip(self.rto.assumed_seconds)
            .map(|(total, assumed)| round_ms(total - assumed));
        self.rto.met = self.rto.target_seconds.map(|t| self.rto.seconds.is_some_and(|s| s <= t));

        self.rpo.seconds = self.rpo.backup_taken_at.map(|b| seconds_between(b, outage));
        self.rpo.met = self
            .rpo
            .target_seconds
            .map(|t| self.rpo.seconds.is_some_and(|s| (0.0..=t).contains(&s)));
    }

    /// Within `[from, to]`: the seconds when only `waited_on: support` steps ran, and those when
    /// only `waited_on: person` steps ran (no support wait either). A wait while another step
    /// still works (another branch creating its connector) is not the recovery's bottleneck: it
    /// counts as that work. Steps waiting on a region wait for the outage itself, neither work
    /// nor assumption: they are left out of both sides.
    fn assumed_within(&self, from: OffsetDateTime, to: OffsetDateTime) -> (f64, f64) {
        let of = |pick: &dyn Fn(Option<WaitedOn>) -> bool| {
            let spans: Vec<Span> = self
                .steps
                .iter()
                .filter(|s| pick(s.waited_on))
                .map(|s| (s.started_at.max(from), s.finished_at.min(to)))
                .filter(|(a, b)| a < b)
                .collect();
            union(spans)
        };
        let working = of(&|w| matches!(w, None | Some(WaitedOn::Timer)));
        let support = minus(&of(&|w| w == Some(WaitedOn::Support)), &working);
        let people = minus(&minus(&of(&|w| w == Some(WaitedOn::Person)), &working), &support);
        (total(&support), total(&people))
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

type Span = (OffsetDateTime, OffsetDateTime);

/// The union of spans, as disjoint spans in order.
fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `a` without `b` (both disjoint and in order, as [`union`] returns them).
fn minus(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    for &(mut start, end) in a {
        for &(x, y) in b {
            if y <= start || x >= end {
                continue;
            }
            if x > start {
                out.push((start, x));
            }
            start = start.max(y);
        }
        if start < end {
            out.push((start, end));
        }
    }
    out
}

fn total(spans: &[Span]) -> f64 {
    // A fold from 0.0: `sum` of no spans is -0.0, which JSON would show as `-0.0`.
    spans.iter().fold(0.0, |t, (a, b)| t + (*b - *a).as_seconds_f64())
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::{minus, total, union};
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
            wall_clock: None,
            assumptions: Vec::new(),
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

    fn step(a: i64, b: i64, on: Option<WaitedOn>) -> StepRecord {
        StepRecord::new("s", None, "k", at(a), at(b), 1, StepResult::Succeeded, None, on)
    }

    #[test]
    fn the_assumed_part_is_when_nothing_but_support_or_people_was_waited_on() {
        // Work 0..100; support 50..400 (its first 50 s overlap the work); work again 300..350
        // (inside the support wait); a person 380..450 (20 s overlap the support wait); work
        // 450..500; a region wait 480..600 (neither side); verified at 500.
        let steps = vec![
            step(0, 100, None),
            step(50, 400, Some(WaitedOn::Support)),
            step(300, 350, Some(WaitedOn::Timer)),
            step(380, 450, Some(WaitedOn::Person)),
            step(450, 500, None),
            step(480, 600, Some(WaitedOn::Region)),
        ];
        let mut r = report(steps, Some(500));
        r.compute_verdict();
        // Support alone: 100..300 and 350..400 = 250 s; a person alone: 400..450 = 50 s.
        assert_eq!(r.rto.assumed_support_seconds, Some(250.0));
        assert_eq!(r.rto.assumed_people_seconds, Some(50.0));
        assert_eq!(r.rto.assumed_seconds, Some(300.0));
        assert_eq!(r.rto.measured_seconds, Some(200.0));
        assert_eq!(r.rto.seconds, Some(500.0));
        // The union of the support intervals is unchanged by the split.
        assert_eq!(r.rto.support_wait_seconds, 350.0);
    }

    #[test]
    fn spans_union_and_difference() {
        let s = |a: i64, b: i64| (at(a), at(b));
        assert_eq!(union(vec![s(5, 9), s(0, 3), s(2, 4), s(9, 10)]), vec![s(0, 4), s(5, 10)]);
        assert_eq!(
            minus(&[s(0, 10), s(20, 30)], &[s(2, 3), s(8, 22), s(25, 26)]),
            vec![s(0, 2), s(3, 8), s(22, 25), s(26, 30)]
        );
        assert_eq!(minus(&[s(0, 10)], &[s(0, 10)]), vec![]);
        assert_eq!(total(&[s(0, 2), s(5, 6)]), 3.0);
        assert!(total(&[]).is_sign_positive());
    }

    #[test]
    fn without_verification_the_wait_runs_to_the_end_and_rto_is_unknown() {
        let mut r = report(vec![wait(10, 2000, WaitedOn::Support)], None);
        r.rto.target_seconds = Some(3600.0);
        r.compute_verdict();
        assert_eq!(r.rto.support_wait_seconds, 990.0);
        assert_eq!(r.rto.seconds, None);
        assert_eq!((r.rto.measured_seconds, r.rto.assumed_seconds), (None, None));
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
