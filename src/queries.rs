//! The Resource Graph queries of `queries/`, embedded at build time so the binary needs no file.
//! One home for them: `lifeboat connectors list`, the backup reader and the `resource-graph.query`
//! step kind all run the same text; the `defender.*` kinds run [`DEVOPS_FINDINGS`].

/// DevOps connectors (Azure DevOps, GitHub, GitLab): Microsoft's query from the recovery
/// procedure, extended with what lifeboat needs to act on a connector.
pub const DEVOPS_CONNECTORS: &str = include_str!("../queries/devops-connectors.kql");

/// Microsoft's query verbatim: what a responder runs to find both connector resource IDs.
pub const CONNECTOR_RESOURCE_IDS: &str = include_str!("../queries/connector-resource-ids.kql");

/// DevOps alerts and recommendations (assessments) in `securityresources`, each with the
/// resource it is about: what `defender.count-findings` and `defender.check-recreated` count per
/// connector. Not in [`QUERIES`]: its rows are findings, not connectors.
pub const DEVOPS_FINDINGS: &str = include_str!("../queries/devops-findings.kql");

/// The queries a runbook may name.
pub const QUERIES: &[(&str, &str)] =
    &[("devops-connectors", DEVOPS_CONNECTORS), ("connector-resource-ids", CONNECTOR_RESOURCE_IDS)];

/// The text of a named query.
pub fn query(name: &str) -> Option<&'static str> {
    QUERIES.iter().find(|(n, _)| *n == name).map(|(_, q)| *q)
}
