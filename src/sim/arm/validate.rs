//! The checks of a write's body, before any state is looked at (ARM validates the body first),
//! and the document a write stores.

use super::version;
use crate::sim::schema::{self, Kind};
use crate::sim::server::{ArmError, Ctx};
use serde_json::{json, Map, Value};

const ENVIRONMENT_NAMES: &[&str] =
    &["Azure", "AWS", "GCP", "Github", "AzureDevOps", "GitLab", "DockerHub", "JFrog"];
const ENVIRONMENT_TYPES: &[&str] = &[
    "AwsAccount",
    "GcpProject",
    "GithubScope",
    "AzureDevOpsScope",
    "GitlabScope",
    "DockerHubOrganization",
    "JFrogArtifactory",
];
const OFFERING_TYPES: &[&str] = &[
    "CspmMonitorAws",
    "DefenderForContainersAws",
    "DefenderForServersAws",
    "DefenderForDatabasesAws",
    "CspmMonitorGcp",
    "CspmMonitorGithub",
    "CspmMonitorAzureDevOps",
    "DefenderForServersGcp",
    "DefenderForContainersGcp",
    "DefenderForDatabasesGcp",
    "DefenderCspmAws",
    "DefenderCspmGcp",
    "CspmMonitorGitLab",
    "CspmMonitorDockerHub",
    "DefenderForContainersDockerHub",
    "DefenderCspmDockerHub",
    "CspmMonitorJFrog",
    "DefenderForContainersJFrog",
    "DefenderCspmJFrog",
];
const AUTO_DISCOVERY: &[&str] = &["Disabled", "Enabled", "NotApplicable"];
const STATE: &[&str] = &["None", "Disabled", "Enabled"];
const ENABLED: &[&str] = &["Disabled", "Enabled"];
const CATEGORIES: &[&str] = &["Code", "Artifacts", "Dependencies", "Secrets", "IaC", "Containers"];
const INVENTORY_KINDS: &[&str] = &[
    "AzureDevOpsOrganization",
    "AzureDevOpsProject",
    "AzureDevOpsRepository",
    "GitHubOwner",
    "GitHubRepository",
];

/// Checks a value of an extensible enum (every enum of these specs is `modelAsString: true`):
/// it must be a string; a value the simulator does not know is accepted and stored as sent
/// (a newer api-version may define it); a known value in the wrong case is refused, naming the
/// right casing (a choice, pessimistic: a service that compares case-sensitively would store
/// it as an unknown value).
fn check_enum(v: Option<&Value>, path: &str, known: &[&str]) -> Result<(), ArmError> {
    let Some(v) = v else { return Ok(()) };
    let Some(s) = v.as_str() else {
        return Err(
            ArmError::bad_request(format!("The value of '{path}' must be a string.")).target(path)
        );
    };
    if known.contains(&s) {
        return Ok(());
    }
    match known.iter().find(|a| a.eq_ignore_ascii_case(s)) {
        Some(right) => Err(ArmError::bad_request(format!(
            "The value '{s}' is not valid for '{path}'. Enum values are case-sensitive: use '{right}'."
        ))
        .target(path)),
        None => Ok(()),
    }
}

fn check_type(
    v: Option<&Value>,
    path: &str,
    want: &str,
    ok: fn(&Value) -> bool,
) -> Result<(), ArmError> {
    match v {
        Some(v) if !ok(v) => {
            Err(ArmError::bad_request(format!("The value of '{path}' must be {want}."))
                .target(path))
        }
        _ => Ok(()),
    }
}

/// The stored document of a write: the body minus what ARM ignores, minus the fields the
/// request's api-version does not have yet (its model does not know them).
pub(super) fn stored_document(ctx: &Ctx, kind: Kind, body: &Value) -> Map<String, Value> {
    let mut doc = body.clone();
    schema::strip_ignored(kind, &mut doc);
    schema::shape(kind, version(ctx), &mut doc);
    doc.as_object().cloned().unwrap_or_default()
}

