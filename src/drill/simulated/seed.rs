//! `drill --from-backup`: the simulator's cloud built from the organisation's own snapshot
//! ([`cloud_from_snapshot`]): every connector with its real name, kind, tags, location,
//! subscription and resource group, its DevOps configuration, and every Azure DevOps org,
//! project and repo, GitHub owner and repo, GitLab group and project the snapshot holds, with
//! their settings and whatever else ARM returned for them, at the snapshot's scale.
//!
//! The drill builds the cloud through the simulator's public model (as a test's own cloud), so
//! the simulator keeps its own knowledge: it serves what it was seeded with, shaped as it shapes
//! everything it serves. What a snapshot cannot tell is chosen pessimistically and listed in the
//! returned notes (and `docs/drill.md`):
//! - a connector's identity sees only what the connector owned (a snapshot lists only that);
//! - a resource group is located in its first connector's region (a snapshot does not record
//!   group locations; ARM blocks writes to a group of the failed region: the recovery must put
//!   the new connector elsewhere, as it must when that is true);
//! - an item two connectors both list as onboarded belongs to the first in resource-ID order.

use crate::backup::ResourceKind;
use crate::error::UserError;
use crate::sim::model::{
    connector_key, item_key, AdoOrg, AdoProject, AdoRepo, Cloud, Connector, DevOps, Env, GhOwner,
    GhRepo, GlGroup,
};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

/// The tenant ID of a seeded cloud (a snapshot does not record the tenant).
const SEEDED_TENANT: &str = "00000000-0000-4000-8000-00000000b0b0";

/// Top-level fields of a resource the simulator generates itself (or, for a connector, keeps in
/// fields of its own): never copied into the "unknown fields" it overlays.
const GENERATED_TOP: &[&str] =
    &["id", "name", "type", "location", "kind", "etag", "tags", "properties", "systemData"];

/// `properties` fields every child resource gets from the simulator, relative to the connector
/// that shows it (its onboarding and provisioning state), or kept in fields of their own.
const GENERATED_PROPERTIES: &[&str] = &[
    "onboardingState",
    "provisioningState",
    "provisioningStatusMessage",
    "provisioningStatusUpdateTimeUtc",
    "actionableRemediation",
];

/// `properties` of a DevOps configuration the simulator generates (or must never hold: the
/// OAuth code).
const GENERATED_CONFIG: &[&str] = &[
    "provisioningState",
    "provisioningStatusMessage",
    "provisioningStatusUpdateTimeUtc",
    "capabilities",
    "authorization",
];

/// The simulator's cloud, and what the seeding had to decide (one line each).
pub struct Seeded {
    pub cloud: Cloud,
    pub notes: Vec<String>,
}

/// Builds the cloud a snapshot describes. `objects`: every object of the snapshot by resource ID
/// (as stored: its case), with its kind. `base_unix`: simulated time zero (the drill's start).
/// An object the simulator cannot place (an ID that is not a connector's or its children's) is
/// bad input: exit 2 naming it.
pub fn cloud_from_snapshot(
    snapshot_id: &str,
    objects: &BTreeMap<String, (ResourceKind, Value)>,
    base_unix: i64,
) -> Result<Seeded, UserError> {
    let mut s = Seeder {
        cloud: Cloud::empty(SEEDED_TENANT, base_unix),
        notes: Vec::new(),
        snapshot_id,
        base_unix,
    };
    // Connectors first, then their children, each parent before its children (resource-ID
    // order within a kind's level is enough: a parent's ID is a prefix of its children's).
    let mut sorted: Vec<(&String, &(ResourceKind, Value))> = objects.iter().collect();
    sorted.sort_by_key(|(id, (kind, _))| (depth(*kind), id.to_ascii_lowercase()));
    for (id, (kind, body)) in sorted {
        s.place(id, *kind, body)?;
    }
    let mut subs: BTreeSet<String> = BTreeSet::new();
    for c in s.cloud.connectors.values() {
        subs.insert(c.subscription.clone());
    }
    s.cloud.subscriptions = subs.into_iter().collect();
    s.cloud.derive_missing_groups();
    s.cloud.seed_security_rows_of_all();
    Ok(Seeded { cloud: s.cloud, notes: s.notes })
}

