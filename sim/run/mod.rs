//! One run, end to end: scenario → fleet → actors → metering → billing → reconciliation →
//! reports. The engines are reached only through `MeteringEngine`: provisioning, contracts,
//! ingestion, period closes (which issue the invoices) and queries.
//!
//! Periods close while the simulation runs, `pricing.close_after_days` after they end, as a
//! provider's invoice run would: usage that arrives later (a machine back online after weeks)
//! is billed as late usage, and counters not read by then are estimated.

mod ingest;
mod read_back;
mod setup;

use crate::actors::{simulate, IngestBatch, SimOutcome};
use crate::billing::BillingError;
use crate::calendar::{Calendar, Period};
use crate::event::ShopId;
use crate::fleet::Fleet;
use crate::metering::sqlite::SqliteEngine;
use crate::metering::{Incident, IngestReceipt, MeteringEngine, MeteringError};
use crate::progress::{Progress, Silent};
use crate::quote::backtest;
use crate::quote::{Audit, CostModel};
use crate::reconcile::{reconcile, Inputs, PlanBook, Reconciliation, Sent, ShopTerm};
use crate::report::{self, QuoteData, RunData, Timing};
use crate::scenario::{QuoteSpec, Scenario};
use read_back::{read_back, Billed};
use setup::{prepare_out_dir, remove_stale_store, shop_terms, vee_config, Setup};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// File name of the embedded metering store inside the output folder.
pub const METERING_DB: &str = "metering.sqlite";

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Output folder; overrides the scenario's.
    pub out: Option<PathBuf>,
    /// Seed; overrides the scenario's.
    pub seed: Option<u64>,
    /// Tokio worker threads for the actors (≥ 1).
    pub threads: usize,
    /// Report no progress (`run_reporting` never calls its `Progress`).
    pub quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Metering(#[from] MeteringError),
    #[error(transparent)]
    Billing(#[from] BillingError),
    #[error(transparent)]
    Pricing(#[from] crate::pricing::PricingError),
    #[error("simulation: {0}")]
    Simulation(String),
}

pub struct RunResult {
    pub out_dir: PathBuf,
    pub reconciliation: Reconciliation,
    pub summary: report::Summary,
    /// `[[alternative]]` runs only: every pricing billed, reconciled and judged.
    pub pricings: Option<crate::pricing::Evaluation>,
}

/// Runs a scenario against the embedded SQLite engine, in a fresh store in the output folder.
pub fn run(scenario: Scenario, opts: &RunOptions) -> Result<RunResult, RunError> {
    run_reporting(scenario, opts, None, Arc::new(Silent))
}

/// Runs a scenario against any metering engine (the scenario's seed/out overrides applied).
pub fn run_with_engine(
    scenario: Scenario,
    opts: &RunOptions,
    engine: Box<dyn MeteringEngine>,
) -> Result<RunResult, RunError> {
    run_reporting(scenario, opts, Some(engine), Arc::new(Silent))
}

/// Runs a scenario against `engine`, or the embedded one (in a fresh store in the output
/// folder) when `None`, and reports the days simulated to `progress` unless `opts.quiet`.
pub fn run_reporting(
    scenario: Scenario,
    opts: &RunOptions,
    engine: Option<Box<dyn MeteringEngine>>,
    progress: Arc<dyn Progress>,
) -> Result<RunResult, RunError> {
    let scenario = apply_overrides(scenario, opts);
    let engine = match engine {
        Some(engine) => engine,
        None => embedded_engine(&scenario)?,
    };
    let progress = if opts.quiet {
        Arc::new(Silent)
    } else {
        progress
    };
    run_on(scenario, opts, engine, progress)
}

/// The embedded engine, in a fresh store in the scenario's output folder.
fn embedded_engine(scenario: &Scenario) -> Result<Box<dyn MeteringEngine>, RunError> {
    let out = &scenario.output.dir;
    prepare_out_dir(out)?;
    let db = out.join(METERING_DB);
    remove_stale_store(&db)?;
    Ok(Box::new(SqliteEngine::open_with(
        &db,
        Some(vee_config(scenario)),
    )?))
}

/// The pipeline: setup → engine prepared → actors and ingestion → read back → quotes and
/// field → reconciliation → pricings → reports. Each stage is a function or a module of its own.
fn run_on(
    scenario: Scenario,
    opts: &RunOptions,
    mut engine: Box<dyn MeteringEngine>,
    progress: Arc<dyn Progress>,
) -> Result<RunResult, RunError> {
    let started = Instant::now();
    let setup = Setup::new(scenario)?;
    setup.prepare(engine.as_mut())?;
    let mut sim = ingest::simulate_and_ingest(&setup, engine, opts.threads, progress.clone())?;
    let simulated = started.elapsed();
    let billed = read_back(sim.engine.as_mut(), &setup.periods, setup.contracts.len())?;
    let quotes = quote_data(&setup, &mut sim)?;
    let field = field_stage(&setup, &sim.outcome, opts.threads)?;
    let incidents = incident_groups(&setup, &sim.outcome);
    let terms = shop_terms(&setup.fleet, &setup.calendar);
    let inputs = reconcile_inputs(
        &setup,
        (&sim.outcome, sim.receipt),
        &billed,
        quotes.as_ref(),
        &incidents,
        &terms,
    );
    let reconciliation = reconcile(&inputs);
    let (scenario, outcome) = (&setup.scenario, &sim.outcome);
    let pricings = crate::pricing::evaluate(
        crate::pricing::Stage {
            scenario,
            fleet: &setup.fleet,
            periods: &setup.periods,
            truth: &outcome.truth,
            field: field.as_ref().map(|f| crate::pricing::view::Field {
                spec: &scenario.service,
                seed: scenario.seed,
                outcome: f,
                repairs: &outcome.repairs,
                visits: &outcome.preventive,
            }),
            base: crate::pricing::Base {
                contracts: &setup.contracts,
                agreements: &setup.plans,
                invoices: &billed.invoices,
                notes: &billed.notes,
            },
            inputs,
            incidents: &incidents,
        },
        sim.engine.as_mut(),
        progress.as_ref(),
    )?;
    let data = RunData {
        scenario,
        fleet: &setup.fleet,
        calendar: &setup.calendar,
        periods: &setup.periods,
        outcome,
        usage: &billed.usage,
        counters: &billed.counters,
        invoices: &billed.invoices,
        notes: &billed.notes,
        contracts: &setup.contracts,
        book: &setup.book,
        receipt: sim.receipt,
        reconciliation: &reconciliation,
        timing: timing(&setup, &sim, opts, started, simulated),
        quotes: quotes.as_ref(),
        service: field.as_ref(),
        pricings: pricings.as_ref(),
    };
    let summary = report::write_all(&scenario.output.dir, &data)
        .map_err(|(path, source)| RunError::Io { path, source })?;
    Ok(RunResult {
        out_dir: scenario.output.dir.clone(),
        reconciliation,
        summary,
        pricings,
    })
}

/// `[quote]`: the audit's quotes realised over the rest of the run.
fn quote_data(setup: &Setup, sim: &mut ingest::Ingested) -> Result<Option<QuoteData>, RunError> {
    match (&setup.scenario.quote, sim.repriced.take()) {
        (Some(spec), Some((new_contracts, quotes))) => {
            let model = CostModel::default();
            let outcomes =
                backtest::realise(quotes, &sim.outcome.truth, &setup.calendar, spec, &model);
            let summary = backtest::summary(spec, &setup.calendar, &outcomes, &model);
            Ok(Some(QuoteData {
                first_period: spec.audit_months as usize,
                contracts: new_contracts,
                outcomes,
                summary,
                model,
            }))
        }
        (Some(_), None) => Err(RunError::Simulation(
            "the [quote] audit never reached the ingestion thread".into(),
        )),
        _ => Ok(None),
    }
}

/// The incidents the plans bill: the simulated field's repairs, or else the scenario's.
fn incident_groups(
    setup: &Setup,
    outcome: &SimOutcome,
) -> BTreeMap<(ShopId, Period), Vec<Incident>> {
    if setup.scenario.service.enabled {
        crate::service::incidents::IncidentBook::of(&outcome.repairs)
            .groups()
            .clone()
    } else {
        setup.incidents.clone()
    }
}

/// What the reconciliation checks: the truth against what the engine metered and billed.
fn reconcile_inputs<'a>(
    setup: &'a Setup,
    (outcome, receipt): (&'a SimOutcome, IngestReceipt),
    billed: &'a Billed,
    quotes: Option<&'a QuoteData>,
    incidents: &'a BTreeMap<(ShopId, Period), Vec<Incident>>,
    terms: &'a [ShopTerm],
) -> Inputs<'a> {
    Inputs {
        repriced: quotes.map(|q| (q.first_period, q.contracts.as_slice())),
        truth: &outcome.truth,
        periods: &setup.periods,
        usage: &billed.usage,
        counters: &billed.counters,
        invoices: &billed.invoices,
        contracts: &setup.contracts,
        plans: setup
            .scenario
            .pricing
            .catalogue
            .as_ref()
            .map(|catalogue| PlanBook {
                catalogue: &catalogue.catalogue,
                agreements: &setup.plans,
                incidents,
            }),
        terms,
        unread_mountings: &outcome.unread_mountings,
        sent: Sent {
            emitted: outcome.events_emitted,
            duplicates: outcome.duplicates_sent,
        },
        receipt,
    }
}

fn timing(
    setup: &Setup,
    sim: &ingest::Ingested,
    opts: &RunOptions,
    started: Instant,
    simulated: std::time::Duration,
) -> Timing {
    Timing {
        wall_seconds: started.elapsed().as_secs_f64(),
        simulate_seconds: simulated.as_secs_f64(),
        threads: opts.threads.max(1),
        batch_latency_us: [
            sim.latency.value_at_quantile(0.5),
            sim.latency.value_at_quantile(0.99),
            sim.latency.max(),
        ],
        memory_estimate_bytes: crate::budget::estimate(&setup.scenario).total(),
        peak_rss_bytes: crate::budget::peak_rss(),
    }
}

/// `[service]` runs: the field's results, with predictive maintenance's comparison when the
/// policy is on.
fn field_stage(
    setup: &Setup,
    outcome: &SimOutcome,
    threads: usize,
) -> Result<Option<crate::service::outcome::FieldOutcome>, RunError> {
    let (scenario, fleet, calendar) = (&setup.scenario, &setup.fleet, &setup.calendar);
    if !scenario.service.enabled {
        return Ok(None);
    }
    let (truth, repairs, visits) = (&outcome.truth, &outcome.repairs, &outcome.preventive);
    let mut field = crate::service::outcome::FieldOutcome::build(
        scenario, fleet, calendar, truth, repairs, visits,
    );
    let with = field.figures(truth, repairs, visits);
    let comparison = crate::service::compare::with_and_without(scenario, with, threads)
        .map_err(RunError::Simulation)?;
    field.set_predictive(comparison);
    Ok(Some(field))
}

fn apply_overrides(mut scenario: Scenario, opts: &RunOptions) -> Scenario {
    if let Some(seed) = opts.seed {
        scenario.seed = seed;
    }
    if let Some(out) = &opts.out {
        scenario.output.dir = out.clone();
    }
    scenario
}

pub(crate) fn run_actors(
    scenario: &Arc<Scenario>,
    fleet: &Arc<Fleet>,
    calendar: &Arc<Calendar>,
    tx: mpsc::Sender<IngestBatch>,
    progress: Arc<dyn Progress>,
    threads: usize,
) -> Result<SimOutcome, String> {
    // Multi-thread even for one worker: measured faster than the current-thread runtime
    // here. Output order comes from the protocol, never from the scheduler.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("fleetsim-actor")
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the actor runtime: {e}"))?;
    runtime.block_on(simulate(
        scenario.clone(),
        fleet.clone(),
        calendar.clone(),
        tx,
        progress,
    ))
}

/// Simulates the first `months` of a scenario for shops `0..=shop` only (shop i is the same
/// shop whatever the fleet size) with no engine, and returns `shop`'s audit, day by day.
pub fn audit_shop(
    mut scenario: Scenario,
    shop: u32,
    months: u32,
    threads: usize,
) -> Result<Audit, RunError> {
    scenario.months = months;
    scenario.fleet.shops = shop + 1;
    scenario.quote = Some(QuoteSpec {
        audit_months: months,
        terms: crate::quote::Terms::default(),
    });
    let scenario = Arc::new(scenario);
    let fleet = Arc::new(Fleet::generate(&scenario));
    let calendar = Arc::new(Calendar::new(scenario.start, scenario.months));
    let outcome = simulate_without_engine(&scenario, &fleet, &calendar, threads)
        .map_err(RunError::Simulation)?;
    let activity = outcome.truth.activity(shop, 0..months, 0..calendar.days());
    Ok(Audit::from_activity(
        backtest::source(&scenario.name, ShopId(shop), &calendar, months),
        &calendar,
        0..months,
        &activity,
    ))
}

/// Simulates the scenario with no engine: its batches are drained as they come (an audit, a
/// comparison: only the truth and the field's outcome are wanted).
pub fn simulate_without_engine(
    scenario: &Arc<Scenario>,
    fleet: &Arc<Fleet>,
    calendar: &Arc<Calendar>,
    threads: usize,
) -> Result<SimOutcome, String> {
    let (tx, mut rx) = mpsc::channel::<IngestBatch>(4);
    let drain = std::thread::spawn(move || while rx.blocking_recv().is_some() {});
    let outcome = run_actors(scenario, fleet, calendar, tx, Arc::new(Silent), threads);
    drain
        .join()
        .map_err(|_| "the draining thread panicked".to_string())?;
    outcome
}
