//! The connector lifecycle at the end of a recovery: `connector.promote` (tag the new connector
//! primary), `region.wait-recovered` (a durable poll until the failed region answers again) and
//! `connector.delete` (one-shot: delete the old connector, only once the new one is primary).

use super::devops::{
    arm_client, azure_failure, connector_input, poll_interval_input, rfc3339, StepError,
};
use crate::azure::models::TagsPatch;
use crate::azure::{ArmClient, AzureError, ResourceId};
use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{StepContext, StepKind, StepOutcome};
use crate::engine::Effect;
use futures::future::BoxFuture;
use serde_json::{json, Map};
use std::collections::BTreeMap;
use std::time::Duration;

/// The tag that marks the connector lifeboat made primary.
pub const ROLE_TAG: &str = "lifeboat-role";
/// The tag naming the connector it replaces.
pub const REPLACES_TAG: &str = "lifeboat-replaces";

/// Journals the last call on `resource` with `method` as an effect.
async fn journal(
    ctx: &StepContext,
    client: &ArmClient,
    method: &str,
    resource: &str,
) -> Result<Option<u16>, StepError> {
    let rec = client
        .call_log()
        .into_iter()
        .rev()
        .find(|r| r.method == method && r.resource.eq_ignore_ascii_case(resource));
    let effect = Effect {
        method: method.to_string(),
        resource: resource.to_string(),
        status: rec.as_ref().and_then(|r| r.status),
        request_id: rec.as_ref().and_then(|r| r.request_id.clone()),
        correlation_id: rec.as_ref().and_then(|r| r.correlation_id.clone()),
    };
    let status = effect.status;
    ctx.record_effect(effect).await.map_err(|e| StepError {
        message: format!("cannot journal {method} {resource}: {e}"),
        retryable: true,
    })?;
    Ok(status)
}

fn same_connectors(old: &ResourceId, new: &ResourceId) -> Result<(), StepError> {
    if old == new {
        return Err(StepError::fatal(format!(
            "old_resource_id and new_resource_id are the same connector `{old}` (the new \
             connector is the one that replaces the failed one)"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- connector.promote

/// `connector.promote`: merges `lifeboat-role=primary` and `lifeboat-replaces=<old>` into the new
/// connector's tags. A connector PATCH replaces `tags` as a whole, so the current tags are read
/// first and sent back with ours; nothing is written when they are already there.
#[derive(Debug, Clone, Copy)]
pub struct Promote;

impl StepKind for Promote {
    fn info(&self) -> &'static StepKindInfo {
        info("connector.promote")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { promote(ctx).await.unwrap_or_else(StepError::outcome) })
    }
}

async fn promote(ctx: StepContext) -> Result<StepOutcome, StepError> {
    let old = connector_input(&ctx, "old_resource_id")?;
    let new = connector_input(&ctx, "new_resource_id")?;
    same_connectors(&old, &new)?;
    let client = arm_client(&ctx)?;
    let current = client
        .get_connector(&new)
        .await
        .map_err(|e| azure_failure(&format!("reading the new connector `{new}`"), &e))?;
    let mut tags: BTreeMap<String, String> = current.tags.clone().unwrap_or_default();
    let before = tags.clone();
    tags.insert(ROLE_TAG.into(), "primary".into());
    tags.insert(REPLACES_TAG.into(), old.to_string());
    let changed = tags != before;
    if changed {
        let r = client.patch_connector(&new, &TagsPatch { tags: tags.clone() }).await;
        journal(&ctx, &client, "PATCH", &new.to_string()).await?;
        r.map_err(|e| azure_failure(&format!("tagging the new connector `{new}`"), &e))?;
    }
    let mut out = Map::new();
    out.insert("new_resource_id".into(), json!(new.to_string()));
    out.insert("tags_written".into(), json!(changed));
    Ok(StepOutcome::ok(out))
}

// ---------------------------------------------------------------- region.wait-recovered

/// `region.wait-recovered`: GETs the old connector until its region answers (200, or 404: the
/// region serves requests again). A 5xx or a lost connection means still down: poll again.
#[derive(Debug, Clone, Copy)]
pub struct WaitRecovered;

impl StepKind for WaitRecovered {
    fn info(&self) -> &'static StepKindInfo {
        info("region.wait-recovered")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { wait_recovered(ctx).await.unwrap_or_else(StepError::outcome) })
    }
}

fn region_down(e: &AzureError) -> bool {
    match e {
        AzureError::Arm(a) => a.status >= 500 || a.status == 429,
        AzureError::Transport { .. } => true,
        _ => false,
    }
}

async fn wait_recovered(ctx: StepContext) -> Result<StepOutcome, StepError> {
    let old = connector_input(&ctx, "old_resource_id")?;
    let interval = poll_interval_input(&ctx, Duration::from_secs(300))?;
    let client = arm_client(&ctx)?;
    let answer = match client.get_connector(&old).await {
        Ok(_) => "200",
        Err(e) if e.is_not_found() => "404",
        Err(e) if region_down(&e) => {
            return Ok(StepOutcome::poll_after(
                ctx.now(),
                interval,
                format!("the region of `{old}` does not answer yet (poll {}: {e})", ctx.poll + 1),
                None,
            ))
        }
        Err(e) => return Err(azure_failure(&format!("reading the old connector `{old}`"), &e)),
    };
    let mut out = Map::new();
    out.insert("recovered_at".into(), json!(rfc3339(ctx.now())));
    out.insert("answer".into(), json!(answer));
    Ok(StepOutcome::ok(out))
}

// ---------------------------------------------------------------- connector.delete

/// `connector.delete` (one-shot): deletes the old connector, but only when it is not the new
/// one and the new one is tagged primary (replacing this old connector, when the tag says). A
/// 404 or 204 counts as already deleted.
#[derive(Debug, Clone, Copy)]
pub struct Delete;

impl StepKind for Delete {
    fn info(&self) -> &'static StepKindInfo {
        info("connector.delete")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { delete(ctx).await.unwrap_or_else(StepError::outcome) })
    }
}

