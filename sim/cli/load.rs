//! `fleetsim load`: plan, run, print the summary, write the outputs, and map the outcome to
//! the documented exit codes (`load::Conclusion`; when several apply, the lowest non-zero wins).

use crate::exit;
use crate::load::{run_load, write_outputs, Conclusion, LoadArgs, LoadError, LoadPlan, LoadReport};

/// Runs `fleetsim load` and returns the process exit code.
pub fn command(args: &LoadArgs) -> i32 {
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
