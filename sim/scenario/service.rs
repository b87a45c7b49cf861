//! `[service]` from `RawService` to `ServiceSpec`: every key absent takes the calibrated
//! default (`ServiceSpec::default()`), every value present is range-checked with its reason.

use super::bounds::{self, share, Bound};
use super::raw::*;
use crate::input::{Locator, ScenarioError};
use crate::service::spec::{
    CauseSpec, DowntimePolicy, FailureSpec, FieldSpec, PredictiveSpec, WearSpec, REGION_NAMES,
};
use crate::service::{Cause, ServiceSpec};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

type Result<T> = std::result::Result<T, ScenarioError>;

/// The cause shares may miss 1 by this much (rounding of hand-written decimals).
const SHARES_SUM_TOLERANCE: f64 = 1e-9;

pub(super) fn service(raw: &RawService, loc: &Locator) -> Result<ServiceSpec> {
    let d = ServiceSpec::default();
    let field = field(&raw.field, &d.field, loc)?;
    let working_minutes = (field.day_ends_hour - field.day_starts_hour) * 60;
    let failures = failures(&raw.failures, &d.failures, working_minutes, loc)?;
    Ok(ServiceSpec {
        enabled: raw.enabled,
        wear: wear(&raw.wear, &d.wear, loc)?,
        predictive: predictive(&raw.predictive, working_minutes, loc)?,
        failures,
        field,
        downtime: [
            downtime(&raw.downtime_chain, d.downtime[0], "chain", loc)?,
            downtime(&raw.downtime_independent, d.downtime[1], "independent", loc)?,
        ],
        machine_cents: money(
            &raw.machine_price,
            d.machine_cents,
            "service.machine_price",
            loc,
        )?,
        lease_per_1000_per_month: rate(
            &raw.lease_per_1000_per_month,
            d.lease_per_1000_per_month,
            bounds::LEASE_PER_1000,
            "service.lease_per_1000_per_month",
            loc,
        )?,
    })
}

fn downtime(
    raw: &Option<String>,
    default: DowntimePolicy,
    segment: &str,
    loc: &Locator,
) -> Result<DowntimePolicy> {
    match raw.as_deref() {
        None => Ok(default),
        Some("remote_edge") => Ok(DowntimePolicy::RemoteEdge),
        Some("wait") => Ok(DowntimePolicy::Wait),
        Some(other) => Err(loc.at_field(
            &format!("service.downtime_{segment}"),
            format!(
                "`{other}` is not allowed: use \"remote_edge\" (the jobs are ordered edged from a lab, not billed) or \"wait\" (they are edged once a machine works again)"
            ),
        )),
    }
}

fn wear(raw: &RawWear, d: &WearSpec, loc: &Locator) -> Result<WearSpec> {
    let at = "service.wear";
    let factor = |v: Option<f64>, default: f64, name: String| {
        real(
            v,
            default,
            bounds::WEAR_FACTOR,
            &format!("{at}.{name}"),
            loc,
        )
    };
    let m = &raw.by_material;
    let materials = [
        m.index_150,
        m.index_160,
        m.index_167,
        m.polycarbonate,
        m.mineral,
    ];
    let mut by_material = d.by_material;
    for (i, (v, name)) in materials.iter().zip(MATERIALS).enumerate() {
        by_material[i] = factor(*v, d.by_material[i], format!("by_material.{name}"))?;
    }
    let f = &raw.extra_by_frame;
    let mut extra_by_frame = d.extra_by_frame;
    for (i, (v, name)) in [f.full_rim, f.grooved, f.drilled]
        .iter()
        .zip(FRAMES)
        .enumerate()
    {
        extra_by_frame[i] = factor(*v, d.extra_by_frame[i], format!("extra_by_frame.{name}"))?;
    }
    let t = &raw.tool_price;
    let mut tool_cents_by_frame = d.tool_cents_by_frame;
    for (i, (v, name)) in [&t.full_rim, &t.grooved, &t.drilled]
        .into_iter()
        .zip(FRAMES)
        .enumerate()
    {
        let field = format!("{at}.tool_price.{name}");
        tool_cents_by_frame[i] = money(v, d.tool_cents_by_frame[i], &field, loc)?;
    }
    let life_field = |end: &str| format!("{at}.wheel_life_{end}");
    let min = real(
        raw.wheel_life_min,
        d.wheel_life.0,
        bounds::WHEEL_LIFE,
        &life_field("min"),
        loc,
    )?;
    let max = real(
        raw.wheel_life_max,
        d.wheel_life.1,
        bounds::WHEEL_LIFE,
        &life_field("max"),
        loc,
    )?;
    ordered(min, max, &life_field("min"), loc)?;
    Ok(WearSpec {
        by_material,
        extra_by_frame,
        wheel_life: (min, max),
        wheel_cents: money(
            &raw.wheel_price,
            d.wheel_cents,
            &format!("{at}.wheel_price"),
            loc,
        )?,
        tool_cents_by_frame,
        sundries_cents_per_mounting: money(
            &raw.sundries_price,
            d.sundries_cents_per_mounting,
            &format!("{at}.sundries_price"),
            loc,
        )?,
    })
}

