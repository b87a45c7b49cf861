//! From `RawScenario` to `Scenario`: every range check, each error placed in the file.

use super::bounds::{self, mix, multipliers, share, Bound, MAX_PRICE};
use super::raw::*;
use super::*;
use crate::calendar::parse_weekday;
use crate::calendar::Period;
use crate::input::{Locator, ScenarioError};
use chrono::Datelike;
use rust_decimal::Decimal;

type Result<T> = std::result::Result<T, ScenarioError>;

pub(super) fn validate(raw: RawScenario, path: &Path, loc: &Locator) -> Result<Scenario> {
    let name = scenario_name(&raw.scenario, path, loc)?;
    let output = OutputSpec {
        dir: raw
            .output
            .dir
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new("reports").join(&name)),
        html: raw.output.html,
    };
    let months = bounds::MONTHS.check(raw.calendar.months, "calendar.months", loc)? as u32;
    let quote = match &raw.quote {
        Some(q) => Some(quote(q, months, "quote", loc)?),
        None => None,
    };
    let start = start_date(&raw.calendar.start, loc)?;
    let run = Run { start, months };
    let pricing = pricing(&raw.pricing, "pricing", raw.fleet.shops, run, path, loc)?;
    if quote.is_some() && (pricing.plan.is_some() || !pricing.per_shop_plan.is_empty()) {
        // A quote sets each shop's price per mounting, which would replace its plan.
        return Err(loc.at_field(
            "quote",
            "`[quote]` prices every shop per mounting after its audit: it cannot be combined with catalogue plans (`pricing.plan`, or a shop's `plan`)",
        ));
    }
    let alternatives = super::alternatives::alternatives(
        &raw.alternative,
        &raw.pricing,
        &pricing,
        (raw.fleet.shops, run, path),
        loc,
    )?;
    let service = super::service::service(&raw.service, loc)?;
    if service.enabled && !pricing.incidents.is_empty() {
        // The engine keeps one list of incidents per shop and month: two sources would
        // replace each other.
        return Err(loc.at_field(
            "pricing.incidents",
            "with `[service] enabled = true` the simulated field service produces the incidents: remove `pricing.incidents`, or turn the field off",
        ));
    }
    let load = match &raw.load {
        Some(l) => Some(super::load::load(l, loc)?),
        None => None,
    };
    Ok(Scenario {
        load,
        quote,
        seed: seed(&raw.scenario, loc)?,
        description: raw.scenario.description,
        name,
        start,
        months,
        fleet: fleet(&raw.fleet, loc)?,
        demand: demand(&raw.demand, loc)?,
        closures: closures(&raw.closures, loc)?,
        pricing,
        alternatives,
        faults: faults(&raw.faults, raw.demand.mode == "calibrated", loc)?,
        engine: EngineSpec {
            commit_every_days: bounds::COMMIT_EVERY_DAYS.check(
                raw.engine.commit_every_days,
                "engine.commit_every_days",
                loc,
            )? as u32,
            span_days: bounds::SPAN_DAYS.check(raw.engine.span_days, "engine.span_days", loc)?
                as u32,
        },
        output,
        service,
    })
}

