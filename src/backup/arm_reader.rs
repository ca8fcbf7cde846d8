//! [`ArmReader`]: the [`ConfigReader`] over the real (or simulated) Azure, through
//! [`ArmClient`].
//!
//! Bodies are fetched as raw JSON through the client's generic JSON operations
//! ([`ArmClient::list_json`], [`ArmClient::get_json`]), not through the typed models: a backup
//! must keep every field exactly as ARM returned it, explicit `null`s and fields newer than our
//! models included. The client builds the URLs and picks the api-version of each family (the
//! compiled one, an override, or the one it negotiated when ARM refused it); each object is
//! recorded with the version it was actually read with ([`ConfigReader::api_version`] asks the
//! client after the read: a family never switches after its first successful call).
//!
//! Connector discovery: with `--subscription`, each subscription's connector list is read
//! directly; without, Resource Graph (`queries/devops-connectors.kql`, the query
//! `lifeboat connectors list` runs) names the subscriptions that hold DevOps connectors, and
//! those are listed. Listing by subscription rather than getting each connector keeps the calls
//! proportional to pages, not to connectors.

use super::collect::{ConfigReader, ReaderError};
use super::snapshot::Scope;
use super::ResourceKind;
use crate::azure::{ApiFamily, ArmClient, AzureError, ResourceId, Target};
use serde_json::Value;

/// Reads DevOps connector configuration through an [`ArmClient`]. Its errors carry the
/// [`AzureError`] itself ([`ReaderError::Azure`]).
#[derive(Debug)]
pub struct ArmReader {
    client: ArmClient,
}

/// The API family resources of `kind` are read through.
pub fn family_of(kind: ResourceKind) -> ApiFamily {
    match kind {
        ResourceKind::Connector => ApiFamily::Connectors,
        _ => ApiFamily::Devops,
    }
}

impl ArmReader {
    pub fn new(client: ArmClient) -> Self {
        ArmReader { client }
    }

    pub fn client(&self) -> &ArmClient {
        &self.client
    }

    fn fail(&self, e: AzureError) -> ReaderError {
        ReaderError::Azure(e)
    }

    fn parse_id(&self, id: &str) -> Result<ResourceId, ReaderError> {
        ResourceId::parse(id).map_err(|e| {
            ReaderError::other(format!("`{id}` is not a resource ID Azure returned: {e}"))
        })
    }

    /// Every item of a pageable DevOps list under `parent` (`{parent}/{child}`), as raw JSON.
    async fn list_children(&self, parent: &str, child: &str) -> Result<Vec<Value>, ReaderError> {
        let id = self.parse_id(parent)?;
        let target = Target::Child(&id, child);
        self.client.list_json(target, ApiFamily::Devops, None).await.map_err(|e| self.fail(e))
    }

    async fn list_subscription(&self, subscription: &str) -> Result<Vec<Value>, ReaderError> {
        let path = format!(
            "/subscriptions/{subscription}/providers/Microsoft.Security/securityConnectors"
        );
        if subscription.is_empty() || subscription.contains(['/', '?', '#']) {
            return Err(ReaderError::other(format!("`{subscription}` is not a subscription ID")));
        }
        self.client
            .list_json(path.as_str(), ApiFamily::Connectors, None)
            .await
            .map_err(|e| self.fail(e))
    }

    /// The subscriptions to list: those given, or those Resource Graph finds DevOps connectors
    /// in (deduplicated case-insensitively, in first-seen order).
    async fn subscriptions(&self, scope: &Scope) -> Result<Vec<String>, ReaderError> {
        let mut subs: Vec<String> = Vec::new();
        let mut push = |s: &str| {
            if !s.is_empty() && !subs.iter().any(|x| x.eq_ignore_ascii_case(s)) {
                subs.push(s.to_owned());
            }
        };
        if !scope.subscriptions.is_empty() {
            scope.subscriptions.iter().for_each(|s| push(s));
            return Ok(subs);
        }
        // The query itself (not `connectors::list`, whose `--details` fan-out makes its future
        // non-`Send`): only the subscription column is needed here.
        let rows = self
            .client
            .resource_graph_query(crate::queries::DEVOPS_CONNECTORS, &[])
            .await
            .map_err(|e| self.fail(e))?;
        rows.iter().filter_map(|r| r.get("subscriptionId")?.as_str()).for_each(&mut push);
        Ok(subs)
    }
}

