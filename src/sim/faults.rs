//! Fault injection for the simulator, seeded and reproducible, sans-IO.
//!
//! A [`FaultSpec`] is what `lifeboat sim serve --faults SPEC` and the test API take, e.g.
//! `outage=eastus;500=0.05;503=0.02;429-burst=0.01x20;latency=5ms..50ms;drop=0.01;slow-lro=10x;seed=7`.
//! A [`FaultInjector`] turns it into a decision per request. It draws the same four random numbers
//! for every request whatever the outcome (latency, burst start, drop, error), so the same seed
//! and the same request sequence give the same decisions, and changing one rate does not
//! reshuffle the others.
//!
//! Region outages are data only here: the simulator compares [`FaultSpec::region_is_out`] with
//! the region of the resource a request touches (which this module cannot know), because ARM
//! fails calls on resources of an unavailable region while Resource Graph still lists them; and
//! with the region of the resource's group, whose writes [`GroupWrites`] blocks or lets through
//! (ARM keeps a group's metadata in the group's region). So is `no-recreate`: the support desk
//! asks [`FaultSpec::refuses_recreation`] when a release's recreation of Microsoft's side
//! (alerts, assessments) falls due.

use super::model::normalize_region;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The syntax shown in every parse error.
pub const FAULT_SPEC_SYNTAX: &str = "items separated by ';': outage=REGION[,REGION...], \
     rg-writes=block|failover, 408|429|500|502|503|504=RATE, 429-burst=RATExCOUNT, latency=MIN[..MAX], drop=RATE, \
     slow-lro=FACTORx, no-recreate=all|CONNECTOR[,CONNECTOR...], seed=N; RATE is 0..1 or a percentage, durations like 5ms or 2s, \
     e.g. outage=eastus;500=0.05;429-burst=0.01x20;latency=5ms..50ms;seed=7; 'none' for no faults";

/// The largest added latency (a longer one only hangs the client).
pub const MAX_LATENCY: Duration = Duration::from_secs(600);
/// The largest `slow-lro` factor.
pub const MAX_LRO_SLOWDOWN: f64 = 1_000_000.0;

/// The `Retry-After` an injected 429 carries. ARM's own throttling (see `throttle`) computes a
/// real one; injected ones model a busy resource provider, which typically asks for seconds.
pub const INJECTED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Error statuses the injector can return, with ARM's error code and message for each.
const STATUSES: &[(u16, &str, &str)] = &[
    (408, "RequestTimeout", "The request timed out."),
    (429, "TooManyRequests", "The request is being throttled."),
    (500, "InternalServerError", "Encountered internal server error."),
    (502, "BadGateway", "The gateway received an invalid response from the resource provider."),
    (
        503,
        "ServiceUnavailable",
        "The service is temporarily unavailable. Please try again later.",
    ),
    (
        504,
        "GatewayTimeout",
        "The gateway did not receive a response from 'Microsoft.Security' within the specified time period.",
    ),
];

/// A run of injected 429s: with probability `probability` a request starts a burst, and it and
/// the next `length - 1` requests are throttled.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    pub probability: f64,
    pub length: u32,
}

/// What a region outage does to writes (PUT, PATCH, DELETE) on resources whose resource group
/// is located in the down region (the group itself included). Microsoft has documented both:
/// ARM "blocks your write calls" (ARM overview, 2024) and, since 2025, fails the group's
/// metadata over to a secondary region. Reads work in both modes. A resource located in the
/// down region fails whatever its group (the outage itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupWrites {
    /// Writes fail (`503 ResourceGroupRegionUnavailable`): the pessimistic default.
    #[default]
    Block,
    /// Writes go through, as if the metadata had failed over.
    Failover,
}

impl GroupWrites {
    pub fn name(self) -> &'static str {
        match self {
            GroupWrites::Block => "block",
            GroupWrites::Failover => "failover",
        }
    }
}

impl std::str::FromStr for GroupWrites {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "block" => Ok(GroupWrites::Block),
            "failover" => Ok(GroupWrites::Failover),
            _ => Err(format!("'{}' is not block or failover", s.trim())),
        }
    }
}

