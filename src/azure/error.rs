//! Errors of the Azure client. [`ArmError`] is the parsed ARM error envelope (both the v2/v5
//! `ErrorResponse` and the `CloudError` shape are `{"error": {...}}`) plus what was called; its
//! Display says what happened, to which resource, and what to do. Nothing here ever holds a token:
//! request URLs are stored without query values that could be secrets.

use super::api::{ApiFamily, ApiOverride};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// `ErrorDetail` of the ARM common types (v2 and v5), recursive through `details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
    #[serde(default, rename = "additionalInfo", skip_serializing_if = "Vec::is_empty")]
    pub additional_info: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `{"error": ErrorDetail}`: ErrorResponse (v2, v5, Resource Graph) and CloudError alike.
#[derive(Debug, Clone, Deserialize)]
struct Envelope {
    error: ErrorDetail,
}

/// An error answer from ARM (or an RP behind it).
#[derive(Debug, Clone, PartialEq)]
pub struct ArmError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<ErrorDetail>,
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
    pub method: String,
    /// The resource ID or path that was called (no query string).
    pub resource: String,
}

impl ArmError {
    /// Builds the error from a response body; a body that is not an ARM envelope still gives a
    /// useful error (its first 300 characters as the message).
    pub fn from_response(
        status: u16,
        body: &[u8],
        method: &str,
        resource: &str,
        request_id: Option<String>,
        correlation_id: Option<String>,
    ) -> ArmError {
        let (code, message, target, details) = match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => (
                error.code.unwrap_or_else(|| format!("Http{status}")),
                error.message.unwrap_or_default(),
                error.target,
                error.details,
            ),
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let snippet: String = text.chars().take(300).collect();
                (format!("Http{status}"), snippet.trim().to_owned(), None, Vec::new())
            }
        };
        ArmError {
            status,
            code,
            message,
            target,
            details,
            request_id,
            correlation_id,
            method: method.to_owned(),
            resource: resource.to_owned(),
        }
    }

    /// What a person can do about this error.
    pub fn hint(&self) -> &'static str {
        match self.status {
            400 => "the request was rejected as invalid; check the values named in the message",
            401 => "the credential was not accepted; sign in again (`az login`) or check --auth and --cloud",
            403 => "the principal lacks permission; check its role assignment on this scope (Security Admin or Contributor)",
            404 => "the resource does not exist; check the ID, the subscription and the resource group",
            409 => "the resource is in a conflicting state (another operation in progress, or it is onboarded elsewhere); retry later or resolve the conflict",
            412 => "the resource changed since it was read; read it again and retry",
            429 => "Azure throttled the requests; retry later or reduce concurrency",
            500..=599 => "Azure had a transient failure; retry later, and quote the request ID to Microsoft support if it persists",
            _ => "see the ARM error code and message",
        }
    }
}

