//! API versions and cloud endpoints: the one place where they are written down, so an upgrade of
//! an api-version is one edit (and the contract tests in `tests/azure` show what it changed).
//!
//! Each API lifeboat calls belongs to one [`ApiFamily`]. A family has a compiled default and a
//! list of versions lifeboat knows (newest first); the version a process uses for a family is
//! chosen once, in this order: an override (`--api-version FAMILY=VERSION`, or
//! `LIFEBOAT_API_VERSIONS=FAMILY=VERSION,...`), else the compiled default, which ARM may refuse:
//! then the client negotiates, once per family and process, the newest version that is both
//! served and known ([`negotiate`]), and never switches again after the family's first
//! successful call. [`ApiVersions`] is that choice, held by the client.
//!
//! Sources of the known versions: `/work/shared/azure-specs/README.md` (versions seen in
//! `Azure/azure-rest-api-specs`) and the defaults of Microsoft's current SDKs (issue 12).

use crate::cli::CloudName;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// `Microsoft.Security/securityConnectors` (no stable version exists; see azure-specs README).
pub const SECURITY_CONNECTORS: &str = "2026-08-01-preview";
/// `Microsoft.Security/securityConnectors/devops` and its children.
pub const DEVOPS: &str = "2025-03-01";
/// `Microsoft.ResourceGraph/resources`.
pub const RESOURCE_GRAPH: &str = "2024-04-01";
/// `Microsoft.Support`.
pub const SUPPORT: &str = "2026-06-01";
/// `GET /subscriptions`.
pub const SUBSCRIPTIONS: &str = "2022-12-01";
/// `Microsoft.Resources/resourceGroups` (get, check existence, create or update, list).
pub const RESOURCE_GROUPS: &str = "2025-04-01";
/// `Microsoft.Authorization/permissions` (the caller's effective actions at a scope).
pub const AUTHORIZATION: &str = "2022-04-01";

/// The environment variable of the overrides: `devops=2025-11-01-preview,connectors=...`.
pub const OVERRIDES_ENV: &str = "LIFEBOAT_API_VERSIONS";

/// An API family: the resource types that share one api-version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiFamily {
    /// `Microsoft.Security/securityConnectors`.
    Connectors,
    /// `Microsoft.Security/securityConnectors/devops` and its children.
    Devops,
    /// `Microsoft.ResourceGraph/resources`.
    Graph,
    /// `Microsoft.Support` (services, problem classifications, tickets).
    Support,
    /// `GET /subscriptions`.
    Subscriptions,
    /// `Microsoft.Resources/resourceGroups`.
    ResourceGroups,
    /// `Microsoft.Authorization/permissions`.
    Authorization,
}

impl ApiFamily {
    /// Every family, in the order `doctor` shows them.
    pub const ALL: [ApiFamily; 7] = [
        ApiFamily::Subscriptions,
        ApiFamily::ResourceGroups,
        ApiFamily::Authorization,
        ApiFamily::Graph,
        ApiFamily::Connectors,
        ApiFamily::Devops,
        ApiFamily::Support,
    ];

