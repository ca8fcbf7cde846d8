//! Guided mode (`lifeboat run RUNBOOK --guided`, `lifeboat resume RUN_ID --guided`): leads a
//! responder through a run at the terminal.
//!
//! The run is driven in-process by `engine::runner::drive`, exactly as without `--guided`; this
//! module only watches and asks. What it shows comes from the run's journal, tailed while the
//! driver writes it ([`Follower`]): a step's description before it runs, its outputs and the
//! number of changes it journaled when it is done, progress bars from its `StepProgress` events.
//! When the driver returns `Paused`, each gate or manual task becomes a prompt, and the answer is
//! journaled through `runner::apply_manual`, the same path as `lifeboat approve/attest/skip`; then
//! the run is driven again. Secrets are asked through the [`Prompter`] in the run's `Services`,
//! with hidden input.
//!
//! Ctrl-C stops scheduling by dropping the driver between two journal commits (a commit is
//! synchronous, so the journal always ends on a whole batch); an attempt that was in flight is
//! re-entered on resume according to its step's class, as after any stop. The exact resume
//! command is printed and the process exits 3.
//!
//! Plain output (no bars, no colours) when stdout is not a terminal, `TERM=dumb` or `NO_COLOR` is
//! set. Prompts need a terminal on stdin: without one guided mode is refused before anything is
//! done (exit 2).

use super::run::describe_outcome;
use crate::clock::{Clock, SystemClock};
use crate::engine::kind::{Registry, Services};
use crate::engine::runner::{self, RunOptions, RunOutcome};
use crate::engine::{Actor, Blocker, Engine, Event, Instance, Phase};
use crate::error::{Exit, UserError};
use crate::journal::{self, Entry};
use crate::redact;
use crate::say;
use crate::steps::services::{ArmClient, Prompter, PrompterHandle};
use futures::future::BoxFuture;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Key = (String, Option<usize>);

/// Refuses guided mode when stdin is not a terminal: prompts could never be answered. Called
/// before anything is created or journaled.
pub fn require_terminal() -> Result<(), UserError> {
    if std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(UserError::usage("--guided needs a terminal on stdin to ask questions, and stdin is not one")
        .with_hint(
            "drop --guided and use `lifeboat approve`, `lifeboat attest` and `lifeboat skip` to answer gates and manual tasks",
        ))
}

/// Whether to draw bars and colours: stdout is a terminal, `TERM` is not `dumb`, no `NO_COLOR`.
pub fn fancy_output() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// What guided mode prints to: lines above progress bars, or plain lines.
pub struct Ui {
    fancy: bool,
    bars: MultiProgress,
    active: Mutex<HashMap<Key, ProgressBar>>,
    /// Lines held back while a person types a secret, so nothing scrolls through the prompt.
    held: Mutex<Option<Vec<String>>>,
    /// When plain progress was last printed per instance (plain output is throttled).
    plain_progress: Mutex<HashMap<Key, (u64, std::time::Instant)>>,
}

impl Ui {
    pub fn new(fancy: bool) -> Ui {
        console::set_colors_enabled(fancy);
        let target =
            if fancy { ProgressDrawTarget::stdout() } else { ProgressDrawTarget::hidden() };
        Ui {
            fancy,
            bars: MultiProgress::with_draw_target(target),
            active: Mutex::new(HashMap::new()),
            held: Mutex::new(None),
            plain_progress: Mutex::new(HashMap::new()),
        }
    }

