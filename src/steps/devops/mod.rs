//! The DevOps recovery step kinds of the region-outage runbook: `devops.wait-for-release`
//! ([`release`]), `devops.reapply-settings` ([`reapply`]) and `devops.verify` ([`verify`]).
//!
//! All three read the old connector's configuration from a backup snapshot ([`BackupView`]) and
//! the new connector's from ARM ([`LiveView`]), with the old resource IDs mapped onto the new
//! connector by name (same org/project/repo under the new connector's `devops/default`). The
//! Azure DevOps `actionableRemediation` settings are compared by their *effective* value
//! ([`effective`]): a project or repo with `inheritFromParentState: Enabled` takes its parent's
//! settings, so a repo that equals its project needs no write of its own.

pub mod reapply;
pub mod release;
pub mod verify;

pub(crate) use super::restore::{Exclusions, FieldDiff};
use crate::azure::{ArmClient, AzureError, ResourceId};
use crate::backup::snapshot::{find_snapshot, load_manifest, load_object};
use crate::backup::{ResourceKind, Store};
use crate::engine::kind::{StepContext, StepOutcome};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use reapply::Reapply;
pub use release::WaitForRelease;
pub use verify::Verify;

/// How many list calls run at once when reading the live tree (reads have their own bucket).
const READ_CONCURRENCY: usize = 8;

/// A step failure: the message and whether the engine's retry policy may try again.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepError {
    pub message: String,
    pub retryable: bool,
}

impl StepError {
    pub fn fatal(message: impl Into<String>) -> Self {
        StepError { message: message.into(), retryable: false }
    }
    pub fn outcome(self) -> StepOutcome {
        StepOutcome::fail(self.message, self.retryable)
    }
}

/// An Azure failure as a step failure: throttling, server errors and lost connections may pass
/// on a retry; a 4xx (bad request, not found, forbidden) will not.
pub(crate) fn azure_failure(what: &str, e: &AzureError) -> StepError {
    let retryable = match e {
        AzureError::Arm(a) => a.status == 429 || a.status == 409 || a.status >= 500,
        AzureError::Transport { .. } | AzureError::LroTimeout { .. } => true,
        AzureError::LroFailed { .. } => true,
        AzureError::Decode { .. }
        | AzureError::Credential(_)
        | AzureError::Claims(_)
        | AzureError::Config(_) => false,
        // Something between lifeboat and ARM redirects or rewrites answers: not a transient.
        AzureError::Redirect { .. } | AzureError::Refused { .. } => false,
        // A guard bounding what this run may write said no: it will say no again.
        AzureError::WriteRefused { .. } => false,
        // The process never switches an api-version: only a run with an override can pass.
        AzureError::ApiVersionRefused { .. } | AzureError::NoKnownApiVersion { .. } => false,
    };
    StepError { message: format!("{what}: {e}"), retryable }
}

/// The Azure client from the run's services; its absence is a setup error, not a retry case.
pub(crate) fn arm_client(ctx: &StepContext) -> Result<Arc<ArmClient>, StepError> {
    ctx.services.get::<ArmClient>().ok_or_else(|| {
        StepError::fatal(format!(
            "step `{}` needs an Azure connection, and this run has none (run it through \
             `lifeboat run` with --arm-endpoint/--auth, or insert an ArmClient in the services)",
            ctx.step
        ))
    })
}

/// The backup store from the run's services.
pub(crate) fn backup_store(ctx: &StepContext) -> Result<Arc<Store>, StepError> {
    ctx.services.get::<Store>().ok_or_else(|| {
        StepError::fatal(format!(
            "step `{}` needs the backup store, and this run has none (pass --backup-store)",
            ctx.step
        ))
    })
}

/// A required input naming a security connector.
pub(crate) fn connector_input(ctx: &StepContext, name: &str) -> Result<ResourceId, StepError> {
    let text = ctx.input_str(name).filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        StepError::fatal(format!(
            "input `{name}` of step `{}` is missing (give the connector's resource ID)",
            ctx.step
        ))
    })?;
    let id = ResourceId::parse(&text)
        .map_err(|e| StepError::fatal(format!("input `{name}` of step `{}`: {e}", ctx.step)))?;
    if id.segments.len() != 1 || !id.segments[0].0.eq_ignore_ascii_case("securityConnectors") {
        return Err(StepError::fatal(format!(
            "input `{name}` of step `{}` is `{text}`, which is not a security connector \
             (expected .../providers/Microsoft.Security/securityConnectors/<name>)",
            ctx.step
        )));
    }
    Ok(id)
}

