//! `devops.reapply-settings`: restores the old connector's settings from the backup onto the
//! new connector with the fewest writes.
//!
//! Which resources are written ([`plan`]): the `devops/default` configuration and every Azure
//! DevOps org/project/repo of the backup whose live document does not already hold every
//! backed-up writable field (known to lifeboat or not; compared field by field, arrays by
//! value). A resource whose live fields already match needs nothing; one that inherits
//! (`inheritFromParentState: Enabled`) and matches is counted as inherited.
//!
//! What a write carries: the resource's whole stored document minus the fields that must not
//! be sent (`azure::writable::READ_ONLY`) and the responder's `restore_exclude` paths: every
//! writable field, so nothing Azure added in a newer api-version is dropped, and a resource
//! that inherits keeps its own stored fields. Unknown enum values are sent verbatim.
//!
//! Verbs: Azure DevOps org/project/repo are written with PUT (idempotent). `devops/default` is
//! PATCHed with its writable fields: a PUT replaces the configuration and, on the real service,
//! is where the OAuth code goes; a PATCH of absolute values needs no code and is idempotent in
//! effect (repeating it changes nothing).
//!
//! Execution ([`execute`]): writes run concurrently (`max_in_flight`, default 16), a child only
//! after its parent's write is confirmed; the client's token buckets pace them at the ARM write
//! limit. A `409 AnotherOperationInProgress` (the service runs one operation per configuration
//! at a time) re-queues the write after the client's poll interval and lowers the number in
//! flight by one, down to one, so a serialising service is not hammered. A `400` that names a
//! field of the body (Azure refuses a stored value) fails that write only: the others go on
//! (children of a refused resource wait for it), and the step then fails naming each resource,
//! field path and value, and how to leave the field out (`restore_exclude`, then `lifeboat
//! resume`). Every confirmed write is journaled as an `Effect` with its request and correlation
//! IDs. Progress is saved in scratch; after a crash the plan is recomputed against live state,
//! so writes already confirmed are not redone (the scratch carries their count into the
//! outputs).

use super::*;
use crate::azure::api::ApiFamily;
use crate::azure::models::*;
use crate::azure::CallRecord;
use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::StepKind;
use crate::engine::Effect;
use crate::steps::restore::{self, BodyKind, Refusal};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use std::collections::{HashMap, VecDeque};

/// At most this many written resource IDs are listed in the outputs.
pub(crate) const WRITTEN_CAP: usize = 100;
/// Confirmed writes between two scratch saves (each save is one journal fsync).
const SCRATCH_EVERY: usize = 64;
/// Confirmed writes between two effect flushes (each reads the client's call log once).
const EFFECTS_EVERY: usize = 16;
/// How often one write may meet `AnotherOperationInProgress` before the step gives up.
const MAX_CONFLICTS: u32 = 60;
pub(crate) const DEFAULT_IN_FLIGHT: usize = 16;

/// What a write changes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    Config,
    Org(String),
    Project(String, String),
    Repo(String, String, String),
}

/// One planned write.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct PlannedWrite {
    pub method: &'static str,
    pub resource: String,
    /// The backed-up fields whose live value differs, by path.
    pub diff: Vec<FieldDiff>,
    /// The request body.
    pub body: Value,
    /// The api-version the snapshot read the resource with: the write uses it while the service
    /// serves it (else the client's, reported as an `api_version_changes` output and a
    /// `WRITE-API-VERSION` effect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_api_version: Option<String>,
    #[serde(skip)]
    pub target: Target,
    /// The index of the write that must be confirmed first (nearest written ancestor).
    #[serde(skip)]
    pub after: Option<usize>,
}

/// The minimal write set and what needs no write.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub writes: Vec<PlannedWrite>,
    /// Resources whose settings come right through inheritance, with no write.
    pub inherited: u64,
    /// Resources whose own live settings already equal the backup's.
    pub unchanged: u64,
    /// Backup resources absent under the new connector (deleted since the backup).
    pub missing: Vec<String>,
    /// GitHub/GitLab differences, which the API cannot write.
    pub read_only_differences: Vec<Value>,
    /// Backed-up fields left out by `restore_exclude`: `{resource, field, value, reason}`.
    pub not_restored: Vec<Value>,
}

