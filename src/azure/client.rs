//! [`ArmClient`]: the typed operations lifeboat performs on Azure (security connectors, the
//! DevOps configuration and its children, resource groups, Resource Graph, Support), generic JSON reads and
//! writes, long-running operations and paging. Backup, runbook steps and drills call these; they
//! never build URLs themselves.
//!
//! Every request names its [`ApiFamily`]; its URL carries the version the client holds for that
//! family ([`ApiVersions`]). When ARM refuses that version (`NoRegisteredProviderFound`,
//! `InvalidApiVersionParameter`, `InvalidResourceType` naming the versions it serves), the client
//! negotiates once per family: it takes the newest served version it knows, retries the call
//! once, records a [`Negotiation`] and keeps that version for the rest of the process. It never
//! switches a family after that family's first successful call, and never negotiates away an
//! override or a version a caller asked for explicitly: those refusals are errors.

use super::api::{self, ApiFamily, ApiOverride, ApiVersions, Negotiation, VersionSource};
use super::error::{ArmError, AzureError, ErrorDetail, VersionPin};
use super::id::ResourceId;
use super::models::*;
use super::pipeline::{CallRecord, Pipeline, Request, Response};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};
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

/// The api-versions of one client and its clones (one process, one run).
#[derive(Debug, Default)]
struct VersionState {
    chosen: ApiVersions,
    negotiations: Vec<Negotiation>,
    /// How many of `negotiations` were handed out by `take_unjournaled_negotiations`.
    journaled: usize,
}

/// What a generic JSON operation acts on: a resource ID, a child collection of one
/// (`{id}/azureDevOpsOrgs`, `{id}/listSubgroups`), or a path on the ARM endpoint without a query
/// (`/providers/Microsoft.Support/services`; a full `https://` URL of the endpoint also works).
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Id(&'a ResourceId),
    Child(&'a ResourceId, &'a str),
    Path(&'a str),
}

impl<'a> From<&'a ResourceId> for Target<'a> {
    fn from(id: &'a ResourceId) -> Self {
        Target::Id(id)
    }
}
impl<'a> From<&'a str> for Target<'a> {
    fn from(p: &'a str) -> Self {
        Target::Path(p)
    }
}
impl<'a> From<&'a String> for Target<'a> {
    fn from(p: &'a String) -> Self {
        Target::Path(p)
    }
}

/// The Azure client.
#[derive(Debug, Clone)]
pub struct ArmClient {
    pipeline: Pipeline,
    pub lro: LroOptions,
    versions: Arc<Mutex<VersionState>>,
}

/// The provisioning state a resource body reports (`properties.provisioningState`).
fn provisioning_state(body: &Option<Value>) -> Option<String> {
    body.as_ref()?.get("properties")?.get("provisioningState")?.as_str().map(str::to_owned)
}

fn body_of(r: &Response) -> Option<Value> {
    if r.body.is_empty() {
        None
    } else {
        serde_json::from_slice(&r.body).ok()
    }
}

/// Sets (or adds) the `api-version` query parameter first, keeping the others as they were
/// written (a paging token is not re-encoded).
pub(crate) fn set_api_version(url: &mut Url, version: &str) {
    let encoded: String = url::form_urlencoded::byte_serialize(version.as_bytes()).collect();
    let mut parts = vec![format!("api-version={encoded}")];
    if let Some(q) = url.query() {
        parts.extend(
            q.split('&')
                .filter(|p| !p.is_empty())
                .filter(|p| {
                    !p.split('=').next().unwrap_or_default().eq_ignore_ascii_case("api-version")
                })
                .map(str::to_owned),
        );
    }
    url.set_query(Some(&parts.join("&")));
}

/// ARM's refusal of an api-version, with the versions it serves.
fn version_refusal(e: &AzureError) -> Option<(&ArmError, Vec<String>)> {
    let a = e.arm()?;
    if !api::REFUSAL_CODES.iter().any(|c| c.eq_ignore_ascii_case(&a.code)) {
        return None;
    }
    Some((a, api::parse_served_versions(&a.message)?))
}

