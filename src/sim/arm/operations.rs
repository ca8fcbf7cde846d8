//! Long-running operations: a write records an [`Operation`] due at a simulated time and is
//! answered in the shape the configured `LroShape` picks; `operationResults` and the
//! `Location` URL report it; [`settle`] applies what is due.

use super::ado::ado_json_at;
use super::devops::{devops_id, devops_json};
use super::{connector, method_not_allowed, outage_check, version};
use crate::sim::lro::Answer;
use crate::sim::model::*;
use crate::sim::server::{lock, ArmError, ArmResult, Ctx, Reply, SimConfig};
use crate::sim::versions::Family;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// Completes every operation and support release due by `now`, and forgets expired codes.
pub fn settle(cloud: &mut Cloud, now: f64, config: &SimConfig, no_recreate: &[String]) {
    let due: Vec<String> = cloud
        .operations
        .values()
        .filter(|o| o.status == OpStatus::InProgress && o.due <= now)
        .map(|o| o.id.clone())
        .collect();
    for id in due {
        let Some(op) = cloud.operations.get(&id).cloned() else { continue };
        let mut status = OpStatus::Succeeded;
        let mut error = None;
        match &op.effect {
            Effect::DevOpsWrite { properties, visible, fail, extra } => {
                if let Some(c) = cloud.connectors.get_mut(&op.connector) {
                    if let Some(d) = c.devops.as_mut() {
                        d.updated_at = op.due;
                        if let Some(f) = fail {
                            d.provisioning_state = "Failed".into();
                            d.status_message = Some(f.1.clone());
                            status = OpStatus::Failed;
                            error = Some(f.clone());
                        } else {
                            d.properties = properties.clone();
                            if let Some(e) = extra {
                                d.extra = e.clone();
                            }
                            d.authorized = true;
                            if let Some(v) = visible {
                                d.visible = v.clone();
                            }
                            d.provisioning_state = "Succeeded".into();
                            d.status_message = None;
                        }
                    }
                }
                if error.is_none() {
                    cloud.claim_selected(&op.connector);
                }
            }
            Effect::DevOpsDelete => {
                if let Some(c) = cloud.connectors.get_mut(&op.connector) {
                    c.devops = None;
                }
                cloud.owners.retain(|_, o| *o != op.connector);
            }
            Effect::AdoWrite { path, remediation, document } => {
                if let Some(d) =
                    cloud.connectors.get_mut(&op.connector).and_then(|c| c.devops.as_mut())
                {
                    if let Some(r) = remediation {
                        d.settings.insert(path.clone(), r.clone());
                    }
                    if let Some(doc) = document {
                        d.documents.insert(path.clone(), doc.clone());
                    }
                }
                if !path.contains('/') {
                    cloud
                        .owners
                        .entry(item_key(Env::AzureDevOps, path))
                        .or_insert_with(|| op.connector.clone());
                }
            }
        }
        if let Some(o) = cloud.operations.get_mut(&id) {
            o.status = status;
            o.error = error;
        }
    }
    crate::sim::support::settle(cloud, now, config, no_recreate);
    cloud.oauth_codes.retain(|_, c| c.expires_at > now);
}

/// Records a long-running operation on `key`; returns its ID and due time (now for a
/// synchronous answer).
pub(super) fn start_operation(
    ctx: &Ctx,
    cloud: &mut Cloud,
    key: &str,
    effect: Effect,
    answer: Option<&Answer>,
) -> Result<(String, f64), ArmError> {
    connector(cloud, key)?;
    let id = cloud.next_guid();
    let slow = ctx.shared.faults.lro_slowdown().max(0.0);
    let delay = if answer.is_some_and(|a| a.synchronous) {
        0.0
    } else {
        ctx.shared.config.lro_delay.as_secs_f64() * slow
    };
    let due = ctx.now + delay;
    cloud.operations.insert(
        id.clone(),
        Operation {
            id: id.clone(),
            connector: key.to_string(),
            started: ctx.now,
            due,
            status: OpStatus::InProgress,
            error: None,
            effect,
            in_progress_state: answer.map(|a| a.in_progress.to_string()),
        },
    );
    Ok((id, due))
}

