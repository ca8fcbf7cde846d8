//! The backup store: an `object_store` (local directory or Azure Blob) where every write is a
//! create-only conditional put (`PutMode::Create`), so nothing is ever overwritten: a store on an
//! immutable (WORM) container works, and two concurrent writers cannot corrupt each other.
//!
//! Layout under the store root:
//! - `config`: created once; says whether the store is encrypted (and to which recipients, by
//!   fingerprint), immutable, and how content addresses are computed. Never encrypted.
//! - `objects/<2 hex>/<sha256>`: one sealed resource body per content address, and
//!   `objects/<2 hex>/<sha256>.repair-<n>` (n = 1, 2, …): a fresh copy written by `create` when
//!   the copies before it were found damaged. Readers take the first copy that verifies.
//! - `snapshots/<YYYYMMDDTHHMMSSZ>-<id>.json`: sealed manifests, written last, and next to each
//!   one of a signed store `<…>.json.sig`, its Ed25519 signature (see `auth.rs`).
//! - `locks/<kind>-<id>.json`: leases of running `create`s and `prune`s (see `lease.rs`).
//!
//! Every content address that becomes a path (from a manifest, a listing or an argument) is
//! first checked to be 64 lowercase hex characters ([`check_hash`]).

use super::auth::{Pin, SigningKey};
use super::canonical::VOLATILE_FIELDS;
use super::crypto::{DecryptFailure, Identities, Recipients};
use super::BackupError;
use crate::clock::{Clock, SystemClock};
use crate::digest::sha256_hex;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

/// Value of [`StoreConfig::format`].
pub const FORMAT: &str = "lifeboat-backup";
/// Value of [`StoreConfig::version`]; bumped on any incompatible layout change.
pub const FORMAT_VERSION: u32 = 1;
/// The store's config file, at the root of the store.
pub const CONFIG_PATH: &str = "config";

/// The keys a command was given: recipients to write an encrypted store, identities to read it,
/// a signing key to sign new snapshots, a verification key (pinned from outside the store) to
/// authenticate them.
#[derive(Debug, Default)]
pub struct Keys {
    pub recipients: Option<Recipients>,
    pub identities: Option<Identities>,
    pub signing: Option<SigningKey>,
    pub verify: Option<Pin>,
}

/// The store's `config` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreConfig {
    pub format: String,
    pub version: u32,
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// `None` for a store in clear.
    pub encryption: Option<Encryption>,
    /// A store declared immutable (WORM) is never pruned: lifeboat refuses any delete.
    pub immutable: bool,
    /// `sha256`.
    pub hash: String,
    /// How bodies are serialized before hashing: `json-sorted-keys-compact`.
    pub canonicalization: String,
    /// Paths left out of the content address (kept in the stored body).
    pub volatile_fields: Vec<String>,
    /// Set when the store was created with a signing key: every snapshot must carry a valid
    /// signature by this key. Absent from stores created before signatures existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
}

/// How the snapshots of a store are authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    /// `ed25519`.
    pub scheme: String,
    /// The raw 32-byte public key, base64.
    pub public_key: String,
    /// `SHA256:<hex>` of the raw public key.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// `age-x25519`.
    pub scheme: String,
    /// SHA-256 of the sorted recipients' public keys.
    pub recipients_fingerprint: String,
    /// The recipients' public keys (public by nature): lets a reader tell a wrong identity
    /// (exit 2) from a damaged file (exit 1).
    pub recipients: Vec<String>,
}

impl StoreConfig {
    pub fn encrypted(&self) -> bool {
        self.encryption.is_some()
    }
}

/// How to give an `az://` store (backup or run store) a credential: the one hint both use.
pub const AZURE_STORAGE_CREDENTIAL_HINT: &str =
    "set AZURE_STORAGE_ACCOUNT_NAME and a credential (AZURE_STORAGE_ACCOUNT_KEY, \
     AZURE_STORAGE_SAS_KEY, a service principal or managed identity), or \
     AZURE_STORAGE_USE_EMULATOR=true for Azurite";

