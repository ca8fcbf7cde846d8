//! `load`: runbook text and `--set` overrides in, a validated [`Plan`] or every problem out.
//!
//! Validation walks the position-carrying YAML tree ([`super::yaml`]) and collects diagnostics
//! instead of stopping at the first one; nothing is returned unless the whole runbook is valid.
//! Checks, in the order a reader meets them: YAML syntax, `apiVersion`, unknown and duplicate
//! keys, metadata, parameter definitions and defaults, step fields (id syntax, duplicate ids, step
//! kinds and their inputs, retry and timeout values), `needs` (unknown, self, duplicate, cycles),
//! templates (syntax, nesting depth, unknown parameters, steps that are not upstream, a step's own
//! outputs, `item` outside a fan-out), `for_each` over something that is statically not a list,
//! and the `--set` overrides (unknown parameter, wrong type, enum value, duration, required and
//! unset). Every duration (timeouts, retry delays, duration parameters, duration and poll
//! interval inputs, literal or `{{ params.x }}`) is checked against [`super::limits`].

use super::builtin;
use super::diag::{suggest, Diagnostic, LoadError};
use super::limits;
use super::model::{
    ParamDef, ParamType, Plan, RetryPolicy, Runbook, Source, Span, StepDef, API_VERSION,
};
use super::template::{self, Reference, TemplateError};
use super::yaml::{self, Key, Node, NodeKind};
use crate::catalog::{self, DurationUse, StepKindInfo};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default of `metadata.concurrency`.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Reads and validates a runbook, resolving parameters with `overrides` (`--set k=v`). `path` is
/// resolved by [`builtin::resolve`]: an existing file, else a built-in runbook's name
/// (`region-outage`), whose diagnostics then name `builtin:region-outage.yaml`.
pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<Plan, LoadError> {
    let (shown, text) = read_resolved(path)?;
    load_str(&shown, &text, overrides)
}

/// Like [`load`], but a required parameter that is not set is no error: drawing the graph needs
/// no values. Every other check applies.
pub fn load_for_graph(path: &Path, overrides: &[(String, String)]) -> Result<Runbook, LoadError> {
    let (shown, text) = read_resolved(path)?;
    load_str_for_graph(&shown, &text, overrides)
}

/// [`load_for_graph`] of a text already read (`lifeboat runbooks list` counts the steps of the
/// built-in runbooks with it).
pub fn load_str_for_graph(
    path_for_messages: &Path,
    text: &str,
    overrides: &[(String, String)],
) -> Result<Runbook, LoadError> {
    validate(path_for_messages, text, overrides, false).map(|plan| plan.runbook)
}

/// The runbook `arg` names (see [`builtin::resolve`]): the path its diagnostics show, and its text.
pub fn read_resolved(arg: &Path) -> Result<(PathBuf, String), LoadError> {
    match builtin::resolve(arg)? {
        builtin::Resolved::File(p) => {
            let text = read(&p)?;
            Ok((p, text))
        }
        builtin::Resolved::Builtin(b) => Ok((b.display_path(), b.source.to_string())),
    }
}

fn read(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path)
        .map_err(|source| LoadError::Read { path: path.to_path_buf(), source })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let text = String::from_utf8_lossy(before);
            let line = text.matches('\n').count() + 1;
            let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            Err(LoadError::Invalid(vec![Diagnostic {
                path: path.to_path_buf(),
                span: Span { line: to_u32(line), column: to_u32(column) },
                message: "runbook is not valid UTF-8".into(),
                hint: Some("save the file as UTF-8".into()),
            }]))
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Validates runbook `text`; `path_for_messages` is only used in diagnostics and [`Source`].
pub fn load_str(
    path_for_messages: &Path,
    text: &str,
    overrides: &[(String, String)],
) -> Result<Plan, LoadError> {
    validate(path_for_messages, text, overrides, true)
}

fn validate(
    path_for_messages: &Path,
    text: &str,
    overrides: &[(String, String)],
    require_params: bool,
) -> Result<Plan, LoadError> {
    let mut v = Validator {
        path: path_for_messages.to_path_buf(),
        diags: Vec::new(),
        require_params,
        param_durations: Vec::new(),
    };
    let plan = v.run(text, overrides);
    if v.diags.is_empty() {
        if let Some(plan) = plan {
            return Ok(plan);
        }
    }
    let mut diags = v.diags;
    diags.sort_by_key(|d| (d.span.line, d.span.column));
    diags.dedup();
    if diags.is_empty() {
        // Unreachable by construction (no plan means a diagnostic was recorded); never panic.
        diags.push(Diagnostic {
            path: path_for_messages.to_path_buf(),
            span: Span { line: 1, column: 1 },
            message: "runbook could not be validated".into(),
            hint: None,
        });
    }
    Err(LoadError::Invalid(diags))
}

/// Parses one `--set KEY=VALUE` argument.
pub fn parse_set(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err("expected KEY=VALUE, e.g. --set region=westeurope".to_string()),
    }
}

/// Step ids: `[a-z0-9][a-z0-9-]*`, at most 63 characters (they name journal entries and URLs).
pub fn valid_step_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && id.len() <= 63
}

/// Parameter names: `[A-Za-z_][A-Za-z0-9_]*`, so `{{ params.name }}` always parses.
pub fn valid_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

const TOP_KEYS: &[&str] = &["apiVersion", "metadata", "params", "steps"];
const METADATA_KEYS: &[&str] = &["name", "description", "concurrency"];
const PARAM_KEYS: &[&str] =
    &["type", "values", "required", "default", "secret", "resumable", "description"];
const STEP_KEYS: &[&str] = &[
    "id",
    "uses",
    "needs",
    "with",
    "for_each",
    "label",
    "when",
    "retry",
    "timeout",
    "expected",
    "description",
];
const RETRY_KEYS: &[&str] = &["max_attempts", "initial_delay", "multiplier", "max_delay", "jitter"];
const TYPES: &[&str] = &["string", "bool", "int", "duration", "enum", "list"];

/// A step as read, with the positions later checks point at.
struct Draft<'n> {
    node: &'n Node,
    /// How messages name the step: `'id'`, or `at line N` when it has no id.
    label: String,
    id: Option<(String, Span)>,
    uses: Option<(String, Span)>,
    needs: Vec<(String, Span)>,
    with: Vec<(&'n Key, &'n Node)>,
    for_each: Option<(String, Span)>,
    /// `label:`, the branch label template (only with `for_each`).
    branch_label: Option<(String, Span)>,
    when: Option<(String, Span)>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    expected: Option<Duration>,
    description: Option<String>,
}