impl fmt::Display for ArmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed with {} {}", self.method, self.resource, self.status, self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message.trim_end_matches('.'))?;
        }
        if let Some(t) = &self.target {
            write!(f, " (target '{t}')")?;
        }
        for d in &self.details {
            if let (Some(c), Some(m)) = (&d.code, &d.message) {
                write!(f, "; {c}: {}", m.trim_end_matches('.'))?;
            }
        }
        write!(f, " ({}", self.hint())?;
        if let Some(r) = &self.request_id {
            write!(f, "; request id {r}")?;
        }
        if let Some(c) = &self.correlation_id {
            write!(f, "; correlation id {c}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for ArmError {}

/// Everything the Azure client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error(transparent)]
    Arm(Box<ArmError>),
    #[error("{method} {resource} failed after {attempts} attempt(s) in {elapsed:?}: {message} (check the network and the ARM endpoint)")]
    Transport {
        method: String,
        resource: String,
        attempts: u32,
        elapsed: Duration,
        message: String,
    },
    #[error("{method} {resource}: the long-running operation did not finish within {deadline:?} (last status '{last_status}'; it may still complete: check the resource later, or raise the deadline)")]
    LroTimeout { method: String, resource: String, deadline: Duration, last_status: String },
    #[error("{method} {resource}: the long-running operation ended {status}{}", .error.as_ref().map(|e| format!(" with {}: {}", e.code.as_deref().unwrap_or("no code"), e.message.as_deref().unwrap_or(""))).unwrap_or_default())]
    LroFailed { method: String, resource: String, status: String, error: Option<Box<ErrorDetail>> },
    #[error("{method} {resource}: the response is not what the API contract describes: {message}")]
    Decode { method: String, resource: String, message: String },
    /// A 3xx answer. lifeboat follows no redirect: following one would send the request again,
    /// body and all, to the host the answer names. Only that host is kept (never the whole
    /// `Location`, whose query may carry a token).
    #[error("{method} {resource}: the service answered {status} redirecting to {}{}; lifeboat follows no redirect, so nothing was sent there (ARM does not redirect: check --arm-endpoint and any proxy or gateway between lifeboat and ARM)", .location.as_deref().unwrap_or("no location"), .request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
    Redirect {
        method: String,
        resource: String,
        status: u16,
        /// `host[:port]` of the `Location` header.
        location: Option<String>,
        request_id: Option<String>,
    },
    /// A request lifeboat refuses to send because it would take the bearer token elsewhere than
    /// the ARM endpoint, or over plain http to a host that is not loopback. `target` is
    /// `scheme://host[:port]` only.
    #[error("{method} {resource}: refused to send to {target}: {reason} (the bearer token goes only to the ARM endpoint, over https or plain http to loopback; check --arm-endpoint and any proxy or gateway that rewrites ARM's answers)")]
    Refused { method: String, resource: String, target: String, reason: String },
    /// A write the client's write hook refused before sending it (`pipeline::WriteHook`: the
    /// live drill's guard). Nothing was sent.
    #[error("{method} {resource}: refused before sending: {reason}")]
    WriteRefused { method: String, resource: String, reason: String },
    /// ARM refused an api-version that lifeboat does not replace by negotiation: one the caller
    /// asked for explicitly, an override, or the one this process already used successfully.
    #[error("{}", describe_refused(.family, .version, .served, .why, .refusal))]
    ApiVersionRefused {
        family: ApiFamily,
        version: String,
        /// The versions ARM said it serves.
        served: Vec<String>,
        why: VersionPin,
        refusal: Box<ArmError>,
    },
    /// ARM refused the family's version and serves none of the versions lifeboat knows.
    #[error("{}", describe_unknown(.family, .version, .served, .refusal))]
    NoKnownApiVersion {
        family: ApiFamily,
        version: String,
        served: Vec<String>,
        refusal: Box<ArmError>,
    },
    #[error("cannot get an Azure access token: {0}")]
    Credential(String),
    /// A token whose claims do not name a principal (no object id or tenant): lifeboat cannot
    /// record who acted (exit 5).
    #[error("{0}")]
    Claims(String),
    #[error("{0}")]
    Config(String),
}

/// Why a refused api-version was not negotiated away.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionPin {
    /// The caller asked for this version (for example the one a snapshot object was read with).
    Explicit,
    /// The user chose it.
    Override(ApiOverride),
    /// This process already made a successful call of the family with it.
    InUse,
}

/// The version to suggest to the user: the newest served one lifeboat knows, else the newest
/// served one.
pub fn suggested_version(family: ApiFamily, served: &[String]) -> Option<String> {
    if let Some(v) = super::api::negotiate(family, served) {
        return Some(v.to_owned());
    }
    served.iter().max_by(|a, b| a.get(..10).cmp(&b.get(..10)).then(b.len().cmp(&a.len()))).cloned()
}

fn ids(a: &ArmError) -> String {
    let mut s = String::new();
    if let Some(r) = &a.request_id {
        s.push_str(&format!("; request id {r}"));
    }
    if let Some(c) = &a.correlation_id {
        s.push_str(&format!("; correlation id {c}"));
    }
    s
}

