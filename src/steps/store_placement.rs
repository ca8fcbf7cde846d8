//! Where the run's state lives, checked before a run starts: a run store or backup store whose
//! storage account is located in the failed region is refused (exit 2, nothing written), unless
//! forced with [`FORCE_FLAG`]. While that region is down the store may be unreadable, and the
//! record of the recovery would be lost with the region it recovers from.
//!
//! An account is found by name through Resource Graph (`resources | where type =~
//! 'microsoft.storage/storageaccounts' and name =~ NAME`), then read with Storage Accounts - Get
//! Properties (api family `storage`, 2023-05-01: `location`, `sku.name`, `kind`,
//! `properties.secondaryLocation`). When Get Properties fails (the storage resource provider of
//! a down region may not answer) the Resource Graph row's location is used, and the finding says
//! so.
//!
//! What cannot be read (no permission, no such account visible, no credential) is never
//! silently passed: the run is refused with the two ways out, `--store-location ACCOUNT=REGION`
//! (the caller says where it is; checked like a read location) or [`FORCE_FLAG`] (go on
//! unchecked). Either way the fact is a warning of the run (the header's `warnings`, which
//! `status`, the end of `run` and the audit record show) and journaled in the header's
//! `store_placement`. A store on an emulator on this machine (Azurite) is not an Azure account:
//! a warning, and no refusal. An account that is only locally redundant (LRS, ZRS) gets a
//! warning recommending a geo-redundant one (GRS, RA-GRS, GZRS, RA-GZRS) in another region; a
//! geo-redundant one whose secondary is the failed region, too.

use crate::azure::api::ApiFamily;
use crate::azure::ArmClient;
use crate::error::UserError;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::fmt;

/// The flag that lets a run use a store located in the failed region (or one whose location
/// cannot be read).
pub const FORCE_FLAG: &str = "--allow-store-in-failed-region";
/// The flag that says where a store's account is when lifeboat cannot read it.
pub const LOCATION_FLAG: &str = "--store-location";
/// The header field of the findings.
pub const HEADER_FIELD: &str = "store_placement";

/// Which store an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreRole {
    Run,
    Backup,
}

impl fmt::Display for StoreRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreRole::Run => "run store",
            StoreRole::Backup => "backup store",
        })
    }
}

/// A store on Azure Blob, and its storage account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreAccount {
    pub role: StoreRole,
    /// The store as people read it (`az://container/prefix`; never a SAS or key).
    pub url: String,
    /// The storage account name; empty when the command was given none (then its location
    /// cannot be read).
    pub account: String,
    /// The account's Blob endpoint is on this machine (Azurite): not an Azure account.
    pub emulator: bool,
}

/// What the command was given: its stores on Azure Blob and the two flags.
#[derive(Debug, Clone, Default)]
pub struct StoreCheck {
    pub stores: Vec<StoreAccount>,
    /// `--store-location [ACCOUNT=]REGION` (normalised region; `None` = every account whose
    /// location cannot be read).
    pub given: Vec<(Option<String>, String)>,
    /// [`FORCE_FLAG`].
    pub force: bool,
}

/// Parses `--store-location ACCOUNT=REGION` or `--store-location REGION` (a clap value parser:
/// a bad value exits 2 before anything).
pub fn parse_location_flag(s: &str) -> Result<(Option<String>, String), String> {
    let (account, region) = match s.split_once('=') {
        Some((a, r)) => {
            let a = a.trim().to_ascii_lowercase();
            check_account_name(&a)?;
            (Some(a), r)
        }
        None => (None, s),
    };
    let region = super::recovery::check_region(LOCATION_FLAG, region)?;
    Ok((account, region))
}

/// A storage account name as Azure requires it: 3–24 lowercase letters and digits (so it can
/// go into a query as is).
pub fn check_account_name(name: &str) -> Result<(), String> {
    let ok = (3..=24).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a storage account name (3 to 24 lowercase letters and digits)",
            name.escape_default()
        ))
    }
}

/// Where one store's account was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    pub role: StoreRole,
    pub store: String,
    pub account: String,
    /// The account's resource ID, when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Normalised (`westeurope`); `None` when it could not be read nor was given.
    pub location: Option<String>,
    /// `storage API`, `Resource Graph`, `--store-location`, `emulator`, or `unknown`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_location: Option<String>,
    /// Why the location could not be read from Azure (when it could not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// The outcome of the check: journaled in the header (`store_placement`), its warnings in the
/// header's `warnings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlacementReport {
    pub failed_region: String,
    pub stores: Vec<Located>,
    /// [`FORCE_FLAG`] was given.
    pub forced: bool,
    pub warnings: Vec<String>,
}

