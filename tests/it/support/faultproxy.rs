//! A fault-injecting TCP proxy for HTTP/1.1 (issue 17: faults between lifeboat and Azurite).
//!
//! [`FaultProxy::start`] listens on `127.0.0.1:0` and forwards every connection to a target.
//! It reads each request of a connection (head and `Content-Length` or chunked body), and for a
//! seeded share of the requests ([`Faults::rate`], 5% by default) does one of:
//! - [`Fault::DropBefore`]: closes the client's connection without forwarding the request (the
//!   service never saw it);
//! - [`Fault::DropAfter`]: forwards the request, waits for the service's whole answer, and closes
//!   the client's connection without relaying it: the request took effect, the client cannot
//!   know (the case that makes a write's outcome unknown);
//! - [`Fault::Delay`]: holds the request for a seeded 0.5–2 s, then forwards it.
//!
//! Every other request is forwarded and its answer relayed as is. The decisions come from one
//! seeded generator in the order requests arrive, and [`FaultProxy::counts`] says what was done,
//! so a test asserts that faults happened (never how long anything took).

use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    DropBefore,
    DropAfter,
    Delay,
}

/// What the proxy injects.
#[derive(Debug, Clone)]
pub struct Faults {
    pub seed: u64,
    /// Share of requests that get a fault (0.0–1.0).
    pub rate: f64,
    /// The kinds drawn from, uniformly.
    pub kinds: Vec<Fault>,
    /// A delay is drawn from this range.
    pub delay: (Duration, Duration),
}

impl Faults {
    /// 5% of requests, all three kinds, delays of 0.5–2 s.
    pub fn five_percent(seed: u64) -> Faults {
        Faults {
            seed,
            rate: 0.05,
            kinds: vec![Fault::DropBefore, Fault::DropAfter, Fault::Delay],
            delay: (Duration::from_millis(500), Duration::from_millis(2000)),
        }
    }
}

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub connections: u64,
    pub requests: u64,
    pub forwarded: u64,
    pub dropped_before: u64,
    pub dropped_after: u64,
    pub delayed: u64,
}

impl Counts {
    pub fn faults(&self) -> u64 {
        self.dropped_before + self.dropped_after + self.delayed
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    forwarded: AtomicU64,
    dropped_before: AtomicU64,
    dropped_after: AtomicU64,
    delayed: AtomicU64,
}

struct Shared {
    target: SocketAddr,
    faults: Faults,
    rng: Mutex<rand::rngs::StdRng>,
    counters: Counters,
}

impl Shared {
    /// The fault of the next request (`None`: forward it), and a delay's length.
    fn decide(&self) -> (Option<Fault>, Duration) {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        if self.faults.kinds.is_empty() || rng.random::<f64>() >= self.faults.rate {
            return (None, Duration::ZERO);
        }
        let kind = self.faults.kinds[rng.random_range(0..self.faults.kinds.len())];
        let (lo, hi) = self.faults.delay;
        let delay = if hi > lo { lo + (hi - lo).mul_f64(rng.random::<f64>()) } else { lo };
        (Some(kind), delay)
    }
}

/// A running proxy; stopped when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1:0 and forwards to `target` with `faults`.
    pub async fn start(target: SocketAddr, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            target,
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(faults.seed)),
            faults,
            counters: Counters::default(),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                s.counters.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(client, s.clone()));
            }
        });
        FaultProxy { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` (an `http://host:port/...` of the target) rewritten to go through the proxy.
    pub fn url(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).expect("target URL");
        u.set_host(Some("127.0.0.1")).expect("host");
        u.set_port(Some(self.addr.port())).expect("port");
        let s = u.to_string();
        if url.ends_with('/') {
            s
        } else {
            s.trim_end_matches('/').to_string()
        }
    }

    pub fn counts(&self) -> Counts {
        let c = &self.shared.counters;
        let l = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Counts {
            connections: l(&c.connections),
            requests: l(&c.requests),
            forwarded: l(&c.forwarded),
            dropped_before: l(&c.dropped_before),
            dropped_after: l(&c.dropped_after),
            delayed: l(&c.delayed),
        }
    }
}