fn describe_refused(
    family: &ApiFamily,
    version: &str,
    served: &[String],
    why: &VersionPin,
    a: &ArmError,
) -> String {
    let flag = |v: &str| format!("--api-version {family}={v}");
    let suggestion = suggested_version(*family, served);
    let (because, fix) = match why {
        VersionPin::Explicit => (
            "asked for explicitly".to_owned(),
            "use one of the served versions, or the version in use for the run".to_owned(),
        ),
        VersionPin::Override(o) => (
            format!("set by {}; an override is never negotiated away", o.describe()),
            match &suggestion {
                Some(v) => format!(
                    "change the override to a served version, e.g. {}, or remove it",
                    flag(v)
                ),
                None => "remove the override".to_owned(),
            },
        ),
        VersionPin::InUse => (
            "already in use by this process; lifeboat never switches an api-version mid-run"
                .to_owned(),
            match &suggestion {
                Some(v) => format!("start the command again with {}", flag(v)),
                None => "run again once the service serves it".to_owned(),
            },
        ),
    };
    format!(
        "{} {} failed: ARM refused {family} api-version {version} ({} {}), {because}; it serves {} ({fix}{})",
        a.method,
        a.resource,
        a.status,
        a.code,
        served.join(", "),
        ids(a)
    )
}

fn describe_unknown(family: &ApiFamily, version: &str, served: &[String], a: &ArmError) -> String {
    let v = suggested_version(*family, served).unwrap_or_else(|| "VERSION".into());
    format!(
        "{} {} failed: ARM refused {family} api-version {version} ({} {}) and serves none of the versions lifeboat knows ({}); it serves {} (choose one explicitly: --api-version {family}={v}, or {}={family}={v}{})",
        a.method,
        a.resource,
        a.status,
        a.code,
        family.known().join(", "),
        served.join(", "),
        super::api::OVERRIDES_ENV,
        ids(a)
    )
}

impl AzureError {
    /// The ARM error, when the service answered with one.
    pub fn arm(&self) -> Option<&ArmError> {
        match self {
            AzureError::Arm(a) => Some(a),
            _ => None,
        }
    }
    /// The service error code (`TokenExchangeFailed`, `ResourceNotFound`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            AzureError::Arm(a) => Some(&a.code),
            AzureError::LroFailed { error, .. } => error.as_ref().and_then(|e| e.code.as_deref()),
            AzureError::ApiVersionRefused { refusal, .. }
            | AzureError::NoKnownApiVersion { refusal, .. } => Some(&refusal.code),
            _ => None,
        }
    }
    pub fn status(&self) -> Option<u16> {
        self.arm().map(|a| a.status)
    }
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

impl From<ArmError> for AzureError {
    fn from(e: ArmError) -> Self {
        AzureError::Arm(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cloud_error_and_says_what_to_do() {
        let body = br#"{"error":{"code":"InvalidRequestContent","message":"The property 'autoDiscovery' has an invalid value.","target":"properties.autoDiscovery","details":[{"code":"BadValue","message":"expected Enabled or Disabled"}]}}"#;
        let e = ArmError::from_response(400, body, "PUT", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c/devops/default", Some("req-1".into()), Some("corr-1".into()));
        assert_eq!(e.code, "InvalidRequestContent");
        assert_eq!(e.target.as_deref(), Some("properties.autoDiscovery"));
        let s = e.to_string();
        assert!(s.starts_with("PUT /subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c/devops/default failed with 400 InvalidRequestContent"), "{s}");
        assert!(s.contains("BadValue"), "{s}");
        assert!(s.contains("request id req-1"), "{s}");
    }

    #[test]
    fn non_json_body_still_explains() {
        let e = ArmError::from_response(403, b"<html>forbidden</html>", "GET", "/x", None, None);
        assert_eq!(e.code, "Http403");
        assert!(e.to_string().contains("role assignment"));
    }
}
