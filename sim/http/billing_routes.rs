//! Billing over HTTP: contracts, period closes, invoices, counter usage after VEE, and the
//! explanation of a machine's readings. Same rules as everywhere in `http`: typed bodies,
//! problem+json errors, tenants see only their own shops and machines, admin sees all.
//!
//! | route | who | what |
//! |---|---|---|
//! | `PUT /v1/admin/contracts` | admin | set shops' contracts (basis, price, currency; or a catalogue `plan`) |
//! | `POST /v1/admin/periods/{YYYY-MM}/close` | admin | close every period up to it, issue invoices (idempotent); only once it is over by the server's clock, and at most a year past the data (`clock`) |
//! | `GET /v1/invoices/{YYYY-MM}[?shop=S…]` | tenant, admin | the invoices issued for a closed period |
//! | `GET /v1/counter-usage?period=YYYY-MM[&shop=S…]` | tenant, admin | usage from the counters after VEE |
//! | `GET /v1/machines/{M…}/readings` | tenant, admin | every reading with its validation and why, and period notes |

use super::access::Caller;
use super::clock;
use super::problem::Problem;
use super::server::{check_admin, App};
use crate::billing::{
    Basis, Contract, CounterDue, Invoice, InvoiceLine, LineKind, PlanAgreement, PlanTerms,
};
use crate::calendar::Period;
use crate::event::{MachineId, ShopId};
use crate::metering::vee_book::flag_name;
use crate::metering::{CounterUsageRow, MeteringError};
use crate::money::{Currency, UnitPrice};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/admin/contracts", put(put_contracts))
        .route("/v1/admin/periods/{period}/close", post(post_close))
        .route("/v1/invoices/{period}", get(get_invoices))
        .route("/v1/counter-usage", get(get_counter_usage))
        .route("/v1/machines/{machine}/readings", get(get_readings))
}

#[derive(Serialize, Deserialize)]
pub struct ContractsBody {
    pub contracts: Vec<ContractBody>,
}

/// A price contract (`price_per_mounting`, `currency`) or, with `plan`, a contract on a
/// catalogue plan (prices and currency then come from the catalogue).
#[derive(Serialize, Deserialize)]
pub struct ContractBody {
    pub shop: String,
    pub basis: Basis,
    /// Decimal text, e.g. "3.85": prices never travel as JSON numbers (floats).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub price_per_mounting: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanTerms>,
}

/// A body's contracts, by kind, each with its index in the body.
type Parsed = (Vec<(usize, Contract)>, Vec<(usize, PlanAgreement)>);

impl ContractBody {
    pub fn from_contract(c: &Contract) -> ContractBody {
        ContractBody {
            shop: c.shop.to_string(),
            basis: c.basis,
            price_per_mounting: c.price_per_mounting.to_string(),
            currency: c.currency.0.clone(),
            plan: None,
        }
    }

    pub fn from_agreement(a: &PlanAgreement) -> ContractBody {
        ContractBody {
            shop: a.shop.to_string(),
            basis: a.basis,
            price_per_mounting: String::new(),
            currency: String::new(),
            plan: Some(a.terms.clone()),
        }
    }

    fn to_agreement(&self, index: usize, terms: &PlanTerms) -> Result<PlanAgreement, Problem> {
        let bad = |what: String| {
            Problem::bad_request(format!("contract {index}: {what}")).at_index(index)
        };
        let shop = ShopId::parse(&self.shop).ok_or_else(|| {
            bad(format!(
                "shop {:?} is not a shop id such as S000042",
                self.shop
            ))
        })?;
        if !self.price_per_mounting.is_empty() || !self.currency.is_empty() {
            return Err(bad(
                "a plan contract takes its prices and currency from the catalogue: drop \
                 price_per_mounting and currency (a per-shop price is plan.price_override)"
                    .to_string(),
            ));
        }
        Ok(PlanAgreement {
            shop,
            basis: self.basis,
            terms: terms.clone(),
        })
    }

    fn to_contract(&self, index: usize) -> Result<Contract, Problem> {
        let bad = |what: String| {
            Problem::bad_request(format!("contract {index}: {what}")).at_index(index)
        };
        let shop = ShopId::parse(&self.shop).ok_or_else(|| {
            bad(format!(
                "shop {:?} is not a shop id such as S000042",
                self.shop
            ))
        })?;
        let price = UnitPrice::parse(&self.price_per_mounting)
            .filter(|p| !p.0.is_sign_negative())
            .ok_or_else(|| {
                bad(format!(
                    "price_per_mounting {:?} is not a decimal price ≥ 0 such as \"3.85\"",
                    self.price_per_mounting
                ))
            })?;
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad(format!(
                "currency {:?} is not an ISO 4217 code such as EUR",
                self.currency
            )));
        }
        Ok(Contract {
            shop,
            basis: self.basis,
            price_per_mounting: price,
            currency: Currency(self.currency.clone()),
        })
    }
}