fn scenario_name(meta: &RawMeta, path: &Path, loc: &Locator) -> Result<String> {
    let valid = |n: &str| {
        bounds::NAME_CHARS.contains(n.len() as i64)
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if let Some(name) = &meta.name {
        if !valid(name) {
            return Err(loc.at_field(
                "scenario.name",
                format!(
                    "`{name}` is not allowed: use 1 to {} letters, digits, `-` and `_` (it names the output folder)",
                    bounds::NAME_CHARS.hi
                ),
            ));
        }
        return Ok(name.clone());
    }
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if !valid(stem) {
        return Err(loc.at_field(
            "scenario.name",
            format!(
                "no name is given and the file name `{stem}` cannot name the output folder: \
                 add `name = \"...\"` under [scenario] (letters, digits, `-` and `_`)"
            ),
        ));
    }
    Ok(stem.to_string())
}

fn seed(meta: &RawMeta, loc: &Locator) -> Result<u64> {
    match meta.seed {
        None => Ok(0),
        Some(s) if s >= 0 => Ok(s as u64),
        Some(s) => Err(loc.at_field(
            "scenario.seed",
            format!("{s} is negative: a seed is an integer ≥ 0"),
        )),
    }
}

fn start_date(text: &str, loc: &Locator) -> Result<NaiveDate> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        loc.at_field(
            "calendar.start",
            format!("`{text}` is not a date: write YYYY-MM-DD, e.g. \"2024-01-01\""),
        )
    })?;
    if date.day() != 1 {
        return Err(loc.at_field(
            "calendar.start",
            format!(
                "`{text}` is not the first day of a month: billing periods are calendar months"
            ),
        ));
    }
    let years = bounds::START_YEAR;
    if !years.contains(i64::from(date.year())) {
        return Err(loc.at_field(
            "calendar.start",
            format!(
                "the year must lie between {} and {} ({})",
                years.lo, years.hi, years.why
            ),
        ));
    }
    Ok(date)
}

fn fleet(raw: &RawFleet, loc: &Locator) -> Result<FleetSpec> {
    Ok(FleetSpec {
        shops: bounds::SHOPS.check(raw.shops, "fleet.shops", loc)? as u32,
        chain_share: share(raw.chain_share, "fleet.chain_share", loc)?,
        second_machine_above: bounds::SECOND_MACHINE_ABOVE.check(
            raw.second_machine_above,
            "fleet.second_machine_above",
            loc,
        )?,
    })
}

fn demand(raw: &RawDemand, loc: &Locator) -> Result<DemandSpec> {
    let mode = match raw.mode.as_str() {
        "calibrated" => DemandMode::Calibrated,
        "fixed" => DemandMode::Fixed {
            mountings: bounds::FIXED_PER_DAY.check(
                raw.fixed_mountings_per_day,
                "demand.fixed_mountings_per_day",
                loc,
            )? as u32,
            trace_only: bounds::FIXED_PER_DAY.check(
                raw.fixed_trace_only_per_day,
                "demand.fixed_trace_only_per_day",
                loc,
            )? as u32,
        },
        other => {
            return Err(loc.at_field(
                "demand.mode",
                format!("`{other}` is not a demand mode: use \"calibrated\" or \"fixed\""),
            ))
        }
    };
    let (lo, hi) = (raw.remake_share_min, raw.remake_share_max);
    bounds::REMAKE_SHARE.check(lo, "demand.remake_share_min", loc)?;
    bounds::REMAKE_SHARE.check(hi, "demand.remake_share_max", loc)?;
    if lo > hi {
        return Err(loc.at_field(
            "demand.remake_share_min",
            format!("{lo} is above remake_share_max ({hi})"),
        ));
    }
    let in_store = share(raw.in_store_share_mean, "demand.in_store_share_mean", loc)?;
    Ok(DemandSpec {
        mode,
        median_pairs_per_day: bounds::MEDIAN_PAIRS_PER_DAY.check(
            raw.median_pairs_per_day,
            "demand.median_pairs_per_day",
            loc,
        )?,
        sigma: bounds::SIGMA.check(raw.sigma, "demand.sigma", loc)?,
        volume_factor: bounds::VOLUME_FACTOR.check(
            raw.volume_factor,
            "demand.volume_factor",
            loc,
        )?,
        chain_multiplier: bounds::CHAIN_MULTIPLIER.check(
            raw.chain_multiplier,
            "demand.chain_multiplier",
            loc,
        )?,
        overdispersion_shape: bounds::OVERDISPERSION_SHAPE.check(
            raw.overdispersion_shape,
            "demand.overdispersion_shape",
            loc,
        )?,
        weekday: multipliers::<7>(
            &raw.weekday_multipliers,
            bounds::WEEKDAY_MULTIPLIER,
            "demand.weekday_multipliers",
            "Monday to Sunday",
            loc,
        )?,
        month: multipliers::<12>(
            &raw.month_multipliers,
            bounds::MONTH_MULTIPLIER,
            "demand.month_multipliers",
            "January to December",
            loc,
        )?,
        in_store_share_mean: in_store,
        in_store_share_concentration: bounds::CONCENTRATION.check(
            raw.in_store_share_concentration,
            "demand.in_store_share_concentration",
            loc,
        )?,
        remake_share: (lo, hi),
        frame_mix: mix(
            [
                raw.frame_mix.full_rim,
                raw.frame_mix.grooved,
                raw.frame_mix.drilled,
            ],
            "demand.frame_mix",
            &["full_rim", "grooved", "drilled"],
            loc,
        )?,
        material_mix: mix(
            [
                raw.material_mix.index_150,
                raw.material_mix.index_160,
                raw.material_mix.index_167,
                raw.material_mix.polycarbonate,
                raw.material_mix.mineral,
            ],
            "demand.material_mix",
            &[
                "index_150",
                "index_160",
                "index_167",
                "polycarbonate",
                "mineral",
            ],
            loc,
        )?,
    })
}

