//! Runs across machines on ractor_cluster (issue 14). What exists so far: the placement of
//! regions on nodes (`placement`), and the nodes themselves: a coordinator listens, workers
//! join it, and our own handshake over the nodes' gateways checks version and scenario and
//! hands out worker indices, with a ping through the gateways (`fleetsim cluster-check`). The
//! distributed run comes next.
//!
//! Two entry points, one per role: [`check`] on the coordinator, [`work`] on a worker. Both
//! are bounded in time: every wait has a timeout and ends in a [`ClusterError`] naming what
//! did not happen. Nothing here prints; progress goes to an [`Observer`].

mod coordinator;
mod gateway;
mod node;
pub mod placement;
pub mod wire;
mod worker;

pub use gateway::{admit, Admission};
pub use wire::{Hello, Refusal};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a worker's handshake may take, from the TCP connection to its gateway's hello.
pub const HANDSHAKE_BOUND: Duration = Duration::from_secs(10);
/// How long a gateway may take to answer one request (a ping, a finish).
pub const ANSWER_BOUND: Duration = Duration::from_secs(2);

/// `fleetsim cluster-check`: the coordinator's side.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub scenario: PathBuf,
    pub listen: SocketAddr,
    pub workers: u32,
    pub cookie_file: PathBuf,
    /// How long to wait for every worker to join.
    pub timeout: Duration,
    /// Pings per worker for the round-trip time.
    pub pings: u32,
}

/// `fleetsim worker`.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The coordinator, `HOST:PORT`.
    pub join: String,
    pub cookie_file: PathBuf,
    /// The worker's own copy of the scenario, checked against the coordinator's.
    pub scenario: Option<PathBuf>,
    /// The node's name; workers' indices follow their names' order.
    pub name: String,
    /// How long to wait to be admitted, and then for the coordinator to finish with it.
    pub timeout: Duration,
}

/// What happened, as it happens (for `cli` to show).
#[derive(Debug, Clone)]
pub enum Note {
    Listening {
        addr: SocketAddr,
        workers: u32,
    },
    /// Coordinator: worker `name` is in, `joined` of `workers`.
    Joined {
        name: String,
        joined: u32,
        workers: u32,
    },
    /// Coordinator: worker `name` disconnected before every worker had joined.
    Left {
        name: String,
        joined: u32,
        workers: u32,
    },
    /// Coordinator: a connection closed before passing ractor_cluster's handshake.
    HandshakeFailed {
        peer_addr: String,
    },
    /// Worker: the cookies matched; now asking the coordinator's gateway to be admitted.
    Connected {
        addr: String,
    },
    /// Worker: admitted.
    Welcomed {
        index: u32,
        workers: u32,
    },
}

pub trait Observer: Send + Sync {
    fn note(&self, note: Note);
}

/// Reports nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn note(&self, _: Note) {}
}

/// One worker as the coordinator saw it.
#[derive(Debug, Clone)]
pub struct JoinedWorker {
    pub index: u32,
    pub name: String,
    pub peer_addr: String,
    pub rtt: RoundTrips,
}

/// Round trips of pings through the gateways, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrips {
    pub count: u32,
    pub median_us: u64,
    pub max_us: u64,
}

