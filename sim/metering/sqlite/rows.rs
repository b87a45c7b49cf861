//! What a stored value may be. The store reads back only what it wrote, but a damaged or
//! foreign file can hold anything: every value that decides an index, a count or a kind is
//! checked as it is read, and one this engine never writes is a `MeteringError::Corrupt`
//! naming the table, the row and the column — never a panic, a huge allocation or a wrong
//! count.

use super::log::{TYPE_MOUNTING, TYPE_TRACE_ONLY};
use super::*;
use crate::event::{EventBody, Frame, Health, Material};
use crate::service::Cause;
use std::fmt::Display;

/// The highest machine or shop id an engine takes. Ids index dense in-memory tables (a
/// binding, a dedup set and a VEE slot per machine id, a usage row per shop id), so the
/// highest id, not the number of machines, sets their size: ten million ids cost about a
/// gigabyte at most, and cover a manufacturer's whole installed base ten times over.
pub const MAX_ID: u32 = 9_999_999;

/// Where a value was read: a table and a row (its rowid, or its key for a table without one).
pub(super) struct At {
    table: &'static str,
    row: String,
}

impl At {
    pub fn rowid(table: &'static str, rowid: i64) -> At {
        At {
            table,
            row: rowid.to_string(),
        }
    }

    pub fn key(table: &'static str, key: impl Display) -> At {
        At {
            table,
            row: key.to_string(),
        }
    }

    pub fn corrupt(&self, column: &str, value: impl Display, allowed: &str) -> MeteringError {
        MeteringError::Corrupt {
            table: self.table,
            row: self.row.clone(),
            message: format!("{column} = {value}, but this engine only writes {allowed}"),
        }
    }

    /// A machine or shop id.
    pub fn id(&self, column: &str, value: i64) -> Result<u32, MeteringError> {
        u32::try_from(value)
            .ok()
            .filter(|&id| id <= MAX_ID)
            .ok_or_else(|| self.corrupt(column, value, &format!("ids 0 to {MAX_ID}")))
    }

    /// A count, a sequence number or a rowid: never negative.
    pub fn count(&self, column: &str, value: i64) -> Result<u64, MeteringError> {
        u64::try_from(value).map_err(|_| self.corrupt(column, value, "counts of 0 or more"))
    }

    /// A period stored as `yyyymm`.
    pub fn period(&self, column: &str, key: i64) -> Result<Period, MeteringError> {
        let month = key.rem_euclid(100);
        let valid = (1..=12).contains(&month) && (1..=9999).contains(&key.div_euclid(100));
        if !valid {
            return Err(self.corrupt(column, key, "periods yyyymm (years 1 to 9999)"));
        }
        Ok(Period::from_key(key))
    }

    /// A job's kind and attributes (frame in bits 0–3, material in bits 4–7, remake bit 8).
    pub fn job(&self, kind: i64, attrs: i64) -> Result<EventBody, MeteringError> {
        let frame = || {
            Frame::ALL
                .get((attrs & 0xf) as usize)
                .copied()
                .ok_or_else(|| self.corrupt("attrs", attrs, "frames 0 to 2 in bits 0–3"))
        };
        match kind {
            TYPE_MOUNTING => {
                let material = Material::ALL
                    .get(((attrs >> 4) & 0xf) as usize)
                    .copied()
                    .ok_or_else(|| self.corrupt("attrs", attrs, "materials 0 to 4 in bits 4–7"))?;
                if attrs >> 9 != 0 {
                    return Err(self.corrupt("attrs", attrs, "bits 0 to 8"));
                }
                Ok(EventBody::Mounting {
                    frame: frame()?,
                    material,
                    remake: (attrs >> 8) & 1 == 1,
                })
            }
            TYPE_TRACE_ONLY if attrs >> 4 == 0 => Ok(EventBody::TraceOnly { frame: frame()? }),
            TYPE_TRACE_ONLY => Err(self.corrupt("attrs", attrs, "a frame alone for a trace")),
            _ => Err(self.corrupt(
                "type",
                kind,
                &format!("{TYPE_MOUNTING} (mounting) or {TYPE_TRACE_ONLY} (trace only)"),
            )),
        }
    }

