//! HTTP plumbing of the simulator: configuration, startup on a loopback address, the simulated
//! clock, one catch-all handler that applies faults and throttling, reads the body under a size
//! limit, routes by path (case-insensitively, as ARM does for provider and type names) and logs
//! every request; plus the ARM error envelope every failure is turned into.

use super::faults::{FaultDecision, FaultInjector, FaultSpec, RequestInfo};
use super::lro::LroShape;
use super::model::Cloud;
use super::reject::Reject;
use super::tenant::{self, TenantFile};
use super::throttle::{self, Admission, ArmThrottle, GraphAdmission, OpClass, ThrottleConfig};
use super::versions::{self, Family};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where the simulated cloud comes from.
#[derive(Debug, Clone)]
pub enum TenantSource {
    Small,
    Large {
        repos: usize,
        seed: u64,
    },
    File(PathBuf),
    /// A ready-made cloud (tests).
    Cloud(Box<Cloud>),
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Must be a loopback address; port 0 picks a free one.
    pub listen: SocketAddr,
    pub tenant: TenantSource,
    pub faults: FaultSpec,
    /// Simulated seconds per real second; 0 freezes the clock (it then moves only through
    /// `POST /_sim/clock/advance` or [`RunningSim::advance`]).
    pub time_scale: f64,
    pub throttle: ThrottleConfig,
    /// Load the cloud from this file if it exists; save it there on shutdown.
    pub state_file: Option<PathBuf>,
    /// Items per page of `nextLink` listings.
    pub page_size: usize,
    /// Simulated time a long-running operation takes.
    pub lro_delay: Duration,
    /// Simulated time the support desk takes to release a connector's orgs.
    pub release_delay: Duration,
    /// Simulated time between a release and Microsoft's recreation of the alerts and
    /// recommendations for the new connector (Microsoft documents none: a pessimistic choice).
    pub recreation_delay: Duration,
    /// Largest request body accepted (413 beyond).
    pub max_body: usize,
    /// Lifetime of minted OAuth codes (simulated).
    pub code_ttl: Duration,
    /// Seed of the drift generator applied to a freshly built cloud (`--drift SEED`; not to a
    /// cloud loaded from `--state FILE`, which keeps the drift it was saved with).
    pub drift: Option<u64>,
    /// Served api-versions per family (`connectors`, `devops`, `graph`, `support`,
    /// `subscriptions`); a family that is absent serves nothing. Default: every known version.
    pub api_versions: BTreeMap<String, Vec<String>>,
    /// How long-running writes are answered.
    pub lro_shape: LroShape,
}

/// The default of [`SimConfig::recreation_delay`]: eight hours (a choice; see
/// `docs/simulator.md`).
pub const DEFAULT_RECREATION_DELAY: Duration = Duration::from_secs(8 * 3600);

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tenant: TenantSource::Small,
            faults: FaultSpec::default(),
            time_scale: 1.0,
            throttle: ThrottleConfig::default(),
            state_file: None,
            page_size: 100,
            lro_delay: Duration::from_secs(2),
            release_delay: Duration::from_secs(2 * 3600),
            recreation_delay: DEFAULT_RECREATION_DELAY,
            max_body: 4 * 1024 * 1024,
            code_ttl: Duration::from_secs(600),
            drift: None,
            api_versions: versions::default_served(),
            lro_shape: LroShape::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the simulator only listens on a loopback address, not {0} (use 127.0.0.1:PORT)")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the tenant file {path}")]
    TenantRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the tenant file {path} is not valid: {message}")]
    TenantInvalid { path: PathBuf, message: String },
    #[error("cannot read the state file {path}")]
    StateRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the state file {path} is not a simulator state: {message}")]
    StateInvalid { path: PathBuf, message: String },
    #[error("cannot write the state file {path}")]
    StateWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Simulated time: `offset + real elapsed × scale`, in seconds since the cloud was created.
pub struct SimClock {
    started: Instant,
    scale: f64,
    offset: Mutex<f64>,
}

