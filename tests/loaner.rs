//! Machines that move between shops (loaners), at the engine's interface: the embedded store
//! and `fleetsim serve`, the same story told to both.
//!
//! Machine M000007 is installed at shop 1 on 2024-03-05 (its counters at 1000 mountings, the
//! installation reading), edges 3 pairs a day for 10 days (30), leaves with a removal read on
//! the 14th, and is installed at shop 2 on the 18th with its counters at 1032 (2 mountings
//! that happened nowhere: in transit), where it edges 2 pairs a day through the 31st (14 days:
//! 28). One mounting of the 10th at shop 1 is delivered after the move. Worked by hand: shop 1
//! is billed 30 mountings and shop 2 28, on the events basis and on the counters basis.

#[path = "common/http_call.rs"]
mod http_call;
#[path = "common/server.rs"]
mod server;

use fleetsim::calendar::Period;
use fleetsim::event::{EventBody, Frame, MachineId, Material, ShopId, UsageEvent};
use fleetsim::metering::sqlite::SqliteEngine;
use fleetsim::metering::{Basis, Contract, ErrorClass, MeteringEngine};
use fleetsim::money::{Currency, UnitPrice};
use std::path::Path;

const LOANER: MachineId = MachineId(7);
const A: ShopId = ShopId(1);
const B: ShopId = ShopId(2);
const MAR_1: i64 = 1_709_251_200; // 2024-03-01T00:00:00Z
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const MARCH: Period = Period {
    year: 2024,
    month: 3,
};
const TOKEN: &str = "loaner-admin";

/// What a send did: (accepted, refused wrong-shop).
type Sent = (u64, u64);

/// How the story reaches an engine: its calls, and how events are sent (the embedded engine
/// ingests and commits; over HTTP they are posted with the admin token).
trait Harness {
    fn engine(&mut self) -> &mut dyn MeteringEngine;
    fn send(&mut self, events: &[UsageEvent]) -> Sent;
    fn restart(&mut self);
    /// The mountings counter of each reading of the loaner flagged `changed_in_transit`.
    fn changed_in_transit(&mut self) -> Vec<u64>;
}

struct Story {
    seq: u64,
    late: Option<UsageEvent>,
}

impl Story {
    fn event(&mut self, shop: ShopId, time: i64, body: EventBody) -> UsageEvent {
        self.seq += 1;
        UsageEvent {
            machine: LOANER,
            seq: self.seq,
            time,
            shop,
            body,
        }
    }

    fn mounting(&mut self, shop: ShopId, time: i64) -> UsageEvent {
        let body = EventBody::Mounting {
            frame: Frame::FullRim,
            material: Material::Index150,
            remake: false,
        };
        self.event(shop, time, body)
    }

    fn reading(&mut self, shop: ShopId, time: i64, mountings: u64, removal: bool) -> UsageEvent {
        let body = EventBody::Counter {
            total_cycles: mountings,
            mountings,
            trace_only: 0,
            removal,
            health: None,
        };
        self.event(shop, time, body)
    }

    /// A day at `shop` (day 1 = March 1st): `pairs` mountings from 10:00, then the evening
    /// read of the counters; the 10th's second mounting is held back (delivered late).
    fn day(&mut self, shop: ShopId, day: i64, pairs: u64, counter: &mut u64) -> Vec<UsageEvent> {
        let start = MAR_1 + (day - 1) * DAY;
        let mut events = Vec::new();
        for i in 0..pairs {
            let e = self.mounting(shop, start + (10 + i as i64) * HOUR);
            if day == 10 && i == 1 {
                self.late = Some(e);
            } else {
                events.push(e);
            }
        }
        *counter += pairs;
        events.push(self.reading(shop, start + 19 * HOUR, *counter, false));
        events
    }
}

fn contract(shop: ShopId, basis: Basis) -> Contract {
    Contract {
        shop,
        basis,
        price_per_mounting: UnitPrice::parse("2.50").unwrap(),
        currency: Currency("EUR".into()),
    }
}

