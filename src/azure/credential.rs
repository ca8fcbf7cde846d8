//! Credentials: which `azure_identity` credential to use (`--auth`), built only from what the
//! environment provides, and the principal behind a token for the audit record.
//!
//! Selection is a pure function over an environment map ([`select`]), so the `auto` order is tested
//! without a network. `auto` never chooses managed identity unless `IDENTITY_ENDPOINT` or
//! `MSI_ENDPOINT` is set: probing the instance metadata address from a laptop hangs and leaks
//! intent. Tokens live in [`AccessToken`], whose `Debug` redacts, and never enter an error.

use super::error::AzureError;
use super::AuthMode;
use base64::Engine as _;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A bearer token. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: impl Into<String>) -> Self {
        AccessToken(token.into())
    }
    /// The raw value, for the `Authorization` header only.
    pub fn secret(&self) -> &str {
        &self.0
    }
    /// The identity in the token's claims (decoded, not verified: ARM verifies it).
    pub fn principal(&self) -> Option<Principal> {
        Principal::from_jwt(&self.0)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Who is calling Azure, for the audit record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    /// `upn`, `unique_name` or (for applications) `appid`.
    pub name: Option<String>,
    pub object_id: Option<String>,
    pub tenant_id: Option<String>,
}

impl Principal {
    /// Reads the claims of a JWT without verifying its signature.
    pub fn from_jwt(token: &str) -> Option<Principal> {
        let payload = token.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let s = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        Some(Principal {
            name: s("upn")
                .or_else(|| s("preferred_username"))
                .or_else(|| s("unique_name"))
                .or_else(|| s("appid"))
                .or_else(|| s("azp")),
            object_id: s("oid").filter(|v| !v.trim().is_empty()),
            tenant_id: s("tid").filter(|v| !v.trim().is_empty()),
        })
    }

    /// The object id and tenant, which every token Entra ID issues for ARM carries: a token
    /// without them names nobody, so nothing may be recorded as done by it. The error names
    /// the missing claims (never the token).
    pub fn require_identity(&self) -> Result<(String, String), AzureError> {
        match (&self.object_id, &self.tenant_id) {
            (Some(o), Some(t)) => Ok((o.clone(), t.clone())),
            (o, t) => {
                let missing: Vec<&str> =
                    [(o.is_none(), "`oid` (object id)"), (t.is_none(), "`tid` (tenant id)")]
                        .iter()
                        .filter(|(m, _)| *m)
                        .map(|(_, n)| *n)
                        .collect();
                Err(AzureError::Claims(format!(
                    "the Azure token this command obtained has no {} claim, so lifeboat cannot tell who you are in Azure and records nothing (is the credential an Entra ID user, service principal or managed identity? check `--auth` and the AZURE_* variables)",
                    missing.join(" and no ")
                )))
            }
        }
    }
}

/// `AZURE_AUTHORITY_HOST` as the credentials use it: the Entra ID authority (token endpoint
/// host) instead of the `--cloud`'s, as the Azure SDKs read it. https anywhere; plain http only
/// to a loopback address (the simulator's token endpoint), which `azure_identity` is given as
/// https and lifeboat's transport sends as http (`http::loopback_authority_transport`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// The authority as `azure_identity` sees it (always https).
    pub https: url::Url,
    /// The real scheme is http, on loopback.
    pub loopback: bool,
}