fn closures(raw: &RawClosures, loc: &Locator) -> Result<ClosureSpec> {
    let mut closed = [false; 7];
    for (i, day) in raw.closed_weekdays.iter().enumerate() {
        let w = parse_weekday(day).ok_or_else(|| {
            loc.at_field(
                &format!("closures.closed_weekdays.{i}"),
                format!("`{day}` is not a weekday: use mon, tue, wed, thu, fri, sat or sun"),
            )
        })?;
        closed[w] = true;
    }
    if closed.iter().all(|c| *c) {
        return Err(loc.at_field(
            "closures.closed_weekdays",
            "every weekday is closed: no shop would ever open",
        ));
    }
    let min_weeks = bounds::SUMMER_WEEKS.check(
        raw.summer_closure_min_weeks,
        "closures.summer_closure_min_weeks",
        loc,
    )?;
    let max_weeks = Bound {
        lo: min_weeks,
        ..bounds::SUMMER_WEEKS
    }
    .check(
        raw.summer_closure_max_weeks,
        "closures.summer_closure_max_weeks",
        loc,
    )?;
    let earliest = day_of_year(
        &raw.summer_closure_earliest,
        "closures.summer_closure_earliest",
        loc,
    )?;
    let latest = day_of_year(
        &raw.summer_closure_latest,
        "closures.summer_closure_latest",
        loc,
    )?;
    if earliest > latest {
        return Err(loc.at_field(
            "closures.summer_closure_earliest",
            "is after summer_closure_latest: closures would have no window to start in",
        ));
    }
    Ok(ClosureSpec {
        closed_weekdays: closed,
        independent_monday_closed_share: share(
            raw.independent_monday_closed_share,
            "closures.independent_monday_closed_share",
            loc,
        )?,
        chain_monday_closed_share: share(
            raw.chain_monday_closed_share,
            "closures.chain_monday_closed_share",
            loc,
        )?,
        summer_closure_share: share(
            raw.summer_closure_share,
            "closures.summer_closure_share",
            loc,
        )?,
        summer_closure_weeks: (min_weeks as u32, max_weeks as u32),
        summer_closure_start: (earliest, latest),
    })
}

