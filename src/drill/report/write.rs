//! Writing a report directory.

use super::{render_html, render_html_with_trend, render_junit, to_json, DrillReport, Trend};
use crate::fsutil::{with_path, write_atomic};
use std::io;
use std::path::{Path, PathBuf};

/// The files [`write_all`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub json: PathBuf,
    pub html: PathBuf,
    pub junit: Option<PathBuf>,
}

/// Writes `report.json` and `report.html` into `dir` (created if missing) and, when asked, the
/// JUnit XML to `junit`. Each file goes through [`write_atomic`] (a temporary sibling, fsync'd and
/// renamed), so a reader (a pipeline's artifact upload, a browser) never sees half a report.
pub fn write_all(report: &DrillReport, dir: &Path, junit: Option<&Path>) -> io::Result<Written> {
    write(report, None, dir, junit)
}

/// [`write_all`] with the trend section in `report.html` (`render_html_with_trend`).
pub fn write_all_with_trend(
    report: &DrillReport,
    trend: &Trend,
    dir: &Path,
    junit: Option<&Path>,
) -> io::Result<Written> {
    write(report, Some(trend), dir, junit)
}

fn write(
    report: &DrillReport,
    trend: Option<&Trend>,
    dir: &Path,
    junit: Option<&Path>,
) -> io::Result<Written> {
    std::fs::create_dir_all(dir).map_err(|e| with_path(e, "create report directory", dir))?;
    let html = match trend {
        Some(t) => render_html_with_trend(report, t),
        None => render_html(report),
    }
    .map_err(io::Error::other)?;
    let json_path = dir.join("report.json");
    let html_path = dir.join("report.html");
    write_atomic(&json_path, to_json(report).as_bytes())?;
    write_atomic(&html_path, html.as_bytes())?;
    let junit_path = match junit {
        Some(p) => {
            if let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| with_path(e, "create directory", parent))?;
            }
            write_atomic(p, render_junit(report).as_bytes())?;
            Some(p.to_path_buf())
        }
        None => None,
    };
    Ok(Written { json: json_path, html: html_path, junit: junit_path })
}
