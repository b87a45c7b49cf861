//! `fleetsim serve`: the embedded metering engine behind HTTP.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/events` | CloudEvents, one (`application/cloudevents+json`, or binary mode: `ce-*` headers and `application/json` data) or a batch (`application/cloudevents-batch+json`); 200 after commit with the receipt |
//! | `GET /v1/usage?period=YYYY-MM[&shop=S…]` | metered usage per shop |
//! | `POST /v1/admin/machines` | bind machines to shops and tenants, then provision the engine (admin token; `provision`) |
//! | `POST`/`GET /v1/admin/tenants/{tenant}/keys`, `DELETE /v1/admin/keys/{key_id}` | API keys: mint, list, revoke (`key_routes`) |
//! | `PUT /v1/admin/contracts`, `POST /v1/admin/periods/{YYYY-MM}/close`, `GET /v1/invoices/{YYYY-MM}`, `GET /v1/counter-usage`, `GET /v1/machines/{M…}/readings` | billing (`billing_routes`) |
//! | `GET /v1/machines/health?since=UNIX` | each machine's latest health report at or after `since` (`health_routes`) |
//! | `GET`/`PUT`/`DELETE /v1/admin/clock` | the server's clock: read, pin, back to the wall clock (`clock`) |
//! | `GET /healthz`, `GET /metrics` | liveness; Prometheus text |
//!
//! Duplicates: a request whose events were already stored still gets 200 — ingestion is
//! idempotent, so a retry must succeed — and its receipt counts them as `duplicates`.

use super::access::{AccessError, AccessStore, Caller, KeyCheck, KeyId, TenantBindings};
use super::access_thread::Access;
use super::clock::{ServerClock, TimeBounds};
use super::limits::TokenBuckets;
use super::metrics::{Metrics, Refusal};
use super::problem::Problem;
use super::writer::{StoreError, Writer};
use super::{CLOUDEVENTS_BATCH_JSON, CLOUDEVENTS_JSON};
use crate::calendar::Period;
use crate::event::wire::{binary, decode, from_cloudevent, CloudEvent};
use crate::event::{MachineId, ShopId, UsageEvent};
use crate::metering::sqlite::SqliteEngine;
use crate::metering::{ErrorClass, IngestReceipt, MeteringError, UsageRow};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub db: PathBuf,
    /// Required for `/v1/admin/…`; without it provisioning is disabled.
    pub admin_token: Option<String>,
    pub max_body_bytes: usize,
    pub max_batch_events: usize,
    /// Requests per second allowed to one API key (burst: one second's worth); 0 = no limit.
    pub max_requests_per_second: u32,
    /// Events per second allowed to one API key (burst: one second's worth, or one batch);
    /// 0 = no limit.
    pub max_events_per_second: u32,
    /// Events dated more than this many seconds ahead of the server's clock are refused
    /// (0: no check).
    pub max_future_seconds: u64,
    /// Events dated more than this many days before the server's clock are refused (0: no
    /// check).
    pub max_past_days: u32,
    /// Counters wrap to 0 at this value (VEE); `None`: the store's, or 2^32 for a new store.
    pub counter_modulus: Option<u64>,
}

impl ServerConfig {
    pub const DEFAULT_MAX_BODY_BYTES: usize = 8 << 20;
    pub const DEFAULT_MAX_BATCH_EVENTS: usize = 10_000;
    pub const DEFAULT_MAX_REQUESTS_PER_SECOND: u32 = 2_000;
    /// Twice the durable ceiling measured on 2 cores: one key cannot starve the others, and
    /// a fleet-wide replay through one key is still limited by the store, not by this.
    pub const DEFAULT_MAX_EVENTS_PER_SECOND: u32 = 1_000_000;
    pub const DEFAULT_MAX_FUTURE_SECONDS: u64 = 86_400;
    /// A year and a month: a machine offline for months (a shop closed for a season, a
    /// modem gone) still delivers its backlog, billed as late usage; a date from a reset
    /// real-time clock (1970, 0001-01-01, a GPS week rollover's 19.6 years) is refused.
    pub const DEFAULT_MAX_PAST_DAYS: u32 = 400;
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] MeteringError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("completing the provisioning of bound machines: {0}")]
    Provision(#[from] StoreError),
}

