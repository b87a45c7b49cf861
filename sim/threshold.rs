//! Pass/fail criteria on a run's results, k6-style: `p99<10ms`, `rate>=400000`,
//! `error_rate<1%`. A violated threshold makes the run exit with `exit::THRESHOLD_FAILED`.
//!
//! Grammar: `METRIC OP VALUE`, spaces allowed around each part.
//! - METRIC: `p50`, `p99.9` or `p(99.9)` (latency quantiles measured from the schedule),
//!   `max`, `mean`; the same with a `service_` prefix for the uncorrected service time;
//!   `rate` (acknowledged events/s), `request_rate` (acknowledged requests/s), `errors`
//!   (requests not acknowledged), `error_rate` (their share of requests sent), `late`, `dropped`;
//!   `sender_lateness_p99` (…, `_max`, `_mean`: how long after its scheduled instant a request
//!   started, the sender's own delay, in fleet-shaped runs); `reconciliation` (`== ok`: the
//!   fleet's truth reconciled against what the target metered and billed, in fleet-shaped runs).
//! - OP: `<`, `<=`, `>`, `>=`, `==`.
//! - VALUE: a latency needs a unit (`ns`, `us`/`µs`, `ms`, `s`), since a bare number is
//!   ambiguous; counts and rates take an optional `k` or `M`; `error_rate` a fraction or `%`.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Statistic {
    /// A quantile in (0, 1].
    Quantile(f64),
    Max,
    Mean,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// Latency from the scheduled instant (coordinated omission corrected), microseconds.
    Latency(Statistic),
    /// Latency from the actual send (uncorrected), microseconds.
    ServiceTime(Statistic),
    EventRate,
    RequestRate,
    Errors,
    ErrorRate,
    Late,
    Dropped,
    /// How long after its scheduled instant a request started, microseconds.
    Lateness(Statistic),
    /// 1 when the run reconciled (or verified), 0 when it did not.
    Reconciliation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
}

impl Op {
    fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Less => observed < limit,
            Op::LessOrEqual => observed <= limit,
            Op::Greater => observed > limit,
            Op::GreaterOrEqual => observed >= limit,
            Op::Equal => observed == limit,
        }
    }
}

/// A parsed threshold. Latency limits are held in microseconds, rates per second, error
/// rates as fractions.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub expression: String,
    pub metric: Metric,
    pub op: Op,
    pub limit: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdError {
    pub expression: String,
    pub reason: String,
}

impl fmt::Display for ThresholdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--threshold {:?}: {}; e.g. 'p99<10ms', 'rate>=400000', 'error_rate<1%'",
            self.expression, self.reason
        )
    }
}

impl std::error::Error for ThresholdError {}

/// What a finished run measured, as thresholds see it.
pub trait Observations {
    fn observe(&self, metric: Metric) -> f64;
}

/// One threshold checked against a run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub expression: String,
    pub ok: bool,
    /// In the metric's unit: microseconds for latencies, per second for rates.
    pub observed: f64,
    /// The observed value as a person reads it, e.g. "3.21 ms".
    pub observed_text: String,
}

impl Threshold {
    pub fn parse(expression: &str) -> Result<Threshold, ThresholdError> {
        let fail = |reason: String| ThresholdError {
            expression: expression.to_string(),
            reason,
        };
        let at = expression
            .find(['<', '>', '='])
            .ok_or_else(|| fail("no comparison: use <, <=, >, >= or ==".into()))?;
        let (name, rest) = expression.split_at(at);
        let (op, value) = split_op(rest).map_err(fail)?;
        let metric = parse_metric(name.trim()).map_err(fail)?;
        let limit = parse_value(metric, value.trim()).map_err(fail)?;
        Ok(Threshold {
            expression: expression.trim().to_string(),
            metric,
            op,
            limit,
        })
    }

    pub fn check(&self, run: &impl Observations) -> Verdict {
        let observed = run.observe(self.metric);
        Verdict {
            expression: self.expression.clone(),
            ok: self.op.holds(observed, self.limit),
            observed,
            observed_text: render(self.metric, observed),
        }
    }
}

fn split_op(text: &str) -> Result<(Op, &str), String> {
    let ops = [
        ("<=", Op::LessOrEqual),
        (">=", Op::GreaterOrEqual),
        ("==", Op::Equal),
        ("<", Op::Less),
        (">", Op::Greater),
    ];
    let (symbol, op) = ops
        .iter()
        .find(|(symbol, _)| text.starts_with(symbol))
        .ok_or_else(|| "a single = is not a comparison: use ==".to_string())?;
    let value = &text[symbol.len()..];
    if value.trim_start().starts_with(['<', '>', '=']) {
        return Err(format!(
            "{text:?} is not one comparison: use <, <=, >, >= or =="
        ));
    }
    Ok((*op, value))
}

