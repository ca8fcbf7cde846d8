//! The command line: clap definitions, global options, dispatch. Glue only: every command is a
//! thin function over the library, so tests can reach all logic without the binary.
//!
//! Each area owns one file here (`runbooks`, `plan`, `run`, `sim`, `connectors`, `backup`, `drill`, `audit`,
//! `docs`) with its clap arguments and an `async fn execute(args, &Globals) -> anyhow::Result<Exit>`.

pub mod audit;
pub mod backup;
pub mod config;
pub mod connectors;
pub mod docs;
pub mod doctor;
pub mod drill;
pub mod guided;
pub mod identity;
pub mod notify;
pub mod placement;
pub mod plan;
pub mod questions;
pub mod run;
pub mod runbooks;
pub mod shared;
pub mod sim;
pub mod status;
pub mod watch;

use crate::azure::{AuthMode, CloudName};
use crate::error::{self, Exit};
use clap::builder::PossibleValue;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Disaster recovery for Microsoft Defender for Cloud DevOps security connectors",
    long_about = "Disaster recovery for Microsoft Defender for Cloud DevOps security connectors.\n\n\
        Back up connector configuration before an outage, recover connectors after a region \
        outage with a checkpointed runbook, rehearse with `lifeboat drill`, and export audit \
        records of every run.\n\n\
        Exit codes: 0 success; 1 a run, drill or verification failed; 2 bad usage or bad input \
        (nothing was done); 3 the run is paused (resume later); 4 the run is locked by another \
        process; 5 authentication failed; 6 a request (approve, attest, skip) was queued in the \
        inbox of a run another process drives and not recorded within --wait."
)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct Globals {
    /// Where runs (journals), drill reports and the default backup store live
    /// [default: the platform's data directory]/lifeboat
    #[arg(long, global = true, env = "LIFEBOAT_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Azure Resource Manager endpoint; set it to a `lifeboat sim serve` URL for the simulator
    #[arg(long, global = true, env = "LIFEBOAT_ARM_ENDPOINT", value_name = "URL")]
    pub arm_endpoint: Option<String>,

    /// How to authenticate to Azure
    #[arg(long, global = true, env = "LIFEBOAT_AUTH", value_enum, default_value_t = AuthMode::Auto)]
    pub auth: AuthMode,

    /// Which Azure cloud (ARM endpoint and token scope)
    #[arg(long, global = true, env = "LIFEBOAT_CLOUD", value_enum, default_value_t = CloudName::Public)]
    pub cloud: CloudName,

    /// Backup store: a directory or `az://container/prefix` [default: <state-dir>/backups]
    #[arg(long, global = true, env = "LIFEBOAT_BACKUP_STORE", value_name = "URL")]
    pub backup_store: Option<String>,

    /// Where runs live: a directory, or `az://container[/prefix]` on Azure Blob Storage so a
    /// run outlives the machine that started it (credentials as for an az:// backup store).
    /// Also LIFEBOAT_RUN_STORE, or the config file's `[run-store] url` [default: <state-dir>]
    #[arg(long, global = true, value_name = "URL")]
    pub run_store: Option<String>,

    /// Output format of listing and status commands
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Log filter (tracing syntax: `info`, `lifeboat=debug`), written to stderr
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_LOG",
        default_value = "warn",
        value_name = "FILTER"
    )]
    pub log: String,

    /// Log format
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Use this api-version for one API family, FAMILY=VERSION (repeatable; families:
    /// connectors, devops, graph, support, subscriptions, resourcegroups, authorization, storage), e.g. devops=2025-11-01-preview. Also
    /// LIFEBOAT_API_VERSIONS=FAMILY=VERSION,...; a flag wins for its family. An override is
    /// never negotiated away: if Azure refuses it, the command fails naming it
    #[arg(
        long = "api-version",
        global = true,
        value_name = "FAMILY=VERSION",
        value_parser = parse_api_version_flag
    )]
    pub api_version: Vec<crate::azure::ApiOverride>,

    /// The config file (TOML, `[api-versions]` FAMILY = "VERSION"); default
    /// `~/.config/lifeboat/config.toml` when it exists
    #[arg(long, global = true, env = "LIFEBOAT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// clap's parser of `--api-version` (a bad value exits 2 with the message, before anything).
fn parse_api_version_flag(s: &str) -> Result<crate::azure::ApiOverride, String> {
    crate::azure::api::parse_override(s, crate::azure::api::OverrideOrigin::Flag)
}

