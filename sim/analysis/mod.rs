//! Judging a tariff on a fleet (issue 12): pure functions of what shops paid, what they used
//! and what serving them cost. Nothing here reads an engine, a store or the simulation: the
//! inputs are invoices' totals in cents, mountings and costs, so any run's outputs can be
//! judged again.
//!
//! - `fairness`: the volume-weighted Gini of the price per mounting, the Lorenz curve,
//!   weighted quantiles, the spread of monthly bills, rank correlation;
//! - `subsidy`: Faulhaber's stand-alone and incremental cost tests on shops and segments.
//!
//! - `tariffs`: every pricing alternative of a run judged with them, on the cost game.

pub mod fairness;
pub mod subsidy;
pub mod tariffs;
