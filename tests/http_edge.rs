//! What the HTTP edge of `fleetsim serve` accepts (issue 10): CloudEvents in binary content
//! mode as the SDKs send them, sequence numbers only up to what the store keeps exactly, and
//! time within bounds of the server's clock, which an administrator may pin.

use chrono::Datelike;
use fleetsim::event::wire::to_cloudevent;
use fleetsim::event::{EventBody, Frame, MachineId, Material, ShopId, UsageEvent};
use serde_json::{json, Value};
use std::time::Duration;

#[path = "common/http_call.rs"]
mod http_call;
#[path = "common/server.rs"]
mod server;

const TOKEN: &str = "edge-admin-token";

fn start(db: &std::path::Path, extra: &[&str]) -> server::Server {
    let server = server::Server::start(db, TOKEN, extra);
    let bindings = json!({"machines": [{"machine": "M000001", "shop": "S000001"}]});
    let (status, answer) = http_call::call(
        "POST",
        &format!("{}/v1/admin/machines", server.url),
        Some(("application/json", bindings.to_string().into_bytes())),
        TOKEN,
    );
    assert_eq!(status, 204, "{answer}");
    server
}

fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn mounting(seq: u64, time: i64) -> UsageEvent {
    UsageEvent {
        machine: MachineId(1),
        seq,
        time,
        shop: ShopId(1),
        body: EventBody::Mounting {
            frame: Frame::FullRim,
            material: Material::Index150,
            remake: false,
        },
    }
}