/// Parents before children.
fn depth(kind: ResourceKind) -> u8 {
    match kind {
        ResourceKind::Connector => 0,
        ResourceKind::DevOpsConfiguration => 1,
        ResourceKind::AzureDevOpsOrg | ResourceKind::GitHubOwner | ResourceKind::GitLabGroup => 2,
        ResourceKind::AzureDevOpsProject
        | ResourceKind::GitHubRepo
        | ResourceKind::GitLabProject => 3,
        ResourceKind::AzureDevOpsRepo => 4,
    }
}

struct Seeder<'a> {
    cloud: Cloud,
    notes: Vec<String>,
    snapshot_id: &'a str,
    base_unix: i64,
}

/// A connector's ID split: (subscription, resource group, name).
fn connector_parts(id: &str) -> Option<(String, String, String)> {
    let s: Vec<&str> = id.split('/').collect();
    match s.as_slice() {
        ["", sub, subv, rg, rgv, prov, ns, ty, name]
            if sub.eq_ignore_ascii_case("subscriptions")
                && rg.eq_ignore_ascii_case("resourceGroups")
                && prov.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("Microsoft.Security")
                && ty.eq_ignore_ascii_case("securityConnectors")
                && ![subv, rgv, name].iter().any(|p| p.is_empty()) =>
        {
            Some((subv.to_string(), rgv.to_string(), name.to_string()))
        }
        _ => None,
    }
}

/// A child's ID split at `/devops/default`: (the connector's key, the segments after it).
fn child_parts(id: &str) -> Option<(String, Vec<String>)> {
    const MARK: &str = "/devops/default";
    let at = id.to_ascii_lowercase().find(MARK)?;
    let (sub, rg, name) = connector_parts(&id[..at])?;
    let tail: Vec<String> =
        id[at + MARK.len()..].split('/').filter(|p| !p.is_empty()).map(String::from).collect();
    Some((connector_key(&sub, &rg, &name), tail))
}

fn text<'v>(body: &'v Value, pointer: &str) -> Option<&'v str> {
    body.pointer(pointer).and_then(Value::as_str)
}

