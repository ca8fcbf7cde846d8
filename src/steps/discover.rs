//! `resource-graph.query`: finds the DevOps connectors of a region through Azure Resource Graph,
//! with a query from `queries/` (embedded at build time, so the binary needs no file), over the
//! given subscriptions (empty: every subscription the credential can read), every page.
//! Idempotent: it only reads.

use super::recovery::{self, check_region, input_list, ConnectorItem};
use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{StepContext, StepKind, StepOutcome};
use crate::text::normalize_region;
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

pub use crate::queries::{query, QUERIES};

#[derive(Debug, Clone, Copy)]
pub struct Query;

fn str_of(r: &Map<String, Value>, k: &str) -> String {
    r.get(k).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The connector's writable resource fields in a Resource Graph row: `kind`, `tags` and
/// `properties` as Azure returned them (unknown fields inside kept), for a recovery without
/// backup (`restore::connector_create_body` takes it as it takes a backed-up body).
pub fn graph_resource(r: &Map<String, Value>) -> Value {
    let mut m = Map::new();
    for k in ["kind", "tags", "properties"] {
        if let Some(v) = r.get(k).filter(|v| !v.is_null()) {
            m.insert(k.to_string(), v.clone());
        }
    }
    Value::Object(m)
}

/// The regions that have DevOps connectors, with the connectors' names, most connectors first
/// (then by name): what guided mode offers as the failed region. The discovery's own query over
/// `subscriptions` (empty: every subscription the credential can read), read-only.
pub async fn regions_with_connectors(
    client: &crate::azure::ArmClient,
    subscriptions: &[String],
) -> Result<Vec<(String, Vec<String>)>, crate::azure::AzureError> {
    let rows =
        client.resource_graph_query(crate::queries::DEVOPS_CONNECTORS, subscriptions).await?;
    // One connector per resource ID (case-insensitive), named as Resource Graph names it.
    let mut seen = std::collections::BTreeMap::new();
    for r in &rows {
        let id = str_of(r, "connectorResourceId").to_ascii_lowercase();
        let region = normalize_region(&str_of(r, "region"));
        if !id.is_empty() && !region.is_empty() {
            seen.entry(id).or_insert((region, str_of(r, "name")));
        }
    }
    let mut by_region: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (region, name) in seen.into_values() {
        by_region.entry(region).or_default().push(name);
    }
    let mut out: Vec<(String, Vec<String>)> = by_region
        .into_iter()
        .map(|(region, mut names)| {
            names.sort();
            (region, names)
        })
        .collect();
    out.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

impl StepKind for Query {
    fn info(&self) -> &'static StepKindInfo {
        info("resource-graph.query")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { run(ctx).await.unwrap_or_else(|o| o) })
    }
}

async fn run(ctx: StepContext) -> Result<StepOutcome, StepOutcome> {
    let name = recovery::required(&ctx, "query")?;
    let Some(text) = query(&name) else {
        let known: Vec<&str> = QUERIES.iter().map(|(n, _)| *n).collect();
        return Err(StepOutcome::fail(
            format!("input `query` names no query: `{name}` (known: {})", known.join(", ")),
            false,
        ));
    };
    let region = recovery::required(&ctx, "region")?;
    let region = check_region("region", &region).map_err(|e| StepOutcome::fail(e, false))?;
    let subscriptions = input_list(&ctx, "subscriptions");
    let filter = input_list(&ctx, "connectors");
    let client = recovery::arm(&ctx)?;
    ctx.progress(0, 1, format!("querying Resource Graph for DevOps connectors in {region}"));
    let rows = client.resource_graph_query(text, &subscriptions).await;
    recovery::journal_negotiations(&ctx, &client).await?;
    let rows = rows.map_err(|e| recovery::azure_fail("the Resource Graph query failed", &e))?;
    let mut all: Vec<ConnectorItem> = rows
        .iter()
        .map(|r| ConnectorItem {
            resource_id: str_of(r, "connectorResourceId"),
            name: str_of(r, "name"),
            subscription_id: str_of(r, "subscriptionId"),
            resource_group: str_of(r, "resourceGroup"),
            region: normalize_region(&str_of(r, "region")),
            connector_type: str_of(r, "connectorType"),
            resource: Some(graph_resource(r)),
            ..Default::default()
        })
        .filter(|c| !c.resource_id.is_empty())
        .collect();
    all.sort_by_key(|c| c.resource_id.to_ascii_lowercase());
    all.dedup_by(|a, b| a.resource_id.eq_ignore_ascii_case(&b.resource_id));
    let in_region: Vec<&ConnectorItem> = all.iter().filter(|c| c.region == region).collect();
    let matches = |c: &ConnectorItem, f: &str| {
        c.name.eq_ignore_ascii_case(f) || c.resource_id.eq_ignore_ascii_case(f)
    };
    let scope = if subscriptions.is_empty() {
        "every subscription the credential can read".to_string()
    } else {
        format!("subscriptions {}", subscriptions.join(", "))
    };
    let unmatched: Vec<&String> =
        filter.iter().filter(|f| !in_region.iter().any(|c| matches(c, f))).collect();
    if !unmatched.is_empty() {
        let names: Vec<&str> = in_region.iter().map(|c| c.name.as_str()).collect();
        return Err(StepOutcome::fail(
            format!(
                "connectors filter names no DevOps connector in region {region}: {} (searched {scope}; connectors there: {})",
                unmatched.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "),
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ),
            false,
        ));
    }
    let connectors: Vec<&ConnectorItem> = in_region
        .into_iter()
        .filter(|c| filter.is_empty() || filter.iter().any(|f| matches(c, f)))
        .collect();
    if connectors.is_empty() {
        let regions: std::collections::BTreeSet<&str> =
            all.iter().map(|c| c.region.as_str()).collect();
        return Err(StepOutcome::fail(
            format!(
                "no DevOps connector found in region {region} (searched {scope}; DevOps connectors exist in: {}) (is the region name right? is the connector in another subscription? pass --set subscriptions=...)",
                if regions.is_empty() {
                    "no region".to_string()
                } else {
                    regions.into_iter().collect::<Vec<_>>().join(", ")
                }
            ),
            false,
        ));
    }
    ctx.progress(1, 1, format!("{} DevOps connector(s) in {region}", connectors.len()));
    let count = connectors.len();
    // Only the failed connectors carry their Resource Graph body (the fan-out needs it without a
    // backup); `all` (adoption candidates) stays small.
    let all: Vec<ConnectorItem> =
        all.iter().map(|c| ConnectorItem { resource: None, ..c.clone() }).collect();
    Ok(recovery::outputs(vec![
        ("connectors", json!(connectors)),
        ("all", json!(all)),
        ("count", json!(count)),
    ]))
}