pub(super) struct App {
    pub(super) writer: Writer,
    pub(super) metrics: Arc<Metrics>,
    admin_token: Option<String>,
    pub(super) access: Access,
    /// Held through a provisioning (bind, then provision the engine, then mark it done), so
    /// concurrent ones reach both stores in the same order.
    provisioning: tokio::sync::Mutex<()>,
    request_limits: TokenBuckets,
    event_limits: TokenBuckets,
    max_batch_events: usize,
    pub(super) clock: ServerClock,
    bounds: TimeBounds,
}

/// Serves until `shutdown` resolves; calls `ready` with the bound address (port 0 picks one).
pub async fn serve(
    config: ServerConfig,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let vee = config
        .counter_modulus
        .map(|modulus| crate::metering::vee::VeeConfig {
            modulus,
            ..Default::default()
        });
    let engine = SqliteEngine::open_with(&config.db, vee)?;
    let access = AccessStore::open(&AccessStore::path_for(&config.db))?;
    let clock = ServerClock::new(access.pinned_clock()?);
    let metrics = Arc::new(Metrics::default());
    let (writer, store_thread) = Writer::spawn(Box::new(engine), metrics.clone());
    let (access, access_thread) = Access::spawn(access);
    complete_provisioning(&access, &writer).await?;
    let app = Arc::new(App {
        writer,
        metrics,
        admin_token: config.admin_token.clone(),
        access,
        provisioning: tokio::sync::Mutex::new(()),
        request_limits: TokenBuckets::new(config.max_requests_per_second),
        event_limits: TokenBuckets::new(config.max_events_per_second),
        max_batch_events: config.max_batch_events,
        clock,
        bounds: TimeBounds {
            max_future_seconds: config.max_future_seconds,
            max_past_days: config.max_past_days,
        },
    });
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.addr,
            source,
        })?;
    ready(listener.local_addr()?);
    axum::serve(listener, router(app, config.max_body_bytes))
        .with_graceful_shutdown(shutdown)
        .await?;
    // The router (and with it every Writer and Access) is gone: the store thread commits and
    // ends, the access thread ends (each of its writes was committed before it answered).
    let _ = tokio::task::spawn_blocking(move || (store_thread.join(), access_thread.join())).await;
    Ok(())
}

/// Provisions the engine with every binding whose provisioning was not confirmed (it failed,
/// or the server stopped in between), before the server listens.
async fn complete_provisioning(access: &Access, writer: &Writer) -> Result<(), ServeError> {
    let pending = access.with(|store| store.unprovisioned()).await?;
    if pending.is_empty() {
        return Ok(());
    }
    writer.provision(pending.clone(), None).await?;
    access
        .with(move |store| store.mark_provisioned(&pending))
        .await?;
    Ok(())
}

fn router(app: Arc<App>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/usage", get(get_usage))
        .route("/v1/admin/machines", post(post_machines))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(get_metrics))
        .merge(super::billing_routes::routes())
        .merge(super::metered_routes::routes())
        .merge(super::health_routes::routes())
        .merge(super::key_routes::routes())
        .merge(super::plan_routes::routes())
        .merge(super::clock::routes())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(app)
}

/// The answer to `POST /v1/events` (also read by fleetsim's HTTP clients).
#[derive(Serialize, Deserialize)]
pub struct ReceiptBody {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: RejectedBody,
}

#[derive(Serialize, Deserialize)]
pub struct RejectedBody {
    pub unknown_machine: u64,
    pub wrong_shop: u64,
}

