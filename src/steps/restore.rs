//! Lossless restore: what every restoring write sends and what `devops.verify` compares.
//!
//! - A write body is the stored JSON minus [`crate::azure::writable::READ_ONLY`] minus the
//!   responder's exclusions ([`Exclusions`], the `restore_exclude` parameter), plus targeted
//!   overrides where recovery must change a value (the connector's location and lifeboat's
//!   tags; the new OAuth code). Fields lifeboat does not know travel like the others.
//! - [`field_diff`] compares a whole expected document with a live one, field by field (arrays
//!   item by item when their lengths agree), and names each difference by its path
//!   (`properties.actionableRemediation.branchConfiguration.branchNames[1]`). Fields only the
//!   live side has (the service added them) are returned apart, as information.
//! - [`refusal`] turns Azure's refusal of a stored value (a 400 naming a field) into what the
//!   responder needs: the resource, the field path, the value, and how to leave the field out.
//! - [`typed`]: the client's typed operations take typed bodies; the typed models keep unknown
//!   fields (`extra`) and unknown enum values (`Other`), and `typed` checks that the typed body
//!   serialises back to exactly the JSON (nulls aside), so nothing is lost on the way.
//!
//! Test-only mutation (`LIFEBOAT_TEST_MUTATE_DROP_UNKNOWN=1`, honoured only with
//! `LIFEBOAT_TEST_STEPS=1` or in unit tests): [`mutate_for_test`] drops one unknown field from a
//! write body, so a test can show that `devops.verify` catches a lossy write path.

use crate::azure::models::{
    AzureDevOpsOrg, AzureDevOpsProject, AzureDevOpsRepo, DevOpsConfiguration, Extra,
    SecurityConnector,
};
use crate::azure::writable;
use crate::azure::AzureError;
use serde_json::{json, Value};

/// One field that differs: where, what the backup has, what is live.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct FieldDiff {
    pub path: String,
    pub expected: Value,
    pub actual: Value,
}

// ---------------------------------------------------------------- field paths

/// One step of a field path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
    /// `[*]`: every item (exclusions only).
    Any,
}

/// Parses `properties.a.b[0].c` (also `[*]`). Keys are the characters between dots; a key
/// with a dot or bracket cannot be named (no such field exists in these APIs).
pub(crate) fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    for part in path.trim().split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && (out.is_empty() || rest.is_empty()) {
            return Err(format!("`{path}` has an empty field name"));
        }
        if key.contains(']') {
            return Err(format!("`{path}` has a `]` without its `[`"));
        }
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        while !rest.is_empty() {
            let Some(end) = rest.find(']') else {
                return Err(format!("`{path}` has an unclosed `[`"));
            };
            let inner = &rest[1..end];
            out.push(match inner {
                "*" => Seg::Any,
                n => Seg::Index(n.parse().map_err(|_| {
                    format!("`{path}`: `[{n}]` is not an array index (use [0], [1], ... or [*])")
                })?),
            });
            rest = &rest[end + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(format!("`{path}`: expected `.` or `[` after `]`"));
            }
        }
    }
    if out.is_empty() {
        return Err("an empty field path".to_string());
    }
    Ok(out)
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

/// The value at a concrete dotted path.
pub(crate) fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for s in parse_path(path).ok()? {
        cur = match s {
            Seg::Key(k) => cur.get(&k)?,
            Seg::Index(i) => cur.get(i)?,
            Seg::Any => return None,
        };
    }
    Some(cur)
}

