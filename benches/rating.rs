//! Rating throughput: plan invoices for a fleet the size of France (the shop count of
//! `scenarios/france.toml`) over a 48-month term, from the default catalogue, with synthetic
//! per-shop monthly usage generated deterministically (no simulation: rating alone).
//!
//! The same invoices through the reconciliation's reference rater (`reconcile::reference`):
//! what checking them costs.
//!
//! Run: `cargo bench --bench rating -- --warm-up-time 1 --measurement-time 5`

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fleetsim::billing::catalogue::Catalogue;
use fleetsim::billing::catalogue::{ContractSpec, PlanContract};
use fleetsim::billing::catalogue_file;
use fleetsim::billing::plans::{rate, PeriodUsage};
use fleetsim::billing::service::Incident;
use fleetsim::billing::PlanTerms;
use fleetsim::calendar::Period;
use fleetsim::event::ShopId;
use fleetsim::reconcile::reference;
use fleetsim::scenario;
use rust_decimal::Decimal;
use std::hint::black_box;
use std::path::Path;

const MONTHS: u32 = 48;
#[path = "support/plan_mix.rs"]
mod plan_mix;
use plan_mix::{PLANS, SERVICES};

/// splitmix64: a fixed, dependency-free stream per (shop, month).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

struct Fleet {
    catalogue: Catalogue,
    contracts: Vec<PlanContract>,
    /// The same contracts as the terms a run gives the engine (for the reference rater).
    terms: Vec<PlanTerms>,
    /// [shop][month] usage, months from January 2024.
    usage: Vec<Vec<PeriodUsage>>,
}

fn fleet() -> Fleet {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shops = scenario::load(&root.join("scenarios/france.toml"))
        .expect("france.toml is valid")
        .fleet
        .shops;
    let cat = catalogue_file::load(&root.join("scenarios/catalogue/default.toml"))
        .expect("the default catalogue is valid");
    let month_factor = [95, 92, 102, 97, 93, 100, 105, 70, 108, 108, 105, 125];
    let mut contracts = Vec::with_capacity(shops as usize);
    let mut terms = Vec::with_capacity(shops as usize);
    let mut usage = Vec::with_capacity(shops as usize);
    for shop in 0..shops {
        let h = mix(u64::from(shop));
        // Most contracts start on the 1st; one in four mid-month (a stub month first).
        let day = if h % 4 == 0 { 1 + (h >> 8) % 28 } else { 1 } as u32;
        let mut spec = ContractSpec::new(
            ShopId(shop),
            PLANS[(h >> 16) as usize % PLANS.len()],
            NaiveDate::from_ymd_opt(2024, 1, day).unwrap(),
        );
        spec.service = SERVICES[(h >> 24) as usize % SERVICES.len()].map(str::to_string);
        if (h >> 32) % 3 == 0 {
            spec.options = vec!["loaner".into(), "remote_support".into()];
        }
        spec.segment = ((h >> 40) % 10 < 7).then(|| "chain".to_string());
        contracts.push(cat.contract(&spec).expect("contract"));
        terms.push(PlanTerms {
            plan: spec.plan.clone(),
            segment: spec.segment.clone(),
            price_override: None,
            service: spec.service.clone(),
            options: spec.options.clone(),
            start: spec.start,
            term_months: None,
            terminated_on: None,
        });
        // A shop's mean: 20–300 mountings a month (calibration: median ≈ 2.6 pairs a day).
        let mean = 20 + (h >> 48) % 280;
        let months = (0..MONTHS)
            .map(|m| {
                let r = mix(h ^ u64::from(m + 1));
                let mountings = mean * month_factor[(m % 12) as usize] / 100 + r % 15;
                let incidents = if r % 8 == 0 {
                    vec![Incident {
                        response_hours: Decimal::from((r >> 8) % 96),
                        repair_hours: Decimal::from((r >> 16) % 200),
                        labour_minutes: ((r >> 24) % 240) as u32,
                        visits: ((r >> 32) % 2) as u32,
                        parts_cost: Decimal::new(((r >> 40) % 30_000) as i64, 2),
                    }]
                } else {
                    Vec::new()
                };
                PeriodUsage {
                    mountings,
                    trace_only: mountings / 3,
                    corrections: Vec::new(),
                    incidents,
                }
            })
            .collect();
        usage.push(months);
    }
    Fleet {
        catalogue: cat,
        contracts,
        terms,
        usage,
    }
}

fn rating(c: &mut Criterion) {
    let fleet = fleet();
    let invoices = fleet.contracts.len() as u64 * u64::from(MONTHS);
    let mut group = c.benchmark_group("rating");
    group.sample_size(10);
    group.throughput(Throughput::Elements(invoices));
    group.bench_function("france_48_months", |b| {
        b.iter(|| {
            let mut total: i64 = 0;
            for (contract, months) in fleet.contracts.iter().zip(&fleet.usage) {
                let mut period = Period {
                    year: 2024,
                    month: 1,
                };
                for input in months {
                    let inv = rate(contract, period, input).expect("rated");
                    total += inv.invoice.total_cents;
                    period = period.next();
                }
            }
            black_box(total)
        })
    });
    group.bench_function("reference_france_48_months", |b| {
        b.iter(|| {
            let mut total: i64 = 0;
            for (terms, months) in fleet.terms.iter().zip(&fleet.usage) {
                let contract = reference::Contract::resolve(&fleet.catalogue, terms).unwrap();
                let mut period = Period {
                    year: 2024,
                    month: 1,
                };
                for input in months {
                    let usage = reference::Usage {
                        mountings: input.mountings,
                        corrections: &[],
                        incidents: &input.incidents,
                    };
                    let expected = reference::rate(&contract, period, &usage).expect("rated");
                    total += expected.expect("covered").total();
                    period = period.next();
                }
            }
            black_box(total)
        })
    });
    group.finish();
}

criterion_group!(benches, rating);
criterion_main!(benches);
