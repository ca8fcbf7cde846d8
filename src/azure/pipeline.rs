//! The ARM request pipeline. Each request passes, in order, through small stages: request
//! identity (`x-ms-client-request-id`, `User-Agent`), authentication (bearer token), client-side
//! throttling (token buckets), retry (408/429/5xx and connection errors, only when the call is safe
//! to repeat, decorrelated jitter, `Retry-After` honoured), and the transport (reqwest) last. Every
//! logical call leaves a [`CallRecord`] (no token, no body) for the audit record.

use super::credential::TokenSource;
use super::error::{ArmError, AzureError};
use super::throttle::{parse_hms, OpClass, QuotaWindow, Throttle};
use super::timer::Timer;
use rand::{Rng, SeedableRng};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("lifeboat/", env!("CARGO_PKG_VERSION"));

/// One logical call (all its attempts), as kept for the audit record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CallRecord {
    pub method: String,
    /// Path and query (api-version, paging tokens); never a credential.
    pub url: String,
    /// The resource ID or path the call was about.
    pub resource: String,
    /// Final HTTP status; `None` when no answer arrived.
    pub status: Option<u16>,
    pub client_request_id: String,
    /// The answer's `x-ms-request-id` (what Microsoft support asks for).
    pub request_id: Option<String>,
    /// The answer's `x-ms-correlation-request-id`; ARM echoes the one lifeboat sent, so when an
    /// answer carries none this is the one sent (shared by every request of the logical call).
    pub correlation_id: Option<String>,
    pub attempts: u32,
    pub duration_ms: u64,
    /// Answers with 429 among the attempts.
    pub throttled: u32,
}

pub type Observer = Arc<dyn Fn(&CallRecord) + Send + Sync>;

/// Asked before every request that is not a read (any method but GET and HEAD) leaves the client,
/// once per logical call, before its first attempt: `Err(reason)` refuses it, and nothing is sent
/// ([`AzureError::WriteRefused`]). Installed with [`Pipeline::set_write_hook`] by a caller that
/// must bound what a run may write whatever its steps do (the live drill: never the production
/// connector or its children, and every creation ledgered first). `resource` is the resource ID
/// the call is about, `path` the request URL's path (percent-decoded).
pub trait WriteHook: Send + Sync {
    fn before_write(&self, method: &str, resource: &str, path: &str) -> Result<(), String>;
}

/// Retry policy: which answers are retried, how often, and how long to wait (decorrelated jitter:
/// `min(cap, random(base, 3 × previous))`, as in AWS' "Exponential Backoff and Jitter").
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
    rng: Arc<Mutex<rand::rngs::StdRng>>,
}

impl RetryPolicy {
    pub fn new(max_retries: u32, base: Duration, cap: Duration, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => rand::rngs::StdRng::seed_from_u64(s),
            None => rand::rngs::StdRng::from_os_rng(),
        };
        RetryPolicy { max_retries, base, cap, rng: Arc::new(Mutex::new(rng)) }
    }

    /// The wait after `previous` (zero on the first retry).
    pub fn next_delay(&self, previous: Duration) -> Duration {
        let hi = (previous * 3).max(self.base);
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let secs = if hi > self.base {
            rng.random_range(self.base.as_secs_f64()..=hi.as_secs_f64())
        } else {
            self.base.as_secs_f64()
        };
        Duration::from_secs_f64(secs).min(self.cap)
    }

    pub fn retryable_status(status: u16) -> bool {
        matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new(8, Duration::from_millis(800), Duration::from_secs(60), None)
    }
}

