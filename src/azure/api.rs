//! API versions and cloud endpoints: the one place where they are written down, so an upgrade of
//! an api-version is one edit (and the contract tests in `tests/it/azure` show what it changed).
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

use super::CloudName;
use serde::Serialize;
use serde_json::Value;
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
/// `Microsoft.Storage/storageAccounts` (Get Properties, List: where a run or backup store lives).
pub const STORAGE: &str = "2023-05-01";

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
    /// `Microsoft.Storage/storageAccounts`.
    Storage,
}

impl ApiFamily {
    /// Every family, in the order `doctor` shows them.
    pub const ALL: [ApiFamily; 8] = [
        ApiFamily::Subscriptions,
        ApiFamily::ResourceGroups,
        ApiFamily::Authorization,
        ApiFamily::Graph,
        ApiFamily::Connectors,
        ApiFamily::Devops,
        ApiFamily::Support,
        ApiFamily::Storage,
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
            ApiFamily::Storage => "storage",
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
            ApiFamily::Storage => "Microsoft.Storage/storageAccounts",
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
            ApiFamily::Storage => STORAGE,
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
            // Stable Microsoft.Storage versions of Azure/azure-rest-api-specs
            // (tests/fixtures/azure-specs README: the Get Properties example is 2023-05-01's).
            ApiFamily::Storage => &["2023-05-01", "2023-01-01", "2022-09-01"],
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
            ApiFamily::Storage,
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
    /// The config file's `[api-versions]` section.
    Config,
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
            OverrideOrigin::Config => {
                format!("config file [api-versions] {} = \"{}\"", self.family, self.version)
            }
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

// ------------------------------------------------------------ fields per api-version

/// What lifeboat knows of how the api-versions of a family differ on a resource type: a field
/// (JSON pointer, `*` for every array element) and the first version of the family that has it.
/// Sources: the spec folders of each version in Azure/azure-rest-api-specs (the DevOps
/// `DevOpsConfigurationProperties` gained `capabilities` in 2024-05-15-preview and
/// `agentlessConfiguration` in 2025-03-01; the connectors' environment data gained the
/// read-only names and `regions` in 2023-10-01-preview; the GitLab triple came with
/// 2023-10-01-preview). The simulator keeps its own table (`sim::schema`): it plays Azure.
const FIELDS_INTRODUCED: &[(ApiFamily, &str, &str, &str)] = &[
    (ApiFamily::Devops, "devops", "/properties/capabilities", "2024-05-15-preview"),
    (ApiFamily::Devops, "devops", "/properties/agentlessConfiguration", "2025-03-01"),
    (
        ApiFamily::Connectors,
        "securityConnectors",
        "/properties/environmentData/regions",
        "2023-10-01-preview",
    ),
    (
        ApiFamily::Connectors,
        "securityConnectors",
        "/properties/environmentData/accountName",
        "2023-10-01-preview",
    ),
];

/// Enum values a version introduced: `(family, type, pointer, value, first version)`.
const VALUES_INTRODUCED: &[(ApiFamily, &str, &str, &str, &str)] = &[
    (
        ApiFamily::Connectors,
        "securityConnectors",
        "/properties/environmentName",
        "GitLab",
        "2023-10-01-preview",
    ),
    (
        ApiFamily::Connectors,
        "securityConnectors",
        "/properties/environmentData/environmentType",
        "GitlabScope",
        "2023-10-01-preview",
    ),
    (
        ApiFamily::Connectors,
        "securityConnectors",
        "/properties/offerings/*/offeringType",
        "CspmMonitorGitLab",
        "2023-10-01-preview",
    ),
];

/// Orders api-versions: by date, and a stable version after the previews of its date.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |v: &str| (v.get(..10).unwrap_or(v).to_owned(), v.len() <= 10);
    key(a).cmp(&key(b))
}

/// The resource type a write targets, as [`FIELDS_INTRODUCED`] names it: the last type
/// segment of the resource ID (`securityConnectors`, `devops`, `azureDevOpsOrgs`, ...).
pub fn type_of(resource_id: &str) -> &str {
    let segs: Vec<&str> = resource_id.trim_end_matches('/').split('/').collect();
    if segs.len() >= 2 {
        segs[segs.len() - 2]
    } else {
        ""
    }
}

/// The dotted paths of `body` at `pointer` (`*` expands to every array element).
fn present_at(body: &Value, pointer: &str) -> Vec<String> {
    fn go(v: &Value, segs: &[&str], at: String, out: &mut Vec<String>) {
        let Some((first, rest)) = segs.split_first() else {
            out.push(at);
            return;
        };
        let join = |k: &str| if at.is_empty() { k.to_owned() } else { format!("{at}.{k}") };
        match (*first, v) {
            ("*", Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    go(item, rest, format!("{at}[{i}]"), out);
                }
            }
            (k, Value::Object(m)) => {
                if let Some(child) = m.get(k) {
                    go(child, rest, join(k), out);
                }
            }
            _ => {}
        }
    }
    let segs: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let mut out = Vec::new();
    go(body, &segs, String::new(), &mut out);
    out
}