/// Faults; the random ones default to their calibrated estimate, or to none in fixed mode
/// (hand-checked examples stay exact, as with closures).
fn faults(raw: &RawFaults, calibrated: bool, loc: &Locator) -> Result<FaultSpec> {
    let or_default = |value: Option<f64>, calibrated_default: f64| {
        value.unwrap_or(if calibrated { calibrated_default } else { 0.0 })
    };
    let initial = raw.initial_counters.as_deref().unwrap_or(if calibrated {
        fault_defaults::INITIAL_COUNTERS
    } else {
        "zero"
    });
    Ok(FaultSpec {
        duplicate_share: share(raw.duplicate_share, "faults.duplicate_share", loc)?,
        counter_digits: bounds::COUNTER_DIGITS.check(
            raw.counter_digits,
            "faults.counter_digits",
            loc,
        )? as u32,
        initial_counters: initial_counters(initial, loc)?,
        board_swaps_per_machine_year: bounds::RATE_PER_MACHINE_YEAR.check(
            or_default(
                raw.board_swaps_per_machine_year,
                fault_defaults::BOARD_SWAPS_PER_MACHINE_YEAR,
            ),
            "faults.board_swaps_per_machine_year",
            loc,
        )?,
        lost_read_share: share(
            or_default(raw.lost_read_share, fault_defaults::LOST_READ_SHARE),
            "faults.lost_read_share",
            loc,
        )?,
        outages: OutageSpec {
            per_machine_year: bounds::RATE_PER_MACHINE_YEAR.check(
                or_default(
                    raw.outages_per_machine_year,
                    fault_defaults::OUTAGES_PER_MACHINE_YEAR,
                ),
                "faults.outages_per_machine_year",
                loc,
            )?,
            median_days: bounds::OUTAGE_MEDIAN_DAYS.check(
                raw.outage_median_days,
                "faults.outage_median_days",
                loc,
            )?,
            sigma: bounds::OUTAGE_SIGMA.check(raw.outage_sigma, "faults.outage_sigma", loc)?,
            max_days: bounds::OUTAGE_MAX_DAYS.check(
                raw.outage_max_days,
                "faults.outage_max_days",
                loc,
            )? as u32,
        },
    })
}

fn initial_counters(text: &str, loc: &Locator) -> Result<InitialCounters> {
    match text {
        "zero" => Ok(InitialCounters::Zero),
        "random" => Ok(InitialCounters::Random),
        other => Err(loc.at_field(
            "faults.initial_counters",
            format!(
                "`{other}` is not allowed: use \"zero\" (new machines) or \"random\" \
                 (an installed fleet, counters anywhere in their range)"
            ),
        )),
    }
}

/// The run's dates, for the checks of contract dates.
#[derive(Clone, Copy)]
pub(super) struct Run {
    pub(super) start: NaiveDate,
    pub(super) months: u32,
}

impl Run {
    fn last_day(&self) -> NaiveDate {
        crate::billing::terms::add_months(self.start, self.months)
            .pred_opt()
            .unwrap_or(NaiveDate::MAX)
    }

    fn days(&self) -> i64 {
        (self.last_day() - self.start).num_days() + 1
    }
}

