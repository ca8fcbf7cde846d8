//! `lifeboat drill` (simulated by default, `--live` against real Azure, `--cleanup RUN_ID`) and
//! `lifeboat drill history`. Glue only: the drill itself is `crate::drill::{simulated, live}`.

use super::backup::IdentityArgs;
use super::{Globals, OutputFormat};
use crate::clock::{Clock, SystemClock};
use crate::drill::report::{self, DrillReport, Scenario};
use crate::drill::simulated::{self, DrillProgress, SimDrillOptions, TenantChoice};
use crate::drill::{history, live};
use crate::engine::runner;
use crate::error::{Exit, UserError};
use crate::sim::TenantSource;
use clap::{Subcommand, ValueEnum};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DrillArgs {
    #[command(subcommand)]
    pub command: Option<DrillCommand>,

    /// What to rehearse
    #[arg(long, value_enum, default_value_t = ScenarioArg::RegionOutage)]
    pub scenario: ScenarioArg,

    /// Simulated tenant: `small`, `large`, or a tenant JSON file (see docs/simulator.md)
    #[arg(long, default_value = "small", value_name = "small|large|FILE")]
    pub tenant: String,

    /// Region to fail [default: the one with the most DevOps connectors]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Region the connectors are recovered into
    #[arg(long, default_value = simulated::DEFAULT_TARGET_REGION, value_name = "REGION")]
    pub target_region: String,

    /// Runbook to rehearse: a file or a built-in runbook's name [default: region-outage, built in]
    #[arg(long, value_name = "FILE")]
    pub runbook: Option<PathBuf>,

    /// Where report.json and report.html go [default: <state-dir>/drills/<run-id>]
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,

    /// Also write a JUnit XML file (Azure Pipelines, GitHub Actions)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Recovery time objective, e.g. 4h or 2d; the drill fails when the measured RTO exceeds it
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub rto_target: Option<Duration>,

    /// Recovery point objective, e.g. 1d; the drill fails when the backup used is older
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub rpo_target: Option<Duration>,

    /// Assumed time from the support ticket to Microsoft releasing the DevOps resources, e.g. 8h
    /// [default: 4h, a choice: Microsoft documents only the initial response time; see
    /// docs/drill.md]
    #[arg(long, value_parser = parse_assumed, value_name = "DURATION", conflicts_with = "live")]
    pub support_wait: Option<Duration>,

    /// Assumed time a person takes to answer the run (an approval, an attestation), e.g. 30m
    /// [default: 15m, a choice]
    #[arg(long, value_parser = parse_assumed, value_name = "DURATION", conflicts_with = "live")]
    pub response_time: Option<Duration>,

    /// Run id of the drill (and of its runbook run) [default: generated]
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    /// Seed of the simulator's faults and of the crash scenario's interruptions
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Rehearse against real Azure with a second connector (seed 000); needs --connector and
    /// --drill-region
    #[arg(long, requires_all = ["connector", "drill_region"], conflicts_with_all = ["tenant", "region", "runbook", "notify"])]
    pub live: bool,

    /// Live: where the drill's run store may live (checked against the production connector's
    /// region, the region the drill plays failed, as `run` checks the failed region)
    #[command(flatten)]
    pub placement: super::placement::PlacementArgs,

    /// Live: the production connector's resource ID (never written to)
    #[arg(long, value_name = "ID", requires = "live")]
    pub connector: Option<String>,

    /// Live: the region the drill's second connector is created in
    #[arg(long, value_name = "REGION", requires = "live")]
    pub drill_region: Option<String>,

    /// Live: file with an OAuth authorization code for the drill connector's DevOps
    /// configuration (without it, only the connector is created)
    #[arg(long, value_name = "FILE", requires = "live")]
    pub authorization_code_file: Option<PathBuf>,

    /// Live: submit the drafted support request, marked DRILL (by default it is drafted and
    /// attested by the drill, never filed)
    #[arg(long, requires = "live")]
    pub submit_ticket: bool,

    /// Live: a support ticket parameter of the region-outage runbook (contact_first_name,
    /// contact_last_name, contact_email, contact_country, contact_time_zone, contact_language,
    /// severity), for --submit-ticket; repeatable
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = crate::runbook::parse_set, requires = "live")]
    pub set: Vec<(String, String)>,

    /// Remove everything an interrupted live drill created (from its cleanup ledger)
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["live", "scenario", "tenant", "runbook", "notify"])]
    pub cleanup: Option<String>,

    /// Simulated drills: notifications as a run sends them (`lifeboat run --notify`), marked as
    /// a drill
    #[command(flatten)]
    pub notify: super::notify::NotifyArgs,
    /// Rehearse the organisation's own backup: seed the simulator from a snapshot of the backup
    /// store (--backup-store / LIFEBOAT_BACKUP_STORE, as for `lifeboat backup`) and restore from
    /// it; the store is only read. Without a value: its newest snapshot that verifies; `latest`:
    /// its newest; or a snapshot ID
    #[arg(
        long,
        value_name = "SNAPSHOT_ID",
        num_args = 0..=1,
        conflicts_with_all = ["tenant", "live", "cleanup"]
    )]
    pub from_backup: Option<Option<String>>,

    /// With --from-backup: the keys that read the backup store
    #[command(flatten)]
    pub backup_keys: IdentityArgs,
}

