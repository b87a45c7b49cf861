//! `fleetsim load`: an HTTP ingestion load generator and benchmark for a metering endpoint
//! (a `fleetsim serve`, or anything that takes CloudEvents batches the same way).
//!
//! Two paces:
//! - **constant rate** (`--rate EVENTS/S` or `--request-rate REQUESTS/S`), the open model of
//!   wrk2 and k6's constant-arrival-rate: request `i` is due at `start + i × interval` whatever
//!   the server does, and latency is measured from that due instant, so a stalled server shows
//!   up in the percentiles instead of silently slowing the senders (coordinated omission);
//!   the uncorrected service time is reported beside it;
//! - **max** (`--max`): a closed loop, each connection sending back to back, to find the
//!   ceiling.
//!
//! Each request is a CloudEvents batch (`--batch-size`, default 100) of valid fleetsim events
//! whose machine-issued ids are unique across the run (`events`); `--duplicate-share` re-sends
//! some batches verbatim, as retries, to load the idempotency path. After the run the
//! generator reads usage back and checks that every acknowledged event was stored exactly once
//! (`verification`). Thresholds (`--threshold 'p99<10ms'`) turn results into a CI gate with
//! their own exit code, `exit::THRESHOLD_FAILED` (99, as k6), and a JUnit file.
//!
//! Outcomes: a `LoadError` (bad input, the target unreachable or refusing provisioning, an
//! output not writable) or a `LoadReport` with its `Conclusion` (nothing acknowledged,
//! verification error or failure, a threshold failed, ok). `run_load` runs a `LoadPlan` and
//! returns the report; `write_outputs` writes its JSON, JUnit, series CSV and HTML files.
//! The command line (`cli::load`) prints and maps them to exit codes: 0 ok; 1 runtime
//! failure; 2 bad input; 3 verification failed; 99 a threshold failed.

mod answer;
mod control;
mod driver;
pub mod events;
mod exchange;
pub mod fleet;
mod plan;
pub(crate) mod report;
pub mod schedule;
pub mod series;
pub mod stalls;
/// Thresholds are shared with scenarios (`[load] thresholds`), so they live at the top.
pub use crate::threshold;
mod verify;

pub use driver::{BatchState, Pace, Receipts};
pub use plan::{parse_duration, LoadPlan};
pub(crate) use report::xml_escape;
pub use report::{Conclusion, Latency, LoadReport, Requests, SenderCpu, Verification};

use control::Control;
use driver::{Drive, Outcome};
use events::{Bodies, BodyStats, EventPlan};
use series::SecondRow;
use stalls::Stall;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Requests one run may schedule at most: bounds the per-batch bookkeeping (one byte each).
pub const MAX_REQUESTS: u64 = 100_000_000;
/// The request cap of a `--max` run without `--max-requests`.
pub const DEFAULT_MAX_MODE_REQUESTS: u64 = 10_000_000;
/// Allowance for bodies longer than the sampled ones when sizing the prebuilt set.
const BODY_SIZE_MARGIN: f64 = 1.1;

/// How request bodies are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BodyMode {
    /// Prebuilt if they fit in --prebuild-mb; in --max mode as many as fit, the rest on the fly.
    Auto,
    /// All built before the run, outside the timed path (bounded by --prebuild-mb).
    Prebuilt,
    /// Each built by its sender just before its slot (costs CPU during the run).
    OnTheFly,
}

