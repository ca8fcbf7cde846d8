//! Typed resources: typed for what lifeboat reads and writes, lossless for the rest. Every struct
//! we type keeps unknown fields in `extra` (`#[serde(flatten)]`), and every optional field is
//! skipped when absent (`#[serde_with::skip_serializing_none]` on the struct; a missing field
//! reads as `None`), so a get-modify-put sends back exactly what the service gave plus our
//! change. Enums the service models as strings (`modelAsString`) keep unknown values in `Other`,
//! and match case-sensitively so a value round-trips byte for byte.

use super::error::ErrorDetail;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

pub type Extra = Map<String, Value>;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name { $($var,)* /** A value this version of lifeboat does not know. */ Other(String) }
        impl $name {
            pub fn as_str(&self) -> &str { match self { $(Self::$var => $s,)* Self::Other(s) => s } }
        }
        impl From<&str> for $name {
            fn from(s: &str) -> Self { match s { $($s => Self::$var,)* o => Self::Other(o.to_owned()) } }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

string_enum!(
    /// `CloudName` of a security connector.
    EnvironmentName { Azure = "Azure", Aws = "AWS", Gcp = "GCP", Github = "Github", AzureDevOps = "AzureDevOps", GitLab = "GitLab", DockerHub = "DockerHub", JFrog = "JFrog" }
);
string_enum!(AutoDiscovery { Disabled = "Disabled", Enabled = "Enabled", NotApplicable = "NotApplicable" });
string_enum!(OnboardingState { NotApplicable = "NotApplicable", OnboardedByOtherConnector = "OnboardedByOtherConnector", Onboarded = "Onboarded", NotOnboarded = "NotOnboarded" });
string_enum!(
    /// `DevOpsProvisioningState` (the examples also use `Accepted`).
    ProvisioningState { Succeeded = "Succeeded", Failed = "Failed", Canceled = "Canceled", Pending = "Pending", PendingDeletion = "PendingDeletion", DeletionSuccess = "DeletionSuccess", DeletionFailure = "DeletionFailure", Accepted = "Accepted" }
);
string_enum!(RemediationState { None = "None", Disabled = "Disabled", Enabled = "Enabled" });
string_enum!(
    /// `InheritFromParentState`, `AnnotateDefaultBranchState`.
    EnabledState { Disabled = "Disabled", Enabled = "Enabled" }
);
string_enum!(RuleCategory { Code = "Code", Artifacts = "Artifacts", Dependencies = "Dependencies", Secrets = "Secrets", IaC = "IaC", Containers = "Containers" });
string_enum!(AgentlessEnablement { Disabled = "Disabled", Enabled = "Enabled", NotApplicable = "NotApplicable" });
string_enum!(InventoryListType { Inclusion = "Inclusion", Exclusion = "Exclusion" });
string_enum!(InventoryKind { AzureDevOpsOrganization = "AzureDevOpsOrganization", AzureDevOpsProject = "AzureDevOpsProject", AzureDevOpsRepository = "AzureDevOpsRepository", GitHubOwner = "GitHubOwner", GitHubRepository = "GitHubRepository" });
string_enum!(Severity { Minimal = "minimal", Moderate = "moderate", Critical = "critical", HighestCriticalImpact = "highestcriticalimpact" });
string_enum!(Consent { Yes = "Yes", No = "No" });
string_enum!(ContactMethod { Email = "email", Phone = "phone" });

/// A one-time secret (the OAuth authorization code). It serialises into request bodies, where
/// it must go, but `Debug` and `Display` never show it, so it cannot reach a log or an error.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The ARM envelope shared by every proxy resource we type: `id`, `name`, `type`, `systemData`,
/// `properties`, and whatever else the service adds.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource<P> {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    #[serde(rename = "systemData")]
    pub system_data: Option<Value>,
    pub properties: Option<P>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl<P> Default for Resource<P> {
    fn default() -> Self {
        Resource {
            id: None,
            name: None,
            resource_type: None,
            system_data: None,
            properties: None,
            extra: Extra::new(),
        }
    }
}

impl<P> Resource<P> {
    /// A request body with only `properties` (what a PUT needs).
    pub fn with_properties(properties: P) -> Self {
        Resource { properties: Some(properties), ..Default::default() }
    }
}

/// One page of a list (`value` + `nextLink`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "nextLink")]
    pub next_link: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------- security connectors

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SecurityConnector {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub kind: Option<String>,
    pub etag: Option<String>,
    #[serde(rename = "systemData")]
    pub system_data: Option<Value>,
    pub properties: Option<SecurityConnectorProperties>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityConnectorProperties {
    pub hierarchy_identifier: Option<String>,
    /// Read-only.
    pub hierarchy_identifier_trial_end_date: Option<String>,
    pub environment_name: Option<EnvironmentName>,
    pub offerings: Option<Vec<Offering>>,
    pub environment_data: Option<EnvironmentData>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `offerings[]`: discriminated by `offeringType`; the DevOps ones carry no properties of their
/// own, the others keep theirs in `extra`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offering {
    pub offering_type: String,
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `environmentData`: discriminated by `environmentType` (`AzureDevOpsScope`, `GithubScope`,
/// `GitlabScope`, ...).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentData {
    pub environment_type: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of a tags patch.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TagsPatch {
    pub tags: BTreeMap<String, String>,
}

// ---------------------------------------------------------------- devops configuration

pub type DevOpsConfiguration = Resource<DevOpsConfigurationProperties>;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevOpsConfigurationProperties {
    /// Write-only: the service clears it on GET.
    pub authorization: Option<Authorization>,
    pub auto_discovery: Option<AutoDiscovery>,
    pub top_level_inventory_list: Option<Vec<String>>,
    pub agentless_configuration: Option<AgentlessConfiguration>,
    /// Read-only.
    pub capabilities: Option<Vec<DevOpsCapability>>,
    pub provisioning_state: Option<ProvisioningState>,
    pub provisioning_status_message: Option<String>,
    pub provisioning_status_update_time_utc: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Authorization {
    pub code: Option<SecretString>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentlessConfiguration {
    pub agentless_enabled: Option<AgentlessEnablement>,
    pub agentless_auto_discovery: Option<AutoDiscovery>,
    pub scanners: Option<Vec<String>>,
    pub inventory_list_type: Option<InventoryListType>,
    pub inventory_list: Option<Vec<InventoryItem>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryItem {
    pub inventory_kind: Option<InventoryKind>,
    pub value: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DevOpsCapability {
    pub name: Option<String>,
    pub value: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------- Azure DevOps

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionableRemediation {
    pub state: Option<RemediationState>,
    pub category_configurations: Option<Vec<CategoryConfiguration>>,
    pub branch_configuration: Option<BranchConfiguration>,
    pub inherit_from_parent_state: Option<EnabledState>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryConfiguration {
    pub minimum_severity_level: Option<String>,
    pub category: Option<RuleCategory>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `TargetBranchConfiguration`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BranchConfiguration {
    pub branch_names: Option<Vec<String>>,
    pub annotate_default_branch: Option<EnabledState>,
    #[serde(flatten)]
    pub extra: Extra,
}

pub type AzureDevOpsOrg = Resource<AzureDevOpsOrgProperties>;
pub type AzureDevOpsProject = Resource<AzureDevOpsProjectProperties>;
pub type AzureDevOpsRepo = Resource<AzureDevOpsRepoProperties>;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureDevOpsOrgProperties {
    pub provisioning_state: Option<ProvisioningState>,
    pub provisioning_status_message: Option<String>,
    pub provisioning_status_update_time_utc: Option<String>,
    pub onboarding_state: Option<OnboardingState>,
    pub actionable_remediation: Option<ActionableRemediation>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureDevOpsProjectProperties {
    pub provisioning_state: Option<ProvisioningState>,
    pub provisioning_status_message: Option<String>,
    pub provisioning_status_update_time_utc: Option<String>,
    pub parent_org_name: Option<String>,
    /// Read-only.
    pub project_id: Option<String>,
    pub onboarding_state: Option<OnboardingState>,
    pub actionable_remediation: Option<ActionableRemediation>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureDevOpsRepoProperties {
    pub provisioning_state: Option<ProvisioningState>,
    pub provisioning_status_message: Option<String>,
    pub provisioning_status_update_time_utc: Option<String>,
    pub parent_org_name: Option<String>,
    pub parent_project_name: Option<String>,
    /// Read-only.
    pub repo_id: Option<String>,
    /// Read-only.
    pub repo_url: Option<String>,
    /// Read-only.
    pub visibility: Option<String>,
    pub onboarding_state: Option<OnboardingState>,
    pub actionable_remediation: Option<ActionableRemediation>,
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------- GitHub, GitLab (read-only)

pub type GitHubOwner = Resource<GitHubOwnerProperties>;
pub type GitHubRepo = Resource<GitHubRepoProperties>;
pub type GitLabGroup = Resource<GitLabGroupProperties>;
pub type GitLabProject = Resource<GitLabProjectProperties>;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitHubOwnerProperties {
    pub provisioning_state: Option<ProvisioningState>,
    pub provisioning_status_message: Option<String>,
    pub provisioning_status_update_time_utc: Option<String>,
    pub owner_url: Option<String>,
    pub git_hub_internal_id: Option<String>,
    pub onboarding_state: Option<OnboardingState>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitHubRepoProperties {
    pub provisioning_state: Option<ProvisioningState>,
    pub provisioning_status_message: Option<String>,
    pub provisioning_status_update_time_utc: Option<String>,
    pub repo_id: Option<String>,
    pub repo_name: Option<String>,
    pub repo_full_name: Option<String>,
    pub repo_url: Option<String>,
    pub parent_owner_name: Option<String>,
    pub onboarding_state: Option<OnboardingState>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitLabGroupProperties {
    pub provisioning_state: Option<ProvisioningState>,
    pub provisioning_status_message: Option<String>,
    pub provisioning_status_update_time_utc: Option<String>,
    /// `$`-separated namespaces, e.g. `group$subgroup`.
    pub fully_qualified_name: Option<String>,
    pub fully_qualified_friendly_name: Option<String>,
    pub url: Option<String>,
    pub onboarding_state: Option<OnboardingState>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitLabProjectProperties {
    pub provisioning_state: Option<ProvisioningState>,
    pub provisioning_status_message: Option<String>,
    pub provisioning_status_update_time_utc: Option<String>,
    pub fully_qualified_name: Option<String>,
    pub fully_qualified_friendly_name: Option<String>,
    pub fully_qualified_parent_group_name: Option<String>,
    pub url: Option<String>,
    pub onboarding_state: Option<OnboardingState>,
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------- operation results

/// v2 `OperationStatusResult` (also the shape of `Azure-AsyncOperation` status documents).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatusResult {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub status: String,
    pub percent_complete: Option<serde_json::Number>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub operations: Option<Vec<OperationStatusResult>>,
    pub error: Option<ErrorDetail>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl OperationStatusResult {
    pub fn lro_status(&self) -> LroStatus {
        LroStatus::parse(&self.status)
    }
}

/// The status of a long-running operation, parsed case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LroStatus {
    InProgress,
    Accepted,
    Running,
    Succeeded,
    Failed,
    Canceled,
    Unknown(String),
}

impl LroStatus {
    pub fn parse(s: &str) -> LroStatus {
        match s.to_ascii_lowercase().as_str() {
            "inprogress" => LroStatus::InProgress,
            "accepted" => LroStatus::Accepted,
            "running" | "updating" | "creating" | "deleting" => LroStatus::Running,
            "succeeded" => LroStatus::Succeeded,
            "failed" => LroStatus::Failed,
            "canceled" | "cancelled" => LroStatus::Canceled,
            _ => LroStatus::Unknown(s.to_owned()),
        }
    }
    pub fn is_terminal(&self) -> bool {
        matches!(self, LroStatus::Succeeded | LroStatus::Failed | LroStatus::Canceled)
    }
}

// ---------------------------------------------------------------- Resource Graph

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryRequest {
    pub query: String,
    pub subscriptions: Option<Vec<String>>,
    pub management_groups: Option<Vec<String>>,
    pub facets: Option<Vec<Value>>,
    pub options: Option<QueryRequestOptions>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryRequestOptions {
    #[serde(rename = "$skipToken")]
    pub skip_token: Option<String>,
    #[serde(rename = "$top")]
    pub top: Option<u32>,
    #[serde(rename = "$skip")]
    pub skip: Option<u32>,
    pub result_format: Option<String>,
    pub allow_partial_scopes: Option<bool>,
    pub authorization_scope_filter: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResponse {
    pub total_records: i64,
    pub count: i64,
    /// `"true"` or `"false"` (a string in the contract).
    pub result_truncated: String,
    #[serde(rename = "$skipToken")]
    pub skip_token: Option<String>,
    pub data: Value,
    pub facets: Option<Vec<Value>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl QueryResponse {
    /// The rows as objects, whichever result format was used (`objectArray` as is; `table`
    /// zipped from `columns` and `rows`).
    pub fn rows(&self) -> Vec<Map<String, Value>> {
        match &self.data {
            Value::Array(items) => items.iter().filter_map(|v| v.as_object().cloned()).collect(),
            Value::Object(t) => {
                let cols: Vec<String> = t
                    .get("columns")
                    .and_then(Value::as_array)
                    .map(|c| {
                        c.iter()
                            .filter_map(|c| {
                                c.get("name").and_then(Value::as_str).map(str::to_owned)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                t.get("rows")
                    .and_then(Value::as_array)
                    .map(|rows| {
                        rows.iter()
                            .filter_map(Value::as_array)
                            .map(|r| cols.iter().cloned().zip(r.iter().cloned()).collect())
                            .collect()
                    })
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

// ---------------------------------------------------------------- Support

pub type SupportService = Resource<SupportServiceProperties>;
pub type ProblemClassification = Resource<ProblemClassificationProperties>;
pub type SupportTicketDetails = Resource<SupportTicketProperties>;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportServiceProperties {
    pub display_name: Option<String>,
    pub resource_types: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemClassificationProperties {
    pub display_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportTicketProperties {
    pub support_ticket_id: Option<String>,
    pub description: Option<String>,
    pub problem_classification_id: Option<String>,
    pub problem_classification_display_name: Option<String>,
    pub severity: Option<Severity>,
    pub advanced_diagnostic_consent: Option<Consent>,
    pub contact_details: Option<ContactDetails>,
    pub title: Option<String>,
    pub service_id: Option<String>,
    pub service_display_name: Option<String>,
    pub status: Option<String>,
    pub technical_ticket_details: Option<TechnicalTicketDetails>,
    pub support_plan_id: Option<String>,
    pub problem_scoping_questions: Option<String>,
    pub secondary_consent: Option<Vec<Value>>,
    pub created_date: Option<String>,
    pub modified_date: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactDetails {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub preferred_contact_method: Option<ContactMethod>,
    pub primary_email_address: Option<String>,
    pub additional_email_addresses: Option<Vec<String>>,
    pub phone_number: Option<String>,
    pub preferred_time_zone: Option<String>,
    pub country: Option<String>,
    pub preferred_support_language: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TechnicalTicketDetails {
    pub resource_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `UpdateSupportTicket` (PATCH body).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSupportTicket {
    pub severity: Option<Severity>,
    /// `open` or `closed`.
    pub status: Option<String>,
    pub contact_details: Option<ContactDetails>,
    pub advanced_diagnostic_consent: Option<Consent>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckNameAvailabilityInput {
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: String,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckNameAvailabilityOutput {
    pub name_available: Option<bool>,
    pub reason: Option<String>,
    pub message: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `GET /subscriptions` items.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(default)]
    pub subscription_id: String,
    pub display_name: Option<String>,
    pub state: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A resource group (`resources.json` 2025-04-01, `ResourceGroup`). Its `location` is where ARM
/// keeps the metadata of the group's resources, and never changes.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    /// Required on PUT.
    pub location: Option<String>,
    pub managed_by: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub properties: Option<ResourceGroupProperties>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of the caller's permissions at a scope (`Permission` of
/// `Microsoft.Authorization/permissions`, authorization-RoleDefinitionsCalls.json 2022-04-01):
/// roughly one per role assignment that applies there. What it allows is `steps::permissions`'
/// business (ARM's wildcard rules).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_data_actions: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroupProperties {
    /// Read-only; a free string in the spec (`Succeeded`, `Deleting`, ...).
    pub provisioning_state: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResourceGroup {
    /// The provisioning state, `""` when absent.
    pub fn provisioning_state(&self) -> &str {
        self.properties.as_ref().and_then(|p| p.provisioning_state.as_deref()).unwrap_or("")
    }
    /// ARM is deleting the group: nothing can be created in it.
    pub fn is_deleting(&self) -> bool {
        self.provisioning_state().eq_ignore_ascii_case("Deleting")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_round_trip() {
        let v: AutoDiscovery = serde_json::from_str("\"SomethingNew\"").unwrap();
        assert_eq!(v, AutoDiscovery::Other("SomethingNew".into()));
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"SomethingNew\"");
        let v: AutoDiscovery = serde_json::from_str("\"Enabled\"").unwrap();
        assert_eq!(v, AutoDiscovery::Enabled);
    }

    #[test]
    fn authorization_code_never_debug_prints() {
        let p = DevOpsConfigurationProperties {
            authorization: Some(Authorization {
                code: Some(SecretString::new("oauth-code-123")),
                extra: Extra::new(),
            }),
            ..Default::default()
        };
        assert!(!format!("{p:?}").contains("oauth-code-123"));
        // It must reach the request body, though.
        assert!(serde_json::to_string(&p).unwrap().contains("oauth-code-123"));
    }

    #[test]
    fn lro_status_is_case_insensitive_with_unknown() {
        assert_eq!(LroStatus::parse("succeeded"), LroStatus::Succeeded);
        assert_eq!(LroStatus::parse("InProgress"), LroStatus::InProgress);
        assert_eq!(LroStatus::parse("Weird"), LroStatus::Unknown("Weird".into()));
        assert!(!LroStatus::parse("Weird").is_terminal());
    }

    #[test]
    fn table_results_become_rows() {
        let r: QueryResponse = serde_json::from_value(serde_json::json!({
            "totalRecords": 1, "count": 1, "resultTruncated": "false",
            "data": {"columns": [{"name": "id", "type": "string"}], "rows": [["a"]]}
        }))
        .unwrap();
        assert_eq!(r.rows()[0]["id"], "a");
    }
}
