//! `summary.json`: the run in numbers, with stable JSON pointers (README lists them).

use super::RunData;
use crate::billing::{GroupCents, LineGroup};
use crate::money::format_cents;
use crate::reconcile::Reconciliation;
use crate::truth::Tally;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    pub start: String,
    pub months: u32,
    pub shops: u64,
    pub machines: u64,
    pub days: u32,
    pub truth: TruthSummary,
    pub sent: SentSummary,
    pub metered: MeteredSummary,
    pub billed: BilledSummary,
    /// Field faults the simulation injected into the data (counters, reads, delivery).
    pub faults: crate::actors::FaultTally,
    pub reconciliation: Reconciliation,
    /// The shops' contracts: plans, dates, terminations.
    pub contracts: ContractsSummary,
    /// `[quote]` runs only: the calculator out of sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote: Option<crate::quote::backtest::QuoteSummary>,
    /// `[service]` runs only: incidents, repairs, cost to serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<crate::service::outcome::ServiceSummary>,
    /// `[[alternative]]` runs only: every pricing judged, base first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternatives: Option<Vec<super::alternatives::AlternativeSummary>>,
    pub run: RunSummary,
}

#[derive(Clone, Debug, Serialize)]
pub struct TruthSummary {
    pub jobs: u64,
    pub mountings: u64,
    pub billable_mountings: u64,
    pub remakes: u64,
    pub trace_only: u64,
    pub counter_reads: u64,
    pub events: u64,
    /// Jobs per shop per open day, fleet average.
    pub mean_jobs_per_open_day: f64,
    /// `[service]` runs only: mountings ordered remote-edged while the shop had no working
    /// machine (never billed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_billable_mountings: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SentSummary {
    pub events: u64,
    pub duplicates: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct MeteredSummary {
    pub billable_mountings: u64,
    pub trace_only: u64,
    pub counter_reads: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct BilledSummary {
    pub invoices: u64,
    /// Mountings on the invoices (estimates and true-ups included).
    pub mountings: i64,
    pub total_cents: i64,
    pub total: String,
    pub currency: String,
    /// Cents per invoice line kind over all invoices (usage, service, options, credits,
    /// VAT…): what the revenue is made of. Sums to `total_cents`.
    pub by_kind: std::collections::BTreeMap<&'static str, i64>,
    /// The same cents by line group (`billing::groups`: usage, service, VAT…), every group
    /// present, zero or not, so that each pointer always exists. Sums to `total_cents`.
    pub by_group: std::collections::BTreeMap<&'static str, i64>,
}

/// How the shops' contracts ran: counts of shops (a shop on no catalogue plan works the whole
/// run), and what the early terminations brought in.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ContractsSummary {
    pub on_plan: u64,
    /// Contracts that started after the run's first day (their first month prorated unless
    /// they start on a 1st).
    pub started_after_day_one: u64,
    pub terminated_early: u64,
    /// Contracts whose term ended within the run (not early).
    pub ended_at_term: u64,
    /// Net cents of the early termination fees.
    pub termination_fees_cents: i64,
}

impl ContractsSummary {
    fn build(
        d: &RunData,
        by_group: &std::collections::BTreeMap<&'static str, i64>,
    ) -> ContractsSummary {
        let termination = LineGroup::Termination.name();
        let mut c = ContractsSummary {
            termination_fees_cents: by_group.get(termination).copied().unwrap_or(0),
            ..ContractsSummary::default()
        };
        for (s, shop) in d.fleet.shops.iter().enumerate() {
            if d.scenario.pricing.plan_of(s as u32).is_none() {
                continue;
            }
            let service = shop.in_service;
            c.on_plan += 1;
            c.started_after_day_one += u64::from(service.first_day > 0);
            c.terminated_early += u64::from(service.terminated_on.is_some());
            c.ended_at_term += u64::from(service.removed && service.terminated_on.is_none());
        }
        c
    }
}

/// The only section that varies between identical runs.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub events: u64,
    pub wall_seconds: f64,
    pub simulate_seconds: f64,
    pub events_per_second: f64,
    pub threads: usize,
    /// Time each simulated day's batch spent in the metering engine.
    pub ingest_batch_latency_us: LatencySummary,
    /// What the run was estimated to need before it started (`budget`), and what it used:
    /// here because the peak depends on the machine and the timing.
    pub memory_estimate_bytes: u64,
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LatencySummary {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Summary {
    /// `alternatives`: summary.json's `/alternatives`, from the alternatives' view.
    pub fn build(
        d: &RunData,
        alternatives: Option<Vec<super::alternatives::AlternativeSummary>>,
    ) -> Summary {
        let truth = d.outcome.truth.fleet_total();
        let open_days: u64 = d
            .outcome
            .truth
            .daily
            .iter()
            .map(|t| u64::from(t.open_shops))
            .sum();
        let sent = d.outcome.events_emitted + d.outcome.duplicates_sent;
        let issued = || d.invoices.iter().flatten().flatten();
        let total_cents: i64 = issued().map(|i| i.total_cents).sum();
        let by_group = cents_by_group(issued());
        let metered = d.usage.iter().flatten().fold(Tally::default(), |mut t, u| {
            t.mountings += u.billable_mountings;
            t.trace_only += u.trace_only;
            t.counter_reads += u.counter_reads;
            t
        });
        Summary {
            scenario: d.scenario.name.clone(),
            description: d.scenario.description.clone(),
            seed: d.scenario.seed,
            start: d.scenario.start.to_string(),
            months: d.scenario.months,
            shops: d.fleet.shops.len() as u64,
            machines: d.fleet.machine_count() as u64,
            days: d.calendar.days(),
            truth: TruthSummary {
                jobs: truth.jobs,
                mountings: truth.mountings,
                billable_mountings: truth.mountings,
                remakes: truth.remakes,
                trace_only: truth.trace_only,
                counter_reads: truth.counter_reads,
                events: truth.events(),
                mean_jobs_per_open_day: round4(truth.jobs as f64 / open_days.max(1) as f64),
                lost_billable_mountings: d
                    .service
                    .map(|_| d.outcome.truth.lost_billable_mountings()),
            },
            sent: SentSummary {
                events: sent,
                duplicates: d.outcome.duplicates_sent,
            },
            metered: MeteredSummary {
                billable_mountings: metered.mountings,
                trace_only: metered.trace_only,
                counter_reads: metered.counter_reads,
                accepted: d.receipt.accepted,
                duplicates: d.receipt.duplicates,
                rejected: d.receipt.rejected_unknown_machine + d.receipt.rejected_wrong_shop,
            },
            billed: BilledSummary {
                invoices: issued().count() as u64,
                mountings: issued().map(|i| i.billed_mountings()).sum(),
                total_cents,
                total: format_cents(total_cents),
                currency: d.book.currency.to_string(),
                by_kind: cents_by_kind(issued()),
                by_group: by_group.clone(),
            },
            faults: d.outcome.faults,
            reconciliation: d.reconciliation.clone(),
            contracts: ContractsSummary::build(d, &by_group),
            quote: d.quotes.map(|q| q.summary.clone()),
            service: d.service.map(|f| f.summary.clone()),
            alternatives,
            run: RunSummary {
                events: sent,
                wall_seconds: round4(d.timing.wall_seconds),
                simulate_seconds: round4(d.timing.simulate_seconds),
                events_per_second: (sent as f64 / d.timing.wall_seconds.max(1e-9)).round(),
                threads: d.timing.threads,
                ingest_batch_latency_us: LatencySummary {
                    p50: d.timing.batch_latency_us[0],
                    p99: d.timing.batch_latency_us[1],
                    max: d.timing.batch_latency_us[2],
                },
                memory_estimate_bytes: d.timing.memory_estimate_bytes,
                peak_rss_bytes: d.timing.peak_rss_bytes,
            },
        }
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Cents per line kind, kinds by name; a kind no invoice used is left out.
fn cents_by_kind<'a>(
    invoices: impl Iterator<Item = &'a crate::billing::Invoice>,
) -> std::collections::BTreeMap<&'static str, i64> {
    let mut by_kind = std::collections::BTreeMap::new();
    for line in invoices.flat_map(|i| &i.lines) {
        *by_kind.entry(line.kind.name()).or_insert(0) += line.amount_cents;
    }
    by_kind
}

/// Cents per line group, groups by name.
fn cents_by_group<'a>(
    invoices: impl Iterator<Item = &'a crate::billing::Invoice>,
) -> std::collections::BTreeMap<&'static str, i64> {
    let split = GroupCents::of(invoices);
    LineGroup::ALL
        .into_iter()
        .map(|g| (g.name(), split.get(g)))
        .collect()
}
