//! VEE in the store: the state replayed from the readings log and the logged closes, the
//! validation columns kept beside each raw reading, and the VEE settings a store keeps.

use super::rows::{At, LogRow, READING_COLUMNS};
use super::*;
use crate::metering::health_book::HealthBook;
use crate::metering::vee_book::LoggedClose;
use rusqlite::OptionalExtension;

impl SqliteEngine {
    /// Rebuilds VEE and the machines' latest health from the readings log and the closes;
    /// validates rows stored before VEE existed (schema v1) and writes their columns.
    pub(super) fn replay_vee(&mut self) -> Result<(), MeteringError> {
        let closes = load_closes(&self.conn)?;
        let mut health = HealthBook::default();
        let readings = load_logged_readings(&self.conn, &self.stays, None, |e| health.observe(e))?;
        self.health = health;
        let mut backfill = Vec::new();
        let config = *self.vee.config();
        self.vee = VeeBook::replay(
            config,
            false,
            readings.iter().map(|(r, _)| *r),
            &closes,
            |logged, v| {
                backfill.push((logged.rowid, VeeColumns::of(v)));
            },
        );
        let stored: BTreeMap<i64, Option<VeeColumns>> =
            readings.iter().map(|(r, c)| (r.rowid, *c)).collect();
        backfill.retain(|(rowid, _)| stored.get(rowid).is_some_and(Option::is_none));
        if !backfill.is_empty() {
            write_vee_columns(&self.conn, &backfill)?;
        }
        Ok(())
    }

    /// Readings whose stored validation differs from a fresh replay of the log: always 0
    /// unless the store was edited behind the engine's back or the VEE rules changed.
    pub fn vee_differences(&mut self) -> Result<u64, MeteringError> {
        self.guarded(|s| s.write_buffer())?;
        let closes = load_closes(&self.conn)?;
        let readings = load_logged_readings(&self.conn, &self.stays, None, |_| ())?;
        let stored: Vec<Option<VeeColumns>> = readings.iter().map(|(_, c)| *c).collect();
        let mut differences = 0;
        let mut i = 0;
        VeeBook::replay(
            self.vee_config(),
            false,
            readings.iter().map(|(r, _)| *r),
            &closes,
            |_, v| {
                differences += u64::from(stored[i] != Some(VeeColumns::of(v)));
                i += 1;
            },
        );
        Ok(differences)
    }
}

pub(super) fn load_closes(conn: &Connection) -> Result<Vec<LoggedClose>, MeteringError> {
    let mut stmt = conn.prepare("SELECT period, readings_through FROM closes ORDER BY period")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    let mut closes = Vec::new();
    for row in rows {
        let (period, through) = row?;
        let at = At::key("closes", format!("period {period}"));
        closes.push(LoggedClose {
            period: at.period("period", period)?,
            readings_through: at.count("readings_through", through)? as i64,
        });
    }
    Ok(closes)
}

/// The readings log in arrival order (one machine's, or all), with their stored validation,
/// each in the stay its time falls in; `each` sees every reading as the event it was.
pub(super) fn load_logged_readings(
    conn: &Connection,
    stays: &super::stays::Stays,
    machine: Option<u32>,
    mut each: impl FnMut(&UsageEvent),
) -> Result<Vec<(LoggedReading, Option<VeeColumns>)>, MeteringError> {
    let sql = format!(
        "SELECT {READING_COLUMNS}, vee_code, vee_period, step_tc, step_m, step_t,
                reversed_tc, reversed_m, reversed_t
         FROM readings WHERE ?1 IS NULL OR source = ?1 ORDER BY rowid"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![machine], |r| {
        let int = |i: usize| r.get::<_, i64>(i);
        let columns = match r.get::<_, Option<i64>>(13)? {
            None => None,
            Some(code) => Some(VeeColumns {
                code,
                period: r.get(14)?,
                steps: [int(15)?, int(16)?, int(17)?],
                reversed: [int(18)?, int(19)?, int(20)?],
            }),
        };
        Ok((LogRow::read("readings", r)?, columns))
    })?;
    let mut readings = Vec::new();
    for row in rows {
        let (row, columns) = row?;
        let event = row.event()?;
        each(&event);
        let reading = Reading::from_event(&event).ok_or_else(|| {
            At::rowid("readings", row.rowid).corrupt("type", row.kind, "counter readings")
        })?;
        let logged = LoggedReading {
            rowid: row.rowid,
            machine: event.machine.0 as usize,
            stay: stays.stay_index_at(event.machine.0, event.time),
            reading,
        };
        readings.push((logged, columns));
    }
    Ok(readings)
}

