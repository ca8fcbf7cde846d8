//! Permissions first: before a recovery writes anything, the credential's effective permissions
//! are read with Azure's permissions API and every change the run will make is checked, so a
//! missing role stops the run with nothing changed instead of a 403 halfway through.
//!
//! The API (`Microsoft.Authorization/permissions`, api family `authorization`, 2022-04-01)
//! answers "what may the caller do here" as a list of `{actions, notActions}` entries, roughly one
//! per role assignment that applies at the scope (inherited ones included):
//! `GET {scope}/providers/Microsoft.Authorization/permissions` for a resource group
//! (`Permissions_ListForResourceGroup`), a resource (`Permissions_ListForResource`, built as
//! `{resource ID}/providers/...`) and a subscription (served by ARM but not in the spec:
//! Azure/azure-rest-api-specs#19473). [`allows`] evaluates them as ARM does: an action is allowed
//! when some entry has an `actions` pattern that matches it and no `notActions` pattern of the
//! same entry does (a `notAction` subtracts from its own entry only; entries add up); patterns
//! match case-insensitively and `*` matches any run of characters, `/` included (`*`,
//! `Microsoft.Security/*`, `*/read`). Deny assignments and conditions are not in that answer:
//! a write can still be refused for them, and is then reported as the step's failure.
//!
//! What is checked ([`requirements`]), per connector to recover: creating the new connector and
//! its `devops` configuration in the target group (on the subscription when the group does not
//! exist yet, with the group's creation), restoring Azure DevOps org/project/repo settings,
//! filing the support ticket when `submit_ticket`, and deleting the old connector at cleanup.
//! A missing action is named with its scope, what the run needs it for, and the built-in roles
//! (`src/steps/data/azure-roles.yaml`) that grant it.

use super::recovery::ConnectorItem;
use crate::azure::api::ApiFamily;
use crate::azure::models::Permission;
use crate::azure::{ArmClient, AzureError, ResourceId};
use crate::engine::kind::Services;
use crate::error::UserError;
use crate::runbook::Plan;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::OnceLock;

// The actions a recovery performs, as Microsoft names them: "Azure permissions for Security"
// (Microsoft.Security, https://learn.microsoft.com/en-us/azure/role-based-access-control/permissions/security),
// "... for Management and governance" (Microsoft.Resources) and "... for General"
// (Microsoft.Support, .../permissions/general).

/// Create or update a security connector (also the promotion's tag update).
pub const CONNECTOR_WRITE: &str = "Microsoft.Security/securityConnectors/write";
/// Delete the old connector at cleanup.
pub const CONNECTOR_DELETE: &str = "Microsoft.Security/securityConnectors/delete";
/// Create or update a connector's DevOps configuration (authorization and restore).
pub const DEVOPS_WRITE: &str = "Microsoft.Security/securityConnectors/devops/write";
/// Restore a monitored Azure DevOps organization, project, repository.
pub const ADO_ORG_WRITE: &str =
    "Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/write";
pub const ADO_PROJECT_WRITE: &str =
    "Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/projects/write";
pub const ADO_REPO_WRITE: &str =
    "Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/projects/repos/write";
/// Create the target resource group.
pub const GROUP_WRITE: &str = "Microsoft.Resources/subscriptions/resourceGroups/write";
/// File the support request.
pub const TICKET_WRITE: &str = "Microsoft.Support/supportTickets/write";

const ROLES: &str = include_str!("data/azure-roles.yaml");

/// A built-in role as `src/steps/data/azure-roles.yaml` holds it.
#[derive(Debug, Clone, Deserialize)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RoleFile {
    roles: Vec<Role>,
}

fn parse_roles(text: &str) -> Result<Vec<Role>, String> {
    serde_saphyr::from_str::<RoleFile>(text).map(|f| f.roles).map_err(|e| e.to_string())
}

/// The built-in roles lifeboat knows, least privileged first.
pub fn roles() -> &'static [Role] {
    static PARSED: OnceLock<Vec<Role>> = OnceLock::new();
    PARSED.get_or_init(|| {
        parse_roles(ROLES).unwrap_or_else(|e| {
            unreachable!("src/steps/data/azure-roles.yaml is checked by a unit test: {e}")
        })
    })
}