/// A required string input.
pub(crate) fn required_str(ctx: &StepContext, name: &str) -> Result<String, StepError> {
    ctx.input_str(name).filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        StepError::fatal(format!("input `{name}` of step `{}` is missing", ctx.step))
    })
}

/// The optional `poll_interval` input (`5m`, `1h`), with its default, within the bounds of
/// `runbook::limits` (at least 1s, at most 400d).
pub(crate) fn poll_interval_input(
    ctx: &StepContext,
    default: std::time::Duration,
) -> Result<std::time::Duration, StepError> {
    use crate::catalog::DurationUse;
    use crate::runbook::limits;
    match ctx.input_str("poll_interval") {
        None => Ok(default),
        Some(t) => limits::parse(&t, DurationUse::PollInterval).map_err(|e| {
            StepError::fatal(format!(
                "input `poll_interval` of step `{}` is `{t}`, which {e} (e.g. 30s, 5m, 1h)",
                ctx.step
            ))
        }),
    }
}

/// An optional boolean input (`true`/`false`, as JSON or text).
pub(crate) fn bool_input(ctx: &StepContext, name: &str) -> Result<bool, StepError> {
    match ctx.inputs.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s.is_empty() => Ok(false),
        Some(other) => Err(StepError::fatal(format!(
            "input `{name}` of step `{}` is `{other}`, not a boolean (use true or false)",
            ctx.step
        ))),
    }
}

/// The optional `restore_exclude` input: field paths not to restore (a list or comma-separated
/// text).
pub(crate) fn exclusions_input(ctx: &StepContext) -> Result<Exclusions, StepError> {
    let items: Vec<String> = match ctx.inputs.get("restore_exclude") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => s.split(',').map(String::from).collect(),
        Some(other) => {
            return Err(StepError::fatal(format!(
                "input `restore_exclude` of step `{}` is `{other}`, not a list of field paths",
                ctx.step
            )))
        }
    };
    Exclusions::parse(&items)
        .map_err(|e| StepError::fatal(format!("input of step `{}`: {e}", ctx.step)))
}

/// RFC 3339 text of a time, for outputs.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

// ---------------------------------------------------------------- the backup side

/// One Azure DevOps / GitHub / GitLab resource: its path of names under `devops/default` and
/// its body.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// `[org]`, `[org, project]`, `[org, project, repo]`; `[owner]`, `[owner, repo]`;
    /// `[group]`, `[group, project]`.
    pub path: Vec<String>,
    pub body: Value,
    /// The api-version the body was read with, as the snapshot records it (`None`: unknown).
    pub api_version: Option<String>,
}

impl Node {
    pub fn key(&self) -> String {
        self.path.iter().map(|p| p.to_ascii_lowercase()).collect::<Vec<_>>().join("/")
    }
}

/// The old connector as the backup snapshot holds it.
#[derive(Debug, Clone, Default)]
pub(crate) struct BackupView {
    pub snapshot: String,
    /// Resource kind → the api-version the snapshot read it with; reapply writes each resource
    /// with it while the service serves it.
    pub api_versions: BTreeMap<ResourceKind, String>,
    pub connector: Option<Value>,
    pub config: Option<Value>,
    pub orgs: Vec<Node>,
    pub projects: Vec<Node>,
    pub repos: Vec<Node>,
    pub gh_owners: Vec<Node>,
    pub gh_repos: Vec<Node>,
    pub gl_groups: Vec<Node>,
    pub gl_projects: Vec<Node>,
}

/// The names under `devops/default` of a resource ID of `old`, or `None` when it is not one.
fn names_under_devops(id: &ResourceId, old: &ResourceId) -> Option<Vec<String>> {
    if id.connector_id() != *old || id.segments.len() < 3 {
        return None;
    }
    // segments: (securityConnectors, c), (devops, default), (type, name), ...
    Some(id.segments[2..].iter().map(|(_, n)| n.clone()).collect())
}

