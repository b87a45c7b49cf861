//! Billing through the real `fleetsim serve`: counter readings with a rollover, a reset, a
//! month of missing reads estimated and trued up, a spike; late events billed on the next
//! invoice; closes that are idempotent and survive a restart; tenants that see only their own
//! invoices and machines. Every expected number is worked out by hand in the comments.

use fleetsim::event::{EventBody, Frame, MachineId, Material, ShopId, UsageEvent};
use serde_json::{json, Value};

#[path = "common/http_call.rs"]
mod http_call;
#[path = "common/server.rs"]
mod server;
use http_call::call_json as call;

const TOKEN: &str = "billing-admin-token";
/// 2024-01-01T00:00:00Z.
const JAN_1: i64 = 1_704_067_200;
const DAY: i64 = 86_400;
/// End-of-day counter read, 19:30 UTC.
const READ: i64 = 19 * 3600 + 1800;

struct Api {
    server: server::Server,
}

impl Api {
    fn start(db: &std::path::Path, extra: &[&str]) -> Api {
        Api {
            server: server::Server::start_at(db, TOKEN, extra, server::FIXTURES_NOW),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    fn admin_json(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, answer) = call(
            method,
            &self.url(path),
            Some(("application/json", body.to_string().into_bytes())),
            TOKEN,
        );
        assert!(
            status == 200 || status == 204,
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    fn send(&self, events: &[UsageEvent]) {
        let (status, receipt) = http_call::post_events(&self.server.url, events, TOKEN);
        assert_eq!(status, 200, "{receipt}");
        assert_eq!(receipt["accepted"], events.len(), "{receipt}");
    }

    fn close(&self, period: &str) -> Value {
        self.admin_json(
            "POST",
            &format!("/v1/admin/periods/{period}/close"),
            json!({}),
        )
    }

    fn get(&self, path: &str, bearer: &str) -> (u16, Value) {
        call("GET", &self.url(path), None, bearer)
    }
}

fn reading(machine: u32, seq: u64, time: i64, mountings: u64) -> UsageEvent {
    UsageEvent {
        machine: MachineId(machine),
        seq,
        time,
        shop: ShopId(machine),
        body: EventBody::Counter {
            total_cycles: mountings,
            mountings,
            trace_only: 0,
            removal: false,
            health: None,
        },
    }
}

fn mounting(machine: u32, seq: u64, time: i64) -> UsageEvent {
    UsageEvent {
        machine: MachineId(machine),
        seq,
        time,
        shop: ShopId(machine),
        body: EventBody::Mounting {
            frame: Frame::FullRim,
            material: Material::Index150,
            remake: false,
        },
    }
}

/// Machine 0's January (4-digit counters, so they wrap at 10,000):
/// - seq 1, Jan 1 00:00: 9,990 — commissioning, the baseline;
/// - seq 2, Jan 2 19:30: 9,998 → +8;
/// - seq 3, Jan 3 19:30: 6 → rollover +8 (10,000 − 9,998 + 6), within the allowance of
///   max(100, 5 × average) units per day;
/// - seq 4, Jan 4 19:30: 3 → a reset (a rollover would be 9,997 units): +3;
/// - seq 5, Jan 10 19:30: 33 → +30. Then no read until February.
fn machine_0_january() -> Vec<UsageEvent> {
    [
        (1, 0, 9_990),
        (2, DAY + READ, 9_998),
        (3, 2 * DAY + READ, 6),
        (4, 3 * DAY + READ, 3),
        (5, 9 * DAY + READ, 33),
    ]
    .into_iter()
    .map(|(seq, at, m)| reading(0, seq, JAN_1 + at, m))
    .collect()
}

/// Machine 1: +5 a day for a week, then +5,000 in a day (a spike: flagged, still billed),
/// then +5 on Jan 31: 35 + 5,000 + 5 = 5,040 mountings.
fn machine_1_january() -> Vec<UsageEvent> {
    let mut events = vec![reading(1, 1, JAN_1, 0)];
    events.extend((1..=7).map(|d| reading(1, d as u64 + 1, JAN_1 + d * DAY + READ, 5 * d as u64)));
    events.push(reading(1, 9, JAN_1 + 8 * DAY + READ, 5_035));
    events.push(reading(1, 10, JAN_1 + 30 * DAY + READ, 5_040));
    events
}

fn lines(invoice: &Value) -> Vec<(String, String, i64, i64)> {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_string(),
                l["usage_period"].as_str().unwrap().to_string(),
                l["quantity"].as_i64().unwrap(),
                l["amount_cents"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn invoice_of<'a>(answer: &'a Value, shop: &str) -> &'a Value {
    answer["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["shop"] == shop)
        .unwrap_or_else(|| panic!("no invoice for {shop} in {answer}"))
}

fn line(kind: &str, period: &str, quantity: i64, cents: i64) -> (String, String, i64, i64) {
    (kind.to_string(), period.to_string(), quantity, cents)
}

fn set_up(api: &Api) {
    let machines: Vec<_> = (0..3)
        .map(|m| json!({"machine": MachineId(m).to_string(), "shop": ShopId(m).to_string()}))
        .collect();
    api.admin_json(
        "POST",
        "/v1/admin/machines",
        json!({ "machines": machines }),
    );
    let contracts = json!({"contracts": [
        {"shop": "S000000", "basis": "counters", "price_per_mounting": "2.50", "currency": "EUR"},
        {"shop": "S000001", "basis": "counters", "price_per_mounting": "3.00", "currency": "EUR"},
        {"shop": "S000002", "basis": "events", "price_per_mounting": "4.00", "currency": "EUR"},
    ]});
    assert_eq!(
        api.admin_json("PUT", "/v1/admin/contracts", contracts)["contracts"],
        3
    );
}

#[test]
fn counters_and_late_events_are_invoiced_as_computed_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("billing.sqlite");
    let mut api = Api::start(&db, &["--counter-digits", "4", "--max-future-seconds", "0"]);
    set_up(&api);
    api.send(&machine_0_january());
    api.send(&machine_1_january());
    // Machine 2 (events basis): three mountings on January 15.
    api.send(
        &(1..=3)
            .map(|s| mounting(2, s, JAN_1 + 14 * DAY + 36_000))
            .collect::<Vec<_>>(),
    );

    // January closes with machine 0 unread since Jan 10 19:30: its tail to Feb 1 00:00 (21 d
    // 4.5 h = 1,830,600 s) is estimated at its trailing use: 49 units in 847,800 s (the four
    // steps' spans: 156,600 + 86,400 + 86,400 + 518,400), so 49 × 1,830,600 / 847,800 =
    // 105.8 → 106. At 2.50: 49 → 122.50, 106 → 265.00; total 387.50.
    let january = api.close("2024-01");
    assert_eq!(
        january["invoices"].as_array().unwrap().len(),
        3,
        "{january}"
    );
    let s0 = invoice_of(&january, "S000000");
    assert_eq!(
        lines(s0),
        vec![
            line("counter_usage", "2024-01", 49, 12_250),
            line("estimate", "2024-01", 106, 26_500),
            line("trace_only", "2024-01", 0, 0)
        ]
    );
    assert_eq!(s0["total_cents"], 38_750);
    // Machine 1: 5,040 × 3.00 = 15,120.00; read at 19:30 on Jan 31, nothing to estimate.
    assert_eq!(
        lines(invoice_of(&january, "S000001")),
        vec![
            line("counter_usage", "2024-01", 5_040, 1_512_000),
            line("trace_only", "2024-01", 0, 0)
        ]
    );
    // Machine 2: 3 × 4.00 = 12.00.
    assert_eq!(invoice_of(&january, "S000002")["total_cents"], 1_200);
    assert_eq!(
        api.close("2024-01")["invoices"],
        json!([]),
        "closing again issues nothing"
    );

    // February: machine 0 reads 60 on Feb 3 (+27), the first read after the estimate: it
    // reverses all 106; then 80 on Feb 29 (+20), 4.5 h before the end: no estimate. February
    // bills 47 − 106 = −59 mountings: 117.50 − 265.00 = −147.50, a credit. January and
    // February together bill 49 + 106 + 47 − 106 = 96 = every step the counters show.
    api.send(&[
        reading(0, 6, JAN_1 + 33 * DAY + READ, 60),
        reading(0, 7, JAN_1 + 59 * DAY + READ, 80),
    ]);
    // Machine 2: two January mountings arrive late (after January was invoiced), four in February.
    let mut late = vec![
        mounting(2, 4, JAN_1 + 19 * DAY),
        mounting(2, 5, JAN_1 + 19 * DAY + 60),
    ];
    late.extend((6..=9).map(|s| mounting(2, s, JAN_1 + 35 * DAY + s as i64)));
    api.send(&late);
    let february = api.close("2024-02");
    let s0 = invoice_of(&february, "S000000");
    assert_eq!(
        lines(s0),
        vec![
            line("counter_usage", "2024-02", 47, 11_750),
            line("true_up", "2024-02", -106, -26_500),
            line("trace_only", "2024-02", 0, 0)
        ]
    );
    assert_eq!(s0["total_cents"], -14_750);
    // Late usage: its own line on February's invoice, naming January: 4 × 4.00 + 2 × 4.00.
    assert_eq!(
        lines(invoice_of(&february, "S000002")),
        vec![
            line("usage", "2024-02", 4, 1_600),
            line("late_usage", "2024-01", 2, 800),
            line("trace_only", "2024-02", 0, 0)
        ]
    );

    // Issued invoices never change; usage from the counters shows how they were built.
    let (status, stored) = api.get("/v1/invoices/2024-01?shop=S000000", TOKEN);
    assert_eq!(status, 200);
    assert_eq!(stored["invoices"][0], *invoice_of(&january, "S000000"));
    let (_, counters) = api.get("/v1/counter-usage?period=2024-02&shop=S000000", TOKEN);
    let row = &counters["shops"][0];
    assert_eq!(
        (
            row["actual"]["mountings"].as_u64(),
            row["reversed"]["mountings"].as_u64()
        ),
        (Some(47), Some(106)),
        "{counters}"
    );

    // Every edit is explained from stored data: the raw reading, the step, the flags, why.
    let (status, explained) = api.get("/v1/machines/M000000/readings", TOKEN);
    assert_eq!(status, 200, "{explained}");
    let readings = explained["readings"].as_array().unwrap();
    assert_eq!(readings.len(), 7);
    let text = |i: usize| readings[i]["explanation"].as_str().unwrap().to_string();
    assert!(text(0).contains("baseline"), "{}", text(0));
    assert!(text(2).contains("rollover +8"), "{}", text(2));
    assert!(text(3).contains("reset +3"), "{}", text(3));
    assert_eq!(
        readings[2]["raw"]["mountings"], 6,
        "the raw reading is kept as sent"
    );
    assert_eq!(readings[5]["reversed_estimate"]["mountings"], 106);
    assert_eq!(readings[5]["billed_in"], "2024-02");
    assert!(
        readings[5]["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("zero_trace_only")),
        "trace_only has not moved for over 14 days"
    );
    let notes = explained["period_notes"].as_array().unwrap();
    assert!(
        notes[0]["notes"].as_str().unwrap().starts_with("estimate:"),
        "{notes:?}"
    );
    let (_, spiky) = api.get("/v1/machines/M000001/readings", TOKEN);
    assert_eq!(
        spiky["readings"][8]["flags"],
        json!(["spike_total_cycles", "spike_mountings"]),
        "{}",
        spiky["readings"][8]
    );

    // A restart replays the log: same explanations, closes still closed.
    api.server.kill();
    let api = Api::start(&db, &[]);
    let (_, again) = api.get("/v1/machines/M000000/readings", TOKEN);
    assert_eq!(again, explained);
    assert_eq!(api.close("2024-02")["invoices"], json!([]));
}

#[test]
fn tenants_see_only_their_own_invoices_and_machines() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Api::start(
        &tmp.path().join("tenants.sqlite"),
        &["--max-future-seconds", "0"],
    );
    set_up(&api);
    api.send(&[
        mounting(0, 1, JAN_1 + 40_000),
        mounting(2, 1, JAN_1 + 40_000),
    ]);
    api.close("2024-01");
    let (status, minted) = call(
        "POST",
        &api.url("/v1/admin/tenants/S000000/keys"),
        Some(("application/json", b"{}".to_vec())),
        TOKEN,
    );
    assert_eq!(status, 201, "{minted}");
    let key = minted["key"].as_str().unwrap();

    let (status, mine) = api.get("/v1/invoices/2024-01", key);
    assert_eq!(status, 200);
    let shops: Vec<&str> = mine["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["shop"].as_str().unwrap())
        .collect();
    assert_eq!(
        shops,
        ["S000000"],
        "a tenant's list holds only its own shops"
    );
    assert_eq!(api.get("/v1/invoices/2024-01?shop=S000002", key).0, 403);
    assert_eq!(api.get("/v1/machines/M000002/readings", key).0, 403);
    assert_eq!(api.get("/v1/machines/M000000/readings", key).0, 200);
    assert_eq!(
        api.get("/v1/counter-usage?period=2024-01&shop=S000002", key)
            .0,
        403
    );
    // Closing and contracts are the administrator's.
    assert_eq!(
        call(
            "POST",
            &api.url("/v1/admin/periods/2024-02/close"),
            None,
            key
        )
        .0,
        401
    );
    assert_eq!(api.get("/v1/invoices/2024-13", TOKEN).0, 400);
    let bad_price = json!({"contracts": [{"shop": "S000000", "basis": "events", "price_per_mounting": "3,85", "currency": "EUR"}]});
    let (status, problem) = call(
        "PUT",
        &api.url("/v1/admin/contracts"),
        Some(("application/json", bad_price.to_string().into_bytes())),
        TOKEN,
    );
    assert_eq!(status, 400);
    assert!(
        problem["detail"].as_str().unwrap().contains("contract 0"),
        "{problem}"
    );
}

/// A removal read (`"removal": true` in the counter data, written by hand here as a gateway
/// would) reaches the engine with its flag: machine 0 is read daily from Jan 1 to Jan 10 and
/// removed on Jan 10 (45 mountings); machine 1 is read the same way without the flag. January
/// and February close: machine 1's unread tail is estimated, machine 0's is not, also after a
/// restart (the flag is in the readings log). A removal that is not a boolean is a 400.
#[test]
fn a_removal_read_over_http_stops_estimates_for_its_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("removal.sqlite");
    let mut api = Api::start(&db, &["--max-future-seconds", "0"]);
    set_up(&api);
    let daily = |m: u32| -> Vec<UsageEvent> {
        (0..10)
            .map(|d| reading(m, d as u64 + 1, JAN_1 + d * DAY + READ, 5 * d as u64))
            .collect()
    };
    api.send(&daily(0)[..9]);
    api.send(&daily(1));
    let removal = |value: &str| {
        format!(
            r#"{{"specversion":"1.0","id":"M000000-10","source":"/fleetsim/machines/M000000",
                "type":"com.fleetsim.edger.counter.v1","time":"2024-01-10T19:30:00Z","subject":"S000000",
                "data":{{"total_cycles":45,"mountings":45,"trace_only":0,"removal":{value}}}}}"#
        )
    };
    let post = |body: String| {
        call(
            "POST",
            &api.url("/v1/events"),
            Some(("application/cloudevents+json", body.into_bytes())),
            TOKEN,
        )
    };
    let (status, problem) = post(removal(r#""yes""#));
    assert_eq!(status, 400, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("expected a boolean"), "{detail}");
    let (status, receipt) = post(removal("true"));
    assert_eq!(
        (status, &receipt["accepted"]),
        (200, &json!(1)),
        "{receipt}"
    );

    // Machine 1's tail, Jan 10 19:30 → Feb 1 00:00, is estimated at 5/day; machine 0's is not.
    let january = api.close("2024-01");
    assert_eq!(
        lines(invoice_of(&january, "S000000")),
        vec![
            line("counter_usage", "2024-01", 45, 11_250),
            line("trace_only", "2024-01", 0, 0)
        ]
    );
    let machine_1 = lines(invoice_of(&january, "S000001"));
    assert!(
        machine_1.iter().any(|(kind, ..)| kind == "estimate"),
        "{machine_1:?}"
    );
    let (_, explained) = api.get("/v1/machines/M000000/readings", TOKEN);
    let last = &explained["readings"][9];
    assert_eq!(last["removal"], true, "{last}");
    assert_eq!(explained["readings"][8]["removal"], false);

    api.server.kill();
    let api = Api::start(&db, &[]);
    api.close("2024-02");
    for (period, shop, estimated) in [
        ("2024-01", "S000000", 0),
        ("2024-02", "S000000", 0),
        ("2024-02", "S000001", 1),
    ] {
        let (status, usage) = api.get(
            &format!("/v1/counter-usage?period={period}&shop={shop}"),
            TOKEN,
        );
        assert_eq!(status, 200, "{usage}");
        let row = &usage["shops"][0];
        assert_eq!(
            row["estimated_machines"], estimated,
            "{period} {shop}: {row}"
        );
        let estimate = row["estimate"]["mountings"].as_u64().unwrap();
        assert_eq!(estimate > 0, estimated == 1, "{period} {shop}: {row}");
    }
}
