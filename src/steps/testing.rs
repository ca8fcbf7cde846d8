//! Test-only step kinds (`test.idempotent`, `test.guarded`, `test.oneshot`): they simulate work
//! (a sleep), fail their first `fail_first` attempts (retryable), and append one line per side
//! effect to `effect_file`, so crash tests can count executions per class. Registered only when
//! `LIFEBOAT_TEST_STEPS=1`; never listed in help.
//!
//! Effect line: `class<TAB>run<TAB>step<TAB>branch<TAB>attempt`.
//!
//! With `azure_effect: RESOURCE_ID`, a successful attempt also journals a fake Azure call (`PUT`
//! on that id, status 200, request and correlation ids derived from run, step and attempt), so
//! audit exports are tested with Azure calls without an Azure client.
//! For guided-mode and `status --watch` tests: `progress: N` splits the simulated work into N
//! reported parts (`ctx.progress(i, N, ..)`), and `ask_secret: LABEL` asks the guided mode's
//! [`PrompterHandle`] for a secret before acting and returns it as the secret output `answer`
//! (journaled as a redaction marker only).

use super::services::PrompterHandle;
use crate::catalog::info;
use crate::catalog::{StepClass, StepKindInfo};
use crate::engine::kind::{Registry, StepContext, StepKind, StepOutcome};
use futures::future::BoxFuture;
use serde_json::{json, Map};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Simulated {
    name: &'static str,
}

pub fn register(r: &mut Registry) {
    for name in ["test.idempotent", "test.guarded", "test.oneshot"] {
        r.register(Arc::new(Simulated { name }));
    }
}

fn effect_key(ctx: &StepContext) -> String {
    let branch = ctx.branch.map(|b| b.to_string()).unwrap_or_else(|| "-".into());
    format!("{}\t{}\t{}", ctx.run_id, ctx.step, branch)
}

fn already_done(path: &str, key: &str) -> bool {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines().any(|l| {
                l.split_once('\t').is_some_and(|(_, rest)| rest.starts_with(&format!("{key}\t")))
            })
        })
        .unwrap_or(false)
}

fn append(path: &str, line: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open effect file {path}: {e}"))?;
    f.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| format!("cannot append to {path}: {e}"))?;
    f.sync_data().map_err(|e| format!("cannot fsync {path}: {e}"))
}

impl StepKind for Simulated {
    fn info(&self) -> &'static StepKindInfo {
        info(self.name)
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        let class = self.info().class;
        Box::pin(async move {
            let Some(file) = ctx.input_str("effect_file") else {
                return StepOutcome::fail("input `effect_file` is missing", false);
            };
            let fail_first = ctx.input_u64("fail_first").unwrap_or(0);
            let sleep = Duration::from_millis(ctx.input_u64("sleep_ms").unwrap_or(0));
            if u64::from(ctx.attempt) <= fail_first {
                tokio::time::sleep(sleep / 2).await;
                return StepOutcome::fail(
                    format!("simulated failure of attempt {}", ctx.attempt),
                    true,
                );
            }
            let key = effect_key(&ctx);
            let class_name = match class {
                StepClass::Idempotent => "idempotent",
                StepClass::Guarded => "guarded",
                StepClass::OneShot => "oneshot",
            };
            if class == StepClass::Guarded {
                // Check live state first: the effect file is this kind's "live state".
                if already_done(&file, &key) {
                    // The effect exists: adopt it, with the same outputs as acting would give.
                    return outputs(&ctx);
                }
                if let Err(e) = ctx.save_scratch(json!({ "intent": key })).await {
                    return StepOutcome::fail(e, true);
                }
            }
            let answer = match ctx.input_str("ask_secret") {
                None => None,
                Some(label) => {
                    let Some(prompter) = ctx.services.get::<PrompterHandle>() else {
                        return StepOutcome::fail(
                            "this step asks a person for a secret and no terminal is attached (run it with --guided)",
                            false,
                        );
                    };
                    match prompter.0.secret(label).await {
                        Some(answer) => Some(answer),
                        None => return StepOutcome::fail("no secret was given", false),
                    }
                }
            };
            match ctx.input_u64("progress").filter(|n| *n > 0) {
                Some(parts) => {
                    for done in 1..=parts {
                        tokio::time::sleep(sleep / parts as u32).await;
                        ctx.progress(done, parts, format!("part {done} of {parts}"));
                    }
                }
                None => tokio::time::sleep(sleep).await,
            }
            if let Err(e) = append(&file, &format!("{class_name}\t{key}\t{}", ctx.attempt)) {
                return StepOutcome::fail(e, true);
            }
            let _ = ctx
                .record_effect(crate::engine::Effect {
                    method: "append".into(),
                    resource: file.clone(),
                    status: None,
                    request_id: None,
                    correlation_id: None,
                })
                .await;
            if let Some(resource) = ctx.input_str("azure_effect") {
                let id = format!("{}-{}-{}", ctx.run_id, ctx.step, ctx.attempt);
                let _ = ctx
                    .record_effect(crate::engine::Effect {
                        method: "PUT".into(),
                        resource,
                        status: Some(200),
                        request_id: Some(format!("req-{id}")),
                        correlation_id: Some(format!("corr-{id}")),
                    })
                    .await;
            }
            let mut outcome = outputs(&ctx);
            if let (Some(answer), StepOutcome::Succeeded { outputs, secret }) =
                (answer, &mut outcome)
            {
                outputs.insert("answer".into(), json!(answer));
                secret.push("answer".into());
            }
            outcome
        })
    }
}

fn outputs(ctx: &StepContext) -> StepOutcome {
    let mut outputs = Map::new();
    outputs.insert("label".into(), json!(ctx.input_str("label").unwrap_or_default()));
    outputs.insert("item".into(), ctx.item.clone().unwrap_or(serde_json::Value::Null));
    if let Some(extra) = ctx.inputs.get("outputs").and_then(|v| v.as_object()) {
        outputs.extend(extra.clone());
    }
    if let Some(secret) = ctx.input_str("secret_output") {
        outputs.insert("token".into(), json!(secret));
        return StepOutcome::Succeeded { outputs, secret: vec!["token".into()] };
    }
    StepOutcome::ok(outputs)
}
