//! Regression tests of issue 11's backup defects: prune racing create (05), a damaged object
//! reused forever (06), forged snapshots passing verification (08), a manifest hash with
//! multi-byte characters panicking (10). The store-level ones run on a local directory and, when
//! `LIFEBOAT_TEST_AZURITE` is set, on Azurite.

use crate::backup::common::{age_keys, wall_now, Backend, FakeTenant, ADO};
use lifeboat::backup::canonical::{content_hash, to_canonical_bytes};
use lifeboat::backup::snapshot::{create, list_snapshots, load_manifest, load_object};
use lifeboat::backup::store::{object_path, Keys};
use lifeboat::backup::{
    self, collect, AnomalyRules, BackupError, Captured, CreateOptions, LeaseKind, PrunePolicy,
    ResourceKind, Scope, SigningKey, Store,
};
use lifeboat::clock::{ManualClock, SystemClock};
use lifeboat::engine::kind::{Cancellation, NullSink, Services};
use lifeboat::engine::kind::{StepContext, StepKind, StepOutcome};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use time::macros::datetime;
use time::OffsetDateTime;

fn opts(now: OffsetDateTime) -> CreateOptions {
    CreateOptions { scope: Scope::default(), now, rules: AnomalyRules::default(), immutable: false }
}

fn repo(o: usize, p: usize, r: usize) -> String {
    format!("{ADO}/devops/default/azureDevOpsOrgs/org{o}/projects/project{p}/repos/repo{r}")
}

/// The clear envelope lifeboat seals stored files with (what a forger recomputes).
fn seal(content: &[u8]) -> Vec<u8> {
    let hash = lifeboat::backup::canonical::sha256_hex(content);
    [b"{\"content\":".as_slice(), content, b",\"sha256\":\"", hash.as_bytes(), b"\"}"].concat()
}

fn unseal(sealed: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(sealed).expect("an envelope is JSON");
    v["content"].clone()
}

async fn raw_get(store: &Store, path: &Path) -> Vec<u8> {
    store.inner().get(path).await.unwrap().bytes().await.unwrap().to_vec()
}

/// A fresh Ed25519 key pair: lifeboat's wrapper and the raw key (the forger's tool).
fn signing_key() -> (SigningKey, ed25519_dalek::SigningKey) {
    let raw = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    (SigningKey::new(raw.clone()), raw)
}

/// Runs the `backup.load` step on `store` for the ADO connector, from snapshot `snapshot`.
async fn load_step(store: Store, snapshot: &str) -> StepOutcome {
    let mut services = Services::new();
    services.insert(Arc::new(store));
    let connector = json!({
        "resource_id": ADO, "name": "adoConnector",
        "subscription_id": "0806e1cd-cfda-4ff8-b99c-2b0af42cffd3", "resource_group": "myRg",
        "region": "westeurope", "connector_type": "AzureDevOps",
    });
    let ctx = StepContext {
        run_id: "r1".into(),
        step: "backup_load".into(),
        branch: None,
        label: None,
        item: None,
        attempt: 1,
        poll: 0,
        inputs: json!({
            "failed_region": "westeurope", "target_region": "northeurope",
            "connectors": [connector], "snapshot": snapshot,
        }),
        scratch: None,
        reentry: false,
        clock: Arc::new(SystemClock),
        cancel: Cancellation::new().1,
        services: Arc::new(services),
        sink: Arc::new(NullSink),
    };
    lifeboat::steps::backup_load::Load.run(ctx).await
}

