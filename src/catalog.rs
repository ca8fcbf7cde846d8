//! The catalog of step kinds: what the runbook validator, the help text, the engine and the
//! rehearsal before a run know about each kind without running it: its name, replay class,
//! inputs, the shared clients it needs and whether it only reads. A leaf: it imports nothing from
//! the crate. The implementations are in `steps`, registered under these names
//! (`engine::kind::Registry`).

/// How a step may be re-entered after a crash between its journaled start and its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepClass {
    /// Re-running has the same effect as running once: simply run again.
    Idempotent,
    /// Checks live state first, then acts only if the effect is missing.
    Guarded,
    /// Must never run twice: an interrupted attempt is parked for a person to attest or skip.
    OneShot,
}

/// One input a step kind accepts under `with:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSpec {
    pub name: &'static str,
    pub required: bool,
    /// Never journaled or printed.
    pub secret: bool,
    pub description: &'static str,
    /// A duration or a poll interval: the validator checks a literal value (or the parameter a
    /// `{{ params.x }}` names) against its bounds (`runbook::limits`), and the step checks the rendered value
    /// again at run time.
    pub duration: Option<DurationUse>,
}

/// What the validator and the help text know about a step kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepKindInfo {
    pub name: &'static str,
    pub class: StepClass,
    pub description: &'static str,
    pub inputs: &'static [InputSpec],
    /// The shared clients the kind takes from its `Services` (`engine::kind`): `lifeboat run`
    /// builds exactly those a plan's kinds declare here (so a new kind cannot forget to ask for
    /// its client).
    pub services: &'static [ServiceNeed],
    /// Every attempt only reads (Azure, the backup store) and ends in one attempt: the rehearsal
    /// before a run (`engine::rehearse`) runs such a step when its inputs are known then, so bad
    /// input is refused before anything is written. Marked on the kinds whose outputs later
    /// checks need (discovery, backup loading).
    pub read_only: bool,
    /// Test-only kinds are accepted only when `LIFEBOAT_TEST_STEPS=1` and never listed in help.
    pub test_only: bool,
}

/// A shared client a step kind needs in its `Services`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceNeed {
    /// The Azure client (`azure::ArmClient`), connected from `--arm-endpoint`/`--auth`.
    Azure,
    /// The backup store (`backup::Store`), from `--backup-store`.
    BackupStore,
}

/// What a duration is used for, which decides its bounds (`runbook::limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUse {
    /// Any duration: at most `runbook::limits::MAX_DURATION`.
    Duration,
    /// Time between two polls: at least `runbook::limits::MIN_POLL_INTERVAL`, at most
    /// `MAX_DURATION`.
    PollInterval,
}

/// The output a step that succeeds with something a person must know about (not a failure)
/// puts its warnings in: a list of sentences. `lifeboat status`, the end of `run`/`resume` and
/// the audit record show them.
pub const WARNINGS_OUTPUT: &str = "warnings";

/// The warnings of a succeeded step's outputs (see [`WARNINGS_OUTPUT`]); none when absent.
pub fn output_warnings(outputs: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    outputs
        .get(WARNINGS_OUTPUT)
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(|w| w.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

const fn input(name: &'static str, required: bool, description: &'static str) -> InputSpec {
    InputSpec { name, required, secret: false, description, duration: None }
}

/// A duration input (at most `runbook::limits::MAX_DURATION`).
const fn duration_input(
    name: &'static str,
    required: bool,
    description: &'static str,
) -> InputSpec {
    InputSpec { duration: Some(DurationUse::Duration), ..input(name, required, description) }
}

/// An optional poll interval input (at least `runbook::limits::MIN_POLL_INTERVAL`).
const fn poll_interval_input(description: &'static str) -> InputSpec {
    InputSpec {
        duration: Some(DurationUse::PollInterval),
        ..input("poll_interval", false, description)
    }
}

/// Every step kind. A new kind adds its entry here and its implementation in `steps`.
pub fn catalog() -> &'static [StepKindInfo] {
    CATALOG
}

/// Looks up a kind by name; test-only kinds only when `LIFEBOAT_TEST_STEPS=1`.
pub fn lookup(name: &str) -> Option<&'static StepKindInfo> {
    let tests = std::env::var("LIFEBOAT_TEST_STEPS").is_ok_and(|v| v == "1");
    CATALOG.iter().find(|k| k.name == name && (tests || !k.test_only))
}

/// The catalog entry of a kind by name, for `StepKind::info` implementations (every implemented
/// kind is in the catalog: `steps`' registry test checks it).
pub fn info(name: &str) -> &'static StepKindInfo {
    CATALOG.iter().find(|k| k.name == name).expect("every implemented kind is in the catalog")
}

