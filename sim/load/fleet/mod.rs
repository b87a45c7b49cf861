//! `fleetsim load SCENARIO --target URL`: the fleet's own traffic, paced. The scenario's actor
//! fleet runs as in `fleetsim run --target`, through the same pipeline (`run::run_reporting`)
//! and the same reconciliation; its engine is a `PacedEngine`, which sends each machine's
//! uploads at the wall instant its virtual time maps to (`pacing`: a speed such as `3600x`, a
//! mean event rate, or stages), so the target gets the working day's hours, Saturdays,
//! month-end, the August trough, machines back online with weeks of events, retried
//! duplicates and counter readings, at the level asked for.
//!
//! Outcomes: a `LoadError` (bad input, target unreachable, an output not writable) or a
//! `LoadReport` of mode `fleet`, whose `verification` is the run's reconciliation (the fleet's
//! truth against what the target metered and billed) and whose `fleet` section holds the
//! stages, the endpoints and the sender's lateness. One entry point, `run_fleet`.

mod engine;
pub mod pacing;
mod report;
mod sender;
pub mod uploads;

pub use report::{EndpointReport, FleetSection, StageReport};

use super::{LoadArgs, LoadError};
use crate::http::client::{HttpEngine, HttpOptions};
use crate::progress::Progress;
use crate::run::{run_reporting, RunOptions};
use crate::scenario::load::{LoadSpec, PaceTarget, StageSpec};
use crate::scenario::Scenario;
use crate::threshold::Threshold;
use engine::{Endpoints, PacedEngine};
use pacing::{Pacing, Stage};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Attempts per request, the first included (as `HttpEngine`).
const ATTEMPTS: u32 = 6;
/// How often the live view is refreshed.
const LIVE_EVERY: Duration = Duration::from_millis(500);

/// A fleet-shaped load, checked: everything `run_fleet` needs.
pub struct FleetPlan {
    pub scenario: Scenario,
    pub http: HttpOptions,
    pub pace: PacePlan,
    pub upload_every: Duration,
    /// The head-end reads the whole fleet at once on a month's last day.
    pub month_end_read: bool,
    pub batch_size: usize,
    pub connections: usize,
    pub sender_threads: usize,
    pub timeout: Duration,
    pub thresholds: Vec<Threshold>,
    /// Thresholds that can be judged while the run goes on stop it as soon as one fails.
    pub abort_on_fail: bool,
    pub run: RunOptions,
}

/// The pace as asked: either speeds throughout, or rates to convert with the fleet's mean.
#[derive(Clone, Debug, PartialEq)]
pub struct PacePlan {
    pub start: Option<PaceTarget>,
    pub stages: Vec<StageSpec>,
}

/// What the live view shows, twice a second.
#[derive(Clone, Debug)]
pub struct LiveSnapshot {
    pub elapsed: Duration,
    /// The fleet's date and time of the latest upload sent (virtual, unix seconds).
    pub virtual_now: i64,
    /// Acknowledged events per second since the last snapshot.
    pub events_per_second: f64,
    /// p99 from the schedule since the last snapshot, microseconds.
    pub p99_us: Option<u64>,
    pub requests: u64,
    pub errors: u64,
    pub late: u64,
    pub stage: String,
}

impl LiveSnapshot {
    /// Nothing sent yet: the target is being provisioned and the fleet built.
    fn setting_up() -> LiveSnapshot {
        LiveSnapshot {
            elapsed: Duration::ZERO,
            virtual_now: 0,
            events_per_second: 0.0,
            p99_us: None,
            requests: 0,
            errors: 0,
            late: 0,
            stage: String::new(),
        }
    }

    /// Whether the load has started (the first upload sent).
    pub fn started(&self) -> bool {
        self.virtual_now != 0
    }
}

/// Receives the live view (`cli` draws it); called from a thread of the run's.
pub trait LiveView: Progress {
    fn live(&self, _snapshot: &LiveSnapshot) {}
}

