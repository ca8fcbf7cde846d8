//! Tenants the simulator starts from: `small` (named and stable, documented in
//! `docs/simulator.md`), a seeded generator for large ones, and tenant JSON files. All three go
//! through the same [`TenantFile`] loader so the file format is exactly what the built-ins use.

use super::model::*;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The tenant file format (`--tenant FILE`), documented in `docs/simulator.md`. Unknown fields
/// load (a newer file, or fields the simulator does not model): on a connector they become
/// top-level fields of the connector resource, in `devops` fields of the configuration's
/// `properties`, on a GitHub owner or GitLab group fields of that resource; elsewhere they are
/// ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantFile {
    #[serde(default = "default_tenant_id")]
    pub tenant_id: String,
    pub subscriptions: Vec<String>,
    /// The resource groups, with their locations. Absent: every connector's group is created,
    /// located in that connector's region ([`Cloud::derive_missing_groups`]). Present: it must
    /// list every connector's group.
    #[serde(default)]
    pub resource_groups: Option<Vec<TfResourceGroup>>,
    /// The caller's role assignments (`[{"role": "Reader", "scope": "/subscriptions/..."}]`);
    /// absent: Owner of every subscription (`sim::authz`).
    #[serde(default)]
    pub role_assignments: Option<Vec<super::authz::RoleAssignment>>,
    #[serde(default)]
    pub azure_dev_ops: Vec<TfOrg>,
    #[serde(default)]
    pub github: Vec<TfOwner>,
    #[serde(default)]
    pub gitlab: Vec<TfGroup>,
    #[serde(default)]
    pub connectors: Vec<TfConnector>,
    #[serde(default)]
    pub support_services: Vec<TfService>,
    /// Extra rows of Resource Graph's `resources` table (any Azure resource, as JSON objects).
    #[serde(default)]
    pub extra_resources: Vec<Value>,
    /// Storage accounts (`sim::storage`): where a run or backup store lives. Each one's group
    /// must be a group of the tenant.
    #[serde(default)]
    pub storage_accounts: Vec<super::storage::StorageAccount>,
    /// The principals that may get a token from the simulated Entra ID (`sim::entra`); absent:
    /// none (the built-in tenants have alice, bob and a pipeline's service principal).
    #[serde(default)]
    pub principals: Vec<Principal>,
}