fn failure(o: &StepOutcome) -> String {
    match o {
        StepOutcome::Failed { error, .. } => error.clone(),
        other => panic!("backup.load was expected to refuse, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 05: prune racing create

/// A prune that starts while a create runs (deterministically: from inside the create's source,
/// after the create listed the objects it will reuse) must not leave the create's snapshot
/// pointing at a deleted object. Scenario: snapshot 1 references object H1, snapshot 2 does not;
/// a third backup captures H1's content again (reuses it), and meanwhile `prune --keep-last 1`
/// drops snapshot 1 and, on the original code, H1 with it.
pub async fn prune_racing_create(b: &Backend) {
    let store = b.store("race-prune", Keys::default());
    let mut tenant = FakeTenant::small();
    let target = repo(0, 0, 0);
    collect(&tenant, &store, opts(datetime!(2026-01-01 00:00 UTC))).await.unwrap();
    let enabled = tenant.repo_mut(&target).clone();
    tenant.repo_mut(&target)["properties"]["actionableRemediation"]["state"] = "Disabled".into();
    collect(&tenant, &store, opts(datetime!(2026-01-02 00:00 UTC))).await.unwrap();
    let h1 = content_hash(&enabled);

    let prune_result: Arc<Mutex<Option<Result<backup::ops::PruneReport, BackupError>>>> =
        Arc::default();
    let (store_ref, slot) = (&store, prune_result.clone());
    let source = futures::stream::once(async move {
        // The create is running: it took its lease, listed the objects and read its parent.
        let later = wall_now() + time::Duration::hours(2);
        let r =
            backup::prune(store_ref, PrunePolicy { last: 1, ..Default::default() }, false, later)
                .await;
        *slot.lock().unwrap() = Some(r);
        Ok::<_, String>(Captured {
            resource_id: target.clone(),
            kind: ResourceKind::AzureDevOpsRepo,
            api_version: "2025-03-01".into(),
            body: enabled.clone(),
        })
    });
    let created = create(&store, source, opts(datetime!(2026-01-03 00:00 UTC))).await;
    let pruned = prune_result.lock().unwrap().take().expect("the prune ran");
    if let Ok(s) = &created {
        let report = backup::verify(&store, Some(&s.id), true).await.unwrap();
        assert!(
            report.problems.is_empty(),
            "create succeeded with a snapshot whose object {h1} a concurrent prune deleted: {:?} (prune: {pruned:?})",
            report.problems
        );
    }
    let err = pruned.expect_err("the prune must not run while a create holds its lease");
    assert!(matches!(err, BackupError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("create lease"), "{err}");
    let s = created.expect("the create that held the lease completes");
    assert!(load_object(&store, &h1).await.is_ok());

    // Once the create is done, the prune goes through and keeps what is referenced.
    let later = wall_now() + time::Duration::hours(2);
    let r = backup::prune(&store, PrunePolicy { last: 1, ..Default::default() }, false, later)
        .await
        .unwrap();
    assert_eq!(r.kept, vec![s.id.clone()]);
    let v = backup::verify(&store, None, true).await.unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}

/// While a prune holds the lease, a create stops before writing anything (exit 4), naming it.
pub async fn create_waits_for_prune(b: &Backend) {
    let store = b.store("race-create", Keys::default());
    let tenant = FakeTenant::small();
    collect(&tenant, &store, opts(datetime!(2026-01-01 00:00 UTC))).await.unwrap();
    let lease = store.acquire_lease(LeaseKind::Prune).await.unwrap();
    let before = list_snapshots(&store).await.unwrap().len();
    let err = collect(&tenant, &store, opts(datetime!(2026-01-02 00:00 UTC))).await.unwrap_err();
    assert!(matches!(err, BackupError::Locked { .. }), "{err:?}");
    assert_eq!(err.exit(), lifeboat::error::Exit::Locked);
    let msg = err.to_string();
    assert!(msg.contains("prune lease") && msg.contains("pid"), "{msg}");
    assert_eq!(list_snapshots(&store).await.unwrap().len(), before, "no snapshot written");
    // A second prune is refused too (prune is exclusive).
    let err =
        backup::prune(&store, PrunePolicy { last: 1, ..Default::default() }, false, wall_now())
            .await
            .unwrap_err();
    assert!(matches!(err, BackupError::Locked { .. }), "{err:?}");
    lease.release().await.unwrap();
    collect(&tenant, &store, opts(datetime!(2026-01-02 00:00 UTC))).await.unwrap();
    // No lease is left behind by the commands that finished.
    let left = store.inner().list(Some(&Path::from("locks")));
    use futures::TryStreamExt;
    assert_eq!(left.try_collect::<Vec<_>>().await.unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_05_prune_never_deletes_what_a_running_create_references() {
    prune_racing_create(&Backend::local()).await;
    create_waits_for_prune(&Backend::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_05_prune_racing_create_on_azurite() {
    if let Some(b) = Backend::azurite().await {
        prune_racing_create(&b).await;
        create_waits_for_prune(&b).await;
    }
}

/// The lease of a process that died expires: prune breaks it and says so; a live one blocks.
#[tokio::test]
async fn defect_05_an_expired_lease_is_broken_by_prune() {
    let b = Backend::local();
    let t0 = wall_now();
    let clock = ManualClock::new(t0);
    let store = b.store("expired", Keys::default()).with_clock(Arc::new(clock.clone()));
    collect(&FakeTenant::small(), &store, opts(datetime!(2026-01-01 00:00 UTC))).await.unwrap();
    // A create that crashed: its lease is never released.
    let crashed = store.acquire_lease(LeaseKind::Create).await.unwrap();
    drop(crashed);
    let policy = PrunePolicy { last: 1, ..Default::default() };
    let err = backup::prune(&store, policy, false, t0).await.unwrap_err();
    assert!(err.to_string().contains("expires"), "{err}");
    clock.advance(std::time::Duration::from_secs(2 * 3600));
    let r = backup::prune(&store, policy, false, t0).await.unwrap();
    assert_eq!(r.broken_leases.len(), 1, "{r:?}");
    assert!(r.broken_leases[0].starts_with("create lease `locks/create-"), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// 06: a damaged object is reused forever

/// One object is damaged after it was written; the next backup of the unchanged tenant must not
/// reference the damaged bytes: it writes a fresh copy, says so, and its snapshot verifies.
pub async fn damaged_object_is_repaired(b: &Backend, encrypted: bool) {
    let (_secret, ids, recipients) = age_keys();
    let keys = match encrypted {
        true => Keys { recipients: Some(recipients), identities: Some(ids), ..Default::default() },
        false => Keys::default(),
    };
    let store = b.store(if encrypted { "repair-enc" } else { "repair" }, keys);
    let tenant = FakeTenant::small();
    let s1 = collect(&tenant, &store, opts(datetime!(2026-01-01 00:00 UTC))).await.unwrap();
    let m1 = load_manifest(&store, &list_snapshots(&store).await.unwrap()[0]).await.unwrap();
    let hash = m1.resources[&repo(1, 1, 2)].hash.clone();
    let path = object_path(&hash).unwrap();
    let mut bytes = raw_get(&store, &path).await;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x04;
    store.inner().put(&path, bytes.into()).await.unwrap();

    let s2 = collect(&tenant, &store, opts(datetime!(2026-01-02 00:00 UTC))).await.unwrap();
    let summary = serde_json::to_value(&s2).unwrap();
    assert_eq!(summary["repaired_objects"], 1, "the repair is reported: {summary}");
    assert_eq!(s2.new_objects, 0);
    let v = backup::verify(&store, Some(&s2.id), true).await.unwrap();
    assert!(
        v.problems.is_empty(),
        "the new snapshot references a damaged object: {:?}",
        v.problems
    );
    // The whole store verifies: the damaged copy is reported as superseded, not as a problem.
    let all = backup::verify(&store, None, true).await.unwrap();
    assert!(all.problems.is_empty(), "{:?}", all.problems);
    assert_eq!(all.repaired.len(), 1, "{:?}", all.repaired);
    assert!(all.repaired[0].location.contains(&hash));
    // Every reader finds the good copy, older snapshots included.
    assert_eq!(content_hash(&load_object(&store, &hash).await.unwrap()), hash);
    let d = backup::diff(&store, &s1.id, &s2.id, &AnomalyRules::default()).await.unwrap();
    assert!(d.changed.is_empty());
    // The next backup re-checks and finds the repair good: nothing more is written.
    let s3 = collect(&tenant, &store, opts(datetime!(2026-01-03 00:00 UTC))).await.unwrap();
    assert_eq!((s3.repaired_objects, s3.new_objects, s3.unchecked_objects), (0, 0, 0));
    // Prune removes every copy of an object nothing references any more.
    let later = wall_now() + time::Duration::hours(2);
    let mut t2 = FakeTenant::small();
    t2.repo_mut(&repo(1, 1, 2))["properties"]["actionableRemediation"]["state"] = "None".into();
    collect(&t2, &store, opts(datetime!(2026-01-04 00:00 UTC))).await.unwrap();
    backup::prune(&store, PrunePolicy { last: 1, ..Default::default() }, false, later)
        .await
        .unwrap();
    let v = backup::verify(&store, None, true).await.unwrap();
    assert!(v.problems.is_empty() && v.repaired.is_empty(), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_06_next_create_repairs_a_damaged_object() {
    damaged_object_is_repaired(&Backend::local(), false).await;
    damaged_object_is_repaired(&Backend::local(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_06_repair_on_azurite() {
    if let Some(b) = Backend::azurite().await {
        damaged_object_is_repaired(&b, false).await;
        damaged_object_is_repaired(&b, true).await;
    }
}

/// A write-only writer of an encrypted store cannot read what it reuses: it says so.
#[tokio::test]
async fn defect_06_write_only_writer_reports_unchecked_objects() {
    let b = Backend::local();
    let (_secret, _ids, recipients) = age_keys();
    let store = b
        .store("wo", Keys { recipients: Some(recipients), identities: None, ..Default::default() });
    let tenant = FakeTenant::small();
    collect(&tenant, &store, opts(datetime!(2026-01-01 00:00 UTC))).await.unwrap();
    let s = collect(&tenant, &store, opts(datetime!(2026-01-02 00:00 UTC))).await.unwrap();
    assert_eq!(s.unchecked_objects as usize, tenant.expected_ids().len());
    assert_eq!(s.repaired_objects, 0);
}

// ---------------------------------------------------------------------------------------------
// 08: snapshots are not authenticated

/// What a forger who can write to the store does: turn one repo's annotations from Enabled to
/// Disabled, store the new body under its new content address, point the manifest at it and
/// seal (and, for an encrypted store, encrypt to the store's public keys) everything again.
async fn forge(store: &Store, target: &str, ids: Option<&lifeboat::backup::Identities>) {
    let recipients = ids.map(|i| i.recipients());
    let info = list_snapshots(store).await.unwrap().pop().unwrap();
    let open = |bytes: Vec<u8>| match ids {
        Some(i) => unseal(&i.decrypt(&bytes).unwrap()),
        None => unseal(&bytes),
    };
    let close = |content: &[u8]| match &recipients {
        Some(r) => r.encrypt(&seal(content)).unwrap(),
        None => seal(content),
    };
    let mut manifest = open(raw_get(store, &info.path).await);
    let old = manifest["resources"][target]["hash"].as_str().unwrap().to_string();
    let mut body = open(raw_get(store, &object_path(&old).unwrap()).await);
    assert_eq!(body["properties"]["actionableRemediation"]["state"], "Enabled");
    body["properties"]["actionableRemediation"]["state"] = "Disabled".into();
    let forged = content_hash(&body);
    store
        .inner()
        .put(&object_path(&forged).unwrap(), close(&to_canonical_bytes(&body)).into())
        .await
        .unwrap();
    manifest["resources"][target]["hash"] = forged.into();
    manifest["resources"][target]["annotation"] = "Disabled".into();
    let content = serde_json::to_vec(&manifest).unwrap();
    store.inner().put(&info.path, close(&content).into()).await.unwrap();
}

pub async fn forged_snapshot_is_refused(b: &Backend, encrypted: bool) {
    let (secret, _ids, recipients) = age_keys();
    let ids = || lifeboat::backup::Identities::load(&secret, "t").unwrap();
    let (key, _) = signing_key();
    let prefix = if encrypted { "forge-enc" } else { "forge" };
    let writer = b.store(
        prefix,
        Keys {
            recipients: encrypted.then(|| recipients.clone()),
            identities: encrypted.then(ids),
            signing: Some(key.clone()),
            ..Default::default()
        },
    );
    let reader = || b.store(prefix, Keys { identities: encrypted.then(ids), ..Default::default() });
    let tenant = FakeTenant::small();
    let s = collect(&tenant, &writer, opts(datetime!(2026-01-01 00:00 UTC))).await.unwrap();
    assert!(s.signed);
    let fingerprint = key.verify_key().fingerprint();
    let ok = backup::verify(&reader(), None, true).await.unwrap();
    assert!(ok.problems.is_empty() && ok.authenticated == 1, "{ok:?}");
    let loaded = load_step(reader(), &s.id).await;
    assert!(matches!(loaded, StepOutcome::Succeeded { .. }), "{loaded:?}");

    let target = repo(0, 1, 1);
    forge(&writer, &target, encrypted.then(ids).as_ref()).await;

    // verify --read-data: every seal and every content address checks, the signature does not.
    let r = backup::verify(&reader(), None, true).await.unwrap();
    assert_eq!(r.problems.len(), 1, "{r:?}");
    assert_eq!(r.problems[0].location, format!("snapshot {}", s.id));
    assert!(r.problems[0].message.contains("fails authentication"), "{r:?}");
    // backup.load refuses it, by ID and as `latest`.
    for wanted in [s.id.as_str(), "latest"] {
        let err = failure(&load_step(reader(), wanted).await);
        assert!(err.contains("fails authentication"), "{err}");
        assert!(!err.contains("PRIVATE"), "{err}");
    }

    // Without its signature file, the forgery is refused as unsigned: the config says signed.
    let sig = Path::from(format!("{}.sig", list_snapshots(&writer).await.unwrap()[0].path));
    writer.inner().delete(&sig).await.unwrap();
    let r = backup::verify(&reader(), None, true).await.unwrap();
    assert!(r.problems[0].message.contains("is not signed"), "{r:?}");
    assert!(failure(&load_step(reader(), &s.id).await).contains("is not signed"));

    // A forger who also re-signs with their own key and rewrites the config to declare it is
    // stopped by a key pinned outside the store.
    let (theirs, theirs_raw) = signing_key();
    let cfg_path = Path::from("config");
    let mut cfg = unseal(&raw_get(&writer, &cfg_path).await);
    cfg["authentication"] = serde_json::to_value(theirs.verify_key().declaration()).unwrap();
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
    writer.inner().put(&cfg_path, seal(&cfg_bytes).into()).await.unwrap();
    let info = list_snapshots(&writer).await.unwrap().pop().unwrap();
    let manifest_bytes = raw_get(&writer, &info.path).await;
    let forged_sig = resign(&theirs_raw, cfg["id"].as_str().unwrap(), &info.path, &manifest_bytes);
    writer.inner().put(&sig, forged_sig.into()).await.unwrap();
    let pinned = || {
        b.store(
            prefix,
            Keys {
                identities: encrypted.then(ids),
                verify: Some(lifeboat::backup::Pin::load(&fingerprint, "test").unwrap()),
                ..Default::default()
            },
        )
    };
    let err = backup::verify(&pinned(), None, true).await.unwrap_err();
    assert!(matches!(err, BackupError::Usage { .. }), "{err:?}");
    assert!(err.to_string().contains("is not the signing key"), "{err}");
    assert!(failure(&load_step(pinned(), &s.id).await).contains("is not the signing key"));
}

/// A forger's signature file, in the documented format, signed with the forger's own key.
fn resign(
    key: &ed25519_dalek::SigningKey,
    store_id: &str,
    manifest: &Path,
    bytes: &[u8],
) -> Vec<u8> {
    use base64::Engine;
    use ed25519_dalek::Signer;
    let b64 = base64::engine::general_purpose::STANDARD;
    let sha = lifeboat::backup::canonical::sha256_hex(bytes);
    let msg = format!("lifeboat-backup-manifest-v1:{store_id}:{manifest}:{sha}");
    let vk = key.verifying_key();
    serde_json::to_vec(&json!({
        "format": "lifeboat-backup-signature", "version": 1, "scheme": "ed25519",
        "public_key": b64.encode(vk.as_bytes()),
        "fingerprint": format!("SHA256:{}", lifeboat::backup::canonical::sha256_hex(vk.as_bytes())),
        "store": store_id, "manifest": manifest.to_string(), "sha256": sha,
        "signature": b64.encode(key.sign(msg.as_bytes()).to_bytes()),
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_08_forged_snapshot_is_refused_by_verify_and_backup_load() {
    forged_snapshot_is_refused(&Backend::local(), false).await;
    forged_snapshot_is_refused(&Backend::local(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_08_forgery_on_azurite() {
    if let Some(b) = Backend::azurite().await {
        forged_snapshot_is_refused(&b, false).await;
        forged_snapshot_is_refused(&b, true).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 10: a manifest hash with multi-byte characters

/// Rewrites the newest manifest of a clear store so that `target`'s hash is `bad`, sealed again.
async fn plant_hash(store: &Store, target: &str, bad: &str) -> String {
    let info = list_snapshots(store).await.unwrap().pop().unwrap();
    let mut manifest = unseal(&raw_get(store, &info.path).await);
    manifest["resources"][target]["hash"] = bad.into();
    let content = serde_json::to_vec(&manifest).unwrap();
    store.inner().put(&info.path, seal(&content).into()).await.unwrap();
    info.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_10_multibyte_manifest_hash_is_a_clear_error_in_diff_and_load() {
    let b = Backend::local();
    let store = b.store("mb", Keys::default());
    let mut tenant = FakeTenant::small();
    let a = collect(&tenant, &store, opts(datetime!(2026-01-01 00:00 UTC))).await.unwrap();
    let target = repo(1, 0, 2);
    tenant.repo_mut(&target)["properties"]["actionableRemediation"]["state"] = "Disabled".into();
    collect(&tenant, &store, opts(datetime!(2026-01-02 00:00 UTC))).await.unwrap();
    // Byte 2 falls inside `é`: slicing the first two bytes panicked.
    let bad = format!("a{}", "é".repeat(30));
    let id = plant_hash(&store, &target, &bad).await;
    let Backend::Local(dir) = &b else { unreachable!() };
    let store_dir = dir.path().join("mb");

    let o = crate::support::cli::lifeboat()
        .stdin(std::process::Stdio::null())
        .arg("--backup-store")
        .arg(&store_dir)
        .args(["backup", "diff", &a.id, &id])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not a content address"), "{stderr}");
    assert!(stderr.contains(&target), "names the resource: {stderr}");

    let o = crate::support::cli::lifeboat()
        .stdin(std::process::Stdio::null())
        .arg("--backup-store")
        .arg(&store_dir)
        .args(["backup", "verify", "--read-data"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("error: snapshot {id}")), "{stdout}");

    let err = failure(&load_step(b.store("mb", Keys::default()), &id).await);
    assert!(err.contains("is not a content address"), "{err}");
    // `latest` falls back to the older snapshot, which is sound.
    match load_step(b.store("mb", Keys::default()), "latest").await {
        StepOutcome::Succeeded { outputs, .. } => assert_eq!(outputs["snapshot_id"], a.id),
        other => panic!("{other:?}"),
    }
}
