//! The test-control API under `/_sim/`: not part of the Azure contract. It fails and restores
//! regions, sets faults, moves the simulated clock, mints one-time OAuth codes, and exposes the
//! request log, request counts and the whole state for assertions. Never throttled or faulted.

use super::faults::FaultSpec;
use super::model::{normalize_region, OAuthCode};
use super::server::{lock, ArmError, ArmResult, Ctx, Reply, Shared};
use rand::Rng;
use serde_json::{json, Value};
use std::time::Duration;

/// Mints a one-time OAuth code valid for `code_ttl` of simulated time.
pub fn mint(shared: &Shared, scope: Option<Vec<String>>) -> String {
    let mut rng = rand::rng();
    let code: String = (0..32).map(|_| format!("{:x}", rng.random_range(0..16u8))).collect();
    let expires_at = shared.clock.now() + shared.config.code_ttl.as_secs_f64();
    let scope = scope.map(|s| s.into_iter().map(|n| n.to_ascii_lowercase()).collect());
    shared.cloud().oauth_codes.insert(code.clone(), OAuthCode { expires_at, scope });
    code
}

fn optional_body(ctx: &Ctx) -> Result<Value, ArmError> {
    if ctx.body.is_empty() {
        Ok(json!({}))
    } else {
        ctx.json_body()
    }
}

pub fn route(ctx: &Ctx) -> ArmResult {
    let l: Vec<&str> = ctx.lower[1..].iter().map(String::as_str).collect();
    let m = ctx.method.as_str();
    let shared = ctx.shared;
    match (m, l.as_slice()) {
        ("POST", ["oauth", "code"]) => {
            let body = optional_body(ctx)?;
            let scope = match body.get("scope") {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) => {
                    Some(a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                }
                Some(_) => {
                    return Err(ArmError::bad_request(
                        "'scope' must be an array of top-level names",
                    )
                    .target("scope"))
                }
            };
            let ttl = shared.config.code_ttl.as_secs();
            Ok(Reply::ok(json!({"code": mint(shared, scope), "expiresInSeconds": ttl})))
        }
        ("GET", ["clock"]) => Ok(Reply::ok(json!({"now": shared.clock.now()}))),
        ("POST", ["clock", "advance"]) => {
            let body = optional_body(ctx)?;
            let Some(secs) =
                body.get("seconds").and_then(Value::as_f64).filter(|s| *s >= 0.0 && s.is_finite())
            else {
                return Err(ArmError::bad_request("'seconds' must be a non-negative number")
                    .target("seconds"));
            };
            shared.clock.advance(Duration::from_secs_f64(secs));
            Ok(Reply::ok(json!({"now": shared.clock.now()})))
        }
        ("POST", ["regions", _, action @ ("fail" | "restore")]) => {
            let region = normalize_region(&ctx.segs[2]);
            let mut spec = shared.faults.spec();
            spec.outage_regions.retain(|r| normalize_region(r) != region);
            if *action == "fail" {
                spec.outage_regions.push(region.clone());
            }
            shared.faults.set_spec(spec.clone());
            Ok(Reply::ok(json!({"outageRegions": spec.outage_regions})))
        }
        ("GET", ["faults"]) => {
            Ok(Reply::ok(json!({"outageRegions": shared.faults.spec().outage_regions})))
        }
        ("PUT", ["faults"]) => {
            let body = optional_body(ctx)?;
            let Some(text) = body.get("spec").and_then(Value::as_str) else {
                return Err(ArmError::bad_request("'spec' (a fault spec string) is required")
                    .target("spec"));
            };
            let spec: FaultSpec = text.parse().map_err(|e| {
                ArmError::bad_request(format!("the fault spec is not valid: {e}")).target("spec")
            })?;
            shared.faults.set_spec(spec);
            Ok(Reply::ok(json!({"outageRegions": shared.faults.spec().outage_regions})))
        }
        ("GET", ["requests"]) => {
            let log = lock(&shared.log);
            Ok(Reply::ok(json!({"requests": log.iter().collect::<Vec<_>>()})))
        }
        ("DELETE", ["requests"]) => {
            lock(&shared.log).clear();
            lock(&shared.counts).clear();
            Ok(Reply::empty(204))
        }
        ("GET", ["counts"]) => Ok(Reply::ok(json!({"counts": *lock(&shared.counts)}))),
        ("GET", ["state"]) => {
            let mut c = shared.cloud().clone();
            c.sim_elapsed = shared.clock.now();
            Ok(Reply::ok(serde_json::to_value(&c).unwrap_or(Value::Null)))
        }
        ("GET", ["owners"]) => Ok(Reply::ok(json!({"owners": shared.cloud().owners}))),
        _ => Err(ArmError::new(
            404,
            "NotFound",
            format!("no test-control endpoint {m} /{}", ctx.segs.join("/")),
        )),
    }
}