/// The replay class of a kind by name: an unknown kind (or a test-only one while they are off)
/// is one-shot, never re-run blindly.
pub fn class_of(name: &str) -> StepClass {
    lookup(name).map(|k| k.class).unwrap_or(StepClass::OneShot)
}

static CATALOG: &[StepKindInfo] = &[
    StepKindInfo {
        name: "gate.approval",
        class: StepClass::Idempotent,
        description: "waits until a person approves (`lifeboat approve RUN STEP`)",
        inputs: &[
            input("prompt", false, "what the approver is asked to confirm"),
            input(
                "four_eyes",
                false,
                "true: the approver must be another person than the one who started the run (Azure object id when both have one, else user@host); default false",
            ),
        ],
        services: &[],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "manual.task",
        class: StepClass::Idempotent,
        description:
            "instructions for a person; completed by `lifeboat attest RUN STEP --evidence ...`",
        inputs: &[input("instructions", true, "what the person must do, step by step")],
        services: &[],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "wait.duration",
        class: StepClass::Idempotent,
        description: "a durable timer that survives restarts",
        inputs: &[duration_input("duration", true, "how long to wait, e.g. 15m or 3d")],
        services: &[],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "wait.until",
        class: StepClass::Idempotent,
        description: "a durable poll of a condition until it holds or the step times out",
        inputs: &[
            input("condition", true, "a template that must become true"),
            poll_interval_input("time between polls (default 1m, at least 1s)"),
        ],
        services: &[],
        read_only: false,
        test_only: false,
    },
    // region-outage: devops settings and connector lifecycle
    StepKindInfo {
        name: "devops.wait-for-release",
        class: StepClass::Idempotent,
        description: "durable poll until every org, owner and group of the backup is released to the new connector",
        inputs: &[
            input("snapshot_id", true, "backup snapshot holding the old connector (ID or `latest`); null or `none`: no backup of it (load-backup's item.snapshot_id)"),
            input("old_resource_id", true, "resource ID of the failed connector"),
            input("new_resource_id", true, "resource ID of the connector that replaces it"),
            input("candidates", false, "other connectors (discover's `all`): without a backup, items they own are not waited for"),
            poll_interval_input("time between polls (default 5m, at least 1s)"),
        ],
        services: &[ServiceNeed::Azure, ServiceNeed::BackupStore],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "devops.reapply-settings",
        class: StepClass::Idempotent,
        description: "restores the backup's DevOps settings on the new connector with the fewest writes",
        inputs: &[
            input("snapshot_id", true, "backup snapshot holding the old connector (ID or `latest`); null or `none`: no backup of it (load-backup's item.snapshot_id)"),
            input("old_resource_id", true, "resource ID of the failed connector"),
            input("new_resource_id", true, "resource ID of the connector that replaces it"),
            input("dry_run", false, "true: list the writes and the diff, change nothing"),
            input("max_in_flight", false, "writes in flight at once, 1 to 64 (default 16)"),
            input("restore_exclude", false, "field paths not to restore (after Azure refused a stored value), e.g. properties.actionableRemediation.x"),
            input("drill", false, "true in a live drill (`lifeboat drill --live` only): the connector and its DevOps configuration only, autoDiscovery Disabled; what is below (owned by production) is listed as not rehearsed"),
        ],
        services: &[ServiceNeed::Azure, ServiceNeed::BackupStore],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "devops.verify",
        class: StepClass::Idempotent,
        description: "compares every backed-up field with the new connector's; fails with a diff by field path",
        inputs: &[
            input("snapshot_id", true, "backup snapshot holding the old connector (ID or `latest`); null or `none`: no backup of it (load-backup's item.snapshot_id)"),
            input("old_resource_id", true, "resource ID of the failed connector"),
            input("new_resource_id", true, "resource ID of the connector that replaces it"),
            input("adopted", false, "true: the new connector was adopted, its own settings are not compared"),
            input("restore_exclude", false, "field paths not to restore (after Azure refused a stored value), e.g. properties.actionableRemediation.x"),
            input("drill", false, "true in a live drill (`lifeboat drill --live` only): the connector and its DevOps configuration only, autoDiscovery Disabled; what is below (owned by production) is listed as not rehearsed"),
        ],
        services: &[ServiceNeed::Azure, ServiceNeed::BackupStore],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "connector.promote",
        class: StepClass::Idempotent,
        description: "tags the new connector lifeboat-role=primary, lifeboat-replaces=<old>",
        inputs: &[
            input("old_resource_id", true, "resource ID of the failed connector"),
            input("new_resource_id", true, "resource ID of the connector that replaces it"),
        ],
        services: &[ServiceNeed::Azure],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "region.wait-recovered",
        class: StepClass::Idempotent,
        description: "durable poll until the failed region answers for the old connector again",
        inputs: &[
            input("old_resource_id", true, "resource ID of the failed connector"),
            poll_interval_input("time between polls (default 5m, at least 1s)"),
        ],
        services: &[ServiceNeed::Azure],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "connector.delete",
        class: StepClass::OneShot,
        description: "deletes the old connector once the new one is tagged primary",
        inputs: &[
            input("old_resource_id", true, "resource ID of the connector to delete"),
            input("new_resource_id", true, "resource ID of the primary connector replacing it"),
        ],
        services: &[ServiceNeed::Azure],
        read_only: false,
        test_only: false,
    },
    // end region-outage: devops settings and connector lifecycle
    // region-outage: discovery, connector, support
    StepKindInfo {
        name: "resource-graph.query",
        class: StepClass::Idempotent,
        description: "finds the DevOps connectors of a region through Azure Resource Graph",
        inputs: &[
            input("query", true, "a query under queries/, e.g. devops-connectors"),
            input("region", true, "keep the connectors of this region (case and spaces ignored)"),
            input("subscriptions", false, "subscriptions to search (empty: all the credential sees)"),
            input("connectors", false, "only these connectors (names or resource IDs)"),
        ],
        services: &[ServiceNeed::Azure],
        read_only: true,
        test_only: false,
    },
    StepKindInfo {
        name: "backup.load",
        class: StepClass::Idempotent,
        description: "picks and verifies the backup snapshot that holds every failed connector",
        inputs: &[
            input("snapshot", false, "a snapshot ID, latest (the newest that verifies), or none (no backup: no store is opened, nothing restored)"),
            input("connectors", true, "the failed connectors (discover's output)"),
            input("failed_region", true, "the region that is down"),
            input("target_region", true, "the region to recover into (not the failed one)"),
        ],
        services: &[ServiceNeed::Azure, ServiceNeed::BackupStore],
        read_only: true,
        test_only: false,
    },
    StepKindInfo {
        name: "connector.create-or-adopt",
        class: StepClass::Guarded,
        description: "creates (or adopts) the replacement connector in the target region and authorizes it",
        inputs: &[
            input("connector", false, "the failed connector (default: the for_each item)"),
            input("snapshot_id", true, "the snapshot the connector is recreated from; null or `none`: from Resource Graph's copy of the old connector (item.resource) and the answers below"),
            input("auto_discovery", false, "without a backup: the new connector's autoDiscovery, Enabled (default) or Disabled"),
            input("inventory_list", false, "without a backup: its topLevelInventoryList (orgs, owners or groups; default none)"),
            input("target_region", true, "where the new connector goes"),
            input("target_subscription", false, "subscription of the new connector (default: the old one's)"),
            input("target_resource_group", false, "resource group of the new connector (default: `<old group>-<target region>`, created in the target region)"),
            input("failed_region", false, "the region that is down: a target group located there is refused (default: the connector's region)"),
            input("supported_regions", false, "regions where DevOps security is available (empty: lifeboat's list, src/steps/data/azure-regions.yaml)"),
            input("adopt_existing", false, "reuse a target-region connector that sees the same scope"),
            input("candidates", false, "connectors that may be adopted (discover's `all`)"),
            input("authorization_codes", false, "file of `<old-connector-name> <code>` lines"),
            input("restore_exclude", false, "field paths not to restore (after Azure refused a stored value), e.g. properties.actionableRemediation.x"),
            input("drill", false, "true in a live drill (`lifeboat drill --live` only): never adopts, names the connector `<old>-drill-<hash of the run ID>`, autoDiscovery Disabled, and without a code does not wait for a portal authorization (said as not rehearsed)"),
            poll_interval_input("how often to check for portal authorization (default 1m, at least 1s)"),
        ],
        services: &[ServiceNeed::Azure, ServiceNeed::BackupStore],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "connector.resource-ids",
        class: StepClass::Idempotent,
        description: "confirms both connectors' resource IDs through Resource Graph",
        inputs: &[
            input("old_resource_id", true, "the failed connector"),
            input("new_resource_id", true, "its replacement"),
        ],
        services: &[ServiceNeed::Azure],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "support.draft",
        class: StepClass::Idempotent,
        description: "drafts the support request that releases the old connector's resources",
        inputs: SUPPORT_INPUTS,
        services: &[ServiceNeed::Azure],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "support.submit",
        class: StepClass::Guarded,
        description: "files the support request through the Support API (once per run and connector)",
        inputs: SUPPORT_INPUTS,
        services: &[ServiceNeed::Azure],
        read_only: false,
        test_only: false,
    },
    // end of region-outage: discovery, connector, support
    // region-outage: Microsoft's side
    StepKindInfo {
        name: "defender.count-findings",
        class: StepClass::Idempotent,
        description: "counts the old connector's DevOps alerts and recommendations in Resource Graph before the release",
        inputs: &[input("old_resource_id", true, "resource ID of the failed connector")],
        services: &[ServiceNeed::Azure],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "defender.check-recreated",
        class: StepClass::Idempotent,
        description: "durable poll until Microsoft has recreated the DevOps alerts and recommendations for the new connector; warns (does not fail) at the deadline",
        inputs: &[
            input("old_resource_id", true, "resource ID of the failed connector"),
            input("new_resource_id", true, "resource ID of the connector that replaces it"),
            input("baseline", true, "what the old connector had: the outputs of defender.count-findings"),
            duration_input("deadline", false, "how long after the release to wait before warning (default 24h)"),
            poll_interval_input("time between polls (default 30m, at least 1s)"),
        ],
        services: &[ServiceNeed::Azure],
        read_only: false,
        test_only: false,
    },
    // end region-outage: Microsoft's side
    // region-outage, live drill
    StepKindInfo {
        name: "drill.cleanup",
        class: StepClass::Idempotent,
        description: "a live drill's end (`lifeboat drill --live` only): deletes the drill's second connector and the resource group the run created for it, nothing it did not create",
        inputs: &[
            input("old_resource_id", true, "the production connector (never touched)"),
            input("new_resource_id", true, "the drill's connector, tagged lifeboat-run=<run ID>"),
        ],
        services: &[ServiceNeed::Azure],
        read_only: false,
        test_only: false,
    },
    StepKindInfo {
        name: "test.idempotent",
        class: StepClass::Idempotent,
        description: "test only: simulated idempotent work that appends to an effect file",
        inputs: TEST_INPUTS,
        services: &[],
        read_only: false,
        test_only: true,
    },
    StepKindInfo {
        name: "test.guarded",
        class: StepClass::Guarded,
        description: "test only: simulated guarded work (checks the effect file before acting)",
        inputs: TEST_INPUTS,
        services: &[],
        read_only: false,
        test_only: true,
    },
    StepKindInfo {
        name: "test.oneshot",
        class: StepClass::OneShot,
        description: "test only: simulated one-shot work that must never run twice",
        inputs: TEST_INPUTS,
        services: &[],
        read_only: false,
        test_only: true,
    },
];

