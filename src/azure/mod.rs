//! The Azure client: credentials, the ARM pipeline (request IDs, retries, throttling, long-running
//! operations, paging), typed resources that round-trip unknown fields. Knows nothing of runbooks.
//!
//! Entry point: [`connect`] turns `--arm-endpoint`, `--auth` and `--cloud` into an [`ArmClient`]
//! (validated before any request), then the typed operations on [`ArmClient`].

pub mod api;
pub mod client;
pub mod credential;
pub mod doctor;
pub mod error;
pub mod http;
pub mod id;
pub mod models;
pub mod pipeline;
pub mod throttle;
pub mod timer;
pub mod writable;

pub use api::{ApiFamily, ApiOverride, ApiVersions, Negotiation, VersionSource};
pub use client::{ArmClient, LroOptions, Target};
pub use credential::{AccessToken, CredentialKind, Principal, TokenSource};
pub use error::{ArmError, AzureError, VersionPin};
pub use id::ResourceId;
pub use pipeline::{CallRecord, Observer, PipelineOptions, RetryPolicy, WriteHook};

use crate::error::UserError;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How to authenticate to Azure (`--auth`; the CLI parses it, see `cli::Globals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// The first credential whose environment is present (client secret, workload identity,
    /// Azure Pipelines, managed identity, az CLI, azd)
    Auto,
    Cli,
    Azd,
    ManagedIdentity,
    WorkloadIdentity,
    ClientSecret,
    AzurePipelines,
    /// No credential: only for the simulator and other loopback endpoints
    None,
}

/// Which Azure cloud (`--cloud`): ARM endpoint and token scope ([`api::Cloud::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudName {
    Public,
    UsGovernment,
    China,
}

/// What the user chose on the command line.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub arm_endpoint: Option<String>,
    pub auth: AuthMode,
    pub cloud: CloudName,
}

/// A ready client and how it authenticates.
#[derive(Debug, Clone)]
pub struct Connection {
    pub client: ArmClient,
    pub endpoint: Url,
    /// The credential kinds tried in order (`[None]` for `--auth none`).
    pub credentials: Vec<CredentialKind>,
    credential: Option<Arc<credential::Credential>>,
}

impl Connection {
    /// The credential that produced the last token (known after the first call).
    pub fn credential_used(&self) -> Option<CredentialKind> {
        match &self.credential {
            Some(c) => c.used(),
            None => Some(CredentialKind::None),
        }
    }
}

/// Is this host the local machine?
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The ARM endpoint: `--arm-endpoint` or the cloud's. Plain `http://` only for loopback.
pub fn resolve_endpoint(arm_endpoint: Option<&str>, cloud: CloudName) -> Result<Url, UserError> {
    let raw = arm_endpoint
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(api::Cloud::of(cloud).arm_endpoint);
    let url = Url::parse(raw).map_err(|e| {
        UserError::usage(format!("--arm-endpoint '{raw}' is not a URL: {e}")).with_hint("for example https://management.azure.com or http://127.0.0.1:PORT from `lifeboat sim serve`")
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(UserError::usage(format!(
            "--arm-endpoint '{raw}' uses plain http to a remote host"
        ))
        .with_hint(
            "tokens must not travel unencrypted: use https, or http only to 127.0.0.1/localhost",
        )),
        other => {
            return Err(UserError::usage(format!("--arm-endpoint '{raw}' has scheme '{other}'"))
                .with_hint("use https://"))
        }
    }
    if url.host().is_none() || url.query().is_some() {
        return Err(UserError::usage(format!(
            "--arm-endpoint '{raw}' must be a base URL with a host and no query"
        )));
    }
    Ok(url)
}

/// Validates the options and builds the client. No request is sent: a credential that does not
/// work is reported (exit 5) by the first call. The api-version overrides of
/// `LIFEBOAT_API_VERSIONS` (in `env`) apply; `--api-version` flags are applied on top by the CLI
/// ([`ArmClient::set_api_overrides`]).
pub fn connect(
    opts: &ConnectOptions,
    env: &HashMap<String, String>,
) -> Result<Connection, UserError> {
    connect_with(opts, env, Arc::new(timer::TokioTimer::new()), None)
}

/// [`connect`] with an injected timer and observer.
pub fn connect_with(
    opts: &ConnectOptions,
    env: &HashMap<String, String>,
    timer: Arc<dyn timer::Timer>,
    observer: Option<Observer>,
) -> Result<Connection, UserError> {
    let endpoint = resolve_endpoint(opts.arm_endpoint.as_deref(), opts.cloud)?;
    let cloud = api::Cloud::of(opts.cloud);
    let kinds = credential::select(opts.auth, env)
        .map_err(|e| UserError::auth(e.message).with_hint(e.hint))?;
    if kinds == [CredentialKind::None] && !is_loopback(&endpoint) {
        return Err(UserError::usage(format!("--auth none is refused for {endpoint}")).with_hint(
            "it is only for the simulator and other loopback endpoints; choose another --auth",
        ));
    }
    let credential = credential::Credential::build(&kinds, env, &cloud)
        .map_err(|e| UserError::auth(e.message).with_hint(e.hint))?
        .map(Arc::new);
    if let Some(c) = &credential {
        tracing::info!(credentials = ?c.kinds(), "credential selected");
    }
    // A custom endpoint (simulator) accepts the scope of the chosen cloud.
    let pipeline = pipeline::Pipeline::new(PipelineOptions {
        endpoint: endpoint.clone(),
        scope: cloud.arm_scope.to_owned(),
        token: credential.clone().map(|c| c as Arc<dyn TokenSource>),
        timer,
        retry: retry_policy(env)?,
        throttle: true,
        timeout: Duration::from_secs(100),
        observer,
    })
    .map_err(|e| UserError::failed(e.to_string()))?;
    let client = ArmClient::new(pipeline);
    client.set_api_overrides(&env_overrides(env)?);
    Ok(Connection { client, endpoint, credentials: kinds, credential })
}

/// The overrides of `LIFEBOAT_API_VERSIONS` (`devops=2025-11-01-preview,connectors=...`); a
/// malformed value is bad input (exit 2) naming the families.
pub fn env_overrides(env: &HashMap<String, String>) -> Result<Vec<ApiOverride>, UserError> {
    match env.get(api::OVERRIDES_ENV).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(Vec::new()),
        Some(v) => api::parse_overrides_env(v).map_err(|e| {
            UserError::usage(format!("{}: {e}", api::OVERRIDES_ENV)).with_hint(
                "write FAMILY=VERSION pairs separated by commas, e.g. devops=2025-11-01-preview,connectors=2024-08-01-preview",
            )
        }),
    }
}

