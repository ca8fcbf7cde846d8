//! The test-control API under `/_sim/`: not part of the Azure contract. It fails and restores
//! regions, sets faults, moves the simulated clock, mints one-time OAuth codes, stages API
//! change (served api-versions, drift, long-running-operation shapes, refused values), and
//! exposes the request log, request counts and the whole state for assertions. Never throttled
//! or faulted.

use super::faults::FaultSpec;
use super::lro::LroShape;
use super::model::{normalize_region, OAuthCode};
use super::reject::Reject;
use super::server::{lock, ArmError, ArmResult, Ctx, Reply, Shared};
use super::versions::{self, Family};
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

/// The longest jump of the simulated clock one request may ask for.
pub const MAX_ADVANCE_SECONDS: f64 = 400.0 * 24.0 * 3600.0;
/// The longest fault spec accepted.
const MAX_SPEC_LEN: usize = 4096;
/// The most names one OAuth code's scope may hold, and the longest name.
const MAX_SCOPE_NAMES: usize = 10_000;
const MAX_NAME_LEN: usize = 260;

/// A control request's body: none, `null` or a JSON object holding only `allowed` keys (a
/// misspelt key is refused rather than silently ignored).
fn control_body(ctx: &Ctx, allowed: &[&str]) -> Result<Value, ArmError> {
    let trimmed = ctx.body.trim_ascii();
    if trimmed.is_empty() || trimmed == b"null" {
        return Ok(json!({}));
    }
    let body = ctx.json_body()?;
    if let Some(k) = body
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| !allowed.contains(&k.as_str()))
    {
        let expected = if allowed.is_empty() {
            "this endpoint takes no body".to_string()
        } else {
            format!("accepted: {}", allowed.join(", "))
        };
        let shown: String = k.chars().filter(|c| !c.is_control()).take(80).collect();
        return Err(ArmError::bad_request(format!("Unknown property '{shown}' ({expected})."))
            .target(&shown));
    }
    Ok(body)
}

