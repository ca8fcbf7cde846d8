//! `devops.wait-for-release`: a durable poll of the new connector's `listAvailable*` operations
//! until every Azure DevOps org, GitHub owner and top-level GitLab group of the backup is
//! present and no longer `OnboardedByOtherConnector` (Microsoft released it from the old
//! connector). Each poll returns [`StepOutcome::Wait`], so a wait of days survives restarts;
//! the step's `timeout` bounds the whole wait (the engine enforces it, as for `wait.until`).
//!
//! Without a backup of the connector (`snapshot_id` null) the list of what the old connector
//! owned is unknown: its own DevOps children live in the failed region and are not read (every
//! try would cost minutes of retries against a region that is down). The wait then works from
//! the new connector's view ([`without_backup`]): it waits until the new connector sees at least
//! one org/owner/group, and none of them is still held by a connector lifeboat cannot account
//! for. An item `OnboardedByOtherConnector` is accounted for when a connector that answers owns
//! it: the `candidates` of the same type outside the failed region (asked once, cached in the
//! step's scratch) and the connectors this run created for other failed connectors of the same
//! type (asked on each poll: their own release moves items to them). Every other held item is
//! taken to be the old connector's and waited for. Risks, said in the wait's message and in the
//! docs: an item owned by a connector lifeboat cannot read (another subscription than those
//! searched, a connector of the failed region that this run does not recover) holds the wait
//! until the step's timeout unless a person skips it; an item of the old connector that the
//! authorizing account cannot see is not waited for (and cannot be onboarded by that account).

use super::*;
use crate::azure::models::OnboardingState;
use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::StepKind;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::time::Duration;

/// `devops.wait-for-release`.
#[derive(Debug, Clone, Copy)]
pub struct WaitForRelease;

impl StepKind for WaitForRelease {
    fn info(&self) -> &'static StepKindInfo {
        info("devops.wait-for-release")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { run(ctx).await.unwrap_or_else(StepError::outcome) })
    }
}

/// The onboarding state of every available item, by `(env, lowercase name)`.
async fn available(
    client: &ArmClient,
    new: &ResourceId,
    envs: &[Env],
) -> Result<BTreeMap<(Env, String), Option<OnboardingState>>, AzureError> {
    let mut out = BTreeMap::new();
    for env in envs {
        let items: Vec<(String, Option<OnboardingState>)> = match env {
            Env::AzureDevOps => client
                .list_available_azure_devops_orgs(new)
                .await?
                .into_iter()
                .map(|o| {
                    (o.name.unwrap_or_default(), o.properties.and_then(|p| p.onboarding_state))
                })
                .collect(),
            Env::GitHub => client
                .list_available_github_owners(new)
                .await?
                .into_iter()
                .map(|o| {
                    (o.name.unwrap_or_default(), o.properties.and_then(|p| p.onboarding_state))
                })
                .collect(),
            Env::GitLab => client
                .list_available_gitlab_groups(new)
                .await?
                .into_iter()
                .map(|o| {
                    (o.name.unwrap_or_default(), o.properties.and_then(|p| p.onboarding_state))
                })
                .collect(),
        };
        for (name, state) in items {
            out.insert((*env, name.to_ascii_lowercase()), state);
        }
    }
    Ok(out)
}

/// Why an item is not released yet, or `None` when it is. An `onboardingState` this version of
/// lifeboat does not know is taken as "not released yet" (the safe side: reapplying settings to
/// a resource the new connector may not own would fail or, worse, half-succeed), and the wait
/// shows the value, so a person can decide to skip the wait.
fn holdup(state: Option<&Option<OnboardingState>>) -> Option<String> {
    match state {
        None => Some("not visible to the new connector".into()),
        Some(Some(OnboardingState::OnboardedByOtherConnector)) => {
            Some("still onboarded by the old connector".into())
        }
        Some(Some(OnboardingState::NotApplicable)) => {
            Some("not applicable (the new connector is not authorized)".into())
        }
        Some(Some(OnboardingState::Other(v))) => Some(format!(
            "onboarding state `{v}`, which this version of lifeboat does not know: treated as not released yet"
        )),
        Some(_) => None,
    }
}

