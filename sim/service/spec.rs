//! `[service]`: the field's parameters. Every default is calibration.md's figure (E unless
//! said otherwise); README "Field service" tables them with their sources. Money is in cents.

use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The 13 metropolitan regions, in calibration.md's order ("Regions"): `RegionId(i)` is
/// `REGION_NAMES[i]`, and `[service.field.technicians]` is keyed by these names, spelt exactly so.
pub const REGION_NAMES: [&str; 13] = [
    "Île-de-France",
    "Auvergne-Rhône-Alpes",
    "Hauts-de-France",
    "Nouvelle-Aquitaine",
    "Occitanie",
    "Grand Est",
    "Provence-Alpes-Côte d'Azur",
    "Pays de la Loire",
    "Bretagne",
    "Normandie",
    "Bourgogne-Franche-Comté",
    "Centre-Val de Loire",
    "Corse",
];

/// What a shop does with its jobs while it has no working machine (per segment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DowntimePolicy {
    /// Ordered remote-edged from a lab: not billed, and no trace either (the tracer is down).
    RemoteEdge,
    /// The jobs wait and are edged once a machine works again.
    Wait,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WearSpec {
    /// Relative wheel wear per lens by material: 1.5 / 1.6 / 1.67+ / polycarbonate / mineral.
    pub by_material: [f64; 5],
    /// Extra wear per lens by frame (full rim / grooved + polished / drilled + polished).
    pub extra_by_frame: [f64; 3],
    /// A wheel set lasts this many lens-equivalents, uniform per set (8–15 k).
    pub wheel_life: (f64, f64),
    pub wheel_cents: i64,
    /// Grooving and drilling tools and bits per pair, by frame.
    pub tool_cents_by_frame: [i64; 3],
    /// Blocking pads, water, filter per mounting.
    pub sundries_cents_per_mounting: i64,
}

