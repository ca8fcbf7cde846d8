//! Client-side throttling, so lifeboat runs at ARM's limit instead of finding it by 429s.
//!
//! ARM throttles per subscription, principal and operation class with token buckets (reads 250
//! burst / 25 s⁻¹, writes 200 / 10, deletes 200 / 10). We keep one bucket per (subscription, class)
//! with the same shape, take a token before each request, and correct our count from the
//! `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` header of every answer (the
//! service knows about other clients of the same principal; we do not). A 429 empties the bucket
//! and blocks it until `Retry-After`. Resource Graph has its own per-user quota
//! (`x-ms-user-quota-remaining`, `x-ms-user-quota-resets-after` hh:mm:ss): [`QuotaWindow`].

use super::timer::Timer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// ARM operation classes, each with its own bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpClass {
    Reads,
    Writes,
    Deletes,
}

impl OpClass {
    pub fn of_method(method: &reqwest::Method) -> OpClass {
        match *method {
            reqwest::Method::DELETE => OpClass::Deletes,
            reqwest::Method::PUT | reqwest::Method::PATCH | reqwest::Method::POST => {
                OpClass::Writes
            }
            _ => OpClass::Reads,
        }
    }
    /// ARM's published limits: (bucket size, refill per second).
    pub fn published_limit(self) -> (f64, f64) {
        match self {
            OpClass::Reads => (250.0, 25.0),
            OpClass::Writes => (200.0, 10.0),
            OpClass::Deletes => (200.0, 10.0),
        }
    }
    pub fn header(self) -> &'static str {
        match self {
            OpClass::Reads => "x-ms-ratelimit-remaining-subscription-reads",
            OpClass::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            OpClass::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    rate: f64,
    tokens: f64,
    updated: Duration,
    blocked_until: Duration,
    in_flight: u32,
    /// Acquisitions so far: a permit remembers the value at its acquisition, so `observe` can
    /// tell whether its request overlapped another one.
    acquired: u64,
}

impl Bucket {
    fn refill(&mut self, now: Duration) {
        if now > self.updated {
            self.tokens =
                (self.tokens + (now - self.updated).as_secs_f64() * self.rate).min(self.capacity);
            self.updated = now;
        }
    }
}

/// A snapshot of one bucket, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketState {
    pub tokens: f64,
    pub capacity: f64,
    pub rate: f64,
}

/// The set of ARM buckets of one client.
#[derive(Debug, Clone)]
pub struct Throttle {
    timer: Arc<dyn Timer>,
    buckets: Arc<Mutex<HashMap<(String, OpClass), Bucket>>>,
    enabled: bool,
}

/// A token taken from a bucket; give it back to [`Throttle::observe`] with the answer.
#[derive(Debug)]
pub struct Permit {
    key: Option<(String, OpClass)>,
    /// No other request was in flight when this one was admitted.
    alone: bool,
    seq: u64,
}

