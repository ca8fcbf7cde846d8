//! The simulated Entra ID token endpoint: `POST /{tenant}/oauth2/v2.0/token` with the
//! client-credentials grant, as `azure_identity`'s client-secret credential calls it (pointed
//! here by `AZURE_AUTHORITY_HOST`). It issues a JWT for ARM whose claims name the principal of
//! the tenant's principal table ([`Principal`]): `oid`, `tid`, and `upn`/`unique_name` (a user)
//! or `appid` (a service principal), shaped like the v1 access tokens Entra ID issues for ARM.
//! Refusals have Entra ID's error shape (`error`, `error_description` starting with the
//! `AADSTS` code, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`).
//!
//! What is a choice (Microsoft documents the endpoint, not a simulator): a user principal may
//! sign in with the client-credentials grant (in Entra ID a person signs in interactively, e.g.
//! `az login`; here the client-secret path stands in for it so tests run the real credential);
//! tokens are signed HS256 with a key of this simulator process (Entra ID signs RS256 with keys
//! it publishes; nobody verifies these: lifeboat reads the claims and the simulated ARM does not
//! check tokens). See `docs/simulator.md`.

use super::model::{Principal, PrincipalKind};
use super::server::{Reply, Shared};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::Digest;

/// Token lifetime in seconds (Entra ID's default for access tokens is 60 to 90 minutes; its
/// answers say `expires_in: 3599` for a fresh one-hour token).
const LIFETIME: i64 = 3599;

/// Whether a path (lowercased segments) is the token endpoint: `{tenant}/oauth2/v2.0/token`.
pub fn is_token_path(lower: &[String]) -> bool {
    lower.len() == 4 && lower[1] == "oauth2" && lower[2] == "v2.0" && lower[3] == "token"
}

/// Answers a token request of `tenant` with the form `body`.
pub fn token(shared: &Shared, tenant: &str, body: &[u8]) -> Reply {
    let form: Map<String, Value> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let field = |k: &str| form.get(k).and_then(Value::as_str).map(str::to_owned);
    let now = shared.base_unix.saturating_add(shared.clock.now() as i64);
    let fail = |status: u16, error: &str, code: u32, text: String| {
        entra_error(shared, now, status, error, code, &text)
    };
    let cloud = shared.cloud();
    if !tenant.eq_ignore_ascii_case(&cloud.tenant_id) {
        return fail(
            400,
            "invalid_request",
            90002,
            format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
        );
    }
    match field("grant_type").as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return fail(
                400,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            )
        }
        None => {
            return fail(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.".into(),
            )
        }
    }
    let Some(client_id) = field("client_id").filter(|c| !c.is_empty()) else {
        return fail(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.".into(),
        );
    };
    let Some(p) = cloud.principals.iter().find(|p| p.client_id.eq_ignore_ascii_case(&client_id))
    else {
        return fail(
            400,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
        );
    };
    match field("client_secret") {
        None => {
            return fail(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.".into(),
            )
        }
        Some(s) if s != p.secret => {
            return fail(
                401,
                "invalid_client",
                7000215,
                format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", p.client_id),
            )
        }
        Some(_) => {}
    }
    let Some(scope) = field("scope").filter(|s| !s.trim().is_empty()) else {
        return fail(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.".into(),
        );
    };
    let Some(resource) = scope.trim().strip_suffix("/.default").filter(|r| !r.contains(' ')) else {
        return fail(
            400,
            "invalid_scope",
            1002012,
            format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        );
    };
    let claims = claims(p, &cloud.tenant_id, resource, now, &shared.fresh_id());
    drop(cloud);
    Reply::ok(json!({
        "token_type": "Bearer",
        "expires_in": LIFETIME,
        "ext_expires_in": LIFETIME,
        "access_token": jwt(&key(shared), &claims),
    }))
}

