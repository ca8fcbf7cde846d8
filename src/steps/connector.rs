//! `connector.create-or-adopt` (guarded) and `connector.resource-ids` (idempotent): step 1 and 3
//! of Microsoft's recovery procedure (seed 000): a new connector in a new region (or an
//! existing one that is authenticated for the same scope), authorized with a fresh OAuth code,
//! and both connectors' resource IDs as Resource Graph shows them.
//!
//! Placement (`steps::target`): a connector it creates goes into `target_resource_group` (else
//! `<old group>-<target region>`) of `target_subscription` (else the old one's), a group created
//! in the target region when absent and refused when located in the failed region or being
//! deleted: never, by default, the old connector's group, whose region is the failed one.
//!
//! Guard of `create-or-adopt`: the connector it creates carries the tags `lifeboat-run=<run id>`
//! and `lifeboat-replaces=<old connector ID>`, and its ID is saved as scratch before the PUT, so
//! a retry or a resume after a crash finds it and never creates a second one. The OAuth code is
//! a secret: read from the prompter or the codes file straight into a `SecretString`, it never
//! reaches inputs, outputs, scratch, the journal, logs or error messages.

use super::backup_load::{connector_objects, manifest_by_id};
use super::recovery::{self, input_bool, ConnectorItem};
use super::restore::{self, BodyKind};
use super::services::PrompterHandle;
use super::target;
use crate::azure::models::{
    Authorization, DevOpsConfiguration, ProvisioningState, ResourceGroup, SecretString,
    SecurityConnector,
};
use crate::azure::{ArmClient, AzureError, ResourceId};
use crate::backup::ResourceKind;
use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{InputError, StepContext, StepKind, StepOutcome};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Tag naming the run that created a connector.
pub const TAG_RUN: &str = "lifeboat-run";
/// Tag naming the connector (resource ID) a new connector replaces.
pub const TAG_REPLACES: &str = "lifeboat-replaces";

/// The `autoDiscovery` of a live drill's second connector: it must claim nothing.
pub const DRILL_AUTO_DISCOVERY: &str = "Disabled";

/// Longest connector name lifeboat creates (ARM resource names of this type stay well under it).
const MAX_NAME: usize = 64;

/// Characters ARM refuses in a connector name replaced by `-`.
fn clean_name(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .collect()
}

/// `<base><suffix>`, the base cut so the suffix always fits [`MAX_NAME`] and never ending in
/// `.` or `-` before it.
fn with_suffix(base: &str, suffix: &str) -> String {
    let room = MAX_NAME.saturating_sub(suffix.len());
    let mut base: String = clean_name(base).chars().take(room).collect();
    while base.ends_with('.') || base.ends_with('-') {
        base.pop();
    }
    if base.is_empty() {
        base.push_str("connector");
    }
    format!("{base}{suffix}")
}

/// `<old-name>-<target region>`, with characters ARM refuses replaced by `-` and the old name
/// shortened so the region suffix always fits.
pub fn new_connector_name(old: &str, target_region: &str) -> String {
    with_suffix(old, &format!("-{}", clean_name(target_region)))
}

/// A live drill's second connector: `<production name>-drill-<first 8 hex digits of the run
/// ID's SHA-256>`. Unique per drill, so its PUT never lands on an existing connector (a real
/// recovery's `<name>-<region>` included), and recognisable as a drill's.
pub fn drill_connector_name(production: &str, run_id: &str) -> String {
    let h = crate::digest::sha256_hex(run_id.as_bytes());
    with_suffix(production, &format!("-drill-{}", &h[..8]))
}

/// Reads an authorization codes file: `<old-connector-name> <code>` per line, `#` comments and
/// blank lines ignored. Errors name the file and line, never a code.
pub fn read_codes(path: &Path) -> Result<BTreeMap<String, SecretString>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read authorization codes file {}: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(code), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{}:{}: expected `<old-connector-name> <code>` (two words)",
                path.display(),
                n + 1
            ));
        };
        if let Some(why) = crate::redact::weakness(code) {
            return Err(format!(
                "{}:{}: the code for `{name}` {why} (copy the whole code from the Azure portal)",
                path.display(),
                n + 1
            ));
        }
        out.insert(name.to_ascii_lowercase(), SecretString::new(code));
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy)]
pub struct CreateOrAdopt;

