//! The optional `health` object of a counter reading's data:
//! `"health":{"warning":"water_pump","wheel_wear_permille":640}`. Written only when the machine
//! reports health (so every other reading keeps its bytes), read the same way by every
//! decoding step: the reference and the serde visitor call `from_value`, the scanner reads the
//! same two fields and declines anything else.

use super::Health;
use crate::service::Cause;
use serde::Serialize;
use serde_json::Value;

/// Health as `to_cloudevent` renders it (a `Value`, whose map sorts the keys).
#[derive(Serialize)]
pub(super) struct HealthData {
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<Cause>,
    wheel_wear_permille: u16,
}

impl HealthData {
    pub(super) fn of(h: Health) -> HealthData {
        HealthData {
            warning: h.warning,
            wheel_wear_permille: h.wheel_wear_permille,
        }
    }
}

/// What `health` may hold, said in every refusal.
const SHAPE: &str = r#"{"wheel_wear_permille":640,"warning":"water_pump"}"#;

/// Reads a `health` value. Unknown keys inside it are ignored, as unknown data fields are
/// (a later machine may report more); a known one must be what the wire allows. The message
/// names the field's path and what is allowed.
pub(super) fn from_value(value: &Value) -> Result<Health, String> {
    let Some(object) = value.as_object() else {
        return Err(format!(
            "health must be an object such as {SHAPE} (leave it out when the machine reports \
             no health), got {}",
            shown(value)
        ));
    };
    let wear = object
        .get("wheel_wear_permille")
        .ok_or_else(|| format!("health.wheel_wear_permille is missing: {}", wear_rule()))?;
    let wheel_wear_permille = wear
        .as_u64()
        .and_then(|w| u16::try_from(w).ok())
        .filter(|&w| w <= Health::WORN_OUT)
        .ok_or_else(|| {
            format!(
                "health.wheel_wear_permille must be {}, got {}",
                wear_rule(),
                shown(wear)
            )
        })?;
    let warning = match object.get("warning") {
        None => None,
        Some(w) => Some(w.as_str().and_then(Cause::parse).ok_or_else(|| {
            format!(
                "health.warning must be one of {} (leave it out when there is none), got {}",
                cause_names(),
                shown(w)
            )
        })?),
    };
    Ok(Health {
        wheel_wear_permille,
        warning,
    })
}

fn wear_rule() -> String {
    format!(
        "a whole number from 0 to {} (thousandths of the grinding wheels' life: 0 new, {} worn out)",
        Health::WORN_OUT,
        Health::WORN_OUT
    )
}

fn cause_names() -> String {
    Cause::ALL.map(Cause::as_str).join(", ")
}

/// A value as JSON, cut short: a refusal quotes what it refused without echoing a huge body.
fn shown(value: &Value) -> String {
    const MAX_CHARS: usize = 40;
    let text = value.to_string();
    match text.char_indices().nth(MAX_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_cause_reads_back_from_its_wire_name() {
        for cause in Cause::ALL {
            let h = Health {
                wheel_wear_permille: 1000,
                warning: Some(cause),
            };
            let value = serde_json::to_value(HealthData::of(h)).unwrap();
            assert_eq!(value["warning"], cause.as_str());
            assert_eq!(from_value(&value), Ok(h));
        }
    }

    #[test]
    fn a_malformed_health_names_the_field_and_what_is_allowed() {
        for (bad, says) in [
            (json!(640), "health must be an object"),
            (Value::Null, "health must be an object"),
            (
                json!({"warning": "water_pump"}),
                "health.wheel_wear_permille is missing",
            ),
            (json!({"wheel_wear_permille": 1001}), "from 0 to 1000"),
            (json!({"wheel_wear_permille": -1}), "got -1"),
            (json!({"wheel_wear_permille": 6.5}), "got 6.5"),
            (json!({"wheel_wear_permille": "640"}), r#"got "640""#),
            (json!({"wheel_wear_permille": 70000}), "got 70000"),
            (
                json!({"wheel_wear_permille": 1, "warning": "pump"}),
                "health.warning must be one of tools_wear, clamping",
            ),
            (
                json!({"wheel_wear_permille": 1, "warning": null}),
                "got null",
            ),
        ] {
            let refused = from_value(&bad).expect_err(&bad.to_string());
            assert!(refused.contains(says), "{bad}: {refused}");
        }
        let long = json!({"wheel_wear_permille": "x".repeat(500)});
        let refused = from_value(&long).unwrap_err();
        assert!(
            refused.len() < 300,
            "the refusal quotes a huge value whole: {refused}"
        );
    }

    #[test]
    fn unknown_fields_inside_health_are_ignored() {
        let value = json!({"wheel_wear_permille": 0, "spindle_hours": 1200});
        assert_eq!(
            from_value(&value),
            Ok(Health {
                wheel_wear_permille: 0,
                warning: None
            })
        );
    }
}