impl BackupView {
    /// Reads every resource of connector `old` from snapshot `snapshot_id` (`latest` allowed).
    pub async fn load(
        store: &Store,
        snapshot_id: &str,
        old: &ResourceId,
    ) -> Result<BackupView, StepError> {
        Self::load_kinds(store, snapshot_id, old, |_| true).await
    }

    /// [`BackupView::load`] of the connector and its top-level items only (ADO orgs, GitHub
    /// owners, GitLab groups): what [`BackupView::top_level`] reads, without the objects of every
    /// project and repository (a poll that runs every few minutes reads a handful of objects,
    /// not thousands).
    pub async fn load_top_level(
        store: &Store,
        snapshot_id: &str,
        old: &ResourceId,
    ) -> Result<BackupView, StepError> {
        Self::load_kinds(store, snapshot_id, old, |k| {
            matches!(
                k,
                ResourceKind::Connector
                    | ResourceKind::AzureDevOpsOrg
                    | ResourceKind::GitHubOwner
                    | ResourceKind::GitLabGroup
            )
        })
        .await
    }

    /// The resources of connector `old` whose kind `keep` accepts.
    async fn load_kinds(
        store: &Store,
        snapshot_id: &str,
        old: &ResourceId,
        keep: impl Fn(ResourceKind) -> bool,
    ) -> Result<BackupView, StepError> {
        let bad = |e: crate::backup::BackupError| {
            let retryable = matches!(e, crate::backup::BackupError::Storage { .. });
            StepError {
                message: format!("cannot read backup snapshot `{snapshot_id}`: {e}"),
                retryable,
            }
        };
        let info = find_snapshot(store, snapshot_id).await.map_err(bad)?;
        let manifest = load_manifest(store, &info).await.map_err(bad)?;
        let mine: Vec<(String, ResourceKind, String)> = manifest
            .resources
            .iter()
            .filter(|(id, e)| {
                keep(e.kind) && ResourceId::parse(id).is_ok_and(|r| r.connector_id() == *old)
            })
            .map(|(id, e)| (id.clone(), e.kind, e.hash.clone()))
            .collect();
        if !mine.iter().any(|(_, k, _)| *k == ResourceKind::Connector) {
            return Err(StepError::fatal(format!(
                "backup snapshot {} holds no connector `{old}` (take the snapshot ID of a backup \
                 made before the outage that covers this connector: `lifeboat backup list`)",
                info.id
            )));
        }
        let bodies: Vec<(String, ResourceKind, Value)> = futures::stream::iter(mine)
            .map(|(id, kind, hash)| async move {
                load_object(store, &hash).await.map(|body| (id, kind, body))
            })
            .buffered(16)
            .try_collect()
            .await
            .map_err(bad)?;
        let mut view = BackupView {
            snapshot: info.id.clone(),
            api_versions: manifest.api_versions.clone(),
            ..Default::default()
        };
        for (id, kind, body) in bodies {
            let Ok(rid) = ResourceId::parse(&id) else { continue };
            let api_version = view.api_versions.get(&kind).cloned();
            let node = |body: Value| -> Option<Node> {
                names_under_devops(&rid, old).map(|path| Node { path, body, api_version })
            };
            match kind {
                ResourceKind::Connector => view.connector = Some(body),
                ResourceKind::DevOpsConfiguration => view.config = Some(body),
                ResourceKind::AzureDevOpsOrg => view.orgs.extend(node(body)),
                ResourceKind::AzureDevOpsProject => view.projects.extend(node(body)),
                ResourceKind::AzureDevOpsRepo => view.repos.extend(node(body)),
                ResourceKind::GitHubOwner => view.gh_owners.extend(node(body)),
                ResourceKind::GitHubRepo => view.gh_repos.extend(node(body)),
                ResourceKind::GitLabGroup => view.gl_groups.extend(node(body)),
                ResourceKind::GitLabProject => view.gl_projects.extend(node(body)),
            }
        }
        Ok(view)
    }