/// Removes what `segs` names (a `[*]`: in every item), returning each removed field's concrete
/// path and value.
fn remove_segs(v: &mut Value, segs: &[Seg], base: &str, out: &mut Vec<(String, Value)>) {
    let Some((first, rest)) = segs.split_first() else { return };
    match (first, v) {
        (Seg::Key(k), Value::Object(m)) => {
            let here = join(base, k);
            if rest.is_empty() {
                if let Some(old) = m.remove(k) {
                    out.push((here, old));
                }
            } else if let Some(child) = m.get_mut(k) {
                remove_segs(child, rest, &here, out);
            }
        }
        (Seg::Index(i), Value::Array(items)) => {
            let here = format!("{base}[{i}]");
            if rest.is_empty() {
                if *i < items.len() {
                    out.push((here, items.remove(*i)));
                }
            } else if let Some(child) = items.get_mut(*i) {
                remove_segs(child, rest, &here, out);
            }
        }
        (Seg::Any, Value::Array(items)) => {
            if rest.is_empty() {
                for (i, item) in items.drain(..).enumerate() {
                    out.push((format!("{base}[{i}]"), item));
                }
            } else {
                for (i, item) in items.iter_mut().enumerate() {
                    remove_segs(item, rest, &format!("{base}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------- exclusions

/// Field paths the responder chose not to restore (`restore_exclude`), e.g. after Azure refused
/// a stored value. They are left out of every write and of `devops.verify`'s comparison, and
/// each one present in the backup is reported as "not restored".
///
/// An entry is `FIELD` (every resource) or `SCOPE:FIELD`, where `SCOPE` names one resource by
/// the end of its resource ID (`azureDevOpsOrgs/contoso`, `devops/default`,
/// `securityConnectors/NAME`), as a refusal's message spells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Exclusions {
    entries: Vec<Exclusion>,
}

#[derive(Debug, Clone, PartialEq)]
struct Exclusion {
    raw: String,
    /// Lowercase, without surrounding slashes.
    scope: Option<String>,
    segs: Vec<Seg>,
}

/// The scope that names `resource` alone in an exclusion: the part after `devops/default/`,
/// `devops/default` itself, or `securityConnectors/NAME`.
pub(crate) fn scope_of(resource: &str) -> String {
    let lower = resource.to_ascii_lowercase();
    if let Some(i) = lower.find("/devops/default/") {
        return resource[i + "/devops/default/".len()..].to_string();
    }
    if let Some(i) = lower.find("/devops/default") {
        return resource[i + 1..].to_string();
    }
    match lower.find("/securityconnectors/") {
        Some(i) => resource[i + 1..].to_string(),
        None => resource.trim_matches('/').to_string(),
    }
}

impl Exclusions {
    /// From the `restore_exclude` input: a list (or comma-separated text) of field paths.
    pub fn parse(items: &[String]) -> Result<Exclusions, String> {
        let mut entries = Vec::new();
        for raw in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let (scope, field) = match raw.rsplit_once(':') {
                Some((s, f)) => (Some(s.trim().trim_matches('/').to_ascii_lowercase()), f.trim()),
                None => (None, raw),
            };
            if scope.as_deref() == Some("") {
                return Err(format!("restore_exclude: `{raw}` has an empty resource before `:`"));
            }
            let segs = parse_path(field).map_err(|e| {
                format!(
                    "restore_exclude: {e} (give `FIELD` or `RESOURCE:FIELD` as the refusal names them, e.g. azureDevOpsOrgs/contoso:properties.actionableRemediation.state)"
                )
            })?;
            if segs == [Seg::Key("properties".into())] {
                return Err(format!(
                    "restore_exclude: `{raw}` would leave out all of `properties` (name a field inside it, e.g. properties.actionableRemediation.state)"
                ));
            }
            entries.push(Exclusion { raw: raw.to_string(), scope, segs });
        }
        Ok(Exclusions { entries })
    }

    /// The entries as given.
    pub fn paths(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.raw.clone()).collect()
    }

    /// Removes the fields excluded for `resource` from `body`; returns each removed field and
    /// its value.
    pub fn apply(&self, body: &mut Value, resource: &str) -> Vec<(String, Value)> {
        let id = resource.to_ascii_lowercase();
        let mut out = Vec::new();
        for e in &self.entries {
            let applies = match &e.scope {
                None => true,
                Some(s) => id == *s || id.ends_with(&format!("/{s}")),
            };
            if applies {
                remove_segs(body, &e.segs, "", &mut out);
            }
        }
        out
    }
}

/// What a restoring write sends for a stored body, and what the exclusions left out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Restored {
    pub body: Value,
    pub not_restored: Vec<(String, Value)>,
}

/// The write body of a stored resource (written as `resource`, its ID under the new
/// connector): its writable fields minus the exclusions.
pub(crate) fn restore_body(stored: &Value, ex: &Exclusions, resource: &str) -> Restored {
    let mut body = writable::writable(stored);
    let not_restored = ex.apply(&mut body, resource);
    Restored { body, not_restored }
}

// ---------------------------------------------------------------- the connector

/// Tags lifeboat sets on the connectors it creates and promotes; a restore never copies them
/// from the old connector (they describe the old one's recovery, not the new one's).
pub(crate) fn is_lifeboat_tag(key: &str) -> bool {
    key.to_ascii_lowercase().starts_with("lifeboat-")
}

/// What a new connector must show of the old one: its writable fields minus the exclusions,
/// without `location` (recovery moves it) and without lifeboat's own tags.
pub(crate) fn connector_expected(old: &Value, ex: &Exclusions, resource: &str) -> Restored {
    let mut r = restore_body(old, ex, resource);
    if let Some(m) = r.body.as_object_mut() {
        m.remove("location");
        if let Some(Value::Object(tags)) = m.get_mut("tags") {
            tags.retain(|k, _| !is_lifeboat_tag(k));
        }
    }
    r
}

/// The create body of the new connector: [`connector_expected`] plus the target `location` and
/// the tags naming this run and the connector it replaces.
pub(crate) fn connector_create_body(
    old: &Value,
    ex: &Exclusions,
    resource: &str,
    location: &str,
    lifeboat_tags: &[(&str, &str)],
) -> Restored {
    let mut r = connector_expected(old, ex, resource);
    if !r.body.is_object() {
        r.body = json!({});
    }
    r.body["location"] = json!(location);
    if !r.body.get("tags").is_some_and(Value::is_object) {
        r.body["tags"] = json!({});
    }
    for (k, v) in lifeboat_tags {
        r.body["tags"][*k] = json!(v);
    }
    r
}

// ---------------------------------------------------------------- comparing documents

/// The result of comparing an expected (restored) document with a live one.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DocDiff {
    /// Backed-up fields whose live value differs (or is missing).
    pub differ: Vec<FieldDiff>,
    /// Fields only the live side has (the service added them), with their values.
    pub added: Vec<(String, Value)>,
    /// Leaf fields compared.
    pub compared: u64,
}

/// Compares every field of `expected` with `actual`: objects key by key, arrays item by item
/// when their lengths agree (else whole), anything else by value. A `null` and an absent field
/// mean the same. Fields of `actual` that `expected` lacks go to `added` unless read-only.
pub(crate) fn field_diff(expected: &Value, actual: &Value) -> DocDiff {
    let mut d = DocDiff::default();
    walk_diff("", "", expected, Some(actual), &mut d);
    d
}

fn walk_diff(path: &str, pointer: &str, e: &Value, a: Option<&Value>, d: &mut DocDiff) {
    match (e, a) {
        (Value::Object(em), Some(Value::Object(am))) => {
            for (k, ev) in em {
                let p = join(path, k);
                let ptr = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                walk_diff(&p, &ptr, ev, am.get(k), d);
            }
            for (k, av) in am {
                let ptr = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                if !em.contains_key(k) && !av.is_null() && !writable::is_read_only(&ptr) {
                    d.added.push((join(path, k), av.clone()));
                }
            }
        }
        (Value::Array(ei), Some(Value::Array(ai))) if ei.len() == ai.len() => {
            for (i, (ev, av)) in ei.iter().zip(ai).enumerate() {
                walk_diff(&format!("{path}[{i}]"), &format!("{pointer}/{i}"), ev, Some(av), d);
            }
        }
        (Value::Null, None) | (Value::Null, Some(Value::Null)) => d.compared += 1,
        (e, a) => {
            d.compared += 1;
            let a = a.cloned().unwrap_or(Value::Null);
            if *e != a {
                d.differ.push(FieldDiff {
                    path: if path.is_empty() { "(document)".into() } else { path.to_string() },
                    expected: e.clone(),
                    actual: a,
                });
            }
        }
    }
}

// ---------------------------------------------------------------- typed bodies

/// Drops `null` members of objects, recursively (a `null` and an absent field mean the same to
/// the service, and the typed models omit an absent optional field).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// The typed form of a JSON write body, checked to serialise back to the same JSON (nulls
/// aside): every unknown field and enum value survives, or this is an error naming the field.
pub(crate) fn typed<T>(body: &Value) -> Result<T, String>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let t: T = serde_json::from_value(body.clone())
        .map_err(|e| format!("the request body does not fit the client's model ({e})"))?;
    let back = serde_json::to_value(&t).map_err(|e| format!("cannot serialise the body ({e})"))?;
    let want = without_nulls(body);
    if without_nulls(&back) != want {
        let d = field_diff(&want, &without_nulls(&back));
        let first = d
            .differ
            .first()
            .map(|f| f.path.clone())
            .or_else(|| d.added.first().map(|a| a.0.clone()))
            .unwrap_or_default();
        return Err(format!(
            "the client's model would change the request body at `{first}` (a lifeboat defect: nothing was sent)"
        ));
    }
    Ok(t)
}

// ---------------------------------------------------------------- Azure's refusal of a value

/// Azure refused a stored value: the field it named, the value the body carried there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    pub path: String,
    pub value: Option<Value>,
    pub code: String,
    pub message: String,
}

