//! Typed events straight to CloudEvents JSON bytes — the same bytes `serde_json` writes for
//! `to_cloudevent`'s `CloudEvent`s (the tests compare them), without building a `CloudEvent`
//! of owned strings and a `serde_json::Value` per event first. Senders (`run --target`,
//! `fleetsim load`) build a body per request, so this is on their hot path.

use super::{EventBody, Frame, Health, Material, UsageEvent, SOURCE_PREFIX};
use super::{TYPE_COUNTER, TYPE_MOUNTING, TYPE_TRACE_ONLY};
use chrono::{DateTime, Datelike, SecondsFormat, Timelike};

/// Bytes one event takes, about (to size the buffer once).
const BYTES_PER_EVENT: usize = 300;

/// A batch body: a JSON array of structured-mode CloudEvents.
pub fn batch_json(events: &[UsageEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + events.len() * BYTES_PER_EVENT);
    out.push(b'[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_event(&mut out, e);
    }
    out.push(b']');
    out
}

/// One event, as a JSON object.
pub fn event_json(e: &UsageEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(BYTES_PER_EVENT);
    write_event(&mut out, e);
    out
}

fn write_event(out: &mut Vec<u8>, e: &UsageEvent) {
    out.extend_from_slice(br#"{"specversion":"1.0","id":""#);
    write_tagged(out, b'M', e.machine.0);
    out.push(b'-');
    write_number(out, e.seq);
    out.extend_from_slice(br#"","source":""#);
    out.extend_from_slice(SOURCE_PREFIX.as_bytes());
    write_tagged(out, b'M', e.machine.0);
    out.extend_from_slice(br#"","type":""#);
    out.extend_from_slice(type_of(&e.body).as_bytes());
    out.extend_from_slice(br#"","time":""#);
    write_time(out, e.time);
    out.extend_from_slice(br#"","subject":""#);
    write_tagged(out, b'S', e.shop.0);
    out.extend_from_slice(br#"","datacontenttype":"application/json","data":"#);
    write_data(out, &e.body);
    out.push(b'}');
}

fn type_of(body: &EventBody) -> &'static str {
    match body {
        EventBody::Mounting { .. } => TYPE_MOUNTING,
        EventBody::TraceOnly { .. } => TYPE_TRACE_ONLY,
        EventBody::Counter { .. } => TYPE_COUNTER,
    }
}

/// The data object, keys in the order serde writes them: `to_cloudevent` holds data as a
/// `serde_json::Value`, whose map sorts its keys.
fn write_data(out: &mut Vec<u8>, body: &EventBody) {
    match *body {
        EventBody::Mounting {
            frame,
            material,
            remake,
        } => {
            out.extend_from_slice(br#"{"billable":true,"frame":""#);
            out.extend_from_slice(frame_name(frame).as_bytes());
            out.extend_from_slice(br#"","material":""#);
            out.extend_from_slice(material_name(material).as_bytes());
            out.extend_from_slice(br#"","remake":"#);
            out.extend_from_slice(if remake { b"true}" } else { b"false}" });
        }
        EventBody::TraceOnly { frame } => {
            out.extend_from_slice(br#"{"billable":false,"frame":""#);
            out.extend_from_slice(frame_name(frame).as_bytes());
            out.extend_from_slice(br#""}"#);
        }
        EventBody::Counter {
            total_cycles,
            mountings,
            trace_only,
            removal,
            health,
        } => {
            out.push(b'{');
            // Only when reported (serde skips `None`): every other reading keeps its bytes.
            if let Some(h) = health {
                write_health(out, h);
                out.push(b',');
            }
            out.extend_from_slice(br#""mountings":"#);
            write_number(out, mountings);
            // Only when true (serde skips a false one): end-of-day reads keep their bytes.
            if removal {
                out.extend_from_slice(br#","removal":true"#);
            }
            out.extend_from_slice(br#","total_cycles":"#);
            write_number(out, total_cycles);
            out.extend_from_slice(br#","trace_only":"#);
            write_number(out, trace_only);
            out.push(b'}');
        }
    }
}

/// `"health":{…}`, keys sorted as serde's map writes them.
fn write_health(out: &mut Vec<u8>, h: Health) {
    out.extend_from_slice(br#""health":{"#);
    if let Some(cause) = h.warning {
        out.extend_from_slice(br#""warning":""#);
        out.extend_from_slice(cause.as_str().as_bytes());
        out.extend_from_slice(br#"","#);
    }
    out.extend_from_slice(br#""wheel_wear_permille":"#);
    write_number(out, u64::from(h.wheel_wear_permille));
    out.push(b'}');
}

/// Wire names as the serde attributes spell them (the tests compare all of them).
fn frame_name(frame: Frame) -> &'static str {
    match frame {
        Frame::FullRim => "full_rim",
        Frame::Grooved => "grooved",
        Frame::Drilled => "drilled",
    }
}

fn material_name(material: Material) -> &'static str {
    match material {
        Material::Index150 => "index_150",
        Material::Index160 => "index_160",
        Material::Index167 => "index_167",
        Material::Polycarbonate => "polycarbonate",
        Material::Mineral => "mineral",
    }
}

/// `M000042`, `S000042`: the tag, then at least six digits, as `Display` renders ids.
fn write_tagged(out: &mut Vec<u8>, tag: u8, id: u32) {
    out.push(tag);
    write_padded(out, u64::from(id), 6);
}

fn write_number(out: &mut Vec<u8>, n: u64) {
    write_padded(out, n, 1);
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn write_padded(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while n > 0 || at > digits.len() - width {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[at..]);
}

/// RFC 3339 in UTC to the second (`2024-03-01T10:00:00Z`), as `to_cloudevent` writes it; years
/// outside 0..=9999, which chrono writes with a sign, and instants chrono cannot represent
/// (written as an empty string) go through chrono itself.
fn write_time(out: &mut Vec<u8>, unix: i64) {
    let Some(t) = DateTime::from_timestamp(unix, 0) else {
        return;
    };
    if !(0..=9999).contains(&t.year()) {
        let text = t.to_rfc3339_opts(SecondsFormat::Secs, true);
        out.extend_from_slice(text.as_bytes());
        return;
    }
    write_padded(out, t.year() as u64, 4);
    for (separator, value) in [
        (b'-', t.month()),
        (b'-', t.day()),
        (b'T', t.hour()),
        (b':', t.minute()),
        (b':', t.second()),
    ] {
        out.push(separator);
        write_padded(out, u64::from(value), 2);
    }
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::super::to_cloudevent;
    use super::*;
    use crate::event::{MachineId, ShopId};
    use proptest::prelude::*;

    fn any_event() -> impl Strategy<Value = UsageEvent> {
        let body = super::super::decode::tests::any_body();
        // Any instant at all, so that chrono's own cases (signed years, out of range) show.
        let time = prop_oneof![
            946_684_800i64..4_102_444_800,
            any::<i64>(),
            -62_167_219_200i64..-62_135_596_800,
            253_402_300_799i64..253_402_300_900,
        ];
        (any::<u32>(), any::<u64>(), time, any::<u32>(), body).prop_map(
            |(machine, seq, time, shop, body)| UsageEvent {
                machine: MachineId(machine),
                seq,
                time,
                shop: ShopId(shop),
                body,
            },
        )
    }

    fn with_serde(events: &[UsageEvent]) -> Vec<u8> {
        serde_json::to_vec(&events.iter().map(to_cloudevent).collect::<Vec<_>>()).unwrap()
    }

    proptest! {
        #[test]
        fn batches_are_the_bytes_serde_writes(events in prop::collection::vec(any_event(), 0..8)) {
            prop_assert_eq!(
                String::from_utf8(batch_json(&events)).unwrap(),
                String::from_utf8(with_serde(&events)).unwrap()
            );
        }

        #[test]
        fn one_event_is_the_bytes_serde_writes(e in any_event()) {
            prop_assert_eq!(event_json(&e), serde_json::to_vec(&to_cloudevent(&e)).unwrap());
        }
    }

    #[test]
    fn every_frame_and_material_has_its_serde_name() {
        for frame in Frame::ALL {
            assert_eq!(serde_json::to_value(frame).unwrap(), frame_name(frame));
        }
        for material in Material::ALL {
            assert_eq!(
                serde_json::to_value(material).unwrap(),
                material_name(material)
            );
        }
    }
}