impl ArmClient {
    pub fn new(pipeline: Pipeline) -> Self {
        ArmClient { pipeline, lro: LroOptions::default(), versions: Arc::default() }
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// This client with `hook` asked before each of its writes ([`WriteHook`]); it shares the
    /// call log, the api-versions and the throttle of the client it comes from.
    pub fn with_write_hook(&self, hook: Arc<dyn super::pipeline::WriteHook>) -> ArmClient {
        let mut c = self.clone();
        c.pipeline.set_write_hook(hook);
        c
    }

    /// Every call made so far (method, URL, resource, status, request IDs, attempts, duration).
    pub fn call_log(&self) -> Vec<CallRecord> {
        self.pipeline.call_log()
    }

    /// Who this client acts as in Azure, from an ARM token's claims (see
    /// [`Pipeline::identify`]): `None` without a credential; an error (exit 5) for a token that
    /// names no object id or tenant.
    pub async fn identify(&self) -> Result<Option<super::credential::Principal>, AzureError> {
        self.pipeline.identify().await
    }

    /// The principal behind the calls (name, object ID, tenant), once a token was used.
    pub fn principal(&self) -> Option<super::credential::Principal> {
        self.pipeline.principal()
    }

    pub fn endpoint(&self) -> &Url {
        &self.pipeline.endpoint
    }

    // ------------------------------------------------------------ api-versions

    fn state(&self) -> std::sync::MutexGuard<'_, VersionState> {
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The api-version this client uses for `family` now.
    pub fn api_version(&self, family: ApiFamily) -> String {
        self.state().chosen.version(family).to_owned()
    }

    /// The version in use for every family, how it was chosen, and whether a call succeeded
    /// with it.
    pub fn api_versions(&self) -> ApiVersions {
        self.state().chosen.clone()
    }

    /// Applies overrides (flag, environment), a later one winning. Meant for setup, before the
    /// first call; an override replaces whatever the family used.
    pub fn set_api_overrides(&self, overrides: &[ApiOverride]) {
        let mut st = self.state();
        for o in overrides {
            st.chosen.set_override(o);
        }
    }

    /// Every negotiation of this process, in order.
    pub fn negotiations(&self) -> Vec<Negotiation> {
        self.state().negotiations.clone()
    }

    /// The negotiations not yet handed out by this function: what a step journals (each one is
    /// handed out once, whichever step asks first).
    pub fn take_unjournaled_negotiations(&self) -> Vec<Negotiation> {
        let mut st = self.state();
        let new = st.negotiations[st.journaled..].to_vec();
        st.journaled = st.negotiations.len();
        new
    }

    /// Hands every negotiation out again (by `take_unjournaled_negotiations`): after a rehearsal
    /// that journaled into nothing, the run that follows with this client journals them.
    pub fn rejournal_negotiations(&self) {
        self.state().journaled = 0;
    }

    /// A call of `family` succeeded with `version`: the family is settled for the process.
    fn confirm(&self, family: ApiFamily, version: &str) {
        let mut st = self.state();
        let c = st.chosen.get_mut(family);
        if c.version == version {
            c.confirmed = true;
        }
    }

    /// After ARM refused `refused` for `family`: the version to retry with, or the error.
    fn negotiate(
        &self,
        family: ApiFamily,
        refused: &str,
        served: Vec<String>,
        refusal: &ArmError,
    ) -> Result<String, AzureError> {
        let mut st = self.state();
        let c = st.chosen.get_mut(family).clone();
        let pinned = |why: VersionPin, served: Vec<String>| AzureError::ApiVersionRefused {
            family,
            version: refused.to_owned(),
            served,
            why,
            refusal: Box::new(refusal.clone()),
        };
        if c.version != refused {
            // Another call of this process chose a version meanwhile: use it.
            return Ok(c.version);
        }
        match &c.source {
            VersionSource::Override { origin } => {
                let o = ApiOverride { family, version: refused.to_owned(), origin: *origin };
                return Err(pinned(VersionPin::Override(o), served));
            }
            _ if c.confirmed => return Err(pinned(VersionPin::InUse, served)),
            VersionSource::Negotiated { .. } => return Err(pinned(VersionPin::InUse, served)),
            VersionSource::Compiled => {}
        }
        let Some(to) = api::negotiate(family, &served) else {
            return Err(AzureError::NoKnownApiVersion {
                family,
                version: refused.to_owned(),
                served,
                refusal: Box::new(refusal.clone()),
            });
        };
        if to.eq_ignore_ascii_case(refused) {
            // ARM names the refused version as served: not a version problem.
            return Err(refusal.clone().into());
        }
        let n = Negotiation {
            family,
            from: refused.to_owned(),
            to: to.to_owned(),
            served,
            method: refusal.method.clone(),
            resource: refusal.resource.clone(),
            code: refusal.code.clone(),
            status: refusal.status,
            request_id: refusal.request_id.clone(),
            correlation_id: refusal.correlation_id.clone(),
        };
        tracing::warn!(negotiation = %n.summary(), "api-version negotiated");
        let slot = st.chosen.get_mut(family);
        slot.version = to.to_owned();
        slot.source = VersionSource::Negotiated { from: refused.to_owned() };
        slot.confirmed = false;
        st.negotiations.push(n);
        Ok(to.to_owned())
    }

    /// Sends the first request of a logical call: with the family's current api-version,
    /// negotiated once if ARM refuses it (see the module doc). Returns the request as last sent
    /// (its URL carries the version that worked) and the answer.
    async fn send_first(&self, mut req: Request) -> Result<(Request, Response), AzureError> {
        if req.correlation_id.is_none() {
            req.correlation_id = Some(uuid::Uuid::new_v4().to_string());
        }
        let Some(family) = req.family else {
            let resp = self.pipeline.send(&req).await?;
            return Ok((req, resp));
        };
        if req.pinned_version {
            let version = req
                .url
                .query_pairs()
                .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            return match self.pipeline.send(&req).await {
                Ok(resp) => Ok((req, resp)),
                Err(e) => Err(match version_refusal(&e) {
                    Some((a, served)) => AzureError::ApiVersionRefused {
                        family,
                        version,
                        served,
                        why: VersionPin::Explicit,
                        refusal: Box::new(a.clone()),
                    },
                    None => e,
                }),
            };
        }
        let version = self.api_version(family);
        set_api_version(&mut req.url, &version);
        let e = match self.pipeline.send(&req).await {
            Ok(resp) => {
                self.confirm(family, &version);
                return Ok((req, resp));
            }
            Err(e) => e,
        };
        let Some((refusal, served)) = version_refusal(&e) else { return Err(e) };
        let to = self.negotiate(family, &version, served, refusal)?;
        set_api_version(&mut req.url, &to);
        match self.pipeline.send(&req).await {
            Ok(resp) => {
                self.confirm(family, &to);
                Ok((req, resp))
            }
            Err(e) => Err(match version_refusal(&e) {
                Some((a, served)) => AzureError::ApiVersionRefused {
                    family,
                    version: to,
                    served,
                    why: VersionPin::InUse,
                    refusal: Box::new(a.clone()),
                },
                None => e,
            }),
        }
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

    /// A request of `family` to `{endpoint}/{segments...}` with the family's current version.
    fn request(
        &self,
        method: Method,
        family: ApiFamily,
        segments: &[&str],
        resource: impl Into<String>,
    ) -> Request {
        let mut r = Request::new(method, self.url(segments, &self.api_version(family)), resource);
        r.family = Some(family);
        r
    }

    fn id_request(
        &self,
        method: Method,
        family: ApiFamily,
        id: &ResourceId,
        suffix: &[&str],
        resource: impl Into<String>,
    ) -> Request {
        let mut segs = id.path_segments();
        segs.extend_from_slice(suffix);
        self.request(method, family, &segs, resource)
    }

    /// A request of a generic JSON operation: `version` is used as is (never negotiated).
    fn target_request(
        &self,
        method: Method,
        target: Target<'_>,
        family: ApiFamily,
        version: Option<&str>,
    ) -> Result<Request, AzureError> {
        let mut req = match target {
            Target::Id(id) => self.id_request(method, family, id, &[], id.to_string()),
            Target::Child(id, child) => {
                self.id_request(method, family, id, &[child], format!("{id}/{child}"))
            }
            Target::Path(path) => {
                if path.starts_with("http://") || path.starts_with("https://") {
                    let path = path.split(['?', '#']).next().unwrap_or_default();
                    let mut url = self.pipeline.rebase(path)?;
                    set_api_version(&mut url, &self.api_version(family));
                    let resource = url.path().to_owned();
                    let mut r = Request::new(method, url, resource);
                    r.family = Some(family);
                    r
                } else {
                    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
                    self.request(method, family, &segs, format!("/{}", segs.join("/")))
                }
            }
        };
        if let Some(v) = version {
            set_api_version(&mut req.url, v);
            req.pinned_version = true;
        }
        Ok(req)
    }

    fn decode<T: DeserializeOwned>(req: &Request, resp: &Response) -> Result<T, AzureError> {
        let body: &[u8] = if resp.body.is_empty() { b"null" } else { &resp.body };
        serde_json::from_slice(body).map_err(|e| AzureError::Decode {
            method: req.method.to_string(),
            resource: req.resource.clone(),
            message: e.to_string(),
        })
    }

    fn body<T: Serialize>(value: &T) -> Result<Value, AzureError> {
        serde_json::to_value(value)
            .map_err(|e| AzureError::Config(format!("cannot serialise the request body: {e}")))
    }

    async fn call<T: DeserializeOwned>(&self, req: Request) -> Result<T, AzureError> {
        let (req, resp) = self.send_first(req).await?;
        Self::decode(&req, &resp)
    }

    /// Every item of a pageable list, following `nextLink` (every page in the same logical call
    /// and with the version the first page was read with).
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        first: Request,
    ) -> Result<Vec<T>, AzureError> {
        let mut out = Vec::new();
        let (mut req, mut resp) = self.send_first(first).await?;
        loop {
            let page: Page<T> = Self::decode(&req, &resp)?;
            out.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(link) => {
                    let mut next = req.follow_up(req.method.clone(), self.pipeline.rebase(&link)?);
                    next.body = req.body.clone();
                    next.idempotent = req.idempotent;
                    next.resource_graph = req.resource_graph;
                    resp = self.pipeline.send(&next).await?;
                    req = next;
                }
                None => return Ok(out),
            }
        }
    }

