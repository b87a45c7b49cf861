//! Machine health through the real `fleetsim serve`: the same readings give the same answer
//! embedded and over HTTP (through `HttpEngine`, what `run --target` drives), before and after
//! a restart of the server; a tenant sees only its own machines; a bad `since` is a 400
//! problem+json saying what to send.

use fleetsim::event::{EventBody, Health, MachineId, ShopId, UsageEvent};
use fleetsim::http::client::{HttpEngine, HttpOptions};
use fleetsim::metering::sqlite::SqliteEngine;
use fleetsim::metering::{MachineHealth, MeteringEngine};
use fleetsim::service::Cause;
use std::time::Duration;

#[path = "common/http_call.rs"]
mod http_call;
#[path = "common/server.rs"]
mod server;

const TOKEN: &str = "health-admin-token";
/// 2024-03-01T19:30:00Z, an end-of-day read.
const MAR_1: i64 = 1_709_321_400;
const DAY: i64 = 86_400;

fn reading(machine: u32, seq: u64, day: i64, health: Option<Health>) -> UsageEvent {
    UsageEvent {
        machine: MachineId(machine),
        seq,
        time: MAR_1 + day * DAY,
        shop: ShopId(machine / 2),
        body: EventBody::Counter {
            total_cycles: 20 * seq,
            mountings: 20 * seq,
            trace_only: 0,
            removal: false,
            health,
        },
    }
}

fn worn(permille: u16, warning: Option<Cause>) -> Option<Health> {
    Some(Health {
        wheel_wear_permille: permille,
        warning,
    })
}

/// Four machines in two shops, and the cases the rules are about: machine 0's latest reading
/// reports no health (its day-2 report stays); machine 1 reports a warning and then, late,
/// an older reading (which does not replace it); machine 2 never reports health; machine 3
/// reports only on day 0.
fn machines() -> Vec<(MachineId, ShopId)> {
    (0..4).map(|m| (MachineId(m), ShopId(m / 2))).collect()
}

fn batches() -> Vec<Vec<UsageEvent>> {
    vec![
        vec![
            reading(0, 1, 0, worn(100, None)),
            reading(1, 1, 0, worn(400, None)),
            reading(2, 1, 0, None),
            reading(3, 1, 0, worn(900, Some(Cause::ToolsWear))),
        ],
        vec![
            reading(0, 2, 2, worn(120, Some(Cause::WaterPump))),
            reading(1, 4, 4, worn(460, Some(Cause::SpindleMotor))),
            reading(2, 2, 2, None),
        ],
        vec![reading(0, 3, 5, None), reading(1, 3, 3, worn(450, None))],
    ]
}

fn feed(engine: &mut dyn MeteringEngine) {
    engine.provision(&machines()).unwrap();
    for batch in batches() {
        engine.ingest(&batch).unwrap();
        engine.commit().unwrap();
    }
}

/// The `since`s that tell the cases apart: everything, machine 3's day 0 excluded at its
/// next second, day 4 exactly, after everything.
fn sinces() -> [i64; 5] {
    [
        i64::MIN,
        MAR_1,
        MAR_1 + 1,
        MAR_1 + 4 * DAY,
        MAR_1 + 4 * DAY + 1,
    ]
}

fn answers(engine: &mut dyn MeteringEngine) -> Vec<Vec<MachineHealth>> {
    sinces()
        .iter()
        .map(|&since| engine.machine_health(since).unwrap())
        .collect()
}

fn client(url: &str) -> HttpEngine {
    let mut options = HttpOptions::new(url);
    options.admin_token = Some(TOKEN.to_string());
    HttpEngine::new(options)
}

#[test]
fn embedded_and_http_give_the_same_health_before_and_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut embedded = SqliteEngine::open(&tmp.path().join("embedded.sqlite")).unwrap();
    feed(&mut embedded);
    let expected = answers(&mut embedded);
    let wear = |reports: &[MachineHealth]| -> Vec<(u32, u64, u16)> {
        reports
            .iter()
            .map(|h| (h.machine.0, h.seq, h.health.wheel_wear_permille))
            .collect()
    };
    assert_eq!(
        wear(&expected[0]),
        [(0, 2, 120), (1, 4, 460), (3, 1, 900)],
        "the latest report of each machine that has one"
    );
    assert_eq!(expected[0][1].health.warning, Some(Cause::SpindleMotor));
    assert_eq!(wear(&expected[2]), [(0, 2, 120), (1, 4, 460)]);
    assert_eq!(wear(&expected[3]), [(1, 4, 460)]);
    assert!(expected[4].is_empty());

    let db = tmp.path().join("served.sqlite");
    let mut served = server::Server::start_at(&db, TOKEN, &[], server::FIXTURES_NOW);
    let mut remote = client(&served.url);
    feed(&mut remote);
    assert_eq!(answers(&mut remote), expected, "over HTTP");
    served.kill();
    let served = server::Server::start(&db, TOKEN, &[]);
    assert_eq!(
        answers(&mut client(&served.url)),
        expected,
        "after the server's restart"
    );
}

