//! Reading a tenant's DevOps connector configuration through a [`ConfigReader`] and streaming
//! it into [`create`](super::create).
//!
//! The reader is the seam to Azure: the ARM client implements it over the list operations (each
//! method returns every item, following `nextLink` itself, so API calls grow with pages, not
//! items); tests implement it in memory. Resources flow through a bounded channel, so a
//! 50,000-repo tenant is never held in memory at once.

use super::snapshot::{create, CreateOptions, Scope, SnapshotSummary};
use super::store::Store;
use super::{BackupError, Captured, ResourceKind};
use futures::channel::mpsc;
use futures::SinkExt;
use serde_json::Value;
use std::future::Future;

/// An error from a [`ConfigReader`]; its message must not contain secrets (tokens, codes).
/// An Azure failure travels as itself, so the CLI keeps its exit code (an expired credential is
/// exit 5, not a generic failure).
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// The Azure call failed (its message names method, resource and ARM's error, never a
    /// token or header).
    #[error("{0}")]
    Azure(#[from] crate::azure::AzureError),
    /// Anything else: a malformed ID or body Azure returned, the writer gone.
    #[error("{0}")]
    Other(String),
}

impl ReaderError {
    pub fn other(message: impl Into<String>) -> Self {
        ReaderError::Other(message.into())
    }
}

impl From<ReaderError> for super::BackupError {
    fn from(e: ReaderError) -> Self {
        let message = e.to_string();
        match e {
            ReaderError::Azure(azure) => {
                super::BackupError::Source { message, azure: Some(Box::new(azure)) }
            }
            ReaderError::Other(_) => super::BackupError::Source { message, azure: None },
        }
    }
}

/// How the api-versions are chosen: the contract's (tests/fixtures/azure-specs).
pub const CONNECTOR_API_VERSION: &str = "2024-08-01-preview";
pub const DEVOPS_API_VERSION: &str = "2025-03-01";