    /// Prints one line (above the bars when there are any).
    pub fn line(&self, text: impl Into<String>) {
        let text = text.into();
        if let Some(held) = self.held.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            held.push(text);
            return;
        }
        self.print(&text);
    }

    /// Every line goes out scrubbed of the secrets this process knows.
    fn print(&self, text: &str) {
        let text = redact::scrub_output(text);
        let any_bar = !self.active.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
        if self.fancy && any_bar {
            let _ = self.bars.println(&text);
        } else {
            println!("{text}");
        }
    }

    fn hold(&self) {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
        if self.fancy {
            self.bars.set_draw_target(ProgressDrawTarget::hidden());
        }
    }

    fn release(&self) {
        if self.fancy {
            self.bars.set_draw_target(ProgressDrawTarget::stdout());
        }
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
        for line in held.into_iter().flatten() {
            self.print(&line);
        }
    }

    fn progress(&self, key: &Key, name: &str, done: u64, total: u64, message: &str) {
        if !self.fancy {
            // Plain lines: at most one per instance every 2 s, plus the last one.
            let mut last = self.plain_progress.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            let due = match last.get(key) {
                Some((n, at)) => {
                    done == total || (done != *n && at.elapsed() >= Duration::from_secs(2))
                }
                None => true,
            };
            if due {
                last.insert(key.clone(), (done, now));
                drop(last);
                self.line(format!("  {name}: {done} of {total} {message}"));
            }
            return;
        }
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let bar = active.entry(key.clone()).or_insert_with(|| {
            let bar = self.bars.add(ProgressBar::new(total));
            bar.set_style(
                ProgressStyle::with_template(
                    "  {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed} waited, ETA {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(redact::scrub_output(name));
            bar
        });
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(redact::scrub_output(message));
    }

    fn finish_progress(&self, key: &Key) {
        let bar = self.active.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        if let Some(bar) = bar {
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
        self.plain_progress.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    fn clear(&self) {
        let bars: Vec<_> =
            self.active.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, b)| b).collect();
        for bar in bars {
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
    }
}

/// Reads one line from the terminal on a thread of its own, so Ctrl-C can interrupt the wait
/// (the thread is left blocked in `read`, and dies with the process). `None` at end of input.
fn read_line_async() -> tokio::sync::oneshot::Receiver<Option<String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let line = match std::io::stdin().read_line(&mut s) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(s.trim_end_matches(['\r', '\n']).to_string()),
        };
        let _ = tx.send(line);
    });
    rx
}

/// Turns terminal echo off for stdin until dropped. Done before the prompt is printed and with
/// `TCSANOW`, so what a fast typist (or a test) sends right after the prompt is neither echoed
/// nor discarded. Ctrl-C still interrupts (`ISIG` stays on); [`TerminalModes`] restores echo.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr writes a termios into the pointer on success; we read it only then.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, t.as_mut_ptr()) } != 0 {
            return EchoOff(None);
        }
        // SAFETY: initialised by the successful tcgetattr above.
        let original = unsafe { t.assume_init() };
        let mut hidden = original;
        hidden.c_lflag &= !libc::ECHO;
        hidden.c_lflag |= libc::ECHONL;
        // SAFETY: sets a termios derived from the one tcgetattr returned, on the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &hidden) };
        EchoOff(Some(original))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores the termios obtained from tcgetattr on the same descriptor.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t) };
        }
    }
}

/// Asks secrets with hidden input; lines from other steps wait until the answer is in.
struct TermPrompter {
    ui: Arc<Ui>,
    /// Asks the guided loop to show everything journaled so far (the asking step's
    /// announcement) before the prompt; answered once done.
    catch_up: tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<()>>,
}

impl Prompter for TermPrompter {
    fn secret(&self, label: String) -> BoxFuture<'static, Option<String>> {
        let ui = self.ui.clone();
        let catch_up = self.catch_up.clone();
        Box::pin(async move {
            let (done, shown) = tokio::sync::oneshot::channel();
            if catch_up.send(done).is_ok() {
                let _ = shown.await;
            }
            ui.hold();
            let echo_off = EchoOff::new();
            use std::io::Write;
            let label = redact::scrub_output(&label);
            print!("{} {label} (input is hidden, empty to decline): ", console::style("?").bold());
            let _ = std::io::stdout().flush();
            let answer = read_line_async().await.ok().flatten();
            drop(echo_off);
            ui.release();
            answer.filter(|a| !a.trim().is_empty())
        })
    }
    fn notice(&self, message: String) {
        self.ui.line(format!("  {message}"));
    }
}

/// Restores the terminal modes of stdin when dropped: a Ctrl-C during a hidden prompt must not
/// leave the responder's shell without echo.
struct TerminalModes(Option<libc::termios>);

