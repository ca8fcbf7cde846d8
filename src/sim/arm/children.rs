//! The read-only children of GitHub and GitLab connectors: GitHub owners and their
//! repositories, GitLab groups (subgroups included) and their projects. The code host owns them
//! (a connector only reads them), so both are served by one handler, [`handle`], driven by a
//! [`CodeHost`] each: [`GitHub`] and [`GitLab`].

use super::{child_id, connector, ctx_path, method_not_allowed, owned, require_env, version};
use crate::sim::model::*;
use crate::sim::schema::{self, Kind};
use crate::sim::server::{ArmError, ArmResult, Ctx, Reply};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// What showing a child needs: the request, the cloud under its lock, the connector and its key.
pub(super) struct Show<'a> {
    ctx: &'a Ctx<'a>,
    cloud: &'a Cloud,
    c: &'a Connector,
    key: &'a str,
}

/// A code host's read-only children: how its top-level items (owners, groups) and their
/// children (repos, projects) are found and shown.
pub(super) trait CodeHost {
    /// The connector environment these children belong to.
    const ENV: Env;
    /// ARM's collection name of the top-level items (`gitHubOwners`), as a 404 names it.
    const TOP: &'static str;
    /// The path segment of an item's children (`repos`), lowercase as routed; also ARM's name
    /// of the collection in a 404.
    const CHILDREN: &'static str;
    /// The POST actions on a top-level item, lowercase as routed (`listsubgroups`).
    const ACTIONS: &'static [&'static str] = &[];
    type Top;
    /// The top-level items, by lowercase name.
    fn tops(cloud: &Cloud) -> &BTreeMap<String, Self::Top>;
    /// The name an item's ownership is recorded under (see [`item_key`]).
    fn name(top: &Self::Top) -> &str;
    fn top_json(s: &Show, top: &Self::Top) -> Value;
    /// Every child of `top`, shown.
    fn children(s: &Show, top: &Self::Top) -> Vec<Value>;
    /// The child of `top` named `name` (any case), shown.
    fn child(s: &Show, top: &Self::Top, name: &str) -> Option<Value>;
    /// POST `action` (one of [`Self::ACTIONS`]) on the item at lowercase `top_key`.
    fn act(s: &Show, top_key: &str, action: &str) -> ArmResult {
        let _ = (top_key, action);
        Err(method_not_allowed(s.ctx))
    }
}

/// GitHub owners (`gitHubOwners`) and their repositories (`repos`).
pub(super) struct GitHub;

impl CodeHost for GitHub {
    const ENV: Env = Env::Github;
    const TOP: &'static str = "gitHubOwners";
    const CHILDREN: &'static str = "repos";
    type Top = GhOwner;
    fn tops(cloud: &Cloud) -> &BTreeMap<String, GhOwner> {
        &cloud.github
    }
    fn name(top: &GhOwner) -> &str {
        &top.name
    }
    fn top_json(s: &Show, top: &GhOwner) -> Value {
        gh_owner_json(s.ctx, s.cloud, s.c, s.key, top)
    }
    fn children(s: &Show, top: &GhOwner) -> Vec<Value> {
        top.repos.iter().map(|r| gh_repo_json(s.ctx, s.cloud, s.c, s.key, top, r)).collect()
    }
    fn child(s: &Show, top: &GhOwner, name: &str) -> Option<Value> {
        let r = top.repos.iter().find(|r| r.name.eq_ignore_ascii_case(name))?;
        Some(gh_repo_json(s.ctx, s.cloud, s.c, s.key, top, r))
    }
}

/// GitLab groups and subgroups (`gitLabGroups`, keyed by fully-qualified name `group$sub`),
/// their projects (`projects`) and `listSubgroups`.
pub(super) struct GitLab;

