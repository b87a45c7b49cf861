//! Predictive maintenance measured (`[service.predictive]`): the run's field figures against
//! the same scenario simulated again with the policy off — same seed, same fleet, same demand
//! (a shop's jobs come from its own streams, which no failure or visit draws from).
//!
//! The second simulation needs no engine: the desk is all that reads the engine, and it is
//! off. Its batches are drained as they come (`run::simulate_without_engine`), and its figures come
//! from its own truth and repairs, exactly as the run's do.

use super::outcome::{FieldFigures, FieldOutcome, PredictiveComparison};
use crate::calendar::Calendar;
use crate::fleet::Fleet;
use crate::scenario::Scenario;
use std::sync::Arc;

/// With the policy on, the comparison of `with` (the run's figures) against the same
/// scenario without it; `None` with the policy off.
pub fn with_and_without(
    scenario: &Scenario,
    with: FieldFigures,
    threads: usize,
) -> Result<Option<PredictiveComparison>, String> {
    if !scenario.service.enabled || scenario.service.predictive.is_none() {
        return Ok(None);
    }
    let without = without_policy(scenario, threads)?;
    Ok(Some(PredictiveComparison { with, without }))
}

/// The field figures of `scenario` simulated with predictive maintenance off.
pub fn without_policy(scenario: &Scenario, threads: usize) -> Result<FieldFigures, String> {
    let mut off = scenario.clone();
    off.service.predictive = None;
    let off = Arc::new(off);
    let fleet = Arc::new(Fleet::generate(&off));
    let calendar = Arc::new(Calendar::new(off.start, off.months));
    let outcome = crate::run::simulate_without_engine(&off, &fleet, &calendar, threads)?;
    let field = FieldOutcome::build(
        &off,
        &fleet,
        &calendar,
        &outcome.truth,
        &outcome.repairs,
        &outcome.preventive,
    );
    Ok(field.figures(&outcome.truth, &outcome.repairs, &outcome.preventive))
}