const FRAMES: [&str; 3] = ["full_rim", "grooved", "drilled"];
const MATERIALS: [&str; 5] = [
    "index_150",
    "index_160",
    "index_167",
    "polycarbonate",
    "mineral",
];

fn failures(
    raw: &RawFailures,
    d: &FailureSpec,
    working_minutes: u32,
    loc: &Locator,
) -> Result<FailureSpec> {
    let at = "service.failures";
    let c = &raw.causes;
    let written = [
        &c.tools_wear,
        &c.clamping,
        &c.tracer_blocker,
        &c.software_comms,
        &c.water_pump,
        &c.spindle_motor,
    ];
    let mut causes = d.causes.clone();
    for (i, raw_cause) in written.into_iter().enumerate() {
        let name = Cause::ALL[i].as_str();
        let field = format!("{at}.causes.{name}");
        causes[i] = cause(raw_cause, &d.causes[i], &field, working_minutes, loc)?;
    }
    shares_sum_to_one(&causes, &format!("{at}.causes"), loc)?;
    let field = |name: &str| format!("{at}.{name}");
    Ok(FailureSpec {
        shape: real(
            raw.shape,
            d.shape,
            bounds::FAILURE_SHAPE,
            &field("shape"),
            loc,
        )?,
        incidents_per_year_at_reference: real(
            raw.incidents_per_year_at_reference,
            d.incidents_per_year_at_reference,
            bounds::RATE_PER_MACHINE_YEAR,
            &field("incidents_per_year_at_reference"),
            loc,
        )?,
        reference_pairs_per_year: real(
            raw.reference_pairs_per_year,
            d.reference_pairs_per_year,
            bounds::REFERENCE_PAIRS,
            &field("reference_pairs_per_year"),
            loc,
        )?,
        term_years: real(
            raw.term_years,
            d.term_years,
            bounds::TERM_YEARS,
            &field("term_years"),
            loc,
        )?,
        causes,
        board_swap_share: share(
            raw.board_swap_share.unwrap_or(d.board_swap_share),
            &field("board_swap_share"),
            loc,
        )?,
    })
}

