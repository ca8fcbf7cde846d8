//! What the two backup targets share: a throw-away local store (under /dev/shm when it exists),
//! a single-threaded runtime, and the seal of a stored file, as `backup::store` writes it.

use lifeboat::backup::{Keys, Store};
use object_store::path::Path as StorePath;
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use time::OffsetDateTime;

/// The time every store and baseline snapshot of the targets is created at.
pub fn fixed_now() -> OffsetDateTime {
    time::macros::datetime!(2025-01-01 00:00:00 UTC)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

/// A fresh directory for this process's stores. Directories left by earlier processes of the
/// same target (libFuzzer ends with `exit`, so nothing cleans up) are removed once their
/// process is gone.
pub fn scratch_dir(target: &str) -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let prefix = format!("lifeboat-fuzz-{target}-");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(&prefix) {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    let dir = base.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Opens (and initialises) a store in `dir`.
pub fn open_store(rt: &tokio::runtime::Runtime, dir: &std::path::Path, keys: Keys) -> Store {
    let store = Store::open(dir.to_str().expect("a UTF-8 path"), keys).expect("store opens");
    rt.block_on(store.init(false, fixed_now())).expect("store config");
    store
}

/// `{"content":<content>,"sha256":"<hex>"}`: the envelope of every stored file.
pub fn seal(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 96);
    out.extend_from_slice(b"{\"content\":");
    out.extend_from_slice(content);
    out.extend_from_slice(b",\"sha256\":\"");
    out.extend_from_slice(hex::encode(Sha256::digest(content)).as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

/// Writes `bytes` at `path`, replacing what is there (the targets play the attacker who edits
/// the store; lifeboat itself only creates).
pub async fn put(store: &Store, path: &StorePath, bytes: Vec<u8>) {
    store.inner().put(path, bytes.into()).await.expect("scratch store write");
}

pub async fn delete(store: &Store, path: &StorePath) {
    let _ = store.inner().delete(path).await;
}
