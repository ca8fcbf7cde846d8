//! `lifeboat run`, `resume`, `status`, `approve`, `attest`, `skip`, `runs`: a thin layer over
//! `engine::runner`. A step instance is named `STEP`, `STEP[LABEL]` for the branch of a
//! fanned-out step labelled by its connector, or `STEP#N` for branch N (as `lifeboat status RUN`
//! shows them).

use super::{Globals, OutputFormat};
use crate::azure::ArmClient;
use crate::catalog::ServiceNeed;
use crate::clock::{Clock, SystemClock};
use crate::engine::inbox::{self, Inbox as _, LocalInbox, RequestState, Verb};
use crate::engine::kind::{Registry, Services};
use crate::engine::runner::{self, Branches, RunError, RunOptions, RunOutcome};
use crate::engine::{self, Actor, Blocker, BranchRef, Event, InstanceView, Phase};
use crate::error::{Exit, UserError};
use crate::runbook;
use crate::say;
use crate::steps::plan_needs;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The runbook: a built-in runbook's name (`region-outage`; `lifeboat runbooks list`) or a
    /// YAML file (`apiVersion: lifeboat/v1`); an existing file of that name wins
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    /// Set a parameter (repeatable); lists are comma-separated: `--set connectors=a,b`
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = runbook::parse_set)]
    pub set: Vec<(String, String)>,
    /// The run's id [default: a fresh `YYYYMMDD-HHMMSS-xxxxxx`]; an existing id is refused
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Sign the journal when the run stops (Ed25519 private key, PKCS#8 PEM: `audit keygen`)
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// Lead a person through the run at the terminal: asks for what is missing (the failed and
    /// target regions with choices, the backup identity, the ticket's contact), one line per
    /// state change, prompts at gates and manual tasks, hidden input for secrets; Ctrl-C pauses
    /// cleanly
    #[arg(long)]
    pub guided: bool,
    /// Once only a person can unblock the run (a gate, a manual task, a failed step), keep
    /// driving it this long, recording the approvals, attestations and skips that arrive from
    /// other machines through the run's inbox, before pausing (exit 3) [default: pause at once]
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub wait_for_people: std::time::Duration,
    #[command(flatten)]
    pub notify: super::notify::NotifyArgs,
    /// With --guided: what each step does (once per step), whole wait messages
    #[arg(long, requires = "guided")]
    pub verbose: bool,
    /// The backup store's reading keys (as `lifeboat backup`): `--identity-file` for an
    /// encrypted store, `--verify-key` to pin the snapshots' signer
    #[command(flatten)]
    pub identity: super::backup::IdentityArgs,
    /// Where the run's state lives: a store in the failed region is refused
    #[command(flatten)]
    pub placement: super::placement::PlacementArgs,
}

#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The run to continue (`lifeboat runs list`)
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
    /// Supply a secret parameter again (secrets are never journaled; checked against its hash),
    /// or change a parameter the runbook declares `resumable` (e.g. `restore_exclude=PATH,...`):
    /// journaled, and failed steps that read it are re-armed
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = runbook::parse_set)]
    pub set: Vec<(String, String)>,
    /// Sign the journal when the run stops (Ed25519 private key, PKCS#8 PEM: `audit keygen`)
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// Continue in guided mode (see `lifeboat run --guided`)
    #[arg(long)]
    pub guided: bool,
    /// With --guided: what each step does (once per step), whole wait messages
    #[arg(long, requires = "guided")]
    pub verbose: bool,
    /// The backup store's reading keys (as `lifeboat backup`): `--identity-file` for an
    /// encrypted store, `--verify-key` to pin the snapshots' signer
    #[command(flatten)]
    pub identity: super::backup::IdentityArgs,
    /// Leave failed steps failed. By default `resume` first re-arms every failed step whose last
    /// failure was retryable (throttling, server errors, lost connections, an unavailable
    /// region) with a fresh retry budget, journaled as a `rearmed` event; a failure retrying
    /// cannot fix, and any one-shot step, stays failed for `lifeboat skip`
    #[arg(long)]
    pub no_rearm: bool,
    /// See `lifeboat run --wait-for-people`
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub wait_for_people: std::time::Duration,
    #[command(flatten)]
    pub notify: super::notify::NotifyArgs,
    /// With an az:// run store: break the lease of the driver that holds the run now (saying
    /// whose it was) instead of waiting for it to expire; that driver is refused on its next
    /// write and exits 4
    #[arg(long)]
    pub take_over: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Show the steps of this run [default: list every run]
    #[arg(value_name = "RUN_ID")]
    pub run_id: Option<String>,
    /// Keep showing the run live until it ends (read-only: takes no lock, so the run can be
    /// driven elsewhere meanwhile); exits with the run's status code, or 0 on Ctrl-C
    #[arg(long, requires = "run_id")]
    pub watch: bool,
    /// How often `--watch` checks the journal for changes
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = humantime::parse_duration, requires = "watch")]
    pub interval: std::time::Duration,
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
    /// The gate: `STEP`, or one branch of a fanned-out step: `STEP[LABEL]` (its connector, as
    /// `lifeboat status RUN` shows it) or `STEP#N`
    #[arg(value_name = "STEP")]
    pub step: String,
    /// Why, for the audit record
    #[arg(long)]
    pub comment: Option<String>,
    /// Approve every waiting branch of a fanned-out STEP (without it, a fanned-out step must be
    /// named STEP[LABEL] or STEP#N)
    #[arg(long)]
    pub all: bool,
    /// While another process drives the run, the request goes into the run's inbox: wait this
    /// long for that process to record it (it reads the inbox every second); if it does not,
    /// the request stays queued and the command exits 6
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub wait: std::time::Duration,
}

