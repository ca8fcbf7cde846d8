//! Delivery: one background task per webhook, so a slow or dead receiver delays nobody else,
//! and the run never waits for any of them.
//!
//! - **Queue**: bounded ([`Settings::queue`], 64 by default) per webhook; when it is full the
//!   oldest waiting message is dropped (counted, and reported at the end): the newest state of
//!   a run matters more than an old one.
//! - **Attempts**: each request has the per-request timeout ([`Settings::timeout`],
//!   `--notify-timeout`, 5 s by default); a timeout, a lost connection, 408, 429 and 5xx are
//!   retried, up to [`ATTEMPTS`] attempts in all, after `Retry-After` when the receiver sends
//!   one (Slack does on 429; at most [`MAX_RETRY_AFTER`]) or else an exponential backoff with
//!   jitter (1 s, 2 s, ... at most 30 s, each drawn between half and all of it), as Slack's and
//!   Microsoft's rate-limit guidance asks. Other answers (400, 403, 404, a redirect, which is
//!   never followed) are not retried. A Teams connector that answers 200 with
//!   `Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error
//!   NNN` in its body (MicrosoftDocs/msteams-docs issues 1810 and 7425) failed with NNN.
//! - **The end**: [`Sender::finish`] closes the queues and waits at most the timeout for what
//!   is left; what is still undelivered then is counted as failed. Nothing here ever fails the
//!   command: a failure is a warning on stderr (tracing, `warn`) and a line of the summary.

use super::payload::{render, Message};
use super::target::{Shape, Target};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Attempts per message and webhook.
pub const ATTEMPTS: u32 = 3;
/// Messages waiting per webhook before the oldest is dropped.
pub const QUEUE: usize = 64;
/// The per-request timeout without `--notify-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first backoff, doubled per retry up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest `Retry-After` honoured (a longer one is waited this long).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How much of an answer's body is read (a Teams connector's error, a 4xx's reason).
const MAX_BODY: usize = 4096;

/// Where and how to deliver.
#[derive(Debug, Clone)]
pub struct Settings {
    pub targets: Vec<Target>,
    /// Per request, and the most [`Sender::finish`] waits.
    pub timeout: Duration,
    /// Messages waiting per webhook.
    pub queue: usize,
}

impl Settings {
    pub fn new(targets: Vec<Target>, timeout: Duration) -> Self {
        Settings { targets, timeout, queue: QUEUE }
    }
}

/// What one webhook received, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetReport {
    /// The redacted URL.
    pub shown: String,
    pub sent: u64,
    pub failed: u64,
    pub dropped: u64,
    /// Why the last failed message failed (`HTTP 500 after 3 attempts`).
    pub last_failure: Option<String>,
}

/// Every webhook's counts, and the line `run`/`resume`/`drill` print at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub targets: Vec<TargetReport>,
}

impl Summary {
    pub fn sent(&self) -> u64 {
        self.targets.iter().map(|t| t.sent).sum()
    }
    pub fn failed(&self) -> u64 {
        self.targets.iter().map(|t| t.failed).sum()
    }
    pub fn dropped(&self) -> u64 {
        self.targets.iter().map(|t| t.dropped).sum()
    }
}

