//! Issue 13, "before any write": a target region where DevOps security is not available, and a
//! credential whose roles do not allow the run's writes, stop `lifeboat run` with exit 2 before
//! a run exists and before any write reaches the simulator. The region refusal lists the
//! supported regions nearest to the requested one first (the failed region left out); the
//! permission refusal lists each missing action, its scope, what the run needs it for and the
//! built-in roles that grant it, read from the permissions API of the simulated ARM.

use crate::recovery::common::*;
use lifeboat::sim::authz::RoleAssignment;
use lifeboat::sim::tenant::{SMALL_SUB_EAST, SMALL_SUB_PROD, SMALL_SUB_TARGET};

/// The region names of a refusal's suggestion list, in order.
fn suggested(text: &str, target: &str) -> Vec<String> {
    let marker = format!("nearest to {target} first: ");
    let list = text.split(&marker).nth(1).unwrap_or_else(|| panic!("no `{marker}` in: {text}"));
    let list = list.split(" (choose").next().unwrap();
    list.split(", ").map(|s| s.split(' ').next().unwrap().to_string()).collect()
}

async fn refused_region(failed: &str, target: &str, expected: &[&str]) {
    let sim = start_sim("").await;
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    fail_region(&sim, failed).await;
    let before = sim.requests().len();
    let runbook = World::runbook();
    let (f, t) = (format!("failed_region={failed}"), format!("target_region={target}"));
    let out =
        run(world.cmd(&sim, &["run", &runbook, "--run-id", "bad", "--set", &f, "--set", &t])).await;
    let text = text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.starts_with("error: "), "{text}");
    assert!(
        text.contains(&format!("target_region {target} is not a region where Microsoft Defender for Cloud DevOps security is available (lifeboat's list, from https://learn.microsoft.com/en-us/azure/defender-for-cloud/devops-support")),
        "{text}"
    );
    assert_eq!(suggested(&text, target), expected, "{text}");
    assert!(text.contains(&format!("--set target_region={}", expected[0])), "{text}");
    assert!(text.contains("--set supported_regions="), "{text}");
    // Refused before anything was asked of Azure: not even a read.
    assert_eq!(sim.requests().len(), before, "{:?}", &sim.requests()[before..]);
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert!(!world.run_dir("bad").exists(), "no run directory");
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsupported_target_region_is_refused_listing_supported_regions_nearest_first() {
    // West US 2 (Washington state), westeurope down: great-circle distances from ARM's published
    // coordinates put Central US first and Australia East last; West Europe is not suggested.
    refused_region(
        "westeurope",
        "westus2",
        &[
            "centralus",
            "canadacentral",
            "eastus",
            "northeurope",
            "swedencentral",
            "uksouth",
            "eastasia",
            "australiaeast",
        ],
    )
    .await;
    // France Central (Paris), eastus down: the European regions first, East US left out.
    refused_region(
        "eastus",
        "francecentral",
        &[
            "uksouth",
            "westeurope",
            "northeurope",
            "swedencentral",
            "canadacentral",
            "centralus",
            "eastasia",
            "australiaeast",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_admitted_by_supported_regions_is_still_refused_by_azure_at_the_create() {
    // The override is for regions Microsoft added after lifeboat's list; one Azure does not
    // serve fails at the create call with ARM's refusal, and nothing is created.
    let sim = start_sim("").await;
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    let runbook = World::runbook();
    let out = run(world.cmd(
        &sim,
        &[
            "run",
            &runbook,
            "--run-id",
            "override",
            "--set",
            "failed_region=westeurope",
            "--set",
            "target_region=westus2",
            "--set",
            "supported_regions=westus2,eastus",
        ],
    ))
    .await;
    let text = text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("LocationNotAvailableForResourceType"), "{text}");
    assert!(text.contains("The provided location 'westus2' is not available"), "{text}");
    // The new connectors' groups are created first (ARM accepts a group in any region); the
    // connector PUTs are refused.
    let puts: Vec<(String, u16)> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/securityConnectors/"))
        .map(|r| (r.path, r.status))
        .collect();
    assert!(!puts.is_empty() && puts.iter().all(|(_, s)| *s == 400), "{puts:?}");
    assert!(sim.cloud().connectors.values().all(|c| c.region() != "westus2"), "nothing created");
    sim.shutdown().await.unwrap();
}

fn everywhere(role: &str) -> Vec<RoleAssignment> {
    [SMALL_SUB_PROD, SMALL_SUB_EAST, SMALL_SUB_TARGET]
        .iter()
        .map(|s| RoleAssignment { role: role.into(), scope: format!("/subscriptions/{s}") })
        .collect()
}

/// Runs the acceptance arguments (tickets submitted) as a caller with `role` on every
/// subscription; expects exit 2, no write and no run; returns the output.
async fn refused_for(role: &str) -> String {
    let sim = start_sim("").await;
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    sim.set_role_assignments(Some(everywhere(role))).unwrap();
    let before = sim.requests().len();
    let args = run_args(&world, &World::runbook(), "denied");
    let out = run(world.cmd(&sim, &args.iter().map(String::as_str).collect::<Vec<_>>())).await;
    let text = text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.starts_with("error: the credential lacks "), "{text}");
    assert!(writes(&sim).is_empty(), "no write: {:?}", writes(&sim));
    let asked: Vec<String> = sim.requests()[before..]
        .iter()
        .filter(|r| r.path.ends_with("/providers/Microsoft.Authorization/permissions"))
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    assert!(!asked.is_empty(), "the permissions API was read");
    assert!(!world.run_dir("denied").exists(), "no run directory");
    sim.shutdown().await.unwrap();
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_is_refused_before_any_write_listing_each_missing_action_and_role() {
    let text = refused_for("Reader").await;
    let sub = format!("/subscriptions/{SMALL_SUB_PROD}");
    let old = |group: &str, name: &str| {
        format!(
            "{sub}/resourceGroups/{group}/providers/Microsoft.Security/securityConnectors/{name}"
        )
    };
    let writers = "granted by Security Admin, Contributor or Owner";
    let expected = [
        format!("  - Microsoft.Security/securityConnectors/write on {sub} (create ado-weu-northeurope for ado-weu and mark it primary; create gitlab-weu-northeurope for gitlab-weu and mark it primary): {writers}"),
        format!("  - Microsoft.Resources/subscriptions/resourceGroups/write on {sub} (create resource group rg-devsec-weu-northeurope (it does not exist yet); create resource group rg-platform-uks-northeurope (it does not exist yet)): granted by Contributor or Owner"),
        format!("  - Microsoft.Security/securityConnectors/devops/write on {sub} (authorize ado-weu-northeurope and restore its DevOps configuration; authorize gitlab-weu-northeurope and restore its DevOps configuration): {writers}"),
        format!("  - Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/write on {sub} (restore the pull-request annotation settings of ado-weu-northeurope): {writers}"),
        format!("  - Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/projects/write on {sub} (restore the pull-request annotation settings of ado-weu-northeurope): {writers}"),
        format!("  - Microsoft.Security/securityConnectors/devops/azureDevOpsOrgs/projects/repos/write on {sub} (restore the pull-request annotation settings of ado-weu-northeurope): {writers}"),
        format!("  - Microsoft.Support/supportTickets/write on {sub} (file the support request that releases ado-weu's DevOps resources; file the support request that releases gitlab-weu's DevOps resources): {writers}"),
        format!("  - Microsoft.Security/securityConnectors/delete on {} (delete ado-weu once its region is back): {writers}", old("rg-devsec-weu", "ado-weu")),
        format!("  - Microsoft.Security/securityConnectors/delete on {} (delete gitlab-weu once its region is back): {writers}", old("rg-platform-uks", "gitlab-weu")),
    ];
    assert!(
        text.contains(&format!(
            "the credential lacks {} permissions this recovery needs",
            expected.len()
        )),
        "{text}"
    );
    for line in &expected {
        assert!(text.lines().any(|l| l == line), "missing line\n{line}\nin:\n{text}");
    }
    assert!(text.contains("az role assignment create"), "says how to fix it: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_security_admin_lacks_only_the_creation_of_the_target_group() {
    // Microsoft: Security Admin may connect DevOps environments, but the role cannot create a
    // resource group, which the run needs for `<old group>-northeurope`.
    let text = refused_for("Security Admin").await;
    assert!(text.contains("the credential lacks 1 permission this recovery needs"), "{text}");
    assert!(text.contains(&format!(
        "  - Microsoft.Resources/subscriptions/resourceGroups/write on /subscriptions/{SMALL_SUB_PROD} (create resource group rg-devsec-weu-northeurope (it does not exist yet); create resource group rg-platform-uks-northeurope (it does not exist yet)): granted by Contributor or Owner"
    )), "{text}");
    assert!(!text.contains("securityConnectors/write on"), "{text}");
}
