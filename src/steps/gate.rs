//! `gate.approval`: waits until a person approves (`lifeboat approve RUN STEP`). The step itself
//! only asks; the approval arrives as an event, journaled with who approved. With
//! `four_eyes: true` the approver must be another person than the one who started the run (the
//! runner checks it: `engine::runner::check_four_eyes`).

use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{InputError, StepContext, StepKind, StepOutcome};
use futures::future::BoxFuture;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy)]
pub struct Approval;

/// The `four_eyes` input: a boolean (or `"true"`/`"false"`, as a rendered template may give);
/// absent or null is false. Anything else is an error naming the value's kind.
fn four_eyes(inputs: Option<&Value>) -> Result<bool, InputError> {
    match inputs {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(InputError {
            message: format!("input `four_eyes` must be true or false, not {other}"),
            hint: "write `four_eyes: true` (or a boolean parameter, `{{ params.four_eyes }}`)"
                .into(),
        }),
    }
}

impl StepKind for Approval {
    fn info(&self) -> &'static StepKindInfo {
        info("gate.approval")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        let prompt =
            ctx.input_str("prompt").unwrap_or_else(|| format!("approve step {}", ctx.step));
        let four = four_eyes(ctx.inputs.get("four_eyes"));
        Box::pin(async move {
            match four {
                Ok(four_eyes) => StepOutcome::AwaitApproval { prompt, four_eyes },
                Err(e) => StepOutcome::fail(format!("{} ({})", e.message, e.hint), false),
            }
        })
    }
    fn check_inputs(&self, inputs: &Map<String, Value>) -> Result<(), InputError> {
        four_eyes(inputs.get("four_eyes")).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn four_eyes_is_a_boolean_or_absent() {
        assert!(!four_eyes(None).unwrap());
        assert!(!four_eyes(Some(&json!(null))).unwrap());
        assert!(four_eyes(Some(&json!(true))).unwrap());
        assert!(four_eyes(Some(&json!("True"))).unwrap());
        assert!(!four_eyes(Some(&json!("false"))).unwrap());
        let e = four_eyes(Some(&json!("yes"))).unwrap_err();
        assert!(e.message.contains("four_eyes") && e.message.contains("yes"), "{}", e.message);
    }
}
