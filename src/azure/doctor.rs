//! `lifeboat doctor`: one cheap read per API family, to show which api-version each family uses,
//! how it was chosen (compiled, override, negotiated) and whether the service accepts it, before
//! an outage rather than during one.
//!
//! Probes, in order (each may use what the one before found):
//! - `subscriptions`: the first page of `GET /subscriptions`;
//! - `resourcegroups`: the first page of `GET /subscriptions/{first visible}/resourcegroups`;
//! - `graph`: the DevOps-connector query with `| take 1`;
//! - `authorization`: the credential's permissions at the first visible subscription
//!   (`GET /subscriptions/{id}/providers/Microsoft.Authorization/permissions`, every page);
//! - `connectors`: the first page of the connector list of one subscription (the subscription of
//!   the connector Resource Graph found, else the first visible subscription);
//! - `devops`: `GET devops/default` of the first DevOps connector found (a 404 `ResourceNotFound`
//!   still proves the version is served: the resource provider answered);
//! - `support`: the first page of `GET /providers/Microsoft.Support/services`;
//! - `storage`: the first page of the storage accounts of the first visible subscription
//!   (`GET /subscriptions/{id}/providers/Microsoft.Storage/storageAccounts`): how `run` finds where
//!   a run or backup store lives.

use super::api::{ApiFamily, ApiOverride, VersionSource};
use super::error::{suggested_version, AzureError, VersionPin};
use super::models::{QueryRequest, QueryRequestOptions};
use super::{ArmClient, ResourceId};
use serde::Serialize;
use serde_json::Value;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "result")]
pub enum Outcome {
    /// The service answered with this version.
    Ok { detail: String },
    /// Nothing to probe with (e.g. no DevOps connector visible); the version is not checked.
    Skipped { reason: String },
    /// The family cannot be used as configured.
    Failed {
        error: String,
        fix: String,
        /// A credential problem (exit 5) rather than a family problem.
        #[serde(skip)]
        auth: bool,
    },
}

/// One family's line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    pub family: ApiFamily,
    /// The version in use after the probe (negotiation may have changed it).
    pub version: String,
    /// `compiled`, `override`, `negotiated`.
    pub source: String,
    /// Where the version came from, in words (`--api-version devops=...`, `negotiated from ...`).
    pub source_detail: String,
    /// What was called.
    pub call: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Probe {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. })
    }
}

/// What to do about a failed probe.
fn fix_for(family: ApiFamily, e: &AzureError) -> (String, bool) {
    let flag = |v: &str| format!("--api-version {family}={v}");
    match e {
        AzureError::NoKnownApiVersion { served, .. } => (
            format!(
                "pass {} (or set LIFEBOAT_API_VERSIONS={family}=VERSION) with one of the served versions",
                flag(&suggested_version(family, served).unwrap_or_else(|| "VERSION".into()))
            ),
            false,
        ),
        AzureError::ApiVersionRefused { served, why, .. } => {
            let v = suggested_version(family, served).unwrap_or_else(|| "VERSION".into());
            match why {
                VersionPin::Override(o) => {
                    (format!("change {} to {} or remove it", o.describe(), flag(&v)), false)
                }
                _ => (format!("pass {}", flag(&v)), false),
            }
        }
        AzureError::Credential(_) | AzureError::Claims(_) => (
            "sign in again (`az login`) or check --auth, --cloud and the credential's variables"
                .into(),
            true,
        ),
        AzureError::Arm(a) if a.status == 401 => (a.hint().into(), true),
        AzureError::Arm(a) if a.code.eq_ignore_ascii_case("InvalidResourceType") => (
            "the endpoint does not serve this API at all: check --arm-endpoint and --cloud".into(),
            false,
        ),
        AzureError::Arm(a) => (a.hint().into(), false),
        AzureError::Transport { .. } => {
            ("check the network, the proxy settings and --arm-endpoint".into(), false)
        }
        _ => ("see the error".into(), false),
    }
}

fn source_detail(client: &ArmClient, family: ApiFamily) -> (String, String, String) {
    let chosen = client.api_versions().get(family).clone();
    let detail = match &chosen.source {
        VersionSource::Compiled => "lifeboat's default".to_owned(),
        VersionSource::Override { origin } => {
            ApiOverride { family, version: chosen.version.clone(), origin: *origin }.describe()
        }
        VersionSource::Negotiated { from } => {
            let served = client
                .negotiations()
                .into_iter()
                .rev()
                .find(|n| n.family == family)
                .map(|n| n.served.join(", "))
                .unwrap_or_default();
            format!("negotiated: ARM refused {from}; it serves {served}")
        }
    };
    (chosen.version, chosen.source.label().to_owned(), detail)
}

