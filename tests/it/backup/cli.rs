//! The `lifeboat backup` commands as a user runs them: exit codes, messages, output.

use crate::backup::common::{age_keys, FakeTenant, ADO, GH};
use lifeboat::backup::store::Keys;
use lifeboat::backup::{collect, AnomalyRules, CreateOptions, Scope, Store};
use lifeboat::error::Exit;
use std::process::{Command, Stdio};
use time::macros::datetime;

/// The binary on `store`, with an empty stdin.
fn lifeboat(store: &std::path::Path) -> Command {
    let mut c = crate::support::cli::lifeboat();
    c.arg("--backup-store").arg(store).stdin(Stdio::null());
    c
}

fn opts(day: i64) -> CreateOptions {
    CreateOptions {
        scope: Scope::default(),
        now: datetime!(2026-01-01 00:00 UTC) + time::Duration::days(day),
        rules: AnomalyRules::default(),
        immutable: false,
    }
}

fn out(o: &std::process::Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn encrypted_store_needs_the_right_identity() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, _ids, recipients) = age_keys();
    let store = Store::open(
        dir.path().to_str().unwrap(),
        Keys { recipients: Some(recipients), identities: None, ..Default::default() },
    )
    .unwrap();
    let s = collect(&FakeTenant::small(), &store, opts(0)).await.unwrap();

    let (code, _, err) = out(&lifeboat(dir.path()).args(["backup", "list"]).output().unwrap());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is encrypted and no identity was given"), "{err}");
    assert!(err.contains("--identity-file") && err.contains("LIFEBOAT_BACKUP_IDENTITY"), "{err}");

    let (wrong, _, _) = age_keys();
    let (code, _, err) = out(&lifeboat(dir.path())
        .args(["backup", "verify"])
        .env("LIFEBOAT_BACKUP_IDENTITY", &wrong)
        .output()
        .unwrap());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not one of the recipients"), "{err}");
    assert!(!err.contains(&wrong), "the key is never echoed");

    let (code, stdout, err) = out(&lifeboat(dir.path())
        .args(["backup", "list"])
        .env("LIFEBOAT_BACKUP_IDENTITY", &secret)
        .output()
        .unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains(&s.id), "{stdout}");

    let idfile = dir.path().join("key.txt");
    std::fs::write(&idfile, format!("# created: test\n{secret}\n")).unwrap();
    let (code, stdout, err) = out(&lifeboat(dir.path())
        .args(["backup", "verify", "--read-data", "--identity-file"])
        .arg(&idfile)
        .output()
        .unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("no problems"), "{stdout}");
}

#[tokio::test]
async fn verify_names_the_damaged_object_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), Keys::default()).unwrap();
    collect(&FakeTenant::small(), &store, opts(0)).await.unwrap();
    let objects = dir.path().join("objects");
    let sub = std::fs::read_dir(&objects).unwrap().next().unwrap().unwrap().path();
    let file = std::fs::read_dir(&sub).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[10] ^= 0x20;
    std::fs::write(&file, bytes).unwrap();
    let hash = file.file_name().unwrap().to_str().unwrap();
    let (code, _, _) = out(&lifeboat(dir.path()).args(["backup", "verify"]).output().unwrap());
    assert_eq!(code, 0, "without --read-data only presence is checked");
    let (code, stdout, _) =
        out(&lifeboat(dir.path()).args(["backup", "verify", "--read-data"]).output().unwrap());
    assert_eq!(code, 1);
    assert!(stdout.contains(&format!("error: object {hash}")), "{stdout}");
}

#[tokio::test]
async fn show_list_diff_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), Keys::default()).unwrap();
    let mut tenant = FakeTenant::small();
    let a = collect(&tenant, &store, opts(0)).await.unwrap();
    for r in tenant.ado_repos_mut() {
        r["properties"]["actionableRemediation"]["state"] = "Disabled".into();
    }
    let b = collect(&tenant, &store, opts(1)).await.unwrap();

    let (code, stdout, err) =
        out(&lifeboat(dir.path()).args(["backup", "show", &a.id]).output().unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("adoConnector [connector] environment=AzureDevOps"), "{stdout}");
    assert!(
        stdout.contains(
            "\n        repo2 [azure-devops-repo] annotations=Enabled onboarding=Onboarded"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("myGitLabProject [gitlab-project]"), "{stdout}");

    let (code, stdout, _) =
        out(&lifeboat(dir.path()).args(["--output", "json", "backup", "list"]).output().unwrap());
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["new_objects"], 12);
    assert_eq!(list[1]["anomalies"], 1, "annotations turned off, onboarding unchanged: {list}");

    let (code, stdout, _) =
        out(&lifeboat(dir.path()).args(["backup", "diff", &a.id, &b.id]).output().unwrap());
    assert_eq!(code, 0, "anomalies alone do not fail the diff");
    assert!(
        stdout.contains("$.properties.actionableRemediation.state: \"Enabled\" → \"Disabled\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("anomaly: pull-request annotations turned off on 12 of 12 repos"),
        "{stdout}"
    );
    let (code, _, _) = out(&lifeboat(dir.path())
        .args(["backup", "diff", &a.id, &b.id, "--fail-on-anomaly"])
        .output()
        .unwrap());
    assert_eq!(code, 1);

    let (code, stdout, _) = out(&lifeboat(dir.path())
        .args(["backup", "prune", "--keep-last", "1", "--dry-run"])
        .output()
        .unwrap());
    assert_eq!(code, 0);
    assert!(stdout.contains(&format!("would remove snapshot {}", a.id)), "{stdout}");
    let (code, _, err) = out(&lifeboat(dir.path()).args(["backup", "prune"]).output().unwrap());
    assert_eq!(code, 2, "{err}");

    let worm = tempfile::tempdir().unwrap();
    let (code, _, err) =
        out(&lifeboat(worm.path()).args(["backup", "init", "--immutable"]).output().unwrap());
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        out(&lifeboat(worm.path()).args(["backup", "prune", "--keep-last", "1"]).output().unwrap());
    assert_eq!(code, 2);
    assert!(err.contains("immutable"), "{err}");

    let (code, _, err) =
        out(&lifeboat(dir.path()).args(["backup", "show", "ffffffffff"]).output().unwrap());
    assert_eq!(code, 2);
    assert!(err.contains("no snapshot `ffffffffff`"), "{err}");
}

