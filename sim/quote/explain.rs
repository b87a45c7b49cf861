//! The quote, explained line by line: as text for people, as JSON for programs. Every number
//! shown is rounded for display only (half away from zero); the computation is exact.

use super::costs::{CostModel, REPAIRS};
use super::price::{Clamp, Quote};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

/// One step of the computation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    pub step: usize,
    /// Stable name of the step (JSON consumers key on it).
    pub key: &'static str,
    pub text: String,
    /// The step's result, a decimal string.
    pub value: String,
    pub unit: &'static str,
}

/// The quote as JSON (`fleetsim quote --json`).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub source: String,
    pub first_day: String,
    pub last_day: String,
    pub model: String,
    pub machines: u32,
    pub price: String,
    pub currency: &'static str,
    /// `none`, `min` or `max`: whether a bound set the price.
    pub clamped: &'static str,
    pub cost_per_mounting: Option<String>,
    pub term_months: u32,
    pub margin: String,
    pub min_price: String,
    pub max_price: String,
    pub lines: Vec<Line>,
}

/// Rounded half away from zero to `dp` places, trailing zeros dropped.
pub fn show(d: Decimal, dp: u32) -> String {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
        .to_string()
}

/// Money: rounded to the cent, always two decimals.
pub fn money(d: Decimal) -> String {
    let mut r = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    r.to_string()
}

fn percent(d: Decimal) -> String {
    format!("{}%", show(d * Decimal::ONE_HUNDRED, 1))
}

