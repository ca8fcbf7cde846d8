//! How the simulator answers a long-running write (PUT/PATCH of `devops/default` and of Azure
//! DevOps orgs, projects and repos): every shape ARM's RPC allows, chosen by `--lro-shape`, the
//! control API, or a seeded pick per request (`Mixed`).
//!
//! Whatever the shape, the write is an [`Operation`](super::model::Operation) due at a simulated
//! time: until then a GET of the resource shows an in-progress `provisioningState` and the old
//! settings, at the due time the new settings and `Succeeded` (or `Failed`). `Sync200` applies
//! the operation at once.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LroShape {
    /// 200 (201 when created) with the final body, no header: the write is done when answered.
    Sync200,
    /// 201 + `Azure-AsyncOperation` when created; an update of `devops/default` (PUT) and every
    /// PATCH answer 202, a PUT of an existing Azure DevOps org, project or repo answers 200
    /// (the specs list 200 and 201 for `CreateOrUpdate`), both with `Azure-AsyncOperation`.
    /// The default.
    #[default]
    Created201Async,
    /// 202, `Location` only, no body: poll `Location` until it stops answering 202.
    Accepted202Location,
    /// 202, `Azure-AsyncOperation` only, no body.
    Accepted202Async,
    /// 202 with both `Azure-AsyncOperation` and `Location`, no body.
    Accepted202Both,
    /// 200 (201 when created) + `Azure-AsyncOperation`; the body shows an in-progress
    /// `provisioningState`.
    Ok200Async,
    /// 201 when created, 200 for an update, no header; the body shows a non-terminal
    /// `provisioningState`: the client must poll the resource until it is terminal.
    Created201NoHeader,
    /// A seeded pick of one of the above per write (same seed and write sequence, same picks).
    Mixed(u64),
}

/// The shapes `Mixed` picks from.
const PICKS: [LroShape; 7] = [
    LroShape::Sync200,
    LroShape::Created201Async,
    LroShape::Accepted202Location,
    LroShape::Accepted202Async,
    LroShape::Accepted202Both,
    LroShape::Ok200Async,
    LroShape::Created201NoHeader,
];

/// Intermediate `provisioningState` values ARM services use; the spec's enum is extensible
/// (`modelAsString`), so a client must treat an unknown one as "still running".
const IN_PROGRESS: [&str; 5] = ["Accepted", "InProgress", "Updating", "Provisioning", "Creating"];

fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How one write is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub shape: LroShape,
    /// HTTP status of the first response.
    pub status: u16,
    pub async_header: bool,
    pub location_header: bool,
    /// Whether the first response has a body (the in-progress or, for `Sync200`, final one).
    pub body: bool,
    /// `provisioningState` while the operation runs.
    pub in_progress: &'static str,
    /// The operation completes when answered.
    pub synchronous: bool,
}

impl LroShape {
    /// The answer to the `n`-th long-running write since start. `created`: the write creates
    /// the resource; `legacy_update`: the status the simulator gave an update before issue 12.
    pub fn answer(self, n: u64, created: bool, legacy_update: u16) -> Answer {
        let (shape, state) = match self {
            LroShape::Mixed(seed) => {
                let r = mix(seed, n);
                (PICKS[(r % PICKS.len() as u64) as usize], IN_PROGRESS[((r >> 8) % 5) as usize])
            }
            LroShape::Ok200Async => (self, "InProgress"),
            LroShape::Created201NoHeader => {
                (self, if n % 2 == 0 { "Accepted" } else { "InProgress" })
            }
            s => (s, "Accepted"),
        };
        let update_ok = if created { 201 } else { 200 };
        let (status, async_header, location_header, body) = match shape {
            LroShape::Sync200 => (update_ok, false, false, true),
            // A PUT that replaces an existing resource is a 200 (legacy 201), never a 201.
            LroShape::Created201Async => (
                if created {
                    201
                } else if legacy_update == 201 {
                    200
                } else {
                    legacy_update
                },
                true,
                false,
                true,
            ),
            LroShape::Accepted202Location => (202, false, true, false),
            LroShape::Accepted202Async => (202, true, false, false),
            LroShape::Accepted202Both => (202, true, true, false),
            LroShape::Ok200Async => (update_ok, true, false, true),
            LroShape::Created201NoHeader | LroShape::Mixed(_) => (update_ok, false, false, true),
        };
        Answer {
            shape,
            status,
            async_header,
            location_header,
            body,
            in_progress: state,
            synchronous: shape == LroShape::Sync200,
        }
    }
}