fn cause(
    raw: &RawCause,
    d: &CauseSpec,
    at: &str,
    working_minutes: u32,
    loc: &Locator,
) -> Result<CauseSpec> {
    let field = |name: &str| format!("{at}.{name}");
    let a_share =
        |v: Option<f64>, default: f64, name: &str| share(v.unwrap_or(default), &field(name), loc);
    let on_site_minutes = int_range(
        (raw.on_site_minutes_min, raw.on_site_minutes_max),
        d.on_site_minutes,
        bounds::WORK_MINUTES,
        &field("on_site_minutes"),
        loc,
    )?;
    fits_in_working_day(
        on_site_minutes.1,
        working_minutes,
        &field("on_site_minutes_max"),
        loc,
    )?;
    Ok(CauseSpec {
        share: a_share(raw.share, d.share, "share")?,
        remote_fixable: a_share(raw.remote_fixable, d.remote_fixable, "remote_fixable")?,
        on_site_minutes,
        parts_median_cents: money(
            &raw.parts_median_price,
            d.parts_median_cents,
            &field("parts_median_price"),
            loc,
        )?,
        parts_sigma: real(
            raw.parts_sigma,
            d.parts_sigma,
            bounds::PARTS_SIGMA,
            &field("parts_sigma"),
            loc,
        )?,
        parts_order: a_share(raw.parts_order, d.parts_order, "parts_order")?,
        parts_order_days: int_range(
            (raw.parts_order_days_min, raw.parts_order_days_max),
            d.parts_order_days,
            bounds::PARTS_ORDER_DAYS,
            &field("parts_order_days"),
            loc,
        )?,
        precursor: a_share(raw.precursor, d.precursor, "precursor")?,
        precursor_days: int_range(
            (raw.precursor_days_min, raw.precursor_days_max),
            d.precursor_days,
            bounds::PRECURSOR_DAYS,
            &field("precursor_days"),
            loc,
        )?,
    })
}

/// Every failure has one cause: the shares sum to 1 (written as decimals, within 1e-9).
fn shares_sum_to_one(causes: &[CauseSpec; 6], field: &str, loc: &Locator) -> Result<()> {
    let total: f64 = causes.iter().map(|c| c.share).sum();
    if (total - 1.0).abs() <= SHARES_SUM_TOLERANCE {
        return Ok(());
    }
    let terms: Vec<String> = Cause::ALL
        .iter()
        .zip(causes)
        .map(|(cause, c)| format!("{} {}", cause.as_str(), c.share))
        .collect();
    Err(loc.at_field(
        field,
        format!(
            "the causes' shares sum to {total} ({}): every failure has one cause, so they must sum to 1; change the `share` of the causes you set (unset ones keep their calibrated share)",
            terms.join(" + ")
        ),
    ))
}

fn field(raw: &RawField, d: &FieldSpec, loc: &Locator) -> Result<FieldSpec> {
    let at = "service.field";
    let field = |name: &str| format!("{at}.{name}");
    let hour = |v: Option<i64>, default: u32, name: &str| {
        int(v, default, bounds::DAY_HOUR, &field(name), loc)
    };
    let starts = hour(raw.day_starts_hour, d.day_starts_hour, "day_starts_hour")?;
    let ends = hour(raw.day_ends_hour, d.day_ends_hour, "day_ends_hour")?;
    if starts >= ends {
        return Err(loc.at_field(
            &field("day_ends_hour"),
            format!("{ends} is not after day_starts_hour ({starts}): technicians work from day_starts_hour to day_ends_hour the same day"),
        ));
    }
    let per_1000 = |v: Option<f64>, default: f64, name: &str| {
        real(v, default, bounds::PER_1000_MACHINES, &field(name), loc)
    };
    let promise = |v: Option<i64>, default: u32, name: &str| {
        int(v, default, bounds::PROMISE_HOURS, &field(name), loc)
    };
    let remote_minutes = int(
        raw.remote_minutes,
        d.remote_minutes,
        bounds::WORK_MINUTES,
        &field("remote_minutes"),
        loc,
    )?;
    fits_in_working_day(
        remote_minutes,
        (ends - starts) * 60,
        &field("remote_minutes"),
        loc,
    )?;
    Ok(FieldSpec {
        technicians_per_1000_machines: per_1000(
            raw.technicians_per_1000_machines,
            d.technicians_per_1000_machines,
            "technicians_per_1000_machines",
        )?,
        technicians_by_region: technicians(&raw.technicians, &field("technicians"), loc)?,
        day_starts_hour: starts,
        day_ends_hour: ends,
        road_kmh: real(
            raw.road_kmh,
            d.road_kmh,
            bounds::ROAD_KMH,
            &field("road_kmh"),
            loc,
        )?,
        cents_per_km: money(&raw.km_price, d.cents_per_km, &field("km_price"), loc)?,
        technician_cents_per_hour: money(
            &raw.technician_hour_price,
            d.technician_cents_per_hour,
            &field("technician_hour_price"),
            loc,
        )?,
        desk_response_minutes: int(
            raw.desk_response_minutes,
            d.desk_response_minutes,
            bounds::DESK_RESPONSE_MINUTES,
            &field("desk_response_minutes"),
            loc,
        )?,
        remote_minutes,
        diagnosis_minutes: d.diagnosis_minutes,
        loaners_per_1000_machines: per_1000(
            raw.loaners_per_1000_machines,
            d.loaners_per_1000_machines,
            "loaners_per_1000_machines",
        )?,
        loaner_logistics_cents: money(
            &raw.loaner_logistics_price,
            d.loaner_logistics_cents,
            &field("loaner_logistics_price"),
            loc,
        )?,
        default_response_hours: promise(
            raw.default_response_hours,
            d.default_response_hours,
            "default_response_hours",
        )?,
        default_repair_hours: promise(
            raw.default_repair_hours,
            d.default_repair_hours,
            "default_repair_hours",
        )?,
        default_loaner: raw.default_loaner.unwrap_or(d.default_loaner),
    })
}