/// `seconds` of `POST /_sim/clock/advance`: a finite JSON number from 0 to 400 days.
fn advance_seconds(body: &Value) -> Result<Duration, ArmError> {
    let bad = |why: &str| {
        ArmError::bad_request(format!(
            "'seconds' {why}: give a number of seconds from 0 to {MAX_ADVANCE_SECONDS} (400 days), e.g. {{\"seconds\": 3600}}"
        ))
        .target("seconds")
    };
    let v = body.get("seconds").ok_or_else(|| bad("is required"))?;
    let secs = v.as_f64().ok_or_else(|| bad("must be a JSON number"))?;
    if !secs.is_finite() {
        return Err(bad("must be finite"));
    }
    if secs < 0.0 {
        return Err(bad("must not be negative"));
    }
    if secs > MAX_ADVANCE_SECONDS {
        return Err(bad("is more than 400 days"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| bad("is not a duration"))
}

/// `scope` of `POST /_sim/oauth/code`: absent, `null`, or an array of top-level names.
fn code_scope(body: &Value) -> Result<Option<Vec<String>>, ArmError> {
    let bad = |why: String| ArmError::bad_request(why).target("scope");
    match body.get("scope") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => {
            if a.len() > MAX_SCOPE_NAMES {
                return Err(bad(format!("'scope' holds more than {MAX_SCOPE_NAMES} names")));
            }
            let mut names = Vec::with_capacity(a.len());
            for (i, v) in a.iter().enumerate() {
                match v.as_str() {
                    Some(n)
                        if !n.trim().is_empty()
                            && n.len() <= MAX_NAME_LEN
                            && !n.chars().any(char::is_control) =>
                    {
                        names.push(n.to_string())
                    }
                    _ => {
                        return Err(bad(format!(
                            "'scope[{i}]' must be a non-empty name of at most {MAX_NAME_LEN} characters without control characters"
                        )))
                    }
                }
            }
            Ok(Some(names))
        }
        Some(_) => Err(bad("'scope' must be an array of top-level names".into())),
    }
}

/// A region name in `/_sim/regions/{region}/...`: letters, digits, spaces and dashes.
fn region_name(raw: &str) -> Result<String, ArmError> {
    let ok = !raw.trim().is_empty()
        && raw.len() <= 64
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
    if !ok {
        let shown: String = raw.chars().filter(|c| !c.is_control()).take(80).collect();
        return Err(ArmError::bad_request(format!(
            "The region '{shown}' is not a region name: use letters, digits, spaces and dashes (at most 64), e.g. westeurope or 'West Europe'."
        ))
        .target("region"));
    }
    Ok(normalize_region(raw))
}

/// Changes the served versions of `family`: `replace` (when given) first, then `add`, then
/// `retire`. Returns the new list (newest first). Every version must be well formed.
pub fn set_versions(
    shared: &Shared,
    family: &str,
    replace: Option<Vec<String>>,
    add: &[String],
    retire: &[String],
) -> Result<Vec<String>, String> {
    let Some(f) = Family::parse(family) else {
        let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
        let shown: String = family.chars().filter(|c| !c.is_control()).take(40).collect();
        return Err(format!("unknown API family '{shown}' (use one of {})", names.join(", ")));
    };
    let all = replace.iter().flatten().chain(add).chain(retire);
    if let Some(bad) = all.into_iter().find(|v| !versions::well_formed(v)) {
        let shown: String = bad.chars().filter(|c| !c.is_control()).take(40).collect();
        return Err(format!(
            "'{shown}' is not an api-version (YYYY-MM-DD with an optional suffix such as -preview)"
        ));
    }
    let mut map = lock(&shared.api_versions);
    let list = map.entry(f.name().to_string()).or_default();
    if let Some(r) = replace {
        *list = r;
    }
    list.extend(add.iter().cloned());
    list.retain(|v| !retire.contains(v));
    versions::normalize(list);
    Ok(list.clone())
}

/// A list of api-version strings in a control body.
fn version_list(body: &Value, key: &str) -> Result<Vec<String>, ArmError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) if a.len() <= 64 => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ArmError::bad_request(format!("'{key}' must be an array of api-version strings"))
                    .target(key)
            }),
        Some(_) => Err(ArmError::bad_request(format!(
            "'{key}' must be an array of at most 64 api-version strings"
        ))
        .target(key)),
    }
}

