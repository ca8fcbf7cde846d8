//! `--notify URL` and `--notify-timeout` on `run`, `resume` and `drill`: which webhooks, from
//! where, checked before anything happens; the notifier started for a run and finished (with
//! its summary line on stderr) when the command stops. The notifications themselves are
//! `crate::notify`.
//!
//! Where the webhooks come from, the first that names any: `--notify` (repeatable), the
//! environment variable `LIFEBOAT_NOTIFY` (URLs separated by spaces or commas), the config
//! file's `[notify] urls = [...]`. A flag replaces the environment's list, which replaces the
//! file's (a list is not merged: to add one for a single run, name them all). Every URL is
//! checked before any side effect: a bad one exits 2 naming its redacted form and where it came
//! from.

use super::Globals;
use crate::engine::kind::Registry;
use crate::error::UserError;
use crate::notify::{Notifier, Settings, Target};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable with webhook URLs.
pub const ENV: &str = "LIFEBOAT_NOTIFY";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct NotifyArgs {
    /// Post a short message to this webhook when the run needs a person, a step fails, a step
    /// takes longer than expected, and when the command stops (repeatable). Slack and Teams
    /// webhooks are recognised by host (or say slack+https://, teams+https://,
    /// messagecard+https://, json+https://); anything else gets lifeboat's JSON. Also
    /// LIFEBOAT_NOTIFY (URLs separated by spaces or commas) or `[notify] urls` in the config
    /// file. A webhook URL is a secret: lifeboat shows only its host and last 4 characters
    #[arg(long = "notify", value_name = "URL")]
    pub notify: Vec<String>,

    /// How long one delivery attempt may take, and the most lifeboat waits for pending
    /// notifications when the command ends; never slows the run itself
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        value_parser = parse_timeout
    )]
    pub notify_timeout: Duration,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}; for example 5s or 1m)"))?;
    if d < Duration::from_millis(100) || d > Duration::from_secs(3600) {
        return Err(format!("{s} is out of range: between 100ms and 1h"));
    }
    Ok(d)
}

/// The checked webhooks of a command, or `None` when it has none. Exit 2 (before anything is
/// done) on a bad URL, naming where it came from and only its redacted form.
pub fn resolve(args: &NotifyArgs, g: &Globals) -> Result<Option<Settings>, UserError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    resolve_with(args, g.config.as_deref(), &env)
}

