//! Shared test helpers: a small in-memory tenant built from the official API examples, a
//! [`ConfigReader`] over it, and stores on the two backends (a temp directory, Azurite).

use lifeboat::backup::store::Keys;
use lifeboat::backup::{ConfigReader, ReaderError, Scope, Store};
use object_store::azure::AzureConfigKey;
use object_store::ClientConfigKey;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

const EXAMPLES: &str = "tests/fixtures/azure-specs/specification/security/resource-manager/Microsoft.Security/Security/stable/2025-03-01/examples/SecurityConnectorsDevOps";

/// The first item (or the whole body) of an official example's 200 response.
pub fn example(name: &str) -> Value {
    let path = format!("{}/{EXAMPLES}/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).expect("example is JSON");
    let body = doc["responses"]["200"]["body"].clone();
    match body.get("value") {
        Some(Value::Array(items)) => items[0].clone(),
        _ => body,
    }
}

fn child(template: &Value, parent_id: &str, collection: &str, name: &str) -> Value {
    let mut v = template.clone();
    v["id"] = json!(format!("{parent_id}/{collection}/{name}"));
    v["name"] = json!(name);
    v
}

/// A tenant shaped like the simulator's `small` one: an Azure DevOps connector (2 orgs × 2
/// projects × 3 repos), a GitHub connector (2 owners × 2 repos), a GitLab connector (a group, a
/// subgroup, projects), and an AWS connector that backups must skip.
pub struct FakeTenant {
    pub connectors: Vec<Value>,
    pub configs: HashMap<String, Value>,
    pub children: HashMap<(String, &'static str), Vec<Value>>,
    pub calls: AtomicUsize,
    /// Listing the children of this parent ID fails (a read that breaks half way).
    pub fail_on: Option<String>,
}

pub const ADO: &str = "/subscriptions/0806e1cd-cfda-4ff8-b99c-2b0af42cffd3/resourceGroups/myRg/providers/Microsoft.Security/securityConnectors/adoConnector";
pub const GH: &str = "/subscriptions/0806e1cd-cfda-4ff8-b99c-2b0af42cffd3/resourceGroups/myRg/providers/Microsoft.Security/securityConnectors/ghConnector";
pub const GL: &str = "/subscriptions/0806e1cd-cfda-4ff8-b99c-2b0af42cffd3/resourceGroups/myRg/providers/Microsoft.Security/securityConnectors/glConnector";

impl FakeTenant {
    pub fn small() -> FakeTenant {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/backup/connectors.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("connectors fixture");
        let connectors: Vec<Value> = serde_json::from_str(&text).expect("connectors JSON");
        let mut t = FakeTenant {
            connectors,
            configs: HashMap::new(),
            children: HashMap::new(),
            calls: AtomicUsize::new(0),
            fail_on: None,
        };
        let config = example("GetDevOpsConfigurations_example.json");
        for c in [ADO, GH, GL] {
            let mut cfg = config.clone();
            cfg["id"] = json!(format!("{c}/devops/default"));
            t.configs.insert(c.to_ascii_lowercase(), cfg);
        }
        let (org_t, proj_t, repo_t) = (
            example("GetAzureDevOpsOrgs_example.json"),
            example("GetAzureDevOpsProjects_example.json"),
            example("GetAzureDevOpsRepos_example.json"),
        );
        let base = format!("{ADO}/devops/default");
        for o in 0..2 {
            let org = child(&org_t, &base, "azureDevOpsOrgs", &format!("org{o}"));
            let org_id = org["id"].as_str().unwrap().to_string();
            t.add(ADO, "orgs", org);
            for p in 0..2 {
                let mut project = child(&proj_t, &org_id, "projects", &format!("project{p}"));
                project["properties"]["parentOrgName"] = json!(format!("org{o}"));
                let pid = project["id"].as_str().unwrap().to_string();
                t.add(&org_id, "projects", project);
                for r in 0..3 {
                    let mut repo = child(&repo_t, &pid, "repos", &format!("repo{r}"));
                    repo["properties"]["parentOrgName"] = json!(format!("org{o}"));
                    repo["properties"]["parentProjectName"] = json!(format!("project{p}"));
                    repo["properties"]["repoId"] =
                        json!(format!("00000000-0000-0000-{o:04}-{p:04}{r:08}"));
                    repo["properties"]["actionableRemediation"] = json!({"state": "Enabled"});
                    t.add(&pid, "repos", repo);
                }
            }
        }
        let (owner_t, ghrepo_t) =
            (example("GetGitHubOwners_example.json"), example("GetGitHubRepos_example.json"));
        let base = format!("{GH}/devops/default");
        for o in 0..2 {
            let owner = child(&owner_t, &base, "gitHubOwners", &format!("owner{o}"));
            let oid = owner["id"].as_str().unwrap().to_string();
            t.add(GH, "owners", owner);
            for r in 0..2 {
                let mut repo = child(&ghrepo_t, &oid, "repos", &format!("ghrepo{r}"));
                repo["properties"]["parentOwnerName"] = json!(format!("owner{o}"));
                t.add(&oid, "ghrepos", repo);
            }
        }
        let (group_t, glproj_t) =
            (example("GetGitLabGroups_example.json"), example("GetGitLabProjects_example.json"));
        let base = format!("{GL}/devops/default");
        let group = child(&group_t, &base, "gitLabGroups", "myGitLabGroup");
        let sub = child(&group_t, &base, "gitLabGroups", "myGitLabGroup$mySubGroup");
        let (gid, sid) =
            (group["id"].as_str().unwrap().to_string(), sub["id"].as_str().unwrap().to_string());
        t.add(GL, "groups", group);
        t.add(&gid, "subgroups", sub);
        t.add(&gid, "glprojects", child(&glproj_t, &gid, "projects", "top-project"));
        t.add(&sid, "glprojects", child(&glproj_t, &sid, "projects", "myGitLabProject"));
        t
    }

    fn add(&mut self, parent: &str, rel: &'static str, v: Value) {
        self.children.entry((parent.to_ascii_lowercase(), rel)).or_default().push(v);
    }

    /// Every resource a backup of the whole tenant must capture: (id, kind name).
    pub fn expected_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for c in &self.connectors {
            if c["properties"]["environmentName"] != "AWS" {
                ids.push(c["id"].as_str().unwrap().to_string());
            }
        }
        ids.extend(self.configs.values().map(|v| v["id"].as_str().unwrap().to_string()));
        for items in self.children.values() {
            ids.extend(items.iter().map(|v| v["id"].as_str().unwrap().to_string()));
        }
        ids.sort();
        ids.dedup();
        ids
    }

    /// All Azure DevOps repos, mutable.
    pub fn ado_repos_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.children
            .iter_mut()
            .filter(|((_, rel), _)| *rel == "repos")
            .flat_map(|(_, v)| v.iter_mut())
    }

    pub fn repo_mut(&mut self, id: &str) -> &mut Value {
        self.ado_repos_mut().find(|r| r["id"] == id).expect("repo exists")
    }

    fn list(&self, parent: &str, rel: &'static str) -> Result<Vec<Value>, ReaderError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.fail_on.as_deref().is_some_and(|f| f.eq_ignore_ascii_case(parent)) {
            return Err(ReaderError::other(format!(
                "listing {rel} of {parent} failed: 503 ServiceUnavailable"
            )));
        }
        Ok(self.children.get(&(parent.to_ascii_lowercase(), rel)).cloned().unwrap_or_default())
    }
}

