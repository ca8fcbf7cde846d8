//! The simulated support desk (Microsoft.Support 2026-06-01, also 2024-04-01): services,
//! problem classifications, support tickets (create as a long-running operation, get, list,
//! update) and name checks.
//!
//! The one ticket the desk acts on: service Microsoft Defender for Cloud, problem classification
//! "Defender CSPM plan / DevOps security" (the Support API's classifications are flat, with
//! display names "Problem type / Subtype"), whose text names an old and a new security connector
//! resource ID. After `release_delay` of simulated time the old connector's orgs, owners and
//! groups move to the new connector and the old connector's alerts and recommendations leave
//! `securityresources`; `recreation_delay` later Microsoft's side (alerts less than a week old,
//! recommendations) is recreated for the new connector, unless the `no-recreate` fault names the
//! release.

use super::faults::FaultSpec;
use super::model::*;
use super::server::{check_name, ArmError, ArmResult, Ctx, Reply, SimConfig};
use serde_json::{json, Value};

/// Microsoft Defender for Cloud, as a Support service.
pub const DEFENDER_SERVICE: &str = "3fbbda33-fdf5-19ba-2a34-3b41b5b3f5d5";
/// "Defender CSPM plan / DevOps security".
pub const DEVOPS_CLASSIFICATION: &str = "1b4f2a8e-7c3d-4e59-9a06-d2c5b8e4f317";

fn builtin_services() -> Vec<SupportService> {
    let s = |name: &str, display: &str, types: &[&str], pcs: &[(&str, &str)]| SupportService {
        name: name.into(),
        display_name: display.into(),
        resource_types: types.iter().map(|t| t.to_string()).collect(),
        classifications: pcs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
    };
    vec![
        s(
            DEFENDER_SERVICE,
            "Microsoft Defender for Cloud",
            &["MICROSOFT.SECURITY/SECURITYCONNECTORS", "MICROSOFT.SECURITY/PRICINGS"],
            &[
                (DEVOPS_CLASSIFICATION, "Defender CSPM plan / DevOps security"),
                (
                    "5e0c1c7a-2b9d-4f44-8c61-0f3a9d7e2b18",
                    "Defender CSPM plan / Attack path analysis",
                ),
                (
                    "8a2d6f10-4e7b-4c3a-b5d9-6c1e0f7a9b24",
                    "Defender for Servers plan / Agent deployment",
                ),
                (
                    "c7e39b42-1d8f-4a6b-9e05-3f2a7d6c1e90",
                    "Security recommendations / Unexpected recommendation",
                ),
            ],
        ),
        s(
            "517f2da6-78fd-0498-4e22-ad26996b1dfc",
            "Billing",
            &[],
            &[("7e6cf3b1-1a0d-4f2a-9d3c-8b4e5f6a7c01", "Refund request / Other refund issues")],
        ),
        s(
            "06bfd9d3-516b-d5c6-5802-169c800dec89",
            "Service and subscription limits (quotas)",
            &[],
            &[(
                "5f2b9a6e-3c4d-4e1f-8a7b-9c0d1e2f3a44",
                "Compute-VM (cores-vCPUs) subscription limit increases",
            )],
        ),
        s(
            "f3dc5421-79ef-1efa-41a5-42bf3cbb52c6",
            "Subscription management",
            &[],
            &[("a3b4c5d6-e7f8-4901-b2c3-d4e5f6a7b8c9", "Subscription / Transfer ownership")],
        ),
    ]
}

fn services(cloud: &Cloud) -> Vec<SupportService> {
    let mut all = builtin_services();
    all.extend(cloud.extra_services.iter().cloned());
    all
}

fn service_json(s: &SupportService) -> Value {
    json!({
        "id": format!("/providers/Microsoft.Support/services/{}", s.name),
        "name": s.name,
        "type": "Microsoft.Support/services",
        "properties": {"displayName": s.display_name, "resourceTypes": s.resource_types},
    })
}

