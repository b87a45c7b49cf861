//! The server's clock, and the time bounds of its HTTP edge.
//!
//! "Now" is the wall clock unless the administrator pins it, like a test clock
//! (`PUT /v1/admin/clock`): a replay of a simulation dated in the past or in the future then
//! runs at the time its events were made (`run --target` pins it as it goes). The pin is
//! kept in the access store beside the metering store, so a restart keeps it; the metering
//! engine itself never reads a clock. Against that now:
//! - an event may be at most `--max-future-seconds` ahead and `--max-past-days` behind;
//! - a period may be closed once it has ended, and at most `CLOSE_AHEAD_MONTHS` after the
//!   latest period holding data: a close is store-wide and for good, so a typo such as
//!   9999-12 would otherwise end normal invoicing.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /v1/admin/clock` | admin | `{"now", "pinned"}` |
//! | `PUT /v1/admin/clock` | admin | body `{"now": "2026-12-31T00:00:00Z"}`: pins the clock |
//! | `DELETE /v1/admin/clock` | admin | back to the wall clock |

use super::problem::Problem;
use super::server::{check_admin, App};
use crate::calendar::Period;
use crate::event::UsageEvent;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// How far past the latest period holding data a close may reach. A year: a contracted shop
/// that sends nothing (a machine idle, or gone quiet) is still invoiced its fees for a year
/// of months closed ahead of its data; beyond that a close is almost surely a typo, and it
/// would close every month up to it for good.
pub const CLOSE_AHEAD_MONTHS: i64 = 12;

/// `pinned` holds this when the clock is the wall clock.
const WALL_CLOCK: i64 = i64::MIN;

/// The server's notion of now (read on every request that carries events: one atomic load).
pub struct ServerClock {
    pinned: AtomicI64,
}

/// An instant of the server's clock, and whether it was pinned.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub unix: i64,
    pub pinned: bool,
}

impl std::fmt::Display for Now {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = if self.pinned {
            "pinned"
        } else {
            "the wall clock"
        };
        write!(f, "{} ({source})", rfc3339(self.unix))
    }
}

impl ServerClock {
    /// The clock as the access store left it: pinned at `pinned`, or the wall clock.
    pub fn new(pinned: Option<i64>) -> ServerClock {
        ServerClock {
            pinned: AtomicI64::new(pinned.unwrap_or(WALL_CLOCK)),
        }
    }

    pub fn now(&self) -> Now {
        match self.pinned.load(Ordering::Relaxed) {
            WALL_CLOCK => Now {
                unix: wall_clock(),
                pinned: false,
            },
            unix => Now { unix, pinned: true },
        }
    }

    fn pin(&self, at: Option<i64>) {
        self.pinned
            .store(at.unwrap_or(WALL_CLOCK), Ordering::Relaxed);
    }
}

fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn rfc3339(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0).map_or_else(
        || format!("{unix} (Unix seconds)"),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// How far from the server's clock an event may be dated; 0 disables a bound.
#[derive(Clone, Copy, Debug)]
pub struct TimeBounds {
    pub max_future_seconds: u64,
    pub max_past_days: u32,
}

impl TimeBounds {
    /// Refuses the request at its first event dated out of bounds.
    pub fn check(&self, events: &[UsageEvent], now: Now) -> Result<(), Problem> {
        let latest = match self.max_future_seconds {
            0 => i64::MAX,
            s => now
                .unix
                .saturating_add(i64::try_from(s).unwrap_or(i64::MAX)),
        };
        let earliest = match self.max_past_days {
            0 => i64::MIN,
            d => now.unix.saturating_sub(i64::from(d) * 86_400),
        };
        let Some(i) = events
            .iter()
            .position(|e| e.time > latest || e.time < earliest)
        else {
            return Ok(());
        };
        let time = events[i].time;
        let pin = format!(
            "or pin the server's clock to the events' time: PUT /v1/admin/clock {{\"now\": \"{}\"}}",
            rfc3339(time)
        );
        let detail = if time > latest {
            format!(
                "event {i} is dated {}, {} s ahead of the server's clock, {now}; the limit is {} s \
                 ahead: raise --max-future-seconds (0 disables the check), {pin}",
                rfc3339(time),
                time.saturating_sub(now.unix),
                self.max_future_seconds
            )
        } else {
            format!(
                "event {i} is dated {}, {} days before the server's clock, {now}; the limit is {} \
                 days back: raise --max-past-days (0 disables the check), {pin}",
                rfc3339(time),
                now.unix.saturating_sub(time) / 86_400,
                self.max_past_days
            )
        };
        Err(Problem::bad_request(detail).at_index(i))
    }
}

/// A period may be closed once it is over by the server's clock.
pub fn check_close_has_ended(period: Period, now: Now) -> Result<(), Problem> {
    let end = period.next().start_unix();
    if end <= now.unix {
        return Ok(());
    }
    Err(conflict(format!(
        "{period} is not over by the server's clock, {now}: it ends at {}, and a period is \
         closed once it has ended. To close it in a replay, pin the clock first: \
         PUT /v1/admin/clock {{\"now\": \"{}\"}}",
        rfc3339(end),
        rfc3339(end)
    )))
}

/// A close may reach at most `CLOSE_AHEAD_MONTHS` past `latest`, the latest period holding
/// data (usage, or a plan contract's start); a store holding none has nothing to close.
pub fn check_close_near_data(period: Period, latest: Option<Period>) -> Result<(), Problem> {
    let Some(latest) = latest else {
        return Err(conflict(format!(
            "closing {period}: the store holds no usage and no plan contract, so there is \
             nothing to close yet (a close is store-wide and for good); send events or set \
             contracts first"
        )));
    };
    let ahead = months_between(latest, period);
    if ahead <= CLOSE_AHEAD_MONTHS {
        return Ok(());
    }
    Err(conflict(format!(
        "closing {period}: it is {ahead} months after {latest}, the latest period holding data \
         (usage, or a plan contract's start); a close may reach at most {CLOSE_AHEAD_MONTHS} \
         months past the data, because it closes every period up to it for good. Send the \
         events of the months to close, or set the plan contracts starting then, first"
    )))
}

fn months_between(from: Period, to: Period) -> i64 {
    i64::from(to.year - from.year) * 12 + i64::from(to.month) - i64::from(from.month)
}

fn conflict(detail: String) -> Problem {
    Problem::new(StatusCode::CONFLICT, "Conflict", detail)
}

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route(
        "/v1/admin/clock",
        get(get_clock).put(put_clock).delete(delete_clock),
    )
}

/// `PUT /v1/admin/clock`'s body (also sent by fleetsim's HTTP client).
#[derive(Serialize, Deserialize)]
pub struct ClockBody {
    /// RFC 3339, e.g. "2026-12-31T00:00:00Z".
    pub now: String,
}

#[derive(Serialize, Deserialize)]
pub struct ClockState {
    pub now: String,
    pub pinned: bool,
}

async fn get_clock(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(problem) = check_admin(&app, &headers) {
        return problem.into_response();
    }
    let now = app.clock.now();
    Json(ClockState {
        now: rfc3339(now.unix),
        pinned: now.pinned,
    })
    .into_response()
}

async fn put_clock(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<ClockBody>, JsonRejection>,
) -> Response {
    if let Err(problem) = check_admin(&app, &headers) {
        return problem.into_response();
    }
    let expected = "expected {\"now\": \"2026-12-31T00:00:00Z\"}";
    let text = match body {
        Ok(Json(b)) => b.now,
        Err(e) => return Problem::bad_request(format!("body: {e}; {expected}")).into_response(),
    };
    match DateTime::parse_from_rfc3339(&text) {
        Ok(t) => set_clock(&app, Some(t.timestamp())).await,
        Err(_) => Problem::bad_request(format!("now {text:?} is not RFC 3339; {expected}"))
            .into_response(),
    }
}

async fn delete_clock(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(problem) = check_admin(&app, &headers) {
        return problem.into_response();
    }
    set_clock(&app, None).await
}

