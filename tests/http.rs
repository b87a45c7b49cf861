//! The metering engine served over HTTP: the real `fleetsim serve` binary on a loopback port.
//! Every load loop here is bounded in count.

use fleetsim::event::wire::to_cloudevent;
use fleetsim::event::{EventBody, Frame, MachineId, Material, ShopId, UsageEvent};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "test-admin-token";
const BATCH: &str = "application/cloudevents-batch+json";

#[path = "common/http_call.rs"]
mod http_call;
#[path = "common/server.rs"]
mod server;

fn get_as(url: &str, bearer: &str) -> (u16, serde_json::Value) {
    http_call::call_json("GET", url, None, bearer)
}

fn delete_as(url: &str, bearer: &str) -> (u16, serde_json::Value) {
    http_call::call_json("DELETE", url, None, bearer)
}

/// A running `fleetsim serve` with this file's admin token.
struct Server;

impl Server {
    fn start(db: &Path, extra: &[&str]) -> server::Server {
        server::Server::start_at(db, TOKEN, extra, server::FIXTURES_NOW)
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn post(
    url: &str,
    content_type: &str,
    body: &[u8],
    bearer: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = agent().post(url).header("Content-Type", content_type);
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = request.send(body).expect("request sent");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// GET with the admin token.
fn get(url: &str) -> (u16, serde_json::Value) {
    get_as(url, TOKEN)
}

fn provision(server: &server::Server, machines: u32) {
    let bindings: Vec<_> = (0..machines).map(|m| serde_json::json!({"machine": MachineId(m).to_string(), "shop": ShopId(m).to_string()})).collect();
    let body = serde_json::to_vec(&serde_json::json!({ "machines": bindings })).unwrap();
    let (status, _) = post(
        &format!("{}/v1/admin/machines", server.url),
        "application/json",
        &body,
        Some(TOKEN),
    );
    assert_eq!(status, 204);
}

/// `count` mountings of machine `m` (shop `m`) from sequence `first`, in March 2024.
fn mountings(m: u32, first: u64, count: u64) -> Vec<UsageEvent> {
    (first..first + count)
        .map(|seq| UsageEvent {
            machine: MachineId(m),
            seq,
            time: 1_709_287_200 + seq as i64,
            shop: ShopId(m),
            body: EventBody::Mounting {
                frame: Frame::FullRim,
                material: Material::Index150,
                remake: false,
            },
        })
        .collect()
}

fn batch_json(events: &[UsageEvent]) -> Vec<u8> {
    serde_json::to_vec(&events.iter().map(to_cloudevent).collect::<Vec<_>>()).unwrap()
}

/// POST events with the admin token (which may write every tenant's machines).
fn send(server: &server::Server, events: &[UsageEvent]) -> (u16, serde_json::Value) {
    send_as(server, events, TOKEN)
}

fn send_as(
    server: &server::Server,
    events: &[UsageEvent],
    bearer: &str,
) -> (u16, serde_json::Value) {
    post(
        &format!("{}/v1/events", server.url),
        BATCH,
        &batch_json(events),
        Some(bearer),
    )
}

fn mint_key(server: &server::Server, tenant: &str) -> String {
    let (status, body) = post(
        &format!("{}/v1/admin/tenants/{tenant}/keys", server.url),
        "application/json",
        b"{}",
        Some(TOKEN),
    );
    assert_eq!(status, 201, "{body}");
    body["key"].as_str().expect("a key").to_string()
}

#[test]
fn batches_are_ingested_and_duplicates_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"), &[]);
    provision(&server, 3);
    let batch: Vec<_> = (0..3).flat_map(|m| mountings(m, 1, 40)).collect();
    let (status, receipt) = send(&server, &batch);
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["accepted"], 120);
    // A retry of the same batch, plus 10 new events: the retry is counted once.
    let mut retry = batch.clone();
    retry.extend(mountings(1, 41, 10));
    let (status, receipt) = send(&server, &retry);
    assert_eq!(status, 200);
    assert_eq!(
        (receipt["accepted"].as_u64(), receipt["duplicates"].as_u64()),
        (Some(10), Some(120))
    );
    let (status, usage) = get(&format!("{}/v1/usage?period=2024-03", server.url));
    assert_eq!(status, 200);
    let counts: Vec<_> = usage["shops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["billable_mountings"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![40, 50, 40]);
    let (_, one) = get(&format!(
        "{}/v1/usage?period=2024-03&shop=S000001",
        server.url
    ));
    assert_eq!(one["shops"].as_array().unwrap().len(), 1);
    let metrics = agent()
        .get(format!("{}/metrics", server.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("fleetsim_events_ingested_total 130"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fleetsim_events_duplicate_total 120"),
        "{metrics}"
    );
    // Group commits: two sequential requests, 120 + 130 events, whatever the grouping.
    assert!(
        metrics.contains("fleetsim_commit_requests_total 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fleetsim_commit_events_total 250\n"),
        "{metrics}"
    );
}

#[test]
fn a_single_structured_event_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"), &[]);
    provision(&server, 1);
    let body = serde_json::to_vec(&to_cloudevent(&mountings(0, 1, 1)[0])).unwrap();
    let (status, receipt) = post(
        &format!("{}/v1/events", server.url),
        "application/cloudevents+json",
        &body,
        Some(TOKEN),
    );
    assert_eq!((status, receipt["accepted"].as_u64()), (200, Some(1)));
}

#[test]
fn bad_requests_get_problem_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("m.sqlite"),
        &["--max-body-bytes", "20000", "--max-batch", "50"],
    );
    provision(&server, 1);
    let events_url = format!("{}/v1/events", server.url);

    // 400, naming the offending event of a batch.
    let mut batch: Vec<serde_json::Value> = mountings(0, 1, 3)
        .iter()
        .map(|e| serde_json::to_value(to_cloudevent(e)).unwrap())
        .collect();
    batch[2]["time"] = "yesterday".into();
    let (status, problem) = post(
        &events_url,
        BATCH,
        &serde_json::to_vec(&batch).unwrap(),
        Some(TOKEN),
    );
    assert_eq!(
        (status, problem["index"].as_u64()),
        (400, Some(2)),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("RFC 3339"),
        "{problem}"
    );
    // Nothing of a refused batch is stored.
    let (_, usage) = get(&format!("{}/v1/usage?period=2024-03", server.url));
    assert_eq!(usage["shops"].as_array().unwrap().len(), 0);

    // 400 for a body that is not JSON.
    assert_eq!(post(&events_url, BATCH, b"[{", Some(TOKEN)).0, 400);
    // 413 for a body over --max-body-bytes, and for a batch over --max-batch.
    assert_eq!(
        post(
            &events_url,
            BATCH,
            &batch_json(&mountings(0, 1, 200)),
            Some(TOKEN)
        )
        .0,
        413
    );
    let (status, problem) = post(
        &events_url,
        BATCH,
        &batch_json(&mountings(0, 1, 51)),
        Some(TOKEN),
    );
    assert_eq!(status, 413, "{problem}");
    // 415 for another media type.
    assert_eq!(post(&events_url, "text/csv", b"a,b", Some(TOKEN)).0, 415);
    // 401 without the admin token.
    let (status, _) = post(
        &format!("{}/v1/admin/machines", server.url),
        "application/json",
        b"{\"machines\":[]}",
        Some("wrong"),
    );
    assert_eq!(status, 401);
    // 400 for a bad usage query.
    assert_eq!(get(&format!("{}/v1/usage?period=March", server.url)).0, 400);
    // Problems are application/problem+json.
    let response = agent()
        .post(&events_url)
        .header("Content-Type", "text/csv")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send(&b"x"[..])
        .unwrap();
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
}

/// Kill -9 in the middle of ingestion, restart on the same store: every event whose batch was
/// acknowledged is still there (re-sending it is reported as all duplicates).
#[test]
fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.sqlite");
    let machines = 20;
    let batches: Vec<Vec<UsageEvent>> = (0..2_000u64)
        .map(|b| {
            (0..machines)
                .flat_map(|m| mountings(m, b * 5 + 1, 5))
                .collect()
        })
        .collect();
    let mut server = Server::start(&db, &[]);
    provision(&server, machines);

