//! Quantities as people write them in flags and scenario files (`10s`, `250ms`, `2m`), parsed
//! in one place for `load` and `scenario` alike.

use std::time::Duration;

/// The longest duration accepted: a day of wall time bounds every load loop.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// `10s`, `500ms`, `2m`, `1.5s`, or a bare number of seconds; above zero, at most 24 h.
pub fn parse_duration(flag: &str, text: &str) -> Result<Duration, String> {
    let duration = parse_duration_or_zero(flag, text)?;
    if duration.is_zero() {
        return Err(format!("{flag} {text:?}: must be above zero"));
    }
    Ok(duration)
}

pub fn parse_duration_or_zero(flag: &str, text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..end], t[end..].trim());
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{flag} {text:?}: not a duration such as 10s, 500ms or 2m"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "{flag} {text:?}: unknown unit {unit:?}: use ms, s, m or h"
            ))
        }
    };
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!("{flag} {text:?}: at most 24h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        let d = |t| parse_duration("--duration", t);
        assert_eq!(d("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(d("10"), Ok(Duration::from_secs(10)));
        assert_eq!(d("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(d("2m"), Ok(Duration::from_secs(120)));
        assert!(d("25h").unwrap_err().contains("at most 24h"));
        assert!(d("-1s").is_err());
        assert!(d("0ms").unwrap_err().contains("above zero"));
        assert_eq!(parse_duration_or_zero("--grace", "0s"), Ok(Duration::ZERO));
    }
}
