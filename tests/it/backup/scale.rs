//! 50,000 synthetic repos through `collect`: peak RSS, elapsed time and reader calls, printed
//! (never asserted: timings depend on the machine). Bodies are generated on demand, as pages of
//! an API would arrive, so the figure measures lifeboat, not the fixture.
//! Run: `cargo test --test it backup::scale -- --ignored --nocapture`.

use lifeboat::backup::store::Keys;
use lifeboat::backup::{
    collect, AnomalyRules, ConfigReader, CreateOptions, ReaderError, Scope, Store,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

const CONNECTOR: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/big";
const ORGS: usize = 50;
const PROJECTS: usize = 10;
const REPOS: usize = 100;

struct Synthetic {
    calls: AtomicUsize,
    template: Value,
}

impl ConfigReader for Synthetic {
    async fn list_connectors(&self, _: &Scope) -> Result<Vec<Value>, ReaderError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(vec![
            json!({"id": CONNECTOR, "name": "big", "properties": {"environmentName": "AzureDevOps"}}),
        ])
    }
    async fn get_devops_configuration(&self, id: &str) -> Result<Option<Value>, ReaderError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(Some(
            json!({"id": format!("{id}/devops/default"), "properties": {"autoDiscovery": "Enabled"}}),
        ))
    }
    async fn list_azure_devops_orgs(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok((0..ORGS).map(|o| json!({"id": format!("{id}/devops/default/azureDevOpsOrgs/org{o}"), "properties": {"onboardingState": "Onboarded"}})).collect())
    }
    async fn list_azure_devops_projects(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok((0..PROJECTS).map(|p| json!({"id": format!("{id}/projects/p{p}"), "properties": {"onboardingState": "Onboarded"}})).collect())
    }
    async fn list_azure_devops_repos(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok((0..REPOS)
            .map(|r| {
                let mut v = self.template.clone();
                v["id"] = json!(format!("{id}/repos/repo{r}"));
                v["name"] = json!(format!("repo{r}"));
                v
            })
            .collect())
    }
    async fn list_github_owners(&self, _: &str) -> Result<Vec<Value>, ReaderError> {
        Ok(vec![])
    }
    async fn list_github_repos(&self, _: &str) -> Result<Vec<Value>, ReaderError> {
        Ok(vec![])
    }
    async fn list_gitlab_groups(&self, _: &str) -> Result<Vec<Value>, ReaderError> {
        Ok(vec![])
    }
    async fn list_gitlab_subgroups(&self, _: &str) -> Result<Vec<Value>, ReaderError> {
        Ok(vec![])
    }
    async fn list_gitlab_projects(&self, _: &str) -> Result<Vec<Value>, ReaderError> {
        Ok(vec![])
    }
}

fn peak_rss_kib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[tokio::test]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
async fn fifty_thousand_repos() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), Keys::default()).unwrap();
    let reader = Synthetic {
        calls: AtomicUsize::new(0),
        template: crate::backup::common::example("GetAzureDevOpsRepos_example.json"),
    };
    let base = time::macros::datetime!(2026-01-01 00:00 UTC);
    let opts = |d: i64| CreateOptions {
        scope: Scope::default(),
        now: base + time::Duration::days(d),
        rules: AnomalyRules::default(),
        immutable: false,
    };
    let before = peak_rss_kib();
    let t = std::time::Instant::now();
    let s1 = collect(&reader, &store, opts(0)).await.unwrap();
    let first = t.elapsed();
    let t = std::time::Instant::now();
    let s2 = collect(&reader, &store, opts(1)).await.unwrap();
    let second = t.elapsed();
    let calls = reader.calls.load(Ordering::Relaxed);
    println!("50k repos: resources {} | first backup {:.1?} ({} new objects, {} KiB) | second backup {:.1?} ({} new objects) | reader calls {} over 2 runs | peak RSS before {} after {}",
        s1.resources, first, s1.new_objects, s1.new_bytes / 1024, second, s2.new_objects, calls, before, peak_rss_kib());
}
