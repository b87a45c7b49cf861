//! What the service desk watches: each machine's latest health report (issue 11). Same
//! rules as everywhere in `http`: problem+json errors, a tenant sees only the machines bound
//! to it, admin sees all.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /v1/machines/health?since=UNIX` | tenant, admin | per machine whose latest health report is dated at or after `since`, that report (`MeteringEngine::machine_health`) |

use super::access::Caller;
use super::problem::Problem;
use super::server::App;
use crate::event::{Health, MachineId, ShopId};
use crate::metering::MachineHealth;
use crate::service::Cause;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/v1/machines/health", get(get_machine_health))
}

/// The parameter as text, so a bad one gets our message rather than the extractor's.
#[derive(Deserialize)]
struct HealthQuery {
    since: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct MachineHealthBody {
    pub since: i64,
    pub machines: Vec<MachineHealthRowBody>,
}

/// One machine's latest report: ids as the wire writes them, health as in the reading's data.
#[derive(Serialize, Deserialize)]
pub struct MachineHealthRowBody {
    pub machine: String,
    pub shop: String,
    /// Unix seconds: the reading's event time.
    pub time: i64,
    pub seq: u64,
    pub wheel_wear_permille: u16,
    /// The cause the diagnostics foresee; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl MachineHealthRowBody {
    pub fn from_report(h: &MachineHealth) -> MachineHealthRowBody {
        MachineHealthRowBody {
            machine: h.machine.to_string(),
            shop: h.shop.to_string(),
            time: h.time,
            seq: h.seq,
            wheel_wear_permille: h.health.wheel_wear_permille,
            warning: h.health.warning.map(|c| c.as_str().to_string()),
        }
    }

    /// The report, if every field is one an engine can hold (`None`: a foreign answer).
    pub fn to_report(&self) -> Option<MachineHealth> {
        let warning = match &self.warning {
            None => None,
            Some(name) => Some(Cause::parse(name)?),
        };
        Some(MachineHealth {
            machine: MachineId::parse(&self.machine)?,
            shop: ShopId::parse(&self.shop)?,
            time: self.time,
            seq: self.seq,
            health: Health {
                wheel_wear_permille: (self.wheel_wear_permille <= Health::WORN_OUT)
                    .then_some(self.wheel_wear_permille)?,
                warning,
            },
        })
    }
}

const USAGE: &str = "query parameter: since=UNIX (required): unix seconds, a whole number such \
                     as 1704067200; machines whose latest health report is dated at or after it";

async fn get_machine_health(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<HealthQuery>, QueryRejection>,
) -> Response {
    let caller = match app.admit(&headers) {
        Ok(caller) => caller,
        Err(problem) => return problem.into_response(),
    };
    let since = match query {
        Ok(Query(HealthQuery { since: Some(text) })) => match text.parse::<i64>() {
            Ok(since) => since,
            Err(_) => {
                return Problem::bad_request(format!("since {text:?} is not unix seconds: {USAGE}"))
                    .into_response()
            }
        },
        Ok(Query(HealthQuery { since: None })) | Err(_) => {
            return Problem::bad_request(USAGE).into_response()
        }
    };
    match app
        .writer
        .with(move |engine| engine.machine_health(since))
        .await
    {
        Ok(reports) => {
            let view = app.access.view();
            let visible = |h: &&MachineHealth| match caller {
                Caller::Admin => true,
                Caller::Tenant(t) => view.tenant_of(h.machine) == Some(t),
            };
            let machines = reports
                .iter()
                .filter(visible)
                .map(MachineHealthRowBody::from_report)
                .collect();
            Json(MachineHealthBody { since, machines }).into_response()
        }
        Err(e) => Problem::of_store(&e).into_response(),
    }
}
