//! defect 11: journaled text that carries Markdown link, image or HTML syntax, or bidirectional
//! controls (U+202E), is inert in every export. A run of its own (not the shared scenario, whose
//! snapshots stay readable): hostile text in a step's declared input and its output, a gate's
//! prompt, a manual task's instructions, the approval comment, the attestation evidence, the skip
//! reason and the approver's OS user name.

use super::*;

pub const HOSTILE_RUN: &str = "hostile-1";
const APPROVER: &str = "[mallory](javascript:alert(5))\u{202E}nimda";
const COMMENT: &str = "ok [x](javascript:alert(1)) ![](https://evil.example/x.png) <script>alert(1)</script> see www.evil.example or soc@evil.example \u{202E}gnp.exe";
const EVIDENCE: &str = "![img](https://evil.example/e.png) <a href=\"https://evil.example/\">link</a> `code` | pipe \u{2066}isolated\u{2069}";
const REASON: &str =
    "# heading [r](http://evil.example) <iframe src=x></iframe> \u{202E}\u{202D}\u{200F}\u{61C}";

/// Every bidirectional control the exports must neutralise.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

struct Hostile {
    state: PathBuf,
    journal: PathBuf,
}

fn hostile() -> &'static Hostile {
    static H: OnceLock<Hostile> = OnceLock::new();
    H.get_or_init(|| {
        let root =
            tempfile::Builder::new().prefix("lifeboat-audit-hostile-").tempdir().unwrap().keep();
        let state = root.join("state");
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/hostile.yaml"),
        )
        .unwrap()
        .replace("@FX@", &root.join("effects.txt").display().to_string());
        let rb = root.join("hostile.yaml");
        std::fs::write(&rb, text).unwrap();
        run_ok(lifeboat(&state).arg("run").arg(&rb).args(["--run-id", HOSTILE_RUN]), &[3]);
        run_ok(
            lifeboat(&state).env("USER", APPROVER).args([
                "approve",
                HOSTILE_RUN,
                "go-ahead",
                "--comment",
                COMMENT,
            ]),
            &[0],
        );
        run_ok(lifeboat(&state).args(["resume", HOSTILE_RUN]), &[1, 3]);
        run_ok(
            lifeboat(&state).args(["attest", HOSTILE_RUN, "notify", "--evidence", EVIDENCE]),
            &[0],
        );
        run_ok(lifeboat(&state).args(["skip", HOSTILE_RUN, "cleanup", "--reason", REASON]), &[0]);
        run_ok(lifeboat(&state).args(["resume", HOSTILE_RUN]), &[0]);
        let journal = journal_path(&state, HOSTILE_RUN);
        Hostile { state, journal }
    })
}

fn export_hostile(format: &str) -> String {
    let h = hostile();
    let out =
        run_ok(lifeboat(&h.state).args(["audit", "export", HOSTILE_RUN, "--format", format]), &[0]);
    String::from_utf8(out.stdout).expect("exports are UTF-8")
}

/// Links, images, raw HTML and math that pulldown-cmark (CommonMark + GFM tables, footnotes,
/// math) finds in a document, and the text a reader sees.
fn pulldown(doc: &str) -> (Vec<String>, String) {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_MATH
        | Options::ENABLE_GFM;
    let (mut bad, mut text) = (Vec::new(), String::new());
    for ev in Parser::new_ext(doc, opts) {
        match ev {
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::Html(h) | Event::InlineHtml(h) => bad.push(format!("html {h}")),
            Event::InlineMath(m) | Event::DisplayMath(m) => bad.push(format!("math {m}")),
            Event::Start(Tag::Link { dest_url, .. }) => bad.push(format!("link {dest_url}")),
            Event::Start(Tag::Image { dest_url, .. }) => bad.push(format!("image {dest_url}")),
            _ => {}
        }
    }
    (bad, text)
}

/// The HTML comrak (cmark-gfm: tables, extended autolinks, strikethrough, footnotes, raw HTML
/// passed through) renders from a document.
fn comrak_html(doc: &str) -> String {
    let mut opts = comrak::Options::default();
    opts.extension.table = true;
    opts.extension.autolink = true;
    opts.extension.strikethrough = true;
    opts.extension.footnotes = true;
    opts.render.r#unsafe = true;
    comrak::markdown_to_html(doc, &opts)
}

#[test]
fn defect_11_markdown_export_has_no_link_image_or_html_from_journaled_text() {
    let md = export_hostile("md");
    let (bad, text) = pulldown(&md);
    assert!(bad.is_empty(), "pulldown-cmark renders {bad:?} from\n{md}");
    let mut html = String::new();
    pulldown_cmark::html::push_html(
        &mut html,
        pulldown_cmark::Parser::new_ext(&md, pulldown_cmark::Options::ENABLE_TABLES),
    );
    for (renderer, html) in [("pulldown-cmark", html), ("comrak", comrak_html(&md))] {
        // Text `<` is rendered as `&lt;`: a tag here is one the renderer made.
        for tag in ["<a ", "<img", "<script", "<iframe", "<math"] {
            assert!(
                !html.contains(tag),
                "{renderer} renders {tag} from the Markdown export:\n{html}"
            );
        }
    }
    // And the reader sees what was journaled, as text (the controls shown as code points).
    for journaled in [COMMENT, EVIDENCE, REASON, APPROVER, "<script>alert(4)</script>"] {
        let shown: String = journaled
            .chars()
            .map(|c| if is_bidi(c) { format!("<U+{:04X}>", c as u32) } else { c.to_string() })
            .collect();
        assert!(text.contains(&shown), "the Markdown does not show {shown:?} as text:\n{text}");
    }
}

#[test]
fn defect_11_bidi_controls_are_neutralised_in_csv_html_junit_and_markdown() {
    let journal = std::fs::read_to_string(&hostile().journal).unwrap();
    assert!(journal.contains('\u{202E}'), "the journal keeps what was typed");
    for format in ["csv", "html", "junit", "md"] {
        let t = export_hostile(format);
        let found: Vec<String> =
            t.chars().filter(|c| is_bidi(*c)).map(|c| format!("U+{:04X}", c as u32)).collect();
        assert!(found.is_empty(), "the {format} export carries {found:?}");
        assert!(t.contains("U+202E"), "the {format} export does not show the override");
        // The skip reason (in every format) and the evidence (not in JUnit).
        assert!(t.contains("U+200F") && t.contains("U+061C"), "{format}");
        assert!(format == "junit" || t.contains("U+2066"), "{format}");
    }
    // The JSONL export is the journal byte for byte (the evidence `audit verify` checks), so it
    // keeps them: documented in docs/auditor.md.
    assert_eq!(export_hostile("jsonl"), journal);
}

#[test]
fn hostile_text_stays_inert_in_html_and_junit() {
    let html = export_hostile("html");
    for tag in ["<script", "<img", "<iframe", "<a ", "href=", "src="] {
        assert!(!html.contains(tag), "the HTML contains {tag}");
    }
    let junit = export_hostile("junit");
    assert!(!junit.contains("<iframe") && junit.contains("&lt;iframe"), "{junit}");
}