/// `fleetsim load`'s flags. Texts with a grammar (durations, period, headers, thresholds) are
/// kept as written and validated by `LoadPlan::from_args`, which refuses them as bad input.
#[derive(clap::Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("pace").args(["rate", "request_rate", "max", "speed"])))]
pub struct LoadArgs {
    /// A scenario (TOML): send the fleet's own traffic, paced (`--speed`, `--rate` or its
    /// `[load]` stages), and reconcile what the target metered and billed. Without it, the
    /// load is synthetic batches at --rate, --request-rate or --max.
    #[arg(value_name = "SCENARIO")]
    pub scenario: Option<PathBuf>,
    /// Base URL of the metering endpoint, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// Constant rate in events per second (open model), in batches of --batch-size. With a
    /// scenario: the mean event rate over the fleet's span (its shape kept).
    #[arg(long, value_name = "EVENTS_PER_S")]
    pub rate: Option<u64>,
    /// With a scenario: virtual seconds per wall second, e.g. 3600x (an hour of the fleet
    /// a second); replaces the scenario's pace and stages.
    #[arg(long, value_name = "FACTOR", requires = "scenario")]
    pub speed: Option<String>,
    /// With a scenario: virtual time between a machine's uploads, e.g. 15m (0: each event as
    /// it happens) [default: the scenario's `[load] upload_every`, else 15m].
    #[arg(long, value_name = "DURATION", requires = "scenario")]
    pub upload_every: Option<String>,
    /// With a scenario: its seed, overridden.
    #[arg(long, value_name = "N", requires = "scenario")]
    pub seed: Option<u64>,
    /// With a scenario: worker threads for the actors [default: available cores].
    #[arg(long, value_name = "N", requires = "scenario")]
    pub threads: Option<usize>,
    /// With a scenario: stop the run as soon as a threshold measured live fails (latency and
    /// lateness percentiles, errors, error_rate, late), after 1 s and 100 answers; exit 99.
    #[arg(long, requires = "scenario")]
    pub abort_on_fail: bool,
    /// With a scenario: the run's report folder [default: the scenario's output.dir].
    #[arg(long, value_name = "DIR", requires = "scenario")]
    pub report_dir: Option<PathBuf>,
    /// Constant rate in requests per second (open model).
    #[arg(long, value_name = "REQUESTS_PER_S", conflicts_with = "scenario")]
    pub request_rate: Option<u64>,
    /// Closed loop as fast as possible, to find the ceiling.
    #[arg(long, conflicts_with = "scenario")]
    pub max: bool,
    /// Events per request (one CloudEvents batch) [default: 100; with a scenario, its
    /// `[load] batch_size`].
    #[arg(long, value_name = "N")]
    pub batch_size: Option<u64>,
    /// How long to send, e.g. 10s, 500ms, 2m (a bare number is seconds).
    #[arg(
        long,
        default_value = "10s",
        value_name = "DURATION",
        conflicts_with = "scenario"
    )]
    pub duration: String,
    /// Concurrent connections (one task each, one request at a time) [default: 16; with a
    /// scenario, its `[load] connections`].
    #[arg(long, value_name = "N")]
    pub connections: Option<usize>,
    /// OS threads sending, each an event loop running its share of the connections (at most
    /// --connections; about one per core the sender may use).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub sender_threads: usize,
    /// Machines M000000… the events come from (one shop each, S000000…).
    #[arg(
        long,
        default_value_t = 1000,
        value_name = "N",
        conflicts_with = "scenario"
    )]
    pub machines: u32,
    /// First sequence number of every machine; a later run on the same store needs a higher
    /// one (the report's next_first_seq).
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        conflicts_with = "scenario"
    )]
    pub first_seq: u64,
    /// Billing period the events fall in, and whose usage is verified. Default: the month
    /// before the current one (UTC), which a server on the wall clock accepts (its events are
    /// neither in its future nor beyond its --max-past-days).
    #[arg(long, value_name = "YYYY-MM", conflicts_with = "scenario")]
    pub period: Option<String>,
    /// Share of requests that re-send an earlier batch verbatim (a retry), in [0, 1).
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "SHARE",
        conflicts_with = "scenario"
    )]
    pub duplicate_share: f64,
    /// Admin token of the target: provisions the machines first, reads usage back, and
    /// authorizes the events unless a key or an Authorization header is given.
    #[arg(
        long,
        env = "FLEETSIM_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,
    /// Extra header on every request, e.g. 'Authorization: Bearer KEY' (repeatable).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// Bind all the machines to this tenant when provisioning (default: each shop is its own).
    #[arg(long, value_name = "TENANT", conflicts_with = "scenario")]
    pub tenant: Option<String>,
    /// Mint an API key for --tenant (needs the admin token) and send the events with it.
    #[arg(long, conflicts_with = "scenario")]
    pub mint_key: bool,
    /// Give up on a request after this long.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub timeout: String,
    /// How long after the end of the schedule a late request may still start; later ones
    /// are dropped.
    #[arg(
        long,
        default_value = "5s",
        value_name = "DURATION",
        conflicts_with = "scenario"
    )]
    pub grace: String,
    /// Send at most this many requests.
    #[arg(long, value_name = "N", conflicts_with = "scenario")]
    pub max_requests: Option<u64>,
    /// How request bodies are made.
    #[arg(long, value_enum, default_value_t = BodyMode::Auto, conflicts_with = "scenario")]
    pub bodies: BodyMode,
    /// Memory for prebuilt bodies, in MB.
    #[arg(
        long,
        default_value_t = 512,
        value_name = "MB",
        conflicts_with = "scenario"
    )]
    pub prebuild_mb: u64,
    /// Do not read usage back to check that every acknowledged event was stored once (the
    /// check assumes nobody else writes these machines' usage during the run).
    #[arg(long, conflicts_with = "scenario")]
    pub no_verify: bool,
    /// Pass/fail criterion, e.g. 'p99<10ms', 'rate>=400000', 'error_rate<1%' (repeatable).
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Write the results as JSON here.
    #[arg(long, value_name = "FILE.json")]
    pub out: Option<PathBuf>,
    /// Write the thresholds (and the verification) as JUnit XML here.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// Write the run second by second as CSV here (the columns: README, "The load report").
    #[arg(long, value_name = "FILE.csv")]
    pub series: Option<PathBuf>,
    /// Write the report as a self-contained HTML page here, its charts also as PNG in
    /// <stem>_charts/ beside it.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    BadInput(String),
    #[error("{url}: {what}: {message}")]
    Remote {
        url: String,
        what: String,
        message: String,
    },
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where a run's files go (each optional).
#[derive(Clone, Copy, Debug, Default)]
pub struct Outputs<'a> {
    pub json: Option<&'a Path>,
    pub junit: Option<&'a Path>,
    pub series: Option<&'a Path>,
    pub html: Option<&'a Path>,
}

