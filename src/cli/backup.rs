//! `lifeboat backup`: take, list, show, verify, compare and prune snapshots of connector
//! configuration. Glue over [`crate::backup`]; output is a table or, with `--output json`, one
//! JSON document on stdout.

use super::{Globals, OutputFormat};
use crate::backup::arm_reader::ArmReader;
use crate::backup::ops::{tree, PruneReport};
use crate::backup::snapshot::{find_snapshot, list_snapshots, load_manifest};
use crate::backup::{
    self, AnomalyRules, ConfigReader, CreateOptions, Identities, Keys, Pin, PrunePolicy,
    Recipients, Scope, SigningKey, Store,
};
use crate::clock::{Clock, SystemClock};
use crate::error::{Exit, UserError};
use std::path::PathBuf;
use time::OffsetDateTime;

/// Keys for encrypted stores, accepted by every backup command. `Debug` hides the private keys
/// (the variables may hold the keys themselves).
#[derive(Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// age public key (`age1...`) to encrypt a new or encrypted store to; repeatable
    #[arg(
        long = "recipient",
        value_name = "AGE1...",
        env = "LIFEBOAT_BACKUP_RECIPIENTS",
        value_delimiter = ','
    )]
    pub recipients: Vec<String>,

    /// File of age public keys, one per line (`#` comments allowed)
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Option<PathBuf>,

    /// The keys of reading: age identity and pinned verifying key.
    #[command(flatten)]
    pub read: IdentityArgs,

    /// Ed25519 private key (PKCS#8 PEM, e.g. from `lifeboat audit keygen`) that signs new
    /// snapshots: the path of the file, or, in the variable only, the PEM itself. A store
    /// created with one declares its public key and refuses unsigned snapshots
    #[arg(
        long = "signing-key",
        value_name = "FILE",
        env = "LIFEBOAT_BACKUP_SIGNING_KEY",
        hide_env_values = true
    )]
    pub signing_key: Option<String>,
}

impl std::fmt::Debug for KeyArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyArgs")
            .field("recipients", &self.recipients)
            .field("recipients_file", &self.recipients_file)
            .field("read", &self.read)
            .field("signing_key", &self.signing_key.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

impl KeyArgs {
    pub fn keys(&self) -> Result<Keys, UserError> {
        let mut items: Vec<String> = self.recipients.clone();
        let mut origin = "--recipient / LIFEBOAT_BACKUP_RECIPIENTS".to_string();
        if let Some(file) = &self.recipients_file {
            let text = std::fs::read_to_string(file).map_err(|e| {
                UserError::usage(format!(
                    "recipients file `{}` cannot be read: {e}",
                    file.display()
                ))
                .with_hint("give a file of age public keys, one per line")
            })?;
            items.extend(text.lines().map(String::from));
            origin = format!("{origin} or `{}`", file.display());
        }
        let recipients = Recipients::parse(items.iter().map(String::as_str), &origin)?;
        let identities = match &self.read.identity {
            Some(s) => Some(Identities::load(s, "--identity-file / LIFEBOAT_BACKUP_IDENTITY")?),
            None => None,
        };
        let signing = match self.signing_key.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(SigningKey::load(s, "--signing-key / LIFEBOAT_BACKUP_SIGNING_KEY")?),
            None => None,
        };
        let verify = match self.read.verify_key.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(Pin::load(s, "--verify-key / LIFEBOAT_BACKUP_VERIFY_KEY")?),
            None => None,
        };
        Ok(Keys { recipients, identities, signing, verify })
    }
}

