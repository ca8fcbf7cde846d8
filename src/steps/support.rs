//! `support.draft` (idempotent) and `support.submit` (guarded): step 2 of Microsoft's recovery
//! procedure (seed 000), the support request that releases ownership of the DevOps resources
//! from the old connector.
//!
//! The draft renders `templates/support-request.md.hbs` (for a person filing it in the portal)
//! and `templates/support-ticket.json.hbs` (the Support API body) with exactly the seed's fields
//! ([`ISSUE_TYPE`], [`SERVICE_TYPE`], [`SUMMARY`], [`PROBLEM_TYPE`], [`PROBLEM_SUBTYPE`]), both
//! resource IDs and the Resource Graph query that finds them. Submission looks the service and
//! the problem classification up by display name and files the ticket under a name derived from
//! the run ID and the connector, so a retry or a resume finds the ticket instead of filing a
//! second one.

use super::recovery;
use super::services::RunDir;
use crate::azure::models::SupportTicketDetails;
use crate::azure::ArmClient;
use crate::catalog::info;
use crate::catalog::StepKindInfo;
use crate::engine::kind::{InputError, StepContext, StepKind, StepOutcome};
use crate::engine::Effect;
use futures::future::BoxFuture;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Seed 000, "Fill out the form", verbatim.
pub const ISSUE_TYPE: &str = "Technical";
pub const SERVICE_TYPE: &str = "Microsoft Defender for Cloud";
pub const SUMMARY: &str = "Region outage - DevOps Connector recovery";
pub const PROBLEM_TYPE: &str = "Defender CSPM plan";
pub const PROBLEM_SUBTYPE: &str = "DevOps security";

const MARKDOWN_TEMPLATE: &str = include_str!("../../templates/support-request.md.hbs");
const JSON_TEMPLATE: &str = include_str!("../../templates/support-ticket.json.hbs");

/// The service and problem classification IDs of the seed's form, found by display name. The
/// Support API's classifications are flat ("Problem type / Subtype"), so the match is on both.
pub async fn classification(client: &ArmClient) -> Result<(String, String), StepOutcome> {
    let services = client
        .list_support_services()
        .await
        .map_err(|e| recovery::azure_fail("listing the Support API's services", &e))?;
    let service = services
        .iter()
        .find(|s| {
            s.properties
                .as_ref()
                .and_then(|p| p.display_name.as_deref())
                .is_some_and(|n| n.eq_ignore_ascii_case(SERVICE_TYPE))
        })
        .and_then(|s| s.name.clone())
        .ok_or_else(|| {
            StepOutcome::fail(
                format!("the Support API lists no service named `{SERVICE_TYPE}` (file the ticket in the portal: Help + Support)"),
                false,
            )
        })?;
    let classes = client
        .list_problem_classifications(&service)
        .await
        .map_err(|e| recovery::azure_fail("listing the problem classifications", &e))?;
    let norm = |s: &str| s.split('/').map(|p| p.trim().to_ascii_lowercase()).collect::<Vec<_>>();
    let wanted = vec![PROBLEM_TYPE.to_ascii_lowercase(), PROBLEM_SUBTYPE.to_ascii_lowercase()];
    let class = classes
        .iter()
        .find(|c| {
            c.properties.as_ref().and_then(|p| p.display_name.as_deref()).is_some_and(|n| norm(n) == wanted)
        })
        .and_then(|c| c.name.clone())
        .ok_or_else(|| {
            StepOutcome::fail(
                format!("service `{SERVICE_TYPE}` has no problem classification `{PROBLEM_TYPE} / {PROBLEM_SUBTYPE}` (file the ticket in the portal: Help + Support)"),
                false,
            )
        })?;
    let service_id = format!("/providers/Microsoft.Support/services/{service}");
    let class_id = format!("{service_id}/problemClassifications/{class}");
    Ok((service_id, class_id))
}

/// A file name from a connector name: letters, digits, `-`, `_`, `.` only.
fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    s.trim_start_matches('.').to_string()
}

/// Writes `bytes` to `path` (its directory created if missing) through [`fsutil::write_atomic`]:
/// a reader never sees half, and the file is durable once the step records it.
///
/// [`fsutil::write_atomic`]: crate::fsutil::write_atomic
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::fsutil::write_atomic(path, bytes)
}

/// The deterministic ticket name of one connector of one run.
pub fn ticket_name(run_id: &str, old_resource_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(run_id.as_bytes());
    h.update(b"\n");
    h.update(old_resource_id.to_ascii_lowercase().as_bytes());
    format!("lifeboat-{}", &hex::encode(h.finalize())[..32])
}

