//! What the simulator knows of the resource shapes, from the specs (Azure/azure-rest-api-specs):
//! the fields a request may carry but ARM ignores (read-only in the specs, or derived by the
//! service), the fields each api-version introduced, and JSON-pointer helpers over them.
//!
//! Everything else in a request body is kept: unknown fields at every level are stored and
//! returned, as a service that adds fields in a newer api-version does. This list is the
//! simulator's own (the simulator is an adversary of lifeboat's client, not a mirror of it).

use super::versions;
use serde_json::{Map, Value};

/// The resource types whose documents the simulator stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connector,
    DevOpsConfig,
    AdoOrg,
    AdoProject,
    AdoRepo,
    GhOwner,
    GhRepo,
    GlGroup,
    GlProject,
}

/// Fields a write may carry that the simulator ignores, with the reason. Pointers use `*` for
/// every element of an array.
pub fn ignored_on_write(kind: Kind) -> Vec<(&'static str, &'static str)> {
    // ProxyResource (common-types v2 and v5): id, name, type and systemData are readOnly.
    let mut v = vec![
        ("/id", "readOnly (ProxyResource)"),
        ("/name", "readOnly (ProxyResource)"),
        ("/type", "readOnly (ProxyResource)"),
        ("/systemData", "readOnly (ProxyResource)"),
    ];
    let provisioning = [
        ("/properties/provisioningState", "readOnly (DevOpsProvisioningState)"),
        ("/properties/provisioningStatusMessage", "readOnly"),
        ("/properties/provisioningStatusUpdateTimeUtc", "readOnly"),
    ];
    let derived_onboarding = (
        "/properties/onboardingState",
        "derived from ownership (a choice: not readOnly in the spec)",
    );
    match kind {
        Kind::Connector => v.extend([
            ("/etag", "generated on every write (a choice: not readOnly in the spec)"),
            ("/properties/hierarchyIdentifierTrialEndDate", "readOnly"),
            ("/properties/environmentData/accountName", "readOnly (AwsEnvironmentData)"),
            (
                "/properties/environmentData/organizationalData/organizationName",
                "readOnly (GcpOrganizationalDataOrganization)",
            ),
            (
                "/properties/environmentData/projectDetails/workloadIdentityPoolId",
                "readOnly (GcpProjectDetails)",
            ),
            (
                "/properties/environmentData/projectDetails/projectName",
                "readOnly (GcpProjectDetails)",
            ),
            ("/properties/offerings/*/description", "readOnly (cloudOffering)"),
        ]),
        Kind::DevOpsConfig => {
            v.extend(provisioning);
            v.extend([
                ("/properties/capabilities", "readOnly"),
                ("/properties/authorization", "a secret: used by the write, never stored"),
            ]);
        }
        Kind::AdoOrg => {
            v.extend(provisioning);
            v.push(derived_onboarding);
        }
        Kind::AdoProject => {
            v.extend(provisioning);
            v.extend([
                derived_onboarding,
                ("/properties/projectId", "readOnly"),
                ("/properties/parentOrgName", "derived from the path (a choice)"),
            ]);
        }
        Kind::AdoRepo => {
            v.extend(provisioning);
            v.extend([
                derived_onboarding,
                ("/properties/repoId", "readOnly"),
                ("/properties/repoUrl", "readOnly"),
                ("/properties/visibility", "readOnly"),
                ("/properties/parentOrgName", "derived from the path (a choice)"),
                ("/properties/parentProjectName", "derived from the path (a choice)"),
            ]);
        }
        Kind::GhOwner | Kind::GhRepo | Kind::GlGroup | Kind::GlProject => v.extend(provisioning),
    }
    v
}