pub(super) fn pricing(
    raw: &RawPricing,
    prefix: &str,
    shops: i64,
    run: Run,
    path: &Path,
    loc: &Locator,
) -> Result<PricingSpec> {
    let currency = raw.currency.trim();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(loc.at_field(
            &format!("{prefix}.currency"),
            format!("`{currency}` is not an ISO 4217 code such as \"EUR\""),
        ));
    }
    let mut per_shop = BTreeMap::new();
    let mut per_shop_basis = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, entry) in raw.shop.iter().enumerate() {
        let field = format!("{prefix}.shop.{i}.shop");
        if entry.shop >= 0 && entry.shop >= shops {
            return Err(loc.at_field(
                &field,
                format!(
                    "shop {} does not exist: the fleet has {shops} shops, numbered 0 to {}",
                    entry.shop,
                    shops - 1
                ),
            ));
        }
        let shop = bounds::SHOP_INDEX
            .up_to(shops - 1)
            .check(entry.shop, &field, loc)? as u32;
        if !seen.insert(shop) {
            return Err(loc.at_field(&field, format!("shop {shop} is priced twice")));
        }
        if let Some(text) = &entry.price {
            per_shop.insert(shop, price(text, &format!("{prefix}.shop.{i}.price"), loc)?);
        }
        if let Some(text) = &entry.basis {
            per_shop_basis.insert(shop, basis(text, &format!("{prefix}.shop.{i}.basis"), loc)?);
        }
        if entry.price.is_none()
            && entry.basis.is_none()
            && entry.plan.is_none()
            && entry.service.is_none()
            && entry.options.is_none()
            && entry.start.is_none()
            && entry.terminated_on.is_none()
        {
            return Err(loc.at_field(
                &field,
                format!("shop {shop}'s entry changes nothing: give it a `price`, `basis`, `plan`, `service`, `options`, `start` or `terminated_on`"),
            ));
        }
    }
    let catalogue = match &raw.catalogue {
        Some(file) => Some(catalogue(file, &format!("{prefix}.catalogue"), path, loc)?),
        None => None,
    };
    let default_plan = match &raw.plan {
        Some(plan) => Some(PlanChoice {
            plan: plan.clone(),
            service: raw.service.clone(),
            options: raw.options.clone(),
        }),
        None if raw.service.is_some() || !raw.options.is_empty() => {
            return Err(loc.at_field(
                &if raw.service.is_some() {
                    format!("{prefix}.service")
                } else {
                    format!("{prefix}.options")
                },
                "a service tier or options come with a plan: set `pricing.plan` too",
            ))
        }
        None => None,
    };
    let mut per_shop_plan = BTreeMap::new();
    for (i, entry) in raw.shop.iter().enumerate() {
        if entry.plan.is_none() && entry.service.is_none() && entry.options.is_none() {
            continue;
        }
        let Some(plan) = entry.plan.clone().or_else(|| raw.plan.clone()) else {
            return Err(loc.at_field(
                &format!("{prefix}.shop.{i}.service"),
                "a service tier or options come with a plan: set this shop's `plan` or `pricing.plan`",
            ));
        };
        let choice = PlanChoice {
            plan,
            service: entry.service.clone().or_else(|| raw.service.clone()),
            options: entry.options.clone().unwrap_or_else(|| raw.options.clone()),
        };
        per_shop_plan.insert(entry.shop as u32, (i, choice));
    }
    if default_plan.is_some() || !per_shop_plan.is_empty() {
        let Some(c) = &catalogue else {
            return Err(loc.at_field(
                &if raw.plan.is_some() { format!("{prefix}.plan") } else { format!("{prefix}.shop") },
                "plans come from a catalogue: set `pricing.catalogue` to a catalogue file (e.g. \"catalogue/default.toml\")",
            ));
        };
        if let Some(choice) = &default_plan {
            check_choice(choice, &c.catalogue, prefix, loc)?;
        }
        for (i, choice) in per_shop_plan.values() {
            check_choice(choice, &c.catalogue, &format!("{prefix}.shop.{i}"), loc)?;
        }
        check_prices_on_plans(raw, &c.catalogue, prefix, loc)?;
        if c.catalogue.currency.0 != currency {
            return Err(loc.at_field(
                &format!("{prefix}.catalogue"),
                format!(
                    "the catalogue prices in {}, the scenario in {currency}: they must agree",
                    c.catalogue.currency
                ),
            ));
        }
    }
    let on_plan = |shop: u32| default_plan.is_some() || per_shop_plan.contains_key(&shop);
    let per_shop_dates = shop_dates(raw, run, on_plan, loc)?;
    let any_plan = default_plan.is_some() || !per_shop_plan.is_empty();
    let term_months = match raw.term_months {
        None => None,
        Some(_) if !any_plan => return Err(needs_plan("pricing.term_months", loc)),
        Some(m) => {
            Some(bounds::TERM_MONTHS.check(m, &format!("{prefix}.term_months"), loc)? as u32)
        }
    };
    let rollout_days = bounds::ROLLOUT_DAYS.up_to(run.days()).check(
        raw.rollout_days,
        &format!("{prefix}.rollout_days"),
        loc,
    )? as u32;
    if rollout_days > 0 && !any_plan {
        return Err(needs_plan("pricing.rollout_days", loc));
    }
    let early_termination_share = share(
        raw.early_termination_share,
        &format!("{prefix}.early_termination_share"),
        loc,
    )?;
    if early_termination_share > 0.0 && !any_plan {
        return Err(needs_plan("pricing.early_termination_share", loc));
    }
    if let (Some(months), Some(c)) = (term_months, &catalogue) {
        let choices = default_plan
            .iter()
            .chain(per_shop_plan.values().map(|(_, c)| c));
        check_term(months, run.start, choices, &c.catalogue, loc)?;
    }
    let incidents = match &raw.incidents {
        None => Vec::new(),
        Some(_) if !any_plan => return Err(needs_plan("pricing.incidents", loc)),
        Some(file) => incidents(file, shops as u32, run, path)?,
    };
    Ok(PricingSpec {
        incidents,
        term_months,
        rollout_days,
        early_termination_share,
        per_shop_dates,
        catalogue,
        plan: default_plan,
        per_shop_plan: per_shop_plan
            .into_iter()
            .map(|(s, (_, c))| (s, c))
            .collect(),
        currency: Currency(currency.to_string()),
        chain: price(&raw.chain, &format!("{prefix}.chain"), loc)?,
        independent: price(&raw.independent, &format!("{prefix}.independent"), loc)?,
        per_shop,
        basis: basis(&raw.basis, &format!("{prefix}.basis"), loc)?,
        per_shop_basis,
        close_after_days: bounds::CLOSE_AFTER_DAYS.check(
            raw.close_after_days,
            &format!("{prefix}.close_after_days"),
            loc,
        )? as u32,
    })
}

