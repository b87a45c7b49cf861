//! `PacedEngine`: the run's `MeteringEngine` in a fleet-shaped load. The run hands it a day of
//! events at a time, as it hands any engine; instead of sending them at once, it turns them
//! into the machines' uploads (`uploads`), gives each its wall instant (`pacing`), and queues
//! them for the senders. Everything else goes to the target through `HttpEngine`, timed per
//! endpoint; the calls that must see every event sent so far (a period's close, a health
//! query, a machine moving, a commit) first wait until the queue has settled, as a provider's
//! invoice run waits for the day's data.

use super::pacing::Pacing;
use super::sender::{Due, Feed, Request};
use super::uploads::{day_uploads, Delivery};
use crate::billing::close::MeteredClose;
use crate::calendar::Period;
use crate::event::wire::encode::batch_json;
use crate::event::{MachineId, ShopId, UsageEvent};
use crate::http::client::HttpEngine;
use crate::metering::{
    Contract, CounterUsageRow, Incident, IngestReceipt, Invoice, MachineHealth, MeteringEngine,
    MeteringError, PlanAgreement, UsageRow,
};
use axum::http::HeaderValue;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How far ahead of the first upload the run's wall clock starts: the first day's bodies are
/// built before its first instant comes.
const LEAD: Duration = Duration::from_millis(200);

/// One endpoint's calls: how many, how many failed, and their service times.
#[derive(Clone)]
pub struct EndpointTotals {
    pub calls: u64,
    pub errors: u64,
    /// Microseconds.
    pub service: Histogram<u64>,
}

/// Per endpoint (`PUT /v1/admin/clock`, `POST /v1/admin/periods/{period}/close`, …), shared
/// with the caller, who reads it after the run.
pub type Endpoints = Arc<Mutex<BTreeMap<&'static str, EndpointTotals>>>;

pub struct PacedEngine {
    inner: HttpEngine,
    feed: Feed,
    pacing: Pacing,
    /// Virtual unix seconds of the fleet's start (the first clock the run sets).
    origin: Option<i64>,
    /// The latest clock the run set: before a day's events, the end of that day.
    clock: i64,
    delivery: Delivery,
    endpoints: Endpoints,
}

impl PacedEngine {
    pub fn new(
        inner: HttpEngine,
        feed: Feed,
        pacing: Pacing,
        delivery: Delivery,
        endpoints: Endpoints,
    ) -> PacedEngine {
        PacedEngine {
            inner,
            feed,
            pacing,
            origin: None,
            clock: 0,
            delivery,
            endpoints,
        }
    }

    /// Runs `call` on the target, recording its service time under `endpoint`.
    fn timed<T>(
        &mut self,
        endpoint: &'static str,
        call: impl FnOnce(&mut HttpEngine) -> Result<T, MeteringError>,
    ) -> Result<T, MeteringError> {
        let started = Instant::now();
        let result = call(&mut self.inner);
        let micros = super::super::driver::micros(started.elapsed());
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        let totals = endpoints.entry(endpoint).or_insert_with(|| EndpointTotals {
            calls: 0,
            errors: 0,
            service: super::super::driver::new_histogram(),
        });
        totals.calls += 1;
        totals.errors += u64::from(result.is_err());
        totals.service.saturating_record(micros);
        result
    }

    /// Waits until every queued upload is settled.
    fn drain(&self) -> Result<(), MeteringError> {
        self.feed.drain().map_err(|_| self.stopped())
    }

    fn stopped(&self) -> MeteringError {
        MeteringError::Remote {
            url: self.inner.options().url.clone(),
            message: "every sender stopped before the fleet's events were sent".into(),
        }
    }

    /// The wall instant of a virtual one.
    fn due(&self, start: Instant, virtual_at: i64) -> (Instant, usize) {
        let origin = self.origin.unwrap_or(virtual_at);
        let offset = (virtual_at - origin) as f64;
        // A stopped pace cannot happen after validation (the last stage ends above zero);
        // should it, the upload goes at once rather than never.
        let wall = self.pacing.wall_at(offset).unwrap_or(0.0);
        let at = start + Duration::from_secs_f64(wall.clamp(0.0, 1e9));
        (at, self.pacing.stage_at(wall))
    }

    fn bearer(&self, shop: ShopId) -> Option<HeaderValue> {
        let key = self.inner.shop_key(shop)?;
        HeaderValue::from_str(&format!("Bearer {key}")).ok()
    }
}

