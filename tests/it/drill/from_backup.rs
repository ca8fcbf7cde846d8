//! `drill --from-backup`: the organisation's own snapshot rehearsed. A tenant of a few hundred
//! repos is backed up through the binary (`backup create` against the simulator), then drilled
//! from that store: the report's counts equal the snapshot's, the RPO is the snapshot's real
//! age, the newest snapshot that does not verify is passed over, and the organisation's store is
//! byte for byte what it was. Bad input (a snapshot ID that does not exist, a snapshot that fails
//! verification, a region with no connector in it, no store, an encrypted store without its
//! identity) exits 2 with nothing written.

use crate::drill::{lifeboat, text};
use lifeboat::backup::snapshot::{find_snapshot, load_manifest};
use lifeboat::backup::{Keys, Manifest, ResourceKind, Store};
use lifeboat::sim::{SimConfig, TenantSource};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SUB_A: &str = "00000000-0000-4000-8000-0000000000a1";
const SUB_B: &str = "00000000-0000-4000-8000-0000000000b2";

/// Two Azure DevOps orgs of 4 projects × 40 repos (320 repos) and a GitHub owner and a GitLab
/// group (with a subgroup) in westeurope, one small org in eastus; settings at every level (the
/// orgs, every other project, every fifth repo), across two subscriptions.
fn tenant() -> Value {
    let mut orgs = Vec::new();
    let mut connectors = Vec::new();
    for (o, region, projects, repos) in
        [(0, "westeurope", 4, 40), (1, "westeurope", 4, 40), (2, "eastus", 1, 5)]
    {
        let org = format!("org-{o}");
        let mut settings = serde_json::Map::new();
        settings.insert(
            org.clone(),
            json!({"state": "Enabled", "categoryConfigurations": [
                {"category": "Secrets", "minimumSeverityLevel": "High"}]}),
        );
        let mut ps = Vec::new();
        for p in 0..projects {
            let project = format!("project-{p}");
            if p % 2 == 0 {
                settings.insert(
                    format!("{org}/{project}"),
                    json!({"state": "Disabled", "inheritFromParentState": "Disabled"}),
                );
            }
            let names: Vec<String> = (0..repos).map(|r| format!("repo-{r:02}")).collect();
            for r in (0..repos).step_by(5) {
                settings.insert(
                    format!("{org}/{project}/repo-{r:02}"),
                    json!({"state": "Enabled", "inheritFromParentState": "Disabled",
                           "branchConfiguration": {"branchNames": ["main"], "annotateDefaultBranch": "Enabled"}}),
                );
            }
            ps.push(json!({"name": project, "repos": names}));
        }
        orgs.push(json!({"name": org, "projects": ps}));
        connectors.push(json!({
            "subscription": if o == 1 { SUB_B } else { SUB_A },
            "resourceGroup": format!("rg-devsec-{region}"),
            "name": format!("ado-{o}"), "location": region, "environmentName": "AzureDevOps",
            "tags": {"owner": "platform"},
            "devops": {"autoDiscovery": "Disabled", "topLevelInventoryList": [org],
                       "visible": [org], "settings": settings}
        }));
    }
    connectors.push(json!({
        "subscription": SUB_A, "resourceGroup": "rg-devsec-westeurope", "name": "gh-weu",
        "location": "westeurope", "environmentName": "Github",
        "devops": {"autoDiscovery": "Disabled", "topLevelInventoryList": ["octo"], "visible": ["octo"]}
    }));
    connectors.push(json!({
        "subscription": SUB_A, "resourceGroup": "rg-devsec-westeurope", "name": "gl-weu",
        "location": "westeurope", "environmentName": "GitLab",
        "devops": {"autoDiscovery": "Enabled", "visible": ["grp"]}
    }));
    json!({
        "subscriptions": [SUB_A, SUB_B],
        "azureDevOps": orgs,
        "github": [{"name": "octo", "repos": ["api", "web", "docs"]}],
        "gitlab": [{"fullyQualifiedName": "grp", "projects": ["svc"]},
                   {"fullyQualifiedName": "grp$team", "projects": ["tool", "lib"]}],
        "connectors": connectors
    })
}