/// Which faults to inject. `Default` injects none.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// Regions whose resources fail as ARM fails for an unavailable region (names as ARM's
    /// `location`, compared case- and space-insensitively).
    pub outage_regions: Vec<String>,
    /// Writes to resources whose group is in an outage region: blocked (default) or failed over.
    pub group_writes: GroupWrites,
    pub seed: u64,
    /// Probability of each error status per request (the sum is at most 1).
    pub error_rates: BTreeMap<u16, f64>,
    pub throttle_burst: Option<Burst>,
    /// Added latency, uniform in `min..=max`.
    pub latency: Option<(Duration, Duration)>,
    /// Probability that the connection is dropped without a response.
    pub drop_rate: f64,
    /// Long-running operations take this many times longer (1 = normal).
    pub lro_slowdown: f64,
    /// Releases for which the support desk does not recreate Microsoft's side (alerts,
    /// assessments) on the new connector: `all`, or connector names (old or new, compared
    /// case-insensitively).
    pub no_recreate: Vec<String>,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            outage_regions: Vec::new(),
            group_writes: GroupWrites::Block,
            seed: 0,
            error_rates: BTreeMap::new(),
            throttle_burst: None,
            latency: None,
            drop_rate: 0.0,
            lro_slowdown: 1.0,
            no_recreate: Vec::new(),
        }
    }
}

impl FaultSpec {
    /// True when `region` (a resource's `location`) is in an outage.
    pub fn region_is_out(&self, region: &str) -> bool {
        let region = normalize_region(region);
        self.outage_regions.iter().any(|r| normalize_region(r) == region)
    }

    /// True when the desk must not recreate Microsoft's side for a release between these
    /// connectors (names, or resource IDs whose last segment is the name).
    pub fn refuses_recreation(&self, connectors: &[&str]) -> bool {
        let name = |c: &str| c.rsplit('/').next().unwrap_or(c).to_ascii_lowercase();
        self.no_recreate.iter().any(|n| {
            n.eq_ignore_ascii_case("all")
                || connectors.iter().any(|c| name(c) == n.to_ascii_lowercase())
        })
    }

    /// True when the spec injects nothing at all.
    pub fn is_none(&self) -> bool {
        FaultSpec { seed: 0, ..self.clone() } == FaultSpec::default()
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let (num, scale) = match s.strip_suffix('%') {
        Some(p) => (p.trim(), 100.0),
        None => (s, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a rate (a number between 0 and 1, or a percentage)"))?;
    let v = v / scale;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("rate '{s}' is outside 0..1"));
    }
    Ok(v)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{}' is not a duration ({e}; e.g. 5ms or 2s)", s.trim()))
}

/// Formats a duration so that [`parse_duration`] reads it back exactly and without spaces.
fn format_duration(d: Duration) -> String {
    let n = d.as_nanos();
    if n == 0 {
        "0ms".into()
    } else if n % 1_000_000_000 == 0 {
        format!("{}s", n / 1_000_000_000)
    } else if n % 1_000_000 == 0 {
        format!("{}ms", n / 1_000_000)
    } else if n % 1_000 == 0 {
        format!("{}us", n / 1_000)
    } else {
        format!("{n}ns")
    }
}

fn parse_item(spec: &mut FaultSpec, seen: &mut Vec<String>, item: &str) -> Result<(), String> {
    let (key, value) = item
        .split_once('=')
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
        .ok_or_else(|| "expected KEY=VALUE".to_string())?;
    if key != "outage" && key != "no-recreate" {
        if seen.contains(&key) {
            return Err(format!("'{key}' is given twice"));
        }
        seen.push(key.clone());
    }
    if value.is_empty() {
        return Err(format!("'{key}' has no value"));
    }
    match key.as_str() {
        "outage" => {
            for region in value.split(',').map(str::trim) {
                if region.is_empty() {
                    return Err("empty region name".into());
                }
                if !spec.region_is_out(region) {
                    spec.outage_regions.push(region.to_string());
                }
            }
        }
        "rg-writes" => spec.group_writes = value.parse()?,
        "no-recreate" => {
            for name in value.split(',').map(str::trim) {
                if name.is_empty() {
                    return Err("empty connector name".into());
                }
                if !spec.no_recreate.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    spec.no_recreate.push(name.to_string());
                }
            }
        }
        "seed" => {
            spec.seed = value
                .parse()
                .map_err(|_| format!("seed '{value}' is not a whole number from 0 to 2^64-1"))?;
        }
        "drop" => spec.drop_rate = parse_rate(value)?,
        "slow-lro" => {
            let num = value.strip_suffix(['x', 'X']).unwrap_or(value);
            let f: f64 = num
                .trim()
                .parse()
                .map_err(|_| format!("slow-lro factor '{value}' is not a number (e.g. 10x)"))?;
            if !(f.is_finite() && (1.0..=MAX_LRO_SLOWDOWN).contains(&f)) {
                return Err(format!(
                    "slow-lro factor '{value}' must be at least 1 and at most {MAX_LRO_SLOWDOWN}"
                ));
            }
            spec.lro_slowdown = f;
        }
        "latency" => {
            let (lo, hi) = match value.split_once("..") {
                Some((lo, hi)) => (parse_duration(lo)?, parse_duration(hi)?),
                None => {
                    let d = parse_duration(value)?;
                    (d, d)
                }
            };
            if lo > hi {
                return Err(format!("latency range '{value}' has its minimum above its maximum"));
            }
            if hi > MAX_LATENCY {
                return Err(format!(
                    "latency '{value}' is above the maximum of {}",
                    format_duration(MAX_LATENCY)
                ));
            }
            spec.latency = Some((lo, hi));
        }
        "429-burst" => {
            let (p, n) = value
                .split_once(['x', 'X'])
                .ok_or_else(|| format!("'{value}' is not RATExCOUNT (e.g. 0.01x20)"))?;
            let probability = parse_rate(p.trim())?;
            let length: u32 = n.trim().parse().map_err(|_| {
                format!("burst length '{}' is not a whole number (e.g. 0.01x20)", n.trim())
            })?;
            if length == 0 {
                return Err("burst length must be at least 1".into());
            }
            spec.throttle_burst = Some(Burst { probability, length });
        }
        status => {
            let code: u16 = status.parse().map_err(|_| format!("unknown fault '{status}'"))?;
            if !STATUSES.iter().any(|(s, _, _)| *s == code) {
                return Err(format!("status {code} cannot be injected"));
            }
            spec.error_rates.insert(code, parse_rate(value)?);
        }
    }
    Ok(())
}