    // A sender thread posts batches one after another and counts acknowledgements; the main
    // thread kills the server once 20 have come back (bounded wait), mid-stream.
    let acked = Arc::new(AtomicUsize::new(0));
    let (url, to_send, counter) = (server.url.clone(), batches.clone(), acked.clone());
    let sender = std::thread::spawn(move || {
        for batch in &to_send {
            match agent()
                .post(format!("{url}/v1/events"))
                .header("Content-Type", BATCH)
                .header("Authorization", format!("Bearer {TOKEN}"))
                .send(&batch_json(batch)[..])
            {
                Ok(r) if r.status() == 200 => counter.fetch_add(1, Ordering::SeqCst),
                _ => break,
            };
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::SeqCst) < 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    server.kill();
    sender.join().unwrap();
    let acknowledged = acked.load(Ordering::SeqCst);
    assert!(
        acknowledged >= 20,
        "only {acknowledged} batches acknowledged in 60 s"
    );
    assert!(
        acknowledged < batches.len(),
        "ingestion finished before the kill: nothing was tested"
    );

    let restarted = Server::start(&db, &[]);
    for (i, batch) in batches[..acknowledged].iter().enumerate() {
        let (status, receipt) = send(&restarted, batch);
        assert_eq!(status, 200);
        assert_eq!(
            receipt["duplicates"].as_u64(),
            Some(batch.len() as u64),
            "acknowledged batch {i} lost events: {receipt}"
        );
    }
}

#[test]
fn a_run_against_the_server_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"), &[]);
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"http\"\nseed = 3\n[calendar]\nstart = \"2024-01-01\"\nmonths = 2\n\
         [fleet]\nshops = 30\n[faults]\nduplicate_share = 0.05\n[output]\nhtml = false\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args([
            "run",
            "--quiet",
            "--batch-size",
            "97",
            "--target",
            &server.url,
            "--out",
        ])
        .arg(&out)
        .arg(&scenario)
        .env("FLEETSIM_ADMIN_TOKEN", TOKEN)
        .status()
        .unwrap();
    assert!(status.success(), "run --target exited with {status}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["reconciliation"]["ok"], true);
    assert!(summary["metered"]["duplicates"].as_u64().unwrap() > 0);
    assert!(
        !out.join("metering.sqlite").exists(),
        "a run with --target uses no local store"
    );
}

