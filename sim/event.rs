//! Usage events as machines emit them, and their CloudEvents 1.0 JSON wire form.
//!
//! Engines take the typed `UsageEvent`; only `event::wire` knows JSON. Identity is
//! machine-issued: `source` names the machine and `id` carries its own sequence number, so a
//! retry re-sends the same (source, id) and an idempotent engine counts it once.

use serde::{Deserialize, Serialize};

/// A machine, by its index in the fleet (rendered `M000042`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MachineId(pub u32);

/// A shop, by its index in the fleet (rendered `S000042`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ShopId(pub u32);

impl MachineId {
    /// Parses `M000042` (any number of digits).
    pub fn parse(text: &str) -> Option<MachineId> {
        parse_tagged(text, 'M').map(MachineId)
    }
}

impl ShopId {
    /// Parses `S000042` (any number of digits).
    pub fn parse(text: &str) -> Option<ShopId> {
        parse_tagged(text, 'S').map(ShopId)
    }
}

fn parse_tagged(text: &str, tag: char) -> Option<u32> {
    let digits = text.strip_prefix(tag)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl std::fmt::Display for MachineId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "M{:06}", self.0)
    }
}

impl std::fmt::Display for ShopId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S{:06}", self.0)
    }
}

/// Frame types (V, GfK): the edging job differs (grooving, drilling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Frame {
    FullRim = 0,
    Grooved = 1,
    Drilled = 2,
}

/// Lens materials (E, France): they drive machine time and wheel wear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Material {
    #[serde(rename = "index_150")]
    Index150 = 0,
    #[serde(rename = "index_160")]
    Index160 = 1,
    #[serde(rename = "index_167")]
    Index167 = 2,
    Polycarbonate = 3,
    Mineral = 4,
}

impl Frame {
    pub const ALL: [Frame; 3] = [Frame::FullRim, Frame::Grooved, Frame::Drilled];
    pub fn from_index(i: usize) -> Frame {
        Frame::ALL[i]
    }
}

impl Material {
    pub const ALL: [Material; 5] = [
        Material::Index150,
        Material::Index160,
        Material::Index167,
        Material::Polycarbonate,
        Material::Mineral,
    ];
    pub fn from_index(i: usize) -> Material {
        Material::ALL[i]
    }
}

/// What happened on the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventBody {
    /// A pair of lenses edged and mounted: billable.
    Mounting {
        frame: Frame,
        material: Material,
        remake: bool,
    },
    /// A frame traced for a remote-edged order: never billable.
    TraceOnly { frame: Frame },
    /// Cumulative counters, as read remotely: at the end of each day, and one last time when
    /// the machine is taken out of the shop.
    Counter {
        total_cycles: u64,
        mountings: u64,
        trace_only: u64,
        /// The final read at removal (contract terminated or term ended): the machine is gone,
        /// so metering must not estimate usage after it. `false` for end-of-day reads.
        removal: bool,
        /// The machine's own diagnostics, when it reports them (`None`: it does not, or not
        /// in this reading). Billing and VEE never read it; the service desk does
        /// (`MeteringEngine::machine_health`).
        health: Option<Health>,
    },
}

/// A machine's health as its daily reading reports it: how worn its grinding wheels are, and
/// the failure its diagnostics foresee, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    /// Thousandths of the wheel set's life used: 0 new, `Health::WORN_OUT` (1000) worn out.
    pub wheel_wear_permille: u16,
    /// What the diagnostics foresee (a pump drawing too much current, a spindle vibrating);
    /// `None`: nothing.
    pub warning: Option<crate::service::Cause>,
}

impl Health {
    /// Wear of a wheel set at the end of its life: it is replaced then, so no reading says more.
    pub const WORN_OUT: u16 = 1000;
}

// Readings travel by the million in day batches (budget.rs counts 56 bytes an event):
// health must not make the event bigger.
const _: () = assert!(std::mem::size_of::<UsageEvent>() <= 56);

/// One event, typed. `(machine, seq)` is its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageEvent {
    pub machine: MachineId,
    pub seq: u64,
    /// Unix seconds, UTC.
    pub time: i64,
    pub shop: ShopId,
    pub body: EventBody,
}

