//! [`ArmReader`]: the [`ConfigReader`] over the real (or simulated) Azure, through
//! [`ArmClient`].
//!
//! Bodies are fetched as raw JSON through the client's generic pager ([`ArmClient::list_all`]),
//! not through the typed models: a backup must keep every field exactly as ARM returned it,
//! explicit `null`s and fields newer than our models included. URLs are built from the parent's
//! [`ResourceId`] and the api-versions of [`crate::azure::api`], the same ones the typed
//! operations use.
//!
//! Connector discovery: with `--subscription`, each subscription's connector list is read
//! directly; without, Resource Graph (`queries/devops-connectors.kql`, the query
//! `lifeboat connectors list` runs) names the subscriptions that hold DevOps connectors, and
//! those are listed. Listing by subscription rather than getting each connector keeps the calls
//! proportional to pages, not to connectors.

use super::collect::{ConfigReader, ReaderError};
use super::snapshot::Scope;
use super::ResourceKind;
use crate::azure::pipeline::Request;
use crate::azure::{api, ArmClient, AzureError, ResourceId};
use reqwest::Method;
use serde_json::Value;
use std::sync::Mutex;

/// Reads DevOps connector configuration through an [`ArmClient`].
#[derive(Debug)]
pub struct ArmReader {
    client: ArmClient,
    /// The first Azure error met, kept so the CLI can map it to its exit code (an expired
    /// credential is exit 5, not a generic failure).
    first_error: Mutex<Option<AzureError>>,
}

impl ArmReader {
    pub fn new(client: ArmClient) -> Self {
        ArmReader { client, first_error: Mutex::new(None) }
    }

    pub fn client(&self) -> &ArmClient {
        &self.client
    }

    /// The first Azure error a read failed with, if any (taken: a second call returns `None`).
    pub fn take_error(&self) -> Option<AzureError> {
        self.first_error.lock().ok().and_then(|mut e| e.take())
    }

    fn fail(&self, e: AzureError) -> ReaderError {
        // AzureError messages name method, resource and ARM's error, never a token or header.
        let r = ReaderError(e.to_string());
        if let Ok(mut slot) = self.first_error.lock() {
            slot.get_or_insert(e);
        }
        r
    }

    fn parse_id(&self, id: &str) -> Result<ResourceId, ReaderError> {
        ResourceId::parse(id)
            .map_err(|e| ReaderError(format!("`{id}` is not a resource ID Azure returned: {e}")))
    }

    fn url(&self, segments: &[&str], api_version: &str) -> url::Url {
        self.client.url(segments, api_version)
    }

    /// Every item of a pageable list under `parent` (`{parent}/{child}`), as raw JSON.
    async fn list_children(
        &self,
        parent: &str,
        child: &str,
        method: Method,
    ) -> Result<Vec<Value>, ReaderError> {
        let id = self.parse_id(parent)?;
        let mut segs = id.path_segments();
        segs.push(child);
        let mut req = Request::new(method, self.url(&segs, api::DEVOPS), format!("{id}/{child}"));
        if req.method == Method::POST {
            // `listSubgroups` only reads: safe to retry.
            req = req.read_only_post();
        }
        self.client.list_all::<Value>(req).await.map_err(|e| self.fail(e))
    }

    async fn list_subscription(&self, subscription: &str) -> Result<Vec<Value>, ReaderError> {
        let segs = [
            "subscriptions",
            subscription,
            "providers",
            "Microsoft.Security",
            "securityConnectors",
        ];
        let req = Request::new(
            Method::GET,
            self.url(&segs, api::SECURITY_CONNECTORS),
            format!("/{}", segs.join("/")),
        );
        self.client.list_all::<Value>(req).await.map_err(|e| self.fail(e))
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
        let req =
            Request::new(Method::GET, self.url(&id.path_segments(), api::DEVOPS), id.to_string());
        match self.client.pipeline().send(&req).await {
            Ok(resp) => serde_json::from_slice(&resp.body).map(Some).map_err(|e| {
                ReaderError(format!("GET {id} returned a body that is not JSON: {e}"))
            }),
            // A connector that was never authorized has no configuration.
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    async fn list_azure_devops_orgs(&self, connector_id: &str) -> Result<Vec<Value>, ReaderError> {
        let devops = self.parse_id(connector_id)?.devops().to_string();
        self.list_children(&devops, "azureDevOpsOrgs", Method::GET).await
    }

    async fn list_azure_devops_projects(&self, org_id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list_children(org_id, "projects", Method::GET).await
    }

    async fn list_azure_devops_repos(&self, project_id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list_children(project_id, "repos", Method::GET).await
    }

    async fn list_github_owners(&self, connector_id: &str) -> Result<Vec<Value>, ReaderError> {
        let devops = self.parse_id(connector_id)?.devops().to_string();
        self.list_children(&devops, "gitHubOwners", Method::GET).await
    }

    async fn list_github_repos(&self, owner_id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list_children(owner_id, "repos", Method::GET).await
    }

    async fn list_gitlab_groups(&self, connector_id: &str) -> Result<Vec<Value>, ReaderError> {
        let devops = self.parse_id(connector_id)?.devops().to_string();
        self.list_children(&devops, "gitLabGroups", Method::GET).await
    }

    async fn list_gitlab_subgroups(&self, group_id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list_children(group_id, "listSubgroups", Method::POST).await
    }

    async fn list_gitlab_projects(&self, group_id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list_children(group_id, "projects", Method::GET).await
    }

    fn api_version(&self, kind: ResourceKind) -> String {
        match kind {
            ResourceKind::Connector => api::SECURITY_CONNECTORS.into(),
            _ => api::DEVOPS.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::{connect, ConnectOptions};
    use crate::cli::{AuthMode, CloudName};

    fn reader() -> ArmReader {
        let o = ConnectOptions {
            arm_endpoint: Some("http://127.0.0.1:9/".into()),
            auth: AuthMode::None,
            cloud: CloudName::Public,
        };
        ArmReader::new(connect(&o, &Default::default()).unwrap().client)
    }

    #[test]
    fn child_urls_keep_the_parent_path_and_the_devops_api_version() {
        let r = reader();
        let id = r.parse_id("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c/devops/default/gitLabGroups/a$b").unwrap();
        let mut segs = id.path_segments();
        segs.push("listSubgroups");
        let u = r.url(&segs, api::DEVOPS);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c/devops/default/gitLabGroups/a$b/listSubgroups?api-version=2025-03-01"
        );
    }

    #[test]
    fn a_malformed_parent_id_is_an_error_not_a_panic() {
        let e = reader().parse_id("not/an/id").unwrap_err();
        assert!(e.0.contains("not/an/id"), "{e}");
    }

    #[test]
    fn connectors_are_recorded_with_the_client_api_versions() {
        let r = reader();
        assert_eq!(r.api_version(ResourceKind::Connector), api::SECURITY_CONNECTORS);
        assert_eq!(r.api_version(ResourceKind::AzureDevOpsRepo), api::DEVOPS);
    }
}