impl Throttle {
    pub fn new(timer: Arc<dyn Timer>) -> Self {
        Throttle { timer, buckets: Arc::default(), enabled: true }
    }
    /// No client-side throttling (the "plain client" of the benchmark).
    pub fn disabled(timer: Arc<dyn Timer>) -> Self {
        Throttle { enabled: false, ..Self::new(timer) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, OpClass), Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bucket<'a>(
        map: &'a mut HashMap<(String, OpClass), Bucket>,
        key: &(String, OpClass),
        now: Duration,
    ) -> &'a mut Bucket {
        map.entry(key.clone()).or_insert_with(|| {
            let (capacity, rate) = key.1.published_limit();
            Bucket {
                capacity,
                rate,
                tokens: capacity,
                updated: now,
                blocked_until: Duration::ZERO,
                in_flight: 0,
                acquired: 0,
            }
        })
    }

    /// Waits for a token of `class` in `subscription` (no subscription: tenant-level call, not
    /// throttled here).
    pub async fn acquire(&self, subscription: Option<&str>, class: OpClass) -> Permit {
        let Some(sub) = subscription.filter(|_| self.enabled) else {
            return Permit { key: None, alone: false, seq: 0 };
        };
        let key = (sub.to_ascii_lowercase(), class);
        loop {
            let wait = {
                let now = self.timer.now();
                let mut map = self.lock();
                let b = Self::bucket(&mut map, &key, now);
                b.refill(now);
                if now < b.blocked_until {
                    b.blocked_until - now
                } else if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    let alone = b.in_flight == 0;
                    b.in_flight += 1;
                    b.acquired += 1;
                    return Permit { key: Some(key), alone, seq: b.acquired };
                } else {
                    Duration::from_secs_f64((1.0 - b.tokens) / b.rate)
                }
            };
            self.timer.sleep(wait).await;
        }
    }

    /// Corrects the bucket from an answer: the remaining-quota header, and a 429's Retry-After.
    pub fn observe(&self, permit: Permit, remaining: Option<u64>, throttled_for: Option<Duration>) {
        let Some(key) = permit.key else { return };
        let now = self.timer.now();
        let mut map = self.lock();
        let b = Self::bucket(&mut map, &key, now);
        b.refill(now);
        b.in_flight = b.in_flight.saturating_sub(1);
        if let Some(r) = remaining {
            // The service counted this request; the ones still in flight will each take one more.
            // When this request overlapped no other one, the header is exact and we adopt it, up
            // or down. Otherwise the service may have answered the overlapping requests in
            // another order than we see the answers, so a count can be stale and too high: then
            // the header may only lower ours.
            let server = r as f64 - b.in_flight as f64;
            let sequential = permit.alone && b.in_flight == 0 && b.acquired == permit.seq;
            b.tokens = if sequential {
                server.min(b.capacity.max(r as f64))
            } else {
                b.tokens.min(server)
            };
            if r as f64 > b.capacity {
                // The RP publishes a larger bucket than the default: follow it.
                b.capacity = r as f64;
            }
        }
        if let Some(wait) = throttled_for {
            b.tokens = b.tokens.min(0.0);
            b.blocked_until = b.blocked_until.max(now + wait);
        }
    }

    pub fn state(&self, subscription: &str, class: OpClass) -> Option<BucketState> {
        let now = self.timer.now();
        let mut map = self.lock();
        let b = map.get_mut(&(subscription.to_ascii_lowercase(), class))?;
        b.refill(now);
        Some(BucketState { tokens: b.tokens, capacity: b.capacity, rate: b.rate })
    }
}

/// The Resource Graph quota window: `remaining` queries until `resets_at`.
#[derive(Debug, Clone)]
pub struct QuotaWindow {
    timer: Arc<dyn Timer>,
    state: Arc<Mutex<(Option<u64>, Duration)>>,
}

impl QuotaWindow {
    pub fn new(timer: Arc<dyn Timer>) -> Self {
        QuotaWindow { timer, state: Arc::new(Mutex::new((None, Duration::ZERO))) }
    }

    /// Waits until the window allows one more query.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let now = self.timer.now();
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                match s.0 {
                    Some(0) if now < s.1 => s.1 - now,
                    Some(0) => {
                        s.0 = None;
                        return;
                    }
                    Some(n) => {
                        s.0 = Some(n - 1);
                        return;
                    }
                    None => return,
                }
            };
            self.timer.sleep(wait).await;
        }
    }

    /// Follows `x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after`.
    pub fn observe(&self, remaining: Option<u64>, resets_after: Option<Duration>) {
        let now = self.timer.now();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = remaining {
            s.0 = Some(r);
            s.1 = now + resets_after.unwrap_or(Duration::from_secs(5));
        }
    }
}

