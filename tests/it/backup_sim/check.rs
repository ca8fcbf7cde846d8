//! `backup check` (issue 16, item 5) against the simulated Azure and a local store: a fresh
//! encrypted store passes; a stale snapshot, a connector created after the backup, a store in
//! clear and a store that fails verification each fail with exit 1 naming the check; bad input
//! exits 2 with nothing written. `backup keygen`'s recipient round-trips through a real backup.
//!
//! Snapshot ages are set through the snapshot's own time (the library's `collect` with `now` in
//! the past), never by sleeping. Every check run is followed by a proof that it wrote nothing: the
//! store's files are the same bytes, and the simulator saw only Resource Graph queries.

use super::{lifeboat, Run};
use lifeboat::backup::arm_reader::ArmReader;
use lifeboat::backup::{collect, AnomalyRules, CreateOptions, Keys, Scope, Store};
use lifeboat::clock::{Clock, SystemClock};
use lifeboat::sim::RunningSim;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

async fn quiet_sim() -> RunningSim {
    crate::support::sim::start(crate::support::sim::quiet()).await
}

/// Every file under `root`, relative path → its bytes' SHA-256.
fn files(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    lifeboat::digest::sha256_hex(&bytes),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// ARM requests the simulator logged (its control API left out).
fn arm_log(sim: &RunningSim) -> Vec<(String, String)> {
    sim.requests()
        .into_iter()
        .filter(|r| !r.path.starts_with("/_sim"))
        .map(|r| (r.method, r.path))
        .collect()
}

/// Runs `backup check ARGS` and proves it wrote nothing: the store's files are unchanged and the
/// simulator saw only reads (Resource Graph queries are POSTs that read).
async fn check(sim: &RunningSim, store: &Path, args: &[&str]) -> Run {
    let before = files(store);
    let calls = arm_log(sim).len();
    let mut all = vec!["backup", "check"];
    all.extend_from_slice(args);
    let r = lifeboat(sim, store, &all, &[]).await;
    assert_eq!(files(store), before, "backup check changed the store: {}", r.stderr);
    for (method, path) in &arm_log(sim)[calls..] {
        assert!(
            method == "GET" || (method == "POST" && path.contains("Microsoft.ResourceGraph")),
            "backup check sent a write: {method} {path}"
        );
    }
    r
}

/// The JSON report of a run, validated against `docs/backup-check.schema.json` (the documented,
/// stable shape pipelines read).
fn json_report(r: &Run) -> Value {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let v = SCHEMA.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/backup-check.schema.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::meta::validate(&schema).expect("a valid draft 2020-12 schema");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .expect("the schema compiles")
    });
    let doc: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr));
    let errors: Vec<String> =
        v.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "the report breaks its schema: {errors:#?}\n{doc:#}");
    doc
}

/// The check named `name` of a JSON report.
fn check_of<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {report:#}"))
}

/// A snapshot of the simulator's tenant taken (as far as the store knows) `hours_ago` hours ago.
async fn snapshot_at(sim: &RunningSim, store: &Path, hours_ago: i64) -> String {
    let s = Store::open(store.to_str().unwrap(), Keys::default()).unwrap();
    let reader = ArmReader::new(crate::support::sim::client(sim.url()));
    let opts = CreateOptions {
        scope: Scope::default(),
        now: SystemClock.now() - time::Duration::hours(hours_ago),
        rules: AnomalyRules::default(),
        immutable: false,
    };
    collect(&reader, &s, opts).await.unwrap().id
}

