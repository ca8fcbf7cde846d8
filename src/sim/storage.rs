//! Storage accounts (`Microsoft.Storage/storageAccounts`), read only: where a run store or a
//! backup store lives. Lifeboat asks for a store's account to refuse one located in the failed
//! region, and to warn about one that is only locally redundant.
//!
//! - `GET /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Storage/storageAccounts/{name}`
//!   (Storage Accounts - Get Properties, 2023-05-01): the document shaped like the spec example
//!   `StorageAccountGetProperties.json` (tests/fixtures/azure-specs): `location`, `sku`
//!   (`name`, `tier`), `kind`, `properties.primaryLocation`, and for a geo-redundant SKU
//!   `secondaryLocation`, `statusOfPrimary`, `statusOfSecondary`;
//! - `GET /subscriptions/{s}/providers/Microsoft.Storage/storageAccounts` (List, paged);
//! - a row per account in Resource Graph's `resources` table (`type`
//!   `microsoft.storage/storageaccounts`, `location`, `sku`, `kind`), the way a caller finds an
//!   account by name.
//!
//! While the account's region is down (`outage=`), Get Properties and List answer `503`
//! (Microsoft documents nothing about the storage resource provider's control plane during a
//! regional outage: the pessimistic choice, docs/simulator.md); Resource Graph, a global
//! service, still answers. A name is globally unique, as in Azure; lookups are
//! case-insensitive.

use super::model::normalize_region;
use super::server::{ArmError, ArmResult, Ctx, Reply};
use super::versions::Family;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// One storage account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccount {
    pub subscription: String,
    pub resource_group: String,
    /// 3–24 lowercase letters and digits (as Azure requires).
    pub name: String,
    /// As ARM returns it (`westeurope`).
    pub location: String,
    /// `Standard_LRS`, `Standard_GRS`, `Standard_RAGRS`, `Standard_ZRS`, `Premium_LRS`,
    /// `Premium_ZRS`, `Standard_GZRS`, `Standard_RAGZRS` (any other value is kept verbatim).
    #[serde(default = "default_sku")]
    pub sku: String,
    /// `StorageV2`, `Storage`, `BlobStorage`, `BlockBlobStorage`, `FileStorage`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The paired region of a geo-redundant account (absent for LRS/ZRS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_location: Option<String>,
    /// More `properties` (a tenant file's, e.g. `networkAcls`); the simulator's own win.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub tags: Map<String, Value>,
}

fn default_sku() -> String {
    "Standard_RAGRS".into()
}

fn default_kind() -> String {
    "StorageV2".into()
}

/// Whether a SKU keeps a copy in a second region (GRS, RA-GRS, GZRS, RA-GZRS).
fn geo_redundant(sku: &str) -> bool {
    let s = sku.to_ascii_uppercase();
    s.ends_with("_GRS") || s.ends_with("_RAGRS") || s.ends_with("_GZRS") || s.ends_with("_RAGZRS")
}

impl StorageAccount {
    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{}",
            self.subscription, self.resource_group, self.name
        )
    }

    pub fn region(&self) -> String {
        normalize_region(&self.location)
    }

    /// Checks a tenant file's account: a valid name, a known SKU tier.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.name.len();
        if !(3..=24).contains(&n)
            || !self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(format!(
                "storage account name `{}` must be 3 to 24 lowercase letters and digits",
                self.name
            ));
        }
        if !self.sku.contains('_') {
            return Err(format!(
                "storage account `{}`: sku `{}` is not TIER_REDUNDANCY",
                self.name, self.sku
            ));
        }
        Ok(())
    }

    /// Get Properties' document (see the module doc); `geoReplicationStats` only when asked
    /// for (`$expand=geoReplicationStats`), as the spec says, and only for a geo-redundant SKU.
    pub fn document(&self, expand_geo: bool) -> Value {
        let mut d = self.json();
        if expand_geo && geo_redundant(&self.sku) {
            d["properties"]["geoReplicationStats"] = json!({"status": "Live", "lastSyncTime": "2024-01-15T09:00:00Z", "canFailover": true});
        }
        d
    }

    /// Get Properties' document without expansions.
    pub fn json(&self) -> Value {
        let tier = self.sku.split('_').next().unwrap_or("Standard");
        let mut props = Value::Object(self.properties.clone());
        let own = json!({
            "provisioningState": "Succeeded",
            "primaryLocation": self.location,
            "statusOfPrimary": "available",
            "creationTime": "2024-01-15T09:00:00.0000000Z",
            "supportsHttpsTrafficOnly": true,
        });
        for (k, v) in own.as_object().into_iter().flatten() {
            props[k] = v.clone();
        }
        if props.get("primaryEndpoints").is_none() {
            props["primaryEndpoints"] =
                json!({"blob": format!("https://{}.blob.core.windows.net/", self.name)});
        }
        if geo_redundant(&self.sku) {
            if let Some(s) = &self.secondary_location {
                props["secondaryLocation"] = json!(s);
                props["statusOfSecondary"] = json!("available");
            }
        }
        json!({
            "id": self.id(),
            "kind": self.kind,
            "location": self.location,
            "name": self.name,
            "properties": props,
            "sku": {"name": self.sku, "tier": tier},
            "tags": self.tags,
            "type": "Microsoft.Storage/storageAccounts",
        })
    }

    /// Its row of Resource Graph's `resources` table.
    pub fn row(&self, tenant_id: &str) -> Value {
        let doc = self.json();
        json!({
            "id": doc["id"],
            "name": self.name,
            "type": "microsoft.storage/storageaccounts",
            "tenantId": tenant_id,
            "kind": self.kind,
            "location": self.region(),
            "resourceGroup": self.resource_group.to_ascii_lowercase(),
            "subscriptionId": self.subscription,
            "managedBy": "",
            "sku": doc["sku"],
            "plan": null,
            "properties": doc["properties"],
            "tags": self.tags,
            "identity": null,
            "zones": null,
            "extendedLocation": null,
        })
    }
}

