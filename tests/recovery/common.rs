//! Shared fixtures of the recovery tests: the simulated Azure (`small` tenant, frozen clock,
//! instant long-running operations), a backup taken through the ARM client before the outage,
//! the `lifeboat` binary pointed at both, and the sim's control API.

use lifeboat::azure::{self, ArmClient, ConnectOptions};
use lifeboat::backup::arm_reader::ArmReader;
use lifeboat::backup::{self, Keys, Scope, Store};
use lifeboat::cli::{AuthMode, CloudName};
use lifeboat::sim::throttle::ThrottleConfig;
use lifeboat::sim::{self, RunningSim, SimConfig, TenantSource};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub const SUB_A1: &str = "00000000-0000-4000-8000-0000000000a1";

pub async fn start_sim(faults: &str) -> RunningSim {
    let cfg = SimConfig {
        tenant: TenantSource::Small,
        time_scale: 0.0,
        lro_delay: Duration::ZERO,
        faults: faults.parse().unwrap(),
        throttle: ThrottleConfig { enabled: false, ..ThrottleConfig::default() },
        ..SimConfig::default()
    };
    sim::start(cfg).await.unwrap()
}

pub fn client(sim: &RunningSim) -> ArmClient {
    let o = ConnectOptions {
        arm_endpoint: Some(sim.url().to_owned()),
        auth: AuthMode::None,
        cloud: CloudName::Public,
    };
    azure::connect(&o, &HashMap::new()).unwrap().client
}

/// POSTs to the sim's control API.
pub async fn control(sim: &RunningSim, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", sim.url().trim_end_matches('/')))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

pub async fn fail_region(sim: &RunningSim, region: &str) {
    control(sim, &format!("/_sim/regions/{region}/fail"), Value::Null).await;
}
pub async fn restore_region(sim: &RunningSim, region: &str) {
    control(sim, &format!("/_sim/regions/{region}/restore"), Value::Null).await;
}

/// Takes a backup of the whole small tenant into `dir` (an unencrypted local store).
pub async fn take_backup(sim: &RunningSim, dir: &Path) -> String {
    take_backup_of(sim, dir, Scope::default()).await
}

/// Takes a backup of `scope` into `dir`.
pub async fn take_backup_of(sim: &RunningSim, dir: &Path, scope: Scope) -> String {
    let store = Store::open(dir.to_str().unwrap(), Keys::default()).unwrap();
    let opts = backup::CreateOptions {
        scope,
        now: time::OffsetDateTime::from_unix_timestamp(sim.shared().base_unix).unwrap(),
        rules: Default::default(),
        immutable: false,
    };
    backup::collect(&ArmReader::new(client(sim)), &store, opts).await.unwrap().id
}

/// One test's world: a state dir, a backup store and a codes file.
pub struct World {
    pub tmp: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        World { tmp: tempfile::tempdir().unwrap() }
    }
    pub fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }
    pub fn store(&self) -> PathBuf {
        self.tmp.path().join("backups")
    }
    pub fn codes(&self) -> PathBuf {
        self.tmp.path().join("codes.txt")
    }
    pub fn run_dir(&self, run: &str) -> PathBuf {
        self.state().join("runs").join(run)
    }
    /// The binary with this world's state, store and the sim's endpoint.
    pub fn cmd(&self, sim: &RunningSim, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        c.args(["--state-dir", self.state().to_str().unwrap()])
            .args(["--backup-store", self.store().to_str().unwrap()])
            .args(["--arm-endpoint", sim.url(), "--auth", "none"])
            .args(args)
            .env_remove("LIFEBOAT_BACKUP_IDENTITY")
            .env_remove("LIFEBOAT_FAILPOINT")
            .env_remove("LIFEBOAT_TEST_STEPS");
        c
    }
    pub fn runbook() -> String {
        format!("{}/runbooks/region-outage.yaml", env!("CARGO_MANIFEST_DIR"))
    }
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs the binary on a blocking thread (the sim lives on this test's runtime).
pub async fn run(cmd: Command) -> Output {
    let mut cmd = cmd;
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

/// Writes requests the sim logged (PUT, PATCH, DELETE, and POSTs that are not reads).
pub fn writes(sim: &RunningSim) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| {
            matches!(r.method.as_str(), "PUT" | "PATCH" | "DELETE")
                || (r.method == "POST"
                    && !r.path.contains("listAvailable")
                    && !r.path.contains("listSubgroups")
                    && !r.path.contains("checkNameAvailability")
                    && !r.path.contains("Microsoft.ResourceGraph"))
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}