    /// The top-level items the new connector must receive: ADO orgs, GitHub owners, top-level
    /// GitLab groups (subgroups follow their group).
    pub fn top_level(&self) -> Vec<(Env, String)> {
        let mut out: Vec<(Env, String)> = Vec::new();
        out.extend(self.orgs.iter().map(|n| (Env::AzureDevOps, n.path[0].clone())));
        out.extend(self.gh_owners.iter().map(|n| (Env::GitHub, n.path[0].clone())));
        out.extend(
            self.gl_groups
                .iter()
                .filter(|n| !n.path[0].contains('$'))
                .map(|n| (Env::GitLab, n.path[0].clone())),
        );
        out
    }
}

/// The three DevOps environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Env {
    AzureDevOps,
    GitHub,
    GitLab,
}

impl Env {
    pub fn noun(self) -> &'static str {
        match self {
            Env::AzureDevOps => "Azure DevOps organization",
            Env::GitHub => "GitHub owner",
            Env::GitLab => "GitLab group",
        }
    }
}

// ---------------------------------------------------------------- the live side

/// What the new connector shows for the resources of the backup.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveView {
    pub config: Option<Value>,
    /// By lowercase key (`org`, `org/project`, `org/project/repo`, ...).
    pub ado: BTreeMap<String, Value>,
    pub github: BTreeMap<String, Value>,
    pub gitlab: BTreeMap<String, Value>,
    /// Backup orgs/projects the new connector cannot list (not owned by it: not released yet).
    pub unreadable: Vec<String>,
}

fn to_values<T: serde::Serialize>(items: Vec<T>) -> Vec<Value> {
    items.into_iter().filter_map(|i| serde_json::to_value(i).ok()).collect()
}

fn key_of(parts: &[&str]) -> String {
    parts.iter().map(|p| p.to_ascii_lowercase()).collect::<Vec<_>>().join("/")
}

fn name_of(v: &Value) -> String {
    v.get("name").and_then(Value::as_str).unwrap_or_default().to_string()
}

