//! One HTTP call for the server tests: any method, an optional typed body, a bearer token;
//! every status is an answer (never an error), and every call is bounded in time.

use std::time::Duration;

/// The status and the body as text.
pub fn call(method: &str, url: &str, body: Option<(&str, Vec<u8>)>, bearer: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let auth = format!("Bearer {bearer}");
    let result = match (method, body) {
        ("GET", _) => agent.get(url).header("Authorization", &auth).call(),
        ("DELETE", _) => agent.delete(url).header("Authorization", &auth).call(),
        (m, body) => {
            let (kind, bytes) = body.unwrap_or(("application/json", Vec::new()));
            let request = if m == "PUT" {
                agent.put(url)
            } else {
                agent.post(url)
            };
            request
                .header("Authorization", &auth)
                .header("Content-Type", kind)
                .send(&bytes[..])
        }
    };
    let mut response = result.expect("request sent");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// The status and the body as JSON (`Null` if it is not JSON).
#[allow(dead_code)] // not every test file reads JSON answers
pub fn call_json(
    method: &str,
    url: &str,
    body: Option<(&str, Vec<u8>)>,
    bearer: &str,
) -> (u16, serde_json::Value) {
    let (status, text) = call(method, url, body, bearer);
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// POSTs typed events as one CloudEvents batch to `{base}/v1/events`: the status and the
/// receipt (or problem) as JSON.
#[allow(dead_code)] // not every test file sends events this way
pub fn post_events(
    base: &str,
    events: &[fleetsim::event::UsageEvent],
    bearer: &str,
) -> (u16, serde_json::Value) {
    let batch: Vec<_> = events
        .iter()
        .map(fleetsim::event::wire::to_cloudevent)
        .collect();
    call_json(
        "POST",
        &format!("{base}/v1/events"),
        Some((
            "application/cloudevents-batch+json",
            serde_json::to_vec(&batch).expect("events serialise"),
        )),
        bearer,
    )
}