#[test]
fn a_tenant_key_reaches_only_its_own_machines_and_shops() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"), &[]);
    provision(&server, 2); // M000000 → S000000, M000001 → S000001; each shop its own tenant
    let (shop_a, shop_b) = (mint_key(&server, "S000000"), mint_key(&server, "S000001"));

    let (status, receipt) = send_as(&server, &mountings(0, 1, 5), &shop_a);
    assert_eq!(
        (status, receipt["accepted"].as_u64()),
        (200, Some(5)),
        "{receipt}"
    );

    // Shop A's key with one of shop B's events in the batch: 403 naming it, nothing stored.
    let mut mixed = mountings(0, 6, 3);
    mixed.extend(mountings(1, 1, 1));
    let (status, problem) = send_as(&server, &mixed, &shop_a);
    assert_eq!(
        (status, problem["index"].as_u64()),
        (403, Some(3)),
        "{problem}"
    );
    let (_, usage) = get(&format!("{}/v1/usage?period=2024-03", server.url));
    let stored: u64 = usage["shops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["billable_mountings"].as_u64().unwrap())
        .sum();
    assert_eq!(stored, 5, "a refused request stores nothing");

    // Reading: A sees only its shop; asking for B's is forbidden.
    assert_eq!(send_as(&server, &mountings(1, 1, 2), &shop_b).0, 200);
    let (status, usage) = get_as(&format!("{}/v1/usage?period=2024-03", server.url), &shop_a);
    assert_eq!(status, 200);
    let shops: Vec<_> = usage["shops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["shop"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shops, vec!["S000000"]);
    assert_eq!(
        get_as(
            &format!("{}/v1/usage?period=2024-03&shop=S000001", server.url),
            &shop_a
        )
        .0,
        403
    );

    // No key, or a made-up one: 401.
    assert_eq!(
        post(
            &format!("{}/v1/events", server.url),
            BATCH,
            &batch_json(&mountings(0, 9, 1)),
            None
        )
        .0,
        401
    );
    assert_eq!(send_as(&server, &mountings(0, 9, 1), "fsk_0000").0, 401);
    assert_eq!(
        get_as(
            &format!("{}/v1/usage?period=2024-03", server.url),
            "fsk_0000"
        )
        .0,
        401
    );
}

#[test]
fn a_key_over_its_request_rate_gets_429() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("m.sqlite"),
        &["--max-requests-per-second", "5"],
    );
    provision(&server, 1);
    let key = mint_key(&server, "S000000");
    // A burst of 30 requests (bounded): the bucket holds 5, so some must be refused.
    let mut refused = None;
    for i in 0..30 {
        let response = agent()
            .post(format!("{}/v1/events", server.url))
            .header("Content-Type", BATCH)
            .header("Authorization", format!("Bearer {key}"))
            .send(&batch_json(&mountings(0, i + 1, 1))[..])
            .unwrap();
        if response.status().as_u16() == 429 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("a burst over the limit gets 429");
    assert!(
        refused.headers().get("retry-after").is_some(),
        "429 says when to retry"
    );
}

