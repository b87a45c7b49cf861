//! The field over HTTP: loaners are provisioned at their installation time through the
//! server's admin interface (`POST /v1/admin/machines` with `since`), moved from shop to shop
//! and tenant to tenant, and the simulated incidents are recorded through the server. The run
//! reconciles and bills exactly what the embedded engine bills.

mod common;
#[path = "common/server.rs"]
mod server;

use common::{data, fleetsim, read_json, run_quiet, text};

const TOKEN: &str = "field-admin-token";

#[test]
fn loaners_and_incidents_over_http_bill_what_the_embedded_engine_bills() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = data("loaner_swaps.toml");
    let (local, remote) = (tmp.path().join("local"), tmp.path().join("remote"));
    let embedded = run_quiet(&scenario, &local, &[]);
    assert_eq!(
        embedded.status.code(),
        Some(0),
        "{}",
        text(&embedded.stderr)
    );
    let summary = read_json(&local.join("summary.json"));
    let loaners = summary["service"]["loaners"].as_u64().unwrap();
    assert!(loaners >= 20, "{loaners} loaner episodes");
    let server = server::Server::start(
        &tmp.path().join("m.sqlite"),
        TOKEN,
        &["--counter-digits", "8"],
    );
    let out = fleetsim()
        .args(["run", "--quiet", "--target", &server.url, "--out"])
        .arg(&remote)
        .arg(&scenario)
        .env("FLEETSIM_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for file in ["invoices.csv", "shops.csv"] {
        assert!(
            std::fs::read(local.join(file)).unwrap() == std::fs::read(remote.join(file)).unwrap(),
            "{file} differs between the embedded and the HTTP run"
        );
    }
}
