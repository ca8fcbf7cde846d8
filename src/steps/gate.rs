//! `gate.approval`: waits until a person approves (`lifeboat approve RUN STEP`). The step itself
//! only asks; the approval arrives as an event, journaled with who approved.

use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{StepContext, StepKind, StepOutcome};
use futures::future::BoxFuture;

#[derive(Debug, Clone, Copy)]
pub struct Approval;

impl StepKind for Approval {
    fn info(&self) -> &'static StepKindInfo {
        info("gate.approval")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        let prompt =
            ctx.input_str("prompt").unwrap_or_else(|| format!("approve step {}", ctx.step));
        Box::pin(async move { StepOutcome::AwaitApproval { prompt } })
    }
}