/// The fields of a write `body` (to `resource_id`) that the two versions treat differently,
/// as far as lifeboat knows, each with why: what a restore written with another version than
/// the snapshot's may not carry over exactly. Empty when lifeboat knows no difference.
pub fn fields_that_differ(
    family: ApiFamily,
    resource_id: &str,
    read_with: &str,
    written_with: &str,
    body: &Value,
) -> Vec<String> {
    let ty = type_of(resource_id);
    let between = |since: &str| {
        let (lo, hi) = match version_order(read_with, written_with) {
            std::cmp::Ordering::Greater => (written_with, read_with),
            _ => (read_with, written_with),
        };
        version_order(lo, since).is_lt() && !version_order(hi, since).is_lt()
    };
    let newer_write = version_order(written_with, read_with).is_gt();
    let mut out = Vec::new();
    for (f, t, ptr, since) in FIELDS_INTRODUCED {
        if *f != family || !t.eq_ignore_ascii_case(ty) || !between(since) {
            continue;
        }
        let dotted = ptr.trim_start_matches('/').replace('/', ".");
        let found = present_at(body, ptr);
        if newer_write {
            if found.is_empty() {
                out.push(format!(
                    "{dotted} (introduced in {since}; the backup, read with {read_with}, has no \
                     value: the service applies its default)"
                ));
            }
        } else {
            for p in found {
                out.push(format!(
                    "{p} (introduced in {since}; {written_with} does not know it: the service \
                     may ignore it)"
                ));
            }
        }
    }
    if !newer_write {
        for (f, t, ptr, value, since) in VALUES_INTRODUCED {
            if *f != family || !t.eq_ignore_ascii_case(ty) || !between(since) {
                continue;
            }
            for p in present_at(body, ptr) {
                let v = p.split('.').try_fold(body, |v, k| {
                    let (name, idx) = match k.split_once('[') {
                        Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
                        None => (k, None),
                    };
                    let v = v.get(name)?;
                    match idx {
                        Some(i) => v.get(i),
                        None => Some(v),
                    }
                });
                if v.and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case(value)) {
                    out.push(format!(
                        "{p} = {value} (a value introduced in {since}; {written_with} may refuse it)"
                    ));
                }
            }
        }
    }
    out
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
        assert_eq!(
            ApiFamily::names(),
            "connectors, devops, graph, support, subscriptions, resourcegroups, authorization, storage"
        );
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

    #[test]
    fn version_order_puts_stable_after_previews_of_its_date() {
        use std::cmp::Ordering::*;
        assert_eq!(version_order("2025-03-01", "2025-03-01-preview"), Greater);
        assert_eq!(version_order("2024-05-15-preview", "2025-03-01"), Less);
        assert_eq!(version_order("2025-11-01-preview", "2025-03-01"), Greater);
    }

    #[test]
    fn fields_that_differ_name_what_each_direction_loses() {
        let cfg = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/securityConnectors/c/devops/default";
        let old = serde_json::json!({"properties": {"autoDiscovery": "Enabled"}});
        // Read with 2024-04-01, written with 2025-03-01: both newer fields have no value.
        let f = fields_that_differ(ApiFamily::Devops, cfg, "2024-04-01", "2025-03-01", &old);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[1].starts_with("properties.agentlessConfiguration (introduced in 2025-03-01"));
        // Read with 2025-03-01, written with 2024-05-15-preview: the field it lacks is named
        // where the body has it; capabilities exist in both.
        let new = serde_json::json!({"properties": {"agentlessConfiguration": {"x": 1}, "capabilities": []}});
        let f =
            fields_that_differ(ApiFamily::Devops, cfg, "2025-03-01", "2024-05-15-preview", &new);
        assert_eq!(f, vec!["properties.agentlessConfiguration (introduced in 2025-03-01; 2024-05-15-preview does not know it: the service may ignore it)".to_string()]);
        // An enum value the older connectors version lacks, inside an array.
        let conn =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/securityConnectors/c";
        let body = serde_json::json!({"properties": {"offerings": [{"offeringType": "CspmMonitorGitLab"}]}});
        let f = fields_that_differ(
            ApiFamily::Connectors,
            conn,
            "2024-08-01-preview",
            "2023-03-01-preview",
            &body,
        );
        assert_eq!(f, vec!["properties.offerings[0].offeringType = CspmMonitorGitLab (a value introduced in 2023-10-01-preview; 2023-03-01-preview may refuse it)".to_string()]);
        // Nothing known between the two: nothing named.
        assert!(fields_that_differ(
            ApiFamily::Devops,
            cfg,
            "2025-03-01",
            "2025-11-01-preview",
            &new
        )
        .is_empty());
    }
}
