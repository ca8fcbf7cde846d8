//! The drafted support request: every field of seed 000 verbatim, both resource IDs, the
//! Resource Graph query; Markdown and Support API JSON pinned by snapshots.

use crate::recovery::common::*;
use lifeboat::clock::ManualClock;
use lifeboat::engine::kind::{Cancellation, NullSink, Services};
use lifeboat::engine::kind::{StepContext, StepKind, StepOutcome};
use lifeboat::steps::services::RunDir;
use serde_json::json;
use std::sync::Arc;

const OLD: &str = "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-devsec-weu/providers/Microsoft.Security/securityConnectors/ado-weu";
const NEW: &str = "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-devsec-weu/providers/Microsoft.Security/securityConnectors/ado-weu-northeurope";

#[tokio::test(flavor = "multi_thread")]
async fn the_support_request_has_every_seed_field_and_both_ids() {
    let sim = start_sim("").await;
    let dir = tempfile::tempdir().unwrap();
    let mut services = Services::new();
    services.insert(Arc::new(client(&sim)));
    services.insert(Arc::new(RunDir(dir.path().to_path_buf())));
    let item = json!({
        "resource_id": OLD, "name": "ado-weu", "subscription_id": SUB_A1,
        "resource_group": "rg-devsec-weu", "region": "westeurope", "connector_type": "AzureDevOps",
        "orgs": ["contoso", "fabrikam"], "owners": [], "groups": []
    });
    let ctx = StepContext {
        run_id: "20260101-000000-abcdef".into(),
        step: "draft-support-request".into(),
        branch: Some(0),
        // The engine labels the branch by its connector (`engine::branch_labels`).
        label: Some("ado-weu".into()),
        item: Some(item),
        attempt: 1,
        poll: 0,
        inputs: json!({
            "old_resource_id": OLD, "new_resource_id": NEW, "target_region": "northeurope",
            "severity": "critical", "contact_first_name": "Ada", "contact_last_name": "Lovelace",
            "contact_email": "ada@example.com", "attest_step": "file-support-request",
        }),
        scratch: None,
        reentry: false,
        clock: Arc::new(ManualClock::new(time::macros::datetime!(2026-01-01 03:00:00 UTC))),
        cancel: Cancellation::new().1,
        services: Arc::new(services),
        sink: Arc::new(NullSink),
    };
    let out = lifeboat::steps::support::Draft.run(ctx).await;
    let StepOutcome::Succeeded { outputs, .. } = out else { panic!("{out:?}") };
    let md = std::fs::read_to_string(outputs["markdown_path"].as_str().unwrap()).unwrap();
    let body: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(outputs["json_path"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    for field in [
        "| Issue type | `Technical` |",
        "| Service type | `Microsoft Defender for Cloud` |",
        "| Summary | \"Region outage - DevOps Connector recovery\" |",
        "| Problem type | `Defender CSPM plan` |",
        "| Problem subtype | `DevOps security` |",
        "Help + Support",
    ] {
        assert!(md.contains(field), "missing {field}");
    }
    assert!(md.contains(&format!("`{OLD}`")) && md.contains(&format!("`{NEW}`")));
    assert!(md.contains("| where connectorType in (\"AzureDevOps\", \"Github\", \"GitLab\")"));
    assert!(md.contains("| project connectorResourceId = id, region = location"));
    let p = &body["properties"];
    assert_eq!(p["title"], "Region outage - DevOps Connector recovery");
    assert_eq!(
        p["serviceId"],
        "/providers/Microsoft.Support/services/3fbbda33-fdf5-19ba-2a34-3b41b5b3f5d5"
    );
    assert_eq!(
        p["problemClassificationId"],
        "/providers/Microsoft.Support/services/3fbbda33-fdf5-19ba-2a34-3b41b5b3f5d5/problemClassifications/1b4f2a8e-7c3d-4e59-9a06-d2c5b8e4f317"
    );
    assert_eq!(p["technicalTicketDetails"]["resourceId"], OLD);
    let d = p["description"].as_str().unwrap();
    assert!(d.find(OLD).unwrap() < d.find(NEW).unwrap(), "old ID first, then new");
    insta::assert_snapshot!("support_request_md", md);
    insta::assert_json_snapshot!("support_ticket_json", body);
    sim.shutdown().await.unwrap();
}

/// Issue 11, item 15: the request drafted for branch N tells the responder to attest branch N
/// of the manual step, never the bare step (which would attest every connector with one ticket).
#[test]
fn defect_15_the_draft_names_the_attest_command_of_its_own_branch() {
    let item = json!({
        "resource_id": OLD, "name": "gitlab-weu", "subscription_id": SUB_A1,
        "resource_group": "rg-devsec-weu", "region": "westeurope", "connector_type": "GitLab",
        "orgs": [], "owners": [], "groups": ["g"]
    });
    let ctx = StepContext {
        run_id: "20260101-000000-abcdef".into(),
        step: "draft-support-request".into(),
        branch: Some(2),
        label: None,
        item: Some(item),
        attempt: 1,
        poll: 0,
        inputs: json!({
            "old_resource_id": OLD, "new_resource_id": NEW, "target_region": "northeurope",
            "attest_step": "file-support-request",
        }),
        scratch: None,
        reentry: false,
        clock: Arc::new(ManualClock::new(time::macros::datetime!(2026-01-01 03:00:00 UTC))),
        cancel: Cancellation::new().1,
        services: Arc::new(Services::new()),
        sink: Arc::new(NullSink),
    };
    let context = lifeboat::steps::support::template_context(&ctx, ("", "")).unwrap();
    let (md, _) = lifeboat::steps::support::render(&context).unwrap();
    assert!(
        md.contains(
            "lifeboat attest 20260101-000000-abcdef file-support-request#2 --evidence \"ticket <number>\""
        ),
        "{md}"
    );
    assert!(!md.contains("file-support-request --evidence"), "{md}");
}
