//! Named, hand-built drill reports (what the drill orchestration will produce), each with its
//! verdict derived by `compute_verdict`. Each builder's doc says what the drill went through.

use lifeboat::drill::report::{
    ApiCounts, ApiStats, AppliesTo, Assumption, Basis, BasisKind, Detection, DrillReport, Mode,
    NotRecreated, Outage, Recovery, Rpo, Rto, Scenario, StepRecord, StepResult, Verdict,
    Verification, WaitedOn, WallClock, SCHEMA_ID, TAMPERED_SNAPSHOT,
};
use std::collections::BTreeMap;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const OLD: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-devops/providers/Microsoft.Security/securityConnectors/contoso-ado";
pub const NEW: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-devops/providers/Microsoft.Security/securityConnectors/contoso-ado-westus2";

/// The outage is injected at this simulated time in every fixture.
pub const OUTAGE: OffsetDateTime = datetime!(2026-03-02 09:00:00 UTC);

fn at(secs: i64) -> OffsetDateTime {
    OUTAGE + Duration::seconds(secs)
}

fn step(
    id: &str,
    branch: Option<&str>,
    kind: &str,
    start: i64,
    end: i64,
    attempts: u32,
) -> StepRecord {
    StepRecord::new(
        id,
        branch.map(String::from),
        kind,
        at(start),
        at(end),
        attempts,
        StepResult::Succeeded,
        None,
        None,
    )
}

fn waited(mut s: StepRecord, on: WaitedOn) -> StepRecord {
    s.waited_on = Some(on);
    s
}

fn counts(calls: u64, throttled_429: u64, retries: u64) -> ApiCounts {
    ApiCounts { calls, throttled_429, retries, errors_5xx: 0, dropped_connections: 0 }
}

/// The base drill of the `small` tenant, eastus → westus2, two connectors fanned out
/// (`contoso-ado`, `contoso-gh`): discover, load the backup taken a simulated day before, create
/// the new connectors, draft and (drill-approved) submit the ticket, wait 3h40m / 3h10m in
/// parallel for the support desk's release, reapply (one 429 retried), verify at T+4h05m, promote.
/// Targets: RTO 8h, RPO 26h. Verdict not yet computed.
fn base(run_id: &str, scenario: Scenario) -> DrillReport {
    let steps = vec![
        step("discover", None, "azure.resource-graph", 5, 9, 1),
        step("load-backup", None, "backup.load", 9, 10, 1),
        step(
            "create-or-adopt-connector",
            Some("contoso-ado"),
            "connector.create-or-adopt",
            10,
            42,
            1,
        ),
        step(
            "create-or-adopt-connector",
            Some("contoso-gh"),
            "connector.create-or-adopt",
            10,
            38,
            1,
        ),
        step("collect-resource-ids", None, "connector.resource-ids", 42, 43, 1),
        step("draft-support-request", None, "support.draft", 43, 44, 1),
        waited(step("approve-submission", None, "gate.approval", 44, 45, 1), WaitedOn::Person),
        step("submit-support-request", None, "support.submit", 45, 47, 1),
        waited(
            step("wait-for-release", Some("contoso-ado"), "wait.until", 47, 47 + 13_200, 1),
            WaitedOn::Support,
        ),
        waited(
            step("wait-for-release", Some("contoso-gh"), "wait.until", 47, 47 + 11_400, 1),
            WaitedOn::Support,
        ),
        step("reapply-settings", Some("contoso-ado"), "devops.reapply-settings", 13_247, 14_650, 2),
        step("reapply-settings", Some("contoso-gh"), "devops.reapply-settings", 11_447, 11_460, 1),
        step("verify", None, "devops.verify", 14_650, 14_700, 1),
        step("promote-new-connector", None, "connector.promote", 14_700, 14_702, 1),
    ];
    let mut by_operation = BTreeMap::new();
    by_operation.insert("POST resources (Resource Graph)".to_string(), counts(3, 0, 0));
    by_operation.insert("PUT securityConnectors".to_string(), counts(2, 0, 0));
    by_operation.insert("PUT devops/default".to_string(), counts(2, 0, 0));
    by_operation.insert("PATCH azureDevOpsOrgs/projects/repos".to_string(), counts(212, 1, 1));
    by_operation.insert("POST listAvailableAzureDevOpsOrgs".to_string(), counts(221, 0, 0));
    by_operation.insert("GET azureDevOpsOrgs/projects/repos".to_string(), counts(96, 0, 0));
    by_operation.insert("PUT supportTickets".to_string(), counts(1, 0, 0));
    let mut totals = ApiCounts::default();
    for c in by_operation.values() {
        totals.calls += c.calls;
        totals.throttled_429 += c.throttled_429;
        totals.retries += c.retries;
    }
    DrillReport {
        schema: SCHEMA_ID.into(),
        run_id: run_id.into(),
        lifeboat_version: "0.1.0".into(),
        scenario,
        mode: Mode::Simulated,
        tenant: "small".into(),
        started_at: at(-86_400 - 30),
        finished_at: at(14_760),
        wall_clock_seconds: 23.418,
        outage: Outage { region: "eastus".into(), injected_at: OUTAGE },
        target_region: "westus2".into(),
        recovery: Recovery { verified: true, verified_at: Some(at(14_700)) },
        rto: Rto { target_seconds: Some(8.0 * 3600.0), ..Rto::default() },
        rpo: Rpo {
            backup_id: Some("snap-2026-03-01T08-59-30Z-7f3a9c".into()),
            backup_taken_at: Some(at(-86_400 - 30)),
            target_seconds: Some(26.0 * 3600.0),
            ..Rpo::default()
        },
        api: ApiStats { totals, by_operation },
        steps,
        verifications: vec![
            Verification {
                name: "devops/default autoDiscovery".into(),
                resource_id: Some(format!("{NEW}/devops/default")),
                passed: true,
                expected: Some("Enabled".into()),
                actual: Some("Enabled".into()),
                detail: "matches the backup".into(),
            },
            Verification {
                name: "actionableRemediation of 212 repos".into(),
                resource_id: Some(format!("{NEW}/devops/default/azureDevOpsOrgs/contoso")),
                passed: true,
                expected: None,
                actual: None,
                detail: "212 of 212 repos match the backup (201 by inheritance)".into(),
            },
            Verification {
                name: "GitHub owners onboarded".into(),
                resource_id: Some(format!("{NEW}/devops/default/gitHubOwners/contoso-gh")),
                passed: true,
                expected: Some("Onboarded".into()),
                actual: Some("Onboarded".into()),
                detail: "read-only in the API: verified only".into(),
            },
        ],
        detected: vec![],
        not_recreated_by_microsoft: NotRecreated::documented(),
        verdict: Verdict::default(),
        wall_clock: None,
        assumptions: Vec::new(),
        live: None,
        resources: None,
    }
}

