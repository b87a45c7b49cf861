//! `LoadArgs` → `LoadPlan`: every flag checked once, before anything is sent, so that bad
//! input is refused with exit code 2 and a message naming the flag.

use super::schedule::{Resends, Schedule};
use super::threshold::Threshold;
use super::{
    BodyMode, EventPlan, LoadArgs, LoadError, Pace, DEFAULT_MAX_MODE_REQUESTS, MAX_REQUESTS,
};
use crate::calendar::Period;
pub use crate::units::parse_duration;
use crate::units::parse_duration_or_zero;
use std::time::Duration;

const MAX_CONNECTIONS: usize = 1024;
const DEFAULT_BATCH_SIZE: u64 = 100;
const DEFAULT_CONNECTIONS: usize = 16;
const MAX_MACHINES: u32 = 1_000_000;
const MAX_BATCH_SIZE: u64 = 100_000;

/// A validated run: everything `run_load` needs.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub url: String,
    pub pace: Pace,
    pub duration: Duration,
    pub grace: Duration,
    pub timeout: Duration,
    pub connections: usize,
    /// Sender threads (event loops), at most `connections`.
    pub sender_threads: usize,
    /// Requests due (constant rate) or allowed (max).
    pub max_requests: u64,
    pub events: EventPlan,
    pub resends: Resends,
    pub admin_token: Option<String>,
    pub headers: Vec<(String, String)>,
    pub tenant: Option<String>,
    pub mint_key: bool,
    pub bodies: BodyMode,
    pub prebuild_bytes: u64,
    pub verify: bool,
    pub thresholds: Vec<Threshold>,
}

impl LoadPlan {
    pub fn from_args(args: &LoadArgs) -> Result<LoadPlan, LoadError> {
        let bad = |message: String| LoadError::BadInput(message);
        let url = parse_target(&args.target).map_err(bad)?;
        let duration = parse_duration("--duration", &args.duration).map_err(bad)?;
        let timeout = parse_duration("--timeout", &args.timeout).map_err(bad)?;
        let grace = parse_duration_or_zero("--grace", &args.grace).map_err(bad)?;
        check_counts(args).map_err(bad)?;
        let pace = parse_pace(args).map_err(bad)?;
        let max_requests = request_cap(pace, duration, args.max_requests).map_err(bad)?;
        let period = match &args.period {
            Some(text) => parse_period(text).map_err(bad)?,
            None => last_month(),
        };
        let events = EventPlan::new(args.machines, args.first_seq, batch_size(args), period)
            .ok_or_else(|| bad(format!("--period {period}: not a month")))?;
        let resends =
            Resends::new(args.duplicate_share, connections(args) as u64).ok_or_else(|| {
                bad(format!(
                    "--duplicate-share {}: must be in [0, 1)",
                    args.duplicate_share
                ))
            })?;
        let headers = args
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        check_tenant(args).map_err(bad)?;
        let thresholds = args
            .thresholds
            .iter()
            .map(|t| Threshold::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        Ok(LoadPlan {
            url,
            pace,
            duration,
            grace,
            timeout,
            connections: connections(args),
            sender_threads: args.sender_threads,
            max_requests,
            events,
            resends,
            admin_token: args.admin_token.clone().filter(|t| !t.is_empty()),
            headers,
            tenant: args.tenant.clone(),
            mint_key: args.mint_key,
            bodies: args.bodies,
            prebuild_bytes: args.prebuild_mb.min(1 << 20) * 1_000_000,
            verify: !args.no_verify,
            thresholds,
        })
    }
}

pub(super) fn parse_target(text: &str) -> Result<String, String> {
    let url = text.trim().trim_end_matches('/');
    let host = url.strip_prefix("http://").ok_or_else(|| {
        format!("--target {text:?}: use an http:// URL such as http://127.0.0.1:8080")
    })?;
    if host.is_empty() || host.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "--target {text:?}: give the base URL only, such as http://127.0.0.1:8080"
        ));
    }
    Ok(url.to_string())
}

/// Events per request: the flag, else 100.
fn batch_size(args: &LoadArgs) -> u64 {
    args.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
}

/// Connections: the flag, else 16.
fn connections(args: &LoadArgs) -> usize {
    args.connections.unwrap_or(DEFAULT_CONNECTIONS)
}

/// Events per request, connections and sender threads within their bounds (synthetic and
/// fleet-shaped runs alike).
pub(super) fn check_sizes(batch: u64, connections: usize, threads: usize) -> Result<(), String> {
    if !(1..=MAX_BATCH_SIZE).contains(&batch) {
        return Err(format!(
            "--batch-size {batch}: must be from 1 to {MAX_BATCH_SIZE}"
        ));
    }
    if !(1..=MAX_CONNECTIONS).contains(&connections) {
        return Err(format!(
            "--connections {connections}: must be from 1 to {MAX_CONNECTIONS}"
        ));
    }
    if !(1..=connections).contains(&threads) {
        return Err(format!(
            "--sender-threads {threads}: must be from 1 to --connections ({connections})"
        ));
    }
    Ok(())
}

fn check_counts(args: &LoadArgs) -> Result<(), String> {
    check_sizes(batch_size(args), connections(args), args.sender_threads)?;
    if !(1..=MAX_MACHINES).contains(&args.machines) {
        return Err(format!(
            "--machines {}: must be from 1 to {MAX_MACHINES}",
            args.machines
        ));
    }
    if args.first_seq > u64::MAX / 2 {
        return Err(format!("--first-seq {}: too large", args.first_seq));
    }
    Ok(())
}