/// The identity of reading commands (they never need recipients). `Debug` hides the identity.
#[derive(Clone, Default, clap::Args)]
pub struct IdentityArgs {
    /// age identity to read an encrypted store: the path of an identity file (as written by
    /// `lifeboat backup keygen` or `age-keygen`), or, in the variable only, the
    /// `AGE-SECRET-KEY-1...` key itself
    #[arg(
        long = "identity-file",
        value_name = "FILE",
        env = "LIFEBOAT_BACKUP_IDENTITY",
        hide_env_values = true
    )]
    pub identity: Option<String>,

    /// Public key that must have signed the snapshots read: a PEM file, the PEM itself, or its
    /// fingerprint `SHA256:<hex>`. Pinned outside the store, it resists a forger who can
    /// rewrite the whole store; without it, the key the store's config declares is used
    #[arg(long = "verify-key", value_name = "FILE|SHA256:HEX", env = "LIFEBOAT_BACKUP_VERIFY_KEY")]
    pub verify_key: Option<String>,
}

impl std::fmt::Debug for IdentityArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityArgs")
            .field("identity", &self.identity.as_ref().map(|_| "(redacted)"))
            .field("verify_key", &self.verify_key)
            .finish()
    }
}

impl IdentityArgs {
    pub fn keys(&self) -> Result<Keys, UserError> {
        KeyArgs { read: self.clone(), ..Default::default() }.keys()
    }
}

/// Anomaly thresholds, shared by `create` and `diff`.
#[derive(Debug, Clone, clap::Args)]
pub struct AnomalyArgs {
    /// Exit 1 when an anomaly is found (the snapshot is still written and records it)
    #[arg(long)]
    pub fail_on_anomaly: bool,
    /// Share (0 to 1) of annotation-enabled repos turned Disabled/None that is an anomaly
    #[arg(long, default_value_t = 0.2, value_name = "SHARE")]
    pub annotation_drop_threshold: f64,
    /// Share (0 to 1) of onboarded resources lost that is an anomaly
    #[arg(long, default_value_t = 0.2, value_name = "SHARE")]
    pub onboarded_drop_threshold: f64,
}

