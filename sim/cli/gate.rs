//! `fleetsim gate --baseline FILE --current FILE`: the library compares; this reads the
//! files, prints the table and the verdict, writes the outputs and picks the exit code.

use crate::exit;
use crate::gate::{self, GateError, Tolerance};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct GateArgs {
    /// The summary to hold the current one to: a `fleetsim load --out` JSON or a run's
    /// summary.json.
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// The summary to judge, of the same kind as the baseline.
    #[arg(long, value_name = "FILE")]
    pub current: PathBuf,
    /// How far a measured metric may move the wrong way: `10%` or `0.1`. Exact figures
    /// (counts, cents, reconciliation) must be equal whatever the tolerance.
    #[arg(long, default_value = "10%", value_name = "SHARE")]
    pub tolerance: Tolerance,
    /// Compare only this metric (repeatable); the table lists the names.
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
    /// Write the comparison as JUnit XML (one test case per metric).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the comparison as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print nothing but errors and the failed metrics.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `fleetsim gate` and returns the process exit code.
pub fn command(args: &GateArgs) -> i32 {
    let report = gate::compare_files(&args.baseline, &args.current, args.tolerance, &args.metrics);
    let report = match report {
        Ok(report) => report,
        Err(e) => return failed(&e),
    };
    if !args.quiet {
        print!("{}", report.table());
    }
    if let Err(e) = gate::write_outputs(&report, args.json.as_deref(), args.junit.as_deref()) {
        return failed(&e);
    }
    if report.passed() {
        if !args.quiet {
            println!("{}", report.verdict_line());
        }
        return exit::OK;
    }
    eprintln!("{}", report.verdict_line());
    exit::THRESHOLD_FAILED
}

fn failed(e: &GateError) -> i32 {
    eprintln!("error: {e}");
    match e.is_bad_input() {
        true => exit::BAD_INPUT,
        false => exit::RUNTIME,
    }
}