impl TerminalModes {
    fn save() -> TerminalModes {
        let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr writes a termios into the pointer on success; we read it only then.
        let ok = unsafe { libc::tcgetattr(libc::STDIN_FILENO, t.as_mut_ptr()) } == 0;
        // SAFETY: initialised by the successful tcgetattr above.
        TerminalModes(ok.then(|| unsafe { t.assume_init() }))
    }
}

impl Drop for TerminalModes {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores a termios obtained from tcgetattr on the same descriptor.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t);
            }
        }
    }
}

/// Tails a run's journal while another part of the process writes it, and turns new events into
/// lines and bars. Keeps its own replayed engine, so it knows items, durations and outputs.
pub struct Follower {
    path: PathBuf,
    offset: u64,
    engine: Engine,
    /// Changes (non-read effects) journaled per instance.
    changes: HashMap<Key, usize>,
    announced: HashSet<(Key, u32)>,
    last_wait: HashMap<Key, String>,
}

impl Follower {
    /// Starts after the last complete entry of the journal.
    pub fn new(run_dir: &Path, registry: &Registry) -> Result<Follower, runner::RunError> {
        let path = run_dir.join(journal::JOURNAL_FILE);
        let read = journal::read(&path)?;
        let offset = read.valid_len;
        let r = runner::replay(&path, read.entries, registry)?;
        Ok(Follower {
            path,
            offset,
            engine: r.engine,
            changes: HashMap::new(),
            announced: HashSet::new(),
            last_wait: HashMap::new(),
        })
    }

    /// Reads what was appended since the last call and shows it.
    pub fn poll(&mut self, ui: &Ui) {
        let Ok(mut f) = std::fs::File::open(&self.path) else { return };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut bytes = Vec::new();
        if f.read_to_end(&mut bytes).is_err() {
            return;
        }
        // Only whole lines: a line still being written is read on the next poll.
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else { return };
        self.offset += end as u64 + 1;
        for line in bytes[..end].split(|b| *b == b'\n') {
            let Ok(entry) = serde_json::from_slice::<Entry>(line) else { continue };
            if entry.kind != "event" {
                continue;
            }
            let Ok(event) = serde_json::from_value::<Event>(entry.payload.clone()) else {
                continue;
            };
            // The driver validated and applied this event already; a display cannot do better
            // than skip one it fails to apply.
            let _ = self.engine.handle(&event, entry.time);
            self.show(&event, ui);
        }
    }

    fn instance(&self, step: &str, branch: Option<usize>) -> Option<Instance> {
        self.engine
            .snapshot()
            .into_iter()
            .find(|v| v.step == step && v.branch == branch)
            .and_then(|v| v.instance)
    }

