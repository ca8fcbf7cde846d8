//! The store conformance suite: the same functions run against a local directory and Azurite
//! (object_store's own integration style). Each function gets a fresh prefix of the backend.

use crate::backup::common::{age_keys, wall_now, Backend, FakeTenant, ADO, GH};
use lifeboat::backup::ops::{tree, Anomaly};
use lifeboat::backup::snapshot::{list_snapshots, load_manifest};
use lifeboat::backup::store::{object_path, Keys};
use lifeboat::backup::{
    self, collect, AnomalyRules, BackupError, CreateOptions, PrunePolicy, ResourceKind, Scope,
    Store,
};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use time::macros::datetime;
use time::OffsetDateTime;

fn opts(now: OffsetDateTime) -> CreateOptions {
    CreateOptions { scope: Scope::default(), now, rules: AnomalyRules::default(), immutable: false }
}

fn clear() -> Keys {
    Keys::default()
}

async fn store_files(store: &Store) -> Vec<Path> {
    use futures::TryStreamExt;
    let mut all: Vec<Path> =
        store.inner().list(None).map_ok(|m| m.location).try_collect().await.expect("list");
    all.sort();
    all
}

/// Captures everything, `show` matches the tenant, an unchanged second backup writes no object,
/// one changed annotation writes exactly one, and `diff` names the field.
pub async fn capture_dedup_and_diff(b: &Backend) {
    let store = b.store("capture", clear());
    let mut tenant = FakeTenant::small();
    let t0 = datetime!(2026-01-01 00:00 UTC);
    let s1 = collect(&tenant, &store, opts(t0)).await.expect("first backup");
    let expected = tenant.expected_ids();
    // One call per list operation: 1 connector list + 3 configurations + ADO (1 org list,
    // 2 project lists, 4 repo lists) + GitHub (1 + 2) + GitLab (groups, subgroups, 2 project lists).
    assert_eq!(
        tenant.calls.load(std::sync::atomic::Ordering::Relaxed),
        18,
        "calls grow with parents, not items"
    );
    assert_eq!(s1.resources as usize, expected.len());
    assert_eq!(s1.new_objects as usize, expected.len(), "every resource body is distinct");
    let info = list_snapshots(&store).await.unwrap();
    let m1 = load_manifest(&store, &info[0]).await.unwrap();
    let got: Vec<String> = m1.resources.keys().cloned().collect();
    assert_eq!(got, expected, "the snapshot holds exactly the tenant's DevOps resources");
    assert_eq!(m1.counts[&ResourceKind::AzureDevOpsRepo], 12);
    assert_eq!(m1.counts[&ResourceKind::GitLabGroup], 2);
    assert_eq!(m1.needs_reauthorization.len(), 3, "every DevOps connector needs a new OAuth code");
    assert!(!m1.resources.keys().any(|k| k.contains("awsConnector")));
    let lines = tree(&m1);
    assert_eq!(lines.len(), expected.len());
    let repo = lines.iter().find(|l| l.id.ends_with("org1/projects/project0/repos/repo2")).unwrap();
    assert_eq!(repo.depth, 4, "connector > devops > org > project > repo");
    assert!(repo.settings.contains(&("annotations".into(), "Enabled".into())));

    // Volatile fields change, nothing else: no new object.
    for r in tenant.ado_repos_mut() {
        r["properties"]["provisioningStatusUpdateTimeUtc"] =
            serde_json::json!("2026-01-02T00:00:00Z");
    }
    let s2 = collect(&tenant, &store, opts(t0 + time::Duration::days(1))).await.unwrap();
    assert_eq!(s2.new_objects, 0, "an unchanged tenant writes only a manifest");
    assert_eq!(s2.parent.as_deref(), Some(s1.id.as_str()));

    let target = format!("{ADO}/devops/default/azureDevOpsOrgs/org0/projects/project1/repos/repo0");
    tenant.repo_mut(&target)["properties"]["actionableRemediation"]["state"] = "Disabled".into();
    let s3 = collect(&tenant, &store, opts(t0 + time::Duration::days(2))).await.unwrap();
    assert_eq!(s3.new_objects, 1, "one changed repo, one new object");
    let d = backup::diff(&store, &s2.id, &s3.id, &AnomalyRules::default()).await.unwrap();
    assert!(d.added.is_empty() && d.removed.is_empty());
    assert_eq!(d.changed.len(), 1);
    assert_eq!(d.changed[0].id, target);
    let paths: Vec<&str> = d.changed[0].fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["$.properties.actionableRemediation.state"]);
    assert_eq!(d.changed[0].fields[0].after, Some(serde_json::json!("Disabled")));
    let report = backup::verify(&store, None, true).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.snapshots_checked, 3);
}

