//! `wait.duration` (a durable timer) and `wait.until` (a durable poll of a condition). Both
//! return [`StepOutcome::Wait`]: the engine journals the wake-up time, so a restart days later
//! fires at the same instant, and the step's `timeout` bounds the whole wait.

use crate::catalog::info;
use crate::catalog::DurationUse;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{StepContext, StepKind, StepOutcome};
use crate::runbook::limits;
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};
use std::time::Duration;
use time::OffsetDateTime;

/// `wait.duration`: succeeds once `duration` has passed since the first poll.
#[derive(Debug, Clone, Copy)]
pub struct ForDuration;

/// A duration input, within `runbook::limits` (rendered templates are only known now).
fn parse_duration(name: &str, text: &str, used_as: DurationUse) -> Result<Duration, String> {
    limits::parse(text, used_as).map_err(|e| {
        format!("input `{name}` is `{text}`, which {e} (e.g. 90s, 15m, 3d; at most 400d)")
    })
}

impl StepKind for ForDuration {
    fn info(&self) -> &'static StepKindInfo {
        info("wait.duration")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move {
            let now = ctx.now();
            // The wake-up time is fixed at the first poll and kept in scratch: re-polls and
            // restarts never push it back.
            let until =
                match ctx.scratch.as_ref().and_then(|s| s.get("until")).and_then(Value::as_str) {
                    Some(t) => match OffsetDateTime::parse(
                        t,
                        &time::format_description::well_known::Rfc3339,
                    ) {
                        Ok(t) => t,
                        Err(e) => {
                            return StepOutcome::fail(
                                format!("scratch state has a bad time: {e}"),
                                false,
                            )
                        }
                    },
                    None => {
                        let Some(text) = ctx.input_str("duration") else {
                            return StepOutcome::fail("input `duration` is missing", false);
                        };
                        match parse_duration("duration", &text, DurationUse::Duration)
                            .and_then(|d| limits::add(now, d))
                        {
                            Ok(until) => until,
                            Err(e) => return StepOutcome::fail(e, false),
                        }
                    }
                };
            let until_text =
                until.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            if now >= until {
                StepOutcome::ok(Map::from_iter([("waited_until".to_string(), json!(until_text))]))
            } else {
                StepOutcome::Wait {
                    until,
                    message: format!("until {}", crate::text::local_time(until)),
                    scratch: Some(json!({ "until": until_text })),
                }
            }
        })
    }
}

/// `wait.until`: polls `condition` (re-rendered before every poll) until it is true.
#[derive(Debug, Clone, Copy)]
pub struct Until;