/// Mints a key and returns (key, key_id).
fn mint_key_with_id(server: &server::Server, tenant: &str) -> (String, i64) {
    let (status, body) = post(
        &format!("{}/v1/admin/tenants/{tenant}/keys", server.url),
        "application/json",
        b"{}",
        Some(TOKEN),
    );
    assert_eq!(status, 201, "{body}");
    (
        body["key"].as_str().expect("a key").to_string(),
        body["key_id"].as_i64().expect("a key id"),
    )
}

#[test]
fn a_revoked_key_is_refused_at_once_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.sqlite");
    let mut server = Server::start(&db, &[]);
    provision(&server, 1);
    let (old, old_id) = mint_key_with_id(&server, "S000000");
    let (new, new_id) = mint_key_with_id(&server, "S000000");
    assert_eq!(send_as(&server, &mountings(0, 1, 2), &old).0, 200);

    let revoke = |server: &server::Server, id: i64, bearer: &str| {
        delete_as(&format!("{}/v1/admin/keys/{id}", server.url), bearer)
    };
    assert_eq!(
        revoke(&server, old_id, &new).0,
        401,
        "a tenant key cannot revoke"
    );
    assert_eq!(revoke(&server, old_id, TOKEN).0, 204);
    let (status, problem) = send_as(&server, &mountings(0, 3, 2), &old);
    assert_eq!(status, 401);
    assert!(
        problem["detail"].as_str().unwrap().contains("revoked"),
        "{problem}"
    );
    assert_eq!(
        send_as(&server, &mountings(0, 3, 2), &new).0,
        200,
        "other keys still work"
    );
    assert_eq!(
        revoke(&server, old_id, TOKEN).0,
        204,
        "revoking again is harmless"
    );
    let (status, problem) = revoke(&server, 9_999, TOKEN);
    assert_eq!(status, 404, "{problem}");
    assert_eq!(revoke(&server, -1, TOKEN).0, 404);
    assert_eq!(
        delete_as(&format!("{}/v1/admin/keys/abc", server.url), TOKEN).0,
        400
    );

    let (status, listed) = get(&format!("{}/v1/admin/tenants/S000000/keys", server.url));
    assert_eq!(status, 200, "{listed}");
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["key_id"], old_id);
    assert!(keys[0]["revoked_at"].is_i64());
    assert_eq!(keys[1]["key_id"], new_id);
    assert!(keys[1]["revoked_at"].is_null());
    assert!(
        !listed.to_string().contains(&new),
        "the key itself is never shown again"
    );
    assert_eq!(
        get(&format!("{}/v1/admin/tenants/nobody/keys", server.url)).0,
        404
    );

    server.kill();
    let server = Server::start(&db, &[]);
    assert_eq!(send_as(&server, &mountings(0, 5, 1), &old).0, 401);
    assert_eq!(send_as(&server, &mountings(0, 5, 1), &new).0, 200);
    let (_, usage) = get(&format!("{}/v1/usage?period=2024-03", server.url));
    assert_eq!(usage["shops"][0]["billable_mountings"], 5, "{usage}");
}

#[test]
fn a_key_over_its_event_rate_gets_429_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("m.sqlite"),
        &["--max-events-per-second", "10"],
    );
    provision(&server, 1);
    let key = mint_key(&server, "S000000");
    // The bucket holds 10 events; a batch of 100 passes once and leaves a debt of 90,
    // which takes 10 s to repay: the next batch, sent at once, is refused.
    assert_eq!(send_as(&server, &mountings(0, 1, 100), &key).0, 200);
    let (status, problem) = send_as(&server, &mountings(0, 101, 5), &key);
    assert_eq!(status, 429, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("event rate"));
    assert_eq!(
        send(&server, &mountings(0, 201, 5)).0,
        200,
        "the admin is not limited"
    );
    let (_, usage) = get(&format!("{}/v1/usage?period=2024-03", server.url));
    assert_eq!(usage["shops"][0]["billable_mountings"], 105, "{usage}");
}

#[test]
fn events_dated_too_far_in_the_future_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("m.sqlite"),
        &["--max-future-seconds", "3600"],
    );
    provision(&server, 1);
    let mut events = mountings(0, 1, 2);
    events[1].time = 4_102_444_800; // 2100-01-01
    let (status, problem) = send(&server, &events);
    assert_eq!(
        (status, problem["index"].as_u64()),
        (400, Some(1)),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("--max-future-seconds"),
        "{problem}"
    );
    assert_eq!(send(&server, &events[..1]).0, 200, "a past event is fine");
}
