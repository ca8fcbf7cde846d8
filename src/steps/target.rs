//! Where a recovered connector goes: its subscription and resource group.
//!
//! A resource group stores its resources' metadata in the group's own region, and ARM may block
//! writes to resources of a group whose region is down (azure-specs README, "Resource group whose
//! region is unavailable"). So the new connector never lands in the old connector's group by
//! default: it goes to a group of its own region.
//!
//! The rule, shared by `plan`, the pre-run checks and the connector step:
//! - subscription: `target_subscription`, else the old connector's subscription;
//! - group: `target_resource_group`, else `<old group>-<target region>` (cut to ARM's 90
//!   characters), created in the target region when absent.

use crate::azure::id::ResourceId;
use crate::azure::ArmClient;
use crate::error::UserError;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// ARM's limit on a resource group name (Resource groups API, `resourceGroupName`: 1–90).
pub const MAX_GROUP_NAME: usize = 90;

/// Where one connector is recovered to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub subscription: String,
    pub resource_group: String,
    /// The group was named by the responder (`target_resource_group`), not derived.
    pub group_given: bool,
}

impl Placement {
    /// `/subscriptions/S/resourceGroups/G`.
    pub fn group_scope(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/{}", self.subscription, self.resource_group)
    }
}

/// The default group of a connector recovered from `old_group` into `target_region`.
pub fn default_group(old_group: &str, target_region: &str) -> String {
    let suffix = format!("-{target_region}");
    let keep = MAX_GROUP_NAME.saturating_sub(suffix.len());
    let mut base: String = old_group.chars().take(keep).collect();
    while base.ends_with('.') {
        base.pop();
    }
    format!("{base}{suffix}")
}

/// Checks a resource group name as ARM does (`^[-\w\._\(\)]+$`, 1–90 characters, not ending in a
/// period); the error says what is wrong and how to fix it.
pub fn check_group_name(what: &str, name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 || n > MAX_GROUP_NAME {
        return Err(format!(
            "{what} `{name}` has {n} characters; Azure accepts 1 to {MAX_GROUP_NAME} (choose a shorter name, e.g. rg-devsec-neu)"
        ));
    }
    if let Some(bad) =
        name.chars().find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')')))
    {
        return Err(format!(
            "{what} `{name}` contains `{}`, which Azure refuses in a resource group name (use letters, digits, `-`, `_`, `.`, `(` and `)`)",
            bad.escape_default()
        ));
    }
    if name.ends_with('.') {
        return Err(format!(
            "{what} `{name}` ends with a period, which Azure refuses in a resource group name (drop the final `.`)"
        ));
    }
    Ok(())
}

/// Checks a subscription ID (a GUID).
pub fn check_subscription(what: &str, s: &str) -> Result<(), String> {
    let ok = s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} `{s}` is not a subscription ID (a GUID such as 00000000-0000-0000-0000-000000000000; `az account list -o table` lists yours)"
        ))
    }
}

/// Where the connector `old` goes, from the runbook's `target_subscription` and
/// `target_resource_group` (empty = the defaults above).
pub fn placement(
    old: &ResourceId,
    target_region: &str,
    target_subscription: &str,
    target_resource_group: &str,
) -> Result<Placement, String> {
    let sub = target_subscription.trim();
    let subscription = if sub.is_empty() {
        old.subscription.clone()
    } else {
        check_subscription("target_subscription", sub)?;
        sub.to_ascii_lowercase()
    };
    let given = target_resource_group.trim();
    let resource_group = if given.is_empty() {
        default_group(&old.resource_group, target_region)
    } else {
        check_group_name("target_resource_group", given)?;
        given.to_string()
    };
    // The group's location (never the failed region) is checked where it can be read: by the
    // pre-run checks and the connector step.
    Ok(Placement { subscription, resource_group, group_given: !given.is_empty() })
}

/// Whether an existing target group can take the new connector: not being deleted, and not
/// located in the failed region (ARM keeps a group's metadata there and may block writes to its
/// resources while the region is down). `location` and `state` as ARM returns them; the error
/// names the group, its location, the failed region and the fix.
pub fn check_existing_group(
    p: &Placement,
    location: &str,
    state: &str,
    failed_region: &str,
    target_region: &str,
) -> Result<(), String> {
    let fix = if p.group_given {
        "pass another group with `--set target_resource_group=NAME`".to_string()
    } else {
        format!(
            "pass a group of another region with `--set target_resource_group=NAME` (lifeboat creates it in {target_region} if it does not exist)"
        )
    };
    if state.eq_ignore_ascii_case("Deleting") {
        return Err(format!(
            "the target resource group `{}` (subscription {}) is being deleted (provisioningState Deleting): nothing can be created in it ({fix}, or wait until the deletion has finished)",
            p.resource_group, p.subscription
        ));
    }
    let loc = crate::text::normalize_region(location);
    if !failed_region.is_empty() && loc == crate::text::normalize_region(failed_region) {
        return Err(format!(
            "the target resource group `{}` (subscription {}) is located in {loc}, the failed region: ARM keeps a group's metadata in the group's region and may block every write to its resources while that region is down, so the new connector must not go there ({fix})",
            p.resource_group, p.subscription
        ));
    }
    Ok(())
}

