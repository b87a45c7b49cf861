//! The price: choose the machines that fit the shop's busy days, cost the term (machines,
//! consumables, service), spread it over the expected mountings, add the margin, round to
//! the cent (half away from zero), keep it within bounds.

use super::audit::{Audit, BusyDay};
use super::costs::CostModel;
use rust_decimal::{Decimal, RoundingStrategy};

/// What the offer is priced for: the term, the margin, the bounds of a price.
#[derive(Clone, Debug, PartialEq)]
pub struct Terms {
    pub term_months: u32,
    /// Target margin on the cost to serve (0.15 = 15%).
    pub margin: Decimal,
    /// Bounds of the price per mounting, EUR (seed document: 2–6).
    pub min_price: Decimal,
    pub max_price: Decimal,
}

impl Default for Terms {
    fn default() -> Self {
        Terms {
            term_months: 48,
            margin: Decimal::new(15, 2),
            min_price: Decimal::TWO,
            max_price: Decimal::from(6),
        }
    }
}

impl Terms {
    /// The terms make sense: (field, what is wrong) otherwise.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.term_months == 0 {
            return Err(("term_months", "a term is at least 1 month".into()));
        }
        if self.margin.is_sign_negative() {
            return Err((
                "margin",
                format!("{} is negative: a margin is ≥ 0", self.margin),
            ));
        }
        if self.min_price.is_sign_negative() {
            return Err(("min_price", "a price is ≥ 0".into()));
        }
        if self.min_price > self.max_price {
            return Err((
                "min_price",
                format!(
                    "{} is above the maximum price ({}): the bounds must satisfy minimum ≤ maximum",
                    self.min_price, self.max_price
                ),
            ));
        }
        Ok(())
    }
}

/// Which machines serve the shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Index into `CostModel::models`.
    pub model: usize,
    pub machines: u32,
}

/// A candidate configuration considered for the quote.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub config: Config,
    /// Minutes a day the machines offer.
    pub capacity: Decimal,
    pub total_cost: Decimal,
}

/// Where the price landed against the bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clamp {
    None,
    Min,
    Max,
}

/// Every number of a quote, in the order of the explanation.
#[derive(Clone, Debug, PartialEq)]
pub struct Costing {
    /// Weight of a year over the weight of the audit's days (month multipliers).
    pub year_weight: Decimal,
    pub audit_weight: Decimal,
    pub mountings_per_year: Decimal,
    pub trace_per_year: Decimal,
    pub mountings_over_term: Decimal,
    pub minutes_per_mounting: Decimal,
    /// p95 and peak days (absent when the audit has no daily data).
    pub p95_day: Option<BusyDay>,
    pub peak_day: Option<BusyDay>,
    /// p95 day minutes × (1 + headroom).
    pub design_load: Option<Decimal>,
    pub candidates: Vec<Candidate>,
    pub config: Config,
    pub lease_per_month: Decimal,
    pub amortisation: Decimal,
    pub mean_wear: Decimal,
    pub wheels_per_mounting: Decimal,
    pub tools_per_mounting: Decimal,
    pub sundries_per_mounting: Decimal,
    pub consumables: Decimal,
    pub pairs_per_machine_year: Decimal,
    pub incidents_per_machine_year: Decimal,
    pub incidents: Decimal,
    pub cost_per_incident: Decimal,
    pub service: Decimal,
    pub total: Decimal,
    /// Total / expected mountings; `None` when the audit saw no mounting.
    pub cost_per_mounting: Option<Decimal>,
}

/// A priced shop: the audit, the terms, the costing, the price.
#[derive(Clone, Debug, PartialEq)]
pub struct Quote {
    pub audit: Audit,
    pub terms: Terms,
    pub costing: Costing,
    /// cost per mounting × (1 + margin), exact.
    pub with_margin: Option<Decimal>,
    /// … rounded to the cent, half away from zero.
    pub rounded: Option<Decimal>,
    /// The price per mounting: the rounded price within [min, max] (max if nothing to spread
    /// the cost over).
    pub price: Decimal,
    pub clamp: Clamp,
}

/// The p95 day sizes the machines (the peak is shown, not sized for: a shop absorbs a rare
/// peak with a longer day).
pub const DESIGN_QUANTILE: Decimal = Decimal::from_parts(95, 0, 0, false, 2);