/// Fields introduced by a later api-version than the oldest served one: absent from responses
/// at an earlier version, and ignored in writes at an earlier version (the older model does not
/// know them). `(kind, pointer, first version)`. Sources in `docs/simulator.md`.
const INTRODUCED: &[(Kind, &str, &str)] = &[
    // DevOps: 2024-04-01 has neither; 2024-05-15-preview adds capabilities; 2025-03-01 (and
    // 2025-11-01-preview) add agentlessConfiguration.
    (Kind::DevOpsConfig, "/properties/capabilities", "2024-05-15-preview"),
    (Kind::DevOpsConfig, "/properties/agentlessConfiguration", "2025-03-01"),
    // securityConnectors: 2023-03-01-preview lacks these; 2023-10-01-preview has them.
    (Kind::Connector, "/properties/environmentData/regions", "2023-10-01-preview"),
    (Kind::Connector, "/properties/environmentData/accountName", "2023-10-01-preview"),
    (
        Kind::Connector,
        "/properties/environmentData/projectDetails/projectName",
        "2023-10-01-preview",
    ),
    (
        Kind::Connector,
        "/properties/environmentData/organizationalData/organizationName",
        "2023-10-01-preview",
    ),
];

/// Enum values introduced by a later api-version: a write at an earlier version that carries
/// one is refused (the older model cannot take it; a choice, pessimistic).
const VALUES_INTRODUCED: &[(Kind, &str, &str, &str)] = &[
    (Kind::Connector, "/properties/environmentName", "GitLab", "2023-10-01-preview"),
    (
        Kind::Connector,
        "/properties/environmentData/environmentType",
        "GitlabScope",
        "2023-10-01-preview",
    ),
    (
        Kind::Connector,
        "/properties/offerings/*/offeringType",
        "CspmMonitorGitLab",
        "2023-10-01-preview",
    ),
];

/// Removes from `doc` the fields `version` does not have yet.
pub fn shape(kind: Kind, version: &str, doc: &mut Value) {
    for (k, ptr, since) in INTRODUCED {
        if *k == kind && versions::cmp(version, since).is_lt() {
            remove(doc, ptr);
        }
    }
}

/// The fields of `doc` (as `(dotted path, since)`) that `version` does not have yet.
pub fn too_new(kind: Kind, version: &str, doc: &Value) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for (k, ptr, since) in INTRODUCED {
        if *k == kind && versions::cmp(version, since).is_lt() {
            for path in present(doc, ptr) {
                out.push((path, *since));
            }
        }
    }
    out
}

/// An enum value in `doc` that `version` does not define yet: `(dotted path, value, since)`.
pub fn value_too_new(
    kind: Kind,
    version: &str,
    doc: &Value,
) -> Option<(String, String, &'static str)> {
    for (k, ptr, value, since) in VALUES_INTRODUCED {
        if *k != kind || !versions::cmp(version, since).is_lt() {
            continue;
        }
        for path in present(doc, ptr) {
            let ptr_concrete = format!("/{}", path.replace(['.', '['], "/").replace(']', ""));
            if doc.pointer(&ptr_concrete).and_then(Value::as_str) == Some(value) {
                return Some((path, value.to_string(), since));
            }
        }
    }
    None
}

/// `doc` without the fields ARM ignores on a write of `kind`.
pub fn strip_ignored(kind: Kind, doc: &mut Value) {
    for (ptr, _) in ignored_on_write(kind) {
        remove(doc, ptr);
    }
}

fn segments(ptr: &str) -> Vec<&str> {
    ptr.split('/').skip(1).collect()
}

/// Removes the field at `ptr` (`*` = every array element).
pub fn remove(doc: &mut Value, ptr: &str) {
    fn go(v: &mut Value, segs: &[&str]) {
        let Some((first, rest)) = segs.split_first() else { return };
        match v {
            Value::Object(m) => {
                if rest.is_empty() {
                    m.remove(*first);
                } else if let Some(child) = m.get_mut(*first) {
                    go(child, rest);
                }
            }
            Value::Array(a) if *first == "*" => {
                for item in a {
                    go(item, rest);
                }
            }
            _ => {}
        }
    }
    go(doc, &segments(ptr));
}

