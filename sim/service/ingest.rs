//! The field's part of handing a day batch to the engine, on the ingest thread (which owns the
//! engine), around the batch's events:
//! - before them, the incidents the service organisations decided (recorded before any period
//!   they fall in closes; only plan contracts bill service, so only with a catalogue) and the
//!   loaners installed that day, each provisioned from its installation time (after
//!   everything handed over before, `MeteringEngine::provision_at`: so the engine has a
//!   loaner's removal read from its previous stay before the next one begins);
//! - after them, the service desk's health query (`[service.predictive]`), answered once the
//!   batch is durable.
//!
//! Everything goes through `MeteringEngine`, the interface HTTP exposes.

use super::incidents::IncidentBook;
use crate::actors::IngestBatch;
use crate::metering::{MeteringEngine, MeteringError};
use crate::scenario::Scenario;

pub struct FieldIngest {
    incidents: Option<IncidentBook>,
}

impl FieldIngest {
    pub fn of(scenario: &Scenario) -> FieldIngest {
        FieldIngest {
            incidents: (scenario.service.enabled && scenario.pricing.catalogue.is_some())
                .then(IncidentBook::default),
        }
    }

    pub fn before_events(
        &mut self,
        engine: &mut dyn MeteringEngine,
        batch: &IngestBatch,
    ) -> Result<(), MeteringError> {
        if let Some(book) = self.incidents.as_mut() {
            for (shop, period, list) in book.add(&batch.repairs) {
                engine.record_incidents(shop, period, list)?;
            }
        }
        for &(loaner, shop, since) in &batch.installs {
            engine.provision_at(&[(loaner, shop)], since)?;
        }
        Ok(())
    }

    /// The desk's health query, answered after making the batch durable (an engine that
    /// buffers answers for what it was handed, not for what it sent so far).
    pub fn after_events(
        &mut self,
        engine: &mut dyn MeteringEngine,
        batch: &mut IngestBatch,
    ) -> Result<(), MeteringError> {
        let Some(q) = batch.health.take() else {
            return Ok(());
        };
        engine.commit()?;
        let answer = engine.machine_health(q.since).map_err(|e| e.to_string());
        // A coordinator that stopped waiting has ended the run already.
        let _ = q.reply.send(answer);
        Ok(())
    }
}