fn ado_id(new: &ResourceId, path: &[String]) -> ResourceId {
    match path {
        [o] => new.azure_devops_org(o),
        [o, p] => new.azure_devops_project(o, p),
        [o, p, r] => new.azure_devops_repo(o, p, r),
        _ => new.devops(),
    }
}

fn onboarding(v: &Value) -> Value {
    v.pointer("/properties/onboardingState").cloned().unwrap_or(Value::Null)
}

/// Differences of the read-only GitHub/GitLab resources: missing, or another onboarding state.
pub(crate) fn read_only_differences(
    backup: &BackupView,
    live: &LiveView,
    new: &ResourceId,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut check = |nodes: &[Node],
                     map: &BTreeMap<String, Value>,
                     id: &dyn Fn(&[String]) -> ResourceId| {
        for n in nodes {
            let rid = id(&n.path).to_string();
            match map.get(&n.key()) {
                None => out.push(json!({
                    "resource": rid, "field": "(resource)", "expected": "present", "actual": "absent",
                    "note": "cannot be written through the API",
                })),
                Some(l) if onboarding(l) != onboarding(&n.body) => out.push(json!({
                    "resource": rid, "field": "properties.onboardingState",
                    "expected": onboarding(&n.body), "actual": onboarding(l),
                    "note": "cannot be written through the API",
                })),
                Some(_) => {}
            }
        }
    };
    let gh = |p: &[String]| match p {
        [o] => new.github_owner(o),
        [o, r] => new.github_repo(o, r),
        _ => new.devops(),
    };
    let gl = |p: &[String]| match p {
        [g] => new.gitlab_group(g),
        [g, pr] => new.gitlab_project(g, pr),
        _ => new.devops(),
    };
    check(&backup.gh_owners, &live.github, &gh);
    check(&backup.gh_repos, &live.github, &gh);
    check(&backup.gl_groups, &live.gitlab, &gl);
    check(&backup.gl_projects, &live.gitlab, &gl);
    out
}

/// Computes the minimal write set. Fails when the new connector has no DevOps configuration
/// (it must be authorized first: the OAuth code cannot come from a backup).
pub(crate) fn plan(
    backup: &BackupView,
    live: &LiveView,
    new: &ResourceId,
    ex: &Exclusions,
) -> Result<Plan, StepError> {
    let mut plan = Plan::default();
    if let Some(config) = &backup.config {
        let Some(live_config) = live.config.as_ref() else {
            return Err(StepError::fatal(format!(
                "the new connector `{new}` has no DevOps configuration (devops/default): \
                 authorize it first (connector.create-or-adopt), then run this step again"
            )));
        };
        let resource = new.devops().to_string();
        let r = restore::restore_body(config, ex, &resource);
        plan.not_restored.extend(restore::not_restored_json(&resource, &r.not_restored));
        let d = restore::field_diff(&r.body, live_config);
        if d.differ.is_empty() {
            plan.unchanged += 1;
        } else {
            plan.writes.push(PlannedWrite {
                method: "PATCH",
                resource,
                diff: d.differ,
                body: r.body,
                snapshot_api_version: backup
                    .api_versions
                    .get(&crate::backup::ResourceKind::DevOpsConfiguration)
                    .cloned(),
                target: Target::Config,
                after: None,
            });
        }
    }

    // Azure DevOps: parents before children (orgs, then projects, then repos).
    let nodes: Vec<&Node> =
        backup.orgs.iter().chain(&backup.projects).chain(&backup.repos).collect();
    let mut written_at: HashMap<String, usize> = HashMap::new();
    for n in nodes {
        let key = n.key();
        let id = ado_id(new, &n.path);
        let Some(live_body) = live.ado.get(&key) else {
            plan.missing.push(id.to_string());
            continue;
        };
        let r = restore::restore_body(&n.body, ex, &id.to_string());
        plan.not_restored.extend(restore::not_restored_json(&id.to_string(), &r.not_restored));
        let d = restore::field_diff(&r.body, live_body);
        if d.differ.is_empty() {
            if n.path.len() > 1 && inherits(&remediation(&r.body)) {
                plan.inherited += 1;
            } else {
                plan.unchanged += 1;
            }
            continue;
        }
        // The nearest ancestor written in this run is confirmed first; a top-level write waits
        // for the configuration's, since ARM runs a configuration change exclusively on its
        // connector: sending org writes alongside it only earns 409s and retries.
        let config_write = plan.writes.iter().position(|w| matches!(w.target, Target::Config));
        let mut after = None;
        let mut k = key.as_str();
        while let Some((p, _)) = k.rsplit_once('/') {
            if let Some(i) = written_at.get(p) {
                after = Some(*i);
                break;
            }
            k = p;
        }
        let after = after.or(config_write);
        written_at.insert(key.clone(), plan.writes.len());
        plan.writes.push(PlannedWrite {
            method: "PUT",
            resource: id.to_string(),
            diff: d.differ,
            body: r.body,
            snapshot_api_version: n.api_version.clone(),
            target: match n.path.as_slice() {
                [o] => Target::Org(o.clone()),
                [o, p] => Target::Project(o.clone(), p.clone()),
                [o, p, r] => Target::Repo(o.clone(), p.clone(), r.clone()),
                _ => Target::Config,
            },
            after,
        });
    }
    plan.read_only_differences = read_only_differences(backup, live, new);
    Ok(plan)
}