/// Dotted paths (`properties.offerings[0].description`) of the fields at `ptr` present in `doc`.
pub fn present(doc: &Value, ptr: &str) -> Vec<String> {
    fn go(v: &Value, segs: &[&str], at: String, out: &mut Vec<String>) {
        let Some((first, rest)) = segs.split_first() else {
            out.push(at);
            return;
        };
        match v {
            Value::Object(m) => {
                if let Some(child) = m.get(*first) {
                    let next =
                        if at.is_empty() { first.to_string() } else { format!("{at}.{first}") };
                    go(child, rest, next, out);
                }
            }
            Value::Array(a) if *first == "*" => {
                for (i, item) in a.iter().enumerate() {
                    go(item, rest, format!("{at}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    go(doc, &segments(ptr), String::new(), &mut out);
    out
}

/// Merges `patch` into `base` one level deep (an object's keys replace the base's), as the
/// simulator's PATCH does for `properties`.
pub fn merge_shallow(base: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        base.insert(k.clone(), v.clone());
    }
}

/// Adds to `out` every key of `stored` that `out` does not have (the generated document wins,
/// stored unknown fields are added), at the top level and inside `properties`.
pub fn overlay(out: &mut Value, stored: &Value) {
    let (Some(o), Some(s)) = (out.as_object_mut(), stored.as_object()) else { return };
    for (k, v) in s {
        if k == "properties" {
            if let (Some(op), Some(sp)) =
                (o.get_mut("properties").and_then(Value::as_object_mut), v.as_object())
            {
                for (pk, pv) in sp {
                    op.entry(pk.clone()).or_insert_with(|| pv.clone());
                }
                continue;
            }
        }
        o.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ignored_fields_are_removed_at_every_array_element() {
        let mut v = json!({"id": "x", "etag": "e", "properties": {"offerings": [
            {"offeringType": "A", "description": "d"}, {"offeringType": "B", "description": "d"}],
            "unknown": {"keep": 1}}, "futureTop": [1]});
        strip_ignored(Kind::Connector, &mut v);
        assert_eq!(
            v,
            json!({"properties": {"offerings": [{"offeringType": "A"}, {"offeringType": "B"}],
                "unknown": {"keep": 1}}, "futureTop": [1]})
        );
    }

    #[test]
    fn older_versions_lack_newer_fields() {
        let doc = json!({"properties": {"autoDiscovery": "Enabled", "capabilities": [],
            "agentlessConfiguration": {"agentlessEnabled": "Enabled"}}});
        let mut old = doc.clone();
        shape(Kind::DevOpsConfig, "2024-04-01", &mut old);
        assert_eq!(old, json!({"properties": {"autoDiscovery": "Enabled"}}));
        let mut mid = doc.clone();
        shape(Kind::DevOpsConfig, "2024-05-15-preview", &mut mid);
        assert!(mid["properties"].get("capabilities").is_some());
        assert!(mid["properties"].get("agentlessConfiguration").is_none());
        let mut new = doc.clone();
        shape(Kind::DevOpsConfig, "2025-11-01-preview", &mut new);
        assert_eq!(new, doc);
        assert_eq!(
            too_new(Kind::DevOpsConfig, "2024-04-01", &doc),
            vec![
                ("properties.capabilities".to_string(), "2024-05-15-preview"),
                ("properties.agentlessConfiguration".to_string(), "2025-03-01")
            ]
        );
        let gl = json!({"properties": {"offerings": [{"offeringType": "CspmMonitorGitLab"}]}});
        assert_eq!(
            value_too_new(Kind::Connector, "2023-03-01-preview", &gl),
            Some((
                "properties.offerings[0].offeringType".into(),
                "CspmMonitorGitLab".into(),
                "2023-10-01-preview"
            ))
        );
        assert_eq!(value_too_new(Kind::Connector, "2023-10-01-preview", &gl), None);
    }

    #[test]
    fn overlay_adds_stored_unknown_fields_without_overriding() {
        let mut out = json!({"id": "i", "properties": {"onboardingState": "Onboarded"}});
        overlay(
            &mut out,
            &json!({"id": "stale", "future": 1, "properties": {"onboardingState": "X", "more": {"a": 1}}}),
        );
        assert_eq!(
            out,
            json!({"id": "i", "future": 1, "properties": {"onboardingState": "Onboarded", "more": {"a": 1}}})
        );
    }
}
