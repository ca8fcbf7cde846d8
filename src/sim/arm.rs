//! ARM operations on security connectors and their DevOps children, at every served
//! api-version: CRUD, listings with `nextLink`, the long-running operations in every shape ARM's
//! RPC allows (`Azure-AsyncOperation` / `operationResults`, `Location` / `locations/.../
//! operationResults`, none), the `listAvailable*` POSTs, body validation, ownership and region
//! outages.
//!
//! Resources are stored as JSON: what a write carries is kept (unknown fields at every level,
//! unknown values of the specs' extensible enums) minus what ARM ignores (`schema`), and
//! returned on read, shaped for the requested api-version (`schema::shape`).
//!
//! Long-running operations are lazy: a write records an [`Operation`] due at a simulated time,
//! and [`settle`] (run whenever the cloud is locked) applies every effect that is due, so the
//! outcome depends on the simulated clock only.

use super::lro::Answer;
use super::model::*;
use super::schema::{self, Kind};
use super::server::{check_name, lock, ArmError, ArmResult, Ctx, Reply, SimConfig};
use super::versions::Family;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

const ENVIRONMENT_NAMES: &[&str] =
    &["Azure", "AWS", "GCP", "Github", "AzureDevOps", "GitLab", "DockerHub", "JFrog"];
const ENVIRONMENT_TYPES: &[&str] = &[
    "AwsAccount",
    "GcpProject",
    "GithubScope",
    "AzureDevOpsScope",
    "GitlabScope",
    "DockerHubOrganization",
    "JFrogArtifactory",
];
const OFFERING_TYPES: &[&str] = &[
    "CspmMonitorAws",
    "DefenderForContainersAws",
    "DefenderForServersAws",
    "DefenderForDatabasesAws",
    "CspmMonitorGcp",
    "CspmMonitorGithub",
    "CspmMonitorAzureDevOps",
    "DefenderForServersGcp",
    "DefenderForContainersGcp",
    "DefenderForDatabasesGcp",
    "DefenderCspmAws",
    "DefenderCspmGcp",
    "CspmMonitorGitLab",
    "CspmMonitorDockerHub",
    "DefenderForContainersDockerHub",
    "DefenderCspmDockerHub",
    "CspmMonitorJFrog",
    "DefenderForContainersJFrog",
    "DefenderCspmJFrog",
];
const AUTO_DISCOVERY: &[&str] = &["Disabled", "Enabled", "NotApplicable"];
const STATE: &[&str] = &["None", "Disabled", "Enabled"];
const ENABLED: &[&str] = &["Disabled", "Enabled"];
const CATEGORIES: &[&str] = &["Code", "Artifacts", "Dependencies", "Secrets", "IaC", "Containers"];
const INVENTORY_KINDS: &[&str] = &[
    "AzureDevOpsOrganization",
    "AzureDevOpsProject",
    "AzureDevOpsRepository",
    "GitHubOwner",
    "GitHubRepository",
];

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
    super::support::settle(cloud, now, config, no_recreate);
    cloud.oauth_codes.retain(|_, c| c.expires_at > now);
}

/// The connector `key` under the lock the caller holds, or ARM's 404 when it is gone. The route
/// checks the connector under one lock and each handler takes the lock again, so a DELETE may
/// have run in between: never index `connectors[key]`.
fn connector<'a>(cloud: &'a Cloud, key: &str) -> Result<&'a Connector, ArmError> {
    cloud.connectors.get(key).ok_or_else(|| connector_gone(key))
}

fn connector_mut<'a>(cloud: &'a mut Cloud, key: &str) -> Result<&'a mut Connector, ArmError> {
    cloud.connectors.get_mut(key).ok_or_else(|| connector_gone(key))
}

fn connector_gone(key: &str) -> ArmError {
    let name = key.rsplit('/').next().unwrap_or(key);
    ArmError::not_found(&format!("Microsoft.Security/securityConnectors/{name}"))
}

/// Connector-scoped routing: `/subscriptions/{s}[/resourceGroups/{rg}]/providers/Microsoft.Security/securityConnectors[/{name}/...]`.
pub fn route(ctx: &Ctx) -> ArmResult {
    let l = &ctx.lower;
    let sub = ctx.segs[1].clone();
    if l[2] == "providers" {
        if l.len() != 5 {
            return Err(ArmError::new(
                404,
                "InvalidResourceType",
                "The resource type could not be found.",
            ));
        }
        ctx.require(Family::Connectors, "securityConnectors", "global")?;
        return list_connectors(ctx, &sub, None);
    }
    let rg = ctx.segs[3].clone();
    check_name("resource group", &rg)?;
    if l.len() == 7 {
        ctx.require(Family::Connectors, "securityConnectors", "global")?;
        return list_connectors(ctx, &sub, Some(&rg));
    }
    let name = ctx.segs[7].clone();
    check_name("security connector", &name)?;
    let key = connector_key(&sub, &rg, &name);
    let rest: Vec<&str> = l[8..].iter().map(String::as_str).collect();
    // ARM names the resource's location in a NoRegisteredProviderFound: the connector's, or the
    // one a PUT asks for.
    let location = {
        let cloud = ctx.shared.cloud();
        cloud.connectors.get(&key).map(Connector::region)
    }
    .or_else(|| {
        serde_json::from_slice::<Value>(&ctx.body)
            .ok()
            .and_then(|b| b.get("location").and_then(Value::as_str).map(normalize_region))
    })
    .unwrap_or_else(|| "global".into());
    if rest.is_empty() {
        ctx.require(Family::Connectors, "securityConnectors", &location)?;
        check_rejects(ctx)?;
        return connector_op(ctx, &sub, &rg, &name, &key);
    }
    if rest[0] != "devops" {
        return Err(ArmError::new(404, "InvalidResourceType", format!(
            "The resource type 'securityConnectors/{}' could not be found in the namespace 'Microsoft.Security'.",
            ctx.segs[8]
        )));
    }
    ctx.require(Family::DevOps, "securityConnectors/devops", &location)?;
    for s in &ctx.segs[9..] {
        check_name("resource", s)?;
    }
    check_rejects(ctx)?;
    {
        let cloud = ctx.shared.cloud();
        let Some(c) = cloud.connectors.get(&key) else {
            return Err(ArmError::not_found(&format!(
                "Microsoft.Security/securityConnectors/{name}"
            )));
        };
        outage_check(ctx, &c.region())?;
    }
    devops_route(ctx, &key, &rest[1..])
}

