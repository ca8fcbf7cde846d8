//! Issue 11, item 7: the proxy variables never see a request to a loopback endpoint, nor its
//! bearer token; and a link to plain http on a remote host is refused before anything is sent.
//! The binary runs with every proxy variable pointing at a listener on 127.0.0.1 that records
//! whatever reaches it and answers 403.

use crate::azure::TOKEN;
use crate::support::stub::{json, Stub};
use lifeboat::azure::{ApiFamily, AzureError};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A would-be proxy: records the head of every request it receives, answers 403.
struct Listener {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    async fn start() -> Listener {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < buf.len() {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    log.lock().unwrap().push(String::from_utf8_lossy(&got).into_owned());
                    let _ = s
                        .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        Listener { url, seen, task }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// An empty Resource Graph answer (`connectors list` finds nothing and exits 0).
async fn arm() -> Stub {
    Stub::start(|_r, _i| {
        json(200, json!({"totalRecords": 0, "count": 0, "resultTruncated": "false", "data": []}))
    })
    .await
}

/// `lifeboat ... connectors list` with every proxy variable set to `proxy` and no exclusion.
async fn run(args: &[&str], proxy: &str, env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = crate::support::cli::lifeboat();
    cmd.args(args).args(["connectors", "list"]);
    // Beyond the clean environment: no proxy exclusion, and no REQUEST_METHOD (reqwest ignores
    // HTTP_PROXY when it says the process runs as a CGI script).
    for (k, _) in std::env::vars() {
        let upper = k.to_ascii_uppercase();
        if upper == "NO_PROXY" || upper == "REQUEST_METHOD" {
            cmd.env_remove(k);
        }
    }
    for v in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        cmd.env(v, proxy);
    }
    cmd.env("LIFEBOAT_HTTP_RETRIES", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    crate::support::cli::output(cmd).await
}

fn bearer(stub: &Stub) -> Vec<String> {
    stub.requests().iter().filter_map(|r| r.header("authorization").map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_07_proxy_variables_never_see_a_loopback_arm_request_or_its_token() {
    let proxy = Listener::start().await;
    let arm = arm().await;
    // `--auth cli` with an `az` of our own on PATH, so a real bearer token is sent.
    let bin = tempfile::tempdir().unwrap();
    let az = bin.path().join("az");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\nprintf '%s' '{{\"accessToken\":\"{TOKEN}\",\"expires_on\":4102444800,\"tokenType\":\"Bearer\"}}'\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());

    let out =
        run(&["--arm-endpoint", &arm.url, "--auth", "cli"], &proxy.url, &[("PATH", path)]).await;

    let seen = proxy.seen();
    assert!(seen.is_empty(), "the proxy received: {seen:?}");
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(bearer(&arm), vec![format!("Bearer {TOKEN}")], "the endpoint got the token");
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_07_a_managed_identity_endpoint_on_loopback_bypasses_the_proxy() {
    let proxy = Listener::start().await;
    let arm = arm().await;
    // App Service's managed identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER).
    let identity = Stub::start(|_r, _i| {
        json(
            200,
            json!({"access_token": TOKEN, "expires_on": "4102444800", "token_type": "Bearer",
                   "resource": "https://management.azure.com"}),
        )
    })
    .await;
    let header_secret = "identity-header-secret-9c1d";

    let out = run(
        &["--arm-endpoint", &arm.url, "--auth", "managed-identity"],
        &proxy.url,
        &[
            ("IDENTITY_ENDPOINT", format!("{}msi/token", identity.url)),
            ("IDENTITY_HEADER", header_secret.to_owned()),
        ],
    )
    .await;

    let seen = proxy.seen();
    assert!(seen.is_empty(), "the proxy received: {seen:?}");
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let asked = identity.requests();
    assert!(!asked.is_empty(), "the token was asked of the identity endpoint");
    assert_eq!(asked[0].header("x-identity-header"), Some(header_secret));
    assert_eq!(bearer(&arm), vec![format!("Bearer {TOKEN}")]);
}

#[tokio::test]
async fn defect_07_a_next_link_to_plain_http_on_a_remote_host_is_refused() {
    let arm = Stub::start(|_r, i| {
        if i == 0 {
            json(200, json!({"value": [], "nextLink": "http://management.example.com/subscriptions?api-version=2022-12-01&$skipToken=2&sig=next-link-secret"}))
        } else {
            json(200, json!({"value": []}))
        }
    })
    .await;
    let (client, _timer) = crate::azure::client(&arm.url);
    let e = client.list_json("/subscriptions", ApiFamily::Subscriptions, None).await.unwrap_err();
    assert_eq!(arm.requests().len(), 1, "the next page was not asked of anyone");
    match &e {
        AzureError::Refused { target, .. } => assert_eq!(target, "http://management.example.com"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("plain http"), "{msg}");
    assert!(!msg.contains("next-link-secret") && !msg.contains(TOKEN), "{msg}");
}