/// `verify --read-data` finds every single-byte change to any object or manifest (200 seeded
/// trials), naming the damaged file.
pub async fn verify_detects_byte_flips(b: &Backend, encrypted: bool, trials: usize) {
    let (_secret, ids, recipients) = age_keys();
    let keys = if encrypted {
        Keys { recipients: Some(recipients), identities: Some(ids), ..Default::default() }
    } else {
        clear()
    };
    let store = b.store(if encrypted { "flips-enc" } else { "flips" }, keys);
    let tenant = FakeTenant::small();
    collect(&tenant, &store, opts(datetime!(2026-01-01 00:00 UTC))).await.unwrap();
    let files: Vec<Path> = store_files(&store)
        .await
        .into_iter()
        .filter(|p| p.as_ref().starts_with("objects/") || p.as_ref().starts_with("snapshots/"))
        .collect();
    let inner = store.inner();
    let mut rng = rand::rngs::StdRng::seed_from_u64(if encrypted { 0xE5C } else { 0xB0B });
    for trial in 0..trials {
        // Every tenth trial damages a manifest, so both kinds of file are well covered.
        let manifests: Vec<&Path> =
            files.iter().filter(|p| p.as_ref().starts_with("snapshots/")).collect();
        let path = if trial % 10 == 0 {
            manifests[rng.random_range(0..manifests.len())]
        } else {
            &files[rng.random_range(0..files.len())]
        };
        let original = inner.get(path).await.unwrap().bytes().await.unwrap();
        let mut damaged = original.to_vec();
        let pos = rng.random_range(0..damaged.len());
        damaged[pos] ^= rng.random_range(1..=255u8);
        inner.put(path, damaged.into()).await.unwrap();
        let report = backup::verify(&store, None, true).await.expect("verify runs");
        let name = path.filename().unwrap().trim_end_matches(".json");
        let name = name.rsplit('-').next().unwrap();
        assert!(
            report.problems.iter().any(|p| p.location.contains(name)),
            "trial {trial}: a change at byte {pos} of {path} went unnoticed: {:?}",
            report.problems
        );
        inner.put(path, original.into()).await.unwrap();
    }
    assert!(backup::verify(&store, None, true).await.unwrap().problems.is_empty());
}

/// A missing object is named by `verify` and makes `diff` fail clearly.
pub async fn missing_object_is_reported(b: &Backend) {
    let store = b.store("missing", clear());
    let mut tenant = FakeTenant::small();
    let s1 = collect(&tenant, &store, opts(datetime!(2026-01-01 00:00 UTC))).await.unwrap();
    let target = format!("{ADO}/devops/default/azureDevOpsOrgs/org0/projects/project0/repos/repo0");
    tenant.repo_mut(&target)["properties"]["actionableRemediation"]["state"] = "Disabled".into();
    let s2 = collect(&tenant, &store, opts(datetime!(2026-01-02 00:00 UTC))).await.unwrap();
    let m = load_manifest(&store, &list_snapshots(&store).await.unwrap()[1]).await.unwrap();
    let hash = m.resources[&target].hash.clone();
    store.inner().delete(&object_path(&hash).unwrap()).await.unwrap();
    let report = backup::verify(&store, None, false).await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].location, format!("object {hash}"));
    assert!(report.problems[0].message.contains(&target));
    let err = backup::diff(&store, &s1.id, &s2.id, &AnomalyRules::default()).await.unwrap_err();
    assert!(matches!(err, BackupError::Integrity { .. }));
    assert_eq!(err.to_string(), format!("object {hash} is missing"));
}