fn shares(counts: &[u64], names: &[&str]) -> String {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .zip(names)
        .map(|(c, n)| {
            let share = if total == 0 {
                Decimal::ZERO
            } else {
                Decimal::from(*c) / Decimal::from(total)
            };
            format!("{n} {}", percent(share))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn clamp_name(c: Clamp) -> &'static str {
    match c {
        Clamp::None => "none",
        Clamp::Min => "min",
        Clamp::Max => "max",
    }
}

/// The lines of the explanation.
pub fn lines(q: &Quote, model: &CostModel) -> Vec<Line> {
    let a = &q.audit;
    let c = &q.costing;
    let t = &q.terms;
    let machine = &model.models[c.config.model];
    let mut out = Vec::new();
    let mut push = |key: &'static str, text: String, value: String, unit: &'static str| {
        out.push(Line {
            step: out.len() + 1,
            key,
            text,
            value,
            unit,
        })
    };
    push(
        "audit",
        format!(
            "audit of {}: {} to {}, {} days, {} open",
            a.source, a.first_day, a.last_day, a.days, a.open_days
        ),
        a.days.to_string(),
        "days",
    );
    push(
        "mountings",
        format!(
            "mountings: {} ({} remakes); {} frames traced for remote-edged orders ({} of jobs)",
            a.mountings,
            a.remakes,
            a.trace_only,
            percent(a.remote_share())
        ),
        a.mountings.to_string(),
        "mountings",
    );
    push(
        "frame_mix",
        format!("frame mix: {}", shares(&a.frames, &super::costs::FRAMES)),
        String::new(),
        "",
    );
    push(
        "material_mix",
        format!(
            "material mix: {}",
            shares(&a.materials, &super::costs::MATERIALS)
        ),
        String::new(),
        "",
    );
    let factor = if c.audit_weight.is_zero() {
        Decimal::ZERO
    } else {
        c.year_weight / c.audit_weight
    };
    push(
        "seasonal_factor",
        format!(
            "annualised by month weights (calibration.md, E): year {} / audit days {} = {}",
            show(c.year_weight, 2),
            show(c.audit_weight, 2),
            show(factor, 4)
        ),
        show(factor, 6),
        "",
    );
    push(
        "mountings_per_year",
        format!(
            "expected mountings a year: {} × {} = {} (and {} traces)",
            a.mountings,
            show(factor, 4),
            show(c.mountings_per_year, 1),
            show(c.trace_per_year, 1)
        ),
        show(c.mountings_per_year, 4),
        "mountings/year",
    );
    push(
        "mountings_over_term",
        format!(
            "expected mountings over the term: {} × {}/12 = {}",
            show(c.mountings_per_year, 1),
            t.term_months,
            show(c.mountings_over_term, 1)
        ),
        show(c.mountings_over_term, 4),
        "mountings",
    );
    push(
        "minutes_per_mounting",
        format!(
            "machine time per mounting of this mix: {} min (1.5: 4, 1.6–1.67: 6, poly: 7, mineral: 9; \
             semi-rimless +3, rimless +5.5); a trace: {} min",
            show(c.minutes_per_mounting, 3),
            show(model.trace_minutes, 2)
        ),
        show(c.minutes_per_mounting, 4),
        "min",
    );
    let day = |d: Option<super::audit::BusyDay>| match d {
        Some(d) => format!(
            "{} mountings + {} traces = {} min",
            d.mountings,
            d.trace_only,
            show(d.minutes, 1)
        ),
        None => "not observed".into(),
    };
    push(
        "busy_days",
        format!(
            "busy days: p95 day {}; peak day {}",
            day(c.p95_day),
            day(c.peak_day)
        ),
        c.p95_day.map_or(String::new(), |d| show(d.minutes, 4)),
        "min",
    );
    push(
        "design_load",
        match c.design_load {
            Some(load) => format!(
                "design load: p95 day × (1 + headroom {}) = {} min a day",
                percent(model.headroom),
                show(load, 1)
            ),
            None => "design load: no daily data; machines as given".into(),
        },
        c.design_load.map_or(String::new(), |l| show(l, 4)),
        "min/day",
    );
    for cand in &c.candidates {
        let m = &model.models[cand.config.model];
        push(
            "candidate",
            format!(
                "candidate: {} × {} ({} EUR, {} min a day each): {} min a day, cost over the term {} EUR",
                cand.config.machines,
                m.name,
                show(m.price, 0),
                show(model.capacity_minutes(m), 1),
                show(cand.capacity, 1),
                money(cand.total_cost)
            ),
            money(cand.total_cost),
            "EUR",
        );
    }
    push(
        "machines",
        format!(
            "machines: {} × {}{}",
            c.config.machines,
            machine.name,
            if c.candidates.is_empty() {
                " (as quoted)"
            } else {
                " (the cheapest that absorbs the design load)"
            }
        ),
        c.config.machines.to_string(),
        "machines",
    );
    push(
        "amortisation",
        format!(
            "machine amortisation and financing: {} × {} EUR × {} a month (lease rate, V) × {} months = {} EUR",
            c.config.machines,
            show(machine.price, 0),
            show(model.lease_rate_per_month, 3),
            t.term_months,
            money(c.amortisation)
        ),
        money(c.amortisation),
        "EUR",
    );
    push(
        "wheels",
        format!(
            "wheels: 2 lenses × mean wear {} × {} EUR a wheel set / {} lens-equivalents = {} EUR a mounting",
            show(c.mean_wear, 4),
            show(model.wheel_cost, 0),
            show(model.lens_equivalents_per_wheel, 0),
            show(c.wheels_per_mounting, 4)
        ),
        show(c.wheels_per_mounting, 6),
        "EUR/mounting",
    );
    push(
        "tools",
        format!(
            "grooving and drilling tools: {} EUR a mounting (semi-rimless {}, rimless {})",
            show(c.tools_per_mounting, 4),
            money(model.tool_cost_by_frame[1]),
            money(model.tool_cost_by_frame[2])
        ),
        show(c.tools_per_mounting, 6),
        "EUR/mounting",
    );
    push(
        "sundries",
        format!(
            "blocking pads, water, filter: {} EUR a mounting",
            money(c.sundries_per_mounting)
        ),
        show(c.sundries_per_mounting, 6),
        "EUR/mounting",
    );
    push(
        "consumables",
        format!(
            "consumables over the term: {} × ({} + {} + {}) = {} EUR",
            show(c.mountings_over_term, 1),
            show(c.wheels_per_mounting, 4),
            show(c.tools_per_mounting, 4),
            money(c.sundries_per_mounting),
            money(c.consumables)
        ),
        money(c.consumables),
        "EUR",
    );
    push(
        "incidents",
        format!(
            "failures: {} × ({} / {})^1.5 = {} incidents a machine-year at {} mountings a machine-year; \
             × {} machines × {} years = {}",
            show(model.incidents_per_year_at_reference, 2),
            show(c.pairs_per_machine_year, 1),
            show(model.reference_pairs_per_year, 0),
            show(c.incidents_per_machine_year, 4),
            show(c.pairs_per_machine_year, 1),
            c.config.machines,
            show(Decimal::from(t.term_months) / Decimal::from(12), 2),
            show(c.incidents, 4)
        ),
        show(c.incidents, 6),
        "incidents",
    );
    let mix: Vec<String> = REPAIRS
        .iter()
        .zip(&model.repair_mix)
        .zip(&model.repair_cost)
        .map(|((name, share), cost)| format!("{} {} × {}", percent(*share), name, show(*cost, 0)))
        .collect();
    push(
        "service",
        format!(
            "service and loaners: {} incidents × {} EUR ({}) = {} EUR",
            show(c.incidents, 4),
            show(c.cost_per_incident, 2),
            mix.join(" + "),
            money(c.service)
        ),
        money(c.service),
        "EUR",
    );
    push(
        "cost_to_serve",
        format!(
            "cost to serve over the term: {} + {} + {} = {} EUR",
            money(c.amortisation),
            money(c.consumables),
            money(c.service),
            money(c.total)
        ),
        money(c.total),
        "EUR",
    );
    match (c.cost_per_mounting, q.with_margin, q.rounded) {
        (Some(cost), Some(with_margin), Some(rounded)) => {
            push(
                "cost_per_mounting",
                format!(
                    "cost per mounting: {} / {} = {} EUR",
                    money(c.total),
                    show(c.mountings_over_term, 1),
                    show(cost, 4)
                ),
                show(cost, 6),
                "EUR/mounting",
            );
            push(
                "with_margin",
                format!(
                    "with the margin: {} × (1 + {}) = {} EUR",
                    show(cost, 4),
                    show(t.margin, 4),
                    show(with_margin, 4)
                ),
                show(with_margin, 6),
                "EUR/mounting",
            );
            push(
                "rounded",
                format!(
                    "rounded to the cent, half away from zero: {} EUR",
                    money(rounded)
                ),
                money(rounded),
                "EUR/mounting",
            );
        }
        _ => push(
            "cost_per_mounting",
            "cost per mounting: no mounting in the audit, nothing to spread the cost over".into(),
            String::new(),
            "EUR/mounting",
        ),
    }
    let why = match q.clamp {
        Clamp::None => format!(
            "within the bounds {}–{}",
            money(t.min_price),
            money(t.max_price)
        ),
        Clamp::Min => format!("raised to the minimum {}", money(t.min_price)),
        Clamp::Max => format!("capped at the maximum {}", money(t.max_price)),
    };
    push(
        "price",
        format!("price per mounting: {} EUR ({why})", money(q.price)),
        money(q.price),
        "EUR/mounting",
    );
    out
}

/// The explanation as text, one numbered line per step.
pub fn text(q: &Quote, model: &CostModel) -> String {
    let mut out = String::new();
    for line in lines(q, model) {
        out.push_str(&format!("{:>2}. {}\n", line.step, line.text));
    }
    out
}

pub fn report(q: &Quote, model: &CostModel) -> Report {
    let c = &q.costing;
    Report {
        source: q.audit.source.clone(),
        first_day: q.audit.first_day.to_string(),
        last_day: q.audit.last_day.to_string(),
        model: model.models[c.config.model].name.to_string(),
        machines: c.config.machines,
        price: money(q.price),
        currency: "EUR",
        clamped: clamp_name(q.clamp),
        cost_per_mounting: c.cost_per_mounting.map(|d| show(d, 6)),
        term_months: q.terms.term_months,
        margin: show(q.terms.margin, 6),
        min_price: money(q.terms.min_price),
        max_price: money(q.terms.max_price),
        lines: lines(q, model),
    }
}