    /// The name on the command line (`--api-version devops=...`).
    pub fn name(self) -> &'static str {
        match self {
            ApiFamily::Connectors => "connectors",
            ApiFamily::Devops => "devops",
            ApiFamily::Graph => "graph",
            ApiFamily::Support => "support",
            ApiFamily::Subscriptions => "subscriptions",
            ApiFamily::ResourceGroups => "resourcegroups",
            ApiFamily::Authorization => "authorization",
        }
    }

    /// The family of a command-line name (case-insensitive).
    pub fn parse(name: &str) -> Option<ApiFamily> {
        Self::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }

    /// What the family covers, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ApiFamily::Connectors => "Microsoft.Security/securityConnectors",
            ApiFamily::Devops => "Microsoft.Security/securityConnectors/devops and its children",
            ApiFamily::Graph => "Microsoft.ResourceGraph/resources",
            ApiFamily::Support => "Microsoft.Support",
            ApiFamily::Subscriptions => "Microsoft.Resources subscriptions",
            ApiFamily::ResourceGroups => "Microsoft.Resources/resourceGroups",
            ApiFamily::Authorization => "Microsoft.Authorization/permissions",
        }
    }

    /// The version used when nothing else is chosen.
    pub fn compiled(self) -> &'static str {
        match self {
            ApiFamily::Connectors => SECURITY_CONNECTORS,
            ApiFamily::Devops => DEVOPS,
            ApiFamily::Graph => RESOURCE_GRAPH,
            ApiFamily::Support => SUPPORT,
            ApiFamily::Subscriptions => SUBSCRIPTIONS,
            ApiFamily::ResourceGroups => RESOURCE_GROUPS,
            ApiFamily::Authorization => AUTHORIZATION,
        }
    }

    /// The versions lifeboat knows for this family, newest first: what negotiation may pick.
    pub fn known(self) -> &'static [&'static str] {
        match self {
            ApiFamily::Connectors => &[
                "2026-08-01-preview",
                "2024-08-01-preview",
                "2024-07-01-preview",
                "2024-03-01-preview",
                "2023-10-01-preview",
                "2023-03-01-preview",
            ],
            ApiFamily::Devops => &[
                "2025-11-01-preview",
                "2025-03-01",
                "2024-05-15-preview",
                "2024-04-01",
                "2023-09-01-preview",
            ],
            ApiFamily::Graph => &["2024-04-01", "2022-10-01", "2021-03-01"],
            ApiFamily::Support => &["2026-06-01", "2024-04-01", "2020-04-01"],
            ApiFamily::Subscriptions => &["2022-12-01", "2021-01-01", "2020-01-01"],
            // Stable versions of resources.json and authorization-RoleDefinitionsCalls.json in
            // Azure/azure-rest-api-specs (azure-specs README, "Other versions seen").
            ApiFamily::ResourceGroups => &[
                "2025-04-01",
                "2024-11-01",
                "2024-07-01",
                "2024-03-01",
                "2022-09-01",
                "2021-04-01",
            ],
            ApiFamily::Authorization => &["2022-04-01", "2015-07-01"],
        }
    }

    /// `connectors, devops, graph, support, subscriptions, ...`: for messages.
    pub fn names() -> String {
        [
            ApiFamily::Connectors,
            ApiFamily::Devops,
            ApiFamily::Graph,
            ApiFamily::Support,
            ApiFamily::Subscriptions,
            ApiFamily::ResourceGroups,
            ApiFamily::Authorization,
        ]
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
    }
}

impl fmt::Display for ApiFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an override came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverrideOrigin {
    /// `--api-version FAMILY=VERSION`.
    Flag,
    /// [`OVERRIDES_ENV`].
    Env,
}

/// One `FAMILY=VERSION` override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiOverride {
    pub family: ApiFamily,
    pub version: String,
    pub origin: OverrideOrigin,
}

impl ApiOverride {
    /// How the user wrote it: `--api-version devops=X` or `LIFEBOAT_API_VERSIONS (devops=X)`.
    pub fn describe(&self) -> String {
        match self.origin {
            OverrideOrigin::Flag => format!("--api-version {}={}", self.family, self.version),
            OverrideOrigin::Env => format!("{OVERRIDES_ENV} ({}={})", self.family, self.version),
        }
    }
}

/// Is `v` shaped like an ARM api-version: `YYYY-MM-DD` with an optional `-suffix` of letters
/// and digits (`-preview`, `-privatepreview`, `-beta`)?
pub fn is_well_formed_version(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 10 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)) {
        return false;
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    let day = (b[8] - b'0') * 10 + (b[9] - b'0');
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    match &v[10..] {
        "" => true,
        rest => {
            rest.len() >= 2
                && rest.len() <= 40
                && rest.starts_with('-')
                && rest[1..]
                    .split('-')
                    .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric()))
        }
    }
}