/// The exact instance a person attests for this draft, as a shell argument: a fanned-out draft
/// (branch N, labelled L) names the same branch of the manual step (`'STEP[L]'`, quoted since
/// `[...]` is a glob pattern to a shell, or `STEP#N`; both fan out over the same connectors,
/// item-wise, so they have the same labels), never the bare step, which would attest every
/// connector with one ticket.
pub fn attest_target(step: &str, branch: Option<usize>, label: Option<&str>) -> String {
    match (branch, label) {
        (Some(b), l) if !step.contains(['#', '[']) => {
            let name = crate::engine::instance_name(step, Some(b), l);
            if l.is_some() {
                format!("'{name}'")
            } else {
                name
            }
        }
        _ => step.to_string(),
    }
}

/// Everything the templates need (see the templates for the field names).
pub fn template_context(ctx: &StepContext, service: (&str, &str)) -> Result<Value, StepOutcome> {
    let item = recovery::connector_item(ctx)?;
    let old_id = recovery::required(ctx, "old_resource_id")?;
    let new_id = recovery::required(ctx, "new_resource_id")?;
    let target = recovery::required(ctx, "target_region")?;
    let s = |k: &str, d: &str| ctx.input_str(k).unwrap_or_else(|| d.to_string());
    let description = format!(
        "{SUMMARY}. The Azure region {failed} is down and the DevOps security connector {name} ({ty}) in it cannot be used. \
Following the documented single-region disaster recovery process, a new connector was created in region {target}. \
Please release ownership of the DevOps resources ({resources}) from the old connector and assign them to the new connector, \
and make the new connector primary. Old connector resource ID: {old_id} . New connector resource ID: {new_id} .",
        failed = item.region,
        name = item.name,
        ty = item.connector_type,
        resources = if item.top_level().is_empty() { "every org, owner and group".to_string() } else { item.top_level().join(", ") },
    );
    // A live drill's request says so first: nobody must act on it as on an outage.
    let description = if recovery::drill_mode(ctx, Some(&old_id))? {
        format!(
            "DRILL, NOT AN OUTAGE (lifeboat drill --live, run {}): a rehearsal of the documented recovery; nothing is to be released and no connector is to be made primary (please close this request). {description}",
            ctx.run_id
        )
    } else {
        description
    };
    let drafted_at =
        ctx.now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    Ok(json!({
        "run_id": ctx.run_id,
        "drafted_at": drafted_at,
        "summary": SUMMARY,
        "issue_type": ISSUE_TYPE,
        "service_type": SERVICE_TYPE,
        "problem_type": PROBLEM_TYPE,
        "problem_subtype": PROBLEM_SUBTYPE,
        "failed_region": item.region,
        "old": {"name": item.name, "connector_type": item.connector_type, "region": item.region, "resource_id": old_id},
        "new": {"region": target, "resource_id": new_id},
        "description": description,
        "query": super::discover::query("connector-resource-ids").unwrap_or_default().trim_end(),
        "attest_step": attest_target(
            &s("attest_step", "file-support-request"),
            ctx.branch,
            ctx.label.as_deref(),
        ),
        "service_id": service.0,
        "problem_classification_id": service.1,
        "severity": s("severity", "moderate"),
        "advanced_diagnostic_consent": "No",
        "contact": {
            "first_name": s("contact_first_name", ""),
            "last_name": s("contact_last_name", ""),
            "preferred_contact_method": s("contact_method", "email"),
            "phone": s("contact_phone", ""),
            "email": s("contact_email", ""),
            "time_zone": s("contact_time_zone", "Pacific Standard Time"),
            "country": s("contact_country", "usa"),
            "language": s("contact_language", "en-US"),
        },
    }))
}

/// Renders both documents: (Markdown, JSON body).
pub fn render(context: &Value) -> Result<(String, Value), String> {
    let render = |t: &str| -> Result<String, String> {
        match crate::runbook::template::render_str(t, context).map_err(|e| e.to_string())? {
            Value::String(s) => Ok(s),
            other => Ok(other.to_string()),
        }
    };
    let md = render(MARKDOWN_TEMPLATE)?;
    let body: Value = serde_json::from_str(&render(JSON_TEMPLATE)?)
        .map_err(|e| format!("templates/support-ticket.json.hbs did not render to JSON: {e}"))?;
    Ok((md.trim_start().to_string(), body))
}

#[derive(Debug, Clone, Copy)]
pub struct Draft;

impl StepKind for Draft {
    fn info(&self) -> &'static StepKindInfo {
        info("support.draft")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { draft(ctx).await.unwrap_or_else(|o| o) })
    }
}