/// Technicians by region, each name as calibration.md writes it.
fn technicians(
    raw: &BTreeMap<String, i64>,
    at: &str,
    loc: &Locator,
) -> Result<BTreeMap<String, u32>> {
    let mut counts = BTreeMap::new();
    for (name, n) in raw {
        let field = format!("{at}.{name}");
        if !REGION_NAMES.contains(&name.as_str()) {
            return Err(loc.at_field(
                &field,
                format!(
                    "`{name}` is not a region; the 13 metropolitan regions are: {} (quote names with spaces or accents: \"Île-de-France\" = 12)",
                    REGION_NAMES.join(", ")
                ),
            ));
        }
        let n = bounds::TECHNICIANS.check(*n, &field, loc)?;
        counts.insert(name.clone(), n as u32);
    }
    Ok(counts)
}

fn predictive(
    raw: &RawPredictive,
    working_minutes: u32,
    loc: &Locator,
) -> Result<Option<PredictiveSpec>> {
    let d = PredictiveSpec::default();
    let at = "service.predictive";
    let field = |name: &str| format!("{at}.{name}");
    let visit_minutes = int(
        raw.visit_minutes,
        d.visit_minutes,
        bounds::WORK_MINUTES,
        &field("visit_minutes"),
        loc,
    )?;
    fits_in_working_day(visit_minutes, working_minutes, &field("visit_minutes"), loc)?;
    // Checked even when off, so that turning it on never reveals an old mistake.
    let spec = PredictiveSpec {
        acts_on: share(raw.acts_on.unwrap_or(d.acts_on), &field("acts_on"), loc)?,
        visit_minutes,
        parts_factor: real(
            raw.parts_factor,
            d.parts_factor,
            bounds::PARTS_FACTOR,
            &field("parts_factor"),
            loc,
        )?,
    };
    Ok(raw.enabled.then_some(spec))
}

/// A visit or a remote session is done within one working day.
fn fits_in_working_day(minutes: u32, working: u32, field: &str, loc: &Locator) -> Result<()> {
    if minutes <= working {
        return Ok(());
    }
    Err(loc.at_field(
        field,
        format!(
            "{minutes} minutes do not fit in the technicians' working day of {working} minutes (`service.field.day_starts_hour` to `day_ends_hour`): shorten it or lengthen the day"
        ),
    ))
}

fn real(
    v: Option<f64>,
    default: f64,
    bound: Bound<f64>,
    field: &str,
    loc: &Locator,
) -> Result<f64> {
    bound.check(v.unwrap_or(default), field, loc)
}