#[tokio::test]
async fn create_fails_on_anomaly_when_asked() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let parse = |extra: &[&str]| {
        let mut args =
            vec!["lifeboat", "--backup-store", dir.path().to_str().unwrap(), "backup", "create"];
        args.extend_from_slice(extra);
        let cli = lifeboat::cli::Cli::parse_from(args);
        match cli.command {
            lifeboat::cli::Command::Backup(lifeboat::cli::backup::BackupCommand::Create(a)) => {
                (a, cli.globals)
            }
            _ => unreachable!(),
        }
    };
    let mut tenant = FakeTenant::small();
    let (args, g) = parse(&["--fail-on-anomaly"]);
    let t = datetime!(2026-01-01 00:00 UTC);
    let run = lifeboat::cli::backup::run_create(&tenant, &args, &g, t).await.unwrap();
    assert_eq!(run, Exit::Ok);
    tenant.connectors.retain(|c| c["id"] != GH && c["id"] != ADO);
    let run = lifeboat::cli::backup::run_create(&tenant, &args, &g, t + time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(run, Exit::Failed, "a vanished connector fails the pipeline");
    let (args, g) = parse(&[]);
    let run = lifeboat::cli::backup::run_create(&tenant, &args, &g, t + time::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(run, Exit::Ok, "without the flag anomalies are reported, not fatal");
    let (args, g) = parse(&["--annotation-drop-threshold", "1.5"]);
    let err = lifeboat::cli::backup::run_create(&tenant, &args, &g, t).await.unwrap_err();
    assert_eq!(lifeboat::error::exit_for(&err), Exit::Usage);
}

/// Secrets planted in the environment and in a resource body appear nowhere: not in the store,
/// not on stdout, not on stderr (where logs go).
#[tokio::test]
async fn planted_secrets_appear_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, ids, recipients) = age_keys();
    let planted = [
        "PLANTED-CLIENT-SECRET-9d8e7f",
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJQTANTED.fake.token",
        "PLANTED-OAUTH-CODE-4c5d6e",
        secret.as_str(),
    ];
    let store = Store::open(
        dir.path().to_str().unwrap(),
        Keys { recipients: Some(recipients), identities: Some(ids), ..Default::default() },
    )
    .unwrap();
    let mut tenant = FakeTenant::small();
    tenant.configs.get_mut(&ADO.to_ascii_lowercase()).unwrap()["properties"]["authorization"] =
        serde_json::json!({ "code": planted[2] });
    let s = collect(&tenant, &store, opts(0)).await.unwrap();
    assert_eq!(s.secrets_removed.len(), 1);
    let mut outputs = String::new();
    for args in [
        vec!["backup", "list"],
        vec!["backup", "show", "latest"],
        vec!["backup", "verify", "--read-data"],
    ] {
        let o = lifeboat(dir.path())
            .args(["--log", "trace"])
            .args(&args)
            .env("AZURE_CLIENT_SECRET", planted[0])
            .env("LIFEBOAT_TEST_TOKEN", planted[1])
            .env("LIFEBOAT_BACKUP_IDENTITY", &secret)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        outputs.push_str(&String::from_utf8_lossy(&o.stdout));
        outputs.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    let mut files = vec![];
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                files.push(p)
            }
        }
    }
    assert!(files.len() > 20);
    for p in planted {
        assert!(!outputs.contains(p), "output holds a planted secret");
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(p),
                "{} holds a planted secret",
                f.display()
            );
        }
    }
}