struct Validator {
    path: PathBuf,
    diags: Vec<Diagnostic>,
    /// False for `graph`: unset required parameters resolve to null instead of an error.
    require_params: bool,
    /// Duration inputs written as `{{ params.x }}`: checked once parameters are resolved.
    param_durations: Vec<ParamDuration>,
}

/// A duration input whose value is one parameter.
struct ParamDuration {
    param: String,
    /// How messages name the input: `input poll_interval of step 'x'`.
    what: String,
    span: Span,
    used_as: DurationUse,
}

/// The hint of a duration out of its bounds.
fn bound_hint(used_as: DurationUse) -> Option<String> {
    let max = limits::MAX_DURATION.as_secs() / 86_400;
    Some(match used_as {
        DurationUse::Duration => {
            format!("write a duration of at most {max}d, such as 30s, 15m, 2h or 3d")
        }
        DurationUse::PollInterval => format!(
            "write a poll interval between {} and {max}d, such as 30s, 1m or 5m",
            humantime::format_duration(limits::MIN_POLL_INTERVAL)
        ),
    })
}

fn type_name(ty: &ParamType) -> &'static str {
    match ty {
        ParamType::String => "a string",
        ParamType::Bool => "a boolean",
        ParamType::Int => "an integer",
        ParamType::Duration => "a duration",
        ParamType::Enum(_) => "an enum",
        ParamType::List => "a list",
    }
}

impl Validator {
    fn err(&mut self, span: Span, message: impl Into<String>, hint: impl Into<Option<String>>) {
        self.diags.push(Diagnostic {
            path: self.path.clone(),
            span,
            message: message.into(),
            hint: hint.into(),
        });
    }