/// A `400` that names a field of `body`: from the error's `target`, a `Path '...'` in its
/// message (`InvalidRequestContent`), or a quoted field path in the message.
pub(crate) fn refusal(e: &AzureError, body: &Value) -> Option<Refusal> {
    let a = e.arm()?;
    if a.status != 400 {
        return None;
    }
    let mut candidates: Vec<String> = Vec::new();
    candidates.extend(a.target.clone());
    for d in &a.details {
        candidates.extend(d.target.clone());
    }
    let texts: Vec<&str> = std::iter::once(a.message.as_str())
        .chain(a.details.iter().filter_map(|d| d.message.as_deref()))
        .collect();
    for t in &texts {
        if let Some(i) = t.find("Path '") {
            if let Some(end) = t[i + 6..].find('\'') {
                candidates.push(t[i + 6..i + 6 + end].to_string());
            }
        }
        let parts: Vec<&str> = t.split('\'').collect();
        for (n, p) in parts.iter().enumerate() {
            if n % 2 == 1 && !p.is_empty() && !p.contains(' ') {
                candidates.push(p.to_string());
            }
        }
    }
    let resolve = |c: &str| -> Option<(String, Value)> {
        let c = c.trim().trim_start_matches('$').trim_start_matches('.');
        for p in [c.to_string(), format!("properties.{c}")] {
            if let Some(v) = get_path(body, &p) {
                return Some((p, v.clone()));
            }
        }
        None
    };
    // A path that resolves in the body is the best evidence; else the target as given.
    for c in &candidates {
        if let Some((path, value)) = resolve(c) {
            return Some(Refusal {
                path,
                value: Some(value),
                code: a.code.clone(),
                message: a.message.clone(),
            });
        }
    }
    let named = a.target.clone().filter(|t| t.contains('.') || t.starts_with("properties"))?;
    Some(Refusal { path: named, value: None, code: a.code.clone(), message: a.message.clone() })
}