impl StepKind for CreateOrAdopt {
    fn info(&self) -> &'static StepKindInfo {
        info("connector.create-or-adopt")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { create_or_adopt(ctx).await.unwrap_or_else(|o| o) })
    }
    /// The authorization codes file, when a parameter names it: readable and well formed.
    fn check_inputs(&self, inputs: &serde_json::Map<String, Value>) -> Result<(), InputError> {
        if let Some(Value::String(path)) = inputs.get("authorization_codes") {
            if !path.trim().is_empty() {
                read_codes(Path::new(path.trim())).map_err(|message| InputError {
                    message,
                    hint: "one line per connector: `<old-connector-name> <code>`; leave authorization_codes empty to authorize in the portal".into(),
                })?;
            }
        }
        Ok(())
    }
}

fn tag_matches(c: &SecurityConnector, run_id: &str, old_id: &str) -> bool {
    let tags = c.tags.clone().unwrap_or_default();
    tags.get(TAG_RUN).is_some_and(|r| r == run_id)
        && tags.get(TAG_REPLACES).is_some_and(|r| r.eq_ignore_ascii_case(old_id))
}

/// Does the candidate connector see every top-level resource of the backup?
async fn covers(client: &ArmClient, candidate: &ResourceId, item: &ConnectorItem) -> bool {
    let seen: Vec<String> = match item.connector_type.as_str() {
        "AzureDevOps" => match client.list_available_azure_devops_orgs(candidate).await {
            Ok(v) => v.into_iter().filter_map(|o| o.name).collect(),
            Err(_) => return false,
        },
        "Github" => match client.list_available_github_owners(candidate).await {
            Ok(v) => v.into_iter().filter_map(|o| o.name).collect(),
            Err(_) => return false,
        },
        "GitLab" => match client.list_available_gitlab_groups(candidate).await {
            Ok(v) => v.into_iter().filter_map(|o| o.name).collect(),
            Err(_) => return false,
        },
        _ => return false,
    };
    let wanted = item.top_level();
    !wanted.is_empty() && wanted.iter().all(|w| seen.iter().any(|s| s.eq_ignore_ascii_case(w)))
}

struct Plan {
    new_id: ResourceId,
    adopted: bool,
}

/// What the new connector is made from: a backup snapshot (the old connector's and its DevOps
/// configuration's stored bodies, and the api-versions they were read with), or, without a
/// backup for this connector, the old connector as Resource Graph still returns it and the
/// DevOps configuration the responder answered (`auto_discovery`, `inventory_list`). Both bodies
/// then go through the same lossless path (`restore::connector_create_body`,
/// `restore::restore_body`).
struct Source {
    /// The snapshot ID; `None`: no backup for this connector.
    snapshot: Option<String>,
    connector: Value,
    config: Option<Value>,
    api_versions: BTreeMap<ResourceKind, String>,
}

/// The DevOps configuration of a connector recovered without backup, from the `auto_discovery`
/// (`Enabled`/`Disabled`, default `Enabled`) and `inventory_list` inputs. An `inventory_list`
/// entry `CONNECTOR:NAME` goes to the connector named `CONNECTOR` (the old name) only; a plain
/// `NAME` to every connector recovered without backup.
pub(crate) fn answered_config(
    ctx: &StepContext,
    item: &ConnectorItem,
) -> Result<Value, StepOutcome> {
    let auto = match ctx.input_str("auto_discovery").map(|s| s.trim().to_string()) {
        None => "Enabled".to_string(),
        Some(s) if s.is_empty() => "Enabled".to_string(),
        Some(s) if s.eq_ignore_ascii_case("enabled") => "Enabled".to_string(),
        Some(s) if s.eq_ignore_ascii_case("disabled") => "Disabled".to_string(),
        Some(s) => {
            return Err(StepOutcome::fail(
                format!("input `auto_discovery` is `{s}` (use Enabled or Disabled)"),
                false,
            ))
        }
    };
    let list: Vec<String> = recovery::input_list(ctx, "inventory_list")
        .into_iter()
        .filter_map(|e| match e.split_once(':') {
            Some((c, n)) if c.trim().eq_ignore_ascii_case(&item.name) => Some(n.trim().to_string()),
            Some(_) => None,
            None => Some(e),
        })
        .filter(|n| !n.is_empty())
        .collect();
    let mut props = serde_json::Map::new();
    props.insert("autoDiscovery".into(), json!(auto));
    if !list.is_empty() {
        props.insert("topLevelInventoryList".into(), json!(list));
    }
    Ok(json!({ "properties": props }))
}