impl LiveView {
    /// Reads the new connector's configuration and the subtrees the backup has, with the list
    /// operations (calls grow with pages, not items). A 404 on an org's or group's listing means
    /// the new connector does not own it (yet): recorded in `unreadable`, not an error.
    pub async fn read(
        client: &ArmClient,
        new: &ResourceId,
        backup: &BackupView,
    ) -> Result<LiveView, StepError> {
        let config = match client.get_devops_configuration(new).await {
            Ok(c) => serde_json::to_value(c).ok(),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(azure_failure(&format!("reading {}", new.devops()), &e)),
        };
        let mut live = LiveView { config, ..LiveView::default() };
        if !backup.orgs.is_empty() {
            let orgs = client
                .list_azure_devops_orgs(new)
                .await
                .map_err(|e| azure_failure("listing the new connector's Azure DevOps orgs", &e))?;
            for o in to_values(orgs) {
                live.ado.insert(key_of(&[&name_of(&o)]), o);
            }
            let wanted: Vec<String> = backup
                .orgs
                .iter()
                .map(|n| n.path[0].clone())
                .filter(|o| live.ado.contains_key(&o.to_ascii_lowercase()))
                .collect();
            for o in backup.orgs.iter().map(|n| &n.path[0]) {
                if !live.ado.contains_key(&o.to_ascii_lowercase()) {
                    live.unreadable.push(format!("Azure DevOps organization `{o}`"));
                }
            }
            let projects: Vec<(String, Vec<Value>)> = futures::stream::iter(wanted)
                .map(|org| async move {
                    client
                        .list_azure_devops_projects(new, &org)
                        .await
                        .map(|p| (org.clone(), to_values(p)))
                        .map_err(|e| azure_failure(&format!("listing the projects of `{org}`"), &e))
                })
                .buffer_unordered(READ_CONCURRENCY)
                .try_collect()
                .await?;
            let mut pairs = Vec::new();
            for (org, ps) in projects {
                for p in ps {
                    let name = name_of(&p);
                    pairs.push((org.clone(), name.clone()));
                    live.ado.insert(key_of(&[&org, &name]), p);
                }
            }
            // Only the projects the backup has repos in are listed.
            let needed: std::collections::BTreeSet<String> =
                backup.repos.iter().map(|n| key_of(&[&n.path[0], &n.path[1]])).collect();
            pairs.retain(|(o, p)| needed.contains(&key_of(&[o, p])));
            let repos: Vec<(String, String, Vec<Value>)> = futures::stream::iter(pairs)
                .map(|(org, project)| async move {
                    client
                        .list_azure_devops_repos(new, &org, &project)
                        .await
                        .map(|r| (org.clone(), project.clone(), to_values(r)))
                        .map_err(|e| {
                            azure_failure(&format!("listing the repos of `{org}/{project}`"), &e)
                        })
                })
                .buffer_unordered(READ_CONCURRENCY)
                .try_collect()
                .await?;
            for (org, project, rs) in repos {
                for r in rs {
                    live.ado.insert(key_of(&[&org, &project, &name_of(&r)]), r);
                }
            }
        }
        if !backup.gh_owners.is_empty() {
            let owners = client
                .list_github_owners(new)
                .await
                .map_err(|e| azure_failure("listing the new connector's GitHub owners", &e))?;
            for o in to_values(owners) {
                live.github.insert(key_of(&[&name_of(&o)]), o);
            }
            for n in &backup.gh_owners {
                let owner = &n.path[0];
                if !live.github.contains_key(&owner.to_ascii_lowercase()) {
                    live.unreadable.push(format!("GitHub owner `{owner}`"));
                    continue;
                }
                let repos = client.list_github_repos(new, owner).await.map_err(|e| {
                    azure_failure(&format!("listing the repos of GitHub owner `{owner}`"), &e)
                })?;
                for r in to_values(repos) {
                    live.github.insert(key_of(&[owner, &name_of(&r)]), r);
                }
            }
        }
        for n in &backup.gl_groups {
            let group = &n.path[0];
            match client.get_gitlab_group(new, group).await {
                Ok(g) => {
                    if let Ok(v) = serde_json::to_value(g) {
                        live.gitlab.insert(key_of(&[group]), v);
                    }
                }
                Err(e) if e.is_not_found() => {
                    live.unreadable.push(format!("GitLab group `{group}`"));
                    continue;
                }
                Err(e) => {
                    return Err(azure_failure(&format!("reading GitLab group `{group}`"), &e))
                }
            }
            let projects = client.list_gitlab_projects(new, group).await.map_err(|e| {
                azure_failure(&format!("listing the projects of GitLab group `{group}`"), &e)
            })?;
            for p in to_values(projects) {
                live.gitlab.insert(key_of(&[group, &name_of(&p)]), p);
            }
        }
        Ok(live)
    }
}

// ---------------------------------------------------------------- without a backup

/// The `reason` of a setting not restored because there is no backup of its connector.
pub(crate) const NO_BACKUP: &str = "no backup";

