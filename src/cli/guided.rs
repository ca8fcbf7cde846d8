//! Guided mode (`lifeboat run RUNBOOK --guided`, `lifeboat resume RUN_ID --guided`): leads a
//! responder through a run at the terminal. The questions before the run exists (regions,
//! backup identity, contact) are [`super::questions`]'.
//!
//! The run is driven in-process by `engine::runner::drive`, exactly as without `--guided`; this
//! module only watches and asks. What it shows comes from the run's journal, tailed while the
//! driver writes it ([`Follower`]): one line per state change of a step instance
//! (`10:15:31  wait-for-release[ado-weu]  waiting: 0 of 2 released; … (next check 10:20:31)`),
//! named as everywhere else (`InstanceView::name`), at the journal's time in local time, outputs
//! summarised for people (never JSON). On a terminal, live status lines under them show what runs
//! and what waits, with the time waited and the next check computed from the journal's times
//! (so a resumed wait shows all of its time). Step descriptions on demand: `--verbose` (once per
//! step, not per branch) or `d` at a prompt.
//!
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
//! Plain output (no live lines, no colours) when stdout is not a terminal, `TERM=dumb` or
//! `NO_COLOR` is set; a long wait then gets a "still waiting" line after 10 minutes, 20, 40...
//! Prompts need a terminal on stdin: without one guided mode is refused before anything is done
//! (exit 2).

use super::questions::Interrupt;
use super::run::describe_outcome;
use crate::clock::{Clock, SystemClock};
use crate::engine::kind::{Registry, Services};
use crate::engine::runner::{self, RunOptions, RunOutcome};
use crate::engine::{Actor, Blocker, Engine, Event, Instance, InstanceView, Phase};
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
use time::OffsetDateTime;

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

