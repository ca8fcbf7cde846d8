//! TEMPORARY stand-in for `src/sim/faults.rs` (branch `kql`), with the exact interface agreed in
//! the brief. It parses only `outage=` and `seed=` and decides nothing else (always `Pass`).
//! Delete this file at merge and point `mod faults` in `src/sim/mod.rs` back at `faults.rs`.

use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    pub outage_regions: Vec<String>,
    pub seed: u64,
}

impl std::str::FromStr for FaultSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut spec = FaultSpec::default();
        for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            match item.split_once('=') {
                Some(("outage", v)) => spec.outage_regions.push(v.to_string()),
                Some(("seed", v)) => {
                    spec.seed = v.parse().map_err(|_| format!("bad seed in `{item}`"))?
                }
                _ => return Err(format!("unknown fault `{item}`")),
            }
        }
        Ok(spec)
    }
}

pub struct RequestInfo<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub subscription: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultDecision {
    Pass,
    Error { status: u16, code: &'static str, message: String },
    Throttle { retry_after: Duration },
    Drop,
    Delay(Duration),
}

pub struct FaultInjector {
    spec: Mutex<FaultSpec>,
}

impl FaultInjector {
    pub fn new(spec: FaultSpec) -> Self {
        FaultInjector { spec: Mutex::new(spec) }
    }
    pub fn decide(&self, _req: &RequestInfo) -> Vec<FaultDecision> {
        vec![FaultDecision::Pass]
    }
    pub fn spec(&self) -> FaultSpec {
        self.spec.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn set_spec(&self, spec: FaultSpec) {
        *self.spec.lock().unwrap_or_else(|p| p.into_inner()) = spec;
    }
    pub fn lro_slowdown(&self) -> f64 {
        1.0
    }
}
