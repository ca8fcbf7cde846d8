//! The engine's one door to template rendering, so the implementation can be swapped for
//! `runbook::template` without touching the engine. Semantics as in `runbook::model`'s doc: a
//! string that is exactly one `{{ path }}` expression yields the typed JSON value at that path;
//! any other string renders through handlebars to a string; `when` is false for `false`, `""`,
//! `0`, `null` and an empty list.

use serde_json::Value;

/// Renders every string inside `value` against `ctx`.
pub fn render_value(value: &Value, ctx: &Value) -> Result<Value, String> {
    match value {
        Value::String(s) => render_str(s, ctx),
        Value::Array(items) => items.iter().map(|v| render_value(v, ctx)).collect::<Result<_, _>>().map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| render_value(v, ctx).map(|v| (k.clone(), v)))
            .collect::<Result<_, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// Evaluates a `when` condition.
pub fn eval_condition(expr: &str, ctx: &Value) -> Result<bool, String> {
    Ok(truthy(&render_str(expr, ctx)?))
}

/// The truthiness rule of `when` and `wait.until`.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !(s.is_empty() || s == "false" || s == "0"),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// Whether a string contains a template expression at all (cheap pre-check).
pub fn is_template(s: &str) -> bool {
    s.contains("{{")
}

fn render_str(s: &str, ctx: &Value) -> Result<Value, String> {
    if !is_template(s) {
        return Ok(Value::String(s.to_string()));
    }
    if let Some(path) = single_expression(s) {
        return lookup(ctx, path).cloned().ok_or_else(|| format!("`{path}` is not defined"));
    }
    let mut hb = handlebars::Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.render_template(s, ctx).map(Value::String).map_err(|e| e.to_string())
}

fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let simple = !inner.is_empty()
        && inner.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '[' | ']'));
    simple.then_some(inner)
}

fn lookup<'a>(ctx: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = ctx;
    for seg in path.split('.') {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok())),
            None => (seg, None),
        };
        if !name.is_empty() {
            cur = match cur {
                Value::Object(m) => m.get(name)?,
                Value::Array(a) => a.get(name.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_single_expression_and_string_rendering() {
        let ctx = json!({"params": {"xs": [1, 2], "name": "a"}, "item": "b"});
        assert_eq!(render_value(&json!("{{ params.xs }}"), &ctx).unwrap(), json!([1, 2]));
        assert_eq!(render_value(&json!("x-{{ params.name }}-{{ item }}"), &ctx).unwrap(), json!("x-a-b"));
        assert!(render_value(&json!("{{ params.nope }}"), &ctx).is_err());
        assert!(!eval_condition("{{ params.missing_but_false }}", &json!({"params": {"missing_but_false": false}})).unwrap());
    }
}
