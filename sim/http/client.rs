//! Drives a metering engine over HTTP: `HttpEngine` implements `MeteringEngine`, so a run
//! against a server (`fleetsim run --target URL`) goes through the same pipeline and the same
//! reconciliation as the embedded engine.
//!
//! Events are sent as CloudEvents batches. A failed request (network error, 5xx, 429) is
//! retried with the *same* events — same ids — so an idempotent server counts each once; a
//! 4xx other than 429 is final, never retried, and comes back as `MeteringError::Refused` with
//! its status. Every acknowledged batch is durable on a fleetsim server, so
//! `commit` has nothing left to do.

use super::billing_routes::{ContractBody, ContractsBody, CounterUsageBody, InvoicesBody};
use super::clock::ClockBody;
use super::health_routes::MachineHealthBody;
use super::key_routes::KeyBody;
use super::plan_routes::{IncidentBody, IncidentsBody, TOML};
use super::server::{Binding, MachinesBody, ReceiptBody, UsageBody};
use super::CLOUDEVENTS_BATCH_JSON;
use crate::calendar::Period;
use crate::event::wire::encode::batch_json;
use crate::event::{MachineId, ShopId, UsageEvent};
use crate::metering::{
    Contract, CounterUsageRow, Incident, IngestReceipt, Invoice, MachineHealth, MeteringEngine,
    MeteringError, PlanAgreement, UsageRow,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Events per request.
    pub batch_size: usize,
    /// Requests in flight at once.
    pub connections: usize,
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// Admin token (our server): provisions the machines, mints one key per shop, and each
    /// shop's events are then sent with its own key. `None` skips provisioning.
    pub admin_token: Option<String>,
    /// Static headers for every request (a foreign endpoint's credentials).
    pub headers: Vec<(String, String)>,
}

impl HttpOptions {
    pub fn new(url: &str) -> HttpOptions {
        HttpOptions {
            url: url.trim_end_matches('/').to_string(),
            batch_size: 500,
            connections: 8,
            attempts: 6,
            admin_token: None,
            headers: Vec::new(),
        }
    }
}

/// How long any one phase of a request (connect, send, wait for the answer, read it) may take.
const REQUEST_PHASE_TIMEOUT: Duration = Duration::from_secs(60);

/// A blocking HTTP agent whose phases are each bounded by `timeout`, all but name resolution.
///
/// Why per phase and not `timeout_global`: ureq 3 resolves the host on every request, pooled
/// connection or not, and under a global, per-call or resolve timeout it resolves on a freshly
/// spawned thread so that it can give up on it — one thread per request (≈ 250 µs of CPU each,
/// measured on the 2-core machine). Without a resolve timeout, an IP literal or a hosts-file
/// name resolves in place. `connections`: how many requests the caller has in flight at once;
/// the pool keeps that many keep-alive connections (ureq keeps 3 per host by default, so
/// further ones would reconnect on every request).
pub fn blocking_agent(timeout: Duration, connections: usize) -> ureq::Agent {
    let timeout = Some(timeout);
    let idle = connections.max(1);
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(timeout)
        .timeout_send_request(timeout)
        .timeout_send_body(timeout)
        .timeout_recv_response(timeout)
        .timeout_recv_body(timeout)
        .max_idle_connections(idle)
        .max_idle_connections_per_host(idle)
        .build()
        .into()
}

pub struct HttpEngine {
    options: HttpOptions,
    agent: ureq::Agent,
    totals: IngestReceipt,
    /// Each shop's own API key, minted at provisioning (empty without an admin token: then
    /// every request carries only the static headers).
    keys: BTreeMap<ShopId, String>,
    /// Events waiting to fill a batch, per lane (`lane_of`).
    pending: BTreeMap<u32, Vec<UsageEvent>>,
    /// The instant the server's clock was last pinned to (`advance_clock`).
    pinned_clock: Option<i64>,
}

/// A lane's batches, sent in order over one connection.
struct Lane {
    id: u32,
    batches: Vec<Vec<UsageEvent>>,
}

/// Why a request failed, and whether trying again can help.
enum Failure {
    Retry(String),
    /// Refused with this status: the same request would be refused again.
    Final(u16, String),
}