/// Parses one `FAMILY=VERSION`. The error says what is wrong and lists the families.
pub fn parse_override(s: &str, origin: OverrideOrigin) -> Result<ApiOverride, String> {
    let families = ApiFamily::names();
    let Some((family, version)) = s.split_once('=') else {
        return Err(format!(
            "`{s}` is not FAMILY=VERSION (families: {families}; for example devops=2025-11-01-preview)"
        ));
    };
    let Some(family) = ApiFamily::parse(family) else {
        return Err(format!("`{}` is not an API family (families: {families})", family.trim()));
    };
    let version = version.trim();
    if !is_well_formed_version(version) {
        return Err(format!(
            "`{version}` is not an api-version for {family} (expected YYYY-MM-DD or YYYY-MM-DD-preview; versions lifeboat knows: {}; families: {families})",
            family.known().join(", ")
        ));
    }
    Ok(ApiOverride { family, version: version.to_owned(), origin })
}

/// Parses the value of [`OVERRIDES_ENV`]: `FAMILY=VERSION` separated by commas (blanks ignored).
pub fn parse_overrides_env(value: &str) -> Result<Vec<ApiOverride>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_override(s, OverrideOrigin::Env))
        .collect()
}

/// How the version in use for a family was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum VersionSource {
    /// lifeboat's compiled default.
    Compiled,
    /// An override; ARM's refusal of it is an error, never negotiated away.
    Override { origin: OverrideOrigin },
    /// Chosen from the versions ARM said it serves, after it refused another one.
    Negotiated { from: String },
}

impl VersionSource {
    /// `compiled`, `override`, `negotiated`.
    pub fn label(&self) -> &'static str {
        match self {
            VersionSource::Compiled => "compiled",
            VersionSource::Override { .. } => "override",
            VersionSource::Negotiated { .. } => "negotiated",
        }
    }
}

/// The version in use for one family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chosen {
    pub version: String,
    pub source: VersionSource,
    /// A call with this version succeeded: the process never switches this family again.
    pub confirmed: bool,
}

/// The version in use for every family: what [`super::ArmClient`] builds URLs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiVersions(BTreeMap<ApiFamily, Chosen>);

impl Default for ApiVersions {
    fn default() -> Self {
        ApiVersions(
            ApiFamily::ALL
                .into_iter()
                .map(|f| {
                    let c = Chosen {
                        version: f.compiled().to_owned(),
                        source: VersionSource::Compiled,
                        confirmed: false,
                    };
                    (f, c)
                })
                .collect(),
        )
    }
}

impl ApiVersions {
    /// The compiled defaults with `overrides` applied in order (a later one wins).
    pub fn with_overrides(overrides: &[ApiOverride]) -> Self {
        let mut v = Self::default();
        for o in overrides {
            v.set_override(o);
        }
        v
    }
    pub fn set_override(&mut self, o: &ApiOverride) {
        self.0.insert(
            o.family,
            Chosen {
                version: o.version.clone(),
                source: VersionSource::Override { origin: o.origin },
                confirmed: false,
            },
        );
    }
    pub fn get(&self, family: ApiFamily) -> &Chosen {
        // Every family has an entry from `default()` on; nothing removes one.
        &self.0[&family]
    }
    pub(crate) fn get_mut(&mut self, family: ApiFamily) -> &mut Chosen {
        self.0.entry(family).or_insert_with(|| Chosen {
            version: family.compiled().to_owned(),
            source: VersionSource::Compiled,
            confirmed: false,
        })
    }
    pub fn version(&self, family: ApiFamily) -> &str {
        &self.get(family).version
    }
    pub fn iter(&self) -> impl Iterator<Item = (ApiFamily, &Chosen)> {
        self.0.iter().map(|(f, c)| (*f, c))
    }
}

