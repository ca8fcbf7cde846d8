//! The HTTP clients lifeboat builds (the ARM pipeline, the credentials' token requests, the
//! backup store's proxy settings), with the same two rules:
//!
//! - **No redirect is followed.** A 3xx comes back to the caller, which fails with it: following
//!   it would send the request again, body included (an OAuth code in a `devops/default` PUT),
//!   to whatever host the answer names.
//! - **No proxy for a local host** (loopback, or link-local such as the instance metadata
//!   service at 169.254.169.254). The proxy variables (`HTTP_PROXY`, `ALL_PROXY`, ...) are meant
//!   for the way out; a plain-http request to the simulator through them would hand the bearer
//!   token to the proxy in clear. Any other host may use the system proxy: for https that is a
//!   `CONNECT` tunnel, so the proxy sees no header.

use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Is this URL's host the local machine, or link-local (only reachable from this machine's
/// links: the instance metadata service)? A superset of [`super::is_loopback`], which decides
/// where plain http may go; this decides where no proxy is used.
pub fn is_local(url: &Url) -> bool {
    if super::is_loopback(url) {
        return true;
    }
    match url.host() {
        Some(url::Host::Domain(d)) => {
            d.trim_end_matches('.').to_ascii_lowercase().ends_with(".localhost")
                || d.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_link_local() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_unspecified()
                // fe80::/10
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_link_local())
        }
        None => false,
    }
}

/// A reqwest client builder for requests to `target`: redirects off, and no proxy at all when
/// `target` is local (otherwise the system proxy, as reqwest reads it).
pub fn client_builder(target: &Url) -> reqwest::ClientBuilder {
    let b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if is_local(target) {
        b.no_proxy()
    } else {
        b
    }
}

/// The managed identity endpoint `azure_identity` will call, as it picks it from the
/// environment: `IDENTITY_ENDPOINT`, `MSI_ENDPOINT`, or the instance metadata service.
fn managed_identity_endpoint(env: &dyn Fn(&str) -> Option<String>) -> Option<Url> {
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    match var("IDENTITY_ENDPOINT").or_else(|| var("MSI_ENDPOINT")) {
        Some(e) => Url::parse(e.trim()).ok(),
        None => Url::parse("http://169.254.169.254/metadata/identity/oauth2/token").ok(),
    }
}

/// The transport of an `azure_identity` credential. azure_core's own reqwest client follows no
/// redirect either; lifeboat passes its own so that a managed identity endpoint on this machine
/// (App Service, Arc, Cloud Shell, the metadata service) is never reached through a proxy.
/// `managed_identity` says whether the credential is one; the others reach Entra ID (or the
/// Azure Pipelines OIDC endpoint) over https and may use the system proxy.
pub fn credential_transport(
    managed_identity: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<azure_core::http::Transport, String> {
    let local = managed_identity && managed_identity_endpoint(env).is_none_or(|u| is_local(&u));
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // azure_core's defaults for its own client.
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60));
    if local {
        b = b.no_proxy();
    }
    let client = b.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(azure_core::http::Transport::new(Arc::new(client)))
}

/// The transport of a credential whose authority host is plain http on this machine
/// (`AZURE_AUTHORITY_HOST=http://127.0.0.1:PORT`, the simulator's token endpoint).
/// `azure_identity` refuses an authority that is not https, so it is given `https://` with the
/// same host and port, and this transport sends exactly that origin's requests as plain http
/// (loopback only, never through a proxy); any other request is sent as it is.
pub fn loopback_authority_transport(
    https_origin: &Url,
) -> Result<azure_core::http::Transport, String> {
    if !super::is_loopback(https_origin) {
        return Err(format!("{https_origin} is not a loopback address"));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(azure_core::http::Transport::new(Arc::new(LoopbackAuthority {
        inner: client,
        origin: https_origin.origin(),
    })))
}

/// See [`loopback_authority_transport`].
#[derive(Debug)]
struct LoopbackAuthority {
    inner: reqwest::Client,
    origin: url::Origin,
}

#[async_trait::async_trait]
impl azure_core::http::HttpClient for LoopbackAuthority {
    async fn execute_request(
        &self,
        request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        if request.url().origin() != self.origin {
            return self.inner.execute_request(request).await;
        }
        let mut plain = request.clone();
        if plain.url_mut().set_scheme("http").is_err() {
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                "cannot send the token request to the loopback authority over http",
            ));
        }
        self.inner.execute_request(&plain).await
    }
}

/// Hosts that never go through a proxy, in `NO_PROXY` syntax.
pub const LOCAL_HOSTS: &str = "localhost,.localhost,127.0.0.0/8,::1,169.254.0.0/16,fe80::/10";

/// A proxy that is never used: object_store's client options take one proxy for every scheme
/// (and setting one turns reqwest's system proxy off), so "no proxy" is this one with
/// everything excluded.
const UNUSED_PROXY: &str = "http://127.0.0.1:9";
const EVERYTHING: &str = "*,0.0.0.0/0,::/0";

