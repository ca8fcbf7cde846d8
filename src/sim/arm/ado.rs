//! Azure DevOps orgs, projects and repos: the children a connector writes
//! (`actionableRemediation` and whatever else a write carries), each write a long-running
//! operation.

use super::operations::{busy, lro_reply, next_answer, Target};
use super::validate::{stored_document, validate_remediation};
use super::{child_id, connector, ctx_path, method_not_allowed, owned, require_env, version};
use crate::sim::model::*;
use crate::sim::schema::{self, Kind};
use crate::sim::server::{ArmError, ArmResult, Ctx, Reply};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The Azure DevOps paths of `key` with a write in flight, and the `provisioningState` a GET
/// shows meanwhile.
pub(super) struct View {
    running: BTreeMap<String, String>,
}

pub(super) fn view(cloud: &Cloud, key: &str) -> View {
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

pub(super) fn ado_org_json(
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
pub(super) fn ado_json_at(ctx: &Ctx, cloud: &Cloud, key: &str, path: &str) -> Option<Value> {
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

/// `devops/default/azureDevOpsOrgs[/{org}[/projects[/{project}[/repos[/{repo}]]]]]`: GET of what
/// the connector owns; PUT and PATCH of an org it can see (onboarding it) or of what it owns.
pub(super) fn handle(ctx: &Ctx, key: &str, rest: &[&str], names: &[String]) -> ArmResult {
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