/// What a create-only put found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    AlreadyExisted,
}

/// An opened backup store.
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    url: String,
    keys: Keys,
    config: OnceLock<StoreConfig>,
    /// The clock of lease times (the wall clock; tests substitute one).
    clock: Arc<dyn Clock>,
    /// Whether the "unauthenticated snapshots" warning was given (once per store and process).
    pub(crate) warned_unauthenticated: AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish_non_exhaustive()
    }
}

/// How many stores this process opened, by URL ([`Store::open`]).
static OPENED: std::sync::Mutex<std::collections::BTreeMap<String, u32>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// How many times this process opened a store at `url`: a command opens its store once and
/// shares it (tests check it).
pub fn times_opened(url: &str) -> u32 {
    OPENED.lock().unwrap_or_else(|p| p.into_inner()).get(url).copied().unwrap_or(0)
}

impl Store {
    /// Opens a store: a local directory (a path or `file://` URL; created if missing) or
    /// `az://container/prefix`, whose credentials come from the usual `AZURE_STORAGE_*`
    /// variables (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`,
    /// `AZURE_STORAGE_SAS_KEY`, `AZURE_STORAGE_ENDPOINT`, `AZURE_STORAGE_USE_EMULATOR=true` for
    /// Azurite, …). Nothing is read or written until a command needs it.
    pub fn open(url: &str, keys: Keys) -> Result<Store, BackupError> {
        Self::open_with(url, keys, &[])
    }