#[derive(Debug, clap::Args)]
pub struct AttestArgs {
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
    /// The manual (or interrupted) step: `STEP`, or one branch of a fanned-out step:
    /// `STEP[LABEL]` or `STEP#N`
    #[arg(value_name = "STEP")]
    pub step: String,
    /// What was done, e.g. a ticket number; journaled for the audit record
    #[arg(long, value_name = "TEXT")]
    pub evidence: String,
    /// Attest every waiting branch of a fanned-out STEP with the same evidence (without it, a
    /// fanned-out step must be named STEP[LABEL] or STEP#N)
    #[arg(long)]
    pub all: bool,
    /// While another process drives the run, the request goes into the run's inbox: wait this
    /// long for that process to record it (it reads the inbox every second); if it does not,
    /// the request stays queued and the command exits 6
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub wait: std::time::Duration,
}

#[derive(Debug, clap::Args)]
pub struct SkipArgs {
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
    /// The step to skip: `STEP`, or one branch of a fanned-out step (`STEP[LABEL]` or `STEP#N`);
    /// dependents treat it as done
    #[arg(value_name = "STEP")]
    pub step: String,
    /// Why, for the audit record
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Skip every branch of a fanned-out STEP that can be skipped (or, before it fanned out,
    /// every branch it will have); without it, a fanned-out step must be named STEP[LABEL] or STEP#N
    #[arg(long)]
    pub all: bool,
    /// While another process drives the run, the request goes into the run's inbox: wait this
    /// long for that process to record it (it reads the inbox every second); if it does not,
    /// the request stays queued and the command exits 6
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub wait: std::time::Duration,
}

#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// List runs with their status
    List,
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn now() -> OffsetDateTime {
    SystemClock.now()
}

/// The run store's lease settings (`LIFEBOAT_RUN_STORE_LEASE`, `..._LEASE_WAIT`): bad values
/// exit 2 before anything is done.
fn lease_options(take_over: bool) -> Result<crate::runstore::remote::LeaseOptions, UserError> {
    let env = |k: &str| std::env::var(k).ok();
    crate::runstore::remote::LeaseOptions::from_env(&env, take_over)
}

/// The shared clients a plan's step kinds need (their catalog entries' `services`), built once
/// per command from the global flags (validated here, before any run exists: a bad
/// `--arm-endpoint`, `--auth` or backup identity exits 2 or 5 with nothing created): one Azure
/// connection and one store, which the rehearsal and the run share. `run_dir` is added once the
/// run exists.
fn services_for(
    plan: &runbook::Plan,
    g: &Globals,
    run_dir: Option<&std::path::Path>,
    identity: &super::backup::IdentityArgs,
    client: Option<crate::azure::ArmClient>,
) -> anyhow::Result<Services> {
    let mut services = Services::new();
    if plan_needs(plan, ServiceNeed::Azure) {
        let client = match client {
            Some(c) => c,
            None => g.connect()?.client,
        };
        services.insert(Arc::new(client));
    }
    // A recovery without backup (`--set backup=none`) opens no store and asks for no identity.
    if super::questions::needs_store(plan) {
        let keys = identity.keys()?;
        let store = super::backup::open_store(g, keys, true).map_err(|e| no_store_hint(plan, e))?;
        services.insert(Arc::new(store));
    }
    if let Some(dir) = run_dir {
        services.insert(Arc::new(crate::steps::services::RunDir(dir.to_path_buf())));
    }
    Ok(services)
}

/// The error `lifeboat run` would give for a missing local backup store that `plan` needs, or
/// `None` (a store exists, is remote, or is not needed).
pub(super) fn missing_store(plan: &runbook::Plan, g: &Globals) -> Option<UserError> {
    if !plan_needs(plan, ServiceNeed::BackupStore)
        || crate::steps::backup_load::plan_without_backup(plan)
    {
        return None;
    }
    let url = match &g.backup_store {
        Some(u) => u.clone(),
        None => g.state_dir().ok()?.join("backups").to_string_lossy().into_owned(),
    };
    if url.contains("://") || std::path::Path::new(&url).is_dir() {
        return None;
    }
    let e = UserError::usage(format!("no backup store at `{url}`"));
    no_store_hint(plan, e.into()).downcast::<UserError>().ok()
}

/// A missing backup store, for a plan that can recover without one: the hint names
/// `--set backup=none`.
fn no_store_hint(plan: &runbook::Plan, e: anyhow::Error) -> anyhow::Error {
    let can_go_without = plan.runbook.steps.iter().any(|s| s.uses == "backup.load")
        && plan.runbook.param("backup").is_some();
    match e.downcast::<UserError>() {
        Ok(u) if can_go_without && u.message.starts_with("no backup store at") => {
            let hint = format!(
                "take backups with `lifeboat backup create`, or check --backup-store; {}",
                crate::steps::backup_load::NO_BACKUP_HINT
            );
            UserError { hint: Some(hint), ..u }.into()
        }
        Ok(u) => u.into(),
        Err(e) => e,
    }
}

pub async fn execute_run(a: RunArgs, g: &Globals) -> anyhow::Result<Exit> {
    // Webhooks are checked first: a bad one exits 2 before anything is read or written.
    let notify = super::notify::resolve(&a.notify, g)?;
    if a.guided {
        super::guided::require_terminal()?;
    }
    // Everything that can be wrong with the input is checked before the run directory exists.
    let path = a.runbook.clone();
    let runbook_arg = a.runbook.display().to_string();
    let load_plan = |sets: &[(String, String)]| runbook::load(&path, sets);
    let load_graph = |sets: &[(String, String)]| runbook::load_for_graph(&path, sets);
    let mut identity = a.identity.clone();
    let mut client = None;
    let mut header = serde_json::Map::new();
    let (plan, asker) = if a.guided {
        // Guided mode asks for what is missing, before anything is written.
        let mut asker = super::questions::Asker::new(super::questions::Interrupt::install()?);
        let loader = super::questions::Loader { plan: &load_plan, graph: &load_graph };
        let p = super::questions::prepare(
            &mut asker,
            &loader,
            a.set.clone(),
            g,
            &mut client,
            &mut identity,
        )
        .await?;
        if !p.asked.is_empty() {
            let secret = |k: &str| p.plan.runbook.param(k).is_some_and(|d| d.secret);
            let sets: Vec<String> = p
                .sets
                .iter()
                .map(|(k, v)| {
                    if secret(k) {
                        format!("--set {k}=...")
                    } else {
                        format!("--set {k}={}", super::questions::shell(v))
                    }
                })
                .collect();
            say!("");
            say!(
                "the same answers next time: lifeboat run {} {} --guided",
                super::questions::shell(&runbook_arg),
                sets.join(" ")
            );
            header.insert("guided".into(), serde_json::json!({ "asked": p.asked }));
        }
        if super::questions::needs_store(&p.plan) {
            let from = if p.identity_prompted {
                "hidden prompt"
            } else {
                "--identity-file or LIFEBOAT_BACKUP_IDENTITY"
            };
            header.insert(
                "backup_identity".into(),
                identity_record(identity.identity.is_some(), from),
            );
        }
        (p.plan, Some(asker))
    } else {
        if let Ok(rb) = load_graph(&a.set) {
            if let Some(e) =
                super::questions::missing_params_error("run", &runbook_arg, &rb, &a.set)
            {
                return Err(e.into());
            }
        }
        let plan = load_plan(&a.set).map_err(UserError::from)?;
        if super::questions::needs_store(&plan) {
            let from = "--identity-file or LIFEBOAT_BACKUP_IDENTITY";
            header.insert(
                "backup_identity".into(),
                identity_record(identity.identity.is_some(), from),
            );
        }
        (plan, None)
    };
    let sign_key = a.sign_key.as_deref().map(crate::audit::sign::load_signing_key).transpose()?;
    let registry = crate::steps::registry();
    for step in &plan.runbook.steps {
        if registry.get(&step.uses).is_none() {
            return Err(UserError::usage(format!(
                "{}:{}:{}: step kind {} is not implemented in this build",
                plan.runbook.source.path.display(),
                step.span.line,
                step.span.column,
                step.uses
            ))
            .with_hint("upgrade lifeboat, or replace the step by a manual.task")
            .into());
        }
    }
    let home = g.run_home().await?;
    let lease = lease_options(false)?;
    let state_dir = home.root.clone();
    let run_id = match a.run_id {
        Some(id) => id,
        None => runner::new_run_id(now()),
    };
    runner::validate_run_id(&run_id).map_err(UserError::from)?;
    if let Some(store) = &home.remote {
        // The record is the blob: a run id the store has is refused before anything runs, and
        // a stale local copy of that id is not trusted.
        let blob = crate::runstore::remote::journal_blob(&run_id);
        if store.properties(&blob).await.map_err(UserError::from)?.is_some() {
            return Err(UserError::usage(format!(
                "run {run_id} already exists in the run store {}",
                store.store_name()
            ))
            .with_hint("choose another --run-id, or `lifeboat resume` it")
            .into());
        }
        let _ = std::fs::remove_dir_all(runner::runs_dir(&state_dir).join(&run_id));
    }
    // A secret that could not be kept out of the journal and the output is refused before
    // anything runs; from here on every line this process prints is scrubbed of the others.
    runner::check_secrets(&plan, &run_id).map_err(UserError::from)?;
    for v in runner::secret_params_of(&plan).values() {
        crate::redact::register(v);
    }
    // Read-only steps (discovery, backup) are rehearsed now: bad regions, a backup without the
    // failed connectors and the like exit 2 before the run exists or anything is written. The
    // rehearsal and the run share one connection and one store (and so the api-versions).
    let mut services = services_for(&plan, g, None, &identity, client)?;
    // Where the run's state will live, before the store is read: a store located in the failed
    // region (or whose location cannot be read) exits 2 unless forced; journaled in the header.
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    let run_store = home.url.as_ref().and_then(|u| super::placement::run_store(u, &env));
    let placement = super::placement::check(
        &plan,
        g,
        &a.placement,
        run_store,
        services.get::<ArmClient>().as_deref(),
    )
    .await?;
    placement.add_to_header(&mut header);
    super::questions::check_identity(&services).await?;
    // Who starts the run: with a credential, the Azure principal of its token too (a token
    // without the expected claims exits 5 here, before anything is written).
    let actor = super::identity::actor(services.get::<ArmClient>().as_deref()).await?;
    let preflight =
        crate::steps::recovery::preflight(&plan, &registry, Arc::new(services.clone()), clock());
    match &asker {
        // Ctrl-C during the checks: nothing was written, exit 2 as during the questions.
        Some(asker) => {
            let mut interrupt = asker.interrupt();
            tokio::select! {
                r = preflight => r?,
                _ = interrupt.wait() => asker.check_interrupted()?,
            }
            asker.check_interrupted()?;
        }
        None => preflight.await?,
    }
    let seed = rand::random::<u64>();
    let dir = runner::create_run_with(&state_dir, &plan, &run_id, now(), &actor, seed, header)
        .map_err(UserError::from)?;
    // On an az:// run store: the journal blob is created and leased; every batch goes there first.
    let _remote = match &home.remote {
        Some(store) => {
            Some(crate::runstore::remote::publish_new(store, &run_id, &dir, &lease, now()).await?)
        }
        None => None,
    };
    say!("run {run_id} started ({} steps)", plan.runbook.steps.len());
    if let Some(r) = &_remote {
        say!("run store: {}", r.source());
    }
    services.insert(Arc::new(crate::steps::services::RunDir(dir.clone())));
    let inbox = home.remote.as_ref().map(|s| super::shared::wire(s, &run_id, &mut services));
    let secrets = runner::secret_params_of(&plan);
    let notifier = super::notify::start(notify, false);
    if let Some(asker) = asker {
        let opts = super::guided::GuidedOptions {
            verbose: a.verbose,
            interrupt: asker.interrupt(),
            observer: super::notify::observer(&notifier),
            took_over_from: None,
            inbox: inbox.clone(),
        };
        let exit =
            super::guided::drive_guided(&dir, &run_id, &registry, services, secrets, opts).await;
        super::notify::finish(notifier, &dir, &registry, &[]).await;
        let exit = exit?;
        sign_if_asked(&dir, sign_key.as_ref())?;
        return Ok(exit);
    }
    let how =
        Drive { actor, took_over_from: None, wait_for_people: a.wait_for_people, notifier, inbox };
    drive(&dir, &run_id, &registry, Arc::new(services), secrets, sign_key.as_ref(), how).await
}

/// What the run header records of the backup identity: whether one was given and how, never
/// the identity.
fn identity_record(given: bool, from: &str) -> serde_json::Value {
    if given {
        serde_json::json!({ "given": true, "from": from })
    } else {
        serde_json::json!({ "given": false })
    }
}

pub async fn execute_resume(a: ResumeArgs, g: &Globals) -> anyhow::Result<Exit> {
    // Webhooks are checked first: a bad one exits 2 before anything is read or written.
    let notify = super::notify::resolve(&a.notify, g)?;
    let asker = if a.guided {
        super::guided::require_terminal()?;
        Some(super::questions::Asker::new(super::questions::Interrupt::install()?))
    } else {
        None
    };
    let home = g.run_home().await?;
    let lease = lease_options(a.take_over)?;
    if a.take_over && home.remote.is_none() {
        return Err(UserError::usage("--take-over applies to a run on an az:// run store")
            .with_hint("a local run is locked by its process: the lock dies with it")
            .into());
    }
    // On an az:// run store: the run's lease first (waiting for another driver's to expire,
    // or breaking it with --take-over), then its local copy replaced from the blob.
    let _remote = match &home.remote {
        Some(store) => {
            let say = |m: &str| crate::say!("{m}");
            Some(
                crate::runstore::remote::take(store, &home.root, &a.run_id, &lease, now(), &say)
                    .await?,
            )
        }
        None => None,
    };
    let dir = runner::run_dir(&home.root, &a.run_id).map_err(UserError::from)?;
    let sign_key = a.sign_key.as_deref().map(crate::audit::sign::load_signing_key).transpose()?;
    let registry = crate::steps::registry();
    let loaded = runner::load(&dir, &registry).map_err(UserError::from)?;
    // Whether a step that reads the backup store has yet to finish: only then is its identity
    // asked for (guided) or checked up front.
    let store_ahead = loaded.engine.snapshot().iter().any(|v| {
        !v.instance.as_ref().is_some_and(|i| i.state.is_terminal())
            && crate::catalog::catalog()
                .iter()
                .any(|k| k.name == v.uses && k.services.contains(&ServiceNeed::BackupStore))
    });
    let header = loaded.header;
    let plan: runbook::Plan =
        serde_json::from_value(header.get("plan").cloned().unwrap_or_default()).map_err(|e| {
            UserError::failed(format!("run {}: the journal header holds no plan ({e})", a.run_id))
        })?;
    // A secret is supplied again unchanged; a resumable parameter is changed (journaled).
    let is_secret =
        |k: &str| header.pointer(&format!("/params/{k}")).is_some_and(crate::journal::is_redacted);
    let (secret_sets, param_sets): (Vec<_>, Vec<_>) =
        a.set.into_iter().partition(|(k, _)| is_secret(k));
    let mut changed = serde_json::Map::new();
    for (name, raw) in &param_sets {
        let def = plan.runbook.param(name).ok_or_else(|| {
            UserError::usage(format!(
                "--set {name}: parameter {name} is not a parameter of this run"
            ))
        })?;
        if !def.resumable {
            return Err(UserError::usage(format!(
                "--set {name}: parameter {name} cannot be changed on resume"
            ))
            .with_hint("only parameters the runbook declares `resumable: true` (e.g. restore_exclude) can; start a new run to change the others")
            .into());
        }
        let v = runbook::parse_param_value(&def.ty, raw)
            .map_err(|e| UserError::usage(format!("--set {name}: parameter {name} {e}")))?;
        changed.insert(name.clone(), v);
    }
    let secrets: serde_json::Map<String, serde_json::Value> =
        secret_sets.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
    runner::check_secret_params(&header, &secrets).map_err(|e| {
        UserError::usage(e).with_hint("pass the secret exactly as when the run started")
    })?;
    for (name, v) in &secrets {
        if let Some(why) = crate::redact::value_weakness(v) {
            return Err(UserError::usage(format!("--set {name}: secret parameter {name} {why}"))
                .with_hint("a run whose secret is that short cannot be resumed safely: start a new run with a longer secret")
                .into());
        }
        crate::redact::register(v);
    }
    if let Some(params) = header.get("params").and_then(|p| p.as_object()) {
        for (name, v) in params {
            if crate::journal::is_redacted(v) && !secrets.contains_key(name) {
                crate::say_err!(
                    "warning: secret parameter {name} was not supplied: steps that use it see a redaction marker (pass --set {name}=...)"
                );
            }
        }
    }
    let mut identity = a.identity.clone();
    let mut asker = asker;
    if let (Some(asker), true) = (asker.as_mut(), store_ahead) {
        super::questions::ask_identity(asker, &plan, g, &mut identity).await?;
    }
    let mut services = services_for(&plan, g, Some(&dir), &identity, None)?;
    let inbox = home.remote.as_ref().map(|s| super::shared::wire(s, &a.run_id, &mut services));
    if store_ahead {
        super::questions::check_identity(&services).await?;
    }
    let actor = super::identity::actor(services.get::<ArmClient>().as_deref()).await?;
    if !changed.is_empty() {
        let shown = serde_json::Value::Object(changed.clone()).to_string();
        runner::apply_manual(
            &dir,
            &registry,
            Event::ParamsChanged { params: changed, by: actor.clone() },
            now(),
        )
        .map_err(UserError::from)?;
        say!("parameters changed for the rest of run {}: {shown}", a.run_id);
    }
    if !a.no_rearm {
        let rearmed =
            runner::rearm_failed(&dir, &registry, &actor, now()).map_err(UserError::from)?;
        for (name, reason) in rearmed {
            say!("re-armed step {name} (its last failure may pass now: {reason})");
        }
    }
    let notifier = super::notify::start(notify, false);
    if let Some(asker) = asker {
        let opts = super::guided::GuidedOptions {
            verbose: a.verbose,
            interrupt: asker.interrupt(),
            observer: super::notify::observer(&notifier),
            took_over_from: _remote.as_ref().and_then(|r| r.took_over_from.clone()),
            inbox: inbox.clone(),
        };
        let exit =
            super::guided::drive_guided(&dir, &a.run_id, &registry, services, secrets, opts).await;
        super::notify::finish(notifier, &dir, &registry, &[]).await;
        let exit = exit?;
        sign_if_asked(&dir, sign_key.as_ref())?;
        return Ok(exit);
    }
    let how = Drive {
        actor,
        took_over_from: _remote.as_ref().and_then(|r| r.took_over_from.clone()),
        wait_for_people: a.wait_for_people,
        notifier,
        inbox,
    };
    drive(&dir, &a.run_id, &registry, Arc::new(services), secrets, sign_key.as_ref(), how).await
}

/// Who drives, how long a drive waits for people (`--wait-for-people`), and who is told
/// (`--notify`).
struct Drive {
    actor: Actor,
    /// The driver whose lease `resume --take-over` broke, for the `resumed` event.
    took_over_from: Option<String>,
    wait_for_people: std::time::Duration,
    notifier: Option<Arc<crate::notify::Notifier>>,
    /// The run's inbox on an az:// run store (`None`: `<run dir>/inbox/`).
    inbox: Option<Arc<dyn crate::engine::inbox::Inbox>>,
}

async fn drive(
    dir: &std::path::Path,
    run_id: &str,
    registry: &Registry,
    services: Arc<Services>,
    secret_params: serde_json::Map<String, serde_json::Value>,
    sign_key: Option<&ed25519_dalek::SigningKey>,
    how: Drive,
) -> anyhow::Result<Exit> {
    let Drive { actor, took_over_from, wait_for_people, notifier, inbox } = how;
    let observer = super::notify::observer(&notifier);
    let options = RunOptions {
        actor,
        secret_params,
        wait_for_people,
        observer,
        took_over_from,
        inbox,
        ..RunOptions::default()
    };
    let outcome = runner::drive(dir, registry, services, clock(), &options).await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            // The people notified hear that the run stopped, whatever stopped it.
            super::notify::finish(notifier, dir, registry, &[]).await;
            return Err(UserError::from(e).into());
        }
    };
    sign_if_asked(dir, sign_key)?;
    print!("{}", crate::redact::scrub_output(&describe_outcome(run_id, &outcome)));
    if let Ok(r) = runner::load(dir, registry) {
        print!("{}", crate::redact::scrub_output(&describe_warnings(run_id, &r.engine.snapshot())));
    }
    super::notify::finish(notifier, dir, registry, &[]).await;
    Ok(outcome.exit())
}

