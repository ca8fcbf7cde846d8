//! What each `--scenario` changes in a simulated drill: the simulator's faults and throttling,
//! whether the drill interrupts its own run, and the tampering of the backup snapshot.
//!
//! Every scenario is a real run of the recovery path against the simulator; a scenario only
//! changes the conditions (faults, limits, interruptions, a damaged snapshot), never the expected
//! result.

use super::report::Scenario;
use crate::sim::faults::{FaultSpec, GroupWrites};
use crate::sim::throttle::ThrottleConfig;
use std::path::{Path, PathBuf};

/// The fault spec of a scenario, seeded so a drill can be replayed (`--seed`).
pub fn faults(scenario: Scenario, seed: u64) -> FaultSpec {
    let spec = match scenario {
        // Bursts of 429 on top of the (tightened) ARM buckets below.
        Scenario::Throttled => format!("429-burst=0.05x3;seed={seed}"),
        // 5xx answers and connections closed before an answer, at rates a retrying client and
        // the engine's step retries must absorb.
        Scenario::Flaky => format!("500=0.03;503=0.02;drop=0.02;seed={seed}"),
        Scenario::RegionOutage | Scenario::Crash | Scenario::TamperedBackup => {
            format!("seed={seed}")
        }
    };
    let mut spec: FaultSpec = spec.parse().unwrap_or_default();
    // While the drilled region is down, writes to resources of groups located there fail (the
    // pessimistic one of ARM's two documented behaviours): a recovery that put the new
    // connector in the old connector's group would fail the drill.
    spec.group_writes = GroupWrites::Block;
    spec
}

/// The simulator's ARM throttling of a scenario: ARM's documented limits, except `throttled`,
/// whose buckets are small enough that a drill of the `small` tenant meets them.
pub fn throttle(scenario: Scenario) -> ThrottleConfig {
    let mut t = ThrottleConfig::default();
    if scenario == Scenario::Throttled {
        t.reads.capacity = 40;
        t.reads.refill_per_sec = 2.0;
        t.writes.capacity = 8;
        t.writes.refill_per_sec = 1.0;
        t.deletes.capacity = 4;
        t.deletes.refill_per_sec = 1.0;
    }
    t
}

/// Alters one byte of one stored object of a local backup store: the object whose content
/// address is `hash` if given, else the first object file in path order (reproducible). A letter
/// inside the sealed content becomes another letter, which keeps the file valid JSON, so only the
/// seal (or the content address) can tell. Returns the altered file.
pub fn tamper_one_object(store_dir: &Path, hash: Option<&str>) -> std::io::Result<PathBuf> {
    let mut files = Vec::new();
    collect_files(&store_dir.join("objects"), &mut files)?;
    files.sort();
    let chosen = match hash {
        Some(h) => files.into_iter().find(|f| f.file_name().is_some_and(|n| n == h)),
        None => files.into_iter().next(),
    };
    let Some(path) = chosen else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no object to tamper with under {}", store_dir.display()),
        ));
    };
    let mut bytes = std::fs::read(&path)?;
    // Skip the envelope's own keys: alter a letter after `"content"`.
    let start = find(&bytes, b"\"content\"").map_or(0, |i| i + 10);
    let Some(i) = bytes[start..].iter().position(|b| b.is_ascii_lowercase()).map(|i| i + start)
    else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} has no letter to alter", path.display()),
        ));
    };
    bytes[i] = if bytes[i] == b'z' { b'y' } else { bytes[i] + 1 };
    std::fs::write(&path, bytes)?;
    Ok(path)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect_files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_has_a_valid_fault_spec() {
        for s in [
            Scenario::RegionOutage,
            Scenario::Throttled,
            Scenario::Flaky,
            Scenario::Crash,
            Scenario::TamperedBackup,
        ] {
            let f = faults(s, 7);
            assert_eq!(f.seed, 7, "{s:?}");
            assert_eq!(f.to_string().parse::<FaultSpec>().unwrap(), f);
        }
        assert!(faults(Scenario::Flaky, 1).drop_rate > 0.0);
        assert!(faults(Scenario::Throttled, 1).throttle_burst.is_some());
        assert!(faults(Scenario::RegionOutage, 1).error_rates.is_empty());
        assert_eq!(faults(Scenario::RegionOutage, 1).group_writes, GroupWrites::Block);
    }

    #[test]
    fn tampering_changes_exactly_one_byte_and_keeps_json() {
        let dir = tempfile::tempdir().unwrap();
        let obj = dir.path().join("objects/ab");
        std::fs::create_dir_all(&obj).unwrap();
        let body = br#"{"content":{"name":"contoso"},"sha256":"00"}"#;
        std::fs::write(obj.join("abcd"), body).unwrap();
        let p = tamper_one_object(dir.path(), Some("abcd")).unwrap();
        let after = std::fs::read(&p).unwrap();
        let diff = body.iter().zip(&after).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 1);
        serde_json::from_slice::<serde_json::Value>(&after).unwrap();
        let empty = tempfile::tempdir().unwrap();
        assert!(tamper_one_object(empty.path(), None).is_err());
        assert!(tamper_one_object(dir.path(), Some("ffff")).is_err());
    }
}