pub(super) fn write_vee_columns(
    conn: &Connection,
    rows: &[(i64, VeeColumns)],
) -> Result<(), MeteringError> {
    conn.execute_batch("BEGIN IMMEDIATE")?; // see `Store::begin`
    {
        let mut stmt = conn.prepare(
            "UPDATE readings SET vee_code = ?2, vee_period = ?3, step_tc = ?4, step_m = ?5, step_t = ?6,
                    reversed_tc = ?7, reversed_m = ?8, reversed_t = ?9 WHERE rowid = ?1",
        )?;
        for (rowid, c) in rows {
            stmt.execute(params![
                rowid,
                c.code,
                c.period,
                c.steps[0],
                c.steps[1],
                c.steps[2],
                c.reversed[0],
                c.reversed[1],
                c.reversed[2]
            ])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}

/// VEE settings as stored in `settings`, one key per field.
pub(super) const VEE_KEYS: [&str; 6] = [
    "vee.modulus",
    "vee.spike_factor",
    "vee.min_daily_allowance",
    "vee.max_zero_days",
    "vee.window_days",
    "vee.read_grace_hours",
];

pub(super) fn vee_values(c: &VeeConfig) -> [u64; 6] {
    [
        c.modulus,
        c.spike_factor,
        c.min_daily_allowance,
        c.max_zero_days,
        c.window_days,
        c.read_grace_hours,
    ]
}

/// The store's VEE settings: stored ones win; a new store records `asked` (or the defaults).
pub(super) fn settle_vee_config(
    conn: &Connection,
    asked: Option<VeeConfig>,
) -> Result<VeeConfig, MeteringError> {
    let mut stored = Vec::new();
    for key in VEE_KEYS {
        let value: Option<String> = conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?;
        let at = At::key("settings", key);
        stored.push(match value {
            None => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| at.corrupt("value", &v, "whole numbers"))?,
            ),
        });
    }
    // All or none: a store records its settings in one transaction, and a missing one must
    // not be replaced by a default the stored readings were not validated with.
    if let Some(missing) = VEE_KEYS.iter().zip(&stored).find(|(_, v)| v.is_none()) {
        if stored.iter().any(Option::is_some) {
            return Err(At::key("settings", missing.0).corrupt(
                "value",
                "missing",
                "every VEE setting",
            ));
        }
    }
    if stored.iter().all(Option::is_some) {
        let v: Vec<u64> = stored.into_iter().flatten().collect();
        let config = VeeConfig {
            modulus: v[0],
            spike_factor: v[1],
            min_daily_allowance: v[2],
            max_zero_days: v[3],
            window_days: v[4],
            read_grace_hours: v[5],
        };
        return match asked {
            Some(a) if a != config => Err(MeteringError::Conflict(format!(
                "this store validates counters with {config:?}; it cannot switch to {a:?} (start a new store)"
            ))),
            _ => Ok(config),
        };
    }
    let config = asked.unwrap_or_default();
    conn.execute_batch("BEGIN IMMEDIATE")?; // see `Store::begin`
    for (key, value) in VEE_KEYS.iter().zip(vee_values(&config)) {
        conn.execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value.to_string()],
        )?;
    }
    conn.execute_batch("COMMIT")?;
    Ok(config)
}
