//! `fleetsim quote`'s arguments, and the quote they ask for: one shop priced from a CSV
//! history or from a simulated shop. `cli::quote` prints the explanation (text, or JSON with
//! `--json`) and maps a `QuoteError` to its exit code.

use super::costs::CostModel;
use super::history::{self, HistoryError};
use super::price::{quote, Quote, Terms};
use super::Audit;
use crate::run::RunError;
use crate::scenario::{self, ScenarioError};
use clap::ArgGroup;
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

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

/// Why no quote could be made.
#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    /// A term, margin or price bound out of range (bad input).
    #[error("--{}: {message}", field.replace('_', "-"))]
    Terms {
        field: &'static str,
        message: String,
    },
    /// The CSV history is unreadable or invalid (bad input).
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The scenario file is invalid (bad input).
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// `--shop` is not one of the scenario's shops (bad input).
    #[error("--shop {shop}: {} has {shops} shops, numbered 0 to {}", path.display(), shops - 1)]
    Shop {
        shop: u32,
        path: PathBuf,
        shops: u32,
    },
    /// `--audit-months` is longer than the scenario (bad input).
    #[error(
        "--audit-months {audit_months}: {} simulates {months} months; audit at most that many",
        path.display()
    )]
    AuditMonths {
        audit_months: u32,
        path: PathBuf,
        months: u32,
    },
    /// The simulation of the audited shop failed (a runtime failure).
    #[error(transparent)]
    Run(#[from] RunError),
}

/// A quote, with the cost model it was computed with (what `explain` renders).
pub struct Priced {
    pub quote: Quote,
    pub model: CostModel,
}

/// Prices the shop the arguments name.
pub fn quote_shop(args: &QuoteArgs) -> Result<Priced, QuoteError> {
    let terms = Terms {
        term_months: args.term_months,
        margin: args.margin,
        min_price: args.min_price,
        max_price: args.max_price,
    };
    terms
        .check()
        .map_err(|(field, message)| QuoteError::Terms { field, message })?;
    let audit = match (&args.history, &args.scenario) {
        (Some(path), _) => history::load(path)?,
        (None, Some(path)) => simulated(path, args)?,
        (None, None) => unreachable!("clap requires --history or --scenario"),
    };
    let model = CostModel::default();
    Ok(Priced {
        quote: quote(&audit, &terms, &model),
        model,
    })
}

/// The audit of a simulated shop: the scenario's first months, simulated for the shops up to
/// it (a shop is the same whatever the fleet size).
fn simulated(path: &Path, args: &QuoteArgs) -> Result<Audit, QuoteError> {
    let mut scenario = scenario::load(path)?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let shop = args.shop.expect("clap requires --shop with --scenario");
    if shop >= scenario.fleet.shops {
        return Err(QuoteError::Shop {
            shop,
            path: path.to_path_buf(),
            shops: scenario.fleet.shops,
        });
    }
    if args.audit_months > scenario.months {
        return Err(QuoteError::AuditMonths {
            audit_months: args.audit_months,
            path: path.to_path_buf(),
            months: scenario.months,
        });
    }
    let threads = args
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    Ok(crate::run::audit_shop(
        scenario,
        shop,
        args.audit_months,
        threads,
    )?)
}