/// One negotiation: ARM refused `from` for `family` and said it serves `served`; lifeboat took
/// `to`, the newest of them it knows, for the rest of the process. Steps journal these (see
/// [`super::ArmClient::negotiations`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Negotiation {
    pub family: ApiFamily,
    pub from: String,
    pub to: String,
    pub served: Vec<String>,
    /// The refused call: method, resource, and ARM's error code and IDs.
    pub method: String,
    pub resource: String,
    pub code: String,
    pub status: u16,
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
}

impl Negotiation {
    /// One line for a journal effect or a log: `devops api-version 2025-03-01 -> 2025-11-01-preview
    /// (refused with NoRegisteredProviderFound; served: ...)`.
    pub fn summary(&self) -> String {
        format!(
            "{} api-version {} -> {} ({} refused {} with {}; served: {})",
            self.family,
            self.from,
            self.to,
            self.method,
            self.resource,
            self.code,
            self.served.join(", ")
        )
    }
}

/// The ARM error codes that mean "this api-version is not served here".
pub const REFUSAL_CODES: &[&str] =
    &["NoRegisteredProviderFound", "InvalidApiVersionParameter", "InvalidResourceType"];

/// The versions an ARM refusal names: the quoted, comma-separated list after "supported
/// versions are" or "supported api-versions are" (case-insensitive, with or without blanks).
/// `None` when the message names none (an `InvalidResourceType` for a type that does not exist).
pub fn parse_served_versions(message: &str) -> Option<Vec<String>> {
    let lower = message.to_ascii_lowercase();
    let at = ["supported versions are", "supported api-versions are", "supported api versions are"]
        .iter()
        .filter_map(|p| lower.find(p).map(|i| i + p.len()))
        .min()?;
    let rest = &message[at..];
    let open = rest.find(['\'', '"'])?;
    let quote = rest[open..].chars().next()?;
    let inner = &rest[open + 1..];
    let close = inner.find(quote)?;
    let list: Vec<String> = inner[..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        None
    } else {
        Some(list)
    }
}

/// The newest version of `family` that lifeboat knows and ARM serves (case-insensitive).
pub fn negotiate(family: ApiFamily, served: &[String]) -> Option<&'static str> {
    family.known().iter().copied().find(|k| served.iter().any(|s| s.eq_ignore_ascii_case(k)))
}

/// Resource Graph recommends grouping subscriptions into batches of fewer than 300 per query.
pub const RESOURCE_GRAPH_SUBSCRIPTION_BATCH: usize = 250;

/// One Azure cloud: where ARM is and which token scope it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    pub name: CloudName,
    /// ARM endpoint, with a trailing slash.
    pub arm_endpoint: &'static str,
    /// The OAuth scope for ARM tokens.
    pub arm_scope: &'static str,
}

impl Cloud {
    pub fn of(name: CloudName) -> Cloud {
        match name {
            CloudName::Public => Cloud {
                name,
                arm_endpoint: "https://management.azure.com/",
                arm_scope: "https://management.azure.com/.default",
            },
            CloudName::UsGovernment => Cloud {
                name,
                arm_endpoint: "https://management.usgovcloudapi.net/",
                arm_scope: "https://management.usgovcloudapi.net/.default",
            },
            CloudName::China => Cloud {
                name,
                arm_endpoint: "https://management.chinacloudapi.cn/",
                arm_scope: "https://management.chinacloudapi.cn/.default",
            },
        }
    }