impl std::str::FromStr for FaultSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut spec = FaultSpec::default();
        if s.trim().eq_ignore_ascii_case("none") {
            return Ok(spec);
        }
        let mut seen = Vec::new();
        for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            parse_item(&mut spec, &mut seen, item).map_err(|why| {
                format!("fault item '{item}': {why} (accepted: {FAULT_SPEC_SYNTAX})")
            })?;
        }
        let total: f64 = spec.error_rates.values().sum::<f64>();
        if total > 1.0 + 1e-9 {
            return Err(format!(
                "fault error rates add up to {total}, more than 1 (lower them; accepted: {FAULT_SPEC_SYNTAX})"
            ));
        }
        Ok(spec)
    }
}

impl fmt::Display for FaultSpec {
    /// The canonical form: parsing it gives back an equal spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        if !self.outage_regions.is_empty() {
            items.push(format!("outage={}", self.outage_regions.join(",")));
        }
        if self.group_writes != GroupWrites::Block {
            items.push(format!("rg-writes={}", self.group_writes.name()));
        }
        for (status, rate) in &self.error_rates {
            items.push(format!("{status}={rate}"));
        }
        if let Some(b) = &self.throttle_burst {
            items.push(format!("429-burst={}x{}", b.probability, b.length));
        }
        if let Some((lo, hi)) = self.latency {
            items.push(format!("latency={}..{}", format_duration(lo), format_duration(hi)));
        }
        if self.drop_rate > 0.0 {
            items.push(format!("drop={}", self.drop_rate));
        }
        if self.lro_slowdown != 1.0 {
            items.push(format!("slow-lro={}x", self.lro_slowdown));
        }
        if !self.no_recreate.is_empty() {
            items.push(format!("no-recreate={}", self.no_recreate.join(",")));
        }
        if self.seed != 0 {
            items.push(format!("seed={}", self.seed));
        }
        if items.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&items.join(";"))
        }
    }
}