/// Signs the journal when `--sign-key` was given. Called whenever a drive stops (succeeded,
/// failed or paused), so a paused run's record is covered too.
fn sign_if_asked(
    dir: &std::path::Path,
    sign_key: Option<&ed25519_dalek::SigningKey>,
) -> anyhow::Result<()> {
    if let Some(key) = sign_key {
        crate::audit::sign::sign_run(dir, key, now()).map_err(UserError::from)?;
    }
    Ok(())
}

/// What a person reads when `run`/`resume` stops: the result, and exactly what to do next.
pub fn describe_outcome(run_id: &str, outcome: &RunOutcome) -> String {
    let mut out = String::new();
    match outcome {
        RunOutcome::Succeeded => out.push_str(&format!("run {run_id} succeeded\n")),
        RunOutcome::Cancelled => out.push_str(&format!("run {run_id} was cancelled\n")),
        RunOutcome::Sleeping { until } => {
            out.push_str(&format!("run {run_id} is waiting until {}\n", fmt_time(*until)));
            out.push_str(&format!("continue with: lifeboat resume {run_id}\n"));
        }
        RunOutcome::Failed { blockers } => {
            out.push_str(&format!("run {run_id} failed\n"));
            for b in blockers.iter().filter(|b| b.phase == Phase::Failed) {
                out.push_str(&format!(
                    "  step {} failed: {}\n",
                    b.name(),
                    b.message.as_deref().unwrap_or("")
                ));
            }
            out.push_str(&format!(
                "once the cause is fixed (e.g. the region is back): lifeboat resume {run_id} (it retries the steps whose failure was retryable)\ninspect with: lifeboat status {run_id}; to go on without a failed step: lifeboat skip {run_id} STEP --reason TEXT, then lifeboat resume {run_id}\n"
            ));
        }
        RunOutcome::Paused { blockers } => {
            out.push_str(&format!("run {run_id} is paused: it waits for a person\n"));
            for b in blockers {
                out.push_str(&describe_blocker(run_id, b));
            }
            out.push_str(&format!("then continue with: lifeboat resume {run_id}\n"));
        }
    }
    out
}

