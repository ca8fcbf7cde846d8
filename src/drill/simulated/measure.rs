//! What a drill report records of the run: one record per step instance with what it waited
//! on, the Azure calls per operation, and the tampered-backup detection.

use crate::drill::report::{
    self, ApiCounts, ApiStats, Detection, StepRecord, StepResult, WaitedOn,
};
use crate::engine::{InstanceView, Phase};
use std::path::Path;
use time::OffsetDateTime;

/// What a step spent its time waiting on, by kind.
pub fn waited_on(uses: &str) -> Option<WaitedOn> {
    match uses {
        "devops.wait-for-release" => Some(WaitedOn::Support),
        "region.wait-recovered" => Some(WaitedOn::Region),
        "gate.approval" | "manual.task" => Some(WaitedOn::Person),
        "wait.duration" | "wait.until" => Some(WaitedOn::Timer),
        _ => None,
    }
}

/// One record per step instance; a branch is named by its label (its connector's name).
pub fn step_records(views: &[InstanceView], finished_at: OffsetDateTime) -> Vec<StepRecord> {
    let mut out = Vec::new();
    for v in views {
        let Some(i) = &v.instance else { continue };
        let result = match i.state.phase() {
            Phase::Succeeded => StepResult::Succeeded,
            Phase::Failed => StepResult::Failed,
            Phase::Skipped => StepResult::Skipped,
            Phase::Pending | Phase::Ready if i.first_started.is_none() => continue,
            _ => StepResult::Interrupted,
        };
        let end = i.finished.unwrap_or(finished_at);
        let start = i.first_started.unwrap_or(end);
        // The engine's label (`engine::branch_labels`), as every other output names it.
        let branch = v.branch.map(|b| v.label.clone().unwrap_or_else(|| format!("#{b}")));
        let attempts = if result == StepResult::Skipped { 0 } else { i.attempt };
        out.push(StepRecord::new(
            v.step.clone(),
            branch,
            v.uses.clone(),
            start,
            end,
            attempts,
            result,
            i.error.clone(),
            // A skipped step waited on nobody.
            if result == StepResult::Skipped { None } else { waited_on(&v.uses) },
        ));
    }
    out
}

/// The tampered-backup detection: the step that loads the backup failed on it, and nothing was
/// restored (no step after it ran).
pub(super) fn detection(views: &[InstanceView], tampered: Option<&Path>) -> Option<Detection> {
    tampered?;
    let load = views.iter().find(|v| v.uses == "backup.load")?;
    let i = load.instance.as_ref()?;
    if i.state.phase() != Phase::Failed {
        return None;
    }
    let restored = views.iter().any(|v| {
        v.uses.starts_with("connector.") && v.instance.as_ref().is_some_and(|i| i.attempt > 0)
    });
    Some(Detection {
        kind: report::TAMPERED_SNAPSHOT.into(),
        message: i.error.clone().unwrap_or_else(|| "the backup was refused".into()),
        step: Some(load.step.clone()),
        restore_refused: !restored,
    })
}

/// `PUT devops/default`, `GET azureDevOpsOrgs/projects`, ...: the operation of a request path.
pub fn operation_name(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let name = if let Some(i) = lower.iter().position(|s| s == "securityconnectors") {
        let rest = &segs[i..];
        let mut parts = Vec::new();
        let mut j = 0;
        while j < rest.len() {
            let t = rest[j];
            if t.eq_ignore_ascii_case("devops") {
                parts.push("devops/default".to_string());
                j += 2;
                continue;
            }
            if t.eq_ignore_ascii_case("operationResults") {
                parts.push("operationResults".into());
                break;
            }
            parts.push(t.to_string());
            // Collections alternate with names; an action (listAvailable...) ends the path.
            j += 2;
        }
        if parts.len() > 1 {
            parts.remove(0);
        }
        parts.join("/")
    } else if let Some(i) = lower.iter().position(|s| s == "providers") {
        segs.get(i + 1..i + 3).map(|s| s.join("/")).unwrap_or_default()
    } else {
        segs.iter().step_by(2).copied().collect::<Vec<_>>().join("/")
    };
    format!("{method} {name}")
}

/// Totals and per-operation counters: requests, 429s, 5xx and dropped connections from the
/// simulator's request log (what reached the server, retries included), retries from the
/// client's call log.
pub fn api_stats(log: &[crate::sim::LogEntry], calls: &[crate::azure::CallRecord]) -> ApiStats {
    let mut s = ApiStats::default();
    for e in log.iter().filter(|e| !e.path.starts_with("/_sim")) {
        let op = operation_name(&e.method, &e.path);
        for c in [&mut s.totals, s.by_operation.entry(op).or_default()] {
            c.calls += 1;
            match e.status {
                429 => c.throttled_429 += 1,
                500..=599 => c.errors_5xx += 1,
                0 => c.dropped_connections += 1,
                _ => {}
            }
        }
    }
    for c in calls {
        let retries = u64::from(c.attempts.saturating_sub(1));
        if retries == 0 {
            continue;
        }
        let op = operation_name(&c.method, &c.url);
        s.totals.retries += retries;
        s.by_operation.entry(op).or_insert_with(ApiCounts::default).retries += retries;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_follow_the_resource_types() {
        let c = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado";
        assert_eq!(operation_name("PUT", &format!("{c}/devops/default")), "PUT devops/default");
        assert_eq!(
            operation_name(
                "GET",
                &format!("{c}/devops/default/azureDevOpsOrgs/o/projects?api-version=1")
            ),
            "GET devops/default/azureDevOpsOrgs/projects"
        );
        assert_eq!(operation_name("PUT", c), "PUT securityConnectors");
        assert_eq!(
            operation_name("POST", "/providers/Microsoft.ResourceGraph/resources"),
            "POST Microsoft.ResourceGraph/resources"
        );
    }

    #[test]
    fn waits_are_attributed_by_kind() {
        assert_eq!(waited_on("devops.wait-for-release"), Some(WaitedOn::Support));
        assert_eq!(waited_on("region.wait-recovered"), Some(WaitedOn::Region));
        assert_eq!(waited_on("gate.approval"), Some(WaitedOn::Person));
        assert_eq!(waited_on("connector.promote"), None);
    }
}
