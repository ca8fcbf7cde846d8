//! Resource groups as ARM models them (Microsoft.Resources `resources.json` 2025-04-01,
//! `ResourceGroups_*`): `GET`, `HEAD` (check existence: 204/404), `PUT` (create or update),
//! `PATCH` (tags, `managedBy`), `DELETE` (with everything in the group) and the pageable list of
//! a subscription; plus what a group means
//! for the resources in it: a resource cannot be written into a group that does not exist
//! (`404 ResourceGroupNotFound`) or is being deleted (`409 ResourceGroupBeingDeleted`), and,
//! while the group's region is down, writes to its resources are blocked or go through
//! (`faults::GroupWrites`).
//!
//! Error codes and messages are ARM's as public error reports show them (`docs/simulator.md`
//! cites them); the one for a write blocked by the group's region is a choice (Microsoft
//! documents none).

use super::faults::GroupWrites;
use super::model::*;
use super::server::{ArmError, ArmResult, Ctx, Reply};
use super::versions::Family;
use serde_json::{json, Map, Value};

/// ARM's limit on a resource group name.
pub const MAX_NAME: usize = 90;

/// The code of a write refused because the resource group's region is down (a choice: Microsoft
/// documents no code for it; see `docs/simulator.md`).
pub const BLOCKED_CODE: &str = "ResourceGroupRegionUnavailable";

/// A name ARM accepts for a resource group: 1–90 letters, digits, `-`, `_`, `.`, `(`, `)`, not
/// ending with a period (the spec's `^[-\w\._\(\)]+$` and the documented length and period
/// rules).
pub fn check_group_name(name: &str) -> Result<(), ArmError> {
    let shown: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME {
        return Err(ArmError::new(
            400,
            "InvalidResourceGroup",
            format!(
                "The provided resource group name '{shown}' has {n} characters; a resource group name has 1 to {MAX_NAME} characters."
            ),
        )
        .target("resourceGroupName"));
    }
    let bad: String = name
        .chars()
        .filter(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')')))
        .filter(|c| !c.is_control())
        .collect();
    if !bad.is_empty() || name.chars().any(char::is_control) {
        return Err(ArmError::new(
            400,
            "InvalidResourceGroup",
            format!(
                "The provided resource group name '{shown}' has these invalid characters: '{bad}'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'."
            ),
        )
        .target("resourceGroupName"));
    }
    if name.ends_with('.') {
        return Err(ArmError::new(
            400,
            "InvalidResourceGroup",
            format!("The provided resource group name '{shown}' ends with a period, which is not allowed."),
        )
        .target("resourceGroupName"));
    }
    Ok(())
}

pub fn not_found(name: &str) -> ArmError {
    let shown: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
    ArmError::new(
        404,
        "ResourceGroupNotFound",
        format!("Resource group '{shown}' could not be found."),
    )
}

fn being_deleted(name: &str) -> ArmError {
    ArmError::new(
        409,
        "ResourceGroupBeingDeleted",
        format!("The resource group '{name}' is in deprovisioning state and cannot perform this operation."),
    )
}

/// The write refused because the group's region is down (`GroupWrites::Block`).
fn blocked(g: &ResourceGroup) -> ArmError {
    ArmError::new(
        503,
        BLOCKED_CODE,
        format!(
            "The resource group '{}' is located in region '{}', which is currently unavailable: Azure Resource Manager cannot update the metadata it keeps for the group's resources there, so write operations on resources in this resource group are blocked until the region recovers. Read operations are not affected. To manage the resources now, create them in a resource group located in another region.",
            g.name,
            g.region()
        ),
    )
}

fn is_write(ctx: &Ctx) -> bool {
    matches!(ctx.method.as_str(), "PUT" | "PATCH" | "DELETE")
}

fn region_down(ctx: &Ctx, region: &str) -> bool {
    ctx.shared.faults.spec().region_is_out(region)
}

/// Whether writes to the resources of `g` are blocked now.
fn writes_blocked(ctx: &Ctx, g: &ResourceGroup) -> bool {
    let spec = ctx.shared.faults.spec();
    spec.group_writes == GroupWrites::Block && spec.region_is_out(&g.region())
}