/// Reads `AZURE_AUTHORITY_HOST` (unset or empty: the `--cloud`'s authority).
pub fn authority_host(env: &HashMap<String, String>) -> Result<Option<Authority>, CredentialError> {
    let Some(raw) = env.get("AZURE_AUTHORITY_HOST").map(|v| v.trim()).filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let bad = |why: String| {
        CredentialError {
        message: format!("AZURE_AUTHORITY_HOST `{raw}` {why}"),
        hint: "unset it for the cloud's own authority (e.g. https://login.microsoftonline.com), or use https (plain http only to 127.0.0.1/localhost, e.g. `lifeboat sim serve`)".into(),
    }
    };
    let url = url::Url::parse(raw).map_err(|e| bad(format!("is not a URL ({e})")))?;
    if url.host().is_none() || url.query().is_some() || !url.path().trim_matches('/').is_empty() {
        return Err(bad("must be a scheme and host (and port) only".into()));
    }
    match url.scheme() {
        "https" => Ok(Some(Authority { https: url, loopback: false })),
        "http" if super::is_loopback(&url) => {
            let port = url.port_or_known_default().unwrap_or(80);
            let host = url.host_str().unwrap_or("127.0.0.1");
            let https = url::Url::parse(&format!("https://{host}:{port}"))
                .map_err(|e| bad(format!("cannot be used ({e})")))?;
            Ok(Some(Authority { https, loopback: true }))
        }
        "http" => Err(bad(
            "uses plain http to a remote host: a client secret must not travel unencrypted".into(),
        )),
        other => Err(bad(format!("has scheme `{other}`"))),
    }
}

/// A concrete credential kind./// A concrete credential kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    ClientSecret,
    WorkloadIdentity,
    AzurePipelines,
    ManagedIdentity,
    AzureCli,
    AzureDeveloperCli,
    None,
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialKind::ClientSecret => "client secret",
            CredentialKind::WorkloadIdentity => "workload identity",
            CredentialKind::AzurePipelines => "Azure Pipelines",
            CredentialKind::ManagedIdentity => "managed identity",
            CredentialKind::AzureCli => "Azure CLI",
            CredentialKind::AzureDeveloperCli => "Azure Developer CLI",
            CredentialKind::None => "none",
        })
    }
}

/// Environment variables each kind needs. Azure Pipelines uses the variables the AzureCLI@2 task
/// exports for a service connection with workload identity federation.
fn required_vars(kind: CredentialKind) -> &'static [&'static str] {
    match kind {
        CredentialKind::ClientSecret => {
            &["AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"]
        }
        CredentialKind::WorkloadIdentity => {
            &["AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"]
        }
        CredentialKind::AzurePipelines => &[
            "SYSTEM_OIDCREQUESTURI",
            "SYSTEM_ACCESSTOKEN",
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
            "AZURESUBSCRIPTION_CLIENT_ID",
            "AZURESUBSCRIPTION_TENANT_ID",
        ],
        CredentialKind::ManagedIdentity => &[],
        CredentialKind::AzureCli | CredentialKind::AzureDeveloperCli | CredentialKind::None => &[],
    }
}

/// A credential that cannot be used, with what is missing and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({hint})")]
pub struct CredentialError {
    pub message: String,
    pub hint: String,
}

fn missing(env: &HashMap<String, String>, kind: CredentialKind) -> Vec<&'static str> {
    required_vars(kind)
        .iter()
        .copied()
        .filter(|v| env.get(*v).is_none_or(|x| x.trim().is_empty()))
        .collect()
}

fn has(env: &HashMap<String, String>, var: &str) -> bool {
    env.get(var).is_some_and(|v| !v.trim().is_empty())
}

/// The credentials to try, in order, for `mode` in `env`. Pure: no network, no process.
pub fn select(
    mode: AuthMode,
    env: &HashMap<String, String>,
) -> Result<Vec<CredentialKind>, CredentialError> {
    use CredentialKind as K;
    let explicit = |kind: K, flag: &str| -> Result<Vec<K>, CredentialError> {
        let m = missing(env, kind);
        if m.is_empty() {
            Ok(vec![kind])
        } else {
            Err(CredentialError {
                message: format!("--auth {flag} needs {}", m.join(", ")),
                hint: format!("set {} or choose another --auth", m.join(", ")),
            })
        }
    };
    match mode {
        AuthMode::None => Ok(vec![K::None]),
        AuthMode::Cli => Ok(vec![K::AzureCli]),
        AuthMode::Azd => Ok(vec![K::AzureDeveloperCli]),
        AuthMode::ClientSecret => explicit(K::ClientSecret, "client-secret"),
        AuthMode::WorkloadIdentity => explicit(K::WorkloadIdentity, "workload-identity"),
        AuthMode::AzurePipelines => explicit(K::AzurePipelines, "azure-pipelines"),
        AuthMode::ManagedIdentity => Ok(vec![K::ManagedIdentity]),
        AuthMode::Auto => {
            if missing(env, K::ClientSecret).is_empty() {
                return Ok(vec![K::ClientSecret]);
            }
            if has(env, "AZURE_FEDERATED_TOKEN_FILE") {
                return explicit(
                    K::WorkloadIdentity,
                    "auto (workload identity, AZURE_FEDERATED_TOKEN_FILE is set)",
                );
            }
            if has(env, "SYSTEM_OIDCREQUESTURI")
                && has(env, "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID")
            {
                return explicit(
                    K::AzurePipelines,
                    "auto (Azure Pipelines, SYSTEM_OIDCREQUESTURI is set)",
                );
            }
            if has(env, "IDENTITY_ENDPOINT") || has(env, "MSI_ENDPOINT") {
                return Ok(vec![K::ManagedIdentity]);
            }
            Ok(vec![K::AzureCli, K::AzureDeveloperCli])
        }
    }
}

