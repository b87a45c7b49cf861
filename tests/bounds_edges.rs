//! A scenario that validates must run: scenarios at the edges of the bounds
//! (`sim/scenario/bounds.rs`) run to the end, without panic or hang, and what they did is
//! within what the machines can do. Each case is small in what the bounds leave free (shops,
//! months) so that all of them run in a few seconds.

use fleetsim::run::{run, RunOptions};
use std::path::Path;
use std::time::{Duration, Instant};

/// Catalogue paths in the cases are relative to this (virtual) scenario file.
const SCENARIO: &str = "tests/data/edge.toml";

struct Case {
    name: &'static str,
    toml: &'static str,
    expect: Expect,
}

enum Expect {
    /// Reconciliation holds.
    Reconciles,
    /// Every event is counted once, but the counters cannot tell the truth (every read lost,
    /// or narrow counters wrapping more than once between two reads) and reconciliation says
    /// so, shop by shop (`fleetsim run` exits 3): a run too, and what fleetsim is for.
    EventsHold,
}
use Expect::*;

const CASES: &[Case] = &[
    Case {
        name: "busiest demand the bounds allow, two machines a shop, every event sent twice",
        toml: r#"
[calendar]
months = 1
[fleet]
shops = 3
chain_share = 0.5
second_machine_above = 0.0
[demand]
median_pairs_per_day = 360
volume_factor = 10
chain_multiplier = 0.1
sigma = 3
overdispersion_shape = 0.25
weekday_multipliers = [7, 7, 7, 7, 7, 7, 7]
month_multipliers = [12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12]
in_store_share_mean = 1.0
in_store_share_concentration = 0.1
remake_share_min = 0.5
remake_share_max = 0.5
[closures]
closed_weekdays = []
[faults]
duplicate_share = 1.0
"#,
        expect: Reconciles,
    },
    Case {
        name: "the narrowest counters at the busiest demand, some reads lost",
        toml: r#"
[calendar]
months = 1
[fleet]
shops = 2
[demand]
median_pairs_per_day = 360
weekday_multipliers = [7, 7, 7, 7, 7, 7, 7]
[closures]
closed_weekdays = []
[faults]
counter_digits = 3
lost_read_share = 0.5
"#,
        expect: EventsHold,
    },
    Case {
        name: "fixed demand at capacity on the narrowest counters",
        toml: r#"
[calendar]
months = 1
[fleet]
shops = 2
second_machine_above = 10000.0
[demand]
mode = "fixed"
fixed_mountings_per_day = 360
fixed_trace_only_per_day = 360
[closures]
closed_weekdays = []
[pricing]
basis = "events"
[faults]
counter_digits = 3
initial_counters = "random"
"#,
        expect: Reconciles,
    },
    Case {
        name: "the longest run, from the last start year, on the widest counters",
        toml: r#"
[calendar]
start = "2200-01-01"
months = 120
[fleet]
shops = 1
[engine]
commit_every_days = 366
[pricing]
close_after_days = 27
[faults]
counter_digits = 18
initial_counters = "random"
"#,
        expect: Reconciles,
    },
    Case {
        name: "the quietest fleet",
        toml: r#"
[calendar]
start = "1990-01-01"
months = 1
[fleet]
shops = 1
second_machine_above = 0.0
[demand]
median_pairs_per_day = 0.01
volume_factor = 0.01
chain_multiplier = 10
sigma = 0
overdispersion_shape = 1000000
in_store_share_mean = 0.0
in_store_share_concentration = 10000
weekday_multipliers = [0, 0, 0, 0, 0, 0, 0.001]
month_multipliers = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.001]
[engine]
commit_every_days = 1
[pricing]
close_after_days = 0
"#,
        expect: Reconciles,
    },
    Case {
        name: "closures at their widest",
        toml: r#"
[calendar]
start = "2024-06-01"
months = 3
[fleet]
shops = 4
[closures]
closed_weekdays = ["mon", "tue", "wed", "thu", "fri", "sat"]
independent_monday_closed_share = 1.0
chain_monday_closed_share = 1.0
summer_closure_share = 1.0
summer_closure_min_weeks = 8
summer_closure_max_weeks = 8
summer_closure_earliest = "01-01"
summer_closure_latest = "12-31"
"#,
        expect: Reconciles,
    },
    Case {
        name:
            "faults at their most: a board swap and an outage a day, a year long, every read lost",
        toml: r#"
[calendar]
months = 2
[fleet]
shops = 2
[faults]
duplicate_share = 1.0
board_swaps_per_machine_year = 365
lost_read_share = 1.0
outages_per_machine_year = 365
outage_median_days = 366
outage_sigma = 5
outage_max_days = 366
"#,
        expect: Reconciles,
    },
    Case {
        name: "the shortest outages, often, with every read delivered",
        toml: r#"
[calendar]
months = 2
[fleet]
shops = 2
[faults]
board_swaps_per_machine_year = 0
lost_read_share = 0
outages_per_machine_year = 365
outage_median_days = 0.1
outage_sigma = 0
outage_max_days = 1
"#,
        expect: Reconciles,
    },
    Case {
        name: "plans: the longest rollout, everyone terminating, the shortest term",
        toml: r#"
[calendar]
months = 3
[fleet]
shops = 6
[pricing]
catalogue = "../../scenarios/catalogue/default.toml"
plan = "per_mounting"
term_months = 1
rollout_days = 91
early_termination_share = 1.0
"#,
        expect: Reconciles,
    },
    Case {
        name: "plans: the longest term",
        toml: r#"
[calendar]
months = 2
[fleet]
shops = 3
[pricing]
catalogue = "../../scenarios/catalogue/default.toml"
plan = "subscription_100"
term_months = 120
"#,
        expect: Reconciles,
    },
    Case {
        name: "a quote at its bounds: the longest audit, term and margin, the widest prices",
        toml: r#"
[calendar]
months = 2
[fleet]
shops = 3
[pricing]
chain = "1000000"
independent = "0"
[quote]
audit_months = 1
term_months = 120
margin = "10"
min_price = "0"
max_price = "1000000"
"#,
        expect: Reconciles,
    },
];