/// What a request on a resource inside `/subscriptions/{s}/resourceGroups/{g}/...` (segments
/// 1 and 3 of the path) must pass before its resource provider sees it: the group exists
/// (`404 ResourceGroupNotFound`), a write does not go into a group being deleted (`409
/// ResourceGroupBeingDeleted`), and, while the group's region is down in `block` mode, a write
/// is refused (`503 ResourceGroupRegionUnavailable`) unless the resource itself is located in a
/// down region (then it fails as today, with the outage's `503`). An unknown subscription is
/// left to the resource provider (`404 SubscriptionNotFound`).
pub fn guard(ctx: &Ctx, resource_region: Option<String>) -> Result<(), ArmError> {
    let (Some(sub), Some(rg)) = (ctx.segs.get(1), ctx.segs.get(3)) else { return Ok(()) };
    let cloud = ctx.shared.cloud();
    if !cloud.subscriptions.iter().any(|s| s.eq_ignore_ascii_case(sub)) {
        return Ok(());
    }
    let Some(g) = cloud.group(sub, rg) else { return Err(not_found(rg)) };
    if !is_write(ctx) {
        return Ok(());
    }
    if g.deleting() && ctx.method != "DELETE" {
        return Err(being_deleted(&g.name));
    }
    if resource_region.is_some_and(|r| region_down(ctx, &r)) {
        return Ok(());
    }
    if writes_blocked(ctx, g) {
        return Err(blocked(g));
    }
    Ok(())
}

/// [`guard`] for a request under a security connector: the resource's own region is the
/// connector's, or (a PUT creating one) the body's `location`.
pub fn guard_connector(ctx: &Ctx) -> Result<(), ArmError> {
    let region = match (ctx.segs.get(1), ctx.segs.get(3), ctx.segs.get(7)) {
        (Some(sub), Some(rg), Some(name)) => {
            let key = connector_key(sub, rg, name);
            let own = ctx.shared.cloud().connectors.get(&key).map(Connector::region);
            own.or_else(|| {
                serde_json::from_slice::<Value>(&ctx.body)
                    .ok()
                    .and_then(|b| b.get("location").and_then(Value::as_str).map(normalize_region))
            })
        }
        _ => None,
    };
    guard(ctx, region)
}

fn group_json(g: &ResourceGroup) -> Value {
    let mut v = json!({
        "id": g.id(),
        "name": g.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": g.location,
        "properties": {"provisioningState": g.provisioning_state},
    });
    if g.tags.as_object().is_some_and(|t| !t.is_empty()) {
        v["tags"] = g.tags.clone();
    }
    if let Some(m) = &g.managed_by {
        v["managedBy"] = json!(m);
    }
    v
}

fn check_tags(body: &Value) -> Result<Option<Value>, ArmError> {
    match body.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => {
            Ok(Some(Value::Object(m.clone())))
        }
        Some(_) => Err(ArmError::bad_request("The value of 'tags' must be an object of strings.")
            .target("tags")),
    }
}

fn check_managed_by(body: &Value) -> Result<Option<String>, ArmError> {
    match body.get("managedBy") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => {
            Err(ArmError::bad_request("The value of 'managedBy' must be a string.")
                .target("managedBy"))
        }
    }
}

/// `/subscriptions/{s}/resourcegroups` and `/subscriptions/{s}/resourcegroups/{name}`.
pub fn route(ctx: &Ctx) -> ArmResult {
    ctx.require(Family::ResourceGroups, "resourceGroups", "global")?;
    let sub = ctx.segs[1].clone();
    {
        let cloud = ctx.shared.cloud();
        if !cloud.subscriptions.iter().any(|s| s.eq_ignore_ascii_case(&sub)) {
            return Err(ArmError::new(
                404,
                "SubscriptionNotFound",
                format!("The subscription '{sub}' could not be found."),
            ));
        }
    }
    let Some(name) = ctx.segs.get(3).cloned() else { return list(ctx, &sub) };
    let head = ctx.method == "HEAD";
    if let Err(e) = check_group_name(&name) {
        return if head { Ok(Reply::empty(e.status)) } else { Err(e) };
    }
    match ctx.method.as_str() {
        "GET" => {
            let cloud = ctx.shared.cloud();
            let g = cloud.group(&sub, &name).ok_or_else(|| not_found(&name))?;
            Ok(Reply::ok(group_json(g)))
        }
        // ResourceGroups_CheckExistence: 204 or 404, never a body.
        "HEAD" => {
            let cloud = ctx.shared.cloud();
            Ok(Reply::empty(if cloud.group(&sub, &name).is_some() { 204 } else { 404 }))
        }
        "PUT" => put(ctx, &sub, &name),
        "PATCH" => patch(ctx, &sub, &name),
        "DELETE" => delete(ctx, &sub, &name),
        _ => Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{}' is not allowed on this resource.", ctx.method),
        )),
    }
}