async fn draft(ctx: StepContext) -> Result<StepOutcome, StepOutcome> {
    let item = recovery::connector_item(&ctx)?;
    // The Support API IDs make the JSON body ready to submit; without them (no access to the
    // Support API) a person still has everything the portal form needs.
    let ids = match ctx.services.get::<ArmClient>() {
        Some(c) => match classification(&c).await {
            Ok(ids) => ids,
            Err(StepOutcome::Failed { retryable: true, error }) => {
                return Err(StepOutcome::fail(error, true))
            }
            Err(_) => (String::new(), String::new()),
        },
        None => (String::new(), String::new()),
    };
    let context = template_context(&ctx, (&ids.0, &ids.1))?;
    let (md, body) = render(&context).map_err(|e| StepOutcome::fail(e, false))?;
    let dir = match ctx.services.get::<RunDir>() {
        Some(d) => d.0.join("support"),
        None => {
            return Err(StepOutcome::fail(
                "support.draft needs the run directory to write the request into (internal: no RunDir in services)",
                false,
            ))
        }
    };
    let stem = file_stem(&item.name);
    let md_path: PathBuf = dir.join(format!("{stem}.md"));
    let json_path: PathBuf = dir.join(format!("{stem}.json"));
    let pretty = serde_json::to_string_pretty(&body).unwrap_or_default() + "\n";
    for (path, bytes) in [(&md_path, md.as_bytes()), (&json_path, pretty.as_bytes())] {
        write_atomic(path, bytes).map_err(|e| {
            StepOutcome::fail(
                format!("cannot write the support request {}: {e}", path.display()),
                false,
            )
        })?;
        ctx.record_effect(Effect {
            method: "write-file".into(),
            resource: path.display().to_string(),
            status: None,
            request_id: None,
            correlation_id: None,
        })
        .await
        .map_err(|e| StepOutcome::fail(e, true))?;
    }
    // A run kept in a shared run store: a copy beside its journal, for the team.
    let mut copies = Vec::new();
    if let Some(store) = ctx.services.get::<crate::engine::artefact::Artefacts>() {
        for (name, bytes) in
            [(format!("{stem}.md"), md.as_bytes()), (format!("{stem}.json"), pretty.as_bytes())]
        {
            let rel = format!("support/{name}");
            let at = store.0.store(rel, bytes.to_vec()).await.map_err(|e| {
                StepOutcome::fail(
                    format!("cannot store the support request beside the run: {e}"),
                    true,
                )
            })?;
            ctx.record_effect(Effect {
                method: "write-blob".into(),
                resource: at.clone(),
                status: None,
                request_id: None,
                correlation_id: None,
            })
            .await
            .map_err(|e| StepOutcome::fail(e, true))?;
            copies.push(at);
        }
    }
    let shared = copies.first().map(|c| format!(" (shared copy: {c})")).unwrap_or_default();
    ctx.progress(
        1,
        1,
        format!("support request for {} drafted: {}{shared}", item.name, md_path.display()),
    );
    if let Some(p) = ctx.services.get::<super::services::PrompterHandle>() {
        p.0.notice(format!(
            "support request for {} drafted: {}{shared}",
            item.name,
            md_path.display()
        ));
    }
    let mut outputs = vec![
        ("markdown_path", json!(md_path.display().to_string())),
        ("json_path", json!(json_path.display().to_string())),
        ("title", json!(SUMMARY)),
        ("description", context["description"].clone()),
    ];
    if let [md_copy, json_copy] = copies.as_slice() {
        outputs.push(("markdown_copy", json!(md_copy)));
        outputs.push(("json_copy", json!(json_copy)));
    }
    Ok(recovery::outputs(outputs))
}

#[derive(Debug, Clone, Copy)]
pub struct Submit;