/// The warnings of the checks before the run (the header's `warnings`, e.g. where its stores
/// live), as `run` printed them, under the instance name `run`.
pub fn header_warnings(header: &serde_json::Value) -> Vec<(String, String)> {
    header
        .get("warnings")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|w| w.as_str().map(|w| ("run".to_string(), w.to_string())))
        .collect()
}

/// The warnings of the steps that succeeded with one (output `warnings`, e.g. Microsoft's side
/// not recreated by its deadline), by step instance.
pub fn run_warnings(views: &[InstanceView]) -> Vec<(String, String)> {
    views
        .iter()
        .filter_map(|v| {
            let i = v.instance.as_ref()?;
            (i.state.phase() == Phase::Succeeded).then_some((v.name(), i.outputs.as_ref()?))
        })
        .flat_map(|(name, outputs)| {
            crate::catalog::output_warnings(outputs).into_iter().map(move |w| (name.clone(), w))
        })
        .collect()
}

/// The run's warnings as `run`/`resume` print them after the outcome (nothing when none).
pub fn describe_warnings(run_id: &str, views: &[InstanceView]) -> String {
    let warnings = run_warnings(views);
    if warnings.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "warnings ({}; also in `lifeboat status {run_id}` and the audit record):\n",
        warnings.len()
    );
    for (step, w) in warnings {
        out.push_str(&format!("  step {step}: {w}\n"));
    }
    out
}