impl AnomalyArgs {
    pub fn rules(&self) -> Result<AnomalyRules, UserError> {
        for (flag, v) in [
            ("--annotation-drop-threshold", self.annotation_drop_threshold),
            ("--onboarded-drop-threshold", self.onboarded_drop_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(UserError::usage(format!("{flag} {v} is not a share"))
                    .with_hint("give a number from 0 to 1, e.g. 0.2 for 20%"));
            }
        }
        Ok(AnomalyRules {
            annotation_drop: self.annotation_drop_threshold,
            onboarded_drop: self.onboarded_drop_threshold,
        })
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct CreateArgs {
    /// Subscription to search for DevOps connectors; repeatable [default: all visible]
    #[arg(long = "subscription", value_name = "ID")]
    pub subscriptions: Vec<String>,
    /// Connector (resource ID or name) to back up; repeatable [default: every DevOps connector]
    #[arg(long = "connector", value_name = "ID")]
    pub connectors: Vec<String>,
    /// When this backup creates the store: declare it immutable (WORM), so prune refuses it
    #[arg(long)]
    pub immutable: bool,
    #[command(flatten)]
    pub anomaly: AnomalyArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The oldest the newest verified snapshot may be, e.g. 26h for a daily backup (humantime:
    /// 90m, 26h, 2d) [default: `max-age` of the config file's `[backup]` section]
    #[arg(long, value_name = "DURATION")]
    pub max_age: Option<String>,
    /// Subscription to search for DevOps connectors, as for `backup create`; repeatable
    /// [default: all the credential reads]
    #[arg(long = "subscription", value_name = "ID")]
    pub subscriptions: Vec<String>,
    /// Connector (resource ID or name) that must be in the snapshot, as for `backup create`;
    /// repeatable [default: every DevOps connector found]
    #[arg(long = "connector", value_name = "ID")]
    pub connectors: Vec<String>,
    /// Let an unencrypted store pass (said so in the report)
    #[arg(long)]
    pub allow_unencrypted: bool,
    /// Also read, decrypt and re-hash every object the snapshots reference (slower: one read
    /// per object)
    #[arg(long)]
    pub read_data: bool,
    #[command(flatten)]
    pub keys: IdentityArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum BackupCommand {
    /// Take a snapshot of every DevOps connector in scope
    Create(CreateArgs),
    /// Create an empty store (optional: `create` does it on first use)
    Init {
        /// Declare the store immutable (WORM): prune refuses it
        #[arg(long)]
        immutable: bool,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// List snapshots: time, scope, counts, size, new bytes, age (the RPO if restored now)
    List {
        #[command(flatten)]
        keys: IdentityArgs,
    },
    /// Show what a snapshot captured, as a tree (`latest` for the newest)
    Show {
        id: String,
        #[command(flatten)]
        keys: IdentityArgs,
    },
    /// Check manifests and that their objects exist; --read-data also re-hashes every object
    Verify {
        /// Only this snapshot [default: all]
        id: Option<String>,
        /// Read, decrypt and re-hash every object
        #[arg(long)]
        read_data: bool,
        #[command(flatten)]
        keys: IdentityArgs,
    },
    /// Added, removed and changed resources from snapshot A to B, field by field
    Diff {
        a: String,
        b: String,
        #[command(flatten)]
        anomaly: AnomalyArgs,
        #[command(flatten)]
        keys: IdentityArgs,
    },
    /// Gate a pipeline on backup health: exit 1 when the newest verified snapshot is older than
    /// --max-age, lacks a DevOps connector Azure lists, or the store is unencrypted or fails
    /// verification; each failure says why and how to fix it. Reads only
    Check(CheckArgs),
    /// Write a new age identity (mode 0600, never overwritten) and print its recipient
    /// (`age1...`) on stdout, for `--recipient` / `backup init --recipient`
    Keygen {
        /// The identity file to create; its directory must exist
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Remove the snapshots the policy does not keep, then unreferenced objects
    Prune {
        #[arg(long, default_value_t = 0, value_name = "N")]
        keep_last: usize,
        #[arg(long, default_value_t = 0, value_name = "N")]
        keep_daily: usize,
        #[arg(long, default_value_t = 0, value_name = "N")]
        keep_weekly: usize,
        #[arg(long, default_value_t = 0, value_name = "N")]
        keep_monthly: usize,
        /// Say what would be removed; remove nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        keys: IdentityArgs,
    },
}

/// The store named by `--backup-store`, or `<state-dir>/backups`. Reading commands
/// (`must_exist`) refuse a local directory that does not exist rather than creating it.
pub fn open_store(g: &Globals, keys: Keys, must_exist: bool) -> anyhow::Result<Store> {
    let url = match &g.backup_store {
        Some(u) => u.clone(),
        None => g.state_dir()?.join("backups").to_string_lossy().into_owned(),
    };
    if must_exist && !url.contains("://") && !std::path::Path::new(&url).is_dir() {
        return Err(UserError::usage(format!("no backup store at `{url}`"))
            .with_hint("run `lifeboat backup create` first, or check --backup-store")
            .into());
    }
    Ok(Store::open(&url, keys).map_err(UserError::from)?)
}

pub async fn execute(c: BackupCommand, g: &Globals) -> anyhow::Result<Exit> {
    let now = SystemClock.now();
    match c {
        BackupCommand::Create(args) => {
            // Everything the user typed is checked before the first call to Azure or the store.
            validate_create(&args, g)?;
            let conn = g.connect()?;
            let reader = ArmReader::new(conn.client);
            run_create(&reader, &args, g, now).await
        }
        BackupCommand::Check(args) => check(&args, g, now).await,
        BackupCommand::Keygen { out } => keygen(&out, g.output, now),
        BackupCommand::Init { immutable, keys } => {
            let store = open_store(g, keys.keys()?, false)?;
            let cfg = store.init(immutable, now).await.map_err(UserError::from)?;
            if !cfg.encrypted() {
                warn_unencrypted(store.url());
            }
            println!(
                "backup store {} ready (encrypted: {}, immutable: {}, signed: {})",
                store.url(),
                cfg.encrypted(),
                cfg.immutable,
                cfg.authentication.as_ref().map_or("no", |a| a.fingerprint.as_str())
            );
            if cfg.authentication.is_none() && store.keys().signing.is_some() {
                println!(
                    "note: this store was created without a signing key, so it does not require signatures: new snapshots will be signed, and readers refuse unsigned ones only with --verify-key (start a new store to require them)"
                );
            }
            Ok(Exit::Ok)
        }
        BackupCommand::List { keys } => {
            list(&open_store(g, keys.keys()?, true)?, g.output, now).await
        }
        BackupCommand::Show { id, keys } => {
            show(&open_store(g, keys.keys()?, true)?, &id, g.output).await
        }
        BackupCommand::Verify { id, read_data, keys } => {
            verify(&open_store(g, keys.keys()?, true)?, id.as_deref(), read_data, g.output).await
        }
        BackupCommand::Diff { a, b, anomaly, keys } => {
            let rules = anomaly.rules()?;
            let store = open_store(g, keys.keys()?, true)?;
            let d = backup::diff(&store, &a, &b, &rules).await.map_err(UserError::from)?;
            if g.output == OutputFormat::Json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                println!("snapshot {} → {}", d.from, d.to);
                for (id, kind) in &d.added {
                    println!("+ {id} ({})", kind.as_str());
                }
                for (id, kind) in &d.removed {
                    println!("- {id} ({})", kind.as_str());
                }
                for c in &d.changed {
                    println!("~ {} ({})", c.id, c.kind.as_str());
                    for f in &c.fields {
                        println!(
                            "    {}: {} → {}",
                            f.path,
                            show_value(&f.before),
                            show_value(&f.after)
                        );
                    }
                }
                println!(
                    "{} added, {} removed, {} changed",
                    d.added.len(),
                    d.removed.len(),
                    d.changed.len()
                );
                for a in &d.anomalies {
                    println!("anomaly: {a}");
                }
            }
            Ok(anomaly_exit(!d.anomalies.is_empty(), anomaly.fail_on_anomaly))
        }
        BackupCommand::Prune {
            keep_last,
            keep_daily,
            keep_weekly,
            keep_monthly,
            dry_run,
            keys,
        } => {
            let store = open_store(g, keys.keys()?, true)?;
            let policy = PrunePolicy {
                last: keep_last,
                daily: keep_daily,
                weekly: keep_weekly,
                monthly: keep_monthly,
            };
            let r = backup::prune(&store, policy, dry_run, now).await.map_err(UserError::from)?;
            print_prune(&r, g.output)?;
            Ok(Exit::Ok)
        }
    }
}

/// Checks `backup create`'s arguments (subscriptions, connectors, thresholds, keys, store URL)
/// without touching Azure or the store.
pub fn validate_create(args: &CreateArgs, g: &Globals) -> anyhow::Result<()> {
    validate_scope(&args.subscriptions, &args.connectors)?;
    args.anomaly.rules()?;
    // Opening builds the object_store client and checks the URL and keys; it sends nothing.
    open_store(g, args.keys.keys()?, false).map(|_| ())
}

/// Checks `--subscription` and `--connector` values (of `create` and `check`).
fn validate_scope(subscriptions: &[String], connectors: &[String]) -> anyhow::Result<()> {
    for s in subscriptions {
        if s.trim().is_empty() || s.contains('/') {
            return Err(UserError::usage(format!("--subscription '{s}' is not a subscription ID"))
                .with_hint(
                    "pass the GUID, e.g. --subscription 00000000-0000-0000-0000-000000000000",
                )
                .into());
        }
    }
    if connectors.iter().any(|c| c.trim().is_empty()) {
        return Err(UserError::usage("--connector is empty")
            .with_hint("pass a connector resource ID or name")
            .into());
    }
    Ok(())
}

/// The exit code after anomalies: 1 only when asked to fail on them.
pub fn anomaly_exit(found: bool, fail_on_anomaly: bool) -> Exit {
    if found && fail_on_anomaly {
        Exit::Failed
    } else {
        Exit::Ok
    }
}

/// `backup create` over any [`ConfigReader`]: the CLI calls it with an [`ArmReader`]; tests
/// call it with an in-memory reader.
pub async fn run_create<R: ConfigReader>(
    reader: &R,
    args: &CreateArgs,
    g: &Globals,
    now: OffsetDateTime,
) -> anyhow::Result<Exit> {
    let rules = args.anomaly.rules()?;
    let store = open_store(g, args.keys.keys()?, false)?;
    if args.anomaly.fail_on_anomaly {
        // Anomalies are found by reading the previous snapshot: an encrypted store needs an identity.
        let cfg = store.config().await.ok().cloned();
        if let Some(cfg) = cfg {
            if !store.can_read(&cfg) {
                return Err(UserError::usage(
                    "--fail-on-anomaly needs to read the previous snapshot of this encrypted store",
                )
                .with_hint("pass --identity-file FILE or set LIFEBOAT_BACKUP_IDENTITY")
                .into());
            }
        }
    }
    let opts = CreateOptions {
        scope: Scope {
            subscriptions: args.subscriptions.clone(),
            connectors: args.connectors.clone(),
        },
        now,
        rules,
        immutable: args.immutable,
    };
    let s = match backup::collect(reader, &store, opts).await {
        Ok(s) => s,
        // An Azure failure keeps its own exit code (e.g. 5 for a refused credential).
        Err(backup::BackupError::Source { azure: Some(az), .. }) => {
            return Err(anyhow::Error::from(crate::azure::user_error(*az))
                .context("backup create stopped: no snapshot was written"))
        }
        Err(e) => return Err(UserError::from(e).into()),
    };
    if !s.encrypted {
        warn_unencrypted(store.url());
    }
    if g.output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "snapshot {} saved: {} resources, {} new objects ({}), {} referenced",
            s.id,
            s.resources,
            s.new_objects,
            human_bytes(s.new_bytes),
            human_bytes(s.total_bytes)
        );
        if !s.needs_reauthorization.is_empty() {
            println!(
                "{} connector(s) will need a fresh OAuth authorization on recovery (the code is never stored)",
                s.needs_reauthorization.len()
            );
        }
        if s.repaired_objects > 0 {
            println!(
                "repaired {} damaged object(s): a fresh copy was written next to each (`backup verify --read-data` lists the damaged copies)",
                s.repaired_objects
            );
        }
        if s.unchecked_objects > 0 {
            println!(
                "note: {} existing object(s) reused without re-checking them (an encrypted store cannot be read without an identity; pass --identity-file to re-check and repair)",
                s.unchecked_objects
            );
        }
        if !s.signed {
            println!(
                "warning: unauthenticated snapshot: not signed (pass --signing-key so that readers can tell it from a forgery)"
            );
        }
        for id in &s.secrets_removed {
            println!(
                "warning: a secret (properties.authorization) was found in {id} and not stored"
            );
        }
        if s.anomaly_check_skipped {
            println!(
                "note: anomaly check skipped (pass an identity to read the previous snapshot)"
            );
        }
        for a in &s.anomalies {
            println!("anomaly: {a}");
        }
    }
    Ok(anomaly_exit(!s.anomalies.is_empty(), args.anomaly.fail_on_anomaly))
}

fn show_value(v: &Option<serde_json::Value>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "(absent)".into())
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn human_age(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    match s {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn scope_text(s: &Scope) -> String {
    let subs =
        if s.subscriptions.is_empty() { "all".to_string() } else { s.subscriptions.join(",") };
    if s.connectors.is_empty() {
        format!("subs={subs}")
    } else {
        format!("subs={subs} connectors={}", s.connectors.len())
    }
}

async fn list(store: &Store, output: OutputFormat, now: OffsetDateTime) -> anyhow::Result<Exit> {
    let cfg = store.config().await.map_err(UserError::from)?;
    store.check_readable(cfg).map_err(UserError::from)?;
    let mut rows = Vec::new();
    for info in list_snapshots(store).await.map_err(UserError::from)? {
        let m = load_manifest(store, &info).await.map_err(UserError::from)?;
        rows.push(m);
    }
    if output == OutputFormat::Json {
        let docs: Vec<serde_json::Value> = rows
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id,
                    "time": m.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "age_seconds": (now - m.time).whole_seconds(),
                    "scope": m.scope,
                    "counts": m.counts,
                    "resources": m.resources.len(),
                    "total_bytes": m.total_bytes,
                    "new_bytes": m.new_bytes,
                    "new_objects": m.new_objects,
                    "parent": m.parent,
                    "anomalies": m.anomalies.len(),
                    "encrypted": m.encrypted.unwrap_or(cfg.encrypted()),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&docs)?);
        return Ok(Exit::Ok);
    }
    println!(
        "{:<12}  {:<20}  {:>8}  {:<9}  {:<16}  {:>9}  {:>10}  {:>10}  COUNTS",
        "ID", "TIME (UTC)", "AGE", "ENCRYPTED", "SCOPE", "RESOURCES", "SIZE", "NEW"
    );
    for m in &rows {
        let counts: Vec<String> =
            m.counts.iter().map(|(k, n)| format!("{}={n}", k.as_str())).collect();
        let time =
            m.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        println!(
            "{:<12}  {:<20}  {:>8}  {:<9}  {:<16}  {:>9}  {:>10}  {:>10}  {}{}",
            m.id,
            time,
            human_age(now - m.time),
            if m.encrypted.unwrap_or(cfg.encrypted()) { "yes" } else { "NO" },
            scope_text(&m.scope),
            m.resources.len(),
            human_bytes(m.total_bytes),
            human_bytes(m.new_bytes),
            counts.join(" "),
            if m.anomalies.is_empty() {
                String::new()
            } else {
                format!("  ({} anomalies)", m.anomalies.len())
            }
        );
    }
    if rows.is_empty() {
        println!("(no snapshots)");
    }
    if !cfg.encrypted() {
        println!(
            "note: backup store {} is NOT encrypted (`lifeboat backup keygen --out FILE` makes a key for a new, encrypted store)",
            store.url()
        );
    }
    Ok(Exit::Ok)
}

async fn show(store: &Store, id: &str, output: OutputFormat) -> anyhow::Result<Exit> {
    let cfg = store.config().await.map_err(UserError::from)?;
    store.check_readable(cfg).map_err(UserError::from)?;
    let info = find_snapshot(store, id).await.map_err(UserError::from)?;
    let m = load_manifest(store, &info).await.map_err(UserError::from)?;
    let lines = tree(&m);
    if output == OutputFormat::Json {
        let doc = serde_json::json!({
            "id": m.id, "time": m.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "lifeboat_version": m.lifeboat_version, "api_versions": m.api_versions, "scope": m.scope,
            "counts": m.counts, "parent": m.parent, "needs_reauthorization": m.needs_reauthorization,
            "anomalies": m.anomalies, "tree": lines,
            "encrypted": m.encrypted.unwrap_or(cfg.encrypted()),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(Exit::Ok);
    }
    let time = m.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    println!(
        "snapshot {} taken {time} by lifeboat {} ({})",
        m.id,
        m.lifeboat_version,
        if m.encrypted.unwrap_or(cfg.encrypted()) { "encrypted" } else { "NOT encrypted" }
    );
    for l in &lines {
        let settings: Vec<String> = l.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("{}{} [{}] {}", "  ".repeat(l.depth), l.name, l.kind.as_str(), settings.join(" "));
    }
    if !m.needs_reauthorization.is_empty() {
        println!("needs re-authorization on recovery: {}", m.needs_reauthorization.join(", "));
    }
    for a in &m.anomalies {
        println!("anomaly: {a}");
    }
    Ok(Exit::Ok)
}

async fn verify(
    store: &Store,
    id: Option<&str>,
    read_data: bool,
    output: OutputFormat,
) -> anyhow::Result<Exit> {
    let r = backup::verify(store, id, read_data).await.map_err(UserError::from)?;
    if output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        for p in &r.problems {
            println!("error: {}: {}", p.location, p.message);
        }
        for p in &r.repaired {
            println!(
                "note: {}: a damaged copy, superseded by a good one: {}",
                p.location, p.message
            );
        }
        if !r.unauthenticated.is_empty() {
            println!(
                "warning: {} unauthenticated snapshot(s) (unsigned, or signed by a key nobody pinned): {}; anyone able to write to the store could have forged them",
                r.unauthenticated.len(),
                r.unauthenticated.join(", ")
            );
        }
        println!(
            "{} snapshot(s) checked ({} authenticated), {} object(s) referenced, {} read: {}",
            r.snapshots_checked,
            r.authenticated,
            r.objects_referenced,
            r.objects_read,
            if r.problems.is_empty() {
                "no problems".to_string()
            } else {
                format!("{} problem(s)", r.problems.len())
            }
        );
    }
    Ok(if r.problems.is_empty() { Exit::Ok } else { Exit::Failed })
}

fn print_prune(r: &PruneReport, output: OutputFormat) -> anyhow::Result<()> {
    if output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    for l in &r.broken_leases {
        println!("broke an expired lease: {l}");
    }
    for id in &r.removed_snapshots {
        println!("{verb} snapshot {id}");
    }
    println!(
        "kept {} snapshot(s); {verb} {} snapshot(s) and {} object(s) ({}); {} recent unreferenced object(s) spared",
        r.kept.len(),
        r.removed_snapshots.len(),
        r.removed_objects,
        human_bytes(r.removed_bytes),
        r.spared_recent_objects
    );
    Ok(())
}

/// The `--max-age` of `backup check`: the flag, else `[backup] max-age` of the config file.
/// A duration above zero and at most 400 days; anything else is bad input (exit 2).
fn max_age(flag: Option<&str>, g: &Globals) -> anyhow::Result<(time::Duration, String)> {
    let (text, origin) = match flag {
        Some(t) => (t.to_string(), "--max-age".to_string()),
        None => match super::config::load(g.config.as_deref())? {
            Some((path, cfg)) if cfg.backup.max_age.is_some() => (
                cfg.backup.max_age.unwrap_or_default(),
                format!("config file {}, [backup] max-age", path.display()),
            ),
            _ => {
                return Err(UserError::usage("backup check needs --max-age")
                    .with_hint("pass the oldest the newest backup may be, e.g. --max-age 26h for a daily backup, or set max-age = \"26h\" in the config file's [backup] section")
                    .into())
            }
        },
    };
    let hint = "write a duration such as 90m, 26h or 2d";
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        UserError::usage(format!("{origin} `{text}` is not a duration: {e}")).with_hint(hint)
    })?;
    let max = crate::runbook::limits::MAX_DURATION;
    if d.is_zero() || d > max {
        return Err(UserError::usage(format!(
            "{origin} `{text}` is out of range: it must be above zero and at most {} days",
            max.as_secs() / 86_400
        ))
        .with_hint(hint)
        .into());
    }
    let d = time::Duration::try_from(d).map_err(|_| {
        UserError::usage(format!("{origin} `{text}` is out of range")).with_hint(hint)
    })?;
    Ok((d, text.trim().to_string()))
}

/// `backup check`: bad input (a duration, a scope, keys, a store that does not exist, no or a
/// wrong identity) is refused with exit 2 before Azure is asked anything; then the connectors
/// are listed through Resource Graph and the store is read (never written).
async fn check(args: &CheckArgs, g: &Globals, now: OffsetDateTime) -> anyhow::Result<Exit> {
    use crate::backup::health;
    let (max_age, max_age_text) = max_age(args.max_age.as_deref(), g)?;
    validate_scope(&args.subscriptions, &args.connectors)?;
    let store = open_store(g, args.keys.keys()?, true)?;
    let cfg = store.config().await.map_err(UserError::from)?;
    store.check_readable(cfg).map_err(UserError::from)?;
    let scope =
        Scope { subscriptions: args.subscriptions.clone(), connectors: args.connectors.clone() };
    let conn = g.connect()?;
    let in_azure = health::discover(&conn.client, &scope).await.map_err(|e| {
        anyhow::Error::from(crate::azure::user_error(e))
            .context("backup check could not list the DevOps connectors in Azure (Resource Graph)")
    })?;
    health::check_filters(&scope, &in_azure).map_err(UserError::from)?;
    let opts = health::CheckOptions {
        max_age,
        max_age_text,
        allow_unencrypted: args.allow_unencrypted,
        read_data: args.read_data,
        scope,
        now,
    };
    let report = health::check(&store, &in_azure, &opts).await.map_err(UserError::from)?;
    let failed: Vec<&str> = report.failed().iter().map(|c| c.name).collect();
    if g.output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "backup check of {} (newest verified snapshot at most {} old)",
            report.store, report.max_age
        );
        for c in &report.checks {
            println!("{:<4}  {:<10}  {}", if c.ok { "ok" } else { "FAIL" }, c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("{:<4}  {:<10}  fix: {fix}", "", "");
            }
        }
        if failed.is_empty() {
            println!("backup check passed: {} checks", report.checks.len());
        } else {
            println!("backup check FAILED: {}", failed.join(", "));
        }
    }
    if failed.is_empty() {
        Ok(Exit::Ok)
    } else {
        eprintln!("error: backup check failed: {} (each with its fix above)", failed.join(", "));
        Ok(Exit::Failed)
    }
}

