//! Notifications (`--notify`) through the binary, against webhook receivers on 127.0.0.1: a
//! drill run's pause, overrun, failure and end reach them, in the shapes asked for; a receiver
//! that answers 500 gets exactly the retry budget per message; one that never answers holds up
//! neither the run nor (beyond `--notify-timeout`) the command; a bad webhook is refused before
//! anything happens. No assertion here measures time: what is shown is shown by what the
//! receivers saw and when, relative to each other.

use crate::drill::{lifeboat, repo, text};
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a receiver does with a request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Answers with this status.
    Answer(u16),
    /// Reads the request and keeps the connection open without answering.
    Hold,
}

/// A webhook receiver on 127.0.0.1 (one thread per connection), recording every request body.
struct Receiver {
    base: String,
    bodies: Arc<Mutex<Vec<String>>>,
    mode: Arc<Mutex<Mode>>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Receiver {
    fn start(mode: Mode) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let r = Receiver {
            base,
            bodies: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
            held: Arc::default(),
        };
        let (bodies, mode, held) = (r.bodies.clone(), r.mode.clone(), r.held.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut sock) = conn else { continue };
                let (bodies, mode, held) = (bodies.clone(), mode.clone(), held.clone());
                std::thread::spawn(move || {
                    let _ = sock.set_read_timeout(Some(Duration::from_secs(60)));
                    let Some(body) = read_request(&mut sock) else { return };
                    bodies.lock().unwrap().push(body);
                    let m = *mode.lock().unwrap();
                    match m {
                        Mode::Hold => held.lock().unwrap().push(sock),
                        Mode::Answer(code) => {
                            let _ = write!(
                                sock,
                                "HTTP/1.1 {code} X\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                            );
                        }
                    }
                });
            }
        });
        r
    }

    fn url(&self, token: &str) -> String {
        format!("{}/hook/{token}", self.base)
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }

    fn json(&self) -> Vec<Value> {
        self.bodies().iter().map(|b| serde_json::from_str(b).expect("a JSON body")).collect()
    }

    /// Whether every connection held is still open: the client neither closed it nor sent
    /// anything more (a read would block).
    fn all_held_open(&self) -> bool {
        let held = self.held.lock().unwrap();
        !held.is_empty()
            && held.iter().all(|s| {
                s.set_nonblocking(true).unwrap();
                let mut b = [0u8; 1];
                let open = matches!(s.peek(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock);
                s.set_nonblocking(false).unwrap();
                open
            })
    }

    /// Closes the connections held, and answers 200 from now on.
    fn release(&self) {
        *self.mode.lock().unwrap() = Mode::Answer(200);
        self.held.lock().unwrap().clear();
    }
}

/// One HTTP/1.1 request's body (by `content-length`).
fn read_request(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = sock.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned())
}

/// The region-outage runbook with a release wait that overruns its expected 30 minutes and
/// fails at its 1 h timeout (the simulated support desk takes 2 h).
fn overrunning_runbook(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("runbooks/region-outage.yaml")).unwrap();
    let at = text.find("- id: wait-for-release").expect("the release wait");
    let (head, tail) = text.split_at(at);
    assert!(tail.contains("timeout: 30d") && tail.contains("expected: 2d"), "runbook changed");
    let tail = tail.replacen("timeout: 30d", "timeout: 1h", 1).replacen(
        "expected: 2d",
        "expected: 30m",
        1,
    );
    let path = dir.join("overrun.yaml");
    std::fs::write(&path, format!("{head}{tail}")).unwrap();
    path
}

fn events(bodies: &[Value]) -> Vec<String> {
    bodies.iter().map(|b| b["event"].as_str().unwrap_or("?").to_string()).collect()
}

