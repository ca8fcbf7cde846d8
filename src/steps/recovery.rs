//! What the region-outage step kinds share: the list of Azure region names, how a step reaches
//! the Azure client and the backup store, how an Azure call is journaled as an [`Effect`] and
//! how an Azure error becomes a step failure, the connector item of the fan-out, and
//! [`preflight`], the checks before a run is created (the rehearsal of its read-only steps among
//! them) so that bad input exits 2 with nothing written.

use crate::azure::{ArmClient, AzureError};
use crate::clock::Clock;
use crate::engine::kind::{Registry, Services, StepContext, StepOutcome};
use crate::engine::Effect;
use crate::error::UserError;
use crate::runbook::Plan;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Azure public-cloud region names (`az account list-locations --query [].name`), the one list
/// lifeboat checks region parameters against. Sovereign-cloud names are included so a
/// US Government or China run is not refused.
pub const AZURE_REGIONS: &[&str] = &[
    "australiacentral",
    "australiacentral2",
    "australiaeast",
    "australiasoutheast",
    "austriaeast",
    "belgiumcentral",
    "brazilsouth",
    "brazilsoutheast",
    "canadacentral",
    "canadaeast",
    "centralindia",
    "centralus",
    "centraluseuap",
    "chilecentral",
    "eastasia",
    "eastus",
    "eastus2",
    "eastus2euap",
    "francecentral",
    "francesouth",
    "germanynorth",
    "germanywestcentral",
    "indonesiacentral",
    "israelcentral",
    "italynorth",
    "japaneast",
    "japanwest",
    "jioindiacentral",
    "jioindiawest",
    "koreacentral",
    "koreasouth",
    "malaysiawest",
    "mexicocentral",
    "newzealandnorth",
    "northcentralus",
    "northeurope",
    "norwayeast",
    "norwaywest",
    "polandcentral",
    "qatarcentral",
    "southafricanorth",
    "southafricawest",
    "southcentralus",
    "southeastasia",
    "southindia",
    "spaincentral",
    "swedencentral",
    "swedensouth",
    "switzerlandnorth",
    "switzerlandwest",
    "uaecentral",
    "uaenorth",
    "uksouth",
    "ukwest",
    "westcentralus",
    "westeurope",
    "westindia",
    "westus",
    "westus2",
    "westus3",
    "usgovarizona",
    "usgovtexas",
    "usgovvirginia",
    "usdodcentral",
    "usdodeast",
    "chinaeast",
    "chinaeast2",
    "chinaeast3",
    "chinanorth",
    "chinanorth2",
    "chinanorth3",
];

/// Checks a region name against [`AZURE_REGIONS`]; the error names the input and suggests the
/// closest known name.
pub fn check_region(what: &str, region: &str) -> Result<String, String> {
    let r = crate::text::normalize_region(region);
    if r.is_empty() {
        return Err(format!("{what} is empty (set it to an Azure region name, e.g. westeurope)"));
    }
    if AZURE_REGIONS.contains(&r.as_str()) {
        return Ok(r);
    }
    let best = crate::runbook::diag::closest(&r, AZURE_REGIONS.iter().copied())
        .map(|k| format!("did you mean `{k}`? "))
        .unwrap_or_default();
    Err(format!(
        "{what} `{region}` is not an Azure region ({best}use a name from `az account list-locations --query [].name`, e.g. westeurope)"
    ))
}

/// One connector of the failed region, as discovered and as the fan-out carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ConnectorItem {
    pub resource_id: String,
    pub name: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub region: String,
    pub connector_type: String,
    /// Azure DevOps orgs / GitHub owners / top-level GitLab groups in the backup.
    #[serde(default)]
    pub orgs: Vec<String>,
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// The connector's writable fields as Resource Graph returned them (`kind`, `tags`,
    /// `properties`, whole: unknown fields kept), for a recovery without backup. Only the failed
    /// region's connectors carry it (discover's `connectors`, not `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Value>,
    /// load-backup's marker: `Some(false)` when the connector is recovered without restore (no
    /// backup of it). Read from the fan-out item; load-backup writes it (with `snapshot_id`).
    #[serde(default, skip_serializing)]
    pub restore: Option<bool>,
}

impl ConnectorItem {
    /// Every top-level DevOps resource (org, owner or group) the backup says it owned.
    pub fn top_level(&self) -> Vec<String> {
        self.orgs.iter().chain(&self.owners).chain(&self.groups).cloned().collect()
    }
}

/// The Azure client of the run, or the failure a step returns without one.
pub fn arm(ctx: &StepContext) -> Result<Arc<ArmClient>, StepOutcome> {
    ctx.services.get::<ArmClient>().ok_or_else(|| {
        StepOutcome::fail(
            format!(
                "step {} needs an Azure connection and this run has none (run it with `lifeboat run`, which connects with --arm-endpoint/--auth)",
                ctx.step
            ),
            false,
        )
    })
}