impl Refusal {
    /// The value as shown to a person (a secret never is).
    pub fn shown_value(&self) -> String {
        if self.path.starts_with("properties.authorization") {
            return "(secret, not shown)".into();
        }
        match &self.value {
            Some(v) => {
                let s = v.to_string();
                if s.chars().count() > 200 {
                    format!("{}...", s.chars().take(200).collect::<String>())
                } else {
                    s
                }
            }
            None => "(not in the request body)".into(),
        }
    }

    /// What failed and what the responder can do, for one resource.
    pub fn explain(&self, resource: &str, run_id: &str, ex: &Exclusions) -> String {
        let mut list = ex.paths();
        list.push(format!("{}:{}", scope_of(resource), self.path));
        format!(
            "Azure refused the stored value of `{}` in {resource}: {} ({}: {}). It is restored verbatim from the backup; this api-version does not accept it. To restore everything else and leave this field out (reported as not restored), run `lifeboat resume {run_id} --set restore_exclude={}`; or set the field by hand after the recovery",
            self.path,
            self.shown_value(),
            self.code,
            self.message.trim_end_matches('.'),
            list.join(","),
        )
    }
}

// ---------------------------------------------------------------- test-only mutation

/// Whether the test-only mutation is switched on (`LIFEBOAT_TEST_MUTATE_DROP_UNKNOWN=1`, with
/// `LIFEBOAT_TEST_STEPS=1`, or in unit tests).
pub(crate) fn mutation_enabled() -> bool {
    let on = |k: &str| std::env::var(k).is_ok_and(|v| v == "1");
    on("LIFEBOAT_TEST_MUTATE_DROP_UNKNOWN") && (cfg!(test) || on("LIFEBOAT_TEST_STEPS"))
}

/// The kinds of write body [`mutate_for_test`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Connector,
    Config,
    Org,
    Project,
    Repo,
}

fn first_key(path: &str, extra: &Extra) -> Option<String> {
    extra.keys().next().map(|k| join(path, k))
}

/// The path of the first field of `body` that the typed model does not know (kept in an
/// `extra` map), searching `properties` before the top level.
pub(crate) fn first_unknown(kind: BodyKind, body: &Value) -> Option<String> {
    fn rem(r: &crate::azure::models::ActionableRemediation, base: &str) -> Option<String> {
        first_key(base, &r.extra)
            .or_else(|| {
                r.branch_configuration
                    .as_ref()
                    .and_then(|b| first_key(&join(base, "branchConfiguration"), &b.extra))
            })
            .or_else(|| {
                r.category_configurations.iter().flatten().enumerate().find_map(|(i, c)| {
                    first_key(&format!("{base}.categoryConfigurations[{i}]"), &c.extra)
                })
            })
    }
    let rem_path = "properties.actionableRemediation";
    match kind {
        BodyKind::Connector => {
            let c: SecurityConnector = serde_json::from_value(body.clone()).ok()?;
            let p = c.properties.as_ref();
            p.and_then(|p| first_key("properties", &p.extra))
                .or_else(|| {
                    p.and_then(|p| p.environment_data.as_ref())
                        .and_then(|e| first_key("properties.environmentData", &e.extra))
                })
                .or_else(|| first_key("", &c.extra))
        }
        BodyKind::Config => {
            let c: DevOpsConfiguration = serde_json::from_value(body.clone()).ok()?;
            let p = c.properties.as_ref();
            p.and_then(|p| first_key("properties", &p.extra))
                .or_else(|| {
                    p.and_then(|p| p.agentless_configuration.as_ref())
                        .and_then(|a| first_key("properties.agentlessConfiguration", &a.extra))
                })
                .or_else(|| first_key("", &c.extra))
        }
        BodyKind::Org => {
            let o: AzureDevOpsOrg = serde_json::from_value(body.clone()).ok()?;
            let p = o.properties.as_ref();
            p.and_then(|p| p.actionable_remediation.as_ref().and_then(|r| rem(r, rem_path)))
                .or_else(|| p.and_then(|p| first_key("properties", &p.extra)))
                .or_else(|| first_key("", &o.extra))
        }
        BodyKind::Project => {
            let o: AzureDevOpsProject = serde_json::from_value(body.clone()).ok()?;
            let p = o.properties.as_ref();
            p.and_then(|p| p.actionable_remediation.as_ref().and_then(|r| rem(r, rem_path)))
                .or_else(|| p.and_then(|p| first_key("properties", &p.extra)))
                .or_else(|| first_key("", &o.extra))
        }
        BodyKind::Repo => {
            let o: AzureDevOpsRepo = serde_json::from_value(body.clone()).ok()?;
            let p = o.properties.as_ref();
            p.and_then(|p| p.actionable_remediation.as_ref().and_then(|r| rem(r, rem_path)))
                .or_else(|| p.and_then(|p| first_key("properties", &p.extra)))
                .or_else(|| first_key("", &o.extra))
        }
    }
}