fn describe_blocker(run_id: &str, b: &Blocker) -> String {
    let shown = b.name();
    let name = super::status::shell_arg(&shown);
    let msg = b.message.as_deref().unwrap_or("");
    match (b.phase, b.interrupted) {
        (Phase::AwaitingApproval, _) => {
            format!("  step {shown} awaits approval: {msg}\n    lifeboat approve {run_id} {name} --comment TEXT\n")
        }
        (Phase::AwaitingAttestation, false) => {
            format!("  step {shown} is a manual task: {msg}\n    lifeboat attest {run_id} {name} --evidence TEXT\n")
        }
        (Phase::AwaitingAttestation, true) => format!(
            "  step {shown} was interrupted and must never run twice: check whether it took effect, then\n    lifeboat attest {run_id} {name} --evidence TEXT    (it did)\n    lifeboat skip {run_id} {name} --reason TEXT        (it did not, or it is not needed)\n"
        ),
        _ => format!("  step {shown}: {msg}\n"),
    }
}

/// A time as people read it: local, to the second, with the offset.
fn fmt_time(t: OffsetDateTime) -> String {
    crate::text::local_time(t)
}

fn parse_step(text: &str) -> Result<(String, Option<BranchRef>), UserError> {
    engine::parse_instance_name(text).ok_or_else(|| {
        UserError::usage(format!("step `{text}` is not a step name"))
            .with_hint("use STEP, STEP[LABEL] for a branch by its label (as `lifeboat status RUN` shows it), or STEP#N for branch N")
    })
}