async fn put_contracts(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<ContractsBody>, JsonRejection>,
) -> Response {
    if let Err(problem) = check_admin(&app, &headers) {
        return problem.into_response();
    }
    let Json(body) = match body {
        Ok(body) => body,
        Err(e) => return Problem::bad_request(format!("body: {e}; expected {{\"contracts\": [{{\"shop\": \"S000001\", \"basis\": \"counters\", \"price_per_mounting\": \"3.85\", \"currency\": \"EUR\"}}]}}")).into_response(),
    };
    let mut parsed: Parsed = (Vec::new(), Vec::new());
    for (i, c) in body.contracts.iter().enumerate() {
        let done = match &c.plan {
            None => c.to_contract(i).map(|c| parsed.0.push((i, c))),
            Some(terms) => c.to_agreement(i, terms).map(|a| parsed.1.push((i, a))),
        };
        if let Err(problem) = done {
            return problem.into_response();
        }
    }
    let count = body.contracts.len();
    let (contracts, agreements) = parsed;
    // Plan contracts first: they are checked against the catalogue, and a refusal must leave
    // every contract of the body unset.
    let indices: Vec<usize> = agreements.iter().map(|(i, _)| *i).collect();
    let done = app
        .writer
        .with(move |engine| {
            if !agreements.is_empty() {
                let plans: Vec<PlanAgreement> = agreements.into_iter().map(|(_, a)| a).collect();
                engine
                    .set_plan_contracts(&plans)
                    .map_err(|e| at_body_index(e, &indices))?;
            }
            let prices: Vec<Contract> = contracts.into_iter().map(|(_, c)| c).collect();
            engine.set_contracts(&prices)
        })
        .await;
    match done {
        Ok(()) => Json(serde_json::json!({ "contracts": count })).into_response(),
        Err(e) => Problem::of_store(&e).into_response(),
    }
}

/// A plan contract's error, with its position in the body rather than among the plan
/// contracts (`indices`: each plan contract's index in the body).
fn at_body_index(e: MeteringError, indices: &[usize]) -> MeteringError {
    match e {
        MeteringError::Contract {
            index,
            shop,
            message,
        } => MeteringError::Contract {
            index: indices.get(index).copied().unwrap_or(index),
            shop,
            message,
        },
        other => other,
    }
}

#[derive(Serialize, Deserialize)]
pub struct InvoicesBody {
    pub period: Period,
    pub invoices: Vec<InvoiceBody>,
}

#[derive(Serialize, Deserialize)]
pub struct InvoiceBody {
    pub shop: String,
    pub period: Period,
    pub basis: Basis,
    pub currency: String,
    pub lines: Vec<LineBody>,
    pub total_cents: i64,
    /// A plan invoice's notes (what is included and not, proration, corrections, SLA
    /// breaches, VAT); empty for a price contract.
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
pub struct LineBody {
    pub kind: LineKind,
    pub description: String,
    pub usage_period: Period,
    pub quantity: i64,
    pub unit_price: String,
    pub amount_cents: i64,
}

impl InvoiceBody {
    pub fn from_invoice(inv: &Invoice) -> InvoiceBody {
        InvoiceBody {
            shop: inv.shop.to_string(),
            period: inv.period,
            basis: inv.basis,
            currency: inv.currency.0.clone(),
            lines: inv
                .lines
                .iter()
                .map(|l| LineBody {
                    kind: l.kind,
                    description: l.description().to_string(),
                    usage_period: l.usage_period,
                    quantity: l.quantity,
                    unit_price: l.unit_price.to_string(),
                    amount_cents: l.amount_cents,
                })
                .collect(),
            total_cents: inv.total_cents,
            notes: Vec::new(),
        }
    }

    /// The body of an invoice with its notes (if any).
    pub fn with_notes(inv: &Invoice, notes: &BTreeMap<ShopId, Vec<String>>) -> InvoiceBody {
        InvoiceBody {
            notes: notes.get(&inv.shop).cloned().unwrap_or_default(),
            ..InvoiceBody::from_invoice(inv)
        }
    }

