//! Authenticated snapshots: an Ed25519 signature of each manifest file.
//!
//! The seal of a stored file is a bare SHA-256 and the writers of an encrypted store hold only
//! public keys, so anyone who can write to the store can forge a snapshot that seals, decrypts
//! and re-hashes perfectly. Authentication needs a secret the forger lacks. A MAC key carried
//! inside the store (even encrypted to the recipients) does not help: a forger with the public
//! keys can put their own MAC key there. So the writer holds an Ed25519 *signing key* (a
//! pipeline secret, like its storage credential), and readers check signatures against the
//! *public* key, which is not secret and can be pinned anywhere (a runbook, a variable).
//!
//! - `<manifest>.sig` (next to `snapshots/<time>-<id>.json`, written just before the manifest,
//!   create-only) holds the signature of
//!   `lifeboat-backup-manifest-v1:<store id>:<manifest path>:<sha256 of the manifest file>`.
//!   The manifest file is the stored bytes (ciphertext in an encrypted store), so nothing is
//!   decrypted to check it and nothing of the plaintext is revealed. Objects are covered through
//!   the manifest: it names their content addresses, and every read re-hashes an object.
//! - A store created with a signing key declares the public key in its config
//!   ([`Authentication`]): from then on an unsigned snapshot, or one signed by another key, is
//!   refused. A reader may pin the key from outside the store (`--verify-key`,
//!   `LIFEBOAT_BACKUP_VERIFY_KEY`: a public key PEM file, the PEM itself, or its fingerprint
//!   `SHA256:<hex>`); only a pinned key resists someone who can rewrite the whole store,
//!   config included. With a pinned key every snapshot must be signed by it.
//! - Stores without a declaration and readers without a pinned key accept unsigned snapshots
//!   (older stores) with a loud "unauthenticated snapshot" warning.
//!
//! Private keys are never written, printed or quoted in errors; public keys are shown only by
//! fingerprint.

use super::store::{Authentication, Store, StoreConfig};
use super::BackupError;
use crate::digest::sha256_hex;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signature, Signer, Verifier, VerifyingKey};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

/// `format` of a signature file.
pub const SIGNATURE_FORMAT: &str = "lifeboat-backup-signature";
pub const SCHEME: &str = "ed25519";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A writer's Ed25519 private key. `Debug` never shows it.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, redacted)", self.verify_key().fingerprint())
    }
}

impl SigningKey {
    pub fn new(key: ed25519_dalek::SigningKey) -> Self {
        SigningKey(key)
    }

    /// Reads a PKCS#8 PEM private key from `source`: the PEM itself if it starts with
    /// `-----BEGIN`, otherwise the path of a file. `origin` names the flag or variable. Errors
    /// never quote the key.
    pub fn load(source: &str, origin: &str) -> Result<Self, BackupError> {
        let (text, from) = read_pem(source, origin, "signing key")?;
        ed25519_dalek::SigningKey::from_pkcs8_pem(&text).map(SigningKey).map_err(|_| {
            BackupError::usage(
                format!("the signing key from {from} is not an Ed25519 private key in PKCS#8 PEM"),
                "write a key pair with `lifeboat audit keygen --out DIR` and pass its `.key` file",
            )
        })
    }

    pub fn verify_key(&self) -> VerifyKey {
        VerifyKey(self.0.verifying_key())
    }
}

/// An Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyKey(VerifyingKey);

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyKey({})", self.fingerprint())
    }
}

impl VerifyKey {
    pub fn new(key: VerifyingKey) -> Self {
        VerifyKey(key)
    }

    /// `SHA256:<hex>` of the 32 raw key bytes (the form `audit keygen` prints).
    pub fn fingerprint(&self) -> String {
        fingerprint_of(self.0.as_bytes())
    }

    /// What a store config records.
    pub fn declaration(&self) -> Authentication {
        Authentication {
            scheme: SCHEME.into(),
            public_key: B64.encode(self.0.as_bytes()),
            fingerprint: self.fingerprint(),
        }
    }

    fn from_base64(b64: &str) -> Option<VerifyKey> {
        let bytes: [u8; 32] = B64.decode(b64).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok().map(VerifyKey)
    }
}

