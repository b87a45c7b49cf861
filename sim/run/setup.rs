//! The run's fixed inputs, derived once from the scenario (fleet, calendar, periods, contracts,
//! plan agreements, incidents), and the engine's preparation before the first event.

use super::RunError;
use crate::billing::{Contract, PlanAgreement, PriceBook};
use crate::calendar::{Calendar, Period};
use crate::event::{MachineId, ShopId};
use crate::fleet::Fleet;
use crate::metering::vee::VeeConfig;
use crate::metering::{Incident, MeteringEngine, MeteringError};
use crate::reconcile::ShopTerm;
use crate::scenario::incidents::ShopIncident;
use crate::scenario::Scenario;
use chrono::Datelike;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What every later stage reads and none changes.
pub(super) struct Setup {
    pub scenario: Arc<Scenario>,
    pub fleet: Arc<Fleet>,
    pub calendar: Arc<Calendar>,
    pub book: PriceBook,
    /// Per shop id: the contracts the run starts with.
    pub contracts: Vec<Contract>,
    pub plans: Vec<PlanAgreement>,
    /// `pricing.incidents`, by shop and period (input data).
    pub incidents: BTreeMap<(ShopId, Period), Vec<Incident>>,
    pub periods: Vec<Period>,
    /// The first day's midnight: an engine with a clock of its own starts there.
    pub start_unix: i64,
}

impl Setup {
    pub fn new(scenario: Scenario) -> Result<Setup, RunError> {
        let scenario = Arc::new(scenario);
        prepare_out_dir(&scenario.output.dir)?;
        let fleet = Arc::new(Fleet::generate(&scenario));
        let calendar = Arc::new(Calendar::new(scenario.start, scenario.months));
        Ok(Setup {
            book: price_book(&scenario, &fleet),
            contracts: crate::pricing::contracts::price_contracts(&scenario.pricing, &fleet),
            plans: crate::pricing::contracts::plan_agreements(&scenario.pricing, &fleet),
            incidents: incidents_by_shop(&scenario.pricing.incidents),
            periods: periods(&calendar, &scenario),
            start_unix: calendar.midnight_unix(0),
            scenario,
            fleet,
            calendar,
        })
    }

    /// Gives the engine what it must know before the first event: its clock, the machines and
    /// their shops, the contracts, and (with a catalogue) the plans and incidents.
    pub fn prepare(&self, engine: &mut dyn MeteringEngine) -> Result<(), MeteringError> {
        engine.advance_clock(self.start_unix)?;
        let bindings: Vec<_> = self
            .fleet
            .machine_shop
            .iter()
            .enumerate()
            .map(|(m, s)| (MachineId(m as u32), *s))
            .collect();
        engine.provision(&bindings)?;
        engine.set_contracts(&self.contracts)?;
        if let Some(catalogue) = &self.scenario.pricing.catalogue {
            engine.set_catalogue(&catalogue.source)?;
            engine.set_plan_contracts(&self.plans)?;
            record_incidents(engine, &self.incidents)?;
        }
        Ok(())
    }
}

/// Per shop, the periods (by index) its contract covers (those holding a day of service;
/// outside them the engine issues no invoice) and whether its machines were removed.
pub(super) fn shop_terms(fleet: &Fleet, calendar: &Calendar) -> Vec<ShopTerm> {
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
pub(super) fn vee_config(scenario: &Scenario) -> VeeConfig {
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

pub(super) fn prepare_out_dir(dir: &Path) -> Result<(), RunError> {
    std::fs::create_dir_all(dir).map_err(|source| RunError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// A run always starts from an empty store: stale events would otherwise be "duplicates".
pub(super) fn remove_stale_store(db: &Path) -> Result<(), RunError> {
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
