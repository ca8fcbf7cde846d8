//! Handlebars templates over a run's context (see the module doc of [`super::model`]).
//!
//! One registry, strict mode (a missing path is an error, never an empty string), no HTML
//! escaping (values go to APIs and terminals, not browsers). A string that is exactly one path
//! expression yields the typed JSON value at that path, so a list stays a list for `for_each`.

use serde_json::Value;
use std::sync::OnceLock;

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Handlebars, Path, PathSeg};

/// What a template names: the validator checks each against the runbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `params.<name>`
    Param(String),
    /// `steps.<step>.outputs.<path...>` (path may be empty: the whole outputs object)
    StepOutput { step: String, path: Vec<String> },
    /// `item` or `item.<...>`: the current `for_each` item
    Item,
    /// `run.<field>`
    Run(String),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("template does not parse: {0}")]
    Parse(String),
    #[error("template references '{0}', which is not in the context")]
    Missing(String),
    #[error("template references '{path}' ({hint})")]
    Invalid { path: String, hint: String },
    #[error("template failed to render: {0}")]
    Render(String),
    #[error("template nests blocks and subexpressions {depth} deep, more than the {max} allowed")]
    TooDeep { depth: usize, max: usize },
}

fn registry() -> &'static Handlebars<'static> {
    static REGISTRY: OnceLock<Handlebars<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        // Built in: if, unless, each, with, lookup, eq, ne, gt, gte, lt, lte, and, or, not, len.
        hb.register_helper("length", Box::new(length));
        hb.register_helper("json", Box::new(json));
        hb.register_helper("join", Box::new(join));
        hb.register_helper("default", Box::new(default));
        hb
    })
}

handlebars::handlebars_helper!(length: |x: Json| match x {
    Value::Array(a) => a.len(),
    Value::Object(o) => o.len(),
    Value::String(s) => s.chars().count(),
    _ => 0,
});

handlebars::handlebars_helper!(json: |x: Json| serde_json::to_string(x).unwrap_or_default());

handlebars::handlebars_helper!(join: |list: Json, sep: str| match list {
    Value::Array(items) => items
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(sep),
    Value::String(s) => s.clone(),
    other => other.to_string(),
});

// `{{ default value fallback }}`: the fallback when the value is null or an empty string. The
// value must still exist (strict mode); declare an optional parameter to get a null.
handlebars::handlebars_helper!(default: |value: Json, fallback: Json| match value {
    Value::Null => fallback.clone(),
    Value::String(s) if s.is_empty() => fallback.clone(),
    other => other.clone(),
});

fn compile(template: &str) -> Result<Template, TemplateError> {
    // Before anything recursive (the parser, the renderer) sees it: every path to a compiled
    // template passes here, at validation and at run time alike.
    let depth = super::limits::template_nesting(template);
    if depth > super::limits::MAX_TEMPLATE_NESTING {
        return Err(TemplateError::TooDeep { depth, max: super::limits::MAX_TEMPLATE_NESTING });
    }
    if template.matches("{{").count() > template.matches("}}").count() {
        return Err(TemplateError::Parse(
            "an expression opened with '{{' is not closed with '}}'".into(),
        ));
    }
    Template::compile(template).map_err(|e| {
        let reason = e.reason().to_string();
        match e.pos() {
            Some((line, col)) => {
                TemplateError::Parse(format!("{reason} at template line {line}, column {col}"))
            }
            None => TemplateError::Parse(reason),
        }
    })
}