impl MeteringEngine for PacedEngine {
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
        self.timed("POST /v1/admin/machines", |e| e.provision(machines))
    }

    /// A machine moving: what it sent from its previous shop must be stored first.
    fn provision_at(
        &mut self,
        machines: &[(MachineId, ShopId)],
        since: i64,
    ) -> Result<(), MeteringError> {
        self.drain()?;
        self.timed("POST /v1/admin/machines", |e| {
            e.provision_at(machines, since)
        })
    }

    /// Queues the day's uploads at their instants; nothing is acknowledged yet. Refused once a
    /// threshold aborted the run.
    fn ingest(&mut self, events: &[UsageEvent]) -> Result<IngestReceipt, MeteringError> {
        if let Some(why) = self.feed.aborted() {
            return Err(MeteringError::Remote {
                url: self.inner.options().url.clone(),
                message: format!("aborted: {why}"),
            });
        }
        // The run's wall start, set at the first events (kept once, in the feed).
        let start = self.feed.start_at(Instant::now() + LEAD);
        // The run sets the clock to the end of a day before handing over its events.
        let day_start = self.clock - 86_400;
        for upload in day_uploads(day_start, events, self.delivery) {
            let (due, stage) = self.due(start, upload.at);
            let auth = self.bearer(upload.shop);
            let requests = upload
                .requests
                .iter()
                .map(|events| Request {
                    body: bytes::Bytes::from(batch_json(events)),
                    events: events.len() as u64,
                    auth: auth.clone(),
                })
                .collect();
            let due = Due {
                due,
                stage,
                virtual_at: upload.at,
                requests,
            };
            self.feed.push(due).map_err(|_| self.stopped())?;
        }
        Ok(IngestReceipt::default())
    }

    /// Waits until everything queued is settled: every acknowledged batch is durable on a
    /// fleetsim server.
    fn commit(&mut self) -> Result<(), MeteringError> {
        self.drain()
    }

    fn usage(&mut self, period: Period) -> Result<Vec<UsageRow>, MeteringError> {
        self.timed("GET /v1/usage", |e| e.usage(period))
    }

    fn receipt_totals(&self) -> IngestReceipt {
        self.feed.receipts()
    }

    fn advance_clock(&mut self, now_unix: i64) -> Result<(), MeteringError> {
        self.origin.get_or_insert(now_unix);
        self.clock = now_unix;
        self.timed("PUT /v1/admin/clock", |e| e.advance_clock(now_unix))
    }

    fn set_contracts(&mut self, contracts: &[Contract]) -> Result<(), MeteringError> {
        self.timed("PUT /v1/admin/contracts", |e| e.set_contracts(contracts))
    }

    fn close_period(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.drain()?;
        self.timed("POST /v1/admin/periods/{period}/close", |e| {
            e.close_period(period)
        })
    }

    fn metered_close(&mut self, period: Period) -> Result<Option<MeteredClose>, MeteringError> {
        self.timed("GET /v1/closes/{period}/metered", |e| {
            e.metered_close(period)
        })
    }

    fn invoices(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.timed("GET /v1/invoices/{period}", |e| e.invoices(period))
    }

    fn counter_usage(&mut self, period: Period) -> Result<Vec<CounterUsageRow>, MeteringError> {
        self.timed("GET /v1/counter-usage", |e| e.counter_usage(period))
    }

    fn set_catalogue(&mut self, source: &str) -> Result<(), MeteringError> {
        self.timed("PUT /v1/admin/catalogue", |e| e.set_catalogue(source))
    }

    fn catalogue(&mut self) -> Result<Option<String>, MeteringError> {
        self.timed("GET /v1/admin/catalogue", |e| e.catalogue())
    }

    fn set_plan_contracts(&mut self, contracts: &[PlanAgreement]) -> Result<(), MeteringError> {
        self.timed("PUT /v1/admin/contracts", |e| {
            e.set_plan_contracts(contracts)
        })
    }

    fn record_incidents(
        &mut self,
        shop: ShopId,
        period: Period,
        incidents: &[Incident],
    ) -> Result<(), MeteringError> {
        self.timed("POST /v1/admin/incidents", |e| {
            e.record_incidents(shop, period, incidents)
        })
    }

    fn invoice_notes(
        &mut self,
        period: Period,
    ) -> Result<BTreeMap<ShopId, Vec<String>>, MeteringError> {
        self.timed("GET /v1/invoices/{period}", |e| e.invoice_notes(period))
    }

    /// The desk's question must see every reading sent so far.
    fn machine_health(&mut self, since: i64) -> Result<Vec<MachineHealth>, MeteringError> {
        self.drain()?;
        self.timed("GET /v1/machines/health", |e| e.machine_health(since))
    }
}