fn parse_pace(args: &LoadArgs) -> Result<Pace, String> {
    let batch = batch_size(args);
    match (args.rate, args.request_rate, args.max) {
        (Some(rate), None, false) => Schedule::from_event_rate(rate, batch)
            .map(Pace::Rate)
            .ok_or_else(|| "--rate must be above zero".to_string()),
        (None, Some(rate), false) => Schedule::from_request_rate(rate)
            .map(Pace::Rate)
            .ok_or_else(|| "--request-rate must be above zero".to_string()),
        (None, None, true) => Ok(Pace::Max),
        _ => Err("give exactly one of --rate, --request-rate or --max".into()),
    }
}

/// The number of requests the run may send: the schedule's slots (constant rate) or a cap.
fn request_cap(pace: Pace, duration: Duration, cap: Option<u64>) -> Result<u64, String> {
    let planned = match pace {
        Pace::Rate(s) => s.slots_within(duration),
        Pace::Max => DEFAULT_MAX_MODE_REQUESTS,
    };
    let requests = cap.map_or(planned, |cap| cap.min(planned));
    if requests == 0 {
        return Err("--max-requests must be above zero".into());
    }
    if requests > MAX_REQUESTS {
        return Err(format!(
            "the run would schedule {requests} requests, at most {MAX_REQUESTS}: \
             shorten --duration, lower the rate or raise --batch-size"
        ));
    }
    Ok(requests)
}

/// The month before the current one, by the wall clock (UTC).
fn last_month() -> Period {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let this = Period::of_unix(now);
    match this.month {
        1 => Period {
            year: this.year - 1,
            month: 12,
        },
        m => Period {
            month: m - 1,
            ..this
        },
    }
}

fn parse_period(text: &str) -> Result<Period, String> {
    let bad = || format!("--period {text:?}: not a month such as 2024-03");
    let (year, month) = text.trim().split_once('-').ok_or_else(bad)?;
    if year.len() != 4 || month.len() != 2 {
        return Err(bad());
    }
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month: u32 = month.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok(Period { year, month })
}

/// `'Name: value'` → (`Name`, `value`).
/// Every `--header`, parsed.
pub(super) fn parse_headers(texts: &[String]) -> Result<Vec<(String, String)>, String> {
    texts.iter().map(|h| parse_header(h)).collect()
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("--header {text:?}: not 'NAME: VALUE'"))?;
    let name = name.trim();
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_name {
        return Err(format!("--header {text:?}: {name:?} is not a header name"));
    }
    let value = value.trim();
    if value.bytes().any(|b| b.is_ascii_control()) {
        return Err(format!("--header {name}: the value has control characters"));
    }
    Ok((name.to_string(), value.to_string()))
}

fn check_tenant(args: &LoadArgs) -> Result<(), String> {
    if let Some(tenant) = &args.tenant {
        let valid = !tenant.is_empty()
            && tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            return Err(format!(
                "--tenant {tenant:?}: use letters, digits, '-', '_' or '.'"
            ));
        }
    }
    if args.mint_key && (args.tenant.is_none() || args.admin_token.is_none()) {
        return Err("--mint-key needs --tenant and an admin token (--admin-token)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn args(extra: &[&str]) -> LoadArgs {
        let mut argv = vec!["load", "--target", "http://127.0.0.1:9"];
        argv.extend(extra);
        Cli::try_parse_from(argv).unwrap().load
    }

    fn refused(extra: &[&str]) -> String {
        match LoadPlan::from_args(&args(extra)) {
            Err(LoadError::BadInput(message)) => message,
            other => panic!("{extra:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn flags_make_a_plan() {
        let plan = LoadPlan::from_args(&args(&["--rate", "20000", "--duration", "1.5s"])).unwrap();
        assert_eq!(plan.max_requests, 300);
        assert_eq!(plan.duration, Duration::from_millis(1500));
        assert!(matches!(plan.pace, Pace::Rate(s) if s.interval() == Duration::from_millis(5)));
        let plan = LoadPlan::from_args(&args(&[
            "--max",
            "--header",
            "Authorization: Bearer k",
            "--threshold",
            "p99<10ms",
        ]))
        .unwrap();
        assert_eq!(plan.max_requests, DEFAULT_MAX_MODE_REQUESTS);
        assert_eq!(plan.headers, [("Authorization".into(), "Bearer k".into())]);
        assert_eq!(plan.thresholds.len(), 1);
    }

    #[test]
    fn bad_flags_are_refused_with_their_name() {
        assert!(refused(&["--rate", "0"]).contains("--rate"));
        assert!(refused(&["--rate", "1", "--duration", "soon"]).contains("--duration"));
        assert!(refused(&["--rate", "1", "--duration", "0s"]).contains("above zero"));
        assert!(refused(&["--rate", "1", "--grace", "soon"]).contains("--grace"));
        assert!(refused(&["--rate", "1", "--period", "2024-13"]).contains("--period"));
        assert!(refused(&["--rate", "1", "--header", "nocolon"]).contains("--header"));
        assert!(refused(&["--rate", "1", "--threshold", "p99<10"]).contains("needs a unit"));
        assert!(refused(&["--rate", "1", "--duplicate-share", "1"]).contains("[0, 1)"));
        assert!(refused(&["--rate", "1", "--connections", "0"]).contains("--connections"));
        assert!(refused(&["--rate", "1", "--mint-key"]).contains("--tenant"));
        assert!(refused(&["--rate", "1", "--tenant", "a/b"]).contains("--tenant"));
        assert!(refused(&[
            "--rate",
            "100000000",
            "--batch-size",
            "1",
            "--duration",
            "24h"
        ])
        .contains("at most"));
        let mut both = args(&["--max"]);
        both.rate = Some(5);
        assert!(LoadPlan::from_args(&both).is_err());
        let mut https = args(&["--max"]);
        https.target = "https://example.com".into();
        assert!(LoadPlan::from_args(&https).is_err());
    }
}