impl StepKind for Submit {
    fn info(&self) -> &'static StepKindInfo {
        info("support.submit")
    }
    fn run(&self, ctx: StepContext) -> BoxFuture<'static, StepOutcome> {
        Box::pin(async move { submit(ctx).await.unwrap_or_else(|o| o) })
    }
    /// The ticket's contact, which the Support API needs: set when a parameter gives it, and
    /// shaped as the Support API takes it ([`check_contact`]).
    fn check_inputs(&self, inputs: &serde_json::Map<String, Value>) -> Result<(), InputError> {
        // Absent: not rendered now (checked by the Support API when the step runs) or not
        // passed (the step's default, see `template_context`). Null: an empty parameter.
        let text = |k: &str| match inputs.get(k) {
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(Value::Null) => Some(String::new()),
            _ => None,
        };
        let method = text("contact_method").unwrap_or_default();
        let severity = text("severity").unwrap_or_default();
        let phone = phone_needed(&method, &severity);
        for key in CONTACT_INPUTS {
            let Some(value) = text(key) else {
                if *key == "contact_phone" {
                    if let Some(why) = &phone {
                        return Err(InputError {
                            message: format!("support.submit needs a phone number: {why}"),
                            hint: "pass contact_phone to the step".to_string(),
                        });
                    }
                }
                continue;
            };
            check_contact(key, &value, phone.as_deref()).map_err(|message| {
                InputError {
                    message: format!("input `{key}` {message}"),
                    hint: format!(
                        "pass --set {key}=... or leave submit_ticket=false to draft the request for a person"
                    ),
                }
            })?;
        }
        Ok(())
    }
}

/// The contact inputs of `support.submit`, in the order a person is asked for them.
pub const CONTACT_INPUTS: &[&str] = &[
    "contact_first_name",
    "contact_last_name",
    "contact_email",
    "contact_method",
    "contact_phone",
    "contact_time_zone",
    "contact_country",
    "contact_language",
];

/// Why the Support API needs a phone number for a ticket, if it does: the preferred contact
/// method is phone, or the severity is critical or highestcriticalimpact (the 2026-06-01 spec's
/// `ContactProfile.phoneNumber`). `method` and `severity` as given (empty: the defaults, email and
/// moderate).
pub fn phone_needed(method: &str, severity: &str) -> Option<String> {
    if method.trim() == "phone" {
        return Some("the preferred contact method is phone".to_string());
    }
    match severity.trim() {
        s @ ("critical" | "highestcriticalimpact") => {
            Some(format!("the Support API needs one for a {s} ticket"))
        }
        _ => None,
    }
}

