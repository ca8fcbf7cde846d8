//! Which api-versions the simulated ARM serves, per API family, and ARM's refusal of the others.
//!
//! The families are the ones lifeboat names (`connectors`, `devops`, `graph`, `support`,
//! `subscriptions`). The default served set holds every version the simulator knows for a family
//! (newest first); tests and `sim serve --api-versions` replace it, the control API adds and
//! retires versions while the simulator runs. A refused version gets ARM's envelope:
//! `InvalidApiVersionParameter` for Resource Graph, Support and subscriptions (and for any
//! api-version that is not a date), `NoRegisteredProviderFound` for the Microsoft.Security types.
//!
//! This list is the simulator's own: it is deliberately not shared with lifeboat's `azure::api`
//! (the simulator plays Azure, it does not mirror the client).

use super::server::ArmError;
use std::collections::BTreeMap;

/// The API families, with the name the CLI, the control API and the request log use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Connectors,
    DevOps,
    Graph,
    Support,
    Subscriptions,
    ResourceGroups,
    Authorization,
    Storage,
}

impl Family {
    pub const ALL: [Family; 8] = [
        Family::Connectors,
        Family::DevOps,
        Family::Graph,
        Family::Support,
        Family::Subscriptions,
        Family::ResourceGroups,
        Family::Authorization,
        Family::Storage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Connectors => "connectors",
            Family::DevOps => "devops",
            Family::Graph => "graph",
            Family::Support => "support",
            Family::Subscriptions => "subscriptions",
            Family::ResourceGroups => "resourcegroups",
            Family::Authorization => "authorization",
            Family::Storage => "storage",
        }
    }

    pub fn parse(s: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Every version the simulator knows for the family, newest first. Sources: the versions of
    /// each spec folder in Azure/azure-rest-api-specs (see `docs/simulator.md`).
    pub fn known(self) -> &'static [&'static str] {
        match self {
            Family::Connectors => &[
                "2026-08-01-preview",
                "2024-08-01-preview",
                "2024-07-01-preview",
                "2024-03-01-preview",
                "2023-10-01-preview",
                "2023-03-01-preview",
            ],
            Family::DevOps => &[
                "2025-11-01-preview",
                "2025-03-01",
                "2024-05-15-preview",
                "2024-04-01",
                "2023-09-01-preview",
            ],
            Family::Graph => &["2024-04-01", "2022-10-01", "2021-03-01"],
            Family::Support => &["2026-06-01", "2024-04-01", "2020-04-01"],
            Family::Subscriptions => &["2022-12-01", "2021-01-01", "2020-01-01"],
            Family::ResourceGroups => &[
                "2025-04-01",
                "2024-11-01",
                "2024-07-01",
                "2024-03-01",
                "2022-09-01",
                "2021-04-01",
            ],
            Family::Authorization => &["2022-04-01", "2015-07-01"],
            // Microsoft.Storage stable versions (Azure/azure-rest-api-specs, storage/resource-manager).
            Family::Storage => &["2023-05-01", "2023-01-01", "2022-09-01", "2021-09-01"],
        }
    }

    /// Whether ARM answers an unserved version with `NoRegisteredProviderFound` (a resource
    /// provider's type) rather than `InvalidApiVersionParameter`.
    fn provider_type(self) -> bool {
        matches!(self, Family::Connectors | Family::DevOps | Family::Storage)
    }
}

/// The default served versions: every known version of every family.
pub fn default_served() -> BTreeMap<String, Vec<String>> {
    Family::ALL
        .into_iter()
        .map(|f| (f.name().to_string(), f.known().iter().map(|v| v.to_string()).collect()))
        .collect()
}