impl FleetPlan {
    /// The plan of `fleetsim load SCENARIO`: the scenario's `[load]` with the flags over it.
    pub fn from_args(args: &LoadArgs, scenario: Scenario) -> Result<FleetPlan, LoadError> {
        let bad = LoadError::BadInput;
        let spec = scenario.load.clone().unwrap_or_else(default_spec);
        if args.request_rate.is_some() || args.max {
            return Err(bad(
                "with a scenario the pace is the fleet's: use --speed or --rate (mean events/s), or the scenario's [load] stages; --request-rate and --max are for synthetic batches".into(),
            ));
        }
        let pace = flag_pace(args, &spec)?;
        let url = super::plan::parse_target(&args.target).map_err(bad)?;
        let timeout = crate::units::parse_duration("--timeout", &args.timeout).map_err(bad)?;
        let upload_every = match &args.upload_every {
            Some(text) => crate::scenario::load::upload_every(text)
                .map_err(|e| bad(format!("--upload-every {e}")))?,
            None => spec.upload_every,
        };
        let batch_size = args.batch_size.unwrap_or(u64::from(spec.batch_size));
        let connections = args.connections.unwrap_or(spec.connections as usize);
        super::plan::check_sizes(batch_size, connections, args.sender_threads).map_err(bad)?;
        let thresholds = spec
            .thresholds
            .iter()
            .chain(&args.thresholds)
            .map(|t| Threshold::parse(t).map_err(|e| bad(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let http = HttpOptions {
            admin_token: args.admin_token.clone().filter(|t| !t.is_empty()),
            headers: super::plan::parse_headers(&args.headers).map_err(bad)?,
            connections: 2,
            ..HttpOptions::new(&url)
        };
        Ok(FleetPlan {
            scenario,
            http,
            pace,
            upload_every,
            month_end_read: spec.month_end_read,
            batch_size: batch_size as usize,
            connections,
            sender_threads: args.sender_threads,
            timeout,
            thresholds,
            abort_on_fail: args.abort_on_fail || spec.abort_on_fail,
            run: RunOptions {
                out: args.report_dir.clone(),
                seed: args.seed,
                threads: args.threads.unwrap_or_else(default_threads),
                quiet: args.quiet,
            },
        })
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A scenario without `[load]`: a day of the fleet per wall second, machines uploading every
/// quarter of an hour.
fn default_spec() -> LoadSpec {
    LoadSpec {
        pace: Some(PaceTarget::Speed(86_400.0)),
        stages: Vec::new(),
        upload_every: Duration::from_secs(15 * 60),
        month_end_read: true,
        abort_on_fail: false,
        batch_size: 100,
        connections: 16,
        thresholds: Vec::new(),
    }
}

/// `--speed` or `--rate` replace the scenario's pace and stages; else the scenario's.
fn flag_pace(args: &LoadArgs, spec: &LoadSpec) -> Result<PacePlan, LoadError> {
    let flag = match (&args.speed, args.rate) {
        (Some(_), Some(_)) => {
            return Err(LoadError::BadInput(
                "give --speed or --rate, not both: a rate is converted into a speed".into(),
            ))
        }
        (Some(text), None) => Some(PaceTarget::Speed(
            crate::scenario::load::parse_speed(text)
                .map_err(|e| LoadError::BadInput(format!("--speed {e}")))?,
        )),
        (None, Some(rate)) => Some(PaceTarget::Rate(rate as f64)),
        (None, None) => None,
    };
    match flag {
        Some(PaceTarget::Speed(v) | PaceTarget::Rate(v)) if v <= 0.0 => Err(LoadError::BadInput(
            "--speed and --rate must be above zero".into(),
        )),
        Some(pace) => Ok(PacePlan {
            start: Some(pace),
            stages: Vec::new(),
        }),
        None if spec.pace.is_none() && spec.stages.is_empty() => Ok(PacePlan {
            start: default_spec().pace,
            stages: Vec::new(),
        }),
        None => Ok(PacePlan {
            start: spec.pace,
            stages: spec.stages.clone(),
        }),
    }
}

/// Runs the fleet against the target, paced, and reports what happened; the run's own
/// outputs (summary.json, the report, the reconciliation) are in its output folder.
pub fn run_fleet(plan: FleetPlan, view: Arc<dyn LiveView>) -> Result<super::LoadReport, LoadError> {
    let mean = mean_events_per_virtual_second(&plan)?;
    let pacing = pacing_of(&plan.pace, mean);
    let names = pacing.names();
    let endpoint = super::exchange::Endpoint::new(
        &format!("{}/v1/events", plan.http.url),
        &format!("{}/healthz", plan.http.url),
        &plan.http.headers,
    )?;
    reachable(&plan.http.url)?;
    let (feed, senders) = sender::start(
        endpoint,
        plan.connections,
        plan.sender_threads,
        plan.timeout,
        ATTEMPTS,
        names.len(),
    );
    let endpoints: Endpoints = Arc::default();
    let engine = PacedEngine::new(
        HttpEngine::new(plan.http.clone()),
        feed,
        pacing.clone(),
        uploads::Delivery {
            every: plan.upload_every.as_secs() as i64,
            batch_size: plan.batch_size,
            month_end_read: plan.month_end_read,
        },
        Arc::clone(&endpoints),
    );
    let shared = Arc::clone(&senders.shared);
    let started = Instant::now();
    let abort = if plan.abort_on_fail {
        plan.thresholds.clone()
    } else {
        Vec::new()
    };
    let monitor = Monitor::start(
        shared,
        Arc::clone(&view),
        pacing.clone(),
        (plan.run.quiet, abort),
    );
    let progress: Arc<dyn Progress> = Arc::clone(&view) as Arc<dyn Progress>;
    let result = run_reporting(
        plan.scenario.clone(),
        &plan.run,
        Some(Box::new(engine)),
        progress,
    );
    monitor.stop();
    let receipts = senders.shared.receipts();
    let aborted = senders.shared.live.aborted().map(str::to_string);
    let pacing_start = senders.shared.start();
    let (stages, timeline) = senders.join();
    let run = match (result, &aborted) {
        (Ok(run), _) => Some(run),
        // The thresholds say why; the fleet was not sent, so there is nothing to reconcile.
        (Err(_), Some(_)) => None,
        (Err(e), None) => {
            return Err(LoadError::Remote {
                url: plan.http.url.clone(),
                what: "the fleet's run".into(),
                message: e.to_string(),
            })
        }
    };
    let endpoints = endpoints.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(report::assemble(
        &plan,
        report::Measured {
            pacing: &pacing,
            mean_events_per_virtual_second: mean,
            stages,
            timeline,
            pacing_start,
            endpoints,
            receipts,
            started,
            run: run.as_ref(),
            aborted,
        },
    ))
}

/// Events delivered per virtual second over the fleet's span, when a rate must be turned into
/// a speed: the fleet is simulated once without an engine to count them (`None` otherwise).
fn mean_events_per_virtual_second(plan: &FleetPlan) -> Result<Option<f64>, LoadError> {
    let rates = plan
        .pace
        .stages
        .iter()
        .map(|s| s.target)
        .chain(plan.pace.start)
        .any(|t| matches!(t, PaceTarget::Rate(_)));
    if !rates {
        return Ok(None);
    }
    let mut scenario = plan.scenario.clone();
    if let Some(seed) = plan.run.seed {
        scenario.seed = seed;
    }
    let scenario = Arc::new(scenario);
    let fleet = Arc::new(crate::fleet::Fleet::generate(&scenario));
    let calendar = Arc::new(crate::calendar::Calendar::new(
        scenario.start,
        scenario.months,
    ));
    let outcome =
        crate::run::simulate_without_engine(&scenario, &fleet, &calendar, plan.run.threads)
            .map_err(|e| LoadError::BadInput(format!("counting the fleet's events: {e}")))?;
    let events = (outcome.events_emitted + outcome.duplicates_sent) as f64;
    let seconds = f64::from(calendar.days()) * 86_400.0;
    Ok(Some(events / seconds))
}

/// The pacing in speeds: rates divided by the fleet's mean events per virtual second.
fn pacing_of(pace: &PacePlan, mean: Option<f64>) -> Pacing {
    let speed = |t: PaceTarget| match t {
        PaceTarget::Speed(v) => v,
        PaceTarget::Rate(r) => r / mean.unwrap_or(1.0).max(1e-12),
    };
    if pace.stages.is_empty() {
        return Pacing::constant(pace.start.map_or(86_400.0, speed));
    }
    let stages: Vec<Stage> = pace
        .stages
        .iter()
        .map(|s| Stage {
            name: s.name.clone(),
            seconds: s.duration.as_secs_f64(),
            speed: speed(s.target),
        })
        .collect();
    Pacing::staged(pace.start.map(speed), &stages)
}

/// The target answers its health check (or the run fails now, before the fleet is built).
fn reachable(url: &str) -> Result<(), LoadError> {
    super::control::Control::new(url, &[]).reachable()
}

/// A thread that reads the senders' live counters twice a second and hands them to the view.
struct Monitor {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    /// `abort`: thresholds judged at each refresh (those whose metric is measured live).
    fn start(
        shared: Arc<sender::Shared>,
        view: Arc<dyn LiveView>,
        pacing: Pacing,
        (quiet, abort): (bool, Vec<Threshold>),
    ) -> Monitor {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = (!quiet || !abort.is_empty()).then(|| {
            std::thread::spawn(move || {
                let names = pacing.names();
                let (mut last, mut last_events) = (Instant::now(), 0);
                while !flag.load(Ordering::Acquire) {
                    std::thread::sleep(LIVE_EVERY);
                    let live = &shared.live;
                    let events = live.events_acknowledged.load(Ordering::Relaxed);
                    let now = Instant::now();
                    let seconds = now.duration_since(last).as_secs_f64().max(1e-3);
                    // Before the first events: provisioning, the fleet being built.
                    let Some(started) = shared.start() else {
                        if !quiet {
                            view.live(&LiveSnapshot::setting_up());
                        }
                        continue;
                    };
                    let elapsed = now.saturating_duration_since(started);
                    judge_live(&abort, live, elapsed);
                    if quiet {
                        continue;
                    }
                    view.live(&LiveSnapshot {
                        elapsed,
                        virtual_now: live.virtual_now.load(Ordering::Relaxed),
                        events_per_second: (events - last_events) as f64 / seconds,
                        p99_us: live.take_p99(),
                        requests: live.requests.load(Ordering::Relaxed),
                        errors: live.errors.load(Ordering::Relaxed),
                        late: live.late.load(Ordering::Relaxed),
                        stage: names[pacing.stage_at(elapsed.as_secs_f64())].clone(),
                    });
                    (last, last_events) = (now, events);
                }
            })
        });
        Monitor { stop, thread }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where the run's own outputs go when `--report-dir` is not given.
pub fn report_dir(plan: &FleetPlan) -> PathBuf {
    plan.run
        .out
        .clone()
        .unwrap_or_else(|| plan.scenario.output.dir.clone())
}

/// Answers a run must have had before a threshold may abort it: percentiles of a handful of
/// requests are noise.
const ABORT_AFTER_ANSWERS: u64 = 100;
const ABORT_AFTER: Duration = Duration::from_secs(1);

/// Judges the thresholds measured live (latency and lateness from the start, errors, error
/// rate, late starts; rates and the reconciliation only mean something at the end) and aborts
/// the run on the first that fails.
fn judge_live(abort: &[Threshold], live: &sender::Live, elapsed: Duration) {
    if abort.is_empty()
        || elapsed < ABORT_AFTER
        || live.answered.load(Ordering::Relaxed) < ABORT_AFTER_ANSWERS
    {
        return;
    }
    let so_far = SoFar(live);
    for t in abort {
        let verdict = t.check(&so_far);
        if !verdict.ok && !verdict.observed.is_nan() {
            live.abort(format!(
                "threshold {} failed {:.1} s into the run (observed {})",
                t.expression,
                elapsed.as_secs_f64(),
                verdict.observed_text
            ));
            return;
        }
    }
}

/// The run so far, as thresholds see it (NaN where a metric is judged at the end only).
struct SoFar<'a>(&'a sender::Live);

impl crate::threshold::Observations for SoFar<'_> {
    fn observe(&self, metric: crate::threshold::Metric) -> f64 {
        use crate::threshold::Metric;
        let live = self.0;
        let count = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
        match metric {
            Metric::Latency(s) => live.so_far(false, s),
            Metric::Lateness(s) => live.so_far(true, s),
            Metric::Errors => count(&live.lost),
            Metric::ErrorRate => count(&live.lost) / count(&live.requests).max(1.0),
            Metric::Late => count(&live.late),
            _ => f64::NAN,
        }
    }
}