impl std::fmt::Display for Summary {
    /// `notifications: 3 sent, 1 failed (https://hooks.slack.com/…abcd: HTTP 500 after 3
    /// attempts)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "notifications: {} sent", self.sent())?;
        if self.failed() > 0 {
            write!(f, ", {} failed", self.failed())?;
        }
        if self.dropped() > 0 {
            write!(f, ", {} dropped (queue full)", self.dropped())?;
        }
        let problems: Vec<String> = self
            .targets
            .iter()
            .filter(|t| t.failed > 0)
            .map(|t| {
                let why = t.last_failure.as_deref().unwrap_or("failed");
                if t.failed == 1 {
                    format!("{}: {why}", t.shown)
                } else {
                    format!("{}: {} messages, last: {why}", t.shown, t.failed)
                }
            })
            .collect();
        if !problems.is_empty() {
            write!(f, " ({})", problems.join("; "))?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct LaneState {
    queue: VecDeque<Arc<Message>>,
    closed: bool,
    in_flight: bool,
    report: TargetReport,
}

/// One webhook: its queue, its client, its counts.
struct Lane {
    target: Target,
    client: Result<reqwest::Client, String>,
    state: Mutex<LaneState>,
    wake: Notify,
}

impl Lane {
    fn state(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The background delivery of one command.
pub struct Sender {
    lanes: Vec<Arc<Lane>>,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    timeout: Duration,
    queue: usize,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<&str> = self.lanes.iter().map(|l| l.target.shown()).collect();
        f.debug_struct("Sender").field("targets", &shown).field("timeout", &self.timeout).finish()
    }
}

impl Sender {
    /// Starts one task per webhook. Must be called within a tokio runtime.
    pub fn start(settings: Settings) -> Sender {
        let mut lanes = Vec::new();
        let mut workers = Vec::new();
        for target in settings.targets {
            let client = crate::azure::http::client_builder(target.url())
                .build()
                .map_err(|e| format!("cannot build an HTTP client ({e})"));
            let report = TargetReport { shown: target.shown().to_string(), ..Default::default() };
            let lane = Arc::new(Lane {
                target,
                client,
                state: Mutex::new(LaneState { report, ..Default::default() }),
                wake: Notify::new(),
            });
            workers.push(tokio::spawn(work(lane.clone(), settings.timeout)));
            lanes.push(lane);
        }
        Sender {
            lanes,
            workers: Mutex::new(workers),
            timeout: settings.timeout,
            queue: settings.queue.max(1),
        }
    }

    /// Queues a message for every webhook; never waits. A full queue drops its oldest message.
    pub fn push(&self, message: Message) {
        let message = Arc::new(message);
        for lane in &self.lanes {
            let mut s = lane.state();
            if s.closed {
                continue;
            }
            if s.queue.len() >= self.queue {
                s.queue.pop_front();
                s.report.dropped += 1;
            }
            s.queue.push_back(message.clone());
            drop(s);
            lane.wake.notify_one();
        }
    }

    /// The per-request timeout, which is also how long [`Sender::finish`] waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Stops taking messages, waits at most the timeout for the queues to drain, stops the
    /// tasks, and returns the counts (what was still queued or in flight counts as failed).
    pub async fn finish(&self) -> Summary {
        for lane in &self.lanes {
            lane.state().closed = true;
            lane.wake.notify_one();
        }
        let handles: Vec<_> =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        let aborts: Vec<_> = handles.iter().map(|h| h.abort_handle()).collect();
        if tokio::time::timeout(self.timeout, futures::future::join_all(handles)).await.is_err() {
            for a in aborts {
                a.abort();
            }
        }
        let waited = humantime::format_duration(self.timeout);
        let mut summary = Summary::default();
        for lane in &self.lanes {
            let mut s = lane.state();
            let pending = s.queue.len() as u64 + u64::from(s.in_flight);
            if pending > 0 {
                s.queue.clear();
                s.in_flight = false;
                s.report.failed += pending;
                let why = format!(
                    "{pending} not delivered within the {waited} lifeboat waits at the end (--notify-timeout)"
                );
                tracing::warn!("notification to {} not delivered: {why}", lane.target.shown());
                s.report.last_failure = Some(why);
            }
            summary.targets.push(s.report.clone());
        }
        summary
    }
}

/// One webhook's task: takes messages in order and delivers each, until the queue is closed and
/// empty.
async fn work(lane: Arc<Lane>, timeout: Duration) {
    loop {
        // `notify_one` keeps a permit when nobody waits: no wake-up is lost between the look at
        // the queue and the wait.
        let woken = lane.wake.notified();
        let next = {
            let mut s = lane.state();
            match s.queue.pop_front() {
                Some(m) => {
                    s.in_flight = true;
                    Some(Some(m))
                }
                None if s.closed => Some(None),
                None => None,
            }
        };
        let next = match next {
            Some(n) => n,
            None => {
                woken.await;
                continue;
            }
        };
        let Some(message) = next else { return };
        let result = deliver(&lane, &message, timeout).await;
        let mut s = lane.state();
        s.in_flight = false;
        match result {
            Ok(()) => s.report.sent += 1,
            Err(why) => {
                tracing::warn!("notification to {} not delivered: {why}", lane.target.shown());
                s.report.failed += 1;
                s.report.last_failure = Some(why);
            }
        }
    }
}

/// How one attempt went.
#[derive(Debug, PartialEq)]
enum Attempt {
    Delivered,
    /// Worth another attempt, after `after` when the receiver said so.
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// Another attempt would get the same answer.
    GiveUp(String),
}

/// Delivers one message with its retries; `Err` says why it was not delivered.
async fn deliver(lane: &Lane, message: &Message, timeout: Duration) -> Result<(), String> {
    let client = lane.client.as_ref().map_err(Clone::clone)?;
    let shape = lane.target.shape();
    let body = serde_json::to_vec(&render(shape, message))
        .map_err(|e| format!("cannot serialise the message ({e})"))?;
    for attempt in 1..=ATTEMPTS {
        match attempt_once(client, &lane.target, shape, body.clone(), timeout).await {
            Attempt::Delivered => return Ok(()),
            Attempt::GiveUp(why) => return Err(format!("{why} (not retried)")),
            Attempt::Retry { why, .. } if attempt == ATTEMPTS => {
                return Err(format!("{why} after {ATTEMPTS} attempts"))
            }
            Attempt::Retry { after, .. } => {
                let delay = match after {
                    Some(a) => a.min(MAX_RETRY_AFTER),
                    None => backoff(attempt),
                };
                tokio::time::sleep(delay).await;
            }
        }
    }
    Err("no attempt was made".into())
}

/// The delay after failed attempt `attempt` (1-based): 1 s doubled per attempt, at most 30 s,
/// drawn between half and all of it (jitter, so two lifeboats do not retry in step).
pub fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let exp = FIRST_BACKOFF.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let d = exp.min(MAX_BACKOFF);
    rand::rng().random_range(d / 2..=d)
}

async fn attempt_once(
    client: &reqwest::Client,
    target: &Target,
    shape: Shape,
    body: Vec<u8>,
    timeout: Duration,
) -> Attempt {
    let sent = client
        .post(target.url().clone())
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
        .body(body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return Attempt::Retry { why: transport_error(&e, timeout), after: None },
    };
    let status = resp.status();
    let code = status.as_u16();
    if status.is_success() {
        if shape != Shape::TeamsConnector {
            return Attempt::Delivered;
        }
        let text = read_capped(resp).await;
        return match teams_wrapped_error(&text) {
            None => Attempt::Delivered,
            Some(inner) => {
                let why = format!("HTTP {inner} (the Teams connector answered 200 with it)");
                if retryable(inner) {
                    Attempt::Retry { why, after: None }
                } else {
                    Attempt::GiveUp(why)
                }
            }
        };
    }
    if status.is_redirection() {
        return Attempt::GiveUp(format!("HTTP {code} (redirects are not followed)"));
    }
    if retryable(code) {
        let after = crate::azure::pipeline::retry_after(resp.headers());
        let why = match after {
            Some(a) => format!("HTTP {code} (Retry-After {})", humantime::format_duration(a)),
            None => format!("HTTP {code}"),
        };
        return Attempt::Retry { why, after };
    }
    let text = read_capped(resp).await;
    let reason = super::payload::clean(text.lines().next().unwrap_or_default());
    let reason: String = reason.chars().take(80).collect();
    if reason.is_empty() {
        Attempt::GiveUp(format!("HTTP {code}"))
    } else {
        Attempt::GiveUp(format!("HTTP {code}: {reason}"))
    }
}

fn retryable(code: u16) -> bool {
    code == 408 || code == 429 || (500..=599).contains(&code)
}

/// The first [`MAX_BODY`] bytes of an answer, as text (never more: a receiver may send
/// anything).
async fn read_capped(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < MAX_BODY {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c[..c.len().min(MAX_BODY - buf.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The status a Teams connector wrapped into a 200 answer: `Webhook message delivery failed
/// with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId ...`.
pub fn teams_wrapped_error(body: &str) -> Option<u16> {
    if !body.contains("Webhook message delivery failed") {
        return None;
    }
    let after = body.split("HTTP error ").nth(1)?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    // A failure without a number is still a failure: as a server error, retried.
    Some(digits.parse().unwrap_or(500))
}

/// A failed request in words, without its URL (reqwest's `Display` names it).
fn transport_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}", humantime::format_duration(timeout));
    }
    let what = if e.is_connect() { "cannot connect" } else { "the connection failed" };
    // The innermost cause (`Connection refused (os error 111)`) carries no URL; the error's
    // own text does.
    let mut inner: Option<&dyn std::error::Error> = None;
    let mut next = std::error::Error::source(e);
    while let Some(c) = next {
        inner = Some(c);
        next = c.source();
    }
    match inner.map(|c| crate::redact::scrub_output(&c.to_string())) {
        Some(detail) if !detail.trim().is_empty() => format!("{what} ({})", detail.trim()),
        _ => what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::payload::{Kind, Tone};
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn message(n: usize) -> Message {
        Message::new(Kind::RunEnded, Tone::Neutral, "r", "rb", time::OffsetDateTime::UNIX_EPOCH)
            .title(&format!("message {n}"))
    }

    /// A receiver on 127.0.0.1 answering every request with `answer(n)` (n counts from 0),
    /// recording the bodies.
    async fn receiver<F>(
        answer: F,
    ) -> (String, Arc<Mutex<Vec<serde_json::Value>>>, Arc<AtomicUsize>)
    where
        F: Fn(usize) -> (StatusCode, HeaderMap, String) + Clone + Send + Sync + 'static,
    {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let (b, c) = (bodies.clone(), count.clone());
        let app = axum::Router::new().fallback(move |body: String| {
            let (b, c, answer) = (b.clone(), c.clone(), answer.clone());
            async move {
                let n = c.fetch_add(1, Ordering::SeqCst);
                b.lock().unwrap().push(serde_json::from_str(&body).unwrap_or_default());
                answer(n).into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook/sender-test-token", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, bodies, count)
    }

    fn ok() -> (StatusCode, HeaderMap, String) {
        (StatusCode::OK, HeaderMap::new(), "ok".into())
    }

    #[tokio::test]
    async fn messages_arrive_in_order_and_are_counted() {
        let (url, bodies, _) = receiver(|_| ok()).await;
        let s = Sender::start(Settings::new(vec![Target::parse(&url).unwrap()], DEFAULT_TIMEOUT));
        for n in 0..3 {
            s.push(message(n));
        }
        let sum = s.finish().await;
        assert_eq!((sum.sent(), sum.failed(), sum.dropped()), (3, 0, 0), "{sum}");
        let titles: Vec<String> =
            bodies.lock().unwrap().iter().map(|b| b["title"].to_string()).collect();
        assert_eq!(
            titles,
            ["\"lifeboat: message 0\"", "\"lifeboat: message 1\"", "\"lifeboat: message 2\""]
        );
        assert_eq!(sum.to_string(), "notifications: 3 sent");
    }

    #[tokio::test]
    async fn a_500_is_retried_up_to_the_budget_and_reported_without_the_url() {
        let (url, _, count) =
            receiver(|_| (StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new(), "boom".into()))
                .await;
        let s = Sender::start(Settings::new(vec![Target::parse(&url).unwrap()], DEFAULT_TIMEOUT));
        s.push(message(0));
        let sum = s.finish().await;
        assert_eq!(count.load(Ordering::SeqCst), ATTEMPTS as usize);
        let line = sum.to_string();
        assert!(line.starts_with("notifications: 0 sent, 1 failed (http://127.0.0.1:"), "{line}");
        assert!(line.ends_with("/…oken: HTTP 500 after 3 attempts)"), "{line}");
        assert!(!line.contains("sender-test-token"), "{line}");
    }

    #[tokio::test]
    async fn a_429_is_retried_after_its_retry_after_and_a_404_is_not_retried() {
        let (url, bodies, count) = receiver(|n| {
            let mut h = HeaderMap::new();
            if n == 0 {
                h.insert("retry-after", "0".parse().unwrap());
                (StatusCode::TOO_MANY_REQUESTS, h, "rate_limited".into())
            } else {
                ok()
            }
        })
        .await;
        let s = Sender::start(Settings::new(vec![Target::parse(&url).unwrap()], DEFAULT_TIMEOUT));
        s.push(message(0));
        let sum = s.finish().await;
        assert_eq!((sum.sent(), count.load(Ordering::SeqCst)), (1, 2), "{sum}");
        assert_eq!(bodies.lock().unwrap().len(), 2);

        let (url, _, count) =
            receiver(|_| (StatusCode::NOT_FOUND, HeaderMap::new(), "no_service\n".into())).await;
        let s = Sender::start(Settings::new(vec![Target::parse(&url).unwrap()], DEFAULT_TIMEOUT));
        s.push(message(0));
        let sum = s.finish().await;
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(sum.to_string().ends_with(": HTTP 404: no_service (not retried))"), "{sum}");
    }

    #[tokio::test]
    async fn a_teams_connector_failure_inside_a_200_is_a_failure() {
        assert_eq!(teams_wrapped_error("1"), None);
        assert_eq!(
            teams_wrapped_error("Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0"),
            Some(429)
        );
        let (url, _, count) = receiver(|_| {
            (StatusCode::OK, HeaderMap::new(), "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId x".into())
        })
        .await;
        let t = Target::parse(&format!("messagecard+{url}")).unwrap();
        let s = Sender::start(Settings::new(vec![t], DEFAULT_TIMEOUT));
        s.push(message(0));
        let sum = s.finish().await;
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(
            sum.to_string()
                .contains("HTTP 413 (the Teams connector answered 200 with it) (not retried)"),
            "{sum}"
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_its_oldest_message() {
        // A receiver that never answers holds the first message in flight.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hang", listener.local_addr().unwrap());
        let held = Arc::new(Mutex::new(Vec::new()));
        let h = held.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                h.lock().unwrap().push(sock);
            }
        });
        let mut settings =
            Settings::new(vec![Target::parse(&url).unwrap()], Duration::from_millis(300));
        settings.queue = 2;
        let s = Sender::start(settings);
        for n in 0..6 {
            s.push(message(n));
        }
        let sum = s.finish().await;
        let t = &sum.targets[0];
        assert_eq!(t.sent, 0);
        // At most one message left the queue before it filled; the others beyond 2 dropped.
        assert!(t.dropped >= 3, "{sum}");
        assert_eq!(t.sent + t.failed + t.dropped, 6, "{sum}");
        assert!(sum.to_string().contains("dropped (queue full)"), "{sum}");
    }

    #[test]
    fn the_backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..=8u32 {
            let d = backoff(attempt);
            let full = FIRST_BACKOFF.saturating_mul(1 << (attempt - 1)).min(MAX_BACKOFF);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }
}