#[test]
fn a_drill_notifies_its_pause_overrun_failure_and_end_and_no_receiver_slows_it() {
    let state = tempfile::tempdir().unwrap();
    let runbook = overrunning_runbook(state.path());
    let ok = Receiver::start(Mode::Answer(200));
    let slack = Receiver::start(Mode::Answer(200));
    let failing = Receiver::start(Mode::Answer(500));
    let hanging = Receiver::start(Mode::Hold);
    let tokens = ["tokOkSecret0001", "tokSlackSecret02", "tokFailSecret003", "tokHangSecret004"];
    let mut child = lifeboat(state.path())
        .current_dir(repo())
        .args(["drill", "--run-id", "n", "--runbook"])
        .arg(&runbook)
        .args(["--notify", &ok.url(tokens[0])])
        .args(["--notify", &format!("slack+{}", slack.url(tokens[1]))])
        .args(["--notify", &failing.url(tokens[2])])
        .args(["--notify", &hanging.url(tokens[3])])
        // Generous on purpose: the hanging receiver's first connection must outlive the run
        // (a drill takes seconds); the test releases it as soon as the run has ended.
        .args(["--notify-timeout", "10m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lifeboat starts");
    // The end message goes out only once the run has ended.
    let ended = loop {
        if events(&ok.json()).iter().any(|e| e == "run_ended") {
            break true;
        }
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The run ended while the hanging receiver still held, unanswered, the connection of the
    // first message it got: the run never waited for it.
    let held_then = hanging.all_held_open();
    let hanging_hits_then = hanging.bodies().len();
    hanging.release();
    let out = child.wait_with_output().unwrap();
    let t = text(&out);
    assert!(ended, "the drill stopped before its end message:\n{t}");
    assert!(held_then && hanging_hits_then >= 1, "{hanging_hits_then} requests:\n{t}");
    assert_eq!(out.status.code(), Some(1), "the release wait times out: the drill fails\n{t}");

    // The generic receiver: every kind of message, in the order things happened, end last.
    let got = ok.json();
    let kinds = events(&got);
    let first =
        |k: &str| kinds.iter().position(|e| e == k).unwrap_or_else(|| panic!("no {k}: {kinds:?}"));
    assert!(
        first("needs_person") < first("wait_overdue")
            && first("wait_overdue") < first("step_failed")
            && first("step_failed") < first("run_ended"),
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("run_ended"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "run_ended").count(), 1, "{kinds:?}");
    for b in &got {
        assert_eq!(b["schema"], "lifeboat/notification/v1", "{b}");
        assert_eq!(b["run"], "n", "{b}");
        assert_eq!(b["rehearsal"], true, "{b}");
    }
    let person = &got[first("needs_person")];
    assert!(
        person["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("lifeboat approve n approve-submission")),
        "{person}"
    );
    let overdue = &got[first("wait_overdue")];
    assert!(overdue["text"].as_str().unwrap().contains("takes longer than expected"), "{overdue}");
    assert!(overdue["steps"][0].as_str().unwrap().starts_with("wait-for-release"), "{overdue}");
    let failed = &got[first("step_failed")];
    assert!(failed["steps"][0].as_str().unwrap().starts_with("wait-for-release"), "{failed}");
    let end = got.last().unwrap();
    assert_eq!(end["status"], "failed", "{end}");
    assert!(end["text"].as_str().unwrap().contains("drill verdict: FAILED"), "{end}");

    // The Slack receiver got the same messages, as Slack takes them.
    let slack_got = slack.json();
    assert_eq!(slack_got.len(), got.len());
    for b in &slack_got {
        assert!(b["text"].is_string() && b["blocks"].is_array(), "{b}");
        assert!(b.get("schema").is_none(), "{b}");
    }

    // The failing receiver: each message exactly the retry budget (3 attempts), then given up.
    let tries = failing.bodies();
    let mut distinct: Vec<&String> = tries.iter().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), got.len(), "every message reached it");
    for d in &distinct {
        assert_eq!(tries.iter().filter(|b| b == d).count(), 3, "attempts of {d}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary =
        stderr.lines().find(|l| l.starts_with("notifications: ")).unwrap_or_else(|| panic!("{t}"));
    let n = got.len();
    assert!(
        summary.contains(&format!(", {n} failed ("))
            && summary.contains(&format!(
                "{}/…t003: {n} messages, last: HTTP 500 after 3 attempts",
                failing.base
            )),
        "{summary}"
    );
    // The released receiver got its messages after all; nothing was dropped.
    assert!(summary.starts_with(&format!("notifications: {} sent", 3 * n)), "{summary}");

    // A webhook URL is a secret: in no output, journal or report.
    let mut files = vec![state.path().join("runs/n/journal.jsonl")];
    files.extend(
        std::fs::read_dir(state.path().join("drills/n")).unwrap().flatten().map(|e| e.path()),
    );
    for token in tokens {
        assert!(!t.contains(token), "{token} printed:\n{t}");
        for f in files.iter().filter(|f| f.is_file()) {
            let content = std::fs::read(f).unwrap();
            assert!(
                !String::from_utf8_lossy(&content).contains(token),
                "{token} in {}",
                f.display()
            );
        }
    }
}

#[test]
fn a_receiver_that_never_answers_delays_the_command_by_its_timeout_only() {
    let state = tempfile::tempdir().unwrap();
    let hanging = Receiver::start(Mode::Hold);
    let out = lifeboat(state.path())
        .current_dir(repo())
        .args(["run", "runbooks/examples/hello.yaml", "--run-id", "h"])
        .args(["--notify", &hanging.url("tokNeverAnswers05"), "--notify-timeout", "1s"])
        .output()
        .unwrap();
    let t = text(&out);
    // The run reached its gate and paused as it would without --notify.
    assert_eq!(out.status.code(), Some(3), "{t}");
    let journal = std::fs::read_to_string(state.path().join("runs/h/journal.jsonl")).unwrap();
    let last = journal.lines().last().unwrap();
    assert!(last.contains("\"step_awaiting_approval\""), "{last}");
    // Neither message (the gate, the pause) was answered; both are reported, not lost.
    let summary =
        t.lines().find(|l| l.starts_with("notifications: ")).unwrap_or_else(|| panic!("{t}"));
    assert!(
        summary.starts_with(&format!(
            "notifications: 0 sent, 2 failed ({}/…rs05: 2 messages, last: 2 not delivered within the 1s lifeboat waits at the end",
            hanging.base
        )),
        "{summary}"
    );
    // Never more requests than the retry budget of the first message.
    let hits = hanging.bodies().len();
    assert!((1..=3).contains(&hits), "{hits} requests");
    assert!(!t.contains("tokNeverAnswers05"), "{t}");
}

#[test]
fn a_bad_webhook_is_refused_before_anything_happens() {
    let state = tempfile::tempdir().unwrap();
    let cfg = state.path().join("config.toml");
    std::fs::write(&cfg, "[notify]\nurls = [\"http://hooks.example/in/tokFromFile0006\"]\n")
        .unwrap();
    /// Flags, the value of LIFEBOAT_NOTIFY, what the error must say.
    struct Case(Vec<String>, Option<&'static str>, &'static str);
    let cases = vec![
        Case(
            vec!["--notify".into(), "http://hooks.example/in/tokPlainHttp007".into()],
            None,
            "--notify: http://hooks.example/…p007: plain http",
        ),
        Case(
            vec!["--notify".into(), "carrier+https://hooks.example/in/tokPrefix0008".into()],
            None,
            "unknown prefix `carrier+`",
        ),
        Case(
            vec![],
            Some("ftp://127.0.0.1/in/tokEnvFtp0009"),
            "LIFEBOAT_NOTIFY: ftp://127.0.0.1/…0009: scheme `ftp`",
        ),
        Case(
            vec!["--config".into(), cfg.to_string_lossy().into_owned()],
            None,
            "[notify] urls: http://hooks.example/…0006: plain http",
        ),
    ];
    for Case(args, env, want) in cases {
        for command in [
            vec!["run", "runbooks/examples/hello.yaml"],
            vec!["resume", "no-such-run"],
            vec!["drill"],
        ] {
            let mut c = lifeboat(state.path());
            c.current_dir(repo()).args(&command).args(&args);
            if let Some(v) = env {
                c.env("LIFEBOAT_NOTIFY", v);
            }
            let out = c.output().unwrap();
            let t = text(&out);
            assert_eq!(out.status.code(), Some(2), "{command:?} {args:?}: {t}");
            assert!(t.contains(want), "{command:?} {args:?}: {t}");
            for token in ["tokFromFile", "tokPlainHttp", "tokPrefix", "tokEnvFtp"] {
                assert!(!t.contains(token), "{command:?} {args:?}: a URL leaked:\n{t}");
            }
        }
    }
    assert!(!state.path().join("runs").exists());
    assert!(!state.path().join("drills").exists());
    // A drill on Azure itself takes no webhook (it drives no run).
    let out = lifeboat(state.path())
        .args(["drill", "--live", "--connector", "x", "--drill-region", "northeurope"])
        .args(["--notify", "https://hooks.example/in/tokLive0010"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!text(&out).contains("tokLive"), "{}", text(&out));
}

#[test]
fn a_resumed_run_notifies_the_webhooks_of_the_environment() {
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: Option<&str>| {
        let mut c = lifeboat(state.path());
        c.current_dir(repo()).args(args);
        if let Some(v) = env {
            c.env("LIFEBOAT_NOTIFY", v);
        }
        c.output().unwrap()
    };
    let out = run(&["run", "runbooks/examples/hello.yaml", "--run-id", "r"], None);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = run(&["approve", "r", "kick-off", "--comment", "go"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let generic = Receiver::start(Mode::Answer(200));
    let slack = Receiver::start(Mode::Answer(200));
    let env =
        format!("{} , slack+{}", generic.url("tokResumeEnv011"), slack.url("tokResumeSlack12"));
    let out = run(&["resume", "r"], Some(&env));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "the manual tasks pause it again: {t}");
    let got = generic.json();
    // The two teams' tasks: announced together or one batch each, then the pause.
    let kinds = events(&got);
    let (last, before) = kinds.split_last().unwrap();
    assert_eq!(last, "run_ended", "{kinds:?}");
    assert!(!before.is_empty() && before.iter().all(|k| k == "needs_person"), "{kinds:?}");
    for b in &got {
        assert_eq!(b["rehearsal"], false, "{b}");
        assert_eq!(b["runbook"], "hello", "{b}");
    }
    let attest: Vec<&str> = got[..before.len()]
        .iter()
        .flat_map(|b| b["commands"].as_array().unwrap().iter().filter_map(Value::as_str))
        .filter(|c| c.starts_with("lifeboat attest r brief-team"))
        .collect();
    assert_eq!(attest.len(), 2, "one command per team: {attest:?}");
    let end = got.last().unwrap();
    assert_eq!(end["status"], "paused");
    let end_commands = end["commands"].as_array().unwrap();
    assert!(end_commands.iter().any(|c| c == "lifeboat resume r"), "{end}");
    assert_eq!(slack.json().len(), got.len());
    let sent = format!("notifications: {} sent", 2 * got.len());
    assert!(t.lines().any(|l| l == sent), "{t}");
    assert!(!t.contains("tokResume"), "{t}");
}
