//! Microsoft's side of the recovery (seed 000, "Microsoft responsibility"): after the new
//! connector is established and the DevOps resources are released to it, Microsoft recreates
//! the alerts, recommendations and Cloud Security Graph entities for it; alerts more than a week
//! old (and some history) are not recreated. Nothing in the procedure confirms that it happened;
//! these two kinds do, through Resource Graph's `securityresources` table
//! (`queries/devops-findings.kql`):
//!
//! - `defender.count-findings` counts the old connector's DevOps recommendations (assessments)
//!   and alerts *before the release* (after it they are gone: they are about resources the old
//!   connector no longer owns), with each alert's time. The runbook runs it before the support
//!   request is drafted. A count that cannot be made is a warning, never a failure: the recovery
//!   does not depend on it.
//! - `defender.check-recreated` polls, from the release until its `deadline`, until the new
//!   connector has at least as many recommendations as the old one had and every old alert less
//!   than a week old has come back. At the deadline it *succeeds with a warning* (output
//!   `warnings`, shown by `lifeboat status`, at the end of `run`/`resume` and in the audit
//!   record): what is missing is Microsoft's to recreate, and the recovered connectors work
//!   meanwhile. Only bad input fails it.
//!
//! A row belongs to a connector when the resource it is about (`subject`) lies under the
//! connector's resource ID: the DevOps resources are the connector's children
//! (`.../securityConnectors/<name>/devops/default/azureDevOpsOrgs/<org>`, ...).

use super::devops::{
    arm_client, azure_failure, connector_input, poll_interval_input, rfc3339, StepError,
};
use crate::azure::{ArmClient, AzureError, ResourceId};
use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{StepContext, StepKind, StepOutcome};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};
use std::time::Duration;
use time::OffsetDateTime;

/// Microsoft does not recreate alerts more than a week old (seed 000).
pub const ALERT_RECREATION_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// At most this many alert times are kept in the count's outputs (the journal keeps them); the
/// newest ones, which are those that can come back.
pub const ALERT_TIMES_CAP: usize = 1000;

const ASSESSMENT: &str = "microsoft.security/assessments";
const ALERT: &str = "microsoft.security/locations/alerts";

/// One connector's DevOps findings in Resource Graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    pub assessments: u64,
    pub alerts: u64,
    /// When each alert was generated, newest first (unparseable or absent times are kept out
    /// and counted as recent: the safe side for a comparison).
    pub alert_times: Vec<OffsetDateTime>,
    /// Alerts whose time could not be read.
    pub undated_alerts: u64,
}

impl Findings {
    /// Alerts generated after `since`, plus the undated ones.
    pub fn alerts_since(&self, since: OffsetDateTime) -> u64 {
        self.alert_times.iter().filter(|t| **t > since).count() as u64 + self.undated_alerts
    }
}

fn is_under(subject: &str, connector: &ResourceId) -> bool {
    let prefix = format!("{}/", connector.to_string().to_ascii_lowercase());
    subject.to_ascii_lowercase().contains(&prefix)
}

/// Counts the rows of `devops-findings` about resources under `connector`.
pub fn count(rows: &[Map<String, Value>], connector: &ResourceId) -> Findings {
    let mut f = Findings::default();
    let text = |r: &Map<String, Value>, k: &str| {
        r.get(k).and_then(Value::as_str).unwrap_or_default().to_string()
    };
    for r in rows {
        if !is_under(&text(r, "subject"), connector) {
            continue;
        }
        let ty = text(r, "type").to_ascii_lowercase();
        if ty == ASSESSMENT {
            f.assessments += 1;
        } else if ty == ALERT {
            f.alerts += 1;
            match OffsetDateTime::parse(
                &text(r, "generated"),
                &time::format_description::well_known::Rfc3339,
            ) {
                Ok(t) => f.alert_times.push(t),
                Err(_) => f.undated_alerts += 1,
            }
        }
    }
    f.alert_times.sort_by(|a, b| b.cmp(a));
    f
}