#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// RTO and RPO of every drill kept in the state directory, oldest first, with regression
    /// and missed-target flags; `--format html` draws them as charts
    History(HistoryArgs),
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Output format [default: the global --output, table or json]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<HistoryFormat>,

    /// Write the history to FILE instead of standard output (e.g. --format html --out
    /// history.html)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    /// The terminal table
    Table,
    /// One JSON array, a flags field per drill
    Json,
    /// One self-contained HTML page with the RTO and RPO charts (inline SVG, no script)
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioArg {
    /// A plain region outage
    RegionOutage,
    /// ARM throttling at tight limits plus bursts of 429
    Throttled,
    /// 5xx answers and dropped connections
    Flaky,
    /// The drill interrupts its own run at random points and resumes it from the journal
    Crash,
    /// One byte of the backup is altered: the restore must refuse it
    TamperedBackup,
}

impl From<ScenarioArg> for Scenario {
    fn from(s: ScenarioArg) -> Scenario {
        match s {
            ScenarioArg::RegionOutage => Scenario::RegionOutage,
            ScenarioArg::Throttled => Scenario::Throttled,
            ScenarioArg::Flaky => Scenario::Flaky,
            ScenarioArg::Crash => Scenario::Crash,
            ScenarioArg::TamperedBackup => Scenario::TamperedBackup,
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}; for example 90m, 4h or 2d)"))
}

/// The longest assumed wait: the region-outage runbook's waits time out after 30 days.
const MAX_ASSUMED: Duration = Duration::from_secs(30 * 24 * 3600);

/// An assumed wait: a duration of at most 30 days (0 is allowed: "what if it were instant").
fn parse_assumed(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d > MAX_ASSUMED {
        return Err(format!(
            "'{s}' is longer than 30d, the runbook's longest wait (wait-for-release times out after 30 days)"
        ));
    }
    Ok(d)
}

