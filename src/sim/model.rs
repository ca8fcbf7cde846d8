//! The simulated cloud's state: connectors, their DevOps configurations, the Azure DevOps,
//! GitHub and GitLab worlds they can see, who owns what, long-running operations, support
//! tickets and the `securityresources` rows. Plain data (serde), so `--state FILE` can persist
//! the whole cloud and a drill can span restarts.
//!
//! Invariant: an Azure DevOps org, a GitHub owner or a top-level GitLab group is owned by at most
//! one connector (`owners` maps one item key to one connector key), and every `onboardingState`
//! the API reports is derived from that map, never stored.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The three DevOps environments a connector can cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Env {
    AzureDevOps,
    Github,
    GitLab,
}

impl Env {
    pub fn from_environment_name(s: &str) -> Option<Env> {
        match s {
            "AzureDevOps" => Some(Env::AzureDevOps),
            "Github" => Some(Env::Github),
            "GitLab" => Some(Env::GitLab),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Env::AzureDevOps => "AzureDevOps",
            Env::Github => "Github",
            Env::GitLab => "GitLab",
        }
    }
    /// Prefix of ownership keys (`ado/contoso`, `gh/octo`, `gl/group`).
    pub fn key_prefix(self) -> &'static str {
        match self {
            Env::AzureDevOps => "ado",
            Env::Github => "gh",
            Env::GitLab => "gl",
        }
    }
    pub fn environment_type(self) -> &'static str {
        match self {
            Env::AzureDevOps => "AzureDevOpsScope",
            Env::Github => "GithubScope",
            Env::GitLab => "GitlabScope",
        }
    }
    pub fn offering_type(self) -> &'static str {
        match self {
            Env::AzureDevOps => "CspmMonitorAzureDevOps",
            Env::Github => "CspmMonitorGithub",
            Env::GitLab => "CspmMonitorGitLab",
        }
    }
}

/// The key of a top-level item in `owners` (lowercase: the DevOps platforms compare names
/// case-insensitively). GitLab subgroups are owned through their top-level group.
pub fn item_key(env: Env, name: &str) -> String {
    let top = match env {
        Env::GitLab => name.split('$').next().unwrap_or(name),
        _ => name,
    };
    format!("{}/{}", env.key_prefix(), top.to_ascii_lowercase())
}

/// ARM compares resource IDs case-insensitively: connectors are keyed by the lowercase ID.
pub fn connector_key(subscription: &str, resource_group: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription}/resourcegroups/{resource_group}/providers/microsoft.security/securityconnectors/{name}"
    )
    .to_ascii_lowercase()
}

/// ARM compares resource group names case-insensitively: groups are keyed by
/// `subscription/group`, lowercase.
pub fn group_key(subscription: &str, resource_group: &str) -> String {
    format!("{subscription}/{resource_group}").to_ascii_lowercase()
}

