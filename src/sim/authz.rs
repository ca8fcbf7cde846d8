//! Azure RBAC as the simulated ARM plays it: the caller's role assignments (per tenant), the
//! permissions API that reports them, and the refusal of a write they do not allow.
//!
//! - Role assignments: the tenant file's `roleAssignments` (`[{"role": "Reader", "scope":
//!   "/subscriptions/..."}]`), replaceable at run time (`PUT /_sim/role-assignments`,
//!   [`super::RunningSim::set_role_assignments`]). Absent (the default, and every tenant written
//!   before this existed): the caller is Owner of every subscription of the tenant (a choice, so
//!   old tenants keep working; see `docs/simulator.md`). Built-in roles only, with their real
//!   `actions`/`notActions` ([`BUILT_IN`]).
//! - `GET {scope}/providers/Microsoft.Authorization/permissions` (api family `authorization`) at a
//!   subscription, a resource group or a resource: one `{actions, notActions, dataActions,
//!   notDataActions}` entry per assignment at or above the scope, paged with `nextLink`. An
//!   unknown subscription is ARM's 404 `SubscriptionNotFound`, a group that does not exist 404
//!   `ResourceGroupNotFound` (a choice: Microsoft documents no answer for it).
//! - Every write (PUT, PATCH, DELETE, and a POST that is not a read-like action) is authorized
//!   before it is routed: the action is derived from the path as ARM names operations
//!   (`{namespace}/{type}/{child type}/write|delete`, `.../{action}/action`), and a caller
//!   whose assignments do not allow it gets ARM's 403 `AuthorizationFailed`. Reads are not
//!   checked (every built-in role the simulator knows reads everything).
//!
//! The simulator's own knowledge: it shares no table or matcher with lifeboat's
//! `steps::permissions` (it plays Azure, it does not mirror the client).

use super::model::Cloud;
use super::server::{ArmError, ArmResult, Ctx, Reply};
use super::versions::Family;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The object ID the simulator gives its one caller (ARM names it in `AuthorizationFailed`).
pub const CALLER_OBJECT_ID: &str = "00000000-0000-4000-a000-00000000ca11";

/// One role assignment of the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// A built-in role name (`Owner`, `Contributor`, `Reader`, `Security Admin`, `Security
    /// Reader`), case-insensitive.
    pub role: String,
    /// `/`, `/subscriptions/{id}`, `/subscriptions/{id}/resourceGroups/{name}` or a resource ID.
    pub scope: String,
}

/// A built-in role: name, `actions`, `notActions`.
pub struct BuiltIn {
    pub name: &'static str,
    pub actions: &'static [&'static str],
    pub not_actions: &'static [&'static str],
}

/// The built-in roles the simulator knows, as Microsoft defines them ("Azure built-in roles":
/// learn.microsoft.com/azure/role-based-access-control/built-in-roles, the Privileged, General
/// and Security pages; see `docs/simulator.md`).
pub const BUILT_IN: &[BuiltIn] = &[
    BuiltIn { name: "Owner", actions: &["*"], not_actions: &[] },
    BuiltIn {
        name: "Contributor",
        actions: &["*"],
        not_actions: &[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
    },
    BuiltIn { name: "Reader", actions: &["*/read"], not_actions: &[] },
    BuiltIn {
        name: "Security Admin",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Authorization/policyAssignments/*",
            "Microsoft.Authorization/policyDefinitions/*",
            "Microsoft.Authorization/policyExemptions/*",
            "Microsoft.Authorization/policySetDefinitions/*",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Management/managementGroups/read",
            "Microsoft.operationalInsights/workspaces/*/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Security/*",
            "Microsoft.IoTSecurity/*",
            "Microsoft.IoTFirmwareDefense/*",
            "Microsoft.Support/*",
        ],
        not_actions: &[],
    },
    BuiltIn {
        name: "Security Reader",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/read",
            "Microsoft.operationalInsights/workspaces/*/read",
            "Microsoft.Resources/deployments/*/read",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Security/*/read",
            "Microsoft.IoTSecurity/*/read",
            "Microsoft.Support/*/read",
            "Microsoft.Security/iotDefenderSettings/packageDownloads/action",
            "Microsoft.Security/iotDefenderSettings/downloadManagerActivation/action",
            "Microsoft.Security/iotSensors/downloadResetPassword/action",
            "Microsoft.IoTSecurity/defenderSettings/packageDownloads/action",
            "Microsoft.IoTSecurity/defenderSettings/downloadManagerActivation/action",
            "Microsoft.Management/managementGroups/read",
        ],
        not_actions: &[],
    },
];

