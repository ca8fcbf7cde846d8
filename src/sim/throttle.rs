//! ARM and Resource Graph throttling for the simulator, sans-IO.
//!
//! ARM (since 2024) throttles with token buckets: per subscription and per operation class
//! (reads, writes, deletes), a bucket of `capacity` tokens refilled at `refill_per_sec`. Each
//! request takes one token; an empty bucket answers 429 with `Retry-After` = the time until one
//! token is back. A throttled request is not processed, so it takes no token (ARM: "a request
//! sent before Retry-After elapses is not processed and gets a new Retry-After").
//!
//! Resource Graph instead gives each caller a quota of queries per fixed window (15 per 5 s),
//! reported in `x-ms-user-quota-remaining` / `x-ms-user-quota-resets-after`.
//!
//! Time is an input: `now` is the simulated time since the simulator started, so tests drive
//! minutes of refill in microseconds and `--time-scale` only changes what the server passes in.
//! Figures: `tests/fixtures/azure-specs/README.md`, section Throttling.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The ARM operation classes that have separate buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpClass {
    Read,
    Write,
    Delete,
}

impl OpClass {
    /// The class ARM charges an HTTP method to: GET and HEAD read, DELETE deletes, everything
    /// else (PUT, PATCH, POST) writes.
    pub fn from_method(method: &str) -> OpClass {
        if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
            OpClass::Read
        } else if method.eq_ignore_ascii_case("DELETE") {
            OpClass::Delete
        } else {
            OpClass::Write
        }
    }

    /// The response header that reports this class's remaining tokens.
    pub fn remaining_header(self) -> &'static str {
        match self {
            OpClass::Read => "x-ms-ratelimit-remaining-subscription-reads",
            OpClass::Write => "x-ms-ratelimit-remaining-subscription-writes",
            OpClass::Delete => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

/// One token bucket's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketSpec {
    pub capacity: u32,
    pub refill_per_sec: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    pub reads: BucketSpec,
    pub writes: BucketSpec,
    pub deletes: BucketSpec,
    /// Resource Graph queries allowed per caller per window.
    pub graph_quota: u32,
    pub graph_window: Duration,
    /// When false every request is admitted (`--throttle off`); headers still report full buckets.
    pub enabled: bool,
}

impl Default for ThrottleConfig {
    /// ARM's documented figures: reads 250 / 25 per s, writes and deletes 200 / 10 per s;
    /// Resource Graph 15 queries per 5 s window.
    fn default() -> Self {
        ThrottleConfig {
            reads: BucketSpec { capacity: 250, refill_per_sec: 25.0 },
            writes: BucketSpec { capacity: 200, refill_per_sec: 10.0 },
            deletes: BucketSpec { capacity: 200, refill_per_sec: 10.0 },
            graph_quota: 15,
            graph_window: Duration::from_secs(5),
            enabled: true,
        }
    }
}

impl ThrottleConfig {
    fn bucket(&self, class: OpClass) -> &BucketSpec {
        match class {
            OpClass::Read => &self.reads,
            OpClass::Write => &self.writes,
            OpClass::Delete => &self.deletes,
        }
    }
}

/// The outcome of an ARM request's admission.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// Admitted; `remaining` whole tokens are left (for `x-ms-ratelimit-remaining-*`).
    Allowed { remaining: u32 },
    /// Not processed; one token is back after `retry_after` (round up to whole seconds for the
    /// `Retry-After` header).
    Throttled { retry_after: Duration },
}

/// The outcome of a Resource Graph query's admission.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GraphAdmission {
    Allowed { remaining: u32, resets_after: Duration },
    Throttled { retry_after: Duration },
}

/// A bucket whose bucket never refills (a zero or invalid refill rate) asks callers to come back
/// after this long rather than "never", so headers stay representable.
const NEVER_REFILLS: Duration = Duration::from_secs(86_400);

/// Floating-point slack so that waiting exactly `retry_after` always finds a whole token.
const TOKEN_EPSILON: f64 = 1e-9;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Duration,
}

#[derive(Debug)]
struct GraphWindow {
    start: Duration,
    used: u32,
}

#[derive(Debug)]
struct State {
    cfg: ThrottleConfig,
    buckets: HashMap<(String, OpClass), Bucket>,
    graph: HashMap<String, GraphWindow>,
}

/// The simulator's throttle: one bucket per (subscription, class), one window per Graph caller.
/// Shared across request handlers (interior mutability behind one mutex: admission is a few
/// arithmetic operations, so contention is not a concern).
#[derive(Debug)]
pub struct ArmThrottle {
    state: Mutex<State>,
}