impl SimClock {
    pub fn new(start_at: f64, scale: f64) -> Self {
        SimClock { started: Instant::now(), scale: scale.max(0.0), offset: Mutex::new(start_at) }
    }
    pub fn now(&self) -> f64 {
        *lock(&self.offset) + self.started.elapsed().as_secs_f64() * self.scale
    }
    pub fn now_duration(&self) -> Duration {
        Duration::try_from_secs_f64(self.now().max(0.0)).unwrap_or(Duration::MAX)
    }
    pub fn advance(&self, by: Duration) {
        *lock(&self.offset) += by.as_secs_f64();
    }
}

/// One request as the control API reports it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    /// The `api-version` query parameter as sent.
    pub api_version: Option<String>,
    /// 0 when the connection was dropped.
    pub status: u16,
    pub subscription: Option<String>,
    /// Simulated seconds.
    pub time: f64,
    /// `x-ms-request-id` of the response (unique per response).
    pub request_id: String,
    /// `x-ms-correlation-request-id` of the response (the client's, when it sent one).
    pub correlation_id: String,
    /// The long-running operation a write started.
    pub operation_id: Option<String>,
    /// For an accepted write: the simulated time its effect applies (the operation's end; the
    /// request's time for a synchronous write). A client that counts a write as confirmed
    /// before this time has not waited for it.
    pub confirmed_at: Option<f64>,
    /// Who called, as ARM's activity log records the caller: a fingerprint of the
    /// `Authorization` header (16 hex digits of its SHA-256; never the token), or `anonymous`.
    /// Requests with one credential's token share it.
    pub caller: String,
}

/// Everything the handlers share.
pub struct Shared {
    pub cloud: Mutex<Cloud>,
    pub clock: SimClock,
    pub throttle: ArmThrottle,
    pub faults: FaultInjector,
    pub log: Mutex<VecDeque<LogEntry>>,
    pub counts: Mutex<HashMap<String, u64>>,
    pub config: SimConfig,
    /// Unix seconds of simulated time zero (a copy, so stamping never takes the cloud lock).
    pub base_unix: i64,
    /// `http://127.0.0.1:PORT`, the host of every `nextLink` and async-operation URL.
    pub base_url: String,
    /// Served api-versions per family (see [`SimConfig::api_versions`]).
    pub api_versions: Mutex<BTreeMap<String, Vec<String>>>,
    pub lro_shape: Mutex<LroShape>,
    /// Stored values Azure refuses (`POST /_sim/reject`).
    pub rejects: Mutex<Vec<Reject>>,
    /// Long-running writes answered so far (the `n` of a `Mixed` pick).
    pub lro_writes: AtomicU64,
    /// Responses sent so far, and a per-process salt: request IDs are unique.
    ids: AtomicU64,
    id_salt: u64,
}

const LOG_CAP: usize = 200_000;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn cloud(&self) -> MutexGuard<'_, Cloud> {
        let mut c = lock(&self.cloud);
        super::arm::settle(&mut c, self.clock.now(), &self.config, &self.faults.no_recreate());
        c
    }
    /// A fresh GUID, unique in this process (request and correlation IDs).
    pub fn fresh_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        super::model::guid_from(self.id_salt ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }
    /// A per-process secret of this simulator (the simulated Entra ID signs its tokens with a
    /// key derived from it).
    pub(crate) fn key_salt(&self) -> u64 {
        self.id_salt
    }
    /// The served versions of `family`, newest first.
    pub fn served(&self, family: Family) -> Vec<String> {
        lock(&self.api_versions).get(family.name()).cloned().unwrap_or_default()
    }
}