/// Where the bodies of the new connector come from (see [`Source`]).
async fn source_of(
    ctx: &StepContext,
    item: &ConnectorItem,
    who: &str,
) -> Result<Source, StepOutcome> {
    let snapshot = ctx.inputs.get("snapshot_id");
    if super::backup_load::is_no_backup(snapshot) {
        let Some(resource) =
            item.resource.clone().filter(|r| r.get("properties").is_some_and(Value::is_object))
        else {
            return Err(StepOutcome::fail(
                format!("{who}: there is no backup of it and no copy of its properties from Resource Graph (discover's `connectors` carry them as `resource`: run the region-outage runbook of this lifeboat version, or restore from a backup with --set backup=ID)"),
                false,
            ));
        };
        return Ok(Source {
            snapshot: None,
            connector: resource,
            config: Some(answered_config(ctx, item)?),
            api_versions: BTreeMap::new(),
        });
    }
    let snapshot_id = recovery::required(ctx, "snapshot_id")?;
    let store = recovery::store(ctx)?;
    let manifest = manifest_by_id(&store, &snapshot_id).await.map_err(|e| {
        StepOutcome::fail(format!("{who}: backup snapshot {snapshot_id}: {e}"), false)
    })?;
    let objects = connector_objects(&store, &manifest, &item.resource_id).await.map_err(|e| {
        StepOutcome::fail(format!("{who}: backup snapshot {snapshot_id}: {e}"), false)
    })?;
    let backup_of =
        |kind: ResourceKind| objects.iter().find(|(_, k, _)| *k == kind).map(|(_, _, b)| b.clone());
    let Some(connector) = backup_of(ResourceKind::Connector) else {
        return Err(StepOutcome::fail(
            format!("{who}: snapshot {snapshot_id} has no body for the connector"),
            false,
        ));
    };
    Ok(Source {
        snapshot: Some(manifest.id.clone()),
        connector,
        config: backup_of(ResourceKind::DevOpsConfiguration),
        api_versions: manifest.api_versions.clone(),
    })
}

