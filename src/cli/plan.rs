//! `lifeboat plan` and `lifeboat graph`: show what a runbook would do, never do it.
//!
//! Both only read the runbook file: no state directory is created, no credential is touched. Bad
//! input ends with exit code 2 and every diagnostic, one per line.

use super::{Globals, OutputFormat};
use crate::error::{Exit, UserError};
use crate::runbook::{self, graph, ParamType, Plan};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The runbook: a built-in runbook's name (`region-outage`; `lifeboat runbooks list`) or a
    /// YAML file (`apiVersion: lifeboat/v1`); an existing file of that name wins
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,

    /// Set a parameter (repeatable); lists are comma-separated: `--set connectors=a,b`
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = runbook::parse_set)]
    pub set: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT (`lifeboat graph r.yaml | dot -Tsvg > r.svg`)
    Dot,
    /// A Mermaid flowchart (paste into Markdown)
    Mermaid,
}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The runbook: a built-in runbook's name (`region-outage`; `lifeboat runbooks list`) or a
    /// YAML file (`apiVersion: lifeboat/v1`); an existing file of that name wins
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,

    /// Set a parameter (repeatable); required parameters need not be set to draw the graph
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = runbook::parse_set)]
    pub set: Vec<(String, String)>,
}

pub async fn execute_plan(a: PlanArgs, g: &Globals) -> anyhow::Result<Exit> {
    let plan = runbook::load(&a.runbook, &a.set).map_err(UserError::from)?;
    match g.output {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&plan_json(&plan))?);
        }
        OutputFormat::Table => print!("{}", plan_table(&plan)),
    }
    // A target region where DevOps security is not available: `run` refuses it (exit 2);
    // `plan` only shows, so it warns.
    if let Err(e) = crate::steps::regions::preflight(&plan) {
        crate::say_err!("warning: {e}");
    }
    Ok(Exit::Ok)
}

pub async fn execute_graph(a: GraphArgs, _g: &Globals) -> anyhow::Result<Exit> {
    let rb = runbook::load_for_graph(&a.runbook, &a.set).map_err(UserError::from)?;
    let text = match a.format {
        GraphFormat::Dot => graph::to_dot(&rb),
        GraphFormat::Mermaid => graph::to_mermaid(&rb),
    };
    print!("{text}");
    Ok(Exit::Ok)
}

const REDACTED: &str = "<redacted>";

fn type_text(ty: &ParamType) -> String {
    match ty {
        ParamType::String => "string".into(),
        ParamType::Bool => "bool".into(),
        ParamType::Int => "int".into(),
        ParamType::Duration => "duration".into(),
        ParamType::Enum(values) => format!("enum({})", values.join("|")),
        ParamType::List => "list".into(),
    }
}

/// Step inputs with the values of secret inputs (per the step kind) replaced.
fn redacted_with(step: &runbook::StepDef) -> serde_json::Map<String, Value> {
    let kind = crate::catalog::lookup(&step.uses);
    step.with
        .iter()
        .map(|(k, v)| {
            let secret =
                kind.is_some_and(|kind| kind.inputs.iter().any(|i| i.name == k && i.secret));
            (k.clone(), if secret { Value::String(REDACTED.into()) } else { v.clone() })
        })
        .collect()
}

fn param_value(plan: &Plan, name: &str, secret: bool) -> Value {
    match plan.params.get(name) {
        Some(Value::Null) | None => Value::Null,
        Some(_) if secret => Value::String(REDACTED.into()),
        Some(v) => v.clone(),
    }
}