    /// The matching `azure_core` cloud configuration (authority host for the credentials).
    pub fn core_configuration(&self) -> azure_core::cloud::CloudConfiguration {
        match self.name {
            CloudName::Public => azure_core::cloud::CloudConfiguration::AzurePublic,
            CloudName::UsGovernment => azure_core::cloud::CloudConfiguration::AzureGovernment,
            CloudName::China => azure_core::cloud::CloudConfiguration::AzureChina,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloud_scope_matches_its_endpoint() {
        for name in [CloudName::Public, CloudName::UsGovernment, CloudName::China] {
            let c = Cloud::of(name);
            assert!(c.arm_scope.starts_with(c.arm_endpoint), "{c:?}");
            assert!(c.arm_endpoint.starts_with("https://"));
        }
    }

    #[test]
    fn every_compiled_default_is_a_known_well_formed_version() {
        for f in ApiFamily::ALL {
            assert!(f.known().contains(&f.compiled()), "{f}");
            assert_eq!(ApiFamily::parse(f.name()), Some(f));
            for v in f.known() {
                assert!(is_well_formed_version(v), "{f} {v}");
            }
            // Newest first: negotiation picks the first served one.
            let mut sorted = f.known().to_vec();
            sorted.sort_by(|a, b| b[..10].cmp(&a[..10]));
            assert_eq!(sorted, f.known(), "{f}");
        }
        assert_eq!(ApiFamily::names(), "connectors, devops, graph, support, subscriptions");
    }

    #[test]
    fn versions_must_look_like_arm_versions() {
        for ok in
            ["2025-03-01", "2025-11-01-preview", "2099-01-01-privatepreview", "2020-01-01-beta-2"]
        {
            assert!(is_well_formed_version(ok), "{ok}");
        }
        for bad in [
            "",
            "latest",
            "2025-3-01",
            "2025-13-01",
            "2025-03-00",
            "2025-03-01-",
            "2025-03-01preview",
            "2025-03-01-pre view",
            "2025-03-01--x",
        ] {
            assert!(!is_well_formed_version(bad), "{bad}");
        }
    }

    #[test]
    fn overrides_parse_and_name_the_families_when_wrong() {
        let o = parse_override("DevOps=2025-11-01-preview", OverrideOrigin::Flag).unwrap();
        assert_eq!((o.family, o.version.as_str()), (ApiFamily::Devops, "2025-11-01-preview"));
        assert_eq!(o.describe(), "--api-version devops=2025-11-01-preview");
        for bad in ["devops", "nope=2025-03-01", "devops=latest", "=2025-03-01"] {
            let e = parse_override(bad, OverrideOrigin::Flag).unwrap_err();
            assert!(e.contains("connectors, devops, graph, support, subscriptions"), "{bad}: {e}");
        }
        let v = parse_overrides_env(" devops=2025-11-01-preview, ,connectors=2024-08-01-preview ")
            .unwrap();
        assert_eq!(v.len(), 2);
        let chosen = ApiVersions::with_overrides(&v);
        assert_eq!(chosen.version(ApiFamily::Connectors), "2024-08-01-preview");
        assert_eq!(chosen.version(ApiFamily::Graph), RESOURCE_GRAPH);
        assert_eq!(chosen.get(ApiFamily::Devops).source.label(), "override");
        assert!(parse_overrides_env("devops=2025-11-01-preview,graph").is_err());
    }

    #[test]
    fn served_versions_are_read_from_each_refusal_shape() {
        let invalid = "The api-version '2025-03-01' is invalid. The supported versions are '2025-11-01-preview,2024-04-01'. Please see https://aka.ms/api-version for more details.";
        assert_eq!(parse_served_versions(invalid).unwrap(), ["2025-11-01-preview", "2024-04-01"]);
        let provider = "No registered resource provider found for location 'westeurope' and API version '2025-03-01' for type 'securityConnectors'. The supported api-versions are '2024-04-01, 2025-11-01-preview'. The supported locations are 'centralus, westeurope'.";
        let served = parse_served_versions(provider).unwrap();
        assert_eq!(served, ["2024-04-01", "2025-11-01-preview"]);
        assert_eq!(negotiate(ApiFamily::Devops, &served), Some("2025-11-01-preview"));
        assert_eq!(negotiate(ApiFamily::Devops, &["2099-01-01".into()]), None);
        let ty = "The resource type 'devops' could not be found in the namespace 'Microsoft.Security' for api version '2025-03-01'. The supported api-versions are '2024-04-01'.";
        assert_eq!(parse_served_versions(ty).unwrap(), ["2024-04-01"]);
        assert_eq!(parse_served_versions("The resource type 'x' could not be found."), None);
        assert_eq!(parse_served_versions("The supported versions are ''."), None);
    }
}