async fn create_or_adopt(ctx: StepContext) -> Result<StepOutcome, StepOutcome> {
    let item = recovery::connector_item(&ctx)?;
    let target =
        recovery::check_region("target_region", &recovery::required(&ctx, "target_region")?)
            .map_err(|e| StepOutcome::fail(e, false))?;
    super::regions::check_target(&target, &recovery::input_list(&ctx, "supported_regions"))
        .map_err(|e| StepOutcome::fail(e, false))?;
    // A live drill's second connector: never an adopted one, a name of its own, discovery off
    // (it must not claim anything), and no wait for a portal authorization.
    let drill = recovery::drill_mode(&ctx, Some(&item.resource_id))?;
    let adopt_existing = !drill && input_bool(&ctx, "adopt_existing").unwrap_or(false);
    let codes_file = ctx.input_str("authorization_codes").filter(|s| !s.trim().is_empty());
    let poll = match ctx.input_str("poll_interval") {
        Some(t) => crate::runbook::limits::parse(&t, crate::catalog::DurationUse::PollInterval)
            .map_err(|e| {
                StepOutcome::fail(
                    format!("input `poll_interval` is `{t}`, which {e} (e.g. 30s, 1m, 5m)"),
                    false,
                )
            })?,
        None => Duration::from_secs(60),
    };
    let old_id = ResourceId::parse(&item.resource_id)
        .map_err(|e| StepOutcome::fail(e.to_string(), false))?;
    let exclusions = super::devops::exclusions_input(&ctx).map_err(|e| e.outcome())?;
    let client = recovery::arm(&ctx)?;
    let who = format!("connector {} ({})", item.name, item.resource_id);
    let mut not_restored: Vec<Value> = Vec::new();
    // Where a connector this step creates goes (`steps::target`): never the old group by default.
    let failed_region = ctx
        .input_str("failed_region")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| item.region.clone());
    let failed_region = crate::text::normalize_region(&failed_region);
    let placement = target::placement(
        &old_id,
        &target,
        &ctx.input_str("target_subscription").unwrap_or_default(),
        &ctx.input_str("target_resource_group").unwrap_or_default(),
    )
    .map_err(|e| StepOutcome::fail(format!("{who}: {e}"), false))?;
    let mut adoption_skipped: Vec<Value> = Vec::new();
    let mut version_changes: Vec<Value> = Vec::new();

    // 1. What this run decided earlier (scratch), or a connector it created (tags).
    let mut plan: Option<Plan> = None;
    let mut create_again = false;
    if let Some(s) = &ctx.scratch {
        if let Some(id) = s.get("new_resource_id").and_then(Value::as_str) {
            let new_id =
                ResourceId::parse(id).map_err(|e| StepOutcome::fail(e.to_string(), false))?;
            let adopted = s.get("adopted").and_then(Value::as_bool).unwrap_or(false);
            let exists = match client.get_connector(&new_id).await {
                Ok(_) => true,
                Err(e) if e.is_not_found() => false,
                Err(e) => {
                    return Err(target_fail(&who, &target, &format!("reading {new_id}"), &e, &ctx))
                }
            };
            if exists {
                plan = Some(Plan { new_id, adopted });
            } else if !adopted {
                // A planned creation whose PUT never landed (a crash, or the target region
                // refused it) is simply made again below, under the same name.
                create_again = true;
            }
        }
    }
    if plan.is_none() && !create_again {
        // A connector this run created is in the target group (absent: nothing was created).
        let listed = match client
            .list_connectors_by_resource_group(&placement.subscription, &placement.resource_group)
            .await
        {
            Ok(l) => l,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => {
                return Err(recovery::azure_fail(
                    &format!(
                        "{who}: listing the target resource group {}",
                        placement.resource_group
                    ),
                    &e,
                ))
            }
        };
        if let Some(c) = listed.iter().find(|c| tag_matches(c, &ctx.run_id, &item.resource_id)) {
            if let Some(id) = c.id.as_deref().and_then(|i| ResourceId::parse(i).ok()) {
                plan = Some(Plan { new_id: id, adopted: false });
            }
        }
    }
    // 2. Adopt a connector of the target region that already sees the whole scope.
    if plan.is_none() && !create_again && adopt_existing {
        let candidates: Vec<ConnectorItem> =
            serde_json::from_value(ctx.inputs.get("candidates").cloned().unwrap_or(json!([])))
                .unwrap_or_default();
        for c in candidates.iter().filter(|c| {
            crate::text::normalize_region(&c.region) == target
                && c.connector_type == item.connector_type
                && !c.resource_id.eq_ignore_ascii_case(&item.resource_id)
        }) {
            let Ok(cid) = ResourceId::parse(&c.resource_id) else { continue };
            // A connector whose group is in the failed region could not be written to (its
            // DevOps configuration, the settings) while the region is down.
            if let Some(why) = group_unusable(&client, &cid, &failed_region).await {
                adoption_skipped.push(json!({"connector": c.resource_id, "why": why}));
                continue;
            }
            if covers(&client, &cid, &item).await {
                plan = Some(Plan { new_id: cid, adopted: true });
                break;
            }
        }
    }
    // 3. Create one from the backup (or, without one, from Resource Graph and the answers).
    let source = source_of(&ctx, &item, &who).await?;
    let old_body = source.connector.clone();
    let plan = match plan {
        Some(p) => p,
        None => {
            let name = if drill {
                drill_connector_name(&item.name, &ctx.run_id)
            } else {
                new_connector_name(&item.name, &target)
            };
            let new_id =
                ResourceId::connector(&placement.subscription, &placement.resource_group, &name);
            ensure_group(&ctx, &client, &placement, &target, &failed_region, &who).await?;
            recovery::save(&ctx, json!({"new_resource_id": new_id.to_string(), "adopted": false, "phase": "creating"}))
                .await?;
            // The old connector's writable fields, known or not, with the target region and
            // this run's tags (the old connector's lifeboat tags are not copied).
            let run_tags =
                [(TAG_RUN, ctx.run_id.as_str()), (TAG_REPLACES, item.resource_id.as_str())];
            let r = restore::connector_create_body(
                &old_body,
                &exclusions,
                &new_id.to_string(),
                &target,
                &run_tags,
            );
            not_restored.extend(restore::not_restored_json(&new_id.to_string(), &r.not_restored));
            let mut sent = r.body.clone();
            restore::mutate_for_test(BodyKind::Connector, &mut sent);
            restore::typed::<SecurityConnector>(&sent).map_err(|e| {
                StepOutcome::fail(format!("{who}: creating the new connector: {e}"), false)
            })?;
            ctx.progress(0, 2, format!("creating {name} in {target}"));
            // Written with the api-version the snapshot read it with while the service serves
            // it, else with the run's, and said so (naming the fields the versions differ on).
            let read_with = source.api_versions.get(&ResourceKind::Connector).cloned();
            let family = crate::azure::api::ApiFamily::Connectors;
            let res = restore::write_as_read(
                &client,
                false,
                &new_id,
                family,
                &sent,
                read_with.as_deref(),
            )
            .await;
            recovery::journal_call(&ctx, &client, "PUT", &new_id.to_string(), res.as_ref().err())
                .await?;
            if let Ok(Some(change)) = &res {
                ctx.record_effect(change.effect(&new_id.to_string()))
                    .await
                    .map_err(|e| StepOutcome::fail(e, true))?;
                version_changes.push(change.json(&new_id.to_string()));
            }
            if let Err(e) = res {
                // Only a stored value can be left out; the location and lifeboat's tags are
                // recovery's own (a refused region is a target failure).
                let stored = restore::refusal(&e, &r.body).filter(|f| {
                    f.path != "location"
                        && !f.path.strip_prefix("tags.").is_some_and(restore::is_lifeboat_tag)
                });
                if let Some(refused) = stored {
                    return Err(StepOutcome::fail(
                        format!(
                            "{who}: {}",
                            refused.explain(&new_id.to_string(), &ctx.run_id, &exclusions)
                        ),
                        false,
                    ));
                }
                return Err(target_fail(&who, &target, "creating the new connector", &e, &ctx));
            }
            Plan { new_id, adopted: false }
        }
    };
    let new_id_text = plan.new_id.to_string();
    recovery::save(
        &ctx,
        json!({"new_resource_id": new_id_text, "adopted": plan.adopted, "phase": "authorizing"}),
    )
    .await?;

    // 4. The DevOps configuration: already authorized, in progress, or needs a fresh code.
    let current = match client.get_devops_configuration(&plan.new_id).await {
        Ok(c) => Some(c),
        Err(e) if e.is_not_found() => None,
        Err(e) => {
            let _ = recovery::journal_call(
                &ctx,
                &client,
                "GET",
                &plan.new_id.devops().to_string(),
                Some(&e),
            )
            .await;
            return Err(target_fail(
                &who,
                &target,
                "reading the new connector's DevOps configuration",
                &e,
                &ctx,
            ));
        }
    };
    let state = current
        .as_ref()
        .and_then(|c| c.properties.as_ref())
        .and_then(|p| p.provisioning_state.clone());
    let done = |adopted: bool, not_restored: &[Value], version_changes: &[Value]| {
        let mut out = vec![
            ("old_resource_id", json!(item.resource_id)),
            ("new_resource_id", json!(new_id_text)),
            ("new_name", json!(plan.new_id.name())),
            ("adopted", json!(adopted)),
            ("target_region", json!(target)),
            ("target_subscription", json!(plan.new_id.subscription)),
            ("target_resource_group", json!(plan.new_id.resource_group)),
            ("adoption_skipped", json!(adoption_skipped)),
            ("not_restored", json!(not_restored)),
            ("snapshot_id", json!(source.snapshot)),
            (
                "created_from",
                json!(if source.snapshot.is_some() { "backup" } else { "resource-graph" }),
            ),
            ("api_version_changes", json!(version_changes)),
        ];
        if drill {
            out.push(("drill", json!(true)));
            out.push(("authorized", json!(true)));
        }
        recovery::outputs(out)
    };
    match state {
        Some(ProvisioningState::Succeeded) => return Ok(done(plan.adopted, &not_restored, &version_changes)),
        // A state this version of lifeboat does not know is taken as still in progress, until
        // the step's timeout: a second PUT would spend a fresh OAuth code on a configuration
        // that may be about to succeed.
        Some(ProvisioningState::Other(v)) => {
            return Ok(StepOutcome::poll_after(
                ctx.now(),
                Duration::from_secs(10),
                format!(
                    "{who}: the DevOps configuration of {} reports provisioningState `{v}`, which this version of lifeboat does not know: treated as still in progress (no second PUT, no new OAuth code) until the step's timeout",
                    plan.new_id.name()
                ),
                Some(
                    json!({"new_resource_id": new_id_text, "adopted": plan.adopted, "phase": "authorizing"}),
                ),
            ))
        }
        Some(ProvisioningState::Pending) | Some(ProvisioningState::Accepted) => {
            return Ok(StepOutcome::poll_after(
                ctx.now(),
                Duration::from_secs(10),
                format!(
                    "{who}: the DevOps configuration of {} is being provisioned",
                    plan.new_id.name()
                ),
                Some(
                    json!({"new_resource_id": new_id_text, "adopted": plan.adopted, "phase": "authorizing"}),
                ),
            ))
        }
        _ => {}
    }
    // A fresh code: a person at the terminal, else the codes file, else the portal.
    let mut code: Option<SecretString> = None;
    if let Some(p) = ctx.services.get::<PrompterHandle>() {
        let label = format!(
            "OAuth authorization code for the new connector {} (replacing {})",
            plan.new_id.name(),
            item.name
        );
        code =
            p.0.secret(label)
                .await
                .filter(|c| !c.trim().is_empty())
                .map(|c| SecretString::new(c.trim()));
    }
    if code.is_none() && drill && codes_file.is_none() {
        // A drill has no person to authorize in the portal: said, not waited for.
        let what = format!(
            "not rehearsed: the authorization of the drill connector {} (no OAuth code: give `lifeboat drill --live --authorization-code-file FILE`), so neither its DevOps configuration nor the reapply and verification of it",
            plan.new_id.name()
        );
        let mut outcome = done(plan.adopted, &not_restored, &version_changes);
        if let StepOutcome::Succeeded { outputs, .. } = &mut outcome {
            outputs.insert("authorized".into(), json!(false));
            outputs.insert(crate::catalog::WARNINGS_OUTPUT.into(), json!([what]));
        }
        return Ok(outcome);
    }
    if code.is_none() {
        if let Some(path) = &codes_file {
            let codes = read_codes(Path::new(path.trim()))
                .map_err(|e| StepOutcome::fail(format!("{who}: {e}"), false))?;
            match codes.get(&item.name.to_ascii_lowercase()) {
                Some(c) => code = Some(c.clone()),
                None => {
                    return Err(StepOutcome::fail(
                        format!(
                            "{who}: the authorization codes file {path} has no code for `{}` (add a line `{} <code>` with a fresh code from authorizing the connector in the Azure portal, then run `lifeboat resume {}`... or leave authorization_codes empty to wait for authorization in the portal)",
                            item.name, item.name, ctx.run_id
                        ),
                        false,
                    ))
                }
            }
        }
    }
    let Some(code) = code else {
        return Ok(StepOutcome::poll_after(
            ctx.now(),
            poll,
            format!(
                "waiting for a person to authorize {} in the Azure portal (Defender for Cloud > Environment settings > {} > Authorize; it replaces {}); polled every {}",
                plan.new_id.name(),
                plan.new_id.name(),
                item.name,
                humantime::format_duration(poll)
            ),
            Some(json!({"new_resource_id": new_id_text, "adopted": plan.adopted, "phase": "authorizing"})),
        ));
    };
    // Too short a code could not be kept out of the journal and the output; a good one is
    // redacted from both from now on (e.g. should an error message echo it).
    if let Some(why) = crate::redact::weakness(code.expose()) {
        return Err(StepOutcome::fail(
            format!("{who}: the OAuth authorization code given {why} (copy the whole code from the Azure portal)"),
            false,
        ));
    }
    crate::redact::register_str(code.expose());
    // The backed-up configuration's writable fields, known or not, plus the fresh code (a
    // backup never holds one); without a backup, the configuration answered. Without a
    // backed-up configuration: auto-discovery, as before.
    let mut cfg_body = match source.config.clone() {
        Some(cfg) => {
            let r = restore::restore_body(&cfg, &exclusions, &plan.new_id.devops().to_string());
            not_restored.extend(restore::not_restored_json(
                &plan.new_id.devops().to_string(),
                &r.not_restored,
            ));
            r.body
        }
        None => json!({"properties": {"autoDiscovery": "Enabled"}}),
    };
    if drill {
        // The drill connector must not onboard what no connector owns yet: discovery off.
        if !cfg_body.get("properties").is_some_and(Value::is_object) {
            cfg_body["properties"] = json!({});
        }
        cfg_body["properties"]["autoDiscovery"] = json!(DRILL_AUTO_DISCOVERY);
    }
    let mut sent = cfg_body.clone();
    restore::mutate_for_test(BodyKind::Config, &mut sent);
    let mut body: DevOpsConfiguration = restore::typed(&sent).map_err(|e| {
        StepOutcome::fail(format!("{who}: authorizing the new connector: {e}"), false)
    })?;
    body.properties.get_or_insert_with(Default::default).authorization =
        Some(Authorization { code: Some(code), extra: Default::default() });
    // The request body holds the code in clear (the service needs it); it lives only here.
    let body = serde_json::to_value(&body).map_err(|e| {
        StepOutcome::fail(format!("{who}: authorizing the new connector: {e}"), false)
    })?;
    ctx.progress(1, 2, format!("authorizing {}", plan.new_id.name()));
    // With the api-version the snapshot read the configuration with, as the connector itself.
    let read_with = source.api_versions.get(&ResourceKind::DevOpsConfiguration).cloned();
    let devops_id = plan.new_id.devops();
    let family = crate::azure::api::ApiFamily::Devops;
    let res =
        restore::write_as_read(&client, false, &devops_id, family, &body, read_with.as_deref())
            .await;
    drop(body);
    recovery::journal_call(&ctx, &client, "PUT", &devops_id.to_string(), res.as_ref().err())
        .await?;
    if let Ok(Some(change)) = &res {
        ctx.record_effect(change.effect(&devops_id.to_string()))
            .await
            .map_err(|e| StepOutcome::fail(e, true))?;
        version_changes.push(change.json(&devops_id.to_string()));
    }
    match res {
        Ok(_) => Ok(done(plan.adopted, &not_restored, &version_changes)),
        Err(e) if e.code() == Some("TokenExchangeFailed") => Err(StepOutcome::fail(
            format!(
                "{who}: Azure refused the OAuth authorization code for the new connector {} (TokenExchangeFailed: the code expired or was already used; codes are single-use and short-lived) (authorize {} again in the Azure portal to get a fresh code, put it in the authorization codes file as `{} <code>`, and start the recovery again; or leave authorization_codes empty to authorize in the portal)",
                plan.new_id.name(),
                plan.new_id.name(),
                item.name
            ),
            false,
        )),
        Err(e) => match restore::refusal(&e, &cfg_body) {
            Some(refused) => Err(StepOutcome::fail(
                format!(
                    "{who}: {} (the OAuth code was sent with the refused request: authorize the connector again for a fresh code before resuming)",
                    refused.explain(&plan.new_id.devops().to_string(), &ctx.run_id, &exclusions)
                ),
                false,
            )),
            None => Err(target_fail(&who, &target, "authorizing the new connector", &e, &ctx)),
        },
    }
}

