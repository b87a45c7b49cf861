//! CloudEvents over HTTP in *binary* content mode (HTTP protocol binding 1.0, §3.1): the
//! attributes travel in `ce-*` headers and the body is the event's `data`, typed by the
//! `Content-Type` header. One event per request.
//!
//! Decoded into the same `CloudEvent` the structured mode reads, then through the same
//! `from_cloudevent`: the same checks, the same errors, the same typed event. What is
//! particular to the mode is said here: a missing header, a header value that does not
//! decode (a quoted string, then percent-encoding, then UTF-8, as §3.1.3.2 requires), a
//! `ce-datacontenttype` header (forbidden: the data's type is the `Content-Type`), data that
//! is not JSON.

use super::{from_cloudevent, CloudEvent, UsageEvent, WireError};

/// The attributes fleetsim's events require, in the order they are reported missing.
const REQUIRED: [&str; 6] = ["specversion", "id", "source", "type", "time", "subject"];

/// The only type of data fleetsim's events carry.
pub const DATA_CONTENT_TYPE: &str = "application/json";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BinaryError {
    #[error(
        "header ce-{0} is missing: binary mode carries each attribute in its own header \
         (ce-specversion, ce-id, ce-source, ce-type, ce-time, ce-subject)"
    )]
    Missing(&'static str),
    #[error("header ce-{0} is sent twice")]
    Repeated(String),
    #[error("header ce-{name}: {why}")]
    Header { name: String, why: String },
    #[error(
        "header ce-datacontenttype must not be sent in binary mode: the data's type is the \
         Content-Type header"
    )]
    DataContentTypeHeader,
    /// The body is not of a type fleetsim reads (the server answers 415).
    #[error(
        "Content-Type {0:?}: the data of a binary-mode event is {DATA_CONTENT_TYPE} (or send \
         the whole event as application/cloudevents+json)"
    )]
    ContentType(String),
    #[error("data is not JSON: {0}")]
    Data(String),
    #[error(transparent)]
    Event(#[from] WireError),
}

/// Whether a request is in binary mode: its media type is not a CloudEvents format and it
/// carries `ce-` headers (header names as HTTP gives them, any case).
pub fn is_binary<'a>(media_type: &str, mut header_names: impl Iterator<Item = &'a str>) -> bool {
    !media_type
        .trim()
        .to_ascii_lowercase()
        .starts_with("application/cloudevents")
        && header_names.any(|name| attribute_of(name).is_some())
}

/// One binary-mode event from the request's headers (name, raw value), its `Content-Type`
/// and its body.
pub fn from_binary<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<UsageEvent, BinaryError> {
    let content_type = content_type.unwrap_or("");
    if !is_json(content_type) {
        return Err(BinaryError::ContentType(content_type.to_string()));
    }
    let mut found: [Option<String>; 6] = Default::default();
    for (name, value) in headers {
        let Some(attribute) = attribute_of(name) else {
            continue;
        };
        if attribute == "datacontenttype" {
            return Err(BinaryError::DataContentTypeHeader);
        }
        // Other attributes are extensions: decoded (so a malformed one is caught), ignored.
        let decoded = header_value(&attribute, value)?;
        if let Some(slot) = REQUIRED.iter().position(|r| *r == attribute) {
            if found[slot].replace(decoded).is_some() {
                return Err(BinaryError::Repeated(attribute));
            }
        }
    }
    let [specversion, id, source, kind, time, subject] = take_required(found)?;
    let data = serde_json::from_slice(body).map_err(|e| BinaryError::Data(e.to_string()))?;
    let event = CloudEvent {
        specversion,
        id,
        source,
        kind,
        time,
        subject,
        datacontenttype: Some(content_type.to_string()),
        data,
    };
    Ok(from_cloudevent(&event)?)
}

/// The attribute a header carries (`ce-id` → `id`), lower-cased; `None` for other headers.
fn attribute_of(header: &str) -> Option<String> {
    let prefix = header.get(..3)?;
    (prefix.eq_ignore_ascii_case("ce-") && header.len() > 3)
        .then(|| header[3..].to_ascii_lowercase())
}

fn take_required(found: [Option<String>; 6]) -> Result<[String; 6], BinaryError> {
    let mut out: [String; 6] = Default::default();
    for (i, value) in found.into_iter().enumerate() {
        out[i] = value.ok_or(BinaryError::Missing(REQUIRED[i]))?;
    }
    Ok(out)
}

/// `application/json`, with at most a UTF-8 charset (JSON is UTF-8).
fn is_json(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    media.eq_ignore_ascii_case(DATA_CONTENT_TYPE)
        && parts.all(|p| {
            let (key, value) = p.split_once('=').unwrap_or((p, ""));
            key.trim().eq_ignore_ascii_case("charset")
                && value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        })
}