/// What guided mode prints to: one line per state change (`HH:MM:SS  NAME  TEXT`), above live
/// status lines on a terminal (what runs and what waits, with the time waited and the next
/// check), or plain lines only.
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

    /// One state change: `HH:MM:SS  NAME  TEXT`, the time local, to the second (and so are the
    /// RFC 3339 times in `TEXT`).
    pub fn event(&self, at: OffsetDateTime, name: &str, text: &str) {
        let text = local_times(text, at);
        self.line(format!("{}  {}  {text}", local_time(at), console::style(name).bold()));
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

    /// The live status line of an instance (terminal only): `status` is computed by the
    /// follower from the journal's times, never from when this process started to look.
    fn status(&self, key: &Key, name: &str, status: &str) {
        if !self.fancy {
            return;
        }
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let bar = active.entry(key.clone()).or_insert_with(|| {
            let bar = self.bars.add(ProgressBar::new(1));
            bar.set_style(
                ProgressStyle::with_template("  {prefix}  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(redact::scrub_output(name));
            bar
        });
        bar.set_message(redact::scrub_output(status));
    }

    /// Plain progress lines (`--verbose` without a terminal): at most one per instance every
    /// 2 s, plus the last one.
    fn plain_progress(&self, key: &Key, name: &str, done: u64, total: u64, message: &str) {
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
            self.line(format!("          {name}  {done} of {total}: {message}"));
        }
    }

    fn finish_status(&self, key: &Key) {
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

/// `HH:MM:SS` in local time (the offset as `text::local_time` finds it): the prefix of each line.
pub fn local_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(crate::text::local_offset(t));
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// `t` in local time to the second: `HH:MM:SS` on the local day of `today`, else with the date.
pub fn local_stamp(t: OffsetDateTime, today: OffsetDateTime) -> String {
    let local = t.to_offset(crate::text::local_offset(t));
    if local.date() == today.to_offset(crate::text::local_offset(today)).date() {
        local_time(t)
    } else {
        format!("{} {}", local.date(), local_time(t))
    }
}

/// `text` with every RFC 3339 time in it (`2026-01-02T03:04:05.123456789Z`, as step messages
/// carry them) shown as [`local_stamp`].
pub fn local_times(text: &str, today: OffsetDateTime) -> String {
    if !text.contains('T') || !text.contains(':') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        let lead = word.len() - word.trim_start_matches(['(', '`', '"', '\'']).len();
        let core = word[lead..].trim_end_matches(['.', ',', ';', ')', '`', '"', '\'', ':']);
        match OffsetDateTime::parse(core, &time::format_description::well_known::Rfc3339) {
            Ok(t) if core.len() >= 20 => {
                out.push_str(&word[..lead]);
                out.push_str(&local_stamp(t, today));
                out.push_str(&word[lead + core.len()..]);
            }
            _ => out.push_str(word),
        }
        let ws = tail.len() - tail.trim_start().len();
        out.push_str(&tail[..ws]);
        rest = &tail[ws..];
    }
    out
}

/// A duration for people, to the second, largest two units: `2h 13m`, `45s`.
pub fn human(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (mins, "m"), (secs, "s")]
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}

/// Reads one line from the terminal on a thread of its own, so Ctrl-C can interrupt the wait
/// (the thread is left blocked in `read`, and dies with the process). `None` at end of input.
pub(super) fn read_line_async() -> tokio::sync::oneshot::Receiver<Option<String>> {
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
pub(super) struct EchoOff(Option<libc::termios>);

impl EchoOff {
    pub(super) fn new() -> EchoOff {
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
    /// One question at a time: branches that ask at once (one OAuth code per connector) queue.
    asking: Arc<tokio::sync::Mutex<()>>,
}

impl Prompter for TermPrompter {
    fn secret(&self, label: String) -> BoxFuture<'static, Option<String>> {
        let ui = self.ui.clone();
        let catch_up = self.catch_up.clone();
        let asking = self.asking.clone();
        Box::pin(async move {
            let _turn = asking.lock().await;
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
/// one line per state change and live status lines. Keeps its own replayed engine, so it knows
/// items, names, times and outputs.
pub struct Follower {
    path: PathBuf,
    offset: u64,
    engine: Engine,
    verbose: bool,
    /// Changes (non-read effects) journaled per instance.
    changes: HashMap<Key, usize>,
    announced: HashSet<(Key, u32)>,
    /// Steps whose description was shown (`--verbose`: once per step, not per branch).
    described: HashSet<String>,
    waits: HashMap<Key, Wait>,
    /// Progress per running instance, for its status line.
    progress: HashMap<Key, (u64, u64, String)>,
}

/// What an instance waits for, as the follower saw it.
struct Wait {
    message: String,
    next_check: OffsetDateTime,
    /// When the next plain reminder is due (waited time), doubling each time.
    remind_at: time::Duration,
}

/// The first plain "still waiting" reminder, after this much waiting; then at twice as long.
const FIRST_REMINDER: time::Duration = time::Duration::minutes(10);

impl Follower {
    /// Starts after the last complete entry of the journal.
    pub fn new(
        run_dir: &Path,
        registry: &Registry,
        verbose: bool,
    ) -> Result<Follower, runner::RunError> {
        let path = run_dir.join(journal::JOURNAL_FILE);
        let read = journal::read(&path)?;
        let offset = read.valid_len;
        let r = runner::replay(&path, read.entries, registry)?;
        Ok(Follower {
            path,
            offset,
            engine: r.engine,
            verbose,
            changes: HashMap::new(),
            announced: HashSet::new(),
            described: HashSet::new(),
            waits: HashMap::new(),
            progress: HashMap::new(),
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
            self.show(&event, entry.time, ui);
        }
    }

    fn view(&self, step: &str, branch: Option<usize>) -> Option<InstanceView> {
        self.engine.view(step, branch)
    }

    fn instance(&self, step: &str, branch: Option<usize>) -> Option<Instance> {
        self.view(step, branch).and_then(|v| v.instance)
    }

    /// How the instance is named everywhere (`step`, `step[label]`, `step#N`).
    fn name(&self, step: &str, branch: Option<usize>) -> String {
        self.view(step, branch)
            .map(|v| v.name())
            .unwrap_or_else(|| self.engine.instance_name(step, branch))
    }

    /// The step's description, once per step, with `--verbose`.
    fn describe(&mut self, step: &str, ui: &Ui) {
        if !self.verbose || !self.described.insert(step.to_string()) {
            return;
        }
        let def = self.engine.plan().runbook.step(step).cloned();
        let kind =
            def.as_ref().and_then(|d| crate::catalog::lookup(&d.uses)).map(|k| k.description);
        if let Some(why) = def.and_then(|d| d.description).or(kind.map(String::from)) {
            for l in textwrap(&why, 92) {
                ui.line(format!("          {}", console::style(l).dim()));
            }
        }
    }

    fn show(&mut self, event: &Event, at: OffsetDateTime, ui: &Ui) {
        match event {
            Event::StepStarted { step, branch, attempt } => {
                let key = (step.clone(), *branch);
                let Some(inst) = self.instance(step, *branch) else { return };
                if inst.polls > 0 || !self.announced.insert((key.clone(), *attempt)) {
                    return;
                }
                self.waits.remove(&key);
                let name = self.name(step, *branch);
                if *attempt > 1 {
                    ui.event(
                        at,
                        &name,
                        &format!("{} attempt {attempt} started", console::style("↻").yellow()),
                    );
                } else if !matches!(
                    self.engine.plan().runbook.step(step).map(|d| d.uses.as_str()),
                    Some("gate.approval" | "manual.task")
                ) {
                    // A gate or a manual task goes straight to its person: that line says it,
                    // and the prompt describes it.
                    ui.event(at, &name, "started");
                    self.describe(step, ui);
                }
            }
            Event::StepProgress { step, branch, done, total, message, .. } => {
                let key = (step.clone(), *branch);
                self.progress.insert(key.clone(), (*done, *total, message.clone()));
                if self.verbose && !ui.fancy {
                    let name = self.name(step, *branch);
                    ui.plain_progress(&key, &name, *done, *total, message);
                }
            }
            Event::EffectRecorded { step, branch, effect, .. }
                if !matches!(effect.method.to_ascii_uppercase().as_str(), "GET" | "HEAD") =>
            {
                *self.changes.entry((step.clone(), *branch)).or_default() += 1;
            }
            Event::StepSucceeded { step, branch, outputs, .. } => {
                let key = (step.clone(), *branch);
                self.forget(&key, ui);
                let inst = self.instance(step, *branch);
                let took = inst
                    .as_ref()
                    .and_then(|i| Some(i.finished? - i.first_started?))
                    .map(human)
                    .unwrap_or_else(|| "0s".into());
                let changes = match self.changes.get(&key).copied().unwrap_or(0) {
                    0 => String::new(),
                    1 => ", 1 change".to_string(),
                    n => format!(", {n} changes"),
                };
                let summary = summarize_outputs(outputs);
                let summary =
                    if summary.is_empty() { String::new() } else { format!(": {summary}") };
                let name = self.name(step, *branch);
                ui.event(
                    at,
                    &name,
                    &format!("{} done ({took}{changes}){summary}", console::style("✓").green()),
                );
                for w in crate::catalog::output_warnings(outputs) {
                    ui.event(at, &name, &format!("{} warning: {w}", console::style("!").yellow()));
                }
            }
            Event::StepFailed { step, branch, attempt, error, retryable } => {
                let key = (step.clone(), *branch);
                self.forget(&key, ui);
                let retry = self
                    .instance(step, *branch)
                    .is_some_and(|i| !i.state.is_terminal() && *retryable);
                let name = self.name(step, *branch);
                let what = if retry {
                    format!("attempt {attempt} failed, it will be retried: {error}")
                } else {
                    format!("failed: {error}")
                };
                ui.event(at, &name, &format!("{} {what}", console::style("✗").red()));
            }
            Event::StepWaiting { step, branch, until, message, .. } => {
                let key = (step.clone(), *branch);
                self.progress.remove(&key);
                let text = self.wait_text(message);
                let changed =
                    self.waits.get(&key).is_none_or(|w| self.wait_text(&w.message) != text);
                let since = self.instance(step, *branch).and_then(|i| i.attempt_started);
                let waited = since.map(|s| at - s).unwrap_or(time::Duration::ZERO);
                let remind_at = self.waits.get(&key).map_or(FIRST_REMINDER, |w| w.remind_at);
                self.waits.insert(
                    key.clone(),
                    Wait { message: message.clone(), next_check: *until, remind_at },
                );
                if changed {
                    let name = self.name(step, *branch);
                    let so_far = if waited >= time::Duration::seconds(1) {
                        format!("waited {}, ", human(waited))
                    } else {
                        String::new()
                    };
                    ui.event(
                        at,
                        &name,
                        &format!(
                            "{} waiting: {text} ({so_far}next check {})",
                            console::style("…").dim(),
                            local_time(*until)
                        ),
                    );
                }
            }
            Event::StepAwaitingApproval { step, branch, .. }
            | Event::StepAwaitingAttestation { step, branch, .. } => {
                let key = (step.clone(), *branch);
                self.forget(&key, ui);
                let name = self.name(step, *branch);
                let what = if matches!(event, Event::StepAwaitingApproval { .. }) {
                    "waits for your approval"
                } else {
                    "waits for a person (manual task)"
                };
                ui.event(at, &name, &format!("{} {what}", console::style("⏸").yellow()));
            }
            Event::Approved { step, branch, by, .. } => {
                let name = self.name(step, *branch);
                ui.event(at, &name, &format!("approved by {}", who(by)));
            }
            Event::Attested { step, branch, by, .. } => {
                let name = self.name(step, *branch);
                ui.event(at, &name, &format!("attested by {}", who(by)));
            }
            Event::Skipped { step, branch, by, reason } => {
                let name = self.name(step, *branch);
                ui.event(at, &name, &format!("skipped by {}: {reason}", who(by)));
            }
            _ => {}
        }
    }

    /// A wait's message for people: its first clause (`1 of 2 released`) without details in
    /// parentheses, resource IDs as their names; all of it with `--verbose`. A wait gets a new
    /// line when this text changes, not when a detail (a poll count) does.
    fn wait_text(&self, message: &str) -> String {
        wait_text(message, self.verbose)
    }

    fn forget(&mut self, key: &Key, ui: &Ui) {
        self.waits.remove(key);
        self.progress.remove(key);
        ui.finish_status(key);
    }

    /// Refreshes the live status lines (terminal) and gives plain reminders of long waits; `now`
    /// is the wall clock. Times waited come from the journal (when the wait's attempt started),
    /// so a resumed run shows the whole wait, not the part this process saw.
    pub fn tick(&mut self, ui: &Ui, now: OffsetDateTime) {
        let keys: Vec<Key> = self.waits.keys().chain(self.progress.keys()).cloned().collect();
        for key in keys {
            let Some(inst) = self.instance(&key.0, key.1) else { continue };
            let name = self.name(&key.0, key.1);
            if let Some(w) = self.waits.get_mut(&key) {
                let waited = inst.attempt_started.map(|s| now - s).unwrap_or(time::Duration::ZERO);
                let next = if w.next_check > now {
                    format!(
                        "next check {} (in {})",
                        local_time(w.next_check),
                        human(w.next_check - now)
                    )
                } else {
                    "checking now".to_string()
                };
                if ui.fancy {
                    let gist = local_times(&wait_text(&w.message, false), now);
                    ui.status(
                        &key,
                        &name,
                        &format!("waiting {} · {next} · {}", human(waited), short_text(&gist, 60)),
                    );
                } else if waited >= w.remind_at {
                    while w.remind_at <= waited {
                        w.remind_at *= 2;
                    }
                    ui.event(
                        now,
                        &name,
                        &format!("still waiting ({} so far, {next})", human(waited)),
                    );
                }
            } else if let Some((done, total, message)) = self.progress.get(&key) {
                let ran = inst.attempt_started.map(|s| now - s).unwrap_or(time::Duration::ZERO);
                ui.status(
                    &key,
                    &name,
                    &format!(
                        "{done}/{total} {} · running {}",
                        short_text(&local_times(&short_ids(message), now), 60),
                        human(ran)
                    ),
                );
            }
        }
    }
}

/// See [`Follower::wait_text`].
fn wait_text(message: &str, verbose: bool) -> String {
    let m = message.trim();
    if m.is_empty() {
        return "until the next check".to_string();
    }
    if verbose {
        return m.to_string();
    }
    let (first, more) = match m.split_once("; ") {
        Some((first, _)) => (first, true),
        None => (m, false),
    };
    let first = match first.rfind(" (") {
        Some(i) if first.ends_with(')') && i > 0 => &first[..i],
        _ => first,
    };
    let text = short_text(&short_ids(first), 120);
    if more {
        format!("{text}; …")
    } else {
        text
    }
}

/// Who answered: the OS user, and the Azure principal's name when the journal has it.
fn who(by: &Actor) -> String {
    match by.azure_principal_name.as_ref().or(by.azure_principal.as_ref()) {
        Some(p) => format!("{} ({p})", by.user),
        None => by.user.clone(),
    }
}

/// Words of `text` in lines of at most `width` characters.
fn textwrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for w in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + w.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `text` with every Azure resource ID in it (`/subscriptions/...`) as its last name.
fn short_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("/subscriptions/") {
        out.push_str(&rest[..i]);
        let id = &rest[i..];
        let end = id.find(|c: char| c.is_whitespace() || "`'\"),;".contains(c)).unwrap_or(id.len());
        out.push_str(id[..end].trim_end_matches('/').rsplit('/').next().unwrap_or_default());
        rest = &id[end..];
    }
    out.push_str(rest);
    out
}

/// A text on one line, cut at `max` characters.
fn short_text(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// One output for a person, never JSON: a resource ID as its last name, a long text cut, a list
/// as its items when short or its length, an object as its number of fields.
fn summarize_value(v: &Value) -> String {
    match v {
        Value::Null => "none".to_string(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s)
            if s.starts_with("/subscriptions/") && !s.contains(char::is_whitespace) =>
        {
            s.rsplit('/').next().unwrap_or(s).to_string()
        }
        Value::String(s) if s.contains('/') && !s.contains(char::is_whitespace) => {
            // A path: its file name.
            s.rsplit('/').next().unwrap_or(s).to_string()
        }
        Value::String(s) => short_text(s, 40),
        Value::Array(a) => {
            let simple: Vec<String> = a
                .iter()
                .filter(|x| matches!(x, Value::String(_) | Value::Number(_) | Value::Bool(_)))
                .map(summarize_value)
                .collect();
            let joined = simple.join(", ");
            match a.len() {
                0 => "none".to_string(),
                n if simple.len() == n && n <= 3 && joined.chars().count() <= 50 => joined,
                1 => "1 item".to_string(),
                n => format!("{n} items"),
            }
        }
        Value::Object(m) => format!("{} fields", m.len()),
    }
}

/// `key value` pairs for people, secrets shown as `(secret)`, the warnings left to their own
/// lines, long texts (descriptions, queries) left to `lifeboat status`; at most five, then how
/// many more.
fn summarize_outputs(outputs: &Map<String, Value>) -> String {
    const MAX: usize = 5;
    let long_text = |v: &Value| {
        v.as_str().is_some_and(|s| s.chars().count() > 40 && s.contains(char::is_whitespace))
    };
    let shown: Vec<(&String, &Value)> =
        outputs.iter().filter(|(k, _)| k.as_str() != crate::catalog::WARNINGS_OUTPUT).collect();
    let total = shown.len();
    let mut parts: Vec<String> = shown
        .into_iter()
        .filter(|(_, v)| !long_text(v))
        .take(MAX)
        .map(|(k, v)| {
            if journal::is_redacted(v) {
                format!("{k} (secret)")
            } else {
                format!("{k} {}", summarize_value(v))
            }
        })
        .collect();
    if total > parts.len() {
        parts.push(format!("{} more in `lifeboat status`", total - parts.len()));
    }
    parts.join(", ")
}

/// The person answering: the OS user, and the Azure principal when the run has an Azure client
/// whose token names one (identified by `run`/`resume` before guided mode starts).
fn actor(services: &Services) -> Actor {
    super::identity::known(services.get::<ArmClient>().as_deref())
}

enum Answer {
    Decided,
    Pause,
}

/// How guided mode shows a run.
#[derive(Clone)]
pub struct GuidedOptions {
    /// Step descriptions (once per step), whole wait messages, progress lines without a terminal.
    pub verbose: bool,
    /// Ctrl-C, watched since the first question.
    pub interrupt: Interrupt,
    /// Told of every journaled batch (the webhooks of `--notify`).
    pub observer: Option<Arc<dyn runner::RunObserver>>,
    /// The driver whose lease `resume --take-over` broke, for the `resumed` event.
    pub took_over_from: Option<String>,
    /// The run's inbox on an az:// run store (`None`: `<run dir>/inbox/`).
    pub inbox: Option<Arc<dyn crate::engine::inbox::Inbox>>,
}

/// Drives a run in guided mode until it ends or the person pauses it. `services` are the run's
/// services (Azure client, ...); the prompter is added here.
pub async fn drive_guided(
    dir: &Path,
    run_id: &str,
    registry: &Registry,
    services: Services,
    secret_params: Map<String, Value>,
    opts: GuidedOptions,
) -> anyhow::Result<Exit> {
    let _modes = TerminalModes::save();
    let ui = Arc::new(Ui::new(fancy_output()));
    let (catch_up, mut catch_up_requests) = tokio::sync::mpsc::unbounded_channel();
    let mut services = services;
    let prompter = TermPrompter { ui: ui.clone(), catch_up, asking: Default::default() };
    services.insert(Arc::new(PrompterHandle(Arc::new(prompter))));
    let services = Arc::new(services);
    // SIGINT never kills the process while the journal is being written: it becomes a clean
    // pause.
    let mut interrupted = opts.interrupt.clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let options = RunOptions {
        actor: actor(&services),
        secret_params,
        observer: opts.observer.clone(),
        took_over_from: opts.took_over_from.clone(),
        inbox: opts.inbox.clone(),
        ..RunOptions::default()
    };
    intro(dir, registry, run_id, &ui, opts.verbose);
    let mut described: HashSet<String> = HashSet::new();
    loop {
        let mut follower = Follower::new(dir, registry, opts.verbose).map_err(UserError::from)?;
        // Boxed so it can be dropped (stopping the run) before the pause is reported.
        let mut drive =
            Box::pin(runner::drive(dir, registry, services.clone(), clock.clone(), &options));
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut last_status = std::time::Instant::now();
        let outcome = loop {
            tokio::select! {
                out = &mut drive => break Some(out),
                _ = tick.tick() => {
                    follower.poll(&ui);
                    if last_status.elapsed() >= Duration::from_secs(1) {
                        last_status = std::time::Instant::now();
                        follower.tick(&ui, SystemClock.now());
                    }
                }
                Some(done) = catch_up_requests.recv() => {
                    follower.poll(&ui);
                    let _ = done.send(());
                }
                _ = interrupted.wait() => break None,
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
        let now = SystemClock.now();
        match &outcome {
            RunOutcome::Paused { blockers } => {
                for b in blockers.iter().filter(|b| b.phase != Phase::Failed) {
                    let asked = Ask { dir, registry, services: &services, verbose: opts.verbose };
                    match asked.ask(b, &mut described, &mut interrupted).await? {
                        Answer::Decided => {}
                        Answer::Pause => return Ok(paused(run_id, &ui, "paused")),
                    }
                }
            }
            RunOutcome::Succeeded => {
                ui.event(
                    now,
                    &format!("run {run_id}"),
                    &format!("{} succeeded", console::style("✓").green().bold()),
                );
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

fn intro(dir: &Path, registry: &Registry, run_id: &str, ui: &Ui, verbose: bool) {
    let Ok(r) = runner::load(dir, registry) else { return };
    let rb = &r.engine.plan().runbook;
    let snap = r.engine.snapshot();
    let done =
        snap.iter().filter(|v| v.instance.as_ref().is_some_and(|i| i.state.is_terminal())).count();
    ui.line(format!(
        "{} run {run_id} of runbook {}: {} steps, {done} done",
        console::style("lifeboat").bold(),
        rb.name,
        snap.len()
    ));
    if verbose {
        if let Some(d) = &rb.description {
            for l in textwrap(d, 92) {
                ui.line(format!("  {l}"));
            }
        }
    }
    ui.line(format!(
        "  Ctrl-C pauses cleanly (continue with `lifeboat resume {run_id} --guided`); `lifeboat status {run_id}` from another terminal shows every step{}",
        if verbose { "" } else { "; --verbose says what each step does" }
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
async fn read_answer(question: &str, interrupted: &mut Interrupt) -> Option<String> {
    use std::io::Write;
    print!("{}", redact::scrub_output(question));
    let _ = std::io::stdout().flush();
    tokio::select! {
        line = read_line_async() => line.ok().flatten(),
        _ = interrupted.wait() => { println!(); None }
    }
}

/// Asks until a non-empty text is given; `None` to pause.
async fn read_text(question: &str, interrupted: &mut Interrupt) -> Option<String> {
    loop {
        let text = read_answer(question, interrupted).await?;
        if !text.trim().is_empty() {
            return Some(text.trim().to_string());
        }
        println!("  (an empty answer cannot go into the audit record: type some text)");
    }
}

/// One question to a person about a blocked step instance.
struct Ask<'a> {
    dir: &'a Path,
    registry: &'a Registry,
    services: &'a Services,
    verbose: bool,
}

impl Ask<'_> {
    /// What the step does: its description and the item of its branch.
    fn details(&self, def: Option<&crate::runbook::StepDef>, item: Option<&Value>) {
        if let Some(d) = def {
            let kind = crate::catalog::lookup(&d.uses).map(|k| k.description.to_string());
            if let Some(why) = d.description.clone().or(kind) {
                for l in textwrap(&why, 92) {
                    say!("  {l}");
                }
            }
        }
        if let Some(item) = item {
            say!("  for: {}", summarize_value(item));
        }
    }

    async fn ask(
        &self,
        b: &Blocker,
        described: &mut HashSet<String>,
        interrupted: &mut Interrupt,
    ) -> anyhow::Result<Answer> {
        let (dir, registry) = (self.dir, self.registry);
        let r = runner::load(dir, registry).map_err(UserError::from)?;
        let view =
            r.engine.snapshot().into_iter().find(|v| v.step == b.step && v.branch == b.branch);
        let name = view.as_ref().map(|v| v.name()).unwrap_or_else(|| b.name());
        let item = view.and_then(|v| v.instance).and_then(|i| i.item);
        let def = r.engine.plan().runbook.step(&b.step).cloned();
        say!();
        let what = match (b.phase, b.interrupted) {
            (Phase::AwaitingApproval, _) => "gate: your approval is needed",
            (_, false) => "manual task: a person must do this",
            (_, true) => "interrupted one-shot step: it must never run twice",
        };
        say!("{} {} — {what}", console::style("?").bold(), console::style(&name).bold());
        if self.verbose && described.insert(b.step.clone()) {
            self.details(def.as_ref(), None);
        }
        if let Some(m) = &b.message {
            for l in m.trim().lines() {
                say!("  {l}");
            }
        }
        let (choices, allowed): (&str, &[&str]) = match (b.phase, b.interrupted) {
            (Phase::AwaitingApproval, _) => (
                "[a]pprove, [s]kip with reason, [d]etails, [p]ause and come back later",
                &["a", "s", "d", "p"],
            ),
            (_, false) => (
                "[t] attest with evidence, [s]kip with reason, [d]etails, [p]ause and come back later",
                &["t", "s", "d", "p"],
            ),
            (_, true) => (
                "[t] attest it took effect (with evidence), [s]kip with reason (it did not), [d]etails, [p]ause",
                &["t", "s", "d", "p"],
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
            let by = actor(self.services);
            let (event, done) = match choice.as_str() {
                "p" => return Ok(Answer::Pause),
                "d" => {
                    self.details(def.as_ref(), item.as_ref());
                    continue;
                }
                "a" => {
                    let Some(c) =
                        read_answer("  comment for the audit record (optional): ", interrupted)
                            .await
                    else {
                        return Ok(Answer::Pause);
                    };
                    let comment = Some(c.trim().to_string()).filter(|c| !c.is_empty());
                    (Event::Approved { step, branch, by, comment }, "approved")
                }
                "t" => {
                    let Some(evidence) = read_text(
                        "  evidence (what was done, e.g. a ticket number): ",
                        interrupted,
                    )
                    .await
                    else {
                        return Ok(Answer::Pause);
                    };
                    (Event::Attested { step, branch, by, evidence }, "attested")
                }
                _ => {
                    let Some(reason) = read_text("  reason for skipping: ", interrupted).await
                    else {
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
                    // E.g. someone else answered from another terminal meanwhile: say so, ask
                    // again.
                    let e = UserError::from(e);
                    say!("  {} {e}", console::style("✗").red());
                    if let Ok(r) = runner::load(dir, registry) {
                        if !r
                            .engine
                            .blockers()
                            .iter()
                            .any(|x| x.step == b.step && x.branch == b.branch)
                        {
                            return Ok(Answer::Decided);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outputs_summary_hides_secrets_and_shows_no_json() {
        let mut m = Map::new();
        m.insert("ticket".into(), json!("T-1"));
        m.insert(
            "new_resource_id".into(),
            json!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/securityConnectors/ado-weu-northeurope"),
        );
        m.insert("code".into(), journal::redact(&json!("s3cret-value")));
        m.insert("description".into(), json!("A long text for people, with words and more words."));
        m.insert("orgs".into(), json!(["contoso", "fabrikam"]));
        m.insert("connectors".into(), json!([{"name": "a"}, {"name": "b"}]));
        m.insert("long".into(), json!("x".repeat(200)));
        m.insert("scope".into(), json!({"a": 1}));
        let s = summarize_outputs(&m);
        assert_eq!(
            s,
            "ticket T-1, new_resource_id ado-weu-northeurope, code (secret), orgs contoso, fabrikam, connectors 2 items, 3 more in `lifeboat status`"
        );
        assert!(!s.contains("s3cret"), "{s}");
        assert!(!s.contains("A long text"), "{s}");
        assert!(!s.contains(['{', '[', '"']), "no JSON: {s}");
    }

    #[test]
    fn wait_messages_keep_their_gist_and_change_only_with_it() {
        let f = |v| move |m: &str| wait_text(m, v);
        let id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/securityConnectors/ado-weu";
        let poll = |n: u32| {
            format!("the region of `{id}` does not answer yet (poll {n}: 503 ServiceUnavailable)")
        };
        assert_eq!(f(false)(&poll(1)), "the region of `ado-weu` does not answer yet");
        assert_eq!(f(false)(&poll(1)), f(false)(&poll(2)));
        assert_eq!(f(true)(&poll(2)), poll(2));
        assert_eq!(
            f(false)("0 of 2 released; still held: Azure DevOps org `contoso` (owned by x)"),
            "0 of 2 released; …"
        );
    }

    #[test]
    fn durations_read_like_a_person_says_them() {
        assert_eq!(human(time::Duration::ZERO), "0s");
        assert_eq!(human(time::Duration::seconds(45)), "45s");
        assert_eq!(human(time::Duration::seconds(2 * 3600 + 13 * 60 + 5)), "2h 13m");
        assert_eq!(human(time::Duration::seconds(3 * 86_400 + 60)), "3d");
        assert_eq!(human(time::Duration::seconds(3600 + 7)), "1h");
        assert_eq!(human(time::Duration::seconds(-5)), "0s");
    }

    #[test]
    fn times_in_messages_are_shown_to_the_second() {
        let now = time::macros::datetime!(2026-03-04 05:06:07.123456789 UTC);
        let stamp = now.format(&time::format_description::well_known::Rfc3339).unwrap();
        let text = format!("until {stamp}; held (since `{stamp}`), 2026-13-01T00:00:00Z stays");
        let shown = local_times(&text, now);
        let hms = local_time(now);
        assert_eq!(shown, format!("until {hms}; held (since `{hms}`), 2026-13-01T00:00:00Z stays"));
        let old = now - time::Duration::days(3);
        let shown =
            local_times(&old.format(&time::format_description::well_known::Rfc3339).unwrap(), now);
        assert!(shown.len() == 19 && shown.ends_with(&local_time(old)), "{shown}");
    }

    #[test]
    fn local_time_is_to_the_second() {
        let t = time::macros::datetime!(2025-01-02 03:04:05.123456789 UTC);
        let s = local_time(t);
        assert_eq!(s.len(), 8, "{s}");
        assert!(s.ends_with(":04:05") || s.ends_with(":34:05") || s.ends_with(":49:05"), "{s}");
    }
}
