//! The command line. A thin layer: parse flags, call the library, map results to the
//! documented exit codes (`exit`).

use crate::budget::{self, ByteSize};
use crate::exit;
use crate::http::client::{HttpEngine, HttpOptions};
use crate::http::server::{serve, ServerConfig};
use crate::metering::MeteringEngine;
use crate::run::{run_reporting, RunOptions};
use crate::scenario;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

mod catalogue;
mod cluster;
mod compare;
mod gate;
pub mod load;
mod progress;
mod quote;

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
        /// Send the events over HTTP to this metering endpoint (e.g. a `fleetsim serve`)
        /// instead of the embedded engine, and read usage back from it to reconcile.
        #[arg(long, value_name = "URL")]
        target: Option<String>,
        /// Admin token of the target, to bind the scenario's machines to their shops.
        #[arg(
            long,
            env = "FLEETSIM_ADMIN_TOKEN",
            hide_env_values = true,
            value_name = "TOKEN"
        )]
        admin_token: Option<String>,
        /// Extra header for every request to the target, e.g. 'Authorization: Bearer KEY'.
        #[arg(long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
        headers: Vec<(String, String)>,
        /// Events per HTTP request to the target.
        #[arg(long, default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
        /// HTTP requests in flight at once to the target.
        #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        connections: u16,
        /// Refuse (exit 2) a scenario whose estimated memory is above SIZE (500M, 8G, 1.5GiB)
        /// [default: the machine's available memory].
        #[arg(long, value_name = "SIZE")]
        max_memory: Option<ByteSize>,
    },
    /// Serve the metering engine over HTTP (CloudEvents in, usage out).
    Serve {
        /// Address to listen on (loopback by default; port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// The SQLite store (created if missing).
        #[arg(
            long,
            default_value = "reports/server/metering.sqlite",
            value_name = "PATH"
        )]
        db: PathBuf,
        /// Token that lets a caller provision machines (POST /v1/admin/machines).
        #[arg(
            long,
            env = "FLEETSIM_ADMIN_TOKEN",
            hide_env_values = true,
            value_name = "TOKEN"
        )]
        admin_token: Option<String>,
        /// Largest request body accepted (bytes); larger ones get 413.
        #[arg(long, default_value_t = ServerConfig::DEFAULT_MAX_BODY_BYTES, value_name = "BYTES")]
        max_body_bytes: usize,
        /// Most events in one batch; more get 413.
        #[arg(long, default_value_t = ServerConfig::DEFAULT_MAX_BATCH_EVENTS, value_name = "N")]
        max_batch: usize,
        /// Requests per second allowed to one API key (bursts up to a second's worth); 0: no limit.
        #[arg(long, default_value_t = ServerConfig::DEFAULT_MAX_REQUESTS_PER_SECOND, value_name = "N")]
        max_requests_per_second: u32,
        /// Events per second allowed to one API key (bursts up to a second's worth, or one
        /// batch); over it, 429 and nothing stored. 0: no limit.
        #[arg(long, default_value_t = ServerConfig::DEFAULT_MAX_EVENTS_PER_SECOND, value_name = "N")]
        max_events_per_second: u32,
        /// Refuse events dated more than this many seconds ahead of the server's clock (0: no
        /// check).
        #[arg(long, default_value_t = ServerConfig::DEFAULT_MAX_FUTURE_SECONDS, value_name = "SECONDS")]
        max_future_seconds: u64,
        /// Refuse events dated more than this many days before the server's clock (0: no
        /// check). To replay older data, pin the clock instead: PUT /v1/admin/clock.
        #[arg(long, default_value_t = ServerConfig::DEFAULT_MAX_PAST_DAYS, value_name = "DAYS")]
        max_past_days: u32,
        /// Decimal digits of the machines' counters: they wrap to 0 after 10^DIGITS − 1
        /// (VEE tells a rollover from a reset by it). Default: 32-bit binary counters. Fixed
        /// when the store is created. At most 18, so that every step fits the store's signed
        /// 64-bit integers exactly.
        #[arg(long, value_name = "DIGITS", value_parser = clap::value_parser!(u32).range(1..=18))]
        counter_digits: Option<u32>,
    },
    /// Load-test a metering endpoint over HTTP: synthetic batches at an open-model rate (or
    /// --max), or with a SCENARIO the fleet's own traffic, paced; latency from each request's
    /// scheduled instant, exactly-once check or reconciliation afterwards, thresholds for CI.
    ///
    /// Exit codes: 0 ok, 1 runtime failure, 2 bad input, 3 events lost or counted twice,
    /// 99 a threshold failed.
    Load(Box<crate::load::LoadArgs>),
    /// Price a shop per mounting from its audited activity (a CSV history, or a simulated
    /// shop's first months) and explain the computation line by line.
    ///
    /// Exit codes: 0 ok, 1 runtime failure, 2 bad input.
    Quote(Box<crate::quote::command::QuoteArgs>),
    /// Validate scenario files without running them, and estimate the memory a run needs.
    ///
    /// Exit codes: 0 every file valid and within the memory limit, 2 otherwise.
    Check {
        /// Scenario files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Refuse a scenario whose estimated memory is above SIZE (500M, 8G, 1.5GiB)
        /// [default: the machine's available memory].
        #[arg(long, value_name = "SIZE")]
        max_memory: Option<ByteSize>,
    },
    /// Compare several runs' pricings in one report: comparison.csv, comparison.json,
    /// index.html and its charts, from the folders `run` wrote.
    ///
    /// Exit codes: 0 ok, 1 runtime failure (writing), 2 bad input (a folder that is not a
    /// run's, fewer than two, different currencies, an --out that is one of the runs).
    Compare(compare::CompareArgs),
    /// Gate a summary against a baseline: throughput, latency percentiles and the run's own
    /// events/s may move the wrong way by --tolerance at most; exact figures (counts, cents,
    /// reconciliation) must be equal. Prints a table of what moved.
    ///
    /// Exit codes: 0 nothing regressed, 1 runtime failure (writing an output), 2 bad input
    /// (unreadable file, not JSON, not a summary, different kinds, bad tolerance or metric),
    /// 99 a metric regressed or changed.
    Gate(gate::GateArgs),
    /// Plan catalogues (plans, service tiers, options): `catalogue check FILE`.
    #[command(subcommand)]
    Catalogue(catalogue::CatalogueCommand),
    /// Join a coordinator as a worker node (ractor_cluster): the cookie must match, then the
    /// fleetsim version and the scenario; stays until the coordinator finishes with it.
    ///
    /// Exit codes: 0 done, 1 runtime failure, 2 bad input, 5 refused at the handshake (cookie,
    /// version, scenario, too many workers), or the coordinator unreachable, silent past a
    /// bound or gone.
    Worker(cluster::WorkerArgs),
    /// Experimental (issue 14, step 1): the coordinator's handshake only, no simulation. Waits
    /// for N workers, checks their version and scenario, pings each through the gateways
    /// and prints the round-trip time.
    ///
    /// Exit codes: 0 every worker joined and answered, 1 runtime failure (cannot listen),
    /// 2 bad input, 5 fewer than N workers joined in time, or one stopped answering.
    ClusterCheck(cluster::CheckArgs),
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
            target,
            admin_token,
            headers,
            batch_size,
            connections,
            max_memory,
        } => {
            let threads = threads.map(usize::from).unwrap_or_else(default_threads);
            let target = target.map(|url| HttpOptions {
                admin_token,
                headers,
                batch_size: batch_size as usize,
                connections: usize::from(connections),
                ..HttpOptions::new(&url)
            });
            run_command(
                &scenario,
                &RunOptions {
                    out,
                    seed,
                    threads,
                    quiet,
                },
                target,
                max_memory,
            )
        }
        Command::Serve {
            addr,
            db,
            admin_token,
            max_body_bytes,
            max_batch,
            max_requests_per_second,
            max_events_per_second,
            max_future_seconds,
            max_past_days,
            counter_digits,
        } => serve_command(ServerConfig {
            addr,
            db,
            admin_token,
            max_body_bytes,
            max_batch_events: max_batch,
            max_requests_per_second,
            max_events_per_second,
            max_future_seconds,
            max_past_days,
            counter_modulus: counter_digits.map(|d| 10_u64.pow(d)),
        }),
        Command::Load(args) => load::command(&args),
        Command::Quote(args) => quote::command(&args),
        Command::Check { files, max_memory } => check_command(&files, max_memory),
        Command::Compare(args) => compare::command(&args),
        Command::Gate(args) => gate::command(&args),
        Command::Catalogue(cmd) => catalogue::run(&cmd),
        Command::Worker(args) => cluster::worker(&args),
        Command::ClusterCheck(args) => cluster::check(&args),
    }
}