/// Whether `value` is acceptable for the contact input `key` of a ticket filed through the Support
/// API (`phone`: why a phone number is needed, see [`phone_needed`]). The one check of
/// `support.submit`'s inputs before a run and of guided mode's answers. `Err` says what is
/// wrong, to follow the input's name.
pub fn check_contact(key: &str, value: &str, phone: Option<&str>) -> Result<(), String> {
    let v = value.trim();
    let empty = || Err("is empty and the Support API needs it to file the ticket".to_string());
    match key {
        "contact_first_name" | "contact_last_name" | "contact_time_zone" if v.is_empty() => empty(),
        "contact_email" => {
            if v.is_empty() {
                return empty();
            }
            let shaped = v.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
            if shaped && !v.chars().any(char::is_whitespace) {
                Ok(())
            } else {
                Err(format!("`{v}` is not an e-mail address (e.g. oncall@contoso.com)"))
            }
        }
        "contact_method" => match v {
            "" | "email" | "phone" => Ok(()),
            other => Err(format!("`{other}` is not a contact method (email or phone)")),
        },
        "contact_phone" => {
            if v.is_empty() {
                return match phone {
                    Some(why) => Err(format!("is empty and {why}")),
                    None => Ok(()),
                };
            }
            let allowed = v.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
            let digits = v.chars().filter(char::is_ascii_digit).count();
            if allowed && digits >= 6 {
                Ok(())
            } else {
                Err(format!("`{v}` is not a phone number (digits, spaces, + - ( ) only, e.g. +1 425 555 0100)"))
            }
        }
        "contact_country" => {
            if v.len() == 3 && v.chars().all(|c| c.is_ascii_alphabetic()) {
                Ok(())
            } else {
                Err(format!(
                    "`{v}` is not a three-letter ISO 3166-1 country code (e.g. usa, gbr, deu)"
                ))
            }
        }
        "contact_language" => {
            let shaped = v.split_once('-').is_some_and(|(l, r)| {
                (2..=3).contains(&l.len())
                    && l.chars().all(|c| c.is_ascii_alphabetic())
                    && !r.is_empty()
                    && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
            if shaped {
                Ok(())
            } else {
                Err(format!("`{v}` is not a language tag (e.g. en-US, de-DE)"))
            }
        }
        _ => Ok(()),
    }
}

fn ticket_outputs(name: &str, t: &SupportTicketDetails) -> StepOutcome {
    let number =
        t.properties.as_ref().and_then(|p| p.support_ticket_id.clone()).unwrap_or_default();
    recovery::outputs(vec![("ticket_name", json!(name)), ("ticket_number", json!(number))])
}

async fn submit(ctx: StepContext) -> Result<StepOutcome, StepOutcome> {
    let old_id = recovery::required(&ctx, "old_resource_id")?;
    let item = recovery::connector_item(&ctx)?;
    let subscription = ctx
        .input_str("subscription")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| item.subscription_id.clone());
    let name = ticket_name(&ctx.run_id, &old_id);
    let client = recovery::arm(&ctx)?;
    let resource =
        format!("/subscriptions/{subscription}/providers/Microsoft.Support/supportTickets/{name}");
    // The guard: a ticket of this run and connector is found by its name, never filed twice.
    match client.get_support_ticket(&subscription, &name).await {
        Ok(t) => {
            recovery::journal_call(&ctx, &client, "GET", &resource, None).await?;
            return Ok(ticket_outputs(&name, &t));
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(recovery::azure_fail(&format!("reading support ticket {name}"), &e)),
    }
    let available = client
        .check_support_ticket_name(&subscription, &name)
        .await
        .map_err(|e| recovery::azure_fail("checking the support ticket name", &e))?;
    if available.name_available == Some(false) {
        return Err(StepOutcome::fail(
            format!("support ticket name {name} is taken but the ticket cannot be read ({}) (check `az support tickets list`; attest this step with the ticket number if it is this run's)", available.message.unwrap_or_default()),
            false,
        ));
    }
    let (service_id, class_id) = classification(&client).await?;
    let context = template_context(&ctx, (&service_id, &class_id))?;
    let (_, body) = render(&context).map_err(|e| StepOutcome::fail(e, false))?;
    let ticket: SupportTicketDetails = serde_json::from_value(body).map_err(|e| {
        StepOutcome::fail(
            format!("the rendered ticket is not a SupportTicketDetails body: {e}"),
            false,
        )
    })?;
    recovery::save(&ctx, json!({"ticket_name": name, "subscription": subscription})).await?;
    ctx.progress(0, 1, format!("filing support ticket {name}"));
    let res = client.create_support_ticket(&subscription, &name, &ticket).await;
    recovery::journal_call(&ctx, &client, "PUT", &resource, res.as_ref().err()).await?;
    match res {
        Ok(t) => Ok(ticket_outputs(&name, &t)),
        Err(e) => Err(recovery::azure_fail(&format!("filing support ticket {name}"), &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_fields_are_checked_as_the_support_api_takes_them() {
        let ok = |k: &str, v: &str| check_contact(k, v, None);
        assert!(ok("contact_email", "oncall@contoso.com").is_ok());
        for bad in ["", "oncall", "on call@contoso.com", "a@b", "a@@b.com", "@contoso.com"] {
            assert!(ok("contact_email", bad).is_err(), "{bad}");
        }
        assert!(ok("contact_first_name", " ").is_err());
        assert!(ok("contact_country", "gbr").is_ok() && ok("contact_country", "GB").is_err());
        assert!(
            ok("contact_language", "en-US").is_ok() && ok("contact_language", "english").is_err()
        );
        assert!(ok("contact_method", "fax").is_err() && ok("contact_method", "").is_ok());
        assert!(ok("contact_phone", "").is_ok() && ok("contact_phone", "+1 425 555 0100").is_ok());
        assert!(ok("contact_phone", "call me").is_err());
        let why = phone_needed("", "critical");
        assert!(why.as_deref().is_some_and(|w| w.contains("critical")), "{why:?}");
        assert!(check_contact("contact_phone", "", why.as_deref()).is_err());
        assert!(phone_needed("phone", "moderate").is_some());
        assert_eq!(phone_needed("email", "moderate"), None);
    }

    #[test]
    fn ticket_names_are_stable_per_run_and_connector() {
        let a = ticket_name(
            "run-1",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c",
        );
        assert_eq!(a, ticket_name("run-1", "/SUBSCRIPTIONS/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/C"));
        assert_ne!(a, ticket_name("run-2", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/c"));
        assert!(a.len() <= 50 && a.starts_with("lifeboat-"));
    }

    #[test]
    fn defect_15_the_draft_names_its_own_branch_of_the_attest_step() {
        assert_eq!(attest_target("file-support-request", Some(2), None), "file-support-request#2");
        assert_eq!(
            attest_target("file-support-request", Some(2), Some("ado-weu")),
            "'file-support-request[ado-weu]'"
        );
        assert_eq!(attest_target("file-support-request", None, None), "file-support-request");
        assert_eq!(
            attest_target("file-support-request#1", Some(2), None),
            "file-support-request#1"
        );
    }

    #[test]
    fn file_stems_stay_in_the_directory() {
        assert_eq!(file_stem("../ado weu"), "_ado_weu");
        assert!(!file_stem("..").contains('/'));
    }
}