impl HttpEngine {
    /// `POST /v1/admin/machines`, with the installation time if given.
    fn post_machines(
        &mut self,
        machines: &[(MachineId, ShopId)],
        since: Option<i64>,
    ) -> Result<(), MeteringError> {
        let Some(token) = self.options.admin_token.clone() else {
            return Ok(());
        };
        let body = MachinesBody {
            machines: machines
                .iter()
                .map(|(m, s)| Binding {
                    machine: m.to_string(),
                    shop: s.to_string(),
                    tenant: None,
                    since: since
                        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                })
                .collect(),
        };
        let body = serde_json::to_vec(&body).map_err(|e| self.error(e.to_string()))?;
        self.with_retries("POST /v1/admin/machines", || {
            self.post(
                "/v1/admin/machines",
                "application/json",
                &body,
                Some(&token),
            )
        })?;
        self.mint_shop_keys(machines, &token)
    }

    /// `PUT /v1/admin/contracts` (price and plan contracts travel in the same body).
    fn put_contracts(&self, contracts: Vec<ContractBody>) -> Result<(), MeteringError> {
        let token = self.admin("PUT /v1/admin/contracts")?;
        let body = serde_json::to_vec(&ContractsBody { contracts })
            .map_err(|e| self.error(e.to_string()))?;
        self.with_retries("PUT /v1/admin/contracts", || {
            self.send_json("PUT", "/v1/admin/contracts", &body, &token)
        })?;
        Ok(())
    }

    pub fn new(options: HttpOptions) -> HttpEngine {
        let agent = blocking_agent(REQUEST_PHASE_TIMEOUT, options.connections);
        HttpEngine {
            options,
            agent,
            totals: IngestReceipt::default(),
            keys: BTreeMap::new(),
            pending: BTreeMap::new(),
            pinned_clock: None,
        }
    }

    /// The key a shop's events go with, if provisioning minted one (a paced load sends the
    /// events itself, as each shop would).
    pub fn shop_key(&self, shop: ShopId) -> Option<&str> {
        self.keys.get(&shop).map(String::as_str)
    }

    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    fn error(&self, message: String) -> MeteringError {
        MeteringError::Remote {
            url: self.options.url.clone(),
            message,
        }
    }

