//! Plans over HTTP (issue #4): the catalogue the engine rates plan contracts with, and the
//! service incidents a close reads. Plan contracts themselves travel in
//! `PUT /v1/admin/contracts` (a `plan` object, `billing_routes`); plan invoices carry their
//! `notes` in `GET /v1/invoices/{YYYY-MM}`.
//!
//! | route | who | what |
//! |---|---|---|
//! | `PUT /v1/admin/catalogue` | admin | set the catalogue (TOML text, `application/toml`); 204 |
//! | `GET /v1/admin/catalogue` | tenant, admin | the catalogue's TOML text as last set; 404 if none |
//! | `POST /v1/admin/incidents` | admin | set service incidents per shop and period (not closed) |

use super::problem::Problem;
use super::server::{check_admin, App};
use crate::billing::service::Incident;
use crate::calendar::Period;
use crate::event::ShopId;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

/// The catalogue's media type.
pub const TOML: &str = "application/toml";

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/admin/catalogue", put(put_catalogue).get(get_catalogue))
        .route("/v1/admin/incidents", post(post_incidents))
}

async fn put_catalogue(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(problem) = check_admin(&app, &headers) {
        return problem.into_response();
    }
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(kind.starts_with(TOML) || kind.starts_with("text/")) {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            format!("send the catalogue as Content-Type: {TOML} (got {kind:?})"),
        )
        .into_response();
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return Problem::bad_request("the catalogue is not UTF-8 text").into_response();
    };
    match app
        .writer
        .with(move |engine| engine.set_catalogue(&text))
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => Problem::of_store(&e).into_response(),
    }
}

async fn get_catalogue(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(problem) = app.admit(&headers) {
        return problem.into_response();
    }
    match app.writer.with(|engine| engine.catalogue()).await {
        Ok(Some(text)) => ([(header::CONTENT_TYPE, TOML)], text).into_response(),
        Ok(None) => Problem::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "no catalogue is set: PUT /v1/admin/catalogue",
        )
        .into_response(),
        Err(e) => Problem::of_store(&e).into_response(),
    }
}

#[derive(Serialize, Deserialize)]
pub struct IncidentsBody {
    pub incidents: Vec<IncidentBody>,
}

/// One incident; hours and the parts cost are decimal text ("30", "120.00"), never floats.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentBody {
    pub shop: String,
    pub period: String,
    pub response_hours: String,
    pub repair_hours: String,
    pub labour_minutes: u32,
    pub visits: u32,
    pub parts_cost: String,
}

impl IncidentBody {
    pub fn from_incident(shop: ShopId, period: Period, i: &Incident) -> IncidentBody {
        IncidentBody {
            shop: shop.to_string(),
            period: period.to_string(),
            response_hours: i.response_hours.to_string(),
            repair_hours: i.repair_hours.to_string(),
            labour_minutes: i.labour_minutes,
            visits: i.visits,
            parts_cost: i.parts_cost.to_string(),
        }
    }

    pub(super) fn parse(&self, index: usize) -> Result<(ShopId, Period, Incident), Problem> {
        let bad = |what: String| {
            Problem::bad_request(format!("incident {index}: {what}")).at_index(index)
        };
        let shop = ShopId::parse(&self.shop).ok_or_else(|| {
            bad(format!(
                "shop {:?} is not a shop id such as S000042",
                self.shop
            ))
        })?;
        let period = Period::parse(&self.period)
            .ok_or_else(|| bad(format!("period {:?} is not YYYY-MM", self.period)))?;
        let decimal = |field: &str, text: &str| {
            Decimal::from_str(text)
                .ok()
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| {
                    bad(format!(
                        "{field} {text:?} is not a decimal ≥ 0 such as \"30\""
                    ))
                })
        };
        Ok((
            shop,
            period,
            Incident {
                response_hours: decimal("response_hours", &self.response_hours)?,
                repair_hours: decimal("repair_hours", &self.repair_hours)?,
                labour_minutes: self.labour_minutes,
                visits: self.visits,
                parts_cost: decimal("parts_cost", &self.parts_cost)?,
            },
        ))
    }
}

/// Sets the incidents of each (shop, period) named in the body (replacing what was recorded
/// for it). Periods are applied oldest first, and closed periods are the oldest ones, so a
/// body naming a closed period is refused (409) before anything of it is stored.
async fn post_incidents(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<IncidentsBody>, JsonRejection>,
) -> Response {
    if let Err(problem) = check_admin(&app, &headers) {
        return problem.into_response();
    }
    let Json(body) = match body {
        Ok(body) => body,
        Err(e) => return Problem::bad_request(format!(
            "body: {e}; expected {{\"incidents\": [{{\"shop\": \"S000001\", \"period\": \"2024-01\", \"response_hours\": \"30\", \"repair_hours\": \"50\", \"labour_minutes\": 90, \"visits\": 1, \"parts_cost\": \"120.00\"}}]}}"
        ))
        .into_response(),
    };
    let mut groups: BTreeMap<(Period, ShopId), Vec<Incident>> = BTreeMap::new();
    for (i, b) in body.incidents.iter().enumerate() {
        match b.parse(i) {
            Ok((shop, period, incident)) => {
                groups.entry((period, shop)).or_default().push(incident)
            }
            Err(problem) => return problem.into_response(),
        }
    }
    let count = body.incidents.len();
    let done = app
        .writer
        .with(move |engine| {
            for ((period, shop), incidents) in &groups {
                engine.record_incidents(*shop, *period, incidents)?;
            }
            Ok(())
        })
        .await;
    match done {
        Ok(()) => Json(serde_json::json!({ "incidents": count })).into_response(),
        Err(e) => Problem::of_store(&e).into_response(),
    }
}
