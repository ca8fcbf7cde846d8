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
            label: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{info, StepKindInfo};
    use crate::engine::kind::{InputError, StepKind};
    use futures::future::BoxFuture;
    use std::sync::Mutex;

    /// Stands in for a catalog kind: answers `outputs` when run, records what it was asked.
    struct Fake {
        name: &'static str,
        outputs: Map<String, Value>,
        ran: Arc<Mutex<Vec<Value>>>,
        checked: Arc<Mutex<Vec<Vec<String>>>>,
    }

    impl StepKind for Fake {
        fn info(&self) -> &'static StepKindInfo {
            info(self.name)
        }
        fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
            self.ran.lock().unwrap().push(ctx.inputs.clone());
            let o = self.outputs.clone();
            Box::pin(async move { StepOutcome::ok(o) })
        }
        fn check_inputs(&self, inputs: &Map<String, Value>) -> Result<(), InputError> {
            self.checked.lock().unwrap().push(inputs.keys().cloned().collect());
            match inputs.get("contact_email") {
                Some(Value::String(s)) if s.is_empty() => {
                    Err(InputError { message: "no email".into(), hint: "set it".into() })
                }
                _ => Ok(()),
            }
        }
    }

    const RUNBOOK: &str = r#"
apiVersion: lifeboat/v1
metadata: {name: rehearsal}
params:
  region: {type: string, default: westeurope}
  email: {type: string, default: ""}
  submit: {type: bool, default: true}
steps:
  - id: find
    uses: resource-graph.query
    with: {query: devops-connectors, region: "{{ params.region }}"}
  - id: file
    uses: support.submit
    needs: [find]
    when: "{{ params.submit }}"
    with:
      old_resource_id: "{{ steps.find.outputs.id }}"
      new_resource_id: "{{ steps.find.outputs.nothing_yet }}"
      target_region: "{{ params.region }}"
      contact_email: "{{ params.email }}"
"#;

    async fn rehearse_with(
        sets: &[(&str, &str)],
    ) -> (Result<BTreeMap<String, Value>, UserError>, Vec<Value>, Vec<Vec<String>>) {
        let sets: Vec<(String, String)> =
            sets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let plan =
            crate::runbook::load_str(std::path::Path::new("r.yaml"), RUNBOOK, &sets).unwrap();
        let (ran, checked) = (Arc::default(), Arc::default());
        let mut registry = Registry::empty();
        let mut found = Map::new();
        found.insert("id".into(), json!("/subscriptions/s/x"));
        for (name, outputs) in [("resource-graph.query", found), ("support.submit", Map::new())] {
            registry.register(Arc::new(Fake {
                name,
                outputs,
                ran: Arc::clone(&ran),
                checked: Arc::clone(&checked),
            }));
        }
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let r = rehearse(&plan, &registry, Arc::new(Services::new()), clock).await;
        let ran = ran.lock().unwrap().clone();
        let checked = checked.lock().unwrap().clone();
        (r, ran, checked)
    }

    #[tokio::test]
    async fn read_only_kinds_run_and_the_others_check_the_inputs_known_before_the_run() {
        let (r, ran, checked) = rehearse_with(&[("email", "ada@example.com")]).await;
        assert_eq!(r.unwrap()["find"], json!({"id": "/subscriptions/s/x"}));
        assert_eq!(ran, [json!({"query": "devops-connectors", "region": "westeurope"})]);
        // `new_resource_id` names an output the rehearsal does not have: left out.
        assert_eq!(checked, [["contact_email", "old_resource_id", "target_region"]]);

        let (r, _, _) = rehearse_with(&[]).await;
        let e = r.unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Usage);
        assert_eq!(e.message, "step file: no email");
        assert_eq!(e.hint.as_deref(), Some("set it"));

        // A step whose `when` is false is neither run nor checked.
        let (r, _, checked) = rehearse_with(&[("submit", "false")]).await;
        assert!(r.is_ok());
        assert!(checked.is_empty());
    }
}