    /// Like [`Store::open`], with Azure settings that take precedence over the environment
    /// (tests point it at Azurite this way without touching process-wide variables).
    pub fn open_with(
        url: &str,
        keys: Keys,
        azure: &[(AzureConfigKey, String)],
    ) -> Result<Store, BackupError> {
        let inner: Arc<dyn ObjectStore> = if let Some(rest) = url.strip_prefix("az://") {
            let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if container.is_empty() {
                return Err(BackupError::usage(
                    format!("backup store `{url}` names no container"),
                    "write it as az://CONTAINER or az://CONTAINER/PREFIX",
                ));
            }
            let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(container);
            for (k, v) in azure {
                builder = builder.with_config(*k, v);
            }
            // No proxy for Azurite or the metadata service (see `azure::http`).
            let builder = crate::azure::http::object_store_azure(builder);
            let azure = builder.build().map_err(|e| {
                BackupError::usage(
                    format!("backup store `{url}` cannot be opened: {e}"),
                    AZURE_STORAGE_CREDENTIAL_HINT,
                )
            })?;
            let prefix = prefix.trim_matches('/');
            if prefix.is_empty() {
                Arc::new(azure)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(azure, prefix))
            }
        } else if url.contains("://") && !url.starts_with("file://") {
            return Err(BackupError::usage(
                format!("backup store `{url}` has an unsupported scheme"),
                "use a directory path or az://container/prefix",
            ));
        } else {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            std::fs::create_dir_all(dir).map_err(|e| {
                BackupError::usage(
                    format!("backup store directory `{dir}` cannot be created: {e}"),
                    "check the path and its permissions, or pass another --backup-store",
                )
            })?;
            let local = LocalFileSystem::new_with_prefix(dir).map_err(|e| {
                BackupError::usage(
                    format!("backup store directory `{dir}` cannot be opened: {e}"),
                    "check the path",
                )
            })?;
            Arc::new(local)
        };
        *OPENED.lock().unwrap_or_else(|p| p.into_inner()).entry(url.to_string()).or_insert(0) += 1;
        Ok(Store::from_parts(inner, url, keys))
    }

    fn from_parts(inner: Arc<dyn ObjectStore>, url: &str, keys: Keys) -> Store {
        Store {
            inner,
            url: url.to_string(),
            keys,
            config: OnceLock::new(),
            clock: Arc::new(SystemClock),
            warned_unauthenticated: AtomicBool::new(false),
        }
    }

    /// The same store with another clock for lease times (tests of lease expiry).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Store {
        self.clock = clock;
        self
    }

    /// Now, by the store's clock (lease times).
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The underlying object store, for tests that damage a store on purpose and for tools.
    /// lifeboat itself only writes through the create-only methods of [`Store`].
    pub fn inner(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    /// Creates the store's config if there is none (encrypted iff recipients were given), or
    /// checks that the existing one fits the keys given. Used by writers.
    pub async fn init(
        &self,
        immutable: bool,
        now: OffsetDateTime,
    ) -> Result<&StoreConfig, BackupError> {
        if self.read_config().await?.is_none() {
            let config = StoreConfig {
                format: FORMAT.into(),
                version: FORMAT_VERSION,
                id: uuid::Uuid::new_v4().simple().to_string(),
                created: now,
                encryption: self.keys.recipients.as_ref().map(|r| Encryption {
                    scheme: "age-x25519".into(),
                    recipients_fingerprint: r.fingerprint(),
                    recipients: r.public_keys(),
                }),
                immutable,
                hash: "sha256".into(),
                canonicalization: "json-sorted-keys-compact".into(),
                volatile_fields: VOLATILE_FIELDS.iter().map(|p| p.join(".")).collect(),
                authentication: self.keys.signing.as_ref().map(|k| k.verify_key().declaration()),
            };
            let content = serde_json::to_vec(&config)
                .map_err(|e| BackupError::internal(format!("cannot serialize the config: {e}")))?;
            // A racing writer may create it first: then theirs is the config, and is checked below.
            self.put_create(&Path::from(CONFIG_PATH), seal_clear(&content)).await?;
        }
        let config = self.config().await?;
        super::auth::check_writer(self, config)?;
        match (&config.encryption, &self.keys.recipients) {
            (Some(_), None) => Err(BackupError::usage(
                format!("backup store `{}` is encrypted and no recipient was given", self.url),
                "pass --recipient age1... (repeatable), --recipients-file FILE or set \
                 LIFEBOAT_BACKUP_RECIPIENTS to the store's public keys",
            )),
            (None, Some(_)) => Err(BackupError::usage(
                format!(
                    "backup store `{}` is not encrypted; lifeboat does not mix encrypted and clear snapshots in one store",
                    self.url
                ),
                "drop the recipients, or use a new store for encrypted backups",
            )),
            (Some(enc), Some(r)) if enc.recipients_fingerprint != r.fingerprint() => {
                Err(BackupError::usage(
                    format!(
                        "the recipients given do not match those of backup store `{}`",
                        self.url
                    ),
                    "pass exactly the public keys the store was created with (its config records their fingerprint)",
                ))
            }
            _ => Ok(config),
        }
    }

    /// The store's config; an error if the store has none (nothing was ever backed up there).
    pub async fn config(&self) -> Result<&StoreConfig, BackupError> {
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        let Some(config) = self.read_config().await? else {
            return Err(BackupError::usage(
                format!("no backup store at `{}`", self.url),
                "run `lifeboat backup create` first, or check --backup-store",
            ));
        };
        Ok(self.config.get_or_init(|| config))
    }

    async fn read_config(&self) -> Result<Option<StoreConfig>, BackupError> {
        if let Some(c) = self.config.get() {
            return Ok(Some(c.clone()));
        }
        let Some(bytes) = self.get(&Path::from(CONFIG_PATH)).await? else {
            return Ok(None);
        };
        let content = unseal_clear(&bytes).map_err(|e| {
            BackupError::integrity(format!(
                "the config of backup store `{}` is damaged: {e}",
                self.url
            ))
        })?;
        let config: StoreConfig = serde_json::from_slice(content).map_err(|e| {
            BackupError::integrity(format!(
                "the config of backup store `{}` is not understood: {e}",
                self.url
            ))
        })?;
        if config.format != FORMAT || config.version != FORMAT_VERSION {
            return Err(BackupError::usage(
                format!(
                    "backup store `{}` has format {} version {}, this lifeboat reads {FORMAT} version {FORMAT_VERSION}",
                    self.url, config.format, config.version
                ),
                "use a lifeboat version that matches the store",
            ));
        }
        Ok(Some(self.config.get_or_init(|| config).clone()))
    }

    /// Seals a document's JSON bytes for storage: the envelope, then encryption if the store is
    /// encrypted.
    pub(crate) fn seal(
        &self,
        config: &StoreConfig,
        content: &[u8],
    ) -> Result<Vec<u8>, BackupError> {
        let clear = seal_clear(content);
        if config.encrypted() {
            let r = self.keys.recipients.as_ref().ok_or_else(|| {
                BackupError::usage(
                    format!("backup store `{}` is encrypted and no recipient was given", self.url),
                    "pass --recipient, --recipients-file or set LIFEBOAT_BACKUP_RECIPIENTS",
                )
            })?;
            r.encrypt(&clear)
        } else {
            Ok(clear)
        }
    }

    /// Whether this store can read sealed documents (clear, or encrypted with an identity given).
    pub fn can_read(&self, config: &StoreConfig) -> bool {
        !config.encrypted() || self.keys.identities.is_some()
    }

    /// Ok when sealed documents can be read: a clear store, or an encrypted one with an identity
    /// that is one of its recipients. Otherwise the usage error (exit 2) saying what to pass.
    pub fn check_readable(&self, config: &StoreConfig) -> Result<(), BackupError> {
        if !config.encrypted() {
            return Ok(());
        }
        if self.keys.identities.is_none() {
            return Err(no_identity(&self.url));
        }
        if !self.identity_is_recipient(config) {
            return Err(BackupError::usage(
                format!(
                    "the identity given is not one of the recipients of backup store `{}`",
                    self.url
                ),
                "pass the matching key with --identity-file or LIFEBOAT_BACKUP_IDENTITY",
            ));
        }
        Ok(())
    }

    /// Whether one of the identities given is a recipient recorded in the store's config.
    pub fn identity_is_recipient(&self, config: &StoreConfig) -> bool {
        match (&self.keys.identities, &config.encryption) {
            (Some(ids), Some(enc)) => {
                ids.recipients().public_keys().iter().any(|k| enc.recipients.contains(k))
            }
            _ => false,
        }
    }

    /// Opens a sealed document and returns its JSON bytes, checked against the seal; `what`
    /// names it in errors (`object abcd…`, `snapshot 1a2b…`).
    pub(crate) fn unseal(
        &self,
        config: &StoreConfig,
        bytes: &[u8],
        what: &str,
    ) -> Result<Vec<u8>, BackupError> {
        let clear;
        let plain: &[u8] = if config.encrypted() {
            let ids = self.keys.identities.as_ref().ok_or_else(|| no_identity(&self.url))?;
            clear = ids.decrypt(bytes).map_err(|e| match e {
                DecryptFailure::NoMatchingIdentity if self.identity_is_recipient(config) => {
                    BackupError::integrity(format!(
                        "{what} is damaged: no recipient stanza opens with the store's identity"
                    ))
                }
                DecryptFailure::NoMatchingIdentity => BackupError::usage(
                    format!("the identity given cannot decrypt {what} of backup store `{}`", self.url),
                    "it is not one of the store's recipients; pass the matching key with --identity-file or LIFEBOAT_BACKUP_IDENTITY",
                ),
                DecryptFailure::Corrupt(e) => {
                    BackupError::integrity(format!("{what} is damaged: decryption failed: {e}"))
                }
            })?;
            &clear
        } else {
            bytes
        };
        unseal_clear(plain)
            .map(<[u8]>::to_vec)
            .map_err(|e| BackupError::integrity(format!("{what} is damaged: {e}")))
    }

    /// Create-only put: `AlreadyExisted` if something is already at `path` (never overwritten).
    pub(crate) async fn put_create(
        &self,
        path: &Path,
        bytes: Vec<u8>,
    ) -> Result<PutOutcome, BackupError> {
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.inner.put_opts(path, PutPayload::from(bytes), opts).await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::AlreadyExisted),
            // Azure answers a conditional put that lost a race with 409 or 412.
            Err(object_store::Error::Precondition { .. }) => Ok(PutOutcome::AlreadyExisted),
            Err(e) => Err(BackupError::storage(
                format!("cannot write `{path}` to backup store `{}`", self.url),
                e,
            )),
        }
    }

    pub(crate) async fn get(&self, path: &Path) -> Result<Option<Bytes>, BackupError> {
        match self.inner.get(path).await {
            Ok(r) => r.bytes().await.map(Some).map_err(|e| {
                BackupError::storage(
                    format!("cannot read `{path}` from backup store `{}`", self.url),
                    e,
                )
            }),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(BackupError::storage(
                format!("cannot read `{path}` from backup store `{}`", self.url),
                e,
            )),
        }
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, BackupError> {
        self.inner.list(Some(&Path::from(prefix))).try_collect().await.map_err(|e| {
            BackupError::storage(
                format!("cannot list `{prefix}` in backup store `{}`", self.url),
                e,
            )
        })
    }

    pub(crate) async fn delete(&self, path: &Path) -> Result<(), BackupError> {
        match self.inner.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BackupError::storage(
                format!("cannot delete `{path}` from backup store `{}`", self.url),
                e,
            )),
        }
    }
}

