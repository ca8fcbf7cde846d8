//! The DevOps configuration of a connector (`devops/default`: GET, PUT, PATCH, DELETE, the OAuth
//! code exchange) and the `listAvailable*` POSTs.

use super::ado::{ado_org_json, view};
use super::children::{gh_owner_json, gl_group_json};
use super::operations::{
    async_url, busy, location_url, lro_reply, next_answer, retry_after, start_operation, Target,
};
use super::validate::validate_devops_body;
use super::{add_missing, connector, connector_mut, method_not_allowed, require_env, version};
use crate::sim::model::*;
use crate::sim::schema::{self, Kind};
use crate::sim::server::{ArmError, ArmResult, Ctx, Reply};
use serde_json::{json, Map, Value};

pub(super) fn devops_id(c: &Connector) -> String {
    format!("{}/devops/default", c.id)
}

pub(super) fn devops_json(c: &Connector, d: &DevOps, ctx: &Ctx) -> Value {
    let mut p = d.properties.as_object().cloned().unwrap_or_default();
    p.insert("provisioningState".into(), json!(d.provisioning_state));
    if let Some(m) = &d.status_message {
        p.insert("provisioningStatusMessage".into(), json!(m));
    }
    p.insert("provisioningStatusUpdateTimeUtc".into(), json!(ctx.stamp(d.updated_at)));
    p.insert("capabilities".into(), json!([{"name": "DCSPM_ENABLED", "value": "true"}]));
    let mut v = json!({
        "id": devops_id(c),
        "name": "default",
        "type": "Microsoft.Security/securityConnectors/devops",
        "properties": p,
        "systemData": {
            "createdBy": "user@contoso.com", "createdByType": "User",
            "createdAt": ctx.stamp(c.created_at),
            "lastModifiedBy": "user@contoso.com", "lastModifiedByType": "User",
            "lastModifiedAt": ctx.stamp(d.updated_at),
        },
    });
    add_missing(&mut v, &d.extra);
    schema::shape(Kind::DevOpsConfig, version(ctx), &mut v);
    v
}

/// Exchanges `properties.authorization.code`: `Ok(Some(visible))` for a valid code, `Ok(None)`
/// without a code, `Err(failure)` for a bad or used code.
fn exchange(
    cloud: &mut Cloud,
    body: &Value,
    env: Env,
    now: f64,
) -> Result<Option<Vec<String>>, (String, String)> {
    let code = body.pointer("/properties/authorization/code").and_then(Value::as_str);
    let Some(code) = code else { return Ok(None) };
    let fail = || {
        let who = match env {
            Env::AzureDevOps => "AzureDevOps",
            Env::Github => "GitHub",
            Env::GitLab => "GitLab",
        };
        ("TokenExchangeFailed".to_string(), format!("{who} OAuth token exchange failed"))
    };
    match cloud.oauth_codes.remove(code) {
        Some(c) if c.expires_at > now => {
            let all = cloud.top_level_names(env);
            Ok(Some(match c.scope {
                Some(s) => all.into_iter().filter(|n| s.contains(n)).collect(),
                None => all,
            }))
        }
        _ => Err(fail()),
    }
}

