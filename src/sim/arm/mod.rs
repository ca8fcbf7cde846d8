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
//!
//! This module routes a request to its handler and holds what every handler shares (the
//! connector under the lock, the outage and subscription checks, the common errors):
//! - `validate`: the body checks of every write (extensible enums, types) and the stored
//!   document of a write;
//! - `connectors`: the security connectors (list, GET, PUT, PATCH, DELETE);
//! - `devops`: the `devops/default` configuration and the `listAvailable*` POSTs;
//! - `operations`: long-running operations (their start, answer shapes, status URLs, and
//!   [`settle`]);
//! - `ado`: Azure DevOps orgs, projects and repos (the writable children);
//! - `children`: the read-only children of GitHub and GitLab, one table-driven handler.
//!
//! [`Operation`]: super::model::Operation

mod ado;
mod children;
mod connectors;
mod devops;
mod operations;
mod validate;

pub use operations::{location_result, settle};

use super::model::*;
use super::server::{check_name, lock, ArmError, ArmResult, Ctx};
use super::versions::Family;
use children::{GitHub, GitLab};
use serde_json::{Map, Value};

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
        return connectors::list_connectors(ctx, &sub, None);
    }
    let rg = ctx.segs[3].clone();
    check_name("resource group", &rg)?;
    if l.len() == 7 {
        ctx.require(Family::Connectors, "securityConnectors", "global")?;
        return connectors::list_connectors(ctx, &sub, Some(&rg));
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
        return connectors::connector_op(ctx, &sub, &rg, &name, &key);
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

/// `.../securityConnectors/{name}/devops[/default[/...]]`: the configuration, its operations and
/// `listAvailable*` actions, and the children (Azure DevOps: `ado`; GitHub, GitLab: `children`).
fn devops_route(ctx: &Ctx, key: &str, rest: &[&str]) -> ArmResult {
    let m = ctx.method.as_str();
    match rest {
        [] => {
            if m != "GET" {
                return Err(method_not_allowed(ctx));
            }
            let cloud = ctx.shared.cloud();
            let c = connector(&cloud, key)?;
            let items: Vec<Value> =
                c.devops.iter().map(|d| devops::devops_json(c, d, ctx)).collect();
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
                [] => devops::devops_config(ctx, key),
                ["operationresults", _] => operations::operation_result(ctx, key),
                ["listavailableazuredevopsorgs"] => {
                    devops::list_available(ctx, key, Env::AzureDevOps)
                }
                ["listavailablegithubowners"] => devops::list_available(ctx, key, Env::Github),
                ["listavailablegitlabgroups"] => devops::list_available(ctx, key, Env::GitLab),
                ["azuredevopsorgs", ..] | ["githubowners", ..] | ["gitlabgroups", ..] => {
                    let names: Vec<String> = ctx.segs[11..].to_vec();
                    match tail[0] {
                        "azuredevopsorgs" => ado::handle(ctx, key, &tail[1..], &names),
                        "githubowners" => children::handle::<GitHub>(ctx, key, &tail[1..], &names),
                        _ => children::handle::<GitLab>(ctx, key, &tail[1..], &names),
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

pub(crate) fn subscription_check(cloud: &Cloud, sub: &str) -> Result<(), ArmError> {
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

fn child_id(c: &Connector, tail: &str) -> String {
    format!("{}/devops/default/{tail}", c.id)
}

fn owned(cloud: &Cloud, key: &str, env: Env, name: &str) -> bool {
    cloud.owners.get(&item_key(env, name)).is_some_and(|o| o == key)
}