    /// Reports unknown and duplicate keys; returns the first occurrence of each known key.
    fn keys<'n>(
        &mut self,
        entries: &'n [(Key, Node)],
        allowed: &[&str],
        what: &str,
    ) -> HashMap<&'n str, (&'n Key, &'n Node)> {
        let mut seen: HashMap<&str, (&Key, &Node)> = HashMap::new();
        for (k, n) in entries {
            if let Some((first, _)) = seen.get(k.name.as_str()) {
                let line = first.span.line;
                self.err(
                    k.span,
                    format!("duplicate key '{}' in {what}", k.name),
                    format!("first set at line {line}; keep one"),
                );
                continue;
            }
            if !allowed.contains(&k.name.as_str()) {
                let hint = suggest(&k.name, allowed.iter().copied(), "allowed keys", "");
                self.err(k.span, format!("unknown key '{}' in {what}", k.name), hint);
                continue;
            }
            seen.insert(k.name.as_str(), (k, n));
        }
        seen
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Str(s) => Some(s.clone()),
            _ => {
                let found = node.type_name();
                self.err(node.span, format!("{what} must be a string, found {found}"), None);
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.kind {
            NodeKind::Bool(b) => Some(*b),
            _ => {
                let found = node.type_name();
                self.err(node.span, format!("{what} must be true or false, found {found}"), None);
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let hint = Some("write a duration such as 30s, 15m, 2h or 3d".to_string());
        match &node.kind {
            NodeKind::Str(s) => match humantime::parse_duration(s.trim()) {
                Ok(d) if d.is_zero() => {
                    self.err(node.span, format!("{what} must be greater than zero"), hint);
                    None
                }
                Ok(d) => match limits::check(d, DurationUse::Duration) {
                    Ok(()) => Some(d),
                    Err(msg) => {
                        let hint = bound_hint(DurationUse::Duration);
                        self.err(node.span, format!("{what} is '{s}', which {msg}"), hint);
                        None
                    }
                },
                Err(_) => {
                    self.err(node.span, format!("{what} '{s}' is not a duration"), hint);
                    None
                }
            },
            _ => {
                let found = node.type_name();
                self.err(node.span, format!("{what} must be a duration, found {found}"), hint);
                None
            }
        }
    }

    fn run(&mut self, text: &str, overrides: &[(String, String)]) -> Option<Plan> {
        let root = match yaml::parse(text) {
            Ok(root) => root,
            Err(e) => {
                self.err(
                    e.span,
                    format!("invalid yaml: {}", e.message),
                    "check indentation, quotes and brackets here".to_string(),
                );
                return None;
            }
        };
        let NodeKind::Map(entries) = &root.kind else {
            let found = root.type_name();
            self.err(
                root.span,
                format!("runbook must be a mapping, found {found}"),
                "start with 'apiVersion: lifeboat/v1', then metadata, params and steps".to_string(),
            );
            return None;
        };
        let top = self.keys(entries, TOP_KEYS, "the runbook");

        match top.get("apiVersion") {
            None => self.err(
                root.span,
                "runbook has no apiVersion",
                format!("add 'apiVersion: {API_VERSION}' as the first line"),
            ),
            Some((_, n)) => {
                if let Some(v) = self.string(n, "apiVersion") {
                    if v != API_VERSION {
                        self.err(
                            n.span,
                            format!("unsupported apiVersion '{v}'"),
                            format!("this lifeboat reads '{API_VERSION}'"),
                        );
                    }
                }
            }
        }

        let (name, description, concurrency) = self.metadata(&root, top.get("metadata").copied());
        let params = self.params(top.get("params").map(|(_, n)| *n));
        let drafts = match top.get("steps") {
            None => {
                self.err(
                    root.span,
                    "runbook has no steps",
                    "add 'steps:' with at least one step".to_string(),
                );
                Vec::new()
            }
            Some((_, n)) => self.steps(n),
        };
        let order = self.cross_checks(&drafts, &params);
        let params_span = top.get("params").map(|(k, _)| k.span).unwrap_or(root.span);
        let resolved = self.resolve(&params, overrides, params_span);
        self.param_durations(&params, &resolved, overrides);

        if !self.diags.is_empty() {
            return None;
        }
        let steps: Vec<StepDef> = drafts
            .into_iter()
            .map(|d| StepDef {
                id: d.id.map(|(s, _)| s).unwrap_or_default(),
                uses: d.uses.map(|(s, _)| s).unwrap_or_default(),
                needs: d.needs.into_iter().map(|(s, _)| s).collect(),
                with: d.with.iter().map(|(k, n)| (k.name.clone(), n.to_json())).collect(),
                for_each: d.for_each.map(|(s, _)| s),
                label: d.branch_label.map(|(s, _)| s),
                when: d.when.map(|(s, _)| s),
                retry: d.retry,
                timeout: d.timeout,
                expected: d.expected,
                description: d.description,
                span: d.node.span,
            })
            .collect();
        let runbook = Runbook {
            source: Source {
                path: self.path.clone(),
                sha256: hex::encode(Sha256::digest(text.as_bytes())),
                text: text.to_string(),
                builtin: builtin::origin_of(&self.path, text).map(|b| b.name.to_string()),
            },
            name,
            description,
            concurrency,
            params,
            steps,
        };
        Some(Plan { runbook, params: resolved, order })
    }

    fn metadata(
        &mut self,
        root: &Node,
        meta: Option<(&Key, &Node)>,
    ) -> (String, Option<String>, usize) {
        let mut name = String::new();
        let mut description = None;
        let mut concurrency = DEFAULT_CONCURRENCY;
        let Some((_, node)) = meta else {
            self.err(
                root.span,
                "runbook has no metadata",
                "add 'metadata:' with at least 'name:'".to_string(),
            );
            return (name, description, concurrency);
        };
        let NodeKind::Map(entries) = &node.kind else {
            let found = node.type_name();
            self.err(node.span, format!("metadata must be a mapping, found {found}"), None);
            return (name, description, concurrency);
        };
        let keys = self.keys(entries, METADATA_KEYS, "metadata");
        match keys.get("name") {
            None => self.err(
                node.span,
                "metadata has no name",
                "add 'name: <runbook name>'".to_string(),
            ),
            Some((_, n)) => {
                if let Some(s) = self.string(n, "metadata.name") {
                    if s.trim().is_empty() {
                        self.err(n.span, "metadata.name is empty", None);
                    }
                    name = s;
                }
            }
        }
        if let Some((_, n)) = keys.get("description") {
            description = self.string(n, "metadata.description");
        }
        if let Some((_, n)) = keys.get("concurrency") {
            match n.kind {
                NodeKind::Int(c) if c >= 1 => concurrency = usize::try_from(c).unwrap_or(usize::MAX),
                _ => self.err(
                    n.span,
                    "metadata.concurrency must be a whole number of at least 1",
                    format!("it limits how many steps run at once; the default is {DEFAULT_CONCURRENCY}"),
                ),
            }
        }
        (name, description, concurrency)
    }

    fn params(&mut self, node: Option<&Node>) -> Vec<ParamDef> {
        let mut out = Vec::new();
        let Some(node) = node else { return out };
        let entries = match &node.kind {
            NodeKind::Map(e) => e,
            NodeKind::Null => return out,
            _ => {
                let found = node.type_name();
                self.err(
                    node.span,
                    format!("params must be a mapping of parameter names, found {found}"),
                    "e.g. 'params: {region: {type: string}}'".to_string(),
                );
                return out;
            }
        };
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for (key, def) in entries {
            let name = key.name.as_str();
            if let Some(line) = seen.get(name) {
                self.err(
                    key.span,
                    format!("duplicate parameter '{name}'"),
                    format!("first declared at line {line}"),
                );
                continue;
            }
            seen.insert(name, key.span.line);
            if !valid_param_name(name) {
                self.err(
                    key.span,
                    format!("invalid parameter name '{name}'"),
                    "use letters, digits and '_', starting with a letter, e.g. 'target_region'"
                        .to_string(),
                );
            }
            if let Some(p) = self.param(key, def) {
                out.push(p);
            }
        }
        out
    }

    fn param(&mut self, key: &Key, def: &Node) -> Option<ParamDef> {
        let name = &key.name;
        let NodeKind::Map(entries) = &def.kind else {
            let found = def.type_name();
            self.err(
                def.span,
                format!("parameter '{name}' must be a mapping with a type, found {found}"),
                "e.g. '{type: string, default: westeurope}'".to_string(),
            );
            return None;
        };
        let keys = self.keys(entries, PARAM_KEYS, &format!("parameter '{name}'"));
        let ty = match keys.get("type") {
            None => {
                self.err(
                    key.span,
                    format!("parameter '{name}' has no type"),
                    format!("add 'type:' with one of {}", TYPES.join(", ")),
                );
                None
            }
            Some((_, n)) => match self.string(n, &format!("type of parameter '{name}'")).as_deref()
            {
                Some("string") => Some(ParamType::String),
                Some("bool") => Some(ParamType::Bool),
                Some("int") => Some(ParamType::Int),
                Some("duration") => Some(ParamType::Duration),
                Some("list") => Some(ParamType::List),
                Some("enum") => self.enum_values(name, key, keys.get("values").map(|(_, n)| *n)),
                Some(other) => {
                    let hint = suggest(other, TYPES.iter().copied(), "types", "");
                    self.err(
                        n.span,
                        format!("parameter '{name}' has unknown type '{other}'"),
                        hint,
                    );
                    None
                }
                None => None,
            },
        };
        if let (Some((k, _)), Some(t)) = (keys.get("values"), &ty) {
            if !matches!(t, ParamType::Enum(_)) {
                self.err(
                    k.span,
                    format!("parameter '{name}' has values but is not an enum"),
                    "set 'type: enum' or remove 'values'".to_string(),
                );
            }
        }
        let secret = keys
            .get("secret")
            .and_then(|(_, n)| self.boolean(n, &format!("secret of parameter '{name}'")))
            .unwrap_or(false);
        let resumable = match keys.get("resumable") {
            Some((k, n)) => {
                let r =
                    self.boolean(n, &format!("resumable of parameter '{name}'")).unwrap_or(false);
                if r && secret {
                    self.err(
                        k.span,
                        format!("parameter '{name}' is secret and resumable"),
                        "a secret is only ever re-supplied unchanged on resume: remove 'resumable'"
                            .to_string(),
                    );
                }
                r
            }
            None => false,
        };
        let description = keys
            .get("description")
            .and_then(|(_, n)| self.string(n, &format!("description of parameter '{name}'")));
        let explicit_required = keys
            .get("required")
            .and_then(|(_, n)| self.boolean(n, &format!("required of parameter '{name}'")));
        let default = match (keys.get("default"), &ty) {
            (Some((_, n)), Some(t)) => match check_default(t, n) {
                Ok(v) => Some(v),
                Err(msg) => {
                    let shown =
                        if secret { "<redacted>".to_string() } else { n.to_json().to_string() };
                    self.err(
                        n.span,
                        format!("default {shown} of parameter '{name}' {msg}"),
                        type_hint(t),
                    );
                    None
                }
            },
            _ => None,
        };
        if let (Some(true), Some((k, _))) = (explicit_required, keys.get("default")) {
            self.err(
                k.span,
                format!("parameter '{name}' is required and has a default"),
                "remove 'required: true' or the default".to_string(),
            );
        }
        let required = explicit_required.unwrap_or(!keys.contains_key("default"));
        Some(ParamDef {
            name: name.clone(),
            ty: ty?,
            required,
            default,
            secret,
            resumable,
            description,
            span: key.span,
        })
    }

    fn enum_values(&mut self, name: &str, key: &Key, values: Option<&Node>) -> Option<ParamType> {
        let Some(node) = values else {
            self.err(
                key.span,
                format!("enum parameter '{name}' has no values"),
                "add 'values: [a, b]'".to_string(),
            );
            return None;
        };
        match &node.kind {
            NodeKind::Seq(items) if !items.is_empty() => {
                let mut out = Vec::new();
                for item in items {
                    match &item.kind {
                        NodeKind::Str(s) if !out.contains(s) => out.push(s.clone()),
                        NodeKind::Str(s) => self.err(
                            item.span,
                            format!("enum parameter '{name}' lists '{s}' twice"),
                            None,
                        ),
                        _ => self.err(
                            item.span,
                            format!(
                                "values of enum parameter '{name}' must be strings, found {}",
                                item.type_name()
                            ),
                            "quote them".to_string(),
                        ),
                    }
                }
                Some(ParamType::Enum(out))
            }
            _ => {
                self.err(
                    node.span,
                    format!("values of enum parameter '{name}' must be a non-empty list"),
                    "e.g. 'values: [primary, secondary]'".to_string(),
                );
                None
            }
        }
    }

    fn steps<'n>(&mut self, node: &'n Node) -> Vec<Draft<'n>> {
        let items = match &node.kind {
            NodeKind::Seq(items) if !items.is_empty() => items,
            NodeKind::Seq(_) | NodeKind::Null => {
                self.err(
                    node.span,
                    "runbook has no steps",
                    "add at least one step under 'steps:'".to_string(),
                );
                return Vec::new();
            }
            _ => {
                let found = node.type_name();
                self.err(
                    node.span,
                    format!("steps must be a list, found {found}"),
                    "write each step as '- id: ...'".to_string(),
                );
                return Vec::new();
            }
        };
        let mut drafts = Vec::new();
        let mut ids: HashMap<String, u32> = HashMap::new();
        for item in items {
            let NodeKind::Map(entries) = &item.kind else {
                let found = item.type_name();
                self.err(
                    item.span,
                    format!("a step must be a mapping, found {found}"),
                    "e.g. '{id: approve, uses: gate.approval}'".to_string(),
                );
                continue;
            };
            let keys = self.keys(entries, STEP_KEYS, "a step");
            let id = match keys.get("id") {
                None => {
                    self.err(item.span, "step has no id", "add 'id: <name>'".to_string());
                    None
                }
                Some((_, n)) => self.string(n, "step id").and_then(|s| {
                    if !valid_step_id(&s) {
                        let fixed: String = s
                            .to_ascii_lowercase()
                            .chars()
                            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                            .collect();
                        let fixed = fixed.trim_matches('-').to_string();
                        let hint = if valid_step_id(&fixed) {
                            format!("use lowercase letters, digits and '-', e.g. '{fixed}'")
                        } else {
                            "use lowercase letters, digits and '-', e.g. 'reapply-settings'"
                                .to_string()
                        };
                        self.err(n.span, format!("invalid step id '{s}'"), hint);
                        return None;
                    }
                    if let Some(line) = ids.get(&s) {
                        self.err(
                            n.span,
                            format!("duplicate step id '{s}'"),
                            format!("first defined at line {line}; step ids must be unique"),
                        );
                        return None;
                    }
                    ids.insert(s.clone(), n.span.line);
                    Some((s, n.span))
                }),
            };
            // Name the step by its id as written, even an invalid one: that is what the reader sees.
            let label = match keys.get("id").and_then(|(_, n)| n.as_str()) {
                Some(s) => format!("'{s}'"),
                None => format!("at line {}", item.span.line),
            };
            let uses = match keys.get("uses") {
                None => {
                    self.err(
                        id.as_ref().map_or(item.span, |(_, s)| *s),
                        format!("step {label} has no uses"),
                        "add 'uses: <step kind>', e.g. 'uses: manual.task'".to_string(),
                    );
                    None
                }
                Some((_, n)) => {
                    self.string(n, &format!("uses of step {label}")).map(|s| (s, n.span))
                }
            };
            let mut needs = Vec::new();
            if let Some((_, n)) = keys.get("needs") {
                let list: Vec<&Node> = match &n.kind {
                    NodeKind::Str(_) => vec![n],
                    NodeKind::Seq(items) => items.iter().collect(),
                    NodeKind::Null => vec![],
                    _ => {
                        self.err(n.span, format!("needs of step {label} must be a step id or a list of step ids, found {}", n.type_name()), None);
                        vec![]
                    }
                };
                for entry in list {
                    if let Some(s) =
                        self.string(entry, &format!("an entry of needs of step {label}"))
                    {
                        if needs.iter().any(|(x, _)| *x == s) {
                            self.err(
                                entry.span,
                                format!("step {label} lists '{s}' twice in needs"),
                                "remove the repeat".to_string(),
                            );
                        } else {
                            needs.push((s, entry.span));
                        }
                    }
                }
            }
            let mut with = Vec::new();
            if let Some((_, n)) = keys.get("with") {
                match &n.kind {
                    NodeKind::Map(entries) => {
                        let mut seen = HashSet::new();
                        for (k, v) in entries {
                            if !seen.insert(k.name.as_str()) {
                                self.err(
                                    k.span,
                                    format!("duplicate input '{}' in with of step {label}", k.name),
                                    "keep one".to_string(),
                                );
                            } else {
                                with.push((k, v));
                            }
                        }
                    }
                    NodeKind::Null => {}
                    _ => self.err(
                        n.span,
                        format!(
                            "with of step {label} must be a mapping of inputs, found {}",
                            n.type_name()
                        ),
                        None,
                    ),
                }
            }
            let for_each = keys.get("for_each").and_then(|(_, n)| match &n.kind {
                NodeKind::Str(s) => Some((s.clone(), n.span)),
                NodeKind::Seq(_) => {
                    self.err(n.span, format!("for_each of step {label} must be a template that yields a list"), "declare a list parameter with these items as its default and write for_each: '{{ params.<name> }}'".to_string());
                    None
                }
                _ => {
                    self.err(n.span, format!("for_each of step {label} is not a list: found {}", n.type_name()), "write for_each: '{{ params.<list parameter> }}' or '{{ steps.<id>.outputs.<list> }}'".to_string());
                    None
                }
            });
            let branch_label = keys.get("label").and_then(|(_, n)| {
                let text = self.string(n, &format!("label of step {label}"))?;
                if for_each.is_none() {
                    self.err(
                        n.span,
                        format!(
                            "label of step {label} names branches, but the step has no for_each"
                        ),
                        "remove label, or add for_each".to_string(),
                    );
                    return None;
                }
                Some((text, n.span))
            });
            let when = keys.get("when").and_then(|(_, n)| match &n.kind {
                NodeKind::Str(s) => Some((s.clone(), n.span)),
                NodeKind::Bool(b) => Some((b.to_string(), n.span)),
                _ => {
                    self.err(
                        n.span,
                        format!(
                            "when of step {label} must be a condition template, found {}",
                            n.type_name()
                        ),
                        "e.g. when: '{{ eq params.mode \"live\" }}'".to_string(),
                    );
                    None
                }
            });
            let retry = match keys.get("retry") {
                Some((_, n)) => self.retry(n, &label),
                None => RetryPolicy::default(),
            };
            let timeout = keys
                .get("timeout")
                .and_then(|(_, n)| self.duration(n, &format!("timeout of step {label}")));
            let expected = keys.get("expected").and_then(|(_, n)| {
                let d = self.duration(n, &format!("expected of step {label}"))?;
                match timeout {
                    Some(t) if d >= t => {
                        self.err(
                            n.span,
                            format!(
                                "expected of step {label} ({}) is not shorter than its timeout ({}): it could never pass",
                                humantime::format_duration(d),
                                humantime::format_duration(t)
                            ),
                            Some("expected is how long the step usually takes; the timeout is when it fails".to_string()),
                        );
                        None
                    }
                    _ => Some(d),
                }
            });
            let description = keys
                .get("description")
                .and_then(|(_, n)| self.string(n, &format!("description of step {label}")));
            drafts.push(Draft {
                node: item,
                label,
                id,
                uses,
                needs,
                with,
                for_each,
                branch_label,
                when,
                retry,
                timeout,
                expected,
                description,
            });
        }
        drafts
    }

    fn retry(&mut self, node: &Node, label: &str) -> RetryPolicy {
        let mut r = RetryPolicy::default();
        let NodeKind::Map(entries) = &node.kind else {
            self.err(
                node.span,
                format!("retry of step {label} must be a mapping, found {}", node.type_name()),
                "e.g. 'retry: {max_attempts: 3, initial_delay: 5s}'".to_string(),
            );
            return r;
        };
        let keys = self.keys(entries, RETRY_KEYS, &format!("retry of step {label}"));
        if let Some((_, n)) = keys.get("max_attempts") {
            match n.kind {
                NodeKind::Int(i) if i >= 1 => r.max_attempts = u32::try_from(i).unwrap_or(u32::MAX),
                _ => self.err(
                    n.span,
                    format!(
                        "retry.max_attempts of step {label} must be a whole number of at least 1"
                    ),
                    "it counts the first attempt too: 1 means no retry".to_string(),
                ),
            }
        }
        if let Some((_, n)) = keys.get("initial_delay") {
            if let Some(d) = self.duration(n, &format!("retry.initial_delay of step {label}")) {
                r.initial_delay = d;
            }
        }
        if let Some((_, n)) = keys.get("max_delay") {
            if let Some(d) = self.duration(n, &format!("retry.max_delay of step {label}")) {
                r.max_delay = d;
                if d < r.initial_delay {
                    self.err(
                        n.span,
                        format!(
                            "retry.max_delay of step {label} is shorter than its initial_delay"
                        ),
                        "raise max_delay or lower initial_delay".to_string(),
                    );
                }
            }
        }
        if let Some((_, n)) = keys.get("multiplier") {
            let m = match n.kind {
                NodeKind::Int(i) => Some(i as f64),
                NodeKind::Float(f) => Some(f),
                _ => None,
            };
            match m {
                Some(m) if m.is_finite() && m >= 1.0 => r.multiplier = m,
                _ => self.err(
                    n.span,
                    format!("retry.multiplier of step {label} must be a number of at least 1"),
                    "e.g. 2 doubles the delay after each attempt".to_string(),
                ),
            }
        }
        if let Some((_, n)) = keys.get("jitter") {
            if let Some(b) = self.boolean(n, &format!("retry.jitter of step {label}")) {
                r.jitter = b;
            }
        }
        r
    }

    /// Step kinds, inputs, needs, cycles and templates. Returns the execution order.
    fn cross_checks(&mut self, drafts: &[Draft<'_>], params: &[ParamDef]) -> Vec<usize> {
        let index: HashMap<&str, usize> = drafts
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.id.as_ref().map(|(s, _)| (s.as_str(), i)))
            .collect();
        let all_ids: Vec<&str> =
            drafts.iter().filter_map(|d| d.id.as_ref().map(|(s, _)| s.as_str())).collect();

        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); drafts.len()];
        for (i, d) in drafts.iter().enumerate() {
            let label = d.label.clone();
            for (need, span) in &d.needs {
                match index.get(need.as_str()) {
                    Some(&j) if j == i => self.err(
                        *span,
                        format!("step {label} needs itself"),
                        format!("remove '{need}' from its needs"),
                    ),
                    Some(&j) => deps[i].push(j),
                    None => {
                        let hint = suggest(need, all_ids.iter().copied(), "steps", "");
                        self.err(*span, format!("step {label} needs unknown step '{need}'"), hint);
                    }
                }
            }
            self.kind_and_inputs(d, &label);
        }

        let order = match super::graph::toposort(&deps) {
            Ok(order) => order,
            Err(cycles) => {
                for cycle in cycles {
                    let names: Vec<&str> = cycle
                        .iter()
                        .filter_map(|&i| drafts[i].id.as_ref().map(|(s, _)| s.as_str()))
                        .collect();
                    let first = &drafts[cycle[0]];
                    let next = names.get(1).copied().unwrap_or_default();
                    let span = first
                        .needs
                        .iter()
                        .find(|(n, _)| n == next)
                        .map_or(first.node.span, |(_, s)| *s);
                    let mut text = names.join(" -> ");
                    text.push_str(&format!(" -> {}", names[0]));
                    self.err(
                        span,
                        format!("steps form a cycle: {text}"),
                        "remove one of these needs".to_string(),
                    );
                }
                Vec::new()
            }
        };

        // Transitive upstream sets, for template references. A cycle cannot loop here: the
        // walk keeps a visited set.
        for (i, d) in drafts.iter().enumerate() {
            let mut upstream: HashSet<usize> = HashSet::new();
            let mut stack: Vec<usize> = deps[i].clone();
            while let Some(j) = stack.pop() {
                if upstream.insert(j) {
                    stack.extend(deps[j].iter().copied());
                }
            }
            let upstream_ids: HashSet<&str> = upstream
                .iter()
                .filter_map(|&j| drafts[j].id.as_ref().map(|(s, _)| s.as_str()))
                .collect();
            let scope = Scope { draft: d, params, all_ids: &all_ids, upstream: &upstream_ids };
            for (k, v) in &d.with {
                self.templates_in(v, &scope, &format!("with.{}", k.name));
            }
            if let Some((t, span)) = &d.when {
                self.template(t, *span, &scope, "when");
            }
            if let Some((t, span)) = &d.for_each {
                self.template(t, *span, &scope, "for_each");
                self.for_each_is_list(t, *span, &scope);
            }
            if let Some((t, span)) = &d.branch_label {
                self.template(t, *span, &scope, "label");
            }
        }
        order
    }

    fn kind_and_inputs(&mut self, d: &Draft<'_>, label: &str) {
        let Some((uses, span)) = &d.uses else { return };
        let Some(kind) = catalog::lookup(uses) else {
            // Sorted, so the hint reads like a reference list and stays stable as kinds are added.
            let mut known: Vec<&str> = catalog::catalog()
                .iter()
                .filter(|k| catalog::lookup(k.name).is_some())
                .map(|k| k.name)
                .collect();
            known.sort_unstable();
            let hint =
                suggest(uses, known.iter().copied(), "known kinds", "no step kinds are registered");
            self.err(*span, format!("step {label} uses unknown step kind '{uses}'"), hint);
            return;
        };
        let names: Vec<&str> = kind.inputs.iter().map(|i| i.name).collect();
        for (k, _) in &d.with {
            if !names.contains(&k.name.as_str()) {
                let hint = suggest(
                    &k.name,
                    names.iter().copied(),
                    &format!("{} takes", kind.name),
                    &format!("{} takes no inputs", kind.name),
                );
                self.err(
                    k.span,
                    format!("step {label} has unknown input '{}' for {}", k.name, kind.name),
                    hint,
                );
            }
        }
        for input in kind.inputs.iter().filter(|i| i.required) {
            if !d.with.iter().any(|(k, _)| k.name == input.name) {
                self.missing_input(d, label, kind, input.name, input.description, *span);
            }
        }
        for (k, v) in &d.with {
            let used_as = kind.inputs.iter().find(|i| i.name == k.name).and_then(|i| i.duration);
            if let Some(used_as) = used_as {
                self.duration_input(v, used_as, format!("input {} of step {label}", k.name));
            }
        }
    }

    /// A duration or poll interval input: a literal is checked here, `{{ params.x }}` once the
    /// parameters are resolved, any other template by the step at run time.
    fn duration_input(&mut self, node: &Node, used_as: DurationUse, what: String) {
        match &node.kind {
            NodeKind::Null => {}
            NodeKind::Str(s) if s.contains("{{") => {
                if let Ok(Some(path)) = template::single_expression_path(s) {
                    if let [root, name] = path.as_slice() {
                        if root == "params" {
                            self.param_durations.push(ParamDuration {
                                param: name.clone(),
                                what,
                                span: node.span,
                                used_as,
                            });
                        }
                    }
                }
            }
            NodeKind::Str(s) => {
                if let Err(msg) = limits::parse(s, used_as) {
                    self.err(
                        node.span,
                        format!("{what} is '{s}', which {msg}"),
                        bound_hint(used_as),
                    );
                }
            }
            _ => {
                let found = node.type_name();
                self.err(
                    node.span,
                    format!("{what} must be a duration, found {found}"),
                    bound_hint(used_as),
                );
            }
        }
    }

    /// Checks the duration inputs that name one parameter against its resolved value (from
    /// `--set` or the default).
    fn param_durations(
        &mut self,
        params: &[ParamDef],
        resolved: &BTreeMap<String, Value>,
        overrides: &[(String, String)],
    ) {
        for u in std::mem::take(&mut self.param_durations) {
            let Some(value) = resolved.get(&u.param) else { continue };
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let Err(msg) = limits::parse(&text, u.used_as) else { continue };
            let secret = params.iter().any(|p| p.name == u.param && p.secret);
            let shown = if secret { "<redacted>" } else { text.as_str() };
            let source = if overrides.iter().any(|(k, _)| *k == u.param) {
                format!("from --set {}", u.param)
            } else {
                format!("the default of parameter '{}'", u.param)
            };
            self.err(
                u.span,
                format!("{} is '{shown}' ({source}), which {msg}", u.what),
                bound_hint(u.used_as),
            );
        }
    }

    fn missing_input(
        &mut self,
        d: &Draft<'_>,
        label: &str,
        kind: &StepKindInfo,
        input: &str,
        description: &str,
        uses_span: Span,
    ) {
        // Point at `with:` when there is one (the input belongs there), else at `uses`.
        let span = d.with.first().map_or(uses_span, |(k, _)| k.span);
        self.err(
            span,
            format!("step {label} is missing required input '{input}' of {}", kind.name),
            format!("add 'with: {{{input}: ...}}': {description}"),
        );
    }

    fn templates_in(&mut self, node: &Node, scope: &Scope<'_>, origin: &str) {
        match &node.kind {
            NodeKind::Str(s) if s.contains("{{") => self.template(s, node.span, scope, origin),
            NodeKind::Seq(items) => items.iter().for_each(|n| self.templates_in(n, scope, origin)),
            NodeKind::Map(entries) => entries
                .iter()
                .for_each(|(k, n)| self.templates_in(n, scope, &format!("{origin}.{}", k.name))),
            _ => {}
        }
    }

    fn template(&mut self, text: &str, span: Span, scope: &Scope<'_>, origin: &str) {
        let label = scope.label();
        let refs = match template::references(text) {
            Ok(r) => r,
            Err(TemplateError::Parse(msg)) => {
                self.err(
                    span,
                    format!("template in {origin} of step {label} does not parse: {msg}"),
                    "templates use handlebars syntax, e.g. '{{ params.region }}'".to_string(),
                );
                return;
            }
            Err(TemplateError::TooDeep { depth, max }) => {
                self.err(
                    span,
                    format!("template in {origin} of step {label} nests blocks and subexpressions {depth} deep; at most {max} are allowed"),
                    "flatten it: combine conditions with (and ...) or (or ...), or split the text into several inputs or steps".to_string(),
                );
                return;
            }
            Err(TemplateError::Invalid { path, hint }) => {
                self.err(span, format!("template in {origin} of step {label} references '{path}', which is not in the context"), hint);
                return;
            }
            Err(other) => {
                self.err(
                    span,
                    format!("template in {origin} of step {label} is invalid: {other}"),
                    None,
                );
                return;
            }
        };
        for r in refs {
            match r {
                Reference::Param(p) if scope.params.iter().any(|d| d.name == p) => {}
                Reference::Param(p) => {
                    let names: Vec<&str> = scope.params.iter().map(|d| d.name.as_str()).collect();
                    let hint = suggest(
                        &p,
                        names.iter().copied(),
                        "parameters",
                        "the runbook declares no parameters; add it under 'params:'",
                    );
                    self.err(span, format!("template in {origin} of step {label} references unknown parameter '{p}'"), hint);
                }
                Reference::StepOutput { step, .. } => {
                    if scope.own_id() == Some(step.as_str()) {
                        self.err(span, format!("template in {origin} of step {label} references the outputs of step '{step}' itself"), "a step cannot read its own outputs; use an upstream step".to_string());
                    } else if !scope.all_ids.contains(&step.as_str()) {
                        let hint = suggest(&step, scope.all_ids.iter().copied(), "steps", "");
                        self.err(span, format!("template in {origin} of step {label} references unknown step '{step}'"), hint);
                    } else if !scope.upstream.contains(step.as_str()) {
                        self.err(span, format!("template in {origin} of step {label} references step '{step}', which is not upstream"), format!("add '{step}' to the needs of {label}"));
                    }
                }
                Reference::Item if origin == "for_each" => {
                    self.err(span, format!("for_each of step {label} references item"), "item is one element of the list for_each yields; it does not exist yet here".to_string());
                }
                Reference::Item if scope.draft.for_each.is_none() => {
                    self.err(span, format!("template in {origin} of step {label} references item, but the step has no for_each"), "add for_each, or name params.<name> or steps.<id>.outputs".to_string());
                }
                Reference::Item => {}
                Reference::Run(field) if field == "id" => {}
                Reference::Run(field) => {
                    self.err(span, format!("template in {origin} of step {label} references unknown run field '{field}'"), "the run context has run.id".to_string());
                }
            }
        }
    }

    fn for_each_is_list(&mut self, text: &str, span: Span, scope: &Scope<'_>) {
        let label = scope.label();
        let hint = "for_each needs one expression that yields a list, e.g. '{{ params.connectors }}' or '{{ steps.discover.outputs.connectors }}'".to_string();
        let Ok(path) = template::single_expression_path(text) else { return }; // reported above
        let Some(path) = path else {
            let what = if text.contains("{{") {
                "text with expressions renders to a string"
            } else {
                "a literal string"
            };
            self.err(span, format!("for_each of step {label} is not a list: {what}"), hint);
            return;
        };
        match path.as_slice() {
            [root, name] if root == "params" => {
                if let Some(p) = scope.params.iter().find(|p| &p.name == name) {
                    if p.ty != ParamType::List {
                        self.err(
                            span,
                            format!(
                                "for_each of step {label} is not a list: parameter '{name}' is {}",
                                type_name(&p.ty)
                            ),
                            format!("declare '{name}' with 'type: list'"),
                        );
                    }
                }
            }
            [root, _] if root == "run" => self.err(
                span,
                format!("for_each of step {label} is not a list: run fields are strings"),
                hint,
            ),
            _ => {}
        }
    }

    /// Applies `--set` overrides and defaults; every declared parameter gets a value.
    fn resolve(
        &mut self,
        params: &[ParamDef],
        overrides: &[(String, String)],
        params_span: Span,
    ) -> BTreeMap<String, Value> {
        let mut given: HashMap<&str, &str> = HashMap::new();
        for (k, v) in overrides {
            let Some(p) = params.iter().find(|p| &p.name == k) else {
                let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
                let hint = suggest(
                    k,
                    names.iter().copied(),
                    "parameters",
                    "the runbook declares no parameters",
                );
                self.err(params_span, format!("--set names unknown parameter '{k}'"), hint);
                continue;
            };
            if given.insert(k.as_str(), v.as_str()).is_some() {
                self.err(
                    p.span,
                    format!("parameter '{k}' is set more than once with --set"),
                    "pass it once".to_string(),
                );
            }
        }
        let mut out = BTreeMap::new();
        for p in params {
            let value = match given.get(p.name.as_str()) {
                Some(raw) => match parse_override(&p.ty, raw) {
                    Ok(v) => v,
                    Err(msg) => {
                        let shown = if p.secret { "<redacted>" } else { raw };
                        self.err(
                            p.span,
                            format!("--set {}={shown}: parameter '{}' {msg}", p.name, p.name),
                            type_hint(&p.ty),
                        );
                        continue;
                    }
                },
                None => match &p.default {
                    Some(v) => v.clone(),
                    None if p.required && self.require_params => {
                        self.err(
                            p.span,
                            format!("required parameter '{}' is not set", p.name),
                            format!("pass --set {}=<{}>", p.name, type_word(&p.ty)),
                        );
                        continue;
                    }
                    None => Value::Null,
                },
            };
            out.insert(p.name.clone(), value);
        }
        out
    }
}