impl LoadArgs {
    pub fn outputs(&self) -> Outputs<'_> {
        Outputs {
            json: self.out.as_deref(),
            junit: self.junit.as_deref(),
            series: self.series.as_deref(),
            html: self.html.as_deref(),
        }
    }
}

/// Writes the report as JSON, the thresholds as JUnit XML, the series as CSV and the HTML
/// page (with its charts' PNGs), where asked.
pub fn write_outputs(report: &LoadReport, outputs: &Outputs) -> Result<(), LoadError> {
    let (json, junit) = (outputs.json, outputs.junit);
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|source| LoadError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(report).map_err(|e| LoadError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        write(path, text)?;
    }
    if let Some(path) = junit {
        write(path, report.junit())?;
    }
    if let Some(path) = outputs.series {
        write(path, series::csv(&report.series))?;
    }
    if let Some(path) = outputs.html {
        crate::report::load::write_page(report, path)
            .map_err(|(path, source)| LoadError::Write { path, source })?;
    }
    Ok(())
}

/// Runs a validated plan against its target and reports what happened.
pub fn run_load(plan: &LoadPlan) -> Result<LoadReport, LoadError> {
    let control = Control::new(&plan.url, &plan.headers);
    control.reachable()?;
    let key = prepare_target(plan, &control)?;
    let reader = plan.admin_token.as_deref().or(key.as_deref());
    let baseline = plan.verify.then(|| {
        control
            .usage(&plan.events, reader)
            .map_err(|e| e.to_string())
    });
    let (bodies, body_stats) = build_bodies(plan)?;
    let drive = Drive {
        events_url: format!("{}/v1/events", plan.url),
        headers: control::with_bearer(&plan.headers, event_token(plan, key.as_deref())),
        health_url: format!("{}/healthz", plan.url),
        pace: plan.pace,
        duration: plan.duration,
        grace: plan.grace,
        connections: plan.connections,
        sender_threads: plan.sender_threads,
        timeout: plan.timeout,
        max_requests: plan.max_requests,
        resends: plan.resends,
        plan: plan.events.clone(),
        bodies,
    };
    let outcome = drive.run()?;
    let verification = match baseline {
        None => verify::skipped("--no-verify"),
        Some(Err(e)) => verify::skipped(&format!("usage could not be read before the run: {e}")),
        Some(Ok(before)) => {
            let after = control.usage(&plan.events, reader);
            verify::verify(plan, &outcome, before, after)
        }
    };
    Ok(assemble(plan, outcome, body_stats, verification))
}