/// The `--output json` document: stable keys, steps in execution order, secrets redacted.
pub fn plan_json(plan: &Plan) -> Value {
    let rb = &plan.runbook;
    let params: Vec<Value> = rb
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "type": type_text(&p.ty),
                "required": p.required,
                "secret": p.secret,
                "value": param_value(plan, &p.name, p.secret),
                "description": p.description,
            })
        })
        .collect();
    let steps: Vec<Value> = plan
        .order
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let s = &rb.steps[i];
            json!({
                "position": n + 1,
                "id": s.id,
                "uses": s.uses,
                "needs": s.needs,
                "with": redacted_with(s),
                "for_each": s.for_each,
                "when": s.when,
                "retry": s.retry,
                "timeout": s.timeout.map(|t| humantime::format_duration(t).to_string()),
                "description": s.description,
                "line": s.span.line,
            })
        })
        .collect();
    let mut doc = json!({
        "runbook": {
            "name": rb.name,
            "description": rb.description,
            "path": rb.source.path,
            "sha256": rb.source.sha256,
            "concurrency": rb.concurrency,
        },
        "params": params,
        "steps": steps,
    });
    if let Some(line) = crate::steps::target::plan_line(plan) {
        doc["placement"] = Value::String(line);
    }
    let skipped = skipped_by_params(plan);
    if !skipped.is_empty() {
        doc["skipped"] = json!(skipped);
    }
    doc
}

/// The steps whose `when` is false under the parameters alone, so the run will skip them (a
/// live drill's `drill=true` skips, a recovery's `submit_ticket=false` ones). A condition that
/// reads anything known only during the run is not decided here.
pub fn skipped_by_params(plan: &Plan) -> Vec<String> {
    let ctx = json!({"params": plan.params});
    plan.order
        .iter()
        .map(|&i| &plan.runbook.steps[i])
        .filter(|s| {
            s.when.as_deref().is_some_and(|w| {
                matches!(crate::engine::template::eval_condition(w, &ctx), Ok(false))
            })
        })
        .map(|s| s.id.clone())
        .collect()
}

fn truncate(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn dash(s: Option<String>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into())
}

/// The human view: a steps table in execution order, then the resolved parameters.
pub fn plan_table(plan: &Plan) -> String {
    let rb = &plan.runbook;
    let mut steps = tabled::builder::Builder::default();
    steps.push_record([
        "#",
        "step",
        "uses",
        "needs",
        "for_each",
        "when",
        "retry",
        "timeout",
        "description",
    ]);
    for (n, &i) in plan.order.iter().enumerate() {
        let s = &rb.steps[i];
        let retry = if s.retry.max_attempts > 1 {
            format!(
                "{}x {}..{} x{}",
                s.retry.max_attempts,
                humantime::format_duration(s.retry.initial_delay),
                humantime::format_duration(s.retry.max_delay),
                s.retry.multiplier
            )
        } else {
            "-".into()
        };
        steps.push_record([
            (n + 1).to_string(),
            s.id.clone(),
            s.uses.clone(),
            dash(Some(s.needs.join(", "))),
            dash(s.for_each.as_deref().map(|t| truncate(t, 30))),
            dash(s.when.as_deref().map(|t| truncate(t, 30))),
            retry,
            dash(s.timeout.map(|t| humantime::format_duration(t).to_string())),
            dash(s.description.as_deref().map(|t| truncate(t, 50))),
        ]);
    }
    let mut out =
        format!("runbook {} ({} steps, concurrency {})\n", rb.name, rb.steps.len(), rb.concurrency);
    out.push_str(&steps.build().with(tabled::settings::Style::sharp()).to_string());
    out.push('\n');
    if !rb.params.is_empty() {
        let mut params = tabled::builder::Builder::default();
        params.push_record(["parameter", "type", "value", "description"]);
        for p in &rb.params {
            let value = match param_value(plan, &p.name, p.secret) {
                Value::Null => "(unset)".to_string(),
                Value::String(s) => s,
                other => other.to_string(),
            };
            params.push_record([
                p.name.clone(),
                type_text(&p.ty),
                value,
                dash(p.description.as_deref().map(|t| truncate(t, 50))),
            ]);
        }
        out.push_str(&params.build().with(tabled::settings::Style::sharp()).to_string());
        out.push('\n');
    }
    if let Some(line) = crate::steps::target::plan_line(plan) {
        out.push_str(&format!("placement: {line}\n"));
    }
    let skipped = skipped_by_params(plan);
    if !skipped.is_empty() {
        out.push_str(&format!(
            "skipped with these parameters (`when` is false): {}\n",
            skipped.join(", ")
        ));
    }
    out
}
