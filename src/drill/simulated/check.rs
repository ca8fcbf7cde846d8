//! The independent check of a simulated drill: what the backup and the simulator held before
//! the outage ([`Baseline`]), compared after the run with the simulator's own state, never with
//! what the runbook's own `verify` produced or through the API the runbook used.

use super::SimDrillOptions;
use crate::backup::{self, Manifest, ResourceKind, Store};
use crate::drill::report::Verification;
use crate::error::UserError;
use crate::sim::model::{item_key, Cloud, Env};
use crate::sim::RunningSim;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use time::OffsetDateTime;

/// What recovery must bring back, taken before the outage: every object of the drill's
/// snapshot (read before any tampering) and Microsoft's side of each failed connector (its
/// DevOps findings in the simulator's own state, which Microsoft must recreate for the new
/// connector after the release).
pub(super) struct Baseline {
    objects: BTreeMap<String, (ResourceKind, Value)>,
    microsoft_side: Vec<MicrosoftSide>,
}

impl Baseline {
    /// `failed`: the failed region's DevOps connectors (key, name).
    pub(super) async fn take(
        sim: &RunningSim,
        store: &Store,
        manifest: &Manifest,
        failed: &[(String, String)],
    ) -> Result<Baseline, UserError> {
        let objects = load_objects(store, manifest).await?;
        let microsoft_side = microsoft_side_of(&sim.cloud(), failed);
        Ok(Baseline { objects, microsoft_side })
    }

    /// [`Baseline::take`] from objects already read and verified (`drill --from-backup`: the
    /// organisation's snapshot, by resource ID as its manifest spells it).
    pub(super) fn from_objects(
        sim: &RunningSim,
        objects: &BTreeMap<String, (ResourceKind, Value)>,
        failed: &[(String, String)],
    ) -> Baseline {
        let objects = objects.iter().map(|(id, o)| (id.to_ascii_lowercase(), o.clone())).collect();
        Baseline { objects, microsoft_side: microsoft_side_of(&sim.cloud(), failed) }
    }

    /// The settings of every connector of the failed `region`, setting by setting ([`verify`]).
    pub(super) fn settings(
        &self,
        sim: &RunningSim,
        region: &str,
        opts: &SimDrillOptions,
    ) -> Checked {
        verify(sim, &self.objects, region, opts)
    }

    /// The backed-up resources of the failed `region`'s connectors (each connector and
    /// everything under it), by kind: what the recovery must bring back.
    pub(super) fn to_restore(&self, region: &str) -> BTreeMap<ResourceKind, u64> {
        let mut out = BTreeMap::new();
        for (id, _) in failed_connectors(&self.objects, region) {
            let prefix = format!("{id}/");
            *out.entry(ResourceKind::Connector).or_insert(0) += 1;
            for (child, (kind, _)) in self.objects.range(prefix.clone()..) {
                if !child.starts_with(&prefix) {
                    break;
                }
                *out.entry(*kind).or_insert(0) += 1;
            }
        }
        out
    }

    /// Microsoft's side, recreated for the new connectors by `now` ([`verify_microsoft_side`]).
    pub(super) fn microsoft_side(
        &self,
        sim: &RunningSim,
        now: OffsetDateTime,
    ) -> Vec<Verification> {
        verify_microsoft_side(sim, &self.microsoft_side, now)
    }
}

/// Every object of the manifest, by resource ID (lowercase).
async fn load_objects(
    store: &Store,
    m: &Manifest,
) -> Result<BTreeMap<String, (ResourceKind, Value)>, UserError> {
    let mut out = BTreeMap::new();
    for (id, e) in &m.resources {
        let body = backup::snapshot::load_object(store, &e.hash).await?;
        out.insert(id.to_ascii_lowercase(), (e.kind, body));
    }
    Ok(out)
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(absent)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn check(
    name: String,
    id: &str,
    expected: Option<&Value>,
    actual: Option<&Value>,
    same: bool,
) -> Verification {
    let (e, a) = (text(expected), text(actual));
    Verification {
        detail: if same {
            format!("{name}: {a}, as in the backup")
        } else {
            format!("{name}: the backup has {e}, the live value is {a}")
        },
        name,
        resource_id: Some(id.to_string()),
        passed: same,
        expected: Some(e),
        actual: Some(a),
    }
}

/// Case-insensitive set equality of two string lists (ARM compares names so).
fn same_names(a: Option<&Value>, b: Option<&Value>) -> bool {
    let set = |v: Option<&Value>| -> BTreeSet<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect())
            .unwrap_or_default()
    };
    set(a) == set(b)
}

