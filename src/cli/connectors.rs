//! `lifeboat connectors`: find DevOps security connectors through Azure Resource Graph.
//!
//! `list` runs `queries/devops-connectors.kql` over the subscriptions given with `--subscription`
//! (batched) or, without any, over the principal's whole scope (Resource Graph's own default:
//! every subscription the principal can read), follows every `$skipToken` page, filters by
//! `--region`, and with `--details` reads each connector's DevOps configuration and counts its
//! inventory. The library function [`list`] does the work; `execute` only prints.

use super::{Globals, OutputFormat};
use crate::azure::{self, ArmClient, AzureError, ResourceId};
use crate::error::{Exit, UserError};
use crate::text::normalize_region;
use futures::StreamExt;
use serde::Serialize;

/// The Resource Graph query, embedded so the binary needs no file at run time.
pub use crate::queries::DEVOPS_CONNECTORS as DEVOPS_CONNECTORS_QUERY;

#[derive(Debug, clap::Subcommand)]
pub enum ConnectorsCommand {
    /// List DevOps connectors (Azure DevOps, GitHub, GitLab) through Azure Resource Graph
    List(ListArgs),
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ListArgs {
    /// Only connectors in this region (e.g. westeurope; case and spaces ignored)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Only this subscription (repeatable) [default: every subscription the principal can read]
    #[arg(long = "subscription", value_name = "ID")]
    pub subscriptions: Vec<String>,
    /// Also read each connector's DevOps configuration and count its orgs, projects and repos
    #[arg(long)]
    pub details: bool,
}

/// One DevOps connector as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorRow {
    pub id: String,
    pub name: String,
    pub connector_type: String,
    pub region: String,
    pub subscription_id: String,
    pub resource_group: String,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub tags: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<ConnectorDetails>,
}

/// What `--details` adds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorDetails {
    /// False when the connector has no `devops/default` (never authorized).
    pub configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_discovery: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// Entries of `topLevelInventoryList`.
    pub inventory_count: usize,
    /// Azure DevOps orgs, GitHub owners or GitLab groups.
    pub top_level: usize,
    /// Azure DevOps projects, or GitLab projects.
    pub projects: usize,
    /// Azure DevOps or GitHub repositories.
    pub repos: usize,
}

/// Lists the DevOps connectors in scope.
pub async fn list(client: &ArmClient, args: &ListArgs) -> Result<Vec<ConnectorRow>, AzureError> {
    let rows = client.resource_graph_query(DEVOPS_CONNECTORS_QUERY, &args.subscriptions).await?;
    let want_region = args.region.as_deref().map(normalize_region);
    let str_of = |r: &serde_json::Map<String, serde_json::Value>, k: &str| {
        r.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
    };
    let mut out: Vec<ConnectorRow> = rows
        .iter()
        .map(|r| ConnectorRow {
            id: str_of(r, "connectorResourceId"),
            name: str_of(r, "name"),
            connector_type: str_of(r, "connectorType"),
            region: str_of(r, "region"),
            subscription_id: str_of(r, "subscriptionId"),
            resource_group: str_of(r, "resourceGroup"),
            tags: r.get("tags").and_then(|t| t.as_object()).cloned().unwrap_or_default(),
            details: None,
        })
        .filter(|c| want_region.as_ref().is_none_or(|w| normalize_region(&c.region) == *w))
        .collect();
    out.sort_by_key(|c| c.id.to_ascii_lowercase());
    out.dedup_by(|a, b| a.id.eq_ignore_ascii_case(&b.id));
    if args.details {
        let details: Vec<Result<ConnectorDetails, AzureError>> =
            futures::stream::iter(out.iter().map(|c| details(client, c)))
                .buffered(4)
                .collect()
                .await;
        for (row, d) in out.iter_mut().zip(details) {
            row.details = Some(d?);
        }
    }
    Ok(out)
}

async fn details(client: &ArmClient, row: &ConnectorRow) -> Result<ConnectorDetails, AzureError> {
    let id = ResourceId::parse(&row.id).map_err(|e| AzureError::Decode {
        method: "POST".into(),
        resource: "/providers/Microsoft.ResourceGraph/resources".into(),
        message: e.to_string(),
    })?;
    let config = match client.get_devops_configuration(&id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            return Ok(ConnectorDetails {
                configured: false,
                auto_discovery: None,
                provisioning_state: None,
                inventory_count: 0,
                top_level: 0,
                projects: 0,
                repos: 0,
            })
        }
        Err(e) => return Err(e),
    };
    let props = config.properties.unwrap_or_default();
    let mut d = ConnectorDetails {
        configured: true,
        auto_discovery: props.auto_discovery.map(|a| a.to_string()),
        provisioning_state: props.provisioning_state.map(|p| p.to_string()),
        inventory_count: props.top_level_inventory_list.map(|l| l.len()).unwrap_or(0),
        top_level: 0,
        projects: 0,
        repos: 0,
    };
    let name = |n: &Option<String>| n.clone().unwrap_or_default();
    match row.connector_type.to_ascii_lowercase().as_str() {
        "azuredevops" => {
            let orgs = client.list_azure_devops_orgs(&id).await?;
            d.top_level = orgs.len();
            for org in &orgs {
                let projects = client.list_azure_devops_projects(&id, &name(&org.name)).await?;
                d.projects += projects.len();
                for p in &projects {
                    d.repos += client
                        .list_azure_devops_repos(&id, &name(&org.name), &name(&p.name))
                        .await?
                        .len();
                }
            }
        }
        "github" => {
            let owners = client.list_github_owners(&id).await?;
            d.top_level = owners.len();
            for o in &owners {
                d.repos += client.list_github_repos(&id, &name(&o.name)).await?.len();
            }
        }
        "gitlab" => {
            let groups = client.list_gitlab_groups(&id).await?;
            d.top_level = groups.len();
            for g in &groups {
                d.projects += client.list_gitlab_projects(&id, &name(&g.name)).await?.len();
            }
        }
        _ => {}
    }
    Ok(d)
}

