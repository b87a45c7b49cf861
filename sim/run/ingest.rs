//! The simulation and the engine side by side: the actors make day batches, the ingestion
//! thread feeds them to the engine and closes periods on schedule (repricing after a
//! `[quote]` audit).

use super::setup::Setup;
use super::{run_actors, RunError};
use crate::actors::{IngestBatch, SimOutcome};
use crate::billing::Contract;
use crate::calendar::{Calendar, DayIndex, Period};
use crate::metering::{IngestReceipt, MeteringEngine, MeteringError};
use crate::progress::Progress;
use crate::quote::backtest;
use crate::quote::{CostModel, Quote};
use crate::scenario::{QuoteSpec, Scenario};
use crate::truth::Activity;
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// What the simulation and the ingestion leave for the later stages.
pub(super) struct Ingested {
    pub engine: Box<dyn MeteringEngine>,
    /// Microseconds each day batch spent in the engine (ingest, plus commit when asked).
    pub latency: Histogram<u64>,
    pub outcome: SimOutcome,
    /// The engine's own count since it was opened: an engine may acknowledge buffered events
    /// later than the call that handed them over.
    pub receipt: IngestReceipt,
    /// `[quote]`: the contracts set after the audit, and the quotes behind them.
    pub repriced: Option<(Vec<Contract>, Vec<Quote>)>,
}

/// Runs the actors and the ingestion thread until the last period is closed.
pub(super) fn simulate_and_ingest(
    setup: &Setup,
    engine: Box<dyn MeteringEngine>,
    threads: usize,
    progress: Arc<dyn Progress>,
) -> Result<Ingested, RunError> {
    let (scenario, calendar) = (&setup.scenario, &setup.calendar);
    let closes = close_schedule(&setup.periods, scenario.pricing.close_after_days);
    progress.start(calendar.days(), calendar.date(0));
    let (tx, rx) = mpsc::channel(4);
    let repricer = scenario.quote.as_ref().map(|spec| Repricer {
        after: setup.periods[spec.audit_months as usize - 1],
        price: {
            let (scenario, calendar, contracts) =
                (scenario.clone(), calendar.clone(), setup.contracts.clone());
            Box::new(move |activities: Vec<Activity>| {
                reprice(&scenario, &calendar, &contracts, &activities)
            })
        },
    });
    let field = crate::service::ingest::FieldIngest::of(scenario);
    let ingest = spawn_ingest(engine, rx, (setup.start_unix, closes), repricer, field);
    let sim = run_actors(
        scenario,
        &setup.fleet,
        calendar,
        tx,
        progress.clone(),
        threads,
    );
    let IngestOutput {
        engine,
        latency,
        result,
        repriced,
    } = ingest
        .join()
        .map_err(|_| RunError::Simulation("the ingestion thread panicked".into()))?;
    progress.finish();
    result?;
    let receipt = engine.receipt_totals();
    let outcome = sim.map_err(RunError::Simulation)?;
    Ok(Ingested {
        engine,
        latency,
        outcome,
        receipt,
        repriced,
    })
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
