//! Issue 15: every `lifeboat ...` command in README.md and docs/*.md works as written.
//!
//! `extract` finds the commands (fenced blocks and inline code spans) and turns each into the
//! argument lists to check (placeholders, optional groups, alternatives, ellipses); `check`
//! parses each with the real clap definition, checks the runbook it names as from an empty
//! directory, and runs it against the simulator when it can. The test prints, per file, how many
//! commands were checked and how many of their variants ran or were only parsed; a failure
//! names `file:line`, the command as written, the arguments checked and why.
//!
//! `DOCS_DEBUG=1 cargo test --test it -- docs:: --nocapture` prints every variant checked.
//!
//! Writing docs: a transcript's output lines that start with `lifeboat` are not commands when
//! the block marks its commands with a `$ ` prompt; or put `<!-- doc-commands: skip -->` on the
//! line before a block that holds no command.

mod check;
mod extract;

use extract::{extract, variants, DocCommand, Placeholders, Variant};
use lifeboat::cli::Cli;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

/// README.md and every docs/*.md, as `(name, path)`, sorted.
fn documents() -> Vec<(String, PathBuf)> {
    let repo = crate::support::repo();
    let mut out = vec![("README.md".to_string(), repo.join("README.md"))];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo.join("docs"))
        .expect("docs/ lists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    for p in docs {
        let name = format!("docs/{}", p.file_name().expect("a name").to_string_lossy());
        out.push((name, p));
    }
    out
}

/// The world the commands run in: the simulator (westeurope failed), an empty working directory
/// (no checkout), a backup store with a snapshot of the simulated tenant, and a state directory
/// holding `doc-run`, a recovery of westeurope by the built-in `region-outage` runbook paused at
/// its submission gate (`RUN` in the docs; `STEP` is `approve-submission`).
struct World {
    sim: lifeboat::sim::RunningSim,
    tmp: tempfile::TempDir,
    ph: Placeholders,
    runs: std::sync::atomic::AtomicUsize,
}

impl World {
    fn cwd(&self) -> PathBuf {
        self.tmp.path().join("cwd")
    }
    fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }
    fn store(&self) -> PathBuf {
        self.tmp.path().join("backups")
    }

    /// The binary in the working directory with the world's state, store and simulator, unless
    /// the command gives its own; `cli` is what the arguments parse to.
    fn command(&self, cli: &Cli, v: &Variant) -> std::process::Command {
        let mut c = crate::support::cli::lifeboat();
        c.current_dir(self.cwd());
        let g = &cli.globals;
        if g.state_dir.is_none() {
            c.arg("--state-dir").arg(self.state());
        }
        if g.backup_store.is_none() {
            c.arg("--backup-store").arg(self.store());
        }
        if g.arm_endpoint.is_none() {
            c.args(["--arm-endpoint", self.sim.url()]);
        }
        if !v.args.iter().any(|a| a == "--auth" || a.starts_with("--auth=")) {
            c.args(["--auth", "none"]);
        }
        c.args(&v.args);
        c.envs(v.env.iter().map(|(k, v)| (k, v)));
        c
    }

    async fn new() -> World {
        let sim = crate::support::sim::start(crate::support::sim::quiet()).await;
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file.yaml");
        std::fs::write(&file, lifeboat::runbook::builtin::HELLO).unwrap();
        let port = sim.url().trim_end_matches('/').rsplit(':').next().unwrap().parse().unwrap();
        let ph = Placeholders {
            run: "doc-run".into(),
            step: "approve-submission".into(),
            port,
            file,
            dir: tmp.path().join("dir"),
            home: tmp.path().join("home"),
        };
        let w = World { sim, tmp, ph, runs: Default::default() };
        std::fs::create_dir_all(w.cwd()).unwrap();
        std::fs::create_dir_all(&w.ph.home).unwrap();
        let fixture = |args: &[&str]| {
            let mut c = crate::support::cli::lifeboat();
            c.current_dir(w.cwd())
                .arg("--state-dir")
                .arg(w.state())
                .arg("--backup-store")
                .arg(w.store())
                .args(["--arm-endpoint", w.sim.url(), "--auth", "none"])
                .args(args);
            c
        };
        // A backup of the tenant, then westeurope fails and a recovery starts: it pauses at the
        // submission gate, so `RUN` in the docs is a region-outage run with its real steps.
        let out = crate::support::cli::output(fixture(&["backup", "create"])).await;
        assert_eq!(out.status.code(), Some(0), "the fixture backup: {out:?}");
        crate::support::sim::region(&w.sim, "westeurope", "fail").await;
        let codes = w.tmp.path().join("codes.txt");
        std::fs::write(
            &codes,
            format!("ado-weu {}\ngitlab-weu {}\n", w.sim.mint_code(), w.sim.mint_code()),
        )
        .unwrap();
        let codes = format!("authorization_codes={}", codes.display());
        let out = crate::support::cli::output(fixture(&[
            "run",
            "region-outage",
            "--run-id",
            "doc-run",
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
            &codes,
        ]))
        .await;
        assert_eq!(out.status.code(), Some(3), "the fixture run pauses at its gate: {out:?}");
        // The region comes back: the docs' other commands (`backup create` among them) describe
        // a working tenant, and against a failed region they would only retry its 503s.
        crate::support::sim::region(&w.sim, "westeurope", "restore").await;
        w
    }

    /// Runs the binary to its end (killed after two minutes: a command that does not end is a
    /// failure of its own, and must not hang the test). Output goes through files, so a full
    /// pipe never blocks it.
    async fn run(&self, mut cmd: std::process::Command) -> Output {
        let n = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out_path = self.tmp.path().join(format!("out-{n}"));
        let err_path = self.tmp.path().join(format!("err-{n}"));
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap());
        let mut child = cmd.spawn().expect("lifeboat starts");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waits") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                break child.wait().expect("waits");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }
}