/// Parses `hh:mm:ss` (the Resource Graph reset header).
pub fn parse_hms(s: &str) -> Option<Duration> {
    let mut parts = s.trim().split(':');
    let h: u64 = parts.next()?.parse().ok()?;
    let m: u64 = parts.next()?.parse().ok()?;
    let sec: f64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(0.0..60.0).contains(&sec) {
        return None;
    }
    Some(Duration::from_secs(h * 3600 + m * 60) + Duration::from_secs_f64(sec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::timer::VirtualTimer;

    #[tokio::test]
    async fn bucket_starts_at_published_burst_then_paces_at_refill_rate() {
        let t = VirtualTimer::new();
        let th = Throttle::new(Arc::new(t.clone()));
        for _ in 0..200 {
            let p = th.acquire(Some("s"), OpClass::Writes).await;
            th.observe(p, None, None);
        }
        assert_eq!(t.now(), Duration::ZERO, "the burst needs no wait");
        for _ in 0..10 {
            let p = th.acquire(Some("s"), OpClass::Writes).await;
            th.observe(p, None, None);
        }
        let secs = t.now().as_secs_f64();
        assert!((secs - 1.0).abs() < 1e-6, "10 more writes take 1 s at 10/s, took {secs}");
    }

    #[tokio::test]
    async fn remaining_header_lowers_the_bucket() {
        let t = VirtualTimer::new();
        let th = Throttle::new(Arc::new(t.clone()));
        let p = th.acquire(Some("s"), OpClass::Reads).await;
        th.observe(p, Some(3), None);
        assert_eq!(th.state("s", OpClass::Reads).unwrap().tokens, 3.0);
        for _ in 0..3 {
            let p = th.acquire(Some("s"), OpClass::Reads).await;
            th.observe(p, None, None);
        }
        assert_eq!(t.now(), Duration::ZERO);
        let p = th.acquire(Some("s"), OpClass::Reads).await;
        th.observe(p, None, None);
        assert!((t.now().as_secs_f64() - 1.0 / 25.0).abs() < 1e-6, "{:?}", t.now());
    }

    #[tokio::test]
    async fn out_of_order_answers_cannot_raise_the_count() {
        let t = VirtualTimer::new();
        let th = Throttle::new(Arc::new(t.clone()));
        let a = th.acquire(Some("s"), OpClass::Writes).await;
        let b = th.acquire(Some("s"), OpClass::Writes).await;
        // The service answered A (5 left) then B (4 left); we see B's answer first.
        th.observe(b, Some(4), None);
        assert_eq!(th.state("s", OpClass::Writes).unwrap().tokens, 3.0, "A still in flight");
        th.observe(a, Some(5), None);
        assert_eq!(
            th.state("s", OpClass::Writes).unwrap().tokens,
            3.0,
            "A's stale count is ignored"
        );
        // A request alone is trusted both ways.
        let c = th.acquire(Some("s"), OpClass::Writes).await;
        th.observe(c, Some(150), None);
        assert_eq!(th.state("s", OpClass::Writes).unwrap().tokens, 150.0);
    }

    #[tokio::test]
    async fn a_429_blocks_the_bucket_for_retry_after() {
        let t = VirtualTimer::new();
        let th = Throttle::new(Arc::new(t.clone()));
        let p = th.acquire(Some("s"), OpClass::Deletes).await;
        th.observe(p, Some(150), Some(Duration::from_secs(7)));
        let p = th.acquire(Some("s"), OpClass::Deletes).await;
        th.observe(p, None, None);
        assert!(t.now() >= Duration::from_secs(7));
        // Other classes and subscriptions are not affected.
        let before = t.now();
        let p = th.acquire(Some("s"), OpClass::Reads).await;
        th.observe(p, None, None);
        let p = th.acquire(Some("other"), OpClass::Deletes).await;
        th.observe(p, None, None);
        assert_eq!(t.now(), before);
    }

    #[tokio::test]
    async fn quota_window_waits_for_reset() {
        let t = VirtualTimer::new();
        let q = QuotaWindow::new(Arc::new(t.clone()));
        q.acquire().await;
        q.observe(Some(0), parse_hms("00:00:03"));
        q.acquire().await;
        assert_eq!(t.now(), Duration::from_secs(3));
    }

    #[test]
    fn parses_hms() {
        assert_eq!(parse_hms("00:00:03"), Some(Duration::from_secs(3)));
        assert_eq!(parse_hms("01:02:03"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_hms("bad"), None);
    }
}
