//! `manual.task`: instructions for a person, completed by `lifeboat attest RUN STEP --evidence`.

use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{StepContext, StepKind, StepOutcome};
use futures::future::BoxFuture;

#[derive(Debug, Clone, Copy)]
pub struct Task;

impl StepKind for Task {
    fn info(&self) -> &'static StepKindInfo {
        info("manual.task")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        let instructions = ctx.input_str("instructions");
        Box::pin(async move {
            match instructions {
                Some(instructions) => StepOutcome::AwaitAttestation { instructions },
                None => StepOutcome::fail("input `instructions` is missing", false),
            }
        })
    }
}