/// One HTTP message's bytes as read (head and body), and whether the connection closes after.
struct Message {
    bytes: Vec<u8>,
    /// The request's method (requests only), for the answer's framing.
    method: String,
}

/// Reads one HTTP/1.1 message (a request, or an answer to `request_method`): `None` at a clean
/// end of stream or on anything it cannot frame.
async fn read_message<R: tokio::io::AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    request_method: Option<&str>,
) -> Option<Message> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).await.ok()?;
        if n == 0 {
            return None;
        }
        let end = line == b"\r\n" || line == b"\n";
        head.extend_from_slice(&line);
        if end && head.len() > n {
            break;
        }
        if end {
            // A stray empty line before a message: skip it.
            head.clear();
        }
        if head.len() > 1 << 20 {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default().to_string();
    let header = |name: &str| {
        text.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let method = first.split(' ').next().unwrap_or_default().to_string();
    let mut bytes = head;
    let no_body = match request_method {
        Some(m) => {
            let status: u16 = first.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            m.eq_ignore_ascii_case("HEAD") || status < 200 || status == 204 || status == 304
        }
        None => false,
    };
    if !no_body {
        let chunked =
            header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            loop {
                let mut size_line = Vec::new();
                if r.read_until(b'\n', &mut size_line).await.ok()? == 0 {
                    return None;
                }
                bytes.extend_from_slice(&size_line);
                let s = String::from_utf8_lossy(&size_line);
                let size =
                    usize::from_str_radix(s.trim().split(';').next().unwrap_or("0"), 16).ok()?;
                if size == 0 {
                    // Trailers up to the empty line.
                    loop {
                        let mut t = Vec::new();
                        if r.read_until(b'\n', &mut t).await.ok()? == 0 {
                            return None;
                        }
                        bytes.extend_from_slice(&t);
                        if t == b"\r\n" || t == b"\n" {
                            break;
                        }
                    }
                    break;
                }
                let mut chunk = vec![0u8; size + 2];
                r.read_exact(&mut chunk).await.ok()?;
                bytes.extend_from_slice(&chunk);
            }
        } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).await.ok()?;
            bytes.extend_from_slice(&body);
        } else if request_method.is_some() {
            // An answer without length: until the service closes.
            r.read_to_end(&mut bytes).await.ok()?;
        }
    }
    Some(Message { bytes, method })
}

