//! `devops.verify`: the new connector against the backup, whole documents. For every backed-up
//! resource (the connector, `devops/default`, every Azure DevOps org/project/repo, every GitHub
//! owner/repo and GitLab group/project), every writable field (known to lifeboat or not;
//! arrays item by item) is compared with the live resource, and every difference is named by
//! its field path. The *effective* `actionableRemediation` (inheritance resolved) of every Azure
//! DevOps resource is compared too. Any difference fails the step (not retryable: a retry would
//! read the same state) with a diff naming resource, field, expected and actual value.
//!
//! Not a failure, but in the outputs: fields the service shows that the backup did not have
//! (`added_by_service`: a newer api-version, defaults), fields the responder left out
//! (`not_restored`: `restore_exclude`), and the connector's own settings when it was adopted
//! rather than created from the backup (`adopted: true`; its location and lifeboat's tags are
//! never compared). The outputs also list what Microsoft does not recreate (seed 000), for the
//! stakeholders.

use super::*;
use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::StepKind;
use crate::steps::restore::{self, DocDiff};
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

/// At most this many service-added fields are listed in the outputs.
const ADDED_CAP: usize = 100;

/// What [`compare`] found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Comparison {
    /// Leaf fields compared.
    pub checked: u64,
    /// Backed-up resources compared.
    pub resources: u64,
    /// `{resource, field, expected, actual}` (plus `note` where it helps).
    pub mismatches: Vec<Value>,
    /// `{resource, field, value}`: fields only the live side has.
    pub added: Vec<Value>,
    /// `{resource, field, value, reason}`: fields `restore_exclude` left out.
    pub not_restored: Vec<Value>,
}

impl Comparison {
    fn take(&mut self, resource: &str, d: DocDiff, note: Option<&str>) -> bool {
        self.checked += d.compared;
        let differs = !d.differ.is_empty();
        for f in d.differ {
            let mut m = json!({"resource": resource, "field": f.path, "expected": f.expected, "actual": f.actual});
            if let Some(n) = note {
                m["note"] = json!(n);
            }
            self.mismatches.push(m);
        }
        for (field, value) in d.added {
            self.added.push(json!({"resource": resource, "field": field, "value": value}));
        }
        differs
    }
    fn absent(&mut self, resource: &str) {
        self.mismatches.push(json!({"resource": resource, "field": "(resource)", "expected": "present", "actual": "absent"}));
    }
}