fn run_command(
    path: &std::path::Path,
    opts: &RunOptions,
    target: Option<HttpOptions>,
    max_memory: Option<ByteSize>,
) -> i32 {
    let scenario = match scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if let Err(over) = budget::check(&scenario, budget::limit(max_memory)) {
        eprintln!("error: {}: {over}", path.display());
        return exit::BAD_INPUT;
    }
    let engine = target.map(|http| Box::new(HttpEngine::new(http)) as Box<dyn MeteringEngine>);
    let bar = std::sync::Arc::new(progress::Bar::default());
    let result = run_reporting(scenario, opts, engine, bar);
    let result = match result {
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
            "billed {} {} for {} mountings ({} done; {} trace-only cycles not billed)",
            s.billed.total,
            s.billed.currency,
            s.billed.mountings,
            s.truth.billable_mountings,
            s.metered.trace_only
        );
        if let Some(f) = &s.service {
            println!(
                "field: {} incidents ({} fixed remotely, {} with a loaner), {} SLA breaches, {} mountings lost to downtime; cost to serve {} {}",
                f.incidents,
                f.remote_fixes,
                f.loaners,
                f.sla_breaches,
                s.truth.lost_billable_mountings.unwrap_or(0),
                crate::money::format_cents(f.cost_cents),
                s.billed.currency
            );
            if let Some(p) = &f.predictive {
                print_predictive(p, &s.billed.currency);
            }
        }
        if let Some(a) = &s.alternatives {
            print_alternatives(a, &s.billed.currency);
        }
    }
    let mut failed = !result.reconciliation.ok;
    if failed {
        eprintln!("{}", result.reconciliation.describe());
    }
    for (id, r) in result.pricings.iter().flat_map(|e| e.unreconciled()) {
        eprintln!("alternative `{id}`: {}", r.describe());
        failed = true;
    }
    if failed {
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

/// One line per pricing: revenue, margin, Gini, shops at a loss.
fn print_alternatives(a: &[crate::report::alternatives::AlternativeSummary], currency: &str) {
    println!("pricings billed on the same fleet: {}", a.len());
    for p in a {
        let margin = p.costs.as_ref().map_or(String::new(), |c| {
            format!(
                ", margin {} {currency}, {} shops at a loss",
                crate::money::format_cents(c.margin_cents),
                c.shops_at_loss
            )
        });
        println!(
            "  {}: revenue {} {currency}{margin}, Gini {:.3}{}",
            p.id,
            crate::money::format_cents(p.revenue_cents),
            p.gini,
            if p.reconciled {
                ""
            } else {
                " (NOT reconciled)"
            }
        );
    }
}

fn serve_command(config: ServerConfig) -> i32 {
    if let Some(dir) = config.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: {}: {e}", dir.display());
            return exit::RUNTIME;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return exit::RUNTIME;
        }
    };
    let db = config.db.clone();
    let ready = move |addr: std::net::SocketAddr| {
        println!("listening on http://{addr} (store {})", db.display());
        let _ = std::io::Write::flush(&mut std::io::stdout());
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match runtime.block_on(serve(config, ready, shutdown)) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::RUNTIME
        }
    }
}