/// The DevOps connectors of the simulator's own state (lowercase IDs, sorted).
fn connector_ids(sim: &RunningSim) -> Vec<String> {
    let cloud = sim.cloud();
    let mut ids: Vec<String> = cloud
        .connectors
        .values()
        .filter(|c| c.env().is_some())
        .map(|c| c.id.to_ascii_lowercase())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_encrypted_store_passes_with_a_keygen_recipient() {
    let sim = quiet_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let key = dir.path().join("backup.key");

    // keygen: the recipient alone on stdout, the identity in a 0600 file and nowhere else.
    let k =
        lifeboat(&sim, &store, &["backup", "keygen", "--out", key.to_str().unwrap()], &[]).await;
    assert_eq!(k.code, 0, "{}", k.stderr);
    let recipient = k.stdout.trim().to_string();
    assert!(recipient.starts_with("age1") && !recipient.contains('\n'), "{}", k.stdout);
    assert!(k.stderr.contains("backup init --recipient") && k.stderr.contains("--identity-file"));
    let text = std::fs::read_to_string(&key).unwrap();
    let secret = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap();
    assert!(
        !k.stdout.contains(secret) && !k.stderr.contains(secret),
        "the identity is never printed"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // A backup encrypted to the printed recipient, read back with the file.
    let c = lifeboat(&sim, &store, &["backup", "create", "--recipient", &recipient], &[]).await;
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(!c.stderr.contains("NOT ENCRYPTED"), "{}", c.stderr);
    let idf = key.to_str().unwrap();
    let list = lifeboat(
        &sim,
        &store,
        &["--output", "json", "backup", "list", "--identity-file", idf],
        &[],
    )
    .await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let rows: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(rows[0]["encrypted"], json!(true), "{rows:#}");
    assert!(!list.stdout.contains(secret) && !list.stderr.contains(secret));

    let r = check(
        &sim,
        &store,
        &["--max-age", "26h", "--identity-file", idf, "--read-data", "--output", "json"],
    )
    .await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let report = json_report(&r);
    assert_eq!(report["schema"], "lifeboat/backup-check/v1");
    assert_eq!(report["ok"], json!(true), "{report:#}");
    assert_eq!(report["encrypted"], json!(true));
    for name in ["integrity", "fresh", "connectors", "encrypted"] {
        assert_eq!(check_of(&report, name)["ok"], json!(true), "{name}: {report:#}");
        assert_eq!(check_of(&report, name)["fix"], Value::Null);
    }
    assert_eq!(report["max_age_seconds"], json!(26 * 3600));
    assert!(report["newest_snapshot"]["age_seconds"].as_i64().unwrap() < 3600, "{report:#}");
    let lower = |v: &Value| -> Vec<String> {
        let mut ids: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_ascii_lowercase())
            .collect();
        ids.sort();
        ids
    };
    let want = connector_ids(&sim);
    assert_eq!(want.len(), 4, "{want:?}");
    assert_eq!(lower(&report["connectors"]["in_azure"]), want);
    assert_eq!(lower(&report["connectors"]["in_snapshot"]), want);
    assert_eq!(report["connectors"]["missing"], json!([]));
    assert!(report["checks"][0]["detail"].as_str().unwrap().contains("re-hashed"), "{report:#}");

    // Text output: one line per check, and the summary.
    let r = check(&sim, &store, &["--max-age", "26h", "--identity-file", idf]).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("backup check passed: 4 checks"), "{}", r.stdout);
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_snapshot_fails_naming_its_age_and_the_limit() {
    let sim = quiet_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let id = snapshot_at(&sim, &store, 30).await;

    let r = check(&sim, &store, &["--max-age", "26h", "--allow-unencrypted"]).await;
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL  fresh"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("snapshot {id}")), "{}", r.stdout);
    assert!(r.stdout.contains("(30h"), "the age: {}", r.stdout);
    assert!(r.stdout.contains("ago), older than the limit of 26h"), "{}", r.stdout);
    assert!(r.stdout.contains("fix: run `lifeboat backup create`"), "{}", r.stdout);
    assert!(r.stdout.contains("backup check FAILED: fresh"), "{}", r.stdout);
    assert!(r.stderr.contains("backup check failed: fresh"), "{}", r.stderr);

    let j = json_report(
        &check(&sim, &store, &["--max-age", "26h", "--allow-unencrypted", "--output", "json"])
            .await,
    );
    assert_eq!(j["ok"], json!(false));
    let fresh = check_of(&j, "fresh");
    assert_eq!(fresh["ok"], json!(false), "{j:#}");
    assert!(fresh["fix"].as_str().unwrap().contains("lifeboat backup create"));
    let age = j["newest_snapshot"]["age_seconds"].as_i64().unwrap();
    assert!((30 * 3600..31 * 3600).contains(&age), "{j:#}");
    assert_eq!(j["newest_snapshot"]["id"], json!(id));
    for name in ["integrity", "connectors", "encrypted"] {
        assert_eq!(check_of(&j, name)["ok"], json!(true), "{name}: {j:#}");
    }

    // The limit decides: 31h passes the same store, the config file's [backup] max-age too.
    let r = check(&sim, &store, &["--max-age", "31h", "--allow-unencrypted"]).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[backup]\nmax-age = \"26h\"\n").unwrap();
    let c = cfg.to_str().unwrap();
    let r = check(&sim, &store, &["--config", c, "--allow-unencrypted"]).await;
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("older than the limit of 26h"), "{}", r.stdout);
    let r = check(&sim, &store, &["--config", c, "--max-age", "2d", "--allow-unencrypted"]).await;
    assert_eq!(r.code, 0, "the flag wins over the file: {}{}", r.stdout, r.stderr);

    // A fresh backup makes the store pass again.
    let c = lifeboat(&sim, &store, &["backup", "create"], &[]).await;
    assert_eq!(c.code, 0, "{}", c.stderr);
    let r = check(&sim, &store, &["--max-age", "26h", "--allow-unencrypted"]).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_created_after_the_backup_fails_naming_it() {
    let sim = quiet_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // An hour old, so that the backup taken below is newer (snapshot times have whole seconds).
    snapshot_at(&sim, &store, 1).await;
    let ok = check(&sim, &store, &["--max-age", "26h", "--allow-unencrypted"]).await;
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);

    // A new DevOps connector in Azure, after the backup.
    let sub = "00000000-0000-4000-8000-0000000000a1";
    let id = format!(
        "/subscriptions/{sub}/resourceGroups/rg-devsec-weu/providers/Microsoft.Security/securityConnectors/ado-late"
    );
    let url = format!(
        "{}{id}?api-version={}",
        sim.url().trim_end_matches('/'),
        lifeboat::azure::api::SECURITY_CONNECTORS
    );
    let r = reqwest::Client::new()
        .put(&url)
        .json(&json!({"location": "westeurope", "properties": {"environmentName": "AzureDevOps",
            "hierarchyIdentifier": "00000000-0000-0000-0000-000000000000",
            "environmentData": {"environmentType": "AzureDevOpsScope"},
            "offerings": [{"offeringType": "CspmMonitorAzureDevOps"}]}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    let r = check(&sim, &store, &["--max-age", "26h", "--allow-unencrypted"]).await;
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL  connectors"), "{}", r.stdout);
    assert!(
        r.stdout.contains("1 of the 5 DevOps connector(s) in Azure are missing"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("ado-late (AzureDevOps, westeurope"), "{}", r.stdout);
    assert!(r.stdout.contains("backup check FAILED: connectors"), "{}", r.stdout);
    let j = json_report(
        &check(&sim, &store, &["--max-age", "26h", "--allow-unencrypted", "--output", "json"])
            .await,
    );
    let missing: Vec<String> = j["connectors"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_ascii_lowercase())
        .collect();
    assert_eq!(missing, vec![id.to_ascii_lowercase()], "{j:#}");
    assert_eq!(j["connectors"]["in_azure"].as_array().unwrap().len(), 5);
    assert_eq!(j["connectors"]["in_snapshot"].as_array().unwrap().len(), 4);
    assert_eq!(check_of(&j, "fresh")["ok"], json!(true));

    // Scoped like `backup create`: a check of the connectors the snapshot holds passes.
    let r = check(
        &sim,
        &store,
        &[
            "--max-age",
            "26h",
            "--allow-unencrypted",
            "--connector",
            "ado-weu",
            "--connector",
            "ado-eus",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = check(
        &sim,
        &store,
        &["--max-age", "26h", "--allow-unencrypted", "--connector", "ado-late"],
    )
    .await;
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);

    // The next backup captures it.
    let c = lifeboat(&sim, &store, &["backup", "create"], &[]).await;
    assert_eq!(c.code, 0, "{}", c.stderr);
    let r = check(&sim, &store, &["--max-age", "26h", "--allow-unencrypted"]).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unencrypted_store_is_warned_about_and_fails_unless_allowed() {
    let sim = quiet_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let c = lifeboat(&sim, &store, &["--output", "json", "backup", "create"], &[]).await;
    assert_eq!(c.code, 0, "{}", c.stderr);
    // The loud warning: on stderr (stdout stays JSON), boxed, naming the fix.
    let summary: Value = serde_json::from_str(&c.stdout).unwrap();
    assert_eq!(summary["encrypted"], json!(false));
    for needle in [
        "| WARNING: this backup store is NOT ENCRYPTED",
        "lifeboat backup keygen --out",
        "backup create --recipient age1",
        "+-----",
    ] {
        assert!(c.stderr.contains(needle), "{needle}: {}", c.stderr);
    }
    let list = lifeboat(&sim, &store, &["backup", "list"], &[]).await;
    assert!(list.stdout.contains("ENCRYPTED") && list.stdout.contains("  NO  "), "{}", list.stdout);
    assert!(list.stdout.contains("is NOT encrypted"), "{}", list.stdout);
    let show = lifeboat(&sim, &store, &["--output", "json", "backup", "show", "latest"], &[]).await;
    assert_eq!(serde_json::from_str::<Value>(&show.stdout).unwrap()["encrypted"], json!(false));

    let r = check(&sim, &store, &["--max-age", "26h"]).await;
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL  encrypted"), "{}", r.stdout);
    assert!(
        r.stdout.contains("fix: create a key with `lifeboat backup keygen --out FILE`"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("backup check FAILED: encrypted"), "{}", r.stdout);
    let j = json_report(&check(&sim, &store, &["--max-age", "26h", "--output", "json"]).await);
    assert_eq!(check_of(&j, "encrypted")["ok"], json!(false));
    assert_eq!(
        j["checks"].as_array().unwrap().iter().filter(|c| c["ok"] == json!(false)).count(),
        1
    );

    let r = check(&sim, &store, &["--max-age", "26h", "--allow-unencrypted"]).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("NOT encrypted (allowed by --allow-unencrypted)"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fails_verification_fails_and_says_which_snapshot() {
    let sim = quiet_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let older = snapshot_at(&sim, &store, 2).await;
    let newer = snapshot_at(&sim, &store, 1).await;
    let args = ["--max-age", "26h", "--allow-unencrypted"];
    assert_eq!(check(&sim, &store, &args).await.code, 0);

    // One byte of the newest manifest changed: that snapshot fails, the older one is judged.
    let manifest = std::fs::read_dir(store.join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(&format!("-{newer}.json")))
        .unwrap();
    let original = std::fs::read(&manifest).unwrap();
    let mut bytes = original.clone();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&manifest, &bytes).unwrap();
    let j = json_report(&check(&sim, &store, &[&args[..], &["--output", "json"]].concat()).await);
    assert_eq!(j["ok"], json!(false), "{j:#}");
    let integrity = check_of(&j, "integrity");
    assert_eq!(integrity["ok"], json!(false));
    assert!(integrity["detail"].as_str().unwrap().contains(&format!("snapshot {newer}")), "{j:#}");
    assert!(integrity["fix"].as_str().unwrap().contains("lifeboat backup verify --read-data"));
    assert_eq!(j["newest_snapshot"]["id"], json!(older), "the newest *verified* snapshot");
    let fresh = check_of(&j, "fresh");
    assert_eq!(fresh["ok"], json!(true), "{j:#}");
    assert!(fresh["detail"].as_str().unwrap().contains(&format!("passed over: {newer}")), "{j:#}");
    assert_eq!(j["verified_snapshots"], json!(1));
    // The library's answer to "the latest verified snapshot" is the same one.
    let opened = Store::open(store.to_str().unwrap(), Keys::default()).unwrap();
    let newest = lifeboat::backup::health::newest_verified(&opened, false).await.unwrap();
    assert_eq!(newest.map(|m| m.id), Some(older.clone()));
    let r = check(&sim, &store, &args).await;
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("backup check FAILED: integrity"), "{}", r.stdout);
    std::fs::write(&manifest, &original).unwrap();

    // One byte of an object changed: found with --read-data only (without, objects are only
    // listed), and then no snapshot verifies (both reference it).
    let objects = store.join("objects");
    let sub = std::fs::read_dir(&objects).unwrap().flatten().next().unwrap().path();
    let object = std::fs::read_dir(&sub).unwrap().flatten().next().unwrap().path();
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[10] ^= 0x20;
    std::fs::write(&object, &bytes).unwrap();
    assert_eq!(check(&sim, &store, &args).await.code, 0, "presence only");
    let j = json_report(
        &check(&sim, &store, &[&args[..], &["--read-data", "--output", "json"]].concat()).await,
    );
    assert_eq!(check_of(&j, "integrity")["ok"], json!(false), "{j:#}");
    let hash = object.file_name().unwrap().to_str().unwrap();
    assert!(check_of(&j, "integrity")["detail"].as_str().unwrap().contains(hash), "{j:#}");
    assert_eq!(j["newest_snapshot"], Value::Null, "{j:#}");
    let fresh = check_of(&j, "fresh");
    assert_eq!(fresh["ok"], json!(false));
    assert_eq!(fresh["detail"], json!("none of the 2 snapshot(s) verifies"));
    assert_eq!(check_of(&j, "connectors")["ok"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_with_nothing_written() {
    let sim = quiet_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let key = dir.path().join("backup.key");
    let k =
        lifeboat(&sim, &store, &["backup", "keygen", "--out", key.to_str().unwrap()], &[]).await;
    assert_eq!(k.code, 0, "{}", k.stderr);
    let recipient = k.stdout.trim().to_string();
    let c = lifeboat(&sim, &store, &["backup", "create", "--recipient", &recipient], &[]).await;
    assert_eq!(c.code, 0, "{}", c.stderr);
    let other = dir.path().join("other.key");
    assert_eq!(
        lifeboat(&sim, &store, &["backup", "keygen", "--out", other.to_str().unwrap()], &[])
            .await
            .code,
        0
    );
    let idf = key.to_str().unwrap();
    let bad_cfg = dir.path().join("bad.toml");
    std::fs::write(&bad_cfg, "[backup]\nmax-age = \"soon\"\n").unwrap();
    let missing = dir.path().join("nothing-here");
    let calls = arm_log(&sim).len();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--max-age", "soon", "--identity-file", idf], "--max-age `soon` is not a duration"),
        (vec!["--max-age", "0s", "--identity-file", idf], "must be above zero"),
        (vec!["--max-age", "500d", "--identity-file", idf], "at most 400 days"),
        (vec!["--identity-file", idf], "backup check needs --max-age"),
        (
            vec!["--config", bad_cfg.to_str().unwrap(), "--identity-file", idf],
            "[backup] max-age `soon` is not a duration",
        ),
        (vec!["--max-age", "26h"], "is encrypted and no identity was given"),
        (
            vec!["--max-age", "26h", "--identity-file", other.to_str().unwrap()],
            "not one of the recipients",
        ),
        (vec!["--max-age", "26h", "--identity-file", missing.to_str().unwrap()], "cannot be read"),
        (
            vec!["--max-age", "26h", "--identity-file", idf, "--subscription", "a/b"],
            "is not a subscription ID",
        ),
    ];
    for (args, needle) in &cases {
        let r = check(&sim, &store, args).await;
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: no report on bad input: {}", r.stdout);
    }
    assert_eq!(arm_log(&sim).len(), calls, "bad input is refused before Azure is asked");

    // A store that does not exist: refused, and not created.
    let r = check(&sim, &missing, &["--max-age", "26h"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no backup store at"), "{}", r.stderr);
    assert!(!missing.exists(), "the check created the store");
    // A directory that holds no store.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = check(&sim, &empty, &["--max-age", "26h"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no backup store at"), "{}", r.stderr);
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    assert_eq!(arm_log(&sim).len(), calls);

    // A --connector that names nothing in Azure (after the Resource Graph query, still a read).
    let r = check(
        &sim,
        &store,
        &["--max-age", "26h", "--identity-file", idf, "--connector", "ado-wue"],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--connector `ado-wue` names no DevOps connector"), "{}", r.stderr);

    // keygen: never overwrites, needs an existing directory.
    let before = std::fs::read(&key).unwrap();
    let r = lifeboat(&sim, &store, &["backup", "keygen", "--out", idf], &[]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert_eq!(std::fs::read(&key).unwrap(), before, "not overwritten");
    let nested = dir.path().join("no-such-dir").join("k.txt");
    let r =
        lifeboat(&sim, &store, &["backup", "keygen", "--out", nested.to_str().unwrap()], &[]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    assert!(!dir.path().join("no-such-dir").exists());
}

/// The YAML blocks of docs/backups.md's pipeline section, parsed.
fn documented_pipelines() -> (Value, Value) {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/backups.md"))
            .unwrap();
    let section = text.split("### A scheduled backup with a health gate").nth(1).unwrap();
    let blocks: Vec<Value> = section
        .split("```yaml\n")
        .skip(1)
        .map(|b| serde_saphyr::from_str(b.split("```").next().unwrap()).unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "an Azure Pipelines and a GitHub Actions pipeline");
    (blocks[0].clone(), blocks[1].clone())
}

/// A step of a documented pipeline: its command and its own environment.
struct Step {
    command: String,
    env: BTreeMap<String, String>,
}

fn env_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
        })
        .unwrap_or_default()
}

/// The documented pipelines, run as written against the simulator: the same commands, the
/// same variable names (the store, the recipients, the identity), with a local store instead of
/// Azure Blob, and the simulator instead of the Azure CLI's sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_pipelines_back_up_then_gate_on_the_check() {
    let (azp, gha) = documented_pipelines();
    // Azure Pipelines: AzureCLI@2 steps with a service connection; GitHub: OIDC azure/login.
    let azp_steps: Vec<Step> = azp["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["task"], "AzureCLI@2", "{s:#}");
            assert!(s["inputs"]["azureSubscription"].is_string(), "{s:#}");
            Step {
                command: s["inputs"]["inlineScript"].as_str().unwrap().trim().to_string(),
                env: env_of(&s["env"]),
            }
        })
        .collect();
    assert_eq!(gha["permissions"]["id-token"], "write");
    assert!(
        gha["on"]["schedule"][0]["cron"].is_string() && azp["schedules"][0]["cron"].is_string()
    );
    let job = &gha["jobs"]["backup"];
    let gha_steps: Vec<Step> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["run"].is_string())
        .map(|s| Step {
            command: s["run"].as_str().unwrap().trim().to_string(),
            env: env_of(&s["env"]),
        })
        .collect();
    assert!(job["steps"][0]["uses"].as_str().unwrap().starts_with("azure/login@"));
    for (name, global, steps) in [
        ("Azure Pipelines", env_of(&azp["variables"]), azp_steps),
        ("GitHub Actions", env_of(&job["env"]), gha_steps),
    ] {
        assert_eq!(global["LIFEBOAT_AUTH"], "cli", "{name}");
        assert_eq!(global["AZURE_USE_AZURE_CLI"], "true", "{name}");
        assert!(global["LIFEBOAT_BACKUP_STORE"].starts_with("az://"), "{name}");
        let commands: Vec<&str> = steps.iter().map(|s| s.command.as_str()).collect();
        assert_eq!(
            commands,
            ["lifeboat backup create", "lifeboat backup check --max-age 26h"],
            "{name}"
        );
        assert!(
            !global.contains_key("LIFEBOAT_BACKUP_IDENTITY"),
            "{name}: the identity is the gate's only"
        );
        assert!(steps[1].env.contains_key("LIFEBOAT_BACKUP_IDENTITY"), "{name}");

        let sim = quiet_sim().await;
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let key = dir.path().join("backup.key");
        let k = lifeboat(&sim, &store, &["backup", "keygen", "--out", key.to_str().unwrap()], &[])
            .await;
        let recipient = k.stdout.trim().to_string();
        let secret = std::fs::read_to_string(&key)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .unwrap()
            .to_string();
        let value = |k: &str, v: &str| -> String {
            match k {
                "LIFEBOAT_BACKUP_STORE" => store.to_str().unwrap().to_string(),
                "LIFEBOAT_BACKUP_RECIPIENTS" => recipient.clone(),
                "LIFEBOAT_BACKUP_IDENTITY" => secret.clone(),
                // The simulator stands in for the Azure CLI's sign-in.
                "LIFEBOAT_AUTH" => "none".into(),
                _ => v.to_string(),
            }
        };
        for step in &steps {
            let mut c = crate::support::cli::lifeboat();
            c.env("LIFEBOAT_ARM_ENDPOINT", sim.url());
            for (k, v) in global.iter().chain(&step.env) {
                if k.starts_with("LIFEBOAT_") {
                    c.env(k, value(k, v));
                }
            }
            let args: Vec<&str> = step.command.split_whitespace().collect();
            assert_eq!(args[0], "lifeboat");
            c.args(&args[1..]);
            let o = crate::support::cli::output(c).await;
            let (out, err) =
                (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            assert_eq!(o.status.code(), Some(0), "{name}: {}: {out}{err}", step.command);
            assert!(!out.contains(&secret) && !err.contains(&secret));
            assert!(
                !err.contains("NOT ENCRYPTED"),
                "{name}: the documented store is encrypted: {err}"
            );
        }
        let cfg = std::fs::read_to_string(store.join("config")).unwrap();
        assert!(cfg.contains(&recipient), "{name}: encrypted to the recipient");
    }
}
