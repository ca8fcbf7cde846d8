//! `lifeboat doctor`: probes each Azure API family once (see [`crate::azure::doctor`]) and
//! prints, per family, the api-version in use, where it came from (compiled, override,
//! negotiated) and the result. Exit 0 when every family works, 1 when one is unusable (with the
//! fix), 5 when only credentials failed, 2 for bad flags or a bad `LIFEBOAT_API_VERSIONS`.

use super::{Globals, OutputFormat};
use crate::azure::doctor::{probe_all, Outcome, Probe};
use crate::error::Exit;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct DoctorArgs {}

#[derive(tabled::Tabled)]
struct Row {
    #[tabled(rename = "FAMILY")]
    family: String,
    #[tabled(rename = "API-VERSION")]
    version: String,
    #[tabled(rename = "SOURCE")]
    source: String,
    #[tabled(rename = "RESULT")]
    result: String,
}

fn result_text(p: &Probe) -> String {
    match &p.outcome {
        Outcome::Ok { detail } => format!("ok: {detail}"),
        Outcome::Skipped { reason } => format!("not probed: {reason}"),
        Outcome::Failed { .. } => "UNUSABLE (see below)".to_owned(),
    }
}

/// The report as printed for `--output table`.
pub fn render(probes: &[Probe]) -> String {
    let rows: Vec<Row> = probes
        .iter()
        .map(|p| Row {
            family: p.family.to_string(),
            version: p.version.clone(),
            source: p.source.clone(),
            result: result_text(p),
        })
        .collect();
    let mut out = tabled::Table::new(rows).with(tabled::settings::Style::blank()).to_string();
    out.push('\n');
    for p in probes {
        if p.source != "compiled" {
            out.push_str(&format!("{}: {} ({})\n", p.family, p.version, p.source_detail));
        }
    }
    for p in probes {
        if let Outcome::Failed { error, fix, .. } = &p.outcome {
            out.push_str(&format!("{} is unusable: {}: {error}\n  fix: {fix}\n", p.family, p.call));
        }
    }
    out
}

/// The exit code of a report: 0 all usable, 5 only credential failures, 1 otherwise.
pub fn exit_for(probes: &[Probe]) -> Exit {
    let failed: Vec<&Probe> = probes.iter().filter(|p| p.failed()).collect();
    if failed.is_empty() {
        Exit::Ok
    } else if failed.iter().all(|p| matches!(p.outcome, Outcome::Failed { auth: true, .. })) {
        Exit::Auth
    } else {
        Exit::Failed
    }
}

pub async fn execute(_a: DoctorArgs, g: &Globals) -> anyhow::Result<Exit> {
    let conn = g.connect()?;
    let probes = probe_all(&conn.client).await;
    match g.output {
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "endpoint": conn.endpoint.as_str(),
                "families": probes,
                "negotiations": conn.client.negotiations(),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        OutputFormat::Table => print!("{}", render(&probes)),
    }
    Ok(exit_for(&probes))
}