/// Encrypted stores: readable only with an identity, never mixed with clear snapshots.
pub async fn encryption_rules(b: &Backend) {
    let (_s, ids, recipients) = age_keys();
    let (_s2, wrong_ids, wrong_recipients) = age_keys();
    let tenant = FakeTenant::small();
    let t = datetime!(2026-01-01 00:00 UTC);
    let writer = b.store(
        "enc",
        Keys { recipients: Some(recipients.clone()), identities: None, ..Default::default() },
    );
    let s = collect(&tenant, &writer, opts(t)).await.expect("a writer needs only public keys");
    assert!(s.new_objects > 0);
    // Second backup without an identity: no parent readable, so the anomaly check is skipped.
    let s2 = collect(&tenant, &writer, opts(t + time::Duration::hours(1))).await.unwrap();
    assert!(s2.anomaly_check_skipped && s2.new_objects == 0);

    let no_id = b.store("enc", clear());
    let err = backup::verify(&no_id, None, false).await.unwrap_err();
    assert!(matches!(err, BackupError::Usage { .. }), "{err:?}");
    let err = collect(&tenant, &no_id, opts(t)).await.unwrap_err();
    assert!(err.to_string().contains("is encrypted and no recipient was given"), "{err}");

    let wrong = b
        .store("enc", Keys { recipients: None, identities: Some(wrong_ids), ..Default::default() });
    let err = backup::verify(&wrong, None, false).await.unwrap_err();
    assert!(matches!(err, BackupError::Usage { .. }), "{err:?}");
    assert!(err.to_string().contains("not one of the recipients"), "{err}");

    let other_keys = b.store(
        "enc",
        Keys { recipients: Some(wrong_recipients), identities: None, ..Default::default() },
    );
    let err = collect(&tenant, &other_keys, opts(t)).await.unwrap_err();
    assert!(err.to_string().contains("do not match"), "{err}");

    let reader =
        b.store("enc", Keys { recipients: None, identities: Some(ids), ..Default::default() });
    let r = backup::verify(&reader, None, true).await.unwrap();
    assert!(r.problems.is_empty() && r.objects_read > 0, "{r:?}");

    // A clear store refuses recipients.
    let clear_store = b.store("clear", clear());
    collect(&tenant, &clear_store, opts(t)).await.unwrap();
    let mixed = b.store(
        "clear",
        Keys { recipients: Some(recipients), identities: None, ..Default::default() },
    );
    let err = collect(&tenant, &mixed, opts(t)).await.unwrap_err();
    assert!(err.to_string().contains("does not mix"), "{err}");

    // Objects of the encrypted store are not readable JSON: nothing in clear.
    for p in store_files(&writer).await {
        if p.as_ref().starts_with("objects/") {
            let bytes = writer.inner().get(&p).await.unwrap().bytes().await.unwrap();
            assert!(bytes.starts_with(b"age-encryption.org/v1"), "{p} is not an age file");
        }
    }
}

/// Concurrent writers: every create succeeds, no object is overwritten or damaged.
pub async fn racing_writers(b: &Backend) {
    let tenant = FakeTenant::small();
    let stores: Vec<Store> = (0..4).map(|_| b.store("race", clear())).collect();
    let t = datetime!(2026-01-01 00:00 UTC);
    let runs = stores.iter().enumerate().map(|(i, s)| {
        let tenant = &tenant;
        async move { collect(tenant, s, opts(t + time::Duration::seconds(i as i64))).await }
    });
    let results = futures::future::join_all(runs).await;
    let mut written = 0;
    for r in &results {
        written += r.as_ref().expect("every racing backup succeeds").new_objects;
    }
    assert_eq!(written as usize, tenant.expected_ids().len(), "each object written exactly once");
    let check = b.store("race", clear());
    assert_eq!(list_snapshots(&check).await.unwrap().len(), 4);
    let r = backup::verify(&check, None, true).await.unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);

    // Raw race on one path with different bytes: one winner, the loser sees it already there.
    let store = b.store("race-raw", clear());
    let path = Path::from("objects/ff/probe");
    let inner = store.inner();
    let puts = (0..8u8).map(|i| {
        let inner = inner.clone();
        let path = path.clone();
        async move {
            let opts = object_store::PutOptions {
                mode: object_store::PutMode::Create,
                ..Default::default()
            };
            inner.put_opts(&path, vec![i; 1024].into(), opts).await.is_ok()
        }
    });
    let wins = futures::future::join_all(puts).await.into_iter().filter(|w| *w).count();
    assert_eq!(wins, 1, "exactly one create-only put wins");
    let bytes = inner.get(&path).await.unwrap().bytes().await.unwrap();
    assert!(bytes.iter().all(|b| *b == bytes[0]) && bytes.len() == 1024, "no torn write");
}