/// The proxy settings (`proxy_url`, `proxy_excludes`) of object_store's Azure client for a
/// storage endpoint, or `None` to leave object_store's defaults (the system proxy; only when no
/// proxy variable is set). object_store uses one proxy for every scheme and reqwest's system
/// proxy otherwise, which would send the metadata service's plain-http token requests, or every
/// request to a loopback Azurite, through `HTTP_PROXY`:
///
/// - a local endpoint (Azurite): no proxy at all;
/// - a proxy configured for object_store itself (`configured`, from `AZURE_PROXY_URL` or the
///   store options): kept, with [`LOCAL_HOSTS`] added to its exclusions;
/// - otherwise `HTTPS_PROXY` (or `ALL_PROXY`) for the https endpoint, `NO_PROXY` and
///   [`LOCAL_HOSTS`] excluded; with only `HTTP_PROXY` set, no proxy (https is not proxied by it
///   anyway).
pub fn object_store_proxy(
    endpoint_is_local: bool,
    configured: Option<(String, Option<String>)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, String)> {
    let var = |names: &[&str]| names.iter().find_map(|n| env(n).filter(|v| !v.trim().is_empty()));
    let join = |a: Option<String>| match a {
        Some(a) if !a.trim().is_empty() => format!("{},{LOCAL_HOSTS}", a.trim()),
        _ => LOCAL_HOSTS.to_owned(),
    };
    if endpoint_is_local {
        return Some((UNUSED_PROXY.to_owned(), EVERYTHING.to_owned()));
    }
    if let Some((url, excludes)) = configured {
        return Some((url, join(excludes)));
    }
    let any =
        var(&["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]);
    any.as_ref()?;
    match var(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]) {
        Some(p) => Some((p.trim().to_owned(), join(var(&["NO_PROXY", "no_proxy"])))),
        None => Some((UNUSED_PROXY.to_owned(), EVERYTHING.to_owned())),
    }
}

/// Applies [`object_store_proxy`] to the backup store's Azure builder (its endpoint read the way
/// object_store reads it: Azurite's `AZURITE_BLOB_STORAGE_URL` or `http://127.0.0.1:10000`, or
/// the configured endpoint). object_store follows redirects with reqwest's default policy
/// (up to 10, dropping `Authorization` on a hop to another host); its client options cannot
/// turn that off, so only the proxy is set here.
pub fn object_store_azure(
    builder: object_store::azure::MicrosoftAzureBuilder,
) -> object_store::azure::MicrosoftAzureBuilder {
    use object_store::azure::AzureConfigKey as K;
    use object_store::ClientConfigKey as C;
    let lookup = |k: &str| std::env::var(k).ok();
    let endpoint = if builder.get_config_value(&K::UseEmulator).is_some_and(|v| v == "true") {
        Some(
            lookup("AZURITE_BLOB_STORAGE_URL")
                .unwrap_or_else(|| "http://127.0.0.1:10000".to_owned()),
        )
    } else {
        builder.get_config_value(&K::Endpoint)
    };
    let local = endpoint.and_then(|e| Url::parse(e.trim()).ok()).is_some_and(|u| is_local(&u));
    let configured = builder
        .get_config_value(&K::Client(C::ProxyUrl))
        .filter(|u| !u.trim().is_empty())
        .map(|u| (u, builder.get_config_value(&K::Client(C::ProxyExcludes))));
    match object_store_proxy(local, configured, &lookup) {
        Some((url, excludes)) => builder.with_proxy_url(url).with_proxy_excludes(excludes),
        None => builder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn local_hosts_are_loopback_and_link_local_only() {
        for l in [
            "http://127.0.0.1:8080/",
            "http://127.0.0.2/",
            "http://localhost:1/",
            "http://LOCALHOST./",
            "http://sim.localhost/",
            "http://[::1]:1/",
            "http://169.254.169.254/metadata",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
        ] {
            assert!(is_local(&u(l)), "{l}");
        }
        for r in [
            "https://management.azure.com/",
            "http://10.0.0.1/",
            "http://192.168.1.1/",
            "http://localhost.example.com/",
            "http://[2001:db8::1]/",
            "http://169.255.0.1/",
        ] {
            assert!(!is_local(&u(r)), "{r}");
        }
    }

    #[test]
    fn managed_identity_endpoints_are_found_as_azure_identity_finds_them() {
        let e = env(&[]);
        assert_eq!(managed_identity_endpoint(&e).unwrap().host_str(), Some("169.254.169.254"));
        let e = env(&[("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token")]);
        assert!(is_local(&managed_identity_endpoint(&e).unwrap()));
        let e = env(&[("MSI_ENDPOINT", "https://10.0.0.4:2377/")]);
        assert!(!is_local(&managed_identity_endpoint(&e).unwrap()));
        assert!(credential_transport(true, &e).is_ok());
    }

    #[test]
    fn object_store_never_proxies_local_hosts() {
        let none = env(&[]);
        assert_eq!(object_store_proxy(false, None, &none), None, "no variable: defaults kept");
        let all = env(&[("HTTP_PROXY", "http://proxy:3128"), ("HTTPS_PROXY", "http://proxy:3129")]);
        let (url, ex) = object_store_proxy(true, None, &all).unwrap();
        assert_eq!((url.as_str(), ex.as_str()), (UNUSED_PROXY, EVERYTHING), "Azurite: none");
        let (url, ex) = object_store_proxy(false, None, &all).unwrap();
        assert_eq!(url, "http://proxy:3129");
        assert_eq!(ex, LOCAL_HOSTS);
        let e = env(&[("all_proxy", "socks5h://p:1080"), ("no_proxy", "corp.example")]);
        let (url, ex) = object_store_proxy(false, None, &e).unwrap();
        assert_eq!(url, "socks5h://p:1080");
        assert_eq!(ex, format!("corp.example,{LOCAL_HOSTS}"));
        let only_http = env(&[("http_proxy", "http://proxy:3128")]);
        assert_eq!(
            object_store_proxy(false, None, &only_http).unwrap().1,
            EVERYTHING,
            "HTTP_PROXY never applies to the metadata service"
        );
        let configured = Some(("http://mine:8080".to_owned(), Some("a.example".to_owned())));
        assert_eq!(
            object_store_proxy(false, configured, &none).unwrap(),
            ("http://mine:8080".to_owned(), format!("a.example,{LOCAL_HOSTS}"))
        );
    }
}
