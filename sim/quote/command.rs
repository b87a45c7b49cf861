//! `fleetsim quote`: price one shop from a CSV history or from a simulated shop, and print
//! the explanation (text, or JSON with `--json`). Like `load`, the subcommand owns its
//! arguments and its printing; exit codes are `exit`'s.

use super::costs::CostModel;
use super::explain;
use super::price::{quote, Terms};
use super::{history, Audit};
use crate::exit;
use crate::scenario;
use clap::ArgGroup;
use rust_decimal::Decimal;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(group(ArgGroup::new("input").required(true).args(["history", "scenario"])))]
pub struct QuoteArgs {
    /// A shop's daily history, CSV: date,mountings,trace_only,remakes,full_rim,semi_rimless,
    /// rimless,index_150,index_160,index_167,polycarbonate,mineral (README "Pricing a shop").
    #[arg(long, value_name = "CSV")]
    pub history: Option<PathBuf>,
    /// Simulate this scenario's first --audit-months and quote shop --shop.
    #[arg(long, value_name = "TOML", requires = "shop")]
    pub scenario: Option<PathBuf>,
    /// The shop to quote (its number in the scenario, from 0).
    #[arg(long, value_name = "N", requires = "scenario")]
    pub shop: Option<u32>,
    /// Months of the scenario audited (from its start).
    #[arg(long, value_name = "MONTHS", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub audit_months: u32,
    /// Random seed, overriding the scenario's.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Term of the contract, months.
    #[arg(long, value_name = "MONTHS", default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub term_months: u32,
    /// Target margin on the cost to serve, a decimal (0.15 = 15%).
    #[arg(long, value_name = "RATE", default_value = "0.15", value_parser = decimal)]
    pub margin: Decimal,
    /// Lowest price per mounting, EUR.
    #[arg(long, value_name = "EUR", default_value = "2", value_parser = decimal)]
    pub min_price: Decimal,
    /// Highest price per mounting, EUR.
    #[arg(long, value_name = "EUR", default_value = "6", value_parser = decimal)]
    pub max_price: Decimal,
    /// Print the quote as JSON (every line of the explanation with its key and value).
    #[arg(long)]
    pub json: bool,
    /// Worker threads for the simulation [default: available cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
}

/// A decimal ≥ 0 with at most 6 places (a rate or a price).
fn decimal(text: &str) -> Result<Decimal, String> {
    let d: Decimal = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a decimal number, e.g. 0.15 or 3.80"))?;
    if d.is_sign_negative() || d.scale() > 6 || d > Decimal::from(1_000_000) {
        return Err(format!(
            "`{text}`: allowed 0 to 1000000 with at most 6 decimals"
        ));
    }
    Ok(d)
}

pub fn quote_command(args: &QuoteArgs) -> i32 {
    let terms = Terms {
        term_months: args.term_months,
        margin: args.margin,
        min_price: args.min_price,
        max_price: args.max_price,
    };
    if let Err((field, message)) = terms.check() {
        eprintln!("error: --{}: {message}", field.replace('_', "-"));
        return exit::BAD_INPUT;
    }
    let audit = match (&args.history, &args.scenario) {
        (Some(path), _) => match history::load(path) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        },
        (None, Some(path)) => match simulated(path, args) {
            Ok(a) => a,
            Err(code) => return code,
        },
        (None, None) => unreachable!("clap requires --history or --scenario"),
    };
    let model = CostModel::default();
    let q = quote(&audit, &terms, &model);
    if args.json {
        match serde_json::to_string_pretty(&explain::report(&q, &model)) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::RUNTIME;
            }
        }
    } else {
        print!("{}", explain::text(&q, &model));
    }
    exit::OK
}

/// The audit of a simulated shop: the scenario's first months, simulated for the shops up to
/// it (a shop is the same whatever the fleet size).
fn simulated(path: &std::path::Path, args: &QuoteArgs) -> Result<Audit, i32> {
    let mut scenario = scenario::load(path).map_err(|e| {
        eprintln!("error: {e}");
        exit::BAD_INPUT
    })?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let shop = args.shop.expect("clap requires --shop with --scenario");
    if shop >= scenario.fleet.shops {
        eprintln!(
            "error: --shop {shop}: {} has {} shops, numbered 0 to {}",
            path.display(),
            scenario.fleet.shops,
            scenario.fleet.shops - 1
        );
        return Err(exit::BAD_INPUT);
    }
    if args.audit_months > scenario.months {
        eprintln!(
            "error: --audit-months {}: {} simulates {} months; audit at most that many",
            args.audit_months,
            path.display(),
            scenario.months
        );
        return Err(exit::BAD_INPUT);
    }
    let threads = args
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    crate::run::audit_shop(scenario, shop, args.audit_months, threads).map_err(|e| {
        eprintln!("error: {e}");
        exit::RUNTIME
    })
}