pub fn route(ctx: &Ctx) -> ArmResult {
    let l: Vec<&str> = ctx.lower.iter().skip(1).map(String::as_str).collect();
    let m = ctx.method.as_str();
    let shared = ctx.shared;
    match (m, l.as_slice()) {
        ("POST", ["oauth", "code"]) => {
            let body = control_body(ctx, &["scope"])?;
            let scope = code_scope(&body)?;
            let ttl = shared.config.code_ttl.as_secs();
            Ok(Reply::ok(json!({"code": mint(shared, scope), "expiresInSeconds": ttl})))
        }
        ("GET", ["clock"]) => Ok(Reply::ok(json!({"now": shared.clock.now()}))),
        ("GET", ["role-assignments"]) => super::authz::control(ctx, None),
        ("PUT", ["role-assignments"]) => {
            let body = control_body(ctx, &["assignments"])?;
            super::authz::control(ctx, Some(&body))
        }
        ("POST", ["clock", "advance"]) => {
            let body = control_body(ctx, &["seconds"])?;
            shared.clock.advance(advance_seconds(&body)?);
            Ok(Reply::ok(json!({"now": shared.clock.now()})))
        }
        ("POST", ["regions", raw, action @ ("fail" | "restore")]) => {
            control_body(ctx, &[])?;
            let region = region_name(ctx.segs.get(2).map(String::as_str).unwrap_or(raw))?;
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
            let body = control_body(ctx, &["spec"])?;
            let Some(text) = body.get("spec").and_then(Value::as_str) else {
                return Err(ArmError::bad_request("'spec' (a fault spec string) is required")
                    .target("spec"));
            };
            if text.len() > MAX_SPEC_LEN {
                return Err(ArmError::bad_request(format!(
                    "the fault spec is longer than {MAX_SPEC_LEN} characters"
                ))
                .target("spec"));
            }
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
        ("GET", ["api-versions"]) => {
            Ok(Reply::ok(json!({"apiVersions": *lock(&shared.api_versions)})))
        }
        ("POST", ["api-versions"]) => {
            let body = control_body(ctx, &["family", "add", "retire", "set"])?;
            let Some(family) = body.get("family").and_then(Value::as_str) else {
                return Err(ArmError::bad_request(
                    "'family' (connectors, devops, graph, support or subscriptions) is required",
                )
                .target("family"));
            };
            let replace = match body.get("set") {
                None | Some(Value::Null) => None,
                Some(_) => Some(version_list(&body, "set")?),
            };
            let add = version_list(&body, "add")?;
            let retire = version_list(&body, "retire")?;
            let list = set_versions(shared, family, replace, &add, &retire)
                .map_err(|e| ArmError::bad_request(e).target("family"))?;
            Ok(Reply::ok(json!({"family": family.to_ascii_lowercase(), "served": list})))
        }
        ("POST", ["drift"]) => {
            let body = control_body(ctx, &["seed"])?;
            let Some(seed) = body.get("seed").and_then(Value::as_u64) else {
                return Err(ArmError::bad_request(
                    "'seed' (a whole number from 0 to 2^64-1) is required, e.g. {\"seed\": 7}",
                )
                .target("seed"));
            };
            super::drift::drift_cloud(&mut shared.cloud(), seed);
            Ok(Reply::ok(json!({"seed": seed})))
        }
        ("GET", ["lro-shape"]) => {
            Ok(Reply::ok(json!({"shape": lock(&shared.lro_shape).to_string()})))
        }
        ("POST" | "PUT", ["lro-shape"]) => {
            let body = control_body(ctx, &["shape", "seed"])?;
            let Some(name) = body.get("shape").and_then(Value::as_str) else {
                return Err(ArmError::bad_request(
                    "'shape' (e.g. \"Accepted202Location\") is required",
                )
                .target("shape"));
            };
            let shape = match body.get("seed") {
                Some(seed) if name.trim().eq_ignore_ascii_case("mixed") => {
                    let seed = seed.as_u64().ok_or_else(|| {
                        ArmError::bad_request("'seed' must be a whole number").target("seed")
                    })?;
                    LroShape::Mixed(seed)
                }
                _ => name
                    .parse::<LroShape>()
                    .map_err(|e| ArmError::bad_request(e).target("shape"))?,
            };
            *lock(&shared.lro_shape) = shape;
            Ok(Reply::ok(json!({"shape": shape.to_string()})))
        }
        ("GET", ["reject"]) => Ok(Reply::ok(json!({"rejects": *lock(&shared.rejects)}))),
        ("POST", ["reject"]) => {
            let body = control_body(ctx, &["path", "value"])?;
            let Some(path) = body.get("path").and_then(Value::as_str) else {
                return Err(ArmError::bad_request(
                    "'path' (a dotted field path such as properties.actionableRemediation.state) is required",
                )
                .target("path"));
            };
            let r = Reject::new(path, body.get("value").cloned())
                .map_err(|e| ArmError::bad_request(e).target("path"))?;
            let mut rejects = lock(&shared.rejects);
            if rejects.len() >= 1000 {
                return Err(ArmError::bad_request("at most 1000 refused fields"));
            }
            rejects.push(r);
            Ok(Reply::ok(json!({"rejects": *rejects})))
        }
        ("DELETE", ["reject"]) => {
            control_body(ctx, &[])?;
            lock(&shared.rejects).clear();
            Ok(Reply::empty(204))
        }
        _ => Err(ArmError::new(
            404,
            "NotFound",
            format!("no test-control endpoint {m} /{}", ctx.segs.join("/")),
        )),
    }
}