fn fingerprint_of(raw: &[u8]) -> String {
    format!("SHA256:{}", sha256_hex(raw))
}

/// The key a reader trusts, pinned from outside the store: the key itself, or only its
/// fingerprint (then the key comes from the store and must match it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    Key(VerifyKey),
    Fingerprint(String),
}

impl Pin {
    /// Reads `--verify-key` / `LIFEBOAT_BACKUP_VERIFY_KEY`: `SHA256:<64 hex>`, a public key PEM
    /// (`-----BEGIN PUBLIC KEY-----…`), or the path of a PEM file.
    pub fn load(source: &str, origin: &str) -> Result<Pin, BackupError> {
        let s = source.trim();
        if let Some(hex) = s.strip_prefix("SHA256:") {
            let hex = hex.to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(BackupError::usage(
                    format!("the verification key fingerprint from {origin} is not SHA256: and 64 hex characters"),
                    "give the fingerprint `lifeboat audit keygen` printed, or the public key file",
                ));
            }
            return Ok(Pin::Fingerprint(format!("SHA256:{hex}")));
        }
        let (text, from) = read_pem(s, origin, "verification key")?;
        VerifyingKey::from_public_key_pem(&text).map(|k| Pin::Key(VerifyKey(k))).map_err(|_| {
            BackupError::usage(
                format!("the verification key from {from} is not an Ed25519 public key in PEM"),
                "pass the `.pub` file written by `lifeboat audit keygen`, or its fingerprint SHA256:…",
            )
        })
    }

    pub fn fingerprint(&self) -> String {
        match self {
            Pin::Key(k) => k.fingerprint(),
            Pin::Fingerprint(f) => f.clone(),
        }
    }
}

fn read_pem(source: &str, origin: &str, what: &str) -> Result<(String, String), BackupError> {
    if source.trim_start().starts_with("-----BEGIN") {
        return Ok((source.to_string(), origin.to_string()));
    }
    let text = std::fs::read_to_string(source).map_err(|e| {
        BackupError::usage(
            format!("the {what} file {} from {origin} cannot be read: {e}", shown_path(source)),
            "give the path of a PEM file (or, in the variable, the PEM text itself)",
        )
    })?;
    Ok((text, shown_path(source)))
}

/// A value taken for a path, quoted in messages only when it cannot be key material (a mangled
/// key in a variable is read as a path and must not be echoed).
pub(crate) fn shown_path(source: &str) -> String {
    let upper = source.to_ascii_uppercase();
    let marked = ["PRIVATE KEY", "SECRET-KEY", "-----"].iter().any(|m| upper.contains(m));
    // Key material is long runs of base64 or bech32; path components are short and dotted.
    let longest_run = source
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .map(str::len)
        .max()
        .unwrap_or(0);
    if source.len() > 256 || source.chars().any(char::is_whitespace) || marked || longest_run >= 40
    {
        "(the value given: not shown, it may be a key)".to_string()
    } else {
        format!("`{source}`")
    }
}

/// A writer of `config`'s store must sign with the declared key (exit 2 otherwise, before
/// anything is written).
pub(crate) fn check_writer(store: &Store, config: &StoreConfig) -> Result<(), BackupError> {
    let Some(auth) = &config.authentication else { return Ok(()) };
    match &store.keys().signing {
        None => Err(BackupError::usage(
            format!(
                "the snapshots of backup store `{}` are signed (key {}) and no signing key was given",
                store.url(),
                auth.fingerprint
            ),
            "pass --signing-key FILE or set LIFEBOAT_BACKUP_SIGNING_KEY to the store's Ed25519 private key (PKCS#8 PEM)",
        )),
        Some(k) if k.verify_key().fingerprint() != auth.fingerprint => Err(BackupError::usage(
            format!(
                "the signing key given ({}) is not the key of backup store `{}` ({})",
                k.verify_key().fingerprint(),
                store.url(),
                auth.fingerprint
            ),
            "pass the private key the store was created with",
        )),
        Some(_) => Ok(()),
    }
}

/// Where the signature of the manifest at `manifest` lives.
pub fn signature_path(manifest: &Path) -> Path {
    Path::from(format!("{manifest}.sig"))
}

