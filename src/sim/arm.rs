//! ARM operations on security connectors (2026-08-01-preview) and their DevOps children
//! (2025-03-01): CRUD, listings with `nextLink`, the long-running operations with
//! `Azure-AsyncOperation` and `operationResults`, the `listAvailable*` POSTs, body validation,
//! ownership and region outages.
//!
//! Long-running operations are lazy: a write records an [`Operation`] due at a simulated time,
//! and [`settle`] (run whenever the cloud is locked) applies every effect that is due, so the
//! outcome depends on the simulated clock only.

use super::model::*;
use super::server::{check_name, ArmError, ArmResult, Ctx, Reply, SimConfig};
use serde_json::{json, Map, Value};

pub const CONNECTORS_API: &str = "2026-08-01-preview";
pub const DEVOPS_API: &str = "2025-03-01";

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
pub fn settle(cloud: &mut Cloud, now: f64, config: &SimConfig) {
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
            Effect::DevOpsWrite { properties, visible, fail } => {
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
            Effect::AdoWrite { path, remediation } => {
                if let Some(d) =
                    cloud.connectors.get_mut(&op.connector).and_then(|c| c.devops.as_mut())
                {
                    if let Some(r) = remediation {
                        d.settings.insert(path.clone(), r.clone());
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
    super::support::settle(cloud, now, config);
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
        ctx.require_api_version("securityConnectors", &[CONNECTORS_API])?;
        return list_connectors(ctx, &sub, None);
    }
    let rg = ctx.segs[3].clone();
    check_name("resource group", &rg)?;
    if l.len() == 7 {
        ctx.require_api_version("securityConnectors", &[CONNECTORS_API])?;
        return list_connectors(ctx, &sub, Some(&rg));
    }
    let name = ctx.segs[7].clone();
    check_name("security connector", &name)?;
    let key = connector_key(&sub, &rg, &name);
    let rest: Vec<&str> = l[8..].iter().map(String::as_str).collect();
    if rest.is_empty() {
        ctx.require_api_version("securityConnectors", &[CONNECTORS_API])?;
        return connector_op(ctx, &sub, &rg, &name, &key);
    }
    if rest[0] != "devops" {
        return Err(ArmError::new(404, "InvalidResourceType", format!(
            "The resource type 'securityConnectors/{}' could not be found in the namespace 'Microsoft.Security'.",
            ctx.segs[8]
        )));
    }
    ctx.require_api_version("securityConnectors/devops", &[DEVOPS_API])?;
    for s in &ctx.segs[9..] {
        check_name("resource", s)?;
    }
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
    json!({
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
    })
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

/// Rejects a value outside an enum, with ARM's wording; a wrong casing is named as such.
fn check_enum(v: Option<&Value>, path: &str, allowed: &[&str]) -> Result<(), ArmError> {
    let Some(v) = v else { return Ok(()) };
    let Some(s) = v.as_str() else {
        return Err(
            ArmError::bad_request(format!("The value of '{path}' must be a string.")).target(path)
        );
    };
    if allowed.contains(&s) {
        return Ok(());
    }
    let hint = match allowed.iter().find(|a| a.eq_ignore_ascii_case(s)) {
        Some(right) => format!(" Enum values are case-sensitive: use '{right}'."),
        None => String::new(),
    };
    Err(ArmError::bad_request(format!(
        "The value '{s}' is not valid for '{path}'. Allowed values: {}.{hint}",
        allowed.join(", ")
    ))
    .target(path))
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
            let body = ctx.json_body()?;
            validate_connector_body(&body)?;
            let Some(location) = body.get("location").and_then(Value::as_str) else {
                return Err(ArmError::new(
                    400,
                    "LocationRequired",
                    "The location property is required for this definition.",
                )
                .target("location"));
            };
            let mut cloud = ctx.shared.cloud();
            subscription_check(&cloud, sub)?;
            outage_check(ctx, &normalize_region(location))?;
            let etag = format!("\"{}\"", cloud.next_guid());
            let properties = body.get("properties").cloned().unwrap_or_else(|| json!({}));
            let tags = body.get("tags").cloned().unwrap_or_else(|| json!({}));
            let kind = body.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
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
                c.modified_at = ctx.now;
                if c.env() != old_env {
                    c.devops = None;
                }
                let v = connector_json(ctx, c);
                return Ok(Reply::ok(v));
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
            };
            let v = connector_json(ctx, &c);
            cloud.connectors.insert(key.to_string(), c);
            Ok(Reply::json(201, v))
        }
        "PATCH" => {
            let body = ctx.json_body()?;
            validate_connector_body(&body)?;
            let mut cloud = ctx.shared.cloud();
            subscription_check(&cloud, sub)?;
            let etag = format!("\"{}\"", cloud.next_guid());
            let c = cloud.connectors.get_mut(key).ok_or_else(|| {
                ArmError::not_found(&format!("Microsoft.Security/securityConnectors/{name}"))
            })?;
            outage_check(ctx, &c.region())?;
            if let Some(loc) = body.get("location").and_then(Value::as_str) {
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
            c.etag = etag;
            c.modified_at = ctx.now;
            Ok(Reply::ok(connector_json(ctx, c)))
        }
        "DELETE" => {
            let mut cloud = ctx.shared.cloud();
            subscription_check(&cloud, sub)?;
            let Some(c) = cloud.connectors.get(key) else { return Ok(Reply::empty(204)) };
            outage_check(ctx, &c.region())?;
            cloud.connectors.remove(key);
            cloud.owners.retain(|_, o| o != key);
            Ok(Reply::empty(200))
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
    json!({
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
    })
}

fn lro(
    ctx: &Ctx,
    cloud: &mut Cloud,
    key: &str,
    effect: Effect,
) -> Result<(String, String), ArmError> {
    // Looked up first: the operation's URL is under the connector's ID.
    let devops = devops_id(connector(cloud, key)?);
    let id = cloud.next_guid();
    let slow = ctx.shared.faults.lro_slowdown().max(0.0);
    let delay = ctx.shared.config.lro_delay.as_secs_f64() * slow;
    cloud.operations.insert(
        id.clone(),
        Operation {
            id: id.clone(),
            connector: key.to_string(),
            started: ctx.now,
            due: ctx.now + delay,
            status: OpStatus::InProgress,
            error: None,
            effect,
        },
    );
    let url =
        format!("{}{devops}/operationResults/{id}?api-version={DEVOPS_API}", ctx.shared.base_url);
    Ok((id, url))
}

fn with_lro(reply: Reply, url: &str, ctx: &Ctx) -> Reply {
    let secs = ctx.shared.config.lro_delay.as_secs_f64().ceil().max(1.0) as u64;
    reply.header("Azure-AsyncOperation", url).header("Retry-After", secs.to_string())
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

fn validate_devops_body(body: &Value) -> Result<Value, ArmError> {
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
    // Only what a user may set; read-only fields and the secret are dropped.
    let mut kept = Map::new();
    for (k, v) in p.as_object().into_iter().flatten() {
        if matches!(
            k.as_str(),
            "autoDiscovery" | "topLevelInventoryList" | "agentlessConfiguration"
        ) {
            kept.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Object(kept))
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
            let mut props = validate_devops_body(&body)?;
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
                for (k, v) in props.as_object().into_iter().flatten() {
                    merged.insert(k.clone(), v.clone());
                }
                props = Value::Object(merged);
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
            let c = connector_mut(&mut cloud, key)?;
            let created = c.devops.is_none();
            let d = c.devops.get_or_insert_with(|| DevOps {
                properties: props.clone(),
                provisioning_state: "Accepted".into(),
                status_message: None,
                updated_at: ctx.now,
                authorized: false,
                visible: Vec::new(),
                settings: Default::default(),
            });
            d.provisioning_state = "Accepted".into();
            let mut shown = props.as_object().cloned().unwrap_or_default();
            shown.insert("provisioningState".into(), json!("Accepted"));
            let body = json!({
                "id": devops_id(c), "name": "default",
                "type": "Microsoft.Security/securityConnectors/devops",
                "properties": shown,
            });
            let (_, url) = lro(
                ctx,
                &mut cloud,
                key,
                Effect::DevOpsWrite { properties: props, visible, fail },
            )?;
            let status = if created { 201 } else { 202 };
            Ok(with_lro(Reply::json(status, body), &url, ctx))
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
            let (_, url) = lro(ctx, &mut cloud, key, Effect::DevOpsDelete)?;
            // DELETE's 202 also carries `Location` (as the 2025-11-01-preview spec declares).
            Ok(with_lro(Reply::empty(202), &url, ctx).header("Location", url.clone()))
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
    let mut items = Vec::new();
    for name in &d.visible {
        match env {
            Env::AzureDevOps => {
                if let Some(o) = cloud.ado.get(name) {
                    items.push(ado_org_json(&cloud, c, key, o));
                }
            }
            Env::Github => {
                if let Some(o) = cloud.github.get(name) {
                    items.push(gh_owner_json(&cloud, c, key, o));
                }
            }
            Env::GitLab => {
                for g in cloud.gitlab.values() {
                    if g.fq_name.split('$').next().unwrap_or("").eq_ignore_ascii_case(name) {
                        items.push(gl_group_json(&cloud, c, key, g));
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

fn ado_org_json(cloud: &Cloud, c: &Connector, key: &str, o: &AdoOrg) -> Value {
    let path = o.name.to_ascii_lowercase();
    json!({
        "id": child_id(c, &format!("azureDevOpsOrgs/{}", o.name)),
        "name": o.name,
        "type": "Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs",
        "properties": {
            "onboardingState": cloud.onboarding_state(key, Env::AzureDevOps, &o.name),
            "actionableRemediation": remediation(c, &path, json!({"state": "None"})),
            "provisioningState": "Succeeded",
        },
    })
}

fn remediation(c: &Connector, path: &str, default: Value) -> Value {
    c.devops.as_ref().and_then(|d| d.settings.get(path)).cloned().unwrap_or(default)
}

fn ado_project_json(cloud: &Cloud, c: &Connector, key: &str, o: &AdoOrg, p: &AdoProject) -> Value {
    let path = format!("{}/{}", o.name, p.name).to_ascii_lowercase();
    json!({
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
    })
}

fn ado_repo_json(
    cloud: &Cloud,
    c: &Connector,
    key: &str,
    o: &AdoOrg,
    p: &AdoProject,
    r: &AdoRepo,
) -> Value {
    let path = format!("{}/{}/{}", o.name, p.name, r.name).to_ascii_lowercase();
    json!({
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
    })
}

fn gh_owner_json(cloud: &Cloud, c: &Connector, key: &str, o: &GhOwner) -> Value {
    json!({
        "id": child_id(c, &format!("gitHubOwners/{}", o.name)),
        "name": o.name,
        "type": "Microsoft.Security/securityConnectors/devops/gitHubOwners",
        "properties": {
            "ownerUrl": format!("https://github.com/{}", o.name),
            "gitHubInternalId": o.internal_id,
            "onboardingState": cloud.onboarding_state(key, Env::Github, &o.name),
            "provisioningState": "Succeeded",
        },
    })
}

fn gh_repo_json(cloud: &Cloud, c: &Connector, key: &str, o: &GhOwner, r: &GhRepo) -> Value {
    json!({
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
    })
}

fn gl_group_json(cloud: &Cloud, c: &Connector, key: &str, g: &GlGroup) -> Value {
    json!({
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
    })
}

fn gl_project_json(cloud: &Cloud, c: &Connector, key: &str, g: &GlGroup, p: &str) -> Value {
    json!({
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
    })
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

fn ado(ctx: &Ctx, key: &str, rest: &[&str], names: &[String]) -> ArmResult {
    let m = ctx.method.as_str();
    let mut cloud = ctx.shared.cloud();
    let c = connector(&cloud, key)?.clone();
    require_env(&c, Env::AzureDevOps)?;
    if c.devops.is_none() {
        return Err(ArmError::not_found("Microsoft.Security/securityConnectors/devops/default"));
    }
    let nf = |what: &str| ArmError::not_found(what);
    match rest {
        [] => {
            if m != "GET" {
                return Err(method_not_allowed(ctx));
            }
            let items: Vec<Value> = cloud
                .ado
                .values()
                .filter(|o| owned(&cloud, key, Env::AzureDevOps, &o.name))
                .map(|o| ado_org_json(&cloud, &c, key, o))
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
                    "GET" if is_owned => Ok(Reply::ok(ado_org_json(&cloud, &c, key, &org))),
                    "GET" => Err(nf(&format!("azureDevOpsOrgs/{}", org.name))),
                    "PUT" | "PATCH" => {
                        let body = ctx.json_body()?;
                        let r = validate_remediation(&body, "org")?;
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
                        busy(&cloud, key, Some(org_l))?;
                        let mut v = ado_org_json(&cloud, &c, key, &org);
                        if let Some(r) = &r {
                            v["properties"]["actionableRemediation"] = r.clone();
                        }
                        v["properties"]["provisioningState"] = json!("Accepted");
                        let (_, url) = lro(
                            ctx,
                            &mut cloud,
                            key,
                            Effect::AdoWrite { path: org_l.to_string(), remediation: r },
                        )?;
                        Ok(with_lro(Reply::json(if m == "PUT" { 201 } else { 202 }, v), &url, ctx))
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
                                .map(|p| ado_project_json(&cloud, &c, key, &org, p))
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
                                    "GET" => {
                                        Ok(Reply::ok(ado_project_json(&cloud, &c, key, &org, proj)))
                                    }
                                    "PUT" | "PATCH" => {
                                        let body = ctx.json_body()?;
                                        let r = validate_remediation(&body, "project")?;
                                        busy(&cloud, key, Some(&format!("{org_l}/{proj_l}")))?;
                                        let mut v = ado_project_json(&cloud, &c, key, &org, proj);
                                        if let Some(r) = &r {
                                            v["properties"]["actionableRemediation"] = r.clone();
                                        }
                                        v["properties"]["provisioningState"] = json!("Accepted");
                                        let path = format!("{org_l}/{proj_l}");
                                        let (_, url) = lro(
                                            ctx,
                                            &mut cloud,
                                            key,
                                            Effect::AdoWrite { path, remediation: r },
                                        )?;
                                        Ok(with_lro(
                                            Reply::json(if m == "PUT" { 201 } else { 202 }, v),
                                            &url,
                                            ctx,
                                        ))
                                    }
                                    _ => Err(method_not_allowed(ctx)),
                                },
                                ["repos"] if m == "GET" => {
                                    let items: Vec<Value> = proj
                                        .repos
                                        .values()
                                        .map(|r| ado_repo_json(&cloud, &c, key, &org, proj, r))
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
                                            &cloud, &c, key, &org, proj, repo,
                                        ))),
                                        "PUT" | "PATCH" => {
                                            let body = ctx.json_body()?;
                                            let r = validate_remediation(&body, "repo")?;
                                            busy(
                                                &cloud,
                                                key,
                                                Some(&format!("{org_l}/{proj_l}/{repo_l}")),
                                            )?;
                                            let mut v =
                                                ado_repo_json(&cloud, &c, key, &org, proj, repo);
                                            if let Some(r) = &r {
                                                v["properties"]["actionableRemediation"] =
                                                    r.clone();
                                            }
                                            v["properties"]["provisioningState"] =
                                                json!("Accepted");
                                            let path = format!("{org_l}/{proj_l}/{repo_l}");
                                            let (_, url) = lro(
                                                ctx,
                                                &mut cloud,
                                                key,
                                                Effect::AdoWrite { path, remediation: r },
                                            )?;
                                            Ok(with_lro(
                                                Reply::json(if m == "PUT" { 201 } else { 202 }, v),
                                                &url,
                                                ctx,
                                            ))
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
                .map(|o| gh_owner_json(&cloud, c, key, o))
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
                [] => Ok(Reply::ok(gh_owner_json(&cloud, c, key, o))),
                ["repos"] => {
                    let items: Vec<Value> =
                        o.repos.iter().map(|r| gh_repo_json(&cloud, c, key, o, r)).collect();
                    drop(cloud);
                    ctx.page(&ctx_path(ctx), items)
                }
                ["repos", repo_l] => {
                    let r = o
                        .repos
                        .iter()
                        .find(|r| r.name.eq_ignore_ascii_case(repo_l))
                        .ok_or_else(|| nf(&format!("repos/{}", names[2])))?;
                    Ok(Reply::ok(gh_repo_json(&cloud, c, key, o, r)))
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
                .map(|g| gl_group_json(&cloud, c, key, g))
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
                ("GET", []) => Ok(Reply::ok(gl_group_json(&cloud, c, key, g))),
                ("POST", ["listsubgroups"]) => {
                    let prefix = format!("{group_l}$");
                    let items: Vec<Value> = cloud
                        .gitlab
                        .iter()
                        .filter(|(k, _)| k.starts_with(&prefix))
                        .map(|(_, s)| gl_group_json(&cloud, c, key, s))
                        .collect();
                    Ok(Reply::ok(json!({ "value": items })))
                }
                ("GET", ["projects"]) => {
                    let items: Vec<Value> =
                        g.projects.iter().map(|p| gl_project_json(&cloud, c, key, g, p)).collect();
                    drop(cloud);
                    ctx.page(&ctx_path(ctx), items)
                }
                ("GET", ["projects", p_l]) => {
                    let p = g
                        .projects
                        .iter()
                        .find(|p| p.eq_ignore_ascii_case(p_l))
                        .ok_or_else(|| nf(&format!("projects/{}", names[2])))?;
                    Ok(Reply::ok(gl_project_json(&cloud, c, key, g, p)))
                }
                _ => Err(method_not_allowed(ctx)),
            }
        }
        _ => Err(method_not_allowed(ctx)),
    }
}