    /// Sends a request built by `send` until it succeeds, fails for good, or attempts run out.
    fn with_retries(
        &self,
        what: &str,
        send: impl Fn() -> Result<String, Failure>,
    ) -> Result<String, MeteringError> {
        let mut last = String::new();
        for attempt in 0..self.options.attempts.max(1) {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(50 << attempt.min(6)));
            }
            match send() {
                Ok(body) => return Ok(body),
                Err(Failure::Final(status, message)) => {
                    return Err(MeteringError::Refused {
                        url: self.options.url.clone(),
                        status,
                        message: format!("{what}: {message}"),
                    })
                }
                Err(Failure::Retry(message)) => last = message,
            }
        }
        Err(self.error(format!(
            "{what}: gave up after {} attempts: {last}",
            self.options.attempts
        )))
    }

    fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        bearer: Option<&str>,
    ) -> Result<String, Failure> {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.options.url))
            .header("Content-Type", content_type);
        for (name, value) in &self.options.headers {
            request = request.header(name, value);
        }
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        answer(request.send(body))
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<String, Failure> {
        let mut request = self.agent.get(format!("{}{path}", self.options.url));
        for (name, value) in &self.options.headers {
            request = request.header(name, value);
        }
        if let Some(token) = &self.options.admin_token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        answer(request.call())
    }

    /// Mints one key per shop (its tenant is the shop) through the admin API.
    fn mint_shop_keys(
        &mut self,
        machines: &[(MachineId, ShopId)],
        token: &str,
    ) -> Result<(), MeteringError> {
        let shops: std::collections::BTreeSet<ShopId> = machines.iter().map(|(_, s)| *s).collect();
        for shop in shops {
            let path = format!("/v1/admin/tenants/{shop}/keys");
            let text = self.with_retries("POST /v1/admin/tenants/…/keys", || {
                self.post(&path, "application/json", b"{}", Some(token))
            })?;
            let minted: KeyBody = serde_json::from_str(&text)
                .map_err(|e| self.error(format!("unexpected key answer: {e}")))?;
            self.keys.insert(shop, minted.key);
        }
        Ok(())
    }

    /// A shop's lane: the shop itself when shops have keys (a request carries one key), else
    /// one of `connections` lanes, so that batches still fill up with many shops' events.
    fn lane_of(&self, shop: ShopId) -> u32 {
        if self.keys.is_empty() {
            shop.0 % self.options.connections.max(1) as u32
        } else {
            shop.0
        }
    }

    /// Sends queued events: every full batch, or everything when `all`.
    fn flush(&mut self, all: bool) -> Result<(), MeteringError> {
        let lanes = self.take_ready(all);
        let receipts = self.send_lanes(&lanes)?;
        for r in &receipts {
            self.totals.add(r);
        }
        Ok(())
    }

    /// Removes the batches ready to send from the queues, each queue a lane (its batches in
    /// queue order): every full batch, and the partial ones too when `all`.
    fn take_ready(&mut self, all: bool) -> Vec<Lane> {
        let size = self.options.batch_size.max(1);
        let mut lanes = Vec::new();
        for (id, events) in std::mem::take(&mut self.pending) {
            let mut lane = Lane {
                id,
                batches: Vec::new(),
            };
            let mut chunks = events.chunks(size).peekable();
            while let Some(chunk) = chunks.next() {
                if chunks.peek().is_none() && chunk.len() < size && !all {
                    self.pending.insert(id, chunk.to_vec());
                    break;
                }
                lane.batches.push(chunk.to_vec());
            }
            if !lane.batches.is_empty() {
                lanes.push(lane);
            }
        }
        lanes
    }

    /// Sends the lanes over `connections` connections at once (the server group-commits
    /// concurrent requests). A lane is sent by one connection, batch after batch, each one
    /// acknowledged before the next leaves: a machine's events (all in its shop's lane) reach
    /// the server in sequence order, which its counter readings need (VEE re-sequences late
    /// readings, but a sender should not make them late).
    fn send_lanes(&self, lanes: &[Lane]) -> Result<Vec<IngestReceipt>, MeteringError> {
        let next = AtomicUsize::new(0);
        let workers = self.options.connections.clamp(1, lanes.len().max(1));
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut receipts = Vec::new();
                        while let Some(lane) = lanes.get(next.fetch_add(1, Ordering::Relaxed)) {
                            let key = self.keys.get(&ShopId(lane.id)).map(String::as_str);
                            for events in &lane.batches {
                                receipts.push(self.send_batch(events, key)?);
                            }
                        }
                        Ok(receipts)
                    })
                })
                .collect();
            let mut all = Vec::new();
            for handle in handles {
                let receipts: Result<Vec<IngestReceipt>, MeteringError> = handle
                    .join()
                    .unwrap_or_else(|_| Err(self.error("a sender thread panicked".into())));
                all.extend(receipts?);
            }
            Ok(all)
        })
    }

    fn send_batch(
        &self,
        events: &[UsageEvent],
        key: Option<&str>,
    ) -> Result<IngestReceipt, MeteringError> {
        let body = batch_json(events);
        let text = self.with_retries("POST /v1/events", || {
            self.post("/v1/events", CLOUDEVENTS_BATCH_JSON, &body, key)
        })?;
        if text.trim().is_empty() {
            // A foreign endpoint that answers 2xx with no receipt: take it as accepted.
            return Ok(IngestReceipt {
                accepted: events.len() as u64,
                ..IngestReceipt::default()
            });
        }
        let r: ReceiptBody = serde_json::from_str(&text)
            .map_err(|e| self.error(format!("unexpected receipt {text:?}: {e}")))?;
        Ok(IngestReceipt {
            accepted: r.accepted,
            duplicates: r.duplicates,
            rejected_unknown_machine: r.rejected.unknown_machine,
            rejected_wrong_shop: r.rejected.wrong_shop,
        })
    }
}

fn difference(after: &IngestReceipt, before: &IngestReceipt) -> IngestReceipt {
    IngestReceipt {
        accepted: after.accepted - before.accepted,
        duplicates: after.duplicates - before.duplicates,
        rejected_unknown_machine: after.rejected_unknown_machine - before.rejected_unknown_machine,
        rejected_wrong_shop: after.rejected_wrong_shop - before.rejected_wrong_shop,
    }
}

