//! The fast path from CloudEvents JSON bytes to typed events: one pass over each event's map
//! that borrows its strings from the body and fills a `UsageEvent` directly — no
//! `serde_json::Value`, no `CloudEvent` of owned strings, no allocation per event on the happy
//! path.
//!
//! It is deliberately *stricter* than the reference decoding (`from_cloudevent` over the
//! derived `CloudEvent`) and never says why it declines: anything unusual (invalid UTF-8,
//! duplicate keys, an event or its data written as a JSON array, a field that belongs to
//! another type's data with a wrong type, any invalid event) gives `None`. The caller then runs
//! the reference decoding, which either accepts the unusual form or gives the exact error, with
//! the offending index. So a body decodes to the same events, or fails with the same error,
//! whichever path takes it; the property tests check that whatever this path accepts, the
//! reference accepts identically.

use super::{health, scan};
use super::{
    identity, Attributes, EventBody, Frame, Health, Material, UsageEvent, TYPE_COUNTER,
    TYPE_MOUNTING, TYPE_TRACE_ONLY,
};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// Typical size of one event in a batch, to size the vector once (a guess is enough).
const BYTES_PER_EVENT_GUESS: usize = 250;

/// One structured-mode event (a JSON object); `None`: use the reference decoding.
pub fn decode_event(bytes: &[u8]) -> Option<UsageEvent> {
    let text = std::str::from_utf8(bytes).ok()?;
    if let Some(event) = scan::scan_event(text) {
        return Some(event);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let event = de.deserialize_map(EventVisitor).ok()?;
    de.end().ok()?;
    Some(event)
}

/// A batch (a JSON array of events); `None`: use the reference decoding.
pub fn decode_batch(bytes: &[u8]) -> Option<Vec<UsageEvent>> {
    // One UTF-8 check of the whole body up front lets serde_json borrow every string without
    // validating it again (its `&str` reader), which the per-string check of the byte reader
    // costs on every key and value.
    let text = std::str::from_utf8(bytes).ok()?;
    let capacity = bytes.len() / BYTES_PER_EVENT_GUESS;
    if let Some(events) = scan::scan_batch(text, capacity) {
        return Some(events);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let events = de.deserialize_seq(BatchVisitor { capacity }).ok()?;
    de.end().ok()?;
    Some(events)
}

struct BatchVisitor {
    capacity: usize,
}

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = Vec<UsageEvent>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of CloudEvents")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut events = Vec::with_capacity(self.capacity);
        while let Some(event) = seq.next_element_seed(EventSeed)? {
            events.push(event);
        }
        Ok(events)
    }
}

struct EventSeed;

impl<'de> DeserializeSeed<'de> for EventSeed {
    type Value = UsageEvent;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<UsageEvent, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

/// A JSON string, borrowed from the body unless it holds escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

/// Keys of an event's map; `Other` are extension attributes, allowed and ignored.
enum Key {
    SpecVersion,
    Id,
    Source,
    Type,
    Time,
    Subject,
    DataContentType,
    Data,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CloudEvents attribute name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "specversion" => Key::SpecVersion,
                    "id" => Key::Id,
                    "source" => Key::Source,
                    "type" => Key::Type,
                    "time" => Key::Time,
                    "subject" => Key::Subject,
                    "datacontenttype" => Key::DataContentType,
                    "data" => Key::Data,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// The attributes of one event as they arrive, in any order.
#[derive(Default)]
struct Fields<'de> {
    specversion: Option<Text<'de>>,
    id: Option<Text<'de>>,
    source: Option<Text<'de>>,
    kind: Option<Text<'de>>,
    time: Option<Text<'de>>,
    subject: Option<Text<'de>>,
    content_type_seen: bool,
    data: Option<Data>,
}

/// Stores a field's value; a second occurrence declines (the reference calls it an error).
fn set_once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::custom("duplicate field"));
    }
    Ok(())
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = UsageEvent;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudEvent (JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UsageEvent, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::SpecVersion => set_once(&mut f.specversion, map.next_value()?)?,
                Key::Id => set_once(&mut f.id, map.next_value()?)?,
                Key::Source => set_once(&mut f.source, map.next_value()?)?,
                Key::Type => set_once(&mut f.kind, map.next_value()?)?,
                Key::Time => set_once(&mut f.time, map.next_value()?)?,
                Key::Subject => set_once(&mut f.subject, map.next_value()?)?,
                Key::Data => set_once(&mut f.data, map.next_value()?)?,
                Key::DataContentType => {
                    // The reference takes a string or null here, and rejects a repeat.
                    map.next_value::<Option<Text>>()?;
                    if std::mem::replace(&mut f.content_type_seen, true) {
                        return Err(de::Error::custom("duplicate field"));
                    }
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        f.into_event()
            .ok_or_else(|| de::Error::custom("not decoded"))
    }
}