impl From<IngestReceipt> for ReceiptBody {
    fn from(r: IngestReceipt) -> Self {
        ReceiptBody {
            accepted: r.accepted,
            duplicates: r.duplicates,
            rejected: RejectedBody {
                unknown_machine: r.rejected_unknown_machine,
                wrong_shop: r.rejected_wrong_shop,
            },
        }
    }
}

async fn post_events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let (caller, key) = match app.admit_key(&headers) {
        Ok(admitted) => admitted,
        Err(problem) => return problem.into_response(),
    };
    let events = match read_events(&headers, body, app.max_batch_events) {
        Ok(events) => events,
        Err(problem) => {
            app.metrics.refused(if problem.status() == 413 {
                Refusal::TooLarge
            } else {
                Refusal::Malformed
            });
            return problem.into_response();
        }
    };
    if let Err(problem) = app.bounds.check(&events, app.clock.now()) {
        app.metrics.refused(Refusal::Malformed);
        return problem.into_response();
    }
    if let Err(problem) = app.authorize_events(caller, &events) {
        app.metrics.refused(Refusal::Forbidden);
        return problem.into_response();
    }
    if let Err(problem) = app.limit_events(key, events.len()) {
        return problem.into_response();
    }
    match app.writer.ingest(events).await {
        Ok(receipt) => {
            app.metrics
                .ingested(&receipt, started.elapsed().as_micros() as u64);
            Json(ReceiptBody::from(receipt)).into_response()
        }
        Err(e) => Problem::of_store(&e).into_response(),
    }
}

fn read_events(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    max_batch: usize,
) -> Result<Vec<UsageEvent>, Problem> {
    let binary = binary::is_binary(
        content_type(headers),
        headers.keys().map(|name| name.as_str()),
    );
    if !binary {
        check_media_type(headers)?;
    }
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        let detail = format!(
            "{}: the limit is set with --max-body-bytes",
            rejection.body_text()
        );
        Problem::new(
            status,
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                "Payload too large"
            } else {
                "Bad request"
            },
            detail,
        )
    })?;
    if binary {
        return decode_binary(headers, &bytes).map(|e| vec![e]);
    }
    decode_events(&bytes, max_batch)
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A binary-mode event (`ce-*` headers, the data as the body), through `event::wire`; its
/// errors read like a structured event's, at index 0.
fn decode_binary(headers: &HeaderMap, body: &[u8]) -> Result<UsageEvent, Problem> {
    let named = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    binary::from_binary(named, content_type, body).map_err(|e| match e {
        binary::BinaryError::ContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            e.to_string(),
        ),
        _ => Problem::bad_request(format!("event 0: {e}")).at_index(0),
    })
}

/// The body's events: on the fast path if it takes them, else through the reference decoding,
/// which gives the same events or says what is wrong (so both paths answer alike).
fn decode_events(bytes: &[u8], max_batch: usize) -> Result<Vec<UsageEvent>, Problem> {
    let Some(events) = decode_fast(bytes) else {
        return decode_reporting_errors(bytes, max_batch);
    };
    check_batch_size(events.len(), max_batch)?;
    Ok(events)
}

/// The happy path: JSON bytes straight to typed events (`event::wire::decode`); `None` for
/// anything it does not take, which `decode_reporting_errors` then decodes or explains.
pub fn decode_fast(bytes: &[u8]) -> Option<Vec<UsageEvent>> {
    match first_byte(bytes) {
        Some(b'[') => decode::decode_batch(bytes),
        Some(b'{') => decode::decode_event(bytes).map(|e| vec![e]),
        _ => None,
    }
}

/// The reference decoding, through `CloudEvent` and `serde_json::Value`: slower, and the one
/// that says what is wrong and where (the first offending event's index).
fn decode_reporting_errors(bytes: &[u8], max_batch: usize) -> Result<Vec<UsageEvent>, Problem> {
    let raw = parse_cloudevents(bytes)?;
    check_batch_size(raw.len(), max_batch)?;
    raw.iter()
        .enumerate()
        .map(|(i, c)| {
            from_cloudevent(c)
                .map_err(|e| Problem::bad_request(format!("event {i}: {e}")).at_index(i))
        })
        .collect()
}

