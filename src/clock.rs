//! Time as an input. Nothing in lifeboat reads the wall clock except [`SystemClock`]; the engine
//! takes `now` as an argument, and tests substitute a [`ManualClock`] to drive days of waiting in
//! microseconds.

use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;

    /// The wall clock's time, when this clock is *not* the wall clock (a simulated drill's clock,
    /// which runs ahead of it): the journal then records the wall clock as each entry's `time`
    /// (the audit record's time) and this clock's [`Clock::now`] as its `sim_time` (the time the
    /// engine runs on). `None`, the default: this clock is the wall clock, or stands for it (a
    /// test's [`ManualClock`]), and the journal records its time alone.
    fn wall_now(&self) -> Option<OffsetDateTime> {
        None
    }
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(clippy::disallowed_methods, reason = "the one door to the wall clock")]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }
    pub fn advance(&self, by: std::time::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
    pub fn set(&self, to: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