pub struct RunningSim {
    url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningSim {
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
    /// The cloud, with every operation due by now completed.
    pub fn cloud(&self) -> MutexGuard<'_, Cloud> {
        self.shared.cloud()
    }
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
    }
    /// A fresh one-time OAuth code that sees everything.
    pub fn mint_code(&self) -> String {
        super::control::mint(&self.shared, None)
    }
    pub fn requests(&self) -> Vec<LogEntry> {
        lock(&self.shared.log).iter().cloned().collect()
    }
    /// Replaces the served versions of `family` (`connectors`, `devops`, `graph`, `support`,
    /// `subscriptions`).
    pub fn set_api_versions(&self, family: &str, list: Vec<String>) -> Result<(), String> {
        super::control::set_versions(&self.shared, family, Some(list), &[], &[]).map(|_| ())
    }
    /// Stops serving `version` of `family`.
    pub fn retire_api_version(&self, family: &str, version: &str) -> Result<(), String> {
        super::control::set_versions(&self.shared, family, None, &[], &[version.to_string()])
            .map(|_| ())
    }
    /// Serves `version` of `family` too.
    pub fn add_api_version(&self, family: &str, version: &str) -> Result<(), String> {
        super::control::set_versions(&self.shared, family, None, &[version.to_string()], &[])
            .map(|_| ())
    }
    /// The served versions, per family.
    pub fn api_versions(&self) -> BTreeMap<String, Vec<String>> {
        lock(&self.shared.api_versions).clone()
    }
    /// Applies the drift generator to the current cloud (deterministic for a seed and cloud).
    pub fn drift(&self, seed: u64) {
        super::drift::drift_cloud(&mut self.shared.cloud(), seed);
    }
    pub fn set_lro_shape(&self, shape: LroShape) {
        *lock(&self.shared.lro_shape) = shape;
    }
    /// Refuses writes carrying `path` (with `value`, or any value when `None`).
    pub fn reject_field(&self, path: &str, value: Option<Value>) -> Result<(), String> {
        let r = Reject::new(path, value)?;
        lock(&self.shared.rejects).push(r);
        Ok(())
    }
    /// What a region outage does to writes on resources whose group is in the down region.
    pub fn set_group_writes(&self, mode: super::faults::GroupWrites) {
        let mut spec = self.shared.faults.spec();
        spec.group_writes = mode;
        self.shared.faults.set_spec(spec);
    }
    /// Replaces the caller's role assignments (`None`: the default, Owner of every
    /// subscription); refuses unknown roles and scopes that are not ARM scopes.
    pub fn set_role_assignments(
        &self,
        assignments: Option<Vec<super::authz::RoleAssignment>>,
    ) -> Result<(), String> {
        if let Some(a) = &assignments {
            super::authz::validate(a)?;
        }
        self.shared.cloud().role_assignments = assignments;
        Ok(())
    }
    /// Forgets every refused field.
    pub fn clear_rejects(&self) {
        lock(&self.shared.rejects).clear();
    }
    /// Stops serving, waits for the server task, and saves `--state FILE` if configured.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        save_state(&self.shared)
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn save_state(shared: &Shared) -> Result<(), SimError> {
    let Some(path) = &shared.config.state_file else { return Ok(()) };
    let mut cloud = shared.cloud().clone();
    cloud.sim_elapsed = shared.clock.now();
    let text = serde_json::to_vec_pretty(&cloud).unwrap_or_default();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| SimError::StateWrite { path: path.clone(), source })
}

fn load_cloud(config: &SimConfig, base_unix: i64) -> Result<Cloud, SimError> {
    if let Some(path) = &config.state_file {
        if path.exists() {
            let text = std::fs::read(path)
                .map_err(|source| SimError::StateRead { path: path.clone(), source })?;
            let mut cloud: Cloud = serde_json::from_slice(&text).map_err(|e| {
                SimError::StateInvalid { path: path.clone(), message: e.to_string() }
            })?;
            // A state saved before resource groups were modelled has none.
            cloud.derive_missing_groups();
            return Ok(cloud);
        }
    }
    let file = match &config.tenant {
        TenantSource::Cloud(c) => {
            let mut c = (**c).clone();
            c.derive_missing_groups();
            return Ok(c);
        }
        TenantSource::Small => tenant::small(),
        TenantSource::Large { repos, seed } => tenant::large(*repos, *seed),
        TenantSource::File(path) => {
            let text = std::fs::read(path)
                .map_err(|source| SimError::TenantRead { path: path.clone(), source })?;
            serde_json::from_slice::<TenantFile>(&text).map_err(|e| SimError::TenantInvalid {
                path: path.clone(),
                message: e.to_string(),
            })?
        }
    };
    let path = match &config.tenant {
        TenantSource::File(p) => p.clone(),
        _ => PathBuf::from("<built-in>"),
    };
    file.build(base_unix).map_err(|e| SimError::TenantInvalid { path, message: e.0 })
}