/// Something that produces ARM tokens. Implemented over `azure_identity` and, in tests, by fixed
/// tokens.
pub trait TokenSource: Send + Sync + fmt::Debug {
    fn token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken, AzureError>>;
}

/// A fixed token (tests, and `--auth none` which sends no header at all).
#[derive(Debug, Clone)]
pub struct StaticToken(pub Option<AccessToken>);

impl TokenSource for StaticToken {
    fn token<'a>(&'a self, _scope: &'a str) -> BoxFuture<'a, Result<AccessToken, AzureError>> {
        Box::pin(async move { Ok(self.0.clone().unwrap_or_else(|| AccessToken::new(""))) })
    }
}

/// One credential that produces a token and its expiry: an `azure_identity` credential, or a
/// fake in tests.
pub trait RawCredential: Send + Sync + fmt::Debug {
    fn get<'a>(
        &'a self,
        scope: &'a str,
    ) -> BoxFuture<'a, Result<(AccessToken, time::OffsetDateTime), String>>;
}

#[derive(Debug)]
struct Identity(Arc<dyn azure_core::credentials::TokenCredential>);

impl RawCredential for Identity {
    fn get<'a>(
        &'a self,
        scope: &'a str,
    ) -> BoxFuture<'a, Result<(AccessToken, time::OffsetDateTime), String>> {
        Box::pin(async move {
            // azure_identity's messages name the cause (not logged in, missing variable) and
            // never contain the token.
            match self.0.get_token(&[scope], None).await {
                Ok(t) => Ok((AccessToken::new(t.token.secret().to_owned()), t.expires_on)),
                Err(e) => Err(first_line(&e.to_string())),
            }
        })
    }
}

/// Tokens are reused until this close to their expiry.
const REFRESH_BEFORE_EXPIRY: time::Duration = time::Duration::minutes(5);