/// Prices a shop from its audit: the cheapest configuration that fits, or (when the audit
/// has no daily data) one budget machine.
pub fn quote(audit: &Audit, terms: &Terms, model: &CostModel) -> Quote {
    let minutes = model.minutes_per_mounting(&audit.frames, &audit.materials);
    let p95 = audit.busy_day(DESIGN_QUANTILE, minutes, model.trace_minutes);
    let design = p95.map(|d| d.minutes * (Decimal::ONE + model.headroom));
    let mut candidates = Vec::new();
    for (i, m) in model.models.iter().enumerate() {
        let capacity = model.capacity_minutes(m);
        let machines = match design {
            Some(load) if capacity > Decimal::ZERO => {
                let n = (load / capacity).ceil();
                u32::try_from(n).unwrap_or(u32::MAX).max(1)
            }
            _ => 1,
        };
        let config = Config { model: i, machines };
        let c = cost(audit, terms, model, config);
        candidates.push(Candidate {
            config,
            capacity: capacity * Decimal::from(machines),
            total_cost: c.total,
        });
    }
    // The cheapest over the term; on a tie, the first (cheaper machine) model.
    let best = candidates
        .iter()
        .min_by(|a, b| a.total_cost.cmp(&b.total_cost))
        .map_or(
            Config {
                model: 0,
                machines: 1,
            },
            |c| c.config,
        );
    let mut costing = cost(audit, terms, model, best);
    costing.candidates = candidates;
    price(audit, terms, costing)
}

/// Prices `audit` on given machines (a realised period is costed on the quoted machines).
pub fn quote_on(audit: &Audit, terms: &Terms, model: &CostModel, config: Config) -> Quote {
    price(audit, terms, cost(audit, terms, model, config))
}

fn price(audit: &Audit, terms: &Terms, costing: Costing) -> Quote {
    let with_margin = costing
        .cost_per_mounting
        .map(|c| c * (Decimal::ONE + terms.margin));
    let rounded =
        with_margin.map(|p| p.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero));
    let (price, clamp) = match rounded {
        None => (terms.max_price, Clamp::Max),
        Some(p) if p < terms.min_price => (terms.min_price, Clamp::Min),
        Some(p) if p > terms.max_price => (terms.max_price, Clamp::Max),
        Some(p) => (p, Clamp::None),
    };
    Quote {
        audit: audit.clone(),
        terms: terms.clone(),
        costing,
        with_margin,
        rounded,
        price,
        clamp,
    }
}