/// `backup keygen --out FILE`: the recipient alone on stdout (so a script can capture it), how
/// to use it on stderr. The identity is never printed.
fn keygen(
    out: &std::path::Path,
    output: OutputFormat,
    now: OffsetDateTime,
) -> anyhow::Result<Exit> {
    let recipient = crate::backup::crypto::keygen(out, now).map_err(UserError::from)?;
    if output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "identity_file": out.display().to_string(),
                "recipient": recipient,
            }))?
        );
    } else {
        println!("{recipient}");
    }
    eprintln!(
        "wrote the age identity {} (mode 0600): it alone can read backups encrypted to it. Keep copies offline, outside the region you protect; never commit it.\n\
         Its recipient (public key, printed on stdout) is what writers need:\n  \
         lifeboat --backup-store NEW_STORE backup init --recipient {recipient}\n  \
         lifeboat --backup-store NEW_STORE backup create --recipient {recipient}\n\
         Readers pass the identity: --identity-file {} (or the key itself in LIFEBOAT_BACKUP_IDENTITY)",
        out.display(),
        out.display()
    );
    Ok(Exit::Ok)
}

/// The loud warning of `create` and `init` on a store in clear: a box on stderr, bold on a
/// terminal, saying how to move to an encrypted store.
fn warn_unencrypted(url: &str) {
    use std::io::IsTerminal;
    let lines = [
        "WARNING: this backup store is NOT ENCRYPTED".to_string(),
        format!("{url} keeps every connector's configuration in clear"),
        "(org, project and repo names, settings): whoever can read the store reads it.".into(),
        String::new(),
        "To encrypt, back up to a new store encrypted to an age key:".into(),
        "  1. lifeboat backup keygen --out backup.key    (prints the recipient age1...)".into(),
        "  2. lifeboat --backup-store NEW_STORE backup create --recipient age1...".into(),
        "Keep backup.key offline; readers pass --identity-file backup.key.".into(),
        "`lifeboat backup check` fails on this store unless --allow-unencrypted.".into(),
    ];
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let bold = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb");
    let (on, off) = if bold { ("\x1b[1;33m", "\x1b[0m") } else { ("", "") };
    let mut text = format!("{on}+{}+{off}\n", "-".repeat(width + 2));
    for l in &lines {
        let pad = width - l.chars().count();
        text.push_str(&format!("{on}| {l}{} |{off}\n", " ".repeat(pad)));
    }
    text.push_str(&format!("{on}+{}+{off}", "-".repeat(width + 2)));
    eprintln!("{text}");
}