/// The fields of `body` the simulator does not generate: unknown top-level fields, and a
/// `properties` object of the unknown ones of `properties` (`drop`: more generated ones).
fn unknown_fields(body: &Value, drop: &[&str]) -> Map<String, Value> {
    let mut out: Map<String, Value> = body
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !GENERATED_TOP.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let props: Map<String, Value> = body
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(k, _)| {
                    !GENERATED_PROPERTIES.contains(&k.as_str()) && !drop.contains(&k.as_str())
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    if !props.is_empty() {
        out.insert("properties".into(), Value::Object(props));
    }
    out
}

impl Seeder<'_> {
    fn bad(&self, id: &str, what: &str) -> UserError {
        UserError::usage(format!(
            "snapshot {} holds {id}, which the drill cannot place: {what}",
            self.snapshot_id
        ))
        .with_hint("drill another snapshot by ID (`lifeboat backup list`), or report the snapshot's lifeboat version")
    }

    /// Simulated seconds of an RFC 3339 time (relative to simulated time zero), if it is one.
    fn at(&self, t: Option<&str>) -> f64 {
        t.and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0.0, |t| (t.unix_timestamp() - self.base_unix) as f64)
    }

    fn place(&mut self, id: &str, kind: ResourceKind, body: &Value) -> Result<(), UserError> {
        if kind == ResourceKind::Connector {
            return self.connector(id, body);
        }
        let Some((key, tail)) = child_parts(id) else {
            return Err(self.bad(id, "its ID is not under a security connector's devops/default"));
        };
        if !self.cloud.connectors.contains_key(&key) {
            self.notes.push(format!("{id} left out: its connector is not in the snapshot"));
            return Ok(());
        }
        if kind == ResourceKind::DevOpsConfiguration {
            return self.configuration(&key, body);
        }
        if self.cloud.connectors.get(&key).is_some_and(|c| c.devops.is_none()) {
            self.notes.push(format!(
                "{id} left out: its connector has no DevOps configuration in the snapshot"
            ));
            return Ok(());
        }
        let t: Vec<&str> = tail.iter().map(String::as_str).collect();
        match (kind, t.as_slice()) {
            (ResourceKind::AzureDevOpsOrg, [_, o]) => self.ado(&key, body, o, None, None),
            (ResourceKind::AzureDevOpsProject, [_, o, _, p]) => {
                self.ado(&key, body, o, Some(p), None)
            }
            (ResourceKind::AzureDevOpsRepo, [_, o, _, p, _, r]) => {
                self.ado(&key, body, o, Some(p), Some(r))
            }
            (ResourceKind::GitHubOwner, [_, o]) => self.github(&key, body, o, None),
            (ResourceKind::GitHubRepo, [_, o, _, r]) => self.github(&key, body, o, Some(r)),
            (ResourceKind::GitLabGroup, [_, g]) => self.gitlab(&key, body, g, None),
            (ResourceKind::GitLabProject, [_, g, _, p]) => self.gitlab(&key, body, g, Some(p)),
            _ => Err(self.bad(id, &format!("its ID does not fit a {}", kind.as_str()))),
        }
    }

    fn connector(&mut self, id: &str, body: &Value) -> Result<(), UserError> {
        let Some((sub, rg, name)) = connector_parts(id) else {
            return Err(self.bad(
                id,
                "it is recorded as a connector but its ID is not a security connector's",
            ));
        };
        let key = connector_key(&sub, &rg, &name);
        let Some(location) = text(body, "/location").filter(|l| !l.trim().is_empty()) else {
            return Err(self.bad(id, "the connector has no location"));
        };
        let etag = match text(body, "/etag") {
            Some(e) => e.to_string(),
            None => format!("\"{}\"", self.cloud.next_guid()),
        };
        let connector = Connector {
            id: text(body, "/id").unwrap_or(id).to_string(),
            name: text(body, "/name").unwrap_or(&name).to_string(),
            subscription: sub,
            resource_group: rg,
            location: location.to_string(),
            kind: text(body, "/kind").unwrap_or("").to_string(),
            etag,
            tags: body.get("tags").filter(|t| t.is_object()).cloned().unwrap_or_else(|| json!({})),
            properties: body.get("properties").cloned().unwrap_or_else(|| json!({})),
            created_at: self.at(text(body, "/systemData/createdAt")),
            modified_at: self.at(text(body, "/systemData/lastModifiedAt")),
            devops: None,
            extra: without(body.as_object(), GENERATED_TOP),
        };
        if self.cloud.connectors.insert(key, connector).is_some() {
            return Err(self.bad(id, "the snapshot holds this connector twice"));
        }
        Ok(())
    }

    fn configuration(&mut self, key: &str, body: &Value) -> Result<(), UserError> {
        let properties: Map<String, Value> =
            without(body.get("properties").and_then(Value::as_object), GENERATED_CONFIG);
        let devops = DevOps {
            properties: Value::Object(properties),
            provisioning_state: text(body, "/properties/provisioningState")
                .unwrap_or("Succeeded")
                .to_string(),
            status_message: text(body, "/properties/provisioningStatusMessage").map(String::from),
            updated_at: self.at(text(body, "/properties/provisioningStatusUpdateTimeUtc")),
            // It worked when the snapshot was taken: the OAuth token had been exchanged.
            authorized: true,
            visible: Vec::new(),
            settings: BTreeMap::new(),
            extra: without(body.as_object(), GENERATED_TOP),
            documents: BTreeMap::new(),
        };
        if let Some(c) = self.cloud.connectors.get_mut(key) {
            c.devops = Some(devops);
        }
        Ok(())
    }

    /// A top-level item listed under `key`: visible to its identity, and owned by it when the
    /// snapshot says it was onboarded there (first connector wins; a second is a note).
    fn top_level(&mut self, key: &str, env: Env, name: &str, body: &Value) {
        let lower = name.to_ascii_lowercase();
        if let Some(d) = self.cloud.connectors.get_mut(key).and_then(|c| c.devops.as_mut()) {
            if !d.visible.contains(&lower) {
                d.visible.push(lower.clone());
            }
        }
        let state = text(body, "/properties/onboardingState").unwrap_or("Onboarded");
        if state != "Onboarded" {
            return;
        }
        let item = item_key(env, name);
        match self.cloud.owners.get(&item) {
            None => {
                self.cloud.owners.insert(item, key.to_string());
            }
            Some(owner) if owner == key => {}
            Some(owner) => {
                let first = self.cloud.connectors.get(owner).map_or(owner.as_str(), |c| &c.name);
                let second = self.cloud.connectors.get(key).map_or(key, |c| &c.name);
                self.notes.push(format!(
                    "{name} is onboarded by both {first} and {second} in the snapshot: the simulator gives it to {first}"
                ));
            }
        }
    }

    fn devops_mut(&mut self, key: &str) -> Option<&mut DevOps> {
        self.cloud.connectors.get_mut(key).and_then(|c| c.devops.as_mut())
    }

    /// An Azure DevOps org, project or repo: the world gets it (with its real project and repo
    /// IDs and visibility), the connector its `actionableRemediation` and unknown fields.
    fn ado(
        &mut self,
        key: &str,
        body: &Value,
        org: &str,
        project: Option<&str>,
        repo: Option<&str>,
    ) -> Result<(), UserError> {
        let org_l = org.to_ascii_lowercase();
        self.cloud
            .ado
            .entry(org_l.clone())
            .or_insert_with(|| AdoOrg { name: org.to_string(), projects: BTreeMap::new() });
        let mut path = org_l.clone();
        match project {
            None => self.top_level(key, Env::AzureDevOps, org, body),
            Some(p) => {
                let p_l = p.to_ascii_lowercase();
                path = format!("{path}/{p_l}");
                let exists =
                    self.cloud.ado.get(&org_l).is_some_and(|o| o.projects.contains_key(&p_l));
                // The project's own ID from its own body; a generated one only until it comes.
                let project_id = match (repo, text(body, "/properties/projectId")) {
                    (None, Some(id)) => Some(id.to_string()),
                    _ if !exists => Some(self.cloud.next_guid()),
                    _ => None,
                };
                let repo_id = match (repo, text(body, "/properties/repoId")) {
                    (Some(_), Some(id)) => id.to_string(),
                    _ => self.cloud.next_guid(),
                };
                let Some(o) = self.cloud.ado.get_mut(&org_l) else { return Ok(()) };
                let pr = o.projects.entry(p_l).or_insert_with(|| AdoProject {
                    name: p.to_string(),
                    id: String::new(),
                    repos: BTreeMap::new(),
                });
                if let Some(id) = project_id {
                    pr.id = id;
                }
                if let Some(r) = repo {
                    let r_l = r.to_ascii_lowercase();
                    path = format!("{path}/{r_l}");
                    let visibility =
                        text(body, "/properties/visibility").unwrap_or("private").to_string();
                    pr.repos.insert(r_l, AdoRepo { name: r.to_string(), id: repo_id, visibility });
                }
            }
        }
        let document = unknown_fields(
            body,
            &["parentOrgName", "parentProjectName", "projectId", "repoId", "repoUrl", "visibility"],
        );
        let remediation = body.pointer("/properties/actionableRemediation").cloned();
        if let Some(d) = self.devops_mut(key) {
            if let Some(r) = remediation {
                d.settings.insert(path.clone(), r);
            }
            if !document.is_empty() {
                d.documents.insert(path, document);
            }
        }
        Ok(())
    }

    fn github(
        &mut self,
        key: &str,
        body: &Value,
        owner: &str,
        repo: Option<&str>,
    ) -> Result<(), UserError> {
        let owner_l = owner.to_ascii_lowercase();
        if !self.cloud.github.contains_key(&owner_l) {
            let internal_id = match (repo, text(body, "/properties/gitHubInternalId")) {
                (None, Some(id)) => id.to_string(),
                _ => self.cloud.next_guid(),
            };
            self.cloud.github.insert(
                owner_l.clone(),
                GhOwner {
                    name: owner.to_string(),
                    internal_id,
                    repos: Vec::new(),
                    extra: Map::new(),
                },
            );
        }
        match repo {
            None => {
                let extra = unknown_fields(body, &["ownerUrl", "gitHubInternalId"]);
                if let Some(o) = self.cloud.github.get_mut(&owner_l) {
                    if let Some(id) = text(body, "/properties/gitHubInternalId") {
                        o.internal_id = id.to_string();
                    }
                    o.extra = extra;
                }
                self.top_level(key, Env::Github, owner, body);
            }
            Some(r) => {
                let id = match text(body, "/properties/repoId") {
                    Some(id) => id.to_string(),
                    None => self.cloud.next_guid(),
                };
                let extra = unknown_fields(
                    body,
                    &["repoId", "repoName", "repoFullName", "repoUrl", "parentOwnerName"],
                );
                if let Some(o) = self.cloud.github.get_mut(&owner_l) {
                    if !o.repos.iter().any(|x| x.name.eq_ignore_ascii_case(r)) {
                        o.repos.push(GhRepo { name: r.to_string(), id, extra });
                    }
                }
            }
        }
        Ok(())
    }

    fn gitlab(
        &mut self,
        key: &str,
        body: &Value,
        group: &str,
        project: Option<&str>,
    ) -> Result<(), UserError> {
        let group_l = group.to_ascii_lowercase();
        let g = self.cloud.gitlab.entry(group_l.clone()).or_insert_with(|| GlGroup {
            fq_name: group.to_string(),
            projects: Vec::new(),
            extra: Map::new(),
            project_extra: BTreeMap::new(),
        });
        const GENERATED: &[&str] = &[
            "fullyQualifiedName",
            "fullyQualifiedFriendlyName",
            "fullyQualifiedParentGroupName",
            "url",
        ];
        match project {
            None => {
                g.extra = unknown_fields(body, GENERATED);
                if !group.contains('$') {
                    self.top_level(key, Env::GitLab, group, body);
                }
            }
            Some(p) => {
                if !g.projects.iter().any(|x| x.eq_ignore_ascii_case(p)) {
                    g.projects.push(p.to_string());
                }
                let extra = unknown_fields(body, GENERATED);
                if !extra.is_empty() {
                    g.project_extra.insert(p.to_ascii_lowercase(), extra);
                }
            }
        }
        Ok(())
    }
}