impl PlacementReport {
    /// Adds the report to a run's header fields: `store_placement`, and its warnings to
    /// `warnings` (after any already there). Nothing when no store was checked.
    pub fn add_to_header(&self, header: &mut Map<String, Value>) {
        if self.stores.is_empty() {
            return;
        }
        header.insert(HEADER_FIELD.into(), json!(self));
        if !self.warnings.is_empty() {
            let list = header.entry("warnings").or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut() {
                a.extend(self.warnings.iter().map(|w| json!(w)));
            }
        }
    }
}

/// The failed region of a plan (its `failed_region` parameter, normalised), when it has a
/// valid one: the region whose stores are refused.
pub fn failed_region_of(plan: &crate::runbook::Plan) -> Option<String> {
    let raw = plan.params.get("failed_region")?.as_str()?;
    super::recovery::check_region("failed_region", raw).ok()
}

/// Whether a SKU name keeps data in one region only (`Standard_LRS`, `Premium_ZRS`, ...).
fn locally_redundant(sku: &str) -> bool {
    let s = sku.to_ascii_uppercase();
    s.ends_with("_LRS") || s.ends_with("_ZRS")
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

impl Located {
    /// `store` before anything is known of its account; `unreadable`: why nothing will be.
    fn unknown(store: &StoreAccount, unreadable: Option<String>) -> Located {
        Located {
            role: store.role,
            store: store.url.clone(),
            account: store.account.clone(),
            id: None,
            location: None,
            source: "unknown".into(),
            sku: None,
            kind: None,
            secondary_location: None,
            unreadable,
        }
    }
}

/// Finds `store`'s account with `client` (see the module doc). Reads only.
pub async fn locate(client: &ArmClient, store: &StoreAccount) -> Located {
    let mut found = Located::unknown(store, None);
    if store.account.is_empty() {
        found.unreadable =
            Some("the command names no storage account (set AZURE_STORAGE_ACCOUNT_NAME)".into());
        return found;
    }
    if let Err(e) = check_account_name(&store.account) {
        found.unreadable = Some(e);
        return found;
    }
    let query = format!(
        "resources | where type =~ 'microsoft.storage/storageaccounts' and name =~ '{}' | project id, name, location, sku, kind, properties",
        store.account
    );
    let rows = match client.resource_graph_query(&query, &[]).await {
        Ok(rows) => rows,
        Err(e) => {
            found.unreadable = Some(format!("Resource Graph could not be asked for it: {e}"));
            return found;
        }
    };
    let Some(row) = rows.into_iter().next().map(Value::Object) else {
        found.unreadable = Some(format!(
            "no storage account named `{}` is visible to this credential (Resource Graph)",
            store.account
        ));
        return found;
    };
    found.id = text(&row, "/id");
    found.location = text(&row, "/location").map(|l| crate::text::normalize_region(&l));
    found.sku = text(&row, "/sku/name");
    found.kind = text(&row, "/kind");
    found.secondary_location = text(&row, "/properties/secondaryLocation");
    found.source = "Resource Graph".into();
    let Some(id) = found.id.clone() else { return found };
    match client.get_json(id.as_str(), ApiFamily::Storage, None).await {
        Ok(doc) => {
            if let Some(l) = text(&doc, "/location") {
                found.location = Some(crate::text::normalize_region(&l));
                found.source = "storage API".into();
            }
            found.sku = text(&doc, "/sku/name").or(found.sku);
            found.kind = text(&doc, "/kind").or(found.kind);
            found.secondary_location =
                text(&doc, "/properties/secondaryLocation").or(found.secondary_location);
        }
        Err(e) => {
            found.unreadable = Some(format!(
                "Storage Accounts - Get Properties failed ({e}); the location is Resource Graph's"
            ));
        }
    }
    if found.location.is_none() {
        found.source = "unknown".into();
        found.unreadable.get_or_insert_with(|| "Resource Graph's row has no location".into());
    }
    found
}

/// The hint of a refusal.
fn fix(failed: &str) -> String {
    format!(
        "put the store in a storage account of another region, preferably geo-redundant (Standard_RAGRS or Standard_GRS, primary outside {failed}; check one with `az storage account show -n ACCOUNT --query \"{{location:location, sku:sku.name, secondary:secondaryLocation}}\"`), or, accepting that the store may be unreachable while {failed} is down, run again with {FORCE_FLAG}; nothing was written"
    )
}

/// Judges what [`locate`] found (pure: the unit tests' seam). Refusals are usage errors (exit 2).
pub fn judge(
    failed_region: &str,
    mut located: Vec<Located>,
    check: &StoreCheck,
) -> Result<PlacementReport, UserError> {
    let failed = crate::text::normalize_region(failed_region);
    let mut warnings = Vec::new();
    let mut refusals = Vec::new();
    for (l, store) in located.iter_mut().zip(&check.stores) {
        let who = format!("the {} {} (storage account `{}`)", l.role, l.store, l.account);
        let given = check
            .given
            .iter()
            .find(|(a, _)| a.as_deref() == Some(l.account.as_str()))
            .or_else(|| check.given.iter().find(|(a, _)| a.is_none()))
            .map(|(_, r)| r.clone());
        match (&l.location, given) {
            (Some(read), Some(g)) if *read != g => warnings.push(format!(
                "{who}: {LOCATION_FLAG} says {g}, but the {} says {read}: {read} is used",
                l.source
            )),
            (None, Some(g)) => {
                warnings.push(format!(
                    "{who}: its location could not be read ({}); {LOCATION_FLAG} gives {g}",
                    l.unreadable.as_deref().unwrap_or("unknown reason")
                ));
                l.location = Some(g);
                l.source = LOCATION_FLAG.into();
            }
            _ => {}
        }
        let Some(location) = l.location.clone() else {
            if store.emulator {
                l.source = "emulator".into();
                warnings.push(format!(
                    "{who} is an emulator on this machine, not an Azure storage account: where it lives is not checked"
                ));
            } else if check.force {
                warnings.push(format!(
                    "{who}: its location could not be read ({}); not checked ({FORCE_FLAG})",
                    l.unreadable.as_deref().unwrap_or("unknown reason")
                ));
            } else {
                refusals.push(UserError::usage(format!(
                    "cannot tell where {who} is located: {}",
                    l.unreadable.as_deref().unwrap_or("unknown reason")
                ))
                .with_hint(format!(
                    "give this credential the Reader role on the storage account, or say where it is with `{LOCATION_FLAG} {}=REGION` (`az storage account show -n {} --query location`), or go on unchecked with {FORCE_FLAG}; nothing was written",
                    l.account, l.account
                )));
            }
            continue;
        };
        if location == failed {
            if check.force {
                warnings.push(format!(
                    "{who} is located in {location}, the failed region ({}); used anyway ({FORCE_FLAG}): while {failed} is down the store may be unreachable",
                    l.source
                ));
            } else {
                refusals.push(
                    UserError::usage(format!(
                        "{who} is located in {location}, the failed region ({}): while {failed} is down the store may be unreachable and the run's state with it",
                        l.source
                    ))
                    .with_hint(fix(&failed)),
                );
                continue;
            }
        }
        if let Some(sku) = l.sku.as_deref().filter(|s| locally_redundant(s)) {
            warnings.push(format!(
                "{who} is locally redundant ({sku}): an outage of {location} makes it unavailable; use a geo-redundant account (GRS or RA-GRS) in another region than the connectors"
            ));
        } else if l.secondary_location.as_deref().map(crate::text::normalize_region)
            == Some(failed.clone())
        {
            warnings.push(format!(
                "{who}: its geo-redundant copy is in {failed}, the failed region: a failover of the account would not help now"
            ));
        }
    }
    if let Some(first) = refusals.into_iter().next() {
        return Err(first);
    }
    Ok(PlacementReport { failed_region: failed, stores: located, forced: check.force, warnings })
}

/// The check: every store of `check` located (one lookup per account), then judged. Without a
/// client (a runbook that calls no Azure), every location is unreadable.
pub async fn check(
    client: Option<&ArmClient>,
    failed_region: &str,
    check: &StoreCheck,
) -> Result<PlacementReport, UserError> {
    let mut located: Vec<Located> = Vec::new();
    for store in &check.stores {
        if let Some(same) =
            located.iter().find(|l| l.account == store.account && !l.account.is_empty())
        {
            let mut l = same.clone();
            l.role = store.role;
            l.store = store.url.clone();
            located.push(l);
            continue;
        }
        let l = match client {
            Some(c) => locate(c, store).await,
            None => Located::unknown(store, Some("this command has no Azure connection".into())),
        };
        located.push(l);
    }
    judge(failed_region, located, check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(account: &str) -> StoreAccount {
        StoreAccount {
            role: StoreRole::Backup,
            url: "az://backups/prod".into(),
            account: account.into(),
            emulator: false,
        }
    }

    fn at(account: &str, location: Option<&str>, sku: &str) -> Located {
        Located {
            role: StoreRole::Backup,
            store: "az://backups/prod".into(),
            account: account.into(),
            id: None,
            location: location.map(str::to_string),
            source: "storage API".into(),
            sku: Some(sku.into()),
            kind: None,
            secondary_location: None,
            unreadable: location.is_none().then(|| "no permission".into()),
        }
    }

    fn checked(stores: Vec<StoreAccount>) -> StoreCheck {
        StoreCheck { stores, ..StoreCheck::default() }
    }

    #[test]
    fn a_store_in_the_failed_region_is_refused_unless_forced() {
        let c = checked(vec![store("stweu")]);
        let e = judge("West Europe", vec![at("stweu", Some("westeurope"), "Standard_RAGRS")], &c)
            .unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Usage);
        for part in ["`stweu`", "located in westeurope, the failed region", "az://backups/prod"] {
            assert!(e.message.contains(part), "{part}: {}", e.message);
        }
        let hint = e.hint.unwrap_or_default();
        assert!(hint.contains(FORCE_FLAG) && hint.contains("Standard_RAGRS"), "{hint}");
        let c = StoreCheck { force: true, ..c };
        let r = judge("westeurope", vec![at("stweu", Some("westeurope"), "Standard_RAGRS")], &c)
            .unwrap();
        assert!(r.forced);
        assert!(r.warnings[0].contains("used anyway (--allow-store-in-failed-region)"), "{r:?}");
    }

    #[test]
    fn elsewhere_passes_and_local_redundancy_is_a_warning() {
        let c = checked(vec![store("stuks")]);
        let r =
            judge("westeurope", vec![at("stuks", Some("uksouth"), "Standard_RAGRS")], &c).unwrap();
        assert!(r.warnings.is_empty(), "{r:?}");
        for sku in ["Standard_LRS", "Premium_ZRS"] {
            let r = judge("westeurope", vec![at("stuks", Some("uksouth"), sku)], &c).unwrap();
            assert!(r.warnings[0].contains(&format!("locally redundant ({sku})")), "{r:?}");
            assert!(r.warnings[0].contains("GRS or RA-GRS"), "{r:?}");
        }
        let mut l = at("stuks", Some("northeurope"), "Standard_GRS");
        l.secondary_location = Some("westeurope".into());
        let r = judge("westeurope", vec![l], &c).unwrap();
        assert!(r.warnings[0].contains("geo-redundant copy is in westeurope"), "{r:?}");
    }

    #[test]
    fn an_unreadable_location_needs_the_flag_or_a_given_location() {
        let c = checked(vec![store("stx")]);
        let e = judge("westeurope", vec![at("stx", None, "Standard_LRS")], &c).unwrap_err();
        assert!(e.message.contains("cannot tell where") && e.message.contains("no permission"));
        assert!(e.hint.unwrap_or_default().contains("--store-location stx=REGION"));
        // Given elsewhere: passes with a warning; given as the failed region: refused.
        let given = |a: Option<&str>, r: &str| StoreCheck {
            given: vec![(a.map(str::to_string), r.into())],
            ..checked(vec![store("stx")])
        };
        let r = judge(
            "westeurope",
            vec![at("stx", None, "Standard_RAGRS")],
            &given(Some("stx"), "uksouth"),
        )
        .unwrap();
        assert_eq!(r.stores[0].location.as_deref(), Some("uksouth"));
        assert_eq!(r.stores[0].source, LOCATION_FLAG);
        assert!(r.warnings[0].contains("could not be read (no permission)"), "{r:?}");
        let e = judge(
            "westeurope",
            vec![at("stx", None, "Standard_RAGRS")],
            &given(None, "westeurope"),
        )
        .unwrap_err();
        assert!(e.message.contains("the failed region (--store-location)"), "{}", e.message);
        // Forced: passes, said.
        let c = StoreCheck { force: true, ..checked(vec![store("stx")]) };
        let r = judge("westeurope", vec![at("stx", None, "Standard_RAGRS")], &c).unwrap();
        assert!(r.warnings[0].contains("not checked"), "{r:?}");
        // An emulator is not an Azure account.
        let c = checked(vec![StoreAccount { emulator: true, ..store("devstoreaccount1") }]);
        let r = judge("westeurope", vec![at("devstoreaccount1", None, "x")], &c).unwrap();
        assert!(r.warnings[0].contains("emulator"), "{r:?}");
    }

    #[test]
    fn flags_parse() {
        assert_eq!(parse_location_flag("UK South").unwrap(), (None, "uksouth".into()));
        assert_eq!(
            parse_location_flag("StDr=uksouth").unwrap(),
            (Some("stdr".into()), "uksouth".into())
        );
        assert!(parse_location_flag("st-dr=uksouth").unwrap_err().contains("storage account name"));
        assert!(parse_location_flag("stdr=atlantis").is_err());
    }

    #[test]
    fn the_report_goes_into_the_header() {
        let c = checked(vec![store("stuks")]);
        let r =
            judge("westeurope", vec![at("stuks", Some("uksouth"), "Standard_LRS")], &c).unwrap();
        let mut h = Map::new();
        h.insert("warnings".into(), json!(["earlier"]));
        r.add_to_header(&mut h);
        assert_eq!(h["warnings"].as_array().map(Vec::len), Some(2));
        assert_eq!(h[HEADER_FIELD]["stores"][0]["account"], "stuks");
        let mut h = Map::new();
        PlacementReport::default().add_to_header(&mut h);
        assert!(h.is_empty());
    }
}