impl StepKind for Until {
    fn info(&self) -> &'static StepKindInfo {
        info("wait.until")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move {
            let interval = match ctx.input_str("poll_interval") {
                Some(t) => match parse_duration("poll_interval", &t, DurationUse::PollInterval) {
                    Ok(d) => d,
                    Err(e) => return StepOutcome::fail(e, false),
                },
                None => Duration::from_secs(60),
            };
            let Some(condition) = ctx.inputs.get("condition") else {
                return StepOutcome::fail("input `condition` is missing", false);
            };
            if crate::engine::template::truthy(condition) {
                StepOutcome::ok(Map::from_iter([("polls".to_string(), json!(ctx.poll + 1))]))
            } else {
                let message = format!(
                    "condition (poll {}, every {})",
                    ctx.poll + 1,
                    humantime::format_duration(interval)
                );
                StepOutcome::poll_after(ctx.now(), interval, message, None)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::engine::kind::{Cancellation, NullSink, Services};
    use std::sync::Arc;

    fn ctx(clock: &ManualClock, inputs: Value, scratch: Option<Value>, poll: u32) -> StepContext {
        StepContext {
            run_id: "r".into(),
            step: "w".into(),
            branch: None,
            label: None,
            item: None,
            attempt: 1,
            poll,
            inputs,
            scratch,
            reentry: false,
            clock: Arc::new(clock.clone()),
            cancel: Cancellation::new().1,
            services: Arc::new(Services::new()),
            sink: Arc::new(NullSink),
        }
    }

    #[tokio::test]
    async fn duration_fixes_its_deadline_at_the_first_poll() {
        let t0 = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        let clock = ManualClock::new(t0);
        let first = ForDuration.run(ctx(&clock, json!({"duration": "3d"}), None, 0)).await;
        let StepOutcome::Wait { until, scratch, .. } = first else { panic!("{first:?}") };
        assert_eq!(until, t0 + Duration::from_secs(3 * 86_400));
        clock.advance(Duration::from_secs(86_400));
        // A re-poll a day later keeps the original deadline (it is in scratch, not recomputed).
        let again =
            ForDuration.run(ctx(&clock, json!({"duration": "3d"}), scratch.clone(), 1)).await;
        assert!(matches!(again, StepOutcome::Wait { until: u, .. } if u == until));
        clock.set(until);
        let done = ForDuration.run(ctx(&clock, json!({"duration": "3d"}), scratch, 2)).await;
        assert!(matches!(done, StepOutcome::Succeeded { .. }), "{done:?}");
        let bad = ForDuration.run(ctx(&clock, json!({"duration": "soon"}), None, 0)).await;
        assert!(
            matches!(bad, StepOutcome::Failed { retryable: false, ref error } if error.contains("not a duration"))
        );
    }

    #[tokio::test]
    async fn defect_01_a_huge_rendered_duration_is_a_step_failure() {
        let clock = ManualClock::new(time::macros::datetime!(2026-01-01 00:00:00 UTC));
        for huge in ["1000000000y", "401d"] {
            let out = ForDuration.run(ctx(&clock, json!({ "duration": huge }), None, 0)).await;
            assert!(
                matches!(&out, StepOutcome::Failed { retryable: false, error } if error.contains("longer than the maximum of 400 days")),
                "{out:?}"
            );
        }
        // Near the end of representable time, even an allowed duration fails instead of
        // panicking.
        let late = ManualClock::new(time::macros::datetime!(9999-12-31 00:00:00 UTC));
        let out = ForDuration.run(ctx(&late, json!({ "duration": "3d" }), None, 0)).await;
        assert!(
            matches!(&out, StepOutcome::Failed { error, .. } if error.contains("beyond the latest representable time")),
            "{out:?}"
        );
        let out = Until
            .run(ctx(&late, json!({ "condition": false, "poll_interval": "3d" }), None, 0))
            .await;
        assert!(matches!(&out, StepOutcome::Failed { .. }), "{out:?}");
    }

    #[tokio::test]
    async fn defect_09_poll_intervals_below_one_second_are_refused() {
        let t0 = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        let clock = ManualClock::new(t0);
        for fast in ["1ns", "999ms"] {
            let inputs = json!({ "condition": false, "poll_interval": fast });
            let out = Until.run(ctx(&clock, inputs, None, 0)).await;
            assert!(
                matches!(&out, StepOutcome::Failed { retryable: false, error } if error.contains("shorter than the minimum poll interval of 1s")),
                "{out:?}"
            );
        }
        let inputs = json!({ "condition": false, "poll_interval": "1s" });
        let out = Until.run(ctx(&clock, inputs, None, 0)).await;
        assert!(
            matches!(out, StepOutcome::Wait { until, .. } if until == t0 + Duration::from_secs(1))
        );
        // Whatever a step asks for, a poll is never sooner than a second.
        let out = StepOutcome::poll_after(t0, Duration::from_nanos(1), "soon", None);
        assert!(
            matches!(out, StepOutcome::Wait { until, .. } if until == t0 + Duration::from_secs(1))
        );
    }

    #[tokio::test]
    async fn until_polls_its_condition() {
        let t0 = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        let clock = ManualClock::new(t0);
        let not_yet = Until
            .run(ctx(&clock, json!({"condition": false, "poll_interval": "5m"}), None, 0))
            .await;
        assert!(
            matches!(not_yet, StepOutcome::Wait { until, .. } if until == t0 + Duration::from_secs(300))
        );
        let yes = Until.run(ctx(&clock, json!({"condition": "true"}), None, 3)).await;
        assert!(matches!(yes, StepOutcome::Succeeded { ref outputs, .. } if outputs["polls"] == 4));
    }
}
