//! The optional config file (TOML): settings a team keeps beside its pipelines instead of
//! repeating them as flags: the api-version overrides, the backup freshness limit of
//! `backup check` (below its `--max-age`) and the webhooks of `--notify`:
//!
//! ```toml
//! [api-versions]
//! devops = "2025-11-01-preview"
//! connectors = "2024-08-01-preview"
//!
//! [backup]
//! max-age = "26h"
//!
//! [notify]
//! urls = ["https://hooks.slack.com/services/T000/B000/XXXX"]
//!
//! [run-store]
//! url = "az://lifeboat-runs/team-a"
//! ```
//!
//! Where it is read from: `--config FILE` (or `LIFEBOAT_CONFIG`), which must exist; else
//! `<config dir>/lifeboat/config.toml` (`~/.config/lifeboat/config.toml` on Linux) when it
//! exists. Precedence, per family: `--api-version` > `LIFEBOAT_API_VERSIONS` > the config file >
//! lifeboat's compiled default; for `[notify] urls`: `--notify` > `LIFEBOAT_NOTIFY` > the file
//! (`cli::notify`). An unknown section or key, a bad family or version is bad input
//! (exit 2) naming the file and the line, before anything is sent.

use crate::azure::api::{self, ApiOverride, OverrideOrigin};
use crate::error::UserError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file's content.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// `FAMILY = "VERSION"`.
    #[serde(default)]
    pub api_versions: BTreeMap<String, String>,
    /// `[backup]`.
    #[serde(default)]
    pub backup: BackupSection,
    /// `[notify]`: the webhooks of `--notify` when neither the flag nor `LIFEBOAT_NOTIFY` names
    /// any (checked by `cli::notify`).
    #[serde(default)]
    pub notify: Option<NotifyConfig>,
    /// `[run-store]`: where runs live when neither `--run-store` nor `LIFEBOAT_RUN_STORE` says.
    #[serde(default)]
    pub run_store: Option<RunStoreSection>,
}

/// `[run-store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunStoreSection {
    /// A directory or `az://container[/prefix]`.
    pub url: Option<String>,
}

/// `[notify]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Webhook URLs (secrets: keep the file readable by its owner only).
    #[serde(default)]
    pub urls: Vec<String>,
}

/// The `[backup]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BackupSection {
    /// `backup check`'s limit when `--max-age` is not given (checked like the flag).
    pub max_age: Option<String>,
}

/// The default location: `<config dir>/lifeboat/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("lifeboat").join("config.toml"))
}

/// Reads the config file: `explicit` (must exist), else the default location if it exists.
pub fn load(explicit: Option<&Path>) -> Result<Option<(PathBuf, Config)>, UserError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match default_path() {
            Some(p) if p.is_file() => p,
            _ => return Ok(None),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        UserError::usage(format!("cannot read the config file {}: {e}", path.display())).with_hint(
            "pass an existing file with --config FILE (or LIFEBOAT_CONFIG), or leave both unset",
        )
    })?;
    parse(&path, &text).map(|c| Some((path, c)))
}

/// Parses the file's text; errors name the file and the line.
pub fn parse(path: &Path, text: &str) -> Result<Config, UserError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    toml::from_str::<Config>(text).map_err(|e| {
        let at = e.span().map(|s| format!(":{}", line_of(s.start))).unwrap_or_default();
        // The message may quote the value it refused: a webhook URL is a secret.
        UserError::usage(format!(
            "config file {}{at}: {}",
            path.display(),
            crate::notify::target::redact_urls_in(e.message().trim_end())
        ))
        .with_hint(
            "the config file takes three sections: [api-versions], with FAMILY = \"VERSION\" lines (e.g. devops = \"2025-11-01-preview\"), [backup], with max-age = \"26h\", and [notify], with urls = [\"https://...\"]",
        )
    })
}

impl Config {
    /// The api-version overrides, checked like the flag's.
    pub fn api_overrides(&self, path: &Path) -> Result<Vec<ApiOverride>, UserError> {
        self.api_versions
            .iter()
            .map(|(family, version)| {
                api::parse_override(&format!("{family}={version}"), OverrideOrigin::Config).map_err(
                    |e| {
                        UserError::usage(format!(
                            "config file {}, [api-versions] {family}: {e}",
                            path.display()
                        ))
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_are_read_and_checked() {
        let p = Path::new("c.toml");
        let c = parse(p, "[api-versions]\ndevops = \"2025-11-01-preview\"\n").unwrap();
        let o = c.api_overrides(p).unwrap();
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].family, api::ApiFamily::Devops);
        assert_eq!(o[0].origin, OverrideOrigin::Config);
        let bad = parse(p, "[api-versions]\nnope = \"2025-03-01\"\n").unwrap();
        let e = bad.api_overrides(p).unwrap_err().to_string();
        assert!(
            e.contains("c.toml, [api-versions] nope") && e.contains("not an API family"),
            "{e}"
        );
    }

    #[test]
    fn the_backup_section_holds_max_age_only() {
        let p = Path::new("c.toml");
        let c = parse(p, "[backup]\nmax-age = \"26h\"\n").unwrap();
        assert_eq!(c.backup.max_age.as_deref(), Some("26h"));
        let e = parse(p, "[backup]\nmax_age = \"26h\"\n").unwrap_err().to_string();
        assert!(e.starts_with("config file c.toml:2: unknown field `max_age`"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_toml_name_the_line() {
        let p = Path::new("c.toml");
        let e = parse(p, "# comment\n[api-version]\ndevops = \"x\"\n").unwrap_err().to_string();
        assert!(e.starts_with("config file c.toml:2: unknown field `api-version`"), "{e}");
        let e = parse(p, "[api-versions]\ndevops = 2025\n").unwrap_err().to_string();
        assert!(e.starts_with("config file c.toml:2:"), "{e}");
    }
}