/// Runs `devops-findings` over the subscriptions of the given connectors.
async fn query(
    client: &ArmClient,
    connectors: &[&ResourceId],
) -> Result<Vec<Map<String, Value>>, AzureError> {
    let mut subs: Vec<String> =
        connectors.iter().map(|c| c.subscription.to_ascii_lowercase()).collect();
    subs.sort();
    subs.dedup();
    client.resource_graph_query(crate::queries::DEVOPS_FINDINGS, &subs).await
}

fn outputs(pairs: Vec<(&str, Value)>) -> StepOutcome {
    StepOutcome::ok(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

// ------------------------------------------------------------------ defender.count-findings

/// `defender.count-findings`.
#[derive(Debug, Clone, Copy)]
pub struct CountFindings;

impl StepKind for CountFindings {
    fn info(&self) -> &'static StepKindInfo {
        info("defender.count-findings")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { count_findings(ctx).await.unwrap_or_else(StepError::outcome) })
    }
}

async fn count_findings(ctx: StepContext) -> Result<StepOutcome, StepError> {
    let old = connector_input(&ctx, "old_resource_id")?;
    let client = arm_client(&ctx)?;
    ctx.progress(0, 1, format!("counting the DevOps alerts and recommendations of {}", old.name()));
    let rows = query(&client, &[&old]).await;
    if let Err(o) = crate::steps::recovery::journal_negotiations(&ctx, &client).await {
        return Ok(o);
    }
    let now = ctx.now();
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            let warning = format!(
                "the DevOps alerts and recommendations of {} could not be counted before the \
                 release ({e}): the check after the release can only confirm that some appear \
                 for the new connector, not compare their numbers",
                old.name()
            );
            ctx.progress(1, 1, "not counted");
            return Ok(outputs(vec![
                ("resource_id", json!(old.to_string())),
                ("counted", json!(false)),
                ("counted_at", json!(rfc3339(now))),
                ("warnings", json!([warning])),
            ]));
        }
    };
    let f = count(&rows, &old);
    let week_ago = now - ALERT_RECREATION_WINDOW;
    let recent = f.alerts_since(week_ago);
    ctx.progress(
        1,
        1,
        format!(
            "{} recommendations, {} alerts ({recent} less than a week old)",
            f.assessments, f.alerts
        ),
    );
    let times: Vec<String> =
        f.alert_times.iter().take(ALERT_TIMES_CAP).map(|t| rfc3339(*t)).collect();
    Ok(outputs(vec![
        ("resource_id", json!(old.to_string())),
        ("counted", json!(true)),
        ("counted_at", json!(rfc3339(now))),
        ("assessments", json!(f.assessments)),
        ("alerts", json!(f.alerts)),
        ("alert_times", json!(times)),
        ("undated_alerts", json!(f.undated_alerts)),
        ("warnings", json!([])),
    ]))
}

// ---------------------------------------------------------------- defender.check-recreated

/// `defender.check-recreated`.
#[derive(Debug, Clone, Copy)]
pub struct CheckRecreated;

impl StepKind for CheckRecreated {
    fn info(&self) -> &'static StepKindInfo {
        info("defender.check-recreated")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { check_recreated(ctx).await.unwrap_or_else(StepError::outcome) })
    }
}

/// What the old connector had, from `defender.count-findings`' outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// `None`: it could not be counted.
    pub counted: Option<Findings>,
    pub counted_at: Option<String>,
}

/// Reads the `baseline` input (the count step's outputs).
pub fn baseline(v: &Value) -> Result<Baseline, String> {
    let obj = v.as_object().ok_or_else(|| {
        format!("input `baseline` is {v}, not the outputs of defender.count-findings (an object)")
    })?;
    let counted_at = obj.get("counted_at").and_then(Value::as_str).map(str::to_string);
    match obj.get("counted") {
        Some(Value::Bool(false)) => return Ok(Baseline { counted: None, counted_at }),
        Some(Value::Bool(true)) => {}
        _ => {
            return Err("input `baseline` has no boolean `counted`: give the outputs of \
                        defender.count-findings ({{ steps.ID.outputs }})"
                .into())
        }
    }
    let num = |k: &str| {
        obj.get(k).and_then(Value::as_u64).ok_or_else(|| {
            format!("input `baseline` has no whole number `{k}` (the outputs of defender.count-findings)")
        })
    };
    let mut alert_times = Vec::new();
    for t in obj.get("alert_times").and_then(Value::as_array).into_iter().flatten() {
        let parsed = t.as_str().and_then(|s| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        });
        match parsed {
            Some(p) => alert_times.push(p),
            None => {
                return Err(format!("input `baseline` has an alert time {t} that is not RFC 3339"))
            }
        }
    }
    let f = Findings {
        assessments: num("assessments")?,
        alerts: num("alerts")?,
        alert_times,
        undated_alerts: obj.get("undated_alerts").and_then(Value::as_u64).unwrap_or(0),
    };
    Ok(Baseline { counted: Some(f), counted_at })
}

