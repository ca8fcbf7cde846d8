//! TEMPORARY stand-in for `src/sim/throttle.rs` (branch `kql`), with the exact interface agreed in
//! the brief, so the simulator builds and its tests run before that branch lands. Delete this file
//! at merge and point `mod throttle` in `src/sim/mod.rs` back at `throttle.rs`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpClass {
    Read,
    Write,
    Delete,
}

#[derive(Debug, Clone, Copy)]
pub struct BucketSpec {
    pub capacity: u32,
    pub refill_per_sec: f64,
}

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub reads: BucketSpec,
    pub writes: BucketSpec,
    pub deletes: BucketSpec,
    pub graph_quota: u32,
    pub graph_window: Duration,
    pub enabled: bool,
}

impl Default for ThrottleConfig {
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

#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Allowed { remaining: u32 },
    Throttled { retry_after: Duration },
}

#[derive(Debug, Clone, PartialEq)]
pub enum GraphAdmission {
    Allowed { remaining: u32, resets_after: Duration },
    Throttled { retry_after: Duration },
}

pub struct ArmThrottle {
    cfg: ThrottleConfig,
    buckets: Mutex<HashMap<(String, OpClass), (f64, Duration)>>,
    graph: Mutex<HashMap<String, (u32, Duration)>>,
}

impl ArmThrottle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        ArmThrottle { cfg, buckets: Mutex::new(HashMap::new()), graph: Mutex::new(HashMap::new()) }
    }

    pub fn admit(&self, subscription: &str, class: OpClass, now: Duration) -> Admission {
        let spec = match class {
            OpClass::Read => self.cfg.reads,
            OpClass::Write => self.cfg.writes,
            OpClass::Delete => self.cfg.deletes,
        };
        if !self.cfg.enabled {
            return Admission::Allowed { remaining: spec.capacity };
        }
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let e = b
            .entry((subscription.to_ascii_lowercase(), class))
            .or_insert((spec.capacity as f64, now));
        let dt = now.saturating_sub(e.1).as_secs_f64();
        e.0 = (e.0 + dt * spec.refill_per_sec).min(spec.capacity as f64);
        e.1 = now;
        if e.0 >= 1.0 {
            e.0 -= 1.0;
            Admission::Allowed { remaining: e.0.floor() as u32 }
        } else {
            let secs = (1.0 - e.0) / spec.refill_per_sec;
            Admission::Throttled { retry_after: Duration::from_secs_f64(secs) }
        }
    }

    pub fn admit_graph(&self, caller: &str, now: Duration) -> GraphAdmission {
        let w = self.cfg.graph_window;
        if !self.cfg.enabled {
            return GraphAdmission::Allowed { remaining: self.cfg.graph_quota, resets_after: w };
        }
        let mut g = self.graph.lock().unwrap_or_else(|p| p.into_inner());
        let e = g.entry(caller.to_string()).or_insert((0, now));
        if now >= e.1 + w {
            *e = (0, now);
        }
        let resets_after = (e.1 + w).saturating_sub(now);
        if e.0 >= self.cfg.graph_quota {
            return GraphAdmission::Throttled { retry_after: resets_after };
        }
        e.0 += 1;
        GraphAdmission::Allowed { remaining: self.cfg.graph_quota - e.0, resets_after }
    }
}

pub fn format_resets_after(d: Duration) -> String {
    let s = d.as_secs_f64().ceil() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}