/// Every difference between the backup and live state. `connector` is the new connector as
/// ARM returns it (`None`: not read, e.g. when it was adopted).
pub(crate) fn compare(
    backup: &BackupView,
    live: &LiveView,
    connector: Option<&Value>,
    new: &ResourceId,
    ex: &Exclusions,
) -> Comparison {
    let mut c = Comparison::default();
    if let (Some(old), Some(now)) = (&backup.connector, connector) {
        c.resources += 1;
        let r = restore::connector_expected(old, ex, &new.to_string());
        c.not_restored.extend(restore::not_restored_json(&new.to_string(), &r.not_restored));
        let mut d = restore::field_diff(&r.body, now);
        // Recovery moves the connector and tags it: neither is "added by the service".
        d.added.retain(|(f, _)| {
            f != "location" && !f.strip_prefix("tags.").is_some_and(restore::is_lifeboat_tag)
        });
        c.take(&new.to_string(), d, None);
    }
    if let Some(config) = &backup.config {
        c.resources += 1;
        let resource = new.devops().to_string();
        let r = restore::restore_body(config, ex, &resource);
        c.not_restored.extend(restore::not_restored_json(&resource, &r.not_restored));
        match &live.config {
            Some(l) => {
                c.take(&resource, restore::field_diff(&r.body, l), None);
            }
            None => c.absent(&resource),
        }
    }
    // Azure DevOps: whole documents, then the effective settings (inheritance resolved).
    let nodes: Vec<&Node> =
        backup.orgs.iter().chain(&backup.projects).chain(&backup.repos).collect();
    let ado_id = |p: &[String]| match p {
        [o] => new.azure_devops_org(o),
        [o, p] => new.azure_devops_project(o, p),
        [o, p, r] => new.azure_devops_repo(o, p, r),
        _ => new.devops(),
    };
    let restored: BTreeMap<String, restore::Restored> = nodes
        .iter()
        .map(|n| (n.key(), restore::restore_body(&n.body, ex, &ado_id(&n.path).to_string())))
        .collect();
    let want =
        resolve_tree(&restored.iter().map(|(k, r)| (k.clone(), remediation(&r.body))).collect());
    let live_rems: BTreeMap<String, Value> = live
        .ado
        .iter()
        .filter(|(k, _)| want.contains_key(*k))
        .map(|(k, v)| (k.clone(), remediation(v)))
        .collect();
    let have = resolve_tree(&live_rems);
    for n in nodes {
        c.resources += 1;
        let key = n.key();
        let id = ado_id(&n.path).to_string();
        let r = &restored[&key];
        c.not_restored.extend(restore::not_restored_json(&id, &r.not_restored));
        let Some(l) = live.ado.get(&key) else {
            c.absent(&id);
            continue;
        };
        let differs = c.take(&id, restore::field_diff(&r.body, l), None);
        // The effective settings, where the document itself matches (else it is reported once).
        if !differs {
            let e = restore::field_diff(&want[&key], have.get(&key).unwrap_or(&Value::Null));
            for f in e.differ {
                c.mismatches.push(json!({"resource": id,
                    "field": format!("properties.actionableRemediation (effective).{}", f.path),
                    "expected": f.expected, "actual": f.actual}));
            }
        }
    }
    // GitHub and GitLab: present, owned, and every field as backed up (read-only in the API).
    let gh = |p: &[String]| match p {
        [o] => new.github_owner(o),
        [o, r] => new.github_repo(o, r),
        _ => new.devops(),
    };
    let gl = |p: &[String]| match p {
        [g] => new.gitlab_group(g),
        [g, pr] => new.gitlab_project(g, pr),
        _ => new.devops(),
    };
    type IdOf<'a> = &'a dyn Fn(&[String]) -> ResourceId;
    let groups: [(&[Node], &BTreeMap<String, Value>, IdOf); 4] = [
        (&backup.gh_owners, &live.github, &gh),
        (&backup.gh_repos, &live.github, &gh),
        (&backup.gl_groups, &live.gitlab, &gl),
        (&backup.gl_projects, &live.gitlab, &gl),
    ];
    for (nodes, map, id_of) in groups {
        for n in nodes {
            c.resources += 1;
            let id = id_of(&n.path).to_string();
            let r = restore::restore_body(&n.body, ex, &id);
            c.not_restored.extend(restore::not_restored_json(&id, &r.not_restored));
            if let Some(l) = map.get(&n.key()) {
                c.take(
                    &id,
                    restore::field_diff(&r.body, l),
                    Some("cannot be written through the API"),
                );
            }
        }
    }
    // Absent GitHub/GitLab resources and their onboarding state.
    for d in super::reapply::read_only_differences(backup, live, new) {
        let mut d = d;
        if let Some(m) = d.as_object_mut() {
            m.remove("note");
        }
        c.mismatches.push(d);
    }
    c
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
    let old = connector_input(&ctx, "old_resource_id")?;
    let new = connector_input(&ctx, "new_resource_id")?;
    let adopted = bool_input(&ctx, "adopted")?;
    if crate::steps::backup_load::is_no_backup(ctx.inputs.get("snapshot_id")) {
        // Nothing to compare with: said, per setting, in `not_restored`.
        let (mut out, _) = skipped_without_backup(&ctx, &new, true).await?;
        out.insert("verified".into(), json!(false));
        out.insert("checked".into(), json!(0));
        out.insert("resources_checked".into(), json!(0));
        out.insert("mismatches".into(), json!([]));
        out.insert("adopted".into(), json!(adopted));
        out.insert("not_recreated_by_microsoft".into(), json!(NOT_RECREATED_BY_MICROSOFT));
        return Ok(StepOutcome::ok(out));
    }
    let snapshot = required_str(&ctx, "snapshot_id")?;
    let exclusions = exclusions_input(&ctx)?;
    let client = arm_client(&ctx)?;
    let store = backup_store(&ctx)?;
    let drill = drill_input(&ctx, &old)?;
    let mut backup = BackupView::load(&store, &snapshot, &old).await?;
    // A live drill verifies what its connector could take; the rest is said, not compared.
    let mut not_rehearsed = if drill { drill_scope(&mut backup, &old) } else { Vec::new() };
    let live = LiveView::read(&client, &new, &backup).await?;
    if drill && live.config.is_none() {
        not_rehearsed.extend(drill_without_config(&mut backup, &new));
    }
    // An adopted connector keeps its own settings: only what lifeboat restored is compared.
    let connector = if adopted {
        None
    } else {
        match client.get_connector(&new).await {
            Ok(c) => Some(serde_json::to_value(c).unwrap_or_default()),
            Err(e) if e.is_not_found() => Some(Value::Null),
            Err(e) => return Err(azure_failure(&format!("reading {new}"), &e)),
        }
    };
    let mut c = match &connector {
        Some(Value::Null) => {
            let mut c = compare(&backup, &live, None, &new, &exclusions);
            c.absent(&new.to_string());
            c
        }
        other => compare(&backup, &live, other.as_ref(), &new, &exclusions),
    };
    for u in &live.unreadable {
        c.mismatches.push(json!({"resource": u, "field": "(ownership)", "expected": "onboarded by the new connector", "actual": "not readable through the new connector"}));
    }
    let checked = c.checked;
    ctx.progress(
        c.resources,
        c.resources,
        format!("{} resources, {checked} fields checked", c.resources),
    );
    if !c.mismatches.is_empty() {
        let shown: Vec<String> = c.mismatches.iter().take(SHOWN).map(line).collect();
        let more = if c.mismatches.len() > SHOWN {
            format!("\n  ... and {} more", c.mismatches.len() - SHOWN)
        } else {
            String::new()
        };
        return Err(StepError::fatal(format!(
            "{} of {checked} restored fields differ from backup snapshot {} (run \
             devops.reapply-settings again, or fix them in the portal; a field Azure refuses \
             can be left out with `lifeboat resume {} --set restore_exclude=PATH`):\n  {}{more}",
            c.mismatches.len(),
            backup.snapshot,
            ctx.run_id,
            shown.join("\n  ")
        )));
    }
    let added_total = c.added.len();
    c.added.truncate(ADDED_CAP);
    let mut out = Map::new();
    out.insert("checked".into(), json!(checked));
    out.insert("resources_checked".into(), json!(c.resources));
    out.insert("mismatches".into(), json!(c.mismatches));
    out.insert("added_by_service".into(), json!(c.added));
    out.insert("added_by_service_total".into(), json!(added_total));
    out.insert("not_restored".into(), json!(c.not_restored));
    out.insert("adopted".into(), json!(adopted));
    out.insert("snapshot_id".into(), json!(backup.snapshot));
    out.insert("not_recreated_by_microsoft".into(), json!(NOT_RECREATED_BY_MICROSOFT));
    if drill {
        out.insert("drill".into(), json!(true));
        if !not_rehearsed.is_empty() {
            let warning = not_rehearsed_warning(&ctx.step, &not_rehearsed);
            out.insert(crate::catalog::WARNINGS_OUTPUT.into(), json!([warning]));
        }
        out.insert("not_rehearsed".into(), json!(not_rehearsed));
    }
    Ok(StepOutcome::ok(out))
}
