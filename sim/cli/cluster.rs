//! `fleetsim worker` and `fleetsim cluster-check`: flags, what the nodes report, exit codes.

use crate::cluster::{self, CheckOptions, ClusterError, Note, WorkerOptions};
use crate::exit;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The coordinator, HOST:PORT (its --listen).
    #[arg(long, value_name = "HOST:PORT")]
    join: String,
    /// File holding the cluster's shared secret (ractor_cluster's cookie); the same on every
    /// node.
    #[arg(long, value_name = "FILE")]
    cookie_file: PathBuf,
    /// This worker's copy of the scenario: refused at the handshake unless its bytes are the
    /// coordinator's (SHA-256).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// This node's name, unique in the cluster; workers are numbered in the order of their
    /// names [default: HOSTNAME-PID].
    #[arg(long, env = "FLEETSIM_NODE_NAME", value_name = "NAME")]
    name: Option<String>,
    /// How long to wait to be admitted (the coordinator waits for every worker), and then
    /// for the coordinator to finish with this worker.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = duration)]
    timeout: Duration,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Scenario file (TOML): every worker's --scenario must be byte for byte this file.
    scenario: PathBuf,
    /// Address to listen on for workers, IP:PORT (0.0.0.0:PORT for every interface).
    #[arg(long, value_name = "IP:PORT")]
    listen: SocketAddr,
    /// How many workers to wait for.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    workers: u32,
    /// File holding the cluster's shared secret (ractor_cluster's cookie).
    #[arg(long, value_name = "FILE")]
    cookie_file: PathBuf,
    /// How long to wait for every worker to join.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = duration)]
    timeout: Duration,
    /// Pings per worker through the gateways, for the round-trip time.
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pings: u32,
}

fn duration(text: &str) -> Result<Duration, String> {
    crate::units::parse_duration("--timeout", text)
}

/// Prints each note on stderr as it happens (stdout is for the results).
struct Show;

impl cluster::Observer for Show {
    fn note(&self, note: Note) {
        match note {
            Note::Listening { addr, workers } => {
                eprintln!("listening on {addr}, waiting for {workers} worker(s)")
            }
            Note::Joined {
                name,
                joined,
                workers,
            } => eprintln!("joined: {name} ({joined} of {workers})"),
            Note::Left {
                name,
                joined,
                workers,
            } => eprintln!("left: {name} disconnected ({joined} of {workers})"),
            Note::HandshakeFailed { peer_addr } => eprintln!(
                "warning: a connection from {peer_addr} failed ractor_cluster's handshake (a wrong cookie?)"
            ),
            Note::Connected { addr } => {
                eprintln!("connected to {addr}; waiting to be admitted")
            }
            Note::Welcomed { index, workers } => {
                eprintln!("admitted as worker {index} of {workers} (0-based)")
            }
        }
    }
}

pub fn worker(args: &WorkerArgs) -> i32 {
    let opts = WorkerOptions {
        join: args.join.clone(),
        cookie_file: args.cookie_file.clone(),
        scenario: args.scenario.clone(),
        name: args.name.clone().unwrap_or_else(cluster::default_name),
        timeout: args.timeout,
    };
    match cluster::work(&opts, Arc::new(Show)) {
        Ok(report) => {
            println!(
                "worker {} of {} ({}), scenario {}: {}",
                report.index, report.workers, opts.name, report.scenario_digest, report.finished
            );
            exit::OK
        }
        Err(e) => fail(&e),
    }
}

pub fn check(args: &CheckArgs) -> i32 {
    let opts = CheckOptions {
        scenario: args.scenario.clone(),
        listen: args.listen,
        workers: args.workers,
        cookie_file: args.cookie_file.clone(),
        timeout: args.timeout,
        pings: args.pings,
    };
    match cluster::check(&opts, Arc::new(Show)) {
        Ok(report) => {
            println!(
                "cluster ok: {} worker(s) on {}, scenario {} ({}), fleetsim {}",
                report.workers.len(),
                report.listen,
                args.scenario.display(),
                report.scenario_digest,
                cluster::wire::VERSION
            );
            for w in &report.workers {
                println!(
                    "worker {}: {} from {}: {} pings through the gateways, round trip median {} µs, max {} µs",
                    w.index, w.name, w.peer_addr, w.rtt.count, w.rtt.median_us, w.rtt.max_us
                );
            }
            exit::OK
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &ClusterError) -> i32 {
    eprintln!("error: {e}");
    match e {
        ClusterError::Input(_) => exit::BAD_INPUT,
        ClusterError::Listen { .. } | ClusterError::Runtime(_) => exit::RUNTIME,
        _ => exit::CLUSTER,
    }
}
