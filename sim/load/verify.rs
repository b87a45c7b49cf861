//! After the run: did the server store every acknowledged event exactly once?
//!
//! The generator knows what each fresh batch held and what became of it (acknowledged, refused,
//! or unanswered); the server's usage for the plan's shops is read before and after the run.
//! Its growth must equal the acknowledged events (nothing lost, nothing counted twice), up to
//! the unanswered batches, which may or may not have been stored.

use super::driver::{BatchState, Outcome, Receipts};
use super::events::Tally;
use super::report::Verification;
use super::{LoadError, LoadPlan};

pub(super) fn skipped(reason: &str) -> Verification {
    Verification {
        status: "skipped",
        detail: reason.to_string(),
        ..Verification::default()
    }
}

/// What the acknowledged and unanswered batches held.
fn expected(plan: &LoadPlan, outcome: &Outcome) -> (Tally, Tally) {
    let (mut acked, mut unknown) = (Tally::default(), Tally::default());
    for (batch, state) in outcome.batches.iter().enumerate() {
        match state {
            BatchState::Acked => acked.add(plan.events.tally(batch as u64)),
            BatchState::Unknown => unknown.add(plan.events.tally(batch as u64)),
            BatchState::NotSent | BatchState::Refused => {}
        }
    }
    (acked, unknown)
}

/// Checks that the usage grew by exactly the acknowledged events (no loss, no double count);
/// batches without an answer may or may not have been stored, so they widen the range.
pub(super) fn verify(
    plan: &LoadPlan,
    outcome: &Outcome,
    before: Tally,
    after: Result<Tally, LoadError>,
) -> Verification {
    let (acknowledged, unknown) = expected(plan, outcome);
    let after = match after {
        Ok(after) => after,
        Err(e) => {
            return Verification {
                status: "error",
                detail: format!("usage could not be read after the run: {e}"),
                acknowledged,
                unknown,
                stored: None,
            }
        }
    };
    let growth = after
        .billable_mountings
        .checked_sub(before.billable_mountings)
        .zip(after.trace_only.checked_sub(before.trace_only));
    let Some((billable_mountings, trace_only)) = growth else {
        return Verification {
            status: "failed",
            detail: format!(
                "usage went down during the run ({before:?} before, {after:?} after): was the \
                 store replaced?"
            ),
            acknowledged,
            unknown,
            stored: None,
        };
    };
    let stored = Tally {
        billable_mountings,
        trace_only,
    };
    let problem = storage_problem(&acknowledged, &unknown, &stored, &outcome.totals.receipts);
    let detail = problem.clone().unwrap_or_else(|| {
        let extra = stored.total() - acknowledged.total();
        format!(
            "{} acknowledged events stored exactly once ({} billable mountings, {} trace-only){}",
            acknowledged.total(),
            acknowledged.billable_mountings,
            acknowledged.trace_only,
            if unknown.total() > 0 {
                format!(
                    "; {extra} of {} events without an answer were stored too",
                    unknown.total()
                )
            } else {
                String::new()
            }
        )
    });
    Verification {
        status: if problem.is_some() { "failed" } else { "ok" },
        detail,
        acknowledged,
        unknown,
        stored: Some(stored),
    }
}

/// Why the stored usage does not match what was acknowledged, if it does not.
fn storage_problem(
    acked: &Tally,
    unknown: &Tally,
    stored: &Tally,
    receipts: &Receipts,
) -> Option<String> {
    let rejected = receipts.rejected_unknown_machine + receipts.rejected_wrong_shop;
    if rejected > 0 {
        return Some(format!(
            "{rejected} events were rejected ({} unknown machine, {} wrong shop): \
             provision the machines (--admin-token)",
            receipts.rejected_unknown_machine, receipts.rejected_wrong_shop
        ));
    }
    let columns = [
        (
            "billable mountings",
            acked.billable_mountings,
            unknown.billable_mountings,
            stored.billable_mountings,
        ),
        (
            "trace-only cycles",
            acked.trace_only,
            unknown.trace_only,
            stored.trace_only,
        ),
    ];
    let exact = unknown.total() == 0 && receipts.unreadable == 0;
    if exact && stored.total() < acked.total() && receipts.accepted < acked.total() {
        return Some(format!(
            "{} acknowledged events were reported as duplicates and are not in the usage: ids \
             reused from an earlier run on this store? use a fresh store, or the previous \
             run's next_first_seq as --first-seq; otherwise they were lost",
            acked.total() - receipts.accepted
        ));
    }
    for (what, acked, unknown, stored) in columns {
        if stored < acked {
            return Some(format!(
                "{} acknowledged {what} lost: {acked} acknowledged, usage grew by {stored}",
                acked - stored
            ));
        }
        if stored > acked + unknown {
            return Some(format!(
                "{} {what} counted twice: {} sent at most, usage grew by {stored}",
                stored - acked - unknown,
                acked + unknown
            ));
        }
    }
    let total = stored.total();
    if exact && receipts.accepted != total {
        return Some(format!(
            "the receipts say {} events accepted, but usage grew by {total}",
            receipts.accepted
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(billable: u64, trace: u64) -> Tally {
        Tally {
            billable_mountings: billable,
            trace_only: trace,
        }
    }

    fn receipts(accepted: u64) -> Receipts {
        Receipts {
            accepted,
            ..Receipts::default()
        }
    }

    #[test]
    fn storage_must_match_what_was_acknowledged() {
        let none = Tally::default();
        assert_eq!(
            storage_problem(&tally(75, 25), &none, &tally(75, 25), &receipts(100)),
            None
        );
        let lost = storage_problem(&tally(75, 25), &none, &tally(74, 25), &receipts(100));
        assert!(lost
            .unwrap()
            .contains("1 acknowledged billable mountings lost"));
        let twice = storage_problem(&tally(75, 25), &none, &tally(75, 26), &receipts(100));
        assert!(twice.unwrap().contains("counted twice"));
        // Unanswered batches may or may not be stored.
        assert_eq!(
            storage_problem(&tally(75, 25), &tally(7, 3), &tally(80, 27), &receipts(100)),
            None
        );
        // A re-run on the same store: everything acknowledged as duplicates.
        let reused = storage_problem(&tally(75, 25), &none, &none, &receipts(0));
        assert!(reused.unwrap().contains("reported as duplicates"));
    }
}
