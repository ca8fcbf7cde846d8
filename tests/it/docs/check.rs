//! Checking one doc command with the real CLI.
//!
//! Every variant is parsed with the real clap definition (`Cli::try_parse_from`, in-process);
//! a runbook it names is resolved as from an empty directory (a responder's, with no checkout)
//! and validated with its `--set` values. A variant that can run against the simulator (a fresh
//! state directory, `--arm-endpoint` + `--auth none`) is then run with the binary, and must not
//! fail for a reason that means the document is wrong: a clap error (unknown subcommand, flag
//! or value), a runbook that cannot be found, an unknown `--set` parameter, a step the run
//! (`RUN` is a region-outage recovery) does not have, a panic, a command that does not end.
//!
//! Only parsed (they cannot run here, or would not end): `run` and `resume` (they drive a
//! recovery that waits for people and days; their runbook and `--set` values are checked
//! in-process), `status --watch` (follows a run until it ends), `sim serve` (serves until
//! stopped), `drill --live` and anything naming a real Azure endpoint (`az://`, a non-loopback
//! URL) or a real credential (`--auth` other than `none`/`auto`), and all but the first variant
//! of a simulated `drill` (each takes seconds).

use super::extract::{DocCommand, Found, Variant};
use clap::{CommandFactory, Parser};
use lifeboat::cli::{Cli, Command};
use lifeboat::runbook::builtin::{self, Resolved};
use std::path::Path;