async fn run(ctx: StepContext) -> Result<StepOutcome, StepError> {
    let old = connector_input(&ctx, "old_resource_id")?;
    let new = connector_input(&ctx, "new_resource_id")?;
    let interval = poll_interval_input(&ctx, Duration::from_secs(300))?;
    let client = arm_client(&ctx)?;
    if crate::steps::backup_load::is_no_backup(ctx.inputs.get("snapshot_id")) {
        return without_backup(&ctx, &client, &old, &new, interval).await;
    }
    let snapshot = required_str(&ctx, "snapshot_id")?;
    let store = backup_store(&ctx)?;
    // Only what is released: the top-level items (every poll reads them again).
    let backup = BackupView::load_top_level(&store, &snapshot, &old).await?;
    let wanted = backup.top_level();
    let total = wanted.len() as u64;
    let mut envs: Vec<Env> = wanted.iter().map(|(e, _)| *e).collect();
    envs.dedup();
    let seen = match available(&client, &new, &envs).await {
        Ok(s) => s,
        // A poll that fails for a passing reason is one more wait, not the end of a wait of days.
        Err(e) if azure_failure("", &e).retryable => {
            return Ok(StepOutcome::poll_after(
                ctx.now(),
                interval,
                format!("the new connector could not be polled ({e}); polling again"),
                None,
            ))
        }
        Err(e) => return Err(azure_failure(&format!("listing what `{new}` can onboard"), &e)),
    };
    let mut held: Vec<String> = Vec::new();
    for (env, name) in &wanted {
        if let Some(why) = holdup(seen.get(&(*env, name.to_ascii_lowercase()))) {
            held.push(format!("{} `{name}` ({why})", env.noun()));
        }
    }
    let released = total - held.len() as u64;
    ctx.progress(released, total, format!("{released} of {total} released"));
    if held.is_empty() {
        let mut out = Map::new();
        out.insert("released".into(), json!(released));
        out.insert("total".into(), json!(total));
        out.insert("released_at".into(), json!(rfc3339(ctx.now())));
        return Ok(StepOutcome::ok(out));
    }
    let shown: Vec<&str> = held.iter().take(10).map(String::as_str).collect();
    let more =
        if held.len() > 10 { format!(" and {} more", held.len() - 10) } else { String::new() };
    Ok(StepOutcome::poll_after(
        ctx.now(),
        interval,
        format!(
            "{released} of {total} released; still held: {}{more} (Microsoft support releases \
             them after the ticket is handled)",
            shown.join(", ")
        ),
        None,
    ))
}

/// The environment of a connector type as discover names it (`AzureDevOps`, `Github`, `GitLab`).
pub(crate) fn env_of_type(t: &str) -> Option<Env> {
    match t.to_ascii_lowercase().as_str() {
        "azuredevops" => Some(Env::AzureDevOps),
        "github" => Some(Env::GitHub),
        "gitlab" => Some(Env::GitLab),
        _ => None,
    }
}

/// The top-level items (orgs, owners, top-level groups) a connector owns, lowercase.
pub(crate) async fn owned_top_level(
    client: &ArmClient,
    connector: &ResourceId,
    env: Env,
) -> Result<Vec<String>, AzureError> {
    let names: Vec<String> = match env {
        Env::AzureDevOps => client
            .list_azure_devops_orgs(connector)
            .await?
            .into_iter()
            .filter_map(|o| o.name)
            .collect(),
        Env::GitHub => {
            client.list_github_owners(connector).await?.into_iter().filter_map(|o| o.name).collect()
        }
        Env::GitLab => {
            client.list_gitlab_groups(connector).await?.into_iter().filter_map(|o| o.name).collect()
        }
    };
    Ok(names.into_iter().map(|n| n.to_ascii_lowercase()).filter(|n| !n.contains('$')).collect())
}

/// The connector's environment: the fan-out item's type, else the new connector's
/// `environmentName`.
pub(crate) async fn env_for(
    ctx: &StepContext,
    client: &ArmClient,
    new: &ResourceId,
) -> Result<Env, StepError> {
    let from_item = crate::steps::recovery::connector_item(ctx)
        .ok()
        .and_then(|i| env_of_type(&i.connector_type));
    if let Some(e) = from_item {
        return Ok(e);
    }
    let c = client
        .get_connector(new)
        .await
        .map_err(|e| azure_failure(&format!("reading {new}"), &e))?;
    let name = c
        .properties
        .as_ref()
        .and_then(|p| serde_json::to_value(&p.environment_name).ok())
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    env_of_type(&name).ok_or_else(|| {
        StepError::fatal(format!(
            "`{new}` is not a DevOps connector (environmentName `{name}`): nothing to wait for"
        ))
    })
}

