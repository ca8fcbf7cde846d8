//! The one list of fields a restoring write must not send, and [`writable`], which removes them.
//!
//! A restore sends what the backup holds: the stored JSON minus [`READ_ONLY`], plus the few
//! values recovery must change (the caller's overrides: location, tags, the new OAuth code).
//! Everything else travels verbatim, whether lifeboat knows the field or not, so a field that a
//! newer api-version added is restored like any other. Nothing here knows the typed models.
//!
//! Sources: `readOnly: true` in `securityConnectorsDevOps.json` (2025-03-01) and
//! `securityConnectors.json` (2026-08-01-preview) of Azure/azure-rest-api-specs, for every model
//! lifeboat reads or restores (security connector, DevOps configuration, Azure DevOps
//! org/project/repo, GitHub owner/repo, GitLab group/project), plus the common types'
//! `ProxyResource` (`id`, `name`, `type`, `systemData`). Copies of both specs are in
//! `tests/fixtures/azure-specs`; a unit test checks this list against them.
//!
//! Pointers are JSON pointers (RFC 6901) in which a `*` segment stands for every item of an
//! array.

use serde_json::Value;

/// Why a field must not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// `readOnly: true` in the spec: the service computes it.
    ReadOnly,
    /// Writable in the spec, but owned by the service or by the old resource, so a restore must
    /// not send the backed-up value.
    ServiceOwned,
    /// A secret (`x-ms-secret`): never stored, never restored from a backup.
    Secret,
}

/// One field a restoring write leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub pointer: &'static str,
    pub why: Why,
    /// Where it comes from, for a person reading the list.
    pub note: &'static str,
}

const fn ro(pointer: &'static str, note: &'static str) -> Field {
    Field { pointer, why: Why::ReadOnly, note }
}

/// Every field a restoring write must not send (any resource kind: a pointer that a kind does
/// not have is simply absent from its bodies).
pub const READ_ONLY: &[Field] = &[
    // ProxyResource (common types v2 and v5): identity is in the URL, systemData is the service's.
    ro("/id", "ProxyResource.id"),
    ro("/name", "ProxyResource.name (the URL names the resource)"),
    ro("/type", "ProxyResource.type"),
    ro("/systemData", "ProxyResource.systemData"),
    Field {
        pointer: "/etag",
        why: Why::ServiceOwned,
        note: "SecurityConnector.etag: the old resource's entity tag, assigned by the service",
    },
    // Security connector (2026-08-01-preview).
    ro(
        "/properties/hierarchyIdentifierTrialEndDate",
        "SecurityConnectorProperties.hierarchyIdentifierTrialEndDate",
    ),
    ro("/properties/offerings/*/description", "cloudOffering.description"),
    ro("/properties/environmentData/accountName", "AwsEnvironmentData.accountName"),
    ro(
        "/properties/environmentData/projectDetails/workloadIdentityPoolId",
        "GcpProjectDetails.workloadIdentityPoolId",
    ),
    ro("/properties/environmentData/projectDetails/projectName", "GcpProjectDetails.projectName"),
    ro(
        "/properties/environmentData/organizationalData/organizationName",
        "GcpOrganizationalDataOrganization.organizationName",
    ),
    // Every DevOps resource (2025-03-01).
    ro("/properties/provisioningState", "DevOpsProvisioningState"),
    ro("/properties/provisioningStatusMessage", "*Properties.provisioningStatusMessage"),
    ro(
        "/properties/provisioningStatusUpdateTimeUtc",
        "*Properties.provisioningStatusUpdateTimeUtc",
    ),
    Field {
        pointer: "/properties/onboardingState",
        why: Why::ServiceOwned,
        note: "OnboardingState: derived from which connector owns the resource; a write cannot \
               change it (ownership moves only through Microsoft support's release)",
    },
    // DevOps configuration.
    Field {
        pointer: "/properties/authorization",
        why: Why::Secret,
        note: "Authorization.code (x-ms-secret): a one-time OAuth code, never in a backup",
    },
    ro("/properties/capabilities", "DevOpsConfigurationProperties.capabilities"),
    // Azure DevOps project and repository.
    ro("/properties/projectId", "AzureDevOpsProjectProperties.projectId"),
    ro(
        "/properties/repoId",
        "AzureDevOpsRepositoryProperties.repoId, GitHubRepositoryProperties.repoId",
    ),
    ro(
        "/properties/repoUrl",
        "AzureDevOpsRepositoryProperties.repoUrl, GitHubRepositoryProperties.repoUrl",
    ),
    ro("/properties/visibility", "AzureDevOpsRepositoryProperties.visibility"),
    // GitHub (never written through the API; listed so verify compares what could be).
    ro("/properties/ownerUrl", "GitHubOwnerProperties.ownerUrl"),
    ro("/properties/gitHubInternalId", "GitHubOwnerProperties.gitHubInternalId"),
    ro("/properties/repoName", "GitHubRepositoryProperties.repoName"),
    ro("/properties/repoFullName", "GitHubRepositoryProperties.repoFullName"),
    // GitLab (never written through the API).
    ro("/properties/fullyQualifiedName", "GitLabGroupProperties/GitLabProjectProperties"),
    ro("/properties/fullyQualifiedFriendlyName", "GitLabGroupProperties/GitLabProjectProperties"),
    ro("/properties/fullyQualifiedParentGroupName", "GitLabProjectProperties"),
    ro("/properties/url", "GitLabGroupProperties/GitLabProjectProperties"),
];