/// Provisions the machines and mints a key, as far as the plan asks; returns the key.
fn prepare_target(plan: &LoadPlan, control: &Control) -> Result<Option<String>, LoadError> {
    let Some(admin) = plan.admin_token.as_deref() else {
        return Ok(None);
    };
    control.provision(&plan.events, plan.tenant.as_deref(), admin)?;
    match (&plan.tenant, plan.mint_key) {
        (Some(tenant), true) => control.mint_key(tenant, admin).map(Some),
        _ => Ok(None),
    }
}

/// The events' credentials: a minted key, else the static Authorization header, else the
/// admin token. (`None` keeps the static headers as they are.)
fn event_token<'a>(plan: &'a LoadPlan, key: Option<&'a str>) -> Option<&'a str> {
    if key.is_some() {
        return key;
    }
    if control::has_authorization(&plan.headers) {
        return None;
    }
    plan.admin_token.as_deref()
}

/// Builds the bodies the plan asks for, and says what that cost.
fn build_bodies(plan: &LoadPlan) -> Result<(Bodies, BodyStats), LoadError> {
    let (body_bytes, build_us_per_body) = events::sample_body_cost(&plan.events);
    let needed = plan.resends.fresh_batches(plan.max_requests);
    let fitting =
        (plan.prebuild_bytes as f64 / (body_bytes.max(1) as f64 * BODY_SIZE_MARGIN)) as u64;
    let count = match (plan.bodies, plan.pace) {
        (BodyMode::OnTheFly, _) => 0,
        (BodyMode::Prebuilt, Pace::Rate(_)) if needed > fitting => {
            return Err(LoadError::BadInput(format!(
                "--bodies prebuilt: {needed} bodies of about {body_bytes} bytes do not fit in \
                 --prebuild-mb {}; raise it or use --bodies on-the-fly",
                plan.prebuild_bytes / 1_000_000
            )))
        }
        // Constant rate: all or nothing, so the sender's CPU use is the same all run long.
        (BodyMode::Auto, Pace::Rate(_)) if needed > fitting => 0,
        _ => needed.min(fitting),
    };
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let prebuilt = events::prebuild(&plan.events, count, threads);
    let stats = BodyStats {
        mode: if count == 0 { "on_the_fly" } else { "prebuilt" },
        prebuilt: count,
        prebuilt_bytes: prebuilt.iter().map(|b| b.len() as u64).sum(),
        body_bytes,
        build_seconds: started.elapsed().as_secs_f64(),
        build_us_per_body,
        built_during_run: 0,
    };
    let bodies = if count == 0 {
        Bodies::OnTheFly
    } else {
        Bodies::Prebuilt(prebuilt.into_iter().map(bytes::Bytes::from).collect())
    };
    Ok((bodies, stats))
}

