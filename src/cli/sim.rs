//! `lifeboat sim serve`: runs the simulated Azure on a loopback address until Ctrl-C or
//! SIGTERM. The first line of stdout is exactly `listening on http://127.0.0.1:PORT`, so scripts
//! and the drill can read the URL; with `--state FILE` the whole cloud is loaded at start and
//! saved on shutdown.

use super::Globals;
use crate::error::{Exit, UserError};
use crate::sim::{self, SimConfig, TenantSource};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Run the simulated Azure on 127.0.0.1
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Loopback address to listen on (port 0 picks a free port)
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: String,
    /// `small`, `large`, or a tenant JSON file (format in docs/simulator.md)
    #[arg(long, default_value = "small", value_name = "small|large|FILE")]
    pub tenant: String,
    /// Number of Azure DevOps repositories of the `large` tenant
    #[arg(long, default_value_t = 50_000, value_name = "N")]
    pub repos: usize,
    /// Seed of the `large` tenant generator
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// Faults to inject, e.g. `outage=eastus;500=0.05;seed=7`
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
    /// While a region is down, writes to resources whose resource group is located there:
    /// `block` (they fail; the default) or `failover` (they go through); same as the fault spec's
    /// `rg-writes=`
    #[arg(long, value_name = "block|failover")]
    pub rg_writes: Option<String>,
    /// Simulated seconds per real second
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    pub time_scale: f64,
    /// ARM-style throttling
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub throttle: OnOff,
    /// Load the simulated cloud from FILE if it exists, and save it there on shutdown
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Stage an API change: unknown fields and enum values at every level, seeded
    #[arg(long, value_name = "SEED")]
    pub drift: Option<u64>,
    /// How long-running writes are answered: Sync200, Created201Async (default),
    /// Accepted202Location, Accepted202Async, Accepted202Both, Ok200Async,
    /// Created201NoHeader, Mixed(SEED)
    #[arg(long, value_name = "SHAPE")]
    pub lro_shape: Option<String>,
    /// Simulated time between a support release and Microsoft's recreation of the alerts and
    /// recommendations for the new connector [default: 8h]; never recreated with
    /// `--faults no-recreate=all` (or `no-recreate=CONNECTOR,...`)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub recreation_delay: Option<std::time::Duration>,
    /// Served api-versions of a family, e.g. `devops=2025-11-01-preview,2024-04-01`
    /// (repeatable; families not named serve every version the simulator knows)
    #[arg(long = "api-versions", value_name = "FAMILY=V1,V2")]
    pub api_versions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// Turns the arguments into a [`SimConfig`]; every bad value is a usage error (exit 2).
