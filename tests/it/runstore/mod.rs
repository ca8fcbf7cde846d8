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
