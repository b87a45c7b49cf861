//! A scenario that `check` accepts must run (issue 10): the bounds refuse what no shop can do,
//! and the memory estimate refuses, before anything is simulated, a run the machine (or
//! `--max-memory`) cannot hold. The limit is given with `--max-memory` so that the tests do
//! not depend on the machine they run on.

mod common;

use common::*;

/// 10^6 shops over ten years: valid, and tens of GB of truth tables and actors.
const HUGE: &str =
    "[scenario]\nname = \"huge\"\n[calendar]\nmonths = 120\n[fleet]\nshops = 1000000\n";

fn huge_file(dir: &std::path::Path) -> String {
    let file = dir.join("huge.toml");
    std::fs::write(&file, HUGE).unwrap();
    file.to_str().unwrap().to_string()
}

#[test]
fn a_median_of_a_trillion_pairs_a_day_is_refused_by_check_and_run() {
    // The case: it validated, then the run hung and aborted on a 6 GB allocation.
    let rel = "tests/data/bad/median_pairs_per_day_huge.toml";
    let tmp = tempfile::tempdir().unwrap();
    let checked = fleetsim().args(["check", rel]).output().unwrap();
    let ran = run_quiet(rel, &tmp.path().join("out"), &[]);
    for (what, out) in [("check", &checked), ("run", &ran)] {
        assert_exit(out, 2, what);
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!("error: {rel}:8:24: field `demand.median_pairs_per_day`: 1000000000000.0 is out of range: allowed 0.01 to 360.0 (")),
            "{what}: {stderr}"
        );
    }
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn a_million_shops_over_ten_years_is_refused_before_it_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let file = huge_file(tmp.path());
    let out_dir = tmp.path().join("out");
    let started = std::time::Instant::now();
    let ran = run_quiet(&file, &out_dir, &["--max-memory", "16G"]);
    let checked = fleetsim()
        .args(["check", &file, "--max-memory", "16G"])
        .output()
        .unwrap();
    assert!(
        started.elapsed().as_secs() < 20,
        "refused before anything is simulated"
    );
    for (what, out) in [("run", &ran), ("check", &checked)] {
        assert_exit(out, 2, what);
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!("error: {file}: a run needs about ")),
            "{what}: {stderr}"
        );
        assert!(
            stderr.contains(" GiB of memory (estimated from the scenario), more than the limit of 16.0 GiB (--max-memory): use fewer shops (`fleet.shops` = 1000000; at most about "),
            "{what}: {stderr}"
        );
        assert!(stderr.contains(" fit over 120 months)"), "{what}: {stderr}");
        assert!(
            stderr.trim_end().ends_with("or raise --max-memory"),
            "{what}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(out.stdout.is_empty(), "{what}");
    }
    // The estimate it names is tens of GB (actors, truth, invoices of 120 M shop-months).
    let gib: f64 = text(&ran.stderr)
        .split("needs about ")
        .nth(1)
        .and_then(|r| r.split(" GiB").next())
        .and_then(|n| n.parse().ok())
        .expect("the estimate in GiB");
    assert!((30.0..200.0).contains(&gib), "{gib} GiB");
    assert!(!out_dir.exists(), "nothing was written");
}

#[test]
fn within_a_larger_limit_the_same_scenario_checks_ok() {
    let tmp = tempfile::tempdir().unwrap();
    let file = huge_file(tmp.path());
    let out = fleetsim()
        .args(["check", &file, "--max-memory", "1T"])
        .output()
        .unwrap();
    assert_exit(&out, 0, "check --max-memory 1T");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("GiB of memory, within the limit of 1024 GiB (--max-memory)"),
        "{stdout}"
    );
}

#[test]
fn a_normal_scenario_runs_within_its_estimate() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = run_quiet(
        "tests/data/e2e_small.toml",
        &out_dir,
        &["--max-memory", "2G"],
    );
    assert_exit(&out, 0, "run e2e_small --max-memory 2G");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let estimate = summary
        .pointer("/run/memory_estimate_bytes")
        .and_then(|v| v.as_u64())
        .expect("/run/memory_estimate_bytes");
    // Where the system reports the peak (Linux), the estimate is above it.
    if let Some(peak) = summary
        .pointer("/run/peak_rss_bytes")
        .and_then(|v| v.as_u64())
    {
        assert!(peak < estimate, "peak {peak} above the estimate {estimate}");
    } else {
        assert!(!std::path::Path::new("/proc/self/status").exists());
    }
    // The same limit in check: ok, with the estimate.
    let out = fleetsim()
        .args(["check", "tests/data/e2e_small.toml", "--max-memory", "2G"])
        .output()
        .unwrap();
    assert_exit(&out, 0, "check e2e_small");
    assert!(
        text(&out.stdout).contains("of memory, within the limit of 2.0 GiB (--max-memory)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_limit_below_the_estimate_refuses_a_small_scenario_too() {
    // The limit is the flag's, not the scenario's size: 1 MiB holds no run.
    let tmp = tempfile::tempdir().unwrap();
    let out = run_quiet(
        "tests/data/e2e_small.toml",
        &tmp.path().join("out"),
        &["--max-memory", "1M"],
    );
    assert_exit(&out, 2, "run --max-memory 1M");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("more than the limit of 1.0 MiB (--max-memory)"),
        "{stderr}"
    );
    // Not even one shop fits: neither fewer shops nor fewer months is offered.
    assert!(
        stderr.contains("use fewer shops and months, or raise --max-memory"),
        "{stderr}"
    );
}

#[test]
fn bad_memory_sizes_are_bad_input() {
    for size in ["8", "lots", "0G", "-1G", "1.5.2G", "8X"] {
        for command in ["run", "check"] {
            let out = fleetsim()
                .args([command, "scenarios/quickstart.toml"])
                .arg(format!("--max-memory={size}"))
                .output()
                .unwrap();
            assert_exit(&out, 2, &format!("{command} --max-memory {size}"));
            let stderr = text(&out.stderr);
            assert!(stderr.contains("--max-memory"), "{size}: {stderr}");
            assert!(!stderr.contains("panicked"), "{size}: {stderr}");
        }
    }
    let out = fleetsim()
        .args(["check", "scenarios/quickstart.toml", "--max-memory", "8"])
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("write a number and a unit, e.g. 500M, 8G or 1.5GiB"),
        "{}",
        text(&out.stderr)
    );
}