async fn serve(client: TcpStream, s: Arc<Shared>) {
    let Ok(upstream) = TcpStream::connect(s.target).await else { return };
    let (cr, mut cw) = client.into_split();
    let (ur, mut uw) = upstream.into_split();
    let mut cr = BufReader::new(cr);
    let mut ur = BufReader::new(ur);
    let c = &s.counters;
    while let Some(req) = read_message(&mut cr, None).await {
        c.requests.fetch_add(1, Ordering::SeqCst);
        let (fault, delay) = s.decide();
        match fault {
            Some(Fault::DropBefore) => {
                c.dropped_before.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Some(Fault::Delay) => {
                c.delayed.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
            }
            _ => {}
        }
        if uw.write_all(&req.bytes).await.is_err() {
            return;
        }
        let Some(answer) = read_message(&mut ur, Some(&req.method)).await else { return };
        if fault == Some(Fault::DropAfter) {
            c.dropped_after.fetch_add(1, Ordering::SeqCst);
            return;
        }
        c.forwarded.fetch_add(1, Ordering::SeqCst);
        if cw.write_all(&answer.bytes).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny HTTP server: answers `n` (the number of requests it received so far) to every
    /// request, keep-alive, with `Content-Length`; counts the requests it saw.
    async fn tiny_server() -> (SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let (r, mut w) = conn.into_split();
                    let mut r = BufReader::new(r);
                    while read_message(&mut r, None).await.is_some() {
                        let n = s.fetch_add(1, Ordering::SeqCst) + 1;
                        let body = n.to_string();
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if w.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, seen)
    }

    fn only(kind: Fault) -> Faults {
        Faults {
            seed: 1,
            rate: 1.0,
            kinds: vec![kind],
            delay: (Duration::from_millis(1), Duration::from_millis(2)),
        }
    }

    async fn post(url: &str, body: &str) -> Result<String, reqwest::Error> {
        reqwest::Client::new().post(url).body(body.to_string()).send().await?.text().await
    }

    #[tokio::test]
    async fn a_request_dropped_before_never_reaches_the_server() {
        let (addr, seen) = tiny_server().await;
        let p = FaultProxy::start(addr, only(Fault::DropBefore)).await;
        assert!(post(&format!("http://{}/x", p.addr()), "hello").await.is_err());
        assert_eq!(seen.load(Ordering::SeqCst), 0);
        let c = p.counts();
        assert_eq!((c.requests, c.dropped_before, c.forwarded), (1, 1, 0), "{c:?}");
    }

    #[tokio::test]
    async fn a_request_dropped_after_reaches_the_server_but_its_answer_does_not_come_back() {
        let (addr, seen) = tiny_server().await;
        let p = FaultProxy::start(addr, only(Fault::DropAfter)).await;
        assert!(post(&format!("http://{}/x", p.addr()), "hello").await.is_err());
        assert_eq!(seen.load(Ordering::SeqCst), 1, "the server took it");
        assert_eq!(p.counts().dropped_after, 1);
    }

    #[tokio::test]
    async fn a_delayed_request_is_forwarded() {
        let (addr, seen) = tiny_server().await;
        let p = FaultProxy::start(addr, only(Fault::Delay)).await;
        assert_eq!(post(&format!("http://{}/x", p.addr()), "hello").await.unwrap(), "1");
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        let c = p.counts();
        assert_eq!((c.delayed, c.forwarded), (1, 1), "{c:?}");
    }

    #[tokio::test]
    async fn five_percent_of_requests_seeded_and_counted() {
        let (addr, seen) = tiny_server().await;
        let mut faults = Faults::five_percent(7);
        faults.delay = (Duration::from_millis(1), Duration::from_millis(5));
        let p = FaultProxy::start(addr, faults).await;
        let url = format!("http://{}/x", p.addr());
        let client = reqwest::Client::new();
        let (mut ok, mut failed) = (0u64, 0u64);
        for i in 0..400 {
            // Bodies of both framings: a chunked one (a stream) and a sized one.
            let r = if i % 2 == 0 {
                client.post(&url).body(format!("body {i}")).send().await
            } else {
                let chunks: Vec<Result<String, std::io::Error>> =
                    vec![Ok("a".into()), Ok("b".into())];
                client
                    .post(&url)
                    .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
                    .send()
                    .await
            };
            match r {
                Ok(resp) if resp.status() == 200 => ok += 1,
                _ => failed += 1,
            }
        }
        let c = p.counts();
        assert_eq!(c.requests, 400, "{c:?}");
        assert!(c.dropped_before > 0 && c.dropped_after > 0 && c.delayed > 0, "{c:?}");
        // Roughly 5%: 20 expected; bounds wide enough for any seed, narrow enough to catch 0% or 50%.
        assert!((5..=60).contains(&c.faults()), "{c:?}");
        assert_eq!(failed, c.dropped_before + c.dropped_after, "{c:?}");
        assert_eq!(ok, c.forwarded, "{c:?}");
        // The server saw every request but those dropped before.
        assert_eq!(seen.load(Ordering::SeqCst), 400 - c.dropped_before, "{c:?}");
        // The same seed gives the same decisions.
        let a = FaultProxy::start(addr, Faults::five_percent(7)).await;
        let b = FaultProxy::start(addr, Faults::five_percent(7)).await;
        let first: Vec<_> = (0..200).map(|_| a.shared.decide().0).collect();
        let second: Vec<_> = (0..200).map(|_| b.shared.decide().0).collect();
        assert_eq!(first, second);
        assert!(first.iter().any(Option::is_some));
    }
}