pub fn config(a: &ServeArgs) -> Result<SimConfig, UserError> {
    let listen: SocketAddr = a.listen.parse().map_err(|_| {
        UserError::usage(format!("--listen `{}` is not an address", a.listen))
            .with_hint("use 127.0.0.1:PORT")
    })?;
    if !listen.ip().is_loopback() {
        return Err(UserError::usage(format!("--listen {listen} is not a loopback address"))
            .with_hint("the simulator only listens on 127.0.0.1 or ::1"));
    }
    if !(a.time_scale.is_finite() && a.time_scale >= 0.0) {
        return Err(UserError::usage(format!(
            "--time-scale {} is not a non-negative number",
            a.time_scale
        ))
        .with_hint("use 1 for real time, 60 for a minute per second, 0 to freeze the clock"));
    }
    let tenant = match a.tenant.as_str() {
        "small" => TenantSource::Small,
        "large" => {
            if a.repos == 0 || a.repos > 1_000_000 {
                return Err(UserError::usage(format!("--repos {} is out of range", a.repos))
                    .with_hint("use 1 to 1000000"));
            }
            TenantSource::Large { repos: a.repos, seed: a.seed }
        }
        file => TenantSource::File(PathBuf::from(file)),
    };
    let mut faults = match &a.faults {
        None => sim::faults::FaultSpec::default(),
        Some(s) => s.parse().map_err(|e| {
            UserError::usage(format!("--faults is not valid: {e}"))
                .with_hint("see docs/simulator.md for the fault spec syntax")
        })?,
    };
    if let Some(m) = &a.rg_writes {
        faults.group_writes = m.parse().map_err(|e: String| {
            UserError::usage(format!("--rg-writes: {e}")).with_hint(
                "use --rg-writes block (writes fail) or --rg-writes failover (they go through)",
            )
        })?;
    }
    let mut throttle = sim::throttle::ThrottleConfig::default();
    throttle.enabled = a.throttle == OnOff::On;
    let lro_shape = match &a.lro_shape {
        None => sim::LroShape::default(),
        Some(s) => s.parse().map_err(|e: String| {
            UserError::usage(format!("--lro-shape: {e}")).with_hint("see docs/simulator.md")
        })?,
    };
    let recreation_delay = a.recreation_delay.unwrap_or(sim::DEFAULT_RECREATION_DELAY);
    if recreation_delay > crate::runbook::limits::MAX_DURATION {
        return Err(UserError::usage(format!(
            "--recreation-delay {} is longer than 400 days",
            humantime::format_duration(recreation_delay)
        ))
        .with_hint("use a duration such as 30m, 8h or 3d"));
    }
    let mut api_versions = sim::versions::default_served();
    for spec in &a.api_versions {
        let (family, list) = parse_api_versions(spec)?;
        api_versions.insert(family, list);
    }
    Ok(SimConfig {
        listen,
        tenant,
        faults,
        time_scale: a.time_scale,
        throttle,
        state_file: a.state.clone(),
        drift: a.drift,
        lro_shape,
        api_versions,
        recreation_delay,
        ..SimConfig::default()
    })
}

/// `FAMILY=V1,V2,...` of `--api-versions`.
fn parse_api_versions(spec: &str) -> Result<(String, Vec<String>), UserError> {
    let hint = "e.g. --api-versions devops=2025-11-01-preview,2024-04-01 (families: connectors, devops, graph, support, subscriptions, resourcegroups, authorization, storage)";
    let Some((family, list)) = spec.split_once('=') else {
        return Err(UserError::usage(format!("--api-versions `{spec}` is not FAMILY=V1,V2"))
            .with_hint(hint));
    };
    let Some(f) = sim::versions::Family::parse(family) else {
        return Err(
            UserError::usage(format!("--api-versions: unknown family `{family}`")).with_hint(hint)
        );
    };
    let versions: Vec<String> =
        list.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect();
    if let Some(bad) = versions.iter().find(|v| !sim::versions::well_formed(v)) {
        return Err(UserError::usage(format!("--api-versions: `{bad}` is not an api-version"))
            .with_hint(hint));
    }
    Ok((f.name().to_string(), versions))
}

pub async fn execute(c: SimCommand, _g: &Globals) -> anyhow::Result<Exit> {
    let SimCommand::Serve(a) = c;
    let cfg = config(&a)?;
    let bad_input = matches!(cfg.tenant, TenantSource::File(_));
    let running = sim::start(cfg).await.map_err(|e| {
        let usage = bad_input
            || matches!(
                e,
                sim::SimError::NotLoopback(_)
                    | sim::SimError::StateInvalid { .. }
                    | sim::SimError::TenantInvalid { .. }
                    | sim::SimError::TenantRead { .. }
            );
        let msg = e.to_string();
        let err = if usage { UserError::usage(msg) } else { UserError::failed(msg) };
        err.with_source(e)
    })?;
    // Register the handlers before announcing the URL: a script that sends SIGTERM as soon as it
    // reads the first line must get a clean shutdown (and the state saved), not the default action.
    let signals = shutdown_signal();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", running.url())?;
        out.flush()?;
    }
    signals.await;
    running
        .shutdown()
        .await
        .map_err(|e| UserError::failed("the simulator could not save its state").with_source(e))?;
    Ok(Exit::Ok)
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are registered when this is called, before the
/// returned future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        if let (Some(mut term), Some(mut int)) = (term, int) {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
