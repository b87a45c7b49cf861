//! HTTP: the metering engine served over HTTP (`server`, with `access` control), and the
//! simulator's way of driving an engine over HTTP (`client`). **Invariant:** apart from the load
//! generator (`crate::load`, another client), this is the only module that speaks HTTP; it turns
//! the CloudEvents JSON of `event::wire` into typed events and calls the same `MeteringEngine`
//! interface the simulator uses in-process.

pub mod access;
mod access_thread;
pub mod billing_routes;
pub mod client;
pub mod clock;
pub mod health_routes;
pub mod key_routes;
mod limits;
pub mod metered_routes;
mod metrics;
pub mod plan_routes;
mod problem;
pub mod server;
mod writer;

/// Media types accepted on `POST /v1/events`.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
pub const CLOUDEVENTS_BATCH_JSON: &str = "application/cloudevents-batch+json";

/// The header carrying the administrator's token (also accepted as `Authorization: Bearer`).
pub const ADMIN_TOKEN_ENV: &str = "FLEETSIM_ADMIN_TOKEN";
