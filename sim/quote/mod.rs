//! The click-price calculator (`fleetsim quote`, issue #4 part 5): from a shop's audited
//! activity, choose the machines that fit and compute the price per mounting that covers the
//! expected cost to serve over the term plus a target margin, within bounds, explained line
//! by line.
//!
//! - `audit`: what the shop did over the audit period (from a simulation or a CSV history,
//!   `history`);
//! - `costs`: the parametric cost-to-serve model, every parameter from calibration.md;
//! - `price`: machine choice, cost over the term, margin, rounding, bounds;
//! - `explain`: the computation as numbered lines (text) or JSON;
//! - `backtest`: a run's out-of-sample check (`[quote]`): each shop priced from its first
//!   months, then the price compared with the realised cost plus margin of the months billed;
//! - `command`: the `fleetsim quote` subcommand.
//!
//! **Invariant:** no float in any money or rate computation: `Decimal` throughout.

pub mod audit;
pub mod backtest;
pub mod command;
pub mod costs;
pub mod explain;
pub mod history;
pub mod price;

pub use audit::Audit;
pub use costs::CostModel;
pub use price::{quote, quote_on, Clamp, Config, Quote, Terms};