/// Whether `hash` is a content address: exactly 64 lowercase hex characters.
pub fn is_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Ok when `hash` is a content address; otherwise an integrity error naming `what` (where the
/// value came from) and the value, escaped so that no control or bidirectional character reaches
/// a terminal.
pub fn check_hash(hash: &str, what: &str) -> Result<(), BackupError> {
    if is_hash(hash) {
        return Ok(());
    }
    let mut shown: String = hash.chars().take(80).flat_map(char::escape_default).collect();
    if hash.chars().count() > 80 {
        shown.push('…');
    }
    Err(BackupError::integrity(format!(
        "{what} holds the hash \"{shown}\", which is not a content address (64 lowercase hex characters): the file is damaged or forged"
    )))
}

/// The most copies of one object: the original and up to 15 repairs.
pub const MAX_COPIES: u32 = 16;

/// Where copy `copy` of the object with content address `hash` lives: 0 is the original
/// (`objects/ab/<hash>`), n > 0 the nth repair (`objects/ab/<hash>.repair-<n>`). The hash is
/// checked first: a path is never built from anything else.
pub fn object_copy_path(hash: &str, copy: u32) -> Result<Path, BackupError> {
    check_hash(hash, "an object reference")?;
    Ok(match copy {
        0 => Path::from(format!("objects/{}/{hash}", &hash[..2])),
        n => Path::from(format!("objects/{}/{hash}.repair-{n}", &hash[..2])),
    })
}

/// Where the original copy of the object with content address `hash` lives.
pub fn object_path(hash: &str) -> Result<Path, BackupError> {
    object_copy_path(hash, 0)
}

/// The content address and copy number of an object path, if it is one.
pub fn parse_object_path(path: &Path) -> Option<(String, u32)> {
    let rest = path.as_ref().strip_prefix("objects/")?;
    let (dir, name) = rest.split_once('/')?;
    let (hash, copy) = match name.split_once(".repair-") {
        None => (name, 0),
        Some((hash, n)) => {
            // Digits only, no leading zero: one spelling per copy.
            if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (hash, n.parse::<u32>().ok().filter(|n| *n < MAX_COPIES)?)
        }
    };
    (is_hash(hash) && hash.starts_with(dir) && dir.len() == 2).then(|| (hash.to_string(), copy))
}

/// The content address of an object path (any copy), if it is one.
pub fn hash_of_object_path(path: &Path) -> Option<String> {
    parse_object_path(path).map(|(h, _)| h)
}

/// The error for an encrypted store read without an identity (exit 2).
pub fn no_identity(url: &str) -> BackupError {
    BackupError::usage(
        format!("backup store `{url}` is encrypted and no identity was given to read it"),
        "pass --identity-file FILE, or set LIFEBOAT_BACKUP_IDENTITY to the path of an age \
         identity file or to the AGE-SECRET-KEY-1... key itself",
    )
}

const SEAL_HEAD: &[u8] = b"{\"content\":";
const SEAL_MID: &[u8] = b",\"sha256\":\"";
const SEAL_TAIL: &[u8] = b"\"}";

/// The envelope `{"content":<content>,"sha256":"<sha256 of the content bytes>"}`: valid JSON,
/// built without re-serializing the content (a 50,000-repo manifest is never copied as a tree).
fn seal_clear(content: &[u8]) -> Vec<u8> {
    let hash = sha256_hex(content);
    let mut out = Vec::with_capacity(content.len() + 96);
    out.extend_from_slice(SEAL_HEAD);
    out.extend_from_slice(content);
    out.extend_from_slice(SEAL_MID);
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(SEAL_TAIL);
    out
}

/// The content bytes of an envelope, if its seal matches them exactly: any change to any byte
/// breaks the frame or the hash.
fn unseal_clear(bytes: &[u8]) -> Result<&[u8], String> {
    let rest = bytes.strip_prefix(SEAL_HEAD).ok_or("not a sealed document (bad start)")?;
    let rest = rest.strip_suffix(SEAL_TAIL).ok_or("not a sealed document (bad end)")?;
    if rest.len() < SEAL_MID.len() + 64 {
        return Err("not a sealed document (too short)".into());
    }
    let (content, seal) = rest.split_at(rest.len() - SEAL_MID.len() - 64);
    let recorded = seal.strip_prefix(SEAL_MID).ok_or("not a sealed document (no seal)")?;
    let actual = sha256_hex(content);
    if actual.as_bytes() != recorded {
        return Err(format!(
            "seal mismatch (recorded {}, computed {actual})",
            String::from_utf8_lossy(recorded)
        ));
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::canonical::to_canonical_bytes;
    use serde_json::{json, Value};

    #[test]
    fn seal_detects_every_single_byte_change() {
        let doc = json!({"id":"x","etag":"abc","properties":{"provisioningStatusUpdateTimeUtc":"2024-01-01T00:00:00Z"}});
        let content = to_canonical_bytes(&doc);
        let sealed = seal_clear(&content);
        assert_eq!(unseal_clear(&sealed).unwrap(), content.as_slice());
        let parsed: Value = serde_json::from_slice(&sealed).expect("an envelope is JSON");
        assert_eq!(parsed["content"], doc);
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut b = sealed.clone();
                b[i] ^= 1 << bit;
                assert!(unseal_clear(&b).is_err(), "flip of bit {bit} at {i} undetected");
            }
        }
    }

    #[test]
    fn object_paths_round_trip() {
        let h = "ab".repeat(32);
        assert_eq!(hash_of_object_path(&object_path(&h).unwrap()), Some(h.clone()));
        assert_eq!(parse_object_path(&object_copy_path(&h, 3).unwrap()), Some((h.clone(), 3)));
        assert_eq!(hash_of_object_path(&Path::from("objects/zz/abc")), None);
        for bad in ["repair-0", "repair-01", "repair-", "repair-x", "repair-16"] {
            let p = Path::from(format!("objects/ab/{h}.{bad}"));
            assert_eq!(parse_object_path(&p), None, "{p}");
        }
        assert_eq!(parse_object_path(&Path::from(format!("objects/ab/{}", "AB".repeat(32)))), None);
    }

    /// A hash with multi-byte characters (byte 2 inside a character) is refused, never sliced.
    #[test]
    fn defect_10_multibyte_hash_is_an_error_not_a_panic() {
        let (long, upper) = ("aé".repeat(21), "A".repeat(64));
        for bad in ["aé", long.as_str(), "€€", "", "../../config", upper.as_str()] {
            let err = object_path(bad).unwrap_err().to_string();
            assert!(err.contains("not a content address"), "{err}");
            assert!(!err.chars().any(|c| c.is_control()), "{err:?}");
        }
        let padded = format!("{}é", "a".repeat(63));
        assert_eq!(padded.len(), 65);
        assert!(object_path(&padded).is_err());
    }
}