/// Loads `pricing.incidents`, relative to the scenario file; its errors point into it.
fn incidents(
    file: &str,
    shops: u32,
    run: Run,
    scenario: &Path,
) -> Result<Vec<super::incidents::ShopIncident>> {
    let path = scenario.parent().unwrap_or(Path::new("")).join(file);
    let months = (Period::of_date(run.start), Period::of_date(run.last_day()));
    super::incidents::load(&path, shops, months)
}

fn needs_plan(field: &str, loc: &Locator) -> ScenarioError {
    loc.at_field(
        field,
        "contract terms belong to catalogue plans: set `pricing.plan` (or shops' `plan`) and `pricing.catalogue`",
    )
}

/// Shops' own `start` and `terminated_on`: plan shops only, within the run, in order.
fn shop_dates(
    raw: &RawPricing,
    run: Run,
    on_plan: impl Fn(u32) -> bool,
    loc: &Locator,
) -> Result<BTreeMap<u32, ContractDates>> {
    let mut dates = BTreeMap::new();
    for (i, entry) in raw.shop.iter().enumerate() {
        if entry.start.is_none() && entry.terminated_on.is_none() {
            continue;
        }
        let shop = entry.shop as u32;
        let first_field = if entry.start.is_some() {
            "start"
        } else {
            "terminated_on"
        };
        if !on_plan(shop) {
            return Err(loc.at_field(
                &format!("pricing.shop.{i}.{first_field}"),
                format!("shop {shop} has no catalogue plan, and contract dates are terms of a plan: give it a `plan` or set `pricing.plan`"),
            ));
        }
        let field = |name: &str| format!("pricing.shop.{i}.{name}");
        let start = entry
            .start
            .as_deref()
            .map(|t| date_within(t, run.start, run, &field("start"), loc))
            .transpose()?;
        let from = start.unwrap_or(run.start);
        let terminated_on = entry
            .terminated_on
            .as_deref()
            .map(|t| date_within(t, from, run, &field("terminated_on"), loc))
            .transpose()?;
        dates.insert(
            shop,
            ContractDates {
                start,
                terminated_on,
            },
        );
    }
    Ok(dates)
}