/// What the check expects of the new connector at `now`, and what it found.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub expected_assessments: u64,
    /// Old alerts less than a week old at `now` (the older ones Microsoft does not recreate).
    pub expected_alerts: u64,
    /// Old alerts more than a week old at `now`.
    pub aged_out_alerts: u64,
    pub found: Findings,
    pub complete: bool,
}

/// Compares the new connector's findings with the baseline at `now`. Without a baseline, one
/// recommendation is enough to show that Microsoft recreated something.
pub fn compare(base: &Baseline, found: Findings, now: OffsetDateTime) -> Comparison {
    let week_ago = now - ALERT_RECREATION_WINDOW;
    let (ea, eb, aged) = match &base.counted {
        Some(b) => {
            let recent = b.alerts_since(week_ago);
            (b.assessments, recent, b.alerts.saturating_sub(recent))
        }
        None => (1, 0, 0),
    };
    let complete = found.assessments >= ea && found.alerts >= eb;
    Comparison {
        expected_assessments: ea,
        expected_alerts: eb,
        aged_out_alerts: aged,
        found,
        complete,
    }
}

/// The warning of a check that ended without everything back. Names both connectors, the counts
/// and the deadline.
pub fn warning(
    old: &ResourceId,
    new: &ResourceId,
    c: &Comparison,
    base: &Baseline,
    within: &str,
) -> String {
    match &base.counted {
        Some(_) => format!(
            "Microsoft has not recreated the DevOps alerts and recommendations of {old} for \
             {new} within {within} of the release: Resource Graph shows {na} of {ea} \
             recommendations and {nb} of {eb} alerts (alerts more than a week old are not \
             recreated); ask Microsoft support, on the release ticket, to recreate them",
            old = old.name(),
            new = new.name(),
            na = c.found.assessments,
            ea = c.expected_assessments,
            nb = c.found.alerts,
            eb = c.expected_alerts,
        ),
        None => format!(
            "Microsoft has not recreated the DevOps alerts and recommendations of {old} for \
             {new} within {within} of the release: Resource Graph shows {na} recommendations \
             and {nb} alerts for {new} (the old connector's were not counted before the \
             release, so nothing could be compared); ask Microsoft support, on the release \
             ticket, to recreate them",
            old = old.name(),
            new = new.name(),
            na = c.found.assessments,
            nb = c.found.alerts,
        ),
    }
}

/// The `deadline` input (default 24h) and its text as given, for messages.
fn deadline_input(ctx: &StepContext) -> Result<(Duration, String), StepError> {
    use crate::catalog::DurationUse;
    use crate::runbook::limits;
    let text = ctx.input_str("deadline").unwrap_or_else(|| "24h".into());
    let d = limits::parse(&text, DurationUse::Duration).map_err(|e| {
        StepError::fatal(format!(
            "input `deadline` of step `{}` is `{text}`, which {e} (e.g. 24h, 3d)",
            ctx.step
        ))
    })?;
    Ok((d, text.trim().to_string()))
}

/// When the check began (its first poll), kept in scratch so re-polls and restarts keep the
/// same deadline.
fn since(ctx: &StepContext) -> Result<OffsetDateTime, StepError> {
    match ctx.scratch.as_ref().and_then(|s| s.get("since")).and_then(Value::as_str) {
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| StepError::fatal(format!("scratch state has a bad time `{t}`: {e}"))),
        None => Ok(ctx.now()),
    }
}