const METRICS: &str = "p50, p99.9, p(99.9), max, mean, service_p99 (…), rate, request_rate, \
                       errors, error_rate, late, dropped, sender_lateness_p99 (…), reconciliation";

fn parse_metric(name: &str) -> Result<Metric, String> {
    let lower = name.to_ascii_lowercase();
    let unknown = || format!("unknown metric {name:?}: use {METRICS}");
    if let Some(stat) = lower.strip_prefix("service_") {
        return parse_statistic(stat)
            .map(Metric::ServiceTime)
            .ok_or_else(unknown);
    }
    if let Some(stat) = lower.strip_prefix("sender_lateness_") {
        return parse_statistic(stat)
            .map(Metric::Lateness)
            .ok_or_else(unknown);
    }
    match lower.as_str() {
        "" => Err(format!("no metric before the comparison: use {METRICS}")),
        "rate" => Ok(Metric::EventRate),
        "request_rate" | "rps" => Ok(Metric::RequestRate),
        "errors" => Ok(Metric::Errors),
        "error_rate" => Ok(Metric::ErrorRate),
        "late" => Ok(Metric::Late),
        "dropped" => Ok(Metric::Dropped),
        "reconciliation" => Ok(Metric::Reconciliation),
        _ => parse_statistic(&lower)
            .map(Metric::Latency)
            .ok_or_else(unknown),
    }
}

/// `p99`, `p99.9`, `p(99.9)`, `max`, `mean`.
fn parse_statistic(text: &str) -> Option<Statistic> {
    match text {
        "max" => return Some(Statistic::Max),
        "mean" | "avg" => return Some(Statistic::Mean),
        _ => {}
    }
    let digits = text.strip_prefix('p')?;
    let digits = digits
        .strip_prefix('(')
        .and_then(|d| d.strip_suffix(')'))
        .unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let percent: f64 = digits.parse().ok()?;
    (percent > 0.0 && percent <= 100.0).then_some(Statistic::Quantile(percent / 100.0))
}

fn parse_value(metric: Metric, text: &str) -> Result<f64, String> {
    if text.is_empty() {
        return Err("no value after the comparison".into());
    }
    match metric {
        Metric::Latency(_) | Metric::ServiceTime(_) | Metric::Lateness(_) => {
            parse_latency_micros(text)
        }
        Metric::ErrorRate => parse_fraction(text),
        Metric::Reconciliation => parse_status(text),
        _ => parse_count(text),
    }
}

/// `reconciliation == ok` (or `== failed`): 1 for ok, 0 for failed.
fn parse_status(text: &str) -> Result<f64, String> {
    match text.to_ascii_lowercase().as_str() {
        "ok" => Ok(1.0),
        "failed" => Ok(0.0),
        _ => Err(format!(
            "reconciliation compares with ok or failed, not {text:?}: write reconciliation == ok"
        )),
    }
}

fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    (&text[..end], text[end..].trim())
}

fn number(digits: &str, text: &str) -> Result<f64, String> {
    digits
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{text:?} is not a number"))
}

fn parse_latency_micros(text: &str) -> Result<f64, String> {
    let (digits, unit) = split_number(text);
    let value = number(digits, text)?;
    let scale = match unit {
        "ns" => 1e-3,
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "" => {
            return Err(format!(
                "latency {text:?} needs a unit: ns, us, ms or s (e.g. {text}ms)"
            ))
        }
        _ => {
            return Err(format!(
                "unknown latency unit {unit:?}: use ns, us, ms or s"
            ))
        }
    };
    Ok(value * scale)
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    let (digits, unit) = split_number(text);
    let value = number(digits, text)?;
    match unit {
        "%" => Ok(value / 100.0),
        "" if value <= 1.0 => Ok(value),
        "" => Err(format!(
            "error_rate {text:?} is a fraction from 0 to 1, or a percentage such as 1%"
        )),
        _ => Err(format!(
            "unknown unit {unit:?}: error_rate takes a fraction or %"
        )),
    }
}

fn parse_count(text: &str) -> Result<f64, String> {
    let (digits, unit) = split_number(text);
    let value = number(digits, text)?;
    match unit {
        "" => Ok(value),
        "k" => Ok(value * 1e3),
        "M" => Ok(value * 1e6),
        _ => Err(format!("unknown suffix {unit:?}: use k or M, or none")),
    }
}