impl ConfigReader for FakeTenant {
    async fn list_connectors(&self, _scope: &Scope) -> Result<Vec<Value>, ReaderError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(self.connectors.clone())
    }
    async fn get_devops_configuration(&self, id: &str) -> Result<Option<Value>, ReaderError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(self.configs.get(&id.to_ascii_lowercase()).cloned())
    }
    async fn list_azure_devops_orgs(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list(id, "orgs")
    }
    async fn list_azure_devops_projects(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list(id, "projects")
    }
    async fn list_azure_devops_repos(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list(id, "repos")
    }
    async fn list_github_owners(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list(id, "owners")
    }
    async fn list_github_repos(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list(id, "ghrepos")
    }
    async fn list_gitlab_groups(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list(id, "groups")
    }
    async fn list_gitlab_subgroups(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list(id, "subgroups")
    }
    async fn list_gitlab_projects(&self, id: &str) -> Result<Vec<Value>, ReaderError> {
        self.list(id, "glprojects")
    }
}

/// Azurite's well-known development account key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Where a suite runs.
pub enum Backend {
    Local(tempfile::TempDir),
    /// Blob endpoint (`http://127.0.0.1:10000/devstoreaccount1`) and a container made for this run.
    Azurite {
        endpoint: String,
        container: String,
    },
}