/// What the independent check found: a verification per setting, and the backed-up resources
/// found back on the new connectors, by kind.
pub(super) struct Checked {
    pub verifications: Vec<Verification>,
    pub restored: BTreeMap<ResourceKind, u64>,
}

/// The backed-up connectors located in `region`: (lowercase ID, body).
fn failed_connectors<'a>(
    objects: &'a BTreeMap<String, (ResourceKind, Value)>,
    region: &str,
) -> Vec<(&'a String, &'a Value)> {
    objects
        .iter()
        .filter(|(_, (k, b))| {
            *k == ResourceKind::Connector
                && b.get("location")
                    .and_then(Value::as_str)
                    .is_some_and(|l| crate::sim::model::normalize_region(l) == region)
        })
        .map(|(id, (_, b))| (id, b))
        .collect()
}

/// The independent check: reads the simulator's own state (not through the API the runbook
/// used) and compares it, setting by setting, with the backup taken before the outage. A
/// resource counts as restored when every check of it passed: a connector when its replacement
/// owns its items from a group outside the failed region with its configuration as backed up;
/// the configuration when every field matched; an org, owner or group when the replacement
/// owns it (an Azure DevOps org, project or repo when its setting matched too); a GitHub repo
/// or GitLab project when the replacement owns its owner or group and the platform still has it.
fn verify(
    sim: &RunningSim,
    objects: &BTreeMap<String, (ResourceKind, Value)>,
    region: &str,
    opts: &SimDrillOptions,
) -> Checked {
    let cloud = sim.cloud().clone();
    let target = crate::sim::model::normalize_region(&opts.target_region);
    let mut out = Vec::new();
    let mut restored: BTreeMap<ResourceKind, u64> = BTreeMap::new();
    let mut bump = |kind: ResourceKind| *restored.entry(kind).or_insert(0) += 1;
    for (old_id, body) in failed_connectors(objects, region) {
        let old_name = body.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let env = body
            .pointer("/properties/environmentName")
            .and_then(Value::as_str)
            .and_then(Env::from_environment_name);
        let Some(env) = env else { continue };
        let prefix = format!("{old_id}/devops/default/");
        // The items the old connector owned, from the backup's own bodies.
        let mut items: Vec<(String, String, Value)> = Vec::new();
        for (id, (kind, b)) in objects.range(prefix.clone()..) {
            if !id.starts_with(&prefix) {
                break;
            }
            let top = matches!(
                kind,
                ResourceKind::AzureDevOpsOrg
                    | ResourceKind::GitHubOwner
                    | ResourceKind::GitLabGroup
            );
            let onboarded = b.pointer("/properties/onboardingState").and_then(Value::as_str)
                == Some("Onboarded");
            if top && onboarded {
                let name = b.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                items.push((id.clone(), name, b.clone()));
            }
        }
        // The new connector: the one that owns the old connector's items now.
        let mut new_key: Option<String> = None;
        // Items (by ownership key) the new connector owns.
        let mut taken_over: BTreeSet<String> = BTreeSet::new();
        for (id, name, _) in &items {
            let owner = cloud.owners.get(&item_key(env, name)).cloned();
            let owner_conn = owner.as_ref().and_then(|k| cloud.connectors.get(k));
            let ok = owner_conn
                .is_some_and(|c| c.region() == target && !c.id.eq_ignore_ascii_case(old_id));
            let actual = owner_conn
                .map(|c| format!("{} ({})", c.name, c.region()))
                .unwrap_or_else(|| "nobody".into());
            out.push(Verification {
                name: format!("{old_name}: {name} owned by a connector in {target}"),
                resource_id: Some(id.clone()),
                passed: ok,
                expected: Some(format!("a new connector in {target}")),
                actual: Some(actual.clone()),
                detail: if ok {
                    format!("{name} was released from {old_name} and is onboarded by {actual}")
                } else {
                    format!("{name} is owned by {actual}, not by a connector in {target}")
                },
            });
            if ok {
                taken_over.insert(item_key(env, name));
            }
            if ok && new_key.is_none() {
                new_key = owner;
            }
        }
        let Some(new_key) = new_key else {
            out.push(Verification {
                name: format!("{old_name}: replacement connector"),
                resource_id: Some(old_id.clone()),
                passed: false,
                expected: Some(format!("a connector in {target} owning the backed-up items")),
                actual: Some("none found".into()),
                detail: format!("no connector in {target} owns what {old_name} owned"),
            });
            continue;
        };
        let new = &cloud.connectors[&new_key];
        // Its resource group: ARM keeps the group's metadata in the group's region, so a group
        // of the failed region would leave the new connector unmanageable in the next outage.
        let group = cloud.group(&new.subscription, &new.resource_group);
        let group_region = group.map(|g| g.region()).unwrap_or_else(|| "(absent)".into());
        let group_ok = group.is_some_and(|g| g.region() != region);
        out.push(Verification {
            name: format!("{old_name}: resource group of {}", new.name),
            resource_id: Some(new.id.clone()),
            passed: group_ok,
            expected: Some(format!("a group located outside {region}")),
            actual: Some(format!("{} in {group_region}", new.resource_group)),
            detail: if group_ok {
                format!("{} is in group {} ({group_region}), outside the failed region", new.name, new.resource_group)
            } else {
                format!("{} is in group {} ({group_region}): writes to it are blocked while {region} is down", new.name, new.resource_group)
            },
        });
        let Some(devops) = &new.devops else {
            out.push(Verification {
                name: format!("{old_name}: DevOps configuration of {}", new.name),
                resource_id: Some(new.id.clone()),
                passed: false,
                expected: Some("a DevOps configuration".into()),
                actual: Some("(absent)".into()),
                detail: format!("{} has no DevOps configuration", new.name),
            });
            continue;
        };
        // The DevOps configuration, field by field.
        let mut config_ok = true;
        if let Some((_, cfg)) = objects.get(&format!("{old_id}/devops/default")) {
            let new_cfg = format!("{}/devops/default", new.id);
            for field in ["autoDiscovery", "agentlessConfiguration", "topLevelInventoryList"] {
                let e = cfg.pointer(&format!("/properties/{field}"));
                let a = devops.properties.get(field);
                let same = if field == "topLevelInventoryList" {
                    same_names(e, a)
                } else {
                    e.unwrap_or(&Value::Null) == a.unwrap_or(&Value::Null)
                };
                config_ok &= same;
                out.push(check(format!("{}: {field}", new.name), &new_cfg, e, a, same));
            }
            if config_ok {
                bump(ResourceKind::DevOpsConfiguration);
            }
        }
        if config_ok && group_ok {
            bump(ResourceKind::Connector);
        }
        // GitHub owners and GitLab groups: owned by the replacement. Their repos and projects
        // (read-only in the API): still on the platform, under an owner or group it owns.
        for (id, (kind, b)) in objects.range(prefix.clone()..) {
            if !id.starts_with(&prefix) {
                break;
            }
            let tail: Vec<&str> = id[prefix.len()..].split('/').collect();
            let back = match (kind, tail.as_slice()) {
                (ResourceKind::GitHubOwner | ResourceKind::GitLabGroup, _) => {
                    let name = b.get("name").and_then(Value::as_str).unwrap_or("");
                    taken_over.contains(&item_key(env, name))
                }
                (ResourceKind::GitHubRepo, ["githubowners", o, "repos", r]) => {
                    taken_over.contains(&item_key(Env::Github, o))
                        && cloud.github.get(*o).is_some_and(|owner| {
                            owner.repos.iter().any(|x| x.name.eq_ignore_ascii_case(r))
                        })
                }
                (ResourceKind::GitLabProject, ["gitlabgroups", g, "projects", p]) => {
                    taken_over.contains(&item_key(Env::GitLab, g))
                        && cloud.gitlab.get(*g).is_some_and(|group| {
                            group.projects.iter().any(|x| x.eq_ignore_ascii_case(p))
                        })
                }
                _ => false,
            };
            if back {
                bump(*kind);
            }
        }
        // Every Azure DevOps org, project and repo setting (pull request annotations).
        if env == Env::AzureDevOps {
            for (id, (kind, b)) in objects.range(prefix.clone()..) {
                if !id.starts_with(&prefix) {
                    break;
                }
                if !matches!(
                    kind,
                    ResourceKind::AzureDevOpsOrg
                        | ResourceKind::AzureDevOpsProject
                        | ResourceKind::AzureDevOpsRepo
                ) {
                    continue;
                }
                let Some(path) = ado_path(&id[prefix.len()..]) else { continue };
                let owned = items.iter().any(|(_, n, _)| {
                    path.split('/').next().is_some_and(|o| o.eq_ignore_ascii_case(n))
                });
                if !owned {
                    continue;
                }
                let expected = b.pointer("/properties/actionableRemediation");
                let default = if *kind == ResourceKind::AzureDevOpsOrg {
                    serde_json::json!({"state": "None"})
                } else {
                    serde_json::json!({"inheritFromParentState": "Enabled"})
                };
                let actual = devops.settings.get(&path).cloned().unwrap_or(default);
                let same = expected.unwrap_or(&Value::Null) == &actual;
                let new_id = format!("{}/devops/default/{}", new.id, &id[prefix.len()..]);
                let org = path.split('/').next().unwrap_or("");
                if same && taken_over.contains(&item_key(Env::AzureDevOps, org)) {
                    bump(*kind);
                }
                out.push(check(
                    format!("{}: {path} actionableRemediation", new.name),
                    &new_id,
                    expected,
                    Some(&actual),
                    same,
                ));
            }
        }
    }
    Checked { verifications: out, restored }
}