/// One line for `plan`: where the new connectors go under these parameters.
pub fn describe(
    target_region: &str,
    target_subscription: &str,
    target_resource_group: &str,
) -> String {
    let sub = match target_subscription.trim() {
        "" => "each old connector's subscription".to_string(),
        s => format!("subscription {s}"),
    };
    let region = match target_region.trim() {
        "" => "<target_region>".to_string(),
        r => crate::text::normalize_region(r),
    };
    let group = match target_resource_group.trim() {
        "" => format!("resource group `<old group>-{region}` per connector"),
        g => format!("resource group `{g}`"),
    };
    format!(
        "new connectors go to {group} in {sub}; a missing group is created in {region} (tagged lifeboat-run); a group located in the failed region, or being deleted, is refused before any write"
    )
}

/// The kind whose placement this module decides.
const CREATE_KIND: &str = "connector.create-or-adopt";

/// A string input of a step rendered against `ctx` (`""` when absent or not renderable).
fn rendered(step: &crate::runbook::StepDef, key: &str, ctx: &Value) -> String {
    step.with
        .get(key)
        .and_then(|v| crate::engine::template::render_value(v, ctx).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `lifeboat plan`: where the new connectors go, for a runbook with a
/// `connector.create-or-adopt` step (its inputs rendered from the parameters).
pub fn plan_line(plan: &crate::runbook::Plan) -> Option<String> {
    let step = plan.runbook.steps.iter().find(|s| s.uses == CREATE_KIND)?;
    let ctx = json!({"params": plan.params});
    Some(describe(
        &rendered(step, "target_region", &ctx),
        &rendered(step, "target_subscription", &ctx),
        &rendered(step, "target_resource_group", &ctx),
    ))
}

/// Pre-run check (called by `recovery::preflight` once discovery and the backup are rehearsed,
/// reads only): for every connector the `connector.create-or-adopt` step will recover, its
/// placement is valid (subscription ID, group name), the target subscription is visible to the
/// caller, and an existing target group is neither being deleted nor located in the failed
/// region. Bad input is exit 2; Azure failing to answer is exit 1. Nothing is written.
pub async fn check_before_run(
    plan: &crate::runbook::Plan,
    outputs: &BTreeMap<String, Value>,
    services: &crate::engine::kind::Services,
) -> Result<(), UserError> {
    let Some(client) = services.get::<ArmClient>() else { return Ok(()) };
    let steps: Map<String, Value> =
        outputs.iter().map(|(k, v)| (k.clone(), json!({ "outputs": v }))).collect();
    let ctx = json!({"params": plan.params, "steps": steps, "run": {"id": crate::engine::rehearse::RUN_ID}});
    let nothing_changed = "nothing was changed: fix the parameters and run again";
    for step in plan.runbook.steps.iter().filter(|s| s.uses == CREATE_KIND) {
        let items: Vec<Value> = match &step.for_each {
            Some(t) => match crate::engine::template::render_value(&json!(t), &ctx) {
                Ok(Value::Array(a)) => a,
                _ => continue,
            },
            None => match step
                .with
                .get("connector")
                .map(|v| crate::engine::template::render_value(v, &ctx))
            {
                Some(Ok(v)) => vec![v],
                _ => continue,
            },
        };
        let Ok(target) =
            super::recovery::check_region("target_region", &rendered(step, "target_region", &ctx))
        else {
            continue;
        };
        let failed = rendered(step, "failed_region", &ctx);
        let want_sub = rendered(step, "target_subscription", &ctx);
        let want_group = rendered(step, "target_resource_group", &ctx);
        // The parameters themselves, whatever the connectors.
        let given = |r: Result<(), String>| {
            r.map_err(|e| {
                UserError::usage(format!("step {}: {e}", step.id)).with_hint(nothing_changed)
            })
        };
        if !want_group.trim().is_empty() {
            given(check_group_name("target_resource_group", want_group.trim()))?;
        }
        if !want_sub.trim().is_empty() {
            given(check_subscription("target_subscription", want_sub.trim()))?;
        }
        let mut seen_subs: Vec<String> = Vec::new();
        let mut seen_groups: Vec<String> = Vec::new();
        for item in items {
            let Ok(item) = serde_json::from_value::<super::recovery::ConnectorItem>(item) else {
                continue;
            };
            let Ok(old) = ResourceId::parse(&item.resource_id) else { continue };
            let failed =
                if failed.trim().is_empty() { item.region.clone() } else { failed.clone() };
            let who = format!("step {}: connector {}", step.id, item.name);
            let p = placement(&old, &target, &want_sub, &want_group)
                .map_err(|e| UserError::usage(format!("{who}: {e}")).with_hint(nothing_changed))?;
            if !want_sub.trim().is_empty() && !seen_subs.contains(&p.subscription) {
                seen_subs.push(p.subscription.clone());
                match client.get_subscription(&p.subscription).await {
                    Ok(_) => {}
                    Err(e) if matches!(e.status(), Some(403 | 404)) => {
                        return Err(UserError::usage(format!(
                            "{who}: target_subscription `{}` is not visible to this credential ({e})",
                            p.subscription
                        ))
                        .with_hint(
                            "check the ID with `az account list -o table`, or give the credential a role on that subscription (Contributor or Security Admin); nothing was changed",
                        ));
                    }
                    Err(e) => return Err(UserError::failed(format!(
                        "{who}: reading target subscription {}: {e}",
                        p.subscription
                    ))
                    .with_hint(
                        "nothing was changed and no run was created: try again in a few minutes",
                    )),
                }
            }
            let scope = p.group_scope().to_ascii_lowercase();
            if seen_groups.contains(&scope) {
                continue;
            }
            seen_groups.push(scope);
            match client.get_resource_group(&p.subscription, &p.resource_group).await {
                Ok(g) => check_existing_group(
                    &p,
                    g.location.as_deref().unwrap_or_default(),
                    g.provisioning_state(),
                    &failed,
                    &target,
                )
                .map_err(|e| UserError::usage(format!("{who}: {e}")).with_hint(nothing_changed))?,
                // Absent: the connector step creates it in the target region.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(UserError::failed(format!(
                        "{who}: reading target resource group {}: {e}",
                        p.resource_group
                    ))
                    .with_hint("nothing was changed and no run was created: try again in a few minutes, or check the credential's role on the subscription"))
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old() -> ResourceId {
        ResourceId::connector("11111111-2222-3333-4444-555555555555", "rg-devsec-weu", "c1")
    }

    #[test]
    fn default_group_is_the_old_group_with_the_target_region() {
        let p = placement(&old(), "northeurope", "", "").unwrap();
        assert_eq!(p.resource_group, "rg-devsec-weu-northeurope");
        assert_eq!(p.subscription, "11111111-2222-3333-4444-555555555555");
        assert!(!p.group_given);
        assert_eq!(
            p.group_scope(),
            "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-devsec-weu-northeurope"
        );
    }

    #[test]
    fn default_group_fits_arm_limits() {
        let long = format!("{}.", "a".repeat(95));
        let g = default_group(&long, "swedencentral");
        assert!(g.chars().count() <= MAX_GROUP_NAME, "{g}");
        assert!(g.ends_with("-swedencentral"));
        check_group_name("x", &g).unwrap();
    }

    #[test]
    fn existing_groups_in_the_failed_region_or_being_deleted_are_refused() {
        let p = placement(&old(), "northeurope", "", "").unwrap();
        check_existing_group(&p, "northeurope", "Succeeded", "westeurope", "northeurope").unwrap();
        check_existing_group(&p, "uksouth", "Succeeded", "westeurope", "northeurope").unwrap();
        let e = check_existing_group(&p, "West Europe", "Succeeded", "westeurope", "northeurope")
            .unwrap_err();
        for part in [
            "`rg-devsec-weu-northeurope`",
            "located in westeurope, the failed region",
            "--set target_resource_group=NAME",
            "creates it in northeurope",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
        let e = check_existing_group(&p, "northeurope", "Deleting", "westeurope", "northeurope")
            .unwrap_err();
        assert!(e.contains("being deleted (provisioningState Deleting)"), "{e}");
        let given = placement(&old(), "northeurope", "", "rg-dr").unwrap();
        let e =
            check_existing_group(&given, "westeurope", "Succeeded", "westeurope", "x").unwrap_err();
        assert!(e.contains("pass another group with `--set target_resource_group=NAME`"), "{e}");
    }

    #[test]
    fn plan_describes_the_rule() {
        let d = describe("North Europe", "", "");
        assert!(d.contains("`<old group>-northeurope` per connector"), "{d}");
        assert!(d.contains("each old connector's subscription"), "{d}");
        let d = describe("northeurope", "aaaaaaaa-2222-3333-4444-555555555555", "rg-dr");
        assert!(d.contains("resource group `rg-dr` in subscription aaaaaaaa-"), "{d}");
    }

    #[test]
    fn given_names_are_checked_as_arm_does() {
        assert!(placement(&old(), "eastus", "", "rg ops").unwrap_err().contains("` `"));
        assert!(placement(&old(), "eastus", "", "rg.").unwrap_err().contains("period"));
        assert!(placement(&old(), "eastus", "", &"r".repeat(91)).unwrap_err().contains("91"));
        assert!(placement(&old(), "eastus", "nope", "").unwrap_err().contains("GUID"));
        let p = placement(&old(), "eastus", "", "rg-devsec(eus)_1.a").unwrap();
        assert!(p.group_given);
        let p = placement(&old(), "eastus", "AAAAAAAA-2222-3333-4444-555555555555", "").unwrap();
        assert_eq!(p.subscription, "aaaaaaaa-2222-3333-4444-555555555555");
    }
}