/// What the simulator knows about a request when deciding its fate.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub subscription: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultDecision {
    /// Serve the request normally.
    Pass,
    /// Answer with ARM's error envelope `{"error": {"code": code, "message": message}}`.
    Error { status: u16, code: &'static str, message: String },
    /// Answer 429 with `Retry-After`; the body comes from [`throttled_error`].
    Throttle { retry_after: Duration },
    /// Close the connection without a response.
    Drop,
    /// Wait this long (simulated) before acting on the next decision.
    Delay(Duration),
}

/// ARM's error code and message for a 429: `SubscriptionRequestsThrottled` when the request is
/// scoped to a subscription, `TooManyRequests` otherwise.
pub fn throttled_error(
    subscription: Option<&str>,
    retry_after: Duration,
) -> (&'static str, String) {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    match subscription {
        Some(sub) => (
            "SubscriptionRequestsThrottled",
            format!(
                "Number of requests for subscription '{sub}' exceeded the limit. Please try again \
                 after '{secs}' seconds after additional tokens are available. Refer to \
                 https://aka.ms/arm-throttling for additional information."
            ),
        ),
        None => (
            "TooManyRequests",
            format!("The request is being throttled. Please try again after '{secs}' seconds."),
        ),
    }
}

#[derive(Debug)]
struct Inner {
    spec: FaultSpec,
    rng: StdRng,
    /// Requests still to throttle in the current 429 burst.
    burst_left: u32,
}

/// Decides, request by request, which faults to inject. Shared by all request handlers.
#[derive(Debug)]
pub struct FaultInjector {
    inner: Mutex<Inner>,
}