/// What a connector recovered without backup does not get back, one `not_restored` entry
/// (`{resource, field, value: null, reason: "no backup", note}`) per thing, for the outputs of
/// `devops.reapply-settings` and `devops.verify` (status, run report, audit record): the
/// pull-request annotation settings of each Azure DevOps org the new connector owns (with its
/// projects and repositories), the DevOps configuration beyond what was answered (the live
/// `autoDiscovery`/`topLevelInventoryList` are named), and every connector field Resource Graph
/// did not return. Reads are best-effort: a list that fails gives one entry for all orgs.
pub(crate) async fn not_restored_without_backup(
    client: &ArmClient,
    new: &ResourceId,
    env: Env,
) -> Vec<Value> {
    let entry = |resource: String, field: &str, note: String| json!({"resource": resource, "field": field, "value": Value::Null, "reason": NO_BACKUP, "note": note});
    let mut out = Vec::new();
    if env == Env::AzureDevOps {
        match client.list_azure_devops_orgs(new).await {
            Ok(orgs) if !orgs.is_empty() => {
                for name in orgs.into_iter().filter_map(|o| o.name) {
                    out.push(entry(
                        new.azure_devops_org(&name).to_string(),
                        "properties.actionableRemediation",
                        format!("pull-request annotation settings of Azure DevOps organization `{name}` and of its projects and repositories (the service defaults apply; set them by hand)"),
                    ));
                }
            }
            _ => out.push(entry(
                format!("{}/azureDevOpsOrgs", new.devops()),
                "properties.actionableRemediation",
                "pull-request annotation settings of every Azure DevOps organization, project and repository (the service defaults apply; set them by hand)".into(),
            )),
        }
    }
    let answered = match client.get_devops_configuration(new).await {
        Ok(c) => {
            let v = serde_json::to_value(c).unwrap_or_default();
            let p = v.get("properties").cloned().unwrap_or_default();
            format!(
                "set from your answers instead: autoDiscovery={}, topLevelInventoryList={}",
                p.get("autoDiscovery").unwrap_or(&Value::Null),
                p.get("topLevelInventoryList").unwrap_or(&json!([]))
            )
        }
        Err(_) => "set from your answers (auto_discovery, inventory_list) instead".into(),
    };
    out.push(entry(
        new.devops().to_string(),
        "properties",
        format!("the DevOps configuration beyond what was answered: the old inventory list and auto-discovery setting, agentless scanning settings, every other field of the old configuration ({answered})"),
    ));
    out.push(entry(
        new.to_string(),
        "(fields Resource Graph does not return)",
        "the new connector copies the old one's kind, tags and properties as Resource Graph still returns them; any other field of the old connector is lost".into(),
    ));
    if env != Env::AzureDevOps {
        out.push(entry(
            format!("{}/{}", new.devops(), if env == Env::GitHub { "gitHubOwners" } else { "gitLabGroups" }),
            "(not verified)",
            format!("{}s and their repositories are read-only through the API: without a backup nothing compares them with the old connector's", env.noun()),
        ));
    }
    out
}

/// The outputs of `devops.reapply-settings` / `devops.verify` for a connector without backup:
/// the step did nothing but say what is not restored.
pub(crate) async fn skipped_without_backup(
    ctx: &StepContext,
    new: &ResourceId,
    verify: bool,
) -> Result<(Map<String, Value>, usize), StepError> {
    let client = arm_client(ctx)?;
    let env = release::env_for(ctx, &client, new).await?;
    let not_restored = not_restored_without_backup(&client, new, env).await;
    let n = not_restored.len();
    // One sentence for the end of the run, `status` and the audit record's warnings.
    let orgs: Vec<String> = not_restored
        .iter()
        .filter(|e| e["field"] == "properties.actionableRemediation")
        .filter_map(|e| e["resource"].as_str())
        .filter_map(|r| r.rsplit_once("/azureDevOpsOrgs/").map(|(_, o)| o.to_string()))
        .collect();
    let annotations = match (env, orgs.is_empty()) {
        (Env::AzureDevOps, false) => format!(
            "the pull-request annotation settings of Azure DevOps organization(s) {} and of their projects and repositories, ",
            orgs.join(", ")
        ),
        (Env::AzureDevOps, true) => "the pull-request annotation settings of every Azure DevOps organization, project and repository, ".to_string(),
        _ => String::new(),
    };
    let warning = if verify {
        format!(
            "not restored: no backup: nothing to verify {} against (see reapply-settings for what was not restored)",
            new.name()
        )
    } else {
        format!(
            "not restored: no backup: {annotations}the DevOps configuration beyond autoDiscovery and topLevelInventoryList (agentless settings and every other field), and connector fields Resource Graph does not return; set them by hand on {}",
            new.name()
        )
    };
    ctx.progress(
        1,
        1,
        format!(
            "not restored: no backup ({n} item(s): pull-request annotation settings, the DevOps configuration beyond your answers, connector fields Resource Graph does not return)"
        ),
    );
    let mut out = Map::new();
    out.insert("snapshot_id".into(), Value::Null);
    out.insert("restored".into(), json!(false));
    out.insert("skipped".into(), json!("not restored: no backup"));
    out.insert("not_restored".into(), json!(not_restored));
    out.insert(crate::catalog::WARNINGS_OUTPUT.into(), json!([warning]));
    Ok((out, n))
}

