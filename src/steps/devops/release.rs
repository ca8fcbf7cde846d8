//! `devops.wait-for-release`: a durable poll of the new connector's `listAvailable*` operations
//! until every Azure DevOps org, GitHub owner and top-level GitLab group of the backup is
//! present and no longer `OnboardedByOtherConnector` (Microsoft released it from the old
//! connector). Each poll returns [`StepOutcome::Wait`], so a wait of days survives restarts;
//! the step's `timeout` bounds the whole wait (the engine enforces it, as for `wait.until`).

use super::*;
use crate::azure::models::OnboardingState;
use crate::steps::kind::{info, StepKind};
use crate::steps::StepKindInfo;
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
    let snapshot = required_str(&ctx, "snapshot_id")?;
    let old = connector_input(&ctx, "old_resource_id")?;
    let new = connector_input(&ctx, "new_resource_id")?;
    let interval = poll_interval_input(&ctx, Duration::from_secs(300))?;
    let client = arm_client(&ctx)?;
    let store = backup_store(&ctx)?;
    let backup = BackupView::load(&store, &snapshot, &old).await?;
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