/// A header value as §3.1.3.2 says to read it: a double-quoted string is unquoted (its
/// backslash escapes undone), then one round of percent-decoding, and the bytes must be
/// UTF-8 (an overlong or otherwise invalid sequence is refused).
fn header_value(attribute: &str, raw: &[u8]) -> Result<String, BinaryError> {
    let bad = |why: String| BinaryError::Header {
        name: attribute.to_string(),
        why,
    };
    let unquoted = unquote(raw).map_err(|why| bad(why.to_string()))?;
    let decoded = percent_decode(&unquoted).map_err(|why| bad(why.to_string()))?;
    String::from_utf8(decoded).map_err(|_| {
        bad(
            "its percent-decoded bytes are not UTF-8 (encode each character's UTF-8 bytes as %XX)"
                .into(),
        )
    })
}

fn unquote(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let Some(inner) = raw.strip_prefix(b"\"") else {
        return Ok(raw.to_vec());
    };
    let inner = inner
        .strip_suffix(b"\"")
        .ok_or("a quoted value must end with a double quote")?;
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => out.push(*bytes.next().ok_or("a backslash ends the quoted value")?),
            b'"' => return Err("a double quote inside a quoted value must be escaped"),
            _ => out.push(b),
        }
    }
    Ok(out)
}