/// `backup prune` while a `backup create` holds its lease: exit 4, the holder named, nothing
/// removed; once the lease is gone the prune runs.
#[tokio::test]
async fn defect_05_prune_exits_4_while_a_create_holds_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), Keys::default()).unwrap();
    let tenant = FakeTenant::small();
    collect(&tenant, &store, opts(0)).await.unwrap();
    collect(&tenant, &store, opts(1)).await.unwrap();
    let lease = store.acquire_lease(lifeboat::backup::LeaseKind::Create).await.unwrap();
    let (code, stdout, err) =
        out(&lifeboat(dir.path()).args(["backup", "prune", "--keep-last", "1"]).output().unwrap());
    assert_eq!(code, 4, "{stdout}{err}");
    assert!(err.contains("is busy: create lease `locks/create-"), "{err}");
    assert!(err.contains("try again"), "{err}");
    assert_eq!(lifeboat::backup::snapshot::list_snapshots(&store).await.unwrap().len(), 2);
    lease.release().await.unwrap();
    let (code, stdout, err) =
        out(&lifeboat(dir.path()).args(["backup", "prune", "--keep-last", "1"]).output().unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("removed 1 snapshot(s)"), "{stdout}");
}

/// Signed snapshots through the CLI: `init` with the key in the variable declares it, `verify`
/// authenticates with the pinned public key (file or fingerprint), a wrong pin exits 2, a writer
/// without the key is refused, and the private key appears in no output.
#[tokio::test]
async fn defect_08_signing_and_pinning_through_the_cli() {
    use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey, EncodePublicKey};
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let raw = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let pem = raw.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let secret_line = pem.lines().nth(1).unwrap().to_string();
    let public = keys.path().join("backup.pub");
    std::fs::write(&public, raw.verifying_key().to_public_key_pem(LineEnding::LF).unwrap())
        .unwrap();
    let key = lifeboat::backup::SigningKey::new(raw.clone());
    let fingerprint = key.verify_key().fingerprint();
    let mut seen = String::new();

    let (code, stdout, err) = out(&lifeboat(dir.path())
        .args(["backup", "init"])
        .env("LIFEBOAT_BACKUP_SIGNING_KEY", &pem)
        .output()
        .unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains(&format!("signed: {fingerprint}")), "{stdout}");
    seen.push_str(&(stdout + &err));

    let path = dir.path().to_str().unwrap();
    let signed = Store::open(path, Keys { signing: Some(key), ..Default::default() }).unwrap();
    let s = collect(&FakeTenant::small(), &signed, opts(0)).await.unwrap();
    assert!(s.signed);
    let unsigned = Store::open(path, Keys::default()).unwrap();
    let e = collect(&FakeTenant::small(), &unsigned, opts(1)).await.unwrap_err();
    assert!(e.to_string().contains("no signing key was given"), "{e}");
    assert_eq!(lifeboat::backup::snapshot::list_snapshots(&unsigned).await.unwrap().len(), 1);

    let (code, stdout, err) = out(&lifeboat(dir.path())
        .args(["backup", "verify", "--read-data", "--verify-key"])
        .arg(&public)
        .output()
        .unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("1 snapshot(s) checked (1 authenticated)"), "{stdout}");
    seen.push_str(&(stdout + &err));
    let (code, stdout, err) = out(&lifeboat(dir.path())
        .args(["backup", "show", "latest"])
        .env("LIFEBOAT_BACKUP_VERIFY_KEY", &fingerprint)
        .output()
        .unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("unauthenticated"), "{err}");
    seen.push_str(&(stdout + &err));
    let other = format!("SHA256:{}", "0".repeat(64));
    let (code, stdout, err) = out(&lifeboat(dir.path())
        .args(["backup", "verify", "--verify-key", &other])
        .output()
        .unwrap());
    assert_eq!(code, 2, "{stdout}{err}");
    assert!(err.contains("is not the signing key"), "{err}");
    seen.push_str(&(stdout + &err));
    assert!(!seen.contains(&secret_line), "the private key was printed");
}

/// A store without signatures (made before them) still reads, with a loud warning.
#[tokio::test]
async fn defect_08_unsigned_snapshots_load_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), Keys::default()).unwrap();
    let s = collect(&FakeTenant::small(), &store, opts(0)).await.unwrap();
    let (code, stdout, err) = out(&lifeboat(dir.path()).args(["backup", "list"]).output().unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains(&s.id));
    assert!(err.contains("unauthenticated snapshot"), "{err}");
    let (code, stdout, _) =
        out(&lifeboat(dir.path()).args(["backup", "verify", "--read-data"]).output().unwrap());
    assert_eq!(code, 0);
    assert!(stdout.contains("warning: 1 unauthenticated snapshot(s)"), "{stdout}");
    // With a pinned key, an unsigned snapshot is refused.
    let pin = format!("SHA256:{}", "ab".repeat(32));
    let (code, stdout, _) = out(&lifeboat(dir.path())
        .args(["backup", "verify", "--verify-key", &pin])
        .output()
        .unwrap());
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("is not signed"), "{stdout}");
}