impl Globals {
    /// The Azure connection of a command: `--arm-endpoint`, `--auth`, `--cloud`, and the
    /// api-versions (the config file, `LIFEBOAT_API_VERSIONS` on top, then `--api-version`).
    /// Nothing is sent. The one place a command connects: call it once per command and share the
    /// client (clones share its api-versions, throttle and token cache).
    pub fn connect(&self) -> Result<crate::azure::Connection, error::UserError> {
        let env: std::collections::HashMap<String, String> = std::env::vars().collect();
        self.connect_with_env(&env)
    }

    /// [`Globals::connect`] with a given environment.
    fn connect_with_env(
        &self,
        env: &std::collections::HashMap<String, String>,
    ) -> Result<crate::azure::Connection, error::UserError> {
        let options = crate::azure::ConnectOptions {
            arm_endpoint: self.arm_endpoint.clone(),
            auth: self.auth,
            cloud: self.cloud,
        };
        let conn = crate::azure::connect(&options, env)?;
        if let Some((path, config)) = config::load(self.config.as_deref())? {
            // The environment's overrides were applied by `connect` and win over the file's.
            let from_env = crate::azure::env_overrides(env)?;
            let file: Vec<_> = config
                .api_overrides(&path)?
                .into_iter()
                .filter(|o| !from_env.iter().any(|e| e.family == o.family))
                .collect();
            conn.client.set_api_overrides(&file);
        }
        conn.client.set_api_overrides(&self.api_version);
        Ok(conn)
    }

    /// The run store: `--run-store` > `LIFEBOAT_RUN_STORE` > the config file's `[run-store]
    /// url`; `None`: the state directory (today's layout). A bad value is exit 2.
    pub fn run_store_url(&self) -> Result<Option<crate::runstore::RunStoreUrl>, error::UserError> {
        let env = std::env::var(crate::runstore::ENV).ok();
        let file = match (&self.run_store, &env) {
            (None, None) => config::load(self.config.as_deref())?
                .and_then(|(_, c)| c.run_store.and_then(|r| r.url)),
            _ => None,
        };
        Ok(crate::runstore::RunStoreUrl::resolve(
            self.run_store.as_deref(),
            env.as_deref(),
            file.as_deref(),
        )?
        .map(|(u, _)| u))
    }

    /// Where a command finds runs: the state directory, a `--run-store` directory, or the
    /// local working copies of an `az://` run store (whose container is checked first: a
    /// missing one or no credential is exit 2 before anything is written).
    pub async fn run_home(&self) -> anyhow::Result<RunHome> {
        use crate::runstore::RunStoreUrl;
        let url = self.run_store_url()?;
        let (root, remote) = match &url {
            None => (self.state_dir()?, None),
            Some(RunStoreUrl::Local(dir)) => (dir.clone(), None),
            Some(url) => {
                let env = |k: &str| std::env::var(k).ok();
                let now = crate::clock::Clock::now(&crate::clock::SystemClock);
                let store = crate::runstore::BlobStore::open(url, &env, now)
                    .map_err(error::UserError::from)?;
                store.check_container().await.map_err(error::UserError::from)?;
                (crate::runstore::remote::cache_root(&self.state_dir()?, &store), Some(store))
            }
        };
        Ok(RunHome { root, remote, url })
    }

    /// The state directory: `--state-dir`, `LIFEBOAT_STATE_DIR`, or `<data dir>/lifeboat`.
    pub fn state_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.state_dir {
            return Ok(dir.clone());
        }
        dirs::data_dir().map(|d| d.join("lifeboat")).ok_or_else(|| {
            error::UserError::usage("no data directory is known for this platform")
                .with_hint("pass --state-dir DIR or set LIFEBOAT_STATE_DIR")
                .into()
        })
    }
}

/// Where a command's runs are: `root` is the state directory of runs (`<root>/runs/<id>/`);
/// with an `az://` run store it holds the local working copies and `remote` is the store.
#[derive(Debug)]
pub struct RunHome {
    pub root: PathBuf,
    pub remote: Option<crate::runstore::BlobStore>,
    /// The run store as resolved (flag, environment or config file); `None`: the state directory.
    pub url: Option<crate::runstore::RunStoreUrl>,
}