/// Starts the simulator on `config.listen` (loopback only).
pub async fn start(config: SimConfig) -> Result<RunningSim, SimError> {
    if !config.listen.ip().is_loopback() {
        return Err(SimError::NotLoopback(config.listen));
    }
    let base_unix = crate::clock::Clock::now(&crate::clock::SystemClock).unix_timestamp();
    let mut cloud = load_cloud(&config, base_unix)?;
    let from_state = config.state_file.as_ref().is_some_and(|p| p.exists());
    if let (Some(seed), false) = (config.drift, from_state) {
        super::drift::drift_cloud(&mut cloud, seed);
    }
    let mut served = config.api_versions.clone();
    for list in served.values_mut() {
        versions::normalize(list);
    }
    let id_salt: u64 = rand::random();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimError::Bind { addr: config.listen, source })?;
    let addr =
        listener.local_addr().map_err(|source| SimError::Bind { addr: config.listen, source })?;
    let url = format!("http://{addr}");
    let shared = Arc::new(Shared {
        clock: SimClock::new(cloud.sim_elapsed, config.time_scale),
        base_unix: cloud.base_unix,
        cloud: Mutex::new(cloud),
        throttle: ArmThrottle::new(config.throttle.clone()),
        faults: FaultInjector::new(config.faults.clone()),
        log: Mutex::new(VecDeque::new()),
        counts: Mutex::new(HashMap::new()),
        lro_shape: Mutex::new(config.lro_shape),
        config,
        base_url: url.clone(),
        api_versions: Mutex::new(served),
        rejects: Mutex::new(Vec::new()),
        lro_writes: AtomicU64::new(0),
        ids: AtomicU64::new(0),
        id_salt,
    });
    let app = axum::Router::new().fallback(handle).with_state(shared.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningSim { url, shared, stop: Some(stop), task: Some(task) })
}

/// A response before it becomes HTTP.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// For an accepted write: its operation (if long-running) and when its effect applies.
    pub confirm: Option<(Option<String>, f64)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply { status, headers: Vec::new(), body: Some(body), confirm: None }
    }
    pub fn ok(body: Value) -> Self {
        Self::json(200, body)
    }
    pub fn empty(status: u16) -> Self {
        Reply { status, headers: Vec::new(), body: None, confirm: None }
    }
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    pub fn confirmed(mut self, operation: Option<String>, at: f64) -> Self {
        self.confirm = Some((operation, at));
        self
    }
}

/// An ARM error: `{"error": {"code", "message", "target", "details"}}` with its status.
#[derive(Debug, Clone)]
pub struct ArmError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<Value>,
}

impl ArmError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ArmError {
            status,
            code: code.to_string(),
            message: message.into(),
            target: None,
            details: Vec::new(),
        }
    }
    pub fn detail(mut self, code: &str, message: &str) -> Self {
        self.details.push(json!({"code": code, "message": message}));
        self
    }
    pub fn target(mut self, t: &str) -> Self {
        self.target = Some(t.to_string());
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(404, "ResourceNotFound", format!("The Resource '{what}' was not found."))
    }
    pub fn into_reply(self) -> Reply {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(t) = self.target {
            e["target"] = Value::String(t);
        }
        e["details"] = Value::Array(self.details);
        Reply::json(self.status, json!({ "error": e }))
    }
}

pub type ArmResult = Result<Reply, ArmError>;

/// What a route handler sees of the request.
pub struct Ctx<'a> {
    pub method: &'a Method,
    /// Decoded path segments, and the same lowercased (for matching fixed words).
    pub segs: Vec<String>,
    pub lower: Vec<String>,
    pub query: HashMap<String, String>,
    pub body: Bytes,
    pub shared: &'a Shared,
    pub now: f64,
}

