//! `fleetsim compare RUN_DIR... [--out DIR]`: the library builds and writes the comparison;
//! this prints what it wrote and maps a failure to its exit code.

use crate::exit;
use crate::report::compare::{self, CompareError, Comparison};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Folders written by `fleetsim run SCENARIO --out DIR` (at least two).
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Output folder (created if missing; not one of the runs').
    #[arg(long, value_name = "DIR", default_value = "reports/compare")]
    pub out: PathBuf,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `fleetsim compare` and returns the process exit code.
pub fn command(args: &CompareArgs) -> i32 {
    let written = compare::build(&args.runs).and_then(|c| {
        compare::write(&args.out, &c)?;
        Ok(c)
    });
    match written {
        Ok(c) => {
            if !args.quiet {
                print_summary(&c, &args.out);
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            error_code(&e)
        }
    }
}

fn error_code(e: &CompareError) -> i32 {
    match e.is_bad_input() {
        true => exit::BAD_INPUT,
        false => exit::RUNTIME,
    }
}

/// One line per pricing, the warning when the fleets differ, where the report is.
fn print_summary(c: &Comparison, out: &Path) {
    println!(
        "{} pricings of {} runs compared",
        c.rows.len(),
        c.runs.len()
    );
    for r in &c.rows {
        let margin = r.margin_cents.map_or(String::new(), |m| {
            format!(", margin {} {}", crate::money::format_cents(m), c.currency)
        });
        let gini = r.gini.map_or(String::new(), |g| format!(", Gini {g:.3}"));
        println!(
            "  {}: revenue {} {}{margin}{gini}{}",
            r.label,
            crate::money::format_cents(r.revenue_cents),
            c.currency,
            if r.reconciled {
                ""
            } else {
                " (NOT reconciled)"
            }
        );
    }
    for w in &c.warnings {
        println!("warning: {w}");
    }
    println!("report: {}", out.join(crate::report::INDEX_HTML).display());
}