// `--auth` and `--cloud` parse into `azure`'s own enums: clap stays in this module.
impl ValueEnum for AuthMode {
    fn value_variants<'a>() -> &'a [Self] {
        use AuthMode::*;
        &[Auto, Cli, Azd, ManagedIdentity, WorkloadIdentity, ClientSecret, AzurePipelines, None]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            AuthMode::Auto => PossibleValue::new("auto").help(
                "The first credential whose environment is present (client secret, workload \
                 identity, Azure Pipelines, managed identity, az CLI, azd)",
            ),
            AuthMode::Cli => PossibleValue::new("cli"),
            AuthMode::Azd => PossibleValue::new("azd"),
            AuthMode::ManagedIdentity => PossibleValue::new("managed-identity"),
            AuthMode::WorkloadIdentity => PossibleValue::new("workload-identity"),
            AuthMode::ClientSecret => PossibleValue::new("client-secret"),
            AuthMode::AzurePipelines => PossibleValue::new("azure-pipelines"),
            AuthMode::None => PossibleValue::new("none")
                .help("No credential: only for the simulator and other loopback endpoints"),
        })
    }
}

impl ValueEnum for CloudName {
    fn value_variants<'a>() -> &'a [Self] {
        &[CloudName::Public, CloudName::UsGovernment, CloudName::China]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            CloudName::Public => "public",
            CloudName::UsGovernment => "us-government",
            CloudName::China => "china",
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, show and export the runbooks built into lifeboat (`region-outage`, ...)
    #[command(subcommand)]
    Runbooks(runbooks::RunbooksCommand),
    /// Show the resolved step graph of a runbook in execution order; nothing is executed
    Plan(plan::PlanArgs),
    /// Draw a runbook's step graph as Graphviz DOT or Mermaid
    Graph(plan::GraphArgs),
    /// Start a run of a runbook
    Run(run::RunArgs),
    /// Continue a run where it stopped
    Resume(run::ResumeArgs),
    /// Show all runs, or the steps of one run
    Status(run::StatusArgs),
    /// Approve a gate of a run
    Approve(run::ApproveArgs),
    /// Record that a person did a manual step, with evidence
    Attest(run::AttestArgs),
    /// Skip a step, with a reason
    Skip(run::SkipArgs),
    /// List and inspect runs
    #[command(subcommand)]
    Runs(run::RunsCommand),
    /// Find DevOps security connectors through Azure Resource Graph
    #[command(subcommand)]
    Connectors(connectors::ConnectorsCommand),
    /// Probe each Azure API family once and show the api-version in use and whether it works
    Doctor(doctor::DoctorArgs),
    /// Back up connector configuration; list, verify, compare and prune snapshots
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Rehearse the recovery of a lost connector and measure RTO and RPO
    Drill(Box<drill::DrillArgs>),
    /// Export and verify the audit record of a run
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The simulated Azure used by drills and tests
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Print shell completions
    Completions(docs::CompletionsArgs),
    /// Print the man page
    Man(docs::ManArgs),
}

/// Parses, runs, and maps the outcome to an exit code. The binary's whole `main`.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.globals);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(Exit::Failed.code());
        }
    };
    let outcome = runtime.block_on(dispatch(cli));
    let exit = match outcome {
        Ok(exit) => exit,
        Err(err) => {
            // Scrubbed of every secret this process learned (parameters, step outputs, codes).
            eprintln!("{}", crate::redact::scrub_output(&error::render(&err)));
            error::exit_for(&err)
        }
    };
    std::process::ExitCode::from(exit.code())
}

fn init_logging(g: &Globals) {
    let filter = tracing_subscriber::EnvFilter::try_new(&g.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Each log record is scrubbed of the secrets the process knows before it reaches stderr.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::redact::StderrScrubber);
    let _ = match g.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs one parsed command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    let g = &cli.globals;
    match cli.command {
        Command::Runbooks(c) => runbooks::execute(c, g).await,
        Command::Plan(a) => plan::execute_plan(a, g).await,
        Command::Graph(a) => plan::execute_graph(a, g).await,
        Command::Run(a) => run::execute_run(a, g).await,
        Command::Resume(a) => run::execute_resume(a, g).await,
        Command::Status(a) => run::execute_status(a, g).await,
        Command::Approve(a) => run::execute_approve(a, g).await,
        Command::Attest(a) => run::execute_attest(a, g).await,
        Command::Skip(a) => run::execute_skip(a, g).await,
        Command::Runs(c) => run::execute_runs(c, g).await,
        Command::Connectors(c) => connectors::execute(c, g).await,
        Command::Doctor(a) => doctor::execute(a, g).await,
        Command::Backup(c) => backup::execute(c, g).await,
        Command::Drill(a) => drill::execute(*a, g).await,
        Command::Audit(c) => audit::execute(c, g).await,
        Command::Sim(c) => sim::execute(c, g).await,
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
    }
}