/// Inputs of `support.draft` and `support.submit` (the same ticket, drafted or filed).
static SUPPORT_INPUTS: &[InputSpec] = &[
    input("connector", false, "the failed connector (default: the for_each item)"),
    input("old_resource_id", true, "the failed connector's resource ID"),
    input("new_resource_id", true, "the new connector's resource ID"),
    input("target_region", true, "the new connector's region"),
    input(
        "subscription",
        false,
        "subscription the ticket is filed under (default: the old connector's)",
    ),
    input("severity", false, "minimal, moderate, critical or highestcriticalimpact"),
    input("contact_first_name", false, "ticket contact"),
    input("contact_last_name", false, "ticket contact"),
    input("contact_email", false, "ticket contact"),
    input("contact_method", false, "how Microsoft support contacts you: email (default) or phone"),
    input("contact_phone", false, "ticket contact's phone number (needed with contact_method=phone)"),
    input("contact_country", false, "ISO 3166-1 alpha-3, e.g. usa"),
    input("contact_time_zone", false, "e.g. Pacific Standard Time"),
    input("contact_language", false, "e.g. en-US"),
    input("attest_step", false, "the manual step that records a hand-filed ticket; a fanned-out draft names its own branch of it (STEP#N), so that step fans out over the same list"),
    input("drill", false, "true in a live drill (`lifeboat drill --live` only): the request says first that it is a drill, not an outage"),
];