fn probe(client: &ArmClient, family: ApiFamily, call: String, r: Result<String, Outcome>) -> Probe {
    let (version, source, source_detail) = source_detail(client, family);
    let outcome = match r {
        Ok(detail) => Outcome::Ok { detail },
        Err(o) => o,
    };
    Probe { family, version, source, source_detail, call, outcome }
}

fn failure(family: ApiFamily, e: &AzureError) -> Outcome {
    let (fix, auth) = fix_for(family, e);
    Outcome::Failed { error: e.to_string(), fix, auth }
}

/// The last segment of a resource ID (its name), for short report lines.
fn short(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn first_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn items(page: &Value) -> Vec<Value> {
    page.get("value").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn is_devops_connector(c: &Value) -> bool {
    let env = c.pointer("/properties/environmentName").and_then(Value::as_str).unwrap_or("");
    ["AzureDevOps", "Github", "GitLab"].iter().any(|e| e.eq_ignore_ascii_case(env))
}

/// Probes every family once, in the order of the list above.
pub async fn probe_all(client: &ArmClient) -> Vec<Probe> {
    let mut out = Vec::new();

    // subscriptions
    let mut first_subscription: Option<String> = None;
    let call = "GET /subscriptions (first page)".to_owned();
    let r = match client.get_json("/subscriptions", ApiFamily::Subscriptions, None).await {
        Ok(page) => {
            let subs = items(&page);
            first_subscription =
                subs.iter().find_map(|s| first_str(s, "subscriptionId")).map(str::to_owned);
            Ok(match &first_subscription {
                Some(s) => format!("{} visible on the first page, first {s}", subs.len()),
                None => "no subscription visible".to_owned(),
            })
        }
        Err(e) => Err(failure(ApiFamily::Subscriptions, &e)),
    };
    out.push(probe(client, ApiFamily::Subscriptions, call, r));

    // resourcegroups
    let (call, r) = match &first_subscription {
        None => (
            "GET /subscriptions/{id}/resourcegroups".to_owned(),
            Err(Outcome::Skipped {
                reason: "no subscription visible to list the groups of".into(),
            }),
        ),
        Some(s) => {
            let path = format!("/subscriptions/{s}/resourcegroups");
            let r = match client.get_json(path.as_str(), ApiFamily::ResourceGroups, None).await {
                Ok(page) => Ok(format!(
                    "{} resource group(s) in subscription {s} (first page)",
                    items(&page).len()
                )),
                Err(e) => Err(failure(ApiFamily::ResourceGroups, &e)),
            };
            (format!("GET {path} (first page)"), r)
        }
    };
    out.push(probe(client, ApiFamily::ResourceGroups, call, r));

    // graph
    let mut graph_connector: Option<(String, String)> = None;
    let query = format!("{}\n| take 1", crate::queries::DEVOPS_CONNECTORS.trim_end());
    let call =
        "POST /providers/Microsoft.ResourceGraph/resources (DevOps connectors, take 1)".to_owned();
    let request = QueryRequest {
        query,
        options: Some(QueryRequestOptions {
            result_format: Some("objectArray".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let r = match client.resource_graph_page(&request).await {
        Ok(page) => {
            let rows = page.rows();
            graph_connector = rows.first().and_then(|row| {
                let id = row.get("connectorResourceId")?.as_str()?.to_owned();
                let sub = row.get("subscriptionId")?.as_str()?.to_owned();
                Some((id, sub))
            });
            Ok(match &graph_connector {
                Some((id, _)) => format!("found connector {}", short(id)),
                None => "the query ran; no DevOps connector visible".to_owned(),
            })
        }
        Err(e) => Err(failure(ApiFamily::Graph, &e)),
    };
    out.push(probe(client, ApiFamily::Graph, call, r));

    // authorization
    let scope = first_subscription.clone().or(graph_connector.as_ref().map(|(_, s)| s.clone()));
    let (call, r) = match scope {
        None => (
            "GET /subscriptions/.../providers/Microsoft.Authorization/permissions".to_owned(),
            Err(Outcome::Skipped {
                reason: "no subscription visible (neither the subscription list nor Resource Graph named one)".into(),
            }),
        ),
        Some(s) => {
            let path = format!("/subscriptions/{s}/providers/Microsoft.Authorization/permissions");
            let r = match client.list_json(path.as_str(), ApiFamily::Authorization, None).await {
                Ok(entries) => Ok(format!(
                    "{} permission entr{} for the credential at subscription {s}",
                    entries.len(),
                    if entries.len() == 1 { "y" } else { "ies" }
                )),
                Err(e) => Err(failure(ApiFamily::Authorization, &e)),
            };
            (format!("GET {path}"), r)
        }
    };
    out.push(probe(client, ApiFamily::Authorization, call, r));

    // connectors
    let subscription =
        graph_connector.as_ref().map(|(_, s)| s.clone()).or(first_subscription.clone());
    let mut devops_connector: Option<String> = None;
    let (call, r) = match &subscription {
        None => (
            "GET .../securityConnectors".to_owned(),
            Err(Outcome::Skipped {
                reason: "no subscription visible (neither the subscription list nor Resource Graph named one)".into(),
            }),
        ),
        Some(s) => {
            let path = format!("/subscriptions/{s}/providers/Microsoft.Security/securityConnectors");
            let r = match client.get_json(path.as_str(), ApiFamily::Connectors, None).await {
                Ok(page) => {
                    let list = items(&page);
                    devops_connector = list
                        .iter()
                        .filter(|c| is_devops_connector(c))
                        .find_map(|c| first_str(c, "id"))
                        .map(str::to_owned);
                    Ok(format!("{} connector(s) in subscription {s} (first page)", list.len()))
                }
                Err(e) => Err(failure(ApiFamily::Connectors, &e)),
            };
            (format!("GET {path} (first page)"), r)
        }
    };
    out.push(probe(client, ApiFamily::Connectors, call, r));

    // devops
    let connector = devops_connector.or(graph_connector.map(|(id, _)| id));
    let (call, r) = match connector.as_deref().map(ResourceId::parse) {
        None => (
            "GET .../devops/default".to_owned(),
            Err(Outcome::Skipped { reason: "no DevOps connector visible to probe with".into() }),
        ),
        Some(Err(e)) => (
            "GET .../devops/default".to_owned(),
            Err(Outcome::Skipped {
                reason: format!("the connector ID the service returned is not valid: {e}"),
            }),
        ),
        Some(Ok(id)) => {
            let devops = id.devops();
            let r = match client.get_json(&devops, ApiFamily::Devops, None).await {
                Ok(_) => Ok(format!("read devops/default of {}", id.name())),
                Err(e) if e.is_not_found() => Ok(format!(
                    "{} has no devops/default (never authorized); the resource provider answered",
                    id.name()
                )),
                Err(e) => Err(failure(ApiFamily::Devops, &e)),
            };
            (format!("GET {devops}"), r)
        }
    };
    out.push(probe(client, ApiFamily::Devops, call, r));

    // support
    let call = "GET /providers/Microsoft.Support/services (first page)".to_owned();
    let r = match client
        .get_json("/providers/Microsoft.Support/services", ApiFamily::Support, None)
        .await
    {
        Ok(page) => Ok(format!("{} service(s) on the first page", items(&page).len())),
        Err(e) => Err(failure(ApiFamily::Support, &e)),
    };
    out.push(probe(client, ApiFamily::Support, call, r));

    // storage
    let (call, r) = match &first_subscription {
        None => (
            "GET /subscriptions/.../providers/Microsoft.Storage/storageAccounts".to_owned(),
            Err(Outcome::Skipped { reason: "no subscription visible".into() }),
        ),
        Some(s) => {
            let path = format!("/subscriptions/{s}/providers/Microsoft.Storage/storageAccounts");
            let r = match client.get_json(path.as_str(), ApiFamily::Storage, None).await {
                Ok(page) => Ok(format!(
                    "{} storage account(s) in subscription {s} (first page)",
                    items(&page).len()
                )),
                Err(e) => Err(failure(ApiFamily::Storage, &e)),
            };
            (format!("GET {path} (first page)"), r)
        }
    };
    out.push(probe(client, ApiFamily::Storage, call, r));
    out
}
