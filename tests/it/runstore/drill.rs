//! `lifeboat drill --run-store az://...` (lane remote): the simulated drill's run journals to
//! the run store (the journal blob is its record, verified from another state directory), its
//! drafted support requests and its report are stored beside the journal, and `status` from
//! another machine says where they are.

use super::{azurite, azurite_env, fresh_store};
use lifeboat::journal;
use lifeboat::runstore::remote::journal_blob;
use serde_json::Value;
use std::path::Path;

#[tokio::test(flavor = "multi_thread")]
async fn the_drills_run_and_artefacts_are_kept_on_the_run_store() {
    let Some(endpoint) = azurite() else { return };
    let store = fresh_store(&endpoint, "drills").await;
    let url = format!("az://{}/drills", store.container());
    let tmp = tempfile::tempdir().unwrap();
    let cmd = |state: &str| {
        let mut c = crate::support::cli::lifeboat();
        c.current_dir(crate::support::repo())
            .env("LIFEBOAT_STATE_DIR", tmp.path().join(state))
            .env("LIFEBOAT_RUN_STORE", &url)
            .env("USER", "drill-engineer");
        for (k, v) in azurite_env(&endpoint) {
            c.env(k, v);
        }
        c
    };
    let out = cmd("a").args(["drill", "--run-id", "d1"]).output().unwrap();
    let t = crate::support::cli::text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("verdict: PASSED"), "{t}");
    assert!(t.contains(&format!("report (run store): {url}/runs/d1/reports/report.html")), "{t}");

    // The record is the blob: it parses and its chain verifies; the run ended.
    let (record, _) = store.get(&journal_blob("d1")).await.unwrap().expect("the journal blob");
    let parsed = journal::parse(Path::new("blob"), &record).expect("the record parses");
    journal::verify_chain(&parsed.entries).expect("the chain verifies");
    // The drill's run is not in the state directory's runs (only its working copy under remote/).
    assert!(!tmp.path().join("a").join("runs").join("d1").exists());

    let names = store.list("runs/d1/").await.unwrap();
    for want in ["runs/d1/reports/report.html", "runs/d1/reports/report.json"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    let drafts: Vec<&String> =
        names.iter().filter(|n| n.starts_with("runs/d1/support/") && n.ends_with(".md")).collect();
    assert!(!drafts.is_empty(), "no support request stored: {names:?}");
    // The stored draft is the one the step wrote into the run's local working copy.
    let (md, _) = store.get(drafts[0]).await.unwrap().unwrap();
    let root = lifeboat::runstore::remote::cache_root(&tmp.path().join("a"), &store);
    let local = std::fs::read(root.join(drafts[0].as_str())).expect("the local draft");
    assert_eq!(&md[..], &local[..]);
    assert!(String::from_utf8_lossy(&md).contains("Microsoft"), "a support request");
    // Each stored draft is a journaled effect, so the audit record says where it went.
    let text = String::from_utf8_lossy(&record);
    assert!(text.contains("\"write-blob\""), "no write-blob effect journaled");
    assert!(text.contains(&format!("{url}/runs/d1/support/")), "the effect names the blob");

    // Another machine: status says where the run, its inbox and its artefacts are.
    let out = cmd("b").args(["status", "d1", "--output", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", crate::support::cli::text(&out));
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["state"], "succeeded", "{st}");
    assert_eq!(st["run_store"]["journal"], format!("{url}/runs/d1/journal.jsonl"));
    let artefacts: Vec<String> = st["run_store"]["artefacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    assert!(artefacts.contains(&format!("{url}/runs/d1/reports/report.html")), "{artefacts:?}");
    assert!(
        artefacts.iter().any(|a| a.starts_with(&format!("{url}/runs/d1/support/"))),
        "{artefacts:?}"
    );
    // The same run id again: refused before anything runs.
    let out = cmd("c").args(["drill", "--run-id", "d1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", crate::support::cli::text(&out));
}

/// `drill --live` against the simulator standing in for Azure: its run is recorded on the run
/// store too, with its report beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_drills_run_is_recorded_on_the_run_store() {
    let Some(endpoint) = azurite() else { return };
    let store = fresh_store(&endpoint, "live").await;
    let url = format!("az://{}/live", store.container());
    let sim = crate::support::sim::start(lifeboat::sim::SimConfig {
        tenant: lifeboat::sim::TenantSource::Small,
        time_scale: 1000.0,
        code_ttl: std::time::Duration::from_secs(600 * 1000),
        ..lifeboat::sim::SimConfig::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let code = tmp.path().join("code");
    std::fs::write(&code, sim.mint_code()).unwrap();
    let prod = "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-devsec-weu/providers/Microsoft.Security/securityConnectors/ado-weu";
    let drill = |run_id: &str| {
        let mut c = crate::support::cli::lifeboat();
        c.env("LIFEBOAT_STATE_DIR", tmp.path().join("a"))
            .env("LIFEBOAT_RUN_STORE", &url)
            .args(["--arm-endpoint", sim.url(), "--auth", "none", "drill", "--live"])
            .args(["--connector", prod, "--drill-region", "northeurope", "--run-id", run_id])
            .arg("--authorization-code-file")
            .arg(&code);
        for (k, v) in azurite_env(&endpoint) {
            c.env(k, v);
        }
        c
    };
    // The run store's account in the production connector's region (the region the drill plays
    // failed): refused before anything is written, as `run` refuses it.
    let place = |location: &str| {
        let a: lifeboat::sim::storage::StorageAccount = serde_json::from_value(serde_json::json!({
            "subscription": "00000000-0000-4000-8000-0000000000a1", "resourceGroup": "rg-devsec-weu",
            "name": "devstoreaccount1", "location": location, "sku": "Standard_RAGRS"}))
        .unwrap();
        sim.cloud().storage_accounts.insert(a.name.clone(), a);
    };
    place("westeurope");
    let mut c = drill("live0");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    let t = crate::support::cli::text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("devstoreaccount1") && t.contains("westeurope"), "{t}");
    assert!(t.contains("--allow-store-in-failed-region"), "{t}");
    assert!(store.list("runs/").await.unwrap().is_empty(), "nothing written to the run store");
    assert!(!tmp.path().join("a/drills/live0").exists(), "no drill directory");
    place("uksouth");
    let mut c = drill("live1");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    let t = crate::support::cli::text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("report (run store): {url}/runs/live1/reports/report.html")),
        "{t}"
    );
    let (record, _) = store.get(&journal_blob("live1")).await.unwrap().expect("the journal blob");
    let parsed = journal::parse(Path::new("blob"), &record).expect("the record parses");
    journal::verify_chain(&parsed.entries).expect("the chain verifies");
    assert!(String::from_utf8_lossy(&record).contains("\"write-blob\""), "drafts stored");
    let names = store.list("runs/live1/").await.unwrap();
    assert!(names.iter().any(|n| n.starts_with("runs/live1/support/")), "{names:?}");
    assert!(names.iter().any(|n| n == "runs/live1/reports/report.json"), "{names:?}");
}