/// The claims of an ARM access token for `p` (v1 shape), without those `p.omit_claims` names.
fn claims(p: &Principal, tenant: &str, resource: &str, now: i64, uti: &str) -> Value {
    let mut c = json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now,
        "nbf": now,
        "exp": now + LIFETIME,
        "appid": p.client_id,
        "appidacr": "1",
        "idp": format!("https://sts.windows.net/{tenant}/"),
        "oid": p.object_id,
        "sub": p.object_id,
        "tid": tenant,
        "uti": uti,
        "ver": "1.0",
    });
    match p.kind {
        PrincipalKind::User => {
            c["idtyp"] = json!("user");
            if let Some(upn) = &p.upn {
                c["upn"] = json!(upn);
                c["unique_name"] = json!(upn);
            }
            if let Some(name) = &p.display_name {
                c["name"] = json!(name);
            }
        }
        PrincipalKind::ServicePrincipal => {
            c["idtyp"] = json!("app");
            if let Some(name) = &p.display_name {
                c["app_displayname"] = json!(name);
            }
        }
    }
    if let Some(obj) = c.as_object_mut() {
        for k in &p.omit_claims {
            obj.remove(k);
        }
    }
    c
}

/// The HS256 key of this simulator process.
fn key(shared: &Shared) -> Vec<u8> {
    sha2::Sha256::digest(format!("lifeboat-sim-entra-{}", shared.key_salt()).as_bytes()).to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT: `header.claims.signature`, HS256.
fn jwt(key: &[u8], claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": "HS256", "kid": "lifeboat-sim"});
    let signing =
        format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    format!("{signing}.{}", b64(&hmac_sha256(key, signing.as_bytes())))
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut k = if key.len() > BLOCK { sha2::Sha256::digest(key).to_vec() } else { key.to_vec() };
    k.resize(BLOCK, 0);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let mut inner = sha2::Sha256::new();
    inner.update(pad(0x36));
    inner.update(message);
    let mut outer = sha2::Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// Entra ID's error answer.
fn entra_error(
    shared: &Shared,
    now: i64,
    status: u16,
    error: &str,
    code: u32,
    text: &str,
) -> Reply {
    let trace = shared.fresh_id();
    let correlation = shared.fresh_id();
    let stamp = time::OffsetDateTime::from_unix_timestamp(now)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z"))
        .unwrap_or_default();
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}"),
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

/// The principals of the built-in tenants (documented in `docs/simulator.md`): two people and a
/// pipeline's service principal.
pub fn builtin_principals() -> Vec<Principal> {
    let user = |name: &str, n: u32, display: &str| Principal {
        kind: PrincipalKind::User,
        client_id: format!("00000000-0000-4000-a000-0000000000{n:02x}"),
        secret: format!("{name}-sim-secret"),
        object_id: format!("00000000-0000-4000-b000-0000000000{n:02x}"),
        upn: Some(format!("{name}@contoso.onmicrosoft.com")),
        display_name: Some(display.into()),
        omit_claims: Vec::new(),
    };
    vec![
        user("alice", 1, "Alice Example"),
        user("bob", 2, "Bob Example"),
        Principal {
            kind: PrincipalKind::ServicePrincipal,
            client_id: "00000000-0000-4000-a000-000000000003".into(),
            secret: "pipeline-sim-secret".into(),
            object_id: "00000000-0000-4000-b000-000000000003".into(),
            upn: None,
            display_name: Some("lifeboat-pipeline".into()),
            omit_claims: Vec::new(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_service_principal_token_names_its_app_and_omitted_claims_are_left_out() {
        let mut sp = builtin_principals()[2].clone();
        let c = claims(&sp, "t-1", "https://management.azure.com", 100, "u");
        assert_eq!(c["appid"], sp.client_id.as_str());
        assert_eq!(c["oid"], sp.object_id.as_str());
        assert_eq!((c["tid"].as_str(), c["idtyp"].as_str()), (Some("t-1"), Some("app")));
        assert!(c.get("upn").is_none());
        sp.omit_claims = vec!["oid".into()];
        assert!(claims(&sp, "t", "r", 0, "u").get("oid").is_none());
        let alice = &builtin_principals()[0];
        let c = claims(alice, "t", "r", 0, "u");
        assert_eq!(c["upn"], "alice@contoso.onmicrosoft.com");
    }
}