/// The built-in role called `name` (case-insensitive).
pub fn built_in(name: &str) -> Option<&'static BuiltIn> {
    BUILT_IN.iter().find(|r| r.name.eq_ignore_ascii_case(name.trim()))
}

/// Checks assignments (a tenant file's or a control request's): known roles, scopes that are
/// ARM scopes.
pub fn validate(assignments: &[RoleAssignment]) -> Result<(), String> {
    for (i, a) in assignments.iter().enumerate() {
        if built_in(&a.role).is_none() {
            let names: Vec<&str> = BUILT_IN.iter().map(|r| r.name).collect();
            let shown: String = a.role.chars().filter(|c| !c.is_control()).take(60).collect();
            return Err(format!(
                "roleAssignments[{i}]: `{shown}` is not a built-in role the simulator knows (use one of {})",
                names.join(", ")
            ));
        }
        let s = a.scope.trim();
        if !(s == "/" || s.to_ascii_lowercase().starts_with("/subscriptions/")) || s.len() > 2048 {
            return Err(format!(
                "roleAssignments[{i}]: scope must be `/` or start with /subscriptions/ (e.g. /subscriptions/ID or /subscriptions/ID/resourceGroups/NAME)"
            ));
        }
    }
    Ok(())
}

/// ARM's match of an action pattern: case-insensitive, `*` any run of characters.
fn glob(pattern: &str, action: &str) -> bool {
    fn rec(p: &[u8], a: &[u8]) -> bool {
        // Iterative with one backtrack point: patterns are short.
        let (mut i, mut j, mut back) = (0, 0, None);
        while j < a.len() {
            if i < p.len() && p[i] == b'*' {
                back = Some((i, j));
                i += 1;
            } else if i < p.len() && p[i].eq_ignore_ascii_case(&a[j]) {
                i += 1;
                j += 1;
            } else if let Some((bi, bj)) = back {
                i = bi + 1;
                j = bj + 1;
                back = Some((bi, bj + 1));
            } else {
                return false;
            }
        }
        p[i..].iter().all(|c| *c == b'*')
    }
    rec(pattern.as_bytes(), action.as_bytes())
}

/// Whether `scope` is `assigned` or inside it (whole segments, case-insensitive).
fn within(scope: &str, assigned: &str) -> bool {
    let s = scope.trim_end_matches('/').to_ascii_lowercase();
    let a = assigned.trim_end_matches('/').to_ascii_lowercase();
    a.is_empty() || s == a || s.starts_with(&format!("{a}/"))
}

/// The caller's assignments in `cloud` (the default: Owner of every subscription).
pub fn assignments(cloud: &Cloud) -> Vec<RoleAssignment> {
    match &cloud.role_assignments {
        Some(a) => a.clone(),
        None => cloud
            .subscriptions
            .iter()
            .map(|s| RoleAssignment { role: "Owner".into(), scope: format!("/subscriptions/{s}") })
            .collect(),
    }
}

/// The roles that apply at `scope` (assignments at or above it).
fn applying(cloud: &Cloud, scope: &str) -> Vec<&'static BuiltIn> {
    assignments(cloud)
        .iter()
        .filter(|a| within(scope, &a.scope))
        .filter_map(|a| built_in(&a.role))
        .collect()
}

/// Whether the caller may perform `action` at `scope`.
pub fn allowed(cloud: &Cloud, scope: &str, action: &str) -> bool {
    applying(cloud, scope).iter().any(|r| {
        r.actions.iter().any(|p| glob(p, action)) && !r.not_actions.iter().any(|p| glob(p, action))
    })
}

/// The operation name ARM authorizes a request as, from its method and path: `None` for reads
/// and read-like POSTs (lists, availability checks).
pub fn action_for(method: &str, segs: &[String]) -> Option<String> {
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let verb = match method {
        "PUT" | "PATCH" => "write",
        "DELETE" => "delete",
        "POST" => "action",
        _ => return None,
    };
    if lower.first().map(String::as_str) == Some("_sim") {
        return None;
    }
    if verb == "action" {
        let last = lower.last().map(String::as_str).unwrap_or("");
        if last.starts_with("listavailable")
            || last == "listsubgroups"
            || last == "checknameavailability"
            || lower.iter().any(|s| s == "microsoft.resourcegraph")
        {
            return None;
        }
    }
    match lower.iter().rposition(|s| s == "providers").filter(|i| i + 1 < segs.len()) {
        Some(i) => {
            let namespace = &segs[i + 1];
            let rest = &segs[i + 2..];
            let (types, action): (Vec<&String>, Option<&String>) = if verb == "action" {
                // `type/name/.../type/name/{action}`
                let (head, tail) = rest.split_at(rest.len().saturating_sub(1));
                (head.iter().step_by(2).collect(), tail.first())
            } else {
                (rest.iter().step_by(2).collect(), None)
            };
            let mut name = namespace.clone();
            for t in types {
                name.push('/');
                name.push_str(t);
            }
            match action {
                Some(a) => Some(format!("{name}/{a}/action")),
                None if verb == "action" => None,
                None => Some(format!("{name}/{verb}")),
            }
        }
        // `/subscriptions/{s}/resourceGroups/{g}` and the like: Microsoft.Resources.
        None => match lower.as_slice() {
            [s, _, g, _] if s == "subscriptions" && g == "resourcegroups" => {
                Some(format!("Microsoft.Resources/subscriptions/resourceGroups/{verb}"))
            }
            [s, _] if s == "subscriptions" => {
                Some(format!("Microsoft.Resources/subscriptions/{verb}"))
            }
            _ => None,
        },
    }
}