    // ------------------------------------------------------------ generic JSON

    /// GET a resource (or any path) as raw JSON, every field kept. `version`: used as is, and
    /// ARM's refusal of it is [`AzureError::ApiVersionRefused`]; `None`: the family's version.
    pub async fn get_json<'a>(
        &self,
        target: impl Into<Target<'a>>,
        family: ApiFamily,
        version: Option<&str>,
    ) -> Result<Value, AzureError> {
        self.call(self.target_request(Method::GET, target.into(), family, version)?).await
    }

    /// Every item of a pageable list (GET), as raw JSON.
    pub async fn list_json<'a>(
        &self,
        target: impl Into<Target<'a>>,
        family: ApiFamily,
        version: Option<&str>,
    ) -> Result<Vec<Value>, AzureError> {
        self.list_all(self.target_request(Method::GET, target.into(), family, version)?).await
    }

    /// Every item of a pageable list read with a POST (`listSubgroups`, `listAvailable*`), as
    /// raw JSON. The POST only reads, so it is retried like a GET.
    pub async fn list_json_post<'a>(
        &self,
        target: impl Into<Target<'a>>,
        family: ApiFamily,
        version: Option<&str>,
    ) -> Result<Vec<Value>, AzureError> {
        let req = self.target_request(Method::POST, target.into(), family, version)?;
        self.list_all(req.read_only_post()).await
    }

    /// PUT a raw JSON body and wait for the operation's end (see [`ArmClient::run_lro`]);
    /// returns the resource as ARM then shows it (`Null` when it sends no body).
    pub async fn put_json<'a>(
        &self,
        target: impl Into<Target<'a>>,
        family: ApiFamily,
        body: &Value,
        version: Option<&str>,
    ) -> Result<Value, AzureError> {
        self.write_json(Method::PUT, target.into(), family, body, version).await
    }

    /// PATCH a raw JSON body and wait for the operation's end. Not retried (PATCH is not
    /// idempotent in general).
    pub async fn patch_json<'a>(
        &self,
        target: impl Into<Target<'a>>,
        family: ApiFamily,
        body: &Value,
        version: Option<&str>,
    ) -> Result<Value, AzureError> {
        self.write_json(Method::PATCH, target.into(), family, body, version).await
    }

    /// A write with a JSON body, followed to the operation's end.
    async fn write_json(
        &self,
        method: Method,
        target: Target<'_>,
        family: ApiFamily,
        body: &Value,
        version: Option<&str>,
    ) -> Result<Value, AzureError> {
        let req = self.target_request(method, target, family, version)?;
        Ok(self.run_lro(req.json(body.clone())).await?.unwrap_or(Value::Null))
    }

    /// DELETE and wait for the operation's end.
    pub async fn delete_json<'a>(
        &self,
        target: impl Into<Target<'a>>,
        family: ApiFamily,
        version: Option<&str>,
    ) -> Result<(), AzureError> {
        let req = self.target_request(Method::DELETE, target.into(), family, version)?;
        self.run_lro(req).await.map(|_| ())
    }

    // ------------------------------------------------------------ long-running operations

    /// Sends a request that may start a long-running operation and waits for its end, as ARM's
    /// RPC allows (any of 200/201/202, with or without `Azure-AsyncOperation` and `Location`):
    ///
    /// - `Azure-AsyncOperation`: polled until its `status` is terminal (`Succeeded`, `Failed`,
    ///   `Canceled`, case-insensitive; any other value, known or not, is "running").
    /// - else `Location`: polled until it stops answering 202.
    /// - else (no header): a PUT/PATCH whose body reports a non-terminal
    ///   `properties.provisioningState` (or a 202) is followed by reading the resource until its
    ///   state is terminal; a DELETE answered 202 by reading the resource until it is gone.
    ///
    /// Final state: for PUT/PATCH the resource read again (and read until its own
    /// `provisioningState` is terminal); for DELETE/POST the `Location`'s answer. Nothing is
    /// reported done before the operation is terminal: past the deadline it is
    /// [`AzureError::LroTimeout`], `Failed`/`Canceled` is [`AzureError::LroFailed`]. Returns the
    /// final body (`None` when there is none, e.g. a DELETE).
    pub async fn run_lro(&self, req: Request) -> Result<Option<Value>, AzureError> {
        let started = self.pipeline.timer.now();
        let (req, first) = self.send_first(req).await?;
        let mut lro = Lro { client: self, req: &req, started, last_status: "Accepted".to_owned() };
        let async_op = first.header("azure-asyncoperation").map(str::to_owned);
        let location = first.header("location").map(str::to_owned);
        let pollable = matches!(first.status, 200..=202);
        let write = req.method == Method::PUT || req.method == Method::PATCH;
        let mut wait = lro.wait_after(&first);
        if let (true, Some(op)) = (pollable, &async_op) {
            let url = self.pipeline.rebase(op)?;
            loop {
                lro.sleep(wait).await?;
                let poll = req.follow_up(Method::GET, url.clone());
                let resp = self.pipeline.send(&poll).await?;
                let status: OperationStatusResult = Self::decode(&poll, &resp)?;
                lro.last_status = status.status.clone();
                match status.lro_status() {
                    LroStatus::Succeeded => break,
                    LroStatus::Failed | LroStatus::Canceled => {
                        return Err(lro.failed(status.status, status.error));
                    }
                    _ => wait = lro.wait_after(&resp),
                }
            }
            if write {
                return lro.settle_resource(None).await;
            }
            return match &location {
                Some(l) => match lro.poll_location(l, Duration::ZERO).await {
                    Ok(body) => Ok(body),
                    // The operation succeeded; a Location that cannot be read adds nothing.
                    Err(_) => Ok(None),
                },
                None => Ok(None),
            };
        }
        if let (true, Some(l)) = (pollable, &location) {
            let body = lro.poll_location(l, wait).await?;
            return if write { lro.settle_resource(None).await } else { Ok(body) };
        }
        // No header: the body (or, for a DELETE, the resource's absence) tells.
        let body = body_of(&first);
        if write {
            return match provisioning_state(&body).map(|s| LroStatus::parse(&s)) {
                Some(LroStatus::Succeeded) => Ok(body),
                Some(s @ (LroStatus::Failed | LroStatus::Canceled)) => {
                    Err(lro.failed(lro_name(&s), None))
                }
                Some(_) => {
                    lro.last_status = provisioning_state(&body).unwrap_or_default();
                    lro.settle_resource(Some(wait)).await
                }
                None if first.status == 202 => lro.settle_resource(Some(wait)).await,
                None => Ok(body),
            };
        }
        if first.status == 202 {
            if req.method == Method::DELETE {
                return lro.wait_until_gone(wait).await;
            }
            return Err(AzureError::Decode {
                method: req.method.to_string(),
                resource: req.resource.clone(),
                message: "the service answered 202 Accepted without Azure-AsyncOperation or \
                          Location, so the end of the operation cannot be observed"
                    .into(),
            });
        }
        Ok(body)
    }

    async fn lro_typed<T: DeserializeOwned>(&self, req: Request) -> Result<T, AzureError> {
        let v = self.run_lro(req.clone()).await?.unwrap_or(Value::Null);
        serde_json::from_value(v).map_err(|e| AzureError::Decode {
            method: req.method.to_string(),
            resource: req.resource.clone(),
            message: e.to_string(),
        })
    }

    // ------------------------------------------------------------ subscriptions

    /// One subscription (`GET /subscriptions/{id}`): a 404 (or 403) means the principal cannot
    /// see it.
    pub async fn get_subscription(&self, subscription: &str) -> Result<Subscription, AzureError> {
        let segs = ["subscriptions", subscription];
        self.call(self.request(
            Method::GET,
            ApiFamily::Subscriptions,
            &segs,
            format!("/subscriptions/{subscription}"),
        ))
        .await
    }

    // ------------------------------------------------------------ resource groups

    fn group_request(&self, method: Method, subscription: &str, name: &str) -> Request {
        let segs = ["subscriptions", subscription, "resourcegroups", name];
        self.request(
            method,
            ApiFamily::ResourceGroups,
            &segs,
            format!("/subscriptions/{subscription}/resourceGroups/{name}"),
        )
    }

    /// `ResourceGroups_Get`.
    pub async fn get_resource_group(
        &self,
        subscription: &str,
        name: &str,
    ) -> Result<ResourceGroup, AzureError> {
        self.call(self.group_request(Method::GET, subscription, name)).await
    }

    /// `ResourceGroups_CheckExistence` (HEAD: 204 exists, 404 does not).
    pub async fn resource_group_exists(
        &self,
        subscription: &str,
        name: &str,
    ) -> Result<bool, AzureError> {
        match self.send_first(self.group_request(Method::HEAD, subscription, name)).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `ResourceGroups_CreateOrUpdate` (not long-running; a PUT replaces the tags).
    pub async fn create_or_update_resource_group(
        &self,
        subscription: &str,
        name: &str,
        group: &ResourceGroup,
    ) -> Result<ResourceGroup, AzureError> {
        let req = self.group_request(Method::PUT, subscription, name).json(Self::body(group)?);
        self.call(req).await
    }

    /// `ResourceGroups_Delete`: the group *and every resource in it* (long-running: followed
    /// until ARM reports it done).
    pub async fn delete_resource_group(
        &self,
        subscription: &str,
        name: &str,
    ) -> Result<(), AzureError> {
        self.run_lro(self.group_request(Method::DELETE, subscription, name)).await.map(|_| ())
    }

    /// `ResourceGroups_List`: every group of the subscription.
    pub async fn list_resource_groups(
        &self,
        subscription: &str,
    ) -> Result<Vec<ResourceGroup>, AzureError> {
        let segs = ["subscriptions", subscription, "resourcegroups"];
        let req = self.request(
            Method::GET,
            ApiFamily::ResourceGroups,
            &segs,
            format!("/subscriptions/{subscription}/resourceGroups"),
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
        let req =
            self.request(Method::GET, ApiFamily::Connectors, &segs, format!("/{}", segs.join("/")));
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
        let req =
            self.request(Method::GET, ApiFamily::Connectors, &segs, format!("/{}", segs.join("/")));
        self.list_all(req).await
    }

    pub async fn get_connector(&self, id: &ResourceId) -> Result<SecurityConnector, AzureError> {
        self.call(self.id_request(Method::GET, ApiFamily::Connectors, id, &[], id.to_string()))
            .await
    }

    /// Creates or replaces a connector (synchronous in the spec; a long-running answer is
    /// followed all the same).
    pub async fn put_connector(
        &self,
        id: &ResourceId,
        connector: &SecurityConnector,
    ) -> Result<SecurityConnector, AzureError> {
        let req = self
            .id_request(Method::PUT, ApiFamily::Connectors, id, &[], id.to_string())
            .json(Self::body(connector)?);
        self.lro_typed(req).await
    }

    /// PATCH with any partial body (e.g. [`TagsPatch`]). Not retried: PATCH is not idempotent
    /// in general.
    pub async fn patch_connector<B: Serialize>(
        &self,
        id: &ResourceId,
        patch: &B,
    ) -> Result<SecurityConnector, AzureError> {
        let req = self
            .id_request(Method::PATCH, ApiFamily::Connectors, id, &[], id.to_string())
            .json(Self::body(patch)?);
        self.lro_typed(req).await
    }

    pub async fn delete_connector(&self, id: &ResourceId) -> Result<(), AzureError> {
        let req = self.id_request(Method::DELETE, ApiFamily::Connectors, id, &[], id.to_string());
        self.run_lro(req).await.map(|_| ())
    }

    // ------------------------------------------------------------ devops configuration

    pub async fn get_devops_configuration(
        &self,
        connector: &ResourceId,
    ) -> Result<DevOpsConfiguration, AzureError> {
        let id = connector.devops();
        self.call(self.id_request(Method::GET, ApiFamily::Devops, &id, &[], id.to_string())).await
    }

    pub async fn list_devops_configurations(
        &self,
        connector: &ResourceId,
    ) -> Result<Vec<DevOpsConfiguration>, AzureError> {
        let c = connector.connector_id();
        let id = format!("{c}/devops");
        self.list_all(self.id_request(Method::GET, ApiFamily::Devops, &c, &["devops"], id)).await
    }

    /// PUT `devops/default` (long-running).
    pub async fn put_devops_configuration(
        &self,
        connector: &ResourceId,
        config: &DevOpsConfiguration,
    ) -> Result<DevOpsConfiguration, AzureError> {
        let id = connector.devops();
        let req = self
            .id_request(Method::PUT, ApiFamily::Devops, &id, &[], id.to_string())
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
        let req = self
            .id_request(Method::PATCH, ApiFamily::Devops, &id, &[], id.to_string())
            .json(Self::body(config)?);
        self.lro_typed(req).await
    }

    /// DELETE `devops/default` (long-running).
    pub async fn delete_devops_configuration(
        &self,
        connector: &ResourceId,
    ) -> Result<(), AzureError> {
        let id = connector.devops();
        self.run_lro(self.id_request(Method::DELETE, ApiFamily::Devops, &id, &[], id.to_string()))
            .await
            .map(|_| ())
    }

    pub async fn get_devops_operation_result(
        &self,
        connector: &ResourceId,
        operation_result_id: &str,
    ) -> Result<OperationStatusResult, AzureError> {
        let id = connector.devops().child("operationResults", operation_result_id);
        self.call(self.id_request(Method::GET, ApiFamily::Devops, &id, &[], id.to_string())).await
    }

    // ------------------------------------------------------------ Azure DevOps

    async fn list_available<T: DeserializeOwned>(
        &self,
        connector: &ResourceId,
        op: &str,
    ) -> Result<Vec<T>, AzureError> {
        let id = connector.devops();
        let req = self
            .id_request(Method::POST, ApiFamily::Devops, &id, &[op], format!("{id}/{op}"))
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
        let req = self.id_request(
            Method::GET,
            ApiFamily::Devops,
            parent,
            &[child],
            format!("{parent}/{child}"),
        );
        self.list_all(req).await
    }
    async fn get_child<T: DeserializeOwned>(&self, id: &ResourceId) -> Result<T, AzureError> {
        self.call(self.id_request(Method::GET, ApiFamily::Devops, id, &[], id.to_string())).await
    }
    async fn write_child<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        id: &ResourceId,
        body: &B,
    ) -> Result<T, AzureError> {
        let req = self
            .id_request(method, ApiFamily::Devops, id, &[], id.to_string())
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
        let req = self
            .id_request(
                Method::POST,
                ApiFamily::Devops,
                &id,
                &["listSubgroups"],
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
        let mut req = self
            .request(
                Method::POST,
                ApiFamily::Graph,
                &segs,
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
        self.list_all(self.request(
            Method::GET,
            ApiFamily::Support,
            &segs,
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
        self.list_all(self.request(
            Method::GET,
            ApiFamily::Support,
            &segs,
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
        let req = self
            .request(Method::POST, ApiFamily::Support, &segs, format!("/{}", segs.join("/")))
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
        let req = self
            .request(Method::PUT, ApiFamily::Support, &segs, format!("/{}", segs.join("/")))
            .json(Self::body(ticket)?);
        self.lro_typed(req).await
    }

    pub async fn get_support_ticket(
        &self,
        subscription: &str,
        name: &str,
    ) -> Result<SupportTicketDetails, AzureError> {
        let segs = Self::ticket_segments(subscription, name);
        self.call(self.request(
            Method::GET,
            ApiFamily::Support,
            &segs,
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
        let req = self
            .request(Method::PATCH, ApiFamily::Support, &segs, format!("/{}", segs.join("/")))
            .json(Self::body(update)?);
        self.call(req).await
    }
}

fn lro_name(s: &LroStatus) -> String {
    match s {
        LroStatus::Failed => "Failed".into(),
        LroStatus::Canceled => "Canceled".into(),
        other => format!("{other:?}"),
    }
}

/// The failure a resource body explains (`error`, or `properties.provisioningStatusMessage`).
fn failure_detail(body: &Option<Value>) -> Option<ErrorDetail> {
    let b = body.as_ref()?;
    if let Some(e) = b.get("error").and_then(|e| serde_json::from_value(e.clone()).ok()) {
        return Some(e);
    }
    let m = b.get("properties")?.get("provisioningStatusMessage")?.as_str()?;
    Some(ErrorDetail { message: Some(m.to_owned()), ..Default::default() })
}

/// One long-running operation being awaited.
struct Lro<'a> {
    client: &'a ArmClient,
    /// The request as sent (its URL carries the api-version that worked).
    req: &'a Request,
    started: Duration,
    last_status: String,
}

impl Lro<'_> {
    fn wait_after(&self, resp: &Response) -> Duration {
        super::pipeline::retry_after(&resp.headers).unwrap_or(self.client.lro.default_poll)
    }

    fn timeout(&self) -> AzureError {
        AzureError::LroTimeout {
            method: self.req.method.to_string(),
            resource: self.req.resource.clone(),
            deadline: self.client.lro.deadline,
            last_status: self.last_status.clone(),
        }
    }

    fn failed(&self, status: String, error: Option<ErrorDetail>) -> AzureError {
        AzureError::LroFailed {
            method: self.req.method.to_string(),
            resource: self.req.resource.clone(),
            status,
            error: error.map(Box::new),
        }
    }

    /// Waits `wait` unless that passes the deadline (then the operation timed out).
    async fn sleep(&self, wait: Duration) -> Result<(), AzureError> {
        let timer = &self.client.pipeline.timer;
        if timer.now().saturating_sub(self.started) + wait > self.client.lro.deadline {
            return Err(self.timeout());
        }
        timer.sleep(wait).await;
        Ok(())
    }

    async fn get(&self, url: Url) -> Result<Response, AzureError> {
        self.client.pipeline.send(&self.req.follow_up(Method::GET, url)).await
    }

    /// Polls `Location` until it stops answering 202; its last answer's body.
    async fn poll_location(
        &mut self,
        location: &str,
        first_wait: Duration,
    ) -> Result<Option<Value>, AzureError> {
        let url = self.client.pipeline.rebase(location)?;
        let mut wait = first_wait;
        loop {
            if !wait.is_zero() {
                self.sleep(wait).await?;
            }
            let resp = self.get(url.clone()).await?;
            if resp.status != 202 {
                return Ok(body_of(&resp));
            }
            self.last_status = "Accepted".into();
            wait = self.wait_after(&resp);
        }
    }

    /// Reads the resource until its `provisioningState` is terminal (or absent); its body.
    async fn settle_resource(
        &mut self,
        first_wait: Option<Duration>,
    ) -> Result<Option<Value>, AzureError> {
        let mut wait = first_wait;
        loop {
            if let Some(w) = wait {
                self.sleep(w).await?;
            }
            let resp = self.get(self.req.url.clone()).await?;
            let body = body_of(&resp);
            let Some(state) = provisioning_state(&body) else { return Ok(body) };
            match LroStatus::parse(&state) {
                LroStatus::Succeeded => return Ok(body),
                LroStatus::Failed | LroStatus::Canceled => {
                    return Err(self.failed(state, failure_detail(&body)))
                }
                // Accepted, InProgress, Updating, ... and any state this build does not know.
                _ => {
                    self.last_status = state;
                    wait = Some(self.wait_after(&resp));
                }
            }
        }
    }

    /// Reads a deleted resource until it is gone (404).
    async fn wait_until_gone(&mut self, first_wait: Duration) -> Result<Option<Value>, AzureError> {
        let mut wait = first_wait;
        loop {
            self.sleep(wait).await?;
            let resp = match self.get(self.req.url.clone()).await {
                Ok(r) => r,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            let body = body_of(&resp);
            if let Some(state) = provisioning_state(&body) {
                match state.to_ascii_lowercase().as_str() {
                    "failed" | "canceled" | "cancelled" | "deletionfailure" => {
                        return Err(self.failed(state, failure_detail(&body)))
                    }
                    "deletionsuccess" => return Ok(None),
                    _ => self.last_status = state,
                }
            }
            wait = self.wait_after(&resp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::{connect, AuthMode, CloudName, ConnectOptions};

    fn client() -> ArmClient {
        let o = ConnectOptions {
            arm_endpoint: Some("http://127.0.0.1:9/".into()),
            auth: AuthMode::None,
            cloud: CloudName::Public,
        };
        connect(&o, &Default::default()).unwrap().client
    }

    #[test]
    fn child_targets_keep_the_parent_path_and_the_familys_version() {
        let c = client();
        let id = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c/devops/default/gitLabGroups/a$b").unwrap();
        let r = c
            .target_request(
                Method::POST,
                Target::Child(&id, "listSubgroups"),
                ApiFamily::Devops,
                None,
            )
            .unwrap();
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:9/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c/devops/default/gitLabGroups/a$b/listSubgroups?api-version=2025-03-01"
        );
        assert_eq!(r.resource, format!("{id}/listSubgroups"));
        assert_eq!((r.family, r.pinned_version), (Some(ApiFamily::Devops), false));
        // An explicit version is pinned; a path target is split into segments.
        let r = c
            .target_request(
                Method::GET,
                Target::Path("/providers/Microsoft.Support/services"),
                ApiFamily::Support,
                Some("2024-04-01"),
            )
            .unwrap();
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:9/providers/Microsoft.Support/services?api-version=2024-04-01"
        );
        assert!(r.pinned_version);
    }

    #[test]
    fn set_api_version_replaces_it_and_keeps_the_other_parameters() {
        let mut u = Url::parse("https://m/x?$skipToken=a%20b&Api-Version=1&page=2").unwrap();
        set_api_version(&mut u, "2025-11-01-preview");
        assert_eq!(
            u.as_str(),
            "https://m/x?api-version=2025-11-01-preview&$skipToken=a%20b&page=2"
        );
        let mut u = Url::parse("https://m/x").unwrap();
        set_api_version(&mut u, "2024-04-01");
        assert_eq!(u.query(), Some("api-version=2024-04-01"));
    }
}