/// A write whose body carries a field staged with `POST /_sim/reject` is refused.
fn check_rejects(ctx: &Ctx) -> Result<(), ArmError> {
    if !matches!(ctx.method.as_str(), "PUT" | "PATCH") {
        return Ok(());
    }
    let rejects = lock(&ctx.shared.rejects).clone();
    if rejects.is_empty() {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(&ctx.body) {
        Ok(body) => super::reject::check(&rejects, &body),
        Err(_) => Ok(()),
    }
}

/// The api-version of the request (checked by the route before any handler runs).
fn version<'a>(ctx: &'a Ctx) -> &'a str {
    ctx.api_version().unwrap_or("")
}

/// Adds the keys of `extra` that `out` does not have.
fn add_missing(out: &mut Value, extra: &Map<String, Value>) {
    if let Some(o) = out.as_object_mut() {
        for (k, v) in extra {
            o.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

fn outage_check(ctx: &Ctx, region: &str) -> Result<(), ArmError> {
    let down =
        ctx.shared.faults.spec().outage_regions.iter().any(|r| normalize_region(r) == region);
    if down {
        return Err(ArmError::new(
            503,
            "ServiceUnavailable",
            format!(
                "The region '{region}' is currently unavailable and the resource provider 'Microsoft.Security' cannot serve requests for resources in it. Retry later or use another region."
            ),
        ));
    }
    Ok(())
}

fn subscription_check(cloud: &Cloud, sub: &str) -> Result<(), ArmError> {
    if cloud.subscriptions.iter().any(|s| s.eq_ignore_ascii_case(sub)) {
        Ok(())
    } else {
        Err(ArmError::new(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        ))
    }
}

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

fn list_connectors(ctx: &Ctx, sub: &str, rg: Option<&str>) -> ArmResult {
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

fn ctx_path(ctx: &Ctx) -> String {
    format!("/{}", ctx.segs.join("/"))
}

fn method_not_allowed(ctx: &Ctx) -> ArmError {
    ArmError::new(
        405,
        "MethodNotAllowed",
        format!("The requested method '{}' is not allowed on this resource.", ctx.method),
    )
}

/// Checks a value of an extensible enum (every enum of these specs is `modelAsString: true`):
/// it must be a string; a value the simulator does not know is accepted and stored as sent
/// (a newer api-version may define it); a known value in the wrong case is refused, naming the
/// right casing (a choice, pessimistic: a service that compares case-sensitively would store
/// it as an unknown value).
fn check_enum(v: Option<&Value>, path: &str, known: &[&str]) -> Result<(), ArmError> {
    let Some(v) = v else { return Ok(()) };
    let Some(s) = v.as_str() else {
        return Err(
            ArmError::bad_request(format!("The value of '{path}' must be a string.")).target(path)
        );
    };
    if known.contains(&s) {
        return Ok(());
    }
    match known.iter().find(|a| a.eq_ignore_ascii_case(s)) {
        Some(right) => Err(ArmError::bad_request(format!(
            "The value '{s}' is not valid for '{path}'. Enum values are case-sensitive: use '{right}'."
        ))
        .target(path)),
        None => Ok(()),
    }
}

/// The stored document of a write: the body minus what ARM ignores, minus the fields the
/// request's api-version does not have yet (its model does not know them).
fn stored_document(ctx: &Ctx, kind: Kind, body: &Value) -> Map<String, Value> {
    let mut doc = body.clone();
    schema::strip_ignored(kind, &mut doc);
    schema::shape(kind, version(ctx), &mut doc);
    doc.as_object().cloned().unwrap_or_default()
}

/// The top-level fields of `doc` other than `known`.
fn unknown_top(doc: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    doc.iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check_type(
    v: Option<&Value>,
    path: &str,
    want: &str,
    ok: fn(&Value) -> bool,
) -> Result<(), ArmError> {
    match v {
        Some(v) if !ok(v) => {
            Err(ArmError::bad_request(format!("The value of '{path}' must be {want}."))
                .target(path))
        }
        _ => Ok(()),
    }
}

fn validate_connector_body(body: &Value) -> Result<(), ArmError> {
    check_type(body.get("tags"), "tags", "an object of strings", |v| {
        v.as_object().is_some_and(|m| m.values().all(Value::is_string))
    })?;
    check_type(body.get("properties"), "properties", "an object", Value::is_object)?;
    let Some(p) = body.get("properties") else { return Ok(()) };
    check_enum(p.get("environmentName"), "properties.environmentName", ENVIRONMENT_NAMES)?;
    if let Some(ed) = p.get("environmentData") {
        check_type(Some(ed), "properties.environmentData", "an object", Value::is_object)?;
        if ed.get("environmentType").is_none() {
            return Err(ArmError::bad_request(
                "The required property 'environmentType' is missing from 'properties.environmentData'.",
            )
            .target("properties.environmentData.environmentType"));
        }
        check_enum(
            ed.get("environmentType"),
            "properties.environmentData.environmentType",
            ENVIRONMENT_TYPES,
        )?;
    }
    if let Some(offs) = p.get("offerings") {
        let Some(arr) = offs.as_array() else {
            return Err(ArmError::bad_request(
                "The value of 'properties.offerings' must be an array.",
            )
            .target("properties.offerings"));
        };
        for (i, o) in arr.iter().enumerate() {
            let path = format!("properties.offerings[{i}].offeringType");
            if o.get("offeringType").is_none() {
                return Err(ArmError::bad_request(format!(
                    "The required property '{path}' is missing."
                ))
                .target(&path));
            }
            check_enum(o.get("offeringType"), &path, OFFERING_TYPES)?;
        }
    }
    Ok(())
}

/// A value of a DevOps environment that the request's api-version does not define yet is
/// refused (the older model cannot take it; a choice, pessimistic).
fn refuse_too_new_values(ctx: &Ctx, body: &Value) -> Result<(), ArmError> {
    let v = version(ctx);
    match schema::value_too_new(Kind::Connector, v, body) {
        None => Ok(()),
        Some((path, value, since)) => Err(ArmError::bad_request(format!(
            "The value '{value}' of '{path}' is not defined in api-version '{v}' (it is from api-version '{since}'); use api-version '{since}' or newer."
        ))
        .target(&path)),
    }
}

fn connector_op(ctx: &Ctx, sub: &str, rg: &str, name: &str, key: &str) -> ArmResult {
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
            super::locations::check(
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

fn devops_id(c: &Connector) -> String {
    format!("{}/devops/default", c.id)
}

fn devops_json(c: &Connector, d: &DevOps, ctx: &Ctx) -> Value {
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

/// Records a long-running operation on `key`; returns its ID and due time (now for a
/// synchronous answer).
fn start_operation(
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
fn async_url(ctx: &Ctx, c: &Connector, id: &str) -> String {
    format!(
        "{}{}/operationResults/{id}?api-version={}",
        ctx.shared.base_url,
        devops_id(c),
        version(ctx)
    )
}

/// `Location` of an operation: `/subscriptions/{s}/providers/Microsoft.Security/locations/
/// {region}/operationResults/{id}` (ARM's usual operation-result URL outside the resource).
fn location_url(ctx: &Ctx, c: &Connector, id: &str) -> String {
    format!(
        "{}/subscriptions/{}/providers/Microsoft.Security/locations/{}/operationResults/{id}?api-version={}",
        ctx.shared.base_url,
        c.subscription,
        c.region(),
        version(ctx)
    )
}

fn retry_after(ctx: &Ctx) -> String {
    (ctx.shared.config.lro_delay.as_secs_f64().ceil().max(1.0) as u64).to_string()
}

/// How this long-running write is answered (the configured shape; `Mixed` picks per write).
fn next_answer(ctx: &Ctx, created: bool, legacy_update: u16) -> Answer {
    let n = ctx.shared.lro_writes.fetch_add(1, Ordering::Relaxed);
    let shape = *lock(&ctx.shared.lro_shape);
    shape.answer(n, created, legacy_update)
}

/// What a long-running write targets, to render its final body.
enum Target {
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
fn lro_reply(
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
fn busy(cloud: &Cloud, connector: &str, target: Option<&str>) -> Result<(), ArmError> {
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

/// Validates a `devops/default` write; returns the `properties` to store and the other
/// top-level fields to store.
fn validate_devops_body(ctx: &Ctx, body: &Value) -> Result<(Value, Map<String, Value>), ArmError> {
    let Some(p) = body.get("properties") else {
        return Err(ArmError::bad_request("The required property 'properties' is missing.")
            .target("properties"));
    };
    if !p.is_object() {
        return Err(ArmError::bad_request("The value of 'properties' must be an object.")
            .target("properties"));
    }
    check_enum(p.get("autoDiscovery"), "properties.autoDiscovery", AUTO_DISCOVERY)?;
    check_type(
        p.get("topLevelInventoryList"),
        "properties.topLevelInventoryList",
        "an array of strings",
        |v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
    )?;
    check_type(p.get("authorization"), "properties.authorization", "an object", Value::is_object)?;
    if let Some(a) = p.get("agentlessConfiguration") {
        check_type(Some(a), "properties.agentlessConfiguration", "an object", Value::is_object)?;
        check_enum(
            a.get("agentlessEnabled"),
            "properties.agentlessConfiguration.agentlessEnabled",
            AUTO_DISCOVERY,
        )?;
        check_enum(
            a.get("agentlessAutoDiscovery"),
            "properties.agentlessConfiguration.agentlessAutoDiscovery",
            AUTO_DISCOVERY,
        )?;
        check_enum(
            a.get("inventoryListType"),
            "properties.agentlessConfiguration.inventoryListType",
            &["Inclusion", "Exclusion"],
        )?;
        if let Some(list) = a.get("inventoryList").and_then(Value::as_array) {
            for (i, item) in list.iter().enumerate() {
                check_enum(
                    item.get("inventoryKind"),
                    &format!("properties.agentlessConfiguration.inventoryList[{i}].inventoryKind"),
                    INVENTORY_KINDS,
                )?;
            }
        }
    }
    // Everything but what ARM ignores (read-only fields, the secret) is kept, known or not.
    let doc = stored_document(ctx, Kind::DevOpsConfig, body);
    let props = doc.get("properties").cloned().unwrap_or_else(|| json!({}));
    Ok((props, unknown_top(&doc, &["properties"])))
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

fn devops_route(ctx: &Ctx, key: &str, rest: &[&str]) -> ArmResult {
    let m = ctx.method.as_str();
    match rest {
        [] => {
            if m != "GET" {
                return Err(method_not_allowed(ctx));
            }
            let cloud = ctx.shared.cloud();
            let c = connector(&cloud, key)?;
            let items: Vec<Value> = c.devops.iter().map(|d| devops_json(c, d, ctx)).collect();
            drop(cloud);
            ctx.page(&ctx_path(ctx), items)
        }
        [name, tail @ ..] => {
            if *name != "default" {
                return Err(ArmError::not_found(&format!(
                    "Microsoft.Security/securityConnectors/devops/{}",
                    ctx.segs[9]
                )));
            }
            match tail {
                [] => devops_config(ctx, key),
                ["operationresults", _] => operation_result(ctx, key),
                ["listavailableazuredevopsorgs"] => list_available(ctx, key, Env::AzureDevOps),
                ["listavailablegithubowners"] => list_available(ctx, key, Env::Github),
                ["listavailablegitlabgroups"] => list_available(ctx, key, Env::GitLab),
                ["azuredevopsorgs", ..] | ["githubowners", ..] | ["gitlabgroups", ..] => {
                    let names: Vec<String> = ctx.segs[11..].to_vec();
                    match tail[0] {
                        "azuredevopsorgs" => ado(ctx, key, &tail[1..], &names),
                        "githubowners" => github(ctx, key, &tail[1..], &names),
                        _ => gitlab(ctx, key, &tail[1..], &names),
                    }
                }
                _ => Err(ArmError::new(
                    404,
                    "InvalidResourceType",
                    "The resource type could not be found in the namespace 'Microsoft.Security'.",
                )),
            }
        }
    }
}

fn devops_config(ctx: &Ctx, key: &str) -> ArmResult {
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

fn operation_result(ctx: &Ctx, key: &str) -> ArmResult {
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

fn require_env(c: &Connector, env: Env) -> Result<(), ArmError> {
    if c.env() == Some(env) {
        Ok(())
    } else {
        Err(ArmError::bad_request(format!(
            "The security connector '{}' is not a {} connector.",
            c.name,
            env.name()
        )))
    }
}

fn list_available(ctx: &Ctx, key: &str, env: Env) -> ArmResult {
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

fn child_id(c: &Connector, tail: &str) -> String {
    format!("{}/devops/default/{tail}", c.id)
}

/// The Azure DevOps paths of `key` with a write in flight, and the `provisioningState` a GET
/// shows meanwhile.
struct View {
    running: BTreeMap<String, String>,
}

fn view(cloud: &Cloud, key: &str) -> View {
    let running = cloud
        .operations
        .values()
        .filter(|o| o.connector == key && o.status == OpStatus::InProgress)
        .filter_map(|o| match &o.effect {
            Effect::AdoWrite { path, .. } => Some((
                path.clone(),
                o.in_progress_state.clone().unwrap_or_else(|| "Accepted".into()),
            )),
            _ => None,
        })
        .collect();
    View { running }
}

/// The generated document of an Azure DevOps resource, completed with what is in flight, the
/// stored unknown fields, and shaped for the request's api-version.
fn finish_ado(
    ctx: &Ctx,
    view: &View,
    c: &Connector,
    path: &str,
    kind: Kind,
    mut v: Value,
) -> Value {
    if let Some(state) = view.running.get(path) {
        v["properties"]["provisioningState"] = json!(state);
    }
    if let Some(doc) = c.devops.as_ref().and_then(|d| d.documents.get(path)) {
        schema::overlay(&mut v, &Value::Object(doc.clone()));
    }
    schema::shape(kind, version(ctx), &mut v);
    v
}

/// A read-only resource (GitHub, GitLab): generated, plus the fields the world adds.
fn finish_world(ctx: &Ctx, kind: Kind, extra: &Map<String, Value>, mut v: Value) -> Value {
    schema::overlay(&mut v, &Value::Object(extra.clone()));
    schema::shape(kind, version(ctx), &mut v);
    v
}

fn ado_org_json(
    ctx: &Ctx,
    view: &View,
    cloud: &Cloud,
    c: &Connector,
    key: &str,
    o: &AdoOrg,
) -> Value {
    let path = o.name.to_ascii_lowercase();
    let v = json!({
        "id": child_id(c, &format!("azureDevOpsOrgs/{}", o.name)),
        "name": o.name,
        "type": "Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs",
        "properties": {
            "onboardingState": cloud.onboarding_state(key, Env::AzureDevOps, &o.name),
            "actionableRemediation": remediation(c, &path, json!({"state": "None"})),
            "provisioningState": "Succeeded",
        },
    });
    finish_ado(ctx, view, c, &path, Kind::AdoOrg, v)
}

fn remediation(c: &Connector, path: &str, default: Value) -> Value {
    c.devops.as_ref().and_then(|d| d.settings.get(path)).cloned().unwrap_or(default)
}

fn ado_project_json(
    ctx: &Ctx,
    view: &View,
    cloud: &Cloud,
    c: &Connector,
    key: &str,
    o: &AdoOrg,
    p: &AdoProject,
) -> Value {
    let path = format!("{}/{}", o.name, p.name).to_ascii_lowercase();
    let v = json!({
        "id": child_id(c, &format!("azureDevOpsOrgs/{}/projects/{}", o.name, p.name)),
        "name": p.name,
        "type": "Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/projects",
        "properties": {
            "parentOrgName": o.name,
            "projectId": p.id,
            "onboardingState": cloud.onboarding_state(key, Env::AzureDevOps, &o.name),
            "actionableRemediation": remediation(c, &path, json!({"inheritFromParentState": "Enabled"})),
            "provisioningState": "Succeeded",
        },
    });
    finish_ado(ctx, view, c, &path, Kind::AdoProject, v)
}

#[allow(clippy::too_many_arguments)]
fn ado_repo_json(
    ctx: &Ctx,
    view: &View,
    cloud: &Cloud,
    c: &Connector,
    key: &str,
    o: &AdoOrg,
    p: &AdoProject,
    r: &AdoRepo,
) -> Value {
    let path = format!("{}/{}/{}", o.name, p.name, r.name).to_ascii_lowercase();
    let v = json!({
        "id": child_id(c, &format!("azureDevOpsOrgs/{}/projects/{}/repos/{}", o.name, p.name, r.name)),
        "name": r.name,
        "type": "Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/projects/repos",
        "properties": {
            "parentOrgName": o.name,
            "parentProjectName": p.name,
            "repoId": r.id,
            "repoUrl": format!("https://dev.azure.com/{}/{}/_git/{}", o.name, p.name, r.name),
            "visibility": r.visibility,
            "onboardingState": cloud.onboarding_state(key, Env::AzureDevOps, &o.name),
            "actionableRemediation": remediation(c, &path, json!({"inheritFromParentState": "Enabled"})),
            "provisioningState": "Succeeded",
        },
    });
    finish_ado(ctx, view, c, &path, Kind::AdoRepo, v)
}

/// The Azure DevOps org, project or repo at `path` (lowercase) as `key` shows it.
fn ado_json_at(ctx: &Ctx, cloud: &Cloud, key: &str, path: &str) -> Option<Value> {
    let c = cloud.connectors.get(key)?;
    let v = view(cloud, key);
    let parts: Vec<&str> = path.split('/').collect();
    let o = cloud.ado.get(*parts.first()?)?;
    match parts.as_slice() {
        [_] => Some(ado_org_json(ctx, &v, cloud, c, key, o)),
        [_, p] => Some(ado_project_json(ctx, &v, cloud, c, key, o, o.projects.get(*p)?)),
        [_, p, r] => {
            let proj = o.projects.get(*p)?;
            Some(ado_repo_json(ctx, &v, cloud, c, key, o, proj, proj.repos.get(*r)?))
        }
        _ => None,
    }
}

fn gh_owner_json(ctx: &Ctx, cloud: &Cloud, c: &Connector, key: &str, o: &GhOwner) -> Value {
    let v = json!({
        "id": child_id(c, &format!("gitHubOwners/{}", o.name)),
        "name": o.name,
        "type": "Microsoft.Security/securityConnectors/devops/gitHubOwners",
        "properties": {
            "ownerUrl": format!("https://github.com/{}", o.name),
            "gitHubInternalId": o.internal_id,
            "onboardingState": cloud.onboarding_state(key, Env::Github, &o.name),
            "provisioningState": "Succeeded",
        },
    });
    finish_world(ctx, Kind::GhOwner, &o.extra, v)
}

fn gh_repo_json(
    ctx: &Ctx,
    cloud: &Cloud,
    c: &Connector,
    key: &str,
    o: &GhOwner,
    r: &GhRepo,
) -> Value {
    let v = json!({
        "id": child_id(c, &format!("gitHubOwners/{}/repos/{}", o.name, r.name)),
        "name": r.name,
        "type": "Microsoft.Security/securityConnectors/devops/gitHubOwners/repos",
        "properties": {
            "repoId": r.id,
            "repoName": r.name,
            "repoFullName": format!("{}/{}", o.name, r.name),
            "repoUrl": format!("https://github.com/{}/{}", o.name, r.name),
            "parentOwnerName": o.name,
            "onboardingState": cloud.onboarding_state(key, Env::Github, &o.name),
            "provisioningState": "Succeeded",
        },
    });
    finish_world(ctx, Kind::GhRepo, &r.extra, v)
}

fn gl_group_json(ctx: &Ctx, cloud: &Cloud, c: &Connector, key: &str, g: &GlGroup) -> Value {
    let v = json!({
        "id": child_id(c, &format!("gitLabGroups/{}", g.fq_name)),
        "name": g.fq_name,
        "type": "Microsoft.Security/securityConnectors/devops/gitLabGroups",
        "properties": {
            "fullyQualifiedName": g.fq_name,
            "fullyQualifiedFriendlyName": g.fq_name.replace('$', " / "),
            "url": format!("https://gitlab.example.com/{}", g.fq_name.replace('$', "/")),
            "onboardingState": cloud.onboarding_state(key, Env::GitLab, &g.fq_name),
            "provisioningState": "Succeeded",
        },
    });
    finish_world(ctx, Kind::GlGroup, &g.extra, v)
}

fn gl_project_json(
    ctx: &Ctx,
    cloud: &Cloud,
    c: &Connector,
    key: &str,
    g: &GlGroup,
    p: &str,
) -> Value {
    let v = json!({
        "id": child_id(c, &format!("gitLabGroups/{}/projects/{p}", g.fq_name)),
        "name": p,
        "type": "Microsoft.Security/securityConnectors/devops/gitLabGroups/projects",
        "properties": {
            "fullyQualifiedName": format!("{}${p}", g.fq_name),
            "fullyQualifiedFriendlyName": format!("{} / {p}", g.fq_name.replace('$', " / ")),
            "fullyQualifiedParentGroupName": g.fq_name,
            "url": format!("https://gitlab.example.com/{}/{p}", g.fq_name.replace('$', "/")),
            "onboardingState": cloud.onboarding_state(key, Env::GitLab, &g.fq_name),
            "provisioningState": "Succeeded",
        },
    });
    let extra = g.project_extra.get(&p.to_ascii_lowercase()).cloned().unwrap_or_default();
    finish_world(ctx, Kind::GlProject, &extra, v)
}

fn owned(cloud: &Cloud, key: &str, env: Env, name: &str) -> bool {
    cloud.owners.get(&item_key(env, name)).is_some_and(|o| o == key)
}

fn validate_remediation(body: &Value, what: &str) -> Result<Option<Value>, ArmError> {
    if let Some(p) = body.get("properties") {
        if !p.is_object() {
            return Err(ArmError::bad_request("The value of 'properties' must be an object.")
                .target("properties"));
        }
    }
    let Some(r) = body.pointer("/properties/actionableRemediation") else { return Ok(None) };
    let base = "properties.actionableRemediation";
    check_type(Some(r), base, "an object", Value::is_object)?;
    check_enum(r.get("state"), &format!("{base}.state"), STATE)?;
    check_enum(
        r.get("inheritFromParentState"),
        &format!("{base}.inheritFromParentState"),
        ENABLED,
    )?;
    if what == "org" && r.get("inheritFromParentState").is_some() {
        return Err(ArmError::bad_request("An Azure DevOps organization has no parent: 'inheritFromParentState' applies to projects and repositories only.")
            .target(&format!("{base}.inheritFromParentState")));
    }
    if let Some(cats) = r.get("categoryConfigurations") {
        let Some(arr) = cats.as_array() else {
            return Err(ArmError::bad_request(format!(
                "The value of '{base}.categoryConfigurations' must be an array."
            )));
        };
        for (i, c) in arr.iter().enumerate() {
            check_enum(
                c.get("category"),
                &format!("{base}.categoryConfigurations[{i}].category"),
                CATEGORIES,
            )?;
        }
    }
    if let Some(b) = r.get("branchConfiguration") {
        check_enum(
            b.get("annotateDefaultBranch"),
            &format!("{base}.branchConfiguration.annotateDefaultBranch"),
            ENABLED,
        )?;
    }
    Ok(Some(r.clone()))
}

/// A PUT or PATCH of the Azure DevOps org, project or repo at `path`: `actionableRemediation`
/// goes to the settings, everything else ARM does not ignore to the stored document (a PUT
/// replaces it, a PATCH merges it); the change applies when the operation completes.
#[allow(clippy::too_many_arguments)]
fn ado_write(
    ctx: &Ctx,
    cloud: &mut Cloud,
    key: &str,
    c: &Connector,
    kind: Kind,
    path: String,
    created: bool,
    current: Value,
) -> ArmResult {
    let body = ctx.json_body()?;
    let what = match kind {
        Kind::AdoOrg => "org",
        Kind::AdoProject => "project",
        _ => "repo",
    };
    let r = validate_remediation(&body, what)?;
    busy(cloud, key, Some(&path))?;
    let mut doc = stored_document(ctx, kind, &body);
    if let Some(Value::Object(p)) = doc.get_mut("properties") {
        p.remove("actionableRemediation");
    }
    let patch = ctx.method.as_str() == "PATCH";
    if patch {
        let mut merged =
            c.devops.as_ref().and_then(|d| d.documents.get(&path)).cloned().unwrap_or_default();
        for (k, v) in &doc {
            match (k.as_str(), merged.get_mut(k), v) {
                ("properties", Some(Value::Object(old)), Value::Object(new)) => {
                    schema::merge_shallow(old, new)
                }
                _ => {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        doc = merged;
    }
    // Before issue 12 a PUT answered 201 and a PATCH 202, created or not.
    let answer = next_answer(ctx, created, if patch { 202 } else { 201 });
    // The answer shows the resource as written, with an in-progress provisioningState.
    let mut v = current;
    if let Some(r) = &r {
        v["properties"]["actionableRemediation"] = r.clone();
    }
    let mut written = doc.clone();
    if let Some(Value::Object(p)) = written.get_mut("properties") {
        for (k, pv) in p.iter() {
            v["properties"][k.as_str()] = pv.clone();
        }
    }
    written.remove("properties");
    if let Some(o) = v.as_object_mut() {
        // What ARM ignores (id, name, type...) is already out of `written`.
        o.extend(written);
    }
    v["properties"]["provisioningState"] = json!(answer.in_progress);
    schema::shape(kind, version(ctx), &mut v);
    lro_reply(
        ctx,
        cloud,
        key,
        Effect::AdoWrite { path: path.clone(), remediation: r, document: Some(doc) },
        answer,
        v,
        Target::Ado(path),
    )
}

fn ado(ctx: &Ctx, key: &str, rest: &[&str], names: &[String]) -> ArmResult {
    let m = ctx.method.as_str();
    let mut cloud = ctx.shared.cloud();
    let c = connector(&cloud, key)?.clone();
    require_env(&c, Env::AzureDevOps)?;
    if c.devops.is_none() {
        return Err(ArmError::not_found("Microsoft.Security/securityConnectors/devops/default"));
    }
    let nf = |what: &str| ArmError::not_found(what);
    let vw = view(&cloud, key);
    match rest {
        [] => {
            if m != "GET" {
                return Err(method_not_allowed(ctx));
            }
            let items: Vec<Value> = cloud
                .ado
                .values()
                .filter(|o| owned(&cloud, key, Env::AzureDevOps, &o.name))
                .map(|o| ado_org_json(ctx, &vw, &cloud, &c, key, o))
                .collect();
            drop(cloud);
            ctx.page(&ctx_path(ctx), items)
        }
        [org_l, tail @ ..] => {
            let org = cloud
                .ado
                .get(*org_l)
                .cloned()
                .ok_or_else(|| nf(&format!("azureDevOpsOrgs/{}", names[0])))?;
            let is_owned = owned(&cloud, key, Env::AzureDevOps, &org.name);
            let visible = c.devops.as_ref().is_some_and(|d| d.visible.contains(&org_l.to_string()));
            match tail {
                [] => match m {
                    "GET" if is_owned => {
                        Ok(Reply::ok(ado_org_json(ctx, &vw, &cloud, &c, key, &org)))
                    }
                    "GET" => Err(nf(&format!("azureDevOpsOrgs/{}", org.name))),
                    "PUT" | "PATCH" => {
                        // Validated before the state checks, as ARM validates the body first.
                        let body = ctx.json_body()?;
                        validate_remediation(&body, "org")?;
                        if m == "PATCH" && !is_owned {
                            return Err(nf(&format!("azureDevOpsOrgs/{}", org.name)));
                        }
                        if !visible {
                            return Err(ArmError::bad_request(format!("The Azure DevOps organization '{}' is not visible to this connector's authorization; re-authorize with an account that can see it.", org.name)));
                        }
                        if !is_owned
                            && cloud.owners.contains_key(&item_key(Env::AzureDevOps, &org.name))
                        {
                            return Err(ArmError::new(409, "Conflict", format!("The Azure DevOps organization '{}' is onboarded by another connector.", org.name)));
                        }
                        let current = ado_org_json(ctx, &vw, &cloud, &c, key, &org);
                        ado_write(
                            ctx,
                            &mut cloud,
                            key,
                            &c,
                            Kind::AdoOrg,
                            org_l.to_string(),
                            !is_owned,
                            current,
                        )
                    }
                    _ => Err(method_not_allowed(ctx)),
                },
                ["projects", ptail @ ..] => {
                    if !is_owned {
                        return Err(nf(&format!("azureDevOpsOrgs/{}", org.name)));
                    }
                    match ptail {
                        [] if m == "GET" => {
                            let items: Vec<Value> = org
                                .projects
                                .values()
                                .map(|p| ado_project_json(ctx, &vw, &cloud, &c, key, &org, p))
                                .collect();
                            drop(cloud);
                            ctx.page(&ctx_path(ctx), items)
                        }
                        [] => Err(method_not_allowed(ctx)),
                        [proj_l, rtail @ ..] => {
                            let proj = org
                                .projects
                                .get(*proj_l)
                                .ok_or_else(|| nf(&format!("projects/{}", names[2])))?;
                            match rtail {
                                [] => match m {
                                    "GET" => Ok(Reply::ok(ado_project_json(
                                        ctx, &vw, &cloud, &c, key, &org, proj,
                                    ))),
                                    "PUT" | "PATCH" => {
                                        let current =
                                            ado_project_json(ctx, &vw, &cloud, &c, key, &org, proj);
                                        let path = format!("{org_l}/{proj_l}");
                                        ado_write(
                                            ctx,
                                            &mut cloud,
                                            key,
                                            &c,
                                            Kind::AdoProject,
                                            path,
                                            false,
                                            current,
                                        )
                                    }
                                    _ => Err(method_not_allowed(ctx)),
                                },
                                ["repos"] if m == "GET" => {
                                    let items: Vec<Value> = proj
                                        .repos
                                        .values()
                                        .map(|r| {
                                            ado_repo_json(ctx, &vw, &cloud, &c, key, &org, proj, r)
                                        })
                                        .collect();
                                    drop(cloud);
                                    ctx.page(&ctx_path(ctx), items)
                                }
                                ["repos", repo_l] => {
                                    let repo = proj
                                        .repos
                                        .get(*repo_l)
                                        .ok_or_else(|| nf(&format!("repos/{}", names[4])))?;
                                    match m {
                                        "GET" => Ok(Reply::ok(ado_repo_json(
                                            ctx, &vw, &cloud, &c, key, &org, proj, repo,
                                        ))),
                                        "PUT" | "PATCH" => {
                                            let current = ado_repo_json(
                                                ctx, &vw, &cloud, &c, key, &org, proj, repo,
                                            );
                                            let path = format!("{org_l}/{proj_l}/{repo_l}");
                                            ado_write(
                                                ctx,
                                                &mut cloud,
                                                key,
                                                &c,
                                                Kind::AdoRepo,
                                                path,
                                                false,
                                                current,
                                            )
                                        }
                                        _ => Err(method_not_allowed(ctx)),
                                    }
                                }
                                _ => Err(nf(&ctx_path(ctx))),
                            }
                        }
                    }
                }
                _ => Err(nf(&ctx_path(ctx))),
            }
        }
    }
}

fn github(ctx: &Ctx, key: &str, rest: &[&str], names: &[String]) -> ArmResult {
    if ctx.method != "GET" {
        return Err(method_not_allowed(ctx));
    }
    let cloud = ctx.shared.cloud();
    let c = connector(&cloud, key)?;
    require_env(c, Env::Github)?;
    let nf = |what: &str| ArmError::not_found(what);
    match rest {
        [] => {
            let items: Vec<Value> = cloud
                .github
                .values()
                .filter(|o| owned(&cloud, key, Env::Github, &o.name))
                .map(|o| gh_owner_json(ctx, &cloud, c, key, o))
                .collect();
            drop(cloud);
            ctx.page(&ctx_path(ctx), items)
        }
        [owner_l, tail @ ..] => {
            let o = cloud
                .github
                .get(*owner_l)
                .filter(|o| owned(&cloud, key, Env::Github, &o.name))
                .ok_or_else(|| nf(&format!("gitHubOwners/{}", names[0])))?;
            match tail {
                [] => Ok(Reply::ok(gh_owner_json(ctx, &cloud, c, key, o))),
                ["repos"] => {
                    let items: Vec<Value> =
                        o.repos.iter().map(|r| gh_repo_json(ctx, &cloud, c, key, o, r)).collect();
                    drop(cloud);
                    ctx.page(&ctx_path(ctx), items)
                }
                ["repos", repo_l] => {
                    let r = o
                        .repos
                        .iter()
                        .find(|r| r.name.eq_ignore_ascii_case(repo_l))
                        .ok_or_else(|| nf(&format!("repos/{}", names[2])))?;
                    Ok(Reply::ok(gh_repo_json(ctx, &cloud, c, key, o, r)))
                }
                _ => Err(nf(&ctx_path(ctx))),
            }
        }
    }
}

fn gitlab(ctx: &Ctx, key: &str, rest: &[&str], names: &[String]) -> ArmResult {
    let m = ctx.method.as_str();
    let cloud = ctx.shared.cloud();
    let c = connector(&cloud, key)?;
    require_env(c, Env::GitLab)?;
    let nf = |what: &str| ArmError::not_found(what);
    match rest {
        [] if m == "GET" => {
            let items: Vec<Value> = cloud
                .gitlab
                .values()
                .filter(|g| owned(&cloud, key, Env::GitLab, &g.fq_name))
                .map(|g| gl_group_json(ctx, &cloud, c, key, g))
                .collect();
            drop(cloud);
            ctx.page(&ctx_path(ctx), items)
        }
        [group_l, tail @ ..] => {
            let g = cloud
                .gitlab
                .get(*group_l)
                .filter(|g| owned(&cloud, key, Env::GitLab, &g.fq_name))
                .ok_or_else(|| nf(&format!("gitLabGroups/{}", names[0])))?;
            match (m, tail) {
                ("GET", []) => Ok(Reply::ok(gl_group_json(ctx, &cloud, c, key, g))),
                ("POST", ["listsubgroups"]) => {
                    let prefix = format!("{group_l}$");
                    let items: Vec<Value> = cloud
                        .gitlab
                        .iter()
                        .filter(|(k, _)| k.starts_with(&prefix))
                        .map(|(_, s)| gl_group_json(ctx, &cloud, c, key, s))
                        .collect();
                    Ok(Reply::ok(json!({ "value": items })))
                }
                ("GET", ["projects"]) => {
                    let items: Vec<Value> = g
                        .projects
                        .iter()
                        .map(|p| gl_project_json(ctx, &cloud, c, key, g, p))
                        .collect();
                    drop(cloud);
                    ctx.page(&ctx_path(ctx), items)
                }
                ("GET", ["projects", p_l]) => {
                    let p = g
                        .projects
                        .iter()
                        .find(|p| p.eq_ignore_ascii_case(p_l))
                        .ok_or_else(|| nf(&format!("projects/{}", names[2])))?;
                    Ok(Reply::ok(gl_project_json(ctx, &cloud, c, key, g, p)))
                }
                _ => Err(method_not_allowed(ctx)),
            }
        }
        _ => Err(method_not_allowed(ctx)),
    }
}