/// Why a write did not go through.
#[derive(Debug)]
pub(crate) enum WriteError {
    Azure(AzureError),
    /// The body could not be sent as it is (nothing was sent).
    Body(String),
}

/// Sends one planned write: the body as planned ([`restore::typed`] first checks that a typed
/// reading loses nothing), as raw JSON with the api-version the snapshot read the resource with
/// (what was read is what is written). When the service no longer serves that version, the
/// write goes with the client's version and says so (`Some(restore::VersionChange)`); a snapshot that
/// recorded no version is written with the client's.
async fn perform(
    client: &ArmClient,
    new: &ResourceId,
    w: &PlannedWrite,
) -> Result<Option<restore::VersionChange>, WriteError> {
    let mut body = w.body.clone();
    let kind = match &w.target {
        Target::Config => BodyKind::Config,
        Target::Org(_) => BodyKind::Org,
        Target::Project(..) => BodyKind::Project,
        Target::Repo(..) => BodyKind::Repo,
    };
    restore::mutate_for_test(kind, &mut body);
    let body_err = |e: String| WriteError::Body(format!("{} {}: {e}", w.method, w.resource));
    match &w.target {
        Target::Config => restore::typed::<DevOpsConfiguration>(&body).map(|_| ()),
        Target::Org(_) => restore::typed::<AzureDevOpsOrg>(&body).map(|_| ()),
        Target::Project(..) => restore::typed::<AzureDevOpsProject>(&body).map(|_| ()),
        Target::Repo(..) => restore::typed::<AzureDevOpsRepo>(&body).map(|_| ()),
    }
    .map_err(body_err)?;
    let id = match &w.target {
        Target::Config => new.devops(),
        _ => ResourceId::parse(&w.resource)
            .map_err(|e| body_err(format!("not a resource ID: {e}")))?,
    };
    let patch = matches!(w.target, Target::Config);
    let read_with = w.snapshot_api_version.as_deref();
    restore::write_as_read(client, patch, &id, ApiFamily::Devops, &body, read_with)
        .await
        .map_err(WriteError::Azure)
}

fn is_conflict(e: &AzureError) -> bool {
    e.status() == Some(409) && e.code() == Some("AnotherOperationInProgress")
}

/// What [`execute`] did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Executed {
    pub confirmed: Vec<usize>,
    pub conflicts: u64,
    pub failure: Option<StepError>,
    /// Writes Azure refused for a stored value (a 400 naming a field), by write index.
    pub refused: Vec<(usize, Refusal)>,
    /// Writes not sent because an ancestor's write was refused.
    pub blocked: Vec<usize>,
    /// Writes sent with another api-version than their snapshot's, by write index.
    pub version_changes: Vec<(usize, restore::VersionChange)>,
}

