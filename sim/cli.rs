//! The command line. A thin layer: parse flags, call the library, map results to the
//! documented exit codes (`exit`).

use crate::exit;
use crate::run::{run, RunOptions};
use crate::scenario;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "fleetsim", version, about = "Fleet simulator and load tester for pay-per-use machines", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Simulate a scenario end to end: actors → metering → billing → reconciliation → reports.
    ///
    /// Exit codes: 0 ok, 1 runtime failure, 2 bad input, 3 reconciliation failed.
    Run {
        /// Scenario file (TOML), e.g. scenarios/quickstart.toml.
        scenario: PathBuf,
        /// Output folder [default: the scenario's output.dir, else reports/<scenario name>].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Random seed, overriding the scenario's.
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// Worker threads for the actors [default: available cores].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: Option<u16>,
        /// Print nothing but errors; no progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Validate scenario files without running them.
    Check {
        /// Scenario files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            };
        }
    };
    match cli.command {
        Command::Run {
            scenario,
            out,
            seed,
            threads,
            quiet,
        } => {
            let threads = threads.map(usize::from).unwrap_or_else(default_threads);
            run_command(
                &scenario,
                &RunOptions {
                    out,
                    seed,
                    threads,
                    quiet,
                },
            )
        }
        Command::Check { files } => check_command(&files),
    }
}

fn run_command(path: &std::path::Path, opts: &RunOptions) -> i32 {
    let scenario = match scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let result = match run(scenario, opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::RUNTIME;
        }
    };
    let s = &result.summary;
    if !opts.quiet {
        println!(
            "{}: {} shops, {} machines, {} days; {} events in {:.1} s ({:.0} events/s)",
            s.scenario,
            s.shops,
            s.machines,
            s.days,
            s.run.events,
            s.run.wall_seconds,
            s.run.events_per_second
        );
        println!(
            "billed {} {} for {} mountings ({} trace-only cycles not billed)",
            s.billed.total, s.billed.currency, s.metered.billable_mountings, s.metered.trace_only
        );
    }
    if !result.reconciliation.ok {
        eprintln!("{}", result.reconciliation.describe());
        eprintln!(
            "report: {}",
            result.out_dir.join(crate::report::INDEX_HTML).display()
        );
        return exit::RECONCILIATION;
    }
    if !opts.quiet {
        println!(
            "reconciliation ok: nothing lost, nothing counted twice, every cent accounted for"
        );
        println!(
            "report: {}",
            result.out_dir.join(crate::report::INDEX_HTML).display()
        );
    }
    exit::OK
}

fn check_command(files: &[PathBuf]) -> i32 {
    let mut code = exit::OK;
    for file in files {
        match scenario::load(file) {
            Ok(s) => println!(
                "ok: {} ({}: {} shops, {} months from {}, seed {})",
                file.display(),
                s.name,
                s.fleet.shops,
                s.months,
                s.start,
                s.seed
            ),
            Err(e) => {
                eprintln!("error: {e}");
                code = exit::BAD_INPUT;
            }
        }
    }
    code
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