/// What one cause's repair needs (drawn per failure).
#[derive(Clone, Debug, PartialEq)]
pub struct CauseSpec {
    /// Share of all failures.
    pub share: f64,
    /// Probability that the remote desk can fix it.
    pub remote_fixable: f64,
    /// Minutes on site, uniform.
    pub on_site_minutes: (u32, u32),
    /// Parts at cost: lognormal median (cents) and sigma.
    pub parts_median_cents: i64,
    pub parts_sigma: f64,
    /// Probability that a visit needs parts ordered, and the working days they take.
    pub parts_order: f64,
    pub parts_order_days: (u32, u32),
    /// Probability that the telemetry shows a warning before the failure, and how many days
    /// before (what predictive maintenance can act on).
    pub precursor: f64,
    pub precursor_days: (u32, u32),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FailureSpec {
    /// Power-law shape in pairs edged (β > 1: failures come faster as the machine ages).
    pub shape: f64,
    /// ≈ 1.5 incidents a year, averaged over the term, for a machine edging the reference
    /// volume; the scale follows: Λ(term × reference) = term_years × rate.
    pub incidents_per_year_at_reference: f64,
    pub reference_pairs_per_year: f64,
    /// The machines are new at the contract's start; the power law's age is counted from it.
    pub term_years: f64,
    /// Indexed by `Cause as usize`.
    pub causes: [CauseSpec; 6],
    /// Share of software/comms visits that replace the control board (counters restart).
    pub board_swap_share: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldSpec {
    /// Technicians per 1,000 machines in a region (at least one per region with machines).
    pub technicians_per_1000_machines: f64,
    /// Technicians by region name, overriding the ratio.
    pub technicians_by_region: BTreeMap<String, u32>,
    /// Working hours (local = UTC in the simulation), Monday to Friday.
    pub day_starts_hour: u32,
    pub day_ends_hour: u32,
    pub road_kmh: f64,
    pub cents_per_km: i64,
    /// The provider's cost of an hour of technician time (labour and travel time).
    pub technician_cents_per_hour: i64,
    /// The remote desk answers within this many minutes during working hours.
    pub desk_response_minutes: u32,
    /// A remote session's length.
    pub remote_minutes: u32,
    /// On site at a first visit that finds parts must be ordered: the diagnosis, and the
    /// loaner's installation when one is promised (E; the repair itself is the second visit).
    pub diagnosis_minutes: u32,
    /// Loaner machines per 1,000 machines, per region.
    pub loaners_per_1000_machines: f64,
    /// Bringing a loaner in and taking it back (transport, set-up), per episode.
    pub loaner_logistics_cents: i64,
    /// Promises of shops without a catalogue service tier: the offer's full service.
    pub default_response_hours: u32,
    pub default_repair_hours: u32,
    pub default_loaner: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PredictiveSpec {
    /// Share of precursor warnings the policy acts on (the rest are missed).
    pub acts_on: f64,
    /// Minutes on site of a preventive visit.
    pub visit_minutes: u32,
    /// Parts of a preventive visit relative to the failure's (cheaper: nothing broke yet).
    pub parts_factor: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    /// Machines wear, fail and get repaired.
    pub enabled: bool,
    pub wear: WearSpec,
    pub failures: FailureSpec,
    pub field: FieldSpec,
    /// Chain, independent.
    pub downtime: [DowntimePolicy; 2],
    /// Predictive maintenance (`None`: off).
    pub predictive: Option<PredictiveSpec>,
    /// Machine price (cents) amortised over the term at the lease rate (V: ≈ 20 per 1,000 per
    /// month): the machine's share of the cost to serve.
    pub machine_cents: i64,
    pub lease_per_1000_per_month: Decimal,
}

/// E (no public figure): the desk acts on most warnings it sees; a preventive visit (wheel
/// change, pump service) takes an hour and half the parts of a repair (nothing broke yet).
impl Default for PredictiveSpec {
    fn default() -> Self {
        PredictiveSpec {
            acts_on: 0.9,
            visit_minutes: 60,
            parts_factor: 0.5,
        }
    }
}

fn cause(
    share: f64,
    remote_fixable: f64,
    on_site_minutes: (u32, u32),
    parts_median_cents: i64,
    parts_order: f64,
    precursor: f64,
) -> CauseSpec {
    CauseSpec {
        share,
        remote_fixable,
        on_site_minutes,
        parts_median_cents,
        parts_sigma: 0.6,
        parts_order,
        parts_order_days: (3, 7),
        precursor,
        precursor_days: (3, 21),
    }
}

impl Default for ServiceSpec {
    fn default() -> Self {
        ServiceSpec {
            enabled: false,
            wear: WearSpec {
                by_material: [1.0, 1.3, 1.3, 1.5, 4.0],
                extra_by_frame: [0.0, 0.3, 0.6],
                wheel_life: (8_000.0, 15_000.0),
                wheel_cents: 120_000,
                tool_cents_by_frame: [0, 10, 30],
                sundries_cents_per_mounting: 15,
            },
            failures: FailureSpec {
                shape: 1.5,
                incidents_per_year_at_reference: 1.5,
                reference_pairs_per_year: 3_000.0,
                term_years: 4.0,
                // Remote-fixable shares give ≈ 30 % fixed remotely; parts to order ≈ 10 %
                // of failures (the loaner episodes); spindle/motor and pump give warnings.
                causes: [
                    cause(0.35, 0.20, (60, 150), 25_000, 0.05, 0.6),
                    cause(0.15, 0.40, (60, 120), 8_000, 0.05, 0.2),
                    cause(0.15, 0.30, (60, 180), 15_000, 0.10, 0.2),
                    cause(0.15, 0.90, (60, 120), 30_000, 0.10, 0.1),
                    cause(0.10, 0.10, (60, 180), 12_000, 0.15, 0.5),
                    cause(0.10, 0.00, (120, 240), 90_000, 0.50, 0.5),
                ],
                board_swap_share: 0.5,
            },
            field: FieldSpec {
                technicians_per_1000_machines: 4.0,
                technicians_by_region: BTreeMap::new(),
                day_starts_hour: 8,
                day_ends_hour: 17,
                road_kmh: 60.0,
                cents_per_km: 45,
                technician_cents_per_hour: 6_000,
                desk_response_minutes: 60,
                remote_minutes: 45,
                diagnosis_minutes: 60,
                loaners_per_1000_machines: 10.0,
                loaner_logistics_cents: 15_000,
                default_response_hours: 24,
                default_repair_hours: 48,
                default_loaner: true,
            },
            downtime: [DowntimePolicy::RemoteEdge, DowntimePolicy::Wait],
            predictive: None,
            machine_cents: 3_000_000,
            lease_per_1000_per_month: Decimal::from(20),
        }
    }
}
