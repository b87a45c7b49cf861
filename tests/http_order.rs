//! Issue 10 item 1: a machine's counter readings over HTTP. The 40-shop scenario with frequent
//! outages and board swaps (each swap sends the old board's final read and then the new
//! board's zero read) is sent with two events per request over sixteen connections: the client
//! keeps every machine's events in sequence order, and the run reconciles and bills exactly
//! what the embedded engine bills.

mod common;
#[path = "common/http_call.rs"]
mod http_call;
#[path = "common/server.rs"]
mod server;

use common::{data, fleetsim, run_quiet, text};

const TOKEN: &str = "order-admin-token";

#[test]
fn tiny_batches_over_many_connections_keep_each_machines_readings_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = data("reorder_40.toml");
    let (local, remote) = (tmp.path().join("local"), tmp.path().join("remote"));
    let embedded = run_quiet(&scenario, &local, &[]);
    assert_eq!(
        embedded.status.code(),
        Some(0),
        "{}",
        text(&embedded.stderr)
    );
    let server = server::Server::start(&tmp.path().join("m.sqlite"), TOKEN, &[]);
    let out = fleetsim()
        .args(["run", "--quiet", "--batch-size", "2", "--connections", "16"])
        .args(["--target", &server.url, "--out"])
        .arg(&remote)
        .arg(&scenario)
        .env("FLEETSIM_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for file in ["invoices.csv", "shops.csv"] {
        assert!(
            std::fs::read(local.join(file)).unwrap() == std::fs::read(remote.join(file)).unwrap(),
            "{file} differs between the embedded and the served engine"
        );
    }
    // The readings route lists a machine's readings in arrival order: sequence order, none of
    // them re-sequenced by the engine (what the client must not make it do).
    let mut machines = 0;
    let mut readings = 0;
    for m in 0.. {
        let url = format!("{}/v1/machines/M{m:06}/readings", server.url);
        let (status, body) = http_call::call("GET", &url, None, TOKEN);
        assert_eq!(status, 200, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        let seqs: Vec<u64> = body["readings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect();
        if seqs.is_empty() {
            break;
        }
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "M{m:06}'s readings arrived out of order: {seqs:?}"
        );
        machines += 1;
        readings += seqs.len();
    }
    assert!(
        machines >= 40 && readings > 40 * 60,
        "{machines} machines, {readings} readings"
    );
}