fn default_tenant_id() -> String {
    "72f988bf-86f1-41af-91ab-2d7cd011db47".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TfResourceGroup {
    pub subscription: String,
    pub name: String,
    pub location: String,
    #[serde(default)]
    pub tags: Option<Value>,
    /// `Succeeded` (default) or `Deleting` (a group being deleted: ARM refuses writes into it).
    #[serde(default)]
    pub provisioning_state: Option<String>,
    #[serde(default)]
    pub managed_by: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TfOrg {
    pub name: String,
    #[serde(default)]
    pub projects: Vec<TfProject>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TfProject {
    pub name: String,
    #[serde(default)]
    pub repos: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TfOwner {
    pub name: String,
    #[serde(default)]
    pub repos: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TfGroup {
    pub fully_qualified_name: String,
    #[serde(default)]
    pub projects: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TfConnector {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    /// `AzureDevOps`, `Github`, `GitLab`, or any other cloud name (`AWS`, `GCP`, ...).
    pub environment_name: String,
    #[serde(default)]
    pub tags: Option<Value>,
    /// Replaces the generated `properties` (for non-DevOps connectors, say).
    #[serde(default)]
    pub properties: Option<Value>,
    #[serde(default)]
    pub devops: Option<TfDevOps>,
    /// Unknown fields: top-level fields of the connector resource.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TfDevOps {
    #[serde(default = "enabled")]
    pub auto_discovery: String,
    #[serde(default)]
    pub top_level_inventory_list: Vec<String>,
    #[serde(default)]
    pub agentless_configuration: Option<Value>,
    /// Top-level names the connector's identity can see (default: all of its environment).
    #[serde(default)]
    pub visible: Option<Vec<String>>,
    /// `actionableRemediation` by path: `org`, `org/project`, `org/project/repo`.
    #[serde(default)]
    pub settings: BTreeMap<String, Value>,
    /// Unknown fields: more `properties` of the configuration.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn enabled() -> String {
    "Enabled".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TfService {
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub resource_types: Vec<String>,
    /// `[name, displayName]` pairs.
    #[serde(default)]
    pub problem_classifications: Vec<(String, String)>,
}

/// A tenant file that cannot be used, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TenantError(pub String);

impl TenantFile {
    /// Builds the cloud. `base_unix` is simulated time zero.
    pub fn build(&self, base_unix: i64) -> Result<Cloud, TenantError> {
        let mut cloud = Cloud::empty(&self.tenant_id, base_unix);
        cloud.subscriptions = self.subscriptions.clone();
        self.build_groups(&mut cloud)?;
        if let Some(a) = &self.role_assignments {
            super::authz::validate(a).map_err(TenantError)?;
            cloud.role_assignments = Some(a.clone());
        }
        cloud.principals = self.principals.clone();
        for (i, a) in self.storage_accounts.iter().enumerate() {
            let at = format!("storageAccounts[{i}] (`{}`)", a.name);
            a.validate().map_err(|e| TenantError(format!("{at}: {e}")))?;
            if cloud.group(&a.subscription, &a.resource_group).is_none() {
                return Err(TenantError(format!(
                    "{at}: resource group {} of subscription {} is not in `resourceGroups`",
                    a.resource_group, a.subscription
                )));
            }
            if cloud.storage_accounts.insert(a.name.clone(), a.clone()).is_some() {
                return Err(TenantError(format!("{at}: the name is given twice")));
            }
        }
        for o in &self.azure_dev_ops {
            let mut org = AdoOrg { name: o.name.clone(), projects: BTreeMap::new() };
            for p in &o.projects {
                let mut proj = AdoProject {
                    name: p.name.clone(),
                    id: cloud.next_guid(),
                    repos: BTreeMap::new(),
                };
                for r in &p.repos {
                    let repo = AdoRepo {
                        name: r.clone(),
                        id: cloud.next_guid(),
                        visibility: "private".into(),
                    };
                    proj.repos.insert(r.to_ascii_lowercase(), repo);
                }
                org.projects.insert(p.name.to_ascii_lowercase(), proj);
            }
            cloud.ado.insert(o.name.to_ascii_lowercase(), org);
        }
        for (i, o) in self.github.iter().enumerate() {
            let repos = o
                .repos
                .iter()
                .enumerate()
                .map(|(j, r)| GhRepo {
                    name: r.clone(),
                    id: format!("{}", 100_000 + i * 1000 + j),
                    extra: Map::new(),
                })
                .collect();
            cloud.github.insert(
                o.name.to_ascii_lowercase(),
                GhOwner {
                    name: o.name.clone(),
                    internal_id: format!("{}", 9_000_000 + i),
                    repos,
                    extra: o.extra.clone(),
                },
            );
        }
        for g in &self.gitlab {
            cloud.gitlab.insert(
                g.fully_qualified_name.to_ascii_lowercase(),
                GlGroup {
                    fq_name: g.fully_qualified_name.clone(),
                    projects: g.projects.clone(),
                    extra: g.extra.clone(),
                    project_extra: BTreeMap::new(),
                },
            );
        }
        for s in &self.support_services {
            cloud.extra_services.push(SupportService {
                name: s.name.clone(),
                display_name: s.display_name.clone(),
                resource_types: s.resource_types.clone(),
                classifications: s.problem_classifications.clone(),
            });
        }
        for (i, r) in self.extra_resources.iter().enumerate() {
            if !r.is_object() || r.get("id").and_then(Value::as_str).is_none() {
                return Err(TenantError(format!(
                    "extraResources[{i}] must be an object with an `id`"
                )));
            }
        }
        cloud.extra_resources = self.extra_resources.clone();
        for tc in &self.connectors {
            let key = connector_key(&tc.subscription, &tc.resource_group, &tc.name);
            if self.resource_groups.is_some()
                && cloud.group(&tc.subscription, &tc.resource_group).is_none()
            {
                return Err(TenantError(format!(
                    "connector `{}` is in resource group `{}` of subscription {}, which resourceGroups does not list (add it with its location, or drop the resourceGroups section to have every connector's group created in the connector's region)",
                    tc.name, tc.resource_group, tc.subscription
                )));
            }
            if cloud.connectors.contains_key(&key) {
                return Err(TenantError(format!("connector `{}` is defined twice", tc.name)));
            }
            let env = Env::from_environment_name(&tc.environment_name);
            let properties = match (&tc.properties, env) {
                (Some(p), _) => p.clone(),
                (None, Some(env)) => devops_connector_properties(env),
                (None, None) => json!({
                    "hierarchyIdentifier": "000000000000",
                    "environmentName": tc.environment_name,
                    "offerings": [],
                    // `environmentType` is the discriminator ARM always returns.
                    "environmentData": { "environmentType": cloud_environment_type(&tc.environment_name) }
                }),
            };
            let devops = match (&tc.devops, env) {
                (Some(d), Some(env)) => {
                    let all = cloud.top_level_names(env);
                    let visible = match &d.visible {
                        Some(v) => v.iter().map(|s| s.to_ascii_lowercase()).collect(),
                        None => all,
                    };
                    let mut props = json!({
                        "autoDiscovery": d.auto_discovery,
                        "topLevelInventoryList": d.top_level_inventory_list,
                    });
                    if let Some(a) = &d.agentless_configuration {
                        props["agentlessConfiguration"] = a.clone();
                    }
                    for (k, v) in &d.extra {
                        props[k.as_str()] = v.clone();
                    }
                    Some(DevOps {
                        properties: props,
                        provisioning_state: "Succeeded".into(),
                        status_message: None,
                        updated_at: 0.0,
                        authorized: true,
                        visible,
                        settings: d.settings.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect(),
                        extra: Map::new(),
                        documents: BTreeMap::new(),
                    })
                }
                (Some(_), None) => {
                    return Err(TenantError(format!(
                        "connector `{}` has a devops section but environmentName `{}` is not AzureDevOps, Github or GitLab",
                        tc.name, tc.environment_name
                    )))
                }
                _ => None,
            };
            let id = format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Security/securityConnectors/{}",
                tc.subscription, tc.resource_group, tc.name
            );
            let etag = format!("\"{}\"", cloud.next_guid());
            cloud.connectors.insert(
                key.clone(),
                Connector {
                    id,
                    name: tc.name.clone(),
                    subscription: tc.subscription.clone(),
                    resource_group: tc.resource_group.clone(),
                    location: tc.location.clone(),
                    kind: String::new(),
                    etag,
                    tags: tc.tags.clone().unwrap_or_else(|| json!({})),
                    properties,
                    created_at: 0.0,
                    modified_at: 0.0,
                    devops,
                    extra: tc.extra.clone(),
                },
            );
            cloud.claim_selected(&key);
        }
        if self.resource_groups.is_none() {
            cloud.derive_missing_groups();
        }
        cloud.seed_security_rows_of_all();
        Ok(cloud)
    }
}

impl TenantFile {
    /// The `resourceGroups` section: names ARM accepts, once per subscription, a location, and a
    /// provisioning state of `Succeeded` or `Deleting`.
    fn build_groups(&self, cloud: &mut Cloud) -> Result<(), TenantError> {
        for (i, g) in self.resource_groups.iter().flatten().enumerate() {
            let at = format!("resourceGroups[{i}] (`{}`)", g.name);
            if !cloud.subscriptions.iter().any(|s| s.eq_ignore_ascii_case(&g.subscription)) {
                return Err(TenantError(format!(
                    "{at}: subscription {} is not in `subscriptions`",
                    g.subscription
                )));
            }
            if let Err(e) = super::groups::check_group_name(&g.name) {
                return Err(TenantError(format!("{at}: {}", e.message)));
            }
            let location = normalize_region(&g.location);
            if location.is_empty() {
                return Err(TenantError(format!("{at}: `location` is empty (e.g. westeurope)")));
            }
            let state = g.provisioning_state.clone().unwrap_or_else(|| "Succeeded".into());
            if !["Succeeded", "Deleting"].contains(&state.as_str()) {
                return Err(TenantError(format!(
                    "{at}: provisioningState `{state}` is not Succeeded or Deleting"
                )));
            }
            let tags = g.tags.clone().unwrap_or_else(|| json!({}));
            if !tags.as_object().is_some_and(|m| m.values().all(Value::is_string)) {
                return Err(TenantError(format!("{at}: `tags` must be an object of strings")));
            }
            let key = group_key(&g.subscription, &g.name);
            if cloud.resource_groups.contains_key(&key) {
                return Err(TenantError(format!(
                    "{at}: the group is defined twice in subscription {} (names are case-insensitive)",
                    g.subscription
                )));
            }
            cloud.resource_groups.insert(
                key,
                ResourceGroup {
                    subscription: g.subscription.clone(),
                    name: g.name.clone(),
                    location,
                    tags,
                    provisioning_state: state,
                    managed_by: g.managed_by.clone(),
                },
            );
        }
        Ok(())
    }
}

/// `properties` of a DevOps connector as the portal creates it.
pub fn devops_connector_properties(env: Env) -> Value {
    json!({
        "hierarchyIdentifier": "00000000-0000-0000-0000-000000000000",
        "environmentName": env.name(),
        "offerings": [{"offeringType": env.offering_type()}],
        "environmentData": {"environmentType": env.environment_type()}
    })
}

pub const SMALL_SUB_PROD: &str = "00000000-0000-4000-8000-0000000000a1";
pub const SMALL_SUB_EAST: &str = "00000000-0000-4000-8000-0000000000b2";
pub const SMALL_SUB_TARGET: &str = "00000000-0000-4000-8000-0000000000c3";

/// The `small` tenant (documented in `docs/simulator.md`; keep both in step).
pub fn small() -> TenantFile {
    let v = json!({
        "tenantId": "11111111-2222-4333-8444-555555555555",
        "subscriptions": [SMALL_SUB_PROD, SMALL_SUB_EAST, SMALL_SUB_TARGET],
        // `gitlab-weu` (westeurope) lives in a group of another region (uksouth): a westeurope
        // outage then blocks the writes of `rg-devsec-weu`'s resources but not of that group's.
        "resourceGroups": [
            {"subscription": SMALL_SUB_PROD, "name": "rg-devsec-weu", "location": "westeurope",
             "tags": {"owner": "platform-team"}},
            {"subscription": SMALL_SUB_PROD, "name": "rg-cloud-weu", "location": "westeurope"},
            {"subscription": SMALL_SUB_PROD, "name": "rg-platform-uks", "location": "uksouth"},
            {"subscription": SMALL_SUB_EAST, "name": "rg-devsec-eus", "location": "eastus"}
        ],
        // Where run and backup stores may live: one geo-redundant account in the region of the
        // westeurope connectors (refused for a westeurope outage), one in uksouth, and one
        // locally redundant account (a warning).
        "storageAccounts": [
            {"subscription": SMALL_SUB_PROD, "resourceGroup": "rg-devsec-weu", "name": "stlifeboatweu",
             "location": "westeurope", "sku": "Standard_RAGRS", "secondaryLocation": "northeurope"},
            {"subscription": SMALL_SUB_PROD, "resourceGroup": "rg-platform-uks", "name": "stlifeboatuks",
             "location": "uksouth", "sku": "Standard_RAGRS", "secondaryLocation": "ukwest"},
            {"subscription": SMALL_SUB_PROD, "resourceGroup": "rg-platform-uks", "name": "stlifeboatlrs",
             "location": "uksouth", "sku": "Standard_LRS"}
        ],
        "azureDevOps": [
            {"name": "contoso", "projects": [
                {"name": "payments", "repos": ["payments-api", "payments-web"]},
                {"name": "platform", "repos": ["infra", "tools"]}
            ]},
            {"name": "fabrikam", "projects": [
                {"name": "mobile", "repos": ["ios", "android"]}
            ]},
            {"name": "northwind", "projects": [
                {"name": "erp", "repos": ["erp-core"]}
            ]},
            {"name": "adventure-works", "projects": [
                {"name": "sandbox", "repos": ["playground"]}
            ]}
        ],
        "github": [
            {"name": "contoso-gh", "repos": ["frontend", "backend"]},
            {"name": "tailspin", "repos": ["toys"]},
            {"name": "wingtip", "repos": ["legacy"]}
        ],
        "gitlab": [
            {"fullyQualifiedName": "contoso-gl", "projects": ["handbook"]},
            {"fullyQualifiedName": "contoso-gl$platform", "projects": ["runner", "charts"]},
            {"fullyQualifiedName": "litware", "projects": ["site"]}
        ],
        "connectors": [
            {"subscription": SMALL_SUB_PROD, "resourceGroup": "rg-devsec-weu", "name": "ado-weu",
             "location": "westeurope", "environmentName": "AzureDevOps", "tags": {"owner": "platform-team"},
             "devops": {
                "autoDiscovery": "Disabled", "topLevelInventoryList": ["contoso", "fabrikam"],
                "visible": ["contoso", "fabrikam", "adventure-works"],
                "agentlessConfiguration": {"agentlessEnabled": "Enabled", "agentlessAutoDiscovery": "Disabled",
                    "scanners": ["scanner1"], "inventoryListType": "Inclusion",
                    "inventoryList": [{"inventoryKind": "AzureDevOpsOrganization", "value": "contoso"}]},
                "settings": {
                    "contoso": {"state": "Enabled", "categoryConfigurations": [
                        {"category": "Secrets", "minimumSeverityLevel": "High"},
                        {"category": "IaC", "minimumSeverityLevel": "Medium"}],
                        "branchConfiguration": {"branchNames": ["main"], "annotateDefaultBranch": "Enabled"}},
                    "contoso/payments": {"inheritFromParentState": "Enabled"},
                    "contoso/payments/payments-web": {"state": "Disabled", "inheritFromParentState": "Disabled"},
                    "contoso/platform": {"state": "Enabled", "inheritFromParentState": "Disabled",
                        "categoryConfigurations": [{"category": "Code", "minimumSeverityLevel": "Low"}]},
                    "fabrikam": {"state": "None"},
                    "fabrikam/mobile": {"state": "Enabled", "inheritFromParentState": "Disabled",
                        "branchConfiguration": {"branchNames": ["release/*"], "annotateDefaultBranch": "Disabled"}},
                    "fabrikam/mobile/ios": {"inheritFromParentState": "Enabled"}
                }}},
            {"subscription": SMALL_SUB_EAST, "resourceGroup": "rg-devsec-eus", "name": "ado-eus",
             "location": "eastus", "environmentName": "AzureDevOps",
             "devops": {"autoDiscovery": "Enabled", "visible": ["northwind"],
                "settings": {"northwind": {"state": "Enabled"}, "northwind/erp/erp-core": {"inheritFromParentState": "Enabled"}}}},
            {"subscription": SMALL_SUB_EAST, "resourceGroup": "rg-devsec-eus", "name": "github-eus",
             "location": "eastus", "environmentName": "Github",
             "devops": {"autoDiscovery": "Disabled", "topLevelInventoryList": ["contoso-gh", "tailspin"]}},
            {"subscription": SMALL_SUB_PROD, "resourceGroup": "rg-platform-uks", "name": "gitlab-weu",
             "location": "westeurope", "environmentName": "GitLab",
             "devops": {"autoDiscovery": "Disabled", "topLevelInventoryList": ["contoso-gl"]}},
            {"subscription": SMALL_SUB_PROD, "resourceGroup": "rg-cloud-weu", "name": "aws-weu",
             "location": "westeurope", "environmentName": "AWS",
             "properties": {"hierarchyIdentifier": "123456789012", "environmentName": "AWS",
                "environmentData": {"environmentType": "AwsAccount"},
                "offerings": [{"offeringType": "CspmMonitorAws", "nativeCloudConnection": {"cloudRoleArn": "arn:aws:iam::123456789012:role/CSPMMonitoring"}}]}}
        ]
    });
    let mut file: TenantFile = serde_json::from_value(v)
        .unwrap_or_else(|e| unreachable!("the small tenant is well-formed: {e}"));
    file.principals = super::entra::builtin_principals();
    file
}

/// A seeded large tenant with `repos` Azure DevOps repositories (1,000 per org: 20 projects of
/// 50), one Azure DevOps connector per org, 60 GitHub and 60 GitLab connectors, and 30 AWS
/// connectors, over 10 subscriptions and four regions.
pub fn large(repos: usize, seed: u64) -> TenantFile {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let regions = ["westeurope", "eastus", "westus2", "southeastasia"];
    let subs: Vec<String> =
        (0..10).map(|i| format!("00000000-0000-4000-9000-{:012x}", 0x100 + i)).collect();
    let per_project = 50;
    let per_org = 1000;
    let orgs_n = repos.div_ceil(per_org).max(1);
    let mut orgs = Vec::new();
    let mut left = repos;
    for o in 0..orgs_n {
        let mut projects = Vec::new();
        let mut p = 0;
        while left > 0 && projects.len() * per_project < per_org {
            let n = left.min(per_project);
            let repos: Vec<String> = (0..n).map(|r| format!("repo-{o:03}-{p:02}-{r:02}")).collect();
            left -= n;
            projects.push(TfProject { name: format!("project-{p:02}"), repos });
            p += 1;
        }
        orgs.push(TfOrg { name: format!("org-{o:03}-{:04x}", rng.random::<u16>()), projects });
    }
    let github: Vec<TfOwner> = (0..60)
        .map(|i| TfOwner {
            name: format!("gh-owner-{i:03}"),
            repos: (0..10).map(|r| format!("repo-{r}")).collect(),
            extra: Map::new(),
        })
        .collect();
    let gitlab: Vec<TfGroup> = (0..60)
        .map(|i| TfGroup {
            fully_qualified_name: format!("gl-group-{i:03}"),
            projects: vec!["app".into()],
            extra: Map::new(),
        })
        .collect();
    let mut connectors = Vec::new();
    let mut add = |name: String, env: &str, top: Option<String>, rng: &mut rand::rngs::StdRng| {
        let i = connectors.len();
        let sub = subs[i % subs.len()].clone();
        let region = regions[rng.random_range(0..regions.len())];
        connectors.push(TfConnector {
            subscription: sub,
            resource_group: format!("rg-devsec-{region}"),
            name,
            location: region.into(),
            environment_name: env.into(),
            tags: None,
            properties: None,
            devops: top.map(|t| TfDevOps {
                auto_discovery: "Disabled".into(),
                top_level_inventory_list: vec![t.clone()],
                agentless_configuration: None,
                visible: Some(vec![t]),
                settings: BTreeMap::new(),
                extra: Map::new(),
            }),
            extra: Map::new(),
        });
    };
    for o in &orgs {
        add(format!("ado-{}", o.name), "AzureDevOps", Some(o.name.clone()), &mut rng);
    }
    for g in &github {
        add(format!("gh-{}", g.name), "Github", Some(g.name.clone()), &mut rng);
    }
    for g in &gitlab {
        add(
            format!("gl-{}", g.fully_qualified_name),
            "GitLab",
            Some(g.fully_qualified_name.clone()),
            &mut rng,
        );
    }
    for i in 0..30 {
        add(format!("aws-{i:03}"), "AWS", None, &mut rng);
    }
    TenantFile {
        tenant_id: default_tenant_id(),
        subscriptions: subs,
        resource_groups: None,
        role_assignments: None,
        azure_dev_ops: orgs,
        github,
        gitlab,
        connectors,
        support_services: Vec::new(),
        extra_resources: Vec::new(),
        storage_accounts: Vec::new(),
        principals: super::entra::builtin_principals(),
    }
}

/// The `environmentData.environmentType` ARM returns for a non-DevOps `environmentName`.
fn cloud_environment_type(environment_name: &str) -> &'static str {
    match environment_name.to_ascii_lowercase().as_str() {
        "aws" => "AwsAccount",
        "gcp" => "GcpProject",
        "dockerhub" => "DockerHubOrganization",
        "jfrog" => "JFrogArtifactory",
        _ => "AwsAccount",
    }
}