/// With the test-only mutation on, drops the first unknown field of a write body (see the
/// module documentation); returns its path. Inert otherwise.
pub(crate) fn mutate_for_test(kind: BodyKind, body: &mut Value) -> Option<String> {
    if !mutation_enabled() {
        return None;
    }
    drop_first_unknown(kind, body)
}

/// Drops the first unknown field of a write body ([`first_unknown`]); returns its path.
pub(crate) fn drop_first_unknown(kind: BodyKind, body: &mut Value) -> Option<String> {
    let path = first_unknown(kind, body)?;
    let segs = parse_path(&path).ok()?;
    let mut removed = Vec::new();
    remove_segs(body, &segs, "", &mut removed);
    tracing::warn!(field = %path, "LIFEBOAT_TEST_MUTATE_DROP_UNKNOWN: dropped a field from a write");
    Some(path)
}

/// `not_restored` entries for outputs: `{resource, field, value}`.
pub(crate) fn not_restored_json(resource: &str, fields: &[(String, Value)]) -> Vec<Value> {
    fields
        .iter()
        .map(|(f, v)| json!({"resource": resource, "field": f, "value": v, "reason": "restore_exclude"}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/securityConnectors/c/devops/default/azureDevOpsOrgs/o/projects/p/repos/r";

    /// An Azure DevOps repository as a newer api-version might return it: unknown fields at the
    /// top level, in `properties`, in nested objects and in array items, and unknown values of
    /// extensible enums.
    pub(crate) fn drifted_repo() -> Value {
        json!({
            "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/securityConnectors/c/devops/default/azureDevOpsOrgs/o/projects/p/repos/r",
            "name": "r",
            "type": "Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/projects/repos",
            "systemData": {"createdBy": "someone"},
            "futureTopLevel": {"tier": "gold"},
            "properties": {
                "provisioningState": "Succeeded",
                "provisioningStatusMessage": "OK",
                "onboardingState": "Onboarded",
                "parentOrgName": "o",
                "parentProjectName": "p",
                "repoId": "id-1", "repoUrl": "https://dev.azure.com/o/p/_git/r", "visibility": "private",
                "futureProperty": 7,
                "actionableRemediation": {
                    "state": "Enabled",
                    "inheritFromParentState": "PartiallyEnabled",
                    "futureRemediation": [1, 2],
                    "categoryConfigurations": [
                        {"category": "Code", "minimumSeverityLevel": "High", "futureItem": "x"},
                        {"category": "SupplyChain", "minimumSeverityLevel": "Low"}
                    ],
                    "branchConfiguration": {"branchNames": ["main", "release"],
                        "annotateDefaultBranch": "Sometimes", "futureBranch": {"deep": {"er": true}}}
                }
            }
        })
    }

    #[test]
    fn restore_bodies_keep_unknown_fields_at_every_level_and_strip_read_only_ones() {
        let stored = drifted_repo();
        let r = restore_body(&stored, &Exclusions::default(), REPO);
        assert!(r.not_restored.is_empty());
        let want = json!({
            "futureTopLevel": {"tier": "gold"},
            "properties": {
                "parentOrgName": "o", "parentProjectName": "p", "futureProperty": 7,
                "actionableRemediation": stored["properties"]["actionableRemediation"].clone(),
            }
        });
        assert_eq!(r.body, want);
        // The typed body the client sends is the same JSON: unknown fields and enum values kept.
        let t: AzureDevOpsRepo = typed(&r.body).unwrap();
        assert_eq!(serde_json::to_value(&t).unwrap(), want);
        // Before: a body rebuilt from the remediation alone kept 1 of the 3 writable top-level
        // fields under `properties` and nothing outside it.
        let old_style = json!({"properties": {"actionableRemediation": {"state": "Enabled"}}});
        assert_ne!(old_style, r.body);
    }

    #[test]
    fn typed_bodies_are_checked_to_be_lossless() {
        for (kind, body) in [
            (BodyKind::Repo, restore_body(&drifted_repo(), &Exclusions::default(), REPO).body),
            (
                BodyKind::Config,
                json!({"futureTop": 1, "properties": {"autoDiscovery": "SomethingNew",
                    "topLevelInventoryList": ["a"], "futureCfg": {"k": [1, {"z": null}]},
                    "agentlessConfiguration": {"agentlessEnabled": "Enabled", "futureAgentless": "y",
                        "inventoryList": [{"inventoryKind": "NewKind", "value": "v", "futureInv": 1}]}}}),
            ),
            (
                BodyKind::Connector,
                json!({"location": "northeurope", "kind": "k", "tags": {"a": "b"}, "futureTop": [1],
                    "properties": {"environmentName": "AzureDevOps", "hierarchyIdentifier": "h",
                        "futureConn": true,
                        "environmentData": {"environmentType": "AzureDevOpsScope", "futureEnv": 1},
                        "offerings": [{"offeringType": "CspmMonitorAzureDevOps", "futureOff": 2}]}}),
            ),
        ] {
            let back = match kind {
                BodyKind::Repo => serde_json::to_value(typed::<AzureDevOpsRepo>(&body).unwrap()),
                BodyKind::Config => {
                    serde_json::to_value(typed::<DevOpsConfiguration>(&body).unwrap())
                }
                _ => serde_json::to_value(typed::<SecurityConnector>(&body).unwrap()),
            }
            .unwrap();
            assert_eq!(without_nulls(&back), without_nulls(&body), "{kind:?}");
        }
        // A body the model cannot carry is refused, never silently changed.
        let e = typed::<SecurityConnector>(&json!({"tags": {"a": 1}})).unwrap_err();
        assert!(e.contains("does not fit"), "{e}");
    }

    #[test]
    fn exclusions_remove_fields_and_report_them() {
        let ex = Exclusions::parse(&[
            "properties.actionableRemediation.inheritFromParentState".into(),
            "properties.actionableRemediation.categoryConfigurations[*].minimumSeverityLevel"
                .into(),
            " ".into(),
        ])
        .unwrap();
        let r = restore_body(&drifted_repo(), &ex, REPO);
        let fields: Vec<&str> = r.not_restored.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            fields,
            [
                "properties.actionableRemediation.inheritFromParentState",
                "properties.actionableRemediation.categoryConfigurations[0].minimumSeverityLevel",
                "properties.actionableRemediation.categoryConfigurations[1].minimumSeverityLevel",
            ]
        );
        assert_eq!(r.not_restored[0].1, json!("PartiallyEnabled"));
        assert!(r
            .body
            .pointer("/properties/actionableRemediation/inheritFromParentState")
            .is_none());
        assert_eq!(r.body["properties"]["actionableRemediation"]["state"], "Enabled");
        for bad in [
            "properties",
            "a..b",
            "properties.x[",
            "properties.x[one]",
            "properties.x]y",
            ":properties.x",
        ] {
            assert!(Exclusions::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
        // A scoped entry applies to that resource alone.
        let ex = Exclusions::parse(&["repos/r:properties.futureProperty".into()]).unwrap();
        assert_eq!(restore_body(&drifted_repo(), &ex, REPO).not_restored.len(), 1);
        let other = format!("{REPO}2");
        assert!(restore_body(&drifted_repo(), &ex, &other).not_restored.is_empty());
        assert_eq!(scope_of(REPO), "azureDevOpsOrgs/o/projects/p/repos/r");
        assert_eq!(scope_of("/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/securityConnectors/c/devops/default"), "devops/default");
        assert_eq!(scope_of("/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/securityConnectors/c"), "securityConnectors/c");
    }

    #[test]
    fn documents_are_compared_field_by_field_with_arrays_by_value() {
        let expected = restore_body(&drifted_repo(), &Exclusions::default(), REPO).body;
        let mut live = drifted_repo();
        // The service adds fields of its own: information, not a difference.
        live["properties"]["serviceAdded"] = json!("new in 2027");
        live["properties"]["actionableRemediation"]["branchConfiguration"]["branchNames"][1] =
            json!("develop");
        live["properties"]["actionableRemediation"]["categoryConfigurations"][0]
            .as_object_mut()
            .unwrap()
            .remove("futureItem");
        live["properties"]["actionableRemediation"]["futureRemediation"] = json!([1]);
        let d = field_diff(&expected, &live);
        let mut paths: Vec<&str> = d.differ.iter().map(|f| f.path.as_str()).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "properties.actionableRemediation.branchConfiguration.branchNames[1]",
                "properties.actionableRemediation.categoryConfigurations[0].futureItem",
                "properties.actionableRemediation.futureRemediation",
            ]
        );
        let at = |p: &str| d.differ.iter().find(|f| f.path.ends_with(p)).unwrap();
        assert_eq!(at("futureItem").expected, json!("x"));
        assert_eq!(at("futureItem").actual, Value::Null);
        assert_eq!(at("futureRemediation").expected, json!([1, 2]), "another length: whole");
        // Read-only fields the live side has are not "added"; the unknown one is.
        let added: Vec<&str> = d.added.iter().map(|a| a.0.as_str()).collect();
        assert_eq!(added, ["properties.serviceAdded"]);
        assert_eq!(field_diff(&expected, &drifted_repo()).differ, vec![]);
        assert!(field_diff(&expected, &drifted_repo()).compared >= 12);
        // A null and an absent field are the same.
        assert!(field_diff(&json!({"a": null}), &json!({})).differ.is_empty());
    }

    #[test]
    fn connector_bodies_move_location_and_replace_lifeboat_tags() {
        let old = json!({"id": "x", "name": "ado-weu", "location": "westeurope", "etag": "e",
            "kind": "k", "futureTop": 1,
            "tags": {"owner": "team", "lifeboat-role": "primary", "lifeboat-run": "old-run"},
            "properties": {"environmentName": "AzureDevOps", "hierarchyIdentifierTrialEndDate": "2026-01-01",
                "offerings": [{"offeringType": "CspmMonitorAzureDevOps", "description": "ro"}]}});
        let ex = Exclusions::default();
        let b =
            connector_create_body(&old, &ex, "c", "northeurope", &[("lifeboat-run", "r1")]).body;
        assert_eq!(
            b,
            json!({"location": "northeurope", "kind": "k", "futureTop": 1,
                "tags": {"owner": "team", "lifeboat-run": "r1"},
                "properties": {"environmentName": "AzureDevOps",
                    "offerings": [{"offeringType": "CspmMonitorAzureDevOps"}]}})
        );
        let e = connector_expected(&old, &ex, "c").body;
        assert!(e.get("location").is_none() && e["tags"] == json!({"owner": "team"}));
    }

    #[test]
    fn refusals_name_the_field_and_the_value() {
        let body = restore_body(&drifted_repo(), &Exclusions::default(), REPO).body;
        let err = |json: &str| {
            AzureError::from(crate::azure::ArmError::from_response(
                400,
                json.as_bytes(),
                "PUT",
                "/r",
                None,
                None,
            ))
        };
        let r = refusal(
            &err(r#"{"error":{"code":"BadRequest","message":"The value of 'properties.actionableRemediation.inheritFromParentState' must be one of Enabled, Disabled.","target":"properties.actionableRemediation.inheritFromParentState"}}"#),
            &body,
        )
        .unwrap();
        assert_eq!(r.path, "properties.actionableRemediation.inheritFromParentState");
        assert_eq!(r.value, Some(json!("PartiallyEnabled")));
        let r = refusal(
            &err(r#"{"error":{"code":"InvalidRequestContent","message":"The request content was invalid and could not be deserialized: 'Error converting value \"Sometimes\" to type 'AnnotateDefaultBranchState'. Path 'properties.actionableRemediation.branchConfiguration.annotateDefaultBranch', line 1, position 90.'."}}"#),
            &body,
        )
        .unwrap();
        assert_eq!(
            r.path,
            "properties.actionableRemediation.branchConfiguration.annotateDefaultBranch"
        );
        assert_eq!(r.value, Some(json!("Sometimes")));
        let text = r.explain(REPO, "run-7", &Exclusions::parse(&["properties.a".into()]).unwrap());
        assert!(text.contains("lifeboat resume run-7 --set restore_exclude=properties.a,azureDevOpsOrgs/o/projects/p/repos/r:properties.actionableRemediation.branchConfiguration.annotateDefaultBranch"), "{text}");
        assert!(text.contains("\"Sometimes\""), "{text}");
        // A 400 that names no field of the body, and any other status, are not refusals.
        assert!(refusal(&err(r#"{"error":{"code":"BadRequest","message":"no"}}"#), &body).is_none());
        let e409 = AzureError::from(crate::azure::ArmError::from_response(
            409,
            br#"{"error":{"code":"Conflict","message":"'properties.parentOrgName'"}}"#,
            "PUT",
            "/r",
            None,
            None,
        ));
        assert!(refusal(&e409, &body).is_none());
        // A secret is never shown.
        let secret = json!({"properties": {"authorization": {"code": "oauth-secret-1"}}});
        let r = refusal(
            &err(r#"{"error":{"code":"BadRequest","message":"bad","target":"properties.authorization.code"}}"#),
            &secret,
        )
        .unwrap();
        assert!(!r.explain("c", "run", &Exclusions::default()).contains("oauth-secret-1"));
    }

    #[test]
    fn the_test_mutation_drops_one_unknown_field_and_only_when_asked() {
        let mut body = restore_body(&drifted_repo(), &Exclusions::default(), REPO).body;
        assert_eq!(
            first_unknown(BodyKind::Repo, &body).as_deref(),
            Some("properties.actionableRemediation.futureRemediation")
        );
        let before = body.clone();
        // Off by default: inert.
        if !mutation_enabled() {
            assert_eq!(mutate_for_test(BodyKind::Repo, &mut body), None);
            assert_eq!(body, before);
        }
        let mut dropped = before.clone();
        assert_eq!(
            drop_first_unknown(BodyKind::Repo, &mut dropped).as_deref(),
            Some("properties.actionableRemediation.futureRemediation")
        );
        let d = field_diff(&before, &dropped);
        assert_eq!(d.differ.len(), 1);
        assert_eq!(d.differ[0].path, "properties.actionableRemediation.futureRemediation");
        let known = json!({"properties": {"actionableRemediation": {"state": "Enabled"}}});
        assert_eq!(first_unknown(BodyKind::Repo, &known), None);
        let cfg = json!({"properties": {"autoDiscovery": "Enabled", "agentlessConfiguration": {"new": 1}}});
        assert_eq!(
            first_unknown(BodyKind::Config, &cfg).as_deref(),
            Some("properties.agentlessConfiguration.new")
        );
    }
}

/// A resource written with another api-version than the one its snapshot read it with (the
/// service no longer serves that one), with the fields the two versions treat differently as
/// far as lifeboat knows ([`crate::azure::api::fields_that_differ`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionChange {
    pub read_with: String,
    pub written_with: String,
    pub fields: Vec<String>,
}

impl VersionChange {
    /// What the fields note says: the fields by name, or that lifeboat knows of none.
    pub fn fields_note(&self) -> String {
        if self.fields.is_empty() {
            "no field lifeboat knows differs between the two versions (a field it does not know \
             may: compare in the portal)"
                .to_owned()
        } else {
            format!("fields the versions treat differently: {}", self.fields.join("; "))
        }
    }
    /// The journal's `WRITE-API-VERSION` note for `resource`.
    pub fn note(&self, resource: &str) -> String {
        format!(
            "{resource}: read with api-version {}, written with {} (the service no longer \
             serves {}): {}",
            self.read_with,
            self.written_with,
            self.read_with,
            self.fields_note()
        )
    }
    /// The `WRITE-API-VERSION` effect the step journals.
    pub fn effect(&self, resource: &str) -> crate::engine::Effect {
        crate::engine::Effect {
            method: "WRITE-API-VERSION".to_string(),
            resource: self.note(resource),
            status: None,
            request_id: None,
            correlation_id: None,
        }
    }
    /// The `api_version_changes` output entry.
    pub fn json(&self, resource: &str) -> Value {
        json!({
            "resource": resource,
            "read_with": self.read_with,
            "written_with": self.written_with,
            "fields": self.fields,
            "note": self.fields_note(),
        })
    }
}

/// Writes a restored body with the api-version its snapshot read the resource with (what was
/// read is what is written). When the service no longer serves that version (ARM refuses it
/// before processing the request, so nothing was written and an OAuth code in the body was not
/// spent), the write goes again with the client's version and says so (`Some(VersionChange)`,
/// naming the fields the versions treat differently in `body`); a snapshot that recorded no
/// version is written with the client's.
pub(crate) async fn write_as_read(
    client: &crate::azure::ArmClient,
    patch: bool,
    id: &crate::azure::id::ResourceId,
    family: crate::azure::api::ApiFamily,
    body: &Value,
    read_with: Option<&str>,
) -> Result<Option<VersionChange>, AzureError> {
    let send = |v: Option<String>| async move {
        if patch {
            client.patch_json(id, family, body, v.as_deref()).await
        } else {
            client.put_json(id, family, body, v.as_deref()).await
        }
    };
    let Some(read_with) = read_with else {
        return send(None).await.map(|_| None);
    };
    match send(Some(read_with.to_owned())).await {
        Ok(_) => Ok(None),
        Err(AzureError::ApiVersionRefused { .. }) => {
            send(None).await?;
            let written_with = client.api_version(family);
            if written_with == read_with {
                return Ok(None);
            }
            let fields = crate::azure::api::fields_that_differ(
                family,
                &id.to_string(),
                read_with,
                &written_with,
                body,
            );
            Ok(Some(VersionChange { read_with: read_with.to_owned(), written_with, fields }))
        }
        Err(e) => Err(e),
    }
}