/// The new connector's resource group ([`target::placement`]): read, and created in the target
/// region when absent (tagged `lifeboat-run`, the PUT journaled as an effect; a PUT is
/// idempotent, so a retry or a concurrent branch creating the same group is harmless); an
/// existing one is used only when it is not being deleted and not located in the failed region.
async fn ensure_group(
    ctx: &StepContext,
    client: &ArmClient,
    p: &target::Placement,
    target: &str,
    failed_region: &str,
    who: &str,
) -> Result<(), StepOutcome> {
    match client.get_resource_group(&p.subscription, &p.resource_group).await {
        Ok(g) => target::check_existing_group(
            p,
            g.location.as_deref().unwrap_or_default(),
            g.provisioning_state(),
            failed_region,
            target,
        )
        .map_err(|e| StepOutcome::fail(format!("{who}: {e}"), false)),
        Err(e) if e.is_not_found() => {
            ctx.progress(0, 2, format!("creating resource group {} in {target}", p.resource_group));
            let body = ResourceGroup {
                location: Some(target.to_string()),
                tags: Some(BTreeMap::from([(TAG_RUN.to_string(), ctx.run_id.clone())])),
                ..Default::default()
            };
            let res = client
                .create_or_update_resource_group(&p.subscription, &p.resource_group, &body)
                .await;
            recovery::journal_call(ctx, client, "PUT", &p.group_scope(), res.as_ref().err())
                .await?;
            res.map(|_| ()).map_err(|e| {
                let doing = format!("creating resource group {} in {target}", p.resource_group);
                target_fail(who, target, &doing, &e, ctx)
            })
        }
        Err(e) => {
            let doing = format!("reading resource group {}", p.resource_group);
            Err(target_fail(who, target, &doing, &e, ctx))
        }
    }
}