/// ARM's match of one action pattern: case-insensitive, `*` matches any run of characters
/// (`/` included), everything else literally.
pub fn matches(pattern: &str, action: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let a: Vec<char> = action.to_lowercase().chars().collect();
    // Greedy glob with backtracking to the last `*`: linear enough for action strings.
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while j < a.len() {
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == a[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// Whether one entry allows `action`: an `actions` pattern matches and no `notActions` one does.
pub fn entry_allows(actions: &[String], not_actions: &[String], action: &str) -> bool {
    actions.iter().any(|a| matches(a, action)) && !not_actions.iter().any(|n| matches(n, action))
}

/// Whether the permissions at a scope (the API's entries) allow `action`: some entry does.
pub fn allows(perms: &[Permission], action: &str) -> bool {
    perms.iter().any(|p| entry_allows(&p.actions, &p.not_actions, action))
}

/// The built-in roles that grant `action`, least privileged first.
pub fn granted_by(action: &str) -> Vec<&'static str> {
    roles()
        .iter()
        .filter(|r| entry_allows(&r.actions, &r.not_actions, action))
        .map(|r| r.name.as_str())
        .collect()
}

/// Where an action is checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Subscription(String),
    Group {
        subscription: String,
        group: String,
    },
    /// A resource, by its full ID.
    Resource(String),
}

impl Scope {
    pub fn path(&self) -> String {
        match self {
            Scope::Subscription(s) => format!("/subscriptions/{s}"),
            Scope::Group { subscription, group } => {
                format!("/subscriptions/{subscription}/resourceGroups/{group}")
            }
            Scope::Resource(id) => id.clone(),
        }
    }
    fn key(&self) -> String {
        self.path().to_ascii_lowercase()
    }
}

/// One action the run will perform, where, and what for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub scope: Scope,
    pub action: &'static str,
    pub why: String,
}

/// One action the credential may not perform where the run needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The scope checked (the subscription when the target group does not exist yet).
    pub scope: String,
    pub action: String,
    /// What the run needs it for (one line per use).
    pub why: Vec<String>,
    /// Built-in roles that grant it, least privileged first.
    pub roles: Vec<&'static str>,
}

/// The writes of a region-outage recovery, as the pre-run checks know them.
#[derive(Debug, Clone, Default)]
pub struct RecoveryWrites {
    pub connectors: Vec<ConnectorItem>,
    pub target_region: String,
    /// Empty: each old connector's subscription (`steps::target`).
    pub target_subscription: String,
    /// Empty: `<old group>-<target region>` (`steps::target`).
    pub target_resource_group: String,
    /// Settings of Azure DevOps orgs, projects and repositories are restored.
    pub reapply: bool,
    /// The support ticket is filed through the Support API.
    pub submit_ticket: bool,
    /// The subscription tickets are filed under (empty: each old connector's).
    pub ticket_subscription: String,
    /// The old connectors are deleted at cleanup.
    pub delete_old: bool,
}

/// Every action the recovery will perform, per connector, with its scope.
pub fn requirements(w: &RecoveryWrites) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    for c in &w.connectors {
        let old = ResourceId::parse(&c.resource_id)
            .map_err(|e| format!("connector {} ({}): {e}", c.name, c.resource_id))?;
        let p = super::target::placement(
            &old,
            &w.target_region,
            &w.target_subscription,
            &w.target_resource_group,
        )?;
        let group = Scope::Group { subscription: p.subscription.clone(), group: p.resource_group };
        let new_name = super::connector::new_connector_name(&c.name, &w.target_region);
        out.push(Requirement {
            scope: group.clone(),
            action: CONNECTOR_WRITE,
            why: format!("create {new_name} for {} and mark it primary", c.name),
        });
        out.push(Requirement {
            scope: group.clone(),
            action: DEVOPS_WRITE,
            why: format!("authorize {new_name} and restore its DevOps configuration"),
        });
        // A connector recovered without backup (`restore: false`) has nothing reapplied.
        if w.reapply
            && c.restore != Some(false)
            && c.connector_type.eq_ignore_ascii_case("AzureDevOps")
        {
            for action in [ADO_ORG_WRITE, ADO_PROJECT_WRITE, ADO_REPO_WRITE] {
                out.push(Requirement {
                    scope: group.clone(),
                    action,
                    why: format!("restore the pull-request annotation settings of {new_name}"),
                });
            }
        }
        if w.submit_ticket {
            let sub = if w.ticket_subscription.trim().is_empty() {
                c.subscription_id.clone()
            } else {
                w.ticket_subscription.trim().to_string()
            };
            out.push(Requirement {
                scope: Scope::Subscription(sub),
                action: TICKET_WRITE,
                why: format!(
                    "file the support request that releases {}'s DevOps resources",
                    c.name
                ),
            });
        }
        if w.delete_old {
            out.push(Requirement {
                scope: Scope::Resource(c.resource_id.clone()),
                action: CONNECTOR_DELETE,
                why: format!("delete {} once its region is back", c.name),
            });
        }
    }
    Ok(out)
}