impl Backend {
    pub fn local() -> Backend {
        Backend::Local(tempfile::tempdir().expect("temp dir"))
    }

    /// Azurite from `LIFEBOAT_TEST_AZURITE`; `None` (with a note) when unset, a failure under CI.
    pub async fn azurite() -> Option<Backend> {
        let Ok(endpoint) = std::env::var("LIFEBOAT_TEST_AZURITE") else {
            if std::env::var_os("CI").is_some() {
                panic!("CI is set but LIFEBOAT_TEST_AZURITE is not: start Azurite with `.ci/azurite.sh start` and export the variable it prints");
            }
            eprintln!("note: LIFEBOAT_TEST_AZURITE is unset; skipping the Azurite store suite (run `.ci/azurite.sh start`)");
            return None;
        };
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let container = format!("lifeboat-{}", uuid::Uuid::new_v4().simple());
        create_container(&endpoint, &container).await;
        Some(Backend::Azurite { endpoint, container })
    }

    /// A store under `prefix` on this backend.
    pub fn store(&self, prefix: &str, keys: Keys) -> Store {
        match self {
            Backend::Local(dir) => {
                Store::open(dir.path().join(prefix).to_str().expect("utf-8 path"), keys)
                    .expect("open")
            }
            Backend::Azurite { endpoint, container } => Store::open_with(
                &format!("az://{container}/{prefix}"),
                keys,
                &[
                    (AzureConfigKey::AccountName, "devstoreaccount1".into()),
                    (AzureConfigKey::AccessKey, AZURITE_KEY.into()),
                    (AzureConfigKey::Endpoint, endpoint.clone()),
                    (AzureConfigKey::Client(ClientConfigKey::AllowHttp), "true".into()),
                ],
            )
            .expect("open azurite store"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Local(_) => "local",
            Backend::Azurite { .. } => "azurite",
        }
    }
}

/// Creates a blob container with a Shared Key request (object_store does not create containers).
pub async fn create_container(endpoint: &str, container: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let date =
        httpdate(time::OffsetDateTime::UNIX_EPOCH + std::time::Duration::from_secs(now_secs()));
    let version = "2021-08-06";
    let path = format!("{}/{container}", url::Url::parse(endpoint).expect("endpoint URL").path());
    let to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/devstoreaccount1{path}\nrestype:container"
    );
    let sig = b64.encode(lifeboat::digest::hmac_sha256(
        &b64.decode(AZURITE_KEY).unwrap(),
        to_sign.as_bytes(),
    ));
    let resp = reqwest::Client::new()
        .put(format!("{endpoint}/{container}?restype=container"))
        .header("x-ms-date", &date)
        .header("x-ms-version", version)
        .header("Content-Length", "0")
        .header("Authorization", format!("SharedKey devstoreaccount1:{sig}"))
        .send()
        .await
        .expect("Azurite answers");
    assert!(
        resp.status().is_success(),
        "create container: {} {}",
        resp.status(),
        resp.text().await.unwrap_or_default()
    );
}

#[expect(clippy::disallowed_methods, reason = "an HTTP Date header for a real request")]
fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn httpdate(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).unwrap()
}

/// Real "now" for the parts of a test that meet real timestamps (object `last_modified`).
#[expect(
    clippy::disallowed_methods,
    reason = "compared with store timestamps set by the wall clock"
)]
pub fn wall_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A fresh age identity as (secret key text, identities, recipients).
pub fn age_keys() -> (String, lifeboat::backup::Identities, lifeboat::backup::Recipients) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let secret = id.to_string().expose_secret().to_string();
    let ids = lifeboat::backup::Identities::load(&secret, "test").unwrap();
    let r = ids.recipients();
    (secret, ids, r)
}