/// The top-level fields of `doc` other than `known`.
pub(super) fn unknown_top(doc: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    doc.iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub(super) fn validate_connector_body(body: &Value) -> Result<(), ArmError> {
    check_type(body.get("tags"), "tags", "an object of strings", |v| {
        v.as_object().is_some_and(|m| m.values().all(Value::is_string))
    })?;
    check_type(body.get("properties"), "properties", "an object", Value::is_object)?;
    let Some(p) = body.get("properties") else { return Ok(()) };
    check_enum(p.get("environmentName"), "properties.environmentName", ENVIRONMENT_NAMES)?;
    if let Some(ed) = p.get("environmentData") {
        check_type(Some(ed), "properties.environmentData", "an object", Value::is_object)?;
        if ed.get("environmentType").is_none() {
            return Err(ArmError::bad_request(
                "The required property 'environmentType' is missing from 'properties.environmentData'.",
            )
            .target("properties.environmentData.environmentType"));
        }
        check_enum(
            ed.get("environmentType"),
            "properties.environmentData.environmentType",
            ENVIRONMENT_TYPES,
        )?;
    }
    if let Some(offs) = p.get("offerings") {
        let Some(arr) = offs.as_array() else {
            return Err(ArmError::bad_request(
                "The value of 'properties.offerings' must be an array.",
            )
            .target("properties.offerings"));
        };
        for (i, o) in arr.iter().enumerate() {
            let path = format!("properties.offerings[{i}].offeringType");
            if o.get("offeringType").is_none() {
                return Err(ArmError::bad_request(format!(
                    "The required property '{path}' is missing."
                ))
                .target(&path));
            }
            check_enum(o.get("offeringType"), &path, OFFERING_TYPES)?;
        }
    }
    Ok(())
}

/// A value of a DevOps environment that the request's api-version does not define yet is
/// refused (the older model cannot take it; a choice, pessimistic).
pub(super) fn refuse_too_new_values(ctx: &Ctx, body: &Value) -> Result<(), ArmError> {
    let v = version(ctx);
    match schema::value_too_new(Kind::Connector, v, body) {
        None => Ok(()),
        Some((path, value, since)) => Err(ArmError::bad_request(format!(
            "The value '{value}' of '{path}' is not defined in api-version '{v}' (it is from api-version '{since}'); use api-version '{since}' or newer."
        ))
        .target(&path)),
    }
}

/// Validates a `devops/default` write; returns the `properties` to store and the other
/// top-level fields to store.
pub(super) fn validate_devops_body(
    ctx: &Ctx,
    body: &Value,
) -> Result<(Value, Map<String, Value>), ArmError> {
    let Some(p) = body.get("properties") else {
        return Err(ArmError::bad_request("The required property 'properties' is missing.")
            .target("properties"));
    };
    if !p.is_object() {
        return Err(ArmError::bad_request("The value of 'properties' must be an object.")
            .target("properties"));
    }
    check_enum(p.get("autoDiscovery"), "properties.autoDiscovery", AUTO_DISCOVERY)?;
    check_type(
        p.get("topLevelInventoryList"),
        "properties.topLevelInventoryList",
        "an array of strings",
        |v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
    )?;
    check_type(p.get("authorization"), "properties.authorization", "an object", Value::is_object)?;
    if let Some(a) = p.get("agentlessConfiguration") {
        check_type(Some(a), "properties.agentlessConfiguration", "an object", Value::is_object)?;
        check_enum(
            a.get("agentlessEnabled"),
            "properties.agentlessConfiguration.agentlessEnabled",
            AUTO_DISCOVERY,
        )?;
        check_enum(
            a.get("agentlessAutoDiscovery"),
            "properties.agentlessConfiguration.agentlessAutoDiscovery",
            AUTO_DISCOVERY,
        )?;
        check_enum(
            a.get("inventoryListType"),
            "properties.agentlessConfiguration.inventoryListType",
            &["Inclusion", "Exclusion"],
        )?;
        if let Some(list) = a.get("inventoryList").and_then(Value::as_array) {
            for (i, item) in list.iter().enumerate() {
                check_enum(
                    item.get("inventoryKind"),
                    &format!("properties.agentlessConfiguration.inventoryList[{i}].inventoryKind"),
                    INVENTORY_KINDS,
                )?;
            }
        }
    }
    // Everything but what ARM ignores (read-only fields, the secret) is kept, known or not.
    let doc = stored_document(ctx, Kind::DevOpsConfig, body);
    let props = doc.get("properties").cloned().unwrap_or_else(|| json!({}));
    Ok((props, unknown_top(&doc, &["properties"])))
}

pub(super) fn validate_remediation(body: &Value, what: &str) -> Result<Option<Value>, ArmError> {
    if let Some(p) = body.get("properties") {
        if !p.is_object() {
            return Err(ArmError::bad_request("The value of 'properties' must be an object.")
                .target("properties"));
        }
    }
    let Some(r) = body.pointer("/properties/actionableRemediation") else { return Ok(None) };
    let base = "properties.actionableRemediation";
    check_type(Some(r), base, "an object", Value::is_object)?;
    check_enum(r.get("state"), &format!("{base}.state"), STATE)?;
    check_enum(
        r.get("inheritFromParentState"),
        &format!("{base}.inheritFromParentState"),
        ENABLED,
    )?;
    if what == "org" && r.get("inheritFromParentState").is_some() {
        return Err(ArmError::bad_request("An Azure DevOps organization has no parent: 'inheritFromParentState' applies to projects and repositories only.")
            .target(&format!("{base}.inheritFromParentState")));
    }
    if let Some(cats) = r.get("categoryConfigurations") {
        let Some(arr) = cats.as_array() else {
            return Err(ArmError::bad_request(format!(
                "The value of '{base}.categoryConfigurations' must be an array."
            )));
        };
        for (i, c) in arr.iter().enumerate() {
            check_enum(
                c.get("category"),
                &format!("{base}.categoryConfigurations[{i}].category"),
                CATEGORIES,
            )?;
        }
    }
    if let Some(b) = r.get("branchConfiguration") {
        check_enum(
            b.get("annotateDefaultBranch"),
            &format!("{base}.branchConfiguration.annotateDefaultBranch"),
            ENABLED,
        )?;
    }
    Ok(Some(r.clone()))
}