// ---------------------------------------------------------------- a live drill

/// The `drill` input (`recovery::drill_mode`) as a [`StepError`].
pub(crate) fn drill_input(ctx: &StepContext, old: &ResourceId) -> Result<bool, StepError> {
    crate::steps::recovery::drill_mode(ctx, Some(&old.to_string())).map_err(|o| match o {
        StepOutcome::Failed { error, retryable } => StepError { message: error, retryable },
        _ => StepError::fatal(format!("step `{}`: drill mode refused", ctx.step)),
    })
}

/// A live drill's share of a backup (`drill: true`): its second connector owns no org, owner or
/// group (the production connector does, and only Microsoft support's release moves them), so it
/// can take the connector's own settings and its DevOps configuration, nothing below. `backup`
/// is cut to those, with `autoDiscovery` set as the drill connector has it
/// ([`DRILL_AUTO_DISCOVERY`](crate::steps::connector::DRILL_AUTO_DISCOVERY): it must claim
/// nothing). Returns what is left out, one `{resource, what, reason}` per top-level item (with
/// its children counted) and one for `autoDiscovery`: what the drill does not rehearse.
pub(crate) fn drill_scope(backup: &mut BackupView, old: &ResourceId) -> Vec<Value> {
    const RELEASE: &str = "owned by the production connector: only Microsoft support's release moves it to another connector, and a live drill asks for none";
    let mut out = Vec::new();
    for (env, name) in backup.top_level() {
        let key = name.to_ascii_lowercase();
        let under = |nodes: &[Node]| {
            nodes
                .iter()
                .filter(|n| n.path.len() > 1 && n.path[0].eq_ignore_ascii_case(&key))
                .count()
        };
        let (resource, children) = match env {
            Env::AzureDevOps => (
                old.azure_devops_org(&name).to_string(),
                format!(
                    " with {} project(s) and {} repositories: their pull-request annotation settings and every other backed-up field",
                    under(&backup.projects),
                    under(&backup.repos)
                ),
            ),
            Env::GitHub => (
                old.github_owner(&name).to_string(),
                format!(" with {} repositories", under(&backup.gh_repos)),
            ),
            Env::GitLab => (
                old.gitlab_group(&name).to_string(),
                format!(" with {} project(s)", under(&backup.gl_projects)),
            ),
        };
        out.push(json!({"resource": resource, "what": format!("{} `{name}`{children}", env.noun()), "reason": RELEASE, "by_design": true}));
    }
    for n in [
        &mut backup.orgs,
        &mut backup.projects,
        &mut backup.repos,
        &mut backup.gh_owners,
        &mut backup.gh_repos,
        &mut backup.gl_groups,
        &mut backup.gl_projects,
    ] {
        n.clear();
    }
    if let Some(cfg) = backup.config.as_mut() {
        let was = cfg.pointer("/properties/autoDiscovery").cloned().unwrap_or(Value::Null);
        if let Some(p) = cfg.get_mut("properties").and_then(Value::as_object_mut) {
            p.insert("autoDiscovery".into(), json!(crate::steps::connector::DRILL_AUTO_DISCOVERY));
        }
        if was != json!(crate::steps::connector::DRILL_AUTO_DISCOVERY) {
            out.push(json!({
                "resource": old.devops().to_string(),
                "what": format!("properties.autoDiscovery (backed up: {was})"),
                "reason": "the drill connector keeps discovery Disabled, so that it claims nothing",
                "by_design": true,
            }));
        }
    }
    out
}

/// The drill's share without the DevOps configuration, when the drill connector was not
/// authorized (no OAuth code): it has none to reapply to or compare. The entry for the list of
/// what was not rehearsed.
pub(crate) fn drill_without_config(backup: &mut BackupView, new: &ResourceId) -> Option<Value> {
    backup.config.take().map(|_| {
        json!({
            "resource": new.devops().to_string(),
            "what": "the DevOps configuration (devops/default)",
            "reason": "the drill connector was not authorized: no OAuth code (lifeboat drill --live --authorization-code-file FILE)",
            "by_design": false,
        })
    })
}

