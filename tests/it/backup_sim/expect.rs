//! What a complete backup of a simulated tenant must hold, and how many API calls reading it
//! takes, both derived from the simulator's own state (`RunningSim::cloud()`) and its page
//! sizes, never written down by hand.

use lifeboat::sim::model::{item_key, Cloud, Env};
use std::collections::{BTreeMap, BTreeSet};

/// The resources a backup of every DevOps connector must capture (lowercase IDs).
#[derive(Debug, Default)]
pub struct Capture {
    pub ids: BTreeSet<String>,
    pub ado_repos: usize,
    pub github_repos: usize,
    pub gitlab_groups: usize,
    pub gitlab_projects: usize,
}

fn owned_by<'a>(cloud: &'a Cloud, key: &'a str, env: Env) -> impl Fn(&str) -> bool + 'a {
    move |name: &str| cloud.owners.get(&item_key(env, name)).is_some_and(|o| o == key)
}

/// The full ID of the connector named `name` (a DevOps one).
pub fn devops_connector_id(cloud: &Cloud, name: &str) -> String {
    cloud.connectors.values().find(|c| c.name == name).expect("connector exists").id.clone()
}

pub fn capture(cloud: &Cloud) -> Capture {
    let mut out = Capture::default();
    for (key, c) in &cloud.connectors {
        let Some(env) = c.env() else { continue };
        out.ids.insert(c.id.to_ascii_lowercase());
        if c.devops.is_none() {
            continue;
        }
        let base = format!("{}/devops/default", c.id).to_ascii_lowercase();
        out.ids.insert(base.clone());
        let owned = owned_by(cloud, key, env);
        match env {
            Env::AzureDevOps => {
                for o in cloud.ado.values().filter(|o| owned(&o.name)) {
                    let oid = format!("{base}/azuredevopsorgs/{}", o.name.to_ascii_lowercase());
                    for p in o.projects.values() {
                        let pid = format!("{oid}/projects/{}", p.name.to_ascii_lowercase());
                        for r in p.repos.values() {
                            out.ids.insert(format!("{pid}/repos/{}", r.name.to_ascii_lowercase()));
                            out.ado_repos += 1;
                        }
                        out.ids.insert(pid);
                    }
                    out.ids.insert(oid);
                }
            }
            Env::Github => {
                for o in cloud.github.values().filter(|o| owned(&o.name)) {
                    let oid = format!("{base}/githubowners/{}", o.name.to_ascii_lowercase());
                    for r in &o.repos {
                        out.ids.insert(format!("{oid}/repos/{}", r.name.to_ascii_lowercase()));
                        out.github_repos += 1;
                    }
                    out.ids.insert(oid);
                }
            }
            Env::GitLab => {
                for g in cloud.gitlab.values().filter(|g| owned(&g.fq_name)) {
                    let gid = format!("{base}/gitlabgroups/{}", g.fq_name.to_ascii_lowercase());
                    for p in &g.projects {
                        out.ids.insert(format!("{gid}/projects/{}", p.to_ascii_lowercase()));
                        out.gitlab_projects += 1;
                    }
                    out.ids.insert(gid);
                    out.gitlab_groups += 1;
                }
            }
        }
    }
    out
}

fn pages(items: usize, page: usize) -> usize {
    items.div_ceil(page).max(1)
}

/// API calls one `backup create` over every subscription should take: Resource Graph pages
/// (`graph_page` rows each) naming the subscriptions with DevOps connectors, one connector list
/// per such subscription (paged), then per DevOps connector one `devops/default` GET and one
/// request per page of each list below it (`listSubgroups` is one unpaged POST per top-level
/// group). `subscriptions`: the `--subscription` values, which skip Resource Graph.
pub fn calls(
    cloud: &Cloud,
    page: usize,
    graph_page: usize,
    subscriptions: Option<&[&str]>,
) -> usize {
    let devops: Vec<_> = cloud.connectors.iter().filter(|(_, c)| c.env().is_some()).collect();
    let mut n = 0;
    let subs: BTreeSet<String> = match subscriptions {
        Some(s) => s.iter().map(|s| s.to_ascii_lowercase()).collect(),
        None => {
            n += pages(devops.len(), graph_page);
            devops.iter().map(|(_, c)| c.subscription.to_ascii_lowercase()).collect()
        }
    };
    let mut per_sub: BTreeMap<&str, usize> = BTreeMap::new();
    for c in cloud.connectors.values() {
        *per_sub.entry(&c.subscription).or_default() += 1;
    }
    for s in &subs {
        let in_sub = per_sub
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(s))
            .map(|(_, v)| *v)
            .sum::<usize>();
        n += pages(in_sub, page);
    }
    for (key, c) in devops {
        if !subs.contains(&c.subscription.to_ascii_lowercase()) {
            continue;
        }
        let env = c.env().expect("DevOps connector");
        n += 1; // devops/default
        if c.devops.is_none() {
            continue;
        }
        let owned = owned_by(cloud, key, env);
        match env {
            Env::AzureDevOps => {
                let orgs: Vec<_> = cloud.ado.values().filter(|o| owned(&o.name)).collect();
                n += pages(orgs.len(), page);
                for o in orgs {
                    n += pages(o.projects.len(), page);
                    n += o.projects.values().map(|p| pages(p.repos.len(), page)).sum::<usize>();
                }
            }
            Env::Github => {
                let owners: Vec<_> = cloud.github.values().filter(|o| owned(&o.name)).collect();
                n += pages(owners.len(), page);
                n += owners.iter().map(|o| pages(o.repos.len(), page)).sum::<usize>();
            }
            Env::GitLab => {
                let groups: Vec<_> = cloud.gitlab.values().filter(|g| owned(&g.fq_name)).collect();
                n += pages(groups.len(), page);
                n += groups.iter().filter(|g| !g.fq_name.contains('$')).count();
                n += groups.iter().map(|g| pages(g.projects.len(), page)).sum::<usize>();
            }
        }
    }
    n
}