/// The backup store of the run, or the failure a step returns without one.
pub fn store(ctx: &StepContext) -> Result<Arc<crate::backup::Store>, StepOutcome> {
    ctx.services.get::<crate::backup::Store>().ok_or_else(|| {
        StepOutcome::fail(
            format!(
                "step {} needs the backup store and this run has none (pass --backup-store URL or set LIFEBOAT_BACKUP_STORE)",
                ctx.step
            ),
            false,
        )
    })
}

/// Whether trying again later can help: throttling, server errors, lost connections,
/// operations still running, and conflicts with another operation in progress.
pub fn retryable(e: &AzureError) -> bool {
    match e {
        AzureError::Transport { .. } | AzureError::LroTimeout { .. } => true,
        AzureError::Arm(a) => {
            a.status == 429 || a.status >= 500 || a.code == "AnotherOperationInProgress"
        }
        _ => false,
    }
}

/// Is this a region outage (503 `ServiceUnavailable` naming a region)?
pub fn region_unavailable(e: &AzureError) -> bool {
    e.arm().is_some_and(|a| a.status == 503 && a.message.to_ascii_lowercase().contains("region"))
}

/// A step failure for an Azure error, with what was being done.
pub fn azure_fail(doing: &str, e: &AzureError) -> StepOutcome {
    StepOutcome::fail(format!("{doing}: {e}"), retryable(e))
}

/// Journals one Azure call as an [`Effect`], with the request and correlation IDs of the last
/// matching call of the client's log (the IDs the service logged). `Err` when the journal
/// cannot take it: the step must stop before acting further.
pub async fn journal_call(
    ctx: &StepContext,
    client: &ArmClient,
    method: &str,
    resource: &str,
    error: Option<&AzureError>,
) -> Result<(), StepOutcome> {
    journal_negotiations(ctx, client).await?;
    let record = client.call_log().into_iter().rev().find(|c| {
        c.method.eq_ignore_ascii_case(method) && c.resource.eq_ignore_ascii_case(resource)
    });
    let effect = Effect {
        method: method.to_string(),
        resource: resource.to_string(),
        status: record
            .as_ref()
            .and_then(|r| r.status)
            .or_else(|| error.and_then(AzureError::status)),
        request_id: record.as_ref().and_then(|r| r.request_id.clone()),
        correlation_id: record.as_ref().and_then(|r| r.correlation_id.clone()),
    };
    ctx.record_effect(effect).await.map_err(|e| StepOutcome::fail(e, true))
}

/// Journals each api-version negotiation of the client not journaled yet as an effect (method
/// `NEGOTIATE-API-VERSION`, resource: family, versions and what ARM served; the IDs of the
/// refused call), so the run records which version it used and why.
pub async fn journal_negotiations(
    ctx: &StepContext,
    client: &ArmClient,
) -> Result<(), StepOutcome> {
    for n in client.take_unjournaled_negotiations() {
        let effect = Effect {
            method: "NEGOTIATE-API-VERSION".to_string(),
            resource: n.summary(),
            status: Some(n.status),
            request_id: n.request_id,
            correlation_id: n.correlation_id,
        };
        ctx.record_effect(effect).await.map_err(|e| StepOutcome::fail(e, true))?;
    }
    Ok(())
}

/// Saves scratch state durably, or the failure to return.
pub async fn save(ctx: &StepContext, scratch: Value) -> Result<(), StepOutcome> {
    ctx.save_scratch(scratch).await.map_err(|e| StepOutcome::fail(e, true))
}

/// A list input of strings (a JSON list, or a comma-separated string).
pub fn input_list(ctx: &StepContext, name: &str) -> Vec<String> {
    match ctx.inputs.get(name) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.trim().to_string()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) => {
            s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
        }
        _ => Vec::new(),
    }
}

