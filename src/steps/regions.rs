//! Where Microsoft Defender for Cloud DevOps security is available, and which supported regions
//! are nearest to a region a responder named.
//!
//! The data is one embedded file, `src/steps/data/azure-regions.yaml`: the supported list (with its source
//! and the date it was read) and the coordinates of every Azure region lifeboat knows (ARM's
//! `az account list-locations` metadata, with its source). Microsoft adds regions, so a run can
//! replace the supported list with the runbook parameter `supported_regions` (empty: the
//! built-in list).
//!
//! Where it is checked: [`preflight`] (called by `recovery::preflight` before a run exists: exit 2
//! with nothing written) and [`check_target`] (the connector step, so a resumed run is protected
//! too, and the drill's target).

use super::recovery::check_region;
use crate::error::UserError;
use crate::runbook::Plan;
use crate::text::normalize_region;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("data/azure-regions.yaml");

/// Mean Earth radius (IUGG), for great-circle distances.
const EARTH_RADIUS_KM: f64 = 6371.0088;

#[derive(Debug, Deserialize)]
struct RegionFile {
    devops_security: Supported,
    coordinates: Coordinates,
}

#[derive(Debug, Deserialize)]
struct Supported {
    source: String,
    read: String,
    regions: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Coordinates {
    #[allow(dead_code)]
    source: String,
    /// Regions known to have no published coordinates (checked by a unit test).
    #[serde(default)]
    #[allow(dead_code)]
    without: Vec<String>,
    regions: BTreeMap<String, Place>,
}

/// Where a region is, as ARM publishes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Place {
    pub lat: f64,
    pub lon: f64,
    pub place: String,
}

fn parse(text: &str) -> Result<RegionFile, String> {
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

fn data() -> &'static RegionFile {
    static DATA_FILE: OnceLock<RegionFile> = OnceLock::new();
    DATA_FILE.get_or_init(|| {
        parse(DATA).unwrap_or_else(|e| {
            unreachable!("src/steps/data/azure-regions.yaml is checked by a unit test: {e}")
        })
    })
}

/// The built-in list of regions where DevOps security is available.
pub fn builtin_supported() -> &'static [String] {
    &data().devops_security.regions
}

/// Where the built-in list comes from, and when it was read.
pub fn source() -> String {
    let s = &data().devops_security;
    format!("{}, read {}", s.source, s.read)
}

/// Where `region` is, when ARM publishes it.
pub fn place(region: &str) -> Option<&'static Place> {
    data().coordinates.regions.get(&normalize_region(region))
}