/// `YYYY-MM-DD` with an optional `-suffix` (`-preview`, `-beta`), at most 32 characters.
pub fn well_formed(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 10 || b.len() > 32 {
        return false;
    }
    let date = b[..10].iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        _ => c.is_ascii_digit(),
    });
    if !date {
        return false;
    }
    // The first 10 bytes are ASCII: 10 is a character boundary.
    let rest = &v[10..];
    rest.is_empty()
        || (rest.starts_with('-')
            && rest.len() > 1
            && rest[1..].chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Orders versions by date, a preview before the stable version of the same date.
pub fn cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let date = |v: &str| v.get(..10).unwrap_or(v).to_string();
    date(a).cmp(&date(b)).then_with(|| {
        let stable = |v: &str| v.len() <= 10;
        stable(a).cmp(&stable(b))
    })
}

/// Sorts newest first and removes duplicates.
pub fn normalize(list: &mut Vec<String>) {
    list.sort_by(|a, b| cmp(b, a));
    list.dedup();
}

/// The Azure regions DevOps security is offered in (named by ARM's refusal, as ARM names the
/// supported locations of a type).
const DEVOPS_LOCATIONS: &str = "australiaeast, canadacentral, centralus, eastasia, eastus, northeurope, swedencentral, uksouth, westeurope";

/// Checks the request's `api-version` against the served set of `family`. `type_name` and
/// `location` go into ARM's `NoRegisteredProviderFound` message. Returns the version.
pub fn require(
    served: &BTreeMap<String, Vec<String>>,
    family: Family,
    version: Option<&str>,
    type_name: &str,
    location: &str,
) -> Result<String, ArmError> {
    let Some(v) = version else {
        return Err(ArmError::new(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    let list: Vec<String> = served.get(family.name()).cloned().unwrap_or_default();
    if list.iter().any(|s| s == v) {
        return Ok(v.to_string());
    }
    let shown: String = v.chars().filter(|c| !c.is_control()).take(64).collect();
    if family.provider_type() && well_formed(v) {
        let mut ascending = list.clone();
        ascending.reverse();
        return Err(ArmError::new(
            400,
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location '{location}' and API version '{shown}' for type '{type_name}'. The supported api-versions are '{}'. The supported locations are '{DEVOPS_LOCATIONS}'.",
                ascending.join(", ")
            ),
        ));
    }
    Err(ArmError::new(
        400,
        "InvalidApiVersionParameter",
        format!(
            "The api-version '{shown}' is invalid. The supported versions are '{}'. Please see https://aka.ms/api-version for more details.",
            list.join(",")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_well_formed_and_ordered() {
        for f in Family::ALL {
            let mut k: Vec<String> = f.known().iter().map(|s| s.to_string()).collect();
            assert!(k.iter().all(|v| well_formed(v)), "{k:?}");
            let before = k.clone();
            normalize(&mut k);
            assert_eq!(k, before, "{} is listed newest first", f.name());
        }
        assert!(!well_formed("latest"));
        assert!(!well_formed("2024-04-01-"));
        assert!(!well_formed("2024-01-0\u{e9}-preview"), "no panic on a multi-byte character");
        assert!(well_formed("2099-01-01-preview"));
        assert_eq!(cmp("2025-03-01", "2025-03-01-preview"), std::cmp::Ordering::Greater);
    }

    #[test]
    fn refusals_name_the_served_versions() {
        let served = default_served();
        let e = require(
            &served,
            Family::DevOps,
            Some("2020-01-01"),
            "securityConnectors/devops",
            "westeurope",
        )
        .unwrap_err();
        assert_eq!(e.code, "NoRegisteredProviderFound");
        assert!(e.message.contains("'2023-09-01-preview, 2024-04-01, 2024-05-15-preview, 2025-03-01, 2025-11-01-preview'"), "{}", e.message);
        let e =
            require(&served, Family::Graph, Some("2020-01-01"), "resources", "global").unwrap_err();
        assert_eq!(e.code, "InvalidApiVersionParameter");
        assert!(e.message.contains("'2024-04-01,2022-10-01,2021-03-01'"), "{}", e.message);
        let e = require(&served, Family::DevOps, Some("latest"), "x", "global").unwrap_err();
        assert_eq!(e.code, "InvalidApiVersionParameter");
        assert_eq!(
            require(&served, Family::DevOps, None, "x", "g").unwrap_err().code,
            "MissingApiVersionParameter"
        );
    }
}