/// A metric's value as a person reads it.
pub fn render(metric: Metric, value: f64) -> String {
    match metric {
        _ if value.is_nan() => "not measured in this mode".to_string(),
        Metric::Latency(_) | Metric::ServiceTime(_) | Metric::Lateness(_) => render_micros(value),
        Metric::Reconciliation if value == 1.0 => "ok".to_string(),
        Metric::Reconciliation => "failed".to_string(),
        Metric::EventRate => format!("{value:.0} events/s"),
        Metric::RequestRate => format!("{value:.0} requests/s"),
        Metric::ErrorRate => format!("{:.3}%", value * 100.0),
        Metric::Errors | Metric::Late | Metric::Dropped => format!("{value:.0}"),
    }
}

/// Microseconds as µs, ms or s with three significant digits or so.
pub fn render_micros(micros: f64) -> String {
    if micros < 1_000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (Metric, Op, f64) {
        let t = Threshold::parse(text).unwrap_or_else(|e| panic!("{e}"));
        (t.metric, t.op, t.limit)
    }

    fn refused(text: &str) -> String {
        Threshold::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn latency_quantiles_with_units() {
        let q = |q| Metric::Latency(Statistic::Quantile(q));
        assert_eq!(parsed("p99<10ms"), (q(0.99), Op::Less, 10_000.0));
        assert_eq!(
            parsed(" p(99.9) <= 2.5 s "),
            (q(99.9 / 100.0), Op::LessOrEqual, 2.5e6)
        );
        assert_eq!(parsed("p50<800us"), (q(0.5), Op::Less, 800.0));
        assert_eq!(parsed("p50<800µs"), (q(0.5), Op::Less, 800.0));
        assert_eq!(parsed("p100<1ns"), (q(1.0), Op::Less, 0.001));
        assert_eq!(
            parsed("max<1s"),
            (Metric::Latency(Statistic::Max), Op::Less, 1e6)
        );
        assert_eq!(
            parsed("service_p99<3ms"),
            (
                Metric::ServiceTime(Statistic::Quantile(0.99)),
                Op::Less,
                3000.0
            )
        );
    }

    #[test]
    fn rates_counts_and_shares() {
        assert_eq!(
            parsed("rate>=400000"),
            (Metric::EventRate, Op::GreaterOrEqual, 400_000.0)
        );
        assert_eq!(
            parsed("rate>=400k"),
            (Metric::EventRate, Op::GreaterOrEqual, 400_000.0)
        );
        assert_eq!(
            parsed("request_rate>2.5k"),
            (Metric::RequestRate, Op::Greater, 2_500.0)
        );
        assert_eq!(parsed("errors==0"), (Metric::Errors, Op::Equal, 0.0));
        assert_eq!(parsed("error_rate<1%"), (Metric::ErrorRate, Op::Less, 0.01));
        assert_eq!(parsed("error_rate<0.5"), (Metric::ErrorRate, Op::Less, 0.5));
        assert_eq!(parsed("dropped<1"), (Metric::Dropped, Op::Less, 1.0));
        assert_eq!(parsed("late<=10"), (Metric::Late, Op::LessOrEqual, 10.0));
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        assert!(refused("p99").contains("no comparison"));
        assert!(refused("p99<10").contains("needs a unit"));
        assert!(refused("p99<10 parsecs").contains("unknown latency unit"));
        assert!(refused("p99<<10ms").contains("not one comparison"));
        assert!(refused("p99=10ms").contains("use =="));
        assert!(refused("p999.9<1ms").contains("unknown metric"));
        assert!(refused("p0<1ms").contains("unknown metric"));
        assert!(refused("latency<1ms").contains("unknown metric"));
        assert!(refused("<1ms").contains("no metric"));
        assert!(refused("rate>").contains("no value"));
        assert!(refused("rate>fast").contains("not a number"));
        assert!(refused("rate>1.2.3").contains("not a number"));
        assert!(refused("rate>5G").contains("unknown suffix"));
        assert!(refused("error_rate<5").contains("fraction"));
        assert!(refused("p99<10").starts_with("--threshold \"p99<10\": "));
    }

    struct Fixed;
    impl Observations for Fixed {
        fn observe(&self, metric: Metric) -> f64 {
            match metric {
                Metric::Latency(_) => 3_210.0,
                Metric::EventRate => 20_000.0,
                _ => 0.0,
            }
        }
    }

    #[test]
    fn verdicts_compare_and_render() {
        let v = Threshold::parse("p99<10ms").unwrap().check(&Fixed);
        assert!(v.ok);
        assert_eq!(v.observed_text, "3.21 ms");
        let v = Threshold::parse("rate>=400k").unwrap().check(&Fixed);
        assert!(!v.ok);
        assert_eq!(v.observed_text, "20000 events/s");
        assert!(Threshold::parse("errors==0").unwrap().check(&Fixed).ok);
        assert!(!Threshold::parse("p99<1us").unwrap().check(&Fixed).ok);
    }
}