/// The cost of serving the audited shop over the term on `config`.
pub fn cost(audit: &Audit, terms: &Terms, model: &CostModel, config: Config) -> Costing {
    let machine = &model.models[config.model];
    let machines = Decimal::from(config.machines);
    let term = Decimal::from(terms.term_months);
    let years = term / Decimal::from(12);
    let year_weight = model.year_weight();
    let audit_weight = model.audit_weight(&audit.days_by_month);
    let annualise = |count: u64| {
        if audit_weight.is_zero() {
            Decimal::ZERO
        } else {
            Decimal::from(count) * year_weight / audit_weight
        }
    };
    let mountings_per_year = annualise(audit.mountings);
    let trace_per_year = annualise(audit.trace_only);
    let mountings_over_term = mountings_per_year * years;
    let minutes = model.minutes_per_mounting(&audit.frames, &audit.materials);
    let p95_day = audit.busy_day(DESIGN_QUANTILE, minutes, model.trace_minutes);
    let peak_day = audit.busy_day(Decimal::ONE, minutes, model.trace_minutes);
    let lease_per_month = model.lease_per_month(machine);
    let amortisation = machines * lease_per_month * term;
    let wheels = model.wheels_per_mounting(&audit.materials);
    let tools = model.tools_per_mounting(&audit.frames);
    let consumables = mountings_over_term * (wheels + tools + model.sundries_per_mounting);
    let pairs_per_machine_year = mountings_per_year / machines;
    let incidents_per_machine_year = model.incidents_per_machine_year(pairs_per_machine_year);
    let incidents = incidents_per_machine_year * machines * years;
    let cost_per_incident = model.cost_per_incident();
    let service = incidents * cost_per_incident;
    let total = amortisation + consumables + service;
    Costing {
        year_weight,
        audit_weight,
        mountings_per_year,
        trace_per_year,
        mountings_over_term,
        minutes_per_mounting: minutes,
        design_load: p95_day.map(|d| d.minutes * (Decimal::ONE + model.headroom)),
        p95_day,
        peak_day,
        candidates: Vec::new(),
        config,
        lease_per_month,
        amortisation,
        mean_wear: model.mean_wear(&audit.materials),
        wheels_per_mounting: wheels,
        tools_per_mounting: tools,
        sundries_per_mounting: model.sundries_per_mounting,
        consumables,
        pairs_per_machine_year,
        incidents_per_machine_year,
        incidents,
        cost_per_incident,
        service,
        total,
        cost_per_mounting: (!mountings_over_term.is_zero()).then(|| total / mountings_over_term),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// January 2024 (31 days), 26 open days of 4 mountings (all 1.5 full-rim) and 1 trace.
    fn january() -> Audit {
        let first = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let last = NaiveDate::from_ymd_opt(2024, 1, 31).unwrap();
        let mut a = Audit::empty("hand".into(), first, last);
        a.open_days = 26;
        a.mountings = 104;
        a.trace_only = 26;
        a.frames = [104, 0, 0];
        a.materials = [104, 0, 0, 0, 0];
        a.daily = vec![[4, 1]; 26];
        a
    }

    #[test]
    fn a_hand_computed_quote() {
        let q = quote(&january(), &Terms::default(), &CostModel::default());
        let c = &q.costing;
        // Annualised: 104 × 365.14 / (31 × 0.95 = 29.45) = 1289.45874363…
        assert_eq!(c.mountings_per_year.round_dp(4), dec("1289.4587"));
        // Over 48 months: × 4.
        assert_eq!(c.mountings_over_term.round_dp(4), dec("5157.8350"));
        // Every day: 4 × 4 min + 1 × 1 min = 17 min; design load 17 × 1.25 = 21.25 min.
        assert_eq!(c.design_load, Some(dec("21.25")));
        // One budget machine fits and is the cheaper: 250 × 48 = 12,000.
        assert_eq!(
            c.config,
            Config {
                model: 0,
                machines: 1
            }
        );
        assert_eq!(c.amortisation, dec("12000"));
        // Consumables per mounting: wheels 2 × 1 × 1200 / 11500 = 0.20869565…, tools 0,
        // sundries 0.15: 0.35869565… × 5157.835 = 1850.09298…
        assert_eq!(c.wheels_per_mounting.round_dp(6), dec("0.208696"));
        assert_eq!(c.consumables.round_dp(2), dec("1850.09"));
        // Service: x = 1289.4587 / 3000 = 0.42981958; 1.5 × x × √x = 0.42268862/yr,
        // × 4 years × 584 EUR = 987.40061…
        assert_eq!(c.incidents_per_machine_year.round_dp(4), dec("0.4227"));
        assert_eq!(c.service.round_dp(0), dec("987"));
        // (12000 + 1850.09 + 987.40) / 5157.835 = 2.87669… × 1.15 = 3.30819… → 3.31.
        assert_eq!(c.cost_per_mounting.unwrap().round_dp(4), dec("2.8767"));
        assert_eq!(q.rounded, Some(dec("3.31")));
        assert_eq!(q.price, dec("3.31"));
        assert_eq!(q.clamp, Clamp::None);
    }

    #[test]
    fn clamps_to_the_bounds() {
        let terms = Terms::default();
        let model = CostModel::default();
        // A tiny shop: 1 mounting a month costs far more than 6 EUR each.
        let mut tiny = january();
        tiny.mountings = 1;
        tiny.frames = [1, 0, 0];
        tiny.materials = [1, 0, 0, 0, 0];
        tiny.daily = vec![[1, 0]];
        let q = quote(&tiny, &terms, &model);
        assert_eq!((q.price, q.clamp), (dec("6"), Clamp::Max));
        // No mounting at all: nothing to spread the cost over: the maximum.
        let mut none = tiny.clone();
        none.mountings = 0;
        none.frames = [0; 3];
        none.materials = [0; 5];
        let q = quote(&none, &terms, &model);
        assert_eq!((q.price, q.clamp, q.rounded), (dec("6"), Clamp::Max, None));
        // A big shop with a 0 margin and a high floor: the minimum.
        let big = january().scaled(10);
        let floor = Terms {
            min_price: dec("5"),
            margin: Decimal::ZERO,
            ..terms
        };
        let q = quote(&big, &floor, &model);
        assert_eq!((q.price, q.clamp), (dec("5"), Clamp::Min));
    }

    #[test]
    fn busy_shops_get_more_or_bigger_machines() {
        let model = CostModel::default();
        // 30 × the January shop: 120 mountings + 30 traces a day = 510 min × 1.25 = 637.5:
        // budget needs 2 (2 × 369.2), top needs 2 (2 × 480).
        let q = quote(&january().scaled(30), &Terms::default(), &model);
        let c = &q.costing;
        assert_eq!(c.design_load, Some(dec("637.5")));
        assert_eq!(c.candidates.len(), 2);
        assert_eq!(c.candidates[0].config.machines, 2);
        assert_eq!(c.candidates[1].config.machines, 2);
        assert_eq!(
            c.config,
            Config {
                model: 0,
                machines: 2
            }
        );
    }

    #[test]
    fn terms_are_checked() {
        let t = Terms {
            min_price: dec("7"),
            ..Terms::default()
        };
        assert_eq!(t.check().unwrap_err().0, "min_price");
        assert!(Terms::default().check().is_ok());
    }
}