#[test]
fn a_tenant_sees_only_its_machines_health() {
    let tmp = tempfile::tempdir().unwrap();
    let served = server::Server::start_at(
        &tmp.path().join("tenants.sqlite"),
        TOKEN,
        &[],
        server::FIXTURES_NOW,
    );
    feed(&mut client(&served.url));
    // Machines are bound to a tenant named after their shop (the default).
    let (status, minted) = http_call::call_json(
        "POST",
        &format!("{}/v1/admin/tenants/S000001/keys", served.url),
        Some(("application/json", b"{}".to_vec())),
        TOKEN,
    );
    assert_eq!(status, 201, "{minted}");
    let key = minted["key"].as_str().unwrap();
    let url = format!("{}/v1/machines/health?since=0", served.url);
    let (status, mine) = http_call::call_json("GET", &url, None, key);
    assert_eq!(status, 200, "{mine}");
    let listed: Vec<&str> = mine["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["machine"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["M000003"], "shop S000001's machines are 2 and 3");
    assert_eq!(mine["machines"][0]["warning"], "tools_wear");
    assert_eq!(mine["machines"][0]["wheel_wear_permille"], 900);
    let (status, all) = http_call::call_json("GET", &url, None, TOKEN);
    assert_eq!(status, 200);
    assert_eq!(all["machines"].as_array().unwrap().len(), 3, "{all}");
    assert_eq!(http_call::call("GET", &url, None, "not-a-key").0, 401);
}

#[test]
fn a_bad_since_is_a_400_problem_saying_what_to_send() {
    let tmp = tempfile::tempdir().unwrap();
    let served = server::Server::start(&tmp.path().join("since.sqlite"), TOKEN, &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    for (query, says) in [
        (
            "?since=yesterday",
            r#"since "yesterday" is not unix seconds"#,
        ),
        ("?since=1.5", r#"since "1.5" is not unix seconds"#),
        ("?since=99999999999999999999", "is not unix seconds"),
        ("", "since=UNIX (required)"),
        ("?from=0", "since=UNIX (required)"),
    ] {
        let mut response = agent
            .get(format!("{}/v1/machines/health{query}", served.url))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{query}");
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/problem+json",
            "{query}"
        );
        let problem: serde_json::Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{query}: {detail}");
        assert!(detail.contains("such as 1704067200"), "{query}: {detail}");
    }
}

/// A reading whose health is malformed is refused whole with the event's index and the
/// field's path; the same reading without health, as every sender wrote before, is taken.
#[test]
fn a_malformed_health_is_refused_naming_the_event_and_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let served = server::Server::start_at(
        &tmp.path().join("wire.sqlite"),
        TOKEN,
        &[],
        server::FIXTURES_NOW,
    );
    let mut remote = client(&served.url);
    remote.provision(&machines()).unwrap();
    let good = fleetsim::event::wire::encode::batch_json(&[
        reading(0, 1, 0, None),
        reading(1, 1, 0, worn(1000, Some(Cause::Clamping))),
    ]);
    let text = String::from_utf8(good).unwrap();
    let bad = text.replace(
        r#""wheel_wear_permille":1000"#,
        r#""wheel_wear_permille":1500"#,
    );
    assert_ne!(bad, text, "the batch carries machine 1's health");
    let events = format!("{}/v1/events", served.url);
    let batch = "application/cloudevents-batch+json";
    let (status, problem) =
        http_call::call_json("POST", &events, Some((batch, bad.into_bytes())), TOKEN);
    assert_eq!(status, 400, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("health.wheel_wear_permille must be a whole number from 0 to 1000"),
        "{detail}"
    );
    assert_eq!(problem["index"], 1, "{problem}");
    let (status, receipt) =
        http_call::call_json("POST", &events, Some((batch, text.into_bytes())), TOKEN);
    assert_eq!(
        (status, receipt["accepted"].as_u64()),
        (200, Some(2)),
        "{receipt}"
    );
}