/// Journals the writes in `done` as effects, with the IDs of their last call.
async fn flush_effects(
    ctx: &StepContext,
    client: &ArmClient,
    plan: &Plan,
    done: &mut Vec<usize>,
) -> Result<(), StepError> {
    if done.is_empty() {
        return Ok(());
    }
    let log = client.call_log();
    let mut last: HashMap<(String, String), &CallRecord> = HashMap::new();
    for r in log.iter().filter(|r| r.method == "PUT" || r.method == "PATCH") {
        last.insert((r.method.clone(), r.resource.to_ascii_lowercase()), r);
    }
    for i in done.drain(..) {
        let w = &plan.writes[i];
        let rec = last.get(&(w.method.to_string(), w.resource.to_ascii_lowercase()));
        let effect = Effect {
            method: w.method.to_string(),
            resource: w.resource.clone(),
            status: rec.and_then(|r| r.status),
            request_id: rec.and_then(|r| r.request_id.clone()),
            correlation_id: rec.and_then(|r| r.correlation_id.clone()),
        };
        ctx.record_effect(effect).await.map_err(|e| StepError {
            message: format!("cannot journal the write of {}: {e}", w.resource),
            retryable: true,
        })?;
    }
    Ok(())
}

/// Runs the writes of `plan`, parents before children, at most `max_in_flight` at once.
pub(crate) async fn execute(
    ctx: &StepContext,
    client: &Arc<ArmClient>,
    new: &ResourceId,
    plan: &Arc<Plan>,
    max_in_flight: usize,
    previously: u64,
) -> Executed {
    let total = plan.writes.len();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut ready: VecDeque<(usize, u32)> = VecDeque::new();
    for (i, w) in plan.writes.iter().enumerate() {
        match w.after {
            Some(p) => children.entry(p).or_default().push(i),
            None => ready.push_back((i, 0)),
        }
    }
    let timer = client.pipeline().timer.clone();
    let backoff = client.lro.default_poll;
    let mut limit = max_in_flight.max(1);
    let mut running = FuturesUnordered::new();
    let mut out = Executed::default();
    let mut unjournaled: Vec<usize> = Vec::new();
    let mut since_scratch = 0usize;
    ctx.progress(0, total as u64, format!("0 of {total} writes"));
    loop {
        while out.failure.is_none() && running.len() < limit {
            let Some((i, conflicts)) = ready.pop_front() else { break };
            let (client, plan, new, timer) =
                (client.clone(), plan.clone(), new.clone(), timer.clone());
            running.push(async move {
                if conflicts > 0 {
                    timer.sleep(backoff).await;
                }
                let r = perform(&client, &new, &plan.writes[i]).await;
                (i, conflicts, r)
            });
        }
        let Some((i, conflicts, result)) = futures::StreamExt::next(&mut running).await else {
            break;
        };
        match result {
            Ok(change) => {
                out.version_changes.extend(change.map(|c| (i, c)));
                out.confirmed.push(i);
                unjournaled.push(i);
                since_scratch += 1;
                if let Some(c) = children.remove(&i) {
                    ready.extend(c.into_iter().map(|c| (c, 0)));
                }
                let n = out.confirmed.len();
                ctx.progress(n as u64, total as u64, format!("{n} of {total} writes"));
            }
            Err(WriteError::Azure(e)) if is_conflict(&e) && conflicts < MAX_CONFLICTS => {
                out.conflicts += 1;
                limit = limit.saturating_sub(1).max(1);
                ready.push_front((i, conflicts + 1));
            }
            Err(WriteError::Azure(e)) => {
                let w = &plan.writes[i];
                match restore::refusal(&e, &w.body) {
                    // Refused for a stored value: this resource and its children only.
                    Some(r) => {
                        out.refused.push((i, r));
                        let mut stack = children.remove(&i).unwrap_or_default();
                        while let Some(c) = stack.pop() {
                            out.blocked.push(c);
                            stack.extend(children.remove(&c).unwrap_or_default());
                        }
                    }
                    None => {
                        out.failure.get_or_insert(azure_failure(
                            &format!("{} {}", w.method, w.resource),
                            &e,
                        ));
                    }
                }
            }
            Err(WriteError::Body(m)) => {
                out.failure.get_or_insert(StepError::fatal(m));
            }
        }
        if unjournaled.len() >= EFFECTS_EVERY {
            if let Err(e) = flush_effects(ctx, client, plan, &mut unjournaled).await {
                out.failure.get_or_insert(e);
            }
        }
        if since_scratch >= SCRATCH_EVERY {
            since_scratch = 0;
            let _ = ctx.save_scratch(scratch_of(previously, plan, &out.confirmed)).await;
        }
    }
    if let Err(e) = flush_effects(ctx, client, plan, &mut unjournaled).await {
        out.failure.get_or_insert(e);
    }
    let _ = ctx.save_scratch(scratch_of(previously, plan, &out.confirmed)).await;
    out
}