    fn show(&mut self, event: &Event, ui: &Ui) {
        match event {
            Event::StepStarted { step, branch, attempt } => {
                let key = (step.clone(), *branch);
                let Some(inst) = self.instance(step, *branch) else { return };
                if inst.polls > 0 || !self.announced.insert((key, *attempt)) {
                    return;
                }
                let name = self.engine.instance_name(step, *branch);
                if *attempt > 1 {
                    ui.line(format!("{} {name}: attempt {attempt}", console::style("↻").yellow()));
                    return;
                }
                let def = self.engine.plan().runbook.step(step).cloned();
                let uses = def.as_ref().map(|d| d.uses.clone()).unwrap_or_default();
                ui.line(format!(
                    "{} {} ({uses})",
                    console::style("▶").cyan(),
                    console::style(&name).bold()
                ));
                let kind = crate::catalog::lookup(&uses).map(|k| k.description);
                if let Some(why) = def.and_then(|d| d.description).or(kind.map(String::from)) {
                    for l in why.trim().lines() {
                        ui.line(format!("  {l}"));
                    }
                }
                if let Some(item) = &inst.item {
                    ui.line(format!("  for: {}", short(item, 100)));
                }
            }
            Event::StepProgress { step, branch, done, total, message, .. } => {
                let name = self.engine.instance_name(step, *branch);
                ui.progress(&(step.clone(), *branch), &name, *done, *total, message);
            }
            Event::EffectRecorded { step, branch, effect, .. }
                if !matches!(effect.method.to_ascii_uppercase().as_str(), "GET" | "HEAD") =>
            {
                *self.changes.entry((step.clone(), *branch)).or_default() += 1;
            }
            Event::StepSucceeded { step, branch, outputs, .. } => {
                let key = (step.clone(), *branch);
                ui.finish_progress(&key);
                let took = self
                    .instance(step, *branch)
                    .and_then(|i| Some(i.finished? - i.first_started?))
                    .map(|d| format!(" in {}", fmt_secs(d.whole_seconds())))
                    .unwrap_or_default();
                let changes = self.changes.get(&key).copied().unwrap_or(0);
                let what = match changes {
                    0 => "no change journaled".to_string(),
                    1 => "1 change journaled".to_string(),
                    n => format!("{n} changes journaled"),
                };
                ui.line(format!(
                    "{} {} done{took}: {what}",
                    console::style("✓").green(),
                    self.engine.instance_name(step, *branch)
                ));
                if !outputs.is_empty() {
                    ui.line(format!("  outputs: {}", summarize_outputs(outputs)));
                }
                for w in crate::catalog::output_warnings(outputs) {
                    ui.line(format!("  {} warning: {w}", console::style("!").yellow()));
                }
            }
            Event::StepFailed { step, branch, attempt, error, retryable } => {
                let key = (step.clone(), *branch);
                ui.finish_progress(&key);
                let retry = self
                    .instance(step, *branch)
                    .is_some_and(|i| !i.state.is_terminal() && *retryable);
                ui.line(format!(
                    "{} {} attempt {attempt} failed: {error}{}",
                    console::style("✗").red(),
                    self.engine.instance_name(step, *branch),
                    if retry { " (it will be retried)" } else { "" }
                ));
            }
            Event::StepWaiting { step, branch, until, message, .. } => {
                let key = (step.clone(), *branch);
                if self.last_wait.get(&key) != Some(message) {
                    self.last_wait.insert(key, message.clone());
                    // The step's message usually says what it waits for and until when.
                    let what = if message.trim().is_empty() {
                        format!("until {}", fmt_time(*until))
                    } else {
                        message.trim().to_string()
                    };
                    ui.line(format!(
                        "{} {} waits: {what}",
                        console::style("…").dim(),
                        self.engine.instance_name(step, *branch),
                    ));
                }
            }
            Event::StepAwaitingApproval { step, branch, .. } => ui.line(format!(
                "{} {} awaits approval",
                console::style("⏸").yellow(),
                self.engine.instance_name(step, *branch)
            )),
            Event::StepAwaitingAttestation { step, branch, .. } => ui.line(format!(
                "{} {} awaits a person (manual task)",
                console::style("⏸").yellow(),
                self.engine.instance_name(step, *branch)
            )),
            _ => {}
        }
    }
}

fn fmt_secs(s: i64) -> String {
    humantime::format_duration(Duration::from_secs(s.max(0) as u64)).to_string()
}

fn fmt_time(t: time::OffsetDateTime) -> String {
    crate::text::local_time(t)
}

/// A value on one line, cut at `max` characters.
fn short(v: &Value, max: usize) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text
    }
}