struct Scope<'a> {
    draft: &'a Draft<'a>,
    params: &'a [ParamDef],
    all_ids: &'a [&'a str],
    upstream: &'a HashSet<&'a str>,
}

impl Scope<'_> {
    fn own_id(&self) -> Option<&str> {
        self.draft.id.as_ref().map(|(s, _)| s.as_str())
    }
    fn label(&self) -> String {
        self.draft.label.clone()
    }
}

fn type_word(ty: &ParamType) -> &'static str {
    match ty {
        ParamType::String => "text",
        ParamType::Bool => "true|false",
        ParamType::Int => "integer",
        ParamType::Duration => "duration",
        ParamType::Enum(_) => "value",
        ParamType::List => "a,b,c",
    }
}

fn type_hint(ty: &ParamType) -> Option<String> {
    Some(match ty {
        ParamType::String => "quote the value to make it a string".to_string(),
        ParamType::Bool => "use true or false".to_string(),
        ParamType::Int => "use a whole number such as 3".to_string(),
        ParamType::Duration => "use a duration such as 30s, 15m, 2h or 3d".to_string(),
        ParamType::Enum(values) => format!("allowed values: {}", values.join(", ")),
        ParamType::List => {
            "use a list of strings; on the command line: --set name=a,b,c".to_string()
        }
    })
}