    /// A reading's health: the wear (NULL: the reading reported none) and the warning's cause
    /// (NULL: none; never without a wear).
    pub fn health(
        &self,
        wear: Option<i64>,
        warning: Option<i64>,
    ) -> Result<Option<Health>, MeteringError> {
        let Some(wear) = wear else {
            return match warning {
                None => Ok(None),
                Some(w) => Err(self.corrupt("warning", w, "a warning beside a wheel wear")),
            };
        };
        let wheel_wear_permille = u16::try_from(wear)
            .ok()
            .filter(|&w| w <= Health::WORN_OUT)
            .ok_or_else(|| {
                self.corrupt(
                    "wheel_wear_permille",
                    wear,
                    &format!("0 to {} or NULL", Health::WORN_OUT),
                )
            })?;
        let warning = match warning {
            None => None,
            Some(code) => Some(
                Cause::from_code(code)
                    .ok_or_else(|| self.corrupt("warning", code, "causes 0 to 5 or NULL"))?,
            ),
        };
        Ok(Some(Health {
            wheel_wear_permille,
            warning,
        }))
    }

    /// A 0/1 flag.
    pub fn flag(&self, column: &str, value: i64) -> Result<bool, MeteringError> {
        match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.corrupt(column, value, "0 or 1")),
        }
    }
}

/// A log row as stored, before it is checked: `kind` 0 for a reading.
pub(super) struct LogRow {
    pub table: &'static str,
    pub rowid: i64,
    pub source: i64,
    pub seq: i64,
    pub time: i64,
    pub subject: i64,
    pub kind: i64,
    pub attrs: i64,
    /// Counter readings only: the counters as sent (stored bit for bit as i64) and removal.
    pub counters: [i64; 3],
    pub removal: i64,
    /// Counter readings only: the health columns (wear, warning), NULL when not reported.
    pub health: [Option<i64>; 2],
}

impl LogRow {
    /// Reads the columns `rowid, source, seq, time, subject, type, attrs, total_cycles,
    /// mountings, trace_only, removal, wheel_wear_permille, warning` (type 0 and attrs 0 in
    /// the readings log; the counters and health NULL in the events log).
    pub fn read(table: &'static str, r: &rusqlite::Row<'_>) -> rusqlite::Result<LogRow> {
        let int = |i: usize| r.get::<_, i64>(i);
        let opt = |i: usize| r.get::<_, Option<i64>>(i).map(Option::unwrap_or_default);
        Ok(LogRow {
            table,
            rowid: int(0)?,
            source: int(1)?,
            seq: int(2)?,
            time: int(3)?,
            subject: int(4)?,
            kind: int(5)?,
            attrs: int(6)?,
            counters: [opt(7)?, opt(8)?, opt(9)?],
            removal: opt(10)?,
            health: [r.get(11)?, r.get(12)?],
        })
    }

    pub fn event(&self) -> Result<UsageEvent, MeteringError> {
        let at = At::rowid(self.table, self.rowid);
        let body = if self.table == "readings" {
            // Counters are stored as their bits: every value is one a machine may send.
            let [total_cycles, mountings, trace_only] = self.counters.map(|c| c as u64);
            EventBody::Counter {
                total_cycles,
                mountings,
                trace_only,
                removal: at.flag("removal", self.removal)?,
                health: at.health(self.health[0], self.health[1])?,
            }
        } else {
            at.job(self.kind, self.attrs)?
        };
        Ok(UsageEvent {
            machine: MachineId(at.id("source", self.source)?),
            seq: at.count("seq", self.seq)?,
            time: self.time,
            shop: ShopId(at.id("subject", self.subject)?),
            body,
        })
    }
}

/// The columns `LogRow::read` takes, for each log.
pub(super) const EVENT_COLUMNS: &str =
    "rowid, source, seq, time, subject, type, attrs, NULL, NULL, NULL, NULL, NULL, NULL";
pub(super) const READING_COLUMNS: &str = "rowid, source, seq, time, subject, 0, 0, total_cycles, \
     mountings, trace_only, removal, wheel_wear_permille, warning";