/// A person's `STEP`, `STEP[LABEL]` or `STEP#N`, and whether `--all` was given (only with a
/// plain `STEP`: it picks every branch).
struct Target {
    text: String,
    step: String,
    branch: Option<BranchRef>,
    branches: Branches,
}

fn parse_target(text: &str, all: bool) -> Result<Target, UserError> {
    let (step, branch) = parse_step(text)?;
    let branches = match (&branch, all) {
        (Some(_), true) => {
            return Err(UserError::usage(format!(
                "`{text}` names one branch and --all asks for every branch"
            ))
            .with_hint("drop [LABEL] or #N to act on every branch, or drop --all"))
        }
        (_, true) => Branches::All,
        (_, false) => Branches::Named,
    };
    Ok(Target { text: text.to_string(), step, branch, branches })
}

/// A person's `approve`, `attest` or `skip`: the step instance as typed (`STEP`, `STEP#N`,
/// `STEP[label]`) is resolved against the run, the person identified (`identity::for_run`),
/// then the event journaled under the run's lock; while another process holds the lock (it
/// drives the run), the request goes into the run's inbox and this waits up to `wait` for that
/// process to record or refuse it (exit 6 if it does neither in time: the request stays queued).
async fn manual(
    g: &Globals,
    run_id: &str,
    verb: Verb,
    typed: &str,
    all: bool,
    text: Option<String>,
    wait: std::time::Duration,
) -> anyhow::Result<Exit> {
    // Syntax and `--all` with a branch: bad input before anything is read.
    let target = parse_target(typed, all)?;
    let home = g.run_home().await?;
    // On an az:// run store: the run's lease at once if no driver holds it (this process then
    // journals directly, the blob first, and releases it); else the request goes into the
    // run's inbox beside the journal there.
    let reached = match &home.remote {
        Some(store) => Some(super::shared::reach(store, &home.root, run_id).await?),
        None => None,
    };
    let dir = match &reached {
        Some(r) => r.dir().to_path_buf(),
        None => runner::run_dir(&home.root, run_id).map_err(UserError::from)?,
    };
    let registry = crate::steps::registry();
    let replayed = runner::load(&dir, &registry).map_err(UserError::from)?;
    let plan: runbook::Plan =
        serde_json::from_value(replayed.header.get("plan").cloned().unwrap_or_default()).map_err(
            |e| UserError::failed(format!("run {run_id}: the journal header holds no plan ({e})")),
        )?;
    // An unknown step or branch is bad input now, whoever drives the run: nothing is queued.
    let (step, branch) = inbox::resolve_parsed(&replayed.engine, &target.step, target.branch)
        .map_err(|e| {
            UserError::usage(format!("run {run_id}: {e}"))
                .with_hint(format!("`lifeboat status {run_id}` lists its steps and branches"))
        })?;
    let by = super::identity::for_run(&plan, g).await?;
    let request = inbox::Request::new(verb, &target.text, all, text, by, now());
    if let (Some(store), Some(super::shared::Reached::Driven { driver, .. })) =
        (&home.remote, &reached)
    {
        return super::shared::queue_remote(store, &home.root, run_id, &request, driver, wait)
            .await;
    }
    let mut event = request.event(step, branch);
    if let Event::Approved { by, .. } | Event::Attested { by, .. } | Event::Skipped { by, .. } =
        &mut event
    {
        by.request = None;
    }
    match runner::apply_manual_to(&dir, &registry, event, now(), target.branches) {
        Ok(applied) => {
            // Exactly which instances the command changed (with --all, maybe several).
            let names = if applied.changed.is_empty() {
                typed.to_string()
            } else {
                applied.changed.join(", ")
            };
            if let Some(super::shared::Reached::Taken(r)) = &reached {
                say!("recorded in the run store: {}", r.source());
            }
            println!(
                "{} {names} of run {run_id}; continue with: lifeboat resume {run_id}",
                verb.done()
            );
            Ok(Exit::Ok)
        }
        Err(RunError::Locked(crate::journal::lock::LockError::Held { holder, .. })) => {
            let driver = holder.map(|h| h.to_string()).unwrap_or_else(|| "another process".into());
            queue(&dir, run_id, &registry, &request, &driver, wait).await
        }
        Err(e) => Err(UserError::from(e).into()),
    }
}

