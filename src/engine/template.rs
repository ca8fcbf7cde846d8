//! The engine's one door to template rendering: thin wrappers over `runbook::template`, so the
//! engine depends on one small surface (errors as text, for journaling and `status`).
//! Semantics are those of `runbook::model`'s doc.

use crate::runbook::template as rt;
use serde_json::Value;

/// Renders every string inside `value` against `ctx`.
pub fn render_value(value: &Value, ctx: &Value) -> Result<Value, String> {
    rt::render_value(value, ctx).map_err(|e| e.to_string())
}

/// Evaluates a `when` condition.
pub fn eval_condition(expr: &str, ctx: &Value) -> Result<bool, String> {
    rt::eval_condition(expr, ctx).map_err(|e| e.to_string())
}

/// The truthiness rule of `when` and `wait.until`.
pub fn truthy(v: &Value) -> bool {
    rt::truthy(v)
}

/// Whether a string contains a template expression at all (cheap pre-check).
pub fn is_template(s: &str) -> bool {
    s.contains("{{")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_single_expression_and_string_rendering() {
        let ctx = json!({"params": {"xs": [1, 2], "name": "a"}, "item": "b"});
        assert_eq!(render_value(&json!("{{ params.xs }}"), &ctx).unwrap(), json!([1, 2]));
        assert_eq!(
            render_value(&json!("x-{{ params.name }}-{{ item }}"), &ctx).unwrap(),
            json!("x-a-b")
        );
        assert!(render_value(&json!("{{ params.nope }}"), &ctx).is_err());
    }
}