/// The wait without a backup: see the module doc.
async fn without_backup(
    ctx: &StepContext,
    client: &Arc<ArmClient>,
    old: &ResourceId,
    new: &ResourceId,
    interval: Duration,
) -> Result<StepOutcome, StepError> {
    let env = env_for(ctx, client, new).await?;
    let candidates: Vec<crate::steps::recovery::ConnectorItem> =
        serde_json::from_value(ctx.inputs.get("candidates").cloned().unwrap_or(json!([])))
            .unwrap_or_default();
    let same_type = |c: &&crate::steps::recovery::ConnectorItem| {
        env_of_type(&c.connector_type) == Some(env)
            && ResourceId::parse(&c.resource_id).is_ok_and(|id| id != *old && id != *new)
    };
    let old_region = candidates
        .iter()
        .find(|c| ResourceId::parse(&c.resource_id).is_ok_and(|id| id == *old))
        .map(|c| crate::text::normalize_region(&c.region))
        .or_else(|| {
            crate::steps::recovery::connector_item(ctx)
                .ok()
                .map(|i| crate::text::normalize_region(&i.region))
        })
        .unwrap_or_default();
    let in_failed_region = |c: &crate::steps::recovery::ConnectorItem| {
        crate::text::normalize_region(&c.region) == old_region
    };
    // What earlier polls learnt: owners of held items (connectors that answer), and which
    // healthy connectors were asked already.
    let mut scratch = ctx.scratch.clone().filter(Value::is_object).unwrap_or_else(|| json!({}));
    let mut others: BTreeMap<String, String> =
        serde_json::from_value(scratch["others"].clone()).unwrap_or_default();
    let mut asked: Vec<String> =
        serde_json::from_value(scratch["asked"].clone()).unwrap_or_default();

    let seen = match available(client, new, &[env]).await {
        Ok(s) => s,
        Err(e) if azure_failure("", &e).retryable => {
            return Ok(StepOutcome::poll_after(
                ctx.now(),
                interval,
                format!("the new connector could not be polled ({e}); polling again"),
                Some(scratch),
            ))
        }
        Err(e) => return Err(azure_failure(&format!("listing what `{new}` can onboard"), &e)),
    };
    let items: BTreeMap<String, Option<OnboardingState>> = seen
        .into_iter()
        .filter(|((_, name), _)| !name.contains('$'))
        .map(|((_, name), state)| (name, state))
        .collect();
    let noun = env.noun();
    if items.is_empty() {
        return Ok(StepOutcome::poll_after(
            ctx.now(),
            interval,
            format!(
                "no backup: waiting until the new connector sees any {noun} (it sees none yet; if this lasts, the account that authorized it cannot see the old connector's: authorize it again with one that can)"
            ),
            Some(scratch),
        ));
    }
    let held_by_someone = |state: &Option<OnboardingState>| holdup(Some(state)).is_some();
    let held = |others: &BTreeMap<String, String>| -> Vec<String> {
        items
            .iter()
            .filter(|(n, s)| held_by_someone(s) && !others.contains_key(*n))
            .map(|(n, _)| n.clone())
            .collect()
    };
    // Healthy connectors of the same type (outside the failed region): asked once each.
    if !held(&others).is_empty() {
        for c in candidates.iter().filter(same_type).filter(|c| !in_failed_region(c)) {
            if asked.iter().any(|a| a.eq_ignore_ascii_case(&c.resource_id)) {
                continue;
            }
            let Ok(id) = ResourceId::parse(&c.resource_id) else { continue };
            match owned_top_level(client, &id, env).await {
                Ok(names) => {
                    for n in names {
                        others.entry(n).or_insert_with(|| c.name.clone());
                    }
                    asked.push(c.resource_id.clone());
                }
                Err(e) if e.is_not_found() => asked.push(c.resource_id.clone()),
                // Asked again on the next poll.
                Err(_) => {}
            }
        }
    }
    // The connectors this run created for other failed connectors of the same type: their
    // release moves items to them, so they are asked on every poll (not cached).
    let mut this_run: BTreeMap<String, String> = BTreeMap::new();
    let siblings: Vec<String> = candidates
        .iter()
        .filter(same_type)
        .filter(|c| in_failed_region(c))
        .map(|c| c.resource_id.to_ascii_lowercase())
        .collect();
    if !held(&others).is_empty() && !siblings.is_empty() {
        // Where this run puts new connectors: its own target's subscription, or the old ones'.
        let mut subs: std::collections::BTreeSet<String> =
            [old.subscription.to_ascii_lowercase(), new.subscription.to_ascii_lowercase()].into();
        subs.extend(
            siblings
                .iter()
                .filter_map(|s| ResourceId::parse(s).ok())
                .map(|id| id.subscription.to_ascii_lowercase()),
        );
        for sub in subs {
            let Ok(list) = client.list_connectors_by_subscription(&sub).await else { continue };
            for c in list {
                let tags = c.tags.clone().unwrap_or_default();
                let mine =
                    tags.get(crate::steps::connector::TAG_RUN).is_some_and(|r| *r == ctx.run_id);
                let replaces = tags
                    .get(crate::steps::connector::TAG_REPLACES)
                    .is_some_and(|r| siblings.contains(&r.to_ascii_lowercase()));
                let Some(id) = c.id.as_deref().and_then(|i| ResourceId::parse(i).ok()) else {
                    continue;
                };
                if !mine || !replaces || id == *new {
                    continue;
                }
                if let Ok(names) = owned_top_level(client, &id, env).await {
                    for n in names {
                        this_run.entry(n).or_insert_with(|| id.name().to_string());
                    }
                }
            }
        }
    }
    scratch["others"] = json!(others);
    scratch["asked"] = json!(asked);
    let mut accounted = others.clone();
    for (k, v) in &this_run {
        accounted.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let remaining = held(&accounted);
    let onboarded: Vec<String> = items
        .iter()
        .filter(|(_, s)| matches!(s, Some(OnboardingState::Onboarded)))
        .map(|(n, _)| n.clone())
        .collect();
    let total = (onboarded.len() + remaining.len()) as u64;
    ctx.progress(
        onboarded.len() as u64,
        total,
        format!("no backup: {} of {total} {noun}s onboarded by the new connector", onboarded.len()),
    );
    if remaining.is_empty() {
        let owned_by_others: Vec<Value> = items
            .keys()
            .filter_map(|n| accounted.get(n).map(|o| json!({"name": n, "owner": o})))
            .collect();
        let mut out = Map::new();
        out.insert("released".into(), json!(onboarded.len()));
        out.insert("total".into(), json!(onboarded.len()));
        out.insert("released_at".into(), json!(rfc3339(ctx.now())));
        out.insert("snapshot_id".into(), Value::Null);
        out.insert(
            "inventory_source".into(),
            json!("new connector (no backup: the old connector's list is unknown)"),
        );
        out.insert("onboarded".into(), json!(onboarded));
        out.insert("owned_by_other_connectors".into(), json!(owned_by_others));
        return Ok(StepOutcome::ok(out));
    }
    let shown: Vec<String> = remaining
        .iter()
        .take(10)
        .map(|n| {
            let why =
                holdup(items.get(n).map(|s| s as &Option<OnboardingState>)).unwrap_or_default();
            format!("{noun} `{n}` ({why})")
        })
        .collect();
    let more = if remaining.len() > 10 {
        format!(" and {} more", remaining.len() - 10)
    } else {
        String::new()
    };
    // Quoted when labelled: `[...]` is a glob pattern to a shell.
    let instance = match &ctx.label {
        Some(_) => format!("'{}'", ctx.instance_name()),
        None => ctx.instance_name(),
    };
    Ok(StepOutcome::poll_after(
        ctx.now(),
        interval,
        format!(
            "no backup: still held: {}{more}, taken to be the old connector `{}`'s (Microsoft support releases them after the ticket is handled); if one belongs to another connector, one lifeboat cannot read, the wait cannot end by itself: check in the portal, then `lifeboat skip {} {instance} --reason TEXT`",
            shown.join(", "),
            old.name(),
            ctx.run_id
        ),
        Some(scratch),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_onboarding_state_is_not_released_and_is_shown() {
        let unknown = Some(OnboardingState::from("PendingTransfer"));
        let why = holdup(Some(&unknown)).expect("an unknown state holds the wait");
        assert!(why.contains("`PendingTransfer`") && why.contains("not released yet"), "{why}");
        assert_eq!(holdup(Some(&Some(OnboardingState::Onboarded))), None);
        assert!(holdup(Some(&Some(OnboardingState::OnboardedByOtherConnector))).is_some());
        assert!(holdup(None).is_some());
    }
}