/// Authorizes a request before it is routed: a write the caller's roles do not allow is ARM's
/// 403 `AuthorizationFailed`.
pub fn enforce(ctx: &Ctx) -> Result<(), ArmError> {
    let Some(action) = action_for(ctx.method.as_str(), &ctx.segs) else { return Ok(()) };
    let scope = format!("/{}", ctx.segs.join("/"));
    let cloud = ctx.shared.cloud();
    if allowed(&cloud, &scope, &action) {
        return Ok(());
    }
    Err(ArmError::new(
        403,
        "AuthorizationFailed",
        format!(
            "The client '{CALLER_OBJECT_ID}' with object id '{CALLER_OBJECT_ID}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
        ),
    ))
}

/// Whether resource group `group` of `sub` exists: a group holding a connector or a resource of
/// the tenant's `extraResources`.
fn group_exists(cloud: &Cloud, sub: &str, group: &str) -> bool {
    cloud.connectors.values().any(|c| {
        c.subscription.eq_ignore_ascii_case(sub) && c.resource_group.eq_ignore_ascii_case(group)
    }) || cloud.extra_resources.iter().any(|r| {
        let id = r.get("id").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
        id.starts_with(&format!(
            "/subscriptions/{}/resourcegroups/{}/",
            sub.to_ascii_lowercase(),
            group.to_ascii_lowercase()
        ))
    })
}

/// `GET {scope}/providers/Microsoft.Authorization/permissions`.
pub fn permissions(ctx: &Ctx) -> ArmResult {
    if ctx.method != "GET" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{}' is not allowed on this resource.", ctx.method),
        ));
    }
    ctx.require(Family::Authorization, "permissions", "global")?;
    let n = ctx.segs.len();
    let scope_segs = &ctx.segs[..n - 3];
    let lower: Vec<&str> = ctx.lower[..n - 3].iter().map(String::as_str).collect();
    if lower.first() != Some(&"subscriptions") || scope_segs.len() < 2 {
        return Err(ArmError::new(
            404,
            "InvalidResourceType",
            "The resource type 'permissions' could not be found in the namespace 'Microsoft.Authorization' at this scope.",
        ));
    }
    let sub = &scope_segs[1];
    let scope = format!("/{}", scope_segs.join("/"));
    let entries: Vec<Value> = {
        let cloud = ctx.shared.cloud();
        if !cloud.subscriptions.iter().any(|s| s.eq_ignore_ascii_case(sub)) {
            return Err(ArmError::new(
                404,
                "SubscriptionNotFound",
                format!("The subscription '{sub}' could not be found."),
            ));
        }
        if lower.len() >= 4 && lower[2] == "resourcegroups" {
            let group = &scope_segs[3];
            if !group_exists(&cloud, sub, group) {
                return Err(ArmError::new(
                    404,
                    "ResourceGroupNotFound",
                    format!("Resource group '{group}' could not be found."),
                ));
            }
        }
        applying(&cloud, &scope)
            .into_iter()
            .map(|r| {
                json!({
                    "actions": r.actions,
                    "notActions": r.not_actions,
                    "dataActions": [],
                    "notDataActions": [],
                })
            })
            .collect()
    };
    let path = format!("/{}", ctx.segs.join("/"));
    ctx.page(&path, entries)
}