fn classification_json(s: &SupportService, name: &str, display: &str) -> Value {
    json!({
        "id": format!("/providers/Microsoft.Support/services/{}/problemClassifications/{name}", s.name),
        "name": name,
        "type": "Microsoft.Support/problemClassifications",
        "properties": {"displayName": display, "secondaryConsentEnabled": []},
    })
}

pub fn route(ctx: &Ctx, sub: Option<String>, rest_len: usize) -> ArmResult {
    ctx.require(super::versions::Family::Support, "supportTickets", "global")?;
    let base = if sub.is_some() { 4 } else { 2 };
    let rest: Vec<&str> = ctx.lower[base..].iter().map(String::as_str).collect();
    debug_assert_eq!(rest.len(), rest_len);
    let names: Vec<String> = ctx.segs[base..].to_vec();
    let m = ctx.method.as_str();
    if let Some(s) = &sub {
        let cloud = ctx.shared.cloud();
        if !cloud.subscriptions.iter().any(|x| x.eq_ignore_ascii_case(s)) {
            return Err(ArmError::new(
                404,
                "SubscriptionNotFound",
                format!("The subscription '{s}' could not be found."),
            ));
        }
    }
    match (m, rest.as_slice(), &sub) {
        ("GET", ["services"], None) => {
            let cloud = ctx.shared.cloud();
            let v: Vec<Value> = services(&cloud).iter().map(service_json).collect();
            Ok(Reply::ok(json!({ "value": v })))
        }
        ("GET", ["services", _, tail @ ..], None) => {
            let cloud = ctx.shared.cloud();
            let all = services(&cloud);
            let s =
                all.iter().find(|s| s.name.eq_ignore_ascii_case(&names[1])).ok_or_else(|| {
                    ArmError::not_found(&format!("Microsoft.Support/services/{}", names[1]))
                })?;
            match tail {
                [] => Ok(Reply::ok(service_json(s))),
                ["problemclassifications"] => {
                    let v: Vec<Value> = s
                        .classifications
                        .iter()
                        .map(|(n, d)| classification_json(s, n, d))
                        .collect();
                    Ok(Reply::ok(json!({ "value": v })))
                }
                ["problemclassifications", _] => {
                    let (n, d) = s
                        .classifications
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&names[3]))
                        .ok_or_else(|| {
                            ArmError::not_found(&format!("problemClassifications/{}", names[3]))
                        })?;
                    Ok(Reply::ok(classification_json(s, n, d)))
                }
                _ => Err(ArmError::not_found(&names.join("/"))),
            }
        }
        ("POST", ["checknameavailability"], _) => check_name_availability(ctx, sub.as_deref()),
        ("GET", ["supporttickets"], Some(s)) => list_tickets(ctx, s),
        (_, ["supporttickets", _], Some(s)) => {
            check_name("support ticket", &names[1])?;
            match m {
                "GET" => {
                    let cloud = ctx.shared.cloud();
                    let t = cloud.tickets.get(&ticket_key(s, &names[1])).ok_or_else(|| {
                        ArmError::not_found(&format!(
                            "Microsoft.Support/supportTickets/{}",
                            names[1]
                        ))
                    })?;
                    Ok(Reply::ok(ticket_json(ctx, t)))
                }
                "PUT" => create_ticket(ctx, s, &names[1]),
                "PATCH" => update_ticket(ctx, s, &names[1]),
                _ => Err(ArmError::new(
                    405,
                    "MethodNotAllowed",
                    format!("The method '{m}' is not allowed on support tickets."),
                )),
            }
        }
        ("GET", ["operationsstatus", _], Some(s)) | ("GET", ["operationresults", _], Some(s)) => {
            let cloud = ctx.shared.cloud();
            let t = cloud
                .tickets
                .values()
                .find(|t| t.subscription.eq_ignore_ascii_case(s) && t.ticket_id == names[1])
                .ok_or_else(|| ArmError::not_found(&format!("operations/{}", names[1])))?;
            let done = ctx.now >= t.created_at + ctx.shared.config.lro_delay.as_secs_f64();
            if rest[0] == "operationresults" {
                return Ok(if done {
                    Reply::ok(ticket_json(ctx, t))
                } else {
                    Reply::empty(202).header("Retry-After", "1")
                });
            }
            Ok(Reply::ok(json!({"status": if done { "Succeeded" } else { "InProgress" }})))
        }
        _ => Err(ArmError::new(
            404,
            "InvalidResourceType",
            format!(
                "The resource type '{}' could not be found in the namespace 'Microsoft.Support'.",
                names.join("/")
            ),
        )),
    }
}

