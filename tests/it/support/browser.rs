//! A real browser for HTML a person reads: headless Chromium from Debian's packages
//! (`/usr/bin/chromium`, installed by `.ci/run` when missing; `LIFEBOAT_TEST_CHROMIUM` names
//! another binary). Each call starts a fresh Chromium with a new empty profile and every
//! background network feature off (the machine has no network beyond the registries: without
//! these flags Chromium tries to reach its update and sync services).
//!
//! Without Chromium a test prints a loud note and skips, except under `CI`, where it fails: a
//! pipeline never passes unchecked.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Chromium, if present. Absent outside CI: a loud note and `None`; absent in CI: a panic.
pub fn chromium() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("LIFEBOAT_TEST_CHROMIUM").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(v);
        assert!(
            p.exists(),
            "LIFEBOAT_TEST_CHROMIUM points to {}, which does not exist",
            p.display()
        );
        return Some(p);
    }
    let mut candidates = vec![PathBuf::from("/usr/bin/chromium")];
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|d| d.join("chromium")));
    }
    if let Some(p) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(p);
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    if in_ci {
        panic!("chromium is missing in CI: .ci/run installs it (apt-get install -y --no-install-recommends chromium)");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: chromium is not installed, so this HTML was NOT checked in a real browser.\n\
         !!!!!!!! Install it with `apt-get install -y --no-install-recommends chromium` (as .ci/run does).\n"
    );
    None
}

/// What one headless Chromium run gave: its standard output and its log (standard error).
pub struct Rendered {
    pub stdout: String,
    pub log: String,
}

impl Rendered {
    /// The console messages the page produced (Chromium logs them as `CONSOLE` lines with
    /// `--enable-logging=stderr`).
    pub fn console(&self) -> Vec<&str> {
        self.log.lines().filter(|l| l.contains(":CONSOLE")).collect()
    }
}

fn run(chromium: &Path, page: &Path, extra: &[String]) -> Rendered {
    let profile = tempfile::tempdir().expect("tempdir for the Chromium profile");
    let page = page.canonicalize().expect("the page exists");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    let rendered = Rendered {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(out.status.success(), "chromium failed on {}: {}", page.display(), rendered.log);
    rendered
}

/// The page's DOM after Chromium parsed and laid it out (`--dump-dom`), in `stdout`.
pub fn dump_dom(chromium: &Path, page: &Path) -> Rendered {
    let r = run(chromium, page, &[String::from("--dump-dom")]);
    assert!(r.stdout.contains("</html>"), "no DOM dumped for {}: {}", page.display(), r.log);
    r
}

/// A PNG screenshot of the page at `width`×`height` CSS pixels, written to `png`.
pub fn screenshot(chromium: &Path, page: &Path, png: &Path, width: u32, height: u32) -> Rendered {
    let r = run(
        chromium,
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
            "--hide-scrollbars".into(),
        ],
    );
    assert!(png.is_file(), "no screenshot written for {}: {}", page.display(), r.log);
    r
}

/// Elements of `dom` (serialised markup) whose `class` attribute holds every one of `classes`.
pub fn count_class(dom: &str, classes: &[&str]) -> usize {
    dom.split("class=\"")
        .skip(1)
        .filter(|rest| {
            let value = rest.split('"').next().unwrap_or("");
            let tokens: Vec<&str> = value.split_whitespace().collect();
            classes.iter().all(|c| tokens.contains(c))
        })
        .count()
}

/// Decodes a PNG to 8-bit RGBA rows: (width, height, pixels).
pub fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 4]>) {
    let file = std::fs::File::open(path).expect("open png");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("png size fits in memory")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let bytes = &buf[..info.buffer_size()];
    let px: Vec<[u8; 4]> = match info.color_type {
        png::ColorType::Rgba => bytes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect(),
        png::ColorType::Rgb => bytes.chunks_exact(3).map(|c| [c[0], c[1], c[2], 255]).collect(),
        png::ColorType::GrayscaleAlpha => {
            bytes.chunks_exact(2).map(|c| [c[0], c[0], c[0], c[1]]).collect()
        }
        png::ColorType::Grayscale => bytes.iter().map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::Indexed => panic!("indexed PNG after normalize_to_color8"),
    };
    (info.width, info.height, px)
}