impl fmt::Display for LroShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LroShape::Sync200 => f.write_str("Sync200"),
            LroShape::Created201Async => f.write_str("Created201Async"),
            LroShape::Accepted202Location => f.write_str("Accepted202Location"),
            LroShape::Accepted202Async => f.write_str("Accepted202Async"),
            LroShape::Accepted202Both => f.write_str("Accepted202Both"),
            LroShape::Ok200Async => f.write_str("Ok200Async"),
            LroShape::Created201NoHeader => f.write_str("Created201NoHeader"),
            LroShape::Mixed(seed) => write!(f, "Mixed({seed})"),
        }
    }
}

impl FromStr for LroShape {
    type Err = String;
    /// The names above (case-insensitive), and `Mixed(SEED)` or `mixed:SEED`.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        for shape in PICKS {
            if shape.to_string().to_ascii_lowercase() == lower {
                return Ok(shape);
            }
        }
        let seed = lower
            .strip_prefix("mixed(")
            .and_then(|r| r.strip_suffix(')'))
            .or_else(|| lower.strip_prefix("mixed:"));
        if let Some(n) = seed {
            return n
                .trim()
                .parse::<u64>()
                .map(LroShape::Mixed)
                .map_err(|_| format!("the seed of `{t}` is not a whole number"));
        }
        let shown: String = t.chars().filter(|c| !c.is_control()).take(40).collect();
        Err(format!(
            "unknown long-running-operation shape `{shown}`; use one of Sync200, Created201Async, Accepted202Location, Accepted202Async, Accepted202Both, Ok200Async, Created201NoHeader, Mixed(SEED)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_round_trip_and_mixed_is_seeded() {
        for s in PICKS.into_iter().chain([LroShape::Mixed(7)]) {
            assert_eq!(s.to_string().parse::<LroShape>(), Ok(s));
        }
        assert_eq!("mixed:9".parse::<LroShape>(), Ok(LroShape::Mixed(9)));
        assert!("Sync201".parse::<LroShape>().is_err());
        let picks =
            |seed| (0..50).map(|n| LroShape::Mixed(seed).answer(n, false, 202)).collect::<Vec<_>>();
        assert_eq!(picks(3), picks(3));
        let all: std::collections::BTreeSet<String> =
            picks(3).iter().map(|a| a.shape.to_string()).collect();
        assert_eq!(all.len(), 7, "50 writes see every shape: {all:?}");
    }

    #[test]
    fn the_default_answers_200_to_a_put_of_an_existing_resource_and_202_to_updates_of_the_configuration(
    ) {
        let d = LroShape::default();
        assert_eq!(d.answer(0, true, 202).status, 201);
        assert_eq!(d.answer(0, false, 202).status, 202);
        assert_eq!(d.answer(0, false, 201).status, 200, "a PUT of an existing ADO resource");
        assert_eq!(LroShape::Ok200Async.answer(0, false, 201).status, 200);
        assert_eq!(LroShape::Created201NoHeader.answer(0, false, 201).status, 200);
        let a = LroShape::Accepted202Location.answer(0, true, 201);
        assert_eq!(
            (a.status, a.async_header, a.location_header, a.body),
            (202, false, true, false)
        );
    }
}