static TEST_INPUTS: &[InputSpec] = &[
    input("effect_file", true, "file that gets one line per side effect"),
    input("fail_first", false, "fail this many first attempts (retryable)"),
    input("sleep_ms", false, "simulated work time"),
    input("label", false, "copied to the outputs"),
    input("azure_effect", false, "journal a fake Azure PUT on this resource id when done"),
    InputSpec {
        name: "secret_output",
        required: false,
        secret: true,
        description: "returned as the secret output `token`",
        duration: None,
    },
    input("progress", false, "report the work in this many parts"),
    input("ask_secret", false, "ask the guided mode for a secret with this label"),
    input("outputs", false, "an object whose fields are added to the outputs"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_kinds_never_write_and_are_single_attempt_reads() {
        let read_only: Vec<&str> =
            catalog().iter().filter(|k| k.read_only).map(|k| k.name).collect();
        assert_eq!(read_only, ["resource-graph.query", "backup.load"]);
        assert!(catalog().iter().filter(|k| k.read_only).all(|k| k.class == StepClass::Idempotent));
        assert_eq!(class_of("no.such-kind"), StepClass::OneShot);
        assert_eq!(class_of("connector.delete"), StepClass::OneShot);
        assert_eq!(class_of("connector.create-or-adopt"), StepClass::Guarded);
    }
}