impl ConfigReader for ArmReader {
    async fn list_connectors(&self, scope: &Scope) -> Result<Vec<Value>, ReaderError> {
        let mut out = Vec::new();
        for s in self.subscriptions(scope).await? {
            out.extend(self.list_subscription(&s).await?);
        }
        Ok(out)
    }

    async fn get_devops_configuration(
        &self,
        connector_id: &str,
    ) -> Result<Option<Value>, ReaderError> {
        let id = self.parse_id(connector_id)?.devops();
        match self.client.get_json(&id, ApiFamily::Devops, None).await {
            Ok(v) => Ok(Some(v)),
            // A connector that was never authorized has no configuration (a refused
            // api-version is its own error, never a 404).
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    async fn list_azure_devops_orgs(&self, connector_id: &str) -> Result<Vec<Value>, ReaderError> {
        let devops = self.parse_id(connector_id)?.devops().to_string();
        self.list_children(&devops, "azureDevOpsOrgs").await
    }

    async fn list_azure_devops_projects(&self, org_id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list_children(org_id, "projects").await
    }

    async fn list_azure_devops_repos(&self, project_id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list_children(project_id, "repos").await
    }

    async fn list_github_owners(&self, connector_id: &str) -> Result<Vec<Value>, ReaderError> {
        let devops = self.parse_id(connector_id)?.devops().to_string();
        self.list_children(&devops, "gitHubOwners").await
    }

    async fn list_github_repos(&self, owner_id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list_children(owner_id, "repos").await
    }

    async fn list_gitlab_groups(&self, connector_id: &str) -> Result<Vec<Value>, ReaderError> {
        let devops = self.parse_id(connector_id)?.devops().to_string();
        self.list_children(&devops, "gitLabGroups").await
    }

    async fn list_gitlab_subgroups(&self, group_id: &str) -> Result<Vec<Value>, ReaderError> {
        // `listSubgroups` is a POST that only reads: retried like a GET.
        let id = self.parse_id(group_id)?;
        let target = Target::Child(&id, "listSubgroups");
        self.client.list_json_post(target, ApiFamily::Devops, None).await.map_err(|e| self.fail(e))
    }

    async fn list_gitlab_projects(&self, group_id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list_children(group_id, "projects").await
    }

    /// The version the client uses for the kind's family. Asked after the read that returned
    /// the object, so it is the version that read succeeded with.
    fn api_version(&self, kind: ResourceKind) -> String {
        self.client.api_version(family_of(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::{connect, AuthMode, CloudName, ConnectOptions};

    fn reader() -> ArmReader {
        let o = ConnectOptions {
            arm_endpoint: Some("http://127.0.0.1:9/".into()),
            auth: AuthMode::None,
            cloud: CloudName::Public,
        };
        ArmReader::new(connect(&o, &Default::default()).unwrap().client)
    }

    #[test]
    fn a_malformed_parent_id_is_an_error_not_a_panic() {
        let e = reader().parse_id("not/an/id").unwrap_err();
        assert!(e.to_string().contains("not/an/id"), "{e}");
    }

    #[test]
    fn connectors_are_recorded_with_the_client_api_versions() {
        let r = reader();
        assert_eq!(r.api_version(ResourceKind::Connector), crate::azure::api::SECURITY_CONNECTORS);
        assert_eq!(r.api_version(ResourceKind::AzureDevOpsRepo), crate::azure::api::DEVOPS);
        r.client().set_api_overrides(&[crate::azure::ApiOverride {
            family: ApiFamily::Devops,
            version: "2025-11-01-preview".into(),
            origin: crate::azure::api::OverrideOrigin::Flag,
        }]);
        assert_eq!(r.api_version(ResourceKind::GitLabGroup), "2025-11-01-preview");
        assert_eq!(r.api_version(ResourceKind::Connector), crate::azure::api::SECURITY_CONNECTORS);
    }
}