/// A clean region-outage drill: recovered in 4h05m, 3h40m of it waiting on support; targets met.
pub fn passed() -> DrillReport {
    let mut r = base("drill-20260302-090000-a1b2", Scenario::RegionOutage);
    r.compute_verdict();
    r
}

/// The same drill, judged against an RTO target of 2h: recovery verified, target not met.
pub fn failed_rto() -> DrillReport {
    let mut r = base("drill-20260302-090000-c3d4", Scenario::RegionOutage);
    r.rto.target_seconds = Some(2.0 * 3600.0);
    r.compute_verdict();
    r
}

/// `tampered-backup`: the snapshot's digest does not match, `load-backup` fails and refuses to
/// restore, everything downstream is skipped; the production connector is checked unchanged.
pub fn tampered() -> DrillReport {
    let mut r = base("drill-20260302-090000-e5f6", Scenario::TamperedBackup);
    let load = &r.steps[1];
    let (s, e) = (load.started_at, load.finished_at);
    let message = "snapshot snap-2026-03-01T08-59-30Z-7f3a9c: object sha256:9c1e… does not match its digest (the snapshot was altered after it was written)";
    r.steps.truncate(2);
    r.steps[1] = StepRecord::new(
        "load-backup",
        None,
        "backup.load",
        s,
        e,
        1,
        StepResult::Failed,
        Some(message.into()),
        None,
    );
    for id in ["create-or-adopt-connector", "collect-resource-ids", "reapply-settings", "verify"] {
        r.steps.push(StepRecord::new(
            id,
            None,
            "skipped",
            e,
            e,
            0,
            StepResult::Skipped,
            Some("upstream step load-backup failed".into()),
            None,
        ));
    }
    r.recovery = Recovery { verified: false, verified_at: None };
    r.verifications = vec![Verification {
        name: "production connector unchanged".into(),
        resource_id: Some(OLD.into()),
        passed: true,
        expected: None,
        actual: None,
        detail: "no write reached the production connector or its DevOps resources".into(),
    }];
    r.detected = vec![Detection {
        kind: TAMPERED_SNAPSHOT.into(),
        message: message.into(),
        step: Some("load-backup".into()),
        restore_refused: true,
    }];
    r.compute_verdict();
    r
}