/// A `YYYY-MM-DD` date from `from` to the run's last day.
fn date_within(
    text: &str,
    from: NaiveDate,
    run: Run,
    field: &str,
    loc: &Locator,
) -> Result<NaiveDate> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        loc.at_field(
            field,
            format!("`{text}` is not a date: write YYYY-MM-DD, e.g. \"2024-03-15\""),
        )
    })?;
    if date < from || date > run.last_day() {
        return Err(loc.at_field(
            field,
            format!(
                "{date} is not allowed: it must lie from {from} to the run's last day, {}",
                run.last_day()
            ),
        ));
    }
    Ok(date)
}

/// Every plan and service tier the scenario signs fits `pricing.term_months` (a multi-year
/// full-service lump sum cannot outlast the term).
fn check_term<'a>(
    months: u32,
    start: NaiveDate,
    choices: impl Iterator<Item = &'a PlanChoice>,
    catalogue: &crate::billing::catalogue::Catalogue,
    loc: &Locator,
) -> Result<()> {
    for choice in choices {
        let mut spec = crate::billing::catalogue::ContractSpec::new(
            crate::event::ShopId(0),
            &choice.plan,
            start,
        );
        spec.term_months = Some(months);
        spec.service = choice.service.clone();
        spec.options = choice.options.clone();
        catalogue.contract(&spec).map_err(|m| {
            loc.at_field(
                "pricing.term_months",
                format!("{months} months do not fit plan `{}`: {m}", choice.plan),
            )
        })?;
    }
    Ok(())
}

/// Loads `pricing.catalogue`, relative to the scenario file; its own errors point into it.
fn catalogue(file: &str, field: &str, scenario: &Path, loc: &Locator) -> Result<CatalogueSpec> {
    let path = scenario.parent().unwrap_or(Path::new("")).join(file);
    let source = std::fs::read_to_string(&path).map_err(|e| {
        loc.at_field(
            field,
            format!("cannot read the catalogue `{file}` (a path relative to the scenario's folder): {e}"),
        )
    })?;
    let catalogue = crate::billing::catalogue_file::parse(&path, &source)?;
    Ok(CatalogueSpec {
        path,
        source,
        catalogue,
    })
}

/// Every id a shop signs exists in the catalogue; the error lists the ones that do.
/// A shop's own price per mounting replaces its plan's: only a `per_mounting` plan has one
/// (the engine refuses the contract otherwise, so the scenario is refused here).
fn check_prices_on_plans(
    raw: &RawPricing,
    catalogue: &crate::billing::catalogue::Catalogue,
    prefix: &str,
    loc: &Locator,
) -> Result<()> {
    for (i, entry) in raw.shop.iter().enumerate() {
        let Some(plan) = entry.plan.as_ref().or(raw.plan.as_ref()) else {
            continue;
        };
        let Some(plan) = catalogue.plan(plan).filter(|_| entry.price.is_some()) else {
            continue;
        };
        if matches!(
            plan.pricing,
            crate::billing::catalogue::Pricing::PerMounting { .. }
        ) {
            continue;
        }
        let inherited = if prefix.starts_with("alternative") {
            " (an alternative keeps `[pricing]`'s shop entries unless it writes its own `shop` list)"
        } else {
            ""
        };
        return Err(loc.at_field(
            &format!("{prefix}.shop.{i}.price"),
            format!(
                "shop {} has its own price per mounting, and its plan `{}` is a {} plan: only \
                 per_mounting plans take one{inherited}. Remove the price, or give the shop a \
                 per_mounting plan",
                entry.shop,
                plan.id,
                plan.pricing.kind_name()
            ),
        ));
    }
    Ok(())
}

fn check_choice(
    choice: &PlanChoice,
    catalogue: &crate::billing::catalogue::Catalogue,
    at: &str,
    loc: &Locator,
) -> Result<()> {
    let unknown = |field: &str, id: &str, known: Vec<&str>| {
        loc.at_field(
            &format!("{at}.{field}"),
            format!(
                "`{id}` is not in the catalogue; it has: {}",
                known.join(", ")
            ),
        )
    };
    if catalogue.plan(&choice.plan).is_none() {
        let known = catalogue.plans.iter().map(|p| p.id.as_str()).collect();
        return Err(unknown("plan", &choice.plan, known));
    }
    if let Some(service) = &choice.service {
        if catalogue.service(service).is_none() {
            let known = catalogue.services.iter().map(|s| s.id.as_str()).collect();
            return Err(unknown("service", service, known));
        }
    }
    for option in &choice.options {
        if catalogue.option(option).is_none() {
            let known = catalogue.options.iter().map(|o| o.id.as_str()).collect();
            return Err(unknown("options", option, known));
        }
    }
    Ok(())
}

