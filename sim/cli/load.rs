//! `fleetsim load`: plan, run, print the summary, write the outputs, and map the outcome to
//! the documented exit codes (`load::Conclusion`; when several apply, the lowest non-zero wins).

use crate::exit;
use crate::load::fleet::{run_fleet, FleetPlan};
use crate::load::{
    run_load, write_outputs, Conclusion, LoadArgs, LoadError, LoadPlan, LoadReport, Outputs,
};

/// Runs `fleetsim load` and returns the process exit code.
pub fn command(args: &LoadArgs) -> i32 {
    if let Some(path) = &args.scenario {
        return fleet_command(path, args);
    }
    let report = match LoadPlan::from_args(args).and_then(|plan| run_load(&plan)) {
        Ok(report) => report,
        Err(e) => return failed(&e),
    };
    if !args.quiet {
        print!("{}", report.human());
    }
    if let Err(e) = write_outputs(&report, &args.outputs()) {
        return failed(&e);
    }
    if report.conclusion() == Conclusion::NothingAcknowledged {
        eprintln!(
            "error: no request was acknowledged; first error: {}",
            report.first_error.as_deref().unwrap_or("none recorded")
        );
    }
    exit_code(&report)
}

/// The documented exit code of a finished run.
pub fn exit_code(report: &LoadReport) -> i32 {
    match report.conclusion() {
        Conclusion::NothingAcknowledged | Conclusion::VerificationError => exit::RUNTIME,
        Conclusion::VerificationFailed => exit::RECONCILIATION,
        Conclusion::ThresholdFailed => exit::THRESHOLD_FAILED,
        Conclusion::Ok => exit::OK,
    }
}

fn failed(e: &LoadError) -> i32 {
    eprintln!("error: {e}");
    match e {
        LoadError::BadInput(_) => exit::BAD_INPUT,
        LoadError::Remote { .. } | LoadError::Write { .. } => exit::RUNTIME,
    }
}

/// `fleetsim load SCENARIO`: the fleet's traffic, paced; the run's report folder gets
/// `load.json` beside the run's own outputs.
fn fleet_command(path: &std::path::Path, args: &LoadArgs) -> i32 {
    let scenario = match crate::scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if let Err(over) = crate::budget::check(&scenario, crate::budget::limit(None)) {
        eprintln!("error: {}: {over}", path.display());
        return exit::BAD_INPUT;
    }
    let plan = match FleetPlan::from_args(args, scenario) {
        Ok(plan) => plan,
        Err(e) => return failed(&e),
    };
    let dir = crate::load::fleet::report_dir(&plan);
    let view = std::sync::Arc::new(super::progress::LoadBar::default());
    let report = match run_fleet(plan, view) {
        Ok(report) => report,
        Err(e) => return failed(&e),
    };
    if !args.quiet {
        print!("{}", report.human());
    }
    let own = dir.join("load.json");
    let mine = Outputs {
        json: Some(&own),
        ..Outputs::default()
    };
    let written =
        write_outputs(&report, &mine).and_then(|()| write_outputs(&report, &args.outputs()));
    if let Err(e) = written {
        return failed(&e);
    }
    if !args.quiet {
        println!("load report: {}", own.display());
    }
    exit_code(&report)
}