fn unavailable(region: &str) -> ArmError {
    ArmError::new(
        503,
        "ServiceUnavailable",
        format!(
            "The region '{region}' is currently unavailable and the resource provider 'Microsoft.Storage' cannot serve requests for resources in it. Retry later."
        ),
    )
}

fn region_down(ctx: &Ctx, region: &str) -> bool {
    ctx.shared.faults.spec().region_is_out(region)
}

fn only_get(ctx: &Ctx) -> Result<(), ArmError> {
    if ctx.method != "GET" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!(
                "The simulator serves storage accounts read-only; '{}' is not allowed.",
                ctx.method
            ),
        ));
    }
    Ok(())
}

/// `GET .../resourceGroups/{g}/providers/Microsoft.Storage/storageAccounts/{name}`.
pub fn get(ctx: &Ctx) -> ArmResult {
    only_get(ctx)?;
    let (sub, rg, name) = (&ctx.segs[1], &ctx.segs[3], &ctx.segs[7]);
    let account = {
        let cloud = ctx.shared.cloud();
        super::arm::subscription_check(&cloud, sub)?;
        cloud
            .storage_accounts
            .get(&name.to_ascii_lowercase())
            .filter(|a| {
                a.subscription.eq_ignore_ascii_case(sub)
                    && a.resource_group.eq_ignore_ascii_case(rg)
            })
            .cloned()
    };
    let Some(a) = account else {
        ctx.require(Family::Storage, "storageAccounts", "global")?;
        return Err(ArmError::new(
            404,
            "ResourceNotFound",
            format!(
                "The Resource 'Microsoft.Storage/storageAccounts/{name}' under resource group '{rg}' was not found."
            ),
        ));
    };
    ctx.require(Family::Storage, "storageAccounts", &a.region())?;
    if region_down(ctx, &a.region()) {
        return Err(unavailable(&a.region()));
    }
    let expand = ctx.query.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("$expand")
            && v.split(',').any(|x| x.trim().eq_ignore_ascii_case("geoReplicationStats"))
    });
    Ok(Reply::ok(a.document(expand)))
}

/// `GET /subscriptions/{s}/providers/Microsoft.Storage/storageAccounts` (paged). An account in
/// a down region makes the whole list fail, as a resource provider that cannot reach one of its
/// regions does (the pessimistic choice).
pub fn list(ctx: &Ctx) -> ArmResult {
    only_get(ctx)?;
    ctx.require(Family::Storage, "storageAccounts", "global")?;
    let sub = &ctx.segs[1];
    let items: Vec<StorageAccount> = {
        let cloud = ctx.shared.cloud();
        super::arm::subscription_check(&cloud, sub)?;
        cloud
            .storage_accounts
            .values()
            .filter(|a| a.subscription.eq_ignore_ascii_case(sub))
            .cloned()
            .collect()
    };
    if let Some(a) = items.iter().find(|a| region_down(ctx, &a.region())) {
        return Err(unavailable(&a.region()));
    }
    let path = format!("/subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts");
    ctx.page(&path, items.iter().map(StorageAccount::json).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(sku: &str) -> StorageAccount {
        StorageAccount {
            subscription: "s".into(),
            resource_group: "rg".into(),
            name: "stdrweu".into(),
            location: "westeurope".into(),
            sku: sku.into(),
            kind: "StorageV2".into(),
            secondary_location: Some("northeurope".into()),
            properties: Map::new(),
            tags: Map::new(),
        }
    }

    #[test]
    fn documents_have_the_spec_example_shape() {
        let d = account("Standard_RAGRS").json();
        assert_eq!(d["type"], "Microsoft.Storage/storageAccounts");
        assert_eq!(d["sku"], json!({"name": "Standard_RAGRS", "tier": "Standard"}));
        assert_eq!(d["properties"]["primaryLocation"], "westeurope");
        assert_eq!(d["properties"]["secondaryLocation"], "northeurope");
        // A locally redundant account has no secondary, whatever the file says.
        let d = account("Premium_LRS").json();
        assert_eq!(d["sku"]["tier"], "Premium");
        assert!(d["properties"].get("secondaryLocation").is_none());
    }

    #[test]
    fn names_are_checked_as_azure_does() {
        account("Standard_LRS").validate().unwrap();
        let mut a = account("Standard_LRS");
        a.name = "St-DR".into();
        assert!(a.validate().unwrap_err().contains("lowercase letters and digits"));
        let mut a = account("LRS");
        a.name = "abc".into();
        assert!(a.validate().unwrap_err().contains("TIER_REDUNDANCY"));
    }
}
