//! A close's metered usage over HTTP: what the engine's close of a period handed billing, so
//! a client can rate other contracts on the same metered usage (pricing alternatives,
//! `billing::close::rate_close`).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /v1/closes/{YYYY-MM}/metered[?shop=S…]` | tenant, admin | per shop: event usage the close took by usage period, counter usage after VEE, incidents; `closed: false` and no shops while the period is open |

use super::billing_routes::{parse_period, Scope};
use super::plan_routes::IncidentBody;
use super::problem::Problem;
use super::server::App;
use crate::billing::close::MeteredClose;
use crate::billing::{CounterDue, EventDue};
use crate::calendar::Period;
use crate::event::ShopId;
use crate::metering::CounterUsageRow;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/v1/closes/{period}/metered", get(get_metered))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeteredBody {
    pub period: Period,
    /// False while the period is open: nothing was metered for billing yet.
    pub closed: bool,
    pub shops: Vec<MeteredShopBody>,
}

/// One shop's part of a close; absent parts are empty.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeteredShopBody {
    pub shop: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventDueBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<CountersBody>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<IncidentBody>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDueBody {
    pub usage_period: Period,
    pub mountings: u64,
    pub trace_only: u64,
}

#[derive(Serialize, Deserialize)]
pub struct CountersBody {
    #[serde(flatten)]
    pub usage: CounterDue,
    pub estimated_machines: u32,
}

impl MeteredBody {
    /// The close's body, showing only the shops `shows` lets through.
    pub fn of(close: &MeteredClose, shows: impl Fn(ShopId) -> bool) -> MeteredBody {
        let shops: BTreeSet<ShopId> = close
            .events
            .keys()
            .chain(close.counters.keys())
            .chain(close.incidents.keys())
            .copied()
            .filter(|s| shows(*s))
            .collect();
        let shops = shops
            .into_iter()
            .map(|shop| MeteredShopBody {
                shop: shop.to_string(),
                events: close.events.get(&shop).map_or_else(Vec::new, |d| {
                    d.by_period
                        .iter()
                        .map(|&(usage_period, mountings, trace_only)| EventDueBody {
                            usage_period,
                            mountings,
                            trace_only,
                        })
                        .collect()
                }),
                counters: close.counters.get(&shop).map(|r| CountersBody {
                    usage: r.usage,
                    estimated_machines: r.estimated_machines,
                }),
                incidents: close.incidents.get(&shop).map_or_else(Vec::new, |list| {
                    list.iter()
                        .map(|i| IncidentBody::from_incident(shop, close.period, i))
                        .collect()
                }),
            })
            .collect();
        MeteredBody {
            period: close.period,
            closed: true,
            shops,
        }
    }

    /// The close again (`None` while open); `Err` names what does not parse.
    pub fn to_close(&self) -> Result<Option<MeteredClose>, String> {
        if !self.closed {
            return Ok(None);
        }
        let mut close = MeteredClose::empty(self.period);
        for (i, s) in self.shops.iter().enumerate() {
            let shop = ShopId::parse(&s.shop)
                .ok_or_else(|| format!("shops[{i}]: bad shop {:?}", s.shop))?;
            if !s.events.is_empty() {
                let by_period = s
                    .events
                    .iter()
                    .map(|e| (e.usage_period, e.mountings, e.trace_only))
                    .collect();
                close.events.insert(shop, EventDue { by_period });
            }
            if let Some(c) = &s.counters {
                let row = CounterUsageRow {
                    shop,
                    usage: c.usage,
                    estimated_machines: c.estimated_machines,
                };
                close.counters.insert(shop, row);
            }
            if !s.incidents.is_empty() {
                let mut list = Vec::new();
                for (j, body) in s.incidents.iter().enumerate() {
                    let (_, _, incident) = body
                        .parse(j)
                        .map_err(|p| format!("shops[{i}].incidents[{j}]: {}", p.detail()))?;
                    list.push(incident);
                }
                close.incidents.insert(shop, list);
            }
        }
        Ok(Some(close))
    }
}

#[derive(Deserialize)]
struct ShopQuery {
    shop: Option<String>,
}

async fn get_metered(
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
    match app
        .writer
        .with(move |engine| engine.metered_close(period))
        .await
    {
        Ok(Some(close)) => Json(MeteredBody::of(&close, |s| scope.shows(s))).into_response(),
        Ok(None) => Json(MeteredBody {
            period,
            closed: false,
            shops: Vec::new(),
        })
        .into_response(),
        Err(e) => Problem::of_store(&e).into_response(),
    }
}