pub async fn execute(a: DrillArgs, g: &Globals) -> anyhow::Result<Exit> {
    let state_dir = g.state_dir()?;
    match a.command {
        Some(DrillCommand::History(h)) => return show_history(&state_dir, &h, g.output),
        None => {}
    }
    if let Some(run_id) = &a.cleanup {
        return live::execute_cleanup(&state_dir, run_id, || Ok(g.connect()?.client)).await;
    }
    let run_id = match &a.run_id {
        Some(id) => {
            runner::validate_run_id(id).map_err(UserError::from)?;
            id.clone()
        }
        None => runner::new_run_id(SystemClock.now()),
    };
    // `--run-store az://...`: the drill's run is recorded there (its container checked first).
    let home = g.run_home().await?;
    let run_store = home.remote.clone();
    let in_store = match &run_store {
        Some(store) => store
            .properties(&crate::runstore::remote::journal_blob(&run_id))
            .await
            .map_err(UserError::from)?
            .is_some(),
        None => false,
    };
    if history::drills_dir(&state_dir).join(&run_id).exists()
        || runner::runs_dir(&state_dir).join(&run_id).exists()
        || in_store
    {
        return Err(UserError::usage(format!("drill {run_id} already exists"))
            .with_hint("choose another --run-id, or omit it")
            .into());
    }
    if !a.live
        && (a.placement.allow_store_in_failed_region || !a.placement.store_location.is_empty())
    {
        return Err(UserError::usage(
            "--allow-store-in-failed-region and --store-location apply to a live drill only",
        )
        .with_hint("a simulated drill's failed region is simulated: its stores are not checked against it; drop the flag, or add --live")
        .into());
    }
    let report_dir =
        a.report_dir.clone().unwrap_or_else(|| history::drills_dir(&state_dir).join(&run_id));
    let mut notified = None;
    let mut live_run = None;
    let report = if a.live {
        // Inputs first: nothing is read or written before they are all valid.
        let opts = live::LiveDrillRequest {
            connector: a.connector.clone().unwrap_or_default(),
            drill_region: a.drill_region.clone().unwrap_or_default(),
            authorization_code_file: a.authorization_code_file.clone(),
            submit_ticket: a.submit_ticket,
            sets: a.set.clone(),
            rto_target: a.rto_target,
            rpo_target: a.rpo_target,
        }
        .validate()?;
        let mut opts = opts.with_run_store(run_store.clone());
        let env: std::collections::HashMap<String, String> = std::env::vars().collect();
        opts.stores = crate::steps::store_placement::StoreCheck {
            stores: home
                .url
                .as_ref()
                .and_then(|u| super::placement::run_store(u, &env))
                .into_iter()
                .collect(),
            given: a.placement.store_location.clone(),
            force: a.placement.allow_store_in_failed_region,
        };
        let outcome = live::execute_live(&opts, g.connect()?.client, &state_dir, &run_id).await?;
        live_run = outcome.run_dir;
        outcome.report
    } else {
        let (report, summary) =
            run_simulated(&a, g, &state_dir, &run_id, run_store.clone()).await?;
        notified = summary;
        report
    };
    let exit = finish(&report, &state_dir, &report_dir, a.junit.as_deref());
    // Beside the run's journal on the run store: the report files, for the team.
    if let (Some(store), Ok(_)) = (&run_store, &exit) {
        let run = super::shared::SharedRun::new(Arc::new(store.clone()), &run_id);
        let (json, html) = (report_dir.join("report.json"), report_dir.join("report.html"));
        let mut files = vec![json.as_path(), html.as_path()];
        files.extend(a.junit.as_deref());
        let stored = super::shared::store_reports(&run, &files).await?;
        if let Some(html) = stored.iter().find(|s| s.ends_with("report.html")) {
            println!("report (run store): {html}");
        }
    }
    if let Some(dir) = live_run {
        println!(
            "run: {} (`lifeboat status {run_id}`, `lifeboat audit export {run_id}`)",
            dir.display()
        );
    }
    // Last, after the summary: how the notifications went.
    if let Some(summary) = notified {
        crate::say_err!("{summary}");
    }
    exit
}

