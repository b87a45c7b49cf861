//! Plan contracts through the real `fleetsim serve` (issue #4): the shipped catalogue
//! uploaded as TOML, one shop on the 100-mounting subscription with maintenance and a loaner,
//! a month of events closed line by line, a late event re-rated at January's prices on the
//! February invoice, an incident that breaches the SLA, notes, a restart; a price contract
//! beside it, unchanged; and bad input. Every expected number is worked out in the comments.

use fleetsim::event::{EventBody, Frame, MachineId, Material, ShopId, UsageEvent};
use serde_json::{json, Value};

#[path = "common/http_call.rs"]
mod http_call;
#[path = "common/server.rs"]
mod server;
use http_call::call;

const TOKEN: &str = "plans-admin-token";
/// 2024-01-01T00:00:00Z.
const JAN_1: i64 = 1_704_067_200;
const DAY: i64 = 86_400;
const CATALOGUE: &str = include_str!("../scenarios/catalogue/default.toml");

struct Api {
    server: server::Server,
}

impl Api {
    fn start(db: &std::path::Path) -> Api {
        Api {
            server: server::Server::start_at(db, TOKEN, &[], server::FIXTURES_NOW),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    /// A JSON request: status and answer (Null when empty).
    fn json(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let (status, text) = call(
            method,
            &self.url(path),
            Some(("application/json", body.to_string().into_bytes())),
            TOKEN,
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, answer) = self.json(method, path, body);
        assert!(
            status == 200 || status == 204,
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    fn put_catalogue(&self, text: &str) -> (u16, Value) {
        let (status, text) = call(
            "PUT",
            &self.url("/v1/admin/catalogue"),
            Some(("application/toml", text.as_bytes().to_vec())),
            TOKEN,
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn send(&self, events: &[UsageEvent]) {
        let (status, receipt) = http_call::post_events(&self.server.url, events, TOKEN);
        assert_eq!(status, 200, "{receipt}");
    }

    fn invoices(&self, period: &str) -> Value {
        let (status, text) = call(
            "GET",
            &self.url(&format!("/v1/invoices/{period}")),
            None,
            TOKEN,
        );
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }
}

fn event(machine: u32, seq: u64, time: i64, body: EventBody) -> UsageEvent {
    UsageEvent {
        machine: MachineId(machine),
        seq,
        time,
        shop: ShopId(machine),
        body,
    }
}

fn mountings(machine: u32, first_seq: u64, n: u64, day0: i64) -> Vec<UsageEvent> {
    (0..n)
        .map(|i| {
            let time = day0 + (i as i64 % 20) * DAY + 9 * 3600 + i as i64;
            let body = EventBody::Mounting {
                frame: Frame::FullRim,
                material: Material::Index150,
                remake: false,
            };
            event(machine, first_seq + i, time, body)
        })
        .collect()
}

/// (kind, usage period, quantity, unit price, amount) of each line.
fn lines(invoice: &Value) -> Vec<(String, String, i64, String, i64)> {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_string(),
                l["usage_period"].as_str().unwrap().to_string(),
                l["quantity"].as_i64().unwrap(),
                l["unit_price"].as_str().unwrap().to_string(),
                l["amount_cents"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn l(
    kind: &str,
    period: &str,
    q: i64,
    price: &str,
    cents: i64,
) -> (String, String, i64, String, i64) {
    (kind.into(), period.into(), q, price.into(), cents)
}

fn of_shop<'a>(answer: &'a Value, shop: &str) -> &'a Value {
    answer["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["shop"] == shop)
        .unwrap_or_else(|| panic!("no invoice for {shop} in {answer}"))
}

fn notes(invoice: &Value) -> Vec<String> {
    invoice["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_plan_contract_is_invoiced_as_computed_by_hand_and_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("plans.sqlite");
    let mut api = Api::start(&db);
    let (status, _) = api.put_catalogue(CATALOGUE);
    assert_eq!(status, 204);
    let (status, text) = call("GET", &api.url("/v1/admin/catalogue"), None, TOKEN);
    assert_eq!((status, text.as_str()), (200, CATALOGUE));
    let machines: Vec<_> = (0..2)
        .map(|m| json!({"machine": MachineId(m).to_string(), "shop": ShopId(m).to_string()}))
        .collect();
    api.ok(
        "POST",
        "/v1/admin/machines",
        json!({ "machines": machines }),
    );
    // Shop 0 on a plan; shop 1 keeps a price contract, billed exactly as before.
    let contracts = json!({"contracts": [
        {"shop": "S000000", "basis": "events", "plan": {
            "plan": "subscription_100", "service": "maintenance", "options": ["loaner"],
            "start": "2024-01-01"}},
        {"shop": "S000001", "basis": "events", "price_per_mounting": "3.85", "currency": "EUR"},
    ]});
    assert_eq!(
        api.ok("PUT", "/v1/admin/contracts", contracts)["contracts"],
        2
    );

    // January: 130 mountings and 3 frames traced for shop 0, 2 mountings for shop 1; one
    // incident for shop 0 repaired in 120 h, past maintenance's 96 h promise.
    let mut jan = mountings(0, 1, 130, JAN_1);
    jan.extend((0..3).map(|i| {
        event(
            0,
            200 + i,
            JAN_1 + 5 * DAY + i as i64,
            EventBody::TraceOnly {
                frame: Frame::FullRim,
            },
        )
    }));
    jan.extend(mountings(1, 1, 2, JAN_1));
    api.send(&jan);
    let incidents = json!({"incidents": [{"shop": "S000000", "period": "2024-01",
        "response_hours": "30", "repair_hours": "120", "labour_minutes": 90, "visits": 1,
        "parts_cost": "120.00"}]});
    assert_eq!(
        api.ok("POST", "/v1/admin/incidents", incidents)["incidents"],
        1
    );

    let closed = api.ok("POST", "/v1/admin/periods/2024-01/close", json!({}));
    let inv = of_shop(&closed, "S000000");
    // subscription_100 (349.00 a month, 100 included, then 3.20), maintenance (100.00 a month,
    // parts at cost + 15 %), the loaner option (25.00 a month), all for 31 of 31 days:
    //   included 100 at 0; overage 30 × 3.20 = 96.00; trace-only 3 at 0;
    //   subscription 349.00; maintenance 100.00; parts 120.00 × 1.15 = 138.00; loaner 25.00;
    //   SLA: 1 breach × 10 % of the service charges (100.00; parts never credited) = −10.00;
    //   net 96 + 349 + 100 + 138 + 25 − 10 = 698.00; VAT 20 % = 139.60; total 837.60.
    assert_eq!(
        lines(inv),
        vec![
            l("included", "2024-01", 100, "0.00", 0),
            l("overage", "2024-01", 30, "3.20", 9_600),
            l("trace_only", "2024-01", 3, "0.00", 0),
            l("subscription", "2024-01", 31, "349.00", 34_900),
            l("service_fee", "2024-01", 31, "100.00", 10_000),
            l("parts", "2024-01", 1, "138.00", 13_800),
            l("option_fee", "2024-01", 31, "25.00", 2_500),
            l("sla_credit", "2024-01", -1, "10.00", -1_000),
            l("vat", "2024-01", 1, "139.60", 13_960),
        ]
    );
    assert_eq!(inv["total_cents"], 83_760);
    let jan_notes = notes(inv);
    for expected in [
        "SLA: 1 of 1 incidents missed the promise (48 h response, 96 h repair)",
        "included: consumables, software updates, remote support",
        "options billed: loaner machine",
        "not included: nothing",
        "VAT 20 % on the net total 698.00",
    ] {
        assert!(
            jan_notes.iter().any(|n| n.starts_with(expected)),
            "{expected:?} not in {jan_notes:?}"
        );
    }
    // The price contract: 2 × 3.85 = 7.70, no notes, as ever.
    let legacy = of_shop(&closed, "S000001");
    assert_eq!(legacy["total_cents"], 770);
    assert_eq!(legacy["notes"], json!([]));

    // February: 50 mountings, and one of January's arrives late (Jan 25). Incidents for
    // January can no longer change its invoice.
    let mut feb = mountings(0, 1_000, 50, JAN_1 + 31 * DAY);
    feb.push(event(
        0,
        2_000,
        JAN_1 + 24 * DAY,
        EventBody::Mounting {
            frame: Frame::FullRim,
            material: Material::Index150,
            remake: false,
        },
    ));
    api.send(&feb);
    let (status, problem) = api.json(
        "POST",
        "/v1/admin/incidents",
        json!({"incidents": [
        {"shop": "S000000", "period": "2024-01", "response_hours": "1", "repair_hours": "1",
         "labour_minutes": 0, "visits": 0, "parts_cost": "0"}]}),
    );
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("2024-01 is already closed"),
        "{problem}"
    );

    let closed = api.ok("POST", "/v1/admin/periods/2024-02/close", json!({}));
    let inv = of_shop(&closed, "S000000");
    // 50 mountings inside the allowance (overage 0); January re-rated at its own prices from
    // 130 billed to 131: one more over the allowance at 3.20 (late_usage for 2024-01);
    // subscription 349.00, maintenance 100.00, loaner 25.00 for 29 of 29 days; no incident.
    // Net 3.20 + 349.00 + 100.00 + 25.00 = 477.20; VAT 95.44; total 572.64.
    assert_eq!(
        lines(inv),
        vec![
            l("included", "2024-02", 50, "0.00", 0),
            l("overage", "2024-02", 0, "3.20", 0),
            l("trace_only", "2024-02", 0, "0.00", 0),
            l("late_usage", "2024-01", 1, "3.20", 320),
            l("subscription", "2024-02", 29, "349.00", 34_900),
            l("service_fee", "2024-02", 29, "100.00", 10_000),
            l("option_fee", "2024-02", 29, "25.00", 2_500),
            l("vat", "2024-02", 1, "95.44", 9_544),
        ]
    );
    assert_eq!(inv["total_cents"], 57_264);
    assert!(
        notes(inv).iter().any(|n| n
            == "2024-01: +1 mountings (late usage) re-rated at 2024-01's prices from 130 billed"),
        "{:?}",
        notes(inv)
    );

    // A restart: the same invoices and notes; closing again issues nothing.
    let before = (api.invoices("2024-01"), api.invoices("2024-02"));
    api.server.kill();
    let api = Api::start(&db);
    assert_eq!((api.invoices("2024-01"), api.invoices("2024-02")), before);
    let again = api.ok("POST", "/v1/admin/periods/2024-02/close", json!({}));
    assert_eq!(again["invoices"], json!([]));
    let (status, text) = call("GET", &api.url("/v1/admin/catalogue"), None, TOKEN);
    assert_eq!((status, text.as_str()), (200, CATALOGUE));
}

#[test]
fn bad_catalogues_and_plan_contracts_are_refused_with_where_and_why() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Api::start(&tmp.path().join("bad.sqlite"));
    let plan = |id: &str| json!({"plan": id, "start": "2024-01-01"});
    let body = json!({"contracts": [{"shop": "S000000", "basis": "events", "plan": plan("per_mounting")}]});

    // No catalogue yet.
    let (status, problem) = api.json("PUT", "/v1/admin/contracts", body.clone());
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("need a catalogue"),
        "{problem}"
    );
    let (status, _) = call("GET", &api.url("/v1/admin/catalogue"), None, TOKEN);
    assert_eq!(status, 404);

    // A price as a TOML float, on line 3 at column 15.
    let (status, problem) =
        api.put_catalogue("[catalogue]\ncurrency = \"EUR\"\nvat_percent = 20.5\n");
    assert_eq!(status, 400, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("catalogue:3:15"), "{detail}");
    assert!(detail.contains("quoted"), "{detail}");

    // An unknown plan at index 1: 400 naming the shop and the id, nothing stored.
    assert_eq!(api.put_catalogue(CATALOGUE).0, 204);
    let body = json!({"contracts": [
        {"shop": "S000000", "basis": "events", "plan": plan("per_mounting")},
        {"shop": "S000001", "basis": "counters", "plan": plan("gold")},
    ]});
    let (status, problem) = api.json("PUT", "/v1/admin/contracts", body);
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["index"], 1, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("S000001") && detail.contains("no plan `gold`"),
        "{detail}"
    );

    // Unknown service and option; a price beside a plan.
    for (terms, expected) in [
        (
            json!({"plan": "volume", "service": "platinum", "start": "2024-01-01"}),
            "no service tier `platinum`",
        ),
        (
            json!({"plan": "volume", "options": ["espresso"], "start": "2024-01-01"}),
            "no option `espresso`",
        ),
    ] {
        let body = json!({"contracts": [{"shop": "S000002", "basis": "events", "plan": terms}]});
        let (status, problem) = api.json("PUT", "/v1/admin/contracts", body);
        assert_eq!(
            (status, problem["index"].clone()),
            (400, json!(0)),
            "{problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{problem}"
        );
    }
    let body = json!({"contracts": [{"shop": "S000002", "basis": "events",
        "price_per_mounting": "3.85", "plan": plan("per_mounting")}]});
    assert_eq!(api.json("PUT", "/v1/admin/contracts", body).0, 400);

    // A catalogue that would break a stored plan contract is refused: 409.
    let body =
        json!({"contracts": [{"shop": "S000000", "basis": "events", "plan": plan("volume")}]});
    api.ok("PUT", "/v1/admin/contracts", body);
    let (status, problem) =
        api.put_catalogue(&CATALOGUE.replace("id = \"volume\"", "id = \"volume_2\""));
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("S000000"),
        "{problem}"
    );

    // Bad incident fields: 400 with the index; writes need the admin token.
    let (status, problem) = api.json(
        "POST",
        "/v1/admin/incidents",
        json!({"incidents": [
        {"shop": "S000000", "period": "2024-01", "response_hours": "30", "repair_hours": "50",
         "labour_minutes": 90, "visits": 1, "parts_cost": "120.00"},
        {"shop": "S000000", "period": "2024-01", "response_hours": "-3", "repair_hours": "50",
         "labour_minutes": 90, "visits": 1, "parts_cost": "120.00"}]}),
    );
    assert_eq!(
        (status, problem["index"].clone()),
        (400, json!(1)),
        "{problem}"
    );
    let (status, _) = call(
        "PUT",
        &api.url("/v1/admin/catalogue"),
        Some(("application/toml", CATALOGUE.as_bytes().to_vec())),
        "not-the-token",
    );
    assert_eq!(status, 401);
}

/// `HttpEngine` (what `run --target` drives) speaks the plan routes: catalogue, plan contracts,
/// incidents and notes, through the same `MeteringEngine` calls as the embedded engine.
#[test]
fn the_http_client_drives_plan_contracts_through_the_engine_interface() {
    use fleetsim::calendar::Period;
    use fleetsim::http::client::{HttpEngine, HttpOptions};
    use fleetsim::metering::{
        Basis, ErrorClass, Incident, MeteringEngine, MeteringError, PlanAgreement, PlanTerms,
    };
    use rust_decimal::Decimal;

    let tmp = tempfile::tempdir().unwrap();
    let api = Api::start(&tmp.path().join("client.sqlite"));
    let mut options = HttpOptions::new(&api.server.url);
    options.admin_token = Some(TOKEN.to_string());
    let mut engine = HttpEngine::new(options);
    assert_eq!(engine.catalogue().unwrap(), None);
    let refused = engine.set_catalogue("[catalogue]\nvat_percent = 20\n");
    assert!(
        matches!(refused, Err(MeteringError::Refused { status: 400, .. })),
        "a catalogue that does not validate is the caller's to fix: {refused:?}"
    );
    engine.set_catalogue(CATALOGUE).unwrap();
    assert_eq!(engine.catalogue().unwrap().as_deref(), Some(CATALOGUE));
    engine.provision(&[(MachineId(0), ShopId(0))]).unwrap();
    let terms = PlanTerms {
        plan: "package_50".into(),
        segment: None,
        price_override: None,
        service: Some("time_and_materials".into()),
        options: Vec::new(),
        start: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        term_months: Some(12),
        terminated_on: None,
    };
    engine
        .set_plan_contracts(&[PlanAgreement {
            shop: ShopId(0),
            basis: Basis::Events,
            terms,
        }])
        .unwrap();
    let jan = Period {
        year: 2024,
        month: 1,
    };
    engine
        .record_incidents(
            ShopId(0),
            jan,
            &[Incident {
                response_hours: Decimal::from(10),
                repair_hours: Decimal::from(20),
                labour_minutes: 50,
                visits: 1,
                parts_cost: Decimal::ZERO,
            }],
        )
        .unwrap();
    engine.ingest(&mountings(0, 1, 51, JAN_1)).unwrap();
    engine.commit().unwrap();
    let issued = engine.close_period(jan).unwrap();
    // 51 mountings: 2 packages of 50 at 180.00 = 360.00; labour 50 min = 4 started quarter
    // hours at 85.00 / 4 = 21.25 → 85.00; travel 1 × 95.00; no breach (72 h / 168 h promised).
    // Net 540.00, VAT 108.00, total 648.00.
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].total_cents, 64_800);
    assert_eq!(engine.invoices(jan).unwrap(), issued);
    let notes = engine.invoice_notes(jan).unwrap();
    assert!(
        notes[&ShopId(0)]
            .iter()
            .any(|n| n == "VAT 20 % on the net total 540.00"),
        "{notes:?}"
    );
    let late = engine.record_incidents(ShopId(0), jan, &[Incident::default()]);
    let late = late.unwrap_err();
    assert!(
        matches!(late, MeteringError::Refused { status: 409, .. }),
        "closed: {late:?}"
    );
    assert_eq!(late.class(), ErrorClass::Conflict, "{late}");
}