/// Why an adoption candidate's resource group cannot take writes now (being deleted, located in
/// the failed region, unreadable), or `None` when it can.
async fn group_unusable(
    client: &ArmClient,
    id: &ResourceId,
    failed_region: &str,
) -> Option<String> {
    match client.get_resource_group(&id.subscription, &id.resource_group).await {
        Ok(g) if g.is_deleting() => {
            Some(format!("its resource group `{}` is being deleted", id.resource_group))
        }
        Ok(g) if g.location.as_deref().map(crate::text::normalize_region).as_deref()
            == Some(failed_region) =>
        {
            Some(format!(
                "its resource group `{}` is located in the failed region {failed_region}, where ARM may block writes",
                id.resource_group
            ))
        }
        Ok(_) => None,
        Err(e) => Some(format!("its resource group `{}` could not be read: {e}", id.resource_group)),
    }
}

/// A failure in the target region. When the region itself is down this is a retryable failure
/// (the runbook's bounded `retry:` tries again a few times) that names the region and says how to
/// continue: once every retry is spent the run stops (exit 1) and `lifeboat resume RUN` re-arms
/// the step when the region is back. Nothing is half-written unrecorded: every call was
/// journaled (`journal_call`) before this failure is returned.
fn target_fail(
    who: &str,
    target: &str,
    doing: &str,
    e: &AzureError,
    ctx: &StepContext,
) -> StepOutcome {
    if recovery::region_unavailable(e) {
        StepOutcome::fail(
            format!(
                "{who}: {doing} failed because the target region {target} is unavailable too ({e}); every call made is journaled; once {target} is back, continue with `lifeboat resume {}` (or start a recovery into another region)",
                ctx.run_id
            ),
            true,
        )
    } else {
        recovery::azure_fail(&format!("{who}: {doing}"), e)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ResourceIds;

impl StepKind for ResourceIds {
    fn info(&self) -> &'static StepKindInfo {
        info("connector.resource-ids")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { resource_ids(ctx).await.unwrap_or_else(|o| o) })
    }
}