impl Ctx<'_> {
    pub fn api_version(&self) -> Option<&str> {
        self.query.get("api-version").map(String::as_str)
    }
    /// Checks `api-version` against the versions the simulator serves for `family`; `type_name`
    /// and `location` name the type in ARM's `NoRegisteredProviderFound`. Returns the version.
    pub fn require(
        &self,
        family: Family,
        type_name: &str,
        location: &str,
    ) -> Result<String, ArmError> {
        let served = lock(&self.shared.api_versions);
        versions::require(&served, family, self.api_version(), type_name, location)
    }
    /// The body as a JSON object.
    pub fn json_body(&self) -> Result<Value, ArmError> {
        if self.body.is_empty() {
            return Err(ArmError::new(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: the body is empty.",
            ));
        }
        let v: Value = serde_json::from_slice(&self.body).map_err(|e| {
            ArmError::new(
                400,
                "InvalidRequestContent",
                format!("The request content was invalid and could not be deserialized: '{e}'."),
            )
        })?;
        if !v.is_object() {
            return Err(ArmError::new(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: a JSON object is expected.",
            ));
        }
        Ok(v)
    }
    pub fn url(&self, path: &str, query: &str) -> String {
        format!("{}{}?{}", self.shared.base_url, path, query)
    }
    /// `$skipToken` of a `nextLink` listing (an offset), 0 when absent.
    pub fn skip(&self) -> Result<usize, ArmError> {
        match self.query.get("$skiptoken") {
            None => Ok(0),
            Some(t) => t.parse().map_err(|_| {
                ArmError::bad_request(format!(
                    "The $skipToken '{t}' is not valid; use the nextLink as returned."
                ))
                .target("$skipToken")
            }),
        }
    }
    /// One page of `items` with a `nextLink` when more remain.
    pub fn page(&self, path: &str, items: Vec<Value>) -> ArmResult {
        let skip = self.skip()?;
        let size = self.shared.config.page_size.max(1);
        let total = items.len();
        let page: Vec<Value> = items.into_iter().skip(skip).take(size).collect();
        let mut body = json!({ "value": page });
        if skip.saturating_add(size) < total {
            let v = self.api_version().unwrap_or_default();
            body["nextLink"] = Value::String(
                self.url(path, &format!("api-version={v}&$skipToken={}", skip + size)),
            );
        }
        Ok(Reply::ok(body))
    }
    /// RFC 3339 of a simulated time.
    pub fn stamp(&self, t: f64) -> String {
        stamp(self.shared.base_unix, t)
    }
}

pub fn stamp(base_unix: i64, t: f64) -> String {
    // `as` saturates (NaN to 0) and the sum saturates: a far-off time is a far-off stamp, never a
    // panic.
    let when = time::OffsetDateTime::from_unix_timestamp(base_unix.saturating_add(t as i64))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    when.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        m.insert(k.to_ascii_lowercase(), v.into_owned());
    }
    m
}

/// Names ARM would refuse: empty, `.`/`..`, separators, control or URL-special characters.
pub fn check_name(kind: &str, name: &str) -> Result<(), ArmError> {
    let bad = name.is_empty()
        || name.len() > 260
        || name == "."
        || name == ".."
        || name.contains("..")
        || name.chars().any(|c| c.is_control() || "/\\?#%<>*:&\"'|".contains(c));
    if bad {
        let shown: String = name.chars().filter(|c| !c.is_control()).take(80).collect();
        return Err(ArmError::new(
            400,
            "InvalidResourceName",
            format!(
                "The {kind} name '{shown}' is invalid. Names may not be empty, '.' or '..', nor contain '/', '\\', '..', control characters or any of ?#%<>*:&\"'|."
            ),
        )
        .target(kind));
    }
    Ok(())
}

fn op_class(method: &Method, lower: &[String]) -> OpClass {
    match *method {
        Method::GET | Method::HEAD => OpClass::Read,
        Method::DELETE => OpClass::Delete,
        Method::POST => {
            let last = lower.last().map(String::as_str).unwrap_or("");
            if last.starts_with("listavailable")
                || last == "listsubgroups"
                || last == "checknameavailability"
            {
                OpClass::Read
            } else {
                OpClass::Write
            }
        }
        _ => OpClass::Write,
    }
}

