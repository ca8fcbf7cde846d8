//! A live drill's evidence in its report (`live`, `mode: live` only): every write the run
//! journaled (the audit record's effects), each checked against the production connector's ID;
//! the writes the client's guard refused; what the drill did not rehearse. The checks are
//! derived here by [`DrillReport::judge_live`] (called by `compute_verdict`), never set by hand:
//! a report cannot claim "0 writes to production" its own list contradicts.

use super::DrillReport;
use serde::{Deserialize, Serialize};

/// What a live drill proves about its writes, and what it did not rehearse.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LiveEvidence {
    /// The production connector's resource ID: the drill must not write to it or below it.
    pub production: String,
    /// The drill's second connector, once created.
    pub drill_connector: Option<String>,
    /// Every write the run journaled (an effect whose method is not a read), in journal order.
    pub writes: Vec<WriteEffect>,
    /// How many of `writes` target the production connector or its children: derived from
    /// `writes` by [`DrillReport::judge_live`]. Anything but 0 fails the drill.
    pub writes_to_production: u64,
    /// Writes the drill's client refused before sending them (its guard: the production
    /// connector and its children). Any fails the drill: a step tried to write to production.
    pub refused_by_guard: Vec<String>,
    /// Write requests (PUT, PATCH, DELETE) the client sent during the run that no journaled
    /// effect records: the record would be incomplete. Any fails the drill.
    pub unrecorded_writes: Vec<String>,
    /// What the drill did not rehearse, and why.
    pub not_rehearsed: Vec<NotRehearsed>,
    /// What the drill's cleanup ledger still had to remove after the run (`lifeboat drill
    /// --cleanup` does the same after an interrupted drill): empty when the runbook's own
    /// cleanup step removed everything.
    pub ledger_cleanup: Vec<LedgerCleanup>,
}

/// One journaled write of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteEffect {
    /// `STEP` or `STEP#N`.
    pub step: String,
    pub method: String,
    /// The resource ID written (or acted on).
    pub target: String,
    pub status: Option<u16>,
    /// Whether `target` is the production connector or one of its children: derived.
    pub to_production: bool,
}

/// Something the live drill did not rehearse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotRehearsed {
    pub what: String,
    pub why: String,
    /// `true`: a live drill never rehearses it (Microsoft's release, promoting the new
    /// connector, deleting the old one: they would touch production). `false`: this drill could
    /// have and did not (e.g. no OAuth code): the verdict is then PARTIAL at best.
    pub by_design: bool,
}

/// What the ledger cleanup after the run did with one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerCleanup {
    pub resource: String,
    /// `deleted`, `closed`, `already gone`, `kept: …` or `failed: …`.
    pub result: String,
    pub ok: bool,
}

/// Whether `target` is `production` or below it (ARM IDs compare case-insensitively; a trailing
/// `/` or a query changes nothing; a sibling whose name merely starts with production's is not).
pub fn under_production(production: &str, target: &str) -> bool {
    let p = production.trim_end_matches('/').to_ascii_lowercase();
    let t = target.split('?').next().unwrap_or("").trim_end_matches('/').to_ascii_lowercase();
    !p.is_empty() && (t == p || t.starts_with(&format!("{p}/")))
}

impl DrillReport {
    /// A live drill's share of the verdict (nothing without `live`): every write checked against
    /// production (`to_production`, `writes_to_production` set here), refused and unrecorded
    /// writes, and what was not rehearsed. Pushes to `fails`, to `partial` (rehearsable but not
    /// rehearsed) and to `oks`.
    pub(super) fn judge_live(
        &mut self,
        oks: &mut Vec<String>,
        fails: &mut Vec<String>,
        partial: &mut Vec<String>,
    ) {
        let Some(live) = self.live.as_mut() else { return };
        for w in &mut live.writes {
            w.to_production = under_production(&live.production, &w.target);
        }
        let bad: Vec<String> = live
            .writes
            .iter()
            .filter(|w| w.to_production)
            .map(|w| format!("{} {} ({})", w.method, w.target, w.step))
            .collect();
        live.writes_to_production = bad.len() as u64;
        if bad.is_empty() {
            oks.push(format!(
                "0 writes to production: the run journaled {} write(s), none to {} or its children",
                live.writes.len(),
                live.production
            ));
        } else {
            fails.push(format!(
                "{} write(s) to the production connector or its children: {}",
                bad.len(),
                bad.join("; ")
            ));
        }
        if !live.refused_by_guard.is_empty() {
            fails.push(format!(
                "the write guard refused {} write(s) to production (nothing was sent, but a step tried): {}",
                live.refused_by_guard.len(),
                live.refused_by_guard.join("; ")
            ));
        }
        if !live.unrecorded_writes.is_empty() {
            fails.push(format!(
                "{} write(s) were sent without a journaled effect, so the record proves nothing about them: {}",
                live.unrecorded_writes.len(),
                live.unrecorded_writes.join("; ")
            ));
        }
        for c in live.ledger_cleanup.iter().filter(|c| !c.ok) {
            fails.push(format!(
                "not cleaned up: {}: {} (run `lifeboat drill --cleanup {}`)",
                c.resource, c.result, self.run_id
            ));
        }
        let gaps: Vec<&NotRehearsed> = live.not_rehearsed.iter().filter(|n| !n.by_design).collect();
        for g in &gaps {
            partial.push(format!("not rehearsed: {} ({})", g.what, g.why));
        }
        let by_design = live.not_rehearsed.len() - gaps.len();
        if by_design > 0 {
            oks.push(format!(
                "{by_design} part(s) of the recovery a live drill never rehearses are listed as not rehearsed (Microsoft's release, promoting, deleting the old connector, ...)"
            ));
        }
    }

    /// The live drill's gaps: parts it could have rehearsed and did not.
    pub fn live_gaps(&self) -> usize {
        self.live.as_ref().map_or(0, |l| l.not_rehearsed.iter().filter(|n| !n.by_design).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_is_matched_by_id_prefix_not_by_name_prefix() {
        let p = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/securityConnectors/ado";
        assert!(under_production(p, p));
        assert!(under_production(p, &format!("{}/", p.to_uppercase())));
        assert!(under_production(p, &format!("{p}/devops/default/azureDevOpsOrgs/o")));
        assert!(under_production(p, &format!("{p}?api-version=1")));
        assert!(!under_production(p, &format!("{p}-drill-1")));
        assert!(!under_production(p, &format!("{p}-drill-1/devops/default")));
        assert!(!under_production(p, "/subscriptions/s/resourceGroups/rg"));
        assert!(!under_production("", p));
    }
}