/// The client's retry policy: the default, with `LIFEBOAT_HTTP_RETRIES=N` (0 to 20) retries of a
/// throttled, failed or dropped idempotent call instead of 8 (a responder on a flaky link wants
/// more; tests that make a region fail on purpose want the step's own retry to take over sooner).
fn retry_policy(env: &HashMap<String, String>) -> Result<RetryPolicy, UserError> {
    let default = RetryPolicy::default();
    match env.get("LIFEBOAT_HTTP_RETRIES").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n <= 20 => Ok(RetryPolicy::new(n, default.base, default.cap, None)),
            _ => Err(UserError::usage(format!(
                "LIFEBOAT_HTTP_RETRIES `{v}` is not a number from 0 to 20"
            ))
            .with_hint("unset it for the default of 8 retries")),
        },
    }
}

/// The user-facing error for an Azure failure: exit 5 for credentials, 1 otherwise.
pub fn user_error(e: AzureError) -> UserError {
    match &e {
        AzureError::Credential(_) | AzureError::Claims(_) => UserError::auth(e.to_string()),
        AzureError::Arm(a) if a.status == 401 => UserError::auth(e.to_string()),
        AzureError::Config(_) => UserError::usage(e.to_string()),
        _ => UserError::failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback() {
        assert!(resolve_endpoint(Some("http://127.0.0.1:8080"), CloudName::Public).is_ok());
        assert!(resolve_endpoint(Some("http://localhost:1"), CloudName::Public).is_ok());
        assert!(resolve_endpoint(Some("http://[::1]:1"), CloudName::Public).is_ok());
        let e =
            resolve_endpoint(Some("http://management.azure.com"), CloudName::Public).unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Usage);
        assert!(e.to_string().contains("plain http"), "{e}");
        assert!(resolve_endpoint(Some("ftp://x"), CloudName::Public).is_err());
        assert!(resolve_endpoint(Some("not a url"), CloudName::Public).is_err());
        assert_eq!(
            resolve_endpoint(None, CloudName::China).unwrap().as_str(),
            "https://management.chinacloudapi.cn/"
        );
    }

    #[test]
    fn auth_none_refused_for_remote_endpoints() {
        let env = HashMap::new();
        let o = ConnectOptions {
            arm_endpoint: Some("https://management.azure.com".into()),
            auth: AuthMode::None,
            cloud: CloudName::Public,
        };
        let e = connect(&o, &env).unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Usage);
        let o = ConnectOptions { arm_endpoint: Some("http://127.0.0.1:9".into()), ..o };
        let c = connect(&o, &env).unwrap();
        assert_eq!(c.credentials, vec![CredentialKind::None]);
    }

    #[test]
    fn missing_credential_variables_exit_5() {
        let o = ConnectOptions {
            arm_endpoint: None,
            auth: AuthMode::ClientSecret,
            cloud: CloudName::Public,
        };
        let e = connect(&o, &HashMap::new()).unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Auth);
        assert!(e.to_string().contains("AZURE_CLIENT_SECRET"), "{e}");
    }
}