/// The binary against the simulator and the store.
async fn backup_create(url: &str, store: &Path, extra: &[&str]) -> String {
    let mut c = crate::support::cli::lifeboat();
    c.args(["--arm-endpoint", url, "--auth", "none", "--output", "json", "--backup-store"])
        .arg(store)
        .args(["backup", "create"])
        .args(extra);
    let o = crate::support::cli::output(c).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON summary");
    v["id"].as_str().expect("snapshot id").to_string()
}

async fn manifest(store: &Path, id: &str) -> Manifest {
    let s = Store::open(store.to_str().unwrap(), Keys::default()).unwrap();
    let info = find_snapshot(&s, id).await.unwrap();
    load_manifest(&s, &info).await.unwrap()
}

/// Every file of a directory tree with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Nothing of a drill was written: no drill directory, no run, no history.
fn nothing_written(state: &Path) {
    for sub in ["drills", "runs"] {
        let d = state.join(sub);
        assert!(
            !d.exists() || std::fs::read_dir(&d).unwrap().next().is_none(),
            "{} holds something",
            d.display()
        );
    }
}

/// The manifest's resources of the connectors in `region`, by kind name.
fn counts_in(m: &Manifest, bodies_region: &BTreeMap<String, String>, region: &str) -> Value {
    let mut out: BTreeMap<&str, u64> = BTreeMap::new();
    for (id, e) in &m.resources {
        let lower = id.to_ascii_lowercase();
        let connector = bodies_region
            .iter()
            .find(|(c, _)| lower == **c || lower.starts_with(&format!("{c}/")))
            .map(|(_, r)| r.as_str());
        if connector == Some(region) {
            *out.entry(e.kind.as_str()).or_insert(0) += 1;
        }
    }
    json!(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_from_the_organisations_backup_restores_what_the_snapshot_holds() {
    let dir = tempfile::tempdir().unwrap();
    let tenant_file = dir.path().join("tenant.json");
    std::fs::write(&tenant_file, tenant().to_string()).unwrap();
    let sim = crate::support::sim::start(SimConfig {
        tenant: TenantSource::File(tenant_file),
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .await;
    let store = dir.path().join("org-store");
    let older = backup_create(sim.url(), &store, &[]).await;
    // A newer snapshot with one object of its own (a repo's setting changed), then damaged:
    // the default choice passes it over for the newest that verifies.
    {
        let mut cloud = sim.cloud();
        let key = cloud.connectors.iter().find(|(_, c)| c.name == "ado-0").unwrap().0.clone();
        let d = cloud.connectors.get_mut(&key).unwrap().devops.as_mut().unwrap();
        d.settings.insert("org-0/project-1/repo-07".into(), json!({"state": "Disabled"}));
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let newer = backup_create(sim.url(), &store, &[]).await;
    let regions: BTreeMap<String, String> =
        sim.cloud().connectors.values().map(|c| (c.id.to_ascii_lowercase(), c.region())).collect();
    sim.shutdown().await.unwrap();
    let (m_old, m_new) = (manifest(&store, &older).await, manifest(&store, &newer).await);
    let own = m_new
        .resources
        .iter()
        .find(|(id, e)| id.ends_with("repo-07") && m_old.resources.get(*id) != Some(*e))
        .map(|(_, e)| e.hash.clone())
        .expect("the changed repo is a new object");
    let damaged =
        lifeboat::drill::scenario::tamper_one_object(&store, Some(&own)).expect("damaged");
    let before = files(&store);

    let state = dir.path().join("state");
    let wall_before = lifeboat::clock::Clock::now(&lifeboat::clock::SystemClock);
    let o = lifeboat(&state)
        .arg("--backup-store")
        .arg(&store)
        .args(["drill", "--from-backup", "--run-id", "org", "--rpo-target", "1d"])
        .output()
        .unwrap();
    let wall_after = lifeboat::clock::Clock::now(&lifeboat::clock::SystemClock);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains(&format!("snapshot {newer}")) && t.contains(&own), "passed over: {t}");
    let r: Value =
        serde_json::from_slice(&std::fs::read(state.join("drills/org/report.json")).unwrap())
            .unwrap();

    // The snapshot restored from is the older one, its age the RPO.
    assert_eq!(r["rpo"]["backup_id"], json!(older));
    assert_eq!(r["rpo"]["basis"]["kind"], "measured");
    assert!(
        r["assumptions"].as_array().is_some_and(|a| a.iter().all(|x| x["name"] != "backup-age")),
        "a drill from the snapshot measures the backup age, it assumes nothing about it"
    );
    let taken = time::OffsetDateTime::parse(
        r["rpo"]["backup_taken_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(taken, m_old.time);
    let outage = time::OffsetDateTime::parse(
        r["outage"]["injected_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(outage >= wall_before - Duration::from_secs(1) && outage <= wall_after, "{outage}");
    let rpo = r["rpo"]["seconds"].as_f64().unwrap();
    assert_eq!(rpo, ((outage - taken).as_seconds_f64() * 1000.0).round() / 1000.0);
    assert!(rpo >= 1.0, "the older snapshot is over a second old: {rpo}");

    // Counts: the whole snapshot seeded, the failed region's share restored, all of it.
    assert_eq!(r["outage"]["region"], "westeurope", "the region with the most connectors");
    let res = &r["resources"];
    assert_eq!(res["seeded_from"], "snapshot");
    assert_eq!(res["store"], json!(store.to_str().unwrap()));
    let in_snapshot: BTreeMap<&str, u64> =
        m_old.counts.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(res["in_snapshot"], json!(in_snapshot));
    let weu = counts_in(&m_old, &regions, "westeurope");
    assert_eq!(weu[ResourceKind::AzureDevOpsRepo.as_str()], 320, "{weu}");
    assert_eq!(weu[ResourceKind::GitLabGroup.as_str()], 2, "{weu}");
    assert_eq!(res["to_restore"], weu);
    assert_eq!(res["restored"], weu);
    assert_eq!(r["verdict"]["passed"], true, "{:#}", r["verdict"]);
    assert!(r["verifications"].as_array().unwrap().iter().all(|v| v["passed"] == true));

    // The organisation's store is byte for byte what it was (the damage not repaired); the
    // drill restored from its own copy of the snapshot, the same bytes.
    assert_eq!(files(&store), before, "the organisation's store changed");
    assert!(damaged.exists());
    let copy = files(&state.join("drills/org/backups"));
    let manifest_file = copy
        .keys()
        .find(|p| p.to_string_lossy().ends_with(&format!("{older}.json")))
        .expect("the snapshot's manifest copied")
        .clone();
    assert_eq!(copy[&manifest_file], before[&manifest_file]);
    assert!(copy.iter().all(|(p, b)| before.get(p) == Some(b)), "a copy differs");
    assert!(!copy.keys().any(|p| p.to_string_lossy().contains(&format!("{newer}.json"))));

    // Bad input against the same store: exit 2, nothing written, the store untouched.
    let fresh = dir.path().join("fresh");
    for (args, wants) in [
        (
            vec!["--from-backup", "0123abcd"],
            vec!["no snapshot `0123abcd`".to_string(), older.clone(), newer.clone()],
        ),
        (vec!["--from-backup", &newer], vec![format!("snapshot {newer}"), own.clone()]),
        (vec!["--from-backup", "latest"], vec![format!("snapshot {newer}"), own.clone()]),
        (
            vec!["--from-backup", &older, "--region", "eastasia"],
            vec!["eastasia".into(), "westeurope (4)".into(), "eastus (1)".into()],
        ),
        (
            vec!["--from-backup", "--region", "northeurope"],
            vec!["northeurope".into(), "westeurope (4)".into()],
        ),
    ] {
        let o = lifeboat(&fresh)
            .arg("--backup-store")
            .arg(&store)
            .arg("drill")
            .args(&args)
            .output()
            .unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
        for w in wants {
            assert!(t.contains(&w), "{args:?} does not say {w}: {t}");
        }
        nothing_written(&fresh);
    }
    assert_eq!(files(&store), before, "the organisation's store changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_store_is_drilled_with_its_identity_and_refused_without() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("backup.key");
    let o = crate::support::cli::lifeboat()
        .args(["backup", "keygen", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let recipient = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let sim =
        crate::support::sim::start(SimConfig { time_scale: 0.0, ..SimConfig::default() }).await;
    let store = dir.path().join("org-store");
    let id = backup_create(sim.url(), &store, &["--recipient", &recipient]).await;
    sim.shutdown().await.unwrap();
    let before = files(&store);

    // No store configured (none at <state-dir>/backups either), then no identity.
    let state = dir.path().join("state");
    let o = lifeboat(&state).args(["drill", "--from-backup"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no backup store is configured"), "{}", text(&o));
    let o = lifeboat(&state)
        .arg("--backup-store")
        .arg(&store)
        .args(["drill", "--from-backup"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("encrypted and no identity"), "{}", text(&o));
    nothing_written(&state);

    let o = lifeboat(&state)
        .arg("--backup-store")
        .arg(&store)
        .args(["drill", "--from-backup", "--run-id", "enc", "--identity-file"])
        .arg(&key)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let r: Value =
        serde_json::from_slice(&std::fs::read(state.join("drills/enc/report.json")).unwrap())
            .unwrap();
    assert_eq!(r["rpo"]["backup_id"], json!(id));
    assert_eq!(r["resources"]["restored"], r["resources"]["to_restore"]);
    assert_eq!(files(&store), before, "the organisation's store changed");
    // The drill's copy is encrypted as the original is: no object in clear.
    let copy = files(&state.join("drills/enc/backups"));
    assert!(copy.keys().any(|p| p.starts_with("objects")));
    for (p, b) in copy.iter().filter(|(p, _)| p.starts_with("objects")) {
        assert!(b.starts_with(b"age-encryption.org/"), "{} is not encrypted", p.display());
    }
}

/// A snapshot of `sim`'s tenant through the library (the ARM client on the simulator).
async fn snapshot_of(sim: &lifeboat::sim::RunningSim, store: &Path) -> Manifest {
    use lifeboat::backup::{collect, AnomalyRules, CreateOptions, Scope};
    use lifeboat::clock::Clock as _;
    let s = Store::open(store.to_str().unwrap(), Keys::default()).unwrap();
    let reader =
        lifeboat::backup::arm_reader::ArmReader::new(crate::support::sim::client(sim.url()));
    let opts = CreateOptions {
        scope: Scope::default(),
        now: lifeboat::clock::SystemClock.now(),
        rules: AnomalyRules::default(),
        immutable: false,
    };
    let id = collect(&reader, &s, opts).await.unwrap().id;
    manifest(store, &id).await
}

/// Seeding is faithful: the simulator seeded from a snapshot, backed up again, gives the same
/// snapshot, resource for resource and content address for content address. The tenant is the
/// `small` one with API drift staged (unknown fields and enum values at every level), so what
/// lifeboat does not model survives the seeding too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeded_simulator_serves_the_snapshot_back_unchanged() {
    use lifeboat::drill::simulated::{from_backup, seed_from_backup};
    let dir = tempfile::tempdir().unwrap();
    let quiet = || SimConfig { time_scale: 0.0, ..SimConfig::default() };
    let sim = crate::support::sim::start(SimConfig { drift: Some(7), ..quiet() }).await;
    let first = snapshot_of(&sim, &dir.path().join("a")).await;
    sim.shutdown().await.unwrap();

    let store = Store::open(dir.path().join("a").to_str().unwrap(), Keys::default()).unwrap();
    let keys: from_backup::KeysFn = std::sync::Arc::new(|| Ok(Keys::default()));
    let mut org = from_backup::load(&store, None, keys).await.unwrap();
    assert_eq!(org.id(), first.id);
    let (tenant, region) = seed_from_backup(
        &mut org,
        None,
        "northeurope",
        lifeboat::clock::Clock::now(&lifeboat::clock::SystemClock),
    )
    .unwrap();
    assert_eq!(region, "westeurope");
    let seeded = crate::support::sim::start(SimConfig { tenant: tenant.source, ..quiet() }).await;
    let again = snapshot_of(&seeded, &dir.path().join("b")).await;
    seeded.shutdown().await.unwrap();

    let hashes = |m: &Manifest| -> BTreeMap<String, (ResourceKind, String)> {
        m.resources
            .iter()
            .map(|(id, e)| (id.to_ascii_lowercase(), (e.kind, e.hash.clone())))
            .collect()
    };
    let (a, b) = (hashes(&first), hashes(&again));
    let differ: Vec<&String> = a.keys().filter(|k| a.get(*k) != b.get(*k)).collect();
    let extra: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(differ.is_empty() && extra.is_empty(), "differ: {differ:#?}\nextra: {extra:#?}");
    assert_eq!(first.counts, again.counts);
}
