//! The simulated field's incidents as billing takes them: per shop and period (the period of
//! the call), in dispatch order. The engine is told each group in full whenever it grows
//! (`MeteringEngine::record_incidents` replaces a group), before the period closes: repairs
//! travel with the first day batch of the span they were decided in.

use super::Repair;
use crate::billing::service::Incident;
use crate::calendar::Period;
use crate::event::ShopId;
use std::collections::BTreeMap;

/// Incidents by (shop, period of the call).
#[derive(Clone, Debug, Default)]
pub struct IncidentBook {
    groups: BTreeMap<(ShopId, Period), Vec<Incident>>,
}

impl IncidentBook {
    /// Adds repairs; returns the groups that changed (shop, period order), in full.
    pub fn add(&mut self, repairs: &[Repair]) -> Vec<(ShopId, Period, &[Incident])> {
        let mut changed = std::collections::BTreeSet::new();
        for r in repairs {
            let key = (r.failure.shop, Period::of_unix(r.failure.time));
            self.groups.entry(key).or_default().push(r.incident());
            changed.insert(key);
        }
        changed
            .into_iter()
            .map(|key| (key.0, key.1, self.groups[&key].as_slice()))
            .collect()
    }

    pub fn groups(&self) -> &BTreeMap<(ShopId, Period), Vec<Incident>> {
        &self.groups
    }

    /// Every repair of a run at once (the reconciliation's and the reports' view).
    pub fn of(repairs: &[Repair]) -> IncidentBook {
        let mut book = IncidentBook::default();
        book.add(repairs);
        book
    }
}