/// The credential lifeboat uses: one or more `azure_identity` credentials tried in order, which
/// one answered, and a token cache (the Azure CLI and azd credentials do not cache: without it
/// every request would start an `az` process).
pub struct Credential {
    candidates: Vec<(CredentialKind, Arc<dyn RawCredential>)>,
    used: Mutex<Option<CredentialKind>>,
    cache: tokio::sync::Mutex<HashMap<String, (AccessToken, time::OffsetDateTime)>>,
    clock: Arc<dyn crate::clock::Clock>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("kinds", &self.kinds())
            .field("used", &self.used())
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Builds the credentials `select` chose. `None` for `--auth none`.
    pub fn build(
        kinds: &[CredentialKind],
        env: &HashMap<String, String>,
        cloud: &super::api::Cloud,
    ) -> Result<Option<Credential>, CredentialError> {
        use azure_core::http::ClientOptions;
        use azure_identity as id;
        let lookup = |k: &str| env.get(k).cloned();
        // lifeboat's own transport: no redirect followed, and no proxy for a managed identity
        // endpoint on this machine (see `super::http`).
        let transport = |kind: CredentialKind| {
            super::http::credential_transport(kind == CredentialKind::ManagedIdentity, &lookup)
                .map_err(|e| CredentialError {
                    message: format!("cannot set up the {kind} credential: {e}"),
                    hint: "check the TLS setup of this machine".into(),
                })
        };
        let authority = authority_host(env)?;
        let client_options = |kind: CredentialKind| -> Result<ClientOptions, CredentialError> {
            // The kinds that ask Entra ID's token endpoint (the others ask a local process or a
            // managed identity endpoint).
            let entra = matches!(
                kind,
                CredentialKind::ClientSecret
                    | CredentialKind::WorkloadIdentity
                    | CredentialKind::AzurePipelines
            );
            match &authority {
                Some(a) if entra => {
                    let mut custom = azure_core::cloud::CustomConfiguration::default();
                    custom.authority_host = a.https.as_str().trim_end_matches('/').to_owned();
                    let transport = if a.loopback {
                        super::http::loopback_authority_transport(&a.https).map_err(|e| {
                            CredentialError {
                                message: format!("cannot set up the {kind} credential: {e}"),
                                hint: "check AZURE_AUTHORITY_HOST".into(),
                            }
                        })?
                    } else {
                        transport(kind)?
                    };
                    Ok(ClientOptions {
                        cloud: Some(Arc::new(azure_core::cloud::CloudConfiguration::Custom(
                            custom,
                        ))),
                        transport: Some(transport),
                        ..Default::default()
                    })
                }
                _ => Ok(ClientOptions {
                    cloud: Some(Arc::new(cloud.core_configuration())),
                    transport: Some(transport(kind)?),
                    ..Default::default()
                }),
            }
        };
        let var = |k: &str| env.get(k).cloned().unwrap_or_default();
        let fail = |kind: CredentialKind, e: azure_core::Error| CredentialError {
            message: format!("cannot set up the {kind} credential: {e}"),
            hint: format!("check {}", required_vars(kind).join(", ")),
        };
        let mut candidates: Vec<(CredentialKind, Arc<dyn RawCredential>)> = Vec::new();
        for &kind in kinds {
            let cred: Arc<dyn azure_core::credentials::TokenCredential> = match kind {
                CredentialKind::None => return Ok(None),
                CredentialKind::ClientSecret => id::ClientSecretCredential::new(
                    &var("AZURE_TENANT_ID"),
                    var("AZURE_CLIENT_ID"),
                    azure_core::credentials::Secret::new(var("AZURE_CLIENT_SECRET")),
                    Some(id::ClientSecretCredentialOptions {
                        client_options: client_options(kind)?,
                    }),
                )
                .map_err(|e| fail(kind, e))?,
                CredentialKind::WorkloadIdentity => id::WorkloadIdentityCredential::new(Some(
                    id::WorkloadIdentityCredentialOptions {
                        credential_options: id::ClientAssertionCredentialOptions {
                            client_options: client_options(kind)?,
                        },
                        client_id: Some(var("AZURE_CLIENT_ID")),
                        tenant_id: Some(var("AZURE_TENANT_ID")),
                        token_file_path: Some(var("AZURE_FEDERATED_TOKEN_FILE").into()),
                    },
                ))
                .map_err(|e| fail(kind, e))?,
                CredentialKind::AzurePipelines => id::AzurePipelinesCredential::new(
                    var("AZURESUBSCRIPTION_TENANT_ID"),
                    var("AZURESUBSCRIPTION_CLIENT_ID"),
                    &var("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"),
                    azure_core::credentials::Secret::new(var("SYSTEM_ACCESSTOKEN")),
                    Some(id::AzurePipelinesCredentialOptions {
                        credential_options: id::ClientAssertionCredentialOptions {
                            client_options: client_options(kind)?,
                        },
                    }),
                )
                .map_err(|e| fail(kind, e))?,
                CredentialKind::ManagedIdentity => {
                    let user_assigned_id = env
                        .get("AZURE_CLIENT_ID")
                        .filter(|v| !v.is_empty())
                        .map(|c| id::UserAssignedId::ClientId(c.clone()));
                    id::ManagedIdentityCredential::new(Some(id::ManagedIdentityCredentialOptions {
                        user_assigned_id,
                        client_options: client_options(kind)?,
                    }))
                    .map_err(|e| fail(kind, e))?
                }
                CredentialKind::AzureCli => {
                    id::AzureCliCredential::new(None).map_err(|e| fail(kind, e))?
                }
                CredentialKind::AzureDeveloperCli => {
                    id::AzureDeveloperCliCredential::new(None).map_err(|e| fail(kind, e))?
                }
            };
            candidates.push((kind, Arc::new(Identity(cred))));
        }
        Ok(Some(Credential::from_parts(candidates, Arc::new(crate::clock::SystemClock))))
    }