fn ticket_key(sub: &str, name: &str) -> String {
    format!("{}/{}", sub.to_ascii_lowercase(), name.to_ascii_lowercase())
}

fn check_name_availability(ctx: &Ctx, sub: Option<&str>) -> ArmResult {
    let body = ctx.json_body()?;
    let name = body.get("name").and_then(Value::as_str);
    let ty = body.get("type").and_then(Value::as_str);
    let (Some(name), Some(ty)) = (name, ty) else {
        return Err(ArmError::bad_request("The properties 'name' and 'type' are required."));
    };
    if ty != "Microsoft.Support/supportTickets" && ty != "Microsoft.Support/communications" {
        return Err(ArmError::bad_request(format!(
            "The value '{ty}' is not valid for 'type'. Allowed values: Microsoft.Support/supportTickets, Microsoft.Support/communications."
        ))
        .target("type"));
    }
    let cloud = ctx.shared.cloud();
    let used = cloud.tickets.values().any(|t| {
        t.name.eq_ignore_ascii_case(name)
            && sub.is_none_or(|s| t.subscription.eq_ignore_ascii_case(s))
    });
    Ok(Reply::ok(if used {
        json!({"nameAvailable": false, "reason": "Name is already in use", "message": "Name not available"})
    } else {
        json!({"nameAvailable": true})
    }))
}

fn list_tickets(ctx: &Ctx, sub: &str) -> ArmResult {
    let top = match ctx.query.get("$top") {
        None => 25,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ArmError::bad_request(
                    "The value of '$top' must be an integer between 1 and 100.",
                )
                .target("$top"))
            }
        },
    };
    let skip = ctx.skip()?;
    let cloud = ctx.shared.cloud();
    let all: Vec<Value> = cloud
        .tickets
        .values()
        .filter(|t| t.subscription.eq_ignore_ascii_case(sub))
        .map(|t| ticket_json(ctx, t))
        .collect();
    let total = all.len();
    let page: Vec<Value> = all.into_iter().skip(skip).take(top).collect();
    let mut v = json!({ "value": page });
    if skip.saturating_add(top) < total {
        let path = format!("/subscriptions/{sub}/providers/Microsoft.Support/supportTickets");
        v["nextLink"] = json!(ctx.url(
            &path,
            &format!(
                "api-version={}&$top={top}&$skipToken={}",
                ctx.api_version().unwrap_or(""),
                skip + top
            )
        ));
    }
    Ok(Reply::ok(v))
}

const SEVERITIES: &[&str] = &["minimal", "moderate", "critical", "highestcriticalimpact"];

fn required_str<'a>(p: &'a Value, path: &str) -> Result<&'a str, ArmError> {
    p.pointer(&format!("/{}", path.replace('.', "/"))).and_then(Value::as_str).ok_or_else(|| {
        ArmError::bad_request(format!(
            "The required property 'properties.{path}' is missing or not a string."
        ))
        .target(&format!("properties.{path}"))
    })
}

fn one_of(v: &str, path: &str, allowed: &[&str]) -> Result<(), ArmError> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(ArmError::bad_request(format!(
            "The value '{v}' is not valid for '{path}'. Allowed values: {}.",
            allowed.join(", ")
        ))
        .target(path))
    }
}

