//! Monotonic time and sleeping as an injectable input of the client, so retries, throttling and
//! long-running-operation deadlines run instantly in tests ([`VirtualTimer`]) and the throttling
//! benchmark can run ARM's limits 100 times faster ([`TokioTimer::scaled`]). This is elapsed time,
//! not the wall clock (which stays behind `crate::clock`).

use futures::future::BoxFuture;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub trait Timer: Send + Sync + Debug {
    /// Time elapsed since the timer was created (in the timer's own, possibly scaled, time).
    fn now(&self) -> Duration;
    /// Sleeps for `d` of the timer's time.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

/// Real time through tokio, optionally sped up by `scale`.
#[derive(Debug, Clone)]
pub struct TokioTimer {
    start: Instant,
    scale: f64,
}

impl TokioTimer {
    pub fn new() -> Self {
        Self::scaled(1.0)
    }
    /// Time runs `scale` times faster than real time (benchmarks and simulator tests).
    pub fn scaled(scale: f64) -> Self {
        TokioTimer { start: Instant::now(), scale: if scale > 0.0 { scale } else { 1.0 } }
    }
}

impl Default for TokioTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for TokioTimer {
    fn now(&self) -> Duration {
        self.start.elapsed().mul_f64(self.scale)
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        let real = d.div_f64(self.scale);
        Box::pin(tokio::time::sleep(real))
    }
}

/// Time that moves only by sleeping: every sleep returns at once and advances the clock, and the
/// total slept is recorded so tests can assert on the waits without waiting.
#[derive(Debug, Clone, Default)]
pub struct VirtualTimer {
    inner: Arc<Mutex<VirtualState>>,
}

#[derive(Debug, Default)]
struct VirtualState {
    now: Duration,
    sleeps: Vec<Duration>,
}

impl VirtualTimer {
    pub fn new() -> Self {
        Self::default()
    }
    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).sleeps.clone()
    }
    pub fn advance(&self, d: Duration) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).now += d;
    }
}

impl Timer for VirtualTimer {
    fn now(&self) -> Duration {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).now
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        {
            let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            s.now += d;
            s.sleeps.push(d);
        }
        Box::pin(tokio::task::yield_now())
    }
}