fn scratch_of(previously: u64, plan: &Plan, confirmed: &[usize]) -> Value {
    json!({
        "confirmed": previously + confirmed.len() as u64,
        "written": confirmed.iter().take(WRITTEN_CAP).map(|i| plan.writes[*i].resource.clone()).collect::<Vec<_>>(),
    })
}

/// `devops.reapply-settings`.
#[derive(Debug, Clone, Copy)]
pub struct Reapply;

impl StepKind for Reapply {
    fn info(&self) -> &'static StepKindInfo {
        info("devops.reapply-settings")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { run(ctx).await.unwrap_or_else(StepError::outcome) })
    }
}

async fn run(ctx: StepContext) -> Result<StepOutcome, StepError> {
    let old = connector_input(&ctx, "old_resource_id")?;
    let new = connector_input(&ctx, "new_resource_id")?;
    if crate::steps::backup_load::is_no_backup(ctx.inputs.get("snapshot_id")) {
        // Nothing to reapply: said, per setting, in `not_restored` (status, report, audit).
        let (mut out, _) = skipped_without_backup(&ctx, &new, false).await?;
        out.insert("writes".into(), json!(0));
        out.insert("dry_run".into(), json!(bool_input(&ctx, "dry_run")?));
        return Ok(StepOutcome::ok(out));
    }
    let snapshot = required_str(&ctx, "snapshot_id")?;
    let dry_run = bool_input(&ctx, "dry_run")?;
    let in_flight = match ctx.inputs.get("max_in_flight") {
        None | Some(Value::Null) => DEFAULT_IN_FLIGHT,
        Some(_) => match ctx.input_u64("max_in_flight") {
            Some(n @ 1..=64) => n as usize,
            _ => {
                return Err(StepError::fatal(format!(
                    "input `max_in_flight` of step `{}` must be a whole number from 1 to 64",
                    ctx.step
                )))
            }
        },
    };
    if old == new {
        return Err(StepError::fatal(format!(
            "old_resource_id and new_resource_id are the same connector `{old}` (the settings \
             are restored onto the connector that replaces the failed one)"
        )));
    }
    let client = arm_client(&ctx)?;
    let store = backup_store(&ctx)?;
    let drill = drill_input(&ctx, &old)?;
    let mut backup = BackupView::load(&store, &snapshot, &old).await?;
    // A live drill's connector takes the configuration only: the rest is said, not written.
    let mut not_rehearsed = if drill { drill_scope(&mut backup, &old) } else { Vec::new() };
    let live = LiveView::read(&client, &new, &backup).await?;
    if drill && live.config.is_none() {
        not_rehearsed.extend(drill_without_config(&mut backup, &new));
    }
    if !live.unreadable.is_empty() {
        return Err(StepError::fatal(format!(
            "the new connector `{new}` does not own {} yet (wait for the release: \
             devops.wait-for-release must finish before settings can be reapplied)",
            live.unreadable.join(", ")
        )));
    }
    let exclusions = exclusions_input(&ctx)?;
    let plan = Arc::new(plan(&backup, &live, &new, &exclusions)?);
    let previously =
        ctx.scratch.as_ref().and_then(|s| s.get("confirmed")).and_then(Value::as_u64).unwrap_or(0);
    let mut outputs = Map::new();
    outputs.insert("snapshot_id".into(), json!(backup.snapshot));
    outputs.insert("inherited".into(), json!(plan.inherited));
    outputs.insert("unchanged".into(), json!(plan.unchanged));
    outputs.insert("missing".into(), json!(plan.missing));
    outputs.insert("read_only_differences".into(), json!(plan.read_only_differences));
    outputs.insert("not_restored".into(), json!(plan.not_restored));
    outputs.insert("restore_exclude".into(), json!(exclusions.paths()));
    if drill {
        outputs.insert("drill".into(), json!(true));
        if !not_rehearsed.is_empty() {
            let warning = not_rehearsed_warning(&ctx.step, &not_rehearsed);
            outputs.insert(crate::catalog::WARNINGS_OUTPUT.into(), json!([warning]));
        }
        outputs.insert("not_rehearsed".into(), json!(not_rehearsed));
    }
    if dry_run {
        outputs.insert("dry_run".into(), json!(true));
        outputs.insert("writes".into(), json!(plan.writes.len()));
        outputs.insert("planned".into(), serde_json::to_value(&plan.writes).unwrap_or_default());
        return Ok(StepOutcome::ok(outputs));
    }
    let done = execute(&ctx, &client, &new, &plan, in_flight, previously).await;
    // Resources written with another api-version than their snapshot's: journaled and listed.
    let mut changes = Vec::new();
    for (i, c) in &done.version_changes {
        let resource = &plan.writes[*i].resource;
        ctx.record_effect(c.effect(resource)).await.map_err(|e| StepError {
            message: format!("cannot journal the api-version of the write of {resource}: {e}"),
            retryable: true,
        })?;
        changes.push(c.json(resource));
    }
    outputs.insert("api_version_changes".into(), json!(changes));
    // Values Azure refused: named one by one, with the way to leave each out.
    let refused = (!done.refused.is_empty()).then(|| {
        let mut lines: Vec<String> = done
            .refused
            .iter()
            .map(|(i, r)| r.explain(&plan.writes[*i].resource, &ctx.run_id, &exclusions))
            .collect();
        if !done.blocked.is_empty() {
            lines.push(format!(
                "not written because their parent was refused: {}",
                done.blocked
                    .iter()
                    .map(|i| plan.writes[*i].resource.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        format!(
            "{} of {} writes refused by Azure ({} confirmed):\n  {}",
            done.refused.len(),
            plan.writes.len(),
            done.confirmed.len(),
            lines.join("\n  ")
        )
    });
    if let Some(f) = done.failure {
        return Err(StepError {
            message: format!(
                "{} (confirmed {} of {} writes before the failure; a retry re-reads live state \
                 and does only what is left){}",
                f.message,
                done.confirmed.len(),
                plan.writes.len(),
                refused.map(|r| format!("; besides, {r}")).unwrap_or_default()
            ),
            retryable: f.retryable,
        });
    }
    if let Some(r) = refused {
        return Err(StepError::fatal(r));
    }
    let mut written: Vec<String> = ctx
        .scratch
        .as_ref()
        .and_then(|s| s.get("written"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    written.extend(done.confirmed.iter().map(|i| plan.writes[*i].resource.clone()));
    let total_written = written.len();
    written.truncate(WRITTEN_CAP);
    outputs.insert("dry_run".into(), json!(false));
    outputs.insert("writes".into(), json!(previously + done.confirmed.len() as u64));
    outputs.insert("written".into(), json!(written));
    outputs.insert("written_truncated".into(), json!(total_written > WRITTEN_CAP));
    outputs.insert("conflicts_retried".into(), json!(done.conflicts));
    Ok(StepOutcome::ok(outputs))
}
