//! Issue 17, item 5: where the run's state lives is checked before a run starts. A backup store
//! (or run store) whose storage account is located in the failed region is refused with exit 2,
//! naming the account, its location and the fix, before anything is written; forced with
//! `--allow-store-in-failed-region`, the run goes on and the fact is journaled (header
//! `store_placement`, a run warning in `status` and the audit record); an account that is only
//! locally redundant is a warning. The accounts are the simulator's (`sim::storage`, the `small`
//! tenant's `stlifeboat*`), found through Resource Graph and Storage Accounts - Get Properties.

use crate::backup::common::{create_container, AZURITE_KEY};
use crate::recovery::common::*;
use lifeboat::backup::arm_reader::ArmReader;
use lifeboat::backup::{self, Keys, Scope, Store};
use lifeboat::sim::storage::StorageAccount;
use lifeboat::sim::tenant::SMALL_SUB_PROD;
use lifeboat::sim::RunningSim;
use object_store::azure::AzureConfigKey;
use object_store::ClientConfigKey;
use serde_json::Value;
use std::process::Command;

/// `lifeboat` with `world`'s state, the simulator, the backup store `store` and `env`.
fn store_cmd(
    sim: &RunningSim,
    world: &World,
    store: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> Command {
    let mut c = crate::support::cli::lifeboat();
    c.args(["--state-dir", world.state().to_str().unwrap()])
        .args(["--backup-store", store])
        .args(["--arm-endpoint", sim.url(), "--auth", "none"])
        .args(args)
        .envs(env.iter().copied());
    c
}

/// `lifeboat run` of the region-outage runbook (westeurope → northeurope, as the recovery
/// tests run it: codes file, tickets submitted, one-second polls) with `extra` flags.
fn run_of(sim: &RunningSim, world: &World, run: &str, extra: &[&str]) -> Vec<String> {
    write_codes(sim, world);
    let mut v = run_args(world, &World::runbook(), run);
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn header(world: &World, run: &str) -> Value {
    let text = journal_text(world, run);
    let first = text.lines().next().unwrap_or_else(|| panic!("run {run} has no journal"));
    let v: Value = serde_json::from_str(first).unwrap();
    v.get("payload").cloned().unwrap_or(v)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_store_in_the_failed_region_is_refused_naming_account_location_and_fix() {
    let sim = start_sim("").await;
    let world = World::new();
    let env = [
        ("AZURE_STORAGE_ACCOUNT_NAME", "stlifeboatweu"),
        ("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY),
    ];
    // Before the outage: read with Get Properties.
    let args = run_of(&sim, &world, "refused", &[]);
    let out = run(store_cmd(&sim, &world, "az://backups/prod", &env, &strs(&args))).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    for part in [
        "the backup store az://backups/prod (storage account `stlifeboatweu`) is located in westeurope, the failed region (storage API)",
        "--allow-store-in-failed-region",
        "Standard_RAGRS",
        "az storage account show -n ACCOUNT",
        "nothing was written",
    ] {
        assert!(said.contains(part), "{part}: {said}");
    }
    assert!(!said.contains(AZURITE_KEY), "no key in the message");
    let reads = sim.requests();
    assert!(
        reads
            .iter()
            .any(|r| r.path.contains("/providers/Microsoft.Storage/storageAccounts/stlifeboatweu")),
        "the account was read: {reads:?}"
    );
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert!(!world.run_dir("refused").exists(), "no run directory");

    // During the outage Get Properties answers 503: Resource Graph's location is used, and said.
    fail_region(&sim, "westeurope").await;
    let out = run(store_cmd(&sim, &world, "az://backups/prod", &env, &strs(&args))).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("located in westeurope, the failed region (Resource Graph)"), "{said}");
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert!(!world.run_dir("refused").exists());
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_whose_location_cannot_be_read_is_refused_unless_given_or_forced() {
    let sim = start_sim("").await;
    let world = World::new();
    fail_region(&sim, "westeurope").await;
    let env =
        [("AZURE_STORAGE_ACCOUNT_NAME", "stnowhere"), ("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY)];
    let args = run_of(&sim, &world, "unknown", &[]);
    let out = run(store_cmd(&sim, &world, "az://backups/prod", &env, &strs(&args))).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    for part in [
        "cannot tell where the backup store az://backups/prod (storage account `stnowhere`) is located",
        "no storage account named `stnowhere` is visible to this credential",
        "--store-location stnowhere=REGION",
        "--allow-store-in-failed-region",
    ] {
        assert!(said.contains(part), "{part}: {said}");
    }
    // Given as the failed region: refused like a read location.
    let args = run_of(&sim, &world, "unknown", &["--store-location", "stnowhere=West Europe"]);
    let out = run(store_cmd(&sim, &world, "az://backups/prod", &env, &strs(&args))).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("located in westeurope, the failed region (--store-location)"), "{said}");
    // A malformed flag is refused by the parser.
    let args = run_of(&sim, &world, "unknown", &["--store-location", "st-x=uksouth"]);
    let out = run(store_cmd(&sim, &world, "az://backups/prod", &env, &strs(&args))).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a storage account name"), "{}", text(&out));
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert!(!world.run_dir("unknown").exists());
    sim.shutdown().await.unwrap();
}

/// Azurite's endpoint (`LIFEBOAT_TEST_AZURITE`), or `None` with a loud note (a failure under CI).
fn azurite() -> Option<String> {
    match std::env::var("LIFEBOAT_TEST_AZURITE") {
        Ok(e) => Some(e.trim_end_matches('/').to_string()),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but LIFEBOAT_TEST_AZURITE is not: start Azurite with `.ci/azurite.sh start`")
        }
        Err(_) => {
            eprintln!("note: LIFEBOAT_TEST_AZURITE is unset; skipping the store-placement runs on Azurite (run `.ci/azurite.sh start`)");
            None
        }
    }
}

/// A backup of the small tenant in a fresh Azurite container; its `az://` URL.
async fn backup_on_azurite(sim: &RunningSim, endpoint: &str) -> String {
    let container = format!("placement-{}", uuid::Uuid::new_v4().simple());
    create_container(endpoint, &container).await;
    let url = format!("az://{container}/prod");
    let store = Store::open_with(
        &url,
        Keys::default(),
        &[
            (AzureConfigKey::AccountName, "devstoreaccount1".into()),
            (AzureConfigKey::AccessKey, AZURITE_KEY.into()),
            (AzureConfigKey::Endpoint, endpoint.to_string()),
            (AzureConfigKey::Client(ClientConfigKey::AllowHttp), "true".into()),
        ],
    )
    .unwrap();
    let opts = backup::CreateOptions {
        scope: Scope::default(),
        now: time::OffsetDateTime::from_unix_timestamp(sim.shared().base_unix).unwrap(),
        rules: Default::default(),
        immutable: false,
    };
    backup::collect(&ArmReader::new(client(sim)), &store, opts).await.unwrap();
    url
}

/// Azurite's account, as the simulated ARM sees it.
fn place_azurite_account(sim: &RunningSim, group: &str, location: &str, sku: &str) {
    let a: StorageAccount = serde_json::from_value(serde_json::json!({
        "subscription": SMALL_SUB_PROD, "resourceGroup": group, "name": "devstoreaccount1",
        "location": location, "sku": sku}))
    .unwrap();
    sim.cloud().storage_accounts.insert(a.name.clone(), a);
}

#[tokio::test(flavor = "multi_thread")]
async fn forced_the_run_goes_on_with_the_fact_journaled_and_local_redundancy_is_a_warning() {
    let Some(endpoint) = azurite() else { return };
    let sim = start_sim("").await;
    let url = backup_on_azurite(&sim, &endpoint).await;
    fail_region(&sim, "westeurope").await;
    let env = [
        ("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1"),
        ("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY),
        ("AZURE_STORAGE_ENDPOINT", endpoint.as_str()),
        ("AZURE_ALLOW_HTTP", "true"),
    ];

    // The account is in the failed region: refused, then forced.
    place_azurite_account(&sim, "rg-devsec-weu", "westeurope", "Standard_RAGRS");
    let world = World::new();
    let args = run_of(&sim, &world, "forced", &[]);
    let out = run(store_cmd(&sim, &world, &url, &env, &strs(&args))).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!world.run_dir("forced").exists());
    let args = run_of(&sim, &world, "forced", &["--allow-store-in-failed-region"]);
    let out = run(store_cmd(&sim, &world, &url, &env, &strs(&args))).await;
    let text_forced = text(&out);
    assert_ne!(out.status.code(), Some(2), "{text_forced}");
    assert!(text_forced.contains("used anyway (--allow-store-in-failed-region)"), "{text_forced}");
    let h = header(&world, "forced");
    let placed = &h["store_placement"];
    assert_eq!(placed["forced"], true, "{h}");
    assert_eq!(placed["failed_region"], "westeurope");
    assert_eq!(placed["stores"][0]["account"], "devstoreaccount1");
    assert_eq!(placed["stores"][0]["location"], "westeurope");
    assert_eq!(placed["stores"][0]["role"], "backup");
    let warned = h["warnings"][0].as_str().unwrap_or_default().to_string();
    assert!(warned.contains("used anyway"), "{h}");
    // status and the audit record show it.
    let out = run(store_cmd(&sim, &world, &url, &env, &["status", "forced"])).await;
    assert!(text(&out).contains("run: the backup store"), "{}", text(&out));
    let record = lifeboat::audit::load(&world.run_dir("forced").join("journal.jsonl")).unwrap();
    assert!(
        record.warnings.iter().any(|w| w.step == "run" && w.text == warned),
        "{:?}",
        record.warnings
    );

    // Elsewhere but locally redundant: the run goes on, with the recommendation.
    place_azurite_account(&sim, "rg-platform-uks", "uksouth", "Standard_LRS");
    let world = World::new();
    let args = run_of(&sim, &world, "lrs", &[]);
    let out = run(store_cmd(&sim, &world, &url, &env, &strs(&args))).await;
    let text_lrs = text(&out);
    assert_ne!(out.status.code(), Some(2), "{text_lrs}");
    assert!(text_lrs.contains("is locally redundant (Standard_LRS)"), "{text_lrs}");
    assert!(text_lrs.contains("geo-redundant account (GRS or RA-GRS)"), "{text_lrs}");
    let h = header(&world, "lrs");
    assert_eq!(h["store_placement"]["forced"], false);
    assert!(h["warnings"][0].as_str().unwrap_or_default().contains("locally redundant"), "{h}");
    sim.shutdown().await.unwrap();
}
