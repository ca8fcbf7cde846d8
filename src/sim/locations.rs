//! Where the simulated Microsoft.Security provider accepts a DevOps security connector.
//!
//! Defender for Cloud DevOps security is available in nine regions of the Azure commercial cloud
//! ("Support and prerequisites: DevOps security", section "Cloud and region support",
//! https://learn.microsoft.com/en-us/azure/defender-for-cloud/devops-support). A PUT that
//! creates or updates an Azure DevOps, GitHub or GitLab connector elsewhere is refused as ARM
//! refuses a location a resource type is not available in: 400
//! `LocationNotAvailableForResourceType`, "The provided location 'X' is not available for
//! resource type '...'. List of available regions for the resource type is '...'." (the wording
//! ARM returns for every resource type, e.g. Azure/azure-rest-api-specs#8577 and #8347). Which
//! code Microsoft.Security itself returns for DevOps connectors is not documented: this is a
//! choice (docs/simulator.md). Connectors of other environments (AWS, GCP, ...) are not
//! checked.
//!
//! The simulator's own list: it shares nothing with lifeboat's `src/steps/data/azure-regions.yaml`.

use super::model::normalize_region;
use super::server::ArmError;

/// ARM names of the regions where DevOps security is available.
pub const DEVOPS_LOCATIONS: &[&str] = &[
    "eastasia",
    "australiaeast",
    "canadacentral",
    "westeurope",
    "northeurope",
    "swedencentral",
    "uksouth",
    "eastus",
    "centralus",
];

/// Refuses a DevOps connector (`environment_name` AzureDevOps, Github or GitLab) in a location
/// where DevOps security is not available.
pub fn check(location: &str, environment_name: Option<&str>) -> Result<(), ArmError> {
    let devops = environment_name.is_some_and(|e| {
        ["AzureDevOps", "Github", "GitLab"].iter().any(|d| d.eq_ignore_ascii_case(e))
    });
    if !devops || DEVOPS_LOCATIONS.contains(&normalize_region(location).as_str()) {
        return Ok(());
    }
    let shown: String = location.chars().filter(|c| !c.is_control()).take(64).collect();
    Err(ArmError::new(
        400,
        "LocationNotAvailableForResourceType",
        format!(
            "The provided location '{shown}' is not available for resource type 'Microsoft.Security/securityConnectors'. List of available regions for the resource type is '{}'.",
            DEVOPS_LOCATIONS.join(",")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devops_connectors_only_where_devops_security_is_available() {
        check("westeurope", Some("AzureDevOps")).unwrap();
        check("Central US", Some("github")).unwrap();
        check("westus2", Some("AWS")).unwrap();
        check("westus2", None).unwrap();
        let e = check("westus2", Some("GitLab")).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "LocationNotAvailableForResourceType"));
        assert_eq!(
            e.message,
            "The provided location 'westus2' is not available for resource type 'Microsoft.Security/securityConnectors'. List of available regions for the resource type is 'eastasia,australiaeast,canadacentral,westeurope,northeurope,swedencentral,uksouth,eastus,centralus'."
        );
    }
}
