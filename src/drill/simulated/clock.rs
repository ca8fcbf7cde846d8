//! The one clock of a simulated drill: the runner's and the step kinds' wall clock
//! ([`SimWallClock`]) and the ARM client's timer ([`SimTimer`]) both read the simulator's time,
//! and a timer sleep advances it instead of waiting.
//!
//! Simulated time starts at the wall clock's second when the simulator starts and then runs
//! ahead of it (a simulated day between the backup and the outage, hours of support wait, all in
//! a second or two). The run's engine runs on it; the journal records the wall clock beside it
//! ([`SimWallClock`]'s `wall_now`), so the audit record shows when the drill really ran.

use crate::azure::timer::Timer;
use crate::clock::{Clock, SystemClock};
use crate::sim::Shared;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The runner's and the step kinds' clock: the simulator's time as a date. It is not the wall
/// clock and says so ([`Clock::wall_now`]): the runner journals the wall clock as each entry's
/// `time` and this time as its `sim_time`.
#[derive(Clone)]
pub struct SimWallClock {
    shared: Arc<Shared>,
}

impl SimWallClock {
    pub fn new(shared: Arc<Shared>) -> Self {
        SimWallClock { shared }
    }
}

impl Clock for SimWallClock {
    fn now(&self) -> OffsetDateTime {
        sim_time(&self.shared, self.shared.clock.now())
    }

    fn wall_now(&self) -> Option<OffsetDateTime> {
        Some(SystemClock.now())
    }
}

/// The date of simulated second `t`.
pub fn sim_time(shared: &Shared, t: f64) -> OffsetDateTime {
    let base =
        OffsetDateTime::from_unix_timestamp(shared.base_unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    base + time::Duration::seconds_f64(t.max(0.0))
}

/// The ARM client's timer in a simulated drill: its time is the simulator's, and sleeping
/// moves the simulator forward to the end of the sleep instead of waiting. Concurrent sleeps
/// that end at the same simulated time move it once.
#[derive(Clone)]
pub struct SimTimer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SimTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimTimer")
    }
}

impl SimTimer {
    pub fn new(shared: Arc<Shared>) -> Self {
        SimTimer { shared }
    }
}

/// Moves the simulator's clock forward to `t` (never back).
pub fn advance_to(shared: &Shared, t: f64) {
    let now = shared.clock.now();
    if t > now {
        shared.clock.advance(Duration::from_secs_f64(t - now));
    }
}

impl Timer for SimTimer {
    fn now(&self) -> Duration {
        self.shared.clock.now_duration()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        let target = self.shared.clock.now() + d.as_secs_f64();
        advance_to(&self.shared, target);
        Box::pin(tokio::task::yield_now())
    }
}