fn int(v: Option<i64>, default: u32, bound: Bound<i64>, field: &str, loc: &Locator) -> Result<u32> {
    Ok(bound.check(v.unwrap_or(i64::from(default)), field, loc)? as u32)
}

/// `PREFIX_min` and `PREFIX_max`, each within `bound`, min ≤ max.
fn int_range(
    (min, max): (Option<i64>, Option<i64>),
    default: (u32, u32),
    bound: Bound<i64>,
    prefix: &str,
    loc: &Locator,
) -> Result<(u32, u32)> {
    let lo = int(min, default.0, bound, &format!("{prefix}_min"), loc)?;
    let hi = int(max, default.1, bound, &format!("{prefix}_max"), loc)?;
    ordered(lo, hi, &format!("{prefix}_min"), loc)?;
    Ok((lo, hi))
}

fn ordered<T: PartialOrd + std::fmt::Display>(
    min: T,
    max: T,
    field: &str,
    loc: &Locator,
) -> Result<()> {
    if min > max {
        let max_field = field.replace("_min", "_max");
        return Err(loc.at_field(
            field,
            format!("{min} is above `{max_field}` ({max}): a range's minimum comes first"),
        ));
    }
    Ok(())
}

/// A quoted decimal rate within `bound`, kept exact.
fn rate(
    text: &Option<String>,
    default: Decimal,
    bound: bounds::Bound<f64>,
    field: &str,
    loc: &Locator,
) -> Result<Decimal> {
    let Some(text) = text else {
        return Ok(default);
    };
    let v = text.trim().parse::<Decimal>().map_err(|_| {
        loc.at_field(
            field,
            format!("`{text}` is not a decimal: write it quoted, e.g. \"20\""),
        )
    })?;
    let (lo, hi) = (
        Decimal::try_from(bound.lo).unwrap_or_default(),
        Decimal::try_from(bound.hi).unwrap_or_default(),
    );
    if v < lo || v > hi {
        return Err(loc.at_field(
            field,
            format!(
                "`{text}` is out of range: allowed {lo} to {hi} ({})",
                bound.why
            ),
        ));
    }
    Ok(v)
}