    /// Back to an invoice (for fleetsim's own client); `None` if a field is malformed.
    pub fn to_invoice(&self) -> Option<Invoice> {
        let lines = self
            .lines
            .iter()
            .map(|l| {
                Some(InvoiceLine {
                    kind: l.kind,
                    usage_period: l.usage_period,
                    quantity: l.quantity,
                    unit_price: UnitPrice::parse(&l.unit_price)?,
                    amount_cents: l.amount_cents,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Invoice {
            shop: ShopId::parse(&self.shop)?,
            period: self.period,
            basis: self.basis,
            currency: Currency(self.currency.clone()),
            lines,
            total_cents: self.total_cents,
        })
    }
}

async fn post_close(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(period): Path<String>,
    // Read and ignored, so the connection stays reusable (see `key_routes::post_key`).
    _body: axum::body::Bytes,
) -> Response {
    if let Err(problem) = check_admin(&app, &headers) {
        return problem.into_response();
    }
    let period = match parse_period(&period) {
        Ok(p) => p,
        Err(problem) => return problem.into_response(),
    };
    let now = app.clock.now();
    match app
        .writer
        .with(move |engine| {
            // Checked on the store thread, after the ingestions before it: the data is current.
            // Far past the data first: that is what is wrong with a 9999-12.
            let bounds = clock::check_close_near_data(period, engine.latest_data_period()?)
                .and_then(|()| clock::check_close_has_ended(period, now));
            if let Err(problem) = bounds {
                return Ok(Err(problem));
            }
            let invoices = engine.close_period(period)?;
            // A close may issue several periods' invoices: each with its period's notes.
            let mut notes = BTreeMap::new();
            for p in invoices.iter().map(|i| i.period).collect::<BTreeSet<_>>() {
                notes.insert(p, engine.invoice_notes(p)?);
            }
            Ok(Ok((invoices, notes)))
        })
        .await
    {
        Ok(Err(problem)) => problem.into_response(),
        Ok(Ok((invoices, notes))) => Json(InvoicesBody {
            period,
            invoices: invoices
                .iter()
                .map(|i| InvoiceBody::with_notes(i, &notes[&i.period]))
                .collect(),
        })
        .into_response(),
        Err(e) => Problem::of_store(&e).into_response(),
    }
}

#[derive(Deserialize)]
struct ShopQuery {
    shop: Option<String>,
}

async fn get_invoices(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(period): Path<String>,
    query: Result<Query<ShopQuery>, QueryRejection>,
) -> Response {
    let scope = match Scope::of(&app, &headers, query.ok().and_then(|Query(q)| q.shop)) {
        Ok(scope) => scope,
        Err(problem) => return problem.into_response(),
    };
    let period = match parse_period(&period) {
        Ok(p) => p,
        Err(problem) => return problem.into_response(),
    };
    let read = move |engine: &mut dyn crate::metering::MeteringEngine| {
        Ok((engine.invoices(period)?, engine.invoice_notes(period)?))
    };
    match app.writer.with(read).await {
        Ok((invoices, notes)) => {
            let invoices = invoices
                .iter()
                .filter(|i| scope.shows(i.shop))
                .map(|i| InvoiceBody::with_notes(i, &notes))
                .collect();
            Json(InvoicesBody { period, invoices }).into_response()
        }
        Err(e) => Problem::of_store(&e).into_response(),
    }
}

#[derive(Deserialize)]
struct PeriodShopQuery {
    period: String,
    shop: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct CounterUsageBody {
    pub period: Period,
    pub shops: Vec<CounterUsageRowBody>,
}

#[derive(Serialize, Deserialize)]
pub struct CounterUsageRowBody {
    pub shop: String,
    #[serde(flatten)]
    pub usage: CounterDue,
    pub estimated_machines: u32,
}

impl CounterUsageRowBody {
    pub fn to_row(&self) -> Option<CounterUsageRow> {
        Some(CounterUsageRow {
            shop: ShopId::parse(&self.shop)?,
            usage: self.usage,
            estimated_machines: self.estimated_machines,
        })
    }
}

async fn get_counter_usage(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<PeriodShopQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return Problem::bad_request(
            "query parameters: period=YYYY-MM (required), shop=S000042 (optional)",
        )
        .into_response();
    };
    let scope = match Scope::of(&app, &headers, q.shop) {
        Ok(scope) => scope,
        Err(problem) => return problem.into_response(),
    };
    let period = match parse_period(&q.period) {
        Ok(p) => p,
        Err(problem) => return problem.into_response(),
    };
    match app
        .writer
        .with(move |engine| engine.counter_usage(period))
        .await
    {
        Ok(rows) => {
            let shops = rows
                .iter()
                .filter(|r| scope.shows(r.shop))
                .map(|r| CounterUsageRowBody {
                    shop: r.shop.to_string(),
                    usage: r.usage,
                    estimated_machines: r.estimated_machines,
                })
                .collect();
            Json(CounterUsageBody { period, shops }).into_response()
        }
        Err(e) => Problem::of_store(&e).into_response(),
    }
}

#[derive(Serialize, Deserialize)]
pub struct ReadingsBody {
    pub machine: String,
    pub readings: Vec<ReadingBody>,
    pub period_notes: Vec<PeriodNoteBody>,
}

#[derive(Serialize, Deserialize)]
pub struct ReadingBody {
    pub seq: u64,
    pub time: i64,
    /// The counters as the machine sent them.
    pub raw: crate::metering::vee::Channels<u64>,
    /// The final read when the machine was taken out of the shop (`"removal": true` on the wire).
    #[serde(default)]
    pub removal: bool,
    pub applied: bool,
    /// Units per channel billed from this reading (0 when not applied or a baseline).
    pub steps: crate::metering::vee::Channels<u64>,
    pub flags: Vec<String>,
    pub billed_in: Option<Period>,
    pub reversed_estimate: crate::metering::vee::Channels<u64>,
    pub explanation: String,
}

#[derive(Serialize, Deserialize)]
pub struct PeriodNoteBody {
    pub period: Period,
    pub notes: String,
}

async fn get_readings(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(machine): Path<String>,
) -> Response {
    let caller = match app.admit(&headers) {
        Ok(caller) => caller,
        Err(problem) => return problem.into_response(),
    };
    let Some(id) = MachineId::parse(&machine) else {
        return Problem::bad_request(format!(
            "machine {machine:?} is not a machine id such as M000042"
        ))
        .into_response();
    };
    if let Caller::Tenant(t) = caller {
        let owner = app.access.view().tenant_of(id);
        if owner != Some(t) {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("machine {id} is not bound to your tenant"),
            )
            .into_response();
        }
    }
    match app
        .writer
        .with(move |engine| engine.explain_machine(id))
        .await
    {
        Ok(Some(explained)) => Json(ReadingsBody {
            machine: id.to_string(),
            readings: explained
                .readings
                .iter()
                .map(|v| ReadingBody {
                    seq: v.raw.seq,
                    time: v.raw.time,
                    raw: v.raw.counters,
                    removal: v.raw.removal,
                    applied: v.applied(),
                    steps: v.units(),
                    flags: v.flags.iter().map(|&f| flag_name(f).to_string()).collect(),
                    billed_in: v.period,
                    reversed_estimate: v.reversed_estimate,
                    explanation: v.explanation.clone(),
                })
                .collect(),
            period_notes: explained
                .period_notes
                .into_iter()
                .map(|(period, notes)| PeriodNoteBody { period, notes })
                .collect(),
        })
        .into_response(),
        Ok(None) => Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            "Not available",
            "this engine cannot explain readings",
        )
        .into_response(),
        Err(e) => Problem::of_store(&e).into_response(),
    }
}

/// Which shops a caller may see in an answer, and the one it asked for.
pub(super) struct Scope {
    visible: Option<BTreeSet<ShopId>>,
    shop: Option<ShopId>,
}

impl Scope {
    pub(super) fn of(
        app: &App,
        headers: &HeaderMap,
        shop: Option<String>,
    ) -> Result<Scope, Problem> {
        let caller = app.admit(headers)?;
        let shop = match shop {
            None => None,
            Some(s) => Some(ShopId::parse(&s).ok_or_else(|| {
                Problem::bad_request(format!("shop {s:?} is not a shop id such as S000042"))
            })?),
        };
        let visible = app.visible_shops(caller);
        if let (Some(shop), Some(visible)) = (shop, &visible) {
            if !visible.contains(&shop) {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    format!("shop {shop} is not one of your tenant's shops"),
                ));
            }
        }
        Ok(Scope { visible, shop })
    }

    pub(super) fn shows(&self, shop: ShopId) -> bool {
        self.shop.is_none_or(|s| s == shop)
            && self.visible.as_ref().is_none_or(|v| v.contains(&shop))
    }
}

pub(super) fn parse_period(text: &str) -> Result<Period, Problem> {
    Period::parse(text).ok_or_else(|| {
        Problem::bad_request(format!("period {text:?} is not YYYY-MM, e.g. 2024-01"))
    })
}