#[test]
fn scenarios_at_the_edges_of_the_bounds_run() {
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    for (i, case) in CASES.iter().enumerate() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCENARIO);
        let scenario = fleetsim::scenario::parse(&path, case.toml)
            .unwrap_or_else(|e| panic!("{}: the scenario validates: {e}", case.name));
        let opts = RunOptions {
            out: Some(tmp.path().join(i.to_string())),
            seed: None,
            threads: 2,
            quiet: true,
        };
        let case_started = Instant::now();
        let result = run(scenario.clone(), &opts)
            .unwrap_or_else(|e| panic!("{}: the run completes: {e}", case.name));
        let took = case_started.elapsed();
        let r = &result.reconciliation;
        match case.expect {
            Reconciles => assert!(r.ok, "{}: {}", case.name, r.describe()),
            EventsHold => assert!(
                r.missing == 0 && r.double_counted == 0 && r.conservation_errors.is_empty(),
                "{}: {}",
                case.name,
                r.describe()
            ),
        }
        let s = &result.summary;
        // What was done stays within what the machines can do, day by day: 360 jobs and up
        // to 180 remakes calibrated, 360 mountings and 360 traces fixed.
        let machine_days = s.machines as u64 * u64::from(s.days);
        assert!(
            s.truth.mountings + s.truth.trace_only <= machine_days * 720,
            "{}: {} cycles on {machine_days} machine-days",
            case.name,
            s.truth.mountings + s.truth.trace_only
        );
        eprintln!(
            "{}: {} events, reconciliation {}, {took:?}",
            case.name,
            s.run.events,
            if r.ok { "ok" } else { "failed" }
        );
        assert!(
            took < Duration::from_secs(10),
            "{}: took {took:?}",
            case.name
        );
    }
    eprintln!("{} edge scenarios in {:?}", CASES.len(), started.elapsed());
}
