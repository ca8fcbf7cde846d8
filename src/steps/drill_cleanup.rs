//! `drill.cleanup` (idempotent): the end of a live drill's run of the region-outage runbook
//! (`drill: true`). It removes what the drill created next to production, and nothing else:
//! the drill's second connector (with its DevOps configuration), then the resource group the
//! run created for it.
//!
//! What counts as the drill's: a connector or group carries the tag `lifeboat-run=<this run's
//! ID>`, which `connector.create-or-adopt` sets only on what it creates. A connector that is not
//! tagged so is refused (a failure: the drill would otherwise delete what it did not make); a
//! group that is not is kept (the drill used an existing group), and so is a group of this run
//! that holds any other connector (deleting a group deletes everything in it: a real recovery
//! running meanwhile may have put its connector there). Deleting what is already gone counts as
//! done, so a retry or a resume repeats nothing. Every DELETE is journaled as an effect.
//!
//! It runs only under `lifeboat drill --live` (a [`LiveDrill`] in the services: the client's
//! write guard refuses the production connector and its children; the cleanup ledger removes
//! whatever this step did not reach, `lifeboat drill --cleanup RUN_ID`).

use super::connector::TAG_RUN;
use super::devops::{arm_client, azure_failure, connector_input, StepError};
use super::services::LiveDrill;
use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{StepContext, StepKind, StepOutcome};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

/// `drill.cleanup`.
#[derive(Debug, Clone, Copy)]
pub struct Cleanup;

impl StepKind for Cleanup {
    fn info(&self) -> &'static StepKindInfo {
        info("drill.cleanup")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { run(ctx).await.unwrap_or_else(StepError::outcome) })
    }
}

fn tagged_by(tags: Option<&std::collections::BTreeMap<String, String>>, run_id: &str) -> bool {
    tags.and_then(|t| t.get(TAG_RUN)).is_some_and(|r| r == run_id)
}

async fn run(ctx: StepContext) -> Result<StepOutcome, StepError> {
    let old = connector_input(&ctx, "old_resource_id")?;
    let new = connector_input(&ctx, "new_resource_id")?;
    let Some(live) = ctx.services.get::<LiveDrill>() else {
        return Err(StepError::fatal(format!(
            "step `{}` ({}) removes what a live drill created and runs only under `lifeboat drill --live` (its write guard and cleanup ledger)",
            ctx.step, "drill.cleanup"
        )));
    };
    if old == new || new.to_string().eq_ignore_ascii_case(&live.production) {
        return Err(StepError::fatal(format!(
            "step `{}` was asked to remove `{new}`, the production connector: a live drill removes only what it created",
            ctx.step
        )));
    }
    let client = arm_client(&ctx)?;
    let mut removed: Vec<String> = Vec::new();
    let mut kept: Vec<Value> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    // 1. The drill's connector (its DevOps configuration and children go with it).
    match client.get_connector(&new).await {
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(azure_failure(&format!("reading {new}"), &e)),
        Ok(c) if !tagged_by(c.tags.as_ref(), &ctx.run_id) => {
            return Err(StepError::fatal(format!(
                "`{new}` does not carry the tag {TAG_RUN}={}: this drill did not create it, so it is left in place (check it in the portal)",
                ctx.run_id
            )))
        }
        Ok(_) => {
            ctx.progress(0, 2, format!("deleting the drill connector {}", new.name()));
            let res = client.delete_connector(&new).await;
            let err = res.as_ref().err().filter(|e| !e.is_not_found());
            crate::steps::recovery::journal_call(&ctx, &client, "DELETE", &new.to_string(), err)
                .await
                .map_err(|o| match o {
                    StepOutcome::Failed { error, retryable } => StepError { message: error, retryable },
                    _ => StepError::fatal("cannot journal the delete"),
                })?;
            match res {
                Ok(()) => removed.push(new.to_string()),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(azure_failure(&format!("deleting {new}"), &e)),
            }
        }
    }

    // 2. The group the run created for it, if this run created it and nothing else is in it.
    let (sub, group) = (new.subscription.clone(), new.resource_group.clone());
    let scope = format!("/subscriptions/{sub}/resourceGroups/{group}");
    match client.get_resource_group(&sub, &group).await {
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(azure_failure(&format!("reading resource group {group}"), &e)),
        Ok(g) if !tagged_by(g.tags.as_ref(), &ctx.run_id) => kept.push(json!({
            "resource": scope,
            "why": "the group existed before the drill (not tagged with this run): only the drill's connector was removed from it",
        })),
        Ok(_) => {
            let others: Vec<String> = client
                .list_connectors_by_resource_group(&sub, &group)
                .await
                .map_err(|e| azure_failure(&format!("listing the connectors of {group}"), &e))?
                .into_iter()
                .filter_map(|c| c.id)
                .filter(|id| !id.eq_ignore_ascii_case(&new.to_string()))
                .collect();
            if others.is_empty() {
                ctx.progress(1, 2, format!("deleting the drill's resource group {group}"));
                let res = client.delete_resource_group(&sub, &group).await;
                let err = res.as_ref().err().filter(|e| !e.is_not_found());
                crate::steps::recovery::journal_call(&ctx, &client, "DELETE", &scope, err)
                    .await
                    .map_err(|o| match o {
                        StepOutcome::Failed { error, retryable } => {
                            StepError { message: error, retryable }
                        }
                        _ => StepError::fatal("cannot journal the delete"),
                    })?;
                match res {
                    Ok(()) => removed.push(scope.clone()),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(azure_failure(&format!("deleting {scope}"), &e)),
                }
            } else {
                let why = format!(
                    "it holds other connectors ({}): deleting a group deletes everything in it, so it is left in place for a person to remove",
                    others.join(", ")
                );
                warnings.push(format!("resource group {scope}, created by this drill, was kept: {why}"));
                kept.push(json!({"resource": scope, "why": why}));
            }
        }
    }
    ctx.progress(2, 2, format!("removed {}", removed.len()));
    let mut out = Map::new();
    out.insert("removed".into(), json!(removed));
    out.insert("kept".into(), json!(kept));
    if !warnings.is_empty() {
        out.insert(crate::catalog::WARNINGS_OUTPUT.into(), json!(warnings));
    }
    Ok(StepOutcome::ok(out))
}
