//! The field: machines that wear and fail, the service organisations that repair them, and
//! what serving each shop costs (issue 11).
//!
//! Pieces, each with one job:
//! - `spec`: the `[service]` parameters with their calibrated defaults (calibration.md);
//! - `wear`: grinding-wheel wear per job, wheel and tool consumption, the health telemetry;
//! - `failure`: a machine's failure process (power law in pairs edged) and what each failure
//!   needs (cause, remote fix or visit, time on site, parts, parts to order);
//! - `region`: the 13 metropolitan regions, which shop is where, travel distances;
//! - `dispatch`: a region's service organisation: technicians with working hours, the remote
//!   desk, loaners; turns failures (in time, shop, machine order) into repairs.
//!
//! A region never needs state from another region (a later cluster mode places regions on
//! different nodes). Every draw comes from a named stream per machine or region
//! (`rng::Purpose`), made only when the thing happens: with `[service]` off, the event stream is
//! byte-identical to a run without this module.

pub mod compare;
pub mod cost;
pub mod dispatch;
pub mod failure;
pub mod incidents;
pub mod ingest;
pub mod org;
pub mod outcome;
pub mod predictive;
pub mod region;
pub mod spec;
pub mod start;
pub mod technician;
pub mod wear;

pub use spec::ServiceSpec;

use crate::calendar::DayIndex;
use crate::event::{MachineId, ShopId};
use serde::Serialize;

/// Why a machine stopped (calibration.md "Wear, failures, service", E).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Cause {
    ToolsWear = 0,
    Clamping = 1,
    TracerBlocker = 2,
    SoftwareComms = 3,
    WaterPump = 4,
    SpindleMotor = 5,
}

impl Cause {
    pub const ALL: [Cause; 6] = [
        Cause::ToolsWear,
        Cause::Clamping,
        Cause::TracerBlocker,
        Cause::SoftwareComms,
        Cause::WaterPump,
        Cause::SpindleMotor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ToolsWear => "tools_wear",
            Cause::Clamping => "clamping",
            Cause::TracerBlocker => "tracer_blocker",
            Cause::SoftwareComms => "software_comms",
            Cause::WaterPump => "water_pump",
            Cause::SpindleMotor => "spindle_motor",
        }
    }

    /// The cause a wire name (`as_str`) names.
    pub fn parse(name: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The code a store keeps (the discriminant, 0 to 5).
    pub fn from_code(code: i64) -> Option<Cause> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Cause::ALL.get(i).copied())
    }
}

/// A failure as the machine knows it when it happens: the cause and what the repair will
/// need, all drawn at that moment from the machine's failure stream. Whether it is fixed
/// remotely, when a technician comes and whether a loaner is installed is the service
/// organisation's business (`dispatch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub machine: MachineId,
    pub shop: ShopId,
    /// Unix seconds: the machine stops.
    pub time: i64,
    pub day: DayIndex,
    pub cause: Cause,
    /// A remote session (the desk) can fix it: no visit needed.
    pub remote_fixable: bool,
    /// Technician time on site if a visit is needed.
    pub on_site_minutes: u32,
    /// Parts used, at cost, in cents (0 for a remote fix).
    pub parts_cents: i64,
    /// Working days to get the parts (0: in the technician's van). A repair waiting for
    /// parts is what a loaner is for.
    pub parts_order_days: u32,
    /// The repair replaces the control board: the machine's counters restart at 0.
    pub board_swap: bool,
}

impl Repair {
    /// The loaner standing in, and from when until when: installed when the shop can edge
    /// again, taken back when its own machine is (`None`: no loaner, or none needed).
    pub fn loan(&self) -> Option<(MachineId, i64, i64)> {
        let loaner = self.loaner.filter(|_| self.restored < self.returned)?;
        Some((loaner, self.restored, self.returned))
    }
}

/// What the service organisation did about one failure (or a preventive visit): the measured
/// times of `billing::service::Incident`, and the costs behind the cost to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repair {
    pub failure: Failure,
    /// Unix seconds: someone (desk or technician) is working on it.
    pub responded: i64,
    /// Unix seconds: the shop can edge again (its own machine repaired, or a loaner in).
    pub restored: i64,
    /// Unix seconds: the shop's own machine is back (after a loaner episode), else `restored`.
    pub returned: i64,
    pub remote: bool,
    pub visits: u32,
    /// Technician time (remote session or on site), for labour.
    pub labour_minutes: u32,
    /// Road distance driven for the repair, both ways, all visits.
    pub travel_km: u32,
    pub travel_minutes: u32,
    /// The loaner installed for the repair, if one was.
    pub loaner: Option<MachineId>,
}
