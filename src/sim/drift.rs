//! The drift generator: stages "Azure changed its API" in a simulated cloud. Deterministic for a
//! seed and a cloud. It adds unknown fields (scalars, nested objects, arrays of objects) at
//! every level of the stored resources (connectors' top level, `properties`, nested objects and
//! array items; `devops/default`; Azure DevOps orgs, projects and repos; GitHub owners and repos;
//! GitLab groups and projects) and sets unknown values of extensible enums
//! (`actionableRemediation.state`, `inheritFromParentState`, `annotateDefaultBranch`, categories,
//! `autoDiscovery`, the agentless settings) on a random subset.
//!
//! It never touches ownership (`Cloud::owners`), derived values (`onboardingState`,
//! `provisioningState`) or the fields the simulator itself routes on (`environmentName`,
//! `environmentType`, `offeringType`), so every invariant of [`Cloud`] still holds.
//!
//! On GitHub and GitLab resources (read-only in the API) the fields are the service's: they are
//! stored on the item itself and every connector that owns it shows them. On every writable
//! resource they are that connector's configuration: a recovery must write them back.

use super::model::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

/// Probability that a resource (or a nested object) receives drift.
const P: f64 = 0.6;

const WORDS: &[&str] = &[
    "future", "preview", "policy", "insight", "scan", "audit", "region", "tier", "scope", "mode",
    "signal", "budget",
];
const SUFFIXES: &[&str] =
    &["Setting", "Flag", "Options", "Level", "Config", "Hint", "Window", "Rules"];
const STRINGS: &[&str] = &["alpha", "Balanced", "weekly", "EU-only", "v2", "strict", "Default"];
/// Values no version of the specs defines (and no case variant of a defined one).
const UNKNOWN_VALUES: &[&str] =
    &["Scheduled", "PartiallyEnabled", "Audit", "EnabledWithOverrides", "Paused", "Preview"];

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }
    fn name(&mut self) -> String {
        let w = WORDS[self.rng.random_range(0..WORDS.len())];
        let s = SUFFIXES[self.rng.random_range(0..SUFFIXES.len())];
        format!("{w}{s}{:04x}", self.rng.random::<u16>())
    }
    fn unknown_value(&mut self) -> Value {
        json!(UNKNOWN_VALUES[self.rng.random_range(0..UNKNOWN_VALUES.len())])
    }
    fn scalar(&mut self) -> Value {
        match self.rng.random_range(0..4) {
            0 => json!(STRINGS[self.rng.random_range(0..STRINGS.len())]),
            1 => json!(self.rng.random_range(0..10_000)),
            2 => json!(self.rng.random_bool(0.5)),
            _ => json!(self.rng.random_range(0..1000) as f64 / 8.0),
        }
    }
    fn object(&mut self, depth: u32) -> Value {
        let mut m = Map::new();
        for _ in 0..self.rng.random_range(1..=3) {
            let k = self.name();
            let v = self.value(depth + 1);
            m.insert(k, v);
        }
        Value::Object(m)
    }
    /// A scalar, a nested object, or an array of objects.
    fn value(&mut self, depth: u32) -> Value {
        match (self.rng.random_range(0..5), depth < 2) {
            (3, true) => self.object(depth),
            (4, true) => {
                let n = self.rng.random_range(1..=3);
                Value::Array((0..n).map(|_| self.object(depth + 1)).collect())
            }
            _ => self.scalar(),
        }
    }
    /// Adds one to three unknown fields to `m`.
    fn fields(&mut self, m: &mut Map<String, Value>) {
        for _ in 0..self.rng.random_range(1..=3) {
            let k = self.name();
            let v = self.value(0);
            m.insert(k, v);
        }
    }
    /// Maybe adds unknown fields to the object `v` (not to anything else).
    fn maybe(&mut self, v: Option<&mut Value>) {
        if let Some(Value::Object(m)) = v {
            if self.chance(P) {
                self.fields(m);
            }
        }
    }
    /// Maybe adds unknown fields to every object of the array `v`.
    fn items(&mut self, v: Option<&mut Value>) {
        if let Some(Value::Array(a)) = v {
            for item in a {
                self.maybe(Some(item));
            }
        }
    }
    /// Maybe replaces the enum value at `key` of `m` by an unknown one.
    fn enum_value(&mut self, m: &mut Map<String, Value>, key: &str, p: f64) {
        if self.chance(p) {
            let v = self.unknown_value();
            m.insert(key.to_string(), v);
        }
    }
    /// A document overlay: unknown top-level fields and unknown `properties` fields.
    fn document(&mut self, doc: &mut Map<String, Value>) {
        if self.chance(P) {
            self.fields(doc);
        }
        if self.chance(P) {
            let props = doc.entry("properties").or_insert_with(|| json!({}));
            if let Value::Object(p) = props {
                self.fields(p);
            }
        }
    }
}