/// `West Europe` and `westeurope` are the same region to ARM: the simulator's one rule for
/// region names (locations, outages, the control API), whitespace removed and ASCII letters
/// lowercased. ARM's location names are ASCII; folding other letters too (Unicode lowercase)
/// would make two names equal that ARM keeps apart, so the simulator does not.
pub fn normalize_region(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cloud {
    pub tenant_id: String,
    /// Unix seconds of simulated time zero (timestamps are `base + simulated seconds`).
    pub base_unix: i64,
    /// Simulated seconds elapsed when the state was saved (a reload continues from here).
    #[serde(default)]
    pub sim_elapsed: f64,
    pub subscriptions: Vec<String>,
    /// Resource groups by [`group_key`]. A connector's group always exists (a state file saved
    /// before groups were modelled gets them derived on load: [`Cloud::derive_missing_groups`]).
    #[serde(default)]
    pub resource_groups: BTreeMap<String, ResourceGroup>,
    /// The caller's role assignments (`None`: Owner of every subscription; see `sim::authz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_assignments: Option<Vec<super::authz::RoleAssignment>>,
    pub connectors: BTreeMap<String, Connector>,
    pub ado: BTreeMap<String, AdoOrg>,
    pub github: BTreeMap<String, GhOwner>,
    pub gitlab: BTreeMap<String, GlGroup>,
    /// Item key (see [`item_key`]) → connector key.
    pub owners: BTreeMap<String, String>,
    #[serde(default)]
    pub operations: BTreeMap<String, Operation>,
    #[serde(default)]
    pub tickets: BTreeMap<String, Ticket>,
    /// Alerts and recommendations rows of the `securityresources` table.
    #[serde(default)]
    pub security_resources: Vec<Value>,
    /// Rows of the `resources` table other than connectors (tenant files may add some).
    #[serde(default)]
    pub extra_resources: Vec<Value>,
    /// Storage accounts by lowercase name (names are globally unique): `sim::storage`.
    #[serde(default)]
    pub storage_accounts: BTreeMap<String, super::storage::StorageAccount>,
    /// Support services beyond the built-in catalogue (tenant files may add some).
    #[serde(default)]
    pub extra_services: Vec<SupportService>,
    /// One-time OAuth codes: never persisted (a code is a secret and expires anyway).
    #[serde(skip)]
    pub oauth_codes: BTreeMap<String, OAuthCode>,
    /// The tenant's principals that may get a token from the simulated Entra ID token endpoint
    /// (`sim::entra`).
    #[serde(default)]
    pub principals: Vec<Principal>,
    #[serde(default)]
    pub counter: u64,
}

/// A principal of the simulated Entra ID tenant (`sim::entra`): who may sign in with the
/// client-credentials grant and what the token's claims say. Test data: the secret is kept in
/// clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// `user` or `servicePrincipal`.
    pub kind: PrincipalKind,
    /// The application (client) id the credential signs in with (`AZURE_CLIENT_ID`).
    pub client_id: String,
    /// The client secret (`AZURE_CLIENT_SECRET`).
    pub secret: String,
    /// The object id (`oid` claim).
    pub object_id: String,
    /// A user's principal name (`upn`, `unique_name`); a service principal has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// The display name (`name` claim; for a service principal, `app_displayname`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Claims a token for this principal leaves out (`oid`, `tid`, `upn`, ...): what Entra ID
    /// never does, for tests of a client's claims check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omit_claims: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PrincipalKind {
    User,
    ServicePrincipal,
}

/// A resource group as ARM models it (Resource groups API, `resources.json` 2025-04-01): a name
/// (case-insensitive), a location that never changes, tags, `managedBy`, and a provisioning state
/// (`Succeeded`, or `Deleting` while it is being deleted). The location is where ARM keeps the
/// metadata of the group's resources: when that region is down, writes to them may be blocked
/// (see `faults::GroupWrites`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceGroup {
    pub subscription: String,
    /// As created (ARM keeps the casing of the first PUT).
    pub name: String,
    /// Normalised (`westeurope`), as ARM returns a group's location.
    pub location: String,
    #[serde(default = "empty_object")]
    pub tags: Value,
    #[serde(default = "succeeded")]
    pub provisioning_state: String,
    #[serde(default)]
    pub managed_by: Option<String>,
}

fn empty_object() -> Value {
    json!({})
}

fn succeeded() -> String {
    "Succeeded".into()
}