/// A boolean input (`true`/`false`, or their string forms).
pub fn input_bool(ctx: &StepContext, name: &str) -> Option<bool> {
    match ctx.inputs.get(name)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            "true" => Some(true),
            "false" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the step runs in the runbook's drill mode (input `drill: true`, from the
/// region-outage runbook's `drill` parameter): the run is a live drill, rehearsing the recovery
/// of the production connector with a second connector next to it. Drill mode runs only under
/// `lifeboat drill --live` (a [`LiveDrill`](super::services::LiveDrill) in the services: its
/// client's write guard and cleanup ledger), and only for the production connector it names;
/// anything else is a failure, not a retry case.
pub fn drill_mode(ctx: &StepContext, old_resource_id: Option<&str>) -> Result<bool, StepOutcome> {
    let drill = match ctx.inputs.get("drill") {
        None | Some(Value::Null) => false,
        _ => input_bool(ctx, "drill").ok_or_else(|| {
            StepOutcome::fail("input `drill` is not a boolean (use true or false)", false)
        })?,
    };
    if !drill {
        return Ok(false);
    }
    let Some(live) = ctx.services.get::<super::services::LiveDrill>() else {
        return Err(StepOutcome::fail(
            format!(
                "step {} runs in drill mode (drill: true), which only `lifeboat drill --live` may run: its Azure client refuses every write to the production connector and ledgers what it creates for `lifeboat drill --cleanup` (run `lifeboat drill --live --connector ID --drill-region R`, or leave the runbook's `drill` parameter false for a recovery)",
                ctx.step
            ),
            false,
        ));
    };
    if let Some(old) = old_resource_id {
        let canonical = |id: &str| {
            crate::azure::ResourceId::parse(id)
                .map(|r| r.to_string())
                .unwrap_or_else(|_| id.to_string())
                .to_ascii_lowercase()
        };
        if canonical(old) != canonical(&live.production) {
            return Err(StepOutcome::fail(
                format!(
                    "step {}: the live drill rehearses the connector {} only, not {old}",
                    ctx.step, live.production
                ),
                false,
            ));
        }
    }
    Ok(true)
}

/// The fan-out item (or the `connector` input) as a [`ConnectorItem`].
pub fn connector_item(ctx: &StepContext) -> Result<ConnectorItem, StepOutcome> {
    let v = ctx.inputs.get("connector").or(ctx.item.as_ref()).cloned().unwrap_or(Value::Null);
    serde_json::from_value(v).map_err(|e| {
        StepOutcome::fail(
            format!("input `connector` is not a connector of load-backup's output ({e})"),
            false,
        )
    })
}

/// A required string input, or the failure naming it.
pub fn required(ctx: &StepContext, name: &str) -> Result<String, StepOutcome> {
    ctx.input_str(name)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| StepOutcome::fail(format!("input `{name}` is missing or empty"), false))
}

fn output_map(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Outputs from key/value pairs.
pub fn outputs(pairs: Vec<(&str, Value)>) -> StepOutcome {
    StepOutcome::ok(output_map(pairs))
}

/// The checks before a region-outage run is created, in this order: the target region against
/// the regions where DevOps security is available (`regions::preflight`), the rehearsal of the
/// plan's read-only steps (discovery, backup loading) and of the inputs other steps take from
/// parameters only (the authorization code file, the ticket's contact), by the executor
/// (`engine::rehearse`), where the new connectors go (`target::check_before_run`: subscription
/// visible, group valid and usable) and the credential's permissions for every write of the run
/// (`permissions::preflight`). Bad input is a usage error (exit 2) with nothing written; a
/// failure that may pass on retry (Azure unavailable) is exit 1. Plans without these kinds are
/// not touched. `services` are the run's own (one connection, one store).
pub async fn preflight(
    plan: &Plan,
    registry: &Registry,
    services: Arc<Services>,
    clock: Arc<dyn Clock>,
) -> Result<(), UserError> {
    super::regions::preflight(plan)?;
    let outputs =
        crate::engine::rehearse::rehearse(plan, registry, services.clone(), clock).await?;
    super::target::check_before_run(plan, &outputs, &services).await?;
    super::permissions::preflight(plan, &services, &outputs).await?;
    // The rehearsal journaled into nothing: the api-version negotiations it (and the checks)
    // made are journaled by the run's first step that journals a call.
    if let Some(arm) = services.get::<ArmClient>() {
        arm.rejournal_negotiations();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_checked_with_a_suggestion() {
        assert_eq!(check_region("failed_region", "West Europe").unwrap(), "westeurope");
        let e = check_region("failed_region", "eastsu").unwrap_err();
        assert!(e.contains("`eastsu` is not an Azure region (did you mean `eastus`?"), "{e}");
        let e = check_region("target_region", "atlantis").unwrap_err();
        assert!(!e.contains("did you mean"), "{e}");
        assert!(check_region("r", "").unwrap_err().contains("empty"));
    }

    #[test]
    fn retryable_errors_are_transient_ones() {
        let arm = |status: u16, code: &str| {
            AzureError::from(crate::azure::ArmError::from_response(
                status,
                format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#).as_bytes(),
                "PUT",
                "/x",
                None,
                None,
            ))
        };
        assert!(retryable(&arm(503, "ServiceUnavailable")));
        assert!(retryable(&arm(429, "TooManyRequests")));
        assert!(retryable(&arm(409, "AnotherOperationInProgress")));
        assert!(!retryable(&arm(400, "BadRequest")));
        assert!(!retryable(&arm(404, "ResourceNotFound")));
    }
}