/// Applies drift to every stored resource of `cloud` (see the module documentation).
pub fn drift_cloud(cloud: &mut Cloud, seed: u64) {
    let mut g = Gen { rng: StdRng::seed_from_u64(seed ^ 0xD51F_7000_0000_0000) };
    let owners = cloud.owners.clone();
    let ado = cloud.ado.clone();
    for (key, c) in cloud.connectors.iter_mut() {
        if g.chance(P) {
            g.fields(&mut c.extra);
        }
        if let Value::Object(p) = &mut c.properties {
            if g.chance(P) {
                g.fields(p);
            }
            g.maybe(p.get_mut("environmentData"));
            g.items(p.get_mut("offerings"));
        }
        let env = c.env();
        let Some(d) = c.devops.as_mut() else { continue };
        if g.chance(P) {
            g.fields(&mut d.extra);
        }
        if let Value::Object(p) = &mut d.properties {
            if g.chance(P) {
                g.fields(p);
            }
            g.enum_value(p, "autoDiscovery", 0.2);
            if let Some(Value::Object(a)) = p.get_mut("agentlessConfiguration") {
                if g.chance(P) {
                    g.fields(a);
                }
                g.enum_value(a, "agentlessEnabled", 0.3);
                g.enum_value(a, "inventoryListType", 0.3);
                if let Some(Value::Array(list)) = a.get_mut("inventoryList") {
                    for item in list {
                        if let Value::Object(i) = item {
                            if g.chance(P) {
                                g.fields(i);
                            }
                            g.enum_value(i, "inventoryKind", 0.3);
                        }
                    }
                }
            }
        }
        if env != Some(Env::AzureDevOps) {
            continue;
        }
        // Every Azure DevOps org this connector owns, with its projects and repos.
        for (org_l, org) in &ado {
            if owners.get(&item_key(Env::AzureDevOps, org_l)).map(String::as_str) != Some(key) {
                continue;
            }
            let mut paths = vec![(org_l.clone(), true)];
            for (p_l, p) in &org.projects {
                paths.push((format!("{org_l}/{p_l}"), false));
                for r_l in p.repos.keys() {
                    paths.push((format!("{org_l}/{p_l}/{r_l}"), false));
                }
            }
            for (path, is_org) in paths {
                if !g.chance(P) {
                    continue;
                }
                let default = if is_org {
                    json!({"state": "None"})
                } else {
                    json!({"inheritFromParentState": "Enabled"})
                };
                let mut r = d.settings.get(&path).cloned().unwrap_or(default);
                if let Value::Object(m) = &mut r {
                    if g.chance(P) {
                        g.fields(m);
                    }
                    g.enum_value(m, "state", 0.25);
                    if !is_org {
                        g.enum_value(m, "inheritFromParentState", 0.25);
                    }
                    if g.chance(0.3) && !m.contains_key("categoryConfigurations") {
                        m.insert(
                            "categoryConfigurations".into(),
                            json!([{"category": "Secrets", "minimumSeverityLevel": "High"}]),
                        );
                    }
                    if let Some(Value::Array(cats)) = m.get_mut("categoryConfigurations") {
                        for cat in cats {
                            if let Value::Object(cm) = cat {
                                if g.chance(P) {
                                    g.fields(cm);
                                }
                                g.enum_value(cm, "category", 0.3);
                            }
                        }
                    }
                    if let Some(Value::Object(b)) = m.get_mut("branchConfiguration") {
                        if g.chance(P) {
                            g.fields(b);
                        }
                        g.enum_value(b, "annotateDefaultBranch", 0.3);
                    }
                }
                d.settings.insert(path.clone(), r);
                let doc = d.documents.entry(path).or_default();
                g.document(doc);
            }
        }
    }
    // The service's own fields on read-only resources, on the items every connector sees.
    for o in cloud.github.values_mut() {
        g.document(&mut o.extra);
        for r in &mut o.repos {
            g.document(&mut r.extra);
        }
    }
    for gl in cloud.gitlab.values_mut() {
        g.document(&mut gl.extra);
        for p in gl.projects.clone() {
            let doc = gl.project_extra.entry(p.to_ascii_lowercase()).or_default();
            g.document(doc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drifted(seed: u64) -> Cloud {
        let mut c = crate::sim::tenant::small().build(0).expect("small");
        drift_cloud(&mut c, seed);
        c
    }

    #[test]
    fn drift_is_deterministic_and_keeps_ownership() {
        let before = crate::sim::tenant::small().build(0).expect("small");
        let a = serde_json::to_value(drifted(5)).unwrap();
        let b = serde_json::to_value(drifted(5)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, serde_json::to_value(drifted(6)).unwrap());
        assert_eq!(drifted(5).owners, before.owners);
        for c in drifted(5).connectors.values() {
            assert_eq!(c.env(), before.connectors[&c.id.to_ascii_lowercase()].env());
        }
    }

    #[test]
    fn drift_reaches_every_level_and_enum() {
        // Over a few seeds: unknown fields at the top level, in properties, in nested objects
        // and in array items of every type, unknown enum values, arrays of objects.
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..8 {
            let c = drifted(seed);
            for conn in c.connectors.values() {
                if !conn.extra.is_empty() {
                    seen.insert("connector top");
                }
                if let Some(d) = &conn.devops {
                    if !d.extra.is_empty() {
                        seen.insert("devops top");
                    }
                    for (path, r) in &d.settings {
                        let s = r.get("state").and_then(Value::as_str).unwrap_or("None");
                        if UNKNOWN_VALUES.contains(&s) {
                            seen.insert("unknown state");
                        }
                        let i =
                            r.get("inheritFromParentState").and_then(Value::as_str).unwrap_or("");
                        if UNKNOWN_VALUES.contains(&i) {
                            assert!(path.contains('/'), "no inheritFromParentState on an org");
                            seen.insert("unknown inherit");
                        }
                    }
                    for doc in d.documents.values() {
                        if doc
                            .get("properties")
                            .is_some_and(|p| p.as_object().is_some_and(|m| !m.is_empty()))
                        {
                            seen.insert("ado properties");
                        }
                        if doc
                            .values()
                            .any(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_object)))
                        {
                            seen.insert("array of objects");
                        }
                    }
                }
            }
            if c.github.values().any(|o| !o.extra.is_empty()) {
                seen.insert("github");
            }
            if c.gitlab.values().any(|g| !g.project_extra.is_empty()) {
                seen.insert("gitlab project");
            }
        }
        for want in [
            "connector top",
            "devops top",
            "unknown state",
            "unknown inherit",
            "ado properties",
            "array of objects",
            "github",
            "gitlab project",
        ] {
            assert!(seen.contains(want), "{want} never drifted: {seen:?}");
        }
    }
}