fn put(ctx: &Ctx, sub: &str, name: &str) -> ArmResult {
    let body = ctx.json_body()?;
    let Some(location) = body.get("location").and_then(Value::as_str) else {
        return Err(ArmError::new(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        )
        .target("location"));
    };
    let region = normalize_region(location);
    if region.is_empty() {
        return Err(ArmError::new(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        )
        .target("location"));
    }
    let tags = check_tags(&body)?;
    let managed_by = check_managed_by(&body)?;
    let mut cloud = ctx.shared.cloud();
    let key = group_key(sub, name);
    if let Some(g) = cloud.resource_groups.get(&key) {
        if g.deleting() {
            return Err(being_deleted(&g.name));
        }
        if g.region() != region {
            return Err(ArmError::new(
                409,
                "InvalidResourceGroupLocation",
                format!(
                    "Invalid resource group location '{location}'. The Resource group already exists in location '{}'.",
                    g.location
                ),
            ));
        }
        if writes_blocked(ctx, g) {
            return Err(blocked(g));
        }
    }
    let created = !cloud.resource_groups.contains_key(&key);
    let g = ResourceGroup {
        subscription: sub.to_string(),
        name: cloud
            .resource_groups
            .get(&key)
            .map(|g| g.name.clone())
            .unwrap_or_else(|| name.to_string()),
        location: region,
        tags: tags.unwrap_or_else(|| json!({})),
        provisioning_state: "Succeeded".into(),
        managed_by,
    };
    // A new group's metadata lives in its own region: creating one there while the region is
    // down is blocked like any other write to it.
    if created && writes_blocked(ctx, &g) {
        return Err(blocked(&g));
    }
    let v = group_json(&g);
    cloud.resource_groups.insert(key, g);
    Ok(Reply::json(if created { 201 } else { 200 }, v).confirmed(None, ctx.now))
}

/// `ResourceGroups_Delete`: the group and *every resource in it* (its connectors, with their
/// DevOps resources, ownership and `securityresources` rows, and the tenant's extra resources
/// there), as ARM deletes a group's content with it. Answered `202 Accepted` with `Location`
/// (`/subscriptions/{s}/operationresults/{id}`, [`operation_result`]) and `Retry-After`, as the
/// spec declares; the deletion itself is done at once (a choice: ARM takes minutes, and a client
/// must follow the `Location` either way); `404 ResourceGroupNotFound` when there is none; blocked like any write while the
/// group's region is down.
fn delete(ctx: &Ctx, sub: &str, name: &str) -> ArmResult {
    let mut cloud = ctx.shared.cloud();
    let key = group_key(sub, name);
    let Some(g) = cloud.resource_groups.get(&key) else { return Err(not_found(name)) };
    if writes_blocked(ctx, g) {
        return Err(blocked(g));
    }
    let prefix = format!("/subscriptions/{sub}/resourcegroups/{name}/").to_ascii_lowercase();
    let inside: Vec<String> =
        cloud.connectors.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
    for k in &inside {
        cloud.take_security_rows(k);
        cloud.connectors.remove(k);
        cloud.owners.retain(|_, o| o != k);
    }
    cloud.extra_resources.retain(|r| {
        let id = r.get("id").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
        !id.starts_with(&prefix)
    });
    cloud.resource_groups.remove(&key);
    let token: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    let location = format!(
        "{}/subscriptions/{sub}/operationresults/{DELETE_OPERATION}{token}?api-version={}",
        ctx.shared.base_url,
        ctx.api_version().unwrap_or("2025-04-01")
    );
    Ok(Reply::empty(202)
        .header("Location", location)
        .header("Retry-After", "1")
        .confirmed(None, ctx.now))
}

/// The prefix of the operation a group deletion hands out as its `Location`.
const DELETE_OPERATION: &str = "deleteresourcegroup-";

/// `GET /subscriptions/{s}/operationresults/{id}`: the `Location` of a group deletion. `202`
/// (with `Retry-After`) while the group is there, `200` once it is gone, `404` for an operation
/// this simulator never handed out.
pub fn operation_result(ctx: &Ctx) -> ArmResult {
    if ctx.method != "GET" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{}' is not allowed on this resource.", ctx.method),
        ));
    }
    let sub = ctx.segs[1].clone();
    let id = ctx.segs[3].to_ascii_lowercase();
    let name = id
        .strip_prefix(DELETE_OPERATION)
        .filter(|h| h.len() % 2 == 0 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|h| {
            let bytes: Option<Vec<u8>> = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
                .collect();
            bytes.and_then(|b| String::from_utf8(b).ok())
        })
        .ok_or_else(|| {
            ArmError::new(
                404,
                "NotFound",
                format!("The operation '{}' could not be found.", ctx.segs[3]),
            )
        })?;
    if ctx.shared.cloud().group(&sub, &name).is_some() {
        return Ok(Reply::empty(202).header("Retry-After", "1"));
    }
    Ok(Reply::empty(200))
}

