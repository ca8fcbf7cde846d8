//! The backup manifest reader: arbitrary bytes as the manifest of a snapshot in a store, read
//! by `backup::snapshot::load_manifest` and by what `backup show`, `diff`, `verify` and the
//! anomaly check do with a manifest (`ops::tree`, `ops::detect_anomalies`, `backup::diff` and
//! `backup::verify --read-data` against a baseline snapshot whose objects are in the store).
//!
//! The store is a real local store (`backup::Store`) in a scratch directory, created once per
//! process with two baseline snapshots of `tests/fixtures/backup/connectors.json` (the second
//! with changed settings, so `diff` has objects to compare). Each input is written twice as a
//! manifest file: as given (the sealed file itself), and sealed by the target (the input is the
//! manifest's JSON content), at the path its `id` and `time` give, so the reader gets past the
//! seal and the name check.
//!
//! Invariant: no panic. A damaged or crafted manifest is an error.
//!
//! `LIFEBOAT_FUZZ_DUMP_SEEDS=DIR` writes the baseline manifests' contents to DIR (seeds that
//! reference objects the store holds).
#![no_main]

#[path = "common/store.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use lifeboat::backup::ops::{detect_anomalies, tree};
use lifeboat::backup::snapshot::load_manifest;
use lifeboat::backup::{
    create, AnomalyRules, Captured, CreateOptions, Keys, Manifest, ResourceKind, Scope,
    SnapshotInfo, Store,
};
use object_store::path::Path as StorePath;
use serde_json::Value;
use std::sync::OnceLock;

const CONNECTORS: &str = include_str!("../../tests/fixtures/backup/connectors.json");

struct World {
    rt: tokio::runtime::Runtime,
    store: Store,
    baselines: Vec<Manifest>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = common::runtime();
        let dir = common::scratch_dir("backup_manifest");
        let store = common::open_store(&rt, &dir, Keys::default());
        let bodies: Vec<Value> = serde_json::from_str(CONNECTORS).expect("fixture is JSON");
        let mut baselines = Vec::new();
        for round in 0..2 {
            let captured: Vec<Result<Captured, String>> = bodies
                .iter()
                .map(|b| {
                    let mut body = b.clone();
                    if round == 1 {
                        body["tags"] = serde_json::json!({"owner": "security", "round": 1});
                        body["properties"]["offerings"] = serde_json::json!([]);
                    }
                    Ok(Captured {
                        resource_id: body["id"].as_str().unwrap_or_default().to_string(),
                        kind: ResourceKind::Connector,
                        api_version: "2024-08-01-preview".into(),
                        body,
                    })
                })
                .collect();
            let opts = CreateOptions {
                scope: Scope::default(),
                now: common::fixed_now() + time::Duration::hours(round),
                rules: AnomalyRules::default(),
                immutable: false,
            };
            let summary = rt
                .block_on(create(&store, futures::stream::iter(captured), opts))
                .expect("baseline snapshot");
            let info = SnapshotInfo {
                id: summary.id.clone(),
                time: common::fixed_now() + time::Duration::hours(round),
                path: StorePath::from(summary.path.as_str()),
                size: 0,
            };
            let m = rt.block_on(load_manifest(&store, &info)).expect("baseline reads back");
            baselines.push(m);
        }
        if let Ok(out) = std::env::var("LIFEBOAT_FUZZ_DUMP_SEEDS") {
            for (i, m) in baselines.iter().enumerate() {
                let content = serde_json::to_vec(m).expect("manifest serialises");
                let _ = std::fs::write(format!("{out}/baseline-{i}.json"), content);
            }
        }
        World { rt, store, baselines }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    w.rt.block_on(async {
        // As given: the sealed file, at a fixed path.
        let fixed = SnapshotInfo {
            id: "0f0f0f0f0f0f".into(),
            time: common::fixed_now() + time::Duration::days(1),
            path: StorePath::from("snapshots/20250102T000000Z-0f0f0f0f0f0f.json"),
            size: data.len() as u64,
        };
        common::put(&w.store, &fixed.path, data.to_vec()).await;
        if let Ok(m) = load_manifest(&w.store, &fixed).await {
            use_manifest(w, &m).await;
        }
        common::delete(&w.store, &fixed.path).await;

        // Sealed here: the input is the manifest's content, at the path it names.
        let info = match serde_json::from_slice::<Manifest>(data) {
            Ok(m) => SnapshotInfo {
                id: m.id.clone(),
                time: m.time,
                path: m.path(),
                size: data.len() as u64,
            },
            Err(_) => fixed.clone(),
        };
        common::put(&w.store, &info.path, common::seal(data)).await;
        match load_manifest(&w.store, &info).await {
            Ok(m) => use_manifest(w, &m).await,
            Err(e) => {
                let _ = e.to_string();
            }
        }
        common::delete(&w.store, &info.path).await;
    });
});

/// What the CLI does with a manifest it read.
async fn use_manifest(w: &World, m: &Manifest) {
    let rules = AnomalyRules::default();
    let _ = tree(m);
    for b in &w.baselines {
        let _ = detect_anomalies(b, m, &rules);
        let _ = detect_anomalies(m, b, &rules);
    }
    let _ = serde_json::to_string(m);
    // `diff` and `verify` find snapshots by listing the store: only an ID of hex digits names
    // one (other files under `snapshots/` are ignored).
    if !m.id.is_empty() && m.id.bytes().all(|b| b.is_ascii_hexdigit()) {
        for b in &w.baselines {
            report(lifeboat::backup::diff(&w.store, &b.id, &m.id, &rules).await);
            report(lifeboat::backup::diff(&w.store, &m.id, &b.id, &rules).await);
        }
        report(lifeboat::backup::verify(&w.store, Some(&m.id), true).await);
    }
    // `backup list` and `verify` without an ID read every manifest in the store.
    report(lifeboat::backup::verify(&w.store, None, false).await);
}

fn report<T, E: std::fmt::Display>(r: Result<T, E>) {
    if let Err(e) = r {
        let _ = e.to_string();
    }
}