impl ResourceGroup {
    pub fn id(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/{}", self.subscription, self.name)
    }
    pub fn region(&self) -> String {
        normalize_region(&self.location)
    }
    pub fn deleting(&self) -> bool {
        self.provisioning_state.eq_ignore_ascii_case("Deleting")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connector {
    pub id: String,
    pub name: String,
    pub subscription: String,
    pub resource_group: String,
    /// As given on PUT (e.g. `westeurope` or `Central US`).
    pub location: String,
    pub kind: String,
    pub etag: String,
    pub tags: Value,
    pub properties: Value,
    pub created_at: f64,
    pub modified_at: f64,
    pub devops: Option<DevOps>,
    /// Top-level fields of the connector resource the simulator does not model (unknown
    /// fields of a newer api-version, drift): kept on write and returned on read.
    #[serde(default)]
    pub extra: Map<String, Value>,
}

impl Connector {
    pub fn env(&self) -> Option<Env> {
        self.properties
            .get("environmentName")
            .and_then(Value::as_str)
            .and_then(Env::from_environment_name)
    }
    pub fn region(&self) -> String {
        normalize_region(&self.location)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevOps {
    /// User-settable properties (autoDiscovery, topLevelInventoryList, agentlessConfiguration...),
    /// never `authorization`.
    pub properties: Value,
    pub provisioning_state: String,
    pub status_message: Option<String>,
    pub updated_at: f64,
    /// The token exchange succeeded once: later PATCHes need no new code.
    pub authorized: bool,
    /// Lowercase top-level names the authorized identity can see.
    pub visible: Vec<String>,
    /// Azure DevOps settings by lowercase path (`org`, `org/project`, `org/project/repo`):
    /// the `actionableRemediation` object.
    #[serde(default)]
    pub settings: BTreeMap<String, Value>,
    /// Top-level fields of the `devops/default` resource other than `properties` (unknown
    /// fields): kept on write and returned on read.
    #[serde(default)]
    pub extra: Map<String, Value>,
    /// The rest of each Azure DevOps org/project/repo document written to this connector (by
    /// lowercase path, as `settings`): unknown top-level fields and unknown `properties` fields,
    /// without `actionableRemediation` (in `settings`) and without what ARM ignores on a write.
    #[serde(default)]
    pub documents: BTreeMap<String, Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdoOrg {
    pub name: String,
    pub projects: BTreeMap<String, AdoProject>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdoProject {
    pub name: String,
    pub id: String,
    pub repos: BTreeMap<String, AdoRepo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdoRepo {
    pub name: String,
    pub id: String,
    pub visibility: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GhOwner {
    pub name: String,
    pub internal_id: String,
    pub repos: Vec<GhRepo>,
    /// Fields the service returns that the simulator does not model (drift, tenant files):
    /// top-level keys and a `properties` object, added to every connector's view of the owner.
    #[serde(default)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GhRepo {
    pub name: String,
    pub id: String,
    /// As [`GhOwner::extra`].
    #[serde(default)]
    pub extra: Map<String, Value>,
}

/// A GitLab group or subgroup, keyed by its lowercase fully-qualified name (`group$sub`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GlGroup {
    pub fq_name: String,
    pub projects: Vec<String>,
    /// As [`GhOwner::extra`], for the group and (by lowercase project name) its projects.
    #[serde(default)]
    pub extra: Map<String, Value>,
    #[serde(default)]
    pub project_extra: BTreeMap<String, Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthCode {
    pub expires_at: f64,
    /// Lowercase top-level names the identity behind the code can see; `None` = everything.
    pub scope: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpStatus {
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub connector: String,
    pub started: f64,
    pub due: f64,
    pub status: OpStatus,
    pub error: Option<(String, String)>,
    pub effect: Effect,
    /// The `provisioningState` a GET of the target shows while the operation runs (ARM's
    /// intermediate states are not a closed set: `Accepted`, `Updating`, `Provisioning`...).
    #[serde(default)]
    pub in_progress_state: Option<String>,
}

/// What a long-running operation does to the cloud when it completes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Effect {
    /// PUT/PATCH of `devops/default`; `visible` is `Some` when a valid code came with it.
    DevOpsWrite {
        properties: Value,
        visible: Option<Vec<String>>,
        fail: Option<(String, String)>,
        /// Top-level fields of the written resource other than `properties`.
        #[serde(default)]
        extra: Option<Map<String, Value>>,
    },
    DevOpsDelete,
    /// PUT/PATCH of an Azure DevOps org/project/repo: new `actionableRemediation` at `path`.
    AdoWrite {
        path: String,
        remediation: Option<Value>,
        /// The rest of the written document (see [`DevOps::documents`]); `None` keeps it.
        #[serde(default)]
        document: Option<Map<String, Value>>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    pub subscription: String,
    pub name: String,
    pub ticket_id: String,
    pub properties: Value,
    pub created_at: f64,
    pub modified_at: f64,
    /// Old and new connector keys when the ticket asks for a release, and when it is due.
    pub release: Option<(String, String)>,
    pub release_due: Option<f64>,
    pub released: bool,
    /// When Microsoft's side (alerts, assessments) is recreated for the new connector: the
    /// release plus `SimConfig::recreation_delay`. Set at the release.
    #[serde(default)]
    pub recreate_due: Option<f64>,
    /// The old connector's alerts, taken out of `securityresources` at the release and held
    /// until the recreation (which copies those less than a week old).
    #[serde(default)]
    pub held_alerts: Vec<Value>,
    /// `Some(true)`: recreated; `Some(false)`: the desk did not recreate (the `no-recreate`
    /// fault); `None`: not due yet.
    #[serde(default)]
    pub recreated: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupportService {
    pub name: String,
    pub display_name: String,
    pub resource_types: Vec<String>,
    /// (name, displayName) of its problem classifications.
    pub classifications: Vec<(String, String)>,
}

impl Cloud {
    pub fn empty(tenant_id: &str, base_unix: i64) -> Self {
        Cloud {
            tenant_id: tenant_id.to_string(),
            base_unix,
            sim_elapsed: 0.0,
            subscriptions: Vec::new(),
            resource_groups: BTreeMap::new(),
            role_assignments: None,
            connectors: BTreeMap::new(),
            ado: BTreeMap::new(),
            github: BTreeMap::new(),
            gitlab: BTreeMap::new(),
            owners: BTreeMap::new(),
            operations: BTreeMap::new(),
            tickets: BTreeMap::new(),
            security_resources: Vec::new(),
            extra_services: Vec::new(),
            extra_resources: Vec::new(),
            storage_accounts: BTreeMap::new(),
            oauth_codes: BTreeMap::new(),
            principals: Vec::new(),
            counter: 0,
        }
    }

    /// The resource group `name` of `subscription`, if it exists.
    pub fn group(&self, subscription: &str, name: &str) -> Option<&ResourceGroup> {
        self.resource_groups.get(&group_key(subscription, name))
    }

    /// Creates, for every connector whose resource group does not exist, that group located in
    /// the connector's region (the first connector in ID order decides when several share it).
    /// Used for tenants without a `resourceGroups` section, state files saved before groups were
    /// modelled, and clouds built by hand in tests.
    pub fn derive_missing_groups(&mut self) {
        let missing: Vec<(String, ResourceGroup)> = self
            .connectors
            .values()
            .map(|c| {
                let g = ResourceGroup {
                    subscription: c.subscription.clone(),
                    name: c.resource_group.clone(),
                    location: c.region(),
                    tags: json!({}),
                    provisioning_state: succeeded(),
                    managed_by: None,
                };
                (group_key(&c.subscription, &c.resource_group), g)
            })
            .collect();
        for (k, g) in missing {
            self.resource_groups.entry(k).or_insert(g);
        }
    }

    /// A deterministic GUID-shaped ID (stable across runs with the same tenant).
    pub fn next_guid(&mut self) -> String {
        self.counter += 1;
        guid_from(self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5151)
    }

    /// Whether the connector's DevOps configuration can act (a token was exchanged).
    pub fn can_act(&self, connector: &str) -> bool {
        self.connectors.get(connector).and_then(|c| c.devops.as_ref()).is_some_and(|d| d.authorized)
    }

    /// `onboardingState` of a top-level item as seen from `connector`.
    pub fn onboarding_state(&self, connector: &str, env: Env, name: &str) -> &'static str {
        if !self.can_act(connector) {
            return "NotApplicable";
        }
        match self.owners.get(&item_key(env, name)) {
            Some(o) if o == connector => "Onboarded",
            Some(_) => "OnboardedByOtherConnector",
            None => "NotOnboarded",
        }
    }

    /// The lowercase top-level names that exist in an environment.
    pub fn top_level_names(&self, env: Env) -> Vec<String> {
        match env {
            Env::AzureDevOps => self.ado.keys().cloned().collect(),
            Env::Github => self.github.keys().cloned().collect(),
            Env::GitLab => self.gitlab.keys().filter(|k| !k.contains('$')).cloned().collect(),
        }
    }

    /// Claims, for `connector`, every unowned visible item its configuration selects
    /// (all of them with autoDiscovery Enabled, else `topLevelInventoryList`).
    pub fn claim_selected(&mut self, connector: &str) {
        let Some(c) = self.connectors.get(connector) else { return };
        let (Some(env), Some(d)) = (c.env(), c.devops.as_ref()) else { return };
        if !d.authorized {
            return;
        }
        let auto = d.properties.get("autoDiscovery").and_then(Value::as_str) == Some("Enabled");
        let listed: Vec<String> = d
            .properties
            .get("topLevelInventoryList")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect())
            .unwrap_or_default();
        let wanted: Vec<String> =
            d.visible.iter().filter(|v| auto || listed.contains(v)).cloned().collect();
        for name in wanted {
            self.owners.entry(item_key(env, &name)).or_insert_with(|| connector.to_string());
        }
    }

    /// Rows of the `resources` table: every connector, in every region (Resource Graph keeps
    /// listing connectors whose region is down).
    pub fn resource_rows(&self) -> Vec<Value> {
        self.connectors
            .values()
            .map(|c| {
                json!({
                    "id": c.id,
                    "name": c.name,
                    "type": "microsoft.security/securityconnectors",
                    "tenantId": self.tenant_id,
                    "kind": c.kind,
                    "location": c.region(),
                    "resourceGroup": c.resource_group.to_ascii_lowercase(),
                    "subscriptionId": c.subscription,
                    "managedBy": "",
                    "sku": null,
                    "plan": null,
                    "properties": c.properties,
                    "tags": c.tags,
                    "identity": null,
                    "zones": null,
                    "extendedLocation": null,
                })
            })
            .chain(self.storage_accounts.values().map(|a| a.row(&self.tenant_id)))
            .chain(self.extra_resources.iter().cloned())
            .collect()
    }

    /// [`Cloud::seed_security_rows`] of every connector that has a DevOps configuration (what a
    /// tenant, built-in, from a file or from a snapshot, starts with).
    pub fn seed_security_rows_of_all(&mut self) {
        let keys: Vec<String> = self
            .connectors
            .iter()
            .filter(|(_, c)| c.devops.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.seed_security_rows(&k);
        }
    }

    /// Seeds Microsoft's side of a connector in `securityresources` (a tenant as built): one
    /// recommendation (assessment) per owned top-level item, and two alerts, one generated an
    /// hour before simulated time zero and one ten days before (older than a week, so a release
    /// never recreates it).
    pub fn seed_security_rows(&mut self, connector: &str) {
        let Some(c) = self.connectors.get(connector).cloned() else { return };
        let mut rows = self.assessment_rows(&c);
        let subject = self.owned_resources(&c).into_iter().next().unwrap_or_else(|| devops_id(&c));
        for (age, kind) in [(3600.0, 0), (10.0 * 24.0 * 3600.0, 1)] {
            let (alert_type, display) = DEVOPS_ALERTS[kind];
            let guid = self.next_guid();
            let generated = stamp(self.base_unix, -age);
            rows.push(alert_row(
                &c,
                &self.tenant_id,
                &guid,
                &subject,
                alert_type,
                display,
                &generated,
            ));
        }
        self.security_resources.extend(rows);
    }

    /// Removes and returns every `securityresources` row about `connector` (its DevOps
    /// resources), alerts and assessments alike.
    pub fn take_security_rows(&mut self, connector: &str) -> Vec<Value> {
        let Some(id) = self.connectors.get(connector).map(|c| c.id.clone()) else {
            // Gone already: its rows are found by the key (the lowercase ID).
            return self.take_rows_under(connector);
        };
        self.take_rows_under(&id)
    }

    fn take_rows_under(&mut self, connector_id: &str) -> Vec<Value> {
        let prefix = format!("{}/", connector_id.to_ascii_lowercase());
        let (taken, kept): (Vec<Value>, Vec<Value>) =
            std::mem::take(&mut self.security_resources).into_iter().partition(|r| {
                security_row_subject(r).is_some_and(|s| s.to_ascii_lowercase().starts_with(&prefix))
            });
        self.security_resources = kept;
        taken
    }

    /// Microsoft's recreation for the new connector at simulated time `now`: one assessment per
    /// top-level item it owns, and a copy of each of the old connector's `alerts` generated
    /// less than a week before `now` (seed 000: alerts older than a week are not recreated),
    /// about the same item under the new connector, with a new ID in the new connector's
    /// subscription, group and region.
    pub fn recreate_security_rows(&mut self, connector: &str, alerts: &[Value], now: f64) {
        let Some(c) = self.connectors.get(connector).cloned() else { return };
        let mut rows = self.assessment_rows(&c);
        let fallback = self.owned_resources(&c).into_iter().next().unwrap_or_else(|| devops_id(&c));
        let week_ago = stamp_time(self.base_unix, now - WEEK_SECONDS);
        for a in alerts {
            let p = a.get("properties").cloned().unwrap_or(Value::Null);
            let generated = p.get("TimeGeneratedUtc").and_then(Value::as_str).unwrap_or("");
            let recent = time::OffsetDateTime::parse(
                generated,
                &time::format_description::well_known::Rfc3339,
            )
            .is_ok_and(|t| t > week_ago);
            if !recent {
                continue;
            }
            // The same item, now under the new connector.
            let subject = security_row_subject(a)
                .and_then(|s| s.find("/devops/default/").map(|i| s[i..].to_string()))
                .map(|tail| format!("{}{tail}", c.id))
                .unwrap_or_else(|| fallback.clone());
            let alert_type =
                p.get("AlertType").and_then(Value::as_str).unwrap_or(DEVOPS_ALERTS[0].0);
            let display =
                p.get("AlertDisplayName").and_then(Value::as_str).unwrap_or(DEVOPS_ALERTS[0].1);
            let guid = self.next_guid();
            rows.push(alert_row(
                &c,
                &self.tenant_id,
                &guid,
                &subject,
                alert_type,
                display,
                generated,
            ));
        }
        self.security_resources.extend(rows);
    }

    /// The ARM IDs of the top-level DevOps resources `c` owns (Azure DevOps orgs, GitHub owners,
    /// GitLab groups), in key order.
    fn owned_resources(&self, c: &Connector) -> Vec<String> {
        let key = c.id.to_ascii_lowercase();
        self.owners
            .iter()
            .filter(|(_, o)| **o == key)
            .filter_map(|(item, _)| {
                let (prefix, name) = item.split_once('/')?;
                let collection = match prefix {
                    "ado" => "azureDevOpsOrgs",
                    "gh" => "gitHubOwners",
                    "gl" => "gitLabGroups",
                    _ => return None,
                };
                Some(format!("{}/{collection}/{name}", devops_id(c)))
            })
            .collect()
    }

    /// One assessment of the DevOps recommendation per top-level item `c` owns.
    fn assessment_rows(&self, c: &Connector) -> Vec<Value> {
        self.owned_resources(c)
            .into_iter()
            .map(|subject| {
                json!({
                    "id": format!("{subject}/providers/Microsoft.Security/assessments/{DEVOPS_ASSESSMENT_KEY}"),
                    "name": DEVOPS_ASSESSMENT_KEY,
                    "type": "microsoft.security/assessments",
                    "tenantId": self.tenant_id,
                    "kind": "",
                    "location": "",
                    "resourceGroup": c.resource_group.to_ascii_lowercase(),
                    "subscriptionId": c.subscription,
                    "properties": {
                        "displayName": "Secrets found in DevOps resources should be resolved",
                        "status": {"code": "Unhealthy"},
                        "resourceDetails": {"Source": "Azure", "Id": subject},
                        "metadata": {"severity": "High", "assessmentType": "BuiltIn",
                                     "categories": ["Data"]},
                    },
                })
            })
            .collect()
    }
}

/// A week: Microsoft does not recreate alerts older than that (seed 000).
pub const WEEK_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// The assessment key (the recommendation's GUID, the same for every resource) of the one DevOps
/// recommendation the simulator models (a made-up key: Microsoft's keys are not part of this
/// contract).
pub const DEVOPS_ASSESSMENT_KEY: &str = "5a1d3c42-6f0e-4b7a-9c8d-2e4f6a8b0c13";

/// (AlertType, AlertDisplayName) of the DevOps alerts the simulator raises (made up).
pub const DEVOPS_ALERTS: [(&str, &str); 2] = [
    ("DEVOPS_SuspiciousPipelineActivity", "DevOps: suspicious pipeline activity"),
    ("DEVOPS_ExposedSecretUsed", "DevOps: an exposed secret was used"),
];

fn devops_id(c: &Connector) -> String {
    format!("{}/devops/default", c.id)
}

/// The resource a `securityresources` row is about, as Resource Graph shows it: an assessment's
/// `properties.resourceDetails.Id`, an alert's first `properties.ResourceIdentifiers[].
/// AzureResourceId`.
pub fn security_row_subject(r: &Value) -> Option<&str> {
    let p = r.get("properties")?;
    p.pointer("/resourceDetails/Id")
        .or_else(|| {
            p.get("ResourceIdentifiers")?.as_array()?.iter().find_map(|i| i.get("AzureResourceId"))
        })
        .and_then(Value::as_str)
}

/// An alert row as Resource Graph lists it (`microsoft.security/locations/alerts`, properties in
/// PascalCase as in Microsoft's Resource Graph samples for Defender for Cloud), stored in the
/// connector's subscription, group and region.
fn alert_row(
    c: &Connector,
    tenant: &str,
    guid: &str,
    subject: &str,
    alert_type: &str,
    display: &str,
    generated: &str,
) -> Value {
    let item = subject.rsplit('/').next().unwrap_or("");
    json!({
        "id": format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Security/locations/{}/alerts/{guid}", c.subscription, c.resource_group, c.region()),
        "name": guid,
        "type": "microsoft.security/locations/alerts",
        "tenantId": tenant,
        "kind": "",
        "location": c.region(),
        "resourceGroup": c.resource_group.to_ascii_lowercase(),
        "subscriptionId": c.subscription,
        "properties": {
            "AlertDisplayName": display,
            "AlertType": alert_type,
            "Severity": "Medium",
            "Status": "Active",
            "ProductName": "Microsoft Defender for Cloud",
            "SystemAlertId": guid,
            "CompromisedEntity": item,
            "TimeGeneratedUtc": generated,
            "StartTimeUtc": generated,
            "EndTimeUtc": generated,
            "ResourceIdentifiers": [{"$id": "1", "Type": "AzureResource", "AzureResourceId": subject}],
        },
    })
}

fn stamp_time(base_unix: i64, t: f64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(base_unix.saturating_add(t as i64))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 of simulated second `t`.
fn stamp(base_unix: i64, t: f64) -> String {
    stamp_time(base_unix, t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Formats 64 bits as a GUID-shaped string.
pub fn guid_from(mut x: u64) -> String {
    // splitmix64 twice for 128 bits of well-spread digits.
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let a = next();
    let b = next();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}