pub(super) fn devops_config(ctx: &Ctx, key: &str) -> ArmResult {
    let m = ctx.method.as_str();
    match m {
        "GET" => {
            let cloud = ctx.shared.cloud();
            let c = connector(&cloud, key)?;
            let d = c.devops.as_ref().ok_or_else(|| {
                ArmError::not_found("Microsoft.Security/securityConnectors/devops/default")
            })?;
            Ok(Reply::ok(devops_json(c, d, ctx)))
        }
        "PUT" | "PATCH" => {
            let body = ctx.json_body()?;
            let (mut props, mut extra) = validate_devops_body(ctx, &body)?;
            let mut cloud = ctx.shared.cloud();
            let c = connector(&cloud, key)?;
            let Some(env) = c.env() else {
                return Err(ArmError::bad_request(format!(
                    "The security connector '{}' has environmentName '{}'; a DevOps configuration needs AzureDevOps, Github or GitLab.",
                    c.name,
                    c.properties.get("environmentName").and_then(Value::as_str).unwrap_or("")
                ))
                .target("properties.environmentName"));
            };
            let existing = c.devops.clone();
            if m == "PATCH" {
                let Some(d) = &existing else {
                    return Err(ArmError::not_found(
                        "Microsoft.Security/securityConnectors/devops/default",
                    ));
                };
                let mut merged = d.properties.as_object().cloned().unwrap_or_default();
                schema::merge_shallow(&mut merged, props.as_object().unwrap_or(&Map::new()));
                props = Value::Object(merged);
                let mut merged_extra = d.extra.clone();
                schema::merge_shallow(&mut merged_extra, &extra);
                extra = merged_extra;
            }
            busy(&cloud, key, None)?;
            let was_authorized = existing.as_ref().is_some_and(|d| d.authorized);
            let (visible, fail) = match exchange(&mut cloud, &body, env, ctx.now) {
                Ok(Some(v)) => (Some(v), None),
                Ok(None) if was_authorized => (None, None),
                Ok(None) => (
                    None,
                    Some((
                        "TokenExchangeFailed".to_string(),
                        format!(
                            "{} OAuth token exchange failed: no authorization code was provided",
                            env.name()
                        ),
                    )),
                ),
                Err(f) => (None, Some(f)),
            };
            let created = existing.is_none();
            // Before issue 12 an update answered 202.
            let answer = next_answer(ctx, created, 202);
            let c = connector_mut(&mut cloud, key)?;
            let d = c.devops.get_or_insert_with(|| DevOps {
                properties: props.clone(),
                provisioning_state: answer.in_progress.into(),
                status_message: None,
                updated_at: ctx.now,
                authorized: false,
                visible: Vec::new(),
                settings: Default::default(),
                extra: extra.clone(),
                documents: Default::default(),
            });
            d.provisioning_state = answer.in_progress.into();
            let mut shown = props.as_object().cloned().unwrap_or_default();
            shown.insert("provisioningState".into(), json!(answer.in_progress));
            let mut in_progress = json!({
                "id": devops_id(c), "name": "default",
                "type": "Microsoft.Security/securityConnectors/devops",
                "properties": shown,
            });
            add_missing(&mut in_progress, &extra);
            schema::shape(Kind::DevOpsConfig, version(ctx), &mut in_progress);
            lro_reply(
                ctx,
                &mut cloud,
                key,
                Effect::DevOpsWrite { properties: props, visible, fail, extra: Some(extra) },
                answer,
                in_progress,
                Target::DevOps,
            )
        }
        "DELETE" => {
            let mut cloud = ctx.shared.cloud();
            if connector(&cloud, key)?.devops.is_none() {
                return Ok(Reply::empty(204));
            }
            busy(&cloud, key, None)?;
            if let Some(d) = cloud.connectors.get_mut(key).and_then(|c| c.devops.as_mut()) {
                d.provisioning_state = "PendingDeletion".into();
            }
            let (id, due) = start_operation(ctx, &mut cloud, key, Effect::DevOpsDelete, None)?;
            let c = connector(&cloud, key)?;
            // DELETE's 202 also carries `Location` (as the 2025-11-01-preview spec declares).
            Ok(Reply::empty(202)
                .header("Azure-AsyncOperation", async_url(ctx, c, &id))
                .header("Retry-After", retry_after(ctx))
                .header("Location", location_url(ctx, c, &id))
                .confirmed(Some(id), due))
        }
        _ => Err(method_not_allowed(ctx)),
    }
}

pub(super) fn list_available(ctx: &Ctx, key: &str, env: Env) -> ArmResult {
    if ctx.method != "POST" {
        return Err(method_not_allowed(ctx));
    }
    let cloud = ctx.shared.cloud();
    let c = connector(&cloud, key)?;
    require_env(c, env)?;
    let Some(d) = c.devops.as_ref() else {
        return Err(ArmError::not_found("Microsoft.Security/securityConnectors/devops/default"));
    };
    let vw = view(&cloud, key);
    let mut items = Vec::new();
    for name in &d.visible {
        match env {
            Env::AzureDevOps => {
                if let Some(o) = cloud.ado.get(name) {
                    items.push(ado_org_json(ctx, &vw, &cloud, c, key, o));
                }
            }
            Env::Github => {
                if let Some(o) = cloud.github.get(name) {
                    items.push(gh_owner_json(ctx, &cloud, c, key, o));
                }
            }
            Env::GitLab => {
                for g in cloud.gitlab.values() {
                    if g.fq_name.split('$').next().unwrap_or("").eq_ignore_ascii_case(name) {
                        items.push(gl_group_json(ctx, &cloud, c, key, g));
                    }
                }
            }
        }
    }
    Ok(Reply::ok(json!({ "value": items })))
}