fn class_header(class: OpClass) -> &'static str {
    match class {
        OpClass::Read => "x-ms-ratelimit-remaining-subscription-reads",
        OpClass::Write => "x-ms-ratelimit-remaining-subscription-writes",
        OpClass::Delete => "x-ms-ratelimit-remaining-subscription-deletes",
    }
}

fn retry_secs(d: Duration) -> u64 {
    (d.as_secs_f64().ceil() as u64).max(1)
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_string();
    let method = parts.method.clone();
    let query = parse_query(parts.uri.query());
    let segs: Option<Vec<String>> =
        raw_path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let segs = segs.unwrap_or_else(|| vec!["%".into()]);
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let subscription = if lower.first().map(String::as_str) == Some("subscriptions") {
        segs.get(1).cloned()
    } else {
        None
    };
    let is_control = lower.first().map(String::as_str) == Some("_sim");
    if method == Method::POST && super::entra::is_token_path(&lower) {
        // Entra ID, not ARM: no ARM faults, throttling or activity log.
        *lock(&shared.counts).entry("POST oauth2/v2.0/token".into()).or_insert(0) += 1;
        let reply = match axum::body::to_bytes(body, shared.config.max_body).await {
            Ok(b) => super::entra::token(&shared, &segs[0], &b),
            Err(_) => too_large(shared.config.max_body),
        };
        return to_response(reply);
    }
    let mut extra: Vec<(String, String)> = Vec::new();
    // ARM gives every response its own request ID and echoes the caller's correlation ID.
    let request_id = shared.fresh_id();
    let correlation_id = parts
        .headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| shared.fresh_id());

    let caller = parts
        .headers
        .get("authorization")
        .map(|h| {
            use sha2::Digest;
            hex::encode(&sha2::Sha256::digest(h.as_bytes())[..8])
        })
        .unwrap_or_else(|| "anonymous".into());

    let reply: Result<Reply, Dropped> = async {
        if !is_control {
            *lock(&shared.counts).entry(format!("{method} {}", route_name(&lower))).or_insert(0) +=
                1;
            let info = RequestInfo {
                method: method.as_str(),
                path: &raw_path,
                subscription: subscription.as_deref(),
            };
            for d in shared.faults.decide(&info) {
                match d {
                    FaultDecision::Pass => {}
                    FaultDecision::Delay(by) => tokio::time::sleep(by).await,
                    FaultDecision::Drop => return Err(Dropped),
                    FaultDecision::Error { status, code, message } => {
                        return Ok(ArmError::new(status, code, message).into_reply())
                    }
                    FaultDecision::Throttle { retry_after } => {
                        return Ok(throttled(subscription.as_deref(), retry_after))
                    }
                }
            }
            // Throttling comes before the body is read, as ARM's front door does.
            let now = shared.clock.now_duration();
            let graph = lower.len() == 3
                && lower[0] == "providers"
                && lower[1] == "microsoft.resourcegraph";
            if graph {
                match shared.throttle.admit_graph(&caller, now) {
                    GraphAdmission::Allowed { remaining, resets_after } => {
                        extra.push(("x-ms-user-quota-remaining".into(), remaining.to_string()));
                        extra.push((
                            "x-ms-user-quota-resets-after".into(),
                            throttle::format_resets_after(resets_after),
                        ));
                    }
                    GraphAdmission::Throttled { retry_after } => {
                        return Ok(throttled(None, retry_after)
                            .header("x-ms-user-quota-remaining", "0")
                            .header(
                                "x-ms-user-quota-resets-after",
                                throttle::format_resets_after(retry_after),
                            ));
                    }
                }
            } else {
                let class = op_class(&method, &lower);
                let scope = subscription.clone().unwrap_or_else(|| "tenant".into());
                match shared.throttle.admit(&scope, class, now) {
                    Admission::Allowed { remaining } => {
                        extra.push((class_header(class).into(), remaining.to_string()));
                    }
                    Admission::Throttled { retry_after } => {
                        return Ok(throttled(subscription.as_deref(), retry_after)
                            .header(class_header(class), "0"));
                    }
                }
            }
        }
        let limit = shared.config.max_body;
        let declared = parts
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Ok(too_large(limit));
        }
        let body = match axum::body::to_bytes(body, limit).await {
            Ok(b) => b,
            Err(_) => return Ok(too_large(limit)),
        };
        let ctx = Ctx {
            method: &method,
            segs,
            lower,
            query,
            body,
            shared: &shared,
            now: shared.clock.now(),
        };
        let result = if is_control { super::control::route(&ctx) } else { route(&ctx) };
        Ok(result.unwrap_or_else(ArmError::into_reply))
    }
    .await;

    let status = match &reply {
        Ok(r) => r.status,
        Err(Dropped) => 0,
    };
    if !is_control {
        let confirm = reply.as_ref().ok().and_then(|r| r.confirm.clone());
        let mut log = lock(&shared.log);
        if log.len() >= LOG_CAP {
            log.pop_front();
        }
        log.push_back(LogEntry {
            method: method.to_string(),
            path: raw_path.clone(),
            api_version: parse_query(parts.uri.query()).remove("api-version"),
            status,
            subscription: subscription.clone(),
            time: shared.clock.now(),
            request_id: request_id.clone(),
            correlation_id: correlation_id.clone(),
            operation_id: confirm.as_ref().and_then(|c| c.0.clone()),
            confirmed_at: confirm.map(|c| c.1),
            caller: caller.clone(),
        });
    }
    match reply {
        Err(Dropped) => dropped_response(),
        Ok(mut r) => {
            r.headers.extend(extra);
            r.headers.push(("x-ms-request-id".into(), request_id));
            r.headers.push(("x-ms-correlation-request-id".into(), correlation_id));
            to_response(r)
        }
    }
}

