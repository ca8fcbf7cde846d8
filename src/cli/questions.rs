//! Guided mode's questions before a run exists (`lifeboat run --guided`): what the run needs and
//! the command line did not give, asked at the terminal with choices where lifeboat can know
//! them.
//!
//! - the failed region: the regions that have DevOps connectors, most first, from the
//!   discovery's own Resource Graph query (read-only);
//! - the target region: the supported regions nearest to the failed one first, without it;
//! - any other required parameter without a default, by its type and description;
//! - with no backup store, whether to recover without one (`backup=none`), and then the new
//!   connectors' DevOps configuration;
//! - the backup identity when the store is encrypted and none was given (hidden input: the
//!   `AGE-SECRET-KEY-1...` key itself or the path of an identity file), checked against the
//!   store's recipients;
//! - whether to file the support requests through the Support API, and then the ticket's
//!   contact, each answer checked as `support.submit` checks it.
//!
//! Which parameter plays which part comes from the steps that read it (`{{ params.NAME }}` as
//! the `region` input of `resource-graph.query`, the `target_region` input of
//! `connector.create-or-adopt`, the contact inputs of `support.submit`), not from its name.
//! The answers become `--set` pairs, journaled in the run header's `params` like any other
//! (secret parameters as their marker); the identity is never a parameter and never journaled.
//! Nothing is written before every answer is in: Ctrl-C or the end of input exits 2.

use super::backup::IdentityArgs;
use super::guided::{read_line_async, EchoOff};
use super::Globals;
use crate::azure::ArmClient;
use crate::catalog::ServiceNeed;
use crate::error::UserError;
use crate::redact;
use crate::runbook::{self, LoadError, ParamDef, ParamType, Plan, Runbook};
use crate::say;
use crate::steps::{regions, support};
use serde_json::Value;

/// Ctrl-C as seen by guided mode, from the first question to the end of the session: SIGINT
/// never kills the process (it could be in the middle of a journal write), it sets this flag.
#[derive(Clone)]
pub struct Interrupt(tokio::sync::watch::Receiver<bool>);

impl Interrupt {
    /// Installs the SIGINT handler (for the rest of the process).
    pub fn install() -> Result<Interrupt, UserError> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(|e| UserError::failed(format!("cannot handle Ctrl-C: {e}")))?;
        tokio::spawn(async move {
            while sigint.recv().await.is_some() {
                let _ = tx.send(true);
            }
        });
        Ok(Interrupt(rx))
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once Ctrl-C was pressed (at once if it was already).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|i| *i).await;
    }
}

/// The error of a session stopped before the run was created.
fn stopped(why: &str, given: &[(String, String)]) -> UserError {
    let mut hint = "start again when you are ready".to_string();
    if !given.is_empty() {
        let sets: Vec<String> =
            given.iter().map(|(k, v)| format!("--set {k}={}", shell(v))).collect();
        hint = format!("start again; the answers so far were {}", sets.join(" "));
    }
    UserError::usage(format!("{why} before the run was created: nothing was written"))
        .with_hint(hint)
}