/// Puts `request` into the run's inbox and waits up to `wait` for the process driving the run
/// to record it (its id in the journal) or refuse it; takes the inbox over itself if that
/// process lets the run go meanwhile.
async fn queue(
    dir: &std::path::Path,
    run_id: &str,
    registry: &Registry,
    request: &inbox::Request,
    driver: &str,
    wait: std::time::Duration,
) -> anyhow::Result<Exit> {
    let inbox = LocalInbox::for_run(dir);
    let name = inbox.put(request).map_err(|e| UserError::failed(e.to_string()))?;
    let what = format!("{} {}", request.verb.name(), request.step);
    say!(
        "run {run_id} is driven by {driver}: queued request {} ({what}) in its inbox; waiting up to {} for that process to record it",
        request.id,
        humantime::format_duration(wait)
    );
    let mut journal = inbox::JournalWatch::new(&dir.join(crate::journal::JOURNAL_FILE));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(seq) = journal.find(&request.id).ok().flatten() {
            println!(
                "{what} of run {run_id}: recorded at seq {seq} by the process driving the run (request {})",
                request.id
            );
            return Ok(Exit::Ok);
        }
        match inbox.state(&name) {
            Ok(RequestState::Refused(reason)) => {
                return Err(UserError::usage(format!(
                    "{what} of run {run_id} was refused by the process driving the run: {reason}"
                ))
                .with_hint(format!(
                    "nothing was journaled; the request is kept in {}",
                    inbox.dir().join(inbox::REFUSED_DIR).join(&name).display()
                ))
                .into());
            }
            Ok(RequestState::Pending) => {
                // The driver may have let the run go: then this process takes the inbox.
                match runner::drain_inbox(dir, registry, now()) {
                    Ok(_) | Err(RunError::Locked(_)) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot take the run's inbox"),
                }
            }
            Ok(RequestState::Done | RequestState::Unknown) | Err(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    say!(
        "{what} of run {run_id} is not recorded yet: the process driving the run did not take it within {}. The request stays queued ({}); it is recorded when that process next reads its inbox, or by the next `lifeboat resume {run_id}`; `lifeboat status {run_id}` shows it",
        humantime::format_duration(wait),
        inbox.dir().join(&name).display()
    );
    Ok(Exit::Queued)
}

pub async fn execute_approve(a: ApproveArgs, g: &Globals) -> anyhow::Result<Exit> {
    manual(g, &a.run_id, Verb::Approve, &a.step, a.all, a.comment, a.wait).await
}

pub async fn execute_attest(a: AttestArgs, g: &Globals) -> anyhow::Result<Exit> {
    if a.evidence.trim().is_empty() {
        return Err(UserError::usage("--evidence is empty")
            .with_hint("say what was done, e.g. a ticket number")
            .into());
    }
    manual(g, &a.run_id, Verb::Attest, &a.step, a.all, Some(a.evidence), a.wait).await
}

pub async fn execute_skip(a: SkipArgs, g: &Globals) -> anyhow::Result<Exit> {
    if a.reason.trim().is_empty() {
        return Err(UserError::usage("--reason is empty")
            .with_hint("say why the step is skipped")
            .into());
    }
    manual(g, &a.run_id, Verb::Skip, &a.step, a.all, Some(a.reason), a.wait).await
}

pub async fn execute_status(a: StatusArgs, g: &Globals) -> anyhow::Result<Exit> {
    let Some(run_id) = a.run_id else {
        return execute_runs(RunsCommand::List, g).await;
    };
    let home = g.run_home().await?;
    let dir = match &home.remote {
        Some(store) => crate::runstore::remote::sync_down(store, &home.root, &run_id).await?,
        None => runner::run_dir(&home.root, &run_id).map_err(UserError::from)?,
    };
    if a.watch {
        return super::watch::watch(&dir, &run_id, a.interval, g, home.remote.as_ref()).await;
    }
    let r = runner::load(&dir, &crate::steps::registry()).map_err(UserError::from)?;
    let mut status = super::status::RunStatus::build(&run_id, &r.engine, &r.header);
    match &home.remote {
        // On an az:// run store: the inbox beside the journal there, and where things are.
        Some(store) => {
            let run = super::shared::SharedRun::new(Arc::new(store.clone()), &run_id);
            status.run_store = Some(run.status().await);
            let inbox = run.inbox();
            let (pending, refused) = tokio::task::spawn_blocking(move || {
                (inbox.list().unwrap_or_default(), inbox.refused().unwrap_or_default())
            })
            .await
            .unwrap_or_default();
            add_inbox_from(&mut status, pending, refused);
        }
        None => add_inbox(&mut status, &dir),
    }
    match g.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&status)?),
        OutputFormat::Table => print!("{}", status.render(&r.engine.snapshot(), now())),
    }
    Ok(Exit::Ok)
}

/// The run's inbox in `status`: the requests waiting for the process driving the run (who,
/// what, since) as `pending_requests`, and the last requests it refused (why) as warnings.
fn add_inbox(status: &mut super::status::RunStatus, dir: &std::path::Path) {
    add_inbox_from(status, runner::pending_requests(dir), runner::refused_requests(dir));
}

/// [`add_inbox`] of requests read from any inbox (a shared run store's too).
pub(super) fn add_inbox_from(
    status: &mut super::status::RunStatus,
    pending: Vec<inbox::Pending>,
    refused: Vec<inbox::Refusal>,
) {
    for p in pending {
        let since = p.since.map(crate::text::local_time);
        let when = since.clone().unwrap_or_else(|| "?".into());
        status.pending_requests.push(match &p.request {
            Ok(r) => serde_json::json!({
                "file": p.name, "id": r.id, "verb": r.verb, "step": r.step, "all": r.all,
                "by": r.by.describe(), "actor": r.by, "since": since,
                "summary": format!("{} (queued {when})", r.summary()),
            }),
            Err(e) => serde_json::json!({
                "file": p.name, "since": since, "problem": e,
                "summary": format!("warning: inbox file {} {e} (queued {when}); it will be refused", p.name),
            }),
        });
    }
    const SHOWN: usize = 5;
    for r in refused.iter().skip(refused.len().saturating_sub(SHOWN)) {
        let text = match &r.request {
            Some(q) => format!("refused inbox request {} ({}): {}", q.id, q.summary(), r.reason),
            None => format!("refused: {}", r.reason),
        };
        status.warnings.push(super::status::StatusWarning { instance: "inbox".into(), text });
    }
}