/// POST with any headers; the status and the answer as JSON (`Null` if it is not).
fn post_with(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = agent
        .post(format!("{url}/v1/events"))
        .header("Authorization", format!("Bearer {TOKEN}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).expect("request sent");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The headers a CloudEvents SDK writes in binary mode for `e` (ids, source, type, time with
/// milliseconds as the JavaScript SDK writes it, subject), and the data as the body.
fn binary_request(e: &UsageEvent) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let c = to_cloudevent(e);
    let time = chrono::DateTime::from_timestamp(e.time, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let headers = vec![
        ("ce-specversion", c.specversion),
        ("ce-id", c.id),
        ("ce-source", c.source),
        ("ce-type", c.kind),
        ("ce-time", time),
        ("ce-subject", c.subject),
        (
            "Content-Type",
            "application/json; charset=utf-8".to_string(),
        ),
    ];
    (headers, serde_json::to_vec(&c.data).unwrap())
}

fn send_binary(url: &str, headers: &[(&'static str, String)], body: &[u8]) -> (u16, Value) {
    let borrowed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    post_with(url, &borrowed, body)
}

fn replaced(
    headers: &[(&'static str, String)],
    name: &'static str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut out: Vec<_> = headers
        .iter()
        .filter(|(n, _)| *n != name)
        .cloned()
        .collect();
    if let Some(v) = value {
        out.push((name, v.to_string()));
    }
    out
}

#[test]
fn binary_mode_events_are_accepted_like_structured_ones_and_refused_alike() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("m.sqlite"), &[]);
    let an_hour_ago = wall_clock() - 3600;
    let (headers, body) = binary_request(&mounting(1, an_hour_ago));
    let (status, receipt) = send_binary(&server.url, &headers, &body);
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(
        receipt,
        json!({"accepted": 1, "duplicates": 0, "rejected": {"unknown_machine": 0, "wrong_shop": 0}})
    );
    // The same event in structured mode is the same event: a duplicate.
    let (status, receipt) = http_call::post_events(&server.url, &[mounting(1, an_hour_ago)], TOKEN);
    assert_eq!(
        (status, receipt["duplicates"].as_u64()),
        (200, Some(1)),
        "{receipt}"
    );
    // Percent-encoded values are decoded (%2F is '/', %3A ':').
    let (headers, body) = binary_request(&mounting(2, an_hour_ago));
    let encoded = replaced(
        &headers,
        "ce-source",
        Some("%2Ffleetsim%2Fmachines%2FM000001"),
    );
    let (status, receipt) = send_binary(&server.url, &encoded, &body);
    assert_eq!(
        (status, receipt["accepted"].as_u64()),
        (200, Some(1)),
        "{receipt}"
    );

    // Refusals read like a structured event's: 400 at index 0, saying what to fix.
    let (headers, body) = binary_request(&mounting(3, an_hour_ago));
    let cases = [
        (replaced(&headers, "ce-id", None), "header ce-id is missing"),
        (
            replaced(&headers, "ce-time", Some("yesterday")),
            "event 0: time \"yesterday\" is not RFC 3339",
        ),
        (
            replaced(&headers, "ce-subject", Some("S%G1")),
            "header ce-subject: '%' must start a percent-encoded byte",
        ),
        (
            replaced(&headers, "ce-id", Some("M000001-9223372036854775808")),
            "9223372036854775807",
        ),
    ];
    for (bad, says) in cases {
        let (status, problem) = send_binary(&server.url, &bad, &body);
        assert_eq!(
            (status, problem["index"].as_u64()),
            (400, Some(0)),
            "{problem}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{detail}");
    }
    let (status, problem) = send_binary(&server.url, &headers, b"{\"frame\": 1}");
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .starts_with("event 0: data does not fit"));
    let text = replaced(&headers, "Content-Type", Some("text/plain"));
    let (status, problem) = send_binary(&server.url, &text, &body);
    assert_eq!(status, 415, "{problem}");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("application/json"));

    let (_, usage) = http_call::call_json(
        "GET",
        &format!(
            "{}/v1/usage?period={}",
            server.url,
            fleetsim::calendar::Period::of_unix(an_hour_ago)
        ),
        None,
        TOKEN,
    );
    assert_eq!(usage["shops"][0]["billable_mountings"], 2, "{usage}");
}

#[test]
fn sequence_numbers_beyond_i64_max_are_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("m.sqlite"), &[]);
    let time = wall_clock() - 3600;
    let top = i64::MAX as u64;
    let (status, receipt) = http_call::post_events(&server.url, &[mounting(top, time)], TOKEN);
    assert_eq!(
        (status, receipt["accepted"].as_u64()),
        (200, Some(1)),
        "{receipt}"
    );
    // Before, this was stored clamped to i64::MAX: a duplicate of the event above.
    let (status, problem) = http_call::post_events(
        &server.url,
        &[mounting(1, time), mounting(top + 1, time)],
        TOKEN,
    );
    assert_eq!(
        (status, problem["index"].as_u64()),
        (400, Some(1)),
        "{problem}"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("M000001-9223372036854775808") && detail.contains("9223372036854775807"),
        "{detail}"
    );
    let (status, _) = http_call::post_events(&server.url, &[mounting(u64::MAX, time)], TOKEN);
    assert_eq!(status, 400);
}

fn admin(server: &server::Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    http_call::call_json(
        method,
        &format!("{}{path}", server.url),
        body.map(|b| ("application/json", b.to_string().into_bytes())),
        TOKEN,
    )
}

/// Midday on the last day of the month before the current one (UTC): in the past, within
/// --max-past-days, in a period that is over.
fn last_month_midday() -> i64 {
    let now = chrono::DateTime::from_timestamp(wall_clock(), 0).unwrap();
    let first = now.date_naive().with_day0(0).unwrap();
    (first - chrono::Days::new(1))
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp()
}

#[test]
fn events_outside_the_clocks_bounds_are_refused_until_the_clock_is_pinned_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.sqlite");
    let mut server = start(&db, &[]);
    // 0001-01-01 was accepted (200) before: now a 400 naming the bound and how to change it.
    let year_1 = -62_135_596_800;
    let (status, problem) = http_call::post_events(
        &server.url,
        &[mounting(1, wall_clock() - 60), mounting(2, year_1)],
        TOKEN,
    );
    assert_eq!(
        (status, problem["index"].as_u64()),
        (400, Some(1)),
        "{problem}"
    );
    let detail = problem["detail"].as_str().unwrap();
    for says in [
        "0001-01-01T00:00:00Z",
        "400 days back",
        "the wall clock",
        "--max-past-days",
        "PUT /v1/admin/clock",
    ] {
        assert!(detail.contains(says), "{says}: {detail}");
    }
    let (status, clock) = admin(&server, "GET", "/v1/admin/clock", None);
    assert_eq!(
        (status, clock["pinned"].as_bool()),
        (200, Some(false)),
        "{clock}"
    );
    let shown = chrono::DateTime::parse_from_rfc3339(clock["now"].as_str().unwrap()).unwrap();
    assert!((shown.timestamp() - wall_clock()).abs() < 60, "{clock}");
    let march_2024 = 1_710_504_000; // 2024-03-15T12:00:00Z
    assert_eq!(
        http_call::post_events(&server.url, &[mounting(3, march_2024)], TOKEN).0,
        400,
        "2024 is more than 400 days back"
    );

    // Pinned to March 2024, the server takes March 2024 and refuses today, even after a
    // restart; a tenant cannot move the clock; the wall clock comes back with DELETE.
    let pin = json!({"now": "2024-03-20T00:00:00Z"});
    assert_eq!(
        admin(&server, "PUT", "/v1/admin/clock", Some(pin.clone())).0,
        204
    );
    assert_eq!(
        http_call::post_events(&server.url, &[mounting(3, march_2024)], TOKEN).0,
        200
    );
    let (status, problem) =
        http_call::post_events(&server.url, &[mounting(4, wall_clock())], TOKEN);
    assert_eq!(status, 400, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("2024-03-20T00:00:00Z (pinned)") && detail.contains("--max-future-seconds"),
        "{detail}"
    );
    server.kill();
    let server = server::Server::start(&db, TOKEN, &[]);
    let (_, clock) = admin(&server, "GET", "/v1/admin/clock", None);
    assert_eq!(
        clock,
        json!({"now": "2024-03-20T00:00:00Z", "pinned": true}),
        "after a restart"
    );
    let (_, minted) = admin(&server, "POST", "/v1/admin/tenants/S000001/keys", None);
    let key = minted["key"].as_str().unwrap();
    let (status, _) = http_call::call(
        "PUT",
        &format!("{}/v1/admin/clock", server.url),
        Some(("application/json", pin.to_string().into_bytes())),
        key,
    );
    assert_eq!(status, 401, "a tenant key cannot move the clock");
    let (status, problem) = admin(
        &server,
        "PUT",
        "/v1/admin/clock",
        Some(json!({"now": "soon"})),
    );
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("RFC 3339"),
        "{problem}"
    );
    assert_eq!(admin(&server, "DELETE", "/v1/admin/clock", None).0, 204);
    assert_eq!(
        admin(&server, "GET", "/v1/admin/clock", None).1["pinned"],
        false
    );
    assert_eq!(
        http_call::post_events(&server.url, &[mounting(4, wall_clock() - 60)], TOKEN).0,
        200
    );
}