/// Great-circle (haversine) distance between two points, in kilometres.
pub fn distance_km(a: &Place, b: &Place) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The supported list of a run: `override_list` (the `supported_regions` parameter) when it
/// names any region, else the built-in list. Every name must be an Azure region.
pub fn supported(override_list: &[String]) -> Result<Vec<String>, String> {
    if override_list.iter().all(|r| r.trim().is_empty()) {
        return Ok(builtin_supported().to_vec());
    }
    let mut out: Vec<String> = Vec::new();
    for r in override_list.iter().filter(|r| !r.trim().is_empty()) {
        let r = check_region("supported_regions", r)?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

/// `candidates` ordered nearest to `from` first, each with its distance; regions without
/// coordinates (or every one, when `from` has none) keep their order after the others.
pub fn nearest_first(from: &str, candidates: &[String]) -> Vec<(String, Option<f64>)> {
    let origin = place(from);
    let mut with: Vec<(usize, String, Option<f64>)> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.clone(), origin.zip(place(c)).map(|(a, b)| distance_km(a, b))))
        .collect();
    with.sort_by(|a, b| match (a.2, b.2) {
        (Some(x), Some(y)) => x.total_cmp(&y).then(a.0.cmp(&b.0)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.cmp(&b.0),
    });
    with.into_iter().map(|(_, c, d)| (c, d)).collect()
}

/// `None` when `target` is in `supported`; else the refusal (naming the supported regions
/// nearest to `target` first, without `exclude`, and where the list comes from) and the first
/// suggestion.
fn refusal(
    what: &str,
    target: &str,
    supported: &[String],
    exclude: Option<&str>,
) -> Option<(String, String)> {
    let target = normalize_region(target);
    if supported.iter().any(|s| normalize_region(s) == target) {
        return None;
    }
    let exclude = exclude.map(normalize_region);
    let candidates: Vec<String> =
        supported.iter().filter(|s| Some(normalize_region(s)) != exclude).cloned().collect();
    let ordered = nearest_first(&target, &candidates);
    let by_distance = ordered.iter().any(|(_, d)| d.is_some());
    let shown: Vec<String> = ordered
        .iter()
        .map(|(r, d)| match d {
            Some(km) => format!("{r} ({km:.0} km)"),
            None => r.clone(),
        })
        .collect();
    let order = if by_distance {
        format!("nearest to {target} first")
    } else {
        format!("in lifeboat's order (no coordinates for {target})")
    };
    let list_source = if supported == builtin_supported() {
        format!("lifeboat's list, from {}", source())
    } else {
        "the run's supported_regions".to_string()
    };
    let first = ordered.first().map(|(r, _)| r.clone()).unwrap_or_else(|| "REGION".into());
    let message = format!(
        "{what} {target} is not a region where Microsoft Defender for Cloud DevOps security is available ({list_source}), so Azure would refuse a connector there; supported regions, {order}: {}",
        if shown.is_empty() { "none".to_string() } else { shown.join(", ") }
    );
    Some((message, first))
}

/// Checks that the runbook parameter `what` (`target_region`) names a region of `supported`.
/// The error names the supported regions nearest to it first (without `exclude`, the failed
/// region), the list's source, and how to choose another or override the list.
pub fn check_supported(
    what: &str,
    target: &str,
    supported: &[String],
    exclude: Option<&str>,
) -> Result<(), String> {
    match refusal(what, target, supported, exclude) {
        None => Ok(()),
        Some((message, first)) => {
            let target = normalize_region(target);
            Err(format!(
                "{message} (choose one, e.g. --set {what}={first}; if Microsoft has added {target} since, pass the whole list: --set supported_regions={target},{})",
                builtin_supported().join(",")
            ))
        }
    }
}

/// The same check for a command-line flag (`--target-region` of a drill), against the
/// built-in list.
pub fn check_flag(flag: &str, region: &str) -> Result<(), String> {
    match refusal(flag, region, builtin_supported(), None) {
        None => Ok(()),
        Some((message, first)) => Err(format!("{message} (choose one, e.g. {flag} {first})")),
    }
}

/// The connector step's check (also for a resumed run): `target` must be a supported region
/// of the run (`supported_regions` input, empty: the built-in list).
pub fn check_target(target: &str, override_list: &[String]) -> Result<(), String> {
    let list = supported(override_list)?;
    check_supported("target_region", target, &list, None)
}

/// A string or list input rendered from parameters only (`None` when it needs step outputs).
fn rendered(with: &BTreeMap<String, Value>, key: &str, ctx: &Value) -> Option<Value> {
    let v = with.get(key)?;
    crate::engine::template::render_value(v, ctx).ok()
}

fn as_list(v: Option<Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::trim).map(String::from))
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) => {
            s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
        }
        _ => Vec::new(),
    }
}