/// `Azure-AsyncOperation` of an operation: `{connector}/devops/default/operationResults/{id}`.
pub(super) fn async_url(ctx: &Ctx, c: &Connector, id: &str) -> String {
    format!(
        "{}{}/operationResults/{id}?api-version={}",
        ctx.shared.base_url,
        devops_id(c),
        version(ctx)
    )
}

/// `Location` of an operation: `/subscriptions/{s}/providers/Microsoft.Security/locations/
/// {region}/operationResults/{id}` (ARM's usual operation-result URL outside the resource).
pub(super) fn location_url(ctx: &Ctx, c: &Connector, id: &str) -> String {
    format!(
        "{}/subscriptions/{}/providers/Microsoft.Security/locations/{}/operationResults/{id}?api-version={}",
        ctx.shared.base_url,
        c.subscription,
        c.region(),
        version(ctx)
    )
}

pub(super) fn retry_after(ctx: &Ctx) -> String {
    (ctx.shared.config.lro_delay.as_secs_f64().ceil().max(1.0) as u64).to_string()
}

/// How this long-running write is answered (the configured shape; `Mixed` picks per write).
pub(super) fn next_answer(ctx: &Ctx, created: bool, legacy_update: u16) -> Answer {
    let n = ctx.shared.lro_writes.fetch_add(1, Ordering::Relaxed);
    let shape = *lock(&ctx.shared.lro_shape);
    shape.answer(n, created, legacy_update)
}

/// What a long-running write targets, to render its final body.
pub(super) enum Target {
    DevOps,
    Ado(String),
}

fn render_target(ctx: &Ctx, cloud: &Cloud, key: &str, target: &Target) -> Option<Value> {
    let c = cloud.connectors.get(key)?;
    match target {
        Target::DevOps => c.devops.as_ref().map(|d| devops_json(c, d, ctx)),
        Target::Ado(path) => ado_json_at(ctx, cloud, key, path),
    }
}

/// Starts the operation and answers in the shape `answer` says.
pub(super) fn lro_reply(
    ctx: &Ctx,
    cloud: &mut Cloud,
    key: &str,
    effect: Effect,
    answer: Answer,
    in_progress_body: Value,
    target: Target,
) -> ArmResult {
    let (id, due) = start_operation(ctx, cloud, key, effect, Some(&answer))?;
    if answer.synchronous {
        settle(cloud, ctx.now, &ctx.shared.config, &ctx.shared.faults.no_recreate());
        let body = render_target(ctx, cloud, key, &target).unwrap_or(in_progress_body);
        return Ok(Reply::json(answer.status, body).confirmed(Some(id), due));
    }
    let c = connector(cloud, key)?;
    let mut reply = if answer.body {
        Reply::json(answer.status, in_progress_body)
    } else {
        Reply::empty(answer.status)
    };
    if answer.async_header {
        reply = reply.header("Azure-AsyncOperation", async_url(ctx, c, &id));
    }
    if answer.location_header {
        reply = reply.header("Location", location_url(ctx, c, &id));
    }
    if answer.async_header || answer.location_header {
        reply = reply.header("Retry-After", retry_after(ctx));
    }
    Ok(reply.confirmed(Some(id), due))
}

/// ARM refuses a write while a conflicting long-running operation is in flight. A write of the
/// DevOps configuration conflicts with any operation on the connector (it changes what every
/// child sees); a write of an Azure DevOps org, project or repo conflicts only with an operation
/// on the same resource or on the configuration, so independent resources are written in
/// parallel, as they are on the real service.
pub(super) fn busy(cloud: &Cloud, connector: &str, target: Option<&str>) -> Result<(), ArmError> {
    let conflicts = |o: &Operation| match (&o.effect, target) {
        (Effect::AdoWrite { path, .. }, Some(t)) => path == t,
        _ => true,
    };
    if cloud
        .operations
        .values()
        .any(|o| o.connector == connector && o.status == OpStatus::InProgress && conflicts(o))
    {
        return Err(ArmError::new(
            409,
            "AnotherOperationInProgress",
            "Another operation on this resource is in progress; poll its Azure-AsyncOperation URL and retry when it completes.",
        ));
    }
    Ok(())
}