#[derive(tabled::Tabled)]
struct TableRow {
    #[tabled(rename = "TYPE")]
    connector_type: String,
    #[tabled(rename = "REGION")]
    region: String,
    #[tabled(rename = "SUBSCRIPTION")]
    subscription: String,
    #[tabled(rename = "RESOURCE GROUP")]
    resource_group: String,
    #[tabled(rename = "NAME")]
    name: String,
}

#[derive(tabled::Tabled)]
struct DetailRow {
    #[tabled(rename = "TYPE")]
    connector_type: String,
    #[tabled(rename = "REGION")]
    region: String,
    #[tabled(rename = "SUBSCRIPTION")]
    subscription: String,
    #[tabled(rename = "RESOURCE GROUP")]
    resource_group: String,
    #[tabled(rename = "NAME")]
    name: String,
    #[tabled(rename = "AUTO-DISCOVERY")]
    auto_discovery: String,
    #[tabled(rename = "INVENTORY")]
    inventory: String,
    #[tabled(rename = "ORGS/OWNERS/GROUPS")]
    top_level: String,
    #[tabled(rename = "PROJECTS")]
    projects: String,
    #[tabled(rename = "REPOS")]
    repos: String,
}

/// Renders rows as the table `connectors list` prints.
pub fn render_table(rows: &[ConnectorRow], details: bool) -> String {
    let style = tabled::settings::Style::blank();
    if details {
        let t: Vec<DetailRow> = rows
            .iter()
            .map(|r| {
                let d = r.details.as_ref();
                let n = |f: fn(&ConnectorDetails) -> usize| {
                    d.filter(|d| d.configured)
                        .map(|d| f(d).to_string())
                        .unwrap_or_else(|| "-".into())
                };
                DetailRow {
                    connector_type: r.connector_type.clone(),
                    region: r.region.clone(),
                    subscription: r.subscription_id.clone(),
                    resource_group: r.resource_group.clone(),
                    name: r.name.clone(),
                    auto_discovery: d.and_then(|d| d.auto_discovery.clone()).unwrap_or_else(|| {
                        if d.is_some_and(|d| !d.configured) {
                            "not configured".into()
                        } else {
                            "-".into()
                        }
                    }),
                    inventory: n(|d| d.inventory_count),
                    top_level: n(|d| d.top_level),
                    projects: n(|d| d.projects),
                    repos: n(|d| d.repos),
                }
            })
            .collect();
        tabled::Table::new(t).with(style).to_string()
    } else {
        let t: Vec<TableRow> = rows
            .iter()
            .map(|r| TableRow {
                connector_type: r.connector_type.clone(),
                region: r.region.clone(),
                subscription: r.subscription_id.clone(),
                resource_group: r.resource_group.clone(),
                name: r.name.clone(),
            })
            .collect();
        tabled::Table::new(t).with(style).to_string()
    }
}

pub async fn execute(c: ConnectorsCommand, g: &Globals) -> anyhow::Result<Exit> {
    match c {
        ConnectorsCommand::List(args) => {
            for s in &args.subscriptions {
                if s.trim().is_empty() || s.contains('/') {
                    return Err(UserError::usage(format!(
                        "--subscription '{s}' is not a subscription ID"
                    ))
                    .with_hint(
                        "pass the GUID, e.g. --subscription 00000000-0000-0000-0000-000000000000",
                    )
                    .into());
                }
            }
            let conn = g.connect()?;
            let rows = list(&conn.client, &args).await.map_err(azure::user_error)?;
            match g.output {
                OutputFormat::Json => {
                    let doc = serde_json::json!({
                        "credential": conn.credential_used(),
                        "subscriptions": if args.subscriptions.is_empty() { serde_json::Value::String("all visible".into()) } else { serde_json::json!(args.subscriptions) },
                        "region": args.region,
                        "count": rows.len(),
                        "connectors": rows,
                    });
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                }
                OutputFormat::Table => {
                    if rows.is_empty() {
                        println!("no DevOps connectors found");
                    } else {
                        println!("{}", render_table(&rows, args.details));
                    }
                    if let Some(k) = conn.credential_used() {
                        eprintln!("{} connector(s); authenticated with {k}", rows.len());
                    }
                }
            }
            Ok(Exit::Ok)
        }
    }
}