/// Connector resource IDs in free text, in order of appearance, lowercased and deduplicated.
pub fn connector_ids(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut out: Vec<String> = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("/subscriptions/") {
        let start = from + i;
        let end = lower[start..]
            .find(|c: char| c.is_whitespace() || "\"'<>,;()[]{}".contains(c))
            .map(|e| start + e)
            .unwrap_or(lower.len());
        let cand = lower[start..end].trim_end_matches(['.', '/']);
        let segs: Vec<&str> = cand.split('/').collect();
        if segs.len() >= 9
            && segs[3] == "resourcegroups"
            && segs[5] == "providers"
            && segs[6] == "microsoft.security"
            && segs[7] == "securityconnectors"
        {
            let id = connector_key(segs[2], segs[4], segs[8]);
            if !out.contains(&id) {
                out.push(id);
            }
        }
        from = end.max(start + 1);
    }
    out
}

fn create_ticket(ctx: &Ctx, sub: &str, name: &str) -> ArmResult {
    let body = ctx.json_body()?;
    let Some(p) = body.get("properties").filter(|p| p.is_object()) else {
        return Err(ArmError::bad_request("The required property 'properties' is missing.")
            .target("properties"));
    };
    let description = required_str(p, "description")?;
    let title = required_str(p, "title")?;
    let service_id = required_str(p, "serviceId")?;
    let pc_id = required_str(p, "problemClassificationId")?;
    let severity = required_str(p, "severity")?;
    one_of(severity, "properties.severity", SEVERITIES)?;
    let consent = required_str(p, "advancedDiagnosticConsent")?;
    one_of(consent, "properties.advancedDiagnosticConsent", &["Yes", "No"])?;
    if !p.get("contactDetails").is_some_and(Value::is_object) {
        return Err(ArmError::bad_request(
            "The required property 'properties.contactDetails' is missing.",
        )
        .target("properties.contactDetails"));
    }
    for f in [
        "firstName",
        "lastName",
        "primaryEmailAddress",
        "preferredTimeZone",
        "country",
        "preferredSupportLanguage",
    ] {
        required_str(p, &format!("contactDetails.{f}"))?;
    }
    let method = required_str(p, "contactDetails.preferredContactMethod")?;
    one_of(method, "properties.contactDetails.preferredContactMethod", &["email", "phone"])?;
    // The spec's ContactProfile.phoneNumber: "required if preferred contact method is phone. It
    // is also required when submitting 'critical' or 'highestcriticalimpact' severity cases."
    let phone = p
        .pointer("/contactDetails/phoneNumber")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty());
    if !phone && (method == "phone" || matches!(severity, "critical" | "highestcriticalimpact")) {
        return Err(ArmError::bad_request(format!(
            "The property 'properties.contactDetails.phoneNumber' is required when the preferred contact method is '{method}' and the severity is '{severity}'."
        ))
        .target("properties.contactDetails.phoneNumber"));
    }

    let mut cloud = ctx.shared.cloud();
    let all = services(&cloud);
    let svc_name = service_id.rsplit('/').next().unwrap_or("");
    let Some(svc) = all.iter().find(|s| {
        s.name.eq_ignore_ascii_case(svc_name)
            && service_id.to_ascii_lowercase().starts_with("/providers/microsoft.support/services/")
    }) else {
        return Err(ArmError::bad_request(format!("The service '{service_id}' does not exist; list services with GET /providers/Microsoft.Support/services."))
            .target("properties.serviceId"));
    };
    let pc_lower = pc_id.to_ascii_lowercase();
    let prefix = format!(
        "/providers/microsoft.support/services/{}/problemclassifications/",
        svc.name.to_ascii_lowercase()
    );
    let pc = pc_lower
        .strip_prefix(&prefix)
        .and_then(|n| svc.classifications.iter().find(|(c, _)| c.eq_ignore_ascii_case(n)));
    let Some((pc_name, pc_display)) = pc.cloned() else {
        return Err(ArmError::bad_request(format!(
            "The problem classification '{pc_id}' does not belong to service '{service_id}'."
        ))
        .target("properties.problemClassificationId"));
    };
    let key = ticket_key(sub, name);
    if cloud.tickets.contains_key(&key) {
        return Err(ArmError::new(409, "Conflict", format!("A support ticket named '{name}' already exists; choose another name (checkNameAvailability tells which are free).")));
    }
    // The desk acts only on the DevOps-security classification of Defender for Cloud, and only
    // when the ticket names two different connectors (the old and the new).
    let release = if svc.name == DEFENDER_SERVICE && pc_name == DEVOPS_CLASSIFICATION {
        let resource =
            p.pointer("/technicalTicketDetails/resourceId").and_then(Value::as_str).unwrap_or("");
        let mut ids = connector_ids(resource);
        for id in connector_ids(&format!("{title}\n{description}")) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        (ids.len() >= 2).then(|| (ids[0].clone(), ids[1].clone()))
    } else {
        None
    };
    cloud.counter += 1;
    let ticket_id = format!("{}", 2_600_000_000_000u64 + cloud.counter);
    let mut props = p.clone();
    props["serviceDisplayName"] = json!(svc.display_name);
    props["problemClassificationDisplayName"] = json!(pc_display);
    let release_due =
        release.as_ref().map(|_| ctx.now + ctx.shared.config.release_delay.as_secs_f64());
    cloud.tickets.insert(
        key,
        Ticket {
            subscription: sub.to_string(),
            name: name.to_string(),
            ticket_id: ticket_id.clone(),
            properties: props,
            created_at: ctx.now,
            modified_at: ctx.now,
            release,
            release_due,
            released: false,
            recreate_due: None,
            held_alerts: Vec::new(),
            recreated: None,
        },
    );
    let base = format!("{}/subscriptions/{sub}/providers/Microsoft.Support", ctx.shared.base_url);
    let v = ctx.api_version().unwrap_or("");
    let secs = ctx.shared.config.lro_delay.as_secs_f64().ceil().max(1.0) as u64;
    Ok(Reply::empty(202)
        .header("Location", format!("{base}/operationResults/{ticket_id}?api-version={v}"))
        .header(
            "Azure-AsyncOperation",
            format!("{base}/operationsStatus/{ticket_id}?api-version={v}"),
        )
        .header("Retry-After", secs.to_string()))
}