struct Dropped;

/// A response whose body fails at once: hyper then closes the connection without sending a
/// complete response, which a client sees as a dropped connection.
fn dropped_response() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped by fault injection"))
    });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = StatusCode::OK;
    r
}

fn throttled(subscription: Option<&str>, retry_after: Duration) -> Reply {
    let (code, message) = super::faults::throttled_error(subscription, retry_after);
    ArmError::new(429, code, message)
        .into_reply()
        .header("Retry-After", retry_secs(retry_after).to_string())
}

fn too_large(limit: usize) -> Reply {
    ArmError::new(
        413,
        "RequestEntityTooLarge",
        format!("The request body is larger than the limit of {limit} bytes."),
    )
    .into_reply()
}

fn to_response(r: Reply) -> Response {
    let mut resp = match &r.body {
        Some(v) => {
            let mut resp = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            resp
        }
        None => Response::new(Body::empty()),
    };
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

/// A stable name for request counts (`securityconnectors/devops/azuredevopsorgs`...), with names
/// taken out.
fn route_name(lower: &[String]) -> String {
    const WORDS: &[&str] = &[
        "providers",
        "microsoft.security",
        "securityconnectors",
        "devops",
        "azuredevopsorgs",
        "projects",
        "repos",
        "githubowners",
        "gitlabgroups",
        "operationresults",
        "listavailableazuredevopsorgs",
        "listavailablegithubowners",
        "listavailablegitlabgroups",
        "listsubgroups",
        "microsoft.resourcegraph",
        "resources",
        "microsoft.support",
        "services",
        "problemclassifications",
        "supporttickets",
        "checknameavailability",
        "subscriptions",
        "resourcegroups",
        "operationsstatus",
        "microsoft.storage",
        "storageaccounts",
    ];
    lower.iter().filter(|s| WORDS.contains(&s.as_str())).cloned().collect::<Vec<_>>().join("/")
}

/// Top-level routing by path shape.
fn route(ctx: &Ctx) -> ArmResult {
    let l: Vec<&str> = ctx.lower.iter().map(String::as_str).collect();
    for s in &ctx.segs {
        if s == "." || s == ".." {
            return Err(check_name("path segment", s)
                .err()
                .unwrap_or_else(|| ArmError::bad_request("bad path")));
        }
    }
    super::authz::enforce(ctx)?;
    match l.as_slice() {
        [.., "providers", "microsoft.authorization", "permissions"] => {
            super::authz::permissions(ctx)
        }
        ["providers", "microsoft.resourcegraph", "resources"] => super::graph::resources(ctx),
        ["providers", "microsoft.resourcegraph", ..] => Err(unknown_type(ctx)),
        ["providers", "microsoft.support", rest @ ..] => {
            super::support::route(ctx, None, rest.len())
        }
        ["subscriptions", _, "providers", "microsoft.support", rest @ ..] => {
            super::support::route(ctx, Some(ctx.segs[1].clone()), rest.len())
        }
        ["subscriptions", _, "providers", "microsoft.security", "securityconnectors", ..] => {
            super::arm::route(ctx)
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.security", "securityconnectors", ..] =>
        {
            super::groups::guard_connector(ctx)?;
            super::arm::route(ctx)
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.storage", "storageaccounts", _] =>
        {
            super::groups::guard(ctx, None)?;
            super::storage::get(ctx)
        }
        ["subscriptions", _, "providers", "microsoft.storage", "storageaccounts"] => {
            super::storage::list(ctx)
        }
        ["subscriptions", _, "resourcegroups"] | ["subscriptions", _, "resourcegroups", _] => {
            super::groups::route(ctx)
        }
        ["subscriptions", _, "operationresults", _] => super::groups::operation_result(ctx),
        ["subscriptions", _, "providers", "microsoft.security", "locations", _, "operationresults", _] => {
            super::arm::location_result(ctx)
        }
        ["subscriptions"] | ["subscriptions", _] => subscriptions(ctx),
        _ => Err(unknown_type(ctx)),
    }
}

/// `GET /subscriptions` and `GET /subscriptions/{id}` (Microsoft.Resources subscriptions).
fn subscriptions(ctx: &Ctx) -> ArmResult {
    if ctx.method != Method::GET {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{}' is not allowed on this resource.", ctx.method),
        ));
    }
    ctx.require(Family::Subscriptions, "subscriptions", "global")?;
    let cloud = ctx.shared.cloud();
    let json = |id: &str| {
        json!({
            "id": format!("/subscriptions/{id}"),
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": id,
            "tenantId": cloud.tenant_id,
            "displayName": format!("Subscription {}", id.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect::<String>()),
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
        })
    };
    match ctx.segs.get(1) {
        None => {
            let items: Vec<Value> = cloud.subscriptions.iter().map(|s| json(s)).collect();
            drop(cloud);
            ctx.page("/subscriptions", items)
        }
        Some(id) => match cloud.subscriptions.iter().find(|s| s.eq_ignore_ascii_case(id)) {
            Some(s) => Ok(Reply::ok(json(s))),
            None => Err(ArmError::new(
                404,
                "SubscriptionNotFound",
                format!("The subscription '{id}' could not be found."),
            )),
        },
    }
}

fn unknown_type(ctx: &Ctx) -> ArmError {
    ArmError::new(
        404,
        "InvalidResourceType",
        format!("The resource type '{}' could not be found.", ctx.segs.join("/")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arm_refuses() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a..b", "x%2F", "a\u{0}b", "a?b", "a#b"] {
            assert!(check_name("resource", bad).is_err(), "{bad:?}");
        }
        for good in ["ado-weu", "myGitLabGroup$mySubGroup", "repo.name_1", "Contoso Org"] {
            assert!(check_name("resource", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn percent_decoding_rejects_bad_escapes() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%2e%2E").as_deref(), Some(".."));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%4"), None);
    }

    #[test]
    fn simulated_clock_scales_and_advances() {
        let c = SimClock::new(10.0, 0.0);
        assert_eq!(c.now(), 10.0);
        c.advance(Duration::from_secs(5));
        assert_eq!(c.now(), 15.0);
    }
}