impl FaultInjector {
    pub fn new(spec: FaultSpec) -> Self {
        let rng = StdRng::seed_from_u64(spec.seed);
        FaultInjector { inner: Mutex::new(Inner { spec, rng, burst_left: 0 }) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The decisions for one request, in order: at most one [`FaultDecision::Delay`], then
    /// exactly one of `Pass`, `Error`, `Throttle` or `Drop`.
    pub fn decide(&self, req: &RequestInfo) -> Vec<FaultDecision> {
        let mut g = self.lock();
        let inner = &mut *g;
        // Always four draws, whatever the outcome: reproducibility across spec changes.
        let (u_latency, u_burst, u_drop, u_error): (f64, f64, f64, f64) =
            (inner.rng.random(), inner.rng.random(), inner.rng.random(), inner.rng.random());
        let spec = &inner.spec;
        let mut out = Vec::with_capacity(2);
        if let Some((lo, hi)) = spec.latency {
            let span = hi.saturating_sub(lo).as_secs_f64();
            let d = lo + Duration::from_secs_f64(span * u_latency);
            if d > Duration::ZERO {
                out.push(FaultDecision::Delay(d.min(hi)));
            }
        }
        if inner.burst_left > 0 {
            inner.burst_left -= 1;
            out.push(FaultDecision::Throttle { retry_after: INJECTED_RETRY_AFTER });
            return out;
        }
        if let Some(b) = &spec.throttle_burst {
            if u_burst < b.probability {
                inner.burst_left = b.length - 1;
                out.push(FaultDecision::Throttle { retry_after: INJECTED_RETRY_AFTER });
                return out;
            }
        }
        if u_drop < spec.drop_rate {
            out.push(FaultDecision::Drop);
            return out;
        }
        let mut acc = 0.0;
        for (&status, &rate) in &spec.error_rates {
            acc += rate;
            if u_error < acc {
                out.push(error_for(status, req));
                return out;
            }
        }
        out.push(FaultDecision::Pass);
        out
    }

    pub fn spec(&self) -> FaultSpec {
        self.lock().spec.clone()
    }

    /// Replaces the spec and restarts the random sequence from its seed.
    pub fn set_spec(&self, spec: FaultSpec) {
        let mut g = self.lock();
        g.rng = StdRng::seed_from_u64(spec.seed);
        g.burst_left = 0;
        g.spec = spec;
    }

    /// The `no-recreate` list (see [`FaultSpec::no_recreate`]).
    pub fn no_recreate(&self) -> Vec<String> {
        self.lock().spec.no_recreate.clone()
    }

    /// How many times longer long-running operations take (1 = normal).
    pub fn lro_slowdown(&self) -> f64 {
        self.lock().spec.lro_slowdown
    }
}

fn error_for(status: u16, req: &RequestInfo) -> FaultDecision {
    if status == 429 {
        return FaultDecision::Throttle { retry_after: INJECTED_RETRY_AFTER };
    }
    let (code, text) = STATUSES
        .iter()
        .find(|(s, _, _)| *s == status)
        .map(|(_, c, t)| (*c, *t))
        .unwrap_or(("InternalServerError", "Encountered internal server error."));
    FaultDecision::Error {
        status,
        code,
        message: format!("{text} (fault injected by the simulator on {} {})", req.method, req.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: RequestInfo<'static> = RequestInfo {
        method: "GET",
        path: "/subscriptions/s1/providers/Microsoft.Security/securityConnectors",
        subscription: Some("s1"),
    };

    fn parse(s: &str) -> FaultSpec {
        s.parse().unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn parse_err(s: &str) -> String {
        match s.parse::<FaultSpec>() {
            Ok(spec) => panic!("{s:?} should not parse, got {spec:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_the_full_example() {
        let spec = parse(
            "outage=eastus;500=0.05;503=0.02;429-burst=0.01x20;latency=5ms..50ms;drop=0.01;slow-lro=10x;seed=7",
        );
        assert_eq!(spec.outage_regions, vec!["eastus".to_string()]);
        assert_eq!(spec.error_rates, BTreeMap::from([(500, 0.05), (503, 0.02)]));
        assert_eq!(spec.throttle_burst, Some(Burst { probability: 0.01, length: 20 }));
        assert_eq!(spec.latency, Some((Duration::from_millis(5), Duration::from_millis(50))));
        assert_eq!((spec.drop_rate, spec.lro_slowdown, spec.seed), (0.01, 10.0, 7));
    }

    #[test]
    fn parses_variants() {
        assert_eq!(parse(""), FaultSpec::default());
        assert_eq!(parse("none"), FaultSpec::default());
        assert!(parse(" none ").is_none());
        let s = parse(" outage = eastus , West Europe ; outage=EastUS;500=5%; latency=20ms ;");
        assert_eq!(s.outage_regions, vec!["eastus".to_string(), "West Europe".to_string()]);
        assert!(s.region_is_out("westeurope") && s.region_is_out("East US"));
        assert!(!s.region_is_out("westus"));
        assert_eq!(s.error_rates[&500], 0.05);
        assert_eq!(s.latency, Some((Duration::from_millis(20), Duration::from_millis(20))));
        assert_eq!(parse("slow-lro=2.5").lro_slowdown, 2.5);
        assert_eq!(parse("outage=eastus").group_writes, GroupWrites::Block);
        assert_eq!(parse("rg-writes=Failover").group_writes, GroupWrites::Failover);
        assert!(!parse("rg-writes=failover").is_none());
        assert!(parse("rg-writes=block").is_none(), "block is the default");
        assert!(!parse("seed=3;slow-lro=2x").is_none());
        assert!(parse("seed=3").is_none());
    }

    #[test]
    fn no_recreate_names_connectors_or_all() {
        let s = parse("no-recreate=ADO-weu; no-recreate=ado-weu,github-eus");
        assert_eq!(s.no_recreate, vec!["ADO-weu".to_string(), "github-eus".to_string()]);
        assert!(!s.is_none());
        let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado-weu";
        assert!(s.refuses_recreation(&[id, "ado-weu-northeurope"]));
        assert!(s.refuses_recreation(&["other", "GITHUB-EUS"]));
        assert!(!s.refuses_recreation(&["gitlab-weu", "gitlab-weu-northeurope"]));
        assert!(parse("no-recreate=all").refuses_recreation(&["anything"]));
        assert!(!FaultSpec::default().refuses_recreation(&["ado-weu"]));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "none",
            "outage=eastus,westeurope;500=0.05;503=0.02;429-burst=0.01x20;latency=5ms..50ms;drop=0.01;slow-lro=10x;seed=7",
            "408=0.1;429=0.2;502=0.3;504=0.001",
            "latency=1500ms..2s;seed=18446744073709551615",
            "no-recreate=ado-weu,gitlab-weu;seed=2",
            "outage=westeurope;no-recreate=all",
            "latency=1us..3ns",
            "outage=westeurope;rg-writes=failover",
        ] {
            let Ok(spec) = s.parse::<FaultSpec>() else {
                // "1us..3ns" is rejected (min above max): checked below.
                assert_eq!(s, "latency=1us..3ns");
                continue;
            };
            let shown = spec.to_string();
            assert_eq!(parse(&shown), spec, "{s} -> {shown}");
        }
        assert_eq!(
            parse("seed=7;500=0.05;outage=eastus").to_string(),
            "outage=eastus;500=0.05;seed=7"
        );
        assert_eq!(parse("latency=1500ms..2s").to_string(), "latency=1500ms..2s");
        assert_eq!(FaultSpec::default().to_string(), "none");
    }

    #[test]
    fn bad_specs_name_the_item_and_show_the_syntax() {
        let cases = [
            ("500=abc", "fault item '500=abc': 'abc' is not a rate"),
            ("500=1.5", "rate '1.5' is outside 0..1"),
            ("418=0.1", "status 418 cannot be injected"),
            ("explode=1", "unknown fault 'explode'"),
            ("outage", "fault item 'outage': expected KEY=VALUE"),
            ("outage=", "'outage' has no value"),
            ("outage=eastus,,westus", "empty region name"),
            ("seed=-1", "seed '-1' is not a whole number"),
            ("seed=1;seed=2", "fault item 'seed=2': 'seed' is given twice"),
            ("429-burst=0.01", "'0.01' is not RATExCOUNT"),
            ("429-burst=0.01x0", "burst length must be at least 1"),
            ("429-burst=0.01xmany", "burst length 'many' is not a whole number"),
            ("latency=5 parsecs", "'5 parsecs' is not a duration"),
            ("latency=50ms..5ms", "minimum above its maximum"),
            ("slow-lro=fast", "slow-lro factor 'fast' is not a number"),
            ("slow-lro=0.5x", "must be at least 1"),
            ("slow-lro=1e300x", "at most 1000000"),
            ("latency=0ms..100y", "above the maximum of 600s"),
            ("drop=NaN", "outside 0..1"),
            ("rg-writes=maybe", "'maybe' is not block or failover"),
            ("rg-writes=block;rg-writes=failover", "'rg-writes' is given twice"),
            ("no-recreate=a,,b", "empty connector name"),
            ("no-recreate=", "'no-recreate' has no value"),
        ];
        for (input, expected) in cases {
            let err = parse_err(input);
            assert!(err.contains(expected), "{input}: {err}");
            assert!(err.contains("(accepted: items separated by ';'"), "{input}: {err}");
        }
        let err = parse_err("500=0.6;503=0.6");
        assert!(err.contains("add up to 1.2"), "{err}");
    }

    fn run(inj: &FaultInjector, n: usize) -> Vec<Vec<FaultDecision>> {
        (0..n).map(|_| inj.decide(&REQ)).collect()
    }

    #[test]
    fn same_seed_same_decisions() {
        let spec = parse("500=0.1;503=0.1;429-burst=0.05x3;latency=1ms..9ms;drop=0.05;seed=42");
        let a = run(&FaultInjector::new(spec.clone()), 2000);
        let b = run(&FaultInjector::new(spec.clone()), 2000);
        assert_eq!(a, b);
        let c = run(&FaultInjector::new(FaultSpec { seed: 43, ..spec.clone() }), 2000);
        assert_ne!(a, c, "another seed gives another sequence");
        // set_spec restarts the sequence.
        let inj = FaultInjector::new(spec.clone());
        run(&inj, 10);
        inj.set_spec(spec);
        assert_eq!(run(&inj, 2000), a);
    }

    #[test]
    fn no_faults_always_pass() {
        let inj = FaultInjector::new(FaultSpec::default());
        for d in run(&inj, 1000) {
            assert_eq!(d, vec![FaultDecision::Pass]);
        }
        assert_eq!(inj.lro_slowdown(), 1.0);
        assert_eq!(FaultInjector::new(parse("slow-lro=10x")).lro_slowdown(), 10.0);
    }

    /// Asserts `count` of `n` draws is within 5 standard deviations of `p`.
    fn assert_rate(what: &str, count: usize, n: usize, p: f64) {
        let (n, count) = (n as f64, count as f64);
        let sd = (n * p * (1.0 - p)).sqrt();
        assert!(
            (count - n * p).abs() <= 5.0 * sd + 1.0,
            "{what}: {count} of {n}, expected ~{}",
            n * p
        );
    }

    #[test]
    fn rates_hold_over_ten_thousand_draws() {
        let n = 10_000;
        let inj = FaultInjector::new(parse(
            "500=0.05;503=0.02;429=0.03;drop=0.01;latency=5ms..50ms;seed=7",
        ));
        let all = run(&inj, n);
        let terminal = |d: &Vec<FaultDecision>| d.last().cloned().unwrap_or(FaultDecision::Pass);
        let count =
            |f: &dyn Fn(&FaultDecision) -> bool| all.iter().filter(|d| f(&terminal(d))).count();
        let e500 = count(&|d| matches!(d, FaultDecision::Error { status: 500, .. }));
        let e503 = count(&|d| matches!(d, FaultDecision::Error { status: 503, .. }));
        let t429 = count(&|d| matches!(d, FaultDecision::Throttle { .. }));
        let drops = count(&|d| *d == FaultDecision::Drop);
        // Errors are only drawn for requests not dropped.
        assert_rate("drop", drops, n, 0.01);
        assert_rate("500", e500, n, 0.05 * 0.99);
        assert_rate("503", e503, n, 0.02 * 0.99);
        assert_rate("429", t429, n, 0.03 * 0.99);
        let mut total_ms = 0.0;
        for d in &all {
            assert_eq!(d.len(), 2, "a delay then an outcome: {d:?}");
            let FaultDecision::Delay(l) = d[0] else { panic!("first is a delay: {d:?}") };
            assert!(l >= Duration::from_millis(5) && l <= Duration::from_millis(50), "{l:?}");
            total_ms += l.as_secs_f64() * 1000.0;
        }
        let mean = total_ms / n as f64;
        assert!((26.0..=29.0).contains(&mean), "mean latency {mean} ms, expected ~27.5");
        match all
            .iter()
            .map(terminal)
            .find(|d| matches!(d, FaultDecision::Error { status: 503, .. }))
        {
            Some(FaultDecision::Error { code, message, .. }) => {
                assert_eq!(code, "ServiceUnavailable");
                assert!(message.contains("GET /subscriptions/s1/"), "{message}");
            }
            other => panic!("no 503 drawn: {other:?}"),
        }
    }

    #[test]
    fn bursts_throttle_runs_of_the_given_length() {
        let n = 10_000;
        let inj = FaultInjector::new(parse("429-burst=0.01x20;seed=1"));
        let throttled: Vec<bool> = run(&inj, n)
            .iter()
            .map(|d| matches!(d.as_slice(), [FaultDecision::Throttle { retry_after }] if *retry_after == INJECTED_RETRY_AFTER))
            .collect();
        // Split into runs of consecutive throttled requests; each run is one or more whole bursts.
        let mut runs = Vec::new();
        let mut len = 0;
        for &t in &throttled {
            if t {
                len += 1;
            } else if len > 0 {
                runs.push(len);
                len = 0;
            }
        }
        assert!(runs.iter().all(|r| r % 20 == 0), "runs {runs:?}");
        let bursts: usize = runs.iter().map(|r| r / 20).sum::<usize>() + len.div_ceil(20);
        // A burst can start only on a request that is not already throttled.
        let eligible = throttled.iter().filter(|t| !**t).count() + bursts;
        assert_rate("burst starts", bursts, eligible, 0.01);
        assert!(bursts > 0);
    }

    #[test]
    fn throttle_bodies_follow_arm() {
        let (code, msg) = throttled_error(Some("s1"), Duration::from_millis(1200));
        assert_eq!(code, "SubscriptionRequestsThrottled");
        assert!(msg.contains("subscription 's1'") && msg.contains("after '2' seconds"), "{msg}");
        assert_eq!(throttled_error(None, Duration::from_secs(1)).0, "TooManyRequests");
        let inj = FaultInjector::new(parse("500=1"));
        match inj.decide(&REQ).as_slice() {
            [FaultDecision::Error { status: 500, code: "InternalServerError", .. }] => {}
            other => panic!("{other:?}"),
        }
    }
}