/// A backup that fails half way leaves no manifest; the re-run reuses what was written.
pub async fn failed_run_leaves_no_manifest(b: &Backend) {
    let store = b.store("halfway", clear());
    let mut tenant = FakeTenant::small();
    tenant.fail_on = Some(format!("{ADO}/devops/default/azureDevOpsOrgs/org1/projects/project1"));
    let t = datetime!(2026-01-01 00:00 UTC);
    let err = collect(&tenant, &store, opts(t)).await.unwrap_err();
    assert!(matches!(err, BackupError::Source { .. }), "{err:?}");
    assert!(err.to_string().contains("503"), "{err}");
    assert!(list_snapshots(&store).await.unwrap().is_empty(), "no manifest after a failed run");
    let partial =
        store_files(&store).await.iter().filter(|p| p.as_ref().starts_with("objects/")).count();
    assert!(partial > 0, "objects before the failure were written");
    tenant.fail_on = None;
    let s = collect(&tenant, &store, opts(t)).await.unwrap();
    assert_eq!(
        s.new_objects as usize + partial,
        tenant.expected_ids().len(),
        "written objects are reused"
    );
    assert!(backup::verify(&store, None, true).await.unwrap().problems.is_empty());
}

/// Prune keeps what the policy says, removes what nothing references, refuses immutable stores.
pub async fn prune_policy(b: &Backend) {
    let store = b.store("prune", clear());
    let mut tenant = FakeTenant::small();
    let base = datetime!(2026-01-01 10:00 UTC);
    let mut ids = Vec::new();
    for day in 0..5i64 {
        let target = format!(
            "{ADO}/devops/default/azureDevOpsOrgs/org0/projects/project0/repos/repo{}",
            day % 3
        );
        let state = if day % 2 == 0 { "Disabled" } else { "Enabled" };
        tenant.repo_mut(&target)["properties"]["actionableRemediation"]["state"] = state.into();
        let s = collect(&tenant, &store, opts(base + time::Duration::days(day))).await.unwrap();
        ids.push(s.id);
    }
    let before = store_files(&store).await.len();
    let policy = PrunePolicy { last: 2, ..Default::default() };
    let later = wall_now() + time::Duration::hours(2);
    let dry = backup::prune(&store, policy, true, later).await.unwrap();
    assert_eq!(dry.removed_snapshots, ids[..3].to_vec());
    assert_eq!(store_files(&store).await.len(), before, "a dry run removes nothing");
    let r = backup::prune(&store, policy, false, later).await.unwrap();
    assert_eq!(r.kept, ids[3..].to_vec());
    assert!(r.removed_objects > 0);
    let left: BTreeSet<String> =
        list_snapshots(&store).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(left, ids[3..].iter().cloned().collect());
    let v = backup::verify(&store, None, true).await.unwrap();
    assert!(v.problems.is_empty(), "prune removed something still referenced: {:?}", v.problems);
    assert_eq!(v.objects_read, v.objects_referenced, "no unreferenced object is left");
    // Objects younger than the grace period are spared (a backup may be running).
    let spare =
        backup::prune(&store, PrunePolicy { last: 1, ..Default::default() }, true, wall_now())
            .await
            .unwrap();
    assert_eq!(spare.removed_objects, 0);

    let worm = b.store("worm", clear());
    let o = CreateOptions { immutable: true, ..opts(base) };
    collect(&tenant, &worm, o).await.unwrap();
    let err = backup::prune(&worm, policy, false, later).await.unwrap_err();
    assert!(
        matches!(err, BackupError::Usage { .. }) && err.to_string().contains("immutable"),
        "{err}"
    );
    let empty = backup::prune(&store, PrunePolicy::default(), true, later).await.unwrap_err();
    assert!(empty.to_string().contains("needs a policy"));
}