/// `'Name: value'` → (`Name`, `value`).
fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not 'NAME: VALUE'"))?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("{name:?} is not a header name"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// A scenario `check` accepts is one `run` accepts: valid, and within the memory limit.
fn check_command(files: &[PathBuf], max_memory: Option<ByteSize>) -> i32 {
    let limit = budget::limit(max_memory);
    let mut code = exit::OK;
    for file in files {
        let s = match scenario::load(file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                code = exit::BAD_INPUT;
                continue;
            }
        };
        let estimate = match budget::check(&s, limit) {
            Ok(estimate) => ByteSize(estimate.total()),
            Err(over) => {
                eprintln!("error: {}: {over}", file.display());
                code = exit::BAD_INPUT;
                continue;
            }
        };
        let within = match limit {
            Some(limit) => format!("within {limit}"),
            None => "no limit known (no /proc/meminfo): --max-memory sets one".to_string(),
        };
        println!(
            "ok: {} ({}: {} shops, {} months from {}, seed {}); a run needs about {estimate} of memory, {within}",
            file.display(),
            s.name,
            s.fleet.shops,
            s.months,
            s.start,
            s.seed
        );
    }
    code
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The summary line of predictive maintenance: the run against the same one without it.
fn print_predictive(p: &crate::service::outcome::PredictiveComparison, currency: &str) {
    let (w, o) = (&p.with, &p.without);
    println!(
        "predictive: {} preventive visits ({} found the machine failed); with / without: {} / {} failures, {:.0} / {:.0} h downtime, {} / {} mountings lost, {} / {} SLA breaches, maintenance {} / {} {currency} (cost to serve {} / {})",
        w.preventive_visits,
        w.wasted_visits,
        w.failures,
        o.failures,
        w.downtime_hours,
        o.downtime_hours,
        w.lost_mountings,
        o.lost_mountings,
        w.sla_breaches,
        o.sla_breaches,
        crate::money::format_cents(w.maintenance_cents),
        crate::money::format_cents(o.maintenance_cents),
        crate::money::format_cents(w.cost_cents),
        crate::money::format_cents(o.cost_cents),
    );
}