#[test]
fn closes_are_refused_before_their_period_ends_and_far_past_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("m.sqlite"), &[]);
    let contract = json!({"contracts": [{"shop": "S000001", "basis": "events",
        "price_per_mounting": "3.00", "currency": "EUR"}]});
    assert_eq!(
        admin(&server, "PUT", "/v1/admin/contracts", Some(contract)).0,
        200
    );
    let used = last_month_midday();
    let (status, _) = http_call::post_events(&server.url, &[mounting(1, used)], TOKEN);
    assert_eq!(status, 200);
    let last_month = fleetsim::calendar::Period::of_unix(used);
    let this_month = last_month.next();
    let close = |period: &str| {
        admin(
            &server,
            "POST",
            &format!("/v1/admin/periods/{period}/close"),
            None,
        )
    };

    // 9999-12 used to keep the store busy for minutes, then close every month to 9999 for
    // good (the call is bounded at 30 s): now a 409 at once, and nothing is closed.
    let (status, problem) = close("9999-12");
    assert_eq!(status, 409, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "months after {last_month}, the latest period holding data"
        )),
        "{detail}"
    );
    let (status, problem) = close(&this_month.to_string());
    assert_eq!(status, 409, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("is not over by the server's clock")
            && detail.contains("PUT /v1/admin/clock"),
        "{detail}"
    );

    // A normal close still works: last month's invoice, one mounting at 3.00.
    let (status, closed) = close(&last_month.to_string());
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["invoices"][0]["total_cents"], 300, "{closed}");

    // With the clock pinned far ahead, a close is still bounded by the data: at most 12
    // months past the latest period holding usage.
    let far = json!({"now": "2031-01-01T00:00:00Z"});
    assert_eq!(admin(&server, "PUT", "/v1/admin/clock", Some(far)).0, 204);
    let (status, problem) = close("2030-12");
    assert_eq!(status, 409, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "after {last_month}, the latest period holding data"
        )) && detail.contains("at most 12 months"),
        "{detail}"
    );
    let mut a_year_on = last_month;
    for _ in 0..12 {
        a_year_on = a_year_on.next();
    }
    let (status, closed) = close(&a_year_on.to_string());
    assert_eq!(status, 200, "12 months past the data: {closed}");
    assert_eq!(closed["invoices"].as_array().unwrap().len(), 12, "{closed}");
}

/// A scenario dated years ahead of today runs against a server started with no flags: `run
/// --target` pins the server's clock to the scenario's time as it goes (before, it needed
/// `--max-future-seconds 0`).
#[test]
fn a_future_dated_scenario_runs_against_a_default_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = server::Server::start(&dir.path().join("m.sqlite"), TOKEN, &[]);
    let scenario = dir.path().join("future.toml");
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"future\"\nseed = 5\n[calendar]\nstart = \"2031-01-01\"\nmonths = 2\n\
         [fleet]\nshops = 12\n[output]\nhtml = false\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args(["run", "--quiet", "--target", &server.url, "--out"])
        .arg(&out)
        .arg(&scenario)
        .env("FLEETSIM_ADMIN_TOKEN", TOKEN)
        .status()
        .unwrap();
    assert!(status.success(), "run --target exited with {status}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["reconciliation"]["ok"], true);
    // Left at the last close: February's, 3 days after it ended (pricing.close_after_days).
    let (_, clock) = admin(&server, "GET", "/v1/admin/clock", None);
    assert_eq!(
        clock,
        json!({"now": "2031-03-04T00:00:00Z", "pinned": true})
    );
}