impl ArmThrottle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        ArmThrottle {
            state: Mutex::new(State { cfg, buckets: HashMap::new(), graph: HashMap::new() }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent numbers behind: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a token from `subscription`'s bucket for `class`, or says how long to wait.
    pub fn admit(&self, subscription: &str, class: OpClass, now: Duration) -> Admission {
        let mut st = self.lock();
        let spec = st.cfg.bucket(class).clone();
        if !st.cfg.enabled {
            return Admission::Allowed { remaining: spec.capacity };
        }
        let capacity = f64::from(spec.capacity);
        let rate = if spec.refill_per_sec.is_finite() && spec.refill_per_sec > 0.0 {
            spec.refill_per_sec
        } else {
            0.0
        };
        let bucket = st
            .buckets
            .entry((subscription.to_owned(), class))
            .or_insert(Bucket { tokens: capacity, last: now });
        // `now` may be slightly behind `last` when handlers race to the lock: no refill then.
        let elapsed = now.saturating_sub(bucket.last);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * rate).min(capacity);
        bucket.last = bucket.last.max(now);
        if bucket.tokens + TOKEN_EPSILON >= 1.0 {
            bucket.tokens = (bucket.tokens - 1.0).max(0.0);
            Admission::Allowed { remaining: (bucket.tokens + TOKEN_EPSILON).floor() as u32 }
        } else if rate == 0.0 {
            Admission::Throttled { retry_after: NEVER_REFILLS }
        } else {
            let secs = (1.0 - bucket.tokens) / rate;
            Admission::Throttled { retry_after: ceil_duration(secs).min(NEVER_REFILLS) }
        }
    }

    /// The current configuration (including the `enabled` switch).
    pub fn config(&self) -> ThrottleConfig {
        self.lock().cfg.clone()
    }

    /// Turns throttling on or off at run time (`--throttle off`, test API). Turning it back on
    /// starts from full buckets, as if the quiet period had refilled them.
    pub fn set_enabled(&self, on: bool) {
        let mut st = self.lock();
        if on && !st.cfg.enabled {
            st.buckets.clear();
            st.graph.clear();
        }
        st.cfg.enabled = on;
    }

    /// Counts one Resource Graph query for `caller` in its current fixed window.
    pub fn admit_graph(&self, caller: &str, now: Duration) -> GraphAdmission {
        let mut st = self.lock();
        let (quota, window) = (st.cfg.graph_quota, st.cfg.graph_window);
        if !st.cfg.enabled {
            return GraphAdmission::Allowed { remaining: quota, resets_after: window };
        }
        let w = st.graph.entry(caller.to_owned()).or_insert(GraphWindow { start: now, used: 0 });
        if now >= w.start.saturating_add(window) {
            *w = GraphWindow { start: now, used: 0 };
        }
        let resets_after = w.start.saturating_add(window).saturating_sub(now);
        if w.used < quota {
            w.used += 1;
            GraphAdmission::Allowed { remaining: quota - w.used, resets_after }
        } else {
            GraphAdmission::Throttled { retry_after: resets_after }
        }
    }
}

/// Rounds a positive number of seconds up to the next nanosecond, so that a client that waits
/// exactly the returned duration is never a hair short.
fn ceil_duration(secs: f64) -> Duration {
    if !(secs.is_finite() && secs > 0.0) {
        return Duration::ZERO;
    }
    let nanos = (secs * 1e9).ceil();
    if nanos >= u64::MAX as f64 {
        return Duration::MAX;
    }
    Duration::from_nanos(nanos as u64)
}

