//! The run store on Azure Blob (issue 17), against Azurite (`LIFEBOAT_TEST_AZURITE`; skipped
//! with a note when unset, a failure under CI): the Blob primitives, the journal on Blob fenced
//! by a lease, and the commands with `--run-store az://...`; `placement`: where the state lives
//! is checked (a store in the failed region is refused); `faults`: the Blob client behind a
//! proxy that drops and delays requests.

mod approve;
mod drill;
mod driver;
mod faults;
mod inbox;
mod placement;
mod primitives;

use lifeboat::runstore::{BlobStore, RunStoreUrl};

/// Azurite's blob endpoint from `LIFEBOAT_TEST_AZURITE`; `None` (with a note) when unset, a
/// failure under CI.
pub fn azurite() -> Option<String> {
    let Ok(endpoint) = std::env::var("LIFEBOAT_TEST_AZURITE") else {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but LIFEBOAT_TEST_AZURITE is not: start Azurite with `.ci/azurite.sh start` and export the variable it prints");
        }
        eprintln!("note: LIFEBOAT_TEST_AZURITE is unset; skipping the run store suite (run `.ci/azurite.sh start`)");
        return None;
    };
    Some(endpoint.trim_end_matches('/').to_string())
}

/// The environment of a process using Azurite's development account at `endpoint`.
pub fn azurite_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
        ("AZURE_STORAGE_ENDPOINT", endpoint.to_string()),
    ]
}

/// A fresh container name (tests run in parallel against one Azurite).
pub fn fresh_container() -> String {
    format!("lb-{}", &uuid::Uuid::new_v4().simple().to_string()[..20])
}

#[expect(clippy::disallowed_methods, reason = "the SAS is dated by the wall clock Azurite checks")]
fn wall_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Opens `az://container/prefix` on Azurite (no request yet).
pub fn open(endpoint: &str, container: &str, prefix: &str) -> BlobStore {
    let env = azurite_env(endpoint);
    let lookup = move |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let url = RunStoreUrl::Azure { container: container.to_string(), prefix: prefix.to_string() };
    BlobStore::open(&url, &lookup, wall_now()).expect("open the run store")
}

/// A new container on Azurite and the store on it.
pub async fn fresh_store(endpoint: &str, prefix: &str) -> BlobStore {
    let store = open(endpoint, &fresh_container(), prefix);
    store.create_container().await.expect("create the container");
    store
}

/// Processes on one `az://` run store (Azurite), each with its own state directory (as on
/// another machine), driving the runbook `rb.yaml` written into `tmp` (the `test.*` step kinds).
pub struct World {
    pub tmp: tempfile::TempDir,
    pub endpoint: String,
    pub store: BlobStore,
    pub url: String,
}

impl World {
    /// A fresh container with the prefix `team`, and `runbook` as `rb.yaml`.
    pub async fn new(endpoint: String, runbook: &str) -> World {
        let store = fresh_store(&endpoint, "team").await;
        let url = format!("az://{}/team", store.container());
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("rb.yaml"), runbook).unwrap();
        World { tmp, endpoint, store, url }
    }

    pub fn state(&self, name: &str) -> std::path::PathBuf {
        self.tmp.path().join(name)
    }

    /// The binary as a process with its own state directory, on the run store (15 s leases).
    pub fn cmd(&self, state: &str) -> std::process::Command {
        let mut c = crate::support::cli::lifeboat();
        c.env("LIFEBOAT_STATE_DIR", self.state(state))
            .env("LIFEBOAT_TEST_STEPS", "1")
            .env("LIFEBOAT_RUN_STORE_LEASE", "15s")
            .env("LIFEBOAT_RUN_STORE", &self.url);
        for (k, v) in azurite_env(&self.endpoint) {
            c.env(k, v);
        }
        c
    }

    /// `run rb.yaml` as `run_id`, its effects in `fx-<run_id>`.
    pub fn run(&self, state: &str, run_id: &str) -> std::process::Command {
        let mut c = self.cmd(state);
        c.arg("run")
            .arg(self.tmp.path().join("rb.yaml"))
            .arg("--set")
            .arg(format!("fx={}", self.tmp.path().join(format!("fx-{run_id}")).display()))
            .args(["--run-id", run_id]);
        c
    }

    /// The run's record: its journal blob (empty when there is none).
    pub async fn journal(&self, run_id: &str) -> Vec<u8> {
        let got = self
            .store
            .get(&lifeboat::runstore::remote::journal_blob(run_id))
            .await
            .expect("read the journal blob");
        got.map(|(b, _)| b.to_vec()).unwrap_or_default()
    }

    /// `status RUN --output json` from the state directory `state`.
    pub fn status(&self, state: &str, run_id: &str) -> serde_json::Value {
        let out = self.cmd(state).args(["status", run_id, "--output", "json"]).output().unwrap();
        assert!(out.status.success(), "status: {}", crate::support::cli::text(&out));
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }
}
