//! API versions and cloud endpoints: the one place where they are written down, so an upgrade of
//! an api-version is one edit (and the contract tests in `tests/azure` show what it changed).

use crate::cli::CloudName;

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
}
