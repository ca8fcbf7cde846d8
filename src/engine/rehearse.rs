//! The rehearsal before a run ([`rehearse`]): the executor's read-only pass over a plan, so that
//! bad input is refused (exit 2) before the run exists or anything is written.
//!
//! In plan order, a step whose `when` is false is left out (one that cannot be evaluated yet
//! counts as true); a step of a kind the catalog marks `read_only`, not fanned out and whose
//! needs were all rehearsed, runs once, with the context the runner gives a step
//! ([`StepContext::for_start`]) and a sink that keeps nothing; every other step has the inputs
//! known now checked by its kind ([`StepKind::check_inputs`]). The template context is the run's:
//! `params`, the rehearsed steps' `outputs`, and `run.id` = [`RUN_ID`].

use super::kind::{Cancellation, NullSink, Registry, Services, StepContext, StepOutcome};
use super::{template, StartStep};
use crate::clock::Clock;
use crate::error::UserError;
use crate::runbook::Plan;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The run id steps see during the rehearsal (a step that warns in its outputs stays quiet then:
/// the run warns).
pub const RUN_ID: &str = "preflight";

/// Rehearses `plan` (see the module doc) and returns the outputs of the steps it ran, by step id.
/// A step that fails for bad input, or an input its kind refuses, is a usage error (exit 2) naming
/// the step; a failure that may pass on retry (Azure unavailable) is exit 1. Nothing is written.
pub async fn rehearse(
    plan: &Plan,
    registry: &Registry,
    services: Arc<Services>,
    clock: Arc<dyn Clock>,
) -> Result<BTreeMap<String, Value>, UserError> {
    let mut outputs: BTreeMap<String, Value> = BTreeMap::new();
    for &idx in &plan.order {
        let step = &plan.runbook.steps[idx];
        let Some(kind) = registry.get(&step.uses) else { continue };
        let ctx_value = json!({
            "params": plan.params,
            "steps": outputs.iter().map(|(k, v)| (k.clone(), json!({"outputs": v}))).collect::<Map<_, _>>(),
            "run": {"id": RUN_ID},
        });
        let active = match &step.when {
            Some(w) => template::eval_condition(w, &ctx_value).unwrap_or(true),
            None => true,
        };
        if !active {
            continue;
        }
        let runs = kind.info().read_only
            && step.for_each.is_none()
            && step.needs.iter().all(|n| outputs.contains_key(n));
        if !runs {
            // Only the inputs known now: one that does not render yet is left out.
            let known: Map<String, Value> = step
                .with
                .iter()
                .filter_map(|(k, v)| {
                    template::render_value(v, &ctx_value).ok().map(|r| (k.clone(), r))
                })
                .collect();
            kind.check_inputs(&known).map_err(|e| {
                UserError::usage(format!("step {}: {}", step.id, e.message)).with_hint(e.hint)
            })?;
            continue;
        }
        let with = Value::Object(step.with.clone().into_iter().collect());
        let inputs = template::render_value(&with, &ctx_value)
            .map_err(|e| UserError::usage(format!("step {}: {e}", step.id)))?;
        let start = StartStep {
            step: step.id.clone(),
            uses: step.uses.clone(),
            branch: None,
            item: None,
            attempt: 1,
            poll: 0,
            inputs,
            scratch: None,
            reentry: false,
        };
        let ctx = StepContext::for_start(
            start,
            RUN_ID,
            clock.clone(),
            services.clone(),
            Cancellation::new().1,
            Arc::new(NullSink),
        );
        match kind.run(ctx).await {
            StepOutcome::Succeeded { outputs: o, .. } => {
                outputs.insert(step.id.clone(), Value::Object(o));
            }
            StepOutcome::Failed { error, retryable: false } => {
                return Err(UserError::usage(format!("step {}: {error}", step.id))
                    .with_hint("nothing was changed: fix the parameters and run again"));
            }
            StepOutcome::Failed { error, retryable: true } => {
                return Err(UserError::failed(format!("step {}: {error}", step.id)).with_hint(
                    "nothing was changed and no run was created: try again in a few minutes",
                ));
            }
            _ => {}
        }
    }
    Ok(outputs)
}
