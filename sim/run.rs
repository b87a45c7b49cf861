//! One run, end to end: scenario → fleet → actors → metering → billing → reconciliation →
//! reports. The engines are reached only through `MeteringEngine`: provisioning, contracts,
//! ingestion, period closes (which issue the invoices) and queries.
//!
//! Periods close while the simulation runs, `pricing.close_after_days` after they end, as a
//! provider's invoice run would: usage that arrives later (a machine back online after weeks)
//! is billed as late usage, and counters not read by then are estimated.

use crate::actors::{simulate, IngestBatch, SimOutcome};
use crate::billing::{BillingError, Contract, Invoice, PriceBook};
use crate::calendar::Period;
use crate::calendar::{Calendar, DayIndex};
use crate::event::ShopId;
use crate::fleet::Fleet;
use crate::metering::sqlite::SqliteEngine;
use crate::metering::vee::VeeConfig;
use crate::metering::{CounterUsageRow, Incident, MeteringEngine, MeteringError, UsageRow};
use crate::progress::{Progress, Silent};
use crate::quote::backtest;
use crate::quote::{Audit, CostModel, Quote};
use crate::reconcile::{reconcile, Inputs, PlanBook, Reconciliation, Sent, ShopTerm};
use crate::report::{self, QuoteData, RunData, Timing};
use crate::scenario::incidents::ShopIncident;
use crate::scenario::{QuoteSpec, Scenario};
use crate::truth::Activity;
use chrono::Datelike;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