/// The control API's view and change of the assignments (`GET`/`PUT /_sim/role-assignments`,
/// body `{"assignments": [...]}`; `null` restores the default).
pub fn control(ctx: &Ctx, body: Option<&Value>) -> ArmResult {
    if let Some(body) = body {
        let list: Option<Vec<RoleAssignment>> = match body.get("assignments") {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| {
                ArmError::bad_request(format!(
                    "'assignments' must be a list of {{\"role\", \"scope\"}} objects ({e})"
                ))
                .target("assignments")
            })?),
        };
        if let Some(l) = &list {
            validate(l).map_err(|e| ArmError::bad_request(e).target("assignments"))?;
        }
        ctx.shared.cloud().role_assignments = list;
    }
    let cloud = ctx.shared.cloud();
    Ok(Reply::ok(json!({
        "default": cloud.role_assignments.is_none(),
        "assignments": assignments(&cloud),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        p.split('/').filter(|s| !s.is_empty()).map(String::from).collect()
    }

    #[test]
    fn writes_are_named_as_arm_names_operations() {
        let c =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/securityConnectors/c";
        assert_eq!(
            action_for("PUT", &segs(c)).unwrap(),
            "Microsoft.Security/securityConnectors/write"
        );
        assert_eq!(
            action_for("DELETE", &segs(c)).unwrap(),
            "Microsoft.Security/securityConnectors/delete"
        );
        assert_eq!(
            action_for("PATCH", &segs(&format!("{c}/devops/default"))).unwrap(),
            "Microsoft.Security/securityConnectors/devops/write"
        );
        assert_eq!(
            action_for(
                "PUT",
                &segs(&format!("{c}/devops/default/azureDevOpsOrgs/o/projects/p/repos/r"))
            )
            .unwrap(),
            "Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/projects/repos/write"
        );
        assert_eq!(
            action_for(
                "PUT",
                &segs("/subscriptions/s/providers/Microsoft.Support/supportTickets/t")
            )
            .unwrap(),
            "Microsoft.Support/supportTickets/write"
        );
        assert_eq!(
            action_for("PUT", &segs("/subscriptions/s/resourcegroups/g")).unwrap(),
            "Microsoft.Resources/subscriptions/resourceGroups/write"
        );
        assert_eq!(action_for("GET", &segs(c)), None);
        assert_eq!(
            action_for("POST", &segs(&format!("{c}/devops/default/listAvailableAzureDevOpsOrgs"))),
            None
        );
        assert_eq!(action_for("POST", &segs("/providers/Microsoft.ResourceGraph/resources")), None);
        assert_eq!(
            action_for(
                "POST",
                &segs("/subscriptions/s/providers/Microsoft.Support/checkNameAvailability")
            ),
            None
        );
    }

    #[test]
    fn roles_allow_what_their_definitions_say() {
        let mut cloud = Cloud::empty("t", 0);
        cloud.subscriptions = vec!["s1".into(), "s2".into()];
        let c =
            "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Security/securityConnectors/c";
        let w = "Microsoft.Security/securityConnectors/write";
        assert!(allowed(&cloud, c, w), "default: Owner everywhere");
        assert!(allowed(&cloud, c, "Microsoft.Authorization/roleAssignments/write"));
        let set = |cloud: &mut Cloud, role: &str, scope: &str| {
            cloud.role_assignments =
                Some(vec![RoleAssignment { role: role.into(), scope: scope.into() }]);
        };
        set(&mut cloud, "Reader", "/subscriptions/s1");
        assert!(!allowed(&cloud, c, w));
        assert!(allowed(&cloud, c, "Microsoft.Security/securityConnectors/read"));
        set(&mut cloud, "security admin", "/subscriptions/S1/resourceGroups/G");
        assert!(allowed(&cloud, c, w));
        assert!(!allowed(
            &cloud,
            "/subscriptions/s1/resourceGroups/g2",
            "Microsoft.Security/securityConnectors/write"
        ));
        assert!(!allowed(&cloud, "/subscriptions/s1/resourceGroups/gx", w), "segment boundary");
        assert!(!allowed(
            &cloud,
            "/subscriptions/s1",
            "Microsoft.Resources/subscriptions/resourceGroups/write"
        ));
        set(&mut cloud, "Contributor", "/");
        assert!(allowed(
            &cloud,
            "/subscriptions/s2",
            "Microsoft.Resources/subscriptions/resourceGroups/write"
        ));
        assert!(!allowed(&cloud, c, "Microsoft.Authorization/roleAssignments/write"));
        set(&mut cloud, "Security Reader", "/subscriptions/s1");
        assert!(!allowed(&cloud, c, w));
        assert!(allowed(&cloud, c, "Microsoft.Security/securityConnectors/read"));
        assert!(validate(&[RoleAssignment { role: "Root".into(), scope: "/".into() }]).is_err());
        assert!(validate(&[RoleAssignment {
            role: "Owner".into(),
            scope: "subscriptions/x".into()
        }])
        .is_err());
    }
}
