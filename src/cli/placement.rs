//! Where a run's state lives (`steps::store_placement`): the flags of `run` and `drill --live`,
//! and the stores of a command (the backup store on Azure Blob, the run store).

use super::Globals;
use crate::azure::ArmClient;
use crate::error::UserError;
use crate::runbook::Plan;
use crate::say;
use crate::steps::store_placement::{self, PlacementReport, StoreAccount, StoreCheck, StoreRole};
use std::collections::HashMap;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct PlacementArgs {
    /// Use a run store or backup store whose storage account is located in the failed region,
    /// or whose location cannot be read; the run journals it and `status` shows it (by default
    /// such a store is refused, exit 2, nothing written)
    #[arg(long)]
    pub allow_store_in_failed_region: bool,
    /// Where a store's storage account is located, when lifeboat cannot read it (no Reader role
    /// on the account): ACCOUNT=REGION, or REGION for every such account (repeatable); checked
    /// like a location read from Azure
    #[arg(long, value_name = "[ACCOUNT=]REGION", value_parser = store_placement::parse_location_flag)]
    pub store_location: Vec<(Option<String>, String)>,
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// Whether the Azure Blob settings of `env` point at an emulator on this machine (Azurite):
/// `AZURE_STORAGE_USE_EMULATOR=true`, or an endpoint on a loopback host.
pub fn emulator(env: &HashMap<String, String>) -> bool {
    if truthy(env.get("AZURE_STORAGE_USE_EMULATOR")) {
        return true;
    }
    ["AZURE_STORAGE_ENDPOINT", "AZURE_ENDPOINT"].iter().filter_map(|k| env.get(*k)).any(|e| {
        url::Url::parse(e).ok().and_then(|u| u.host_str().map(str::to_string)).is_some_and(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        })
    })
}

/// The backup store `plan` opens, when it is on Azure Blob: its account from
/// `AZURE_STORAGE_ACCOUNT_NAME` (Azurite's `devstoreaccount1` with the emulator).
pub fn backup_store(
    plan: &Plan,
    g: &Globals,
    env: &HashMap<String, String>,
) -> Option<StoreAccount> {
    if !super::questions::needs_store(plan) {
        return None;
    }
    let url = g.backup_store.as_deref()?;
    if !url.starts_with("az://") {
        return None;
    }
    let emulator = emulator(env);
    let account = account_of(env, emulator);
    Some(StoreAccount {
        role: StoreRole::Backup,
        // A store URL carries no credential, but nothing after `?` is ever shown.
        url: url.split('?').next().unwrap_or_default().to_string(),
        account,
        emulator,
    })
}

/// The run store, when it is on Azure Blob (`--run-store az://...`): its account as the backup
/// store's (the same variables).
pub fn run_store(
    url: &crate::runstore::RunStoreUrl,
    env: &HashMap<String, String>,
) -> Option<StoreAccount> {
    let crate::runstore::RunStoreUrl::Azure { .. } = url else { return None };
    let emulator = emulator(env);
    Some(StoreAccount {
        role: StoreRole::Run,
        url: url.to_string(),
        account: account_of(env, emulator),
        emulator,
    })
}

fn account_of(env: &HashMap<String, String>, emulator: bool) -> String {
    env.get("AZURE_STORAGE_ACCOUNT_NAME")
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty())
        .or_else(|| emulator.then(|| "devstoreaccount1".to_string()))
        .unwrap_or_default()
}

/// The check before a run of `plan` (one with a `failed_region`): refuses (exit 2) a store in
/// the failed region or of unknown location unless the flags allow it, prints the warnings, and
/// returns the report for the run's header. Reads only. `run_store`: the run store on Azure
/// Blob, if any.
pub async fn check(
    plan: &Plan,
    g: &Globals,
    args: &PlacementArgs,
    run_store: Option<StoreAccount>,
    client: Option<&ArmClient>,
) -> Result<PlacementReport, UserError> {
    let Some(failed) = store_placement::failed_region_of(plan) else {
        return Ok(PlacementReport::default());
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let stores: Vec<StoreAccount> =
        run_store.into_iter().chain(backup_store(plan, g, &env)).collect();
    if stores.is_empty() {
        return Ok(PlacementReport::default());
    }
    let check = StoreCheck {
        stores,
        given: args.store_location.clone(),
        force: args.allow_store_in_failed_region,
    };
    let report = store_placement::check(client, &failed, &check).await?;
    for w in &report.warnings {
        say!("warning: {w}");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn emulators_are_recognised() {
        assert!(emulator(&env(&[("AZURE_STORAGE_USE_EMULATOR", "true")])));
        assert!(emulator(&env(&[(
            "AZURE_STORAGE_ENDPOINT",
            "http://127.0.0.1:10000/devstoreaccount1"
        )])));
        assert!(emulator(&env(&[("AZURE_ENDPOINT", "http://[::1]:10000")])));
        assert!(!emulator(&env(&[("AZURE_STORAGE_ENDPOINT", "https://st.blob.core.windows.net")])));
        assert!(!emulator(&env(&[])));
    }

    #[test]
    fn a_run_store_on_blob_names_its_account() {
        use crate::runstore::RunStoreUrl;
        let az = RunStoreUrl::Azure { container: "runs".into(), prefix: "team".into() };
        let s = run_store(&az, &env(&[("AZURE_STORAGE_ACCOUNT_NAME", "StDr")])).unwrap();
        assert_eq!(
            (s.role, s.account.as_str(), s.url.as_str()),
            (StoreRole::Run, "stdr", "az://runs/team")
        );
        assert!(!s.emulator);
        let s = run_store(&az, &env(&[("AZURE_STORAGE_USE_EMULATOR", "true")])).unwrap();
        assert_eq!((s.account.as_str(), s.emulator), ("devstoreaccount1", true));
        assert!(run_store(&RunStoreUrl::Local("/tmp/x".into()), &env(&[])).is_none());
    }
}