/// One failed connector's DevOps findings in the simulator before the outage.
#[derive(Debug, Clone)]
struct MicrosoftSide {
    key: String,
    name: String,
    assessments: usize,
    /// When each alert was generated.
    alerts: Vec<OffsetDateTime>,
}

const ALERT_TYPE: &str = "microsoft.security/locations/alerts";
const ASSESSMENT_TYPE: &str = "microsoft.security/assessments";

/// The `securityresources` rows about resources under the connector with this ID: (assessments,
/// alert times).
fn findings_under(cloud: &Cloud, connector_id: &str) -> (usize, Vec<OffsetDateTime>) {
    let prefix = format!("{}/", connector_id.to_ascii_lowercase());
    let mut assessments = 0;
    let mut alerts = Vec::new();
    for r in &cloud.security_resources {
        let under = crate::sim::model::security_row_subject(r)
            .is_some_and(|s| s.to_ascii_lowercase().starts_with(&prefix));
        if !under {
            continue;
        }
        match r.get("type").and_then(Value::as_str) {
            Some(ASSESSMENT_TYPE) => assessments += 1,
            Some(ALERT_TYPE) => {
                let when = r
                    .pointer("/properties/TimeGeneratedUtc")
                    .and_then(Value::as_str)
                    .and_then(|t| {
                        OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                alerts.push(when);
            }
            _ => {}
        }
    }
    (assessments, alerts)
}

fn microsoft_side_of(cloud: &Cloud, failed: &[(String, String)]) -> Vec<MicrosoftSide> {
    failed
        .iter()
        .filter_map(|(key, name)| {
            let c = cloud.connectors.get(key)?;
            let (assessments, alerts) = findings_under(cloud, &c.id);
            Some(MicrosoftSide { key: key.clone(), name: name.clone(), assessments, alerts })
        })
        .collect()
}

/// The independent check of Microsoft's side: for each failed connector, the new connector its
/// release ticket names has at least the old connector's recommendations and every old alert
/// less than a week old (Microsoft does not recreate older ones), read from the simulator's own
/// state. A desk that did not recreate them is a failed verification that says so.
fn verify_microsoft_side(
    sim: &RunningSim,
    before: &[MicrosoftSide],
    now: OffsetDateTime,
) -> Vec<Verification> {
    let cloud = sim.cloud().clone();
    let week_ago = now - Duration::from_secs(7 * 24 * 3600);
    before
        .iter()
        .map(|old| {
            let name = format!("{}: Microsoft's side recreated", old.name);
            let expected_alerts = old.alerts.iter().filter(|t| **t > week_ago).count();
            let expected = format!(
                "at least {} recommendations and {expected_alerts} alerts (of {}; alerts more than a week old are not recreated)",
                old.assessments,
                old.alerts.len()
            );
            let ticket = cloud
                .tickets
                .values()
                .find(|t| t.released && t.release.as_ref().is_some_and(|(o, _)| *o == old.key));
            let Some((ticket, new)) = ticket.and_then(|t| {
                let new = t.release.as_ref().and_then(|(_, n)| cloud.connectors.get(n))?;
                Some((t, new))
            }) else {
                return Verification {
                    name,
                    resource_id: None,
                    passed: false,
                    expected: Some(expected),
                    actual: Some("no release".into()),
                    detail: format!(
                        "the support desk released nothing from {} to a connector that still exists",
                        old.name
                    ),
                };
            };
            let (assessments, alerts) = findings_under(&cloud, &new.id);
            let actual = format!("{assessments} recommendations and {} alerts", alerts.len());
            let passed =
                assessments >= old.assessments && alerts.len() >= expected_alerts;
            let detail = match (passed, ticket.recreated) {
                (true, _) => format!(
                    "Microsoft recreated the DevOps recommendations and alerts of {} for {}: {actual}",
                    old.name, new.name
                ),
                (false, Some(false)) => format!(
                    "Microsoft did not recreate the DevOps recommendations and alerts of {} for {} (the simulated desk was configured not to): {actual}",
                    old.name, new.name
                ),
                (false, _) => format!(
                    "Microsoft had not recreated the DevOps recommendations and alerts of {} for {} when the run ended: {actual}",
                    old.name, new.name
                ),
            };
            Verification {
                name,
                resource_id: Some(new.id.clone()),
                passed,
                expected: Some(expected),
                actual: Some(actual),
                detail,
            }
        })
        .collect()
}

/// `azuredevopsorgs/o/projects/p/repos/r` (lowercase tail of a backup ID) → `o/p/r`.
fn ado_path(tail: &str) -> Option<String> {
    let s: Vec<&str> = tail.split('/').collect();
    match s.as_slice() {
        ["azuredevopsorgs", o] => Some(o.to_string()),
        ["azuredevopsorgs", o, "projects", p] => Some(format!("{o}/{p}")),
        ["azuredevopsorgs", o, "projects", p, "repos", r] => Some(format!("{o}/{p}/{r}")),
        _ => None,
    }
}

/// A tampered-backup drill expects no restore: nothing may have been created in the target.
pub(super) fn verify_untouched(sim: &RunningSim, target_region: &str) -> Vec<Verification> {
    let target = crate::sim::model::normalize_region(target_region);
    let cloud = sim.cloud();
    let created: Vec<String> = cloud
        .connectors
        .values()
        .filter(|c| c.region() == target)
        .map(|c| c.name.clone())
        .collect();
    vec![Verification {
        name: format!("no connector restored in {target} from the altered snapshot"),
        resource_id: None,
        passed: created.is_empty(),
        expected: Some("none".into()),
        actual: Some(if created.is_empty() { "none".into() } else { created.join(", ") }),
        detail: if created.is_empty() {
            "the altered snapshot was refused before anything was created".into()
        } else {
            format!("connectors were created from an altered snapshot: {}", created.join(", "))
        },
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ado_paths_from_backup_ids() {
        assert_eq!(ado_path("azuredevopsorgs/contoso").as_deref(), Some("contoso"));
        assert_eq!(
            ado_path("azuredevopsorgs/contoso/projects/p/repos/r").as_deref(),
            Some("contoso/p/r")
        );
        assert_eq!(ado_path("githubowners/x"), None);
    }
}