impl Fields<'_> {
    fn into_event(self) -> Option<UsageEvent> {
        let kind = self.kind?;
        let attributes = Attributes {
            specversion: &self.specversion?.0,
            id: &self.id?.0,
            source: &self.source?.0,
            time: &self.time?.0,
            subject: &self.subject?.0,
        };
        let identity = identity(&attributes).ok()?;
        let body = self.data?.body_of(&kind.0)?;
        Some(identity.with_body(body))
    }
}

/// Every field any event type's data may hold, in any order; which are required depends on
/// the type, which may come after the data in the event's map.
#[derive(Default)]
pub(super) struct Data {
    pub(super) frame: Option<Frame>,
    pub(super) material: Option<Material>,
    pub(super) remake: Option<bool>,
    pub(super) billable: Option<bool>,
    pub(super) total_cycles: Option<u64>,
    pub(super) mountings: Option<u64>,
    pub(super) trace_only: Option<u64>,
    pub(super) removal: Option<bool>,
    pub(super) health: Option<Health>,
}

impl Data {
    /// The body for `kind`, if the data has every field that type requires (`billable` is
    /// required but, as in the reference, its value is not checked).
    pub(super) fn body_of(&self, kind: &str) -> Option<EventBody> {
        match kind {
            TYPE_MOUNTING => {
                self.billable?;
                Some(EventBody::Mounting {
                    frame: self.frame?,
                    material: self.material?,
                    remake: self.remake?,
                })
            }
            TYPE_TRACE_ONLY => {
                self.billable?;
                Some(EventBody::TraceOnly { frame: self.frame? })
            }
            TYPE_COUNTER => Some(EventBody::Counter {
                total_cycles: self.total_cycles?,
                mountings: self.mountings?,
                trace_only: self.trace_only?,
                // Optional, as in the reference: an ordinary read does not write it.
                removal: self.removal.unwrap_or(false),
                // Optional too: a machine that reports no health does not write it.
                health: self.health,
            }),
            _ => None,
        }
    }
}

enum DataKey {
    Frame,
    Material,
    Remake,
    Billable,
    TotalCycles,
    Mountings,
    TraceOnly,
    Removal,
    Health,
    Other,
}

impl<'de> Deserialize<'de> for DataKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DataKeyVisitor;
        impl Visitor<'_> for DataKeyVisitor {
            type Value = DataKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a data field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DataKey, E> {
                Ok(match v {
                    "frame" => DataKey::Frame,
                    "material" => DataKey::Material,
                    "remake" => DataKey::Remake,
                    "billable" => DataKey::Billable,
                    "total_cycles" => DataKey::TotalCycles,
                    "mountings" => DataKey::Mountings,
                    "trace_only" => DataKey::TraceOnly,
                    "removal" => DataKey::Removal,
                    "health" => DataKey::Health,
                    _ => DataKey::Other,
                })
            }
        }
        d.deserialize_identifier(DataKeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(DataVisitor)
    }
}

struct DataVisitor;