fn update_ticket(ctx: &Ctx, sub: &str, name: &str) -> ArmResult {
    let body = ctx.json_body()?;
    if let Some(s) = body.get("severity").and_then(Value::as_str) {
        one_of(s, "severity", SEVERITIES)?;
    }
    if let Some(s) = body.get("status").and_then(Value::as_str) {
        one_of(s, "status", &["open", "closed"])?;
    }
    if let Some(s) = body.get("advancedDiagnosticConsent").and_then(Value::as_str) {
        one_of(s, "advancedDiagnosticConsent", &["Yes", "No"])?;
    }
    let mut cloud = ctx.shared.cloud();
    let t = cloud
        .tickets
        .get_mut(&ticket_key(sub, name))
        .ok_or_else(|| ArmError::not_found(&format!("Microsoft.Support/supportTickets/{name}")))?;
    for f in ["severity", "advancedDiagnosticConsent", "secondaryConsent"] {
        if let Some(v) = body.get(f) {
            t.properties[f] = v.clone();
        }
    }
    if let Some(s) = body.get("status").and_then(Value::as_str) {
        t.properties["status"] = json!(if s == "closed" { "Closed" } else { "Open" });
    }
    if let Some(Value::Object(cd)) = body.get("contactDetails") {
        for (k, v) in cd {
            t.properties["contactDetails"][k] = v.clone();
        }
    }
    t.modified_at = ctx.now;
    Ok(Reply::ok(ticket_json(ctx, t)))
}