/// Why the permissions could not be read.
#[derive(Debug)]
pub struct CheckError {
    pub scope: String,
    pub error: AzureError,
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reading the credential's permissions at {}: {}", self.scope, self.error)
    }
}

/// Reads the caller's permissions at `scope` (every page).
pub async fn read_permissions(
    client: &ArmClient,
    scope: &str,
) -> Result<Vec<Permission>, AzureError> {
    let path =
        format!("{}/providers/Microsoft.Authorization/permissions", scope.trim_end_matches('/'));
    let items = client.list_json(path.as_str(), ApiFamily::Authorization, None).await?;
    Ok(items.into_iter().filter_map(|v| serde_json::from_value::<Permission>(v).ok()).collect())
}

fn note(missing: &mut Vec<Missing>, scope: &Scope, action: &str, why: &str) {
    let path = scope.path();
    match missing.iter_mut().find(|m| m.scope.eq_ignore_ascii_case(&path) && m.action == action) {
        Some(m) => {
            if !m.why.iter().any(|w| w == why) {
                m.why.push(why.to_string());
            }
        }
        None => missing.push(Missing {
            scope: path,
            action: action.to_string(),
            why: vec![why.to_string()],
            roles: granted_by(action),
        }),
    }
}

/// Checks every requirement against the caller's permissions (one read per scope). A target
/// group that does not exist (404) will be created by the run: its requirements are checked on
/// the subscription, together with the group's creation.
pub async fn check(client: &ArmClient, reqs: &[Requirement]) -> Result<Vec<Missing>, CheckError> {
    // Scope key → its permissions; `None`: a group that does not exist.
    let mut read: BTreeMap<String, Option<Vec<Permission>>> = BTreeMap::new();
    let mut missing: Vec<Missing> = Vec::new();
    for r in reqs {
        let mut todo = vec![r.clone()];
        if let Scope::Group { subscription, group } = &r.scope {
            if let Entry::Vacant(slot) = read.entry(r.scope.key()) {
                slot.insert(match read_permissions(client, &r.scope.path()).await {
                    Ok(p) => Some(p),
                    Err(e) if e.is_not_found() => None,
                    Err(error) => return Err(CheckError { scope: r.scope.path(), error }),
                });
            }
            if matches!(read.get(&r.scope.key()), Some(None)) {
                // The run creates the group: only a role on the subscription applies.
                let sub = Scope::Subscription(subscription.clone());
                todo = vec![
                    Requirement { scope: sub.clone(), action: r.action, why: r.why.clone() },
                    Requirement {
                        scope: sub,
                        action: GROUP_WRITE,
                        why: format!("create resource group {group} (it does not exist yet)"),
                    },
                ];
            }
        }
        for t in todo {
            if let Entry::Vacant(slot) = read.entry(t.scope.key()) {
                let fetched = read_permissions(client, &t.scope.path())
                    .await
                    .map_err(|error| CheckError { scope: t.scope.path(), error })?;
                slot.insert(Some(fetched));
            }
            let allowed = match read.get(&t.scope.key()) {
                Some(Some(perms)) => allows(perms, t.action),
                _ => false,
            };
            if !allowed {
                note(&mut missing, &t.scope, t.action, &t.why);
            }
        }
    }
    Ok(missing)
}

/// The refusal a person reads: each missing action, its scope, what for, and the roles that
/// grant it.
pub fn describe(missing: &[Missing]) -> String {
    let mut out = format!(
        "the credential lacks {} permission{} this recovery needs, checked with Azure's permissions API before any change:",
        missing.len(),
        if missing.len() == 1 { "" } else { "s" }
    );
    for m in missing {
        let roles = match m.roles.as_slice() {
            [] => "no built-in role lifeboat knows (use a custom role that has it)".to_string(),
            [one] => format!("granted by {one}"),
            [init @ .., last] => format!("granted by {} or {last}", init.join(", ")),
        };
        out.push_str(&format!("\n  - {} on {} ({}): {roles}", m.action, m.scope, m.why.join("; ")));
    }
    out.push_str("\nnothing was changed and no run was created");
    out
}