pub(super) fn operation_result(ctx: &Ctx, key: &str) -> ArmResult {
    if ctx.method != "GET" {
        return Err(method_not_allowed(ctx));
    }
    let id = ctx.segs[11].to_ascii_lowercase();
    let cloud = ctx.shared.cloud();
    let op = cloud
        .operations
        .get(&id)
        .filter(|o| o.connector == key)
        .ok_or_else(|| ArmError::not_found(&format!("operationResults/{id}")))?;
    let c = connector(&cloud, key)?;
    let mut v = json!({
        "id": format!("{}/operationResults/{}", devops_id(c), op.id),
        "name": op.id,
        "status": match op.status { OpStatus::InProgress => "InProgress", OpStatus::Succeeded => "Succeeded", OpStatus::Failed => "Failed" },
        "startTime": ctx.stamp(op.started),
    });
    if op.status == OpStatus::InProgress {
        let span = (op.due - op.started).max(f64::EPSILON);
        v["percentComplete"] =
            json!((((ctx.now - op.started) / span) * 100.0).clamp(0.0, 99.0).floor());
    } else {
        v["endTime"] = json!(ctx.stamp(op.due));
        v["percentComplete"] = json!(100);
    }
    if let Some((code, message)) = &op.error {
        v["error"] = json!({"code": code, "message": message});
    }
    let mut r = Reply::ok(v);
    if op.status == OpStatus::InProgress {
        r = r.header("Retry-After", "1");
    }
    Ok(r)
}

/// `GET /subscriptions/{s}/providers/Microsoft.Security/locations/{region}/operationResults/{id}`,
/// the `Location` of a long-running operation: 202 (with `Location` and `Retry-After`) while it
/// runs; then the resource (200) for a PUT or PATCH, 204 for a DELETE, or the operation's error.
pub fn location_result(ctx: &Ctx) -> ArmResult {
    if ctx.method != "GET" {
        return Err(method_not_allowed(ctx));
    }
    let region = normalize_region(&ctx.segs[5]);
    ctx.require(Family::DevOps, "locations/operationResults", &region)?;
    let sub = ctx.segs[1].to_ascii_lowercase();
    let id = ctx.segs[7].to_ascii_lowercase();
    let cloud = ctx.shared.cloud();
    let op = cloud
        .operations
        .get(&id)
        .filter(|o| o.connector.starts_with(&format!("/subscriptions/{sub}/")))
        .cloned()
        .ok_or_else(|| ArmError::not_found(&format!("operationResults/{id}")))?;
    let c = connector(&cloud, &op.connector)?;
    outage_check(ctx, &c.region())?;
    match op.status {
        OpStatus::InProgress => Ok(Reply::empty(202)
            .header("Location", location_url(ctx, c, &op.id))
            .header("Retry-After", "1")),
        OpStatus::Failed => {
            let (code, message) = op.error.clone().unwrap_or_else(|| {
                ("OperationFailed".to_string(), "The operation failed.".to_string())
            });
            Err(ArmError::new(400, &code, message))
        }
        OpStatus::Succeeded => {
            let target = match &op.effect {
                Effect::DevOpsDelete => return Ok(Reply::empty(204)),
                Effect::DevOpsWrite { .. } => Target::DevOps,
                Effect::AdoWrite { path, .. } => Target::Ado(path.clone()),
            };
            match render_target(ctx, &cloud, &op.connector, &target) {
                Some(v) => Ok(Reply::ok(v)),
                None => Ok(Reply::empty(204)),
            }
        }
    }
}