fn ticket_json(ctx: &Ctx, t: &Ticket) -> Value {
    let mut p = t.properties.clone();
    p["supportTicketId"] = json!(t.ticket_id);
    p["require24X7Response"] = json!(p.get("require24X7Response").cloned().unwrap_or(json!(false)));
    if p.get("status").is_none() {
        p["status"] = json!("Open");
    }
    p["serviceLevelAgreement"] = json!({
        "startTime": ctx.stamp(t.created_at),
        "expirationTime": ctx.stamp(t.created_at + 4.0 * 3600.0),
        "slaMinutes": 240,
    });
    // Fields the 2026-06-01 API added; the desk assigns an engineer at creation.
    p["supportEngineer"] = json!({"emailAddress": "devops-security-desk@support.example.com"});
    p["supportChannel"] = json!("Email");
    p["chatConversationStatus"] = json!("None");
    p["directConnectEscalation"] = json!({"azureEEStatus": "EscalationUnavailable"});
    p["communityForumPost"] = json!("");
    p["supportPlanType"] = json!("Premier");
    p["supportPlanDisplayName"] = json!("Premier");
    p["createdDate"] = json!(ctx.stamp(t.created_at));
    p["modifiedDate"] = json!(ctx.stamp(t.modified_at));
    json!({
        "id": format!("/subscriptions/{}/providers/Microsoft.Support/supportTickets/{}", t.subscription, t.name),
        "name": t.name,
        "type": "Microsoft.Support/supportTickets",
        "properties": p,
    })
}

