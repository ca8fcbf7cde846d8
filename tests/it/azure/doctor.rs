//! `lifeboat doctor` and `--api-version` end to end: the real binary against a stub that serves,
//! refuses and negotiates api-versions the way ARM does, and against the simulator; bad
//! overrides exit 2 before any request.

use crate::support::stub::{json, Recorded, Reply, Stub};
use lifeboat::sim::{SimConfig, TenantSource};
use serde_json::{json, Value};

const SUB: &str = "00000000-0000-4000-8000-0000000000a1";

fn connector_id() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado-weu")
}

/// The binary with a clean environment plus `env`.
async fn lifeboat(args: Vec<String>, env: Vec<(&'static str, String)>) -> std::process::Output {
    let mut cmd = crate::support::cli::lifeboat();
    cmd.envs(env).args(args);
    crate::support::cli::output(cmd).await
}

fn args(url: &str, rest: &[&str]) -> Vec<String> {
    let mut a: Vec<String> =
        vec!["--arm-endpoint".into(), url.into(), "--auth".into(), "none".into()];
    a.extend(rest.iter().map(|s| s.to_string()));
    a
}

fn refusal(version: &str, served: &str) -> Reply {
    json(
        400,
        json!({"error": {"code": "InvalidApiVersionParameter", "message": format!("The api-version '{version}' is invalid. The supported versions are '{served}'. Please see https://aka.ms/api-version for more details.")}}),
    )
}

/// A tenant with one subscription and one Azure DevOps connector. `serves(family path, version)`
/// decides which versions each API accepts (`None`: accepted).
async fn tenant(serves: fn(&str, &str) -> Option<&'static str>) -> Stub {
    Stub::start(move |r: &Recorded, _i| {
        let v = r.api_version().unwrap_or_default();
        let p = r.path.as_str();
        if let Some(served) = serves(p, v) {
            return refusal(v, served);
        }
        if p == "/subscriptions" {
            return json(200, json!({"value": [{"subscriptionId": SUB, "displayName": "prod"}]}));
        }
        if p == format!("/subscriptions/{SUB}/resourcegroups") {
            return json(200, json!({"value": [{"id": format!("/subscriptions/{SUB}/resourceGroups/rg"), "name": "rg", "location": "westeurope"}]}));
        }
        if p.ends_with("/Microsoft.ResourceGraph/resources") {
            return json(200, json!({"totalRecords": 1, "count": 1, "resultTruncated": "false", "data": [
                {"connectorResourceId": connector_id(), "subscriptionId": SUB, "name": "ado-weu"}]}));
        }
        if p.ends_with("/securityConnectors") {
            return json(200, json!({"value": [
                {"id": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/aws"), "properties": {"environmentName": "AWS"}},
                {"id": connector_id(), "properties": {"environmentName": "AzureDevOps"}}]}));
        }
        if p.ends_with("/devops/default") {
            return json(200, json!({"name": "default", "properties": {"provisioningState": "Succeeded"}}));
        }
        if p.ends_with("/Microsoft.Authorization/permissions") {
            return json(200, json!({"value": [{"actions": ["*"], "notActions": []}]}));
        }
        if p.ends_with("/Microsoft.Support/services") {
            return json(200, json!({"value": [{"name": "s1"}]}));
        }
        if p.ends_with("/Microsoft.Storage/storageAccounts") {
            return json(200, json!({"value": [{"name": "stdr", "location": "northeurope"}]}));
        }
        json(404, json!({"error": {"code": "NotFound", "message": p}}))
    })
    .await
}

/// The table line of a family, split on blanks.
fn line<'a>(out: &'a str, family: &str) -> Vec<&'a str> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&family))
        .unwrap_or_else(|| panic!("no line for {family} in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_shows_each_familys_version_source_and_result() {
    fn serves(p: &str, v: &str) -> Option<&'static str> {
        if p.contains("/devops") && v != "2025-11-01-preview" {
            return Some("2025-11-01-preview,2024-04-01");
        }
        if p.contains("Microsoft.Support") {
            return Some("2099-01-01,2098-01-01-preview");
        }
        None
    }
    let stub = tenant(serves).await;
    let out =
        lifeboat(args(&stub.url, &["--api-version", "graph=2022-10-01", "doctor"]), vec![]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "support is unusable:\n{stdout}");
    assert_eq!(
        line(&stdout, "subscriptions")[..4],
        ["subscriptions", "2022-12-01", "compiled", "ok:"]
    );
    assert_eq!(line(&stdout, "graph")[..4], ["graph", "2022-10-01", "override", "ok:"]);
    assert_eq!(
        line(&stdout, "connectors")[..4],
        ["connectors", "2026-08-01-preview", "compiled", "ok:"]
    );
    assert_eq!(line(&stdout, "devops")[..4], ["devops", "2025-11-01-preview", "negotiated", "ok:"]);
    assert_eq!(line(&stdout, "support")[..4], ["support", "2026-06-01", "compiled", "UNUSABLE"]);
    for part in [
        "graph: 2022-10-01 (--api-version graph=2022-10-01)",
        "devops: 2025-11-01-preview (negotiated: ARM refused 2025-03-01; it serves 2025-11-01-preview, 2024-04-01)",
        "support is unusable: GET /providers/Microsoft.Support/services",
        "fix: pass --api-version support=2099-01-01",
    ] {
        assert!(stdout.contains(part), "missing `{part}` in:\n{stdout}");
    }
    // The DevOps probe read the DevOps connector's configuration, not the AWS one's.
    let devops: Vec<String> = stub
        .requests()
        .iter()
        .filter(|r| r.path.contains("/devops"))
        .map(|r| r.path.clone())
        .collect();
    assert!(
        devops.iter().all(|p| p == &format!("{}/devops/default", connector_id())),
        "{devops:?}"
    );
    // The graph probe is a one-row query.
    let graph = stub.requests().into_iter().find(|r| r.path.contains("ResourceGraph")).unwrap();
    assert!(graph.body["query"].as_str().unwrap().trim_end().ends_with("| take 1"));
    assert_eq!(graph.api_version(), Some("2022-10-01"));

    // The same as JSON.
    let out = lifeboat(args(&stub.url, &["--output", "json", "doctor"]), vec![]).await;
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fam = |name: &str| {
        doc["families"].as_array().unwrap().iter().find(|f| f["family"] == name).unwrap().clone()
    };
    assert_eq!(fam("devops")["source"], "negotiated");
    assert_eq!(fam("devops")["result"], "ok");
    assert_eq!(fam("support")["result"], "failed");
    assert!(fam("support")["error"]
        .as_str()
        .unwrap()
        .contains("it serves 2099-01-01, 2098-01-01-preview"));
    assert_eq!(doc["negotiations"][0]["from"], "2025-03-01");
    assert_eq!(doc["negotiations"][0]["to"], "2025-11-01-preview");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_exits_0_when_every_family_works_and_names_a_refused_override() {
    fn serves_all(_p: &str, _v: &str) -> Option<&'static str> {
        None
    }
    let stub = tenant(serves_all).await;
    let out = lifeboat(args(&stub.url, &["doctor"]), vec![]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.contains(" ok: ")).count(), 8, "{stdout}");
    assert_eq!(
        line(&stdout, "resourcegroups")[..4],
        ["resourcegroups", "2025-04-01", "compiled", "ok:"]
    );
    assert!(
        stdout.contains(&format!("1 permission entry for the credential at subscription {SUB}")),
        "{stdout}"
    );

    fn only_2025(p: &str, v: &str) -> Option<&'static str> {
        (p.contains("/devops") && v != "2025-03-01").then_some("2025-03-01")
    }
    let stub = tenant(only_2025).await;
    let out = lifeboat(
        args(&stub.url, &["doctor"]),
        vec![("LIFEBOAT_API_VERSIONS", "devops=2024-04-01".into())],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(line(&stdout, "devops")[..4], ["devops", "2024-04-01", "override", "UNUSABLE"]);
    assert!(
        stdout.contains(
            "fix: change LIFEBOAT_API_VERSIONS (devops=2024-04-01) to --api-version devops=2025-03-01 or remove it"
        ),
        "{stdout}"
    );
    // Never negotiated away: one refused request for devops, no retry with another version.
    let devops: Vec<_> =
        stub.requests().into_iter().filter(|r| r.path.contains("/devops")).collect();
    assert_eq!(devops.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_api_version_overrides_exit_2_listing_the_families_before_any_request() {
    fn serves_all(_p: &str, _v: &str) -> Option<&'static str> {
        None
    }
    let stub = tenant(serves_all).await;
    let families = "connectors, devops, graph, support, subscriptions";
    for (flag, what) in [
        ("nope=2025-03-01", "`nope` is not an API family"),
        ("devops=latest", "`latest` is not an api-version for devops"),
        ("devops", "`devops` is not FAMILY=VERSION"),
        ("devops=2025-13-01", "`2025-13-01` is not an api-version"),
    ] {
        for command in [&["doctor"][..], &["connectors", "list"][..]] {
            let mut a = vec!["--api-version", flag];
            a.extend_from_slice(command);
            let out = lifeboat(args(&stub.url, &a), vec![]).await;
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(2), "{flag} {command:?}: {stderr}");
            assert!(stderr.contains(what) && stderr.contains(families), "{flag}: {stderr}");
        }
    }
    let out = lifeboat(
        args(&stub.url, &["doctor"]),
        vec![("LIFEBOAT_API_VERSIONS", "devops=2025-11-01-preview,graphs=2024-04-01".into())],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("LIFEBOAT_API_VERSIONS")
            && stderr.contains("`graphs` is not an API family"),
        "{stderr}"
    );
    assert!(stderr.contains(families), "{stderr}");
    assert!(stub.requests().is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_probes_the_simulator() {
    let sim = crate::support::sim::start(SimConfig {
        tenant: TenantSource::Small,
        ..SimConfig::default()
    })
    .await;
    let out = lifeboat(args(sim.url(), &["doctor"]), vec![]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for (family, version) in [
        ("graph", "2024-04-01"),
        ("connectors", "2026-08-01-preview"),
        ("devops", "2025-03-01"),
        ("support", "2026-06-01"),
        ("resourcegroups", "2025-04-01"),
        ("authorization", "2022-04-01"),
        ("storage", "2023-05-01"),
    ] {
        assert_eq!(line(&stdout, family)[..4], [family, version, "compiled", "ok:"], "{stdout}");
    }
    // The simulated caller is Owner of every subscription of the small tenant: one entry.
    assert!(stdout.contains("1 permission entry for the credential at subscription"), "{stdout}");
    assert!(stdout.contains("read devops/default of ado-weu"), "{stdout}");
    // The subscription list is probed like the others; the exit code follows the lines.
    let subs = line(&stdout, "subscriptions");
    assert_eq!(subs[..3], ["subscriptions", "2022-12-01", "compiled"]);
    let all_ok = subs[3] == "ok:";
    assert_eq!(out.status.code(), Some(if all_ok { 0 } else { 1 }), "{stdout}");

    // A version the simulator does not serve, as an override: unusable, with the fix.
    let out = lifeboat(
        args(sim.url(), &["--api-version", "devops=2019-01-01-preview", "doctor"]),
        vec![],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        line(&stdout, "devops")[..4],
        ["devops", "2019-01-01-preview", "override", "UNUSABLE"]
    );
    assert!(
        stdout.contains(
            "fix: change --api-version devops=2019-01-01-preview to --api-version devops="
        ),
        "{stdout}"
    );
    sim.shutdown().await.ok();
}

/// The config file's `[api-versions]`: used when neither the environment nor a flag names the
/// family; the environment wins over it, a flag over both; doctor shows where each came from.
/// A bad file exits 2 naming the file and the line before any request.
#[tokio::test(flavor = "multi_thread")]
async fn the_config_file_overrides_api_versions_below_the_environment_and_flags() {
    fn serves_all(_p: &str, _v: &str) -> Option<&'static str> {
        None
    }
    let stub = tenant(serves_all).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lifeboat.toml");
    std::fs::write(
        &file,
        "# team settings\n[api-versions]\ndevops = \"2025-11-01-preview\"\ngraph = \"2022-10-01\"\nsupport = \"2024-04-01\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = lifeboat(
        args(&stub.url, &["--config", path, "--api-version", "support=2020-04-01", "doctor"]),
        vec![("LIFEBOAT_API_VERSIONS", "graph=2021-03-01".into())],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(line(&stdout, "devops")[..3], ["devops", "2025-11-01-preview", "override"]);
    assert_eq!(line(&stdout, "graph")[..3], ["graph", "2021-03-01", "override"]);
    assert_eq!(line(&stdout, "support")[..3], ["support", "2020-04-01", "override"]);
    for part in [
        "devops: 2025-11-01-preview (config file [api-versions] devops = \"2025-11-01-preview\")",
        "graph: 2021-03-01 (LIFEBOAT_API_VERSIONS (graph=2021-03-01))",
        "support: 2020-04-01 (--api-version support=2020-04-01)",
    ] {
        assert!(stdout.contains(part), "missing `{part}` in:\n{stdout}");
    }
    let used: Vec<String> = stub
        .requests()
        .iter()
        .filter(|r| r.path.contains("/devops"))
        .map(|r| r.api_version().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(used, ["2025-11-01-preview"], "the DevOps probe used the file's version");

    // Bad files: exit 2, file and line named, nothing sent.
    let before = stub.requests().len();
    for (text, what) in [
        (
            "[api-versions]\ndevops = \"latest\"\n",
            "[api-versions] devops: `latest` is not an api-version",
        ),
        ("\n[api-version]\n", ":2: unknown field `api-version`"),
        ("[api-versions]\ndevops = 2025\n", ":2:"),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = lifeboat(args(&stub.url, &["--config", path, "doctor"]), vec![]).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(path) && stderr.contains(what), "{text}: {stderr}");
    }
    let missing = dir.path().join("absent.toml");
    let out = lifeboat(
        args(&stub.url, &["doctor"]),
        vec![("LIFEBOAT_CONFIG", missing.to_str().unwrap().to_owned())],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read the config file"), "{stderr}");
    assert_eq!(stub.requests().len(), before, "nothing was sent");
}
