//! Repairs grouped by what the shop was promised (its service tier's response and repair
//! hours, and loaner): the times it got against the promise.

use super::figures::within_promise;
use crate::report::RunData;
use crate::service::dispatch::Promise;
use crate::service::start::promise_of;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// The repairs of the shops holding one promise.
#[derive(Clone, Debug, PartialEq)]
pub struct Tier {
    pub promise: Promise,
    /// Catalogue service ids of the shops with this promise ("default" without one).
    pub services: Vec<String>,
    pub shops: u64,
    /// Hours to response and to restored, ascending (for the distributions).
    pub response_hours: Vec<f64>,
    pub repair_hours: Vec<f64>,
    pub response_within: u64,
    pub repair_within: u64,
    /// Both within: the repairs that kept the promise (the rest are SLA breaches).
    pub kept: u64,
}

impl Tier {
    pub fn repairs(&self) -> u64 {
        self.response_hours.len() as u64
    }

    /// "full_service: 8 h response, 24 h repair, loaner".
    pub fn label(&self) -> String {
        format!(
            "{}: {} h response, {} h repair{}",
            self.services.join(", "),
            self.promise.response_hours,
            self.promise.repair_hours,
            if self.promise.loaner { ", loaner" } else { "" }
        )
    }
}

type Key = (u32, u32, bool);

fn key(p: &Promise) -> Key {
    (p.response_hours, p.repair_hours, p.loaner)
}

/// One tier per distinct promise, by promise (fastest response first); a promise no shop
/// holds does not appear, one whose shops had no repair appears with none.
pub fn tiers(d: &RunData) -> Vec<Tier> {
    let promises: Vec<Promise> = (0..d.fleet.shops.len() as u32)
        .map(|s| promise_of(d.scenario, s))
        .collect();
    let mut tiers: BTreeMap<Key, (Tier, BTreeSet<String>)> = BTreeMap::new();
    for (s, promise) in promises.iter().enumerate() {
        let service = d
            .scenario
            .pricing
            .plan_of(s as u32)
            .and_then(|c| c.service.clone())
            .unwrap_or_else(|| "default".into());
        let (tier, services) = tiers.entry(key(promise)).or_insert_with(|| {
            (
                Tier {
                    promise: *promise,
                    services: Vec::new(),
                    shops: 0,
                    response_hours: Vec::new(),
                    repair_hours: Vec::new(),
                    response_within: 0,
                    repair_within: 0,
                    kept: 0,
                },
                BTreeSet::new(),
            )
        });
        tier.shops += 1;
        services.insert(service);
    }
    for r in &d.outcome.repairs {
        let Some(promise) = promises.get(r.failure.shop.0 as usize) else {
            continue;
        };
        let Some((tier, _)) = tiers.get_mut(&key(promise)) else {
            continue;
        };
        let i = r.incident();
        tier.response_hours.push(hours(i.response_hours));
        tier.repair_hours.push(hours(i.repair_hours));
        tier.response_within += u64::from(i.response_hours <= promise.response_hours.into());
        tier.repair_within += u64::from(i.repair_hours <= promise.repair_hours.into());
        tier.kept += u64::from(within_promise(r, promise));
    }
    tiers
        .into_values()
        .map(|(mut tier, services)| {
            tier.services = services.into_iter().collect();
            tier.response_hours.sort_by(f64::total_cmp);
            tier.repair_hours.sort_by(f64::total_cmp);
            tier
        })
        .collect()
}

fn hours(h: Decimal) -> f64 {
    h.to_f64().unwrap_or(0.0)
}

/// `part` of `whole` in per mille, integers (a share to read); 0 of 0 is 0.
pub fn permille(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 0;
    }
    part * 1000 / whole
}

/// "93.1 %".
pub fn percent(part: u64, whole: u64) -> String {
    let p = permille(part, whole);
    format!("{}.{} %", p / 10, p % 10)
}

/// The value at quantile `q` of ascending values (nearest rank; 0 when empty).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
