//! The backup object reader and decoder: arbitrary bytes as a stored object, read by
//! `backup::snapshot::load_object` (age decryption for an encrypted store, the seal, JSON, the
//! canonical form, the content address), as `restore`, `diff`, `verify --read-data` and the
//! `backup.load` step do.
//!
//! Two real local stores in a scratch directory, created once per process: one in clear, one
//! encrypted to an age key generated at start. Each input is written as the object at the
//! address of its content (`content_hash` of the input when it is JSON, else its SHA-256), in
//! each store:
//! - as given (the stored file itself: the seal, or the age file, is fuzzed);
//! - sealed here (the input is the object's JSON content), and, in the encrypted store, sealed
//!   and encrypted, so the reader gets past the envelope to the JSON checks.
//!
//! Invariant: no panic. A damaged object is an error.
#![no_main]

#[path = "common/store.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use lifeboat::backup::canonical::content_hash;
use lifeboat::backup::snapshot::load_object;
use lifeboat::backup::store::object_path;
use lifeboat::backup::{Identities, Keys, Recipients, Store};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

struct World {
    rt: tokio::runtime::Runtime,
    clear: Store,
    encrypted: Store,
    recipients: Recipients,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        use age::secrecy::ExposeSecret;
        let rt = common::runtime();
        let dir = common::scratch_dir("backup_object");
        let clear = common::open_store(&rt, &dir.join("clear"), Keys::default());
        // A key of this process only: it protects nothing.
        let secret = age::x25519::Identity::generate().to_string().expose_secret().to_string();
        let ids = Identities::load(&secret, "fuzz").expect("generated identity loads");
        let recipients = ids.recipients();
        let keys = Keys { recipients: Some(ids.recipients()), identities: Some(ids), ..Keys::default() };
        let encrypted = common::open_store(&rt, &dir.join("encrypted"), keys);
        World { rt, clear, encrypted, recipients }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let hash = match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(body) => content_hash(&body),
        Err(_) => hex::encode(Sha256::digest(data)),
    };
    // Both hashes are 64 lowercase hex characters, so the path always exists.
    let path = object_path(&hash).expect("a sha256 hex digest is a valid object address");
    let sealed = common::seal(data);
    let mut files = vec![(&w.clear, data.to_vec()), (&w.clear, sealed.clone())];
    files.push((&w.encrypted, data.to_vec()));
    if let Ok(ciphertext) = w.recipients.encrypt(&sealed) {
        files.push((&w.encrypted, ciphertext));
    }
    w.rt.block_on(async {
        for (store, bytes) in files {
            common::put(store, &path, bytes).await;
            match load_object(store, &hash).await {
                Ok(body) => {
                    assert_eq!(
                        content_hash(&body),
                        hash,
                        "load_object returned a body that is not at its address"
                    );
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
            common::delete(store, &path).await;
        }
    });
});