/// Performs every release that is due: ownership moves from the old connector to the new one and
/// the old connector's `securityresources` rows go (its alerts are held for the recreation).
/// Then every recreation that is due: Microsoft's side is recreated for the new connector, or,
/// when `no_recreate` names the release, never.
pub fn settle(cloud: &mut Cloud, now: f64, config: &SimConfig, no_recreate: &[String]) {
    let due: Vec<String> = cloud
        .tickets
        .iter()
        .filter(|(_, t)| !t.released && t.release_due.is_some_and(|d| d <= now))
        .map(|(k, _)| k.clone())
        .collect();
    for k in due {
        let Some((old, new)) = cloud.tickets.get(&k).and_then(|t| t.release.clone()) else {
            continue;
        };
        if !cloud.connectors.contains_key(&new) {
            // Nothing to hand the orgs to yet; the desk checks again later.
            continue;
        }
        let moved: Vec<String> =
            cloud.owners.iter().filter(|(_, o)| **o == old).map(|(item, _)| item.clone()).collect();
        for item in &moved {
            cloud.owners.insert(item.clone(), new.clone());
        }
        if let Some(d) = cloud.connectors.get_mut(&new).and_then(|c| c.devops.as_mut()) {
            for item in &moved {
                if let Some((_, name)) = item.split_once('/') {
                    if !d.visible.iter().any(|v| v == name) {
                        d.visible.push(name.to_string());
                    }
                }
            }
        }
        // The old connector's findings are about resources it no longer owns: they go now,
        // and Microsoft recreates them for the new connector later (or never).
        let held: Vec<Value> = cloud
            .take_security_rows(&old)
            .into_iter()
            .filter(|r| {
                r.get("type").and_then(Value::as_str) == Some("microsoft.security/locations/alerts")
            })
            .collect();
        if let Some(t) = cloud.tickets.get_mut(&k) {
            let released_at = t.release_due.unwrap_or(now);
            t.released = true;
            t.properties["status"] = json!("Closed");
            t.modified_at = now;
            t.recreate_due = Some(released_at + config.recreation_delay.as_secs_f64());
            t.held_alerts = held;
        }
    }
    let due: Vec<String> = cloud
        .tickets
        .iter()
        .filter(|(_, t)| t.recreated.is_none() && t.recreate_due.is_some_and(|d| d <= now))
        .map(|(k, _)| k.clone())
        .collect();
    for k in due {
        let Some(t) = cloud.tickets.get_mut(&k) else { continue };
        let (Some((old, new)), Some(at)) = (t.release.clone(), t.recreate_due) else { continue };
        let held = std::mem::take(&mut t.held_alerts);
        let spec = FaultSpec { no_recreate: no_recreate.to_vec(), ..FaultSpec::default() };
        let refused = spec.refuses_recreation(&[&old, &new]);
        t.recreated = Some(!refused);
        if !refused {
            cloud.recreate_security_rows(&new, &held, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::tenant::{small, SMALL_SUB_PROD};

    const ALERT: &str = "microsoft.security/locations/alerts";
    const ASSESSMENT: &str = "microsoft.security/assessments";

    /// The small tenant, a replacement `ado-weu-northeurope` for `ado-weu`, and a ticket asking
    /// for the release between them, due at simulated second 100.
    fn released_at_100() -> (Cloud, String, String) {
        let mut cloud = small().build(1_700_000_000).unwrap();
        let old = connector_key(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu");
        let new = connector_key(SMALL_SUB_PROD, "rg-devsec-weu", "ado-weu-northeurope");
        let mut c = cloud.connectors[&old].clone();
        c.id = c.id.replace("ado-weu", "ado-weu-northeurope");
        c.name = "ado-weu-northeurope".into();
        c.location = "northeurope".into();
        cloud.connectors.insert(new.clone(), c);
        cloud.tickets.insert(
            "t".into(),
            Ticket {
                subscription: SMALL_SUB_PROD.into(),
                name: "t".into(),
                ticket_id: "1".into(),
                properties: json!({}),
                created_at: 0.0,
                modified_at: 0.0,
                release: Some((old.clone(), new.clone())),
                release_due: Some(100.0),
                released: false,
                recreate_due: None,
                held_alerts: Vec::new(),
                recreated: None,
            },
        );
        (cloud, old, new)
    }

    /// Rows of `ty` about `connector` (a key), with the time each alert was generated.
    fn rows(cloud: &Cloud, connector: &str, ty: &str) -> Vec<(String, String)> {
        cloud
            .security_resources
            .iter()
            .filter(|r| r["type"] == ty)
            .filter(|r| {
                security_row_subject(r)
                    .is_some_and(|s| s.to_ascii_lowercase().starts_with(&format!("{connector}/")))
            })
            .map(|r| {
                let when = r["properties"]["TimeGeneratedUtc"].as_str().unwrap_or("").to_string();
                (security_row_subject(r).unwrap_or("").to_string(), when)
            })
            .collect()
    }

    #[test]
    fn recreation_lags_the_release_and_skips_alerts_older_than_a_week() {
        let (mut cloud, old, new) = released_at_100();
        let config = SimConfig::default();
        let lag = config.recreation_delay.as_secs_f64();
        assert_eq!(lag, 8.0 * 3600.0, "the documented default");
        let old_alerts = rows(&cloud, &old, ALERT);
        assert_eq!(rows(&cloud, &old, ASSESSMENT).len(), 2, "contoso and fabrikam");
        assert_eq!(old_alerts.len(), 2, "one recent alert, one older than a week");

        settle(&mut cloud, 99.0, &config, &[]);
        assert_eq!(rows(&cloud, &old, ASSESSMENT).len(), 2, "nothing moves before the release");
        settle(&mut cloud, 100.0, &config, &[]);
        assert_eq!(cloud.owners[&item_key(Env::AzureDevOps, "contoso")], new, "released");
        assert!(
            rows(&cloud, &old, ASSESSMENT).is_empty() && rows(&cloud, &old, ALERT).is_empty(),
            "the old connector's rows go at the release"
        );
        settle(&mut cloud, 100.0 + lag - 1.0, &config, &[]);
        assert!(
            rows(&cloud, &new, ASSESSMENT).is_empty() && rows(&cloud, &new, ALERT).is_empty(),
            "not recreated before the lag"
        );
        assert_eq!(cloud.tickets["t"].recreated, None);

        settle(&mut cloud, 100.0 + lag, &config, &[]);
        let subjects: Vec<String> =
            rows(&cloud, &new, ASSESSMENT).into_iter().map(|(s, _)| s).collect();
        let new_id = cloud.connectors[&new].id.clone();
        assert_eq!(
            subjects,
            vec![
                format!("{new_id}/devops/default/azureDevOpsOrgs/contoso"),
                format!("{new_id}/devops/default/azureDevOpsOrgs/fabrikam"),
            ]
        );
        let alerts = rows(&cloud, &new, ALERT);
        let recent = old_alerts.iter().max_by_key(|(_, t)| t.clone()).unwrap();
        assert_eq!(alerts.len(), 1, "only the alert less than a week old: {alerts:?}");
        assert_eq!(alerts[0].1, recent.1, "the recreated alert keeps its time");
        assert!(alerts[0].0.starts_with(&new_id), "{alerts:?}");
        assert_eq!(cloud.tickets["t"].recreated, Some(true));

        // Settling again recreates nothing twice.
        settle(&mut cloud, 100.0 + 2.0 * lag, &config, &[]);
        assert_eq!(rows(&cloud, &new, ASSESSMENT).len() + rows(&cloud, &new, ALERT).len(), 3);
    }

    #[test]
    fn a_recreation_more_than_a_week_late_recreates_no_alert() {
        let (mut cloud, _, new) = released_at_100();
        let config = SimConfig {
            recreation_delay: std::time::Duration::from_secs(8 * 24 * 3600),
            ..SimConfig::default()
        };
        settle(&mut cloud, 100.0 + 8.0 * 24.0 * 3600.0, &config, &[]);
        assert_eq!(rows(&cloud, &new, ASSESSMENT).len(), 2);
        assert!(rows(&cloud, &new, ALERT).is_empty(), "both alerts are older than a week by then");
    }

    #[test]
    fn the_no_recreate_fault_leaves_the_new_connector_without_microsofts_side() {
        for names in [
            vec!["all".to_string()],
            vec!["ADO-WEU".to_string()],
            vec!["ado-weu-northeurope".to_string()],
        ] {
            let (mut cloud, old, new) = released_at_100();
            let config = SimConfig::default();
            settle(&mut cloud, 1e6, &config, &names);
            assert_eq!(cloud.owners[&item_key(Env::AzureDevOps, "contoso")], new, "released");
            for c in [&old, &new] {
                assert!(
                    rows(&cloud, c, ASSESSMENT).is_empty() && rows(&cloud, c, ALERT).is_empty(),
                    "{names:?}: no rows for {c}"
                );
            }
            assert_eq!(cloud.tickets["t"].recreated, Some(false));
            // The desk's decision is final: lifting the fault later recreates nothing.
            settle(&mut cloud, 2e6, &config, &[]);
            assert!(rows(&cloud, &new, ASSESSMENT).is_empty(), "{names:?}");
        }
        // Another connector's name does not stop this release's recreation.
        let (mut cloud, _, new) = released_at_100();
        settle(&mut cloud, 1e6, &SimConfig::default(), &["gitlab-weu".to_string()]);
        assert_eq!(rows(&cloud, &new, ASSESSMENT).len(), 2);
    }

    #[test]
    fn connector_ids_are_found_in_free_text_in_order() {
        let text = "Old: /subscriptions/S1/resourceGroups/RG/providers/Microsoft.Security/securityConnectors/Old-One.\n\
                    new=(/subscriptions/s2/resourcegroups/rg2/providers/microsoft.security/securityconnectors/new) and again \
                    /subscriptions/S1/resourceGroups/RG/providers/Microsoft.Security/securityConnectors/old-one, \
                    not a connector /subscriptions/s3/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/vm";
        assert_eq!(
            connector_ids(text),
            vec![connector_key("s1", "rg", "old-one"), connector_key("s2", "rg2", "new")]
        );
        assert!(connector_ids("no ids here").is_empty());
        assert!(connector_ids("/subscriptions/").is_empty());
    }
}