fn progress(ctx: &StepContext, c: &Comparison, what: &str) {
    ctx.progress(
        c.found.assessments.min(c.expected_assessments) + c.found.alerts.min(c.expected_alerts),
        c.expected_assessments + c.expected_alerts,
        what,
    );
}

async fn check_recreated(ctx: StepContext) -> Result<StepOutcome, StepError> {
    let old = connector_input(&ctx, "old_resource_id")?;
    let new = connector_input(&ctx, "new_resource_id")?;
    let base = baseline(ctx.inputs.get("baseline").unwrap_or(&Value::Null))
        .map_err(|e| StepError::fatal(format!("step `{}`: {e}", ctx.step)))?;
    let (deadline, within) = deadline_input(&ctx)?;
    let interval = poll_interval_input(&ctx, Duration::from_secs(30 * 60))?;
    let client = arm_client(&ctx)?;
    let since = since(&ctx)?;
    let until = crate::runbook::limits::add(since, deadline)
        .map_err(|e| StepError::fatal(format!("cannot compute the deadline: {e}")))?;
    let now = ctx.now();
    let rows = query(&client, &[&old, &new]).await;
    if let Err(o) = crate::steps::recovery::journal_negotiations(&ctx, &client).await {
        return Ok(o);
    }
    let checked = rows
        .map(|rows| compare(&base, count(&rows, &new), now))
        .map_err(|e| azure_failure("querying Resource Graph for the new connector's findings", &e));
    let done = checked.as_ref().is_ok_and(|c| c.complete);
    if !done && now < until {
        // Poll again, never past the deadline.
        let left: Duration = (until - now).try_into().unwrap_or(interval);
        let message = match &checked {
            Ok(c) => {
                progress(&ctx, c, "recreated so far");
                format!(
                    "Microsoft has recreated {} of {} recommendations and {} of {} alerts for {} \
                     so far; checking until {}",
                    c.found.assessments,
                    c.expected_assessments,
                    c.found.alerts,
                    c.expected_alerts,
                    new.name(),
                    rfc3339(until)
                )
            }
            Err(e) => format!("{}; checking again until {}", e.message, rfc3339(until)),
        };
        let scratch = json!({"since": rfc3339(since)});
        return Ok(StepOutcome::poll_after(now, left.min(interval), message, Some(scratch)));
    }
    let mut out: Vec<(&str, Value)> = vec![
        ("old_resource_id", json!(old.to_string())),
        ("new_resource_id", json!(new.to_string())),
        ("recreated", json!(done)),
        ("baseline_counted", json!(base.counted.is_some())),
        ("checked_from", json!(rfc3339(since))),
        ("checked_at", json!(rfc3339(now))),
        ("deadline", json!(rfc3339(until))),
        ("not_recreated_by_microsoft", json!(super::devops::verify::NOT_RECREATED_BY_MICROSOFT)),
    ];
    let warnings: Vec<String> = match &checked {
        Ok(c) => {
            out.extend([
                ("expected_assessments", json!(c.expected_assessments)),
                ("expected_alerts", json!(c.expected_alerts)),
                ("old_alerts_older_than_a_week", json!(c.aged_out_alerts)),
                ("new_assessments", json!(c.found.assessments)),
                ("new_alerts", json!(c.found.alerts)),
            ]);
            progress(&ctx, c, if done { "recreated" } else { "not recreated by the deadline" });
            if done {
                Vec::new()
            } else {
                vec![warning(&old, &new, c, &base, &within)]
            }
        }
        Err(e) => vec![format!(
            "could not check whether Microsoft recreated the DevOps alerts and recommendations \
             of {} for {} within {within} of the release ({}); check Defender for Cloud's \
             recommendations and alerts for {} by hand",
            old.name(),
            new.name(),
            e.message,
            new.name()
        )],
    };
    out.push(("warnings", json!(warnings)));
    Ok(outputs(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    }

    fn conn(name: &str) -> ResourceId {
        ResourceId::connector("s1", "rg", name)
    }

    fn row(ty: &str, subject: &str, generated: &str) -> Map<String, Value> {
        json!({"id": "x", "type": ty, "subject": subject, "generated": generated})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn rows_belong_to_the_connector_whose_resources_they_are_about() {
        let ado = conn("ado").to_string();
        let rows = vec![
            row(ASSESSMENT, &format!("{ado}/devops/default/azureDevOpsOrgs/contoso"), ""),
            row(ASSESSMENT, &format!("{}/devops/default/azureDevOpsOrgs/x", conn("ado-2")), ""),
            row(
                ALERT,
                &format!(
                    "[{{\"Type\":\"AzureResource\",\"AzureResourceId\":\"{}/devops/default\"}}]",
                    ado.to_uppercase()
                ),
                "2025-01-02T00:00:00Z",
            ),
            row(ALERT, &format!("{ado}/devops/default"), "not a time"),
            row("microsoft.security/securescores", &format!("{ado}/devops/default"), ""),
        ];
        let f = count(&rows, &conn("ado"));
        assert_eq!((f.assessments, f.alerts, f.undated_alerts), (1, 2, 1));
        assert_eq!(f.alert_times, vec![t("2025-01-02T00:00:00Z")]);
        assert_eq!(
            count(&rows, &conn("ado-2")).assessments,
            1,
            "a longer name is another connector"
        );
    }

    fn base(assessments: u64, times: &[&str]) -> Baseline {
        baseline(&json!({"counted": true, "counted_at": "2025-01-10T00:00:00Z",
            "assessments": assessments, "alerts": times.len(), "alert_times": times}))
        .unwrap()
    }

    #[test]
    fn alerts_older_than_a_week_are_not_expected_back() {
        let b = base(2, &["2025-01-09T00:00:00Z", "2025-01-01T00:00:00Z"]);
        let found = Findings { assessments: 2, alerts: 1, ..Findings::default() };
        let c = compare(&b, found.clone(), t("2025-01-10T00:00:00Z"));
        assert_eq!((c.expected_assessments, c.expected_alerts, c.aged_out_alerts), (2, 1, 1));
        assert!(c.complete);
        let missing = Findings { assessments: 1, ..found };
        assert!(!compare(&b, missing, t("2025-01-10T00:00:00Z")).complete);
        // A week later the recent alert has aged out too: nothing is expected of it any more.
        let c = compare(
            &b,
            Findings { assessments: 2, ..Findings::default() },
            t("2025-01-17T00:00:00Z"),
        );
        assert_eq!((c.expected_alerts, c.aged_out_alerts), (0, 2));
        assert!(c.complete);
    }

    #[test]
    fn without_a_baseline_one_recommendation_shows_the_recreation() {
        let b = baseline(&json!({"counted": false, "warnings": ["x"]})).unwrap();
        assert_eq!(b.counted, None);
        let now = t("2025-01-10T00:00:00Z");
        assert!(!compare(&b, Findings::default(), now).complete);
        assert!(compare(&b, Findings { assessments: 1, ..Findings::default() }, now).complete);
        let c = compare(&b, Findings::default(), now);
        let w = warning(&conn("ado"), &conn("ado-neu"), &c, &b, "1h");
        assert!(w.contains("were not counted before the release"), "{w}");
    }

    #[test]
    fn a_bad_baseline_is_bad_input() {
        for bad in [
            json!(null),
            json!("text"),
            json!({"assessments": 1}),
            json!({"counted": true, "alerts": 0}),
            json!({"counted": true, "assessments": 1, "alerts": 1, "alert_times": ["yesterday"]}),
        ] {
            assert!(baseline(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_warning_names_both_connectors_the_counts_and_the_deadline() {
        let b = base(2, &["2025-01-09T00:00:00Z"]);
        let c = compare(&b, Findings::default(), t("2025-01-10T00:00:00Z"));
        let w = warning(&conn("ado-weu"), &conn("ado-weu-northeurope"), &c, &b, "24h");
        assert_eq!(
            w,
            "Microsoft has not recreated the DevOps alerts and recommendations of ado-weu for \
             ado-weu-northeurope within 24h of the release: Resource Graph shows 0 of 2 \
             recommendations and 0 of 1 alerts (alerts more than a week old are not recreated); \
             ask Microsoft support, on the release ticket, to recreate them"
        );
    }
}