fn status_name(s: &engine::Status) -> String {
    match s {
        engine::Status::Active { next_timer: Some(t) } => {
            format!("active (next check {})", fmt_time(*t))
        }
        engine::Status::Active { next_timer: None } => "active".into(),
        engine::Status::Paused => "paused (waits for a person)".into(),
        engine::Status::Succeeded => "succeeded".into(),
        engine::Status::Failed => "failed".into(),
        engine::Status::Cancelled => "cancelled".into(),
    }
}

/// The steps of one run as a table: step, state, attempts, started, duration, waiting for.
pub fn status_table(views: &[InstanceView], now: OffsetDateTime) -> String {
    let mut rows = vec![[
        "STEP".to_string(),
        "STATE".into(),
        "ATTEMPTS".into(),
        "STARTED".into(),
        "DURATION".into(),
        "WAITING FOR / ERROR".into(),
    ]];
    for v in views {
        let row = match &v.instance {
            None => [
                v.name(),
                "pending".into(),
                "0".into(),
                "-".into(),
                "-".into(),
                "upstream steps (fan-out not expanded yet)".into(),
            ],
            Some(i) => {
                let duration = i.first_started.map(|s| {
                    let end = i.finished.unwrap_or(now);
                    humantime::format_duration(std::time::Duration::from_secs(
                        (end - s).whole_seconds().max(0) as u64,
                    ))
                    .to_string()
                });
                [
                    v.name(),
                    i.state.phase().name().to_string(),
                    i.attempt.to_string(),
                    i.first_started.map(fmt_time).unwrap_or_else(|| "-".into()),
                    duration.unwrap_or_else(|| "-".into()),
                    super::status::row_note(i),
                ]
            }
        };
        rows.push(row);
    }
    render_rows(&rows)
}

/// What a finished step says it did not restore (its `not_restored` output: `restore_exclude`
/// entries, or settings of a connector recovered without backup), on one line for the status
/// table; the whole list is in `status --output json`, the run report and the audit record.
pub fn not_restored_note(outputs: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let list = outputs.get("not_restored")?.as_array().filter(|l| !l.is_empty())?;
    let mut reasons: Vec<String> = Vec::new();
    for e in list {
        let r = e.get("reason").and_then(|r| r.as_str()).unwrap_or("").to_string();
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    let no_backup = crate::steps::devops::NO_BACKUP;
    let what: Vec<String> = list
        .iter()
        .filter_map(|e| {
            let field = e.get("field").and_then(|f| f.as_str())?;
            let resource = e.get("resource").and_then(|r| r.as_str()).unwrap_or("");
            let scope = crate::steps::restore::scope_of(resource);
            Some(format!("{scope}:{field}"))
        })
        .take(4)
        .collect();
    let more = if list.len() > what.len() {
        format!(" and {} more", list.len() - what.len())
    } else {
        String::new()
    };
    let why = if reasons.iter().any(|r| r == no_backup) {
        format!("not restored: {no_backup}")
    } else {
        format!("not restored ({})", reasons.join(", "))
    };
    Some(format!("{why}: {}{more} (`status --output json` lists them)", what.join(", ")))
}

pub(super) fn render_rows<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub async fn execute_runs(c: RunsCommand, g: &Globals) -> anyhow::Result<Exit> {
    match c {
        RunsCommand::List => {
            let home = g.run_home().await?;
            if let Some(store) = &home.remote {
                crate::runstore::remote::sync_all(store, &home.root).await?;
            }
            let runs = runner::list_runs(&home.root, &crate::steps::registry());
            match g.output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&runs)?),
                OutputFormat::Table => {
                    let mut rows = vec![[
                        "RUN".to_string(),
                        "RUNBOOK".into(),
                        "STATUS".into(),
                        "STEPS DONE".into(),
                        "STARTED".into(),
                        "BY".into(),
                        "WAITS FOR".into(),
                    ]];
                    for r in &runs {
                        rows.push([
                            r.run_id.clone(),
                            r.runbook.clone(),
                            r.error
                                .clone()
                                .map(|e| format!("unreadable: {e}"))
                                .unwrap_or_else(|| status_name(&r.status)),
                            format!("{}/{}", r.steps_done, r.steps_total),
                            r.started.map(fmt_time).unwrap_or_default(),
                            r.started_by.clone().unwrap_or_default(),
                            r.waits_for.clone().unwrap_or_default(),
                        ]);
                    }
                    print!("{}", render_rows(&rows));
                }
            }
            Ok(Exit::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_status_table_names_what_was_not_restored() {
        let mut o = serde_json::Map::new();
        assert_eq!(not_restored_note(&o), None);
        o.insert("not_restored".into(), json!([]));
        assert_eq!(not_restored_note(&o), None);
        let org = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/securityConnectors/c/devops/default/azureDevOpsOrgs/contoso";
        o.insert(
            "not_restored".into(),
            json!([{"resource": org, "field": "properties.actionableRemediation", "reason": "no backup"}]),
        );
        let n = not_restored_note(&o).unwrap();
        assert!(
            n.starts_with(
                "not restored: no backup: azureDevOpsOrgs/contoso:properties.actionableRemediation"
            ),
            "{n}"
        );
        o.insert(
            "not_restored".into(),
            json!([{"resource": org, "field": "properties.x", "reason": "restore_exclude"}]),
        );
        let n = not_restored_note(&o).unwrap();
        assert!(
            n.starts_with("not restored (restore_exclude): azureDevOpsOrgs/contoso:properties.x"),
            "{n}"
        );
    }
}