/// DevOps connectors by region (normalised), of a cloud: what `--region` may name.
pub fn regions(cloud: &Cloud) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in cloud.connectors.values().filter(|c| c.env().is_some()) {
        *out.entry(c.region()).or_insert(0) += 1;
    }
    out
}

/// The fields of `object` but those the service generates (`generated`), which the seeded
/// simulator makes up itself; nothing when there is no object.
fn without<C: FromIterator<(String, Value)>>(
    object: Option<&Map<String, Value>>,
    generated: &[&str],
) -> C {
    object
        .into_iter()
        .flatten()
        .filter(|(k, _)| !generated.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "/subscriptions/s1/resourceGroups/RG-One/providers/Microsoft.Security/securityConnectors/ado-weu";

    fn objects(list: Vec<(&str, ResourceKind, Value)>) -> BTreeMap<String, (ResourceKind, Value)> {
        list.into_iter().map(|(id, k, v)| (id.to_string(), (k, v))).collect()
    }

    #[test]
    fn a_snapshot_becomes_connectors_settings_and_owners() {
        let org = format!("{C}/devops/default/azureDevOpsOrgs/Contoso");
        let repo = format!("{org}/projects/Pay/repos/Web");
        let objs = objects(vec![
            (
                C,
                ResourceKind::Connector,
                json!({"id": C, "name": "ado-weu", "location": "West Europe", "kind": "k1",
                       "tags": {"owner": "me"}, "futureTop": 1,
                       "properties": {"environmentName": "AzureDevOps"}}),
            ),
            (
                &format!("{C}/devops/default"),
                ResourceKind::DevOpsConfiguration,
                json!({"properties": {"autoDiscovery": "Disabled", "topLevelInventoryList": ["Contoso"],
                       "provisioningState": "Succeeded", "capabilities": []}}),
            ),
            (
                &repo,
                ResourceKind::AzureDevOpsRepo,
                json!({"properties": {"repoId": "r-1", "visibility": "public", "newField": 2,
                       "onboardingState": "Onboarded",
                       "actionableRemediation": {"state": "Disabled"}}}),
            ),
            (
                &org,
                ResourceKind::AzureDevOpsOrg,
                json!({"properties": {"onboardingState": "Onboarded",
                       "actionableRemediation": {"state": "Enabled"}}}),
            ),
        ]);
        let s = cloud_from_snapshot("abc", &objs, 1_700_000_000).unwrap();
        let key = connector_key("s1", "RG-One", "ado-weu");
        let c = &s.cloud.connectors[&key];
        assert_eq!((c.kind.as_str(), c.region().as_str()), ("k1", "westeurope"));
        assert_eq!(c.extra.get("futureTop"), Some(&json!(1)));
        let d = c.devops.as_ref().unwrap();
        assert_eq!(d.visible, vec!["contoso".to_string()]);
        assert_eq!(d.settings["contoso"], json!({"state": "Enabled"}));
        assert_eq!(d.settings["contoso/pay/web"], json!({"state": "Disabled"}));
        assert_eq!(
            d.documents["contoso/pay/web"],
            json!({"properties": {"newField": 2}}).as_object().unwrap().clone()
        );
        assert!(d.properties.get("capabilities").is_none());
        let r = &s.cloud.ado["contoso"].projects["pay"].repos["web"];
        assert_eq!((r.id.as_str(), r.visibility.as_str()), ("r-1", "public"));
        assert_eq!(s.cloud.owners[&item_key(Env::AzureDevOps, "contoso")], key);
        assert_eq!(s.cloud.subscriptions, vec!["s1".to_string()]);
        assert!(s.cloud.group("s1", "rg-one").is_some());
        assert_eq!(regions(&s.cloud).get("westeurope"), Some(&1));
    }

    #[test]
    fn an_object_that_fits_nowhere_is_bad_input_naming_it() {
        let objs = objects(vec![(
            "/subscriptions/s1/providers/Other/x",
            ResourceKind::Connector,
            json!({"location": "eastus"}),
        )]);
        let e = cloud_from_snapshot("abc", &objs, 0).err().unwrap();
        assert_eq!(e.exit, crate::error::Exit::Usage);
        assert!(e.message.contains("/subscriptions/s1/providers/Other/x"), "{}", e.message);
        let orphan = objects(vec![(
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c/devops/default/gitHubOwners/o",
            ResourceKind::GitHubOwner,
            json!({}),
        )]);
        let s = cloud_from_snapshot("abc", &orphan, 0).unwrap();
        assert!(s.cloud.github.is_empty());
        assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    }
}