/// A quoted decimal amount in major units, in whole cents, within `SERVICE_MONEY`.
fn money(text: &Option<String>, default_cents: i64, field: &str, loc: &Locator) -> Result<i64> {
    let Some(text) = text else {
        return Ok(default_cents);
    };
    let bound = bounds::SERVICE_MONEY;
    let v = text.trim().parse::<Decimal>().map_err(|_| {
        loc.at_field(
            field,
            format!("`{text}` is not a decimal amount: write it quoted in major units, e.g. \"1200.00\""),
        )
    })?;
    if v.is_sign_negative() || v > Decimal::from(bound.hi) {
        return Err(loc.at_field(
            field,
            format!(
                "`{text}` is out of range: allowed {} to {} ({})",
                bound.lo, bound.hi, bound.why
            ),
        ));
    }
    let cents = v * Decimal::ONE_HUNDRED;
    if !cents.fract().is_zero() {
        return Err(loc.at_field(
            field,
            format!(
                "`{text}` has a fraction of a cent: amounts are in whole cents, at most 2 decimals"
            ),
        ));
    }
    // Within the bound, cents fit in i64 by far.
    Ok(cents.to_i64().unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use crate::scenario::{parse, ScenarioError};
    use crate::service::spec::DowntimePolicy;
    use crate::service::ServiceSpec;
    use rust_decimal::Decimal;
    use std::path::Path;

    fn service(toml: &str) -> Result<ServiceSpec, ScenarioError> {
        parse(Path::new("s.toml"), toml).map(|s| s.service)
    }

    fn refusal(toml: &str) -> String {
        service(toml).unwrap_err().to_string()
    }

    #[test]
    fn absent_keys_take_the_calibrated_defaults_and_stay_off() {
        assert_eq!(service("").unwrap(), ServiceSpec::default());
        assert_eq!(service("[service]\n").unwrap(), ServiceSpec::default());
        assert!(!service("").unwrap().enabled);
    }

    /// quickstart.toml writes every key of `[service]` with its default, as the README says,
    /// and turns the field on.
    #[test]
    fn the_quickstart_writes_the_calibrated_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("[service.failures.causes.spindle_motor]"));
        let quickstart = service(&text).unwrap();
        assert!(quickstart.enabled);
        let defaults = ServiceSpec {
            enabled: true,
            ..ServiceSpec::default()
        };
        assert_eq!(quickstart, defaults);
    }

    #[test]
    fn every_section_is_read() {
        let s = service(
            r#"
[service]
enabled = true
downtime_chain = "wait"
downtime_independent = "remote_edge"
machine_price = "15000.50"
lease_per_1000_per_month = "25"
[service.wear]
wheel_life_min = 9000.0
wheel_life_max = 9000.0
wheel_price = "999.99"
sundries_price = "0.20"
[service.wear.by_material]
mineral = 5.0
[service.wear.extra_by_frame]
drilled = 1.0
[service.wear.tool_price]
grooved = "0.25"
[service.failures]
shape = 2.0
term_years = 5.0
board_swap_share = 0.25
[service.failures.causes.tools_wear]
share = 0.30
parts_median_price = "100.00"
on_site_minutes_min = 30
on_site_minutes_max = 90
[service.failures.causes.spindle_motor]
share = 0.15
precursor_days_min = 1
precursor_days_max = 2
[service.field]
day_starts_hour = 7
day_ends_hour = 19
km_price = "0.50"
technician_hour_price = "75.00"
loaner_logistics_price = "200.00"
default_loaner = false
[service.field.technicians]
"Île-de-France" = 12
Corse = 1
[service.predictive]
enabled = true
acts_on = 0.5
visit_minutes = 90
parts_factor = 0.25
"#,
        )
        .unwrap();
        assert!(s.enabled);
        assert_eq!(
            s.downtime,
            [DowntimePolicy::Wait, DowntimePolicy::RemoteEdge]
        );
        assert_eq!(s.machine_cents, 1_500_050);
        assert_eq!(s.lease_per_1000_per_month, Decimal::from(25));
        assert_eq!(s.wear.wheel_life, (9000.0, 9000.0));
        assert_eq!(s.wear.wheel_cents, 99_999);
        assert_eq!(s.wear.sundries_cents_per_mounting, 20);
        assert_eq!(s.wear.by_material, [1.0, 1.3, 1.3, 1.5, 5.0]);
        assert_eq!(s.wear.extra_by_frame, [0.0, 0.3, 1.0]);
        assert_eq!(s.wear.tool_cents_by_frame, [0, 25, 30]);
        assert_eq!((s.failures.shape, s.failures.term_years), (2.0, 5.0));
        assert_eq!(s.failures.board_swap_share, 0.25);
        let tools = &s.failures.causes[0];
        assert_eq!((tools.share, tools.parts_median_cents), (0.30, 10_000));
        assert_eq!(tools.on_site_minutes, (30, 90));
        assert_eq!(s.failures.causes[5].precursor_days, (1, 2));
        assert_eq!(
            s.failures.causes[1],
            ServiceSpec::default().failures.causes[1]
        );
        assert_eq!((s.field.day_starts_hour, s.field.day_ends_hour), (7, 19));
        assert_eq!(s.field.cents_per_km, 50);
        assert_eq!(s.field.technician_cents_per_hour, 7_500);
        assert_eq!(s.field.loaner_logistics_cents, 20_000);
        assert!(!s.field.default_loaner);
        let regions: Vec<_> = s.field.technicians_by_region.into_iter().collect();
        assert_eq!(
            regions,
            [("Corse".to_string(), 1), ("Île-de-France".to_string(), 12)]
        );
        let p = s.predictive.unwrap();
        assert_eq!(
            (p.acts_on, p.visit_minutes, p.parts_factor),
            (0.5, 90, 0.25)
        );
    }

    #[test]
    fn predictive_maintenance_is_off_unless_enabled() {
        let s = service("[service.predictive]\nacts_on = 0.5\n").unwrap();
        assert_eq!(s.predictive, None);
        let e = refusal("[service.predictive]\nacts_on = 1.5\n");
        assert!(
            e.contains("s.toml:2:11: field `service.predictive.acts_on`"),
            "{e}"
        );
    }

    #[test]
    fn money_is_exact_and_in_whole_cents() {
        let e = refusal("[service]\nmachine_price = \"30000.005\"\n");
        assert!(
            e.contains("field `service.machine_price`") && e.contains("fraction of a cent"),
            "{e}"
        );
        let e = refusal("[service]\nmachine_price = 30000.0\n");
        assert!(e.contains("write prices quoted"), "{e}");
        let e = refusal("[service.wear.tool_price]\ndrilled = 0.3\n");
        assert!(
            e.contains("service.wear.tool_price.drilled") && e.contains("write prices quoted"),
            "{e}"
        );
        let e = refusal("[service.wear]\nwheel_price = \"-1\"\n");
        assert!(e.contains("allowed 0 to 1000000000"), "{e}");
        assert_eq!(
            service("[service.wear]\nwheel_price = \"0.1\"\n")
                .unwrap()
                .wear
                .wheel_cents,
            10
        );
    }

    #[test]
    fn cause_shares_must_sum_to_one() {
        let e = refusal("[service.failures.causes.clamping]\nshare = 0.25\n");
        assert!(
            e.contains("s.toml:1:19: field `service.failures.causes`"),
            "{e}"
        );
        assert!(
            e.contains("sum to 1.1") && e.contains("clamping 0.25"),
            "{e}"
        );
        let moved = "[service.failures.causes.clamping]\nshare = 0.25\n\
                     [service.failures.causes.tools_wear]\nshare = 0.25\n";
        assert_eq!(service(moved).unwrap().failures.causes[1].share, 0.25);
    }

    #[test]
    fn regions_are_named_as_calibration_writes_them() {
        let e = refusal("[service.field.technicians]\n\"Ile-de-France\" = 3\n");
        assert!(
            e.contains("s.toml:2:19: field `service.field.technicians.Ile-de-France`"),
            "{e}"
        );
        assert!(e.contains("Île-de-France, Auvergne-Rhône-Alpes"), "{e}");
        let e = refusal("[service.field.technicians]\nCorse = 0\n");
        assert!(e.contains("0 is out of range: allowed 1 to 100000"), "{e}");
    }

    #[test]
    fn ranges_and_working_days_are_checked() {
        let e = refusal("[service.failures]\nshape = 0.2\n");
        assert!(
            e.contains("field `service.failures.shape`: 0.2 is out of range: allowed 0.5 to 5.0"),
            "{e}"
        );
        let e = refusal("[service.wear]\nwheel_life_min = 20000.0\n");
        assert!(e.contains("field `service.wear.wheel_life_min`: 20000 is above `service.wear.wheel_life_max` (15000)"), "{e}");
        let e = refusal("[service.field]\nday_starts_hour = 17\n");
        assert!(
            e.contains("field `service.field.day_ends_hour`: 17 is not after"),
            "{e}"
        );
        let e = refusal("[service.field]\nday_ends_hour = 10\n");
        assert!(e.contains("field `service.failures.causes.tools_wear.on_site_minutes_max`: 150 minutes do not fit"), "{e}");
        let e = refusal("[service]\ndowntime_chain = \"lab\"\n");
        assert!(
            e.contains("field `service.downtime_chain`") && e.contains("\"wait\""),
            "{e}"
        );
        let e = refusal("[service.failures.causes.pump]\nshare = 0.1\n");
        assert!(
            e.contains("unknown field `pump`") && e.contains("water_pump"),
            "{e}"
        );
    }
}