/// A request as the typed operations describe it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    /// The resource ID (or path) named in errors and records.
    pub resource: String,
    pub body: Option<serde_json::Value>,
    /// Safe to repeat: GET/PUT/DELETE always; POST only when the operation is a read.
    pub idempotent: bool,
    /// The subscription whose ARM buckets this call draws from.
    pub subscription: Option<String>,
    /// A Resource Graph query (its own quota instead of the ARM buckets).
    pub resource_graph: bool,
    /// The API family whose api-version the URL carries: the client keeps it current and
    /// negotiates it when ARM refuses it. `None`: the URL is used as built (links the service
    /// handed out).
    pub family: Option<super::api::ApiFamily>,
    /// The URL's api-version was asked for explicitly: used as is, never negotiated.
    pub pinned_version: bool,
    /// `x-ms-correlation-request-id`: one per logical call (an operation, its polls and its
    /// final read share it). `None`: a new one for this request.
    pub correlation_id: Option<String>,
}

impl Request {
    pub fn new(method: Method, url: Url, resource: impl Into<String>) -> Self {
        let idempotent =
            matches!(method, Method::GET | Method::PUT | Method::DELETE | Method::HEAD);
        let subscription = subscription_of(&url);
        Request {
            method,
            url,
            resource: resource.into(),
            body: None,
            idempotent,
            subscription,
            resource_graph: false,
            family: None,
            pinned_version: false,
            correlation_id: None,
        }
    }
    /// A request of the same logical call (same correlation ID) to another URL, e.g. a poll.
    pub fn follow_up(&self, method: Method, url: Url) -> Request {
        let mut r = Request::new(method, url, self.resource.clone());
        r.correlation_id = self.correlation_id.clone();
        r.subscription = self.subscription.clone().or(r.subscription);
        r
    }
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
    /// Marks a POST that only reads (Resource Graph, `listAvailable*`) as safe to retry.
    pub fn read_only_post(mut self) -> Self {
        self.idempotent = true;
        self
    }
}

