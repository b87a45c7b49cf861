//! The field (`[service]`): machines that wear, fail and get repaired, run end to end.

use fleetsim::run::{run, RunOptions};
use fleetsim::scenario::{parse, Scenario};
use std::path::Path;

fn scenario(text: &str) -> Scenario {
    let mut s = parse(Path::new("field.toml"), text).expect("a valid scenario");
    s.service.enabled = true;
    s
}

#[test]
fn a_year_with_failures_and_repairs_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(
        "[fleet]\nshops = 200\n[calendar]\nmonths = 12\nstart = \"2024-01-01\"\n[output]\nhtml = false\n",
    );
    let opts = RunOptions {
        out: Some(dir.path().to_path_buf()),
        threads: 2,
        quiet: true,
        ..RunOptions::default()
    };
    let r = run(s, &opts).expect("the run completes");
    assert!(r.reconciliation.ok, "{:?}", r.reconciliation.mismatches);
    let summary = std::fs::read_to_string(dir.path().join("summary.json")).unwrap();
    eprintln!("{}", &summary[..summary.len().min(3000)]);
}