/// Type-checks a YAML default; `Err` completes "default X of parameter 'p' ...".
fn check_default(ty: &ParamType, node: &Node) -> Result<Value, String> {
    let found = || format!("is {}, not {}", node.type_name(), type_name(ty));
    match (ty, &node.kind) {
        (ParamType::String, NodeKind::Str(s)) => Ok(Value::String(s.clone())),
        (ParamType::Bool, NodeKind::Bool(b)) => Ok(Value::Bool(*b)),
        (ParamType::Int, NodeKind::Int(i)) => Ok(Value::from(*i)),
        (ParamType::Duration, NodeKind::Str(s)) => match humantime::parse_duration(s.trim()) {
            Ok(d) => limits::check(d, DurationUse::Duration)
                .map(|()| Value::String(s.trim().to_string())),
            Err(_) => Err("is not a duration".to_string()),
        },
        (ParamType::Enum(values), NodeKind::Str(s)) if values.contains(s) => {
            Ok(Value::String(s.clone()))
        }
        (ParamType::Enum(_), NodeKind::Str(_)) => {
            Err("is not one of the allowed values".to_string())
        }
        (ParamType::List, NodeKind::Seq(items)) => items
            .iter()
            .map(|i| match &i.kind {
                NodeKind::Str(s) => Ok(Value::String(s.clone())),
                _ => Err(format!("has an item that is {}, not a string", i.type_name())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => Err(found()),
    }
}

/// Parses a `--set` value of a parameter of type `ty` (as `run` does; `resume` uses it for
/// resumable parameters); `Err` completes "parameter 'p' ...".
pub fn parse_param_value(ty: &ParamType, raw: &str) -> Result<Value, String> {
    parse_override(ty, raw)
}

/// Parses a `--set` value; `Err` completes "parameter 'p' ...".
fn parse_override(ty: &ParamType, raw: &str) -> Result<Value, String> {
    match ty {
        ParamType::String => Ok(Value::String(raw.to_string())),
        ParamType::Bool => match raw.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("expects true or false".to_string()),
        },
        ParamType::Int => {
            raw.trim().parse::<i64>().map(Value::from).map_err(|_| "expects an integer".to_string())
        }
        ParamType::Duration => {
            let d = humantime::parse_duration(raw.trim())
                .map_err(|_| "expects a duration".to_string())?;
            limits::check(d, DurationUse::Duration)?;
            Ok(Value::String(raw.trim().to_string()))
        }
        ParamType::Enum(values) if values.iter().any(|v| v == raw) => {
            Ok(Value::String(raw.to_string()))
        }
        ParamType::Enum(_) => Err("expects one of its allowed values".to_string()),
        ParamType::List => Ok(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "apiVersion: lifeboat/v1
metadata: {name: t}
params:
  region: {type: string, default: westeurope}
  conns: {type: list, default: [a, b]}
steps:
  - id: approve
    uses: gate.approval
  - id: each
    uses: wait.duration
    needs: approve
    for_each: '{{ params.conns }}'
    with: {duration: 1m}
";

    fn errs(text: &str, set: &[(&str, &str)]) -> Vec<String> {
        let set: Vec<(String, String)> =
            set.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        match load_str(Path::new("r.yaml"), text, &set) {
            Ok(_) => vec![],
            Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_valid_runbook_loads() {
        let plan =
            load_str(Path::new("r.yaml"), OK, &[("region".into(), "eastus".into())]).unwrap();
        assert_eq!(plan.order, vec![0, 1]);
        assert_eq!(plan.params["region"], "eastus");
        assert_eq!(plan.params["conns"], serde_json::json!(["a", "b"]));
        assert_eq!(plan.runbook.steps[1].needs, vec!["approve"]);
        assert_eq!(plan.runbook.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(plan.runbook.steps[1].span, Span { line: 9, column: 5 });
    }

    #[test]
    fn all_errors_are_collected_in_position_order() {
        let text =
            OK.replace("needs: approve", "needs: aprove").replace("gate.approval", "gate.aproval");
        let e = errs(&text, &[("regoin", "x")]);
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(
            e[0].starts_with(
                "r.yaml:3:1: --set names unknown parameter 'regoin' (did you mean 'region'?)"
            ),
            "{e:#?}"
        );
        assert!(e[1].starts_with("r.yaml:8:11: step 'approve' uses unknown step kind 'gate.aproval' (did you mean 'gate.approval'?)"), "{e:#?}");
        assert!(
            e[2].starts_with("r.yaml:11:12: step 'each' needs unknown step 'aprove'"),
            "{e:#?}"
        );
    }

    #[test]
    fn a_step_may_say_how_long_it_is_expected_to_take() {
        let with = |extra: &str| {
            OK.replace("    with: {duration: 1m}", &format!("{extra}    with: {{duration: 1m}}"))
        };
        let plan = load_str(Path::new("r.yaml"), &with("    expected: 2h\n"), &[]).unwrap();
        assert_eq!(plan.runbook.steps[1].expected, Some(std::time::Duration::from_secs(7200)));
        // Journaled only when set: a runbook without it journals the plan as before.
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["runbook"]["steps"][1]["expected"], "2h");
        assert!(json["runbook"]["steps"][0].get("expected").is_none());
        let back: crate::runbook::Plan = serde_json::from_value(json).unwrap();
        assert_eq!(back, plan);
        let e = errs(&with("    timeout: 1h\n    expected: 1h\n"), &[]);
        assert!(
            e.iter()
                .any(|m| m
                    .contains("expected of step 'each' (1h) is not shorter than its timeout (1h)")),
            "{e:#?}"
        );
        let e = errs(&with("    expected: soon\n"), &[]);
        assert!(
            e.iter().any(|m| m.contains("expected of step 'each' 'soon' is not a duration")),
            "{e:#?}"
        );
    }

    #[test]
    fn a_secret_cannot_be_resumable() {
        let text = OK.replace(
            "region: {type: string, default: westeurope}",
            "token: {type: string, secret: true, resumable: true, default: long-enough-1}",
        );
        let e = errs(&text, &[]);
        assert!(
            e.iter().any(|m| m.contains("parameter 'token' is secret and resumable")),
            "{e:#?}"
        );
        let ok = OK.replace(
            "region: {type: string, default: westeurope}",
            "region: {type: string, default: westeurope, resumable: true}",
        );
        assert!(errs(&ok, &[]).is_empty());
    }

    #[test]
    fn secrets_never_reach_messages() {
        let text = OK.replace(
            "region: {type: string, default: westeurope}",
            "token: {type: int, secret: true}",
        );
        let e = errs(&text, &[("token", "s3cr3t-value")]);
        assert!(e.iter().any(|m| m.contains("--set token=<redacted>")), "{e:#?}");
        assert!(e.iter().all(|m| !m.contains("s3cr3t")), "{e:#?}");
    }

    #[test]
    fn parse_set_splits_at_the_first_equals() {
        assert_eq!(parse_set("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_set("a="), Ok(("a".into(), String::new())));
        assert!(parse_set("novalue").is_err());
        assert!(parse_set("=v").is_err());
    }
}