/// Read access to DevOps connector configuration. Every method returns raw ARM bodies, exactly
/// as the API returned them (unknown fields included); IDs passed in are full ARM resource IDs
/// of the parent (e.g. a connector ID, `…/devops/default/azureDevOpsOrgs/ORG`).
pub trait ConfigReader: Sync {
    /// Security connectors in scope (`scope.subscriptions`, empty = all visible).
    fn list_connectors(
        &self,
        scope: &Scope,
    ) -> impl Future<Output = Result<Vec<Value>, ReaderError>> + Send;
    /// `…/devops/default` of a connector; `None` when it has none (404).
    fn get_devops_configuration(
        &self,
        connector_id: &str,
    ) -> impl Future<Output = Result<Option<Value>, ReaderError>> + Send;
    fn list_azure_devops_orgs(
        &self,
        connector_id: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ReaderError>> + Send;
    fn list_azure_devops_projects(
        &self,
        org_id: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ReaderError>> + Send;
    fn list_azure_devops_repos(
        &self,
        project_id: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ReaderError>> + Send;
    fn list_github_owners(
        &self,
        connector_id: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ReaderError>> + Send;
    fn list_github_repos(
        &self,
        owner_id: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ReaderError>> + Send;
    fn list_gitlab_groups(
        &self,
        connector_id: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ReaderError>> + Send;
    /// `POST …/gitLabGroups/{group}/listSubgroups`.
    fn list_gitlab_subgroups(
        &self,
        group_id: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ReaderError>> + Send;
    fn list_gitlab_projects(
        &self,
        group_id: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ReaderError>> + Send;

    /// The api-version resources of `kind` are read with (recorded in the manifest).
    fn api_version(&self, kind: ResourceKind) -> String {
        match kind {
            ResourceKind::Connector => CONNECTOR_API_VERSION.into(),
            _ => DEVOPS_API_VERSION.into(),
        }
    }
}

/// `environmentName`s of DevOps connectors; other connectors (AWS, GCP) are not backed up.
const DEVOPS_ENVIRONMENTS: &[&str] = &["AzureDevOps", "Github", "GitLab"];

fn id_of(v: &Value) -> Result<String, ReaderError> {
    v.get("id")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| ReaderError::other("a resource without an `id` was returned"))
}

fn matches_filter(id: &str, body: &Value, filters: &[String]) -> bool {
    if filters.is_empty() {
        return true;
    }
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    filters.iter().any(|f| f.eq_ignore_ascii_case(id) || f.eq_ignore_ascii_case(name))
}

type Tx = mpsc::Sender<Result<Captured, ReaderError>>;

async fn emit<R: ConfigReader>(
    tx: &mut Tx,
    reader: &R,
    kind: ResourceKind,
    body: Value,
) -> Result<String, ReaderError> {
    let id = id_of(&body)?;
    let c = Captured { resource_id: id.clone(), kind, api_version: reader.api_version(kind), body };
    // The receiver is gone only when `create` already failed: stop reading.
    tx.send(Ok(c)).await.map_err(|_| ReaderError::other("the snapshot writer stopped"))?;
    Ok(id)
}

async fn walk<R: ConfigReader>(reader: &R, scope: &Scope, tx: &mut Tx) -> Result<(), ReaderError> {
    for connector in reader.list_connectors(scope).await? {
        let id = id_of(&connector)?;
        let env = connector
            .pointer("/properties/environmentName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !DEVOPS_ENVIRONMENTS.iter().any(|e| e.eq_ignore_ascii_case(&env))
            || !matches_filter(&id, &connector, &scope.connectors)
        {
            continue;
        }
        emit(tx, reader, ResourceKind::Connector, connector).await?;
        let Some(config) = reader.get_devops_configuration(&id).await? else { continue };
        emit(tx, reader, ResourceKind::DevOpsConfiguration, config).await?;
        if env.eq_ignore_ascii_case("AzureDevOps") {
            for org in reader.list_azure_devops_orgs(&id).await? {
                let org_id = emit(tx, reader, ResourceKind::AzureDevOpsOrg, org).await?;
                for project in reader.list_azure_devops_projects(&org_id).await? {
                    let pid = emit(tx, reader, ResourceKind::AzureDevOpsProject, project).await?;
                    for repo in reader.list_azure_devops_repos(&pid).await? {
                        emit(tx, reader, ResourceKind::AzureDevOpsRepo, repo).await?;
                    }
                }
            }
        } else if env.eq_ignore_ascii_case("Github") {
            for owner in reader.list_github_owners(&id).await? {
                let owner_id = emit(tx, reader, ResourceKind::GitHubOwner, owner).await?;
                for repo in reader.list_github_repos(&owner_id).await? {
                    emit(tx, reader, ResourceKind::GitHubRepo, repo).await?;
                }
            }
        } else {
            // The monitored-groups list may already include subgroups (ARM lists every group
            // the connector owns, `group$sub` too), and `listSubgroups` names them again: each
            // group is captured, and its projects listed, once.
            let mut seen = std::collections::HashSet::new();
            for group in reader.list_gitlab_groups(&id).await? {
                if !seen.insert(id_of(&group)?.to_ascii_lowercase()) {
                    continue;
                }
                let group_id = emit(tx, reader, ResourceKind::GitLabGroup, group).await?;
                let mut groups = vec![group_id.clone()];
                for sub in reader.list_gitlab_subgroups(&group_id).await? {
                    if seen.insert(id_of(&sub)?.to_ascii_lowercase()) {
                        groups.push(emit(tx, reader, ResourceKind::GitLabGroup, sub).await?);
                    }
                }
                for g in groups {
                    for project in reader.list_gitlab_projects(&g).await? {
                        emit(tx, reader, ResourceKind::GitLabProject, project).await?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Reads every DevOps connector in `opts.scope` through `reader` and writes a snapshot. Reading
/// and writing run concurrently through a bounded channel; an error on either side stops both,
/// and no manifest is written.
pub async fn collect<R: ConfigReader>(
    reader: &R,
    store: &Store,
    opts: CreateOptions,
) -> Result<SnapshotSummary, BackupError> {
    let (mut tx, rx) = mpsc::channel::<Result<Captured, ReaderError>>(256);
    let scope = opts.scope.clone();
    let producer = async move {
        if let Err(e) = walk(reader, &scope, &mut tx).await {
            // If the writer is gone this send fails too, and its own error is the one reported.
            let _ = tx.send(Err(e)).await;
        }
        // Dropping `tx` ends the stream.
    };
    let (_, summary) = futures::join!(producer, create(store, rx, opts));
    summary
}