/// The writable part of a stored body: `body` without every field of [`READ_ONLY`].
pub fn writable(body: &Value) -> Value {
    let mut v = body.clone();
    strip(&mut v);
    v
}

/// Removes every field of [`READ_ONLY`] from `body`, in place.
pub fn strip(body: &mut Value) {
    for f in READ_ONLY {
        remove_pointer(body, f.pointer);
    }
}

/// Whether the field at `pointer` (RFC 6901, array indexes as numbers) is one of [`READ_ONLY`]
/// or inside one.
pub fn is_read_only(pointer: &str) -> bool {
    let segs: Vec<&str> = pointer.split('/').skip(1).collect();
    READ_ONLY.iter().any(|f| {
        let pat: Vec<&str> = f.pointer.split('/').skip(1).collect();
        pat.len() <= segs.len()
            && pat.iter().zip(&segs).all(|(p, s)| {
                *p == "*" && s.parse::<usize>().is_ok()
                    || p.replace("~1", "/").replace("~0", "~") == *s
            })
    })
}

/// Removes the field at `pointer` (a `*` segment: every array item).
fn remove_pointer(v: &mut Value, pointer: &str) {
    let segs: Vec<String> =
        pointer.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect();
    remove_segs(v, &segs);
}

fn remove_segs(v: &mut Value, segs: &[String]) {
    let Some((first, rest)) = segs.split_first() else { return };
    if first == "*" {
        if let Value::Array(items) = v {
            for item in items {
                remove_segs(item, rest);
            }
        }
        return;
    }
    match v {
        Value::Object(m) if rest.is_empty() => {
            m.remove(first);
        }
        Value::Object(m) => {
            if let Some(child) = m.get_mut(first) {
                remove_segs(child, rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    #[test]
    fn read_only_fields_and_secrets_go_unknown_fields_stay() {
        let stored = json!({
            "id": "/subscriptions/s/.../devops/default", "name": "default", "type": "t",
            "systemData": {"createdBy": "x"}, "etag": "\"1\"", "futureTop": {"a": 1},
            "properties": {
                "authorization": {"code": "never-sent"},
                "autoDiscovery": "Enabled",
                "capabilities": [{"name": "n", "value": "v"}],
                "provisioningState": "Succeeded", "provisioningStatusMessage": "ok",
                "provisioningStatusUpdateTimeUtc": "2026-01-01T00:00:00Z",
                "onboardingState": "Onboarded",
                "futureProp": [{"x": 1, "description": "kept: only offerings' is read-only"}],
                "offerings": [{"offeringType": "CspmMonitorAzureDevOps", "description": "ro",
                               "futureOffering": true}],
            }
        });
        let w = writable(&stored);
        assert_eq!(
            w,
            json!({
                "futureTop": {"a": 1},
                "properties": {
                    "autoDiscovery": "Enabled",
                    "futureProp": [{"x": 1, "description": "kept: only offerings' is read-only"}],
                    "offerings": [{"offeringType": "CspmMonitorAzureDevOps", "futureOffering": true}],
                }
            })
        );
        assert!(!w.to_string().contains("never-sent"));
        assert!(is_read_only("/properties/offerings/0/description"));
        assert!(is_read_only("/properties/capabilities/0/name"));
        assert!(!is_read_only("/properties/offerings/0/offeringType"));
        assert!(!is_read_only("/properties/actionableRemediation/state"));
    }

    /// Reads one of the spec copies under tests/fixtures/azure-specs.
    fn spec(rel: &str) -> Value {
        let p = format!(
            "{}/tests/fixtures/azure-specs/specification/security/resource-manager/Microsoft.Security/Security/{rel}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
    }

    /// Every property pointer of a model (array items as `*`), with its `readOnly` flag and
    /// whether it is a secret. Discriminated sub-types of a definition are walked too.
    fn walk(
        defs: &Value,
        name: &str,
        prefix: &str,
        out: &mut Vec<(String, bool, bool)>,
        seen: &mut BTreeSet<(String, String)>,
    ) {
        if !seen.insert((name.to_string(), prefix.to_string())) {
            return;
        }
        let Some(m) = defs.get(name) else { return };
        for a in m.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            if let Some(r) = a.get("$ref").and_then(Value::as_str) {
                if let Some(n) = r.strip_prefix("#/definitions/") {
                    walk(defs, n, prefix, out, seen);
                } else if r.ends_with("/ProxyResource") {
                    for f in ["id", "name", "type", "systemData"] {
                        out.push((format!("{prefix}/{f}"), true, false));
                    }
                }
            }
        }
        // Sub-types (`x-ms-discriminator-value`) that extend this definition.
        for (sub, d) in defs.as_object().into_iter().flatten() {
            let extends = d.get("allOf").and_then(Value::as_array).into_iter().flatten().any(|a| {
                a.get("$ref").and_then(Value::as_str) == Some(&format!("#/definitions/{name}"))
            });
            if extends && d.get("x-ms-discriminator-value").is_some() {
                walk(defs, sub, prefix, out, seen);
            }
        }
        for (k, v) in m.get("properties").and_then(Value::as_object).into_iter().flatten() {
            let here = format!("{prefix}/{k}");
            let r = v.get("$ref").or_else(|| v.pointer("/items/$ref")).and_then(Value::as_str);
            let local = r.and_then(|r| r.strip_prefix("#/definitions/"));
            let target = local.and_then(|n| defs.get(n));
            // The common types' systemData is read-only as a whole.
            let is_ro = v.get("readOnly") == Some(&Value::Bool(true))
                || r.is_some_and(|r| r.ends_with("/definitions/systemData"))
                || target.and_then(|t| t.get("readOnly")) == Some(&Value::Bool(true));
            let secret = v.get("x-ms-secret") == Some(&Value::Bool(true));
            out.push((here.clone(), is_ro, secret));
            let Some(n) = local else { continue };
            let array = v.get("type").and_then(Value::as_str) == Some("array");
            let target_array =
                target.and_then(|t| t.get("type")).and_then(Value::as_str) == Some("array");
            let next = if array || target_array { format!("{here}/*") } else { here.clone() };
            let n = if target_array {
                target
                    .and_then(|t| t.pointer("/items/$ref"))
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/definitions/"))
                    .unwrap_or(n)
            } else {
                n
            };
            walk(defs, n, &next, out, seen);
        }
    }

    fn fields(spec_rel: &str, models: &[&str]) -> Vec<(String, bool, bool)> {
        let s = spec(spec_rel);
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for m in models {
            walk(&s["definitions"], m, "", &mut out, &mut seen);
        }
        out
    }

    /// The strip list agrees with the specs: every read-only or secret field of every model
    /// lifeboat reads or restores is stripped (or inside a stripped one), and every entry marked
    /// read-only is read-only in a spec and writable in none.
    #[test]
    fn the_strip_list_matches_the_specs() {
        let mut all = fields(
            "stable/2025-03-01/securityConnectorsDevOps.json",
            &[
                "DevOpsConfiguration",
                "AzureDevOpsOrg",
                "AzureDevOpsProject",
                "AzureDevOpsRepository",
                "GitHubOwner",
                "GitHubRepository",
                "GitLabGroup",
                "GitLabProject",
            ],
        );
        all.extend(fields(
            "preview/2026-08-01-preview/securityConnectors.json",
            &["SecurityConnector"],
        ));
        assert!(all.len() > 60, "the walk found the models ({} fields)", all.len());
        let to_check = |p: &str| p.replace("/*", "/0");
        let missing: Vec<&str> = all
            .iter()
            .filter(|(p, is_ro, secret)| (*is_ro || *secret) && !is_read_only(&to_check(p)))
            .map(|(p, _, _)| p.as_str())
            .collect();
        assert!(
            missing.is_empty(),
            "read-only or secret in the specs but not stripped: {missing:#?}"
        );
        let writable: BTreeSet<&str> =
            all.iter().filter(|(_, r, s)| !r && !s).map(|(p, _, _)| p.as_str()).collect();
        let read_only: BTreeSet<&str> =
            all.iter().filter(|(_, r, _)| *r).map(|(p, _, _)| p.as_str()).collect();
        for f in READ_ONLY.iter().filter(|f| f.why == Why::ReadOnly) {
            assert!(read_only.contains(f.pointer), "{} is not read-only in the specs", f.pointer);
            assert!(!writable.contains(f.pointer), "{} is writable in some model", f.pointer);
        }
        for f in READ_ONLY.iter().filter(|f| f.why != Why::ReadOnly) {
            assert!(
                all.iter().any(|(p, _, _)| p == f.pointer),
                "{} names no field of the specs",
                f.pointer
            );
        }
    }
}