/// `key=value` pairs, secrets shown as `(secret)`.
fn summarize_outputs(outputs: &Map<String, Value>) -> String {
    outputs
        .iter()
        .map(|(k, v)| {
            if journal::is_redacted(v) {
                format!("{k}=(secret)")
            } else {
                format!("{k}={}", short(v, 60))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The person answering: the OS user, and the Azure principal when the run has an Azure client
/// whose token names one.
fn actor(services: &Services) -> Actor {
    let mut a = Actor::current();
    a.azure_principal = services
        .get::<ArmClient>()
        .and_then(|c| c.principal())
        .and_then(|p| p.object_id.or(p.name));
    a
}

enum Answer {
    Decided,
    Pause,
}

/// Drives a run in guided mode until it ends or the person pauses it. `services` are the run's
/// services (Azure client, ...); the prompter is added here.
pub async fn drive_guided(
    dir: &Path,
    run_id: &str,
    registry: &Registry,
    services: Services,
    secret_params: Map<String, Value>,
    observer: Option<Arc<dyn runner::RunObserver>>,
) -> anyhow::Result<Exit> {
    let _modes = TerminalModes::save();
    let ui = Arc::new(Ui::new(fancy_output()));
    let (catch_up, mut catch_up_requests) = tokio::sync::mpsc::unbounded_channel();
    let mut services = services;
    let prompter = TermPrompter { ui: ui.clone(), catch_up };
    services.insert(Arc::new(PrompterHandle(Arc::new(prompter))));
    let services = Arc::new(services);
    let (int_tx, mut interrupted) = tokio::sync::watch::channel(false);
    // One handler for the whole session: SIGINT never kills the process while the journal is
    // being written; it becomes a clean pause.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::spawn(async move {
        while sigint.recv().await.is_some() {
            let _ = int_tx.send(true);
        }
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let options =
        RunOptions { actor: actor(&services), secret_params, observer, ..RunOptions::default() };
    intro(dir, registry, run_id, &ui);
    loop {
        let mut follower = Follower::new(dir, registry).map_err(UserError::from)?;
        // Boxed so it can be dropped (stopping the run) before the pause is reported.
        let mut drive =
            Box::pin(runner::drive(dir, registry, services.clone(), clock.clone(), &options));
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let outcome = loop {
            tokio::select! {
                out = &mut drive => break Some(out),
                _ = tick.tick() => follower.poll(&ui),
                Some(done) = catch_up_requests.recv() => {
                    follower.poll(&ui);
                    let _ = done.send(());
                }
                _ = interrupted.wait_for(|i| *i) => break None,
            }
        };
        follower.poll(&ui);
        ui.clear();
        let Some(outcome) = outcome else {
            // Dropping the driver here stops scheduling; its lock is released with it.
            drop(drive);
            return Ok(paused(run_id, &ui, "interrupted"));
        };
        let outcome = outcome.map_err(UserError::from)?;
        match &outcome {
            RunOutcome::Paused { blockers } => {
                for b in blockers.iter().filter(|b| b.phase != Phase::Failed) {
                    match ask(dir, registry, b, &services, &mut interrupted).await? {
                        Answer::Decided => {}
                        Answer::Pause => return Ok(paused(run_id, &ui, "paused")),
                    }
                }
            }
            RunOutcome::Succeeded => {
                ui.line(format!("{} run {run_id} succeeded", console::style("✓").green().bold()));
                if let Ok(r) = runner::load(dir, registry) {
                    let text = super::run::describe_warnings(run_id, &r.engine.snapshot());
                    if !text.is_empty() {
                        ui.line(redact::scrub_output(text.trim_end()));
                    }
                }
                return Ok(Exit::Ok);
            }
            other => {
                print!("{}", redact::scrub_output(&describe_outcome(run_id, other)));
                return Ok(other.exit());
            }
        }
    }
}

fn intro(dir: &Path, registry: &Registry, run_id: &str, ui: &Ui) {
    let Ok(r) = runner::load(dir, registry) else { return };
    let rb = &r.engine.plan().runbook;
    ui.line(format!("{} run {run_id} of runbook {}", console::style("lifeboat").bold(), rb.name));
    if let Some(d) = &rb.description {
        for l in d.trim().lines() {
            ui.line(format!("  {l}"));
        }
    }
    let snap = r.engine.snapshot();
    let done =
        snap.iter().filter(|v| v.instance.as_ref().is_some_and(|i| i.state.is_terminal())).count();
    ui.line(format!(
        "  {} steps, {done} done; Ctrl-C pauses cleanly (resume later with `lifeboat resume {run_id} --guided`)",
        snap.len()
    ));
}

fn paused(run_id: &str, ui: &Ui, why: &str) -> Exit {
    ui.line(String::new());
    ui.line(format!(
        "{} run {run_id} {why}: the journal is consistent and nothing else will start",
        console::style("⏸").yellow()
    ));
    ui.line("continue with:".to_string());
    ui.line(format!("  lifeboat resume {run_id} --guided"));
    Exit::Paused
}

/// Prints `question`, reads a line; `None` when interrupted or at end of input.
async fn read_answer(
    question: &str,
    interrupted: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<String> {
    use std::io::Write;
    print!("{}", redact::scrub_output(question));
    let _ = std::io::stdout().flush();
    tokio::select! {
        line = read_line_async() => line.ok().flatten(),
        _ = interrupted.wait_for(|i| *i) => { println!(); None }
    }
}

/// Asks until a non-empty text is given; `None` to pause.
async fn read_text(
    question: &str,
    interrupted: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<String> {
    loop {
        let text = read_answer(question, interrupted).await?;
        if !text.trim().is_empty() {
            return Some(text.trim().to_string());
        }
        println!("  (an empty answer cannot go into the audit record: type some text)");
    }
}

async fn ask(
    dir: &Path,
    registry: &Registry,
    b: &Blocker,
    services: &Services,
    interrupted: &mut tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Answer> {
    let name = b.name();
    let r = runner::load(dir, registry).map_err(UserError::from)?;
    let def = r.engine.plan().runbook.step(&b.step).cloned();
    say!();
    let what = match (b.phase, b.interrupted) {
        (Phase::AwaitingApproval, _) => "gate: your approval is needed",
        (_, false) => "manual task: a person must do this",
        (_, true) => "interrupted one-shot step: it must never run twice",
    };
    say!("{} {} — {what}", console::style("?").bold(), console::style(&name).bold());
    if let Some(d) = def.as_ref().and_then(|d| d.description.clone()) {
        for l in d.trim().lines() {
            say!("  {l}");
        }
    }
    if let Some(m) = &b.message {
        for l in m.trim().lines() {
            say!("  {l}");
        }
    }
    let (choices, allowed): (&str, &[&str]) = match (b.phase, b.interrupted) {
        (Phase::AwaitingApproval, _) => {
            ("[a]pprove, [s]kip with reason, [p]ause and come back later", &["a", "s", "p"])
        }
        (_, false) => (
            "[t] attest with evidence, [s]kip with reason, [p]ause and come back later",
            &["t", "s", "p"],
        ),
        (_, true) => (
            "[t] attest it took effect (with evidence), [s]kip with reason (it did not), [p]ause",
            &["t", "s", "p"],
        ),
    };
    loop {
        let Some(choice) = read_answer(&format!("  {choices}: "), interrupted).await else {
            return Ok(Answer::Pause);
        };
        let choice = choice.trim().to_ascii_lowercase();
        let choice = choice.chars().next().map(String::from).unwrap_or_default();
        if !allowed.contains(&choice.as_str()) {
            say!("  (type one of: {})", allowed.join(", "));
            continue;
        }
        let (step, branch) = (b.step.clone(), b.branch);
        let by = actor(services);
        let (event, done) = match choice.as_str() {
            "p" => return Ok(Answer::Pause),
            "a" => {
                let Some(c) =
                    read_answer("  comment for the audit record (optional): ", interrupted).await
                else {
                    return Ok(Answer::Pause);
                };
                let comment = Some(c.trim().to_string()).filter(|c| !c.is_empty());
                (Event::Approved { step, branch, by, comment }, "approved")
            }
            "t" => {
                let Some(evidence) =
                    read_text("  evidence (what was done, e.g. a ticket number): ", interrupted)
                        .await
                else {
                    return Ok(Answer::Pause);
                };
                (Event::Attested { step, branch, by, evidence }, "attested")
            }
            _ => {
                let Some(reason) = read_text("  reason for skipping: ", interrupted).await else {
                    return Ok(Answer::Pause);
                };
                (Event::Skipped { step, branch, by, reason }, "skipped")
            }
        };
        match runner::apply_manual(dir, registry, event, SystemClock.now()) {
            Ok(_) => {
                say!("  {} {name} {done} (journaled)", console::style("✓").green());
                return Ok(Answer::Decided);
            }
            Err(e) => {
                // E.g. someone else answered from another terminal meanwhile: say so, ask again.
                let e = UserError::from(e);
                say!("  {} {e}", console::style("✗").red());
                if let Ok(r) = runner::load(dir, registry) {
                    if !r.engine.blockers().iter().any(|x| x.name() == name) {
                        return Ok(Answer::Decided);
                    }
                }
            }
        }
    }
}

/// Reads one line from the terminal before a run exists (no interruption handling: Ctrl-C
/// simply ends the process, nothing has been created). `None` at end of input.
async fn read_plain(question: &str) -> Option<String> {
    use std::io::Write;
    print!("{}", redact::scrub_output(question));
    let _ = std::io::stdout().flush();
    read_line_async().await.ok().flatten().map(|s| s.trim().to_string())
}

/// Guided mode's questions about the backup, before the run is created (kept small: issue 15
/// reworks guided mode). `missing_store`: the backup store that does not exist, when the plan
/// would need one; then recovering without a backup (`backup=none`) is offered, and declining it
/// is the same error as without `--guided`. When the run goes without a backup, the DevOps
/// configuration of the new connectors (`auto_discovery`, `inventory_list`) is asked unless
/// given with `--set`. Returns the extra `--set` pairs.
pub async fn ask_backup_choice(
    plan: &crate::runbook::Plan,
    sets: &[(String, String)],
    missing_store: Option<UserError>,
) -> Result<Vec<(String, String)>, UserError> {
    let mut extra = Vec::new();
    let without = crate::steps::backup_load::plan_without_backup(plan);
    if let (Some(err), false) = (missing_store, without) {
        say!("{} {err}", console::style("!").yellow().bold());
        say!("  Without a backup, lifeboat still runs Microsoft's procedure: it creates the new connectors");
        say!("  (copying the old ones' properties from Resource Graph), drafts or files the support ticket,");
        say!("  waits for the release, promotes the new connectors and cleans up. It does NOT restore the");
        say!(
            "  pull-request annotation settings of orgs, projects and repositories, nor the DevOps"
        );
        say!("  configuration beyond what you answer next: those are reported as not restored.");
        let answer = read_plain("? Recover without a backup (backup=none)? [y/N]: ").await;
        let yes = answer.is_some_and(|a| matches!(a.to_ascii_lowercase().as_str(), "y" | "yes"));
        if !yes {
            return Err(err);
        }
        extra.push(("backup".to_string(), crate::steps::backup_load::NO_BACKUP.to_string()));
    } else if !without {
        return Ok(extra);
    }
    let given = |k: &str| sets.iter().any(|(n, _)| n == k);
    if plan.runbook.param("auto_discovery").is_some() && !given("auto_discovery") {
        loop {
            let a = read_plain("? Auto-discovery for the new connectors' DevOps configuration (Enabled onboards every org/owner/group the authorizing account sees that no other connector owns) [Enabled/disabled]: ")
                .await
                .ok_or_else(|| UserError::usage("no answer to the auto-discovery question (end of input)"))?;
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
        let a = read_plain("? Orgs/owners/groups the new connectors must onboard (topLevelInventoryList), comma-separated [none]: ")
            .await
            .ok_or_else(|| UserError::usage("no answer to the inventory list question (end of input)"))?;
        extra.push(("inventory_list".into(), a));
    }
    Ok(extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outputs_summary_hides_secrets_and_cuts_long_values() {
        let mut m = Map::new();
        m.insert("ticket".into(), json!("T-1"));
        m.insert("code".into(), journal::redact(&json!("s3cret-value")));
        m.insert("long".into(), json!("x".repeat(200)));
        let s = summarize_outputs(&m);
        assert!(s.starts_with("ticket=T-1, code=(secret), long=xxx"), "{s}");
        assert!(!s.contains("s3cret"));
        assert!(s.ends_with('…') && s.chars().count() < 100, "{s}");
    }
}