/// The whole story on one harness, with each shop's contract on the given basis.
fn loaner_story(h: &mut dyn Harness, basis_a: Basis, basis_b: Basis) {
    let e = h.engine();
    e.set_contracts(&[contract(A, basis_a), contract(B, basis_b)])
        .unwrap();
    e.provision_at(&[(LOANER, A)], MAR_1 + 4 * DAY + 8 * HOUR)
        .unwrap();
    let mut story = Story { seq: 0, late: None };
    let mut counter = 1_000;
    let install = story.reading(A, MAR_1 + 4 * DAY + 8 * HOUR, counter, false);
    assert_eq!(h.send(&[install]), (1, 0), "installation reading at A");
    for day in 5..=13 {
        let events = story.day(A, day, 3, &mut counter);
        assert_eq!(h.send(&events).1, 0, "day {day} at A");
    }
    // The 14th: its mountings, then the removal read (its evening read).
    let last_day = MAR_1 + 13 * DAY;
    let jobs: Vec<_> = (0..3)
        .map(|i| story.mounting(A, last_day + (10 + i) * HOUR))
        .collect();
    assert_eq!(h.send(&jobs), (3, 0));
    counter += 3;
    let moving_in = MAR_1 + 17 * DAY + 8 * HOUR;
    let early = h.engine().provision_at(&[(LOANER, B)], moving_in);
    assert_eq!(
        early.map_err(|e| e.class()),
        Err(ErrorClass::Conflict),
        "a machine whose removal read has not arrived cannot move"
    );
    let removal = story.reading(A, last_day + 19 * HOUR, counter, true);
    assert_eq!(h.send(&[removal]), (1, 0), "removal read at A");
    assert_eq!(counter, 1_030, "30 mountings at A");

    h.engine().provision_at(&[(LOANER, B)], moving_in).unwrap();
    h.engine()
        .provision_at(&[(LOANER, B)], moving_in)
        .expect("provisioning again is harmless");
    counter += 2; // in transit: nobody's usage
    let install = story.reading(B, moving_in, counter, false);
    assert_eq!(h.send(&[install]), (1, 0), "installation reading at B");
    let late = story
        .late
        .take()
        .expect("the 10th's mounting was held back");
    assert_eq!(
        h.send(&[late]),
        (1, 0),
        "a late event of the A stay counts for A"
    );
    let wrong = [
        story.mounting(B, MAR_1 + 9 * DAY + 15 * HOUR), // B, during the A stay
        story.mounting(A, MAR_1 + 19 * DAY + 15 * HOUR), // A, during the B stay
        story.mounting(A, MAR_1 + 15 * DAY + 15 * HOUR), // in transit
        story.mounting(B, MAR_1 + 15 * DAY + 15 * HOUR),
        story.mounting(A, last_day + 19 * HOUR + 1), // a second after the removal read
    ];
    assert_eq!(h.send(&wrong), (0, 5), "wrong shops are still refused");
    for day in 18..=24 {
        let events = story.day(B, day, 2, &mut counter);
        assert_eq!(h.send(&events).1, 0, "day {day} at B");
    }

    h.restart();
    for day in 25..=31 {
        let events = story.day(B, day, 2, &mut counter);
        assert_eq!(h.send(&events).1, 0, "day {day} at B, after a restart");
    }
    assert_eq!(counter, 1_032 + 28, "28 mountings at B");
    check_open_counters(h, "live");
    h.restart();
    check_open_counters(h, "after a restart");

    let usage = h.engine().usage(MARCH).unwrap();
    let mountings = |shop| {
        usage
            .iter()
            .find(|r| r.shop == shop)
            .map(|r| r.billable_mountings)
    };
    assert_eq!(
        (mountings(A), mountings(B)),
        (Some(30), Some(28)),
        "events: each shop's own mountings, the late one at A"
    );
    let invoices = h.engine().close_period(MARCH).unwrap();
    let billed = |shop| {
        invoices
            .iter()
            .find(|i| i.shop == shop)
            .map(|i| (i.basis, i.billed_mountings()))
    };
    assert_eq!(billed(A), Some((basis_a, 30)), "{invoices:?}");
    assert_eq!(billed(B), Some((basis_b, 28)), "{invoices:?}");
    let closed = h.engine().counter_usage(MARCH).unwrap();
    assert_eq!(
        counted(&closed, A),
        Some((30, 0)),
        "no estimate after the removal read"
    );
    assert_eq!(counted(&closed, B), Some((28, 0)));
    h.restart();
    assert_eq!(
        h.engine().invoices(MARCH).unwrap(),
        invoices,
        "a restart keeps them"
    );
    assert_eq!(
        h.changed_in_transit(),
        [1_032],
        "the installation at B is flagged: 1030 at the removal read, 1032 now"
    );
}

/// (actual, estimated) mountings of a shop's counter usage row.
fn counted(rows: &[fleetsim::metering::CounterUsageRow], shop: ShopId) -> Option<(u64, u64)> {
    rows.iter()
        .find(|r| r.shop == shop)
        .map(|r| (r.usage.actual.mountings, r.usage.estimate.mountings))
}

/// March's counter usage while it is open: each stay's steps at its own shop.
fn check_open_counters(h: &mut dyn Harness, when: &str) {
    let open = h.engine().counter_usage(MARCH).unwrap();
    assert_eq!(
        counted(&open, A),
        Some((30, 0)),
        "counters booked at A, {when}"
    );
    assert_eq!(
        counted(&open, B),
        Some((28, 0)),
        "counters booked at B, {when}: the step in transit is not usage"
    );
}

struct Embedded {
    path: std::path::PathBuf,
    engine: Option<SqliteEngine>,
}

impl Harness for Embedded {
    fn engine(&mut self) -> &mut dyn MeteringEngine {
        self.engine.as_mut().expect("open")
    }