/// [`resolve`] with a given environment (and config file, as `--config` names it).
pub fn resolve_with(
    args: &NotifyArgs,
    config: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<Option<Settings>, UserError> {
    let hint = crate::notify::target::URL_HINT;
    let (raws, origin): (Vec<String>, String) = if !args.notify.is_empty() {
        (args.notify.clone(), "--notify".into())
    } else if let Some(v) = env.get(ENV).filter(|v| !v.trim().is_empty()) {
        let list = v
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        (list, ENV.into())
    } else {
        match super::config::load(config)? {
            Some((path, c)) => {
                let urls = c.notify.map(|n| n.urls).unwrap_or_default();
                (urls, format!("config file {}, [notify] urls", path.display()))
            }
            None => (Vec::new(), String::new()),
        }
    };
    let mut targets: Vec<Target> = Vec::new();
    for raw in &raws {
        let t = Target::parse(raw)
            .map_err(|e| UserError::usage(format!("{origin}: {e}")).with_hint(hint))?;
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    if targets.is_empty() {
        return Ok(None);
    }
    Ok(Some(Settings::new(targets, args.notify_timeout)))
}

/// Starts the notifier of a command (`rehearsal`: a drill's run).
pub fn start(settings: Option<Settings>, rehearsal: bool) -> Option<Arc<Notifier>> {
    settings.map(|s| Notifier::start(s, rehearsal))
}

/// The observer `runner::drive` takes.
pub fn observer(
    notifier: &Option<Arc<Notifier>>,
) -> Option<Arc<dyn crate::engine::runner::RunObserver>> {
    notifier.clone().map(|n| n as Arc<dyn crate::engine::runner::RunObserver>)
}

/// Sends the end message of the run in `run_dir`, waits at most `--notify-timeout` for what is
/// pending, and prints the summary line on stderr (`notifications: 3 sent, 1 failed (...)`).
pub async fn finish(
    notifier: Option<Arc<Notifier>>,
    run_dir: &Path,
    registry: &Registry,
    extra: &[String],
) {
    if let Some(summary) = finish_quietly(notifier, run_dir, registry, extra).await {
        crate::say_err!("{summary}");
    }
}

/// [`finish`] without printing: the summary, for a command that prints it last.
pub async fn finish_quietly(
    notifier: Option<Arc<Notifier>>,
    run_dir: &Path,
    registry: &Registry,
    extra: &[String],
) -> Option<crate::notify::Summary> {
    let n = notifier?;
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    Some(n.finish_run(run_dir, registry, now, extra).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(urls: &[&str]) -> NotifyArgs {
        NotifyArgs {
            notify: urls.iter().map(|s| s.to_string()).collect(),
            notify_timeout: Duration::from_secs(5),
        }
    }

    fn shown(s: Option<Settings>) -> Vec<String> {
        s.map(|s| s.targets.iter().map(|t| t.shown().to_string()).collect()).unwrap_or_default()
    }

    #[test]
    fn a_flag_wins_over_the_environment_which_wins_over_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[notify]\nurls = [\"https://file.example/hook/aaaa\"]\n").unwrap();
        let env: HashMap<String, String> = [(
            ENV.to_string(),
            "https://env.example/one/bbbb, https://env.example/two/cccc".to_string(),
        )]
        .into();
        let flag = args(&["https://flag.example/hook/dddd"]);
        assert_eq!(
            shown(resolve_with(&flag, Some(&file), &env).unwrap()),
            ["https://flag.example/…dddd"]
        );
        assert_eq!(
            shown(resolve_with(&args(&[]), Some(&file), &env).unwrap()),
            ["https://env.example/…bbbb", "https://env.example/…cccc"]
        );
        assert_eq!(
            shown(resolve_with(&args(&[]), Some(&file), &HashMap::new()).unwrap()),
            ["https://file.example/…aaaa"]
        );
        assert!(resolve_with(&args(&[]), None, &HashMap::new()).unwrap().is_none());
        // The same webhook twice is posted to once.
        let twice = args(&["https://a.example/x/eeee", "https://a.example/x/eeee"]);
        assert_eq!(shown(resolve_with(&twice, None, &HashMap::new()).unwrap()).len(), 1);
    }

    #[test]
    fn a_bad_url_names_its_origin_and_never_itself() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[notify]\nurls = [\"http://file.example/hook/tok-file-1234\"]\n")
            .unwrap();
        let env: HashMap<String, String> =
            [(ENV.to_string(), "ftp://127.0.0.1/tok-env-5678".to_string())].into();
        let flag = resolve_with(&args(&["http://x.example/tok-flag-9012"]), None, &env)
            .unwrap_err()
            .to_string();
        assert!(flag.starts_with("--notify: http://x.example/…9012: plain http"), "{flag}");
        let from_env = resolve_with(&args(&[]), Some(&file), &env).unwrap_err().to_string();
        assert!(
            from_env.starts_with("LIFEBOAT_NOTIFY: ftp://127.0.0.1/…5678: scheme `ftp`"),
            "{from_env}"
        );
        let from_file =
            resolve_with(&args(&[]), Some(&file), &HashMap::new()).unwrap_err().to_string();
        assert!(
            from_file.contains("[notify] urls: http://file.example/…1234: plain http"),
            "{from_file}"
        );
        for e in [flag, from_env, from_file] {
            assert!(!e.contains("tok-"), "{e}");
        }
    }
}