impl<'de> Visitor<'de> for DataVisitor {
    type Value = Data;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("event data (JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
        let mut data = Data::default();
        while let Some(key) = map.next_key::<DataKey>()? {
            match key {
                DataKey::Frame => set_once(&mut data.frame, map.next_value()?)?,
                DataKey::Material => set_once(&mut data.material, map.next_value()?)?,
                DataKey::Remake => set_once(&mut data.remake, map.next_value()?)?,
                DataKey::Billable => set_once(&mut data.billable, map.next_value()?)?,
                DataKey::TotalCycles => set_once(&mut data.total_cycles, map.next_value()?)?,
                DataKey::Mountings => set_once(&mut data.mountings, map.next_value()?)?,
                DataKey::TraceOnly => set_once(&mut data.trace_only, map.next_value()?)?,
                DataKey::Removal => set_once(&mut data.removal, map.next_value()?)?,
                DataKey::Health => {
                    // Read as the reference reads it: a `Value`, then the same checks.
                    let value: serde_json::Value = map.next_value()?;
                    let h = health::from_value(&value).map_err(de::Error::custom)?;
                    set_once(&mut data.health, h)?;
                }
                DataKey::Other => {
                    // The reference reads data into a `Value`, which checks more than
                    // `IgnoredAny` does (escapes, number range): read it the same way.
                    map.next_value::<serde_json::Value>()?;
                }
            }
        }
        Ok(data)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{from_cloudevent, to_cloudevent, CloudEvent};
    use super::*;
    use crate::event::{MachineId, ShopId};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// The reference decoding of a batch: derived `CloudEvent`s, then `from_cloudevent`.
    fn reference_batch(bytes: &[u8]) -> Option<Vec<UsageEvent>> {
        let raw: Vec<CloudEvent> = serde_json::from_slice(bytes).ok()?;
        raw.iter().map(|c| from_cloudevent(c).ok()).collect()
    }

    fn reference_event(bytes: &[u8]) -> Option<UsageEvent> {
        from_cloudevent(&serde_json::from_slice(bytes).ok()?).ok()
    }

    /// The scanner alone (the first of the fast path's two steps).
    fn scanned_batch(bytes: &[u8]) -> Option<Vec<UsageEvent>> {
        scan::scan_batch(std::str::from_utf8(bytes).ok()?, 0)
    }

    fn scanned_event(bytes: &[u8]) -> Option<UsageEvent> {
        scan::scan_event(std::str::from_utf8(bytes).ok()?)
    }

    /// Any event body: every kind, frame and material, any counters.
    pub(crate) fn any_body() -> impl Strategy<Value = EventBody> {
        prop_oneof![
            (0..3usize, 0..5usize, any::<bool>()).prop_map(|(f, m, remake)| {
                EventBody::Mounting {
                    frame: Frame::from_index(f),
                    material: Material::from_index(m),
                    remake,
                }
            }),
            (0..3usize).prop_map(|f| EventBody::TraceOnly {
                frame: Frame::from_index(f)
            }),
            (
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<bool>(),
                prop::option::of(any_health()),
            )
                .prop_map(|(t, m, o, removal, health)| EventBody::Counter {
                    total_cycles: t,
                    mountings: m,
                    trace_only: o,
                    removal,
                    health,
                }),
        ]
    }

    /// Any health a machine may report: every wear from new to worn out, every warning.
    pub(crate) fn any_health() -> impl Strategy<Value = Health> {
        let cause = prop::sample::select(crate::service::Cause::ALL.to_vec());
        (0..=Health::WORN_OUT, prop::option::of(cause)).prop_map(|(wear, warning)| Health {
            wheel_wear_permille: wear,
            warning,
        })
    }

    /// A `health` value near what the wire allows: the right shape with a wrong value, a
    /// wrong shape, an unknown key.
    fn health_like_value() -> impl Strategy<Value = Value> {
        let wear = prop::sample::select(vec![
            json!(0),
            json!(640),
            json!(1000),
            json!(1001),
            json!(65536),
            json!(-1),
            json!(6.5),
            json!("640"),
            Value::Null,
        ]);
        let warning = prop::sample::select(vec![
            json!("water_pump"),
            json!("spindle_motor"),
            json!("pump"),
            json!(3),
            Value::Null,
        ]);
        (
            prop::option::of(wear),
            prop::option::of(warning),
            any::<bool>(),
        )
            .prop_map(|(wear, warning, extra)| {
                let mut object = serde_json::Map::new();
                if let Some(w) = wear {
                    object.insert("wheel_wear_permille".into(), w);
                }
                if let Some(w) = warning {
                    object.insert("warning".into(), w);
                }
                if extra {
                    object.insert("spindle_hours".into(), json!(12));
                }
                Value::Object(object)
            })
    }

    /// Events as the simulator emits them: any machine, sequence (up to the limit the wire
    /// allows), shop and body, dated between 2000 and 2100.
    pub(crate) fn emitted_event() -> impl Strategy<Value = UsageEvent> {
        let body = any_body();
        (
            any::<u32>(),
            0..=super::super::MAX_SEQ,
            946_684_800i64..4_102_444_800,
            any::<u32>(),
            body,
        )
            .prop_map(|(machine, seq, time, shop, body)| UsageEvent {
                machine: MachineId(machine),
                seq,
                time,
                shop: ShopId(shop),
                body,
            })
    }

    pub(crate) fn batch_json(events: &[UsageEvent]) -> Vec<u8> {
        serde_json::to_vec(&events.iter().map(to_cloudevent).collect::<Vec<_>>()).unwrap()
    }

    pub(crate) fn event_value(e: &UsageEvent) -> Value {
        serde_json::to_value(to_cloudevent(e)).unwrap()
    }

    /// A JSON value of any shape, leaning to what event fields hold, so that a replaced field
    /// sometimes still decodes.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            prop::sample::select(vec![
                "1.0",
                "0.3",
                "M000001-5",
                "/fleetsim/machines/M000001",
                "S000001",
                "2024-03-01T10:00:00Z",
                "2024-03-01T10:00:00+02:00",
                "2024-02-30T10:00:00Z",
                TYPE_MOUNTING,
                TYPE_TRACE_ONLY,
                TYPE_COUNTER,
                "full_rim",
                "index_167",
                "",
            ])
            .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const ATTRIBUTES: [&str; 8] = [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "subject",
        "datacontenttype",
        "data",
    ];
    const DATA_FIELDS: [&str; 9] = [
        "frame",
        "material",
        "remake",
        "billable",
        "total_cycles",
        "mountings",
        "trace_only",
        "removal",
        "health",
    ];

    /// One way of damaging (or harmlessly changing) an event.
    #[derive(Clone, Debug)]
    pub(crate) enum Mutation {
        Remove(&'static str),
        Replace(&'static str, Value),
        RemoveData(&'static str),
        ReplaceData(&'static str, Value),
        Extension(String, Value),
        DataExtension(String, Value),
        Type(&'static str),
        /// The id's sequence number rewritten as `prefix` + `seq` (beyond the limit, or
        /// spelled with a leading zero or a sign).
        Sequence(&'static str, u64),
    }

    pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
        let attribute = prop::sample::select(ATTRIBUTES.to_vec());
        let field = prop::sample::select(DATA_FIELDS.to_vec());
        let kind = prop::sample::select(vec![
            TYPE_MOUNTING,
            TYPE_TRACE_ONLY,
            TYPE_COUNTER,
            "com.example.other",
        ]);
        prop_oneof![
            attribute.clone().prop_map(Mutation::Remove),
            (attribute, any_value()).prop_map(|(a, v)| Mutation::Replace(a, v)),
            field.clone().prop_map(Mutation::RemoveData),
            (field, any_value()).prop_map(|(f, v)| Mutation::ReplaceData(f, v)),
            health_like_value().prop_map(|v| Mutation::ReplaceData("health", v)),
            ("[a-z]{1,10}", any_value()).prop_map(|(k, v)| Mutation::Extension(k, v)),
            ("[a-z_]{1,10}", any_value()).prop_map(|(k, v)| Mutation::DataExtension(k, v)),
            kind.prop_map(Mutation::Type),
            (
                prop::sample::select(vec!["", "0", "+", "00"]),
                prop_oneof![
                    super::super::MAX_SEQ - 2..=u64::MAX,
                    any::<u64>(),
                    Just(super::super::MAX_SEQ),
                ],
            )
                .prop_map(|(prefix, seq)| Mutation::Sequence(prefix, seq)),
        ]
    }

    pub(crate) fn mutate(event: &mut Value, m: &Mutation) {
        let object = event.as_object_mut().expect("an event is an object");
        match m {
            Mutation::Remove(a) => {
                object.remove(*a);
            }
            Mutation::Replace(a, v) => {
                object.insert(a.to_string(), v.clone());
            }
            Mutation::Extension(k, v) => {
                object.entry(k.clone()).or_insert_with(|| v.clone());
            }
            Mutation::Type(kind) => {
                object.insert("type".into(), Value::from(*kind));
            }
            Mutation::Sequence(prefix, seq) => {
                if let Some(Value::String(id)) = object.get_mut("id") {
                    let machine = id.split('-').next().unwrap_or_default().to_string();
                    *id = format!("{machine}-{prefix}{seq}");
                }
            }
            Mutation::RemoveData(f) => {
                if let Some(d) = object.get_mut("data").and_then(Value::as_object_mut) {
                    d.remove(*f);
                }
            }
            Mutation::ReplaceData(f, v) => {
                if let Some(d) = object.get_mut("data").and_then(Value::as_object_mut) {
                    d.insert(f.to_string(), v.clone());
                }
            }
            Mutation::DataExtension(k, v) => {
                if let Some(d) = object.get_mut("data").and_then(Value::as_object_mut) {
                    d.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }

    proptest! {
        #[test]
        fn emitted_batches_decode_fast_and_as_the_reference_does(
            events in prop::collection::vec(emitted_event(), 0..20)
        ) {
            let body = batch_json(&events);
            prop_assert_eq!(scanned_batch(&body), Some(events.clone()));
            prop_assert_eq!(decode_batch(&body), Some(events.clone()));
            prop_assert_eq!(reference_batch(&body), Some(events));
        }

        #[test]
        fn an_emitted_event_decodes_fast_and_as_the_reference_does(e in emitted_event()) {
            let body = serde_json::to_vec(&to_cloudevent(&e)).unwrap();
            prop_assert_eq!(scanned_event(&body), Some(e));
            prop_assert_eq!(decode_event(&body), Some(e));
            prop_assert_eq!(reference_event(&body), Some(e));
        }

        /// The fast path may decline what the reference accepts (it is stricter), never the
        /// other way round, and never with other events.
        #[test]
        fn what_the_fast_path_accepts_the_reference_accepts_identically(
            e in emitted_event(),
            mutations in prop::collection::vec(mutation(), 1..4),
        ) {
            let mut value = event_value(&e);
            for m in &mutations {
                mutate(&mut value, m);
            }
            let single = serde_json::to_vec(&value).unwrap();
            let pretty = serde_json::to_vec_pretty(&value).unwrap();
            for body in [&single, &pretty] {
                for fast in [scanned_event(body), decode_event(body)].into_iter().flatten() {
                    prop_assert_eq!(Some(fast), reference_event(body));
                }
            }
            let batch = serde_json::to_vec(&json!([event_value(&e), value])).unwrap();
            for fast in [scanned_batch(&batch), decode_batch(&batch)].into_iter().flatten() {
                prop_assert_eq!(Some(fast), reference_batch(&batch));
            }
        }

        /// A sequence number above i64::MAX is refused by every step alike: the fast ones
        /// decline, the reference names the limit.
        #[test]
        fn sequence_numbers_beyond_the_limit_are_refused_by_every_step(
            e in emitted_event(),
            seq in super::super::MAX_SEQ + 1..=u64::MAX,
        ) {
            let big = UsageEvent { seq, ..e };
            let body = serde_json::to_vec(&to_cloudevent(&big)).unwrap();
            prop_assert_eq!(scanned_event(&body), None);
            prop_assert_eq!(decode_event(&body), None);
            let raw: CloudEvent = serde_json::from_slice(&body).unwrap();
            prop_assert_eq!(
                from_cloudevent(&raw),
                Err(super::super::WireError::Sequence(raw.id.clone()))
            );
            let batch = batch_json(&[e, big]);
            prop_assert_eq!(scanned_batch(&batch), None);
            prop_assert_eq!(decode_batch(&batch), None);
            prop_assert_eq!(reference_batch(&batch), None);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode_batch(&bytes);
            let _ = decode_event(&bytes);
            let text = String::from_utf8_lossy(&bytes);
            let _ = scan::scan_batch(&text, 0);
            let _ = scan::scan_event(&text);
        }

        /// Valid bodies with a few bytes changed or cut reach deeper than random bytes.
        #[test]
        fn damaged_bodies_never_panic_and_never_disagree(
            events in prop::collection::vec(emitted_event(), 1..4),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut body = batch_json(&events);
            for (at, byte) in &edits {
                let i = at.index(body.len());
                body[i] = *byte;
            }
            body.truncate(cut.index(body.len() + 1).max(body.len() * 3 / 4));
            for fast in [scanned_batch(&body), decode_batch(&body)].into_iter().flatten() {
                prop_assert_eq!(Some(fast), reference_batch(&body));
            }
        }
    }

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

    #[test]
    fn extension_attributes_and_any_key_order_stay_on_the_fast_path() {
        let e = sample();
        let body = format!(
            r#"{{"data":{{"remake":false,"billable":true,"material":"index_160","frame":"grooved","note":[1,{{"x":null}}]}},
                "type":"{TYPE_MOUNTING}","traceparent":"00-abc","subject":"S000041","time":"2024-03-01T10:00:00Z",
                "source":"/fleetsim/machines/M000042","id":"M000042-7","specversion":"1.0","datacontenttype":null}}"#
        );
        assert_eq!(decode_event(body.as_bytes()), Some(e));
        assert_eq!(reference_event(body.as_bytes()), Some(e));
        let without_extensions = body
            .replace(r#","note":[1,{"x":null}]"#, "")
            .replace(r#""traceparent":"00-abc","#, "");
        assert_eq!(
            scanned_event(without_extensions.as_bytes()),
            Some(e),
            "scanned"
        );
    }

    #[test]
    fn the_scanner_reads_only_plain_unsigned_integers() {
        let counter = UsageEvent {
            body: EventBody::Counter {
                total_cycles: 1,
                mountings: 0,
                trace_only: 1,
                removal: false,
                health: None,
            },
            ..sample()
        };
        let body = serde_json::to_string(&event_value(&counter)).unwrap();
        let with = |n: &str| body.replace(r#""total_cycles":1"#, &format!(r#""total_cycles":{n}"#));
        for declined in [
            "01",
            "1.0",
            "1e2",
            "-0",
            "-1",
            "18446744073709551616",
            "+1",
            "1x",
        ] {
            let text = with(declined);
            assert_eq!(scanned_event(text.as_bytes()), None, "{declined}");
        }
        let max = with("18446744073709551615");
        let scanned = scanned_event(max.as_bytes());
        assert!(scanned.is_some());
        assert_eq!(scanned, reference_event(max.as_bytes()));
        let spaced = with(" 7 ").replace(',', " ,\n\t").replace("\":", "\"\r: ");
        assert_eq!(
            scanned_event(spaced.as_bytes()),
            reference_event(spaced.as_bytes())
        );
        assert!(
            scanned_event(spaced.as_bytes()).is_some(),
            "JSON whitespace anywhere"
        );
    }

    /// Every step reads `removal` alike: true and false as written, absent as false, and
    /// anything else declined by the fast steps and refused by the reference.
    #[test]
    fn every_step_reads_the_removal_flag_alike() {
        let read = |removal| UsageEvent {
            body: EventBody::Counter {
                total_cycles: 5,
                mountings: 4,
                trace_only: 1,
                removal,
                health: None,
            },
            ..sample()
        };
        let removal = serde_json::to_string(&event_value(&read(true))).unwrap();
        assert!(removal.contains(r#""removal":true"#), "{removal}");
        let explicit_false = removal.replace(r#""removal":true"#, r#""removal":false"#);
        let absent = serde_json::to_string(&event_value(&read(false))).unwrap();
        for (body, expected) in [
            (&removal, read(true)),
            (&explicit_false, read(false)),
            (&absent, read(false)),
        ] {
            let bytes = body.as_bytes();
            assert_eq!(scanned_event(bytes), Some(expected), "{body}");
            assert_eq!(decode_event(bytes), Some(expected), "{body}");
            assert_eq!(reference_event(bytes), Some(expected), "{body}");
        }
        for bad in ["1", r#""true""#, "null", "[true]"] {
            let body = removal.replace(r#""removal":true"#, &format!(r#""removal":{bad}"#));
            let bytes = body.as_bytes();
            assert_eq!(scanned_event(bytes), None, "{body}");
            assert_eq!(decode_event(bytes), None, "{body}");
            assert_eq!(reference_event(bytes), None, "{body}");
        }
    }

    /// Every step reads `health` alike: as written, absent as none, unknown keys inside it
    /// left to the serde step (the scanner declines them), and anything malformed declined by
    /// the fast steps and refused by the reference with the field's path.
    #[test]
    fn every_step_reads_health_alike() {
        let read = |health| UsageEvent {
            body: EventBody::Counter {
                total_cycles: 5,
                mountings: 4,
                trace_only: 1,
                removal: false,
                health,
            },
            ..sample()
        };
        let worn = Health {
            wheel_wear_permille: 640,
            warning: Some(crate::service::Cause::WaterPump),
        };
        let body = serde_json::to_string(&event_value(&read(Some(worn)))).unwrap();
        let written = r#""health":{"warning":"water_pump","wheel_wear_permille":640}"#;
        assert!(body.contains(written), "{body}");
        let no_warning = body.replace(r#""warning":"water_pump","#, "");
        let absent = serde_json::to_string(&event_value(&read(None))).unwrap();
        assert!(!absent.contains("health"), "{absent}");
        let quiet = Health {
            warning: None,
            ..worn
        };
        for (body, expected) in [
            (&body, read(Some(worn))),
            (&no_warning, read(Some(quiet))),
            (&absent, read(None)),
        ] {
            let bytes = body.as_bytes();
            assert_eq!(scanned_event(bytes), Some(expected), "{body}");
            assert_eq!(decode_event(bytes), Some(expected), "{body}");
            assert_eq!(reference_event(bytes), Some(expected), "{body}");
        }
        let extended = body.replace(
            r#""wheel_wear_permille""#,
            r#""spindle_hours":3,"wheel_wear_permille""#,
        );
        assert_eq!(scanned_event(extended.as_bytes()), None, "{extended}");
        assert_eq!(decode_event(extended.as_bytes()), Some(read(Some(worn))));
        for bad in [
            r#"{"wheel_wear_permille":1001}"#,
            r#"{"wheel_wear_permille":-1}"#,
            r#"{"wheel_wear_permille":6.5}"#,
            r#"{"warning":"water_pump"}"#,
            r#"{"wheel_wear_permille":6,"warning":"pump"}"#,
            r#"{"wheel_wear_permille":6,"warning":null}"#,
            "null",
            "640",
        ] {
            let body = body.replace(&written[9..], bad);
            let bytes = body.as_bytes();
            assert_eq!(scanned_event(bytes), None, "{body}");
            assert_eq!(decode_event(bytes), None, "{body}");
            let raw: CloudEvent = serde_json::from_slice(bytes).unwrap();
            let Err(super::super::WireError::Data { kind, message }) = from_cloudevent(&raw) else {
                panic!("{body} accepted");
            };
            assert_eq!(kind, TYPE_COUNTER);
            assert!(message.starts_with("health"), "{message}");
        }
    }

    #[test]
    fn escaped_strings_are_decoded_not_declined() {
        let body = serde_json::to_string(&event_value(&sample()))
            .unwrap()
            .replace("/fleetsim/machines/", "\\/fleetsim\\/machines\\/")
            .replace("S000041", "S\\u003000041");
        assert!(body.contains("\\u0030"), "the body holds escapes");
        assert_eq!(decode_event(body.as_bytes()), Some(sample()));
    }

    #[test]
    fn unusual_forms_are_left_to_the_reference() {
        let good = serde_json::to_string(&event_value(&sample())).unwrap();
        let duplicate_id = good.replacen('{', r#"{"id":"M000042-8","#, 1);
        assert_eq!(decode_event(duplicate_id.as_bytes()), None);
        assert_eq!(reference_event(duplicate_id.as_bytes()), None);
        // The reference reads data into a `Value`, where a repeated key keeps its last value.
        let repeated_data_key = good.replacen(r#""frame":"#, r#""frame":7,"frame":"#, 1);
        assert_eq!(decode_event(repeated_data_key.as_bytes()), None);
        assert_eq!(
            reference_event(repeated_data_key.as_bytes()),
            Some(sample())
        );
        assert_eq!(decode_batch(b"[1]"), None);
        assert_eq!(decode_batch(b"[] x"), None);
        assert_eq!(decode_batch(b"[]"), Some(vec![]));
    }
}