/// `[quote]` (or an alternative's `quote`, its fields under `at`): the audit leaves at least
/// one month to bill; margin and bounds are decimals.
pub(super) fn quote(raw: &RawQuote, months: u32, at: &str, loc: &Locator) -> Result<QuoteSpec> {
    let field = |key: &str| format!("{at}.{key}");
    if months < 2 {
        return Err(loc.at_field(
            &field("audit_months"),
            "a quote needs at least 2 months (`calendar.months`): the audit's and one to bill",
        ));
    }
    let audit_months = bounds::AUDIT_MONTHS.up_to(i64::from(months) - 1).check(
        raw.audit_months,
        &field("audit_months"),
        loc,
    )? as u32;
    let term_months =
        bounds::TERM_MONTHS.check(raw.term_months, &field("term_months"), loc)? as u32;
    let margin = rate(&raw.margin, &field("margin"), loc)?;
    let min_price = price(&raw.min_price, &field("min_price"), loc)?;
    let max_price = price(&raw.max_price, &field("max_price"), loc)?;
    let terms = crate::quote::Terms {
        term_months,
        margin,
        min_price: min_price.0,
        max_price: max_price.0,
    };
    terms
        .check()
        .map_err(|(key, message)| loc.at_field(&field(key), message))?;
    Ok(QuoteSpec {
        audit_months,
        terms,
    })
}

/// A rate such as a margin: a quoted decimal between 0 and 10 (1000%).
pub(super) fn rate(text: &str, field: &str, loc: &Locator) -> Result<Decimal> {
    let v = text.trim().parse::<Decimal>().map_err(|_| {
        loc.at_field(
            field,
            format!("`{text}` is not a decimal: write it quoted, e.g. \"0.15\" for 15%"),
        )
    })?;
    if v.is_sign_negative() || v > Decimal::from(10) || v.scale() > 6 {
        return Err(loc.at_field(
            field,
            format!("`{text}`: a margin is between 0 and 10 (1000%) with at most 6 decimals"),
        ));
    }
    Ok(v)
}

fn basis(text: &str, field: &str, loc: &Locator) -> Result<Basis> {
    Basis::parse(text).ok_or_else(|| {
        loc.at_field(field, format!("`{text}` is not a billing basis: use \"counters\" (monthly counter reads) or \"events\" (one event per mounting)"))
    })
}

pub(super) fn price(text: &str, field: &str, loc: &Locator) -> Result<UnitPrice> {
    let p = UnitPrice::parse(text).ok_or_else(|| {
        loc.at_field(field, format!("`{text}` is not a decimal price: write it quoted, e.g. \"3.80\" (EUR per mounting)"))
    })?;
    if p.0.is_sign_negative() || p.0.scale() > 6 || p.0 > Decimal::from(MAX_PRICE) {
        return Err(loc.at_field(
            field,
            format!("`{text}`: a price is between 0 and {MAX_PRICE} with at most 6 decimals (in major units of any currency: 6 EUR is about 100,000 IDR)"),
        ));
    }
    Ok(p)
}

fn day_of_year(text: &str, field: &str, loc: &Locator) -> Result<u32> {
    let date = NaiveDate::parse_from_str(&format!("2001-{text}"), "%Y-%m-%d").map_err(|_| {
        loc.at_field(
            field,
            format!("`{text}` is not a day of the year: write MM-DD, e.g. \"07-14\""),
        )
    })?;
    Ok(date.ordinal0())
}