/// The parsed command line, or `None` when the variant is incomplete by design (an ellipsis, or
/// an inline mention of a command such as `lifeboat backup create`) and clap only missed
/// required arguments.
pub fn parse(cmd: &DocCommand, v: &Variant) -> Result<Option<Cli>, String> {
    for flag in &v.elided_flags {
        flag_exists(&v.args, flag)?;
    }
    let argv = std::iter::once("lifeboat".to_string()).chain(v.args.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(cli) => Ok(Some(cli)),
        Err(e) => {
            use clap::error::ErrorKind as K;
            let mention = cmd.found == Found::Inline
                && v.args.iter().all(|a| a.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            match e.kind() {
                K::DisplayHelp | K::DisplayVersion => Ok(None),
                K::MissingRequiredArgument
                | K::MissingSubcommand
                | K::DisplayHelpOnMissingArgumentOrSubcommand
                    if v.elided || mention =>
                {
                    Ok(None)
                }
                _ => Err(format!("clap refuses it: {}", first_line(&e.render().to_string()))),
            }
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

/// `flag` (`--x`, `-x`) exists on the subcommand `args` name, or on one above it.
fn flag_exists(args: &[String], flag: &str) -> Result<(), String> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut chain = vec![cmd.clone()];
    for a in args.iter().filter(|a| !a.starts_with('-')) {
        let next = chain.last().and_then(|c| c.find_subcommand(a).cloned());
        match next {
            Some(sub) => chain.push(sub),
            None => break,
        }
    }
    let name = flag.split('=').next().unwrap_or(flag);
    let found = chain.iter().any(|c| {
        c.get_arguments().any(|arg| match name.strip_prefix("--") {
            Some(long) => arg.get_long() == Some(long),
            None => name
                .strip_prefix('-')
                .and_then(|s| s.chars().next())
                .is_some_and(|s| arg.get_short() == Some(s)),
        })
    });
    if found {
        Ok(())
    } else {
        let path: Vec<&str> = chain.iter().map(|c| c.get_name()).collect();
        Err(format!("`{}` has no flag {name}", path.join(" ")))
    }
}

/// The runbook a parsed command names, resolved from `cwd` (no checkout there) and validated
/// with the command's `--set` values: every required parameter set for `plan` and `run`, unless
/// the command is guided (it asks) or `elided` (an ellipsis stands for more arguments).
pub fn check_runbook(cli: &Cli, cwd: &Path, elided: bool) -> Result<(), String> {
    use lifeboat::cli::runbooks::RunbooksCommand;
    let (arg, sets): (&Path, &[(String, String)]) = match &cli.command {
        Command::Plan(a) => (&a.runbook, &a.set),
        Command::Graph(a) => (&a.runbook, &a.set),
        Command::Run(a) => (&a.runbook, &a.set),
        Command::Drill(a) => match &a.runbook {
            Some(r) => (r, &[]),
            None => return Ok(()),
        },
        Command::Runbooks(RunbooksCommand::Show(a)) => (&a.runbook, &[]),
        Command::Runbooks(RunbooksCommand::Export(a)) => {
            return builtin::get(&a.name)
                .map(|_| ())
                .ok_or_else(|| format!("no built-in runbook is named {}", a.name));
        }
        _ => return Ok(()),
    };
    let (shown, text) = match builtin::resolve_in(cwd, arg) {
        Ok(Resolved::Builtin(b)) => (b.display_path(), b.source.to_string()),
        Ok(Resolved::File(p)) => match std::fs::read_to_string(&p) {
            Ok(t) => (p, t),
            // `runbooks show` of any file prints it; the others need a runbook.
            Err(e) => return Err(format!("cannot read runbook {}: {e}", arg.display())),
        },
        Err(e) => {
            let e = lifeboat::error::UserError::from(e);
            return Err(e.to_string());
        }
    };
    let complete = match &cli.command {
        Command::Runbooks(_) | Command::Drill(_) => return Ok(()),
        // Guided mode asks for what is missing; an ellipsis stands for more `--set`s.
        Command::Run(a) => !a.guided && !elided,
        Command::Plan(_) => !elided,
        _ => false,
    };
    let checked = if complete {
        lifeboat::runbook::load_str(&shown, &text, sets).map(|_| ())
    } else {
        lifeboat::runbook::load_str_for_graph(&shown, &text, sets).map(|_| ())
    };
    checked.map_err(|e| format!("the runbook refuses it: {e}"))
}

/// Why a parsed command is not run against the simulator, or `None` when it is.
pub fn parse_only(cli: &Cli, v: &Variant) -> Option<&'static str> {
    use lifeboat::azure::AuthMode;
    let remote = v.args.iter().any(|a| {
        a.contains("az://")
            || ((a.contains("http://") || a.contains("https://"))
                && !a.contains("://127.0.0.1")
                && !a.contains("://localhost"))
    });
    if remote {
        return Some("names a real Azure endpoint");
    }
    if !matches!(cli.globals.auth, AuthMode::None | AuthMode::Auto) {
        return Some("uses a real credential");
    }
    if !v.env.is_empty() && v.env.iter().any(|(k, _)| k.starts_with("AZURE")) {
        return Some("uses a real credential");
    }
    match &cli.command {
        Command::Run(_) | Command::Resume(_) => {
            Some("drives a recovery (runbook and --set checked)")
        }
        Command::Status(a) if a.watch => Some("follows a run until it ends"),
        Command::Sim(_) => Some("serves until stopped"),
        Command::Drill(a) if a.command.is_some() => None,
        Command::Drill(a) if a.live => Some("rehearses on real Azure"),
        Command::Drill(a) if a.tenant == "large" => Some("a large drill takes minutes"),
        Command::Drill(_) if !v.base => Some("a drill takes seconds: its first variant runs"),
        _ => None,
    }
}

/// Why a finished run of the binary means the document is wrong, if it does.
pub fn docs_wrong(out: &std::process::Output) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    let why = if code.is_none() {
        "it was killed (it did not end)".to_string()
    } else if code == Some(101) || stderr.contains("panicked") {
        "it panicked".to_string()
    } else if stderr.contains("For more information, try '--help'")
        || stderr.contains("unexpected argument")
        || stderr.contains("unrecognized subcommand")
    {
        "clap refuses it".to_string()
    } else if stderr.contains("cannot read runbook") || stderr.contains("no built-in runbook") {
        "its runbook cannot be found".to_string()
    } else if stderr.contains("does not exist in this run") {
        "it names a step the region-outage runbook does not have".to_string()
    } else if stderr.contains("names unknown parameter") {
        "it sets a parameter the runbook does not declare".to_string()
    } else {
        return None;
    };
    Some(format!("{why} (exit {code:?}): {}", stderr.trim()))
}

#[cfg(test)]
mod tests {
    use super::super::extract::{extract, variants, Placeholders};
    use super::*;

    fn ph() -> Placeholders {
        Placeholders {
            run: "doc-run".into(),
            step: "kick-off".into(),
            port: 1,
            file: "/nonexistent/file.yaml".into(),
            dir: "/nonexistent/dir".into(),
            home: "/nonexistent/home".into(),
        }
    }

    /// The failures of a snippet's commands, checked in-process from an empty directory.
    fn failures(md: &str) -> Vec<String> {
        let cwd = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        for cmd in extract("snippet.md", md) {
            for v in variants(&cmd, &ph()) {
                let r = parse(&cmd, &v).and_then(|cli| match cli {
                    Some(cli) => check_runbook(&cli, cwd.path(), v.elided),
                    None => Ok(()),
                });
                if let Err(why) = r {
                    out.push(format!("{}: {why}", cmd.place()));
                }
            }
        }
        out
    }

    #[test]
    fn a_misspelt_flag_in_a_doc_snippet_is_caught_with_its_place() {
        let md = "Start:\n\n```sh\nlifeboat plan region-outage --sett failed_region=R\n```\n";
        let f = failures(md);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].starts_with("snippet.md:4: clap refuses it"), "{f:?}");
        assert!(f[0].contains("--sett"), "{f:?}");
        // Inline, and in a synopsis' optional group.
        let f = failures(
            "Use `lifeboat status RUN --wach`.\n```\nlifeboat drill [--scenari crash]\n```\n",
        );
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].starts_with("snippet.md:1:") && f[1].starts_with("snippet.md:3:"), "{f:?}");
        // An elided flag value: the flag must exist all the same.
        let f = failures("`lifeboat resume RUN --api-verison ...`\n");
        assert!(f.len() == 1 && f[0].contains("has no flag --api-verison"), "{f:?}");
    }

    #[test]
    fn a_runbook_path_of_the_checkout_and_an_unknown_parameter_are_caught() {
        let f = failures("`lifeboat run runbooks/region-outage.yaml --guided`\n");
        assert!(
            f.len() == 1 && f[0].contains("cannot read runbook runbooks/region-outage.yaml"),
            "{f:?}"
        );
        let f = failures("`lifeboat plan region-outage --set failed_regoin=R`\n");
        assert!(f.len() == 1 && f[0].contains("failed_regoin"), "{f:?}");
        // Required parameters: set, or asked for (guided), or elided.
        let f = failures("`lifeboat run region-outage --sign-key FILE`\n");
        assert!(f.len() == 1 && f[0].contains("required parameter 'failed_region'"), "{f:?}");
        let f = failures("`lifeboat runbooks export region-outag DIR`\n");
        assert!(f.len() == 1 && f[0].contains("region-outag"), "{f:?}");
    }

    #[test]
    fn commands_as_the_docs_write_them_pass() {
        let md = "\
            `lifeboat run region-outage --guided`, `lifeboat backup create`, `lifeboat help COMMAND`\n\
            `lifeboat resume RUN --api-version ...`, `lifeboat --help`\n\
            ```\n\
            lifeboat drill [--scenario region-outage|throttled] [--tenant small|large|FILE]\n\
            \x20              [--auth ...]\n\
            lifeboat run region-outage ... --set backup=none\n\
            ```\n";
        assert_eq!(failures(md), Vec::<String>::new());
    }
}