/// A `flaky` drill gone wrong: `reapply-settings [contoso-ado]` fails after 5 attempts with a
/// server error whose text has `<`, `&`, quotes and an ANSI escape; `verify` is interrupted; one
/// verification fails with markup in expected/actual. Recovery not verified.
pub fn failed_step() -> DrillReport {
    let mut r = base("drill-20260302-090000-0bad", Scenario::Flaky);
    let error = "PUT devops/default/azureDevOpsOrgs/contoso/projects/web returned 400 <InvalidRequest>: \"actionableRemediation.state\" must be 'Enabled' & not 'Unknown'\n\u{1b}[31mretry budget exhausted\u{1b}[0m after 5 attempts";
    let reapply = r
        .steps
        .iter_mut()
        .find(|s| s.id == "reapply-settings")
        .expect("fixture has reapply-settings");
    reapply.result = StepResult::Failed;
    reapply.attempts = 5;
    reapply.error = Some(error.into());
    let verify = r.steps.iter_mut().find(|s| s.id == "verify").expect("fixture has verify");
    verify.result = StepResult::Interrupted;
    verify.error = Some("the drill was stopped while verify was running".into());
    r.steps.retain(|s| s.id != "promote-new-connector");
    r.recovery = Recovery { verified: false, verified_at: None };
    r.api.totals.errors_5xx = 17;
    r.api.totals.dropped_connections = 4;
    r.verifications[1] = Verification {
        name: "actionableRemediation of repo <web> & \"api\"".into(),
        resource_id: Some(format!("{NEW}/devops/default/azureDevOpsOrgs/contoso/projects/web")),
        passed: false,
        expected: Some("<script>alert(\"x\")</script> Enabled".into()),
        actual: Some("Disabled & 'inherited'".into()),
        detail: "differs from the backup".into(),
    };
    r.compute_verdict();
    r
}

/// The passed drill as a drill writes it since the report separates what it measured from
/// what it assumed: when it really ran (wall clock), the RTO's measured source, the RPO assumed,
/// and the four assumptions (support desk 4h by default, a person's 15m, OAuth codes prepared,
/// a daily backup's worst age).
pub fn honest() -> DrillReport {
    let mut r = base("drill-20260302-090000-h0n3", Scenario::RegionOutage);
    let start = r.started_at;
    r.wall_clock =
        Some(WallClock { started_at: start, finished_at: start + Duration::milliseconds(23_418) });
    r.rto.measured_source = Some("lifeboat's steps and Azure calls against the simulator; ARM throttling at ARM's documented limits; network latency not included".into());
    r.rpo.basis = Some(Basis {
        kind: BasisKind::Assumed,
        source: "the drill takes its own backup and lets one simulated day pass".into(),
    });
    let assumed =
        |name: &str, to: AppliesTo, seconds: f64, option: Option<&str>, source: &str| Assumption {
            name: name.into(),
            applies_to: to,
            seconds,
            option: option.map(String::from),
            source: source.into(),
        };
    r.assumptions = vec![
        assumed(
            "support-wait",
            AppliesTo::Rto,
            14_400.0,
            Some("--support-wait"),
            "default 4h, a choice: Microsoft documents only the initial response time",
        ),
        assumed(
            "response-time",
            AppliesTo::Rto,
            900.0,
            Some("--response-time"),
            "default 15m, a choice <on-call> & \"target\"",
        ),
        assumed("oauth-authorization", AppliesTo::Rto, 0.0, None, "codes prepared before the run"),
        assumed("backup-age", AppliesTo::Rpo, 86_400.0, None, "a daily backup's worst case"),
    ];
    r.compute_verdict();
    r
}

/// Every fixture, named.
pub fn all() -> Vec<(&'static str, DrillReport)> {
    vec![
        ("passed", passed()),
        ("failed-rto", failed_rto()),
        ("tampered", tampered()),
        ("failed-step", failed_step()),
        ("honest", honest()),
    ]
}

/// `r` moved in time so it starts at `started` (every time shifted alike), its recovery verified
/// `rto` seconds after the outage and its backup taken `rpo` seconds before it (`None`: no
/// backup used), the verdict derived again. For histories whose drills differ.
pub fn drill_at(
    mut r: DrillReport,
    run_id: &str,
    started: OffsetDateTime,
    rto: f64,
    rpo: Option<f64>,
) -> DrillReport {
    let delta = started - r.started_at;
    r.run_id = run_id.into();
    r.started_at += delta;
    r.finished_at += delta;
    r.outage.injected_at += delta;
    for s in &mut r.steps {
        s.started_at += delta;
        s.finished_at += delta;
    }
    let outage = r.outage.injected_at;
    r.recovery.verified_at = Some(outage + Duration::milliseconds((rto * 1000.0) as i64));
    r.rpo.backup_taken_at = rpo.map(|s| outage - Duration::milliseconds((s * 1000.0) as i64));
    if rpo.is_none() {
        r.rpo.backup_id = None;
    }
    r.compute_verdict();
    r
}