fn patch(ctx: &Ctx, sub: &str, name: &str) -> ArmResult {
    let body = ctx.json_body()?;
    let tags = check_tags(&body)?;
    let managed_by = check_managed_by(&body)?;
    let mut cloud = ctx.shared.cloud();
    let blocked_now = match cloud.group(sub, name) {
        None => return Err(not_found(name)),
        Some(g) if g.deleting() => return Err(being_deleted(&g.name)),
        Some(g) => writes_blocked(ctx, g).then(|| blocked(g)),
    };
    if let Some(e) = blocked_now {
        return Err(e);
    }
    let Some(g) = cloud.resource_groups.get_mut(&group_key(sub, name)) else {
        return Err(not_found(name));
    };
    if let Some(t) = tags {
        g.tags = t;
    }
    if managed_by.is_some() {
        g.managed_by = managed_by;
    }
    Ok(Reply::ok(group_json(g)).confirmed(None, ctx.now))
}

/// `$filter` of the list: `tagName eq 'N'` or `tagName eq 'N' and tagValue eq 'V'` (the forms
/// the API documents); anything else is refused rather than ignored.
fn tag_filter(ctx: &Ctx) -> Result<Option<(String, Option<String>)>, ArmError> {
    let Some(f) = ctx.query.get("$filter") else { return Ok(None) };
    let bad = || {
        ArmError::bad_request(format!(
            "The $filter '{}' is not supported: use tagName eq 'NAME' or tagName eq 'NAME' and tagValue eq 'VALUE'.",
            f.chars().filter(|c| !c.is_control()).take(200).collect::<String>()
        ))
        .target("$filter")
    };
    let quoted = |part: &str, key: &str| -> Option<String> {
        let rest = part.trim().strip_prefix(key)?.trim_start();
        let rest = rest.strip_prefix("eq")?.trim();
        let inner = rest.strip_prefix('\'')?.strip_suffix('\'')?;
        Some(inner.to_string())
    };
    let mut parts = f.splitn(2, " and ");
    let name = parts.next().and_then(|p| quoted(p, "tagName")).ok_or_else(bad)?;
    let value = match parts.next() {
        None => None,
        Some(p) => Some(quoted(p, "tagValue").ok_or_else(bad)?),
    };
    Ok(Some((name, value)))
}

fn list(ctx: &Ctx, sub: &str) -> ArmResult {
    if ctx.method != "GET" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{}' is not allowed on this resource.", ctx.method),
        ));
    }
    let filter = tag_filter(ctx)?;
    let top = match ctx.query.get("$top") {
        None => None,
        Some(t) => Some(t.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            ArmError::bad_request(format!("The $top '{t}' is not a positive whole number."))
                .target("$top")
        })?),
    };
    let items: Vec<Value> = {
        let cloud = ctx.shared.cloud();
        cloud
            .resource_groups
            .values()
            .filter(|g| g.subscription.eq_ignore_ascii_case(sub))
            .filter(|g| match &filter {
                None => true,
                Some((n, v)) => {
                    let tags: Map<String, Value> = g.tags.as_object().cloned().unwrap_or_default();
                    tags.iter().any(|(k, tv)| {
                        k.eq_ignore_ascii_case(n)
                            && v.as_ref().is_none_or(|v| tv.as_str() == Some(v.as_str()))
                    })
                }
            })
            .map(group_json)
            .take(top.unwrap_or(usize::MAX))
            .collect()
    };
    // One page, with a `nextLink` that keeps the filter (`Ctx::page` would drop it).
    let skip = ctx.skip()?;
    let size = ctx.shared.config.page_size.max(1);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(skip).take(size).collect();
    let mut body = json!({ "value": page });
    if skip.saturating_add(size) < total {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("api-version", ctx.api_version().unwrap_or_default());
        if let Some(f) = ctx.query.get("$filter") {
            q.append_pair("$filter", f);
        }
        if let Some(t) = top {
            q.append_pair("$top", &t.to_string());
        }
        q.append_pair("$skipToken", &(skip + size).to_string());
        body["nextLink"] = json!(ctx.url(&format!("/{}", ctx.segs.join("/")), &q.finish()));
    }
    Ok(Reply::ok(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_arm_does() {
        for good in ["rg-devsec-weu", "RG_1.(a)", "é-group", &"r".repeat(90)] {
            assert!(check_group_name(good).is_ok(), "{good}");
        }
        let e = check_group_name("rg ops!").unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "InvalidResourceGroup"));
        assert!(e.message.contains("invalid characters: ' !'"), "{}", e.message);
        assert!(check_group_name("rg.").unwrap_err().message.contains("period"));
        assert!(check_group_name("").unwrap_err().message.contains("0 characters"));
        assert!(check_group_name(&"r".repeat(91)).unwrap_err().message.contains("91"));
        assert!(check_group_name("a\u{0}b").is_err());
    }
}
