//! Security connectors: list (subscription or resource group), GET, PUT, PATCH, DELETE.

use super::validate::{
    refuse_too_new_values, stored_document, unknown_top, validate_connector_body,
};
use super::{add_missing, ctx_path, method_not_allowed, outage_check, subscription_check, version};
use crate::sim::model::*;
use crate::sim::schema::{self, Kind};
use crate::sim::server::{ArmError, ArmResult, Ctx, Reply};
use serde_json::{json, Map, Value};

fn connector_json(ctx: &Ctx, c: &Connector) -> Value {
    let mut v = json!({
        "id": c.id,
        "name": c.name,
        "type": "Microsoft.Security/securityConnectors",
        "location": c.location,
        "kind": c.kind,
        "etag": c.etag,
        "tags": c.tags,
        "properties": c.properties,
        "systemData": {
            "createdBy": "user@contoso.com",
            "createdByType": "User",
            "createdAt": ctx.stamp(c.created_at),
            "lastModifiedBy": "user@contoso.com",
            "lastModifiedByType": "User",
            "lastModifiedAt": ctx.stamp(c.modified_at),
        },
    });
    add_missing(&mut v, &c.extra);
    schema::shape(Kind::Connector, version(ctx), &mut v);
    v
}

pub(super) fn list_connectors(ctx: &Ctx, sub: &str, rg: Option<&str>) -> ArmResult {
    if ctx.method != "GET" {
        return Err(method_not_allowed(ctx));
    }
    let items: Vec<Value> = {
        let cloud = ctx.shared.cloud();
        subscription_check(&cloud, sub)?;
        cloud
            .connectors
            .values()
            .filter(|c| c.subscription.eq_ignore_ascii_case(sub))
            .filter(|c| rg.is_none_or(|rg| c.resource_group.eq_ignore_ascii_case(rg)))
            .map(|c| connector_json(ctx, c))
            .collect()
    };
    ctx.page(&ctx_path(ctx), items)
}

pub(super) fn connector_op(ctx: &Ctx, sub: &str, rg: &str, name: &str, key: &str) -> ArmResult {
    let m = ctx.method.as_str();
    match m {
        "GET" => {
            let cloud = ctx.shared.cloud();
            subscription_check(&cloud, sub)?;
            let c = cloud.connectors.get(key).ok_or_else(|| {
                ArmError::not_found(&format!("Microsoft.Security/securityConnectors/{name}"))
            })?;
            outage_check(ctx, &c.region())?;
            Ok(Reply::ok(connector_json(ctx, c)))
        }
        "PUT" => {
            let raw = ctx.json_body()?;
            validate_connector_body(&raw)?;
            refuse_too_new_values(ctx, &raw)?;
            let body = Value::Object(stored_document(ctx, Kind::Connector, &raw));
            let Some(location) = raw.get("location").and_then(Value::as_str) else {
                return Err(ArmError::new(
                    400,
                    "LocationRequired",
                    "The location property is required for this definition.",
                )
                .target("location"));
            };
            crate::sim::locations::check(
                location,
                raw.pointer("/properties/environmentName").and_then(Value::as_str),
            )?;
            let mut cloud = ctx.shared.cloud();
            subscription_check(&cloud, sub)?;
            outage_check(ctx, &normalize_region(location))?;
            let etag = format!("\"{}\"", cloud.next_guid());
            let properties = body.get("properties").cloned().unwrap_or_else(|| json!({}));
            let tags = body.get("tags").cloned().unwrap_or_else(|| json!({}));
            let kind = body.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
            let extra = unknown_top(
                body.as_object().unwrap_or(&Map::new()),
                &["location", "tags", "kind", "properties"],
            );
            if let Some(c) = cloud.connectors.get_mut(key) {
                if c.region() != normalize_region(location) {
                    return Err(ArmError::new(
                        400,
                        "InvalidResourceLocation",
                        format!(
                            "The resource '{name}' already exists in location '{}' in resource group '{rg}'. A resource with the same name cannot be created in location '{location}'.",
                            c.location
                        ),
                    ));
                }
                let old_env = c.env();
                c.properties = properties;
                c.tags = tags;
                c.kind = kind;
                c.etag = etag;
                c.extra = extra;
                c.modified_at = ctx.now;
                if c.env() != old_env {
                    c.devops = None;
                }
                let v = connector_json(ctx, c);
                return Ok(Reply::ok(v).confirmed(None, ctx.now));
            }
            let c = Connector {
                id: format!(
                    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/securityConnectors/{name}"
                ),
                name: name.to_string(),
                subscription: sub.to_string(),
                resource_group: rg.to_string(),
                location: location.to_string(),
                kind,
                etag,
                tags,
                properties,
                created_at: ctx.now,
                modified_at: ctx.now,
                devops: None,
                extra,
            };
            let v = connector_json(ctx, &c);
            cloud.connectors.insert(key.to_string(), c);
            Ok(Reply::json(201, v).confirmed(None, ctx.now))
        }
        "PATCH" => {
            let raw = ctx.json_body()?;
            validate_connector_body(&raw)?;
            refuse_too_new_values(ctx, &raw)?;
            let body = Value::Object(stored_document(ctx, Kind::Connector, &raw));
            let mut cloud = ctx.shared.cloud();
            subscription_check(&cloud, sub)?;
            let etag = format!("\"{}\"", cloud.next_guid());
            let c = cloud.connectors.get_mut(key).ok_or_else(|| {
                ArmError::not_found(&format!("Microsoft.Security/securityConnectors/{name}"))
            })?;
            outage_check(ctx, &c.region())?;
            if let Some(loc) = raw.get("location").and_then(Value::as_str) {
                if normalize_region(loc) != c.region() {
                    return Err(ArmError::new(
                        400,
                        "InvalidResourceLocation",
                        "The location of a security connector cannot be changed.",
                    )
                    .target("location"));
                }
            }
            if let Some(t) = body.get("tags") {
                c.tags = t.clone();
            }
            if let Some(Value::Object(p)) = body.get("properties") {
                let mut merged = c.properties.as_object().cloned().unwrap_or_default();
                for (k, v) in p {
                    merged.insert(k.clone(), v.clone());
                }
                c.properties = Value::Object(merged);
            }
            if let Some(k) = body.get("kind").and_then(Value::as_str) {
                c.kind = k.to_string();
            }
            let extra = unknown_top(
                body.as_object().unwrap_or(&Map::new()),
                &["location", "tags", "kind", "properties"],
            );
            schema::merge_shallow(&mut c.extra, &extra);
            c.etag = etag;
            c.modified_at = ctx.now;
            Ok(Reply::ok(connector_json(ctx, c)).confirmed(None, ctx.now))
        }
        "DELETE" => {
            let mut cloud = ctx.shared.cloud();
            subscription_check(&cloud, sub)?;
            let Some(c) = cloud.connectors.get(key) else { return Ok(Reply::empty(204)) };
            outage_check(ctx, &c.region())?;
            cloud.take_security_rows(key);
            cloud.connectors.remove(key);
            cloud.owners.retain(|_, o| o != key);
            Ok(Reply::empty(200).confirmed(None, ctx.now))
        }
        _ => Err(method_not_allowed(ctx)),
    }
}
