//! Step kinds: what a runbook's `uses:` names. One file per kind. Step kinds never make HTTP
//! calls directly: Azure work goes through `crate::azure`.
//!
//! `crate::catalog` is the single list of kinds (what is known of each without running it);
//! [`registry`] holds their implementations under the same names, for the engine's executor.

pub mod defender;
pub mod devops;
pub mod drill_cleanup;
pub mod gate;
pub mod lifecycle_kinds;
pub mod manual;
pub mod services;
pub mod testing;
pub mod wait;
// region-outage: discovery, connector, support
pub mod backup_load;
pub mod connector;
pub mod discover;
pub mod permissions;
pub mod recovery;
pub mod regions;
pub mod restore;
pub mod store_placement;
pub mod support;
pub mod target;

use crate::engine::kind::Registry;
use std::sync::Arc;

/// The implementations of every kind of the catalog (`gate.approval`, `manual.task`,
/// `wait.duration`, `wait.until`, the region-outage kinds), plus the test-only kinds when
/// `LIFEBOAT_TEST_STEPS=1`.
pub fn registry() -> Registry {
    let mut r = Registry::empty();
    r.register(Arc::new(gate::Approval));
    r.register(Arc::new(manual::Task));
    r.register(Arc::new(wait::ForDuration));
    r.register(Arc::new(wait::Until));
    // region-outage: devops settings and connector lifecycle
    r.register(Arc::new(devops::WaitForRelease));
    r.register(Arc::new(devops::Reapply));
    r.register(Arc::new(devops::Verify));
    r.register(Arc::new(lifecycle_kinds::Promote));
    r.register(Arc::new(lifecycle_kinds::WaitRecovered));
    r.register(Arc::new(lifecycle_kinds::Delete));
    // end region-outage: devops settings and connector lifecycle
    // region-outage: discovery, connector, support
    r.register(Arc::new(discover::Query));
    r.register(Arc::new(backup_load::Load));
    r.register(Arc::new(connector::CreateOrAdopt));
    r.register(Arc::new(connector::ResourceIds));
    r.register(Arc::new(support::Draft));
    r.register(Arc::new(support::Submit));
    // end of region-outage: discovery, connector, support
    // region-outage: Microsoft's side
    r.register(Arc::new(defender::CountFindings));
    r.register(Arc::new(defender::CheckRecreated));
    // end region-outage: Microsoft's side
    // region-outage, live drill: removing what the drill created
    r.register(Arc::new(drill_cleanup::Cleanup));
    if std::env::var("LIFEBOAT_TEST_STEPS").is_ok_and(|v| v == "1") {
        testing::register(&mut r);
    }
    r
}

/// Whether any step of `plan` uses a kind that needs `need` (unknown kinds need nothing).
pub fn plan_needs(plan: &crate::runbook::Plan, need: crate::catalog::ServiceNeed) -> bool {
    plan.runbook
        .steps
        .iter()
        .filter_map(|s| crate::catalog::catalog().iter().find(|k| k.name == s.uses))
        .any(|k| k.services.contains(&need))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{catalog, lookup, ServiceNeed, StepClass};

    #[test]
    fn builtin_registry_matches_the_catalog_and_unknown_kinds_are_one_shot() {
        let r = registry();
        for name in ["gate.approval", "manual.task", "wait.duration", "wait.until"] {
            assert_eq!(r.get(name).unwrap().info().name, name);
        }
        // Every kind of the catalog is implemented, so a replay's classes (the catalog's) are
        // those of the kinds that run.
        for k in catalog().iter().filter(|k| !k.test_only) {
            assert_eq!(r.get(k.name).map(|i| i.info().class), Some(k.class), "{}", k.name);
        }
        assert_eq!(r.class_of("azure.unknown"), StepClass::OneShot);
    }

    #[test]
    fn service_needs_come_from_the_catalog() {
        let azure = |n: &str| lookup(n).unwrap().services.contains(&ServiceNeed::Azure);
        let backup = |n: &str| lookup(n).unwrap().services.contains(&ServiceNeed::BackupStore);
        assert!(azure("connector.delete") && !backup("connector.delete"));
        assert!(azure("devops.reapply-settings") && backup("devops.reapply-settings"));
        assert!(!azure("gate.approval") && !backup("manual.task"));
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/runbooks/region-outage.yaml"
        ))
        .unwrap();
        let set = vec![
            ("failed_region".to_string(), "westeurope".to_string()),
            ("target_region".to_string(), "northeurope".to_string()),
        ];
        let plan =
            crate::runbook::load_str(std::path::Path::new("region-outage.yaml"), &text, &set)
                .unwrap();
        assert!(plan_needs(&plan, ServiceNeed::Azure));
        assert!(plan_needs(&plan, ServiceNeed::BackupStore));
        // Every kind of the recovery runbook but gates and manual tasks calls Azure.
        for step in &plan.runbook.steps {
            let local = ["gate.approval", "manual.task"].contains(&step.uses.as_str());
            assert_eq!(azure(&step.uses), !local, "{}", step.uses);
        }
    }
}