    /// A credential over given parts (tests use fakes and a manual clock).
    pub fn from_parts(
        candidates: Vec<(CredentialKind, Arc<dyn RawCredential>)>,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Credential {
        Credential {
            candidates,
            used: Mutex::new(None),
            cache: tokio::sync::Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// The kinds this credential tries, in order.
    pub fn kinds(&self) -> Vec<CredentialKind> {
        self.candidates.iter().map(|(k, _)| *k).collect()
    }

    /// The kind that produced the last token.
    pub fn used(&self) -> Option<CredentialKind> {
        *self.used.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenSource for Credential {
    fn token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken, AzureError>> {
        Box::pin(async move {
            // Held across the refresh so concurrent requests wait for one refresh, not start many.
            let mut cache = self.cache.lock().await;
            if let Some((token, expires_on)) = cache.get(scope) {
                if *expires_on - self.clock.now() > REFRESH_BEFORE_EXPIRY {
                    return Ok(token.clone());
                }
            }
            let mut tried = Vec::new();
            for (kind, cred) in &self.candidates {
                match cred.get(scope).await {
                    Ok((token, expires_on)) => {
                        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
                        if *used != Some(*kind) {
                            tracing::info!(credential = %kind, "authenticated to Azure");
                            *used = Some(*kind);
                        }
                        cache.insert(scope.to_owned(), (token.clone(), expires_on));
                        return Ok(token);
                    }
                    Err(e) => tried.push(format!("{kind}: {e}")),
                }
            }
            Err(AzureError::Credential(format!(
                "tried {} (sign in with `az login` or `azd auth login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET, or choose another --auth)",
                tried.join("; ")
            )))
        })
    }
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or_default();
    l.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[derive(Debug)]
    struct Fake {
        calls: std::sync::atomic::AtomicUsize,
        fail: bool,
        lifetime: time::Duration,
        clock: crate::clock::ManualClock,
    }

    impl RawCredential for Fake {
        fn get<'a>(
            &'a self,
            _scope: &'a str,
        ) -> BoxFuture<'a, Result<(AccessToken, time::OffsetDateTime), String>> {
            use crate::clock::Clock as _;
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let r = if self.fail {
                Err("Please run 'az login' to set up an account".to_owned())
            } else {
                Ok((AccessToken::new(format!("t{n}")), self.clock.now() + self.lifetime))
            };
            Box::pin(async move { r })
        }
    }

    fn fake(fail: bool, clock: &crate::clock::ManualClock) -> Arc<Fake> {
        Arc::new(Fake {
            calls: Default::default(),
            fail,
            lifetime: time::Duration::hours(1),
            clock: clock.clone(),
        })
    }

    #[tokio::test]
    async fn tokens_are_cached_until_close_to_expiry_and_the_chain_falls_through() {
        let clock = crate::clock::ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
        let cli = fake(true, &clock);
        let azd = fake(false, &clock);
        let c = Credential::from_parts(
            vec![
                (CredentialKind::AzureCli, cli.clone()),
                (CredentialKind::AzureDeveloperCli, azd.clone()),
            ],
            Arc::new(clock.clone()),
        );
        assert_eq!(c.token("s").await.unwrap().secret(), "t0");
        assert_eq!(c.used(), Some(CredentialKind::AzureDeveloperCli));
        assert_eq!(c.token("s").await.unwrap().secret(), "t0", "cached");
        clock.advance(std::time::Duration::from_secs(56 * 60));
        assert_eq!(c.token("s").await.unwrap().secret(), "t1", "refreshed 5 minutes before expiry");
        assert_eq!(azd.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_chain_says_what_was_tried_and_how_to_fix_it() {
        let clock = crate::clock::ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
        let c = Credential::from_parts(
            vec![
                (CredentialKind::AzureCli, fake(true, &clock)),
                (CredentialKind::AzureDeveloperCli, fake(true, &clock)),
            ],
            Arc::new(clock),
        );
        let e = c.token("s").await.unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("Azure CLI: Please run 'az login'")
                && msg.contains("Azure Developer CLI:")
                && msg.contains("sign in with `az login`"),
            "{msg}"
        );
        assert_eq!(crate::azure::user_error(e).exit, crate::error::Exit::Auth);
    }

    #[test]
    fn token_debug_redacts() {
        let t = AccessToken::new("eyJsecret");
        assert!(!format!("{t:?}").contains("eyJ"));
    }

    #[test]
    fn decodes_principal_claims() {
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"none"}"#),
            b64(r#"{"upn":"ana@contoso.com","oid":"o-1","tid":"t-1"}"#)
        );
        let p = Principal::from_jwt(&jwt).unwrap();
        assert_eq!(p.name.as_deref(), Some("ana@contoso.com"));
        assert_eq!(p.object_id.as_deref(), Some("o-1"));
        assert_eq!(p.tenant_id.as_deref(), Some("t-1"));
        let app = format!("{}.{}.sig", b64("{}"), b64(r#"{"appid":"app-1","oid":"o-2"}"#));
        assert_eq!(Principal::from_jwt(&app).unwrap().name.as_deref(), Some("app-1"));
        assert_eq!(Principal::from_jwt("not a jwt"), None);
    }

    #[test]
    fn auto_prefers_client_secret_then_workload_then_pipelines_then_mi_then_cli() {
        use CredentialKind as K;
        let full = [
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
            ("SYSTEM_OIDCREQUESTURI", "https://x"),
            ("SYSTEM_ACCESSTOKEN", "a"),
            ("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "sc"),
            ("AZURESUBSCRIPTION_CLIENT_ID", "c"),
            ("AZURESUBSCRIPTION_TENANT_ID", "t"),
            ("IDENTITY_ENDPOINT", "http://localhost:1"),
        ];
        let mut e = env(&full);
        assert_eq!(select(AuthMode::Auto, &e).unwrap(), vec![K::ClientSecret]);
        e.remove("AZURE_CLIENT_SECRET");
        assert_eq!(select(AuthMode::Auto, &e).unwrap(), vec![K::WorkloadIdentity]);
        e.remove("AZURE_FEDERATED_TOKEN_FILE");
        assert_eq!(select(AuthMode::Auto, &e).unwrap(), vec![K::AzurePipelines]);
        e.remove("SYSTEM_OIDCREQUESTURI");
        assert_eq!(select(AuthMode::Auto, &e).unwrap(), vec![K::ManagedIdentity]);
        e.remove("IDENTITY_ENDPOINT");
        assert_eq!(select(AuthMode::Auto, &e).unwrap(), vec![K::AzureCli, K::AzureDeveloperCli]);
        e.insert("MSI_ENDPOINT".into(), "http://127.0.0.1:2".into());
        assert_eq!(select(AuthMode::Auto, &e).unwrap(), vec![K::ManagedIdentity]);
    }

    #[test]
    fn auto_never_picks_managed_identity_without_its_endpoint() {
        let e = env(&[("AZURE_CLIENT_ID", "c"), ("IMDS_ENDPOINT", "x"), ("MSI_ENDPOINT", " ")]);
        assert!(!select(AuthMode::Auto, &e).unwrap().contains(&CredentialKind::ManagedIdentity));
    }

    #[test]
    fn explicit_mode_names_the_missing_variables() {
        let e = env(&[("AZURE_CLIENT_ID", "c")]);
        let err = select(AuthMode::ClientSecret, &e).unwrap_err();
        assert_eq!(err.message, "--auth client-secret needs AZURE_TENANT_ID, AZURE_CLIENT_SECRET");
        let err =
            select(AuthMode::Auto, &env(&[("AZURE_FEDERATED_TOKEN_FILE", "/f")])).unwrap_err();
        assert!(err.message.contains("AZURE_CLIENT_ID, AZURE_TENANT_ID"), "{err}");
    }
}
