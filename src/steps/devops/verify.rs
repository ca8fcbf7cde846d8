//! `devops.verify`: every restored setting of the new connector against the backup, with
//! inheritance resolved: the `devops/default` settings, the effective `actionableRemediation` of
//! every Azure DevOps org/project/repo, and the presence and onboarding state of every GitHub
//! owner/repo and GitLab group/project. Any mismatch fails the step (not retryable: a retry would
//! read the same state) with a diff naming resource, field, expected and actual value. The
//! outputs also list what Microsoft does not recreate (seed 000), for the stakeholders.

use super::*;
use crate::steps::kind::{info, StepKind};
use crate::steps::StepKindInfo;
use futures::future::BoxFuture;

/// Seed 000, "Microsoft responsibility": history Microsoft does not recreate.
pub const NOT_RECREATED_BY_MICROSOFT: &[&str] = &[
    "container mapping data from previous runs",
    "alerts data more than one week old",
    "infrastructure as code (IaC) mapping history data",
];

/// At most this many mismatches are spelled out in the error message (all are in the outputs
/// of a dry verification through the journal's failure text, capped the same way).
const SHOWN: usize = 20;

/// `devops.verify`.
#[derive(Debug, Clone, Copy)]
pub struct Verify;

impl StepKind for Verify {
    fn info(&self) -> &'static StepKindInfo {
        info("devops.verify")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { run(ctx).await.unwrap_or_else(StepError::outcome) })
    }
}

/// Every mismatch between the backup and live state, and how many settings were checked.
pub(crate) fn compare(backup: &BackupView, live: &LiveView, new: &ResourceId) -> (u64, Vec<Value>) {
    let mut checked = 0u64;
    let mut out: Vec<Value> = Vec::new();
    let mut push = |resource: String, d: FieldDiff| {
        out.push(json!({"resource": resource, "field": d.path, "expected": d.expected, "actual": d.actual}))
    };
    if backup.config.is_some() {
        let want = config_settings(backup.config.as_ref());
        let have = config_settings(live.config.as_ref());
        for (k, v) in want.as_object().into_iter().flatten() {
            checked += 1;
            let mut d = Vec::new();
            diff_values(&format!("properties.{k}"), v, have.get(k).unwrap_or(&Value::Null), &mut d);
            for d in d {
                push(new.devops().to_string(), d);
            }
        }
    }
    let nodes: Vec<&Node> =
        backup.orgs.iter().chain(&backup.projects).chain(&backup.repos).collect();
    let want = resolve_tree(&nodes.iter().map(|n| (n.key(), remediation(&n.body))).collect());
    let live_rems: BTreeMap<String, Value> = live
        .ado
        .iter()
        .filter(|(k, _)| want.contains_key(*k))
        .map(|(k, v)| (k.clone(), remediation(v)))
        .collect();
    let have = resolve_tree(&live_rems);
    for n in nodes {
        checked += 1;
        let key = n.key();
        let id = match n.path.as_slice() {
            [o] => new.azure_devops_org(o),
            [o, p] => new.azure_devops_project(o, p),
            [o, p, r] => new.azure_devops_repo(o, p, r),
            _ => continue,
        };
        match have.get(&key) {
            None => push(
                id.to_string(),
                FieldDiff {
                    path: "(resource)".into(),
                    expected: json!("present"),
                    actual: json!("absent"),
                },
            ),
            Some(h) => {
                let mut d = Vec::new();
                diff_values("properties.actionableRemediation (effective)", &want[&key], h, &mut d);
                for d in d {
                    push(id.to_string(), d);
                }
            }
        }
    }
    checked += (backup.gh_owners.len()
        + backup.gh_repos.len()
        + backup.gl_groups.len()
        + backup.gl_projects.len()) as u64;
    for d in super::reapply::read_only_differences(backup, live, new) {
        let mut d = d;
        if let Some(m) = d.as_object_mut() {
            m.remove("note");
        }
        out.push(d);
    }
    (checked, out)
}

fn line(m: &Value) -> String {
    format!(
        "{} {}: expected {}, actual {}",
        m["resource"].as_str().unwrap_or_default(),
        m["field"].as_str().unwrap_or_default(),
        m["expected"],
        m["actual"]
    )
}

async fn run(ctx: StepContext) -> Result<StepOutcome, StepError> {
    let snapshot = required_str(&ctx, "snapshot_id")?;
    let old = connector_input(&ctx, "old_resource_id")?;
    let new = connector_input(&ctx, "new_resource_id")?;
    let client = arm_client(&ctx)?;
    let store = backup_store(&ctx)?;
    let backup = BackupView::load(&store, &snapshot, &old).await?;
    let live = LiveView::read(&client, &new, &backup).await?;
    let (checked, mut mismatches) = compare(&backup, &live, &new);
    for u in &live.unreadable {
        mismatches.push(json!({"resource": u, "field": "(ownership)", "expected": "onboarded by the new connector", "actual": "not readable through the new connector"}));
    }
    ctx.progress(checked, checked, format!("{checked} settings checked"));
    if !mismatches.is_empty() {
        let shown: Vec<String> = mismatches.iter().take(SHOWN).map(line).collect();
        let more = if mismatches.len() > SHOWN {
            format!("\n  ... and {} more", mismatches.len() - SHOWN)
        } else {
            String::new()
        };
        return Err(StepError::fatal(format!(
            "{} of {checked} restored settings differ from backup snapshot {} (run \
             devops.reapply-settings again, or fix them in the portal):\n  {}{more}",
            mismatches.len(),
            backup.snapshot,
            shown.join("\n  ")
        )));
    }
    let mut out = Map::new();
    out.insert("checked".into(), json!(checked));
    out.insert("mismatches".into(), json!(mismatches));
    out.insert("snapshot_id".into(), json!(backup.snapshot));
    out.insert("not_recreated_by_microsoft".into(), json!(NOT_RECREATED_BY_MICROSOFT));
    Ok(StepOutcome::ok(out))
}
