//! Canonical JSON, content hashes, and the two body rewrites every captured resource goes
//! through: removing secrets (always, before anything is stored) and ignoring volatile read-only
//! fields (only for the hash; they stay in the stored body).
//!
//! Canonical form: object keys sorted by their UTF-8 bytes, no insignificant whitespace, strings
//! and numbers as `serde_json` writes them. It is stable across runs and across lifeboat
//! versions, which is what makes the object keys content addresses.

/// The hash of stored objects and seals (its home is [`crate::digest`]; this path stays for
/// callers that name it here).
pub use crate::digest::sha256_hex;
use serde_json::{Map, Value};

/// Fields left out of the content hash because ARM changes them without any configuration
/// change: the resource's `etag`, the `lastModified*` part of `systemData`, and the status
/// timestamp of DevOps resources. They are kept in the stored body (the first value seen for a
/// given content is the one stored). Paths are JSON-pointer-like, from the resource root.
pub const VOLATILE_FIELDS: &[&[&str]] = &[
    &["etag"],
    &["systemData", "lastModifiedAt"],
    &["systemData", "lastModifiedBy"],
    &["systemData", "lastModifiedByType"],
    &["properties", "provisioningStatusUpdateTimeUtc"],
];

/// Writes `value` in canonical form.
pub fn to_canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String((*k).clone()), out);
                out.push(b':');
                write_canonical(&map[k.as_str()], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Serializing a scalar into a Vec cannot fail: no IO, no non-string keys.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// The content address of a resource body: SHA-256 of the canonical JSON of the body with the
/// [`VOLATILE_FIELDS`] removed.
pub fn content_hash(body: &Value) -> String {
    let mut stable = body.clone();
    for path in VOLATILE_FIELDS {
        remove_path(&mut stable, path);
    }
    sha256_hex(&to_canonical_bytes(&stable))
}

fn remove_path(value: &mut Value, path: &[&str]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = value;
    for p in parents {
        cur = cur.as_object_mut()?.get_mut(*p)?;
    }
    cur.as_object_mut()?.remove(*last)
}

/// Removes secrets from a body before it is hashed or stored, and says whether it found any.
///
/// `properties.authorization` (the one-time OAuth code of `devops/default`, `x-ms-secret` in the
/// API) is removed whole: ARM clears it on GET, so finding it means something upstream leaked it,
/// and a backup must never be where it lands.
pub fn scrub_secrets(body: &mut Value) -> bool {
    body.get_mut("properties")
        .and_then(Value::as_object_mut)
        .and_then(|p: &mut Map<String, Value>| p.remove("authorization"))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_keys_and_drops_whitespace() {
        let v: Value = serde_json::from_str(r#"{ "b": [1, {"z":1,"a":"x"}], "a": null }"#).unwrap();
        assert_eq!(to_canonical_bytes(&v), br#"{"a":null,"b":[1,{"a":"x","z":1}]}"#.to_vec());
    }

    #[test]
    fn volatile_fields_do_not_change_the_hash_but_config_does() {
        let a = json!({"id":"x","etag":"1","properties":{"provisioningStatusUpdateTimeUtc":"t1","actionableRemediation":{"state":"Enabled"}}});
        let b = json!({"id":"x","etag":"2","properties":{"provisioningStatusUpdateTimeUtc":"t2","actionableRemediation":{"state":"Enabled"}}});
        let c = json!({"id":"x","etag":"2","properties":{"provisioningStatusUpdateTimeUtc":"t2","actionableRemediation":{"state":"Disabled"}}});
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&b), content_hash(&c));
    }

    #[test]
    fn unknown_fields_are_part_of_the_hash() {
        let a = json!({"id":"x","properties":{}});
        let b = json!({"id":"x","properties":{"futureField":true}});
        assert_ne!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn scrub_removes_the_authorization_code() {
        let mut v = json!({"properties":{"authorization":{"code":"secret-code"},"autoDiscovery":"Enabled"}});
        assert!(scrub_secrets(&mut v));
        assert!(!v.to_string().contains("secret-code"));
        assert!(!scrub_secrets(&mut v));
    }
}