impl CodeHost for GitLab {
    const ENV: Env = Env::GitLab;
    const TOP: &'static str = "gitLabGroups";
    const CHILDREN: &'static str = "projects";
    const ACTIONS: &'static [&'static str] = &["listsubgroups"];
    type Top = GlGroup;
    fn tops(cloud: &Cloud) -> &BTreeMap<String, GlGroup> {
        &cloud.gitlab
    }
    fn name(top: &GlGroup) -> &str {
        &top.fq_name
    }
    fn top_json(s: &Show, top: &GlGroup) -> Value {
        gl_group_json(s.ctx, s.cloud, s.c, s.key, top)
    }
    fn children(s: &Show, top: &GlGroup) -> Vec<Value> {
        top.projects.iter().map(|p| gl_project_json(s.ctx, s.cloud, s.c, s.key, top, p)).collect()
    }
    fn child(s: &Show, top: &GlGroup, name: &str) -> Option<Value> {
        let p = top.projects.iter().find(|p| p.eq_ignore_ascii_case(name))?;
        Some(gl_project_json(s.ctx, s.cloud, s.c, s.key, top, p))
    }
    /// `listSubgroups`: every group below this one (not paged, as ARM answers it).
    fn act(s: &Show, top_key: &str, _action: &str) -> ArmResult {
        let prefix = format!("{top_key}$");
        let items: Vec<Value> = s
            .cloud
            .gitlab
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, g)| gl_group_json(s.ctx, s.cloud, s.c, s.key, g))
            .collect();
        Ok(Reply::ok(json!({ "value": items })))
    }
}

/// `devops/default/{H::TOP}[/{item}[/{H::CHILDREN}[/{child}] | /{action}]]`: the items the
/// connector owns, one of them (404 unless it owns it), its children, one child, its actions.
/// A method no route of the host takes is refused first (405); below an owned item, a known
/// path with another method is 405 and an unknown path 404.
pub(super) fn handle<H: CodeHost>(
    ctx: &Ctx,
    key: &str,
    rest: &[&str],
    names: &[String],
) -> ArmResult {
    let m = ctx.method.as_str();
    if !(m == "GET" || (m == "POST" && !H::ACTIONS.is_empty())) {
        return Err(method_not_allowed(ctx));
    }
    let cloud = ctx.shared.cloud();
    let c = connector(&cloud, key)?;
    require_env(c, H::ENV)?;
    let show = Show { ctx, cloud: &cloud, c, key };
    let is_owned = |t: &H::Top| owned(&cloud, key, H::ENV, H::name(t));
    let Some((top_key, tail)) = rest.split_first() else {
        if m != "GET" {
            return Err(method_not_allowed(ctx));
        }
        let items: Vec<Value> = H::tops(&cloud)
            .values()
            .filter(|t| is_owned(t))
            .map(|t| H::top_json(&show, t))
            .collect();
        drop(cloud);
        return ctx.page(&ctx_path(ctx), items);
    };
    let top = H::tops(&cloud)
        .get(*top_key)
        .filter(|t| is_owned(t))
        .ok_or_else(|| ArmError::not_found(&format!("{}/{}", H::TOP, names[0])))?;
    let children = |s: &str| s == H::CHILDREN;
    match tail {
        [] if m == "GET" => Ok(Reply::ok(H::top_json(&show, top))),
        [s] if children(s) && m == "GET" => {
            let items = H::children(&show, top);
            drop(cloud);
            ctx.page(&ctx_path(ctx), items)
        }
        [s, child] if children(s) && m == "GET" => H::child(&show, top, child)
            .map(Reply::ok)
            .ok_or_else(|| ArmError::not_found(&format!("{}/{}", H::CHILDREN, names[2]))),
        [a] if H::ACTIONS.contains(a) && m == "POST" => H::act(&show, top_key, a),
        [] => Err(method_not_allowed(ctx)),
        [s] if children(s) || H::ACTIONS.contains(s) => Err(method_not_allowed(ctx)),
        [s, _] if children(s) => Err(method_not_allowed(ctx)),
        _ => Err(ArmError::not_found(&ctx_path(ctx))),
    }
}

/// A read-only resource (GitHub, GitLab): generated, plus the fields the world adds.
fn finish_world(ctx: &Ctx, kind: Kind, extra: &Map<String, Value>, mut v: Value) -> Value {
    schema::overlay(&mut v, &Value::Object(extra.clone()));
    schema::shape(kind, version(ctx), &mut v);
    v
}

pub(super) fn gh_owner_json(
    ctx: &Ctx,
    cloud: &Cloud,
    c: &Connector,
    key: &str,
    o: &GhOwner,
) -> Value {
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

pub(super) fn gl_group_json(
    ctx: &Ctx,
    cloud: &Cloud,
    c: &Connector,
    key: &str,
    g: &GlGroup,
) -> Value {
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
