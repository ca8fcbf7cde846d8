//! Shared fixtures of the recovery tests: the simulated Azure (`small` tenant, frozen clock,
//! instant long-running operations), a backup taken through the ARM client before the outage,
//! the `lifeboat` binary pointed at both, and the sim's control API.

use lifeboat::azure::ArmClient;
use lifeboat::backup::arm_reader::ArmReader;
use lifeboat::backup::{self, Keys, Scope, Store};
use lifeboat::engine::{runner, Blocker, Phase};
use lifeboat::sim::{RunningSim, SimConfig};
use lifeboat::steps::registry;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const SUB_A1: &str = "00000000-0000-4000-8000-0000000000a1";

pub use crate::support::cli::{output as run, text};

/// The quiet simulator ([`crate::support::sim::quiet`]) with `faults`.
pub async fn start_sim(faults: &str) -> RunningSim {
    let cfg = SimConfig { faults: faults.parse().unwrap(), ..crate::support::sim::quiet() };
    crate::support::sim::start(cfg).await
}

pub fn client(sim: &RunningSim) -> ArmClient {
    crate::support::sim::client(sim.url())
}

/// Replaces the sim's fault spec (`PUT /_sim/faults`).
pub async fn set_faults(sim: &RunningSim, spec: &str) {
    reqwest::Client::new()
        .put(format!("{}/_sim/faults", sim.url().trim_end_matches('/')))
        .json(&serde_json::json!({ "spec": spec }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

pub async fn fail_region(sim: &RunningSim, region: &str) {
    crate::support::sim::region(sim, region, "fail").await;
}
pub async fn restore_region(sim: &RunningSim, region: &str) {
    crate::support::sim::region(sim, region, "restore").await;
}

/// Takes a backup of the whole small tenant into `dir` (an unencrypted local store).
pub async fn take_backup(sim: &RunningSim, dir: &Path) -> String {
    take_backup_of(sim, dir, Scope::default()).await
}

/// Takes a backup of `scope` into `dir`.
pub async fn take_backup_of(sim: &RunningSim, dir: &Path, scope: Scope) -> String {
    let store = Store::open(dir.to_str().unwrap(), Keys::default()).unwrap();
    let opts = backup::CreateOptions {
        scope,
        now: time::OffsetDateTime::from_unix_timestamp(sim.shared().base_unix).unwrap(),
        rules: Default::default(),
        immutable: false,
    };
    backup::collect(&ArmReader::new(client(sim)), &store, opts).await.unwrap().id
}

/// One test's world: a state dir, a backup store and a codes file.
pub struct World {
    pub tmp: tempfile::TempDir,
    /// Environment variables of every process this world starts (test switches).
    pub env: Vec<(String, String)>,
}

impl World {
    pub fn new() -> World {
        World { tmp: tempfile::tempdir().unwrap(), env: Vec::new() }
    }
    pub fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }
    pub fn store(&self) -> PathBuf {
        self.tmp.path().join("backups")
    }
    pub fn codes(&self) -> PathBuf {
        self.tmp.path().join("codes.txt")
    }
    pub fn run_dir(&self, run: &str) -> PathBuf {
        crate::support::cli::run_dir(&self.state(), run)
    }
    /// The binary with this world's state, store and the sim's endpoint.
    pub fn cmd(&self, sim: &RunningSim, args: &[&str]) -> Command {
        let mut c = crate::support::cli::lifeboat();
        c.args(["--state-dir", self.state().to_str().unwrap()])
            .args(["--backup-store", self.store().to_str().unwrap()])
            .args(["--arm-endpoint", sim.url(), "--auth", "none"])
            .args(args);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }
    pub fn runbook() -> String {
        format!("{}/runbooks/region-outage.yaml", env!("CARGO_MANIFEST_DIR"))
    }
}

/// Writes requests the sim logged (PUT, PATCH, DELETE, and POSTs that are not reads).
pub fn writes(sim: &RunningSim) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| {
            matches!(r.method.as_str(), "PUT" | "PATCH" | "DELETE")
                || (r.method == "POST"
                    && !r.path.contains("listAvailable")
                    && !r.path.contains("listSubgroups")
                    && !r.path.contains("checkNameAvailability")
                    && !r.path.contains("Microsoft.ResourceGraph"))
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The failed connectors of the `small` tenant's westeurope and their replacements' names.
pub const FAILED: [&str; 2] = ["ado-weu", "gitlab-weu"];

/// Writes a fresh OAuth code per failed connector into the world's codes file.
pub fn write_codes(sim: &RunningSim, world: &World) {
    std::fs::write(
        world.codes(),
        format!("ado-weu {}\ngitlab-weu {}\n", sim.mint_code(), sim.mint_code()),
    )
    .unwrap();
}

/// `lifeboat run` of the region-outage runbook (westeurope → northeurope, tickets submitted,
/// one-second polls) with `runbook` as the file.
pub fn run_args(world: &World, runbook: &str, run: &str) -> Vec<String> {
    [
        "run",
        runbook,
        "--run-id",
        run,
        "--set",
        "failed_region=westeurope",
        "--set",
        "target_region=northeurope",
        "--set",
        "submit_ticket=true",
        "--set",
        "contact_first_name=Ada",
        "--set",
        "contact_last_name=Lovelace",
        "--set",
        "contact_email=ada@example.com",
        "--set",
        &format!("authorization_codes={}", world.codes().display()),
        "--set",
        "release_poll_interval=1s",
        "--set",
        "region_poll_interval=1s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Checks the cloud after a recovery, independently of the verify step: the old connectors are
/// gone, exactly one replacement each in northeurope (one created by PUT in the request log),
/// one released ticket each, and every backed-up setting of both connectors live on the
/// replacement, field by field.
pub async fn assert_recovered(sim: &RunningSim, world: &World, snapshot: &str) {
    use lifeboat::azure::ResourceId;
    use lifeboat::backup::snapshot::{find_snapshot, load_manifest, load_object};
    use lifeboat::backup::ResourceKind;
    let store = Store::open(world.store().to_str().unwrap(), Keys::default()).unwrap();
    let m = load_manifest(&store, &find_snapshot(&store, snapshot).await.unwrap()).await.unwrap();
    let c = client(sim);
    {
        let cloud = sim.cloud();
        let names: Vec<String> = cloud.connectors.values().map(|c| c.name.clone()).collect();
        assert!(!names.iter().any(|n| FAILED.contains(&n.as_str())), "old deleted: {names:?}");
        for old in FAILED {
            let n = format!("{old}-northeurope");
            let found: Vec<_> = cloud.connectors.values().filter(|c| c.name == n).collect();
            assert_eq!(found.len(), 1, "exactly one {n}");
            assert_eq!(found[0].region(), "northeurope");
        }
        let in_target = cloud.connectors.values().filter(|c| c.region() == "northeurope").count();
        assert_eq!(in_target, FAILED.len(), "no other connector created in the target region");
        assert_eq!(cloud.tickets.len(), FAILED.len(), "one ticket per connector");
        assert!(cloud.tickets.values().all(|t| t.released), "every ticket released");
    }
    let created: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.status == 201)
        .filter(|r| r.path.to_ascii_lowercase().contains("/securityconnectors/"))
        .filter(|r| r.path.to_ascii_lowercase().ends_with("-northeurope"))
        .map(|r| r.path)
        .collect();
    assert_eq!(created.len(), FAILED.len(), "one connector created per failed one: {created:?}");
    let mut checked = 0;
    for (id, entry) in &m.resources {
        let old = ResourceId::parse(id).unwrap();
        let old_name = old.segments[0].1.clone();
        if !FAILED.contains(&old_name.as_str()) {
            continue;
        }
        // Each replacement goes into `<old group>-northeurope`, never the old group.
        let new = ResourceId::connector(
            &old.subscription,
            &format!("{}-northeurope", old.resource_group),
            &format!("{old_name}-northeurope"),
        );
        let backup = load_object(&store, &entry.hash).await.unwrap();
        let seg = |n: usize| old.segments[n].1.clone();
        let live: Value = match entry.kind {
            ResourceKind::Connector => {
                let l = serde_json::to_value(c.get_connector(&new).await.unwrap()).unwrap();
                for f in ["environmentName", "hierarchyIdentifier", "environmentData", "offerings"]
                {
                    assert_eq!(l["properties"][f], backup["properties"][f], "{id} {f}");
                }
                for (k, v) in backup["tags"].as_object().cloned().unwrap_or_default() {
                    assert_eq!(l["tags"][&k], v, "{id} tag {k}");
                }
                checked += 1;
                continue;
            }
            ResourceKind::DevOpsConfiguration => {
                let l =
                    serde_json::to_value(c.get_devops_configuration(&new).await.unwrap()).unwrap();
                for f in ["autoDiscovery", "topLevelInventoryList", "agentlessConfiguration"] {
                    assert_eq!(l["properties"][f], backup["properties"][f], "{id} {f}");
                }
                checked += 1;
                continue;
            }
            ResourceKind::AzureDevOpsOrg => {
                serde_json::to_value(c.get_azure_devops_org(&new, &seg(2)).await.unwrap()).unwrap()
            }
            ResourceKind::AzureDevOpsProject => serde_json::to_value(
                c.get_azure_devops_project(&new, &seg(2), &seg(3)).await.unwrap(),
            )
            .unwrap(),
            ResourceKind::AzureDevOpsRepo => serde_json::to_value(
                c.get_azure_devops_repo(&new, &seg(2), &seg(3), &seg(4)).await.unwrap(),
            )
            .unwrap(),
            ResourceKind::GitLabGroup => {
                serde_json::to_value(c.get_gitlab_group(&new, &seg(2)).await.unwrap()).unwrap()
            }
            ResourceKind::GitLabProject => {
                serde_json::to_value(c.get_gitlab_project(&new, &seg(2), &seg(3)).await.unwrap())
                    .unwrap()
            }
            _ => continue,
        };
        assert_eq!(
            live["properties"]["actionableRemediation"],
            backup["properties"]["actionableRemediation"],
            "{id}: annotation settings restored"
        );
        assert_eq!(
            live["properties"]["onboardingState"], "Onboarded",
            "{id} owned by the new connector"
        );
        checked += 1;
    }
    assert!(checked >= 15, "every backed-up resource of both connectors was compared ({checked})");
}

/// Where a driving process (`run` or `resume`) of [`drive_to_end`] is killed.
#[derive(Debug, Clone, Default)]
pub struct Kill {
    /// `(n, spec)`: the nth driving process (0-based) runs with `LIFEBOAT_FAILPOINT=spec`.
    pub failpoint: Option<(usize, String)>,
    /// `(step, delay)`: the first driving process that starts `step` is SIGKILLed `delay` after
    /// its `step_started` is in the journal.
    pub timed: Option<(String, Duration)>,
}

/// What [`drive_to_end`] did: journal lines at the end of each driving process, and how each
/// ended (`None`: killed).
#[derive(Debug, Default)]
pub struct Drive {
    pub lines_before: Vec<usize>,
    pub lines_after: Vec<usize>,
    pub exits: Vec<Option<i32>>,
    pub attested: Vec<String>,
}

pub fn journal_text(world: &World, run: &str) -> String {
    std::fs::read_to_string(world.run_dir(run).join("journal.jsonl")).unwrap_or_default()
}

/// Acts as the world and the responder around a recovery run until it succeeds: runs `args`
/// (or resumes once the run exists), approves gates, attests an interrupted `connector.delete`
/// after checking live state (deleting by hand what it did not delete), and, once both tickets
/// are filed, moves the sim's clock past the support desk's release and restores westeurope.
/// Kills one process as `kill` says.
pub async fn drive_to_end(
    sim: &RunningSim,
    world: &World,
    run: &str,
    args: &[String],
    kill: &Kill,
) -> Result<Drive, String> {
    let mut d = Drive::default();
    let mut world_moved = false;
    let mut timed_done = false;
    for n in 0..25 {
        let exists = world.run_dir(run).join("journal.jsonl").is_file();
        d.lines_before.push(journal_text(world, run).lines().count());
        let mut cmd = if exists {
            world.cmd(sim, &["resume", run])
        } else {
            world.cmd(sim, &args.iter().map(String::as_str).collect::<Vec<_>>())
        };
        if let Some((k, spec)) = &kill.failpoint {
            if *k == n {
                cmd.env("LIFEBOAT_FAILPOINT", spec);
            }
        }
        let out_path = world.tmp.path().join(format!("out-{n}.txt"));
        let out = std::fs::File::create(&out_path).unwrap();
        cmd.stdout(out.try_clone().unwrap()).stderr(out);
        let mut child = cmd.spawn().unwrap();
        let started = std::time::Instant::now();
        let mut kill_at: Option<std::time::Instant> = None;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if !world_moved && sim.cloud().tickets.len() >= FAILED.len() {
                // Past the desk's release and Microsoft's recreation after it.
                sim.advance(Duration::from_secs(3 * 3600) + sim.shared().config.recreation_delay);
                restore_region(sim, "westeurope").await;
                world_moved = true;
            }
            if let (Some((step, delay)), false) = (&kill.timed, timed_done) {
                if kill_at.is_none()
                    && journal_text(world, run).lines().any(|l| {
                        l.contains("\"event\":\"step_started\"")
                            && l.contains(&format!("\"step\":\"{step}\""))
                    })
                {
                    kill_at = Some(std::time::Instant::now() + *delay);
                }
                if kill_at.is_some_and(|t| std::time::Instant::now() >= t) {
                    let _ = child.kill();
                    timed_done = true;
                }
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("process {n} did not end: {}", read(&out_path)));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        d.lines_after.push(journal_text(world, run).lines().count());
        d.exits.push(status.code());
        match status.code() {
            Some(0) => return Ok(d),
            None => continue,
            Some(3) => {
                let r =
                    runner::load(&world.run_dir(run), &registry()).map_err(|e| e.to_string())?;
                for b in r.engine.blockers() {
                    let name = b.name();
                    let out = match (b.phase, b.interrupted) {
                        (Phase::AwaitingApproval, _) => {
                            crate::support::cli::output(world.cmd(sim, &["approve", run, &name]))
                                .await
                        }
                        (Phase::AwaitingAttestation, true) if b.step == "delete-old-connector" => {
                            responder_checks_delete(sim, &r, &b).await;
                            d.attested.push(name.clone());
                            crate::support::cli::output(world.cmd(
                                sim,
                                &["attest", run, &name, "--evidence", "old connector is gone"],
                            ))
                            .await
                        }
                        _ => {
                            return Err(format!(
                                "paused on {name} ({:?}): {}",
                                b.phase,
                                read(&out_path)
                            ))
                        }
                    };
                    if out.status.code() != Some(0) {
                        return Err(format!("acting on {name}: {}", text(&out)));
                    }
                }
            }
            code => return Err(format!("process {n} exited {code:?}: {}", read(&out_path))),
        }
    }
    Err("the run did not finish after 25 processes".into())
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// The responder's check before attesting an interrupted delete: is the old connector gone?
/// If not, they delete it by hand (the portal's delete), then attest.
async fn responder_checks_delete(sim: &RunningSim, r: &runner::Replayed, b: &Blocker) {
    let view = r
        .engine
        .snapshot()
        .into_iter()
        .find(|v| v.step == "create-or-adopt-connector" && v.branch == b.branch)
        .and_then(|v| v.instance)
        .expect("the connector branch exists");
    let old = view.outputs.unwrap()["old_resource_id"].as_str().unwrap().to_string();
    let old = lifeboat::azure::ResourceId::parse(&old).unwrap();
    let c = client(sim);
    match c.get_connector(&old).await {
        Ok(_) => c.delete_connector(&old).await.unwrap(),
        Err(e) => assert!(e.is_not_found(), "{e}"),
    }
}