/// Per document: commands, variants run, variants only parsed.
#[derive(Debug, Default)]
struct Count {
    commands: usize,
    ran: usize,
    parsed: usize,
}

/// Checks one command's variants; failures as `file:line` messages.
async fn check_command(
    w: &World,
    cmd: &DocCommand,
    ran: &mut HashMap<Vec<String>, Option<String>>,
    count: &mut Count,
) -> Vec<String> {
    let mut failures = Vec::new();
    for v in variants(cmd, &w.ph) {
        let fail = |why: String| {
            format!(
                "{}: `{}`\n    checked as: lifeboat {}\n    why: {why}",
                cmd.place(),
                cmd.text,
                v.args.join(" ")
            )
        };
        let cli = match check::parse(cmd, &v) {
            Ok(Some(cli)) => cli,
            Ok(None) => {
                count.parsed += 1;
                continue;
            }
            Err(why) => {
                failures.push(fail(why));
                continue;
            }
        };
        if let Err(why) = check::check_runbook(&cli, &w.cwd(), v.elided) {
            failures.push(fail(why));
            continue;
        }
        if check::parse_only(&cli, &v).is_some() {
            count.parsed += 1;
            continue;
        }
        // The same arguments run once (a later document repeating them gets the same answer).
        let verdict = match ran.get(&v.args) {
            Some(verdict) => verdict.clone(),
            None => {
                let out = w.run(w.command(&cli, &v)).await;
                if std::env::var_os("DOCS_DEBUG").is_some() {
                    let err = String::from_utf8_lossy(&out.stderr);
                    println!(
                        "ran {:?}: exit {:?} {}",
                        v.args,
                        out.status.code(),
                        err.lines().next().unwrap_or("")
                    );
                }
                let verdict = check::docs_wrong(&out);
                ran.insert(v.args.clone(), verdict.clone());
                verdict
            }
        };
        match verdict {
            Some(why) => failures.push(fail(why)),
            None => count.ran += 1,
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_command_in_the_readme_and_docs_works_as_written() {
    let w = World::new().await;
    let started = Instant::now();
    let mut counts: BTreeMap<String, Count> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut ran = HashMap::new();
    for (name, path) in documents() {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let count = counts.entry(name.clone()).or_default();
        for cmd in extract(&name, &text) {
            count.commands += 1;
            if std::env::var_os("DOCS_DEBUG").is_some() {
                for v in variants(&cmd, &w.ph) {
                    println!("{}: {} => {:?} {:?}", cmd.place(), cmd.text, v.args, v.elided_flags);
                }
            }
            failures.extend(check_command(&w, &cmd, &mut ran, count).await);
        }
    }
    let mut summary =
        String::from("doc commands checked (variants run against the simulator / only parsed):\n");
    for (name, c) in &counts {
        summary.push_str(&format!(
            "  {name}: {} commands ({} run, {} parsed only)\n",
            c.commands, c.ran, c.parsed
        ));
    }
    let total: usize = counts.values().map(|c| c.commands).sum();
    summary.push_str(&format!("  total: {total} commands in {:?}\n", started.elapsed()));
    println!("{summary}");
    assert!(
        counts.get("README.md").is_some_and(|c| c.commands > 0),
        "no command found in README.md: the extractor is broken\n{summary}"
    );
    assert!(
        failures.is_empty(),
        "{} doc command(s) do not work as written:\n\n{}\n\n{summary}",
        failures.len(),
        failures.join("\n\n")
    );
    w.sim.shutdown().await.unwrap();
}