/// Stores the pin first (on the access thread), so the clock in use is always the one a
/// restart would find.
async fn set_clock(app: &App, at: Option<i64>) -> Response {
    match app
        .access
        .with(move |store| store.set_pinned_clock(at))
        .await
    {
        Ok(()) => {
            app.clock.pin(at);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => Problem::of_access(&e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventBody, Frame, MachineId, ShopId};

    const DEC_1_2026: i64 = 1_796_083_200;

    fn at(time: i64) -> UsageEvent {
        UsageEvent {
            machine: MachineId(1),
            seq: 1,
            time,
            shop: ShopId(1),
            body: EventBody::TraceOnly {
                frame: Frame::FullRim,
            },
        }
    }

    fn pinned(unix: i64) -> Now {
        Now { unix, pinned: true }
    }

    fn detail(p: Problem) -> serde_json::Value {
        serde_json::to_value(&p).unwrap()
    }

    #[test]
    fn events_are_bounded_ahead_and_behind_the_clock_and_0_disables_a_bound() {
        let bounds = TimeBounds {
            max_future_seconds: 86_400,
            max_past_days: 400,
        };
        let now = pinned(DEC_1_2026);
        let day = 86_400;
        let inside = [at(DEC_1_2026 + day), at(DEC_1_2026 - 400 * day)];
        assert!(bounds.check(&inside, now).is_ok());
        let ahead = detail(
            bounds
                .check(&[at(0), at(DEC_1_2026 + day + 1)], now)
                .unwrap_err(),
        );
        // Event 0 (1970) is the first out of bounds.
        assert_eq!(ahead["index"], 0);
        let ahead = detail(
            bounds
                .check(&[at(DEC_1_2026), at(DEC_1_2026 + day + 1)], now)
                .unwrap_err(),
        );
        assert_eq!(
            (ahead["status"].as_u64(), ahead["index"].as_u64()),
            (Some(400), Some(1))
        );
        let text = ahead["detail"].as_str().unwrap();
        for says in [
            "2026-12-02T00:00:01Z",
            "86401 s ahead",
            "2026-12-01T00:00:00Z (pinned)",
            "--max-future-seconds",
            "PUT /v1/admin/clock",
        ] {
            assert!(text.contains(says), "{says}: {text}");
        }
        let year_1 = -62_135_596_800; // 0001-01-01T00:00:00Z
        let behind = detail(bounds.check(&[at(year_1)], now).unwrap_err());
        let text = behind["detail"].as_str().unwrap();
        for says in ["0001-01-01T00:00:00Z", "400 days back", "--max-past-days"] {
            assert!(text.contains(says), "{says}: {text}");
        }
        let open = TimeBounds {
            max_future_seconds: 0,
            max_past_days: 0,
        };
        assert!(open.check(&[at(year_1), at(i64::MAX / 2)], now).is_ok());
    }

    #[test]
    fn a_period_closes_once_over_and_at_most_a_year_past_the_data() {
        let p = |year, month| Period { year, month };
        let dec_2026 = p(2026, 12);
        assert!(check_close_has_ended(p(2026, 11), pinned(DEC_1_2026)).is_ok());
        let early = detail(check_close_has_ended(dec_2026, pinned(DEC_1_2026)).unwrap_err());
        assert_eq!(early["status"], 409);
        assert!(early["detail"]
            .as_str()
            .unwrap()
            .contains("2027-01-01T00:00:00Z"));
        assert!(check_close_has_ended(p(9999, 12), pinned(DEC_1_2026)).is_err());

        assert!(check_close_near_data(p(2027, 12), Some(dec_2026)).is_ok());
        let far = detail(check_close_near_data(p(2028, 1), Some(dec_2026)).unwrap_err());
        assert_eq!(far["status"], 409);
        let text = far["detail"].as_str().unwrap();
        assert!(text.contains("13 months after 2026-12"), "{text}");
        assert!(
            check_close_near_data(p(2020, 1), Some(dec_2026)).is_ok(),
            "behind the data"
        );
        assert!(
            check_close_near_data(p(2026, 1), None).is_err(),
            "an empty store"
        );
    }
}