/// The manifest a signature file belongs to, if `path` is one.
pub fn manifest_of_signature(path: &Path) -> Option<Path> {
    let s = path.as_ref();
    s.starts_with("snapshots/").then_some(())?;
    s.strip_suffix(".json.sig").map(|m| Path::from(format!("{m}.json")))
}

/// The signed message.
fn message(store_id: &str, manifest: &Path, sha256: &str) -> Vec<u8> {
    format!("lifeboat-backup-manifest-v1:{store_id}:{manifest}:{sha256}").into_bytes()
}

#[derive(Debug, Serialize, Deserialize)]
struct SignatureFile {
    format: String,
    version: u32,
    scheme: String,
    /// Raw public key, base64 (for stores that declare no key and readers that pin none).
    public_key: String,
    fingerprint: String,
    store: String,
    manifest: String,
    /// SHA-256 of the manifest file's exact bytes.
    sha256: String,
    signature: String,
}

/// The signature file of `manifest_bytes` stored at `manifest` in the store `store_id`.
pub(crate) fn sign(
    key: &SigningKey,
    store_id: &str,
    manifest: &Path,
    manifest_bytes: &[u8],
) -> Vec<u8> {
    let sha256 = sha256_hex(manifest_bytes);
    let signature = key.0.sign(&message(store_id, manifest, &sha256));
    let vk = key.verify_key();
    let file = SignatureFile {
        format: SIGNATURE_FORMAT.into(),
        version: 1,
        scheme: SCHEME.into(),
        public_key: B64.encode(vk.0.as_bytes()),
        fingerprint: vk.fingerprint(),
        store: store_id.into(),
        manifest: manifest.to_string(),
        sha256,
        signature: B64.encode(signature.to_bytes()),
    };
    // A struct of strings always serializes.
    serde_json::to_vec(&file).unwrap_or_default()
}

/// How a snapshot was found authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Authenticity {
    /// Signed by the key the store declares or the reader pinned.
    Authenticated { fingerprint: String, pinned: bool },
    /// Signed, but no key is trusted (no declaration in the config, none pinned): the signature
    /// proves nothing against a forger.
    SignedUntrusted { fingerprint: String },
    /// No signature (a store from before signatures, or one written without a signing key).
    Unsigned,
}

impl Authenticity {
    pub fn is_authenticated(&self) -> bool {
        matches!(self, Authenticity::Authenticated { .. })
    }
}

/// The key a reader expects, and where that expectation comes from.
struct Expected {
    fingerprint: String,
    key: Option<VerifyKey>,
    pinned: bool,
}

fn expected(store: &Store, config: &StoreConfig) -> Result<Option<Expected>, BackupError> {
    let declared = match &config.authentication {
        None => None,
        Some(a) => {
            let key = VerifyKey::from_base64(&a.public_key)
                .filter(|k| a.scheme == SCHEME && k.fingerprint() == a.fingerprint)
                .ok_or_else(|| {
                    BackupError::integrity(format!(
                        "the config of backup store `{}` declares a signing key that is not a valid {SCHEME} key (the config is damaged)",
                        store.url()
                    ))
                })?;
            Some(key)
        }
    };
    Ok(match (&store.keys().verify, declared) {
        (Some(pin), Some(d)) if pin.fingerprint() != d.fingerprint() => {
            return Err(BackupError::usage(
                format!(
                    "the verification key given ({}) is not the signing key backup store `{}` declares ({}): either the key is wrong or the store's config was replaced",
                    pin.fingerprint(),
                    store.url(),
                    d.fingerprint()
                ),
                "check --verify-key / LIFEBOAT_BACKUP_VERIFY_KEY against the key the backups are signed with",
            ))
        }
        (Some(pin), d) => Some(Expected {
            fingerprint: pin.fingerprint(),
            key: match pin {
                Pin::Key(k) => Some(k.clone()),
                Pin::Fingerprint(_) => d,
            },
            pinned: true,
        }),
        (None, Some(d)) => Some(Expected { fingerprint: d.fingerprint(), key: Some(d), pinned: false }),
        (None, None) => None,
    })
}

