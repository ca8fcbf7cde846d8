//! Integration tests of the drill report: its verdict, its JSON against the shipped JSON Schema,
//! its HTML through the Nu HTML Checker, its JUnit XML through an XSD, the terminal summary
//! (insta), the drill history and its trend (flags, SVG charts), and both pages in headless
//! Chromium (`browser`).
//!
//! External validators are found through `LIFEBOAT_TEST_VNU_JAR` (the `vnu.jar` of the npm package
//! `vnu-jar`, run with `java`) and `LIFEBOAT_TEST_XMLLINT` (or `xmllint` on PATH); `.ci/validators.sh
//! install` installs both and `.ci/validators.sh env` prints the exports. Without them a test prints
//! a note and skips its external check, except under `CI`, where a missing validator fails.

mod browser;
mod fixtures;
mod history;
mod html;
mod junit;
mod schema;
mod summary;
mod trend;
mod verdict;

pub use crate::support::repo;
pub use crate::support::validators::validator;