fn check_batch_size(events: usize, max_batch: usize) -> Result<(), Problem> {
    if events > max_batch {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Batch too large",
            format!("the batch has {events} events; at most {max_batch} per request"),
        ));
    }
    Ok(())
}

fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().find(|b| !b.is_ascii_whitespace()).copied()
}

fn check_media_type(headers: &HeaderMap) -> Result<(), Problem> {
    let media = content_type(headers).split(';').next().unwrap_or("").trim();
    if [CLOUDEVENTS_JSON, CLOUDEVENTS_BATCH_JSON, "application/json"].contains(&media) {
        return Ok(());
    }
    Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type", format!("Content-Type {media:?}: send {CLOUDEVENTS_JSON} (one event), {CLOUDEVENTS_BATCH_JSON} (a JSON array), or the data as application/json with the attributes in ce-* headers (binary mode)")))
}

/// One event (a JSON object) or a batch (a JSON array), as `CloudEvent`s; if the batch does
/// not parse, each element is parsed alone to find the first offending event's index.
fn parse_cloudevents(bytes: &[u8]) -> Result<Vec<CloudEvent>, Problem> {
    match first_byte(bytes) {
        Some(b'[') => {
            serde_json::from_slice::<Vec<CloudEvent>>(bytes).or_else(|_| locate_bad_event(bytes))
        }
        Some(b'{') => serde_json::from_slice::<CloudEvent>(bytes)
            .map(|e| vec![e])
            .map_err(|e| Problem::bad_request(format!("not a CloudEvent: {e}")).at_index(0)),
        _ => Err(Problem::bad_request(
            "the body must be a CloudEvent (JSON object) or a batch (JSON array)",
        )),
    }
}