/// The path segments of a single-path expression (`{{ a.b.[0] }}`), if `template` is exactly one.
fn single_path(t: &Template) -> Option<Vec<String>> {
    match t.elements.as_slice() {
        [TemplateElement::Expression(h)] if h.params.is_empty() && h.hash.is_empty() => {
            match &h.name {
                Parameter::Path(Path::Relative((segs, _))) => named(segs),
                Parameter::Name(n) => Some(split_path(n)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn named(segs: &[PathSeg]) -> Option<Vec<String>> {
    segs.iter()
        .map(|s| match s {
            PathSeg::Named(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

fn split_path(raw: &str) -> Vec<String> {
    raw.split(['.', '/'])
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_start_matches('[').trim_end_matches(']').to_string())
        .collect()
}

/// Looks up a path in a JSON value; arrays take numeric segments.
fn lookup<'a>(ctx: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(ctx, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Renders one template string: typed JSON for a single path expression, else a string.
pub fn render_str(template: &str, ctx: &Value) -> Result<Value, TemplateError> {
    if !template.contains("{{") {
        return Ok(Value::String(template.to_string()));
    }
    let compiled = compile(template)?;
    if let Some(path) = single_path(&compiled) {
        return lookup(ctx, &path).cloned().ok_or_else(|| TemplateError::Missing(path.join(".")));
    }
    registry().render_template(template, ctx).map(Value::String).map_err(|e| match e.reason() {
        handlebars::RenderErrorReason::MissingVariable(Some(p)) => {
            TemplateError::Missing(p.clone())
        }
        other => TemplateError::Render(other.to_string()),
    })
}

/// Renders every string inside `value` (object keys are left as written).
pub fn render_value(value: &Value, ctx: &Value) -> Result<Value, TemplateError> {
    match value {
        Value::String(s) => render_str(s, ctx),
        Value::Array(items) => {
            items.iter().map(|v| render_value(v, ctx)).collect::<Result<_, _>>().map(Value::Array)
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), render_value(v, ctx)?)))
            .collect::<Result<_, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// Truthiness of a value per the model doc: `false`, `""`, `0`, `null` and `[]` are false. A
/// rendered string is also false when it reads `false` or `0` (helpers such as `eq` render text).
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !matches!(s.trim(), "" | "false" | "0"),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// Evaluates a `when` condition.
pub fn eval_condition(template: &str, ctx: &Value) -> Result<bool, TemplateError> {
    render_str(template, ctx).map(|v| truthy(&v))
}

/// The path of a template that is exactly one path expression (`{{ params.x }}` → `[params, x]`).
pub fn single_expression_path(template: &str) -> Result<Option<Vec<String>>, TemplateError> {
    if !template.contains("{{") {
        return Ok(None);
    }
    Ok(single_path(&compile(template)?))
}

/// The context roots a template may name.
pub const ROOTS: &[&str] = &["params", "steps", "item", "run"];

/// Every context reference in `template`, in order of appearance. Paths inside block helpers
/// (`#each`, `#with`) that are relative to the block (`this`, `@index`, `../x`, or a name that is
/// not a context root) are the block's business and are not reported; anything else that names
/// something outside the context is an error.
pub fn references(template: &str) -> Result<Vec<Reference>, TemplateError> {
    let compiled = compile(template)?;
    let mut out = Vec::new();
    walk_template(&compiled, false, &mut out)?;
    Ok(out)
}

fn walk_template(
    t: &Template,
    in_block: bool,
    out: &mut Vec<Reference>,
) -> Result<(), TemplateError> {
    for e in &t.elements {
        match e {
            TemplateElement::Expression(h)
            | TemplateElement::HtmlExpression(h)
            | TemplateElement::HelperBlock(h) => walk_helper(h, in_block, out)?,
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::DecoratorExpression(_)
            | TemplateElement::DecoratorBlock(_)
            | TemplateElement::PartialExpression(_)
            | TemplateElement::PartialBlock(_) => {
                return Err(TemplateError::Parse(
                    "partials and decorators are not supported in runbooks".into(),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

fn walk_helper(
    h: &HelperTemplate,
    in_block: bool,
    out: &mut Vec<Reference>,
) -> Result<(), TemplateError> {
    let is_call = !h.params.is_empty() || !h.hash.is_empty() || h.block;
    match &h.name {
        // A bare name with no parameters is a path (`{{ item }}`), otherwise a helper name.
        Parameter::Name(n) if !is_call => walk_path(&split_path(n), n, in_block, out)?,
        Parameter::Name(n) if !HELPERS.contains(&n.as_str()) => {
            return Err(TemplateError::Invalid {
                path: n.clone(),
                hint: format!("no helper is named '{n}'; helpers: {}", HELPERS.join(", ")),
            })
        }
        Parameter::Name(_) => {}
        other => walk_param(other, in_block, out)?,
    }
    for p in &h.params {
        walk_param(p, in_block, out)?;
    }
    for p in h.hash.values() {
        walk_param(p, in_block, out)?;
    }
    // Inside `each`/`with`, the context changes: relative names belong to the block.
    let block_scoped = h.block;
    if let Some(t) = &h.template {
        walk_template(t, in_block || block_scoped, out)?;
    }
    if let Some(t) = &h.inverse {
        walk_template(t, in_block, out)?;
    }
    Ok(())
}

const HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or",
    "not", "len", "length", "json", "join", "default",
];

fn walk_param(
    p: &Parameter,
    in_block: bool,
    out: &mut Vec<Reference>,
) -> Result<(), TemplateError> {
    match p {
        Parameter::Path(Path::Relative((segs, raw))) => match named(segs) {
            Some(path) => walk_path(&path, raw, in_block, out),
            // `this`, `..`: relative to a block.
            None if in_block => Ok(()),
            None => Err(TemplateError::Invalid {
                path: raw.clone(),
                hint: "use a full path such as params.<name>".into(),
            }),
        },
        Parameter::Path(Path::Local(_)) | Parameter::Literal(_) => Ok(()),
        Parameter::Name(n) => walk_path(&split_path(n), n, in_block, out),
        Parameter::Subexpression(s) => match s.element.as_ref() {
            TemplateElement::Expression(h) | TemplateElement::HelperBlock(h) => {
                walk_helper(h, in_block, out)
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn walk_path(
    path: &[String],
    raw: &str,
    in_block: bool,
    out: &mut Vec<Reference>,
) -> Result<(), TemplateError> {
    let invalid =
        |hint: &str| TemplateError::Invalid { path: raw.to_string(), hint: hint.to_string() };
    match path.first().map(String::as_str) {
        Some("params") => match path.get(1) {
            Some(name) => out.push(Reference::Param(name.clone())),
            None => return Err(invalid("name one parameter: params.<name>")),
        },
        Some("steps") => match (path.get(1), path.get(2).map(String::as_str)) {
            (Some(step), Some("outputs")) => {
                out.push(Reference::StepOutput { step: step.clone(), path: path[3..].to_vec() })
            }
            _ => return Err(invalid("a step's values are under steps.<id>.outputs")),
        },
        Some("item") => out.push(Reference::Item),
        Some("run") => match path.get(1) {
            Some(field) if path.len() == 2 => out.push(Reference::Run(field.clone())),
            _ => return Err(invalid("the run context has run.id")),
        },
        _ if in_block => {}
        _ => {
            return Err(invalid(
                "a template can name params.<name>, steps.<id>.outputs.<key>, item or run.id",
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Value {
        json!({
            "params": { "region": "westeurope", "count": 3, "dry": false, "names": ["a", "b"], "empty": "" },
            "steps": { "load-backup": { "outputs": { "ids": [1, 2], "age": "2h", "n": 0 } } },
            "item": { "name": "conn-1" },
            "run": { "id": "r-42" }
        })
    }

    #[test]
    fn single_expression_keeps_the_json_type() {
        let c = ctx();
        assert_eq!(render_str("{{ params.names }}", &c), Ok(json!(["a", "b"])));
        assert_eq!(render_str("{{params.count}}", &c), Ok(json!(3)));
        assert_eq!(render_str("{{ steps.load-backup.outputs.ids }}", &c), Ok(json!([1, 2])));
        assert_eq!(render_str("{{ params.names.[1] }}", &c), Ok(json!("b")));
        assert_eq!(render_str("{{ item }}", &c), Ok(json!({ "name": "conn-1" })));
    }

    #[test]
    fn interpolation_renders_text_without_escaping() {
        let c = ctx();
        assert_eq!(
            render_str("recover {{ item.name }} in {{ params.region }} <&>", &c),
            Ok(json!("recover conn-1 in westeurope <&>"))
        );
        assert_eq!(render_str("{{ join params.names \", \" }}", &c), Ok(json!("a, b")));
        assert_eq!(render_str("{{ json steps.load-backup.outputs.ids }}", &c), Ok(json!("[1,2]")));
        assert_eq!(render_str("{{ length params.names }}", &c), Ok(json!("2")));
        assert_eq!(render_str("{{ default params.empty \"x\" }}", &c), Ok(json!("x")));
        assert_eq!(render_str("no template", &c), Ok(json!("no template")));
    }

    #[test]
    fn render_value_recurses() {
        let v = json!({ "a": ["{{ params.count }}", "n={{ params.count }}"], "b": true });
        assert_eq!(render_value(&v, &ctx()), Ok(json!({ "a": [3, "n=3"], "b": true })));
    }

    #[test]
    fn strict_mode_reports_missing_paths() {
        let c = ctx();
        assert_eq!(
            render_str("{{ params.nope }}", &c),
            Err(TemplateError::Missing("params.nope".into()))
        );
        assert!(
            matches!(render_str("x {{ params.nope }}", &c), Err(TemplateError::Missing(p)) if p.contains("nope"))
        );
        assert!(matches!(render_str("{{ params.region", &c), Err(TemplateError::Parse(_))));
    }

    #[test]
    fn conditions_follow_truthiness() {
        let c = ctx();
        assert_eq!(eval_condition("{{ params.dry }}", &c), Ok(false));
        assert_eq!(eval_condition("{{ params.count }}", &c), Ok(true));
        assert_eq!(eval_condition("{{ steps.load-backup.outputs.n }}", &c), Ok(false));
        assert_eq!(eval_condition("{{ params.empty }}", &c), Ok(false));
        assert_eq!(eval_condition("{{ eq params.region \"westeurope\" }}", &c), Ok(true));
        assert_eq!(eval_condition("{{ eq params.region \"eastus\" }}", &c), Ok(false));
        assert_eq!(eval_condition("{{ ne params.region 'westeurope' }}", &c), Ok(false));
        assert_eq!(eval_condition("{{ not params.dry }}", &c), Ok(true));
        assert_eq!(eval_condition("{{ and params.dry true }}", &c), Ok(false));
        assert_eq!(eval_condition("true", &c), Ok(true));
        assert_eq!(eval_condition("false", &c), Ok(false));
    }

    #[test]
    fn references_are_extracted() {
        let refs = references(
            "{{ params.a }} {{#each steps.s.outputs.list}}{{this}} {{name}} {{ params.b }}{{/each}} \
             {{#if (eq item.x run.id)}}y{{/if}}",
        )
        .unwrap();
        assert_eq!(
            refs,
            vec![
                Reference::Param("a".into()),
                Reference::StepOutput { step: "s".into(), path: vec!["list".into()] },
                Reference::Param("b".into()),
                Reference::Item,
                Reference::Run("id".into()),
            ]
        );
        assert!(matches!(references("{{ foo.bar }}"), Err(TemplateError::Invalid { .. })));
        assert!(matches!(references("{{ steps.a.status }}"), Err(TemplateError::Invalid { .. })));
        assert!(matches!(
            references("{{ frobnicate params.a }}"),
            Err(TemplateError::Invalid { .. })
        ));
        assert!(matches!(references("{{#if x}}"), Err(TemplateError::Parse(_))));
    }

    #[test]
    fn defect_03_deeply_nested_templates_are_refused_before_compiling() {
        let c = ctx();
        let nested = |n: usize| "{{#if params.count}}".repeat(n) + "x" + &"{{/if}}".repeat(n);
        assert_eq!(render_str(&nested(32), &c), Ok(json!("x")));
        let err = render_str(&nested(33), &c).unwrap_err();
        assert_eq!(err, TemplateError::TooDeep { depth: 33, max: 32 });
        // Thousands deep: refused by the linear scan, so this thread's stack is never at risk.
        for t in [
            nested(8000),
            format!("{{{{ not {}params.dry{} }}}}", "(not ".repeat(8000), ")".repeat(8000)),
        ] {
            assert!(matches!(render_str(&t, &c), Err(TemplateError::TooDeep { .. })));
            assert!(matches!(references(&t), Err(TemplateError::TooDeep { .. })));
            assert!(single_expression_path(&t).is_err());
        }
    }
}