/// The hint under [`describe`].
pub const HINT: &str = "assign a role that grants each action at the scope named or above (e.g. `az role assignment create --assignee PRINCIPAL --role \"Security Admin\" --scope SCOPE`; Microsoft asks for Security Admin or Contributor to connect DevOps environments, Contributor or Owner for pull-request annotations), allow a few minutes for it to apply, then run again";

fn render(v: &Value, ctx: &Value) -> Option<Value> {
    crate::engine::template::render_value(v, ctx).ok()
}

fn rendered_str(with: &BTreeMap<String, Value>, key: &str, ctx: &Value) -> Option<String> {
    match render(with.get(key)?, ctx)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// The pre-run check of a plan (called by `recovery::preflight` once the read-only steps were
/// rehearsed, `outputs` being theirs): the writes of its region-outage steps, checked against
/// the credential's permissions. Missing actions are a usage error (exit 2) listing each one;
/// a refused read of the permissions is exit 2 too (the credential cannot even read its roles
/// there), any other failure exit 1 (try again). Plans without a connector step, or whose
/// connectors are not known before the run, are not checked here.
pub async fn preflight(
    plan: &Plan,
    services: &Services,
    outputs: &BTreeMap<String, Value>,
) -> Result<(), UserError> {
    let Some(client) = services.get::<ArmClient>() else { return Ok(()) };
    let steps_ctx: Map<String, Value> =
        outputs.iter().map(|(k, v)| (k.clone(), json!({"outputs": v}))).collect();
    let ctx = json!({"params": plan.params, "steps": steps_ctx, "run": {"id": crate::engine::rehearse::RUN_ID}});
    let steps = &plan.runbook.steps;
    let Some(create) = steps.iter().find(|s| s.uses == "connector.create-or-adopt") else {
        return Ok(());
    };
    let unchecked = |why: &str| {
        crate::say_err!(
            "warning: the credential's permissions were not checked before the run: {why}; a missing role shows as a step failure (403 AuthorizationFailed) instead"
        );
        Ok(())
    };
    let connectors: Vec<ConnectorItem> = match &create.for_each {
        Some(expr) => match render(&Value::String(expr.clone()), &ctx)
            .and_then(|v| serde_json::from_value(v).ok())
        {
            Some(c) => c,
            None => {
                return unchecked(&format!(
                    "the connectors of step {} are not known before it runs",
                    create.id
                ))
            }
        },
        None => return unchecked(&format!("step {} has no for_each", create.id)),
    };
    let param = |key: &str| -> String {
        rendered_str(&create.with, key, &ctx)
            .or_else(|| plan.params.get(key).and_then(Value::as_str).map(String::from))
            .unwrap_or_default()
    };
    let Some(target_region) = rendered_str(&create.with, "target_region", &ctx) else {
        return unchecked(&format!("the target region of step {} is not known", create.id));
    };
    let target_region = crate::text::normalize_region(&target_region);
    // A step whose `when` is false before the run (a live drill's skipped steps) writes nothing.
    let runs = |s: &&crate::runbook::StepDef| match &s.when {
        Some(w) => crate::engine::template::eval_condition(w, &ctx).unwrap_or(true),
        None => true,
    };
    let submit = steps.iter().find(|s| s.uses == "support.submit").filter(runs);
    let writes = RecoveryWrites {
        connectors,
        target_region,
        target_subscription: param("target_subscription"),
        target_resource_group: param("target_resource_group"),
        reapply: steps.iter().any(|s| s.uses == "devops.reapply-settings"),
        submit_ticket: submit.is_some(),
        ticket_subscription: submit
            .and_then(|s| rendered_str(&s.with, "subscription", &ctx))
            .unwrap_or_default(),
        delete_old: steps.iter().filter(runs).any(|s| s.uses == "connector.delete"),
    };
    let reqs = requirements(&writes).map_err(|e| {
        UserError::usage(format!("step {}: {e}", create.id))
            .with_hint("nothing was changed: fix the parameters and run again")
    })?;
    let missing = check(&client, &reqs).await.map_err(|e| {
        let status = e.error.status();
        if matches!(status, Some(401 | 403 | 404)) {
            UserError::usage(e.to_string()).with_hint(
                "nothing was changed: the credential must at least read its roles there (Reader, or any role with Microsoft.Authorization/*/read), and the subscription must be one it can see (`az account list -o table`)",
            )
        } else {
            UserError::failed(e.to_string()).with_hint(
                "nothing was changed and no run was created: try again in a few minutes",
            )
        }
    })?;
    if missing.is_empty() {
        return Ok(());
    }
    Err(UserError::usage(describe(&missing)).with_hint(HINT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(actions: &[&str], not_actions: &[&str]) -> Permission {
        Permission {
            actions: actions.iter().map(|s| s.to_string()).collect(),
            not_actions: not_actions.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn wildcards_match_as_arm_does() {
        assert!(matches("*", CONNECTOR_WRITE));
        assert!(matches("Microsoft.Security/*", CONNECTOR_WRITE));
        assert!(matches("Microsoft.Security/*", ADO_REPO_WRITE));
        assert!(matches("*/read", "Microsoft.Security/securityConnectors/read"));
        assert!(!matches("*/read", CONNECTOR_WRITE));
        assert!(matches("microsoft.security/SECURITYCONNECTORS/write", CONNECTOR_WRITE));
        assert!(matches(
            "Microsoft.Security/*/read",
            "Microsoft.Security/securityConnectors/devops/read"
        ));
        assert!(!matches("Microsoft.Security/*/read", DEVOPS_WRITE));
        assert!(matches(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(!matches("Microsoft.Security", CONNECTOR_WRITE));
        assert!(!matches("Microsoft.Securit*/x", CONNECTOR_WRITE));
        assert!(matches("*/*/write", CONNECTOR_WRITE));
        assert!(matches("**", ""));
        assert!(!matches("", CONNECTOR_WRITE));
    }

    #[test]
    fn the_official_example_shapes_allow_nothing_or_what_they_list() {
        // GetPermissions.json / GetResourcePermissions.json (2022-04-01): empty entries.
        for example in [
            "specification/authorization/resource-manager/Microsoft.Authorization/Authorization/stable/2022-04-01/examples/GetPermissions.json",
            "specification/authorization/resource-manager/Microsoft.Authorization/Authorization/stable/2022-04-01/examples/GetResourcePermissions.json",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/azure-specs")
                .join(example);
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let entries: Vec<Permission> =
                serde_json::from_value(v["responses"]["200"]["body"]["value"].clone()).unwrap();
            assert_eq!(entries.len(), 1, "{example}");
            assert!(!allows(&entries, CONNECTOR_WRITE), "{example}");
            assert!(!allows(&entries, "Microsoft.Security/securityConnectors/read"));
        }
        // The shape an Owner-like caller gets back, notActions subtracting from their own entry.
        let contributor =
            perm(&["*"], &["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write"]);
        assert!(allows(std::slice::from_ref(&contributor), CONNECTOR_WRITE));
        assert!(!allows(
            std::slice::from_ref(&contributor),
            "Microsoft.Authorization/roleAssignments/write"
        ));
        // Several entries add up: another role grants what one entry's notActions remove.
        let uaa = perm(&["*/read", "Microsoft.Authorization/*"], &[]);
        assert!(allows(&[contributor, uaa], "Microsoft.Authorization/roleAssignments/write"));
        // A notAction does not subtract from other entries.
        let reader = perm(&["*/read"], &[]);
        let no_security = perm(&["*"], &["Microsoft.Security/*"]);
        assert!(!allows(&[reader.clone(), no_security.clone()], CONNECTOR_WRITE));
        assert!(allows(
            &[reader, no_security, perm(&["Microsoft.Security/*"], &[])],
            CONNECTOR_WRITE
        ));
        assert!(!allows(&[], CONNECTOR_WRITE));
    }

    #[test]
    fn the_role_table_parses_and_names_the_roles_microsoft_documents() {
        let r = parse_roles(ROLES).unwrap();
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Reader", "Security Reader", "Security Admin", "Contributor", "Owner"]);
        assert_eq!(granted_by(CONNECTOR_WRITE), ["Security Admin", "Contributor", "Owner"]);
        assert_eq!(granted_by(DEVOPS_WRITE), ["Security Admin", "Contributor", "Owner"]);
        assert_eq!(granted_by(ADO_REPO_WRITE), ["Security Admin", "Contributor", "Owner"]);
        assert_eq!(granted_by(CONNECTOR_DELETE), ["Security Admin", "Contributor", "Owner"]);
        assert_eq!(granted_by(GROUP_WRITE), ["Contributor", "Owner"]);
        assert_eq!(granted_by(TICKET_WRITE), ["Security Admin", "Contributor", "Owner"]);
        assert_eq!(
            granted_by("Microsoft.Security/securityConnectors/read"),
            ["Reader", "Security Reader", "Security Admin", "Contributor", "Owner"]
        );
        assert_eq!(granted_by("Microsoft.Authorization/roleAssignments/write"), ["Owner"]);
    }

    fn item(name: &str, kind: &str) -> ConnectorItem {
        ConnectorItem {
            resource_id: format!(
                "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-weu/providers/Microsoft.Security/securityConnectors/{name}"
            ),
            name: name.into(),
            subscription_id: "11111111-2222-3333-4444-555555555555".into(),
            resource_group: "rg-weu".into(),
            region: "westeurope".into(),
            connector_type: kind.into(),
            ..Default::default()
        }
    }

    #[test]
    fn requirements_cover_every_write_of_the_run() {
        let w = RecoveryWrites {
            connectors: vec![item("ado", "AzureDevOps"), item("gl", "GitLab")],
            target_region: "northeurope".into(),
            reapply: true,
            submit_ticket: true,
            delete_old: true,
            ..Default::default()
        };
        let r = requirements(&w).unwrap();
        let group = Scope::Group {
            subscription: "11111111-2222-3333-4444-555555555555".into(),
            group: "rg-weu-northeurope".into(),
        };
        let of = |name: &str| -> Vec<(Scope, &str)> {
            r.iter().filter(|q| q.why.contains(name)).map(|q| (q.scope.clone(), q.action)).collect()
        };
        let sub = Scope::Subscription("11111111-2222-3333-4444-555555555555".into());
        assert_eq!(
            of("ado"),
            vec![
                (group.clone(), CONNECTOR_WRITE),
                (group.clone(), DEVOPS_WRITE),
                (group.clone(), ADO_ORG_WRITE),
                (group.clone(), ADO_PROJECT_WRITE),
                (group.clone(), ADO_REPO_WRITE),
                (sub.clone(), TICKET_WRITE),
                (Scope::Resource(w.connectors[0].resource_id.clone()), CONNECTOR_DELETE),
            ]
        );
        // GitLab settings are not restored through org/project/repo writes.
        assert_eq!(of("gl").len(), 4, "{:?}", of("gl"));
        let w = RecoveryWrites {
            target_subscription: "AAAAAAAA-2222-3333-4444-555555555555".into(),
            target_resource_group: "rg-dr".into(),
            ticket_subscription: "bbbbbbbb-2222-3333-4444-555555555555".into(),
            submit_ticket: true,
            ..w
        };
        let r = requirements(&w).unwrap();
        assert_eq!(
            r[0].scope,
            Scope::Group {
                subscription: "aaaaaaaa-2222-3333-4444-555555555555".into(),
                group: "rg-dr".into()
            }
        );
        assert!(r.iter().any(|q| q.action == TICKET_WRITE
            && q.scope == Scope::Subscription("bbbbbbbb-2222-3333-4444-555555555555".into())));
        let bad = RecoveryWrites { target_resource_group: "rg.".into(), ..w };
        assert!(requirements(&bad).unwrap_err().contains("period"));
    }

    #[test]
    fn a_connector_recovered_without_backup_needs_no_org_project_repo_writes() {
        let no_backup = ConnectorItem { restore: Some(false), ..item("ado", "AzureDevOps") };
        let w = RecoveryWrites {
            connectors: vec![no_backup],
            target_region: "northeurope".into(),
            reapply: true,
            ..Default::default()
        };
        let actions: Vec<&str> = requirements(&w).unwrap().iter().map(|q| q.action).collect();
        assert_eq!(actions, [CONNECTOR_WRITE, DEVOPS_WRITE]);
    }

    #[test]
    fn the_refusal_names_each_action_scope_use_and_role() {
        let m = vec![
            Missing {
                scope: "/subscriptions/s".into(),
                action: GROUP_WRITE.into(),
                why: vec!["create resource group g (it does not exist yet)".into()],
                roles: granted_by(GROUP_WRITE),
            },
            Missing {
                scope: "/subscriptions/s".into(),
                action: CONNECTOR_WRITE.into(),
                why: vec!["create a-x for a".into(), "create b-x for b".into()],
                roles: granted_by(CONNECTOR_WRITE),
            },
        ];
        let t = describe(&m);
        assert!(t.starts_with("the credential lacks 2 permissions"), "{t}");
        assert!(t.contains("\n  - Microsoft.Resources/subscriptions/resourceGroups/write on /subscriptions/s (create resource group g (it does not exist yet)): granted by Contributor or Owner"), "{t}");
        assert!(t.contains("(create a-x for a; create b-x for b): granted by Security Admin, Contributor or Owner"), "{t}");
    }
}