fn locate_bad_event(bytes: &[u8]) -> Result<Vec<CloudEvent>, Problem> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|e| Problem::bad_request(format!("not JSON: {e}")))?;
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value::<CloudEvent>(v).map_err(|e| {
                Problem::bad_request(format!("event {i} is not a CloudEvent: {e}")).at_index(i)
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct UsageQuery {
    period: String,
    shop: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct UsageBody {
    pub period: String,
    pub shops: Vec<UsageRowBody>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct UsageRowBody {
    pub shop: String,
    pub billable_mountings: u64,
    pub trace_only: u64,
    pub remakes: u64,
    pub counter_reads: u64,
}

impl UsageRowBody {
    pub fn from_row(r: &UsageRow) -> UsageRowBody {
        UsageRowBody {
            shop: r.shop.to_string(),
            billable_mountings: r.billable_mountings,
            trace_only: r.trace_only,
            remakes: r.remakes,
            counter_reads: r.counter_reads,
        }
    }

    pub fn to_row(&self) -> Option<UsageRow> {
        Some(UsageRow {
            shop: ShopId::parse(&self.shop)?,
            billable_mountings: self.billable_mountings,
            trace_only: self.trace_only,
            remakes: self.remakes,
            counter_reads: self.counter_reads,
        })
    }
}

async fn get_usage(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let caller = match app.admit(&headers) {
        Ok(caller) => caller,
        Err(problem) => return problem.into_response(),
    };
    let Ok(Query(q)) = query else {
        return Problem::bad_request(
            "query parameters: period=YYYY-MM (required), shop=S000042 (optional)",
        )
        .into_response();
    };
    let Some(period) = Period::parse(&q.period) else {
        return Problem::bad_request(format!("period {:?} is not YYYY-MM", q.period))
            .into_response();
    };
    let shop = match q.shop.as_deref().map(|s| ShopId::parse(s).ok_or(s)) {
        None => None,
        Some(Ok(shop)) => Some(shop),
        Some(Err(s)) => {
            return Problem::bad_request(format!("shop {s:?} is not a shop id such as S000042"))
                .into_response()
        }
    };
    let visible = app.visible_shops(caller);
    if let (Some(shop), Some(visible)) = (shop, &visible) {
        if !visible.contains(&shop) {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("shop {shop} is not one of your tenant's shops"),
            )
            .into_response();
        }
    }
    let wanted = |r: &&UsageRow| {
        shop.is_none_or(|s| s == r.shop) && visible.as_ref().is_none_or(|v| v.contains(&r.shop))
    };
    match app.writer.usage(period).await {
        Ok(rows) => Json(UsageBody {
            period: period.to_string(),
            shops: rows
                .iter()
                .filter(wanted)
                .map(UsageRowBody::from_row)
                .collect(),
        })
        .into_response(),
        Err(e) => Problem::of_store(&e).into_response(),
    }
}

#[derive(Serialize, Deserialize)]
pub struct MachinesBody {
    pub machines: Vec<Binding>,
}

#[derive(Serialize, Deserialize)]
pub struct Binding {
    pub machine: String,
    pub shop: String,
    /// The tenant the machine belongs to (created if new); default: the shop's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// When the machine was installed at the shop (RFC 3339): a machine removed from another
    /// shop begins a new stay here then (`MeteringEngine::provision_at`). Default: since ever
    /// for a new machine, the second after its removal read for one that moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

async fn post_machines(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<MachinesBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(problem) = check_admin(&app, &headers) {
        app.metrics.refused(Refusal::Unauthorized);
        return problem.into_response();
    }
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) => {
            return Problem::bad_request(format!(
                "{e}: send {{\"machines\":[{{\"machine\":\"M000001\",\"shop\":\"S000001\"}}]}}"
            ))
            .into_response()
        }
    };
    let since = match parse_since(&body.machines) {
        Ok(since) => since,
        Err(problem) => return problem.into_response(),
    };
    let (machines, bindings) = match parse_bindings(&body.machines) {
        Ok(parsed) => parsed,
        Err(problem) => return problem.into_response(),
    };
    match provision(&app, machines, bindings, since).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// The installation time of a request's machines: one `since` for all of them, or none.
fn parse_since(body: &[Binding]) -> Result<Option<i64>, Problem> {
    let mut since = None;
    for (i, b) in body.iter().enumerate() {
        let parsed = match &b.since {
            None => None,
            Some(text) => Some(
                chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|e| {
                        Problem::bad_request(format!(
                            "machine {i}: since {text:?} is not an RFC 3339 time ({e}): write \
                             e.g. \"2024-03-11T08:00:00Z\""
                        ))
                        .at_index(i)
                    })?
                    .timestamp(),
            ),
        };
        if i > 0 && parsed != since {
            return Err(Problem::bad_request(format!(
                "machine {i}: its since differs from machine 0's; send machines installed at \
                 different times in separate requests"
            ))
            .at_index(i));
        }
        since = parsed;
    }
    Ok(since)
}

/// The body's machines with their shops, and the same grouped by tenant.
fn parse_bindings(body: &[Binding]) -> Result<(Vec<(MachineId, ShopId)>, TenantBindings), Problem> {
    let mut machines = Vec::with_capacity(body.len());
    let mut by_tenant: BTreeMap<String, Vec<(MachineId, ShopId)>> = BTreeMap::new();
    for (i, b) in body.iter().enumerate() {
        let (Some(m), Some(s)) = (MachineId::parse(&b.machine), ShopId::parse(&b.shop)) else {
            return Err(Problem::bad_request(format!(
                "machine {i}: {:?} / {:?} are not ids like M000001 / S000001",
                b.machine, b.shop
            ))
            .at_index(i));
        };
        machines.push((m, s));
        by_tenant
            .entry(b.tenant.clone().unwrap_or_else(|| b.shop.clone()))
            .or_default()
            .push((m, s));
    }
    Ok((machines, by_tenant.into_iter().collect()))
}

/// Binds the machines to their tenants, then provisions the engine with them, then records
/// that it did: the engine never knows a machine that is bound to no tenant. If the engine
/// fails, the bindings stay, waiting to be provisioned: by the client's retry (provisioning is
/// idempotent) or, failing that, when the server starts again.
///
/// With an installation time (`since`: machines moving between shops) the engine goes first,
/// since it may refuse a move (409: the machine is still installed elsewhere): then nothing
/// changed anywhere. Its tenant is bound after; should that fail, the retry binds it.
async fn provision(
    app: &App,
    machines: Vec<(MachineId, ShopId)>,
    bindings: TenantBindings,
    since: Option<i64>,
) -> Result<(), Problem> {
    let _in_order = app.provisioning.lock().await;
    if since.is_some() {
        app.writer
            .provision(machines.clone(), since)
            .await
            .map_err(|e| Problem::of_store(&e))?;
    }
    app.access
        .with(move |store| store.bind(&bindings))
        .await
        .map_err(|e| Problem::of_access(&e))?;
    if since.is_none() {
        app.writer
            .provision(machines.clone(), None)
            .await
            .map_err(|e| {
                let problem = Problem::of_store(&e);
                if e.class() == ErrorClass::Transient {
                    problem.after(
                    "the machines are bound to their tenants but not provisioned in the metering \
                     store (a retry provisions them, and so does the server's next start)",
                )
                } else {
                    problem
                }
            })?;
    }
    // Should this fail, the machines are bound and provisioned all the same: the next start
    // only provisions them again, which changes nothing.
    let _ = app
        .access
        .with(move |store| store.mark_provisioned(&machines))
        .await;
    Ok(())
}

impl App {
    /// Authenticates the caller (admin token or a tenant's key) and applies its request rate.
    pub(super) fn admit(&self, headers: &HeaderMap) -> Result<Caller, Problem> {
        self.admit_key(headers).map(|(caller, _)| caller)
    }

    /// `admit`, also saying which key was used (none for the administrator).
    fn admit_key(&self, headers: &HeaderMap) -> Result<(Caller, Option<KeyId>), Problem> {
        let (caller, key) = match (&self.admin_token, bearer(headers)) {
            (Some(admin), Some(t)) if constant_time_eq(t.as_bytes(), admin.as_bytes()) => {
                (Caller::Admin, None)
            }
            (_, Some(t)) => {
                let check = self.access.view().check_key(t);
                match check {
                    KeyCheck::Valid(tenant, key) => (Caller::Tenant(tenant), Some(key)),
                    KeyCheck::Revoked => {
                        return Err(self.unauthorized(
                            "this API key was revoked; ask the administrator for a new one",
                        ))
                    }
                    KeyCheck::Unknown => return Err(self.unauthorized("this API key is not valid")),
                }
            }
            (_, None) => return Err(self.unauthorized("send Authorization: Bearer <API key>")),
        };
        if let Some(k) = key {
            self.request_limits.take(k, 1).map_err(|wait| {
                self.too_many(
                    wait,
                    "this key is over its request rate (--max-requests-per-second); retry later",
                )
            })?;
        }
        Ok((caller, key))
    }

    /// Takes the batch's events from the key's event budget; nothing is stored if refused.
    fn limit_events(&self, key: Option<KeyId>, events: usize) -> Result<(), Problem> {
        let Some(k) = key else { return Ok(()) };
        self.event_limits.take(k, events as u64).map_err(|wait| {
            self.too_many(
                wait,
                "this key is over its event rate (--max-events-per-second); nothing was stored, retry later",
            )
        })
    }

    fn too_many(&self, wait_seconds: u64, detail: &str) -> Problem {
        self.metrics.refused(Refusal::RateLimited);
        Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests", detail)
            .retry_after(wait_seconds)
    }

    fn unauthorized(&self, detail: &str) -> Problem {
        self.metrics.refused(Refusal::Unauthorized);
        Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail)
    }

    /// A tenant may send events only for its own machines; one foreign event refuses the
    /// whole request, so nothing of it is stored.
    fn authorize_events(&self, caller: Caller, events: &[UsageEvent]) -> Result<(), Problem> {
        let Caller::Tenant(tenant) = caller else {
            return Ok(());
        };
        let access = self.access.view();
        match events
            .iter()
            .position(|e| access.tenant_of(e.machine) != Some(tenant))
        {
            None => Ok(()),
            Some(i) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!(
                    "event {i}: machine {} is not bound to your tenant; nothing was stored",
                    events[i].machine
                ),
            )
            .at_index(i)),
        }
    }

    /// The shops a caller may read (`None`: all).
    pub(super) fn visible_shops(&self, caller: Caller) -> Option<BTreeSet<ShopId>> {
        match caller {
            Caller::Admin => None,
            Caller::Tenant(t) => Some(self.access.view().shops_of(t)),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

pub(super) fn check_admin(app: &App, headers: &HeaderMap) -> Result<(), Problem> {
    let Some(expected) = &app.admin_token else {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Provisioning disabled",
            "start the server with --admin-token (or FLEETSIM_ADMIN_TOKEN)",
        ));
    };
    let given = bearer(headers).unwrap_or("");
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "send Authorization: Bearer <admin token>",
        ));
    }
    Ok(())
}

