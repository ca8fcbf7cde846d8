//! The run store's account, endpoint and credential, read from the same `AZURE_STORAGE_*`
//! variables as the backup store's `az://` (`backup::store`), so one environment serves both.
//!
//! - an account key (`AZURE_STORAGE_ACCOUNT_KEY`, or the emulator's well-known key) never
//!   leaves the process: it signs an account SAS (blob service, 30 days: a driver of a run of
//!   days keeps working; one process driving longer must be resumed) put on each request URL;
//! - `AZURE_STORAGE_SAS_KEY` (a SAS query string) is used as it is;
//! - otherwise Entra ID through `azure_identity` (a service principal from `AZURE_CLIENT_ID`,
//!   `AZURE_TENANT_ID`, `AZURE_CLIENT_SECRET`, else the developer tools: `az login`, `azd`),
//!   which needs an https endpoint.
//!
//! URLs carrying a SAS are secrets: [`Account::display`] is what messages show.

use super::StoreError;
use azure_core::credentials::TokenCredential;
use base64::Engine;
use std::sync::Arc;
use time::OffsetDateTime;
use url::Url;

pub use crate::backup::store::AZURE_STORAGE_CREDENTIAL_HINT as CREDENTIAL_HINT;

/// Azurite's development account (public, documented by Microsoft).
pub const EMULATOR_ACCOUNT: &str = "devstoreaccount1";
const EMULATOR_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The service version the SAS is signed for.
const SAS_VERSION: &str = "2021-08-06";

/// How requests are authorized.
#[derive(Clone)]
pub enum Auth {
    /// A SAS query string (without `?`), appended to every URL.
    Sas(String),
    /// An Entra ID token credential.
    Token(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Sas(_) => "Sas(<redacted>)",
            Auth::Token(_) => "Token",
        })
    }
}

/// A storage account as the run store reaches it.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    /// The blob service endpoint, without a query (`https://NAME.blob.core.windows.net`,
    /// `http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint: Url,
    pub auth: Auth,
}

fn var(env: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| env(n).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
}

impl Account {
    /// Reads the account from the environment (`env` is `std::env::var` in the CLI; tests pass
    /// their own). `store` names the run store in errors.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        store: &str,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError> {
        let no_cred = |detail: &str| StoreError::NoCredential {
            store: store.to_string(),
            detail: detail.to_string(),
        };
        let emulator = var(env, &["AZURE_STORAGE_USE_EMULATOR"])
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let name = match var(env, &["AZURE_STORAGE_ACCOUNT_NAME"]) {
            Some(n) => n,
            None if emulator => EMULATOR_ACCOUNT.to_string(),
            None => return Err(no_cred("AZURE_STORAGE_ACCOUNT_NAME is not set")),
        };
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) || name.len() > 24 {
            return Err(no_cred(
                "AZURE_STORAGE_ACCOUNT_NAME is not a storage account name (3-24 lowercase letters and digits)",
            ));
        }
        let endpoint_text = match var(env, &["AZURE_STORAGE_ENDPOINT"]) {
            Some(e) => e,
            None if emulator => format!("http://127.0.0.1:10000/{name}"),
            None => format!("https://{name}.blob.core.windows.net"),
        };
        let mut endpoint = Url::parse(endpoint_text.trim_end_matches('/'))
            .map_err(|e| no_cred(&format!("AZURE_STORAGE_ENDPOINT is not a URL ({e})")))?;
        if endpoint.query().is_some() {
            return Err(no_cred(
                "AZURE_STORAGE_ENDPOINT carries a query: put a SAS in AZURE_STORAGE_SAS_KEY",
            ));
        }
        endpoint.set_fragment(None);
        let key = var(env, &["AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_ACCESS_KEY"])
            .or_else(|| emulator.then(|| EMULATOR_KEY.to_string()));
        let auth = if let Some(key) = key {
            let key = base64::engine::general_purpose::STANDARD
                .decode(&key)
                .map_err(|_| no_cred("AZURE_STORAGE_ACCOUNT_KEY is not base64"))?;
            Auth::Sas(account_sas(&name, &key, now, endpoint.scheme() == "http"))
        } else if let Some(sas) = var(env, &["AZURE_STORAGE_SAS_KEY", "AZURE_STORAGE_SAS_TOKEN"]) {
            Auth::Sas(sas.trim_start_matches('?').to_string())
        } else if endpoint.scheme() != "https" {
            return Err(no_cred(
                "no AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_KEY, and Entra ID needs an https endpoint",
            ));
        } else {
            Auth::Token(entra_credential(env).map_err(|e| no_cred(&e))?)
        };
        Ok(Account { name, endpoint, auth })
    }

    /// The URL of `container` (percent-encoded), with the SAS when there is one: a secret.
    pub fn container_url(&self, container: &str) -> Url {
        let mut u = self.endpoint.clone();
        if let Ok(mut segs) = u.path_segments_mut() {
            segs.pop_if_empty().push(container);
        }
        if let Auth::Sas(q) = &self.auth {
            u.set_query(Some(q));
        }
        u
    }

    /// The endpoint as messages may show it (never a query).
    pub fn display(&self) -> String {
        self.endpoint.to_string()
    }
}