/// Validates the simulated drill's inputs (exit 2, nothing written), then runs it.
async fn run_simulated(
    a: &DrillArgs,
    g: &Globals,
    state_dir: &Path,
    run_id: &str,
    run_store: Option<crate::runstore::BlobStore>,
) -> anyhow::Result<(DrillReport, Option<crate::notify::Summary>)> {
    // Webhooks are checked first: a bad one exits 2 before anything is read or written.
    let notify = super::notify::resolve(&a.notify, g)?;
    let tenant = match a.tenant.as_str() {
        "small" => TenantChoice { source: TenantSource::Small, label: "small".into() },
        "large" => TenantChoice {
            source: TenantSource::Large { repos: 1000, seed: a.seed },
            label: "large".into(),
        },
        file => {
            let p = PathBuf::from(file);
            if !p.is_file() {
                return Err(UserError::usage(format!("--tenant {file}: no such tenant file"))
                    .with_hint(
                        "use small, large, or the path of a tenant JSON file (docs/simulator.md)",
                    )
                    .into());
            }
            let label = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            TenantChoice { source: TenantSource::File(p), label }
        }
    };
    let check_region = |what: &str, r: &str| -> anyhow::Result<String> {
        crate::steps::recovery::check_region(what, r).map_err(|e| UserError::usage(e).into())
    };
    let target_region = check_region("--target-region", &a.target_region)?;
    crate::steps::regions::check_flag("--target-region", &target_region)
        .map_err(UserError::usage)?;
    let region = a.region.as_deref().map(|r| check_region("--region", r)).transpose()?;
    // The built-in region-outage runbook unless `--runbook` names a file or another built-in.
    let runbook = match &a.runbook {
        None => {
            let b = crate::runbook::builtin::region_outage();
            (b.source.to_string(), b.display_path())
        }
        Some(p) => {
            let (shown, text) = crate::runbook::read_resolved(p).map_err(|e| {
                let e = UserError::from(e);
                let hint = e.hint.clone().unwrap_or_else(|| {
                    "give the path of a runbook YAML file or a built-in runbook's name \
                     (`lifeboat runbooks list`)"
                        .into()
                });
                UserError::usage(format!("--runbook: {}", e.message)).with_hint(hint)
            })?;
            (text, shown)
        }
    };
    // Last, as it reads the most: the organisation's snapshot, seeded and checked.
    let (tenant, region, backup) = match &a.from_backup {
        None => (tenant, region, None),
        Some(choice) => {
            let mut snapshot = load_org_snapshot(a, g, state_dir, choice.as_deref()).await?;
            let (tenant, region) = simulated::seed_from_backup(
                &mut snapshot,
                region.as_deref(),
                &target_region,
                SystemClock.now(),
            )?;
            for note in snapshot.passed_over.iter().chain(&snapshot.seeding_notes) {
                eprintln!("note: {note}");
            }
            (tenant, Some(region), Some(Arc::new(snapshot)))
        }
    };
    let display = Display::new();
    let notifier = super::notify::start(notify, true);
    let opts = SimDrillOptions {
        state_dir: state_dir.to_path_buf(),
        run_id: run_id.to_string(),
        tenant,
        scenario: a.scenario.into(),
        region,
        target_region,
        runbook,
        rto_target: a.rto_target,
        rpo_target: a.rpo_target,
        seed: a.seed,
        progress: Some(display.callback()),
        assumed: simulated::AssumedTimes {
            support_wait: a.support_wait.unwrap_or(simulated::DEFAULT_SUPPORT_WAIT),
            support_wait_given: a.support_wait.is_some(),
            response_time: a.response_time.unwrap_or(simulated::DEFAULT_RESPONSE_TIME),
            response_time_given: a.response_time.is_some(),
        },
        actor: simulated::drill_actor(),
        observer: super::notify::observer(&notifier),
        backup,
        run_store: run_store.clone().map(simulated::RunStoreDrill::new),
    };
    let outcome = simulated::run(opts).await;
    display.finish();
    let runs_root = match &run_store {
        Some(store) => crate::runstore::remote::cache_root(state_dir, store),
        None => state_dir.to_path_buf(),
    };
    let run_dir = runner::runs_dir(&runs_root).join(run_id);
    let verdict = match &outcome {
        Ok(o) if o.report.verdict.passed => vec!["drill verdict: PASSED".to_string()],
        Ok(o) => vec![format!(
            "drill verdict: {} ({})",
            o.report.verdict.word(),
            o.report.verdict.reasons.join("; ")
        )],
        Err(e) => vec![format!("the drill stopped: {}", e.message)],
    };
    let summary = if run_dir.exists() {
        super::notify::finish_quietly(notifier, &run_dir, &crate::steps::registry(), &verdict).await
    } else {
        None
    };
    if let (Err(_), Some(s)) = (&outcome, &summary) {
        crate::say_err!("{s}");
    }
    Ok((outcome?.report, summary))
}

/// `--from-backup`: the organisation's store (as `lifeboat backup` names it), opened to read,
/// and the chosen snapshot read whole and verified. Bad input exits 2 with nothing written.
async fn load_org_snapshot(
    a: &DrillArgs,
    g: &Globals,
    state_dir: &Path,
    choice: Option<&str>,
) -> anyhow::Result<simulated::from_backup::OrgSnapshot> {
    let default_store = state_dir.join("backups");
    if g.backup_store.is_none() && !default_store.is_dir() {
        return Err(UserError::usage(format!(
            "--from-backup: no backup store is configured, and there is none at {}",
            default_store.display()
        ))
        .with_hint(
            "name the organisation's store with --backup-store URL (a directory or \
             az://container/prefix) or LIFEBOAT_BACKUP_STORE, as for `lifeboat backup create`",
        )
        .into());
    }
    let keys = a.backup_keys.clone();
    let store = super::backup::open_store(g, keys.keys()?, true)?;
    let again: simulated::from_backup::KeysFn = Arc::new(move || keys.keys());
    Ok(simulated::from_backup::load(&store, choice, again).await?)
}

/// Writes the report files and the history, prints the summary, and maps the verdict.
pub fn finish(
    report: &DrillReport,
    state_dir: &Path,
    report_dir: &Path,
    junit: Option<&Path>,
) -> anyhow::Result<Exit> {
    // The trend this drill is judged against: the history as kept, plus this drill. Flags never
    // change the exit status (a missed target already fails the verdict).
    let (trend, trend_problem) = history::trend_with(state_dir, report);
    let written = report::write_all_with_trend(report, &trend, report_dir, junit).map_err(|e| {
        UserError::failed(format!("cannot write the drill report into {}", report_dir.display()))
            .with_source(e)
    })?;
    history::record(state_dir, report)
        .map_err(|e| UserError::failed("cannot record the drill in the history").with_source(e))?;
    print!("{}", report::render_summary(report));
    if let Some(p) = &trend_problem {
        println!("trend: {p}");
    }
    print!("{}", report::render_trend_summary(&trend, &report.run_id));
    println!("report: {}", written.html.display());
    if let Some(j) = &written.junit {
        println!("junit: {}", j.display());
    }
    Ok(if report.verdict.passed { Exit::Ok } else { Exit::Failed })
}