fn run_on(
    scenario: Scenario,
    opts: &RunOptions,
    mut engine: Box<dyn MeteringEngine>,
    progress: Arc<dyn Progress>,
) -> Result<RunResult, RunError> {
    let scenario = Arc::new(scenario);
    prepare_out_dir(&scenario.output.dir)?;
    let started = Instant::now();
    let fleet = Arc::new(Fleet::generate(&scenario));
    let calendar = Arc::new(Calendar::new(scenario.start, scenario.months));
    let book = price_book(&scenario, &fleet);
    // An engine with a clock of its own starts at the scenario's first instant.
    let start_unix = calendar.midnight_unix(0);
    engine.advance_clock(start_unix)?;
    let bindings: Vec<_> = fleet
        .machine_shop
        .iter()
        .enumerate()
        .map(|(m, s)| (crate::event::MachineId(m as u32), *s))
        .collect();
    engine.provision(&bindings)?;
    let contracts = crate::pricing::contracts::price_contracts(&scenario.pricing, &fleet);
    engine.set_contracts(&contracts)?;
    let plans = crate::pricing::contracts::plan_agreements(&scenario.pricing, &fleet);
    let incidents = incidents_by_shop(&scenario.pricing.incidents);
    if let Some(catalogue) = &scenario.pricing.catalogue {
        engine.set_catalogue(&catalogue.source)?;
        engine.set_plan_contracts(&plans)?;
        record_incidents(engine.as_mut(), &incidents)?;
    }

    let periods = periods(&calendar, &scenario);
    let closes = close_schedule(&periods, scenario.pricing.close_after_days);
    progress.start(calendar.days(), calendar.date(0));
    let (tx, rx) = mpsc::channel(4);
    let repricer = scenario.quote.as_ref().map(|spec| Repricer {
        after: periods[spec.audit_months as usize - 1],
        price: {
            let (scenario, calendar, contracts) =
                (scenario.clone(), calendar.clone(), contracts.clone());
            Box::new(move |activities: Vec<Activity>| {
                reprice(&scenario, &calendar, &contracts, &activities)
            })
        },
    });
    let field = crate::service::ingest::FieldIngest::of(&scenario);
    let ingest = spawn_ingest(engine, rx, (start_unix, closes), repricer, field);
    let sim = run_actors(
        &scenario,
        &fleet,
        &calendar,
        tx,
        progress.clone(),
        opts.threads,
    );
    let IngestOutput {
        mut engine,
        latency,
        result,
        repriced,
    } = ingest
        .join()
        .map_err(|_| RunError::Simulation("the ingestion thread panicked".into()))?;
    progress.finish();
    result?;
    // The engine's own count since it was opened: an engine may acknowledge buffered events
    // later than the call that handed them over.
    let receipt = engine.receipt_totals();
    let outcome = sim.map_err(RunError::Simulation)?;
    let simulated = started.elapsed();

    let billed = read_back(engine.as_mut(), &periods, contracts.len())?;
    let quotes = match (&scenario.quote, repriced) {
        (Some(spec), Some((new_contracts, quotes))) => {
            let model = CostModel::default();
            let outcomes = backtest::realise(quotes, &outcome.truth, &calendar, spec, &model);
            let summary = backtest::summary(spec, &calendar, &outcomes, &model);
            Some(QuoteData {
                first_period: spec.audit_months as usize,
                contracts: new_contracts,
                outcomes,
                summary,
                model,
            })
        }
        (Some(_), None) => {
            return Err(RunError::Simulation(
                "the [quote] audit never reached the ingestion thread".into(),
            ))
        }
        _ => None,
    };
    let field = if scenario.service.enabled {
        Some(field_outcome(
            &scenario,
            &fleet,
            &calendar,
            &outcome,
            opts.threads,
        )?)
    } else {
        None
    };
    let incidents = if scenario.service.enabled {
        crate::service::incidents::IncidentBook::of(&outcome.repairs)
            .groups()
            .clone()
    } else {
        incidents
    };
    let terms = shop_terms(&fleet, &calendar);
    let inputs = Inputs {
        repriced: quotes
            .as_ref()
            .map(|q| (q.first_period, q.contracts.as_slice())),
        truth: &outcome.truth,
        periods: &periods,
        usage: &billed.usage,
        counters: &billed.counters,
        invoices: &billed.invoices,
        contracts: &contracts,
        plans: scenario
            .pricing
            .catalogue
            .as_ref()
            .map(|catalogue| PlanBook {
                catalogue: &catalogue.catalogue,
                agreements: &plans,
                incidents: &incidents,
            }),
        terms: &terms,
        unread_mountings: &outcome.unread_mountings,
        sent: Sent {
            emitted: outcome.events_emitted,
            duplicates: outcome.duplicates_sent,
        },
        receipt,
    };
    let reconciliation = reconcile(&inputs);
    let pricings = crate::pricing::evaluate(
        crate::pricing::Stage {
            scenario: &scenario,
            fleet: &fleet,
            periods: &periods,
            truth: &outcome.truth,
            field: field.as_ref().map(|f| crate::pricing::view::Field {
                spec: &scenario.service,
                seed: scenario.seed,
                outcome: f,
                repairs: &outcome.repairs,
                visits: &outcome.preventive,
            }),
            base: crate::pricing::Base {
                contracts: &contracts,
                agreements: &plans,
                invoices: &billed.invoices,
                notes: &billed.notes,
            },
            inputs,
            incidents: &incidents,
        },
        engine.as_mut(),
        progress.as_ref(),
    )?;
    let timing = Timing {
        wall_seconds: started.elapsed().as_secs_f64(),
        simulate_seconds: simulated.as_secs_f64(),
        threads: opts.threads.max(1),
        batch_latency_us: [
            latency.value_at_quantile(0.5),
            latency.value_at_quantile(0.99),
            latency.max(),
        ],
        memory_estimate_bytes: crate::budget::estimate(&scenario).total(),
        peak_rss_bytes: crate::budget::peak_rss(),
    };
    let data = RunData {
        scenario: &scenario,
        fleet: &fleet,
        calendar: &calendar,
        periods: &periods,
        outcome: &outcome,
        usage: &billed.usage,
        counters: &billed.counters,
        invoices: &billed.invoices,
        notes: &billed.notes,
        contracts: &contracts,
        book: &book,
        receipt,
        reconciliation: &reconciliation,
        timing,
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

/// The field's results, with predictive maintenance's comparison when the policy is on.
fn field_outcome(
    scenario: &Scenario,
    fleet: &Fleet,
    calendar: &Calendar,
    outcome: &SimOutcome,
    threads: usize,
) -> Result<crate::service::outcome::FieldOutcome, RunError> {
    let (truth, repairs, visits) = (&outcome.truth, &outcome.repairs, &outcome.preventive);
    let mut field = crate::service::outcome::FieldOutcome::build(
        scenario, fleet, calendar, truth, repairs, visits,
    );
    let with = field.figures(truth, repairs, visits);
    let comparison = crate::service::compare::with_and_without(scenario, with, threads)
        .map_err(RunError::Simulation)?;
    field.set_predictive(comparison);
    Ok(field)
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

struct IngestOutput {
    engine: Box<dyn MeteringEngine>,
    /// Microseconds each day batch spent in the engine (ingest, plus commit when asked).
    latency: Histogram<u64>,
    result: Result<(), MeteringError>,
    /// `[quote]`: the contracts set after the audit, and the quotes behind them.
    repriced: Option<(Vec<Contract>, Vec<Quote>)>,
}

/// New contracts from the audit's activities, and the quotes behind them.
type PriceFn = Box<dyn FnOnce(Vec<Activity>) -> (Vec<Contract>, Vec<Quote>) + Send>;

/// `[quote]`: prices every shop when the audit arrives (with the batch of its last day);
/// the new contracts take effect once period `after` (the audit's last) is closed, so the
/// audit's invoices keep the scenario's prices.
struct Repricer {
    after: Period,
    price: PriceFn,
}

/// Every shop's quote from its audit, and its contract at the quoted price (same basis and
/// currency as before).
fn reprice(
    scenario: &Scenario,
    calendar: &Calendar,
    contracts: &[Contract],
    activities: &[Activity],
) -> (Vec<Contract>, Vec<Quote>) {
    let spec: &QuoteSpec = scenario.quote.as_ref().expect("a repricer has a [quote]");
    let quotes = backtest::price_fleet(
        &scenario.name,
        activities,
        calendar,
        spec,
        &CostModel::default(),
    );
    let contracts = contracts
        .iter()
        .zip(&quotes)
        .map(|(c, q)| Contract {
            price_per_mounting: crate::money::UnitPrice(q.price),
            ..c.clone()
        })
        .collect();
    (contracts, quotes)
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

/// The engine lives on its own thread, fed day batches through a bounded channel, so that
/// simulation and ingestion overlap and a slow engine slows the simulation down. Periods close
/// on schedule, before the batch of their close day; the rest close after the last batch.
/// The engine's clock (if it has one) follows the virtual time: the start of a close's day
/// before it closes, the end of a batch's day before its events, so every event is in the
/// engine's past and every close after its period's end. `start_unix`: the first day's
/// midnight.
fn spawn_ingest(
    mut engine: Box<dyn MeteringEngine>,
    mut rx: mpsc::Receiver<IngestBatch>,
    (start_unix, closes): (i64, Vec<(DayIndex, Period)>),
    mut repricer: Option<Repricer>,
    mut field: crate::service::ingest::FieldIngest,
) -> std::thread::JoinHandle<IngestOutput> {
    let midnight = move |day: DayIndex| start_unix + i64::from(day) * 86_400;
    std::thread::Builder::new()
        .name("fleetsim-ingest".into())
        .spawn(move || {
            // Fixed bounds (1 µs to 1 h): an auto-resizing histogram clamps rather than grows
            // under `saturating_record`, and a run may start with an empty day.
            let mut latency =
                Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
            // `[quote]`: (period after whose close they apply, contracts), then the result.
            let mut pending: Option<(Period, Vec<Contract>)> = None;
            let mut repriced = None;
            let result = (|| {
                let mut closes = closes.into_iter().peekable();
                while let Some(mut batch) = rx.blocking_recv() {
                    while let Some((day, period)) = closes.next_if(|(day, _)| *day <= batch.day) {
                        engine.advance_clock(midnight(day))?;
                        close_and_reprice(engine.as_mut(), period, &mut pending)?;
                    }
                    if let Some(audit) = batch.audit.take() {
                        if let Some(r) = repricer.take() {
                            let (contracts, quotes) = (r.price)(audit);
                            pending = Some((r.after, contracts.clone()));
                            repriced = Some((contracts, quotes));
                        }
                    }
                    engine.advance_clock(midnight(batch.day + 1))?;
                    field.before_events(engine.as_mut(), &batch)?;
                    let started = Instant::now();
                    engine.ingest(&batch.events)?;
                    if batch.commit {
                        engine.commit()?;
                    }
                    latency.saturating_record(started.elapsed().as_micros() as u64);
                    field.after_events(engine.as_mut(), &mut batch)?;
                }
                engine.commit()?;
                for (day, period) in closes {
                    engine.advance_clock(midnight(day))?;
                    close_and_reprice(engine.as_mut(), period, &mut pending)?;
                }
                Ok(())
            })();
            IngestOutput {
                engine,
                latency,
                result,
                repriced,
            }
        })
        .expect("spawning a thread")
}

/// Closes `period`; if it is the audit's last, the quoted contracts take effect now, before
/// any later period closes.
fn close_and_reprice(
    engine: &mut dyn MeteringEngine,
    period: Period,
    pending: &mut Option<(Period, Vec<Contract>)>,
) -> Result<(), MeteringError> {
    close(engine, period)?;
    if let Some((_, contracts)) = pending.take_if(|(after, _)| *after == period) {
        engine.set_contracts(&contracts)?;
    }
    Ok(())
}

/// Sends everything queued, then closes the period (the engine issues its invoices).
fn close(engine: &mut dyn MeteringEngine, period: Period) -> Result<(), MeteringError> {
    engine.commit()?;
    engine.close_period(period).map(drop)
}

/// When each period closes: before the batch of the day `after_days` past its end, or at the
/// end of the run (day index beyond the calendar) if that day is not simulated.
/// The calendar starts on the first day of the first period.
fn close_schedule(periods: &[Period], after_days: u32) -> Vec<(DayIndex, Period)> {
    let mut day_of_next_month = 0;
    periods
        .iter()
        .map(|&period| {
            let seconds = period.next().start_unix() - period.start_unix();
            day_of_next_month += (seconds / 86_400) as u32;
            (day_of_next_month + after_days, period)
        })
        .collect()
}

/// What the engine metered and billed, per period, for the run's own shops.
struct Billed {
    usage: Vec<Vec<UsageRow>>,
    counters: Vec<Vec<CounterUsageRow>>,
    /// Per period, per shop id.
    invoices: Vec<Vec<Option<Invoice>>>,
    /// Per period: the notes of plan invoices (included, not included, proration, …), by shop.
    notes: Vec<BTreeMap<ShopId, Vec<String>>>,
}

/// Reads usage (both bases) and the issued invoices back through the engine's interface.
/// A shared engine may meter other shops too: the run reconciles its own. Usage misattributed
/// to a foreign shop still shows, as usage missing from ours.
fn read_back(
    engine: &mut dyn MeteringEngine,
    periods: &[Period],
    shops: usize,
) -> Result<Billed, RunError> {
    let ours = |shop: ShopId| (shop.0 as usize) < shops;
    let mut billed = Billed {
        usage: Vec::new(),
        counters: Vec::new(),
        invoices: Vec::new(),
        notes: Vec::new(),
    };
    for &period in periods {
        let mut rows = engine.usage(period)?;
        rows.retain(|r| ours(r.shop));
        billed.usage.push(rows);
        let mut rows = engine.counter_usage(period)?;
        rows.retain(|r| ours(r.shop));
        // Reports and reconciliation look shops up by binary search; another engine need not
        // answer in shop order.
        rows.sort_by_key(|r| r.shop);
        billed.counters.push(rows);
        let mut by_shop = vec![None; shops];
        for invoice in engine.invoices(period)? {
            let shop = invoice.shop.0 as usize;
            if shop < shops {
                by_shop[shop] = Some(invoice);
            }
        }
        billed.invoices.push(by_shop);
        let mut notes = engine.invoice_notes(period)?;
        notes.retain(|shop, _| ours(*shop));
        billed.notes.push(notes);
    }
    Ok(billed)
}

/// Per shop, the periods (by index) its contract covers (those holding a day of service;
/// outside them the engine issues no invoice) and whether its machines were removed.
fn shop_terms(fleet: &Fleet, calendar: &Calendar) -> Vec<ShopTerm> {
    fleet
        .shops
        .iter()
        .map(|shop| {
            let s = shop.in_service;
            ShopTerm {
                periods: calendar.period_of(s.first_day) as usize
                    ..calendar.period_of(s.last_day) as usize + 1,
                removed: s.removed,
            }
        })
        .collect()
}

/// `pricing.incidents`, grouped by shop and period as the engine takes them (input data until
/// a simulated field service produces incidents); the reconciliation rates them too.
fn incidents_by_shop(incidents: &[ShopIncident]) -> BTreeMap<(ShopId, Period), Vec<Incident>> {
    let mut groups: BTreeMap<(ShopId, Period), Vec<Incident>> = BTreeMap::new();
    for i in incidents {
        groups
            .entry((ShopId(i.shop), i.period))
            .or_default()
            .push(i.incident.clone());
    }
    groups
}

fn record_incidents(
    engine: &mut dyn MeteringEngine,
    groups: &BTreeMap<(ShopId, Period), Vec<Incident>>,
) -> Result<(), MeteringError> {
    for ((shop, period), incidents) in groups {
        engine.record_incidents(*shop, *period, incidents)?;
    }
    Ok(())
}

/// The embedded engine validates counters with the scenario's counter width.
fn vee_config(scenario: &Scenario) -> VeeConfig {
    VeeConfig {
        modulus: scenario.faults.counter_modulus(),
        ..VeeConfig::default()
    }
}

fn price_book(scenario: &Scenario, fleet: &Fleet) -> PriceBook {
    PriceBook {
        currency: scenario.pricing.currency.clone(),
        per_mounting: fleet.shops.iter().map(|s| s.price).collect(),
    }
}

fn periods(calendar: &Calendar, scenario: &Scenario) -> Vec<Period> {
    let first = Period {
        year: scenario.start.year(),
        month: scenario.start.month(),
    };
    std::iter::successors(Some(first), |p| Some(p.next()))
        .take(calendar.months() as usize)
        .collect()
}

fn prepare_out_dir(dir: &Path) -> Result<(), RunError> {
    std::fs::create_dir_all(dir).map_err(|source| RunError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// A run always starts from an empty store: stale events would otherwise be "duplicates".
fn remove_stale_store(db: &Path) -> Result<(), RunError> {
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(RunError::Io { path, source }),
        }
    }
    Ok(())
}