fn percent_decode(text: &[u8]) -> Result<Vec<u8>, &'static str> {
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'%' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let (high, low) = match text.get(i + 1..i + 3) {
            Some(&[h, l]) => (hex(h), hex(l)),
            _ => (None, None),
        };
        let (Some(high), Some(low)) = (high, low) else {
            return Err("'%' must start a percent-encoded byte, %XX with two hexadecimal digits");
        };
        out.push(high << 4 | low);
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{to_cloudevent, EventBody, Frame, Health, Material, TYPE_COUNTER};
    use super::*;
    use crate::event::{MachineId, ShopId};

    fn sample() -> UsageEvent {
        UsageEvent {
            machine: MachineId(42),
            seq: 7,
            time: 1_709_287_200,
            shop: ShopId(41),
            body: EventBody::Mounting {
                frame: Frame::Grooved,
                material: Material::Index160,
                remake: false,
            },
        }
    }

    /// The headers an SDK writes for `sample()` (Go, Java and JavaScript write these names;
    /// the case differs between SDKs, and HTTP ignores it).
    fn sdk_headers() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("Ce-Specversion", b"1.0".to_vec()),
            ("ce-id", b"M000042-7".to_vec()),
            ("ce-source", b"/fleetsim/machines/M000042".to_vec()),
            ("ce-type", b"com.fleetsim.edger.mounting.v1".to_vec()),
            ("ce-time", b"2024-03-01T10:00:00.000Z".to_vec()),
            ("ce-subject", b"S000041".to_vec()),
            (
                "ce-traceparent",
                b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_vec(),
            ),
            ("user-agent", b"cloudevents-sdk".to_vec()),
        ]
    }

    fn data() -> Vec<u8> {
        serde_json::to_vec(&to_cloudevent(&sample()).data).unwrap()
    }

    fn decode(
        headers: &[(&'static str, Vec<u8>)],
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<UsageEvent, BinaryError> {
        from_binary(
            headers.iter().map(|(n, v)| (*n, v.as_slice())),
            content_type,
            body,
        )
    }

    fn with(name: &'static str, value: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        let mut headers: Vec<_> = sdk_headers()
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
            .collect();
        headers.push((name, value.to_vec()));
        headers
    }

    #[test]
    fn the_headers_an_sdk_writes_decode_to_the_structured_event() {
        for content_type in ["application/json", "application/json; charset=utf-8"] {
            assert_eq!(
                decode(&sdk_headers(), Some(content_type), &data()),
                Ok(sample()),
                "{content_type}"
            );
        }
        let names = || sdk_headers().into_iter().map(|(n, _)| n);
        assert!(is_binary("application/json", names()));
        assert!(!is_binary("application/cloudevents+json", names()));
        assert!(!is_binary("application/cloudevents-batch+json", names()));
        assert!(!is_binary("application/json", ["user-agent"].into_iter()));
    }

    #[test]
    fn values_are_percent_decoded_and_unquoted() {
        // "+" stays a plus (this is not form encoding); %3A is ':'; lower-case hex is fine.
        let encoded = with("ce-time", b"2024-03-01T11%3a00%3A00+01:00");
        assert_eq!(
            decode(&encoded, Some("application/json"), &data()),
            Ok(sample())
        );
        let quoted = with("ce-subject", br#""S0000\41""#);
        assert_eq!(
            decode(&quoted, Some("application/json"), &data()),
            Ok(sample())
        );
        let needless = with("ce-id", b"%4D000042-7");
        assert_eq!(
            decode(&needless, Some("application/json"), &data()),
            Ok(sample())
        );
        // A percent-encoded UTF-8 subject decodes, and is then refused as not a shop id.
        let euro = with("ce-subject", b"S%E2%82%AC");
        assert_eq!(
            decode(&euro, Some("application/json"), &data()),
            Err(BinaryError::Event(WireError::Subject("S€".into())))
        );
    }

    #[test]
    fn bad_headers_are_refused_saying_which_and_why() {
        let json = Some("application/json");
        let without_id: Vec<_> = sdk_headers()
            .into_iter()
            .filter(|(n, _)| *n != "ce-id")
            .collect();
        assert_eq!(
            decode(&without_id, json, &data()),
            Err(BinaryError::Missing("id"))
        );
        let bad_time = with("ce-time", b"yesterday");
        assert_eq!(
            decode(&bad_time, json, &data()),
            Err(BinaryError::Event(WireError::Time("yesterday".into())))
        );
        for (raw, why) in [
            (&b"S%4"[..], "'%' must start"),
            (b"S%zz", "'%' must start"),
            (b"S%+f", "'%' must start"),
            (b"S%C0%A0", "not UTF-8"),
            (b"\"S000041", "must end with a double quote"),
        ] {
            let refused = decode(&with("ce-subject", raw), json, &data());
            let Err(BinaryError::Header { name, why: said }) = &refused else {
                panic!("{raw:?}: {refused:?}");
            };
            assert_eq!(name, "subject");
            assert!(said.contains(why), "{raw:?}: {said}");
        }
        let mut twice = sdk_headers();
        twice.push(("ce-id", b"M000042-8".to_vec()));
        assert_eq!(
            decode(&twice, json, &data()),
            Err(BinaryError::Repeated("id".into()))
        );
        let typed = with("ce-datacontenttype", b"application/json");
        assert_eq!(
            decode(&typed, json, &data()),
            Err(BinaryError::DataContentTypeHeader)
        );
        let bad_extension = with("ce-note", b"%");
        assert!(matches!(
            decode(&bad_extension, json, &data()),
            Err(BinaryError::Header { name, .. }) if name == "note"
        ));
    }

    /// The body is the data, so a reading's health travels in it as in structured mode, and
    /// a body without it (every sender before health existed) still decodes.
    #[test]
    fn a_readings_health_travels_in_the_body_and_is_checked_alike() {
        let reading = |health| UsageEvent {
            body: EventBody::Counter {
                total_cycles: 12,
                mountings: 9,
                trace_only: 3,
                removal: false,
                health,
            },
            ..sample()
        };
        let headers = with("ce-type", TYPE_COUNTER.as_bytes());
        let json = Some("application/json");
        let worn = Some(Health {
            wheel_wear_permille: 640,
            warning: Some(crate::service::Cause::SpindleMotor),
        });
        for health in [worn, None] {
            let body = serde_json::to_vec(&to_cloudevent(&reading(health)).data).unwrap();
            assert_eq!(decode(&headers, json, &body), Ok(reading(health)));
        }
        let old = br#"{"mountings":9,"total_cycles":12,"trace_only":3}"#;
        assert_eq!(decode(&headers, json, old), Ok(reading(None)));
        let bad = br#"{"health":{"wheel_wear_permille":640,"warning":"smoke"},"mountings":9,"total_cycles":12,"trace_only":3}"#;
        let Err(BinaryError::Event(WireError::Data { message, .. })) = decode(&headers, json, bad)
        else {
            panic!("an unknown warning was accepted in binary mode");
        };
        assert!(
            message.starts_with("health.warning must be one of"),
            "{message}"
        );
    }

    #[test]
    fn the_data_must_be_json_of_the_events_type() {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/json; charset=latin-1"),
        ] {
            assert_eq!(
                decode(&sdk_headers(), content_type, &data()),
                Err(BinaryError::ContentType(content_type.unwrap_or("").into()))
            );
        }
        let json = Some("application/json");
        assert!(matches!(
            decode(&sdk_headers(), json, b"{\"frame\":"),
            Err(BinaryError::Data(_))
        ));
        let counter = with("ce-type", TYPE_COUNTER.as_bytes());
        let Err(BinaryError::Event(WireError::Data { kind, .. })) = decode(&counter, json, &data())
        else {
            panic!("mounting data under the counter type was accepted");
        };
        assert_eq!(kind, TYPE_COUNTER);
    }
}