/// An Entra ID credential for storage: a service principal from the environment, else the
/// developer tools (`az login`).
fn entra_credential(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn TokenCredential>, String> {
    if let (Some(tenant), Some(client), Some(secret)) = (
        var(env, &["AZURE_TENANT_ID"]),
        var(env, &["AZURE_CLIENT_ID"]),
        var(env, &["AZURE_CLIENT_SECRET"]),
    ) {
        let c = azure_identity::ClientSecretCredential::new(&tenant, client, secret.into(), None)
            .map_err(|e| {
            format!("the service principal from AZURE_CLIENT_ID cannot be used: {e}")
        })?;
        return Ok(c);
    }
    let c = azure_identity::DeveloperToolsCredential::new(None)
        .map_err(|e| format!("no Entra ID credential: {e}"))?;
    Ok(c)
}

/// An account SAS for the blob service (service `b`, resource types service/container/object,
/// permissions read, write, delete, list, add, create), valid 30 days from `now` (started 5
/// minutes before it for clock skew), signed with the account key.
pub fn account_sas(account: &str, key: &[u8], now: OffsetDateTime, allow_http: bool) -> String {
    let fmt = |t: OffsetDateTime| {
        let t = t.replace_nanosecond(0).unwrap_or(t);
        t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
    };
    let start = fmt(now - time::Duration::minutes(5));
    let expiry = fmt(now + time::Duration::days(30));
    let (sp, ss, srt) = ("rwdlac", "b", "sco");
    let spr = if allow_http { "https,http" } else { "https" };
    let to_sign =
        format!("{account}\n{sp}\n{ss}\n{srt}\n{start}\n{expiry}\n\n{spr}\n{SAS_VERSION}\n\n");
    let sig = base64::engine::general_purpose::STANDARD
        .encode(crate::digest::hmac_sha256(key, to_sign.as_bytes()));
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "sv={SAS_VERSION}&ss={ss}&srt={srt}&sp={sp}&st={}&se={}&spr={}&sig={}",
        enc(&start),
        enc(&expiry),
        enc(spr),
        enc(&sig)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn no_account_is_no_credential() {
        let e = Account::from_env(&env(&[]), "az://runs", OffsetDateTime::UNIX_EPOCH).unwrap_err();
        assert!(matches!(e, StoreError::NoCredential { .. }), "{e}");
        assert_eq!(e.exit(), crate::error::Exit::Usage);
        assert!(e.hint().unwrap().contains("AZURE_STORAGE_ACCOUNT_KEY"));
    }

    #[test]
    fn emulator_key_becomes_a_sas_and_never_shows() {
        let a = Account::from_env(
            &env(&[
                ("AZURE_STORAGE_USE_EMULATOR", "true"),
                ("AZURE_STORAGE_ENDPOINT", "http://127.0.0.1:9/devstoreaccount1"),
            ]),
            "az://runs",
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        let u = a.container_url("runs");
        assert_eq!(u.path(), "/devstoreaccount1/runs");
        assert!(u.query().unwrap().contains("sig="));
        assert!(!a.display().contains("sig"));
        assert!(!format!("{a:?}").contains("sig="));
    }

    #[test]
    fn http_without_key_or_sas_is_refused() {
        let e = Account::from_env(
            &env(&[
                ("AZURE_STORAGE_ACCOUNT_NAME", "acct"),
                ("AZURE_STORAGE_ENDPOINT", "http://127.0.0.1:9/acct"),
            ]),
            "az://runs",
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
    }
}