async fn delete(ctx: StepContext) -> Result<StepOutcome, StepError> {
    let old = connector_input(&ctx, "old_resource_id")?;
    let new = connector_input(&ctx, "new_resource_id")?;
    if old == new {
        return Err(StepError::fatal(format!(
            "refusing to delete `{old}`: it is also the new connector (check old_resource_id \
             and new_resource_id)"
        )));
    }
    let client = arm_client(&ctx)?;
    let current = client
        .get_connector(&new)
        .await
        .map_err(|e| azure_failure(&format!("reading the new connector `{new}`"), &e))?;
    let tags = current.tags.unwrap_or_default();
    if tags.get(ROLE_TAG).map(String::as_str) != Some("primary") {
        return Err(StepError::fatal(format!(
            "refusing to delete `{old}`: the new connector `{new}` is not tagged \
             {ROLE_TAG}=primary (run connector.promote first)"
        )));
    }
    if let Some(r) = tags.get(REPLACES_TAG) {
        if ResourceId::parse(r).map_or(true, |r| r != old) {
            return Err(StepError::fatal(format!(
                "refusing to delete `{old}`: the new connector `{new}` replaces `{r}` according \
                 to its {REPLACES_TAG} tag"
            )));
        }
    }
    let result = client.delete_connector(&old).await;
    let status = journal(&ctx, &client, "DELETE", &old.to_string()).await?;
    // ARM answers 204 (the spec's "no content") when there was nothing to delete; some
    // providers answer 404.
    let already = match result {
        Ok(()) => status == Some(204),
        Err(e) if e.is_not_found() => true,
        Err(e) => return Err(azure_failure(&format!("deleting the old connector `{old}`"), &e)),
    };
    let mut out = Map::new();
    out.insert("deleted".into(), json!(old.to_string()));
    out.insert("already_absent".into(), json!(already));
    Ok(StepOutcome::ok(out))
}