/// Checks the signature (`sig`, the signature file's bytes if there is one) of the manifest
/// file `bytes` stored at `manifest`, `what` naming it in errors. An error (exit 1) when the
/// snapshot must be signed and is not, or when a signature does not verify; exit 2 when the
/// pinned key contradicts the store's declaration.
pub(crate) fn check(
    store: &Store,
    config: &StoreConfig,
    manifest: &Path,
    bytes: &[u8],
    sig: Option<&[u8]>,
    what: &str,
) -> Result<Authenticity, BackupError> {
    let expected = expected(store, config)?;
    let Some(sig) = sig else {
        return match expected {
            None => Ok(Authenticity::Unsigned),
            Some(e) => Err(BackupError::integrity(format!(
                "{what} is not signed, and every snapshot of this store must be signed by key {} ({}): refused as unauthenticated (it may be forged)",
                e.fingerprint,
                if e.pinned { "the key given with --verify-key" } else { "the store's config declares it" }
            ))),
        };
    };
    let bad = |why: &str| {
        BackupError::integrity(format!(
            "{what} fails authentication: {why}; refused (it may be forged)"
        ))
    };
    let file: SignatureFile =
        serde_json::from_slice(sig).map_err(|_| bad("its signature file is not understood"))?;
    if file.format != SIGNATURE_FORMAT || file.version != 1 || file.scheme != SCHEME {
        return Err(bad("its signature file has an unknown format or scheme"));
    }
    if file.manifest != manifest.as_ref() || file.store != config.id {
        return Err(bad("the signature belongs to another snapshot or store"));
    }
    let sha256 = sha256_hex(bytes);
    if file.sha256 != sha256 {
        return Err(bad("the manifest is not the file that was signed"));
    }
    let own = VerifyKey::from_base64(&file.public_key)
        .ok_or_else(|| bad("its signature names no valid public key"))?;
    let key = match &expected {
        Some(e) if own.fingerprint() != e.fingerprint => {
            return Err(bad(&format!(
                "it is signed by key {}, not by the store's key {}",
                own.fingerprint(),
                e.fingerprint
            )))
        }
        Some(e) => e.key.clone().unwrap_or(own),
        None => own,
    };
    let signature: [u8; 64] = B64
        .decode(&file.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("its signature is not an Ed25519 signature"))?;
    key.0
        .verify(&message(&config.id, manifest, &sha256), &Signature::from_bytes(&signature))
        .map_err(|_| bad("the signature does not verify"))?;
    Ok(match expected {
        Some(e) => Authenticity::Authenticated { fingerprint: key.fingerprint(), pinned: e.pinned },
        None => Authenticity::SignedUntrusted { fingerprint: key.fingerprint() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::new(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let k = key(7);
        let shown = format!("{k:?}");
        assert!(shown.contains("redacted") && shown.contains("SHA256:"));
        assert!(!shown.contains(&B64.encode([7u8; 32])));
    }

    #[test]
    fn pins_parse_and_bad_ones_are_refused_without_echo() {
        let fp = key(1).verify_key().fingerprint();
        assert_eq!(Pin::load(&fp, "test").unwrap(), Pin::Fingerprint(fp.clone()));
        assert!(Pin::load("SHA256:abc", "test").is_err());
        let err = Pin::load("-----BEGIN PUBLIC KEY-----\nSECRETISH\n-----END PUBLIC KEY-----", "t")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SECRETISH"), "{err}");
        let err = SigningKey::load(
            "-----BEGIN PRIVATE KEY-----\nSECRETISH\n-----END PRIVATE KEY-----",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("SECRETISH"), "{err}");
        // A key mangled so that it is taken for a path is not echoed either.
        let body = "MC4CAQAwBQYDK2VwBCIEIOQkZ3xQ0a9Vt2n7Jz8sR4bTgUe1hYvW5cLmPq6dAfXo";
        let err = SigningKey::load(body, "t").unwrap_err().to_string();
        assert!(!err.contains("MC4CAQ"), "{err}");
        let err = SigningKey::load("/no/such/backup.key", "t").unwrap_err().to_string();
        assert!(err.contains("`/no/such/backup.key`"), "{err}");
    }

    #[test]
    fn signature_paths() {
        let m = Path::from("snapshots/20260101T000000Z-abc.json");
        assert_eq!(manifest_of_signature(&signature_path(&m)), Some(m));
        assert_eq!(manifest_of_signature(&Path::from("objects/ab/x.json.sig")), None);
    }
}