/// The pre-run check: every `connector.create-or-adopt` step's `target_region` must be a
/// supported region (its `supported_regions` input, else the built-in list). Bad input is a
/// usage error (exit 2) before anything is read or written. A target that is not an Azure
/// region at all is left to the other checks (they name the closest region name).
pub fn preflight(plan: &Plan) -> Result<(), UserError> {
    let ctx = json!({"params": plan.params, "run": {"id": crate::engine::rehearse::RUN_ID}});
    let failed = plan
        .runbook
        .steps
        .iter()
        .find_map(|s| rendered(&s.with, "failed_region", &ctx))
        .and_then(|v| v.as_str().map(normalize_region));
    for step in plan.runbook.steps.iter().filter(|s| s.uses == "connector.create-or-adopt") {
        let with = &step.with;
        let Some(Value::String(target)) = rendered(with, "target_region", &ctx) else {
            continue;
        };
        let Ok(target) = check_region("target_region", &target) else { continue };
        let list = supported(&as_list(rendered(with, "supported_regions", &ctx)))
            .map_err(|e| UserError::usage(format!("step {}: {e}", step.id)))?;
        check_supported("target_region", &target, &list, failed.as_deref()).map_err(|e| {
            UserError::usage(format!("step {}: {e}", step.id))
                .with_hint("nothing was changed: no run was created")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::recovery::AZURE_REGIONS;

    #[test]
    fn the_data_file_parses_and_covers_every_known_region() {
        let d = parse(DATA).unwrap();
        assert_eq!(d.devops_security.regions.len(), 9);
        assert!(d.devops_security.source.starts_with("https://learn.microsoft.com/"));
        for r in &d.devops_security.regions {
            assert!(AZURE_REGIONS.contains(&r.as_str()), "{r} is an Azure region");
            assert!(d.coordinates.regions.contains_key(r), "{r} has coordinates");
        }
        for r in AZURE_REGIONS {
            let has = d.coordinates.regions.contains_key(*r);
            let without = d.coordinates.without.iter().any(|w| w == r);
            assert!(has != without, "{r}: coordinates or listed under `without`, not both");
        }
        for (name, p) in &d.coordinates.regions {
            assert!(AZURE_REGIONS.contains(&name.as_str()), "{name} is an Azure region");
            assert!((-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon), "{name}");
        }
    }

    #[test]
    fn great_circle_distances_match_known_ones() {
        // Amsterdam (westeurope) to Dublin (northeurope): about 750 km.
        let d = distance_km(place("westeurope").unwrap(), place("northeurope").unwrap());
        assert!((740.0..770.0).contains(&d), "{d}");
        // Same point; antipodes are half the circumference.
        assert_eq!(distance_km(place("eastus").unwrap(), place("eastus").unwrap()), 0.0);
        let a = Place { lat: 0.0, lon: 0.0, place: String::new() };
        let b = Place { lat: 0.0, lon: 180.0, place: String::new() };
        assert!((distance_km(&a, &b) - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }

    #[test]
    fn suggestions_are_nearest_first_without_the_failed_region() {
        let list = builtin_supported().to_vec();
        let e = check_supported("target_region", "westus2", &list, Some("eastus")).unwrap_err();
        assert!(e.contains("target_region westus2 is not a region where"), "{e}");
        let f = check_flag("--target-region", "westus2").unwrap_err();
        assert!(f.starts_with("--target-region westus2 is not a region where"), "{f}");
        assert!(f.ends_with("(choose one, e.g. --target-region centralus)"), "{f}");
        check_flag("--target-region", "eastus").unwrap();
        let names: Vec<String> = nearest_first("westus2", &list)
            .into_iter()
            .map(|(r, _)| r)
            .filter(|r| r != "eastus")
            .collect();
        assert_eq!(
            names,
            [
                "centralus",
                "canadacentral",
                "northeurope",
                "swedencentral",
                "uksouth",
                "westeurope",
                "eastasia",
                "australiaeast"
            ]
        );
        let listed = e.split("nearest to westus2 first: ").nth(1).unwrap();
        let order: Vec<&str> =
            listed.split(", ").map(|s| s.split(' ').next().unwrap()).take(8).collect();
        assert_eq!(order, names);
        assert!(!listed.contains("eastus ("), "the failed region is not suggested: {e}");
        assert!(e.contains("--set target_region=centralus"), "{e}");
        assert!(e.contains("--set supported_regions=westus2,eastasia,"), "{e}");
        assert!(e.contains("devops-support"), "names the source: {e}");
    }

    #[test]
    fn supported_regions_pass_and_overrides_replace_the_list() {
        let list = builtin_supported().to_vec();
        check_supported("target_region", "North Europe", &list, None).unwrap();
        check_target("northeurope", &[]).unwrap();
        assert!(check_target("westus2", &[]).is_err());
        check_target("westus2", &["westus2".into(), "eastus".into()]).unwrap();
        let e = check_target("northeurope", &["westus2".into()]).unwrap_err();
        assert!(e.contains("the run's supported_regions"), "{e}");
        let e = supported(&["westus9".into()]).unwrap_err();
        assert!(e.contains("supported_regions `westus9` is not an Azure region"), "{e}");
        assert_eq!(supported(&["".into()]).unwrap(), list);
    }

    #[test]
    fn a_region_without_coordinates_keeps_the_list_order() {
        let list = builtin_supported().to_vec();
        let e = check_supported("target_region", "usgovvirginia", &list, None).unwrap_err();
        assert!(e.contains("in lifeboat's order (no coordinates for usgovvirginia): "), "{e}");
        assert!(e.contains(&format!("usgovvirginia): {} (", list.join(", "))), "{e}");
    }
}
