//! The catalogue file (TOML): `[catalogue]`, `[contract_defaults]`, `[consistency]`,
//! `[[option]]`, `[[plan]]`, `[[service]]`, `[[ladder]]`. Prices and percentages are decimal
//! *strings* (`"3.85"`): a TOML float cannot hold cents exactly and is refused with a message
//! saying to quote it. Every error names file:line:column and the field, and says what is
//! allowed (the same `ScenarioError` as scenario files; exit code 2).

use super::catalogue::{
    Catalogue, ConsistencySettings, ContractDefaults, Ladder, OptionItem, Plan, Pricing,
    ServicePricing, ServiceTier, SlaRule,
};
use super::tiers::Tier;
use crate::input::{file_error, Locator, ScenarioError};
use crate::money::{Currency, UnitPrice};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

type Result<T> = std::result::Result<T, ScenarioError>;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawFile {
    catalogue: RawMeta,
    contract_defaults: RawDefaults,
    consistency: RawConsistency,
    option: Vec<RawOption>,
    plan: Vec<RawPlan>,
    service: Vec<RawService>,
    ladder: Vec<RawLadder>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawMeta {
    currency: String,
    vat_percent: String,
}

impl Default for RawMeta {
    fn default() -> Self {
        RawMeta {
            currency: "EUR".into(),
            vat_percent: "20".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawDefaults {
    term_months: i64,
    indexation_percent: String,
    early_termination_percent: String,
}

impl Default for RawDefaults {
    fn default() -> Self {
        RawDefaults {
            term_months: 48,
            indexation_percent: "0".into(),
            early_termination_percent: "0".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConsistency {
    max_mountings: i64,
    incidents_per_year: String,
    labour_minutes_per_incident: i64,
    visits_per_incident: String,
}

impl Default for RawConsistency {
    fn default() -> Self {
        RawConsistency {
            max_mountings: 1000,
            incidents_per_year: "1.5".into(),
            labour_minutes_per_incident: 180,
            visits_per_incident: "0.6".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    id: String,
    name: Option<String>,
    monthly_fee: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    id: String,
    kind: String,
    price: Option<String>,
    segment_prices: Option<BTreeMap<String, String>>,
    included_mountings: Option<i64>,
    minimum_monthly: Option<String>,
    monthly_fee: Option<String>,
    overage_price: Option<String>,
    tiers: Option<Vec<RawTier>>,
    package_size: Option<i64>,
    package_price: Option<String>,
    #[serde(default)]
    includes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    up_to: Option<i64>,
    price: String,
    flat_fee: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    id: String,
    level: i64,
    kind: String,
    response_hours: i64,
    repair_hours: i64,
    years: Option<i64>,
    lump_sum: Option<String>,
    monthly_fee: Option<String>,
    hourly_rate: Option<String>,
    travel_per_visit: Option<String>,
    parts_markup_percent: Option<String>,
    #[serde(default)]
    includes: Vec<String>,
    sla_credit_percent: Option<String>,
    sla_cap_percent: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLadder {
    id: String,
    steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    plan: String,
    from: i64,
}

const PLAN_KINDS: &str =
    "\"per_mounting\", \"subscription\", \"graduated\", \"volume\", \"package\"";
const SERVICE_KINDS: &str = "\"full_service\", \"maintenance\", \"time_and_materials\"";

/// Reads and validates a catalogue file.
pub fn load(path: &Path) -> Result<Catalogue> {
    let bytes =
        std::fs::read(path).map_err(|e| file_error(path, format!("cannot read the file: {e}")))?;
    let text =
        String::from_utf8(bytes).map_err(|e| file_error(path, format!("not UTF-8 text: {e}")))?;
    parse(path, &text)
}

/// Parses and validates catalogue text; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Catalogue> {
    let loc = Locator::new(path, text);
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let mut err = loc.at_span(e.span(), e.message());
        let is_number = err.message.contains("floating point") || err.message.contains("integer `");
        if is_number && err.message.contains("expected a string") && !err.message.contains("quoted") {
            err.message.push_str(
                ": write prices and percentages quoted, e.g. \"3.85\" (a float cannot hold cents exactly)",
            );
        }
        err
    })?;
    validate(raw, &loc)
}

fn validate(raw: RawFile, loc: &Locator) -> Result<Catalogue> {
    let currency = raw.catalogue.currency.trim().to_string();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(loc.at_field(
            "catalogue.currency",
            format!("`{currency}` is not an ISO 4217 code such as \"EUR\""),
        ));
    }
    let vat_percent = percent(&raw.catalogue.vat_percent, "catalogue.vat_percent", loc)?;
    let defaults = ContractDefaults {
        term_months: int_in(
            raw.contract_defaults.term_months,
            1,
            120,
            "contract_defaults.term_months",
            loc,
        )? as u32,
        indexation_percent: percent(
            &raw.contract_defaults.indexation_percent,
            "contract_defaults.indexation_percent",
            loc,
        )?,
        early_termination_percent: percent(
            &raw.contract_defaults.early_termination_percent,
            "contract_defaults.early_termination_percent",
            loc,
        )?,
    };
    let c = &raw.consistency;
    let consistency = ConsistencySettings {
        max_mountings: int_in(
            c.max_mountings,
            1,
            1_000_000,
            "consistency.max_mountings",
            loc,
        )? as u64,
        incidents_per_year: decimal_in(
            &c.incidents_per_year,
            "consistency.incidents_per_year",
            Decimal::ZERO,
            Decimal::from(365),
            loc,
        )?,
        labour_minutes_per_incident: int_in(
            c.labour_minutes_per_incident,
            0,
            10_000,
            "consistency.labour_minutes_per_incident",
            loc,
        )? as u32,
        visits_per_incident: decimal_in(
            &c.visits_per_incident,
            "consistency.visits_per_incident",
            Decimal::ZERO,
            Decimal::from(100),
            loc,
        )?,
    };

    let mut options = Vec::new();
    for (i, o) in raw.option.iter().enumerate() {
        let at = format!("option.{i}");
        ident(&o.id, &format!("{at}.id"), loc)?;
        if options.iter().any(|x: &OptionItem| x.id == o.id) {
            return Err(loc.at_field(
                &format!("{at}.id"),
                format!("option `{}` is declared twice", o.id),
            ));
        }
        options.push(OptionItem {
            id: o.id.clone(),
            name: o.name.clone().unwrap_or_else(|| o.id.replace('_', " ")),
            monthly_fee: price(&o.monthly_fee, &format!("{at}.monthly_fee"), loc)?,
        });
    }
    let option_ids: Vec<&str> = options.iter().map(|o| o.id.as_str()).collect();
    let check_includes = |includes: &[String], at: &str| -> Result<()> {
        for (j, id) in includes.iter().enumerate() {
            if !option_ids.contains(&id.as_str()) {
                return Err(loc.at_field(
                    &format!("{at}.includes.{j}"),
                    format!(
                        "no option `{id}`: declare it as [[option]] (declared: {})",
                        if option_ids.is_empty() {
                            "none".to_string()
                        } else {
                            option_ids.join(", ")
                        }
                    ),
                ));
            }
        }
        Ok(())
    };

    let mut plans: Vec<Plan> = Vec::new();
    for (i, p) in raw.plan.iter().enumerate() {
        let at = format!("plan.{i}");
        ident(&p.id, &format!("{at}.id"), loc)?;
        if plans.iter().any(|x| x.id == p.id) {
            return Err(loc.at_field(
                &format!("{at}.id"),
                format!("plan `{}` is declared twice", p.id),
            ));
        }
        check_includes(&p.includes, &at)?;
        plans.push(plan(p, &at, loc)?);
    }

    let mut services: Vec<ServiceTier> = Vec::new();
    for (i, s) in raw.service.iter().enumerate() {
        let at = format!("service.{i}");
        ident(&s.id, &format!("{at}.id"), loc)?;
        if services.iter().any(|x| x.id == s.id) {
            return Err(loc.at_field(
                &format!("{at}.id"),
                format!("service tier `{}` is declared twice", s.id),
            ));
        }
        check_includes(&s.includes, &at)?;
        services.push(service(s, &at, loc)?);
    }

    let mut ladders = Vec::new();
    for (i, l) in raw.ladder.iter().enumerate() {
        let at = format!("ladder.{i}");
        ident(&l.id, &format!("{at}.id"), loc)?;
        if l.steps.len() < 2 {
            return Err(loc.at_field(&format!("{at}.steps"), "a ladder needs at least two steps"));
        }
        let mut steps = Vec::new();
        for (j, st) in l.steps.iter().enumerate() {
            let sat = format!("{at}.steps.{j}");
            if !plans.iter().any(|p| p.id == st.plan) {
                return Err(loc.at_field(
                    &format!("{sat}.plan"),
                    format!(
                        "no plan `{}` (declared: {})",
                        st.plan,
                        plans
                            .iter()
                            .map(|p| p.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            let from = int_in(st.from, 0, 1_000_000, &format!("{sat}.from"), loc)? as u64;
            match (j, steps.last()) {
                (0, _) if from != 0 => {
                    return Err(loc.at_field(
                        &format!("{sat}.from"),
                        "the first step must start `from = 0`",
                    ));
                }
                (_, Some(&(_, prev))) if from <= prev => {
                    return Err(loc.at_field(
                        &format!("{sat}.from"),
                        format!(
                            "{from} is not above the previous step's {prev}: steps go up in `from`"
                        ),
                    ));
                }
                _ => {}
            }
            steps.push((st.plan.clone(), from));
        }
        ladders.push(Ladder {
            id: l.id.clone(),
            steps,
        });
    }

    Ok(Catalogue {
        currency: Currency(currency),
        vat_percent,
        defaults,
        plans,
        services,
        options,
        ladders,
        consistency,
    })
}

/// Fields each plan kind accepts (besides `id`, `kind`, `includes`).
fn plan_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "per_mounting" => &[
            "price",
            "segment_prices",
            "included_mountings",
            "minimum_monthly",
        ],
        "subscription" => &["monthly_fee", "included_mountings", "overage_price"],
        "graduated" | "volume" => &["tiers", "minimum_monthly"],
        "package" => &["package_size", "package_price", "minimum_monthly"],
        _ => return None,
    })
}

/// Refuses a field written that `what` (e.g. "volume plan") does not take, naming the ones it does.
fn only_allowed(
    present: &[(&str, bool)],
    allowed: &[&str],
    what: &str,
    at: &str,
    loc: &Locator,
) -> Result<()> {
    match present
        .iter()
        .find(|(name, is)| *is && !allowed.contains(name))
    {
        None => Ok(()),
        Some((name, _)) => Err(loc.at_field(
            &format!("{at}.{name}"),
            format!("not a field of a {what} (allowed: {})", allowed.join(", ")),
        )),
    }
}

/// A price `what` cannot do without, e.g. a subscription's `monthly_fee`.
fn required_price(
    value: &Option<String>,
    name: &str,
    what: &str,
    example: &str,
    at: &str,
    loc: &Locator,
) -> Result<UnitPrice> {
    match value {
        Some(t) => price(t, &format!("{at}.{name}"), loc),
        None => Err(loc.at_field(
            &format!("{at}.{name}"),
            format!("a {what} needs `{name}` (a quoted decimal such as \"{example}\")"),
        )),
    }
}

fn plan(p: &RawPlan, at: &str, loc: &Locator) -> Result<Plan> {
    let Some(allowed) = plan_fields(&p.kind) else {
        return Err(loc.at_field(
            &format!("{at}.kind"),
            format!("`{}` is not a plan kind: use one of {PLAN_KINDS}", p.kind),
        ));
    };
    let present = [
        ("price", p.price.is_some()),
        ("segment_prices", p.segment_prices.is_some()),
        ("included_mountings", p.included_mountings.is_some()),
        ("minimum_monthly", p.minimum_monthly.is_some()),
        ("monthly_fee", p.monthly_fee.is_some()),
        ("overage_price", p.overage_price.is_some()),
        ("tiers", p.tiers.is_some()),
        ("package_size", p.package_size.is_some()),
        ("package_price", p.package_price.is_some()),
    ];
    let what = format!("{} plan", p.kind);
    only_allowed(&present, allowed, &what, at, loc)?;
    let need = |v: &Option<String>, name: &str| required_price(v, name, &what, "3.85", at, loc);
    let included = |loc: &Locator| -> Result<u64> {
        Ok(int_in(
            p.included_mountings.unwrap_or(0),
            0,
            1_000_000,
            &format!("{at}.included_mountings"),
            loc,
        )? as u64)
    };
    let pricing = match p.kind.as_str() {
        "per_mounting" => {
            let mut segment_prices = BTreeMap::new();
            for (seg, text) in p.segment_prices.iter().flatten() {
                segment_prices.insert(
                    seg.clone(),
                    price(text, &format!("{at}.segment_prices.{seg}"), loc)?,
                );
            }
            Pricing::PerMounting {
                price: need(&p.price, "price")?,
                segment_prices,
                included_mountings: included(loc)?,
            }
        }
        "subscription" => Pricing::Subscription {
            monthly_fee: need(&p.monthly_fee, "monthly_fee")?,
            included_mountings: included(loc)?,
            overage_price: need(&p.overage_price, "overage_price")?,
        },
        "graduated" | "volume" => {
            let Some(raw_tiers) = &p.tiers else {
                return Err(loc.at_field(
                    &format!("{at}.tiers"),
                    format!("a {} plan needs `tiers = [{{ up_to = 50, price = \"4.50\" }}, {{ price = \"3.60\" }}]`", p.kind),
                ));
            };
            let t = tiers(raw_tiers, &format!("{at}.tiers"), loc)?;
            if p.kind == "graduated" {
                Pricing::Graduated { tiers: t }
            } else {
                Pricing::Volume { tiers: t }
            }
        }
        _ => Pricing::Package {
            size: match p.package_size {
                Some(n) => int_in(n, 1, 1_000_000, &format!("{at}.package_size"), loc)? as u64,
                None => return Err(loc.at_field(
                    &format!("{at}.package_size"),
                    "a package plan needs `package_size` (mountings per package, an integer ≥ 1)",
                )),
            },
            price: need(&p.package_price, "package_price")?,
        },
    };
    let minimum_monthly = match &p.minimum_monthly {
        Some(t) => Some(price(t, &format!("{at}.minimum_monthly"), loc)?),
        None => None,
    };
    Ok(Plan {
        id: p.id.clone(),
        pricing,
        minimum_monthly,
        includes: p.includes.clone(),
    })
}

fn tiers(raw: &[RawTier], at: &str, loc: &Locator) -> Result<Vec<Tier>> {
    if raw.is_empty() {
        return Err(loc.at_field(at, "at least one tier is needed"));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut prev = 0_i64;
    for (i, t) in raw.iter().enumerate() {
        let tat = format!("{at}.{i}");
        let last = i + 1 == raw.len();
        let up_to =
            match (t.up_to, last) {
                (Some(_), true) => return Err(loc.at_field(
                    &format!("{tat}.up_to"),
                    "the last tier has no `up_to`: it takes every mounting above the previous one",
                )),
                (None, false) => {
                    return Err(loc.at_field(
                        &format!("{tat}.up_to"),
                        "every tier but the last needs `up_to` (its last mounting, an integer)",
                    ))
                }
                (Some(u), false) => {
                    if u <= prev {
                        return Err(loc.at_field(
                            &format!("{tat}.up_to"),
                            format!(
                            "{u} is not above the previous tier's {prev}: tiers go up in `up_to`"
                        ),
                        ));
                    }
                    prev = int_in(u, 1, 1_000_000_000, &format!("{tat}.up_to"), loc)?;
                    Some(u as u64)
                }
                (None, true) => None,
            };
        out.push(Tier {
            up_to,
            price: price(&t.price, &format!("{tat}.price"), loc)?,
            flat_fee: match &t.flat_fee {
                Some(f) => price(f, &format!("{tat}.flat_fee"), loc)?,
                None => UnitPrice(Decimal::ZERO),
            },
        });
    }
    Ok(out)
}

/// Fields each service kind accepts (besides the common ones).
fn service_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "full_service" => &["years", "lump_sum"],
        "maintenance" => &["monthly_fee", "parts_markup_percent"],
        "time_and_materials" => &["hourly_rate", "travel_per_visit", "parts_markup_percent"],
        _ => return None,
    })
}

fn service(s: &RawService, at: &str, loc: &Locator) -> Result<ServiceTier> {
    let Some(allowed) = service_fields(&s.kind) else {
        return Err(loc.at_field(
            &format!("{at}.kind"),
            format!(
                "`{}` is not a service kind: use one of {SERVICE_KINDS}",
                s.kind
            ),
        ));
    };
    let present = [
        ("years", s.years.is_some()),
        ("lump_sum", s.lump_sum.is_some()),
        ("monthly_fee", s.monthly_fee.is_some()),
        ("hourly_rate", s.hourly_rate.is_some()),
        ("travel_per_visit", s.travel_per_visit.is_some()),
        ("parts_markup_percent", s.parts_markup_percent.is_some()),
    ];
    let what = format!("{} service tier", s.kind);
    only_allowed(&present, allowed, &what, at, loc)?;
    let need = |v: &Option<String>, name: &str| required_price(v, name, &what, "85.00", at, loc);
    let markup = |loc: &Locator| -> Result<Decimal> {
        match &s.parts_markup_percent {
            Some(t) => decimal_in(
                t,
                &format!("{at}.parts_markup_percent"),
                Decimal::ZERO,
                Decimal::from(1000),
                loc,
            ),
            None => Ok(Decimal::ZERO),
        }
    };
    let pricing = match s.kind.as_str() {
        "full_service" => {
            let years = match s.years {
                Some(y) => int_in(y, 1, 4, &format!("{at}.years"), loc)? as u32,
                None => {
                    return Err(loc.at_field(
                        &format!("{at}.years"),
                        "a full_service tier needs `years` (1 to 4)",
                    ))
                }
            };
            let lump_sum = need(&s.lump_sum, "lump_sum")?;
            if lump_sum.0.normalize().scale() > 2 {
                return Err(loc.at_field(
                    &format!("{at}.lump_sum"),
                    "a lump sum is in whole cents (at most 2 decimals)",
                ));
            }
            ServicePricing::FullService { years, lump_sum }
        }
        "maintenance" => ServicePricing::Maintenance {
            monthly_fee: need(&s.monthly_fee, "monthly_fee")?,
            parts_markup_percent: markup(loc)?,
        },
        _ => ServicePricing::TimeAndMaterials {
            hourly_rate: need(&s.hourly_rate, "hourly_rate")?,
            travel_per_visit: need(&s.travel_per_visit, "travel_per_visit")?,
            parts_markup_percent: markup(loc)?,
        },
    };
    let sla = SlaRule {
        credit_percent: percent(
            s.sla_credit_percent.as_deref().unwrap_or("10"),
            &format!("{at}.sla_credit_percent"),
            loc,
        )?,
        cap_percent: percent(
            s.sla_cap_percent.as_deref().unwrap_or("50"),
            &format!("{at}.sla_cap_percent"),
            loc,
        )?,
    };
    Ok(ServiceTier {
        id: s.id.clone(),
        level: int_in(s.level, 0, 1000, &format!("{at}.level"), loc)? as u32,
        pricing,
        response_hours: int_in(
            s.response_hours,
            1,
            10_000,
            &format!("{at}.response_hours"),
            loc,
        )? as u32,
        repair_hours: int_in(
            s.repair_hours,
            1,
            10_000,
            &format!("{at}.repair_hours"),
            loc,
        )? as u32,
        includes: s.includes.clone(),
        sla,
    })
}

fn ident(id: &str, field: &str, loc: &Locator) -> Result<()> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(loc.at_field(
            field,
            format!("`{id}` is not an id: use letters, digits, `-` and `_`"),
        ))
    }
}

fn int_in(v: i64, min: i64, max: i64, field: &str, loc: &Locator) -> Result<i64> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(loc.at_field(
            field,
            format!("{v} is out of range: an integer from {min} to {max}"),
        ))
    }
}

/// A price: a quoted decimal ≥ 0 with at most 6 decimals.
fn price(text: &str, field: &str, loc: &Locator) -> Result<UnitPrice> {
    let d = decimal_in(text, field, Decimal::ZERO, Decimal::from(10_000_000), loc)?;
    if d.normalize().scale() > 6 {
        return Err(loc.at_field(field, format!("`{text}` has more than 6 decimals")));
    }
    Ok(UnitPrice(d))
}

fn percent(text: &str, field: &str, loc: &Locator) -> Result<Decimal> {
    decimal_in(text, field, Decimal::ZERO, Decimal::ONE_HUNDRED, loc)
}

fn decimal_in(
    text: &str,
    field: &str,
    min: Decimal,
    max: Decimal,
    loc: &Locator,
) -> Result<Decimal> {
    let d: Decimal = text.trim().parse().map_err(|_| {
        loc.at_field(
            field,
            format!("`{text}` is not a decimal: write it quoted with a dot, e.g. \"3.85\""),
        )
    })?;
    if d < min || d > max {
        return Err(loc.at_field(
            field,
            format!("{text} is out of range: a decimal from {min} to {max}"),
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_catalogue_loads() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/catalogue/default.toml"
        ));
        let c = load(path).unwrap();
        assert!(c.plans.len() >= 5);
        assert!(c.services.len() >= 3);
    }

    #[test]
    fn a_float_price_says_to_quote_it() {
        let text = "[[option]]\nid = \"loaner\"\nmonthly_fee = 12.5\n";
        let e = parse(Path::new("c.toml"), text).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.to_string().contains("option.0.monthly_fee"), "{e}");
        assert!(e.message.contains("quoted"), "{e}");
    }
}