/// A value as a shell word (quoted when it needs to be).
pub fn shell(v: &str) -> String {
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.,:/@+=".contains(c)) {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// Reads answers from the terminal; Ctrl-C or the end of input stop the session (exit 2).
pub struct Asker {
    interrupt: Interrupt,
    /// The answers so far (not the secret ones), for the message when the session stops.
    given: Vec<(String, String)>,
}

impl Asker {
    pub fn new(interrupt: Interrupt) -> Asker {
        Asker { interrupt, given: Vec::new() }
    }

    pub fn interrupt(&self) -> Interrupt {
        self.interrupt.clone()
    }

    /// The error to end with when Ctrl-C was pressed meanwhile (e.g. during the checks before
    /// the run), else `Ok`.
    pub fn check_interrupted(&self) -> Result<(), UserError> {
        if self.interrupt.is_set() {
            return Err(stopped("interrupted", &self.given));
        }
        Ok(())
    }

    async fn read(&mut self, question: &str, hidden: bool) -> Result<String, UserError> {
        use std::io::Write;
        self.check_interrupted()?;
        let echo = hidden.then(EchoOff::new);
        print!("{}", redact::scrub_output(question));
        let _ = std::io::stdout().flush();
        let answer = tokio::select! {
            line = read_line_async() => line.ok().flatten(),
            _ = self.interrupt.wait() => {
                drop(echo);
                println!();
                return Err(stopped("interrupted", &self.given));
            }
        };
        drop(echo);
        match answer {
            Some(a) => Ok(a.trim().to_string()),
            None => {
                println!();
                Err(stopped("no answer (end of input)", &self.given))
            }
        }
    }

    /// One line, trimmed.
    pub async fn line(&mut self, question: &str) -> Result<String, UserError> {
        self.read(question, false).await
    }

    /// One line typed without echo, trimmed.
    pub async fn hidden(&mut self, question: &str) -> Result<String, UserError> {
        self.read(question, true).await
    }

    /// Yes or no; an empty answer is `default`.
    pub async fn yes_no(&mut self, question: &str, default: bool) -> Result<bool, UserError> {
        let choices = if default { "[Y/n]" } else { "[y/N]" };
        loop {
            let a = self.line(&format!("{question} {choices}: ")).await?;
            match a.to_ascii_lowercase().as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => say!("  (type y or n)"),
            }
        }
    }

    fn record(&mut self, name: &str, value: &str) {
        self.given.push((name.to_string(), value.to_string()));
    }
}

/// `NAME` when `value` is exactly the template `{{ params.NAME }}`.
fn param_ref(value: &Value) -> Option<String> {
    let inner = value.as_str()?.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let name = inner.strip_prefix("params.")?;
    runbook::valid_param_name(name).then(|| name.to_string())
}

/// The parameter passed whole as input `input` of the first step of kind `uses`.
fn param_of_input(rb: &Runbook, uses: &str, input: &str) -> Option<String> {
    rb.steps.iter().filter(|s| s.uses == uses).find_map(|s| s.with.get(input).and_then(param_ref))
}

/// The value a parameter has with `sets` (the last `--set` wins), else its default.
fn value_of(rb: &Runbook, sets: &[(String, String)], name: &str) -> Option<Value> {
    let def = rb.param(name)?;
    match sets.iter().rev().find(|(k, _)| k == name) {
        Some((_, raw)) => runbook::parse_param_value(&def.ty, raw).ok(),
        None => def.default.clone(),
    }
}

fn is_set(sets: &[(String, String)], name: &str) -> bool {
    sets.iter().any(|(k, _)| k == name)
}

fn as_list(v: Option<Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    }
}

/// The required parameters of `rb` without a value in `sets` (no default: required), in file
/// order.
pub fn missing_params<'a>(rb: &'a Runbook, sets: &[(String, String)]) -> Vec<&'a ParamDef> {
    rb.params
        .iter()
        .filter(|p| p.required && p.default.is_none() && !is_set(sets, &p.name))
        .collect()
}

/// The refusal of a run whose required parameters are missing, without `--guided`: which ones,
/// what they are, and the command that gives them.
pub fn missing_params_error(
    command: &str,
    runbook_arg: &str,
    rb: &Runbook,
    sets: &[(String, String)],
) -> Option<UserError> {
    let missing = missing_params(rb, sets);
    if missing.is_empty() {
        return None;
    }
    let names: Vec<String> = missing
        .iter()
        .map(|p| match &p.description {
            Some(d) => format!("{} ({})", p.name, first_sentence(d)),
            None => p.name.clone(),
        })
        .collect();
    let mut line: Vec<String> = vec!["lifeboat".into(), command.into(), shell(runbook_arg)];
    line.extend(sets.iter().map(|(k, v)| format!("--set {k}={}", shell(v))));
    line.extend(missing.iter().map(|p| format!("--set {}={}", p.name, placeholder(&p.ty))));
    let what = if missing.len() == 1 { "parameter is" } else { "parameters are" };
    Some(
        UserError::usage(format!(
            "runbook {}: {} required {what} not set: {}",
            rb.name,
            missing.len(),
            names.join("; ")
        ))
        .with_hint(format!(
            "nothing was done; run `{}`, or add --guided to be asked for them with choices",
            line.join(" ")
        )),
    )
}