/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn get_metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_strictly() {
        assert_eq!(
            Period::parse("2024-01"),
            Some(Period {
                year: 2024,
                month: 1
            })
        );
        assert_eq!(Period::parse("2024-13"), None);
        assert_eq!(Period::parse("2024-1"), None);
        assert_eq!(Period::parse("24-01"), None);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn a_bad_event_in_a_batch_is_located() {
        let good = serde_json::to_value(crate::event::wire::to_cloudevent(&UsageEvent {
            machine: MachineId(1),
            seq: 1,
            time: 1_704_186_000,
            shop: ShopId(1),
            body: crate::event::EventBody::TraceOnly {
                frame: crate::event::Frame::FullRim,
            },
        }))
        .unwrap();
        let body = serde_json::to_vec(&serde_json::json!([good, good, {"id": "x"}])).unwrap();
        let err = parse_cloudevents(&body).unwrap_err();
        assert_eq!(err.status(), 400);
        let rendered = serde_json::to_value(&err).unwrap();
        assert_eq!(rendered["index"], 2);
    }

    use crate::event::wire::decode::tests::{
        batch_json, emitted_event, event_value, mutate, mutation,
    };
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn sample(seq: u64) -> UsageEvent {
        UsageEvent {
            machine: MachineId(3),
            seq,
            time: 1_709_287_200,
            shop: ShopId(3),
            body: crate::event::EventBody::TraceOnly {
                frame: crate::event::Frame::Drilled,
            },
        }
    }

    /// What the server answers to a body: its events, or the problem+json it sends.
    fn answer(bytes: &[u8], max_batch: usize) -> Result<Vec<UsageEvent>, Value> {
        decode_events(bytes, max_batch).map_err(|p| serde_json::to_value(&p).unwrap())
    }

    /// What the server answered before the fast path: the reference decoding alone.
    fn answer_before(bytes: &[u8], max_batch: usize) -> Result<Vec<UsageEvent>, Value> {
        decode_reporting_errors(bytes, max_batch).map_err(|p| serde_json::to_value(&p).unwrap())
    }

    /// A batch of three good events with `bad` in place of the third.
    fn batch_with(bad: Value) -> Vec<u8> {
        let good = event_value(&sample(1));
        serde_json::to_vec(&json!([good, event_value(&sample(2)), bad])).unwrap()
    }

    fn problem(status: u16, detail: &str, index: Option<usize>) -> Value {
        let mut p = json!({"type": "about:blank", "status": status, "detail": detail});
        p["title"] = json!(if status == 413 {
            "Batch too large"
        } else {
            "Bad request"
        });
        if let Some(i) = index {
            p["index"] = json!(i);
        }
        p
    }

    #[test]
    fn malformed_events_are_refused_with_their_index_and_what_is_wrong() {
        let mut missing = event_value(&sample(3));
        missing.as_object_mut().unwrap().remove("time");
        let mut wrong_type = event_value(&sample(3));
        wrong_type["seq"] = json!("extension attributes are ignored");
        wrong_type["subject"] = json!(41);
        let mut unknown = event_value(&sample(3));
        unknown["type"] = json!("com.example.other");
        let mut bad_data = event_value(&sample(3));
        bad_data["data"]["frame"] = json!("round");
        let cases = [
            (missing, "event 2 is not a CloudEvent: missing field `time`"),
            (wrong_type, "event 2 is not a CloudEvent: invalid type: integer `41`, expected a string"),
            (unknown, "event 2: type \"com.example.other\" is unknown"),
            (bad_data, "event 2: data does not fit type com.fleetsim.edger.trace_only.v1: unknown variant `round`, expected one of `full_rim`, `grooved`, `drilled`"),
        ];
        for (bad, detail) in cases {
            let body = batch_with(bad);
            assert_eq!(answer(&body, 100), Err(problem(400, detail, Some(2))));
            assert_eq!(answer(&body, 100), answer_before(&body, 100));
        }
    }

    #[test]
    fn extension_attributes_are_allowed() {
        let mut extended = event_value(&sample(3));
        extended["traceparent"] = json!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        extended["data"]["operator"] = json!({"badge": 17});
        let body = batch_with(extended);
        assert_eq!(
            answer(&body, 100),
            Ok(vec![sample(1), sample(2), sample(3)])
        );
        assert_eq!(
            decode_fast(&body).map(|e| e.len()),
            Some(3),
            "on the fast path"
        );
    }

    #[test]
    fn one_event_alone_and_oversized_batches_answer_as_before() {
        let single = serde_json::to_vec(&event_value(&sample(9))).unwrap();
        assert_eq!(answer(&single, 1), Ok(vec![sample(9)]));
        let body = batch_json(&[sample(1), sample(2)]);
        assert_eq!(
            answer(&body, 1),
            Err(problem(
                413,
                "the batch has 2 events; at most 1 per request",
                None
            ))
        );
        let mut missing = event_value(&sample(9));
        missing.as_object_mut().unwrap().remove("id");
        let single = serde_json::to_vec(&missing).unwrap();
        let refused = answer(&single, 1).unwrap_err();
        assert!(refused["detail"]
            .as_str()
            .unwrap()
            .starts_with("not a CloudEvent: missing field `id`"));
        assert_eq!(refused["index"], 0);
        assert_eq!(answer(b"  42", 1), answer_before(b"  42", 1));
    }

    proptest! {
        /// Any damage to an event of a batch gets the answer the server gave before the fast
        /// path: the same events, or the same status, detail and index.
        #[test]
        fn damaged_batches_get_the_same_answer_as_before(
            events in prop::collection::vec(emitted_event(), 1..4),
            mutations in prop::collection::vec(mutation(), 1..3),
            at in any::<prop::sample::Index>(),
        ) {
            let mut values: Vec<Value> = events.iter().map(event_value).collect();
            let i = at.index(values.len());
            for m in &mutations {
                mutate(&mut values[i], m);
            }
            let body = serde_json::to_vec(&values).unwrap();
            prop_assert_eq!(answer(&body, 100), answer_before(&body, 100));
        }

        #[test]
        fn arbitrary_bodies_never_panic_and_answer_as_before(
            bytes in prop::collection::vec(any::<u8>(), 0..300)
        ) {
            prop_assert_eq!(answer(&bytes, 100), answer_before(&bytes, 100));
        }
    }
}
