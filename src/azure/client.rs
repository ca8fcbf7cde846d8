//! [`ArmClient`]: the typed operations lifeboat performs on Azure (security connectors, the
//! DevOps configuration and its children, Resource Graph, Support), long-running operations and
//! paging. Backup, runbook steps and drills call these; they never build URLs themselves.

use super::api;
use super::error::AzureError;
use super::id::ResourceId;
use super::models::*;
use super::pipeline::{CallRecord, Pipeline, Request, Response};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use url::Url;

/// How long-running operations are awaited.
#[derive(Debug, Clone, Copy)]
pub struct LroOptions {
    /// Give up (with [`AzureError::LroTimeout`]) after this long.
    pub deadline: Duration,
    /// Poll interval when the service sends no `Retry-After`.
    pub default_poll: Duration,
}

impl Default for LroOptions {
    fn default() -> Self {
        LroOptions { deadline: Duration::from_secs(15 * 60), default_poll: Duration::from_secs(5) }
    }
}

/// The Azure client.
#[derive(Debug, Clone)]
pub struct ArmClient {
    pipeline: Pipeline,
    pub lro: LroOptions,
}

impl ArmClient {
    pub fn new(pipeline: Pipeline) -> Self {
        ArmClient { pipeline, lro: LroOptions::default() }
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Every call made so far (method, URL, resource, status, request IDs, attempts, duration).
    pub fn call_log(&self) -> Vec<CallRecord> {
        self.pipeline.call_log()
    }

    /// The principal behind the calls (name, object ID, tenant), once a token was used.
    pub fn principal(&self) -> Option<super::credential::Principal> {
        self.pipeline.principal()
    }

    pub fn endpoint(&self) -> &Url {
        &self.pipeline.endpoint
    }

    // ------------------------------------------------------------ plumbing

    /// `{endpoint}/{segments...}?api-version=...`: the one place request URLs are built.
    pub(crate) fn url(&self, segments: &[&str], api_version: &str) -> Url {
        let mut u = self.pipeline.endpoint.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u.query_pairs_mut().append_pair("api-version", api_version);
        u
    }

    fn id_url(&self, id: &ResourceId, suffix: &[&str], api_version: &str) -> Url {
        let mut segs = id.path_segments();
        segs.extend_from_slice(suffix);
        self.url(&segs, api_version)
    }

    fn decode<T: DeserializeOwned>(req: &Request, resp: &Response) -> Result<T, AzureError> {
        let body: &[u8] = if resp.body.is_empty() { b"null" } else { &resp.body };
        serde_json::from_slice(body).map_err(|e| AzureError::Decode {
            method: req.method.to_string(),
            resource: req.resource.clone(),
            message: e.to_string(),
        })
    }

    fn body<T: Serialize>(value: &T) -> Result<serde_json::Value, AzureError> {
        serde_json::to_value(value)
            .map_err(|e| AzureError::Config(format!("cannot serialise the request body: {e}")))
    }

    async fn call<T: DeserializeOwned>(&self, req: Request) -> Result<T, AzureError> {
        let resp = self.pipeline.send(&req).await?;
        Self::decode(&req, &resp)
    }

    /// Every item of a pageable list, following `nextLink`.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        first: Request,
    ) -> Result<Vec<T>, AzureError> {
        let mut out = Vec::new();
        let mut req = first;
        loop {
            let page: Page<T> = self.call(req.clone()).await?;
            out.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(link) => {
                    req = Request { url: self.pipeline.rebase(&link)?, ..req };
                }
                None => return Ok(out),
            }
        }
    }

    /// Sends a request that may start a long-running operation and waits for its end.
    /// `Azure-AsyncOperation` is polled until a terminal status, then (for PUT/PATCH) the resource
    /// is read again; `Location` is polled until it stops answering 202. Returns the final body
    /// (`None` when the operation has none, e.g. a DELETE).
    pub async fn run_lro(&self, req: Request) -> Result<Option<serde_json::Value>, AzureError> {
        let started = self.pipeline.timer.now();
        let first = self.pipeline.send(&req).await?;
        let async_op = first.header("azure-asyncoperation").map(str::to_owned);
        let location = first.header("location").map(str::to_owned);
        let body_of = |r: &Response| -> Option<serde_json::Value> {
            if r.body.is_empty() {
                None
            } else {
                serde_json::from_slice(&r.body).ok()
            }
        };
        if !(first.status == 201 || first.status == 202)
            || (async_op.is_none() && location.is_none())
        {
            return Ok(body_of(&first));
        }
        let mut wait =
            super::pipeline::retry_after(&first.headers).unwrap_or(self.lro.default_poll);
        let mut last_status = "Accepted".to_owned();
        let timeout = |last: &str| AzureError::LroTimeout {
            method: req.method.to_string(),
            resource: req.resource.clone(),
            deadline: self.lro.deadline,
            last_status: last.to_owned(),
        };
        loop {
            if self.pipeline.timer.now().saturating_sub(started) + wait > self.lro.deadline {
                return Err(timeout(&last_status));
            }
            self.pipeline.timer.sleep(wait).await;
            if let Some(op) = &async_op {
                let poll =
                    Request::new(Method::GET, self.pipeline.rebase(op)?, req.resource.clone());
                let resp = self.pipeline.send(&poll).await?;
                let status: OperationStatusResult = Self::decode(&poll, &resp)?;
                last_status = status.status.clone();
                match status.lro_status() {
                    LroStatus::Succeeded => {
                        if req.method == Method::PUT || req.method == Method::PATCH {
                            let get =
                                Request::new(Method::GET, req.url.clone(), req.resource.clone());
                            let r = self.pipeline.send(&get).await?;
                            return Ok(body_of(&r));
                        }
                        return Ok(match location {
                            Some(l) => {
                                let get = Request::new(
                                    Method::GET,
                                    self.pipeline.rebase(&l)?,
                                    req.resource.clone(),
                                );
                                match self.pipeline.send(&get).await {
                                    Ok(r) => body_of(&r),
                                    Err(_) => serde_json::to_value(&status).ok(),
                                }
                            }
                            None => serde_json::to_value(&status).ok(),
                        });
                    }
                    LroStatus::Failed | LroStatus::Canceled => {
                        return Err(AzureError::LroFailed {
                            method: req.method.to_string(),
                            resource: req.resource.clone(),
                            status: status.status,
                            error: status.error.map(Box::new),
                        });
                    }
                    _ => {}
                }
                wait = super::pipeline::retry_after(&resp.headers).unwrap_or(self.lro.default_poll);
            } else if let Some(loc) = &location {
                let poll =
                    Request::new(Method::GET, self.pipeline.rebase(loc)?, req.resource.clone());
                let resp = self.pipeline.send(&poll).await?;
                if resp.status != 202 {
                    return Ok(body_of(&resp));
                }
                wait = super::pipeline::retry_after(&resp.headers).unwrap_or(self.lro.default_poll);
            }
        }
    }

    async fn lro_typed<T: DeserializeOwned>(&self, req: Request) -> Result<T, AzureError> {
        let v = self.run_lro(req.clone()).await?.unwrap_or(serde_json::Value::Null);
        serde_json::from_value(v).map_err(|e| AzureError::Decode {
            method: req.method.to_string(),
            resource: req.resource.clone(),
            message: e.to_string(),
        })
    }

    // ------------------------------------------------------------ subscriptions

    /// The subscriptions the principal can see.
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, AzureError> {
        let req = Request::new(
            Method::GET,
            self.url(&["subscriptions"], api::SUBSCRIPTIONS),
            "/subscriptions",
        );
        self.list_all(req).await
    }

    // ------------------------------------------------------------ security connectors

    pub async fn list_connectors_by_subscription(
        &self,
        subscription: &str,
    ) -> Result<Vec<SecurityConnector>, AzureError> {
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
        self.list_all(req).await
    }

    pub async fn list_connectors_by_resource_group(
        &self,
        subscription: &str,
        resource_group: &str,
    ) -> Result<Vec<SecurityConnector>, AzureError> {
        let segs = [
            "subscriptions",
            subscription,
            "resourceGroups",
            resource_group,
            "providers",
            "Microsoft.Security",
            "securityConnectors",
        ];
        let req = Request::new(
            Method::GET,
            self.url(&segs, api::SECURITY_CONNECTORS),
            format!("/{}", segs.join("/")),
        );
        self.list_all(req).await
    }

    pub async fn get_connector(&self, id: &ResourceId) -> Result<SecurityConnector, AzureError> {
        self.call(Request::new(
            Method::GET,
            self.id_url(id, &[], api::SECURITY_CONNECTORS),
            id.to_string(),
        ))
        .await
    }

    /// Creates or replaces a connector (not long-running).
    pub async fn put_connector(
        &self,
        id: &ResourceId,
        connector: &SecurityConnector,
    ) -> Result<SecurityConnector, AzureError> {
        let req = Request::new(
            Method::PUT,
            self.id_url(id, &[], api::SECURITY_CONNECTORS),
            id.to_string(),
        )
        .json(Self::body(connector)?);
        self.call(req).await
    }

    /// PATCH with any partial body (e.g. [`TagsPatch`]). Not retried: PATCH is not idempotent
    /// in general.
    pub async fn patch_connector<B: Serialize>(
        &self,
        id: &ResourceId,
        patch: &B,
    ) -> Result<SecurityConnector, AzureError> {
        let req = Request::new(
            Method::PATCH,
            self.id_url(id, &[], api::SECURITY_CONNECTORS),
            id.to_string(),
        )
        .json(Self::body(patch)?);
        self.call(req).await
    }

    pub async fn delete_connector(&self, id: &ResourceId) -> Result<(), AzureError> {
        let req = Request::new(
            Method::DELETE,
            self.id_url(id, &[], api::SECURITY_CONNECTORS),
            id.to_string(),
        );
        self.pipeline.send(&req).await.map(|_| ())
    }

    // ------------------------------------------------------------ devops configuration

    pub async fn get_devops_configuration(
        &self,
        connector: &ResourceId,
    ) -> Result<DevOpsConfiguration, AzureError> {
        let id = connector.devops();
        self.call(Request::new(Method::GET, self.id_url(&id, &[], api::DEVOPS), id.to_string()))
            .await
    }

    pub async fn list_devops_configurations(
        &self,
        connector: &ResourceId,
    ) -> Result<Vec<DevOpsConfiguration>, AzureError> {
        let c = connector.connector_id();
        let id = format!("{c}/devops");
        self.list_all(Request::new(Method::GET, self.id_url(&c, &["devops"], api::DEVOPS), id))
            .await
    }

    /// PUT `devops/default` (long-running).
    pub async fn put_devops_configuration(
        &self,
        connector: &ResourceId,
        config: &DevOpsConfiguration,
    ) -> Result<DevOpsConfiguration, AzureError> {
        let id = connector.devops();
        let req = Request::new(Method::PUT, self.id_url(&id, &[], api::DEVOPS), id.to_string())
            .json(Self::body(config)?);
        self.lro_typed(req).await
    }

    /// PATCH `devops/default` (long-running).
    pub async fn patch_devops_configuration(
        &self,
        connector: &ResourceId,
        config: &DevOpsConfiguration,
    ) -> Result<DevOpsConfiguration, AzureError> {
        let id = connector.devops();
        let req = Request::new(Method::PATCH, self.id_url(&id, &[], api::DEVOPS), id.to_string())
            .json(Self::body(config)?);
        self.lro_typed(req).await
    }

    /// DELETE `devops/default` (long-running).
    pub async fn delete_devops_configuration(
        &self,
        connector: &ResourceId,
    ) -> Result<(), AzureError> {
        let id = connector.devops();
        self.run_lro(Request::new(
            Method::DELETE,
            self.id_url(&id, &[], api::DEVOPS),
            id.to_string(),
        ))
        .await
        .map(|_| ())
    }

    pub async fn get_devops_operation_result(
        &self,
        connector: &ResourceId,
        operation_result_id: &str,
    ) -> Result<OperationStatusResult, AzureError> {
        let id = connector.devops().child("operationResults", operation_result_id);
        self.call(Request::new(Method::GET, self.id_url(&id, &[], api::DEVOPS), id.to_string()))
            .await
    }

    // ------------------------------------------------------------ Azure DevOps

    async fn list_available<T: DeserializeOwned>(
        &self,
        connector: &ResourceId,
        op: &str,
    ) -> Result<Vec<T>, AzureError> {
        let id = connector.devops();
        let req =
            Request::new(Method::POST, self.id_url(&id, &[op], api::DEVOPS), format!("{id}/{op}"))
                .read_only_post();
        self.list_all(req).await
    }

    pub async fn list_available_azure_devops_orgs(
        &self,
        connector: &ResourceId,
    ) -> Result<Vec<AzureDevOpsOrg>, AzureError> {
        self.list_available(connector, "listAvailableAzureDevOpsOrgs").await
    }
    pub async fn list_available_github_owners(
        &self,
        connector: &ResourceId,
    ) -> Result<Vec<GitHubOwner>, AzureError> {
        self.list_available(connector, "listAvailableGitHubOwners").await
    }
    pub async fn list_available_gitlab_groups(
        &self,
        connector: &ResourceId,
    ) -> Result<Vec<GitLabGroup>, AzureError> {
        self.list_available(connector, "listAvailableGitLabGroups").await
    }

    async fn list_children<T: DeserializeOwned>(
        &self,
        parent: &ResourceId,
        child: &str,
    ) -> Result<Vec<T>, AzureError> {
        let req = Request::new(
            Method::GET,
            self.id_url(parent, &[child], api::DEVOPS),
            format!("{parent}/{child}"),
        );
        self.list_all(req).await
    }
    async fn get_child<T: DeserializeOwned>(&self, id: &ResourceId) -> Result<T, AzureError> {
        self.call(Request::new(Method::GET, self.id_url(id, &[], api::DEVOPS), id.to_string()))
            .await
    }
    async fn write_child<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        id: &ResourceId,
        body: &B,
    ) -> Result<T, AzureError> {
        let req = Request::new(method, self.id_url(id, &[], api::DEVOPS), id.to_string())
            .json(Self::body(body)?);
        self.lro_typed(req).await
    }

    pub async fn list_azure_devops_orgs(
        &self,
        connector: &ResourceId,
    ) -> Result<Vec<AzureDevOpsOrg>, AzureError> {
        self.list_children(&connector.devops(), "azureDevOpsOrgs").await
    }
    pub async fn get_azure_devops_org(
        &self,
        connector: &ResourceId,
        org: &str,
    ) -> Result<AzureDevOpsOrg, AzureError> {
        self.get_child(&connector.azure_devops_org(org)).await
    }
    pub async fn put_azure_devops_org(
        &self,
        connector: &ResourceId,
        org: &str,
        body: &AzureDevOpsOrg,
    ) -> Result<AzureDevOpsOrg, AzureError> {
        self.write_child(Method::PUT, &connector.azure_devops_org(org), body).await
    }
    pub async fn patch_azure_devops_org(
        &self,
        connector: &ResourceId,
        org: &str,
        body: &AzureDevOpsOrg,
    ) -> Result<AzureDevOpsOrg, AzureError> {
        self.write_child(Method::PATCH, &connector.azure_devops_org(org), body).await
    }

    pub async fn list_azure_devops_projects(
        &self,
        connector: &ResourceId,
        org: &str,
    ) -> Result<Vec<AzureDevOpsProject>, AzureError> {
        self.list_children(&connector.azure_devops_org(org), "projects").await
    }
    pub async fn get_azure_devops_project(
        &self,
        connector: &ResourceId,
        org: &str,
        project: &str,
    ) -> Result<AzureDevOpsProject, AzureError> {
        self.get_child(&connector.azure_devops_project(org, project)).await
    }
    pub async fn put_azure_devops_project(
        &self,
        connector: &ResourceId,
        org: &str,
        project: &str,
        body: &AzureDevOpsProject,
    ) -> Result<AzureDevOpsProject, AzureError> {
        self.write_child(Method::PUT, &connector.azure_devops_project(org, project), body).await
    }
    pub async fn patch_azure_devops_project(
        &self,
        connector: &ResourceId,
        org: &str,
        project: &str,
        body: &AzureDevOpsProject,
    ) -> Result<AzureDevOpsProject, AzureError> {
        self.write_child(Method::PATCH, &connector.azure_devops_project(org, project), body).await
    }

    pub async fn list_azure_devops_repos(
        &self,
        connector: &ResourceId,
        org: &str,
        project: &str,
    ) -> Result<Vec<AzureDevOpsRepo>, AzureError> {
        self.list_children(&connector.azure_devops_project(org, project), "repos").await
    }
    pub async fn get_azure_devops_repo(
        &self,
        connector: &ResourceId,
        org: &str,
        project: &str,
        repo: &str,
    ) -> Result<AzureDevOpsRepo, AzureError> {
        self.get_child(&connector.azure_devops_repo(org, project, repo)).await
    }
    pub async fn put_azure_devops_repo(
        &self,
        connector: &ResourceId,
        org: &str,
        project: &str,
        repo: &str,
        body: &AzureDevOpsRepo,
    ) -> Result<AzureDevOpsRepo, AzureError> {
        self.write_child(Method::PUT, &connector.azure_devops_repo(org, project, repo), body).await
    }
    pub async fn patch_azure_devops_repo(
        &self,
        connector: &ResourceId,
        org: &str,
        project: &str,
        repo: &str,
        body: &AzureDevOpsRepo,
    ) -> Result<AzureDevOpsRepo, AzureError> {
        self.write_child(Method::PATCH, &connector.azure_devops_repo(org, project, repo), body)
            .await
    }

    // ------------------------------------------------------------ GitHub, GitLab

    pub async fn list_github_owners(
        &self,
        connector: &ResourceId,
    ) -> Result<Vec<GitHubOwner>, AzureError> {
        self.list_children(&connector.devops(), "gitHubOwners").await
    }
    pub async fn get_github_owner(
        &self,
        connector: &ResourceId,
        owner: &str,
    ) -> Result<GitHubOwner, AzureError> {
        self.get_child(&connector.github_owner(owner)).await
    }
    pub async fn list_github_repos(
        &self,
        connector: &ResourceId,
        owner: &str,
    ) -> Result<Vec<GitHubRepo>, AzureError> {
        self.list_children(&connector.github_owner(owner), "repos").await
    }
    pub async fn get_github_repo(
        &self,
        connector: &ResourceId,
        owner: &str,
        repo: &str,
    ) -> Result<GitHubRepo, AzureError> {
        self.get_child(&connector.github_repo(owner, repo)).await
    }
    pub async fn list_gitlab_groups(
        &self,
        connector: &ResourceId,
    ) -> Result<Vec<GitLabGroup>, AzureError> {
        self.list_children(&connector.devops(), "gitLabGroups").await
    }
    pub async fn get_gitlab_group(
        &self,
        connector: &ResourceId,
        group_fq_name: &str,
    ) -> Result<GitLabGroup, AzureError> {
        self.get_child(&connector.gitlab_group(group_fq_name)).await
    }
    /// POST `listSubgroups` (a read; retried like a GET).
    pub async fn list_gitlab_subgroups(
        &self,
        connector: &ResourceId,
        group_fq_name: &str,
    ) -> Result<Vec<GitLabGroup>, AzureError> {
        let id = connector.gitlab_group(group_fq_name);
        let req = Request::new(
            Method::POST,
            self.id_url(&id, &["listSubgroups"], api::DEVOPS),
            format!("{id}/listSubgroups"),
        )
        .read_only_post();
        self.list_all(req).await
    }
    pub async fn list_gitlab_projects(
        &self,
        connector: &ResourceId,
        group_fq_name: &str,
    ) -> Result<Vec<GitLabProject>, AzureError> {
        self.list_children(&connector.gitlab_group(group_fq_name), "projects").await
    }
    pub async fn get_gitlab_project(
        &self,
        connector: &ResourceId,
        group_fq_name: &str,
        project: &str,
    ) -> Result<GitLabProject, AzureError> {
        self.get_child(&connector.gitlab_project(group_fq_name, project)).await
    }

    // ------------------------------------------------------------ Resource Graph

    /// One Resource Graph request (one page).
    pub async fn resource_graph_page(
        &self,
        request: &QueryRequest,
    ) -> Result<QueryResponse, AzureError> {
        let segs = ["providers", "Microsoft.ResourceGraph", "resources"];
        let mut req = Request::new(
            Method::POST,
            self.url(&segs, api::RESOURCE_GRAPH),
            "/providers/Microsoft.ResourceGraph/resources",
        )
        .json(Self::body(request)?)
        .read_only_post();
        req.resource_graph = true;
        self.call(req).await
    }

    /// Runs a query over `subscriptions` (batched under ARG's recommended 300 per query; empty:
    /// the principal's whole scope) and returns every row of every page (`$skipToken`).
    pub async fn resource_graph_query(
        &self,
        query: &str,
        subscriptions: &[String],
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, AzureError> {
        let batches: Vec<Option<Vec<String>>> = if subscriptions.is_empty() {
            vec![None]
        } else {
            subscriptions
                .chunks(api::RESOURCE_GRAPH_SUBSCRIPTION_BATCH)
                .map(|c| Some(c.to_vec()))
                .collect()
        };
        let mut rows = Vec::new();
        for subs in batches {
            let mut skip_token: Option<String> = None;
            loop {
                let request = QueryRequest {
                    query: query.to_owned(),
                    subscriptions: subs.clone(),
                    options: Some(QueryRequestOptions {
                        skip_token: skip_token.clone(),
                        result_format: Some("objectArray".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let page = self.resource_graph_page(&request).await?;
                rows.extend(page.rows());
                match page.skip_token.filter(|t| !t.is_empty()) {
                    Some(t) => skip_token = Some(t),
                    None => break,
                }
            }
        }
        Ok(rows)
    }

    // ------------------------------------------------------------ Support

    pub async fn list_support_services(&self) -> Result<Vec<SupportService>, AzureError> {
        let segs = ["providers", "Microsoft.Support", "services"];
        self.list_all(Request::new(
            Method::GET,
            self.url(&segs, api::SUPPORT),
            "/providers/Microsoft.Support/services",
        ))
        .await
    }

    pub async fn list_problem_classifications(
        &self,
        service_name: &str,
    ) -> Result<Vec<ProblemClassification>, AzureError> {
        let segs =
            ["providers", "Microsoft.Support", "services", service_name, "problemClassifications"];
        self.list_all(Request::new(
            Method::GET,
            self.url(&segs, api::SUPPORT),
            format!("/{}", segs.join("/")),
        ))
        .await
    }

    pub async fn check_support_ticket_name(
        &self,
        subscription: &str,
        name: &str,
    ) -> Result<CheckNameAvailabilityOutput, AzureError> {
        let segs = [
            "subscriptions",
            subscription,
            "providers",
            "Microsoft.Support",
            "checkNameAvailability",
        ];
        let body = CheckNameAvailabilityInput {
            name: name.to_owned(),
            resource_type: "Microsoft.Support/supportTickets".into(),
        };
        let req = Request::new(
            Method::POST,
            self.url(&segs, api::SUPPORT),
            format!("/{}", segs.join("/")),
        )
        .json(Self::body(&body)?)
        .read_only_post();
        self.call(req).await
    }

    fn ticket_segments<'a>(subscription: &'a str, name: &'a str) -> [&'a str; 6] {
        ["subscriptions", subscription, "providers", "Microsoft.Support", "supportTickets", name]
    }

    /// Creates a ticket (PUT, long-running; the name makes it idempotent).
    pub async fn create_support_ticket(
        &self,
        subscription: &str,
        name: &str,
        ticket: &SupportTicketDetails,
    ) -> Result<SupportTicketDetails, AzureError> {
        let segs = Self::ticket_segments(subscription, name);
        let req = Request::new(
            Method::PUT,
            self.url(&segs, api::SUPPORT),
            format!("/{}", segs.join("/")),
        )
        .json(Self::body(ticket)?);
        self.lro_typed(req).await
    }

    pub async fn get_support_ticket(
        &self,
        subscription: &str,
        name: &str,
    ) -> Result<SupportTicketDetails, AzureError> {
        let segs = Self::ticket_segments(subscription, name);
        self.call(Request::new(
            Method::GET,
            self.url(&segs, api::SUPPORT),
            format!("/{}", segs.join("/")),
        ))
        .await
    }

    pub async fn list_support_tickets(
        &self,
        subscription: &str,
    ) -> Result<Vec<SupportTicketDetails>, AzureError> {
        let segs =
            ["subscriptions", subscription, "providers", "Microsoft.Support", "supportTickets"];
        self.list_all(Request::new(
            Method::GET,
            self.url(&segs, api::SUPPORT),
            format!("/{}", segs.join("/")),
        ))
        .await
    }

    pub async fn update_support_ticket(
        &self,
        subscription: &str,
        name: &str,
        update: &UpdateSupportTicket,
    ) -> Result<SupportTicketDetails, AzureError> {
        let segs = Self::ticket_segments(subscription, name);
        let req = Request::new(
            Method::PATCH,
            self.url(&segs, api::SUPPORT),
            format!("/{}", segs.join("/")),
        )
        .json(Self::body(update)?);
        self.call(req).await
    }
}