/// A vanished connector, mass-disabled annotations and an onboarding drop are flagged and recorded.
pub async fn anomalies_are_flagged(b: &Backend) {
    let store = b.store("anomaly", clear());
    let mut tenant = FakeTenant::small();
    let t = datetime!(2026-01-01 00:00 UTC);
    collect(&tenant, &store, opts(t)).await.unwrap();
    // Three of twelve repos off (25% > 20%), and the GitHub connector gone.
    for (i, r) in tenant.ado_repos_mut().enumerate() {
        if i < 3 {
            r["properties"]["actionableRemediation"]["state"] = "None".into();
        }
    }
    tenant.connectors.retain(|c| c["id"] != GH);
    let s = collect(&tenant, &store, opts(t + time::Duration::days(1))).await.unwrap();
    assert!(
        s.anomalies.contains(&Anomaly::ConnectorDisappeared { connector: GH.into() }),
        "{:?}",
        s.anomalies
    );
    assert!(s
        .anomalies
        .iter()
        .any(|a| matches!(a, Anomaly::AnnotationsDisabled { now_off: 3, before_enabled: 12, .. })));
    assert!(
        s.anomalies.iter().any(|a| matches!(a, Anomaly::OnboardedDrop { .. })),
        "{:?}",
        s.anomalies
    );
    let m = load_manifest(&store, &list_snapshots(&store).await.unwrap()[1]).await.unwrap();
    assert_eq!(m.anomalies, s.anomalies, "anomalies are recorded in the manifest");
    // Below the thresholds: nothing.
    let lax = AnomalyRules { annotation_drop: 0.5, onboarded_drop: 0.9 };
    let d = backup::diff(&store, &s.parent.clone().unwrap(), &s.id, &lax).await.unwrap();
    assert_eq!(d.anomalies, vec![Anomaly::ConnectorDisappeared { connector: GH.into() }]);
}

/// A planted authorization code never reaches the store; the manifest says where it was found.
pub async fn planted_secret_never_stored(b: &Backend) {
    let store = b.store("secret", clear());
    let mut tenant = FakeTenant::small();
    let planted = "PLANTED-OAUTH-CODE-7f3a9c";
    let cfg = tenant.configs.get_mut(&ADO.to_ascii_lowercase()).unwrap();
    cfg["properties"]["authorization"] = serde_json::json!({ "code": planted });
    let s = collect(&tenant, &store, opts(datetime!(2026-01-01 00:00 UTC))).await.unwrap();
    assert_eq!(s.secrets_removed, vec![format!("{ADO}/devops/default")]);
    for p in store_files(&store).await {
        let bytes = store.inner().get(&p).await.unwrap().bytes().await.unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(planted), "{p} holds the planted code");
    }
}

/// `--connector` and the DevOps filter: only the named connector's tree is captured.
pub async fn scope_filter(b: &Backend) {
    let store = b.store("scope", clear());
    let tenant = FakeTenant::small();
    let mut o = opts(datetime!(2026-01-01 00:00 UTC));
    o.scope.connectors = vec!["GHCONNECTOR".into()];
    let s = collect(&tenant, &store, o).await.unwrap();
    let m = load_manifest(&store, &list_snapshots(&store).await.unwrap()[0]).await.unwrap();
    assert!(m.resources.keys().all(|k| k.starts_with(GH)), "{:?}", m.resources.keys());
    assert_eq!(s.resources, 1 + 1 + 2 + 4, "connector, configuration, 2 owners, 4 repos");
    assert_eq!(m.scope.connectors, vec!["GHCONNECTOR".to_string()]);
    // A different scope is not the parent of a whole-tenant snapshot: no false "disappeared".
    let all = collect(&tenant, &store, opts(datetime!(2026-01-02 00:00 UTC))).await.unwrap();
    assert_eq!(all.parent, None);
    assert!(all.anomalies.is_empty());
}
