//! fleetsim: an actor-based fleet simulator and load tester for pay-per-use machines.
//!
//! A run goes scenario → fleet → actors (one per shop, one per machine, one coordinator that
//! owns the virtual clock) → events → metering engine → billing engine → reconciliation
//! against the ground truth the actors kept → reports. See ARCHITECTURE.md for the map.

pub mod actors;
pub mod analysis;
pub mod billing;
pub mod budget;
pub mod calendar;
pub mod cli;
pub mod cluster;
pub mod demand;
pub mod event;
pub mod exit;
pub mod fleet;
pub mod gate;
pub mod http;
pub mod input;
pub mod load;
pub mod metering;
pub mod money;
pub mod pricing;
pub mod progress;
pub mod quote;
pub mod reconcile;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod service;
pub mod threshold;
pub mod truth;
pub mod units;