impl UsageEvent {
    pub fn billable(&self) -> bool {
        matches!(self.body, EventBody::Mounting { .. })
    }
}

pub mod wire {
    //! CloudEvents 1.0: the structured JSON mode (one event or a batch), and the HTTP binary
    //! mode (`binary`: attributes in `ce-*` headers, the data as the body).
    use super::*;
    use chrono::{DateTime, SecondsFormat};

    pub const TYPE_MOUNTING: &str = "com.fleetsim.edger.mounting.v1";
    pub const TYPE_TRACE_ONLY: &str = "com.fleetsim.edger.trace_only.v1";
    pub const TYPE_COUNTER: &str = "com.fleetsim.edger.counter.v1";
    const SOURCE_PREFIX: &str = "/fleetsim/machines/";

    /// The largest sequence number an event may carry: SQLite keeps signed 64-bit integers,
    /// and a larger one would have to be clamped, making two events one.
    pub const MAX_SEQ: u64 = i64::MAX as u64;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct CloudEvent {
        pub specversion: String,
        pub id: String,
        pub source: String,
        #[serde(rename = "type")]
        pub kind: String,
        pub time: String,
        pub subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub datacontenttype: Option<String>,
        pub data: serde_json::Value,
    }

    #[derive(Debug, thiserror::Error, PartialEq)]
    pub enum WireError {
        #[error("specversion must be \"1.0\", got {0:?}")]
        SpecVersion(String),
        #[error("source {0:?} is not a fleetsim machine (/fleetsim/machines/M<digits>)")]
        Source(String),
        #[error("id {0:?} is not <machine>-<sequence number>")]
        Id(String),
        #[error(
            "id {0:?}: the sequence number must be plain decimal digits without leading zeros, \
             from 0 to {MAX_SEQ} (i64::MAX, the largest the store keeps exactly)"
        )]
        Sequence(String),
        #[error("subject {0:?} is not a shop (S<digits>)")]
        Subject(String),
        #[error("time {0:?} is not RFC 3339")]
        Time(String),
        #[error("type {0:?} is unknown")]
        Type(String),
        #[error("data does not fit type {kind}: {message}")]
        Data { kind: String, message: String },
    }

    #[derive(Serialize, Deserialize)]
    struct MountingData {
        frame: Frame,
        material: Material,
        remake: bool,
        billable: bool,
    }

    #[derive(Serialize, Deserialize)]
    struct TraceData {
        frame: Frame,
        billable: bool,
    }

    #[derive(Serialize, Deserialize)]
    struct CounterData {
        total_cycles: u64,
        mountings: u64,
        trace_only: u64,
        /// Written only when true, so every end-of-day read keeps its bytes; absent = false.
        #[serde(default, skip_serializing_if = "is_false")]
        removal: bool,
        /// Written only when the machine reports health; read apart (`health::from_value`),
        /// for an error that names the field inside it.
        #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
        health: Option<health::HealthData>,
    }

    fn is_false(b: &bool) -> bool {
        !*b
    }

    pub fn to_cloudevent(e: &UsageEvent) -> CloudEvent {
        let (kind, data) = match e.body {
            EventBody::Mounting {
                frame,
                material,
                remake,
            } => (
                TYPE_MOUNTING,
                serde_json::to_value(MountingData {
                    frame,
                    material,
                    remake,
                    billable: true,
                }),
            ),
            EventBody::TraceOnly { frame } => (
                TYPE_TRACE_ONLY,
                serde_json::to_value(TraceData {
                    frame,
                    billable: false,
                }),
            ),
            EventBody::Counter {
                total_cycles,
                mountings,
                trace_only,
                removal,
                health,
            } => (
                TYPE_COUNTER,
                serde_json::to_value(CounterData {
                    total_cycles,
                    mountings,
                    trace_only,
                    removal,
                    health: health.map(health::HealthData::of),
                }),
            ),
        };
        CloudEvent {
            specversion: "1.0".into(),
            id: format!("{}-{}", e.machine, e.seq),
            source: format!("{SOURCE_PREFIX}{}", e.machine),
            kind: kind.into(),
            time: DateTime::from_timestamp(e.time, 0)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default(),
            subject: e.shop.to_string(),
            datacontenttype: Some("application/json".into()),
            data: data.unwrap_or_default(),
        }
    }

    pub fn from_cloudevent(c: &CloudEvent) -> Result<UsageEvent, WireError> {
        let attributes = Attributes {
            specversion: &c.specversion,
            id: &c.id,
            source: &c.source,
            time: &c.time,
            subject: &c.subject,
        };
        let identity = identity(&attributes)?;
        let data_err = |e: serde_json::Error| WireError::Data {
            kind: c.kind.clone(),
            message: e.to_string(),
        };
        let body = match c.kind.as_str() {
            TYPE_MOUNTING => {
                let d: MountingData = serde_json::from_value(c.data.clone()).map_err(data_err)?;
                EventBody::Mounting {
                    frame: d.frame,
                    material: d.material,
                    remake: d.remake,
                }
            }
            TYPE_TRACE_ONLY => {
                let d: TraceData = serde_json::from_value(c.data.clone()).map_err(data_err)?;
                EventBody::TraceOnly { frame: d.frame }
            }
            TYPE_COUNTER => {
                let d: CounterData = serde_json::from_value(c.data.clone()).map_err(data_err)?;
                let health = match c.data.get("health") {
                    None => None,
                    Some(value) => {
                        Some(
                            health::from_value(value).map_err(|message| WireError::Data {
                                kind: c.kind.clone(),
                                message,
                            })?,
                        )
                    }
                };
                EventBody::Counter {
                    total_cycles: d.total_cycles,
                    mountings: d.mountings,
                    trace_only: d.trace_only,
                    removal: d.removal,
                    health,
                }
            }
            other => return Err(WireError::Type(other.to_string())),
        };
        Ok(identity.with_body(body))
    }

    /// An event's context attributes, borrowed: what both decodings (`from_cloudevent` and
    /// the fast `decode`) check the same way.
    struct Attributes<'a> {
        specversion: &'a str,
        id: &'a str,
        source: &'a str,
        time: &'a str,
        subject: &'a str,
    }

    /// Who sent an event and when: everything but its body.
    struct Identity {
        machine: MachineId,
        seq: u64,
        time: i64,
        shop: ShopId,
    }

    impl Identity {
        fn with_body(self, body: EventBody) -> UsageEvent {
            UsageEvent {
                machine: self.machine,
                seq: self.seq,
                time: self.time,
                shop: self.shop,
                body,
            }
        }
    }

    /// Checks the attributes in a fixed order (the first failure is the error): specversion,
    /// source, id, subject, time (the type and its data are checked by the caller, after).
    fn identity(a: &Attributes) -> Result<Identity, WireError> {
        if a.specversion != "1.0" {
            return Err(WireError::SpecVersion(a.specversion.to_string()));
        }
        let machine = a
            .source
            .strip_prefix(SOURCE_PREFIX)
            .and_then(MachineId::parse)
            .ok_or_else(|| WireError::Source(a.source.to_string()))?;
        let seq = sequence_in(a.id, machine)?;
        let shop =
            ShopId::parse(a.subject).ok_or_else(|| WireError::Subject(a.subject.to_string()))?;
        let time = DateTime::parse_from_rfc3339(a.time)
            .map_err(|_| WireError::Time(a.time.to_string()))?
            .timestamp();
        Ok(Identity {
            machine,
            seq,
            time,
            shop,
        })
    }

    /// The sequence number of `id` if it reads `<machine>-<sequence>`, the machine rendered
    /// exactly as `Display` does (`M` and at least six digits, zero-padded). The rendering
    /// never holds a '-', so the id's first '-' ends it. The sequence is canonical decimal
    /// (no sign, no leading zero) up to `MAX_SEQ`, so that distinct ids never name the same
    /// stored event. Checked without formatting: this runs for every event the server takes.
    fn sequence_in(id: &str, machine: MachineId) -> Result<u64, WireError> {
        let malformed = || WireError::Id(id.to_string());
        let (head, seq) = id.split_once('-').ok_or_else(malformed)?;
        let digits = head.strip_prefix('M').ok_or_else(malformed)?;
        let width = (machine.0.checked_ilog10().unwrap_or(0) as usize + 1).max(6);
        let canonical = digits.len() == width
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.parse() == Ok(machine.0);
        if !canonical || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        match seq.parse::<u64>() {
            Ok(n) if n <= MAX_SEQ && (seq.len() == 1 || !seq.starts_with('0')) => Ok(n),
            _ => Err(WireError::Sequence(id.to_string())),
        }
    }

    pub mod binary;
    pub mod decode;
    pub mod encode;
    mod health;
    mod scan;

    #[cfg(test)]
    mod tests {
        use super::*;

        fn samples() -> Vec<UsageEvent> {
            let base = UsageEvent {
                machine: MachineId(42),
                seq: 7,
                time: 1_704_186_000,
                shop: ShopId(41),
                body: EventBody::TraceOnly {
                    frame: Frame::Drilled,
                },
            };
            vec![
                base,
                UsageEvent {
                    body: EventBody::Mounting {
                        frame: Frame::Grooved,
                        material: Material::Polycarbonate,
                        remake: true,
                    },
                    ..base
                },
                UsageEvent {
                    body: EventBody::Counter {
                        total_cycles: 10,
                        mountings: 8,
                        trace_only: 2,
                        removal: false,
                        health: None,
                    },
                    ..base
                },
                UsageEvent {
                    body: EventBody::Counter {
                        total_cycles: 12,
                        mountings: 9,
                        trace_only: 3,
                        removal: true,
                        health: Some(Health {
                            wheel_wear_permille: 640,
                            warning: Some(crate::service::Cause::WaterPump),
                        }),
                    },
                    ..base
                },
            ]
        }

        #[test]
        fn round_trips_through_json() {
            for e in samples() {
                let json = serde_json::to_string(&to_cloudevent(&e)).unwrap();
                let back: CloudEvent = serde_json::from_str(&json).unwrap();
                assert_eq!(from_cloudevent(&back), Ok(e));
            }
        }

        #[test]
        fn renders_the_cloudevents_shape() {
            let c = to_cloudevent(&samples()[1]);
            let v = serde_json::to_value(&c).unwrap();
            assert_eq!(v["specversion"], "1.0");
            assert_eq!(v["id"], "M000042-7");
            assert_eq!(v["source"], "/fleetsim/machines/M000042");
            assert_eq!(v["type"], TYPE_MOUNTING);
            assert_eq!(v["time"], "2024-01-02T09:00:00Z");
            assert_eq!(v["subject"], "S000041");
            assert_eq!(v["data"]["billable"], true);
            assert_eq!(v["data"]["material"], "polycarbonate");
            let json = serde_json::to_value(Material::Index167).unwrap();
            assert_eq!(
                json, "index_167",
                "wire names match the scenario's material_mix keys"
            );
        }

        /// `removal` is on the wire only when true: end-of-day reads keep their old bytes, and a
        /// sender that never heard of removal reads sends ordinary reads.
        #[test]
        fn removal_is_written_only_when_true_and_read_as_false_when_absent() {
            let [_, _, daily, removal] = samples()[..] else {
                unreachable!("four samples")
            };
            let daily_json = serde_json::to_value(to_cloudevent(&daily)).unwrap();
            assert_eq!(
                daily_json["data"],
                serde_json::json!({"mountings": 8, "total_cycles": 10, "trace_only": 2})
            );
            let removal_json = serde_json::to_value(to_cloudevent(&removal)).unwrap();
            assert_eq!(removal_json["data"]["removal"], true);
            let mut explicit_false = to_cloudevent(&daily);
            explicit_false.data["removal"] = false.into();
            assert_eq!(from_cloudevent(&explicit_false), Ok(daily));
        }

        /// Health is on the wire only when reported, so every other reading keeps its bytes;
        /// a malformed one is refused saying which field and what it may be.
        #[test]
        fn health_is_written_only_when_reported_and_a_bad_one_names_its_field() {
            let [_, _, daily, removal] = samples()[..] else {
                unreachable!("four samples")
            };
            let daily_json = serde_json::to_value(to_cloudevent(&daily)).unwrap();
            assert!(daily_json["data"].get("health").is_none(), "{daily_json}");
            let reported = serde_json::to_value(to_cloudevent(&removal)).unwrap();
            assert_eq!(
                reported["data"]["health"],
                serde_json::json!({"wheel_wear_permille": 640, "warning": "water_pump"})
            );
            let mut worn_past_the_end = to_cloudevent(&removal);
            worn_past_the_end.data["health"]["wheel_wear_permille"] = 1200.into();
            let refused = from_cloudevent(&worn_past_the_end).unwrap_err();
            assert_eq!(
                refused.to_string(),
                "data does not fit type com.fleetsim.edger.counter.v1: \
                 health.wheel_wear_permille must be a whole number from 0 to 1000 (thousandths \
                 of the grinding wheels' life: 0 new, 1000 worn out), got 1200"
            );
        }

        #[test]
        fn a_removal_that_is_not_a_boolean_is_a_data_error() {
            for bad in [
                serde_json::json!("true"),
                serde_json::json!(1),
                serde_json::Value::Null,
            ] {
                let mut c = to_cloudevent(&samples()[2]);
                c.data["removal"] = bad.clone();
                let Err(WireError::Data { kind, message }) = from_cloudevent(&c) else {
                    panic!("{bad} accepted as a removal flag");
                };
                assert_eq!(kind, TYPE_COUNTER);
                assert!(message.contains("expected a boolean"), "{message}");
            }
        }

        /// A sequence number the store cannot keep exactly, or a second spelling of one it
        /// can, is refused: either would let two different ids name one stored event.
        #[test]
        fn sequence_numbers_are_canonical_and_at_most_i64_max() {
            let with_id = |id: String| {
                let mut c = to_cloudevent(&samples()[0]);
                c.id = id;
                from_cloudevent(&c)
            };
            let max = with_id(format!("M000042-{MAX_SEQ}"));
            assert_eq!(max.map(|e| e.seq), Ok(i64::MAX as u64));
            assert_eq!(with_id("M000042-0".into()).map(|e| e.seq), Ok(0));
            for seq in [
                (MAX_SEQ + 1).to_string(),
                u64::MAX.to_string(),
                "18446744073709551616".into(),
                "07".into(),
                "00".into(),
            ] {
                let id = format!("M000042-{seq}");
                assert_eq!(with_id(id.clone()), Err(WireError::Sequence(id)), "{seq}");
            }
            let refused = WireError::Sequence("M000042-9223372036854775808".into());
            assert!(
                refused.to_string().contains("9223372036854775807"),
                "the message names the limit: {refused}"
            );
            for id in ["M000042-+7", "M000042- 7", "M000042-"] {
                assert_eq!(with_id(id.into()), Err(WireError::Id(id.into())), "{id}");
            }
        }

        #[test]
        fn rejects_foreign_identities() {
            let mut c = to_cloudevent(&samples()[0]);
            c.id = "M000043-7".into();
            assert_eq!(from_cloudevent(&c), Err(WireError::Id("M000043-7".into())));
            for id in [
                "M42-7",
                "M0000042-7",
                "M000042",
                "M00004x-7",
                "M000042-x",
                "-7",
            ] {
                let mut c = to_cloudevent(&samples()[0]);
                c.id = id.into();
                assert_eq!(from_cloudevent(&c), Err(WireError::Id(id.into())), "{id}");
            }
            let mut c = to_cloudevent(&samples()[0]);
            c.source = "/fleetsim/machines/M1234567".into();
            c.id = "M1234567-8".into();
            assert_eq!(
                from_cloudevent(&c).map(|e| (e.machine, e.seq)),
                Ok((MachineId(1234567), 8))
            );
            let mut c = to_cloudevent(&samples()[0]);
            c.source = "/elsewhere/M1".into();
            assert!(matches!(from_cloudevent(&c), Err(WireError::Source(_))));
            let mut c = to_cloudevent(&samples()[0]);
            c.kind = "com.example.other".into();
            assert!(matches!(from_cloudevent(&c), Err(WireError::Type(_))));
        }
    }
}
