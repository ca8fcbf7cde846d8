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