fn subscription_of(url: &Url) -> Option<String> {
    let mut segs = url.path_segments()?;
    while let Some(s) = segs.next() {
        if s.eq_ignore_ascii_case("subscriptions") {
            return segs.next().filter(|s| !s.is_empty()).map(str::to_owned);
        }
    }
    None
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The pipeline of one client.
#[derive(Clone)]
pub struct Pipeline {
    pub(crate) http: reqwest::Client,
    pub(crate) endpoint: Url,
    scope: String,
    token: Option<Arc<dyn TokenSource>>,
    pub(crate) timer: Arc<dyn Timer>,
    retry: RetryPolicy,
    pub(crate) throttle: Throttle,
    graph_quota: QuotaWindow,
    log: Arc<Mutex<Vec<CallRecord>>>,
    observer: Option<Observer>,
    principal: Arc<Mutex<Option<super::credential::Principal>>>,
    write_hook: Option<Arc<dyn WriteHook>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

/// How to build a [`Pipeline`].
#[derive(Clone)]
pub struct PipelineOptions {
    pub endpoint: Url,
    pub scope: String,
    /// `None`: no `Authorization` header (simulator / loopback only; checked by the caller).
    pub token: Option<Arc<dyn TokenSource>>,
    pub timer: Arc<dyn Timer>,
    pub retry: RetryPolicy,
    /// Client-side ARM buckets on (the default) or off.
    pub throttle: bool,
    /// Per-attempt timeout of the transport.
    pub timeout: Duration,
    pub observer: Option<Observer>,
}

impl Pipeline {
    pub fn new(o: PipelineOptions) -> Result<Pipeline, AzureError> {
        // No redirect is followed (a 3xx is an error, see `send`), and a loopback endpoint is
        // never reached through a proxy (see `super::http`).
        let http = super::http::client_builder(&o.endpoint)
            .user_agent(USER_AGENT)
            .timeout(o.timeout)
            .connect_timeout(Duration::from_secs(10).min(o.timeout))
            .build()
            .map_err(|e| AzureError::Config(format!("cannot build the HTTP client: {e}")))?;
        let throttle = if o.throttle {
            Throttle::new(o.timer.clone())
        } else {
            Throttle::disabled(o.timer.clone())
        };
        Ok(Pipeline {
            http,
            endpoint: o.endpoint,
            scope: o.scope,
            token: o.token,
            graph_quota: QuotaWindow::new(o.timer.clone()),
            timer: o.timer,
            retry: o.retry,
            throttle,
            log: Arc::default(),
            observer: o.observer,
            principal: Arc::default(),
            write_hook: None,
        })
    }

    /// Every later non-read request of this pipeline (and of the clones made after this call)
    /// is first put to `hook` (see [`WriteHook`]).
    pub fn set_write_hook(&mut self, hook: Arc<dyn WriteHook>) {
        self.write_hook = Some(hook);
    }

    /// Puts a request that is not a read to the write hook, if there is one.
    fn check_write(&self, req: &Request) -> Result<(), AzureError> {
        let Some(hook) = &self.write_hook else { return Ok(()) };
        if matches!(req.method, Method::GET | Method::HEAD) {
            return Ok(());
        }
        let path = percent_decode(req.url.path());
        hook.before_write(req.method.as_str(), &req.resource, &path).map_err(|reason| {
            AzureError::WriteRefused {
                method: req.method.to_string(),
                resource: req.resource.clone(),
                reason,
            }
        })
    }

    /// The client-side ARM buckets (for diagnostics and tests).
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// Who this client acts as in Azure: the claims of an ARM token (fetched now, or the cached
    /// one), checked to name an object id and a tenant ([`Principal::require_identity`]);
    /// `None` without a credential (`--auth none`). lifeboat reads these claims, it does not
    /// verify them: ARM verifies the token when it is used.
    ///
    /// [`Principal::require_identity`]: super::credential::Principal::require_identity
    pub async fn identify(&self) -> Result<Option<super::credential::Principal>, AzureError> {
        let Some(src) = &self.token else { return Ok(None) };
        let token = src.token(&self.scope).await?;
        if token.secret().is_empty() {
            return Ok(None);
        }
        let p = token.principal().ok_or_else(|| {
            AzureError::Claims(
                "the Azure token this command obtained is not a JWT whose claims can be read, so lifeboat cannot tell who you are in Azure and records nothing (check `--auth`)".into(),
            )
        })?;
        p.require_identity()?;
        *self.principal.lock().unwrap_or_else(|p| p.into_inner()) = Some(p.clone());
        Ok(Some(p))
    }

    /// Who the calls were made as, read from the last token's claims (for the audit record);
    /// `None` before the first call or without a credential.
    pub fn principal(&self) -> Option<super::credential::Principal> {
        self.principal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every call made so far.
    pub fn call_log(&self) -> Vec<CallRecord> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A URL on this client's endpoint. A URL handed out by the service (`nextLink`, operation
    /// status) is rebased onto our endpoint, so a bearer token is never sent to another host. A
    /// link to plain http on a host other than loopback is refused: ARM never hands one out, so
    /// it means something between lifeboat and ARM rewrote the answer.
    pub fn rebase(&self, link: &str) -> Result<Url, AzureError> {
        let invalid = |message: String| AzureError::Decode {
            method: "GET".into(),
            resource: redact_link(link),
            message,
        };
        let parsed = Url::parse(link)
            .or_else(|_| self.endpoint.join(link))
            .map_err(|e| invalid(format!("the service returned an invalid link: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if super::is_loopback(&parsed) => {}
            "http" => {
                return Err(AzureError::Refused {
                    method: "GET".into(),
                    resource: redact_link(link),
                    target: origin_of(&parsed),
                    reason: "the service handed out a link to plain http on a host that is not \
                             loopback"
                        .into(),
                })
            }
            other => {
                return Err(invalid(format!(
                    "the service returned a link with scheme '{other}' (expected https)"
                )))
            }
        }
        if parsed.origin() == self.endpoint.origin() {
            return Ok(parsed);
        }
        let mut u = self.endpoint.clone();
        u.set_path(parsed.path());
        u.set_query(parsed.query());
        Ok(u)
    }

    /// Refuses a request that would take the bearer token elsewhere: to another origin than the
    /// endpoint's, or over plain http to anything but loopback. Checked at send time, whatever
    /// built the URL (a `nextLink`, an operation status URL, a `Location`).
    fn check_destination(&self, req: &Request) -> Result<(), AzureError> {
        let refuse = |reason: &str| AzureError::Refused {
            method: req.method.to_string(),
            resource: req.resource.clone(),
            target: origin_of(&req.url),
            reason: reason.to_owned(),
        };
        match req.url.scheme() {
            "https" => {}
            "http" if super::is_loopback(&req.url) => {}
            "http" => return Err(refuse("plain http to a host that is not loopback")),
            _ => return Err(refuse("not an http(s) URL")),
        }
        if req.url.origin() != self.endpoint.origin() {
            return Err(refuse(&format!(
                "it is not the ARM endpoint {}",
                origin_of(&self.endpoint)
            )));
        }
        Ok(())
    }

    /// Sends a request through every stage; a non-2xx final answer becomes an [`ArmError`], a
    /// 3xx an [`AzureError::Redirect`] (never followed).
    pub async fn send(&self, req: &Request) -> Result<Response, AzureError> {
        self.check_destination(req)?;
        self.check_write(req)?;
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let correlation_id =
            req.correlation_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let started = self.timer.now();
        let class = OpClass::of_method(&req.method);
        let class =
            if req.idempotent && req.method == Method::POST { OpClass::Reads } else { class };
        let mut attempts = 0u32;
        let mut throttled = 0u32;
        let mut delay = Duration::ZERO;
        let mut record = CallRecord {
            method: req.method.to_string(),
            url: redact_url(&req.url),
            resource: req.resource.clone(),
            status: None,
            client_request_id: client_request_id.clone(),
            request_id: None,
            correlation_id: Some(correlation_id.clone()),
            attempts: 0,
            duration_ms: 0,
            throttled: 0,
        };
        let result = loop {
            attempts += 1;
            // Stage: throttling.
            if req.resource_graph {
                self.graph_quota.acquire().await;
            }
            // Stage: authentication. A credential failure is final (exit 5), never retried here.
            let auth = match self.authorization().await {
                Ok(a) => a,
                Err(e) => {
                    record.attempts = attempts;
                    self.finish(&record);
                    return Err(e);
                }
            };
            let permit = self.throttle.acquire(req.subscription.as_deref(), class).await;
            // Stages: identity, transport.
            let outcome = self.attempt(req, &client_request_id, &correlation_id, auth).await;
            let (retry_after, retry_reason) = match &outcome {
                Ok(resp) => {
                    let remaining =
                        resp.header(class.header()).and_then(|v| v.trim().parse::<u64>().ok());
                    let ra = retry_after(&resp.headers);
                    self.throttle.observe(
                        permit,
                        remaining,
                        if resp.status == 429 {
                            Some(ra.unwrap_or(delay.max(self.retry.base)))
                        } else {
                            None
                        },
                    );
                    if req.resource_graph {
                        self.graph_quota.observe(
                            resp.header("x-ms-user-quota-remaining")
                                .and_then(|v| v.trim().parse().ok()),
                            resp.header("x-ms-user-quota-resets-after").and_then(parse_hms),
                        );
                    }
                    record.status = Some(resp.status);
                    record.request_id = resp.header("x-ms-request-id").map(str::to_owned);
                    record.correlation_id = Some(
                        resp.header("x-ms-correlation-request-id")
                            .unwrap_or(&correlation_id)
                            .to_owned(),
                    );
                    if resp.status == 429 {
                        throttled += 1;
                    }
                    if RetryPolicy::retryable_status(resp.status) {
                        (ra, Some(format!("status {}", resp.status)))
                    } else {
                        (None, None)
                    }
                }
                Err(e) => {
                    self.throttle.observe(permit, None, None);
                    (None, Some(e.to_string()))
                }
            };
            let Some(reason) = retry_reason else { break outcome };
            if !req.idempotent || attempts > self.retry.max_retries {
                break outcome;
            }
            delay = match retry_after {
                Some(ra) => ra,
                None => self.retry.next_delay(delay),
            };
            tracing::debug!(method = %req.method, resource = %req.resource, attempt = attempts, wait_ms = delay.as_millis() as u64, %reason, "retrying");
            self.timer.sleep(delay).await;
        };
        record.attempts = attempts;
        record.throttled = throttled;
        record.duration_ms = (self.timer.now().saturating_sub(started)).as_millis() as u64;
        self.finish(&record);
        tracing::debug!(method = %record.method, resource = %record.resource, status = ?record.status, attempts, "azure call");
        match result {
            Ok(resp) if (200..300).contains(&resp.status) => Ok(resp),
            Ok(resp) if (300..400).contains(&resp.status) => Err(AzureError::Redirect {
                method: req.method.to_string(),
                resource: req.resource.clone(),
                status: resp.status,
                location: resp.header("location").map(|l| location_host(&req.url, l)),
                request_id: record.request_id,
            }),
            Ok(resp) => Err(ArmError::from_response(
                resp.status,
                &resp.body,
                req.method.as_str(),
                &req.resource,
                record.request_id,
                record.correlation_id,
            )
            .into()),
            Err(message) => Err(AzureError::Transport {
                method: req.method.to_string(),
                resource: req.resource.clone(),
                attempts,
                elapsed: Duration::from_millis(record.duration_ms),
                message,
            }),
        }
    }

    fn finish(&self, record: &CallRecord) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(record.clone());
        if let Some(obs) = &self.observer {
            obs(record);
        }
    }

    /// The `Authorization` header value, marked sensitive so no debug output shows it.
    async fn authorization(&self) -> Result<Option<HeaderValue>, AzureError> {
        let Some(src) = &self.token else { return Ok(None) };
        let token = src.token(&self.scope).await?;
        if token.secret().is_empty() {
            return Ok(None);
        }
        if let Some(p) = token.principal() {
            *self.principal.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
        }
        let mut v = HeaderValue::from_str(&format!("Bearer {}", token.secret())).map_err(|_| {
            AzureError::Credential("the access token is not a valid header value".into())
        })?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    async fn attempt(
        &self,
        req: &Request,
        client_request_id: &str,
        correlation_id: &str,
        auth: Option<HeaderValue>,
    ) -> Result<Response, String> {
        let mut b = self
            .http
            .request(req.method.clone(), req.url.clone())
            .header("x-ms-client-request-id", client_request_id)
            .header("x-ms-correlation-request-id", correlation_id)
            .header("x-ms-return-client-request-id", "true")
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(v) = auth {
            b = b.header(reqwest::header::AUTHORIZATION, v);
        }
        if let Some(body) = &req.body {
            b = b.json(body);
        }
        let resp = b.send().await.map_err(describe_transport_error)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(describe_transport_error)?;
        Ok(Response { status, headers, body })
    }
}

/// Credential failures must not be retried as transport errors: they are surfaced by `send`'s
/// caller through [`AzureError::Credential`]. reqwest's messages hold no secrets (the
/// Authorization header is marked sensitive), but we still keep only the error chain's text.
fn describe_transport_error(e: reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    let mut src = std::error::Error::source(&e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// `Retry-After` (seconds), `retry-after-ms` and `x-ms-retry-after-ms`.
pub fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    for n in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) =
            get(n).and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0)
        {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    get("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
}

/// A URL path with its `%XX` escapes decoded (a malformed escape is kept as it is; bytes that are
/// not UTF-8 become U+FFFD).
fn percent_decode(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `scheme://host[:port]` of a URL: what an error may name of a destination (never its path or
/// query, which may carry a token).
fn origin_of(u: &Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
        (Some(h), None) => format!("{}://{h}", u.scheme()),
        (None, _) => format!("{}:", u.scheme()),
    }
}

/// The host (and port) a `Location` header points to, resolved against the request's URL; a
/// value that is not a URL is named as such, never quoted.
fn location_host(base: &Url, location: &str) -> String {
    match base.join(location.trim()) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => "a location without a host".to_owned(),
        },
        Err(_) => "a location that is not a URL".to_owned(),
    }
}

/// A link as an error may show it: its path, without the query (which may carry a token).
fn redact_link(link: &str) -> String {
    let no_query = link.split(['?', '#']).next().unwrap_or_default();
    match Url::parse(no_query) {
        Ok(u) => format!("{}{}", origin_of(&u), u.path()),
        Err(_) => no_query.chars().take(200).collect(),
    }
}

/// The URL as recorded: path and query, without values of parameters that could carry secrets.
fn redact_url(u: &Url) -> String {
    let mut out = u.path().to_owned();
    if u.query().is_some() {
        let pairs: Vec<String> = u
            .query_pairs()
            .map(|(k, v)| {
                let lk = k.to_ascii_lowercase();
                if ["sig", "code", "token", "secret", "key", "password"]
                    .iter()
                    .any(|s| lk.contains(s))
                    && lk != "$skiptoken"
                {
                    format!("{k}=REDACTED")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_bounded_and_reproducible() {
        let a = RetryPolicy::new(5, Duration::from_millis(100), Duration::from_secs(2), Some(7));
        let b = RetryPolicy::new(5, Duration::from_millis(100), Duration::from_secs(2), Some(7));
        let mut prev_a = Duration::ZERO;
        let mut prev_b = Duration::ZERO;
        for _ in 0..20 {
            let da = a.next_delay(prev_a);
            let db = b.next_delay(prev_b);
            assert_eq!(da, db);
            assert!(da >= Duration::from_millis(100) && da <= Duration::from_secs(2), "{da:?}");
            assert!(da <= (prev_a * 3).max(Duration::from_millis(100)));
            prev_a = da;
            prev_b = db;
        }
    }

    #[test]
    fn parses_retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("x-ms-retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    fn pipeline(endpoint: &str) -> Pipeline {
        let timer: Arc<dyn Timer> = Arc::new(super::super::timer::VirtualTimer::new());
        Pipeline::new(PipelineOptions {
            endpoint: Url::parse(endpoint).unwrap(),
            scope: "https://management.azure.com/.default".into(),
            token: Some(Arc::new(super::super::credential::StaticToken(Some(
                super::super::credential::AccessToken::new("token-never-sent"),
            )))),
            timer,
            retry: RetryPolicy::new(0, Duration::from_millis(1), Duration::from_millis(1), Some(1)),
            throttle: false,
            timeout: Duration::from_secs(1),
            observer: None,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn defect_07_the_token_goes_only_to_the_endpoint_and_never_over_remote_plain_http() {
        // A pipeline built around a remote plain-http endpoint (`connect` refuses one; a
        // pipeline built directly does not): nothing is sent.
        let p = pipeline("http://192.0.2.1/");
        let req = Request::new(
            Method::GET,
            Url::parse("http://192.0.2.1/subscriptions?api-version=1&sig=s3cret").unwrap(),
            "/subscriptions",
        );
        let e = p.send(&req).await.unwrap_err();
        match &e {
            AzureError::Refused { target, reason, .. } => {
                assert_eq!(target, "http://192.0.2.1");
                assert!(reason.contains("plain http"), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(!e.to_string().contains("s3cret"), "{e}");
        // Another origin than the endpoint's, even over https.
        let p = pipeline("https://management.azure.com/");
        for other in ["https://evil.example/subscriptions", "https://management.azure.com:8443/x"] {
            let req = Request::new(Method::GET, Url::parse(other).unwrap(), "/subscriptions");
            let e = p.send(&req).await.unwrap_err();
            assert!(matches!(e, AzureError::Refused { .. }), "{other}: {e:?}");
            assert!(e.to_string().contains("not the ARM endpoint"), "{e}");
        }
        assert!(p.call_log().is_empty(), "nothing was sent");
        // Links the service hands out: plain http to a remote host is refused, https rebased.
        let p = pipeline("http://127.0.0.1:9/");
        let e = p.rebase("http://evil.example/next?$skipToken=2&sig=s3cret").unwrap_err();
        assert!(matches!(e, AzureError::Refused { .. }), "{e:?}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert_eq!(
            p.rebase("https://evil.example/next?$skipToken=2").unwrap().as_str(),
            "http://127.0.0.1:9/next?$skipToken=2"
        );
        assert!(p.rebase("http://localhost:9/next").is_ok());
        assert!(matches!(p.rebase("file:///etc/passwd"), Err(AzureError::Decode { .. })));
    }

    #[tokio::test]
    async fn the_write_hook_sees_every_non_read_request_and_its_refusal_sends_nothing() {
        #[derive(Default)]
        struct Seen(Mutex<Vec<String>>);
        impl WriteHook for Seen {
            fn before_write(&self, method: &str, resource: &str, path: &str) -> Result<(), String> {
                self.0.lock().unwrap().push(format!("{method} {resource} {path}"));
                Err("not this one".into())
            }
        }
        let mut p = pipeline("http://127.0.0.1:9/");
        let hook = Arc::new(Seen::default());
        p.set_write_hook(hook.clone());
        let url = |m: Method| {
            Request::new(
                m,
                Url::parse("http://127.0.0.1:9/s/a%20b%2Fc?api-version=1").unwrap(),
                "/s/x",
            )
        };
        for m in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
            let e = p.send(&url(m.clone())).await.unwrap_err();
            assert!(matches!(e, AzureError::WriteRefused { .. }), "{m}: {e:?}");
            assert!(e.to_string().contains("not this one"), "{e}");
        }
        assert!(p.call_log().is_empty(), "nothing was sent");
        // Reads never ask the hook (this one then fails to connect: nothing listens on :9).
        let _ = p.send(&url(Method::GET)).await;
        let seen = hook.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert_eq!(seen[0], "PUT /s/x /s/a b/c");
        assert_eq!(percent_decode("/a%zz%4"), "/a%zz%4");
    }

    #[test]
    fn a_location_is_named_by_its_host_only() {
        let base =
            Url::parse("https://management.azure.com/subscriptions/s?api-version=1").unwrap();
        assert_eq!(
            location_host(&base, "https://other.example:8443/x?sig=1"),
            "other.example:8443"
        );
        assert_eq!(location_host(&base, "/relative?sig=1"), "management.azure.com");
        assert_eq!(location_host(&base, "http://[::1"), "a location that is not a URL");
        assert_eq!(redact_link("https://h.example/p/q?sig=1#f"), "https://h.example/p/q");
    }

    #[test]
    fn finds_the_subscription_and_redacts_secrets() {
        let u = Url::parse(
            "https://m/subscriptions/abc/resourceGroups/x?api-version=1&sig=zzz&$skipToken=t",
        )
        .unwrap();
        assert_eq!(subscription_of(&u).as_deref(), Some("abc"));
        assert_eq!(
            redact_url(&u),
            "/subscriptions/abc/resourceGroups/x?api-version=1&sig=REDACTED&$skipToken=t"
        );
        assert_eq!(
            subscription_of(
                &Url::parse("https://m/providers/Microsoft.ResourceGraph/resources").unwrap()
            ),
            None
        );
    }
}