/// The run second by second and its stalls: the series completed with the slots never sent
/// (due all the same), the stalls over the run's threshold.
fn timeline(plan: &LoadPlan, outcome: &mut Outcome) -> (Vec<SecondRow>, Vec<Stall>, Duration) {
    let service = &outcome.totals.service;
    let median = if service.is_empty() {
        0
    } else {
        service.value_at_quantile(0.5)
    };
    let threshold = stalls::threshold(Duration::from_micros(median));
    let timeline = &mut outcome.totals.timeline;
    let slots = outcome.slots;
    let found = match plan.pace {
        Pace::Rate(s) => {
            let never_sent = outcome.started.min(slots)..slots;
            let events = plan.events.batch_size;
            timeline.series.record_due_slots(&s, never_sent, events);
            let due_before = |t: Duration| Some(s.slots_within(t).min(slots));
            timeline
                .watch
                .stalls(threshold, outcome.elapsed, due_before)
        }
        Pace::Max => timeline.watch.stalls(threshold, outcome.elapsed, |_| None),
    };
    let series = &timeline.series;
    let shown = found.iter().map(|f| f.shown(series)).collect();
    (series.rows(), shown, threshold)
}

fn assemble(
    plan: &LoadPlan,
    mut outcome: Outcome,
    bodies: BodyStats,
    verification: Verification,
) -> LoadReport {
    let (series, stalls, stall_threshold) = timeline(plan, &mut outcome);
    let t = &outcome.totals;
    let seconds = outcome.elapsed.as_secs_f64().max(1e-9);
    let (mode, target_rps) = match plan.pace {
        Pace::Rate(s) => ("constant_rate", Some(s.requests_per_second())),
        Pace::Max => ("max", None),
    };
    let fresh_used = outcome
        .batches
        .iter()
        .rposition(|b| *b != BatchState::NotSent)
        .map_or(0, |last| last as u64 + 1);
    let mut report = LoadReport {
        target: plan.url.clone(),
        mode,
        connections: plan.connections,
        batch_size: plan.events.batch_size,
        machines: plan.events.machines,
        duration_seconds: plan.duration.as_secs_f64(),
        target_events_per_second: target_rps.map(|r| r * plan.events.batch_size as f64),
        target_requests_per_second: target_rps,
        elapsed_seconds: seconds,
        requests: Requests {
            scheduled: outcome.slots,
            sent: t.sent_requests,
            acknowledged: t.acked_requests,
            failed: t.sent_requests - t.acked_requests,
            resent: t.resent_requests,
            late: t.late,
            dropped: match plan.pace {
                Pace::Rate(_) => outcome.slots.saturating_sub(outcome.started),
                Pace::Max => 0,
            },
        },
        events: report::Events {
            sent: t.sent_events,
            acknowledged: t.acked_events,
            resent: t.resent_events,
        },
        rate: report::Rate {
            events_per_second: t.acked_events as f64 / seconds,
            requests_per_second: t.acked_requests as f64 / seconds,
        },
        latency_us: Latency::of(&t.corrected),
        service_time_us: Latency::of(&t.service),
        responses: t
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect(),
        transport_errors: t
            .transport_errors
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect(),
        errors_by_class: t
            .timeline
            .errors
            .iter()
            .map(|(c, n)| (c.name(), *n))
            .collect(),
        first_error: t.first_error.clone(),
        server_receipts: t.receipts,
        bodies: BodyStats {
            mode: match (bodies.prebuilt, t.built_during_run) {
                (0, _) => "on_the_fly",
                (_, 0) => "prebuilt",
                _ => "partly_prebuilt",
            },
            built_during_run: t.built_during_run,
            ..bodies
        },
        verification,
        thresholds: Vec::new(),
        next_first_seq: plan.events.next_first_seq(fresh_used),
        fleet: None,
        sender_cpu: outcome.cpu.map(|cpu| report::SenderCpu {
            seconds: cpu.as_secs_f64(),
            cores: cpu.as_secs_f64() / seconds,
            us_per_request: cpu.as_secs_f64() * 1e6 / t.sent_requests.max(1) as f64,
        }),
        stall_threshold_us: u64::try_from(stall_threshold.as_micros()).unwrap_or(u64::MAX),
        stalls,
        series,
    };
    report.thresholds = plan.thresholds.iter().map(|t| t.check(&report)).collect();
    report
}
