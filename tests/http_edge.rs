//! What the HTTP edge of `fleetsim serve` accepts (issue 10): CloudEvents in binary content
//! mode as the SDKs send them, sequence numbers only up to what the store keeps exactly, and
//! time within bounds of the server's clock, which an administrator may pin.

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
            fleetsim::metering::Period::of_unix(an_hour_ago)
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