fn answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<String, Failure> {
    let mut response = result.map_err(|e| Failure::Retry(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    match status {
        200..=299 => Ok(body),
        429 | 500..=599 => Err(Failure::Retry(format!("HTTP {status}: {body}"))),
        _ => Err(Failure::Final(status, format!("HTTP {status}: {body}"))),
    }
}

impl MeteringEngine for HttpEngine {
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
        self.post_machines(machines, None)
    }

    /// Sends what was handed over before first: the server must have a moving machine's
    /// removal read from its previous stay before its new one begins.
    fn provision_at(
        &mut self,
        machines: &[(MachineId, ShopId)],
        since: i64,
    ) -> Result<(), MeteringError> {
        self.flush(true)?;
        self.post_machines(machines, Some(since))
    }

    /// Queues the events in their shops' lanes and sends every full batch. The
    /// receipt covers what was sent now; `receipt_totals` covers everything once committed.
    fn ingest(&mut self, events: &[UsageEvent]) -> Result<IngestReceipt, MeteringError> {
        let before = self.totals;
        for e in events {
            let lane = self.lane_of(e.shop);
            self.pending.entry(lane).or_default().push(*e);
        }
        self.flush(false)?;
        Ok(difference(&self.totals, &before))
    }

    /// Sends whatever is still queued; every acknowledged batch is durable on the server.
    fn commit(&mut self) -> Result<(), MeteringError> {
        self.flush(true)
    }

    fn usage(&mut self, period: Period) -> Result<Vec<UsageRow>, MeteringError> {
        let body: UsageBody = self.get_period("/v1/usage", period)?;
        body.shops
            .iter()
            .map(|r| {
                r.to_row()
                    .ok_or_else(|| self.error(format!("bad shop id {:?}", r.shop)))
            })
            .collect()
    }

    fn receipt_totals(&self) -> IngestReceipt {
        self.totals
    }

    /// Pins our server's clock to the run's time (`PUT /v1/admin/clock`), once per new
    /// instant; against a foreign endpoint (no admin token), nothing.
    fn advance_clock(&mut self, now_unix: i64) -> Result<(), MeteringError> {
        let Some(token) = self.options.admin_token.clone() else {
            return Ok(());
        };
        if self.pinned_clock == Some(now_unix) {
            return Ok(());
        }
        let now = chrono::DateTime::from_timestamp(now_unix, 0)
            .ok_or_else(|| self.error(format!("{now_unix} is not a representable instant")))?
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let body = serde_json::to_vec(&ClockBody { now }).map_err(|e| self.error(e.to_string()))?;
        self.with_retries("PUT /v1/admin/clock", || {
            self.send_json("PUT", "/v1/admin/clock", &body, &token)
        })?;
        self.pinned_clock = Some(now_unix);
        Ok(())
    }

    fn set_contracts(&mut self, contracts: &[Contract]) -> Result<(), MeteringError> {
        self.put_contracts(contracts.iter().map(ContractBody::from_contract).collect())
    }

    /// Closing is idempotent on the server, so a retried close issues nothing twice.
    fn close_period(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        let token = self.admin("POST /v1/admin/periods/…/close")?;
        let path = format!("/v1/admin/periods/{period}/close");
        let text = self.with_retries("POST /v1/admin/periods/…/close", || {
            self.send_json("POST", &path, b"", &token)
        })?;
        self.parse_invoices(&text)
    }

    fn invoices(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        let path = format!("/v1/invoices/{period}");
        let text = self.with_retries("GET /v1/invoices", || self.get(&path, &[]))?;
        self.parse_invoices(&text)
    }

    fn metered_close(
        &mut self,
        period: Period,
    ) -> Result<Option<crate::billing::close::MeteredClose>, MeteringError> {
        let path = format!("/v1/closes/{period}/metered");
        let what = format!("GET {path}");
        let text = self.with_retries(&what, || self.get(&path, &[]))?;
        let body: crate::http::metered_routes::MeteredBody = serde_json::from_str(&text)
            .map_err(|e| self.error(format!("unexpected answer to {what}: {e}")))?;
        body.to_close()
            .map_err(|e| self.error(format!("unexpected answer to {what}: {e}")))
    }

    fn counter_usage(&mut self, period: Period) -> Result<Vec<CounterUsageRow>, MeteringError> {
        let body: CounterUsageBody = self.get_period("/v1/counter-usage", period)?;
        body.shops
            .iter()
            .map(|r| {
                r.to_row()
                    .ok_or_else(|| self.error(format!("bad shop id {:?}", r.shop)))
            })
            .collect()
    }

    /// Sends what is still queued first, so the answer covers every reading ingested so far,
    /// as the embedded engine's does.
    fn machine_health(&mut self, since: i64) -> Result<Vec<MachineHealth>, MeteringError> {
        self.flush(true)?;
        let what = "GET /v1/machines/health";
        let since_text = since.to_string();
        let text = self.with_retries(what, || {
            self.get("/v1/machines/health", &[("since", &since_text)])
        })?;
        let body: MachineHealthBody = serde_json::from_str(&text)
            .map_err(|e| self.error(format!("unexpected answer to {what}: {e}")))?;
        body.machines
            .iter()
            .map(|r| {
                r.to_report().ok_or_else(|| {
                    self.error(format!(
                        "{what}: a report fleetsim cannot hold (machine {:?}, shop {:?}, wear \
                         {}, warning {:?})",
                        r.machine, r.shop, r.wheel_wear_permille, r.warning
                    ))
                })
            })
            .collect()
    }

    fn set_catalogue(&mut self, source: &str) -> Result<(), MeteringError> {
        let token = self.admin("PUT /v1/admin/catalogue")?;
        self.with_retries("PUT /v1/admin/catalogue", || {
            self.send(
                "PUT",
                "/v1/admin/catalogue",
                TOML,
                source.as_bytes(),
                &token,
            )
        })?;
        Ok(())
    }

    fn catalogue(&mut self) -> Result<Option<String>, MeteringError> {
        let url = format!("{}/v1/admin/catalogue", self.options.url);
        let mut request = self.agent.get(url);
        for (name, value) in &self.options.headers {
            request = request.header(name, value);
        }
        if let Some(token) = &self.options.admin_token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request.call().map_err(|e| self.error(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        match status {
            200 => Ok(Some(body)),
            404 => Ok(None),
            400..=499 if status != 429 => Err(MeteringError::Refused {
                url: self.options.url.clone(),
                status,
                message: format!("GET /v1/admin/catalogue: HTTP {status}: {body}"),
            }),
            _ => Err(self.error(format!("GET /v1/admin/catalogue: HTTP {status}: {body}"))),
        }
    }

    fn set_plan_contracts(&mut self, contracts: &[PlanAgreement]) -> Result<(), MeteringError> {
        self.put_contracts(contracts.iter().map(ContractBody::from_agreement).collect())
    }

    /// The server sets (replaces) each shop and period's incidents, so a retry is harmless.
    fn record_incidents(
        &mut self,
        shop: ShopId,
        period: Period,
        incidents: &[Incident],
    ) -> Result<(), MeteringError> {
        let token = self.admin("POST /v1/admin/incidents")?;
        let body = IncidentsBody {
            incidents: incidents
                .iter()
                .map(|i| IncidentBody::from_incident(shop, period, i))
                .collect(),
        };
        let body = serde_json::to_vec(&body).map_err(|e| self.error(e.to_string()))?;
        self.with_retries("POST /v1/admin/incidents", || {
            self.send_json("POST", "/v1/admin/incidents", &body, &token)
        })?;
        Ok(())
    }

    fn invoice_notes(
        &mut self,
        period: Period,
    ) -> Result<BTreeMap<ShopId, Vec<String>>, MeteringError> {
        let path = format!("/v1/invoices/{period}");
        let text = self.with_retries("GET /v1/invoices", || self.get(&path, &[]))?;
        let body: InvoicesBody = serde_json::from_str(&text)
            .map_err(|e| self.error(format!("unexpected invoices answer: {e}")))?;
        let mut notes = BTreeMap::new();
        for i in body.invoices.into_iter().filter(|i| !i.notes.is_empty()) {
            let shop = ShopId::parse(&i.shop)
                .ok_or_else(|| self.error(format!("bad shop id {:?}", i.shop)))?;
            notes.insert(shop, i.notes);
        }
        Ok(notes)
    }
}

/// Billing calls: they need the admin token (our server) and speak plain JSON.
impl HttpEngine {
    fn admin(&self, what: &str) -> Result<String, MeteringError> {
        self.options.admin_token.clone().ok_or_else(|| {
            self.error(format!(
                "{what} needs the admin token (--admin-token or FLEETSIM_ADMIN_TOKEN)"
            ))
        })
    }

    fn send_json(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        token: &str,
    ) -> Result<String, Failure> {
        self.send(method, path, "application/json", body, token)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        token: &str,
    ) -> Result<String, Failure> {
        let url = format!("{}{path}", self.options.url);
        let request = match method {
            "PUT" => self.agent.put(url),
            _ => self.agent.post(url),
        };
        let request = request
            .header("Content-Type", content_type)
            .header("Authorization", format!("Bearer {token}"));
        answer(request.send(body))
    }

    /// `GET path?period=…`, retried, its JSON answer decoded.
    fn get_period<B: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        period: Period,
    ) -> Result<B, MeteringError> {
        let label = period.to_string();
        let what = format!("GET {path}");
        let text = self.with_retries(&what, || self.get(path, &[("period", &label)]))?;
        serde_json::from_str(&text)
            .map_err(|e| self.error(format!("unexpected answer to {what}: {e}")))
    }

    fn parse_invoices(&self, text: &str) -> Result<Vec<Invoice>, MeteringError> {
        let body: InvoicesBody = serde_json::from_str(text)
            .map_err(|e| self.error(format!("unexpected invoices answer: {e}")))?;
        body.invoices
            .iter()
            .map(|i| {
                i.to_invoice()
                    .ok_or_else(|| self.error(format!("malformed invoice for {:?}", i.shop)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::ErrorClass;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::Arc;

    /// A loopback HTTP server answering every request with `status` and closing the
    /// connection; counts the requests. It stops after 30 s.
    fn answering(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        // Counted before the answer: the client may check the count as soon
                        // as it has read it.
                        counted.fetch_add(1, Ordering::SeqCst);
                        answer_one(stream, status, body);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        (url, requests)
    }

    /// Reads one request (head, then its Content-Length of body) and answers it.
    fn answer_one(stream: std::net::TcpStream, status: u16, body: &str) {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            line.clear();
        }
        let _ = reader.by_ref().take(length).read_to_end(&mut Vec::new());
        let _ = write!(
            reader.get_mut(),
            "HTTP/1.1 {status} X\r\nContent-Type: application/problem+json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    fn engine_at(url: &str) -> HttpEngine {
        HttpEngine::new(HttpOptions {
            attempts: 3,
            admin_token: Some("token".into()),
            ..HttpOptions::new(url)
        })
    }

    /// A 4xx is sent once and comes back typed, with its status and class; a 503 is retried
    /// until the attempts run out.
    #[test]
    fn a_refusal_is_final_and_typed_and_a_503_is_retried() {
        let jan = Period {
            year: 2024,
            month: 1,
        };
        let (url, requests) = answering(409, r#"{"detail":"2024-01 is already closed"}"#);
        let refused = engine_at(&url).close_period(jan).unwrap_err();
        assert!(
            matches!(refused, MeteringError::Refused { status: 409, .. }),
            "{refused:?}"
        );
        assert_eq!(refused.class(), ErrorClass::Conflict);
        assert!(refused.to_string().contains("already closed"), "{refused}");
        assert_eq!(requests.load(Ordering::SeqCst), 1, "sent once");

        let (url, requests) = answering(503, r#"{"detail":"database is locked"}"#);
        let unavailable = engine_at(&url).close_period(jan).unwrap_err();
        assert!(unavailable.is_transient(), "{unavailable:?}");
        assert_eq!(requests.load(Ordering::SeqCst), 3, "every attempt");
    }

    /// Without an admin token the endpoint is someone else's: its clock is not ours to set,
    /// so nothing is sent (port 9 on loopback answers nothing; a request would fail).
    #[test]
    fn a_foreign_endpoints_clock_is_left_alone() {
        let mut engine = HttpEngine::new(HttpOptions {
            attempts: 1,
            ..HttpOptions::new("http://127.0.0.1:9")
        });
        assert!(engine.advance_clock(1_796_083_200).is_ok());
        let mut ours = HttpEngine::new(HttpOptions {
            attempts: 1,
            admin_token: Some("t".into()),
            ..HttpOptions::new("http://127.0.0.1:9")
        });
        assert!(
            ours.advance_clock(1_796_083_200).is_err(),
            "with a token it is sent"
        );
    }

    /// The condition under which ureq resolves on a new thread per request is a global,
    /// per-call or resolve timeout: none may be set, while every other phase is bounded.
    #[test]
    fn the_agent_bounds_every_phase_but_never_resolves_on_a_thread() {
        let agent = blocking_agent(Duration::from_secs(7), 8);
        let t = agent.config().timeouts();
        assert_eq!((t.global, t.per_call, t.resolve), (None, None, None));
        let seven = Some(Duration::from_secs(7));
        assert_eq!(
            [
                t.connect,
                t.send_request,
                t.send_body,
                t.recv_response,
                t.recv_body
            ],
            [seven; 5]
        );
        assert_eq!(agent.config().max_idle_connections_per_host(), 8);
    }
}