impl RoundTrips {
    /// Median (the lower middle for an even count) and maximum.
    pub fn of(mut samples: Vec<Duration>) -> RoundTrips {
        samples.sort_unstable();
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let median = samples.get(samples.len().saturating_sub(1) / 2).copied();
        RoundTrips {
            count: samples.len() as u32,
            median_us: median.map_or(0, us),
            max_us: samples.last().copied().map_or(0, us),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckReport {
    pub listen: SocketAddr,
    pub scenario_digest: String,
    pub workers: Vec<JoinedWorker>,
    /// Connections that closed before passing ractor_cluster's handshake meanwhile.
    pub handshake_failures: u32,
}

#[derive(Debug, Clone)]
pub struct WorkReport {
    pub index: u32,
    pub workers: u32,
    pub scenario_digest: String,
    /// The coordinator's reason for finishing.
    pub finished: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A flag's file is missing, unreadable or invalid.
    #[error("{0}")]
    Input(String),
    #[error("cannot listen on {addr}: {why}")]
    Listen { addr: String, why: String },
    #[error("{0}")]
    Runtime(String),
    #[error("cannot reach the coordinator at {addr}: {why}")]
    Unreachable { addr: String, why: String },
    #[error("the coordinator at {addr} closed the connection in ractor_cluster's handshake before accepting this node: the cookie does not match the coordinator's (or it already has a node named {name:?})")]
    Handshake { addr: String, name: String },
    #[error("no handshake with {addr} within {}s: is it a fleetsim coordinator?", after.as_secs_f64())]
    NoHandshake { addr: String, after: Duration },
    #[error("refused by the coordinator: {0}")]
    Refused(Refusal),
    #[error("only {} of {workers} workers joined within {}s{}{}", joined.len(), after.as_secs_f64(), joined_names(joined), failures(*handshake_failures))]
    NotEnoughWorkers {
        joined: Vec<String>,
        workers: u32,
        after: Duration,
        handshake_failures: u32,
    },
    #[error("{node} did not answer {what} within {}s", after.as_secs_f64())]
    NoAnswer {
        node: String,
        what: String,
        after: Duration,
    },
    #[error("{node} disconnected while {doing}")]
    Lost { node: String, doing: String },
}

fn joined_names(joined: &[String]) -> String {
    if joined.is_empty() {
        String::new()
    } else {
        format!(" (joined: {})", joined.join(", "))
    }
}

fn failures(n: u32) -> String {
    match n {
        0 => String::new(),
        1 => "; 1 connection failed ractor_cluster's handshake (a wrong cookie?)".to_string(),
        n => format!("; {n} connections failed ractor_cluster's handshake (a wrong cookie?)"),
    }
}

/// The coordinator of `cluster-check`: waits for `workers` workers, checks their version and
/// scenario, pings each through the gateways and lets them go.
pub fn check(
    opts: &CheckOptions,
    observer: std::sync::Arc<dyn Observer>,
) -> Result<CheckReport, ClusterError> {
    let cookie = read_cookie(&opts.cookie_file)?;
    let scenario_digest = scenario_digest(&opts.scenario)?;
    if opts.workers == 0 {
        return Err(ClusterError::Input(
            "--workers must be at least 1".to_string(),
        ));
    }
    runtime()?.block_on(coordinator::check(opts, cookie, scenario_digest, observer))
}

/// A worker: joins the coordinator, is admitted or refused, and answers it until it is done.
pub fn work(
    opts: &WorkerOptions,
    observer: std::sync::Arc<dyn Observer>,
) -> Result<WorkReport, ClusterError> {
    let cookie = read_cookie(&opts.cookie_file)?;
    let digest = opts.scenario.as_deref().map(scenario_digest).transpose()?;
    check_name(&opts.name)?;
    runtime()?.block_on(worker::work(opts, cookie, digest, observer))
}

fn runtime() -> Result<tokio::runtime::Runtime, ClusterError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fleetsim-node")
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Runtime(format!("cannot start the runtime: {e}")))
}

/// The cookie is the file's text less surrounding whitespace (a trailing newline is usual).
fn read_cookie(path: &Path) -> Result<String, ClusterError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ClusterError::Input(format!(
            "{}: cannot read the cookie file: {e}",
            path.display()
        ))
    })?;
    let cookie = text.trim();
    if cookie.is_empty() {
        return Err(ClusterError::Input(format!(
            "{}: the cookie file is empty",
            path.display()
        )));
    }
    Ok(cookie.to_string())
}

/// The digest of a scenario that validates (a broken one is refused here, not at the peer).
fn scenario_digest(path: &Path) -> Result<String, ClusterError> {
    crate::scenario::load(path).map_err(|e| ClusterError::Input(e.to_string()))?;
    let bytes = std::fs::read(path).map_err(|e| {
        ClusterError::Input(format!("{}: cannot read the file: {e}", path.display()))
    })?;
    Ok(wire::digest(&bytes))
}

/// Names become process-group names and sort the workers: keep them plain.
pub fn check_name(name: &str) -> Result<(), ClusterError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
        return Err(ClusterError::Input(format!(
            "--name {name:?}: 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

/// A worker's default name: the host's, then the process id (unique on one machine; give
/// `--name` for indices that stay the same from run to run).
pub fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    let host = if host.is_empty() {
        "worker".to_string()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_take_the_lower_median_and_the_max() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_micros(m))
                .collect::<Vec<_>>()
        };
        let r = RoundTrips::of(ms(&[30, 10, 20, 40]));
        assert_eq!((r.count, r.median_us, r.max_us), (4, 20, 40));
        assert_eq!(RoundTrips::of(ms(&[5])).median_us, 5);
        assert_eq!(RoundTrips::of(Vec::new()).count, 0);
    }

    #[test]
    fn the_timeout_message_names_how_many_joined() {
        let e = ClusterError::NotEnoughWorkers {
            joined: vec!["w1".into()],
            workers: 2,
            after: Duration::from_secs(3),
            handshake_failures: 1,
        };
        let text = e.to_string();
        assert!(
            text.starts_with("only 1 of 2 workers joined within 3s (joined: w1)"),
            "{text}"
        );
        assert!(text.contains("wrong cookie"), "{text}");
    }

    #[test]
    fn names_stay_plain() {
        assert!(check_name("worker-1.eu_west").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("w/1").is_err());
        assert!(check_name(&default_name()).is_ok());
    }
}