fn show_history(
    state_dir: &Path,
    args: &HistoryArgs,
    output: OutputFormat,
) -> anyhow::Result<Exit> {
    // An --out whose directory does not exist is bad input: said before anything is read.
    if let Some(out) = &args.out {
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if out.is_dir() || !parent.is_dir() {
            return Err(UserError::usage(format!(
                "--out {}: {}",
                out.display(),
                if out.is_dir() { "is a directory" } else { "its directory does not exist" }
            ))
            .with_hint("give a file path in an existing directory, e.g. --out drill-history.html")
            .into());
        }
    }
    let entries = history::list(state_dir).map_err(|e| {
        UserError::failed(format!("cannot list the drills under {}", state_dir.display()))
            .with_source(e)
    })?;
    let format = args.format.unwrap_or(match output {
        OutputFormat::Json => HistoryFormat::Json,
        OutputFormat::Table => HistoryFormat::Table,
    });
    let text = match format {
        HistoryFormat::Json => format!("{}\n", history::render_json(&entries)),
        HistoryFormat::Table => history::render_table(&entries),
        HistoryFormat::Html => history::render_html(&entries).map_err(|e| {
            UserError::failed("cannot render the drill history page").with_source(e)
        })?,
    };
    match &args.out {
        Some(out) => {
            crate::fsutil::write_atomic(out, text.as_bytes()).map_err(|e| {
                UserError::failed(format!("cannot write {}", out.display())).with_source(e)
            })?;
            println!("history: {}", out.display());
        }
        None => print!("{text}"),
    }
    Ok(Exit::Ok)
}

/// The progress display: a spinner with the current phase and the running steps, one line per
/// finished step. Hidden when stdout is not a terminal (pipelines read the summary instead).
struct Display {
    bar: indicatif::ProgressBar,
    done: Arc<Mutex<std::collections::BTreeSet<String>>>,
    watcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Display {
    fn new() -> Arc<Display> {
        let bar = if std::io::stdout().is_terminal() {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        Arc::new(Display { bar, done: Arc::default(), watcher: Mutex::new(None) })
    }

    fn callback(self: &Arc<Self>) -> simulated::ProgressFn {
        let me = self.clone();
        Arc::new(move |p| me.on(p))
    }

    fn on(self: &Arc<Self>, p: DrillProgress) {
        match p {
            DrillProgress::Phase(m) => {
                self.bar.println(format!("· {m}"));
                self.bar.set_message(m);
            }
            DrillProgress::Steps(views) => self.steps(&views),
            DrillProgress::RunCreated(dir) if !self.bar.is_hidden() => {
                // The journal is the truth about steps: watch it while the runner drives.
                let me = self.clone();
                let h = tokio::spawn(async move {
                    let registry = crate::steps::registry();
                    loop {
                        tokio::time::sleep(Duration::from_millis(150)).await;
                        if let Ok(r) = runner::load(&dir, &registry) {
                            me.steps(&r.engine.snapshot());
                        }
                    }
                });
                *self.watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
            }
            DrillProgress::RunCreated(_) => {}
        }
    }

    fn steps(&self, views: &[crate::engine::InstanceView]) {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let mut active = Vec::new();
        for v in views {
            let Some(i) = &v.instance else { continue };
            let name = v.name();
            if i.state.is_terminal() {
                if done.insert(name.clone()) {
                    let took = match (i.first_started, i.finished) {
                        (Some(s), Some(f)) => report::format_duration((f - s).as_seconds_f64()),
                        _ => "-".into(),
                    };
                    self.bar.println(format!(
                        "  {:<10} {name} ({took} simulated)",
                        format!("{:?}", i.state.phase()).to_lowercase()
                    ));
                }
            } else if i.first_started.is_some() {
                active.push(name);
            }
        }
        if !active.is_empty() {
            self.bar.set_message(format!("running: {}", active.join(", ")));
        }
    }

    fn finish(&self) {
        if let Some(h) = self.watcher.lock().unwrap_or_else(|p| p.into_inner()).take() {
            h.abort();
        }
        self.bar.finish_and_clear();
    }
}