/// One sentence for `status`, the end of the run and the audit record: what a drill step did not
/// rehearse.
pub(crate) fn not_rehearsed_warning(step: &str, items: &[Value]) -> String {
    let what: Vec<String> =
        items.iter().filter_map(|i| i["what"].as_str()).map(str::to_string).collect();
    format!("not rehearsed by this live drill ({step}): {}", what.join("; "))
}

// ---------------------------------------------------------------- effective settings

/// `properties.actionableRemediation` of a body (an empty object when absent).
pub(crate) fn remediation(body: &Value) -> Value {
    body.pointer("/properties/actionableRemediation").cloned().unwrap_or_else(|| json!({}))
}

/// Whether a remediation object takes its parent's settings. Only `Enabled` inherits: a value
/// this version of lifeboat does not know is kept and written back verbatim, and for the
/// effective settings it counts as not inheriting, on the backup and the live side alike.
pub(crate) fn inherits(rem: &Value) -> bool {
    rem.get("inheritFromParentState").and_then(Value::as_str) == Some("Enabled")
}

/// The settings a remediation object sets itself: everything but `inheritFromParentState`, and
/// no nulls (a null and an absent field mean the same to the service).
pub(crate) fn own(rem: &Value) -> Value {
    let mut m = Map::new();
    for (k, v) in rem.as_object().into_iter().flatten() {
        if k != "inheritFromParentState" && !v.is_null() {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// The settings that apply to a resource: its own, or (when it inherits) its parent's
/// effective settings. An org has no parent: it always applies its own.
pub(crate) fn effective(rem: &Value, parent_effective: Option<&Value>) -> Value {
    match parent_effective {
        Some(p) if inherits(rem) => p.clone(),
        _ => own(rem),
    }
}

/// Effective settings of every ADO resource of a tree given as `key → remediation`, parents
/// resolved before children (keys `org`, `org/project`, `org/project/repo`).
pub(crate) fn resolve_tree(rems: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut keys: Vec<&String> = rems.keys().collect();
    keys.sort_by_key(|k| k.matches('/').count());
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    // A child whose parent is not in the tree inherits nothing known: `null`.
    let unknown = Value::Null;
    for k in keys {
        let parent = k.rsplit_once('/').map(|(p, _)| p.to_string());
        let e = match &parent {
            Some(p) => effective(&rems[k], Some(out.get(p).unwrap_or(&unknown))),
            None => effective(&rems[k], None),
        };
        out.insert(k.clone(), e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inheritance_resolves_parent_first() {
        let mut t = BTreeMap::new();
        t.insert("o".to_string(), json!({"state": "Enabled"}));
        t.insert(
            "o/p".to_string(),
            json!({"inheritFromParentState": "Enabled", "state": "Disabled"}),
        );
        t.insert("o/p/r".to_string(), json!({"inheritFromParentState": "Enabled"}));
        t.insert(
            "o/p/s".to_string(),
            json!({"inheritFromParentState": "Disabled", "state": "None"}),
        );
        let e = resolve_tree(&t);
        assert_eq!(e["o/p"], json!({"state": "Enabled"}), "an inheriting project ignores its own");
        assert_eq!(e["o/p/r"], json!({"state": "Enabled"}), "inheritance is transitive");
        assert_eq!(e["o/p/s"], json!({"state": "None"}));
    }

    #[test]
    fn an_unknown_inherit_state_is_kept_and_counts_as_own_settings() {
        let rem = json!({"inheritFromParentState": "PartiallyEnabled", "state": "Disabled"});
        assert!(!inherits(&rem));
        let mut t = BTreeMap::new();
        t.insert("o".to_string(), json!({"state": "Enabled"}));
        t.insert("o/p".to_string(), rem.clone());
        assert_eq!(resolve_tree(&t)["o/p"], json!({"state": "Disabled"}));
        // The body written is the stored one: the value is not rewritten.
        let r = crate::steps::restore::restore_body(
            &json!({"properties": {"actionableRemediation": rem}}),
            &Exclusions::default(),
            "p",
        );
        assert_eq!(
            r.body.pointer("/properties/actionableRemediation/inheritFromParentState"),
            Some(&json!("PartiallyEnabled"))
        );
    }
}