    fn send(&mut self, events: &[UsageEvent]) -> Sent {
        let engine = self.engine.as_mut().expect("open");
        let r = engine.ingest(events).unwrap();
        engine.commit().unwrap();
        (r.accepted, r.rejected_wrong_shop)
    }

    fn restart(&mut self) {
        drop(self.engine.take());
        let mut engine = SqliteEngine::open(&self.path).unwrap();
        assert_eq!(
            engine.vee_differences().unwrap(),
            0,
            "the replay gives the stored VEE"
        );
        self.engine = Some(engine);
    }

    fn changed_in_transit(&mut self) -> Vec<u64> {
        let explained = self.engine().explain_machine(LOANER).unwrap();
        let readings = explained.expect("the embedded engine explains").readings;
        readings
            .iter()
            .filter(|v| {
                v.flags
                    .contains(&fleetsim::metering::vee::Flag::ChangedInTransit)
            })
            .map(|v| v.raw.counters.mountings)
            .collect()
    }
}

fn embedded(dir: &Path) -> Embedded {
    let path = dir.join("m.sqlite");
    let mut engine = SqliteEngine::open(&path).unwrap();
    engine.set_checkpoint_every(7); // both the checkpoint and the log replay are exercised
    Embedded {
        path,
        engine: Some(engine),
    }
}

#[test]
fn a_loaner_bills_each_shop_its_own_mountings_embedded() {
    for (a, b) in [
        (Basis::Events, Basis::Counters),
        (Basis::Counters, Basis::Events),
    ] {
        let dir = tempfile::tempdir().unwrap();
        loaner_story(&mut embedded(dir.path()), a, b);
    }
}

struct Http {
    db: std::path::PathBuf,
    server: Option<server::Server>,
    engine: fleetsim::http::client::HttpEngine,
}

impl Http {
    fn start(db: &Path) -> Http {
        let server = server::Server::start_at(db, TOKEN, &[], server::FIXTURES_NOW);
        let options = fleetsim::http::client::HttpOptions {
            attempts: 3,
            admin_token: Some(TOKEN.into()),
            ..fleetsim::http::client::HttpOptions::new(&server.url)
        };
        Http {
            db: db.to_path_buf(),
            engine: fleetsim::http::client::HttpEngine::new(options),
            server: Some(server),
        }
    }
}

impl Harness for Http {
    fn engine(&mut self) -> &mut dyn MeteringEngine {
        &mut self.engine
    }

    /// Posted with the admin token: the loaner's tenant changes with its shop, and a tenant
    /// key may send only its current machines' events.
    fn send(&mut self, events: &[UsageEvent]) -> Sent {
        let url = &self.server.as_ref().expect("running").url;
        let (status, receipt) = http_call::post_events(url, events, TOKEN);
        assert_eq!(status, 200, "{receipt}");
        let n = |v: &serde_json::Value| v.as_u64().expect("a count");
        (
            n(&receipt["accepted"]),
            n(&receipt["rejected"]["wrong_shop"]),
        )
    }

    fn restart(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.kill();
        }
        *self = Http::start(&self.db.clone());
    }

    fn changed_in_transit(&mut self) -> Vec<u64> {
        let url = format!(
            "{}/v1/machines/{LOANER}/readings",
            self.server.as_ref().unwrap().url
        );
        let (status, body) = http_call::call_json("GET", &url, None, TOKEN);
        assert_eq!(status, 200, "{body}");
        let readings = body["readings"].as_array().expect("readings").iter();
        readings
            .filter(|r| {
                r["flags"]
                    .as_array()
                    .unwrap()
                    .contains(&"changed_in_transit".into())
            })
            .map(|r| r["raw"]["mountings"].as_u64().unwrap())
            .collect()
    }
}

#[test]
fn a_loaner_bills_each_shop_its_own_mountings_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut http = Http::start(&dir.path().join("m.sqlite"));
    loaner_story(&mut http, Basis::Counters, Basis::Events);
}

/// `since` over HTTP: one time per request, RFC 3339, and a clear 400 otherwise.
#[test]
fn a_bad_installation_time_is_a_clear_400() {
    let dir = tempfile::tempdir().unwrap();
    let server = server::Server::start(&dir.path().join("m.sqlite"), TOKEN, &[]);
    let url = format!("{}/v1/admin/machines", server.url);
    let post = |body: serde_json::Value| {
        http_call::call_json(
            "POST",
            &url,
            Some(("application/json", body.to_string().into_bytes())),
            TOKEN,
        )
    };
    let (status, problem) = post(serde_json::json!({"machines": [
        {"machine": "M000007", "shop": "S000001", "since": "March 5th"}]}));
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("RFC 3339"),
        "{problem}"
    );
    let (status, problem) = post(serde_json::json!({"machines": [
        {"machine": "M000007", "shop": "S000001", "since": "2024-03-05T08:00:00Z"},
        {"machine": "M000008", "shop": "S000001"}]}));
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("separate requests"),
        "{problem}"
    );
}