/// `/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Security/securityConnectors/{connectorName}`
fn canonical(id: &str) -> Result<String, StepOutcome> {
    let r = ResourceId::parse(id).map_err(|e| StepOutcome::fail(e.to_string(), false))?;
    Ok(ResourceId::connector(&r.subscription, &r.resource_group, r.connector_id().name())
        .to_string())
}

async fn resource_ids(ctx: StepContext) -> Result<StepOutcome, StepOutcome> {
    let old = canonical(&recovery::required(&ctx, "old_resource_id")?)?;
    let new = canonical(&recovery::required(&ctx, "new_resource_id")?)?;
    let query = super::discover::query("connector-resource-ids").unwrap_or_default();
    let subs: Vec<String> = [&old, &new]
        .iter()
        .filter_map(|i| ResourceId::parse(i).ok().map(|r| r.subscription))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let client = recovery::arm(&ctx)?;
    let rows = client
        .resource_graph_query(query, &subs)
        .await
        .map_err(|e| recovery::azure_fail("the Resource Graph query failed", &e))?;
    let seen = |id: &str| {
        rows.iter().any(|r| {
            r.get("connectorResourceId")
                .and_then(Value::as_str)
                .is_some_and(|x| x.eq_ignore_ascii_case(id))
        })
    };
    let missing: Vec<&String> = [&old, &new].into_iter().filter(|i| !seen(i)).collect();
    if !missing.is_empty() {
        // Resource Graph lags ARM by seconds to minutes: a new connector shows up shortly.
        return Ok(StepOutcome::poll_after(
            ctx.now(),
            Duration::from_secs(30),
            format!(
                "Resource Graph does not show {} yet (it lags ARM by up to a few minutes)",
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" and ")
            ),
            None,
        ));
    }
    Ok(recovery::outputs(vec![
        ("old_resource_id", json!(old)),
        ("new_resource_id", json!(new)),
        ("query", json!(query.trim_end())),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_names_keep_the_region_suffix_and_arm_characters() {
        assert_eq!(new_connector_name("ado-weu", "northeurope"), "ado-weu-northeurope");
        let long = "x".repeat(100);
        let n = new_connector_name(&long, "northeurope");
        assert_eq!(n.len(), MAX_NAME);
        assert!(n.ends_with("-northeurope"));
        assert_eq!(new_connector_name("a b/c", "eastus"), "a-b-c-eastus");
    }

    #[test]
    fn drill_names_are_unique_per_run_and_fit() {
        let a = drill_connector_name("ado-weu", "run-1");
        assert!(a.starts_with("ado-weu-drill-") && a.len() == "ado-weu-drill-".len() + 8, "{a}");
        assert_ne!(a, drill_connector_name("ado-weu", "run-2"));
        assert_ne!(a, new_connector_name("ado-weu", "northeurope"));
        let long = drill_connector_name(&"y".repeat(100), "r");
        assert_eq!(long.len(), MAX_NAME);
        assert!(long.contains("-drill-"), "{long}");
    }

    #[test]
    fn codes_file_is_parsed_and_errors_never_show_codes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("codes");
        std::fs::write(&p, "# fresh codes\nado-weu  secret-code-1\n\nGitLab-WEU secret-code-2\n")
            .unwrap();
        let codes = read_codes(&p).unwrap();
        assert_eq!(codes["ado-weu"].expose(), "secret-code-1");
        assert!(codes.contains_key("gitlab-weu"));
        std::fs::write(&p, "ado-weu secret-code-1 extra\n").unwrap();
        let e = read_codes(&p).unwrap_err();
        assert!(e.contains(":1: expected"), "{e}");
        assert!(!e.contains("secret-code-1"), "{e}");
        assert!(read_codes(&dir.path().join("missing")).unwrap_err().contains("cannot read"));
    }
}