fn placeholder(ty: &ParamType) -> String {
    match ty {
        ParamType::String => "TEXT".into(),
        ParamType::Bool => "true|false".into(),
        ParamType::Int => "NUMBER".into(),
        ParamType::Duration => "DURATION".into(),
        ParamType::Enum(v) => v.join("|"),
        ParamType::List => "A,B".into(),
    }
}

/// The first sentence of a description, on one line.
pub fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // A sentence ends with `. ` before a capital letter (not `e.g. eastus`).
    let end = flat
        .match_indices(". ")
        .map(|(i, _)| i)
        .find(|i| flat[i + 2..].chars().next().is_some_and(char::is_uppercase));
    match end {
        Some(i) => flat[..i].to_string(),
        None => flat.trim_end_matches('.').to_string(),
    }
}

/// What guided mode settled before the run: the plan, the `--set` pairs it was loaded with, the
/// parameters a person answered, and whether the backup identity was typed at the prompt.
pub struct Prepared {
    pub plan: Plan,
    pub sets: Vec<(String, String)>,
    pub asked: Vec<String>,
    pub identity_prompted: bool,
}

/// How the runbook is loaded with a set of `--set` pairs: validated completely, and for the
/// graph only (required parameters may be missing).
pub struct Loader<'a> {
    pub plan: &'a LoadFn<'a, Plan>,
    pub graph: &'a LoadFn<'a, Runbook>,
}

/// Loads the runbook with a set of `--set` pairs.
pub type LoadFn<'a, T> = dyn Fn(&[(String, String)]) -> Result<T, LoadError> + 'a;

/// Asks for everything the run needs that `sets` and `identity` do not give (see the module
/// doc). `client` is the run's Azure connection, made here when discovery needs it first.
pub async fn prepare(
    asker: &mut Asker,
    load: &Loader<'_>,
    sets: Vec<(String, String)>,
    g: &Globals,
    client: &mut Option<ArmClient>,
    identity: &mut IdentityArgs,
) -> anyhow::Result<Prepared> {
    let mut sets = sets;
    let mut asked: Vec<String> = Vec::new();
    let rb = (load.graph)(&sets).map_err(UserError::from)?;
    let failed_param = param_of_input(&rb, "resource-graph.query", "region");
    let target_param = param_of_input(&rb, "connector.create-or-adopt", "target_region")
        .or_else(|| param_of_input(&rb, "backup.load", "target_region"));
    let mut missing: Vec<ParamDef> = missing_params(&rb, &sets).into_iter().cloned().collect();
    // The failed region first: the target's choices depend on it.
    missing.sort_by_key(|p| Some(&p.name) != failed_param.as_ref());
    if !missing.is_empty() {
        say!("lifeboat needs {} answer(s) before it starts (Ctrl-C stops; nothing is written until the run starts)", missing.len());
    }
    for p in &missing {
        let value = if Some(&p.name) == failed_param.as_ref() {
            let subs = param_of_input(&rb, "resource-graph.query", "subscriptions")
                .map(|s| as_list(value_of(&rb, &sets, &s)))
                .unwrap_or_default();
            if client.is_none() {
                *client = Some(g.connect()?.client);
            }
            let c = client.as_ref().ok_or_else(|| UserError::failed("no Azure connection"))?;
            ask_failed_region(asker, p, c, &subs).await?
        } else if Some(&p.name) == target_param.as_ref() {
            let failed = failed_param
                .as_ref()
                .and_then(|f| value_of(&rb, &sets, f))
                .and_then(|v| v.as_str().map(crate::text::normalize_region));
            let over = param_of_input(&rb, "connector.create-or-adopt", "supported_regions")
                .map(|s| as_list(value_of(&rb, &sets, &s)))
                .unwrap_or_default();
            ask_target_region(asker, p, failed.as_deref(), &over).await?
        } else {
            ask_param(asker, p).await?
        };
        if !p.secret {
            asker.record(&p.name, &value);
        } else {
            redact::register(&Value::String(value.clone()));
        }
        sets.push((p.name.clone(), value));
        asked.push(p.name.clone());
    }
    let mut plan = (load.plan)(&sets).map_err(UserError::from)?;

    // No backup store: offer a recovery without one.
    let missing_store = super::run::missing_store(&plan, g);
    let extra = ask_backup_choice(asker, &plan, &sets, missing_store).await?;
    if !extra.is_empty() {
        for (k, v) in &extra {
            asker.record(k, v);
            asked.push(k.clone());
        }
        sets.extend(extra);
        plan = (load.plan)(&sets).map_err(UserError::from)?;
    }

    let identity_prompted = ask_identity(asker, &plan, g, identity).await?;

    // The support request: filed through the Support API (then its contact), or drafted.
    let submits = rb.steps.iter().any(|s| s.uses == "support.submit");
    let toggle =
        rb.param("submit_ticket").filter(|p| p.ty == ParamType::Bool).map(|p| p.name.clone());
    if let (true, Some(name)) = (submits, &toggle) {
        if !is_set(&sets, name) {
            let default = value_of(&rb, &sets, name).and_then(|v| v.as_bool()).unwrap_or(false);
            say!("");
            say!("Microsoft support must release the DevOps resources from the old connectors (a support request per connector).");
            let yes = asker
                .yes_no(
                    "? File the requests through the Support API once you approve each (no: lifeboat drafts them and you file them in the portal)",
                    default,
                )
                .await?;
            let v = yes.to_string();
            asker.record(name, &v);
            sets.push((name.clone(), v));
            asked.push(name.clone());
        }
        let on = value_of(&rb, &sets, name).and_then(|v| v.as_bool()).unwrap_or(false);
        if on {
            let answered = ask_contact(asker, &rb, &mut sets).await?;
            asked.extend(answered);
        }
        plan = (load.plan)(&sets).map_err(UserError::from)?;
    }
    Ok(Prepared { plan, sets, asked, identity_prompted })
}