/// Formats a duration as `x-ms-user-quota-resets-after` does: `hh:mm:ss`, rounded up to the
/// second (a client that waits that long finds the window reset). Hours grow past two digits
/// rather than wrapping.
pub fn format_resets_after(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A client that sends `n` requests as fast as it can and sleeps `retry_after` when told to.
    /// Returns the simulated time at which the last request was admitted, and the 429 count.
    fn drive(t: &ArmThrottle, sub: &str, class: OpClass, n: usize) -> (Duration, usize) {
        let mut now = Duration::ZERO;
        let (mut done, mut throttled) = (0, 0);
        while done < n {
            match t.admit(sub, class, now) {
                Admission::Allowed { .. } => done += 1,
                Admission::Throttled { retry_after } => {
                    assert!(retry_after > Duration::ZERO, "a 429 must ask for a wait");
                    throttled += 1;
                    now += retry_after;
                }
            }
        }
        (now, throttled)
    }

    #[test]
    fn default_figures_are_arms() {
        let c = ThrottleConfig::default();
        assert_eq!(c.reads, BucketSpec { capacity: 250, refill_per_sec: 25.0 });
        assert_eq!(c.writes, BucketSpec { capacity: 200, refill_per_sec: 10.0 });
        assert_eq!(c.deletes, BucketSpec { capacity: 200, refill_per_sec: 10.0 });
        assert_eq!((c.graph_quota, c.graph_window, c.enabled), (15, Duration::from_secs(5), true));
    }

    #[test]
    fn thousand_writes_take_eighty_seconds() {
        let t = ArmThrottle::new(ThrottleConfig::default());
        let (elapsed, throttled) = drive(&t, "sub-a", OpClass::Write, 1000);
        let secs = elapsed.as_secs_f64();
        // 200 in the burst, then 800 at 10 per second.
        assert!((76.0..=84.0).contains(&secs), "1,000 writes took {secs} s of simulated time");
        assert_eq!(throttled, 800, "each post-burst write waits once for its token");
    }

    #[test]
    fn thousand_writes_with_whole_second_retry_after_take_eighty_seconds() {
        // What the HTTP client sees: Retry-After rounded up to whole seconds.
        let t = ArmThrottle::new(ThrottleConfig::default());
        let (mut now, mut done) = (Duration::ZERO, 0);
        while done < 1000 {
            match t.admit("sub-a", OpClass::Write, now) {
                Admission::Allowed { .. } => done += 1,
                Admission::Throttled { retry_after } => {
                    now += Duration::from_secs(retry_after.as_secs_f64().ceil() as u64);
                }
            }
        }
        let secs = now.as_secs_f64();
        assert!((76.0..=84.0).contains(&secs), "1,000 writes took {secs} s of simulated time");
    }

    #[test]
    fn burst_empties_then_refills_at_the_documented_rate() {
        let t = ArmThrottle::new(ThrottleConfig::default());
        for i in 0..250u32 {
            assert_eq!(
                t.admit("s", OpClass::Read, Duration::ZERO),
                Admission::Allowed { remaining: 249 - i }
            );
        }
        match t.admit("s", OpClass::Read, Duration::ZERO) {
            Admission::Throttled { retry_after } => assert_eq!(retry_after, ms(40)),
            other => panic!("expected a 429, got {other:?}"),
        }
        // One second later 25 tokens are back: 25 admitted, the 26th throttled.
        let one = Duration::from_secs(1);
        for _ in 0..25 {
            assert!(matches!(t.admit("s", OpClass::Read, one), Admission::Allowed { .. }));
        }
        assert!(matches!(t.admit("s", OpClass::Read, one), Admission::Throttled { .. }));
        // A long pause refills to capacity, not beyond.
        assert_eq!(
            t.admit("s", OpClass::Read, Duration::from_secs(3600)),
            Admission::Allowed { remaining: 249 }
        );
    }

    #[test]
    fn retry_after_is_the_time_to_one_token() {
        let t = ArmThrottle::new(ThrottleConfig::default());
        for _ in 0..200 {
            t.admit("s", OpClass::Delete, Duration::ZERO);
        }
        // 30 ms after emptying, 0.3 token is back: 70 ms to go.
        match t.admit("s", OpClass::Delete, ms(30)) {
            Admission::Throttled { retry_after } => {
                let diff = retry_after.as_secs_f64() - 0.070;
                assert!(diff.abs() < 1e-6, "retry_after {retry_after:?}");
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        // A request before the deadline is still refused, after it, admitted.
        assert!(matches!(t.admit("s", OpClass::Delete, ms(99)), Admission::Throttled { .. }));
        assert_eq!(t.admit("s", OpClass::Delete, ms(100)), Admission::Allowed { remaining: 0 });
    }

    #[test]
    fn subscriptions_and_classes_are_independent() {
        let t = ArmThrottle::new(ThrottleConfig::default());
        drive(&t, "sub-a", OpClass::Write, 200);
        assert!(matches!(
            t.admit("sub-a", OpClass::Write, Duration::ZERO),
            Admission::Throttled { .. }
        ));
        assert_eq!(
            t.admit("sub-b", OpClass::Write, Duration::ZERO),
            Admission::Allowed { remaining: 199 }
        );
        assert_eq!(
            t.admit("sub-a", OpClass::Read, Duration::ZERO),
            Admission::Allowed { remaining: 249 }
        );
        assert_eq!(
            t.admit("sub-a", OpClass::Delete, Duration::ZERO),
            Admission::Allowed { remaining: 199 }
        );
    }

    #[test]
    fn time_going_backwards_does_not_refill_or_panic() {
        let t = ArmThrottle::new(ThrottleConfig::default());
        for _ in 0..200 {
            t.admit("s", OpClass::Write, Duration::from_secs(10));
        }
        assert!(matches!(
            t.admit("s", OpClass::Write, Duration::ZERO),
            Admission::Throttled { .. }
        ));
    }

    #[test]
    fn zero_refill_rate_throttles_with_a_finite_wait() {
        let cfg = ThrottleConfig {
            writes: BucketSpec { capacity: 1, refill_per_sec: 0.0 },
            ..ThrottleConfig::default()
        };
        let t = ArmThrottle::new(cfg);
        assert_eq!(
            t.admit("s", OpClass::Write, Duration::ZERO),
            Admission::Allowed { remaining: 0 }
        );
        assert_eq!(
            t.admit("s", OpClass::Write, Duration::from_secs(1000)),
            Admission::Throttled { retry_after: NEVER_REFILLS }
        );
    }

    #[test]
    fn disabled_always_allows_and_reenabling_starts_full() {
        let t = ArmThrottle::new(ThrottleConfig { enabled: false, ..ThrottleConfig::default() });
        for _ in 0..10_000 {
            assert_eq!(
                t.admit("s", OpClass::Write, Duration::ZERO),
                Admission::Allowed { remaining: 200 }
            );
        }
        for _ in 0..100 {
            assert!(matches!(t.admit_graph("me", Duration::ZERO), GraphAdmission::Allowed { .. }));
        }
        assert!(!t.config().enabled);
        t.set_enabled(true);
        assert!(t.config().enabled);
        assert_eq!(
            t.admit("s", OpClass::Write, Duration::ZERO),
            Admission::Allowed { remaining: 199 }
        );
        t.set_enabled(false);
        drive(&t, "s", OpClass::Write, 1000);
    }

    #[test]
    fn graph_quota_per_fixed_window_and_caller() {
        let t = ArmThrottle::new(ThrottleConfig::default());
        assert_eq!(
            t.admit_graph("alice", Duration::ZERO),
            GraphAdmission::Allowed { remaining: 14, resets_after: Duration::from_secs(5) }
        );
        for i in 1..15u32 {
            assert_eq!(
                t.admit_graph("alice", Duration::from_secs(2)),
                GraphAdmission::Allowed { remaining: 14 - i, resets_after: Duration::from_secs(3) }
            );
        }
        assert_eq!(
            t.admit_graph("alice", ms(4500)),
            GraphAdmission::Throttled { retry_after: ms(500) }
        );
        // Another caller has its own window.
        assert!(matches!(
            t.admit_graph("bob", ms(4500)),
            GraphAdmission::Allowed { remaining: 14, .. }
        ));
        // At the window's end the quota is whole again and a new window starts then.
        assert_eq!(
            t.admit_graph("alice", Duration::from_secs(5)),
            GraphAdmission::Allowed { remaining: 14, resets_after: Duration::from_secs(5) }
        );
    }

    #[test]
    fn methods_map_to_classes_and_headers() {
        assert_eq!(OpClass::from_method("GET"), OpClass::Read);
        assert_eq!(OpClass::from_method("head"), OpClass::Read);
        assert_eq!(OpClass::from_method("DELETE"), OpClass::Delete);
        assert_eq!(OpClass::from_method("PUT"), OpClass::Write);
        assert_eq!(OpClass::from_method("POST"), OpClass::Write);
        assert_eq!(
            OpClass::Write.remaining_header(),
            "x-ms-ratelimit-remaining-subscription-writes"
        );
    }

    #[test]
    fn resets_after_is_hh_mm_ss_rounded_up() {
        assert_eq!(format_resets_after(Duration::from_secs(5)), "00:00:05");
        assert_eq!(format_resets_after(ms(2001)), "00:00:03");
        assert_eq!(format_resets_after(Duration::ZERO), "00:00:00");
        assert_eq!(format_resets_after(Duration::from_secs(3 * 3600 + 62)), "03:01:02");
        assert_eq!(format_resets_after(Duration::from_secs(100 * 3600)), "100:00:00");
    }
}