/// Reads a choice: a number of `options` (1-based), a name `accept` takes, or, when empty and
/// there is one, `default`.
async fn choose(
    asker: &mut Asker,
    question: &str,
    options: &[String],
    default: Option<usize>,
    accept: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, UserError> {
    loop {
        let a = asker.line(question).await?;
        if a.is_empty() {
            if let Some(d) = default.and_then(|d| options.get(d)) {
                return Ok(d.clone());
            }
            say!("  (type a number from the list or a name)");
            continue;
        }
        if let Ok(n) = a.parse::<usize>() {
            match n.checked_sub(1).and_then(|i| options.get(i)) {
                Some(o) => return Ok(o.clone()),
                None => {
                    say!("  (no choice {n}: type 1 to {}, or a name)", options.len());
                    continue;
                }
            }
        }
        match accept(&a) {
            Ok(v) => return Ok(v),
            Err(e) => say!("  ({e})"),
        }
    }
}

async fn ask_failed_region(
    asker: &mut Asker,
    p: &ParamDef,
    client: &ArmClient,
    subscriptions: &[String],
) -> Result<String, UserError> {
    say!("");
    say!("Which region is down? Regions with DevOps security connectors (Azure Resource Graph, which still lists them during an outage):");
    let found = crate::steps::discover::regions_with_connectors(client, subscriptions)
        .await
        .map_err(crate::azure::user_error)?;
    if found.is_empty() {
        say!("  none found in {}", scope(subscriptions));
        say!("  (type the region's name anyway, e.g. westeurope; the discovery will say what it sees)");
    }
    let width = found.iter().map(|(r, _)| r.len()).max().unwrap_or(0);
    for (i, (region, names)) in found.iter().enumerate() {
        let n = names.len();
        let noun = if n == 1 { "connector" } else { "connectors" };
        say!("  {}) {region:width$}  {n} {noun}: {}", i + 1, list_short(names, 6));
    }
    let options: Vec<String> = found.iter().map(|(r, _)| r.clone()).collect();
    let question = if options.is_empty() {
        format!("? {} (region name): ", p.name)
    } else {
        format!("? {} [1-{} or a region name]: ", p.name, options.len())
    };
    let accept = |a: &str| crate::steps::recovery::check_region(&p.name, a);
    choose(asker, &question, &options, None, &accept).await
}

fn scope(subscriptions: &[String]) -> String {
    if subscriptions.is_empty() {
        "the subscriptions your credential can read".to_string()
    } else {
        format!("subscriptions {}", subscriptions.join(", "))
    }
}

fn list_short(names: &[String], max: usize) -> String {
    let shown: Vec<&str> = names.iter().take(max).map(String::as_str).collect();
    if names.len() > max {
        format!("{} and {} more", shown.join(", "), names.len() - max)
    } else {
        shown.join(", ")
    }
}

async fn ask_target_region(
    asker: &mut Asker,
    p: &ParamDef,
    failed: Option<&str>,
    supported_override: &[String],
) -> Result<String, UserError> {
    let supported = regions::supported(supported_override).map_err(UserError::usage)?;
    let from = failed.unwrap_or_default();
    let nearest: Vec<(String, Option<f64>)> =
        regions::nearest_first(from, &supported).into_iter().filter(|(r, _)| r != from).collect();
    say!("");
    if from.is_empty() {
        say!(
            "Where should the connectors be recovered? Regions where DevOps security is available:"
        );
    } else {
        say!("Where should the connectors be recovered? Regions where DevOps security is available, nearest to {from} first:");
    }
    let width = nearest.iter().map(|(r, _)| r.len()).max().unwrap_or(0);
    for (i, (region, km)) in nearest.iter().enumerate() {
        let place = regions::place(region).map(|pl| pl.place.clone()).unwrap_or_default();
        let far =
            km.map(|k| format!(", {} km", (k / 10.0).round() as i64 * 10)).unwrap_or_default();
        say!("  {}) {region:width$}  ({place}{far})", i + 1);
    }
    say!("  (pick one outside {}'s geography if your data residency rules allow it; see docs/responder.md)", if from.is_empty() { "the failed region" } else { from });
    let options: Vec<String> = nearest.iter().map(|(r, _)| r.clone()).collect();
    let question = format!("? {} [1-{}, or a region name; Enter for 1]: ", p.name, options.len());
    let accept = |a: &str| -> Result<String, String> {
        let r = crate::steps::recovery::check_region(&p.name, a)?;
        if r == from {
            return Err(format!("{r} is the failed region: choose another"));
        }
        regions::check_supported(&p.name, &r, &supported, Some(from))?;
        Ok(r)
    };
    choose(asker, &question, &options, Some(0), &accept).await
}

/// Any other required parameter: its description, and an answer of its type.
async fn ask_param(asker: &mut Asker, p: &ParamDef) -> Result<String, UserError> {
    say!("");
    let what = p.description.as_deref().map(first_sentence).unwrap_or_default();
    say!("{}{}", p.name, if what.is_empty() { String::new() } else { format!(": {what}") });
    let form = match &p.ty {
        ParamType::String => "text".to_string(),
        ParamType::Bool => "true or false".to_string(),
        ParamType::Int => "a whole number".to_string(),
        ParamType::Duration => "a duration, e.g. 30m, 2h, 3d".to_string(),
        ParamType::Enum(v) => v.join(", "),
        ParamType::List => "comma-separated, e.g. a,b".to_string(),
    };
    loop {
        let question = format!("? {} ({form}): ", p.name);
        let a =
            if p.secret { asker.hidden(&question).await? } else { asker.line(&question).await? };
        if a.is_empty() && !matches!(p.ty, ParamType::List) {
            say!("  ({} is required)", p.name);
            continue;
        }
        match runbook::parse_param_value(&p.ty, &a) {
            Ok(_) if p.secret => match redact::value_weakness(&Value::String(a.clone())) {
                Some(why) => say!("  (a secret that {why} cannot be kept out of the journal)"),
                None => return Ok(a),
            },
            Ok(_) => return Ok(a),
            Err(e) => say!("  ({} {e})", p.name),
        }
    }
}

/// Guided mode's questions about the backup: `missing_store` is the backup store that does not
/// exist, when the plan would need one; then recovering without a backup (`backup=none`) is
/// offered, and declining it is the same error as without `--guided`. When the run goes without
/// a backup, the DevOps configuration of the new connectors (`auto_discovery`,
/// `inventory_list`) is asked unless given with `--set`. Returns the extra `--set` pairs.
pub async fn ask_backup_choice(
    asker: &mut Asker,
    plan: &Plan,
    sets: &[(String, String)],
    missing_store: Option<UserError>,
) -> Result<Vec<(String, String)>, UserError> {
    let mut extra = Vec::new();
    let without = crate::steps::backup_load::plan_without_backup(plan);
    if let (Some(err), false) = (missing_store, without) {
        say!("");
        say!("{} {err}", console::style("!").yellow().bold());
        say!("  Without a backup, lifeboat still runs Microsoft's procedure: it creates the new connectors");
        say!("  (copying the old ones' properties from Resource Graph), drafts or files the support ticket,");
        say!("  waits for the release, promotes the new connectors and cleans up. It does NOT restore the");
        say!(
            "  pull-request annotation settings of orgs, projects and repositories, nor the DevOps"
        );
        say!("  configuration beyond what you answer next: those are reported as not restored.");
        if !asker.yes_no("? Recover without a backup (backup=none)?", false).await? {
            return Err(err);
        }
        extra.push(("backup".to_string(), crate::steps::backup_load::NO_BACKUP.to_string()));
    } else if !without {
        return Ok(extra);
    }
    let given = |k: &str| is_set(sets, k);
    if plan.runbook.param("auto_discovery").is_some() && !given("auto_discovery") {
        loop {
            let a = asker.line("? Auto-discovery for the new connectors' DevOps configuration (Enabled onboards every org/owner/group the authorizing account sees that no other connector owns) [Enabled/disabled]: ").await?;
            match a.to_ascii_lowercase().as_str() {
                "" | "e" | "enabled" => extra.push(("auto_discovery".into(), "Enabled".into())),
                "d" | "disabled" => extra.push(("auto_discovery".into(), "Disabled".into())),
                _ => {
                    say!("  (type Enabled or Disabled)");
                    continue;
                }
            }
            break;
        }
    }
    if plan.runbook.param("inventory_list").is_some() && !given("inventory_list") {
        let a = asker.line("? Orgs/owners/groups the new connectors must onboard (topLevelInventoryList), comma-separated [none]: ").await?;
        extra.push(("inventory_list".into(), a));
    }
    Ok(extra)
}

/// Whether a run of `plan` opens a backup store.
pub fn needs_store(plan: &Plan) -> bool {
    crate::steps::plan_needs(plan, ServiceNeed::BackupStore)
        && !crate::steps::backup_load::plan_without_backup(plan)
}

/// Refuses a run whose backup store (in `services`, when the plan reads one) cannot be read with
/// the identity given (encrypted, and none or one that is not among its recipients) before
/// anything else, with the error that says what to pass (`--identity-file FILE` or
/// `LIFEBOAT_BACKUP_IDENTITY`). A store without a config (none yet) is left to the checks that
/// follow, which say so.
pub async fn check_identity(services: &crate::engine::kind::Services) -> anyhow::Result<()> {
    let Some(store) = services.get::<crate::backup::Store>() else { return Ok(()) };
    let Ok(config) = store.config().await else { return Ok(()) };
    store.check_readable(config).map_err(UserError::from)?;
    Ok(())
}

/// Asks for the backup identity when `plan` reads a backup store that is encrypted and
/// `identity` gives none; the answer (the key itself or a path) goes into `identity`, after it
/// was checked to be one of the store's recipients. True when it was asked.
pub async fn ask_identity(
    asker: &mut Asker,
    plan: &Plan,
    g: &Globals,
    identity: &mut IdentityArgs,
) -> anyhow::Result<bool> {
    if !needs_store(plan) || identity.identity.is_some() {
        return Ok(false);
    }
    // Opened without an identity, only to read its (clear) config. A store that cannot be
    // opened or read is left to the checks that follow, which say why.
    let probe = IdentityArgs { identity: None, verify_key: identity.verify_key.clone() };
    let Ok(store) = super::backup::open_store(g, probe.keys()?, true) else { return Ok(false) };
    let encrypted = match store.config().await {
        Ok(config) => config.encrypted(),
        Err(_) => return Ok(false),
    };
    if !encrypted {
        return Ok(false);
    }
    say!("");
    say!(
        "The backup store {} is encrypted: lifeboat needs its age identity to read it.",
        store.url()
    );
    say!("  Paste the AGE-SECRET-KEY-1... key (input is hidden, never written anywhere), or type the path of an identity file.");
    say!("  (next time: --identity-file FILE or LIFEBOAT_BACKUP_IDENTITY)");
    loop {
        let a = asker.hidden("? backup identity: ").await?;
        if a.is_empty() {
            say!("  (an encrypted store cannot be read without it; Ctrl-C to stop)");
            continue;
        }
        let is_key = a.starts_with("AGE-SECRET-KEY-");
        if is_key {
            redact::register(&Value::String(a.clone()));
        }
        let candidate =
            IdentityArgs { identity: Some(a.clone()), verify_key: identity.verify_key.clone() };
        let checked = async {
            let keys = candidate.keys()?;
            let store = super::backup::open_store(g, keys, true)?;
            let config = store.config().await.map_err(UserError::from)?;
            store.check_readable(config).map_err(UserError::from)?;
            anyhow::Ok(())
        };
        match checked.await {
            Ok(()) => {
                say!("  {} the identity opens the store", console::style("✓").green());
                *identity = candidate;
                return Ok(true);
            }
            Err(e) => {
                let e =
                    e.downcast::<UserError>().map(|u| u.message).unwrap_or_else(|e| e.to_string());
                say!("  {} {e}", console::style("✗").red());
            }
        }
    }
}

/// The ticket's contact: each `support.submit` contact input passed whole from a parameter
/// that `--set` did not give, asked with the parameter's default and checked as the step
/// checks it. Returns the parameters answered.
async fn ask_contact(
    asker: &mut Asker,
    rb: &Runbook,
    sets: &mut Vec<(String, String)>,
) -> Result<Vec<String>, UserError> {
    let params: Vec<(&str, String)> = support::CONTACT_INPUTS
        .iter()
        .filter_map(|k| Some((*k, param_of_input(rb, "support.submit", k)?)))
        .collect();
    let open: Vec<&(&str, String)> = params.iter().filter(|(_, p)| !is_set(sets, p)).collect();
    if open.is_empty() {
        return Ok(Vec::new());
    }
    say!("");
    say!("The support requests need a contact Microsoft support can reach (Enter keeps the [default]):");
    let severity = param_of_input(rb, "support.submit", "severity")
        .and_then(|s| value_of(rb, sets, &s))
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mut answered = Vec::new();
    for (input, param) in open {
        let method = params
            .iter()
            .find(|(k, _)| *k == "contact_method")
            .and_then(|(_, p)| value_of(rb, sets, p))
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let phone = support::phone_needed(&method, &severity);
        let default = value_of(rb, sets, param)
            .and_then(|v| v.as_str().map(String::from))
            .filter(|d| !d.is_empty());
        let label = match *input {
            "contact_first_name" => "first name",
            "contact_last_name" => "last name",
            "contact_email" => "e-mail",
            "contact_method" => "preferred contact method (email or phone)",
            "contact_phone" if phone.is_some() => "phone number (needed)",
            "contact_phone" => "phone number (optional)",
            "contact_time_zone" => "time zone (Windows name, e.g. W. Europe Standard Time)",
            "contact_country" => "country (ISO 3166-1 alpha-3, e.g. gbr, deu, usa)",
            "contact_language" => "support language (e.g. en-US)",
            other => other,
        };
        let def = rb.param(param);
        loop {
            let shown = default.as_deref().map(|d| format!(" [{d}]")).unwrap_or_default();
            let a = asker.line(&format!("? {label}{shown}: ")).await?;
            let a = if a.is_empty() { default.clone().unwrap_or_default() } else { a };
            if let Err(e) = support::check_contact(input, &a, phone.as_deref()) {
                say!("  ({label} {e})");
                continue;
            }
            if let Some(Err(e)) = def.map(|d| runbook::parse_param_value(&d.ty, &a)) {
                say!("  ({param} {e})");
                continue;
            }
            asker.record(param, &a);
            sets.push((param.clone(), a));
            answered.push(param.clone());
            break;
        }
    }
    Ok(answered)
}
